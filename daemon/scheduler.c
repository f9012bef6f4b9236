/*
 * scheduler.c - triggers, dispatcher and worker pool.
 *
 * Threads: the event loop (triggers, dispatcher, heartbeat) is the main
 * thread; workers run steps; the queue's writer commits. Workers and the
 * writer never touch the loop except through event_active() on the kick
 * event, which libevent makes thread-safe (evthread_use_pthreads()).
 */
#include "scheduler.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calendar.h"
#include "cron.h"
#include "log.h"
#include "playbook.h"

#define NBUCKETS 12
static const double buckets[NBUCKETS] = { 0.001, 0.005, 0.01, 0.05, 0.1,
    0.5, 1, 5, 10, 30, 60, 300 };

struct hist {
	char *playbook, *step;
	uint64_t count[NBUCKETS + 1];
	uint64_t ok, system, business, escalate, wait;
	double sum;
	struct hist *next;
};

/* Per playbook name, across reloads. */
struct pbslot {
	struct sched *s;
	char *name;
	struct playbook *pb;        /* current version, NULL if removed */
	int inflight;               /* claimed and not yet settled */
	bool claim_pending;
	struct event *timer;        /* cron / interval */
	/* Its timer has been armed since it was loaded: a reload finds no
	 * downtime to catch up on (and a changed schedule's earlier slots
	 * were never due). */
	bool timer_on;
	int64_t armed;              /* the slot (ms) the timer is set for */
	int64_t fired;              /* the last slot it fired for, or 0 */
	int wd;                     /* inotify watch, -1 if none */
	char *watch_dir;            /* resolved */
	/* Paused by a person: not claimed, no new step starts; its
	 * triggers still enqueue. Kept in the store (playbook_state). */
	bool paused;
	char *paused_by, *pause_reason;
	int64_t paused_at;
	struct pbslot *next;
};

struct job {
	struct sched *s;
	struct item *it;
	struct playbook *pb;        /* held while a request is out */
	size_t step;
	char *output;               /* JSON text of the step's output */
	char *context;
	char message[512];
	char reason[64];
	int64_t started;
	bool had_wait;              /* the item came with a kept wait */
	char *waiting;              /* the wait it is released into */
	struct qreq req;
	struct job *next;
	struct job *hprev, *hnext;  /* s->held */
};

struct claim {
	struct sched *s;
	char *playbook;
	int max;
	struct qreq req;
};

struct sched {
	struct event_base *base;
	struct queue *q;
	char *owner;
	char *work_dir;
	int nworkers;
	int64_t lease_ms, poll_ms, grace_ms;

	pthread_mutex_t lock;       /* slots, ready list, running list */
	pthread_cond_t cond;
	struct pbslot *slots;
	struct job *ready_head, *ready_tail;
	int busy;                   /* workers in a step */
	int total_inflight;
	char **errors;
	size_t nerrors;
	struct calendar **cals;     /* every calendar ever loaded */
	size_t ncals;
	struct calendar **cur_cals;
	size_t ncur;

	pthread_t *workers;
	atomic_bool stopping;       /* workers exit */
	atomic_bool draining;

	struct event *kick, *poll, *heartbeat, *drain_timer;
	int inotify_fd;
	struct event *inotify_ev;
	struct qreq renew;
	atomic_bool renew_out;
	/* Every item this daemon holds, from its claim to its settling
	 * (under lock): the heartbeat renews these and no others. */
	struct job *held;
	char *renew_items;
	void (*drain_done)(void *);
	void *drain_arg;

	/* Overdue escalations: the (due, id) of the last one handed to the
	 * overdue-triggered playbooks. */
	int64_t od_due, od_id;
	atomic_ullong overdue;

	pthread_mutex_t mlock;      /* metrics */
	struct hist *hists;
	atomic_ullong enqueued, retries, escalations;
};

static void dispatch(struct sched *s);

static void
kick(struct sched *s)
{
	event_active(s->kick, EV_READ, 0);
}

/* From the store's thread: event_active is safe there (libevent is set
 * up for threads). */
static void
sched_wakeup(void *arg)
{
	kick(arg);
}

