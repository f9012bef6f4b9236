#!/bin/sh
# clerk demo: builds clerkd, starts it on embedded defaults (SQLite under
# demo-run/, a copy of the bundled playbooks in playbooks/ with merges and
# suspensions pushed to the simulated legacy systems), feeds it the sample work
# in playbooks/samples/, prints what ran, and keeps running until Ctrl-C.
#
# usage: scripts/demo.sh [--exit-when-done] [--port N]
#   --exit-when-done  stop clerkd and exit once the sample work is settled
#                     (done, or waiting for a reviewer); used by the tests
#   --port N          listen port (default 8470)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

exit_when_done=0
port=8470
while [ $# -gt 0 ]; do
	case "$1" in
	--exit-when-done) exit_when_done=1 ;;
	--port) port=$2; shift ;;
	-h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done

sh scripts/deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null

run="$top/demo-run"
rm -rf "$run"
mkdir -p "$run"
# The bundled playbooks, with push switched on: record-merge and
# benefit-crosscheck (and their reviewers' approvals) send merges and
# suspensions to the simulator's register and benefits systems.
cp -R playbooks "$run/playbooks"
for f in record-merge record-merge-case benefit-crosscheck benefit-crosscheck-case; do
	sed 's/# \(push = "[a-z-]*";\)/\1/' "playbooks/$f.cfg" >"$run/playbooks/$f.cfg"
done
cat > "$run/clerkd.conf" <<CONF
# Written by scripts/demo.sh: embedded defaults for the demo.
state_dir = "state";
work_dir = ".";
listen = "127.0.0.1:$port";
workers = 4;
log_level = "info";
playbook_dir = "$run/playbooks";
timezone = "Asia/Shanghai";
poll = "200ms";
CONF
ctl() { "$top/build/clerkctl" --config "$run/clerkd.conf" "$@"; }

# The two legacy pension systems (转出地 /out, 转入地 /in), the
# benefits system (/ben, for unemployment-claim and benefit-suspend) and
# the insured-person register (/reg, for record-merge-push), simulated on a
# free loopback port, with a few faults: 10% 5xx pages, sessions that
# expire every 20 requests, one case the transfer-out system refuses and
# one the transfer-in system sends back.
echo "clerk demo: starting the legacy-system simulator"
simpw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
python3 tests/legacysim/legacysim.py --port 0 --password "$simpw" --seed 7 \
	--log "$run/legacysim.log" --faults '{"error_rate": 0.1, "session_expire_every": 20,
	"accept_after_polls": 2,
	"refuse_ids": {"130102199010260059": "参保人存在欠费记录，请补缴后再办理"},
	"reject_ids": {"320505199111270068": "材料不全，退回转出地"}}' \
	>"$run/legacysim.out" 2>"$run/legacysim.err" &
simpid=$!
i=0
until grep -q '^listening ' "$run/legacysim.out" 2>/dev/null; do
	i=$((i + 1))
	if ! kill -0 "$simpid" 2>/dev/null || [ $i -gt 100 ]; then
		echo "clerk demo: the simulator did not start:" >&2
		cat "$run/legacysim.err" >&2
		exit 1
	fi
	sleep 0.1
done
simurl="http://$(sed -n 's/^listening //p' "$run/legacysim.out" | head -1)"
# The connectors' credentials: mode 0600 from the start, never committed.
(
	umask 077
	cat > "$run/credentials.cfg" <<CRED
pension-out = { username = "clerk"; password = "$simpw"; base_url = "$simurl/out"; };
pension-in = { username = "clerk"; password = "$simpw"; base_url = "$simurl/in"; };
benefits = { username = "clerk"; password = "$simpw"; base_url = "$simurl/ben"; };
register = { username = "clerk"; password = "$simpw"; base_url = "$simurl/reg"; };
CRED
)

echo "clerk demo: starting clerkd (log: demo-run/clerkd.log)"
"$top/build/clerkd" --config "$run/clerkd.conf" 2>"$run/clerkd.log" &
pid=$!
stop() {
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	if kill -0 "$simpid" 2>/dev/null; then
		kill -TERM "$simpid"
		wait "$simpid" || true
	fi
}
trap 'stop; echo; echo "clerk demo: stopped"; exit 0' INT TERM

