/*
 * queue.c - the work queue's writer thread and group commit.
 *
 * Callers hand requests to the writer; it takes every request waiting at
 * that moment (up to max_batch), applies them in one transaction, commits,
 * and only then runs their completions. A failed commit fails the whole
 * batch: nothing in it happened, so callers can simply try again later.
 */
#include "queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

struct queue {
	const struct store_ops *ops;
	void *store;
	int max_batch;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct qreq *head, *tail;
	bool stopping;
	pthread_t writer;

	pthread_mutex_t health_lock;
	bool healthy;
	struct err last_err;
};

static const char *state_names[ITEM_NSTATES] = {
	"queued", "running", "retry_wait", "escalated", "done", "rejected",
	"cancelled",
};

const char *
item_state_name(enum item_state s)
{
	return (unsigned)s < ITEM_NSTATES ? state_names[s] : "unknown";
}

int
item_state_parse(const char *s)
{
	for (int i = 0; i < ITEM_NSTATES; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

const char *
err_kind_name(enum err_kind k)
{
	switch (k) {
	case ERRK_SYSTEM:
		return "system";
	case ERRK_BUSINESS:
		return "business";
	default:
		return "none";
	}
}

static const char *decision_names[] = { "approve", "reject", "retry", "resume" };

const char *
decision_name(enum decision d)
{
	return (unsigned)d < 4 ? decision_names[d] : "unknown";
}

int
decision_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, decision_names[i]) == 0)
			return i;
	return -1;
}

void
item_free(struct item *it)
{
	if (it == NULL)
		return;
	for (size_t i = 0; i < it->nsteps; i++) {
		free(it->steps[i].step_id);
		free(it->steps[i].output);
	}
	free(it->steps);
	free(it->key);
	free(it->playbook);
	free(it->pb_hash);
	free(it->payload);
	free(it);
}

const char *
item_step_output(const struct item *it, const char *step_id)
{
	for (size_t i = 0; i < it->nsteps; i++)
		if (strcmp(it->steps[i].step_id, step_id) == 0)
			return it->steps[i].output;
	return NULL;
}

static void
set_health(struct queue *q, bool ok, const struct err *e)
{
	pthread_mutex_lock(&q->health_lock);
	if (ok && !q->healthy)
		log_info("database writes succeed again");
	q->healthy = ok;
	if (!ok && e != NULL)
		q->last_err = *e;
	pthread_mutex_unlock(&q->health_lock);
}

bool
queue_healthy(struct queue *q, struct err *e)
{
	bool ok;

	pthread_mutex_lock(&q->health_lock);
	ok = q->healthy;
	if (!ok && e != NULL)
		*e = q->last_err;
	pthread_mutex_unlock(&q->health_lock);
	return ok;
}

static void
fail_batch(struct qreq *batch, const struct err *e)
{
	for (struct qreq *r = batch; r != NULL; r = r->next) {
		if (r->rc == 0 && r->op == QOP_CLAIM) {
			/* The claim was rolled back: drop what it read. */
			for (int i = 0; i < r->u.claim.n; i++)
				item_free(r->u.claim.items[i]);
			free(r->u.claim.items);
			r->u.claim.items = NULL;
			r->u.claim.n = 0;
		}
		r->rc = -1;
		r->err = *e;
		r->err.code = ERR_UNAVAILABLE;
	}
}

