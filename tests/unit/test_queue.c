/*
 * test_queue.c - the durable work queue (tasks/queue.h) on a real SQLite
 * file: every transition through queue_exec / queue_submit, the reads the
 * API uses, leases, group commit, durability, backup and broken stores.
 *
 * With CLERK_TEST_PG_URL set (an admin URL of a PostgreSQL server, e.g.
 * postgresql://clerk@127.0.0.1:PORT/postgres; tests/pg/with_cluster.sh
 * starts one), every test that is not about the SQLite file runs again on
 * PostgreSQL, each on a database of its own, and the pg_ tests check
 * what only a shared store has: two queues (two nodes) on one database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "audit.h"
#include "log.h"
#include "queue.h"

struct fx {
	char dir[64];
	char db[512];          /* an SQLite file, or a postgresql:// URL */
	char pgname[64];       /* the test's PostgreSQL database, or "" */
	struct queue *q;
};

static struct queue *Q;        /* the current test's queue */

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* CLERK_TEST_PG_URL, or NULL: the PostgreSQL pass is not run. */
static const char *pg_admin;

/* Runs one statement on the admin database; -1 after printing why. */
static int
pg_admin_exec(const char *sql)
{
	PGconn *c = PQconnectdb(pg_admin);
	PGresult *res = NULL;
	int rc = -1;

	if (PQstatus(c) != CONNECTION_OK)
		fprintf(stderr, "%s: %s", pg_admin, PQerrorMessage(c));
	else if (PQresultStatus(res = PQexec(c, sql)) != PGRES_COMMAND_OK)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	else
		rc = 0;
	PQclear(res);
	PQfinish(c);
	return rc;
}

/* Runs a query on the admin database: its row count, or -1. */
static int
pg_admin_exec_rows(const char *sql)
{
	PGconn *c = PQconnectdb(pg_admin);
	PGresult *res = NULL;
	int rc = -1;

	if (PQstatus(c) != CONNECTION_OK)
		fprintf(stderr, "%s: %s", pg_admin, PQerrorMessage(c));
	else if (PQresultStatus(res = PQexec(c, sql)) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	else
		rc = PQntuples(res);
	PQclear(res);
	PQfinish(c);
	return rc;
}

/* The admin URL with its database replaced by name. */
static void
pg_url_of(char *buf, size_t len, const char *name)
{
	const char *p = strstr(pg_admin, "://");
	const char *slash = strchr(p ? p + 3 : pg_admin, '/');
	const char *query = strchr(pg_admin, '?');
	int host = slash ? (int)(slash - pg_admin) : (int)strlen(pg_admin);

	snprintf(buf, len, "%.*s/%s%s", host, pg_admin, name,
	    query ? query : "");
}

/* A fresh database per test: clerk_t_PID_N. */
static int
pg_create(struct fx *f)
{
	static int n;
	char sql[128];

	snprintf(f->pgname, sizeof(f->pgname), "clerk_t_%ld_%d",
	    (long)getpid(), ++n);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->pgname);
	if (pg_admin_exec(sql) < 0)
		return -1;
	pg_url_of(f->db, sizeof(f->db), f->pgname);
	return 0;
}

static int
setup_in(void **state, bool pg)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err e;

	snprintf(f->dir, sizeof(f->dir), "/tmp/clerk-test-queue-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/clerk.db", f->dir);
	if (pg && pg_create(f) < 0)
		return -1;
	err_clear(&e);
	f->q = queue_open(f->db, NULL, &e);
	if (f->q == NULL) {
		fprintf(stderr, "queue_open: %s\n", e.msg);
		return -1;
	}
	Q = f->q;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_in(state, false);
}

/* A test about the SQLite file itself. */
static int
setup_file(void **state)
{
	return setup_in(state, false);
}

static int
setup_pg(void **state)
{
	return setup_in(state, true);
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	queue_close(f->q);
	Q = NULL;
	if (f->pgname[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "DROP DATABASE %s WITH (FORCE)",
		    f->pgname);
		if (pg_admin_exec(cmd) < 0)
			return -1;
	}
	chmod(f->dir, 0700);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* ---- helpers: one request each, through queue_exec ---- */

static int64_t
enqueue_full(const char *pb, const char *key, int prio, int64_t not_before,
    const char *payload, bool *dup)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = QOP_ENQUEUE;
	r.u.enqueue.key = key;
	r.u.enqueue.playbook = pb;
	r.u.enqueue.pb_hash = "hash-v1";
	r.u.enqueue.priority = prio;
	r.u.enqueue.not_before = not_before;
	r.u.enqueue.payload = payload;
	if (queue_exec(Q, &r) != 0)
		fail_msg("enqueue %s/%s: %s", pb, key, r.err.msg);
	assert_true(r.u.enqueue.id > 0);
	if (dup != NULL)
		*dup = r.u.enqueue.dup;
	return r.u.enqueue.id;
}

static int64_t
enqueue(const char *pb, const char *key)
{
	bool dup = true;
	int64_t id = enqueue_full(pb, key, 0, 0, NULL, &dup);

	assert_false(dup);
	return id;
}

/* Claims up to max items; returns how many, items in *out (caller frees). */
static int
claim_as(const char *pb, const char *owner, int64_t lease_ms, int max,
    struct item ***out)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = QOP_CLAIM;
	r.u.claim.playbook = pb;
	r.u.claim.owner = owner;
	r.u.claim.lease_ms = lease_ms;
	r.u.claim.max = max;
	if (queue_exec(Q, &r) != 0)
		fail_msg("claim %s: %s", pb, r.err.msg);
	*out = r.u.claim.items;
	return r.u.claim.n;
}

static void
free_items(struct item **items, int n)
{
	for (int i = 0; i < n; i++)
		item_free(items[i]);
	free(items);
}

/* Claims exactly one item of pb and returns it (caller frees). */
static struct item *
claim_one(const char *pb)
{
	struct item **items;
	struct item *it;
	int n = claim_as(pb, "w1", 60000, 1, &items);

	if (n != 1)
		fail_msg("claim %s: %d items, expected 1", pb, n);
	it = items[0];
	free(items);
	return it;
}

static int
claim_count(const char *pb)
{
	struct item **items;
	int n = claim_as(pb, "w1", 60000, 100, &items);

	free_items(items, n);
	return n;
}

static int
step_done(int64_t id, const char *step, const char *output, bool final,
    struct err *e)
{
	struct qreq r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.op = QOP_STEP_DONE;
	r.u.step_done.item = id;
	r.u.step_done.step_id = step;
	r.u.step_done.pb_hash = "hash-v1";
	r.u.step_done.output = output;
	r.u.step_done.final = final;
	r.u.step_done.ms = 12;
	rc = queue_exec(Q, &r);
	if (e != NULL)
		*e = r.err;
	return rc;
}

static int
fail_item(int64_t id, const char *step, enum fail_action action,
    enum err_kind kind, const char *message, int64_t not_before,
    const char *reason, const char *context, int64_t due, int64_t *esc,
    struct err *e)
{
	struct qreq r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.op = QOP_FAIL;
	r.u.fail.item = id;
	r.u.fail.step_id = step;
	r.u.fail.kind = kind;
	r.u.fail.message = message;
	r.u.fail.action = action;
	r.u.fail.not_before = not_before;
	r.u.fail.reason = reason;
	r.u.fail.context = context;
	r.u.fail.due = due;
	rc = queue_exec(Q, &r);
	if (esc != NULL)
		*esc = r.u.fail.escalation;
	if (e != NULL)
		*e = r.err;
	return rc;
}

/* Claims item `id` of pb and escalates it at step; returns the escalation. */
static int64_t
escalate(const char *pb, int64_t id, const char *step)
{
	struct item *it = claim_one(pb);
	int64_t esc = 0;
	struct err e;

	assert_int_equal(it->id, id);
	item_free(it);
	if (fail_item(id, step, FAIL_ESCALATE, ERRK_BUSINESS, "needs a look",
	    0, "needs_review", NULL, util_now_ms() + 3600000, &esc, &e) != 0)
		fail_msg("escalate: %s", e.msg);
	assert_true(esc > 0);
	return esc;
}

static int
decide(int64_t esc, enum decision d, const char *reason, const char *payload,
    struct qreq *out)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = QOP_DECIDE;
	r.u.decide.escalation = esc;
	r.u.decide.decision = d;
	r.u.decide.by = "alice";
	r.u.decide.reason = reason;
	r.u.decide.payload = payload;
	queue_exec(Q, &r);
	if (out != NULL)
		*out = r;
	return r.rc;
}

static int
item_op(enum qop op, int64_t id, struct err *e)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.u.item_op.item = id;
	queue_exec(Q, &r);
	if (e != NULL)
		*e = r.err;
	return r.rc;
}

static void
release(int64_t id)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = QOP_RELEASE;
	r.u.release.item = id;
	if (queue_exec(Q, &r) != 0)
		fail_msg("release %lld: %s", (long long)id, r.err.msg);
}

static json_t *
item_json(int64_t id)
{
	struct err e;
	json_t *j = queue_item_get(Q, id, &e);

	if (j == NULL)
		fail_msg("queue_item_get %lld: %s", (long long)id, e.msg);
	return j;
}

static void
assert_state(int64_t id, const char *want)
{
	json_t *j = item_json(id);
	const char *got = json_string_value(json_object_get(j, "state"));

	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("item %lld is %s, expected %s", (long long)id,
		    got ? got : "(no state)", want);
	json_decref(j);
}

static json_int_t
item_int(int64_t id, const char *field)
{
	json_t *j = item_json(id);
	json_t *v = json_object_get(j, field);
	json_int_t n;

	if (!json_is_integer(v))
		fail_msg("item %lld: %s is not an integer", (long long)id, field);
	n = json_integer_value(v);
	json_decref(j);
	return n;
}

static json_t *
open_escalations(void)
{
	struct esc_filter f = { .open_only = true };
	struct err e;
	json_t *a = queue_escalation_list(Q, &f, &e);

	if (a == NULL)
		fail_msg("queue_escalation_list: %s", e.msg);
	return a;
}

/* ---- enqueue ---- */

static void
test_enqueue_dedups_by_playbook_and_key(void **state)
{
	bool dup = true;
	int64_t a, b, c, d;
	json_t *j;

	a = enqueue_full("claims", "upload-1", 0, 0, "{\"n\":1}", &dup);
	assert_false(dup);
	b = enqueue_full("claims", "upload-1", 9, 0, "{\"n\":2}", &dup);
	assert_true(dup);
	assert_int_equal(b, a);
	/* the same key in another playbook is another item */
	c = enqueue_full("transfers", "upload-1", 0, 0, NULL, &dup);
	assert_false(dup);
	assert_int_not_equal(c, a);
	d = enqueue_full("claims", "upload-2", 0, 0, NULL, &dup);
	assert_false(dup);
	assert_int_not_equal(d, a);
	assert_int_not_equal(d, c);

	/* the duplicate changed nothing */
	j = item_json(a);
	assert_int_equal(json_integer_value(json_object_get(
	    json_object_get(j, "payload"), "n")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "priority")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "key")),
	    "upload-1");
	assert_string_equal(json_string_value(json_object_get(j, "playbook")),
	    "claims");
	assert_string_equal(json_string_value(json_object_get(j, "pb_hash")),
	    "hash-v1");
	assert_string_equal(json_string_value(json_object_get(j, "state")),
	    "queued");
	assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
	json_decref(j);
}

static void
test_enqueue_defaults(void **state)
{
	int64_t before = util_now_ms(), id, nb;
	json_t *j;

	id = enqueue("claims", "k");
	j = item_json(id);
	/* no payload: an empty object; no not_before: now */
	assert_true(json_is_object(json_object_get(j, "payload")));
	assert_int_equal(json_object_size(json_object_get(j, "payload")), 0);
	nb = json_integer_value(json_object_get(j, "not_before"));
	assert_true(nb >= before && nb <= util_now_ms());
	assert_true(json_integer_value(json_object_get(j, "created")) >= before);
	assert_int_equal(json_array_size(json_object_get(j, "steps")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "escalations")), 0);
	json_decref(j);
}

/* ---- claim ---- */

static void
test_claim_order_priority_then_not_before(void **state)
{
	int64_t now = util_now_ms(), a, b, c, d, e;
	struct item **items;
	int n;

	a = enqueue_full("pb", "a", 0, now - 3000, NULL, NULL);
	b = enqueue_full("pb", "b", 5, now - 1000, NULL, NULL);
	c = enqueue_full("pb", "c", 5, now - 2000, NULL, NULL);
	d = enqueue_full("pb", "d", -1, now - 9000, NULL, NULL);
	e = enqueue_full("pb", "e", 0, now - 5000, NULL, NULL);

	n = claim_as("pb", "w1", 60000, 2, &items);
	assert_int_equal(n, 2);
	assert_int_equal(items[0]->id, c);
	assert_int_equal(items[1]->id, b);
	free_items(items, n);

	n = claim_as("pb", "w1", 60000, 10, &items);
	assert_int_equal(n, 3);
	assert_int_equal(items[0]->id, e);
	assert_int_equal(items[1]->id, a);
	assert_int_equal(items[2]->id, d);
	free_items(items, n);

	assert_int_equal(claim_count("pb"), 0);
}

static void
test_claim_honours_max(void **state)
{
	char key[16];
	struct item **items;
	int n;

	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		enqueue("pb", key);
	}
	n = claim_as("pb", "w1", 60000, 3, &items);
	assert_int_equal(n, 3);
	free_items(items, n);
	n = claim_as("pb", "w1", 60000, 1, &items);
	assert_int_equal(n, 1);
	free_items(items, n);
	n = claim_as("pb", "w1", 60000, 100, &items);
	assert_int_equal(n, 3);
	free_items(items, n);
}

static void
test_claim_sets_running_and_fills_item(void **state)
{
	int64_t id, before;
	struct item **items;
	int n;

	id = enqueue_full("claims", "doc-7", 3, 0, "{\"name\":\"Wang\"}", NULL);
	before = util_now_ms();
	n = claim_as("claims", "worker-a", 30000, 5, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, id);
	assert_string_equal(items[0]->key, "doc-7");
	assert_string_equal(items[0]->playbook, "claims");
	assert_string_equal(items[0]->pb_hash, "hash-v1");
	assert_int_equal(items[0]->priority, 3);
	assert_string_equal(items[0]->payload, "{\"name\":\"Wang\"}");
	assert_int_equal(items[0]->attempts, 0);
	assert_int_equal(items[0]->state, ITEM_RUNNING);
	assert_int_equal(items[0]->nsteps, 0);
	assert_true(items[0]->lease_expires >= before + 30000);
	assert_true(items[0]->lease_expires <= util_now_ms() + 30000);
	assert_true(items[0]->created > 0 && items[0]->created <= before);
	free_items(items, n);

	assert_state(id, "running");
	assert_true(item_int(id, "lease_expires") >= before + 30000);
	/* a running item is not claimed twice */
	assert_int_equal(claim_count("claims"), 0);
}

