/*
 * audit.c - hashing and checking the audit chain. Appending is the
 * store's job (store_sqlite.c, store_pg.c), inside the transaction of
 * what it records; a PostgreSQL store's rows are read by store_pg.c and
 * checked here, row by row, the same way.
 */
#include "audit.h"

#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void
audit_walk_init(struct audit_walk *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->prev, sizeof(w->prev), "%s", AUDIT_GENESIS);
	w->want_id = 1;
}

void
audit_walk_row(struct audit_walk *w, FILE *out, int64_t id, int64_t ts,
    const char *actor, const char *action, const char *target,
    const char *details, const char *prev_hash, const char *hash)
{
	char h[65];

	if (prev_hash == NULL)
		prev_hash = "";
	if (hash == NULL)
		hash = "";
	w->rows++;
	if (id != w->want_id) {
		fprintf(out, "audit row %lld: missing (deleted); rows"
		    " %lld..%lld are gone\n", (long long)w->want_id,
		    (long long)w->want_id, (long long)id - 1);
		w->problems++;
	}
	if (strcmp(prev_hash, w->prev) != 0) {
		fprintf(out, "audit row %lld: does not follow the row"
		    " before it (a row before it was edited or"
		    " deleted)\n", (long long)id);
		w->problems++;
	}
	audit_hash(prev_hash, id, ts, actor, action, target, details, h);
	if (strcmp(h, hash) != 0) {
		fprintf(out, "audit row %lld: its content does not match"
		    " its hash (edited)\n", (long long)id);
		w->problems++;
	}
	/* Go on from what the row claims, so one edit is reported once,
	 * not for every row after it. */
	snprintf(w->prev, sizeof(w->prev), "%s", hash);
	w->want_id = id + 1;
}

int
audit_verify(const char *path, FILE *out, int64_t *rows, struct err *e)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	struct audit_walk w;
	int problems, rc;

	if (store_pg_url(path))
		return store_pg_audit_verify(path, out, rows, e);
	*rows = 0;
	if ((db = open_ro(path, e)) == NULL)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT id, ts, actor, action, target,"
	    " details, prev_hash, hash FROM audit ORDER BY id", -1, &st,
	    NULL) != SQLITE_OK) {
		err_set(e, "%s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	audit_walk_init(&w);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		audit_walk_row(&w, out, sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1), COL(st, 2), COL(st, 3),
		    COL(st, 4), COL(st, 5), COL(st, 6), COL(st, 7));
	problems = w.problems;
	*rows = w.rows;
	if (rc != SQLITE_DONE) {
		err_set(e, "%s: %s", path, sqlite3_errmsg(db));
		problems = -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return problems;
}

void
audit_export_row(FILE *out, int64_t id, int64_t ts, const char *actor,
    const char *action, const char *target, const char *details,
    const char *prev_hash, const char *hash)
{
	json_t *d = details ? json_loads(details, 0, NULL) : NULL;
	json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:s?,s:o?,s:s,s:s}",
	    "id", (json_int_t)id, "ts", (json_int_t)ts, "actor", actor,
	    "action", action, "target", target, "details", d ? d :
	    (details ? json_string(details) : NULL), "prev_hash", prev_hash,
	    "hash", hash);
	char *line = json_dumps(o, JSON_COMPACT);

	fprintf(out, "%s\n", line);
	free(line);
	json_decref(o);
}

int64_t
audit_export(const char *path, int64_t after, int64_t limit, FILE *out,
    struct err *e)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int rc;

	if (store_pg_url(path))
		return store_pg_audit_export(path, after, limit, out, e);
	if ((db = open_ro(path, e)) == NULL)
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
		audit_export_row(out, sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1), COL(st, 2), COL(st, 3),
		    COL(st, 4), COL(st, 5), COL(st, 6), COL(st, 7));
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

/* ---- the anchor (audit.h) ---- */

static const char anchor_header[] =
    "# clerk audit anchor: the audit trail's head after each commit that\n"
    "# added audit rows, and each `clerkctl restore`. clerkd only appends;\n"
    "# `clerkctl audit verify` checks the database's end against it.\n";

char *
audit_anchor_path(const char *db)
{
	return xasprintf("%s.audit-anchor", db);
}

