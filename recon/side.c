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

/* Days from the civil date (Howard Hinnant's algorithm): exact for any
 * Gregorian date, with no time zone in the way. */
static recon_day
days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (recon_day)(era * 146097 + doe - 719468);
}

recon_day
recon_day_parse(const char *s)
{
	int y, m, d, n = 0;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || s[n] != '\0')
		return -1;
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || y < 1900 ||
	    y > 2200)
		return -1;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	return days_from_civil(y, m, d);
}

void
recon_day_format(recon_day z, char out[11])
{
	int era, doe, yoe, y, doy, mp, d, m;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp + (mp < 10 ? 3 : -9);
	y += m <= 2;
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
