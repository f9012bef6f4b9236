#!/bin/sh
# Builds clerk and runs the whole test suite twice: a normal build, then
# under AddressSanitizer and UndefinedBehaviorSanitizer. Installs missing
# Debian packages first. Usage: scripts/test.sh [--quick]  (--quick: no
# sanitizer pass)
set -eu
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

sh scripts/deps.sh

run_suite() {
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	echo "== meson test in $dir"
	rc=0
	meson test -C "$dir" --print-errorlogs || rc=$?
	python3 - "$dir/meson-logs/testlog.json" "$dir" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{sys.argv[2]}: {passed} passed, {failed} failed, {skipped} skipped")
PY
	return $rc
}

status=0
run_suite build || status=1
if [ $quick -eq 0 ]; then
	# detect_leaks stays on: a leak fails the suite.
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false \
		|| status=1
fi
exit $status
