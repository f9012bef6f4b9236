/*
 * merge.c - 参保信息合并: the duplicates of one set, grouped into clusters
 * (a person registered twice in different regions, once with a 15-digit
 * and once with an 18-digit ID, with a typo...), each with a proposed
 * surviving record and the contribution periods combined.
 *
 * Only the safest kind is merged without a person: every record of the
 * cluster has the same valid ID, every link is an auto decision, and no
 * two contribution periods overlap. Overlapping periods are a business
 * exception of their own (possible double enrolment, 重复参保), never a
 * merge.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

static uint32_t
find(uint32_t *parent, uint32_t x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

/* Open periods (no end) run to the end of time. */
static bool
overlap(const struct rec_record *a, const struct rec_record *b)
{
	rec_day af = a->from, at = a->to == REC_NODAY ? INT32_MAX : a->to;
	rec_day bf = b->from, bt = b->to == REC_NODAY ? INT32_MAX : b->to;

	if (af == REC_NODAY || bf == REC_NODAY)
		return false;
	return af <= bt && bf <= at;
}

/* The better survivor: a valid 18-digit ID as issued, then the most
 * recent period, then the earlier row. */
static bool
better(const struct rec_record *a, const struct rec_record *b)
{
	int qa = (a->id_status == CNID_OK) * 2 + !(a->flags & RF_ID15);
	int qb = (b->id_status == CNID_OK) * 2 + !(b->flags & RF_ID15);
	rec_day ta = a->to == REC_NODAY ? INT32_MAX : a->to;
	rec_day tb = b->to == REC_NODAY ? INT32_MAX : b->to;

	if (qa != qb)
		return qa > qb;
	if (ta != tb)
		return ta > tb;
	return a->line < b->line;
}

struct member {
	uint32_t root, rec;
};

static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

struct rec_merge *
rec_merge_plan(const struct rec_set *S, const struct rec_result *res)
{
	struct rec_merge *m = xcalloc(1, sizeof(*m));
	uint32_t *parent;
	bool *weak;              /* root -> some link is not auto/exact */
	struct member *mem;
	size_t nm = 0;

	if (res->n == 0)
		return m;
	parent = xmalloc(S->n * sizeof(*parent));
	weak = xcalloc(S->n, sizeof(*weak));
	for (size_t i = 0; i < S->n; i++)
		parent[i] = (uint32_t)i;
	for (size_t i = 0; i < res->n; i++) {
		uint32_t a = find(parent, res->pairs[i].l);
		uint32_t b = find(parent, res->pairs[i].r);

		if (a != b)
			parent[b] = a;
	}
	for (size_t i = 0; i < res->n; i++) {
		const struct rec_pair *p = &res->pairs[i];

		if (p->decision != REC_AUTO || p->idc != IDC_EXACT)
			weak[find(parent, p->l)] = true;
	}
	/* Members of clusters: every record in some pair. */
	mem = xmalloc(res->n * 2 * sizeof(*mem));
	for (size_t i = 0; i < res->n; i++) {
		mem[nm++] = (struct member){ find(parent, res->pairs[i].l),
		    res->pairs[i].l };
		mem[nm++] = (struct member){ find(parent, res->pairs[i].r),
		    res->pairs[i].r };
	}
	qsort(mem, nm, sizeof(*mem), member_cmp);
	for (size_t i = 0; i < nm;) {
		size_t j = i, k = 0, best = 0;
		struct rec_cluster *c;
		bool dbl = false, valid = true;

		while (j < nm && mem[j].root == mem[i].root)
			j++;
		m->c = xrealloc(m->c, (m->n + 1) * sizeof(*m->c));
		c = &m->c[m->n++];
		memset(c, 0, sizeof(*c));
		c->members = xmalloc((j - i) * sizeof(*c->members));
		for (size_t x = i; x < j; x++)
			if (x == i || mem[x].rec != mem[x - 1].rec)
				c->members[k++] = mem[x].rec;
		c->n = k;
		for (size_t x = 1; x < k; x++)
			if (better(&S->r[c->members[x]], &S->r[c->members[best]]))
				best = x;
		if (best != 0) {
			uint32_t t = c->members[0];

			c->members[0] = c->members[best];
			c->members[best] = t;
		}
		for (size_t x = 0; x < k; x++) {
			valid &= S->r[c->members[x]].id_status == CNID_OK;
			for (size_t y = x + 1; y < k && !dbl; y++)
				dbl = overlap(&S->r[c->members[x]],
				    &S->r[c->members[y]]);
		}
		if (dbl) {
			c->kind = MERGE_DOUBLE_ENROLMENT;
			snprintf(c->reason, sizeof(c->reason), "contribution"
			    " periods overlap: possible double enrolment"
			    " (重复参保)");
			m->ndouble++;
		} else if (!weak[mem[i].root] && valid) {
			c->kind = MERGE_AUTO;
			snprintf(c->reason, sizeof(c->reason), "the same valid"
			    " ID, every link auto, periods do not overlap");
			m->nauto++;
		} else {
			c->kind = MERGE_REVIEW;
			snprintf(c->reason, sizeof(c->reason), "%s",
			    !valid ? "a member's ID is not valid" :
			    "linked by a fuzzy match, not the same ID");
			m->nreview++;
		}
		i = j;
	}
	free(mem);
	free(weak);
	free(parent);
	return m;
}

