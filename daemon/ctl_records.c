/*
 * ctl_records.c - "clerkctl records match": the record-matching engine on
 * two files (or one against itself), without the daemon, for a supervisor
 * tuning the rules of record-merge or benefit-crosscheck.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "util.h"

/* Exit codes as clerkctl's: 0 ok, 1 failed, 2 usage, 4 pairs to review. */
int ctl_records_match(const char *left, const char *right, const char *rules,
    const char *out, bool self, bool json);

static void
print_pair(const struct rec_set *L, const struct rec_set *R,
    const struct rec_pair *p)
{
	const struct rec_record *a = &L->r[p->l], *b = &R->r[p->r];

	printf("  %-8s %3d  line %u %.18s %s  <->  line %u %.18s %s\n"
	    "           id %s %+d, name %s %+d, birth %s %+d, sex %s %+d,"
	    " region %s %+d\n",
	    rec_decision_name((enum rec_decision)p->decision), p->score,
	    a->line, a->id[0] ? a->id : "-", rec_name(L, a), b->line,
	    b->id[0] ? b->id : "-", rec_name(R, b),
	    rec_idcmp_name((enum rec_idcmp)p->idc), p->pts[0],
	    rec_namecmp_name((enum rec_namecmp)p->namec), p->pts[1],
	    rec_cmp3_name((enum rec_cmp3)p->birthc), p->pts[2],
	    rec_cmp3_name((enum rec_cmp3)p->sexc), p->pts[3],
	    rec_cmp3_name((enum rec_cmp3)p->regionc), p->pts[4]);
}

int
ctl_records_match(const char *left, const char *right, const char *rules,
    const char *out, bool self, bool json)
{
	struct rec_rules r;
	struct rec_set L, R;
	struct rec_result *res;
	json_t *summary;
	struct err e;
	int rc = 0;

	if (left == NULL || rules == NULL || (right == NULL) != self) {
		fprintf(stderr, "clerkctl: records match needs --left FILE,"
		    " --rules FILE and either --right FILE or --self\n");
		return 2;
	}
	if (out == NULL)
		out = "records-report";
	rec_rules_default(&r);
	err_clear(&e);
	if (rec_rules_load_file(rules, &r, &e) < 0) {
		fprintf(stderr, "clerkctl: %s\n", e.msg);
		rec_rules_clear(&r);
		return 1;
	}
	if (rec_load_pair(left, rec_rules_side(&r, "left"), right,
	    rec_rules_side(&r, "right"), &r, &L, &R, &e) < 0) {
		fprintf(stderr, "clerkctl: %s\n", e.msg);
		rec_rules_clear(&r);
		return 1;
	}
	res = rec_match(&L, self ? NULL : &R, &r);
	if (rec_write_outputs(out, &L, self ? NULL : &R, res, &summary,
	    &e) < 0) {
		fprintf(stderr, "clerkctl: %s\n", e.msg);
		rc = 1;
		goto done;
	}
	if (json) {
		char *s = json_dumps(summary, JSON_INDENT(2));

		printf("%s\n", s);
		free(s);
	} else {
		const struct rec_set *RR = self ? &L : &R;

		printf("left %s: %zu record(s), %zu with issues\n", left, L.n,
		    L.nissues);
		if (!self)
			printf("right %s: %zu record(s), %zu with issues\n",
			    right, R.n, R.nissues);
		else
			printf("matched against itself\n");
		printf("candidates scored %zu; auto %zu, review %zu (thresholds"
		    " auto >= %d, review >= %d)\n", res->candidates, res->nauto,
		    res->nreview, r.auto_min, r.review_min);
		if (res->oversized > 0)
			printf("%zu block lookup(s) skipped: more than %d"
			    " candidates (max_block)\n", res->oversized,
			    r.max_block);
		for (size_t i = 0; i < res->n && i < 20; i++)
			print_pair(&L, RR, &res->pairs[i]);
		if (res->n > 20)
			printf("  ... %zu more in %s/pairs.csv\n", res->n - 20,
			    out);
		for (int s = 0; s < (self ? 1 : 2); s++) {
			const struct rec_set *x = s ? &R : &L;

			for (size_t i = 0; i < x->nissues && i < 10; i++)
				printf("  issue %s:%u: %s\n", x->path,
				    x->issues[i].line, x->issues[i].what);
			if (x->nissues > 10)
				printf("  ... %zu more issues in %s/issues.csv\n",
				    x->nissues - 10, out);
		}
		printf("report: %s/pairs.csv, %s/issues.csv, %s/result.json\n",
		    out, out, out);
	}
	json_decref(summary);
	/* Pairs for a reviewer are not a failure, but a script can tell. */
	if (res->nreview > 0)
		rc = 4;
done:
	rec_result_free(res);
	rec_set_free(&L);
	rec_set_free(&R);
	rec_rules_clear(&r);
	return rc;
}
