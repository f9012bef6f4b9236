/*
 * store_pg.c - the PostgreSQL backend of the work queue: connections, the
 * schema, the writer's transactions and every write request. The reads are
 * in store_pg_read.c.
 *
 * Several clerkd processes, on several machines, may share one database.
 * What SQLite got from being the only writer is had here from the
 * database: claims take rows FOR UPDATE SKIP LOCKED, so two nodes never
 * hand out one item; leases run on the database's clock, so nodes whose
 * clocks drift agree on whose lease has run out; decisions lock their
 * escalation row, so two reviewers pressing at once on two nodes get one
 * decision and one 409; the audit chain is extended under an advisory
 * lock, so it stays one chain whoever writes.
 */
#include "store_pg.h"

#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "store_rules.h"

/* Advisory lock keys: "clerk" and a number, unlikely to be another
 * application's. The schema's is held while a node creates or migrates
 * it; the audit chain's by a transaction from its first audit row on. */
#define PG_LOCK_SCHEMA 0x636c65726b01LL
#define PG_LOCK_AUDIT 0x636c65726b02LL
/* The second key space (two int4 keys): a playbook's pause state. */
#define PG_LOCK_PB 0x636c6b01

/* The database's clock in ms: what leases are measured on. Not now(),
 * which stands still for a whole transaction. */
#define PG_NOW "(extract(epoch from clock_timestamp()) * 1000)::bigint"

/*
 * Schema migrations: pg_migrations[v] turns a version v database into
 * version v + 1. Version 6 is the first PostgreSQL schema (the SQLite
 * schema's version when this backend was written), so there is nothing
 * to migrate yet; a new schema change is one more entry here and the same
 * change in pg_schema_sql (and in store_sqlite.c's list).
 */
static const char *const pg_migrations[PG_SCHEMA_VERSION] = {
	NULL,
};

enum {
	S_ENQ_INSERT, S_ENQ_FIND, S_SLOT_MARK,
	S_CLAIM_EXPIRE, S_CLAIM, S_STEPS_OF,
	S_STEP_INSERT, S_STEP_ADVANCE, S_STEP_FINISH,
	S_FAIL_RETRY, S_FAIL_STATE, S_FAIL_LOG, S_ESC_INSERT,
	S_RELEASE, S_RENEW, S_RECOVER,
	S_ESC_FIND, S_ESC_DECIDE, S_ITEM_STATE, S_ITEM_REQUEUE,
	S_ITEM_SET_STATE, S_ITEM_PAYLOAD, S_ITEM_SET_PAYLOAD,
	S_ESC_CLOSE_ITEM, S_AUDIT_LOCK, S_AUDIT_HEAD, S_AUDIT_INSERT,
	S_ESC_HOLDER, S_ESC_SET_CLAIM, S_ESC_ASSIGNEE, S_ESC_SET_ASSIGNEE,
	S_ESC_COMMENT_INSERT, S_SESSION_SAVE, S_SESSION_FORGET,
	S_PB_LOCK, S_PB_STATE, S_PB_SET_STATE, S_NOTIFY,
	S_STEP_FINAL, S_STEP_NEXT, S_ENQ_MANY, S_FINAL_MANY,
	NSTMT
};

/*
 * Parameters come as text; a cast names the type wherever PostgreSQL
 * could not infer it (INSERT ... SELECT lists, IS NULL tests).
 */
static const char *const stmt_sql[NSTMT] = {
	[S_ENQ_INSERT] = "INSERT INTO items(key, playbook, pb_hash, priority,"
	    " not_before, payload, state, created, updated)"
	    " VALUES($1, $2, $3, $4, $5, $6, 0, $7, $7)"
	    " ON CONFLICT(playbook, key) DO NOTHING RETURNING id",
	[S_ENQ_FIND] = "SELECT id FROM items WHERE playbook = $1 AND key = $2",
	[S_SLOT_MARK] = "INSERT INTO trigger_slots(playbook, slot)"
	    " VALUES($1, $2) ON CONFLICT(playbook) DO UPDATE SET"
	    " slot = greatest(trigger_slots.slot, excluded.slot)",
	/* Rows another node is changing right now are skipped, not waited
	 * for: that node decides about them. The clock is read once, in a
	 * subquery: clock_timestamp() is volatile, and compared directly it
	 * cannot bound an index scan, so every claim read all of
	 * items_leased (dead entries too) to find nothing. */
	[S_CLAIM_EXPIRE] = "UPDATE items SET state = 0, owner = NULL,"
	    " updated = $1 WHERE id = ANY(ARRAY(SELECT id FROM items"
	    " WHERE state = 1 AND lease_expires < (SELECT " PG_NOW ")"
	    " FOR UPDATE SKIP LOCKED))",
	/* One statement: the rows are locked as they are chosen, so a
	 * second node's claim skips them and takes the next ones. */
	[S_CLAIM] = "UPDATE items SET state = 1, owner = $2,"
	    " lease_expires = " PG_NOW " + $3::bigint, updated = $4"
	    " WHERE id = ANY(ARRAY(SELECT id FROM items"
	    " WHERE playbook = $1 AND state IN (0, 2) AND not_before <= $4"
	    " AND NOT EXISTS (SELECT 1 FROM playbook_state"
	    " WHERE playbook = $1 AND paused != 0)"
	    " ORDER BY priority DESC, not_before, id LIMIT $5"
	    " FOR UPDATE SKIP LOCKED))"
	    " RETURNING id, key, playbook, pb_hash, priority, not_before,"
	    " payload, attempts, created, lease_expires",
	[S_STEPS_OF] = "SELECT item, step_id, output FROM steps"
	    " WHERE item = ANY($1::bigint[]) ORDER BY item, finished",
	/* finished strictly increasing per item, as in store_sqlite.c: a
	 * batch stamps every record with one time. */
	[S_STEP_INSERT] = "INSERT INTO steps(item, step_id, pb_hash, output,"
	    " finished, ms) VALUES($1, $2, $3, $4, greatest($5::bigint,"
	    " coalesce((SELECT max(finished) + 1 FROM steps"
	    " WHERE item = $1::bigint), $5::bigint)), $6)",
	[S_STEP_ADVANCE] = "UPDATE items SET attempts = 0, updated = $2,"
	    " pb_hash = $3 WHERE id = $1 AND state = 1"
	    " AND ($4::text IS NULL OR owner = $4)",
	[S_STEP_FINISH] = "UPDATE items SET attempts = 0, state = 4,"
	    " owner = NULL, updated = $2, last_error = NULL,"
	    " last_error_kind = 0, pb_hash = coalesce($4, pb_hash)"
	    " WHERE id = $1 AND state = 1 AND ($3::text IS NULL OR owner = $3)",
	[S_FAIL_RETRY] = "UPDATE items SET state = 2, attempts = attempts + 1,"
	    " not_before = $2, last_error = $3, last_error_kind = $4,"
	    " owner = NULL, updated = $5 WHERE id = $1 AND state = 1"
	    " AND ($6::text IS NULL OR owner = $6)",
	[S_FAIL_STATE] = "UPDATE items SET state = $2, last_error = $3,"
	    " last_error_kind = $4, owner = NULL, updated = $5"
	    " WHERE id = $1 AND state = 1 AND ($6::text IS NULL OR owner = $6)",
	[S_FAIL_LOG] = "INSERT INTO failures(item, step_id, attempt, at, kind,"
	    " reason, message) SELECT $1::bigint, $2::text, attempts + 1,"
	    " $3::bigint, $4::bigint, $5::text, $6::text"
	    " FROM items WHERE id = $1::bigint",
	[S_ESC_INSERT] = "INSERT INTO escalations(item, playbook, step_id,"
	    " kind, reason, message, context, created, due, previous)"
	    " SELECT $1::bigint, playbook, $2::text, $3::bigint, $4::text,"
	    " $5::text, $6::text, $7::bigint, $8::bigint, (SELECT max(id)"
	    " FROM escalations WHERE item = $1::bigint) FROM items"
	    " WHERE id = $1::bigint RETURNING id",
	[S_RELEASE] = "UPDATE items SET state = 0, owner = NULL,"
	    " not_before = $2, updated = $3 WHERE id = $1 AND state = 1",
	[S_RENEW] = "UPDATE items SET lease_expires = " PG_NOW
	    " + $2::bigint WHERE state = 1 AND owner = $1 AND"
	    " ($3::bigint[] IS NULL OR id = ANY($3::bigint[]))",
	[S_RECOVER] = "UPDATE items SET state = 0, owner = NULL,"
	    " updated = $1 WHERE state = 1 AND ($2::text IS NULL OR"
	    " owner = $2)",
	/* FOR UPDATE: a second decision of the same escalation, on any
	 * node, waits here for the first to commit and then finds it
	 * decided. */
	[S_ESC_FIND] = "SELECT item, step_id, state, decision, decided_by"
	    " FROM escalations WHERE id = $1 FOR UPDATE",
	[S_ESC_DECIDE] = "UPDATE escalations SET state = 'decided',"
	    " decision = $2, decided_by = $3, decided_at = $4,"
	    " decision_reason = $5 WHERE id = $1 AND state = 'open'",
	[S_ITEM_STATE] = "SELECT state FROM items WHERE id = $1 FOR UPDATE",
	[S_ITEM_REQUEUE] = "UPDATE items SET state = 0, attempts = 0,"
	    " not_before = $2, updated = $2, owner = NULL WHERE id = $1"
	    " RETURNING playbook",
	[S_ITEM_SET_STATE] = "UPDATE items SET state = $2, updated = $3,"
	    " owner = NULL, last_error = coalesce($4, last_error)"
	    " WHERE id = $1",
	[S_ITEM_PAYLOAD] = "SELECT payload FROM items WHERE id = $1"
	    " FOR UPDATE",
	[S_ITEM_SET_PAYLOAD] = "UPDATE items SET payload = $2 WHERE id = $1",
	[S_ESC_CLOSE_ITEM] = "UPDATE escalations SET state = 'decided',"
	    " decision = $2, decided_by = $3, decided_at = $4"
	    " WHERE item = $1 AND state = 'open'",
	[S_AUDIT_LOCK] = "SELECT pg_advisory_xact_lock(" "$1::bigint)",
	[S_AUDIT_HEAD] = "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
	[S_AUDIT_INSERT] = "INSERT INTO audit(id, ts, actor, action, target,"
	    " details, prev_hash, hash) VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
	[S_ESC_HOLDER] = "SELECT state, claimed_by, claim_expires FROM"
	    " escalations WHERE id = $1 FOR UPDATE",
	[S_ESC_SET_CLAIM] = "UPDATE escalations SET claimed_by = $2,"
	    " claim_expires = $3 WHERE id = $1",
	[S_ESC_ASSIGNEE] = "SELECT state, assignee, claimed_by, claim_expires"
	    " FROM escalations WHERE id = $1 FOR UPDATE",
	[S_ESC_SET_ASSIGNEE] = "UPDATE escalations SET assignee = $2::text,"
	    " claimed_by = CASE WHEN claimed_by IS NOT NULL AND"
	    " claim_expires > $3::bigint THEN $2::text END,"
	    " claim_expires = CASE WHEN claimed_by IS NOT NULL AND"
	    " claim_expires > $3::bigint THEN claim_expires END WHERE id = $1",
	[S_ESC_COMMENT_INSERT] = "INSERT INTO escalation_comments(escalation,"
	    " ts, author, text) SELECT id, $2::bigint, $3::text, $4::text"
	    " FROM escalations WHERE id = $1::bigint RETURNING id",
	[S_SESSION_SAVE] = "INSERT INTO sessions(key, csrf, \"user\", last)"
	    " VALUES($1, $2, $3, $4) ON CONFLICT(key) DO UPDATE SET"
	    " last = excluded.last",
	[S_SESSION_FORGET] = "DELETE FROM sessions WHERE key = $1",
	/* Two nodes pausing a playbook that has no row yet would both
	 * insert one; the lock makes the second see the first. */
	[S_PB_LOCK] = "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
	[S_PB_STATE] = "SELECT paused, \"by\", at FROM playbook_state"
	    " WHERE playbook = $1",
	[S_PB_SET_STATE] = "INSERT INTO playbook_state(playbook, paused,"
	    " \"by\", at, reason) VALUES($1, $2, $3, $4, $5)"
	    " ON CONFLICT(playbook) DO UPDATE SET paused = excluded.paused,"
	    " \"by\" = excluded.\"by\", at = excluded.at,"
	    " reason = excluded.reason",
	[S_NOTIFY] = "SELECT pg_notify('clerk_items', $1)",
	/*
	 * A step's result in one statement, pipelined (pipe_send): the
	 * journal row is written only if the item is still running here,
	 * so a refused result writes nothing and needs no savepoint. One
	 * row back: done; none: the lease is gone (409).
	 */
	[S_STEP_FINAL] = "WITH f AS (UPDATE items SET attempts = 0,"
	    " state = 4, owner = NULL, updated = $2, last_error = NULL,"
	    " last_error_kind = 0, pb_hash = coalesce($4::text, pb_hash)"
	    " WHERE id = $1 AND state = 1 AND ($3::text IS NULL OR"
	    " owner = $3) RETURNING id) INSERT INTO steps(item, step_id,"
	    " pb_hash, output, finished, ms) SELECT f.id, $5::text, $4::text,"
	    " $6::text, greatest($2::bigint, coalesce((SELECT max(finished)"
	    " + 1 FROM steps WHERE item = $1::bigint), $2::bigint)),"
	    " $7::bigint FROM f RETURNING item",
	[S_STEP_NEXT] = "WITH a AS (UPDATE items SET attempts = 0,"
	    " updated = $2, pb_hash = $4 WHERE id = $1 AND state = 1"
	    " AND ($3::text IS NULL OR owner = $3) RETURNING id)"
	    " INSERT INTO steps(item, step_id, pb_hash, output, finished, ms)"
	    " SELECT a.id, $5::text, $4::text, $6::text, greatest($2::bigint,"
	    " coalesce((SELECT max(finished) + 1 FROM steps"
	    " WHERE item = $1::bigint), $2::bigint)), $7::bigint FROM a"
	    " RETURNING item",
	/*
	 * Consecutive enqueues in one statement: the per-statement work
	 * (bind, execute, a result) was most of an enqueue's cost. In the
	 * requests' order, so ids come out as one by one; a key given twice
	 * is inserted once, the second does nothing, as one by one.
	 */
	[S_ENQ_MANY] = "INSERT INTO items(key, playbook, pb_hash, priority,"
	    " not_before, payload, state, created, updated)"
	    " SELECT k, p, h, pr, nb, pl, 0, t, t FROM unnest($1::text[],"
	    " $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],"
	    " $7::bigint[]) WITH ORDINALITY AS u(k, p, h, pr, nb, pl, t, o)"
	    " ORDER BY o ON CONFLICT(playbook, key) DO NOTHING"
	    " RETURNING id, playbook, key",
	/* Consecutive last-step results (S_STEP_FINAL's parameters as
	 * arrays), of distinct items: a row back per item done, none for
	 * one whose lease is gone (409). */
	[S_FINAL_MANY] = "WITH u AS (SELECT * FROM unnest($1::bigint[],"
	    " $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],"
	    " $7::bigint[]) AS u(id, now, owner, h, step, out, ms)),"
	    " f AS (UPDATE items i SET attempts = 0, state = 4,"
	    " owner = NULL, updated = u.now, last_error = NULL,"
	    " last_error_kind = 0, pb_hash = coalesce(u.h, i.pb_hash)"
	    " FROM u WHERE i.id = u.id AND i.state = 1 AND (u.owner IS NULL"
	    " OR i.owner = u.owner) RETURNING i.id)"
	    " INSERT INTO steps(item, step_id, pb_hash, output, finished, ms)"
	    " SELECT u.id, u.step, u.h, u.out, greatest(u.now,"
	    " coalesce((SELECT max(finished) + 1 FROM steps s"
	    " WHERE s.item = u.id), u.now)), u.ms FROM u JOIN f"
	    " ON f.id = u.id RETURNING item",
};

