/*
 * store_pg_read.c - the PostgreSQL backend's reads: the API's items,
 * escalations, counts, history, sessions, trigger slots and pause states.
 *
 * Each read is store_sqlite.c's, ported so that both backends hand the
 * API the same JSON: the same keys in the same order, integers as JSON
 * integers, JSON text columns embedded as values, NULL as null. They run
 * on s->r under s->rlock, outside any transaction, so each statement sees
 * the last commit of any node, as SQLite's reader sees its writer's.
 *
 * Values always travel as parameters; the SQL text is built only from
 * which filters are present, so the planner can use the matching partial
 * index as SQLite does.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The type oids a read can return (pg_type.dat; libpq ships no header
 * for them outside the server's). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

/* A statement's parameters as text, numbered in the order added. */
struct params {
	int n;
	const char *v[16];
	char num[16][24];
};

/* Adds v and returns its number, for "$%d" in the SQL. */
static int
par_int(struct params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
	p->v[p->n] = p->num[p->n];
	return ++p->n;
}

static int
par_text(struct params *p, const char *v)
{
	p->v[p->n] = v;
	return ++p->n;
}

/*
 * One read. A connection lost to a database restart is reset and the read
 * tried once more: reads change nothing, and without it every API read
 * after a restart would fail until clerkd restarts too.
 */
static PGresult *
rexec(struct pg_store *s, struct err *e, const char *sql, int n,
    const char *const *params)
{
	PGresult *res;

	if ((res = pg_exec(s->r, e, sql, n, params)) != NULL ||
	    PQstatus(s->r) != CONNECTION_BAD)
		return res;
	PQreset(s->r);
	if (PQstatus(s->r) != CONNECTION_OK)
		return NULL;
	if ((res = pg_exec(s->r, e, sql, n, params)) != NULL)
		err_clear(e);
	return res;
}

/* Column i of row r as SQLite's json_col() would have it. */
static json_t *
json_col(const PGresult *res, int r, int i)
{
	const char *v;

	if (PQgetisnull(res, r, i))
		return json_null();
	v = PQgetvalue(res, r, i);
	switch (PQftype(res, i)) {
	case OID_INT8:
	case OID_INT4:
	case OID_INT2:
		return json_integer(strtoll(v, NULL, 10));
	case OID_FLOAT4:
	case OID_FLOAT8:
	case OID_NUMERIC:
		return json_real(strtod(v, NULL));
	case OID_BOOL:
		/* SQLite has no booleans: its 1 and 0. */
		return json_integer(v[0] == 't');
	default:
		return json_string(v);
	}
}

/*
 * Every row of res as an object keyed by column name; columns named in
 * json_cols hold JSON text and are embedded as values. States and error
 * kinds become their names, as in store_sqlite.c's rows().
 */
