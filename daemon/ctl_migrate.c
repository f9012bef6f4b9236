/*
 * ctl_migrate.c - "clerkctl migrate": an SQLite state copied into a new,
 * empty PostgreSQL store, so a clerk that ran on one machine can go on as
 * several nodes on one shared database (docs/SCALE-OUT.md).
 *
 * Offline and all or nothing: clerkd's state-dir lock is held throughout,
 * the SQLite file is read in one read transaction (one snapshot), and the
 * PostgreSQL side is one transaction that creates the schema, copies every
 * row with its id (COPY FROM STDIN), moves the id sequences past the copied
 * ids, then reads every table back and compares it with the source (a
 * SHA-256 over each table's rows in key order) and walks the audit chain
 * before it commits. A row that PostgreSQL will not take as it is (text
 * in an integer column, a NUL byte, invalid UTF-8) fails the migration
 * with the row named; nothing is converted on the way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "audit.h"
#include "queue.h"
#include "store_pg.h"
#include "util.h"

int ctl_migrate(const char *from, const char *config_db, const char *to,
    const char *state_dir, bool json);

/* The SQLite schema version this clerk writes (store_sqlite.c's); the
 * PostgreSQL store starts at the same one. */
#define MIGRATE_SQLITE_VERSION PG_SCHEMA_VERSION

/*
 * Every table of the schema, with its columns in both stores' order and
 * the key the rows are compared in. Text keys are ordered bytewise on
 * both sides (SQLite's BINARY, PostgreSQL's "C"), so both read the rows
 * in the same order whatever the database's collation.
 */
struct mtable {
	const char *name;
	const char *cols[20];
	const char *sq_order;
	const char *pg_order;
	bool serial;            /* id is a bigserial: setval after the copy */
};

