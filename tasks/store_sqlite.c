/*
 * store_sqlite.c - the SQLite backend of the work queue.
 *
 * Two connections: the writer's (used only by the queue's writer thread,
 * inside the transactions queue.c opens) and a reader's (behind a mutex,
 * for the API). WAL mode lets the reader see the last commit while the
 * writer works.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "store_rules.h"

/*
 * Schema migrations: migrations[i] turns a version i + 1 database into
 * version i + 2. A new schema change is one more entry at the end (and the
 * same change in schema_sql, which a new database is made from); the
 * version is the number of entries plus one.
 */
static const char *migrations[] = {
	/* 2: escalations can be assigned. */
	"ALTER TABLE escalations ADD COLUMN assignee TEXT;",
	/* 3: an escalation of an item escalated before links back to the
	 * one before it. */
	"ALTER TABLE escalations ADD COLUMN previous INTEGER;",
	/* 4: every failed attempt of a step, with its error. */
	"CREATE TABLE IF NOT EXISTS failures("
	" id INTEGER PRIMARY KEY,"
	" item INTEGER NOT NULL,"
	" step_id TEXT,"
	" attempt INTEGER NOT NULL,"
	" at INTEGER NOT NULL,"
	" kind INTEGER NOT NULL,"
	" reason TEXT,"
	" message TEXT);"
	"CREATE INDEX IF NOT EXISTS failures_item ON failures(item, id);",
	/* 5: the last slot each cron / interval playbook fired for, so the
	 * firings missed while clerkd was down can be found (one that fired
	 * only before it has its timer items instead: sq_trigger_slot). */
	"CREATE TABLE IF NOT EXISTS trigger_slots("
	" playbook TEXT PRIMARY KEY,"
	" slot INTEGER NOT NULL) WITHOUT ROWID;",
	/* 6: a playbook paused by a supervisor stays paused across
	 * restarts. */
	"CREATE TABLE IF NOT EXISTS playbook_state("
	" playbook TEXT PRIMARY KEY,"
	" paused INTEGER NOT NULL,"
	" by TEXT,"
	" at INTEGER NOT NULL,"
	" reason TEXT) WITHOUT ROWID;",
};
#define SCHEMA_VERSION \
	((int)(sizeof(migrations) / sizeof(migrations[0])) + 1)

/* The list's filters, each with the open queue's order behind it, so a
 * filtered first page at 100k open escalations reads one index range. */
static const char *index_sql =
	"CREATE INDEX IF NOT EXISTS esc_open_assignee ON"
	" escalations(assignee, due, id) WHERE state = 'open';"
	"CREATE INDEX IF NOT EXISTS esc_open_pb ON"
	" escalations(playbook, due, id) WHERE state = 'open';"
	"CREATE INDEX IF NOT EXISTS esc_open_reason ON"
	" escalations(reason, due, id) WHERE state = 'open';"
	/* Playbook and reason together, the UI's usual pair: without it a
	 * rare pair reads every open row of the reason. */
	"CREATE INDEX IF NOT EXISTS esc_open_pb_reason ON"
	" escalations(playbook, reason, due, id) WHERE state = 'open';";

static const char *schema_sql =
	"CREATE TABLE IF NOT EXISTS items("
	" id INTEGER PRIMARY KEY,"
	" key TEXT NOT NULL,"
	" playbook TEXT NOT NULL,"
	" pb_hash TEXT NOT NULL,"
	" priority INTEGER NOT NULL DEFAULT 0,"
	" not_before INTEGER NOT NULL,"
	" payload TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" owner TEXT,"
	" lease_expires INTEGER,"
	" last_error TEXT,"
	" last_error_kind INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" UNIQUE(playbook, key));"
	/* Only runnable items are in this index, already in claim order. */
	"CREATE INDEX IF NOT EXISTS items_ready ON items"
	" (playbook, priority DESC, not_before, id) WHERE state IN (0, 2);"
	"CREATE INDEX IF NOT EXISTS items_leased ON items(lease_expires)"
	" WHERE state = 1;"
	"CREATE INDEX IF NOT EXISTS items_pb_state ON items(playbook, state);"
	"CREATE TABLE IF NOT EXISTS steps("
	" item INTEGER NOT NULL,"
	" step_id TEXT NOT NULL,"
	" pb_hash TEXT NOT NULL,"
	" output TEXT NOT NULL,"
	" finished INTEGER NOT NULL,"
	" ms INTEGER NOT NULL,"
	" PRIMARY KEY(item, step_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS escalations("
	" id INTEGER PRIMARY KEY,"
	" item INTEGER NOT NULL,"
	" playbook TEXT NOT NULL,"
	" step_id TEXT,"
	" kind INTEGER NOT NULL,"
	" reason TEXT NOT NULL,"
	" message TEXT NOT NULL,"
	" context TEXT,"
	" created INTEGER NOT NULL,"
	" due INTEGER,"
	" state TEXT NOT NULL DEFAULT 'open',"
	" decision TEXT,"
	" decided_by TEXT,"
	" decided_at INTEGER,"
	" decision_reason TEXT,"
	" claimed_by TEXT,"
	" claim_expires INTEGER,"
	" assignee TEXT,"
	" previous INTEGER);"
	"CREATE INDEX IF NOT EXISTS esc_open ON escalations(due, id)"
	" WHERE state = 'open';"
	"CREATE INDEX IF NOT EXISTS esc_item ON escalations(item);"
	/* Reviewers' notes on an escalation, in the order written. */
	"CREATE TABLE IF NOT EXISTS escalation_comments("
	" id INTEGER PRIMARY KEY,"
	" escalation INTEGER NOT NULL,"
	" ts INTEGER NOT NULL,"
	" author TEXT NOT NULL,"
	" text TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS esc_comments ON"
	" escalation_comments(escalation, id);"
	/* Every failed attempt of a step: what item show lists. */
	"CREATE TABLE IF NOT EXISTS failures("
	" id INTEGER PRIMARY KEY,"
	" item INTEGER NOT NULL,"
	" step_id TEXT,"
	" attempt INTEGER NOT NULL,"
	" at INTEGER NOT NULL,"
	" kind INTEGER NOT NULL,"
	" reason TEXT,"
	" message TEXT);"
	"CREATE INDEX IF NOT EXISTS failures_item ON failures(item, id);"
	/* The last slot each timer playbook fired for (sched catch-up);
	 * kept apart from the items so cancelling one changes nothing. */
	"CREATE TABLE IF NOT EXISTS trigger_slots("
	" playbook TEXT PRIMARY KEY,"
	" slot INTEGER NOT NULL) WITHOUT ROWID;"
	/* Web sessions, by the SHA-256 of the cookie (auth.c). */
	"CREATE TABLE IF NOT EXISTS sessions("
	" key TEXT PRIMARY KEY,"
	" csrf TEXT NOT NULL,"
	" user TEXT NOT NULL,"
	" last INTEGER NOT NULL) WITHOUT ROWID;"
	/* Paused playbooks: no new claims until resumed (scheduler.c). */
	"CREATE TABLE IF NOT EXISTS playbook_state("
	" playbook TEXT PRIMARY KEY,"
	" paused INTEGER NOT NULL,"
	" by TEXT,"
	" at INTEGER NOT NULL,"
	" reason TEXT) WITHOUT ROWID;;"
	/* Append-only and hash-chained (audit.h). */
	"CREATE TABLE IF NOT EXISTS audit("
	" id INTEGER PRIMARY KEY,"
	" ts INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" target TEXT,"
	" details TEXT,"
	" prev_hash TEXT NOT NULL,"
	" hash TEXT NOT NULL);";

enum {
	S_ENQ_FIND, S_ENQ_INSERT,
	S_CLAIM_EXPIRE, S_CLAIM_SELECT, S_CLAIM_UPDATE, S_STEPS_OF,
	S_STEP_INSERT, S_STEP_ADVANCE, S_STEP_FINISH,
	S_FAIL_RETRY, S_FAIL_STATE, S_FAIL_LOG, S_ESC_INSERT,
	S_RELEASE, S_RENEW, S_RECOVER,
	S_ESC_FIND, S_ESC_DECIDE, S_ITEM_STATE, S_ITEM_REQUEUE, S_ITEM_SET_STATE,
	S_ITEM_PATCH, S_ITEM_UNAPPROVE, S_ITEM_WAIT_SET, S_ITEM_WAIT_END,
	S_ESC_CLOSE_ITEM,
	S_SAVEPOINT, S_ROLLBACK_TO, S_RELEASE_SP, S_AUDIT_INSERT,
	S_ESC_HOLDER, S_ESC_SET_CLAIM,
	S_ESC_ASSIGNEE, S_ESC_SET_ASSIGNEE, S_ESC_COMMENT_INSERT,
	S_SESSION_SAVE, S_SESSION_FORGET, S_SLOT_MARK,
	S_PB_STATE, S_PB_SET_STATE,
	NSTMT
};

