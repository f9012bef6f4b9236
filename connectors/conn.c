/*
 * conn.c - HTTP(S) session connectors on libcurl: definitions, probes,
 * the shared run-time state of each connector, login, and one request.
 *
 * A request runs on the calling worker thread with its own easy handle;
 * the connector's connection cache and DNS cache are a CURLSH shared by
 * every request of that connector. Cookies are kept by hand (not curl's
 * engine) so that a re-login can drop them at once and the masker knows
 * every session value it must hide.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <pcre2.h>

#include "calendar.h"
#include "conn.h"
#include "log.h"

#define BODY_MAX (16 * 1024 * 1024)
#define NSECRETS 32

/* ---- probes ---- */

static pcre2_code *
re_compile(const char *pat, struct err *e)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF, &ec, &off, NULL);

	if (re == NULL) {
		PCRE2_UCHAR buf[256];

		pcre2_get_error_message(ec, buf, sizeof(buf));
		err_set(e, "pattern \"%s\" at offset %zu: %s", pat, (size_t)off,
		    (char *)buf);
	}
	return re;
}

int
conn_probe_parse(struct conn_probe *p, const char *spec, struct err *e)
{
	static const struct { const char *pfx; enum conn_probe_kind k; } kinds[] = {
		{ "re:", CONN_RE }, { "xpath:", CONN_XPATH },
		{ "json:", CONN_JSON }, { "location:", CONN_LOCATION },
	};

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].pfx);

		if (strncmp(spec, kinds[i].pfx, n) != 0)
			continue;
		p->kind = kinds[i].k;
		p->expr = xstrdup(spec + n);
		if (p->expr[0] == '\0') {
			err_set(e, "\"%s\" is empty after its prefix", spec);
			conn_probe_clear(p);
			return -1;
		}
		if ((p->kind == CONN_RE || p->kind == CONN_LOCATION) &&
		    (p->re = re_compile(p->expr, e)) == NULL) {
			conn_probe_clear(p);
			return -1;
		}
		if (p->kind == CONN_XPATH) {
			xmlXPathCompExprPtr c = xmlXPathCompile(
			    (const xmlChar *)p->expr);

			if (c == NULL) {
				err_set(e, "\"%s\" is not a valid XPath", p->expr);
				conn_probe_clear(p);
				return -1;
			}
			xmlXPathFreeCompExpr(c);
		}
		return 0;
	}
	err_set(e, "\"%s\" must start with re:, xpath:, json: or location:",
	    spec);
	return -1;
}

void
conn_probe_clear(struct conn_probe *p)
{
	free(p->expr);
	if (p->re != NULL)
		pcre2_code_free(p->re);
	memset(p, 0, sizeof(*p));
}

void
conn_resp_clear(struct conn_resp *r)
{
	free(r->ctype);
	free(r->location);
	free(r->body);
	if (r->html != NULL)
		xmlFreeDoc(r->html);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static int
re_match(const pcre2_code *re, const char *s, size_t len, char **value)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);

	if (rc < 0) {
		pcre2_match_data_free(md);
		return 0;
	}
	if (value != NULL) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		int g = rc > 1 ? 1 : 0;

		*value = xstrndup(s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
	}
	pcre2_match_data_free(md);
	return 1;
}

static bool
is_xml(const struct conn_resp *r)
{
	return r->ctype != NULL && strstr(r->ctype, "xml") != NULL &&
	    strstr(r->ctype, "html") == NULL;
}

static int
xpath_eval(const char *expr, struct conn_resp *r, char **value)
{
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr o;
	int found = 0;

	if (!r->html_tried) {
		r->html_tried = true;
		if (is_xml(r))
			r->html = xmlReadMemory(r->body, (int)r->len, NULL,
			    "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING);
		else
			r->html = htmlReadMemory(r->body, (int)r->len, NULL,
			    "UTF-8", HTML_PARSE_NONET | HTML_PARSE_NOERROR |
			    HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER);
	}
	if (r->html == NULL)
		return -1;
	if ((ctx = xmlXPathNewContext(r->html)) == NULL)
		return -1;
	o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (o != NULL) {
		if (o->type == XPATH_NODESET)
			found = o->nodesetval != NULL &&
			    o->nodesetval->nodeNr > 0;
		else if (o->type == XPATH_BOOLEAN)
			found = o->boolval;
		else
			found = 1;
		if (found && value != NULL) {
			xmlChar *s = xmlXPathCastToString(o);

			*value = xstrdup(s ? (const char *)s : "");
			xmlFree(s);
		}
		xmlXPathFreeObject(o);
	}
	xmlXPathFreeContext(ctx);
	return found;
}

/* "a.b.0.c": object members and array indexes. */
static json_t *
json_path(json_t *root, const char *path)
{
	char *copy = xstrdup(path), *save = NULL;
	json_t *v = root;

	for (char *t = strtok_r(copy, ".", &save); t != NULL && v != NULL;
	    t = strtok_r(NULL, ".", &save)) {
		if (json_is_array(v)) {
			char *end;
			long i = strtol(t, &end, 10);

			v = *end == '\0' ? json_array_get(v, (size_t)i) : NULL;
		} else
			v = json_object_get(v, t);
	}
	free(copy);
	return v;
}

int
conn_probe_eval(const struct conn_probe *p, struct conn_resp *r, char **value)
{
	json_t *v;

	if (value != NULL)
		*value = NULL;
	switch (p->kind) {
	case CONN_RE:
		return r->body ? re_match(p->re, r->body, r->len, value) : 0;
	case CONN_LOCATION:
		return r->location ? re_match(p->re, r->location,
		    strlen(r->location), value) : 0;
	case CONN_XPATH:
		if (r->body == NULL || r->len == 0)
			return -1;
		return xpath_eval(p->expr, r, value);
	case CONN_JSON:
		if (!r->json_tried) {
			r->json_tried = true;
			if (r->body != NULL)
				r->json = json_loadb(r->body, r->len,
				    JSON_DECODE_ANY, NULL);
		}
		if (r->json == NULL)
			return -1;
		v = json_path(r->json, p->expr);
		if (v == NULL || json_is_null(v) || json_is_false(v))
			return 0;
		if (value != NULL)
			*value = json_is_string(v) ? xstrdup(json_string_value(v))
			    : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		return 1;
	}
	return 0;
}

/* ---- definitions ---- */

struct conn_def {
	char *name;
	char *file;
	int line;
	char *base_url;
	char *cred_file, *cred_name;
	int64_t connect_ms, timeout_ms;
	int retries;
	int64_t backoff_ms;
	int breaker_failures;
	int64_t breaker_open_ms;
	int max_concurrent;
	double rate;
	struct calendar *cal;
	int64_t unavailable_wait_ms, auth_wait_ms;
	int64_t unavailable_max_ms, auth_max_ms;
	size_t evidence_limit;
	struct conn_probe unavailable, expired;
	bool has_unavailable, has_expired;

	bool has_login;
	char *login_path, *user_field, *pass_field;
	struct conn_probe login_fail;
	bool has_login_fail;
	char *csrf_path, *csrf_field;
	struct conn_probe csrf_value;
	bool has_csrf;
};

const char *
conn_def_name(const struct conn_def *d)
{
	return d->name;
}

static const char *
cfg_str(const config_setting_t *g, const char *key, const char *dflt)
{
	const char *v;

	return config_setting_lookup_string(g, key, &v) ? v : dflt;
}

static int
cfg_dur(const config_setting_t *g, const char *key, int64_t dflt,
    int64_t *out, struct err *e)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	struct err pe;

	*out = dflt;
	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_STRING ||
	    util_parse_duration(config_setting_get_string(m), out, &pe) < 0) {
		err_set(e, "%s:%d: %s must be a duration such as \"10s\"",
		    m->file ? m->file : "?", config_setting_source_line(m), key);
		return -1;
	}
	return 0;
}

/*
 * The longest an item may wait on maintenance or on corrected
 * credentials. A planned maintenance window of a legacy system is a night
 * or a weekend morning: 8 hours covers one, and a system down longer is
 * an outage a person has to hear of. A refused login has already
 * escalated once (connector_auth_failed); a day lets the office correct
 * the credentials on its next working day before every waiting case goes
 * to a reviewer, well before the usual SLAs run out. There is always a
 * bound: nothing waits for ever.
 */
#define CONN_UNAVAILABLE_MAX (8 * 3600 * 1000LL)
#define CONN_AUTH_MAX (24 * 3600 * 1000LL)

/* A bound on a wait: at least one wait long (a default below a long wait
 * is raised to it; a bound written below it is an error). */
