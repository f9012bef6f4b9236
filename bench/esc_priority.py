#!/usr/bin/env python3
"""esc_priority.py - what carrying the item's priority costs the escalation
list: the first page of open escalations as clerkd's list query builds it
(tasks/store_sqlite.c, sq_escalation_list_json), without and with the
correlated `(SELECT priority FROM items WHERE id = e.item)`, on a database
of N open escalations seeded by build/bench/escalations_seed. Both forms
run alternately on one read-only connection; medians and their ratio.

    nice python3 bench/esc_priority.py [--build build] [-n 100000] [--reps 60]
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

COLS = ("json_object('id', e.id, 'item', e.item, 'playbook', e.playbook, 'step_id', e.step_id,"
        " 'kind', CASE e.kind WHEN 1 THEN 'system' WHEN 2 THEN 'business' ELSE 'none' END,"
        " 'reason', e.reason, 'message', e.message, 'created', e.created, 'due', e.due,"
        " 'state', e.state, 'decision', e.decision, 'decided_by', e.decided_by,"
        " 'decided_at', e.decided_at, 'decision_reason', e.decision_reason,"
        " 'claimed_by', e.claimed_by, 'claim_expires', e.claim_expires,"
        " 'assignee', e.assignee%s), e.due, e.id")
PRIO = ", 'priority', (SELECT priority FROM items WHERE id = e.item)"


def query(cols, where):
    return (f"SELECT {cols} FROM escalations e WHERE e.state = 'open'{where}"
            " AND (?2 = 0 OR (e.due, e.id) > (?3, ?2)) ORDER BY e.due, e.id LIMIT ?1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=60)
    o = ap.parse_args()
    seed = os.path.join(o.build, "bench", "escalations_seed")
    if not os.access(seed, os.X_OK):
        sys.exit(f"{seed}: not built; run ninja -C {o.build}")
    d = tempfile.mkdtemp(prefix="clerk-esc-prio-", dir="/var/tmp")
    try:
        db = os.path.join(d, "clerk.db")
        r = subprocess.run([seed, "-n", str(o.n), db], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("seeding failed: " + r.stderr)
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        print(f"{o.n} open escalations; medians of {o.reps} runs each")
        for name, where, limit in (("first page, 100 rows", "", 100),
                                   ("playbook=transfer, 100 rows", " AND e.playbook = 'transfer'", 100),
                                   ("first page, 500 rows (the UI's)", "", 500)):
            forms = [("without", query(COLS % "", where)), ("with", query(COLS % PRIO, where))]
            ms = {"without": [], "with": []}
            for i in range(o.reps):
                for k, q in forms if i % 2 else forms[::-1]:
                    t = time.perf_counter()
                    rows = c.execute(q, (limit, 0, 0)).fetchall()
                    ms[k].append((time.perf_counter() - t) * 1000)
                    if len(rows) != min(limit, o.n):
                        sys.exit(f"{name}: {len(rows)} rows; the seed is not what this expects")
            a, b = statistics.median(ms["without"]), statistics.median(ms["with"])
            print(f"  {name}: without priority {a:.3f} ms, with {b:.3f} ms: {b / a:.2f}x")
        c.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