static const char *stmt_sql[NSTMT] = {
	[S_ENQ_FIND] = "SELECT id FROM items WHERE playbook = ?1 AND key = ?2",
	[S_ENQ_INSERT] = "INSERT INTO items(key, playbook, pb_hash, priority,"
	    " not_before, payload, state, created, updated)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)"
	    " ON CONFLICT(playbook, key) DO NOTHING",
	[S_CLAIM_EXPIRE] = "UPDATE items SET state = 0, owner = NULL,"
	    " updated = ?1 WHERE state = 1 AND lease_expires < ?1",
	/* A paused playbook's items are not handed out, whoever asks (the
	 * scheduler does not ask; another clerkd on a shared store might).
	 * The NOT EXISTS is uncorrelated: one primary-key lookup per claim. */
	[S_CLAIM_SELECT] = "SELECT id, key, playbook, pb_hash, priority,"
	    " not_before, payload, attempts, created FROM items"
	    " WHERE playbook = ?1 AND state IN (0, 2) AND not_before <= ?2"
	    " AND NOT EXISTS (SELECT 1 FROM playbook_state"
	    " WHERE playbook = ?1 AND paused != 0)"
	    " ORDER BY priority DESC, not_before, id LIMIT ?3",
	[S_CLAIM_UPDATE] = "UPDATE items SET state = 1, owner = ?2,"
	    " lease_expires = ?3, updated = ?4 WHERE id = ?1",
	[S_STEPS_OF] = "SELECT step_id, output FROM steps WHERE item = ?1"
	    " ORDER BY finished",
	/* A group commit stamps every record with one time, so two steps of
	 * an item can finish "at once"; finished is kept strictly increasing
	 * per item so the journal reads back in the order it was written. */
	[S_STEP_INSERT] = "INSERT INTO steps(item, step_id, pb_hash, output,"
	    " finished, ms) VALUES(?1, ?2, ?3, ?4, max(?5, coalesce((SELECT"
	    " max(finished) + 1 FROM steps WHERE item = ?1), ?5)), ?6)",
	[S_STEP_ADVANCE] = "UPDATE items SET attempts = 0, updated = ?2,"
	    " pb_hash = ?3 WHERE id = ?1 AND state = 1"
	    " AND (?4 IS NULL OR owner = ?4)",
	[S_STEP_FINISH] = "UPDATE items SET attempts = 0, state = 4,"
	    " owner = NULL, updated = ?2, last_error = NULL,"
	    " last_error_kind = 0, pb_hash = coalesce(?4, pb_hash)"
	    " WHERE id = ?1 AND state = 1 AND (?3 IS NULL OR owner = ?3)",
	[S_FAIL_RETRY] = "UPDATE items SET state = 2, attempts = attempts + 1,"
	    " not_before = ?2, last_error = ?3, last_error_kind = ?4,"
	    " owner = NULL, updated = ?5 WHERE id = ?1 AND state = 1"
	    " AND (?6 IS NULL OR owner = ?6)",
	[S_FAIL_STATE] = "UPDATE items SET state = ?2, last_error = ?3,"
	    " last_error_kind = ?4, owner = NULL, updated = ?5"
	    " WHERE id = ?1 AND state = 1 AND (?6 IS NULL OR owner = ?6)",
	[S_FAIL_LOG] = "INSERT INTO failures(item, step_id, attempt, at, kind,"
	    " reason, message) SELECT ?1, ?2, attempts + 1, ?3, ?4, ?5, ?6"
	    " FROM items WHERE id = ?1",
	[S_ESC_INSERT] = "INSERT INTO escalations(item, playbook, step_id,"
	    " kind, reason, message, context, created, due, previous)"
	    " SELECT ?1, playbook, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT"
	    " max(id) FROM escalations WHERE item = ?1) FROM items"
	    " WHERE id = ?1",
	[S_RELEASE] = "UPDATE items SET state = 0, owner = NULL,"
	    " not_before = ?2, updated = ?3 WHERE id = ?1 AND state = 1",
	[S_RENEW] = "UPDATE items SET lease_expires = ?2"
	    " WHERE state = 1 AND owner = ?1 AND (?3 IS NULL OR id IN"
	    " (SELECT value FROM json_each(?3)))",
	[S_RECOVER] = "UPDATE items SET state = 0, owner = NULL,"
	    " updated = ?1 WHERE state = 1 AND (?2 IS NULL OR owner = ?2)",
	[S_ESC_FIND] = "SELECT item, step_id, state, decision, decided_by"
	    " FROM escalations WHERE id = ?1",
	[S_ESC_DECIDE] = "UPDATE escalations SET state = 'decided',"
	    " decision = ?2, decided_by = ?3, decided_at = ?4,"
	    " decision_reason = ?5 WHERE id = ?1 AND state = 'open'",
	[S_ITEM_STATE] = "SELECT state FROM items WHERE id = ?1",
	[S_ITEM_REQUEUE] = "UPDATE items SET state = 0, attempts = 0,"
	    " not_before = ?2, updated = ?2, owner = NULL WHERE id = ?1",
	[S_ITEM_SET_STATE] = "UPDATE items SET state = ?2, updated = ?3,"
	    " owner = NULL, last_error = coalesce(?4, last_error)"
	    " WHERE id = ?1",
	[S_ITEM_PATCH] = "UPDATE items SET payload = json_patch(payload, ?2)"
	    " WHERE id = ?1",
	[S_ITEM_UNAPPROVE] = "UPDATE items SET payload = json_remove(payload,"
	    " '$._approved.\"' || ?2 || '\"') WHERE id = ?1 AND"
	    " json_type(payload, '$._approved.\"' || ?2 || '\"') IS NOT NULL",
	/* The wait an item is in (scheduler.c): in the payload, beside
	 * _approved, so no schema change is needed for it. */
	[S_ITEM_WAIT_SET] = "UPDATE items SET payload = json_set(payload,"
	    " '$._waiting', json(?2)) WHERE id = ?1",
	[S_ITEM_WAIT_END] = "UPDATE items SET payload = json_remove(payload,"
	    " '$._waiting') WHERE id = ?1 AND"
	    " json_type(payload, '$._waiting') IS NOT NULL",
	/* Prepared once: exec would parse them again for every request. */
	[S_AUDIT_INSERT] = "INSERT INTO audit(id, ts, actor, action, target,"
	    " details, prev_hash, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_ESC_HOLDER] = "SELECT state, claimed_by, claim_expires FROM"
	    " escalations WHERE id = ?1",
	[S_ESC_SET_CLAIM] = "UPDATE escalations SET claimed_by = ?2,"
	    " claim_expires = ?3 WHERE id = ?1",
	[S_ESC_ASSIGNEE] = "SELECT state, assignee, claimed_by, claim_expires"
	    " FROM escalations WHERE id = ?1",
	/* A live claim goes with the escalation to its new assignee. */
	[S_ESC_SET_ASSIGNEE] = "UPDATE escalations SET assignee = ?2,"
	    " claimed_by = CASE WHEN claimed_by IS NOT NULL AND"
	    " claim_expires > ?3 THEN ?2 END,"
	    " claim_expires = CASE WHEN claimed_by IS NOT NULL AND"
	    " claim_expires > ?3 THEN claim_expires END WHERE id = ?1",
	[S_ESC_COMMENT_INSERT] = "INSERT INTO escalation_comments(escalation,"
	    " ts, author, text) SELECT id, ?2, ?3, ?4 FROM escalations"
	    " WHERE id = ?1",
	[S_SESSION_SAVE] = "INSERT INTO sessions(key, csrf, user, last)"
	    " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(key) DO UPDATE SET"
	    " last = excluded.last",
	[S_SESSION_FORGET] = "DELETE FROM sessions WHERE key = ?1",
	[S_SLOT_MARK] = "INSERT INTO trigger_slots(playbook, slot)"
	    " VALUES(?1, ?2) ON CONFLICT(playbook) DO UPDATE SET"
	    " slot = max(slot, excluded.slot)",
	[S_PB_STATE] = "SELECT paused, by, at FROM playbook_state"
	    " WHERE playbook = ?1",
	/* A resume keeps the row (paused 0, who resumed and when); the
	 * audit trail has the history. */
	[S_PB_SET_STATE] = "INSERT INTO playbook_state(playbook, paused, by,"
	    " at, reason) VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(playbook)"
	    " DO UPDATE SET paused = excluded.paused, by = excluded.by,"
	    " at = excluded.at, reason = excluded.reason",
	[S_SAVEPOINT] = "SAVEPOINT req",
	[S_ROLLBACK_TO] = "ROLLBACK TO req",
	[S_RELEASE_SP] = "RELEASE req",
	[S_ESC_CLOSE_ITEM] = "UPDATE escalations SET state = 'decided',"
	    " decision = ?2, decided_by = ?3, decided_at = ?4"
	    " WHERE item = ?1 AND state = 'open'",
};

struct sqlite_store {
	sqlite3 *w;                 /* writer thread only */
	sqlite3_stmt *st[NSTMT];
	int64_t audit_id;           /* the chain's last row, as committed */
	char audit_hash[65];
	int64_t audit_rows;
	int64_t anchored_id;        /* the head last written to the anchor */
	char *anchor_path;          /* DATABASE.audit-anchor */
	int anchor_fd;              /* opened at the first write; -1 before */
	bool anchor_failing;        /* the last write failed (logged once) */
	sqlite3 *r;                 /* reads, under rlock */
	pthread_mutex_t rlock;
	char *path;
};

static void
db_err(struct err *e, sqlite3 *db, const char *what)
{
	int rc = sqlite3_extended_errcode(db) & 0xff;
	enum err_code code = ERR_FAIL;
	const char *hint = "";

	switch (rc) {
	case SQLITE_FULL:
		code = ERR_UNAVAILABLE;
		hint = "; free disk space, nothing was lost and work resumes"
		    " once writes succeed";
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = ERR_UNAVAILABLE;
		hint = "; another process holds the database lock";
		break;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
	case SQLITE_PERM:
		code = ERR_UNAVAILABLE;
		hint = "; check the database file's permissions and disk";
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		hint = "; the database is damaged: stop clerkd, move it aside"
		    " and restore the last `clerkctl backup`";
		break;
	}
	err_setc(e, code, "database %s: %s: %s%s", sqlite3_db_filename(db,
	    "main") ? sqlite3_db_filename(db, "main") : "", what,
	    sqlite3_errmsg(db), hint);
}