static int
cfg_wait_max(const config_setting_t *g, const char *key,
    const char *wait_key, int64_t dflt, int64_t wait, int64_t *out,
    struct err *e)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	char a[32], b[32];

	if (cfg_dur(g, key, dflt, out, e) < 0)
		return -1;
	if (m == NULL) {
		if (*out < wait)
			*out = wait;
		return 0;
	}
	if (*out <= 0 || *out < wait) {
		util_format_duration(*out, a, sizeof(a));
		util_format_duration(wait, b, sizeof(b));
		err_set(e, "%s:%d: %s = \"%s\" is shorter than %s (%s): an"
		    " item would give up before its first retry; make %s at"
		    " least %s, or leave it out (default %s)", m->file ?
		    m->file : "?", config_setting_source_line(m), key, a,
		    wait_key, b, key, b, dflt == CONN_AUTH_MAX ? "24h" : "8h");
		return -1;
	}
	return 0;
}

static int
cfg_probe(const config_setting_t *g, const char *key, struct conn_probe *p,
    bool *has, struct err *e)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	struct err pe;

	*has = false;
	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_STRING ||
	    conn_probe_parse(p, config_setting_get_string(m), &pe) < 0) {
		err_set(e, "%s:%d: %s: %s", m->file ? m->file : "?",
		    config_setting_source_line(m), key,
		    config_setting_type(m) != CONFIG_TYPE_STRING ?
		    "must be a string such as \"re:...\"" : pe.msg);
		return -1;
	}
	*has = true;
	return 0;
}

static int
cfg_int(const config_setting_t *g, const char *key, int dflt)
{
	int v;

	return config_setting_lookup_int(g, key, &v) ? v : dflt;
}

static const char *const def_keys[] = { "base_url", "credentials_file",
    "credentials", "connect_timeout", "timeout", "retries", "backoff",
    "breaker", "max_concurrent", "rate", "calendar_file", "unavailable",
    "unavailable_wait", "unavailable_max", "auth_wait", "auth_max",
    "expired", "evidence_limit", "login", NULL };
static const char *const login_keys[] = { "path", "user_field",
    "password_field", "failure", "csrf_path", "csrf_value", "csrf_field",
    NULL };

static int
check_group_keys(const config_setting_t *g, const char *const *keys,
    const char *where, struct err *e)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		bool ok = false;

		for (const char *const *k = keys; *k != NULL; k++)
			ok = ok || strcmp(*k, config_setting_name(m)) == 0;
		if (!ok) {
			err_set(e, "%s:%d: unknown setting \"%s\" in %s; see"
			    " playbooks/README.md (connectors)", m->file ?
			    m->file : "?", config_setting_source_line(m),
			    config_setting_name(m), where);
			return -1;
		}
	}
	return 0;
}

struct conn_def *
conn_def_load(const config_setting_t *s, const char *name, struct err *e)
{
	const config_setting_t *root = config_root_setting(s->config);
	const config_setting_t *all = config_setting_get_member(root,
	    "connectors");
	const config_setting_t *g, *b, *l;
	struct conn_def *d;
	const char *where = s->file ? s->file : "?";
	const char *str;

	g = all ? config_setting_get_member(all, name) : NULL;
	if (g == NULL || !config_setting_is_group(g)) {
		err_set(e, "%s:%d: no connector \"%s\"; declare it in the"
		    " playbook's connectors = { %s = { base_url = ...; }; }",
		    where, config_setting_source_line(s), name, name);
		return NULL;
	}
	if (check_group_keys(g, def_keys, "a connector", e) < 0)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->file = xstrdup(g->file ? g->file : where);
	d->line = (int)config_setting_source_line(g);
	d->base_url = xstrdup(cfg_str(g, "base_url", ""));
	d->cred_file = xstrdup(cfg_str(g, "credentials_file",
	    "credentials.cfg"));
	d->cred_name = xstrdup(cfg_str(g, "credentials", name));
	d->retries = cfg_int(g, "retries", 2);
	d->max_concurrent = cfg_int(g, "max_concurrent", 4);
	d->evidence_limit = (size_t)cfg_int(g, "evidence_limit", 4096);
	{
		const config_setting_t *r = config_setting_get_member(g, "rate");
		d->rate = r == NULL ? 0 : config_setting_type(r) ==
		    CONFIG_TYPE_FLOAT ? config_setting_get_float(r) :
		    (double)config_setting_get_int(r);
	}
	if (cfg_dur(g, "connect_timeout", 5000, &d->connect_ms, e) < 0 ||
	    cfg_dur(g, "timeout", 30000, &d->timeout_ms, e) < 0 ||
	    cfg_dur(g, "backoff", 200, &d->backoff_ms, e) < 0 ||
	    cfg_dur(g, "unavailable_wait", 30000, &d->unavailable_wait_ms,
	    e) < 0 ||
	    cfg_dur(g, "auth_wait", 60000, &d->auth_wait_ms, e) < 0 ||
	    cfg_wait_max(g, "unavailable_max", "unavailable_wait",
	    CONN_UNAVAILABLE_MAX, d->unavailable_wait_ms,
	    &d->unavailable_max_ms, e) < 0 ||
	    cfg_wait_max(g, "auth_max", "auth_wait", CONN_AUTH_MAX,
	    d->auth_wait_ms, &d->auth_max_ms, e) < 0 ||
	    cfg_probe(g, "unavailable", &d->unavailable, &d->has_unavailable,
	    e) < 0 ||
	    cfg_probe(g, "expired", &d->expired, &d->has_expired, e) < 0)
		goto bad;
	d->breaker_failures = 5;
	d->breaker_open_ms = 10000;
	if ((b = config_setting_get_member(g, "breaker")) != NULL) {
		d->breaker_failures = cfg_int(b, "failures", 5);
		if (cfg_dur(b, "open", 10000, &d->breaker_open_ms, e) < 0)
			goto bad;
	}
	if (d->max_concurrent < 1 || d->retries < 0 ||
	    d->breaker_failures < 1) {
		err_set(e, "%s:%d: connector %s: max_concurrent and"
		    " breaker.failures must be at least 1, retries at least 0",
		    d->file, d->line, name);
		goto bad;
	}
	if ((str = cfg_str(g, "calendar_file", NULL)) != NULL) {
		char *dir = xstrdup(d->file), *path;

		path = str[0] == '/' ? xstrdup(str) :
		    util_path_join(dirname(dir), str);
		free(dir);
		d->cal = cal_load(path, e);
		free(path);
		if (d->cal == NULL)
			goto bad;
	}
	if ((l = config_setting_get_member(g, "login")) != NULL) {
		if (check_group_keys(l, login_keys, "login", e) < 0)
			goto bad;
		d->has_login = true;
		d->login_path = xstrdup(cfg_str(l, "path", "/login"));
		d->user_field = xstrdup(cfg_str(l, "user_field", "username"));
		d->pass_field = xstrdup(cfg_str(l, "password_field",
		    "password"));
		if (cfg_probe(l, "failure", &d->login_fail, &d->has_login_fail,
		    e) < 0 ||
		    cfg_probe(l, "csrf_value", &d->csrf_value, &d->has_csrf,
		    e) < 0)
			goto bad;
		d->csrf_path = xstrdup(cfg_str(l, "csrf_path", "/"));
		d->csrf_field = xstrdup(cfg_str(l, "csrf_field", "_csrf"));
	}
	return d;
bad:
	conn_def_free(d);
	return NULL;
}

void
conn_def_free(struct conn_def *d)
{
	if (d == NULL)
		return;
	free(d->name);
	free(d->file);
	free(d->base_url);
	free(d->cred_file);
	free(d->cred_name);
	if (d->cal != NULL)
		cal_free(d->cal);
	conn_probe_clear(&d->unavailable);
	conn_probe_clear(&d->expired);
	free(d->login_path);
	free(d->user_field);
	free(d->pass_field);
	conn_probe_clear(&d->login_fail);
	free(d->csrf_path);
	free(d->csrf_field);
	conn_probe_clear(&d->csrf_value);
	free(d);
}

/* ---- requests ---- */

static const char *const req_keys[] = { "method", "path", "form",
    "multipart", "json", "xml", "soap_action", "csrf", "status",
    "content_type", "ok", "biz_error", "biz_message", "extract", NULL };

static int
fields_parse(struct conn_req *r, const config_setting_t *g, bool files,
    struct err *e)
{
	r->nfields = (size_t)config_setting_length(g);
	r->fields = xcalloc(r->nfields + 1, sizeof(*r->fields));
	for (size_t i = 0; i < r->nfields; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (int)i);
		const char *v = config_setting_get_string(m);

