/*
 * divisions.c - the table of China's administrative divisions (GB/T 2260)
 * that a text field with `divisions = "FILE";` checks an address against:
 * its file (playbooks/templates/cn-divisions.txt, made by
 * scripts/cn-divisions.sh) and the match of an address's leading
 * province, city and county. The rule is in validate.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

/* Longer than any real name (内蒙古自治区 is 18 bytes); a longer field is
 * a file that is not a table. */
#define DIV_NAME_MAX 96

struct div_city {
	char *name;
	char **county;
	size_t ncounty, cap;
	bool open;            /* no counties: anything may follow it */
};

struct div_province {
	char *name;
	struct div_city *city;
	size_t ncity, cap;
};

struct ocr_divisions {
	char *path;
	int refs;
	struct div_province *prov;
	size_t nprov, cap;
};

static void
divisions_free(struct ocr_divisions *d)
{
	for (size_t i = 0; i < d->nprov; i++) {
		struct div_province *p = &d->prov[i];

		for (size_t j = 0; j < p->ncity; j++) {
			for (size_t k = 0; k < p->city[j].ncounty; k++)
				free(p->city[j].county[k]);
			free(p->city[j].county);
			free(p->city[j].name);
		}
		free(p->city);
		free(p->name);
	}
	free(d->prov);
	free(d->path);
	free(d);
}

struct ocr_divisions *
ocr_divisions_ref(struct ocr_divisions *d)
{
	if (d != NULL)
		d->refs++;
	return d;
}

void
ocr_divisions_release(struct ocr_divisions *d)
{
	if (d != NULL && --d->refs == 0)
		divisions_free(d);
}

const char *
ocr_divisions_path(const struct ocr_divisions *d)
{
	return d->path;
}

/* Whether s is UTF-8 without control characters or spaces. */
static bool
good_name(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t l = *p < 0x80 ? 1 : *p >= 0xC2 && *p <= 0xDF ? 2 :
		    *p >= 0xE0 && *p <= 0xEF ? 3 : *p >= 0xF0 && *p <= 0xF4 ?
		    4 : 0;

		if (l == 0 || (l == 1 && *p <= ' '))
			return false;
		for (size_t i = 1; i < l; i++)
			if ((p[i] & 0xC0) != 0x80)
				return false;
		p += l;
	}
	return true;
}

static struct div_province *
province_get(struct ocr_divisions *d, const char *name)
{
	for (size_t i = d->nprov; i-- > 0; )
		if (strcmp(d->prov[i].name, name) == 0)
			return &d->prov[i];
	if (d->nprov == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 32;
		d->prov = xrealloc(d->prov, d->cap * sizeof(*d->prov));
	}
	d->prov[d->nprov] = (struct div_province){ .name = xstrdup(name) };
	return &d->prov[d->nprov++];
}

static struct div_city *
city_get(struct div_province *p, const char *name, bool *made)
{
	*made = false;
	for (size_t i = p->ncity; i-- > 0; )
		if (strcmp(p->city[i].name, name) == 0)
			return &p->city[i];
	if (p->ncity == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->city = xrealloc(p->city, p->cap * sizeof(*p->city));
	}
	p->city[p->ncity] = (struct div_city){ .name = xstrdup(name) };
	*made = true;
	return &p->city[p->ncity++];
}

