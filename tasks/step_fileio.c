/*
 * step_fileio.c - "file.put" and "file.get": exchange through local drop
 * folders (a share another system reads and writes).
 *
 * file.put writes a file under a temporary name in the target folder,
 * fsyncs it and renames it into place, so the other side never sees half a
 * file; a re-run that finds the same content there is done, different
 * content is a business error. file.get claims one file matching a
 * pattern by renaming it into a folder of claimed files under a name that
 * carries the item id: rename is atomic, so each file is picked up once,
 * by one item, and a re-run after a crash finds its own claim again. With
 * nothing to pick up the item waits (durably) and polls again.
 *
 * SFTP and FTP (through libcurl) are not built.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "playbook.h"

struct put_conf {
	char *to, *name, *content, *from;
};

struct get_conf {
	char *from, *pattern, *to;
	int64_t poll_ms, wait_max_ms;
};

static const char *const put_keys[] = { "to", "name", "content", "from",
    NULL };
static const char *const get_keys[] = { "from", "pattern", "to", "poll",
    "wait_max", NULL };

static char *
opt_str(const config_setting_t *s, const char *key)
{
	const char *v;

	return config_setting_lookup_string(s, key, &v) ? xstrdup(v) : NULL;
}

static int
put_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct put_conf *c = xcalloc(1, sizeof(*c));

	*confp = c;
	c->to = opt_str(s, "to");
	c->name = opt_str(s, "name");
	c->content = opt_str(s, "content");
	c->from = opt_str(s, "from");
	if (c->to == NULL || c->name == NULL) {
		pb_diag_add(d, s, "file.put needs to = \"FOLDER\" and name ="
		    " \"FILE\" (templates)");
		return -1;
	}
	if ((c->content == NULL) == (c->from == NULL)) {
		pb_diag_add(d, s, "file.put needs either content = \"TEXT\" or"
		    " from = \"PATH\" (templates), not both");
		return -1;
	}
	return 0;
}

static void
put_release(void *p)
{
	struct put_conf *c = p;

	if (c == NULL)
		return;
	free(c->to);
	free(c->name);
	free(c->content);
	free(c->from);
	free(c);
}

static bool
bad_name(const char *n)
{
	return n[0] == '\0' || n[0] == '.' || strchr(n, '/') != NULL;
}

static enum step_result
put_run(struct step_ctx *ctx, void *p)
{
	struct put_conf *c = p;
	char *to = step_expand(ctx, c->to), *name = step_expand(ctx, c->name);
	char *dir = util_path_join(ctx->work_dir, to), *path = NULL;
	char *data = NULL, sum[65], have[65];
	enum step_result res = STEP_OK;
	size_t len = 0;
	struct err e;

	if (bad_name(name)) {
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_name", "file.put:"
		    " \"%s\" is not a plain file name", name);
		goto out;
	}
	if (c->content != NULL) {
		data = step_expand(ctx, c->content);
		len = strlen(data);
	} else {
		char *from = step_expand(ctx, c->from);
		char *src = util_path_join(ctx->work_dir, from);

		free(from);
		data = util_read_file(src, &len, &e);
		free(src);
		if (data == NULL) {
			res = step_fail(ctx, STEP_BUSINESS_ERROR, "missing_file",
			    "file.put: %s", e.msg);
			goto out;
		}
	}
	util_sha256_hex(data, len, sum);
	path = xasprintf("%s/%s", dir, name);
	if (util_sha256_file(path, have, NULL) == 0) {
		if (strcmp(have, sum) != 0)
			res = step_fail(ctx, STEP_BUSINESS_ERROR,
			    "destination_exists", "%s already exists with other"
			    " content; the other side may not have taken the"
			    " last file yet", path);
		goto done;
	}
	if (util_mkdir_p(dir, 0755, &e) < 0 ||
	    util_write_file_atomic(path, data, len, 0644, &e) < 0) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "file.put: %s", e.msg);
		goto out;
	}
done:
	if (res == STEP_OK)
		ctx->output = json_pack("{s:s,s:s,s:I}", "path", path, "sha256",
		    sum, "bytes", (json_int_t)len);
out:
	free(to);
	free(name);
	free(dir);
	free(path);
	free(data);
	return res;
}

static int
get_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct get_conf *c = xcalloc(1, sizeof(*c));
	const char *v;
	struct err e;

	*confp = c;
	c->from = opt_str(s, "from");
	c->pattern = opt_str(s, "pattern");
	c->to = opt_str(s, "to");
	if (c->from == NULL || c->to == NULL) {
		pb_diag_add(d, s, "file.get needs from = \"FOLDER\" and to ="
		    " \"FOLDER\" (where claimed files go)");
		return -1;
	}
	if (c->pattern == NULL)
		c->pattern = xstrdup("*");
	c->poll_ms = 30000;
	c->wait_max_ms = 86400000;
	if (config_setting_lookup_string(s, "poll", &v) &&
	    util_parse_duration(v, &c->poll_ms, &e) < 0) {
		pb_diag_add(d, config_setting_get_member(s, "poll"), "poll: %s",
		    e.msg);
		return -1;
	}
	if (config_setting_lookup_string(s, "wait_max", &v) &&
	    util_parse_duration(v, &c->wait_max_ms, &e) < 0) {
		pb_diag_add(d, config_setting_get_member(s, "wait_max"),
		    "wait_max: %s", e.msg);
		return -1;
	}
	return 0;
}

static void
get_release(void *p)
{
	struct get_conf *c = p;

	if (c == NULL)
		return;
	free(c->from);
	free(c->pattern);
	free(c->to);
	free(c);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir matching pattern (prefix: only those); NULL-ended. */
