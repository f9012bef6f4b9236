#!/usr/bin/env python3
"""The pension-transfer playbook against the legacy-system simulator:
the happy path, business refusals, invalid cases, garbage answers, a wrong
password, and a search for secrets in the log, the database and the
evidence."""
import json
import os
import time

from harness import Daemon, Tap
import pension

PASSWORD = "Pw-seeded-7731-secret"

t = Tap()


def setup(sim, retry='{ attempts = 3; initial = "200ms"; max = "1s"; }', **over):
    d = Daemon(workers=4)
    text = pension.playbook_text(**over)
    text = text.replace('retry = { attempts = 8; initial = "500ms"; max = "20s"; };',
                        f"retry = {retry};")
    d.write_playbook("pension-transfer.cfg", text)
    os.makedirs(d.state, exist_ok=True)
    pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url,
                              password=PASSWORD)
    d.start()
    return d


def run(d, key, payload):
    st, body = d.api("POST", "/api/v1/playbooks/pension-transfer/run",
                     {"key": key, "payload": payload})
    assert st in (200, 201), (st, body)
    return body["item"]


def item(d, i):
    st, body = d.api("GET", f"/api/v1/items/{i}")
    return body


def settled(d, ids):
    def f():
        return all(item(d, i)["state"] in ("done", "escalated", "rejected") for i in ids)
    return f


def escalation_of(d, i):
    db = d.db()
    row = db.execute("SELECT reason, message, context FROM escalations WHERE item = ?"
                     " ORDER BY id DESC LIMIT 1", (i,)).fetchone()
    db.close()
    return row


def new_by_id(sim, system):
    n = {}
    for s in sim.submissions():
        if s["system"] == system and s["kind"] == "new":
            n[s["id_no"]] = n.get(s["id_no"], 0) + 1
    return n


