/*
 * store.h - the backend interface of the work queue. A backend is one file
 * (store_sqlite.c, store_pg.c) exporting one struct store_ops; queue.c
 * picks it in one place and never touches SQL.
 */
#ifndef CLERK_STORE_H
#define CLERK_STORE_H

#include "queue.h"

struct store_ops {
	const char *name;
	void *(*open)(const char *path, const struct queue_opts *o,
	    struct err *e);
	void (*close)(void *s);

	/* The writer thread's transaction around a batch of requests. */
	int (*begin)(void *s, struct err *e);
	int (*commit)(void *s, struct err *e);
	void (*rollback)(void *s);
	/*
	 * Applies one request inside the open transaction and sets r->rc.
	 * A request that fails leaves no trace; the others in the batch stay.
	 */
	void (*apply)(void *s, struct qreq *r, int64_t now);

	/* Reads; safe to call from any one thread beside the writer. */
	json_t *(*item_get)(void *s, int64_t id, struct err *e);
	json_t *(*item_list)(void *s, const struct item_filter *f,
	    struct err *e);
	json_t *(*escalation_get)(void *s, int64_t id, struct err *e);
	json_t *(*escalation_list)(void *s, const struct esc_filter *f,
	    struct err *e);
	char *(*escalation_list_json)(void *s, const struct esc_filter *f,
	    struct esc_page *pg, struct err *e);
	json_t *(*counts)(void *s, struct err *e);
	json_t *(*history)(void *s, const char *playbook, int64_t since,
	    int64_t bucket_ms, struct err *e);
	json_t *(*sessions)(void *s, struct err *e);
	/* 1 with *slot, 0 if the playbook never fired, -1 on error. */
	int (*trigger_slot)(void *s, const char *playbook, int64_t *slot,
	    struct err *e);
	json_t *(*playbook_states)(void *s, struct err *e);
	int (*backup)(void *s, const char *dest, struct err *e);
	/* Optional: fn(arg) runs (on a thread of the store's) when another
	 * process sharing the store has committed new work; fn NULL stops
	 * it. NULL for a store only one process writes (SQLite). */
	void (*on_wakeup)(void *s, void (*fn)(void *), void *arg);
};

extern const struct store_ops store_sqlite_ops;
/* PostgreSQL (store_pg.c, store_pg_read.c): a store named by a
 * postgresql:// URL. */
extern const struct store_ops store_pg_ops;

/* audit_verify and audit_export (audit.h) on a PostgreSQL store. */
int store_pg_audit_verify(const char *url, FILE *out, int64_t *rows,
    struct err *e);
int64_t store_pg_audit_export(const char *url, int64_t after, int64_t limit,
    FILE *out, struct err *e);

/* url without its password, for messages; allocated. */
char *store_pg_safe_url(const char *url);

/* Whether s names a PostgreSQL store (postgresql:// or postgres://). */
bool store_pg_url(const char *s);

/* queue_restore for SQLite. */
int store_sqlite_restore(const char *backup, const char *path,
    FILE *report, struct restore_info *ri, struct err *e);

#endif
