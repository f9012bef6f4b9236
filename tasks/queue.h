/*
 * queue.h - the durable work queue.
 *
 * Work items live in a store (SQLite by default, behind struct store_ops).
 * Every write is a request handed to one writer thread that owns the
 * store's write connection; the writer applies all requests waiting at that
 * moment in one transaction and commits once (group commit), so
 * synchronous=FULL durability costs one fsync per batch, not per item.
 * Requests complete through a callback run on the writer thread, after the
 * commit, so a caller that sees success knows the transition is on disk.
 */
#ifndef CLERK_QUEUE_H
#define CLERK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util.h"

enum item_state {
	ITEM_QUEUED,
	ITEM_RUNNING,
	ITEM_RETRY_WAIT,
	ITEM_ESCALATED,
	ITEM_DONE,
	ITEM_REJECTED,
	ITEM_CANCELLED,
	ITEM_NSTATES
};

enum err_kind { ERRK_NONE, ERRK_SYSTEM, ERRK_BUSINESS };

const char *item_state_name(enum item_state s);
int item_state_parse(const char *s);   /* -1 if unknown */
const char *err_kind_name(enum err_kind k);

/* One finished step of an item, as journaled. */
struct item_step {
	char *step_id;
	char *output;          /* JSON text */
};

struct item {
	int64_t id;
	char *key;
	char *playbook;
	char *pb_hash;
	int priority;
	int64_t not_before;    /* ms */
	int64_t created;       /* ms, when it was enqueued */
	char *payload;         /* JSON object text */
	int attempts;          /* system-error attempts of the current step */
	enum item_state state;
	int64_t lease_expires; /* ms */
	size_t nsteps;
	struct item_step *steps;
};

void item_free(struct item *it);
/* The journaled output of step_id, or NULL if that step has not finished. */
const char *item_step_output(const struct item *it, const char *step_id);

enum qop {
	QOP_ENQUEUE,
	QOP_CLAIM,
	QOP_STEP_DONE,
	QOP_FAIL,
	QOP_RELEASE,
	QOP_RENEW,
	QOP_RECOVER,
	QOP_DECIDE,
	QOP_ITEM_RETRY,
	QOP_ITEM_CANCEL,
	QOP_AUDIT,
	QOP_ESC_CLAIM,
	QOP_ESC_RELEASE,
	QOP_ESC_ASSIGN,
	QOP_ESC_COMMENT,
	QOP_SESSION_SAVE,
	QOP_SESSION_FORGET,
	QOP_PB_PAUSE,
	QOP_PB_RESUME,
};

/* The longest reviewer comment, in bytes of UTF-8. */
#define ESC_COMMENT_MAX 4000

/* What happens to an item whose step failed or asked for a person. */
enum fail_action { FAIL_RETRY, FAIL_ESCALATE, FAIL_REJECT };

enum decision { DEC_APPROVE, DEC_REJECT, DEC_RETRY, DEC_RESUME };

const char *decision_name(enum decision d);
int decision_parse(const char *s);     /* -1 if unknown */

