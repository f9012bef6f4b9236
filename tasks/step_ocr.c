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

	if (exp == NULL)
		return NULL;
	localtime_r(&t, &tm);
	if (strftime(buf, sizeof(buf), exp, &tm) == 0)
		snprintf(buf, sizeof(buf), "%s", exp);
	free(exp);
	dir = step_out_path(ctx, buf);
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

	adir = dest_dir(ctx, c->archive);
	qdir = dest_dir(ctx, c->quarantine);
	if (rel == NULL || adir == NULL || qdir == NULL) {
		free(rel);
		free(adir);
		free(qdir);
		return step_unresolved(ctx);
	}
	src = util_path_join(ctx->work_dir, rel);
	free(rel);
	apath = dest_path(ctx, adir, src);
	qpath = dest_path(ctx, qdir, src);
	images = xasprintf("%s/artifacts/%lld", ctx->out_dir != NULL ?
	    ctx->out_dir : ctx->work_dir, (long long)ctx->item->id);
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

static int
ocr_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	const struct ocr_conf *c = conf;
	static const char *const names[] = { "verdict", "template",
	    "document_type", "file", "sha256", "mime", "fields", "pages",
	    "reasons", "values", "ocr_values", "corrections", NULL };
	const char *sub = strchr(path, '.');

	if (!step_output_in(path, names, hint, n))
		return 0;
	/* values.NAME and ocr_values.NAME: a field of the template. */
	if (sub == NULL || (strncmp(path, "values.", 7) != 0 &&
	    strncmp(path, "ocr_values.", 11) != 0))
		return 1;
	for (size_t i = 0; i < c->tmpl->nfields; i++)
		if (strcmp(c->tmpl->fields[i].spec.name, sub + 1) == 0)
			return 1;
	hint[0] = '\0';
	for (size_t i = 0; i < c->tmpl->nfields; i++)
		snprintf(hint + strlen(hint), n - strlen(hint), "%svalues.%s",
		    i ? ", " : "", c->tmpl->fields[i].spec.name);
	snprintf(hint + strlen(hint), n - strlen(hint), " in template %s",
	    c->tmpl->name);
	return 0;
}

static const struct ocr_field_spec *
spec_of(const struct ocr_conf *c, const char *name)
{
	for (size_t i = 0; i < c->tmpl->nfields; i++)
		if (strcmp(c->tmpl->fields[i].spec.name, name) == 0)
			return &c->tmpl->fields[i].spec;
	return NULL;
}

/*
 * A reviewer's corrections {"fields": {"name": "value"}}: each a field of
 * the template, each valid for its type as if it had been read (an ID's
 * check character, a date, an amount), each equal to the case's where the
 * template compares it. Normalised values go into out (may be NULL).
 */
static int
check_corrections(const struct ocr_conf *c, json_t *fields, json_t *payload,
    json_t *out, struct err *e)
{
	const char *name;
	json_t *v;

	if (fields == NULL)
		return 0;
	if (!json_is_object(fields)) {
		err_setc(e, ERR_INVALID, "\"fields\" must be an object of"
		    " corrected values {\"name\": \"value\"}");
		return -1;
	}
	json_object_foreach(fields, name, v) {
		const struct ocr_field_spec *spec = spec_of(c, name);
		struct ocr_vresult vr;

		if (spec == NULL) {
			char known[400] = "";

			for (size_t i = 0; i < c->tmpl->nfields; i++)
				snprintf(known + strlen(known), sizeof(known) -
				    strlen(known), "%s%s", i ? ", " : "",
				    c->tmpl->fields[i].spec.name);
			err_setc(e, ERR_INVALID, "the corrected field \"%s\" is"
			    " not a field of template %s (its fields: %s)", name,
			    c->tmpl->name, known);
			return -1;
		}
		if (!json_is_string(v)) {
			err_setc(e, ERR_INVALID, "the corrected %s must be a"
			    " string", name);
			return -1;
		}
		memset(&vr, 0, sizeof(vr));
		ocr_validate_field(spec, json_string_value(v), payload, 0, &vr);
		if (vr.status != OCR_FS_OK && vr.status != OCR_FS_WARNING) {
			err_setc(e, ERR_INVALID, "the corrected %s \"%s\" is not"
			    " valid: %s (%s)", name, json_string_value(v),
			    vr.message[0] ? vr.message : ocr_fstatus_name(
			    vr.status), vr.code);
			return -1;
		}
		if (out != NULL)
			json_object_set_new(out, name, json_string(vr.value));
	}
	return 0;
}

/*
 * The values an approval hands on: what OCR read (evidence.ocr.fields)
 * with the corrections (fixed, normalised) on top. Every field that has
 * one must be valid as a correction would be, and a required field must
 * have one, or the approval is refused naming the fields to correct, so a
 * misread the reviewer did not fix never reaches another system.
 */
