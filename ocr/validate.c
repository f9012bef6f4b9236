/*
 * validate.c - field validators of the OCR document check: parsing of
 * dates and amounts (also 大写金额), confusable folding, and the status and
 * severity of one field (the policy is in validate.h).
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcre2.h>

#include "ids.h"
#include "validate.h"

/* ---- small helpers ---- */

static int
local_today(void)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
	    tm.tm_mday;
}

size_t
ocr_u8len(unsigned char c)
{
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	if (c >= 0xE0)
		return c <= 0xEF ? 3 : 1;
	if (c >= 0xC2)
		return 2;
	return 1;
}

/* Copies src into dst[n] without cutting a UTF-8 sequence. */
static void
copy_utf8(char *dst, size_t n, const char *src)
{
	size_t w = 0;

	if (n == 0)
		return;
	while (*src != '\0') {
		size_t l = ocr_u8len((unsigned char)*src);

		if (strnlen(src, l) < l)
			l = 1;
		if (w + l + 1 > n)
			break;
		memcpy(dst + w, src, l);
		w += l;
		src += l;
	}
	dst[w] = '\0';
}

/* ids_fold into a buffer large enough for any input (folding never grows). */
static char *
fold_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *out = malloc(n);

	if (out == NULL)
		return NULL;
	ids_fold(s, out, n);
	return out;
}

static bool
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
ends(const char *s, size_t len, const char *suffix)
{
	size_t l = strlen(suffix);

	return len >= l && memcmp(s + len - l, suffix, l) == 0;
}

