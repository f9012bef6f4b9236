#!/bin/sh
# clerk demo: builds clerkd, starts it on embedded defaults (SQLite under
# demo-run/, the bundled playbooks in playbooks/), feeds it the sample work
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
cat > "$run/clerkd.conf" <<CONF
# Written by scripts/demo.sh: embedded defaults for the demo.
state_dir = "state";
work_dir = ".";
listen = "127.0.0.1:$port";
workers = 4;
log_level = "info";
playbook_dir = "$top/playbooks";
timezone = "Asia/Shanghai";
poll = "200ms";
CONF
ctl() { "$top/build/clerkctl" --config "$run/clerkd.conf" "$@"; }

echo "clerk demo: starting clerkd (log: demo-run/clerkd.log)"
"$top/build/clerkd" --config "$run/clerkd.conf" 2>"$run/clerkd.log" &
pid=$!
stop() {
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
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
mkdir -p "$run/inbox/uploads"
for f in playbooks/samples/uploads/*; do
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
python3 -c 'import json,sys; [print(json.dumps(c, ensure_ascii=False)) for c in json.load(open(sys.argv[1]))]' \
	playbooks/samples/transfer-cases.json | while read -r case; do
	key=$(printf '%s' "$case" | python3 -c 'import json,sys; print(json.load(sys.stdin)["case_id"])')
	ctl playbook run transfer-review --key "$key" --payload "$case" >/dev/null
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
if status["errors"]:
    print("\nPlaybook problems:")
    for e in status["errors"]:
        print("  " + e)
PY
cat <<NEXT

Where to look next:
  build/clerkctl -c demo-run/clerkd.conf escalation list      cases waiting for a reviewer
  build/clerkctl -c demo-run/clerkd.conf escalation decide ID approve --by you
  build/clerkctl -c demo-run/clerkd.conf item list             every work item
  build/clerkctl -c demo-run/clerkd.conf playbook list
  curl -s http://127.0.0.1:$port/metrics                     Prometheus metrics
  demo-run/clerkd.log                                           JSON-lines log
  demo-run/archive/uploads/                                     the filed uploads
  demo-run/reports/reconcile/*/report.html                      the 余额调节表 of each account
  demo-run/archive/documents/ demo-run/quarantine/documents/    claim forms accepted / rejected or escalated
  build/clerkctl ocr check demo-run/quarantine/documents/*-claim-wrong-id.png \
      --template unemployment-claim                             the OCR check, without the daemon
  build/clerkctl reconcile --bank playbooks/samples/reconcile/income-2026-11.bank.csv \\
      --ledger playbooks/samples/reconcile/income-2026-11.ledger.csv \\
      --rules playbooks/rules/fund-reconcile.cfg                 the same, without the daemon
NEXT

if [ $exit_when_done -eq 1 ]; then
	stop
	echo "clerk demo: done"
	exit 0
fi
echo
echo "clerkd keeps running (pid $pid); press Ctrl-C to stop it."
wait "$pid"
