#!/usr/bin/env python3
"""record-merge and benefit-crosscheck with push configured, against the
legacy-system simulator (tests/legacysim): every certain merge and every
exact-ID suspension reaches the register / benefits system exactly once
through record-merge-push and benefit-suspend, under 5xx, hangs and
kill -9 of clerkd mid-push; a locked record and an ended benefit are
refused and escalate with the evidence; a reviewer's approval pushes the
approved merge and suspension too. (Without push the files are the
hand-over: test_records.py.)"""
import collections
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from harness import SRCDIR, Daemon, Tap
import pension

GEN = os.path.join(SRCDIR, "tests", "records_gen.py")
PLAYBOOKS = ("record-merge.cfg", "record-merge-case.cfg", "record-merge-push.cfg",
             "benefit-crosscheck.cfg", "benefit-crosscheck-case.cfg", "benefit-suspend.cfg")
seed = int(os.environ.get("CLERK_SEED", str(int(time.time()))))
rng = random.Random(seed)
print(f"# seed {seed} (set CLERK_SEED to repeat)", flush=True)

t = Tap()
work = tempfile.mkdtemp(prefix="clerk-push-")
gen = os.path.join(work, "gen")
subprocess.run([sys.executable, GEN, "--people", "2000", "--seed", "41", "--out", gen],
               check=True, capture_output=True)
truth = json.load(open(os.path.join(gen, "truth.json")))


def rows_of(name):
    with open(os.path.join(gen, name), encoding="utf-8") as f:
        return f.read().splitlines()


