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
 * The same steps reach SFTP and FTP servers when the folder is an
 * sftp:// or ftp:// URL (connectors/conn_file.c). file.put uploads under a
 * temporary dot-name and renames it on the server in the same session,
 * then reads the file back and compares its SHA-256. file.get claims a
 * file by renaming it on the server into a folder of taken files (default
 * ".clerk-taken" inside the source folder) under "<item>-<step>-<name>",
 * then downloads it from there: the server's rename decides which item
 * gets a file, and a re-run after a crash finds its claim on the server.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "conn.h"
#include "playbook.h"

/* Where an sftp:// or ftp:// folder's credentials and host keys are. */
struct remote {
	enum conn_file_proto proto;
	char *cred_name, *cred_file, *known_hosts, *taken;
	int64_t connect_ms, timeout_ms;
};

struct put_conf {
	char *to, *name, *content, *from;
	struct remote r;
};

struct get_conf {
	char *from, *pattern, *to;
	int64_t poll_ms, wait_max_ms;
	struct remote r;
};

static const char *const put_keys[] = { "to", "name", "content", "from",
    "credentials", "credentials_file", "known_hosts", "connect_timeout",
    "timeout", NULL };
static const char *const get_keys[] = { "from", "pattern", "to", "poll",
    "wait_max", "credentials", "credentials_file", "known_hosts",
    "connect_timeout", "timeout", "taken", NULL };

static char *
opt_str(const config_setting_t *s, const char *key)
{
	const char *v;

	return config_setting_lookup_string(s, key, &v) ? xstrdup(v) : NULL;
}

static const char *const remote_only[] = { "credentials",
    "credentials_file", "known_hosts", "connect_timeout", "timeout", "taken",
    NULL };

/* Settings of an sftp:// or ftp:// folder; url is the folder's template. */
static int
remote_prepare(const config_setting_t *s, const char *url, struct remote *r,
    struct pb_diag *d)
{
	const char *keys[] = { "connect_timeout", "timeout" };
	int64_t *outs[] = { &r->connect_ms, &r->timeout_ms };
	const char *v;
	struct err e;

	r->proto = conn_file_proto(url);
	if (r->proto == CONN_FILE_LOCAL) {
		for (const char *const *k = remote_only; *k != NULL; k++)
			if (config_setting_get_member(s, *k) != NULL) {
				pb_diag_add(d, config_setting_get_member(s, *k),
				    "%s is only for sftp:// and ftp:// folders;"
				    " \"%s\" is a local folder", *k, url);
				return -1;
			}
		return 0;
	}
	{
		const char *h = strstr(url, "://") + 3, *sl = strchr(h, '/');
		const char *at = strchr(h, '@');

		if (at != NULL && (sl == NULL || at < sl)) {
			/* Not echoed: the URL may hold a password. */
			pb_diag_add(d, s, "a user name or password in the URL;"
			    " they go in the credentials file (credentials ="
			    " \"NAME\")");
			return -1;
		}
	}
	r->cred_name = opt_str(s, "credentials");
	r->cred_file = opt_str(s, "credentials_file");
	if (r->cred_file == NULL)
		r->cred_file = xstrdup("credentials.cfg");
	r->known_hosts = opt_str(s, "known_hosts");
	r->taken = opt_str(s, "taken");
	if (r->taken == NULL)
		r->taken = xstrdup(".clerk-taken");
	if (r->taken[0] == '\0' || strchr(r->taken, '/') != NULL ||
	    strchr(r->taken, '"') != NULL) {
		pb_diag_add(d, config_setting_get_member(s, "taken"), "taken ="
		    " \"%s\" must be a plain folder name inside the source"
		    " folder", r->taken);
		return -1;
	}
	if (r->proto == CONN_FILE_SFTP && r->cred_name == NULL) {
		pb_diag_add(d, s, "an sftp:// folder needs credentials = \"NAME\""
		    " (an entry of the credentials file)");
		return -1;
	}
	if (r->proto == CONN_FILE_SFTP && r->known_hosts == NULL) {
		/* libcurl checks no host key at all without the file. */
		pb_diag_add(d, s, "an sftp:// folder needs known_hosts = \"FILE\""
		    " (the server's host key, as ssh-keyscan prints it)");
		return -1;
	}
	r->connect_ms = 10000;
	r->timeout_ms = 300000;
	for (int i = 0; i < 2; i++)
		if (config_setting_lookup_string(s, keys[i], &v) &&
		    util_parse_duration(v, outs[i], &e) < 0) {
			pb_diag_add(d, config_setting_get_member(s, keys[i]),
			    "%s: %s", keys[i], e.msg);
			return -1;
		}
	return 0;
}

