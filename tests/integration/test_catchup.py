#!/usr/bin/env python3
"""Catch-up after downtime: cron and interval playbooks fire at the top of
an hour, clerkd stops, and starts again "five hours later" (the test clock
hook CLERK_TEST_CLOCK_OFFSET moves clerkd's clock). Per catch_up each
playbook then has none, the latest, or the latest catch_up_max of the
missed slots (catch_up_within narrowing them), each keyed by its own slot
time, with "catch_up": true in its payload; a second start adds nothing; a
playbook that never fired does not catch up on history; a reload does not
catch up a playbook that kept running; playbook check refuses bad values
with file:line; a per-second cron down for days runs exactly its latest
catch_up_max seconds."""
import datetime
import json
import os
import shutil
import signal
import sqlite3
import tempfile
import time
import zoneinfo

from harness import Daemon, Tap

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")   # the harness's clerkd.conf
HOUR = 3600


def pb(name, trigger, extra=""):
    return f'''name = "{name}";
trigger = {{ {trigger} {extra} }};
steps = ( {{ id = "one"; use = "noop"; }} );
'''


PLAYBOOKS = {
    # name: (trigger, catch-up settings)
    "p-none": ('cron = "0 * * * *";', ""),
    "p-once": ('interval = "1h";', 'catch_up = "once";'),
    "p-all3": ('cron = "0 * * * *";', 'catch_up = "all"; catch_up_max = 3;'),
    "p-all": ('interval = "1h";', 'catch_up = "all";'),
    "p-within": ('cron = "0 * * * *";',
                 'catch_up = "all"; catch_up_within = "100m";'),
}


def key(kind, t):
    ts = datetime.datetime.fromtimestamp(t, TZ).strftime("%Y-%m-%dT%H:%M:%S.000%z")
    return f"{kind}:{ts[:-2]}:{ts[-2:]}"


def kind(name):
    return "cron" if PLAYBOOKS[name][0].startswith("cron") else "interval"


def items(d, name):
    for attempt in range(50):
        try:
            db = d.db()
            try:
                return db.execute("SELECT key, payload FROM items WHERE playbook = ?"
                                  " ORDER BY id", (name,)).fetchall()
            finally:
                db.close()
        except sqlite3.OperationalError:
            # A read-only open can lose a race with clerkd creating the
            # WAL's shared-memory file at start.
            if attempt == 49:
                raise
            time.sleep(0.05)


def catchup_lines(d, name):
    return [r["msg"] for r in d.log_records()
            if r.get("playbook") == name and r.get("msg", "").startswith("catch-up:")]


