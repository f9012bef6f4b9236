/*
 * dryrun.c - a dry run of one playbook on one sample upload or payload,
 * step by step, without a daemon's queue or any system outside the run.
 *
 * The run has a folder of its own: a copy of the upload is its input,
 * and everything the steps write or move (archive, quarantine, reports,
 * page images) lands there. Relative paths the steps read (rules,
 * registries, templates, credentials, remembered matches) come from the
 * work folder, read only. A step whose kind acts on something outside
 * the run (a legacy system, a drop folder, a notification, a file other
 * items append to) is not run: it is shown with the values it would
 * send. Where the caller allows it (clerkctl --connector NAME=URL), a
 * connector pointed at a simulator is run for real, so what the later
 * steps read from its answers can be seen too. Items another step would
 * queue are listed, not queued.
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "conn.h"
#include "dryrun.h"
#include "playbook.h"
#include "queue.h"

struct run {
	const struct playbook *pb;
	const struct dryrun_opts *o;
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
	atomic_bool never = false;
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
		ctx.outputs = step_outputs(&r->it, r->payload);
		ctx.pb = pb;
		ctx.step = st;
		ctx.work_dir = r->o->work_dir;
		ctx.out_dir = r->dir;
		ctx.stopping = r->o->stopping ? r->o->stopping : &never;
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
		if (r->o->run_overridden ? st->kind->effect != NULL &&
		    (conn == NULL || conn_overridden(conn) == NULL) :
		    st->kind->effect != NULL || conn != NULL) {
			const char *eff = st->kind->effect ? st->kind->effect :
			    "talks to a system through a connector";

			/* Not run: what it would act on is outside the run. */
			json_object_set_new(row, "decision",
			    json_string("stubbed"));
			json_object_set_new(row, "effect", json_string(eff));
			json_object_set_new(r->stubbed, st->id,
			    json_string(eff));
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
				    " it %s) would produce; %s",
				    ctx.unresolved, stub, json_string_value(
				    json_object_get(r->stubbed, stub)),
				    r->o->unstub_hint ? r->o->unstub_hint :
				    "it is not run in a dry run"));
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

json_t *
dryrun_upload_payload(const char *sample, const char *dir, json_t *extra,
    struct err *e)
{
	char *tmp = xstrdup(sample), *name = basename(tmp), *inbox, *copy,
	    *stem, sha[65];
	json_t *p = NULL;
	struct stat st;

	inbox = xasprintf("%s/inbox", dir);
	copy = xasprintf("%s/%s", inbox, name);
	if (util_mkdir_p(inbox, 0700, e) < 0 ||
	    util_copy_file(sample, copy, 0600, e) < 0 ||
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

void
dryrun_remove_tree(const char *path)
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
			dryrun_remove_tree(p);
			free(p);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}


json_t *
dryrun_run(const struct playbook *pb, const struct dryrun_opts *o,
    json_t *payload, const char *dir, int64_t n, bool *failed)
{
	struct run r = { .pb = pb, .o = o, .payload = payload, .dir = dir };
	json_t *res;
	char *text;

	r.it.id = n;
	r.it.key = xasprintf("dry-run:%lld", (long long)n);
	r.it.playbook = pb->name;
	r.it.pb_hash = (char *)pb->hash;   /* read only here */
	r.it.created = util_now_ms();
	text = json_dumps(payload, JSON_COMPACT);
	r.it.payload = text;
	r.stubbed = json_object();
	r.spawned = json_array();
	r.steps = json_array();
	util_dry_run_set(dir);
	*failed = run_steps(&r) < 0;
	util_dry_run_set(NULL);
	res = json_pack("{s:s,s:O,s:o,s:o}", "outcome", r.outcome, "payload",
	    payload, "steps", r.steps, "would_queue", r.spawned);
	for (size_t k = 0; k < r.it.nsteps; k++) {
		free(r.it.steps[k].step_id);
		free(r.it.steps[k].output);
	}
	free(r.it.steps);
	free(r.it.key);
	free(text);
	json_decref(r.stubbed);
	return res;
}
