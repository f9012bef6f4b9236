/*
 * template.c - document templates (libconfig files under
 * playbooks/templates/): what a document is, which languages it is in,
 * its page limits and quality thresholds, and the fields to read - by
 * label, by zone or by pattern. playbooks/templates/README.md is the
 * reference for authors.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>
#include <pcre2.h>

#include "ocr.h"

struct tload {
	const char *file;
	struct err *e;
	bool failed;
	/* division tables this template has loaded, one copy each: fields
	 * hold references (the table is the template's, never another's) */
	struct ocr_divisions **div;
	size_t ndiv;
};

static void
tfail(struct tload *l, const config_setting_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
tfail(struct tload *l, const config_setting_t *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (l->failed)
		return;   /* the first problem is the one to fix first */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_setc(l->e, ERR_INVALID, "%s:%d: %s", l->file, at ?
	    (int)config_setting_source_line(at) : 0, msg);
	l->failed = true;
}

static bool
known_keys(struct tload *l, const config_setting_t *g,
    const char *const *keys, const char *what)
{
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		tfail(l, g, "%s must be a group: { key = value; ... }", what);
		return false;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		bool ok = false;

		for (const char *const *k = keys; *k != NULL && !ok; k++)
			ok = strcmp(*k, name) == 0;
		if (!ok) {
			char list[256] = "";

			for (const char *const *k = keys; *k != NULL; k++)
				snprintf(list + strlen(list), sizeof(list) -
				    strlen(list), "%s%s", k == keys ? "" : ", ", *k);
			tfail(l, m, "unknown setting \"%s\" in %s (known: %s)",
			    name, what, list);
			return false;
		}
	}
	return true;
}

static const char *
get_str(struct tload *l, const config_setting_t *g, const char *key,
    bool required)
{
	const config_setting_t *m = config_setting_get_member(g, key);

	if (m == NULL) {
		if (required)
			tfail(l, g, "missing %s = \"...\";", key);
		return NULL;
	}
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		tfail(l, m, "%s must be a string in double quotes", key);
		return NULL;
	}
	return config_setting_get_string(m);
}

static bool
get_num(struct tload *l, const config_setting_t *g, const char *key,
    double lo, double hi, double *out)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	double v;

	if (m == NULL)
		return false;
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(m);
		break;
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(m);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(m);
		break;
	default:
		tfail(l, m, "%s must be a number", key);
		return false;
	}
	if (v < lo || v > hi) {
		tfail(l, m, "%s = %g is out of range (%g to %g)", key, v, lo, hi);
		return false;
	}
	*out = v;
	return true;
}

static bool
get_bool(struct tload *l, const config_setting_t *g, const char *key,
    bool *out)
{
	const config_setting_t *m = config_setting_get_member(g, key);

	if (m == NULL)
		return false;
	if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
		tfail(l, m, "%s must be true or false", key);
		return false;
	}
	*out = config_setting_get_bool(m);
	return true;
}

static char **
get_str_list(struct tload *l, const config_setting_t *g, const char *key,
    size_t *n)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	char **out;

	*n = 0;
	if (m == NULL)
		return NULL;
	if (config_setting_type(m) == CONFIG_TYPE_STRING) {
		out = xcalloc(1, sizeof(*out));
		out[(*n)++] = xstrdup(config_setting_get_string(m));
		return out;
	}
	if (!config_setting_is_aggregate(m)) {
		tfail(l, m, "%s must be a list of strings: [\"a\", \"b\"]", key);
		return NULL;
	}
	out = xcalloc((size_t)config_setting_length(m) + 1, sizeof(*out));
	for (int i = 0; i < config_setting_length(m); i++) {
		const char *s = config_setting_get_string_elem(m, i);

		if (s == NULL) {
			tfail(l, config_setting_get_elem(m, (unsigned)i), "%s must"
			    " hold strings only", key);
			break;
		}
		out[(*n)++] = xstrdup(s);
	}
	return out;
}

/* "today", "YYYY-MM-DD" or an int YYYYMMDD; 0 when absent. */
static int
get_date(struct tload *l, const config_setting_t *g, const char *key)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	int ymd;

	if (m == NULL)
		return 0;
	if (config_setting_type(m) == CONFIG_TYPE_STRING) {
		const char *s = config_setting_get_string(m);

		if (strcmp(s, "today") == 0)
			return -1;
		if (ocr_parse_date(s, &ymd) == 0)
			return ymd;
	}
	tfail(l, m, "%s must be \"today\" or a date \"YYYY-MM-DD\"", key);
	return 0;
}

