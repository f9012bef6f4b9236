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
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from harness import BROWSER_DIR, CHROMIUM, SRCDIR, Daemon, browser_tap, run_node_tests  # noqa: E402
import ocr_gen  # noqa: E402
import pension  # noqa: E402

PBS = os.path.join(SRCDIR, "playbooks")
SIM_PASSWORD = "ui-cases-sim-pw-41"
REFUSAL = "参保人存在欠费记录，请补缴后再办理"
# What the simulator's pages run if a browser ever treats them as HTML.
PAGE_SCRIPT = "window.__legacy_ran = 1; document.title = 'legacy script ran';"

t = browser_tap()

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

    # Three approvals of different priority, for the queue's order.
    d.write_playbook("prio-gate.cfg", '''
name = "prio-gate";
trigger = { manual = true; };
payload = [ "prio" ];
sla = "1h";
steps = ( { id = "review"; use = "escalate"; reason = "needs_review";
            message = "优先级 ${prio} 的复核"; } );
''')
    d.start()
    t.check(True, "clerkd started with the bundled playbooks")
    prio_items = []
    for prio in (1, 7, 9):
        st, body = d.api("POST", "/api/v1/playbooks/prio-gate/run",
                         {"key": f"P{prio}", "priority": prio, "payload": {"prio": prio}})
        prio_items.append(body.get("item") if st == 201 else None)
    t.check(all(prio_items), "three items of priority 1, 7 and 9", prio_items)

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

    # Due times are milliseconds after creation, so two items are seldom
    # due at once; make 1 and 7 due at the same time (9 a minute later) so
    # that only the priority can order them.
    try:
        def prio_escs():
            st, body = d.api("GET", "/api/v1/escalations?open=1&playbook=prio-gate")
            es = body.get("escalations", []) if st == 200 else []
            return len(es) == 3 and {e["item"]: e for e in es}
        pe = d.wait_for(prio_escs, 20, "the three approvals")
        t.eq(sorted((e["item"], e.get("priority")) for e in pe.values()),
             sorted(zip(prio_items, (1, 7, 9))), "each list row carries its item's priority")
        due = min(e["due"] for e in pe.values()) + 10 * 60000
        db = d.db_rw()
        with db:
            for item, at in zip(prio_items, (due, due, due + 60000)):
                db.execute("UPDATE escalations SET due = ? WHERE item = ?", (at, item))
        db.close()
        prio_order = [pe[prio_items[1]]["id"], pe[prio_items[0]]["id"], pe[prio_items[2]]["id"]]
    except TimeoutError as e:
        prio_order = []
        t.check(False, "the three approvals escalate", e)

    if len(found) == 4 and prio_order:
        env = dict(os.environ,
                   CLERK_URL=f"http://127.0.0.1:{d.port}",
                   CLERK_TOKEN=d.token(),
                   CLERK_CASES=json.dumps({k: v["id"] for k, v in found.items()}),
                   CLERK_PRIO_ORDER=json.dumps(prio_order),
                   CLERK_DOC_TRUTH=json.dumps(truth, ensure_ascii=False),
                   CLERK_REFUSAL=REFUSAL,
                   CLERK_PAGE_SCRIPT=PAGE_SCRIPT,
                   CHROMIUM=CHROMIUM,
                   CLERK_SHOTS=os.environ.get("CLERK_SHOTS", "/tmp"))
        run_node_tests(t, os.path.join(BROWSER_DIR, "cases.test.mjs"), BROWSER_DIR, env,
                       300)
    t.eq(d.stop(), 0, "clean stop")
    if t.failed:
        for line in d.log_text().splitlines()[-40:]:
            print("# clerkd: " + line)
finally:
    sim.stop()
    d.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
