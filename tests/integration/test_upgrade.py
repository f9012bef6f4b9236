#!/usr/bin/env python3
"""A database the previous clerk wrote (schema version 3, from the dump in
tests/fixtures/schema-3.sql) under today's clerkd: it is kept as
.schema-3.bak and migrated in place; its items, escalations, comments and
audit trail are all there and intact; its open escalation can be decided
and its item finishes; its keys stay unique. The same dump as a backup:
`clerkctl restore` takes it and migrates it at once."""
import os
import sqlite3

from harness import Daemon, Tap

SRCDIR = os.environ.get("SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DUMP = os.path.join(SRCDIR, "tests", "fixtures", "schema-3.sql")

# The playbooks the fixture was made with, as they were.
WORK = '''name = "v3-work";
trigger = { manual = true; };
payload = [ "n" ];
steps = (
  { id = "say"; use = "notify"; message = "worked ${payload.n}"; }
);
'''
REVIEW = '''name = "v3-review";
trigger = { manual = true; };
payload = [ "n" ];
steps = (
  { id = "gate"; use = "escalate"; reason = "needs_review"; message = "look at ${payload.n}"; }
);
'''
# Item states as stored (enum item_state, tasks/queue.h).
ESCALATED, DONE, REJECTED = 3, 4, 5
# This clerk's schema version (SCHEMA_VERSION in tasks/store_sqlite.c: the
# number of migrations plus one).
CURRENT = 6


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def load_dump(path):
    con = sqlite3.connect(path)
    with open(DUMP) as f:
        con.executescript(f.read())
    con.close()


def q(path, sql):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


t = Tap()
d = Daemon(workers=1)
try:
    d.write_playbook("w.cfg", WORK)
    d.write_playbook("r.cfg", REVIEW)
    os.makedirs(d.state, mode=0o700)
    db = os.path.join(d.state, "clerk.db")
    load_dump(db)
    t.eq(q(db, "PRAGMA user_version"), [(3,)], "the fixture is a schema version 3 database")
    before = q(db, "SELECT id, key, playbook, state, payload FROM items ORDER BY id")

    d.start()
    t.eq(q(db, "PRAGMA user_version"), [(CURRENT,)], f"clerkd migrates it to version {CURRENT}")
    bak = db + ".schema-3.bak"
    t.check(os.path.exists(bak) and q(bak, "PRAGMA user_version") == [(3,)],
            "the version 3 database is kept as clerk.db.schema-3.bak")
    t.eq(q(bak, "SELECT id, key, playbook, state, payload FROM items ORDER BY id"), before,
         "the kept copy holds the items as they were")
    t.check(any(f"schema 3 -> {CURRENT}" in r.get("msg", "") for r in d.log_records()),
            "the log says it migrated and where the old one is")
    t.eq(q(db, "SELECT id, key, playbook, state, payload FROM items ORDER BY id"), before,
         "every item is there, unchanged")
    t.eq(q(db, "SELECT count(*) FROM failures"), [(0,)], "version 4's failures table exists")
    t.eq(q(db, "SELECT count(*) FROM trigger_slots"), [(0,)], "version 5's trigger_slots table exists")
    t.eq(q(db, "SELECT count(*) FROM playbook_state"), [(0,)],
         "version 6's playbook_state table exists, nothing paused")
    st, body = d.api("GET", "/api/v1/items/5")
    t.check(st == 200 and body.get("state") == "rejected" and body.get("failures", []) == [],
            "item show of a migrated item works (rejected, no failed attempts)", f"{st} {body}")
    st, body = d.api("GET", "/api/v1/escalations/2")
    t.check(st == 200 and body.get("decision") == "reject" and body.get("decided_by") == "bob"
            and body.get("decision_reason") == "not eligible",
            "a decided escalation keeps its decision, decider and reason", f"{st} {body}")
    st, body = d.api("GET", "/api/v1/escalations/3")
    t.check(st == 200 and body.get("state") == "open"
            and [c.get("text") for c in body.get("comments", [])] == ["asked the applicant"],
            "the open escalation is open with its comment", f"{st} {body}")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "intact" in r.stdout, "the audit trail verifies after the migration",
            out(r))

    st, body = d.api("POST", "/api/v1/escalations/3/decide", {"decision": "approve", "by": "dan"})
    t.eq(st, 200, "the open escalation from version 3 can be decided")
    try:
        d.wait_for(lambda: q(db, "SELECT state FROM items WHERE id = 6") == [(DONE,)], 30,
                   "item 6 done")
        t.check(True, "and its item finishes")
    except TimeoutError:
        t.check(False, "and its item finishes", str(q(db, "SELECT state FROM items WHERE id = 6")))
    st, body = d.api("POST", "/api/v1/playbooks/v3-work/run", {"key": "w-1", "payload": {"n": 1}})
    t.check(st == 200 and body.get("duplicate") is True and body.get("item") == 2,
            "a key from the version 3 database is still unique", f"{st} {body}")
    st, body = d.api("POST", "/api/v1/playbooks/v3-work/run", {"key": "w-new", "payload": {"n": 9}})
    t.eq(st, 201, "a new item can be queued")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "intact" in r.stdout, "the audit trail verifies with new rows on the old",
            out(r))
    t.eq(d.stop(), 0, "clerkd stops")

    # The same dump as a backup of an older clerk: restore migrates it now.
    old = os.path.join(d.dir, "v3-backup.db")
    load_dump(old)
    r = d.ctl("restore", old)
    t.check(r.returncode == 0 and "schema version 3" in r.stdout and "6 item(s)" in r.stdout,
            "clerkctl restore takes a version 3 backup", out(r))
    t.eq(q(db, "PRAGMA user_version"), [(CURRENT,)], "and migrates it at once")
    t.eq(q(old, "PRAGMA user_version"), [(3,)], "the backup file itself stays version 3")
    t.eq(q(db, "SELECT id, key, playbook, state, payload FROM items ORDER BY id"), before,
         "the restored database holds the backup's items")
finally:
    d.cleanup()
t.done()
