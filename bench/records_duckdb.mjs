// bench/records_duckdb.mjs - the DuckDB baseline for bench_records (issue 7).
//
//   cd bench && npm install      # once: @duckdb/node-api (package.json)
//   node bench/records_duckdb.mjs DIR cross|self [-r R] [--initials FILE]
//
// The same blocking and scoring as records/ (records/match.c), in DuckDB
// SQL on an in-memory database with threads = 2:
//   - read the CSV files (every column VARCHAR), normalise: names upper
//     case without spaces and dots, IDs upper case with 15 digits made 18
//     (the GB 11643 check character computed in SQL), birth dates in the
//     four formats records/ reads (else the ID's), sex from the ID's 17th
//     digit, region from its column (else the ID's);
//   - the name key: each character's pinyin initial, from the table
//     `bench_records --initials FILE` writes (records/' own: ICU's
//     readings, and a polyphonic surname's for a name's first character;
//     bench/records_all.sh passes it), else from the 3,755 GB2312 level-1
//     hanzi in their pinyin order (built here with TextDecoder('gbk')),
//     joined per character and aggregated in order; a character without
//     one stands for itself;
//   - blocks: the ID's first 17 characters, and birth date + name key;
//     the candidate pairs are their union (self: left row < right row);
//   - the score: the same components and points (ID exact 50 / check
//     character 35 / one digit off or transposed 30 / different -40, name
//     exact 25 / edit distance 1 15 / same initials 10 / two substitutions
//     5 / different -10, birth 15 / -15, sex 5 / -20, region 5 / same
//     city 2), decisions auto >= 90 and review >= 50. The name's edit
//     distance is on characters (lists), because DuckDB's levenshtein
//     counts UTF-8 bytes; distance 2 is counted for two substitutions
//     only, a little less work than clerk does.
// Each of R runs gets a fresh instance; its wall time runs from creating
// the instance to the final counts (CSV reading included, node's start-up
// not). Prints "RESULT duckdb-MODE ..." for bench/records_all.sh, with
// the process's peak RSS.
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { resourceUsage } from 'node:process';
import { DuckDBInstance } from '@duckdb/node-api';

function usage() {
  console.error('usage: node bench/records_duckdb.mjs DIR cross|self [-r R] [--initials FILE]');
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length < 2 || !['cross', 'self'].includes(args[1])) usage();
const [dir, mode] = args;
let reps = 3;
let initialsFile = null;
for (let i = 2; i < args.length; i++) {
  if (args[i] === '-r' && i + 1 < args.length) reps = Number(args[++i]);
  else if (args[i] === '--initials' && i + 1 < args.length) initialsFile = args[++i];
  else usage();
}
if (!Number.isInteger(reps) || reps < 1) usage();
if (dir.includes("'") || (initialsFile && initialsFile.includes("'"))) {
  console.error('records_duckdb.mjs: DIR and FILE must not contain a quote');
  process.exit(2);
}
if (initialsFile && !existsSync(initialsFile)) {
  console.error(`records_duckdb.mjs: ${initialsFile}: no such file`);
  process.exit(1);
}
const self = mode === 'self';
const leftFile = self ? 'insured.csv' : 'recipients.csv';
for (const f of self ? [leftFile] : [leftFile, 'deaths.csv']) {
  if (!existsSync(`${dir}/${f}`)) {
    console.error(`records_duckdb.mjs: ${dir}/${f}: no such file`);
    process.exit(1);
  }
}

// GB2312 level 1 is in pinyin order: the first code of each initial.
const bounds = [[0xB0A1, 'A'], [0xB0C5, 'B'], [0xB2C1, 'C'], [0xB4EE, 'D'],
  [0xB6EA, 'E'], [0xB7A2, 'F'], [0xB8C1, 'G'], [0xB9FE, 'H'], [0xBBF7, 'J'],
  [0xBFA6, 'K'], [0xC0AC, 'L'], [0xC2E8, 'M'], [0xC4C3, 'N'], [0xC5B6, 'O'],
  [0xC5BE, 'P'], [0xC6DA, 'Q'], [0xC8BB, 'R'], [0xC8F6, 'S'], [0xCBFA, 'T'],
  [0xCDDA, 'W'], [0xCEF4, 'X'], [0xD1B9, 'Y'], [0xD4D1, 'Z']];
const dec = new TextDecoder('gbk');
const initials = [];
for (let hi = 0xB0; hi <= 0xD7; hi++) {
  for (let lo = 0xA1; lo <= 0xFE; lo++) {
    const code = hi << 8 | lo;
    if (code > 0xD7F9) break;
    const ch = dec.decode(new Uint8Array([hi, lo]));
    let ini = null;
    for (const [b, l] of bounds) if (code >= b) ini = l;
    if (ch.length === 1 && ini) initials.push(`('${ch}','${ini}','${ini}')`);
  }
}