void
rec_merge_free(struct rec_merge *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->c[i].members);
	free(m->c);
	free(m);
}

struct period {
	rec_day from, to;
};

static int
period_cmp(const void *a, const void *b)
{
	const struct period *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

/* The periods of the members, sorted and joined where they touch. */
static size_t
combined(const struct rec_set *S, const struct rec_cluster *c,
    struct period *out)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct rec_record *x = &S->r[c->members[i]];

		if (x->from != REC_NODAY)
			out[n++] = (struct period){ x->from, x->to };
	}
	qsort(out, n, sizeof(*out), period_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && out[k - 1].to != REC_NODAY &&
		    out[i].from <= out[k - 1].to + 1) {
			if (out[i].to == REC_NODAY || out[i].to > out[k - 1].to)
				out[k - 1].to = out[i].to;
		} else if (k > 0 && out[k - 1].to == REC_NODAY) {
			continue;
		} else
			out[k++] = out[i];
	}
	return k;
}

static void
periods_text(const struct period *p, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o + 24 < len; i++) {
		char a[11], b[11];

		rec_day_format(p[i].from, a);
		rec_day_format(p[i].to, b);
		o += (size_t)snprintf(buf + o, len - o, "%s%s~%s", i ? ";" : "",
		    a, b);
	}
}

static const char *
kind_name(enum rec_merge_kind k)
{
	return k == MERGE_AUTO ? "auto-merge" : k == MERGE_REVIEW ? "review" :
	    "double-enrolment";
}

json_t *
rec_cluster_json(const struct rec_set *S, const struct rec_result *res,
    const struct rec_cluster *c)
{
	json_t *members = json_array(), *links = json_array(), *periods;
	struct period *p = xmalloc((c->n + 1) * sizeof(*p));
	size_t np = combined(S, c, p);

	for (size_t i = 0; i < c->n; i++)
		json_array_append_new(members, rec_record_json(S,
		    &S->r[c->members[i]]));
	/* The links between members (pairs are sorted by left record). */
	for (size_t i = 0; i < c->n; i++) {
		uint32_t a = c->members[i];
		size_t lo = 0, hi = res->n;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (res->pairs[mid].l < a)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < res->n && res->pairs[lo].l == a &&
		    json_array_size(links) < 50; lo++)
			json_array_append_new(links, rec_pair_json(S, S,
			    &res->pairs[lo]));
	}
	periods = json_array();
	for (size_t i = 0; i < np; i++) {
		char a[11], b[11];

		rec_day_format(p[i].from, a);
		rec_day_format(p[i].to, b);
		json_array_append_new(periods, json_pack("{s:s,s:s}", "from", a,
		    "to", b));
	}
	free(p);
	return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "kind",
	    kind_name(c->kind), "reason", c->reason, "survivor",
	    rec_record_json(S, &S->r[c->members[0]]), "members", members,
	    "links", links, "combined_periods", periods);
}

int
rec_merge_write(const char *dir, const struct rec_set *S,
    const struct rec_result *res, const struct rec_merge *m, struct err *e)
{
	char *tmp, text[1024];
	FILE *f;

	if (util_mkdir_p(dir, 0755, e) < 0)
		return -1;
	if ((f = rec_out_open(dir, "merge-instructions.csv", &tmp, e)) == NULL)
		return -1;
	fputs("cluster,action,survivor_line,survivor_id,survivor_name,"
	    "merged_line,merged_id,merged_name,combined_periods\n", f);
	for (size_t i = 0; i < m->n; i++) {
		const struct rec_cluster *c = &m->c[i];
		const struct rec_record *s = &S->r[c->members[0]];
		struct period *p;
		size_t np;

		if (c->kind != MERGE_AUTO)
			continue;
		p = xmalloc((c->n + 1) * sizeof(*p));
		np = combined(S, c, p);
		periods_text(p, np, text, sizeof(text));
		free(p);
		for (size_t k = 1; k < c->n; k++) {
			const struct rec_record *x = &S->r[c->members[k]];

			fprintf(f, "%zu,merge,%u,%.18s,", i + 1, s->line, s->id);
			rec_csv_cell(f, rec_name(S, s));
			fprintf(f, ",%u,%.18s,", x->line, x->id);
			rec_csv_cell(f, rec_name(S, x));
			fprintf(f, ",%s\n", text);
		}
	}
	if (rec_out_close(f, dir, "merge-instructions.csv", tmp, e) < 0)
		return -1;
	if ((f = rec_out_open(dir, "clusters.json", &tmp, e)) == NULL)
		return -1;
	fputs("[\n", f);
	for (size_t i = 0; i < m->n; i++) {
		json_t *j = rec_cluster_json(S, res, &m->c[i]);
		char *s = json_dumps(j, JSON_COMPACT);

		fprintf(f, "%s%s\n", s, i + 1 < m->n ? "," : "");
		free(s);
		json_decref(j);
	}
	fputs("]\n", f);
	return rec_out_close(f, dir, "clusters.json", tmp, e);
}
