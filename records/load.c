/*
 * load.c - the rules of a match and reading record sets. The CSV is read
 * with recon/'s reader (encoding, quoting, file:line errors); a row whose
 * ID or birth date is wrong is kept and reported as an issue, because it
 * can still be matched by its other fields, while a file that cannot be
 * read as the rules say is refused with its file:line.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "recon.h"
#include "records.h"

static const char *const col_default[RC_N + 1] = { "id", "name", "birth",
    "sex", "region", "from", "to", "amount", "benefit", NULL };
static const char *const rules_keys[] = { "left", "right", "death", "prison",
    "recipients", "blocking", "region_prefix", "thresholds", "max_block",
    "threads", "variants", "today", NULL };
static const char *const side_keys[] = { "encoding", "delimiter", "columns",
    NULL };

void
rec_rules_default(struct rec_rules *r)
{
	memset(r, 0, sizeof(*r));
	r->blocking = REC_BLOCK_ID | REC_BLOCK_BIRTH_NAME;
	r->region_prefix = 4;
	r->auto_min = 90;
	r->review_min = 50;
	r->max_block = 1000;
	r->threads = 2;
}

static void
spec_clear(struct rec_spec *s)
{
	for (int i = 0; i < RC_N; i++)
		free(s->col[i]);
	memset(s, 0, sizeof(*s));
}

void
rec_rules_clear(struct rec_rules *r)
{
	for (int i = 0; i < r->nsides; i++) {
		free(r->side_name[i]);
		spec_clear(&r->side[i]);
	}
	free(r->variants_file);
	rec_variants_free(r->variants);
	memset(r, 0, sizeof(*r));
}

const struct rec_spec *
rec_rules_side(const struct rec_rules *r, const char *name)
{
	static const struct rec_spec def = { .encoding = "UTF-8",
	    .delimiter = ',' };

	for (int i = 0; i < r->nsides; i++)
		if (strcmp(r->side_name[i], name) == 0)
			return &r->side[i];
	if (strcmp(name, "left") != 0 && strcmp(name, "right") != 0)
		return rec_rules_side(r, "right");
	/* Rules written for a cross-check have no "right": its first
	 * registry stands in (clerkctl records match on a registry). */
	if (strcmp(name, "right") == 0)
		for (int i = 0; i < r->nsides; i++)
			if (strcmp(r->side_name[i], "left") != 0)
				return &r->side[i];
	return &def;
}

#define bad(e, s, ...) util_cfg_error((e), (s), "rules", __VA_ARGS__)

/* Every member of g must be one of keys; g's name says where. */
static int
check_keys(const config_setting_t *g, const char *const *keys, struct err *e)
{
	const char *where = config_setting_name(g);

	return util_cfg_check_keys(g, keys, where ? where : "rules", "rules",
	    e);
}

