/*
 * test_store_pg_read.c - the PostgreSQL backend's reads hand out the same
 * JSON as SQLite's. A SQLite queue is filled through queue_exec with every
 * kind of row (steps, failures, escalations open, claimed, assigned,
 * commented, decided; pauses, sessions, timer items with and without a
 * trigger slot; text that needs escaping), its tables are copied as they
 * are into a fresh PostgreSQL database, and every read with every filter
 * is run on both and compared as JSON text.
 *
 * Needs CLERK_TEST_PG_URL (an admin URL, e.g.
 * postgresql://clerk@127.0.0.1:PORT/postgres; tests/pg/with_cluster.sh
 * starts a cluster and sets it). Without it the test fails: a backend
 * nobody ran is not a backend that passed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "queue.h"
#include "store_pg.h"

static struct queue *Q;
static struct pg_store PS;
static char dir[64], dbfile[128], dbname[64], *admin_url;
static int64_t now0;

static void
pg_run(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* The URL of database name on admin_url's server. */
static char *
db_url(const char *name)
{
	const char *slash = strrchr(admin_url, '/');
	const char *q = strchr(admin_url, '?');

	if (slash == NULL || slash < admin_url + strlen("postgresql://"))
		fail_msg("CLERK_TEST_PG_URL %s names no database", admin_url);
	return xasprintf("%.*s/%s%s", (int)(slash - admin_url), admin_url,
	    name, q ? q : "");
}

/* ---- filling the SQLite queue ---- */

static struct qreq
req(enum qop op)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = op;
	return r;
}

static void
exec_ok(struct qreq *r, const char *what)
{
	if (queue_exec(Q, r) != 0)
		fail_msg("%s: %s", what, r->err.msg);
}

static int64_t
enqueue(const char *pb, const char *key, int prio, const char *payload,
    int64_t slot)
{
	struct qreq r = req(QOP_ENQUEUE);

	r.u.enqueue.key = key;
	r.u.enqueue.playbook = pb;
	r.u.enqueue.pb_hash = "hash-v1";
	r.u.enqueue.priority = prio;
	r.u.enqueue.payload = payload;
	r.u.enqueue.slot = slot;
	exec_ok(&r, "enqueue");
	return r.u.enqueue.id;
}

/* Claims the one runnable item of pb, which must be id. */
static void
claim(const char *pb, int64_t id)
{
	struct qreq r = req(QOP_CLAIM);

	r.u.claim.playbook = pb;
	r.u.claim.owner = "w1";
	r.u.claim.lease_ms = 60000;
	r.u.claim.max = 1;
	exec_ok(&r, "claim");
	if (r.u.claim.n != 1 || r.u.claim.items[0]->id != id)
		fail_msg("claim %s: expected item %lld", pb, (long long)id);
	item_free(r.u.claim.items[0]);
	free(r.u.claim.items);
}

static void
step_done(int64_t id, const char *step, const char *output, int64_t ms,
    bool final)
{
	struct qreq r = req(QOP_STEP_DONE);

	r.u.step_done.item = id;
	r.u.step_done.step_id = step;
	r.u.step_done.pb_hash = "hash-v1";
	r.u.step_done.output = output;
	r.u.step_done.ms = ms;
	r.u.step_done.final = final;
	exec_ok(&r, "step done");
}

static int64_t
fail_item(int64_t id, const char *step, enum fail_action a, enum err_kind k,
    const char *msg, const char *reason, const char *context, int64_t due)
{
	struct qreq r = req(QOP_FAIL);

	r.u.fail.item = id;
	r.u.fail.step_id = step;
	r.u.fail.kind = k;
	r.u.fail.message = msg;
	r.u.fail.action = a;
	r.u.fail.reason = reason;
	r.u.fail.context = context;
	r.u.fail.due = due;
	exec_ok(&r, "fail");
	return r.u.fail.escalation;
}

static void
decide(int64_t esc, enum decision d, const char *reason)
{
	struct qreq r = req(QOP_DECIDE);

	r.u.decide.escalation = esc;
	r.u.decide.decision = d;
	r.u.decide.by = "alice";
	r.u.decide.reason = reason;
	exec_ok(&r, "decide");
}

