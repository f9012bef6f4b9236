#!/bin/sh
# bench/records_all.sh - clerk's record matching and the DuckDB baseline
# on the same files, in one run, with the ratios (issue 7).
#
#   bench/records_all.sh [-d DIR] [-n RECIPIENTS] [-m DEATHS] [-r R] [-b BUILDDIR]
#
# DIR (default /tmp/clerk-bench-records/N-M) is made once by
# tests/records_gen.py --bench-recipients N --bench-deaths M (defaults
# 5,000,000 and 1,000,000; that takes about a minute and 1 GB of disk) and
# reused. Then, each in its own process so peak memory is its own:
#   cross  recipients x death registry (四比对's death check)
#   self   the register against itself (参保信息合并)
# with build/bench/bench_records (which checks the result against the
# truth) and bench/records_duckdb.mjs (needs `cd bench && npm install`
# once; skipped, and said so, without it), R times each (default 3), and
# prints every run, then the medians and clerk's speed-up.
# Exits 1 if bench_records fails (a result that differs from the truth).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
usage() {
	echo "usage: bench/records_all.sh [-d DIR] [-n RECIPIENTS] [-m DEATHS] [-r R] [-b BUILDDIR]" >&2
	exit 2
}
n=5000000
m=1000000
reps=3
dir=
build=$here/../build
while [ $# -gt 0 ]; do
	case $1 in
	-d) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	-m) [ $# -ge 2 ] || usage; m=$2; shift 2 ;;
	-r) [ $# -ge 2 ] || usage; reps=$2; shift 2 ;;
	-b) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	*) usage ;;
	esac
done
[ -n "$dir" ] || dir=/tmp/clerk-bench-records/$n-$m
if [ ! -f "$dir/truth.json" ]; then
	echo "== generating $n recipients and $m deaths into $dir (once)"
	python3 "$here/../tests/records_gen.py" --seed 5 --out "$dir" \
	    --bench-recipients "$n" --bench-deaths "$m"
fi

log=$(mktemp /tmp/records_all.XXXXXX)
trap 'rm -f "$log"' EXIT

echo "== machine: $(nproc) cpu(s), $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
rc=0
for mode in cross self; do
	echo "== clerk $mode (build/bench/bench_records)"
	"$build/bench/bench_records" "$dir" "$mode" -r "$reps" | tee -a "$log" || rc=$?
	echo "== DuckDB $mode (bench/records_duckdb.mjs)"
	if [ -d "$here/node_modules/@duckdb/node-api" ] && command -v node >/dev/null; then
		# the same name-key initials as clerk's (ICU's, with surnames)
		"$build/bench/bench_records" --initials "$dir/initials.csv"
		node "$here/records_duckdb.mjs" "$dir" "$mode" -r "$reps" \
		    --initials "$dir/initials.csv" | tee -a "$log"
	else
		echo "skipped: run 'cd bench && npm install' first (needs node and npm)"
	fi
done

echo "== summary (medians of $reps run(s), wall clock, 2 threads each)"
awk '
	$1 == "RESULT" {
		for (i = 3; i <= NF; i++) {
			split($i, kv, "=")
			v[$2 "." kv[1]] = kv[2]
		}
	}
	END {
		c = v["clerk-cross.total"]
		printf "cross  clerk %.3f s (read %.3f + match %.3f), peak RSS %s MiB, %s x %s records, truth %s; target 10 s: %s\n",
		    c, v["clerk-cross.parse"], v["clerk-cross.match"], v["clerk-cross.maxrss_mib"],
		    v["clerk-cross.left"], v["clerk-cross.right"], v["clerk-cross.truth"],
		    c <= 10 ? "met" : "NOT met"
		if ("duckdb-cross.total" in v)
			printf "cross  duckdb %.3f s, peak RSS %s MiB (auto %s, review %s): clerk is %.1fx faster\n",
			    v["duckdb-cross.total"], v["duckdb-cross.maxrss_mib"], v["duckdb-cross.auto"],
			    v["duckdb-cross.review"], v["duckdb-cross.total"] / c
		s = v["clerk-self.total"]
		printf "self   clerk %.3f s (read %.3f + match %.3f), peak RSS %s MiB, %s records, truth %s\n",
		    s, v["clerk-self.parse"], v["clerk-self.match"], v["clerk-self.maxrss_mib"],
		    v["clerk-self.left"], v["clerk-self.truth"]
		if ("duckdb-self.total" in v)
			printf "self   duckdb %.3f s, peak RSS %s MiB (auto %s, review %s): clerk is %.1fx faster\n",
			    v["duckdb-self.total"], v["duckdb-self.maxrss_mib"], v["duckdb-self.auto"],
			    v["duckdb-self.review"], v["duckdb-self.total"] / s
	}' "$log"
exit $rc
