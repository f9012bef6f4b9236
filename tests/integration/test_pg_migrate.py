#!/usr/bin/env python3
"""clerkctl migrate (issue 13): a real SQLite state built by clerkd (items
done, escalated, decided and rejected, comments, failures, audit rows, a
web session, a paused playbook with items waiting) is copied into a fresh
PostgreSQL database; every table is the same row for row there, and a
clerkd started on store = "postgresql://..." shows every item, escalation
and audit row with the same values, `clerkctl audit verify` passes, the
session still works, and the work resumes: an open escalation decided on
PostgreSQL resumes its item, the paused playbook stays paused until it is
resumed, and a key used before the migration is still a duplicate.
Refusals: a running clerkd, a non-empty target, a bad URL, a database
that is not there; none of them changes anything.

The source is SQLite and the targets PostgreSQL whatever CLERK_TEST_STORE
says; the cluster is CLERK_TEST_PG_URL's or one of the test's own (no
PostgreSQL: the test fails)."""
import http.client
import json
import os
import sqlite3
import subprocess
import sys

import harness
from harness import (CLERKCTL, Daemon, PgError, Tap, pg_admin_url,
                     pg_create_db, pg_drop_db, psql)

WORK = '''name = "chores";
trigger = { manual = true; };
payload = [ "n", "text" ];
steps = (
  { id = "pause"; use = "sleep"; duration = "5ms"; },
  { id = "say"; use = "notify"; message = "worked ${payload.n}"; }
);
'''
GATE = '''name = "gate";
trigger = { manual = true; };
sla = "1h";
payload = [ "n" ];
steps = (
  { id = "review"; use = "escalate"; reason = "check"; message = "look at ${payload.n}"; },
  { id = "after"; use = "noop"; }
);
'''
# A business error with a failure row: a reference nothing fills in.
BAD = '''name = "bad";
trigger = { manual = true; };
payload = [ "missing" ];
steps = ( { id = "say"; use = "notify"; message = "${payload.missing}"; } );
'''
# Fires once a second: a trigger_slots row; removed before the snapshot so
# the PostgreSQL node does not add items of its own.
TICK = '''name = "tick";
trigger = { interval = "1s"; };
steps = ( { id = "one"; use = "noop"; } );
'''
# Killed in its step: an item leased when the state is migrated.
SLOW = '''name = "slow";
trigger = { manual = true; };
steps = ( { id = "nap"; use = "sleep"; duration = "2s"; } );
'''
HELD = '''name = "held";
trigger = { manual = true; };
steps = ( { id = "one"; use = "noop"; } );
'''

TABLES = {
    "items": ("id", "key, playbook, pb_hash, priority, not_before, payload, state,"
              " attempts, owner, lease_expires, last_error, last_error_kind,"
              " created, updated"),
    "steps": ("item, step_id", "pb_hash, output, finished, ms"),
    "escalations": ("id", "item, playbook, step_id, kind, reason, message, context,"
                    " created, due, state, decision, decided_by, decided_at,"
                    " decision_reason, claimed_by, claim_expires, assignee, previous"),
    "escalation_comments": ("id", "escalation, ts, author, text"),
    "failures": ("id", "item, step_id, attempt, at, kind, reason, message"),
    "trigger_slots": ("playbook", "slot"),
    "sessions": ("key", 'csrf, "user", last'),
    "playbook_state": ("playbook", 'paused, "by", at, reason'),
    "audit": ("id", "ts, actor, action, target, details, prev_hash, hash"),
}

PASSWORD = "rita-rev-pw"
t = Tap()


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def sqlite_rows(path, table):
    key, cols = TABLES[table]
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [list(r) for r in con.execute(
            f"SELECT {key}, {cols} FROM {table} ORDER BY {key}")]
    finally:
        con.close()


