/*
 * match.c - pairs bank lines with ledger lines, most precise pass first,
 * then proves the balances and fills the 余额调节表.
 *
 * Order of work:
 *   0. duplicates (bank lines repeated across overlapping statement
 *      files) are set aside before any pass: a duplicate left in would
 *      make its original's match look ambiguous in pass 1;
 *   0. a reviewer's manual matches;
 *   1. reference exact (ref_norm + amount), the date picking between
 *      several candidates;
 *   2. amount exact within the date window, counterparty then date
 *      closeness as tie-breakers;
 *   3. batches by batch id: one line = a bounded subset-sum of the lines
 *      of the other side carrying its batch id;
 *   4. reversals on the same side;
 *   5. tolerance (fees) with the same reference or counterparty;
 *   3b. batches without a batch id: the same subset-sum over every free
 *      line in the window, only where they fit subset_max_candidates.
 *      It runs last on purpose (see recon_match()).
 * A line matched, set aside as a duplicate or caught in an ambiguity is
 * not used by a later pass.
 *
 * Passes 1, 2, 4 and 5 share one engine: both sides hashed by the pass's
 * key, and a pair is taken only when each is the other's single best
 * candidate. Two equally good candidates are never split by guessing;
 * they become DIFF_AMBIGUOUS with every equally good candidate. There is
 * no O(n^2): a line only looks at the lines that share its key, and the
 * per-line lists are index arrays, not allocations.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon.h"

enum line_state {
	ST_FREE,          /* not yet accounted for */
	ST_MATCHED,
	ST_DUP,           /* DIFF_DUPLICATE, out of balances and movements */
	ST_AMBIG,         /* the subject of a DIFF_AMBIGUOUS */
	ST_HELD,          /* a candidate in someone's ambiguity: kept out of
	                     later passes, reported as an unmatched line */
};

#define NONE UINT32_MAX
/* Past this many nodes a subset search gives up rather than stall. */
#define SUBSET_NODE_BUDGET (1u << 20)

struct vec32 {
	uint32_t *v;
	size_t n, cap;
};

static void
v32_push(struct vec32 *v, uint32_t x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = x;
}

/* The result plus the one array every match and candidate list points
 * into, so a million matches are not a million allocations. */
struct result_priv {
	struct recon_result pub;
	uint32_t *pool;
};

