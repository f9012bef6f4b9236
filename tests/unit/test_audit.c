/*
 * test_audit.c - the hash-chained audit trail: appends from the store and
 * from queue_audit, and audit_verify naming edited and deleted rows; the
 * anchor file's lines, and audit_verify_end catching a cut-off end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>

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

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_anchor_lines_parse(void **state)
{
	struct audit_anchor a;
	char line[512];
	size_t n;

	(void)state;
	assert_int_equal(audit_anchor_parse("head id=12 rows=11 hash=" H64
	    " time=2026-12-06T22:31:11.000+08:00", &a), 0);
	assert_int_equal(a.kind, AUDIT_ANCHOR_HEAD);
	assert_int_equal(a.id, 12);
	assert_int_equal(a.rows, 11);
	assert_string_equal(a.hash, H64);
	assert_string_equal(a.time, "2026-12-06T22:31:11.000+08:00");
	assert_int_equal(audit_anchor_parse("restore id=0 rows=0 hash="
	    AUDIT_GENESIS " time=T from=/var/backups/clerk 1.db", &a), 0);
	assert_int_equal(a.kind, AUDIT_ANCHOR_RESTORE);
	/* What clerk writes reads back as itself; a newline in a backup's
	 * name cannot start a line of its own. */
	a.id = 7;
	a.rows = 7;
	memcpy(a.hash, H64, sizeof(a.hash));
	n = audit_anchor_format(&a, "/tmp/x\nhead id=99", line, sizeof(line));
	assert_int_equal(n, strlen(line));
	assert_string_equal(line, "restore id=7 rows=7 hash=" H64 " time=T"
	    " from=/tmp/x?head id=99\n");
	line[strlen(line) - 1] = '\0';
	assert_int_equal(audit_anchor_parse(line, &a), 0);
	assert_int_equal(a.id, 7);

	static const char *const bad[] = {
		"",
		"tail id=1 rows=1 hash=" H64 " time=T",
		"head id=1 rows=1 hash=" H64,                     /* no time */
		"head id=1 rows=1 hash=0123 time=T",              /* short hash */
		"head id=1 rows=1 hash=" H64 "0 time=T",          /* long hash */
		"head id=1 rows=1 hash=" "0123456789ABCDEF0123456789abcdef"
		    "0123456789abcdef0123456789abcdef time=T",   /* upper case */
		"head id=-1 rows=0 hash=" H64 " time=T",
		"head id=+1 rows=1 hash=" H64 " time=T",
		"head id= 1 rows=1 hash=" H64 " time=T",
		"head  id=1 rows=1 hash=" H64 " time=T",
		"head id=01 rows=1 hash=" H64 " time=T",
		"head id=1 rows=2 hash=" H64 " time=T",           /* rows > id */
		"head id=0 rows=0 hash=" H64 " time=T",  /* row 0 is genesis */
		"head id=1 rows=1 hash=" H64 " time=T from=x",   /* head: no from */
		"head id=1 rows=1 hash=" H64 " time=T junk",
		"restore id=1 rows=1 hash=" H64 " time=T junk",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (audit_anchor_parse(bad[i], &a) == 0)
			fail_msg("taken for an anchor line: \"%s\"", bad[i]);
}

/* Runs audit_verify_end on the database's own anchor. */
static int
verify_end(char *buf, size_t len, struct audit_end *r)
{
	FILE *f = fmemopen(buf, len, "w");
	char *anchor = audit_anchor_path(dbpath);
	struct err e;
	int n;

	assert_non_null(f);
	buf[0] = '\0';
	n = audit_verify_end(dbpath, anchor, f, r, &e);
	fclose(f);
	free(anchor);
	if (n < 0)
		fail_msg("audit_verify_end: %s", e.msg);
	return n;
}

static char *
anchor_text(void)
{
	char *path = audit_anchor_path(dbpath), *text;
	struct err e;

	text = util_read_file(path, NULL, &e);
	if (text == NULL)
		fail_msg("%s", e.msg);
	free(path);
	return text;
}

