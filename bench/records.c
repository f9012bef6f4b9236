/*
 * bench/records.c - record matching at province scale (issue 7).
 *
 *   bench_records DIR cross|self [-r R]
 *   bench_records --initials FILE.csv
 *
 * DIR is what tests/records_gen.py --bench-recipients N --bench-deaths M
 * writes. "cross" matches recipients.csv against deaths.csv (四比对's
 * death check) with DIR/rules-crosscheck.cfg; "self" matches insured.csv
 * against itself (参保信息合并) with DIR/rules-merge.cfg. Each of R runs
 * reads and normalises the files (the two of cross on a thread each, as
 * the step does) and matches them (two threads), timed on the monotonic
 * clock; peak memory is the process's maximum resident set, so run the
 * two modes as separate processes (bench/records_all.sh does).
 *
 * The result is checked against DIR/truth.json: the auto pairs must be
 * exactly the injected deaths (cross) or duplicates (self); otherwise the
 * benchmark exits 1. Pairs for review are counted: the generated people
 * include namesakes born the same day in the same district whose IDs
 * differ in one digit, which a reviewer should indeed see.
 *
 * The last line, "RESULT clerk-MODE ...", is read by records_all.sh.
 * --initials writes the name key's pinyin initials (ICU's, with the
 * surname readings) for bench/records_duckdb.mjs to block on the same
 * keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jansson.h>

#include "records.h"
#include "util.h"

#define MAX_REPS 20

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
lcmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The name key's initials as CSV (ch,ini,first: the initial of a
 * character, and of one that begins a name), for the DuckDB baseline to
 * block on the same keys as records/ does.
 */
