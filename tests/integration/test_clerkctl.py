#!/usr/bin/env python3
"""clerkctl against a real clerkd: usage errors and exit codes, --help,
daemon down, playbook check, run/show/list, duplicate keys, escalation
decisions (reject needs a reason, deciding twice conflicts), reload and
backup."""
import json
import os
import re
import signal
import sqlite3

from harness import STORE_PG, Daemon, Tap

PLAYBOOK = '''name = "ctl-test";
trigger = { manual = true; };
steps = (
  { id = "gate"; use = "escalate"; reason = "needs_review"; message = "please look"; }
);
'''

# Line 4 names a step kind that does not exist.
BROKEN = '''name = "ctl-broken";
trigger = { manual = true; };
steps = (
  { id = "x"; use = "no.such.kind"; }
);
'''

COMMANDS = [
    ["status"], ["playbook", "list"], ["playbook", "check"], ["playbook", "run"],
    ["item", "list"], ["item", "show"], ["item", "retry"], ["item", "cancel"],
    ["escalation", "list"], ["escalation", "show"], ["escalation", "decide"],
    ["reload"], ["backup"],
]

t = Tap()
# Decisions name $USER when --by is not given.
os.environ["USER"] = "ctl-tester"
d = Daemon(workers=2)


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def item_state(item):
    st, body = d.api("GET", f"/api/v1/items/{item}")
    return body.get("state") if st == 200 else None


def wait_state(item, want, timeout=20):
    try:
        return d.wait_for(lambda: item_state(item) == want, timeout,
                          f"item {item} {want}")
    except TimeoutError:
        return False


def open_escalation(item):
    st, body = d.api("GET", f"/api/v1/items/{item}")
    for e in body.get("escalations", []) if st == 200 else []:
        if e.get("state") == "open":
            return e["id"]
    return None


def run_item(key, *extra):
    r = d.ctl("playbook", "run", "ctl-test", "--key", key, *extra)
    m = re.search(r"item (\d+)", r.stdout)
    return r, int(m.group(1)) if m else None