static int
check_final(const struct ocr_conf *c, json_t *evidence, json_t *fixed,
    json_t *payload, struct err *e)
{
	json_t *read = json_object_get(json_object_get(evidence, "ocr"),
	    "fields"), *f;
	char bad[600] = "";
	int nbad = 0;

	for (size_t i = 0; i < c->tmpl->nfields; i++) {
		const struct ocr_field_spec *spec = &c->tmpl->fields[i].spec;
		const char *v = json_string_value(json_object_get(fixed,
		    spec->name));
		struct ocr_vresult vr;
		size_t j;

		if (v == NULL)
			json_array_foreach(read, j, f)
				if (json_is_string(json_object_get(f, "name")) &&
				    strcmp(json_string_value(json_object_get(f,
				    "name")), spec->name) == 0)
					v = json_string_value(json_object_get(f,
					    "value"));
		if (v == NULL || v[0] == '\0') {
			if (!spec->required)
				continue;
			snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad),
			    "%s%s (nothing was read)", nbad++ ? "; " : "",
			    spec->name);
			continue;
		}
		memset(&vr, 0, sizeof(vr));
		ocr_validate_field(spec, v, payload, 0, &vr);
		if (vr.status == OCR_FS_OK || vr.status == OCR_FS_WARNING)
			continue;
		snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad),
		    "%s%s \"%s\" (%s)", nbad++ ? "; " : "", spec->name, v,
		    vr.message[0] ? vr.message : vr.code);
	}
	if (nbad == 0)
		return 0;
	err_setc(e, ERR_INVALID, "approval refused: %s; give the right"
	    " value%s in the decision's fields", bad, nbad > 1 ? "s" : "");
	return -1;
}

static int
ocr_check_decision(const void *conf, json_t *decision, json_t *payload,
    json_t *evidence, struct err *e)
{
	json_t *fixed = json_object();
	int rc;

	rc = check_corrections(conf, json_object_get(decision, "fields"),
	    payload, fixed, e);
	if (rc == 0)
		rc = check_final(conf, evidence, fixed, payload, e);
	json_decref(fixed);
	return rc;
}

/*
 * A reviewer approved the document, perhaps with corrected fields: the
 * values the later steps read are what OCR read with the corrections on
 * top (both kept, with who decided), and the document is filed in the
 * archive like an accepted one.
 */
static enum step_result
ocr_approved(struct step_ctx *ctx, void *p)
{
	struct ocr_conf *c = p;
	json_t *read = json_object_get(ctx->evidence, "ocr");
	json_t *fixed = json_object(), *result, *values, *ocr_values, *corr, *f;
	char *rel = step_expand(ctx, c->file), *adir = dest_dir(ctx, c->archive);
	char *src = NULL, *apath = NULL;
	const char *from = NULL, *name;
	enum step_result res = STEP_OK;
	struct stat st;
	struct err e;
	size_t i;

	if (rel == NULL || adir == NULL) {
		res = step_unresolved(ctx);
		goto out;
	}
	if (check_corrections(c, json_object_get(ctx->approval, "fields"),
	    ctx->payload, fixed, &e) < 0 ||
	    check_final(c, ctx->evidence, fixed, ctx->payload, &e) < 0) {
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "correction_invalid",
		    "%s", e.msg);
		goto out;
	}
	src = util_path_join(ctx->work_dir, rel);
	apath = dest_path(ctx, adir, src);
	/* Where the document is: in quarantine after an unsure reading, in
	 * the inbox when the check never got to read it, already filed after
	 * a crash. */
	if (json_is_string(json_object_get(read, "file")) &&
	    stat(json_string_value(json_object_get(read, "file")), &st) == 0)
		from = json_string_value(json_object_get(read, "file"));
	else if (stat(src, &st) == 0)
		from = src;
	if (from != NULL && strcmp(from, apath) != 0 &&
	    util_move_file(from, adir, apath, &e) < 0) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
		goto out;
	}
	if (from == NULL && stat(apath, &st) < 0) {
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "missing_file", "the"
		    " approved document is neither in quarantine nor in the"
		    " inbox nor in the archive (%s)", apath);
		goto out;
	}
	result = json_is_object(read) ? json_deep_copy(read) :
	    json_pack("{s:s,s:[]}", "template", c->tmpl->name, "fields");
	ocr_values = json_object();
	json_array_foreach(json_object_get(result, "fields"), i, f) {
		const char *v = json_string_value(json_object_get(f, "value"));

		if (v != NULL && v[0] != '\0')
			json_object_set_new(ocr_values, json_string_value(
			    json_object_get(f, "name")), json_string(v));
	}
	values = json_deep_copy(ocr_values);
	corr = json_object();
	json_object_foreach(fixed, name, f) {
		json_object_set_new(corr, name, json_pack("{s:O?,s:O}", "read",
		    json_object_get(ocr_values, name), "value", f));
		json_object_set(values, name, f);
	}
	json_object_set_new(result, "values", values);
	json_object_set_new(result, "ocr_values", ocr_values);
	json_object_set_new(result, "corrections", corr);
	json_object_set_new(result, "file", json_string(apath));
	json_object_set_new(result, "decision", json_string("approve"));
	json_object_set(result, "escalation", json_object_get(ctx->approval,
	    "escalation"));
	json_object_set(result, "approved_by", json_object_get(ctx->approval,
	    "by"));
	ctx->output = result;
out:
	json_decref(fixed);
	free(rel);
	free(adir);
	free(src);
	free(apath);
	return res;
}

const struct step_kind step_ocr_check = {
	.name = "ocr.check",
	.summary = "OCR-checks an uploaded document against a template",
	.keys = ocr_keys,
	.prepare = ocr_prepare,
	.release = ocr_release,
	.run = ocr_run,
	.output_has = ocr_output_has,
	.check_decision = ocr_check_decision,
	.approved = ocr_approved,
};
