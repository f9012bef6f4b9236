#!/usr/bin/env python3
"""The reviewer web UI in a real browser: starts clerkd with a few open
escalations (two overdue approval gates, one within its SLA, and a
reconciliation difference with candidate matches), then runs
tests/browser/ui.test.mjs (node --test, playwright-core driving Debian's
/usr/bin/chromium headless) against it and reports its results as TAP.

Skips (1..0 # SKIP) only when chromium or node is missing and cannot be
installed; everything else that goes wrong is a failure.
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, Daemon, Tap, run_node_tests  # noqa: E402

BROWSER_DIR = os.path.join(SRCDIR, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def skip(why):
    print(f"1..0 # SKIP {why}", flush=True)
    sys.exit(0)


def apt_install(*pkgs):
    """apt-get install, as root or through passwordless sudo; False if
    neither is possible or it fails."""
    if not shutil.which("apt-get"):
        return False
    pre = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if pre and not shutil.which("sudo"):
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = pre + ["apt-get", "install", "-y", "--no-install-recommends", *pkgs]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if r.returncode != 0:   # stale package lists: update once and try again
            subprocess.run(pre + ["apt-get", "update"], capture_output=True, env=env,
                           timeout=600)
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"# apt-get install {' '.join(pkgs)}: {e}", flush=True)
        return False
    if r.returncode != 0:
        print(f"# apt-get install {' '.join(pkgs)} failed: {r.stderr[-500:]}", flush=True)
    return r.returncode == 0


def has_cjk_font():
    if not shutil.which("fc-list"):
        return False
    r = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True)
    return bool(r.stdout.strip())


# ---- what the test needs: node, chromium, CJK fonts, playwright-core --------
if not shutil.which("node"):
    apt_install("nodejs", "npm")
if not shutil.which("node"):
    skip("node is not installed and cannot be installed")
if not os.access(CHROMIUM, os.X_OK):
    apt_install("chromium")
if not os.access(CHROMIUM, os.X_OK):
    skip(f"{CHROMIUM} is not installed and cannot be installed")
if not has_cjk_font():
    apt_install("fonts-noto-cjk")

t = Tap()
t.check(has_cjk_font(), "a CJK font is installed (fonts-noto-cjk)")
if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    npm = shutil.which("npm")
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"] if npm else ["false"],
                       cwd=BROWSER_DIR, capture_output=True, text=True, env=env,
                       timeout=600)
    if not t.check(r.returncode == 0, "npm ci installs playwright-core in tests/browser",
                   (r.stdout + r.stderr)[-2000:]):
        t.done()


def user_hash(d, password):
    """A users-file hash from `clerkctl user hash`, or None while clerkctl
    has no users (then the UI is tested with the API token)."""
    try:
        r = d.ctl("user", "hash", input=password + "\n")
    except (OSError, subprocess.SubprocessError):
        return None
    out = r.stdout.strip().splitlines()
    return out[-1].strip() if r.returncode == 0 and out and "$" in out[-1] else None


d = Daemon()
try:
    d.write_playbook("gate.cfg", '''
name = "gate";
trigger = { manual = true; };
payload = [ "case", "name" ];
sla = "1s";
steps = ( { id = "review"; use = "escalate"; reason = "needs_review";
            message = "案件 ${case} 需要复核：${name}"; },
          { id = "after"; use = "noop"; } );
''')
    d.write_playbook("later.cfg", '''
name = "later-review";
trigger = { manual = true; };
payload = [ "case" ];
sla = "1h";
steps = ( { id = "check"; use = "escalate"; reason = "id_mismatch";
            message = "身份证号与姓名不符 ${case}"; },
          { id = "after"; use = "noop"; } );
''')
    # A document whose payload carries an OCR result (the ocr.check
    # contract) from upstream; the browser test enqueues it and writes its
    # page image into WORK_DIR/artifacts/ITEM/.
    d.write_playbook("doc.cfg", '''
name = "doc-check";
trigger = { manual = true; };
payload = [ "case" ];
sla = "1h";
steps = ( { id = "review"; use = "escalate"; reason = "ocr_check";
            message = "证件需要人工复核 ${case}"; },
          { id = "after"; use = "noop"; } );
''')
    shutil.copy(os.path.join(SRCDIR, "playbooks", "fund-reconcile-difference.cfg"), d.pbdir)
    # Another reviewer has already booked one of R's candidates (LG-0401).
    os.makedirs(os.path.join(d.state, "recon-memory"))
    with open(os.path.join(d.state, "recon-memory", "fund.json"), "w") as f:
        json.dump([{"bank_ref": "BK20240301009", "bank_amount": 123400, "bank_date": "2024-03-01",
                    "ledger_ref": "LG-0401", "ledger_amount": 123400, "ledger_date": "2024-03-04"}], f)

    # Users, once clerkd has them: two reviewers, so a second browser
    # sees the first one's claim.
    users = None
    h1, h2 = user_hash(d, "alice-pw-1"), user_hash(d, "bob-pw-2")
    if h1 and h2:
        users = os.path.join(d.dir, "users.cfg")
        with open(users, "w") as f:
            f.write(f'''users = (
  {{ name = "alice"; role = "reviewer"; password = "{h1}"; }},
  {{ name = "bob"; role = "reviewer"; password = "{h2}"; }}
);
''')
        os.chmod(users, 0o600)
        with open(d.conf, "a") as f:
            f.write('users_file = "users.cfg";\n')
    d.start()
    t.check(True, "clerkd started" + (" with a users file" if users else
                                       " (no users yet: the UI signs in with the API token)"))

    def run(pb, key, payload):
        st, body = d.api("POST", f"/api/v1/playbooks/{pb}/run", {"key": key, "payload": payload})
        t.check(st == 201, f"item {key} of {pb} created", body)

    run("gate", "A", {"case": "A-001", "name": "张三", "amount": 1200})
    run("gate", "B", {"case": "B-002", "name": "李四"})
    run("later-review", "C", {"case": "C-003", "name": "王五", "id_number": "110101199001011234"})
    run("fund-reconcile-difference", "R", {
        "kind": "bank_in_not_booked", "side": "bank", "file": "stmt-2024-03.csv",
        "line": 12, "date": "2024-03-05", "amount": "1234.50", "amount_fen": 123450,
        "ref": "BK20240305001", "counterparty": "某某社保代理公司",
        "message": "银行已收企业未收：1234.50 某某社保代理公司",
        "candidates": [
            {"file": "ledger-2024-03.csv", "line": 40, "date": "2024-03-04", "amount": "1234.00",
             "amount_fen": 123400, "ref": "LG-0401", "counterparty": "某某社保代理公司",
             "text": "社保费收入"},
            {"file": "ledger-2024-03.csv", "line": 41, "date": "2024-03-06", "amount": "1234.50",
             "amount_fen": 123450, "ref": "LG-0402", "counterparty": "某某社保代理",
             "text": "社保费收入 三月"},
        ]})

    def open_escs():
        st, body = d.api("GET", "/api/v1/escalations?open=1")
        return body["escalations"] if st == 200 and len(body["escalations"]) == 4 else None
    try:
        escs = d.wait_for(open_escs, 30, "four open escalations")
    except TimeoutError as e:
        escs = None
        t.check(False, "four escalations open", e)
    if escs:
        time.sleep(max(0.0, (max(e["due"] for e in escs[:2]) - time.time() * 1000) / 1000 + 0.3))
        t.check(True, "four escalations open: " + json.dumps([e["id"] for e in escs]))

        env = dict(os.environ,
                   CLERK_URL=f"http://127.0.0.1:{d.port}",
                   CLERK_TOKEN=d.token(),
                   CLERK_ESCALATIONS=json.dumps(escs, ensure_ascii=False),
                   CHROMIUM=CHROMIUM,
                   CLERK_WORK_DIR=d.state,
                   CLERK_SHOTS=os.environ.get("CLERK_SHOTS", "/tmp"))
        if users:
            env.update(CLERK_USER="alice", CLERK_PASSWORD="alice-pw-1",
                       CLERK_USER2="bob", CLERK_PASSWORD2="bob-pw-2")
        run_node_tests(t, os.path.join(BROWSER_DIR, "ui.test.mjs"), BROWSER_DIR, env,
                       400)
    t.eq(d.stop(), 0, "clean stop")
    if t.failed:
        for line in d.log_text().splitlines()[-40:]:
            print("# clerkd: " + line)
finally:
    d.cleanup()
t.done()
