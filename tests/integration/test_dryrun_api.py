#!/usr/bin/env python3
"""POST /api/v1/playbooks/NAME/test against the real clerkd: a supervisor's
dry run of the bundled unemployment-claim playbook on forms rendered now
with ground truth (tests/ocr_gen.py) returns every step (the check reads
the form, the submit is stubbed with what it would send); the queue gets
no item, the simulator no request, and nothing is written into the work
folder. A reviewer is refused; a changed playbook text is dry-run before
it is deployed, and one that does not load answers 400 with its
problems as playbook_text:LINE; a sample too big for the request is
refused; a slow dry run does not block the event loop, and a third one
at once is told to wait (429)."""
import base64
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLERKCTL, SRCDIR, Daemon, Tap  # noqa: E402
import pension  # noqa: E402

sys.path.insert(0, os.path.join(SRCDIR, "tests"))
import ocr_gen  # noqa: E402

t = Tap()
PASSWORD = "dry-api-sim-pw"


def new_token():
    r = subprocess.run([CLERKCTL, "user", "token"], capture_output=True, text=True, timeout=30)
    lines = dict(line.split(None, 1) for line in r.stdout.splitlines())
    return lines["token:"].strip(), lines["stored:"].strip()


SAM, SAM_STORED = new_token()      # supervisor
RITA, RITA_STORED = new_token()    # reviewer

work = tempfile.mkdtemp(prefix="clerk-dryapi-")
rng = random.Random(23)
forms = {}
for name, kw in (("good.png", {}), ("blurred.png", None)):
    text, fields, _ = ocr_gen.claim_form(rng, **(kw or {}))
    if kw is None:
        ocr_gen.render(text, os.path.join(work, "x.png"), tmp=work)
        ocr_gen.convert(os.path.join(work, "x.png"), ocr_gen.BAD, os.path.join(work, name))
    else:
        ocr_gen.render(text, os.path.join(work, name), tmp=work)
    # what a reviewer would type: every field, the employer too
    fields["employer"] = next(x.split(" ", 1)[1] for x in text.splitlines() if x.startswith("参保单位 "))
    forms[name] = fields

sim_log = os.path.join(work, "sim.log")
sim = pension.Sim(password=PASSWORD, log=sim_log)
d = Daemon(workers=2, extra_conf='users_file = "users.cfg";')
PB_TEXT = open(os.path.join(SRCDIR, "playbooks", "unemployment-claim.cfg"), encoding="utf-8").read()
d.write_playbook("unemployment-claim.cfg", PB_TEXT)
os.makedirs(os.path.join(d.pbdir, "templates"))
shutil.copy(os.path.join(SRCDIR, "playbooks", "templates", "unemployment-claim.cfg"),
            os.path.join(d.pbdir, "templates"))
d.write_playbook("slow.cfg", 'name = "slow";\ntrigger = { manual = true; };\n'
                 'steps = ( { id = "nap"; use = "sleep"; duration = "3s"; } );\n')
with open(os.path.join(d.dir, "users.cfg"), "w") as f:
    f.write(f'users = (\n  {{ name = "sam"; role = "supervisor"; tokens = ["{SAM_STORED}"]; }},\n'
            f'  {{ name = "rita"; role = "reviewer"; tokens = ["{RITA_STORED}"]; }}\n);\n')
os.chmod(os.path.join(d.dir, "users.cfg"), 0o600)
os.makedirs(d.state, exist_ok=True)
fd = os.open(os.path.join(d.state, "credentials.cfg"), os.O_WRONLY | os.O_CREAT, 0o600)
with os.fdopen(fd, "w") as f:
    # the real runs would reach the simulator: a dry run must not
    f.write(f'benefits = {{ username = "clerk"; password = "{PASSWORD}";'
            f' base_url = "{sim.url}/ben"; }};\n')


def call(method, path, body=None, token=SAM, raw=None, timeout=120):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as err:
        status, text, hdrs = err.code, err.read(), err.headers
    try:
        return status, json.loads(text), hdrs
    except ValueError:
        return status, text.decode(errors="replace"), hdrs