static void
fill(void)
{
	const char *ctx = "{\"evidence\":{\"id_number\":\"756.1234.5678.97\","
	    "\"names\":[\"Zoë\",\"O'Brien \\\"Bob\\\"\"]},\"score\":0.25,"
	    "\"ok\":false,\"none\":null}";
	struct qreq r;
	int64_t a, b, c, d, x, esc1, esc2, esc3, esc4, t;

	now0 = util_now_ms();
	a = enqueue("claims", "case-1", 5, "{\"name\":\"Anna\",\"n\":1}", 0);
	b = enqueue("claims", "case-2", 0, "{\"name\":\"tab\\there\","
	    "\"nl\":\"a\\nb\",\"ctl\":\"\\u0001\",\"pct\":\"50%_off\"}", 0);
	c = enqueue("claims", "case-3", 9, "{\"list\":[1,2.5,\"x\"]}", 0);
	d = enqueue("claims", "case-4", 0, "{}", 0);
	x = enqueue("other pb", "k\"quoted\"", 1, "{\"u\":\"\\u00e9\\u4e2d\"}",
	    0);
	/* c (priority 9): two steps, done. */
	claim("claims", c);
	step_done(c, "extract", "{\"fields\":{\"a\":1}}", 40, false);
	step_done(c, "file", "{}", 7, true);
	/* a: a system failure, retried, then escalated with evidence. */
	claim("claims", a);
	fail_item(a, "extract", FAIL_RETRY, ERRK_SYSTEM, "timeout talking to OCR",
	    NULL, NULL, 0);
	claim("claims", a);
	step_done(a, "extract", "{\"text\":\"ok\"}", 12, false);
	esc1 = fail_item(a, "check", FAIL_ESCALATE, ERRK_BUSINESS, "ID number"
	    " 756.1234.5678.97 does not match", "id_mismatch", ctx,
	    now0 + 3600000);
	/* b: escalated with no context, overdue, then claimed and assigned
	 * and commented. */
	claim("claims", b);
	esc2 = fail_item(b, "check", FAIL_ESCALATE, ERRK_BUSINESS,
	    "look at \"50%\"", "needs_review", NULL, now0 - 60000);
	r = req(QOP_ESC_CLAIM);
	r.u.esc_claim.escalation = esc2;
	r.u.esc_claim.by = "bob";
	r.u.esc_claim.ms = 600000;
	exec_ok(&r, "esc claim");
	r = req(QOP_ESC_ASSIGN);
	r.u.esc_assign.escalation = esc2;
	r.u.esc_assign.by = "bob";
	r.u.esc_assign.to = "carol";
	exec_ok(&r, "esc assign");
	r = req(QOP_ESC_COMMENT);
	r.u.esc_comment.escalation = esc2;
	r.u.esc_comment.by = "carol";
	r.u.esc_comment.text = "called the office;\nwaiting \"back\"";
	exec_ok(&r, "esc comment");
	r = req(QOP_ESC_COMMENT);
	r.u.esc_comment.escalation = esc2;
	r.u.esc_comment.by = "bob";
	r.u.esc_comment.text = "ok";
	exec_ok(&r, "esc comment");
	/* d: escalated, decided retry, escalated again (previous), then
	 * rejected. */
	claim("claims", d);
	esc3 = fail_item(d, "check", FAIL_ESCALATE, ERRK_SYSTEM, "bank down\n\tlater \\ \x01 \x7f é",
	    "system_error", "[1,2]", now0 + 7200000);
	decide(esc3, DEC_RETRY, "try again");
	claim("claims", d);
	esc4 = fail_item(d, "check", FAIL_ESCALATE, ERRK_BUSINESS, "still wrong",
	    "id_mismatch", "\"just a string\"", now0 + 7200000);
	decide(esc4, DEC_REJECT, "the ID number is not the applicant's");
	/* x: rejected outright; another claims item cancelled. */
	claim("other pb", x);
	fail_item(x, NULL, FAIL_REJECT, ERRK_BUSINESS, "no such case", NULL, NULL,
	    0);
	t = enqueue("claims", "case-5", 0, "{}", 0);
	r = req(QOP_ITEM_CANCEL);
	r.u.item_op.item = t;
	r.u.item_op.by = "sam";
	exec_ok(&r, "cancel");
	(void)esc1;
	/* Timers: one playbook with a recorded slot, one only with the
	 * items of an older clerk, one with other keys only. */
	enqueue("nightly", "cron:2026-12-01T02:00", 0, "{}", now0 - 86400000);
	enqueue("nightly", "cron:2026-12-02T02:00", 0, "{}", now0 - 3600000);
	enqueue("legacy", "interval:1", 0, "{}", 0);
	enqueue("legacy", "cron;not-a-timer", 0, "{}", 0);
	enqueue("legacy", "interval;nor-this", 0, "{}", 0);
	enqueue("manual", "cronjob", 0, "{}", 0);
	/* Pauses, sessions, audit rows. */
	r = req(QOP_PB_PAUSE);
	r.u.pb_pause.playbook = "other pb";
	r.u.pb_pause.by = "sam";
	r.u.pb_pause.reason = "bank \"down\"";
	exec_ok(&r, "pause");
	r = req(QOP_PB_PAUSE);
	r.u.pb_pause.playbook = "Claims";
	r.u.pb_pause.by = "ann";
	exec_ok(&r, "pause");
	r = req(QOP_SESSION_SAVE);
	r.u.session.key = "abc123";
	r.u.session.csrf = "tok";
	r.u.session.user = "alice";
	r.u.session.last = now0;
	exec_ok(&r, "session");
	r = req(QOP_AUDIT);
	r.u.audit.actor = "clerkd";
	r.u.audit.action = "start";
	exec_ok(&r, "audit");
}

