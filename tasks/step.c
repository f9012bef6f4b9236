/*
 * step.c - the registry of step kinds and helpers they share.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "playbook.h"
#include "queue.h"

extern const struct step_kind step_noop, step_sleep, step_escalate,
    step_file_move, step_notify, step_reconcile, step_reconcile_remember,
    step_http_request, step_http_submit, step_validate, step_file_put,
    step_file_get, step_records, step_records_apply,
    step_ocr_check, step_cases_split;

static const struct step_kind *const kinds[] = {
	&step_noop,
	&step_sleep,
	&step_escalate,
	&step_file_move,
	&step_notify,
	&step_reconcile,
	&step_reconcile_remember,
	&step_http_request,
	&step_http_submit,
	&step_validate,
	&step_file_put,
	&step_file_get,
	&step_records,
	&step_records_apply,
	&step_ocr_check,
	&step_cases_split,
	NULL,
};

const struct step_kind *
step_kind_find(const char *name)
{
	for (const struct step_kind *const *k = kinds; *k != NULL; k++)
		if (strcmp((*k)->name, name) == 0)
			return *k;
	return NULL;
}

const struct step_kind *const *
step_kinds(void)
{
	return kinds;
}

enum step_result
step_fail(struct step_ctx *ctx, enum step_result res, const char *reason,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->message, sizeof(ctx->message), fmt, ap);
	va_end(ap);
	snprintf(ctx->reason, sizeof(ctx->reason), "%s", reason ? reason :
	    "escalated");
	return res;
}

int64_t
step_waiting_since(struct step_ctx *ctx, const char *on)
{
	json_t *w = json_object_get(ctx->payload, "_waiting");
	const char *step = json_string_value(json_object_get(w, "step"));
	const char *was = json_string_value(json_object_get(w, "on"));
	json_t *since = json_object_get(w, "since");
	int64_t now = util_now_ms();

	snprintf(ctx->wait_on, sizeof(ctx->wait_on), "%s", on);
	ctx->wait_since = now;
	/* A start in the future is a clock that went back: count from now. */
	if (step != NULL && was != NULL && json_is_integer(since) &&
	    strcmp(step, ctx->step->id) == 0 && strcmp(was, on) == 0 &&
	    json_integer_value(since) <= now)
		ctx->wait_since = json_integer_value(since);
	return ctx->wait_since;
}

/* A growing string for step_expand. */
struct buf {
	char *data;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2 + 64;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* ${steps.ID.a.b}: the output's field a, then its field b (or
 * element b of an array), for outputs with nested values. A key that
 * itself holds dots ("a.b") is taken whole first. */
static json_t *
path_get(json_t *v, const char *path)
{
	char buf[STEP_REF_MAX], *seg, *save = NULL;

	if (v == NULL)
		return NULL;
	if (json_is_object(v) && json_object_get(v, path) != NULL)
		return json_object_get(v, path);
	snprintf(buf, sizeof(buf), "%s", path);
	for (seg = strtok_r(buf, ".", &save); seg != NULL && v != NULL;
	    seg = strtok_r(NULL, ".", &save)) {
		if (json_is_array(v)) {
			char *end;
			unsigned long i = strtoul(seg, &end, 10);

			v = *end == '\0' ? json_array_get(v, i) : NULL;
		} else
			v = json_object_get(v, seg);
	}
	return v;
}

static bool
ref_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

const char *
step_ref_next(const char *p, char *name, size_t n, const char **end)
{
	for (; (p = strstr(p, "${")) != NULL; p += 2) {
		const char *q = p + 2;

		while (ref_char(*q))
			q++;
		if (*q != '}' || q == p + 2 || (size_t)(q - p - 2) >= n)
			continue;
		memcpy(name, p + 2, (size_t)(q - p - 2));
		name[q - p - 2] = '\0';
		*end = q + 1;
		return p;
	}
	return NULL;
}

json_t *
step_ref_value(json_t *payload, json_t *outputs, const char *name)
{
	json_t *v;

	if (strncmp(name, "steps.", 6) == 0) {
		const char *id = name + 6, *dot;
		char sid[STEP_REF_MAX];

		/* A step id may hold dots itself: the first finished step
		 * whose id the name starts with. */
		v = NULL;
		for (dot = strchr(id, '.'); dot != NULL && v == NULL;
		    dot = strchr(dot + 1, '.')) {
			json_t *out;

			memcpy(sid, id, (size_t)(dot - id));
			sid[dot - id] = '\0';
			if ((out = json_object_get(outputs, sid)) != NULL)
				v = path_get(out, dot + 1);
		}
	} else if (strncmp(name, "payload.", 8) == 0)
		v = path_get(payload, name + 8);
	else
		v = path_get(payload, name);
	/* A null is no value: sending "null" is a placeholder too. */
	return json_is_null(v) ? NULL : v;
}

/* Why name has no value, for the person who has to fix it. */
static void
ref_why(const struct step_ctx *ctx, const char *name, char *buf, size_t n)
{
	if (strncmp(name, "steps.", 6) == 0) {
		const char *id = name + 6, *dot = strchr(id, '.');
		char sid[STEP_REF_MAX];

		snprintf(sid, sizeof(sid), "%.*s", dot ? (int)(dot - id) :
		    (int)strlen(id), id);
		if (dot == NULL)
			snprintf(buf, n, "a step reference needs a field:"
			    " ${steps.%s.FIELD}", sid);
		else if (json_object_get(ctx->outputs, sid) == NULL)
			snprintf(buf, n, "step \"%s\" has not finished before"
			    " this one", sid);
		else
			snprintf(buf, n, "step \"%s\" finished without a value"
			    " for %s", sid, dot + 1);
	} else
		snprintf(buf, n, "the item's payload has no value for \"%s\"",
		    strncmp(name, "payload.", 8) == 0 ? name + 8 : name);
}