static void
test_claim_skips_future_not_before(void **state)
{
	int64_t now = util_now_ms(), far, soon;
	struct item **items;
	int n;

	far = enqueue_full("pb", "far", 100, now + 3600000, NULL, NULL);
	soon = enqueue_full("pb", "soon", 0, now + 600, NULL, NULL);
	assert_int_equal(claim_count("pb"), 0);
	assert_state(far, "queued");
	assert_state(soon, "queued");
	sleep_ms(700);
	n = claim_as("pb", "w1", 60000, 10, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, soon);
	free_items(items, n);
	assert_state(far, "queued");
}

static void
test_claim_only_its_playbook(void **state)
{
	int64_t a = enqueue("alpha", "k");
	struct item *it;

	enqueue("beta", "k");
	assert_int_equal(claim_count("gamma"), 0);
	it = claim_one("alpha");
	assert_int_equal(it->id, a);
	assert_string_equal(it->playbook, "alpha");
	item_free(it);
	assert_int_equal(claim_count("alpha"), 0);
	assert_int_equal(claim_count("beta"), 1);
}

/* ---- steps ---- */

static void
test_step_done_journal_seen_on_reclaim(void **state)
{
	int64_t id = enqueue("pb", "k");
	struct item *it = claim_one("pb");
	struct err e;
	json_t *j, *steps, *s0;

	assert_int_equal(step_done(id, "check", "{\"ok\":true,\"n\":3}", false,
	    &e), 0);
	/* not final: still running, attempts reset */
	assert_state(id, "running");
	item_free(it);
	release(id);
	assert_state(id, "queued");

	it = claim_one("pb");
	assert_int_equal(it->id, id);
	assert_int_equal(it->nsteps, 1);
	assert_string_equal(it->steps[0].step_id, "check");
	assert_non_null(item_step_output(it, "check"));
	assert_string_equal(item_step_output(it, "check"), "{\"ok\":true,\"n\":3}");
	assert_null(item_step_output(it, "submit"));

	/* a second step, then both are in the journal in order */
	assert_int_equal(step_done(id, "submit", NULL, false, &e), 0);
	item_free(it);
	release(id);
	it = claim_one("pb");
	assert_int_equal(it->nsteps, 2);
	assert_string_equal(item_step_output(it, "submit"), "{}");
	item_free(it);

	j = item_json(id);
	steps = json_object_get(j, "steps");
	assert_int_equal(json_array_size(steps), 2);
	s0 = json_array_get(steps, 0);
	assert_string_equal(json_string_value(json_object_get(s0, "step")),
	    "check");
	assert_string_equal(json_string_value(json_object_get(s0, "pb_hash")),
	    "hash-v1");
	assert_int_equal(json_integer_value(json_object_get(s0, "ms")), 12);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s0,
	    "output"), "n")), 3);
	json_decref(j);
}

/* Steps finishing within one millisecond (one group commit stamps them
 * all with one time) still read back in the order they finished: names
 * are written in descending order so a tie broken by the key would show. */
static void
test_steps_read_back_in_finish_order(void **state)
{
	int64_t id = enqueue("pb", "k");
	struct item *it = claim_one("pb");
	struct err e;
	json_t *j, *steps;
	char name[16];

	for (int i = 19; i >= 0; i--) {
		snprintf(name, sizeof(name), "step-%02d", i);
		assert_int_equal(step_done(id, name, NULL, false, &e), 0);
	}
	j = item_json(id);
	steps = json_object_get(j, "steps");
	assert_int_equal(json_array_size(steps), 20);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "step-%02d", 19 - i);
		assert_string_equal(json_string_value(json_object_get(
		    json_array_get(steps, (size_t)i), "step")), name);
	}
	json_decref(j);
	item_free(it);
}

static void
test_step_done_final_marks_done(void **state)
{
	int64_t id = enqueue("pb", "k");
	struct item *it = claim_one("pb");
	struct err e;
	json_t *j;

	item_free(it);
	assert_int_equal(step_done(id, "last", "{\"v\":1}", true, &e), 0);
	assert_state(id, "done");
	j = item_json(id);
	assert_int_equal(json_array_size(json_object_get(j, "steps")), 1);
	json_decref(j);
	assert_int_equal(claim_count("pb"), 0);

	/* final without a step: the item is done, nothing journaled */
	id = enqueue("pb", "k2");
	it = claim_one("pb");
	item_free(it);
	assert_int_equal(step_done(id, NULL, NULL, true, &e), 0);
	assert_state(id, "done");
	j = item_json(id);
	assert_int_equal(json_array_size(json_object_get(j, "steps")), 0);
	json_decref(j);
}

static void
test_step_done_not_running_conflict(void **state)
{
	int64_t id = enqueue("pb", "k");
	struct item *it;
	struct err e;
	json_t *j;

	/* queued, never claimed */
	err_clear(&e);
	assert_int_equal(step_done(id, "a", "{}", false, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "not running"));
	assert_state(id, "queued");

	/* done already */
	it = claim_one("pb");
	item_free(it);
	assert_int_equal(step_done(id, "a", "{}", true, &e), 0);
	err_clear(&e);
	assert_int_equal(step_done(id, "b", "{}", false, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	err_clear(&e);
	assert_int_equal(step_done(id, NULL, NULL, true, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_state(id, "done");
	/* the refused step left no trace */
	j = item_json(id);
	assert_int_equal(json_array_size(json_object_get(j, "steps")), 1);
	json_decref(j);

	/* no such item */
	err_clear(&e);
	assert_int_equal(step_done(987654, "a", "{}", false, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
}

/* ---- kept waits (payload "_waiting") ---- */

static void
release_waiting(int64_t id, const char *waiting)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = QOP_RELEASE;
	r.u.release.item = id;
	r.u.release.waiting = waiting;
	if (queue_exec(Q, &r) != 0)
		fail_msg("release %lld: %s", (long long)id, r.err.msg);
}

/* The item's kept wait's "since", or -1 when it has none. */
static json_int_t
kept_since(int64_t id)
{
	json_t *j = item_json(id);
	json_t *w = json_object_get(json_object_get(j, "payload"), "_waiting");
	json_int_t v = json_is_object(w) ? json_integer_value(json_object_get(w,
	    "since")) : -1;

	json_decref(j);
	return v;
}

static void
test_release_keeps_and_ends_a_wait(void **state)
{
	int64_t id = enqueue_full("pb", "w", 0, 0, "{\"n\": 1}", NULL), esc;
	struct item *it = claim_one("pb");
	struct qreq r;
	json_t *j;

	item_free(it);
	release_waiting(id, "{\"step\":\"s\",\"on\":\"system.unavailable\","
	    "\"since\":1000}");
	assert_int_equal(kept_since(id), 1000);
	/* the claimed item reads it back with its payload */
	it = claim_one("pb");
	assert_non_null(strstr(it->payload, "\"since\":1000"));
	item_free(it);
	/* NULL (a drain, a restart): left as it is */
	release_waiting(id, NULL);
	assert_int_equal(kept_since(id), 1000);
	j = item_json(id);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
	    "payload"), "n")), 1);
	json_decref(j);
	/* "": a wait without one ends it */
	it = claim_one("pb");
	item_free(it);
	release_waiting(id, "");
	assert_int_equal(kept_since(id), -1);

	/* a finished step ends it */
	it = claim_one("pb");
	item_free(it);
	release_waiting(id, "{\"step\":\"s\",\"on\":\"login.refused\","
	    "\"since\":2000}");
	it = claim_one("pb");
	item_free(it);
	memset(&r, 0, sizeof(r));
	r.op = QOP_STEP_DONE;
	r.u.step_done.item = id;
	r.u.step_done.step_id = "s";
	r.u.step_done.pb_hash = "hash-v1";
	r.u.step_done.output = "{}";
	r.u.step_done.end_wait = true;
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_int_equal(kept_since(id), -1);

	/* so does an escalation: a retry waits with a new clock */
	release_waiting(id, "{\"step\":\"t\",\"on\":\"login.refused\","
	    "\"since\":3000}");
	it = claim_one("pb");
	item_free(it);
	memset(&r, 0, sizeof(r));
	r.op = QOP_FAIL;
	r.u.fail.item = id;
	r.u.fail.step_id = "t";
	r.u.fail.kind = ERRK_BUSINESS;
	r.u.fail.action = FAIL_ESCALATE;
	r.u.fail.reason = "login.refused_too_long";
	r.u.fail.message = "waited too long";
	r.u.fail.end_wait = true;
	assert_int_equal(queue_exec(Q, &r), 0);
	esc = r.u.fail.escalation;
	assert_int_equal(kept_since(id), -1);
	/* a reviewer cannot set one */
	assert_int_equal(decide(esc, DEC_RESUME, NULL, "{\"_waiting\": {}}",
	    &r), -1);
	assert_int_equal(r.err.code, ERR_INVALID);
	assert_non_null(strstr(r.err.msg, "_waiting"));
}

/* ---- failures ---- */

static void
test_fail_retry_waits_for_not_before(void **state)
{
	int64_t id = enqueue("pb", "k"), nb;
	struct item *it = claim_one("pb");
	struct item **items;
	struct err e;
	json_t *j;
	int n;

	item_free(it);
	nb = util_now_ms() + 800;
	assert_int_equal(fail_item(id, "sync", FAIL_RETRY, ERRK_SYSTEM,
	    "connection timed out", nb, NULL, NULL, 0, NULL, &e), 0);
	j = item_json(id);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
	    "retry_wait");
	assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "not_before")),
	    nb);
	assert_string_equal(json_string_value(json_object_get(j, "last_error")),
	    "connection timed out");
	assert_string_equal(json_string_value(json_object_get(j,
	    "last_error_kind")), "system");
	assert_int_equal(json_array_size(json_object_get(j, "escalations")), 0);
	json_decref(j);

	assert_int_equal(claim_count("pb"), 0);
	sleep_ms(900);
	n = claim_as("pb", "w1", 60000, 10, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, id);
	assert_int_equal(items[0]->attempts, 1);
	free_items(items, n);

	/* a second failure counts up; a finished step resets the count */
	assert_int_equal(fail_item(id, "sync", FAIL_RETRY, ERRK_SYSTEM, "again",
	    0, NULL, NULL, 0, NULL, &e), 0);
	assert_int_equal(item_int(id, "attempts"), 2);
	it = claim_one("pb");
	assert_int_equal(it->attempts, 2);
	item_free(it);
	assert_int_equal(step_done(id, "sync", "{}", false, &e), 0);
	assert_int_equal(item_int(id, "attempts"), 0);
}

static void
test_fail_escalate_opens_escalation(void **state)
{
	int64_t id = enqueue("claims", "k"), esc = 0, due;
	struct item *it = claim_one("claims");
	struct err e;
	json_t *list, *x;

	item_free(it);
	due = util_now_ms() + 4 * 3600000;
	assert_int_equal(fail_item(id, "check", FAIL_ESCALATE, ERRK_BUSINESS,
	    "the name on the ID is unreadable", 0, "low_confidence",
	    "{\"field\":\"name\",\"confidence\":0.41}", due, &esc, &e), 0);
	assert_true(esc > 0);
	assert_state(id, "escalated");
	assert_int_equal(claim_count("claims"), 0);

	list = open_escalations();
	assert_int_equal(json_array_size(list), 1);
	x = json_array_get(list, 0);
	assert_int_equal(json_integer_value(json_object_get(x, "id")), esc);
	assert_int_equal(json_integer_value(json_object_get(x, "item")), id);
	assert_string_equal(json_string_value(json_object_get(x, "playbook")),
	    "claims");
	assert_string_equal(json_string_value(json_object_get(x, "step_id")),
	    "check");
	assert_string_equal(json_string_value(json_object_get(x, "kind")),
	    "business");
	assert_string_equal(json_string_value(json_object_get(x, "reason")),
	    "low_confidence");
	assert_string_equal(json_string_value(json_object_get(x, "message")),
	    "the name on the ID is unreadable");
	assert_int_equal(json_integer_value(json_object_get(x, "due")), due);
	assert_string_equal(json_string_value(json_object_get(x, "state")),
	    "open");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(x, "context"), "field")), "name");
	json_decref(list);

	/* the single-escalation read joins the item */
	x = queue_escalation_get(Q, esc, &e);
	assert_non_null(x);
	assert_string_equal(json_string_value(json_object_get(x, "key")), "k");
	assert_string_equal(json_string_value(json_object_get(x, "item_state")),
	    "escalated");
	json_decref(x);
	err_clear(&e);
	assert_null(queue_escalation_get(Q, esc + 100, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
}

static void
test_fail_reject(void **state)
{
	int64_t id = enqueue("pb", "k");
	struct item *it = claim_one("pb");
	struct err e;
	json_t *list;

	item_free(it);
	assert_int_equal(fail_item(id, "submit", FAIL_REJECT, ERRK_BUSINESS,
	    "the legacy system refused the case", 0, NULL, NULL, 0, NULL, &e),
	    0);
	assert_state(id, "rejected");
	list = open_escalations();
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(claim_count("pb"), 0);
}

static void
test_fail_not_running_conflict(void **state)
{
	int64_t id = enqueue("pb", "k"), esc = 0;
	struct err e;
	json_t *list;

	err_clear(&e);
	assert_int_equal(fail_item(id, "s", FAIL_ESCALATE, ERRK_BUSINESS, "m",
	    0, "r", NULL, 0, &esc, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_state(id, "queued");
	list = open_escalations();
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	err_clear(&e);
	assert_int_equal(fail_item(id, "s", FAIL_RETRY, ERRK_SYSTEM, "m",
	    0, NULL, NULL, 0, NULL, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(item_int(id, "attempts"), 0);
}

/* ---- decisions ---- */

static void
test_decide_approve_journals_step_and_requeues(void **state)
{
	int64_t id = enqueue("pb", "k"), esc;
	struct qreq r;
	struct item *it;
	json_t *x, *list;
	struct err e;

	esc = escalate("pb", id, "review");
	assert_int_equal(decide(esc, DEC_APPROVE, NULL, NULL, &r), 0);
	assert_int_equal(r.u.decide.item, id);
	assert_state(id, "queued");

	x = queue_escalation_get(Q, esc, &e);
	assert_non_null(x);
	assert_string_equal(json_string_value(json_object_get(x, "state")),
	    "decided");
	assert_string_equal(json_string_value(json_object_get(x, "decision")),
	    "approve");
	assert_string_equal(json_string_value(json_object_get(x, "decided_by")),
	    "alice");
	assert_true(json_integer_value(json_object_get(x, "decided_at")) > 0);
	json_decref(x);
	list = open_escalations();
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	/* The approval is in the payload, for the step to run once more as
	 * approved; no output is made up for it here. */
	it = claim_one("pb");
	assert_int_equal(it->id, id);
	assert_int_equal(it->nsteps, 0);
	assert_null(item_step_output(it, "review"));
	x = json_loads(it->payload, 0, NULL);
	assert_non_null(x);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    json_object_get(x, "_approved"), "review"), "escalation")), esc);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(x, "_approved"), "review"), "by")), "alice");
	json_decref(x);
	item_free(it);
}