static void
remote_clear(struct remote *r)
{
	free(r->cred_name);
	free(r->cred_file);
	free(r->known_hosts);
	free(r->taken);
}

/* Credentials and host keys for one run. */
static enum step_result
remote_open(struct step_ctx *ctx, const struct remote *r, struct conn_file *f)
{
	struct err e;
	struct stat st;

	memset(f, 0, sizeof(*f));
	f->connect_ms = r->connect_ms;
	f->timeout_ms = r->timeout_ms;
	if (r->cred_name != NULL && conn_file_creds(f, ctx->work_dir,
	    r->cred_file, r->cred_name, &e) < 0)
		return step_fail(ctx, STEP_ESCALATE, "credentials", "%s: %s",
		    ctx->step->kind->name, e.msg);
	if (r->known_hosts != NULL) {
		f->known_hosts = util_path_join(ctx->work_dir, r->known_hosts);
		if (stat(f->known_hosts, &st) < 0)
			return step_fail(ctx, STEP_ESCALATE, "host_key_refused",
			    "%s: known_hosts file %s: %s; put the server's host"
			    " key there (ssh-keyscan -p PORT HOST) after checking"
			    " its fingerprint", ctx->step->kind->name,
			    f->known_hosts, strerror(errno));
	}
	return STEP_OK;
}

static enum step_result
remote_fail(struct step_ctx *ctx, enum conn_file_rc rc, const struct err *e)
{
	const char *kind = ctx->step->kind->name;

	switch (rc) {
	case CONN_FILE_AUTH:
		/* Not retried: hammering a refused login locks accounts. */
		return step_fail(ctx, STEP_ESCALATE, "auth_failed", "%s: %s",
		    kind, e->msg);
	case CONN_FILE_HOSTKEY:
		return step_fail(ctx, STEP_ESCALATE, "host_key_refused",
		    "%s: %s", kind, e->msg);
	default:
		return step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "%s: %s", kind, e->msg);
	}
}

/* The folder URL with a trailing '/'. */
static char *
dir_url(const char *url)
{
	size_t n = strlen(url);

	return n > 0 && url[n - 1] == '/' ? xstrdup(url) :
	    xasprintf("%s/", url);
}

static char *
url_name(const char *dir, const char *name)
{
	char *esc = curl_easy_escape(NULL, name, 0);
	char *u = xasprintf("%s%s", dir, esc);

	curl_free(esc);
	return u;
}

/* A name quote commands and URLs carry safely. */
static bool
plain_name(const char *n)
{
	if (n[0] == '\0' || n[0] == '.')
		return false;
	for (const unsigned char *p = (const unsigned char *)n; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '/' ||
		    *p == '\\')
			return false;
	return true;
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
	return remote_prepare(s, c->to, &c->r, d);
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
	remote_clear(&c->r);
	free(c);
}

static bool
bad_name(const char *n)
{
	return n[0] == '\0' || n[0] == '.' || strchr(n, '/') != NULL;
}