/* Reads 1..max ASCII digits; the count read, 0 if none. */
static int
read_digits(const char **p, int max, int *v)
{
	int n = 0;

	*v = 0;
	while (n < max && isdigit((unsigned char)**p)) {
		*v = *v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n;
}

static bool
real_date(int y, int m, int d)
{
	return y >= 1000 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	    d <= util_month_days(y, m);
}

/* ---- dates ---- */

int
ocr_parse_date(const char *s, int *ymd)
{
	char *f;
	const char *p;
	int y, m, d, ok = 0;

	if (s == NULL || (f = fold_dup(s)) == NULL)
		return -1;
	p = f;
	if (read_digits(&p, 8, &y) == 8 && *p == '\0') {
		/* YYYYMMDD */
		d = y % 100;
		m = y / 100 % 100;
		y /= 10000;
		ok = 1;
	} else {
		p = f;
		if (read_digits(&p, 4, &y) != 4)
			goto out;
		if (starts(p, "年")) {
			p += strlen("年");
			if (read_digits(&p, 2, &m) == 0 || !starts(p, "月"))
				goto out;
			p += strlen("月");
			if (read_digits(&p, 2, &d) == 0)
				goto out;
			/* 日 is required: without it "2026年11月2" may be a
			 * date whose last digit was lost. */
			if (starts(p, "日"))
				p += strlen("日");
			else if (starts(p, "号"))
				p += strlen("号");
			else
				goto out;
			ok = *p == '\0';
		} else if (*p == '-' || *p == '/' || *p == '.') {
			char sep = *p++;

			if (read_digits(&p, 2, &m) == 0 || *p++ != sep)
				goto out;
			if (read_digits(&p, 2, &d) == 0)
				goto out;
			ok = *p == '\0';
		}
	}
out:
	free(f);
	if (!ok || !real_date(y, m, d))
		return -1;
	*ymd = y * 10000 + m * 100 + d;
	return 0;
}

/* ---- numeric amounts ---- */

/* Integer part up to 10^15 yuan, so fen never overflow int64_t. */
#define AMOUNT_MAX_DIGITS 15

int
ocr_parse_amount(const char *s, int64_t *fen)
{
	static const char *prefixes[] = { "￥", "¥", "RMB", "CNY", "人民币" };
	char *f;
	const char *p;
	size_t len;
	int64_t yuan = 0, cents = 0;
	int ndig = 0, group = 0, ok = 0;
	bool commas = false;

	if (s == NULL || (f = fold_dup(s)) == NULL)
		return -1;
	p = f;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (starts(p, prefixes[i])) {
			p += strlen(prefixes[i]);
			break;
		}
	len = strlen(p);
	if (ends(p, len, "元"))
		len -= strlen("元");

	/* Digits with optional thousands separators: the first group has
	 * 1-3 digits and every later one exactly 3, or "1234,56" (a decimal
	 * comma, or a lost digit) would be read as 123456. */
	const char *end = p + len;
	while (p < end && (isdigit((unsigned char)*p) || *p == ',')) {
		if (*p == ',') {
			if (ndig == 0 || (commas ? group != 3 : group > 3))
				goto out;
			commas = true;
			group = 0;
		} else {
			if (++ndig > AMOUNT_MAX_DIGITS)
				goto out;
			yuan = yuan * 10 + (*p - '0');
			group++;
		}
		p++;
	}
	if (ndig == 0 || (commas && group != 3))
		goto out;
	if (p < end && *p == '.') {
		int n = 0;

		p++;
		while (p < end && isdigit((unsigned char)*p) && n < 2) {
			cents = cents * 10 + (*p - '0');
			p++;
			n++;
		}
		if (n == 0)
			goto out;
		if (n == 1)
			cents *= 10;
	}
	ok = p == end;
out:
	free(f);
	if (!ok)
		return -1;
	*fen = yuan * 100 + cents;
	return 0;
}

void
ocr_format_amount(int64_t fen, char *buf, size_t n)
{
	uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;

	snprintf(buf, n, "%s%" PRIu64 ".%02" PRIu64, fen < 0 ? "-" : "",
	    a / 100, a % 100);
}

/* ---- 大写金额 ---- */

enum cn_tok {
	CT_DIGIT,     /* v = 0..9 (零 is 0) */
	CT_UNIT,      /* v = 1..3: 拾 佰 仟 */
	CT_BIG,       /* v = 4 or 8: 万 亿 */
	CT_YUAN,
	CT_JIAO,
	CT_FEN,
	CT_WHOLE,     /* 整 正 */
};

static const struct {
	const char *s;
	enum cn_tok tok;
	int v;
} cn_tokens[] = {
	{ "零", CT_DIGIT, 0 }, { "壹", CT_DIGIT, 1 }, { "贰", CT_DIGIT, 2 },
	{ "叁", CT_DIGIT, 3 }, { "肆", CT_DIGIT, 4 }, { "伍", CT_DIGIT, 5 },
	{ "陆", CT_DIGIT, 6 }, { "柒", CT_DIGIT, 7 }, { "捌", CT_DIGIT, 8 },
	{ "玖", CT_DIGIT, 9 },
	{ "拾", CT_UNIT, 1 }, { "佰", CT_UNIT, 2 }, { "仟", CT_UNIT, 3 },
	{ "万", CT_BIG, 4 }, { "亿", CT_BIG, 8 },
	{ "元", CT_YUAN, 0 }, { "圆", CT_YUAN, 0 },
	{ "角", CT_JIAO, 0 }, { "分", CT_FEN, 0 },
	{ "整", CT_WHOLE, 0 }, { "正", CT_WHOLE, 0 },
};

#define CN_MAX_TOKENS 64

struct cn_token {
	enum cn_tok tok;
	int v;
};

/* Splits s into tokens; the count, or -1 on anything else. */
static int
cn_tokenize(const char *s, struct cn_token *t, int max)
{
	int n = 0;

	while (*s != '\0') {
		size_t i, count = sizeof(cn_tokens) / sizeof(cn_tokens[0]);

		for (i = 0; i < count; i++)
			if (starts(s, cn_tokens[i].s))
				break;
		if (i == count || n == max)
			return -1;
		t[n].tok = cn_tokens[i].tok;
		t[n].v = cn_tokens[i].v;
		n++;
		s += strlen(cn_tokens[i].s);
	}
	return n;
}

static int64_t
pow10i(int e)
{
	int64_t v = 1;

	while (e-- > 0)
		v *= 10;
	return v;
}

/*
 * The integer part (before 元) of a 大写 amount, following the rules of
 * 《支付结算办法》 for 零: a gap inside a 万 section needs one 零
 * (壹仟零伍拾 = 1050, not 壹仟伍拾), a 零 with no gap is refused
 * (壹仟零伍佰), and two in a row or a trailing one too. After 万 or 亿 a
 * section that starts at its 仟 may take a 零 or not (壹拾万零柒仟 and
 * 壹拾万柒仟 are both 107000), one that starts lower needs it (壹万零伍 =
 * 10005; 壹万伍 is what people say for 15000). A leading 拾 means 壹拾.
 */
static int
cn_integer(const struct cn_token *t, int n, int64_t *out)
{
	int64_t total = 0;
	int section = 0;      /* value of the open section, 0..9999 */
	int last = 4;         /* position of its last digit, 4 = none yet */
	int first = -1;       /* position of its first digit */
	bool lead_zero = false, zero = false;
	int digit = -1;       /* a digit waiting for its unit */
	int prev_big = -1;    /* position of the last 万/亿 closed, -1 none */

	if (n == 1 && t[0].tok == CT_DIGIT && t[0].v == 0) {
		*out = 0;     /* 零元 */
		return 0;
	}
	for (int i = 0; i <= n; i++) {
		enum cn_tok tok = i < n ? t[i].tok : CT_YUAN;
		int pos, v = i < n ? t[i].v : 0;

		if (tok == CT_DIGIT && v == 0) {
			if (digit >= 0 || zero)
				return -1;
			/* a leading 零 of the whole amount means nothing */
			if (section == 0 && prev_big < 0)
				return -1;
			zero = true;
			continue;
		}
		if (tok == CT_DIGIT) {
			if (digit >= 0)
				return -1;
			digit = v;
			continue;
		}
		if (tok == CT_UNIT) {
			if (digit < 0) {
				/* 拾伍元: only at the very start */
				if (v != 1 || i != 0)
					return -1;
				digit = 1;
			}
			pos = v;
		} else if (tok == CT_BIG || tok == CT_YUAN) {
			pos = 0;
			if (digit < 0) {
				if (zero)
					return -1;        /* 壹佰零元 */
				pos = -1;                 /* nothing to place */
			}
		} else {
			return -1;
		}
		if (pos >= 0) {
			if (pos >= last)
				return -1;        /* 壹拾佰, 伍佰壹仟 */
			if (first < 0) {
				first = pos;
				lead_zero = zero;
			} else if (zero != (pos < last - 1)) {
				return -1;        /* gap without 零, 零 without gap */
			}
			section += digit * (int)pow10i(pos);
			last = pos;
			digit = -1;
			zero = false;
		}
		if (tok == CT_UNIT)
			continue;

		/* close the section: 万, 亿 or the end of the integer part */
		int big = tok == CT_BIG ? v : 0;
		if (tok == CT_BIG) {
			if (section == 0)
				return -1;                /* 万 alone, 亿万 */
			if (prev_big >= 0 && big >= prev_big)
				return -1;                /* 壹万万, 壹万壹亿 */
		}
		if (section != 0) {
			if (prev_big < 0) {
				if (lead_zero)
					return -1;
			} else if (big + first < prev_big - 1) {
				if (!lead_zero)
					return -1;        /* 壹万伍元 */
			}
			total += (int64_t)section * pow10i(big);
		} else if (tok == CT_YUAN && prev_big < 0) {
			return -1;                        /* 元 with nothing */
		}
		if (tok == CT_BIG)
			prev_big = big;
		section = 0;
		last = 4;
		first = -1;
		lead_zero = false;
	}
	*out = total;
	return 0;
}

/* 角 and 分 after 元 (or alone): [零] d 角 [d 分] [整] | [零] d 分 [整]. */
static int
cn_fraction(const struct cn_token *t, int n, bool after_yuan, int64_t *fen)
{
	int i = 0, jiao = 0, f = 0;

	*fen = 0;
	if (n == 0)
		return after_yuan ? 0 : -1;
	if (n == 1 && t[0].tok == CT_WHOLE)
		return after_yuan ? 0 : -1;
	if (t[i].tok == CT_DIGIT && t[i].v == 0) {
		if (!after_yuan)
			return -1;        /* 零伍角 */
		i++;
	}
	if (i + 1 < n && t[i].tok == CT_DIGIT && t[i].v > 0 &&
	    t[i + 1].tok == CT_JIAO) {
		jiao = t[i].v;
		i += 2;
	}
	if (i + 1 < n && t[i].tok == CT_DIGIT && t[i].v > 0 &&
	    t[i + 1].tok == CT_FEN) {
		/* 壹佰元零伍分 but not 伍角零伍分 */
		f = t[i].v;
		i += 2;
	}
	if (jiao == 0 && f == 0)
		return -1;
	if (i < n && t[i].tok == CT_WHOLE)
		i++;
	if (i != n)
		return -1;
	*fen = jiao * 10 + f;
	return 0;
}

int
ocr_parse_amount_cn(const char *s, int64_t *fen)
{
	struct cn_token t[CN_MAX_TOKENS];
	char *f;
	const char *p;
	int n, yuan = -1, rc = -1;
	int64_t integer = 0, frac;

	if (s == NULL || (f = fold_dup(s)) == NULL)
		return -1;
	p = f;
	if (starts(p, "人民币"))
		p += strlen("人民币");
	n = cn_tokenize(p, t, CN_MAX_TOKENS);
	free(f);
	if (n <= 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (t[i].tok == CT_YUAN) {
			yuan = i;
			break;
		}
	if (yuan >= 0) {
		if (cn_integer(t, yuan, &integer) != 0)
			return -1;
		rc = cn_fraction(t + yuan + 1, n - yuan - 1, true, &frac);
	} else {
		rc = cn_fraction(t, n, false, &frac);
	}
	if (rc != 0)
		return -1;
	*fen = integer * 100 + frac;
	return 0;
}

/* ---- confusables and equality ---- */

size_t
ocr_fold_confusables(const char *in, char *out, size_t n)
{
	char *f;
	const char *p;
	size_t w = 0;

	if (n == 0)
		return 0;
	if ((f = fold_dup(in)) == NULL) {
		out[0] = '\0';
		return 0;
	}
	for (p = f; *p != '\0'; ) {
		const char *rep = NULL;
		size_t l = ocr_u8len((unsigned char)*p);
		char c[2] = { *p, '\0' };

		if (strnlen(p, l) < l)
			l = 1;
		if (l == 1) {
			switch (*p) {
			case 'O': case 'D': case 'Q':
				c[0] = '0';
				break;
			case 'I': case 'L': case '|': case '!':
				c[0] = '1';
				break;
			case 'Z':
				c[0] = '2';
				break;
			case 'S':
				c[0] = '5';
				break;
			case 'B':
				c[0] = '8';
				break;
			case 'G':
				c[0] = '6';
				break;
			}
			rep = c;
		} else if (starts(p, "〇")) {
			rep = "0";
		} else if (starts(p, "×")) {
			rep = "X";
		}
		if (rep != NULL) {
			if (w + 2 > n)
				break;
			out[w++] = rep[0];
		} else {
			if (w + l + 1 > n)
				break;
			memcpy(out + w, p, l);
			w += l;
		}
		p += l;
	}
	out[w] = '\0';
	free(f);
	return w;
}

/* ids_fold (and confusables for identifiers), with the middle dots of
 * names (阿依古丽·买买提), which OCR prints as any of several, made one. */
static char *
text_fold(const char *s, bool identifier)
{
	static const char *dots[] = { "·", "•", "・", "･", "‧", "∙" };
	size_t n = strlen(s) + 1;
	char *f, *w;
	const char *p;

	if ((f = malloc(n)) == NULL)
		return NULL;
	if (identifier)
		ocr_fold_confusables(s, f, n);
	else
		ids_fold(s, f, n);
	for (p = w = f; *p != '\0'; ) {
		size_t i, count = sizeof(dots) / sizeof(dots[0]);

		for (i = 0; i < count; i++)
			if (starts(p, dots[i]))
				break;
		if (i < count) {
			*w++ = '.';
			p += strlen(dots[i]);
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return f;
}

bool
ocr_text_equal(const char *ocr, const char *expected, bool identifier,
    bool *folded)
{
	char *a = NULL, *b = NULL;
	bool eq = false, fold = false;

	if (folded != NULL)
		*folded = false;
	if (ocr == NULL || expected == NULL)
		return false;
	a = text_fold(ocr, false);
	b = text_fold(expected, false);
	if (a == NULL || b == NULL)
		goto out;
	eq = strcmp(a, b) == 0;
	if (!eq && identifier) {
		free(a);
		free(b);
		a = text_fold(ocr, true);
		b = text_fold(expected, true);
		if (a == NULL || b == NULL)
			goto out;
		eq = fold = strcmp(a, b) == 0;
	}
out:
	free(a);
	free(b);
	if (folded != NULL)
		*folded = fold;
	return eq;
}

/* ---- specs ---- */

static const char *ftype_names[] = {
	[OCR_F_TEXT] = "text", [OCR_F_NAME] = "name", [OCR_F_CN_ID] = "cn_id",
	[OCR_F_USCC] = "uscc", [OCR_F_BANK_CARD] = "bank_card",
	[OCR_F_DATE] = "date", [OCR_F_AMOUNT] = "amount",
	[OCR_F_AMOUNT_CN] = "amount_cn", [OCR_F_ENUM] = "enum",
	[OCR_F_REGEX] = "regex",
};

int
ocr_ftype_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(ftype_names) / sizeof(ftype_names[0]);
	    i++)
		if (name != NULL && strcmp(name, ftype_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
ocr_ftype_name(enum ocr_ftype t)
{
	if ((size_t)t < sizeof(ftype_names) / sizeof(ftype_names[0]))
		return ftype_names[t];
	return "unknown";
}

const char *
ocr_fstatus_name(enum ocr_fstatus s)
{
	switch (s) {
	case OCR_FS_OK:
		return "ok";
	case OCR_FS_WARNING:
		return "warning";
	case OCR_FS_LOW_CONFIDENCE:
		return "low_confidence";
	case OCR_FS_MISMATCH:
		return "mismatch";
	case OCR_FS_INVALID:
		return "invalid";
	case OCR_FS_MISSING:
		return "missing";
	}
	return "unknown";
}

const char *
ocr_severity_name(enum ocr_severity s)
{
	switch (s) {
	case OCR_SEV_NONE:
		return "none";
	case OCR_SEV_WARN:
		return "warn";
	case OCR_SEV_ESCALATE:
		return "escalate";
	case OCR_SEV_REJECT:
		return "reject";
	}
	return "unknown";
}

int
ocr_field_spec_compile(struct ocr_field_spec *spec, struct err *e)
{
	pcre2_code *re;
	int errcode;
	PCRE2_SIZE off;
	PCRE2_UCHAR msg[256];

	if (spec->re != NULL) {
		pcre2_code_free(spec->re);
		spec->re = NULL;
	}
	if (spec->regex == NULL)
		return 0;
	/* The whole value must match, whatever anchors the pattern has;
	 * OCR text may hold invalid UTF-8, which then simply does not match. */
	re = pcre2_compile((PCRE2_SPTR)spec->regex, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED | PCRE2_ENDANCHORED |
	    PCRE2_MATCH_INVALID_UTF, &errcode, &off, NULL);
	if (re == NULL) {
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		err_setc(e, ERR_INVALID, "pattern error at offset %zu: %s",
		    (size_t)off, (const char *)msg);
		return -1;
	}
	spec->re = re;
	return 0;
}

void
ocr_field_spec_clear(struct ocr_field_spec *spec)
{
	free(spec->name);
	free(spec->label);
	for (size_t i = 0; i < spec->n_enum; i++)
		free(spec->enum_values[i]);
	free(spec->enum_values);
	free(spec->regex);
	if (spec->re != NULL)
		pcre2_code_free(spec->re);
	free(spec->match);
	free(spec->cross_check);
	ocr_divisions_release(spec->divisions);
	memset(spec, 0, sizeof(*spec));
}

/* ---- one field ---- */

static void
set(struct ocr_vresult *out, enum ocr_fstatus st, enum ocr_severity sev,
    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
set(struct ocr_vresult *out, enum ocr_fstatus st, enum ocr_severity sev,
    const char *code, const char *fmt, ...)
{
	va_list ap;

	out->status = st;
	out->severity = sev;
	snprintf(out->code, sizeof(out->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

/* Trimmed copy of raw (ASCII and ideographic white space). */
static char *
trim_dup(const char *raw)
{
	const char *b = raw, *e = raw + strlen(raw);
	char *s;

	for (;;) {
		if (b < e && isspace((unsigned char)*b))
			b++;
		else if (e - b >= 3 && memcmp(b, "\xE3\x80\x80", 3) == 0)
			b += 3;
		else
			break;
	}
	for (;;) {
		if (e > b && isspace((unsigned char)e[-1]))
			e--;
		else if (e - b >= 3 && memcmp(e - 3, "\xE3\x80\x80", 3) == 0)
			e -= 3;
		else
			break;
	}
	if ((s = malloc((size_t)(e - b) + 1)) == NULL)
		return NULL;
	memcpy(s, b, (size_t)(e - b));
	s[e - b] = '\0';
	return s;
}

/*
 * A name: white space next to a non-ASCII character is an OCR artefact of
 * the spacing of Chinese forms (张  三); between Latin words it is one
 * space (ZHANG SAN).
 */
static void
name_normalise(const char *in, char *out, size_t n)
{
	char *t = trim_dup(in), *w;
	const char *p;
	bool space = false;
	unsigned char prev = 0;

	if (t == NULL) {
		out[0] = '\0';
		return;
	}
	w = t;
	for (p = t; *p != '\0'; ) {
		if (isspace((unsigned char)*p)) {
			space = true;
			p++;
			continue;
		}
		if (starts(p, "\xE3\x80\x80")) {
			space = true;
			p += 3;
			continue;
		}
		if (space && prev < 0x80 && (unsigned char)*p < 0x80)
			*w++ = ' ';
		space = false;
		prev = (unsigned char)*p;
		/* copy the whole character; prev is its lead byte */
		size_t l = ocr_u8len((unsigned char)*p);
		if (strnlen(p, l) < l)
			l = 1;
		memmove(w, p, l);
		w += l;
		p += l;
	}
	*w = '\0';
	copy_utf8(out, n, t);
	free(t);
}

static bool
is_identifier(enum ocr_ftype t)
{
	return t == OCR_F_CN_ID || t == OCR_F_USCC || t == OCR_F_BANK_CARD;
}

/* Folds only the letters GB 32100 leaves out (I O S V Z); B, D, G, L, Q
 * are real USCC characters and must stay. */
static void
uscc_fold(char *s)
{
	for (; *s != '\0'; s++)
		switch (*s) {
		case 'O':
			*s = '0';
			break;
		case 'I':
			*s = '1';
			break;
		case 'S':
			*s = '5';
			break;
		case 'Z':
			*s = '2';
			break;
		}
}

static void
v_cn_id(const char *raw, int today, struct ocr_vresult *out)
{
	char *f = fold_dup(raw), alt[64];
	struct cnid c;
	enum cnid_status st;
	bool folded = false;
	size_t len;

	if (f == NULL) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "out of memory");
		return;
	}
	len = strlen(f);
	st = ids_cnid_parse(f, today, &c);
	if (st == CNID_CHARS && len < sizeof(alt)) {
		/* 11O105... : a letter read for a digit */
		struct cnid c2;

		ocr_fold_confusables(f, alt, sizeof(alt));
		if (strcmp(alt, f) != 0 &&
		    ids_cnid_parse(alt, today, &c2) == CNID_OK) {
			c = c2;
			st = CNID_OK;
			folded = true;
		}
	}
	copy_utf8(out->value, sizeof(out->value),
	    st == CNID_LENGTH || st == CNID_CHARS ? f : c.id);
	free(f);
	switch (st) {
	case CNID_OK:
		if (folded) {
			out->folded = true;
			set(out, OCR_FS_OK, OCR_SEV_WARN, "cn_id.folded",
			    "身份证号码经字形校正后有效 / valid only after "
			    "reading look-alike characters as digits");
		} else if (len == 15) {
			/* the check character was computed, not read */
			set(out, OCR_FS_WARNING, OCR_SEV_WARN, "cn_id.old15",
			    "15位旧身份证号码，无校验位 / an old 15-digit ID "
			    "number has no check character");
		}
		break;
	case CNID_LENGTH:
	case CNID_CHARS:
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE,
		    st == CNID_LENGTH ? "cn_id.length" : "cn_id.chars",
		    "身份证号码无法识别 / %s", ids_cnid_status_message(st));
		break;
	case CNID_REGION:
		set(out, OCR_FS_INVALID, OCR_SEV_REJECT, "cn_id.region",
		    "身份证号码地区码无效 / %s", ids_cnid_status_message(st));
		break;
	case CNID_BIRTH:
		set(out, OCR_FS_INVALID, OCR_SEV_REJECT, "cn_id.birth",
		    "身份证号码出生日期无效 / %s",
		    ids_cnid_status_message(st));
		break;
	case CNID_CHECK:
		set(out, OCR_FS_INVALID, OCR_SEV_REJECT, "cn_id.check",
		    "身份证号码校验位错误 / %s: the first 17 digits call "
		    "for %c, not %c", ids_cnid_status_message(st), c.expected,
		    c.id[17]);
		break;
	}
}

static void
v_uscc(const char *raw, struct ocr_vresult *out)
{
	char *f = fold_dup(raw), expected;
	enum uscc_status st;

	if (f == NULL) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "out of memory");
		return;
	}
	st = ids_uscc_validate(f, &expected);
	if (st == USCC_CHARS) {
		char *alt = strdup(f);

		if (alt != NULL) {
			uscc_fold(alt);
			if (ids_uscc_validate(alt, &expected) == USCC_OK) {
				copy_utf8(out->value, sizeof(out->value), alt);
				out->folded = true;
				set(out, OCR_FS_OK, OCR_SEV_WARN,
				    "uscc.folded", "统一社会信用代码经字形校正后"
				    "有效 / valid only after reading "
				    "look-alike letters as digits");
				free(alt);
				free(f);
				return;
			}
			free(alt);
		}
	}
	copy_utf8(out->value, sizeof(out->value), f);
	free(f);
	switch (st) {
	case USCC_OK:
		break;
	case USCC_LENGTH:
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "uscc.length",
		    "统一社会信用代码长度错误 / %s",
		    ids_uscc_status_message(st));
		break;
	case USCC_CHARS:
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "uscc.chars",
		    "统一社会信用代码含无效字符 / %s",
		    ids_uscc_status_message(st));
		break;
	case USCC_CHECK:
		/* real codes exist that fail: a person looks, never a reject */
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "uscc.check",
		    "统一社会信用代码校验位不符 / %s: expected %c",
		    ids_uscc_status_message(st), expected);
		break;
	}
}

#define CARD_MIN 8
#define CARD_MAX 32

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void
v_bank_card(const char *raw, struct ocr_vresult *out)
{
	char *f = fold_dup(raw), *w;
	const char *p;
	bool folded = false;
	size_t len;

	if (f == NULL) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "out of memory");
		return;
	}
	/* 6222-0202-... : hyphens group digits like spaces do */
	for (p = w = f; *p != '\0'; p++)
		if (*p != '-')
			*w++ = *p;
	*w = '\0';
	if (!all_digits(f)) {
		char *alt = strdup(f);

		if (alt != NULL) {
			ocr_fold_confusables(f, alt, strlen(f) + 1);
			if (all_digits(alt)) {
				free(f);
				f = alt;
				folded = true;
			} else {
				free(alt);
			}
		}
	}
	copy_utf8(out->value, sizeof(out->value), f);
	len = strlen(f);
	if (!all_digits(f)) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "bank_card.chars",
		    "银行账号含非数字字符 / an account number is digits only");
	} else if (len < CARD_MIN || len > CARD_MAX) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "bank_card.length",
		    "银行账号长度异常 / an account number of %zu digits "
		    "(expected %d to %d)", len, CARD_MIN, CARD_MAX);
	} else if (!ids_luhn_valid(f)) {
		/* passbook and corporate accounts are not Luhn numbers */
		set(out, OCR_FS_WARNING, OCR_SEV_WARN, "bank_card.luhn",
		    "银行卡号未通过Luhn校验 / the number fails the Luhn check "
		    "(fine for passbook and corporate accounts)");
	} else if (folded) {
		out->folded = true;
		set(out, OCR_FS_OK, OCR_SEV_WARN, "bank_card.folded",
		    "银行账号经字形校正 / digits only after reading "
		    "look-alike characters as digits");
	}
	free(f);
}

