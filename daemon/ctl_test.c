/*
 * ctl_test.c - "clerkctl playbook test": a dry run of one playbook on
 * sample uploads or payloads, step by step, without a daemon, a queue or
 * any system outside the run.
 *
 * Each sample runs in a folder of its own: a copy of the upload is its
 * input, and everything the steps write or move (archive, quarantine,
 * reports, page images) lands there. Relative paths the steps read
 * (rules, registries, templates, credentials, remembered matches) come
 * from the work folder of clerkd's config, read only. A step whose kind
 * acts on something outside the run (a legacy system, a drop folder, a
 * notification, a file other items append to) is not run: it is shown
 * with the values it would send. A connector named with --connector
 * NAME=URL is run for real against URL, a simulator, so what the later
 * steps read from its answers can be seen too. Items another step would
 * queue are listed, not queued.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "conn.h"
#include "ctl_test.h"
#include "playbook.h"
#include "queue.h"

/* The longest value shown in a line of the text output. */
#define SHOW_MAX 160

struct run {
	const struct playbook *pb;
	const struct dry_opts *o;
	struct item it;
	json_t *payload;
	json_t *stubbed;           /* {"step id": effect} */
	json_t *spawned;           /* items a step would queue */
	json_t *steps;             /* the report, a step a row */
	const char *outcome;       /* done, escalated, rejected, ... */
	const char *dir;
};

static int
spawn_recorded(struct step_ctx *ctx, const char *playbook, const char *key,
    const char *payload, struct err *e)
{
	struct run *r = ctx->spawn_arg;
	json_t *p = json_loads(payload, 0, NULL);

	(void)e;
	json_array_append_new(r->spawned, json_pack("{s:s,s:s,s:s,s:o}",
	    "by_step", ctx->step->id, "playbook", playbook, "key", key,
	    "payload", p ? p : json_string(payload)));
	return 0;
}

/* The finished steps' outputs, as the scheduler hands them on. */
static json_t *
outputs_of(const struct item *it)
{
	json_t *o = json_object(), *v;

	for (size_t i = 0; i < it->nsteps; i++) {
		v = json_loads(it->steps[i].output, JSON_DECODE_ANY, NULL);
		json_object_set_new(o, it->steps[i].step_id, v ? v : json_null());
	}
	return o;
}