# ---- one simulator and daemon for the happy path, refusals and garbage ----
import tempfile
simlog = os.path.join(tempfile.mkdtemp(prefix="clerk-sim-"), "sim.log")
sim = pension.Sim(password=PASSWORD, log=simlog)
d = setup(sim, timeout="3s", auth_wait="1s", unavailable_wait="1s")
try:
    cases = [pension.case(i) for i in range(6)]
    ids = [run(d, f"ok-{i}", c) for i, c in enumerate(cases)]
    d.wait_for(settled(d, ids), 60, "happy cases")
    states = [item(d, i)["state"] for i in ids]
    t.eq(states, ["done"] * len(ids), "every valid case is done")
    outs = [item(d, i) for i in ids]
    db = d.db()
    rows = db.execute("SELECT step_id, output FROM steps WHERE item = ?", (ids[0],)).fetchall()
    db.close()
    out = {k: json.loads(v) for k, v in rows}
    t.check(out.get("register", {}).get("cert_no", "").startswith("JZ"),
            "the certificate number is taken from the transfer-out page", out.get("register"))
    t.eq(out.get("wait", {}).get("status"), "已接收", "the status was polled until 已接收")
    t.eq(out.get("confirm", {}).get("status"), "已接收", "the SOAP QueryCase answer was read by XPath")
    t.eq(out.get("register", {}).get("request_key"), f"clerk-{ids[0]}-register",
         "the submission carried the key item + step")
    ev = out.get("register", {}).get("evidence", [])
    t.check(any(e.get("method") == "POST" and e.get("status") == 200 for e in ev),
            "the register exchange is kept as evidence", ev[:2])
    t.check(all(cases[0]["id_no"] not in json.dumps(e, ensure_ascii=False) for e in ev),
            "the ID number is masked in the evidence")
    out_new, in_new = new_by_id(sim, "out"), new_by_id(sim, "in")
    t.check(all(out_new.get(c["id_no"]) == 1 and in_new.get(c["id_no"]) == 1 for c in cases),
            "each done case has exactly one new registration in each system", (out_new, in_new))

    # Business refusals: at registration (E2001) and at the end (已退回).
    c_ref, c_rej = pension.case(100), pension.case(101)
    sim.faults(refuse_ids={c_ref["id_no"]: "参保人存在欠费记录"},
               reject_ids={c_rej["id_no"]: "材料不全"})
    bad = dict(pension.case(102), id_no="110105196501010006")   # wrong check digit
    i_ref, i_rej, i_bad = run(d, "ref", c_ref), run(d, "rej", c_rej), run(d, "bad", bad)
    d.wait_for(settled(d, [i_ref, i_rej, i_bad]), 60, "refusals")
    r = escalation_of(d, i_ref)
    t.check(item(d, i_ref)["state"] == "escalated" and r and r[0] == "refused"
            and "E2001" in r[1] and "欠费" in r[1],
            "a business refusal escalates at once with the code and message", r)
    ctx = json.loads(r[2]) if r and r[2] else {}
    t.check(any("biz-error" in e.get("body", "") for e in ctx.get("evidence", [])),
            "the refusal's page is in the escalation's evidence", ctx)
    r = escalation_of(d, i_rej)
    t.check(item(d, i_rej)["state"] == "escalated" and r and "已退回" in r[1],
            "a case the transfer-in system sends back escalates", r)
    r = escalation_of(d, i_bad)
    t.check(item(d, i_bad)["state"] == "escalated" and r and r[0] == "invalid_field"
            and "id_no" in r[1], "an ID number with a wrong check character is refused", r)
    t.check(not any(s["id_no"] == bad["id_no"] for s in sim.submissions()),
            "an invalid case never reaches the legacy system")
    sim.faults(refuse_ids={}, reject_ids={})

    # Garbage where a result is expected, on a read: system error, then
    # escalated with the evidence, never done.
    kinds = ["truncated", "content_type", "login_page"]
    sim.faults(garbage_rate=1.0, garbage_kinds=kinds, fault_paths=["/in/transfer/status/"])
    gs = [run(d, f"garbage-{i}", pension.case(200 + i)) for i in range(4)]
    d.wait_for(settled(d, gs), 60, "garbage cases")
    for g in gs:
        r = escalation_of(d, g)
        ctx = json.loads(r[2]) if r and r[2] else {}
        t.check(item(d, g)["state"] == "escalated" and r[0] == "retries_exhausted"
                and ctx.get("outcome") == "system" and len(ctx.get("evidence", [])) > 0,
                "garbage on the status page: system error, escalated with evidence",
                (item(d, g)["state"], r))
    seen = {json.loads(line).get("fault") for line in open(simlog) if line.strip()}
    t.check({"garbage-" + k for k in kinds} <= seen,
            "truncated pages, wrong content types and login pages were all served", seen)
    # Garbage after a submission was processed: the lookup finds it, no
    # second registration.
    sim.faults(garbage_rate=1.0, garbage_kinds=["truncated", "content_type", "login_page"],
               fault_paths=["/out/transfer/register"])
    gs = [run(d, f"garbage-reg-{i}", pension.case(300 + i)) for i in range(3)]
    d.wait_for(settled(d, gs), 60, "garbage register cases")
    vias = []
    db = d.db()
    for g in gs:
        row = db.execute("SELECT output FROM steps WHERE item = ? AND step_id = 'register'",
                         (g,)).fetchone()
        vias.append(json.loads(row[0]).get("via") if row else None)
    db.close()
    t.eq(vias, ["lookup_after_unknown"] * 3,
         "a garbled answer to a processed registration is settled by the lookup")
    sim.faults(garbage_rate=0.0, fault_paths=[])
    st = sim.stats()
    t.eq(st["duplicates"], 0, "the simulator saw no duplicate registration")
    t.eq(st["kinds"]["duplicate"], 0, "no submission attempt with a second key")

    # Secrets: the password and every session id the simulator issued.
    d.stop()
    sessions = sim.get("/_sim/sessions")["issued"]
    blobs = {"log": open(d.log, "rb").read()}
    blobs.update(d.db_blobs())
    leaks = [(what, where) for what in [PASSWORD] + sessions
             for where, b in blobs.items() if what.encode() in b]
    t.check(len(sessions) > 0 and not leaks,
            "no password or session id in the log or the database", leaks[:5])
    # CSRF tokens reach the evidence inside pages and forms: all masked.
    import re
    db = d.db()
    text = "\n".join(r[0] for r in db.execute("SELECT output FROM steps")) + "\n".join(
        r[0] or "" for r in db.execute("SELECT context FROM escalations"))
    db.close()
    tokens = re.findall(r'name=\\"_csrf\\" value=\\"([^"\\]*)', text) + \
        re.findall(r'name=\\"csrf\\" content=\\"([^"\\]*)', text) + \
        re.findall(r'_csrf=([^&"\\]*)', text)
    t.check(len(tokens) > 0 and set(tokens) == {"***"},
            "every CSRF token in the evidence is masked", sorted(set(tokens))[:5])
