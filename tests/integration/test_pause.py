#!/usr/bin/env python3
"""Pausing a playbook: with items queued and one in a slow step, a pause
lets that step finish and commit, then nothing more of the playbook is
claimed while the other playbooks keep running; its triggers (interval,
the API) still queue items; the pause shows in the API, /metrics,
clerkctl playbook list and status; it outlasts SIGHUP and a restart; a
resume runs every item to the end with each step run exactly once. The
pause and the resume are audit rows with the person, the trail verifies;
a reviewer and an auditor get 403, a second pause 409, an unknown
playbook 404."""
import os
import re
import signal
import subprocess
import time

from harness import CLERKCTL, Daemon, Tap

SLOW = '''name = "slow";
trigger = { manual = true; };
concurrency = 1;
steps = (
  { id = "a"; use = "sleep"; duration = "2s"; },
  { id = "b"; use = "noop"; }
);
'''
OTHER = '''name = "other";
trigger = { manual = true; };
steps = ( { id = "x"; use = "noop"; } );
'''
TICK = '''name = "tick";
trigger = { interval = "1s"; };
steps = ( { id = "t"; use = "noop"; } );
'''


def new_token():
    r = subprocess.run([CLERKCTL, "user", "token"], capture_output=True, text=True, timeout=30)
    lines = dict(line.split(None, 1) for line in r.stdout.splitlines())
    return lines["token:"].strip(), lines["stored:"].strip()


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


SAM, SAM_STORED = new_token()       # supervisor
RITA, RITA_STORED = new_token()     # reviewer
OTTO, OTTO_STORED = new_token()     # auditor

