/*
 * crosscheck.c - 四比对: benefit recipients against the death registry,
 * the prison registry and the recipients of other regions.
 *
 * A recipient's row says the benefit, the amount of one payment and the
 * first and last payment dates (from, to); payments fall monthly on the
 * day of the first. A registry hit is a finding when money is or would be
 * paid wrongly: any death (the next payment must stop; the payments after
 * the death are at risk), a sentence that overlaps the payments or runs
 * past the next one, or the same benefit drawn elsewhere over the same
 * months. A recipient is one case however many registries hit it, and a
 * payment counts once in the amount at risk however many reasons it has.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

const char *
rec_registry_name(enum rec_registry k)
{
	return k == REG_DEATH ? "deceased" : k == REG_PRISON ? "in_prison" :
	    "double_draw";
}

static const char *
registry_text(enum rec_registry k)
{
	return k == REG_DEATH ? "died" : k == REG_PRISON ?
	    "serving a sentence" : "draws the same benefit in another region";
}

void
rec_crosscheck_add(struct rec_crosscheck *cc, const struct rec_set *rcp,
    const struct rec_set *reg, enum rec_registry kind,
    const struct rec_result *res)
{
	(void)rcp;
	for (size_t i = 0; i < res->n; i++) {
		struct rec_case *c;

		if (res->pairs[i].decision == REC_NOMATCH)
			continue;
		cc->c = xrealloc(cc->c, (cc->n + 1) * sizeof(*cc->c));
		c = &cc->c[cc->n++];
		memset(c, 0, sizeof(*c));
		c->rec = res->pairs[i].l;
		c->hits = xmalloc(sizeof(*c->hits));
		c->hits[0] = (struct rec_hit){ kind, reg, res->pairs[i] };
		c->nhits = 1;
	}
}

static int
case_cmp(const void *a, const void *b)
{
	const struct rec_case *x = a, *y = b;

	if (x->rec != y->rec)
		return x->rec < y->rec ? -1 : 1;
	return x->hits[0].kind - y->hits[0].kind;
}

/* The payment n months after the first (same day, or the month's last). */
static rec_day
payment(rec_day first, int n)
{
	int y, m, d, md;

	util_civil_from_days(first, &y, &m, &d);
	m += n;
	y += (m - 1) / 12;
	m = (m - 1) % 12 + 1;
	md = util_month_days(y, m);
	return (rec_day)util_days_from_civil(y, m, d < md ? d : md);
}

static int
npayments(const struct rec_record *r)
{
	int n = 0;

	if (r->from == REC_NODAY)
		return 0;
	if (r->to == REC_NODAY)
		return 1;
	while (n < 1200 && payment(r->from, n) <= r->to)
		n++;
	return n;
}

/* Is payment date d wrong because of hit h? */
static bool
at_risk(const struct rec_hit *h, const struct rec_record *reg, rec_day d)
{
	switch (h->kind) {
	case REG_DEATH:
		return reg->from != REC_NODAY && d > reg->from;
	case REG_PRISON:
		return reg->from != REC_NODAY && d >= reg->from &&
		    (reg->to == REC_NODAY || d <= reg->to);
	default:
		return reg->from != REC_NODAY && d >= reg->from &&
		    (reg->to == REC_NODAY || d <= reg->to);
	}
}

static bool
finding(const struct rec_hit *h, const struct rec_set *rcp,
    const struct rec_record *r, rec_day next)
{
	const struct rec_record *g = &h->set->r[h->pair.r];
	rec_day last = r->to == REC_NODAY ? r->from : r->to;

	switch (h->kind) {
	case REG_DEATH:
		return true;
	case REG_PRISON:
		if (g->from == REC_NODAY || r->from == REC_NODAY)
			return true;
		/* Paid during the term, or the term runs past the next
		 * payment; a term over before the first payment is not a
		 * finding. */
		return (g->from <= last && (g->to == REC_NODAY ||
		    g->to >= r->from)) || g->to == REC_NODAY || g->to >= next;
	default:
		if (r->benefit == 0 || g->benefit == 0 ||
		    strcmp(rcp->benefits[r->benefit],
		    h->set->benefits[g->benefit]) != 0)
			return false;
		return r->from != REC_NODAY && g->from != REC_NODAY &&
		    g->from <= last && (g->to == REC_NODAY || g->to >= r->from);
	}
}