try:
    d.write_playbook("ctl-test.cfg", PLAYBOOK)
    checkdir = os.path.join(d.dir, "check")
    os.makedirs(checkdir)
    good = os.path.join(checkdir, "good.cfg")
    broken = os.path.join(checkdir, "broken.cfg")
    with open(good, "w") as f:
        f.write(PLAYBOOK)
    with open(broken, "w") as f:
        f.write(BROKEN)

    # ---- usage errors: exit 2, a usage message on stderr ----
    r = d.ctl()
    t.check(r.returncode == 2 and "usage:" in r.stderr and "status" in r.stderr
            and "escalation decide" in r.stderr and "backup" in r.stderr,
            "no command: exit 2 and a usage naming the commands", out(r))
    r = d.ctl("frobnicate")
    t.check(r.returncode == 2 and "unknown command" in r.stderr
            and "usage:" in r.stderr and "playbook check" in r.stderr,
            "unknown command: exit 2 and the usage", out(r))
    r = d.ctl("--frobnicate", "status")
    t.check(r.returncode == 2 and "--frobnicate" in r.stderr and "usage:" in r.stderr,
            "unknown global option: exit 2 and the usage", out(r))
    r = d.ctl("item", "list", "--frobnicate")
    t.check(r.returncode == 2 and "unknown option --frobnicate" in r.stderr
            and "usage: clerkctl item list" in r.stderr,
            "unknown option of a command: exit 2 and its usage", out(r))
    r = d.ctl("item")
    t.check(r.returncode == 2 and "item show" in r.stderr,
            "a group word alone: exit 2, names its commands", out(r))
    r = d.ctl("item", "frob")
    t.check(r.returncode == 2 and "unknown command" in r.stderr,
            "unknown command in a group: exit 2", out(r))
    r = d.ctl("item", "show")
    t.check(r.returncode == 2 and "missing argument" in r.stderr,
            "missing argument: exit 2", out(r))
    r = d.ctl("item", "show", "abc")
    t.check(r.returncode == 2 and "positive number" in r.stderr,
            "a non-numeric ID: exit 2", out(r))
    r = d.ctl("item", "list", "--limit")
    t.check(r.returncode == 2 and "needs a value" in r.stderr,
            "an option without its value: exit 2", out(r))
    r = d.ctl("escalation", "decide", "1", "maybe")
    t.check(r.returncode == 2 and "approve, reject, retry or resume" in r.stderr,
            "an unknown decision: exit 2 naming the valid ones", out(r))
    r = d.ctl("playbook", "run", "ctl-test", "--payload", "{not json")
    t.check(r.returncode == 2 and "not JSON" in r.stderr,
            "a malformed --payload: exit 2", out(r))
    r = d.ctl("playbook", "run", "ctl-test", "--payload", "[1, 2]")
    t.check(r.returncode == 2 and "JSON object" in r.stderr,
            "a --payload that is not an object: exit 2", out(r))

    # ---- --help everywhere ----
    r = d.ctl("--help")
    t.check(r.returncode == 0 and r.stdout.startswith("usage: clerkctl")
            and "escalation list" in r.stdout and r.stderr == "",
            "--help: exit 0, usage on stdout", out(r))
    r = d.ctl("--version")
    t.check(r.returncode == 0 and re.match(r"clerkctl \d+\.\d+", r.stdout),
            "--version prints the version", out(r))
    for cmd in COMMANDS:
        r = d.ctl(*cmd, "--help")
        t.check(r.returncode == 0 and
                r.stdout.startswith("usage: clerkctl " + " ".join(cmd)),
                f"clerkctl {' '.join(cmd)} --help: exit 0 and its usage", out(r))
    r = d.ctl("escalation", "-h")
    t.check(r.returncode == 0 and "escalation decide" in r.stdout,
            "a group's -h lists its commands", out(r))

    # ---- daemon not running: exit 3 naming the address ----
    r = d.ctl("status")
    t.check(r.returncode == 3 and f"127.0.0.1:{d.port}" in r.stderr
            and "clerkd running" in r.stderr and "--config" in r.stderr,
            "daemon down: exit 3, says which address and what to check", out(r))
    r = d.ctl("item", "list")
    t.eq(r.returncode, 3, "daemon down: item list exits 3 too")

    # ---- playbook check: local, no daemon ----
    r = d.ctl("playbook", "check", good)
    t.check(r.returncode == 0 and f"{good}: ok" in r.stdout,
            "check of a good playbook: exit 0, FILE: ok", out(r))
    r = d.ctl("playbook", "check", broken)
    t.check(r.returncode == 1 and f"{broken}:4:" in r.stdout
            and "no.such.kind" in r.stdout,
            "check of a broken playbook: exit 1, file:line: message", out(r))
    r = d.ctl("playbook", "check", good, broken)
    t.check(r.returncode == 1 and f"{good}: ok" in r.stdout
            and f"{broken}:4:" in r.stdout and "1 problem" in r.stderr,
            "check of both: every file reported, exit 1", out(r))
    r = d.ctl("playbook", "check", os.path.join(checkdir, "missing.cfg"))
    t.check(r.returncode == 1 and "missing.cfg" in r.stdout,
            "check of a missing file: exit 1 naming it", out(r))
    r = d.ctl("--json", "playbook", "check", good, broken)
    try:
        j = json.loads(r.stdout)
        ok = (r.returncode == 1 and j["files"][0]["ok"] is True
              and j["files"][1]["ok"] is False
              and j["files"][1]["problems"][0].startswith(f"{broken}:4:"))
    except (ValueError, KeyError, IndexError):
        ok = False
    t.check(ok, "check --json: per-file problems as JSON", out(r))

    # ---- with the daemon ----
    d.start()
    r = d.ctl("status")
    t.check(r.returncode == 0 and "ctl-test" in r.stdout and "QUEUED" in r.stdout
            and "open escalations: 0" in r.stdout and "health" in r.stdout,
            "status: health, the table and open escalations", out(r))
    r = d.ctl("status", "--json")
    try:
        ok = r.returncode == 0 and "counts" in json.loads(r.stdout)
    except ValueError:
        ok = False
    t.check(ok, "status --json prints the API's JSON", out(r))

    st, body = d.api("GET", "/api/v1/playbooks")
    h = body["playbooks"][0]["hash"]
    r = d.ctl("playbook", "list")
    row = [ln for ln in r.stdout.splitlines() if ln.startswith("ctl-test")]
    t.check(r.returncode == 0 and row and "manual" in row[0] and h[:12] in row[0]
            and h[:13] not in row[0],
            "playbook list: name, trigger and the hash's first 12 chars", out(r))

    # run, duplicate key, show, list
    r, item = run_item("k1", "--payload", '{"name": "李四", "case": 7}')
    t.check(r.returncode == 0 and item is not None and "queued" in r.stdout,
            "playbook run prints the new item's id", out(r))
    r, again = run_item("k1", "--payload", '{"name": "x"}')
    t.check(r.returncode == 0 and again == item and "already exists" in r.stdout,
            "the same key: the existing id, reported as already there", out(r))
    r = d.ctl("playbook", "run", "no-such-playbook")
    t.check(r.returncode == 1 and r.stderr.startswith("clerkctl: ")
            and "no-such-playbook" in r.stderr,
            "run of an unknown playbook: exit 1 with the API's message", out(r))
    pfile = os.path.join(d.dir, "payload.json")
    with open(pfile, "w") as f:
        json.dump({"name": "王五"}, f)
    r, item2 = run_item("k2", "--payload", "@" + pfile, "--priority", "5")
    st, body = d.api("GET", f"/api/v1/items/{item2}") if item2 else (0, {})
    t.check(r.returncode == 0 and body.get("payload") == {"name": "王五"}
            and body.get("priority") == 5,
            "--payload @FILE and --priority reach the item", out(r))

    t.check(wait_state(item, "escalated"), "the item reaches its escalation")
    wait_state(item2, "escalated")
    r = d.ctl("item", "show", str(item))
    t.check(r.returncode == 0 and "escalated" in r.stdout and "李四" in r.stdout
            and "needs_review" in r.stdout and "k1" in r.stdout,
            "item show: state, payload, escalation", out(r))
    # A step that failed twice before it succeeded: item show lists both.
    d.write_playbook("ctl-flaky.cfg", 'name = "ctl-flaky";\ntrigger = { manual = true; };\n'
                     'retry = { attempts = 4; initial = "100ms"; max = "200ms"; };\n'
                     'steps = ( { id = "flaky"; use = "noop"; fail_attempts = 2; } );\n')
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: d.ctl("playbook", "run", "ctl-flaky", "--key", "f1").returncode == 0,
               10, "ctl-flaky loaded")
    st, body = d.api("GET", "/api/v1/items?playbook=ctl-flaky")
    flaky = body["items"][0]["id"]
    t.check(wait_state(flaky, "done"), "the flaky item is done on its third attempt")
    r = d.ctl("item", "show", str(flaky))
    t.check(r.returncode == 0 and "failed attempts: 2" in r.stdout and
            "2 failed attempts in all" in r.stdout and
            "planned system error on attempt 1 of 2" in r.stdout and
            "planned system error on attempt 2 of 2" in r.stdout and
            re.search(r"^\s*flaky\s+1\s+.*system\s+retry", r.stdout, re.M),
            "item show lists each failed attempt with its error", out(r))
    st, body = d.api("GET", f"/api/v1/items/{flaky}")
    t.eq([(f["attempt"], f["kind"], f["reason"]) for f in body.get("failures", [])],
         [(1, "system", "retry"), (2, "system", "retry")],
         "the API's item has the failures, attempt by attempt")
    r = d.ctl("item", "show", "999999")
    t.check(r.returncode == 1 and r.stderr.startswith("clerkctl: ")
            and "999999" in r.stderr,
            "item show of an unknown id: exit 1 with the API's message", out(r))
    r = d.ctl("item", "list", "--json")
    try:
        j = json.loads(r.stdout)
        ok = r.returncode == 0 and item in [i["id"] for i in j["items"]]
    except (ValueError, KeyError):
        ok = False
    t.check(ok, "item list --json: the API's JSON with the item", out(r))
    r = d.ctl("item", "list", "--state", "escalated", "--playbook", "ctl-test")
    t.check(r.returncode == 0 and re.search(rf"^\s*{item}\s+ctl-test\s+escalated",
                                            r.stdout, re.M),
            "item list --state --playbook: a table row for the item", out(r))
    r = d.ctl("item", "list", "--limit", "1")
    t.check(r.returncode == 0 and "--before" in r.stderr,
            "item list --limit 1 tells how to get the next page", out(r))
    r = d.ctl("item", "list", "--state", "bogus")
    t.check(r.returncode == 1 and "unknown state" in r.stderr,
            "item list --state bogus: exit 1 with the API's message", out(r))

    # escalations
    esc = open_escalation(item)
    esc2 = open_escalation(item2)
    r = d.ctl("escalation", "list")
    t.check(r.returncode == 0 and re.search(rf"^\s*{esc}\s+{item}\s+ctl-test", r.stdout, re.M)
            and "please look" in r.stdout and "needs_review" in r.stdout,
            "escalation list shows the open escalation", out(r))
    r = d.ctl("escalation", "show", str(esc))
    t.check(r.returncode == 0 and "please look" in r.stdout and "open" in r.stdout
            and "李四" in r.stdout,
            "escalation show: message, state, payload", out(r))
    r = d.ctl("escalation", "decide", str(esc), "reject")
    t.check(r.returncode == 1 and r.stderr.startswith("clerkctl: ")
            and "reason" in r.stderr,
            "reject without --reason: exit 1 with the API's message", out(r))
    st, body = d.api("GET", f"/api/v1/escalations/{esc}")
    t.eq(body.get("state"), "open", "the refused rejection left it open")
    r = d.ctl("escalation", "decide", str(esc), "resume")
    t.check(r.returncode == 1 and "payload" in r.stderr,
            "resume without --payload: exit 1", out(r))
    r = d.ctl("escalation", "decide", str(esc), "reject",
              "--reason", "ID card unreadable", "--by", "alice")
    t.check(r.returncode == 0 and "reject" in r.stdout,
            "reject with a reason: exit 0", out(r))
    st, body = d.api("GET", f"/api/v1/escalations/{esc}")
    t.check(body.get("decided_by") == "alice" and body.get("decision") == "reject"
            and body.get("decision_reason") == "ID card unreadable",
            "the decision, its reason and --by are recorded", body)
    t.check(wait_state(item, "rejected"), "the item ends rejected")
    r = d.ctl("escalation", "decide", str(esc), "reject", "--reason", "again")
    t.check(r.returncode == 1 and "already decided" in r.stderr,
            "deciding twice: conflict, exit 1", out(r))
    r = d.ctl("escalation", "decide", str(esc2), "approve")
    t.check(r.returncode == 0, "approve: exit 0", out(r))
    st, body = d.api("GET", f"/api/v1/escalations/{esc2}")
    t.eq(body.get("decided_by"), "ctl-tester", "--by defaults to $USER")
    t.check(wait_state(item2, "done"), "an approved item goes on to done")
    r = d.ctl("escalation", "list")
    t.check(r.returncode == 0 and "no open escalations" in r.stdout,
            "nothing open after both decisions", out(r))
    r = d.ctl("escalation", "list", "--all")
    t.check(r.returncode == 0 and "reject by alice" in r.stdout,
            "escalation list --all shows decided ones", out(r))

    # item retry / cancel
    r = d.ctl("item", "retry", str(item))
    t.check(r.returncode == 0 and "queued again" in r.stdout,
            "item retry of a rejected item", out(r))
    t.check(wait_state(item, "escalated"), "the retried item runs its step again")
    r = d.ctl("item", "cancel", str(item))
    t.check(r.returncode == 0 and "cancelled" in r.stdout, "item cancel", out(r))
    r = d.ctl("item", "cancel", str(item))
    t.check(r.returncode == 1 and r.stderr.startswith("clerkctl: ")
            and "cancelled" in r.stderr,
            "cancelling twice: exit 1 with the API's message", out(r))

    # token problems are named
    badtok = os.path.join(d.dir, "bad.token")
    with open(badtok, "w") as f:
        f.write("0" * 64 + "\n")
    r = d.ctl("--token-file", badtok, "status")
    t.check(r.returncode == 1 and "refused" in r.stderr,
            "a wrong token: exit 1 saying it was refused", out(r))
    r = d.ctl("--url", f"http://127.0.0.1:{d.port}/", "item", "list")
    t.eq(r.returncode, 0, "--url with a trailing slash works")

    # reload
    r = d.ctl("reload")
    t.check(r.returncode == 0 and "ctl-test" in r.stdout, "reload: exit 0, names the loaded", out(r))
    bad = d.write_playbook("ctl-broken.cfg", BROKEN)
    r = d.ctl("reload")
    t.check(r.returncode == 1 and f"{bad}:4:" in r.stderr and "ctl-test" in r.stdout,
            "reload with a broken playbook: exit 1 and file:line:", out(r))
    os.unlink(bad)
    r = d.ctl("reload")
    t.eq(r.returncode, 0, "reload after removing it: exit 0")

    if STORE_PG:
        # A shared PostgreSQL store is backed up with PostgreSQL's own tools
        # (pg_dump, pg_basebackup and WAL archiving); clerkctl says so
        # rather than writing a file that is not the queue.
        dest = os.path.join(d.dir, "backup.db")
        r = d.ctl("backup", dest)
        t.check(r.returncode != 0 and "pg_dump" in r.stderr and not os.path.exists(dest),
                "backup on a PostgreSQL store is refused and names pg_dump", out(r))
    else:
        # backup, while the daemon runs
        dest = os.path.join(d.dir, "backup.db")
        r = d.ctl("backup", dest)
        t.check(r.returncode == 0 and os.path.exists(dest), "backup writes FILE", out(r))
        try:
            con = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
            n = con.execute("SELECT count(*) FROM items").fetchone()[0]
            con.close()
        except sqlite3.Error as e:
            n = f"error: {e}"
        t.eq(n, 3, "the backup opens in sqlite3 and has the three items")
        t.check(not [f for f in os.listdir(d.dir) if ".tmp-" in f],
                "no temporary file left behind")
        before = os.stat(dest)
        r = d.ctl("backup", dest)
        t.check(r.returncode == 1 and "exists" in r.stderr and "--force" in r.stderr,
                "backup onto an existing file is refused", out(r))
        t.eq(os.stat(dest).st_mtime_ns, before.st_mtime_ns, "the existing file is untouched")
        r = d.ctl("backup", dest, "--force")
        t.eq(r.returncode, 0, "backup --force replaces it")
        r = d.ctl("backup", os.path.join(d.state, "clerk.db"), "--force")
        t.check(r.returncode == 1 and "live database" in r.stderr,
                "backup onto the live database is refused even with --force", out(r))

    # daemon gone again
    d.stop()
    r = d.ctl("escalation", "list")
    t.check(r.returncode == 3 and f"127.0.0.1:{d.port}" in r.stderr,
            "after clerkd stopped: exit 3", out(r))
    if not STORE_PG:
        dest2 = os.path.join(d.dir, "offline.db")
        r = d.ctl("backup", dest2)
        t.check(r.returncode == 0 and os.path.getsize(dest2) > 0,
                "backup works without a running daemon", out(r))
except Exception as e:  # a crash is a failed test, not a hidden one
    t.check(False, "test ran to the end", repr(e) + "\n" + d.log_text()[-2000:])
finally:
    d.cleanup()
t.done()