struct qreq {
	enum qop op;
	union {
		struct {
			const char *key;
			const char *playbook;
			const char *pb_hash;
			int priority;
			int64_t not_before;
			const char *payload;
			/* A cron / interval slot (ms) this item fires for:
			 * recorded with it as the playbook's last fired slot
			 * (queue_trigger_slot); 0 for other items. */
			int64_t slot;
			int64_t id;        /* out */
			bool dup;          /* out: key existed, id is the old item */
		} enqueue;
		struct {
			const char *playbook;
			const char *owner;
			int64_t lease_ms;
			int max;
			struct item **items;  /* out, caller frees each + array */
			int n;                /* out */
		} claim;
		struct {
			int64_t item;
			const char *step_id;
			const char *pb_hash;
			const char *output;   /* JSON text */
			bool final;           /* last step: item becomes done */
			int64_t ms;           /* how long the step took */
			const char *owner;    /* the claimer; NULL: any */
			bool end_wait;        /* drop the item's kept wait */
		} step_done;
		struct {
			int64_t item;
			const char *step_id;
			enum err_kind kind;
			const char *message;
			enum fail_action action;
			int64_t not_before;   /* FAIL_RETRY */
			const char *reason;   /* FAIL_ESCALATE: short code */
			const char *context;  /* FAIL_ESCALATE: JSON text or NULL */
			int64_t due;          /* FAIL_ESCALATE: SLA due time, ms */
			const char *owner;    /* the claimer; NULL: any */
			bool end_wait;        /* drop the item's kept wait */
			int64_t escalation;   /* out */
		} fail;
		struct {
			int64_t item;
			int64_t not_before;
			/* The wait the item is released into, kept in its
			 * payload as "_waiting" (so its start outlives a
			 * restart): a JSON object's text to keep, "" to drop
			 * the kept one, NULL to leave it as it is. */
			const char *waiting;
		} release;
		struct {
			const char *owner;
			int64_t lease_ms;
			/* The ids to renew as a JSON array ("[3,7]"): those
			 * the owner still holds, so an item it lost track
			 * of (its result's commit failed, or its claim's
			 * was not answered) runs out and goes back to the
			 * queue. NULL: every running item of owner. */
			const char *items;
		} renew;
		struct {
			const char *owner;    /* NULL: every running item */
			int n;                /* out: items returned to the queue */
		} recover;
		struct {
			int64_t escalation;
			enum decision decision;
			const char *by;
			const char *reason;
			const char *payload;  /* DEC_RESUME: JSON object merged in */
			int64_t item;         /* out */
		} decide;
		struct {
			int64_t item;
			const char *by;       /* who asked, for the audit trail */
		} item_op;
		struct {
			int64_t escalation;
			const char *by;       /* the reviewer */
			int64_t ms;           /* QOP_ESC_CLAIM: how long */
			int64_t until;        /* out: the claim's expiry */
		} esc_claim;
		struct {
			int64_t escalation;
			const char *by;       /* who assigns */
			const char *to;       /* the reviewer it goes to */
			/* false: by must hold it (assigned to by, or by's
			 * unexpired claim); true: a supervisor, any open one */
			bool any;
			char from[129];       /* out: the previous assignee, or "" */
		} esc_assign;
		struct {
			int64_t escalation;
			const char *by;
			const char *text;
			int64_t id;           /* out: the comment's id */
		} esc_comment;
		struct {
			const char *key;      /* SHA-256 hex of the cookie value */
			const char *csrf;     /* QOP_SESSION_SAVE */
			const char *user;     /* QOP_SESSION_SAVE */
			int64_t last;         /* QOP_SESSION_SAVE: wall clock, ms */
		} session;
		struct {
			const char *playbook;
			const char *by;       /* who, for the audit trail */
			const char *reason;   /* QOP_PB_PAUSE: or NULL */
			int64_t at;           /* out: when it was recorded */
		} pb_pause;
		struct {
			const char *actor;    /* user name, "system", "clerkd" */
			const char *action;   /* e.g. "login", "reload" */
			const char *target;   /* what it acted on, or NULL */
			const char *details;  /* JSON object text, or NULL */
		} audit;
	} u;

	int rc;                /* 0 or -1, set before done() runs */
	struct err err;
	void (*done)(struct qreq *r, void *arg);
	void *arg;
	struct qreq *next;     /* the writer's list */
};

struct queue_opts {
	bool durable;          /* synchronous=FULL (default) vs NORMAL */
	int max_batch;         /* requests per transaction, default 4096 */
};

struct queue;

/* path: a file name (SQLite) or a postgresql:// URL (PostgreSQL, which
 * several clerkd may share). Creates the schema if needed. */
struct queue *queue_open(const char *path, const struct queue_opts *o,
    struct err *e);
/* Whether path names a PostgreSQL store (a postgresql:// or postgres://
 * URL), which several clerkd may share, rather than an SQLite file. */
bool queue_store_is_url(const char *path);
/* path as messages and logs show it: a URL without its password;
 * allocated. */
char *queue_store_name(const char *path);
/* Stops the writer after it has applied every request already submitted. */
void queue_close(struct queue *q);

/* Hands r to the writer; r->done(r, r->arg) runs on the writer thread. */
void queue_submit(struct queue *q, struct qreq *r);
/* Submits r and waits for its commit. Returns r->rc. */
int queue_exec(struct queue *q, struct qreq *r);

/*
 * Appends to the audit trail without waiting (fire and forget; the writer
 * commits it with the next batch). Decisions and item retries/cancels are
 * audited by the store itself, in the same transaction.
 */
void queue_audit(struct queue *q, const char *actor, const char *action,
    const char *target, const char *details);

/* Web sessions kept across restarts (fire and forget, like queue_audit):
 * save or update one, forget one, and read them all back at start as
 * [{"key", "csrf", "user", "last"}]. */
void queue_session_save(struct queue *q, const char *key, const char *csrf,
    const char *user, int64_t last);
void queue_session_forget(struct queue *q, const char *key);
json_t *queue_sessions(struct queue *q, struct err *e);

/* The newest slot (ms) a timer item of playbook was enqueued for:
 * 1 with *slot, 0 if it never fired, -1 on a read error. */
