// bench/recon_duckdb.mjs - the DuckDB baseline for bench_recon (issue 4).
//
//   cd bench && npm install      # once: @duckdb/node-api (package.json)
//   node bench/recon_duckdb.mjs DIR [-r R]
//
// The same passes as bench/recon_sql.sh (see there, and recon/README.md
// "Matching"), in DuckDB with read_csv, on an in-memory database with
// threads = 2: duplicates across the two statement files, reference exact
// (normalised reference + amount, one free line per key on each side),
// and amount + date window [-1, 3] with the mutual unique best candidate
// (equal counterparty, then the closer date; one round). Batches, reversals,
// fees and the ambiguity bookkeeping are left out. Amounts are read as
// DECIMAL(18,2), which is exact. Each of R runs gets a fresh instance;
// its wall time runs from creating the instance to the final counts
// (CSV reading included, node's start-up and module loading not). The last
// line, "RESULT duckdb ...", is read by bench/recon_all.sh.
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

function usage() {
  console.error('usage: node bench/recon_duckdb.mjs DIR [-r R]');
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length < 1) usage();
const dir = args[0];
let reps = 3;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '-r' && i + 1 < args.length) reps = Number(args[++i]);
  else usage();
}
if (!Number.isInteger(reps) || reps < 1) usage();
if (dir.includes("'")) {
  console.error('recon_duckdb.mjs: DIR must not contain a quote');
  process.exit(2);
}
for (const f of ['bank.csv', 'ledger.csv']) {
  if (!existsSync(`${dir}/${f}`)) {
    console.error(`recon_duckdb.mjs: ${dir}/${f}: no such file`);
    process.exit(1);
  }
}
const overlap = existsSync(`${dir}/bank-overlap.csv`);

const csv = (f) => `read_csv('${dir}/${f}', header = true, auto_detect = false,
    delim = ',', quote = '"', escape = '"',
    columns = {'d': 'DATE', 'amt': 'DECIMAL(18,2)', 'bal': 'VARCHAR',
               'ref': 'VARCHAR', 'cp': 'VARCHAR', 'txt': 'VARCHAR',
               'batch': 'VARCHAR'})`;
const refn = `upper(regexp_replace(coalesce(ref, ''), '[ /_.-]', '', 'g'))`;

