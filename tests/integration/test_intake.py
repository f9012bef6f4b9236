#!/usr/bin/env python3
"""Transfer applications dropped into inbox/pension-transfer as files
(pension-transfer-intake, the cases.split step): a JSON array and a GBK
CSV with Chinese headers become one pension-transfer case per application,
run against the legacy-system simulator; a malformed row is reported with
file:line and escalated; the files are archived; the same file dropped
again (same name, another name, or after a restart) makes no case twice."""
import csv
import io
import json
import os
import shutil
import time

from harness import SRCDIR, Daemon, Tap
import pension

t = Tap()
PASSWORD = "intake-sim-pw"
sim = pension.Sim(password=PASSWORD)
d = Daemon(workers=4)
text = pension.playbook_text(timeout="3s", auth_wait="1s", unavailable_wait="1s")
text = text.replace('retry = { attempts = 8; initial = "500ms"; max = "20s"; };',
                    'retry = { attempts = 3; initial = "200ms"; max = "1s"; };')
text = text.replace('poll = "1s";', 'poll = "200ms";')
d.write_playbook("pension-transfer.cfg", text)
shutil.copy(os.path.join(SRCDIR, "playbooks", "pension-transfer-intake.cfg"), d.pbdir)
os.makedirs(d.state, exist_ok=True)
pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url,
                          password=PASSWORD)
inbox = os.path.join(d.state, "inbox", "pension-transfer")


def drop(name, data):
    os.makedirs(inbox, exist_ok=True)
    tmp = os.path.join(inbox, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(inbox, name))


def items(pb):
    st, body = d.api("GET", f"/api/v1/items?playbook={pb}&limit=500")
    return body.get("items", []) if st == 200 else []


def full(i):
    st, body = d.api("GET", f"/api/v1/items/{i}")
    p = body.get("payload")
    body["payload"] = json.loads(p) if isinstance(p, str) else (p or {})
    return body


def settled(pb, n):
    def f():
        it = items(pb)
        return len(it) >= n and all(i["state"] in ("done", "escalated", "rejected")
                                    for i in it)
    return f


def new_regs():
    n = {}
    for s in sim.submissions():
        if s["system"] == "out" and s["kind"] == "new":
            n[s["id_no"]] = n.get(s["id_no"], 0) + 1
    return n