const csv = (f) => `read_csv('${dir}/${f}', header = true, auto_detect = false,
    all_varchar = true, delim = ',', quote = '"', escape = '"',
    columns = ${f === 'deaths.csv'
    ? `{'id': 'VARCHAR', 'name': 'VARCHAR', 'birth': 'VARCHAR', 'sex': 'VARCHAR', 'region': 'VARCHAR', 'died': 'VARCHAR'}`
    : f === 'insured.csv'
      ? `{'id': 'VARCHAR', 'name': 'VARCHAR', 'birth': 'VARCHAR', 'sex': 'VARCHAR', 'region': 'VARCHAR', 'pfrom': 'VARCHAR', 'pto': 'VARCHAR'}`
      : `{'id': 'VARCHAR', 'name': 'VARCHAR', 'birth': 'VARCHAR', 'sex': 'VARCHAR', 'region': 'VARCHAR', 'benefit': 'VARCHAR', 'amount': 'VARCHAR', 'pfrom': 'VARCHAR', 'pto': 'VARCHAR'}`})`;

// A side: normalised columns, one row per record; line = physical line.
const side = (t, f) => [
  // rowid follows the file's order (insertion order is preserved)
  `CREATE TABLE ${t}_raw AS SELECT * FROM ${csv(f)}`,
  `CREATE TABLE ${t}_n AS SELECT rowid + 2 AS line,
     upper(regexp_replace(coalesce(name, ''), '[\\s·.]', '', 'g')) AS name,
     CASE WHEN length(id) = 15 THEN fix18(substr(id, 1, 6) || '19' || substr(id, 7, 9))
          ELSE upper(coalesce(id, '')) END AS id,
     coalesce(try_strptime(birth, '%Y-%m-%d'), try_strptime(birth, '%Y/%m/%d'),
              try_strptime(birth, '%Y%m%d'), try_strptime(birth, '%Y年%m月%d日'))::DATE AS birth,
     CASE WHEN regexp_full_match(coalesce(region, ''), '[0-9]{6}') THEN region END AS region_col
     FROM ${t}_raw`,
  `CREATE TABLE ${t}_k AS SELECT c.line,
     string_agg(coalesce(CASE WHEN c.pos = 1 THEN i.first ELSE i.ini END, c.ch),
                '' ORDER BY c.pos) AS nkey,
     bool_and(i.ini IS NOT NULL) AS complete
     FROM (SELECT line, unnest(string_split(name, '')) AS ch,
                  generate_subscripts(string_split(name, ''), 1) AS pos FROM ${t}_n) c
     LEFT JOIN initials i ON i.ch = c.ch GROUP BY c.line`,
  // as records/load.c: the birth and region columns say it better than
  // the ID, which gives them when the columns do not
  `CREATE TABLE ${t} AS SELECT n.line, n.name, n.id, k.nkey,
     coalesce(k.complete, false) AS complete,
     coalesce(n.birth, try_strptime(substr(n.id, 7, 8), '%Y%m%d')::DATE) AS birth,
     CASE WHEN length(n.id) = 18 AND substr(n.id, 17, 1) BETWEEN '0' AND '9'
          THEN 2 - (substr(n.id, 17, 1)::INT % 2) ELSE 0 END AS sex,
     coalesce(n.region_col, CASE WHEN regexp_full_match(substr(n.id, 1, 6), '[0-9]{6}')
          THEN substr(n.id, 1, 6) END) AS region
     FROM ${t}_n n LEFT JOIN ${t}_k k USING (line)`,
];