/* ---- copying it into PostgreSQL ---- */

static void
copy_table(sqlite3 *db, PGconn *c, const char *table)
{
	char sql[1024], ins[2048];
	sqlite3_stmt *st;
	int ncol;
	size_t n;

	snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	ncol = sqlite3_column_count(st);
	n = (size_t)snprintf(ins, sizeof(ins), "INSERT INTO %s (", table);
	for (int i = 0; i < ncol; i++)
		n += (size_t)snprintf(ins + n, sizeof(ins) - n, "%s\"%s\"",
		    i ? ", " : "", sqlite3_column_name(st, i));
	n += (size_t)snprintf(ins + n, sizeof(ins) - n, ") VALUES (");
	for (int i = 0; i < ncol; i++)
		n += (size_t)snprintf(ins + n, sizeof(ins) - n, "%s$%d",
		    i ? ", " : "", i + 1);
	snprintf(ins + n, sizeof(ins) - n, ")");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *v[32];
		PGresult *r;

		for (int i = 0; i < ncol && i < 32; i++)
			v[i] = (const char *)sqlite3_column_text(st, i);
		r = PQexecParams(c, ins, ncol, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail_msg("%s: %s", ins, PQerrorMessage(c));
		PQclear(r);
	}
	sqlite3_finalize(st);
}

