/*
 * parse.c - reading one statement or ledger file into a side: the format
 * is told by content (CAMT.053 XML, MT940 tags, otherwise CSV), the text
 * is made UTF-8 once for the whole file, and what the file says about its
 * account, balances and period is merged into the side. A file that fails
 * leaves the side as it was: a half-read statement would reconcile wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recon.h"

int
recon_errf(struct err *e, const char *path, unsigned line, const char *fmt,
    ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_setc(e, ERR_INVALID, "%s:%u: %s", path, line, msg);
	return -1;
}

int
recon_amount_parse(const char *s, size_t len, char decimal, int64_t *out)
{
	const char *p = s, *end = s + len;
	bool neg = false, paren = false, digits = false;
	int64_t v = 0;
	int intdigits = 0, frac = 0;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p < end && *p == '(' && end[-1] == ')') {
		paren = neg = true;
		p++;
		end--;
	}
	if (p < end && (*p == '-' || *p == '+')) {
		if (paren)
			return -1;
		neg = *p == '-';
		p++;
	}
	for (; p < end && *p != decimal; p++) {
		if (*p >= '0' && *p <= '9') {
			if (++intdigits > 15)
				return -1;
			v = v * 10 + (*p - '0');
			digits = true;
		} else if (*p == ',' && decimal == '.' && digits) {
			/* A thousands separator groups exactly 3 digits, so
			 * "12,30" (a decimal comma) is refused, not read as
			 * 1230. */
			if (end - p < 4 || p[1] < '0' || p[1] > '9' ||
			    p[2] < '0' || p[2] > '9' || p[3] < '0' || p[3] > '9' ||
			    (end - p > 4 && p[4] >= '0' && p[4] <= '9'))
				return -1;
		} else {
			return -1;
		}
	}
	v *= 100;
	if (p < end) {
		p++;   /* decimal */
		for (; p < end; p++, frac++) {
			if (*p < '0' || *p > '9')
				return -1;
			digits = true;
			if (frac == 0)
				v += (*p - '0') * 10;
			else if (frac == 1)
				v += *p - '0';
			else if (*p != '0')
				return -1;   /* fractions of a fen: never round */
		}
	}
	if (!digits)
		return -1;
	*out = neg ? -v : v;
	return 0;
}

/* ASCII bytes a reference drops: spaces and separators. */
static const unsigned char ref_drop[128] = {
	[' '] = 1, ['\t'] = 1, ['-'] = 1, ['/'] = 1, ['_'] = 1, ['.'] = 1,
};

/* Normalises ref into out (at least len bytes); returns the length. */
static size_t
ref_norm(const char *ref, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)ref;
	const unsigned char *end = p + len;
	size_t n = 0;

	while (p < end) {
		unsigned c = *p;

		if (c < 0x80) {
			p++;
		} else if (c == 0xEF && end - p >= 3 && ((p[1] == 0xBC &&
		    p[2] >= 0x81 && p[2] <= 0xBF) || (p[1] == 0xBD &&
		    p[2] >= 0x80 && p[2] <= 0x9E))) {
			/* U+FF01..U+FF5E, full-width ASCII */
			c = ((p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu)) + 0xF000u -
			    0xFEE0u;
			p += 3;
		} else if (c == 0xE3 && end - p >= 3 && p[1] == 0x80 &&
		    p[2] == 0x80) {
			p += 3;   /* U+3000, ideographic space */
			continue;
		} else {
			out[n++] = (char)c;
			p++;
			continue;
		}
		if (c - 'a' < 26u)
			c -= 'a' - 'A';
		out[n] = (char)c;
		n += !ref_drop[c];
	}
	return n;
}

const char *
recon_ref_normalise(struct recon_arena *a, const char *ref, size_t len)
{
	char buf[256], *tmp = len <= sizeof(buf) ? buf : xmalloc(len);
	size_t n = ref_norm(ref, len, tmp);
	const char *r = recon_arena_strdup(a, tmp, n);

	if (tmp != buf)
		free(tmp);
	return r;
}