def pg_rows(url, table):
    key, cols = TABLES[table]
    order = ", ".join(f'{k.strip()} COLLATE "C"' if k.strip() not in ("id", "item")
                      else k.strip() for k in key.split(","))
    text = psql(url, f"SELECT coalesce(json_agg(json_build_array({key}, {cols})"
                     f" ORDER BY {order}), '[]')::text FROM {table};")
    return json.loads(text)


def pg_count_all(url):
    return {tb: len(pg_rows(url, tb)) for tb in TABLES}


def migrate(d, *args):
    return subprocess.run([CLERKCTL, "--config", d.conf, "migrate", *args],
                          capture_output=True, text=True, timeout=120)


def login(d):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    conn.request("POST", "/api/v1/login", json.dumps({"user": "rita", "password": PASSWORD}),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    return r.getheader("Set-Cookie").split(";")[0].split("=", 1)[1], body["csrf"]


def me(d, sid):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    conn.request("GET", "/api/v1/me", headers={"Cookie": "clerk_session=" + sid})
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    return body


def snapshot(d):
    """What the API shows of the whole state."""
    st, items = d.api("GET", "/api/v1/items?limit=1000")
    assert st == 200, items
    full = {}
    for i in items["items"]:
        st, body = d.api("GET", f"/api/v1/items/{i['id']}")
        assert st == 200, body
        full[i["id"]] = body
    st, escs = d.api("GET", "/api/v1/escalations?open=0&limit=1000")
    assert st == 200, escs
    esc_full = {}
    for e in escs["escalations"]:
        st, body = d.api("GET", f"/api/v1/escalations/{e['id']}")
        assert st == 200, body
        esc_full[e["id"]] = body
    st, audit = d.api("GET", "/api/v1/audit?limit=1000")
    assert st == 200, audit
    st, pbs = d.api("GET", "/api/v1/playbooks")
    paused = {p["name"]: (p["paused"], p.get("paused_by"), p.get("pause_reason"))
              for p in pbs["playbooks"]}
    return {"list": items["items"], "items": full, "escalations": escs["escalations"],
            "esc_full": esc_full, "audit": audit["audit"], "paused": paused}


# The source is SQLite whatever the suite's store is.
harness.STORE_PG = False
d = Daemon(extra_conf='users_file = "users.cfg";')
targets = []
try:
    try:
        admin = pg_admin_url()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"Bail out! no PostgreSQL cluster: {e}", flush=True)
        print(f"Bail out! no PostgreSQL cluster: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    h = subprocess.run([CLERKCTL, "user", "hash"], input=PASSWORD + "\n",
                       capture_output=True, text=True, timeout=30).stdout.strip()
    users = os.path.join(d.dir, "users.cfg")
    with open(users, "w") as f:
        f.write(f'users = ( {{ name = "rita"; role = "reviewer"; password = "{h}"; }} );\n')
    os.chmod(users, 0o600)
    for name, text in (("chores.cfg", WORK), ("gate.cfg", GATE), ("bad.cfg", BAD),
                       ("held.cfg", HELD), ("tick.cfg", TICK),
                       ("slow.cfg", SLOW)):
        d.write_playbook(name, text)
    d.start()

    # ---- a state with something in every table ----
    for n in range(20):
        st, body = d.api("POST", "/api/v1/playbooks/chores/run",
                         {"key": f"w{n}", "payload": {"n": n, "text": "tab\there\nline 二"}})
        assert st == 201, body
    gate = []
    for n in range(4):
        st, body = d.api("POST", "/api/v1/playbooks/gate/run",
                         {"key": f"g{n}", "payload": {"n": n}})
        gate.append(body["item"])
    st, body = d.api("POST", "/api/v1/playbooks/bad/run", {"key": "b0", "payload": {}})
    bad = body["item"]
    d.wait_for(lambda: d.counts().get("chores", {}).get("done") == 20, 30, "work done")
    d.wait_for(lambda: d.counts().get("gate", {}).get("escalated") == 4, 30, "gate escalated")
    d.wait_for(lambda: d.api("GET", f"/api/v1/items/{bad}")[1].get("state") in ("rejected", "escalated", "done"),
               30, "bad rejected")
    esc = {i: d.api("GET", f"/api/v1/items/{i}")[1]["escalations"][0]["id"] for i in gate}
    st, _ = d.api("POST", f"/api/v1/escalations/{esc[gate[0]]}/decide",
                  {"decision": "approve", "by": "sam"})
    assert st == 200
    st, _ = d.api("POST", f"/api/v1/escalations/{esc[gate[1]]}/decide",
                  {"decision": "reject", "reason": "not ours", "by": "sam"})
    assert st == 200
    st, _ = d.api("POST", f"/api/v1/escalations/{esc[gate[2]]}/comments",
                  {"text": "请核对身份证 ✓ 'quoted' \\ back", "by": "rita"})
    assert st == 201
    st, _ = d.api("POST", f"/api/v1/escalations/{esc[gate[3]]}/claim",
                  {"by": "rick", "minutes": 30})
    assert st == 200
    st, _ = d.api("POST", "/api/v1/playbooks/held/pause", {"reason": "ledger upgrade", "by": "sam"})
    assert st == 200
    for n in range(3):
        st, body = d.api("POST", "/api/v1/playbooks/held/run", {"key": f"h{n}"})
        assert st == 201
    sid, csrf = login(d)
    d.wait_for(lambda: d.counts().get("gate", {}).get("done") == 1, 30, "approved one done")
    d.wait_for(lambda: d.counts().get("tick", {}).get("done", 0) >= 1, 30, "a tick done")
    os.unlink(os.path.join(d.pbdir, "tick.cfg"))
    st, _ = d.api("POST", "/api/v1/reload")
    assert st == 200
    try:
        d.wait_for(lambda: all(v.get("running", 0) == 0 and v.get("queued", 0) == 0
                               for k, v in d.counts().items() if k not in ("held", "tick", "*")),
                   30, "all settled")
    except TimeoutError:
        print(d.counts(), file=sys.stderr)
        raise
    before = snapshot(d)
    db = os.path.join(d.state, "clerk.db")

    # ---- refusals ----
    fresh = pg_create_db(admin)
    targets.append(fresh)
    r = migrate(d, "--to", fresh)
    t.check(r.returncode == 1 and "is running" in r.stderr and "stop it first" in r.stderr,
            "migrate refuses while clerkd runs (its state-dir lock)", out(r))
    t.eq(psql(fresh, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public';").strip(),
         "0", "the refused migration created nothing in the target")
    st, body = d.api("POST", "/api/v1/playbooks/slow/run", {"key": "s0"})
    slow = body["item"]
    d.wait_for(lambda: d.api("GET", f"/api/v1/items/{slow}")[1].get("state") == "running",
               10, "the slow item running")
    d.kill9()
    t.check(sqlite_rows(db, "items") != [], "the SQLite state has items (sanity)")
    source = {tb: sqlite_rows(db, tb) for tb in TABLES}
    empty = [tb for tb in TABLES if not source[tb]]
    t.eq(empty, [], "every table has rows in the source")

    r = migrate(d, "--to", "mysql://clerk@127.0.0.1/clerk")
    t.check(r.returncode == 2 and "not a PostgreSQL URL" in r.stderr,
            "a URL that is not PostgreSQL's: usage error (exit 2)", out(r))
    r = migrate(d)
    t.check(r.returncode == 2 and "--to" in r.stderr, "--to is required (exit 2)", out(r))
    base = admin.rsplit("/", 1)[0]
    r = migrate(d, "--to", base + "/clerk_no_such_db")
    t.check(r.returncode == 1 and "cannot connect" in r.stderr
            and "clerk_no_such_db" in r.stderr, "a database that does not exist: exit 1, named",
            out(r))
    r = migrate(d, "--to", "postgresql://clerk:s3cret@127.0.0.1:1/x")
    t.check(r.returncode == 1 and "cannot connect" in r.stderr and "s3cret" not in r.stderr,
            "a server that does not answer: exit 1, the password not shown", out(r))
    r = migrate(d, "--to", fresh, "--from", os.path.join(d.dir, "nothere.db"))
    t.check(r.returncode == 1 and "no database at" in r.stderr,
            "--from a file that does not exist: exit 1, no empty database made", out(r))
    t.check(not os.path.exists(os.path.join(d.dir, "nothere.db")), "... and no file was made")

    # ---- the migration ----
    r = migrate(d, "--to", fresh)
    t.check(r.returncode == 0 and "migrated" in r.stdout and "compared" in r.stdout,
            "migrate copies the state into the fresh database", out(r))
    t.check("1 item(s) were running" in r.stdout, "it says that one item was running", out(r))
    print("# " + r.stdout.replace("\n", "\n# "), flush=True)
    got = {tb: pg_rows(fresh, tb) for tb in TABLES}
    for tb in TABLES:
        t.eq(got[tb], source[tb], f"table {tb}: every row the same in PostgreSQL"
             f" ({len(source[tb])} rows)")
    t.eq(psql(fresh, "SELECT value FROM clerk_meta WHERE key = 'schema_version';").strip(),
         "6", "the target records schema version 6")
    for tb in ("items", "escalations", "escalation_comments", "failures"):
        nxt = psql(fresh, f"SELECT nextval(pg_get_serial_sequence('{tb}', 'id'));").strip()
        top = max(row[0] for row in source[tb])
        t.eq(int(nxt), top + 1, f"the {tb} id sequence continues after the copied ids")
        psql(fresh, f"SELECT setval(pg_get_serial_sequence('{tb}', 'id'), {top});")

    # The source is unchanged and a second migration into the now filled
    # database is refused without touching it.
    t.eq({tb: sqlite_rows(db, tb) for tb in TABLES}, source, "the SQLite file is not changed")
    r = migrate(d, "--to", fresh)
    t.check(r.returncode == 1 and "not empty" in r.stderr, "a non-empty target is refused",
            out(r))
    t.eq({tb: pg_rows(fresh, tb) for tb in TABLES}, got, "... and left as it was")
    second = pg_create_db(admin)
    targets.append(second)
    r = migrate(d, "--json", "--to", second)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        j = {}
    t.check(r.returncode == 0 and j.get("rows", {}).get("items") == len(source["items"])
            and j.get("audit_rows") == len(source["audit"]) and j.get("ms", -1) >= 0,
            "--json reports rows per table, audit rows and the time", out(r))

    # A target another session is connected to (a clerkd node) is refused.
    busy = pg_create_db(admin)
    targets.append(busy)
    holder = subprocess.Popen(["psql", "-X", "-q", "-d", busy, "-c", "SELECT pg_sleep(30)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        harness.Daemon.wait_for(None, lambda: psql(busy, "SELECT count(*) FROM pg_stat_activity"
                                                   " WHERE datname = current_database()"
                                                   " AND pid <> pg_backend_pid();").strip() == "1",
                                10, "the other session")
        r = migrate(d, "--to", busy)
        t.check(r.returncode == 1 and "other session(s) are connected" in r.stderr,
                "a target another session is connected to is refused", out(r))
    finally:
        holder.kill()
        holder.wait()

    # A source whose audit trail was tampered with is not migrated.
    tampered = os.path.join(d.dir, "tampered.db")
    con = sqlite3.connect(db)
    con.execute(f"VACUUM INTO '{tampered}'")
    con.close()
    con = sqlite3.connect(tampered)
    con.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
    con.commit()
    con.close()
    third = pg_create_db(admin)
    targets.append(third)
    r = migrate(d, "--to", third, "--from", tampered)
    t.check(r.returncode == 1 and "audit trail" in r.stderr and "row 2" in r.stderr,
            "a source whose audit trail does not verify is refused, the row named", out(r))
    t.eq(psql(third, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public';").strip(),
         "0", "... and nothing is created in the target")

    # A row PostgreSQL cannot take as it is fails the whole migration,
    # named; nothing is converted and nothing is left in the target.
    odd = os.path.join(d.dir, "odd.db")
    con = sqlite3.connect(db)
    con.execute(f"VACUUM INTO '{odd}'")
    con.close()
    con = sqlite3.connect(odd)
    con.execute("UPDATE items SET priority = 'high' WHERE id = 3")
    con.commit()
    con.close()
    fifth = pg_create_db(admin)
    targets.append(fifth)
    r = migrate(d, "--to", fifth, "--from", odd)
    t.check(r.returncode == 1 and "copying items" in r.stderr and "line 3" in r.stderr
            and "high" in r.stderr, "a row with text in an integer column fails the migration,"
            " the row named", out(r))
    t.eq(psql(fifth, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public';").strip(),
         "0", "... and the target is left empty")

    # An older clerk's database (schema 3, tests/fixtures/schema-3.sql) is
    # upgraded in place first, as clerkd would, then copied.
    old = os.path.join(d.dir, "old.db")
    con = sqlite3.connect(old)
    with open(os.path.join(harness.SRCDIR, "tests", "fixtures", "schema-3.sql")) as f:
        con.executescript(f.read())
    con.close()
    old_items = sqlite3.connect(old).execute("SELECT id, key, state FROM items ORDER BY id").fetchall()
    fourth = pg_create_db(admin)
    targets.append(fourth)
    r = migrate(d, "--to", fourth, "--from", old)
    t.check(r.returncode == 0 and "had schema version 3: upgraded to 6 first" in r.stdout
            and os.path.exists(old + ".schema-3.bak"),
            "a schema 3 database is upgraded first (kept as .schema-3.bak), then migrated", out(r))
    got_items = json.loads(psql(fourth, "SELECT coalesce(json_agg(json_build_array(id, key, state)"
                                        " ORDER BY id), '[]') FROM items;"))
    t.check(len(old_items) > 0 and got_items == [list(x) for x in old_items],
            "... with all its items", f"{got_items}\n{old_items}")

    # ---- clerkd on the migrated store ----
    with open(d.conf, "a") as f:
        f.write(f'store = "{fresh}";\n')
    d.log = os.path.join(d.dir, "clerkd-pg.log")
    r = migrate(d, "--to", second)
    t.check(r.returncode == 2 and "store is PostgreSQL already" in r.stderr
            and "--from" in r.stderr, "with the config's store on PostgreSQL already,"
            " migrate asks for --from (exit 2)", out(r))
    try:
        d.start()
        started = True
    except RuntimeError as e:
        started = False
        t.check(False, "clerkd starts on the migrated PostgreSQL store", str(e)[-3000:])
    if started:
        t.check(True, "clerkd starts on the migrated PostgreSQL store")
        after = snapshot(d)
        # The slow item is the one that changes: rescued once its lease ends.
        after["list"] = [i for i in after["list"] if i["id"] in before["items"]]
        del after["items"][slow]
        t.eq(after["list"], before["list"], "the item list is the same")
        t.eq(after["items"], before["items"], "every item (payload, steps, escalations,"
             " failures) is the same")
        t.eq(after["escalations"], before["escalations"], "the escalation list is the same")
        t.eq(after["esc_full"], before["esc_full"], "every escalation (comments, claim,"
             " decision) is the same")
        # Against the source's rows: the reload's audit row may have been
        # committed after the snapshot (audit rows are fire and forget).
        src = [[a[0], a[1], a[2], a[3], a[4], json.loads(a[5]) if a[5] else None, a[6], a[7]]
               for a in source["audit"]]
        api = [[a["id"], a["ts"], a["actor"], a["action"], a.get("target"), a.get("details"),
                a["prev_hash"], a["hash"]] for a in after["audit"]]
        t.eq(api[:len(src)], src, "every audit row is the same")
        t.eq([(a[3], a[6]) for a in api[len(src):]], [("start", src[-1][7])],
             "the next row is clerkd's start on PostgreSQL, chained to the last migrated one")
        t.eq(after["paused"]["held"], (True, "sam", "ledger upgrade"),
             "the paused playbook is still paused, by whom and why")
        t.eq(me(d, sid).get("user"), "rita", "a web session from before still works")
        # Read from PostgreSQL, not from the SQLite file still beside it.
        n = json.loads(psql(fresh, "SELECT count(*) FROM audit;"))
        r = d.ctl("audit", "verify")
        t.check(r.returncode == 0 and "intact" in r.stdout and f"{n} row(s)" in r.stdout
                and "postgresql://" in r.stdout,
                "clerkctl audit verify passes on the PostgreSQL store", out(r))

        # The work resumes.
        st, body = d.api("POST", f"/api/v1/escalations/{esc[gate[2]]}/decide",
                         {"decision": "approve", "by": "sam"})
        t.eq(st, 200, "an open escalation is decided on PostgreSQL")
        try:
            d.wait_for(lambda: d.api("GET", f"/api/v1/items/{gate[2]}")[1]["state"] == "done",
                       30, "the decided item done")
            ok = True
        except TimeoutError:
            ok = False
        item = d.api("GET", f"/api/v1/items/{gate[2]}")[1]
        t.check(ok and [s["step"] for s in item.get("steps", [])] == ["review", "after"],
                "its item resumes and finishes its last step", item)
        st, body = d.api("POST", f"/api/v1/escalations/{esc[gate[0]]}/decide",
                         {"decision": "reject", "reason": "again", "by": "sam"})
        t.eq(st, 409, "an escalation decided before the migration is still decided (409)")
        st, body = d.api("POST", "/api/v1/playbooks/chores/run", {"key": "w3"})
        t.check(st == 200 and body.get("duplicate") is True
                and body.get("item") == [i for i in before["list"]
                                         if i["key"] == "w3"][0]["id"],
                "a key used before the migration is a duplicate", body)
        st, body = d.api("POST", "/api/v1/playbooks/chores/run", {"key": "new", "payload": {"n": 99}})
        t.check(st == 201 and body["item"] > max(i["id"] for i in before["list"]),
                "a new item gets an id after the migrated ones", body)
        t.eq(d.counts().get("held", {}).get("queued"), 3, "the paused playbook's items wait")
        st, _ = d.api("POST", "/api/v1/playbooks/held/resume", {"by": "sam"})
        t.eq(st, 200, "the paused playbook is resumed")
        try:
            d.wait_for(lambda: d.counts().get("held", {}).get("done") == 3
                       and d.counts().get("chores", {}).get("done") == 21, 30, "resumed work")
            t.check(True, "its waiting items and the new one run to done")
        except TimeoutError:
            t.check(False, "its waiting items and the new one run to done", d.counts())
        try:
            d.wait_for(lambda: d.api("GET", f"/api/v1/items/{slow}")[1]["state"] == "done",
                       30, "the slow item done")
            ok = True
        except TimeoutError:
            ok = False
        t.check(ok, "the item that was running when clerkd died is rescued on PostgreSQL"
                " once its lease ends, and done", d.api("GET", f"/api/v1/items/{slow}")[1])
        r = d.ctl("audit", "verify")
        t.check(r.returncode == 0 and "intact" in r.stdout,
                "the trail written on PostgreSQL after the migration verifies too", out(r))
        n = json.loads(psql(fresh, "SELECT count(*) FROM audit;"))
        t.check(n > len(source["audit"]), "... and it has grown on PostgreSQL",
                f"{n} vs {len(source['audit'])}")
finally:
    d.cleanup()
    if not os.environ.get("CLERK_KEEP_TMP"):
        for u in targets:
            try:
                pg_drop_db(u)
            except (PgError, subprocess.TimeoutExpired) as e:
                print(f"# could not drop {u}: {e}", file=sys.stderr)
t.done()