void
rec_crosscheck_finish(struct rec_crosscheck *cc, const struct rec_set *rcp)
{
	size_t k = 0;

	qsort(cc->c, cc->n, sizeof(*cc->c), case_cmp);
	for (size_t i = 0; i < cc->n; i++) {
		if (k > 0 && cc->c[k - 1].rec == cc->c[i].rec) {
			struct rec_case *d = &cc->c[k - 1];

			d->hits = xrealloc(d->hits, (d->nhits + cc->c[i].nhits) *
			    sizeof(*d->hits));
			memcpy(d->hits + d->nhits, cc->c[i].hits,
			    cc->c[i].nhits * sizeof(*d->hits));
			d->nhits += cc->c[i].nhits;
			free(cc->c[i].hits);
		} else
			cc->c[k++] = cc->c[i];
	}
	cc->n = k;
	cc->nexact = cc->nfuzzy = 0;
	cc->total_at_risk = 0;
	k = 0;
	for (size_t i = 0; i < cc->n; i++) {
		struct rec_case *c = &cc->c[i];
		const struct rec_record *r = &rcp->r[c->rec];
		int np = npayments(r);
		size_t h = 0;

		c->next_payment = r->from == REC_NODAY ? REC_NODAY :
		    payment(r->from, np);
		for (size_t x = 0; x < c->nhits; x++)
			if (finding(&c->hits[x], rcp, r, c->next_payment))
				c->hits[h++] = c->hits[x];
		c->nhits = h;
		if (h == 0) {
			free(c->hits);
			continue;
		}
		c->exact = true;
		for (size_t x = 0; x < h; x++) {
			const struct rec_hit *t = &c->hits[x];

			c->exact &= t->pair.decision == REC_AUTO &&
			    t->pair.idc == IDC_EXACT && r->id_status == CNID_OK;
		}
		c->payments_at_risk = 0;
		for (int p = 0; p < np; p++) {
			rec_day d = payment(r->from, p);
			bool risk = false;

			for (size_t x = 0; x < h && !risk; x++)
				risk = at_risk(&c->hits[x], &c->hits[x].set->r[
				    c->hits[x].pair.r], d);
			c->payments_at_risk += risk;
		}
		c->amount_at_risk = (int64_t)c->payments_at_risk * r->amount;
		cc->total_at_risk += c->amount_at_risk;
		if (c->exact)
			cc->nexact++;
		else
			cc->nfuzzy++;
		cc->c[k++] = *c;
	}
	cc->n = k;
}

void
rec_crosscheck_clear(struct rec_crosscheck *cc)
{
	for (size_t i = 0; i < cc->n; i++)
		free(cc->c[i].hits);
	free(cc->c);
	memset(cc, 0, sizeof(*cc));
}

static void
yuan(int64_t fen, char *buf, size_t len)
{
	snprintf(buf, len, "%s%lld.%02lld", fen < 0 ? "-" : "",
	    (long long)(fen < 0 ? -fen : fen) / 100,
	    (long long)(fen < 0 ? -fen : fen) % 100);
}