static void *
writer_main(void *arg)
{
	struct queue *q = arg;

	for (;;) {
		struct qreq *batch, *last, *next;
		struct err e;
		int n = 0;
		int64_t now;

		pthread_mutex_lock(&q->lock);
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->head == NULL) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		batch = last = q->head;
		for (n = 1; last->next != NULL && n < q->max_batch; n++)
			last = last->next;
		q->head = last->next;
		if (q->head == NULL)
			q->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&q->lock);

		now = util_now_ms();
		err_clear(&e);
		if (q->ops->begin(q->store, &e) < 0) {
			fail_batch(batch, &e);
			set_health(q, false, &e);
			log_error("%s", e.msg);
		} else {
			const struct err *store_err = NULL;

			for (struct qreq *r = batch; r != NULL; r = r->next) {
				q->ops->apply(q->store, r, now);
				/* A full disk or an I/O error can hit one
				 * statement rather than the commit. */
				if (r->rc < 0 && r->err.code == ERR_UNAVAILABLE)
					store_err = &r->err;
			}
			if (q->ops->commit(q->store, &e) < 0) {
				q->ops->rollback(q->store);
				fail_batch(batch, &e);
				set_health(q, false, &e);
				log_error("commit of %d transition(s) failed: %s",
				    n, e.msg);
			} else if (store_err != NULL) {
				set_health(q, false, store_err);
				log_error("%s", store_err->msg);
			} else
				set_health(q, true, NULL);
		}
		for (struct qreq *r = batch; r != NULL; r = next) {
			next = r->next;
			r->next = NULL;
			if (r->done != NULL)
				r->done(r, r->arg);
		}
	}
	return NULL;
}

struct queue *
queue_open(const char *path, const struct queue_opts *o, struct err *e)
{
	struct queue_opts defaults = { .durable = true, .max_batch = 4096 };
	struct queue *q;

	if (o == NULL)
		o = &defaults;
	q = xcalloc(1, sizeof(*q));
	/* The one place a backend is chosen: a URL names PostgreSQL,
	 * anything else is an SQLite file. */
	q->ops = store_pg_url(path) ? &store_pg_ops : &store_sqlite_ops;
	q->max_batch = o->max_batch > 0 ? o->max_batch : 4096;
	q->healthy = true;
	q->store = q->ops->open(path, o, e);
	if (q->store == NULL) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	pthread_mutex_init(&q->health_lock, NULL);
	if (pthread_create(&q->writer, NULL, writer_main, q) != 0)
		fatal("cannot start the queue writer thread");
	return q;
}

void
queue_on_wakeup(struct queue *q, void (*fn)(void *arg), void *arg)
{
	if (q->ops->on_wakeup != NULL)
		q->ops->on_wakeup(q->store, fn, arg);
}

bool
queue_store_is_url(const char *path)
{
	return store_pg_url(path);
}

char *
queue_store_name(const char *path)
{
	return store_pg_url(path) ? store_pg_safe_url(path) : xstrdup(path);
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->writer, NULL);
	q->ops->close(q->store);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->health_lock);
	free(q);
}