static json_t *
rows(const PGresult *res, const char *json_cols)
{
	json_t *arr = json_array();
	int nrow = PQntuples(res), ncol = PQnfields(res);

	for (int r = 0; r < nrow; r++) {
		json_t *o = json_object();

		for (int i = 0; i < ncol; i++) {
			const char *name = PQfname(res, i);
			json_t *v = NULL;

			if (strstr(json_cols, name) != NULL &&
			    !PQgetisnull(res, r, i))
				v = json_loads(PQgetvalue(res, r, i),
				    JSON_DECODE_ANY, NULL);
			if (v == NULL)
				v = json_col(res, r, i);
			if ((strcmp(name, "state") == 0 ||
			    strcmp(name, "item_state") == 0) &&
			    json_is_integer(v)) {
				json_t *sv = json_string(item_state_name(
				    (enum item_state)json_integer_value(v)));

				json_decref(v);
				v = sv;
			}
			if (strcmp(name, "last_error_kind") == 0 ||
			    strcmp(name, "kind") == 0) {
				json_t *kv = json_string(err_kind_name(
				    (enum err_kind)json_integer_value(v)));

				json_decref(v);
				v = kv;
			}
			json_object_set_new(o, name, v);
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

/* rexec() then rows(), the result freed. */
static json_t *
rquery(struct pg_store *s, struct err *e, const char *json_cols,
    const char *sql, int n, const char *const *params)
{
	PGresult *res;
	json_t *arr;

	if ((res = rexec(s, e, sql, n, params)) == NULL)
		return NULL;
	arr = rows(res, json_cols);
	PQclear(res);
	return arr;
}

#define ITEM_COLS "id, key, playbook, pb_hash, priority, not_before, state," \
	" attempts, lease_expires, last_error, last_error_kind, created, updated"
/* The item's priority, the queue's second sort key after the due time. */
#define ESC_PRIORITY "(SELECT priority FROM items WHERE id = e.item) AS priority"
#define ESC_COLS "e.id, e.item, e.playbook, e.step_id, e.kind, e.reason," \
	" e.message, e.context, e.created, e.due, e.state, e.decision," \
	" e.decided_by, e.decided_at, e.decision_reason, e.claimed_by," \
	" e.claim_expires, e.assignee, e.previous, " ESC_PRIORITY
/* A list row without the context: the queue shows why, not the evidence. */
#define ESC_BRIEF_COLS "e.id, e.item, e.playbook, e.step_id, e.kind," \
	" e.reason, e.message, e.created, e.due, e.state, e.decision," \
	" e.decided_by, e.decided_at, e.decision_reason, e.claimed_by," \
	" e.claim_expires, e.assignee, e.previous, " ESC_PRIORITY

json_t *
pg_item_get(void *p, int64_t id, struct err *e)
{
	struct pg_store *s = p;
	struct params par = { 0 };
	json_t *res = NULL, *arr;

	par_int(&par, id);
	pthread_mutex_lock(&s->rlock);
	if ((arr = rquery(s, e, "payload", "SELECT " ITEM_COLS ", payload"
	    " FROM items WHERE id = $1", par.n, par.v)) == NULL)
		goto out;
	if (json_array_size(arr) == 0) {
		err_setc(e, ERR_NOTFOUND, "no item %lld", (long long)id);
		json_decref(arr);
		goto out;
	}
	res = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	/* The writer keeps finished strictly increasing per item: no ties. */
	if ((arr = rquery(s, e, "output", "SELECT step_id AS step, pb_hash,"
	    " output, finished, ms FROM steps WHERE item = $1"
	    " ORDER BY finished", par.n, par.v)) == NULL)
		goto fail;
	json_object_set_new(res, "steps", arr);
	if ((arr = rquery(s, e, "context", "SELECT " ESC_COLS
	    " FROM escalations e WHERE e.item = $1 ORDER BY e.id", par.n,
	    par.v)) == NULL)
		goto fail;
	json_object_set_new(res, "escalations", arr);
	if ((arr = rquery(s, e, "", "SELECT step_id AS step, attempt, at, kind,"
	    " reason, message FROM failures WHERE item = $1 ORDER BY id",
	    par.n, par.v)) == NULL)
		goto fail;
	json_object_set_new(res, "failures", arr);
out:
	pthread_mutex_unlock(&s->rlock);
	return res;
fail:
	pthread_mutex_unlock(&s->rlock);
	json_decref(res);
	return NULL;
}

json_t *
pg_item_list(void *p, const struct item_filter *f, struct err *e)
{
	struct pg_store *s = p;
	struct params par = { 0 };
	int limit = f->limit > 0 ? (f->limit > 1000 ? 1000 : f->limit) : 100;
	char sql[1024];
	size_t n;
	json_t *res;

	n = (size_t)snprintf(sql, sizeof(sql), "SELECT " ITEM_COLS
	    " FROM items WHERE true");
	if (f->playbook != NULL)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		    " AND playbook = $%d", par_text(&par, f->playbook));
	if (f->state >= 0)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		    " AND state = $%d::bigint", par_int(&par, f->state));
	if (f->before_id != 0)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		    " AND id < $%d::bigint", par_int(&par, f->before_id));
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY id DESC LIMIT $%d::bigint",
	    par_int(&par, limit));
	pthread_mutex_lock(&s->rlock);
	res = rquery(s, e, "", sql, par.n, par.v);
	pthread_mutex_unlock(&s->rlock);
	return res;
}

json_t *
pg_escalation_get(void *p, int64_t id, struct err *e)
{
	struct pg_store *s = p;
	struct params par = { 0 };
	json_t *arr, *comments, *res = NULL;

	par_int(&par, id);
	pthread_mutex_lock(&s->rlock);
	arr = rquery(s, e, "context payload", "SELECT " ESC_COLS ", i.payload,"
	    " i.key, i.attempts, i.state AS item_state FROM escalations e"
	    " JOIN items i ON i.id = e.item WHERE e.id = $1", par.n, par.v);
	if (arr != NULL && json_array_size(arr) > 0) {
		comments = rquery(s, e, "", "SELECT id, ts, author, text FROM"
		    " escalation_comments WHERE escalation = $1 ORDER BY id",
		    par.n, par.v);
		if (comments == NULL) {
			json_decref(arr);
			arr = NULL;
		} else
			json_object_set_new(json_array_get(arr, 0), "comments",
			    comments);
	}
	pthread_mutex_unlock(&s->rlock);
	if (arr == NULL)
		return NULL;
	if (json_array_size(arr) == 0)
		err_setc(e, ERR_NOTFOUND, "no escalation %lld", (long long)id);
	else
		res = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return res;
}