json_t *
rec_case_json(const struct rec_set *rcp, const struct rec_case *c)
{
	const struct rec_record *r = &rcp->r[c->rec];
	json_t *reasons = json_array(), *hits = json_array(), *dates;
	char d[11], y[32], msg[400];
	size_t o = 0;
	int np = npayments(r);

	msg[0] = '\0';
	for (size_t x = 0; x < c->nhits; x++) {
		const struct rec_hit *h = &c->hits[x];
		const struct rec_record *g = &h->set->r[h->pair.r];
		json_t *hj = rec_pair_json(rcp, h->set, &h->pair);
		char a[11], b[11];
		bool dup = false;

		for (size_t z = 0; z < x; z++)
			dup |= c->hits[z].kind == h->kind;
		if (!dup)
			json_array_append_new(reasons, json_string(
			    rec_registry_name(h->kind)));
		json_object_set_new(hj, "registry", json_string(
		    rec_registry_name(h->kind)));
		json_object_set_new(hj, "registry_file", json_string(
		    h->set->path));
		rec_day_format(g->from, a);
		rec_day_format(g->to, b);
		if (h->kind == REG_DEATH)
			json_object_set_new(hj, "event", json_sprintf("died %s",
			    a[0] ? a : "(no date)"));
		else
			json_object_set_new(hj, "event", json_sprintf("%s %s~%s",
			    registry_text(h->kind), a, b[0] ? b : "(open)"));
		json_array_append_new(hits, hj);
		if (!dup && o < sizeof(msg) - 80)
			o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s%s",
			    o ? "; " : "", registry_text(h->kind));
	}
	dates = json_array();
	for (int p = 0; p < np && json_array_size(dates) < 60; p++) {
		rec_day day = payment(r->from, p);
		bool risk = false;

		for (size_t x = 0; x < c->nhits && !risk; x++)
			risk = at_risk(&c->hits[x], &c->hits[x].set->r[
			    c->hits[x].pair.r], day);
		if (risk) {
			rec_day_format(day, d);
			json_array_append_new(dates, json_string(d));
		}
	}
	yuan(c->amount_at_risk, y, sizeof(y));
	rec_day_format(c->next_payment, d);
	return json_pack("{s:o,s:o,s:s,s:o,s:o,s:I,s:I,s:s,s:s,s:s}",
	    "recipient", rec_record_json(rcp, r),
	    "reasons", reasons,
	    "summary", msg,
	    "hits", hits,
	    "payments_at_risk", dates,
	    "payments_at_risk_count", (json_int_t)c->payments_at_risk,
	    "amount_at_risk_fen", (json_int_t)c->amount_at_risk,
	    "amount_at_risk", y,
	    "next_payment", d,
	    "action", c->exact ? "suspend" : "review");
}

int
rec_crosscheck_write(const char *dir, const struct rec_set *rcp,
    const struct rec_crosscheck *cc, struct err *e)
{
	char *tmp, y[32], d[11];
	FILE *f;

	if (util_mkdir_p(dir, 0755, e) < 0)
		return -1;
	if ((f = rec_out_open(dir, "suspensions.csv", &tmp, e)) == NULL)
		return -1;
	fputs("line,id,name,next_payment,reasons,amount_at_risk\n", f);
	for (size_t i = 0; i < cc->n; i++) {
		const struct rec_case *c = &cc->c[i];
		const struct rec_record *r = &rcp->r[c->rec];

		if (!c->exact)
			continue;
		rec_day_format(c->next_payment, d);
		yuan(c->amount_at_risk, y, sizeof(y));
		fprintf(f, "%u,%.18s,", r->line, r->id);
		rec_csv_cell(f, rec_name(rcp, r));
		fprintf(f, ",%s,", d);
		for (size_t x = 0; x < c->nhits; x++) {
			bool dup = false;

			for (size_t z = 0; z < x; z++)
				dup |= c->hits[z].kind == c->hits[x].kind;
			if (!dup)
				fprintf(f, "%s%s", x ? ";" : "",
				    rec_registry_name(c->hits[x].kind));
		}
		fprintf(f, ",%s\n", y);
	}
	if (rec_out_close(f, dir, "suspensions.csv", tmp, e) < 0)
		return -1;
	if ((f = rec_out_open(dir, "cases.json", &tmp, e)) == NULL)
		return -1;
	yuan(cc->total_at_risk, y, sizeof(y));
	fprintf(f, "{\"total_at_risk\": \"%s\", \"total_at_risk_fen\": %lld,"
	    " \"cases\": [\n", y, (long long)cc->total_at_risk);
	for (size_t i = 0; i < cc->n; i++) {
		json_t *j = rec_case_json(rcp, &cc->c[i]);
		char *s = json_dumps(j, JSON_COMPACT);

		fprintf(f, "%s%s\n", s, i + 1 < cc->n ? "," : "");
		free(s);
		json_decref(j);
	}
	fputs("]}\n", f);
	return rec_out_close(f, dir, "cases.json", tmp, e);
}