size_t
audit_anchor_format(const struct audit_anchor *a, const char *from,
    char *buf, size_t len)
{
	size_t n;

	n = (size_t)snprintf(buf, len, "%s id=%lld rows=%lld hash=%s time=%s",
	    a->kind == AUDIT_ANCHOR_RESTORE ? "restore" : "head",
	    (long long)a->id, (long long)a->rows, a->hash, a->time);
	if (from != NULL && n + 7 < len) {
		n += (size_t)snprintf(buf + n, len - n, " from=");
		/* One line per entry, whatever the backup's name holds. */
		for (; *from != '\0' && n + 2 < len; from++)
			buf[n++] = (unsigned char)*from < 0x20 ? '?' : *from;
	}
	if (n + 2 > len)
		n = len - 2;
	buf[n++] = '\n';
	buf[n] = '\0';
	return n;
}

int
audit_anchor_parse(const char *line, struct audit_anchor *a)
{
	char kind[16], canon[256];
	long long id, rows;
	size_t n;

	memset(a, 0, sizeof(*a));
	if (sscanf(line, "%15s id=%lld rows=%lld hash=%64[0-9a-f] time=%47s",
	    kind, &id, &rows, a->hash, a->time) != 5)
		return -1;
	if (strcmp(kind, "head") == 0)
		a->kind = AUDIT_ANCHOR_HEAD;
	else if (strcmp(kind, "restore") == 0)
		a->kind = AUDIT_ANCHOR_RESTORE;
	else
		return -1;
	a->id = id;
	a->rows = rows;
	if (id < 0 || rows < 0 || rows > id || strlen(a->hash) != 64 ||
	    (id == 0 && strcmp(a->hash, AUDIT_GENESIS) != 0))
		return -1;
	/* sscanf skips blanks and signs; only the form clerk writes is an
	 * entry, so a line is compared with its own canonical form. */
	n = audit_anchor_format(a, NULL, canon, sizeof(canon)) - 1;
	if (strncmp(line, canon, n) != 0)
		return -1;
	if (line[n] == '\0')
		return 0;
	if (a->kind == AUDIT_ANCHOR_RESTORE && strncmp(line + n, " from=", 6)
	    == 0)
		return 0;
	return -1;
}