static void
journal(struct item *it, const char *id, json_t *output)
{
	it->steps = xrealloc(it->steps, (it->nsteps + 1) * sizeof(*it->steps));
	it->steps[it->nsteps].step_id = xstrdup(id);
	it->steps[it->nsteps++].output = json_dumps(output ? output :
	    json_object(), JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Every reference the step reads, with the value it has now (null: none). */
static json_t *
input_of(const struct pb_step *st, json_t *payload, json_t *outputs)
{
	json_t *in = json_object(), *v;

	for (size_t i = 0; i < st->nrefs; i++) {
		v = step_ref_value(payload, outputs, st->refs[i]);
		json_object_set(in, st->refs[i], v ? v : json_null());
	}
	return in;
}

/* The stubbed step a missing steps.ID.x reference waits for, or NULL. */
static const char *
blocked_by(struct run *r, const char *ref)
{
	char id[STEP_REF_MAX];
	const char *dot;

	if (strncmp(ref, "steps.", 6) != 0)
		return NULL;
	dot = strchr(ref + 6, '.');
	snprintf(id, sizeof(id), "%.*s", dot ? (int)(dot - ref - 6) :
	    (int)strlen(ref + 6), ref + 6);
	return json_object_get(r->stubbed, id) == NULL ? NULL :
	    json_object_iter_key(json_object_iter_at(r->stubbed, id));
}

/* A step's message, cut at its buffer's end maybe inside a character. */
static json_t *
text_of(const char *s)
{
	size_t n = strlen(s);
	json_t *j;

	for (int i = 0; i < 4 && n > 0; i++, n--)
		if ((j = json_stringn(s, n)) != NULL)
			return j;
	return json_string("(not UTF-8)");
}

static const char *
result_name(enum step_result res, const struct pb_step *st)
{
	switch (res) {
	case STEP_OK:
		return "ok";
	case STEP_SYSTEM_ERROR:
		return "system_error";
	case STEP_BUSINESS_ERROR:
		return st->reject_on_business ? "reject" : "escalate";
	case STEP_ESCALATE:
		return "escalate";
	case STEP_WAIT:
		return "wait";
	}
	return "?";
}

/*
 * Runs the item's steps in order until one stops it. Returns 0, or -1
 * when a step failed in a way the playbook's author has to fix (a
 * system error, a reference nothing fills in).
 */
static int
run_steps(struct run *r)
{
	const struct playbook *pb = r->pb;
	atomic_bool stopping = false;
	int rc = 0;

	for (size_t k = 0; k < pb->nsteps; k++) {
		const struct pb_step *st = &pb->steps[k];
		struct step_ctx ctx;
		json_t *row, *approval = NULL;
		enum step_result res;
		const char *conn;
		int64_t t0;
		int tries = 0;

		memset(&ctx, 0, sizeof(ctx));
		ctx.item = &r->it;
		ctx.payload = r->payload;
		ctx.outputs = outputs_of(&r->it);
		ctx.pb = pb;
		ctx.step = st;
		ctx.work_dir = r->o->work_dir;
		ctx.out_dir = r->dir;
		ctx.stopping = &stopping;
		ctx.spawn = spawn_recorded;
		ctx.spawn_arg = r;
		row = json_pack("{s:s,s:s,s:o}", "step", st->id, "kind",
		    st->kind->name, "input", input_of(st, r->payload,
		    ctx.outputs));
		json_array_append_new(r->steps, row);

		conn = st->kind->connector ? st->kind->connector(st->conf) :
		    NULL;
		if (conn != NULL)
			json_object_set_new(row, "connector", json_string(conn));
		if (st->kind->effect != NULL &&
		    (conn == NULL || conn_overridden(conn) == NULL)) {
			/* Not run: what it would act on is outside the run. */
			json_object_set_new(row, "decision",
			    json_string("stubbed"));
			json_object_set_new(row, "effect",
			    json_string(st->kind->effect));
			json_object_set_new(r->stubbed, st->id,
			    json_string(st->kind->effect));
			json_decref(ctx.outputs);
			continue;
		}
		if (conn != NULL)
			json_object_set_new(row, "against", json_string(
			    conn_overridden(conn)));
again:
		t0 = util_mono_ms();
		res = step_run(&ctx);
		json_object_set_new(row, "ms", json_integer(util_mono_ms() -
		    t0));
		json_object_set_new(row, "decision", json_string(result_name(
		    res, st)));
		if (ctx.output != NULL)
			json_object_set(row, "output", ctx.output);
		if (res != STEP_OK) {
			json_object_set_new(row, "reason", json_string(
			    ctx.reason[0] ? ctx.reason : result_name(res, st)));
			json_object_set_new(row, "message",
			    text_of(ctx.message));
		}
		if (ctx.context != NULL)
			json_object_set(row, "evidence", ctx.context);
		if (res == STEP_BUSINESS_ERROR && ctx.unresolved[0] != '\0') {
			const char *stub = blocked_by(r, ctx.unresolved);

			if (stub != NULL) {
				json_object_set_new(row, "decision",
				    json_string("blocked"));
				json_object_set_new(row, "message", json_sprintf(
				    "reads ${%s}, which step \"%s\" (stubbed:"
				    " it %s) would produce; name its connector"
				    " with --connector NAME=URL to run it"
				    " against a simulator", ctx.unresolved,
				    stub, json_string_value(json_object_get(
				    r->stubbed, stub))));
				r->outcome = "blocked";
			} else {
				r->outcome = "failed";
				rc = -1;
			}
		} else if (res == STEP_OK) {
			journal(&r->it, st->id, ctx.output);
		} else if ((res == STEP_ESCALATE || (res == STEP_BUSINESS_ERROR &&
		    !st->reject_on_business)) && r->o->approve != NULL &&
		    tries++ == 0) {
			/* As if a reviewer approved it, with --approve's
			 * corrections: the step runs again as approved. */
			json_t *fields = json_object_get(r->o->approve, "fields");
			struct err e;

			err_clear(&e);
			if (st->kind->check_decision != NULL &&
			    st->kind->check_decision(st->conf, r->o->approve,
			    r->payload, ctx.context, &e) < 0) {
				json_object_set_new(row, "approval_refused",
				    json_string(e.msg));
				r->outcome = "escalated";
				goto stop;
			}
			json_object_update_recursive(r->payload, r->o->approve);
			approval = json_pack("{s:i,s:s,s:I}", "escalation", 0,
			    "by", "dry-run", "at", (json_int_t)util_now_ms());
			if (json_is_object(fields))
				json_object_set(approval, "fields", fields);
			json_object_set_new(row, "escalated", json_pack(
			    "{s:s,s:o,s:O?}", "reason", ctx.reason[0] ?
			    ctx.reason : "needs_review", "message",
			    text_of(ctx.message), "evidence", ctx.context));
			json_object_del(row, "evidence");
			json_object_del(row, "reason");
			json_object_del(row, "message");
			ctx.approval = approval;
			ctx.evidence = ctx.context;
			ctx.context = NULL;
			json_decref(ctx.output);
			ctx.output = NULL;
			ctx.message[0] = ctx.reason[0] = '\0';
			json_object_set_new(row, "approved", json_true());
			goto again;
		} else {
			r->outcome = res == STEP_WAIT ? "waiting" :
			    res == STEP_SYSTEM_ERROR ? "failed" :
			    strcmp(result_name(res, st), "reject") == 0 ?
			    "rejected" : "escalated";
			if (res == STEP_WAIT && ctx.wait_until > 0) {
				char ts[48];

				util_format_time(ctx.wait_until, ts, sizeof(ts));
				json_object_set_new(row, "until",
				    json_string(ts));
			}
			if (res == STEP_SYSTEM_ERROR)
				rc = -1;
		}
stop:
		json_decref(approval);
		json_decref(ctx.outputs);
		json_decref(ctx.output);
		json_decref(ctx.context);
		json_decref(ctx.evidence);
		if (res != STEP_OK || r->outcome != NULL)
			return rc;
	}
	if (r->outcome == NULL)
		r->outcome = json_object_size(r->stubbed) > 0 ?
		    "done (with stubbed steps)" : "done";
	return rc;
}

static int
copy_file(const char *src, const char *dst, struct err *e)
{
	size_t len;
	char *data = util_read_file(src, &len, e);
	int rc;

	if (data == NULL)
		return -1;
	rc = util_write_file_atomic(dst, data, len, 0600, e);
	free(data);
	return rc;
}

/* The payload a watch trigger gives an upload, with --payload on top. */
static json_t *
upload_payload(const char *sample, const char *dir, json_t *extra,
    struct err *e)
{
	char *tmp = xstrdup(sample), *name = basename(tmp), *inbox, *copy,
	    *stem, sha[65];
	json_t *p = NULL;
	struct stat st;

	inbox = xasprintf("%s/inbox", dir);
	copy = xasprintf("%s/%s", inbox, name);
	if (util_mkdir_p(inbox, 0700, e) < 0 || copy_file(sample, copy, e) < 0 ||
	    util_sha256_file(copy, sha, e) < 0 || stat(copy, &st) < 0)
		goto out;
	stem = xstrndup(name, strcspn(name, "."));
	p = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "file", copy, "name", name,
	    "dir", inbox, "stem", stem, "size", (json_int_t)st.st_size,
	    "sha256", sha);
	free(stem);
	if (extra != NULL)
		json_object_update_recursive(p, extra);
out:
	free(copy);
	free(inbox);
	free(tmp);
	return p;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The samples: files as given, a folder's regular files in name order. */
static int
list_samples(const struct dry_opts *o, char ***out, size_t *n)
{
	char **v = NULL;
	size_t cnt = 0;

	for (int i = 0; i < o->nsamples; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;
		size_t first = cnt;

		if (stat(o->samples[i], &st) < 0) {
			fprintf(stderr, "clerkctl: --sample %s: %s\n",
			    o->samples[i], strerror(errno));
			goto bad;
		}
		if (!S_ISDIR(st.st_mode)) {
			v = xrealloc(v, (cnt + 1) * sizeof(*v));
			v[cnt++] = xstrdup(o->samples[i]);
			continue;
		}
		if ((d = opendir(o->samples[i])) == NULL) {
			fprintf(stderr, "clerkctl: --sample %s: %s\n",
			    o->samples[i], strerror(errno));
			goto bad;
		}
		while ((de = readdir(d)) != NULL) {
			char *p;

			if (de->d_name[0] == '.')
				continue;
			p = xasprintf("%s/%s", o->samples[i], de->d_name);
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				v = xrealloc(v, (cnt + 1) * sizeof(*v));
				v[cnt++] = p;
			} else
				free(p);
		}
		closedir(d);
		if (cnt == first) {
			fprintf(stderr, "clerkctl: --sample %s: no files in"
			    " the folder\n", o->samples[i]);
			goto bad;
		}
		qsort(v + first, cnt - first, sizeof(*v), cmpstr);
	}
	*out = v;
	*n = cnt;
	return 0;
bad:
	for (size_t i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	return -1;
}

/* "label  [name = ]value" on one line, cut at SHOW_MAX bytes (on a
 * UTF-8 boundary). */
static void
show(const char *label, const char *name, json_t *v)
{
	char *s = json_is_string(v) ? xstrdup(json_string_value(v)) :
	    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n = strlen(s);
	bool cut = n > SHOW_MAX;

	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (cut) {
		n = SHOW_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	printf("      %-9s %s%s%s%s\n", label, name ? name : "", name ? " = " :
	    "", s, cut ? " ..." : "");
	free(s);
}

static void
print_run(const struct run *r, const char *what, bool kept)
{
	json_t *row, *v;
	size_t i;
	const char *k;

	printf("%s: %s\n", what, r->outcome);
	json_array_foreach(r->steps, i, row) {
		const char *dec = json_string_value(json_object_get(row,
		    "decision"));

		printf("  %zu %-12s %-18s %-9s", i + 1, json_string_value(
		    json_object_get(row, "step")), json_string_value(
		    json_object_get(row, "kind")), dec ? dec : "?");
		if ((v = json_object_get(row, "ms")) != NULL)
			printf(" %lld ms", (long long)json_integer_value(v));
		if (json_object_get(row, "approved") != NULL)
			printf(" (approved as with --approve)");
		putchar('\n');
		json_object_foreach(json_object_get(row, "input"), k, v) {
			char *label = xasprintf("${%s}", k);

			show("input", label, v);
			free(label);
		}
		static const char *const shown[][2] = {
			{ "against", "against" }, { "effect", "not run:" },
			{ "escalated", "escalated" },
			{ "approval_refused", "refused" },
			{ "reason", "reason" }, { "message", "message" },
			{ "until", "until" },
		};
		for (size_t n = 0; n < sizeof(shown) / sizeof(shown[0]); n++)
			if ((v = json_object_get(row, shown[n][0])) != NULL)
				show(shown[n][1], NULL, v);
		/* An object a member a line; the evidence's copy of the
		 * payload is left out (the inputs show what was read). */
		for (int n = 0; n < 2; n++) {
			const char *what = n == 0 ? "evidence" : "output";
			json_t *m, *o = json_object_get(row, what);

			if (o != NULL && !json_is_object(o))
				show(what, NULL, o);
			json_object_foreach(o, k, m)
				if (n == 1 || strcmp(k, "payload") != 0)
					show(what, k, m);
		}
	}
	json_array_foreach(r->spawned, i, v)
		printf("  would queue %s item %s (by step %s)\n",
		    json_string_value(json_object_get(v, "playbook")),
		    json_string_value(json_object_get(v, "key")),
		    json_string_value(json_object_get(v, "by_step")));
	if (kept)
		printf("  files written: %s\n", r->dir);
}

/* rm -r of the run's own folder (made by mkdtemp, so it is ours). */
static void
remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char *p;

			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", path, de->d_name);
			remove_tree(p);
			free(p);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

static int
set_connectors(const struct playbook *pb, const struct dry_opts *o)
{
	for (int i = 0; i < o->nconnectors; i++) {
		const char *spec = o->connectors[i], *eq = strchr(spec, '=');
		char *name;
		bool used = false;

		if (eq == NULL || eq == spec || eq[1] == '\0') {
			fprintf(stderr, "clerkctl: --connector %s: use NAME=URL,"
			    " e.g. benefits=http://127.0.0.1:8090\n", spec);
			return -1;
		}
		name = xstrndup(spec, (size_t)(eq - spec));
		for (size_t k = 0; k < pb->nsteps; k++) {
			const struct pb_step *st = &pb->steps[k];
			const char *c = st->kind->connector ?
			    st->kind->connector(st->conf) : NULL;

			used |= c != NULL && strcmp(c, name) == 0;
		}
		if (!used) {
			fprintf(stderr, "clerkctl: --connector %s: no step of"
			    " playbook %s uses a connector \"%s\"\n", spec,
			    pb->name, name);
			free(name);
			return -1;
		}
		conn_override_base_url(name, eq + 1);
		free(name);
	}
	return 0;
}

int
ctl_playbook_test(const char *file, const struct dry_opts *o)
{
	struct pb_diag d = { .file = file };
	struct playbook *pb = pb_load(file, &d);
	char **samples = NULL, *base = NULL;
	size_t nsamples = 0, runs;
	json_t *report = NULL, *outcomes = json_object();
	int rc = CTLT_OK;

	if (pb == NULL) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		fprintf(stderr, "clerkctl: %s does not load; nothing was run\n",
		    file);
		pb_diag_clear(&d);
		json_decref(outcomes);
		return CTLT_FAIL;
	}
	pb_diag_clear(&d);
	if (set_connectors(pb, o) < 0 || list_samples(o, &samples,
	    &nsamples) < 0) {
		rc = CTLT_USAGE;
		goto out;
	}
	if (o->keep != NULL) {
		struct err e;

		err_clear(&e);
		if (util_mkdir_p(o->keep, 0700, &e) < 0) {
			fprintf(stderr, "clerkctl: --keep: %s\n", e.msg);
			rc = CTLT_FAIL;
			goto out;
		}
		base = xstrdup(o->keep);
	} else {
		const char *t = getenv("TMPDIR");

		base = xasprintf("%s/clerk-dry-run-XXXXXX", t && *t ? t : "/tmp");
		if (mkdtemp(base) == NULL) {
			fprintf(stderr, "clerkctl: %s: %s\n", base,
			    strerror(errno));
			rc = CTLT_FAIL;
			goto out;
		}
	}
	if (o->json)
		report = json_pack("{s:s,s:s,s:s,s:o}", "playbook", pb->name,
		    "file", file, "hash", pb->hash, "runs", json_array());
	else
		printf("dry run of playbook %s (%s): nothing is queued or sent;"
		    " steps that act outside the run are shown, not run\n\n",
		    pb->name, file);
	runs = nsamples > 0 ? nsamples : 1;
	for (size_t i = 0; i < runs; i++) {
		struct run r = { .pb = pb, .o = o };
		char *dir = runs == 1 ? xstrdup(base) :
		    xasprintf("%s/%zu", base, i + 1);
		const char *what = nsamples > 0 ? samples[i] : "the payload";
		struct err e;
		char *text;

		err_clear(&e);
		if (util_mkdir_p(dir, 0700, &e) < 0) {
			fprintf(stderr, "clerkctl: %s\n", e.msg);
			free(dir);
			rc = CTLT_FAIL;
			break;
		}
		r.dir = dir;
		r.payload = nsamples > 0 ? upload_payload(samples[i], dir,
		    o->payload, &e) : o->payload ? json_deep_copy(o->payload) :
		    json_object();
		if (r.payload == NULL) {
			fprintf(stderr, "clerkctl: --sample %s: %s\n", what,
			    e.msg);
			free(dir);
			rc = CTLT_FAIL;
			continue;
		}
		r.it.id = (int64_t)i + 1;
		r.it.key = xasprintf("dry-run:%zu", i + 1);
		r.it.playbook = pb->name;
		r.it.pb_hash = pb->hash;
		r.it.created = util_now_ms();
		text = json_dumps(r.payload, JSON_COMPACT);
		r.it.payload = text;
		r.stubbed = json_object();
		r.spawned = json_array();
		r.steps = json_array();
		if (run_steps(&r) < 0)
			rc = CTLT_FAIL;
		json_object_set_new(outcomes, r.outcome, json_integer(
		    json_integer_value(json_object_get(outcomes,
		    r.outcome)) + 1));
		if (o->json)
			json_array_append_new(json_object_get(report, "runs"),
			    json_pack("{s:s,s:s,s:s,s:O,s:O,s:O}", "input",
			    what, "outcome", r.outcome, "dir", dir, "payload",
			    r.payload, "steps", r.steps, "would_queue",
			    r.spawned));
		else {
			print_run(&r, what, o->keep != NULL);
			putchar('\n');
		}
		for (size_t k = 0; k < r.it.nsteps; k++) {
			free(r.it.steps[k].step_id);
			free(r.it.steps[k].output);
		}
		free(r.it.steps);
		free(r.it.key);
		free(text);
		json_decref(r.payload);
		json_decref(r.stubbed);
		json_decref(r.spawned);
		json_decref(r.steps);
		free(dir);
	}
	if (o->json) {
		json_object_set(report, "outcomes", outcomes);
		json_object_set_new(report, "kept", o->keep ?
		    json_string(base) : json_null());
		json_dumpf(report, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(report);
	} else {
		const char *k;
		json_t *v;

		printf("%zu run%s:", runs, runs == 1 ? "" : "s");
		json_object_foreach(outcomes, k, v)
			printf(" %lld %s,", (long long)json_integer_value(v), k);
		printf(" %s\n", o->keep ? "files kept in" : "files removed from");
		printf("  %s\n", base);
	}
	if (o->keep == NULL)
		remove_tree(base);
out:
	for (size_t i = 0; i < nsamples; i++)
		free(samples[i]);
	free(samples);
	free(base);
	json_decref(outcomes);
	pb_unref(pb);
	return rc;
}