static int
resolve_bound(int bound, int today)
{
	return bound == -1 ? today : bound;
}

static void
v_date(const struct ocr_field_spec *spec, const char *raw, int today,
    struct ocr_vresult *out)
{
	int ymd, lo, hi;

	if (ocr_parse_date(raw, &ymd) != 0) {
		copy_utf8(out->value, sizeof(out->value), raw);
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "date.format",
		    "日期无法识别 / not a date (YYYY年M月D日, YYYY-MM-DD, "
		    "YYYY/MM/DD, YYYY.MM.DD or YYYYMMDD)");
		return;
	}
	snprintf(out->value, sizeof(out->value), "%04d-%02d-%02d",
	    ymd / 10000, ymd / 100 % 100, ymd % 100);
	lo = resolve_bound(spec->not_before, today);
	hi = resolve_bound(spec->not_after, today);
	if (lo != 0 && ymd < lo) {
		set(out, OCR_FS_INVALID, OCR_SEV_REJECT,
		    spec->not_before == -1 ? "date.before_today" :
		    "date.before_min",
		    "日期早于%04d-%02d-%02d / the date is before %04d-%02d-%02d",
		    lo / 10000, lo / 100 % 100, lo % 100,
		    lo / 10000, lo / 100 % 100, lo % 100);
	} else if (hi != 0 && ymd > hi) {
		set(out, OCR_FS_INVALID, OCR_SEV_REJECT,
		    spec->not_after == -1 ? "date.after_today" :
		    "date.after_max",
		    "日期晚于%04d-%02d-%02d / the date is after %04d-%02d-%02d",
		    hi / 10000, hi / 100 % 100, hi % 100,
		    hi / 10000, hi / 100 % 100, hi % 100);
	}
}