static void
fsync_dir_of(const char *path)
{
	char *d = xstrdup(path);
	int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(d);
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int
audit_anchor_open(const char *path, struct err *e)
{
	struct stat st;
	char last;
	int fd;

	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(e, "audit anchor %s: cannot open it: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0)
		goto fail;
	if (st.st_size == 0) {
		if (write_all(fd, anchor_header, strlen(anchor_header)) < 0 ||
		    fsync(fd) < 0)
			goto fail;
		fsync_dir_of(path);
	} else if (pread(fd, &last, 1, st.st_size - 1) != 1)
		goto fail;
	else if (last != '\n' && write_all(fd, "\n", 1) < 0)
		goto fail;
	return fd;
fail:
	err_set(e, "audit anchor %s: %s", path, strerror(errno));
	close(fd);
	return -1;
}

int
audit_anchor_write(int fd, const char *path, const struct audit_anchor *a,
    const char *from, struct err *e)
{
	char line[4096 + 256];
	size_t n = audit_anchor_format(a, from, line, sizeof(line));

	if (write_all(fd, line, n) < 0 || fsync(fd) < 0) {
		err_set(e, "audit anchor %s: cannot write it: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

struct anchor_entry {
	struct audit_anchor a;
	int line;
};

/* The entries since the last restore line; unreadable lines are noted. */
static int
read_anchor(const char *path, FILE *out, struct anchor_entry **ents,
    size_t *n, struct audit_end *r, struct err *e)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t lcap = 0, cap = 0;
	ssize_t len;
	int ln = 0;

	*ents = NULL;
	*n = 0;
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		err_set(e, "audit anchor %s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &lcap, f)) > 0) {
		bool whole = line[len - 1] == '\n';
		struct audit_anchor a;

		ln++;
		if (whole)
			line[--len] = '\0';
		if (line[0] == '#' || len == 0)
			continue;
		if (!whole) {
			fprintf(out, "note: %s line %d is incomplete (a write a"
			    " crash cut short): ignored\n", path, ln);
			r->skipped++;
			continue;
		}
		if (audit_anchor_parse(line, &a) < 0) {
			fprintf(out, "note: %s line %d is not an anchor entry:"
			    " ignored\n", path, ln);
			r->skipped++;
			continue;
		}
		/* A restore deliberately put an older trail in place: what
		 * was anchored before it no longer applies. */
		if (a.kind == AUDIT_ANCHOR_RESTORE)
			*n = 0;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*ents = xrealloc(*ents, cap * sizeof(**ents));
		}
		(*ents)[*n].a = a;
		(*ents)[(*n)++].line = ln;
	}
	if (ferror(f)) {
		err_set(e, "audit anchor %s: %s", path, strerror(errno));
		free(line);
		fclose(f);
		free(*ents);
		*ents = NULL;
		return -1;
	}
	free(line);
	fclose(f);
	return 0;
}

int
audit_verify_end(const char *db, const char *anchor, FILE *out,
    struct audit_end *r, struct err *e)
{
	struct anchor_entry *ents, *far = NULL, *bad = NULL;
	sqlite3 *c = NULL;
	sqlite3_stmt *st = NULL;
	char here[65] = "";
	size_t n, nbad = 0;
	int problems = -1;

	memset(r, 0, sizeof(*r));
	if (read_anchor(anchor, out, &ents, &n, r, e) < 0)
		return -1;
	r->entries = (int)n;
	r->anchored = n > 0;
	r->restored = n > 0 && ents[0].a.kind == AUDIT_ANCHOR_RESTORE;
	if ((c = open_ro(db, e)) == NULL)
		goto out;
	if (sqlite3_prepare_v2(c, "SELECT coalesce(max(id), 0) FROM audit",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		err_set(e, "%s: %s", db, sqlite3_errmsg(c));
		goto out;
	}
	r->last_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(c, "SELECT hash FROM audit WHERE id = ?1", -1,
	    &st, NULL) != SQLITE_OK) {
		err_set(e, "%s: %s", db, sqlite3_errmsg(c));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct anchor_entry *x = &ents[i];
		int rc;

		if (far == NULL || x->a.id > far->a.id)
			far = x;
		/* An entry followed by a later row's is vouched for by that
		 * one: row N's hash commits to every row before it, and the
		 * chain walk checks the links. So only the entries a lower
		 * one follows (a trail cut and grown again) and the last are
		 * looked up, and a long anchor costs a read, not a query a
		 * line. */
		if (i + 1 < n && ents[i + 1].a.id > x->a.id)
			continue;
		if (x->a.id == 0 || x->a.id > r->last_id)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, x->a.id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			continue;   /* a gap: the chain walk names it */
		if (rc != SQLITE_ROW) {
			err_set(e, "%s: %s", db, sqlite3_errmsg(c));
			goto out;
		}
		if (strcmp(COL(st, 0) ? COL(st, 0) : "", x->a.hash) == 0)
			continue;
		nbad++;
		if (bad == NULL || x->a.id < bad->a.id) {
			bad = x;
			snprintf(here, sizeof(here), "%s", COL(st, 0) ?
			    COL(st, 0) : "");
		}
	}
	problems = 0;
	if (far != NULL) {
		r->anchored_id = far->a.id;
		if (far->a.id > r->last_id) {
			r->missing = far->a.id - r->last_id;
			char ends[48];

			if (r->last_id > 0)
				snprintf(ends, sizeof(ends), "ends at row %lld",
				    (long long)r->last_id);
			else
				snprintf(ends, sizeof(ends), "is empty");
			fprintf(out, "audit rows %lld..%lld: missing from the end"
			    " (deleted): %s line %d (%s) names row %lld, the"
			    " trail %s; %lld row(s) are gone\n",
			    (long long)r->last_id + 1, (long long)far->a.id,
			    anchor, far->line, far->a.time, (long long)far->a.id,
			    ends, (long long)r->missing);
			problems++;
		} else
			r->ahead = r->last_id - far->a.id;
	}
	if (bad != NULL) {
		fprintf(out, "audit row %lld: not the row %s line %d (%s)"
		    " names (hash %.12s... there, %.12s... here): the trail was"
		    " rewritten from row %lld on", (long long)bad->a.id,
		    anchor, bad->line, bad->a.time, bad->a.hash, here,
		    (long long)bad->a.id);
		if (nbad > 1)
			fprintf(out, "; %zu more anchor entr%s disagree",
			    nbad - 1, nbad > 2 ? "ies" : "y");
		fprintf(out, "\n");
		problems++;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(c);
	free(ents);
	return problems;
}
