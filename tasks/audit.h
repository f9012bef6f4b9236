/*
 * audit.h - the tamper-evident audit trail: an append-only table in the
 * store whose every row carries the SHA-256 of the previous row's hash
 * and its own content, so an edited or deleted row breaks the chain.
 */
#ifndef CLERK_AUDIT_H
#define CLERK_AUDIT_H

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
 * Walks the chain in the database at path (read-only). Prints a line per
 * broken row to out and returns the number of problems, or -1 with e
 * filled when the database cannot be read.
 */
int audit_verify(const char *path, FILE *out, int64_t *rows, struct err *e);
/* Writes up to limit rows (0: all) with id > after as JSON lines; returns
 * the count or -1. */
int64_t audit_export(const char *path, int64_t after, int64_t limit,
    FILE *out, struct err *e);

#endif