/*
 * The list's SQL and parameters. It names only the filters given, so the
 * planner can pick the partial index that matches (esc_open_assignee, _pb,
 * _reason, _pb_reason, or esc_open), each already in (due, id) order: a
 * filtered first page reads one range. cols is the select list; from is
 * what follows "FROM escalations e" (a LATERAL for the JSON list).
 *
 * The free text is found as SQLite's instr() finds it: a case-sensitive
 * substring, with strpos(), which needs no escaping (LIKE would treat
 * the reviewer's % and _ as wildcards).
 */
static void
esc_list_sql(const struct esc_filter *f, const char *cols, const char *from,
    char *sql, size_t size, struct params *par)
{
	int limit = f->limit > 0 ? (f->limit > 1000 ? 1000 : f->limit) : 100;
	size_t n;
	int k;

	n = (size_t)snprintf(sql, size, "SELECT %s FROM escalations e%s"
	    " WHERE %s", cols, from, f->open_only ? "e.state = 'open'" : "true");
	if (f->playbook != NULL)
		n += (size_t)snprintf(sql + n, size - n, " AND e.playbook = $%d",
		    par_text(par, f->playbook));
	if (f->reason != NULL)
		n += (size_t)snprintf(sql + n, size - n, " AND e.reason = $%d",
		    par_text(par, f->reason));
	if (f->assignee != NULL && f->assignee[0])
		n += (size_t)snprintf(sql + n, size - n, " AND e.assignee = $%d",
		    par_text(par, f->assignee));
	else if (f->assignee != NULL)
		n += (size_t)snprintf(sql + n, size - n,
		    " AND e.assignee IS NULL");
	if (f->overdue)
		n += (size_t)snprintf(sql + n, size - n,
		    " AND e.state = 'open' AND e.due < $%d::bigint",
		    par_int(par, f->now ? f->now : util_now_ms()));
	if (f->text != NULL) {
		k = par_text(par, f->text);
		n += (size_t)snprintf(sql + n, size - n, " AND (strpos(e.message,"
		    " $%d) > 0 OR strpos(e.context, $%d) > 0 OR EXISTS (SELECT 1"
		    " FROM items i WHERE i.id = e.item AND (strpos(i.key, $%d) > 0"
		    " OR strpos(i.payload, $%d) > 0)))", k, k, k, k);
	}
	if (f->open_only && !f->by_id) {
		if (f->after_id != 0) {
			k = par_int(par, f->after_due);
			n += (size_t)snprintf(sql + n, size - n, " AND (e.due, e.id)"
			    " > ($%d::bigint, $%d::bigint)", k,
			    par_int(par, f->after_id));
		}
		n += (size_t)snprintf(sql + n, size - n,
		    " ORDER BY e.due, e.id");
	} else
		n += (size_t)snprintf(sql + n, size - n, " AND e.id > $%d::bigint"
		    " ORDER BY e.id", par_int(par, f->after_id));
	snprintf(sql + n, size - n, " LIMIT $%d::bigint", par_int(par, limit));
}

json_t *
pg_escalation_list(void *p, const struct esc_filter *f, struct err *e)
{
	struct pg_store *s = p;
	struct params par = { 0 };
	char sql[2048];
	json_t *res;

	esc_list_sql(f, f->brief ? ESC_BRIEF_COLS : ESC_COLS, "", sql,
	    sizeof(sql), &par);
	pthread_mutex_lock(&s->rlock);
	res = rquery(s, e, "context", sql, par.n, par.v);
	pthread_mutex_unlock(&s->rlock);
	return res;
}

/*
 * The same rows as pg_escalation_list with brief set, as JSON text the
 * database writes itself (the API's hottest read, which every reviewer's
 * queue polls). row_to_json() writes compact objects with the keys in
 * select-list order, as SQLite's json_object() does; the LATERAL row is
 * only there to name them, and the planner flattens it.
 */
