/*
 * step_cases.c - "cases.split": a file of applications dropped into an
 * inbox becomes one work item of another playbook per application.
 *
 * The file is a JSON object (one application), a JSON array of objects,
 * or a CSV with a header row (UTF-8, or GBK/GB18030 when it is not valid
 * UTF-8, or as set). It is moved to the archive first, so whatever
 * follows (a bad row, a crash) never loses it; a rerun reads the archived
 * copy. Each application is spawned with the key
 * "app:<sha256 of the file>:<row>", so the same file dropped again, under
 * any name, or a rerun after a crash, never makes a case twice. Rows that
 * cannot be an application (a cell count off the header, a required field
 * empty, a JSON element that is not an object) are reported as file:line
 * and the item escalates with all of them once the good rows are spawned.
 */
#include <errno.h>
#include <stdarg.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cases.h"
#include "log.h"
#include "playbook.h"
#include "recon.h"

struct cases_conf {
	char *playbook;           /* gets one item per application */
	char *file;               /* template: the dropped file */
	char *archive;            /* template + strftime */
	char *encoding;           /* NULL: UTF-8, else GB18030 */
	struct cases_spec spec;
};

static const char *const cases_keys[] = { "playbook", "file", "archive",
    "encoding", "required", "columns", NULL };

static void
cases_release(void *p)
{
	struct cases_conf *c = p;

	if (c == NULL)
		return;
	free(c->playbook);
	free(c->file);
	free(c->archive);
	free(c->encoding);
	for (size_t i = 0; i < c->spec.nrequired; i++)
		free(c->spec.required[i]);
	free(c->spec.required);
	for (size_t i = 0; i < c->spec.ncols; i++) {
		free(c->spec.col_field[i]);
		free(c->spec.col_header[i]);
	}
	free(c->spec.col_field);
	free(c->spec.col_header);
	free(c);
}

static int
cases_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct cases_conf *c = xcalloc(1, sizeof(*c));
	const config_setting_t *g;
	const char *v;

	*confp = c;
	if (!config_setting_lookup_string(s, "playbook", &v) || v[0] == '\0') {
		pb_diag_add(d, s, "cases.split needs playbook = \"pension-transfer\""
		    " (the playbook that gets one item per application)");
		return -1;
	}
	c->playbook = xstrdup(v);
	c->file = xstrdup(config_setting_lookup_string(s, "file", &v) ? v :
	    "${file}");
	c->archive = xstrdup(config_setting_lookup_string(s, "archive", &v) ?
	    v : "archive/applications/%Y/%m");
	if (config_setting_lookup_string(s, "encoding", &v)) {
		if (strcmp(v, "UTF-8") != 0 && strcmp(v, "GBK") != 0 &&
		    strcmp(v, "GB18030") != 0) {
			pb_diag_add(d, config_setting_get_member(s, "encoding"),
			    "encoding must be \"UTF-8\", \"GBK\" or \"GB18030\""
			    " (leave it out to take UTF-8, else GB18030)");
			return -1;
		}
		c->encoding = xstrdup(v);
	}
	if ((g = config_setting_get_member(s, "required")) != NULL) {
		if (!config_setting_is_array(g)) {
			pb_diag_add(d, g, "required must be a list of field"
			    " names, e.g. [ \"id_no\", \"name\" ]");
			return -1;
		}
		c->spec.required = xcalloc((size_t)config_setting_length(g) + 1,
		    sizeof(char *));
		for (int i = 0; i < config_setting_length(g); i++) {
			const char *f = config_setting_get_string_elem(g, i);

			if (f == NULL || f[0] == '\0') {
				pb_diag_add(d, g, "required: element %d is not a"
				    " field name", i + 1);
				return -1;
			}
			c->spec.required[c->spec.nrequired++] = xstrdup(f);
		}
	}
	if ((g = config_setting_get_member(s, "columns")) != NULL) {
		int n = config_setting_length(g);

		if (!config_setting_is_group(g)) {
			pb_diag_add(d, g, "columns must be a group: { id_no ="
			    " \"身份证号\"; ... } (field = CSV header)");
			return -1;
		}
		c->spec.col_field = xcalloc((size_t)n + 1, sizeof(char *));
		c->spec.col_header = xcalloc((size_t)n + 1, sizeof(char *));
		for (int i = 0; i < n; i++) {
			const config_setting_t *m = config_setting_get_elem(g, i);
			const char *h = config_setting_get_string(m);

			if (h == NULL || h[0] == '\0') {
				pb_diag_add(d, m, "columns: %s must name a CSV"
				    " header", config_setting_name(m));
				return -1;
			}
			c->spec.col_field[c->spec.ncols] = xstrdup(config_setting_name(m));
			c->spec.col_header[c->spec.ncols++] = xstrdup(h);
		}
	}
	return 0;
}

