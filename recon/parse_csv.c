/*
 * parse_csv.c - CSV statements and ledger exports (RFC 4180: quoted cells
 * with "" escapes and line breaks, CRLF, a UTF-8 BOM), mapped to lines by
 * the rules' column names or numbers. The buffer is the whole file, made
 * UTF-8 by the caller; cells are unquoted in place and only the strings a
 * line keeps are copied, into the side's arena: no allocation per row,
 * because an export has millions of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "recon.h"

#define MAX_CELLS RECON_CSV_MAX_CELLS


enum col { C_DATE, C_VDATE, C_AMOUNT, C_DEBIT, C_CREDIT, C_FLAG, C_REF,
    C_CP, C_TEXT, C_BATCH, C_ACCOUNT, C_BALANCE, C_N };

static const char *const col_default[C_N] = { "date", "value_date", "amount",
    "debit", "credit", "flag", "ref", "counterparty", "text", "batch",
    "account", "balance" };

static void
trim(struct recon_cell *c)
{
	while (c->len > 0 && (c->s[0] == ' ' || c->s[0] == '\t')) {
		c->s++;
		c->len--;
	}
	while (c->len > 0 && (c->s[c->len - 1] == ' ' ||
	    c->s[c->len - 1] == '\t' || c->s[c->len - 1] == '\r'))
		c->len--;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The end of an unquoted cell: the delimiter or a line break. Eight bytes
 * at a time, because most of a statement is cells to skip over. */
static char *
cell_end(char *p, char *end, char delim)
{
	uint64_t dd = ONES * (unsigned char)delim, nn = ONES * '\n';

	while (end - p >= 8) {
		uint64_t w, a, b;

		memcpy(&w, p, 8);
		a = w ^ dd;
		b = w ^ nn;
		a = (a - ONES) & ~a & HIGHS;
		b = (b - ONES) & ~b & HIGHS;
		if ((a | b) != 0)
			return p + __builtin_ctzll(a | b) / 8;
		p += 8;
	}
	while (p < end && *p != delim && *p != '\n')
		p++;
	return p;
}

void
recon_csv_init(struct recon_csv *x, const char *path, char *buf, size_t len,
    char delim, struct err *e)
{
	x->path = path;
	x->p = buf;
	x->end = buf + len;
	x->delim = delim ? delim : ',';
	x->line = 1;
	x->n = 0;
	x->e = e;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		x->p += 3;
}

/* The record reader is shared with records/ (recon.h). */
int
recon_csv_next(struct recon_csv *x, unsigned *line)
{
	char *p = x->p, *end = x->end;

	if (p >= end)
		return 0;
	*line = x->line;
	x->n = 0;
	for (;;) {
		struct recon_cell *c;

		if (x->n == MAX_CELLS) {
			err_setc(x->e, ERR_INVALID, "%s:%u: more than %d cells"
			    " in a row", x->path, *line, MAX_CELLS);
			return -1;
		}
		c = &x->cells[x->n++];
		if (p < end && *p == '"') {
			char *w = ++p;

			c->s = w;
			for (;;) {
				if (p >= end) {
					err_setc(x->e, ERR_INVALID, "%s:%u:"
					    " quoted cell never closed (a"
					    " missing \")", x->path, *line);
					return -1;
				}
				if (*p == '"') {
					if (p + 1 < end && p[1] == '"') {
						*w++ = '"';
						p += 2;
						continue;
					}
					p++;
					break;
				}
				if (*p == '\n')
					x->line++;
				/* Only write once "" has shifted the text, so
				 * untouched pages of the file stay shared. */
				if (w != p)
					*w = *p;
				w++;
				p++;
			}
			c->len = (size_t)(w - c->s);
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p < end && *p != x->delim && *p != '\n' &&
			    *p != '\r') {
				err_setc(x->e, ERR_INVALID, "%s:%u: text after"
				    " a closing quote (column %d); double a"
				    " quote inside a quoted cell (\"\")",
				    x->path, x->line, x->n);
				return -1;
			}
		} else {
			c->s = p;
			p = cell_end(p, end, x->delim);
			c->len = (size_t)(p - c->s);
		}
		trim(c);
		if (p < end && *p == x->delim) {
			p++;
			continue;
		}
		if (p < end && *p == '\r')
			p++;
		if (p < end && *p == '\n') {
			p++;
			x->line++;
		}
		break;
	}
	x->p = p;
	return 1;
}