static void
v_amount(const char *raw, bool cn, struct ocr_vresult *out)
{
	int64_t fen;
	int rc = cn ? ocr_parse_amount_cn(raw, &fen) :
	    ocr_parse_amount(raw, &fen);

	if (rc != 0) {
		copy_utf8(out->value, sizeof(out->value), raw);
		if (cn)
			set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE,
			    "amount_cn.format", "大写金额无法识别 / not an "
			    "amount in capital numerals (e.g. 壹佰元零伍分)");
		else
			set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE,
			    "amount.format", "金额无法识别 / not an amount "
			    "(e.g. 1,234.56)");
		return;
	}
	ocr_format_amount(fen, out->value, sizeof(out->value));
}

static void
v_enum(const struct ocr_field_spec *spec, const char *raw,
    struct ocr_vresult *out)
{
	for (size_t i = 0; i < spec->n_enum; i++)
		if (ocr_text_equal(raw, spec->enum_values[i], false, NULL)) {
			copy_utf8(out->value, sizeof(out->value),
			    spec->enum_values[i]);
			return;
		}
	copy_utf8(out->value, sizeof(out->value), raw);
	set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "enum.value",
	    "不是允许的取值 / not one of the %zu allowed values",
	    spec->n_enum);
}

/* Regex over the value; the whole value must match. 0, or -1 if it did
 * not (out filled). */