static int
exec_sql(sqlite3 *db, const char *sql, struct err *e)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		db_err(e, db, sql);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static sqlite3 *
open_conn(const char *path, int flags, bool durable, struct err *e)
{
	sqlite3 *db = NULL;
	char pragmas[256];

	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL)
	    != SQLITE_OK) {
		err_setc(e, ERR_UNAVAILABLE, "database %s: cannot open: %s",
		    path, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	snprintf(pragmas, sizeof(pragmas),
	    "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
	    " PRAGMA foreign_keys=OFF; PRAGMA cache_size=-16000;",
	    durable ? "FULL" : "NORMAL");
	if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		db_err(e, db, "setting up WAL mode");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* The chain's head as the database has it. */
static int
audit_load(struct sqlite_store *s, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	s->audit_id = 0;
	s->audit_rows = 0;
	snprintf(s->audit_hash, sizeof(s->audit_hash), "%s", AUDIT_GENESIS);
	if (sqlite3_prepare_v2(s->w, "SELECT id, hash, (SELECT count(*) FROM"
	    " audit) FROM audit ORDER BY id DESC LIMIT 1", -1, &st, NULL)
	    != SQLITE_OK) {
		db_err(e, s->w, "reading the audit trail");
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		s->audit_id = sqlite3_column_int64(st, 0);
		snprintf(s->audit_hash, sizeof(s->audit_hash), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		s->audit_rows = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(e, s->w, "reading the audit trail");
		return -1;
	}
	return 0;
}

/* An older database brought up step by step. */
static int
migrate(sqlite3 *db, int version, struct err *e)
{
	if (version == 0)
		return 0;
	for (int v = version; v < SCHEMA_VERSION; v++)
		if (exec_sql(db, migrations[v - 1], e) < 0)
			return -1;
	return 0;
}

static int
set_version(sqlite3 *db, struct err *e)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	return exec_sql(db, sql, e);
}

/* Copies db (connection c) to dest, mode 0600 (it is personal data), with
 * SQLite's backup API in steps so a writer is never blocked for long. */
static int
copy_db(sqlite3 *c, const char *dest, struct err *e)
{
	sqlite3 *d = NULL;
	sqlite3_backup *b;
	int rc;

	if (sqlite3_open_v2(dest, &d, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		err_set(e, "%s: cannot open: %s", dest,
		    d ? sqlite3_errmsg(d) : "out of memory");
		sqlite3_close(d);
		return -1;
	}
	if ((b = sqlite3_backup_init(d, "main", c, "main")) == NULL) {
		err_set(e, "%s: %s", dest, sqlite3_errmsg(d));
		sqlite3_close(d);
		return -1;
	}
	do {
		rc = sqlite3_backup_step(b, 256);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(10);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		err_set(e, "%s: %s", dest, sqlite3_errstr(rc));
		sqlite3_close(d);
		return -1;
	}
	if (sqlite3_close(d) != SQLITE_OK || chmod(dest, 0600) < 0) {
		err_set(e, "%s: cannot finish: %s", dest, strerror(errno));
		return -1;
	}
	return 0;
}

static int
read_version(sqlite3 *db, int *version, struct err *e)
{
	sqlite3_stmt *v = NULL;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, NULL)
	    != SQLITE_OK || sqlite3_step(v) != SQLITE_ROW) {
		db_err(e, db, "reading the schema version");
		sqlite3_finalize(v);
		return -1;
	}
	*version = sqlite3_column_int(v, 0);
	sqlite3_finalize(v);
	return 0;
}

/*
 * Before the opening transaction: an older database is copied to
 * PATH.schema-N.bak, the way back if the new clerk must be rolled back.
 * (SQLite's backup cannot read through a connection holding the write
 * lock, hence before; check_and_migrate reads the version again.)
 */
static int
backup_before_upgrade(sqlite3 *db, const char *path, struct err *e)
{
	int version;
	char *bak;

	if (read_version(db, &version, e) < 0)
		return -1;
	if (version == 0 || version >= SCHEMA_VERSION)
		return 0;
	bak = xasprintf("%s.schema-%d.bak", path, version);
	if (copy_db(db, bak, e) < 0) {
		char why[sizeof(e->msg)];

		snprintf(why, sizeof(why), "%s", e->msg);
		err_set(e, "database %s has schema version %d; before"
		    " upgrading it to %d this clerk backs it up, and that"
		    " failed: %s", path, version, SCHEMA_VERSION, why);
		free(bak);
		return -1;
	}
	log_info("database %s: schema %d -> %d; the version %d database is"
	    " kept at %s", path, version, SCHEMA_VERSION, version, bak);
	free(bak);
	return 0;
}

/* Inside the opening transaction, so two processes opening an old
 * database at once migrate it once: refuses a newer schema, brings an
 * older one up to this clerk's. A new database (version 0) is made whole
 * by schema_sql. */
static int
check_and_migrate(sqlite3 *db, const char *path, struct err *e)
{
	int version;

	if (read_version(db, &version, e) < 0)
		return -1;
	if (version > SCHEMA_VERSION) {
		err_set(e, "database %s has schema version %d, newer than this"
		    " clerk's (%d): it was opened by a newer clerk; run that"
		    " version, or to go back restore the %s.schema-%d.bak it"
		    " left when it migrated", path, version, SCHEMA_VERSION,
		    path, SCHEMA_VERSION);
		return -1;
	}
	if (version == 0 || version == SCHEMA_VERSION)
		return 0;
	return migrate(db, version, e);
}

/* One number from a query that returns one row, or -1 (e set). */
static int64_t
query_int(sqlite3 *db, const char *sql, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		db_err(e, db, sql);
	sqlite3_finalize(st);
	return n;
}

/* Gives path (and its -wal, -shm if there) to uid:gid, when it is not
 * theirs already: a root operator's restore must leave files clerkd's
 * user can open. */
static int
own(const char *path, uid_t uid, gid_t gid, struct err *e)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char *f = xasprintf("%s%s", path, suffix[i]);
		struct stat st;
		int rc = 0;

		if (stat(f, &st) == 0 && (st.st_uid != uid || st.st_gid != gid))
			rc = chown(f, uid, gid);
		if (rc < 0) {
			err_set(e, "%s: cannot give it to uid %ld: %s", f,
			    (long)uid, strerror(errno));
			free(f);
			return -1;
		}
		free(f);
	}
	return 0;
}

/* Checks that backup is a whole clerk database this clerk can open. */
static sqlite3 *
open_backup(const char *backup, struct restore_info *ri, struct err *e)
{
	sqlite3 *b = NULL;
	sqlite3_stmt *st = NULL;
	const char *verdict;
	int version;

	if (sqlite3_open_v2(backup, &b, SQLITE_OPEN_READONLY, NULL)
	    != SQLITE_OK) {
		err_set(e, "%s: cannot open: %s", backup,
		    b ? sqlite3_errmsg(b) : "out of memory");
		goto fail;
	}
	if (sqlite3_prepare_v2(b, "PRAGMA integrity_check(1)", -1, &st, NULL)
	    != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		err_set(e, "%s: not an SQLite database (%s); give a file"
		    " `clerkctl backup` wrote", backup, sqlite3_errmsg(b));
		goto fail;
	}
	verdict = (const char *)sqlite3_column_text(st, 0);
	if (verdict == NULL || strcmp(verdict, "ok") != 0) {
		err_set(e, "%s is damaged (integrity check: %s); restore an"
		    " earlier backup", backup, verdict ? verdict : "?");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (read_version(b, &version, e) < 0)
		goto fail;
	if (version == 0) {
		err_set(e, "%s is an SQLite database but not clerk's (it has"
		    " no schema version)", backup);
		goto fail;
	}
	if (version > SCHEMA_VERSION) {
		err_set(e, "%s has schema version %d, newer than this clerk's"
		    " (%d): restore it with the clerk that made it", backup,
		    version, SCHEMA_VERSION);
		goto fail;
	}
	ri->version = version;
	if ((ri->items = query_int(b, "SELECT count(*) FROM items", e)) < 0 ||
	    (ri->escalations = query_int(b,
	    "SELECT count(*) FROM escalations", e)) < 0 ||
	    (ri->audit_rows = query_int(b, "SELECT count(*) FROM audit",
	    e)) < 0)
		goto fail;
	snprintf(ri->audit_hash, sizeof(ri->audit_hash), "%s", AUDIT_GENESIS);
	if (sqlite3_prepare_v2(b, "SELECT id, hash FROM audit ORDER BY id DESC"
	    " LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		err_set(e, "%s: %s", backup, sqlite3_errmsg(b));
		goto fail;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		ri->audit_id = sqlite3_column_int64(st, 0);
		snprintf(ri->audit_hash, sizeof(ri->audit_hash), "%s",
		    (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return b;
fail:
	sqlite3_finalize(st);
	sqlite3_close(b);
	return NULL;
}

/*
 * The restore in the anchor, after the rename: written before it, a
 * failed rename would leave a restore that never happened on record. A
 * crash between the two leaves the older trail behind the anchor, which
 * verify reports; running the same restore again records it.
 */
static void
anchor_restore(const char *backup, const char *path, uid_t uid, gid_t gid,
    struct restore_info *ri)
{
	struct audit_anchor a = { .kind = AUDIT_ANCHOR_RESTORE,
	    .id = ri->audit_id, .rows = ri->audit_rows };
	char *anchor = audit_anchor_path(path);
	char *abs = realpath(backup, NULL);
	struct err e;
	int fd;

	err_clear(&e);
	memcpy(a.hash, ri->audit_hash, sizeof(a.hash));
	util_format_time(util_now_ms(), a.time, sizeof(a.time));
	if ((fd = audit_anchor_open(anchor, &e)) < 0 ||
	    audit_anchor_write(fd, anchor, &a, abs ? abs : backup, &e) < 0 ||
	    own(anchor, uid, gid, &e) < 0)
		ri->anchor_error = xstrdup(e.msg);
	if (fd >= 0)
		close(fd);
	free(abs);
	free(anchor);
}

int
store_sqlite_restore(const char *backup, const char *path,
    FILE *report, struct restore_info *ri, struct err *e)
{
	sqlite3 *b, *live = NULL;
	struct stat st, dir;
	char *tmp = NULL, *d, *dn;
	int64_t audit_rows;
	int problems, rc = -1;

	memset(ri, 0, sizeof(*ri));
	if (stat(backup, &st) == 0 && stat(path, &dir) == 0 &&
	    st.st_dev == dir.st_dev && st.st_ino == dir.st_ino) {
		err_set(e, "%s is the database itself; give a backup", backup);
		return -1;
	}
	if ((b = open_backup(backup, ri, e)) == NULL)
		return -1;
	/* A copy changed since clerk wrote it is no backup. */
	if ((problems = audit_verify(backup, report, &audit_rows, e)) != 0) {
		if (problems > 0)
			err_set(e, "%s: its audit trail of %lld row(s) has %d"
			    " problem(s): it is not as clerk wrote it", backup,
			    (long long)audit_rows, problems);
		sqlite3_close(b);
		return -1;
	}
	/* The restored file belongs to whoever owns the database's folder
	 * (the clerk user under systemd), not to the operator running this. */
	d = xstrdup(path);
	dn = dirname(d);
	if (stat(dn, &dir) < 0) {
		err_set(e, "%s: %s", dn, strerror(errno));
		free(d);
		goto out;
	}
	if (stat(path, &st) == 0) {
		/* The database being replaced is kept, whole: its WAL is
		 * folded in first, then it is copied like a backup. */
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S",
		    localtime_r(&now, &tm));
		ri->aside = xasprintf("%s.before-restore-%s", path, stamp);
		if ((live = open_conn(path, SQLITE_OPEN_READWRITE, true, e))
		    == NULL)
			goto out_dir;
		if (exec_sql(live, "PRAGMA wal_checkpoint(TRUNCATE)", e) < 0 ||
		    copy_db(live, ri->aside, e) < 0 ||
		    own(ri->aside, dir.st_uid, dir.st_gid, e) < 0)
			goto out_dir;
		sqlite3_close(live);
		live = NULL;
	}
	tmp = xasprintf("%s.restore-%ld", path, (long)getpid());
	if (copy_db(b, tmp, e) < 0 || own(tmp, dir.st_uid, dir.st_gid, e) < 0)
		goto out_dir;
	/* Nothing of the old database may be read with the new one: its
	 * (checkpointed, empty) WAL and shared memory go first. */
	for (int i = 0; i < 2; i++) {
		char *f = xasprintf("%s%s", path, i ? "-shm" : "-wal");

		if (unlink(f) < 0 && errno != ENOENT) {
			err_set(e, "%s: cannot remove it: %s", f,
			    strerror(errno));
			free(f);
			goto out_dir;
		}
		free(f);
	}
	if (rename(tmp, path) < 0) {
		err_set(e, "cannot put %s in place of %s: %s", tmp, path,
		    strerror(errno));
		goto out_dir;
	}
	free(tmp);
	tmp = NULL;
	{
		int fd = open(dn, O_RDONLY | O_DIRECTORY);

		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	anchor_restore(backup, path, dir.st_uid, dir.st_gid, ri);
	rc = 0;
out_dir:
	free(d);
out:
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	/* On failure the database is as it was; an aside copy already
	 * made stays (it is a good backup) and is named in ri. */
	sqlite3_close(live);
	sqlite3_close(b);
	return rc;
}

/*
 * A trail whose end was cut off while clerkd was stopped is said in the
 * log at start; clerkd keeps running (the queue is not the trail), and
 * the anchor keeps the entries that show it, so verify still does.
 */
static void
anchor_check(struct sqlite_store *s)
{
	struct audit_end end;
	struct err e;
	char *report = NULL, *line, *next;
	size_t len = 0;
	FILE *f = open_memstream(&report, &len);
	int problems;

	if (f == NULL)
		return;
	err_clear(&e);
	problems = audit_verify_end(s->path, s->anchor_path, f, &end, &e);
	fclose(f);
	if (problems < 0)
		log_error("cannot check the audit trail's end: %s", e.msg);
	for (line = report; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "note: ", 6) == 0)
			log_warn("%s", line + 6);
		else
			log_error("%s; run `clerkctl audit verify`", line);
	}
	free(report);
}

static void *
sq_open(const char *path, const struct queue_opts *o, struct err *e)
{
	struct sqlite_store *s = xcalloc(1, sizeof(*s));

	s->path = xstrdup(path);
	s->anchor_path = audit_anchor_path(path);
	s->anchor_fd = -1;
	pthread_mutex_init(&s->rlock, NULL);
	s->w = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    o->durable, e);
	if (s->w == NULL)
		goto fail;
	if (backup_before_upgrade(s->w, path, e) < 0)
		goto fail;
	if (exec_sql(s->w, "BEGIN IMMEDIATE", e) < 0 ||
	    check_and_migrate(s->w, path, e) < 0 ||
	    exec_sql(s->w, schema_sql, e) < 0 ||
	    exec_sql(s->w, index_sql, e) < 0 ||
	    set_version(s->w, e) < 0 ||
	    exec_sql(s->w, "COMMIT", e) < 0) {
		sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	for (int i = 0; i < NSTMT; i++) {
		if (sqlite3_prepare_v3(s->w, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
			db_err(e, s->w, "preparing statements");
			goto fail;
		}
	}
	if (audit_load(s, e) < 0)
		goto fail;
	/* Opening writes nothing to the anchor (clerkctl backup opens the
	 * live database too); the next commit with audit rows does. */
	s->anchored_id = s->audit_id;
	anchor_check(s);
	s->r = open_conn(path, SQLITE_OPEN_READONLY, o->durable, e);
	if (s->r == NULL)
		goto fail;
	return s;
fail:
	for (int i = 0; i < NSTMT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->w);
	free(s->anchor_path);
	free(s->path);
	free(s);
	return NULL;
}

static void
sq_close(void *p)
{
	struct sqlite_store *s = p;

	if (s == NULL)
		return;
	for (int i = 0; i < NSTMT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->w);
	sqlite3_close(s->r);
	if (s->anchor_fd >= 0)
		close(s->anchor_fd);
	pthread_mutex_destroy(&s->rlock);
	free(s->anchor_path);
	free(s->path);
	free(s);
}

static int
sq_begin(void *p, struct err *e)
{
	struct sqlite_store *s = p;

	return exec_sql(s->w, "BEGIN IMMEDIATE", e);
}

/*
 * The committed head to the anchor file and the log, after the commit:
 * a crash in between leaves the database ahead of the anchor, which
 * audit_verify_end accepts; the other order could anchor rows that were
 * never committed. The commit stands whatever happens here, so a failed
 * write is logged (once) and tried again at the next commit with audit
 * rows.
 */
static void
anchor_head(struct sqlite_store *s)
{
	struct audit_anchor a = { .kind = AUDIT_ANCHOR_HEAD,
	    .id = s->audit_id, .rows = s->audit_rows };
	char line[256];
	struct err e;

	err_clear(&e);
	memcpy(a.hash, s->audit_hash, sizeof(a.hash));
	util_format_time(util_now_ms(), a.time, sizeof(a.time));
	if (s->anchor_fd < 0)
		s->anchor_fd = audit_anchor_open(s->anchor_path, &e);
	if (s->anchor_fd < 0 || audit_anchor_write(s->anchor_fd,
	    s->anchor_path, &a, NULL, &e) < 0) {
		if (!s->anchor_failing)
			log_error("%s; the audit trail's end is not anchored"
			    " until it can be written (tried again at the next"
			    " audit row)", e.msg);
		s->anchor_failing = true;
		if (s->anchor_fd >= 0)
			close(s->anchor_fd);
		s->anchor_fd = -1;
		return;
	}
	if (s->anchor_failing)
		log_info("audit anchor %s: written again", s->anchor_path);
	s->anchor_failing = false;
	s->anchored_id = s->audit_id;
	/* The journal's copy: a third witness beside the database and the
	 * anchor file, in the form of the anchor line. */
	audit_anchor_format(&a, NULL, line, sizeof(line));
	line[strcspn(line, "\n")] = '\0';
	log_info("audit anchor: %s", line);
}

static int
sq_commit(void *p, struct err *e)
{
	struct sqlite_store *s = p;

	if (exec_sql(s->w, "COMMIT", e) < 0)
		return -1;
	/* Work items write no audit rows: for them this is one compare. */
	if (s->audit_id != s->anchored_id)
		anchor_head(s);
	return 0;
}

static void
sq_rollback(void *p)
{
	struct sqlite_store *s = p;

	if (!sqlite3_get_autocommit(s->w))
		sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
	/* Rows appended in the lost transaction are gone: so is their head. */
	if (audit_load(s, NULL) < 0)
		log_error("cannot read the audit trail's head after a rollback");
}

/* Binds arguments by a tiny format: i = int64, t = text (NULL ok). */
static sqlite3_stmt *
bind(struct sqlite_store *s, int which, const char *fmt, ...)
{
	sqlite3_stmt *st = s->st[which];
	va_list ap;
	int i = 1;

	/* A format that does not fit the statement is a bug in this file,
	 * never bad input. */
	if ((int)strlen(fmt) != sqlite3_bind_parameter_count(st))
		fatal("store_sqlite: statement %d takes %d parameters, not %zu",
		    which, sqlite3_bind_parameter_count(st), strlen(fmt));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	va_start(ap, fmt);
	for (const char *f = fmt; *f != '\0'; f++, i++) {
		if (*f == 'i')
			sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
		else {
			const char *t = va_arg(ap, const char *);

			if (t == NULL)
				sqlite3_bind_null(st, i);
			else
				sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
		}
	}
	va_end(ap);
	return st;
}

/* Runs a statement that returns no rows; -1 on error. */
static int
run(struct sqlite_store *s, sqlite3_stmt *st, struct err *e)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_err(e, s->w, "write");
		return -1;
	}
	return 0;
}

/* Appends a row to the audit chain inside the open transaction. */
static int
audit_append(struct sqlite_store *s, int64_t now, const char *actor,
    const char *action, const char *target, const char *details,
    struct err *e)
{
	char h[65];
	int64_t id = s->audit_id + 1;

	audit_hash(s->audit_hash, id, now, actor, action, target, details, h);
	if (run(s, bind(s, S_AUDIT_INSERT, "iitttttt", id, now, actor ? actor :
	    "unknown", action, target, details, s->audit_hash, h), e) < 0)
		return -1;
	s->audit_id = id;
	s->audit_rows++;
	memcpy(s->audit_hash, h, sizeof(h));
	return 0;
}

static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? xstrdup((const char *)t) : NULL;
}

static int
load_steps(struct sqlite_store *s, struct item *it, struct err *e)
{
	sqlite3_stmt *st = bind(s, S_STEPS_OF, "i", it->id);
	size_t cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (it->nsteps == cap) {
			cap = cap ? cap * 2 : 4;
			it->steps = xrealloc(it->steps, cap * sizeof(*it->steps));
		}
		it->steps[it->nsteps].step_id = col_text(st, 0);
		it->steps[it->nsteps].output = col_text(st, 1);
		it->nsteps++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_err(e, s->w, "reading the step journal");
		return -1;
	}
	return 0;
}

