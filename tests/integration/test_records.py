#!/usr/bin/env python3
"""Record matching end to end: generated populations with ground truth
(tests/records_gen.py) through `clerkctl records match --self` (precision
and recall per threshold, every invalid row reported and still matched),
bad input with file:line, and the bundled record-merge and
benefit-crosscheck playbooks in the real clerkd: merge instructions and
per-cluster reviewer items, suspensions and per-case reviewer items with
the amounts at risk equal to the truth's, a person in both registries
reported once with both reasons, a malformed file escalating the run.
Without push the files are the hand-over (with push:
test_records_push.py)."""
import collections
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

from harness import CLERKCTL, SRCDIR, Daemon, Tap

GEN = os.path.join(SRCDIR, "tests", "records_gen.py")
t = Tap()
work = tempfile.mkdtemp(prefix="clerk-records-")


def records(*args):
    return subprocess.run([CLERKCTL, "records", "match", *args], capture_output=True,
                          text=True, timeout=300)


def generate(seed, people, encoding, rate=0.02):
    d = os.path.join(work, f"gen-{seed}-{encoding}")
    subprocess.run([sys.executable, GEN, "--people", str(people), "--seed", str(seed),
                    "--out", d, "--encoding", encoding, "--rate", str(rate)],
                   check=True, capture_output=True)
    return d, json.load(open(os.path.join(d, "truth.json")))


