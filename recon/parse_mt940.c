/*
 * parse_mt940.c - SWIFT MT940 customer statements: one or more messages
 * (each :20: ... :62F:), with or without the {1:}{2:}{4: envelope. A tag
 * runs from ":NN[a]:" at the start of a line to the next tag; :61: is one
 * statement line and the :86: after it its information, free or in ?NN
 * subfields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon.h"

struct field {
	char tag[5];             /* "61", "60F", ... */
	unsigned line;
	char *s;                 /* the content, continuation lines joined */
	size_t len, cap;
};

struct mt {
	const char *path;
	struct err *e;
	struct recon_side *side;
	struct recon_stmt *st;
	int nmsg;
	unsigned msg_line;       /* where the message began */
	bool has60, has62;
	struct recon_line *last; /* the :61: an :86: belongs to */
	char *acct;
};

/* "FILE:LINE: message" (recon_errf), always -1. */
#define fail(m, line, ...) recon_errf((m)->e, (m)->path, line, __VA_ARGS__)

static int
num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + s[i] - '0';
	}
	return v;
}

/* YYMMDD; years 00-79 are 20xx. */
static recon_day
yymmdd(const char *s, int *y, int *mo)
{
	int yy = num(s, 2), m = num(s + 2, 2), d = num(s + 4, 2);

	if (yy < 0 || m < 0 || d < 0)
		return -1;
	*y = yy < 80 ? 2000 + yy : 1900 + yy;
	*mo = m;
	return recon_day_ymd(*y, m, d);
}

/* :60F:, :62F: and friends: C/D, YYMMDD, currency, amount. */
static int
balance(struct mt *m, struct field *f, int64_t *v, recon_day *day)
{
	int y, mo;

	if (f->len < 11 || (f->s[0] != 'C' && f->s[0] != 'D') ||
	    (*day = yymmdd(f->s + 1, &y, &mo)) < 0 ||
	    recon_amount_parse(f->s + 10, f->len - 10, ',', v) < 0)
		return fail(m, f->line, "bad :%s: balance (value \"%.60s\");"
		    " expected e.g. C260101CNY1234,56", f->tag, f->s);
	if (f->s[0] == 'D')
		*v = -*v;
	if (m->st->currency[0] == '\0')
		memcpy(m->st->currency, f->s + 7, 3);
	else if (memcmp(m->st->currency, f->s + 7, 3) != 0)
		return fail(m, f->line, ":%s: is in %.3s, the statement in %s",
		    f->tag, f->s + 7, m->st->currency);
	return 0;
}

static int
line61(struct mt *m, struct field *f)
{
	const char *p = f->s, *end = f->s + f->len, *nl, *q;
	struct recon_line *l;
	int y, mo, em, ed;
	recon_day vd, bd;
	bool credit, rev = false;
	int64_t amt;
	const char *ref, *bref = NULL;
	size_t reflen, breflen = 0;

	if (f->len < 12 || (vd = yymmdd(p, &y, &mo)) < 0)
		return fail(m, f->line, "bad :61: value date (value \"%.60s\")",
		    f->s);
	p += 6;
	bd = vd;
	if (end - p >= 4 && (em = num(p, 2)) >= 0 && (ed = num(p + 2, 2)) >= 0) {
		/* The entry date has no year: the value date's, or the
		 * next or previous one across a new year. */
		int ey = y + (em == 1 && mo == 12) - (em == 12 && mo == 1);

		if ((bd = recon_day_ymd(ey, em, ed)) < 0)
			return fail(m, f->line, "bad :61: entry date (value"
			    " \"%.60s\")", f->s);
		p += 4;
	}
	if (p < end && *p == 'R') {
		rev = true;
		p++;
	}
	if (p >= end || (*p != 'C' && *p != 'D'))
		return fail(m, f->line, ":61: needs C, D, RC or RD after the"
		    " dates (value \"%.60s\")", f->s);
	credit = *p++ == 'C';
	if (p < end && *p >= 'A' && *p <= 'Z')
		p++;   /* funds code, the third letter of the currency */
	for (q = p; q < end && ((*q >= '0' && *q <= '9') || *q == ',' ||
	    *q == '.'); q++)
		;
	if (q == p || recon_amount_parse(p, (size_t)(q - p), ',', &amt) < 0)
		return fail(m, f->line, "bad :61: amount (value \"%.60s\")",
		    f->s);
	p = q;
	/* Transaction type: N, F or S and three characters. */
	if (end - p < 4 || (*p != 'N' && *p != 'F' && *p != 'S'))
		return fail(m, f->line, ":61: needs a transaction type such as"
		    " NTRF after the amount (value \"%.60s\")", f->s);
	p += 4;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		nl = end;
	ref = p;
	q = NULL;
	for (const char *s = p; s + 1 < nl; s++)
		if (s[0] == '/' && s[1] == '/') {
			q = s;
			break;
		}
	reflen = (size_t)((q ? q : nl) - p);
	if (q != NULL) {
		bref = q + 2;
		breflen = (size_t)(nl - bref);
	}
	if (reflen == 6 && memcmp(ref, "NONREF", 6) == 0)
		reflen = 0;
	if (reflen == 0 && bref != NULL) {
		ref = bref;
		reflen = breflen;
	}
	l = recon_side_add(m->side);
	/* RC reverses a credit, so money goes out; RD the other way. */
	l->amount = credit != rev ? amt : -amt;
	l->reversal = rev;
	l->date = bd;
	l->value_date = vd;
	l->src_line = f->line;
	recon_line_set_ref(&m->side->arena, l, ref, reflen);
	if (nl < end && end - nl > 1)   /* supplementary details */
		l->text = recon_arena_strdup(&m->side->arena, nl + 1,
		    (size_t)(end - nl - 1));
	m->last = l;
	return 0;
}