static int
do_enqueue(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	sqlite3_stmt *st;
	int rc;

	/* Insert first: a new key is the common case, and the unique index
	 * answers the duplicate question on the way. */
	st = bind(s, S_ENQ_INSERT, "tttiiti", r->u.enqueue.key,
	    r->u.enqueue.playbook, r->u.enqueue.pb_hash,
	    (int64_t)r->u.enqueue.priority,
	    r->u.enqueue.not_before ? r->u.enqueue.not_before : now,
	    r->u.enqueue.payload ? r->u.enqueue.payload : "{}", now);
	if (run(s, st, &r->err) < 0)
		return -1;
	if (sqlite3_changes(s->w) == 1) {
		r->u.enqueue.id = sqlite3_last_insert_rowid(s->w);
		r->u.enqueue.dup = false;
		/* In the item's own transaction: a slot is marked fired
		 * exactly when its item is on disk. */
		if (r->u.enqueue.slot > 0 && run(s, bind(s, S_SLOT_MARK, "ti",
		    r->u.enqueue.playbook, r->u.enqueue.slot), &r->err) < 0)
			return -1;
		return 0;
	}
	st = bind(s, S_ENQ_FIND, "tt", r->u.enqueue.playbook, r->u.enqueue.key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->u.enqueue.id = sqlite3_column_int64(st, 0);
		r->u.enqueue.dup = true;
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	db_err(&r->err, s->w, "enqueue");
	return -1;
}

static int
do_claim(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	sqlite3_stmt *st;
	struct item **items;
	int n = 0, rc;

	r->u.claim.items = NULL;
	r->u.claim.n = 0;
	if (r->u.claim.max <= 0 || r->u.claim.max > 100000) {
		err_setc(&r->err, ERR_INVALID, "claim: max must be 1..100000,"
		    " not %d", r->u.claim.max);
		return -1;
	}
	if (run(s, bind(s, S_CLAIM_EXPIRE, "i", now), &r->err) < 0)
		return -1;
	if (sqlite3_changes(s->w) > 0)
		log_warn("%d item(s) whose lease expired returned to the queue",
		    sqlite3_changes(s->w));
	items = xcalloc((size_t)r->u.claim.max, sizeof(*items));
	st = bind(s, S_CLAIM_SELECT, "tii", r->u.claim.playbook, now,
	    (int64_t)r->u.claim.max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct item *it = xcalloc(1, sizeof(*it));

		it->id = sqlite3_column_int64(st, 0);
		it->key = col_text(st, 1);
		it->playbook = col_text(st, 2);
		it->pb_hash = col_text(st, 3);
		it->priority = sqlite3_column_int(st, 4);
		it->not_before = sqlite3_column_int64(st, 5);
		it->payload = col_text(st, 6);
		it->attempts = sqlite3_column_int(st, 7);
		it->created = sqlite3_column_int64(st, 8);
		it->state = ITEM_RUNNING;
		it->lease_expires = now + r->u.claim.lease_ms;
		items[n++] = it;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_err(&r->err, s->w, "claim");
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		st = bind(s, S_CLAIM_UPDATE, "itii", items[i]->id,
		    r->u.claim.owner, items[i]->lease_expires, now);
		if (run(s, st, &r->err) < 0 || load_steps(s, items[i], &r->err) < 0)
			goto fail;
	}
	r->u.claim.items = items;
	r->u.claim.n = n;
	return 0;
fail:
	for (int i = 0; i < n; i++)
		item_free(items[i]);
	free(items);
	return -1;
}

/* -1 with a conflict error when the item is not (or no longer) running. */
static int
require_changed(struct sqlite_store *s, struct qreq *r, int64_t item,
    const char *what)
{
	if (sqlite3_changes(s->w) == 1)
		return 0;
	err_setc(&r->err, ERR_CONFLICT, "item %lld is not running here any"
	    " more (its lease expired, or it was released or cancelled); %s"
	    " discarded",
	    (long long)item, what);
	return -1;
}

static int
do_step_done(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.step_done.item;

	if (r->u.step_done.step_id != NULL) {
		/* The last step's finish below updates the row anyway. */
		if (!r->u.step_done.final && (run(s, bind(s, S_STEP_ADVANCE,
		    "iitt", id, now, r->u.step_done.pb_hash,
		    r->u.step_done.owner), &r->err) < 0 ||
		    require_changed(s, r, id, "step result") < 0))
			return -1;
		if (run(s, bind(s, S_STEP_INSERT, "itttii", id,
		    r->u.step_done.step_id, r->u.step_done.pb_hash,
		    r->u.step_done.output ? r->u.step_done.output : "{}", now,
		    r->u.step_done.ms), &r->err) < 0)
			return -1;
	}
	if (r->u.step_done.final) {
		if (run(s, bind(s, S_STEP_FINISH, "iitt", id, now,
		    r->u.step_done.owner, r->u.step_done.pb_hash), &r->err) < 0 ||
		    require_changed(s, r, id, "completion") < 0)
			return -1;
	}
	if (r->u.step_done.end_wait)
		return run(s, bind(s, S_ITEM_WAIT_END, "i", id), &r->err);
	return 0;
}

static int
do_fail(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.fail.item;
	sqlite3_stmt *st;

	/* Before the update: the attempt is the one that failed. */
	if (run(s, bind(s, S_FAIL_LOG, "itiitt", id, r->u.fail.step_id, now,
	    (int64_t)r->u.fail.kind, r->u.fail.action == FAIL_RETRY ?
	    "retry" : r->u.fail.reason, r->u.fail.message), &r->err) < 0)
		return -1;
	switch (r->u.fail.action) {
	case FAIL_RETRY:
		st = bind(s, S_FAIL_RETRY, "iitiit", id, r->u.fail.not_before,
		    r->u.fail.message, (int64_t)r->u.fail.kind, now,
		    r->u.fail.owner);
		break;
	case FAIL_ESCALATE:
		st = bind(s, S_FAIL_STATE, "iitiit", id, (int64_t)ITEM_ESCALATED,
		    r->u.fail.message, (int64_t)r->u.fail.kind, now,
		    r->u.fail.owner);
		break;
	case FAIL_REJECT:
	default:
		st = bind(s, S_FAIL_STATE, "iitiit", id, (int64_t)ITEM_REJECTED,
		    r->u.fail.message, (int64_t)r->u.fail.kind, now,
		    r->u.fail.owner);
		break;
	}
	if (run(s, st, &r->err) < 0 ||
	    require_changed(s, r, id, "step failure") < 0)
		return -1;
	/* A failure ends a wait: a retry of the item, a reviewer's or the
	 * backoff's, waits with a new clock. */
	if (r->u.fail.end_wait && run(s, bind(s, S_ITEM_WAIT_END, "i", id),
	    &r->err) < 0)
		return -1;
	if (r->u.fail.action != FAIL_ESCALATE)
		return 0;
	st = bind(s, S_ESC_INSERT, "ititttii", id, r->u.fail.step_id,
	    (int64_t)r->u.fail.kind, r->u.fail.reason ? r->u.fail.reason :
	    "escalated", r->u.fail.message ? r->u.fail.message : "",
	    r->u.fail.context, now, r->u.fail.due);
	if (run(s, st, &r->err) < 0)
		return -1;
	r->u.fail.escalation = sqlite3_last_insert_rowid(s->w);
	return 0;
}

static int
item_state_of(struct sqlite_store *s, int64_t id, int *state, struct err *e)
{
	sqlite3_stmt *st = bind(s, S_ITEM_STATE, "i", id);
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*state = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		err_setc(e, ERR_NOTFOUND, "no item %lld", (long long)id);
		return -1;
	}
	if (rc != SQLITE_ROW) {
		db_err(e, s->w, "reading an item");
		return -1;
	}
	return 0;
}

