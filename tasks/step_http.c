/*
 * step_http.c - "http.request" (read-only) and "http.submit" (acts on the
 * other system) through a connector (connectors/conn.h).
 *
 * http.submit never sends blindly twice. Every submission carries the
 * stable key "clerk-<item id>-<step id>" (${request_key}). When the step
 * has a lookup it asks the other system first, on every run - a run may
 * follow a kill -9 between the send and the commit of the step - and again
 * when the outcome of a send is unknown (timeout, reset, 5xx, garbage after
 * the request left). Without a lookup an unknown outcome is escalated as
 * "outcome_unknown".
 *
 * http.request may poll: with until = "field" it waits durably (the item
 * goes back to the queue, no worker is held) until the extracted field
 * matches until_match, or fails when it matches fail_match.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "playbook.h"

struct http_conf {
	bool submit;
	struct conn_def *def;
	struct conn_req req;
	bool has_lookup;
	struct conn_req lookup;
	struct conn_probe found, found_key;
	bool has_found_key;
	/* The lookup's extractions apply only when it found the case. */
	struct conn_extract *lookup_extract;
	size_t nlookup_extract;
	char *until;
	regex_t until_re, fail_re;
	bool has_until, has_fail;
	int64_t poll_ms, wait_max_ms;
};

static const char *const request_keys[] = { "connector", "request", "until",
    "until_match", "fail_match", "poll", "wait_max", NULL };
static const char *const submit_keys[] = { "connector", "request", "lookup",
    "lookup_found", "lookup_key", NULL };

static void
http_release(void *p)
{
	struct http_conf *c = p;

	if (c == NULL)
		return;
	conn_def_free(c->def);
	conn_req_clear(&c->req);
	conn_req_clear(&c->lookup);
	for (size_t i = 0; i < c->nlookup_extract; i++) {
		free(c->lookup_extract[i].name);
		conn_probe_clear(&c->lookup_extract[i].probe);
	}
	free(c->lookup_extract);
	conn_probe_clear(&c->found);
	conn_probe_clear(&c->found_key);
	free(c->until);
	if (c->has_until)
		regfree(&c->until_re);
	if (c->has_fail)
		regfree(&c->fail_re);
	free(c);
}

static int
compile(regex_t *re, const config_setting_t *s, const char *key,
    bool *has, struct pb_diag *d)
{
	const char *v;

	*has = false;
	if (!config_setting_lookup_string(s, key, &v))
		return 0;
	if (regcomp(re, v, REG_EXTENDED | REG_NOSUB) != 0) {
		pb_diag_add(d, config_setting_get_member(s, key), "%s: \"%s\""
		    " is not a valid extended regular expression", key, v);
		return -1;
	}
	*has = true;
	return 0;
}

/* conn errors already read "file:line: message". */
static void
diag_raw(struct pb_diag *d, const char *msg)
{
	d->msgs = xrealloc(d->msgs, (d->n + 1) * sizeof(*d->msgs));
	d->msgs[d->n++] = xstrdup(msg);
}

