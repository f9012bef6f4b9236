#!/usr/bin/env python3
"""systemd integration: with NOTIFY_SOCKET set, clerkd sends READY=1 once
it serves, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then READY=1 on
SIGHUP, and STOPPING=1 on SIGTERM. Checked with a datagram socket standing
in for systemd."""
import os
import signal
import socket
import time

from harness import Daemon, Tap

t = Tap()
d = Daemon()
sock_path = os.path.join(d.dir, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
s.settimeout(0.2)
msgs = []


def drain(seconds):
    end = time.time() + seconds
    while time.time() < end:
        try:
            msgs.append(s.recv(4096).decode())
        except socket.timeout:
            pass


try:
    d.write_playbook("p.cfg", 'name = "p"; trigger = { manual = true; };'
                     ' steps = ( { id = "a"; use = "noop"; } );')
    # WATCHDOG_PID must match clerkd's pid or be absent; absent here.
    d.start(env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
    drain(1.0)
    t.check(any(m.startswith("READY=1") for m in msgs), "READY=1 after start", msgs)
    t.check(sum(m == "WATCHDOG=1" for m in msgs) >= 3,
            "WATCHDOG=1 every 200 ms when WATCHDOG_USEC=400000", msgs)
    msgs.clear()
    d.signal(signal.SIGHUP)
    drain(0.5)
    t.check("RELOADING=1" in msgs and any(m.startswith("READY=1") for m in msgs),
            "SIGHUP sends RELOADING=1 then READY=1", msgs)
    msgs.clear()
    rc = d.stop(signal.SIGTERM)
    drain(0.3)
    t.check("STOPPING=1" in msgs, "SIGTERM sends STOPPING=1", msgs)
    t.eq(rc, 0, "and exits 0")
    with open(os.path.join(os.environ.get("SRCDIR", "."), "dist", "clerkd.service")) as f:
        unit = f.read()
    t.check("Type=notify" in unit and "WatchdogSec=" in unit and "RestartPreventExitStatus=78" in unit,
            "the shipped unit uses Type=notify, a watchdog and no restart on exit 78")
finally:
    s.close()
    d.cleanup()
t.done()
