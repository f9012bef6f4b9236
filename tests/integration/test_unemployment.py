#!/usr/bin/env python3
"""The unemployment-claim playbook: 失业保险金申领登记表 rendered now with
ground truth (tests/ocr_gen.py) and dropped into inbox/unemployment, OCR-
checked, and registered at the simulated benefits system (/ben of
tests/legacysim/legacysim.py). A good form is registered exactly once with
the name and ID read from it; a form with a wrong ID number is rejected and
nothing is sent; a good form enqueued with case data it does not match
escalates and nothing is sent; a refusal by the benefits system escalates
with its code."""
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import SRCDIR, Daemon, Tap  # noqa: E402
import pension  # noqa: E402

sys.path.insert(0, os.path.join(SRCDIR, "tests"))
import ocr_gen  # noqa: E402

t = Tap()
asan = os.environ.get("CLERK_TEST_ASAN") == "1"
PASSWORD = "ben-sim-pw"
work = tempfile.mkdtemp(prefix="clerk-unemp-")
rng = random.Random(7)
forms = {}
for name, kw in (("claim-good.png", {}), ("claim-wrong-id.png", {"bad_id": True}),
                 ("claim-other.png", {}), ("claim-refused.png", {}),
                 ("claim-matched.png", {})):
    text, truth, case = ocr_gen.claim_form(rng, **kw)
    ocr_gen.render(text, os.path.join(work, name), tmp=work)
    forms[name] = (truth, case)

sim = pension.Sim(password=PASSWORD)
d = Daemon(workers=2)
text = open(os.path.join(SRCDIR, "playbooks", "unemployment-claim.cfg"), encoding="utf-8").read()
text = text.replace('retry = { attempts = 6; initial = "1s"; max = "1m"; };',
                    'retry = { attempts = 3; initial = "200ms"; max = "1s"; };')
d.write_playbook("unemployment-claim.cfg", text)
os.makedirs(os.path.join(d.pbdir, "templates"))
shutil.copy(os.path.join(SRCDIR, "playbooks", "templates", "unemployment-claim.cfg"),
            os.path.join(d.pbdir, "templates"))