char *
pg_escalation_list_json(void *p, const struct esc_filter *f,
    struct esc_page *pg, struct err *e)
{
	struct pg_store *s = p;
	struct params par = { 0 };
	char sql[3072], *buf = NULL;
	size_t len = 0;
	PGresult *res;
	FILE *out;
	int nrow;

	memset(pg, 0, sizeof(*pg));
	esc_list_sql(f, "row_to_json(j)::text, e.due, e.id", ", LATERAL"
	    " (SELECT e.id, e.item, e.playbook, e.step_id, CASE e.kind"
	    " WHEN 1 THEN 'system' WHEN 2 THEN 'business' ELSE 'none' END"
	    " AS kind, e.reason, e.message, e.created, e.due, e.state,"
	    " e.decision, e.decided_by, e.decided_at, e.decision_reason,"
	    " e.claimed_by, e.claim_expires, e.assignee, e.previous, "
	    ESC_PRIORITY ") j", sql, sizeof(sql), &par);
	pthread_mutex_lock(&s->rlock);
	res = rexec(s, e, sql, par.n, par.v);
	pthread_mutex_unlock(&s->rlock);
	if (res == NULL)
		return NULL;
	if ((out = open_memstream(&buf, &len)) == NULL) {
		PQclear(res);
		err_set(e, "out of memory");
		return NULL;
	}
	fputc('[', out);
	nrow = PQntuples(res);
	for (int r = 0; r < nrow; r++) {
		if (r > 0)
			fputc(',', out);
		fwrite(PQgetvalue(res, r, 0), 1, (size_t)PQgetlength(res, r, 0),
		    out);
	}
	fputc(']', out);
	if (nrow > 0) {
		pg->n = nrow;
		pg->last_due = pg_int(res, nrow - 1, 1);
		pg->last_id = pg_int(res, nrow - 1, 2);
	}
	PQclear(res);
	if (fclose(out) != 0) {
		free(buf);
		err_set(e, "out of memory");
		return NULL;
	}
	return buf;
}

json_t *
pg_counts(void *p, struct err *e)
{
	struct pg_store *s = p;
	struct params par = { 0 };
	json_t *res = NULL, *total;
	PGresult *r;

	pthread_mutex_lock(&s->rlock);
	/* Ordered as SQLite's (playbook, state) index hands the groups out,
	 * so the object's keys come in the same order. */
	if ((r = rexec(s, e, "SELECT playbook, state, count(*) FROM items"
	    " GROUP BY playbook, state ORDER BY playbook COLLATE \"C\", state",
	    0, NULL)) == NULL)
		goto out;
	res = json_object();
	total = json_object();
	json_object_set_new(res, "*", total);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *pb = pg_text(r, i, 0);
		const char *state = item_state_name((enum item_state)pg_int(r,
		    i, 1));
		json_int_t n = pg_int(r, i, 2);
		json_t *o = json_object_get(res, pb);

		if (o == NULL) {
			o = json_object();
			json_object_set_new(res, pb, o);
		}
		json_object_set_new(o, state, json_integer(n));
		json_object_set_new(total, state, json_integer(n +
		    json_integer_value(json_object_get(total, state))));
	}
	PQclear(r);
	par_int(&par, util_now_ms());
	if ((r = rexec(s, e, "SELECT count(*), count(CASE WHEN due < $1::bigint"
	    " THEN 1 END) FROM escalations WHERE state = 'open'", par.n,
	    par.v)) == NULL)
		goto fail;
	json_object_set_new(total, "open_escalations",
	    json_integer(pg_int(r, 0, 0)));
	json_object_set_new(total, "overdue_escalations",
	    json_integer(pg_int(r, 0, 1)));
	PQclear(r);
	/* Time to decision, for /metrics: a sum and a count. The sum of
	 * bigints is a numeric in PostgreSQL. */
	if ((r = rexec(s, e, "SELECT count(*), coalesce(sum(decided_at -"
	    " created), 0)::bigint FROM escalations WHERE state = 'decided'",
	    0, NULL)) == NULL)
		goto fail;
	json_object_set_new(total, "decided_escalations",
	    json_integer(pg_int(r, 0, 0)));
	json_object_set_new(total, "decision_ms_sum",
	    json_integer(pg_int(r, 0, 1)));
	PQclear(r);
out:
	pthread_mutex_unlock(&s->rlock);
	return res;