static int
v_regex(const struct ocr_field_spec *spec, const char *value,
    struct ocr_vresult *out)
{
	pcre2_match_data *md;
	pcre2_match_context *mc;
	int rc;

	md = pcre2_match_data_create_from_pattern(spec->re, NULL);
	mc = pcre2_match_context_create(NULL);
	if (md == NULL || mc == NULL) {
		pcre2_match_data_free(md);
		pcre2_match_context_free(mc);
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "out of memory");
		return -1;
	}
	/* The subject is outside input: a pattern that backtracks badly
	 * must not hold a worker. */
	pcre2_set_match_limit(mc, 100000);
	pcre2_set_depth_limit(mc, 1000);
	rc = pcre2_match(spec->re, (PCRE2_SPTR)value, strlen(value), 0, 0,
	    md, mc);
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	if (rc >= 0)
		return 0;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT)
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "regex.limit",
		    "格式检查超出限制 / the pattern needed too many steps on "
		    "this value");
	else
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "regex.nomatch",
		    "格式不符 / the value does not have the expected form");
	return -1;
}

/* The payload value under key (or a dotted path) as a string in buf. */
static bool
payload_string(const json_t *payload, const char *key, char *buf, size_t n)
{
	const json_t *v;

	if (payload == NULL || !json_is_object(payload))
		return false;
	v = json_object_get(payload, key);
	if (v == NULL && strchr(key, '.') != NULL) {
		char *path = strdup(key), *save = NULL, *seg;

		if (path == NULL)
			return false;
		v = payload;
		for (seg = strtok_r(path, ".", &save); seg != NULL && v != NULL;
		    seg = strtok_r(NULL, ".", &save))
			v = json_is_object(v) ? json_object_get(v, seg) : NULL;
		free(path);
	}
	if (json_is_string(v))
		copy_utf8(buf, n, json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%.2f", json_real_value(v));
	else
		return false;
	return true;
}

static void
v_match(const struct ocr_field_spec *spec, const json_t *payload,
    int today, struct ocr_vresult *out)
{
	char expected[256];
	bool eq, folded = false;

	if (!payload_string(payload, spec->match, expected, sizeof(expected))) {
		if (spec->match_optional)
			return;
		set(out, OCR_FS_MISMATCH, OCR_SEV_ESCALATE, "match.missing",
		    "案件数据中没有%s，无法比对 / the case has no \"%s\" to "
		    "compare with", spec->match, spec->match);
		return;
	}
	switch (spec->type) {
	case OCR_F_DATE: {
		int a, b;

		eq = ocr_parse_date(out->value, &a) == 0 &&
		    ocr_parse_date(expected, &b) == 0 && a == b;
		break;
	}
	case OCR_F_AMOUNT:
	case OCR_F_AMOUNT_CN: {
		int64_t a, b;

		eq = ocr_parse_amount(out->value, &a) == 0 &&
		    ocr_parse_amount(expected, &b) == 0 && a == b;
		break;
	}
	case OCR_F_CN_ID: {
		char *f = fold_dup(expected), id18[19];
		struct cnid c;

		/* the case may still hold the old 15-digit number */
		if (f != NULL && ids_cnid_from15(f, id18) == 0)
			copy_utf8(expected, sizeof(expected), id18);
		else if (f != NULL && ids_cnid_parse(f, today, &c) != CNID_LENGTH &&
		    c.id[0] != '\0')
			copy_utf8(expected, sizeof(expected), c.id);
		free(f);
		eq = ocr_text_equal(out->value, expected, true, &folded);
		break;
	}
	default:
		eq = ocr_text_equal(out->value, expected,
		    is_identifier(spec->type), &folded);
		break;
	}
	if (!eq) {
		char code[sizeof(out->code)];

		snprintf(code, sizeof(code), "match.%.*s",
		    (int)(sizeof(code) - sizeof("match.")), spec->match);
		set(out, OCR_FS_MISMATCH, OCR_SEV_ESCALATE, code,
		    "与案件数据不一致 / does not match the case's \"%s\"",
		    spec->match);
	} else if (!folded)
		out->matched = true;
	else {
		out->matched = true;
		out->folded = true;
		if (out->severity < OCR_SEV_WARN)
			out->severity = OCR_SEV_WARN;
		snprintf(out->code, sizeof(out->code), "match.folded");
		snprintf(out->message, sizeof(out->message),
		    "经字形校正后与案件数据一致 / matches the case's \"%s\" "
		    "only after reading look-alike characters (O/0, l/1 ...) "
		    "as the same", spec->match);
	}
}

/* The code point at *p (advanced past it); U+FFFD for a bad sequence. */
static unsigned
u8next(const char **p)
{
	const unsigned char *s = (const unsigned char *)*p;
	size_t l = ocr_u8len(s[0]);
	unsigned c = l == 1 ? s[0] : s[0] & (0x3F >> (l - 1));

	for (size_t i = 1; i < l; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*p += i;
			return 0xFFFD;
		}
		c = (c << 6) | (s[i] & 0x3F);
	}
	*p += l;
	return l == 1 && s[0] >= 0x80 ? 0xFFFD : c;
}