static int
prepare(const config_setting_t *s, void **confp, struct pb_diag *d,
    bool submit)
{
	struct http_conf *c = xcalloc(1, sizeof(*c));
	const config_setting_t *m;
	const char *name, *v;
	struct err e;

	*confp = c;
	c->submit = submit;
	if (!config_setting_lookup_string(s, "connector", &name)) {
		pb_diag_add(d, s, "%s needs connector = \"NAME\" (declared in"
		    " the playbook's connectors group)", submit ?
		    "http.submit" : "http.request");
		return -1;
	}
	if ((c->def = conn_def_load(s, name, &e)) == NULL) {
		diag_raw(d, e.msg);
		return -1;
	}
	if ((m = config_setting_get_member(s, "request")) == NULL ||
	    !config_setting_is_group(m)) {
		pb_diag_add(d, s, "missing request = { path = \"/...\"; ... }");
		return -1;
	}
	if (conn_req_parse(&c->req, m, &e) < 0) {
		diag_raw(d, e.msg);
		return -1;
	}
	if (submit && (m = config_setting_get_member(s, "lookup")) != NULL) {
		if (conn_req_parse(&c->lookup, m, &e) < 0) {
			diag_raw(d, e.msg);
			return -1;
		}
		c->has_lookup = true;
		c->lookup_extract = c->lookup.extract;
		c->nlookup_extract = c->lookup.nextract;
		c->lookup.extract = NULL;
		c->lookup.nextract = 0;
		if (!config_setting_lookup_string(s, "lookup_found", &v) ||
		    conn_probe_parse(&c->found, v, &e) < 0) {
			pb_diag_add(d, s, "a lookup needs lookup_found ="
			    " \"json:found\" (or re:/xpath:) saying whether"
			    " the system already has the case");
			return -1;
		}
		if (config_setting_lookup_string(s, "lookup_key", &v)) {
			if (conn_probe_parse(&c->found_key, v, &e) < 0) {
				pb_diag_add(d, config_setting_get_member(s,
				    "lookup_key"), "lookup_key: %s", e.msg);
				return -1;
			}
			c->has_found_key = true;
		}
	}
	if (!submit) {
		if (config_setting_lookup_string(s, "until", &v))
			c->until = xstrdup(v);
		if (compile(&c->until_re, s, "until_match", &c->has_until,
		    d) < 0 ||
		    compile(&c->fail_re, s, "fail_match", &c->has_fail, d) < 0)
			return -1;
		if (c->until != NULL && !c->has_until) {
			pb_diag_add(d, s, "until = \"%s\" needs until_match ="
			    " \"REGEX\"", c->until);
			return -1;
		}
		if ((c->poll_ms = pb_setting_duration(s, "poll", "5s",
		    d)) < 0 || (c->wait_max_ms = pb_setting_duration(s,
		    "wait_max", "24h", d)) < 0)
			return -1;
	}
	return 0;
}

static int
request_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	return prepare(s, confp, d, false);
}

static int
submit_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	return prepare(s, confp, d, true);
}

struct expand_arg {
	struct step_ctx *ctx;
	char key[96];
};

/* The connector's expansion: ${request_key} first (it is this step's,
 * not the item's), then the item's references; NULL when one has no
 * value, and the connector then sends nothing. */
static char *
expand(void *arg, const char *tmpl)
{
	struct expand_arg *a = arg;
	const char *tok = "${request_key}";
	char *s = xstrdup(tmpl), *p, *out;

	while ((p = strstr(s, tok)) != NULL) {
		char *t = xasprintf("%.*s%s%s", (int)(p - s), s, a->key,
		    p + strlen(tok));

		free(s);
		s = t;
	}
	out = step_expand(a->ctx, s);
	free(s);
	return out;
}

static int
http_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	const struct http_conf *c = conf;
	size_t len = strcspn(path, ".");
	static const char *const fixed[] = { "request_key", "via", "evidence",
	    NULL };

	if (step_output_in(path, fixed, NULL, 0))
		return 1;
	for (size_t i = 0; i < c->req.nextract; i++)
		if (strlen(c->req.extract[i].name) == len &&
		    strncmp(c->req.extract[i].name, path, len) == 0)
			return 1;
	for (size_t i = 0; i < c->nlookup_extract; i++)
		if (strlen(c->lookup_extract[i].name) == len &&
		    strncmp(c->lookup_extract[i].name, path, len) == 0)
			return 1;
	hint[0] = '\0';
	for (size_t i = 0; i < c->req.nextract; i++)
		snprintf(hint + strlen(hint), n - strlen(hint), "%s, ",
		    c->req.extract[i].name);
	for (size_t i = 0; i < c->nlookup_extract; i++)
		snprintf(hint + strlen(hint), n - strlen(hint), "%s, ",
		    c->lookup_extract[i].name);
	snprintf(hint + strlen(hint), n - strlen(hint), "request_key, via,"
	    " evidence; values come from the request's extract = { ... }");
	return 0;
}

static const char *const http_tokens[] = { "request_key", NULL };

/* Evidence of every call so far, for the output or the escalation. */
static void
keep(json_t *all, struct conn_call *call)
{
	json_array_extend(all, call->evidence);
	json_array_clear(call->evidence);
}