def sample(name):
    with open(os.path.join(work, name), "rb") as f:
        return {"name": name, "content": base64.b64encode(f.read()).decode()}


def step(run, sid):
    return next((s for s in run.get("steps", []) if s["step"] == sid), None)


def sim_requests():
    if not os.path.exists(sim_log):
        return []
    with open(sim_log) as f:
        return [json.loads(x) for x in f if x.strip() and "/_sim" not in x]


def state_files():
    out = set()
    for root, dirs, files in os.walk(d.state):
        for n in files:
            out.add(os.path.relpath(os.path.join(root, n), d.state))
    return {x for x in out if not x.startswith("clerk.db")}


TEST = "/api/v1/playbooks/unemployment-claim/test"
try:
    # a TMPDIR of its own: other tests' dry runs share /tmp
    dry_tmp = os.path.join(work, "tmp")
    os.makedirs(dry_tmp)
    d.start(env={"TMPDIR": dry_tmp})
    before = state_files()

    # 1. a supervisor's dry run of the loaded playbook on a good form
    st, run, _ = call("POST", TEST, {"sample": sample("good.png")})
    loaded_hash = run.get("hash")
    chk, sub = step(run, "check"), step(run, "submit")
    t.check(st == 200 and run.get("source") == "loaded" and run.get("playbook") == "unemployment-claim"
            and run.get("file", "").endswith("unemployment-claim.cfg") and len(run.get("hash", "")) == 64,
            "a supervisor's dry run answers 200 for the loaded version, naming its file and hash",
            {k: run.get(k) for k in ("source", "file", "hash", "error")} if isinstance(run, dict) else run)
    t.eq([s["step"] for s in run.get("steps", [])], ["check", "submit"], "the steps come in order")
    t.check(chk and chk["decision"] == "ok" and chk["output"]["values"]["id_no"] == forms["good.png"]["id_no"]
            and "ms" in chk, "the check step ran the OCR and read the form's ID number",
            chk and chk.get("output", {}).get("values"))
    t.check(sub and sub["decision"] == "stubbed" and "legacy system" in sub.get("effect", "")
            and sub.get("connector") == "benefits"
            and sub["input"].get("steps.check.values.id_no") == forms["good.png"]["id_no"],
            "the submit step is stubbed, with the connector and the ID number it would send", sub)
    t.eq((run.get("outcome"), run.get("failed"), run.get("input")),
         ("done (with stubbed steps)", False, "good.png"), "the outcome, and the sample's name")
    t.eq(run.get("payload", {}).get("name"), "good.png", "the payload is the one a watch trigger gives the upload")
    st, items, _ = call("GET", "/api/v1/items")
    t.eq((st, items.get("items")), (200, []), "the queue has no item")
    t.eq(sim_requests(), [], "the simulator got no request")
    t.eq(state_files(), before, "nothing was written into the work folder")
    t.eq(os.listdir(dry_tmp), [], "the dry run's temporary folder is removed")
    t.check("dry run of playbook unemployment-claim (loaded) on good.png by sam: done (with stubbed steps)"
            in d.log_text(), "the dry run is logged with the user", d.log_text()[-1500:])

    # 2. an escalation, and the same approved with a reviewer's corrections
    st, run, _ = call("POST", TEST, {"sample": sample("blurred.png")})
    chk = step(run, "check")
    t.check(st == 200 and run.get("outcome") == "escalated" and chk and chk["decision"] == "escalate"
            and chk.get("reason", "").startswith("quality.") and "evidence" in chk
            and step(run, "submit") is None,
            "a blurred form stops at its escalation, with the reason and evidence", chk and chk.get("reason"))
    fix = {"fields": dict(forms["blurred.png"])}
    st, run, _ = call("POST", TEST, {"sample": sample("blurred.png"), "approve": fix})
    chk, sub = step(run, "check"), step(run, "submit")
    t.check(st == 200 and chk and chk.get("approved") and sub and sub["decision"] == "stubbed"
            and sub["input"].get("steps.check.values.id_no") == fix["fields"]["id_no"],
            "approved with corrections, the stubbed submit shows the corrected ID number",
            sub and sub.get("input"))
    t.eq(sim_requests(), [], "still nothing reached the simulator")

    # 3. a payload alone, no sample
    st, run, _ = call("POST", TEST, {"payload": {"file": "/nonexistent/x.png"}})
    t.check(st == 200 and run.get("input") == "the payload" and step(run, "check")["decision"] == "reject",
            "a payload without a sample runs on the payload alone", run)

    # 3b. a file the payload names outside the run is copied, never moved
    outside = os.path.join(work, "outside-upload.png")
    shutil.copy(os.path.join(work, "good.png"), outside)
    st, run, _ = call("POST", TEST, {"payload": {"file": outside, "name": "outside-upload.png"}})
    t.check(st == 200 and step(run, "check")["decision"] == "ok" and os.path.exists(outside),
            "a payload's file outside the run is read and archived as a copy; it stays where it is",
            (st, os.path.exists(outside)))
    mover = ('name = "unemployment-claim";\ntrigger = { manual = true; };\nsteps = (\n'
             f'  {{ id = "mv"; use = "file.move"; to = "{work}/moved-abs"; }},\n'
             '  { id = "mv2"; use = "file.move"; from = "other"; to = "../../escaped"; }\n);\n')
    other = os.path.join(work, "other.txt")
    with open(other, "w") as f:
        f.write("x")
    st, run, _ = call("POST", TEST, {"payload": {"file": outside, "other": other}, "playbook_text": mover})
    mv, mv2 = step(run, "mv"), step(run, "mv2")
    t.check(st == 200 and mv and mv["decision"] == "ok" and mv2 and mv2["decision"] == "ok"
            and "/outside/" in mv["output"]["path"] and "/outside/" in mv2["output"]["path"]
            and not os.path.exists(os.path.join(work, "moved-abs"))
            and not os.path.exists(os.path.join(os.path.dirname(dry_tmp), "escaped"))
            and os.path.exists(outside) and os.path.exists(other),
            "file.move to an absolute or ../ folder stays in the run's folder, and the files stay put",
            (st, mv and mv.get("output"), mv2 and mv2.get("output")))

    # 4. who may
    st, body, _ = call("POST", TEST, {"sample": sample("good.png")}, token=RITA)
    t.check(st == 403 and body["error"]["message"] == "role reviewer may not dry-run playbooks",
            "a reviewer gets 403", body)
    st, body, _ = call("POST", "/api/v1/playbooks/nosuch/test", {})
    t.check(st == 404 and "playbook_text" in body["error"]["message"],
            "an unknown playbook is 404, saying how to try one not deployed", body)

    # 5. a changed playbook text, before it is deployed
    changed = PB_TEXT.replace('{ id = "submit";', '{ id = "note"; use = "noop"; },\n  { id = "submit";', 1)
    st, run, _ = call("POST", TEST, {"sample": sample("good.png"), "playbook_text": changed})
    t.check(st == 200 and run.get("source") == "playbook_text" and run.get("file") is None
            and [s["step"] for s in run.get("steps", [])] == ["check", "note", "submit"]
            and step(run, "check")["decision"] == "ok",
            "a changed text runs (its template found next to the loaded one), the new step too",
            [s.get("step") for s in run.get("steps", [])] if isinstance(run, dict) else run)
    broken = PB_TEXT.replace('{ id = "submit";', '{ id = "x"; use = "nosuch.kind"; },\n  { id = "submit";', 1)
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "nosuch.kind" in x)) + 1
    st, body, _ = call("POST", TEST, {"playbook_text": broken})
    probs = body.get("error", {}).get("problems", []) if isinstance(body, dict) else []
    t.check(st == 400 and any(p.startswith(f"playbook_text:{line}:") for p in probs)
            and "nothing was run" in body["error"]["message"],
            "a playbook text that does not load is 400 with playbook_text:LINE", body)
    st, body, _ = call("POST", TEST, {"playbook_text": 'name = "other";\ntrigger = { manual = true; };\n'
                                      'steps = ( { id = "a"; use = "noop"; } );\n'})
    t.check(st == 400 and 'playbook "other", not "unemployment-claim"' in body["error"]["message"],
            "a text of another playbook is refused, naming both", body)
    st, body, _ = call("POST", TEST, {"playbook_text": 'name = "unemployment-claim"\n'})
    t.check(st == 400 and any(p.startswith("playbook_text:") for p in body["error"].get("problems", [])),
            "a syntax error is reported as playbook_text:LINE too", body)
    st, items, _ = call("GET", "/api/v1/playbooks")
    pbs = {p["name"]: p for p in items["playbooks"]}
    t.eq(pbs.get("unemployment-claim", {}).get("hash"), loaded_hash,
         "the loaded playbook is not replaced by the text")

    # 6. bad input
    st, body, _ = call("POST", TEST, {"sample": {"name": "../x.png", "content": "AAAA"}})
    t.check(st == 400 and "file name" in body["error"]["message"], "a sample name with a folder is refused", body)
    st, body, _ = call("POST", TEST, {"sample": {"name": "x.png", "content": "not base64!"}})
    t.check(st == 400 and "not base64" in body["error"]["message"], "content that is not base64 is refused", body)
    st, body, _ = call("POST", TEST, {"sample": "x.png"})
    t.check(st == 400 and "base64" in body["error"]["message"], "a sample that is not an object says its shape", body)
    # evhttp answers 413 from the Content-Length alone and closes; send the
    # headers and read the answer, so a half-sent body cannot race it
    big = len(json.dumps({"sample": {"name": "big.png",
                                     "content": "A" * (4 * 2 * 1024 * 1024 // 3)}}))
    with socket.create_connection(("127.0.0.1", d.port), timeout=30) as so:
        so.sendall((f"POST {TEST} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SAM}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {big}\r\n\r\n").encode())
        so.sendall(b'{"sample": {"name": "big.png", "content": "' + b"A" * 65536)
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = so.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
    t.check(answer.startswith(b"HTTP/1.1 413"),
            "a sample bigger than the 1 MiB request limit is refused with 413", answer[:200])
    st, body, _ = call("GET", "/healthz", token=SAM)
    t.eq(st, 200, "clerkd still answers after the big request")

    # 7. slow dry runs do not block the loop; a third at once waits
    results = []

    def slow():
        results.append(call("POST", "/api/v1/playbooks/slow/test", {}))
    ths = [threading.Thread(target=slow) for _ in range(2)]
    t0 = time.time()
    for th in ths:
        th.start()
    time.sleep(0.8)
    a = time.time()
    st_h, _, _ = call("GET", "/healthz")
    st_s, _, _ = call("GET", "/api/v1/status")
    quick = time.time() - a
    t.check(st_h == 200 and st_s == 200 and quick < 1.0,
            "while two dry runs sleep, /healthz and the API answer at once", f"{quick:.2f}s")
    st, body, hdrs = call("POST", "/api/v1/playbooks/slow/test", {})
    t.check(st == 429 and body["error"]["code"] == "busy" and hdrs.get("Retry-After") == "5",
            "a third dry run at once is told to wait (429, Retry-After)", (st, body))
    for th in ths:
        th.join()
    took = time.time() - t0
    t.check(len(results) == 2 and all(r[0] == 200 and step(r[1], "nap")["decision"] == "ok" for r in results)
            and took < 6, "both slow dry runs finish, side by side", (took, [r[0] for r in results]))
    st, run, _ = call("POST", "/api/v1/playbooks/slow/test", {})
    t.eq(st, 200, "with both done, the next dry run is taken")
    t.eq(os.listdir(dry_tmp), [], "every dry run's temporary folder is gone")
    st, items, _ = call("GET", "/api/v1/items")
    t.eq(items.get("items"), [], "after every dry run the queue still has no item")
    st, audit, _ = call("GET", "/api/v1/audit")
    t.check(not [a for a in audit.get("audit", audit.get("rows", [])) if "test" in json.dumps(a)],
            "a dry run is not in the audit trail (it changes nothing)", audit)
finally:
    try:
        d.stop()
    except Exception as err:  # noqa: BLE001
        t.check(False, "clerkd stops", err)
    sim.stop()
    shutil.rmtree(work, ignore_errors=True)
    d.cleanup()
t.done()