static const struct mtable tables[] = {
	{ "items", { "id", "key", "playbook", "pb_hash", "priority",
	  "not_before", "payload", "state", "attempts", "owner",
	  "lease_expires", "last_error", "last_error_kind", "created",
	  "updated" }, "id", "id", true },
	{ "steps", { "item", "step_id", "pb_hash", "output", "finished",
	  "ms" }, "item, step_id", "item, step_id COLLATE \"C\"", false },
	{ "escalations", { "id", "item", "playbook", "step_id", "kind",
	  "reason", "message", "context", "created", "due", "state",
	  "decision", "decided_by", "decided_at", "decision_reason",
	  "claimed_by", "claim_expires", "assignee", "previous" }, "id", "id",
	  true },
	{ "escalation_comments", { "id", "escalation", "ts", "author",
	  "text" }, "id", "id", true },
	{ "failures", { "id", "item", "step_id", "attempt", "at", "kind",
	  "reason", "message" }, "id", "id", true },
	{ "trigger_slots", { "playbook", "slot" }, "playbook",
	  "playbook COLLATE \"C\"", false },
	{ "sessions", { "key", "csrf", "user", "last" }, "key",
	  "key COLLATE \"C\"", false },
	{ "playbook_state", { "playbook", "paused", "by", "at", "reason" },
	  "playbook", "playbook COLLATE \"C\"", false },
	/* Its ids are the chain's: copied, never drawn from a sequence. */
	{ "audit", { "id", "ts", "actor", "action", "target", "details",
	  "prev_hash", "hash" }, "id", "id", false },
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

struct mstate {
	const char *from;
	char *to_safe;          /* the target without its password */
	bool json;
	sqlite3 *sq;
	PGconn *pg;
	int version;            /* the source's schema version, as found */
	int64_t rows[NTABLES];
	unsigned char digest[NTABLES][32];
	int64_t running;        /* leased items at the time of the copy */
	int64_t audit_rows, audit_last;
	char audit_head[65];
	int64_t last_progress;
};

static void
merr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
merr(const char *fmt, ...)
{
	va_list ap;

	fputs("clerkctl: migrate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* url with a password in it replaced by "***", for messages. */
static char *
safe_url(const char *url)
{
	const char *p = strstr(url, "://"), *at, *colon, *end;

	if (p == NULL)
		return xstrdup(url);
	p += 3;
	end = p + strcspn(p, "/?");
	if ((at = memchr(p, '@', end - p)) == NULL)
		return xstrdup(url);
	/* The last '@' of the authority ends the user info. */
	while ((colon = memchr(at + 1, '@', end - at - 1)) != NULL)
		at = colon;
	if ((colon = memchr(p, ':', at - p)) == NULL)
		return xstrdup(url);
	return xasprintf("%.*s***%s", (int)(colon + 1 - url), url, at);
}

static bool
is_pg_url(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0;
}

/*
 * STATE_DIR/clerkd.lock, taken as clerkctl restore takes it: a running
 * clerkd makes the migration refuse, and one starting meanwhile refuses
 * to run, so no item changes in the source while it is copied.
 */
static int
lock_state_dir(const char *state_dir, int *fdp)
{
	char *lock = xasprintf("%s/clerkd.lock", state_dir);
	int fd;

	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		merr("%s: %s; is %s the state_dir clerkd uses? (give the"
		    " clerkd config with -c)", lock, strerror(errno),
		    state_dir);
		free(lock);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32];
		ssize_t r = read(fd, pid, sizeof(pid) - 1);

		pid[r > 0 ? r : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		merr("clerkd (pid %s) is running on %s: stop it first"
		    " (systemctl stop clerkd); the migration copies a state"
		    " nothing may change meanwhile", r > 0 ? pid : "?",
		    state_dir);
		close(fd);
		free(lock);
		return -1;
	}
	free(lock);
	*fdp = fd;
	return 0;
}

/* ---- the SQLite side ---- */

static int
sq_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static sqlite3 *
sq_open_ro(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		merr("%s: cannot open: %s", path, db ? sqlite3_errmsg(db) :
		    "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/*
 * Opens the source read-only and checks it: an SQLite file of clerk's,
 * whole, of this clerk's schema (an older one is first upgraded in place
 * by queue_open, which keeps the old file as FROM.schema-N.bak), with no
 * table this migration does not know (it would be left behind).
 */
static int
sq_prepare(struct mstate *m)
{
	sqlite3_stmt *st = NULL;
	struct stat sb;
	const char *verdict;
	int v;

	if (stat(m->from, &sb) < 0) {
		/* sqlite3_open would make an empty database here. */
		merr("no database at %s: %s; give --from DATABASE or the"
		    " clerkd config (-c) whose database to migrate", m->from,
		    strerror(errno));
		return -1;
	}
	if ((m->sq = sq_open_ro(m->from)) == NULL)
		return -1;
	if (sq_version(m->sq, &v) < 0 || sqlite3_prepare_v2(m->sq,
	    "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		merr("%s: not an SQLite database (%s)", m->from,
		    sqlite3_errmsg(m->sq));
		sqlite3_finalize(st);
		return -1;
	}
	verdict = (const char *)sqlite3_column_text(st, 0);
	if (verdict == NULL || strcmp(verdict, "ok") != 0) {
		merr("%s is damaged (quick check: %s); migrate a backup that"
		    " passes (clerkctl restore checks one)", m->from,
		    verdict ? verdict : "?");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (v == 0) {
		merr("%s is an SQLite database but not clerk's (it has no"
		    " schema version)", m->from);
		return -1;
	}
	if (v > MIGRATE_SQLITE_VERSION) {
		merr("%s has schema version %d, newer than this clerk's (%d):"
		    " migrate it with the clerkctl of the clerk that wrote it",
		    m->from, v, MIGRATE_SQLITE_VERSION);
		return -1;
	}
	m->version = v;
	if (v < MIGRATE_SQLITE_VERSION) {
		struct queue *q;
		struct err e;

		sqlite3_close(m->sq);
		m->sq = NULL;
		err_clear(&e);
		if ((q = queue_open(m->from, NULL, &e)) == NULL) {
			merr("%s has schema version %d and could not be"
			    " upgraded to %d first: %s", m->from, v,
			    MIGRATE_SQLITE_VERSION, e.msg);
			return -1;
		}
		queue_close(q);
		if (!m->json)
			printf("%s had schema version %d: upgraded to %d first"
			    " (the version %d file is kept at %s.schema-%d.bak)"
			    "\n", m->from, v, MIGRATE_SQLITE_VERSION, v,
			    m->from, v);
		if ((m->sq = sq_open_ro(m->from)) == NULL)
			return -1;
		if (sq_version(m->sq, &v) < 0 || v != MIGRATE_SQLITE_VERSION) {
			merr("%s: still not at schema version %d after the"
			    " upgrade", m->from, MIGRATE_SQLITE_VERSION);
			return -1;
		}
	}
	/* One snapshot for everything read below. */
	if (sqlite3_exec(m->sq, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		merr("%s: %s", m->from, sqlite3_errmsg(m->sq));
		return -1;
	}
	if (sqlite3_prepare_v2(m->sq, "SELECT name FROM sqlite_master WHERE"
	    " type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
	    " ORDER BY name", -1, &st, NULL) != SQLITE_OK) {
		merr("%s: %s", m->from, sqlite3_errmsg(m->sq));
		return -1;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		size_t i;

		for (i = 0; i < NTABLES; i++)
			if (strcmp(tables[i].name, name) == 0)
				break;
		if (i == NTABLES) {
			merr("%s has a table \"%s\" that is not clerk's schema"
			    " version %d; it would not be migrated, so nothing"
			    " is (remove it, or migrate with the clerk that"
			    " made it)", m->from, name, MIGRATE_SQLITE_VERSION);
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	return 0;
}

/* The source's audit trail must verify: a broken chain copied would
 * look like tampering done in PostgreSQL. */
static int
sq_check_audit(struct mstate *m)
{
	struct audit_end end;
	struct err e;
	char *anchor = audit_anchor_path(m->from);
	int64_t rows;
	int n, k;

	err_clear(&e);
	n = audit_verify(m->from, stderr, &rows, &e);
	k = n < 0 ? -1 : audit_verify_end(m->from, anchor, stderr, &end, &e);
	free(anchor);
	if (n < 0 || k < 0) {
		merr("%s: cannot check the audit trail: %s", m->from, e.msg);
		return -1;
	}
	if (n + k > 0) {
		merr("the audit trail in %s has %d problem(s) (above; `clerkctl"
		    " audit verify` shows them too): nothing is migrated, a"
		    " broken chain would be carried into PostgreSQL", m->from,
		    n + k);
		return -1;
	}
	return 0;
}

/* ---- the PostgreSQL side ---- */

static int
pg_fail(struct mstate *m, PGresult *res, const char *what)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";

	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(m->pg);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		n--;
	merr("%s: %s: %.*s", m->to_safe, what, (int)n, msg);
	PQclear(res);
	return -1;
}

/* One statement without rows; -1 after saying what failed. */
static int
pg_cmd(struct mstate *m, const char *sql, const char *what)
{
	PGresult *res = PQexec(m->pg, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(m, res, what);
	PQclear(res);
	return 0;
}

/* One number from sql, or -1 after saying what failed. */
static int
pg_num(struct mstate *m, const char *sql, int64_t *n)
{
	PGresult *res = PQexec(m->pg, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return pg_fail(m, res, sql);
	*n = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0),
	    NULL, 10);
	PQclear(res);
	return 0;
}

static int
pg_connect(struct mstate *m, const char *to)
{
	/* connect_timeout first, so the URL may set its own; the name last,
	 * so an operator's psql-like monitoring can tell us apart. */
	const char *const keys[] = { "connect_timeout", "dbname",
	    "application_name", "client_encoding", NULL };
	const char *const vals[] = { "10", to, "clerkctl-migrate", "UTF8",
	    NULL };

	m->pg = PQconnectdbParams(keys, vals, 1);
	if (m->pg == NULL || PQstatus(m->pg) != CONNECTION_OK) {
		const char *msg = m->pg ? PQerrorMessage(m->pg) :
		    "out of memory";

		merr("cannot connect to %s: %.*s; is the URL right and the"
		    " database server running? (create the database first:"
		    " createdb -O USER NAME)", m->to_safe,
		    (int)strcspn(msg, "\n"), msg);
		return -1;
	}
	free(m->to_safe);
	m->to_safe = xasprintf("postgresql://%s@%s:%s/%s", PQuser(m->pg),
	    PQhost(m->pg), PQport(m->pg), PQdb(m->pg));
	return 0;
}

/*
 * In the open transaction: the schema made (or found as a clerkd left
 * it, empty), locked whole, and checked to be empty, so nothing that is
 * already there is mixed with what is copied.
 */
static int
pg_prepare(struct mstate *m)
{
	char ver[16], *sql;
	const char *const params[] = { ver };
	PGresult *res;
	int64_t n;

	if (pg_cmd(m, "BEGIN", "BEGIN") < 0 ||
	    pg_cmd(m, "SET LOCAL synchronous_commit = on",
	    "synchronous_commit") < 0)
		return -1;
	res = PQexec(m->pg, "SELECT value FROM clerk_meta WHERE key ="
	    " 'schema_version'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
	    atoi(PQgetvalue(res, 0, 0)) != PG_SCHEMA_VERSION) {
		merr("%s holds a clerk store of schema version %s, this clerk's"
		    " is %d: migrate into a new, empty database", m->to_safe,
		    PQgetvalue(res, 0, 0), PG_SCHEMA_VERSION);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	/* A missing clerk_meta aborted the transaction: start it again. */
	if (pg_cmd(m, "ROLLBACK", "ROLLBACK") < 0 ||
	    pg_cmd(m, "BEGIN", "BEGIN") < 0 ||
	    pg_cmd(m, "SET LOCAL synchronous_commit = on",
	    "synchronous_commit") < 0)
		return -1;
	/* A clerkd connected to the target would keep what it read at its
	 * start (pauses, sessions) and not see the copy; clerkd names no
	 * application, so any other client session counts. */
	res = PQexec(m->pg, "SELECT count(*), string_agg(DISTINCT"
	    " coalesce(nullif(application_name, ''), '?') || ' from ' ||"
	    " coalesce(host(client_addr), 'local'), ', ') FROM pg_stat_activity"
	    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
	    " AND backend_type = 'client backend'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(m, res, "reading pg_stat_activity");
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0) {
		merr("%lld other session(s) are connected to %s (%s): stop the"
		    " clerkd nodes that use it, and close the others, before"
		    " migrating into it", (long long)n, m->to_safe,
		    PQgetvalue(res, 0, 1));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (pg_cmd(m, pg_schema_sql, "creating the schema") < 0)
		return -1;
	sql = xstrdup("LOCK TABLE clerk_meta");
	for (size_t i = 0; i < NTABLES; i++) {
		char *s = xasprintf("%s, %s", sql, tables[i].name);

		free(sql);
		sql = s;
	}
	{
		char *s = xasprintf("%s IN ACCESS EXCLUSIVE MODE", sql);

		free(sql);
		sql = s;
	}
	if (pg_cmd(m, sql, "locking the tables") < 0) {
		free(sql);
		return -1;
	}
	free(sql);
	for (size_t i = 0; i < NTABLES; i++) {
		sql = xasprintf("SELECT count(*) FROM (SELECT 1 FROM %s"
		    " LIMIT 1) t", tables[i].name);
		if (pg_num(m, sql, &n) < 0) {
			free(sql);
			return -1;
		}
		free(sql);
		if (n > 0) {
			merr("%s is not empty (its table %s has rows): migrate"
			    " into a new database (createdb), nothing was"
			    " changed", m->to_safe, tables[i].name);
			return -1;
		}
	}
	snprintf(ver, sizeof(ver), "%d", PG_SCHEMA_VERSION);
	res = PQexecParams(m->pg, "INSERT INTO clerk_meta(key, value) VALUES"
	    " ('schema_version', $1) ON CONFLICT (key) DO NOTHING", 1, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pg_fail(m, res, "writing the schema version");
	PQclear(res);
	return 0;
}

/* ---- copying and comparing ---- */

static void
digest_cell(EVP_MD_CTX *md, const void *p, size_t n, bool null)
{
	unsigned char hdr[9];

	/* Tag and length first: no two rows hash alike by shifting bytes
	 * between cells, and NULL is not "". */
	hdr[0] = null ? 0 : 1;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)((uint64_t)n >> (8 * i));
	EVP_DigestUpdate(md, hdr, sizeof(hdr));
	if (n > 0)
		EVP_DigestUpdate(md, p, n);
}

static size_t
ncols(const struct mtable *t)
{
	size_t n = 0;

	while (n < sizeof(t->cols) / sizeof(t->cols[0]) && t->cols[n])
		n++;
	return n;
}

static char *
col_list(const struct mtable *t)
{
	char *s = xstrdup("");

	for (size_t i = 0; i < ncols(t); i++) {
		char *n = xasprintf("%s%s\"%s\"", s, i ? ", " : "",
		    t->cols[i]);

		free(s);
		s = n;
	}
	return s;
}

struct cbuf {
	char *p;
	size_t len, cap;
};

static void
cb_add(struct cbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		while (b->len + n > b->cap)
			b->cap = b->cap ? b->cap * 2 : 1 << 20;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* A value in COPY's text format: tab, newline and carriage return (its
 * delimiters) and the backslash escaped, every other byte as it is. */
static void
cb_value(struct cbuf *b, const unsigned char *p, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *esc = NULL;

		switch (p[i]) {
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: continue;
		}
		cb_add(b, p + start, i - start);
		cb_add(b, esc, 2);
		start = i + 1;
	}
	cb_add(b, p + start, n - start);
}

static void
progress(struct mstate *m, const char *table, int64_t done, int64_t total,
    const char *what)
{
	int64_t now = util_mono_ms();

	if (total < 50000 || now - m->last_progress < 2000)
		return;
	m->last_progress = now;
	fprintf(stderr, "clerkctl: migrate: %s %s: %lld of %lld rows\n", what,
	    table, (long long)done, (long long)total);
}

static int
copy_table(struct mstate *m, size_t ti)
{
	const struct mtable *t = &tables[ti];
	size_t nc = ncols(t);
	char *cols = col_list(t), *sql;
	sqlite3_stmt *st = NULL;
	struct cbuf b = { 0 };
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	PGresult *res;
	int64_t total = 0, n = 0;
	int rc;

	sql = xasprintf("SELECT count(*) FROM %s", t->name);
	if (sqlite3_prepare_v2(m->sq, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		total = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	free(sql);
	sql = xasprintf("SELECT %s FROM %s ORDER BY %s", cols, t->name,
	    t->sq_order);
	if (sqlite3_prepare_v2(m->sq, sql, -1, &st, NULL) != SQLITE_OK) {
		merr("%s: %s: %s", m->from, sql, sqlite3_errmsg(m->sq));
		goto fail;
	}
	free(sql);
	sql = xasprintf("COPY %s (%s) FROM STDIN", t->name, cols);
	res = PQexec(m->pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		pg_fail(m, res, sql);
		goto fail;
	}
	PQclear(res);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (size_t i = 0; i < nc; i++) {
			const unsigned char *v = sqlite3_column_text(st, i);
			size_t len = (size_t)sqlite3_column_bytes(st, i);
			bool null = sqlite3_column_type(st, i) == SQLITE_NULL;

			if (i > 0)
				cb_add(&b, "\t", 1);
			if (null)
				cb_add(&b, "\\N", 2);
			else
				cb_value(&b, v, len);
			digest_cell(md, v, null ? 0 : len, null);
		}
		cb_add(&b, "\n", 1);
		n++;
		if (b.len >= (1 << 20)) {
			if (PQputCopyData(m->pg, b.p, (int)b.len) != 1)
				break;
			b.len = 0;
		}
		progress(m, t->name, n, total, "copying");
	}
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_ROW)
			merr("%s: sending %s: %s", m->to_safe, t->name,
			    PQerrorMessage(m->pg));
		else
			merr("%s: reading %s: %s", m->from, t->name,
			    sqlite3_errmsg(m->sq));
		PQputCopyEnd(m->pg, "source read failed");
		while ((res = PQgetResult(m->pg)) != NULL)
			PQclear(res);
		goto fail;
	}
	if ((b.len > 0 && PQputCopyData(m->pg, b.p, (int)b.len) != 1) ||
	    PQputCopyEnd(m->pg, NULL) != 1) {
		pg_fail(m, NULL, t->name);
		goto fail;
	}
	rc = 0;
	while ((res = PQgetResult(m->pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			char *what = xasprintf("copying %s (nothing was"
			    " migrated; the row is named in the context"
			    " above; it stays as it is in %s)", t->name,
			    m->from);

			/* PG's message names the row: "COPY items, line 5,
			 * column id: ...". */
			merr("%s: %s", m->to_safe, PQresultErrorMessage(res));
			merr("%s", what);
			free(what);
			rc = -1;
		}
		PQclear(res);
	}
	if (rc < 0)
		goto fail;
	EVP_DigestFinal_ex(md, m->digest[ti], NULL);
	m->rows[ti] = n;
	sqlite3_finalize(st);
	EVP_MD_CTX_free(md);
	free(b.p);
	free(sql);
	free(cols);
	return 0;
fail:
	sqlite3_finalize(st);
	EVP_MD_CTX_free(md);
	free(b.p);
	free(sql);
	free(cols);
	return -1;
}

/* Reads table ti back from PostgreSQL, in the same order, and checks
 * that its rows are the source's, every cell. */
static int
compare_table(struct mstate *m, size_t ti)
{
	const struct mtable *t = &tables[ti];
	size_t nc = ncols(t);
	char *cols = col_list(t);
	char *sql = xasprintf("SELECT %s FROM %s ORDER BY %s", cols, t->name,
	    t->pg_order);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32];
	PGresult *res;
	int64_t n = 0;
	int rc = 0;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	if (!PQsendQuery(m->pg, sql) || !PQsetSingleRowMode(m->pg)) {
		rc = pg_fail(m, NULL, sql);
		goto out;
	}
	while ((res = PQgetResult(m->pg)) != NULL) {
		ExecStatusType s = PQresultStatus(res);

		if (s == PGRES_SINGLE_TUPLE) {
			for (size_t i = 0; i < nc; i++)
				digest_cell(md, PQgetvalue(res, 0, i),
				    (size_t)PQgetlength(res, 0, i),
				    PQgetisnull(res, 0, i));
			n++;
			progress(m, t->name, n, m->rows[ti], "comparing");
		} else if (s != PGRES_TUPLES_OK && rc == 0) {
			merr("%s: reading %s back: %s", m->to_safe, t->name,
			    PQresultErrorMessage(res));
			rc = -1;
		}
		PQclear(res);
	}
	if (rc < 0)
		goto out;
	EVP_DigestFinal_ex(md, d, NULL);
	if (n != m->rows[ti] || memcmp(d, m->digest[ti], sizeof(d)) != 0) {
		merr("%s: table %s reads back as %lld row(s) that differ from"
		    " the %lld in %s; nothing was migrated", m->to_safe,
		    t->name, (long long)n, (long long)m->rows[ti], m->from);
		rc = -1;
	}
out:
	EVP_MD_CTX_free(md);
	free(sql);
	free(cols);
	return rc;
}

static int64_t
col_int(const PGresult *res, int i)
{
	return PQgetisnull(res, 0, i) ? 0 : strtoll(PQgetvalue(res, 0, i),
	    NULL, 10);
}

static const char *
col_text(const PGresult *res, int i)
{
	return PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
}

/* audit_verify's walk, over the rows now in PostgreSQL. */
static int
pg_audit_walk(struct mstate *m)
{
	char prev[65] = AUDIT_GENESIS, h[65];
	int64_t want = 1, rows = 0;
	PGresult *res;
	int problems = 0, rc = 0;

	if (!PQsendQuery(m->pg, "SELECT id, ts, actor, action, target,"
	    " details, prev_hash, hash FROM audit ORDER BY id") ||
	    !PQsetSingleRowMode(m->pg))
		return pg_fail(m, NULL, "reading the audit trail");
	while ((res = PQgetResult(m->pg)) != NULL) {
		ExecStatusType s = PQresultStatus(res);

		if (s == PGRES_SINGLE_TUPLE) {
			int64_t id = col_int(res, 0);
			const char *ph = PQgetisnull(res, 0, 6) ? "" :
			    PQgetvalue(res, 0, 6);
			const char *hh = PQgetisnull(res, 0, 7) ? "" :
			    PQgetvalue(res, 0, 7);

			rows++;
			if (id != want || strcmp(ph, prev) != 0)
				problems++;
			audit_hash(ph, id, col_int(res, 1), col_text(res, 2),
			    col_text(res, 3), col_text(res, 4),
			    col_text(res, 5), h);
			if (strcmp(h, hh) != 0)
				problems++;
			snprintf(prev, sizeof(prev), "%s", hh);
			want = id + 1;
		} else if (s != PGRES_TUPLES_OK && rc == 0) {
			merr("%s: reading the audit trail: %s", m->to_safe,
			    PQresultErrorMessage(res));
			rc = -1;
		}
		PQclear(res);
	}
	if (rc < 0)
		return -1;
	if (problems > 0) {
		merr("%s: the audit trail copied does not verify (%d"
		    " problem(s)); nothing was migrated", m->to_safe, problems);
		return -1;
	}
	m->audit_rows = rows;
	m->audit_last = want - 1;
	snprintf(m->audit_head, sizeof(m->audit_head), "%s", prev);
	return 0;
}

static int
set_sequences(struct mstate *m)
{
	for (size_t i = 0; i < NTABLES; i++) {
		char *sql;
		int rc;

		if (!tables[i].serial)
			continue;
		/* The next id drawn is max(id) + 1, or 1 in an empty table. */
		sql = xasprintf("SELECT setval(pg_get_serial_sequence('%s',"
		    " 'id'), coalesce(max(id), 1), max(id) IS NOT NULL)"
		    " FROM %s", tables[i].name, tables[i].name);
		rc = pg_cmd(m, sql, "setting the id sequence");
		free(sql);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void
report(struct mstate *m, int64_t ms)
{
	if (m->json) {
		json_t *t = json_object();
		json_t *j;
		char *s;

		for (size_t i = 0; i < NTABLES; i++)
			json_object_set_new(t, tables[i].name,
			    json_integer(m->rows[i]));
		j = json_pack("{s:s,s:s,s:i,s:i,s:o,s:I,s:I,s:s,s:I,s:I}",
		    "from", m->from, "to", m->to_safe, "source_schema_version",
		    m->version, "schema_version", PG_SCHEMA_VERSION, "rows", t,
		    "audit_rows", (json_int_t)m->audit_rows, "audit_last_id",
		    (json_int_t)m->audit_last, "audit_head", m->audit_head,
		    "running", (json_int_t)m->running, "ms", (json_int_t)ms);
		s = json_dumps(j, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(j);
		return;
	}
	printf("migrated %s to %s in %.2f s (schema version %d):\n", m->from,
	    m->to_safe, (double)ms / 1000.0, PG_SCHEMA_VERSION);
	for (size_t i = 0; i < NTABLES; i++)
		printf("  %-20s %10lld row(s)\n", tables[i].name,
		    (long long)m->rows[i]);
	printf("every row read back and compared: the same as in %s\n",
	    m->from);
	printf("audit trail: %lld row(s), one chain, intact (last row %lld,"
	    " hash %.16s...)\n", (long long)m->audit_rows,
	    (long long)m->audit_last, m->audit_head);
	if (m->running > 0)
		printf("%lld item(s) were running when clerkd stopped: their"
		    " leases are copied as they were, and the first node"
		    " whose claim finds a lease run out (on the database's"
		    " clock) takes the item again\n", (long long)m->running);
	printf("next: set store = \"%s\"; in each node's clerkd.conf (each"
	    " node its own state_dir) and start clerkd; %s itself is not"
	    " changed and is no longer written to\n", m->to_safe, m->from);
}

/* from: --from, or NULL for the config's database (config_db). */
int
ctl_migrate(const char *from, const char *config_db, const char *to,
    const char *state_dir, bool json)
{
	struct mstate m;
	int64_t t0 = util_mono_ms();
	sqlite3_stmt *st = NULL;
	int fd = -1, rc = 1;

	memset(&m, 0, sizeof(m));
	if (from == NULL && is_pg_url(config_db)) {
		char *cur = safe_url(config_db);

		merr("the config's store is PostgreSQL already (%s): give"
		    " --from DATABASE, the SQLite file to migrate (by default"
		    " STATE_DIR/clerk.db)", cur);
		free(cur);
		return 2;
	}
	m.from = from != NULL ? from : config_db;
	m.last_progress = t0;
	m.json = json;
	m.to_safe = safe_url(to);
	if (!is_pg_url(to)) {
		merr("--to %s is not a PostgreSQL URL; give"
		    " postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
		    m.to_safe);
		free(m.to_safe);
		return 2;
	}
	if (is_pg_url(m.from)) {
		merr("--from %s: migrate copies an SQLite database into"
		    " PostgreSQL; from one PostgreSQL database to another use"
		    " pg_dump and pg_restore", m.to_safe);
		free(m.to_safe);
		return 2;
	}
	if (lock_state_dir(state_dir, &fd) < 0)
		goto out;
	if (sq_prepare(&m) < 0 || sq_check_audit(&m) < 0)
		goto out;
	if (sqlite3_prepare_v2(m.sq, "SELECT count(*) FROM items WHERE state"
	    " = 1", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) ==
	    SQLITE_ROW)
		m.running = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (pg_connect(&m, to) < 0 || pg_prepare(&m) < 0)
		goto out;
	for (size_t i = 0; i < NTABLES; i++)
		if (copy_table(&m, i) < 0)
			goto out;
	if (set_sequences(&m) < 0)
		goto out;
	for (size_t i = 0; i < NTABLES; i++)
		if (compare_table(&m, i) < 0)
			goto out;
	if (pg_audit_walk(&m) < 0)
		goto out;
	if (pg_cmd(&m, "COMMIT", "committing") < 0)
		goto out;
	report(&m, util_mono_ms() - t0);
	rc = 0;
out:
	/* Closing without COMMIT rolls the transaction back: a failed
	 * migration leaves the target as it found it. */
	if (m.pg != NULL)
		PQfinish(m.pg);
	if (m.sq != NULL)
		sqlite3_close(m.sq);
	if (fd >= 0)
		close(fd);
	free(m.to_safe);
	return rc;
}
