#!/usr/bin/env python3
"""Faults an operator meets at 3 a.m.: a broken config, a second daemon on
the same state dir, a taken port, a corrupt database, a database locked by
another process, a full disk. Each gives a clear error; none crashes or
loses items; startup failures exit 78 so systemd does not restart-loop."""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

from harness import CLERKD, Daemon, Tap

t = Tap()


def run_clerkd(conf, timeout=10):
    return subprocess.run([CLERKD, "--config", conf], capture_output=True,
                          text=True, timeout=timeout)


PB = '''
name = "job";
trigger = { manual = true; };
steps = ( { id = "a"; use = "noop"; } );
'''

# 1. broken config
d = Daemon()
try:
    with open(d.conf) as f:
        conf = f.read()
    with open(d.conf, "w") as f:
        f.write(conf.replace("workers = 2;", "workers = ;"))
    r = run_clerkd(d.conf)
    t.eq(r.returncode, 78, "syntax error in the config exits 78")
    t.check(f"{d.conf}:" in r.stderr and "syntax error" in r.stderr,
            "and names file:line", r.stderr)
    with open(d.conf, "w") as f:
        f.write(conf + 'worekrs = 3;\n')
    r = run_clerkd(d.conf)
    t.check(r.returncode == 78 and 'unknown setting "worekrs"' in r.stderr,
            "a misspelt setting is named", r.stderr)
finally:
    d.cleanup()

# 2. second daemon, taken port
d = Daemon()
try:
    d.write_playbook("job.cfg", PB)
    d.start()
    r = run_clerkd(d.conf)
    t.check(r.returncode == 78 and "another clerkd" in r.stderr,
            "a second clerkd on the same state dir refuses to start", r.stderr)
    d2 = Daemon(extra_conf="")
    with open(d2.conf) as f:
        c2 = f.read()
    import re
    c2 = re.sub(r'listen = "127.0.0.1:\d+"', f'listen = "127.0.0.1:{d.port}"', c2)
    with open(d2.conf, "w") as f:
        f.write(c2)
    r = run_clerkd(d2.conf)
    t.check(r.returncode == 78 and "cannot listen" in r.stderr,
            "a taken port is a clear startup error", r.stderr)
    d2.cleanup()

    # 3. database locked by another process: API says 503, then recovers
    st, body = d.api("POST", "/api/v1/playbooks/job/run", {"key": "before-lock"})
    before = body["item"]
    db = sqlite3.connect(os.path.join(d.state, "clerk.db"), timeout=1,
                         isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    t0 = time.time()
    st, body = d.api("POST", "/api/v1/playbooks/job/run", {"key": "during-lock"})
    t.check(st == 503 and "lock" in body["error"]["message"],
            "while another process holds the lock, enqueue answers 503 naming the lock", body)
    st, body = d.api("GET", "/healthz", token=False)
    t.eq(st, 503, "healthz reports degraded while writes fail")
    db.execute("COMMIT")
    db.close()
    st, body = d.api("POST", "/api/v1/playbooks/job/run", {"key": "during-lock"})
    t.eq(st, 201, "after the lock is gone the same request succeeds")
    d.wait_for(lambda: d.api("GET", "/healthz", token=False)[0] == 200, 10, "healthy again")
    t.check(True, "healthz recovers")
    t.eq(d.proc.poll(), None, "the daemon kept running")
    t.eq(d.stop(), 0, "clean stop")
finally:
    d.cleanup()

# 4. corrupt database
d = Daemon()
try:
    os.makedirs(d.state)
    with open(os.path.join(d.state, "clerk.db"), "wb") as f:
        f.write(b"this is not an SQLite database at all" * 200)
    t0 = time.time()
    r = run_clerkd(d.conf)
    t.eq(r.returncode, 78, "a corrupt database exits 78 (no restart loop)")
    t.check("not a database" in r.stderr and "backup" in r.stderr,
            "with a message that says what to do", r.stderr)
finally:
    d.cleanup()

# 5. disk full (a small tmpfs; needs root)
base = tempfile.mkdtemp(prefix="clerk-full-")
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", base],
                         capture_output=True).returncode == 0
if not mounted:
    print("ok # SKIP disk-full test needs root to mount a tmpfs", flush=True)
    t.n += 1
else:
    d = Daemon()
    try:
        with open(d.conf) as f:
            conf = f.read().replace('state_dir = "state";', f'state_dir = "{base}/state";')
        with open(d.conf, "w") as f:
            f.write(conf)
        d.state = os.path.join(base, "state")
        d.write_playbook("job.cfg", PB)
        d.start()
        ok_keys = []
        for i in range(20):
            st, body = d.api("POST", "/api/v1/playbooks/job/run",
                             {"key": f"k{i}", "payload": {"i": i}})
            if st == 201:
                ok_keys.append(f"k{i}")
        filler = os.path.join(base, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"],
                       capture_output=True)
        big = "x" * 200000
        codes = []
        for i in range(20, 60):
            st, body = d.api("POST", "/api/v1/playbooks/job/run",
                             {"key": f"k{i}", "payload": {"pad": big}})
            codes.append(st)
            if st == 201:
                ok_keys.append(f"k{i}")
            if st == 503:
                msg = body["error"]["message"]
                break
        t.check(503 in codes and "full" in msg, "a full disk answers 503 saying so",
                f"{codes} {body}")
        t.eq(d.api("GET", "/healthz", token=False)[0], 503, "healthz degraded on a full disk")
        t.eq(d.proc.poll(), None, "the daemon keeps running on a full disk")
        os.unlink(filler)
        st, body = d.api("POST", "/api/v1/playbooks/job/run", {"key": "after"})
        t.eq(st, 201, "after space is freed, work is accepted again")
        ok_keys.append("after")

        def all_done():
            c = d.counts().get("job", {})
            return c.get("done", 0) == len(ok_keys)
        try:
            d.wait_for(all_done, 20, "all accepted items done")
            ok = True
        except TimeoutError:
            ok = False
        t.check(ok, "every accepted item was kept and ran to done", d.counts())
        t.eq(d.stop(), 0, "clean stop")
    finally:
        d.cleanup()
        subprocess.run(["umount", base], capture_output=True)
shutil.rmtree(base, ignore_errors=True)
t.done()
