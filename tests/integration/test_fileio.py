#!/usr/bin/env python3
"""file.put and file.get through local drop folders: atomic writes with
their SHA-256, a re-run that finds its own file, a different file in the
way, and pick-up-once when more items want files than there are."""
import hashlib
import json
import os

from harness import Daemon, Tap

t = Tap()
d = Daemon(workers=4)
try:
    d.write_playbook("put.cfg", '''
name = "drop-put";
trigger = { manual = true; };
payload = [ "day", "case", "name" ];
steps = (
  { id = "put"; use = "file.put"; to = "outbox/${day}"; name = "${case}.txt";
    content = "case ${case}: ${name}\\n"; }
);
''')
    d.write_playbook("get.cfg", '''
name = "drop-get";
trigger = { manual = true; };
concurrency = 8;
steps = (
  { id = "get"; use = "file.get"; from = "outbox/d1"; pattern = "*.txt";
    to = "claimed"; poll = "200ms"; wait_max = "1h"; }
);
''')
    d.start()
    for i in range(6):
        st, _ = d.api("POST", "/api/v1/playbooks/drop-put/run",
                      {"key": f"p{i}", "payload": {"day": "d1", "case": f"C{i}", "name": "张伟"}})
    d.wait_for(lambda: d.counts().get("drop-put", {}).get("done", 0) == 6, 30, "puts")
    out = os.path.join(d.state, "outbox", "d1")
    files = sorted(os.listdir(out))
    t.eq(files, [f"C{i}.txt" for i in range(6)], "six files, no temp files left behind")
    body = open(os.path.join(out, "C0.txt"), encoding="utf-8").read()
    t.eq(body, "case C0: 张伟\n", "the content is the expanded template")
    db = d.db()
    o = json.loads(db.execute("SELECT output FROM steps WHERE step_id='put' ORDER BY item LIMIT 1").fetchone()[0])
    db.close()
    t.eq(o["sha256"], hashlib.sha256(body.encode()).hexdigest(), "the step records the SHA-256")

    # Same key again: nothing new. Different content under the same name:
    # a business error, the file is not overwritten.
    st, _ = d.api("POST", "/api/v1/playbooks/drop-put/run",
                  {"key": "p-other", "payload": {"day": "d1", "case": "C0", "name": "李娜"}})
    d.wait_for(lambda: d.counts().get("drop-put", {}).get("escalated", 0) == 1, 30, "conflict")
    t.eq(open(os.path.join(out, "C0.txt"), encoding="utf-8").read(), body,
         "a different file of the same name is not overwritten")

    # Ten items want files, six exist: six get one each, the rest wait.
    for i in range(10):
        d.api("POST", "/api/v1/playbooks/drop-get/run", {"key": f"g{i}", "payload": {}})
    d.wait_for(lambda: d.counts().get("drop-get", {}).get("done", 0) == 6, 30, "gets")
    db = d.db()
    outs = [json.loads(r[0]) for r in db.execute("SELECT output FROM steps WHERE step_id='get'")]
    db.close()
    names = sorted(o["name"] for o in outs)
    t.eq(names, [f"C{i}.txt" for i in range(6)], "each file was picked up exactly once")
    t.eq(os.listdir(out), [], "the drop folder is empty")
    c = d.counts().get("drop-get", {})
    t.eq(c.get("queued", 0) + c.get("running", 0), 4, "the other four wait for files")
    # A new file arrives: one waiting item takes it.
    d.api("POST", "/api/v1/playbooks/drop-put/run",
          {"key": "p-late", "payload": {"day": "d1", "case": "C9", "name": "王芳"}})
    try:
        d.wait_for(lambda: d.counts().get("drop-get", {}).get("done", 0) == 7, 30, "late get")
        late = True
    except TimeoutError:
        late = False
    t.check(late, "a late file is picked up by a waiting item", d.counts())
finally:
    d.cleanup()
t.done()