struct ctx {
	const struct recon_side *bank, *ledger;
	const struct recon_rules *r;
	uint8_t *sb, *sl;
	/* Until the end, match and candidate pointers hold offsets into
	 * pool (which moves as it grows); fix_pointers() turns them into
	 * pointers. */
	struct vec32 pool;
	struct recon_match *m;
	size_t nm, capm;
	struct recon_diff *d;
	size_t nd, capd;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int64_t
abs64(int64_t x)
{
	return x < 0 ? -x : x;
}

static int
sign64(int64_t x)
{
	return (x > 0) - (x < 0);
}

/* Copies s into a recon_diff message, cutting at a UTF-8 boundary. */
static void
set_message(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static bool
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/*
 * Counterparty similarity: equal names beat everything, otherwise the
 * common prefix in whole characters ("北京市第一医院" and "北京市第二医院"
 * share four). Empty names are similar to nothing.
 */
#define CP_EQUAL 1000

static int
cp_similarity(const char *a, const char *b)
{
	size_t p = 0;
	int chars = 0;

	if (!nonempty(a) || !nonempty(b))
		return 0;
	if (strcmp(a, b) == 0)
		return CP_EQUAL;
	while (a[p] != '\0' && a[p] == b[p])
		p++;
	/* a character cut in the middle does not count */
	while (p > 0 && ((unsigned char)a[p] & 0xc0) == 0x80)
		p--;
	for (size_t i = 0; i < p; i++)
		if (((unsigned char)a[i] & 0xc0) != 0x80)
			chars++;
	return chars < CP_EQUAL ? chars : CP_EQUAL - 1;
}

static void
line_desc(const struct recon_side *s, const struct recon_line *l, char *buf,
    size_t len)
{
	char day[11], amt[48];
	const char *file = s->nfiles > l->src_file ? s->files[l->src_file] : "";
	const char *base = strrchr(file, '/');

	recon_day_format(l->date, day);
	recon_amount_format(l->amount, true, amt, sizeof(amt));
	snprintf(buf, len, "%s:%u %s %s%s%s%s%s", base ? base + 1 : file,
	    l->src_line, day, amt, nonempty(l->counterparty) ? " " : "",
	    l->counterparty, nonempty(l->ref) ? " " : "", l->ref);
}

/* ---- recording -------------------------------------------------------- */

static void
add_match(struct ctx *c, enum recon_match_kind kind, const uint32_t *b,
    uint32_t nb, const uint32_t *l, uint32_t nl, int64_t difference)
{
	struct recon_match *m;

	if (c->nm == c->capm) {
		c->capm = c->capm ? c->capm * 2 : 1024;
		c->m = xrealloc(c->m, c->capm * sizeof(*c->m));
	}
	m = &c->m[c->nm++];
	m->kind = kind;
	m->bank = (uint32_t *)(uintptr_t)c->pool.n;
	for (uint32_t i = 0; i < nb; i++) {
		v32_push(&c->pool, b[i]);
		c->sb[b[i]] = ST_MATCHED;
	}
	m->ledger = (uint32_t *)(uintptr_t)c->pool.n;
	for (uint32_t i = 0; i < nl; i++) {
		v32_push(&c->pool, l[i]);
		c->sl[l[i]] = ST_MATCHED;
	}
	m->nbank = nb;
	m->nledger = nl;
	m->difference = difference;
}

static struct recon_diff *
add_diff(struct ctx *c, enum recon_diff_kind kind, bool on_bank,
    uint32_t line, int64_t amount, const uint32_t *cand, uint32_t ncand)
{
	struct recon_diff *d;

	if (c->nd == c->capd) {
		c->capd = c->capd ? c->capd * 2 : 256;
		c->d = xrealloc(c->d, c->capd * sizeof(*c->d));
	}
	d = &c->d[c->nd++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->on_bank = on_bank;
	d->line = line;
	d->amount = amount;
	d->candidates = (uint32_t *)(uintptr_t)c->pool.n;
	for (uint32_t i = 0; i < ncand; i++)
		v32_push(&c->pool, cand[i]);
	d->ncandidates = ncand;
	return d;
}

/* An ambiguity: subject (on its side) against equally good candidates
 * on the other side. The subject is ST_AMBIG, the candidates ST_HELD
 * (each still gets its own unmatched-line difference at the end). */
static void
add_ambiguity(struct ctx *c, bool subject_bank, uint32_t subject,
    const uint32_t *cand, uint32_t ncand, const char *why)
{
	const struct recon_side *ss = subject_bank ? c->bank : c->ledger;
	const struct recon_side *os = subject_bank ? c->ledger : c->bank;
	uint8_t *st = subject_bank ? c->sb : c->sl;
	uint8_t *ot = subject_bank ? c->sl : c->sb;
	const struct recon_line *l = &ss->lines[subject];
	struct recon_diff *d;
	char desc[160], msg[1024];
	size_t o;

	st[subject] = ST_AMBIG;
	for (uint32_t i = 0; i < ncand; i++)
		if (ot[cand[i]] == ST_FREE)
			ot[cand[i]] = ST_HELD;
	d = add_diff(c, DIFF_AMBIGUOUS, subject_bank, subject, l->amount, cand,
	    ncand);
	line_desc(ss, l, desc, sizeof(desc));
	o = (size_t)snprintf(msg, sizeof(msg), "%s %s（%s）有 %u 个同样好的%s候选，"
	    "不自动选择，请人工确认：", subject_bank ? "银行" : "账上", desc, why,
	    ncand, subject_bank ? "账上" : "银行");
	for (uint32_t i = 0; i < ncand && o < sizeof(msg) - 64; i++) {
		const struct recon_line *k = &os->lines[cand[i]];

		o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s第 %u 行",
		    i ? "、" : "", k->src_line);
	}
	set_message(d->message, sizeof(d->message), msg);
}

/* ---- the hash views and the mutual-best engine ------------------------- */

/*
 * One side as one pass sees it: a key hash per line (0 = not in the pass)
 * and chains of line indices per bucket, in index order.
 */
struct view {
	const struct recon_line *lines;
	uint8_t *st;
	size_t n;
	uint64_t *h;
	uint32_t *head, *next;
	uint64_t mask;
};

typedef uint64_t (*key_fn)(const struct recon_line *l);

static void
view_build(struct view *v, const struct recon_side *s, uint8_t *st,
    key_fn key)
{
	size_t count = 0, size = 16;

	v->lines = s->lines;
	v->st = st;
	v->n = s->n;
	v->h = xmalloc((s->n ? s->n : 1) * sizeof(*v->h));
	v->next = xmalloc((s->n ? s->n : 1) * sizeof(*v->next));
	for (size_t i = 0; i < s->n; i++) {
		uint64_t h = 0;

		if (st[i] == ST_FREE && (h = key(&s->lines[i])) != 0)
			count++;
		v->h[i] = h;
	}
	while (size < count * 2)
		size *= 2;
	v->mask = size - 1;
	v->head = xmalloc(size * sizeof(*v->head));
	memset(v->head, 0xff, size * sizeof(*v->head));
	for (size_t i = s->n; i-- > 0;) {
		if (v->h[i] == 0)
			continue;
		v->next[i] = v->head[v->h[i] & v->mask];
		v->head[v->h[i] & v->mask] = (uint32_t)i;
	}
}

static void
view_free(struct view *v)
{
	free(v->h);
	free(v->head);
	free(v->next);
	memset(v, 0, sizeof(*v));
}

/* Score of pairing a (pending side) with b (other side); INT64_MIN = no. */
typedef int64_t (*score_fn)(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b);

struct pass {
	score_fn score;
	enum recon_match_kind kind;
	bool a_bank;             /* side A is the bank */
	bool same_side;          /* A and B are one side (reversals) */
	bool report_ambiguity;   /* false: leave undecided lines alone */
	const char *why;         /* for the ambiguity message */
	bool (*pending)(const struct recon_line *l);
	bool fee;                /* record the difference as DIFF_FEE */
	/* For a group of one line against one: may they pair? (Cheaper
	 * than the score when the score only ranks candidates.) */
	bool (*single_ok)(const struct ctx *c, const struct recon_line *a,
	    const struct recon_line *b);
};

/*
 * The engine of passes 1, 2, 4 and 5. Each side's free lines are sorted
 * by key hash (a counting sort on the top bits, then the small buckets),
 * the two sorted lists are walked together, and each group of lines
 * sharing a hash is settled on its own: a group is all a line can ever
 * be matched with in this pass. Nearly every group is one bank line and
 * one ledger line; walking sorted lists instead of probing a hash table
 * line by line is what keeps a million-line pass to a fraction of a
 * second. Groups are independent, so two threads take half each; their
 * decisions are recorded afterwards in a fixed order (the result does
 * not depend on the threads).
 */
struct ent {
	uint64_t h;
	uint32_t idx;
};

struct elist {
	struct ent *e;
	size_t *start;           /* bucket b is e[start[b] .. start[b + 1]) */
	size_t n;
};

static void
elist_build(struct elist *l, const struct recon_side *s, const uint8_t *st,
    key_fn key, bool (*filter)(const struct recon_line *), int bits)
{
	size_t nb = (size_t)1 << bits, *cnt;
	struct ent *tmp;
	size_t n = 0;

	tmp = xmalloc((s->n ? s->n : 1) * sizeof(*tmp));
	cnt = xcalloc(nb + 1, sizeof(*cnt));
	for (size_t i = 0; i < s->n; i++) {
		uint64_t h;

		if (st[i] != ST_FREE || (filter != NULL && !filter(&s->lines[i])) ||
		    (h = key(&s->lines[i])) == 0)
			continue;
		tmp[n].h = h;
		tmp[n].idx = (uint32_t)i;
		cnt[(h >> (64 - bits)) + 1]++;
		n++;
	}
	for (size_t b = 0; b < nb; b++)
		cnt[b + 1] += cnt[b];
	l->e = xmalloc((n ? n : 1) * sizeof(*l->e));
	l->start = xmalloc((nb + 1) * sizeof(*l->start));
	memcpy(l->start, cnt, (nb + 1) * sizeof(*cnt));
	for (size_t i = 0; i < n; i++)
		l->e[cnt[tmp[i].h >> (64 - bits)]++] = tmp[i];
	/* Buckets hold a handful of entries: insertion sort, stable, so a
	 * group keeps line order. */
	for (size_t b = 0; b < nb; b++)
		for (size_t i = l->start[b] + 1; i < l->start[b + 1]; i++) {
			struct ent x = l->e[i];
			size_t j = i;

			while (j > l->start[b] && l->e[j - 1].h > x.h) {
				l->e[j] = l->e[j - 1];
				j--;
			}
			l->e[j] = x;
		}
	l->n = n;
	free(tmp);
	free(cnt);
}

struct build_job {
	struct elist *l;
	const struct recon_side *s;
	const uint8_t *st;
	key_fn key;
	int bits;
};

static void *
build_thread(void *arg)
{
	struct build_job *j = arg;

	elist_build(j->l, j->s, j->st, j->key, NULL, j->bits);
	return NULL;
}

/* Both sides at once: hashing a million lines is most of a pass, and the
 * two are independent. */
static void
elists_build(struct elist *a, const struct recon_side *sa, const uint8_t *sta,
    key_fn key, bool (*filter)(const struct recon_line *), struct elist *b,
    const struct recon_side *sb, const uint8_t *stb, int bits)
{
	struct build_job j = { b, sb, stb, key, bits };
	pthread_t t;

	if (sa->n + sb->n > 100000 &&
	    pthread_create(&t, NULL, build_thread, &j) == 0) {
		elist_build(a, sa, sta, key, filter, bits);
		pthread_join(t, NULL);
		return;
	}
	elist_build(a, sa, sta, key, filter, bits);
	elist_build(b, sb, stb, key, NULL, bits);
}

static void
elist_free(struct elist *l)
{
	free(l->e);
	free(l->start);
}

struct worker {
	struct ctx *c;
	const struct pass *p;
	const struct recon_side *sa, *sb;
	uint8_t *sta, *stb;
	const struct elist *A, *B;
	size_t b0, b1;           /* buckets to walk */
	/* decisions: 0 a b (a pair) | 1 subject-on-A subject n cands... */
	struct vec32 dec;
	struct vec32 pend, ca, cb, rec;
};

/* The best free candidates in other[] for line x (of side xs). */
static size_t
group_best(struct worker *w, bool from_a, uint32_t x, const struct ent *other,
    size_t n, struct vec32 *out)
{
	const struct recon_line *xl = from_a ? &w->sa->lines[x] :
	    &w->sb->lines[x];
	const struct recon_side *os = from_a ? w->sb : w->sa;
	const uint8_t *ost = from_a ? w->stb : w->sta;
	int64_t best = INT64_MIN;

	out->n = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t j = other[k].idx;
		int64_t s;

		if (ost[j] != ST_FREE || (w->p->same_side && j == x))
			continue;
		s = from_a ? w->p->score(w->c, xl, &os->lines[j]) :
		    w->p->score(w->c, &os->lines[j], xl);
		if (s == INT64_MIN)
			continue;
		if (s > best) {
			best = s;
			out->n = 0;
		}
		if (s == best)
			v32_push(out, j);
	}
	return out->n;
}

static void
group_settle(struct worker *w, const struct ent *ga, size_t na,
    const struct ent *gb, size_t nb)
{
	const struct pass *p = w->p;
	bool changed = true;

	/* the common case, one line against one line */
	if (na == 1 && nb == 1 && !p->same_side) {
		uint32_t a = ga[0].idx, b = gb[0].idx;

		const struct recon_line *la = &w->sa->lines[a];
		const struct recon_line *lb = &w->sb->lines[b];

		if (p->single_ok != NULL ? !p->single_ok(w->c, la, lb) :
		    p->score(w->c, la, lb) == INT64_MIN)
			return;
		w->sta[a] = w->stb[b] = ST_MATCHED;
		v32_push(&w->dec, 0);
		v32_push(&w->dec, a);
		v32_push(&w->dec, b);
		return;
	}
	w->pend.n = 0;
	for (size_t i = 0; i < na; i++)
		v32_push(&w->pend, ga[i].idx);
	/* Rounds: a pair is taken when each is the other's single best; a
	 * match can settle a neighbour's tie, so repeat until nothing moves.
	 * A line with no candidate drops out (the free set only shrinks). */
	while (changed) {
		size_t k = 0;

		changed = false;
		for (size_t i = 0; i < w->pend.n; i++) {
			uint32_t a = w->pend.v[i], b;

			if (w->sta[a] != ST_FREE)
				continue;
			if (group_best(w, true, a, gb, nb, &w->ca) == 0)
				continue;
			if (w->ca.n == 1) {
				b = w->ca.v[0];
				if (group_best(w, false, b, ga, na, &w->cb) == 1 &&
				    w->cb.v[0] == a) {
					w->sta[a] = w->stb[b] = ST_MATCHED;
					v32_push(&w->dec, 0);
					v32_push(&w->dec, a);
					v32_push(&w->dec, b);
					changed = true;
					continue;
				}
			}
			w->pend.v[k++] = a;
		}
		w->pend.n = k;
	}
	if (!p->report_ambiguity || w->pend.n == 0)
		return;
	/* What is left has candidates but no unique mutual best. Work out
	 * every ambiguity against the state as it is, then mark them, so
	 * the order of marking does not change what is found. */
	w->rec.n = 0;
	for (size_t i = 0; i < w->pend.n; i++) {
		uint32_t a = w->pend.v[i];

		if (w->sta[a] != ST_FREE ||
		    group_best(w, true, a, gb, nb, &w->ca) == 0)
			continue;
		if (w->ca.n >= 2) {
			v32_push(&w->rec, 1);
			v32_push(&w->rec, a);
			v32_push(&w->rec, (uint32_t)w->ca.n);
			for (size_t j = 0; j < w->ca.n; j++)
				v32_push(&w->rec, w->ca.v[j]);
		} else if (group_best(w, false, w->ca.v[0], ga, na,
		    &w->cb) >= 2) {
			/* a's single best is contested from the other side.
			 * (If that line strictly prefers another line, itself
			 * undecided, a stays free: it is reported by that
			 * line's ambiguity's candidates or as unmatched.) */
			v32_push(&w->rec, 0);
			v32_push(&w->rec, w->ca.v[0]);
			v32_push(&w->rec, (uint32_t)w->cb.n);
			for (size_t j = 0; j < w->cb.n; j++)
				v32_push(&w->rec, w->cb.v[j]);
		}
	}
	for (size_t i = 0; i < w->rec.n;) {
		bool on_a = w->rec.v[i] == 1;
		uint32_t subj = w->rec.v[i + 1], n = w->rec.v[i + 2];
		uint8_t *st = on_a ? w->sta : w->stb, *ot = on_a ? w->stb : w->sta;
		size_t at = i;

		i += 3 + n;
		if (st[subj] == ST_AMBIG)
			continue;
		st[subj] = ST_AMBIG;
		for (uint32_t k = 0; k < n; k++)
			if (ot[w->rec.v[at + 3 + k]] == ST_FREE)
				ot[w->rec.v[at + 3 + k]] = ST_HELD;
		v32_push(&w->dec, 1);
		for (size_t k = at; k < i; k++)
			v32_push(&w->dec, w->rec.v[k]);
	}
}

/*
 * Lines are reached in hash order, i.e. at random: each is a cache miss,
 * then its strings another. Fetching them a few groups ahead overlaps
 * those misses instead of paying them one after another.
 */
#define PF_LINE 16
#define PF_STR 8

static void
prefetch(const struct worker *w, size_t i, size_t j)
{
	const struct recon_line *l;

	if (i + PF_LINE < w->A->n)
		__builtin_prefetch(&w->sa->lines[w->A->e[i + PF_LINE].idx]);
	if (j + PF_LINE < w->B->n)
		__builtin_prefetch(&w->sb->lines[w->B->e[j + PF_LINE].idx]);
	if (i + PF_STR < w->A->n) {
		l = &w->sa->lines[w->A->e[i + PF_STR].idx];
		__builtin_prefetch(l->ref_norm);
		__builtin_prefetch(&w->sta[w->A->e[i + PF_STR].idx], 1);
	}
	if (j + PF_STR < w->B->n) {
		l = &w->sb->lines[w->B->e[j + PF_STR].idx];
		__builtin_prefetch(l->ref_norm);
		__builtin_prefetch(&w->stb[w->B->e[j + PF_STR].idx], 1);
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (size_t b = w->b0; b < w->b1; b++) {
		size_t i = w->A->start[b], ie = w->A->start[b + 1];
		size_t j = w->B->start[b], je = w->B->start[b + 1];

		while (i < ie && j < je) {
			uint64_t h = w->A->e[i].h;
			size_t i2 = i, j2;

			prefetch(w, i, j);

			while (i2 < ie && w->A->e[i2].h == h)
				i2++;
			while (j < je && w->B->e[j].h < h)
				j++;
			for (j2 = j; j2 < je && w->B->e[j2].h == h; j2++)
				;
			if (j2 > j)
				group_settle(w, &w->A->e[i], i2 - i, &w->B->e[j],
				    j2 - j);
			i = i2;
		}
	}
	return NULL;
}

static void record_pair(struct ctx *c, const struct pass *p, uint32_t a,
    uint32_t b);
static void add_ambiguity(struct ctx *c, bool subject_bank, uint32_t subject,
    const uint32_t *cand, uint32_t ncand, const char *why);

/* Side A is the bank (p->a_bank) or the ledger; for same_side both are
 * that side, A taking the lines p->pending accepts. */
static void
run_pass(struct ctx *c, const struct pass *p, key_fn key)
{
	const struct recon_side *sa = p->a_bank ? c->bank : c->ledger;
	const struct recon_side *sb = p->same_side ? sa :
	    (p->a_bank ? c->ledger : c->bank);
	uint8_t *sta = p->a_bank ? c->sb : c->sl;
	uint8_t *stb = p->same_side ? sta : (p->a_bank ? c->sl : c->sb);
	size_t most = sa->n > sb->n ? sa->n : sb->n;
	int bits = 4, nthreads = 1;
	struct elist A, B;
	struct worker w[2];
	pthread_t t;

	while (bits < 22 && ((size_t)1 << (bits + 2)) < most)
		bits++;
	elists_build(&A, sa, sta, key, p->pending, &B, sb, stb, bits);
	memset(w, 0, sizeof(w));
	for (int k = 0; k < 2; k++) {
		w[k] = (struct worker){ .c = c, .p = p, .sa = sa, .sb = sb,
		    .sta = sta, .stb = stb, .A = &A, .B = &B };
	}
	w[0].b1 = (size_t)1 << bits;
	if (A.n + B.n > 100000) {
		w[0].b1 = (size_t)1 << (bits - 1);
		w[1].b0 = w[0].b1;
		w[1].b1 = (size_t)1 << bits;
		if (pthread_create(&t, NULL, worker_run, &w[1]) == 0)
			nthreads = 2;
		else
			w[0].b1 = (size_t)1 << bits;
	}
	worker_run(&w[0]);
	if (nthreads == 2)
		pthread_join(t, NULL);
	for (int k = 0; k < nthreads; k++) {
		struct vec32 *d = &w[k].dec;

		for (size_t i = 0; i < d->n;) {
			if (d->v[i] == 0) {
				record_pair(c, p, d->v[i + 1], d->v[i + 2]);
				i += 3;
			} else {
				bool on_a = d->v[i + 1] == 1;
				bool subj_bank = on_a ? p->a_bank : !p->a_bank;
				uint32_t n = d->v[i + 3];

				add_ambiguity(c, subj_bank, d->v[i + 2],
				    &d->v[i + 4], n, p->why);
				i += 4 + n;
			}
		}
		free(w[k].dec.v);
		free(w[k].pend.v);
		free(w[k].ca.v);
		free(w[k].cb.v);
		free(w[k].rec.v);
	}
	elist_free(&A);
	elist_free(&B);
}

static void
record_pair(struct ctx *c, const struct pass *p, uint32_t a, uint32_t b)
{
	uint32_t pair[2] = { a, b };
	const struct recon_line *lb, *ll;
	uint32_t bi = p->a_bank ? a : b, li = p->a_bank ? b : a;
	int64_t diff;

	if (p->same_side) {
		if (p->a_bank)
			add_match(c, p->kind, pair, 2, NULL, 0, 0);
		else
			add_match(c, p->kind, NULL, 0, pair, 2, 0);
		return;
	}
	if (!p->fee) {
		/* passes 1 and 2 pair equal amounts only */
		add_match(c, p->kind, &bi, 1, &li, 1, 0);
		return;
	}
	lb = &c->bank->lines[bi];
	ll = &c->ledger->lines[li];
	diff = lb->amount - ll->amount;
	add_match(c, p->kind, &bi, 1, &li, 1, diff);
	if (diff != 0) {
		char amt[48], d1[160], d2[160], msg[600];
		struct recon_diff *d;

		/* The fee enters the 余额调节表 as a bank item: the bank
		 * moved diff more than the ledger booked. */
		d = add_diff(c, DIFF_FEE, true, bi, diff, &li, 1);
		recon_amount_format(diff, true, amt, sizeof(amt));
		line_desc(c->bank, lb, d1, sizeof(d1));
		line_desc(c->ledger, ll, d2, sizeof(d2));
		snprintf(msg, sizeof(msg), "差额 %s 元（银行减账上，%s，"
		    "需补记账）：银行 %s ↔ 账上 %s", amt,
		    p->kind == MATCH_MANUAL ? "人工匹配" :
		    "容差内匹配，多为手续费", d1, d2);
		set_message(d->message, sizeof(d->message), msg);
	}
}

/* ---- keys and scores ---------------------------------------------------- */

static uint64_t
nz(uint64_t h)
{
	return h ? h : 1;
}

static uint64_t
key_ref_amount(const struct recon_line *l)
{
	if (!nonempty(l->ref_norm))
		return 0;
	return nz(hash_str(l->ref_norm) ^ mix64((uint64_t)l->amount));
}

static uint64_t
key_amount(const struct recon_line *l)
{
	return l->amount == 0 ? 0 : nz(mix64((uint64_t)l->amount));
}

static uint64_t
key_abs_amount(const struct recon_line *l)
{
	return l->amount == 0 ? 0 : nz(mix64((uint64_t)abs64(l->amount)));
}

static uint64_t
key_ref(const struct recon_line *l)
{
	return nonempty(l->ref_norm) ? nz(hash_str(l->ref_norm)) : 0;
}

static uint64_t
key_cp(const struct recon_line *l)
{
	return nonempty(l->counterparty) ? nz(hash_str(l->counterparty)) : 0;
}

static bool
in_window(const struct ctx *c, const struct recon_line *bank,
    const struct recon_line *ledger)
{
	int64_t dd = (int64_t)ledger->date - bank->date;

	return dd >= -c->r->window_before && dd <= c->r->window_after;
}

/* Pass 1: the same reference and amount, whatever the dates; the date
 * only picks between several. a is the bank line. */
static int64_t
score_ref(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b)
{
	if (a->amount != b->amount || strcmp(a->ref_norm, b->ref_norm) != 0)
		return INT64_MIN;
	return -abs64((int64_t)b->date - a->date);
}

/* Pass 2: the amount within the window; counterparty first, then the
 * closer date. */
static int64_t
score_amount_date(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b)
{
	if (a->amount != b->amount || !in_window(c, a, b))
		return INT64_MIN;
	return (int64_t)cp_similarity(a->counterparty, b->counterparty) *
	    100000 - abs64((int64_t)b->date - a->date);
}

static bool
single_amount_date(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b)
{
	return a->amount == b->amount && in_window(c, a, b);
}

/* Pass 4: a > 0 and b < 0 on one side, cancelling, close in time, and
 * tied by a reversal mark, the reference or the counterparty. The window
 * is either way (which one is the original is not always known). */
static int64_t
score_reversal(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b)
{
	int64_t dd = abs64((int64_t)b->date - a->date), s = 0;
	bool ref = nonempty(a->ref_norm) && strcmp(a->ref_norm, b->ref_norm) == 0;
	bool cp = nonempty(a->counterparty) &&
	    strcmp(a->counterparty, b->counterparty) == 0;

	if (a->amount <= 0 || b->amount != -a->amount ||
	    (a->reversal && b->reversal) ||
	    dd > c->r->window_before + c->r->window_after)
		return INT64_MIN;
	if (!ref && !cp && !a->reversal && !b->reversal)
		return INT64_MIN;
	s = (ref ? 4 : 0) + (cp ? 2 : 0) + (a->reversal || b->reversal ? 1 : 0);
	return s * 100000 - dd;
}

static bool
pending_positive(const struct recon_line *l)
{
	return l->amount > 0;
}

/* Pass 5: same sign, within tolerance and window; the view's key already
 * asks for the same reference (or counterparty), checked here against
 * hash collisions. */
static int64_t
score_tol_common(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b)
{
	int64_t diff = abs64(a->amount - b->amount);

	if (sign64(a->amount) != sign64(b->amount) || a->amount == 0 ||
	    diff > c->r->fee_tolerance || !in_window(c, a, b))
		return INT64_MIN;
	return -diff * 1000 - abs64((int64_t)b->date - a->date);
}

static int64_t
score_tol_ref(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b)
{
	if (strcmp(a->ref_norm, b->ref_norm) != 0)
		return INT64_MIN;
	return score_tol_common(c, a, b);
}

static int64_t
score_tol_cp(const struct ctx *c, const struct recon_line *a,
    const struct recon_line *b)
{
	if (strcmp(a->counterparty, b->counterparty) != 0)
		return INT64_MIN;
	return score_tol_common(c, a, b);
}

/* ---- duplicates --------------------------------------------------------- */

/*
 * The same bank line (ref_norm, amount, date) in two different statement
 * files: the later one is a duplicate. Within one file a repeated
 * reference is left alone; the bank printed it twice for a reason.
 */
static uint64_t
key_dup(const struct recon_line *l)
{
	if (!nonempty(l->ref_norm))
		return 0;
	return nz(hash_str(l->ref_norm) ^ mix64((uint64_t)l->amount) ^
	    mix64(((uint64_t)(uint32_t)l->date << 1) | 1));
}

static void
find_duplicates(struct ctx *c)
{
	const struct recon_side *s = c->bank;
	struct elist el;
	int bits = 4;

	while (bits < 22 && ((size_t)1 << (bits + 2)) < s->n)
		bits++;
	elist_build(&el, s, c->sb, key_dup, NULL, bits);
	/* Groups sharing the key are in line order; each line is checked
	 * against the earlier lines that are not duplicates themselves. */
	for (size_t i = 0; i < el.n;) {
		size_t g = i + 1;

		while (g < el.n && el.e[g].h == el.e[i].h)
			g++;
		for (size_t k = i + 1; k < g; k++) {
			uint32_t x = el.e[k].idx, orig = NONE;
			const struct recon_line *l = &s->lines[x];

			for (size_t q = i; q < k && orig == NONE; q++) {
				const struct recon_line *o =
				    &s->lines[el.e[q].idx];

				if (c->sb[el.e[q].idx] == ST_FREE &&
				    o->src_file != l->src_file &&
				    o->amount == l->amount &&
				    o->date == l->date &&
				    strcmp(o->ref_norm, l->ref_norm) == 0)
					orig = el.e[q].idx;
			}
			if (orig != NONE) {
				char d1[160], d2[160], msg[600];
				struct recon_diff *d;

				c->sb[x] = ST_DUP;
				d = add_diff(c, DIFF_DUPLICATE, true, x,
				    l->amount, &orig, 1);
				line_desc(s, l, d1, sizeof(d1));
				line_desc(s, &s->lines[orig], d2, sizeof(d2));
				snprintf(msg, sizeof(msg), "重复的银行记录 %s 与 %s"
				    " 相同（对账单文件重叠），不计入余额和发生额",
				    d1, d2);
				set_message(d->message, sizeof(d->message), msg);
			}
		}
		i = g;
	}
	elist_free(&el);
}

/* ---- manual matches ----------------------------------------------------- */

static uint32_t
find_manual_line(const struct view *v, const char *ref, int64_t amount,
    recon_day date)
{
	uint64_t h = key_amount(&(struct recon_line){ .amount = amount });

	if (h == 0)
		return NONE;
	for (uint32_t j = v->head[h & v->mask]; j != NONE; j = v->next[j]) {
		const struct recon_line *l = &v->lines[j];

		if (v->h[j] != h || v->st[j] != ST_FREE || l->amount != amount ||
		    (date != 0 && l->date != date))
			continue;
		if (nonempty(ref) && strcmp(ref, l->ref) != 0 &&
		    strcmp(ref, l->ref_norm) != 0)
			continue;
		return j;
	}
	return NONE;
}

static void
apply_manual(struct ctx *c, const struct recon_manual *mm, size_t n)
{
	struct view vb, vl;

	if (n == 0)
		return;
	view_build(&vb, c->bank, c->sb, key_amount);
	view_build(&vl, c->ledger, c->sl, key_amount);
	for (size_t i = 0; i < n; i++) {
		uint32_t b = find_manual_line(&vb, mm[i].bank_ref,
		    mm[i].bank_amount, mm[i].bank_date);
		uint32_t l = find_manual_line(&vl, mm[i].ledger_ref,
		    mm[i].ledger_amount, mm[i].ledger_date);

		/* A remembered match whose lines are not in this run (another
		 * period) simply does not apply. */
		if (b == NONE || l == NONE)
			continue;
		record_pair(c, &(struct pass){ .kind = MATCH_MANUAL,
		    .a_bank = true, .fee = true }, b, l);
	}
	view_free(&vb);
	view_free(&vl);
}

/* ---- pass 3: batches ----------------------------------------------------- */

struct subset {
	const int64_t *amt;      /* candidates' |amount|, descending */
	const int64_t *suffix;   /* suffix[i] = sum of amt[i..] */
	size_t n;
	int max_parts, exact_parts;   /* exact_parts 0 = any from 2 */
	uint32_t chosen[64], nchosen;
	uint32_t sol[2][64], nsol[2];
	int found;
	uint32_t nodes;
	bool exhausted;
};

/* Depth-first over candidates sorted by size: skip any that overshoot,
 * stop a branch when what is left cannot reach the target. Stops at the
 * second solution (that is ambiguity, the rest does not matter). */
static void
subset_dfs(struct subset *s, size_t from, int64_t need)
{
	if (s->found >= 2 || s->exhausted)
		return;
	if (++s->nodes > SUBSET_NODE_BUDGET) {
		s->exhausted = true;
		return;
	}
	if (need == 0) {
		if (s->nchosen >= 2 && (s->exact_parts == 0 ||
		    (int)s->nchosen == s->exact_parts)) {
			memcpy(s->sol[s->found], s->chosen,
			    s->nchosen * sizeof(uint32_t));
			s->nsol[s->found] = s->nchosen;
			s->found++;
		}
		return;
	}
	if ((int)s->nchosen >= s->max_parts)
		return;
	for (size_t i = from; i < s->n; i++) {
		if (s->suffix[i] < need)
			return;
		if (s->amt[i] > need)
			continue;
		/* the parts left cannot reach need even with the largest */
		if (s->amt[i] * (int64_t)(s->max_parts - (int)s->nchosen) < need)
			return;
		s->chosen[s->nchosen++] = (uint32_t)i;
		subset_dfs(s, i + 1, need - s->amt[i]);
		s->nchosen--;
		if (s->found >= 2 || s->exhausted)
			return;
	}
}

struct cand {
	uint32_t idx;
	int64_t amt;       /* |amount| */
	int32_t dist;      /* |date distance| */
};

static int
cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	if (a->amt != b->amt)
		return a->amt > b->amt ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

struct date_idx {
	uint32_t *v;      /* free lines of a side, by date */
	size_t n;
	const struct recon_line *lines;
};

static int
date_cmp(const void *x, const void *y, void *arg)
{
	const struct recon_line *lines = arg;
	const struct recon_line *a = &lines[*(const uint32_t *)x];
	const struct recon_line *b = &lines[*(const uint32_t *)y];

	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return *(const uint32_t *)x < *(const uint32_t *)y ? -1 : 1;
}

/* Only lines still free reach pass 3 (about the differences, not the
 * whole file), so a sorted copy is cheap. */
static void
date_idx_build(struct date_idx *d, const struct recon_side *s,
    const uint8_t *st)
{
	d->v = xmalloc((s->n ? s->n : 1) * sizeof(*d->v));
	d->n = 0;
	d->lines = s->lines;
	for (size_t i = 0; i < s->n; i++)
		if (st[i] == ST_FREE && s->lines[i].amount != 0)
			d->v[d->n++] = (uint32_t)i;
	qsort_r(d->v, d->n, sizeof(*d->v), date_cmp, (void *)s->lines);
}

static size_t
date_lower(const struct date_idx *d, recon_day day)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (d->lines[d->v[mid]].date < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Tries to explain line t (one side) as the sum of several free lines of
 * the other side. Returns true if it settled t (matched or ambiguous).
 */
static bool
batch_one(struct ctx *c, bool t_bank, uint32_t ti, const struct date_idx *di,
    const struct view *batch_view, struct cand *cands, int64_t *amt,
    int64_t *suffix, bool blind)
{
	const struct recon_side *ts = t_bank ? c->bank : c->ledger;
	const struct recon_side *os = t_bank ? c->ledger : c->bank;
	uint8_t *ost = t_bank ? c->sl : c->sb;
	const struct recon_line *t = &ts->lines[ti];
	int64_t target = abs64(t->amount), total = 0;
	size_t n = 0, cap = (size_t)c->r->subset_max_candidates;
	struct subset s;
	int pass_no;

	/* Either the lines carrying t's batch id, or (blind) every line in
	 * the window, provided they fit the cap: picking some of too many
	 * would be a guess. */
	for (pass_no = blind; pass_no < 1 + blind; pass_no++) {
		n = 0;
		total = 0;
		if (pass_no == 0) {
			uint64_t h;
			bool over = false;

			if (!nonempty(t->batch) || batch_view == NULL)
				continue;
			h = nz(hash_str(t->batch));
			for (uint32_t j = batch_view->head[h & batch_view->mask];
			    j != NONE; j = batch_view->next[j]) {
				const struct recon_line *o = &os->lines[j];

				if (batch_view->h[j] != h || ost[j] != ST_FREE ||
				    strcmp(o->batch, t->batch) != 0 ||
				    sign64(o->amount) != sign64(t->amount) ||
				    abs64(o->amount) >= target ||
				    !(t_bank ? in_window(c, t, o) :
				    in_window(c, o, t)))
					continue;
				if (n == cap) {
					over = true;
					break;
				}
				cands[n++] = (struct cand){ j, abs64(o->amount), 0 };
				total += abs64(o->amount);
			}
			if (over)
				n = 0;
		} else {
			recon_day from = t_bank ? t->date - c->r->window_before :
			    t->date - c->r->window_after;
			recon_day to = t_bank ? t->date + c->r->window_after :
			    t->date + c->r->window_before;
			bool over = false;

			for (size_t k = date_lower(di, from); k < di->n; k++) {
				uint32_t j = di->v[k];
				const struct recon_line *o = &os->lines[j];

				if (o->date > to)
					break;
				if (ost[j] != ST_FREE ||
				    sign64(o->amount) != sign64(t->amount) ||
				    abs64(o->amount) >= target)
					continue;
				if (n == cap) {
					over = true;
					break;
				}
				cands[n++] = (struct cand){ j, abs64(o->amount), 0 };
				total += abs64(o->amount);
			}
			if (over)
				n = 0;
		}
		if (n < 2 || total < target)
			continue;
		qsort(cands, n, sizeof(*cands), cand_cmp);
		for (size_t k = 0; k < n; k++)
			amt[k] = cands[k].amt;
		suffix[n] = 0;
		for (size_t k = n; k-- > 0;)
			suffix[k] = suffix[k + 1] + amt[k];
		memset(&s, 0, sizeof(s));
		s.amt = amt;
		s.suffix = suffix;
		s.n = n;
		s.max_parts = c->r->subset_max_parts;
		if (s.max_parts > 64)
			s.max_parts = 64;
		s.exact_parts = pass_no == 0 && t->batch_count > 0 ?
		    t->batch_count : 0;
		subset_dfs(&s, 0, target);
		if (s.found == 1 && !s.exhausted) {
			uint32_t parts[64];

			for (uint32_t k = 0; k < s.nsol[0]; k++)
				parts[k] = cands[s.sol[0][k]].idx;
			if (t_bank)
				add_match(c, MATCH_BATCH, &ti, 1, parts,
				    s.nsol[0], 0);
			else
				add_match(c, MATCH_BATCH, parts, s.nsol[0],
				    &ti, 1, 0);
			return true;
		}
		if (s.found == 2) {
			uint32_t u[128], nu = 0;

			/* the union of both subsets, in candidate order */
			for (size_t k = 0; k < n; k++) {
				bool in = false;

				for (int q = 0; q < 2 && !in; q++)
					for (uint32_t r = 0; r < s.nsol[q]; r++)
						if (s.sol[q][r] == k)
							in = true;
				if (in)
					u[nu++] = cands[k].idx;
			}
			add_ambiguity(c, t_bank, ti, u, nu,
			    "多个不同的组合金额之和都相等");
			return true;
		}
	}
	return false;
}

static uint64_t
key_batch(const struct recon_line *l)
{
	return nonempty(l->batch) ? nz(hash_str(l->batch)) : 0;
}

static void
pass_batches(struct ctx *c, bool blind)
{
	size_t cap = (size_t)c->r->subset_max_candidates;
	struct cand *cands;
	int64_t *amt, *suffix;

	if (cap < 2 || c->r->subset_max_parts < 2)
		return;
	cands = xmalloc(cap * sizeof(*cands));
	amt = xmalloc(cap * sizeof(*amt));
	suffix = xmalloc((cap + 1) * sizeof(*suffix));
	for (int dir = 0; dir < 2; dir++) {
		bool t_bank = dir == 0;
		const struct recon_side *ts = t_bank ? c->bank : c->ledger;
		const struct recon_side *os = t_bank ? c->ledger : c->bank;
		uint8_t *tst = t_bank ? c->sb : c->sl;
		uint8_t *ost = t_bank ? c->sl : c->sb;
		struct date_idx di = { 0 };
		struct view bv = { 0 };

		if (blind)
			date_idx_build(&di, os, ost);
		else
			view_build(&bv, os, ost, key_batch);
		for (size_t i = 0; i < ts->n; i++)
			if (tst[i] == ST_FREE && ts->lines[i].amount != 0 &&
			    (blind || nonempty(ts->lines[i].batch)))
				batch_one(c, t_bank, (uint32_t)i, &di, &bv, cands,
				    amt, suffix, blind);
		if (blind)
			free(di.v);
		else
			view_free(&bv);
	}
	free(cands);
	free(amt);
	free(suffix);
}

/* ---- the rest: unmatched lines, proof, 余额调节表 ------------------------- */

static void
unmatched(struct ctx *c, bool bank)
{
	const struct recon_side *s = bank ? c->bank : c->ledger;
	uint8_t *st = bank ? c->sb : c->sl;

	for (size_t i = 0; i < s->n; i++) {
		const struct recon_line *l = &s->lines[i];
		enum recon_diff_kind k;
		struct recon_diff *d;
		char desc[160], msg[600];
		const char *what;

		if (st[i] != ST_FREE && st[i] != ST_HELD)
			continue;
		if (bank) {
			k = l->amount >= 0 ? DIFF_BANK_IN_NOT_BOOKED :
			    DIFF_BANK_OUT_NOT_BOOKED;
			what = l->amount >= 0 ? "银行已收、企业未收（账上无对应记录）" :
			    "银行已付、企业未付（账上无对应记录）";
		} else {
			k = l->amount >= 0 ? DIFF_BOOKED_IN_NOT_BANK :
			    DIFF_BOOKED_OUT_NOT_BANK;
			what = l->amount >= 0 ? "企业已收、银行未收（对账单上无对应记录）" :
			    "企业已付、银行未付（对账单上无对应记录）";
		}
		d = add_diff(c, k, bank, (uint32_t)i, l->amount, NULL, 0);
		line_desc(s, l, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s：%s%s", what, desc,
		    st[i] == ST_HELD ? "；是一项无法唯一匹配的候选" : "");
		set_message(d->message, sizeof(d->message), msg);
	}
}

static bool
prove(struct ctx *c, bool bank, int64_t *movements)
{
	const struct recon_side *s = bank ? c->bank : c->ledger;
	const uint8_t *st = bank ? c->sb : c->sl;
	int64_t sum = 0;

	for (size_t i = 0; i < s->n; i++)
		if (st[i] != ST_DUP)
			sum += s->lines[i].amount;
	*movements = sum;
	if (!s->has_opening || !s->has_closing)
		return false;
	if (s->opening + sum != s->closing) {
		char o[48], m[48], cl[48], dd[48], msg[600];
		struct recon_diff *d;

		d = add_diff(c, DIFF_BALANCE, bank, 0,
		    s->closing - (s->opening + sum), NULL, 0);
		recon_amount_format(s->opening, true, o, sizeof(o));
		recon_amount_format(sum, true, m, sizeof(m));
		recon_amount_format(s->closing, true, cl, sizeof(cl));
		recon_amount_format(s->closing - (s->opening + sum), true, dd, sizeof(dd));
		snprintf(msg, sizeof(msg), "%s余额不平：期初 %s + 发生额 %s ≠ 期末 %s，"
		    "相差 %s；请检查是否缺少文件或行", bank ? "银行对账单" : "企业账",
		    o, m, cl, dd);
		set_message(d->message, sizeof(d->message), msg);
		return false;
	}
	return true;
}

static int
diff_cmp(const void *x, const void *y)
{
	const struct recon_diff *a = x, *b = y;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->on_bank != b->on_bank)
		return a->on_bank ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

struct recon_result *
recon_match(const struct recon_side *bank, const struct recon_side *ledger,
    const struct recon_rules *r, const struct recon_manual *manual,
    size_t nmanual)
{
	struct result_priv *rp = xcalloc(1, sizeof(*rp));
	struct recon_result *res = &rp->pub;
	struct ctx c = { .bank = bank, .ledger = ledger, .r = r };
	int64_t bank_mov, ledger_mov;

	/* Nearly every line ends up in a one-to-one match: size for that
	 * now rather than copy a growing array of a million. */
	c.capm = (bank->n < ledger->n ? bank->n : ledger->n) + 16;
	c.m = xmalloc(c.capm * sizeof(*c.m));
	c.pool.cap = 2 * c.capm;
	c.pool.v = xmalloc(c.pool.cap * sizeof(*c.pool.v));
	c.sb = xcalloc(bank->n ? bank->n : 1, 1);
	c.sl = xcalloc(ledger->n ? ledger->n : 1, 1);

	/* a duplicate needs a second statement file to come from */
	if (r->duplicates && bank->nfiles > 1)
		find_duplicates(&c);
	apply_manual(&c, manual, nmanual);

	run_pass(&c, &(struct pass){ .score = score_ref,
	    .kind = MATCH_REFERENCE, .a_bank = true, .report_ambiguity = true,
	    .why = "流水号与金额相同，日期同样接近" }, key_ref_amount);
	run_pass(&c, &(struct pass){ .score = score_amount_date,
	    .kind = MATCH_AMOUNT_DATE, .a_bank = true, .report_ambiguity = true,
	    .why = "金额相同、日期在窗口内，对方户名与日期同样接近",
	    .single_ok = single_amount_date }, key_amount);
	pass_batches(&c, false);
	if (r->reversals) {
		/* An undecided reversal is left as two unmatched lines: they
		 * cancel in the 余额调节表 anyway. */
		for (int side = 0; side < 2; side++)
			run_pass(&c, &(struct pass){ .score = score_reversal,
			    .kind = MATCH_REVERSAL, .a_bank = side == 0,
			    .same_side = true, .pending = pending_positive },
			    key_abs_amount);
	}
	if (r->fee_tolerance > 0) {
		run_pass(&c, &(struct pass){ .score = score_tol_ref,
		    .kind = MATCH_TOLERANCE, .a_bank = true,
		    .report_ambiguity = true, .fee = true,
		    .why = "流水号相同、金额在容差内" }, key_ref);
		run_pass(&c, &(struct pass){ .score = score_tol_cp,
		    .kind = MATCH_TOLERANCE, .a_bank = true,
		    .report_ambiguity = true, .fee = true,
		    .why = "对方户名相同、金额在容差内" }, key_cp);
	}
	/* The blind subset search (no batch id) comes last, after the passes
	 * it is weaker than: a sum of otherwise unrelated lines is the least
	 * evidence of all, and over random amounts it can find a sum by
	 * chance; a fee or a reversal must not be eaten by it. */
	pass_batches(&c, true);
	unmatched(&c, true);
	unmatched(&c, false);

	res->bank_proves = prove(&c, true, &bank_mov);
	res->ledger_proves = prove(&c, false, &ledger_mov);

	/* Pool offsets become pointers now that the pool has stopped moving. */
	for (size_t i = 0; i < c.nm; i++) {
		c.m[i].bank = c.pool.v + (uintptr_t)c.m[i].bank;
		c.m[i].ledger = c.pool.v + (uintptr_t)c.m[i].ledger;
	}
	for (size_t i = 0; i < c.nd; i++)
		c.d[i].candidates = c.pool.v + (uintptr_t)c.d[i].candidates;
	if (c.nd > 0)
		qsort(c.d, c.nd, sizeof(*c.d), diff_cmp);

	res->book_balance = ledger->has_closing ? ledger->closing :
	    (ledger->has_opening ? ledger->opening : 0) + ledger_mov;
	res->bank_balance = bank->has_closing ? bank->closing :
	    (bank->has_opening ? bank->opening : 0) + bank_mov;
	/*
	 * How each difference enters the 余额调节表 (the four adjustments
	 * are kept as positive magnitudes, as the printed table shows them):
	 *   DIFF_BANK_IN_NOT_BOOKED      -> bank_in_not_booked  (book side, +)
	 *   DIFF_BANK_OUT_NOT_BOOKED     -> bank_out_not_booked (book side, -)
	 *   DIFF_BOOKED_IN_NOT_BANK      -> booked_in_not_bank  (bank side, +)
	 *   DIFF_BOOKED_OUT_NOT_BANK     -> booked_out_not_bank (bank side, -)
	 *   DIFF_AMBIGUOUS on a bank line   -> as an unmatched bank line, by
	 *                                      sign (nothing was booked against it);
	 *   DIFF_AMBIGUOUS on a ledger line -> as an unmatched ledger line;
	 *     (their candidates are reported as plain unmatched lines, above)
	 *   DIFF_FEE (bank minus ledger of a tolerance or manual match) -> a
	 *     bank item the ledger has not booked: + into bank_in_not_booked,
	 *     - into bank_out_not_booked;
	 *   DIFF_DUPLICATE, DIFF_BALANCE -> nowhere (a duplicate is not a
	 *     movement; a balance difference is a finding about a side).
	 * Matched pairs, batches and reversals net to zero and do not appear.
	 */
	for (size_t i = 0; i < c.nd; i++) {
		const struct recon_diff *d = &c.d[i];
		bool bank_item;

		switch (d->kind) {
		case DIFF_BANK_IN_NOT_BOOKED:
		case DIFF_BANK_OUT_NOT_BOOKED:
		case DIFF_FEE:
			bank_item = true;
			break;
		case DIFF_BOOKED_IN_NOT_BANK:
		case DIFF_BOOKED_OUT_NOT_BANK:
			bank_item = false;
			break;
		case DIFF_AMBIGUOUS:
			bank_item = d->on_bank;
			break;
		default:
			continue;
		}
		if (bank_item && d->amount >= 0)
			res->bank_in_not_booked += d->amount;
		else if (bank_item)
			res->bank_out_not_booked += -d->amount;
		else if (d->amount >= 0)
			res->booked_in_not_bank += d->amount;
		else
			res->booked_out_not_bank += -d->amount;
	}
	res->adjusted_book = res->book_balance + res->bank_in_not_booked -
	    res->bank_out_not_booked;
	res->adjusted_bank = res->bank_balance + res->booked_in_not_bank -
	    res->booked_out_not_bank;
	res->ties = res->adjusted_book == res->adjusted_bank;

	res->matches = c.m;
	res->nmatches = c.nm;
	res->diffs = c.d;
	res->ndiffs = c.nd;
	rp->pool = c.pool.v;
	free(c.sb);
	free(c.sl);
	return res;
}

void
recon_result_free(struct recon_result *res)
{
	struct result_priv *rp = (struct result_priv *)res;

	if (res == NULL)
		return;
	free(res->matches);
	free(res->diffs);
	free(rp->pool);
	free(rp);
}

const char *
recon_diff_kind_name(enum recon_diff_kind k)
{
	switch (k) {
	case DIFF_BANK_IN_NOT_BOOKED: return "bank_in_not_booked";
	case DIFF_BANK_OUT_NOT_BOOKED: return "bank_out_not_booked";
	case DIFF_BOOKED_IN_NOT_BANK: return "booked_in_not_bank";
	case DIFF_BOOKED_OUT_NOT_BANK: return "booked_out_not_bank";
	case DIFF_AMBIGUOUS: return "ambiguous";
	case DIFF_DUPLICATE: return "duplicate";
	case DIFF_FEE: return "fee";
	case DIFF_BALANCE: return "balance";
	}
	return "unknown";
}

const char *
recon_match_kind_name(enum recon_match_kind k)
{
	switch (k) {
	case MATCH_REFERENCE: return "reference";
	case MATCH_AMOUNT_DATE: return "amount_date";
	case MATCH_BATCH: return "batch";
	case MATCH_REVERSAL: return "reversal";
	case MATCH_TOLERANCE: return "tolerance";
	case MATCH_MANUAL: return "manual";
	}
	return "unknown";
}
