/*
 * step_validate.c - "validate": checks payload fields before anything is
 * sent anywhere. Each field names a rule:
 *
 *   cn_id     18-character resident ID number, GB 11643 check character
 *             and a real birth date
 *   uscc      unified social credit code, GB 32100 check character
 *   period    "YYYY-MM..YYYY-MM", start not after end
 *   int       a whole number >= 0
 *   nonempty  any non-empty string
 *   re:REGEX  an extended regular expression the whole value must match
 *
 * Every failing field is reported at once (a business error: the data is
 * wrong, retrying will not help).
 *
 * The ID and USCC checks are ocr/ids.c's, the same the OCR check uses.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "playbook.h"

enum rule { R_CN_ID, R_USCC, R_PERIOD, R_INT, R_NONEMPTY, R_RE };

struct vfield {
	char *name;
	enum rule rule;
	regex_t re;
};

struct validate_conf {
	struct vfield *f;
	size_t n;
};

static const char *const validate_keys[] = { "fields", NULL };

static bool
valid_period(const char *s)
{
	int y1, m1, y2, m2, n = 0;

	if (sscanf(s, "%4d-%2d..%4d-%2d%n", &y1, &m1, &y2, &m2, &n) != 4 ||
	    s[n] != '\0' || strlen(s) != 16)
		return false;
	if (m1 < 1 || m1 > 12 || m2 < 1 || m2 > 12 || y1 < 1900)
		return false;
	return y1 * 12 + m1 <= y2 * 12 + m2;
}

static void
validate_release(void *p)
{
	struct validate_conf *c = p;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (c->f[i].rule == R_RE)
			regfree(&c->f[i].re);
		free(c->f[i].name);
	}
	free(c->f);
	free(c);
}

static int
validate_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	static const struct { const char *name; enum rule r; } rules[] = {
		{ "cn_id", R_CN_ID }, { "uscc", R_USCC }, { "period", R_PERIOD },
		{ "int", R_INT }, { "nonempty", R_NONEMPTY },
	};
	struct validate_conf *c = xcalloc(1, sizeof(*c));
	const config_setting_t *g = config_setting_get_member(s, "fields");

	*confp = c;
	if (g == NULL || !config_setting_is_group(g) ||
	    config_setting_length(g) == 0) {
		pb_diag_add(d, s, "validate needs fields = { id_no = \"cn_id\";"
		    " ... } (rules: cn_id, uscc, period, int, nonempty,"
		    " re:REGEX)");
		return -1;
	}
	c->f = xcalloc((size_t)config_setting_length(g), sizeof(*c->f));
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *v = config_setting_get_string(m);
		struct vfield *f = &c->f[c->n];
		bool ok = false;

		if (v == NULL) {
			pb_diag_add(d, m, "rule of %s must be a string",
			    config_setting_name(m));
			return -1;
		}
		for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++)
			if (strcmp(v, rules[k].name) == 0) {
				f->rule = rules[k].r;
				ok = true;
			}
		if (!ok && strncmp(v, "re:", 3) == 0) {
			if (regcomp(&f->re, v + 3, REG_EXTENDED | REG_NOSUB)
			    != 0) {
				pb_diag_add(d, m, "\"%s\" is not a valid"
				    " extended regular expression", v + 3);
				return -1;
			}
			f->rule = R_RE;
			ok = true;
		}
		if (!ok) {
			pb_diag_add(d, m, "unknown rule \"%s\" (rules: cn_id,"
			    " uscc, period, int, nonempty, re:REGEX)", v);
			return -1;
		}
		f->name = xstrdup(config_setting_name(m));
		c->n++;
	}
	return 0;
}

static enum step_result
validate_run(struct step_ctx *ctx, void *p)
{
	struct validate_conf *c = p;
	json_t *bad = json_object();
	char msg[400] = "";

	for (size_t i = 0; i < c->n; i++) {
		json_t *v = json_object_get(ctx->payload, c->f[i].name);
		const char *s = json_string_value(v), *why = NULL;
		char num[32];
		struct cnid id;
		enum cnid_status st;
		enum uscc_status us;

		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
			s = num;
		}
		if (s == NULL)
			why = "missing";
		else switch (c->f[i].rule) {
		case R_CN_ID:
			/* A 15-digit ID has no check character: the
			 * legacy systems want the 18-digit form. */
			if (strlen(s) != 18)
				why = ids_cnid_status_message(CNID_LENGTH);
			else if ((st = ids_cnid_parse(s, 0, &id)) != CNID_OK)
				why = ids_cnid_status_message(st);
			break;
		case R_USCC:
			if ((us = ids_uscc_validate(s, NULL)) != USCC_OK)
				why = ids_uscc_status_message(us);
			break;
		case R_PERIOD:
			if (!valid_period(s))
				why = "not a period YYYY-MM..YYYY-MM";
			break;
		case R_INT:
			if (s[0] == '\0' || strspn(s, "0123456789") !=
			    strlen(s))
				why = "not a whole number";
			break;
		case R_NONEMPTY:
			if (s[0] == '\0')
				why = "empty";
			break;
		case R_RE:
			if (regexec(&c->f[i].re, s, 0, NULL, 0) != 0)
				why = "does not match the expected pattern";
			break;
		}
		if (why != NULL) {
			json_object_set_new(bad, c->f[i].name, json_string(why));
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			    "%s%s: %s", msg[0] ? "; " : "", c->f[i].name, why);
		}
	}
	if (json_object_size(bad) > 0) {
		ctx->context = json_pack("{s:o}", "invalid", bad);
		return step_fail(ctx, STEP_BUSINESS_ERROR, "invalid_field",
		    "%s", msg);
	}
	json_decref(bad);
	ctx->output = json_pack("{s:b}", "valid", 1);
	return STEP_OK;
}

static int
validate_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "valid", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

const struct step_kind step_validate = {
	.name = "validate",
	.summary = "checks payload fields (ID number, USCC, periods, patterns)",
	.keys = validate_keys,
	.prepare = validate_prepare,
	.release = validate_release,
	.run = validate_run,
	.output_has = validate_output_has,
};
