/*
 * store_pg.h - what the PostgreSQL backend's two files share:
 * store_pg.c (connections, schema, the writer's transactions and every
 * write request) and store_pg_read.c (the reads behind the API).
 *
 * The tables, columns and meanings are those of store_sqlite.c's schema,
 * with INTEGER as bigint and every time in ms since the epoch; payloads,
 * outputs and contexts stay JSON text so both backends hand out the same
 * bytes. Only the lease times are on the database clock (pg_now_ms), so
 * nodes with drifting clocks agree on whose lease has run out.
 */
#ifndef CLERK_STORE_PG_H
#define CLERK_STORE_PG_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>

#include "store.h"

/* The schema a new database is made from (store_pg_schema.c). */
extern const char pg_schema_sql[];
/* Its version, kept in clerk_meta(key = 'schema_version'). */
#define PG_SCHEMA_VERSION 6

struct pg_store {
	PGconn *w;                  /* the writer thread's */
	bool in_tx;
	/* The audit chain's head within the open transaction: read under
	 * the chain's advisory lock at its first row (NULL id: not yet). */
	bool audit_locked;
	int64_t audit_id;
	char audit_hash[65];
	PGconn *r;                  /* reads, under rlock */
	pthread_mutex_t rlock;
	char *url;                  /* as configured, for messages */
	char *safe_url;             /* without a password */
};

/* The URL a configured store names PostgreSQL by: postgresql:// or
 * postgres://. */
bool store_pg_url(const char *s);

/* e from the connection's last error, naming what was being done. */
void pg_err(struct err *e, PGconn *c, const char *what);
/* Runs one statement with text parameters (NULL = SQL NULL); NULL with
 * e set on failure; the caller PQclear()s. */
PGresult *pg_exec(PGconn *c, struct err *e, const char *sql, int n,
    const char *const *params);
/* Column i of row r as int64 (0 when NULL), or as text (NULL when
 * NULL). */
int64_t pg_int(const PGresult *res, int r, int i);
const char *pg_text(const PGresult *res, int r, int i);

/* The reads (store_pg_read.c), with the store_ops signatures. */
json_t *pg_item_get(void *s, int64_t id, struct err *e);
json_t *pg_item_list(void *s, const struct item_filter *f, struct err *e);
json_t *pg_escalation_get(void *s, int64_t id, struct err *e);
json_t *pg_escalation_list(void *s, const struct esc_filter *f,
    struct err *e);
char *pg_escalation_list_json(void *s, const struct esc_filter *f,
    struct esc_page *pg, struct err *e);
json_t *pg_counts(void *s, struct err *e);
json_t *pg_history(void *s, const char *playbook, int64_t since,
    int64_t bucket_ms, struct err *e);
json_t *pg_sessions(void *s, struct err *e);
int pg_trigger_slot(void *s, const char *playbook, int64_t *slot,
    struct err *e);
json_t *pg_playbook_states(void *s, struct err *e);

#endif
