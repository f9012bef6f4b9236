/*
 * step_escalate.c - "escalate": hands the item to a reviewer, always. Used
 * as an approval gate; approving it lets the item go on with the next step.
 */
#include <stdlib.h>
#include <string.h>

#include "playbook.h"

struct esc_conf {
	char *reason;
	char *message;
};

static const char *const esc_keys[] = { "reason", "message", NULL };

static int
esc_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct esc_conf *c = xcalloc(1, sizeof(*c));
	const char *r = NULL, *m = NULL;

	*confp = c;
	config_setting_lookup_string(s, "reason", &r);
	config_setting_lookup_string(s, "message", &m);
	if (config_setting_get_member(s, "reason") != NULL && r == NULL) {
		pb_diag_add(d, config_setting_get_member(s, "reason"),
		    "reason must be a string (a short code such as"
		    " \"needs_review\")");
		return -1;
	}
	if (config_setting_get_member(s, "message") != NULL && m == NULL) {
		pb_diag_add(d, config_setting_get_member(s, "message"),
		    "message must be a string");
		return -1;
	}
	c->reason = xstrdup(r ? r : "manual_review");
	c->message = xstrdup(m ? m : "this playbook asks a person to review"
	    " the item");
	return 0;
}

static void
esc_release(void *p)
{
	struct esc_conf *c = p;

	if (c == NULL)
		return;
	free(c->reason);
	free(c->message);
	free(c);
}

static enum step_result
esc_run(struct step_ctx *ctx, void *p)
{
	struct esc_conf *c = p;
	char *msg = step_expand(ctx, c->message);
	/* A template too: items spawned for reviewers carry their own
	 * reason (records.match: double enrolment, a fuzzy registry hit). */
	char *reason = step_expand(ctx, c->reason);

	if (msg == NULL || reason == NULL) {
		free(msg);
		free(reason);
		return step_unresolved(ctx);
	}
	step_fail(ctx, STEP_ESCALATE, reason, "%s", msg);
	free(reason);
	free(msg);
	ctx->context = json_pack("{s:O}", "payload", ctx->payload);
	return STEP_ESCALATE;
}

const struct step_kind step_escalate = {
	.name = "escalate",
	.summary = "hands the item to a reviewer",
	.keys = esc_keys,
	.prepare = esc_prepare,
	.release = esc_release,
	.run = esc_run,
};