/* Statements pipe_send() may send: prepared when a connection is made
 * (PQprepare cannot run in pipeline mode). */
static const int piped_stmts[] = {
	S_ENQ_INSERT, S_STEP_FINAL, S_STEP_NEXT, S_AUDIT_INSERT,
	S_SESSION_SAVE, S_SESSION_FORGET, S_RENEW, S_ENQ_MANY, S_FINAL_MANY,
};

/* Requests in flight at most, before their results are read: the
 * results must fit in the socket buffers, or client and server would
 * both wait for the other to read. */
#define PG_PIPE_MAX 256

/* Playbooks that got new items in the open transaction: told to every
 * listening node (NOTIFY clerk_items) when it commits. */
#define PG_NOTIFY_MAX 64

/*
 * The writer's own state beside the shared struct pg_store (first, so
 * store_pg_read.c takes the same pointer as a struct pg_store *).
 */
struct pgw_store {
	struct pg_store pg;
	bool prepared[NSTMT];       /* on the current w connection */
	char *notify[PG_NOTIFY_MAX];
	int nnotify;
	bool notify_all;            /* more playbooks than fit: "" for all */

	/*
	 * The requests applied in the open transaction, in order, with
	 * their times: replayed after a rollback when a pipelined one
	 * failed (pipe_drain). The last npiped were sent in pipeline mode
	 * and their results are not read yet.
	 */
	struct qreq **batch;
	int64_t *batch_now;
	/* How many requests the pipelined statement sent for this one
	 * answers: 1, n for the first of n enqueues sent as one
	 * (S_ENQ_MANY), 0 for the other n - 1. */
	int *batch_unit;
	int nbatch, capbatch;
	bool piping;
	int npiped;
	/* Requests held back to go as one statement: the last nenq of the
	 * batch, counted in npiped, not sent yet; enqueues, or last-step
	 * results when hold_final. */
	int nenq;
	bool hold_final;
	bool one_by_one;            /* replaying: no S_ENQ_MANY */
	bool dead;                  /* the transaction is lost: fail fast */
	int64_t audit_base;         /* the chain's head when it was locked */

	/* The listener (LISTEN clerk_items), on its own connection and
	 * thread, started by the first pg_on_wakeup. */
	pthread_t listener;
	bool listening;
	atomic_bool stop;
	pthread_mutex_t wlock;      /* fn, arg */
	void (*fn)(void *);
	void *arg;
};

static void pipe_drain(struct pgw_store *s);
static char *pg_array(const char *json);
static void pipe_discard(struct pgw_store *s);

bool
store_pg_url(const char *s)
{
	return s != NULL && (strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0);
}

/*
 * url without its password (user:PASSWORD@, password=... in the query),
 * for messages and logs; allocated.
 */
static char *
safe_url(const char *url)
{
	char *u = xstrdup(url), *p, *at, *colon, *slash;

	p = strstr(u, "://");
	p = p ? p + 3 : u;
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (at != NULL && (slash == NULL || at < slash)) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon != NULL)
			memmove(colon, at, strlen(at) + 1);
	}
	while ((p = strstr(u, "password=")) != NULL) {
		char *end = p + 9 + strcspn(p + 9, "&");

		if (p[9] == '*')
			break;
		memmove(p + 12, end, strlen(end) + 1);
		memcpy(p + 9, "***", 3);
	}
	return u;
}

char *
store_pg_safe_url(const char *url)
{
	return safe_url(url);
}

/* The server's message on one line (DETAIL and HINT lines joined). */
static void
one_line(char *dst, size_t len, const char *msg)
{
	size_t n;

	snprintf(dst, len, "%s", msg ? msg : "");
	n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
		dst[--n] = '\0';
	for (char *c = dst; *c != '\0'; c++)
		if (*c == '\n')
			*c = ';';
}

/* e from res (or the connection when res is NULL). */
static void
pg_err_res(struct err *e, PGconn *c, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
	    NULL;
	enum err_code code = ERR_FAIL;
	const char *hint = "";
	char msg[384];

	one_line(msg, sizeof(msg), res && PQresultErrorMessage(res)[0] ?
	    PQresultErrorMessage(res) : PQerrorMessage(c));
	if (state == NULL)
		state = "";
	if (PQstatus(c) != CONNECTION_OK || strncmp(state, "08", 2) == 0 ||
	    strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
	    strcmp(state, "57P03") == 0 || strcmp(state, "53300") == 0) {
		code = ERR_UNAVAILABLE;
		hint = "; work resumes when the database is back";
	} else if (strncmp(state, "53", 2) == 0) {
		code = ERR_UNAVAILABLE;
		hint = "; the database server is out of disk or memory: free"
		    " some, nothing was lost and work resumes once writes"
		    " succeed";
	} else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0) {
		code = ERR_UNAVAILABLE;
		hint = "; another node was changing the same rows: try again";
	} else if (strcmp(state, "25006") == 0) {
		code = ERR_UNAVAILABLE;
		hint = "; the database is read-only (a standby?): point clerk"
		    " at the primary";
	}
	err_setc(e, code, "database postgresql://%s@%s:%s/%s: %s: %s%s",
	    PQuser(c) ? PQuser(c) : "", PQhost(c) ? PQhost(c) : "",
	    PQport(c) ? PQport(c) : "", PQdb(c) ? PQdb(c) : "", what, msg,
	    hint);
}

void
pg_err(struct err *e, PGconn *c, const char *what)
{
	pg_err_res(e, c, NULL, what);
}

static bool
res_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

PGresult *
pg_exec(PGconn *c, struct err *e, const char *sql, int n,
    const char *const *params)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

	if (res == NULL || !res_ok(res)) {
		pg_err_res(e, c, res, "query");
		PQclear(res);
		return NULL;
	}
	return res;
}

int64_t
pg_int(const PGresult *res, int r, int i)
{
	if (PQgetisnull(res, r, i))
		return 0;
	return strtoll(PQgetvalue(res, r, i), NULL, 10);
}

const char *
pg_text(const PGresult *res, int r, int i)
{
	if (PQgetisnull(res, r, i))
		return NULL;
	return PQgetvalue(res, r, i);
}

/* Runs SQL without parameters (possibly several statements); -1 on
 * error. */
static int
pg_simple(PGconn *c, const char *sql, struct err *e)
{
	PGresult *res = PQexec(c, sql);
	int rc = res != NULL && res_ok(res) ? 0 : -1;

	if (rc < 0)
		pg_err_res(e, c, res, sql);
	PQclear(res);
	return rc;
}

