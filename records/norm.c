/*
 * norm.c - normalising what a record says: resident IDs (through ocr/ids),
 * names, their pinyin initials and dates.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unicode/utrans.h>

#include "records.h"

struct rec_variants {
	uint32_t *from, *to;     /* sorted by from */
	size_t n;
};

/* ---- UTF-8 ---- */

/* Decodes one code point; advances *p. Invalid bytes come back as
 * themselves (the reader has already checked the file). */
static uint32_t
utf8_next(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	uint32_t c = *p;

	if (c < 0x80 || end - p < 2) {
		*pp = p + 1;
		return c;
	}
	if ((c & 0xE0) == 0xC0) {
		*pp = p + 2;
		return (c & 0x1F) << 6 | (p[1] & 0x3F);
	}
	if ((c & 0xF0) == 0xE0 && end - p >= 3) {
		*pp = p + 3;
		return (c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 |
		    (p[2] & 0x3F);
	}
	if ((c & 0xF8) == 0xF0 && end - p >= 4) {
		*pp = p + 4;
		return (c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
		    (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
	}
	*pp = p + 1;
	return c;
}

static size_t
utf8_put(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xC0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xE0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3F));
	out[2] = (char)(0x80 | (c >> 6 & 0x3F));
	out[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* ---- IDs ---- */

enum cnid_status
rec_id_normalise(const char *in, size_t len, int today, char out[19],
    bool *was15)
{
	char raw[64], folded[64];
	struct cnid c;
	enum cnid_status st;
	size_t n;

	*was15 = false;
	out[0] = '\0';
	if (len >= sizeof(raw))
		len = sizeof(raw) - 1;
	memcpy(raw, in, len);
	raw[len] = '\0';
	n = ids_fold(raw, folded, sizeof(folded));
	/* Separators people type inside an ID. */
	{
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (folded[i] != '-')
				folded[k++] = folded[i];
		folded[k] = '\0';
		n = k;
	}
	if (n == 0)
		return CNID_LENGTH;
	st = ids_cnid_parse(folded, today, &c);
	if (c.id[0] != '\0') {
		memcpy(out, c.id, 18);
		out[18] = '\0';
		*was15 = n == 15;
	} else {
		/* Not 15 or 18 characters: keep what there is, for a
		 * reviewer and for the one-digit-off comparison. */
		size_t k = n < 18 ? n : 18;

		memcpy(out, folded, k);
		out[k] = '\0';
	}
	return st;
}

/* ---- names ---- */

static bool
drop_in_name(uint32_t c)
{
	if (c < 0x80)
		return !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z'));
	switch (c) {
	case 0x00B7:   /* · middle dot, in names of many minorities */
	case 0x2022:   /* • */
	case 0x2027:   /* ‧ */
	case 0x30FB:   /* ・ */
	case 0x3000:   /* ideographic space */
	case 0x3001:   /* 、 */
	case 0x3002:   /* 。 */
	case 0xFF0E:   /* ． (folded anyway) */
		return true;
	}
	return false;
}

static uint32_t simplified(const struct rec_variants *v, uint32_t c);

static uint32_t
variant_of(const struct rec_variants *v, uint32_t c)
{
	size_t lo = 0, hi;

	if (v == NULL || v->n == 0 || c < 0x3400)
		return c;
	hi = v->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v->from[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->n && v->from[lo] == c ? v->to[lo] : c;
}

size_t
rec_name_normalise(const char *in, size_t len, const struct rec_variants *v,
    char *out, size_t outsz)
{
	char folded[256];
	const unsigned char *p, *end;
	size_t n = 0, flen;

	if (len >= sizeof(folded))
		len = sizeof(folded) - 1;
	/* ids_fold wants a C string. */
	{
		char tmp[256];

		memcpy(tmp, in, len);
		tmp[len] = '\0';
		flen = ids_fold(tmp, folded, sizeof(folded));
	}
	p = (const unsigned char *)folded;
	end = p + flen;
	while (p < end) {
		uint32_t c = utf8_next(&p, end);
		char buf[4];
		size_t k;

		if (drop_in_name(c))
			continue;
		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		c = simplified(v, c);
		k = utf8_put(c, buf);
		if (n + k >= outsz)
			break;
		memcpy(out + n, buf, k);
		n += k;
	}
	out[n] = '\0';
	return n;
}

/* ---- the hanzi tables: pinyin initials and simplified forms ---- */

/* CJK Unified Ideographs Extension A and the main block. */
#define CJK_FIRST 0x3400
#define CJK_LAST  0x9FFF

static unsigned char initials[CJK_LAST - CJK_FIRST + 1];
static uint32_t t2s[CJK_LAST - CJK_FIRST + 1];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static double tables_ms;

/*
 * Surnames whose reading differs from the character's common one, which
 * is what Han-Latin gives (单 dān, 曾 céng, 解 jiě, 仇 chóu, 区 qū, 朴 pǔ,
 * 查 chá, 覃 tán, 乐 lè, 缪 miù): as the first character of a name they
 * take the surname's initial.
 */
static const struct { uint32_t cp; char letter; } surnames[] = {
	{ 0x5355, 'S' },   /* 单 Shan */
	{ 0x66FE, 'Z' },   /* 曾 Zeng */
	{ 0x89E3, 'X' },   /* 解 Xie */
	{ 0x4EC7, 'Q' },   /* 仇 Qiu */
	{ 0x533A, 'O' },   /* 区 Ou */
	{ 0x6734, 'P' },   /* 朴 Piao */
	{ 0x67E5, 'Z' },   /* 查 Zha */
	{ 0x8983, 'Q' },   /* 覃 Qin */
	{ 0x4E50, 'Y' },   /* 乐 Yue */
	{ 0x7F2A, 'M' },   /* 缪 Miao */
};

/* Runs trans over every code point of the blocks, CHUNK at a time each
 * on its own line (so no two characters read as one word), and hands
 * each result to put. */
#define CHUNK 1024

static void
table_fill(UTransliterator *trans, void (*put)(uint32_t, const UChar *,
    int32_t))
{
	/* A result is a few letters; room for 16 UChars each. */
	static UChar buf[CHUNK * 16];

	for (uint32_t c0 = CJK_FIRST; c0 <= CJK_LAST; c0 += CHUNK) {
		uint32_t n = CJK_LAST - c0 + 1 < CHUNK ? CJK_LAST - c0 + 1 :
		    CHUNK;
		int32_t len = 0, limit;
		UErrorCode st = U_ZERO_ERROR;
		const UChar *p;

		for (uint32_t i = 0; i < n; i++) {
			buf[len++] = (UChar)(c0 + i);
			buf[len++] = '\n';
		}
		limit = len;
		utrans_transUChars(trans, buf, &len, (int32_t)(sizeof(buf) /
		    sizeof(buf[0])), 0, &limit, &st);
		if (U_FAILURE(st))
			continue;
		p = buf;
		for (uint32_t i = 0; i < n && p < buf + len; i++) {
			const UChar *nl = p;

			while (nl < buf + len && *nl != '\n')
				nl++;
			put(c0 + i, p, (int32_t)(nl - p));
			p = nl + 1;
		}
	}
}

static void
put_initial(uint32_t c, const UChar *r, int32_t n)
{
	/* "Han-Latin; Latin-ASCII" gives "zhang"; a character it cannot
	 * read stays itself. */
	if (n > 0 && r[0] >= 'a' && r[0] <= 'z')
		initials[c - CJK_FIRST] = (unsigned char)(r[0] - 'a' + 'A');
	else if (n > 0 && r[0] >= 'A' && r[0] <= 'Z')
		initials[c - CJK_FIRST] = (unsigned char)r[0];
}

static void
put_simplified(uint32_t c, const UChar *r, int32_t n)
{
	/* One code point only: a character that becomes two is left. */
	if (n == 1 && r[0] != c && !(r[0] >= 0xD800 && r[0] <= 0xDFFF))
		t2s[c - CJK_FIRST] = r[0];
	else if (n == 2 && r[0] >= 0xD800 && r[0] <= 0xDBFF && r[1] >= 0xDC00 &&
	    r[1] <= 0xDFFF)
		t2s[c - CJK_FIRST] = 0x10000 + ((uint32_t)(r[0] - 0xD800) << 10) +
		    (uint32_t)(r[1] - 0xDC00);
	if (t2s[c - CJK_FIRST] == c)
		t2s[c - CJK_FIRST] = 0;
}

static UTransliterator *
trans_open(const char *id)
{
	UChar uid[64];
	UErrorCode st = U_ZERO_ERROR;
	UTransliterator *t;
	size_t n = strlen(id);

	for (size_t i = 0; i <= n; i++)
		uid[i] = (UChar)id[i];
	t = utrans_openU(uid, (int32_t)n, UTRANS_FORWARD, NULL, 0, NULL, &st);
	return U_FAILURE(st) ? NULL : t;
}

/*
 * Once per process, on first use: ICU's transliterators over both blocks
 * (about 28,000 characters), so that every hanzi - not only GB2312's
 * level 1 - has an initial, and traditional forms have their simplified
 * one without a table file. Without ICU's data the tables stay empty:
 * names then match by text only.
 */
static void
tables_build(void)
{
	struct timespec a, b;
	UTransliterator *t;

	clock_gettime(CLOCK_MONOTONIC, &a);
	if ((t = trans_open("Han-Latin; Latin-ASCII")) != NULL) {
		table_fill(t, put_initial);
		utrans_close(t);
	}
	if ((t = trans_open("Traditional-Simplified")) != NULL) {
		table_fill(t, put_simplified);
		utrans_close(t);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	tables_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

double
rec_hanzi_tables_ms(void)
{
	pthread_once(&tables_once, tables_build);
	return tables_ms;
}

/* The table file first (a site's override), then ICU's mapping. */
static uint32_t
simplified(const struct rec_variants *v, uint32_t c)
{
	uint32_t t = variant_of(v, c);

	if (t != c || c < CJK_FIRST || c > CJK_LAST)
		return t;
	pthread_once(&tables_once, tables_build);
	return t2s[c - CJK_FIRST] ? t2s[c - CJK_FIRST] : c;
}

char
rec_pinyin_initial(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return (char)cp;
	if (cp < CJK_FIRST || cp > CJK_LAST)
		return 0;
	pthread_once(&tables_once, tables_build);
	return (char)initials[cp - CJK_FIRST];
}

char
rec_name_initial(uint32_t c, size_t i)
{
	if (i == 0)
		for (size_t k = 0; k < sizeof(surnames) / sizeof(surnames[0]);
		    k++)
			if (surnames[k].cp == c)
				return surnames[k].letter;
	return rec_pinyin_initial(c);
}

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

uint64_t
rec_name_key(const char *norm, size_t len, bool *complete)
{
	const unsigned char *p = (const unsigned char *)norm, *end = p + len;
	uint64_t h = 0x9E3779B97F4A7C15ULL;

	*complete = len > 0;
	for (size_t i = 0; p < end; i++) {
		uint32_t c = utf8_next(&p, end), k;

		if (rec_name_initial(c, i) != 0)
			k = (uint32_t)rec_name_initial(c, i);
		else if (c >= '0' && c <= '9')
			k = c;
		else {
			k = c;
			*complete = false;
		}
		h = (h ^ k) * 0x100000001B3ULL;
	}
	return mix64(h);
}

size_t
rec_name_initials(const char *norm, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)norm, *end = p + len;
	size_t n = 0;

	while (p < end && n + 1 < outsz) {
		uint32_t c = utf8_next(&p, end);
		char i = rec_name_initial(c, n);

		out[n++] = i ? i : (c >= '0' && c <= '9' ? (char)c : '?');
	}
	if (outsz > 0)
		out[n] = '\0';
	return n;
}

/* ---- dates ---- */

rec_day
rec_date_parse(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	int v[3] = { 0, 0, 0 }, k;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p >= 8 && p[0] >= '0' && p[0] <= '9') {
		int digits = 0;

		while (p + digits < end && p[digits] >= '0' && p[digits] <= '9')
			digits++;
		if (digits == 8) {
			for (int i = 0; i < 8; i++)
				v[i < 4 ? 0 : i < 6 ? 1 : 2] =
				    v[i < 4 ? 0 : i < 6 ? 1 : 2] * 10 + p[i] - '0';
			p += 8;
			goto tail;
		}
	}
	for (int f = 0; f < 3; f++) {
		int max = f == 0 ? 4 : 2;

		for (k = 0; k < max && p < end && *p >= '0' && *p <= '9'; k++)
			v[f] = v[f] * 10 + (*p++ - '0');
		if (k == 0 || (f == 0 && k != 4))
			return REC_NODAY;
		if (f == 2)
			break;
		if (p < end && (*p == '-' || *p == '/' || *p == '.'))
			p++;
		else if (end - p >= 3 && (memcmp(p, "年", 3) == 0 ||
		    memcmp(p, "月", 3) == 0))
			p += 3;
		else
			return REC_NODAY;
	}
	if (end - p >= 3 && memcmp(p, "日", 3) == 0)
		p += 3;
tail:
	/* A time after the date ("2026-11-23 10:15:00") is allowed. */
	if (p < end && !((*p == ' ' || *p == 'T') && p + 1 < end &&
	    p[1] >= '0' && p[1] <= '9')) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end)
			return REC_NODAY;
	}
	{
		static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31,
		    30, 31, 30, 31 };
		int y = v[0], m = v[1], d = v[2], max;

		if (y < 1800 || y > 2200 || m < 1 || m > 12 || d < 1)
			return REC_NODAY;
		max = mdays[m - 1];
		if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
			max = 29;
		if (d > max)
			return REC_NODAY;
		return (rec_day)util_days_from_civil(y, m, d);
	}
}

void
rec_day_format(rec_day d, char out[11])
{
	int y, m, dd;

	if (d == REC_NODAY) {
		out[0] = '\0';
		return;
	}
	util_civil_from_days(d, &y, &m, &dd);
	if (y < 0 || y > 9999 || m < 1 || m > 12 || dd < 1 || dd > 31) {
		out[0] = '\0';
		return;
	}
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + dd / 10);
	out[9] = (char)('0' + dd % 10);
	out[10] = '\0';
}