def read_pairs(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            a, b = int(r["left_line"]), int(r["right_line"])
            out[(min(a, b), max(a, b))] = r
    return out


def merge_truth(seed, people, encoding):
    d, truth = generate(seed, people, encoding)
    out = os.path.join(d, "out")
    r = records("--left", os.path.join(d, "insured.csv"), "--self",
                "--rules", os.path.join(d, "rules-merge.cfg"), "--out", out)
    name = f"seed {seed}, {people} people, {encoding}"
    if not t.check(r.returncode == 4, f"{name}: records match runs, with pairs for review (exit 4)",
                   r.stdout[-800:] + r.stderr[-800:]):
        return
    want = {(min(a, b), max(a, b)): (k, v) for a, b, k, v in truth["merge"]["pairs"]}
    got = read_pairs(os.path.join(out, "pairs.csv"))
    auto = [k for k, v in got.items() if v["decision"] == "auto"]
    review = [k for k, v in got.items() if v["decision"] == "review"]
    good_auto = sum(k in want for k in auto)
    t.check(auto and good_auto / len(auto) >= 0.999,
            f"{name}: auto precision {good_auto}/{len(auto)} >= 99.9%",
            [(k, got[k]) for k in auto if k not in want][:5])
    found = sum(k in got for k in want)
    t.check(found / len(want) >= 0.99, f"{name}: recall {found}/{len(want)} >= 99% at review",
            collections.Counter(want[k][0] for k in want if k not in got))
    good_review = sum(k in want for k in review)
    t.check(good_review / max(1, len(review)) >= 0.9,
            f"{name}: review precision {good_review}/{len(review)} >= 90%",
            [(k, got[k]) for k in review if k not in want][:5])
    # the kinds that must be auto (same valid or 15-digit ID) and review
    by_kind = collections.defaultdict(collections.Counter)
    for k, (kind, _) in want.items():
        by_kind[kind][got[k]["decision"] if k in got else "missed"] += 1
    t.check(all(set(by_kind[k]) == {"auto"} for k in ("exact", "id15", "overlap")),
            f"{name}: exact and 15/18-digit duplicates are auto", dict(by_kind))
    t.check(all(set(by_kind[k]) <= {"review"} for k in ("typo", "transposed")),
            f"{name}: ID typos and transposed digits are for review", dict(by_kind))
    t.check(set(by_kind["bad_birth"]) == {"auto"},
            f"{name}: an impossible birth date in the column is still matched", dict(by_kind))
    with open(os.path.join(out, "issues.csv"), encoding="utf-8") as f:
        issues = {int(r["line"]): r["issue"] for r in csv.DictReader(f)}
    missing = [ln for ln in truth["merge"]["issues"] if ln not in issues]
    t.check(not missing, f"{name}: every invalid ID and impossible date is reported per row "
            f"({len(truth['merge']['issues'])})", missing[:5])
    t.check(any("check character" in v for v in issues.values()) and
            any("not a real date" in v for v in issues.values()),
            f"{name}: the issues say what is wrong", list(issues.values())[:3])
    return d


try:
    d20 = merge_truth(21, 20000, "utf-8")
    merge_truth(22, 3000, "gbk")

    # bad input
    bad = os.path.join(work, "bad")
    os.makedirs(bad)
    with open(os.path.join(d20, "insured.csv"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines[7] = lines[7] + ",extra"
    with open(os.path.join(bad, "insured.csv"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    r = records("--left", os.path.join(bad, "insured.csv"), "--self",
                "--rules", os.path.join(d20, "rules-merge.cfg"), "--out", os.path.join(bad, "out"))
    t.check(r.returncode == 1 and f"{bad}/insured.csv:8:" in r.stderr,
            "a malformed row fails with file:line", r.stderr)
    t.check(not os.path.exists(os.path.join(bad, "out", "pairs.csv")), "and writes no half report")
    r = records("--left", os.path.join(work, "gen-22-gbk", "insured.csv"), "--self",
                "--rules", os.path.join(d20, "rules-merge.cfg"), "--out", os.path.join(bad, "out"))
    t.check(r.returncode == 1 and "insured.csv:" in r.stderr and "GBK" in r.stderr,
            "a GBK file read as UTF-8 is refused, naming the line", r.stderr)
    with open(os.path.join(bad, "rules.cfg"), "w") as f:
        f.write('left = { columns = { id = "身份证号"; }; };\nblocking = [ "everything" ];\n')
    r = records("--left", os.path.join(d20, "insured.csv"), "--self",
                "--rules", os.path.join(bad, "rules.cfg"))
    t.check(r.returncode == 1 and "rules.cfg:2:" in r.stderr, "a bad rule fails with file:line", r.stderr)
    r = records("--left", os.path.join(d20, "insured.csv"))
    t.eq(r.returncode, 2, "records match without --right or --self is a usage error")

    # The bundled playbooks in the daemon.
    dx, truth = generate(31, 3000, "utf-8", rate=0.02)
    dm = Daemon()
    try:
        for pb in ("record-merge.cfg", "record-merge-case.cfg", "benefit-crosscheck.cfg",
                   "benefit-crosscheck-case.cfg"):
            shutil.copy(os.path.join(SRCDIR, "playbooks", pb), dm.pbdir)
        os.makedirs(os.path.join(dm.pbdir, "rules"))
        for rf in ("record-merge.cfg", "benefit-crosscheck.cfg"):
            shutil.copy(os.path.join(SRCDIR, "playbooks", "rules", rf), os.path.join(dm.pbdir, "rules"))
        regs = os.path.join(dm.state, "registries")
        os.makedirs(regs)
        shutil.copy(os.path.join(dx, "deaths.csv"), os.path.join(regs, "deaths.csv"))
        shutil.copy(os.path.join(dx, "prison.csv"), os.path.join(regs, "prison.csv"))
        shutil.copy(os.path.join(dx, "other.csv"), os.path.join(regs, "other-regions.csv"))
        dm.start()

        def drop(inbox, src, name):
            inbox = os.path.join(dm.state, "inbox", inbox)
            dm.wait_for(lambda: os.path.isdir(inbox), 5, "inbox")
            shutil.copy(src, os.path.join(inbox, ".tmp"))
            os.rename(os.path.join(inbox, ".tmp"), os.path.join(inbox, name))

        def run_of(playbook, key_part):
            st, body = dm.api("GET", f"/api/v1/items?playbook={playbook}")
            for it in body["items"]:
                if key_part in it["key"]:
                    return dm.api("GET", f"/api/v1/items/{it['id']}")[1]
            return None

        def escalations(playbook):
            st, body = dm.api("GET", f"/api/v1/escalations?playbook={playbook}&limit=1000")
            return body["escalations"]

        # 四比对
        drop("crosscheck", os.path.join(dx, "recipients.csv"), "2026-11.csv")
        run = dm.wait_for(lambda: (lambda r: r if r and r["state"] == "done" else None)(
            run_of("benefit-crosscheck", "2026-11.csv")), 60, "crosscheck run done")
        out = run["steps"][0]["output"]
        cases = json.load(open(os.path.join(dm.state, "reports", "records", "crosscheck",
                                            "2026-11", "cases.json")))
        want = truth["crosscheck"]["cases"]
        got = {str(c["recipient"]["line"]): c for c in cases["cases"]}
        t.check(set(got) == set(want), f"四比对: the {len(want)} cases of the truth, no other",
                (sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5]))
        bad_cases = []
        for ln, w in want.items():
            g = got.get(ln)
            if g is None:
                continue
            if (sorted(g["reasons"]) != w["reasons"] or (g["action"] == "suspend") != w["exact"]
                    or g["payments_at_risk_count"] != w["payments_at_risk"]
                    or g["amount_at_risk_fen"] != w["amount_at_risk_fen"]
                    or g["payments_at_risk"] != w["at_risk"][:60]):
                bad_cases.append((ln, w["kind"], g["reasons"], g["action"],
                                  g["payments_at_risk_count"], w["payments_at_risk"]))
        t.check(not bad_cases, "四比对: every case has the truth's reasons, action, payments "
                "and amount at risk", bad_cases[:5])
        total = sum(w["amount_at_risk_fen"] for w in want.values())
        t.eq(out["total_at_risk_fen"], total, "四比对: the total at risk is the sum of the cases")
        t.check(out["push"] is None and out["pushed"] == 0 and
                not dm.counts().get("benefit-suspend"),
                "四比对: without push the suspension list is the hand-over, nothing is pushed",
                (out.get("push"), out.get("pushed")))
        both = [ln for ln, w in want.items() if w["kind"] == "both"]
        t.check(both and all(sorted(got[ln]["reasons"]) == ["deceased", "in_prison"] for ln in both),
                f"四比对: a person in both registries is one case with both reasons ({len(both)})")
        with open(os.path.join(dm.state, "reports", "records", "crosscheck", "2026-11",
                               "suspensions.csv"), encoding="utf-8") as f:
            susp = {r["line"] for r in csv.DictReader(f)}
        t.eq(susp, {ln for ln, w in want.items() if w["exact"]},
             "四比对: exact-ID cases, and only they, are on the suspension list")
        fuzzy = {ln for ln, w in want.items() if not w["exact"]}
        esc = dm.wait_for(lambda: len(escalations("benefit-crosscheck-case")) == len(fuzzy) and
                          escalations("benefit-crosscheck-case"), 20, "fuzzy case items")
        t.check(all(e["reason"] == "crosscheck_fuzzy_hit" for e in esc),
                f"四比对: each of the {len(fuzzy)} fuzzy cases is a reviewer's item", esc[:2])
        it = dm.api("GET", f"/api/v1/items/{esc[0]['item']}")[1]
        comp = it["payload"]["hits"][0]["components"]
        t.check(set(comp) == {"id", "name", "birth", "sex", "region"} and
                "amount_at_risk" in it["payload"] and it["payload"]["hits"][0]["right"]["file"],
                "四比对: with the components, the registry record and the amount as evidence",
                it["payload"])

        # a reviewer confirms one fuzzy hit: its next payment is suspended
        e0 = esc[0]
        st, _ = dm.api("POST", f"/api/v1/escalations/{e0['id']}/decide",
                       {"decision": "approve", "by": "reviewer"})
        t.eq(st, 200, "四比对: a reviewer approves a fuzzy hit")
        dm.wait_for(lambda: dm.api("GET", f"/api/v1/items/{e0['item']}")[1]["state"] == "done",
                    10, "approved case done")
        case = dm.api("GET", f"/api/v1/items/{e0['item']}")[1]["payload"]
        path = os.path.join(dm.state, "reports", "records", "crosscheck", "approved-suspensions.csv")
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        t.check(len(rows) == 1 and rows[0]["line"] == str(case["recipient"]["line"]) and
                rows[0]["next_payment"] == case["next_payment"] and
                rows[0]["review"] == f"item:{e0['item']}",
                "四比对: and the next payment goes on the approved suspension list", rows)

        # 参保信息合并
        drop("records-merge", os.path.join(dx, "insured.csv"), "register-2026-11.csv")
        run = dm.wait_for(lambda: (lambda r: r if r and r["state"] == "done" else None)(
            run_of("record-merge", "register-2026-11.csv")), 60, "merge run done")
        out = run["steps"][0]["output"]
        kinds = collections.Counter(k for a, b, k, v in truth["merge"]["pairs"])
        expect_auto = kinds["exact"] + kinds["id15"] + kinds["bad_birth"]
        t.eq((out["auto_merged"], out["double_enrolment"]), (expect_auto, kinds["overlap"]),
             "合并: exact-ID duplicates are merged, overlapping periods are double enrolments")
        t.check(out["push"] is None and out["pushed"] == 0 and
                not dm.counts().get("record-merge-push"),
                "合并: without push the instructions file is the hand-over, nothing is pushed",
                (out.get("push"), out.get("pushed")))
        with open(os.path.join(dm.state, "reports", "records", "merge", "register-2026-11",
                               "merge-instructions.csv"), encoding="utf-8") as f:
            instr = list(csv.DictReader(f))
        pairs = {(min(int(r["survivor_line"]), int(r["merged_line"])),
                  max(int(r["survivor_line"]), int(r["merged_line"]))) for r in instr}
        t.eq(pairs, {(min(a, b), max(a, b)) for a, b, k, v in truth["merge"]["pairs"]
                     if v == "auto-merge"}, "合并: the merge instructions are the truth's auto merges")
        t.check(all(r["combined_periods"].count("~") >= 1 for r in instr),
                "合并: each with the combined contribution periods", instr[:2])
        nopen = out["for_review"] + out["double_enrolment"]
        esc = dm.wait_for(lambda: len(escalations("record-merge-case")) == nopen and
                          escalations("record-merge-case"), 20, "cluster items")
        reasons = collections.Counter(e["reason"] for e in esc)
        t.eq(reasons["possible_double_enrolment"], kinds["overlap"],
             "合并: double enrolment is its own reason for the reviewer")
        t.check(reasons["duplicate_review"] == out["for_review"] > 0,
                "合并: fuzzy duplicates are reviewer items", reasons)
        it = dm.api("GET", f"/api/v1/items/{esc[0]['item']}")[1]
        t.check(it["payload"]["links"] and "components" in it["payload"]["links"][0] and
                it["payload"]["survivor"]["line"], "合并: with the survivor and the links' components",
                it["payload"])

        # a reviewer confirms one fuzzy duplicate: the merge is written
        e0 = [x for x in esc if x["reason"] == "duplicate_review"][0]
        st, _ = dm.api("POST", f"/api/v1/escalations/{e0['id']}/decide",
                       {"decision": "approve", "by": "reviewer"})
        dm.wait_for(lambda: dm.api("GET", f"/api/v1/items/{e0['item']}")[1]["state"] == "done",
                    10, "approved cluster done")
        cl = dm.api("GET", f"/api/v1/items/{e0['item']}")[1]["payload"]
        with open(os.path.join(dm.state, "reports", "records", "merge", "approved-merges.csv"),
                  encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        t.check(st == 200 and len(rows) == len(cl["members"]) - 1 and
                all(r["survivor_line"] == str(cl["survivor"]["line"]) and
                    r["cluster"] == f"item:{e0['item']}" for r in rows) and
                {r["merged_line"] for r in rows} ==
                {str(m["line"]) for m in cl["members"]} - {str(cl["survivor"]["line"])},
                "合并: an approved cluster's merges are written with its survivor", rows)

        # a malformed recipients file escalates the run with file:line
        with open(os.path.join(dx, "recipients.csv"), encoding="utf-8") as f:
            rows = f.read().splitlines()
        rows[4] = rows[4].replace(",2026-10-15", ",2026-13-45")
        with open(os.path.join(work, "broken.csv"), "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
        drop("crosscheck", os.path.join(work, "broken.csv"), "broken.csv")
        run = dm.wait_for(lambda: (lambda r: r if r and r["state"] == "escalated" else None)(
            run_of("benefit-crosscheck", "broken.csv")), 30, "malformed run escalated")
        e = [x for x in escalations("benefit-crosscheck") if x["item"] == run["id"]]
        t.check(e and e[0]["reason"] == "bad_input_file" and "broken.csv:5:" in e[0]["message"],
                "a malformed file escalates the run with file:line", e)
        t.eq(dm.stop(), 0, "clean stop")
    finally:
        dm.cleanup()
finally:
    if not os.environ.get("CLERK_KEEP_TMP"):
        shutil.rmtree(work, ignore_errors=True)
t.done()
