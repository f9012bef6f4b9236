#!/usr/bin/env python3
"""Backup under load and restore: `clerkctl backup` while items are
queued and worked at full speed holds every item acknowledged before it
started, consistently; `clerkctl restore` refuses while clerkd runs and
refuses damaged, tampered, foreign and newer files without touching the
database; a restore puts exactly the backup back, keeps the database it
replaced, and clerkd resumes the restored work with its unique keys."""
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time

from harness import Daemon, Tap

WORK = '''name = "restore-work";
trigger = { manual = true; };
payload = [ "n" ];
steps = (
  { id = "pause"; use = "sleep"; duration = "20ms"; },
  { id = "say"; use = "notify"; message = "worked ${payload.n}"; }
);
'''

REVIEW = '''name = "restore-review";
trigger = { manual = true; };
payload = [ "n" ];
steps = (
  { id = "gate"; use = "escalate"; reason = "needs_review"; message = "look at ${payload.n}"; }
);
'''

# Item states as the database stores them (enum item_state, tasks/queue.h).
ESCALATED, DONE = 3, 4

t = Tap()
d = Daemon(workers=2)


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def rows(path, sql):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def items_of(path):
    return rows(path, "SELECT id, key, playbook, state FROM items ORDER BY id")


class Load(threading.Thread):
    """Queues items as fast as the API takes them; acked[key] = item id,
    with the time each was acknowledged."""

    def __init__(self):
        super().__init__(daemon=True)
        self.acked = {}
        self.stop = threading.Event()
        self.errors = []

    def run(self):
        n = 0
        while not self.stop.is_set():
            pb = "restore-review" if n % 10 == 0 else "restore-work"
            key = f"load-{n}"
            try:
                st, body = d.api("POST", f"/api/v1/playbooks/{pb}/run",
                                 {"key": key, "payload": {"n": n}})
            except OSError as e:
                st, body = None, str(e)
            if st == 201:
                self.acked[key] = (body["item"], time.monotonic())
            else:
                self.errors.append((key, st, body))
            n += 1


