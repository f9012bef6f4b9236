#!/bin/sh
# usage: tests/pg/with_cluster.sh CMD [ARG...]
# Starts a throwaway PostgreSQL cluster (tests/pg/cluster.sh), runs CMD with
# CLERK_TEST_PG_URL set to its admin URL, stops the cluster and exits with
# CMD's status. When the cluster cannot start this fails (exit 1, the reason
# on stderr): a test that needs PostgreSQL must not pass without it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 CMD [ARG...]" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/clerk-pg-XXXXXX")
chmod 755 "$dir"
cleanup() {
	sh "$here/cluster.sh" stop "$dir" 2>/dev/null || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
url=$(sh "$here/cluster.sh" start "$dir") || {
	echo "with_cluster.sh: no PostgreSQL cluster, so not running: $*" >&2
	exit 1
}
CLERK_TEST_PG_URL=$url
export CLERK_TEST_PG_URL
rc=0
"$@" || rc=$?
exit $rc