void
recon_line_set_ref(struct recon_arena *a, struct recon_line *l,
    const char *ref, size_t len)
{
	char buf[256], *tmp;
	size_t n;

	if (len == 0) {
		l->ref = l->ref_norm = "";
		return;
	}
	l->ref = recon_arena_strdup(a, ref, len);
	tmp = len <= sizeof(buf) ? buf : xmalloc(len);
	n = ref_norm(ref, len, tmp);
	if (n == len && memcmp(tmp, ref, len) == 0)
		l->ref_norm = l->ref;
	else
		l->ref_norm = recon_arena_strdup(a, tmp, n);
	if (tmp != buf)
		free(tmp);
}

static char *
read_all(const char *path, size_t *lenp, struct err *e)
{
	struct stat st;
	char *buf;
	size_t len = 0, cap;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_setc(e, errno == ENOENT ? ERR_NOTFOUND : ERR_INVALID,
		    "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_setc(e, ERR_INVALID, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap);
	for (;;) {
		if (len + 1 == cap) {
			cap *= 2;   /* the file grew while we read it */
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_setc(e, ERR_FAIL, "%s: read: %s", path,
			    strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static unsigned
line_of(const char *buf, const char *at)
{
	unsigned line = 1;

	for (const char *p = buf; p < at; p++) {
		p = memchr(p, '\n', (size_t)(at - p));
		if (p == NULL)
			break;
		line++;
	}
	return line;
}

/* The first invalid UTF-8 sequence, or NULL. */
static const char *
utf8_invalid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		/* Mostly ASCII: eight bytes at a time. */
		while (end - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if (w & 0x8080808080808080ULL)
				break;
			p += 8;
		}
		if (p >= end)
			break;
		if (*p < 0x80) {
			p++;
		} else if ((*p & 0xF0) == 0xE0 && end - p >= 3 &&
		    (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
		    *p != 0xE0 && *p != 0xED) {
			p += 3;   /* the common case: CJK */
		} else if (*p >= 0xC2 && *p <= 0xDF) {
			if (end - p < 2 || (p[1] & 0xC0) != 0x80)
				return (const char *)p;
			p += 2;
		} else if (*p >= 0xE0 && *p <= 0xEF) {
			if (end - p < 3 || (p[1] & 0xC0) != 0x80 ||
			    (p[2] & 0xC0) != 0x80 ||
			    (*p == 0xE0 && p[1] < 0xA0) ||
			    (*p == 0xED && p[1] > 0x9F))
				return (const char *)p;
			p += 3;
		} else if (*p >= 0xF0 && *p <= 0xF4) {
			if (end - p < 4 || (p[1] & 0xC0) != 0x80 ||
			    (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80 ||
			    (*p == 0xF0 && p[1] < 0x90) ||
			    (*p == 0xF4 && p[1] > 0x8F))
				return (const char *)p;
			p += 4;
		} else {
			return (const char *)p;
		}
	}
	return NULL;
}

/*
 * Makes buf UTF-8: checks it when declared UTF-8, converts it otherwise
 * (the whole buffer in one iconv call). *outp is buf or a new buffer.
 */
static int
to_utf8(const char *path, char *buf, size_t len, const char *encoding,
    char **outp, size_t *outlen, struct err *e)
{
	iconv_t cd;
	char *in = buf, *out, *o;
	size_t inleft = len, outleft, cap;

	if (encoding[0] == '\0' || strcmp(encoding, "UTF-8") == 0) {
		const char *bad = utf8_invalid(buf, len);

		if (bad != NULL) {
			err_setc(e, ERR_INVALID, "%s:%u: not valid UTF-8 (byte"
			    " 0x%02X); if the export is in GBK, set encoding ="
			    " \"GBK\" in the rules", path, line_of(buf, bad),
			    (unsigned char)*bad);
			return -1;
		}
		*outp = buf;
		*outlen = len;
		return 0;
	}
	if ((cd = iconv_open("UTF-8", encoding)) == (iconv_t)-1) {
		err_setc(e, ERR_FAIL, "%s: cannot convert from %s: %s", path,
		    encoding, strerror(errno));
		return -1;
	}
	/* GBK: 2 bytes -> 3; GB18030: 4 -> 4; ASCII: 1 -> 1. */
	cap = len + len / 2 + 16;
	out = o = xmalloc(cap);
	outleft = cap - 1;
	if (iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1) {
		int err = errno;
		unsigned line = line_of(buf, in);

		iconv_close(cd);
		free(out);
		if (err == EILSEQ || err == EINVAL)
			err_setc(e, ERR_INVALID, "%s:%u: not valid %s (bytes"
			    " 0x%02X 0x%02X); check the encoding set in the"
			    " rules", path, line, encoding,
			    (unsigned char)in[0],
			    inleft > 1 ? (unsigned char)in[1] : 0);
		else
			err_setc(e, ERR_FAIL, "%s: converting from %s: %s",
			    path, encoding, strerror(err));
		return -1;
	}
	iconv_close(cd);
	*o = '\0';
	*outp = out;
	*outlen = (size_t)(o - out);
	return 0;
}

char *
recon_read_text(const char *path, const char *encoding, size_t *lenp,
    struct err *e)
{
	char *buf, *text;
	size_t len, tlen;

	if ((buf = read_all(path, &len, e)) == NULL)
		return NULL;
	if (to_utf8(path, buf, len, encoding ? encoding : "", &text, &tlen,
	    e) < 0) {
		free(buf);
		return NULL;
	}
	if (text != buf)
		free(buf);
	*lenp = tlen;
	return text;
}

enum format { FMT_CSV, FMT_CAMT, FMT_MT940 };

static int
sniff(const char *path, const char *buf, size_t len, enum format *f,
    struct err *e)
{
	const char *p = buf, *end = buf + len;
	size_t head = len < 65536 ? len : 65536, rest;

	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end) {
		err_setc(e, ERR_INVALID, "%s: no statement lines (the file is"
		    " empty)", path);
		return -1;
	}
	if (*p == '<') {
		if (memmem(buf, head, "camt.053", 8) == NULL) {
			err_setc(e, ERR_INVALID, "%s: XML but not an ISO 20022"
			    " camt.053 statement (no camt.053 namespace)", path);
			return -1;
		}
		*f = FMT_CAMT;
		return 0;
	}
	rest = (size_t)(end - p);
	if ((rest >= 4 && memcmp(p, ":20:", 4) == 0) ||
	    (rest >= 4 && memcmp(p, ":25:", 4) == 0) ||
	    (rest >= 3 && memcmp(p, "{1:", 3) == 0 &&
	    memmem(p, rest < 65536 ? rest : 65536, ":20:", 4) != NULL) ||
	    memmem(p, rest < 2048 ? rest : 2048, "\n:25:", 5) != NULL) {
		*f = FMT_MT940;
		return 0;
	}
	*f = FMT_CSV;
	return 0;
}

/* Account numbers as banks write them: "6222 0210 0100-1234" and
 * "BKCHCNBJ/62220210" are the same account as "622202101001234". */
static bool
account_equal(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');

	if (sa != NULL && sb == NULL)
		a = sa + 1;
	if (sb != NULL && sa == NULL)
		b = sb + 1;
	for (;;) {
		while (*a == ' ' || *a == '-')
			a++;
		while (*b == ' ' || *b == '-')
			b++;
		if (*a != *b)
			return false;
		if (*a == '\0')
			return true;
		a++;
		b++;
	}
}

static int
merge(const char *path, const struct recon_csv_spec *spec,
    struct recon_side *side, struct recon_stmt *st, struct err *e)
{
	if (st->account != NULL) {
		if (spec != NULL && spec->expect_account != NULL &&
		    !account_equal(st->account, spec->expect_account)) {
			err_setc(e, ERR_INVALID, "%s: statement is for account"
			    " %s, expected %s", path, st->account,
			    spec->expect_account);
			return -1;
		}
		if (side->account != NULL &&
		    !account_equal(st->account, side->account)) {
			err_setc(e, ERR_INVALID, "%s: statement is for account"
			    " %s, but %s is for %s", path, st->account,
			    side->files[0], side->account);
			return -1;
		}
	}
	if (st->currency[0] != '\0' && side->currency[0] != '\0' &&
	    strcmp(st->currency, side->currency) != 0) {
		err_setc(e, ERR_INVALID, "%s: statement is in %s, but %s is in"
		    " %s", path, st->currency, side->files[0], side->currency);
		return -1;
	}
	if (side->account == NULL && st->account != NULL) {
		side->account = st->account;
		st->account = NULL;
	}
	if (side->currency[0] == '\0')
		memcpy(side->currency, st->currency, sizeof(side->currency));
	/* Several files make one side: the earliest opening, the latest
	 * closing. */
	if (st->has_opening && (!side->has_opening || (st->period_from != 0 &&
	    side->period_from != 0 && st->period_from < side->period_from))) {
		side->has_opening = true;
		side->opening = st->opening;
	}
	if (st->has_closing && (!side->has_closing || st->period_to == 0 ||
	    side->period_to == 0 || st->period_to >= side->period_to)) {
		side->has_closing = true;
		side->closing = st->closing;
	}
	if (st->period_from != 0 && (side->period_from == 0 ||
	    st->period_from < side->period_from))
		side->period_from = st->period_from;
	if (st->period_to != 0 && st->period_to > side->period_to)
		side->period_to = st->period_to;
	return 0;
}

int
recon_parse_file(const char *path, const struct recon_csv_spec *spec,
    struct recon_side *side, struct err *e)
{
	static const struct recon_csv_spec defspec = {
		.encoding = "UTF-8", .delimiter = ',', .header_rows = 1,
	};
	struct recon_stmt st = { 0 };
	size_t n0 = side->n, len, tlen;
	char *buf, *text = NULL;
	enum format f;
	int rc = -1;

	if (spec == NULL)
		spec = &defspec;
	if (side->nfiles >= UINT16_MAX) {
		err_setc(e, ERR_INVALID, "%s: too many files on one side", path);
		return -1;
	}
	if ((buf = read_all(path, &len, e)) == NULL)
		return -1;
	if (sniff(path, buf, len, &f, e) < 0)
		goto out;
	side->files = xrealloc(side->files, (side->nfiles + 1) *
	    sizeof(*side->files));
	side->files[side->nfiles++] = xstrdup(path);
	switch (f) {
	case FMT_CAMT:
		/* XML says its own encoding. */
		rc = recon_parse_camt(path, buf, len, side, &st, e);
		break;
	case FMT_MT940:
		if ((rc = to_utf8(path, buf, len, spec->encoding, &text, &tlen,
		    e)) == 0)
			rc = recon_parse_mt940(path, text, tlen, side, &st, e);
		break;
	case FMT_CSV:
		if ((rc = to_utf8(path, buf, len, spec->encoding, &text, &tlen,
		    e)) == 0)
			rc = recon_parse_csv(path, text, tlen, spec, side, &st,
			    e);
		break;
	}
	if (rc == 0 && side->n == n0) {
		err_setc(e, ERR_INVALID, "%s: no statement lines", path);
		rc = -1;
	}
	if (rc == 0)
		rc = merge(path, spec, side, &st, e);
	if (rc < 0) {
		side->n = n0;
		free(side->files[--side->nfiles]);
	}
out:
	if (text != buf)
		free(text);
	free(buf);
	free(st.account);
	return rc;
}

struct ledger_job {
	const char *path;
	const struct recon_csv_spec *spec;
	struct recon_side *side;
	struct err e;
	int rc;
};

static void *
parse_ledger(void *arg)
{
	struct ledger_job *j = arg;

	j->rc = recon_parse_file(j->path, j->spec, j->side, &j->e);
	return NULL;
}

int
recon_parse_pair(const char *const *banks, int nbank, const char *ledger,
    const struct recon_rules *r, struct recon_side *bank,
    struct recon_side *ledger_side, struct err *e)
{
	struct ledger_job j = { ledger, &r->ledger_csv, ledger_side, { 0 }, -1 };
	pthread_t t;
	bool threaded;
	int rc = 0;

	/* The two sides share nothing: parse the ledger on a second core
	 * while this one reads the statements. */
	threaded = pthread_create(&t, NULL, parse_ledger, &j) == 0;
	if (!threaded)
		parse_ledger(&j);
	for (int i = 0; i < nbank && rc == 0; i++)
		rc = recon_parse_file(banks[i], &r->bank_csv, bank, e);
	if (threaded)
		pthread_join(t, NULL);
	if (rc < 0)
		return -1;
	if (j.rc < 0) {
		*e = j.e;
		return -1;
	}
	return recon_check_sides(bank, ledger_side, r, e);
}
