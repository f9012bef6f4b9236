/*
 * step_noop.c - "noop" and "sleep": steps that do nothing (or wait), for
 * tests, benchmarks and demonstrations of the queue's guarantees.
 *
 * noop can fail on purpose (fail_attempts: a system error on the first N
 * attempts; fail = "business": always a business error), and can record
 * every execution in a journal file so crash tests can prove that no step
 * whose completion was committed ever runs again.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "playbook.h"

struct noop_conf {
	int fail_attempts;
	bool fail_business;
	char *journal_file;
};

static const char *const noop_keys[] = { "fail_attempts", "fail",
    "journal_file", NULL };

static int
noop_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct noop_conf *c = xcalloc(1, sizeof(*c));
	const config_setting_t *m;

	*confp = c;
	if ((m = config_setting_get_member(s, "fail_attempts")) != NULL) {
		if (config_setting_type(m) != CONFIG_TYPE_INT ||
		    config_setting_get_int(m) < 0) {
			pb_diag_add(d, m, "fail_attempts must be a number >= 0");
			return -1;
		}
		c->fail_attempts = config_setting_get_int(m);
	}
	if ((m = config_setting_get_member(s, "fail")) != NULL) {
		if (config_setting_type(m) != CONFIG_TYPE_STRING ||
		    strcmp(config_setting_get_string(m), "business") != 0) {
			pb_diag_add(d, m, "fail must be \"business\"");
			return -1;
		}
		c->fail_business = true;
	}
	if ((m = config_setting_get_member(s, "journal_file")) != NULL) {
		if (config_setting_type(m) != CONFIG_TYPE_STRING) {
			pb_diag_add(d, m, "journal_file must be a path string");
			return -1;
		}
		c->journal_file = xstrdup(config_setting_get_string(m));
	}
	return 0;
}

static void
noop_release(void *p)
{
	struct noop_conf *c = p;

	if (c != NULL)
		free(c->journal_file);
	free(c);
}

static enum step_result
noop_run(struct step_ctx *ctx, void *p)
{
	struct noop_conf *c = p;
	char nonce[33];
	unsigned char raw[16];

	if (c->fail_business)
		return step_fail(ctx, STEP_BUSINESS_ERROR, "business_error",
		    "noop step \"%s\" refuses the item (fail = \"business\")",
		    ctx->step->id);
	if (ctx->item->attempts < c->fail_attempts)
		return step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "noop step \"%s\": planned system error on attempt %d of"
		    " %d", ctx->step->id, ctx->item->attempts + 1,
		    c->fail_attempts);
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)random();
	util_hex(raw, sizeof(raw), nonce);
	if (c->journal_file != NULL) {
		char *path = step_out_path(ctx, c->journal_file);
		char *line = xasprintf("%lld %s %s\n", (long long)ctx->item->id,
		    ctx->step->id, nonce);
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0644);
		ssize_t n = -1;

		/* One O_APPEND write per line: lines from several workers
		 * never interleave, and a kill -9 cannot lose a finished
		 * write (it is in the page cache). */
		if (fd >= 0) {
			n = write(fd, line, strlen(line));
			close(fd);
		}
		free(line);
		if (n < 0) {
			step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "cannot append to %s", path);
			free(path);
			return STEP_SYSTEM_ERROR;
		}
		free(path);
	}
	ctx->output = json_pack("{s:s}", "nonce", nonce);
	return STEP_OK;
}

static int
noop_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "nonce", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

static int
sleep_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "slept_ms", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

const struct step_kind step_noop = {
	.name = "noop",
	.summary = "does nothing; can fail on purpose or journal its runs",
	.keys = noop_keys,
	.prepare = noop_prepare,
	.release = noop_release,
	.run = noop_run,
	.output_has = noop_output_has,
};

static const char *const sleep_keys[] = { "duration", NULL };

static int
sleep_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	const config_setting_t *m = config_setting_get_member(s, "duration");
	int64_t *ms = xcalloc(1, sizeof(*ms));
	struct err e;

	*confp = ms;
	if (m == NULL || config_setting_type(m) != CONFIG_TYPE_STRING) {
		pb_diag_add(d, m ? m : s, "sleep needs duration = \"5s\"");
		return -1;
	}
	if (util_parse_duration(config_setting_get_string(m), ms, &e) < 0) {
		pb_diag_add(d, m, "%s", e.msg);
		return -1;
	}
	return 0;
}

static enum step_result
sleep_run(struct step_ctx *ctx, void *p)
{
	int64_t ms = *(int64_t *)p;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	/* Deliberately not interrupted by a drain: it stands for a step that
	 * must run to its end, which the drain grace period is for. */
	while (nanosleep(&ts, &ts) < 0)
		;
	ctx->output = json_pack("{s:I}", "slept_ms", (json_int_t)ms);
	return STEP_OK;
}

const struct step_kind step_sleep = {
	.name = "sleep",
	.summary = "waits for a duration",
	.keys = sleep_keys,
	.prepare = sleep_prepare,
	.release = free,
	.run = sleep_run,
	.output_has = sleep_output_has,
};