static struct pbslot *
slot_find(struct sched *s, const char *name)
{
	for (struct pbslot *p = s->slots; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static bool
slot_paused(struct sched *s, const char *name)
{
	struct pbslot *p;
	bool paused;

	pthread_mutex_lock(&s->lock);
	paused = (p = slot_find(s, name)) != NULL && p->paused;
	pthread_mutex_unlock(&s->lock);
	return paused;
}

static void
slot_set_paused(struct pbslot *p, bool paused, const char *by,
    int64_t at, const char *reason)
{
	free(p->paused_by);
	free(p->pause_reason);
	p->paused = paused;
	p->paused_by = paused && by != NULL ? xstrdup(by) : NULL;
	p->pause_reason = paused && reason != NULL ? xstrdup(reason) : NULL;
	p->paused_at = paused ? at : 0;
}

/* The current version of a playbook, referenced; NULL if gone. */
static struct playbook *
current_pb(struct sched *s, const char *name)
{
	struct playbook *pb = NULL;
	struct pbslot *p;

	pthread_mutex_lock(&s->lock);
	if ((p = slot_find(s, name)) != NULL && p->pb != NULL)
		pb = pb_ref(p->pb);
	pthread_mutex_unlock(&s->lock);
	return pb;
}

/* The index of the step called id in pb, or -1. */
static ssize_t
step_index(const struct playbook *pb, const char *id)
{
	for (size_t i = 0; i < pb->nsteps; i++)
		if (strcmp(pb->steps[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

int
sched_check_decision(struct sched *s, int64_t escalation, json_t *decision,
    struct err *e)
{
	json_t *esc = queue_escalation_get(s->q, escalation, e);
	json_t *payload;
	const char *pbname, *step;
	struct playbook *pb;
	const struct step_kind *k;
	ssize_t at;
	int rc = 0;

	if (esc == NULL)
		return -1;
	pbname = json_string_value(json_object_get(esc, "playbook"));
	step = json_string_value(json_object_get(esc, "step_id"));
	payload = json_object_get(esc, "payload");
	if (pbname != NULL && step != NULL &&
	    (pb = current_pb(s, pbname)) != NULL) {
		if ((at = step_index(pb, step)) >= 0 &&
		    (k = pb->steps[at].kind)->check_decision != NULL)
			rc = k->check_decision(pb->steps[at].conf, decision,
			    payload, json_object_get(esc, "context"), e);
		for (size_t i = (size_t)at + 1; at >= 0 && rc == 0 &&
		    i < pb->nsteps; i++)
			if ((k = pb->steps[i].kind)->check_handed_on != NULL)
				rc = k->check_handed_on(pb->steps[i].conf,
				    s->work_dir, decision, payload, e);
		pb_unref(pb);
	}
	json_decref(esc);
	return rc;
}

void
sched_annotate_escalation(struct sched *s, json_t *esc)
{
	const char *pbname = json_string_value(json_object_get(esc,
	    "playbook"));
	const char *step = json_string_value(json_object_get(esc, "step_id"));
	const char *state = json_string_value(json_object_get(esc, "state"));
	struct playbook *pb;
	ssize_t at;

	if (pbname == NULL || step == NULL || state == NULL ||
	    strcmp(state, "open") != 0 || (pb = current_pb(s, pbname)) == NULL)
		return;
	if ((at = step_index(pb, step)) >= 0)
		for (size_t i = (size_t)at + 1; i < pb->nsteps; i++)
			if (pb->steps[i].kind->annotate != NULL)
				pb->steps[i].kind->annotate(pb->steps[i].conf,
				    s->work_dir, esc);
	pb_unref(pb);
}

/* ---- metrics ---- */

static void
observe(struct sched *s, const char *pb, const char *step,
    enum step_result r, int64_t ms)
{
	struct hist *h;
	double secs = (double)ms / 1000.0;
	int b;

	pthread_mutex_lock(&s->mlock);
	for (h = s->hists; h != NULL; h = h->next)
		if (strcmp(h->playbook, pb) == 0 && strcmp(h->step, step) == 0)
			break;
	if (h == NULL) {
		h = xcalloc(1, sizeof(*h));
		h->playbook = xstrdup(pb);
		h->step = xstrdup(step);
		h->next = s->hists;
		s->hists = h;
	}
	for (b = 0; b < NBUCKETS && secs > buckets[b]; b++)
		;
	h->count[b]++;
	h->sum += secs;
	switch (r) {
	case STEP_OK:
		h->ok++;
		break;
	case STEP_SYSTEM_ERROR:
		h->system++;
		break;
	case STEP_BUSINESS_ERROR:
		h->business++;
		break;
	case STEP_ESCALATE:
		h->escalate++;
		break;
	case STEP_WAIT:
		h->wait++;
		break;
	}
	pthread_mutex_unlock(&s->mlock);
}

void
sched_metrics(struct sched *s, struct evbuffer *out)
{
	static const char *results[] = { "ok", "system_error",
	    "business_error", "escalate", "wait" };

	pthread_mutex_lock(&s->mlock);
	evbuffer_add_printf(out, "# HELP clerk_step_seconds Step run time.\n"
	    "# TYPE clerk_step_seconds histogram\n");
	for (struct hist *h = s->hists; h != NULL; h = h->next) {
		uint64_t cum = 0;

		for (int b = 0; b <= NBUCKETS; b++) {
			cum += h->count[b];
			if (b < NBUCKETS)
				evbuffer_add_printf(out, "clerk_step_seconds_bucket"
				    "{playbook=\"%s\",step=\"%s\",le=\"%g\"} %llu\n",
				    h->playbook, h->step, buckets[b],
				    (unsigned long long)cum);
			else
				evbuffer_add_printf(out, "clerk_step_seconds_bucket"
				    "{playbook=\"%s\",step=\"%s\",le=\"+Inf\"} %llu\n",
				    h->playbook, h->step, (unsigned long long)cum);
		}
		evbuffer_add_printf(out, "clerk_step_seconds_sum{playbook=\"%s\","
		    "step=\"%s\"} %.6f\n", h->playbook, h->step, h->sum);
		evbuffer_add_printf(out, "clerk_step_seconds_count{playbook=\"%s\","
		    "step=\"%s\"} %llu\n", h->playbook, h->step,
		    (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "# HELP clerk_steps_total Steps run, by"
	    " result.\n# TYPE clerk_steps_total counter\n");
	for (struct hist *h = s->hists; h != NULL; h = h->next) {
		uint64_t v[5] = { h->ok, h->system, h->business, h->escalate,
		    h->wait };

		for (int i = 0; i < 5; i++)
			evbuffer_add_printf(out, "clerk_steps_total{playbook="
			    "\"%s\",step=\"%s\",result=\"%s\"} %llu\n",
			    h->playbook, h->step, results[i],
			    (unsigned long long)v[i]);
	}
	pthread_mutex_unlock(&s->mlock);
	evbuffer_add_printf(out, "# HELP clerk_retries_total System errors"
	    " scheduled for retry.\n# TYPE clerk_retries_total counter\n"
	    "clerk_retries_total %llu\n", (unsigned long long)s->retries);
	evbuffer_add_printf(out, "# HELP clerk_escalations_total Items handed"
	    " to reviewers.\n# TYPE clerk_escalations_total counter\n"
	    "clerk_escalations_total %llu\n",
	    (unsigned long long)s->escalations);
	evbuffer_add_printf(out, "# HELP clerk_overdue_total Escalations that"
	    " passed their due time.\n# TYPE clerk_overdue_total counter\n"
	    "clerk_overdue_total %llu\n", (unsigned long long)s->overdue);
	evbuffer_add_printf(out, "# HELP clerk_items_enqueued_total New work"
	    " items.\n# TYPE clerk_items_enqueued_total counter\n"
	    "clerk_items_enqueued_total %llu\n",
	    (unsigned long long)s->enqueued);
	pthread_mutex_lock(&s->lock);
	evbuffer_add_printf(out, "# HELP clerk_inflight Items claimed by this"
	    " daemon.\n# TYPE clerk_inflight gauge\n");
	for (struct pbslot *p = s->slots; p != NULL; p = p->next)
		evbuffer_add_printf(out, "clerk_inflight{playbook=\"%s\"} %d\n",
		    p->name, p->inflight);
	evbuffer_add_printf(out, "# HELP clerk_playbook_paused 1 while a"
	    " playbook is paused (no new claims).\n"
	    "# TYPE clerk_playbook_paused gauge\n");
	for (struct pbslot *p = s->slots; p != NULL; p = p->next)
		if (p->pb != NULL)
			evbuffer_add_printf(out, "clerk_playbook_paused{playbook="
			    "\"%s\"} %d\n", p->name, p->paused ? 1 : 0);
	pthread_mutex_unlock(&s->lock);
}

/* ---- settling a job ---- */

static void
job_free(struct job *j)
{
	item_free(j->it);
	pb_unref(j->pb);
	free(j->output);
	free(j->context);
	free(j->waiting);
	free(j);
}

/* The item left this daemon's hands (done, failed, released, lost). */
static void
job_settle(struct job *j)
{
	struct sched *s = j->s;
	struct pbslot *p;

	pthread_mutex_lock(&s->lock);
	if ((p = slot_find(s, j->it->playbook)) != NULL)
		p->inflight--;
	s->total_inflight--;
	if (j->hprev != NULL)
		j->hprev->hnext = j->hnext;
	else
		s->held = j->hnext;
	if (j->hnext != NULL)
		j->hnext->hprev = j->hprev;
	pthread_mutex_unlock(&s->lock);
	job_free(j);
	kick(s);
}

static void
ready_push(struct sched *s, struct job *j)
{
	pthread_mutex_lock(&s->lock);
	j->next = NULL;
	if (s->ready_tail != NULL)
		s->ready_tail->next = j;
	else
		s->ready_head = j;
	s->ready_tail = j;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* The kept wait ended with the step: the item in memory follows the
 * store, so a later step of it does not see it. */
static void
item_drop_wait(struct item *it)
{
	json_t *p = json_loads(it->payload, 0, NULL);

	if (json_object_del(p, "_waiting") == 0) {
		free(it->payload);
		it->payload = json_dumps(p, JSON_COMPACT);
	}
	json_decref(p);
}

/* Writer thread: the step's result is on disk (or refused). */
static void
step_committed(struct qreq *r, void *arg)
{
	struct job *j = arg;
	struct item *it = j->it;

	if (r->rc < 0) {
		log_emit(LL_ERROR, it->id, it->playbook, NULL,
		    "could not record the step result: %s; the item will run"
		    " again from its last committed step", r->err.msg);
		job_settle(j);
		return;
	}
	if (r->op == QOP_STEP_DONE && r->u.step_done.end_wait)
		item_drop_wait(it);
	if (r->op == QOP_STEP_DONE && !r->u.step_done.final) {
		/* Keep the journal in memory in step with the store. */
		it->steps = xrealloc(it->steps, (it->nsteps + 1) *
		    sizeof(*it->steps));
		it->steps[it->nsteps].step_id = xstrdup(r->u.step_done.step_id);
		it->steps[it->nsteps].output = j->output;
		j->output = NULL;
		it->nsteps++;
		it->attempts = 0;
		pb_unref(j->pb);
		j->pb = NULL;
		ready_push(j->s, j);
		return;
	}
	if (r->op == QOP_STEP_DONE)
		log_emit(LL_INFO, it->id, it->playbook, NULL, "done");
	job_settle(j);
}

static void
submit_release(struct job *j, int64_t not_before, const char *waiting)
{
	memset(&j->req, 0, sizeof(j->req));
	j->req.op = QOP_RELEASE;
	j->req.u.release.item = j->it->id;
	j->req.u.release.not_before = not_before;
	j->req.u.release.waiting = waiting;
	j->req.done = step_committed;
	j->req.arg = j;
	queue_submit(j->s->q, &j->req);
}

static void
submit_fail(struct job *j, enum step_result res, enum err_kind kind)
{
	struct sched *s = j->s;
	struct playbook *pb = j->pb;
	const struct pb_step *st = &pb->steps[j->step];
	struct qreq *r = &j->req;
	int failures = j->it->attempts + 1;

	memset(r, 0, sizeof(*r));
	r->op = QOP_FAIL;
	r->u.fail.item = j->it->id;
	r->u.fail.step_id = st->id;
	r->u.fail.kind = kind;
	r->u.fail.message = j->message;
	r->u.fail.context = j->context;
	r->u.fail.reason = j->reason[0] ? j->reason : "escalated";
	r->u.fail.due = util_now_ms() + pb->sla_ms;
	r->u.fail.owner = s->owner;
	r->u.fail.end_wait = j->had_wait;
	if (res == STEP_SYSTEM_ERROR && failures < pb->retry.attempts) {
		int64_t delay = pb_retry_delay(pb, failures);
		char d[32];

		util_format_duration(delay, d, sizeof(d));
		r->u.fail.action = FAIL_RETRY;
		r->u.fail.not_before = util_now_ms() + delay;
		s->retries++;
		log_emit(LL_WARN, j->it->id, pb->name, st->id, "system error"
		    " (attempt %d of %d), retrying in %s: %s", failures,
		    pb->retry.attempts, d, j->message);
	} else if (res == STEP_BUSINESS_ERROR && st->reject_on_business &&
	    strcmp(j->reason, "unresolved_reference") != 0 &&
	    strstr(j->reason, "_too_long") == NULL) {
		/* (A value missing in the playbook's own data, a system
		 * in maintenance too long or a login refused too long are not
		 * the applicant's to fix: those go to a person.) */
		r->u.fail.action = FAIL_REJECT;
		/* The why names the person: it is in the store for those
		 * who may read it (clerkctl item show), not in the log. */
		log_emit(LL_WARN, j->it->id, pb->name, st->id, "rejected (%s)",
		    j->reason);
	} else {
		if (res == STEP_SYSTEM_ERROR) {
			char msg[512];

			snprintf(msg, sizeof(msg), "gave up after %d attempts:"
			    " %.470s", failures, j->message);
			snprintf(j->message, sizeof(j->message), "%s", msg);
			snprintf(j->reason, sizeof(j->reason),
			    "retries_exhausted");
		}
		r->u.fail.action = FAIL_ESCALATE;
		s->escalations++;
		log_emit(LL_WARN, j->it->id, pb->name, st->id, "escalated (%s)",
		    r->u.fail.reason);
	}
	r->done = step_committed;
	r->arg = j;
	queue_submit(s->q, r);
}

/* ---- workers ---- */

/* A reviewer approved this step where it escalated: the store left the
 * approval in the payload (_approved.STEP) for step_run(), which needs
 * the escalation's evidence too (an OCR step's reading). */
static void
approval_of(struct sched *s, struct step_ctx *ctx, const struct pb_step *st)
{
	json_t *a = json_object_get(json_object_get(ctx->payload, "_approved"),
	    st->id), *esc;
	struct err e;

	if (!json_is_object(a))
		return;
	ctx->approval = a;
	esc = queue_escalation_get(s->q, json_integer_value(json_object_get(a,
	    "escalation")), &e);
	if (esc != NULL) {
		ctx->evidence = json_incref(json_object_get(esc, "context"));
		json_decref(esc);
	}
}

static int
spawn_item(struct step_ctx *ctx, const char *playbook, const char *key,
    const char *payload, struct err *e)
{
	struct sched *s = ctx->spawn_arg;
	int64_t id;
	bool dup;

	return sched_enqueue(s, playbook, key, 0, payload, &id, &dup, e);
}

static void
run_job(struct sched *s, struct job *j)
{
	struct item *it = j->it;
	struct step_ctx ctx;
	enum step_result res;
	const struct pb_step *st;
	json_error_t je;
	int64_t now = util_now_ms();

	j->pb = current_pb(s, it->playbook);
	if (j->pb == NULL) {
		/* Removed from the playbook dir: a person decides. */
		memset(&j->req, 0, sizeof(j->req));
		j->req.op = QOP_FAIL;
		j->req.u.fail.item = it->id;
		j->req.u.fail.kind = ERRK_SYSTEM;
		j->req.u.fail.action = FAIL_ESCALATE;
		j->req.u.fail.reason = "playbook_missing";
		snprintf(j->message, sizeof(j->message), "playbook \"%s\" is no"
		    " longer loaded; restore it and retry, or reject the item",
		    it->playbook);
		j->req.u.fail.message = j->message;
		j->req.u.fail.due = now + 86400000;
		j->req.u.fail.owner = s->owner;
		j->req.done = step_committed;
		j->req.arg = j;
		queue_submit(s->q, &j->req);
		return;
	}
	if (atomic_load(&s->draining)) {
		submit_release(j, 0, NULL);
		return;
	}
	if (slot_paused(s, it->playbook)) {
		/* Claimed just before the pause, or between two steps: it
		 * goes back to the queue after its last committed step and
		 * waits there for the resume. */
		log_emit(LL_INFO, it->id, it->playbook, NULL, "playbook paused;"
		    " the item waits in the queue (%zu step(s) done)",
		    it->nsteps);
		submit_release(j, 0, NULL);
		return;
	}
	if (j->pb->calendar != NULL && !cal_is_open(j->pb->calendar, now / 1000)) {
		int64_t next = cal_next_open(j->pb->calendar, now / 1000);

		log_emit(LL_DEBUG, it->id, it->playbook, NULL, "outside the"
		    " hours of calendar %s; waiting", j->pb->calendar_name);
		/* Closed hours are planned: they end a wait on maintenance
		 * or a login (its clock starts again at the next one). */
		submit_release(j, next > 0 ? next * 1000 : now + 3600000,
		    strstr(it->payload, "\"_waiting\"") != NULL ? "" : NULL);
		return;
	}
	j->step = pb_next_step(j->pb, it);
	if (j->step == j->pb->nsteps) {
		/* Every step is journaled (e.g. the last one was approved
		 * by a reviewer): the item is done. */
		memset(&j->req, 0, sizeof(j->req));
		j->req.op = QOP_STEP_DONE;
		j->req.u.step_done.item = it->id;
		j->req.u.step_done.final = true;
		j->req.u.step_done.owner = s->owner;
		j->req.done = step_committed;
		j->req.arg = j;
		queue_submit(s->q, &j->req);
		return;
	}
	st = &j->pb->steps[j->step];

	memset(&ctx, 0, sizeof(ctx));
	ctx.item = it;
	ctx.payload = json_loads(it->payload, 0, &je);
	if (!json_is_object(ctx.payload)) {
		json_decref(ctx.payload);
		ctx.payload = json_object();
	}
	ctx.outputs = step_outputs(it, ctx.payload);
	j->had_wait = json_object_get(ctx.payload, "_waiting") != NULL;
	ctx.pb = j->pb;
	ctx.step = st;
	approval_of(s, &ctx, st);
	ctx.work_dir = s->work_dir;
	ctx.stopping = &s->stopping;
	ctx.spawn = spawn_item;
	ctx.spawn_arg = s;

	log_emit(LL_DEBUG, it->id, it->playbook, st->id, "step %zu of %zu"
	    " (%s) starts", j->step + 1, j->pb->nsteps, st->kind->name);
	j->started = util_mono_ms();
	res = step_run(&ctx);
	observe(s, it->playbook, st->id, res, util_mono_ms() - j->started);

	if (res == STEP_WAIT) {
		/* A durable wait: the item goes back to the queue with a
		 * not_before and frees this worker; no attempt is counted. */
		log_emit(LL_DEBUG, it->id, it->playbook, st->id, "waiting: %s",
		    ctx.message[0] ? ctx.message : "until later");
		now = util_now_ms();
		if (ctx.wait_on[0] != '\0') {
			json_t *w = json_pack("{s:s,s:s,s:I}", "step", st->id,
			    "on", ctx.wait_on, "since",
			    (json_int_t)ctx.wait_since);

			j->waiting = json_dumps(w, JSON_COMPACT);
			json_decref(w);
		} else if (j->had_wait)
			j->waiting = xstrdup("");
		submit_release(j, ctx.wait_until > now ? ctx.wait_until :
		    now + 1000, j->waiting);
	} else if (res == STEP_OK) {
		j->output = json_dumps(ctx.output ? ctx.output : json_object(),
		    JSON_COMPACT);
		memset(&j->req, 0, sizeof(j->req));
		j->req.op = QOP_STEP_DONE;
		j->req.u.step_done.item = it->id;
		j->req.u.step_done.step_id = st->id;
		j->req.u.step_done.pb_hash = j->pb->hash;
		j->req.u.step_done.output = j->output;
		j->req.u.step_done.final = j->step + 1 == j->pb->nsteps;
		j->req.u.step_done.ms = util_mono_ms() - j->started;
		j->req.u.step_done.owner = s->owner;
		j->req.u.step_done.end_wait = j->had_wait;
		j->req.done = step_committed;
		j->req.arg = j;
		queue_submit(s->q, &j->req);
	} else {
		snprintf(j->message, sizeof(j->message), "%s", ctx.message[0] ?
		    ctx.message : "the step failed without saying why");
		snprintf(j->reason, sizeof(j->reason), "%s", ctx.reason);
		if (ctx.context != NULL)
			j->context = json_dumps(ctx.context, JSON_COMPACT);
		submit_fail(j, res, res == STEP_SYSTEM_ERROR ? ERRK_SYSTEM :
		    res == STEP_BUSINESS_ERROR ? ERRK_BUSINESS : ERRK_NONE);
	}
	json_decref(ctx.payload);
	json_decref(ctx.outputs);
	json_decref(ctx.output);
	json_decref(ctx.context);
	json_decref(ctx.evidence);
}

static void *
worker_main(void *arg)
{
	struct sched *s = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->lock);
		while (s->ready_head == NULL && !atomic_load(&s->stopping))
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->ready_head == NULL) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		j = s->ready_head;
		s->ready_head = j->next;
		if (s->ready_head == NULL)
			s->ready_tail = NULL;
		s->busy++;
		pthread_mutex_unlock(&s->lock);
		run_job(s, j);
		pthread_mutex_lock(&s->lock);
		s->busy--;
		pthread_mutex_unlock(&s->lock);
		kick(s);
	}
}

/* ---- dispatcher (event loop) ---- */

static void
claimed(struct qreq *r, void *arg)
{
	struct claim *c = arg;
	struct sched *s = c->s;
	struct pbslot *p;
	int got = r->rc == 0 ? r->u.claim.n : 0;

	if (r->rc < 0)
		log_error("claiming items of %s failed: %s", c->playbook,
		    r->err.msg);
	pthread_mutex_lock(&s->lock);
	if ((p = slot_find(s, c->playbook)) != NULL) {
		p->inflight -= c->max - got;
		p->claim_pending = false;
	}
	s->total_inflight -= c->max - got;
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < got; i++) {
		struct job *j = xcalloc(1, sizeof(*j));

		j->s = s;
		j->it = r->u.claim.items[i];
		pthread_mutex_lock(&s->lock);
		j->hnext = s->held;
		if (s->held != NULL)
			s->held->hprev = j;
		s->held = j;
		pthread_mutex_unlock(&s->lock);
		log_emit(LL_DEBUG, j->it->id, j->it->playbook, NULL,
		    "claimed (%zu step(s) already done)", j->it->nsteps);
		ready_push(s, j);
	}
	free(r->u.claim.items);
	/* Items mean more may be waiting; a drain waits for this claim. */
	if (got > 0 || atomic_load(&s->draining))
		kick(s);
	free(c->playbook);
	free(c);
}

static void
dispatch(struct sched *s)
{
	int64_t now = util_now_ms();

	if (atomic_load(&s->draining) || !queue_healthy(s->q, NULL))
		return;
	pthread_mutex_lock(&s->lock);
	for (struct pbslot *p = s->slots; p != NULL; p = p->next) {
		struct claim *c;
		int room;

		/* A paused playbook is skipped, not waited on: claims are
		 * per playbook, so the others' items are claimed as ever,
		 * and its own stay queued without being looked at. */
		if (p->pb == NULL || p->claim_pending || p->paused)
			continue;
		room = p->pb->concurrency - p->inflight;
		if (room <= 0)
			continue;
		if (p->pb->calendar != NULL &&
		    !cal_is_open(p->pb->calendar, now / 1000))
			continue;
		c = xcalloc(1, sizeof(*c));
		c->s = s;
		c->playbook = xstrdup(p->name);
		c->max = room;
		c->req.op = QOP_CLAIM;
		c->req.u.claim.playbook = c->playbook;
		c->req.u.claim.owner = s->owner;
		c->req.u.claim.lease_ms = s->lease_ms;
		c->req.u.claim.max = room;
		c->req.done = claimed;
		c->req.arg = c;
		p->claim_pending = true;
		p->inflight += room;
		s->total_inflight += room;
		queue_submit(s->q, &c->req);
	}
	pthread_mutex_unlock(&s->lock);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	dispatch(s);
	if (atomic_load(&s->draining) && s->drain_done != NULL) {
		int left;

		pthread_mutex_lock(&s->lock);
		left = s->total_inflight;
		pthread_mutex_unlock(&s->lock);
		if (left == 0) {
			void (*done)(void *) = s->drain_done;

			s->drain_done = NULL;
			log_info("drained: every item is settled");
			done(s->drain_arg);
		}
	}
}

static void enqueue_async(struct sched *s, struct playbook *pb, char *key,
    char *payload);

/*
 * Hands every escalation that has passed its due time, once, to each
 * playbook triggered by "overdue" (which typically notifies someone).
 * The item key "overdue:ID" keeps it once across restarts too.
 */
static void
check_overdue(struct sched *s)
{
	struct playbook *pbs[16];
	int npb = 0;
	int64_t now = util_now_ms();
	bool more = true;

	pthread_mutex_lock(&s->lock);
	for (struct pbslot *p = s->slots; p != NULL && npb < 16; p = p->next)
		if (p->pb != NULL && p->pb->trigger == TRIG_OVERDUE)
			pbs[npb++] = pb_ref(p->pb);
	pthread_mutex_unlock(&s->lock);
	while (npb > 0 && more) {
		struct esc_filter f = { .open_only = true, .after_due = s->od_due,
		    .after_id = s->od_id, .limit = 100 };
		struct err e;
		json_t *arr = queue_escalation_list(s->q, &f, &e), *x;
		size_t i;

		if (arr == NULL) {
			log_error("looking for overdue escalations: %s", e.msg);
			break;
		}
		more = json_array_size(arr) == 100;
		json_array_foreach(arr, i, x) {
			int64_t due = json_integer_value(json_object_get(x, "due"));
			const char *pbname = json_string_value(json_object_get(x,
			    "playbook"));
			bool own = false;
			char when[48];

			if (due > now) {
				more = false;
				break;
			}
			s->od_due = due;
			s->od_id = json_integer_value(json_object_get(x, "id"));
			for (int k = 0; k < npb; k++)
				own |= strcmp(pbs[k]->name, pbname) == 0;
			if (own)
				continue;   /* no alerts about alerts */
			s->overdue++;
			util_format_time(due, when, sizeof(when));
			json_object_set_new(x, "due_text", json_string(when));
			json_object_set_new(x, "escalation", json_incref(
			    json_object_get(x, "id")));
			log_emit(LL_WARN, json_integer_value(json_object_get(x,
			    "item")), pbname, NULL, "escalation %lld is overdue"
			    " (due %s)", (long long)s->od_id, when);
			for (int k = 0; k < npb; k++)
				enqueue_async(s, pbs[k], xasprintf("overdue:%lld",
				    (long long)s->od_id), json_dumps(x,
				    JSON_COMPACT));
		}
		json_decref(arr);
	}
	for (int k = 0; k < npb; k++)
		pb_unref(pbs[k]);
}

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	if (!atomic_load(&s->draining))
		check_overdue(s);
	kick_cb(fd, what, arg);
}

static void
renewed(struct qreq *r, void *arg)
{
	struct sched *s = arg;

	if (r->rc < 0)
		log_error("lease renewal failed: %s", r->err.msg);
	free(s->renew_items);
	s->renew_items = NULL;
	atomic_store(&s->renew_out, false);
}

static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (atomic_exchange(&s->renew_out, true))
		return;
	/*
	 * Only the items still held: one whose result could not be
	 * committed (the store was down), or whose claim committed without
	 * an answer, was let go here and must run out, not be renewed for
	 * as long as this daemon lives.
	 */
	if ((f = open_memstream(&buf, &len)) == NULL) {
		atomic_store(&s->renew_out, false);
		return;
	}
	fputc('[', f);
	pthread_mutex_lock(&s->lock);
	for (struct job *j = s->held; j != NULL; j = j->hnext)
		fprintf(f, "%s%lld", j == s->held ? "" : ",",
		    (long long)j->it->id);
	pthread_mutex_unlock(&s->lock);
	fputc(']', f);
	fclose(f);
	s->renew_items = buf;
	memset(&s->renew, 0, sizeof(s->renew));
	s->renew.op = QOP_RENEW;
	s->renew.u.renew.owner = s->owner;
	s->renew.u.renew.lease_ms = s->lease_ms;
	s->renew.u.renew.items = s->renew_items;
	s->renew.done = renewed;
	s->renew.arg = s;
	queue_submit(s->q, &s->renew);
}

/* ---- triggers ---- */

struct enq {
	struct sched *s;
	char *key, *playbook, *payload;
	bool catch_up;
	struct qreq req;
};

static void
enqueued(struct qreq *r, void *arg)
{
	struct enq *q = arg;

	if (r->rc < 0)
		log_emit(LL_ERROR, 0, q->playbook, NULL, "could not enqueue"
		    " %s: %s", q->key, r->err.msg);
	else if (!r->u.enqueue.dup) {
		q->s->enqueued++;
		log_emit(LL_INFO, r->u.enqueue.id, q->playbook, NULL,
		    "enqueued %s%s", q->key, q->catch_up ? " (catch-up of a"
		    " missed firing)" : "");
	} else if (q->catch_up)
		log_emit(LL_INFO, r->u.enqueue.id, q->playbook, NULL,
		    "catch-up: %s is already an item; not run again", q->key);
	kick(q->s);
	free(q->key);
	free(q->playbook);
	free(q->payload);
	free(q);
}

/* Fire and forget: the writer batches trigger enqueues together. */
static void
enqueue_async(struct sched *s, struct playbook *pb, char *key, char *payload)
{
	struct enq *q = xcalloc(1, sizeof(*q));

	q->s = s;
	q->key = key;
	q->playbook = xstrdup(pb->name);
	q->payload = payload;
	q->req.op = QOP_ENQUEUE;
	q->req.u.enqueue.key = q->key;
	q->req.u.enqueue.playbook = q->playbook;
	q->req.u.enqueue.pb_hash = pb->hash;
	q->req.u.enqueue.priority = pb->priority;
	q->req.u.enqueue.payload = q->payload;
	q->req.done = enqueued;
	q->req.arg = q;
	queue_submit(s->q, &q->req);
}

int
sched_enqueue(struct sched *s, const char *playbook, const char *key,
    int priority, const char *payload, int64_t *id, bool *dup, struct err *e)
{
	struct playbook *pb = current_pb(s, playbook);
	struct qreq r;

	if (pb == NULL) {
		err_setc(e, ERR_NOTFOUND, "no playbook named \"%s\" is loaded",
		    playbook);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.op = QOP_ENQUEUE;
	r.u.enqueue.key = key;
	r.u.enqueue.playbook = pb->name;
	r.u.enqueue.pb_hash = pb->hash;
	r.u.enqueue.priority = priority;
	r.u.enqueue.payload = payload;
	if (queue_exec(s->q, &r) < 0) {
		*e = r.err;
		pb_unref(pb);
		return -1;
	}
	*id = r.u.enqueue.id;
	*dup = r.u.enqueue.dup;
	if (!*dup) {
		s->enqueued++;
		log_emit(LL_INFO, *id, pb->name, NULL, "enqueued %s", key);
	}
	pb_unref(pb);
	kick(s);
	return 0;
}

/* The item of one cron / interval slot, keyed by the slot's time so
 * that it exists once however often it is enqueued (a restart inside
 * the slot, a catch-up after one). */
static void
enqueue_slot(struct sched *s, struct playbook *pb, int64_t slot,
    bool catch_up)
{
	const char *kind = pb->trigger == TRIG_CRON ? "cron" : "interval";
	struct enq *q;
	char ts[48];

	util_format_time(slot, ts, sizeof(ts));
	q = xcalloc(1, sizeof(*q));
	q->s = s;
	q->key = xasprintf("%s:%s", kind, ts);
	q->playbook = xstrdup(pb->name);
	q->payload = xasprintf("{\"trigger\":\"%s\",\"scheduled\":\"%s\","
	    "\"catch_up\":%s}", kind, ts, catch_up ? "true" : "false");
	q->catch_up = catch_up;
	q->req.op = QOP_ENQUEUE;
	q->req.u.enqueue.key = q->key;
	q->req.u.enqueue.playbook = q->playbook;
	q->req.u.enqueue.pb_hash = pb->hash;
	q->req.u.enqueue.priority = pb->priority;
	q->req.u.enqueue.payload = q->payload;
	q->req.u.enqueue.slot = slot;
	q->req.done = enqueued;
	q->req.arg = q;
	queue_submit(s->q, &q->req);
}

/* ---- catch-up of the firings missed while clerkd was down ---- */

/* cron_next() steps one catch-up may take per pass (a cron firing every
 * second, down for two days); interval slots are counted, not stepped. */
#define CATCHUP_SCAN_MAX 200000

/*
 * Steps pb's cron through (from, to] (ms), at most CATCHUP_SCAN_MAX
 * slots: returns how many it saw, keeps the latest min(that, max) in out
 * (oldest first, their number in *nout) and the last one seen in *end.
 */
static int64_t
cron_scan(const struct playbook *pb, int64_t from, int64_t to, int64_t *out,
    int max, int *nout, int64_t *end)
{
	int64_t n = 0, t;
	int k;

	*end = from;
	for (t = cron_next(pb->cron, from / 1000); t >= 0 && t * 1000 <= to &&
	    n < CATCHUP_SCAN_MAX; t = cron_next(pb->cron, t)) {
		if (max > 0)
			out[n % max] = t * 1000;   /* a ring of the latest */
		*end = t * 1000;
		n++;
	}
	k = n < max ? (int)n : max;
	if (k > 0 && n > max) {
		int64_t tmp[k];

		for (int i = 0; i < k; i++)
			tmp[i] = out[(n - k + i) % max];
		memcpy(out, tmp, sizeof(tmp));
	}
	*nout = k;
	return n;
}

/*
 * The slots of pb's timer in (from, to] (ms): returns how many there are
 * (-1: more than CATCHUP_SCAN_MAX) and puts the latest min(that, max) of
 * them in out, oldest first, their number in *nout.
 */
static int64_t
timer_slots(const struct playbook *pb, int64_t from, int64_t to,
    int64_t *out, int max, int *nout)
{
	int64_t n, end;

	*nout = 0;
	if (to <= from)
		return 0;
	if (pb->trigger == TRIG_INTERVAL) {
		int64_t iv = pb->interval_ms, first, last;
		int k;

		first = (from / iv + 1) * iv;
		last = to / iv * iv;
		if (last < first)
			return 0;
		n = (last - first) / iv + 1;
		k = n < max ? (int)n : max;
		for (int i = 0; i < k; i++)
			out[i] = last - (int64_t)(k - 1 - i) * iv;
		*nout = k;
		return n;
	}
	n = cron_scan(pb, from, to, out, max, nout, &end);
	if (n < CATCHUP_SCAN_MAX)
		return n;
	/* Too many to step through: the latest ones are in a window half
	 * as long as the one stepped, ending at to (for a regular schedule
	 * it holds about half as many slots: all of it is stepped, and that
	 * is far more than max). */
	if (cron_next(pb->cron, end / 1000) * 1000 <= to &&
	    cron_next(pb->cron, end / 1000) >= 0) {
		cron_scan(pb, to - (end - from) / 2, to, out, max, nout, &end);
		return -1;
	}
	return n;
}

static void
count_text(int64_t n, char *buf, size_t len)
{
	if (n < 0)
		snprintf(buf, len, "more than %d", CATCHUP_SCAN_MAX);
	else
		snprintf(buf, len, "%lld", (long long)n);
}

/*
 * On start, and when a reload brings in a timer playbook that was not
 * running: the slots between the last one that fired (trigger_slots, kept
 * with each timer item) and now were missed. Per the playbook's catch_up
 * they are skipped, the latest one runs, or each runs (the latest
 * catch_up_max, oldest first), within catch_up_within of now. Each is
 * keyed by its own slot time, so a second start adds nothing. A playbook
 * that never fired has no history to catch up on.
 */
static void
catch_up(struct sched *s, struct pbslot *p)
{
	struct playbook *pb = p->pb;
	int64_t now = util_now_ms(), last, from, missed, eligible;
	int want = pb->catch_up == CATCHUP_ONCE ? 1 :
	    pb->catch_up == CATCHUP_ALL ? pb->catch_up_max : 0;
	int64_t *slots = xcalloc((size_t)want + 1, sizeof(*slots));
	int nslots, nlatest, rc;
	int64_t latest[1];
	char a[48], b[48], nm[32], ne[32], skipped[32], within[32];
	char why[160];
	struct err e;

	rc = queue_trigger_slot(s->q, pb->name, &last, &e);
	if (rc < 0)
		log_emit(LL_ERROR, 0, pb->name, NULL, "cannot tell which"
		    " firings were missed while clerkd was down (%s); none is"
		    " caught up", e.msg);
	if (rc <= 0)
		goto out;
	missed = timer_slots(pb, last, now, latest, 1, &nlatest);
	if (missed == 0) {
		util_format_time(last, a, sizeof(a));
		log_emit(LL_DEBUG, 0, pb->name, NULL, "no firing missed since"
		    " the last one (%s)", a);
		goto out;
	}
	from = last;
	if (pb->catch_up_within_ms > 0 && now - pb->catch_up_within_ms - 1 >
	    from)
		from = now - pb->catch_up_within_ms - 1;
	nslots = 0;
	eligible = want > 0 ? timer_slots(pb, from, now, slots, want,
	    &nslots) : 0;
	util_format_time(last, a, sizeof(a));
	util_format_time(latest[0], b, sizeof(b));
	count_text(missed, nm, sizeof(nm));
	if (missed < 0)
		snprintf(skipped, sizeof(skipped), "the rest");
	else
		snprintf(skipped, sizeof(skipped), "%lld",
		    (long long)(missed - nslots));
	why[0] = '\0';
	if (want > 0 && eligible != missed) {
		count_text(eligible, ne, sizeof(ne));
		util_format_duration(pb->catch_up_within_ms, within,
		    sizeof(within));
		snprintf(why, sizeof(why), "; %s of them within catch_up_within"
		    " = %s", ne, within);
	}
	if (pb->catch_up == CATCHUP_ALL && eligible != nslots)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "; only"
		    " the latest catch_up_max = %d run", pb->catch_up_max);
	log_emit(LL_INFO, 0, pb->name, NULL, "catch-up: %s firing(s) missed"
	    " after the last one (%s), up to %s; catch_up = \"%s\": %d to"
	    " run, %s skipped%s", nm, a, b, pb_catch_up_name(pb->catch_up),
	    nslots, skipped, why);
	for (int i = 0; i < nslots; i++)
		enqueue_slot(s, pb, slots[i], true);
out:
	free(slots);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

/* The first firing of pb's cron or interval trigger after `after` (ms),
 * or -1 when there is none (a cron that never fires again). */
static int64_t
next_slot(const struct playbook *pb, int64_t after)
{
	int64_t next;

	if (pb->trigger == TRIG_INTERVAL)
		return (after / pb->interval_ms + 1) * pb->interval_ms;
	if (pb->trigger != TRIG_CRON ||
	    (next = cron_next(pb->cron, after / 1000)) < 0)
		return -1;
	return next * 1000;
}

static void
arm_timer(struct pbslot *p)
{
	struct playbook *pb = p->pb;
	int64_t now = util_now_ms(), next_ms, after;
	struct timeval tv;

	if (pb == NULL || (pb->trigger != TRIG_CRON &&
	    pb->trigger != TRIG_INTERVAL))
		return;
	/* A timer may wake a little before its time: the next slot is
	 * after the one it just fired for, not the same one again. */
	after = now > p->fired ? now : p->fired;
	if ((next_ms = next_slot(pb, after)) < 0) {
		log_emit(LL_WARN, 0, pb->name, NULL, "cron \"%s\" never"
		    " fires again", pb->cron_expr);
		return;
	}
	p->armed = next_ms;
	if (next_ms < now)
		next_ms = now;
	tv.tv_sec = (next_ms - now) / 1000;
	tv.tv_usec = ((next_ms - now) % 1000) * 1000;
	if (p->timer == NULL)
		p->timer = evtimer_new(p->s->base, timer_cb, p);
	evtimer_add(p->timer, &tv);
	p->timer_on = true;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pbslot *p = arg;
	struct playbook *pb = p->pb;

	if (pb == NULL)
		return;
	/* The item is keyed by the slot the timer was set for, not by the
	 * clock when it woke (a little early or late), so a restart inside
	 * the same slot cannot start the same run twice. */
	p->fired = p->armed;
	enqueue_slot(p->s, pb, p->armed, false);
	arm_timer(p);
}

static bool
watch_candidate(const struct playbook *pb, const char *name)
{
	size_t n = strlen(name);

	/* Hidden and temporary names are files still being written by a
	 * writer that renames them in when complete. */
	if (name[0] == '.' || (n > 4 && strcmp(name + n - 4, ".tmp") == 0) ||
	    (n > 5 && strcmp(name + n - 5, ".part") == 0))
		return false;
	return fnmatch(pb->watch_pattern, name, 0) == 0;
}

static void
watch_file(struct sched *s, struct pbslot *p, const char *name)
{
	char *path, sha[65];
	struct stat st;
	struct err e;
	json_t *payload;
	char *text, *stem;

	if (p->pb == NULL || !watch_candidate(p->pb, name))
		return;
	path = xasprintf("%s/%s", p->watch_dir, name);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		free(path);
		return;
	}
	if (util_sha256_file(path, sha, &e) < 0) {
		log_emit(LL_WARN, 0, p->name, NULL, "cannot read %s: %s", path,
		    e.msg);
		free(path);
		return;
	}
	/* dir and stem let a step name a companion file, e.g. the ledger
	 * export "${dir}/${stem}.ledger.csv" beside a bank statement. */
	stem = xstrndup(name, strcspn(name, "."));
	payload = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "file", path, "name",
	    name, "dir", p->watch_dir, "stem", stem, "size",
	    (json_int_t)st.st_size, "sha256", sha);
	free(stem);
	text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	/* The same upload (name and content) never becomes two items. */
	enqueue_async(s, p->pb, xasprintf("file:%s:%s", name, sha), text);
	free(path);
}

static void
inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->len > 0 && (ev->mask & (IN_CLOSE_WRITE |
			    IN_MOVED_TO))) {
				pthread_mutex_lock(&s->lock);
				struct pbslot *hit[64];
				int nhit = 0;

				for (struct pbslot *sl = s->slots; sl != NULL &&
				    nhit < 64; sl = sl->next)
					if (sl->wd == ev->wd)
						hit[nhit++] = sl;
				pthread_mutex_unlock(&s->lock);
				for (int i = 0; i < nhit; i++)
					watch_file(s, hit[i], ev->name);
			}
			if (ev->mask & IN_Q_OVERFLOW)
				log_warn("inotify queue overflow; files will be"
				    " picked up by the next rescan (reload)");
			p += sizeof(struct inotify_event) + ev->len;
		}
	}
}