int queue_trigger_slot(struct queue *q, const char *playbook, int64_t *slot,
    struct err *e);
/* The paused playbooks, as [{"playbook", "paused_by", "paused_at",
 * "pause_reason"}]. QOP_PB_PAUSE / QOP_PB_RESUME change them (409 when
 * the playbook already is / is not paused), audited in the same
 * transaction. */
json_t *queue_playbook_states(struct queue *q, struct err *e);

/*
 * fn(arg) runs, on a thread of the store's, soon after another clerkd on
 * the same store commits items that can be claimed (PostgreSQL: LISTEN
 * clerk_items), so work is claimed at once rather than at the next poll.
 * fn NULL stops it; returns before a running fn is left. A store only
 * one process writes (SQLite) never calls it: polling covers the rest.
 */
void queue_on_wakeup(struct queue *q, void (*fn)(void *arg), void *arg);

/* Last store error, or NULL when the last commit succeeded. */
bool queue_healthy(struct queue *q, struct err *e);

/*
 * Reads, on their own connection (WAL lets them run beside the writer).
 * Results are jansson objects the caller owns.
 */
struct item_filter {
	const char *playbook;   /* NULL = any */
	int state;              /* -1 = any */
	int64_t before_id;      /* cursor: ids < this; 0 = from the newest */
	int limit;              /* default 100, max 1000 */
};

json_t *queue_item_get(struct queue *q, int64_t id, struct err *e);
json_t *queue_item_list(struct queue *q, const struct item_filter *f,
    struct err *e);

struct esc_filter {
	const char *playbook;
	const char *reason;
	const char *assignee;   /* a name; "" = nobody assigned; NULL = any */
	bool overdue;           /* only open ones past their due time */
	const char *text;       /* free text in the message, the item's key or
	                           payload, or the evidence (an ID number, a
	                           case number, a name); NULL = any */
	bool brief;             /* without the context (the evidence) */
	bool by_id;             /* open ones by id, not (due, id); all always */
	int64_t now;            /* for overdue; 0 = the clock */
	bool open_only;
	/* Cursor: the last row seen. Open ones come by (due, id), all by id. */
	int64_t after_due;
	int64_t after_id;
	int limit;
};

json_t *queue_escalation_get(struct queue *q, int64_t id, struct err *e);
json_t *queue_escalation_list(struct queue *q, const struct esc_filter *f,
    struct err *e);
/* What a page held: its row count and last row, for the cursor. */
struct esc_page {
	int n;
	int64_t last_due;
	int64_t last_id;
};

/* The brief rows of queue_escalation_list as a JSON array's text (to free),
 * written by the store without a jansson object per row. */
char *queue_escalation_list_json(struct queue *q, const struct esc_filter *f,
    struct esc_page *pg, struct err *e);
/* {"playbook": {"queued": n, ...}, ...} plus totals under "*". */
json_t *queue_counts(struct queue *q, struct err *e);
/*
 * A playbook's run history since since (ms): items queued since then per
 * bucket of bucket_ms and state now, totals (items, failed_items,
 * failed_attempts, escalated_items), failures and escalations by step
 * and reason, step times (runs, median, p95, max; slowest first) and the
 * ten slowest step runs.
 */
json_t *queue_history(struct queue *q, const char *playbook, int64_t since,
    int64_t bucket_ms, struct err *e);
/* Writes a consistent copy of the store to dest (SQLite online backup). */
int queue_backup(struct queue *q, const char *dest, struct err *e);

/* What a restore found in the backup, and where the database it
 * replaced went (NULL if there was none; to free). */
struct restore_info {
	int version;
	int64_t items, escalations, audit_rows;
	int64_t audit_id;           /* the restored trail's last row */
	char audit_hash[65];
	char *aside;
	/* The restore happened but could not be written to the audit
	 * anchor (to free; NULL when it was). */
	char *anchor_error;
};

/*
 * Offline (the caller holds clerkd's lock): checks that backup is a whole
 * clerk database of this schema version or older (integrity check) whose
 * audit trail verifies (its problems are written to report), keeps
 * the database at path as path.before-restore-TIMESTAMP, then puts a copy
 * of backup in its place in one rename, owned like path's folder. backup
 * itself is not changed. On failure the database at path is as it was.
 * Once in place, a restore line with the restored trail's head is
 * appended to path.audit-anchor (audit.h), so the older trail is not
 * taken for a truncated one. An older backup is migrated by the next queue_open, as any database.
 */
int queue_restore(const char *backup, const char *path, FILE *report,
    struct restore_info *ri, struct err *e);

#endif