try:
    d.write_playbook("work.cfg", WORK)
    d.write_playbook("review.cfg", REVIEW)
    d.start()
    db = os.path.join(d.state, "clerk.db")
    bak = os.path.join(d.dir, "under-load.db")

    load = Load()
    load.start()
    d.wait_for(lambda: len(load.acked) >= 200, 60, "200 items queued")
    # Decisions go on during the backup too.
    st, body = d.api("GET", "/api/v1/escalations?open=1")
    for e in body.get("escalations", [])[:5]:
        d.api("POST", f"/api/v1/escalations/{e['id']}/decide",
              {"decision": "approve", "by": "restore-test"})
    started = time.monotonic()
    before = {k: v[0] for k, v in list(load.acked.items()) if v[1] < started}
    r = d.ctl("backup", bak)
    ended = time.monotonic()
    t.check(r.returncode == 0, "backup while items are queued and worked", out(r))
    d.wait_for(lambda: len(load.acked) >= len(before) + 100, 60, "100 more items after the backup")
    load.stop.set()
    load.join()
    t.eq(load.errors, [], "the load's every request was accepted")

    backed = items_of(bak)
    by_key = {k: (i, pb, s) for i, k, pb, s in backed}
    missing = [k for k, i in before.items() if by_key.get(k, (None,))[0] != i]
    t.check(not missing, f"the backup holds all {len(before)} items acknowledged before it began"
            f" ({len(backed)} in all)", f"missing: {missing[:10]}")
    t.check(len(backed) < len(load.acked),
            "and not the items queued after it ended (the load went on)",
            f"{len(backed)} backed up, {len(load.acked)} queued")
    done = [i for i, _, pb, s in backed if s == DONE and pb == "restore-work"]
    journaled = rows(bak, "SELECT item FROM steps GROUP BY item HAVING count(*) >= 2")
    journaled = {i for (i,) in journaled}
    t.check(done and all(i in journaled for i in done),
            f"each of the backup's {len(done)} done items has its two steps' journal",
            f"without: {[i for i in done if i not in journaled][:10]}")
    r = d.ctl("audit", "verify")
    audit_live = r.returncode

    # While clerkd runs: refused, nothing touched.
    live_sha = sha(db)
    r = d.ctl("restore", bak)
    t.check(r.returncode == 1 and "is running" in r.stderr and "stop it first" in r.stderr,
            "restore while clerkd runs is refused, naming the way", out(r))
    t.eq(len(items_of(db)), len(load.acked), "the live database still has every item")

    t.eq(d.stop(), 0, "clerkd stops")
    live = items_of(db)
    t.eq(len(live), len(load.acked), f"all {len(load.acked)} items are in the live database")
    live_sha = sha(db)

    # Files that must not replace it: each refused, the database as it was.
    bad = os.path.join(d.dir, "bad.db")
    cases = []
    with open(bad, "wb") as f:
        f.write(b"not a database at all\n" * 100)
    cases.append(("a file that is not a database", "not an SQLite database"))
    shutil.copy(bak, bad + ".trunc")
    with open(bad + ".trunc", "r+b") as f:
        f.truncate(os.path.getsize(bak) // 2)
    cases.append(("a backup cut in half", ""))
    shutil.copy(bak, bad + ".audit")
    con = sqlite3.connect(bad + ".audit")
    con.execute("UPDATE audit SET details = '{\"by\":\"someone else\"}' WHERE id = 2")
    con.commit()
    con.close()
    cases.append(("a backup whose audit trail was edited", "audit trail"))
    shutil.copy(bak, bad + ".newer")
    con = sqlite3.connect(bad + ".newer")
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    cases.append(("a backup from a newer clerk", "newer than this clerk"))
    con = sqlite3.connect(bad + ".foreign")
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    cases.append(("another program's SQLite database", "not clerk's"))
    for (what, says), path in zip(cases, [bad, bad + ".trunc", bad + ".audit", bad + ".newer",
                                          bad + ".foreign"]):
        r = d.ctl("restore", path)
        t.check(r.returncode == 1 and says in r.stderr and "nothing was restored" in r.stderr,
                f"restore of {what} is refused: {(r.stderr.strip().splitlines() or [''])[-1][:100]}", out(r))
        t.eq(sha(db), live_sha, f"after {what}: the database is unchanged")
    t.eq([f for f in os.listdir(d.state) if ".restore-" in f or "before-restore" in f], [],
         "the refusals left no file behind")

    # The restore itself.
    bak_sha = sha(bak)
    r = d.ctl("restore", bak)
    t.check(r.returncode == 0 and f"{len(backed)} item(s)" in r.stdout and "intact" in r.stdout,
            "restore puts the backup in place and says what it holds", out(r))
    t.eq(sha(bak), bak_sha, "the backup file itself is unchanged")
    aside = [f for f in os.listdir(d.state) if ".before-restore-" in f]
    t.check(len(aside) == 1 and aside[0] in r.stdout, "the replaced database is kept and named", out(r))
    if aside:
        kept = os.path.join(d.state, aside[0])
        t.eq(items_of(kept), live, "the kept database holds every item the replaced one had")
        t.eq(os.stat(kept).st_mode & 0o777, 0o600, "the kept database is mode 0600")
    t.eq(items_of(db), backed, "the database now holds exactly the backup's items, states and keys")
    t.eq(os.stat(db).st_mode & 0o777, 0o600, "the restored database is mode 0600")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "intact" in r.stdout, "audit verify passes on the restored database",
            out(r))
    t.eq(audit_live, 0, "(and passed on the live one before)")

    # clerkd resumes the restored work.
    d.start()
    unfinished = [i for i, k, pb, s in backed if s not in (DONE, ESCALATED)]
    t.check(unfinished, f"the backup caught {len(unfinished)} items unfinished (queued or running)")

    def settled():
        # (the review items approved above are done too)
        return all(s == DONE or (pb == "restore-review" and s == ESCALATED)
                   for _, _, pb, s in items_of(db))

    try:
        d.wait_for(settled, 120, "the restored items to settle")
    except TimeoutError:
        pass
    now = items_of(db)
    t.check(settled(), f"clerkd works the {len(unfinished)} restored unfinished items to their end",
            f"states: {sorted(set(s for *_, s in now))}")
    t.eq(len(now), len(backed), "and makes no item of its own")
    t.eq(sorted(k for _, k, _, _ in now), sorted(by_key), "no key twice")
    old_key = next(k for k in before if by_key[k][1] == "restore-work")
    st, body = d.api("POST", "/api/v1/playbooks/restore-work/run", {"key": old_key})
    t.check(st == 200 and body.get("duplicate") is True and body.get("item") == before[old_key],
            "a key from the backup is still unique after the restore", f"{st} {body}")
    lost = next(k for k in load.acked if k not in by_key and int(k.split("-")[1]) % 10)
    st, body = d.api("POST", "/api/v1/playbooks/restore-work/run", {"key": lost})
    t.check(st == 201, "a key queued after the backup can be queued again (the restore took it back)",
            f"{st} {body}")
    t.eq(d.stop(), 0, "clerkd stops after the restored run")
finally:
    d.cleanup()
t.done()