/* :86: after a :61:, free text or "GVC?00...?20...?32..." subfields. */
static void
info86(struct mt *m, struct field *f)
{
	struct recon_line *l = m->last;
	const char *p = f->s, *end = f->s + f->len;
	char *text, *cp;
	size_t tn = 0, cn = 0;

	m->last = NULL;
	if (l == NULL)
		return;
	if (memchr(p, '?', f->len) == NULL || !(p[0] == '?' || (f->len > 3 &&
	    p[3] == '?'))) {
		/* Free text: continuation lines are 65-character slices of
		 * one text, so they are joined without a separator. */
		char *w = f->s;

		for (const char *r = f->s; r < end; r++)
			if (*r != '\n')
				*w++ = *r;
		l->text = recon_arena_strdup(&m->side->arena, f->s,
		    (size_t)(w - f->s));
		return;
	}
	text = xmalloc(f->len + 1);
	cp = xmalloc(f->len + 1);
	while ((p = memchr(p, '?', (size_t)(end - p))) != NULL) {
		const char *v = p + 3, *q;
		int code;

		if (end - p < 3 || (code = num(p + 1, 2)) < 0) {
			p++;
			continue;
		}
		q = memchr(v, '?', (size_t)(end - v));
		if (q == NULL)
			q = end;
		for (const char *r = v; r < q; r++) {
			if (*r == '\n')
				continue;
			if (code >= 20 && code <= 29)
				text[tn++] = *r;
			else if (code == 32 || code == 33)
				cp[cn++] = *r;
		}
		p = q;
	}
	if (tn > 0)
		l->text = recon_arena_strdup(&m->side->arena, text, tn);
	if (cn > 0)
		l->counterparty = recon_arena_strdup(&m->side->arena, cp, cn);
	free(text);
	free(cp);
}

static int
message_end(struct mt *m, unsigned line)
{
	if (m->nmsg == 0)
		return 0;
	if (!m->has60)
		return fail(m, m->msg_line, "statement without an opening"
		    " balance (:60F: or :60M:)");
	if (!m->has62)
		return fail(m, line, "statement starting at line %u without"
		    " a closing balance (:62F: or :62M:)", m->msg_line);
	return 0;
}

