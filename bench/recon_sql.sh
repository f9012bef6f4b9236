#!/bin/sh
# bench/recon_sql.sh - the SQLite baseline for bench_recon (issue 4).
#
#   bench/recon_sql.sh DIR [-r R]
#
# Reconciles the files tests/recon_gen.py wrote in DIR with the sqlite3
# command-line shell, in an in-memory database, R times (default 3), and
# prints the wall time of each run (import included: the CSVs are read
# with `.import --csv`) and the median. The last line, "RESULT sqlite
# ...", is read by bench/recon_all.sh.
#
# The passes SQL expresses directly, as clerk's matcher defines them
# (recon/README.md, "Matching"):
#   0. duplicates: a line of bank-overlap.csv equal to a line of bank.csv
#      in normalised reference, amount and date;
#   1. reference exact: normalised reference + amount, taken when the key
#      is held by exactly one free line on each side (clerk also picks
#      the closest date among several; the generated set never needs it);
#   2. amount + date window (ledger date - bank date in [-1, 3]): best
#      candidate by equal counterparty, then the closer date; a pair is
#      taken only when each line is the other's single best candidate
#      (mutual unique best, one round; clerk repeats rounds and also
#      compares names by their longest common prefix).
# Left out: batches (subset sum), reversals, the tolerance pass (fees) and
# the ambiguity bookkeeping; their lines stay unmatched here. The
# reference is normalised by upper() and dropping ' ', '-', '/', '_', '.'
# (no full-width folding), and amounts are read by dropping the '.',
# which is exact for the generator's "-123.45" but not for CSVs in
# general. sqlite3 is single-threaded except for sorting (PRAGMA threads).
set -eu

usage() {
	echo "usage: bench/recon_sql.sh DIR [-r R]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
dir=$1
shift
reps=3
while [ $# -gt 0 ]; do
	case $1 in
	-r) [ $# -ge 2 ] || usage; reps=$2; shift 2 ;;
	*) usage ;;
	esac
done
case $reps in ''|*[!0-9]*) usage ;; esac
[ "$reps" -ge 1 ] || usage
case $dir in *\'*) echo "recon_sql.sh: DIR must not contain a quote" >&2; exit 2 ;; esac
command -v sqlite3 >/dev/null || { echo "recon_sql.sh: sqlite3 not found" >&2; exit 1; }
for f in bank.csv ledger.csv; do
	[ -r "$dir/$f" ] || { echo "recon_sql.sh: $dir/$f: not readable" >&2; exit 1; }
done

sql=$(mktemp /tmp/recon_sql.XXXXXX)
trap 'rm -f "$sql"' EXIT

# The overlapping export is imported only if the generator wrote one.
overlap=
[ -r "$dir/bank-overlap.csv" ] &&
	overlap=".import --csv --skip 1 '$dir/bank-overlap.csv' bank_ov_raw"

cat >"$sql" <<EOF
PRAGMA threads = 2;
PRAGMA temp_store = memory;
PRAGMA cache_size = -1000000;
CREATE TABLE bank_raw(d TEXT, amt TEXT, bal TEXT, ref TEXT, cp TEXT, txt TEXT, batch TEXT);
CREATE TABLE bank_ov_raw(d TEXT, amt TEXT, bal TEXT, ref TEXT, cp TEXT, txt TEXT, batch TEXT);
CREATE TABLE ledger_raw(d TEXT, amt TEXT, bal TEXT, ref TEXT, cp TEXT, txt TEXT, batch TEXT);
.import --csv --skip 1 '$dir/bank.csv' bank_raw
$overlap
.import --csv --skip 1 '$dir/ledger.csv' ledger_raw

-- st: 0 free, 1 matched, 2 duplicate; line = physical line in its file
CREATE TABLE bank(id INTEGER PRIMARY KEY, f INT, line INT, day INT, fen INT,
    refn TEXT, cp TEXT, st INT);
CREATE TABLE ledger(id INTEGER PRIMARY KEY, line INT, day INT, fen INT,
    refn TEXT, cp TEXT, st INT);
INSERT INTO bank
SELECT NULL, f, line, CAST(julianday(d) - 2440587.5 AS INT),
    CAST(replace(amt, '.', '') AS INT),
    upper(replace(replace(replace(replace(replace(ref, ' ', ''), '-', ''),
        '/', ''), '_', ''), '.', '')), cp, 0
