#!/usr/bin/env python3
"""The reviewer UI on real escalations from the bundled playbooks, in a
real browser: clerkd runs document-check (a blurred claim form rendered now
by tests/ocr_gen.py, escalated by the real ocr.check), pension-transfer
against the legacy-system simulator (a case the transfer-out system
refuses, its pages carrying an inline script), record-merge and
benefit-crosscheck on the bundled samples. tests/browser/cases.test.mjs
then clears one of each in Chromium: corrects a field of the document and
resumes it, rejects the refusal with a reason, approves a duplicate-record
cluster and a registry hit, and checks each item reaches its final state.
Screenshots of each detail view go to CLERK_SHOTS (default /tmp).

Skips (1..0 # SKIP) only when chromium or node is missing.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from harness import SRCDIR, Daemon, Tap  # noqa: E402
import ocr_gen  # noqa: E402
import pension  # noqa: E402

BROWSER_DIR = os.path.join(SRCDIR, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PBS = os.path.join(SRCDIR, "playbooks")
SIM_PASSWORD = "ui-cases-sim-pw-41"
REFUSAL = "参保人存在欠费记录，请补缴后再办理"
# What the simulator's pages run if a browser ever treats them as HTML.
PAGE_SCRIPT = "window.__legacy_ran = 1; document.title = 'legacy script ran';"

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

tmp = tempfile.mkdtemp(prefix="clerk-ui-cases-")
refused = pension.case(300)
sim = pension.Sim(password=SIM_PASSWORD, log=os.path.join(tmp, "sim.log"),
                  faults={"refuse_ids": {refused["id_no"]: REFUSAL},
                          "page_script": PAGE_SCRIPT})
d = Daemon(workers=4)
try:
    for pb in ("document-check.cfg", "pension-transfer.cfg", "record-merge.cfg",
               "record-merge-case.cfg", "benefit-crosscheck.cfg",
               "benefit-crosscheck-case.cfg"):
        shutil.copy(os.path.join(PBS, pb), d.pbdir)
    shutil.copytree(os.path.join(PBS, "templates"), os.path.join(d.pbdir, "templates"))
    os.makedirs(os.path.join(d.pbdir, "rules"))
    for rf in ("record-merge.cfg", "benefit-crosscheck.cfg"):
        shutil.copy(os.path.join(PBS, "rules", rf), os.path.join(d.pbdir, "rules"))
    os.makedirs(d.state)
    pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url,
                              password=SIM_PASSWORD)
    regs = os.path.join(d.state, "registries")
    os.makedirs(regs)
    samples = os.path.join(PBS, "samples", "records")
    for src, dst in (("deaths.csv", "deaths.csv"), ("prison.csv", "prison.csv"),
                     ("other.csv", "other-regions.csv")):
        shutil.copy(os.path.join(samples, src), os.path.join(regs, dst))

    # A claim form blurred the way the demo's is: the real ocr.check must
    # escalate it (unsure), with the page image and every field's box.
    rng = random.Random(11)
    text, truth, _ = ocr_gen.claim_form(rng)
    ocr_gen.render(text, os.path.join(tmp, "sharp.png"), tmp=tmp)
    ocr_gen.convert(os.path.join(tmp, "sharp.png"), ocr_gen.BAD,
                    os.path.join(tmp, "claim-blurred.png"))

    d.start()
    t.check(True, "clerkd started with the bundled playbooks")

    def drop(inbox, src, name):
        inbox = os.path.join(d.state, "inbox", inbox)
        d.wait_for(lambda: os.path.isdir(inbox), 10, f"{inbox} made")
        shutil.copy(src, os.path.join(inbox, "." + name + ".tmp"))
        os.rename(os.path.join(inbox, "." + name + ".tmp"), os.path.join(inbox, name))

    drop("documents", os.path.join(tmp, "claim-blurred.png"), "claim-blurred.png")
    drop("records-merge", os.path.join(samples, "insured.csv"), "register-2026-11.csv")
    drop("crosscheck", os.path.join(samples, "recipients.csv"), "recipients-2026-11.csv")
    st, body = d.api("POST", "/api/v1/playbooks/pension-transfer/run",
                     {"key": "ZY-REFUSED", "payload": refused})
    t.check(st == 201, "the refused transfer case is enqueued", body)

    def first_open(playbook, reason=None):
        st, body = d.api("GET", f"/api/v1/escalations?open=1&playbook={playbook}&limit=1000")
        for e in body.get("escalations", []) if st == 200 else []:
            if reason is None or e["reason"] == reason:
                return e
        return None

    found = {}
    try:
        def all_there():
            for k, pb, reason in (("doc", "document-check", None),
                                  ("refused", "pension-transfer", "refused"),
                                  ("merge", "record-merge-case", None),
                                  ("cross", "benefit-crosscheck-case", None)):
                if k not in found:
                    e = first_open(pb, reason)
                    if e:
                        found[k] = e
            return len(found) == 4
        d.wait_for(all_there, 60, "one escalation of each kind")
        t.check(True, "escalations from document-check, pension-transfer, record-merge-case"
                " and benefit-crosscheck-case: " + json.dumps({k: v["id"] for k, v in found.items()}))
    except TimeoutError as e:
        t.check(False, "one escalation of each kind", f"{e}; found {list(found)}")

    if len(found) == 4:
        env = dict(os.environ,
                   CLERK_URL=f"http://127.0.0.1:{d.port}",
                   CLERK_TOKEN=d.token(),
                   CLERK_CASES=json.dumps({k: v["id"] for k, v in found.items()}),
                   CLERK_DOC_TRUTH=json.dumps(truth, ensure_ascii=False),
                   CLERK_REFUSAL=REFUSAL,
                   CLERK_PAGE_SCRIPT=PAGE_SCRIPT,
                   CHROMIUM=CHROMIUM,
                   CLERK_SHOTS=os.environ.get("CLERK_SHOTS", "/tmp"))
        try:
            r = subprocess.run(["node", "--test", "--test-reporter=tap",
                                os.path.join(BROWSER_DIR, "cases.test.mjs")],
                               cwd=BROWSER_DIR, capture_output=True, text=True, env=env,
                               timeout=300)
        except subprocess.TimeoutExpired as e:
            def text_of(b):
                return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
            r = subprocess.CompletedProcess(e.cmd, -1, text_of(e.stdout),
                                            text_of(e.stderr) + "\ntimed out after 300 s")
        lines = r.stdout.splitlines()
        results = [(len(m.group(1)), m.group(2) == "ok", m.group(3), i)
                   for i, line in enumerate(lines)
                   for m in [re.match(r"^(\s*)(not ok|ok) \d+ - (.*)$", line)] if m]
        if results:
            top = min(x[0] for x in results)
            for indent, ok, name, i in results:
                if indent != top:
                    continue
                detail = ""
                if not ok:
                    j, block = i + 1, []
                    while j < len(lines) and not re.match(r"^\s*(not ok|ok) \d+ ", lines[j]):
                        block.append(lines[j])
                        j += 1
                    detail = "\n".join(block[:60])
                t.check(ok, name.replace("#", "\\#"), detail)
        t.check(r.returncode == 0 and results, "node --test cases.test.mjs exits 0",
                "exit %d\n%s\n%s" % (r.returncode, r.stdout[-4000:], r.stderr[-3000:]))
    t.eq(d.stop(), 0, "clean stop")
    if t.failed:
        for line in d.log_text().splitlines()[-40:]:
            print("# clerkd: " + line)
finally:
    sim.stop()
    d.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