os.makedirs(d.state, exist_ok=True)
cred = os.path.join(d.state, "credentials.cfg")
fd = os.open(cred, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(f'benefits = {{ username = "clerk"; password = "{PASSWORD}";'
            f' base_url = "{sim.url}/ben"; }};\n')
inbox = os.path.join(d.state, "inbox", "unemployment")


def drop(name):
    os.makedirs(inbox, exist_ok=True)
    shutil.copy(os.path.join(work, name), os.path.join(inbox, "." + name))
    os.rename(os.path.join(inbox, "." + name), os.path.join(inbox, name))


def items():
    st, body = d.api("GET", "/api/v1/items?playbook=unemployment-claim&limit=100")
    out = {}
    for i in body.get("items", []) if st == 200 else []:
        st, full = d.api("GET", f"/api/v1/items/{i['id']}")
        p = full.get("payload")
        full["payload"] = json.loads(p) if isinstance(p, str) else (p or {})
        out[full["payload"].get("name") or os.path.basename(full["payload"].get("file", ""))] = full
    return out


def settled(n):
    def f():
        it = items()
        return len(it) >= n and all(i["state"] in ("done", "rejected", "escalated")
                                    for i in it.values())
    return f


def ben_subs(id_no=None):
    return [s for s in sim.submissions() if s["system"] == "ben" and
            (id_no is None or s["id_no"] == id_no)]


try:
    d.start()
    good_truth, good_case = forms["claim-good.png"]
    bad_truth, bad_case = forms["claim-wrong-id.png"]
    drop("claim-good.png")
    drop("claim-wrong-id.png")
    # A good form enqueued with the case data of another person.
    other_truth, _ = forms["claim-other.png"]
    upload = os.path.join(d.state, "uploads")
    os.makedirs(upload)
    shutil.copy(os.path.join(work, "claim-other.png"), upload)
    st, body = d.api("POST", "/api/v1/playbooks/unemployment-claim/run", {
        "key": "case-other", "payload": {
            "file": os.path.join(upload, "claim-other.png"),
            "case": {"name": other_truth["name"], "id_no": good_case["id_no"]}}})
    t.check(st in (200, 201), "a claim with case data is enqueued through the API", body)
    n = 3
    refused_id = None
    if not asan:
        # ... and one whose case data is its own.
        m_truth, _ = forms["claim-matched.png"]
        shutil.copy(os.path.join(work, "claim-matched.png"), upload)
        st, body = d.api("POST", "/api/v1/playbooks/unemployment-claim/run", {
            "key": "case-matched", "payload": {
                "file": os.path.join(upload, "claim-matched.png"),
                "case": {"name": m_truth["name"], "id_no": m_truth["id_no"]}}})
        n += 1
        refused_id = forms["claim-refused.png"][1]["id_no"]
        sim.faults(refuse_ids={refused_id: "参保人失业保险缴费不满一年"})
        drop("claim-refused.png")
        n += 1
    d.wait_for(settled(n), 300 if asan else 120, "claims checked and submitted")
    it = items()
    good = it.get("claim-good.png", {})
    t.eq(good.get("state"), "done", "the good claim form is done")
    steps = {s.get("step") or s.get("step_id"): s for s in good.get("steps", [])}
    out = steps.get("submit", {}).get("output")
    out = json.loads(out) if isinstance(out, str) else (out or {})
    t.check(str(out.get("claim_no", "")).startswith("SY"),
            "the claim number is taken from the benefits system's page", out)
    subs = ben_subs(good_truth["id_no"])
    t.eq([s["kind"] for s in subs], ["new"],
         "the good claim was submitted exactly once, under the ID read from the form")
    t.eq(subs and subs[0]["request_key"], f"clerk-{good.get('id')}-submit",
         "with the key item + step")
    claims = sim.get("/_sim/cases").get("ben", [])
    c0 = [c for c in claims if c["id_no"] == good_truth["id_no"]]
    t.check(c0 and c0[0]["name"] == good_truth["name"] and c0[0]["amount"] == "1980.00",
            "the benefits system got the name read from the form and the amount", claims)

    bad = it.get("claim-wrong-id.png", {})
    t.eq(bad.get("state"), "rejected", "the form with a wrong ID number is rejected")
    le = bad.get("last_error") or ""
    t.check("公民身份号码" in le and "cn_id.check" in le,
            "the rejection says the ID number's check character is wrong", le)
    t.eq(ben_subs(bad_truth["id_no"]) + ben_subs(bad_case["id_no"]), [],
         "nothing was submitted for the wrong-ID form")

    other = it.get("claim-other.png", {})
    esc = (other.get("escalations") or [{}])[-1]
    t.check(other.get("state") == "escalated" and esc.get("reason") == "field.mismatch"
            and "match.case.id_no" in esc.get("message", ""),
            "a form whose ID differs from the case's escalates as a mismatch", esc)
    t.eq(ben_subs(other_truth["id_no"]), [], "nothing was submitted for the mismatched claim")

    if not asan:
        m = it.get("claim-matched.png", {})
        t.eq(m.get("state"), "done", "a form matching its case data is done")
        t.eq([s["kind"] for s in ben_subs(m_truth["id_no"])], ["new"],
             "and its claim was submitted once")

    if refused_id:
        ref = it.get("claim-refused.png", {})
        esc = (ref.get("escalations") or [{}])[-1]
        t.check(ref.get("state") == "escalated" and esc.get("reason") == "refused"
                and "E4001" in esc.get("message", ""),
                "a refusal by the benefits system escalates with its code", esc)
        t.eq([s["kind"] for s in ben_subs(refused_id)], ["refused"],
             "the refused claim was sent once")

    stt = sim.stats()
    t.eq((stt["duplicates"], stt["double_registrations"]), (0, 0),
         "the benefits system saw no duplicate submission")
    arch = [f for _, _, fs in os.walk(os.path.join(d.state, "archive", "unemployment"))
            for f in fs]
    quar = os.listdir(os.path.join(d.state, "quarantine", "unemployment"))
    t.check(any(f.endswith("claim-good.png") for f in arch) and
            any(f.endswith("claim-wrong-id.png") for f in quar),
            "accepted forms are archived, rejected ones quarantined", (arch, quar))
    t.check(d.proc.poll() is None, "clerkd still runs")
finally:
    d.cleanup()
    sim.stop()
    shutil.rmtree(work, ignore_errors=True)
t.done()