static int
setup(void **state)
{
	static const char *tables[] = { "items", "steps", "escalations",
	    "escalation_comments", "failures", "trigger_slots", "sessions",
	    "playbook_state", "audit" };
	char sql[256], *url;
	struct err e;
	sqlite3 *db;
	PGconn *c;

	(void)state;
	if ((admin_url = getenv("CLERK_TEST_PG_URL")) == NULL ||
	    *admin_url == '\0')
		fail_msg("CLERK_TEST_PG_URL is not set: run under"
		    " tests/pg/with_cluster.sh");
	snprintf(dir, sizeof(dir), "/tmp/clerk-test-pgread-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(dbfile, sizeof(dbfile), "%s/clerk.db", dir);
	err_clear(&e);
	if ((Q = queue_open(dbfile, NULL, &e)) == NULL)
		fail_msg("queue_open: %s", e.msg);
	fill();

	snprintf(dbname, sizeof(dbname), "clerk_t_read_%d", (int)getpid());
	c = PQconnectdb(admin_url);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("%s: %s", admin_url, PQerrorMessage(c));
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", dbname);
	pg_run(c, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	pg_run(c, sql);
	PQfinish(c);
	url = db_url(dbname);
	c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("%s: %s", url, PQerrorMessage(c));
	pg_run(c, pg_schema_sql);
	if (sqlite3_open_v2(dbfile, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		fail_msg("%s: %s", dbfile, sqlite3_errmsg(db));
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		copy_table(db, c, tables[i]);
	sqlite3_close(db);
	PQfinish(c);

	/* Only what the reads use: the reader's connection and its lock. */
	memset(&PS, 0, sizeof(PS));
	pthread_mutex_init(&PS.rlock, NULL);
	PS.r = PQconnectdb(url);
	if (PQstatus(PS.r) != CONNECTION_OK)
		fail_msg("%s: %s", url, PQerrorMessage(PS.r));
	free(url);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];
	PGconn *c;

	(void)state;
	/* After a setup that failed part way: only what it made. */
	if (PS.r != NULL) {
		PQfinish(PS.r);
		pthread_mutex_destroy(&PS.rlock);
	}
	if (Q != NULL)
		queue_close(Q);
	if (dbname[0] != '\0') {
		c = PQconnectdb(admin_url);
		snprintf(cmd, sizeof(cmd), "DROP DATABASE IF EXISTS %s",
		    dbname);
		pg_run(c, cmd);
		PQfinish(c);
	}
	if (dir[0] == '\0')
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- comparing ---- */

static char *
dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s == NULL)
		fail_msg("json_dumps failed");
	return s;
}

/* Both results, or both errors with the same code and message. */
static void
same(const char *what, json_t *sq, struct err *esq, json_t *pg,
    struct err *epg)
{
	char *a, *b;

	if (sq == NULL || pg == NULL) {
		if (sq != NULL || pg != NULL)
			fail_msg("%s: sqlite %s, pg %s", what,
			    sq ? "succeeded" : esq->msg,
			    pg ? "succeeded" : epg->msg);
		if (esq->code != epg->code || strcmp(esq->msg, epg->msg) != 0)
			fail_msg("%s: sqlite error %d %s, pg error %d %s", what,
			    esq->code, esq->msg, epg->code, epg->msg);
		return;
	}
	a = dump(sq);
	b = dump(pg);
	if (strcmp(a, b) != 0)
		fail_msg("%s differs:\nsqlite: %s\npg:     %s", what, a, b);
	free(a);
	free(b);
	json_decref(sq);
	json_decref(pg);
}

static void
test_item_get(void **state)
{
	(void)state;
	for (int64_t id = 1; id <= 20; id++) {
		struct err e1, e2;
		char what[64];

		err_clear(&e1);
		err_clear(&e2);
		snprintf(what, sizeof(what), "item_get %lld", (long long)id);
		same(what, queue_item_get(Q, id, &e1), &e1,
		    pg_item_get(&PS, id, &e2), &e2);
	}
}

static void
test_item_list(void **state)
{
	struct item_filter fs[] = {
		{ NULL, -1, 0, 0 },
		{ "claims", -1, 0, 0 },
		{ "claims", ITEM_ESCALATED, 0, 0 },
		{ NULL, ITEM_QUEUED, 0, 0 },
		{ NULL, -1, 5, 2 },
		{ "nope", -1, 0, 0 },
		{ NULL, -1, 0, 5000 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		struct err e1, e2;
		char what[64];

		err_clear(&e1);
		err_clear(&e2);
		snprintf(what, sizeof(what), "item_list filter %zu", i);
		same(what, queue_item_list(Q, &fs[i], &e1), &e1,
		    pg_item_list(&PS, &fs[i], &e2), &e2);
	}
}

static void
test_escalation_get(void **state)
{
	(void)state;
	for (int64_t id = 0; id <= 6; id++) {
		struct err e1, e2;
		char what[64];

		err_clear(&e1);
		err_clear(&e2);
		snprintf(what, sizeof(what), "escalation_get %lld",
		    (long long)id);
		same(what, queue_escalation_get(Q, id, &e1), &e1,
		    pg_escalation_get(&PS, id, &e2), &e2);
	}
}

/* The filters the API and the UI send. */
static const struct esc_filter esc_filters[] = {
	{ .open_only = true },
	{ .open_only = true, .brief = true },
	{ .open_only = true, .by_id = true },
	{ .open_only = false },
	{ .open_only = false, .brief = true },
	{ .open_only = true, .playbook = "claims" },
	{ .open_only = true, .reason = "id_mismatch" },
	{ .open_only = false, .reason = "id_mismatch" },
	{ .open_only = true, .playbook = "claims", .reason = "needs_review" },
	{ .open_only = true, .assignee = "" },
	{ .open_only = true, .assignee = "carol" },
	{ .open_only = false, .assignee = "" },
	{ .open_only = true, .overdue = true },
	{ .open_only = false, .overdue = true },
	{ .open_only = true, .text = "756.1234" },      /* message, context */
	{ .open_only = true, .text = "O'Brien" },       /* context only */
	{ .open_only = true, .text = "case-2" },        /* the item's key */
	{ .open_only = true, .text = "Anna" },          /* its payload */
	{ .open_only = false, .text = "50%" },
	{ .open_only = false, .text = "%" },
	{ .open_only = false, .text = "_" },
	{ .open_only = false, .text = "anna" },         /* case-sensitive */
	{ .open_only = false, .text = "" },
	{ .open_only = true, .after_due = 1, .after_id = 1 },
	{ .open_only = false, .after_id = 2 },
	{ .open_only = false, .limit = 1 },
};

static void
test_escalation_list(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(esc_filters) / sizeof(esc_filters[0]);
	    i++) {
		struct esc_filter f = esc_filters[i];
		struct err e1, e2;
		char what[64];

		err_clear(&e1);
		err_clear(&e2);
		snprintf(what, sizeof(what), "escalation_list filter %zu", i);
		same(what, queue_escalation_list(Q, &f, &e1), &e1,
		    pg_escalation_list(&PS, &f, &e2), &e2);
	}
}

/*
 * The JSON list's text byte for byte (the API sends it as it is), its page
 * and cursor, and the same rows as the jansson list's brief ones.
 */
static void
test_escalation_list_json(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(esc_filters) / sizeof(esc_filters[0]);
	    i++) {
		struct esc_filter f = esc_filters[i];
		struct esc_page p1, p2;
		struct err e1, e2;
		char what[64], *t1, *t2;
		json_t *j1, *j2;

		f.brief = true;
		err_clear(&e1);
		err_clear(&e2);
		snprintf(what, sizeof(what), "escalation_list_json filter %zu",
		    i);
		t1 = queue_escalation_list_json(Q, &f, &p1, &e1);
		t2 = pg_escalation_list_json(&PS, &f, &p2, &e2);
		if (t1 == NULL || t2 == NULL)
			fail_msg("%s: %s / %s", what, t1 ? "ok" : e1.msg,
			    t2 ? "ok" : e2.msg);
		if (p1.n != p2.n || p1.last_due != p2.last_due ||
		    p1.last_id != p2.last_id)
			fail_msg("%s: page %d %lld %lld vs %d %lld %lld", what,
			    p1.n, (long long)p1.last_due, (long long)p1.last_id,
			    p2.n, (long long)p2.last_due, (long long)p2.last_id);
		if (strcmp(t1, t2) != 0)
			fail_msg("%s differs:\nsqlite: %s\npg:     %s", what, t1,
			    t2);
		j1 = queue_escalation_list(Q, &f, &e1);
		j2 = json_loads(t2, 0, NULL);
		same(what, j1, &e1, j2, &e2);
		free(t1);
		free(t2);
	}
}

/* Paging one row at a time walks the same rows, open ones by (due, id). */
static void
test_escalation_list_pages(void **state)
{
	bool open[] = { true, false };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct esc_filter f1 = { .open_only = open[i], .limit = 1,
		    .brief = true };
		struct esc_filter f2 = f1;
		int pages = 0;

		for (;;) {
			struct esc_page p1, p2;
			struct err e1, e2;
			char *t1 = queue_escalation_list_json(Q, &f1, &p1, &e1);
			char *t2 = pg_escalation_list_json(&PS, &f2, &p2, &e2);

			if (t1 == NULL || t2 == NULL)
				fail_msg("page %d: %s / %s", pages,
				    t1 ? "ok" : e1.msg, t2 ? "ok" : e2.msg);
			same("page", json_loads(t1, 0, NULL), &e1,
			    json_loads(t2, 0, NULL), &e2);
			free(t1);
			free(t2);
			assert_int_equal(p1.n, p2.n);
			if (p1.n == 0)
				break;
			pages++;
			f1.after_due = p1.last_due;
			f1.after_id = p1.last_id;
			f2.after_due = p2.last_due;
			f2.after_id = p2.last_id;
		}
		/* 2 open; 4 in all. */
		assert_int_equal(pages, open[i] ? 2 : 4);
	}
}