/*
 * Whether `by` may act on escalation id: -1 (and e) when it is not open or
 * another reviewer holds an unexpired claim on it.
 */
static int
esc_check_holder(struct sqlite_store *s, int64_t id, const char *by,
    int64_t now, struct err *e)
{
	sqlite3_stmt *st = bind(s, S_ESC_HOLDER, "i", id);
	char *state = NULL, *holder = NULL;
	int64_t until = 0;
	int rc = sqlite3_step(st), ret = 0;

	if (rc == SQLITE_ROW) {
		state = col_text(st, 0);
		holder = col_text(st, 1);
		until = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		err_setc(e, ERR_NOTFOUND, "no escalation %lld", (long long)id);
		return -1;
	}
	if (rc != SQLITE_ROW) {
		db_err(e, s->w, "reading an escalation");
		return -1;
	}
	ret = store_esc_holder_check(id, state, holder, until, by, now, e);
	free(state);
	free(holder);
	return ret;
}

static int
do_esc_claim(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.esc_claim.escalation;
	bool claim = r->op == QOP_ESC_CLAIM;
	char *target;
	int rc;

	if (store_esc_claim_check(r, &r->err) < 0)
		return -1;
	if (esc_check_holder(s, id, r->u.esc_claim.by, now, &r->err) < 0)
		return -1;
	r->u.esc_claim.until = claim ? now + r->u.esc_claim.ms : 0;
	if (run(s, bind(s, S_ESC_SET_CLAIM, "iti", id, claim ?
	    r->u.esc_claim.by : NULL, r->u.esc_claim.until), &r->err) < 0)
		return -1;
	target = xasprintf("escalation:%lld", (long long)id);
	rc = audit_append(s, now, r->u.esc_claim.by, claim ? "claim" :
	    "release", target, NULL, &r->err);
	free(target);
	return rc;
}

/*
 * Re-assignment: a supervisor moves any open escalation to a reviewer; a
 * reviewer hands over one they hold (assigned to them, or their claim).
 */
static int
do_esc_assign(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.esc_assign.escalation;
	const char *by = r->u.esc_assign.by, *to = r->u.esc_assign.to;
	sqlite3_stmt *st;
	char *state = NULL, *assignee = NULL, *holder = NULL, *target, *det;
	json_t *d;
	int64_t until = 0;
	int rc, ret = -1;

	r->u.esc_assign.from[0] = '\0';
	if (store_esc_assign_check(r, &r->err) < 0)
		return -1;
	st = bind(s, S_ESC_ASSIGNEE, "i", id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		state = col_text(st, 0);
		assignee = col_text(st, 1);
		holder = col_text(st, 2);
		until = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		err_setc(&r->err, ERR_NOTFOUND, "no escalation %lld",
		    (long long)id);
		return -1;
	}
	if (rc != SQLITE_ROW) {
		db_err(&r->err, s->w, "reading an escalation");
		return -1;
	}
	if (strcmp(state, "open") != 0) {
		err_setc(&r->err, ERR_CONFLICT, "escalation %lld is already"
		    " decided; only open ones can be re-assigned", (long long)id);
		goto out;
	}
	if (!r->u.esc_assign.any) {
		bool claimed = holder != NULL && until > now;
		bool holds = (assignee != NULL && strcmp(assignee, by) == 0 &&
		    (!claimed || strcmp(holder, by) == 0)) ||
		    (claimed && strcmp(holder, by) == 0);

		if (!holds) {
			err_setc(&r->err, ERR_FORBIDDEN, "escalation %lld is not"
			    " yours to hand over: a reviewer can re-assign only"
			    " what is assigned to them or what they have"
			    " claimed; ask a supervisor", (long long)id);
			goto out;
		}
	}
	snprintf(r->u.esc_assign.from, sizeof(r->u.esc_assign.from), "%s",
	    assignee ? assignee : "");
	if (run(s, bind(s, S_ESC_SET_ASSIGNEE, "iti", id, to, now),
	    &r->err) < 0)
		goto out;
	target = xasprintf("escalation:%lld", (long long)id);
	d = json_pack("{s:s,s:s?}", "to", to, "from", assignee);
	det = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	ret = audit_append(s, now, by, "assign", target, det, &r->err);
	free(target);
	free(det);
out:
	free(state);
	free(assignee);
	free(holder);
	return ret;
}

static int
do_esc_comment(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.esc_comment.escalation;
	const char *text = r->u.esc_comment.text;
	char *target, *det;
	json_t *d;
	int ret;

	if (store_esc_comment_check(r, &r->err) < 0)
		return -1;
	if (run(s, bind(s, S_ESC_COMMENT_INSERT, "iitt", id, now,
	    r->u.esc_comment.by, text), &r->err) < 0)
		return -1;
	if (sqlite3_changes(s->w) != 1) {
		err_setc(&r->err, ERR_NOTFOUND, "no escalation %lld",
		    (long long)id);
		return -1;
	}
	r->u.esc_comment.id = sqlite3_last_insert_rowid(s->w);
	target = xasprintf("escalation:%lld", (long long)id);
	d = json_pack("{s:I,s:s}", "comment", (json_int_t)r->u.esc_comment.id,
	    "text", text);
	det = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	ret = audit_append(s, now, r->u.esc_comment.by, "comment", target, det,
	    &r->err);
	free(target);
	free(det);
	return ret;
}