static char **
list(const char *dir, const char *pattern, const char *prefix, size_t *n)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char **v = NULL;

	*n = 0;
	if (dp == NULL)
		return NULL;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' || fnmatch(pattern, de->d_name, 0) != 0)
			continue;
		if (prefix != NULL && strncmp(de->d_name, prefix,
		    strlen(prefix)) != 0)
			continue;
		v = xrealloc(v, (*n + 2) * sizeof(*v));
		v[(*n)++] = xstrdup(de->d_name);
		v[*n] = NULL;
	}
	closedir(dp);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), cmp_names);
	return v;
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static enum step_result
got(struct step_ctx *ctx, const char *path, const char *name)
{
	char sum[65];
	struct stat st;
	struct err e;

	if (util_sha256_file(path, sum, &e) < 0 || stat(path, &st) < 0)
		return step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "file.get: %s", e.msg);
	ctx->output = json_pack("{s:s,s:s,s:s,s:I}", "path", path, "name", name,
	    "sha256", sum, "bytes", (json_int_t)st.st_size);
	return STEP_OK;
}

static enum step_result
get_run(struct step_ctx *ctx, void *p)
{
	struct get_conf *c = p;
	char *from = step_expand(ctx, c->from), *to = step_expand(ctx, c->to);
	char *src_dir = util_path_join(ctx->work_dir, from);
	char *dst_dir = util_path_join(ctx->work_dir, to);
	char prefix[64], **names;
	enum step_result res = STEP_WAIT;
	struct err e;
	size_t n;

	snprintf(prefix, sizeof(prefix), "%lld-%s-", (long long)ctx->item->id,
	    ctx->step->id);
	/* A claim made before a crash is this item's file. */
	if ((names = list(dst_dir, "*", prefix, &n)) != NULL && n > 0) {
		char *path = xasprintf("%s/%s", dst_dir, names[0]);

		res = got(ctx, path, names[0] + strlen(prefix));
		free(path);
		free_list(names, n);
		goto out;
	}
	free_list(names, n);
	if (util_mkdir_p(dst_dir, 0755, &e) < 0) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "file.get: %s", e.msg);
		goto out;
	}
	names = list(src_dir, c->pattern, NULL, &n);
	for (size_t i = 0; i < n; i++) {
		char *src = xasprintf("%s/%s", src_dir, names[i]);
		char *dst = xasprintf("%s/%s%s", dst_dir, prefix, names[i]);
		int rc = rename(src, dst), err = errno;

		free(src);
		if (rc == 0) {
			int fd = open(dst_dir, O_RDONLY | O_DIRECTORY);

			if (fd >= 0) {
				fsync(fd);
				close(fd);
			}
			res = got(ctx, dst, names[i]);
			free(dst);
			free_list(names, n);
			goto out;
		}
		free(dst);
		/* ENOENT: another item took it first; try the next. */
		if (err != ENOENT) {
			res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "file.get: rename %s/%s: %s", src_dir, names[i],
			    strerror(err));
			free_list(names, n);
			goto out;
		}
	}
	free_list(names, n);
	if (util_now_ms() - ctx->item->created > c->wait_max_ms) {
		res = step_fail(ctx, STEP_ESCALATE, "missing_file", "no file"
		    " matching %s arrived in %s", c->pattern, src_dir);
		goto out;
	}
	ctx->wait_until = util_now_ms() + c->poll_ms;
	res = step_fail(ctx, STEP_WAIT, "waiting", "no file matching %s in %s"
	    " yet", c->pattern, src_dir);
out:
	free(from);
	free(to);
	free(src_dir);
	free(dst_dir);
	return res;
}

const struct step_kind step_file_put = {
	.name = "file.put",
	.summary = "writes a file into a drop folder (temp name + rename)",
	.keys = put_keys,
	.prepare = put_prepare,
	.release = put_release,
	.run = put_run,
};

const struct step_kind step_file_get = {
	.name = "file.get",
	.summary = "claims one file from a drop folder, once",
	.keys = get_keys,
	.prepare = get_prepare,
	.release = get_release,
	.run = get_run,
};
