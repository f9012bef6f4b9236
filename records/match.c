/*
 * match.c - blocking and scoring. The right side (or the one set, for
 * deduplication) is indexed once per block kind in a hash table of chains
 * (a head per bucket, a next per record: two arrays, no allocation per
 * record); each left record looks its keys up, gathers the candidates of
 * every block, scores each candidate once and keeps the pairs at or above
 * the review threshold. Threads take contiguous ranges of the left side,
 * so the output order does not depend on the number of threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

/* ---- scoring ---- */

/* Points of each component; the best score is 100. */
enum {
	P_ID_EXACT = 50, P_ID_CHECK = 35, P_ID_NEAR = 30, P_ID_DIFFERENT = -40,
	P_NAME_EXACT = 25, P_NAME_EDIT1 = 15, P_NAME_INITIALS = 10,
	P_NAME_EDIT2 = 5, P_NAME_DIFFERENT = -10,
	P_BIRTH_SAME = 15, P_BIRTH_DIFFERENT = -15,
	P_SEX_SAME = 5, P_SEX_DIFFERENT = -20,
	P_REGION_SAME = 5, P_REGION_NEAR = 2,
};

static int
decode(const char *s, size_t len, uint32_t *out, int max)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	int n = 0;

	while (p < end && n < max) {
		uint32_t c = *p;

		if (c < 0x80) {
			p++;
		} else if ((c & 0xE0) == 0xC0 && end - p >= 2) {
			c = (c & 0x1F) << 6 | (p[1] & 0x3F);
			p += 2;
		} else if ((c & 0xF0) == 0xE0 && end - p >= 3) {
			c = (c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 |
			    (p[2] & 0x3F);
			p += 3;
		} else if (end - p >= 4) {
			c = (c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
			    (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
			p += 4;
		} else {
			p++;
		}
		out[n++] = c;
	}
	return n;
}

/* Levenshtein distance of code points, stopping early above 2. */
static int
edit_distance(const uint32_t *a, int na, const uint32_t *b, int nb)
{
	int prev[33], cur[33];

	if (na - nb > 2 || nb - na > 2)
		return 3;
	for (int j = 0; j <= nb; j++)
		prev[j] = j;
	for (int i = 1; i <= na; i++) {
		int best;

		cur[0] = i;
		best = i;
		for (int j = 1; j <= nb; j++) {
			int d = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			cur[j] = d;
			if (d < best)
				best = d;
		}
		if (best > 2)
			return 3;
		memcpy(prev, cur, (size_t)(nb + 1) * sizeof(int));
	}
	return prev[nb];
}

static void
score_id(const char *a, const char *b, struct rec_pair *p)
{
	int diff = 0, first = -1, second = -1;

	if (a[0] == '\0' || b[0] == '\0') {
		p->idc = IDC_MISSING;
		p->pts[0] = 0;
		return;
	}
	for (int i = 0; i < 18; i++)
		if (a[i] != b[i]) {
			if (diff == 0)
				first = i;
			else if (diff == 1)
				second = i;
			diff++;
		}
	if (diff == 0) {
		p->idc = IDC_EXACT;
		p->pts[0] = P_ID_EXACT;
	} else if (diff == 1 && first == 17) {
		p->idc = IDC_CHECK;
		p->pts[0] = P_ID_CHECK;
	} else if (diff == 1) {
		p->idc = IDC_ONE_OFF;
		p->pts[0] = P_ID_NEAR;
	} else if (diff == 2 && second == first + 1 && a[first] == b[second] &&
	    a[second] == b[first]) {
		p->idc = IDC_TRANSPOSED;
		p->pts[0] = P_ID_NEAR;
	} else if (diff == 2 && second == 17 && first < 17) {
		/* A typo in the first 17 digits with the check character
		 * recomputed on one side only. */
		p->idc = IDC_ONE_OFF;
		p->pts[0] = P_ID_NEAR;
	} else if (diff == 3 && second == first + 1 && a[first] == b[second] &&
	    a[second] == b[first] && a[17] != b[17]) {
		p->idc = IDC_TRANSPOSED;
		p->pts[0] = P_ID_NEAR;
	} else {
		p->idc = IDC_DIFFERENT;
		p->pts[0] = P_ID_DIFFERENT;
	}
}

void
rec_score(const struct rec_set *A, const struct rec_record *a,
    const struct rec_set *B, const struct rec_record *b,
    struct rec_pair *p)
{
	int s = 0;

	score_id(a->id, b->id, p);

	if (a->name_len == 0 || b->name_len == 0) {
		p->namec = NC_MISSING;
		p->pts[1] = 0;
	} else if (a->name_len == b->name_len && memcmp(rec_name(A, a),
	    rec_name(B, b), a->name_len) == 0) {
		p->namec = NC_EXACT;
		p->pts[1] = P_NAME_EXACT;
	} else {
		uint32_t ca[32], cb[32];
		int na = decode(rec_name(A, a), a->name_len, ca, 32);
		int nb = decode(rec_name(B, b), b->name_len, cb, 32);
		int d = edit_distance(ca, na, cb, nb);
		bool initials = a->nkey == b->nkey && (a->flags & RF_INITIALS) &&
		    (b->flags & RF_INITIALS);

		if (d == 1) {
			p->namec = NC_EDIT1;
			p->pts[1] = P_NAME_EDIT1;
		} else if (initials) {
			p->namec = NC_INITIALS;
			p->pts[1] = P_NAME_INITIALS;
		} else if (d == 2 && na >= 3 && nb >= 3) {
			p->namec = NC_EDIT2;
			p->pts[1] = P_NAME_EDIT2;
		} else {
			p->namec = NC_DIFFERENT;
			p->pts[1] = P_NAME_DIFFERENT;
		}
	}

	if (a->birth == REC_NODAY || b->birth == REC_NODAY) {
		p->birthc = C3_UNKNOWN;
		p->pts[2] = 0;
	} else if (a->birth == b->birth) {
		p->birthc = C3_SAME;
		p->pts[2] = P_BIRTH_SAME;
	} else {
		p->birthc = C3_DIFFERENT;
		p->pts[2] = P_BIRTH_DIFFERENT;
	}

	if (a->sex == 0 || b->sex == 0) {
		p->sexc = C3_UNKNOWN;
		p->pts[3] = 0;
	} else if (a->sex == b->sex) {
		p->sexc = C3_SAME;
		p->pts[3] = P_SEX_SAME;
	} else {
		p->sexc = C3_DIFFERENT;
		p->pts[3] = P_SEX_DIFFERENT;
	}

	if (a->region == 0 || b->region == 0) {
		p->regionc = C3_UNKNOWN;
		p->pts[4] = 0;
	} else if (a->region == b->region) {
		p->regionc = C3_SAME;
		p->pts[4] = P_REGION_SAME;
	} else if (a->region / 100 == b->region / 100) {
		p->regionc = C3_NEAR;
		p->pts[4] = P_REGION_NEAR;
	} else {
		p->regionc = C3_DIFFERENT;
		p->pts[4] = 0;
	}
	for (int i = 0; i < 5; i++)
		s += p->pts[i];
	p->score = (int16_t)s;
	p->decision = REC_REVIEW;
}

enum rec_decision
rec_decide(const struct rec_rules *r, int score)
{
	if (score >= r->auto_min)
		return REC_AUTO;
	if (score >= r->review_min)
		return REC_REVIEW;
	return REC_NOMATCH;
}

/* ---- blocking ---- */

static inline uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#define NBLOCKS 3
#define NONE UINT32_MAX

struct index {
	uint32_t *head, *next;
	uint64_t mask;
};

static uint32_t
region_prefix(uint32_t region, int digits)
{
	static const uint32_t div[] = { 1, 100000, 10000, 1000, 100, 10, 1 };

	return region / div[digits];
}

/* The key hash of x in block k; false if x has no such key. */
static inline bool
block_key(int k, const struct rec_record *x, int prefix, uint64_t *h)
{
	switch (k) {
	case 0: {
		uint64_t a, b, c;

		if (x->id[0] == '\0')
			return false;
		/* The first 17: a wrong check character still blocks. */
		memcpy(&a, x->id, 8);
		memcpy(&b, x->id + 8, 8);
		c = (unsigned char)x->id[16];
		*h = mix64(a ^ mix64(b ^ mix64(c + 0x51)));
		return true;
	}
	case 1:
		if (x->birth == REC_NODAY || x->name_len == 0)
			return false;
		*h = mix64(x->nkey ^ ((uint64_t)(uint32_t)x->birth << 20) ^
		    0xB17B17ULL);
		return true;
	default:
		if (x->region == 0 || x->name_len == 0)
			return false;
		*h = mix64(x->nkey ^ ((uint64_t)region_prefix(x->region,
		    prefix) << 24) ^ 0x4E610ULL);
		return true;
	}
}

static inline bool
block_equal(int k, const struct rec_record *a, const struct rec_record *b,
    int prefix)
{
	switch (k) {
	case 0:
		return memcmp(a->id, b->id, 17) == 0;
	case 1:
		return a->birth == b->birth && a->nkey == b->nkey;
	default:
		return a->nkey == b->nkey && region_prefix(a->region, prefix) ==
		    region_prefix(b->region, prefix);
	}
}

struct build_job {
	const struct rec_set *S;
	int k, prefix;
	struct index *ix;
};

static void *
index_build(void *arg)
{
	struct build_job *j = arg;
	const struct rec_set *S = j->S;
	struct index *ix = j->ix;
	uint64_t nb = 1024;

	while (nb < S->n)
		nb <<= 1;
	ix->mask = nb - 1;
	ix->head = xmalloc(nb * sizeof(*ix->head));
	memset(ix->head, 0xFF, nb * sizeof(*ix->head));
	ix->next = xmalloc((S->n ? S->n : 1) * sizeof(*ix->next));
	/* Backwards, so each chain runs in file order. */
	for (size_t i = S->n; i-- > 0;) {
		uint64_t h;

		if (!block_key(j->k, &S->r[i], j->prefix, &h)) {
			ix->next[i] = NONE;
			continue;
		}
		ix->next[i] = ix->head[h & ix->mask];
		ix->head[h & ix->mask] = (uint32_t)i;
	}
	return NULL;
}

struct cand {
	uint32_t r;
	uint8_t blocks;
};

struct match_job {
	const struct rec_set *L, *R;
	const struct rec_rules *rules;
	const struct index *ix;   /* NBLOCKS, NULL mask = block off */
	bool self;
	size_t from, to;
	struct rec_pair *pairs;
	size_t n, cap;
	size_t candidates, oversized, nauto, nreview;
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->r < y->r ? -1 : x->r > y->r;
}

static void *
match_range(void *arg)
{
	struct match_job *j = arg;
	const struct rec_set *L = j->L, *R = j->R;
	int prefix = j->rules->region_prefix, maxb = j->rules->max_block;
	size_t ccap = (size_t)maxb * NBLOCKS + 16;
	struct cand *cand = xmalloc(ccap * sizeof(*cand));

	for (size_t i = j->from; i < j->to; i++) {
		const struct rec_record *a = &L->r[i];
		size_t nc = 0;

		for (int k = 0; k < NBLOCKS; k++) {
			const struct index *ix = &j->ix[k];
			size_t start = nc;
			uint64_t h;
			int found = 0;

			if (ix->head == NULL || !block_key(k, a, prefix, &h))
				continue;
			for (uint32_t r = ix->head[h & ix->mask]; r != NONE;
			    r = ix->next[r]) {
				const struct rec_record *b = &R->r[r];

				if (!block_equal(k, a, b, prefix))
					continue;
				if (j->self && r <= i)
					continue;
				if (++found > maxb) {
					nc = start;
					j->oversized++;
					break;
				}
				cand[nc].r = r;
				cand[nc++].blocks = (uint8_t)(1u << k);
			}
		}
		if (nc == 0)
			continue;
		if (nc > 1)
			qsort(cand, nc, sizeof(*cand), cand_cmp);
		for (size_t c = 0; c < nc;) {
			struct rec_pair p;
			uint8_t blocks = 0;
			size_t e = c;

			while (e < nc && cand[e].r == cand[c].r)
				blocks |= cand[e++].blocks;
			memset(&p, 0, sizeof(p));
			rec_score(L, a, R, &R->r[cand[c].r], &p);
			j->candidates++;
			p.decision = (uint8_t)rec_decide(j->rules, p.score);
			if (p.decision != REC_NOMATCH) {
				p.l = (uint32_t)i;
				p.r = cand[c].r;
				p.blocks = blocks;
				if (j->n == j->cap) {
					j->cap = j->cap ? j->cap * 2 : 1024;
					j->pairs = xrealloc(j->pairs, j->cap *
					    sizeof(*j->pairs));
				}
				j->pairs[j->n++] = p;
				if (p.decision == REC_AUTO)
					j->nauto++;
				else
					j->nreview++;
			}
			c = e;
		}
	}
	free(cand);
	return NULL;
}

struct rec_result *
rec_match(const struct rec_set *L, const struct rec_set *R,
    const struct rec_rules *r)
{
	struct rec_result *res = xcalloc(1, sizeof(*res));
	struct index ix[NBLOCKS];
	struct build_job bj[NBLOCKS];
	pthread_t bt[NBLOCKS];
	bool bstarted[NBLOCKS] = { false };
	int nt = r->threads < 1 ? 1 : r->threads, running = 0;
	struct match_job *jobs;
	pthread_t *tids;

	res->self = R == NULL;
	if (R == NULL)
		R = L;
	memset(ix, 0, sizeof(ix));
	/* The block indexes are independent: build them side by side. */
	for (int k = 0; k < NBLOCKS; k++) {
		if (!(r->blocking & (1u << k)))
			continue;
		bj[k] = (struct build_job){ R, k, r->region_prefix, &ix[k] };
		if (running + 1 < nt && pthread_create(&bt[k], NULL,
		    index_build, &bj[k]) == 0) {
			bstarted[k] = true;
			running++;
		} else
			index_build(&bj[k]);
	}
	for (int k = 0; k < NBLOCKS; k++)
		if (bstarted[k])
			pthread_join(bt[k], NULL);

	if ((size_t)nt > L->n / 4096 + 1)
		nt = (int)(L->n / 4096 + 1);
	jobs = xcalloc((size_t)nt, sizeof(*jobs));
	tids = xcalloc((size_t)nt, sizeof(*tids));
	for (int t = 0; t < nt; t++) {
		size_t from, to;

		jobs[t] = (struct match_job){ .L = L, .R = R, .rules = r,
		    .ix = ix, .self = res->self };
		from = L->n * (size_t)t / (size_t)nt;
		to = L->n * (size_t)(t + 1) / (size_t)nt;
		jobs[t].from = from;
		jobs[t].to = to;
	}
	for (int t = 1; t < nt; t++)
		if (pthread_create(&tids[t], NULL, match_range, &jobs[t]) != 0) {
			match_range(&jobs[t]);
			tids[t] = 0;
			jobs[t].from = jobs[t].to;   /* done */
		}
	match_range(&jobs[0]);
	for (int t = 1; t < nt; t++)
		if (tids[t] != 0)
			pthread_join(tids[t], NULL);
	for (int t = 0; t < nt; t++)
		res->n += jobs[t].n;
	res->pairs = xmalloc((res->n ? res->n : 1) * sizeof(*res->pairs));
	res->n = 0;
	for (int t = 0; t < nt; t++) {
		if (jobs[t].n > 0)
			memcpy(res->pairs + res->n, jobs[t].pairs, jobs[t].n *
			    sizeof(*res->pairs));
		res->n += jobs[t].n;
		res->candidates += jobs[t].candidates;
		res->oversized += jobs[t].oversized;
		res->nauto += jobs[t].nauto;
		res->nreview += jobs[t].nreview;
		free(jobs[t].pairs);
	}
	free(jobs);
	free(tids);
	for (int k = 0; k < NBLOCKS; k++) {
		free(ix[k].head);
		free(ix[k].next);
	}
	return res;
}

void
rec_result_free(struct rec_result *res)
{
	if (res == NULL)
		return;
	free(res->pairs);
	free(res);
}

/* ---- names and evidence ---- */

const char *
rec_decision_name(enum rec_decision d)
{
	static const char *const n[] = { "auto", "review", "no-match" };

	return d <= REC_NOMATCH ? n[d] : "?";
}

const char *
rec_idcmp_name(enum rec_idcmp c)
{
	static const char *const n[] = { "missing", "exact", "check-character",
	    "one-digit-off", "transposed", "different" };

	return c <= IDC_DIFFERENT ? n[c] : "?";
}

const char *
rec_namecmp_name(enum rec_namecmp c)
{
	static const char *const n[] = { "missing", "exact", "edit-distance-1",
	    "edit-distance-2", "same-pinyin-initials", "different" };

	return c <= NC_DIFFERENT ? n[c] : "?";
}

const char *
rec_cmp3_name(enum rec_cmp3 c)
{
	static const char *const n[] = { "unknown", "same", "same-prefix",
	    "different" };

	return c <= C3_DIFFERENT ? n[c] : "?";
}

json_t *
rec_record_json(const struct rec_set *s, const struct rec_record *x)
{
	char d[11], id[19], ini[64];
	json_t *j;

	memcpy(id, x->id, 18);
	id[18] = '\0';
	rec_name_initials(rec_name(s, x), x->name_len, ini, sizeof(ini));
	j = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s}",
	    "file", s->path, "line", (json_int_t)x->line, "id", id,
	    "id_check", ids_cnid_status_message((enum cnid_status)x->id_status),
	    "name", rec_name(s, x), "name_initials", ini);
	if (x->flags & RF_ID15)
		json_object_set_new(j, "id_written_in_15_digits", json_true());
	rec_day_format(x->birth, d);
	if (d[0])
		json_object_set_new(j, "birth", json_string(d));
	if (x->sex)
		json_object_set_new(j, "sex", json_string(x->sex == 1 ? "男" :
		    "女"));
	if (x->region)
		json_object_set_new(j, "region", json_sprintf("%06u",
		    x->region));
	rec_day_format(x->from, d);
	if (d[0])
		json_object_set_new(j, "from", json_string(d));
	rec_day_format(x->to, d);
	if (d[0])
		json_object_set_new(j, "to", json_string(d));
	if (x->amount)
		json_object_set_new(j, "amount_fen", json_integer(x->amount));
	if (x->benefit)
		json_object_set_new(j, "benefit", json_string(
		    s->benefits[x->benefit]));
	return j;
}

