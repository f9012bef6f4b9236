/*
 * rules.c - the reconciliation rules of a playbook step or a rules file:
 * how the bank's and the ledger's CSV exports map to lines, and how the
 * matcher may pair them. Every mistake is reported as FILE:LINE, unknown
 * keys included, because a misspelt key silently ignored would change
 * what gets matched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "recon.h"

static const char *const group_keys[] = { "bank", "ledger", "match", NULL };
static const char *const csv_keys[] = { "encoding", "delimiter",
    "header_rows", "skip", "date_format", "columns", "sign", "flag_in",
    "negate", NULL };
static const char *const column_keys[] = { "date", "value_date", "amount",
    "debit", "credit", "flag", "ref", "counterparty", "text", "batch",
    "account", "balance", NULL };
static const char *const match_keys[] = { "window", "subset_max_parts",
    "subset_max_candidates", "fee_tolerance", "reversals", "duplicates",
    "account", NULL };

static void
csv_default(struct recon_csv_spec *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->encoding, "UTF-8");
	c->delimiter = ',';
	c->header_rows = 1;
	c->date_format = xstrdup("%Y-%m-%d");
	c->sign = SIGN_AMOUNT;
}

static void
csv_clear(struct recon_csv_spec *c)
{
	free(c->skip_pattern);
	free(c->date_format);
	free(c->col_date);
	free(c->col_value_date);
	free(c->col_amount);
	free(c->col_debit);
	free(c->col_credit);
	free(c->col_flag);
	free(c->col_ref);
	free(c->col_counterparty);
	free(c->col_text);
	free(c->col_batch);
	free(c->col_account);
	free(c->col_balance);
	free(c->flag_in);
	memset(c, 0, sizeof(*c));
}

void
recon_rules_default(struct recon_rules *r)
{
	memset(r, 0, sizeof(*r));
	csv_default(&r->bank_csv);
	csv_default(&r->ledger_csv);
	r->window_before = 1;
	r->window_after = 3;
	r->subset_max_parts = 8;
	r->subset_max_candidates = 30;
	r->fee_tolerance = 0;
	r->reversals = true;
	r->duplicates = true;
}

void
recon_rules_clear(struct recon_rules *r)
{
	csv_clear(&r->bank_csv);
	csv_clear(&r->ledger_csv);
	free(r->expect_account);
	memset(r, 0, sizeof(*r));
}

#define bad(e, s, ...) util_cfg_error((e), (s), "rules", __VA_ARGS__)
#define check_keys(g, keys, where, e) \
	util_cfg_check_keys((g), (keys), (where), "rules", (e))

static int
get_string(const config_setting_t *m, const char *what, const char **v,
    struct err *e)
{
	if (config_setting_type(m) != CONFIG_TYPE_STRING)
		return bad(e, m, "%s must be a string in double quotes", what);
	*v = config_setting_get_string(m);
	return 0;
}

static int
set_string(const config_setting_t *m, const char *what, char **dst,
    struct err *e)
{
	const char *v = "";

	if (get_string(m, what, &v, e) < 0)
		return -1;
	free(*dst);
	*dst = xstrdup(v);
	return 0;
}

static int
get_int(const config_setting_t *m, const char *what, int lo, int hi, int *dst,
    struct err *e)
{
	long long v;

	if (config_setting_type(m) != CONFIG_TYPE_INT &&
	    config_setting_type(m) != CONFIG_TYPE_INT64)
		return bad(e, m, "%s must be a whole number", what);
	v = config_setting_get_int64(m);
	if (v < lo || v > hi)
		return bad(e, m, "%s must be between %d and %d, not %lld", what,
		    lo, hi, v);
	*dst = (int)v;
	return 0;
}

static int
get_bool(const config_setting_t *m, const char *what, bool *dst,
    struct err *e)
{
	if (config_setting_type(m) != CONFIG_TYPE_BOOL)
		return bad(e, m, "%s must be true or false", what);
	*dst = config_setting_get_bool(m) != 0;
	return 0;
}

/* The dates recon_parse_csv reads: %Y, %m and %d once each, anything
 * else literal. */
static bool
date_format_ok(const char *f)
{
	int y = 0, m = 0, d = 0;

	for (; *f != '\0'; f++) {
		if (*f != '%')
			continue;
		f++;
		if (*f == 'Y')
			y++;
		else if (*f == 'm')
			m++;
		else if (*f == 'd')
			d++;
		else if (*f != '%')
			return false;
	}
	return y == 1 && m == 1 && d == 1;
}

