/*
 * audit.c - hashing and checking the audit chain. Appending is the
 * store's job (store_sqlite.c), inside the transaction of what it records.
 */
#include "audit.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

void
audit_hash(const char *prev, int64_t id, int64_t ts, const char *actor,
    const char *action, const char *target, const char *details,
    char out[65])
{
	char *text = xasprintf("%s\n%lld\n%lld\n%s\n%s\n%s\n%s", prev,
	    (long long)id, (long long)ts, actor ? actor : "", action ?
	    action : "", target ? target : "", details ? details : "");

	util_sha256_hex(text, strlen(text), out);
	free(text);
}

static sqlite3 *
open_ro(const char *path, struct err *e)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		err_set(e, "%s: %s", path, db ? sqlite3_errmsg(db) :
		    "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

#define COL(st, i) ((const char *)sqlite3_column_text(st, i))

int
audit_verify(const char *path, FILE *out, int64_t *rows, struct err *e)
{
	sqlite3 *db = open_ro(path, e);
	sqlite3_stmt *st = NULL;
	char prev[65] = AUDIT_GENESIS, h[65];
	int64_t want_id = 1;
	int problems = 0, rc;

	*rows = 0;
	if (db == NULL)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT id, ts, actor, action, target,"
	    " details, prev_hash, hash FROM audit ORDER BY id", -1, &st,
	    NULL) != SQLITE_OK) {
		err_set(e, "%s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);

		(*rows)++;
		if (id != want_id) {
			fprintf(out, "audit row %lld: missing (deleted); rows"
			    " %lld..%lld are gone\n", (long long)want_id,
			    (long long)want_id, (long long)id - 1);
			problems++;
		}
		if (strcmp(COL(st, 6) ? COL(st, 6) : "", prev) != 0) {
			fprintf(out, "audit row %lld: does not follow the row"
			    " before it (a row before it was edited or"
			    " deleted)\n", (long long)id);
			problems++;
		}
		audit_hash(COL(st, 6) ? COL(st, 6) : "", id,
		    sqlite3_column_int64(st, 1), COL(st, 2), COL(st, 3),
		    COL(st, 4), COL(st, 5), h);
		if (strcmp(h, COL(st, 7) ? COL(st, 7) : "") != 0) {
			fprintf(out, "audit row %lld: its content does not match"
			    " its hash (edited)\n", (long long)id);
			problems++;
		}
		/* Go on from what the row claims, so one edit is reported
		 * once, not for every row after it. */
		snprintf(prev, sizeof(prev), "%s", COL(st, 7) ? COL(st, 7) : "");
		want_id = id + 1;
	}
	if (rc != SQLITE_DONE) {
		err_set(e, "%s: %s", path, sqlite3_errmsg(db));
		problems = -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return problems;
}

int64_t
audit_export(const char *path, int64_t after, int64_t limit, FILE *out,
    struct err *e)
{
	sqlite3 *db = open_ro(path, e);
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int rc;

	if (db == NULL)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT id, ts, actor, action, target,"
	    " details, prev_hash, hash FROM audit WHERE id > ?1 ORDER BY id"
	    " LIMIT ?2",
	    -1, &st, NULL) != SQLITE_OK) {
		err_set(e, "%s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);   /* -1: no limit */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *details = COL(st, 5) ? json_loads(COL(st, 5), 0, NULL) :
		    NULL;
		json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:s?,s:o?,s:s,s:s}",
		    "id", (json_int_t)sqlite3_column_int64(st, 0), "ts",
		    (json_int_t)sqlite3_column_int64(st, 1), "actor",
		    COL(st, 2), "action", COL(st, 3), "target", COL(st, 4),
		    "details", details ? details : (COL(st, 5) ?
		    json_string(COL(st, 5)) : NULL), "prev_hash", COL(st, 6),
		    "hash", COL(st, 7));
		char *line = json_dumps(o, JSON_COMPACT);

		fprintf(out, "%s\n", line);
		free(line);
		json_decref(o);
		n++;
	}
	if (rc != SQLITE_DONE) {
		err_set(e, "%s: %s", path, sqlite3_errmsg(db));
		n = -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}