i=0
until ctl status >/dev/null 2>&1; do
	i=$((i + 1))
	if ! kill -0 "$pid" 2>/dev/null || [ $i -gt 100 ]; then
		echo "clerk demo: clerkd did not start; its log:" >&2
		tail -20 "$run/clerkd.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "clerk demo: feeding the sample work"
# The uploads for document-intake, which OCR-checks each one as a
# document: the sample texts rendered now as scanned pages (text2image),
# and the first one also as the bare text file, which is not a document
# and is rejected into quarantine/uploads.
mkdir -p "$run/inbox/uploads" "$run/samples-uploads"
python3 - "$run/samples-uploads" playbooks/samples/uploads/*.txt <<'PY'
import os, shutil, sys, tempfile
sys.path.insert(0, "tests")
import ocr_gen
out, tmp = sys.argv[1], tempfile.mkdtemp(prefix="clerk-demo-")
for f in sys.argv[2:]:
    with open(f, encoding="utf-8") as t:
        ocr_gen.render(t.read(), os.path.join(out, os.path.basename(f)[:-4] + ".png"), tmp=tmp)
shutil.rmtree(tmp)
PY
cp playbooks/samples/uploads/申请材料-001.txt "$run/samples-uploads/"
for f in "$run"/samples-uploads/*.png "$run"/samples-uploads/*.txt; do
	name=$(basename "$f")
	# Write under a hidden temp name and rename in, as an upload service
	# should: clerkd takes only complete files.
	cp "$f" "$run/inbox/uploads/.$name.tmp"
	mv "$run/inbox/uploads/.$name.tmp" "$run/inbox/uploads/$name"
done
# Claim forms for document-check, rendered now (text2image, ImageMagick):
# one good, one with a wrong ID check digit and one with the bank account
# left blank (rejected), one blurred (escalated).
mkdir -p "$run/inbox/documents" "$run/samples-documents"
python3 tests/ocr_gen.py --set demo --out "$run/samples-documents" --seed 7
# The good one and the wrong-ID one also go to unemployment-claim, which
# registers an accepted claim at the benefits system (/ben).
mkdir -p "$run/inbox/unemployment"
for name in claim-good.png claim-wrong-id.png; do
	cp "$run/samples-documents/$name" "$run/inbox/unemployment/.$name.tmp"
	mv "$run/inbox/unemployment/.$name.tmp" "$run/inbox/unemployment/$name"
done
for f in "$run"/samples-documents/*.png; do
	name=$(basename "$f")
	mv "$f" "$run/inbox/documents/.$name.tmp"
	mv "$run/inbox/documents/.$name.tmp" "$run/inbox/documents/$name"
done
# A month of the three fund accounts: 收入户 (bank CSV in GBK), 支出户
# (CAMT.053), 财政专户 (MT940). Each ledger export first, then the
# statement that triggers fund-reconcile.
mkdir -p "$run/inbox/reconcile"
for stmt in playbooks/samples/reconcile/*.bank.*; do
	name=$(basename "$stmt")
	cp "playbooks/samples/reconcile/${name%%.*}.ledger.csv" "$run/inbox/reconcile/"
	cp "$stmt" "$run/inbox/reconcile/.bank.tmp"
	mv "$run/inbox/reconcile/.bank.tmp" "$run/inbox/reconcile/$name"
done
# Record matching (issue 7): the registries benefit-crosscheck reads, then
# the month's benefit recipients (四比对) and the insured-person register
# (参保信息合并), generated by tests/records_gen.py with known hits.
mkdir -p "$run/registries" "$run/inbox/crosscheck" "$run/inbox/records-merge"
cp playbooks/samples/records/deaths.csv "$run/registries/deaths.csv"
cp playbooks/samples/records/prison.csv "$run/registries/prison.csv"
cp playbooks/samples/records/other.csv "$run/registries/other-regions.csv"
cp playbooks/samples/records/recipients.csv "$run/inbox/crosscheck/.recipients.tmp"
mv "$run/inbox/crosscheck/.recipients.tmp" "$run/inbox/crosscheck/recipients-2026-11.csv"
cp playbooks/samples/records/insured.csv "$run/inbox/records-merge/.register.tmp"
mv "$run/inbox/records-merge/.register.tmp" "$run/inbox/records-merge/register-2026-11.csv"
python3 -c 'import json,sys; [print(json.dumps(c, ensure_ascii=False)) for c in json.load(open(sys.argv[1]))]' \
	playbooks/samples/transfer-cases.json | while read -r case; do
	key=$(printf '%s' "$case" | python3 -c 'import json,sys; print(json.load(sys.stdin)["case_id"])')
	ctl playbook run transfer-review --key "$key" --payload "$case" >/dev/null
done
# Pension-relationship transfers through the two legacy systems: the
# applications arrive as files in inbox/pension-transfer, a JSON array and
# a GBK CSV (with one row a cell short, which escalates as file:line);
# pension-transfer-intake makes one case of each application.
mkdir -p "$run/inbox/pension-transfer"
for f in playbooks/samples/pension-transfer-cases.json \
    playbooks/samples/pension-transfer-cases-gbk.csv; do
	name=$(basename "$f")
	cp "$f" "$run/inbox/pension-transfer/.$name.tmp"
	mv "$run/inbox/pension-transfer/.$name.tmp" "$run/inbox/pension-transfer/$name"
done
for r in 1 2 3; do
	ctl playbook run legacy-sync-demo --key "record-$r" --payload "{\"record\":\"R$r\"}" >/dev/null
done

echo "clerk demo: waiting for the work to settle"
i=0
while :; do
	pending=$(ctl status --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["counts"].get("*", {})
print(sum(c.get(s, 0) for s in ("queued", "running", "retry_wait")))')
	[ "$pending" = 0 ] && break
	i=$((i + 1))
	if [ $i -gt 600 ]; then
		echo "clerk demo: work did not settle in 60 s" >&2
		stop
		exit 1
	fi
	sleep 0.1
done

echo
echo "What ran (per playbook):"
python3 - "$port" "$run/state/api.token" <<'PY'
import json, re, sys, urllib.request
port, token = sys.argv[1], open(sys.argv[2]).read().strip()
def get(path, auth=True):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if auth:
        req.add_header("Authorization", "Bearer " + token)
    return urllib.request.urlopen(req).read().decode()
status = json.loads(get("/api/v1/status"))
metrics = get("/metrics", auth=False)
retried = {}
for m in re.finditer(r'clerk_steps_total\{playbook="([^"]+)",step="[^"]+",result="system_error"\} (\d+)', metrics):
    retried[m.group(1)] = retried.get(m.group(1), 0) + int(m.group(2))
print(f"  {'playbook':<26} {'done':>5} {'retried':>8} {'escalated':>10} {'rejected':>9}")
for name, c in sorted(status["counts"].items()):
    if name == "*":
        continue
    print(f"  {name:<26} {c.get('done', 0):>5} {retried.get(name, 0):>8} "
          f"{c.get('escalated', 0):>10} {c.get('rejected', 0):>9}")
for pb, what in (("pension-transfer", "Pension transfers"),
                 ("pension-transfer-intake", "Transfer application files"),
                 ("unemployment-claim", "Unemployment claims")):
    escs = json.loads(get(f"/api/v1/escalations?playbook={pb}"))
    rows = escs.get("escalations", escs.get("items", [])) if isinstance(escs, dict) else escs
    if rows:
        print(f"\n{what} waiting for a reviewer:")
        for e in rows:
            print(f"  #{e.get('id')} item {e.get('item')} [{e.get('reason')}] {str(e.get('message', ''))[:110]}")
for it in json.loads(get("/api/v1/items?playbook=unemployment-claim"))["items"]:
    item = json.loads(get(f"/api/v1/items/{it['id']}"))
    p = item.get("payload")
    p = json.loads(p) if isinstance(p, str) else (p or {})
    sub = [s for s in item.get("steps") or [] if (s.get("step") or s.get("step_id")) == "submit"]
    out = (sub[0].get("output") if sub else None) or {}
    out = json.loads(out) if isinstance(out, str) else out
    print(f"  失业保险金申领 {p.get('name')}: {item['state']}"
          + (f", claim {out.get('claim_no')} at the benefits system" if out.get("claim_no")
             else f" ({str(item.get('last_error') or '')[:90]})"))
if status["errors"]:
    print("\nPlaybook problems:")
    for e in status["errors"]:
        print("  " + e)
PY
echo
echo "Record matching (issue 7):"
python3 - "$port" "$run/state/api.token" <<'PY'
import json, sys, urllib.request
port, token = sys.argv[1], open(sys.argv[2]).read().strip()
def get(path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    req.add_header("Authorization", "Bearer " + token)
    return json.loads(urllib.request.urlopen(req).read().decode())
for pb in ("benefit-crosscheck", "record-merge"):
    for it in get(f"/api/v1/items?playbook={pb}")["items"]:
        item = get(f"/api/v1/items/{it['id']}")
        out = (item.get("steps") or [{}])[0].get("output") or {}
        name = (item.get("payload") or {}).get("name", item["key"])
        if pb == "benefit-crosscheck":
            print(f"  四比对 {name}: {out.get('cases')} case(s) among"
                  f" {out.get('left', {}).get('records')} recipients; {out.get('suspended')}"
                  f" suspended (exact ID), {out.get('for_review')} for review;"
                  f" {out.get('total_at_risk')} yuan at risk")
            print(f"         suspension list {out.get('suspension_list')};"
                  f" {out.get('pushed')} handed to {out.get('push')}")
        else:
            print(f"  参保信息合并 {name}: {out.get('clusters')} duplicate cluster(s) among"
                  f" {out.get('left', {}).get('records')} records; {out.get('auto_merged')} merged,"
                  f" {out.get('for_review')} for review, {out.get('double_enrolment')}"
                  f" possible double enrolment(s)")
            print(f"         merge instructions {out.get('merge_instructions')};"
                  f" {out.get('pushed')} handed to {out.get('push')}")
for pb, what, ref in (("benefit-suspend", "suspended in the benefits system", "suspension_no"),
                      ("record-merge-push", "merged in the insured-person register",
                       "merge_no")):
    its = get(f"/api/v1/items?playbook={pb}&limit=10000")["items"]
    done = [i for i in its if i["state"] == "done"]
    esc = get(f"/api/v1/escalations?playbook={pb}&limit=1000")["escalations"]
    print(f"  {pb}: {len(done)} of {len(its)} {what}, {len(esc)} refused or unsure"
          " (escalated)")
for pb in ("benefit-crosscheck-case", "record-merge-case"):
    esc = get(f"/api/v1/escalations?playbook={pb}&limit=1000")["escalations"]
    reasons = {}
    for e in esc:
        reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
    print(f"  {pb}: {len(esc)} escalation(s) for reviewers {reasons}")
PY
cat <<NEXT

Where to look next:
  build/clerkctl -c demo-run/clerkd.conf escalation list      cases waiting for a reviewer
  build/clerkctl -c demo-run/clerkd.conf escalation decide ID approve --by you
  build/clerkctl -c demo-run/clerkd.conf item list             every work item
  build/clerkctl -c demo-run/clerkd.conf playbook list
  curl -s http://127.0.0.1:$port/metrics                     Prometheus metrics
  demo-run/clerkd.log                                           JSON-lines log
  demo-run/legacysim.log                                        every request the legacy systems saw
  demo-run/archive/uploads/ demo-run/quarantine/uploads/        uploads filed / rejected (a text file is no document)
  demo-run/reports/reconcile/*/report.html                      the 余额调节表 of each account
  demo-run/archive/documents/ demo-run/quarantine/documents/    claim forms accepted / rejected or escalated
  demo-run/archive/applications/                                transfer application files, after intake
  build/clerkctl ocr check demo-run/quarantine/documents/*-claim-wrong-id.png \\
      --template unemployment-claim                             the OCR check, without the daemon
  build/clerkctl reconcile --bank playbooks/samples/reconcile/income-2026-11.bank.csv \\
      --ledger playbooks/samples/reconcile/income-2026-11.ledger.csv \\
      --rules playbooks/rules/fund-reconcile.cfg                 the same, without the daemon
  demo-run/reports/records/crosscheck/*/cases.json              四比对 cases with their evidence
  demo-run/reports/records/merge/*/merge-instructions.csv       参保信息合并 merges
  curl -s $simurl/_sim/cases                                    merges and suspensions the simulator received
  build/clerkctl records match --left playbooks/samples/records/insured.csv --self \\
      --rules playbooks/rules/record-merge.cfg                  duplicates, without the daemon
NEXT

if [ $exit_when_done -eq 1 ]; then
	stop
	echo "clerk demo: done"
	exit 0
fi
echo
echo "clerkd keeps running (pid $pid); press Ctrl-C to stop it."
wait "$pid"