static PGconn *
pg_connect(const char *url, const char *safe, struct err *e)
{
	PGconn *c = PQconnectdb(url);

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		char msg[384];

		one_line(msg, sizeof(msg), c ? PQerrorMessage(c) :
		    "out of memory");
		err_setc(e, ERR_UNAVAILABLE, "database %s: cannot connect: %s;"
		    " check the store URL, that the server runs and that it"
		    " lets this user in (pg_hba.conf)", safe, msg);
		PQfinish(c);
		return NULL;
	}
	/* Times are bigint ms and payloads text: the session's settings
	 * change nothing clerk reads, but messages should be plain. */
	PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
	return c;
}

/* The schema version clerk_meta holds: 0 for a database without one. */
static int
read_version(PGconn *c, int *version, struct err *e)
{
	PGresult *res;

	res = pg_exec(c, e, "SELECT CASE WHEN to_regclass('clerk_meta') IS"
	    " NULL THEN NULL ELSE 1 END", 0, NULL);
	if (res == NULL)
		return -1;
	if (PQgetisnull(res, 0, 0)) {
		PQclear(res);
		*version = 0;
		return 0;
	}
	PQclear(res);
	res = pg_exec(c, e, "SELECT value FROM clerk_meta WHERE key ="
	    " 'schema_version'", 0, NULL);
	if (res == NULL)
		return -1;
	*version = PQntuples(res) > 0 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	PQclear(res);
	return 0;
}

/*
 * Under the schema's advisory lock, so two nodes starting at once on a
 * new database make it once: creates the schema in an empty database,
 * refuses a newer one, brings an older one up to this clerk's.
 */
static int
check_schema(struct pg_store *s, struct err *e)
{
	char sql[160];
	int version, rc = -1;

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)",
	    (long long)PG_LOCK_SCHEMA);
	if (pg_simple(s->w, sql, e) < 0)
		return -1;
	if (read_version(s->w, &version, e) < 0)
		goto out;
	if (version > PG_SCHEMA_VERSION) {
		err_set(e, "database %s has schema version %d, newer than this"
		    " clerk's (%d): it was opened by a newer clerk; run that"
		    " version (every node of a cluster runs the same one)",
		    s->safe_url, version, PG_SCHEMA_VERSION);
		goto out;
	}
	if (version == PG_SCHEMA_VERSION) {
		rc = 0;
		goto out;
	}
	if (pg_simple(s->w, "BEGIN", e) < 0)
		goto out;
	if (version == 0) {
		if (pg_simple(s->w, pg_schema_sql, e) < 0)
			goto fail;
	} else {
		for (int v = version; v < PG_SCHEMA_VERSION; v++) {
			if (pg_migrations[v] == NULL) {
				err_set(e, "database %s has schema version %d,"
				    " which this clerk cannot migrate (its"
				    " first PostgreSQL schema is %d)",
				    s->safe_url, version, PG_SCHEMA_VERSION);
				goto fail;
			}
			if (pg_simple(s->w, pg_migrations[v], e) < 0)
				goto fail;
		}
		log_info("database %s: schema %d -> %d", s->safe_url, version,
		    PG_SCHEMA_VERSION);
	}
	snprintf(sql, sizeof(sql), "INSERT INTO clerk_meta(key, value)"
	    " VALUES('schema_version', '%d') ON CONFLICT(key) DO UPDATE"
	    " SET value = excluded.value", PG_SCHEMA_VERSION);
	if (pg_simple(s->w, sql, e) < 0 || pg_simple(s->w, "COMMIT", e) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	pg_simple(s->w, "ROLLBACK", NULL);
out:
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)",
	    (long long)PG_LOCK_SCHEMA);
	pg_simple(s->w, sql, NULL);
	return rc;
}

static void
notify_clear(struct pgw_store *s)
{
	for (int i = 0; i < s->nnotify; i++)
		free(s->notify[i]);
	s->nnotify = 0;
	s->notify_all = false;
}

static void
pg_close(void *p)
{
	struct pgw_store *s = p;

	if (s == NULL)
		return;
	if (s->listening) {
		atomic_store(&s->stop, true);
		pthread_join(s->listener, NULL);
	}
	pthread_mutex_destroy(&s->wlock);
	notify_clear(s);
	free(s->batch);
	free(s->batch_now);
	free(s->batch_unit);
	PQfinish(s->pg.w);
	PQfinish(s->pg.r);
	pthread_mutex_destroy(&s->pg.rlock);
	free(s->pg.url);
	free(s->pg.safe_url);
	free(s);
}

/*
 * The writer's session. Every statement it runs reaches its rows through
 * a primary key, a unique key or a partial index of the rows it wants
 * (items_ready for claims, items_leased for expiry, renewal and
 * recovery), so a sequential scan is never the right plan for it; but
 * the planner picks one wherever its statistics say a table is small,
 * and a bench or a new node's database has none until autovacuum's
 * first ANALYZE: on a fresh database the claim's journal read scanned
 * all of steps for the 512 ids it wanted. enable_seqscan = off makes a
 * seq scan the last resort, not forbidden (a table without a usable
 * index is still read). JIT is off for the same statistics: with none,
 * a 512-id read is costed past jit_above_cost and spends 15 ms
 * compiling a query that runs in 1.
 */
static int
writer_session(PGconn *w, struct err *e)
{
	return pg_simple(w, "SET enable_seqscan = off; SET jit = off", e);
}

/*
 * synchronous_commit is left as the server has it (on by default): a
 * commit clerk reports is on the primary's disk, and on a synchronous
 * standby's too when the server is set up so. The durable option is
 * SQLite's fsync setting and changes nothing here.
 */
static void *
pg_open(const char *url, const struct queue_opts *o, struct err *e)
{
	struct pgw_store *s = xcalloc(1, sizeof(*s));

	(void)o;
	s->pg.url = xstrdup(url);
	s->pg.safe_url = safe_url(url);
	pthread_mutex_init(&s->pg.rlock, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	if ((s->pg.w = pg_connect(url, s->pg.safe_url, e)) == NULL ||
	    check_schema(&s->pg, e) < 0 || writer_session(s->pg.w, e) < 0 ||
	    (s->pg.r = pg_connect(url, s->pg.safe_url, e)) == NULL) {
		pg_close(s);
		return NULL;
	}
	return s;
}

/* A connection lost (a restart, a failover) is made again at the next
 * transaction; its prepared statements went with it. */
static int
pg_reconnect(struct pgw_store *s, struct err *e)
{
	if (PQstatus(s->pg.w) == CONNECTION_OK)
		return 0;
	PQreset(s->pg.w);
	memset(s->prepared, 0, sizeof(s->prepared));
	if (PQstatus(s->pg.w) != CONNECTION_OK) {
		pg_err(e, s->pg.w, "reconnecting");
		e->code = ERR_UNAVAILABLE;
		return -1;
	}
	if (writer_session(s->pg.w, e) < 0) {
		e->code = ERR_UNAVAILABLE;
		return -1;
	}
	log_info("database %s: connected again", s->pg.safe_url);
	return 0;
}

static void
tx_reset(struct pgw_store *s)
{
	s->pg.in_tx = false;
	s->pg.audit_locked = false;
	s->nbatch = 0;
	s->nenq = 0;
	s->dead = false;
	notify_clear(s);
}

/*
 * Statements run once per claim rather than once per item, whose best
 * plan depends on how big the tables are. Prepared, PostgreSQL would
 * keep the generic plan it settles on after five runs - made when the
 * queue was young and steps nearly empty, a sequential scan of steps,
 * kept for the life of the connection while steps grows (with 50,000
 * rows it made each claim's journal read 50 ms instead of 0.2 ms). Sent
 * unnamed they are planned at every run, with the ids at hand and the
 * tables as they are; the planning costs tens of microseconds per claim
 * of hundreds of items. The per-item statements stay prepared: each
 * reaches its rows through a primary or unique key, a plan no table
 * size changes.
 */
static bool
replanned(int which)
{
	return which == S_CLAIM_EXPIRE || which == S_CLAIM ||
	    which == S_STEPS_OF || which == S_RECOVER;
}

static int
prepare(struct pgw_store *s, int which, struct err *e)
{
	char name[16];
	PGresult *res;

	if (s->prepared[which])
		return 0;
	snprintf(name, sizeof(name), "s%d", which);
	res = PQprepare(s->pg.w, name, stmt_sql[which], 0, NULL);
	if (res == NULL || !res_ok(res)) {
		pg_err_res(e, s->pg.w, res, "preparing a statement");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	s->prepared[which] = true;
	return 0;
}

static int
pg_begin(void *p, struct err *e)
{
	struct pgw_store *s = p;

	tx_reset(s);
	/* A connection the server ended while it was idle (a restart, a
	 * failover, an idle timeout) shows only when used: nothing is sent
	 * yet, so it is made again once and the batch goes on. */
	for (int tries = 0; tries < 2; tries++) {
		bool ok = true;

		if (pg_reconnect(s, e) < 0)
			return -1;
		for (size_t i = 0; ok && i < sizeof(piped_stmts) /
		    sizeof(piped_stmts[0]); i++)
			ok = prepare(s, piped_stmts[i], e) == 0;
		if (ok && pg_simple(s->pg.w, "BEGIN", e) == 0) {
			s->pg.in_tx = true;
			return 0;
		}
		if (PQstatus(s->pg.w) == CONNECTION_OK)
			return -1;
	}
	return -1;
}

static int
pg_commit(void *p, struct err *e)
{
	struct pgw_store *s = p;
	PGresult *res;
	int rc;

	pipe_drain(s);
	if (s->dead) {
		err_setc(e, ERR_UNAVAILABLE, "database %s: the transaction was"
		    " lost; work resumes when the database is back",
		    s->pg.safe_url);
		return -1;
	}
	/* Inside the transaction: PostgreSQL sends them at the commit, and
	 * only if it commits. */
	for (int i = 0; i < s->nnotify || (i == 0 && s->notify_all); i++) {
		const char *pb = s->notify_all ? "" : s->notify[i];

		res = pg_exec(s->pg.w, e, stmt_sql[S_NOTIFY], 1, &pb);
		if (res == NULL)
			return -1;
		PQclear(res);
		if (s->notify_all)
			break;
	}
	res = PQexec(s->pg.w, "COMMIT");
	/* COMMIT of a failed transaction "succeeds" as a ROLLBACK. */
	rc = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdStatus(res), "COMMIT") == 0 ? 0 : -1;
	if (rc < 0) {
		pg_err_res(e, s->pg.w, res, "commit");
		if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK)
			err_setc(e, ERR_FAIL, "database %s: the transaction"
			    " was rolled back (a statement in it failed)",
			    s->pg.safe_url);
	}
	PQclear(res);
	/*
	 * No anchor file: the database is shared by the nodes and kept by
	 * its replicas and WAL archive, and a file on one node would see
	 * only this node's commits. The journal still gets the head this
	 * commit left, a witness outside the database as with SQLite.
	 */
	if (rc == 0 && s->pg.audit_locked && s->pg.audit_id > s->audit_base)
		log_info("audit head: id=%lld hash=%s",
		    (long long)s->pg.audit_id, s->pg.audit_hash);
	if (rc == 0)
		tx_reset(s);
	return rc;
}