/* Sets up the slot's trigger; the event loop thread only. */
static void
trigger_start(struct sched *s, struct pbslot *p)
{
	struct playbook *pb = p->pb;
	struct err e;
	DIR *d;
	struct dirent *de;

	if (pb->trigger == TRIG_CRON || pb->trigger == TRIG_INTERVAL) {
		if (!p->timer_on)
			catch_up(s, p);
		arm_timer(p);
		return;
	}
	p->timer_on = false;
	if (pb->trigger != TRIG_WATCH)
		return;
	free(p->watch_dir);
	p->watch_dir = util_path_join(s->work_dir, pb->watch_dir);
	if (util_mkdir_p(p->watch_dir, 0755, &e) < 0) {
		log_emit(LL_ERROR, 0, pb->name, NULL, "%s", e.msg);
		return;
	}
	p->wd = inotify_add_watch(s->inotify_fd, p->watch_dir,
	    IN_CLOSE_WRITE | IN_MOVED_TO);
	if (p->wd < 0) {
		log_emit(LL_ERROR, 0, pb->name, NULL, "cannot watch %s: %s",
		    p->watch_dir, strerror(errno));
		return;
	}
	/* Files that arrived while clerkd was down. */
	if ((d = opendir(p->watch_dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			watch_file(s, p, de->d_name);
		closedir(d);
	}
	log_emit(LL_INFO, 0, pb->name, NULL, "watching %s", p->watch_dir);
}

static void
trigger_stop(struct sched *s, struct pbslot *p)
{
	if (p->timer != NULL)
		evtimer_del(p->timer);
	if (p->wd >= 0) {
		/* Two playbooks may watch one directory: the kernel hands out
		 * one wd per inode, so only drop it when no one else uses it. */
		bool shared = false;

		for (struct pbslot *o = s->slots; o != NULL; o = o->next)
			shared |= o != p && o->wd == p->wd;
		if (!shared)
			inotify_rm_watch(s->inotify_fd, p->wd);
		p->wd = -1;
	}
}

/* ---- loading ---- */

static int
has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	return n > m && strcmp(name + n - m, suffix) == 0;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.cfg / *.conf paths in dir; -1 if dir cannot be read. */
static int
list_files(const char *dir, char ***out, size_t *n, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;

	*n = 0;
	*out = NULL;
	if (d == NULL) {
		err_set(e, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (!has_suffix(de->d_name, ".cfg") &&
		    !has_suffix(de->d_name, ".conf")))
			continue;
		names = xrealloc(names, (*n + 1) * sizeof(*names));
		names[(*n)++] = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(names, *n, sizeof(*names), cmpstr);
	*out = names;
	return 0;
}

static void
free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static void
add_error(json_t *errors, const char *msg)
{
	log_error("%s", msg);
	json_array_append_new(errors, json_string(msg));
}

/*
 * The store is the truth about what is paused; every (re)load reads it,
 * so a playbook paused before a restart, or one that comes back after its
 * file was away, is paused again before anything claims it.
 */
static void
pause_states_load(struct sched *s)
{
	struct err e;
	json_t *arr = queue_playbook_states(s->q, &e), *x;
	size_t i;

	if (arr == NULL) {
		log_error("cannot read which playbooks are paused: %s; the"
		    " pauses known before stay in force", e.msg);
		return;
	}
	pthread_mutex_lock(&s->lock);
	for (struct pbslot *p = s->slots; p != NULL; p = p->next) {
		json_t *row = NULL;

		json_array_foreach(arr, i, x)
			if (strcmp(json_string_value(json_object_get(x,
			    "playbook")), p->name) == 0)
				row = x;
		if (row == NULL)
			slot_set_paused(p, false, NULL, 0, NULL);
		else {
			if (!p->paused)
				log_emit(LL_INFO, 0, p->name, NULL, "paused (by %s)",
				    json_string_value(json_object_get(row,
				    "paused_by")));
			slot_set_paused(p, true, json_string_value(
			    json_object_get(row, "paused_by")),
			    json_integer_value(json_object_get(row,
			    "paused_at")), json_string_value(json_object_get(row,
			    "pause_reason")));
		}
	}
	pthread_mutex_unlock(&s->lock);
	json_decref(arr);
}

int
sched_pause(struct sched *s, const char *name, bool pause, const char *by,
    const char *reason, struct err *e)
{
	struct pbslot *p;
	struct qreq r;
	bool loaded;

	pthread_mutex_lock(&s->lock);
	loaded = (p = slot_find(s, name)) != NULL && p->pb != NULL;
	pthread_mutex_unlock(&s->lock);
	if (!loaded) {
		err_setc(e, ERR_NOTFOUND, "no playbook named \"%s\" is loaded",
		    name);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.op = pause ? QOP_PB_PAUSE : QOP_PB_RESUME;
	r.u.pb_pause.playbook = name;
	r.u.pb_pause.by = by;
	r.u.pb_pause.reason = reason;
	if (queue_exec(s->q, &r) < 0) {
		*e = r.err;
		return -1;
	}
	/* Slots are only freed by sched_free, so p is still good. */
	pthread_mutex_lock(&s->lock);
	slot_set_paused(p, pause, by, r.u.pb_pause.at, reason);
	pthread_mutex_unlock(&s->lock);
	if (pause)
		log_emit(LL_INFO, 0, name, NULL, "paused by %s%s%s", by,
		    reason ? ": " : "", reason ? reason : "");
	else
		log_emit(LL_INFO, 0, name, NULL, "resumed by %s", by);
	kick(s);
	return 0;
}

json_t *
sched_load(struct sched *s, const struct config *cfg)
{
	json_t *report = json_object(), *loaded = json_array(),
	    *errors = json_array();
	struct calendar **cals = NULL;
	struct playbook **pbs = NULL;
	size_t ncal = 0, npb = 0, nf;
	char **files;
	struct err e;

	/* Calendars first: playbooks name them. */
	/* No calendar folder is fine: no playbook may name a calendar. */
	if (list_files(cfg->calendar_dir, &files, &nf, &e) < 0 &&
	    access(cfg->calendar_dir, F_OK) == 0)
		add_error(errors, e.msg);
	for (size_t i = 0; i < nf; i++) {
		struct calendar *c = cal_load(files[i], &e);

		if (c == NULL) {
			add_error(errors, e.msg);
			continue;
		}
		cals = xrealloc(cals, (ncal + 1) * sizeof(*cals));
		cals[ncal++] = c;
	}
	free_list(files, nf);

	if (list_files(cfg->playbook_dir, &files, &nf, &e) < 0)
		add_error(errors, e.msg);
	for (size_t i = 0; i < nf; i++) {
		struct pb_diag d = { 0 };
		struct playbook *pb = pb_load(files[i], &d);
		bool dup = false;

		for (size_t k = 0; k < d.n; k++)
			add_error(errors, d.msgs[k]);
		pb_diag_clear(&d);
		if (pb == NULL)
			continue;
		if (pb->calendar_name != NULL) {
			for (size_t k = 0; k < ncal; k++)
				if (strcmp(cal_name(cals[k]),
				    pb->calendar_name) == 0)
					pb->calendar = cals[k];
			if (pb->calendar == NULL) {
				char *msg = xasprintf("%s:%d: unknown calendar"
				    " \"%s\"; put its file in %s", pb->file,
				    pb->calendar_line, pb->calendar_name,
				    cfg->calendar_dir);

				add_error(errors, msg);
				free(msg);
				pb_unref(pb);
				continue;
			}
		}
		for (size_t k = 0; k < npb; k++)
			if (strcmp(pbs[k]->name, pb->name) == 0) {
				char *msg = xasprintf("%s: playbook name \"%s\""
				    " is already used by %s; this file is"
				    " skipped", pb->file, pb->name,
				    pbs[k]->file);

				add_error(errors, msg);
				free(msg);
				dup = true;
			}
		if (dup) {
			pb_unref(pb);
			continue;
		}
		pbs = xrealloc(pbs, (npb + 1) * sizeof(*pbs));
		pbs[npb++] = pb;
	}
	free_list(files, nf);

	/* Swap in: new versions replace old ones; a playbook whose file
	 * failed keeps running its old version; one whose file is gone
	 * stops getting work. */
	pthread_mutex_lock(&s->lock);
	for (struct pbslot *p = s->slots; p != NULL; p = p->next)
		trigger_stop(s, p);
	for (struct pbslot *p = s->slots; p != NULL; p = p->next) {
		bool found = false, failed = false;

		for (size_t k = 0; k < npb; k++)
			found |= strcmp(pbs[k]->name, p->name) == 0;
		if (found || p->pb == NULL)
			continue;
		for (size_t k = 0; k < json_array_size(errors); k++)
			failed |= strstr(json_string_value(json_array_get(
			    errors, k)), p->pb->file) != NULL;
		if (!failed) {
			log_emit(LL_INFO, 0, p->name, NULL, "playbook removed");
			pb_unref(p->pb);
			p->pb = NULL;
			p->timer_on = false;
		} else
			log_emit(LL_WARN, 0, p->name, NULL, "keeps running the"
			    " version loaded before (%.12s)", p->pb->hash);
	}
	for (size_t k = 0; k < npb; k++) {
		struct pbslot *p = slot_find(s, pbs[k]->name);

		if (p == NULL) {
			p = xcalloc(1, sizeof(*p));
			p->s = s;
			p->name = xstrdup(pbs[k]->name);
			p->wd = -1;
			p->next = s->slots;
			s->slots = p;
		}
		if (p->pb == NULL || strcmp(p->pb->hash, pbs[k]->hash) != 0)
			log_emit(LL_INFO, 0, p->name, NULL, "loaded %s (%.12s)",
			    pbs[k]->file, pbs[k]->hash);
		pb_unref(p->pb);
		p->pb = pbs[k];
		json_array_append_new(loaded, json_string(p->name));
	}
	free(pbs);
	/* Old calendars stay allocated: playbooks that kept their old
	 * version still point at them. */
	s->cals = xrealloc(s->cals, (s->ncals + ncal) * sizeof(*s->cals));
	if (ncal > 0)
		memcpy(s->cals + s->ncals, cals, ncal * sizeof(*cals));
	s->ncals += ncal;
	free(cals);
	free_list(s->errors, s->nerrors);
	s->nerrors = json_array_size(errors);
	s->errors = xcalloc(s->nerrors, sizeof(char *));
	for (size_t k = 0; k < s->nerrors; k++)
		s->errors[k] = xstrdup(json_string_value(json_array_get(errors,
		    k)));
	pthread_mutex_unlock(&s->lock);

	if (s->q != NULL)
		pause_states_load(s);
	/* Without a store (clerkd --check) nothing may be enqueued. */
	for (struct pbslot *p = s->slots; p != NULL && s->q != NULL;
	    p = p->next)
		if (p->pb != NULL)
			trigger_start(s, p);
	json_object_set_new(report, "loaded", loaded);
	json_object_set_new(report, "errors", errors);
	kick(s);
	return report;
}

/* ---- life cycle ---- */

struct sched *
sched_new(struct event_base *base, struct queue *q, const struct config *cfg)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	char host[256] = "localhost";
	struct timeval tv;

	s->base = base;
	s->q = q;
	gethostname(host, sizeof(host) - 1);
	s->owner = xasprintf("%s:%ld:%lld", host, (long)getpid(),
	    (long long)util_now_ms());
	s->work_dir = xstrdup(cfg->work_dir);
	s->nworkers = cfg->workers;
	s->lease_ms = cfg->lease_ms;
	s->poll_ms = cfg->poll_ms;
	s->grace_ms = cfg->drain_grace_ms;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_mutex_init(&s->mlock, NULL);
	s->kick = event_new(base, -1, 0, kick_cb, s);
	s->poll = event_new(base, -1, EV_PERSIST, poll_cb, s);
	tv.tv_sec = s->poll_ms / 1000;
	tv.tv_usec = (s->poll_ms % 1000) * 1000;
	evtimer_add(s->poll, &tv);
	s->heartbeat = event_new(base, -1, EV_PERSIST, heartbeat_cb, s);
	tv.tv_sec = s->lease_ms / 3000;
	tv.tv_usec = (s->lease_ms / 3 % 1000) * 1000;
	evtimer_add(s->heartbeat, &tv);
	s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inotify_fd < 0)
		fatal("inotify_init1: %s", strerror(errno));
	s->inotify_ev = event_new(base, s->inotify_fd, EV_READ | EV_PERSIST,
	    inotify_cb, s);
	event_add(s->inotify_ev, NULL);
	/* Items another clerkd commits on a shared store are claimed at
	 * once, not at the next poll. */
	if (q != NULL)
		queue_on_wakeup(q, sched_wakeup, s);
	return s;
}

void
sched_start(struct sched *s)
{
	s->workers = xcalloc((size_t)s->nworkers, sizeof(*s->workers));
	for (int i = 0; i < s->nworkers; i++)
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
			fatal("cannot start worker thread %d", i);
	kick(s);
}

static void
grace_expired(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	void (*done)(void *) = s->drain_done;

	if (done == NULL)
		return;
	s->drain_done = NULL;
	struct qreq r;

	pthread_mutex_lock(&s->lock);
	log_warn("drain grace period over with %d step(s) still running;"
	    " their items return to the queue", s->busy);
	pthread_mutex_unlock(&s->lock);
	/* Release everything this daemon holds; a step that ends after this
	 * finds its item no longer running and its result is discarded. */
	memset(&r, 0, sizeof(r));
	r.op = QOP_RECOVER;
	r.u.recover.owner = s->owner;
	if (queue_exec(s->q, &r) < 0)
		log_error("releasing items failed: %s; they return when their"
		    " lease expires", r.err.msg);
	done(s->drain_arg);
}

void
sched_drain(struct sched *s, void (*done)(void *), void *arg)
{
	struct timeval tv = { s->grace_ms / 1000, (s->grace_ms % 1000) * 1000 };

	atomic_store(&s->draining, true);
	s->drain_done = done;
	s->drain_arg = arg;
	for (struct pbslot *p = s->slots; p != NULL; p = p->next)
		trigger_stop(s, p);
	s->drain_timer = evtimer_new(s->base, grace_expired, s);
	evtimer_add(s->drain_timer, &tv);
	/* Wake workers so ready items are released, not run. */
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	kick(s);
}

bool
sched_draining(struct sched *s)
{
	return atomic_load(&s->draining);
}

/*
 * Returns true when every worker stopped; false when some are still
 * inside a step (the caller then exits without freeing what they use).
 */
static bool
stop_workers(struct sched *s)
{
	int busy;

	pthread_mutex_lock(&s->lock);
	busy = s->busy;
	atomic_store(&s->stopping, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (busy > 0)
		return false;
	for (int i = 0; i < s->nworkers && s->workers != NULL; i++)
		pthread_join(s->workers[i], NULL);
	return true;
}

void
sched_kick(struct sched *s)
{
	kick(s);
}

bool
sched_free(struct sched *s)
{
	if (!stop_workers(s))
		return false;
	if (s->q != NULL)
		queue_on_wakeup(s->q, NULL, NULL);
	for (struct pbslot *p = s->slots, *n; p != NULL; p = n) {
		n = p->next;
		trigger_stop(s, p);
		if (p->timer != NULL)
			event_free(p->timer);
		pb_unref(p->pb);
		free(p->name);
		free(p->watch_dir);
		free(p->paused_by);
		free(p->pause_reason);
		free(p);
	}
	for (struct job *j = s->ready_head, *n; j != NULL; j = n) {
		n = j->next;
		job_free(j);
	}
	for (size_t i = 0; i < s->ncals; i++)
		cal_free(s->cals[i]);
	free(s->cals);
	free_list(s->errors, s->nerrors);
	for (struct hist *h = s->hists, *n; h != NULL; h = n) {
		n = h->next;
		free(h->playbook);
		free(h->step);
		free(h);
	}
	event_free(s->kick);
	event_free(s->poll);
	event_free(s->heartbeat);
	if (s->drain_timer != NULL)
		event_free(s->drain_timer);
	event_free(s->inotify_ev);
	close(s->inotify_fd);
	free(s->workers);
	free(s->owner);
	free(s->renew_items);
	free(s->work_dir);
	free(s);
	return true;
}

/* The next n times (RFC 3339) a cron or interval trigger fires. */
static json_t *
next_runs(const struct playbook *pb, int n)
{
	json_t *arr = json_array();
	int64_t at = util_now_ms();
	char ts[48];

	for (int i = 0; i < n && (at = next_slot(pb, at)) >= 0; i++) {
		util_format_time(at, ts, sizeof(ts));
		json_array_append_new(arr, json_string(ts));
	}
	return arr;
}

json_t *
sched_playbooks_json(struct sched *s)
{
	static const char *trig[] = { "manual", "cron", "interval", "watch",
	    "overdue" };
	json_t *arr = json_array();

	pthread_mutex_lock(&s->lock);
	for (struct pbslot *p = s->slots; p != NULL; p = p->next) {
		struct playbook *pb = p->pb;
		json_t *o, *steps, *t;

		if (pb == NULL)
			continue;
		steps = json_array();
		for (size_t i = 0; i < pb->nsteps; i++)
			json_array_append_new(steps, json_pack("{s:s,s:s}",
			    "id", pb->steps[i].id, "use",
			    pb->steps[i].kind->name));
		t = json_pack("{s:s}", "kind", trig[pb->trigger]);
		if (pb->cron_expr != NULL)
			json_object_set_new(t, "cron", json_string(pb->cron_expr));
		if (pb->trigger == TRIG_INTERVAL)
			json_object_set_new(t, "interval_ms",
			    json_integer(pb->interval_ms));
		if (pb->trigger == TRIG_CRON || pb->trigger == TRIG_INTERVAL) {
			json_object_set_new(t, "catch_up", json_string(
			    pb_catch_up_name(pb->catch_up)));
			if (pb->catch_up == CATCHUP_ALL)
				json_object_set_new(t, "catch_up_max",
				    json_integer(pb->catch_up_max));
			if (pb->catch_up_within_ms > 0)
				json_object_set_new(t, "catch_up_within_ms",
				    json_integer(pb->catch_up_within_ms));
		}
		if (p->watch_dir != NULL)
			json_object_set_new(t, "dir", json_string(p->watch_dir));
		o = json_pack("{s:s,s:s,s:s,s:o,s:s?,s:i,s:i,s:o,s:I,s:i}",
		    "name", pb->name, "file", pb->file, "hash", pb->hash,
		    "trigger", t, "calendar", pb->calendar_name,
		    "concurrency", pb->concurrency, "priority", pb->priority,
		    "steps", steps, "sla_ms", (json_int_t)pb->sla_ms,
		    "inflight", p->inflight);
		if (pb->description != NULL)
			json_object_set_new(o, "description",
			    json_string(pb->description));
		json_object_set_new(o, "next_runs", next_runs(pb, 1));
		json_object_set_new(o, "paused", json_boolean(p->paused));
		if (p->paused) {
			json_object_set_new(o, "paused_by", p->paused_by ?
			    json_string(p->paused_by) : json_null());
			json_object_set_new(o, "paused_at",
			    json_integer(p->paused_at));
			json_object_set_new(o, "pause_reason", p->pause_reason ?
			    json_string(p->pause_reason) : json_null());
		}
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&s->lock);
	return arr;
}

json_t *
sched_playbook_json(struct sched *s, const char *name, int nruns)
{
	json_t *all = sched_playbooks_json(s), *o = NULL, *v;
	struct playbook *pb;
	size_t i;

	json_array_foreach(all, i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")),
		    name) == 0)
			o = json_incref(v);
	json_decref(all);
	if (o != NULL && (pb = current_pb(s, name)) != NULL) {
		json_object_set_new(o, "next_runs", next_runs(pb, nruns));
		pb_unref(pb);
	}
	return o;
}

struct playbook *
sched_playbook_ref(struct sched *s, const char *name)
{
	return current_pb(s, name);
}

json_t *
sched_errors_json(struct sched *s)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nerrors; i++)
		json_array_append_new(arr, json_string(s->errors[i]));
	pthread_mutex_unlock(&s->lock);
	return arr;
}

const char *
sched_owner(const struct sched *s)
{
	return s->owner;
}