static json_t *
item_payload(int64_t id)
{
	json_t *x = queue_item_get(Q, id, NULL), *p;

	assert_non_null(x);
	p = json_incref(json_object_get(x, "payload"));
	json_decref(x);
	if (json_is_string(p)) {
		json_t *o = json_loads(json_string_value(p), 0, NULL);

		json_decref(p);
		p = o;
	}
	assert_true(json_is_object(p));
	return p;
}

static void
test_decide_approve_keeps_fields_retry_drops_approval(void **state)
{
	int64_t id = enqueue("pb", "k"), esc, esc2;
	struct qreq r;
	json_t *x, *a;

	esc = escalate("pb", id, "review");
	/* a payload may not forge an approval */
	assert_int_equal(decide(esc, DEC_APPROVE, NULL,
	    "{\"_approved\":{\"review\":{}}}", &r), -1);
	assert_int_equal(r.err.code, ERR_INVALID);
	assert_state(id, "escalated");
	assert_int_equal(decide(esc, DEC_APPROVE, NULL,
	    "{\"fields\":{\"name\":\"\\u5f20\\u4e09\"}}", &r), 0);
	x = item_payload(id);
	a = json_object_get(json_object_get(x, "_approved"), "review");
	assert_string_equal(json_string_value(json_object_get(json_object_get(a,
	    "fields"), "name")), "\xe5\xbc\xa0\xe4\xb8\x89");
	json_decref(x);

	/* escalated again: the new escalation links back to the first; a
	 * retry runs the step for real, so the earlier approval goes */
	esc2 = escalate("pb", id, "review");
	x = queue_escalation_get(Q, esc2, NULL);
	assert_non_null(x);
	assert_int_equal(json_integer_value(json_object_get(x, "previous")),
	    esc);
	json_decref(x);
	assert_int_equal(decide(esc2, DEC_RETRY, NULL, NULL, &r), 0);
	x = item_payload(id);
	assert_null(json_object_get(json_object_get(x, "_approved"),
	    "review"));
	json_decref(x);
}

static void
test_decide_reject_needs_reason(void **state)
{
	int64_t id = enqueue("pb", "k"), esc;
	struct qreq r;
	json_t *list;

	esc = escalate("pb", id, "review");
	assert_int_equal(decide(esc, DEC_REJECT, NULL, NULL, &r), -1);
	assert_int_equal(r.err.code, ERR_INVALID);
	assert_non_null(strstr(r.err.msg, "reason"));
	assert_int_equal(decide(esc, DEC_REJECT, "", NULL, &r), -1);
	assert_int_equal(r.err.code, ERR_INVALID);
	/* nothing changed */
	assert_state(id, "escalated");
	list = open_escalations();
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(list, 0), "id")), esc);
	assert_true(json_is_null(json_object_get(json_array_get(list, 0),
	    "decision")));
	json_decref(list);
}

static void
test_decide_reject_with_reason(void **state)
{
	int64_t id = enqueue("pb", "k"), esc;
	struct qreq r;
	struct err e;
	json_t *x;

	esc = escalate("pb", id, "review");
	assert_int_equal(decide(esc, DEC_REJECT, "the ID card has expired;"
	    " upload a valid one", NULL, &r), 0);
	assert_state(id, "rejected");
	x = queue_escalation_get(Q, esc, &e);
	assert_non_null(x);
	assert_string_equal(json_string_value(json_object_get(x, "decision")),
	    "reject");
	assert_string_equal(json_string_value(json_object_get(x,
	    "decision_reason")), "the ID card has expired; upload a valid one");
	json_decref(x);
	x = item_json(id);
	assert_string_equal(json_string_value(json_object_get(x, "last_error")),
	    "the ID card has expired; upload a valid one");
	json_decref(x);
	assert_int_equal(claim_count("pb"), 0);
}

static void
test_decide_retry_resets_attempts(void **state)
{
	int64_t id = enqueue("pb", "k"), esc;
	struct item *it = claim_one("pb");
	struct err e;

	item_free(it);
	assert_int_equal(fail_item(id, "sync", FAIL_RETRY, ERRK_SYSTEM, "t/o",
	    0, NULL, NULL, 0, NULL, &e), 0);
	it = claim_one("pb");
	item_free(it);
	assert_int_equal(fail_item(id, "sync", FAIL_RETRY, ERRK_SYSTEM, "t/o",
	    0, NULL, NULL, 0, NULL, &e), 0);
	assert_int_equal(item_int(id, "attempts"), 2);
	esc = escalate("pb", id, "sync");
	assert_int_equal(item_int(id, "attempts"), 2);

	assert_int_equal(decide(esc, DEC_RETRY, NULL, NULL, NULL), 0);
	assert_state(id, "queued");
	assert_int_equal(item_int(id, "attempts"), 0);
	it = claim_one("pb");
	assert_int_equal(it->id, id);
	assert_int_equal(it->attempts, 0);
	/* retry journals nothing */
	assert_int_equal(it->nsteps, 0);
	item_free(it);
}

static void
test_decide_resume_merges_payload(void **state)
{
	int64_t id, esc;
	struct qreq r;
	json_t *j, *p;

	id = enqueue_full("pb", "k", 0, 0,
	    "{\"name\":\"Old\",\"case_id\":\"C-17\"}", NULL);
	esc = escalate("pb", id, "check");

	/* not an object: refused, nothing changes */
	assert_int_equal(decide(esc, DEC_RESUME, NULL, "[1,2]", &r), -1);
	assert_int_equal(r.err.code, ERR_INVALID);
	assert_int_equal(decide(esc, DEC_RESUME, NULL, "{bad json", &r), -1);
	assert_int_equal(r.err.code, ERR_INVALID);
	assert_int_equal(decide(esc, DEC_RESUME, NULL, NULL, &r), -1);
	assert_int_equal(r.err.code, ERR_INVALID);
	assert_state(id, "escalated");

	assert_int_equal(decide(esc, DEC_RESUME, NULL, "{\"name\":\"X\"}", &r),
	    0);
	assert_state(id, "queued");
	j = item_json(id);
	p = json_object_get(j, "payload");
	assert_int_equal(json_object_size(p), 2);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "X");
	assert_string_equal(json_string_value(json_object_get(p, "case_id")),
	    "C-17");
	json_decref(j);
}

static void
test_decide_twice_and_missing(void **state)
{
	int64_t id = enqueue("pb", "k"), esc;
	struct qreq r;

	esc = escalate("pb", id, "review");
	assert_int_equal(decide(esc, DEC_RETRY, NULL, NULL, &r), 0);
	assert_int_equal(decide(esc, DEC_APPROVE, NULL, NULL, &r), -1);
	assert_int_equal(r.err.code, ERR_CONFLICT);
	assert_non_null(strstr(r.err.msg, "already decided"));
	assert_non_null(strstr(r.err.msg, "retry by alice"));
	/* the refused approval journaled nothing */
	{
		json_t *j = item_json(id);

		assert_int_equal(json_array_size(json_object_get(j, "steps")), 0);
		json_decref(j);
	}

	assert_int_equal(decide(esc + 1000, DEC_APPROVE, NULL, NULL, &r), -1);
	assert_int_equal(r.err.code, ERR_NOTFOUND);
	assert_non_null(strstr(r.err.msg, "no escalation"));
}

/*
 * A request that fails half-way leaves no trace: approving an escalation
 * whose step is already in the journal cannot insert the step again. If
 * the store refuses that, the escalation must still be open and the item
 * still escalated, not "decided" with the item stuck.
 */
static void
test_refused_decision_leaves_no_trace(void **state)
{
	int64_t id = enqueue("pb", "k"), esc = 0;
	struct item *it = claim_one("pb");
	struct qreq r;
	struct err e;
	json_t *x;

	item_free(it);
	assert_int_equal(step_done(id, "s1", "{\"mine\":1}", false, &e), 0);
	assert_int_equal(fail_item(id, "s1", FAIL_ESCALATE, ERRK_BUSINESS, "m",
	    0, "r", NULL, 0, &esc, &e), 0);
	decide(esc, DEC_APPROVE, NULL, NULL, &r);
	x = queue_escalation_get(Q, esc, &e);
	assert_non_null(x);
	if (r.rc != 0) {
		assert_string_equal(json_string_value(json_object_get(x,
		    "state")), "open");
		assert_true(json_is_null(json_object_get(x, "decision")));
		assert_state(id, "escalated");
	} else {
		assert_string_equal(json_string_value(json_object_get(x,
		    "state")), "decided");
		assert_state(id, "queued");
	}
	json_decref(x);
	/* the journaled output is the worker's, either way */
	x = item_json(id);
	assert_int_equal(json_array_size(json_object_get(x, "steps")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(x, "steps"), 0), "output"), "mine")),
	    1);
	json_decref(x);
}

/* ---- operator actions on items ---- */