static void *
compile_re(struct tload *l, const config_setting_t *at, const char *pat)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP, &ec, &off, NULL);

	if (re == NULL) {
		PCRE2_UCHAR buf[200];

		pcre2_get_error_message(ec, buf, sizeof(buf));
		tfail(l, at, "pattern error at offset %zu: %s", (size_t)off,
		    (const char *)buf);
	}
	return re;
}

/* divisions = "FILE": a table of ocr/divisions.c, found next to the
 * template unless FILE is absolute. */
static void
get_divisions(struct tload *l, const config_setting_t *g,
    struct ocr_tfield *f)
{
	const config_setting_t *m = config_setting_get_member(g, "divisions");
	const char *s = get_str(l, g, "divisions", false), *slash;
	char *path;
	struct err de;

	if (s == NULL)
		return;
	if (f->spec.type != OCR_F_TEXT) {
		tfail(l, m, "field %s: divisions is for a field of type "
		    "\"text\" (an address)", f->spec.name);
		return;
	}
	if (s[0] == '/' || (slash = strrchr(l->file, '/')) == NULL)
		path = xstrdup(s);
	else
		path = xasprintf("%.*s/%s", (int)(slash - l->file), l->file, s);
	for (size_t i = 0; i < l->ndiv; i++)
		if (strcmp(ocr_divisions_path(l->div[i]), path) == 0) {
			f->spec.divisions = ocr_divisions_ref(l->div[i]);
			free(path);
			return;
		}
	if ((f->spec.divisions = ocr_divisions_load(path, &de)) == NULL)
		tfail(l, m, "field %s: divisions: %s (the table of GB/T 2260 "
		    "divisions that scripts/cn-divisions.sh writes, named "
		    "relative to the template's directory)", f->spec.name,
		    de.msg);
	else {
		l->div = xrealloc(l->div, (l->ndiv + 1) * sizeof(*l->div));
		l->div[l->ndiv++] = f->spec.divisions;
	}
	free(path);
}