static int
side_load(const config_setting_t *g, struct rec_spec *s, struct err *e)
{
	const config_setting_t *cols;
	const char *v;

	memset(s, 0, sizeof(*s));
	strcpy(s->encoding, "UTF-8");
	s->delimiter = ',';
	if (!config_setting_is_group(g))
		return bad(e, g, "%s must be a group: { encoding = \"GBK\";"
		    " columns = { id = \"身份证号\"; ... }; }",
		    config_setting_name(g));
	if (check_keys(g, side_keys, e) < 0)
		return -1;
	if (config_setting_lookup_string(g, "encoding", &v)) {
		if (strlen(v) >= sizeof(s->encoding))
			return bad(e, config_setting_get_member(g, "encoding"),
			    "unknown encoding \"%s\" (UTF-8, GBK, GB18030)", v);
		snprintf(s->encoding, sizeof(s->encoding), "%s", v);
		for (char *p = s->encoding; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p -= 'a' - 'A';
	}
	if (config_setting_lookup_string(g, "delimiter", &v)) {
		if (strlen(v) != 1)
			return bad(e, config_setting_get_member(g, "delimiter"),
			    "delimiter is one character, e.g. \",\" or \"\\t\"");
		s->delimiter = v[0];
	}
	if ((cols = config_setting_get_member(g, "columns")) != NULL) {
		if (check_keys(cols, col_default, e) < 0)
			return -1;
		for (int c = 0; c < RC_N; c++) {
			const config_setting_t *m = config_setting_get_member(
			    cols, col_default[c]);

			if (m == NULL)
				continue;
			if (config_setting_type(m) == CONFIG_TYPE_INT)
				s->col[c] = xasprintf("%d",
				    config_setting_get_int(m));
			else if (config_setting_type(m) == CONFIG_TYPE_STRING)
				s->col[c] = xstrdup(config_setting_get_string(m));
			else
				return bad(e, m, "a column is its header name"
				    " or its number");
		}
	}
	return 0;
}

int
rec_rules_load(const config_setting_t *g, const char *base,
    struct rec_rules *r, struct err *e)
{
	const config_setting_t *m;
	const char *v;
	int i;

	if (check_keys(g, rules_keys, e) < 0)
		return -1;
	for (const char *const *k = rules_keys; k < rules_keys + 5; k++) {
		if ((m = config_setting_get_member(g, *k)) == NULL)
			continue;
		i = r->nsides++;
		r->side_name[i] = xstrdup(*k);
		if (side_load(m, &r->side[i], e) < 0)
			return -1;
	}
	if ((m = config_setting_get_member(g, "blocking")) != NULL) {
		if (!config_setting_is_array(m) && !config_setting_is_list(m))
			return bad(e, m, "blocking is a list: [\"id\","
			    " \"birth_name\", \"name_region\"]");
		r->blocking = 0;
		for (i = 0; i < config_setting_length(m); i++) {
			const char *b = config_setting_get_string_elem(m, i);

			if (b != NULL && strcmp(b, "id") == 0)
				r->blocking |= REC_BLOCK_ID;
			else if (b != NULL && strcmp(b, "birth_name") == 0)
				r->blocking |= REC_BLOCK_BIRTH_NAME;
			else if (b != NULL && strcmp(b, "name_region") == 0)
				r->blocking |= REC_BLOCK_NAME_REGION;
			else
				return bad(e, m, "unknown block \"%s\" (id,"
				    " birth_name, name_region)", b ? b : "?");
		}
		if (r->blocking == 0)
			return bad(e, m, "blocking needs at least one block:"
			    " comparing every pair is never done");
	}
	if (config_setting_lookup_int(g, "region_prefix", &i)) {
		if (i < 2 || i > 6)
			return bad(e, config_setting_get_member(g,
			    "region_prefix"), "region_prefix is 2 to 6 digits");
		r->region_prefix = i;
	}
	if ((m = config_setting_get_member(g, "thresholds")) != NULL) {
		static const char *const tk[] = { "auto", "review", NULL };
		int a = r->auto_min, rv = r->review_min;

		if (check_keys(m, tk, e) < 0)
			return -1;
		config_setting_lookup_int(m, "auto", &a);
		config_setting_lookup_int(m, "review", &rv);
		if (a > 100 || rv < 1 || rv > a)
			return bad(e, m, "thresholds need 1 <= review <= auto"
			    " <= 100 (scores run to 100)");
		r->auto_min = a;
		r->review_min = rv;
	}
	if (config_setting_lookup_int(g, "max_block", &i)) {
		if (i < 2)
			return bad(e, config_setting_get_member(g, "max_block"),
			    "max_block is at least 2");
		r->max_block = i;
	}
	if (config_setting_lookup_int(g, "threads", &i)) {
		if (i < 1 || i > 64)
			return bad(e, config_setting_get_member(g, "threads"),
			    "threads is 1 to 64");
		r->threads = i;
	}
	if (config_setting_lookup_int(g, "today", &i))
		r->today = i;
	if (config_setting_lookup_string(g, "variants", &v)) {
		char *path = v[0] == '/' || base == NULL ? xstrdup(v) :
		    xasprintf("%s/%s", base, v);

		r->variants_file = path;
		if ((r->variants = rec_variants_load(path, e)) == NULL) {
			char msg[sizeof(e->msg)];

			snprintf(msg, sizeof(msg), "%s", e->msg);
			return bad(e, config_setting_get_member(g, "variants"),
			    "%s", msg);
		}
	}
	return 0;
}

int
rec_rules_load_file(const char *path, struct rec_rules *r, struct err *e)
{
	config_t cfg;
	char *base = xstrdup(path), *slash = strrchr(base, '/');
	int rc;

	if (slash != NULL)
		*slash = '\0';
	else
		strcpy(base, ".");
	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			err_setc(e, ERR_NOTFOUND, "%s: cannot read the rules",
			    path);
		else
			err_setc(e, ERR_INVALID, "%s:%d: %s", path,
			    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		free(base);
		return -1;
	}
	rc = rec_rules_load(config_root_setting(&cfg), base, r, e);
	config_destroy(&cfg);
	free(base);
	return rc;
}

/* ---- reading a set ---- */

static void
issue(struct rec_set *s, uint32_t rec, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
issue(struct rec_set *s, uint32_t rec, uint32_t line, const char *fmt, ...)
{
	struct rec_issue *is;
	va_list ap;

	if (s->nissues == s->issues_cap) {
		s->issues_cap = s->issues_cap ? s->issues_cap * 2 : 64;
		s->issues = xrealloc(s->issues, s->issues_cap *
		    sizeof(*s->issues));
	}
	is = &s->issues[s->nissues++];
	is->rec = rec;
	is->line = line;
	va_start(ap, fmt);
	vsnprintf(is->what, sizeof(is->what), fmt, ap);
	va_end(ap);
}

static uint16_t
benefit_intern(struct rec_set *s, const char *v, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 1; i < s->nbenefits; i++)
		if (strlen(s->benefits[i]) == len &&
		    memcmp(s->benefits[i], v, len) == 0)
			return (uint16_t)i;
	if (s->nbenefits >= UINT16_MAX)
		return 0;
	s->benefits = xrealloc(s->benefits, (s->nbenefits + 1) *
	    sizeof(*s->benefits));
	s->benefits[s->nbenefits] = xstrndup(v, len);
	return (uint16_t)s->nbenefits++;
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int
sex_parse(const struct recon_cell *c)
{
	if (c->len == 0)
		return 0;
	if ((c->len == 3 && memcmp(c->s, "男", 3) == 0) ||
	    (c->len == 1 && (c->s[0] == 'M' || c->s[0] == 'm' ||
	    c->s[0] == '1')))
		return 1;
	if ((c->len == 3 && memcmp(c->s, "女", 3) == 0) ||
	    (c->len == 1 && (c->s[0] == 'F' || c->s[0] == 'f' ||
	    c->s[0] == '2')))
		return 2;
	return -1;
}

static void
cell_show(const struct recon_cell *c, char *out, size_t size)
{
	size_t n = c->len < 40 ? c->len : 40;

	while (n < c->len && n > 0 && ((unsigned char)c->s[n] & 0xC0) == 0x80)
		n--;
	snprintf(out, size, "%.*s", (int)n, c->s);
}

/* What the rows of one part of a file are read with. */
struct rows_job {
	const char *path;
	const struct rec_spec *spec;
	const struct rec_rules *r;
	int today;
	const int *idx;
	int ncols;
	struct recon_csv *x;
	struct rec_set *s;
	struct err *e;
	int rc;
};

static int
load_rows(struct rows_job *j)
{
	const char *path = j->path;
	const struct rec_spec *spec = j->spec;
	const struct rec_rules *r = j->r;
	const int *idx = j->idx;
	int today = j->today, ncols = j->ncols, rr;
	struct recon_csv *x = j->x;
	struct rec_set *s = j->s;
	struct err *e = j->e;
	unsigned line;

	while ((rr = recon_csv_next(x, &line)) > 0) {
		struct recon_cell *cl = x->cells;
		struct rec_record *rec;
		char norm[256], show[64];
		bool empty = true, was15, complete;
		enum cnid_status st;
		size_t nlen;
		uint32_t ri;

		for (int k = 0; k < x->n && empty; k++)
			empty = cl[k].len == 0;
		if (empty)
			continue;
		if (x->n != ncols) {
			err_setc(e, ERR_INVALID, "%s:%u: the row has %d cells,"
			    " the header has %d; a cell with the delimiter in"
			    " it must be quoted", path, line, x->n, ncols);
			return -1;
		}
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 4096;
			s->r = xrealloc(s->r, s->cap * sizeof(*s->r));
		}
		if (s->n >= UINT32_MAX - 1) {
			err_setc(e, ERR_INVALID, "%s:%u: too many records", path,
			    line);
			return -1;
		}
		ri = (uint32_t)s->n;
		rec = &s->r[s->n++];
		memset(rec, 0, sizeof(*rec));
		rec->line = line;
		rec->birth = rec->from = rec->to = REC_NODAY;

		/* name */
		nlen = rec_name_normalise(cl[idx[RC_NAME]].s,
		    cl[idx[RC_NAME]].len, r->variants, norm, sizeof(norm));
		if (nlen > 255)
			nlen = 255;
		if (s->names_len + nlen + 1 > s->names_cap) {
			s->names_cap = s->names_cap ? s->names_cap * 2 : 65536;
			while (s->names_len + nlen + 1 > s->names_cap)
				s->names_cap *= 2;
			s->names = xrealloc(s->names, s->names_cap);
		}
		if (s->names_len > UINT32_MAX - 512) {
			err_setc(e, ERR_INVALID, "%s:%u: too many names", path,
			    line);
			return -1;
		}
		rec->name = (uint32_t)s->names_len;
		memcpy(s->names + s->names_len, norm, nlen);
		s->names[s->names_len + nlen] = '\0';
		s->names_len += nlen + 1;
		rec->name_len = (uint8_t)nlen;
		rec->nkey = rec_name_key(norm, nlen, &complete);
		if (complete)
			rec->flags |= RF_INITIALS;
		if (nlen == 0)
			issue(s, ri, line, "no name");

		/* ID */
		{
			const struct recon_cell *ic = &cl[idx[RC_ID]];
			char id[19];

			st = ic->len ? rec_id_normalise(ic->s, ic->len, today,
			    id, &was15) : CNID_LENGTH;
			if (ic->len == 0) {
				issue(s, ri, line, "no ID; matched by name,"
				    " birth date and region only");
			} else {
				memcpy(rec->id, id, strlen(id) < 18 ?
				    strlen(id) : 18);
				rec->id_status = (uint8_t)st;
				if (was15)
					rec->flags |= RF_ID15;
				if (st != CNID_OK) {
					rec->flags |= RF_BAD_ID;
					cell_show(ic, show, sizeof(show));
					issue(s, ri, line, "ID %s: %s", show,
					    ids_cnid_status_message(st));
				}
				if (strlen(id) == 18 && st != CNID_LENGTH &&
				    st != CNID_CHARS) {
					char t[8];

					/* YYYYMMDD of the ID. */
					memcpy(t, id + 6, 8);
					rec->birth = rec_date_parse(t, 8);
					rec->sex = (uint8_t)((id[16] - '0') % 2 ==
					    1 ? 1 : 2);
					rec->region = (uint32_t)atoi((char[7]){
					    id[0], id[1], id[2], id[3], id[4],
					    id[5], 0 });
				}
			}
		}
		/* A birth column says it better than an ID with a typo. */
		if (idx[RC_BIRTH] >= 0 && cl[idx[RC_BIRTH]].len > 0) {
			rec_day b = rec_date_parse(cl[idx[RC_BIRTH]].s,
			    cl[idx[RC_BIRTH]].len);

			if (b == REC_NODAY) {
				rec->flags |= RF_BAD_BIRTH;
				cell_show(&cl[idx[RC_BIRTH]], show, sizeof(show));
				issue(s, ri, line, "birth date \"%s\" is not a"
				    " real date", show);
			} else
				rec->birth = b;
		}
		if (idx[RC_SEX] >= 0 && (rec->flags & RF_BAD_ID || !rec->sex)) {
			int sx = sex_parse(&cl[idx[RC_SEX]]);

			if (sx > 0)
				rec->sex = (uint8_t)sx;
		}
		if (idx[RC_REGION] >= 0 && cl[idx[RC_REGION]].len >= 6) {
			const char *p = cl[idx[RC_REGION]].s;
			uint32_t v = 0;
			int k;

			for (k = 0; k < 6 && p[k] >= '0' && p[k] <= '9'; k++)
				v = v * 10 + (uint32_t)(p[k] - '0');
			if (k == 6)
				rec->region = v;
		}
		for (int c = RC_FROM; c <= RC_TO; c++) {
			struct recon_cell *dc;
			rec_day d;

			if (idx[c] < 0 || (dc = &cl[idx[c]])->len == 0)
				continue;
			if ((d = rec_date_parse(dc->s, dc->len)) == REC_NODAY) {
				cell_show(dc, show, sizeof(show));
				err_setc(e, ERR_INVALID, "%s:%u: \"%s\" in column"
				    " %s (%s) is not a date (2026-11-23,"
				    " 2026/11/23, 20261123 or 2026年11月23日)",
				    path, line, show, spec->col[c] ?
				    spec->col[c] : col_default[c],
				    col_default[c]);
				return -1;
			}
			if (c == RC_FROM)
				rec->from = d;
			else
				rec->to = d;
		}
		if (idx[RC_AMOUNT] >= 0 && cl[idx[RC_AMOUNT]].len > 0 &&
		    recon_amount_parse(cl[idx[RC_AMOUNT]].s,
		    cl[idx[RC_AMOUNT]].len, '.', &rec->amount) < 0) {
			cell_show(&cl[idx[RC_AMOUNT]], show, sizeof(show));
			err_setc(e, ERR_INVALID, "%s:%u: \"%s\" in column %s is"
			    " not an amount (yuan, e.g. 1234.56)", path, line,
			    show, spec->col[RC_AMOUNT] ? spec->col[RC_AMOUNT] :
			    "amount");
			return -1;
		}
		if (idx[RC_BENEFIT] >= 0)
			rec->benefit = benefit_intern(s, cl[idx[RC_BENEFIT]].s,
			    cl[idx[RC_BENEFIT]].len);
	}
	return rr < 0 ? -1 : 0;
}

static void *
rows_thread(void *arg)
{
	struct rows_job *j = arg;

	j->rc = load_rows(j);
	return NULL;
}

/*
 * Joins b, the second half of a file, to a. b's records were read into
 * a's own array after the room the first half could need (one record per
 * line at most), so they move only if the first half had blank lines.
 */
static void
set_join(struct rec_set *a, struct rec_set *b)
{
	uint32_t base = (uint32_t)a->names_len, n0 = (uint32_t)a->n;

	if (a->r + a->n != b->r)
		memmove(a->r + a->n, b->r, b->n * sizeof(*b->r));
	if (a->names_len + b->names_len > a->names_cap) {
		a->names_cap = a->names_len + b->names_len;
		a->names = xrealloc(a->names, a->names_cap);
	}
	memcpy(a->names + a->names_len, b->names, b->names_len);
	a->names_len += b->names_len;
	for (size_t i = 0; i < b->n; i++) {
		struct rec_record *x = &a->r[a->n++];

		x->name += base;
		if (x->benefit != 0)
			x->benefit = benefit_intern(a, b->benefits[x->benefit],
			    strlen(b->benefits[x->benefit]));
	}
	for (size_t i = 0; i < b->nissues; i++) {
		if (a->nissues == a->issues_cap) {
			a->issues_cap = a->issues_cap ? a->issues_cap * 2 : 64;
			a->issues = xrealloc(a->issues, a->issues_cap *
			    sizeof(*a->issues));
		}
		a->issues[a->nissues] = b->issues[i];
		a->issues[a->nissues++].rec += n0;
	}
	b->r = NULL;   /* a's */
}

int
rec_set_load(const char *path, const struct rec_spec *spec,
    const struct rec_rules *r, struct rec_set *s, struct err *e)
{
	struct recon_csv *x;
	char *buf;
	size_t len;
	int idx[RC_N], ncols, rc = -1, rr;
	unsigned hline = 0;
	int today = r->today;

	if (today == 0) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		today = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
		    tm.tm_mday;
	}
	memset(s, 0, sizeof(*s));
	s->path = xstrdup(path);
	s->benefits = xcalloc(1, sizeof(*s->benefits));
	s->benefits[0] = xstrdup("");
	s->nbenefits = 1;
	if ((buf = recon_read_text(path, spec->encoding, &len, e)) == NULL)
		return -1;
	/* Size the arrays once: a line per record at most (a quoted line
	 * break only makes this larger), because growing 5M records by
	 * doubling copies them twice over. */
	{
		size_t lines = 1;

		for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf +
		    len - p))) != NULL; p++)
			lines++;
		s->cap = lines;
		s->r = xmalloc(s->cap * sizeof(*s->r));
		s->names_cap = len / 3 + 64;
		s->names = xmalloc(s->names_cap);
	}
	x = xcalloc(1, sizeof(*x));
	recon_csv_init(x, path, buf, len, spec->delimiter, e);
	do {
		if ((rr = recon_csv_next(x, &hline)) < 0)
			goto out;
		if (rr == 0) {
			err_setc(e, ERR_INVALID, "%s: no records (the file is"
			    " empty); a header row names the columns", path);
			goto out;
		}
	} while (x->n == 1 && x->cells[0].len == 0);
	ncols = x->n;
	for (int c = 0; c < RC_N; c++) {
		const char *want = spec->col[c];

		idx[c] = -1;
		if (want != NULL && all_digits(want)) {
			idx[c] = atoi(want) - 1;
			if (idx[c] < 0 || idx[c] >= ncols) {
				err_setc(e, ERR_INVALID, "%s:%u: column %s (%s)"
				    " is beyond the %d columns of the header",
				    path, hline, want, col_default[c], ncols);
				goto out;
			}
			continue;
		}
		for (int k = 0; k < x->n; k++) {
			const struct recon_cell *hc = &x->cells[k];

			if (want != NULL ? (hc->len == strlen(want) &&
			    memcmp(hc->s, want, hc->len) == 0) :
			    (hc->len == strlen(col_default[c]) &&
			    strncasecmp(hc->s, col_default[c], hc->len) == 0)) {
				idx[c] = k;
				break;
			}
		}
		if (idx[c] < 0 && (want != NULL || c == RC_NAME ||
		    c == RC_ID)) {
			char have[200] = "";

			for (int k = 0; k < x->n && strlen(have) < 150; k++)
				snprintf(have + strlen(have), sizeof(have) -
				    strlen(have), "%s\"%.*s\"", k ? ", " : "",
				    (int)x->cells[k].len, x->cells[k].s);
			err_setc(e, ERR_INVALID, "%s:%u: no column \"%s\" (%s)"
			    " in the header; map it in the rules (columns ="
			    " { %s = \"...\"; }); the header has %s", path,
			    hline, want ? want : col_default[c],
			    col_default[c], col_default[c], have);
			goto out;
		}
	}

	{
		struct rows_job j1 = { path, spec, r, today, idx, ncols, x, s, e,
		    0 };
		char *body = x->p, *end = x->end, *split = NULL;
		struct recon_csv *x2 = NULL;
		struct rec_set s2;
		struct rows_job j2;
		struct err e2;
		pthread_t t;
		bool threaded;

		/* A big file without quotes splits at a line break: its two
		 * halves are read on two threads. With quotes a line break
		 * may sit inside a cell, so it is read in one piece. */
		if (r->threads > 1 && end - body > (8 << 20) &&
		    memchr(body, '"', (size_t)(end - body)) == NULL &&
		    (split = memchr(body + (end - body) / 2, '\n',
		    (size_t)(end - body - (end - body) / 2))) != NULL &&
		    ++split < end) {
			unsigned line2 = x->line;

			for (const char *p = body; (p = memchr(p, '\n',
			    (size_t)(split - p))) != NULL; p++)
				line2++;
			x2 = xcalloc(1, sizeof(*x2));
			recon_csv_init(x2, path, split, (size_t)(end - split),
			    spec->delimiter, &e2);
			x2->line = line2;
			x->end = split;
			memset(&s2, 0, sizeof(s2));
			s2.benefits = xcalloc(1, sizeof(*s2.benefits));
			s2.benefits[0] = xstrdup("");
			s2.nbenefits = 1;
			/* s->cap is the file's line count: the first half
			 * takes at most line2 - x->line records, the second
			 * the rest, so it never grows (and never reallocs a
			 * pointer into s->r). */
			s2.r = s->r + (line2 - x->line);
			s2.cap = s->cap - (line2 - x->line);
			s2.names_cap = (size_t)(end - split) / 3 + 64;
			s2.names = xmalloc(s2.names_cap);
			j2 = (struct rows_job){ path, spec, r, today, idx, ncols,
			    x2, &s2, &e2, 0 };
			threaded = pthread_create(&t, NULL, rows_thread, &j2) ==
			    0;
			if (!threaded)
				rows_thread(&j2);
			j1.rc = load_rows(&j1);
			if (threaded)
				pthread_join(t, NULL);
			if (j1.rc == 0 && j2.rc < 0) {
				*e = e2;
				j1.rc = -1;
			}
			if (j1.rc == 0)
				set_join(s, &s2);
			s2.r = NULL;   /* s's */
			rec_set_free(&s2);
			free(x2);
		} else
			j1.rc = load_rows(&j1);
		if (j1.rc < 0)
			goto out;
	}
	if (s->n == 0) {
		err_setc(e, ERR_INVALID, "%s: no records after the header", path);
		goto out;
	}
	rc = 0;