finally:
    d.cleanup()
    sim.stop()

# ---- a wrong password: one failed login, one escalation ----
sim = pension.Sim(password=PASSWORD)
d = Daemon(workers=4)
try:
    d.write_playbook("pension-transfer.cfg",
                     pension.playbook_text(auth_wait="1s", timeout="3s"))
    os.makedirs(d.state, exist_ok=True)
    cred = os.path.join(d.state, "credentials.cfg")
    pension.write_credentials(cred, sim.url, password="wrong-password")
    d.start()
    ids = [run(d, f"auth-{i}", pension.case(400 + i)) for i in range(10)]

    def one_escalation():
        db = d.db()
        n = db.execute("SELECT count(*) FROM escalations").fetchone()[0]
        db.close()
        return n >= 1
    d.wait_for(one_escalation, 30, "the auth escalation")
    time.sleep(3)    # several auth_wait rounds for the other items
    st = sim.stats()
    t.check(st["systems"]["out"]["failed_logins"] == 1,
            "a wrong password is tried once, not hammered until lock-out",
            st["systems"]["out"])
    t.eq(st.get("locked_accounts"), [], "the account is not locked")
    db = d.db()
    escs = db.execute("SELECT item, reason, message FROM escalations").fetchall()
    db.close()
    t.check(len(escs) == 1 and escs[0][1] == "connector_auth_failed",
            "one escalation for the connector, not one per case", escs)
    waiting = [item(d, i)["state"] for i in ids if i != (escs[0][0] if escs else 0)]
    t.check(all(s in ("queued", "running") for s in waiting),
            "the other cases wait", waiting)
    # A person corrects the password and retries the escalated item.
    pension.write_credentials(cred, sim.url, password=PASSWORD)
    db = d.db()
    esc_id = db.execute("SELECT id FROM escalations").fetchone()[0]
    db.close()
    r = d.ctl("escalation", "decide", str(esc_id), "retry", "--by", "tester")
    t.check(r.returncode == 0, "the reviewer retries the escalated case", r.stderr)
    d.wait_for(settled(d, ids), 60, "cases after the fix")
    t.eq([item(d, i)["state"] for i in ids], ["done"] * len(ids),
         "with the corrected password every case goes through")
    t.eq(sim.stats()["systems"]["out"]["failed_logins"], 1, "still one failed login in all")
finally:
    d.cleanup()
    sim.stop()