static int
load_columns(const config_setting_t *g, struct recon_csv_spec *c,
    const char *side, struct err *e)
{
	struct {
		const char *key;
		char **dst;
	} cols[] = {
		{ "date", &c->col_date }, { "value_date", &c->col_value_date },
		{ "amount", &c->col_amount }, { "debit", &c->col_debit },
		{ "credit", &c->col_credit }, { "flag", &c->col_flag },
		{ "ref", &c->col_ref }, { "counterparty", &c->col_counterparty },
		{ "text", &c->col_text }, { "batch", &c->col_batch },
		{ "account", &c->col_account }, { "balance", &c->col_balance },
	};
	char where[64];

	snprintf(where, sizeof(where), "%s.columns", side);
	if (!config_setting_is_group(g))
		return bad(e, g, "%s must be a group: columns = { date ="
		    " \"交易日期\"; amount = \"金额\"; }", where);
	if (check_keys(g, column_keys, where, e) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		const config_setting_t *m = config_setting_get_member(g,
		    cols[i].key);

		if (m == NULL)
			continue;
		if (config_setting_type(m) == CONFIG_TYPE_INT ||
		    config_setting_type(m) == CONFIG_TYPE_INT64) {
			long long n = config_setting_get_int64(m);

			if (n < 1 || n > 1000)
				return bad(e, m, "column %s: a column number"
				    " counts from 1 (got %lld)", cols[i].key, n);
			free(*cols[i].dst);
			*cols[i].dst = xasprintf("%lld", n);
		} else if (config_setting_type(m) == CONFIG_TYPE_STRING) {
			const char *v = config_setting_get_string(m);

			if (v[0] == '\0')
				return bad(e, m, "column %s: the header name is"
				    " empty", cols[i].key);
			free(*cols[i].dst);
			*cols[i].dst = xstrdup(v);
		} else {
			return bad(e, m, "column %s must be a header name in"
			    " double quotes or a column number", cols[i].key);
		}
	}
	return 0;
}

static int
load_csv(const config_setting_t *g, struct recon_csv_spec *c,
    const char *side, struct err *e)
{
	const config_setting_t *m;
	const char *v = "";

	if (!config_setting_is_group(g))
		return bad(e, g, "%s must be a group: %s = { encoding = \"GBK\";"
		    " columns = { ... }; }", side, side);
	if (check_keys(g, csv_keys, side, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "encoding")) != NULL) {
		if (get_string(m, "encoding", &v, e) < 0)
			return -1;
		if (strcasecmp(v, "UTF-8") == 0 || strcasecmp(v, "UTF8") == 0)
			strcpy(c->encoding, "UTF-8");
		else if (strcasecmp(v, "GBK") == 0 ||
		    strcasecmp(v, "GB2312") == 0 || strcasecmp(v, "CP936") == 0)
			strcpy(c->encoding, "GBK");
		else if (strcasecmp(v, "GB18030") == 0)
			strcpy(c->encoding, "GB18030");
		else
			return bad(e, m, "encoding \"%s\" is not supported; use"
			    " \"UTF-8\", \"GBK\" or \"GB18030\"", v);
	}
	if ((m = config_setting_get_member(g, "delimiter")) != NULL) {
		if (get_string(m, "delimiter", &v, e) < 0)
			return -1;
		if (strcasecmp(v, "tab") == 0)
			c->delimiter = '\t';
		else if (strlen(v) == 1 && v[0] != '"' && v[0] != '\n' &&
		    v[0] != '\r')
			c->delimiter = v[0];
		else
			return bad(e, m, "delimiter must be one ASCII character"
			    " (\",\", \";\", \"|\") or \"tab\", not \"%s\"", v);
	}
	if ((m = config_setting_get_member(g, "header_rows")) != NULL &&
	    get_int(m, "header_rows", 0, 100, &c->header_rows, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "skip")) != NULL) {
		if (set_string(m, "skip", &c->skip_pattern, e) < 0)
			return -1;
		if (c->skip_pattern[0] == '\0')
			return bad(e, m, "skip is empty; it would skip every"
			    " row (write the start of the summary rows, e.g."
			    " \"合计\")");
	}
	if ((m = config_setting_get_member(g, "date_format")) != NULL) {
		if (get_string(m, "date_format", &v, e) < 0)
			return -1;
		if (!date_format_ok(v))
			return bad(e, m, "date_format \"%s\" needs %%Y, %%m and"
			    " %%d once each (e.g. \"%%Y-%%m-%%d\", \"%%Y%%m%%d\","
			    " \"%%d/%%m/%%Y\")", v);
		free(c->date_format);
		c->date_format = xstrdup(v);
	}
	if ((m = config_setting_get_member(g, "columns")) != NULL &&
	    load_columns(m, c, side, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "sign")) != NULL) {
		if (get_string(m, "sign", &v, e) < 0)
			return -1;
		if (strcmp(v, "amount") == 0)
			c->sign = SIGN_AMOUNT;
		else if (strcmp(v, "debit_credit") == 0)
			c->sign = SIGN_DEBIT_CREDIT;
		else if (strcmp(v, "flag") == 0)
			c->sign = SIGN_FLAG;
		else
			return bad(e, m, "sign must be \"amount\","
			    " \"debit_credit\" or \"flag\", not \"%s\"", v);
	}
	if ((m = config_setting_get_member(g, "flag_in")) != NULL &&
	    set_string(m, "flag_in", &c->flag_in, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "negate")) != NULL &&
	    get_bool(m, "negate", &c->negate, e) < 0)
		return -1;
	if (c->sign == SIGN_FLAG && (c->flag_in == NULL ||
	    c->flag_in[0] == '\0'))
		return bad(e, g, "%s: sign = \"flag\" needs flag_in, the flag"
		    " value meaning money in (e.g. flag_in = \"贷\")", side);
	return 0;
}

