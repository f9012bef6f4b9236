#!/bin/sh
# The Debian package as an operator meets it: builds it with
# dpkg-buildpackage from a copy of the tree, checks it with lintian,
# installs it on this machine with dpkg -i, starts clerkd the way the
# systemd unit does (as the clerk user, with the packaged config), runs a
# work item, upgrades to a newer version over the live state and a locally
# edited config, removes and purges it. Prints TAP; exits 1 if a check
# failed. Needs root (dpkg -i); leaves the machine without the package.
#
# Usage: tests/package/test_deb.sh [SRCDIR]
# A clerk package installed before the test is refused (the test would
# replace and purge it) unless CLERK_TEST_DEB_REPLACE=1.
set -u

SRC=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - $1"
	echo "not ok $n - $1" >&2
	shift
	for line in "$@"; do echo "# $line"; echo "# $line" >&2; done
}
check() { # check DESCRIPTION COMMAND...: ok when COMMAND exits 0
	d=$1
	shift
	if out=$("$@" 2>&1); then ok "$d"; else notok "$d" "$(printf '%s' "$out" | tail -20)"; fi
}
bail() { echo "Bail out! $*"; echo "test_deb: $*" >&2; cleanup; exit 1; }

[ "$(id -u)" -eq 0 ] || { echo "test_deb: needs root (dpkg -i)" >&2; exit 1; }
for t in dpkg-buildpackage dpkg-checkbuilddeps lintian fakeroot systemd-analyze; do
	command -v $t >/dev/null 2>&1 ||
		{ echo "test_deb: $t missing: scripts/deps.sh --test installs it" >&2; exit 1; }
done
if dpkg-query -W -f='${Status}' clerk 2>/dev/null | grep -q "installed" &&
   [ "${CLERK_TEST_DEB_REPLACE:-0}" != 1 ]; then
	echo "test_deb: a clerk package is installed here; this test would replace and purge it" >&2
	echo "test_deb: (set CLERK_TEST_DEB_REPLACE=1 to let it)" >&2
	exit 1
fi

T=$(mktemp -d /tmp/clerk-deb.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=""
	dpkg --purge clerk >/dev/null 2>&1
	rm -rf "$T"
}
trap 'cleanup; exit 1' INT TERM

# The tree as git sees it (committed and new files, not the build dirs).
mkdir "$T/clerk"
if [ -d "$SRC/.git" ]; then
	(cd "$SRC" && git ls-files -z -co --exclude-standard | tar --null -cf - -T -) |
		tar -xf - -C "$T/clerk" || bail "cannot copy the tree"
else
	(cd "$SRC" && tar --exclude='./build*' --exclude=./demo-run -cf - .) |
		tar -xf - -C "$T/clerk" || bail "cannot copy the tree"
fi
version=$(dpkg-parsechangelog -l "$T/clerk/debian/changelog" -S Version)
deb="$T/clerk_${version}_$(dpkg --print-architecture).deb"

# ---- build and lintian ----
check "the build dependencies in debian/control are installed" \
	sh -c "cd '$T/clerk' && dpkg-checkbuilddeps"
