#!/usr/bin/env python3
"""The audit trail end to end: what clerkd records (start, reload,
decisions, operator retries and cancels), `clerkctl audit verify` on an
intact trail and on one with an edited and a deleted row, and `clerkctl
audit export`."""
import json
import signal
import os

from harness import Daemon, Tap

t = Tap()
d = Daemon()
try:
    d.write_playbook("gate.cfg", '''
name = "gate";
trigger = { manual = true; };
steps = ( { id = "review"; use = "escalate"; reason = "check"; } );
''')
    d.start()
    items = []
    for k in ("a", "b"):
        st, body = d.api("POST", "/api/v1/playbooks/gate/run", {"key": k})
        items.append(body["item"])
    d.wait_for(lambda: len(d.api("GET", "/api/v1/escalations")[1]["escalations"]) == 2, 10, "escalations")
    escs = d.api("GET", "/api/v1/escalations")[1]["escalations"]
    st, body = d.api("POST", f"/api/v1/escalations/{escs[0]['id']}/claim",
                     {"by": "bob", "minutes": 10})
    t.check(st == 200 and body["claimed_by"] == "bob", "bob claims the escalation", body)
    st, body = d.api("POST", f"/api/v1/escalations/{escs[0]['id']}/decide",
                     {"decision": "reject", "reason": "wrong form", "by": "alice"})
    t.check(st == 409 and "claimed by bob" in body["error"]["message"],
            "alice cannot decide what bob holds", body)
    st, body = d.api("GET", f"/api/v1/escalations/{escs[0]['id']}")
    t.eq(body["claimed_by"], "bob", "the escalation shows who holds it")
    st, _ = d.api("POST", f"/api/v1/escalations/{escs[0]['id']}/release", {"by": "bob"})
    t.eq(st, 200, "bob releases it")
    st, _ = d.api("POST", f"/api/v1/escalations/{escs[0]['id']}/decide",
                  {"decision": "reject", "reason": "wrong form", "by": "alice"})
    t.eq(st, 200, "a decision")
    st, _ = d.api("POST", f"/api/v1/items/{escs[1]['item']}/cancel")
    t.eq(st, 200, "a cancel")
    st, _ = d.api("POST", f"/api/v1/escalations/{escs[0]['id']}/decide", {"decision": "approve"})
    t.eq(st, 409, "a refused decision")
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: any("reloaded" in r.get("msg", "") for r in d.log_records()), 5, "reload")
    d.wait_for(lambda: len(d.api("GET", "/api/v1/audit")[1]["audit"]) == 6, 5, "audit rows")
    st, body = d.api("GET", "/api/v1/audit?after=1&limit=2")
    t.check(st == 200 and [x["action"] for x in body["audit"]] == ["claim", "release"]
            and body["next"] == 3, "GET /api/v1/audit pages the trail", body)
    t.eq(d.stop(), 0, "clean stop")

    r = d.ctl("audit", "export")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    t.eq([(x["actor"], x["action"]) for x in rows],
         [("clerkd", "start"), ("bob", "claim"), ("bob", "release"), ("alice", "decide"),
          ("operator", "item.cancel"), ("clerkd (SIGHUP)", "reload")],
         "start, the claim, the decision, the cancel and the reload are recorded, the refused decisions are not")
    t.eq(rows[3]["details"], {"item": escs[0]["item"], "decision": "reject", "reason": "wrong form"},
         "with what was decided")
    t.check(len(rows[0]["details"]["playbooks"]["gate"]) == 64, "start records each playbook's hash")
    t.check(all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, len(rows))),
            "each row carries the hash of the one before")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "6 row(s)" in r.stdout and "intact" in r.stdout,
            "clerkctl audit verify: intact", r.stdout + r.stderr)

    db = d.db_rw()
    db.execute("UPDATE audit SET details = replace(details, 'wrong form', 'fine') WHERE id = 4")
    db.commit()
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 1 and "audit row 4: its content does not match its hash (edited)" in r.stdout,
            "an edited row is named", r.stdout)
    db.execute("UPDATE audit SET details = replace(details, 'fine', 'wrong form') WHERE id = 4")
    db.execute("DELETE FROM audit WHERE id = 3")
    db.commit()
    db.close()
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 1 and "audit row 3: missing (deleted)" in r.stdout,
            "a deleted row is named", r.stdout)
    r = d.ctl("audit", "export", "--after", "4")
    t.eq([json.loads(x)["id"] for x in r.stdout.splitlines()], [5, 6], "export --after")
    r = d.ctl("audit", "export", "--after", "x")
    t.eq(r.returncode, 2, "a bad --after is a usage error")

    # clerkctl escalation claim / release
    d.start()
    st, body = d.api("POST", "/api/v1/playbooks/gate/run", {"key": "c"})
    d.wait_for(lambda: d.api("GET", f"/api/v1/items/{body['item']}")[1]["state"] == "escalated", 10)
    esc = d.api("GET", f"/api/v1/items/{body['item']}")[1]["escalations"][0]["id"]
    r = d.ctl("escalation", "claim", str(esc), "--minutes", "5", "--by", "dave")
    t.check(r.returncode == 0 and "is yours until" in r.stdout, "clerkctl escalation claim", r.stdout + r.stderr)
    r = d.ctl("escalation", "decide", str(esc), "approve", "--by", "erin")
    t.check(r.returncode == 1 and "claimed by dave" in r.stderr, "another reviewer cannot decide it", r.stderr)
    r = d.ctl("escalation", "release", str(esc), "--by", "dave")
    t.check(r.returncode == 0 and "released" in r.stdout, "clerkctl escalation release", r.stdout + r.stderr)
    r = d.ctl("escalation", "decide", str(esc), "approve", "--by", "erin")
    t.eq(r.returncode, 0, "then the decision goes through")
    r = d.ctl("escalation", "claim", str(esc), "--minutes", "0")
    t.eq(r.returncode, 2, "a bad --minutes is a usage error")
finally:
    d.cleanup()
t.done()