try:
    d.start()
    cases = [pension.case(200 + i) for i in range(6)]

    # A JSON array: three applications and one element that is not one.
    arr = cases[:3] + ["not an application"]
    js = json.dumps(arr, ensure_ascii=False, indent=1).encode()
    drop("applications-1.json", js)

    # A GBK CSV with Chinese headers (as Excel writes it): two good rows
    # and one with a cell missing.
    heads = ["公民身份号码", "姓名", "转出单位统一社会信用代码", "转入单位统一社会信用代码",
             "转入地", "缴费期间", "缴费月数"]
    keys = ["id_no", "name", "from_uscc", "to_uscc", "to_region", "periods", "months"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(heads)
    w.writerow([cases[3][k] for k in keys])
    w.writerow([cases[4][k] for k in keys][:-1])          # line 3: a cell short
    w.writerow([cases[5][k] for k in keys])
    gbk = buf.getvalue().encode("gbk")
    t.check(b"\xb9\xab" in gbk or any(b > 0x7f for b in gbk), "the CSV really is GBK")
    drop("applications-2.csv", gbk)

    d.wait_for(settled("pension-transfer-intake", 2), 60, "intake items")
    d.wait_for(settled("pension-transfer", 5), 90, "the spawned cases")
    intake = {full(i["id"])["payload"]["name"]: full(i["id"]) for i in
              items("pension-transfer-intake")}
    pt = [full(i["id"]) for i in items("pension-transfer")]
    t.eq(len(pt), 5, "five good applications became five pension-transfer cases")
    t.eq(sorted(i["state"] for i in pt), ["done"] * 5,
         "every spawned case went through both legacy systems")
    got = {i["payload"]["id_no"]: i["payload"] for i in pt}
    good = [cases[k] for k in (0, 1, 2, 3, 5)]
    t.check(all(c["id_no"] in got and all(got[c["id_no"]][k] == c[k] for k in keys)
                for c in good),
            "each case's payload is its application, read from JSON and from GBK",
            json.dumps(got, ensure_ascii=False)[:600])
    t.check(got.get(cases[3]["id_no"], {}).get("name") == cases[3]["name"],
            "a GBK name arrives as UTF-8", got.get(cases[3]["id_no"]))
    t.check(cases[4]["id_no"] not in got, "the short row made no case")
    src = got.get(cases[0]["id_no"], {}).get("source", {})
    t.check(src.get("row") == 1 and src.get("line") == 2 and len(src.get("sha256", "")) == 64,
            "a case names its file, row, line and the file's SHA-256", src)

    jline = js.decode().splitlines().index(' "not an application"') + 1
    for name, line, what in (("applications-1.json", jline, "not a JSON object"),
                             ("applications-2.csv", 3, "cells")):
        it = intake.get(name, {})
        esc = (it.get("escalations") or [{}])[-1]
        msg = esc.get("message", "")
        t.check(it.get("state") == "escalated" and esc.get("reason") == "bad_rows",
                f"{name}: the bad row escalates the intake item", it.get("state"))
        t.check(f"-{name}:{line}: " in msg and what in msg,
                f"{name}: the bad row is reported as file:line ({line})", msg)
    arch = os.path.join(d.state, "archive", "applications")
    archived = [f for _, _, fs in os.walk(arch) for f in fs]
    t.check(any(f.endswith("applications-1.json") for f in archived) and
            any(f.endswith("applications-2.csv") for f in archived),
            "both files are archived", archived)
    t.check(not [f for f in os.listdir(inbox) if not f.startswith(".")],
            "nothing is left in the inbox")
    t.eq(sorted(new_regs().values()), [1] * 5,
         "the simulator registered each case exactly once")

    # The same files again: same name, another name, and after a restart.
    # The watch trigger keys an upload by name and content, so the same
    # name again makes no intake item at all (the file waits in the
    # inbox); under another name it does, and cases.split's keys (file
    # SHA-256 + row) make its applications no-ops.
    drop("applications-1.json", js)
    drop("copy-of-applications.csv", gbk)
    d.wait_for(settled("pension-transfer-intake", 3), 60, "re-dropped files")
    d.stop()
    d.start()
    drop("again-after-restart.json", js)
    d.wait_for(settled("pension-transfer-intake", 4), 60, "re-dropped after restart")
    time.sleep(1.0)
    t.eq(len(items("pension-transfer-intake")), 4,
         "the same name and content again (also re-scanned at start) made no intake item")
    t.check(os.path.exists(os.path.join(inbox, "applications-1.json")),
            "and that file is left in the inbox, not lost")
    t.eq(len(items("pension-transfer")), 5, "re-dropped files made no new case")
    t.eq(sorted(new_regs().values()), [1] * 5,
         "and the simulator saw no second registration")
    t.eq(sim.stats()["double_registrations"], 0, "the simulator counts no duplicates")

    # A JSON file that is not JSON: escalated with its line, archived.
    drop("broken.json", b'[\n {"id_no": "1",\n  "name": }\n]\n')
    d.wait_for(settled("pension-transfer-intake", 5), 60, "broken file")
    br = [full(i["id"]) for i in items("pension-transfer-intake")]
    br = [i for i in br if i["payload"]["name"] == "broken.json"][0]
    esc = (br.get("escalations") or [{}])[-1]
    t.check(br["state"] == "escalated" and esc.get("reason") == "bad_input_file"
            and "-broken.json:3: " in esc.get("message", ""),
            "a file that is not JSON escalates with file:line", esc)
    archived = [f for _, _, fs in os.walk(arch) for f in fs]
    t.check(any(f.endswith("broken.json") for f in archived),
            "the broken file is archived too, not lost", archived)
    t.check(d.proc.poll() is None, "clerkd still runs")
finally:
    d.cleanup()
    sim.stop()
t.done()
