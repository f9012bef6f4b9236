#!/bin/sh
# bench/recon_all.sh - clerk's reconciliation and its two SQL baselines on
# the same files, in one run, with the ratios (issue 4).
#
#   bench/recon_all.sh DIR [-r R] [-b BUILDDIR]
#
# DIR is a set written by tests/recon_gen.py. Runs build/bench/bench_recon
# (which also checks the result against DIR/truth.json), then
# bench/recon_sql.sh (sqlite3) and bench/recon_duckdb.mjs (DuckDB, needs
# `cd bench && npm install` once; skipped, and said so, without it), each R
# times (default 3), one after the other, and prints every run, then a
# table of the medians and clerk's speed-up over each baseline.
# Exits 1 if bench_recon fails (a result that differs from the truth).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
usage() {
	echo "usage: bench/recon_all.sh DIR [-r R] [-b BUILDDIR]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
dir=$1
shift
reps=3
build=$here/../build
while [ $# -gt 0 ]; do
	case $1 in
	-r) [ $# -ge 2 ] || usage; reps=$2; shift 2 ;;
	-b) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	*) usage ;;
	esac
done

log=$(mktemp /tmp/recon_all.XXXXXX)
trap 'rm -f "$log"' EXIT

echo "== machine: $(nproc) cpu(s), $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
echo "== clerk (build/bench/bench_recon)"
rc=0
"$build/bench/bench_recon" "$dir" -r "$reps" | tee -a "$log" || rc=$?
echo "== SQLite baseline (bench/recon_sql.sh)"
"$here/recon_sql.sh" "$dir" -r "$reps" | tee -a "$log"
echo "== DuckDB baseline (bench/recon_duckdb.mjs)"
if [ -d "$here/node_modules/@duckdb/node-api" ] && command -v node >/dev/null; then
	node "$here/recon_duckdb.mjs" "$dir" -r "$reps" | tee -a "$log"
else
	echo "skipped: run 'cd bench && npm install' first (needs node and npm)"
fi

echo "== summary (medians of $reps run(s), wall clock)"
awk '
	$1 == "RESULT" {
		for (i = 3; i <= NF; i++) {
			split($i, kv, "=")
			v[$2 "." kv[1]] = kv[2]
		}
	}
	END {
		c = v["clerk.total"]
		printf "clerk   parse %.3f s (2 threads; serial %.3f s) + match %.3f s = %.3f s   target 1.5 s: %s\n",
		    v["clerk.parse"], v["clerk.parse_serial"], v["clerk.match"], c,
		    c <= 1.5 ? "met" : "NOT met"
		printf "clerk   with the serial parse (as clerkctl reconcile today): %.3f s\n",
		    v["clerk.parse_serial"] + v["clerk.match"]
		printf "clerk   outputs (not in the target) %.3f s; peak RSS %s MiB; truth %s\n",
		    v["clerk.write"], v["clerk.maxrss_mib"], v["clerk.truth"]
		if ("sqlite.total" in v)
			printf "sqlite  %.3f s   clerk is %.1fx faster (%.1fx with the serial parse)\n",
			    v["sqlite.total"], v["sqlite.total"] / c,
			    v["sqlite.total"] / (v["clerk.parse_serial"] + v["clerk.match"])
		if ("duckdb.total" in v)
			printf "duckdb  %.3f s   clerk is %.1fx faster (%.1fx with the serial parse)\n",
			    v["duckdb.total"], v["duckdb.total"] / c,
			    v["duckdb.total"] / (v["clerk.parse_serial"] + v["clerk.match"])
		else
			print "duckdb  not run"
	}' "$log"
exit $rc