static enum step_result
put_remote(struct step_ctx *ctx, const struct put_conf *c, const char *to,
    const char *name, const char *data, size_t len, const char *sum)
{
	enum conn_file_proto proto = c->r.proto;
	char *dir = dir_url(to), *url = url_name(dir, name);
	char *tmp_name = NULL, *tmp_url = NULL, *dpath = NULL, *tp = NULL;
	char *fp = NULL, *ren[3] = { NULL }, *pre[2] = { NULL }, *back = NULL;
	char have[65];
	enum step_result res;
	enum conn_file_rc rc;
	struct conn_file f;
	size_t back_len;
	struct err e;

	if ((res = remote_open(ctx, &c->r, &f)) != STEP_OK)
		goto out;
	if (conn_file_proto(to) != proto) {
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_name", "file.put:"
		    " \"%s\" expands to another kind of folder than the"
		    " playbook names", to);
		goto out;
	}
	/* A re-run (after a crash, or the same file twice) finds it there. */
	rc = conn_file_fetch(&f, url, NULL, &back, &back_len, &e);
	if (rc == CONN_FILE_OK) {
		util_sha256_hex(back, back_len, have);
		if (strcmp(have, sum) != 0)
			res = step_fail(ctx, STEP_BUSINESS_ERROR,
			    "destination_exists", "%s already exists with other"
			    " content; the other side may not have taken the"
			    " last file yet", url);
		goto done;
	}
	if (rc != CONN_FILE_NOTFOUND) {
		res = remote_fail(ctx, rc, &e);
		goto out;
	}
	if ((dpath = conn_file_path(dir)) == NULL) {
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_name", "file.put:"
		    " \"%s\" is not a valid URL", dir);
		goto out;
	}
	tmp_name = xasprintf(".clerk-%lld-%s-%s.part",
	    (long long)ctx->item->id, ctx->step->id, name);
	tmp_url = url_name(dir, tmp_name);
	tp = xasprintf("%s%s", dpath, tmp_name);
	fp = xasprintf("%s%s", dpath, name);
	conn_file_rename_cmds(proto, tp, fp, ren);
	if (proto == CONN_FILE_FTP && dpath[0] != '\0')
		pre[0] = conn_file_mkdir_cmd(proto, dpath);
	rc = conn_file_store(&f, tmp_url, data, len, (const char *const *)pre,
	    (const char *const *)ren, &e);
	if (rc != CONN_FILE_OK) {
		res = remote_fail(ctx, rc, &e);
		goto out;
	}
	/* What arrived under the final name is what was meant. */
	free(back);
	back = NULL;
	rc = conn_file_fetch(&f, url, NULL, &back, &back_len, &e);
	if (rc != CONN_FILE_OK) {
		res = remote_fail(ctx, rc, &e);
		goto out;
	}
	util_sha256_hex(back, back_len, have);
	if (strcmp(have, sum) != 0) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "file.put: %s reads back with SHA-256 %s, not %s", url, have,
		    sum);
		goto out;
	}
done:
	if (res == STEP_OK)
		ctx->output = json_pack("{s:s,s:s,s:s,s:I}", "url", url, "name",
		    name, "sha256", sum, "bytes", (json_int_t)len);
out:
	conn_file_clear(&f);
	for (int i = 0; i < 3; i++)
		free(ren[i]);
	free(pre[0]);
	free(back);
	free(dir);
	free(url);
	free(tmp_name);
	free(tmp_url);
	free(dpath);
	free(tp);
	free(fp);
	return res;
}