static void
anchor_rewrite(const char *text)
{
	char *path = audit_anchor_path(dbpath);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void
test_anchor_follows_the_head(void **state)
{
	char buf[4096], *text, *last;
	struct audit_end r;

	fill(*state);
	text = anchor_text();
	last = strstr(text, "head id=4 rows=4 hash=");
	assert_non_null(last);
	assert_int_equal(verify_end(buf, sizeof(buf), &r), 0);
	assert_string_equal(buf, "");
	assert_true(r.anchored);
	assert_false(r.restored);
	assert_int_equal(r.anchored_id, 4);
	assert_int_equal(r.last_id, 4);
	assert_int_equal(r.ahead, 0);
	/* The anchor one commit behind (a crash before its write). */
	*last = '\0';
	anchor_rewrite(text);
	assert_int_equal(verify_end(buf, sizeof(buf), &r), 0);
	assert_true(r.anchored_id < 4);
	assert_int_equal(r.ahead, 4 - r.anchored_id);
	free(text);
}

static void
test_anchor_catches_a_cut_end(void **state)
{
	char buf[4096];
	struct audit_end r;
	int64_t rows;

	fill(*state);
	sql("DELETE FROM audit WHERE id >= 3");
	/* The chain alone cannot tell. */
	assert_int_equal(verify(buf, sizeof(buf), &rows), 0);
	assert_int_equal(verify_end(buf, sizeof(buf), &r), 1);
	assert_int_equal(r.missing, 2);
	assert_int_equal(r.last_id, 2);
	assert_non_null(strstr(buf, "audit rows 3..4: missing from the end"
	    " (deleted): "));
	assert_non_null(strstr(buf, "names row 4, the trail ends at row 2;"
	    " 2 row(s) are gone\n"));
	sql("DELETE FROM audit");
	assert_int_equal(verify_end(buf, sizeof(buf), &r), 1);
	assert_non_null(strstr(buf, "the trail is empty; 4 row(s) are gone"));
}

static void
test_anchor_restore_starts_over(void **state)
{
	struct audit_anchor a = { .kind = AUDIT_ANCHOR_RESTORE, .id = 2,
	    .rows = 2, .time = "T" };
	char buf[4096], *path = audit_anchor_path(dbpath);
	sqlite3 *db;
	sqlite3_stmt *st;
	struct audit_end r;
	struct err e;
	int fd;

	fill(*state);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE"
	    " id = 2", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(a.hash, sizeof(a.hash), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* A torn last line first: the next entry must start on its own. */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "head id=9", 9), 9);
	close(fd);
	fd = audit_anchor_open(path, &e);
	assert_true(fd >= 0);
	assert_int_equal(audit_anchor_write(fd, path, &a, "/b.db", &e), 0);
	close(fd);
	sql("DELETE FROM audit WHERE id >= 3");
	assert_int_equal(verify_end(buf, sizeof(buf), &r), 0);
	assert_true(r.restored);
	assert_int_equal(r.entries, 1);
	assert_int_equal(r.skipped, 1);
	assert_non_null(strstr(buf, "is not an anchor entry: ignored"));
	sql("DELETE FROM audit WHERE id = 2");
	assert_int_equal(verify_end(buf, sizeof(buf), &r), 1);
	assert_int_equal(r.missing, 1);
	free(path);
}

static void
test_anchor_missing_is_no_error(void **state)
{
	char buf[4096], *path = audit_anchor_path(dbpath);
	struct audit_end r;

	fill(*state);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(verify_end(buf, sizeof(buf), &r), 0);
	assert_false(r.anchored);
	assert_int_equal(r.last_id, 4);
	free(path);
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
		cmocka_unit_test(test_anchor_lines_parse),
		cmocka_unit_test_setup_teardown(test_anchor_follows_the_head,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_catches_a_cut_end,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_restore_starts_over,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_missing_is_no_error,
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