static bool
han(unsigned c)
{
	return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
	    (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3134F);
}

/*
 * A person's name as written on Chinese documents: two or more Chinese
 * characters, with the middle dot of transcribed names (阿依古丽·买买提);
 * with latin, Latin letters, spaces, hyphens and apostrophes too (ZHANG
 * SAN), still at least two letters. An OCR read such as "ame" or "张三1"
 * is not a name.
 */
static void
v_name(const struct ocr_field_spec *spec, const char *t,
    struct ocr_vresult *out)
{
	const char *p;
	int letters = 0, bad = 0;

	name_normalise(t, out->value, sizeof(out->value));
	for (p = out->value; *p != '\0'; ) {
		unsigned c = u8next(&p);

		if (han(c) || (spec->latin && ((c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z'))))
			letters++;
		else if (c == 0xB7 || c == 0x2022 || c == 0x30FB ||
		    (spec->latin && (c == ' ' || c == '-' || c == '\'')))
			continue;
		else
			bad++;
	}
	if (bad == 0 && letters >= 2)
		return;
	set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "name.chars", spec->latin ?
	    "不像是姓名 / not a name (Chinese characters or Latin letters)" :
	    "姓名应为汉字 / a name is written in Chinese characters");
}

/* The first few characters of s for a message, "…" if there are more. */
static void
snippet(const char *s, char *buf, size_t n)
{
	const char *p = s;

	for (int i = 0; i < 3 && *p != '\0'; i++)
		p += strnlen(p, ocr_u8len((unsigned char)*p));
	snprintf(buf, n, "%.*s%s", (int)(p - s), s, *p != '\0' ? "…" : "");
}

/*
 * An address must begin with real divisions (validate.h,
 * ocr_divisions_match): chi_sim reads 武侯区 as 武候区 or 武修区, often
 * in every read, and a free-text field has no other check. The value is
 * kept as read: a wrong name is escalated, never turned into the nearest
 * real one.
 */
static void
v_divisions(const struct ocr_field_spec *spec, const char *t,
    struct ocr_vresult *out)
{
	const char *label = spec->label != NULL ? spec->label : spec->name;
	const char *name = spec->name != NULL ? spec->name : "address";
	char *s = strdup(t), *w = s, part[32];
	struct ocr_div_match m;

	if (s == NULL) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "out of memory");
		return;
	}
	/* OCR spaces out Chinese print (成都市 武侯区) */
	for (const char *p = t; *p != '\0'; ) {
		if (isspace((unsigned char)*p))
			p++;
		else if (starts(p, "\xE3\x80\x80"))
			p += 3;
		else
			*w++ = *p++;
	}
	*w = '\0';
	ocr_divisions_match(spec->divisions, s, &m);
	/* what was read, spaces and all, when nothing of it was known */
	snippet(m.status == OCR_DIV_START ? t : m.rest, part, sizeof(part));
	switch (m.status) {
	case OCR_DIV_OK:
		break;
	case OCR_DIV_START:
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "address.division",
		    "%s开头的\"%s\"不是省、市 / no province or city of GB/T "
		    "2260 begins the %s", label, part, name);
		break;
	case OCR_DIV_CITY:
	case OCR_DIV_COUNTY: {
		bool city = m.status == OCR_DIV_CITY;
		const char *after = city ? m.province : m.city;

		if (part[0] == '\0')
			set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE,
			    "address.division", "%s在%s之后没有%s / the %s "
			    "ends at %s, without its %s (GB/T 2260)", label,
			    after, city ? "市" : "区县", name, after,
			    city ? "city" : "county");
		else
			set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE,
			    "address.division", "%s的%s\"%s\"不在%s / the %s's "
			    "%s after %s is none of its divisions (GB/T 2260)",
			    label, city ? "市" : "区县", part, after, name,
			    city ? "city" : "county", after);
		break;
	}
	}
	free(s);
}

