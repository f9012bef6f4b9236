#!/usr/bin/env python3
"""clerkctl playbook test: the bundled unemployment-claim playbook dry-run
on forms rendered now with ground truth (tests/ocr_gen.py). Without a
connector the submit step is shown with the values it would send and
nothing reaches the simulator; with --connector it runs against the
simulator; --approve goes on past an escalation with a reviewer's
corrections, and the simulator receives exactly those. The samples stay
where they are, nothing is written into the work folder and no database
is made; a folder of samples gives one run each and a summary; bad
input is refused with a clear message."""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import SRCDIR, Tap  # noqa: E402
import pension  # noqa: E402

sys.path.insert(0, os.path.join(SRCDIR, "tests"))
import ocr_gen  # noqa: E402

t = Tap()
CTL = os.environ["CLERKCTL"]
PB = os.path.join(SRCDIR, "playbooks", "unemployment-claim.cfg")
PASSWORD = "dry-sim-pw"
tmp = tempfile.mkdtemp(prefix="clerk-dryrun-")
samples = os.path.join(tmp, "samples")
state = os.path.join(tmp, "state")
os.makedirs(samples)
os.makedirs(state)
rng = random.Random(11)
truth = {}
for name, kw in (("a-good.png", {}), ("b-wrong-id.png", {"bad_id": True}),
                 ("c-blurred.png", None)):
    text, fields, _ = ocr_gen.claim_form(rng, **(kw or {}))
    if kw is None:
        ocr_gen.render(text, os.path.join(tmp, "x.png"), tmp=tmp)
        ocr_gen.convert(os.path.join(tmp, "x.png"), ocr_gen.BAD, os.path.join(samples, name))
    else:
        ocr_gen.render(text, os.path.join(samples, name), tmp=tmp)
    truth[name] = fields
good = os.path.join(samples, "a-good.png")
blurred = os.path.join(samples, "c-blurred.png")

sim_log = os.path.join(tmp, "sim.log")
sim = pension.Sim(password=PASSWORD, log=sim_log)
conf = os.path.join(tmp, "clerkd.conf")
with open(conf, "w") as f:
    f.write(f'state_dir = "{state}";\n')
fd = os.open(os.path.join(state, "credentials.cfg"), os.O_WRONLY | os.O_CREAT, 0o600)
with os.fdopen(fd, "w") as f:
    # base_url names a port nothing listens on: only --connector reaches the simulator
    f.write(f'benefits = {{ username = "clerk"; password = "{PASSWORD}";'
            f' base_url = "http://127.0.0.1:9/ben"; }};\n')


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ctl(*args, json_out=True):
    r = subprocess.run([CTL, "-c", conf] + (["--json"] if json_out else []) +
                       list(args), capture_output=True, text=True, timeout=300)
    body = None
    if json_out and r.stdout.strip():
        try:
            body = json.loads(r.stdout)
        except ValueError:
            pass
    return r, body


def step(run, sid):
    return next((s for s in run["steps"] if s["step"] == sid), None)


def sim_requests():
    if not os.path.exists(sim_log):
        return []
    with open(sim_log) as f:
        recs = [json.loads(x) for x in f if x.strip()]
    # the test's own reads of /_sim/cases are logged too
    return [x for x in recs if not x.get("path", "").startswith("/_sim")]


def ben_cases():
    return sim.get("/_sim/cases").get("ben", [])