		if (v == NULL) {
			err_set(e, "%s:%d: field %s must be a string template",
			    m->file ? m->file : "?",
			    config_setting_source_line(m),
			    config_setting_name(m));
			return -1;
		}
		r->fields[i].name = xstrdup(config_setting_name(m));
		/* "@path" uploads a file in a multipart form, as curl -F. */
		r->fields[i].file = files && v[0] == '@';
		r->fields[i].value = xstrdup(r->fields[i].file ? v + 1 : v);
	}
	return 0;
}

int
conn_req_parse(struct conn_req *r, const config_setting_t *s, struct err *e)
{
	const config_setting_t *m;
	const char *file = s->file ? s->file : "?";
	int line = (int)config_setting_source_line(s);
	int csrf;

	memset(r, 0, sizeof(*r));
	if (check_group_keys(s, req_keys, "a request", e) < 0)
		return -1;
	r->path = xstrdup(cfg_str(s, "path", ""));
	if (r->path[0] != '/') {
		err_set(e, "%s:%d: a request needs path = \"/...\" (appended"
		    " to the connector's base_url)", file, line);
		return -1;
	}
	if ((m = config_setting_get_member(s, "form")) != NULL) {
		r->body = CONN_BODY_FORM;
		if (fields_parse(r, m, false, e) < 0)
			return -1;
	} else if ((m = config_setting_get_member(s, "multipart")) != NULL) {
		r->body = CONN_BODY_MULTIPART;
		if (fields_parse(r, m, true, e) < 0)
			return -1;
	} else if ((m = config_setting_get_member(s, "json")) != NULL) {
		r->body = CONN_BODY_JSON;
		if (fields_parse(r, m, false, e) < 0)
			return -1;
	} else if ((m = config_setting_get_member(s, "xml")) != NULL) {
		r->body = CONN_BODY_XML;
		if (config_setting_get_string(m) == NULL) {
			err_set(e, "%s:%d: xml must be the body template as a"
			    " string", file, line);
			return -1;
		}
		r->raw = xstrdup(config_setting_get_string(m));
	}
	r->method = xstrdup(cfg_str(s, "method", r->body == CONN_BODY_NONE ?
	    "GET" : "POST"));
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0 &&
	    strcmp(r->method, "PUT") != 0) {
		err_set(e, "%s:%d: method must be GET, POST or PUT", file, line);
		return -1;
	}
	if (cfg_str(s, "soap_action", NULL) != NULL)
		r->soap_action = xstrdup(cfg_str(s, "soap_action", NULL));
	r->csrf = (r->body == CONN_BODY_FORM || r->body ==
	    CONN_BODY_MULTIPART);
	if (config_setting_lookup_bool(s, "csrf", &csrf))
		r->csrf = csrf;
	if ((m = config_setting_get_member(s, "status")) != NULL) {
		int n = config_setting_is_aggregate(m) ?
		    config_setting_length(m) : 1;

		for (int i = 0; i < n && r->nstatus < 8; i++)
			r->status[r->nstatus++] = config_setting_is_aggregate(m)
			    ? config_setting_get_int_elem(m, i) :
			    config_setting_get_int(m);
	}
	if (cfg_str(s, "content_type", NULL) != NULL)
		r->content_type = xstrdup(cfg_str(s, "content_type", NULL));
	if ((m = config_setting_get_member(s, "ok")) != NULL) {
		int n = config_setting_is_aggregate(m) ?
		    config_setting_length(m) : 1;

		r->ok = xcalloc((size_t)n + 1, sizeof(*r->ok));
		for (int i = 0; i < n; i++) {
			const char *v = config_setting_is_aggregate(m) ?
			    config_setting_get_string_elem(m, i) :
			    config_setting_get_string(m);
			struct err pe;

			if (v == NULL || conn_probe_parse(&r->ok[i], v, &pe) < 0) {
				err_set(e, "%s:%d: ok: %s", file,
				    config_setting_source_line(m), v ? pe.msg :
				    "must be a string or a list of strings");
				return -1;
			}
			r->nok++;
		}
	}
	if (cfg_probe(s, "biz_error", &r->biz, &r->has_biz, e) < 0 ||
	    cfg_probe(s, "biz_message", &r->biz_msg, &r->has_biz_msg, e) < 0)
		return -1;
	if ((m = config_setting_get_member(s, "extract")) != NULL) {
		int n = config_setting_length(m);

		r->extract = xcalloc((size_t)n + 1, sizeof(*r->extract));
		for (int i = 0; i < n; i++) {
			const config_setting_t *x = config_setting_get_elem(m, i);
			const char *v = config_setting_get_string(x);
			struct err pe;

			if (config_setting_name(x) == NULL || v == NULL ||
			    conn_probe_parse(&r->extract[i].probe, v, &pe) < 0) {
				err_set(e, "%s:%d: extract: %s", file,
				    config_setting_source_line(x), v ? pe.msg :
				    "write extract = { name = \"xpath:...\"; }");
				return -1;
			}
			r->extract[i].name = xstrdup(config_setting_name(x));
			r->nextract++;
		}
	}
	return 0;
}

void
conn_req_clear(struct conn_req *r)
{
	free(r->method);
	free(r->path);
	for (size_t i = 0; i < r->nfields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
	}
	free(r->fields);
	free(r->raw);
	free(r->soap_action);
	free(r->content_type);
	for (size_t i = 0; i < r->nok; i++)
		conn_probe_clear(&r->ok[i]);
	free(r->ok);
	conn_probe_clear(&r->biz);
	conn_probe_clear(&r->biz_msg);
	for (size_t i = 0; i < r->nextract; i++) {
		free(r->extract[i].name);
		conn_probe_clear(&r->extract[i].probe);
	}
	free(r->extract);
	memset(r, 0, sizeof(*r));
}

/* ---- run-time state ---- */

struct cookie {
	char *name, *value;
	struct cookie *next;
};

struct conn {
	char *name;
	struct conn *next;
	pthread_mutex_t lock;      /* everything below but the share */
	pthread_cond_t cond;
	pthread_mutex_t login_lock;
	CURLSH *share;
	pthread_mutex_t slock[CURL_LOCK_DATA_LAST];

	struct cookie *cookies;
	char *csrf;
	bool session;
	unsigned gen;              /* bumped at every login */
	char *user, *pass, *base_url;
	char *secrets[NSECRETS];   /* recent session values, for masking */
	int nsecret;

	int fails;
	int64_t open_until;
	bool probing;
	json_t *last_fail;         /* evidence of the last failed exchange */

	bool auth_failed;
	char auth_hash[65];
	char auth_msg[256];

	int inflight;
	int64_t next_slot;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *reg;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* One easy handle per worker thread, reset for every request: a fresh
 * handle per request costs a multi handle and its wakeup pipe each time. */
static pthread_key_t easy_key;

static void
easy_free(void *h)
{
	curl_easy_cleanup(h);
}

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	xmlInitParser();
	pthread_key_create(&easy_key, easy_free);
}

static CURL *
easy_get(void)
{
	CURL *h = pthread_getspecific(easy_key);

	if (h == NULL) {
		h = curl_easy_init();
		pthread_setspecific(easy_key, h);
	} else
		curl_easy_reset(h);
	return h;
}

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *arg)
{
	struct conn *c = arg;

	pthread_mutex_lock(&c->slock[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct conn *c = arg;

	pthread_mutex_unlock(&c->slock[data]);
}

static struct conn *
conn_get(const char *name)
{
	struct conn *c;

	pthread_once(&curl_once, curl_init_once);
	pthread_mutex_lock(&reg_lock);
	for (c = reg; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			break;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->name = xstrdup(name);
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->cond, NULL);
		pthread_mutex_init(&c->login_lock, NULL);
		for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_init(&c->slock[i], NULL);
		c->share = curl_share_init();
		curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
		curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
		curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
		curl_share_setopt(c->share, CURLSHOPT_SHARE,
		    CURL_LOCK_DATA_DNS);
		curl_share_setopt(c->share, CURLSHOPT_SHARE,
		    CURL_LOCK_DATA_CONNECT);
		c->next = reg;
		reg = c;
	}
	pthread_mutex_unlock(&reg_lock);
	return c;
}

static void
cookies_free(struct conn *c)
{
	while (c->cookies != NULL) {
		struct cookie *k = c->cookies;

		c->cookies = k->next;
		free(k->name);
		free(k->value);
		free(k);
	}
}

/* Called with c->lock held. */
static void
secret_add(struct conn *c, const char *v)
{
	if (v == NULL || strlen(v) < 4)
		return;
	for (int i = 0; i < NSECRETS; i++)
		if (c->secrets[i] != NULL && strcmp(c->secrets[i], v) == 0)
			return;
	free(c->secrets[c->nsecret]);
	c->secrets[c->nsecret] = xstrdup(v);
	c->nsecret = (c->nsecret + 1) % NSECRETS;
}

void
conn_reset_all(void)
{
	pthread_mutex_lock(&reg_lock);
	while (reg != NULL) {
		struct conn *c = reg;

		reg = c->next;
		cookies_free(c);
		free(c->csrf);
		free(c->user);
		free(c->pass);
		free(c->base_url);
		for (int i = 0; i < NSECRETS; i++)
			free(c->secrets[i]);
		json_decref(c->last_fail);
		curl_share_cleanup(c->share);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->login_lock);
		for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&c->slock[i]);
		free(c->name);
		free(c);
	}
	pthread_mutex_unlock(&reg_lock);
}