/*
 * A wait on maintenance or on corrected credentials: back to the queue
 * until the connector's next try, or, once the item has waited on the
 * same for longer than the connector's bound (unavailable_max,
 * auth_max), a business error for a reviewer, who can retry or reject.
 * The start of the wait is kept with the item, so a restart of clerkd
 * does not start the clock again.
 */
static enum step_result
wait_bounded(struct step_ctx *ctx, struct http_conf *c,
    struct conn_call *call, const char *what)
{
	bool auth = call->wait_on == CONN_WAIT_AUTH;
	const char *on = auth ? "login.refused" : "system.unavailable";
	int64_t since, now = util_now_ms();
	char at[48], waited[32], max[32];

	ctx->wait_until = call->wait_until;
	if (call->wait_on != CONN_WAIT_AUTH &&
	    call->wait_on != CONN_WAIT_UNAVAILABLE)
		return step_fail(ctx, STEP_WAIT, "waiting", "%s: %s", what,
		    call->message);
	since = step_waiting_since(ctx, on);
	if (now - since < call->wait_max) {
		/* The next look is at the bound at the latest, so an item
		 * escalates on time, not one wait after it. */
		if (ctx->wait_until > since + call->wait_max)
			ctx->wait_until = since + call->wait_max;
		return step_fail(ctx, STEP_WAIT, "waiting", "%s: %s", what,
		    call->message);
	}
	ctx->wait_on[0] = '\0';
	util_format_time(since, at, sizeof(at));
	util_format_duration((now - since) / 1000 * 1000, waited,
	    sizeof(waited));
	util_format_duration(call->wait_max, max, sizeof(max));
	json_object_set_new(ctx->context, "waiting_on", json_string(on));
	json_object_set_new(ctx->context, "waiting_since", json_string(at));
	json_object_set_new(ctx->context, "wait_max", json_string(max));
	if (auth)
		return step_fail(ctx, STEP_BUSINESS_ERROR,
		    "login.refused_too_long", "%s: connector %s: this item has"
		    " waited since %s (%s, longer than auth_max = %s) for its"
		    " login to be accepted, and nothing got through meanwhile."
		    " Correct the user or password in the credentials file,"
		    " then retry this item; or reject it (%.200s)", what,
		    conn_def_name(c->def), at, waited, max, call->message);
	return step_fail(ctx, STEP_BUSINESS_ERROR,
	    "system.unavailable_too_long", "%s: connector %s: the system has"
	    " been unavailable (maintenance) for this item since %s (%s,"
	    " longer than unavailable_max = %s), and nothing got through"
	    " meanwhile. Ask the system's operators when it is back, then"
	    " retry this item; or reject it", what, conn_def_name(c->def),
	    at, waited, max);
}

static enum step_result
fail_with(struct step_ctx *ctx, struct http_conf *c, json_t *evidence,
    enum conn_outcome o, struct conn_call *call, const char *what)
{
	enum step_result res;
	const char *reason;

	if (ctx->unresolved[0] != '\0')
		return step_unresolved(ctx);
	ctx->context = json_pack("{s:s,s:s,s:s,s:O}", "connector",
	    conn_def_name(c->def), "outcome", conn_outcome_name(o), "code",
	    call->code, "evidence", evidence);
	switch (o) {
	case CONN_BUSINESS:
		res = STEP_BUSINESS_ERROR;
		reason = "refused";
		break;
	case CONN_WAIT:
		return wait_bounded(ctx, c, call, what);
	case CONN_AUTH:
		if (!call->auth_first)
			return wait_bounded(ctx, c, call, what);
		/* The one escalation for the connector: the other items wait
		 * for the credentials file to change. */
		res = STEP_ESCALATE;
		reason = "connector_auth_failed";
		break;
	case CONN_UNKNOWN:
		res = STEP_ESCALATE;
		reason = "outcome_unknown";
		break;
	default:
		res = STEP_SYSTEM_ERROR;
		reason = "system_error";
		break;
	}
	return step_fail(ctx, res, reason, "%s: %s", what, call->message[0] ?
	    call->message : conn_outcome_name(o));
}

