#!/bin/sh
# check.sh - the man pages render without a single warning, as lintian
# (manpage-has-errors-from-man) and a reader's man(1) will see them.
#
#   sh man/check.sh [-v VERSION] PAGE...
#
# Each PAGE goes through "groff -k -man -Tutf8 -ww -z" (-k: preconv, the
# pages hold UTF-8) and, where man-db is installed, through
# "man --warnings -E UTF-8 -l", which is what lintian runs. Anything
# either prints on standard error fails the page. With -v, each page's .TH
# line must also name "clerk VERSION", so a release cannot ship pages of
# the previous one. Exits 0 when every page is clean, 1 when one is not,
# 77 (meson: skipped) when neither groff nor man is installed.

version=
if [ "$1" = "-v" ]; then
	version=$2
	shift 2
fi
if [ $# -eq 0 ]; then
	echo "usage: check.sh [-v VERSION] PAGE..." >&2
	exit 2
fi

have() {
	command -v "$1" >/dev/null 2>&1
}

if ! have groff && ! have man; then
	echo "check.sh: neither groff nor man is installed; skipped"
	exit 77
fi

# A locale that is not installed makes man(1) warn about that instead.
LC_ALL=C.UTF-8
export LC_ALL
# man-db may otherwise try a pager or format for a terminal's width.
MANPAGER=cat
PAGER=cat
MANWIDTH=80
export MANPAGER PAGER MANWIDTH

err=$(mktemp "${TMPDIR:-/tmp}/clerk-man.XXXXXX") || exit 1
trap 'rm -f "$err"' EXIT
trap 'exit 1' INT TERM

status=0
for page in "$@"; do
	bad=0
	if [ ! -r "$page" ]; then
		echo "not ok: $page: cannot read it"
		status=1
		continue
	fi
	if have groff; then
		groff -k -man -Tutf8 -ww -z "$page" >/dev/null 2>"$err" || bad=1
		if [ -s "$err" ]; then
			bad=1
			sed "s|^|$page: groff: |" "$err"
		fi
	fi
	if have man; then
		man --warnings -E UTF-8 -l "$page" >/dev/null 2>"$err" || bad=1
		if [ -s "$err" ]; then
			bad=1
			sed "s|^|$page: man: |" "$err"
		fi
	fi
	if [ -n "$version" ] &&
	    ! grep -q "^\.TH .*\"clerk $version\"" "$page"; then
		bad=1
		echo "$page: .TH does not name \"clerk $version\""
	fi
	if [ $bad -ne 0 ]; then
		echo "not ok: $page"
		status=1
	else
		echo "ok: $page"
	fi
done
exit $status