void
queue_submit(struct queue *q, struct qreq *r)
{
	r->next = NULL;
	r->rc = -1;
	err_clear(&r->err);
	pthread_mutex_lock(&q->lock);
	if (q->tail != NULL)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void
wake(struct qreq *r, void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
queue_exec(struct queue *q, struct qreq *r)
{
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	    false };

	r->done = wake;
	r->arg = &w;
	queue_submit(q, r);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	return r->rc;
}

struct audit_req {
	struct qreq r;
	char *actor, *action, *target, *details;
};

static void
audit_done(struct qreq *r, void *arg)
{
	struct audit_req *a = arg;

	if (r->rc < 0)
		log_error("audit %s by %s not recorded: %s", a->action,
		    a->actor, r->err.msg);
	free(a->actor);
	free(a->action);
	free(a->target);
	free(a->details);
	free(a);
}

void
queue_audit(struct queue *q, const char *actor, const char *action,
    const char *target, const char *details)
{
	struct audit_req *a = xcalloc(1, sizeof(*a));

	a->actor = xstrdup(actor ? actor : "unknown");
	a->action = xstrdup(action);
	a->target = xstrdup(target);
	a->details = xstrdup(details);
	a->r.op = QOP_AUDIT;
	a->r.u.audit.actor = a->actor;
	a->r.u.audit.action = a->action;
	a->r.u.audit.target = a->target;
	a->r.u.audit.details = a->details;
	a->r.done = audit_done;
	a->r.arg = a;
	queue_submit(q, &a->r);
}

struct session_req {
	struct qreq r;
	char key[65], csrf[65];
	char *user;
};

static void
session_done(struct qreq *r, void *arg)
{
	struct session_req *sr = arg;

	if (r->rc < 0)
		log_error("web session not %s: %s", r->op == QOP_SESSION_SAVE ?
		    "saved" : "forgotten", r->err.msg);
	free(sr->user);
	free(sr);
}

void
queue_session_save(struct queue *q, const char *key, const char *csrf,
    const char *user, int64_t last)
{
	struct session_req *sr = xcalloc(1, sizeof(*sr));

	snprintf(sr->key, sizeof(sr->key), "%s", key);
	snprintf(sr->csrf, sizeof(sr->csrf), "%s", csrf);
	sr->user = xstrdup(user);
	sr->r.op = QOP_SESSION_SAVE;
	sr->r.u.session.key = sr->key;
	sr->r.u.session.csrf = sr->csrf;
	sr->r.u.session.user = sr->user;
	sr->r.u.session.last = last;
	sr->r.done = session_done;
	sr->r.arg = sr;
	queue_submit(q, &sr->r);
}

void
queue_session_forget(struct queue *q, const char *key)
{
	struct session_req *sr = xcalloc(1, sizeof(*sr));

	snprintf(sr->key, sizeof(sr->key), "%s", key);
	sr->r.op = QOP_SESSION_FORGET;
	sr->r.u.session.key = sr->key;
	sr->r.done = session_done;
	sr->r.arg = sr;
	queue_submit(q, &sr->r);
}

json_t *
queue_sessions(struct queue *q, struct err *e)
{
	return q->ops->sessions(q->store, e);
}

int
queue_trigger_slot(struct queue *q, const char *playbook, int64_t *slot,
    struct err *e)
{
	return q->ops->trigger_slot(q->store, playbook, slot, e);
}

json_t *
queue_playbook_states(struct queue *q, struct err *e)
{
	return q->ops->playbook_states(q->store, e);
}

json_t *
queue_item_get(struct queue *q, int64_t id, struct err *e)
{
	return q->ops->item_get(q->store, id, e);
}

json_t *
queue_item_list(struct queue *q, const struct item_filter *f, struct err *e)
{
	return q->ops->item_list(q->store, f, e);
}

json_t *
queue_escalation_get(struct queue *q, int64_t id, struct err *e)
{
	return q->ops->escalation_get(q->store, id, e);
}

json_t *
queue_escalation_list(struct queue *q, const struct esc_filter *f,
    struct err *e)
{
	return q->ops->escalation_list(q->store, f, e);
}

char *
queue_escalation_list_json(struct queue *q, const struct esc_filter *f,
    struct esc_page *pg, struct err *e)
{
	return q->ops->escalation_list_json(q->store, f, pg, e);
}

json_t *
queue_counts(struct queue *q, struct err *e)
{
	return q->ops->counts(q->store, e);
}

json_t *
queue_history(struct queue *q, const char *playbook, int64_t since,
    int64_t bucket_ms, struct err *e)
{
	return q->ops->history(q->store, playbook, since, bucket_ms, e);
}

int
queue_backup(struct queue *q, const char *dest, struct err *e)
{
	return q->ops->backup(q->store, dest, e);
}

int
queue_restore(const char *backup, const char *path, FILE *report,
    struct restore_info *ri, struct err *e)
{
	if (store_pg_url(path)) {
		memset(ri, 0, sizeof(*ri));
		err_setc(e, ERR_INVALID, "the store is a PostgreSQL database:"
		    " clerkctl restore puts back SQLite files only; restore it"
		    " with pg_restore (from pg_dump) or by point-in-time"
		    " recovery (pg_basebackup with WAL archiving)");
		return -1;
	}
	return store_sqlite_restore(backup, path, report, ri, e);
}