static int
field(struct mt *m, struct field *f)
{
	struct recon_stmt *st = m->st;
	int64_t v;
	recon_day d;

	while (f->len > 0 && (f->s[f->len - 1] == '\n' ||
	    f->s[f->len - 1] == ' '))
		f->len--;
	f->s[f->len] = '\0';
	if (strcmp(f->tag, "20") == 0) {
		if (message_end(m, f->line) < 0)
			return -1;
		m->nmsg++;
		m->msg_line = f->line;
		m->has60 = m->has62 = false;
		m->last = NULL;
		return 0;
	}
	if (m->nmsg == 0)
		return fail(m, f->line, ":%s: before the :20: that starts a"
		    " statement", f->tag);
	if (strcmp(f->tag, "25") == 0) {
		if (f->len == 0)
			return fail(m, f->line, ":25: without an account");
		if (m->acct != NULL && strcmp(m->acct, f->s) != 0)
			return fail(m, f->line, "a second account (%.60s) in"
			    " one file; the first statement is for %s", f->s,
			    m->acct);
		if (m->acct == NULL) {
			m->acct = xstrdup(f->s);
			st->account = xstrdup(f->s);
		}
	} else if (strcmp(f->tag, "28C") == 0 || strcmp(f->tag, "28") == 0) {
		for (size_t i = 0; i < f->len; i++)
			if ((f->s[i] < '0' || f->s[i] > '9') && f->s[i] != '/')
				return fail(m, f->line, "bad :28C: statement"
				    " number (value \"%.60s\")", f->s);
	} else if (strcmp(f->tag, "60F") == 0 || strcmp(f->tag, "60M") == 0) {
		if (balance(m, f, &v, &d) < 0)
			return -1;
		m->has60 = true;
		if (!st->has_opening) {
			st->has_opening = true;
			st->opening = v;
			st->period_from = d;
		}
	} else if (strcmp(f->tag, "62F") == 0 || strcmp(f->tag, "62M") == 0) {
		if (balance(m, f, &v, &d) < 0)
			return -1;
		m->has62 = true;
		st->has_closing = true;
		st->closing = v;
		if (d > st->period_to)
			st->period_to = d;
		m->last = NULL;
	} else if (strcmp(f->tag, "61") == 0) {
		return line61(m, f);
	} else if (strcmp(f->tag, "86") == 0) {
		info86(m, f);
	} else {
		m->last = NULL;   /* :64:, :65: ...: not ours */
	}
	return 0;
}

/* ":61:" or ":60F:" at the start of a line: the tag's length, else 0. */
static size_t
tag_at(const char *p, const char *end, char tag[5])
{
	size_t n;

	if (end - p < 4 || p[0] != ':' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9')
		return 0;
	n = 3;
	if (p[3] >= 'A' && p[3] <= 'Z')
		n++;
	if (p + n >= end || p[n] != ':')
		return 0;
	memcpy(tag, p + 1, n - 1);
	tag[n - 1] = '\0';
	return n + 1;
}

int
recon_parse_mt940(const char *path, char *buf, size_t len,
    struct recon_side *side, struct recon_stmt *st, struct err *e)
{
	struct mt m = { .path = path, .e = e, .side = side, .st = st };
	struct field f = { 0 };
	char *p = buf, *end = buf + len;
	unsigned line = 0;
	bool in = false;
	int rc = -1;

	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *le;
		size_t tl;
		char tag[5];

		line++;
		if (nl == NULL)
			nl = end;
		le = nl;
		if (le > p && le[-1] == '\r')
			le--;
		if (*p == '{') {
			/* {1:...}{2:...}{4: envelope; the tags may follow on
			 * the same line. */
			char *b4 = memmem(p, (size_t)(le - p), "{4:", 3);

			if (b4 == NULL)
				goto next;
			p = b4 + 3;
			if (p == le)
				goto next;
		}
		if (le - p >= 1 && *p == '-' && (le - p == 1 || p[1] == '}')) {
			/* end of a message */
			if (in && field(&m, &f) < 0)
				goto out;
			in = false;
			goto next;
		}
		if ((tl = tag_at(p, le, tag)) > 0) {
			if (in && field(&m, &f) < 0)
				goto out;
			in = true;
			memcpy(f.tag, tag, sizeof(tag));
			f.line = line;
			f.len = 0;
			p += tl;
		} else if (in) {
			if (f.len + 1 >= f.cap) {
				f.cap = f.cap * 2 + 64;
				f.s = xrealloc(f.s, f.cap);
			}
			f.s[f.len++] = '\n';
		} else if (le > p) {
			fail(&m, line, "text outside any :NN: tag (value"
			    " \"%.*s\")", (int)(le - p < 60 ? le - p : 60), p);
			goto out;
		} else {
			goto next;
		}
		if (f.len + (size_t)(le - p) + 1 >= f.cap) {
			f.cap = (f.len + (size_t)(le - p) + 1) * 2 + 64;
			f.s = xrealloc(f.s, f.cap);
		}
		memcpy(f.s + f.len, p, (size_t)(le - p));
		f.len += (size_t)(le - p);
next:
		p = nl + 1;
	}
	if (in && field(&m, &f) < 0)
		goto out;
	if (m.nmsg == 0) {
		err_setc(e, ERR_INVALID, "%s: no :20: (not an MT940"
		    " statement?)", path);
		goto out;
	}
	if (message_end(&m, line) < 0)
		goto out;
	rc = 0;
out:
	free(f.s);
	free(m.acct);
	return rc;
}