static bool
blank(const char *s)
{
	char *f = fold_dup(s);
	bool b = f == NULL || f[0] == '\0';

	free(f);
	return b;
}

int
ocr_validate_field(const struct ocr_field_spec *spec, const char *raw,
    const json_t *payload, int today, struct ocr_vresult *out)
{
	char *t;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	set(out, OCR_FS_OK, OCR_SEV_NONE, "ok", "ok");
	if (spec == NULL || (spec->regex != NULL && spec->re == NULL) ||
	    (spec->type == OCR_F_REGEX && spec->re == NULL)) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "the field's pattern was not compiled "
		    "(ocr_field_spec_compile)");
		return -1;
	}
	if (raw == NULL)
		raw = "";
	if (today == 0)
		today = local_today();
	if (blank(raw)) {
		if (spec->required)
			set(out, OCR_FS_MISSING, OCR_SEV_REJECT, "required",
			    "必填项为空 / the required field \"%s\" is empty",
			    spec->label != NULL ? spec->label :
			    spec->name != NULL ? spec->name : "");
		return 0;
	}
	if ((t = trim_dup(raw)) == NULL) {
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "out of memory");
		return 0;
	}
	switch (spec->type) {
	case OCR_F_TEXT:
		copy_utf8(out->value, sizeof(out->value), t);
		if (spec->divisions != NULL)
			v_divisions(spec, t, out);
		break;
	case OCR_F_REGEX:
		copy_utf8(out->value, sizeof(out->value), t);
		break;
	case OCR_F_NAME:
		v_name(spec, t, out);
		break;
	case OCR_F_CN_ID:
		v_cn_id(t, today, out);
		break;
	case OCR_F_USCC:
		v_uscc(t, out);
		break;
	case OCR_F_BANK_CARD:
		v_bank_card(t, out);
		break;
	case OCR_F_DATE:
		v_date(spec, t, today, out);
		break;
	case OCR_F_AMOUNT:
		v_amount(t, false, out);
		break;
	case OCR_F_AMOUNT_CN:
		v_amount(t, true, out);
		break;
	case OCR_F_ENUM:
		v_enum(spec, t, out);
		break;
	default:
		copy_utf8(out->value, sizeof(out->value), t);
		set(out, OCR_FS_INVALID, OCR_SEV_ESCALATE, "internal",
		    "unknown field type %d", (int)spec->type);
		break;
	}
	free(t);
	if (spec->re != NULL &&
	    (out->status == OCR_FS_OK || out->status == OCR_FS_WARNING))
		v_regex(spec, out->value, out);
	if (spec->match != NULL &&
	    (out->status == OCR_FS_OK || out->status == OCR_FS_WARNING))
		v_match(spec, payload, today, out);
	return 0;
}

