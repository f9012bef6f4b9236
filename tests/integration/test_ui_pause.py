#!/usr/bin/env python3
"""Pausing and resuming a playbook from the web UI, in a real browser:
starts clerkd with a supervisor and a reviewer (password sign-in) and two
playbooks, then runs tests/browser/pause.test.mjs (node --test,
playwright-core driving /usr/bin/chromium headless): the supervisor pauses
a playbook after confirming, with a reason, and sees it paused; its new
item waits while the other playbook runs; the reviewer sees it paused and
no button; the supervisor resumes it and the item finishes.

Skips (1..0 # SKIP) only when chromium or node is missing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BROWSER_DIR, CHROMIUM, SRCDIR, Daemon, browser_tap, run_node_tests, write_users  # noqa: E402


t = browser_tap()

PASSWORDS = {"sam": "sam-super-pw-7", "rita": "rita-review-pw-7"}

d = Daemon(extra_conf='users_file = "users.cfg";')
try:
    write_users(t, d, {"sam": ("supervisor", PASSWORDS["sam"]), "rita": ("reviewer", PASSWORDS["rita"])})
    d.write_playbook("slow.cfg", '''name = "slow";
trigger = { manual = true; };
steps = ( { id = "a"; use = "noop"; } );
''')
    d.write_playbook("other.cfg", '''name = "other";
trigger = { manual = true; };
steps = ( { id = "x"; use = "noop"; } );
''')
    d.start()
    env = dict(os.environ,
               CLERK_URL=f"http://127.0.0.1:{d.port}",
               CLERK_TOKEN=d.token(),
               CLERK_SUPERVISOR="sam", CLERK_SUPERVISOR_PASSWORD=PASSWORDS["sam"],
               CLERK_REVIEWER="rita", CLERK_REVIEWER_PASSWORD=PASSWORDS["rita"],
               CHROMIUM=CHROMIUM,
               CLERK_SHOTS=os.environ.get("CLERK_SHOTS", "/tmp"))
    run_node_tests(t, os.path.join(BROWSER_DIR, "pause.test.mjs"), BROWSER_DIR, env, 300)
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "intact" in r.stdout, "the audit trail verifies", r.stdout + r.stderr)
    t.eq(d.stop(), 0, "clean stop")
    if t.failed:
        for line in d.log_text().splitlines()[-40:]:
            print("# clerkd: " + line)
finally:
    d.cleanup()
t.done()