static void
pg_rollback(void *p)
{
	struct pgw_store *s = p;

	pipe_discard(s);
	if (PQstatus(s->pg.w) == CONNECTION_OK &&
	    PQtransactionStatus(s->pg.w) != PQTRANS_IDLE)
		pg_simple(s->pg.w, "ROLLBACK", NULL);
	/* Audit rows of the lost transaction are gone: the head is read
	 * again, under the lock, at the next one. */
	tx_reset(s);
}

static PGresult *
vrun(struct pgw_store *s, struct err *e, int which, const char *fmt,
    va_list ap)
{
	const char *params[10];
	char nums[10][24], name[16];
	PGresult *res;
	int n = 0;

	/* A format that does not fit is a bug in this file, never bad
	 * input. */
	if (strlen(fmt) > 10)
		fatal("store_pg: statement %d: too many parameters", which);
	snprintf(name, sizeof(name), "s%d", which);
	if (!replanned(which) && prepare(s, which, e) < 0)
		return NULL;
	for (const char *f = fmt; *f != '\0'; f++, n++) {
		if (*f == 'i') {
			snprintf(nums[n], sizeof(nums[n]), "%lld",
			    (long long)va_arg(ap, int64_t));
			params[n] = nums[n];
		} else
			params[n] = va_arg(ap, const char *);
	}
	if (replanned(which))
		res = PQexecParams(s->pg.w, stmt_sql[which], n, NULL, params,
		    NULL, NULL, 0);
	else
		res = PQexecPrepared(s->pg.w, name, n, params, NULL, NULL, 0);
	if (res == NULL || !res_ok(res)) {
		pg_err_res(e, s->pg.w, res, "write");
		PQclear(res);
		return NULL;
	}
	return res;
}

/*
 * Runs statement which with the arguments in a tiny format, as
 * store_sqlite.c's bind(): i = int64, t = text (NULL ok). Statements are
 * prepared once per connection. Returns the result (the caller
 * PQclear()s) or NULL with e set.
 */
static PGresult *
run(struct pgw_store *s, struct err *e, int which, const char *fmt, ...)
{
	PGresult *res;
	va_list ap;

	va_start(ap, fmt);
	res = vrun(s, e, which, fmt, ap);
	va_end(ap);
	return res;
}

/* run() for a statement whose rows are not wanted: the number of rows it
 * changed, or -1. */
static int
run_n(struct pgw_store *s, struct err *e, int which, const char *fmt, ...)
{
	PGresult *res;
	va_list ap;
	int changed;

	va_start(ap, fmt);
	res = vrun(s, e, which, fmt, ap);
	va_end(ap);
	if (res == NULL)
		return -1;
	changed = atoi(PQcmdTuples(res));
	PQclear(res);
	return changed;
}

/*
 * Appends a row to the audit chain inside the open transaction. The
 * first row of a transaction takes the chain's lock and reads its head
 * as committed by any node; the lock is held to the commit, so no other
 * node appends in between, and the rest of the transaction chains on in
 * memory.
 */
static int
audit_append(struct pgw_store *s, int64_t now, const char *actor,
    const char *action, const char *target, const char *details,
    struct err *e)
{
	char h[65];
	int64_t id;
	PGresult *res;

	if (!s->pg.audit_locked) {
		if ((res = run(s, e, S_AUDIT_LOCK, "i",
		    (int64_t)PG_LOCK_AUDIT)) == NULL)
			return -1;
		PQclear(res);
		if ((res = run(s, e, S_AUDIT_HEAD, "")) == NULL)
			return -1;
		s->pg.audit_id = 0;
		snprintf(s->pg.audit_hash, sizeof(s->pg.audit_hash), "%s",
		    AUDIT_GENESIS);
		if (PQntuples(res) > 0) {
			s->pg.audit_id = pg_int(res, 0, 0);
			snprintf(s->pg.audit_hash, sizeof(s->pg.audit_hash),
			    "%s", PQgetvalue(res, 0, 1));
		}
		PQclear(res);
		s->pg.audit_locked = true;
		s->audit_base = s->pg.audit_id;
	}
	id = s->pg.audit_id + 1;
	if (actor == NULL)
		actor = "unknown";
	audit_hash(s->pg.audit_hash, id, now, actor, action, target, details,
	    h);
	if (run_n(s, e, S_AUDIT_INSERT, "iitttttt", id, now, actor, action,
	    target, details, s->pg.audit_hash, h) < 0)
		return -1;
	s->pg.audit_id = id;
	memcpy(s->pg.audit_hash, h, sizeof(h));
	return 0;
}

/* ---- payload edits: SQLite's json_patch / json_set / json_remove ---- */

/* RFC 7396 merge patch, as SQLite's json_patch(): a null removes a key,
 * an object merges into an object, anything else replaces. */
static json_t *
merge_patch(json_t *target, json_t *patch)
{
	const char *k;
	json_t *v;

	if (!json_is_object(patch))
		return json_incref(patch);
	if (!json_is_object(target))
		target = json_object();
	else
		target = json_incref(target);
	json_object_foreach(patch, k, v) {
		if (json_is_null(v))
			json_object_del(target, k);
		else
			json_object_set_new(target, k, merge_patch(
			    json_object_get(target, k), v));
	}
	return target;
}

enum pedit { PE_PATCH, PE_UNAPPROVE, PE_WAIT_SET, PE_WAIT_END };

/*
 * Edits item id's payload: read FOR UPDATE, changed with jansson, written
 * back only when it changed. No such item changes nothing, as the UPDATE
 * in store_sqlite.c would.
 */
static int
payload_edit(struct pgw_store *s, int64_t id, enum pedit op, const char *arg,
    struct err *e)
{
	PGresult *res = run(s, e, S_ITEM_PAYLOAD, "i", id);
	json_t *p, *a, *np = NULL;
	json_error_t je;
	bool changed = false;
	char *text;
	int rc;

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	p = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &je);
	PQclear(res);
	if (p == NULL) {
		err_set(e, "item %lld: its payload is not JSON (%s)",
		    (long long)id, je.text);
		return -1;
	}
	switch (op) {
	case PE_PATCH:
		if ((a = json_loads(arg, JSON_DECODE_ANY, &je)) == NULL) {
			err_set(e, "malformed JSON: %s", je.text);
			json_decref(p);
			return -1;
		}
		np = merge_patch(p, a);
		json_decref(a);
		json_decref(p);
		p = np;
		changed = true;
		break;
	case PE_UNAPPROVE:
		a = json_object_get(p, "_approved");
		if (json_is_object(a) && json_object_get(a, arg) != NULL) {
			json_object_del(a, arg);
			changed = true;
		}
		break;
	case PE_WAIT_SET:
		if ((a = json_loads(arg, JSON_DECODE_ANY, &je)) == NULL) {
			err_set(e, "malformed JSON: %s", je.text);
			json_decref(p);
			return -1;
		}
		if (json_is_object(p)) {
			json_object_set_new(p, "_waiting", a);
			changed = true;
		} else
			json_decref(a);
		break;
	case PE_WAIT_END:
		if (json_is_object(p) && json_object_get(p, "_waiting") !=
		    NULL) {
			json_object_del(p, "_waiting");
			changed = true;
		}
		break;
	}
	if (!changed) {
		json_decref(p);
		return 0;
	}
	text = json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY |
	    JSON_PRESERVE_ORDER);
	json_decref(p);
	if (text == NULL) {
		err_set(e, "item %lld: cannot write its payload",
		    (long long)id);
		return -1;
	}
	rc = run_n(s, e, S_ITEM_SET_PAYLOAD, "it", id, text);
	free(text);
	return rc < 0 ? -1 : 0;
}

/* ---- requests ---- */

static void
notify_add(struct pgw_store *s, const char *playbook)
{
	if (s->notify_all)
		return;
	for (int i = 0; i < s->nnotify; i++)
		if (strcmp(s->notify[i], playbook) == 0)
			return;
	if (s->nnotify == PG_NOTIFY_MAX) {
		s->notify_all = true;
		return;
	}
	s->notify[s->nnotify++] = xstrdup(playbook);
}

/* An item queued again by a person: the nodes waiting for work hear of
 * it at the commit. */
static int
requeue(struct pgw_store *s, int64_t item, int64_t now, struct err *e)
{
	PGresult *res = run(s, e, S_ITEM_REQUEUE, "ii", item, now);

	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0)
		notify_add(s, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
do_enqueue(struct pgw_store *s, struct qreq *r, int64_t now)
{
	PGresult *res;

	/* Insert first: a new key is the common case; the unique index
	 * answers the duplicate question, across nodes too (a second node
	 * inserting the same key waits for the first and then does
	 * nothing). */
	res = run(s, &r->err, S_ENQ_INSERT, "tttiiti", r->u.enqueue.key,
	    r->u.enqueue.playbook, r->u.enqueue.pb_hash,
	    (int64_t)r->u.enqueue.priority,
	    r->u.enqueue.not_before ? r->u.enqueue.not_before : now,
	    r->u.enqueue.payload ? r->u.enqueue.payload : "{}", now);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		r->u.enqueue.id = pg_int(res, 0, 0);
		r->u.enqueue.dup = false;
		PQclear(res);
		/* In the item's own transaction: a slot is marked fired
		 * exactly when its item is committed. */
		if (r->u.enqueue.slot > 0 && run_n(s, &r->err, S_SLOT_MARK,
		    "ti", r->u.enqueue.playbook, r->u.enqueue.slot) < 0)
			return -1;
		notify_add(s, r->u.enqueue.playbook);
		return 0;
	}
	PQclear(res);
	res = run(s, &r->err, S_ENQ_FIND, "tt", r->u.enqueue.playbook,
	    r->u.enqueue.key);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(&r->err, "enqueue: item %s of %s neither inserted nor"
		    " found", r->u.enqueue.key, r->u.enqueue.playbook);
		return -1;
	}
	r->u.enqueue.id = pg_int(res, 0, 0);
	r->u.enqueue.dup = true;
	PQclear(res);
	return 0;
}

static char *
dup_text(const PGresult *res, int row, int col)
{
	const char *t = pg_text(res, row, col);

	return t ? xstrdup(t) : NULL;
}

