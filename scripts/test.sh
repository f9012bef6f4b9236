#!/bin/sh
# Builds clerk and runs the whole test suite: unit and integration tests on
# a normal build, the PostgreSQL pass (the integration tests again on a
# PostgreSQL store, the queue's unit tests on one, several clerkd on one
# database) against a throwaway cluster on loopback, the unit and
# integration tests under AddressSanitizer and UndefinedBehaviorSanitizer,
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
	meson test -C "$dir" --print-errorlogs ${SUITE:+--suite $SUITE} \
	    ${NOSUITE:+--no-suite $NOSUITE} || rc=$?
	python3 - "$dir/meson-logs/testlog.json" "${LABEL:-$dir}" <<'PY'
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
NOSUITE=pg run_suite build || status=1

# The PostgreSQL pass, on the normal build: one throwaway cluster
# (tests/pg/cluster.sh: its own unprivileged user, 127.0.0.1, a free port)
# holds a fresh database per test; test_pg_nodes starts one of its own to
# restart it. No PostgreSQL is a failure here, not a skip.
echo "== PostgreSQL cluster for the pg suite"
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/clerk-pg-XXXXXX")
chmod 755 "$pgdir"
trap 'sh tests/pg/cluster.sh stop "$pgdir" 2>/dev/null || true' EXIT
if CLERK_TEST_PG_URL=$(sh tests/pg/cluster.sh start "$pgdir"); then
	export CLERK_TEST_PG_URL
	pg_t0=$(date +%s)
	SUITE=pg LABEL="build (pg suite)" run_suite build || status=1
	echo "pg suite: $(($(date +%s) - pg_t0)) s"
	unset CLERK_TEST_PG_URL
else
	echo "pg: FAILED: no PostgreSQL cluster (the reason is above)"
	echo "0 1 0" >> build-summary.tmp
	status=1
fi
sh tests/pg/cluster.sh stop "$pgdir" 2>/dev/null || rmdir "$pgdir" 2>/dev/null || true
trap - EXIT

if [ $quick -eq 0 ]; then
	# detect_leaks stays on: a leak fails the suite. CLERK_TEST_ASAN lets
	# the slowest tests (OCR) check fewer documents there. The pg suite
	# runs once, on the normal build above.
	CLERK_TEST_ASAN=1 ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 NOSUITE=pg \
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