/* A value for a message: at most 60 bytes, cut on a character. */
static void
show(const struct recon_cell *c, char *out, size_t size)
{
	size_t n = c->len < 60 ? c->len : 60;

	while (n < c->len && n > 0 && ((unsigned char)c->s[n] & 0xC0) == 0x80)
		n--;
	snprintf(out, size, "%.*s%s", (int)n, c->s, n < c->len ? "..." : "");
}

struct datefmt {
	char tok[32];            /* 'Y', 'm', 'd' or a literal byte */
	unsigned char exact[32]; /* digits: exactly this many, else 1-2 */
	bool is_field[32];
	int n;
};

static void
datefmt_compile(const char *f, struct datefmt *df)
{
	df->n = 0;
	for (; *f != '\0' && df->n < 32; f++) {
		int i = df->n++;

		if (*f == '%' && (f[1] == 'Y' || f[1] == 'm' || f[1] == 'd')) {
			f++;
			df->tok[i] = *f;
			df->is_field[i] = true;
			df->exact[i] = *f == 'Y' ? 4 : 0;
		} else {
			if (*f == '%' && f[1] == '%')
				f++;
			df->tok[i] = *f;
			df->is_field[i] = false;
			df->exact[i] = 0;
		}
	}
	/* "%Y%m%d": fields with no separator between them take 2 digits. */
	for (int i = 0; i < df->n; i++)
		if (df->is_field[i] && df->exact[i] == 0 &&
		    ((i + 1 < df->n && df->is_field[i + 1]) ||
		    (i > 0 && df->is_field[i - 1])))
			df->exact[i] = 2;
}

static recon_day
datefmt_parse(const struct datefmt *df, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	int y = 0, m = 0, d = 0;

	for (int i = 0; i < df->n; i++) {
		if (!df->is_field[i]) {
			if (p >= end || *p != df->tok[i])
				return -1;
			p++;
			continue;
		}
		int v = 0, k = 0, max = df->exact[i] ? df->exact[i] : 2;

		while (k < max && p < end && *p >= '0' && *p <= '9') {
			v = v * 10 + (*p++ - '0');
			k++;
		}
		if (k == 0 || (df->exact[i] && k != df->exact[i]))
			return -1;
		if (df->tok[i] == 'Y')
			y = v;
		else if (df->tok[i] == 'm')
			m = v;
		else
			d = v;
	}
	/* A time after the date ("2026-11-23 10:15:00") is allowed. */
	if (p < end && !((*p == ' ' || *p == 'T') && p + 1 < end &&
	    p[1] >= '0' && p[1] <= '9'))
		return -1;
	return recon_day_ymd(y, m, d);
}

