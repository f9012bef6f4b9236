/*
 * step_notify.c - "notify": writes a message to the log and, when a
 * webhook is set, POSTs it as JSON with an idempotency key (item + step),
 * so a receiver can drop the copy a retry may send.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "playbook.h"

struct notify_conf {
	char *message;
	char *webhook;
	int64_t timeout_ms;
};

static const char *const notify_keys[] = { "message", "webhook", "timeout",
    NULL };

static int
notify_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct notify_conf *c = xcalloc(1, sizeof(*c));
	const char *m = NULL, *w = NULL, *t = NULL;
	struct err e;

	*confp = c;
	if (!config_setting_lookup_string(s, "message", &m)) {
		pb_diag_add(d, s, "notify needs message = \"...\" (${field}"
		    " takes a payload field)");
		return -1;
	}
	if (config_setting_get_member(s, "webhook") != NULL) {
		if (!config_setting_lookup_string(s, "webhook", &w) ||
		    (strncmp(w, "http://", 7) != 0 &&
		    strncmp(w, "https://", 8) != 0)) {
			pb_diag_add(d, config_setting_get_member(s, "webhook"),
			    "webhook must be an http:// or https:// URL");
			return -1;
		}
	}
	c->timeout_ms = 10000;
	if (config_setting_lookup_string(s, "timeout", &t) &&
	    util_parse_duration(t, &c->timeout_ms, &e) < 0) {
		pb_diag_add(d, config_setting_get_member(s, "timeout"), "%s",
		    e.msg);
		return -1;
	}
	c->message = xstrdup(m);
	c->webhook = xstrdup(w);
	return 0;
}

static void
notify_release(void *p)
{
	struct notify_conf *c = p;

	if (c == NULL)
		return;
	free(c->message);
	free(c->webhook);
	free(c);
}

static size_t
discard(char *ptr, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int
notify_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "message", "webhook_status",
	    NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

static enum step_result
notify_run(struct step_ctx *ctx, void *p)
{
	struct notify_conf *c = p;
	char *msg = step_expand(ctx, c->message), *body, *hdr;
	struct curl_slist *hdrs = NULL;
	long status = 0;
	json_t *obj;
	CURLcode rc;
	CURL *h;

	if (msg == NULL)
		return step_unresolved(ctx);
	log_emit(LL_INFO, ctx->item->id, ctx->pb->name, ctx->step->id,
	    "notify: %s", msg);
	if (c->webhook == NULL) {
		ctx->output = json_pack("{s:s}", "message", msg);
		free(msg);
		return STEP_OK;
	}
	obj = json_pack("{s:s,s:I,s:s,s:s}", "playbook", ctx->pb->name,
	    "item", (json_int_t)ctx->item->id, "key", ctx->item->key,
	    "message", msg);
	body = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	hdr = xasprintf("Idempotency-Key: clerk-%lld-%s",
	    (long long)ctx->item->id, ctx->step->id);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, hdr);
	h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, c->webhook);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(hdr);
	free(body);

	if (rc != CURLE_OK || status >= 500) {
		step_fail(ctx, STEP_SYSTEM_ERROR, "webhook_unavailable",
		    "webhook %s: %s", c->webhook, rc != CURLE_OK ?
		    curl_easy_strerror(rc) : "server error");
		free(msg);
		return STEP_SYSTEM_ERROR;
	}
	if (status >= 300) {
		step_fail(ctx, STEP_BUSINESS_ERROR, "webhook_refused",
		    "webhook %s answered %ld", c->webhook, status);
		free(msg);
		return STEP_BUSINESS_ERROR;
	}
	ctx->output = json_pack("{s:s,s:i}", "message", msg, "webhook_status",
	    (int)status);
	free(msg);
	return STEP_OK;
}

const struct step_kind step_notify = {
	.name = "notify",
	.summary = "logs a message and optionally POSTs it to a webhook",
	.keys = notify_keys,
	.prepare = notify_prepare,
	.release = notify_release,
	.output_has = notify_output_has,
	.run = notify_run,
	.effect = "sends a notification (log line, webhook)",
};