if (cd "$T/clerk" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b builds $(basename "$deb")"
else
	notok "dpkg-buildpackage -us -uc -b" "$(tail -30 "$T/build.log")"
	bail "no package to test"
fi
grep -q "Ok: *[1-9]" "$T/build.log" && ! grep -q "Fail: *[1-9]" "$T/build.log" &&
	ok "the unit suite ran in the package build and passed" ||
	notok "the unit suite ran in the package build" "$(grep -E 'Ok:|Fail:' "$T/build.log")"
# Errors and warnings fail; pedantic and info tags are printed only.
lintian --pedantic -I --no-tag-display-limit "$T"/clerk_*.changes >"$T/lintian.log" 2>&1
if grep -E "^[EW]: " "$T/lintian.log" >/dev/null; then
	notok "lintian reports no error or warning" "$(grep -E '^[EW]: ' "$T/lintian.log")"
else
	ok "lintian reports no error or warning ($(grep -cE '^[IPX]: ' "$T/lintian.log") info/pedantic)"
fi
for f in /usr/sbin/clerkd /usr/bin/clerkctl /lib/systemd/system/clerkd.service \
	/etc/clerk/clerkd.conf /usr/share/clerk/web/index.html /usr/share/clerk/web/app.js \
	/usr/share/man/man8/clerkd.8.gz /usr/share/man/man1/clerkctl.1.gz \
	/usr/share/man/man5/clerkd.conf.5.gz /usr/share/man/man5/clerk.playbook.5.gz \
	/usr/share/doc/clerk/examples/playbooks/document-check.cfg \
	/usr/share/doc/clerk/examples/playbooks/templates/id-card-front.cfg \
	/usr/share/doc/clerk/examples/playbooks/templates/cn-divisions.txt; do
	dpkg-deb -c "$deb" | awk '{print $6}' | grep -qx ".$f" || missing="${missing:-} $f"
done
[ -z "${missing:-}" ] && ok "the package holds the daemon, clerkctl, the unit, the config, the web UI, 4 man pages, the examples (with the ID card's cn-divisions.txt, uncompressed)" ||
	notok "the package holds every file it should" "missing:$missing"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/clerk/clerkd.conf &&
	ok "/etc/clerk/clerkd.conf is a conffile (an operator's edits survive upgrades)" ||
	notok "/etc/clerk/clerkd.conf is a conffile"

# ---- install ----
if dpkg -i "$deb" >"$T/install.log" 2>&1; then
	ok "dpkg -i installs it"
else
	notok "dpkg -i installs it" "$(tail -20 "$T/install.log")"
	bail "not installed"
fi
check "the clerk system user exists" sh -c 'id -u clerk && [ "$(id -u clerk)" -lt 1000 ]'
uid=$(id -u clerk)
check "/var/lib/clerk is clerk's, mode 0700" \
	sh -c '[ "$(stat -c %U:%a /var/lib/clerk)" = clerk:700 ]'
check "systemd-analyze verify accepts the installed unit" \
	systemd-analyze verify /lib/systemd/system/clerkd.service
sec=$(systemd-analyze security --offline=true /lib/systemd/system/clerkd.service 2>&1)
level=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for clerkd.service: \([0-9.]*\).*/\1/p')
if [ -n "$level" ] && awk "BEGIN {exit !($level <= 2.0)}"; then
	ok "the unit's exposure (systemd-analyze security) is $level, at most 2.0"
else
	notok "the unit's exposure is at most 2.0" "$(printf '%s\n' "$sec" | grep -E '✗|Overall')"
fi
unit=/lib/systemd/system/clerkd.service
for want in "User=clerk" "StateDirectory=clerk" "ProtectSystem=strict" "NoNewPrivileges=yes" \
	"PrivateTmp=yes" "CapabilityBoundingSet=" "UMask=0077"; do
	grep -qx "$want" "$unit" || lacks="${lacks:-} $want"
done
[ -z "${lacks:-}" ] && ok "the unit runs as clerk, strict, no new privileges, private /tmp, no capability, umask 0077" ||
	notok "the unit's hardening" "lacks:$lacks"
execstart=$(sed -n 's/^ExecStart=//p' "$unit")

# The operator's part: a port of our own (a local edit of the conffile)
# and one playbook.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s/^listen = .*/listen = \"127.0.0.1:$port\";/" /etc/clerk/clerkd.conf
cat > /etc/clerk/playbooks/pkg-smoke.cfg <<'CFG'
name = "pkg-smoke";
description = "the package test's playbook";
trigger = { interval = "1d"; };
steps = (
  { id = "say"; use = "notify"; message = "installed from the package"; }
);
CFG
check "clerkd --check (the unit's ExecStartPre) passes as the clerk user" \
	runuser -u clerk -- /usr/sbin/clerkd --config /etc/clerk/clerkd.conf --check

start_clerkd() { # as the unit does: its ExecStart, as clerk, from /
	# (setpriv execs clerkd itself, so the signal and the exit status
	# below are clerkd's, not a wrapper's)
	# shellcheck disable=SC2086
	(cd / && exec setpriv --reuid=clerk --regid=clerk --init-groups -- $execstart) \
		>>"$T/clerkd.log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 100 ]; do
		curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
stop_clerkd() {
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	pid=""
	return $rc
}
ctl() { runuser -u clerk -- clerkctl --config /etc/clerk/clerkd.conf "$@"; }
wait_done() { # wait_done N: until N pkg-smoke items are done
	i=0
	while [ $i -lt 100 ]; do
		[ "$(ctl --json item list 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
items = d["items"] if isinstance(d, dict) else d
print(sum(1 for x in items if x.get("playbook") == "pkg-smoke" and x.get("state") == "done"))')" = "$1" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

if start_clerkd; then
	ok "clerkd starts from the package as clerk and answers /healthz on 127.0.0.1:$port"
else
	notok "clerkd starts from the package" "$(tail -20 "$T/clerkd.log")"
	bail "clerkd did not start"
fi
check "clerkd serves the packaged web UI" \
	sh -c "curl -fsS http://127.0.0.1:$port/ | grep -q app.js"
check "clerkctl status talks to it with the token in /var/lib/clerk" ctl status
check "clerkctl playbook run queues an item" ctl playbook run pkg-smoke
check "the item is done" wait_done 1
check "the database and the token are clerk's, mode 0600" sh -c '
	for f in /var/lib/clerk/clerk.db /var/lib/clerk/api.token; do
		[ "$(stat -c %U:%a "$f")" = clerk:600 ] || { stat -c "%n %U:%a" "$f"; exit 1; }
	done'
check "clerkctl backup copies the live database" ctl backup /var/lib/clerk/before-upgrade.db
check "clerkctl audit verify passes" ctl audit verify
# (not through check: wait needs clerkd to be this shell's child)
if stop_clerkd; then ok "SIGTERM stops clerkd with status 0"; else notok "SIGTERM stops clerkd with status 0" "status $rc"; fi

# A root operator restores the backup with clerkd stopped: the restored
# database must still be clerk's, or the service could not open it.
check "clerkctl restore as root puts the backup back" \
	clerkctl --config /etc/clerk/clerkd.conf restore /var/lib/clerk/before-upgrade.db
check "the restored database is clerk's, mode 0600, the replaced one kept" sh -c '
	[ "$(stat -c %U:%a /var/lib/clerk/clerk.db)" = clerk:600 ] &&
	ls /var/lib/clerk/clerk.db.before-restore-* >/dev/null &&
	! find /var/lib/clerk -user root | grep .'

# ---- upgrade: the same package as a newer version, over the live state ----
mkdir "$T/repack"
dpkg-deb -R "$deb" "$T/repack/clerk"
newer="${version}+pkgtest1"
sed -i "s/^Version: .*/Version: $newer/" "$T/repack/clerk/DEBIAN/control"
dpkg-deb -b --root-owner-group "$T/repack/clerk" "$T/clerk_${newer}.deb" >/dev/null 2>&1 ||
	bail "cannot repack the newer version"
if dpkg -i "$T/clerk_${newer}.deb" >"$T/upgrade.log" 2>&1; then
	ok "dpkg -i upgrades $version to $newer"
else
	notok "dpkg -i upgrades to $newer" "$(tail -20 "$T/upgrade.log")"
fi
check "dpkg says $newer is installed" \
	sh -c "[ \"\$(dpkg-query -W -f='\${Version}' clerk)\" = '$newer' ]"
check "the upgrade kept the operator's edit of clerkd.conf" \
	grep -qx "listen = \"127.0.0.1:$port\";" /etc/clerk/clerkd.conf
check "the upgrade kept the clerk user's uid" sh -c "[ \"\$(id -u clerk)\" = $uid ]"
if start_clerkd; then
	ok "the upgraded clerkd starts on the same state"
else
	notok "the upgraded clerkd starts" "$(tail -20 "$T/clerkd.log")"
	bail "clerkd did not start after the upgrade"
fi
check "the item from before the upgrade is still done" wait_done 1
check "a new item runs after the upgrade" sh -c "$(command -v runuser) -u clerk -- clerkctl --config /etc/clerk/clerkd.conf playbook run pkg-smoke"
check "both items are done" wait_done 2
check "the audit trail verifies across the upgrade" ctl audit verify
if stop_clerkd; then ok "SIGTERM stops the upgraded clerkd with status 0"; else notok "SIGTERM stops the upgraded clerkd" "status $rc"; fi

# ---- remove, then purge ----
if dpkg -r clerk >"$T/remove.log" 2>&1; then ok "dpkg -r removes it"; else notok "dpkg -r" "$(tail "$T/remove.log")"; fi
check "removal takes the programs and keeps the config and the state" sh -c '
	[ ! -e /usr/sbin/clerkd ] && [ ! -e /usr/bin/clerkctl ] &&
	[ -f /etc/clerk/clerkd.conf ] && [ -f /var/lib/clerk/clerk.db ]'
if dpkg --purge clerk >"$T/purge.log" 2>&1; then ok "dpkg --purge purges it"; else notok "dpkg --purge" "$(tail "$T/purge.log")"; fi
# The operator's own playbook is theirs: dpkg leaves it, and with it its
# folder; everything the package made is gone.
check "purging leaves the config, the state and the package record gone, the operator's playbook kept" sh -c '
	[ ! -e /etc/clerk/clerkd.conf ] && [ ! -e /var/lib/clerk ] &&
	[ ! -e /lib/systemd/system/clerkd.service ] && [ -f /etc/clerk/playbooks/pkg-smoke.cfg ] &&
	[ "$(ls -A /etc/clerk)" = playbooks ] && [ "$(ls -A /etc/clerk/playbooks)" = pkg-smoke.cfg ] &&
	! dpkg-query -W -f="\${Status}" clerk 2>/dev/null | grep -q "install ok"'
rm -rf /etc/clerk

cleanup
echo "1..$n"
[ $failed -eq 0 ] || { echo "test_deb: $failed of $n checks failed" >&2; exit 1; }
exit 0