static int
write_initials(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "bench_records: %s: %s\n", path,
		    strerror(errno));
		return 1;
	}
	fputs("ch,ini,first\n", f);
	for (uint32_t c = 0x3400; c <= 0x9FFF; c++) {
		char ini = rec_name_initial(c, 1), first = rec_name_initial(c, 0);
		char u[4] = { (char)(0xE0 | c >> 12),
		    (char)(0x80 | (c >> 6 & 0x3F)), (char)(0x80 | (c & 0x3F)),
		    '\0' };

		if (ini != 0 || first != 0)
			fprintf(f, "%s,%c,%c\n", u, ini ? ini : first,
			    first ? first : ini);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "bench_records: %s: %s\n", path,
		    strerror(errno));
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	double tparse[MAX_REPS], tmatch[MAX_REPS], ttotal[MAX_REPS];
	struct rec_rules rules;
	struct err e;
	const char *dir, *mode;
	char *rpath, *lpath, *tpath;
	bool self;
	int reps = 3, rc = 0;
	size_t nleft = 0, nright = 0, npairs = 0, ncand = 0;
	uint64_t *got = NULL, *want = NULL;
	size_t ngot = 0, nwant = 0, nreview = 0;
	json_t *truth;
	json_error_t je;
	struct rusage ru;

	if (argc == 3 && strcmp(argv[1], "--initials") == 0)
		return write_initials(argv[2]);
	if (argc < 3 || (strcmp(argv[2], "cross") != 0 &&
	    strcmp(argv[2], "self") != 0)) {
		fprintf(stderr, "usage: bench_records DIR cross|self [-r R]\n"
		    "       bench_records --initials FILE.csv\n");
		return 2;
	}
	dir = argv[1];
	mode = argv[2];
	self = strcmp(mode, "self") == 0;
	if (argc == 5 && strcmp(argv[3], "-r") == 0)
		reps = atoi(argv[4]);
	if (reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "bench_records: -r is 1 to %d\n", MAX_REPS);
		return 2;
	}
	rpath = xasprintf("%s/%s", dir, self ? "rules-merge.cfg" :
	    "rules-crosscheck.cfg");
	lpath = xasprintf("%s/%s", dir, self ? "insured.csv" : "recipients.csv");
	tpath = xasprintf("%s/truth.json", dir);
	rec_rules_default(&rules);
	if (rec_rules_load_file(rpath, &rules, &e) < 0) {
		fprintf(stderr, "bench_records: %s\n", e.msg);
		return 1;
	}
	if ((truth = json_load_file(tpath, 0, &je)) == NULL) {
		fprintf(stderr, "bench_records: %s: %s\n", tpath, je.text);
		return 1;
	}
	/* The expected auto pairs as (left line << 32 | right line); the
	 * right side of cross is matched by its recipient line only. */
	if (self) {
		json_t *pairs = json_object_get(truth, "duplicate_pairs"), *p;
		size_t i;

		want = xmalloc((json_array_size(pairs) + 1) * sizeof(*want));
		json_array_foreach(pairs, i, p)
			want[nwant++] = (uint64_t)json_integer_value(
			    json_array_get(p, 0)) << 32 | (uint64_t)
			    json_integer_value(json_array_get(p, 1));
	} else {
		json_t *lines = json_object_get(truth, "death_hit_lines"), *p;
		size_t i;

		want = xmalloc((json_array_size(lines) + 1) * sizeof(*want));
		json_array_foreach(lines, i, p)
			want[nwant++] = (uint64_t)json_integer_value(p) << 32;
	}
	json_decref(truth);

	for (int r = 0; r < reps; r++) {
		struct rec_set L, R;
		struct rec_result *res;
		double t0 = now_s(), t1, t2;
		char *dpath = xasprintf("%s/deaths.csv", dir);

		if (rec_load_pair(lpath, rec_rules_side(&rules, "left"),
		    self ? NULL : dpath, rec_rules_side(&rules, "death"), &rules,
		    &L, &R, &e) < 0) {
			fprintf(stderr, "bench_records: %s\n", e.msg);
			return 1;
		}
		free(dpath);
		t1 = now_s();
		res = rec_match(&L, self ? NULL : &R, &rules);
		t2 = now_s();
		tparse[r] = t1 - t0;
		tmatch[r] = t2 - t1;
		ttotal[r] = t2 - t0;
		printf("run %d: read+normalise %.3f s, block+score %.3f s,"
		    " total %.3f s (%zu x %zu records, %zu candidates, %zu"
		    " auto, %zu review)\n", r + 1, tparse[r], tmatch[r],
		    ttotal[r], L.n, self ? L.n : R.n, res->candidates,
		    res->nauto, res->nreview);
		fflush(stdout);
		if (r == reps - 1) {
			nleft = L.n;
			nright = self ? L.n : R.n;
			npairs = res->n;
			ncand = res->candidates;
			nreview = res->nreview;
			got = xmalloc((res->n + 1) * sizeof(*got));
			for (size_t i = 0; i < res->n; i++)
				if (res->pairs[i].decision == REC_AUTO)
					got[ngot++] = (uint64_t)L.r[
					    res->pairs[i].l].line << 32 |
					    (self ? L.r[res->pairs[i].r].line : 0);
		}
		rec_result_free(res);
		rec_set_free(&L);
		rec_set_free(&R);
	}
	getrusage(RUSAGE_SELF, &ru);
	/* Built on the first name read, so run 1's read includes it. */
	printf("hanzi tables (ICU Han-Latin, Traditional-Simplified): built"
	    " once in %.0f ms, inside run 1's read\n", rec_hanzi_tables_ms());
	qsort(got, ngot, sizeof(*got), lcmp);
	qsort(want, nwant, sizeof(*want), lcmp);
	{
		size_t i = 0, j = 0, hit = 0;

		while (i < ngot && j < nwant) {
			if (got[i] == want[j]) {
				hit++;
				i++;
				j++;
			} else if (got[i] < want[j])
				i++;
			else
				j++;
		}
		printf("truth: %zu auto pairs, %zu expected, %zu right;"
		    " precision %.4f, recall %.4f; %zu for review\n", ngot,
		    nwant, hit, ngot ? (double)hit / (double)ngot : 0,
		    nwant ? (double)hit / (double)nwant : 0, nreview);
		if (hit != ngot || hit != nwant)
			rc = 1;
	}
	printf("RESULT clerk-%s parse=%.3f match=%.3f total=%.3f"
	    " maxrss_mib=%.0f left=%zu right=%zu pairs=%zu candidates=%zu"
	    " tables_ms=%.0f truth=%s\n", mode, median(tparse, reps),
	    median(tmatch, reps), median(ttotal, reps), ru.ru_maxrss / 1024.0,
	    nleft, nright, npairs, ncand, rec_hanzi_tables_ms(), rc == 0 ?
	    "ok" : "WRONG");
	free(got);
	free(want);
	free(rpath);
	free(lpath);
	free(tpath);
	rec_rules_clear(&rules);
	return rc;
}
