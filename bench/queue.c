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
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "util.h"

#define PLAYBOOK   "bench"
#define PB_HASH    "bench"
#define STEP_ID    "noop"
#define OWNER      "bench"
#define TARGET     20000.0
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

/* One run of clerk's queue: counters shared by the producer, the consumer
 * and the completions the writer thread runs. */
struct run {
	struct queue *q;
	const struct opts *o;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	long enq_submitted;
	long enq_inflight;
	long claimed;
	long done_inflight;
	long done;
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
	struct run *rs = arg;

	pthread_mutex_lock(&rs->lock);
	rs->enq_inflight--;
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
	struct run *rs = arg;

	pthread_mutex_lock(&rs->lock);
	rs->done_inflight--;
	if (r->rc < 0)
		run_fail(rs, "completion", &r->err);
	else if (++rs->done == rs->o->n)
		clock_gettime(CLOCK_MONOTONIC, &rs->end);
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	free(r);
}

static void *
producer_main(void *arg)
{
	struct run *rs = arg;

	for (long i = 0; i < rs->o->n; i++) {
		struct enq *x = xcalloc(1, sizeof(*x));

		snprintf(x->key, sizeof(x->key), "item-%ld", i);
		x->r.op = QOP_ENQUEUE;
		x->r.u.enqueue.key = x->key;
		x->r.u.enqueue.playbook = PLAYBOOK;
		x->r.u.enqueue.pb_hash = PB_HASH;
		x->r.u.enqueue.payload = "{}";
		x->r.done = enqueued;
		x->r.arg = rs;
		pthread_mutex_lock(&rs->lock);
		while (rs->enq_inflight >= rs->o->window && !rs->failed)
			pthread_cond_wait(&rs->cond, &rs->lock);
		if (rs->failed) {
			pthread_mutex_unlock(&rs->lock);
			free(x);
			break;
		}
		rs->enq_inflight++;
		rs->enq_submitted++;
		pthread_cond_broadcast(&rs->cond);
		/* Submitted under the lock, so a consumer that sees the count
		 * queues its claim behind this enqueue and finds the item. */
		queue_submit(rs->q, &x->r);
		pthread_mutex_unlock(&rs->lock);
	}
	return NULL;
}

static void *
consumer_main(void *arg)
{
	struct run *rs = arg;
	const struct opts *o = rs->o;

	for (;;) {
		struct qreq c;
		long max;

		pthread_mutex_lock(&rs->lock);
		while (!rs->failed && rs->claimed < o->n &&
		    (rs->enq_submitted == rs->claimed ||
		    rs->done_inflight + o->claim_max > o->window))
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
		if (queue_exec(rs->q, &c) < 0) {
			pthread_mutex_lock(&rs->lock);
			run_fail(rs, "claim", &c.err);
			pthread_mutex_unlock(&rs->lock);
			break;
		}
		pthread_mutex_lock(&rs->lock);
		rs->claimed += c.u.claim.n;
		rs->done_inflight += c.u.claim.n;
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
			r->arg = rs;
			queue_submit(rs->q, r);
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

/* Items per second through clerk's queue, or -1. */
static double
run_clerk(const struct opts *o, const char *path)
{
	struct queue_opts qo = { .durable = true };
	pthread_t prod, cons;
	struct run rs;
	struct err e;
	double t0, secs;
	bool failed;

	memset(&rs, 0, sizeof(rs));
	rs.o = o;
	pthread_mutex_init(&rs.lock, NULL);
	pthread_cond_init(&rs.cond, NULL);
	err_clear(&e);
	if ((rs.q = queue_open(path, &qo, &e)) == NULL) {
		fprintf(stderr, "bench_queue: %s\n", e.msg);
		return -1;
	}
	t0 = now_s();
	if (pthread_create(&prod, NULL, producer_main, &rs) != 0 ||
	    pthread_create(&cons, NULL, consumer_main, &rs) != 0)
		fatal("bench_queue: cannot start threads");
	pthread_mutex_lock(&rs.lock);
	while (rs.done < o->n && !rs.failed)
		pthread_cond_wait(&rs.cond, &rs.lock);
	pthread_mutex_unlock(&rs.lock);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	secs = ts_s(&rs.end) - t0;
	failed = rs.failed;
	if (failed)
		fprintf(stderr, "bench_queue: clerk queue: %s\n", rs.errmsg);
	else if (verify(path, o->n, "clerk queue") < 0)
		failed = true;
	/* Lets the writer finish whatever a failure left submitted. */
	queue_close(rs.q);
	pthread_mutex_destroy(&rs.lock);
	pthread_cond_destroy(&rs.cond);
	return failed ? -1 : o->n / secs;
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

/* ---- main ---- */

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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .n = 100000, .reps = 3, .window = 4096,
	    .claim_max = 512 };
	char dir[PATH_MAX], fs[64], path[PATH_MAX + 32];
	double *clerk, *naive, mc, mn;
	bool made_dir = false, tmpfs, failed = false;
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

	printf("bench_queue: %ld items, durable (synchronous=FULL), db on %s"
	    " (%s), %ld cpu(s)\n", o.n, fs, dir, sysconf(_SC_NPROCESSORS_ONLN));
	if (tmpfs)
		printf("warning: %s is on tmpfs, where fsync costs nothing; the"
		    " figures say little about a disk (use --db DIR)\n", dir);
	fflush(stdout);

	clerk = xcalloc(o.reps, sizeof(*clerk));
	naive = xcalloc(o.reps, sizeof(*naive));
	for (int i = 0; i < o.reps && !failed; i++) {
		snprintf(path, sizeof(path), "%s/clerk-%d.db", dir, i + 1);
		remove_db(path);
		clerk[i] = run_clerk(&o, path);
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
	free(clerk);
	free(naive);
	return 0;
}