static int
item_order(const void *a, const void *b)
{
	const struct item *x = *(struct item *const *)a;
	const struct item *y = *(struct item *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->not_before != y->not_before)
		return x->not_before < y->not_before ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The journals of the n claimed items, in one query. */
static int
load_steps(struct pgw_store *s, struct item **items, int n, struct err *e)
{
	char *ids;
	size_t len = 0, cap = (size_t)n * 21 + 3;
	PGresult *res;
	int j = 0;

	if (n == 0)
		return 0;
	ids = xcalloc(1, cap);
	ids[len++] = '{';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(ids + len, cap - len, "%s%lld",
		    i ? "," : "", (long long)items[i]->id);
	snprintf(ids + len, cap - len, "}");
	res = run(s, e, S_STEPS_OF, "t", ids);
	free(ids);
	if (res == NULL)
		return -1;
	for (int row = 0; row < PQntuples(res); row++) {
		int64_t item = pg_int(res, row, 0);
		struct item *it = NULL;

		for (int k = 0; k < n; k++, j = (j + 1) % n)
			if (items[j]->id == item) {
				it = items[j];
				break;
			}
		if (it == NULL)
			continue;
		it->steps = xrealloc(it->steps, (it->nsteps + 1) *
		    sizeof(*it->steps));
		it->steps[it->nsteps].step_id = dup_text(res, row, 1);
		it->steps[it->nsteps].output = dup_text(res, row, 2);
		it->nsteps++;
	}
	PQclear(res);
	return 0;
}

static int
do_claim(struct pgw_store *s, struct qreq *r, int64_t now)
{
	struct item **items;
	PGresult *res;
	int n, expired;

	r->u.claim.items = NULL;
	r->u.claim.n = 0;
	if (r->u.claim.max <= 0 || r->u.claim.max > 100000) {
		err_setc(&r->err, ERR_INVALID, "claim: max must be 1..100000,"
		    " not %d", r->u.claim.max);
		return -1;
	}
	/* Any node rescues any node's expired leases: a node that died
	 * leaves its items to whoever claims next. */
	if ((expired = run_n(s, &r->err, S_CLAIM_EXPIRE, "i", now)) < 0)
		return -1;
	if (expired > 0)
		log_warn("%d item(s) whose lease expired returned to the queue",
		    expired);
	res = run(s, &r->err, S_CLAIM, "ttiii",
	    r->u.claim.playbook, r->u.claim.owner, r->u.claim.lease_ms, now,
	    (int64_t)r->u.claim.max);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	items = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*items));
	for (int i = 0; i < n; i++) {
		struct item *it = xcalloc(1, sizeof(*it));

		it->id = pg_int(res, i, 0);
		it->key = dup_text(res, i, 1);
		it->playbook = dup_text(res, i, 2);
		it->pb_hash = dup_text(res, i, 3);
		it->priority = (int)pg_int(res, i, 4);
		it->not_before = pg_int(res, i, 5);
		it->payload = dup_text(res, i, 6);
		it->attempts = (int)pg_int(res, i, 7);
		it->created = pg_int(res, i, 8);
		it->state = ITEM_RUNNING;
		it->lease_expires = pg_int(res, i, 9);
		items[i] = it;
	}
	PQclear(res);
	/* RETURNING has no order: the claim order is the queue's. */
	qsort(items, (size_t)n, sizeof(*items), item_order);
	if (load_steps(s, items, n, &r->err) < 0) {
		for (int i = 0; i < n; i++)
			item_free(items[i]);
		free(items);
		return -1;
	}
	r->u.claim.items = items;
	r->u.claim.n = n;
	return 0;
}

/* -1 with a conflict error when the item is not (or no longer) running
 * here. */
static int
require_changed(struct qreq *r, int changed, int64_t item, const char *what)
{
	if (changed < 0)
		return -1;
	if (changed == 1)
		return 0;
	err_setc(&r->err, ERR_CONFLICT, "item %lld is not running here any"
	    " more (its lease expired, or it was released or cancelled); %s"
	    " discarded", (long long)item, what);
	return -1;
}

static int
do_step_done(struct pgw_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.step_done.item;

	if (r->u.step_done.step_id != NULL) {
		/* The last step's finish below updates the row anyway. */
		if (!r->u.step_done.final && require_changed(r, run_n(s,
		    &r->err, S_STEP_ADVANCE, "iitt", id, now,
		    r->u.step_done.pb_hash, r->u.step_done.owner), id,
		    "step result") < 0)
			return -1;
		if (run_n(s, &r->err, S_STEP_INSERT, "itttii", id,
		    r->u.step_done.step_id, r->u.step_done.pb_hash,
		    r->u.step_done.output ? r->u.step_done.output : "{}", now,
		    r->u.step_done.ms) < 0)
			return -1;
	}
	if (r->u.step_done.final && require_changed(r, run_n(s, &r->err,
	    S_STEP_FINISH, "iitt", id, now, r->u.step_done.owner,
	    r->u.step_done.pb_hash), id, "completion") < 0)
		return -1;
	if (r->u.step_done.end_wait)
		return payload_edit(s, id, PE_WAIT_END, NULL, &r->err);
	return 0;
}

static int
do_fail(struct pgw_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.fail.item, state;
	PGresult *res;
	int changed;

	/* Before the update: the attempt is the one that failed. */
	if (run_n(s, &r->err, S_FAIL_LOG, "itiitt", id, r->u.fail.step_id,
	    now, (int64_t)r->u.fail.kind, r->u.fail.action == FAIL_RETRY ?
	    "retry" : r->u.fail.reason, r->u.fail.message) < 0)
		return -1;
	if (r->u.fail.action == FAIL_RETRY)
		changed = run_n(s, &r->err, S_FAIL_RETRY, "iitiit", id,
		    r->u.fail.not_before, r->u.fail.message,
		    (int64_t)r->u.fail.kind, now, r->u.fail.owner);
	else {
		state = r->u.fail.action == FAIL_ESCALATE ? ITEM_ESCALATED :
		    ITEM_REJECTED;
		changed = run_n(s, &r->err, S_FAIL_STATE, "iitiit", id, state,
		    r->u.fail.message, (int64_t)r->u.fail.kind, now,
		    r->u.fail.owner);
	}
	if (require_changed(r, changed, id, "step failure") < 0)
		return -1;
	/* A failure ends a wait: a retry of the item, a reviewer's or the
	 * backoff's, waits with a new clock. */
	if (r->u.fail.end_wait && payload_edit(s, id, PE_WAIT_END, NULL,
	    &r->err) < 0)
		return -1;
	if (r->u.fail.action != FAIL_ESCALATE)
		return 0;
	res = run(s, &r->err, S_ESC_INSERT, "ititttii", id, r->u.fail.step_id,
	    (int64_t)r->u.fail.kind, r->u.fail.reason ? r->u.fail.reason :
	    "escalated", r->u.fail.message ? r->u.fail.message : "",
	    r->u.fail.context, now, r->u.fail.due);
	if (res == NULL)
		return -1;
	r->u.fail.escalation = PQntuples(res) > 0 ? pg_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

static int
item_state_of(struct pgw_store *s, int64_t id, int *state, struct err *e)
{
	PGresult *res = run(s, e, S_ITEM_STATE, "i", id);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_setc(e, ERR_NOTFOUND, "no item %lld", (long long)id);
		return -1;
	}
	*state = (int)pg_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/*
 * Whether `by` may act on escalation id: -1 (and e) when it is not open or
 * another reviewer holds an unexpired claim on it. The row stays locked
 * to the commit.
 */
static int
esc_check_holder(struct pgw_store *s, int64_t id, const char *by,
    int64_t now, struct err *e)
{
	PGresult *res = run(s, e, S_ESC_HOLDER, "i", id);
	const char *state, *holder;
	int64_t until;
	int ret = 0;

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_setc(e, ERR_NOTFOUND, "no escalation %lld", (long long)id);
		return -1;
	}
	state = pg_text(res, 0, 0);
	holder = pg_text(res, 0, 1);
	until = pg_int(res, 0, 2);
	ret = store_esc_holder_check(id, state, holder, until, by, now, e);
	PQclear(res);
	return ret;
}

