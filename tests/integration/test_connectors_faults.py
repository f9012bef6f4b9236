#!/usr/bin/env python3
"""The fault mix of issue 5: N transfer cases (CLERK_TRANSFER_CASES, 80 by
default so CI stays fast; the benchmark runs 1,000) against a simulator
answering 20% of requests with 5xx pages (a quarter of them after
processing the request), hanging 10% past the connector's
timeout, expiring sessions every 50 requests and going into maintenance in
the middle. Every case must end done or escalated, and no case may be
registered twice in either system."""
import collections
import os
import time

from harness import Daemon, Tap
import pension

N = int(os.environ.get("CLERK_TRANSFER_CASES", "80"))
t = Tap()
sim = pension.Sim(faults={
    "error_rate": 0.15, "error_after_rate": 0.05, "timeout_rate": 0.1, "hang_s": 0.8,
    "session_expire_every": 50, "maintenance": [3, 5],
}, seed=int(os.environ.get("CLERK_SEED", "5")))
d = Daemon(workers=24)
try:
    text = pension.playbook_text(timeout="600ms", connect_timeout="1s",
                                 unavailable_wait="1s", poll="300ms")
    text = text.replace('retry = { attempts = 8; initial = "500ms"; max = "20s"; };',
                        'retry = { attempts = 10; initial = "200ms"; max = "2s"; };')
    text = text.replace("concurrency = 8;", "concurrency = 24;")
    text = text.replace('open = "3s";', 'open = "500ms";')
    text = text.replace("max_concurrent = 4;", "max_concurrent = 12;")
    d.write_playbook("pension-transfer.cfg", text)
    os.makedirs(d.state, exist_ok=True)
    pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url)
    d.start()
    cases = [pension.case(i) for i in range(N)]
    t0 = time.time()
    for i, c in enumerate(cases):
        st, body = d.api("POST", "/api/v1/playbooks/pension-transfer/run",
                         {"key": f"case-{i}", "payload": c})
        assert st in (200, 201), body

    def settled():
        c = d.counts().get("pension-transfer", {})
        return c.get("done", 0) + c.get("escalated", 0) == N
    try:
        d.wait_for(settled, 240, "every case settled")
        ok = True
    except TimeoutError:
        ok = False
    elapsed = time.time() - t0
    counts = d.counts().get("pension-transfer", {})
    t.check(ok, f"all {N} cases ended done or escalated", counts)
    print(f"# {N} cases in {elapsed:.1f} s: {counts.get('done', 0)} done,"
          f" {counts.get('escalated', 0)} escalated", flush=True)
    st = sim.stats()
    inj = st["faults_injected"]
    print(f"# faults injected: {inj}; sessions expired: {st['sessions_expired']}", flush=True)
    t.check(inj["error"] > 0 and inj["timeout"] > 0 and inj["maintenance"] > 0
            and st["sessions_expired"] > 0,
            "the simulator did inject 5xx, hangs, maintenance and session expiry", inj)
    t.eq(st["duplicates"], 0, "zero duplicate registrations (simulator)")
    t.eq(st["kinds"]["duplicate"], 0, "zero submission attempts under a second key")
    new = collections.Counter((s["system"], s["id_no"]) for s in sim.submissions()
                              if s["kind"] == "new")
    db = d.db()
    rows = db.execute("SELECT key, state FROM items").fetchall()
    reasons = collections.Counter(r[0] for r in db.execute(
        "SELECT reason FROM escalations"))
    db.close()
    print(f"# escalation reasons: {dict(reasons)}", flush=True)
    done = [cases[int(k.split("-")[1])]["id_no"] for k, s in rows if s == 4]
    t.check(all(new[("out", i)] == 1 and new[("in", i)] == 1 for i in done),
            "every done case has exactly one new registration in each system",
            [i for i in done if new[("out", i)] != 1 or new[("in", i)] != 1][:5])
    t.check(all(v == 1 for v in new.values()), "no id_no registered twice anywhere")
    t.eq(len(rows), N, "no case lost")
finally:
    d.cleanup()
    sim.stop()
t.done()
