#!/usr/bin/env python3
"""clerkd end to end: API auth, triggers (manual, watch, interval), steps,
retries, escalations and decisions, health and metrics, drain on SIGTERM."""
import os
import signal
import time

from harness import Daemon, Tap

t = Tap()
d = Daemon(workers=2)
try:
    d.write_playbook("manual.cfg", '''
name = "manual";
trigger = { manual = true; };
payload = [ "name" ];
steps = (
  { id = "a"; use = "noop"; },
  { id = "b"; use = "notify"; message = "hello ${name}"; }
);
''')
    d.write_playbook("flaky.cfg", '''
name = "flaky";
trigger = { manual = true; };
retry = { attempts = 3; initial = "100ms"; max = "200ms"; };
steps = ( { id = "call"; use = "noop"; fail_attempts = 2; } );
''')
    d.write_playbook("dead.cfg", '''
name = "dead";
trigger = { manual = true; };
retry = { attempts = 2; initial = "100ms"; max = "100ms"; };
sla = "2h";
steps = ( { id = "call"; use = "noop"; fail_attempts = 99; } );
''')
    d.write_playbook("refuse.cfg", '''
name = "refuse";
trigger = { manual = true; };
steps = (
  { id = "check"; use = "noop"; fail = "business"; },
  { id = "after"; use = "noop"; }
);
''')
    d.write_playbook("strict.cfg", '''
name = "strict";
trigger = { manual = true; };
steps = ( { id = "check"; use = "noop"; fail = "business"; on_business_error = "reject"; } );
''')
    d.write_playbook("gate.cfg", '''
name = "gate";
trigger = { manual = true; };
payload = [ "name" ];
steps = (
  { id = "review"; use = "escalate"; reason = "needs_review"; message = "check ${name}"; },
  { id = "after"; use = "noop"; }
);
''')
    d.write_playbook("inbox.cfg", '''
name = "inbox";
trigger = { watch = { dir = "inbox"; pattern = "*.txt"; }; };
steps = ( { id = "archive"; use = "file.move"; to = "archive/%Y/"; } );
''')
    d.write_playbook("tick.cfg", '''
name = "tick";
trigger = { interval = "1s"; };
steps = ( { id = "a"; use = "noop"; } );
''')
    d.start()

    st, body = d.api("GET", "/healthz", token=False)
    t.eq(st, 200, "healthz answers 200")
    st, body = d.api("GET", "/api/v1/status", token=False)
    t.eq(st, 401, "API without token is 401")
    st, body = d.api("GET", "/api/v1/status")
    t.eq(st, 200, "status with token is 200")
    t.eq(sorted(p["name"] for p in body["playbooks"]),
         ["dead", "flaky", "gate", "inbox", "manual", "refuse", "strict", "tick"],
         "every playbook is loaded")
    tokpath = os.path.join(d.state, "api.token")
    t.eq(oct(os.stat(tokpath).st_mode & 0o777), "0o600", "api.token is mode 0600")

    def state(item):
        st, body = d.api("GET", f"/api/v1/items/{item}")
        return body.get("state") if st == 200 else None

    def wait_state(item, want, timeout=20):
        try:
            return d.wait_for(lambda: state(item) == want, timeout, f"item {item} {want}")
        except TimeoutError:
            return False

    # manual run to done, with the journal
    st, body = d.api("POST", "/api/v1/playbooks/manual/run",
                     {"payload": {"name": "张三"}, "key": "case-1"})
    t.eq(st, 201, "run creates an item (201)")
    item = body["item"]
    t.check(wait_state(item, "done"), "manual item ends done")
    st, body = d.api("GET", f"/api/v1/items/{item}")
    t.eq([s["step"] for s in body["steps"]], ["a", "b"], "both steps journaled in order")
    t.eq(body["steps"][1]["output"]["message"], "hello 张三", "notify expands payload fields")
    st, body = d.api("POST", "/api/v1/playbooks/manual/run",
                     {"payload": {"name": "x"}, "key": "case-1"})
    t.check(st == 200 and body["duplicate"] and body["item"] == item,
            "same key gives the same item, not a second one", body)

    # bad input
    st, body = d.api("POST", "/api/v1/playbooks/nosuch/run", {})
    t.eq(st, 404, "unknown playbook is 404")
    st, body = d.api("POST", "/api/v1/playbooks/manual/run", {"payload": [1]})
    t.eq(st, 400, "non-object payload is 400")
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}/api/v1/playbooks/manual/run",
                                 data=b"{not json", method="POST")
    req.add_header("Authorization", "Bearer " + d.token())
    try:
        urllib.request.urlopen(req)
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
        msg = e.read().decode()
    t.check(code == 400 and "line 1" in msg, "malformed JSON is 400 with a position", msg)

    # system errors: retried with backoff, then done
    st, body = d.api("POST", "/api/v1/playbooks/flaky/run", {"key": "f1"})
    t.check(wait_state(body["item"], "done"), "item with 2 planned system errors ends done after retries")
    logs = [r for r in d.log_records() if r.get("playbook") == "flaky" and "retrying" in r.get("msg", "")]
    t.eq(len(logs), 2, "two retries were logged with item/playbook/step")
    t.check(all(r.get("item") == body["item"] and r.get("step") == "call" for r in logs),
            "retry logs carry item id and step", logs)

    # retries exhausted -> escalated with the SLA due time
    st, body = d.api("POST", "/api/v1/playbooks/dead/run", {"key": "d1"})
    dead = body["item"]
    t.check(wait_state(dead, "escalated"), "item failing every attempt ends escalated")
    st, body = d.api("GET", f"/api/v1/items/{dead}")
    esc = body["escalations"][0]
    t.eq(esc["reason"], "retries_exhausted", "escalation reason is retries_exhausted")
    t.check(abs(esc["due"] - esc["created"] - 2 * 3600 * 1000) < 1000, "due = created + sla (2h)", esc)
    t.eq(body["last_error_kind"], "system", "last error kind is system")

    # business error -> escalated at once, no retry
    st, body = d.api("POST", "/api/v1/playbooks/refuse/run", {"key": "r1"})
    ref = body["item"]
    t.check(wait_state(ref, "escalated"), "business error escalates")
    st, body = d.api("GET", f"/api/v1/items/{ref}")
    t.eq(body["attempts"], 0, "business errors are not retried")
    t.eq(body["escalations"][0]["reason"], "business_error", "reason business_error")
    st, body = d.api("POST", "/api/v1/playbooks/strict/run", {"key": "s1"})
    t.check(wait_state(body["item"], "rejected"), "on_business_error = reject rejects")

    # decisions
    st, body = d.api("POST", "/api/v1/playbooks/gate/run", {"key": "g1", "payload": {"name": "李四"}})
    g1 = body["item"]
    t.check(wait_state(g1, "escalated"), "escalate step escalates")
    st, body = d.api("GET", "/api/v1/escalations?playbook=gate")
    e1 = body["escalations"][0]
    t.eq(e1["message"], "check 李四", "escalation message from the template")
    st, body = d.api("POST", f"/api/v1/escalations/{e1['id']}/decide", {"decision": "reject"})
    t.eq(st, 400, "reject without a reason is 400")
    st, body = d.api("POST", f"/api/v1/escalations/{e1['id']}/decide", {"decision": "maybe"})
    t.eq(st, 400, "unknown decision is 400")
    st, body = d.api("POST", f"/api/v1/escalations/{e1['id']}/decide",
                     {"decision": "approve", "by": "reviewer1"})
    t.eq(st, 200, "approve is accepted")
    t.check(wait_state(g1, "done"), "approved item continues after the gate to done")
    st, body = d.api("POST", f"/api/v1/escalations/{e1['id']}/decide", {"decision": "approve"})
    t.eq(st, 409, "deciding twice is 409")

    st, body = d.api("POST", "/api/v1/playbooks/gate/run", {"key": "g2", "payload": {"name": "wrong"}})
    g2 = body["item"]
    wait_state(g2, "escalated")
    st, body = d.api("GET", f"/api/v1/items/{g2}")
    eid = body["escalations"][0]["id"]
    st, body = d.api("POST", f"/api/v1/escalations/{eid}/decide",
                     {"decision": "resume", "payload": {"name": "王五"}})
    t.eq(st, 200, "resume with a corrected payload is accepted")
    t.check(wait_state(g2, "escalated"), "resumed item runs the gate again")
    st, body = d.api("GET", f"/api/v1/items/{g2}")
    t.eq(body["payload"]["name"], "王五", "the corrected payload was merged")
    t.eq(body["escalations"][-1]["message"], "check 王五", "the re-run used the corrected payload")
    eid = body["escalations"][-1]["id"]
    st, body = d.api("POST", f"/api/v1/escalations/{eid}/decide",
                     {"decision": "reject", "reason": "applicant withdrew"})
    t.check(wait_state(g2, "rejected"), "reject with reason ends rejected")

    st, body = d.api("POST", f"/api/v1/items/{g2}/retry")
    t.eq(st, 200, "a rejected item can be retried by an operator")
    t.check(wait_state(g2, "escalated"), "retried item runs again")
    st, body = d.api("POST", f"/api/v1/items/{g2}/cancel")
    t.check(st == 200 and state(g2) == "cancelled", "an escalated item can be cancelled")
    st, body = d.api("POST", f"/api/v1/items/{g1}/cancel")
    t.eq(st, 409, "a done item cannot be cancelled (409)")
    st, body = d.api("GET", "/api/v1/items/999999")
    t.eq(st, 404, "unknown item is 404")

    # watch trigger: complete files only, once each
    inbox = os.path.join(d.state, "inbox")
    d.wait_for(lambda: os.path.isdir(inbox), 5, "inbox created")
    with open(os.path.join(inbox, ".upload.tmp"), "w") as f:
        f.write("scan 1")
    time.sleep(0.5)
    st, body = d.api("GET", "/api/v1/items?playbook=inbox")
    t.eq(len(body["items"]), 0, "a file still being written (temp name) is not taken")
    os.rename(os.path.join(inbox, ".upload.tmp"), os.path.join(inbox, "scan1.txt"))
    with open(os.path.join(inbox, "note.bin"), "w") as f:
        f.write("not matching the pattern")
    with open(os.path.join(inbox, "scan2.txt"), "w") as f:
        f.write("scan 2")

    def inbox_done():
        st, body = d.api("GET", "/api/v1/items?playbook=inbox&state=done")
        return len(body["items"]) == 2
    try:
        d.wait_for(inbox_done, 15, "two inbox items done")
        ok = True
    except TimeoutError:
        ok = False
    t.check(ok, "renamed-in and closed-after-write files become items and are archived")
    year = time.strftime("%Y")
    t.check(os.path.exists(os.path.join(d.state, "archive", year, "scan1.txt")),
            "file.move put the file under archive/%Y/")
    t.check(os.path.exists(os.path.join(inbox, "note.bin")), "non-matching file left alone")
    # the same content under the same name again is the same upload
    with open(os.path.join(inbox, "scan1.txt"), "w") as f:
        f.write("scan 1")
    time.sleep(1)
    st, body = d.api("GET", "/api/v1/items?playbook=inbox")
    t.eq(len(body["items"]), 2, "the same upload never becomes two items")

    # interval trigger
    def ticks():
        st, body = d.api("GET", "/api/v1/items?playbook=tick")
        return len(body["items"]) >= 2
    try:
        d.wait_for(ticks, 6, "two interval items")
        ok = True
    except TimeoutError:
        ok = False
    t.check(ok, "interval trigger enqueues once per interval")
    st, body = d.api("GET", "/api/v1/items?playbook=tick")
    keys = [i["key"] for i in body["items"]]
    t.eq(len(keys), len(set(keys)), "interval items have distinct slot keys")

    # the reviewer UI's files, and nothing outside their folder
    import urllib.request as ur
    with ur.urlopen(f"http://127.0.0.1:{d.port}/") as r:
        page, ctype, csp = r.read().decode(), r.headers["Content-Type"], \
            r.headers["Content-Security-Policy"]
    t.check(page.lower().startswith("<!doctype html") and ctype.startswith("text/html")
            and "default-src 'self'" in csp, "GET / serves the UI with a CSP", ctype)
    for bad in ("/web/..%2f..%2fclerkd.conf", "/web/../clerkd.conf", "/web/index.exe",
                "/web/.htaccess.html"):
        try:
            ur.urlopen(f"http://127.0.0.1:{d.port}{bad}")
            code = 200
        except urllib.error.HTTPError as e:
            code = e.code
        t.eq(code, 404, f"GET {bad} is 404")

    # metrics
    st, text = d.api("GET", "/metrics", token=False)
    t.check('clerk_items{playbook="manual",state="done"} 1' in text, "metrics: items by state", text[:500])
    t.check("clerk_step_seconds_bucket{" in text and "clerk_queue_depth{" in text,
            "metrics: step latency histogram and queue depth")
    t.check("clerk_retries_total " in text and "clerk_escalations_total " in text,
            "metrics: retries and escalations counters")

    # drain: a running step finishes, then exit 0
    d.write_playbook("slow.cfg", '''
name = "slow";
trigger = { manual = true; };
steps = ( { id = "wait"; use = "sleep"; duration = "1500ms"; } );
''')
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    st, body = d.api("POST", "/api/v1/playbooks/slow/run", {"key": "slow1"})
    slow = body["item"]
    d.wait_for(lambda: state(slow) == "running", 5, "slow item running")
    t0 = time.time()
    rc = d.stop(signal.SIGTERM)
    t.eq(rc, 0, "SIGTERM drains and exits 0")
    t.check(time.time() - t0 >= 1.0, "the drain waited for the running step")
    db = d.db()
    row = db.execute("SELECT state FROM items WHERE id = ?", (slow,)).fetchone()
    t.eq(row[0], 4, "the step that was running when SIGTERM came finished (done)")
    db.close()
    recs = d.log_records()
    t.check(all("ts" in r and "level" in r and "msg" in r for r in recs) and len(recs) > 10,
            "stderr is JSON lines with ts, level, msg")
finally:
    d.cleanup()
t.done()
