#!/bin/sh
# bench/queue_pg.sh - bench_queue on SQLite and PostgreSQL in one run
# (issue 13): starts a throwaway PostgreSQL cluster of its own (the test
# suite's tests/pg/cluster.sh: loopback only, an unprivileged user, fsync
# and synchronous_commit on) with pg_stat_statements loaded, runs
# build/bench/bench_queue --pg against it with the arguments given, and
# stops and removes the cluster, also when interrupted.
#
# usage: bench/queue_pg.sh [bench_queue options, e.g. -n 100000 -r 3]
#
# The cluster's data goes under /var/tmp, not /tmp, for the reason the
# SQLite files do: on many systems /tmp is tmpfs, where a WAL flush costs
# nothing. BENCH_QUEUE names another binary; BUILD another build dir.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${BENCH_QUEUE:-${BUILD:-$top/build}/bench/bench_queue}
[ -x "$bin" ] || { echo "bench/queue_pg.sh: $bin not built (ninja -C build)" >&2; exit 2; }
command -v psql >/dev/null 2>&1 || { echo "bench/queue_pg.sh: psql is missing (scripts/deps.sh --test)" >&2; exit 2; }

dir=$(mktemp -d /var/tmp/bench_queue_pg.XXXXXX)
# cluster.sh wants a new or empty directory the server's user can enter.
chmod 755 "$dir"
cleanup() {
	sh "$top/tests/pg/cluster.sh" stop "$dir" 2>/dev/null || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
url=$(sh "$top/tests/pg/cluster.sh" start "$dir")
# Statement counts per item: the module must be loaded at server start.
psql -X -q -v ON_ERROR_STOP=1 -d "$url" \
    -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
sh "$top/tests/pg/cluster.sh" restart "$dir"
"$bin" --pg "$url" "$@"
