#!/usr/bin/env python3
"""Fund reconciliation end to end: generated statement/ledger pairs with
known ground truth through `clerkctl reconcile` (every match and every
difference must be found, nothing else), the 余额调节表 must equal the
truth's, bad input must fail with file:line, and the bundled fund-reconcile
playbook must escalate the sample's differences and file it on approval."""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import CLERKCTL, SRCDIR, Daemon, Tap

GEN = os.path.join(SRCDIR, "tests", "recon_gen.py")
t = Tap()
work = tempfile.mkdtemp(prefix="clerk-recon-")


def reconcile(*args):
    return subprocess.run([CLERKCTL, "reconcile", *args], capture_output=True,
                          text=True, timeout=300)


def ground_truth(seed, lines, encoding):
    d = os.path.join(work, f"gen-{seed}-{encoding}")
    subprocess.run([sys.executable, GEN, "--lines", str(lines), "--seed", str(seed),
                    "--out", d, "--encoding", encoding], check=True,
                   capture_output=True)
    banks = ["--bank", os.path.join(d, "bank.csv")]
    if os.path.exists(os.path.join(d, "bank-overlap.csv")):
        banks += ["--bank", os.path.join(d, "bank-overlap.csv")]
    r = reconcile(*banks, "--ledger", os.path.join(d, "ledger.csv"),
                  "--rules", os.path.join(d, "rules.cfg"), "--out", os.path.join(d, "out"))
    name = f"seed {seed}, {lines} lines, {encoding}"
    if not t.check(r.returncode == 4, f"{name}: reconcile runs and reports differences (exit 4)",
                   r.stdout[-800:] + r.stderr[-800:]):
        return
    truth = json.load(open(os.path.join(d, "truth.json")))
    res = json.load(open(os.path.join(d, "out", "result.json")))
    bf = [os.path.basename(f) for f in res["bank"]["files"]]
    lf = [os.path.basename(f) for f in res["ledger"]["files"]]

    def loc(files, fl):
        return "%s:%d" % (files[fl[0]], fl[1])
    got_m = collections.Counter(
        (m["kind"], tuple(sorted(loc(bf, x) for x in m["bank"])),
         tuple(sorted(loc(lf, x) for x in m["ledger"])), m["difference"])
        for m in res["matched"])
    exp_m = collections.Counter(
        (m["kind"], tuple(sorted(m["bank"])), tuple(sorted(m["ledger"])), m["difference"])
        for m in truth["matches"])
    got_d = collections.Counter(
        (x["kind"], "%s:%d" % (x["file"], x["line"]) if "line" in x else "-",
         tuple(sorted("%s:%d" % (c["file"], c["line"]) for c in x["candidates"])))
        for x in res["differences"])
    exp_d = collections.Counter(
        (x["kind"], x["line"], tuple(sorted(x["candidates"]))) for x in truth["differences"])
    for what, got, exp in (("matches", got_m, exp_m), ("differences", got_d, exp_d)):
        extra, missing = got - exp, exp - got
        t.check(not extra and not missing,
                f"{name}: {sum(exp.values())} {what}, precision and recall 100%",
                f"unexpected {list(extra)[:5]}\nmissing {list(missing)[:5]}")
    kinds = collections.Counter(x["kind"] for x in truth["differences"])
    t.check(len(kinds) >= 6, f"{name}: the set holds every kind of difference", kinds)
    table, want = res["reconciliation"], truth["reconciliation"]
    bad = {k: (table.get(k), v) for k, v in want.items() if table.get(k) != v}
    t.check(not bad and table.get("ties") is True, f"{name}: the 余额调节表 equals the truth and ties", bad)
    html = open(os.path.join(d, "out", "report.html"), encoding="utf-8").read()
    t.check("余额调节表" in html and "<script" not in html.lower().replace("&lt;script", ""),
            f"{name}: the HTML report has the 余额调节表 and no raw script")