/* 冲正 / 冲销: the bank's own words for a reversal. */
static bool
says_reversal(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *q;

	while ((q = memmem(p, (size_t)(end - p), "冲", 3)) != NULL) {
		if (end - q >= 6 && (memcmp(q + 3, "正", 3) == 0 ||
		    memcmp(q + 3, "销", 3) == 0))
			return true;
		p = q + 3;
	}
	return false;
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int
bad_cell(struct recon_csv *x, unsigned line, const char *what, const char *colname,
    const struct recon_cell *c)
{
	char v[80];

	show(c, v, sizeof(v));
	err_setc(x->e, ERR_INVALID, "%s:%u: %s (column %s, value \"%s\")",
	    x->path, line, what, colname, v);
	return -1;
}

int
recon_parse_csv(const char *path, char *buf, size_t len,
    const struct recon_csv_spec *spec, struct recon_side *side,
    struct recon_stmt *st, struct err *e)
{
	const char *names[C_N] = { spec->col_date, spec->col_value_date,
	    spec->col_amount, spec->col_debit, spec->col_credit, spec->col_flag,
	    spec->col_ref, spec->col_counterparty, spec->col_text,
	    spec->col_batch, spec->col_account, spec->col_balance };
	struct recon_csv *x = xcalloc(1, sizeof(*x));
	int idx[C_N], ncols = -1, rc = -1, r;
	char colname[C_N][64];
	struct datefmt df;
	unsigned line = 0, hline = 0;
	size_t skiplen = spec->skip_pattern ? strlen(spec->skip_pattern) : 0;
	size_t flaglen = spec->flag_in ? strlen(spec->flag_in) : 0;
	/* Dates repeat row after row: remember the last one. */
	char lastdate[32];
	size_t lastdatelen = 0;
	recon_day lastday = -1;
	/* Balances give the opening and closing; exports come oldest or
	 * newest first. */
	int nbal = 0;
	int64_t bal1 = 0, amt1 = 0, bal2 = 0, amt2 = 0, ball = 0, amtl = 0;
	recon_day day1 = 0, dayl = 0;
	size_t nrows = 0;

	recon_csv_init(x, path, buf, len, spec->delimiter, e);
	datefmt_compile(spec->date_format ? spec->date_format : "%Y-%m-%d",
	    &df);

	/* The header: the last of header_rows names the columns. */
	for (int h = 0; h < spec->header_rows; h++) {
		if ((r = recon_csv_next(x, &hline)) < 0)
			goto out;
		if (r == 0) {
			err_setc(e, ERR_INVALID, "%s: no statement lines (the"
			    " file ends within its %d header rows)", path,
			    spec->header_rows);
			goto out;
		}
		if (x->n == 1 && x->cells[0].len == 0)
			h--;   /* blank lines before the header */
	}
	if (spec->header_rows > 0)
		ncols = x->n;
	for (int c = 0; c < C_N; c++) {
		bool required = c == C_DATE ||
		    (c == C_AMOUNT && spec->sign != SIGN_DEBIT_CREDIT) ||
		    ((c == C_DEBIT || c == C_CREDIT) &&
		    spec->sign == SIGN_DEBIT_CREDIT) ||
		    (c == C_FLAG && spec->sign == SIGN_FLAG);

		idx[c] = -1;
		if (names[c] != NULL && all_digits(names[c])) {
			idx[c] = atoi(names[c]) - 1;
			snprintf(colname[c], sizeof(colname[c]), "%s", names[c]);
			if (ncols >= 0 && idx[c] >= ncols) {
				err_setc(e, ERR_INVALID, "%s:%u: column %s"
				    " (%s) is beyond the %d columns of the"
				    " header", path, hline, names[c],
				    col_default[c], ncols);
				goto out;
			}
			continue;
		}
		if (spec->header_rows == 0) {
			if (names[c] != NULL) {
				err_setc(e, ERR_INVALID, "%s: column %s = \"%s\""
				    " needs a header row (header_rows = 0):"
				    " give its number instead", path,
				    col_default[c], names[c]);
				goto out;
			}
			if (required) {
				err_setc(e, ERR_INVALID, "%s: the %s column is"
				    " not mapped: set columns.%s to its"
				    " number", path, col_default[c],
				    col_default[c]);
				goto out;
			}
			continue;
		}
		for (int k = 0; k < x->n; k++) {
			const struct recon_cell *hc = &x->cells[k];

			if (names[c] != NULL ? (hc->len == strlen(names[c]) &&
			    memcmp(hc->s, names[c], hc->len) == 0) :
			    (hc->len == strlen(col_default[c]) &&
			    strncasecmp(hc->s, col_default[c], hc->len) == 0)) {
				idx[c] = k;
				snprintf(colname[c], sizeof(colname[c]), "%.*s",
				    (int)hc->len, hc->s);
				break;
			}
		}
		if (idx[c] < 0 && (names[c] != NULL || required)) {
			char have[200] = "";

			for (int k = 0; k < x->n && strlen(have) < 150; k++)
				snprintf(have + strlen(have), sizeof(have) -
				    strlen(have), "%s\"%.*s\"", k ? ", " : "",
				    (int)x->cells[k].len, x->cells[k].s);
			if (names[c] != NULL)
				err_setc(e, ERR_INVALID, "%s:%u: missing column"
				    " \"%s\" (%s) in the header; it has %s",
				    path, hline, names[c], col_default[c], have);
			else
				err_setc(e, ERR_INVALID, "%s:%u: no %s column in"
				    " the header; map it in the rules (columns"
				    " = { %s = \"...\"; }); the header has %s",
				    path, hline, col_default[c], col_default[c],
				    have);
			goto out;
		}
	}

	while ((r = recon_csv_next(x, &line)) > 0) {
		struct recon_cell *cl = x->cells;
		struct recon_line *l;
		int64_t amount, v;
		recon_day day;
		bool empty = true;

		for (int k = 0; k < x->n && empty; k++)
			empty = cl[k].len == 0;
		if (empty)
			continue;
		if (skiplen > 0 && cl[0].len >= skiplen &&
		    memcmp(cl[0].s, spec->skip_pattern, skiplen) == 0)
			continue;
		if (ncols < 0)
			ncols = x->n;
		if (x->n != ncols) {
			err_setc(e, ERR_INVALID, "%s:%u: the row has %d cells,"
			    " the header has %d", path, line, x->n, ncols);
			goto out;
		}
		for (int c = 0; c < C_N; c++)
			if (idx[c] >= ncols) {
				err_setc(e, ERR_INVALID, "%s:%u: column %s (%s)"
				    " is beyond the %d cells of the row", path,
				    line, colname[c], col_default[c], ncols);
				goto out;
			}

		/* date */
		struct recon_cell *dc = &cl[idx[C_DATE]];
		if (dc->len == lastdatelen && lastday >= 0 &&
		    memcmp(dc->s, lastdate, dc->len) == 0) {
			day = lastday;
		} else {
			day = datefmt_parse(&df, dc->s, dc->len);
			if (day < 0) {
				char what[96];

				snprintf(what, sizeof(what), "unparseable date;"
				    " date_format is \"%s\"", spec->date_format ?
				    spec->date_format : "%Y-%m-%d");
				bad_cell(x, line, what, colname[C_DATE], dc);
				goto out;
			}
			if (dc->len < sizeof(lastdate)) {
				memcpy(lastdate, dc->s, dc->len);
				lastdatelen = dc->len;
				lastday = day;
			}
		}

		/* amount, signed: + into the account */
		switch (spec->sign) {
		case SIGN_AMOUNT:
		case SIGN_FLAG:
			if (recon_amount_parse(cl[idx[C_AMOUNT]].s,
			    cl[idx[C_AMOUNT]].len, '.', &amount) < 0) {
				bad_cell(x, line, "unparseable amount",
				    colname[C_AMOUNT], &cl[idx[C_AMOUNT]]);
				goto out;
			}
			if (spec->sign == SIGN_FLAG) {
				struct recon_cell *fc = &cl[idx[C_FLAG]];

				if (fc->len == 0) {
					bad_cell(x, line, "empty debit/credit"
					    " flag", colname[C_FLAG], fc);
					goto out;
				}
				if (!(fc->len == flaglen && memcmp(fc->s,
				    spec->flag_in, flaglen) == 0))
					amount = -amount;
			}
			break;
		case SIGN_DEBIT_CREDIT: {
			struct recon_cell *d = &cl[idx[C_DEBIT]], *c = &cl[idx[C_CREDIT]];
			int64_t dv = 0, cv = 0;
			bool hasd = d->len > 0 && !(d->len == 1 && d->s[0] == '-');
			bool hasc = c->len > 0 && !(c->len == 1 && c->s[0] == '-');

			if (hasd && recon_amount_parse(d->s, d->len, '.', &dv) <
			    0) {
				bad_cell(x, line, "unparseable amount",
				    colname[C_DEBIT], d);
				goto out;
			}
			if (hasc && recon_amount_parse(c->s, c->len, '.', &cv) <
			    0) {
				bad_cell(x, line, "unparseable amount",
				    colname[C_CREDIT], c);
				goto out;
			}
			if (!hasd && !hasc) {
				err_setc(e, ERR_INVALID, "%s:%u: neither debit"
				    " nor credit has an amount (columns %s and"
				    " %s)", path, line, colname[C_DEBIT],
				    colname[C_CREDIT]);
				goto out;
			}
			if (dv != 0 && cv != 0) {
				err_setc(e, ERR_INVALID, "%s:%u: both debit and"
				    " credit have an amount (columns %s and"
				    " %s)", path, line, colname[C_DEBIT],
				    colname[C_CREDIT]);
				goto out;
			}
			amount = cv - dv;
			break;
		}
		default:
			amount = 0;
		}
		if (spec->negate)
			amount = -amount;

		l = recon_side_add(side);
		l->amount = amount;
		l->date = day;
		l->src_line = line;
		if (idx[C_VDATE] >= 0 && cl[idx[C_VDATE]].len > 0) {
			l->value_date = datefmt_parse(&df, cl[idx[C_VDATE]].s,
			    cl[idx[C_VDATE]].len);
			if (l->value_date < 0) {
				bad_cell(x, line, "unparseable value date",
				    colname[C_VDATE], &cl[idx[C_VDATE]]);
				goto out;
			}
		}
		if (idx[C_REF] >= 0)
			recon_line_set_ref(&side->arena, l, cl[idx[C_REF]].s,
			    cl[idx[C_REF]].len);
		if (idx[C_CP] >= 0 && cl[idx[C_CP]].len > 0)
			l->counterparty = recon_arena_strdup(&side->arena,
			    cl[idx[C_CP]].s, cl[idx[C_CP]].len);
		if (idx[C_TEXT] >= 0 && cl[idx[C_TEXT]].len > 0) {
			l->text = recon_arena_strdup(&side->arena,
			    cl[idx[C_TEXT]].s, cl[idx[C_TEXT]].len);
			l->reversal = says_reversal(cl[idx[C_TEXT]].s,
			    cl[idx[C_TEXT]].len);
		}
		if (idx[C_BATCH] >= 0 && cl[idx[C_BATCH]].len > 0)
			l->batch = recon_arena_strdup(&side->arena,
			    cl[idx[C_BATCH]].s, cl[idx[C_BATCH]].len);
		if (idx[C_ACCOUNT] >= 0 && cl[idx[C_ACCOUNT]].len > 0) {
			struct recon_cell *ac = &cl[idx[C_ACCOUNT]];

			if (st->account == NULL) {
				st->account = xstrndup(ac->s, ac->len);
			} else if (strlen(st->account) != ac->len ||
			    memcmp(st->account, ac->s, ac->len) != 0) {
				char what[160];

				snprintf(what, sizeof(what), "a second account"
				    " in one file (the rows above are for %s)",
				    st->account);
				bad_cell(x, line, what, colname[C_ACCOUNT], ac);
				goto out;
			}
		}
		if (idx[C_BALANCE] >= 0 && cl[idx[C_BALANCE]].len > 0) {
			if (recon_amount_parse(cl[idx[C_BALANCE]].s,
			    cl[idx[C_BALANCE]].len, '.', &v) < 0) {
				bad_cell(x, line, "unparseable balance",
				    colname[C_BALANCE], &cl[idx[C_BALANCE]]);
				goto out;
			}
			if (nbal == 0) {
				bal1 = v;
				amt1 = amount;
				day1 = day;
			} else if (nbal == 1) {
				bal2 = v;
				amt2 = amount;
			}
			nbal++;
			ball = v;
			amtl = amount;
			dayl = day;
		}
		nrows++;
	}
	if (r < 0)
		goto out;
	if (nrows == 0) {
		err_setc(e, ERR_INVALID, "%s: no statement lines", path);
		goto out;
	}
	if (nbal > 0) {
		bool newest_first;

		if (nbal >= 2 && bal2 == bal1 + amt2)
			newest_first = false;
		else if (nbal >= 2 && bal1 == bal2 + amt1)
			newest_first = true;
		else
			newest_first = day1 > dayl;
		st->has_opening = st->has_closing = true;
		if (newest_first) {
			st->opening = ball - amtl;
			st->closing = bal1;
		} else {
			st->opening = bal1 - amt1;
			st->closing = ball;
		}
	}
	rc = 0;
out:
	free(x);
	return rc;
}
