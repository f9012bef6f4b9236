#!/usr/bin/env python3
"""kill -9 of clerkd while transfer cases are in flight, several times:
after each restart the cases resume, a submission that may have left before
the crash is looked up before anything is sent again, and in the end no
case is lost and none is registered twice."""
import collections
import os
import random
import time

from harness import Daemon, Tap
import pension

N = int(os.environ.get("CLERK_KILL_CASES", "80"))
ROUNDS = int(os.environ.get("CLERK_KILL_ROUNDS", "4"))
seed = int(os.environ.get("CLERK_SEED", str(int(time.time()))))
rng = random.Random(seed)
print(f"# seed {seed} (set CLERK_SEED to repeat)", flush=True)

t = Tap()
# Latency keeps requests in flight when the kill comes; some 5xx after
# processing and hangs make outcomes unknown on top of the crashes.
sim = pension.Sim(faults={"latency_ms": 30, "error_after_rate": 0.05,
                          "timeout_rate": 0.05, "hang_s": 0.8}, seed=seed)
d = Daemon(workers=16)
try:
    text = pension.playbook_text(timeout="600ms", poll="200ms")
    text = text.replace('retry = { attempts = 8; initial = "500ms"; max = "20s"; };',
                        'retry = { attempts = 10; initial = "200ms"; max = "1s"; };')
    text = text.replace("concurrency = 8;", "concurrency = 16;")
    d.write_playbook("pension-transfer.cfg", text)
    os.makedirs(d.state, exist_ok=True)
    pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url)
    d.start()
    cases = [pension.case(i) for i in range(N)]
    for i, c in enumerate(cases):
        st, body = d.api("POST", "/api/v1/playbooks/pension-transfer/run",
                         {"key": f"case-{i}", "payload": c})
        assert st in (200, 201), body
    for r in range(ROUNDS):
        time.sleep(rng.uniform(0.5, 1.5))
        d.kill9()
        d.start()

    def settled():
        c = d.counts().get("pension-transfer", {})
        return c.get("done", 0) + c.get("escalated", 0) == N
    try:
        d.wait_for(settled, 120, "every case settled")
        ok = True
    except TimeoutError:
        ok = False
    counts = d.counts().get("pension-transfer", {})
    t.check(ok, f"after {ROUNDS} kill -9 rounds all {N} cases ended done or escalated", counts)
    d.stop()
    st = sim.stats()
    t.eq(st["duplicates"], 0, "zero duplicate registrations (simulator)")
    t.eq(st["kinds"]["duplicate"], 0, "zero submission attempts under a second key")
    new = collections.Counter((s["system"], s["id_no"]) for s in sim.submissions()
                              if s["kind"] == "new")
    t.check(all(v == 1 for v in new.values()), "no id_no registered twice anywhere")
    db = d.db()
    rows = db.execute("SELECT key, state FROM items").fetchall()
    vias = collections.Counter(r[0] for r in db.execute(
        "SELECT json_extract(output, '$.via') FROM steps WHERE step_id IN ('register', 'accept')"))
    db.close()
    t.eq(len(rows), N, "no case lost")
    done = [cases[int(k.split("-")[1])]["id_no"] for k, s in rows if s == 4]
    t.check(all(new[("out", i)] == 1 and new[("in", i)] == 1 for i in done),
            "every done case has exactly one new registration in each system")
    print(f"# submissions settled by: {dict(vias)}; done {len(done)} of {N}", flush=True)
finally:
    d.cleanup()
    sim.stop()
t.done()