/* ---- variants ---- */

struct rec_variants *
rec_variants_load(const char *path, struct err *e)
{
	struct rec_variants *v;
	size_t len, cap = 0;
	char *buf = util_read_file(path, &len, e), *line, *save = NULL;
	unsigned ln = 0;

	if (buf == NULL)
		return NULL;
	v = xcalloc(1, sizeof(*v));
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const unsigned char *p = (const unsigned char *)line,
		    *end = p + strlen(line);
		uint32_t cps[2];
		int n = 0;

		ln++;
		while (p < end && n < 3) {
			uint32_t c = utf8_next(&p, end);

			if (c == '#')
				break;
			if (c == ' ' || c == '\t' || c == '\r' || c == 0x3000)
				continue;
			if (n < 2)
				cps[n] = c;
			n++;
		}
		if (n == 0)
			continue;
		if (n != 2 || cps[0] < 0x80 || cps[1] < 0x80) {
			err_setc(e, ERR_INVALID, "%s:%u: a line is one"
			    " traditional character and its simplified form"
			    " (\"繁 繁\" -> \"體 体\")", path, ln);
			free(buf);
			rec_variants_free(v);
			return NULL;
		}
		if (v->n == cap) {
			cap = cap ? cap * 2 : 256;
			v->from = xrealloc(v->from, cap * sizeof(*v->from));
			v->to = xrealloc(v->to, cap * sizeof(*v->to));
		}
		v->from[v->n] = cps[0];
		v->to[v->n++] = cps[1];
	}
	free(buf);
	/* Insertion sort: tables are a few thousand lines, read once. */
	for (size_t i = 1; i < v->n; i++) {
		uint32_t f = v->from[i], t = v->to[i];
		size_t j = i;

		while (j > 0 && v->from[j - 1] > f) {
			v->from[j] = v->from[j - 1];
			v->to[j] = v->to[j - 1];
			j--;
		}
		v->from[j] = f;
		v->to[j] = t;
	}
	return v;
}

void
rec_variants_free(struct rec_variants *v)
{
	if (v == NULL)
		return;
	free(v->from);
	free(v->to);
	free(v);
}
