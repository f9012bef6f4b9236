/*
 * step.c - the registry of step kinds and helpers they share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "playbook.h"

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

/* ${steps.ID.a.b}: the output's field a, then its field b (or
 * element b of an array), for outputs with nested values. */
static json_t *
step_output_path(json_t *v, char *path)
{
	char *seg, *save = NULL;

	if (json_object_get(v, path) != NULL)
		return json_object_get(v, path);
	for (seg = strtok_r(path, ".", &save); seg != NULL && v != NULL;
	    seg = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(seg, NULL,
		    10)) : json_object_get(v, seg);
	return v;
}

char *
step_expand(const struct step_ctx *ctx, const char *tmpl)
{
	size_t cap = strlen(tmpl) + 64, len = 0;
	char *out = xmalloc(cap);

	for (const char *p = tmpl; *p != '\0';) {
		const char *end;
		char *piece = NULL;
		size_t n;

		if (p[0] == '$' && p[1] == '{' && (end = strchr(p, '}')) != NULL) {
			char name[128];
			json_t *v;

			n = (size_t)(end - p - 2);
			if (n < sizeof(name)) {
				memcpy(name, p + 2, n);
				name[n] = '\0';
				if (strncmp(name, "steps.", 6) == 0) {
					char *dot = strchr(name + 6, '.');

					v = NULL;
					if (dot != NULL && ctx->outputs != NULL) {
						*dot = '\0';
						v = step_output_path(json_object_get(
						    ctx->outputs, name + 6), dot + 1);
					}
				} else
					v = json_object_get(ctx->payload, name);
				if (json_is_string(v))
					piece = xstrdup(json_string_value(v));
				else if (v != NULL)
					piece = json_dumps(v, JSON_ENCODE_ANY |
					    JSON_COMPACT);
			}
			if (piece != NULL)
				p = end + 1;
		}
		if (piece == NULL) {
			piece = xmalloc(2);
			piece[0] = *p++;
			piece[1] = '\0';
		}
		n = strlen(piece);
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, piece, n);
		len += n;
		free(piece);
	}
	out[len] = '\0';
	return out;
}