try:
    ground_truth(11, 20000, "utf-8")
    ground_truth(12, 5000, "gbk")

    # bad input: named with file:line, exit 1
    d = os.path.join(work, "bad")
    os.makedirs(d)
    gen = os.path.join(work, "gen-11-utf-8")
    with open(os.path.join(gen, "bank.csv"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines[5] = lines[5].replace("2026-", "2026/", 1)
    with open(os.path.join(d, "bank.csv"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    r = reconcile("--bank", os.path.join(d, "bank.csv"), "--ledger", os.path.join(gen, "ledger.csv"),
                  "--rules", os.path.join(gen, "rules.cfg"), "--out", os.path.join(d, "out"))
    t.check(r.returncode == 1 and f"{d}/bank.csv:6:" in r.stderr,
            "an unparseable date fails with file:line", r.stderr)
    t.check(not os.path.exists(os.path.join(d, "out", "report.html")), "and writes no half report")
    gbk = os.path.join(work, "gen-12-gbk", "bank.csv")
    r = reconcile("--bank", gbk, "--ledger", os.path.join(gen, "ledger.csv"),
                  "--rules", os.path.join(gen, "rules.cfg"), "--out", os.path.join(d, "out"))
    t.check(r.returncode == 1 and "bank.csv:" in r.stderr and "UTF-8" in r.stderr,
            "a GBK file read as UTF-8 is refused, naming the line", r.stderr)
    empty = os.path.join(d, "empty.csv")
    open(empty, "w").close()
    r = reconcile("--bank", empty, "--ledger", os.path.join(gen, "ledger.csv"),
                  "--rules", os.path.join(gen, "rules.cfg"))
    t.check(r.returncode == 1 and "empty.csv" in r.stderr, "an empty statement is refused", r.stderr)
    r = reconcile("--ledger", os.path.join(gen, "ledger.csv"))
    t.eq(r.returncode, 2, "reconcile without --bank is a usage error")
    sample = os.path.join(SRCDIR, "playbooks", "samples", "reconcile")
    with open(os.path.join(sample, "income-2026-11.ledger.csv"), encoding="utf-8") as f:
        october = f.read().replace("2026-11-", "2026-10-")
    with open(os.path.join(d, "october.ledger.csv"), "w", encoding="utf-8") as f:
        f.write(october)
    r = reconcile("--bank", os.path.join(sample, "income-2026-11.bank.csv"),
                  "--ledger", os.path.join(d, "october.ledger.csv"),
                  "--rules", os.path.join(SRCDIR, "playbooks", "rules", "fund-reconcile.cfg"),
                  "--out", os.path.join(d, "out"))
    t.check(r.returncode == 1 and "different periods" in r.stderr and "2026-10-02..2026-10-30" in r.stderr,
            "a ledger of another period is refused, naming both periods", r.stderr)

    # The bundled playbooks in the daemon: the sample month with one more
    # ledger line (the interest, booked late and outside the date window).
    dm = Daemon()
    try:
        for pb in ("fund-reconcile.cfg", "fund-reconcile-difference.cfg"):
            shutil.copy(os.path.join(SRCDIR, "playbooks", pb), dm.pbdir)
        os.makedirs(os.path.join(dm.pbdir, "rules"))
        shutil.copy(os.path.join(SRCDIR, "playbooks", "rules", "fund-reconcile.cfg"),
                    os.path.join(dm.pbdir, "rules"))
        dm.start()
        inbox = os.path.join(dm.state, "inbox", "reconcile")
        dm.wait_for(lambda: os.path.isdir(inbox), 5, "inbox")
        sample = os.path.join(SRCDIR, "playbooks", "samples", "reconcile")
        with open(os.path.join(sample, "income-2026-11.ledger.csv"), encoding="utf-8") as f:
            rows = f.read().splitlines()
        rows = rows[:5] + ['2026-11-25,记-007,利息收入,中国建设银行,,"1,532.18",,"725,277.78",',
                           rows[5].replace('"768,745.60"', '"770,277.78"'),
                           rows[6].replace('"798,745.60"', '"800,277.78"')]

        def drop(stem):
            with open(os.path.join(inbox, stem + ".ledger.csv"), "w", encoding="utf-8") as f:
                f.write("\n".join(rows) + "\n")
            shutil.copy(os.path.join(sample, "income-2026-11.bank.csv"), os.path.join(inbox, ".tmp"))
            os.rename(os.path.join(inbox, ".tmp"), os.path.join(inbox, stem + ".bank.csv"))

        def diffs(run_key_part):
            st, body = dm.api("GET", "/api/v1/escalations?playbook=fund-reconcile-difference&limit=1000")
            out = []
            for e in body["escalations"]:
                it = dm.api("GET", f"/api/v1/items/{e['item']}")[1]
                if run_key_part in it["key"]:
                    out.append((e, it))
            return out

        drop("income-2026-11")
        got = dm.wait_for(lambda: len(diffs("income-2026-11.bank.csv")) == 4 and
                          diffs("income-2026-11.bank.csv"), 20, "four difference items")
        kinds = sorted(it["payload"]["kind"] for e, it in got)
        t.eq(kinds, ["bank_in_not_booked", "bank_out_not_booked", "booked_in_not_bank",
                     "booked_in_not_bank"], "each difference is an item for a reviewer")
        t.check(all(e["reason"] == "reconcile_difference" and e["message"] == it["payload"]["message"]
                    for e, it in got), "with the difference's own message as the escalation")
        st, body = dm.api("GET", "/api/v1/items?playbook=fund-reconcile")
        run = body["items"][0]
        dm.wait_for(lambda: dm.api("GET", f"/api/v1/items/{run['id']}")[1]["state"] == "done", 10, "run done")
        run = dm.api("GET", f"/api/v1/items/{run['id']}")[1]
        t.check(run["steps"][0]["output"]["reconciliation"]["ties"] is True,
                "the run ties, so it is done itself", run["steps"][0]["output"]["reconciliation"])
        t.check(not os.path.exists(os.path.join(inbox, "income-2026-11.bank.csv")),
                "and files the statement away")
        report = os.path.join(dm.state, "reports", "reconcile", "income-2026-11", "report.html")
        t.check(os.path.exists(report), "the report is written for the reviewers")

        # The reviewer says the bank's interest is the ledger's late entry.
        e, it = [x for x in got if x[1]["payload"]["kind"] == "bank_in_not_booked"][0]
        st, body = dm.api("POST", f"/api/v1/escalations/{e['id']}/decide",
                          {"decision": "approve", "by": "finance", "payload": {
                              "match_with": {"ref": "", "amount_fen": 153218, "date": "2026-11-25"}}})
        t.eq(st, 200, "approve with the matching line is accepted")
        dm.wait_for(lambda: dm.api("GET", f"/api/v1/items/{it['id']}")[1]["state"] == "done", 10, "remembered")
        mem = json.load(open(os.path.join(dm.state, "recon-memory", "fund.json")))
        t.eq(mem, [{"bank_ref": "B20261120001", "bank_amount": 153218, "bank_date": "2026-11-20",
                    "ledger_ref": "", "ledger_amount": 153218, "ledger_date": "2026-11-25"}],
             "the match is remembered")
        pair = mem[0]
        # The ledger's interest line is a difference of its own: opened now, it
        # says its line is booked, and a match of it to another line is refused.
        e3, it3 = [x for x in got if x[1]["payload"]["kind"] == "booked_in_not_bank" and
                   x[1]["payload"]["amount_fen"] == 153218][0]
        st, body = dm.api("GET", f"/api/v1/escalations/{e3['id']}")
        t.eq(body.get("matched", {}).get("line"), pair,
             "the other difference on the same line shows the match that booked it")
        st, body = dm.api("POST", f"/api/v1/escalations/{e3['id']}/decide",
                          {"decision": "approve", "by": "finance2", "payload": {
                              "match_with": {"ref": "B20261110001", "amount_fen": -2500,
                                             "date": "2026-11-10"}}})
        t.check(st == 409 and "own line" in body.get("error", {}).get("message", "") and
                "B20261120001" in body.get("error", {}).get("message", ""),
                "matching it to another line is refused (409), naming the match", (st, body))
        # A second reviewer offers the same ledger line for another bank line.
        e2, it2 = [x for x in got if x[1]["payload"]["kind"] == "bank_out_not_booked"][0]
        st, body = dm.api("POST", f"/api/v1/escalations/{e2['id']}/decide",
                          {"decision": "approve", "by": "finance2", "payload": {
                              "match_with": {"ref": "", "amount_fen": 153218, "date": "2026-11-25"}}})
        t.check(st == 409 and "already matched" in body.get("error", {}).get("message", "") and
                "B20261120001" in body.get("error", {}).get("message", ""),
                "a ledger line already matched cannot be booked twice: refused at once,"
                " naming the bank line it is matched to", (st, body))
        t.eq(dm.api("GET", f"/api/v1/escalations/{e2['id']}")[1]["state"], "open",
             "and the difference stays open for another decision")
        t.eq(len(json.load(open(os.path.join(dm.state, "recon-memory", "fund.json")))), 1,
             "and the memory still holds the one match")
        st, body = dm.api("POST", f"/api/v1/escalations/{e3['id']}/decide",
                          {"decision": "approve", "by": "finance2"})
        t.eq(st, 200, "the difference whose line is booked is closed by a plain approval")
        dm.wait_for(lambda: dm.api("GET", f"/api/v1/items/{it3['id']}")[1]["state"] == "done",
                    10, "closed")
        st, body = dm.api("POST", f"/api/v1/escalations/{e2['id']}/decide",
                          {"decision": "reject", "reason": "a wrong entry"})
        t.eq(st, 200, "the reviewer rejects the other one instead")

        # A difference made later that offers a booked line as a candidate shows
        # it as booked, and the other candidates as free.
        st, body = dm.api("POST", "/api/v1/playbooks/fund-reconcile-difference/run", {
            "key": "offered-twice", "payload": {
                "kind": "booked_in_not_bank", "side": "ledger", "ref": "记-099",
                "amount_fen": 153218, "date": "2026-11-21", "message": "两个候选",
                "candidates": [{"ref": "B20261110001", "amount_fen": -2500, "date": "2026-11-10"},
                               {"ref": "B20261120001", "amount_fen": 153218, "date": "2026-11-20"}]}})
        oid = body.get("id") or body.get("item")
        dm.wait_for(lambda: dm.api("GET", f"/api/v1/items/{oid}")[1]["state"] == "escalated",
                    10, "offered-twice escalated")
        e4 = dm.api("GET", f"/api/v1/items/{oid}")[1]["escalations"][-1]
        e4 = dm.api("GET", f"/api/v1/escalations/{e4['id']}")[1]
        t.eq(e4.get("matched"), {"candidates": [{"index": 1, "pair": pair}]},
             "the candidate another reviewer booked is marked, with the match")
        st, body = dm.api("POST", f"/api/v1/escalations/{e4['id']}/decide",
                          {"decision": "approve", "payload": {"match_with": {
                              "ref": "B20261120001", "amount_fen": 153218, "date": "2026-11-20"}}})
        t.eq(st, 409, "and cannot be chosen")
        st, body = dm.api("POST", f"/api/v1/escalations/{e4['id']}/decide",
                          {"decision": "reject", "reason": "test item"})

        # The next run of the account applies it before any pass.
        drop("income-2026-11b")
        got2 = dm.wait_for(lambda: len(diffs("income-2026-11b.bank.csv")) >= 2 and
                           diffs("income-2026-11b.bank.csv"), 20, "second run")
        time.sleep(0.5)
        got2 = diffs("income-2026-11b.bank.csv")
        t.eq(sorted(it["payload"]["kind"] for e, it in got2),
             ["bank_out_not_booked", "booked_in_not_bank"],
             "the next run matches the remembered pair and leaves the other differences")
        st, body = dm.api("GET", "/api/v1/items?playbook=fund-reconcile")
        run2 = dm.api("GET", f"/api/v1/items/{body['items'][0]['id']}")[1]
        dm.wait_for(lambda: dm.api("GET", f"/api/v1/items/{run2['id']}")[1]["state"] == "done", 10, "run 2")
        run2 = dm.api("GET", f"/api/v1/items/{run2['id']}")[1]
        t.eq(run2["steps"][0]["output"]["matches_by_kind"]["manual"], 1, "as a manual match")
        t.eq(dm.stop(), 0, "clean stop")
    finally:
        dm.cleanup()
finally:
    if not os.environ.get("CLERK_KEEP_TMP"):
        shutil.rmtree(work, ignore_errors=True)
t.done()