static int
do_decide(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	sqlite3_stmt *st = bind(s, S_ESC_FIND, "i", r->u.decide.escalation);
	int64_t item;
	char *step_id, *state, *decision, *by;
	int rc, ret = -1;

	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			err_setc(&r->err, ERR_NOTFOUND, "no escalation %lld",
			    (long long)r->u.decide.escalation);
		else
			db_err(&r->err, s->w, "reading an escalation");
		return -1;
	}
	item = sqlite3_column_int64(st, 0);
	step_id = col_text(st, 1);
	state = col_text(st, 2);
	decision = col_text(st, 3);
	by = col_text(st, 4);
	sqlite3_reset(st);
	r->u.decide.item = item;

	if (strcmp(state, "open") != 0) {
		store_esc_decided(r->u.decide.escalation, decision, by,
		    &r->err);
		goto out;
	}
	/* Someone else's unexpired claim keeps the decision theirs. */
	if (esc_check_holder(s, r->u.decide.escalation, r->u.decide.by, now,
	    &r->err) < 0)
		goto out;
	if (store_decide_check(r, &r->err) < 0)
		goto out;
	st = bind(s, S_ESC_DECIDE, "ittit", r->u.decide.escalation,
	    decision_name(r->u.decide.decision), r->u.decide.by, now,
	    r->u.decide.reason);
	if (run(s, st, &r->err) < 0)
		goto out;

	switch (r->u.decide.decision) {
	case DEC_APPROVE:
		/* The reviewer vouches for the step that escalated. The
		 * approval goes into the payload (_approved.STEP, with the
		 * corrected fields) and the step runs once more as approved:
		 * its kind turns the approval into the output the later steps
		 * read (step_run), e.g. an OCR reading with the corrections
		 * on top, and files the document. */
		if (step_id != NULL) {
			json_t *fields = NULL, *a, *patch;
			char *text;

			if (r->u.decide.payload != NULL) {
				json_t *p = json_loads(r->u.decide.payload, 0,
				    NULL);

				fields = json_incref(json_object_get(p,
				    "fields"));
				json_decref(p);
			}
			a = json_pack("{s:I,s:s,s:I}", "escalation",
			    (json_int_t)r->u.decide.escalation, "by",
			    r->u.decide.by ? r->u.decide.by : "?", "at",
			    (json_int_t)now);
			if (json_is_object(fields))
				json_object_set(a, "fields", fields);
			json_decref(fields);
			patch = json_pack("{s:{s:o}}", "_approved", step_id, a);
			text = json_dumps(patch, JSON_COMPACT);
			json_decref(patch);
			rc = run(s, bind(s, S_ITEM_PATCH, "it", item, text),
			    &r->err);
			free(text);
			if (rc < 0)
				goto out;
		}
		/* FALLTHROUGH */
	case DEC_RETRY:
	case DEC_RESUME:
		/* Retry and resume run the step again for real: an earlier
		 * approval of it no longer holds. */
		if (r->u.decide.decision != DEC_APPROVE && step_id != NULL &&
		    run(s, bind(s, S_ITEM_UNAPPROVE, "it", item, step_id),
		    &r->err) < 0)
			goto out;
		if (r->u.decide.decision != DEC_RETRY &&
		    r->u.decide.payload != NULL &&
		    run(s, bind(s, S_ITEM_PATCH, "it", item,
		    r->u.decide.payload), &r->err) < 0)
			goto out;
		if (run(s, bind(s, S_ITEM_REQUEUE, "ii", item, now),
		    &r->err) < 0)
			goto out;
		break;
	case DEC_REJECT:
		if (run(s, bind(s, S_ITEM_SET_STATE, "iiit", item,
		    (int64_t)ITEM_REJECTED, now, r->u.decide.reason),
		    &r->err) < 0)
			goto out;
		break;
	}
	{
		json_t *d = json_pack("{s:I,s:s,s:s?}", "item", (json_int_t)item,
		    "decision", decision_name(r->u.decide.decision), "reason",
		    r->u.decide.reason);
		char *text, *target;

		if (r->u.decide.payload != NULL)
			json_object_set_new(d, "payload", json_loads(
			    r->u.decide.payload, 0, NULL));
		text = json_dumps(d, JSON_COMPACT);
		target = xasprintf("escalation:%lld",
		    (long long)r->u.decide.escalation);
		rc = audit_append(s, now, r->u.decide.by, "decide", target, text,
		    &r->err);
		free(target);
		free(text);
		json_decref(d);
		if (rc < 0)
			goto out;
	}
	ret = 0;
out:
	free(step_id);
	free(state);
	free(decision);
	free(by);
	return ret;
}

static int
item_op_audit(struct sqlite_store *s, struct qreq *r, int64_t now,
    const char *action)
{
	char *target = xasprintf("item:%lld", (long long)r->u.item_op.item);
	int rc = audit_append(s, now, r->u.item_op.by ? r->u.item_op.by :
	    "operator", action, target, NULL, &r->err);

	free(target);
	return rc;
}

static int
do_item_op(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.item_op.item;
	int state;

	if (item_state_of(s, id, &state, &r->err) < 0)
		return -1;
	if (r->op == QOP_ITEM_RETRY) {
		if (state == ITEM_ESCALATED) {
			err_setc(&r->err, ERR_CONFLICT, "item %lld is escalated:"
			    " decide its escalation instead (clerkctl escalation"
			    " decide ID retry)", (long long)id);
			return -1;
		}
		if (state != ITEM_RETRY_WAIT && state != ITEM_REJECTED &&
		    state != ITEM_CANCELLED) {
			err_setc(&r->err, ERR_CONFLICT, "item %lld is %s; only"
			    " retry_wait, rejected or cancelled items can be"
			    " retried", (long long)id, item_state_name(state));
			return -1;
		}
		if (run(s, bind(s, S_ITEM_REQUEUE, "ii", id, now), &r->err) < 0)
			return -1;
		return item_op_audit(s, r, now, "item.retry");
	}
	if (state != ITEM_QUEUED && state != ITEM_RETRY_WAIT &&
	    state != ITEM_ESCALATED) {
		err_setc(&r->err, ERR_CONFLICT, "item %lld is %s; only queued,"
		    " retry_wait or escalated items can be cancelled",
		    (long long)id, item_state_name(state));
		return -1;
	}
	if (run(s, bind(s, S_ESC_CLOSE_ITEM, "itti", id, "cancel", "operator",
	    now), &r->err) < 0)
		return -1;
	if (run(s, bind(s, S_ITEM_SET_STATE, "iiit", id,
	    (int64_t)ITEM_CANCELLED, now, "cancelled by an operator"),
	    &r->err) < 0)
		return -1;
	return item_op_audit(s, r, now, "item.cancel");
}

/* Pauses or resumes a playbook, audited as "pause" / "resume". */
static int
do_pb_pause(struct sqlite_store *s, struct qreq *r, int64_t now)
{
	bool pause = r->op == QOP_PB_PAUSE;
	const char *name = r->u.pb_pause.playbook;
	sqlite3_stmt *st = bind(s, S_PB_STATE, "t", name);
	bool paused = false;
	char by[129] = "", *target, *det = NULL;
	int64_t at = 0;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		paused = sqlite3_column_int(st, 0) != 0;
		if (sqlite3_column_text(st, 1) != NULL)
			snprintf(by, sizeof(by), "%s",
			    (const char *)sqlite3_column_text(st, 1));
		at = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(&r->err, s->w, "reading the playbook's state");
		return -1;
	}
	if (store_pb_pause_check(name, pause, paused, by, at, &r->err) < 0)
		return -1;
	if (run(s, bind(s, S_PB_SET_STATE, "titit", name, (int64_t)pause,
	    r->u.pb_pause.by, now, pause ? r->u.pb_pause.reason : NULL),
	    &r->err) < 0)
		return -1;
	target = xasprintf("playbook:%s", name);
	if (pause && r->u.pb_pause.reason != NULL) {
		json_t *j = json_pack("{s:s}", "reason", r->u.pb_pause.reason);

		det = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	rc = audit_append(s, now, r->u.pb_pause.by, pause ? "pause" :
	    "resume", target, det, &r->err);
	free(target);
	free(det);
	r->u.pb_pause.at = now;
	return rc;
}

static void
sq_apply(void *p, struct qreq *r, int64_t now)
{
	struct sqlite_store *s = p;
	int64_t audit_id = s->audit_id, audit_rows = s->audit_rows;
	char audit_head[65];
	int rc = -1;

	memcpy(audit_head, s->audit_hash, sizeof(audit_head));
	err_clear(&r->err);
	/* A savepoint per request: one refused transition must not undo the
	 * others that share its transaction. */
	if (run(s, bind(s, S_SAVEPOINT, ""), &r->err) < 0) {
		r->rc = -1;
		return;
	}
	switch (r->op) {
	case QOP_ENQUEUE:
		rc = do_enqueue(s, r, now);
		break;
	case QOP_CLAIM:
		rc = do_claim(s, r, now);
		break;
	case QOP_STEP_DONE:
		rc = do_step_done(s, r, now);
		break;
	case QOP_FAIL:
		rc = do_fail(s, r, now);
		break;
	case QOP_RELEASE:
		rc = run(s, bind(s, S_RELEASE, "iii", r->u.release.item,
		    r->u.release.not_before ? r->u.release.not_before : now,
		    now), &r->err);
		if (rc == 0 && sqlite3_changes(s->w) == 1 &&
		    r->u.release.waiting != NULL)
			rc = run(s, r->u.release.waiting[0] != '\0' ?
			    bind(s, S_ITEM_WAIT_SET, "it", r->u.release.item,
			    r->u.release.waiting) : bind(s, S_ITEM_WAIT_END, "i",
			    r->u.release.item), &r->err);
		break;
	case QOP_RENEW:
		rc = run(s, bind(s, S_RENEW, "tit", r->u.renew.owner,
		    now + r->u.renew.lease_ms, r->u.renew.items), &r->err);
		break;
	case QOP_RECOVER:
		rc = run(s, bind(s, S_RECOVER, "it", now, r->u.recover.owner),
		    &r->err);
		r->u.recover.n = sqlite3_changes(s->w);
		break;
	case QOP_DECIDE:
		rc = do_decide(s, r, now);
		break;
	case QOP_ITEM_RETRY:
	case QOP_ITEM_CANCEL:
		rc = do_item_op(s, r, now);
		break;
	case QOP_ESC_CLAIM:
	case QOP_ESC_RELEASE:
		rc = do_esc_claim(s, r, now);
		break;
	case QOP_ESC_ASSIGN:
		rc = do_esc_assign(s, r, now);
		break;
	case QOP_ESC_COMMENT:
		rc = do_esc_comment(s, r, now);
		break;
	case QOP_SESSION_SAVE:
		rc = run(s, bind(s, S_SESSION_SAVE, "ttti", r->u.session.key,
		    r->u.session.csrf, r->u.session.user, r->u.session.last),
		    &r->err);
		break;
	case QOP_SESSION_FORGET:
		rc = run(s, bind(s, S_SESSION_FORGET, "t", r->u.session.key),
		    &r->err);
		break;
	case QOP_PB_PAUSE:
	case QOP_PB_RESUME:
		rc = do_pb_pause(s, r, now);
		break;
	case QOP_AUDIT:
		rc = audit_append(s, now, r->u.audit.actor, r->u.audit.action,
		    r->u.audit.target, r->u.audit.details, &r->err);
		break;
	}
	if (rc < 0) {
		s->audit_id = audit_id;
		s->audit_rows = audit_rows;
		memcpy(s->audit_hash, audit_head, sizeof(audit_head));
	}
	if (rc < 0)
		run(s, bind(s, S_ROLLBACK_TO, ""), NULL);
	run(s, bind(s, S_RELEASE_SP, ""), NULL);
	r->rc = rc;
}

/* ---- reads ---- */

static json_t *
json_col(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(st, i));
	case SQLITE_NULL:
		return json_null();
	default:
		return json_string((const char *)sqlite3_column_text(st, i));
	}
}

/* Turns every row of st into an object keyed by column name; columns named
 * in json_cols hold JSON text and are embedded as values. */
