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
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, Daemon, Tap, run_node_tests  # noqa: E402

BROWSER_DIR = os.path.join(SRCDIR, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

if not shutil.which("node"):
    print("1..0 # SKIP node is not installed", flush=True)
    sys.exit(0)
if not os.access(CHROMIUM, os.X_OK):
    print(f"1..0 # SKIP {CHROMIUM} is not installed", flush=True)
    sys.exit(0)

t = Tap()
if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
    npm = shutil.which("npm")
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"] if npm else ["false"],
                       cwd=BROWSER_DIR, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
    if not t.check(r.returncode == 0, "npm ci installs playwright-core in tests/browser",
                   (r.stdout + r.stderr)[-2000:]):
        t.done()

PASSWORDS = {"sam": "sam-super-pw-7", "rita": "rita-review-pw-7"}

d = Daemon(extra_conf='users_file = "users.cfg";')
try:
    hashes = {}
    for user, pw in PASSWORDS.items():
        r = d.ctl("user", "hash", input=pw + "\n")
        t.check(r.returncode == 0, f"clerkctl user hash for {user}", r.stderr)
        hashes[user] = r.stdout.strip().splitlines()[-1]
    users = os.path.join(d.dir, "users.cfg")
    with open(users, "w") as f:
        f.write(f'''users = (
  {{ name = "sam"; role = "supervisor"; password = "{hashes['sam']}"; }},
  {{ name = "rita"; role = "reviewer"; password = "{hashes['rita']}"; }}
);
''')
    os.chmod(users, 0o600)
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