enum step_result
step_unresolved(struct step_ctx *ctx)
{
	char why[256];

	ref_why(ctx, ctx->unresolved, why, sizeof(why));
	return step_fail(ctx, STEP_BUSINESS_ERROR, "unresolved_reference",
	    "${%s} cannot be filled in: %s; nothing was sent or written. "
	    "Resume with the missing value or reject the item", ctx->unresolved,
	    why);
}

int
step_refs_check(struct step_ctx *ctx, char *const *refs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (step_ref_value(ctx->payload, ctx->outputs, refs[i]) == NULL) {
			snprintf(ctx->unresolved, sizeof(ctx->unresolved), "%s",
			    refs[i]);
			return -1;
		}
	return 0;
}

char *
step_expand(struct step_ctx *ctx, const char *tmpl)
{
	struct buf b = { 0 };
	const char *p = tmpl, *ref, *end;
	char name[STEP_REF_MAX];

	while ((ref = step_ref_next(p, name, sizeof(name), &end)) != NULL) {
		json_t *v = step_ref_value(ctx->payload, ctx->outputs, name);

		if (v == NULL) {
			snprintf(ctx->unresolved, sizeof(ctx->unresolved), "%s",
			    name);
			free(b.data);
			return NULL;
		}
		buf_add(&b, p, (size_t)(ref - p));
		if (json_is_string(v))
			buf_adds(&b, json_string_value(v));
		else {
			char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			buf_adds(&b, t);
			free(t);
		}
		p = end;
	}
	buf_adds(&b, p);
	return b.data ? b.data : xstrdup("");
}

int
step_output_in(const char *path, const char *const *names, char *hint,
    size_t n)
{
	size_t len = strcspn(path, ".");

	for (const char *const *k = names; *k != NULL; k++)
		if (strlen(*k) == len && strncmp(*k, path, len) == 0)
			return 1;
	if (hint != NULL && n > 0) {
		hint[0] = '\0';
		for (const char *const *k = names; *k != NULL; k++)
			snprintf(hint + strlen(hint), n - strlen(hint), "%s%s",
			    k == names ? "" : ", ", *k);
	}
	return 0;
}

/* An approved step of a kind without its own approved(): what the later
 * steps read is the approval and the reviewer's fields, as given. */
static enum step_result
approved_generic(struct step_ctx *ctx)
{
	json_t *fields = json_object_get(ctx->approval, "fields");

	ctx->output = json_object();
	if (json_is_object(fields))
		json_object_update(ctx->output, fields);
	json_object_set_new(ctx->output, "decision", json_string("approve"));
	json_object_set(ctx->output, "escalation", json_object_get(
	    ctx->approval, "escalation"));
	json_object_set(ctx->output, "approved_by", json_object_get(
	    ctx->approval, "by"));
	return STEP_OK;
}

/*
 * The finished steps' outputs, with a reviewer's corrections on top: a
 * resume with {"corrections": {"steps": {"ID": {...}}}} changes what the
 * later steps read of step ID (the journal keeps what the step wrote).
 */
json_t *
step_outputs(const struct item *it, json_t *payload)
{
	json_t *o = json_object(), *fix, *v;
	const char *id;

	for (size_t i = 0; i < it->nsteps; i++) {
		v = json_loads(it->steps[i].output, JSON_DECODE_ANY, NULL);
		json_object_set_new(o, it->steps[i].step_id, v ? v : json_null());
	}
	fix = json_object_get(json_object_get(payload, "corrections"), "steps");
	json_object_foreach(fix, id, v)
		if (json_is_object(v) && json_is_object(json_object_get(o, id)))
			json_object_update_recursive(json_object_get(o, id), v);
	return o;
}

char *
step_out_path(const struct step_ctx *ctx, const char *rel)
{
	bool escapes = rel[0] == '/';

	/* A dry run writes only into its own folder: an absolute path or one
	 * with ".." lands under out_dir/outside/ instead. */
	for (const char *p = rel; ctx->out_dir != NULL && !escapes &&
	    (p = strstr(p, "..")) != NULL; p += 2)
		escapes = (p == rel || p[-1] == '/') && (p[2] == '/' ||
		    p[2] == '\0');
	if (ctx->out_dir != NULL && escapes) {
		char *safe = xstrdup(rel), *out;

		for (char *p = safe; (p = strstr(p, "..")) != NULL; p += 2)
			p[0] = p[1] = '_';
		out = xasprintf("%s/outside/%s", ctx->out_dir, safe +
		    strspn(safe, "/"));
		free(safe);
		return out;
	}
	return util_path_join(ctx->out_dir != NULL ? ctx->out_dir :
	    ctx->work_dir, rel);
}

enum step_result
step_run(struct step_ctx *ctx)
{
	const struct pb_step *st = ctx->step;

	if (ctx->approval != NULL)
		return st->kind->approved != NULL ?
		    st->kind->approved(ctx, st->conf) : approved_generic(ctx);
	/* Nothing is sent, written or spawned while a value is missing. */
	if (step_refs_check(ctx, st->refs, st->nrefs) < 0)
		return step_unresolved(ctx);
	return st->kind->run(ctx, st->conf);
}
