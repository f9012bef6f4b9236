/*
 * test_audit.c - the hash-chained audit trail: appends from the store and
 * from queue_audit, and audit_verify naming edited and deleted rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "audit.h"
#include "queue.h"

static char dir[] = "/tmp/clerk-test-audit-XXXXXX";
static char *dbpath;

/* Waits until the writer has committed everything submitted before. */
static void
barrier(struct queue *q)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = QOP_RENEW;
	r.u.renew.owner = "nobody";
	assert_int_equal(queue_exec(q, &r), 0);
}

static void
sql(const char *stmt)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	if (sqlite3_exec(db, stmt, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", stmt, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Runs audit_verify; returns the problems, the report in buf. */
static int
verify(char *buf, size_t len, int64_t *rows)
{
	FILE *f = fmemopen(buf, len, "w");
	struct err e;
	int n;

	assert_non_null(f);
	n = audit_verify(dbpath, f, rows, &e);
	fclose(f);
	if (n < 0)
		fail_msg("audit_verify: %s", e.msg);
	return n;
}

static int
setup(void **state)
{
	struct err e;
	struct queue *q;

	free(dbpath);
	dbpath = xasprintf("%s/audit-%d.db", dir, rand());
	q = queue_open(dbpath, NULL, &e);
	assert_non_null(q);
	*state = q;
	return 0;
}

static int
teardown(void **state)
{
	queue_close(*state);
	return 0;
}

/* Five rows: two events, an escalation decided, a refused decision
 * (which must leave no row), one more event. */
static void
fill(struct queue *q)
{
	struct qreq r;

	queue_audit(q, "clerkd", "start", "/etc/clerk/clerkd.conf",
	    "{\"playbooks\":{}}");
	queue_audit(q, "alice", "login", NULL, "{\"ok\":true}");
	memset(&r, 0, sizeof(r));
	r.op = QOP_ENQUEUE;
	r.u.enqueue.key = "k";
	r.u.enqueue.playbook = "pb";
	r.u.enqueue.pb_hash = "h";
	assert_int_equal(queue_exec(q, &r), 0);
	int64_t id = r.u.enqueue.id;
	memset(&r, 0, sizeof(r));
	r.op = QOP_CLAIM;
	r.u.claim.playbook = "pb";
	r.u.claim.owner = "o";
	r.u.claim.lease_ms = 60000;
	r.u.claim.max = 1;
	assert_int_equal(queue_exec(q, &r), 0);
	assert_int_equal(r.u.claim.n, 1);
	item_free(r.u.claim.items[0]);
	free(r.u.claim.items);
	memset(&r, 0, sizeof(r));
	r.op = QOP_FAIL;
	r.u.fail.item = id;
	r.u.fail.step_id = "s";
	r.u.fail.kind = ERRK_BUSINESS;
	r.u.fail.message = "m";
	r.u.fail.action = FAIL_ESCALATE;
	r.u.fail.reason = "check";
	assert_int_equal(queue_exec(q, &r), 0);
	int64_t esc = r.u.fail.escalation;

	memset(&r, 0, sizeof(r));
	r.op = QOP_DECIDE;
	r.u.decide.escalation = esc;
	r.u.decide.decision = DEC_REJECT;     /* no reason: refused */
	r.u.decide.by = "bob";
	assert_int_equal(queue_exec(q, &r), -1);
	memset(&r, 0, sizeof(r));
	r.op = QOP_DECIDE;
	r.u.decide.escalation = esc;
	r.u.decide.decision = DEC_REJECT;
	r.u.decide.by = "bob";
	r.u.decide.reason = "wrong form";
	assert_int_equal(queue_exec(q, &r), 0);
	queue_audit(q, "clerkd", "reload", NULL, NULL);
	barrier(q);
}

static void
test_chain_verifies(void **state)
{
	char buf[4096];
	int64_t rows;
	FILE *f;
	struct err e;

	fill(*state);
	assert_int_equal(verify(buf, sizeof(buf), &rows), 0);
	assert_int_equal(rows, 4);
	f = fmemopen(buf, sizeof(buf), "w");
	assert_int_equal(audit_export(dbpath, 0, 0, f, &e), 4);
	fclose(f);
	assert_non_null(strstr(buf, "\"actor\":\"bob\",\"action\":\"decide\","
	    "\"target\":\"escalation:1\""));
	assert_non_null(strstr(buf, "\"reason\":\"wrong form\""));
	assert_null(strstr(buf, "\"reason\":null"));
}

static void
test_edited_row_is_named(void **state)
{
	char buf[4096];
	int64_t rows;

	fill(*state);
	sql("UPDATE audit SET actor = 'mallory' WHERE id = 3");
	assert_int_equal(verify(buf, sizeof(buf), &rows), 1);
	assert_string_equal(buf, "audit row 3: its content does not match its"
	    " hash (edited)\n");
}

static void
test_rehashed_row_breaks_the_next(void **state)
{
	char buf[4096], h[65], *stmt;
	int64_t rows;
	sqlite3 *db;
	sqlite3_stmt *st;

	fill(*state);
	/* A forger who recomputes the edited row's hash still breaks the
	 * link to the row after it. */
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT prev_hash, ts, target,"
	    " details FROM audit WHERE id = 2", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	audit_hash((const char *)sqlite3_column_text(st, 0), 2,
	    sqlite3_column_int64(st, 1), "mallory", "login",
	    (const char *)sqlite3_column_text(st, 2),
	    (const char *)sqlite3_column_text(st, 3), h);
	sqlite3_finalize(st);
	sqlite3_close(db);
	stmt = xasprintf("UPDATE audit SET actor = 'mallory', hash = '%s'"
	    " WHERE id = 2", h);
	sql(stmt);
	free(stmt);
	assert_int_equal(verify(buf, sizeof(buf), &rows), 1);
	assert_string_equal(buf, "audit row 3: does not follow the row before"
	    " it (a row before it was edited or deleted)\n");
}

static void
test_deleted_row_is_named(void **state)
{
	char buf[4096];
	int64_t rows;

	fill(*state);
	sql("DELETE FROM audit WHERE id = 2");
	assert_int_equal(verify(buf, sizeof(buf), &rows), 2);
	assert_non_null(strstr(buf, "audit row 2: missing (deleted)"));
	assert_non_null(strstr(buf, "audit row 3: does not follow"));
	assert_int_equal(rows, 3);
}

static void
test_chain_continues_after_reopen(void **state)
{
	struct queue *q = *state;
	char buf[4096];
	int64_t rows;
	struct err e;

	fill(q);
	queue_close(q);
	q = queue_open(dbpath, NULL, &e);
	assert_non_null(q);
	*state = q;
	queue_audit(q, "carol", "login", NULL, NULL);
	barrier(q);
	assert_int_equal(verify(buf, sizeof(buf), &rows), 0);
	assert_int_equal(rows, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_verifies, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edited_row_is_named, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rehashed_row_breaks_the_next,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_row_is_named, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_chain_continues_after_reopen,
		    setup, teardown),
	};
	char *cmd;
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cmd = xasprintf("rm -rf %s", dir);
	(void)!system(cmd);
	free(cmd);
	free(dbpath);
	return rc;
}