t = Tap()
d = Daemon(workers=2, extra_conf='users_file = "users.cfg";')
try:
    users = os.path.join(d.dir, "users.cfg")
    with open(users, "w") as f:
        f.write(f'''users = (
  {{ name = "sam"; role = "supervisor"; tokens = ["{SAM_STORED}"]; }},
  {{ name = "rita"; role = "reviewer"; tokens = ["{RITA_STORED}"]; }},
  {{ name = "otto"; role = "auditor"; tokens = ["{OTTO_STORED}"]; }}
);
''')
    os.chmod(users, 0o600)
    d.write_playbook("slow.cfg", SLOW)
    d.write_playbook("other.cfg", OTHER)
    d.write_playbook("tick.cfg", TICK)
    d.start()

    def as_(token, method, path, body=None):
        tok = d.token
        d.token = lambda: token
        try:
            return d.api(method, path, body)
        finally:
            d.token = tok

    def item(i):
        return d.api("GET", f"/api/v1/items/{i}")[1]

    def steps_of(i):
        return [s["step"] for s in item(i).get("steps", [])]

    def pb(name):
        for p in d.api("GET", "/api/v1/playbooks")[1]["playbooks"]:
            if p["name"] == name:
                return p
        return None

    def enqueue(name, key):
        st, body = d.api("POST", f"/api/v1/playbooks/{name}/run", {"key": key})
        assert st == 201, (st, body)
        return body["item"]

    def count(name, state):
        return d.counts().get(name, {}).get(state, 0)

    slow = [enqueue("slow", f"s{i}") for i in range(4)]
    d.wait_for(lambda: item(slow[0])["state"] == "running", 10, "the first slow item runs")
    t.eq(pb("slow")["paused"], False, "GET /playbooks says a playbook is not paused")

    # ---- who may pause ----
    st, body = as_(RITA, "POST", "/api/v1/playbooks/slow/pause", {"reason": "x"})
    t.check(st == 403 and body["error"]["message"] == "role reviewer may not pause or resume playbooks",
            "a reviewer may not pause (403)", f"{st} {body}")
    st, body = as_(OTTO, "POST", "/api/v1/playbooks/slow/pause", {})
    t.eq(st, 403, "an auditor may not pause (403)")
    t.eq(pb("slow")["paused"], False, "the refused pauses changed nothing")
    st, body = as_(SAM, "POST", "/api/v1/playbooks/nosuch/pause", {})
    t.eq(st, 404, "pausing an unknown playbook is 404")
    st, body = as_(SAM, "POST", "/api/v1/playbooks/slow/pause", {"reason": 5})
    t.eq(st, 400, "a reason that is not a string is 400")

    # ---- the pause ----
    st, body = as_(SAM, "POST", "/api/v1/playbooks/slow/pause", {"reason": "ledger system upgrade"})
    t.check(st == 200 and body == {"playbook": "slow", "paused": True, "by": "sam"},
            "a supervisor pauses the playbook (200)", f"{st} {body}")
    paused_at = time.time()
    st, body = as_(SAM, "POST", "/api/v1/playbooks/slow/pause", {})
    t.check(st == 409 and "already paused (by sam" in body["error"]["message"],
            "pausing it again is 409 and says who paused it", f"{st} {body}")
    p = pb("slow")
    t.check(p["paused"] is True and p["paused_by"] == "sam" and p["pause_reason"] == "ledger system upgrade"
            and abs(p["paused_at"] / 1000 - paused_at) < 5,
            "GET /playbooks shows paused, paused_by, paused_at, pause_reason", p)

    # The running step finishes and lands; the item then waits.
    d.wait_for(lambda: steps_of(slow[0]) == ["a"] and item(slow[0])["state"] == "queued", 10,
               "the running step committed")
    t.check(True, "the running step finished and its commit landed; the item waits in the queue")
    others = [enqueue("other", f"o{i}") for i in range(3)]
    d.wait_for(lambda: all(item(i)["state"] == "done" for i in others), 10, "other done")
    t.check(True, "another playbook keeps running while this one is paused")
    st, body = d.api("POST", "/api/v1/playbooks/slow/run", {"key": "s-late"})
    t.eq(st, 201, "the API still queues an item of the paused playbook")
    slow.append(body["item"])
    time.sleep(2.5)
    t.eq([item(i)["state"] for i in slow], ["queued"] * 5, "nothing of the paused playbook is claimed")
    t.eq([steps_of(i) for i in slow[1:]], [[]] * 4, "no new step of it started")
    t.eq(pb("slow")["inflight"], 0, "nothing of it is in flight")
    # Claimed and given back over and over would be a spin: only the item
    # that was between its steps went back, once.
    waits = [x.get("item") for x in d.log_records() if x.get("playbook") == "slow"
             and x.get("msg", "").startswith("playbook paused; the item waits")]
    t.eq(waits, [slow[0]], "only the item between its steps went back to the queue, once (no claim spin)")

    # An interval trigger still enqueues while paused.
    r = d.ctl("playbook", "pause", "tick", "--reason", "quiet hour", "--by", "sam")
    t.check(r.returncode == 0 and "playbook tick paused" in r.stdout, "clerkctl playbook pause", out(r))
    done_tick = count("tick", "done")
    queued_tick = count("tick", "queued")
    d.wait_for(lambda: count("tick", "queued") >= queued_tick + 2, 10, "tick items queue up")
    t.eq(count("tick", "done"), done_tick, "its interval trigger still queues items, none runs")
    r = d.ctl("playbook", "pause", "tick")
    t.check(r.returncode == 1 and "already paused" in r.stderr, "clerkctl: pausing a paused one exits 1",
            out(r))

    r = d.ctl("playbook", "list")
    line = [x for x in r.stdout.splitlines() if x.startswith("slow ")]
    t.check(r.returncode == 0 and line and line[0].rstrip().endswith("PAUSED"),
            "clerkctl playbook list shows it PAUSED", out(r))
    t.check(re.search(r"^  slow by sam since \S+: ledger system upgrade$", r.stdout, re.M),
            "and who paused it, since when and why", out(r))
    line = [x for x in r.stdout.splitlines() if x.startswith("other ")]
    t.check(line and line[0].rstrip().endswith("running"), "and the others as running", out(r))
    r = d.ctl("status")
    t.check(r.returncode == 0 and re.search(r"^slow \(PAUSED\)", r.stdout, re.M)
            and re.search(r"^  tick by sam since \S+: quiet hour$", r.stdout, re.M),
            "clerkctl status marks the paused playbooks and says who paused them", out(r))
    st, metrics = d.api("GET", "/metrics")
    t.check('clerk_playbook_paused{playbook="slow"} 1' in metrics
            and 'clerk_playbook_paused{playbook="other"} 0' in metrics,
            "/metrics has clerk_playbook_paused", metrics[-2000:])

    # ---- SIGHUP and a restart keep it paused ----
    reloads = sum(1 for x in d.log_records() if x.get("msg", "").startswith("reloaded:"))
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: sum(1 for x in d.log_records() if x.get("msg", "").startswith("reloaded:")) > reloads,
               10, "the reload")
    time.sleep(1)
    t.check(pb("slow")["paused"] and pb("slow")["paused_by"] == "sam", "still paused after SIGHUP")
    t.eq([item(i)["state"] for i in slow], ["queued"] * 5, "and nothing claimed after SIGHUP")

    t.eq(d.stop(), 0, "clerkd stops")
    d.start()
    p = pb("slow")
    t.check(p["paused"] and p["paused_by"] == "sam" and p["pause_reason"] == "ledger system upgrade",
            "still paused after a restart, with who and why", p)
    time.sleep(2)
    t.eq([item(i)["state"] for i in slow], ["queued"] * 5, "and nothing claimed after the restart")
    t.eq(steps_of(slow[0]), ["a"], "the item paused between steps kept its committed step")

    # ---- resume ----
    st, body = as_(RITA, "POST", "/api/v1/playbooks/slow/resume")
    t.eq(st, 403, "a reviewer may not resume (403)")
    st, body = as_(SAM, "POST", "/api/v1/playbooks/slow/resume", {"reason": "x"})
    t.eq(st, 400, "a resume with a reason is 400")
    st, body = as_(SAM, "POST", "/api/v1/playbooks/slow/resume")
    t.check(st == 200 and body == {"playbook": "slow", "paused": False, "by": "sam"},
            "a supervisor resumes it (200)", f"{st} {body}")
    st, body = as_(SAM, "POST", "/api/v1/playbooks/slow/resume")
    t.check(st == 409 and "not paused" in body["error"]["message"], "resuming it again is 409",
            f"{st} {body}")
    t.eq(pb("slow")["paused"], False, "GET /playbooks says it runs again")
    r = d.ctl("playbook", "resume", "tick", "--by", "sam")
    t.check(r.returncode == 0 and "playbook tick resumed" in r.stdout, "clerkctl playbook resume", out(r))
    d.wait_for(lambda: all(item(i)["state"] == "done" for i in slow), 60, "slow items done")
    t.check(True, "after the resume every item of it finishes")
    t.eq([steps_of(i) for i in slow], [["a", "b"]] * 5, "each with its two steps journaled")
    # Every run of a step is logged as it starts (the log spans both runs of clerkd).
    runs = {}
    for x in d.log_records():
        if x.get("playbook") == "slow" and re.match(r"step \d of \d \(\w+\) starts", x.get("msg", "")):
            runs[(x["item"], x["step"])] = runs.get((x["item"], x["step"]), 0) + 1
    t.eq(runs, {(i, s): 1 for i in slow for s in ("a", "b")}, "each step ran exactly once")
    d.wait_for(lambda: count("tick", "queued") == 0 or count("tick", "done") > done_tick + 2, 20,
               "tick runs again")
    t.check(count("tick", "done") > done_tick, "the resumed interval playbook runs its queued items")
    st, metrics = d.api("GET", "/metrics")
    t.check('clerk_playbook_paused{playbook="slow"} 0' in metrics, "/metrics says 0 after the resume")

    # ---- the audit trail ----
    con = d.db()
    rows = con.execute("SELECT actor, action, target, details FROM audit"
                       " WHERE action IN ('pause', 'resume') ORDER BY id").fetchall()
    con.close()
    t.eq(rows, [("sam", "pause", "playbook:slow", '{"reason":"ledger system upgrade"}'),
                ("sam", "pause", "playbook:tick", '{"reason":"quiet hour"}'),
                ("sam", "resume", "playbook:slow", None),
                ("sam", "resume", "playbook:tick", None)],
         "pause and resume are audit rows with the person (refused ones are not)")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "intact" in r.stdout, "clerkctl audit verify: intact", out(r))
finally:
    d.cleanup()
t.done()