/* ---- masking ---- */

static char *
replace_all(char *s, const char *needle, const char *with)
{
	size_t nl = strlen(needle), wl = strlen(with);
	char *p, *out;
	size_t cap, len = 0;

	if (nl == 0 || strstr(s, needle) == NULL)
		return s;
	cap = strlen(s) + 1;
	out = xmalloc(cap);
	for (const char *q = s; *q != '\0';) {
		p = strstr(q, needle);
		if (p == NULL)
			p = (char *)q + strlen(q);
		if (len + (size_t)(p - q) + wl + 1 > cap) {
			cap = (len + (size_t)(p - q) + wl + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, q, (size_t)(p - q));
		len += (size_t)(p - q);
		if (*p == '\0')
			break;
		memcpy(out + len, with, wl);
		len += wl;
		q = p + nl;
	}
	out[len] = '\0';
	free(s);
	return out;
}

char *
conn_mask_ids(const char *text)
{
	static pcre2_code *re;
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
	char *s = xstrdup(text);
	size_t len = strlen(s), at = 0;
	pcre2_match_data *md;

	pthread_mutex_lock(&once);
	if (re == NULL) {
		struct err e;

		re = re_compile("(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}"
		    "[01][0-9][0-3][0-9][0-9]{3}[0-9Xx](?![0-9])", &e);
		if (re != NULL)
			pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	}
	pthread_mutex_unlock(&once);
	md = pcre2_match_data_create_from_pattern(re, NULL);
	while (at < len && pcre2_match(re, (PCRE2_SPTR)s, len, at, 0, md,
	    NULL) > 0) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

		/* Keep the region (6) and the last 2, as a reviewer reads. */
		for (size_t i = ov[0] + 6; i < ov[1] - 2; i++)
			s[i] = '*';
		at = ov[1];
	}
	pcre2_match_data_free(md);
	return s;
}

/*
 * Hidden form fields and CSRF meta tags carry tokens the connector may not
 * have seen yet (a login page where a result was expected): blanked in
 * every page kept as evidence.
 */
static char *
mask_tokens(char *s)
{
	static const char *const pats[][2] = {
		{ "(<input\\b[^>]*\\btype=[\"']?hidden[\"']?[^>]*\\bvalue=\")[^\"]*",
		  "$1***" },
		{ "(<input\\b[^>]*\\bvalue=\")[^\"]*(\"[^>]*\\btype=[\"']?hidden)",
		  "$1***$2" },
		{ "(<meta\\b[^>]*csrf[^>]*\\bcontent=\")[^\"]*", "$1***" },
	};
	static pcre2_code *re[3];
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&once);
	for (int i = 0; i < 3; i++)
		if (re[i] == NULL) {
			struct err e;

			re[i] = re_compile(pats[i][0], &e);
			if (re[i] != NULL)
				pcre2_jit_compile(re[i], PCRE2_JIT_COMPLETE);
		}
	pthread_mutex_unlock(&once);
	for (int i = 0; i < 3; i++) {
		size_t cap = strlen(s) + 256;
		char *out = xmalloc(cap);
		PCRE2_SIZE olen = cap;
		int rc;

		if (re[i] == NULL)
			continue;
		rc = pcre2_substitute(re[i], (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED,
		    0, PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH,
		    NULL, NULL, (PCRE2_SPTR)pats[i][1], PCRE2_ZERO_TERMINATED,
		    (PCRE2_UCHAR *)out, &olen);
		if (rc == PCRE2_ERROR_NOMEMORY) {
			out = xrealloc(out, olen + 1);
			cap = olen + 1;
			olen = cap;
			rc = pcre2_substitute(re[i], (PCRE2_SPTR)s,
			    PCRE2_ZERO_TERMINATED, 0, PCRE2_SUBSTITUTE_GLOBAL,
			    NULL, NULL, (PCRE2_SPTR)pats[i][1],
			    PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)out, &olen);
		}
		if (rc > 0) {
			free(s);
			s = out;
		} else
			free(out);
	}
	return s;
}

static char *
mask_with(struct conn *c, const char *text)
{
	char *s = mask_tokens(conn_mask_ids(text));

	pthread_mutex_lock(&c->lock);
	if (c->pass != NULL)
		s = replace_all(s, c->pass, "***");
	for (int i = 0; i < NSECRETS; i++)
		if (c->secrets[i] != NULL)
			s = replace_all(s, c->secrets[i], "***");
	for (struct cookie *k = c->cookies; k != NULL; k = k->next)
		if (strlen(k->value) >= 4)
			s = replace_all(s, k->value, "***");
	pthread_mutex_unlock(&c->lock);
	return s;
}

char *
conn_mask(const struct conn_def *d, const char *text)
{
	return mask_with(conn_get(d->name), text);
}

/* ---- credentials ---- */

/* Reads the connector's entry of the credentials file into c (locked). */
static int
creds_load(struct conn *c, const struct conn_def *d, const char *work_dir,
    char hash[65], struct err *e)
{
	char *path = d->cred_file[0] == '/' ? xstrdup(d->cred_file) :
	    util_path_join(work_dir ? work_dir : ".", d->cred_file);
	config_t cfg;
	const config_setting_t *g;
	const char *user, *pass, *url;
	struct stat st;
	size_t len;
	char *data;
	int rc = -1;

	hash[0] = '\0';
	if (stat(path, &st) < 0) {
		err_set(e, "%s: %s; write the credentials of connector %s there"
		    " (mode 0600)", path, strerror(errno), d->name);
		free(path);
		return -1;
	}
	if ((data = util_read_file(path, &len, e)) == NULL) {
		free(path);
		return -1;
	}
	util_sha256_hex(data, len, hash);
	free(data);
	if ((st.st_mode & 077) != 0) {
		err_set(e, "%s: mode %03o lets others read the passwords;"
		    " chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		free(path);
		return -1;
	}
	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		err_set(e, "%s:%d: %s", path, config_error_line(&cfg),
		    config_error_text(&cfg));
		goto out;
	}
	g = config_lookup(&cfg, d->cred_name);
	if (g == NULL || !config_setting_lookup_string(g, "username", &user) ||
	    !config_setting_lookup_string(g, "password", &pass)) {
		err_set(e, "%s: no entry %s = { username = \"...\"; password ="
		    " \"...\"; }; for connector %s", path, d->cred_name,
		    d->name);
		goto out;
	}
	free(c->user);
	free(c->pass);
	free(c->base_url);
	c->user = xstrdup(user);
	c->pass = xstrdup(pass);
	/* The site's address may differ per installation: it may live next
	 * to the password instead of in the playbook. */
	c->base_url = xstrdup(config_setting_lookup_string(g, "base_url",
	    &url) ? url : d->base_url);
	rc = 0;
out:
	config_destroy(&cfg);
	free(path);
	return rc;
}

/* ---- one exchange ---- */

