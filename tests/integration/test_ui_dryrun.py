#!/usr/bin/env python3
"""The dry-run view of the web UI, in a real browser: starts clerkd with
the bundled unemployment-claim playbook, a supervisor and a reviewer
(password sign-in), renders claim forms (tests/ocr_gen.py), then runs
tests/browser/dryrun.test.mjs (node --test, playwright-core driving
/usr/bin/chromium headless): the supervisor opens Test from the
Playbooks view, uploads a sample and sees the step table (the check's
values, the submit stubbed with what it would send); a blurred form
escalates and, approved with corrections, goes on; bad JSON and a broken
playbook text are shown; a reviewer is not offered it. The queue gets no
item and the benefits simulator no request.

Skips (1..0 # SKIP) only when chromium or node is missing.
"""
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BROWSER_DIR, CHROMIUM, SRCDIR, Daemon, browser_tap, run_node_tests, write_users  # noqa: E402
import pension  # noqa: E402

sys.path.insert(0, os.path.join(SRCDIR, "tests"))
import ocr_gen  # noqa: E402


t = browser_tap()

PASSWORDS = {"sam": "sam-super-pw-8", "rita": "rita-review-pw-8"}
SIM_PW = "ui-dry-sim-pw"
work = tempfile.mkdtemp(prefix="clerk-uidry-")
rng = random.Random(31)
text, good, _ = ocr_gen.claim_form(rng)
ocr_gen.render(text, os.path.join(work, "claim-good.png"), tmp=work)
text, blurred, _ = ocr_gen.claim_form(rng)
# the reviewer types every field of the unreadable form, the employer too
blurred["employer"] = next(x.split(" ", 1)[1] for x in text.splitlines() if x.startswith("参保单位 "))
ocr_gen.render(text, os.path.join(work, "x.png"), tmp=work)
ocr_gen.convert(os.path.join(work, "x.png"), ocr_gen.BAD, os.path.join(work, "claim-blurred.png"))

sim_log = os.path.join(work, "sim.log")
sim = pension.Sim(password=SIM_PW, log=sim_log)
d = Daemon(extra_conf='users_file = "users.cfg";')
try:
    write_users(t, d, {"sam": ("supervisor", PASSWORDS["sam"]), "rita": ("reviewer", PASSWORDS["rita"])})
    d.write_playbook("unemployment-claim.cfg", open(os.path.join(
        SRCDIR, "playbooks", "unemployment-claim.cfg"), encoding="utf-8").read())
    os.makedirs(os.path.join(d.pbdir, "templates"))
    shutil.copy(os.path.join(SRCDIR, "playbooks", "templates", "unemployment-claim.cfg"),
                os.path.join(d.pbdir, "templates"))
    os.makedirs(d.state, exist_ok=True)
    fd = os.open(os.path.join(d.state, "credentials.cfg"), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'benefits = {{ username = "clerk"; password = "{SIM_PW}";'
                f' base_url = "{sim.url}/ben"; }};\n')
    d.start()
    env = dict(os.environ,
               CLERK_URL=f"http://127.0.0.1:{d.port}",
               CLERK_TOKEN=d.token(),
               CLERK_SUPERVISOR="sam", CLERK_SUPERVISOR_PASSWORD=PASSWORDS["sam"],
               CLERK_REVIEWER="rita", CLERK_REVIEWER_PASSWORD=PASSWORDS["rita"],
               CLERK_SAMPLE=os.path.join(work, "claim-good.png"), CLERK_SAMPLE_ID=good["id_no"],
               CLERK_BLURRED=os.path.join(work, "claim-blurred.png"),
               CLERK_BLURRED_FIELDS=json.dumps(blurred, ensure_ascii=False),
               CHROMIUM=CHROMIUM,
               CLERK_SHOTS=os.environ.get("CLERK_SHOTS", "/tmp"))
    run_node_tests(t, os.path.join(BROWSER_DIR, "dryrun.test.mjs"), BROWSER_DIR, env, 400)
    reqs = []
    if os.path.exists(sim_log):
        with open(sim_log) as f:
            reqs = [json.loads(x) for x in f if x.strip() and "/_sim" not in x]
    t.eq(reqs, [], "the benefits simulator got no request from the dry runs")
    t.eq(d.api("GET", "/api/v1/items")[1].get("items"), [], "the queue has no item")
    t.eq(d.stop(), 0, "clean stop")
    if t.failed:
        for line in d.log_text().splitlines()[-40:]:
            print("# clerkd: " + line)
finally:
    sim.stop()
    d.cleanup()
    shutil.rmtree(work, ignore_errors=True)
t.done()