struct split {
	const struct cases_spec *spec;
	const char *path;
	cases_emit_fn emit;
	void *arg;
	json_t *bad;              /* [{line, message}] */
	size_t nbad, napps;
	struct err *e;
	bool failed;              /* emit failed: stop emitting */
};

static void
bad_row(struct split *sp, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
bad_row(struct split *sp, unsigned line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sp->nbad++;
	if (sp->bad != NULL && json_array_size(sp->bad) < CASES_MAX_BAD)
		json_array_append_new(sp->bad, json_pack("{s:i,s:o}", "line",
		    (int)line, "message", json_sprintf("%s:%u: %s", sp->path, line,
		    msg)));
}

/* Takes app. row is the application's number in the file, 1-based. */
static void
take_app(struct split *sp, json_t *app, size_t row, unsigned line)
{
	for (size_t i = 0; i < sp->spec->nrequired; i++) {
		json_t *v = json_object_get(app, sp->spec->required[i]);

		if (v == NULL || json_is_null(v) || (json_is_string(v) &&
		    json_string_length(v) == 0)) {
			bad_row(sp, line, "application %zu has no %s; fill it"
			    " in and drop the corrected rows as a new file", row,
			    sp->spec->required[i]);
			json_decref(app);
			return;
		}
	}
	sp->napps++;
	if (!sp->failed && sp->emit(sp->arg, app, row, line, sp->e) < 0)
		sp->failed = true;
	json_decref(app);
}

/*
 * The line each top-level element of a JSON array starts on (jansson
 * gives none): a scan that knows strings and nesting. n elements.
 */
static unsigned *
json_element_lines(const char *s, size_t len, size_t n)
{
	unsigned *lines = xcalloc(n + 1, sizeof(*lines)), line = 1;
	size_t k = 0;
	int depth = 0;
	bool in_str = false, want = false;

	for (size_t i = 0; i < len && k < n; i++) {
		char ch = s[i];

		if (ch == '\n')
			line++;
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (want && depth == 1) {
			lines[k++] = line;
			want = false;
		}
		if (ch == '"')
			in_str = true;
		else if (ch == '[' || ch == '{') {
			if (++depth == 1 && ch == '[')
				want = true;
		} else if (ch == ']' || ch == '}')
			depth--;
		else if (ch == ',' && depth == 1)
			want = true;
	}
	return lines;
}

static int
split_json(struct split *sp, const char *text, size_t len)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *v;
	unsigned *lines;
	size_t i;

	if (root == NULL) {
		err_setc(sp->e, ERR_INVALID, "%s:%d: not valid JSON: %s; fix"
		    " the file and drop it again", sp->path, je.line, je.text);
		return -1;
	}
	if (json_is_object(root)) {
		take_app(sp, root, 1, 1);
		return 0;
	}
	if (!json_is_array(root)) {
		json_decref(root);
		err_setc(sp->e, ERR_INVALID, "%s:1: want one application (a"
		    " JSON object) or an array of them", sp->path);
		return -1;
	}
	lines = json_element_lines(text, len, json_array_size(root));
	json_array_foreach(root, i, v) {
		if (!json_is_object(v))
			bad_row(sp, lines[i], "application %zu is not a JSON"
			    " object", i + 1);
		else
			take_app(sp, json_incref(v), i + 1, lines[i]);
	}
	free(lines);
	json_decref(root);
	return 0;
}