fail:
	pthread_mutex_unlock(&s->rlock);
	json_decref(res);
	return NULL;
}

json_t *
pg_sessions(void *p, struct err *e)
{
	struct pg_store *s = p;
	json_t *res;

	pthread_mutex_lock(&s->rlock);
	res = rquery(s, e, "", "SELECT key, csrf, \"user\", last FROM sessions",
	    0, NULL);
	pthread_mutex_unlock(&s->rlock);
	return res;
}

json_t *
pg_playbook_states(void *p, struct err *e)
{
	struct pg_store *s = p;
	json_t *res;

	pthread_mutex_lock(&s->rlock);
	res = rquery(s, e, "", "SELECT playbook, \"by\" AS paused_by,"
	    " at AS paused_at, reason AS pause_reason FROM playbook_state"
	    " WHERE paused != 0 ORDER BY playbook COLLATE \"C\"", 0, NULL);
	pthread_mutex_unlock(&s->rlock);
	return res;
}

int
pg_trigger_slot(void *p, const char *playbook, int64_t *slot, struct err *e)
{
	struct pg_store *s = p;
	const char *par[1] = { playbook };
	PGresult *r;
	int rc = -1;

	pthread_mutex_lock(&s->rlock);
	/*
	 * Without a row (the playbook last fired under a clerk from before
	 * trigger_slots, e.g. a SQLite state migrated here), its newest timer
	 * item tells: each is enqueued at, or just after, its slot and before
	 * the next one. LIKE, not SQLite's key range: under a database's
	 * non-C collation ':' and ';' do not bound the prefix.
	 */
	r = rexec(s, e, "SELECT coalesce((SELECT slot FROM trigger_slots"
	    " WHERE playbook = $1), (SELECT max(created) FROM items"
	    " WHERE playbook = $1 AND (key LIKE 'cron:%' OR"
	    " key LIKE 'interval:%')))", 1, par);
	if (r != NULL) {
		if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0))
			rc = 0;
		else {
			*slot = pg_int(r, 0, 0);
			rc = 1;
		}
		PQclear(r);
	} else {
		char why[sizeof(e->msg)];

		snprintf(why, sizeof(why), "%s", e->msg);
		err_setc(e, e->code, "reading the last trigger slot: %s", why);
	}
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

/* The ms at fraction q of the sorted v[0..n), nearest rank. */
static int64_t
rank_of(const int64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);

	return v[i == 0 ? 0 : i > n ? n - 1 : i - 1];
}

/* Per step: runs, median, 95th percentile and longest, slowest first. */
static json_t *
step_times(struct pg_store *s, const char *const *par, struct err *e)
{
	json_t *arr;
	int64_t *v;
	size_t n = 0;
	PGresult *r;
	int nrow;

	/* Step ids in byte order, as SQLite sorts them. */
	if ((r = rexec(s, e, "SELECT s.step_id, s.ms FROM steps s"
	    " JOIN items i ON i.id = s.item WHERE i.playbook = $1 AND"
	    " s.finished >= $2::bigint ORDER BY s.step_id COLLATE \"C\", s.ms",
	    2, par)) == NULL)
		return NULL;
	nrow = PQntuples(r);
	v = xrealloc(NULL, (size_t)(nrow > 0 ? nrow : 1) * sizeof(*v));
	arr = json_array();
	for (int i = 0; i <= nrow; i++) {
		const char *id = i < nrow ? pg_text(r, i, 0) : NULL;

		if (n > 0 && (id == NULL || strcmp(id, pg_text(r, i - 1,
		    0)) != 0)) {
			json_array_append_new(arr, json_pack("{s:s,s:I,s:I,"
			    "s:I,s:I}", "step", pg_text(r, i - 1, 0),
			    "runs", (json_int_t)n,
			    "median_ms", (json_int_t)rank_of(v, n, 0.5),
			    "p95_ms", (json_int_t)rank_of(v, n, 0.95),
			    "max_ms", (json_int_t)v[n - 1]));
			n = 0;
		}
		if (id != NULL)
			v[n++] = pg_int(r, i, 1);
	}
	free(v);
	PQclear(r);
	/* Slowest first: by the median, the usual case, then the worst. */
	for (size_t i = 1; i < json_array_size(arr); i++)
		for (size_t j = i; j > 0; j--) {
			json_t *a = json_array_get(arr, j - 1);
			json_t *b = json_array_get(arr, j);
			json_int_t ma = json_integer_value(json_object_get(a,
			    "median_ms")), mb = json_integer_value(
			    json_object_get(b, "median_ms"));

			if (ma > mb || (ma == mb && json_integer_value(
			    json_object_get(a, "max_ms")) >= json_integer_value(
			    json_object_get(b, "max_ms"))))
				break;
			json_incref(a);
			json_array_set(arr, j - 1, b);
			json_array_set_new(arr, j, a);
		}
	return arr;
}