/* One line of the table, without its newline; 0, or -1 with why in e. */
static int
add_line(struct ocr_divisions *d, char *line, struct err *e)
{
	char *f[4];
	int n = 0;
	struct div_province *p;
	struct div_city *c;
	bool made;

	for (char *s = line; n < 4; ) {
		char *tab = strchr(s, '\t');

		f[n++] = s;
		if (tab == NULL)
			break;
		*tab = '\0';
		s = tab + 1;
	}
	if (n < 2 || n > 3 || f[0][0] == '\0' || f[n - 1][0] == '\0') {
		err_set(e, "not a division: a line is 省<TAB>市<TAB>区县, "
		    "省<TAB>市 (a city with no counties) or 省<TAB><TAB>县级市");
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (strlen(f[i]) > DIV_NAME_MAX || !good_name(f[i])) {
			err_set(e, "\"%.40s\" is not a division's name "
			    "(UTF-8, no spaces, at most %d bytes)", f[i],
			    DIV_NAME_MAX);
			return -1;
		}
	p = province_get(d, f[0]);
	if (n == 3 && f[1][0] == '\0') {
		/* 省直辖县级行政区划 (仙桃市): what follows it is a town, as
		 * after a city with no counties */
		c = city_get(p, f[2], &made);
		if (!made && !c->open)
			goto both;
		c->open = true;
		return 0;
	}
	c = city_get(p, f[1], &made);
	if (n == 2) {
		if (!made && !c->open)
			goto both;
		c->open = true;
		return 0;
	}
	if (c->open)
		goto both;
	for (size_t i = 0; i < c->ncounty; i++)
		if (strcmp(c->county[i], f[2]) == 0)
			return 0;
	if (c->ncounty == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->county = xrealloc(c->county, c->cap * sizeof(*c->county));
	}
	c->county[c->ncounty++] = xstrdup(f[2]);
	return 0;
both:
	err_set(e, "%s %s is listed both with counties and without: a "
	    "city either has counties or none", p->name, c->name);
	return -1;
}

struct ocr_divisions *
ocr_divisions_load(const char *path, struct err *e)
{
	struct ocr_divisions *d;
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;
	struct err le;

	if (fp == NULL) {
		err_setc(e, ERR_INVALID, "%s: cannot read it: %s", path,
		    strerror(errno));
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(path);
	d->refs = 1;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (add_line(d, line, &le) < 0) {
			err_setc(e, ERR_INVALID, "%s:%d: %s", path, lineno,
			    le.msg);
			goto fail;
		}
	}
	if (ferror(fp)) {
		err_setc(e, ERR_INVALID, "%s: cannot read it: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (d->nprov == 0) {
		err_setc(e, ERR_INVALID, "%s:%d: no division in the file", path,
		    lineno);
		goto fail;
	}
	free(line);
	fclose(fp);
	return d;
fail:
	free(line);
	fclose(fp);
	divisions_free(d);
	return NULL;
}

/* strlen(name) if s begins with name, else 0. */
static size_t
prefix(const char *s, const char *name)
{
	size_t l = strlen(name);

	return strncmp(s, name, l) == 0 ? l : 0;
}

/* The county of c that s begins with, longest first; m filled. */
static void
match_county(const struct div_city *c, const char *s,
    struct ocr_div_match *m)
{
	size_t best = 0;

	m->city = c->name;
	m->rest = s;
	if (c->open) {
		m->status = OCR_DIV_OK;
		return;
	}
	for (size_t i = 0; i < c->ncounty; i++) {
		size_t l = prefix(s, c->county[i]);

		if (l > best) {
			best = l;
			m->county = c->county[i];
		}
	}
	m->status = best > 0 ? OCR_DIV_OK : OCR_DIV_COUNTY;
	m->rest = s + best;
}

/* A city of p (or, p NULL, of any province) that s begins with, then its
 * county. Of several cities of one name, one whose county follows. */
static void
match_city(const struct ocr_divisions *d, const struct div_province *p,
    const char *s, struct ocr_div_match *m)
{
	struct ocr_div_match best = *m;
	size_t bestlen = 0;

	best.status = p != NULL ? OCR_DIV_CITY : OCR_DIV_START;
	best.rest = s;
	for (size_t i = 0; i < d->nprov; i++) {
		const struct div_province *q = &d->prov[i];

		if (p != NULL && q != p)
			continue;
		for (size_t j = 0; j < q->ncity; j++) {
			struct ocr_div_match t = *m;
			size_t l = prefix(s, q->city[j].name);

			if (l == 0 || l < bestlen)
				continue;
			match_county(&q->city[j], s + l, &t);
			if (l > bestlen || (t.status == OCR_DIV_OK &&
			    best.status != OCR_DIV_OK)) {
				best = t;
				bestlen = l;
			}
		}
	}
	*m = best;
}

void
ocr_divisions_match(const struct ocr_divisions *d, const char *s,
    struct ocr_div_match *m)
{
	const struct div_province *p = NULL;
	size_t plen = 0;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < d->nprov; i++) {
		size_t l = prefix(s, d->prov[i].name);

		if (l > plen) {
			plen = l;
			p = &d->prov[i];
		}
	}
	if (p == NULL) {
		match_city(d, NULL, s, m);
		return;
	}
	m->province = p->name;
	/* a municipality is its own city: its districts follow it */
	for (size_t j = 0; j < p->ncity; j++)
		if (strcmp(p->city[j].name, p->name) == 0) {
			match_county(&p->city[j], s + plen, m);
			return;
		}
	match_city(d, p, s + plen, m);
}

/* In how many characters the first characters of s differ from name's,
 * s's bytes that stand against them in *slen; -1 when s is shorter. */
static int
chars_off(const char *s, const char *name, size_t *slen)
{
	const char *p = s, *q = name;
	int off = 0;

	while (*q != '\0') {
		size_t lp = ocr_u8len((unsigned char)*p);
		size_t lq = ocr_u8len((unsigned char)*q);

		if (*p == '\0')
			return -1;
		lp = strnlen(p, lp);
		if (lp != lq || memcmp(p, q, lq) != 0)
			off++;
		p += lp;
		q += lq;
	}
	*slen = (size_t)(p - s);
	return off;
}

int
ocr_divisions_near(const struct ocr_divisions *d, const char *s, char *out,
    size_t n)
{
	struct ocr_div_match m, again;
	const char *found = NULL;
	size_t flen = 0, at;

	ocr_divisions_match(d, s, &m);
	if (m.status != OCR_DIV_CITY && m.status != OCR_DIV_COUNTY)
		return -1;
	for (size_t i = 0; i < d->nprov; i++) {
		const struct div_province *p = &d->prov[i];

		if (m.province != p->name && m.status == OCR_DIV_CITY)
			continue;
		for (size_t j = 0; j < p->ncity; j++) {
			const struct div_city *c = &p->city[j];
			const char *const *name = m.status == OCR_DIV_CITY ?
			    (const char *const *)&c->name :
			    (const char *const *)c->county;
			size_t nname = m.status == OCR_DIV_CITY ? 1 : c->ncounty;

			if (m.status == OCR_DIV_COUNTY && m.city != c->name)
				continue;
			for (size_t k = 0; k < nname; k++) {
				size_t sl;

				if (chars_off(m.rest, name[k], &sl) != 1)
					continue;
				if (found != NULL)
					return -1;
				found = name[k];
				flen = sl;
			}
		}
	}
	at = (size_t)(m.rest - s);
	if (found == NULL || at + strlen(found) + strlen(m.rest + flen) + 1 > n)
		return -1;
	snprintf(out, n, "%.*s%s%s", (int)at, s, found, m.rest + flen);
	ocr_divisions_match(d, out, &again);
	return again.status == OCR_DIV_OK ? 0 : -1;
}
