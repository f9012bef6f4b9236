/*
 * bench/queue.c - work queue throughput (DESIGN.md §13).
 *
 * N items go through enqueue -> claim -> complete with a no-op step on a
 * durable queue (synchronous=FULL), the way clerkd's scheduler drives it: a
 * producer submits enqueues asynchronously with a bounded window, a
 * consumer claims in batches and submits one final STEP_DONE per claimed
 * item, and the writer thread group-commits whatever is waiting. The time
 * runs from the first enqueue to the commit of the last completion.
 *
 * The baseline, measured in the same run, in the same directory, on the
 * same schema, is the naive way: one SQLite transaction per transition.
 * At the end both databases are read back on a connection of their own
 * and the run fails unless every item is done with its step journaled.
 *
 * With --pg, each run also puts N items through the PostgreSQL store
 * (issue 13), on a fresh database: one node, then two nodes (two queues
 * on one database, so two writers competing for the same items, each
 * with its own producer and consumer). The server's side is measured
 * beside the rate: commits, WAL flushes, the CPU of the run's backends
 * and, with pg_stat_statements loaded, statements per item.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "queue.h"
#include "util.h"

#define PLAYBOOK   "bench"
#define PB_HASH    "bench"
#define STEP_ID    "noop"
#define OWNER      "bench"
#define TARGET     20000.0
/* One node on PostgreSQL (issue 13). */
#define PG_TARGET  10000.0
/* Longer than any run, so no lease expires under the benchmark. */
#define LEASE_MS   (3600 * 1000)

struct opts {
	long n;            /* items through clerk's queue */
	long base_n;       /* items through the naive baseline */
	int reps;
	int window;        /* requests of each kind in flight */
	int claim_max;     /* items per claim */
	const char *dir;
};

/* One node: a queue (a clerkd's writer and reader connections) with its
 * own producer and consumer, each bounded by the window. */
struct node {
	struct run *rs;
	struct queue *q;
	int idx;
	long enq_inflight;
	long done_inflight;
	/* Its last claim came back empty at this progress(): another node
	 * took the items or they were not committed yet. */
	bool empty;
	long seen;
};

#define MAX_NODES 2

/* One run of clerk's queue on one or more nodes sharing one store:
 * counters shared by the producers, the consumers and the completions
 * the writer threads run. */
struct run {
	const struct opts *o;
	int nnodes;
	struct node node[MAX_NODES];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	long enq_submitted;
	long enq_committed;
	long claimed;
	long done;
	long claims;
	long empty_claims;
	bool failed;
	char errmsg[600];
	struct timespec end;
};

/* The key must live until the writer has applied the request, so it
 * travels with it; r comes first so the completion can get back here. */
struct enq {
	struct qreq r;
	char key[32];
};

/* What has happened that could make an empty claim find items. */
static long
progress(const struct run *rs)
{
	return rs->enq_committed + rs->claimed;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
ts_s(const struct timespec *ts)
{
	return ts->tv_sec + ts->tv_nsec / 1e9;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: bench_queue [-n N] [-r R] [-b N] [-w W] [-c C] [--db DIR]\n"
	    "                   [--pg URL]\n"
	    "\n"
	    "Puts N items through clerk's durable work queue (enqueue -> claim\n"
	    "-> complete, no-op step, synchronous=FULL) and, in the same run and\n"
	    "directory, through a naive baseline that commits every transition\n"
	    "in its own SQLite transaction. Prints items/s of both, their ratio\n"
	    "and the medians over R runs against the %.0f items/s target.\n"
	    "\n"
	    "  -n, --items N      items through clerk's queue (default 100000)\n"
	    "  -r, --reps R       repetitions (default 3)\n"
	    "  -b, --baseline N   items through the naive baseline\n"
	    "                     (default N/20, at least 2000, at most N)\n"
	    "  -w, --window W     enqueues and completions in flight (default 4096)\n"
	    "  -c, --claim C      items per claim (default 512)\n"
	    "      --db DIR       directory for the database files (default a\n"
	    "                     new directory under /var/tmp, removed after);\n"
	    "                     use a real disk: fsync cost is the point\n"
	    "      --pg URL       also on PostgreSQL, each run on a database of\n"
	    "                     its own made through this admin URL: one node\n"
	    "                     (one queue) and two nodes (two queues, i.e.\n"
	    "                     two writers, on one database), with what the\n"
	    "                     server did; bench/queue_pg.sh starts a cluster\n"
	    "  -h, --help         this text\n"
	    "\n"
	    "Exits 1 if a request fails or the databases do not hold exactly the\n"
	    "items and steps put through them.\n", TARGET);
}

static long
parse_long(const char *s, const char *what, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min) {
		fprintf(stderr, "bench_queue: %s: \"%s\" is not a number >= %ld\n",
		    what, s, min);
		exit(2);
	}
	return v;
}

/* ---- where the database lives ---- */

