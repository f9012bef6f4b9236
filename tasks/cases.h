/*
 * cases.h - the reader behind the "cases.split" step: a file of
 * applications (a JSON object, a JSON array of objects, or a CSV with a
 * header row) cut into one JSON object per application. Public so the
 * fuzz target can drive it without the daemon.
 */
#ifndef CLERK_CASES_H
#define CLERK_CASES_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

/* At most this many bad rows are kept in the bad list. */
#define CASES_MAX_BAD 200

struct cases_spec {
	char **required;          /* fields every application must have */
	size_t nrequired;
	char **col_field;         /* CSV header col_header[i] is field col_field[i] */
	char **col_header;
	size_t ncols;
};

struct cases_counts {
	size_t apps;              /* applications passed to emit */
	size_t bad;               /* rows that are no application */
};

/* Gets each application (borrowed: json_incref to keep it), its 1-based
 * row and the line it starts on; 0, or -1 with e to stop. */
typedef int (*cases_emit_fn)(void *arg, json_t *app, size_t row,
    unsigned line, struct err *e);

/*
 * text: the whole file, UTF-8, NUL-terminated and writable (CSV cells are
 * unquoted in place), len bytes. Bad rows are counted and, when bad is an
 * array, appended as {line, message "path:line: ..."}. Returns 0; -1 with
 * e (ERR_INVALID, "path:line: ...") when the file cannot be read past some
 * point (applications before it were emitted); -2 when emit failed (its
 * e; later applications are counted, not emitted).
 */
int cases_parse(const char *path, char *text, size_t len,
    const struct cases_spec *spec, cases_emit_fn emit, void *arg,
    json_t *bad, struct cases_counts *n, struct err *e);

#endif