size_t
conn_buf_write(char *data, size_t size, size_t n, void *arg)
{
	struct conn_buf *b = arg;
	size_t len = size * n;

	if (b->len + len + 1 > b->max) {
		b->overflow = true;
		return 0;
	}
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

struct hdrs {
	struct cookie *set;        /* Set-Cookie seen */
	char *location;
};

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct hdrs *h = arg;
	size_t len = size * n;
	char *line = xstrndup(data, len), *v, *end;

	while ((end = strpbrk(line, "\r\n")) != NULL)
		*end = '\0';
	if (strncasecmp(line, "Set-Cookie:", 11) == 0) {
		v = line + 11;
		while (*v == ' ')
			v++;
		if ((end = strchr(v, ';')) != NULL)
			*end = '\0';
		if ((end = strchr(v, '=')) != NULL) {
			struct cookie *k = xcalloc(1, sizeof(*k));

			*end = '\0';
			k->name = xstrdup(v);
			k->value = xstrdup(end + 1);
			k->next = h->set;
			h->set = k;
		}
	} else if (strncasecmp(line, "Location:", 9) == 0) {
		v = line + 9;
		while (*v == ' ')
			v++;
		free(h->location);
		h->location = xstrdup(v);
	}
	free(line);
	return len;
}

/* Cookie header from the jar, or NULL (locked by the caller). */
static char *
cookie_header(struct conn *c)
{
	char *s = NULL;

	for (struct cookie *k = c->cookies; k != NULL; k = k->next) {
		char *t = xasprintf("%s%s%s=%s", s ? s : "", s ? "; " : "",
		    k->name, k->value);

		free(s);
		s = t;
	}
	return s;
}

static void
cookies_merge(struct conn *c, struct cookie *set)
{
	while (set != NULL) {
		struct cookie *n = set->next, *k;

		for (k = c->cookies; k != NULL; k = k->next)
			if (strcmp(k->name, set->name) == 0)
				break;
		secret_add(c, set->value);
		if (k != NULL) {
			free(k->value);
			k->value = set->value;
			free(set->name);
			free(set);
		} else {
			set->next = c->cookies;
			c->cookies = set;
		}
		set = n;
	}
}

struct xfer {
	const char *method;
	char *url;
	const char *ctype;         /* request Content-Type, or NULL */
	char *body;                /* request body, or NULL */
	curl_mime *mime;
	const char *soap_action;
	const char *summary;       /* masked request, for the evidence */
};

/*
 * Performs one exchange. Returns 0 with resp filled, or -1 with *sent
 * telling whether the request may have reached the server.
 */
static int
http_do(struct conn *c, const struct conn_def *d, const struct xfer *x,
    struct conn_resp *resp, struct conn_call *call, bool *sent)
{
	CURL *h = easy_get();
	struct curl_slist *hl = NULL;
	struct conn_buf b = { .max = BODY_MAX };
	struct hdrs hd = { 0 };
	char *ck, *hdr, errbuf[CURL_ERROR_SIZE] = "";
	curl_off_t pre = 0;
	int64_t t0 = util_mono_ms();
	CURLcode cc;
	json_t *ev;
	char *t;