static const char *
fs_magic_name(long type)
{
	switch (type) {
	case EXT4_SUPER_MAGIC:
		return "ext2/3/4";
	case TMPFS_MAGIC:
		return "tmpfs";
	case XFS_SUPER_MAGIC:
		return "xfs";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	case OVERLAYFS_SUPER_MAGIC:
		return "overlay";
	case NFS_SUPER_MAGIC:
		return "nfs";
	default:
		return "unknown";
	}
}

/*
 * The file system's name as mounted ("ext4", not the ext2/3/4 magic),
 * found in mountinfo by the directory's device; statfs is the fallback
 * and the tmpfs test, since fsync there costs nothing.
 */
static void
fs_describe(const char *dir, char *name, size_t len, bool *tmpfs)
{
	struct statfs sf;
	struct stat sb;
	char line[4096];
	FILE *f;

	*tmpfs = false;
	snprintf(name, len, "unknown");
	if (statfs(dir, &sf) == 0) {
		*tmpfs = sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
		snprintf(name, len, "%s", fs_magic_name(sf.f_type));
	}
	if (stat(dir, &sb) < 0 ||
	    (f = fopen("/proc/self/mountinfo", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned int maj, min;
		char type[64];
		const char *sep;

		if (sscanf(line, "%*s %*s %u:%u", &maj, &min) != 2 ||
		    makedev(maj, min) != sb.st_dev ||
		    (sep = strstr(line, " - ")) == NULL ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		snprintf(name, len, "%s", type);
		break;
	}
	fclose(f);
}

static void
remove_db(const char *path)
{
	char p[PATH_MAX + 8];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* ---- clerk's queue ---- */

static void
run_fail(struct run *rs, const char *what, const struct err *e)
{
	if (!rs->failed)
		snprintf(rs->errmsg, sizeof(rs->errmsg), "%s: %s", what, e->msg);
	rs->failed = true;
	pthread_cond_broadcast(&rs->cond);
}

static void
enqueued(struct qreq *r, void *arg)
{
	struct node *nd = arg;
	struct run *rs = nd->rs;

	pthread_mutex_lock(&rs->lock);
	nd->enq_inflight--;
	rs->enq_committed++;
	if (r->rc < 0)
		run_fail(rs, "enqueue", &r->err);
	else if (r->u.enqueue.dup) {
		struct err e;

		err_set(&e, "key %s was already there", r->u.enqueue.key);
		run_fail(rs, "enqueue", &e);
	}
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	free(r);
}

static void
completed(struct qreq *r, void *arg)
{
	struct node *nd = arg;
	struct run *rs = nd->rs;

	pthread_mutex_lock(&rs->lock);
	nd->done_inflight--;
	if (r->rc < 0)
		run_fail(rs, "completion", &r->err);
	else if (++rs->done == rs->o->n)
		clock_gettime(CLOCK_MONOTONIC, &rs->end);
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	free(r);
}

/* Node k enqueues items k, k + nnodes, ...: keys no other node uses. */
static void *
producer_main(void *arg)
{
	struct node *nd = arg;
	struct run *rs = nd->rs;

	for (long i = nd->idx; i < rs->o->n; i += rs->nnodes) {
		struct enq *x = xcalloc(1, sizeof(*x));

		snprintf(x->key, sizeof(x->key), "item-%ld", i);
		x->r.op = QOP_ENQUEUE;
		x->r.u.enqueue.key = x->key;
		x->r.u.enqueue.playbook = PLAYBOOK;
		x->r.u.enqueue.pb_hash = PB_HASH;
		x->r.u.enqueue.payload = "{}";
		x->r.done = enqueued;
		x->r.arg = nd;
		pthread_mutex_lock(&rs->lock);
		while (nd->enq_inflight >= rs->o->window && !rs->failed)
			pthread_cond_wait(&rs->cond, &rs->lock);
		if (rs->failed) {
			pthread_mutex_unlock(&rs->lock);
			free(x);
			break;
		}
		nd->enq_inflight++;
		rs->enq_submitted++;
		pthread_cond_broadcast(&rs->cond);
		/* Submitted under the lock, so a consumer of this node that
		 * sees the count queues its claim behind this enqueue and
		 * finds the item. Another node's may not: it waits for the
		 * next commit when its claim comes back empty. */
		queue_submit(nd->q, &x->r);
		pthread_mutex_unlock(&rs->lock);
	}
	return NULL;
}

static void *
consumer_main(void *arg)
{
	struct node *nd = arg;
	struct run *rs = nd->rs;
	const struct opts *o = rs->o;

	for (;;) {
		struct qreq c;
		long max;

		pthread_mutex_lock(&rs->lock);
		while (!rs->failed && rs->claimed < o->n &&
		    (rs->enq_submitted == rs->claimed ||
		    nd->done_inflight + o->claim_max > o->window ||
		    (nd->empty && nd->seen == progress(rs))))
			pthread_cond_wait(&rs->cond, &rs->lock);
		if (rs->failed || rs->claimed == o->n) {
			pthread_mutex_unlock(&rs->lock);
			break;
		}
		max = rs->enq_submitted - rs->claimed;
		pthread_mutex_unlock(&rs->lock);
		if (max > o->claim_max)
			max = o->claim_max;

		memset(&c, 0, sizeof(c));
		c.op = QOP_CLAIM;
		c.u.claim.playbook = PLAYBOOK;
		c.u.claim.owner = OWNER;
		c.u.claim.lease_ms = LEASE_MS;
		c.u.claim.max = (int)max;
		if (queue_exec(nd->q, &c) < 0) {
			pthread_mutex_lock(&rs->lock);
			run_fail(rs, "claim", &c.err);
			pthread_mutex_unlock(&rs->lock);
			break;
		}
		pthread_mutex_lock(&rs->lock);
		rs->claimed += c.u.claim.n;
		rs->claims++;
		nd->done_inflight += c.u.claim.n;
		nd->empty = c.u.claim.n == 0;
		nd->seen = progress(rs);
		if (nd->empty)
			rs->empty_claims++;
		pthread_cond_broadcast(&rs->cond);
		pthread_mutex_unlock(&rs->lock);
		/* The step is a no-op: its completion goes straight back. */
		for (int i = 0; i < c.u.claim.n; i++) {
			struct qreq *r = xcalloc(1, sizeof(*r));

			r->op = QOP_STEP_DONE;
			r->u.step_done.item = c.u.claim.items[i]->id;
			r->u.step_done.step_id = STEP_ID;
			r->u.step_done.pb_hash = PB_HASH;
			r->u.step_done.output = "{}";
			r->u.step_done.final = true;
			r->u.step_done.owner = OWNER;
			r->done = completed;
			r->arg = nd;
			queue_submit(nd->q, r);
			item_free(c.u.claim.items[i]);
		}
		free(c.u.claim.items);
	}
	return NULL;
}

/* Counts on a connection of its own what the run left on disk. */
static int
verify(const char *path, long n, const char *who)
{
	static const char *sql[] = {
		"SELECT count(*) FROM items",
		"SELECT count(*) FROM items WHERE state = 4",
		"SELECT count(*) FROM steps",
		"SELECT count(*) FROM steps s JOIN items i ON i.id = s.item"
		    " WHERE i.state = 4 AND s.step_id = '" STEP_ID "'",
	};
	static const char *what[] = { "items", "items done", "step rows",
	    "noop steps of done items" };
	sqlite3 *db = NULL;
	int ret = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_queue: %s: cannot open %s to verify: %s\n",
		    who, path, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *st = NULL;
		long got = -1;

		if (sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			got = (long)sqlite3_column_int64(st, 0);
		else
			fprintf(stderr, "bench_queue: %s: %s: %s\n", who,
			    sql[i], sqlite3_errmsg(db));
		sqlite3_finalize(st);
		if (got != n) {
			fprintf(stderr, "bench_queue: %s: %s holds %ld %s, expected"
			    " %ld\n", who, path, got, what[i], n);
			ret = -1;
		}
	}
	sqlite3_close(db);
	return ret;
}

/* ---- PostgreSQL: databases, checks and what the server did ---- */

/* The cluster the PG runs use (--pg), through an admin connection. */
struct pgside {
	const char *admin_url;
	PGconn *admin;
	bool statements;        /* pg_stat_statements is loaded */
};

/* What one run cost on the server's side. */
struct pgcost {
	long commits;           /* pg_stat_database.xact_commit */
	long wal_syncs;         /* pg_stat_wal.wal_sync: WAL flushes */
	double wal_mb;
	double server_cpu;      /* s, user + system, the run's backends */
	long calls;             /* statements (pg_stat_statements), -1 */
	double exec_ms;         /* their execution time in the server */
	int ntop;
	long top_calls[6];
	double top_ms[6];
	char top[6][112];
};

static PGresult *
pg_q(PGconn *c, const char *sql, int n, const char *const *par)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, par, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "bench_queue: %s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		return NULL;
	}
	return r;
}

static long
pg_long(PGconn *c, const char *sql, int n, const char *const *par)
{
	PGresult *r = pg_q(c, sql, n, par);
	long v = -1;

	if (r != NULL && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* The URL of database name on the admin URL's server. */
static char *
pg_db_url(const struct pgside *pg, const char *name)
{
	const char *u = pg->admin_url, *host = strstr(u, "://");
	const char *slash = host ? strchr(host + 3, '/') : NULL;
	const char *q = strchr(u, '?');

	if (slash == NULL)
		return xasprintf("%s/%s", u, name);
	return xasprintf("%.*s/%s%s", (int)(slash - u), u, name, q ? q : "");
}

static int
pg_setup(struct pgside *pg, const char *url)
{
	PGresult *r;

	pg->admin_url = url;
	pg->admin = PQconnectdb(url);
	if (PQstatus(pg->admin) != CONNECTION_OK) {
		fprintf(stderr, "bench_queue: --pg %s: %s", url,
		    PQerrorMessage(pg->admin));
		return -1;
	}
	/* Not the NOTICE of each DROP DATABASE IF EXISTS. */
	PQclear(PQexec(pg->admin, "SET client_min_messages = warning"));
	/* The statement counts need the module preloaded
	 * (bench/queue_pg.sh does it); without it the rest still runs. */
	r = PQexec(pg->admin, "CREATE EXTENSION IF NOT EXISTS"
	    " pg_stat_statements; SELECT pg_stat_statements_reset()");
	pg->statements = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return 0;
}

static int
pg_exec_admin(struct pgside *pg, const char *fmt, const char *name)
{
	char sql[256];
	PGresult *r;

	snprintf(sql, sizeof(sql), fmt, name);
	if ((r = pg_q(pg->admin, sql, 0, NULL)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* utime + stime of pid, in s; 0 if it is gone. */
static double
proc_cpu(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Fields 14 and 15, counted after the command's closing paren. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2, "%*c %*d %*d %*d"
	    " %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The run's backends (every session on its database) and their CPU. */
static int
pg_backends(struct pgside *pg, const char *db, long *pids, int max,
    double *cpu)
{
	const char *par[1] = { db };
	PGresult *r = pg_q(pg->admin, "SELECT pid FROM pg_stat_activity"
	    " WHERE datname = $1", 1, par);
	int n = 0;

	*cpu = 0;
	if (r == NULL)
		return 0;
	for (int i = 0; i < PQntuples(r) && n < max; i++) {
		pids[n] = strtol(PQgetvalue(r, i, 0), NULL, 10);
		*cpu += proc_cpu(pids[n++]);
	}
	PQclear(r);
	return n;
}

/*
 * The WAL flushes so far and the WAL position in MB. The bytes come from
 * the position, not pg_stat_wal, whose counters a session reports up to
 * a second late: the CREATE DATABASE just before a run (which logs the
 * whole template) would be counted in it.
 */
static void
pg_wal(struct pgside *pg, long *syncs, double *mb)
{
	PGresult *r = pg_q(pg->admin, "SELECT wal_sync, pg_wal_lsn_diff("
	    "pg_current_wal_lsn(), '0/0') FROM pg_stat_wal", 0, NULL);

	*syncs = 0;
	*mb = 0;
	if (r != NULL && PQntuples(r) == 1) {
		*syncs = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		*mb = strtod(PQgetvalue(r, 0, 1), NULL) / 1e6;
	}
	PQclear(r);
}

/*
 * After the run's sessions have ended (a backend sends its statistics
 * when it exits): commits, WAL, and the statements by execution time.
 */
static void
pg_collect(struct pgside *pg, const char *db, struct pgcost *c,
    long syncs0, double mb0)
{
	const char *par[1] = { db };
	PGresult *r;
	long syncs;
	double mb;

	for (int i = 0; i < 500 && pg_long(pg->admin, "SELECT count(*) FROM"
	    " pg_stat_activity WHERE datname = $1", 1, par) > 0; i++)
		usleep(10000);
	/* The stats of exited backends reach the views at once, but the
	 * admin session's own snapshot may be cached. */
	PQclear(PQexec(pg->admin, "SELECT pg_stat_clear_snapshot()"));
	c->commits = pg_long(pg->admin, "SELECT xact_commit FROM"
	    " pg_stat_database WHERE datname = $1", 1, par);
	pg_wal(pg, &syncs, &mb);
	c->wal_syncs = syncs - syncs0;
	c->wal_mb = mb - mb0;
	c->calls = -1;
	if (!pg->statements)
		return;
	r = pg_q(pg->admin, "SELECT calls, total_exec_time,"
	    " regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements"
	    " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)"
	    " ORDER BY total_exec_time DESC", 1, par);
	if (r == NULL)
		return;
	c->calls = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		long calls = strtol(PQgetvalue(r, i, 0), NULL, 10);
		double ms = strtod(PQgetvalue(r, i, 1), NULL);

		c->calls += calls;
		c->exec_ms += ms;
		if (c->ntop < 6) {
			c->top_calls[c->ntop] = calls;
			c->top_ms[c->ntop] = ms;
			snprintf(c->top[c->ntop], sizeof(c->top[0]), "%s",
			    PQgetvalue(r, i, 2));
			c->ntop++;
		}
	}
	PQclear(r);
}

/* The same counts as verify(), on a connection of its own. */
static int
pg_verify(const char *url, long n, const char *who)
{
	static const char *sql[] = {
		"SELECT count(*) FROM items",
		"SELECT count(*) FROM items WHERE state = 4",
		"SELECT count(*) FROM steps",
		"SELECT count(*) FROM steps s JOIN items i ON i.id = s.item"
		    " WHERE i.state = 4 AND s.step_id = '" STEP_ID "'",
	};
	static const char *what[] = { "items", "items done", "step rows",
	    "noop steps of done items" };
	PGconn *c = PQconnectdb(url);
	int ret = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "bench_queue: %s: cannot connect to verify: %s",
		    who, PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		long got = pg_long(c, sql[i], 0, NULL);

		if (got != n) {
			fprintf(stderr, "bench_queue: %s: the database holds %ld"
			    " %s, expected %ld\n", who, got, what[i], n);
			ret = -1;
		}
	}
	PQfinish(c);
	return ret;
}

/* ---- clerk's queue ---- */

static double
cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* What a run measured besides its rate. */
struct result {
	double rate;            /* items/s, -1 if it failed */
	double secs;
	double client_cpu;      /* s, this process: every thread */
	int nodes;
	long claims, empty_claims;
	struct pgcost pg;
};

/*
 * Items through clerk's queue on nnodes queues opened on store (a SQLite
 * file, or a PostgreSQL URL when pg is given: each queue is what one
 * clerkd node opens, its own writer thread and connections).
 */
static int
run_clerk(const struct opts *o, const char *store, int nnodes,
    struct pgside *pg, const char *db, const char *who, struct result *res)
{
	struct queue_opts qo = { .durable = true };
	pthread_t prod[MAX_NODES], cons[MAX_NODES];
	long pids[64], syncs0 = 0;
	double t0, cpu0, srv0 = 0, srv1 = 0, mb0 = 0;
	struct run rs;
	struct err e;
	int npids = 0;
	bool failed;

	memset(res, 0, sizeof(*res));
	memset(&rs, 0, sizeof(rs));
	rs.o = o;
	rs.nnodes = nnodes;
	pthread_mutex_init(&rs.lock, NULL);
	pthread_cond_init(&rs.cond, NULL);
	for (int k = 0; k < nnodes; k++) {
		err_clear(&e);
		rs.node[k].rs = &rs;
		rs.node[k].idx = k;
		if ((rs.node[k].q = queue_open(store, &qo, &e)) == NULL) {
			fprintf(stderr, "bench_queue: %s: %s\n", who, e.msg);
			while (k-- > 0)
				queue_close(rs.node[k].q);
			return -1;
		}
	}
	if (pg != NULL) {
		if (pg->statements)
			PQclear(PQexec(pg->admin,
			    "SELECT pg_stat_statements_reset()"));
		pg_wal(pg, &syncs0, &mb0);
		npids = pg_backends(pg, db, pids, 64, &srv0);
	}
	cpu0 = cpu_self();
	t0 = now_s();
	for (int k = 0; k < nnodes; k++)
		if (pthread_create(&prod[k], NULL, producer_main,
		    &rs.node[k]) != 0 || pthread_create(&cons[k], NULL,
		    consumer_main, &rs.node[k]) != 0)
			fatal("bench_queue: cannot start threads");
	pthread_mutex_lock(&rs.lock);
	while (rs.done < o->n && !rs.failed)
		pthread_cond_wait(&rs.cond, &rs.lock);
	pthread_mutex_unlock(&rs.lock);
	for (int k = 0; k < nnodes; k++) {
		pthread_join(prod[k], NULL);
		pthread_join(cons[k], NULL);
	}
	res->secs = ts_s(&rs.end) - t0;
	res->nodes = nnodes;
	res->client_cpu = cpu_self() - cpu0;
	res->claims = rs.claims;
	res->empty_claims = rs.empty_claims;
	for (int i = 0; i < npids; i++)
		srv1 += proc_cpu(pids[i]);
	failed = rs.failed;
	if (failed)
		fprintf(stderr, "bench_queue: %s: %s\n", who, rs.errmsg);
	else if (pg == NULL && verify(store, o->n, who) < 0)
		failed = true;
	else if (pg != NULL && pg_verify(store, o->n, who) < 0)
		failed = true;
	/* Lets the writers finish whatever a failure left submitted. */
	for (int k = 0; k < nnodes; k++)
		queue_close(rs.node[k].q);
	if (pg != NULL) {
		pg_collect(pg, db, &res->pg, syncs0, mb0);
		res->pg.server_cpu = srv1 - srv0;
	}
	pthread_mutex_destroy(&rs.lock);
	pthread_cond_destroy(&rs.cond);
	res->rate = failed ? -1 : o->n / res->secs;
	return failed ? -1 : 0;
}

/* One PG run on a database of its own, dropped after. */
static int
run_pg(const struct opts *o, struct pgside *pg, int rep, int nnodes,
    struct result *res)
{
	char db[64], who[32], *url;
	int rc;

	snprintf(db, sizeof(db), "bench_queue_%ld_%d_%d", (long)getpid(), rep,
	    nnodes);
	snprintf(who, sizeof(who), "pg %d node%s", nnodes, nnodes > 1 ? "s" :
	    "");
	if (pg_exec_admin(pg, "DROP DATABASE IF EXISTS %s", db) < 0 ||
	    pg_exec_admin(pg, "CREATE DATABASE %s", db) < 0)
		return -1;
	url = pg_db_url(pg, db);
	rc = run_clerk(o, url, nnodes, pg, db, who, res);
	free(url);
	if (pg_exec_admin(pg, "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    db) < 0)
		rc = -1;
	return rc;
}

/* ---- the naive baseline ---- */

enum { N_BEGIN, N_COMMIT, N_INSERT, N_CLAIM, N_STEP, N_FINISH, N_NSTMT };

static const char *naive_sql[N_NSTMT] = {
	[N_BEGIN] = "BEGIN IMMEDIATE",
	[N_COMMIT] = "COMMIT",
	[N_INSERT] = "INSERT INTO items(key, playbook, pb_hash, priority,"
	    " not_before, payload, state, created, updated)"
	    " VALUES(?1, '" PLAYBOOK "', '" PB_HASH "', 0, ?2, '{}', 0, ?2, ?2)",
	[N_CLAIM] = "UPDATE items SET state = 1, owner = '" OWNER "',"
	    " lease_expires = ?1 + 3600000, updated = ?1 WHERE id ="
	    " (SELECT id FROM items WHERE playbook = '" PLAYBOOK "'"
	    " AND state IN (0, 2) AND not_before <= ?1"
	    " ORDER BY priority DESC, not_before, id LIMIT 1) RETURNING id",
	[N_STEP] = "INSERT INTO steps(item, step_id, pb_hash, output, finished,"
	    " ms) VALUES(?1, '" STEP_ID "', '" PB_HASH "', '{}', ?2, 0)",
	[N_FINISH] = "UPDATE items SET state = 4, owner = NULL, updated = ?2"
	    " WHERE id = ?1 AND state = 1 AND owner = '" OWNER "'",
};

/* Steps st to the end; the first row's column 0 goes to *id if asked. */
static int
naive_step(sqlite3 *db, sqlite3_stmt *st, int64_t *id)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (id != NULL)
			*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "bench_queue: naive baseline: %s: %s\n",
		    sqlite3_sql(st), sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Items per second the naive way, or -1. */
static double
run_naive(const struct opts *o, const char *path)
{
	struct queue_opts qo = { .durable = true };
	sqlite3_stmt *st[N_NSTMT] = { NULL };
	sqlite3 *db = NULL;
	struct queue *q;
	struct err e;
	double t0, secs = 0;
	int ret = -1;

	/* clerk creates the schema, so both sides run on the same tables
	 * and indexes. */
	err_clear(&e);
	if ((q = queue_open(path, &qo, &e)) == NULL) {
		fprintf(stderr, "bench_queue: %s\n", e.msg);
		return -1;
	}
	queue_close(q);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    " PRAGMA cache_size=-16000;", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_queue: naive baseline: %s: %s\n", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	for (int i = 0; i < N_NSTMT; i++)
		if (sqlite3_prepare_v2(db, naive_sql[i], -1, &st[i], NULL)
		    != SQLITE_OK) {
			fprintf(stderr, "bench_queue: naive baseline: %s: %s\n",
			    naive_sql[i], sqlite3_errmsg(db));
			goto out;
		}

	t0 = now_s();
	for (long i = 0; i < o->base_n; i++) {
		char key[32];
		int64_t id = -1;

		snprintf(key, sizeof(key), "item-%ld", i);
		/* enqueue */
		sqlite3_bind_text(st[N_INSERT], 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st[N_INSERT], 2, util_now_ms());
		if (naive_step(db, st[N_BEGIN], NULL) < 0 ||
		    naive_step(db, st[N_INSERT], NULL) < 0 ||
		    naive_step(db, st[N_COMMIT], NULL) < 0)
			goto out;
		/* claim */
		sqlite3_bind_int64(st[N_CLAIM], 1, util_now_ms());
		if (naive_step(db, st[N_BEGIN], NULL) < 0 ||
		    naive_step(db, st[N_CLAIM], &id) < 0 ||
		    naive_step(db, st[N_COMMIT], NULL) < 0)
			goto out;
		if (id < 0) {
			fprintf(stderr, "bench_queue: naive baseline: claim found"
			    " no item after enqueueing %ld\n", i + 1);
			goto out;
		}
		/* complete: journal the step, then the item is done */
		sqlite3_bind_int64(st[N_STEP], 1, id);
		sqlite3_bind_int64(st[N_STEP], 2, util_now_ms());
		sqlite3_bind_int64(st[N_FINISH], 1, id);
		sqlite3_bind_int64(st[N_FINISH], 2, util_now_ms());
		if (naive_step(db, st[N_BEGIN], NULL) < 0 ||
		    naive_step(db, st[N_STEP], NULL) < 0 ||
		    naive_step(db, st[N_FINISH], NULL) < 0 ||
		    naive_step(db, st[N_COMMIT], NULL) < 0)
			goto out;
	}
	secs = now_s() - t0;
	ret = 0;
out:
	if (ret < 0 && db != NULL && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	for (int i = 0; i < N_NSTMT; i++)
		sqlite3_finalize(st[i]);
	sqlite3_close(db);
	if (ret == 0 && verify(path, o->base_n, "naive baseline") < 0)
		ret = -1;
	return ret < 0 ? -1 : o->base_n / secs;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(const double *v, int n)
{
	double *s = xmalloc(n * sizeof(*s));
	double m;

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* The server's settings that decide what a durable commit costs. */
static void
pg_describe(struct pgside *pg)
{
	PGresult *r = pg_q(pg->admin, "SELECT current_setting('server_version'),"
	    " current_setting('synchronous_commit'), current_setting('fsync'),"
	    " current_setting('wal_sync_method'), current_setting('data_directory')",
	    0, NULL);

	if (r == NULL || PQntuples(r) != 1) {
		PQclear(r);
		return;
	}
	printf("pg: PostgreSQL %s, synchronous_commit=%s, fsync=%s,"
	    " wal_sync_method=%s, data in %s; statement counts: %s\n",
	    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
	    PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4), pg->statements ?
	    "pg_stat_statements" : "none (pg_stat_statements not preloaded)");
	PQclear(r);
}

/*
 * The median time of one round trip to the server (a parameterised
 * SELECT 1, as the store sends its statements), in us: the floor under
 * every statement a writer sends and waits for, if it waits for each.
 */
static double
pg_round_trip(struct pgside *pg)
{
	const char *par[1] = { "1" };
	double v[2000], t;

	for (int i = 0; i < 2000; i++) {
		t = now_s();
		PQclear(PQexecParams(pg->admin, "SELECT $1::int", 1, NULL, par,
		    NULL, NULL, 0));
		v[i] = (now_s() - t) * 1e6;
	}
	return median(v, 2000);
}

/* Where a PG run's time went: per commit, per item, per statement. */
static void
pg_print(const struct opts *o, const char *who, const struct result *r,
    double rtt_us)
{
	const struct pgcost *c = &r->pg;
	double n = (double)o->n;

	printf("  %s: %ld commits (%.0f items/commit), %ld WAL flushes, %.1f MB"
	    " WAL; server CPU %.2f s (%.0f us/item), bench process CPU %.2f s"
	    " (%.0f us/item); %ld claims (%ld empty)", who, c->commits,
	    c->commits > 0 ? n / c->commits : 0, c->wal_syncs, c->wal_mb,
	    c->server_cpu, c->server_cpu * 1e6 / n, r->client_cpu,
	    r->client_cpu * 1e6 / n, r->claims, r->empty_claims);
	if (c->calls >= 0)
		printf("; %ld statements (%.2f per item), %.2f s executing;"
		    " were each a round trip of a writer: %.2f s of the"
		    " %.2f s", c->calls, c->calls / n, c->exec_ms / 1000,
		    c->calls * rtt_us / 1e6 / r->nodes, r->secs);
	printf("\n");
	for (int i = 0; i < c->ntop; i++)
		printf("    %8ld calls %8.1f ms  %s\n", c->top_calls[i],
		    c->top_ms[i], c->top[i]);
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "items", required_argument, NULL, 'n' },
		{ "reps", required_argument, NULL, 'r' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "window", required_argument, NULL, 'w' },
		{ "claim", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "pg", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .n = 100000, .reps = 3, .window = 4096,
	    .claim_max = 512 };
	char dir[PATH_MAX], fs[64], path[PATH_MAX + 32];
	double *clerk, *naive, *pg1, *pg2, mc, mn, m1, m2, rtt;
	bool made_dir = false, tmpfs, failed = false;
	struct pgside pg = { 0 };
	const char *pg_url = NULL;
	struct result res, r1, r2;
	int ch;

	while ((ch = getopt_long(argc, argv, "n:r:b:w:c:h", longopts, NULL))
	    != -1) {
		switch (ch) {
		case 'n':
			o.n = parse_long(optarg, "-n", 1);
			break;
		case 'r':
			o.reps = (int)parse_long(optarg, "-r", 1);
			break;
		case 'b':
			o.base_n = parse_long(optarg, "-b", 1);
			break;
		case 'w':
			o.window = (int)parse_long(optarg, "-w", 1);
			break;
		case 'c':
			o.claim_max = (int)parse_long(optarg, "-c", 1);
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'p':
			pg_url = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (o.base_n == 0) {
		o.base_n = o.n / 20 < 2000 ? 2000 : o.n / 20;
		if (o.base_n > o.n)
			o.base_n = o.n;
	}
	if (o.claim_max > o.window)
		o.claim_max = o.window;

	if (o.dir != NULL) {
		struct stat sb;

		if (stat(o.dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			fprintf(stderr, "bench_queue: --db %s: not a directory\n",
			    o.dir);
			return 2;
		}
		snprintf(dir, sizeof(dir), "%s", o.dir);
	} else {
		snprintf(dir, sizeof(dir), "/var/tmp/bench_queue.XXXXXX");
		if (mkdtemp(dir) == NULL) {
			fprintf(stderr, "bench_queue: cannot create a directory"
			    " under /var/tmp: %s; pick one with --db DIR\n",
			    strerror(errno));
			return 2;
		}
		made_dir = true;
	}
	fs_describe(dir, fs, sizeof(fs), &tmpfs);
	if (pg_url != NULL && pg_setup(&pg, pg_url) < 0) {
		PQfinish(pg.admin);
		if (made_dir)
			rmdir(dir);
		return 2;
	}

	printf("bench_queue: %ld items, durable (synchronous=FULL), db on %s"
	    " (%s), %ld cpu(s)\n", o.n, fs, dir, sysconf(_SC_NPROCESSORS_ONLN));
	if (tmpfs)
		printf("warning: %s is on tmpfs, where fsync costs nothing; the"
		    " figures say little about a disk (use --db DIR)\n", dir);
	if (pg_url != NULL)
		pg_describe(&pg);
	fflush(stdout);

	clerk = xcalloc(o.reps, sizeof(*clerk));
	naive = xcalloc(o.reps, sizeof(*naive));
	pg1 = xcalloc(o.reps, sizeof(*pg1));
	pg2 = xcalloc(o.reps, sizeof(*pg2));
	for (int i = 0; i < o.reps && !failed; i++) {
		snprintf(path, sizeof(path), "%s/clerk-%d.db", dir, i + 1);
		remove_db(path);
		run_clerk(&o, path, 1, NULL, NULL, "clerk queue", &res);
		clerk[i] = res.rate;
		remove_db(path);
		if (clerk[i] < 0) {
			failed = true;
			break;
		}
		snprintf(path, sizeof(path), "%s/naive-%d.db", dir, i + 1);
		remove_db(path);
		naive[i] = run_naive(&o, path);
		remove_db(path);
		if (naive[i] < 0) {
			failed = true;
			break;
		}
		printf("run %d: clerk queue %.0f items/s (%.2f s); naive baseline"
		    " %.0f items/s (%ld items, %.2f s); ratio %.1fx\n", i + 1,
		    clerk[i], o.n / clerk[i], naive[i], o.base_n,
		    o.base_n / naive[i], clerk[i] / naive[i]);
		fflush(stdout);
		if (pg_url == NULL)
			continue;
		if (run_pg(&o, &pg, i + 1, 1, &r1) < 0 ||
		    run_pg(&o, &pg, i + 1, 2, &r2) < 0) {
			failed = true;
			break;
		}
		pg1[i] = r1.rate;
		pg2[i] = r2.rate;
		printf("run %d: pg 1 node %.0f items/s (%.2f s); pg 2 nodes %.0f"
		    " items/s (%.2f s); pg 1 node / sqlite %.2fx; 2 nodes / 1"
		    " node %.2fx\n", i + 1, r1.rate, r1.secs, r2.rate, r2.secs,
		    r1.rate / clerk[i], r2.rate / r1.rate);
		rtt = pg_round_trip(&pg);
		printf("  round trip (SELECT $1 on one connection): %.1f us\n",
		    rtt);
		pg_print(&o, "pg 1 node", &r1, rtt);
		pg_print(&o, "pg 2 nodes", &r2, rtt);
		fflush(stdout);
	}
	if (made_dir)
		rmdir(dir);
	if (failed) {
		fprintf(stderr, "bench_queue: FAILED\n");
		return 1;
	}
	mc = median(clerk, o.reps);
	mn = median(naive, o.reps);
	printf("median: clerk queue %.0f items/s; naive %.0f items/s;"
	    " ratio %.1fx; target %.0f items/s: %s\n", mc, mn, mc / mn, TARGET,
	    mc >= TARGET ? "met" : "NOT met");
	if (pg_url != NULL) {
		m1 = median(pg1, o.reps);
		m2 = median(pg2, o.reps);
		printf("median: pg 1 node %.0f items/s; pg 2 nodes %.0f items/s;"
		    " sqlite %.0f items/s; pg 1 node / sqlite %.2fx; 2 nodes /"
		    " 1 node %.2fx; target %.0f items/s on one pg node: %s\n",
		    m1, m2, mc, m1 / mc, m2 / m1, PG_TARGET, m1 >= PG_TARGET ?
		    "met" : "NOT met");
		PQfinish(pg.admin);
	}
	free(clerk);
	free(naive);
	free(pg1);
	free(pg2);
	return 0;
}
