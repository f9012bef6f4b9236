/*
 * step_file.c - "file.move": moves the item's file (a payload field, by
 * default "file") into a directory named by a strftime pattern of the
 * item's enqueue time, e.g. to = "archive/%Y/%m/".
 *
 * It is safe to run again after a crash: a source that is gone while the
 * destination holds the file means the move already happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "playbook.h"

struct move_conf {
	char *to;
	char *from;
};

static const char *const move_keys[] = { "to", "from", NULL };

static int
move_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct move_conf *c = xcalloc(1, sizeof(*c));
	const char *to = NULL, *from = NULL;

	*confp = c;
	if (!config_setting_lookup_string(s, "to", &to) || to[0] == '\0') {
		pb_diag_add(d, s, "file.move needs to = \"archive/%%Y/%%m/\""
		    " (a directory; strftime patterns allowed)");
		return -1;
	}
	if (config_setting_get_member(s, "from") != NULL &&
	    !config_setting_lookup_string(s, "from", &from)) {
		pb_diag_add(d, config_setting_get_member(s, "from"),
		    "from must name the payload field holding the path");
		return -1;
	}
	c->to = xstrdup(to);
	c->from = xstrdup(from ? from : "file");
	return 0;
}

static void
move_release(void *p)
{
	struct move_conf *c = p;

	if (c == NULL)
		return;
	free(c->to);
	free(c->from);
	free(c);
}

static int
same_content(const char *a, const char *b)
{
	char ha[65], hb[65];

	if (util_sha256_file(a, ha, NULL) < 0 || util_sha256_file(b, hb, NULL) < 0)
		return 0;
	return strcmp(ha, hb) == 0;
}

static void
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int
move_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "from", "path", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

static enum step_result
move_run(struct step_ctx *ctx, void *p)
{
	struct move_conf *c = p;
	json_t *v = json_object_get(ctx->payload, c->from);
	char *pattern, *dir, *src, *dst, *tmp, dirbuf[1024];
	time_t t = (time_t)(ctx->item->created / 1000);
	enum step_result res = STEP_OK;
	struct stat st;
	struct err e;
	struct tm tm;

	if (!json_is_string(v))
		return step_fail(ctx, STEP_BUSINESS_ERROR, "missing_file",
		    "the payload has no \"%s\" naming the file to move",
		    c->from);
	if ((pattern = step_expand(ctx, c->to)) == NULL)
		return step_unresolved(ctx);
	src = util_path_join(ctx->work_dir, json_string_value(v));
	localtime_r(&t, &tm);
	if (strftime(dirbuf, sizeof(dirbuf), pattern, &tm) == 0)
		snprintf(dirbuf, sizeof(dirbuf), "%s", pattern);
	free(pattern);
	dir = step_out_path(ctx, dirbuf);
	tmp = xstrdup(src);
	dst = xasprintf("%s/%s", dir, basename(tmp));
	free(tmp);

	if (util_mkdir_p(dir, 0755, &e) < 0) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
		goto out;
	}
	if (stat(src, &st) < 0) {
		if (errno == ENOENT && stat(dst, &st) == 0)
			goto done;   /* moved before a crash */
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "missing_file",
		    "%s: %s", src, strerror(errno));
		goto out;
	}
	if (stat(dst, &st) == 0) {
		if (!same_content(src, dst)) {
			res = step_fail(ctx, STEP_BUSINESS_ERROR,
			    "destination_exists", "%s already exists with"
			    " different content; rename one of them", dst);
			goto out;
		}
		if (!util_dry_run_keeps(src))
			unlink(src);
		goto done;
	}
	if (util_dry_run_keeps(src)) {
		if (util_copy_file(src, dst, 0644, &e) < 0) {
			res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "copy %s -> %s: %s", src, dst, e.msg);
			goto out;
		}
	} else if (rename(src, dst) < 0) {
		if (errno != EXDEV || util_copy_file(src, dst, 0644, &e) < 0 ||
		    unlink(src) < 0) {
			res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "move %s -> %s: %s", src, dst, errno == EXDEV ?
			    e.msg : strerror(errno));
			goto out;
		}
	}
	/* Filed by clerk: its own only (0600), however it came in. */
	if (chmod(dst, S_IRUSR | S_IWUSR) < 0) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "chmod 600 %s: %s", dst, strerror(errno));
		goto out;
	}
	fsync_dir(dir);
done:
	ctx->output = json_pack("{s:s,s:s}", "from", src, "path", dst);
out:
	free(src);
	free(dst);
	free(dir);
	return res;
}

const struct step_kind step_file_move = {
	.name = "file.move",
	.summary = "moves the item's file into a dated folder",
	.keys = move_keys,
	.prepare = move_prepare,
	.output_has = move_output_has,
	.release = move_release,
	.run = move_run,
};
