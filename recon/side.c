/*
 * side.c - the storage of one side of a reconciliation: lines in one
 * growing array, their strings in an arena of large chunks, and dates as
 * day numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon.h"

#define CHUNK_SIZE (1 << 20)

struct recon_chunk {
	struct recon_chunk *next;
	size_t used, size;
	char data[];
};

char *
recon_arena_strdup(struct recon_arena *a, const char *s, size_t len)
{
	struct recon_chunk *c = a->head;
	char *p;

	if (c == NULL || c->size - c->used < len + 1) {
		size_t size = len + 1 > CHUNK_SIZE ? len + 1 : CHUNK_SIZE;

		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	memcpy(p, s, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

void
recon_arena_free(struct recon_arena *a)
{
	for (struct recon_chunk *c = a->head, *n; c != NULL; c = n) {
		n = c->next;
		free(c);
	}
	a->head = NULL;
}

struct recon_line *
recon_side_add(struct recon_side *s)
{
	struct recon_line *l;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->lines = xrealloc(s->lines, s->cap * sizeof(*s->lines));
	}
	l = &s->lines[s->n++];
	memset(l, 0, sizeof(*l));
	l->ref = l->ref_norm = l->counterparty = l->text = l->batch = "";
	l->src_file = (uint16_t)(s->nfiles > 0 ? s->nfiles - 1 : 0);
	return l;
}

void
recon_side_free(struct recon_side *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->files);
	free(s->account);
	free(s->lines);
	recon_arena_free(&s->arena);
	memset(s, 0, sizeof(*s));
}

recon_day
recon_day_ymd(int y, int m, int d)
{
	if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 ||
	    d > util_month_days(y, m))
		return -1;
	return (recon_day)util_days_from_civil(y, m, d);
}

recon_day
recon_day_parse(const char *s)
{
	int y, m, d, n = 0;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || s[n] != '\0')
		return -1;
	return recon_day_ymd(y, m, d);
}

void
recon_day_format(recon_day z, char out[11])
{
	int y, m, d;

	util_civil_from_days(z, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = 0;
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = '\0';
}

/* "-1234.56", or with thousands separators for people: "-1,234.56". */
void
recon_amount_format(int64_t v, bool groups, char *buf, size_t len)
{
	char digits[32], out[48];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int n, o = 0;

	n = snprintf(digits, sizeof(digits), "%llu",
	    (unsigned long long)(u / 100));
	if (v < 0)
		out[o++] = '-';
	for (int i = 0; i < n; i++) {
		if (groups && i > 0 && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	snprintf(out + o, sizeof(out) - (size_t)o, ".%02u",
	    (unsigned)(u % 100));
	snprintf(buf, len, "%s", out);
}

/* The dates a side covers: its stated period, else its lines' dates. */
static bool
side_span(const struct recon_side *s, recon_day *from, recon_day *to)
{
	if (s->period_from > 0 && s->period_to >= s->period_from) {
		*from = s->period_from;
		*to = s->period_to;
		return true;
	}
	if (s->n == 0)
		return false;
	*from = *to = s->lines[0].date;
	for (size_t i = 1; i < s->n; i++) {
		if (s->lines[i].date < *from)
			*from = s->lines[i].date;
		if (s->lines[i].date > *to)
			*to = s->lines[i].date;
	}
	return true;
}

int
recon_check_sides(const struct recon_side *bank, const struct recon_side *ledger,
    const struct recon_rules *r, struct err *e)
{
	recon_day bf, bt, lf, lt;
	char d[4][11];

	if (!side_span(bank, &bf, &bt) || !side_span(ledger, &lf, &lt))
		return 0;
	/* Timing differences stay within the window; a ledger that shares
	 * not one day with the statement, even so, is another period's. */
	if (lt + r->window_before < bf || lf - r->window_after > bt) {
		recon_day_format(bf, d[0]);
		recon_day_format(bt, d[1]);
		recon_day_format(lf, d[2]);
		recon_day_format(lt, d[3]);
		err_setc(e, ERR_INVALID, "%s covers %s..%s but %s covers %s..%s:"
		    " the files are for different periods; send the matching"
		    " pair", bank->nfiles ? bank->files[0] : "the statement",
		    d[0], d[1], ledger->nfiles ? ledger->files[0] : "the ledger",
		    d[2], d[3]);
		return -1;
	}
	return 0;
}