static enum step_result
put_run(struct step_ctx *ctx, void *p)
{
	struct put_conf *c = p;
	char *to = step_expand(ctx, c->to), *name = step_expand(ctx, c->name);
	char *dir = NULL, *path = NULL, *from = NULL;
	char *data = NULL, sum[65], have[65];
	enum step_result res = STEP_OK;
	size_t len = 0;
	struct err e;

	/* Every reference is filled in before anything is read or sent. */
	if (to == NULL || name == NULL || (c->content != NULL && (data =
	    step_expand(ctx, c->content)) == NULL) || (c->content == NULL &&
	    (from = step_expand(ctx, c->from)) == NULL)) {
		res = step_unresolved(ctx);
		goto out;
	}
	dir = util_path_join(ctx->work_dir, to);
	if (bad_name(name)) {
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_name", "file.put:"
		    " \"%s\" is not a plain file name", name);
		goto out;
	}
	if (c->content != NULL)
		len = strlen(data);
	else {
		char *src = util_path_join(ctx->work_dir, from);

		data = util_read_file(src, &len, &e);
		free(src);
		if (data == NULL) {
			res = step_fail(ctx, STEP_BUSINESS_ERROR, "missing_file",
			    "file.put: %s", e.msg);
			goto out;
		}
	}
	util_sha256_hex(data, len, sum);
	if (c->r.proto != CONN_FILE_LOCAL) {
		res = put_remote(ctx, c, to, name, data, len, sum);
		goto out;
	}
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
	free(from);
	free(dir);
	free(path);
	free(data);
	return res;
}

static int
get_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct get_conf *c = xcalloc(1, sizeof(*c));

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
	if ((c->poll_ms = pb_setting_duration(s, "poll", "30s", d)) < 0 ||
	    (c->wait_max_ms = pb_setting_duration(s, "wait_max", "24h",
	    d)) < 0)
		return -1;
	if (remote_prepare(s, c->from, &c->r, d) < 0)
		return -1;
	if (conn_file_proto(c->to) != CONN_FILE_LOCAL) {
		pb_diag_add(d, config_setting_get_member(s, "to"), "to is the"
		    " local folder the files are downloaded to; the server's"
		    " folder of taken files is taken = \"NAME\"");
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
	remote_clear(&c->r);
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

/* Keeps a downloaded file as dst_dir/<prefix><name>; the step's output. */
static enum step_result
keep_local(struct step_ctx *ctx, const char *dst_dir, const char *prefix,
    const char *name, const char *remote, const char *data, size_t len)
{
	char *path = xasprintf("%s/%s%s", dst_dir, prefix, name), sum[65];
	struct err e;

	if (util_write_file_atomic(path, data, len, 0644, &e) < 0) {
		free(path);
		return step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "file.get: %s", e.msg);
	}
	util_sha256_hex(data, len, sum);
	ctx->output = json_pack("{s:s,s:s,s:s,s:s,s:I}", "path", path, "name",
	    name, "remote", remote, "sha256", sum, "bytes", (json_int_t)len);
	free(path);
	return STEP_OK;
}

/*
 * 1: got a file (or failed: *res says), 0: nothing to take. The claim is
 * the server's rename into the taken folder, made before the download.
 */