static json_t *
rows(struct sqlite_store *s, sqlite3_stmt *st, const char *json_cols,
    struct err *e)
{
	json_t *arr = json_array();
	int rc, ncol = sqlite3_column_count(st);

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int i = 0; i < ncol; i++) {
			const char *name = sqlite3_column_name(st, i);
			json_t *v = NULL;

			if (strstr(json_cols, name) != NULL &&
			    sqlite3_column_type(st, i) == SQLITE_TEXT)
				v = json_loads((const char *)
				    sqlite3_column_text(st, i),
				    JSON_DECODE_ANY, NULL);
			if (v == NULL)
				v = json_col(st, i);
			if ((strcmp(name, "state") == 0 ||
			    strcmp(name, "item_state") == 0) &&
			    json_is_integer(v)) {
				json_t *sv = json_string(item_state_name(
				    (enum item_state)json_integer_value(v)));

				json_decref(v);
				v = sv;
			}
			if (strcmp(name, "last_error_kind") == 0 ||
			    strcmp(name, "kind") == 0) {
				json_t *kv = json_string(err_kind_name(
				    (enum err_kind)json_integer_value(v)));

				json_decref(v);
				v = kv;
			}
			json_object_set_new(o, name, v);
		}
		json_array_append_new(arr, o);
	}
	if (rc != SQLITE_DONE) {
		db_err(e, s->r, "read");
		json_decref(arr);
		arr = NULL;
	}
	sqlite3_finalize(st);
	return arr;
}

static sqlite3_stmt *
rprepare(struct sqlite_store *s, const char *sql, struct err *e)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->r, sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(e, s->r, "read");
		return NULL;
	}
	return st;
}

#define ITEM_COLS "id, key, playbook, pb_hash, priority, not_before, state," \
	" attempts, lease_expires, last_error, last_error_kind, created, updated"
/* The item's priority, the queue's second sort key after the due time. */
#define ESC_PRIORITY "(SELECT priority FROM items WHERE id = e.item) AS priority"
#define ESC_COLS "e.id, e.item, e.playbook, e.step_id, e.kind, e.reason," \
	" e.message, e.context, e.created, e.due, e.state, e.decision," \
	" e.decided_by, e.decided_at, e.decision_reason, e.claimed_by," \
	" e.claim_expires, e.assignee, e.previous, " ESC_PRIORITY

/* A list row without the context: the queue shows why, not the evidence,
 * and parsing and printing every row's context was most of a page's cost. */
#define ESC_BRIEF_COLS "e.id, e.item, e.playbook, e.step_id, e.kind," \
	" e.reason, e.message, e.created, e.due, e.state, e.decision," \
	" e.decided_by, e.decided_at, e.decision_reason, e.claimed_by," \
	" e.claim_expires, e.assignee, e.previous, " ESC_PRIORITY

static json_t *
sq_item_get(void *p, int64_t id, struct err *e)
{
	struct sqlite_store *s = p;
	json_t *res = NULL, *arr, *steps, *escs;
	sqlite3_stmt *st;

	pthread_mutex_lock(&s->rlock);
	if ((st = rprepare(s, "SELECT " ITEM_COLS ", payload FROM items"
	    " WHERE id = ?1", e)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if ((arr = rows(s, st, "payload", e)) == NULL)
		goto out;
	if (json_array_size(arr) == 0) {
		err_setc(e, ERR_NOTFOUND, "no item %lld", (long long)id);
		json_decref(arr);
		goto out;
	}
	res = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	if ((st = rprepare(s, "SELECT step_id AS step, pb_hash, output,"
	    " finished, ms FROM steps WHERE item = ?1 ORDER BY finished",
	    e)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if ((steps = rows(s, st, "output", e)) == NULL)
		goto fail;
	json_object_set_new(res, "steps", steps);
	if ((st = rprepare(s, "SELECT " ESC_COLS " FROM escalations e"
	    " WHERE e.item = ?1 ORDER BY e.id", e)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if ((escs = rows(s, st, "context", e)) == NULL)
		goto fail;
	json_object_set_new(res, "escalations", escs);
	if ((st = rprepare(s, "SELECT step_id AS step, attempt, at, kind,"
	    " reason, message FROM failures WHERE item = ?1 ORDER BY id",
	    e)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if ((arr = rows(s, st, "", e)) == NULL)
		goto fail;
	json_object_set_new(res, "failures", arr);
out:
	pthread_mutex_unlock(&s->rlock);
	return res;
fail:
	json_decref(res);
	pthread_mutex_unlock(&s->rlock);
	return NULL;
}

static json_t *
sq_item_list(void *p, const struct item_filter *f, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	json_t *res = NULL;
	int limit = f->limit > 0 ? (f->limit > 1000 ? 1000 : f->limit) : 100;

	pthread_mutex_lock(&s->rlock);
	st = rprepare(s, "SELECT " ITEM_COLS " FROM items"
	    " WHERE (?1 IS NULL OR playbook = ?1) AND (?2 < 0 OR state = ?2)"
	    " AND (?3 = 0 OR id < ?3) ORDER BY id DESC LIMIT ?4", e);
	if (st != NULL) {
		if (f->playbook != NULL)
			sqlite3_bind_text(st, 1, f->playbook, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, f->state);
		sqlite3_bind_int64(st, 3, f->before_id);
		sqlite3_bind_int(st, 4, limit);
		res = rows(s, st, "", e);
	}
	pthread_mutex_unlock(&s->rlock);
	return res;
}

static json_t *
sq_escalation_get(void *p, int64_t id, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	json_t *arr = NULL, *res = NULL;

	pthread_mutex_lock(&s->rlock);
	st = rprepare(s, "SELECT " ESC_COLS ", i.payload, i.key,"
	    " i.attempts, i.state AS item_state FROM escalations e"
	    " JOIN items i ON i.id = e.item WHERE e.id = ?1", e);
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, id);
		arr = rows(s, st, "context payload", e);
	}
	if (arr != NULL && json_array_size(arr) > 0) {
		json_t *comments = NULL;

		st = rprepare(s, "SELECT id, ts, author, text FROM"
		    " escalation_comments WHERE escalation = ?1 ORDER BY id", e);
		if (st != NULL) {
			sqlite3_bind_int64(st, 1, id);
			comments = rows(s, st, "", e);
		}
		if (comments == NULL) {
			json_decref(arr);
			arr = NULL;
		} else
			json_object_set_new(json_array_get(arr, 0), "comments",
			    comments);
	}
	pthread_mutex_unlock(&s->rlock);
	if (arr == NULL)
		return NULL;
	if (json_array_size(arr) == 0)
		err_setc(e, ERR_NOTFOUND, "no escalation %lld", (long long)id);
	else
		res = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return res;
}

/*
 * The SQL names only the filters given, so SQLite can pick the partial
 * index that matches (esc_open_assignee, _pb, _reason, _pb_reason, or
 * esc_open), each already in (due, id) order: a filtered first page reads
 * one range. cols is the select list.
 */
static sqlite3_stmt *
esc_list_prepare(struct sqlite_store *s, const struct esc_filter *f,
    const char *cols, struct err *e)
{
	int limit = f->limit > 0 ? (f->limit > 1000 ? 1000 : f->limit) : 100;
	sqlite3_stmt *st;
	char sql[2048];
	size_t n;

	n = (size_t)snprintf(sql, sizeof(sql), "SELECT %s FROM escalations e"
	    " WHERE %s", cols, f->open_only ? "e.state = 'open'" : "1");
	if (f->playbook != NULL)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		    " AND e.playbook = ?1");
	if (f->reason != NULL)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		    " AND e.reason = ?5");
	if (f->assignee != NULL)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, f->assignee[0] ?
		    " AND e.assignee = ?6" : " AND e.assignee IS NULL");
	if (f->overdue)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		    " AND e.state = 'open' AND e.due < ?7");
	if (f->text != NULL)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		    " AND (instr(e.message, ?8) > 0 OR instr(e.context, ?8) > 0"
		    " OR EXISTS (SELECT 1 FROM items i WHERE i.id = e.item AND"
		    " (instr(i.key, ?8) > 0 OR instr(i.payload, ?8) > 0)))");
	if (f->open_only && !f->by_id)
		snprintf(sql + n, sizeof(sql) - n, " AND (?2 = 0 OR (e.due, e.id)"
		    " > (?4, ?2)) ORDER BY e.due, e.id LIMIT ?3");
	else
		snprintf(sql + n, sizeof(sql) - n, " AND e.id > ?2 AND"
		    " ?4 IS NOT NULL ORDER BY e.id LIMIT ?3");
	if ((st = rprepare(s, sql, e)) == NULL)
		return NULL;
	if (f->playbook != NULL)
		sqlite3_bind_text(st, 1, f->playbook, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, f->after_id);
	sqlite3_bind_int(st, 3, limit);
	sqlite3_bind_int64(st, 4, f->after_due);
	if (f->reason != NULL)
		sqlite3_bind_text(st, 5, f->reason, -1, SQLITE_STATIC);
	if (f->assignee != NULL && f->assignee[0])
		sqlite3_bind_text(st, 6, f->assignee, -1, SQLITE_STATIC);
	if (f->overdue)
		sqlite3_bind_int64(st, 7, f->now ? f->now : util_now_ms());
	if (f->text != NULL)
		sqlite3_bind_text(st, 8, f->text, -1, SQLITE_STATIC);
	return st;
}

static json_t *
sq_escalation_list(void *p, const struct esc_filter *f, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	json_t *res = NULL;

	pthread_mutex_lock(&s->rlock);
	st = esc_list_prepare(s, f, f->brief ? ESC_BRIEF_COLS : ESC_COLS, e);
	if (st != NULL)
		res = rows(s, st, "context", e);
	pthread_mutex_unlock(&s->rlock);
	return res;
}

/*
 * The same rows as sq_escalation_list with brief set, as JSON text that
 * SQLite writes itself: building and printing a jansson object per row was
 * most of a page's cost (the API's hottest read, which every reviewer's
 * queue polls).
 */
static char *
sq_escalation_list_json(void *p, const struct esc_filter *f,
    struct esc_page *pg, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int rc;

	memset(pg, 0, sizeof(*pg));
	if ((out = open_memstream(&buf, &len)) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&s->rlock);
	st = esc_list_prepare(s, f, "json_object('id', e.id, 'item', e.item,"
	    " 'playbook', e.playbook, 'step_id', e.step_id, 'kind', CASE e.kind"
	    " WHEN 1 THEN 'system' WHEN 2 THEN 'business' ELSE 'none' END,"
	    " 'reason', e.reason, 'message', e.message, 'created', e.created,"
	    " 'due', e.due, 'state', e.state, 'decision', e.decision,"
	    " 'decided_by', e.decided_by, 'decided_at', e.decided_at,"
	    " 'decision_reason', e.decision_reason, 'claimed_by', e.claimed_by,"
	    " 'claim_expires', e.claim_expires, 'assignee', e.assignee,"
	    " 'previous', e.previous,"
	    " 'priority', (SELECT priority FROM items WHERE id = e.item)),"
	    " e.due, e.id", e);
	if (st == NULL) {
		pthread_mutex_unlock(&s->rlock);
		fclose(out);
		free(buf);
		return NULL;
	}
	fputc('[', out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (pg->n++ > 0)
			fputc(',', out);
		fwrite(sqlite3_column_text(st, 0), 1,
		    (size_t)sqlite3_column_bytes(st, 0), out);
		pg->last_due = sqlite3_column_int64(st, 1);
		pg->last_id = sqlite3_column_int64(st, 2);
	}
	fputc(']', out);
	if (rc != SQLITE_DONE)
		db_err(e, s->r, "read");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	fclose(out);
	if (rc != SQLITE_DONE) {
		free(buf);
		return NULL;
	}
	return buf;
}

static json_t *
sq_counts(void *p, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	json_t *res = NULL, *total;
	int rc;

	pthread_mutex_lock(&s->rlock);
	st = rprepare(s, "SELECT playbook, state, count(*) FROM items"
	    " GROUP BY playbook, state", e);
	if (st == NULL)
		goto out;
	res = json_object();
	total = json_object();
	json_object_set_new(res, "*", total);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *pb = (const char *)sqlite3_column_text(st, 0);
		const char *state = item_state_name(sqlite3_column_int(st, 1));
		json_int_t n = sqlite3_column_int64(st, 2);
		json_t *o = json_object_get(res, pb);

		if (o == NULL) {
			o = json_object();
			json_object_set_new(res, pb, o);
		}
		json_object_set_new(o, state, json_integer(n));
		json_object_set_new(total, state, json_integer(n +
		    json_integer_value(json_object_get(total, state))));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_err(e, s->r, "counting items");
		json_decref(res);
		res = NULL;
		goto out;
	}
	st = rprepare(s, "SELECT count(*), count(CASE WHEN due < ?1 THEN 1 END)"
	    " FROM escalations WHERE state = 'open'", e);
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, util_now_ms());
		if (sqlite3_step(st) == SQLITE_ROW) {
			json_object_set_new(total, "open_escalations",
			    json_integer(sqlite3_column_int64(st, 0)));
			json_object_set_new(total, "overdue_escalations",
			    json_integer(sqlite3_column_int64(st, 1)));
		}
	}
	sqlite3_finalize(st);
	/* Time to decision, for /metrics: a sum and a count. */
	st = rprepare(s, "SELECT count(*), coalesce(sum(decided_at - created), 0)"
	    " FROM escalations WHERE state = 'decided'", e);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		json_object_set_new(total, "decided_escalations",
		    json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(total, "decision_ms_sum",
		    json_integer(sqlite3_column_int64(st, 1)));
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->rlock);
	return res;
}