static void
test_item_retry_cancel_rules(void **state)
{
	int64_t q1, run1, esc_item, esc, done1, rej1, wait1;
	struct item *it;
	struct err e;
	json_t *x;

	/* running: neither */
	run1 = enqueue("pb", "running");
	it = claim_one("pb");
	assert_int_equal(it->id, run1);
	item_free(it);
	err_clear(&e);
	assert_int_equal(item_op(QOP_ITEM_CANCEL, run1, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "running"));
	assert_int_equal(item_op(QOP_ITEM_RETRY, run1, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_state(run1, "running");

	/* queued: cancel yes, retry no; cancelled: retry yes, cancel no */
	q1 = enqueue("pb", "queued");
	assert_int_equal(item_op(QOP_ITEM_RETRY, q1, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(item_op(QOP_ITEM_CANCEL, q1, &e), 0);
	assert_state(q1, "cancelled");
	assert_int_equal(item_op(QOP_ITEM_CANCEL, q1, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(item_op(QOP_ITEM_RETRY, q1, &e), 0);
	assert_state(q1, "queued");

	/* escalated: retry points at the escalation; cancel closes it */
	esc_item = enqueue("pb2", "esc");
	esc = escalate("pb2", esc_item, "review");
	err_clear(&e);
	assert_int_equal(item_op(QOP_ITEM_RETRY, esc_item, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "clerkctl escalation decide"));
	assert_state(esc_item, "escalated");
	assert_int_equal(item_op(QOP_ITEM_CANCEL, esc_item, &e), 0);
	assert_state(esc_item, "cancelled");
	x = queue_escalation_get(Q, esc, &e);
	assert_non_null(x);
	assert_string_equal(json_string_value(json_object_get(x, "state")),
	    "decided");
	assert_string_equal(json_string_value(json_object_get(x, "decision")),
	    "cancel");
	json_decref(x);

	/* done: neither */
	done1 = enqueue("pb3", "done");
	it = claim_one("pb3");
	item_free(it);
	assert_int_equal(step_done(done1, NULL, NULL, true, &e), 0);
	assert_int_equal(item_op(QOP_ITEM_RETRY, done1, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(item_op(QOP_ITEM_CANCEL, done1, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_state(done1, "done");

	/* rejected: retry yes (attempts back to 0) */
	rej1 = enqueue("pb4", "rej");
	it = claim_one("pb4");
	item_free(it);
	assert_int_equal(fail_item(rej1, "s", FAIL_REJECT, ERRK_BUSINESS, "no",
	    0, NULL, NULL, 0, NULL, &e), 0);
	assert_int_equal(item_op(QOP_ITEM_CANCEL, rej1, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(item_op(QOP_ITEM_RETRY, rej1, &e), 0);
	assert_state(rej1, "queued");

	/* retry_wait: both allowed; retry makes it claimable at once */
	wait1 = enqueue("pb5", "wait");
	it = claim_one("pb5");
	item_free(it);
	assert_int_equal(fail_item(wait1, "s", FAIL_RETRY, ERRK_SYSTEM, "t/o",
	    util_now_ms() + 3600000, NULL, NULL, 0, NULL, &e), 0);
	assert_int_equal(claim_count("pb5"), 0);
	assert_int_equal(item_op(QOP_ITEM_RETRY, wait1, &e), 0);
	assert_state(wait1, "queued");
	assert_int_equal(item_int(wait1, "attempts"), 0);
	assert_int_equal(claim_count("pb5"), 1);

	/* no such item */
	err_clear(&e);
	assert_int_equal(item_op(QOP_ITEM_CANCEL, 999999, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_int_equal(item_op(QOP_ITEM_RETRY, 999999, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
}

/* ---- leases ---- */

static void
test_lease_expiry_returns_item(void **state)
{
	int64_t id = enqueue("pb", "k");
	struct item **items;
	int n;

	n = claim_as("pb", "w1", 1, 1, &items);
	assert_int_equal(n, 1);
	free_items(items, n);
	sleep_ms(20);
	n = claim_as("pb", "w2", 60000, 1, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, id);
	free_items(items, n);
	assert_state(id, "running");
	/* the new lease holds */
	assert_int_equal(claim_count("pb"), 0);
}

static void
test_renew_extends_lease(void **state)
{
	int64_t a = enqueue("pb", "a"), b = enqueue("pb", "b");
	struct item **items;
	struct qreq r;
	int n;

	n = claim_as("pb", "w1", 300, 1, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, a);
	free_items(items, n);
	n = claim_as("pb", "w2", 300, 1, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, b);
	free_items(items, n);

	memset(&r, 0, sizeof(r));
	r.op = QOP_RENEW;
	r.u.renew.owner = "w1";
	r.u.renew.lease_ms = 5000;
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_true(item_int(a, "lease_expires") > util_now_ms() + 4000);

	sleep_ms(450);
	/* w1's item is still leased; w2's lease ran out */
	n = claim_as("pb", "w3", 60000, 10, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, b);
	free_items(items, n);
	assert_int_equal(claim_count("pb"), 0);
}

/* A renewal names the items still held: one its owner lost track of is
 * not renewed, runs out and is claimed again. */
static void
test_renew_only_the_items_still_held(void **state)
{
	int64_t a = enqueue("pb", "a"), b = enqueue("pb", "b");
	char held[64];
	struct item **items;
	struct qreq r;
	int n;

	n = claim_as("pb", "w1", 300, 2, &items);
	assert_int_equal(n, 2);
	free_items(items, n);
	snprintf(held, sizeof(held), "[%lld]", (long long)a);
	memset(&r, 0, sizeof(r));
	r.op = QOP_RENEW;
	r.u.renew.owner = "w1";
	r.u.renew.lease_ms = 5000;
	r.u.renew.items = held;
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_true(item_int(a, "lease_expires") > util_now_ms() + 4000);
	assert_true(item_int(b, "lease_expires") < util_now_ms() + 1000);
	sleep_ms(450);
	n = claim_as("pb", "w2", 60000, 10, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, b);
	free_items(items, n);
	/* an empty list renews nothing */
	r.u.renew.items = "[]";
	r.u.renew.lease_ms = 60000;
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_true(item_int(a, "lease_expires") < util_now_ms() + 5000);
}

static void
test_recover_by_owner_and_all(void **state)
{
	int64_t x1 = enqueue("pb", "x1"), x2 = enqueue("pb", "x2");
	int64_t y1 = enqueue("pb", "y1");
	struct item **items;
	struct qreq r;
	int n;

	n = claim_as("pb", "X", 60000, 2, &items);
	assert_int_equal(n, 2);
	free_items(items, n);
	n = claim_as("pb", "Y", 60000, 2, &items);
	assert_int_equal(n, 1);
	assert_int_equal(items[0]->id, y1);
	free_items(items, n);

	memset(&r, 0, sizeof(r));
	r.op = QOP_RECOVER;
	r.u.recover.owner = "X";
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_int_equal(r.u.recover.n, 2);
	assert_state(x1, "queued");
	assert_state(x2, "queued");
	assert_state(y1, "running");

	memset(&r, 0, sizeof(r));
	r.op = QOP_RECOVER;
	r.u.recover.owner = "nobody";
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_int_equal(r.u.recover.n, 0);

	memset(&r, 0, sizeof(r));
	r.op = QOP_RECOVER;
	r.u.recover.owner = NULL;
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_int_equal(r.u.recover.n, 1);
	assert_state(y1, "queued");
	assert_int_equal(claim_count("pb"), 3);
}

/* ---- group commit ---- */

#define GC_THREADS 4
#define GC_PER_THREAD 250

struct gc_shared {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int bad;
};

struct gc_req {
	struct qreq r;
	char key[32];
	struct gc_shared *sh;
};

struct gc_thread {
	struct gc_req *reqs;   /* GC_PER_THREAD + 1 (a shared key) */
	struct gc_shared *sh;
	int t;
};

static void
gc_done(struct qreq *r, void *arg)
{
	struct gc_req *g = arg;

	pthread_mutex_lock(&g->sh->lock);
	if (r->rc != 0 || r->u.enqueue.id <= 0)
		g->sh->bad++;
	g->sh->done++;
	pthread_cond_signal(&g->sh->cond);
	pthread_mutex_unlock(&g->sh->lock);
}

static void *
gc_main(void *arg)
{
	struct gc_thread *t = arg;

	for (int i = 0; i <= GC_PER_THREAD; i++) {
		struct gc_req *g = &t->reqs[i];

		memset(&g->r, 0, sizeof(g->r));
		if (i < GC_PER_THREAD)
			snprintf(g->key, sizeof(g->key), "t%d-%d", t->t, i);
		else
			snprintf(g->key, sizeof(g->key), "shared");
		g->sh = t->sh;
		g->r.op = QOP_ENQUEUE;
		g->r.u.enqueue.key = g->key;
		g->r.u.enqueue.playbook = "bulk";
		g->r.u.enqueue.pb_hash = "h";
		g->r.u.enqueue.payload = "{}";
		g->r.done = gc_done;
		g->r.arg = g;
		queue_submit(Q, &g->r);
	}
	return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
test_group_commit_many_threads(void **state)
{
	struct gc_shared sh = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0, 0 };
	struct gc_thread th[GC_THREADS];
	pthread_t tid[GC_THREADS];
	const int total = GC_THREADS * (GC_PER_THREAD + 1);
	int64_t ids[GC_THREADS * GC_PER_THREAD], shared = 0;
	int nshared_new = 0, k = 0;
	struct err e;
	json_t *c;

	for (int t = 0; t < GC_THREADS; t++) {
		th[t].reqs = calloc(GC_PER_THREAD + 1, sizeof(struct gc_req));
		th[t].sh = &sh;
		th[t].t = t;
		assert_int_equal(pthread_create(&tid[t], NULL, gc_main, &th[t]),
		    0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		pthread_join(tid[t], NULL);
	pthread_mutex_lock(&sh.lock);
	while (sh.done < total)
		pthread_cond_wait(&sh.cond, &sh.lock);
	pthread_mutex_unlock(&sh.lock);

	assert_int_equal(sh.done, total);
	assert_int_equal(sh.bad, 0);
	for (int t = 0; t < GC_THREADS; t++) {
		for (int i = 0; i < GC_PER_THREAD; i++) {
			assert_int_equal(th[t].reqs[i].r.rc, 0);
			assert_false(th[t].reqs[i].r.u.enqueue.dup);
			ids[k++] = th[t].reqs[i].r.u.enqueue.id;
		}
		/* every thread's "shared" got the same item, one made it */
		if (shared == 0)
			shared = th[t].reqs[GC_PER_THREAD].r.u.enqueue.id;
		assert_int_equal(th[t].reqs[GC_PER_THREAD].r.u.enqueue.id, shared);
		if (!th[t].reqs[GC_PER_THREAD].r.u.enqueue.dup)
			nshared_new++;
		free(th[t].reqs);
	}
	assert_int_equal(nshared_new, 1);
	qsort(ids, (size_t)k, sizeof(ids[0]), cmp_i64);
	for (int i = 1; i < k; i++)
		assert_int_not_equal(ids[i], ids[i - 1]);
	for (int i = 0; i < k; i++)
		assert_int_not_equal(ids[i], shared);

	c = queue_counts(Q, &e);
	assert_non_null(c);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c,
	    "bulk"), "queued")), GC_THREADS * GC_PER_THREAD + 1);
	json_decref(c);
}

/* ---- durability, counts, backup ---- */

static void
test_durable_across_reopen(void **state)
{
	struct fx *f = *state;
	int64_t a = enqueue_full("pb", "a", 2, 0, "{\"who\":\"Zhao\"}", NULL);
	int64_t b = enqueue("pb", "b"), esc;
	struct item *it;
	struct err e;
	json_t *j;

	it = claim_one("pb");
	assert_int_equal(it->id, a);
	item_free(it);
	assert_int_equal(step_done(a, "first", "{\"page\":1}", false, &e), 0);
	esc = escalate("pb", b, "check");

	queue_close(f->q);
	f->q = Q = NULL;
	err_clear(&e);
	f->q = Q = queue_open(f->db, NULL, &e);
	if (Q == NULL)
		fail_msg("reopen: %s", e.msg);

	j = item_json(a);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
	    "running");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(j, "payload"), "who")), "Zhao");
	assert_int_equal(json_array_size(json_object_get(j, "steps")), 1);
	json_decref(j);
	assert_state(b, "escalated");
	j = open_escalations();
	assert_int_equal(json_array_size(j), 1);
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(j, 0), "id")), esc);
	json_decref(j);

	/* after a restart the daemon recovers running items; the journal
	 * makes it resume after the finished step */
	{
		struct qreq r;

		memset(&r, 0, sizeof(r));
		r.op = QOP_RECOVER;
		assert_int_equal(queue_exec(Q, &r), 0);
		assert_int_equal(r.u.recover.n, 1);
	}
	it = claim_one("pb");
	assert_int_equal(it->id, a);
	assert_string_equal(item_step_output(it, "first"), "{\"page\":1}");
	item_free(it);
	/* new ids do not reuse old ones */
	assert_true(enqueue("pb", "c") > b);
}

static int
pb_pause(enum qop op, const char *pb, const char *by, const char *reason,
    struct err *e)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.u.pb_pause.playbook = pb;
	r.u.pb_pause.by = by;
	r.u.pb_pause.reason = reason;
	err_clear(&r.err);
	if (queue_exec(Q, &r) < 0) {
		*e = r.err;
		return -1;
	}
	assert_true(r.u.pb_pause.at > 0);
	return 0;
}

/* What audit_export writes, one JSON object per row. */
static json_t *
audit_rows(const char *db)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *arr = json_array();
	struct err e;

	if (audit_export(db, 0, 0, f, &e) < 0)
		fail_msg("audit_export: %s", e.msg);
	fclose(f);
	for (char *line = strtok(text, "\n"); line != NULL;
	    line = strtok(NULL, "\n"))
		json_array_append_new(arr, json_loads(line, 0, NULL));
	free(text);
	return arr;
}

static void
test_playbook_pause_resume(void **state)
{
	struct fx *f = *state;
	struct err e;
	json_t *j, *row, *a;
	FILE *devnull;
	int64_t rows, id, other;
	struct item **items;
	struct item *it;

	j = queue_playbook_states(Q, &e);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);

	id = enqueue("pb", "waits");
	other = enqueue("pb3", "runs");
	assert_int_equal(pb_pause(QOP_PB_PAUSE, "pb", "sam", "bank down", &e),
	    0);
	/* the store hands out nothing of a paused playbook, the others' as
	 * ever */
	assert_int_equal(claim_as("pb", "w", 60000, 10, &items), 0);
	free(items);
	it = claim_one("pb3");
	assert_int_equal(it->id, other);
	item_free(it);
	assert_int_equal(pb_pause(QOP_PB_PAUSE, "pb2", "ann", NULL, &e), 0);
	/* a second pause changes nothing and says who got there first */
	assert_int_equal(pb_pause(QOP_PB_PAUSE, "pb", "bob", "again", &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "already paused (by sam"));
	assert_int_equal(pb_pause(QOP_PB_RESUME, "never", "sam", NULL, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "not paused"));

	/* kept across a reopen, as a restart would */
	queue_close(f->q);
	err_clear(&e);
	f->q = Q = queue_open(f->db, NULL, &e);
	if (Q == NULL)
		fail_msg("reopen: %s", e.msg);
	j = queue_playbook_states(Q, &e);
	assert_int_equal(json_array_size(j), 2);
	row = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(row, "playbook")),
	    "pb");
	assert_string_equal(json_string_value(json_object_get(row,
	    "paused_by")), "sam");
	assert_string_equal(json_string_value(json_object_get(row,
	    "pause_reason")), "bank down");
	assert_true(json_integer_value(json_object_get(row, "paused_at")) > 0);
	assert_true(json_is_null(json_object_get(json_array_get(j, 1),
	    "pause_reason")));
	json_decref(j);

	assert_int_equal(claim_as("pb", "w", 60000, 10, &items), 0);
	free(items);
	assert_int_equal(pb_pause(QOP_PB_RESUME, "pb", "sam", NULL, &e), 0);
	it = claim_one("pb");
	assert_int_equal(it->id, id);
	item_free(it);
	assert_int_equal(pb_pause(QOP_PB_RESUME, "pb", "sam", NULL, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	j = queue_playbook_states(Q, &e);
	assert_int_equal(json_array_size(j), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j,
	    0), "playbook")), "pb2");
	json_decref(j);
	/* paused again after a resume: a new pause, with its own reason */
	assert_int_equal(pb_pause(QOP_PB_PAUSE, "pb", "ann", NULL, &e), 0);
	j = queue_playbook_states(Q, &e);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j,
	    0), "paused_by")), "ann");
	assert_true(json_is_null(json_object_get(json_array_get(j, 0),
	    "pause_reason")));
	json_decref(j);

	/* audited: only what happened, with the person, and the chain holds */
	a = audit_rows(f->db);
	assert_int_equal(json_array_size(a), 4);
	row = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(row, "actor")),
	    "sam");
	assert_string_equal(json_string_value(json_object_get(row, "action")),
	    "pause");
	assert_string_equal(json_string_value(json_object_get(row, "target")),
	    "playbook:pb");
	/* (export embeds details as JSON) */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    row, "details"), "reason")), "bank down");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a,
	    2), "action")), "resume");
	json_decref(a);
	devnull = fopen("/dev/null", "w");
	assert_int_equal(audit_verify(f->db, devnull, &rows, &e), 0);
	fclose(devnull);
	assert_int_equal(rows, 4);
}

