/*
 * audit.h - the tamper-evident audit trail: an append-only table in the
 * store whose every row carries the SHA-256 of the previous row's hash
 * and its own content, so an edited or deleted row breaks the chain.
 */
#ifndef CLERK_AUDIT_H
#define CLERK_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define AUDIT_GENESIS \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* hash = SHA-256(prev \n id \n ts \n actor \n action \n target \n details) */
void audit_hash(const char *prev, int64_t id, int64_t ts, const char *actor,
    const char *action, const char *target, const char *details,
    char out[65]);

/*
 * Walks the chain in the database at path (read-only; an SQLite file or
 * a postgresql:// URL). Prints a line per
 * broken row to out and returns the number of problems, or -1 with e
 * filled when the database cannot be read.
 */
int audit_verify(const char *path, FILE *out, int64_t *rows, struct err *e);
/*
 * The check of one row after another, for a store that reads its rows
 * itself (store_pg.c): init, then each row in id order; problems and
 * rows are audit_verify's.
 */
struct audit_walk {
	char prev[65];
	int64_t want_id;
	int64_t rows;
	int problems;
};
void audit_walk_init(struct audit_walk *w);
void audit_walk_row(struct audit_walk *w, FILE *out, int64_t id, int64_t ts,
    const char *actor, const char *action, const char *target,
    const char *details, const char *prev_hash, const char *hash);
/* One row as audit_export writes it. */
void audit_export_row(FILE *out, int64_t id, int64_t ts, const char *actor,
    const char *action, const char *target, const char *details,
    const char *prev_hash, const char *hash);
/* Writes up to limit rows (0: all) with id > after as JSON lines; returns
 * the count or -1. */
int64_t audit_export(const char *path, int64_t after, int64_t limit,
    FILE *out, struct err *e);

/*
 * The anchor: the chain's head kept outside the database, so that rows
 * deleted from the END of the table (which leaves a shorter chain that
 * still verifies) are noticed. DATABASE.audit-anchor is a text file
 * clerkd only appends to, one line per commit that added audit rows:
 *
 *   head id=ID rows=N hash=HEX time=RFC3339
 *   restore id=ID rows=N hash=HEX time=RFC3339 from=BACKUP
 *
 * A restore line (clerkctl restore) starts a new stretch: the database
 * was deliberately replaced by an older one, whose head it names. Lines
 * starting with '#' are comments.
 */
enum audit_anchor_kind { AUDIT_ANCHOR_HEAD, AUDIT_ANCHOR_RESTORE };

struct audit_anchor {
	enum audit_anchor_kind kind;
	int64_t id, rows;
	char hash[65];
	char time[48];
};

/* DATABASE.audit-anchor, allocated. */
char *audit_anchor_path(const char *db);
/* One line (without its newline): 0, or -1 if it is not an anchor line. */
int audit_anchor_parse(const char *line, struct audit_anchor *a);
/* The line for a (with its newline) into buf; from is a restore's
 * backup or NULL. Returns the length. */
size_t audit_anchor_format(const struct audit_anchor *a, const char *from,
    char *buf, size_t len);
/*
 * Opens path for appending (O_APPEND, mode 0600), creating it with a
 * comment header; a last line a crash cut short is ended first, so the
 * next line starts on its own. Returns the descriptor or -1.
 */
int audit_anchor_open(const char *path, struct err *e);
/* Writes one line to fd and fsyncs it. */
int audit_anchor_write(int fd, const char *path, const struct audit_anchor *a,
    const char *from, struct err *e);

/* What audit_verify_end found. */
struct audit_end {
	bool anchored;          /* the anchor file has at least one entry */
	bool restored;          /* the entries checked start at a restore */
	int64_t last_id;        /* the table's last row (0: empty) */
	int64_t anchored_id;    /* the highest row the anchor vouches for */
	int64_t missing;        /* rows the anchor names past the table's end */
	int64_t ahead;          /* rows past the highest anchored one */
	int entries;            /* anchor lines checked */
	int skipped;            /* lines that were not anchor lines */
};

/*
 * Checks the end of the trail in the database at db against the anchor
 * file (every entry since the last restore line must name a row the
 * table has, with that hash; rows after the newest entry are fine: the
 * database commits before the anchor is written). Prints a line per
 * problem, and a "note:" line per unreadable anchor line, to out.
 * Returns the problems, or -1 with e filled. A missing anchor file is
 * no error: r->anchored is false.
 */
int audit_verify_end(const char *db, const char *anchor, FILE *out,
    struct audit_end *r, struct err *e);

#endif