static void
test_counts(void **state)
{
	struct err e1, e2;

	(void)state;
	err_clear(&e1);
	err_clear(&e2);
	same("counts", queue_counts(Q, &e1), &e1, pg_counts(&PS, &e2), &e2);
}

static void
test_history(void **state)
{
	const char *pbs[] = { "claims", "other pb", "nightly", "none" };

	(void)state;
	for (size_t i = 0; i < sizeof(pbs) / sizeof(pbs[0]); i++) {
		int64_t since[] = { 0, now0 - 1000, now0 + 86400000 };

		for (size_t j = 0; j < 3; j++) {
			struct err e1, e2;
			char what[64];

			err_clear(&e1);
			err_clear(&e2);
			snprintf(what, sizeof(what), "history %s %zu", pbs[i],
			    j);
			same(what, queue_history(Q, pbs[i], since[j], 7, &e1),
			    &e1, pg_history(&PS, pbs[i], since[j], 7, &e2),
			    &e2);
		}
	}
}

static void
test_sessions_and_pauses(void **state)
{
	struct err e1, e2;

	(void)state;
	err_clear(&e1);
	err_clear(&e2);
	same("sessions", queue_sessions(Q, &e1), &e1, pg_sessions(&PS, &e2),
	    &e2);
	same("playbook_states", queue_playbook_states(Q, &e1), &e1,
	    pg_playbook_states(&PS, &e2), &e2);
}