static void
output_of(struct step_ctx *ctx, struct conn_call *call, json_t *evidence,
    const char *via, const char *key)
{
	ctx->output = json_deep_copy(call->values);
	if (key != NULL)
		json_object_set_new(ctx->output, "request_key", json_string(key));
	if (via != NULL)
		json_object_set_new(ctx->output, "via", json_string(via));
	json_object_set(ctx->output, "evidence", evidence);
}

/*
 * Asks the system whether it has the case. 1: found (values in call), 0:
 * not found, -1: could not tell (o set), -2: found under another key.
 */
static int
lookup(struct http_conf *c, const struct conn_env *env, const char *key,
    struct conn_call *call, enum conn_outcome *o)
{
	char *v = NULL;
	int rc;

	json_object_clear(call->values);
	*o = conn_send(c->def, &c->lookup, env, false, call);
	if (*o != CONN_OK)
		return -1;
	rc = conn_probe_eval(&c->found, &call->resp, NULL);
	if (rc < 0) {
		snprintf(call->message, sizeof(call->message), "the lookup's"
		    " answer cannot be read");
		*o = CONN_SYSTEM;
		return -1;
	}
	if (rc == 0)
		return 0;
	if (c->has_found_key && conn_probe_eval(&c->found_key, &call->resp,
	    &v) == 1 && strcmp(v, key) != 0) {
		snprintf(call->message, sizeof(call->message), "the system"
		    " already has this case, registered with request key %s,"
		    " not by this item (%s)", v, key);
		free(v);
		return -2;
	}
	free(v);
	for (size_t i = 0; i < c->nlookup_extract; i++) {
		if (conn_probe_eval(&c->lookup_extract[i].probe, &call->resp,
		    &v) != 1 || v == NULL || v[0] == '\0') {
			snprintf(call->message, sizeof(call->message), "the"
			    " lookup found the case but its answer has no %s",
			    c->lookup_extract[i].name);
			free(v);
			*o = CONN_SYSTEM;
			return -1;
		}
		json_object_set_new(call->values, c->lookup_extract[i].name,
		    json_string(v));
		free(v);
	}
	return 1;
}

static enum step_result
submit_run(struct step_ctx *ctx, struct http_conf *c)
{
	struct expand_arg ea = { .ctx = ctx };
	struct conn_env env = { ctx->work_dir, expand, &ea };
	json_t *evidence = json_array();
	struct conn_call call;
	enum conn_outcome o;
	enum step_result res;
	int rc;

	snprintf(ea.key, sizeof(ea.key), "clerk-%lld-%s",
	    (long long)ctx->item->id, ctx->step->id);
	conn_call_init(&call);
	if (c->has_lookup) {
		rc = lookup(c, &env, ea.key, &call, &o);
		keep(evidence, &call);
		if (rc == 1) {
			output_of(ctx, &call, evidence, "lookup", ea.key);
			res = STEP_OK;
			goto out;
		}
		if (rc == -2) {
			ctx->context = json_pack("{s:s,s:O}", "connector",
			    conn_def_name(c->def), "evidence", evidence);
			res = step_fail(ctx, STEP_BUSINESS_ERROR,
			    "registered_elsewhere", "%s", call.message);
			goto out;
		}
		if (rc < 0) {
			res = fail_with(ctx, c, evidence, o, &call,
			    "lookup before submitting");
			goto out;
		}
	}
	json_object_clear(call.values);
	o = conn_send(c->def, &c->req, &env, true, &call);
	keep(evidence, &call);
	if (o == CONN_OK) {
		output_of(ctx, &call, evidence, "submit", ea.key);
		res = STEP_OK;
		goto out;
	}
	if (o == CONN_UNKNOWN && c->has_lookup) {
		char first[512];

		snprintf(first, sizeof(first), "%s", call.message);
		rc = lookup(c, &env, ea.key, &call, &o);
		keep(evidence, &call);
		if (rc == 1) {
			output_of(ctx, &call, evidence, "lookup_after_unknown",
			    ea.key);
			res = STEP_OK;
			goto out;
		}
		if (rc == 0) {
			/* Not there: it did not happen; the next run looks
			 * up again before it sends. */
			snprintf(call.message, sizeof(call.message), "%.400s; the"
			    " lookup says the system does not have the case",
			    first);
			o = CONN_SYSTEM;
		} else if (rc == -2) {
			ctx->context = json_pack("{s:s,s:O}", "connector",
			    conn_def_name(c->def), "evidence", evidence);
			res = step_fail(ctx, STEP_BUSINESS_ERROR,
			    "registered_elsewhere", "%s", call.message);
			goto out;
		} else if (o == CONN_WAIT || o == CONN_AUTH) {
			/* Cannot tell yet; waiting is safe, the next run
			 * looks up first. */
		} else {
			snprintf(call.message, sizeof(call.message), "%.400s; the"
			    " lookup could not tell either", first);
			o = CONN_SYSTEM;
		}
	}
	res = fail_with(ctx, c, evidence, o, &call, "submit");
out:
	conn_call_clear(&call);
	json_decref(evidence);
	return res;
}