static int
get_remote(struct step_ctx *ctx, const struct get_conf *c, const char *from,
    const char *dst_dir, const char *prefix, enum step_result *res)
{
	enum conn_file_proto proto = c->r.proto;
	char *dir = dir_url(from), *taken_url = NULL, *dpath = NULL;
	char *tpath = NULL, **names = NULL, *data = NULL;
	size_t n = 0, len;
	enum conn_file_rc rc;
	struct conn_file f;
	struct err e;
	int found = 1;

	if ((*res = remote_open(ctx, &c->r, &f)) != STEP_OK)
		goto out;
	if (conn_file_proto(from) != proto ||
	    (dpath = conn_file_path(dir)) == NULL) {
		*res = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_name",
		    "file.get: \"%s\" is not a valid %s folder", from,
		    proto == CONN_FILE_SFTP ? "sftp://" : "ftp://");
		goto out;
	}
	{
		char *t = url_name(dir, c->r.taken);

		taken_url = dir_url(t);
		free(t);
	}
	tpath = xasprintf("%s%s", dpath, c->r.taken);
	/* A claim made before a crash is this item's file. */
	rc = conn_file_list(&f, taken_url, &names, &n, &e);
	if (rc != CONN_FILE_OK && rc != CONN_FILE_NOTFOUND) {
		*res = remote_fail(ctx, rc, &e);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char *u;

		if (strncmp(names[i], prefix, strlen(prefix)) != 0)
			continue;
		u = url_name(taken_url, names[i]);
		rc = conn_file_fetch(&f, u, NULL, &data, &len, &e);
		*res = rc != CONN_FILE_OK ? remote_fail(ctx, rc, &e) :
		    keep_local(ctx, dst_dir, prefix, names[i] + strlen(prefix),
		    u, data, len);
		free(u);
		goto out;
	}
	conn_file_names_free(names, n);
	names = NULL;
	n = 0;
	rc = conn_file_list(&f, dir, &names, &n, &e);
	if (rc != CONN_FILE_OK) {
		*res = remote_fail(ctx, rc, &e);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char *cmds[4] = { NULL }, *sp, *tp, *u, *claimed;

		if (!plain_name(names[i]) ||
		    fnmatch(c->pattern, names[i], 0) != 0)
			continue;
		claimed = xasprintf("%s%s", prefix, names[i]);
		sp = xasprintf("%s%s", dpath, names[i]);
		tp = xasprintf("%s/%s", tpath, claimed);
		cmds[0] = conn_file_mkdir_cmd(proto, tpath);
		conn_file_rename_cmds(proto, sp, tp, cmds + 1);
		u = url_name(taken_url, claimed);
		rc = conn_file_fetch(&f, u, (const char *const *)cmds, &data,
		    &len, &e);
		for (int k = 0; k < 4; k++)
			free(cmds[k]);
		free(sp);
		free(tp);
		free(claimed);
		/* The rename failed: another item (or another clerk) took
		 * the file between the listing and now. */
		if (rc == CONN_FILE_QUOTE) {
			free(u);
			continue;
		}
		*res = rc != CONN_FILE_OK ? remote_fail(ctx, rc, &e) :
		    keep_local(ctx, dst_dir, prefix, names[i], u, data, len);
		free(u);
		goto out;
	}
	found = 0;
out:
	conn_file_clear(&f);
	conn_file_names_free(names, n);
	free(data);
	free(dir);
	free(taken_url);
	free(dpath);
	free(tpath);
	return found;
}

static enum step_result
get_run(struct step_ctx *ctx, void *p)
{
	struct get_conf *c = p;
	char *from = step_expand(ctx, c->from), *to = step_expand(ctx, c->to);
	char *src_dir, *dst_dir;
	char prefix[64], **names;
	enum step_result res = STEP_WAIT;
	struct err e;
	size_t n;

	if (from == NULL || to == NULL) {
		free(from);
		free(to);
		return step_unresolved(ctx);
	}
	src_dir = util_path_join(ctx->work_dir, from);
	dst_dir = util_path_join(ctx->work_dir, to);
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
	if (c->r.proto != CONN_FILE_LOCAL) {
		if (get_remote(ctx, c, from, dst_dir, prefix, &res))
			goto out;
		goto none;
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
none:
	if (c->r.proto != CONN_FILE_LOCAL) {
		free(src_dir);
		src_dir = xstrdup(from);
	}
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

static int
put_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "path", "url", "name", "sha256",
	    "bytes", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

static int
get_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "path", "name", "remote",
	    "sha256", "bytes", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

const struct step_kind step_file_put = {
	.name = "file.put",
	.summary = "writes a file into a drop folder or to an SFTP/FTP"
	    " server (temp name + rename)",
	.keys = put_keys,
	.prepare = put_prepare,
	.release = put_release,
	.run = put_run,
	.output_has = put_output_has,
	.effect = "writes a file into a drop folder or to a remote server",
};

const struct step_kind step_file_get = {
	.name = "file.get",
	.summary = "claims one file from a drop folder or an SFTP/FTP"
	    " server, once",
	.keys = get_keys,
	.prepare = get_prepare,
	.release = get_release,
	.run = get_run,
	.output_has = get_output_has,
	.effect = "claims a file from a drop folder or a remote server",
};