static json_int_t
count_of(json_t *c, const char *pb, const char *state)
{
	json_t *v = json_object_get(json_object_get(c, pb), state);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void
test_counts(void **state)
{
	int64_t id;
	struct item *it;
	struct err e;
	json_t *c;

	c = queue_counts(Q, &e);
	assert_non_null(c);
	assert_true(json_is_object(json_object_get(c, "*")));
	assert_int_equal(count_of(c, "*", "open_escalations"), 0);
	assert_int_equal(json_object_size(c), 1);
	json_decref(c);

	enqueue("a", "q1");
	enqueue("a", "q2");
	enqueue("a", "q3");
	it = claim_one("a");     /* one running */
	item_free(it);
	/* higher priority, so the next claim takes it */
	id = enqueue_full("a", "d1", 10, 0, NULL, NULL);
	it = claim_one("a");
	assert_int_equal(it->id, id);
	item_free(it);
	assert_int_equal(step_done(id, NULL, NULL, true, &e), 0);
	id = enqueue("b", "e1");
	escalate("b", id, "s");
	id = enqueue("b", "r1");
	it = claim_one("b");
	item_free(it);
	assert_int_equal(fail_item(id, "s", FAIL_REJECT, ERRK_BUSINESS, "no", 0,
	    NULL, NULL, 0, NULL, &e), 0);

	c = queue_counts(Q, &e);
	assert_non_null(c);
	assert_int_equal(count_of(c, "a", "queued"), 2);
	assert_int_equal(count_of(c, "a", "running"), 1);
	assert_int_equal(count_of(c, "a", "done"), 1);
	assert_int_equal(count_of(c, "a", "escalated"), 0);
	assert_int_equal(count_of(c, "b", "escalated"), 1);
	assert_int_equal(count_of(c, "b", "rejected"), 1);
	assert_int_equal(count_of(c, "b", "queued"), 0);
	assert_int_equal(count_of(c, "*", "queued"), 2);
	assert_int_equal(count_of(c, "*", "running"), 1);
	assert_int_equal(count_of(c, "*", "done"), 1);
	assert_int_equal(count_of(c, "*", "escalated"), 1);
	assert_int_equal(count_of(c, "*", "rejected"), 1);
	assert_int_equal(count_of(c, "*", "open_escalations"), 1);
	assert_int_equal(json_object_size(c), 3);   /* a, b, * */
	json_decref(c);
}

static void
test_backup_opens_with_same_count(void **state)
{
	struct fx *f = *state;
	char dest[256], key[16], *sql_err = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct item *it;
	struct err e;
	int64_t id;

	for (int i = 0; i < 37; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		enqueue("pb", key);
	}
	id = enqueue_full("pb", "first", 10, 0, NULL, NULL);
	it = claim_one("pb");
	assert_int_equal(it->id, id);
	item_free(it);
	assert_int_equal(step_done(id, "s1", "{}", false, &e), 0);

	snprintf(dest, sizeof(dest), "%s/backup.db", f->dir);
	err_clear(&e);
	if (queue_backup(Q, dest, &e) != 0)
		fail_msg("backup: %s", e.msg);
	/* the queue goes on after the backup */
	enqueue("pb", "after");

	assert_int_equal(sqlite3_open_v2(dest, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1,
	    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(state = 1)"
	    " FROM items", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 38);
	assert_int_equal(sqlite3_column_int(st, 1), 1);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT step_id FROM steps", -1,
	    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "s1");
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_free(sql_err);
	sqlite3_close(db);

	/* a destination that cannot be written is an error, not a crash */
	snprintf(dest, sizeof(dest), "%s/no/such/dir/backup.db", f->dir);
	err_clear(&e);
	assert_int_equal(queue_backup(Q, dest, &e), -1);
	assert_non_null(strstr(e.msg, dest));
}

/* ---- reads ---- */

static void
test_item_list_filters_and_cursor(void **state)
{
	int64_t ids[5];
	struct item_filter f;
	struct err e;
	struct item *it;
	json_t *a;

	for (int i = 0; i < 5; i++) {
		char key[8];

		snprintf(key, sizeof(key), "k%d", i);
		ids[i] = enqueue(i < 3 ? "x" : "y", key);
	}
	it = claim_one("x");
	assert_int_equal(it->id, ids[0]);
	item_free(it);

	memset(&f, 0, sizeof(f));
	f.state = -1;
	a = queue_item_list(Q, &f, &e);
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 5);
	/* newest first */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a,
	    0), "id")), ids[4]);
	json_decref(a);

	f.playbook = "x";
	f.state = ITEM_QUEUED;
	a = queue_item_list(Q, &f, &e);
	assert_int_equal(json_array_size(a), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a,
	    0), "id")), ids[2]);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a,
	    1), "id")), ids[1]);
	json_decref(a);

	/* pages of 2 by the before cursor cover everything once */
	memset(&f, 0, sizeof(f));
	f.state = -1;
	f.limit = 2;
	for (int page = 0, seen = 0; ; page++) {
		a = queue_item_list(Q, &f, &e);
		assert_non_null(a);
		if (json_array_size(a) == 0) {
			json_decref(a);
			assert_int_equal(seen, 5);
			break;
		}
		for (size_t i = 0; i < json_array_size(a); i++, seen++)
			assert_int_equal(json_integer_value(json_object_get(
			    json_array_get(a, i), "id")), ids[4 - seen]);
		f.before_id = json_integer_value(json_object_get(
		    json_array_get(a, json_array_size(a) - 1), "id"));
		json_decref(a);
		assert_true(page < 5);
	}

	err_clear(&e);
	assert_null(queue_item_get(Q, 424242, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
}

/*
 * Open escalations are listed by due time, and the API hands out the last
 * id of a page as the "after" cursor for the next one. Every open
 * escalation must turn up on exactly one page, whatever order the ids and
 * the due times are in.
 */
static void
test_escalation_list_pages_in_due_order(void **state)
{
	int64_t now = util_now_ms(), dues[4] = { now + 40 * 3600000LL,
	    now + 10 * 3600000LL, now + 30 * 3600000LL, now + 20 * 3600000LL };
	int64_t esc[4], seen[8];
	struct esc_filter f;
	struct err e;
	int nseen = 0;

	for (int i = 0; i < 4; i++) {
		char key[8];
		int64_t id, x = 0;
		struct item *it;

		snprintf(key, sizeof(key), "k%d", i);
		id = enqueue("pb", key);
		it = claim_one("pb");
		assert_int_equal(it->id, id);
		item_free(it);
		assert_int_equal(fail_item(id, "s", FAIL_ESCALATE,
		    ERRK_BUSINESS, "m", 0, "r", NULL, dues[i], &x, &e), 0);
		esc[i] = x;
	}

	memset(&f, 0, sizeof(f));
	f.open_only = true;
	f.limit = 100;
	{
		json_t *a = queue_escalation_list(Q, &f, &e);

		assert_non_null(a);
		assert_int_equal(json_array_size(a), 4);
		/* by due time: 10h, 20h, 30h, 40h */
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(a, 0), "id")), esc[1]);
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(a, 1), "id")), esc[3]);
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(a, 2), "id")), esc[2]);
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(a, 3), "id")), esc[0]);
		json_decref(a);
	}

	f.limit = 1;
	f.after_id = 0;
	for (int page = 0; page < 8; page++) {
		json_t *a = queue_escalation_list(Q, &f, &e);
		size_t n;

		assert_non_null(a);
		n = json_array_size(a);
		if (n == 0) {
			json_decref(a);
			break;
		}
		seen[nseen++] = json_integer_value(json_object_get(
		    json_array_get(a, 0), "id"));
		/* The cursor is the last row's (due, id). */
		f.after_id = seen[nseen - 1];
		f.after_due = json_integer_value(json_object_get(
		    json_array_get(a, 0), "due"));
		json_decref(a);
	}
	if (nseen != 4)
		fail_msg("paging by the after cursor returned %d of 4 open"
		    " escalations", nseen);
	assert_int_equal(seen[0], esc[1]);
	assert_int_equal(seen[1], esc[3]);
	assert_int_equal(seen[2], esc[2]);
	assert_int_equal(seen[3], esc[0]);
}

static void
test_names(void **state)
{
	assert_string_equal(item_state_name(ITEM_RETRY_WAIT), "retry_wait");
	assert_string_equal(item_state_name(ITEM_CANCELLED), "cancelled");
	assert_string_equal(item_state_name(ITEM_NSTATES), "unknown");
	assert_int_equal(item_state_parse("escalated"), ITEM_ESCALATED);
	assert_int_equal(item_state_parse("done"), ITEM_DONE);
	assert_int_equal(item_state_parse("finished"), -1);
	assert_string_equal(err_kind_name(ERRK_SYSTEM), "system");
	assert_string_equal(err_kind_name(ERRK_BUSINESS), "business");
	assert_string_equal(err_kind_name(ERRK_NONE), "none");
	assert_int_equal(decision_parse("resume"), DEC_RESUME);
	assert_int_equal(decision_parse("approve"), DEC_APPROVE);
	assert_int_equal(decision_parse("accept"), -1);
	assert_string_equal(decision_name(DEC_REJECT), "reject");
}

/* ---- broken stores ---- */

static void
test_open_not_a_database(void **state)
{
	struct fx *f = *state;
	char path[256];
	unsigned char junk[4096];
	struct queue *q;
	struct err e;
	FILE *fp;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);

	err_clear(&e);
	q = queue_open(path, NULL, &e);
	assert_null(q);
	if (strstr(e.msg, "not a database") == NULL)
		fail_msg("unexpected message: %s", e.msg);
	assert_non_null(strstr(e.msg, path));
	/* what to do about it */
	assert_non_null(strstr(e.msg, "backup"));
	/* the file was not touched */
	{
		size_t len;
		char *back = util_read_file(path, &len, &e);

		assert_non_null(back);
		assert_int_equal(len, sizeof(junk));
		assert_memory_equal(back, junk, sizeof(junk));
		free(back);
	}
}

static void
test_open_short_garbage_and_newer_schema(void **state)
{
	struct fx *f = *state;
	char path[256];
	sqlite3 *db = NULL;
	struct queue *q;
	struct err e;
	FILE *fp;

	/* shorter than an SQLite header */
	snprintf(path, sizeof(path), "%s/short.db", f->dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs("hello", fp);
	fclose(fp);
	err_clear(&e);
	assert_null(queue_open(path, NULL, &e));
	assert_non_null(strstr(e.msg, "not a database"));

	/* a store written by a newer clerk is left alone */
	snprintf(path, sizeof(path), "%s/newer.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x);"
	    " PRAGMA user_version = 7;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	err_clear(&e);
	q = queue_open(path, NULL, &e);
	if (q != NULL) {
		queue_close(q);
		fail_msg("a schema-7 store opened");
	}
	assert_non_null(strstr(e.msg, "schema version 7"));
	assert_non_null(strstr(e.msg, path));

	/* an empty file is a new store */
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fclose(fp);
	err_clear(&e);
	q = queue_open(path, NULL, &e);
	if (q == NULL)
		fail_msg("empty file: %s", e.msg);
	queue_close(q);
}

static void
test_open_unwritable(void **state)
{
	struct fx *f = *state;
	char path[256];
	struct queue *q;
	struct err e;

	/* a directory that does not exist: works as root too */
	snprintf(path, sizeof(path), "%s/missing/dir/clerk.db", f->dir);
	err_clear(&e);
	q = queue_open(path, NULL, &e);
	assert_null(q);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "cannot open"));
	assert_int_equal(e.code, ERR_UNAVAILABLE);

	/* a read-only database: root bypasses permissions, so only as a user */
	if (geteuid() != 0) {
		char ro[256];
		struct queue *q2;

		snprintf(ro, sizeof(ro), "%s/ro.db", f->dir);
		err_clear(&e);
		q2 = queue_open(ro, NULL, &e);
		assert_non_null(q2);
		queue_close(q2);
		assert_int_equal(chmod(ro, 0444), 0);
		assert_int_equal(chmod(f->dir, 0555), 0);
		err_clear(&e);
		q2 = queue_open(ro, NULL, &e);
		chmod(f->dir, 0700);
		if (q2 != NULL) {
			queue_close(q2);
			fail_msg("a read-only database opened for writing");
		}
		assert_non_null(strstr(e.msg, ro));
		assert_true(strlen(e.msg) > strlen(ro) + 10);
	} else
		print_message("# running as root: the chmod 0444 case is"
		    " skipped (root bypasses file permissions)\n");
}

/* A worker whose lease expired and whose item another claimer took must
 * not record a step or a failure on that item. */
static void
test_step_result_of_a_lost_lease_is_refused(void **state)
{
	int64_t id = enqueue("pb", "lost-lease");
	struct item **items;
	struct qreq r;
	int n;

	n = claim_as("pb", "worker-a", 1, 1, &items);
	assert_int_equal(n, 1);
	free_items(items, n);
	sleep_ms(20);
	n = claim_as("pb", "worker-b", 60000, 1, &items);
	assert_int_equal(n, 1);
	free_items(items, n);

	memset(&r, 0, sizeof(r));
	r.op = QOP_STEP_DONE;
	r.u.step_done.item = id;
	r.u.step_done.step_id = "s1";
	r.u.step_done.pb_hash = "h";
	r.u.step_done.output = "{}";
	r.u.step_done.owner = "worker-a";
	assert_int_equal(queue_exec(Q, &r), -1);
	assert_int_equal(r.err.code, ERR_CONFLICT);

	memset(&r, 0, sizeof(r));
	r.op = QOP_FAIL;
	r.u.fail.item = id;
	r.u.fail.step_id = "s1";
	r.u.fail.kind = ERRK_SYSTEM;
	r.u.fail.message = "late";
	r.u.fail.action = FAIL_RETRY;
	r.u.fail.owner = "worker-a";
	assert_int_equal(queue_exec(Q, &r), -1);
	assert_int_equal(r.err.code, ERR_CONFLICT);

	memset(&r, 0, sizeof(r));
	r.op = QOP_STEP_DONE;
	r.u.step_done.item = id;
	r.u.step_done.step_id = "s1";
	r.u.step_done.pb_hash = "h";
	r.u.step_done.output = "{}";
	r.u.step_done.owner = "worker-b";
	r.u.step_done.final = true;
	assert_int_equal(queue_exec(Q, &r), 0);
	assert_state(id, "done");
}

static int
esc_claim(enum qop op, int64_t esc, const char *by, int64_t ms, struct err *e)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.u.esc_claim.escalation = esc;
	r.u.esc_claim.by = by;
	r.u.esc_claim.ms = ms;
	queue_exec(Q, &r);
	*e = r.err;
	return r.rc;
}

/* A reviewer's claim keeps others from claiming or deciding until it
 * expires or is released; decide() acts as alice. */
