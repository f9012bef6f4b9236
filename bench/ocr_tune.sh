#!/bin/sh
# bench/ocr_tune.sh - tunes quality.agree_confidence (how confident two
# agreeing reads of a field must be to count as sure) on a TRAINING set of
# generated claim forms (tests/ocr_gen.py --set bench, seed 21 by default),
# never on the test set bench/ocr_bench.sh reports (seed 11). For each
# value it runs bench/ocr_bench.sh --clerk-only on the training set, with
# case data, and prints auto-accepts and false accepts; pick the lowest
# value with no false accept, then evaluate it on the test set:
#   nice -n 10 bench/ocr_bench.sh -n 100
#
# usage: bench/ocr_tune.sh [-n FILES] [-s SEED] [-b BUILD_DIR]
#                          [-t TEMPLATE] [VALUE ...]
# Run it under nice on a shared machine: nice -n 10 bench/ocr_tune.sh
set -eu
cd "$(dirname "$0")/.."
n=100
seed=21
build=build
template=playbooks/templates/unemployment-claim.cfg
while [ $# -gt 0 ]; do
	case "$1" in
	-n) n=$2; shift ;;
	-s) seed=$2; shift ;;
	-b) build=$2; shift ;;
	-t) template=$2; shift ;;
	-*) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	*) break ;;
	esac
	shift
done
if [ "$seed" = 11 ]; then
	echo "ocr_tune: seed 11 is the test set; tune on another seed" >&2
	exit 2
fi
[ $# -gt 0 ] || set -- 101 70 60 50 40 30
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clerk-ocr-tune.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for v in "$@"; do
	# The template with agree_confidence set (replacing any it has).
	sed -e 's/agree_confidence = [0-9.]*; *//' \
	    -e "s/quality = {/quality = { agree_confidence = $v;/" \
	    "$template" > "$tmp/t.cfg"
	grep -q "agree_confidence = $v;" "$tmp/t.cfg" || {
		echo "ocr_tune: $template has no 'quality = {' group" >&2
		exit 1
	}
	printf 'agree_confidence = %s: ' "$v"
	bench/ocr_bench.sh -n "$n" -s "$seed" -b "$build" -t "$tmp/t.cfg" \
	    --clerk-only 2>/dev/null | grep -E 'auto-accept|false accepts|exact' |
	    tr '\n' ' '
	echo
done
