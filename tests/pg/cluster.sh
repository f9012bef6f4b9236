#!/bin/sh
# A throwaway PostgreSQL cluster for clerk's tests.
#
# usage: tests/pg/cluster.sh start DIR    prints the admin URL on stdout
#        tests/pg/cluster.sh restart DIR  pg_ctl restart -m fast
#        tests/pg/cluster.sh stop DIR     pg_ctl stop -m fast, removes DIR
#
# start creates DIR (it must not exist yet, or be empty), runs initdb in it
# (superuser "clerk", trust authentication, UTF8) and starts postgres on a
# free port of 127.0.0.1 only, with its unix socket inside DIR and fsync on
# (initdb --no-sync only skips initdb's own final flush). A failed start
# prints the logs and removes DIR.
# The admin URL is postgresql://clerk@127.0.0.1:PORT/postgres; DIR/url and
# DIR/port hold it too. PostgreSQL refuses to run as root, so when run as
# root the server runs as the system user clerkpg (created if missing):
# DIR must then be on a path that user can reach, e.g. mktemp -d under /tmp,
# not inside a root-only checkout. Exits non-zero with the reason when
# PostgreSQL is missing or does not start; it never skips silently.
# The binaries are found with $PG_BINDIR, pg_config --bindir, or the newest
# /usr/lib/postgresql/*/bin.
set -eu

PGUSER_SYS=clerkpg
MARK=.clerk-test-cluster

die() {
	echo "tests/pg/cluster.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start|restart|stop DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

find_bindir() {
	for d in "${PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)"; do
		if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	# pg_config comes with libpq-dev and may point at a server that is not
	# installed; Debian's server binaries live in a versioned directory.
	# The glob sorts 10 before 9: choose by the version number.
	best=$(for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] &&
		    echo "$(basename "$(dirname "$d")") $d"
	done | sort -n | tail -1 | cut -d' ' -f2)
	[ -n "$best" ] || return 1
	echo "$best"
}

# as_pg CMD...: runs CMD as the user the server runs as.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		if command -v runuser >/dev/null 2>&1; then
			runuser -u "$PGUSER_SYS" -- "$@"
		else
			# su needs one shell string; quote each argument.
			q=""
			for a in "$@"; do
				q="$q '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
			done
			su -s /bin/sh "$PGUSER_SYS" -c "$q"
		fi
	else
		"$@"
	fi
}

ensure_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	id "$PGUSER_SYS" >/dev/null 2>&1 && return 0
	command -v useradd >/dev/null 2>&1 ||
	    die "cannot create the system user $PGUSER_SYS: useradd is missing"
	# Two test processes may race to create it; the loser finds it there.
	useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$PGUSER_SYS" \
	    2>/dev/null || id "$PGUSER_SYS" >/dev/null 2>&1 ||
	    die "useradd $PGUSER_SYS failed"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

check_dir() {
	[ -f "$dir/$MARK" ] ||
	    die "$dir is not a cluster made by tests/pg/cluster.sh start"
}

start() {
	bindir=$(find_bindir) || die "PostgreSQL server binaries not found (no initdb/pg_ctl via \$PG_BINDIR, pg_config --bindir or /usr/lib/postgresql/*/bin); install postgresql (scripts/deps.sh --test)"
	command -v python3 >/dev/null 2>&1 || die "python3 is needed to pick a free port"
	if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
		die "$dir exists and is not empty; give a new directory"
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	: >"$dir/$MARK"
	# die() exits through here: no half-made cluster is left behind.
	trap 'stop' EXIT
	ensure_user
	if [ "$(id -u)" -eq 0 ]; then
		chown "$PGUSER_SYS" "$dir"
		as_pg test -w "$dir" ||
		    die "$dir is not writable by $PGUSER_SYS (is a parent directory root-only? use mktemp -d under /tmp)"
	fi
	chmod 700 "$dir"
	if ! as_pg "$bindir/initdb" -D "$dir/data" -U clerk -A trust \
	    -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		die "initdb in $dir/data failed (log above)"
	fi
	# A free port can be taken by someone else between the probe and the
	# bind; try a few.
	tries=0
	while :; do
		port=$(free_port)
		if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
		    -w -t 60 -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c max_connections=200" \
		    start >"$dir/pg_ctl.log" 2>&1; then
			break
		fi
		tries=$((tries + 1))
		if [ $tries -ge 3 ]; then
			cat "$dir/pg_ctl.log" "$dir/postgres.log" >&2 || true
			die "postgres in $dir/data did not start (logs above)"
		fi
	done
	echo "$port" >"$dir/port"
	echo "$bindir" >"$dir/bindir"
	url="postgresql://clerk@127.0.0.1:$port/postgres"
	echo "$url" >"$dir/url"
	trap - EXIT
	echo "$url"
}

restart() {
	check_dir
	bindir=$(cat "$dir/bindir")
	# pg_ctl restart reuses the options postgres was started with
	# (data/postmaster.opts), so the port stays the same.
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
	    -m fast restart >"$dir/pg_ctl.log" 2>&1 || {
		cat "$dir/pg_ctl.log" >&2
		die "pg_ctl restart in $dir/data failed"
	}
}

stop() {
	check_dir
	if [ -f "$dir/bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
		bindir=$(cat "$dir/bindir")
		as_pg "$bindir/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop \
		    >/dev/null 2>&1 ||
		    as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop \
		    >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

case "$cmd" in
start) start ;;
restart) restart ;;
stop) stop ;;
*) usage ;;
esac