static int
split_csv(struct split *sp, char *text, size_t len)
{
	const struct cases_spec *c = sp->spec;
	struct recon_csv x;
	char **names = NULL;
	unsigned line;
	size_t row = 0;
	int ncols = 0, r;

	recon_csv_init(&x, sp->path, text, len, ',', sp->e);
	do {
		if ((r = recon_csv_next(&x, &line)) <= 0) {
			if (r == 0)
				err_setc(sp->e, ERR_INVALID, "%s: no header row;"
				    " the first line names the fields", sp->path);
			return -1;
		}
	} while (x.n == 1 && x.cells[0].len == 0);
	ncols = x.n;
	names = xcalloc((size_t)ncols, sizeof(*names));
	for (int i = 0; i < ncols; i++) {
		char *h = xstrndup(x.cells[i].s, x.cells[i].len);

		for (size_t k = 0; k < c->ncols; k++)
			if (strcmp(c->col_header[k], h) == 0) {
				free(h);
				h = xstrdup(c->col_field[k]);
				break;
			}
		names[i] = h;
	}
	while ((r = recon_csv_next(&x, &line)) > 0) {
		json_t *app;

		if (x.n == 1 && x.cells[0].len == 0)
			continue;   /* a blank line */
		row++;
		if (x.n != ncols) {
			bad_row(sp, line, "application %zu has %d cells, the"
			    " header %d; check for a stray or missing comma",
			    row, x.n, ncols);
			continue;
		}
		app = json_object();
		for (int i = 0; i < ncols; i++)
			if (names[i][0] != '\0')
				json_object_set_new(app, names[i],
				    json_stringn(x.cells[i].s, x.cells[i].len));
		take_app(sp, app, row, line);
	}
	for (int i = 0; i < ncols; i++)
		free(names[i]);
	free(names);
	return r < 0 ? -1 : 0;
}

int
cases_parse(const char *path, char *text, size_t len,
    const struct cases_spec *spec, cases_emit_fn emit, void *arg,
    json_t *bad, struct cases_counts *n, struct err *e)
{
	struct split sp = { .spec = spec, .path = path, .emit = emit,
	    .arg = arg, .bad = bad, .e = e };
	const char *first = text + strspn(text, " \t\r\n");
	int rc;

	/* Told by content: JSON starts with { or [, anything else is CSV. */
	if (strncmp(first, "\xEF\xBB\xBF", 3) == 0)
		first += 3 + strspn(first + 3, " \t\r\n");
	rc = (*first == '{' || *first == '[') ?
	    split_json(&sp, first, len - (size_t)(first - text)) :
	    split_csv(&sp, text, len);
	n->apps = sp.napps;
	n->bad = sp.nbad;
	if (sp.failed)
		return -2;
	return rc;
}

/* The daemon's emit: one item of the target playbook per application,
 * keyed by the file's content and the row. */
struct spawn_arg {
	struct step_ctx *ctx;
	const struct cases_conf *c;
	const char *path, *sha;
	size_t nspawned;
};

static int
spawn_app(void *p, json_t *app, size_t row, unsigned line, struct err *e)
{
	struct spawn_arg *a = p;
	char *key, *text;
	int rc;

	json_object_set_new(app, "source", json_pack("{s:s,s:i,s:i,s:s}",
	    "file", a->path, "row", (int)row, "line", (int)line, "sha256",
	    a->sha));
	key = xasprintf("app:%s:%zu", a->sha, row);
	text = json_dumps(app, JSON_COMPACT);
	rc = a->ctx->spawn(a->ctx, a->c->playbook, key, text, e);
	if (rc == 0)
		a->nspawned++;
	free(text);
	free(key);
	return rc;
}

/* UTF-8, or when the bytes are not, GB18030 (which GBK is a subset of). */
static char *
read_text(const struct cases_conf *c, const char *path, size_t *len,
    const char **enc, struct err *e)
{
	char *text;

	*enc = c->encoding ? c->encoding : "UTF-8";
	text = recon_read_text(path, *enc, len, e);
	if (text == NULL && c->encoding == NULL && e->code == ERR_INVALID) {
		*enc = "GB18030";
		text = recon_read_text(path, *enc, len, e);
	}
	return text;
}