# ---- circuit breaker and service hours ----
sim = pension.Sim(password=PASSWORD, faults={"error_rate": 1.0, "fault_paths": ["/out/"]})
d = Daemon(workers=4)
try:
    import datetime
    text = pension.playbook_text(timeout="3s")
    text = text.replace('breaker = { failures = 10; open = "3s"; };',
                        'breaker = { failures = 3; open = "4s"; };', 1)
    # The transfer-in system serves only on a weekday two days from now.
    day = (datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
           + datetime.timedelta(days=2)).strftime("%a").lower()
    d.write_calendar("in-hours.cfg", f'name = "in-hours";\nhours = {{ {day} = ["10:00-11:00"]; }};\n')
    text = text.replace('credentials = "pension-in";',
                        'credentials = "pension-in";\n    calendar_file = "calendars/in-hours.cfg";')
    d.write_playbook("pension-transfer.cfg", text)
    os.makedirs(d.state, exist_ok=True)
    pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url, password=PASSWORD)
    d.start()
    ids = [run(d, f"brk-{i}", pension.case(500 + i)) for i in range(6)]
    time.sleep(2)
    st = sim.stats()["systems"]["out"]
    states = [item(d, i)["state"] for i in ids]
    t.check(3 <= st["requests"] <= 3 + 4,
            "with every request failing, the breaker opens after 3 and stops the calls",
            st)
    t.check(all(s in ("queued", "running", "retry_wait") for s in states),
            "while the breaker is open the cases wait for their next attempt", states)
    # The transfer-out system recovers; the in system is outside its hours.
    sim.faults(error_rate=0.0, fault_paths=[])

    def registered():
        db = d.db()
        n = db.execute("SELECT count(*) FROM steps WHERE step_id = 'register'").fetchone()[0]
        db.close()
        return n == len(ids)
    try:
        d.wait_for(registered, 60, "registrations after the breaker")
        ok = True
    except TimeoutError:
        ok = False
    t.check(ok, "after the open period a probe succeeds and the cases go on")
    time.sleep(1)
    t.eq(sim.stats()["systems"]["in"]["requests"], 0,
         "no call to a system outside its service hours")
    t.check(all(item(d, i)["state"] == "queued" for i in ids),
            "the cases wait for the service hours", [item(d, i)["state"] for i in ids])
finally:
    d.cleanup()
    sim.stop()

# ---- concurrency and rate limits, seen from the simulator's log ----
logf = os.path.join(tempfile.mkdtemp(prefix="clerk-sim-"), "sim.log")
sim = pension.Sim(password=PASSWORD, faults={"latency_ms": 400}, log=logf)
d = Daemon(workers=8)
try:
    text = pension.playbook_text(timeout="5s", poll="100ms")
    text = text.replace("max_concurrent = 4;", "max_concurrent = 2;")
    text = text.replace("rate = 200;", "rate = 8;")
    d.write_playbook("pension-transfer.cfg", text)
    os.makedirs(d.state, exist_ok=True)
    pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url, password=PASSWORD)
    d.start()
    ids = [run(d, f"lim-{i}", pension.case(600 + i)) for i in range(3)]
    d.wait_for(settled(d, ids), 90, "limited cases")
    t.eq([item(d, i)["state"] for i in ids], ["done"] * 3, "the limited cases are done")
    recs = [json.loads(line) for line in open(logf) if line.strip()]
    for system in ("out", "in"):
        # The log's end times are rounded to the millisecond and its
        # durations to 0.1 ms, so a request that began right after another
        # ended can seem to overlap it by up to ~1 ms: only overlaps of
        # more than 2 ms count.
        iv = [(r["t"] - r["ms"] / 1000.0 + 0.002, r["t"]) for r in recs
              if r.get("system") == system]
        # Requests that were in the simulator at the same time.
        ev = sorted([(a, 1) for a, _ in iv] + [(b, -1) for _, b in iv], key=lambda x: (x[0], x[1]))
        cur = peak = 0
        for _, k in ev:
            cur += k
            peak = max(peak, cur)
        starts = sorted(a for a, _ in iv)
        per_s = max(sum(1 for x in starts if s0 <= x < s0 + 1.0) for s0 in starts)
        t.check(peak == 2, f"{system}: at most 2 requests at once (max_concurrent), and 2 were",
                peak)
        t.check(per_s <= 9, f"{system}: at most 8 requests in any second (rate), +1 at the edge",
                per_s)
finally:
    d.cleanup()
    sim.stop()
    import shutil
    shutil.rmtree(os.path.dirname(simlog), ignore_errors=True)
    shutil.rmtree(os.path.dirname(logf), ignore_errors=True)
t.done()