json_t *
rec_pair_json(const struct rec_set *L, const struct rec_set *R,
    const struct rec_pair *p)
{
	json_t *blocks = json_array();

	if (p->blocks & REC_BLOCK_ID)
		json_array_append_new(blocks, json_string("id"));
	if (p->blocks & REC_BLOCK_BIRTH_NAME)
		json_array_append_new(blocks, json_string("birth_name"));
	if (p->blocks & REC_BLOCK_NAME_REGION)
		json_array_append_new(blocks, json_string("name_region"));
	return json_pack("{s:s,s:I,s:{s:{s:s,s:I},s:{s:s,s:I},s:{s:s,s:I},"
	    "s:{s:s,s:I},s:{s:s,s:I}},s:o,s:o,s:o}",
	    "decision", rec_decision_name((enum rec_decision)p->decision),
	    "score", (json_int_t)p->score,
	    "components",
	    "id", "result", rec_idcmp_name((enum rec_idcmp)p->idc), "points",
	    (json_int_t)p->pts[0],
	    "name", "result", rec_namecmp_name((enum rec_namecmp)p->namec),
	    "points", (json_int_t)p->pts[1],
	    "birth", "result", rec_cmp3_name((enum rec_cmp3)p->birthc),
	    "points", (json_int_t)p->pts[2],
	    "sex", "result", rec_cmp3_name((enum rec_cmp3)p->sexc), "points",
	    (json_int_t)p->pts[3],
	    "region", "result", rec_cmp3_name((enum rec_cmp3)p->regionc),
	    "points", (json_int_t)p->pts[4],
	    "blocks", blocks,
	    "left", rec_record_json(L, &L->r[p->l]),
	    "right", rec_record_json(R, &R->r[p->r]));
}
