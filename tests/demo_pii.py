#!/usr/bin/env python3
"""After scripts/demo.sh: the demo's clerkd log carries none of the sample
data's ID numbers or names, and what clerkd wrote (state, archive,
quarantine, page images, reports) is its own only (files 0600, folders
0700). Usage: tests/demo_pii.py DEMO_DIR (default demo-run). Exit 1 with
what was found, 0 when clean."""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(os.path.dirname(HERE), "playbooks", "samples")
demo = sys.argv[1] if len(sys.argv) > 1 else "demo-run"
ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9A-Z])")


def text_of(path):
    raw = open(path, "rb").read()
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass
    return raw.decode("utf-8", "replace")


ids, names = set(), set()
for top, _, files in os.walk(SAMPLES):
    for f in files:
        t = text_of(os.path.join(top, f))
        ids.update(ID.findall(t))
        if f.endswith(".json"):
            for c in json.loads(t):
                if isinstance(c, dict) and c.get("name"):
                    names.add(c["name"])
        elif f.endswith(".csv") and "records" in top:
            rows = [r.split(",") for r in t.splitlines()]
            if rows and "姓名" in rows[0]:
                k = rows[0].index("姓名")
                names.update(r[k] for r in rows[1:] if len(r) > k and len(r[k]) >= 2)
# The claim forms the demo renders now (tests/ocr_gen.py --set demo).
truth = os.path.join(demo, "samples-documents", "truth.json")
if os.path.exists(truth):
    for c in json.load(open(truth, encoding="utf-8")):
        f = c.get("fields", {})
        ids.update(x for x in [f.get("id_no")] if x)
        names.update(x for x in [f.get("name")] if x)

problems = []
log = text_of(os.path.join(demo, "clerkd.log"))
if len(ids) < 20 or len(names) < 20:
    problems.append(f"too few sample IDs ({len(ids)}) or names ({len(names)}) to look for")
found_ids = sorted(i for i in ids if i in log)
found_names = sorted(n for n in names if n in log)
if found_ids:
    problems.append(f"{len(found_ids)} sample ID number(s) in clerkd.log, e.g. {found_ids[:3]}")
if found_names:
    problems.append(f"{len(found_names)} sample name(s) in clerkd.log, e.g. {found_names[:3]}")
if len(log.splitlines()) < 50:
    problems.append("clerkd.log has under 50 lines: did the demo run?")

checked = 0
for sub in ("state", "archive", "quarantine", "artifacts", "reports", "recon-memory"):
    for top, dirs, files in os.walk(os.path.join(demo, sub)):
        for name, want in [(top, 0o700)] + [(os.path.join(top, f), 0o600) for f in files]:
            mode = os.stat(name).st_mode & 0o777
            checked += 1
            if mode & 0o077:
                problems.append(f"{name}: mode {mode:o}, want {want:o}")
if checked < 20:
    problems.append(f"only {checked} files and folders written by clerkd to check")

print(f"demo PII: {len(ids)} sample IDs and {len(names)} names looked for in clerkd.log;"
      f" {checked} files and folders' modes checked")
for p in problems[:20]:
    print("  " + p)
sys.exit(1 if problems else 0)