const R = self ? 'l' : 'r';
const statements = [
  `SET threads = 2`,
  `CREATE MACRO fix18(s) AS s || substr('10X98765432',
     (list_sum(list_transform(range(1, 18), i -> substr(s, i, 1)::INT *
       [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2][i])) % 11 + 1)::BIGINT, 1)`,
  ...(initialsFile
    ? [`CREATE TABLE initials AS SELECT * FROM read_csv('${initialsFile}',
         header = true, auto_detect = false, delim = ',',
         columns = {'ch': 'VARCHAR', 'ini': 'VARCHAR', 'first': 'VARCHAR'})`]
    : [`CREATE TABLE initials(ch VARCHAR, ini VARCHAR, first VARCHAR)`,
       `INSERT INTO initials VALUES ${initials.join(',')}`]),
  ...side('l', leftFile),
  ...(self ? [] : side('r', 'deaths.csv')),
  // blocks: the union of the two equi-joins
  `CREATE TABLE cand AS
     SELECT a.line AS ll, b.line AS rl FROM l a JOIN ${R} b
       ON substr(a.id, 1, 17) = substr(b.id, 1, 17) AND a.id <> ''
       ${self ? 'AND a.line < b.line' : ''}
     UNION
     SELECT a.line, b.line FROM l a JOIN ${R} b
       ON a.birth = b.birth AND a.nkey = b.nkey AND a.name <> ''
       ${self ? 'AND a.line < b.line' : ''}`,
  `CREATE TABLE pairs AS SELECT ll, rl, a.id AS aid, b.id AS bid, a.name AS an, b.name AS bn,
     a.nkey = b.nkey AND a.complete AND b.complete AS same_initials,
     a.birth AS ab, b.birth AS bb, a.sex AS asx, b.sex AS bsx, a.region AS ar, b.region AS br,
     CASE WHEN length(a.id) = 18 AND length(b.id) = 18 AND a.id <> b.id
          THEN list_filter(range(1, 19), i -> a.id[i] <> b.id[i]) END AS d,
     string_split(a.name, '') AS x, string_split(b.name, '') AS y
     FROM cand JOIN l a ON a.line = ll JOIN ${R} b ON b.line = rl`,
  `CREATE TABLE scored AS SELECT ll, rl,
     (CASE WHEN aid = '' OR bid = '' THEN 0
           WHEN aid = bid THEN 50
           WHEN d IS NULL THEN -40
           WHEN len(d) = 1 AND d[1] = 18 THEN 35
           WHEN len(d) = 1 THEN 30
           WHEN len(d) = 2 AND d[2] = d[1] + 1 AND aid[d[1]] = bid[d[2]] AND aid[d[2]] = bid[d[1]] THEN 30
           WHEN len(d) = 2 AND d[2] = 18 THEN 30
           WHEN len(d) = 3 AND d[3] = 18 AND d[2] = d[1] + 1 AND aid[d[1]] = bid[d[2]]
                AND aid[d[2]] = bid[d[1]] THEN 30
           ELSE -40 END)
     + (CASE WHEN an = '' OR bn = '' THEN 0
             WHEN an = bn THEN 25
             WHEN CASE
                    WHEN len(x) = len(y) THEN len(list_filter(list_zip(x, y), p -> p[1] <> p[2])) = 1
                    WHEN len(x) = len(y) + 1 THEN list_bool_or(list_transform(range(1, len(x) + 1),
                         i -> list_concat(x[1:i - 1], x[i + 1:]) = y))
                    WHEN len(y) = len(x) + 1 THEN list_bool_or(list_transform(range(1, len(y) + 1),
                         i -> list_concat(y[1:i - 1], y[i + 1:]) = x))
                    ELSE false END THEN 15
             WHEN same_initials THEN 10
             WHEN len(x) >= 3 AND len(x) = len(y) AND
                  len(list_filter(list_zip(x, y), p -> p[1] <> p[2])) = 2 THEN 5
             ELSE -10 END)
     + (CASE WHEN ab IS NULL OR bb IS NULL THEN 0 WHEN ab = bb THEN 15 ELSE -15 END)
     + (CASE WHEN asx = 0 OR bsx = 0 THEN 0 WHEN asx = bsx THEN 5 ELSE -20 END)
     + (CASE WHEN ar IS NULL OR br IS NULL THEN 0 WHEN ar = br THEN 5
             WHEN substr(ar, 1, 4) = substr(br, 1, 4) THEN 2 ELSE 0 END) AS score
     FROM pairs`,
];
const final = `SELECT count(*) AS candidates,
     count(*) FILTER (WHERE score >= 90) AS auto,
     count(*) FILTER (WHERE score >= 50 AND score < 90) AS review,
     (SELECT count(*) FROM l) AS nleft FROM scored`;

const times = [];
let last;
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  for (const s of statements) await con.run(s);
  const rows = (await con.runAndReadAll(final)).getRowObjects();
  const t = (performance.now() - t0) / 1000;
  times.push(t);
  last = rows[0];
  console.log(`run ${r + 1}: ${t.toFixed(3)} s (${last.nleft} left records,` +
    ` ${last.candidates} candidates, ${last.auto} auto, ${last.review} review)`);
  con.closeSync?.();
  inst.closeSync?.();
}
times.sort((a, b) => a - b);
const med = reps % 2 ? times[(reps - 1) / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
const rss = resourceUsage().maxRSS / 1024;
console.log(`RESULT duckdb-${mode} total=${med.toFixed(3)} maxrss_mib=${rss.toFixed(0)}` +
  ` candidates=${last.candidates} auto=${last.auto} review=${last.review}`);