static int
do_esc_claim(struct pgw_store *s, struct qreq *r, int64_t now)
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
	if (run_n(s, &r->err, S_ESC_SET_CLAIM, "iti", id, claim ?
	    r->u.esc_claim.by : NULL, r->u.esc_claim.until) < 0)
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
do_esc_assign(struct pgw_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.esc_assign.escalation;
	const char *by = r->u.esc_assign.by, *to = r->u.esc_assign.to;
	const char *state, *assignee, *holder;
	PGresult *res;
	char *target, *det;
	json_t *d;
	int64_t until;
	int ret = -1;

	r->u.esc_assign.from[0] = '\0';
	if (store_esc_assign_check(r, &r->err) < 0)
		return -1;
	if ((res = run(s, &r->err, S_ESC_ASSIGNEE, "i", id)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_setc(&r->err, ERR_NOTFOUND, "no escalation %lld",
		    (long long)id);
		return -1;
	}
	state = pg_text(res, 0, 0);
	assignee = pg_text(res, 0, 1);
	holder = pg_text(res, 0, 2);
	until = pg_int(res, 0, 3);
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
	if (run_n(s, &r->err, S_ESC_SET_ASSIGNEE, "iti", id, to, now) < 0)
		goto out;
	target = xasprintf("escalation:%lld", (long long)id);
	d = json_pack("{s:s,s:s?}", "to", to, "from", assignee);
	det = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	ret = audit_append(s, now, by, "assign", target, det, &r->err);
	free(target);
	free(det);
out:
	PQclear(res);
	return ret;
}

static int
do_esc_comment(struct pgw_store *s, struct qreq *r, int64_t now)
{
	int64_t id = r->u.esc_comment.escalation;
	const char *text = r->u.esc_comment.text;
	PGresult *res;
	char *target, *det;
	json_t *d;
	int ret;

	if (store_esc_comment_check(r, &r->err) < 0)
		return -1;
	if ((res = run(s, &r->err, S_ESC_COMMENT_INSERT, "iitt", id, now,
	    r->u.esc_comment.by, text)) == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		err_setc(&r->err, ERR_NOTFOUND, "no escalation %lld",
		    (long long)id);
		return -1;
	}
	r->u.esc_comment.id = pg_int(res, 0, 0);
	PQclear(res);
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

/* The approval of step_id put into item's payload (_approved.STEP). */
static int
approve_step(struct pgw_store *s, struct qreq *r, int64_t item,
    const char *step_id, int64_t now)
{
	json_t *fields = NULL, *a, *patch;
	char *text;
	int rc;

	if (r->u.decide.payload != NULL) {
		json_t *p = json_loads(r->u.decide.payload, 0, NULL);

		fields = json_incref(json_object_get(p, "fields"));
		json_decref(p);
	}
	a = json_pack("{s:I,s:s,s:I}", "escalation",
	    (json_int_t)r->u.decide.escalation, "by",
	    r->u.decide.by ? r->u.decide.by : "?", "at", (json_int_t)now);
	if (json_is_object(fields))
		json_object_set(a, "fields", fields);
	json_decref(fields);
	patch = json_pack("{s:{s:o}}", "_approved", step_id, a);
	text = json_dumps(patch, JSON_COMPACT);
	json_decref(patch);
	rc = payload_edit(s, item, PE_PATCH, text, &r->err);
	free(text);
	return rc;
}

static int
do_decide(struct pgw_store *s, struct qreq *r, int64_t now)
{
	PGresult *res;
	int64_t item;
	char *step_id = NULL;
	const char *state, *decision, *by;
	int rc, ret = -1;

	res = run(s, &r->err, S_ESC_FIND, "i", r->u.decide.escalation);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_setc(&r->err, ERR_NOTFOUND, "no escalation %lld",
		    (long long)r->u.decide.escalation);
		return -1;
	}
	item = pg_int(res, 0, 0);
	step_id = dup_text(res, 0, 1);
	state = pg_text(res, 0, 2);
	decision = pg_text(res, 0, 3);
	by = pg_text(res, 0, 4);
	r->u.decide.item = item;
	if (strcmp(state, "open") != 0) {
		store_esc_decided(r->u.decide.escalation, decision, by,
		    &r->err);
		PQclear(res);
		goto out;
	}
	PQclear(res);
	/* Someone else's unexpired claim keeps the decision theirs. */
	if (esc_check_holder(s, r->u.decide.escalation, r->u.decide.by, now,
	    &r->err) < 0 || store_decide_check(r, &r->err) < 0)
		goto out;
	if (run_n(s, &r->err, S_ESC_DECIDE, "ittit", r->u.decide.escalation,
	    decision_name(r->u.decide.decision), r->u.decide.by, now,
	    r->u.decide.reason) < 0)
		goto out;

	switch (r->u.decide.decision) {
	case DEC_APPROVE:
		/* The reviewer vouches for the step that escalated: the
		 * approval goes into the payload and the step runs once more
		 * as approved (see store_sqlite.c). */
		if (step_id != NULL && approve_step(s, r, item, step_id,
		    now) < 0)
			goto out;
		/* FALLTHROUGH */
	case DEC_RETRY:
	case DEC_RESUME:
		/* Retry and resume run the step again for real: an earlier
		 * approval of it no longer holds. */
		if (r->u.decide.decision != DEC_APPROVE && step_id != NULL &&
		    payload_edit(s, item, PE_UNAPPROVE, step_id, &r->err) < 0)
			goto out;
		if (r->u.decide.decision != DEC_RETRY &&
		    r->u.decide.payload != NULL && payload_edit(s, item,
		    PE_PATCH, r->u.decide.payload, &r->err) < 0)
			goto out;
		if (requeue(s, item, now, &r->err) < 0)
			goto out;
		break;
	case DEC_REJECT:
		if (run_n(s, &r->err, S_ITEM_SET_STATE, "iiit", item,
		    (int64_t)ITEM_REJECTED, now, r->u.decide.reason) < 0)
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
	return ret;
}

static int
item_op_audit(struct pgw_store *s, struct qreq *r, int64_t now,
    const char *action)
{
	char *target = xasprintf("item:%lld", (long long)r->u.item_op.item);
	int rc = audit_append(s, now, r->u.item_op.by ? r->u.item_op.by :
	    "operator", action, target, NULL, &r->err);

	free(target);
	return rc;
}

static int
do_item_op(struct pgw_store *s, struct qreq *r, int64_t now)
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
		if (requeue(s, id, now, &r->err) < 0)
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
	if (run_n(s, &r->err, S_ESC_CLOSE_ITEM, "itti", id, "cancel",
	    "operator", now) < 0 ||
	    run_n(s, &r->err, S_ITEM_SET_STATE, "iiit", id,
	    (int64_t)ITEM_CANCELLED, now, "cancelled by an operator") < 0)
		return -1;
	return item_op_audit(s, r, now, "item.cancel");
}

/* Pauses or resumes a playbook, audited as "pause" / "resume". */
static int
do_pb_pause(struct pgw_store *s, struct qreq *r, int64_t now)
{
	bool pause = r->op == QOP_PB_PAUSE;
	const char *name = r->u.pb_pause.playbook;
	PGresult *res;
	bool paused = false;
	char by[129] = "", *target, *det = NULL;
	int64_t at = 0;
	int rc;

	if ((res = run(s, &r->err, S_PB_LOCK, "it", (int64_t)PG_LOCK_PB,
	    name)) == NULL)
		return -1;
	PQclear(res);
	if ((res = run(s, &r->err, S_PB_STATE, "t", name)) == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		paused = pg_int(res, 0, 0) != 0;
		if (pg_text(res, 0, 1) != NULL)
			snprintf(by, sizeof(by), "%s", pg_text(res, 0, 1));
		at = pg_int(res, 0, 2);
	}
	PQclear(res);
	if (store_pb_pause_check(name, pause, paused, by, at, &r->err) < 0)
		return -1;
	if (run_n(s, &r->err, S_PB_SET_STATE, "titit", name, (int64_t)pause,
	    r->u.pb_pause.by, now, pause ? r->u.pb_pause.reason : NULL) < 0)
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
	if (rc == 0 && !pause)
		notify_add(s, name);
	return rc;
}

static int
do_release(struct pgw_store *s, struct qreq *r, int64_t now)
{
	int changed = run_n(s, &r->err, S_RELEASE, "iii", r->u.release.item,
	    r->u.release.not_before ? r->u.release.not_before : now, now);

	if (changed < 0)
		return -1;
	if (changed != 1 || r->u.release.waiting == NULL)
		return 0;
	if (r->u.release.waiting[0] != '\0')
		return payload_edit(s, r->u.release.item, PE_WAIT_SET,
		    r->u.release.waiting, &r->err);
	return payload_edit(s, r->u.release.item, PE_WAIT_END, NULL, &r->err);
}

static void
sync_apply(struct pgw_store *s, struct qreq *r, int64_t now)
{
	bool audit_locked = s->pg.audit_locked;
	int64_t audit_id = s->pg.audit_id;
	int nnotify = s->nnotify;
	char audit_head[65];
	int rc = -1, n;

	memcpy(audit_head, s->pg.audit_hash, sizeof(audit_head));
	err_clear(&r->err);
	/* A savepoint per request: PostgreSQL aborts a transaction at its
	 * first failed statement, and one refused transition must not undo
	 * the others that share it. */
	if (pg_simple(s->pg.w, "SAVEPOINT req", &r->err) < 0) {
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
		rc = do_release(s, r, now);
		break;
	case QOP_RENEW:
		/* On the database's clock, like the claim's lease. (Sent
		 * pipelined; this is the same request waiting for its
		 * answer.) */
		{
			char *ids = r->u.renew.items ?
			    pg_array(r->u.renew.items) : NULL;

			rc = run_n(s, &r->err, S_RENEW, "tit", r->u.renew.owner,
			    r->u.renew.lease_ms, ids) < 0 ? -1 : 0;
			free(ids);
		}
		break;
	case QOP_RECOVER:
		n = run_n(s, &r->err, S_RECOVER, "it", now, r->u.recover.owner);
		r->u.recover.n = n > 0 ? n : 0;
		rc = n < 0 ? -1 : 0;
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
		rc = run_n(s, &r->err, S_SESSION_SAVE, "ttti",
		    r->u.session.key, r->u.session.csrf, r->u.session.user,
		    r->u.session.last) < 0 ? -1 : 0;
		break;
	case QOP_SESSION_FORGET:
		rc = run_n(s, &r->err, S_SESSION_FORGET, "t",
		    r->u.session.key) < 0 ? -1 : 0;
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
		/* The lock too, if this request took it: it went with the
		 * savepoint. */
		s->pg.audit_locked = audit_locked;
		s->pg.audit_id = audit_id;
		memcpy(s->pg.audit_hash, audit_head, sizeof(audit_head));
		while (s->nnotify > nnotify)
			free(s->notify[--s->nnotify]);
		pg_simple(s->pg.w, "ROLLBACK TO req", NULL);
	}
	pg_simple(s->pg.w, "RELEASE req", NULL);
	r->rc = rc;
}

/* ---- the pipeline: requests sent without waiting for each answer ---- */

/* A JSON array of numbers ("[3,7]") as a PostgreSQL array literal
 * ("{3,7}"); allocated. Anything but digits and commas is dropped, so
 * the literal is always well formed. */
static char *
pg_array(const char *json)
{
	char *a = xcalloc(1, strlen(json) + 3);
	size_t n = 0;

	a[n++] = '{';
	for (const char *c = json; *c != '\0'; c++)
		if ((*c >= '0' && *c <= '9') || *c == ',' || *c == '-')
			a[n++] = *c;
	a[n] = '}';
	return a;
}

/*
 * Whether r can be sent in pipeline mode: one statement whose failure
 * leaves nothing of the request written, so it needs no savepoint. These
 * are the requests a busy queue is made of (enqueues, step results,
 * audit rows, lease renewals); sent back to back, a batch of them costs
 * one round trip to the server instead of three or four each.
 */
static bool
pipelinable(const struct pgw_store *s, const struct qreq *r)
{
	switch (r->op) {
	case QOP_ENQUEUE:
		return r->u.enqueue.slot <= 0;
	case QOP_STEP_DONE:
		return r->u.step_done.step_id != NULL &&
		    !r->u.step_done.end_wait;
	case QOP_AUDIT:
		/* The first row of a transaction takes the chain's lock
		 * and reads its head: that one waits for its answer. */
		return s->pg.audit_locked;
	case QOP_SESSION_SAVE:
	case QOP_SESSION_FORGET:
	case QOP_RENEW:
		return true;
	default:
		return false;
	}
}

static void
batch_add(struct pgw_store *s, struct qreq *r, int64_t now)
{
	if (s->nbatch == s->capbatch) {
		s->capbatch = s->capbatch ? s->capbatch * 2 : 256;
		s->batch = xrealloc(s->batch, (size_t)s->capbatch *
		    sizeof(*s->batch));
		s->batch_now = xrealloc(s->batch_now, (size_t)s->capbatch *
		    sizeof(*s->batch_now));
		s->batch_unit = xrealloc(s->batch_unit, (size_t)s->capbatch *
		    sizeof(*s->batch_unit));
	}
	s->batch_unit[s->nbatch] = 1;
	s->batch[s->nbatch] = r;
	s->batch_now[s->nbatch++] = now;
}

static void
lost(struct pgw_store *s, struct qreq *r)
{
	pg_err(&r->err, s->pg.w, "write");
	r->err.code = ERR_UNAVAILABLE;
	r->rc = -1;
}

/* An array literal being built, for unnest(): {"a","b",NULL}. */
struct arr {
	char *p;
	size_t len, cap;
};

static void
arr_put(struct arr *a, const char *v, size_t n)
{
	if (a->len + n + 2 > a->cap) {
		a->cap = (a->len + n + 2) * 2;
		a->p = xrealloc(a->p, a->cap);
	}
	memcpy(a->p + a->len, v, n);
	a->len += n;
	a->p[a->len] = '\0';
}

/* Appends v quoted (backslash before " and \), or NULL; a text
 * element may hold anything, JSON payloads included. */
static void
arr_add(struct arr *a, const char *v)
{
	arr_put(a, a->len == 0 ? "{" : ",", 1);
	if (v == NULL) {
		arr_put(a, "NULL", 4);
		return;
	}
	arr_put(a, "\"", 1);
	for (const char *c = v; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			arr_put(a, "\\", 1);
		arr_put(a, c, 1);
	}
	arr_put(a, "\"", 1);
}

static void
arr_add_int(struct arr *a, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", (long long)v);
	arr_put(a, a->len == 0 ? "{" : ",", 1);
	arr_put(a, num, strlen(num));
}

/*
 * Sends the requests held back (the last nenq of the batch) as one
 * S_ENQ_MANY or S_FINAL_MANY. Its answer is read by pipe_drain; if it
 * fails, the batch is replayed one statement per request, so the
 * request the database refuses fails alone.
 */
static void
enq_flush(struct pgw_store *s)
{
	struct arr a[7];
	const char *params[7];
	char name[16];
	int first = s->nbatch - s->nenq, n = s->nenq;
	int which = s->hold_final ? S_FINAL_MANY : S_ENQ_MANY;

	if (n == 0)
		return;
	s->nenq = 0;
	memset(a, 0, sizeof(a));
	for (int i = 0; i < n && which == S_FINAL_MANY; i++) {
		struct qreq *r = s->batch[first + i];

		arr_add_int(&a[0], r->u.step_done.item);
		arr_add_int(&a[1], s->batch_now[first + i]);
		arr_add(&a[2], r->u.step_done.owner);
		arr_add(&a[3], r->u.step_done.pb_hash);
		arr_add(&a[4], r->u.step_done.step_id);
		arr_add(&a[5], r->u.step_done.output ?
		    r->u.step_done.output : "{}");
		arr_add_int(&a[6], r->u.step_done.ms);
		s->batch_unit[first + i] = 0;
	}
	for (int i = 0; i < n && which == S_ENQ_MANY; i++) {
		struct qreq *r = s->batch[first + i];
		int64_t now = s->batch_now[first + i];

		arr_add(&a[0], r->u.enqueue.key);
		arr_add(&a[1], r->u.enqueue.playbook);
		arr_add(&a[2], r->u.enqueue.pb_hash);
		arr_add_int(&a[3], r->u.enqueue.priority);
		arr_add_int(&a[4], r->u.enqueue.not_before ?
		    r->u.enqueue.not_before : now);
		arr_add(&a[5], r->u.enqueue.payload ? r->u.enqueue.payload :
		    "{}");
		arr_add_int(&a[6], now);
		s->batch_unit[first + i] = 0;
	}
	s->batch_unit[first] = n;
	for (int i = 0; i < 7; i++) {
		arr_put(&a[i], "}", 1);
		params[i] = a[i].p;
	}
	snprintf(name, sizeof(name), "s%d", which);
	if (PQsendQueryPrepared(s->pg.w, name, 7, params, NULL, NULL, 0) !=
	    1) {
		for (int i = 0; i < n; i++)
			lost(s, s->batch[first + i]);
		s->dead = true;
	}
	for (int i = 0; i < 7; i++)
		free(a[i].p);
}

/* The answer of S_ENQ_MANY for the n enqueues from batch[first]: the
 * rows (id, playbook, key) of those inserted. A request whose key was
 * not inserted existed (or came twice): its id is read after. */
static void
enq_resolve(struct pgw_store *s, int first, int n, const PGresult *res)
{
	int rows = PQntuples(res), j = 0;
	bool *used = xcalloc((size_t)(rows > 0 ? rows : 1), sizeof(*used));

	for (int i = 0; i < n; i++) {
		struct qreq *r = s->batch[first + i];
		int row = -1;

		/* Rows come back in insertion order, i.e. the requests';
		 * the search from j finds the next one at once. */
		for (int k = 0; k < rows && row < 0; k++, j = (j + 1) % rows)
			if (!used[j] && strcmp(PQgetvalue(res, j, 1),
			    r->u.enqueue.playbook) == 0 &&
			    strcmp(PQgetvalue(res, j, 2), r->u.enqueue.key) ==
			    0)
				row = j;
		if (row >= 0) {
			used[row] = true;
			r->u.enqueue.id = pg_int(res, row, 0);
			r->u.enqueue.dup = false;
			notify_add(s, r->u.enqueue.playbook);
		} else {
			r->u.enqueue.id = 0;
			r->u.enqueue.dup = true;
		}
	}
	free(used);
}

/* The answer of S_FINAL_MANY for the n results from batch[first]: the
 * items done. One missing was not running here any more. */
static void
final_resolve(struct pgw_store *s, int first, int n, const PGresult *res)
{
	int rows = PQntuples(res), j = 0;

	for (int i = 0; i < n; i++) {
		struct qreq *r = s->batch[first + i];
		bool found = false;

		for (int k = 0; k < rows && !found; k++, j = (j + 1) % rows)
			found = pg_int(res, j, 0) == r->u.step_done.item;
		if (!found)
			r->rc = require_changed(r, 0, r->u.step_done.item,
			    "completion");
	}
}

/* Whether r can wait to go with the requests held back: an enqueue
 * after enqueues, a last-step result after others of other items (an
 * item's second result must see its first). */
static bool
holdable(const struct pgw_store *s, const struct qreq *r)
{
	bool final = r->op == QOP_STEP_DONE && r->u.step_done.final;

	if (s->one_by_one || (r->op != QOP_ENQUEUE && !final))
		return false;
	if (s->nenq == 0)
		return true;
	if (final != s->hold_final)
		return false;
	for (int i = s->nbatch - s->nenq; final && i < s->nbatch; i++)
		if (s->batch[i]->u.step_done.item == r->u.step_done.item)
			return false;
	return true;
}

/* Sends r (pipelinable) without waiting; its result is read by
 * pipe_drain, before the next request that must wait or the commit. */
static void
pipe_send(struct pgw_store *s, struct qreq *r, int64_t now)
{
	const char *params[8];
	char nums[8][24], name[16], h[65], *ids = NULL;
	int which, n = 0;

	if (!s->piping) {
		if (PQenterPipelineMode(s->pg.w) != 1) {
			lost(s, r);
			s->dead = true;
			return;
		}
		s->piping = true;
		s->npiped = 0;
		s->nenq = 0;
	}
	if ((r->op == QOP_ENQUEUE || (r->op == QOP_STEP_DONE &&
	    r->u.step_done.final)) && !s->one_by_one) {
		if (!holdable(s, r))
			enq_flush(s);
		if (s->dead) {
			lost(s, r);
			return;
		}
		s->hold_final = r->op == QOP_STEP_DONE;
		batch_add(s, r, now);
		s->nenq++;
		s->npiped++;
		r->rc = 0;
		if (s->npiped >= PG_PIPE_MAX)
			pipe_drain(s);
		return;
	}
	/* Statements go in the requests' order. */
	enq_flush(s);
	if (s->dead) {
		lost(s, r);
		return;
	}
#define PI(v) (snprintf(nums[n], sizeof(nums[n]), "%lld", (long long)(v)), \
	params[n] = nums[n], n++)
#define PT(v) (params[n++] = (v))
	switch (r->op) {
	case QOP_ENQUEUE:
		which = S_ENQ_INSERT;
		PT(r->u.enqueue.key);
		PT(r->u.enqueue.playbook);
		PT(r->u.enqueue.pb_hash);
		PI(r->u.enqueue.priority);
		PI(r->u.enqueue.not_before ? r->u.enqueue.not_before : now);
		PT(r->u.enqueue.payload ? r->u.enqueue.payload : "{}");
		PI(now);
		break;
	case QOP_STEP_DONE:
		which = r->u.step_done.final ? S_STEP_FINAL : S_STEP_NEXT;
		PI(r->u.step_done.item);
		PI(now);
		PT(r->u.step_done.owner);
		PT(r->u.step_done.pb_hash);
		PT(r->u.step_done.step_id);
		PT(r->u.step_done.output ? r->u.step_done.output : "{}");
		PI(r->u.step_done.ms);
		break;
	case QOP_AUDIT:
		which = S_AUDIT_INSERT;
		PI(s->pg.audit_id + 1);
		PI(now);
		PT(r->u.audit.actor ? r->u.audit.actor : "unknown");
		PT(r->u.audit.action);
		PT(r->u.audit.target);
		PT(r->u.audit.details);
		PT(s->pg.audit_hash);
		audit_hash(s->pg.audit_hash, s->pg.audit_id + 1, now,
		    params[2], params[3], params[4], params[5], h);
		PT(h);
		break;
	case QOP_SESSION_SAVE:
		which = S_SESSION_SAVE;
		PT(r->u.session.key);
		PT(r->u.session.csrf);
		PT(r->u.session.user);
		PI(r->u.session.last);
		break;
	case QOP_SESSION_FORGET:
		which = S_SESSION_FORGET;
		PT(r->u.session.key);
		break;
	case QOP_RENEW:
	default:
		which = S_RENEW;
		PT(r->u.renew.owner);
		PI(r->u.renew.lease_ms);
		if (r->u.renew.items != NULL) {
			ids = pg_array(r->u.renew.items);
			PT(ids);
		} else
			PT(NULL);
		break;
	}
#undef PI
#undef PT
	snprintf(name, sizeof(name), "s%d", which);
	if (PQsendQueryPrepared(s->pg.w, name, n, params, NULL, NULL, 0) !=
	    1) {
		free(ids);
		lost(s, r);
		s->dead = true;
		return;
	}
	free(ids);
	batch_add(s, r, now);
	s->npiped++;
	r->rc = 0;
	if (r->op == QOP_AUDIT) {
		s->pg.audit_id++;
		memcpy(s->pg.audit_hash, h, sizeof(h));
	}
	if (s->npiped >= PG_PIPE_MAX)
		pipe_drain(s);
}

