/*
 * bench/recon.c - fund reconciliation on a generated set (issue 4).
 *
 * DIR is what tests/recon_gen.py writes: bank.csv (and bank-overlap.csv),
 * ledger.csv, rules.cfg and truth.json. Each of R repetitions parses both
 * sides and matches them, as clerkctl reconcile does, and times each part
 * on the monotonic clock:
 *
 *   parse (serial)   bank files then the ledger, on one thread, as
 *                    clerkctl reconcile and the reconcile step do today;
 *   parse (2 thr.)   the bank side and the ledger side on a thread each
 *                    (the sides are independent), which is what two
 *                    cores allow; this is the parse in the total;
 *   match            recon_match(), which uses two threads itself.
 *
 * The outputs (result.json, differences.csv, report.html) are written
 * once after the repetitions, timed on their own and not part of the
 * target. Then result.json is read back and compared with truth.json the
 * way tests/integration/test_reconcile.py does: every match and every
 * difference as a multiset of (kind, file:line..., candidates), and the
 * 余额调节表. Precision and recall are printed; anything short of 100% /
 * 100% makes the benchmark exit 1. Missing the time target does not.
 *
 * The SQL baselines (bench/recon_sql.sh, bench/recon_duckdb.mjs) run
 * beside this from bench/recon_all.sh, which prints the ratios.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "recon.h"
#include "util.h"

#define TARGET_S   1.5
#define MAX_REPS   50

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: bench_recon DIR [-r R] [-o OUT] [-n]\n"
	    "\n"
	    "Reconciles DIR/bank.csv (+ DIR/bank-overlap.csv) against\n"
	    "DIR/ledger.csv with DIR/rules.cfg, as written by\n"
	    "tests/recon_gen.py, R times; prints parse, match and total\n"
	    "medians against the %.1f s target and the peak RSS, writes the\n"
	    "outputs once and compares them with DIR/truth.json.\n"
	    "\n"
	    "  -r, --reps R    repetitions (default 3)\n"
	    "  -o, --out OUT   where the outputs go (default DIR/bench-out)\n"
	    "  -n, --no-check  neither write the outputs nor compare them with\n"
	    "                  the truth: only the timed part (for perf)\n"
	    "  -h, --help      this text\n"
	    "\n"
	    "Exits 1 if a file cannot be read or the result differs from the\n"
	    "truth (precision or recall below 100%%), 2 on a usage error.\n",
	    TARGET_S);
}

/* ---- the files of a set ---- */

struct set {
	char *bank[2];
	int nbank;
	char *ledger;
	struct recon_rules rules;
};

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int
set_load(struct set *s, const char *dir)
{
	struct err e;

	memset(s, 0, sizeof(*s));
	s->bank[s->nbank++] = util_path_join(dir, "bank.csv");
	s->bank[s->nbank] = util_path_join(dir, "bank-overlap.csv");
	if (exists(s->bank[s->nbank]))
		s->nbank++;
	else
		free(s->bank[s->nbank]);
	s->ledger = util_path_join(dir, "ledger.csv");
	recon_rules_default(&s->rules);
	err_clear(&e);
	char *rules = util_path_join(dir, "rules.cfg");
	int rc = recon_rules_load_file(rules, &s->rules, &e);

	free(rules);
	if (rc < 0) {
		fprintf(stderr, "bench_recon: %s\n", e.msg);
		return -1;
	}
	return 0;
}

/* ---- parsing, serial and one thread per side ---- */

struct parse_job {
	const struct set *s;
	bool bank;
	struct recon_side side;
	struct err e;
	int rc;
};

static void *
parse_run(void *arg)
{
	struct parse_job *j = arg;

	err_clear(&j->e);
	j->rc = 0;
	if (j->bank) {
		for (int i = 0; i < j->s->nbank && j->rc == 0; i++)
			j->rc = recon_parse_file(j->s->bank[i],
			    &j->s->rules.bank_csv, &j->side, &j->e);
	} else {
		j->rc = recon_parse_file(j->s->ledger, &j->s->rules.ledger_csv,
		    &j->side, &j->e);
	}
	return NULL;
}

/* Both sides; on two threads if threaded. The sides are left in jb and
 * jl for the caller to match and free. */