static void
load_field(struct tload *l, const config_setting_t *g, struct ocr_tfield *f,
    double default_conf)
{
	static const char *const keys[] = { "name", "label", "zone", "pattern",
	    "type", "required", "values", "regex", "not_before", "not_after",
	    "match", "match_optional", "latin", "cross_check", "min_confidence", "page",
	    "from_id", "divisions", NULL };
	const config_setting_t *z;
	const char *s;
	double v;
	int t, nloc = 0;
	struct err e;

	if (!known_keys(l, g, keys, "a field"))
		return;
	if ((s = get_str(l, g, "name", true)) == NULL)
		return;
	f->spec.name = xstrdup(s);
	if ((s = get_str(l, g, "type", false)) == NULL)
		s = "text";
	if ((t = ocr_ftype_from_name(s)) < 0) {
		tfail(l, config_setting_get_member(g, "type"), "field %s: unknown"
		    " type \"%s\" (text, name, cn_id, uscc, bank_card, date,"
		    " amount, amount_cn, enum, regex)", f->spec.name, s);
		return;
	}
	f->spec.type = (enum ocr_ftype)t;
	f->spec.required = true;
	get_bool(l, g, "required", &f->spec.required);
	if ((s = get_str(l, g, "label", false)) != NULL) {
		f->spec.label = xstrdup(s);
		f->locate = OCR_LOC_LABEL;
		nloc++;
	}
	if ((z = config_setting_get_member(g, "zone")) != NULL) {
		nloc++;
		f->locate = OCR_LOC_ZONE;
		if (!config_setting_is_aggregate(z) ||
		    config_setting_length(z) != 4) {
			tfail(l, z, "field %s: zone = [x, y, w, h] as fractions"
			    " of the page, e.g. [0.1, 0.2, 0.5, 0.05]",
			    f->spec.name);
			return;
		}
		for (int i = 0; i < 4; i++) {
			const config_setting_t *c = config_setting_get_elem(z,
			    (unsigned)i);

			f->zone[i] = config_setting_type(c) == CONFIG_TYPE_FLOAT ?
			    config_setting_get_float(c) : config_setting_get_int(c);
			if (f->zone[i] < 0 || f->zone[i] > 1) {
				tfail(l, z, "field %s: zone values are fractions"
				    " of the page, 0.0 to 1.0", f->spec.name);
				return;
			}
		}
	}
	if ((s = get_str(l, g, "pattern", false)) != NULL) {
		nloc++;
		f->locate = OCR_LOC_PATTERN;
		f->pattern = xstrdup(s);
		if ((f->pattern_re = compile_re(l, config_setting_get_member(g,
		    "pattern"), s)) == NULL)
			return;
	}
	if (nloc != 1) {
		tfail(l, g, "field %s: say where it is with exactly one of"
		    " label = \"...\", zone = [x, y, w, h] or pattern = \"...\"",
		    f->spec.name);
		return;
	}
	f->spec.enum_values = get_str_list(l, g, "values", &f->spec.n_enum);
	if (f->spec.type == OCR_F_ENUM && f->spec.n_enum == 0) {
		tfail(l, g, "field %s: an enum needs values = [\"a\", \"b\"]",
		    f->spec.name);
		return;
	}
	if ((s = get_str(l, g, "regex", false)) != NULL)
		f->spec.regex = xstrdup(s);
	if (f->spec.type == OCR_F_REGEX && f->spec.regex == NULL) {
		tfail(l, g, "field %s: a regex field needs regex = \"...\"",
		    f->spec.name);
		return;
	}
	if (ocr_field_spec_compile(&f->spec, &e) < 0) {
		tfail(l, config_setting_get_member(g, "regex"), "field %s: %s",
		    f->spec.name, e.msg);
		return;
	}
	f->spec.not_before = get_date(l, g, "not_before");
	f->spec.not_after = get_date(l, g, "not_after");
	if ((s = get_str(l, g, "match", false)) != NULL)
		f->spec.match = xstrdup(s);
	get_bool(l, g, "match_optional", &f->spec.match_optional);
	get_bool(l, g, "latin", &f->spec.latin);
	if ((s = get_str(l, g, "cross_check", false)) != NULL)
		f->spec.cross_check = xstrdup(s);
	f->spec.min_confidence = default_conf;
	if (get_num(l, g, "min_confidence", 0, 100, &v))
		f->spec.min_confidence = v;
	if (get_num(l, g, "page", 0, 1000, &v))
		f->page = (int)v;
	get_divisions(l, g, f);
	if ((s = get_str(l, g, "from_id", false)) != NULL) {
		if (strcmp(s, "birth") == 0 && f->spec.type == OCR_F_DATE)
			f->from_id = OCR_FROM_ID_BIRTH;
		else if (strcmp(s, "sex") == 0 && f->spec.type == OCR_F_ENUM)
			f->from_id = OCR_FROM_ID_SEX;
		else
			tfail(l, config_setting_get_member(g, "from_id"), "field"
			    " %s: from_id = \"birth\" (a date field) or \"sex\""
			    " (an enum of 男, 女): what the field repeats of the"
			    " template's cn_id field", f->spec.name);
	}
}

void
ocr_template_free(struct ocr_template *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nfields; i++) {
		ocr_field_spec_clear(&t->fields[i].spec);
		free(t->fields[i].pattern);
		pcre2_code_free(t->fields[i].pattern_re);
	}
	free(t->fields);
	for (size_t i = 0; i < t->n_identify; i++)
		free(t->identify[i]);
	free(t->identify);
	free(t->name);
	free(t->file);
	free(t->document_type);
	free(t->languages);
	free(t);
}