/* "0.50" yuan -> 50 fen, exactly. */
static int
load_tolerance(const config_setting_t *m, int64_t *dst, struct err *e)
{
	const char *v = "";
	int64_t t;

	if (config_setting_type(m) == CONFIG_TYPE_INT ||
	    config_setting_type(m) == CONFIG_TYPE_INT64) {
		long long n = config_setting_get_int64(m);

		if (n < 0 || n > 1000000000LL)
			return bad(e, m, "fee_tolerance must not be negative");
		*dst = n * 100;
		return 0;
	}
	if (config_setting_type(m) != CONFIG_TYPE_STRING)
		return bad(e, m, "fee_tolerance must be an amount in double"
		    " quotes, e.g. \"0.50\" (a float would not be exact)");
	v = config_setting_get_string(m);
	if (recon_amount_parse(v, strlen(v), '.', &t) < 0)
		return bad(e, m, "fee_tolerance \"%s\" is not an amount; write"
		    " yuan with at most 2 decimals, e.g. \"0.50\"", v);
	if (t < 0)
		return bad(e, m, "fee_tolerance must not be negative");
	*dst = t;
	return 0;
}

static int
load_match(const config_setting_t *g, struct recon_rules *r, struct err *e)
{
	const config_setting_t *m;

	if (!config_setting_is_group(g))
		return bad(e, g, "match must be a group: match = { window ="
		    " [-1, 3]; }");
	if (check_keys(g, match_keys, "match", e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "window")) != NULL) {
		const config_setting_t *a, *b;
		int lo = 0, hi = 0;

		if ((!config_setting_is_array(m) && !config_setting_is_list(m)) ||
		    config_setting_length(m) != 2)
			return bad(e, m, "window must be [days before, days"
			    " after], e.g. [-1, 3]");
		a = config_setting_get_elem(m, 0);
		b = config_setting_get_elem(m, 1);
		if (get_int(a, "window start", -366, 0, &lo, e) < 0 ||
		    get_int(b, "window end", 0, 366, &hi, e) < 0)
			return -1;
		r->window_before = -lo;
		r->window_after = hi;
	}
	if ((m = config_setting_get_member(g, "subset_max_parts")) != NULL &&
	    get_int(m, "subset_max_parts", 2, 32, &r->subset_max_parts, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "subset_max_candidates")) !=
	    NULL && get_int(m, "subset_max_candidates", 2, 64,
	    &r->subset_max_candidates, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "fee_tolerance")) != NULL &&
	    load_tolerance(m, &r->fee_tolerance, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "reversals")) != NULL &&
	    get_bool(m, "reversals", &r->reversals, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "duplicates")) != NULL &&
	    get_bool(m, "duplicates", &r->duplicates, e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "account")) != NULL) {
		if (set_string(m, "account", &r->expect_account, e) < 0)
			return -1;
		if (r->expect_account[0] == '\0') {
			free(r->expect_account);
			r->expect_account = NULL;
		}
	}
	return 0;
}

int
recon_rules_load(const config_setting_t *g, struct recon_rules *r,
    struct err *e)
{
	const config_setting_t *m;

	if (!config_setting_is_group(g))
		return bad(e, g, "rules must be a group: rules = { bank = {...};"
		    " ledger = {...}; match = {...}; }");
	if (check_keys(g, group_keys, "rules", e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "bank")) != NULL &&
	    load_csv(m, &r->bank_csv, "bank", e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "ledger")) != NULL &&
	    load_csv(m, &r->ledger_csv, "ledger", e) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "match")) != NULL &&
	    load_match(m, r, e) < 0)
		return -1;
	r->bank_csv.expect_account = r->expect_account;
	r->ledger_csv.expect_account = r->expect_account;
	return 0;
}

int
recon_rules_load_file(const char *path, struct recon_rules *r,
    struct err *e)
{
	config_t cfg;
	config_setting_t *root, *g;
	int rc;

	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			err_setc(e, ERR_INVALID, "%s: cannot read the rules"
			    " file", path);
		else
			err_setc(e, ERR_INVALID, "%s:%d: %s",
			    config_error_file(&cfg) ? config_error_file(&cfg) :
			    path, config_error_line(&cfg),
			    config_error_text(&cfg));
		config_destroy(&cfg);
		return -1;
	}
	root = config_root_setting(&cfg);
	/* Either the rules at the top level or one "rules" group, so a
	 * step's rules can be moved to a file unchanged. */
	g = config_setting_get_member(root, "rules");
	if (g == NULL || config_setting_length(root) != 1)
		g = root;
	rc = recon_rules_load(g, r, e);
	config_destroy(&cfg);
	return rc;
}