t = Tap()
d = Daemon()
try:
    for name, (trig, extra) in PLAYBOOKS.items():
        d.write_playbook(name + ".cfg", pb(name, trig, extra))

    # First run: clerkd's clock 3 s before the top of an hour H.
    real = time.time()
    H = (int(real) // HOUR + 2) * HOUR
    off = int((H - 3 - real) * 1000)
    d.start(env={"CLERK_TEST_CLOCK_OFFSET": f"{off}ms"})
    t.check(any("CLERK_TEST_CLOCK_OFFSET is set" in r.get("msg", "") and
                r.get("level") == "warn" for r in d.log_records()),
            "the test clock hook is announced with a warning")
    try:
        d.wait_for(lambda: all(len(items(d, n)) == 1 for n in PLAYBOOKS), 15,
                   "every playbook to fire at H")
    except TimeoutError:
        pass
    for n in PLAYBOOKS:
        t.eq([k for k, _ in items(d, n)], [key(kind(n), H)], f"{n} fired once, at H")
    t.eq(json.loads(items(d, "p-none")[0][1]),
         {"trigger": "cron", "scheduled": key("cron", H)[5:], "catch_up": False},
         "an on-time firing's payload says catch_up false")
    t.check(not any(catchup_lines(d, n) for n in PLAYBOOKS),
            "nothing to catch up on the first start (no playbook had fired)")
    d.stop()

    # Down for five and a half hours: H+1h .. H+5h were missed.
    d.write_playbook("fresh.cfg", pb("fresh", 'interval = "1h";', 'catch_up = "all";'))
    off2 = off + 11 * HOUR * 1000 // 2
    logpos = len(d.log_records())
    d.start(env={"CLERK_TEST_CLOCK_OFFSET": f"{off2}ms"})
    want = {
        "p-none": [H],
        "p-once": [H, H + 5 * HOUR],
        "p-all3": [H, H + 3 * HOUR, H + 4 * HOUR, H + 5 * HOUR],
        "p-all": [H] + [H + i * HOUR for i in range(1, 6)],
        "p-within": [H, H + 4 * HOUR, H + 5 * HOUR],
    }
    try:
        d.wait_for(lambda: all(len(items(d, n)) == len(w) for n, w in want.items()),
                   15, "the catch-up items")
    except TimeoutError:
        pass
    time.sleep(0.5)   # anything more would be committed by now
    for n, w in want.items():
        t.eq([k for k, _ in items(d, n)], [key(kind(n), x) for x in w],
             f"{n}: {PLAYBOOKS[n][1] or 'default'} -> exactly the expected slots, oldest first")
    it = items(d, "p-once")[-1]
    t.eq(json.loads(it[1]), {"trigger": "interval", "scheduled": key("interval", H + 5 * HOUR)[9:],
                             "catch_up": True},
         "a catch-up item's payload says catch_up true and its scheduled slot")
    t.eq(items(d, "fresh"), [], "a playbook that never fired does not catch up on history")
    recs = d.log_records()[logpos:]

    def line(n):
        return [r["msg"] for r in recs if r.get("playbook") == n
                and r.get("msg", "").startswith("catch-up:")]

    t.check(len(line("p-none")) == 1 and "5 firing(s) missed" in line("p-none")[0] and
            "catch_up = \"none\": 0 to run, 5 skipped" in line("p-none")[0],
            "p-none logs how many were missed and that none runs", line("p-none"))
    t.check(len(line("p-all3")) == 1 and "3 to run, 2 skipped" in line("p-all3")[0] and
            "only the latest catch_up_max = 3 run" in line("p-all3")[0],
            "p-all3 logs the runs and the ones over catch_up_max", line("p-all3"))
    t.check(len(line("p-within")) == 1 and "2 to run, 3 skipped" in line("p-within")[0] and
            "2 of them within catch_up_within = 1h40m" in line("p-within")[0],
            "p-within logs the ones older than catch_up_within", line("p-within"))
    t.check(len(line("p-once")) == 1 and "1 to run, 4 skipped" in line("p-once")[0],
            "p-once logs one run", line("p-once"))
    t.eq(line("fresh"), [], "and the new playbook logs no catch-up")
    st, body = d.api("GET", "/api/v1/playbooks")
    trig = {p["name"]: p["trigger"] for p in body["playbooks"]}
    t.eq((trig["p-all3"].get("catch_up"), trig["p-all3"].get("catch_up_max")), ("all", 3),
         "GET /api/v1/playbooks shows the catch-up policy")

    # A reload does not catch up a playbook that kept running: p-none
    # (last fired at H) becomes catch_up = "all" and is reloaded.
    d.write_playbook("p-none.cfg", pb("p-none", PLAYBOOKS["p-none"][0], 'catch_up = "all";'))
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: d.api("GET", "/api/v1/playbooks")[1]["playbooks"] and
               any(p["name"] == "p-none" and p["trigger"].get("catch_up") == "all"
                   for p in d.api("GET", "/api/v1/playbooks")[1]["playbooks"]), 10,
               "the reload")
    time.sleep(0.5)
    t.eq([k for k, _ in items(d, "p-none")], [key("cron", H)],
         "a reload of a running playbook catches nothing up")
    d.stop()

    # Restart in the same hour: every missed slot already has its item.
    before = {n: items(d, n) for n in list(want) + ["fresh"]}
    d.start(env={"CLERK_TEST_CLOCK_OFFSET": f"{off2 + 10000}ms"})
    time.sleep(1.0)
    after = {n: items(d, n) for n in before}
    for n in want:
        if n != "p-none":
            t.eq(after[n], before[n], f"{n}: a second start adds nothing")
    # p-none is catch_up = "all" now, with H+1h..H+5h missed: restarted,
    # it runs them (the latest 10 at most).
    try:
        d.wait_for(lambda: len(items(d, "p-none")) == 6, 10, "p-none's catch-up")
    except TimeoutError:
        pass
    t.eq([k for k, _ in items(d, "p-none")], [key("cron", H + i * HOUR) for i in range(6)],
         "a restart after switching to catch_up = \"all\" runs each missed slot")
    t.eq(after["fresh"], [], "the new playbook still has no item")
    d.stop()
    d.start(env={"CLERK_TEST_CLOCK_OFFSET": f"{off2 + 20000}ms"})
    time.sleep(1.0)
    t.eq(len(items(d, "p-none")), 6, "and a third start adds nothing")
    d.stop()

    # A bad test clock is refused at start, not silently ignored.
    p = d.start(wait=False, env={"CLERK_TEST_CLOCK_OFFSET": "soon"})
    rc = p.wait(15)
    t.check(rc != 0 and any('CLERK_TEST_CLOCK_OFFSET="soon"' in r.get("msg", "")
                            for r in d.log_records()),
            "a CLERK_TEST_CLOCK_OFFSET that is not a duration stops clerkd with a message",
            d.log_text()[-500:])

    # playbook check: bad values, each as file:line.
    bad = {
        'catch_up = "twice";': (3, 'must be "none"'),
        'catch_up = "all"; catch_up_max = 0;': (4, "between 1 and 1000"),
        'catch_up = "once"; catch_up_max = 5;': (4, "applies to catch_up = \"all\" only"),
        'catch_up = "all"; catch_up_within = "soon";': (4, "catch_up_within"),
        'catch_up_within = "1d";': (3, "no effect with catch_up = \"none\""),
        'catch_up = true;': (3, 'must be "none"'),
    }
    tmp = tempfile.mkdtemp(prefix="clerk-catchup-")
    for i, (extra, (ln, msg)) in enumerate(bad.items()):
        # One setting per line, so the line number says which one.
        text = f'name = "b{i}";\ntrigger = {{ interval = "1h";\n' + \
            "\n".join(s.strip() + ";" for s in extra.split(";") if s.strip()) + \
            '\n};\nsteps = ( { id = "one"; use = "noop"; } );\n'
        f = os.path.join(tmp, f"b{i}.cfg")
        with open(f, "w") as fh:
            fh.write(text)
        r = d.ctl("playbook", "check", f)
        t.check(r.returncode != 0 and f"{f}:{ln}:" in r.stdout + r.stderr and
                msg in r.stdout + r.stderr,
                f"playbook check refuses {extra!r} at line {ln}", r.stdout + r.stderr)
    f = os.path.join(tmp, "manual.cfg")
    with open(f, "w") as fh:
        fh.write('name = "m";\ntrigger = { manual = true;\ncatch_up = "once"; };\n'
                 'steps = ( { id = "one"; use = "noop"; } );\n')
    r = d.ctl("playbook", "check", f)
    t.check(r.returncode != 0 and f"{f}:3:" in r.stdout + r.stderr and
            "cron and interval triggers only" in r.stdout + r.stderr,
            "catch_up on a manual trigger is refused", r.stdout + r.stderr)
    f = os.path.join(tmp, "good.cfg")
    with open(f, "w") as fh:
        fh.write(pb("g", 'cron = "0 8 * * *";',
                    'catch_up = "all"; catch_up_max = 5; catch_up_within = "3d";'))
    r = d.ctl("playbook", "check", f)
    t.check(r.returncode == 0, "a good catch-up setting passes playbook check",
            r.stdout + r.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
finally:
    d.cleanup()

# A cron firing every second, down for three days: more slots than
# clerkd steps through; it still runs exactly the latest catch_up_max.
d = Daemon()
try:
    d.write_playbook("sec.cfg", pb("sec", 'cron = "* * * * * *";',
                                   'catch_up = "all"; catch_up_max = 3;'))
    d.start()
    d.wait_for(lambda: len(items(d, "sec")) >= 1, 10, "a first firing")
    d.stop()
    had = len(items(d, "sec"))
    off = 3 * 86400
    lo = int(time.time()) + off
    d.start(env={"CLERK_TEST_CLOCK_OFFSET": f"{off}s"})
    hi = time.time() + off
    try:
        d.wait_for(lambda: len(items(d, "sec")) >= had + 3, 10, "the catch-up items")
    except TimeoutError:
        pass
    d.stop()
    new = [json.loads(pl) for _, pl in items(d, "sec")[had:] if json.loads(pl)["catch_up"]]
    when = [datetime.datetime.fromisoformat(x["scheduled"]).timestamp() for x in new]
    t.check(len(new) == 3 and when == [when[0], when[0] + 1, when[0] + 2] and
            lo - 1 <= when[2] <= hi,
            "three days of a per-second cron: the latest 3 seconds before the start run",
            f"{[x['scheduled'] for x in new]} want the last in [{lo - 1}, {hi}]")
    t.check(any("more than 200000 firing(s) missed" in m for m in catchup_lines(d, "sec")),
            "and the log says more than 200000 were missed", catchup_lines(d, "sec"))
finally:
    d.cleanup()
t.done()