/* The next result in pipeline mode, past the NULL that ends each
 * statement's; NULL when nothing more is coming or the connection is
 * gone. */
static PGresult *
pipe_result(PGconn *w)
{
	for (int i = 0; i < 2; i++) {
		PGresult *res = PQgetResult(w);

		if (res != NULL)
			return res;
		if (PQstatus(w) != CONNECTION_OK)
			return NULL;
	}
	return NULL;
}

/* Ends pipeline mode after reading up to its sync; false if the
 * connection failed on the way. */
static bool
pipe_end(struct pgw_store *s)
{
	PGresult *res;
	bool ok = false;

	while ((res = pipe_result(s->pg.w)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC) {
			ok = true;
			break;
		}
	}
	ok = PQexitPipelineMode(s->pg.w) == 1 && ok;
	s->piping = false;
	s->npiped = 0;
	return ok;
}

/* A pipelined request's answer, as the synchronous code would have
 * taken it. */
static void
resolve(struct pgw_store *s, struct qreq *r, const PGresult *res)
{
	switch (r->op) {
	case QOP_ENQUEUE:
		if (PQntuples(res) == 1) {
			r->u.enqueue.id = pg_int(res, 0, 0);
			r->u.enqueue.dup = false;
			notify_add(s, r->u.enqueue.playbook);
		} else {
			/* The key exists: its id is read after the
			 * pipeline. */
			r->u.enqueue.id = 0;
			r->u.enqueue.dup = true;
		}
		break;
	case QOP_STEP_DONE:
		if (PQntuples(res) != 1)
			r->rc = require_changed(r, 0, r->u.step_done.item,
			    r->u.step_done.final ? "completion" :
			    "step result");
		break;
	default:
		break;
	}
}

static void apply_one(struct pgw_store *s, struct qreq *r, int64_t now);

/*
 * A pipelined statement failed: PostgreSQL aborted the transaction, and
 * with it what the requests before it in the batch did. The failed
 * request (batch[failed]; none when failed is -1) keeps its error; the
 * transaction is begun again and every other request of it applied
 * again, in order, as if the failed one had never come. (Their answers are handed out only after the commit, so
 * none was seen yet.)
 */