static enum step_result
request_run(struct step_ctx *ctx, struct http_conf *c)
{
	struct expand_arg ea = { .ctx = ctx };
	struct conn_env env = { ctx->work_dir, expand, &ea };
	json_t *evidence = json_array();
	struct conn_call call;
	enum conn_outcome o;
	enum step_result res;
	const char *v;

	snprintf(ea.key, sizeof(ea.key), "clerk-%lld-%s",
	    (long long)ctx->item->id, ctx->step->id);
	conn_call_init(&call);
	o = conn_send(c->def, &c->req, &env, false, &call);
	keep(evidence, &call);
	if (o != CONN_OK) {
		res = fail_with(ctx, c, evidence, o, &call, "request");
		goto out;
	}
	if (c->until == NULL) {
		output_of(ctx, &call, evidence, NULL, NULL);
		res = STEP_OK;
		goto out;
	}
	v = json_string_value(json_object_get(call.values, c->until));
	if (v == NULL) {
		ctx->context = json_pack("{s:s,s:O}", "connector",
		    conn_def_name(c->def), "evidence", evidence);
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "no"
		    " \"%s\" extracted to wait on; add it to extract", c->until);
		goto out;
	}
	if (regexec(&c->until_re, v, 0, NULL, 0) == 0) {
		output_of(ctx, &call, evidence, NULL, NULL);
		res = STEP_OK;
	} else if (c->has_fail && regexec(&c->fail_re, v, 0, NULL, 0) == 0) {
		ctx->context = json_pack("{s:s,s:O,s:O}", "connector",
		    conn_def_name(c->def), "values", call.values, "evidence",
		    evidence);
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "refused", "the"
		    " system answered %s = %s", c->until, v);
	} else if (util_now_ms() - ctx->item->created > c->wait_max_ms) {
		ctx->context = json_pack("{s:s,s:O,s:O}", "connector",
		    conn_def_name(c->def), "values", call.values, "evidence",
		    evidence);
		res = step_fail(ctx, STEP_ESCALATE, "wait_timeout", "%s is"
		    " still %s after the longest wait (wait_max)", c->until, v);
	} else {
		ctx->wait_until = util_now_ms() + c->poll_ms;
		res = step_fail(ctx, STEP_WAIT, "waiting", "%s is %s", c->until,
		    v);
	}
out:
	conn_call_clear(&call);
	json_decref(evidence);
	return res;
}

static enum step_result
http_run(struct step_ctx *ctx, void *p)
{
	struct http_conf *c = p;

	return c->submit ? submit_run(ctx, c) : request_run(ctx, c);
}

static const char *
http_connector(const void *p)
{
	const struct http_conf *c = p;

	return conn_def_name(c->def);
}

const struct step_kind step_http_request = {
	.name = "http.request",
	.summary = "reads from a legacy system through a connector; may poll",
	.keys = request_keys,
	.prepare = request_prepare,
	.release = http_release,
	.run = http_run,
	.output_has = http_output_has,
	.tokens = http_tokens,
	.effect = "sends requests to a legacy system",
	.connector = http_connector,
};

const struct step_kind step_http_submit = {
	.name = "http.submit",
	.summary = "submits to a legacy system, at most once per item",
	.keys = submit_keys,
	.prepare = submit_prepare,
	.release = http_release,
	.run = http_run,
	.output_has = http_output_has,
	.tokens = http_tokens,
	.effect = "sends requests to a legacy system",
	.connector = http_connector,
};