FROM (SELECT 0 AS f, rowid + 1 AS line, * FROM bank_raw
      UNION ALL SELECT 1, rowid + 1, * FROM bank_ov_raw);
INSERT INTO ledger
SELECT NULL, rowid + 1, CAST(julianday(d) - 2440587.5 AS INT),
    CAST(replace(amt, '.', '') AS INT),
    upper(replace(replace(replace(replace(replace(ref, ' ', ''), '-', ''),
        '/', ''), '_', ''), '.', '')), cp, 0
FROM ledger_raw;
CREATE INDEX bank_ref ON bank(refn, fen);
CREATE INDEX ledger_ref ON ledger(refn, fen);
CREATE INDEX ledger_amt ON ledger(fen, day);

-- 0. duplicates across the two statement files
UPDATE bank SET st = 2 WHERE f = 1 AND EXISTS (SELECT 1 FROM bank o
    WHERE o.f = 0 AND o.refn = bank.refn AND o.fen = bank.fen
    AND o.day = bank.day);

-- 1. reference exact, one free line per key on each side
CREATE TABLE m1 AS
WITH bk AS (SELECT refn, fen, min(id) AS id FROM bank
            WHERE st = 0 AND refn <> '' GROUP BY refn, fen HAVING count(*) = 1),
     lk AS (SELECT refn, fen, min(id) AS id FROM ledger
            WHERE st = 0 AND refn <> '' GROUP BY refn, fen HAVING count(*) = 1)
SELECT bk.id AS bid, lk.id AS lid FROM bk JOIN lk USING (refn, fen);
UPDATE bank SET st = 1 WHERE id IN (SELECT bid FROM m1);
UPDATE ledger SET st = 1 WHERE id IN (SELECT lid FROM m1);

-- 2. amount + date window, mutual unique best candidate
CREATE TABLE c2 AS
SELECT b.id AS bid, l.id AS lid,
    (b.cp = l.cp AND b.cp <> '') * 100 - abs(l.day - b.day) AS score
FROM bank b JOIN ledger l ON l.fen = b.fen
    AND l.day BETWEEN b.day - 1 AND b.day + 3
WHERE b.st = 0 AND l.st = 0;
CREATE TABLE m2 AS
WITH r1 AS (SELECT bid, lid, score,
                max(score) OVER (PARTITION BY bid) AS bmax,
                max(score) OVER (PARTITION BY lid) AS lmax FROM c2),
     r2 AS (SELECT *, sum(score = bmax) OVER (PARTITION BY bid) AS nb,
                sum(score = lmax) OVER (PARTITION BY lid) AS nl FROM r1)
SELECT bid, lid FROM r2
WHERE score = bmax AND score = lmax AND nb = 1 AND nl = 1;
UPDATE bank SET st = 1 WHERE id IN (SELECT bid FROM m2);
UPDATE ledger SET st = 1 WHERE id IN (SELECT lid FROM m2);

-- what is left is a difference, by side and sign
SELECT 'RESULTROW',
    (SELECT count(*) FROM bank), (SELECT count(*) FROM ledger),
    (SELECT count(*) FROM bank WHERE st = 2),
    (SELECT count(*) FROM m1), (SELECT count(*) FROM m2),
    (SELECT count(*) FROM bank WHERE st = 0),
    (SELECT count(*) FROM ledger WHERE st = 0);
EOF

now() { date +%s.%N; }
times=
i=1
while [ "$i" -le "$reps" ]; do
	t0=$(now)
	row=$(sqlite3 -batch -list -separator ' ' :memory: <"$sql")
	t1=$(now)
	t=$(echo "$t1 $t0" | awk '{ printf "%.3f", $1 - $2 }')
	times="$times $t"
	echo "$row" | awk -v r="$i" -v t="$t" '$1 == "RESULTROW" {
		printf "run %d: sqlite %.3f s (import + passes); bank %d, ledger %d lines; duplicates %d, reference %d, amount+date %d; unmatched bank %d, ledger %d\n", r, t, $2, $3, $4, $5, $6, $7, $8 }'
	i=$((i + 1))
done
med=$(echo $times | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END {
	printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "median: sqlite $med s ($(sqlite3 --version | cut -d' ' -f1), in-memory database)"
echo "RESULT sqlite total=$med"