static void
replay(struct pgw_store *s, int failed)
{
	int n = s->nbatch, k = 0;
	struct qreq **old = xcalloc((size_t)n, sizeof(*old));
	int64_t *when = xcalloc((size_t)n, sizeof(*when));
	struct err e;

	for (int i = 0; i < n; i++)
		if (i != failed) {
			old[k] = s->batch[i];
			when[k++] = s->batch_now[i];
		}
	s->nbatch = 0;
	s->pg.audit_locked = false;
	notify_clear(s);
	err_clear(&e);
	if (pg_simple(s->pg.w, "ROLLBACK", &e) < 0 ||
	    pg_simple(s->pg.w, "BEGIN", &e) < 0) {
		s->dead = true;
		for (int i = 0; i < k; i++) {
			old[i]->rc = -1;
			old[i]->err = e;
			old[i]->err.code = ERR_UNAVAILABLE;
		}
	} else
		for (int i = 0; i < k; i++)
			apply_one(s, old[i], when[i]);
	free(old);
	free(when);
}

/* Reads the answers of every pipelined request (replaying the batch if
 * one failed), until nothing is in flight. */
static void
pipe_drain(struct pgw_store *s)
{
	while (s->piping) {
		int first, n, failed = -1;
		bool gone = false, group = false;

		enq_flush(s);
		first = s->nbatch - s->npiped;
		n = s->npiped;
		if (s->dead || PQpipelineSync(s->pg.w) != 1)
			gone = true;
		for (int k = 0; k < n && !gone; k++) {
			struct qreq *r = s->batch[first + k];
			int unit = s->batch_unit[first + k];
			PGresult *res;
			ExecStatusType st;

			if (unit == 0)
				continue;       /* answered with the first */
			if ((res = pipe_result(s->pg.w)) == NULL) {
				gone = true;
				break;
			}
			st = PQresultStatus(res);
			if (st == PGRES_PIPELINE_ABORTED)
				;       /* after the failed one: replayed */
			else if (res_ok(res)) {
				if (failed >= 0)
					;
				else if (unit > 1 && r->op == QOP_ENQUEUE)
					enq_resolve(s, first + k, unit, res);
				else if (unit > 1)
					final_resolve(s, first + k, unit, res);
				else
					resolve(s, r, res);
			} else {
				pg_err_res(&r->err, s->pg.w, res, "write");
				r->rc = -1;
				if (failed < 0) {
					failed = first + k;
					group = unit > 1;
				}
			}
			PQclear(res);
		}
		if (!pipe_end(s) || gone) {
			s->dead = true;
			for (int k = 0; k < n; k++)
				lost(s, s->batch[first + k]);
			return;
		}
		if (failed >= 0) {
			/* Which of the enqueues sent as one failed is not
			 * known: all are tried again, one statement each, and
			 * the one that fails then fails alone. */
			s->one_by_one = group;
			replay(s, group ? -1 : failed);
			s->one_by_one = false;
			continue;
		}
		for (int k = 0; k < n; k++) {
			struct qreq *r = s->batch[first + k];
			PGresult *res;

			if (r->op != QOP_ENQUEUE || r->rc != 0 ||
			    r->u.enqueue.id != 0)
				continue;
			res = run(s, &r->err, S_ENQ_FIND, "tt",
			    r->u.enqueue.playbook, r->u.enqueue.key);
			if (res != NULL && PQntuples(res) == 1)
				r->u.enqueue.id = pg_int(res, 0, 0);
			else {
				if (res != NULL)
					err_set(&r->err, "enqueue: item %s of"
					    " %s neither inserted nor found",
					    r->u.enqueue.key,
					    r->u.enqueue.playbook);
				r->rc = -1;
			}
			PQclear(res);
		}
	}
}

/* After a failed transaction: what was sent is read and dropped. */
static void
pipe_discard(struct pgw_store *s)
{
	s->nenq = 0;
	if (!s->piping)
		return;
	if (PQpipelineSync(s->pg.w) != 1 || !pipe_end(s))
		s->dead = true;
	s->piping = false;
	s->npiped = 0;
}

static void
apply_one(struct pgw_store *s, struct qreq *r, int64_t now)
{
	err_clear(&r->err);
	if (r->op == QOP_CLAIM && r->u.claim.items != NULL) {
		/* A replay claims again. */
		for (int i = 0; i < r->u.claim.n; i++)
			item_free(r->u.claim.items[i]);
		free(r->u.claim.items);
		r->u.claim.items = NULL;
		r->u.claim.n = 0;
	}
	if (!s->dead && pipelinable(s, r)) {
		pipe_send(s, r, now);
		return;
	}
	pipe_drain(s);
	if (s->dead) {
		err_setc(&r->err, ERR_UNAVAILABLE, "database %s: the"
		    " transaction was lost; work resumes when the database is"
		    " back", s->pg.safe_url);
		r->rc = -1;
		return;
	}
	batch_add(s, r, now);
	sync_apply(s, r, now);
}

static void
pg_apply(void *p, struct qreq *r, int64_t now)
{
	apply_one(p, r, now);
}

/* ---- wake-ups: NOTIFY from the nodes that commit new items ---- */

/* How often the listener looks at its stop flag, and waits before
 * connecting again after the server went away. */
#define LISTEN_TICK_MS 200
#define LISTEN_RETRY_MS 1000

static PGconn *
listen_connect(struct pgw_store *s)
{
	struct err e;
	PGconn *c;

	err_clear(&e);
	if ((c = pg_connect(s->pg.url, s->pg.safe_url, &e)) == NULL)
		return NULL;
	if (pg_simple(c, "LISTEN clerk_items", &e) < 0) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

static void *
listener_main(void *arg)
{
	struct pgw_store *s = arg;
	PGconn *c = NULL;
	int64_t retry_at = 0;
	bool said = false;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd;
		PGnotify *n;
		bool woken = false;

		if (c == NULL || PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = NULL;
			if (util_now_ms() < retry_at) {
				poll(NULL, 0, LISTEN_TICK_MS);
				continue;
			}
			if ((c = listen_connect(s)) == NULL) {
				if (!said)
					log_warn("database %s: cannot listen"
					    " for new items; this node finds"
					    " them by polling until it can",
					    s->pg.safe_url);
				said = true;
				retry_at = util_now_ms() + LISTEN_RETRY_MS;
				continue;
			}
			said = false;
			/* Items may have come while nobody listened. */
			woken = true;
		}
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (!woken && poll(&pfd, 1, LISTEN_TICK_MS) > 0 &&
		    PQconsumeInput(c) == 0) {
			PQfinish(c);
			c = NULL;
			continue;
		}
		while ((n = PQnotifies(c)) != NULL) {
			woken = true;
			PQfreemem(n);
		}
		if (!woken)
			continue;
		pthread_mutex_lock(&s->wlock);
		if (s->fn != NULL)
			s->fn(s->arg);
		pthread_mutex_unlock(&s->wlock);
	}
	PQfinish(c);
	return NULL;
}

static void
pg_on_wakeup(void *p, void (*fn)(void *), void *arg)
{
	struct pgw_store *s = p;

	pthread_mutex_lock(&s->wlock);
	s->fn = fn;
	s->arg = arg;
	pthread_mutex_unlock(&s->wlock);
	if (fn != NULL && !s->listening) {
		if (pthread_create(&s->listener, NULL, listener_main, s) != 0) {
			log_warn("cannot start the listener for new items;"
			    " this node finds them by polling");
			return;
		}
		s->listening = true;
	}
}

static int
pg_backup(void *p, const char *dest, struct err *e)
{
	struct pgw_store *s = p;

	(void)dest;
	err_setc(e, ERR_INVALID, "the store is the PostgreSQL database %s:"
	    " clerkctl backup copies SQLite files only; back it up with"
	    " pg_dump (a consistent copy of the database) or pg_basebackup"
	    " with WAL archiving (point-in-time recovery)", s->pg.safe_url);
	return -1;
}

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.apply = pg_apply,
	.item_get = pg_item_get,
	.item_list = pg_item_list,
	.escalation_get = pg_escalation_get,
	.escalation_list = pg_escalation_list,
	.escalation_list_json = pg_escalation_list_json,
	.counts = pg_counts,
	.history = pg_history,
	.sessions = pg_sessions,
	.trigger_slot = pg_trigger_slot,
	.playbook_states = pg_playbook_states,
	.backup = pg_backup,
	.on_wakeup = pg_on_wakeup,
};

/* ---- the audit trail read directly (clerkctl audit verify / export) ---- */

/*
 * Rows in pages of PAGE by id, on a connection of its own in one
 * repeatable-read transaction: one consistent trail, however long, while
 * nodes go on appending.
 */
#define AUDIT_PAGE 5000

typedef void (*audit_row_fn)(void *arg, FILE *out, const PGresult *res,
    int row);

static int64_t
audit_read(const char *url, int64_t after, int64_t limit, FILE *out,
    audit_row_fn fn, void *arg, struct err *e)
{
	char *safe = safe_url(url), a[24], l[24];
	const char *params[2] = { a, l };
	PGconn *c;
	PGresult *res;
	int64_t n = 0;

	if ((c = pg_connect(url, safe, e)) == NULL) {
		free(safe);
		return -1;
	}
	if (pg_simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    e) < 0)
		goto fail;
	for (;;) {
		int64_t want = limit > 0 && limit - n < AUDIT_PAGE ? limit - n :
		    AUDIT_PAGE;
		int rows;

		if (want <= 0)
			break;
		snprintf(a, sizeof(a), "%lld", (long long)after);
		snprintf(l, sizeof(l), "%lld", (long long)want);
		res = pg_exec(c, e, "SELECT id, ts, actor, action, target,"
		    " details, prev_hash, hash FROM audit WHERE id > $1"
		    " ORDER BY id LIMIT $2", 2, params);
		if (res == NULL)
			goto fail;
		rows = PQntuples(res);
		for (int i = 0; i < rows; i++)
			fn(arg, out, res, i);
		if (rows > 0)
			after = pg_int(res, rows - 1, 0);
		n += rows;
		PQclear(res);
		if (rows < want)
			break;
	}
	pg_simple(c, "COMMIT", NULL);
	PQfinish(c);
	free(safe);
	return n;
fail:
	PQfinish(c);
	free(safe);
	return -1;
}

static void
verify_row(void *arg, FILE *out, const PGresult *res, int i)
{
	audit_walk_row(arg, out, pg_int(res, i, 0), pg_int(res, i, 1),
	    pg_text(res, i, 2), pg_text(res, i, 3), pg_text(res, i, 4),
	    pg_text(res, i, 5), pg_text(res, i, 6), pg_text(res, i, 7));
}

static void
export_row(void *arg, FILE *out, const PGresult *res, int i)
{
	(void)arg;
	audit_export_row(out, pg_int(res, i, 0), pg_int(res, i, 1),
	    pg_text(res, i, 2), pg_text(res, i, 3), pg_text(res, i, 4),
	    pg_text(res, i, 5), pg_text(res, i, 6), pg_text(res, i, 7));
}

int
store_pg_audit_verify(const char *url, FILE *out, int64_t *rows,
    struct err *e)
{
	struct audit_walk w;

	audit_walk_init(&w);
	*rows = 0;
	if (audit_read(url, 0, 0, out, verify_row, &w, e) < 0)
		return -1;
	*rows = w.rows;
	return w.problems;
}

int64_t
store_pg_audit_export(const char *url, int64_t after, int64_t limit,
    FILE *out, struct err *e)
{
	return audit_read(url, after, limit, out, export_row, NULL, e);
}