static void
test_escalation_claim_locks_others_out(void **state)
{
	int64_t id = enqueue("pb", "claimed");
	int64_t esc = escalate("pb", id, "s1");
	struct qreq r;
	struct err e;

	assert_int_equal(esc_claim(QOP_ESC_CLAIM, esc, "bob", 60000, &e), 0);
	assert_int_equal(esc_claim(QOP_ESC_CLAIM, esc, "carol", 60000, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "claimed by bob until"));
	assert_int_equal(decide(esc, DEC_RETRY, NULL, NULL, &r), -1);
	assert_int_equal(r.err.code, ERR_CONFLICT);
	assert_state(id, "escalated");
	assert_int_equal(esc_claim(QOP_ESC_RELEASE, esc, "carol", 0, &e), -1);
	assert_int_equal(esc_claim(QOP_ESC_RELEASE, esc, "bob", 0, &e), 0);
	/* An expired claim is no claim. */
	assert_int_equal(esc_claim(QOP_ESC_CLAIM, esc, "bob", 1, &e), 0);
	sleep_ms(20);
	assert_int_equal(decide(esc, DEC_RETRY, NULL, NULL, &r), 0);
	assert_state(id, "queued");
	assert_int_equal(esc_claim(QOP_ESC_CLAIM, esc, "bob", 60000, &e), -1);
	assert_non_null(strstr(e.msg, "already decided"));
	assert_int_equal(esc_claim(QOP_ESC_CLAIM, esc, "", 60000, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
}

static int
esc_assign(int64_t esc, const char *by, const char *to, bool any,
    char from[129], struct err *e)
{
	struct qreq r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.op = QOP_ESC_ASSIGN;
	r.u.esc_assign.escalation = esc;
	r.u.esc_assign.by = by;
	r.u.esc_assign.to = to;
	r.u.esc_assign.any = any;
	rc = queue_exec(Q, &r);
	*e = r.err;
	if (from != NULL)
		memcpy(from, r.u.esc_assign.from, 129);
	return rc;
}

static int
esc_comment(int64_t esc, const char *by, const char *text, struct err *e)
{
	struct qreq r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.op = QOP_ESC_COMMENT;
	r.u.esc_comment.escalation = esc;
	r.u.esc_comment.by = by;
	r.u.esc_comment.text = text;
	rc = queue_exec(Q, &r);
	*e = r.err;
	return rc;
}

static const char *
esc_str(int64_t esc, const char *field, char *buf, size_t len)
{
	struct err e;
	json_t *x = queue_escalation_get(Q, esc, &e);
	const char *v;

	assert_non_null(x);
	v = json_string_value(json_object_get(x, field));
	snprintf(buf, len, "%s", v ? v : "(null)");
	json_decref(x);
	return buf;
}

/* A supervisor (any) assigns anything open; a reviewer hands over only
 * what is assigned to them or what they have claimed, and the claim goes
 * along. */
static void
test_escalation_assign_rules(void **state)
{
	int64_t id = enqueue("pb", "assigned");
	int64_t esc = escalate("pb", id, "s1");
	char from[129], buf[140];
	struct qreq r;
	struct err e;

	assert_int_equal(esc_assign(esc, "bob", "bob", false, from, &e), -1);
	assert_int_equal(e.code, ERR_FORBIDDEN);
	assert_int_equal(esc_assign(esc, "sup", "bob", true, from, &e), 0);
	assert_string_equal(from, "");
	assert_string_equal(esc_str(esc, "assignee", buf, sizeof(buf)), "bob");
	assert_int_equal(esc_assign(esc, "bob", "carol", false, from, &e), 0);
	assert_string_equal(from, "bob");
	assert_int_equal(esc_assign(esc, "bob", "bob", false, from, &e), -1);
	assert_int_equal(e.code, ERR_FORBIDDEN);
	/* dave claims it (a claim does not ask who it is assigned to); now
	 * carol, the assignee, cannot hand it over under his claim, he can */
	assert_int_equal(esc_claim(QOP_ESC_CLAIM, esc, "dave", 60000, &e), 0);
	assert_int_equal(esc_assign(esc, "carol", "erin", false, from, &e), -1);
	assert_int_equal(esc_assign(esc, "dave", "erin", false, from, &e), 0);
	assert_string_equal(esc_str(esc, "assignee", buf, sizeof(buf)), "erin");
	assert_string_equal(esc_str(esc, "claimed_by", buf, sizeof(buf)),
	    "erin");
	assert_int_equal(esc_assign(esc, "sup", "", true, from, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(esc_assign(999999, "sup", "bob", true, from, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	/* decide() acts as alice: erin's claim is in the way until it goes */
	assert_int_equal(esc_claim(QOP_ESC_RELEASE, esc, "erin", 0, &e), 0);
	assert_int_equal(decide(esc, DEC_RETRY, NULL, NULL, &r), 0);
	assert_int_equal(esc_assign(esc, "sup", "bob", true, from, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
}

static void
test_escalation_comments(void **state)
{
	int64_t id = enqueue("pb", "commented");
	int64_t esc = escalate("pb", id, "s1");
	char big[ESC_COMMENT_MAX + 2];
	struct err e;
	json_t *x, *c;

	assert_int_equal(esc_comment(esc, "bob", "", &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(esc_comment(esc, "bob", " \n\t", &e), -1);
	assert_int_equal(esc_comment(esc, "bob", NULL, &e), -1);
	assert_int_equal(esc_comment(esc, NULL, "x", &e), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(esc_comment(esc, "bob", big, &e), -1);
	assert_non_null(strstr(e.msg, "at most 4000"));
	big[ESC_COMMENT_MAX] = '\0';
	assert_int_equal(esc_comment(esc, "bob", big, &e), 0);
	assert_int_equal(esc_comment(esc, "carol", "<b>二</b>", &e), 0);
	assert_int_equal(esc_comment(999999, "bob", "x", &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	x = queue_escalation_get(Q, esc, &e);
	assert_non_null(x);
	c = json_object_get(x, "comments");
	assert_int_equal(json_array_size(c), 2);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(c, 0), "author")), "bob");
	assert_int_equal(strlen(json_string_value(json_object_get(
	    json_array_get(c, 0), "text"))), ESC_COMMENT_MAX);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(c, 1), "text")), "<b>二</b>");
	json_decref(x);
}

/* The list as SQLite writes it (for the API) and as jansson rows are the
 * same rows with the same cursor, for every filter. */
static void
test_escalation_list_json_matches_rows(void **state)
{
	int64_t now = util_now_ms(), esc[6];
	const char *pbs[6] = { "a", "b", "a", "a", "b", "a" };
	const char *reasons[6] = { "r1", "r2", "r2", "r1", "r1", "r2" };
	struct esc_filter fs[8];
	char from[129];
	struct err e;

	for (int i = 0; i < 6; i++) {
		char key[8];
		int64_t id, x = 0;
		struct item *it;

		snprintf(key, sizeof(key), "k%d", i);
		id = enqueue(pbs[i], key);
		it = claim_one(pbs[i]);
		assert_int_equal(it->id, id);
		item_free(it);
		assert_int_equal(fail_item(id, "s", FAIL_ESCALATE,
		    ERRK_BUSINESS, "m \"q\" 二", 0, reasons[i], "{\"c\":1}",
		    i % 2 ? now - 1000 * (i + 1) : now + 1000 * (i + 1), &x,
		    &e), 0);
		esc[i] = x;
	}
	assert_int_equal(esc_assign(esc[1], "sup", "bob", true, from, &e), 0);
	assert_int_equal(esc_assign(esc[4], "sup", "bob", true, from, &e), 0);
	memset(fs, 0, sizeof(fs));
	for (int k = 0; k < 8; k++) {
		fs[k].open_only = true;
		fs[k].brief = true;
		fs[k].limit = 100;
	}
	fs[1].assignee = "bob";
	fs[2].assignee = "";
	fs[3].overdue = true;
	fs[4].playbook = "a";
	fs[4].reason = "r2";
	fs[5].by_id = true;
	fs[6].limit = 2;
	fs[7].open_only = false;
	for (int k = 0; k < 8; k++) {
		struct esc_page pg;
		json_t *rows = queue_escalation_list(Q, &fs[k], &e), *j;
		char *text = queue_escalation_list_json(Q, &fs[k], &pg, &e);

		assert_non_null(rows);
		assert_non_null(text);
		j = json_loads(text, 0, NULL);
		assert_non_null(j);
		if (!json_equal(rows, j)) {
			char *a = json_dumps(rows, JSON_SORT_KEYS);

			fail_msg("filter %d: rows %s\nbut SQLite wrote %s", k, a,
			    text);
		}
		assert_int_equal(pg.n, (int)json_array_size(rows));
		if (pg.n > 0) {
			json_t *last = json_array_get(rows, pg.n - 1);

			assert_int_equal(pg.last_id, json_integer_value(
			    json_object_get(last, "id")));
			assert_int_equal(pg.last_due, json_integer_value(
			    json_object_get(last, "due")));
			assert_null(json_object_get(last, "context"));
		}
		json_decref(j);
		json_decref(rows);
		free(text);
	}
	{
		json_t *r = queue_escalation_list(Q, &fs[1], &e);

		assert_int_equal(json_array_size(r), 2);
		json_decref(r);
		r = queue_escalation_list(Q, &fs[3], &e);
		assert_int_equal(json_array_size(r), 3);
		json_decref(r);
	}
}

/* A version 1 store (before assignments) gets the assignee column and the
 * new tables when this clerk opens it. */
static void
test_open_migrates_schema_1(void **state)
{
	struct fx *f = *state;
	char path[256], from[129];
	sqlite3 *db = NULL;
	struct queue *q, *saved = Q;
	struct err e;

	snprintf(path, sizeof(path), "%s/v1.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE escalations("
	    " id INTEGER PRIMARY KEY, item INTEGER NOT NULL,"
	    " playbook TEXT NOT NULL, step_id TEXT, kind INTEGER NOT NULL,"
	    " reason TEXT NOT NULL, message TEXT NOT NULL, context TEXT,"
	    " created INTEGER NOT NULL, due INTEGER,"
	    " state TEXT NOT NULL DEFAULT 'open', decision TEXT,"
	    " decided_by TEXT, decided_at INTEGER, decision_reason TEXT,"
	    " claimed_by TEXT, claim_expires INTEGER);"
	    " INSERT INTO escalations(id, item, playbook, kind, reason, message,"
	    " created, due) VALUES(1, 1, 'pb', 2, 'r', 'm', 1, 2);"
	    " PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	err_clear(&e);
	q = queue_open(path, NULL, &e);
	if (q == NULL)
		fail_msg("a version 1 store: %s", e.msg);
	Q = q;
	assert_int_equal(esc_assign(1, "sup", "bob", true, from, &e), 0);
	assert_int_equal(esc_comment(1, "bob", "migrated", &e), 0);
	Q = saved;
	queue_close(q);
	/* and opens again as the new version */
	q = queue_open(path, NULL, &e);
	assert_non_null(q);
	queue_close(q);
	/* the version 1 database was kept, as it was, before the upgrade */
	{
		char bak[300];
		sqlite3_stmt *st;
		struct stat sb;

		snprintf(bak, sizeof(bak), "%s.schema-1.bak", path);
		assert_int_equal(stat(bak, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		assert_int_equal(sqlite3_open(bak, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT user_version"
		    " FROM pragma_user_version), count(*) FROM escalations", -1,
		    &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 1);
		assert_int_equal(sqlite3_column_int(st, 1), 1);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

static int64_t
enqueue_slot(const char *pb, const char *key, int64_t slot, bool *dup)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = QOP_ENQUEUE;
	r.u.enqueue.key = key;
	r.u.enqueue.playbook = pb;
	r.u.enqueue.pb_hash = "hash-v1";
	r.u.enqueue.slot = slot;
	if (queue_exec(Q, &r) != 0)
		fail_msg("enqueue %s/%s: %s", pb, key, r.err.msg);
	*dup = r.u.enqueue.dup;
	return r.u.enqueue.id;
}

/* The last fired slot of a timer playbook is kept with its items: only
 * ever forward, only by timer items, one per playbook. */
static void
test_trigger_slot_kept_with_its_item(void **state)
{
	int64_t slot = -1;
	bool dup;
	struct err e;

	assert_int_equal(queue_trigger_slot(Q, "tick", &slot, &e), 0);
	enqueue_slot("tick", "cron:a", 120000, &dup);
	assert_false(dup);
	assert_int_equal(queue_trigger_slot(Q, "tick", &slot, &e), 1);
	assert_int_equal(slot, 120000);
	/* an older slot (a catch-up committed after a firing) keeps it */
	enqueue_slot("tick", "cron:b", 60000, &dup);
	assert_int_equal(queue_trigger_slot(Q, "tick", &slot, &e), 1);
	assert_int_equal(slot, 120000);
	enqueue_slot("tick", "cron:c", 180000, &dup);
	enqueue("tick", "by-hand");
	assert_int_equal(queue_trigger_slot(Q, "tick", &slot, &e), 1);
	assert_int_equal(slot, 180000);
	/* a duplicate is not a firing */
	enqueue_slot("tick", "cron:a", 240000, &dup);
	assert_true(dup);
	assert_int_equal(queue_trigger_slot(Q, "tick", &slot, &e), 1);
	assert_int_equal(slot, 180000);
	assert_int_equal(queue_trigger_slot(Q, "other", &slot, &e), 0);
}

/* A version 4 store has no trigger_slots rows: each timer playbook's
 * last firing is read from its newest timer item, so the first start
 * after an upgrade catches up too. */
static void
test_trigger_slot_of_a_migrated_store(void **state)
{
	struct fx *f = *state;
	char path[256];
	sqlite3 *db = NULL;
	struct queue *q, *saved = Q;
	int64_t slot = -1;
	struct err e;

	snprintf(path, sizeof(path), "%s/v4.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE items("
	    " id INTEGER PRIMARY KEY, key TEXT NOT NULL,"
	    " playbook TEXT NOT NULL, pb_hash TEXT NOT NULL,"
	    " priority INTEGER NOT NULL DEFAULT 0,"
	    " not_before INTEGER NOT NULL, payload TEXT NOT NULL,"
	    " state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	    " owner TEXT, lease_expires INTEGER, last_error TEXT,"
	    " last_error_kind INTEGER NOT NULL DEFAULT 0,"
	    " created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	    " UNIQUE(playbook, key));"
	    " INSERT INTO items(key, playbook, pb_hash, not_before, payload,"
	    " state, created, updated) VALUES"
	    " ('cron:2026-01-01T08:00:00.000+08:00', 'c', 'h', 0, '{}', 4,"
	    " 1767225600012, 0),"
	    " ('cron:2026-01-02T08:00:00.000+08:00', 'c', 'h', 0, '{}', 6,"
	    " 1767312000020, 0),"
	    " ('by-hand', 'c', 'h', 0, '{}', 4, 1767400000000, 0),"
	    " ('interval:x', 'i', 'h', 0, '{}', 4, 5000, 0),"
	    " ('file:a', 'w', 'h', 0, '{}', 4, 7000, 0);"
	    " PRAGMA user_version = 4;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	err_clear(&e);
	q = queue_open(path, NULL, &e);
	if (q == NULL)
		fail_msg("a version 4 store: %s", e.msg);
	assert_int_equal(queue_trigger_slot(q, "c", &slot, &e), 1);
	assert_int_equal(slot, 1767312000020);   /* the cancelled one too */
	assert_int_equal(queue_trigger_slot(q, "i", &slot, &e), 1);
	assert_int_equal(slot, 5000);
	assert_int_equal(queue_trigger_slot(q, "w", &slot, &e), 0);
	/* and once it fires under this clerk, its row is what counts */
	Q = q;
	{
		bool dup;

		enqueue_slot("c", "cron:2026-01-03T08:00:00.000+08:00",
		    1767398400000, &dup);
	}
	assert_int_equal(queue_trigger_slot(q, "c", &slot, &e), 1);
	assert_int_equal(slot, 1767398400000);
	Q = saved;
	queue_close(q);
}

/* ---- a request that fails inside a batch ---- */

struct batch_req {
	struct qreq r;
	char key[32];
	int *left;
	pthread_mutex_t *lock;
	pthread_cond_t *cond;
};

static void
batch_done(struct qreq *r, void *arg)
{
	struct batch_req *b = arg;

	(void)r;
	pthread_mutex_lock(b->lock);
	(*b->left)--;
	pthread_cond_signal(b->cond);
	pthread_mutex_unlock(b->lock);
}

/*
 * A statement the database refuses (a step result without its playbook
 * hash breaks a NOT NULL column) among enqueues, audit rows and other
 * results submitted at once: it alone fails and leaves no trace; the
 * others of its batch are committed, the audit chain unbroken. On
 * PostgreSQL the failure aborts the transaction the pipelined requests
 * were sent in, which is then applied again without it.
 */
static void
test_failed_request_in_a_batch_leaves_the_others(void **state)
{
	struct fx *f = *state;
	enum { N = 60 };
	struct batch_req *b = calloc(2 * N + 2, sizeof(*b));
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	int64_t bad = enqueue("pb", "bad"), good = enqueue("pb", "good");
	struct item **items;
	FILE *devnull = fopen("/dev/null", "w");
	int left = 2 * N + 2, n, k = 0, naudit = 0;
	struct err e;
	int64_t rows;
	json_t *j;

	n = claim_as("pb", "w1", 60000, 2, &items);
	assert_int_equal(n, 2);
	free_items(items, n);
	for (int i = 0; i < 2 * N + 2; i++) {
		struct batch_req *x = &b[i];

		x->left = &left;
		x->lock = &lock;
		x->cond = &cond;
		x->r.done = batch_done;
		x->r.arg = x;
		if (i == N) {
			/* the one the database refuses */
			x->r.op = QOP_STEP_DONE;
			x->r.u.step_done.item = bad;
			x->r.u.step_done.step_id = "s1";
			x->r.u.step_done.pb_hash = NULL;
			x->r.u.step_done.final = true;
		} else if (i == N + 1) {
			x->r.op = QOP_STEP_DONE;
			x->r.u.step_done.item = good;
			x->r.u.step_done.step_id = "s1";
			x->r.u.step_done.pb_hash = "hash-v1";
			x->r.u.step_done.final = true;
		} else if (i % 3 == 0) {
			x->r.op = QOP_AUDIT;
			x->r.u.audit.actor = "t";
			x->r.u.audit.action = "test";
		} else {
			snprintf(x->key, sizeof(x->key), "k%d", i);
			x->r.op = QOP_ENQUEUE;
			x->r.u.enqueue.key = x->key;
			x->r.u.enqueue.playbook = "other";
			x->r.u.enqueue.pb_hash = "h";
		}
	}
	for (int i = 0; i < 2 * N + 2; i++)
		queue_submit(Q, &b[i].r);
	pthread_mutex_lock(&lock);
	while (left > 0)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 2 * N + 2; i++) {
		if (i == N) {
			assert_int_equal(b[i].r.rc, -1);
			continue;
		}
		if (b[i].r.rc != 0)
			fail_msg("request %d failed: %s", i, b[i].r.err.msg);
		if (b[i].r.op == QOP_ENQUEUE) {
			assert_true(b[i].r.u.enqueue.id > 0);
			assert_false(b[i].r.u.enqueue.dup);
			k++;
		} else if (b[i].r.op == QOP_AUDIT)
			naudit++;
	}
	assert_state(bad, "running");
	assert_state(good, "done");
	assert_int_equal(claim_count("other"), k);
	j = item_json(bad);
	assert_int_equal(json_array_size(json_object_get(j, "steps")), 0);
	json_decref(j);
	assert_int_equal(audit_verify(f->db, devnull, &rows, &e), 0);
	assert_int_equal(rows, naudit);
	fclose(devnull);
	free(b);
}

/*
 * Enqueues submitted at once (on PostgreSQL sent as one statement): one
 * the database refuses (no playbook hash) fails alone, a key given twice
 * makes one item, and a payload with quotes and backslashes comes back
 * as it went in.
 */
static void
test_failed_enqueue_among_enqueues_fails_alone(void **state)
{
	enum { N = 50, BAD = 20, TWICE = 30 };
	struct batch_req *b = calloc(N, sizeof(*b));
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	const char *odd = "{\"s\":\"a\\\"b\\\\c,{}\"}";
	int left = N;
	json_t *j;

	(void)state;
	for (int i = 0; i < N; i++) {
		struct batch_req *x = &b[i];

		x->left = &left;
		x->lock = &lock;
		x->cond = &cond;
		x->r.done = batch_done;
		x->r.arg = x;
		x->r.op = QOP_ENQUEUE;
		snprintf(x->key, sizeof(x->key), "k%d",
		    i == TWICE + 1 ? TWICE : i);
		x->r.u.enqueue.key = x->key;
		x->r.u.enqueue.playbook = "many";
		x->r.u.enqueue.pb_hash = i == BAD ? NULL : "h";
		x->r.u.enqueue.payload = i == 1 ? odd : NULL;
	}
	for (int i = 0; i < N; i++)
		queue_submit(Q, &b[i].r);
	pthread_mutex_lock(&lock);
	while (left > 0)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < N; i++) {
		if (i == BAD) {
			assert_int_equal(b[i].r.rc, -1);
			continue;
		}
		if (b[i].r.rc != 0)
			fail_msg("request %d failed: %s", i, b[i].r.err.msg);
		assert_true(b[i].r.u.enqueue.id > 0);
		assert_int_equal(b[i].r.u.enqueue.dup, i == TWICE + 1);
		if (i > 0 && i != TWICE + 1 && i - 1 != BAD)
			assert_true(b[i].r.u.enqueue.id >
			    b[i - 1].r.u.enqueue.id);
	}
	assert_int_equal(b[TWICE + 1].r.u.enqueue.id, b[TWICE].r.u.enqueue.id);
	j = item_json(b[1].r.u.enqueue.id);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(j, "payload"), "s")), "a\"b\\c,{}");
	json_decref(j);
	assert_int_equal(claim_count("many"), N - 2);
	free(b);
}

/*
 * Last-step results submitted at once (on PostgreSQL sent as one
 * statement): an item's second result is refused (409) as if sent after
 * the first, one from an owner whose lease it is not is refused, and
 * the others are done with one step row each.
 */
static void
test_results_at_once_second_of_an_item_refused(void **state)
{
	enum { N = 4 };
	struct batch_req *b = calloc(N, sizeof(*b));
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	int64_t id[3];
	struct item **items;
	int left = N, n;
	json_t *j;

	(void)state;
	for (int i = 0; i < 3; i++) {
		char key[8];

		snprintf(key, sizeof(key), "r%d", i);
		id[i] = enqueue("res", key);
	}
	n = claim_as("res", "w1", 60000, 3, &items);
	assert_int_equal(n, 3);
	free_items(items, n);
	for (int i = 0; i < N; i++) {
		struct batch_req *x = &b[i];

		x->left = &left;
		x->lock = &lock;
		x->cond = &cond;
		x->r.done = batch_done;
		x->r.arg = x;
		x->r.op = QOP_STEP_DONE;
		/* id[0], id[1], id[0] again, id[2] from another owner */
		x->r.u.step_done.item = id[i == 2 ? 0 : i == 3 ? 2 : i];
		x->r.u.step_done.step_id = i == 2 ? "s2" : "s1";
		x->r.u.step_done.pb_hash = "h";
		x->r.u.step_done.owner = i == 3 ? "w2" : "w1";
		x->r.u.step_done.final = true;
	}
	for (int i = 0; i < N; i++)
		queue_submit(Q, &b[i].r);
	pthread_mutex_lock(&lock);
	while (left > 0)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 2; i++)
		if (b[i].r.rc != 0)
			fail_msg("result %d failed: %s", i, b[i].r.err.msg);
	for (int i = 2; i < N; i++) {
		assert_int_equal(b[i].r.rc, -1);
		assert_int_equal(b[i].r.err.code, ERR_CONFLICT);
	}
	assert_state(id[0], "done");
	assert_state(id[1], "done");
	assert_state(id[2], "running");
	for (int i = 0; i < 3; i++) {
		j = item_json(id[i]);
		assert_int_equal(json_array_size(json_object_get(j, "steps")),
		    i < 2 ? 1 : 0);
		json_decref(j);
	}
	free(b);
}


/* ---- PostgreSQL only: two nodes on one store ---- */

/* A second queue on the test's database: another node. */
static struct queue *
second_node(struct fx *f)
{
	struct err e;
	struct queue *q;

	err_clear(&e);
	if ((q = queue_open(f->db, NULL, &e)) == NULL)
		fail_msg("second queue_open: %s", e.msg);
	return q;
}

#define PG_ITEMS 2000

struct claimer {
	struct queue *q;
	const char *owner;
	int64_t *ids;          /* what it claimed */
	int n;
	int errors;
	pthread_barrier_t *start;
};

static void *
claimer_main(void *arg)
{
	struct claimer *c = arg;
	int empty = 0;

	pthread_barrier_wait(c->start);
	while (empty < 3) {
		struct qreq r;

		memset(&r, 0, sizeof(r));
		r.op = QOP_CLAIM;
		r.u.claim.playbook = "pb";
		r.u.claim.owner = c->owner;
		r.u.claim.lease_ms = 600000;
		r.u.claim.max = 37;
		if (queue_exec(c->q, &r) != 0) {
			c->errors++;
			continue;
		}
		empty = r.u.claim.n == 0 ? empty + 1 : 0;
		for (int i = 0; i < r.u.claim.n; i++) {
			struct qreq d;

			c->ids[c->n++] = r.u.claim.items[i]->id;
			memset(&d, 0, sizeof(d));
			d.op = QOP_STEP_DONE;
			d.u.step_done.item = r.u.claim.items[i]->id;
			d.u.step_done.step_id = "s";
			d.u.step_done.pb_hash = "h";
			d.u.step_done.final = true;
			d.u.step_done.owner = c->owner;
			/* Every claim is the claimer's own: completing it
			 * as its owner must work. */
			if (queue_exec(c->q, &d) != 0)
				c->errors++;
			item_free(r.u.claim.items[i]);
		}
		free(r.u.claim.items);
	}
	return NULL;
}

static void
test_pg_two_queues_claim_disjoint(void **state)
{
	struct fx *f = *state;
	struct queue *q2 = second_node(f);
	struct claimer c[2];
	pthread_barrier_t start;
	pthread_t th[2];
	char *seen = calloc(PG_ITEMS * 2 + 2, 1);
	int64_t first = 0;
	int total = 0;

	for (int i = 0; i < PG_ITEMS; i++) {
		char key[32];
		int64_t id;

		snprintf(key, sizeof(key), "k%d", i);
		id = enqueue("pb", key);
		if (first == 0)
			first = id;
	}
	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct claimer){ .q = i ? q2 : Q, .owner = i ? "node2" :
		    "node1", .ids = calloc(PG_ITEMS, sizeof(int64_t)),
		    .start = &start };
		pthread_create(&th[i], NULL, claimer_main, &c[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c[i].errors, 0);
		/* both took part: the claims ran side by side */
		assert_true(c[i].n > 0);
		for (int k = 0; k < c[i].n; k++) {
			int64_t j = c[i].ids[k] - first;

			assert_true(j >= 0 && j < PG_ITEMS);
			if (seen[j])
				fail_msg("item %lld claimed twice",
				    (long long)c[i].ids[k]);
			seen[j] = 1;
		}
		total += c[i].n;
		free(c[i].ids);
	}
	assert_int_equal(total, PG_ITEMS);
	{
		struct err e;
		json_t *cnt = queue_counts(Q, &e);

		assert_int_equal(json_integer_value(json_object_get(
		    json_object_get(cnt, "pb"), "done")), PG_ITEMS);
		json_decref(cnt);
	}
	pthread_barrier_destroy(&start);
	free(seen);
	queue_close(q2);
}

struct decider {
	struct queue *q;
	int64_t esc;
	const char *by;
	enum decision d;
	pthread_barrier_t *start;
	struct qreq r;
};

static void *
decider_main(void *arg)
{
	struct decider *d = arg;

	memset(&d->r, 0, sizeof(d->r));
	d->r.op = QOP_DECIDE;
	d->r.u.decide.escalation = d->esc;
	d->r.u.decide.decision = d->d;
	d->r.u.decide.by = d->by;
	d->r.u.decide.reason = "checked";
	pthread_barrier_wait(d->start);
	queue_exec(d->q, &d->r);
	return NULL;
}

static void
test_pg_concurrent_decisions_one_wins(void **state)
{
	struct fx *f = *state;
	struct queue *q2 = second_node(f);
	pthread_barrier_t start;
	FILE *devnull = fopen("/dev/null", "w");
	struct err e;
	int64_t rows;

	pthread_barrier_init(&start, NULL, 2);
	for (int round = 0; round < 20; round++) {
		char key[32];
		struct decider d[2];
		pthread_t th[2];
		int64_t id, esc;
		json_t *j;
		int wins = 0;

		/* a playbook each: an item decided retry is claimable
		 * again and would come first */
		snprintf(key, sizeof(key), "pb%d", round);
		id = enqueue(key, "k");
		esc = escalate(key, id, "check");
		for (int i = 0; i < 2; i++) {
			d[i] = (struct decider){ .q = i ? q2 : Q, .esc = esc,
			    .by = i ? "bob" : "alice", .d = i ? DEC_REJECT :
			    DEC_RETRY, .start = &start };
			pthread_create(&th[i], NULL, decider_main, &d[i]);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < 2; i++) {
			if (d[i].r.rc == 0)
				wins++;
			else {
				assert_int_equal(d[i].r.err.code, ERR_CONFLICT);
				assert_non_null(strstr(d[i].r.err.msg,
				    "already decided"));
			}
		}
		assert_int_equal(wins, 1);
		/* the item went the winner's way */
		j = item_json(id);
		assert_string_equal(json_string_value(json_object_get(j,
		    "state")), d[0].r.rc == 0 ? "queued" : "rejected");
		json_decref(j);
		j = queue_escalation_get(Q, esc, &e);
		assert_string_equal(json_string_value(json_object_get(j,
		    "decided_by")), d[0].r.rc == 0 ? "alice" : "bob");
		json_decref(j);
	}
	pthread_barrier_destroy(&start);
	/* one decide row each, in one chain */
	assert_int_equal(audit_verify(f->db, devnull, &rows, &e), 0);
	assert_int_equal(rows, 20);
	fclose(devnull);
	queue_close(q2);
}

#define PG_AUDIT_ROWS 400

struct auditor {
	struct queue *q;
	const char *actor;
	pthread_barrier_t *start;
	int errors;
};

static void *
auditor_main(void *arg)
{
	struct auditor *a = arg;

	pthread_barrier_wait(a->start);
	for (int i = 0; i < PG_AUDIT_ROWS; i++) {
		struct qreq r;
		char target[32];

		snprintf(target, sizeof(target), "row:%d", i);
		memset(&r, 0, sizeof(r));
		r.op = QOP_AUDIT;
		r.u.audit.actor = a->actor;
		r.u.audit.action = "test";
		r.u.audit.target = target;
		/* some alone, most in batches with the next ones */
		if (i % 10 == 0) {
			if (queue_exec(a->q, &r) != 0)
				a->errors++;
		} else
			queue_audit(a->q, a->actor, "test", target, NULL);
	}
	return NULL;
}

static void
test_pg_concurrent_audit_one_chain(void **state)
{
	struct fx *f = *state;
	struct queue *q2 = second_node(f);
	struct auditor a[2];
	pthread_barrier_t start;
	pthread_t th[2];
	FILE *devnull = fopen("/dev/null", "w");
	struct err e;
	int64_t rows;
	json_t *all;
	int by_node2 = 0;

	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct auditor){ .q = i ? q2 : Q, .actor = i ? "node2" :
		    "node1", .start = &start };
		pthread_create(&th[i], NULL, auditor_main, &a[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	/* queue_close flushes what queue_audit left with the writer */
	queue_close(q2);
	queue_close(f->q);
	f->q = Q = second_node(f);
	assert_int_equal(a[0].errors + a[1].errors, 0);
	assert_int_equal(audit_verify(f->db, devnull, &rows, &e), 0);
	assert_int_equal(rows, 2 * PG_AUDIT_ROWS);
	fclose(devnull);
	/* and the nodes' rows are interleaved, not one after the other:
	 * the chain held while both wrote */
	all = audit_rows(f->db);
	assert_int_equal(json_array_size(all), 2 * PG_AUDIT_ROWS);
	for (size_t i = 0; i < PG_AUDIT_ROWS; i++)
		by_node2 += strcmp(json_string_value(json_object_get(
		    json_array_get(all, i), "actor")), "node2") == 0;
	json_decref(all);
	assert_true(by_node2 > 0 && by_node2 < PG_AUDIT_ROWS);
	pthread_barrier_destroy(&start);
}

static void
test_pg_backup_and_restore_refused(void **state)
{
	struct fx *f = *state;
	struct restore_info ri;
	char dest[128];
	struct err e;

	snprintf(dest, sizeof(dest), "%s/backup.db", f->dir);
	err_clear(&e);
	assert_int_equal(queue_backup(Q, dest, &e), -1);
	assert_non_null(strstr(e.msg, "pg_dump"));
	assert_non_null(strstr(e.msg, "pg_basebackup"));
	assert_int_equal(access(dest, F_OK), -1);
	err_clear(&e);
	assert_int_equal(queue_restore(dest, f->db, stderr, &ri, &e), -1);
	assert_non_null(strstr(e.msg, "pg_restore"));
}

static void
test_pg_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct queue *q;
	struct err e;
	PGconn *c;
	PGresult *res;

	c = PQconnectdb(f->db);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, "UPDATE clerk_meta SET value = '99'"
	    " WHERE key = 'schema_version'");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(c);
	err_clear(&e);
	q = queue_open(f->db, NULL, &e);
	assert_null(q);
	assert_non_null(strstr(e.msg, "schema version 99, newer"));
	/* no password in a message: the URL named has none to hide, but
	 * the one with a password is shown without it */
	{
		char url[600];
		const char *at = strchr(f->db, '@');

		assert_non_null(at);
		snprintf(url, sizeof(url), "postgresql://clerk:s3cret%s", at);
		err_clear(&e);
		q = queue_open(url, NULL, &e);
		assert_null(q);
		assert_null(strstr(e.msg, "s3cret"));
	}
}

/* A node that dies leaves its leases to run out; another node's next
 * claim takes the item, and the dead node's late result is refused. */
static void
test_pg_expired_lease_rescued_by_other_node(void **state)
{
	struct fx *f = *state;
	struct queue *q2 = second_node(f);
	int64_t id = enqueue("pb", "k");
	struct qreq r;
	struct item **items;
	int n;

	n = claim_as("pb", "dead-node", 200, 1, &items);
	assert_int_equal(n, 1);
	free_items(items, n);
	memset(&r, 0, sizeof(r));
	r.op = QOP_CLAIM;
	r.u.claim.playbook = "pb";
	r.u.claim.owner = "node2";
	r.u.claim.lease_ms = 60000;
	r.u.claim.max = 10;
	assert_int_equal(queue_exec(q2, &r), 0);
	assert_int_equal(r.u.claim.n, 0);
	free(r.u.claim.items);
	sleep_ms(400);
	memset(&r, 0, sizeof(r));
	r.op = QOP_CLAIM;
	r.u.claim.playbook = "pb";
	r.u.claim.owner = "node2";
	r.u.claim.lease_ms = 60000;
	r.u.claim.max = 10;
	assert_int_equal(queue_exec(q2, &r), 0);
	assert_int_equal(r.u.claim.n, 1);
	assert_int_equal(r.u.claim.items[0]->id, id);
	/* the lease is on the database's clock, near this one's */
	assert_true(llabs(r.u.claim.items[0]->lease_expires - 60000 -
	    util_now_ms()) < 5000);
	free_items(r.u.claim.items, r.u.claim.n);
	memset(&r, 0, sizeof(r));
	r.op = QOP_STEP_DONE;
	r.u.step_done.item = id;
	r.u.step_done.step_id = "s";
	r.u.step_done.pb_hash = "h";
	r.u.step_done.final = true;
	r.u.step_done.owner = "dead-node";
	assert_int_equal(queue_exec(Q, &r), -1);
	assert_int_equal(r.err.code, ERR_CONFLICT);
	queue_close(q2);
}


/* The server ends the nodes' sessions (as a restart or a failover does):
 * the next request makes the connection again and succeeds, reads too. */
static void
test_pg_reconnects_after_the_server_ended_the_session(void **state)
{
	struct fx *f = *state;
	char sql[256];
	int64_t id;
	bool dup;

	id = enqueue("pb", "before");
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(pid) FROM"
	    " pg_stat_activity WHERE datname = '%s' AND pid !="
	    " pg_backend_pid()", f->pgname);
	assert_int_equal(pg_admin_exec_rows(sql), 2);
	sleep_ms(100);
	assert_true(enqueue_full("pb", "after", 0, 0, NULL, &dup) > id);
	assert_false(dup);
	assert_int_equal(claim_count("pb"), 2);
	assert_state(id, "running");
	assert_true(queue_healthy(Q, NULL));
}

struct wakeups {
	pthread_mutex_t lock;
	int n;
};

static void
count_wakeup(void *arg)
{
	struct wakeups *w = arg;

	pthread_mutex_lock(&w->lock);
	w->n++;
	pthread_mutex_unlock(&w->lock);
}

static int
wakeups(struct wakeups *w, bool reset)
{
	int n;

	pthread_mutex_lock(&w->lock);
	n = w->n;
	if (reset)
		w->n = 0;
	pthread_mutex_unlock(&w->lock);
	return n;
}

/* A node hears of items another node commits (LISTEN / NOTIFY), and of
 * nothing else. */
static void
test_pg_wakeup_on_another_nodes_enqueue(void **state)
{
	struct fx *f = *state;
	struct queue *q2 = second_node(f);
	struct wakeups w = { PTHREAD_MUTEX_INITIALIZER, 0 };
	struct qreq r;
	int i;

	queue_on_wakeup(q2, count_wakeup, &w);
	/* once when it starts listening: items may have come before */
	for (i = 0; i < 50 && wakeups(&w, false) == 0; i++)
		sleep_ms(50);
	sleep_ms(200);
	wakeups(&w, true);
	/* writes that make no claimable item wake nobody */
	queue_audit(Q, "t", "nothing", NULL, NULL);
	memset(&r, 0, sizeof(r));
	r.op = QOP_AUDIT;
	r.u.audit.actor = "t";
	r.u.audit.action = "flush";
	assert_int_equal(queue_exec(Q, &r), 0);
	sleep_ms(600);
	assert_int_equal(wakeups(&w, true), 0);
	enqueue("pb", "new");
	for (i = 0; i < 100 && wakeups(&w, false) == 0; i++)
		sleep_ms(20);
	assert_true(wakeups(&w, false) > 0);
	queue_on_wakeup(q2, NULL, NULL);
	wakeups(&w, true);
	enqueue("pb", "unheard");
	sleep_ms(500);
	assert_int_equal(wakeups(&w, false), 0);
	queue_close(q2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define F(f) cmocka_unit_test_setup_teardown(f, setup_file, teardown)
		T(test_enqueue_dedups_by_playbook_and_key),
		T(test_enqueue_defaults),
		T(test_trigger_slot_kept_with_its_item),
		F(test_trigger_slot_of_a_migrated_store),
		T(test_claim_order_priority_then_not_before),
		T(test_claim_honours_max),
		T(test_claim_sets_running_and_fills_item),
		T(test_claim_skips_future_not_before),
		T(test_claim_only_its_playbook),
		T(test_step_done_journal_seen_on_reclaim),
		T(test_steps_read_back_in_finish_order),
		T(test_step_done_final_marks_done),
		T(test_step_done_not_running_conflict),
		T(test_release_keeps_and_ends_a_wait),
		T(test_fail_retry_waits_for_not_before),
		T(test_fail_escalate_opens_escalation),
		T(test_fail_reject),
		T(test_fail_not_running_conflict),
		T(test_decide_approve_journals_step_and_requeues),
		T(test_decide_approve_keeps_fields_retry_drops_approval),
		T(test_decide_reject_needs_reason),
		T(test_decide_reject_with_reason),
		T(test_decide_retry_resets_attempts),
		T(test_decide_resume_merges_payload),
		T(test_decide_twice_and_missing),
		T(test_refused_decision_leaves_no_trace),
		T(test_item_retry_cancel_rules),
		T(test_lease_expiry_returns_item),
		T(test_renew_extends_lease),
		T(test_renew_only_the_items_still_held),
		T(test_recover_by_owner_and_all),
		T(test_group_commit_many_threads),
		T(test_failed_request_in_a_batch_leaves_the_others),
		T(test_failed_enqueue_among_enqueues_fails_alone),
		T(test_results_at_once_second_of_an_item_refused),
		T(test_durable_across_reopen),
		T(test_playbook_pause_resume),
		T(test_counts),
		F(test_backup_opens_with_same_count),
		T(test_item_list_filters_and_cursor),
		T(test_escalation_list_pages_in_due_order),
		T(test_step_result_of_a_lost_lease_is_refused),
		T(test_escalation_claim_locks_others_out),
		T(test_escalation_assign_rules),
		T(test_escalation_comments),
		T(test_escalation_list_json_matches_rows),
		F(test_open_migrates_schema_1),
		T(test_names),
		F(test_open_not_a_database),
		F(test_open_short_garbage_and_newer_schema),
		F(test_open_unwritable),
#undef F
#undef T
	};
	/* Only on PostgreSQL: what several nodes on one store must hold. */
	const struct CMUnitTest pg_only[] = {
#define P(f) cmocka_unit_test_setup_teardown(f, setup_pg, teardown)
		P(test_pg_two_queues_claim_disjoint),
		P(test_pg_concurrent_decisions_one_wins),
		P(test_pg_concurrent_audit_one_chain),
		P(test_pg_backup_and_restore_refused),
		P(test_pg_newer_schema_refused),
		P(test_pg_expired_lease_rescued_by_other_node),
		P(test_pg_reconnects_after_the_server_ended_the_session),
		P(test_pg_wakeup_on_another_nodes_enqueue),
#undef P
	};
	size_t n = sizeof(tests) / sizeof(tests[0]), np = 0, nnamed;
	size_t npo = sizeof(pg_only) / sizeof(pg_only[0]);
	struct CMUnitTest *all = calloc(2 * n + npo, sizeof(*all));
	int rc;

	/* lease expiry is logged at warn; keep the TAP stream readable */
	log_set_level(LL_ERROR);
	memcpy(all, tests, sizeof(tests));
	pg_admin = getenv("CLERK_TEST_PG_URL");
	if (pg_admin != NULL && pg_admin[0] == '\0')
		pg_admin = NULL;
	/* One group, so the TAP stream has one plan: every test again on
	 * PostgreSQL (but those about the SQLite file), named pg/... */
	for (size_t i = 0; pg_admin != NULL && i < n; i++) {
		if (tests[i].setup_func != setup)
			continue;
		all[n + np] = tests[i];
		all[n + np].name = xasprintf("pg/%s", tests[i].name);
		all[n + np].setup_func = setup_pg;
		np++;
	}
	nnamed = np;
	for (size_t i = 0; pg_admin != NULL && i < npo; i++)
		all[n + np++] = pg_only[i];
	rc = _cmocka_run_group_tests("queue", all, n + np, NULL, NULL);
	for (size_t i = 0; i < nnamed; i++)
		free((char *)all[n + i].name);
	free(all);
	return rc;
}