static enum step_result
cases_run(struct step_ctx *ctx, void *p)
{
	struct cases_conf *c = p;
	char *rel = step_expand(ctx, c->file), *src, *exp, *dir, *dst, *tmp,
	    *text = NULL, buf[1024], sha[65];
	time_t t = (time_t)(ctx->item->created / 1000);
	struct spawn_arg sa = { .ctx = ctx, .c = c, .sha = sha };
	struct cases_counts n = { 0 };
	enum step_result res = STEP_OK;
	json_t *bad = json_array();
	const char *enc = "UTF-8";
	struct stat st;
	struct err e;
	struct tm tm;
	size_t len;
	int rc;

	if (ctx->spawn == NULL) {
		free(rel);
		json_decref(bad);
		return step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "cases.split runs only inside clerkd (it creates items)");
	}
	exp = step_expand(ctx, c->archive);
	if (rel == NULL || exp == NULL) {
		free(rel);
		free(exp);
		json_decref(bad);
		return step_unresolved(ctx);
	}
	src = util_path_join(ctx->work_dir, rel);
	free(rel);
	localtime_r(&t, &tm);
	if (strftime(buf, sizeof(buf), exp, &tm) == 0)
		snprintf(buf, sizeof(buf), "%s", exp);
	free(exp);
	dir = step_out_path(ctx, buf);
	tmp = xstrdup(src);
	/* The item id keeps two drops of one name apart in the archive. */
	dst = xasprintf("%s/%lld-%s", dir, (long long)ctx->item->id,
	    basename(tmp));
	free(tmp);
	sa.path = dst;

	/* Archived first: nothing below can lose the file. A rerun after a
	 * crash finds it there. */
	if (stat(src, &st) == 0) {
		if (util_move_file(src, dir, dst, &e) < 0) {
			res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "%s", e.msg);
			goto out;
		}
	} else if (stat(dst, &st) != 0) {
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "missing_file",
		    "%s: %s (and not in %s)", src, strerror(errno), dir);
		goto out;
	}
	if (util_sha256_file(dst, sha, &e) < 0 ||
	    (text = read_text(c, dst, &len, &enc, &e)) == NULL) {
		res = step_fail(ctx, e.code == ERR_INVALID ?
		    STEP_BUSINESS_ERROR : STEP_SYSTEM_ERROR, e.code ==
		    ERR_INVALID ? "bad_input_file" : "system_error", "%s",
		    e.msg);
		goto out;
	}
	rc = cases_parse(dst, text, len, &c->spec, spawn_app, &sa, bad, &n, &e);
	if (rc == -2) {
		res = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "creating the %s items: %s", c->playbook, e.msg);
		goto out;
	}
	if (rc < 0 || n.apps + n.bad == 0) {
		/* Unreadable past some point: what was spawned before stays
		 * (its keys make a corrected file's rows no-ops), the rest is
		 * a person's. */
		if (rc == 0)
			err_setc(&e, ERR_INVALID, "%s: no applications in the"
			    " file", dst);
		res = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_input_file",
		    "%s", e.msg);
		ctx->context = json_pack("{s:s,s:s,s:i,s:O}", "file", dst,
		    "sha256", sha, "spawned", (int)sa.nspawned, "bad", bad);
		goto out;
	}
	log_emit(LL_INFO, ctx->item->id, ctx->pb->name, ctx->step->id,
	    "%s: %zu application(s) for %s, %zu bad row(s) (%s)", dst,
	    n.apps, c->playbook, n.bad, enc);
	if (n.bad > 0) {
		json_t *b0 = json_array_get(bad, 0);

		res = step_fail(ctx, STEP_ESCALATE, "bad_rows",
		    "%zu bad row(s) in %s, %zu application(s) passed on to %s;"
		    " first: %s", n.bad, dst, n.apps, c->playbook,
		    json_string_value(json_object_get(b0, "message")));
		ctx->context = json_pack("{s:s,s:s,s:s,s:i,s:i,s:O}", "file",
		    dst, "sha256", sha, "encoding", enc, "spawned",
		    (int)sa.nspawned, "bad_rows", (int)n.bad, "bad", bad);
		goto out;
	}
	ctx->output = json_pack("{s:s,s:s,s:s,s:s,s:i}", "file", dst, "sha256",
	    sha, "encoding", enc, "playbook", c->playbook, "applications",
	    (int)n.apps);
out:
	json_decref(bad);
	free(text);
	free(src);
	free(dir);
	free(dst);
	return res;
}

static int
cases_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "file", "sha256", "encoding", "playbook", "applications", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

const struct step_kind step_cases_split = {
	.name = "cases.split",
	.summary = "turns a dropped JSON or CSV file of applications into one"
	    " item each",
	.keys = cases_keys,
	.prepare = cases_prepare,
	.release = cases_release,
	.run = cases_run,
	.output_has = cases_output_has,
};