insured, recipients = rows_of("insured.csv"), rows_of("recipients.csv")
# One certain merge the register refuses (a locked record) and one exact
# suspension the benefits system refuses; line n is rows[n - 1].
auto_pairs = [p for p in truth["merge"]["pairs"] if p[3] == "auto-merge" and p[2] == "exact"]
locked_id = insured[auto_pairs[len(auto_pairs) // 2][0] - 1].split(",")[0]
exact_lines = sorted(int(k) for k, v in truth["crosscheck"]["cases"].items() if v["exact"])
ended_line = exact_lines[len(exact_lines) // 3]
ended_id = recipients[ended_line - 1].split(",")[0]

# 5xx before and after processing and hangs longer than the connector's
# timeout (outcome unknown), on every path, plus latency so that a kill
# finds requests in flight.
sim = pension.Sim(faults={"latency_ms": 20, "error_rate": 0.08, "error_after_rate": 0.05,
                          "timeout_rate": 0.05, "hang_s": 0.8,
                          "locked_ids": [locked_id],
                          "refuse_ids": {ended_id: "待遇已终止，无需暂停"}},
                  seed=seed)
d = Daemon(workers=6)


def pushing(name):
    text = open(os.path.join(SRCDIR, "playbooks", name), encoding="utf-8").read()
    text = text.replace('# push = "record-merge-push";', 'push = "record-merge-push";')
    text = text.replace('# push = "benefit-suspend";', 'push = "benefit-suspend";')
    text = text.replace('timeout = "15s";', 'timeout = "600ms";')
    text = text.replace('retry = { attempts = 6; initial = "1s"; max = "1m"; };',
                        'retry = { attempts = 30; initial = "100ms"; max = "500ms"; };')
    text = text.replace('breaker = { failures = 10; open = "3s"; };',
                        'breaker = { failures = 10; open = "300ms"; };')
    return text


def by_playbook(playbook):
    st, body = d.api("GET", f"/api/v1/items?playbook={playbook}&limit=10000")
    return body["items"]


def escalations(playbook):
    st, body = d.api("GET", f"/api/v1/escalations?playbook={playbook}&limit=1000")
    return body["escalations"]


def drop(inbox, src, name):
    inbox = os.path.join(d.state, "inbox", inbox)
    d.wait_for(lambda: os.path.isdir(inbox), 10, "inbox")
    shutil.copy(src, os.path.join(inbox, ".tmp"))
    os.rename(os.path.join(inbox, ".tmp"), os.path.join(inbox, name))


def new_subs(op):
    return [s for s in sim.submissions() if s.get("op") == op and s["kind"] == "new"]


try:
    for pb in PLAYBOOKS:
        d.write_playbook(pb, pushing(pb))
    os.makedirs(os.path.join(d.pbdir, "rules"))
    for rf in ("record-merge.cfg", "benefit-crosscheck.cfg"):
        shutil.copy(os.path.join(SRCDIR, "playbooks", "rules", rf), os.path.join(d.pbdir, "rules"))
    regs = os.path.join(d.state, "registries")
    os.makedirs(regs)
    for src, dst in (("deaths.csv", "deaths.csv"), ("prison.csv", "prison.csv"),
                     ("other.csv", "other-regions.csv")):
        shutil.copy(os.path.join(gen, src), os.path.join(regs, dst))
    fd = os.open(os.path.join(d.state, "credentials.cfg"), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'register = {{ username = "clerk"; password = "sim-password";'
                f' base_url = "{sim.url}/reg"; }};\n'
                f'benefits = {{ username = "clerk"; password = "sim-password";'
                f' base_url = "{sim.url}/ben"; }};\n')
    d.start()
    drop("crosscheck", os.path.join(gen, "recipients.csv"), "2026-11.csv")
    drop("records-merge", os.path.join(gen, "insured.csv"), "register-2026-11.csv")

    # kill -9 while the merges and suspensions are being pushed
    at_kill = []
    for r in range(3):
        time.sleep(rng.uniform(1.0, 3.0))
        d.kill9()
        at_kill.append(len(new_subs("merge")) + len(new_subs("suspend")))
        d.start()
    kills = len(at_kill)

    def runs_done():
        c = d.counts()
        return (c.get("record-merge", {}).get("done") == 1 and
                c.get("benefit-crosscheck", {}).get("done") == 1)
    d.wait_for(runs_done, 120, "both runs done")
    out_dir = os.path.join(d.state, "reports", "records")
    with open(os.path.join(out_dir, "merge", "register-2026-11", "merge-instructions.csv"),
              encoding="utf-8") as f:
        instr = list(csv.DictReader(f))
    want_merges = collections.defaultdict(set)
    for r in instr:
        want_merges[f"{r['survivor_line']}:{r['survivor_id']}"].add(
            f"{r['merged_line']}:{r['merged_id']}")
    with open(os.path.join(out_dir, "crosscheck", "2026-11", "suspensions.csv"),
              encoding="utf-8") as f:
        want_susp = {(r["id"], r["next_payment"]) for r in csv.DictReader(f)}
    t.check(len(want_merges) > 50 and len(want_susp) > 100,
            f"the runs wrote {len(want_merges)} merges and {len(want_susp)} suspensions to their"
            " files, with push configured too", (len(want_merges), len(want_susp)))

    def settled():
        c = d.counts()
        m, s = c.get("record-merge-push", {}), c.get("benefit-suspend", {})
        return (m.get("done", 0) + m.get("escalated", 0) == len(want_merges) and
                s.get("done", 0) + s.get("escalated", 0) == len(want_susp))
    try:
        d.wait_for(settled, 240, "every push settled")
        ok = True
    except TimeoutError:
        ok = False
    counts = d.counts()
    t.check(ok, f"after {kills} kill -9 mid-push, one push item per merge and suspension, each"
            " settled", {k: counts.get(k) for k in ("record-merge-push", "benefit-suspend")})

    total = len(new_subs("merge")) + len(new_subs("suspend"))
    t.check(any(0 < n < total for n in at_kill),
            f"a kill came mid-push (new sends at each kill: {at_kill} of {total})")
    merges = sim.get("/_sim/cases")["merges"]
    got_merges = {m["survivor"]: set(m["merged"].split(";")) for m in merges}
    locked = {s for s in want_merges if s.split(":")[1] == locked_id}
    t.eq(len(locked), 1, "one certain merge involves the locked record")
    t.eq(got_merges, {s: v for s, v in want_merges.items() if s not in locked},
         "the register has every certain merge but the locked one, with the right records")
    nm = collections.Counter(s["id_no"] for s in new_subs("merge"))
    t.check(nm and all(v == 1 for v in nm.values()), "each merge was registered exactly once",
            [k for k, v in nm.items() if v > 1][:5])
    susp = sim.get("/_sim/cases")["suspensions"]
    got_susp = {(s["id_no"], s["next_payment"]) for s in susp}
    t.eq(got_susp, {x for x in want_susp if x[0] != ended_id},
         "the benefits system has every exact suspension but the refused one")
    ns = collections.Counter((s["id_no"]) for s in new_subs("suspend"))
    t.check(ns and all(v == 1 for v in ns.values()),
            "each payment was suspended exactly once", [k for k, v in ns.items() if v > 1][:5])
    st = sim.stats()
    t.check(st["duplicates"] == 0 and st["kinds"]["duplicate"] == 0 and
            st["double_registrations"] == 0,
            "zero sends under a second key, zero double registrations (simulator)",
            {k: st[k] for k in ("duplicates", "double_registrations", "kinds")})
    inj = st["faults_injected"]
    t.check(inj["error"] > 0 and inj["timeout"] > 0 and inj["error_after"] > 0,
            "5xx before and after processing and hangs were injected", inj)
    amounts = {(s["id_no"], s["next_payment"]): s["amount"] for s in susp}
    cases = json.load(open(os.path.join(out_dir, "crosscheck", "2026-11", "cases.json")))
    case_amount = {(c["recipient"]["id"], c["next_payment"]): c["amount_at_risk"]
                   for c in cases["cases"]}
    t.check(amounts and all(case_amount.get(k) == v for k, v in amounts.items()),
            "each suspension carries the case's amount at risk and its reasons",
            [(k, v, case_amount.get(k)) for k, v in amounts.items()
             if case_amount.get(k) != v][:3])
    t.check(all(s["reasons"] for s in susp), "with the reasons", susp[:2])

    # the refusals escalate with the legacy system's answer as evidence
    esc = escalations("record-merge-push")
    t.check(len(esc) == 1 and esc[0]["reason"] == "refused" and "E5001" in esc[0]["message"]
            and "已锁定" in esc[0]["message"],
            "the locked record's merge is refused (E5001) and escalates", esc)
    if esc:
        it = d.api("GET", f"/api/v1/items/{esc[0]['item']}")[1]
        db = d.db()
        ctx = db.execute("SELECT context FROM escalations WHERE item = ?",
                         (esc[0]["item"],)).fetchone()
        db.close()
        ctx = json.loads(ctx[0]) if ctx and ctx[0] else {}
        t.check(it["payload"]["survivor"] in locked and it["payload"]["cluster"]["members"] and
                any("E5001" in e.get("body", "") for e in ctx.get("evidence", [])),
                "with the cluster and the register's reply as evidence", (it["payload"], ctx))
    esc = escalations("benefit-suspend")
    t.check(len(esc) == 1 and esc[0]["reason"] == "refused" and "E6001" in esc[0]["message"]
            and "待遇已终止" in esc[0]["message"],
            "the ended benefit's suspension is refused (E6001) and escalates", esc)
    pushed = sum(1 for it in by_playbook("record-merge-push")), \
        sum(1 for it in by_playbook("benefit-suspend"))
    t.eq(pushed, (len(want_merges), len(want_susp)), "no push item lost, none twice")

    # a reviewer's approval pushes too
    sim.faults(error_rate=0, error_after_rate=0, timeout_rate=0)
    e_m = [x for x in escalations("record-merge-case") if x["reason"] == "duplicate_review"][0]
    e_s = escalations("benefit-crosscheck-case")[0]
    for e in (e_m, e_s):
        st_, _ = d.api("POST", f"/api/v1/escalations/{e['id']}/decide",
                       {"decision": "approve", "by": "reviewer"})
        t.eq(st_, 200, f"a reviewer approves {e['reason']}")
    cl = d.api("GET", f"/api/v1/items/{e_m['item']}")[1]["payload"]
    kase = d.api("GET", f"/api/v1/items/{e_s['item']}")[1]["payload"]
    surv = f"{cl['survivor']['line']}:{cl['survivor']['id']}"
    try:
        d.wait_for(lambda: surv in {m["survivor"] for m in sim.get("/_sim/cases")["merges"]},
                   30, "approved merge pushed")
    except TimeoutError:
        pass
    m = [x for x in sim.get("/_sim/cases")["merges"] if x["survivor"] == surv]
    t.eq(set(m[0]["merged"].split(";")) if m else None,
         {f"{x['line']}:{x['id']}" for x in cl["members"]} - {surv},
         "the approved cluster's merge reaches the register, survivor and members")
    key = (kase["recipient"]["id"], kase["next_payment"])
    try:
        d.wait_for(lambda: key in {(s["id_no"], s["next_payment"])
                                   for s in sim.get("/_sim/cases")["suspensions"]}, 30,
                   "approved suspension pushed")
        ok = True
    except TimeoutError:
        ok = False
    t.check(ok, "the approved fuzzy hit's payment is suspended in the benefits system", key)
    with open(os.path.join(out_dir, "merge", "approved-merges.csv"), encoding="utf-8") as f:
        t.check(any(r["cluster"] == f"item:{e_m['item']}" for r in csv.DictReader(f)),
                "the approved merge is still written to approved-merges.csv")
    t.eq(d.stop(), 0, "clean stop")
    nm = collections.Counter(s["id_no"] for s in new_subs("merge"))
    t.check(all(v == 1 for v in nm.values()), "still no merge registered twice")
finally:
    d.cleanup()
    sim.stop()
    if not os.environ.get("CLERK_KEEP_TMP"):
        shutil.rmtree(work, ignore_errors=True)
t.done()