static json_t *
sq_sessions(void *p, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	json_t *res = NULL;

	pthread_mutex_lock(&s->rlock);
	st = rprepare(s, "SELECT key, csrf, user, last FROM sessions", e);
	if (st != NULL)
		res = rows(s, st, "", e);
	pthread_mutex_unlock(&s->rlock);
	return res;
}

static json_t *
sq_playbook_states(void *p, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	json_t *res = NULL;

	pthread_mutex_lock(&s->rlock);
	st = rprepare(s, "SELECT playbook, by AS paused_by, at AS paused_at,"
	    " reason AS pause_reason FROM playbook_state WHERE paused != 0"
	    " ORDER BY playbook", e);
	if (st != NULL)
		res = rows(s, st, "", e);
	pthread_mutex_unlock(&s->rlock);
	return res;
}

static int
sq_trigger_slot(void *p, const char *playbook, int64_t *slot, struct err *e)
{
	struct sqlite_store *s = p;
	sqlite3_stmt *st;
	int rc = -1, step;

	pthread_mutex_lock(&s->rlock);
	/*
	 * Without a row (the playbook last fired under a clerk from before
	 * trigger_slots), its newest timer item tells: each is enqueued at,
	 * or just after, its slot and before the next one. The key ranges
	 * read the (playbook, key) index.
	 */
	st = rprepare(s, "SELECT coalesce((SELECT slot FROM trigger_slots"
	    " WHERE playbook = ?1), (SELECT max(created) FROM items"
	    " WHERE playbook = ?1 AND ((key >= 'cron:' AND key < 'cron;')"
	    " OR (key >= 'interval:' AND key < 'interval;'))))", e);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, playbook, -1, SQLITE_STATIC);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW && sqlite3_column_type(st, 0) ==
		    SQLITE_NULL)
			rc = 0;
		else if (step == SQLITE_ROW) {
			*slot = sqlite3_column_int64(st, 0);
			rc = 1;
		} else if (step == SQLITE_DONE)
			rc = 0;
		else
			db_err(e, s->r, "reading the last trigger slot");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

static int
sq_backup(void *p, const char *dest, struct err *e)
{
	struct sqlite_store *s = p;
	int rc;

	pthread_mutex_lock(&s->rlock);
	rc = copy_db(s->r, dest, e);
	pthread_mutex_unlock(&s->rlock);
	if (rc < 0) {
		char why[sizeof(e->msg)];

		snprintf(why, sizeof(why), "%s", e->msg);
		err_set(e, "backup %s", why);
	}
	return rc;
}

/* The ms at fraction q of the sorted v[0..n), nearest rank. */
static int64_t
rank_of(const int64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);

	return v[i == 0 ? 0 : i > n ? n - 1 : i - 1];
}

/* Per step: runs, median, 95th percentile and longest, slowest first. */
static json_t *
step_times(struct sqlite_store *s, const char *playbook, int64_t since,
    struct err *e)
{
	sqlite3_stmt *st = rprepare(s, "SELECT s.step_id, s.ms FROM steps s"
	    " JOIN items i ON i.id = s.item WHERE i.playbook = ?1 AND"
	    " s.finished >= ?2 ORDER BY s.step_id, s.ms", e);
	json_t *arr = json_array();
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	char cur[256] = "";
	int rc;

	if (st == NULL) {
		json_decref(arr);
		return NULL;
	}
	sqlite3_bind_text(st, 1, playbook, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	for (;;) {
		const char *id;

		rc = sqlite3_step(st);
		id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st,
		    0) : NULL;
		if (n > 0 && (id == NULL || strcmp(id, cur) != 0)) {
			json_array_append_new(arr, json_pack("{s:s,s:I,s:I,"
			    "s:I,s:I}", "step", cur, "runs", (json_int_t)n,
			    "median_ms", (json_int_t)rank_of(v, n, 0.5),
			    "p95_ms", (json_int_t)rank_of(v, n, 0.95),
			    "max_ms", (json_int_t)v[n - 1]));
			n = 0;
		}
		if (id == NULL)
			break;
		snprintf(cur, sizeof(cur), "%s", id);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = sqlite3_column_int64(st, 1);
	}
	free(v);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_err(e, s->r, "reading step times");
		json_decref(arr);
		return NULL;
	}
	/* Slowest first: by the median, the usual case, then the worst. */
	for (size_t i = 1; i < json_array_size(arr); i++)
		for (size_t j = i; j > 0; j--) {
			json_t *a = json_array_get(arr, j - 1);
			json_t *b = json_array_get(arr, j);
			json_int_t ma = json_integer_value(json_object_get(a,
			    "median_ms")), mb = json_integer_value(
			    json_object_get(b, "median_ms"));

			if (ma > mb || (ma == mb && json_integer_value(
			    json_object_get(a, "max_ms")) >= json_integer_value(
			    json_object_get(b, "max_ms"))))
				break;
			json_incref(a);
			json_array_set(arr, j - 1, b);
			json_array_set_new(arr, j, a);
		}
	return arr;
}

static json_t *
grouped(struct sqlite_store *s, const char *sql, const char *playbook,
    int64_t since, int64_t bucket, struct err *e)
{
	sqlite3_stmt *st = rprepare(s, sql, e);

	if (st == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, playbook, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int64(st, 3, bucket);
	return rows(s, st, "", e);
}

static json_t *
sq_history(void *p, const char *playbook, int64_t since, int64_t bucket_ms,
    struct err *e)
{
	struct sqlite_store *s = p;
	json_t *res = NULL, *buckets = NULL, *tot = NULL, *fails = NULL,
	    *escs = NULL, *steps = NULL, *slow = NULL;

	pthread_mutex_lock(&s->rlock);
	/* Items by the time they were queued, each in its state now. */
	if ((buckets = grouped(s, "SELECT (created - ?2) / ?3 AS bucket, state,"
	    " count(*) AS n FROM items WHERE playbook = ?1 AND created >= ?2"
	    " GROUP BY bucket, state ORDER BY bucket", playbook, since,
	    bucket_ms, e)) == NULL ||
	    (tot = grouped(s, "SELECT count(*) AS items, (SELECT count(DISTINCT"
	    " f.item) FROM failures f JOIN items i ON i.id = f.item WHERE"
	    " i.playbook = ?1 AND i.created >= ?2) AS failed_items, (SELECT"
	    " count(*) FROM failures f JOIN items i ON i.id = f.item WHERE"
	    " i.playbook = ?1 AND i.created >= ?2) AS failed_attempts,"
	    " (SELECT count(DISTINCT e.item) FROM escalations e JOIN items i"
	    " ON i.id = e.item WHERE i.playbook = ?1 AND i.created >= ?2) AS"
	    " escalated_items FROM items WHERE playbook = ?1 AND created >= ?2",
	    playbook, since, 0, e)) == NULL ||
	    (fails = grouped(s, "SELECT f.step_id AS step, f.reason, count(*) AS"
	    " n FROM failures f JOIN items i ON i.id = f.item WHERE i.playbook"
	    " = ?1 AND i.created >= ?2 GROUP BY f.step_id, f.reason ORDER BY n"
	    " DESC LIMIT 20", playbook, since, 0, e)) == NULL ||
	    (escs = grouped(s, "SELECT e.step_id AS step, e.reason, count(*) AS"
	    " n, count(CASE WHEN e.state = 'open' THEN 1 END) AS open FROM"
	    " escalations e JOIN items i ON i.id = e.item WHERE i.playbook ="
	    " ?1 AND i.created >= ?2 GROUP BY e.step_id, e.reason ORDER BY n"
	    " DESC LIMIT 20", playbook, since, 0, e)) == NULL ||
	    (steps = step_times(s, playbook, since, e)) == NULL ||
	    (slow = grouped(s, "SELECT s.item, s.step_id AS step, s.ms,"
	    " s.finished FROM steps s JOIN items i ON i.id = s.item WHERE"
	    " i.playbook = ?1 AND s.finished >= ?2 ORDER BY s.ms DESC LIMIT 10",
	    playbook, since, 0, e)) == NULL)
		goto out;
	res = json_pack("{s:s,s:I,s:I,s:O,s:O,s:O,s:O,s:O}", "playbook",
	    playbook, "since", (json_int_t)since, "bucket_ms",
	    (json_int_t)bucket_ms, "totals", json_array_get(tot, 0),
	    "buckets", buckets, "failures", fails, "escalations", escs,
	    "steps", steps);
	json_object_set(res, "slowest", slow);
out:
	pthread_mutex_unlock(&s->rlock);
	json_decref(buckets);
	json_decref(tot);
	json_decref(fails);
	json_decref(escs);
	json_decref(steps);
	json_decref(slow);
	return res;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.apply = sq_apply,
	.item_get = sq_item_get,
	.item_list = sq_item_list,
	.escalation_get = sq_escalation_get,
	.escalation_list = sq_escalation_list,
	.escalation_list_json = sq_escalation_list_json,
	.counts = sq_counts,
	.history = sq_history,
	.sessions = sq_sessions,
	.trigger_slot = sq_trigger_slot,
	.playbook_states = sq_playbook_states,
	.backup = sq_backup,
};