	conn_resp_clear(resp);
	*sent = false;
	if (h == NULL) {
		snprintf(call->message, sizeof(call->message),
		    "curl_easy_init failed (out of memory?)");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, x->url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)d->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, conn_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "clerk/0.1");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	pthread_mutex_lock(&c->lock);
	ck = cookie_header(c);
	pthread_mutex_unlock(&c->lock);
	if (ck != NULL) {
		curl_easy_setopt(h, CURLOPT_COOKIE, ck);
	}
	if (x->mime != NULL)
		curl_easy_setopt(h, CURLOPT_MIMEPOST, x->mime);
	else if (x->body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	}
	if (strcmp(x->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
	if (x->ctype != NULL) {
		hdr = xasprintf("Content-Type: %s", x->ctype);
		hl = curl_slist_append(hl, hdr);
		free(hdr);
	}
	if (x->soap_action != NULL) {
		hdr = xasprintf("SOAPAction: \"%s\"", x->soap_action);
		hl = curl_slist_append(hl, hdr);
		free(hdr);
	}
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);

	cc = curl_easy_perform(h);
	resp->ms = (double)(util_mono_ms() - t0);
	curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
	if (cc == CURLE_OK) {
		char *ct = NULL;

		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
		resp->ctype = ct ? xstrdup(ct) : NULL;
		resp->location = hd.location;
		hd.location = NULL;
		resp->body = b.p ? b.p : xstrdup("");
		resp->len = b.len;
		b.p = NULL;
	}
	*sent = cc != CURLE_COULDNT_CONNECT && cc != CURLE_COULDNT_RESOLVE_HOST
	    && cc != CURLE_COULDNT_RESOLVE_PROXY && pre > 0;
	pthread_mutex_lock(&c->lock);
	cookies_merge(c, hd.set);
	pthread_mutex_unlock(&c->lock);
	hd.set = NULL;

	t = mask_with(c, x->url);
	ev = json_pack("{s:s,s:s,s:f}", "method", x->method, "url", t,
	    "ms", resp->ms);
	free(t);
	if (x->summary != NULL) {
		t = mask_with(c, x->summary);
		json_object_set_new(ev, "request", json_string(t));
		free(t);
	}
	if (cc == CURLE_OK) {
		json_object_set_new(ev, "status", json_integer(resp->status));
		if (resp->ctype)
			json_object_set_new(ev, "type", json_string(resp->ctype));
		/* Only what is kept is masked, with a margin so that no
		 * secret or ID number is cut in half before masking. */
		if (resp->len > d->evidence_limit + 256) {
			char *cut = xstrndup(resp->body, d->evidence_limit + 256);

			t = mask_with(c, cut);
			free(cut);
		} else
			t = mask_with(c, resp->body);
		if (strlen(t) > d->evidence_limit) {
			/* Cut at a UTF-8 boundary. */
			size_t n = d->evidence_limit;

			while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80)
				n--;
			t[n] = '\0';
			json_object_set_new(ev, "truncated", json_true());
		}
		json_object_set_new(ev, "body", json_string(t));
		free(t);
	} else {
		json_object_set_new(ev, "error", json_string(errbuf[0] ? errbuf
		    : curl_easy_strerror(cc)));
		snprintf(call->message, sizeof(call->message), "%s %s: %s",
		    x->method, json_string_value(json_object_get(ev, "url")),
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	json_array_append_new(call->evidence, ev);

	free(ck);
	free(hd.location);
	free(b.p);
	curl_slist_free_all(hl);
	/* The handle must not keep pointers into this call's memory. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_MIMEPOST, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (cc != CURLE_OK && b.overflow)
		snprintf(call->message, sizeof(call->message), "%s %s: the"
		    " answer is larger than %d bytes", x->method,
		    json_string_value(json_object_get(ev, "url")), BODY_MAX);
	return cc == CURLE_OK ? 0 : -1;
}

/* ---- login ---- */

/* A dry run's "--connector NAME=URL": set once before any request. */
static struct { char *name, *url; } *overrides;
static size_t noverrides;

void
conn_override_base_url(const char *name, const char *url)
{
	overrides = xrealloc(overrides, (noverrides + 1) * sizeof(*overrides));
	overrides[noverrides].name = xstrdup(name);
	overrides[noverrides++].url = xstrdup(url);
}

const char *
conn_overridden(const char *name)
{
	for (size_t i = 0; i < noverrides; i++)
		if (strcmp(overrides[i].name, name) == 0)
			return overrides[i].url;
	return NULL;
}

/* Under the lock: a re-login on another thread may replace base_url. */
static char *
url_of(struct conn *c, const struct conn_def *d, const char *path)
{
	const char *over = conn_overridden(d->name);
	char *url;

	pthread_mutex_lock(&c->lock);
	url = xasprintf("%s%s", over != NULL ? over : c->base_url ?
	    c->base_url : d->base_url, path);
	pthread_mutex_unlock(&c->lock);
	return url;
}

static void
form_add(char **body, CURL *esc, const char *name, const char *value)
{
	char *n = curl_easy_escape(esc, name, 0);
	char *v = curl_easy_escape(esc, value, 0);
	char *t = xasprintf("%s%s%s=%s", *body ? *body : "", *body ? "&" : "",
	    n, v);

	curl_free(n);
	curl_free(v);
	free(*body);
	*body = t;
}

static bool
is_login_redirect(const struct conn_def *d, const struct conn_resp *r)
{
	return r->status >= 300 && r->status < 400 && r->location != NULL &&
	    d->login_path != NULL && strstr(r->location, d->login_path) != NULL;
}

/* The call waits on `on` until `until`, within the connector's bound. */
static void
wait_for(struct conn_call *call, const struct conn_def *d,
    enum conn_wait_on on, int64_t until)
{
	call->wait_until = until;
	call->wait_on = on;
	call->wait_max = on == CONN_WAIT_UNAVAILABLE ? d->unavailable_max_ms :
	    on == CONN_WAIT_AUTH ? d->auth_max_ms : 0;
}

static bool
is_unavailable(const struct conn_def *d, struct conn_resp *r)
{
	return d->has_unavailable && r->status >= 500 &&
	    conn_probe_eval(&d->unavailable, r, NULL) == 1;
}

/*
 * Logs in (login_lock held by the caller). CONN_OK, CONN_AUTH (refused:
 * recorded so no one tries again with the same file), CONN_WAIT or
 * CONN_SYSTEM.
 */
static enum conn_outcome
do_login(struct conn *c, const struct conn_def *d, const struct conn_env *env,
    struct conn_call *call)
{
	struct conn_resp r = { 0 };
	struct err e;
	char hash[65];
	struct xfer x = { 0 };
	char *body = NULL, *v;
	CURL *esc = curl_easy_init();
	enum conn_outcome out = CONN_SYSTEM;
	xmlXPathContextPtr xc = NULL;
	xmlXPathObjectPtr xo = NULL;
	bool sent;

	pthread_mutex_lock(&c->lock);
	cookies_free(c);
	free(c->csrf);
	c->csrf = NULL;
	c->session = false;
	if (creds_load(c, d, env->work_dir, hash, &e) < 0) {
		/* Like a refused login: one escalation, the rest wait for
		 * the file to change. */
		c->auth_failed = true;
		memcpy(c->auth_hash, hash, sizeof(c->auth_hash));
		snprintf(c->auth_msg, sizeof(c->auth_msg), "%.250s", e.msg);
		pthread_mutex_unlock(&c->lock);
		snprintf(call->message, sizeof(call->message), "connector %.60s:"
		    " %.400s", d->name, e.msg);
		snprintf(call->code, sizeof(call->code), "credentials");
		call->auth_first = true;
		curl_easy_cleanup(esc);
		return CONN_AUTH;
	}
	pthread_mutex_unlock(&c->lock);

	x.method = "GET";
	x.url = url_of(c, d, d->login_path);
	if (http_do(c, d, &x, &r, call, &sent) < 0)
		goto out;
	if (is_unavailable(d, &r)) {
		out = CONN_WAIT;
		wait_for(call, d, CONN_WAIT_UNAVAILABLE,
		    util_now_ms() + d->unavailable_wait_ms);
		snprintf(call->message, sizeof(call->message), "connector %s:"
		    " the system is unavailable (maintenance)", d->name);
		goto out;
	}
	if (r.status != 200) {
		snprintf(call->message, sizeof(call->message), "connector %s:"
		    " GET %s answered %ld, not the login form", d->name,
		    d->login_path, r.status);
		goto out;
	}
	form_add(&body, esc, d->user_field, c->user);
	form_add(&body, esc, d->pass_field, c->pass);
	/* Every hidden input of the form goes back (CSRF tokens and the
	 * like), as a browser would send it. */
	if (conn_probe_eval(&(struct conn_probe){ .kind = CONN_XPATH,
	    .expr = (char *)"//form" }, &r, NULL) == 1 && r.html != NULL) {
		xc = xmlXPathNewContext(r.html);
		xo = xc ? xmlXPathEvalExpression((const xmlChar *)
		    "//form//input[@type='hidden']", xc) : NULL;
		for (int i = 0; xo && xo->nodesetval &&
		    i < xo->nodesetval->nodeNr; i++) {
			xmlNodePtr n = xo->nodesetval->nodeTab[i];
			xmlChar *nm = xmlGetProp(n, (const xmlChar *)"name");
			xmlChar *vl = xmlGetProp(n, (const xmlChar *)"value");

			if (nm != NULL) {
				form_add(&body, esc, (char *)nm,
				    vl ? (char *)vl : "");
				pthread_mutex_lock(&c->lock);
				secret_add(c, vl ? (char *)vl : NULL);
				pthread_mutex_unlock(&c->lock);
			}
			xmlFree(nm);
			xmlFree(vl);
		}
		xmlXPathFreeObject(xo);
		xmlXPathFreeContext(xc);
	}
	x.method = "POST";
	x.body = body;
	x.ctype = "application/x-www-form-urlencoded";
	x.summary = "login form (username, password, hidden fields)";
	if (http_do(c, d, &x, &r, call, &sent) < 0)
		goto out;
	if (r.status >= 300 && r.status < 400 && !is_login_redirect(d, &r)) {
		out = CONN_OK;
	} else if (r.status == 200 && d->has_login_fail &&
	    conn_probe_eval(&d->login_fail, &r, &v) == 1) {
		pthread_mutex_lock(&c->lock);
		c->auth_failed = true;
		memcpy(c->auth_hash, hash, sizeof(c->auth_hash));
		snprintf(c->auth_msg, sizeof(c->auth_msg), "%s", v);
		pthread_mutex_unlock(&c->lock);
		snprintf(call->message, sizeof(call->message), "connector %s:"
		    " the system refused the login of user %s: %s; correct the"
		    " password in the credentials file, then retry this item"
		    " (the other items of this connector wait until then)",
		    d->name, c->user, v);
		snprintf(call->code, sizeof(call->code), "auth_failed");
		call->auth_first = true;
		free(v);
		out = CONN_AUTH;
		goto out;
	} else if (is_unavailable(d, &r)) {
		out = CONN_WAIT;
		wait_for(call, d, CONN_WAIT_UNAVAILABLE,
		    util_now_ms() + d->unavailable_wait_ms);
		snprintf(call->message, sizeof(call->message), "connector %s:"
		    " the system is unavailable (maintenance)", d->name);
		goto out;
	} else {
		snprintf(call->message, sizeof(call->message), "connector %s:"
		    " the login answered %ld without a redirect or a clear"
		    " refusal", d->name, r.status);
		goto out;
	}
	if (d->has_csrf) {
		free(x.url);
		x = (struct xfer){ .method = "GET",
		    .url = url_of(c, d, d->csrf_path) };
		if (http_do(c, d, &x, &r, call, &sent) < 0) {
			out = CONN_SYSTEM;
			goto out;
		}
		if (r.status != 200 || conn_probe_eval(&d->csrf_value, &r,
		    &v) != 1) {
			snprintf(call->message, sizeof(call->message),
			    "connector %s: no CSRF token on %s after the login"
			    " (status %ld)", d->name, d->csrf_path, r.status);
			out = CONN_SYSTEM;
			goto out;
		}
		pthread_mutex_lock(&c->lock);
		secret_add(c, v);
		c->csrf = v;
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_lock(&c->lock);
	c->session = true;
	c->gen++;
	pthread_mutex_unlock(&c->lock);
out:
	free(x.url);
	free(body);
	conn_resp_clear(&r);
	curl_easy_cleanup(esc);
	return out;
}

/* ---- sending ---- */

const char *
conn_outcome_name(enum conn_outcome o)
{
	static const char *names[] = { "ok", "business", "system", "unknown",
	    "auth", "wait" };

	return names[o];
}

void
conn_call_init(struct conn_call *c)
{
	memset(c, 0, sizeof(*c));
	c->values = json_object();
	c->evidence = json_array();
}

void
conn_call_clear(struct conn_call *c)
{
	json_decref(c->values);
	json_decref(c->evidence);
	conn_resp_clear(&c->resp);
	memset(c, 0, sizeof(*c));
}

static char *
xml_escape(const char *s)
{
	char *out = xmalloc(strlen(s) * 6 + 1), *o = out;

	for (; *s; s++) {
		const char *r = NULL;

		switch (*s) {
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '&': r = "&amp;"; break;
		case '"': r = "&quot;"; break;
		case '\'': r = "&apos;"; break;
		}
		if (r != NULL) {
			strcpy(o, r);
			o += strlen(r);
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Expands ${...} in an XML template with every value XML-escaped. */
static char *
expand_xml(const struct conn_env *env, const char *tmpl)
{
	char *out = xstrdup("");

	for (const char *p = tmpl; *p != '\0';) {
		const char *end = NULL;
		char *piece, *t;

		if (p[0] == '$' && p[1] == '{' && (end = strchr(p, '}')) != NULL) {
			char *tok = xstrndup(p, (size_t)(end - p + 1));
			char *v = env->expand(env->expand_arg, tok);

			free(tok);
			if (v == NULL) {
				free(out);
				return NULL;
			}
			piece = xml_escape(v);
			free(v);
			p = end + 1;
		} else {
			piece = xstrndup(p, 1);
			p++;
		}
		t = xasprintf("%s%s", out, piece);
		free(out);
		free(piece);
		out = t;
	}
	return out;
}

/* Builds the request; fills x. -1 (nothing to send) when a template
 * cannot be filled in or a file cannot be read. */
static int
build(struct conn *c, const struct conn_def *d, const struct conn_req *r,
    const struct conn_env *env, CURL *esc, struct xfer *x,
    struct conn_call *call)
{
	char *path = env->expand(env->expand_arg, r->path);
	char **vals = xcalloc(r->nfields + 1, sizeof(*vals));
	char *csrf = NULL;
	int rc = -1;

	/* Every value first: a request is whole or not sent at all. */
	if (path == NULL)
		goto unresolved;
	for (size_t i = 0; i < r->nfields; i++)
		if ((vals[i] = env->expand(env->expand_arg,
		    r->fields[i].value)) == NULL)
			goto unresolved;
	if (r->body == CONN_BODY_XML &&
	    (x->body = expand_xml(env, r->raw)) == NULL)
		goto unresolved;
	x->method = r->method;
	x->url = url_of(c, d, path);
	pthread_mutex_lock(&c->lock);
	csrf = r->csrf && c->csrf ? xstrdup(c->csrf) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (r->body == CONN_BODY_FORM) {
		char *body = NULL;

		for (size_t i = 0; i < r->nfields; i++)
			form_add(&body, esc, r->fields[i].name, vals[i]);
		if (csrf != NULL)
			form_add(&body, esc, d->csrf_field, csrf);
		x->body = body ? body : xstrdup("");
		x->ctype = "application/x-www-form-urlencoded";
	} else if (r->body == CONN_BODY_MULTIPART) {
		x->mime = curl_mime_init(esc);
		for (size_t i = 0; i < r->nfields; i++) {
			const char *v = vals[i];
			curl_mimepart *part = curl_mime_addpart(x->mime);

			curl_mime_name(part, r->fields[i].name);
			if (r->fields[i].file) {
				char *p = v[0] == '/' ? xstrdup(v) :
				    util_path_join(env->work_dir, v);

				if (curl_mime_filedata(part, p) != CURLE_OK) {
					snprintf(call->message,
					    sizeof(call->message), "cannot"
					    " read %s to upload", p);
					free(p);
					goto out;
				}
				free(p);
			} else
				curl_mime_data(part, v, CURL_ZERO_TERMINATED);
		}
		if (csrf != NULL) {
			curl_mimepart *part = curl_mime_addpart(x->mime);

			curl_mime_name(part, d->csrf_field);
			curl_mime_data(part, csrf, CURL_ZERO_TERMINATED);
		}
		x->body = xstrdup("(multipart form)");
	} else if (r->body == CONN_BODY_JSON) {
		json_t *o = json_object();

		for (size_t i = 0; i < r->nfields; i++)
			json_object_set_new(o, r->fields[i].name,
			    json_string(vals[i]));
		if (csrf != NULL)
			json_object_set_new(o, d->csrf_field, json_string(csrf));
		x->body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		x->ctype = "application/json";
	} else if (r->body == CONN_BODY_XML) {
		x->ctype = "text/xml; charset=utf-8";
		x->soap_action = r->soap_action;
	}
	rc = 0;
	goto out;
unresolved:
	snprintf(call->message, sizeof(call->message), "a value of the"
	    " request could not be filled in; nothing was sent");
out:
	for (size_t i = 0; i < r->nfields; i++)
		free(vals[i]);
	free(vals);
	free(path);
	free(csrf);
	return rc;
}

/* Waits for a concurrency slot and the rate limit. */
static void
limits_enter(struct conn *c, const struct conn_def *d)
{
	int64_t now, wait = 0;

	pthread_mutex_lock(&c->lock);
	while (c->inflight >= d->max_concurrent)
		pthread_cond_wait(&c->cond, &c->lock);
	c->inflight++;
	if (d->rate > 0) {
		int64_t step = (int64_t)(1000.0 / d->rate);

		now = util_mono_ms();
		if (c->next_slot < now)
			c->next_slot = now;
		wait = c->next_slot - now;
		c->next_slot += step;
	}
	pthread_mutex_unlock(&c->lock);
	if (wait > 0) {
		struct timespec ts = { wait / 1000, (wait % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static void
limits_leave(struct conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->inflight--;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void
breaker_note(struct conn *c, const struct conn_def *d, bool ok, bool probe,
    struct conn_call *call)
{
	size_t n = json_array_size(call->evidence);

	pthread_mutex_lock(&c->lock);
	if (probe)
		c->probing = false;
	if (!ok && n > 0) {
		/* Copies only: jansson's reference counts are not shared
		 * between threads here. */
		json_decref(c->last_fail);
		c->last_fail = json_deep_copy(json_array_get(call->evidence,
		    n - 1));
	}
	if (ok) {
		c->fails = 0;
		c->open_until = 0;
	} else if (++c->fails >= d->breaker_failures || probe) {
		c->open_until = util_now_ms() + d->breaker_open_ms;
		log_warn("connector %s: circuit breaker open for %lld ms after"
		    " %d failure(s) in a row", d->name,
		    (long long)d->breaker_open_ms, c->fails);
	}
	pthread_mutex_unlock(&c->lock);
}

/* Decides whether a request may go now. CONN_OK, CONN_WAIT or CONN_AUTH. */
static enum conn_outcome
gate(struct conn *c, const struct conn_def *d, const struct conn_env *env,
    struct conn_call *call, bool *probe)
{
	int64_t now = util_now_ms();
	enum conn_outcome out = CONN_OK;

	*probe = false;
	if (d->cal != NULL && !cal_is_open(d->cal, now / 1000)) {
		int64_t next = cal_next_open(d->cal, now / 1000);

		wait_for(call, d, CONN_WAIT_HOURS, next > 0 ? next * 1000 :
		    now + 3600000);
		snprintf(call->message, sizeof(call->message), "connector %s:"
		    " outside its service hours (%s)", d->name, cal_name(d->cal));
		return CONN_WAIT;
	}
	pthread_mutex_lock(&c->lock);
	if (c->auth_failed) {
		char hash[65];
		struct err e;
		size_t len;
		char *path = d->cred_file[0] == '/' ? xstrdup(d->cred_file) :
		    util_path_join(env->work_dir ? env->work_dir : ".",
		    d->cred_file);
		char *data = util_read_file(path, &len, &e);

		free(path);
		if (data != NULL) {
			util_sha256_hex(data, len, hash);
			free(data);
		}
		/* A changed credentials file is a person's correction. */
		if (data != NULL && strcmp(hash, c->auth_hash) != 0) {
			c->auth_failed = false;
		} else {
			wait_for(call, d, CONN_WAIT_AUTH, now + d->auth_wait_ms);
			snprintf(call->message, sizeof(call->message),
			    "connector %s: waiting for corrected credentials"
			    " (the login was refused: %s)", d->name,
			    c->auth_msg);
			snprintf(call->code, sizeof(call->code), "auth_failed");
			out = CONN_AUTH;
		}
	}
	/*
	 * An open breaker sends nothing, but it is a system error, not a
	 * wait: the item's attempts run out and a person hears of a system
	 * that stays broken, instead of the cases waiting for ever.
	 */
	if (out == CONN_OK && c->open_until > now) {
		snprintf(call->message, sizeof(call->message), "connector %s:"
		    " circuit breaker open after %d failures in a row; nothing"
		    " sent", d->name, c->fails);
		out = CONN_SYSTEM;
		if (c->last_fail != NULL) {
			json_t *ev = json_deep_copy(c->last_fail);

			json_object_set_new(ev, "note", json_string("the last"
			    " failure before the circuit breaker opened"));
			json_array_append_new(call->evidence, ev);
		}
	} else if (out == CONN_OK && c->open_until != 0) {
		/* Half-open: one probe goes, the others wait for it. */
		if (c->probing) {
			snprintf(call->message, sizeof(call->message),
			    "connector %s: circuit breaker half-open, a probe"
			    " is out; nothing sent", d->name);
			out = CONN_SYSTEM;
		} else {
			c->probing = true;
			*probe = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return out;
}

/* The session is gone (re-login next time) unless a newer one exists. */
static void
session_drop(struct conn *c, unsigned gen)
{
	pthread_mutex_lock(&c->lock);
	if (c->gen == gen)
		c->session = false;
	pthread_mutex_unlock(&c->lock);
}

static enum conn_outcome
ensure_session(struct conn *c, const struct conn_def *d,
    const struct conn_env *env, struct conn_call *call, unsigned *gen)
{
	enum conn_outcome out = CONN_OK;
	bool have;

	if (!d->has_login)
		return CONN_OK;
	pthread_mutex_lock(&c->lock);
	have = c->session;
	*gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	if (have)
		return CONN_OK;
	pthread_mutex_lock(&c->login_lock);
	pthread_mutex_lock(&c->lock);
	have = c->session;
	pthread_mutex_unlock(&c->lock);
	if (!have) {
		pthread_mutex_lock(&c->lock);
		/* Someone else's login was refused while we waited. */
		if (c->auth_failed) {
			snprintf(call->message, sizeof(call->message),
			    "connector %s: waiting for corrected credentials"
			    " (the login was refused: %s)", d->name,
			    c->auth_msg);
			snprintf(call->code, sizeof(call->code), "auth_failed");
			wait_for(call, d, CONN_WAIT_AUTH,
			    util_now_ms() + d->auth_wait_ms);
			out = CONN_AUTH;
		}
		pthread_mutex_unlock(&c->lock);
		if (out == CONN_OK)
			out = do_login(c, d, env, call);
	}
	pthread_mutex_lock(&c->lock);
	*gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->login_lock);
	return out;
}

static bool
status_ok(const struct conn_req *r, long st)
{
	if (r->nstatus == 0)
		return st == 200;
	for (int i = 0; i < r->nstatus; i++)
		if (r->status[i] == st)
			return true;
	return false;
}

/* Checks one answer. */
static enum conn_outcome
classify(const struct conn_def *d, const struct conn_req *r,
    struct conn_resp *resp, bool side_effect, struct conn_call *call)
{
	enum conn_outcome sys = side_effect ? CONN_UNKNOWN : CONN_SYSTEM;
	char *v = NULL;
	char pass_input[128];

	if (!status_ok(r, resp->status)) {
		snprintf(call->message, sizeof(call->message), "%s %s answered"
		    " HTTP %ld", r->method, r->path, resp->status);
		return sys;
	}
	if (r->content_type != NULL && (resp->ctype == NULL ||
	    strncasecmp(resp->ctype, r->content_type,
	    strlen(r->content_type)) != 0)) {
		snprintf(call->message, sizeof(call->message), "%s %s answered"
		    " %s where %s was expected", r->method, r->path,
		    resp->ctype ? resp->ctype : "no content type",
		    r->content_type);
		return sys;
	}
	snprintf(pass_input, sizeof(pass_input), "name=\"%s\"",
	    d->pass_field ? d->pass_field : "password");
	if (d->has_login && resp->body != NULL &&
	    strstr(resp->body, pass_input) != NULL &&
	    strstr(resp->body, "<form") != NULL) {
		snprintf(call->message, sizeof(call->message), "%s %s answered"
		    " with the login page where a result was expected",
		    r->method, r->path);
		snprintf(call->code, sizeof(call->code), "login_page");
		return sys;
	}
	if (r->has_biz && conn_probe_eval(&r->biz, resp, &v) == 1) {
		char *m = NULL;

		if (r->has_biz_msg)
			conn_probe_eval(&r->biz_msg, resp, &m);
		snprintf(call->code, sizeof(call->code), "%s", v);
		snprintf(call->message, sizeof(call->message), "the system"
		    " refused: %s%s%s", v, m ? " " : "", m ? m : "");
		free(v);
		free(m);
		return CONN_BUSINESS;
	}
	for (size_t i = 0; i < r->nok; i++) {
		int rc = conn_probe_eval(&r->ok[i], resp, NULL);

		if (rc != 1) {
			snprintf(call->message, sizeof(call->message), "%s %s:"
			    " the answer %s (%s%s)", r->method, r->path,
			    rc < 0 ? "cannot be parsed for the check" :
			    "lacks what marks success", r->ok[i].kind == CONN_RE
			    ? "re:" : r->ok[i].kind == CONN_JSON ? "json:" :
			    "xpath:", r->ok[i].expr);
			return sys;
		}
	}
	for (size_t i = 0; i < r->nextract; i++) {
		int rc = conn_probe_eval(&r->extract[i].probe, resp, &v);

		if (rc != 1 || v == NULL || v[0] == '\0') {
			snprintf(call->message, sizeof(call->message), "%s %s:"
			    " no %s in the answer", r->method, r->path,
			    r->extract[i].name);
			free(v);
			return sys;
		}
		json_object_set_new(call->values, r->extract[i].name,
		    json_string(v));
		free(v);
	}
	return CONN_OK;
}

static void
backoff_sleep(const struct conn_def *d, int attempt)
{
	int64_t ms = d->backoff_ms << (attempt < 10 ? attempt : 10);
	struct timespec ts;

	ms = ms / 2 + random() % (ms / 2 + 1);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

enum conn_outcome
conn_send(const struct conn_def *d, const struct conn_req *r,
    const struct conn_env *env, bool side_effect, struct conn_call *c)
{
	struct conn *cn = conn_get(d->name);
	enum conn_outcome out = CONN_SYSTEM;
	bool relogged = false;
	CURL *esc;
	int attempt = 0;

	pthread_once(&curl_once, curl_init_once);
	esc = curl_easy_init();
	for (;;) {
		struct xfer x = { 0 };
		unsigned gen = 0;
		bool probe, sent = false;

		c->message[0] = '\0';
		c->wait_on = CONN_WAIT_NONE;
		c->wait_max = 0;
		if ((out = gate(cn, d, env, c, &probe)) != CONN_OK)
			break;
		limits_enter(cn, d);
		out = ensure_session(cn, d, env, c, &gen);
		if (out != CONN_OK) {
			limits_leave(cn);
			if (out == CONN_SYSTEM)
				breaker_note(cn, d, false, probe, c);
			else if (probe)
				breaker_note(cn, d, out != CONN_WAIT, true, c);
			if (out == CONN_SYSTEM && attempt < d->retries) {
				backoff_sleep(d, attempt++);
				continue;
			}
			break;
		}
		if (build(cn, d, r, env, esc, &x, c) < 0) {
			free(x.url);
			free(x.body);
			curl_mime_free(x.mime);
			limits_leave(cn);
			if (probe)
				breaker_note(cn, d, true, true, c);
			out = CONN_BUSINESS;
			snprintf(c->code, sizeof(c->code), "bad_request");
			break;
		}
		if (side_effect || x.body != NULL) {
			char *s = x.body ? xstrdup(x.body) : NULL;

			/* The request as sent, for the reviewer. */
			x.summary = s;
		}
		if (http_do(cn, d, &x, &c->resp, c, &sent) < 0) {
			out = side_effect && sent ? CONN_UNKNOWN : CONN_SYSTEM;
		} else if (is_login_redirect(d, &c->resp) ||
		    c->resp.status == 401 || (d->has_expired &&
		    conn_probe_eval(&d->expired, &c->resp, NULL) == 1)) {
			/* The session expired: the system turned the request
			 * away before acting on it, so it may go again once. */
			session_drop(cn, gen);
			if (!relogged) {
				relogged = true;
				limits_leave(cn);
				if (probe) {
					pthread_mutex_lock(&cn->lock);
					cn->probing = false;
					pthread_mutex_unlock(&cn->lock);
				}
				free(x.url);
				free(x.body);
				free((char *)x.summary);
				curl_mime_free(x.mime);
				continue;
			}
			snprintf(c->message, sizeof(c->message), "%s %s: the"
			    " session expired again right after a login",
			    r->method, r->path);
			out = CONN_SYSTEM;
		} else if (is_unavailable(d, &c->resp)) {
			out = CONN_WAIT;
			wait_for(c, d, CONN_WAIT_UNAVAILABLE, util_now_ms() +
			    d->unavailable_wait_ms + random() % 1000);
			snprintf(c->message, sizeof(c->message), "connector %s:"
			    " the system is unavailable (maintenance); waiting",
			    d->name);
		} else {
			out = classify(d, r, &c->resp, side_effect, c);
			if (strcmp(c->code, "login_page") == 0 ||
			    c->resp.status == 403)
				session_drop(cn, gen);
		}
		limits_leave(cn);
		free(x.url);
		free(x.body);
		free((char *)x.summary);
		curl_mime_free(x.mime);
		if (out == CONN_WAIT) {
			if (probe)
				breaker_note(cn, d, false, true, c);
			break;
		}
		breaker_note(cn, d, out == CONN_OK || out == CONN_BUSINESS,
		    probe, c);
		if (out == CONN_SYSTEM && attempt < d->retries &&
		    !(side_effect && sent)) {
			backoff_sleep(d, attempt++);
			json_object_clear(c->values);
			continue;
		}
		break;
	}
	curl_easy_cleanup(esc);
	return out;
}
