/*
 * step_ocr.c - "ocr.check": checks an uploaded document against a
 * template (ocr/) and acts on the verdict. Accepted, the file goes to the
 * archive and the result is the step's output; rejected, it is a business
 * error (a rejection with on_business_error = "reject"); unsure, it
 * escalates with {"payload": ..., "ocr": result} for the reviewer. The
 * file is never deleted: it ends in the archive or in quarantine.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ocr.h"
#include "playbook.h"

struct ocr_conf {
	struct ocr_template *tmpl;
	char *file;               /* template: the upload's path */
	char *archive;            /* template + strftime */
	char *quarantine;
};

static const char *const ocr_keys[] = { "template", "file", "archive",
    "quarantine", NULL };

static int
ocr_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct ocr_conf *c = xcalloc(1, sizeof(*c));
	const char *v, *src = config_setting_source_file(s);
	char *dir = NULL;
	struct err e;

	*confp = c;
	if (!config_setting_lookup_string(s, "template", &v) || v[0] == '\0') {
		pb_diag_add(d, s, "ocr.check needs template = \"id-card-front\""
		    " (a file in templates/ next to the playbook, or a path)");
		return -1;
	}
	/* Template names are looked up next to the playbook that uses them. */
	if (src != NULL) {
		char *tmp = xstrdup(src);

		dir = xasprintf("%s/templates", dirname(tmp));
		free(tmp);
	}
	if (v[0] != '/' && strchr(v, '/') != NULL && src != NULL) {
		char *tmp = xstrdup(src), *path;

		path = xasprintf("%s/%s", dirname(tmp), v);
		free(tmp);
		c->tmpl = ocr_template_load(path, &e);
		free(path);
	} else
		c->tmpl = ocr_template_find(v, dir, &e);
	free(dir);
	if (c->tmpl == NULL) {
		pb_diag_add(d, config_setting_get_member(s, "template"), "%s",
		    e.msg);
		return -1;
	}
	c->file = xstrdup(config_setting_lookup_string(s, "file", &v) ? v :
	    "${file}");
	c->archive = xstrdup(config_setting_lookup_string(s, "archive", &v) ?
	    v : "archive/documents/%Y/%m");
	c->quarantine = xstrdup(config_setting_lookup_string(s, "quarantine",
	    &v) ? v : "quarantine/documents");
	return 0;
}

static void
ocr_release(void *p)
{
	struct ocr_conf *c = p;

	if (c == NULL)
		return;
	ocr_template_free(c->tmpl);
	free(c->file);
	free(c->archive);
	free(c->quarantine);
	free(c);
}

static char *
dest_dir(struct step_ctx *ctx, const char *pattern)
{
	char *exp = step_expand(ctx, pattern), buf[1024], *dir;
	time_t t = (time_t)(ctx->item->created / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(buf, sizeof(buf), exp, &tm) == 0)
		snprintf(buf, sizeof(buf), "%s", exp);
	free(exp);
	dir = util_path_join(ctx->work_dir, buf);
	return dir;
}

/* dir/<item id>-<name>: the item id keeps two uploads of one name apart. */
static char *
dest_path(struct step_ctx *ctx, const char *dir, const char *src)
{
	char *tmp = xstrdup(src), *dst;

	dst = xasprintf("%s/%lld-%s", dir, (long long)ctx->item->id,
	    basename(tmp));
	free(tmp);
	return dst;
}

static enum step_result
ocr_run(struct step_ctx *ctx, void *p)
{
	struct ocr_conf *c = p;
	struct ocr_check_opts o;
	char *rel = step_expand(ctx, c->file), *src, *adir, *qdir, *apath,
	    *qpath, *images, *check_path;
	const char *verdict;
	enum step_result res;
	struct stat st;
	json_t *result;
	struct err e;
	bool moved_before = false;

	src = util_path_join(ctx->work_dir, rel);
	free(rel);
	adir = dest_dir(ctx, c->archive);
	qdir = dest_dir(ctx, c->quarantine);
	apath = dest_path(ctx, adir, src);
	qpath = dest_path(ctx, qdir, src);
	images = xasprintf("%s/artifacts/%lld", ctx->work_dir,
	    (long long)ctx->item->id);
	check_path = src;
	if (stat(src, &st) < 0) {
		/* Moved by a run that crashed before its commit. */
		if (stat(apath, &st) == 0)
			check_path = apath;
		else if (stat(qpath, &st) == 0)
			check_path = qpath;
		else {
			res = step_fail(ctx, STEP_BUSINESS_ERROR, "missing_file",
			    "%s: %s", src, strerror(errno));
			goto out;
		}
		moved_before = true;
	}
	memset(&o, 0, sizeof(o));
	o.payload = ctx->payload;
	o.image_dir = images;
	if ((result = ocr_check_file(check_path, c->tmpl, &o, &e)) == NULL) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
		goto out;
	}
	verdict = json_string_value(json_object_get(result, "verdict"));
	if (!moved_before) {
		const char *dir = strcmp(verdict, "accept") == 0 ? adir : qdir;
		const char *dst = strcmp(verdict, "accept") == 0 ? apath : qpath;

		if (util_move_file(src, dir, dst, &e) < 0) {
			json_decref(result);
			res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "%s", e.msg);
			goto out;
		}
		json_object_set_new(result, "file", json_string(dst));
	} else
		json_object_set_new(result, "file", json_string(check_path));
	if (strcmp(verdict, "accept") == 0) {
		json_t *values = json_object(), *f;
		size_t i;

		/* Flat, for the next steps' templates: ${steps.ID.values.id_no}. */
		json_array_foreach(json_object_get(result, "fields"), i, f)
			if (json_is_string(json_object_get(f, "value")))
				json_object_set(values, json_string_value(
				    json_object_get(f, "name")), json_object_get(f,
				    "value"));
		json_object_set_new(result, "values", values);
		ctx->output = result;
		res = STEP_OK;
	} else {
		json_t *r0 = json_array_get(json_object_get(result, "reasons"), 0);
		const char *code = json_string_value(json_object_get(r0, "code"));
		json_t *rs = json_object_get(result, "reasons"), *r;
		char msg[480] = "";
		size_t i;

		json_array_foreach(rs, i, r) {
			const char *sev = json_string_value(json_object_get(r,
			    "severity"));

			/* The applicant is told what to fix; a rejection lists
			 * only what rejects. */
			if (strcmp(verdict, "reject") == 0 && sev != NULL &&
			    strcmp(sev, "reject") != 0)
				continue;
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			    "%s%s", msg[0] ? "; " : "", json_string_value(
			    json_object_get(r, "message")));
		}
		ctx->context = json_pack("{s:O,s:o}", "payload", ctx->payload,
		    "ocr", result);
		res = step_fail(ctx, strcmp(verdict, "reject") == 0 ?
		    STEP_BUSINESS_ERROR : STEP_ESCALATE, code ? code :
		    "ocr.unsure", "%s: %s", verdict, msg);
	}
out:
	free(src);
	free(adir);
	free(qdir);
	free(apath);
	free(qpath);
	free(images);
	return res;
}

const struct step_kind step_ocr_check = {
	.name = "ocr.check",
	.summary = "OCR-checks an uploaded document against a template",
	.keys = ocr_keys,
	.prepare = ocr_prepare,
	.release = ocr_release,
	.run = ocr_run,
};