bool
ocr_payload_string(const json_t *payload, const char *key, char *buf,
    size_t n)
{
	return payload_string(payload, key, buf, n);
}

bool
ocr_ftype_is_identifier(enum ocr_ftype t)
{
	return is_identifier(t);
}

bool
ocr_field_unsure(const struct ocr_field_spec *spec,
    const struct ocr_vresult *vr, const struct ocr_reads *r)
{
	bool case_name, conflict;

	if (!r->found)
		return false;
	if (r->alone)
		return r->conf < r->min_confidence;
	conflict = r->reread && !r->agree;
	if (is_identifier(spec->type))
		return r->conf < r->min_confidence || conflict;
	/* A misread that lands exactly on the applicant's name is not a
	 * risk worth a reviewer's time; a folded match stays unsure, and so
	 * does a match_optional field that had no case value to meet. */
	case_name = spec->match != NULL && vr->matched &&
	    vr->status == OCR_FS_OK && !vr->folded;
	if (case_name || r->cross_confirmed)
		return false;
	if (conflict)
		return true;
	/* Two reads that disagree are not made sure by the ID: the page
	 * read may be what is printed. */
	if (r->id_confirmed)
		return false;
	if (r->reread && r->conf >= r->agree_confidence)
		return false;
	return r->conf < r->min_confidence;
}
