#!/bin/sh
# Builds clerk and runs the whole test suite: unit and integration tests on
# a normal build, again under AddressSanitizer and UndefinedBehaviorSanitizer,
# the unit tests on a release build, a clang debugoptimized build, the fuzz
# corpora on a clang build, the Debian package (built, installed, upgraded,
# purged), and the demo to its end. Installs
# missing Debian packages first. Usage: scripts/test.sh [--quick]
# (--quick: only the normal build and the demo)
set -eu
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

sh scripts/deps.sh --test

run_suite() {
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	echo "== meson test in $dir"
	rc=0
	# shellcheck disable=SC2086
	meson test -C "$dir" --print-errorlogs ${SUITE:+--suite $SUITE} || rc=$?
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
with open("build-summary.tmp", "a") as f:
    f.write(f"{passed} {failed} {skipped}\n")
PY
	return $rc
}

status=0
rm -f build-summary.tmp
run_suite build || status=1
if [ $quick -eq 0 ]; then
	# detect_leaks stays on: a leak fails the suite. CLERK_TEST_ASAN lets
	# the slowest tests (OCR) check fewer documents there.
	CLERK_TEST_ASAN=1 ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false \
		|| status=1
fi

# Optimised builds are what a distribution and an operator make: a gcc
# release build (-O3, warnings are errors) runs the unit tests, and a
# clang debugoptimized build must compile warning-free too.
if [ $quick -eq 0 ]; then
	SUITE=unit run_suite build-release --buildtype=release || status=1
	echo "== clang debugoptimized build"
	if { [ -f build-clang/build.ninja ] ||
	     CC=clang meson setup build-clang --buildtype=debugoptimized >/dev/null; } &&
	   ninja -C build-clang >build-clang.log 2>&1; then
		echo "build-clang: ok"
		echo "1 0 0" >> build-summary.tmp
	else
		echo "build-clang: FAILED"
		tail -40 build-clang.log
		echo "0 1 0" >> build-summary.tmp
		status=1
	fi
	rm -f build-clang.log
fi

# A clang build (warnings are errors there too) that replays the fuzz
# targets' corpora and past findings once.
if [ $quick -eq 0 ]; then
	CC=clang SUITE=fuzz run_suite build-fuzz -Dfuzz=enabled || status=1
fi

# The Debian package: built, lintian-checked, installed with dpkg -i,
# clerkd started from it, upgraded, removed and purged.
if [ $quick -eq 0 ]; then
	echo "== Debian package (tests/package/test_deb.sh)"
	if sh tests/package/test_deb.sh . >deb-test.log; then
		echo "package: ok ($(grep -c '^ok' deb-test.log) checks)"
		echo "1 0 0" >> build-summary.tmp
	else
		echo "package: FAILED; its output:"
		cat deb-test.log
		echo "0 1 0" >> build-summary.tmp
		status=1
	fi
	rm -f deb-test.log
fi

# The demo command must keep working: run it to the end on a free port.
echo "== demo (scripts/demo.sh --exit-when-done)"
demo_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if sh scripts/demo.sh --exit-when-done --port "$demo_port" >demo-test.log 2>&1; then
	echo "demo: ok"
	echo "1 0 0" >> build-summary.tmp
	# Its log carries no sample ID number or name; its files are private.
	if python3 tests/demo_pii.py demo-run; then
		echo "1 0 0" >> build-summary.tmp
	else
		echo "demo PII: FAILED"
		echo "0 1 0" >> build-summary.tmp
		status=1
	fi
else
	echo "demo: FAILED; its output:"
	cat demo-test.log
	echo "0 1 0" >> build-summary.tmp
	status=1
fi
rm -f demo-test.log
awk '{p+=$1; f+=$2; s+=$3} END {printf "total: %d passed, %d failed, %d skipped\n", p, f, s}' build-summary.tmp
rm -f build-summary.tmp
exit $status