static int
parse_both(const struct set *s, bool threaded, struct parse_job *jb,
    struct parse_job *jl)
{
	pthread_t t;
	bool joined = false;

	memset(jb, 0, sizeof(*jb));
	memset(jl, 0, sizeof(*jl));
	jb->s = jl->s = s;
	jb->bank = true;
	if (threaded && pthread_create(&t, NULL, parse_run, jl) == 0)
		joined = true;
	parse_run(jb);
	if (joined)
		pthread_join(t, NULL);
	else
		parse_run(jl);
	if (jb->rc < 0 || jl->rc < 0) {
		fprintf(stderr, "bench_recon: %s\n",
		    jb->rc < 0 ? jb->e.msg : jl->e.msg);
		recon_side_free(&jb->side);
		recon_side_free(&jl->side);
		return -1;
	}
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	double tmp[MAX_REPS];

	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* ---- comparison with the truth ---- */

struct keys {
	char **v;
	size_t n, cap;
};

static void
keys_add(struct keys *k, char *s)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 4096;
		k->v = xrealloc(k->v, k->cap * sizeof(*k->v));
	}
	k->v[k->n++] = s;
}

static void
keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A growing string for one key. */
struct sbuf {
	char *p;
	size_t n, cap;
};

static void
sb_add(struct sbuf *b, const char *s)
{
	size_t l = strlen(s);

	if (b->n + l + 1 > b->cap) {
		b->cap = (b->n + l + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, l + 1);
	b->n += l;
}

/*
 * "file:line" strings of a list, sorted and joined with ','. In
 * result.json a matched line is [file index, line] into files, a
 * difference's candidate an object with file and line; in truth.json
 * every line is already "file:line".
 */
static void
sb_lines(struct sbuf *b, json_t *arr, json_t *files)
{
	struct keys k = { 0 };
	size_t i;
	json_t *x;

	json_array_foreach(arr, i, x) {
		if (json_is_string(x)) {
			keys_add(&k, xstrdup(json_string_value(x)));
		} else if (json_is_array(x)) {
			json_int_t f = json_integer_value(json_array_get(x, 0));
			const char *fn = json_string_value(json_array_get(files,
			    (size_t)f));
			const char *base = fn ? strrchr(fn, '/') : NULL;

			keys_add(&k, xasprintf("%s:%lld",
			    base ? base + 1 : fn ? fn : "?", (long long)
			    json_integer_value(json_array_get(x, 1))));
		} else {
			keys_add(&k, xasprintf("%s:%lld", json_string_value(
			    json_object_get(x, "file")), (long long)
			    json_integer_value(json_object_get(x, "line"))));
		}
	}
	qsort(k.v, k.n, sizeof(*k.v), cmp_str);
	for (i = 0; i < k.n; i++) {
		if (i)
			sb_add(b, ",");
		sb_add(b, k.v[i]);
	}
	keys_free(&k);
}

static void
match_keys(json_t *arr, json_t *bfiles, json_t *lfiles, struct keys *out)
{
	size_t i;
	json_t *m;

	json_array_foreach(arr, i, m) {
		struct sbuf b = { 0 };

		sb_add(&b, json_string_value(json_object_get(m, "kind")));
		sb_add(&b, "|");
		sb_lines(&b, json_object_get(m, "bank"), bfiles);
		sb_add(&b, "|");
		sb_lines(&b, json_object_get(m, "ledger"), lfiles);
		sb_add(&b, "|");
		sb_add(&b, json_string_value(json_object_get(m,
		    "difference")));
		keys_add(out, b.p);
	}
}

static void
diff_keys(json_t *arr, bool truth, struct keys *out)
{
	size_t i;
	json_t *d;

	json_array_foreach(arr, i, d) {
		struct sbuf b = { 0 };
		char *line;

		sb_add(&b, json_string_value(json_object_get(d, "kind")));
		sb_add(&b, "|");
		if (truth)
			line = xstrdup(json_string_value(json_object_get(d,
			    "line")));
		else if (json_object_get(d, "line") != NULL)
			line = xasprintf("%s:%lld", json_string_value(
			    json_object_get(d, "file")), (long long)
			    json_integer_value(json_object_get(d, "line")));
		else
			line = xstrdup("-");
		sb_add(&b, line);
		free(line);
		sb_add(&b, "|");
		sb_lines(&b, json_object_get(d, "candidates"), NULL);
		keys_add(out, b.p);
	}
}

/* Multiset intersection of got and exp; prints the first few strays. */
static size_t
common(struct keys *got, struct keys *exp, const char *what)
{
	size_t i = 0, j = 0, both = 0;
	int shown = 0;

	qsort(got->v, got->n, sizeof(char *), cmp_str);
	qsort(exp->v, exp->n, sizeof(char *), cmp_str);
	while (i < got->n || j < exp->n) {
		int c = i == got->n ? 1 : j == exp->n ? -1 :
		    strcmp(got->v[i], exp->v[j]);

		if (c == 0) {
			both++;
			i++;
			j++;
			continue;
		}
		if (shown++ < 5)
			printf("  %s %s: %s\n", c < 0 ? "unexpected" :
			    "missing", what, c < 0 ? got->v[i] : exp->v[j]);
		if (c < 0)
			i++;
		else
			j++;
	}
	return both;
}

static json_t *
load_json(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (j == NULL)
		fprintf(stderr, "bench_recon: %s:%d: %s\n", path, je.line,
		    je.text);
	return j;
}

static double
pct(size_t a, size_t b)
{
	return b ? 100.0 * a / b : 100.0;
}

/* 0 if result.json in out equals DIR/truth.json, 1 if not, -1 if either
 * cannot be read. */
static int
compare_truth(const char *dir, const char *out)
{
	char *rp = util_path_join(out, "result.json");
	char *tp = util_path_join(dir, "truth.json");
	json_t *res = load_json(rp), *truth = load_json(tp);
	struct keys gm = { 0 }, em = { 0 }, gd = { 0 }, ed = { 0 };
	size_t cm, cd;
	int bad = 0, rc = -1;
	const char *k;
	json_t *v, *table, *want;

	free(rp);
	free(tp);
	if (res == NULL || truth == NULL)
		goto done;
	match_keys(json_object_get(res, "matched"), json_object_get(
	    json_object_get(res, "bank"), "files"), json_object_get(
	    json_object_get(res, "ledger"), "files"), &gm);
	match_keys(json_object_get(truth, "matches"), NULL, NULL, &em);
	diff_keys(json_object_get(res, "differences"), false, &gd);
	diff_keys(json_object_get(truth, "differences"), true, &ed);
	cm = common(&gm, &em, "match");
	cd = common(&gd, &ed, "difference");
	printf("truth: matches %zu expected, %zu found, %zu right: precision "
	    "%.3f%%, recall %.3f%%\n", em.n, gm.n, cm, pct(cm, gm.n),
	    pct(cm, em.n));
	printf("truth: differences %zu expected, %zu found, %zu right: "
	    "precision %.3f%%, recall %.3f%%\n", ed.n, gd.n, cd, pct(cd, gd.n),
	    pct(cd, ed.n));
	if (cm != gm.n || cm != em.n || cd != gd.n || cd != ed.n)
		bad = 1;

	table = json_object_get(res, "reconciliation");
	want = json_object_get(truth, "reconciliation");
	json_object_foreach(want, k, v) {
		json_t *got = json_object_get(table, k);

		if (got == NULL || !json_equal(got, v)) {
			char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
			char *w = json_dumps(v, JSON_ENCODE_ANY);

			printf("  余额调节表 %s: %s, truth %s\n", k,
			    g ? g : "(missing)", w);
			free(g);
			free(w);
			bad = 1;
		}
	}
	printf("truth: 余额调节表 %s\n", bad ? "differs or does not tie" :
	    "equals the truth and ties");
	rc = bad;
done:
	keys_free(&gm);
	keys_free(&em);
	keys_free(&gd);
	keys_free(&ed);
	json_decref(res);
	json_decref(truth);
	return rc;
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "no-check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double t_ser[MAX_REPS], t_par[MAX_REPS], t_match[MAX_REPS],
	    t_tot[MAX_REPS];
	const char *dir, *outarg = NULL;
	char *out;
	int reps = 3, c, rc;
	bool check = true;
	struct set s;
	struct parse_job jb, jl;
	struct recon_result *res = NULL;
	struct rusage ru;
	long maxrss_kb;
	size_t nb = 0, nl = 0, nm = 0, nd = 0;
	struct err e;
	double t0, t_write;

	while ((c = getopt_long(argc, argv, "r:o:nh", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': {
			char *end;

			errno = 0;
			reps = (int)strtol(optarg, &end, 10);
			if (errno || *end || reps < 1 || reps > MAX_REPS) {
				fprintf(stderr, "bench_recon: -r wants 1..%d\n",
				    MAX_REPS);
				return 2;
			}
			break;
		}
		case 'o':
			outarg = optarg;
			break;
		case 'n':
			check = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	dir = argv[optind];
	if (set_load(&s, dir) < 0)
		return 1;
	out = outarg ? xstrdup(outarg) : util_path_join(dir, "bench-out");

	printf("bench_recon: %s (%d bank file(s) + ledger), %ld cpu(s), "
	    "%d repetition(s)\n", dir, s.nbank, sysconf(_SC_NPROCESSORS_ONLN),
	    reps);
	for (int r = 0; r < reps; r++) {
		/* As clerkctl reconcile does it: one file after the other. */
		t0 = now_s();
		if (parse_both(&s, false, &jb, &jl) < 0)
			return 1;
		t_ser[r] = now_s() - t0;
		recon_side_free(&jb.side);
		recon_side_free(&jl.side);

		t0 = now_s();
		if (parse_both(&s, true, &jb, &jl) < 0)
			return 1;
		t_par[r] = now_s() - t0;
		t0 = now_s();
		res = recon_match(&jb.side, &jl.side, &s.rules, NULL, 0);
		t_match[r] = now_s() - t0;
		t_tot[r] = t_par[r] + t_match[r];
		nb = jb.side.n;
		nl = jl.side.n;
		nm = res->nmatches;
		nd = res->ndiffs;
		printf("run %d: parse %.3f s serial, %.3f s on 2 threads; match "
		    "%.3f s; total %.3f s (serial parse: %.3f s)\n", r + 1,
		    t_ser[r], t_par[r], t_match[r], t_tot[r],
		    t_ser[r] + t_match[r]);
		fflush(stdout);
		if (r + 1 < reps) {
			recon_result_free(res);
			recon_side_free(&jb.side);
			recon_side_free(&jl.side);
		}
	}
	/* Before the outputs and the truth are loaded: the peak of
	 * reconciling, not of checking. */
	getrusage(RUSAGE_SELF, &ru);
	maxrss_kb = ru.ru_maxrss;

	err_clear(&e);
	t0 = now_s();
	rc = check ? recon_write_outputs(out, &jb.side, &jl.side, res, &e) : 0;
	t_write = now_s() - t0;
	if (rc < 0) {
		fprintf(stderr, "bench_recon: %s\n", e.msg);
		return 1;
	}
	recon_result_free(res);
	recon_side_free(&jb.side);
	recon_side_free(&jl.side);

	double m_ser = median(t_ser, reps), m_par = median(t_par, reps),
	    m_match = median(t_match, reps), m_tot = median(t_tot, reps);

	printf("lines: bank %zu, ledger %zu; matches %zu, differences %zu\n",
	    nb, nl, nm, nd);
	if (check)
		printf("outputs written to %s in %.3f s (not part of the "
		    "target)\n", out, t_write);
	printf("peak RSS %.0f MiB (ru_maxrss, over the repetitions)\n",
	    maxrss_kb / 1024.0);
	rc = check ? compare_truth(dir, out) : 0;
	printf("median: parse %.3f s (serial %.3f s), match %.3f s, total "
	    "%.3f s (with the serial parse %.3f s); target %.1f s: %s\n",
	    m_par, m_ser, m_match, m_tot, m_ser + m_match, TARGET_S,
	    m_tot <= TARGET_S ? "met" : "NOT met");
	/* One line for bench/recon_all.sh. */
	printf("RESULT clerk parse=%.3f parse_serial=%.3f match=%.3f "
	    "total=%.3f write=%.3f maxrss_mib=%.0f truth=%s\n", m_par, m_ser,
	    m_match, m_tot, t_write, maxrss_kb / 1024.0, !check ? "unchecked" :
	    rc == 0 ? "ok" : "FAIL");
	for (int i = 0; i < s.nbank; i++)
		free(s.bank[i]);
	free(s.ledger);
	free(out);
	recon_rules_clear(&s.rules);
	return rc == 0 ? 0 : 1;
}
