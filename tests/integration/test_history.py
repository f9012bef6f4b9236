#!/usr/bin/env python3
"""A playbook's run history (GET /api/v1/playbooks/NAME/history and
clerkctl playbook history): items per bucket and state, the items that
failed at least once and the failed attempts, escalations by step and
reason, step times slowest first, the next firings of a cron trigger,
and the refusals of a bad window or an unknown playbook."""
import datetime

from harness import Daemon, Tap

t = Tap()
d = Daemon(workers=2)
try:
    d.write_playbook("hist.cfg", '''
name = "hist";
trigger = { manual = true; };
retry = { attempts = 3; initial = "100ms"; max = "200ms"; };
steps = (
  { id = "prep"; use = "noop"; fail_attempts = 1; },
  { id = "nap"; use = "sleep"; duration = "300ms"; },
  { id = "tail"; use = "noop"; }
);
''')
    d.write_playbook("gate.cfg", '''
name = "gate";
trigger = { manual = true; };
steps = ( { id = "review"; use = "escalate"; reason = "check"; } );
''')
    d.write_playbook("nightly.cfg", '''
name = "nightly";
trigger = { cron = "0 3 * * *"; };
steps = ( { id = "n"; use = "noop"; } );
''')
    d.start()
    for k in range(4):
        d.api("POST", "/api/v1/playbooks/hist/run", {"key": f"h{k}"})
    for k in range(2):
        d.api("POST", "/api/v1/playbooks/gate/run", {"key": f"g{k}"})
    d.wait_for(lambda: d.counts().get("hist", {}).get("done", 0) == 4 and
               d.counts().get("gate", {}).get("escalated", 0) == 2, 30, "items settle")

    st, body = d.api("GET", "/api/v1/playbooks/hist/history")
    t.eq(st, 200, "the history of a loaded playbook")
    h = body.get("history", {})
    t.eq(h.get("totals"), {"items": 4, "failed_items": 4, "failed_attempts": 4,
                           "escalated_items": 0},
         "totals: 4 items, each failed once (fail_attempts = 1), none escalated")
    t.eq(h.get("bucket_ms"), 3600000, "a day's window is in hours")
    t.eq(h.get("bucket_count"), 24, "24 buckets")
    b = h.get("buckets", [])
    t.check(len(b) == 1 and b[0]["bucket"] == 23 and b[0]["state"] == "done" and b[0]["n"] == 4,
            "the items are in the last bucket, done", b)
    steps = h.get("steps", [])
    t.eq([s["step"] for s in steps][:1], ["nap"], "the sleeping step is the slowest")
    t.check(all(s["runs"] == 4 for s in steps) and len(steps) == 3,
            "each step ran once per item (a failed attempt journals nothing)", steps)
    nap = steps[0] if steps else {}
    t.check(300 <= nap.get("median_ms", 0) <= nap.get("p95_ms", 0) <= nap.get("max_ms", 0) < 5000,
            "median <= p95 <= max, and at least the 300 ms slept", nap)
    t.eq([(f["step"], f["n"]) for f in h.get("failures", [])], [("prep", 4)],
         "the failed attempts by step")
    t.check(len(h.get("slowest", [])) == 10 and h["slowest"][0]["step"] == "nap",
            "the ten slowest step runs, the longest first", h.get("slowest"))

    st, body = d.api("GET", "/api/v1/playbooks/gate/history")
    g = body.get("history", {})
    t.eq(g.get("totals", {}).get("escalated_items"), 2, "escalated items are counted")
    t.eq([(e["step"], e["reason"], e["n"], e["open"]) for e in g.get("escalations", [])],
         [("review", "check", 2, 2)], "escalations by step and reason, with how many are open")

    st, body = d.api("GET", "/api/v1/playbooks/nightly/history")
    runs = body.get("next_runs", [])
    times = [datetime.datetime.fromisoformat(x) for x in runs]
    t.check(len(runs) == 10 and all(x.hour == 3 and x.minute == 0 for x in times) and
            all(b - a == datetime.timedelta(days=1) for a, b in zip(times, times[1:])),
            "a cron trigger's next ten firings", runs)
    st, body = d.api("GET", "/api/v1/playbooks")
    t.check(all("next_runs" in p for p in body["playbooks"]) and
            len(next(p for p in body["playbooks"] if p["name"] == "nightly")["next_runs"]) == 1,
            "the playbook list carries each one's next firing", body["playbooks"])

    st, body = d.api("GET", "/api/v1/playbooks/hist/history?hours=1&bucket=15m")
    t.check(st == 200 and body["history"]["bucket_count"] == 4 and body["history"]["buckets"][0]["bucket"] == 3,
            "a window of 1 h in 15 min buckets", body.get("history", {}).get("buckets"))
    st, body = d.api("GET", "/api/v1/playbooks/hist/history?hours=24&bucket=1m")
    t.check(st == 400 and "500" in body["error"]["message"], "more than 500 buckets is refused", body)
    st, body = d.api("GET", "/api/v1/playbooks/hist/history?bucket=soon")
    t.check(st == 400 and body["error"]["message"].startswith("bucket:"), "a bad bucket is refused", body)
    st, body = d.api("GET", "/api/v1/playbooks/nosuch/history")
    t.check(st == 404 and "nosuch" in body["error"]["message"], "an unknown playbook is 404", body)
    st, body = d.api("GET", "/api/v1/playbooks/hist/nonsense")
    t.eq(st, 404, "another playbook endpoint is 404")

    r = d.ctl("playbook", "history", "hist")
    out = r.stdout
    t.check(r.returncode == 0 and "4 item(s) queued; 4 (100.0%) failed at least once (4 failed attempt(s));"
            " 0 (0.0%) escalated" in out and "steps, slowest first:" in out and
            "failed attempts by step and reason:" in out,
            "clerkctl playbook history prints the totals and the tables", out + r.stderr)
    lines = out.splitlines()
    i = next((n for n, x in enumerate(lines) if x.startswith("steps, slowest first")), None)
    t.check(i is not None and lines[i + 2].split()[0] == "nap" and lines[i + 2].split()[1] == "4",
            "the step table has the slowest step first with its runs", out)
    row = next((x for x in lines if x.split()[:1] and x.split()[0][:4].isdigit()), "")
    t.eq(row.split()[1:], ["0", "0", "0", "0", "4", "0", "0"], "the bucket row: 4 done")
    r = d.ctl("playbook", "history", "nightly", "--hours", "48")
    t.check(r.returncode == 0 and "next runs:" in r.stdout and "0 item(s) queued" in r.stdout,
            "a playbook that has not run yet: its next runs, no items", r.stdout + r.stderr)
    r = d.ctl("playbook", "history", "nosuch")
    t.check(r.returncode == 1 and "nosuch" in r.stderr, "clerkctl: an unknown playbook fails", r.stderr)
finally:
    d.cleanup()
t.done()