json_t *
pg_history(void *p, const char *playbook, int64_t since, int64_t bucket_ms,
    struct err *e)
{
	struct pg_store *s = p;
	struct params par = { 0 };
	json_t *res = NULL, *buckets = NULL, *tot = NULL, *fails = NULL,
	    *escs = NULL, *steps = NULL, *slow = NULL;

	par_text(&par, playbook);
	par_int(&par, since);
	par_int(&par, bucket_ms);
	pthread_mutex_lock(&s->rlock);
	/*
	 * Items by the time they were queued, each in its state now. Ties in
	 * the top-20 lists fall in SQLite's group order: step and reason in
	 * byte order, NULL first.
	 */
	if ((buckets = rquery(s, e, "", "SELECT (created - $2::bigint) /"
	    " $3::bigint AS bucket, state, count(*) AS n FROM items"
	    " WHERE playbook = $1 AND created >= $2::bigint"
	    " GROUP BY bucket, state ORDER BY bucket, state", 3,
	    par.v)) == NULL ||
	    (tot = rquery(s, e, "", "SELECT count(*) AS items, (SELECT"
	    " count(DISTINCT f.item) FROM failures f JOIN items i ON i.id ="
	    " f.item WHERE i.playbook = $1 AND i.created >= $2::bigint) AS"
	    " failed_items, (SELECT count(*) FROM failures f JOIN items i ON"
	    " i.id = f.item WHERE i.playbook = $1 AND i.created >= $2::bigint)"
	    " AS failed_attempts, (SELECT count(DISTINCT e.item) FROM"
	    " escalations e JOIN items i ON i.id = e.item WHERE i.playbook ="
	    " $1 AND i.created >= $2::bigint) AS escalated_items FROM items"
	    " WHERE playbook = $1 AND created >= $2::bigint", 2,
	    par.v)) == NULL ||
	    (fails = rquery(s, e, "", "SELECT f.step_id AS step, f.reason,"
	    " count(*) AS n FROM failures f JOIN items i ON i.id = f.item"
	    " WHERE i.playbook = $1 AND i.created >= $2::bigint GROUP BY"
	    " f.step_id, f.reason ORDER BY n DESC, f.step_id COLLATE \"C\""
	    " NULLS FIRST, f.reason COLLATE \"C\" NULLS FIRST LIMIT 20", 2,
	    par.v)) == NULL ||
	    (escs = rquery(s, e, "", "SELECT e.step_id AS step, e.reason,"
	    " count(*) AS n, count(CASE WHEN e.state = 'open' THEN 1 END) AS"
	    " open FROM escalations e JOIN items i ON i.id = e.item WHERE"
	    " i.playbook = $1 AND i.created >= $2::bigint GROUP BY e.step_id,"
	    " e.reason ORDER BY n DESC, e.step_id COLLATE \"C\" NULLS FIRST,"
	    " e.reason COLLATE \"C\" LIMIT 20", 2, par.v)) == NULL ||
	    (steps = step_times(s, par.v, e)) == NULL ||
	    (slow = rquery(s, e, "", "SELECT s.item, s.step_id AS step, s.ms,"
	    " s.finished FROM steps s JOIN items i ON i.id = s.item WHERE"
	    " i.playbook = $1 AND s.finished >= $2::bigint ORDER BY s.ms DESC"
	    " LIMIT 10", 2, par.v)) == NULL)
		goto out;
	res = json_pack("{s:s,s:I,s:I,s:O,s:O,s:O,s:O,s:O}", "playbook",
	    playbook, "since", (json_int_t)since, "bucket_ms",
	    (json_int_t)bucket_ms, "totals", json_array_get(tot, 0),
	    "buckets", buckets, "failures", fails, "escalations", escs,
	    "steps", steps);
	json_object_set(res, "slowest", slow);
out:
	pthread_mutex_unlock(&s->rlock);
	json_decref(buckets);
	json_decref(tot);
	json_decref(fails);
	json_decref(escs);
	json_decref(steps);
	json_decref(slow);
	return res;
}
