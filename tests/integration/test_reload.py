#!/usr/bin/env python3
"""Reload: SIGHUP (and POST /api/v1/reload) swap in changed playbooks; a
playbook that fails to load is reported as file:line and keeps its running
version; a broken playbook at start is skipped while the others run;
clerkd --check reports the same problems."""
import os
import signal
import subprocess
import time

from harness import CLERKD, Daemon, Tap

GOOD_V1 = '''
name = "alpha";
trigger = { manual = true; };
steps = ( { id = "one"; use = "noop"; } );
'''
GOOD_V2 = '''
name = "alpha";
trigger = { manual = true; };
steps = (
  { id = "one"; use = "noop"; },
  { id = "two"; use = "notify"; message = "v2"; }
);
'''
BROKEN = '''name = "alpha";
trigger = { manual = true; };
steps = (
  { id = "one"; use = "no.such.kind"; }
);
'''

t = Tap()
d = Daemon()
try:
    d.write_playbook("alpha.cfg", GOOD_V1)
    d.write_playbook("bad.cfg", '''name = "bad";
trigger = { cron = "0 25 * * *"; };
steps = ( { id = "x"; use = "noop"; } );
''')
    d.start()
    st, body = d.api("GET", "/api/v1/playbooks")
    t.eq([p["name"] for p in body["playbooks"]], ["alpha"], "broken playbook skipped at start, the other runs")
    errs = body["errors"]
    t.check(any(e.startswith(os.path.join(d.pbdir, "bad.cfg") + ":2:") for e in errs),
            "its problem is reported as file:line", errs)
    t.check(any("bad.cfg:2" in r.get("msg", "") for r in d.log_records()),
            "and logged")
    h1 = body["playbooks"][0]["hash"]

    def run(key):
        st, body = d.api("POST", "/api/v1/playbooks/alpha/run", {"key": key})
        item = body["item"]
        d.wait_for(lambda: d.api("GET", f"/api/v1/items/{item}")[1]["state"] == "done", 10)
        return d.api("GET", f"/api/v1/items/{item}")[1]

    it = run("k1")
    t.eq([s["step"] for s in it["steps"]], ["one"], "v1 runs one step")
    t.eq(it["pb_hash"], h1, "the item records the playbook hash that ran")

    d.write_playbook("alpha.cfg", GOOD_V2)
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: d.api("GET", "/api/v1/playbooks")[1]["playbooks"][0]["hash"] != h1, 5)
    st, body = d.api("GET", "/api/v1/playbooks")
    h2 = body["playbooks"][0]["hash"]
    t.check(h2 != h1, "SIGHUP swapped in v2 without a restart")
    it = run("k2")
    t.eq([s["step"] for s in it["steps"]], ["one", "two"], "v2 runs two steps")
    t.eq(it["steps"][1]["pb_hash"], h2, "each journaled step records the version that ran it")

    d.write_playbook("alpha.cfg", BROKEN)
    st, body = d.api("POST", "/api/v1/reload")
    t.eq(st, 200, "POST /api/v1/reload answers")
    want = os.path.join(d.pbdir, "alpha.cfg") + ":4: unknown step kind \"no.such.kind\""
    t.check(any(e.startswith(want) for e in body["errors"]), "reload reports file:line of the broken playbook", body)
    st, body = d.api("GET", "/api/v1/playbooks")
    t.eq(body["playbooks"][0]["hash"], h2, "the broken version did not replace the running one")
    it = run("k3")
    t.eq([s["step"] for s in it["steps"]], ["one", "two"], "items still run the last good version")

    # broken main config on reload: keep running with the old one
    with open(d.conf) as f:
        conf = f.read()
    with open(d.conf, "w") as f:
        f.write(conf + "\nworkers = ;\n")
    st, body = d.api("POST", "/api/v1/reload")
    t.check(any(d.conf in e for e in body["errors"]), "a broken config on reload is reported", body)
    t.eq(d.proc.poll(), None, "and the daemon keeps running")
    with open(d.conf, "w") as f:
        f.write(conf)

    # a new playbook appears, then disappears
    d.write_playbook("alpha.cfg", GOOD_V2)
    d.write_playbook("beta.cfg", GOOD_V1.replace("alpha", "beta"))
    st, body = d.api("POST", "/api/v1/reload")
    t.eq(sorted(body["loaded"]), ["alpha", "beta"], "a new playbook file is picked up")
    os.unlink(os.path.join(d.pbdir, "beta.cfg"))
    st, body = d.api("POST", "/api/v1/reload")
    st, body = d.api("GET", "/api/v1/playbooks")
    t.eq([p["name"] for p in body["playbooks"]], ["alpha"], "a removed playbook stops")
    st, body = d.api("POST", "/api/v1/playbooks/beta/run", {})
    t.eq(st, 404, "and takes no new work")

    # settings a reload cannot apply are named, not ignored in silence
    with open(d.conf) as f:
        conf = f.read()
    t.check("workers = 2;" in conf and 'poll = "100ms";' in conf, "the test's config", conf)
    with open(d.conf, "w") as f:
        f.write(conf.replace("workers = 2;", "workers = 3;").replace('poll = "100ms";', 'poll = "200ms";'))
    st, body = d.api("POST", "/api/v1/reload")
    t.eq((st, body.get("restart_needed")), (200, "workers, poll"),
         "a reload names the changed settings that wait for a restart")
    t.check(any("workers, poll changed; the running values stay until clerkd restarts" in r.get("msg", "")
                for r in d.log_records()), "and logs them as a warning")
    st, body = d.api("POST", "/api/v1/reload")
    t.eq(body.get("restart_needed"), "workers, poll", "until the restart, each reload says so again")
    with open(d.conf, "w") as f:
        f.write(conf)
    st, body = d.api("POST", "/api/v1/reload")
    t.check("restart_needed" not in body, "with the running values back, nothing is pending", body)

    t.eq(d.stop(), 0, "clean stop")

    # clerkd --check
    d.write_playbook("alpha.cfg", BROKEN)
    r = subprocess.run([CLERKD, "--config", d.conf, "--check"], capture_output=True, text=True)
    t.eq(r.returncode, 1, "clerkd --check exits 1 on a broken playbook")
    t.check(want in r.stdout and "bad.cfg:2:" in r.stdout, "and prints file:line for each", r.stdout)
    os.unlink(os.path.join(d.pbdir, "bad.cfg"))
    d.write_playbook("alpha.cfg", GOOD_V1)
    r = subprocess.run([CLERKD, "--config", d.conf, "--check"], capture_output=True, text=True)
    t.check(r.returncode == 0 and "ok: playbook alpha" in r.stdout, "and 0 when everything loads", r.stdout + r.stderr)
finally:
    d.cleanup()
t.done()