struct ocr_template *
ocr_template_load(const char *file, struct err *e)
{
	static const char *const keys[] = { "name", "document_type",
	    "languages", "pages", "identify", "limits", "quality", "preprocess",
	    "bad_input", "deadline", "fields", NULL };
	static const char *const qkeys[] = { "min_dpi", "min_glyph_height",
	    "min_blur", "max_skew", "min_ink", "min_confidence",
	    "field_confidence", "agree_confidence", "reread", NULL };
	static const char *const lkeys[] = { "max_bytes", "max_pixels",
	    "max_pages", "pdf_dpi", NULL };
	static const char *const pkeys[] = { "deskew", "background",
	    "binarise", "scale", "border", "dpi", NULL };
	struct tload l = { .file = file, .e = e };
	struct ocr_template *t = xcalloc(1, sizeof(*t));
	const config_setting_t *root, *g;
	double v, field_conf = 75;
	const char *s;
	config_t cfg;

	config_init(&cfg);
	if (!config_read_file(&cfg, file)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			err_setc(e, ERR_INVALID, "%s: cannot read the template:"
			    " %s", file, strerror(errno));
		else
			err_setc(e, ERR_INVALID, "%s:%d: %s", file,
			    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		free(t);
		return NULL;
	}
	root = config_root_setting(&cfg);
	t->file = xstrdup(file);
	known_keys(&l, root, keys, "a template");
	if ((s = get_str(&l, root, "name", false)) != NULL)
		t->name = xstrdup(s);
	else {
		const char *b = strrchr(file, '/');
		char *dot;

		t->name = xstrdup(b ? b + 1 : file);
		if ((dot = strrchr(t->name, '.')) != NULL)
			*dot = '\0';
	}
	s = get_str(&l, root, "document_type", true);
	t->document_type = xstrdup(s ? s : "");
	s = get_str(&l, root, "languages", false);
	t->languages = xstrdup(s ? s : "chi_sim+eng");
	t->min_pages = 1;
	t->max_pages = 1;
	ocr_limits_default(&t->limits);
	if ((g = config_setting_get_member(root, "pages")) != NULL &&
	    known_keys(&l, g, (const char *const[]){ "min", "max", NULL },
	    "pages")) {
		if (get_num(&l, g, "min", 0, 1000, &v))
			t->min_pages = (int)v;
		if (get_num(&l, g, "max", 1, 1000, &v))
			t->max_pages = (int)v;
		if (t->max_pages < t->min_pages)
			tfail(&l, g, "pages: max is below min");
	}
	t->identify = get_str_list(&l, root, "identify", &t->n_identify);
	if ((g = config_setting_get_member(root, "limits")) != NULL &&
	    known_keys(&l, g, lkeys, "limits")) {
		if (get_num(&l, g, "max_bytes", 1, 1e10, &v))
			t->limits.max_bytes = (int64_t)v;
		if (get_num(&l, g, "max_pixels", 1, 1e10, &v))
			t->limits.max_pixels = (int64_t)v;
		if (get_num(&l, g, "max_pages", 1, 10000, &v))
			t->limits.max_pages = (int)v;
		if (get_num(&l, g, "pdf_dpi", 72, 600, &v))
			t->limits.pdf_dpi = (int)v;
	}
	if (t->limits.max_pages < t->max_pages)
		t->limits.max_pages = t->max_pages;
	t->quality = (struct ocr_quality){ .min_dpi = 150,
	    .min_glyph_height = 14, .min_blur = 300, .max_skew = 5,
	    .min_ink = 0.002, .min_confidence = 60, .agree_confidence = 50 };
	t->reread = true;
	if ((g = config_setting_get_member(root, "quality")) != NULL &&
	    known_keys(&l, g, qkeys, "quality")) {
		if (get_num(&l, g, "min_dpi", 0, 2400, &v))
			t->quality.min_dpi = (int)v;
		get_num(&l, g, "min_glyph_height", 0, 1000,
		    &t->quality.min_glyph_height);
		get_num(&l, g, "min_blur", 0, 1e9, &t->quality.min_blur);
		get_num(&l, g, "max_skew", 0, 45, &t->quality.max_skew);
		get_num(&l, g, "min_ink", 0, 1, &t->quality.min_ink);
		get_num(&l, g, "min_confidence", 0, 100,
		    &t->quality.min_confidence);
		get_num(&l, g, "field_confidence", 0, 100, &field_conf);
		get_num(&l, g, "agree_confidence", 0, 101,
		    &t->quality.agree_confidence);
		get_bool(&l, g, "reread", &t->reread);
	}
	t->pre.deskew = true;   /* the only one that measurably helps: docs/BENCHMARKS.md */
	if ((g = config_setting_get_member(root, "preprocess")) != NULL &&
	    known_keys(&l, g, pkeys, "preprocess")) {
		get_bool(&l, g, "deskew", &t->pre.deskew);
		get_bool(&l, g, "background", &t->pre.background);
		get_bool(&l, g, "binarise", &t->pre.binarise);
		get_bool(&l, g, "scale", &t->pre.scale);
		get_bool(&l, g, "border", &t->pre.border);
		if (get_num(&l, g, "dpi", 0, 1200, &v))
			t->pre.dpi = (int)v;
	}
	if ((s = get_str(&l, root, "bad_input", false)) != NULL) {
		if (strcmp(s, "escalate") == 0)
			t->bad_input_escalates = true;
		else if (strcmp(s, "reject") != 0)
			tfail(&l, config_setting_get_member(root, "bad_input"),
			    "bad_input must be \"reject\" or \"escalate\"");
	}
	t->deadline_ms = 20000;
	if ((s = get_str(&l, root, "deadline", false)) != NULL) {
		int64_t ms;
		struct err de;

		if (util_parse_duration(s, &ms, &de) < 0 || ms <= 0 ||
		    ms > 3600000)
			tfail(&l, config_setting_get_member(root, "deadline"),
			    "deadline must be a duration like \"30s\" (at most"
			    " 1h)");
		else
			t->deadline_ms = (int)ms;
	}
	/* "fields = ();" said so is a check of the file and its pages only
	 * (type, size, pages, resolution, blur, blank, legibility): an
	 * upload whose kind nobody knows yet. A template without the
	 * setting is a mistake. */
	if ((g = config_setting_get_member(root, "fields")) == NULL ||
	    !config_setting_is_aggregate(g))
		tfail(&l, g ? g : root, "fields = ( { name = \"...\"; label ="
		    " \"...\"; type = \"...\"; }, ... ); lists what to read"
		    " (fields = (); for a check of the pages only)");
	else if (config_setting_length(g) > 0) {
		t->nfields = (size_t)config_setting_length(g);
		t->fields = xcalloc(t->nfields, sizeof(*t->fields));
		for (size_t i = 0; i < t->nfields && !l.failed; i++) {
			const config_setting_t *f = config_setting_get_elem(g,
			    (unsigned)i);

			if (config_setting_type(f) != CONFIG_TYPE_GROUP) {
				tfail(&l, f, "each field is a group { name ="
				    " \"...\"; ... }");
				break;
			}
			load_field(&l, f, &t->fields[i], field_conf);
			for (size_t j = 0; j < i && !l.failed; j++)
				if (strcmp(t->fields[j].spec.name,
				    t->fields[i].spec.name) == 0)
					tfail(&l, f, "field %s is named twice",
					    t->fields[i].spec.name);
		}
		for (size_t i = 0; i < t->nfields && !l.failed; i++) {
			const char *cc = t->fields[i].spec.cross_check;
			bool found = false;

			for (size_t j = 0; cc != NULL && j < t->nfields; j++)
				found |= strcmp(t->fields[j].spec.name, cc) == 0;
			if (cc != NULL && !found)
				tfail(&l, config_setting_get_elem(g, (unsigned)i),
				    "field %s: cross_check names no field \"%s\"",
				    t->fields[i].spec.name, cc);
		}
		for (size_t i = 0; i < t->nfields && !l.failed; i++) {
			bool have_id = false;

			for (size_t j = 0; j < t->nfields; j++)
				have_id |= t->fields[j].spec.type == OCR_F_CN_ID;
			if (t->fields[i].from_id != OCR_FROM_ID_NONE && !have_id)
				tfail(&l, config_setting_get_elem(g, (unsigned)i),
				    "field %s: from_id needs a field of type"
				    " cn_id in the template", t->fields[i].spec.name);
		}
	}
	config_destroy(&cfg);
	free(l.div);
	if (l.failed) {
		ocr_template_free(t);
		return NULL;
	}
	return t;
}

struct ocr_template *
ocr_template_find(const char *name, const char *dir, struct err *e)
{
	struct ocr_template *t;
	size_t n = strlen(name);
	char *path;

	if (strchr(name, '/') != NULL || (n > 4 &&
	    strcmp(name + n - 4, ".cfg") == 0) || dir == NULL)
		return ocr_template_load(name, e);
	path = xasprintf("%s/%s.cfg", dir, name);
	t = ocr_template_load(path, e);
	free(path);
	return t;
}