out:
	free(x);
	free(buf);
	return rc;
}

void
rec_set_free(struct rec_set *s)
{
	free(s->path);
	free(s->r);
	free(s->names);
	for (size_t i = 0; i < s->nbenefits; i++)
		free(s->benefits[i]);
	free(s->benefits);
	free(s->issues);
	memset(s, 0, sizeof(*s));
}

struct load_job {
	const char *path;
	const struct rec_spec *spec;
	const struct rec_rules *r;
	struct rec_set *s;
	struct err e;
	int rc;
};

static void *
load_job(void *arg)
{
	struct load_job *j = arg;

	j->rc = rec_set_load(j->path, j->spec, j->r, j->s, &j->e);
	return NULL;
}

int
rec_load_pair(const char *left, const struct rec_spec *lspec,
    const char *right, const struct rec_spec *rspec,
    const struct rec_rules *r, struct rec_set *L, struct rec_set *R,
    struct err *e)
{
	struct load_job j = { right, rspec, r, R, { 0 }, 0 };
	pthread_t t;
	bool threaded = false;
	int rc;

	memset(R, 0, sizeof(*R));
	/* The two files share nothing: the smaller one on a second core. */
	if (right != NULL) {
		threaded = r->threads > 1 && pthread_create(&t, NULL, load_job,
		    &j) == 0;
		if (!threaded)
			load_job(&j);
	}
	rc = rec_set_load(left, lspec, r, L, e);
	if (threaded)
		pthread_join(t, NULL);
	if (rc == 0 && right != NULL && j.rc < 0) {
		*e = j.e;
		rc = -1;
	}
	if (rc < 0) {
		rec_set_free(L);
		rec_set_free(R);
	}
	return rc;
}