try:
    before = {n: sha(os.path.join(samples, n)) for n in truth}
    # 1. stubbed: nothing sent, the values it would send are shown
    r, body = ctl("playbook", "test", PB, "--sample", good)
    t.eq(r.returncode, 0, "a dry run of a good form exits 0")
    run = body["runs"][0] if body else {}
    chk, sub = step(run, "check"), step(run, "submit")
    t.check(chk and chk["decision"] == "ok" and
            chk["output"]["values"]["id_no"] == truth["a-good.png"]["id_no"],
            "the check step runs and reads the form's ID number", chk and chk.get("output", {}).get("values"))
    t.check(sub and sub["decision"] == "stubbed" and "legacy system" in sub.get("effect", ""),
            "the submit step is not run: it is shown as stubbed with its effect", sub)
    t.check(sub and sub["input"].get("steps.check.values.id_no") == truth["a-good.png"]["id_no"] and
            sub["input"].get("steps.check.values.name") == truth["a-good.png"]["name"],
            "the stubbed step shows the ID number and name it would send", sub and sub.get("input"))
    t.eq(run.get("outcome"), "done (with stubbed steps)", "the run's outcome says steps were stubbed")
    t.eq(len(sim_requests()), 0, "nothing reached the simulator")
    t.eq(sorted(os.listdir(state)), ["credentials.cfg"],
         "nothing was written into the work folder and no database was made")
    t.check(not os.path.exists(run.get("dir", "/nonexistent")),
            "the run's own folder is removed at the end", run.get("dir"))
    t.eq({n: sha(os.path.join(samples, n)) for n in truth}, before, "the samples are left as they were")

    # 2. against the simulator: the claim is registered with what was read
    r, body = ctl("playbook", "test", PB, "--sample", good, "--connector", f"benefits={sim.url}/ben")
    run = body["runs"][0] if body else {}
    sub = step(run, "submit")
    t.check(r.returncode == 0 and sub and sub["decision"] == "ok" and sub.get("output", {}).get("claim_no"),
            "with --connector the submit step runs against the simulator and returns its claim number",
            r.stderr + json.dumps(sub, ensure_ascii=False))
    got = [c for c in ben_cases() if c.get("id_no") == truth["a-good.png"]["id_no"]]
    t.check(len(got) == 1 and got[0].get("name") == truth["a-good.png"]["name"],
            "the simulator holds exactly one claim, with the name and ID number read", got)
    t.check(sub and sub.get("against", "").startswith(sim.url), "the step names the URL it ran against", sub)

    # 3. an escalation, approved with corrections: the corrected values are sent
    r, body = ctl("playbook", "test", PB, "--sample", blurred)
    run = body["runs"][0] if body else {}
    chk = step(run, "check")
    t.check(r.returncode == 0 and run.get("outcome") == "escalated" and chk and
            chk["decision"] == "escalate" and chk.get("reason", "").startswith("quality."),
            "a blurred form stops at its escalation, with the reason", chk and chk.get("reason"))
    t.check(chk and "evidence" in chk and step(run, "submit") is None,
            "the escalation carries the reviewer's evidence and no later step runs", run.get("steps"))
    # a reviewer types every field of the unreadable form, as in the UI
    fix = {"fields": dict(truth["c-blurred.png"])}
    r, body = ctl("playbook", "test", PB, "--sample", blurred, "--approve", json.dumps(fix, ensure_ascii=False),
                  "--connector", f"benefits={sim.url}/ben")
    run = body["runs"][0] if body else {}
    chk, sub = step(run, "check"), step(run, "submit")
    t.check(chk and chk.get("approved") and chk.get("escalated", {}).get("reason", "").startswith("quality."),
            "with --approve the check step is approved after its escalation", chk and {k: chk.get(k) for k in ("decision", "approved", "escalated")})
    t.check(sub and sub["decision"] == "ok" and sub["input"].get("steps.check.values.id_no") == fix["fields"]["id_no"],
            "the submit step reads the reviewer's corrected ID number", sub and sub.get("input"))
    got = [c for c in ben_cases() if c.get("id_no") == fix["fields"]["id_no"]]
    t.check(len(got) == 1 and got[0].get("name") == fix["fields"]["name"],
            "the simulator received exactly the corrected name and ID number", got)
    bad = {"fields": {"id_no": "110105199001011230"}}
    r, body = ctl("playbook", "test", PB, "--sample", blurred, "--approve", json.dumps(bad))
    run = body["runs"][0] if body else {}
    chk = step(run, "check")
    t.check(chk and "approval_refused" in chk and run.get("outcome") == "escalated",
            "an approval with an invalid ID number is refused as the daemon would refuse it",
            chk and chk.get("approval_refused"))

    # 4. a folder of samples: a run each and the summary
    n = len(ben_cases())
    r, body = ctl("playbook", "test", PB, "--sample", samples)
    t.check(r.returncode == 0 and body and [x["input"] for x in body["runs"]] ==
            [os.path.join(samples, x) for x in sorted(truth)],
            "a folder gives one run per file, in name order", body and [x["input"] for x in body["runs"]])
    t.eq(body and body.get("outcomes"), {"done (with stubbed steps)": 1, "rejected": 1, "escalated": 1},
         "the summary counts each outcome")
    wrong = body and step(body["runs"][1], "check")
    t.check(wrong and wrong["decision"] == "reject" and wrong.get("reason") == "field.invalid",
            "the wrong ID number is rejected with its reason", wrong and wrong.get("reason"))
    t.eq(len(ben_cases()), n, "the simulator got nothing from the stubbed runs")
    r, _ = ctl("playbook", "test", PB, "--sample", samples, json_out=False)
    t.check(r.returncode == 0 and "3 runs: 1 done (with stubbed steps), 1 rejected, 1 escalated" in r.stdout
            and "not run:" in r.stdout and "${steps.check.values.id_no} = " in r.stdout,
            "the text output shows each step, what it would send and the summary", r.stdout[-600:])
    keep = os.path.join(tmp, "kept")
    r, body = ctl("playbook", "test", PB, "--sample", good, "--keep", keep)
    arch = os.path.join(keep, "archive", "unemployment")
    t.check(r.returncode == 0 and os.path.isdir(arch) and os.path.exists(good),
            "--keep keeps the run's files: the copy was archived there, the sample stays", r.stderr)

    # 5. bad input
    r, _ = ctl("playbook", "test", PB, "--sample", os.path.join(tmp, "nope.png"), json_out=False)
    t.check(r.returncode == 2 and "nope.png" in r.stderr and "No such file" in r.stderr,
            "a missing sample is refused, naming it", r.stderr)
    r, _ = ctl("playbook", "test", PB, "--sample", good, "--connector", "pensions=http://127.0.0.1:1",
               json_out=False)
    t.check(r.returncode == 2 and "no step of playbook unemployment-claim uses a connector \"pensions\""
            in r.stderr, "a connector the playbook does not use is refused", r.stderr)
    r, _ = ctl("playbook", "test", PB, "--connector", "benefits", json_out=False)
    t.check(r.returncode == 2 and "NAME=URL" in r.stderr, "--connector without a URL says how", r.stderr)
    broken = os.path.join(tmp, "broken.cfg")
    with open(broken, "w") as f:
        f.write('name = "broken";\ntrigger = { manual = true; };\nsteps = (\n'
                '  { id = "a"; use = "notify"; message = "x ${steps.nope.y}"; }\n);\n')
    r, _ = ctl("playbook", "test", broken, json_out=False)
    t.check(r.returncode == 1 and f"{broken}:4" in r.stderr and "nothing was run" in r.stderr,
            "a playbook that does not load is reported with file:line and not run", r.stderr)
    r, body = ctl("playbook", "test", PB, "--payload", '{"file": "/nonexistent/x.png"}')
    run = body["runs"][0] if body else {}
    t.check(r.returncode == 0 and step(run, "check")["decision"] == "reject",
            "a payload without a sample runs on the payload alone", run.get("steps"))
    t.eq(len(sim_requests()) > 0 and all(x.get("path", "").startswith("/ben") for x in sim_requests()),
         True, "every request the simulator saw was to the connector's path")
finally:
    sim.stop()
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