static void
test_trigger_slot(void **state)
{
	const char *pbs[] = { "nightly", "legacy", "manual", "claims", "none" };

	(void)state;
	for (size_t i = 0; i < sizeof(pbs) / sizeof(pbs[0]); i++) {
		int64_t s1 = -1, s2 = -1;
		struct err e1, e2;
		int r1 = queue_trigger_slot(Q, pbs[i], &s1, &e1);
		int r2 = pg_trigger_slot(&PS, pbs[i], &s2, &e2);

		if (r1 != r2 || s1 != s2)
			fail_msg("trigger_slot %s: sqlite %d %lld, pg %d %lld",
			    pbs[i], r1, (long long)s1, r2, (long long)s2);
	}
}

/* A database restart (here: the server ending the reader's session)
 * costs the next read nothing: it is tried again on a new connection. */
static void
test_read_after_connection_lost(void **state)
{
	PGconn *c = PQconnectdb(admin_url);
	const char *par[1] = { dbname };
	struct err e;
	PGresult *r;
	json_t *j;
	int left = 1;

	(void)state;
	r = PQexecParams(c, "SELECT count(pg_terminate_backend(pid)) FROM"
	    " pg_stat_activity WHERE datname = $1", 1, NULL, par, NULL, NULL,
	    0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "1");
	PQclear(r);
	/* The session ends asynchronously; the reader has not noticed. */
	for (int i = 0; i < 250 && left > 0; i++) {
		usleep(20000);
		r = PQexecParams(c, "SELECT count(*) FROM pg_stat_activity"
		    " WHERE datname = $1", 1, NULL, par, NULL, NULL, 0);
		left = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	PQfinish(c);
	assert_int_equal(left, 0);
	assert_int_equal(PQstatus(PS.r), CONNECTION_OK);
	err_clear(&e);
	if ((j = pg_counts(&PS, &e)) == NULL)
		fail_msg("pg_counts after the session ended: %s", e.msg);
	json_decref(j);
	assert_int_equal(PQstatus(PS.r), CONNECTION_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_item_get),
		cmocka_unit_test(test_item_list),
		cmocka_unit_test(test_escalation_get),
		cmocka_unit_test(test_escalation_list),
		cmocka_unit_test(test_escalation_list_json),
		cmocka_unit_test(test_escalation_list_pages),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_sessions_and_pauses),
		cmocka_unit_test(test_trigger_slot),
		cmocka_unit_test(test_read_after_connection_lost),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