const statements = [
  // rowid follows the file's order (insertion order is preserved)
  `CREATE TABLE bank_raw AS SELECT * FROM ${csv('bank.csv')}`,
  overlap ? `CREATE TABLE bank_ov_raw AS SELECT * FROM ${csv('bank-overlap.csv')}`
    : `CREATE TABLE bank_ov_raw AS SELECT * FROM bank_raw LIMIT 0`,
  `CREATE TABLE ledger_raw AS SELECT * FROM ${csv('ledger.csv')}`,
  // st: 0 free, 1 matched, 2 duplicate; line = physical line in its file
  `CREATE TABLE bank AS
   SELECT row_number() OVER (ORDER BY f, line) AS id, * FROM (
     SELECT 0 AS f, rowid + 2 AS line, d AS day, CAST(amt * 100 AS BIGINT) AS fen,
            ${refn} AS refn, coalesce(cp, '') AS cp, 0 AS st FROM bank_raw
     UNION ALL
     SELECT 1, rowid + 2, d, CAST(amt * 100 AS BIGINT), ${refn},
            coalesce(cp, ''), 0 FROM bank_ov_raw)`,
  `CREATE TABLE ledger AS
   SELECT rowid + 1 AS id, rowid + 2 AS line, d AS day,
          CAST(amt * 100 AS BIGINT) AS fen, ${refn} AS refn,
          coalesce(cp, '') AS cp, 0 AS st FROM ledger_raw`,
  // 0. duplicates across the two statement files
  `UPDATE bank SET st = 2 WHERE f = 1 AND id IN (
     SELECT v.id FROM bank v JOIN bank o ON o.f = 0 AND v.f = 1
       AND o.refn = v.refn AND o.fen = v.fen AND o.day = v.day)`,
  // 1. reference exact, one free line per key on each side
  `CREATE TABLE m1 AS
   WITH bk AS (SELECT refn, fen, min(id) AS id FROM bank
               WHERE st = 0 AND refn <> '' GROUP BY refn, fen HAVING count(*) = 1),
        lk AS (SELECT refn, fen, min(id) AS id FROM ledger
               WHERE st = 0 AND refn <> '' GROUP BY refn, fen HAVING count(*) = 1)
   SELECT bk.id AS bid, lk.id AS lid FROM bk JOIN lk USING (refn, fen)`,
  `UPDATE bank SET st = 1 WHERE id IN (SELECT bid FROM m1)`,
  `UPDATE ledger SET st = 1 WHERE id IN (SELECT lid FROM m1)`,
  // 2. amount + date window, mutual unique best candidate
  `CREATE TABLE c2 AS
   SELECT b.id AS bid, l.id AS lid,
          CASE WHEN b.cp = l.cp AND b.cp <> '' THEN 100 ELSE 0 END
            - abs(l.day - b.day) AS score
   FROM (SELECT * FROM bank WHERE st = 0) b
   JOIN (SELECT * FROM ledger WHERE st = 0) l ON l.fen = b.fen
     AND l.day BETWEEN b.day - 1 AND b.day + 3`,
  `CREATE TABLE m2 AS
   WITH r1 AS (SELECT bid, lid, score,
                 max(score) OVER (PARTITION BY bid) AS bmax,
                 max(score) OVER (PARTITION BY lid) AS lmax FROM c2),
        r2 AS (SELECT *,
                 sum(CASE WHEN score = bmax THEN 1 ELSE 0 END) OVER (PARTITION BY bid) AS nb,
                 sum(CASE WHEN score = lmax THEN 1 ELSE 0 END) OVER (PARTITION BY lid) AS nl
               FROM r1)
   SELECT bid, lid FROM r2
   WHERE score = bmax AND score = lmax AND nb = 1 AND nl = 1`,
  `UPDATE bank SET st = 1 WHERE id IN (SELECT bid FROM m2)`,
  `UPDATE ledger SET st = 1 WHERE id IN (SELECT lid FROM m2)`,
];
const counts = `SELECT
    (SELECT count(*) FROM bank), (SELECT count(*) FROM ledger),
    (SELECT count(*) FROM bank WHERE st = 2),
    (SELECT count(*) FROM m1), (SELECT count(*) FROM m2),
    (SELECT count(*) FROM bank WHERE st = 0),
    (SELECT count(*) FROM ledger WHERE st = 0)`;

const times = [];
let version = '';
for (let r = 1; r <= reps; r++) {
  const t0 = performance.now();
  const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await inst.connect();
  for (const s of statements) await conn.run(s);
  const row = (await conn.runAndReadAll(counts)).getRows()[0].map(Number);
  const t = (performance.now() - t0) / 1000;
  if (!version)
    version = (await conn.runAndReadAll('SELECT version()')).getRows()[0][0];
  conn.closeSync();
  inst.closeSync();
  times.push(t);
  console.log(`run ${r}: duckdb ${t.toFixed(3)} s (read_csv + passes); ` +
    `bank ${row[0]}, ledger ${row[1]} lines; duplicates ${row[2]}, ` +
    `reference ${row[3]}, amount+date ${row[4]}; ` +
    `unmatched bank ${row[5]}, ledger ${row[6]}`);
}
times.sort((a, b) => a - b);
const n = times.length;
const med = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
console.log(`median: duckdb ${med.toFixed(3)} s (DuckDB ${version}, ` +
  `@duckdb/node-api, threads = 2, in-memory database)`);
console.log(`RESULT duckdb total=${med.toFixed(3)}`);
