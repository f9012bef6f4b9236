/*
 * bench/escalations_seed.c - fills a clerk database with N open
 * escalations for bench/escalations.py, through clerk's own queue (the
 * writer thread and the SQLite store clerkd uses), so the rows, indexes
 * and audit trail are exactly what clerkd would have written.
 *
 * Every item is enqueued, claimed and failed with FAIL_ESCALATE, the way
 * the scheduler escalates one. The mix the list filters are measured on:
 * 90% playbook "intake" and 10% "transfer"; reasons "field.invalid"
 * and "mismatch" (1 in 7); 1% assigned to "rita"; due times spread over the
 * next 48 hours but 1% already overdue. Requests are submitted
 * asynchronously with a bounded window and group-committed; the database
 * is not durable while seeding (synchronous=NORMAL): it is test data.
 */
#include <getopt.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "util.h"

#define WINDOW 8192

struct seed {
	struct queue *q;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long inflight;
	long failed;
	char errmsg[600];
};

struct req {
	struct qreq r;
	struct seed *s;
	char key[32];
	char *text;
};

static void
done(struct qreq *r, void *arg)
{
	struct req *q = arg;
	struct seed *s = q->s;

	pthread_mutex_lock(&s->lock);
	if (r->rc < 0 && s->failed++ == 0)
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", r->err.msg);
	s->inflight--;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	free(q->text);
	free(q);
}

static void
submit(struct seed *s, struct req *q)
{
	pthread_mutex_lock(&s->lock);
	while (s->inflight >= WINDOW)
		pthread_cond_wait(&s->cond, &s->lock);
	s->inflight++;
	pthread_mutex_unlock(&s->lock);
	q->s = s;
	q->r.done = done;
	q->r.arg = q;
	queue_submit(s->q, &q->r);
}

static void
drain(struct seed *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->inflight > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->failed > 0) {
		fprintf(stderr, "escalations_seed: %ld request(s) failed: %s\n",
		    s->failed, s->errmsg);
		exit(1);
	}
}

static const char *
playbook_of(long i)
{
	return i % 10 == 3 ? "transfer" : "intake";
}

int
main(int argc, char **argv)
{
	struct queue_opts qo = { .durable = false, .max_batch = 4096 };
	struct seed s = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .cond = PTHREAD_COND_INITIALIZER };
	long n = 100000, claimed = 0;
	int64_t now = util_now_ms();
	const char *pbs[] = { "intake", "transfer" };
	struct err e;
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n' && (n = atol(optarg)) > 0)
			continue;
		fprintf(stderr, "usage: escalations_seed [-n N] DATABASE\n");
		return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: escalations_seed [-n N] DATABASE\n");
		return 2;
	}
	if ((s.q = queue_open(argv[optind], &qo, &e)) == NULL) {
		fprintf(stderr, "escalations_seed: %s\n", e.msg);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		struct req *q = calloc(1, sizeof(*q));

		snprintf(q->key, sizeof(q->key), "case-%07ld", i);
		q->text = xasprintf("{\"case\":\"%s\",\"name\":\"申请人%ld\","
		    "\"id_no\":\"11010519900101%04ld\",\"amount\":%ld.50,"
		    "\"note\":\"upload %ld of the seeded queue\"}", q->key, i,
		    i % 10000, i % 5000, i);
		q->r.op = QOP_ENQUEUE;
		q->r.u.enqueue.key = q->key;
		q->r.u.enqueue.playbook = playbook_of(i);
		q->r.u.enqueue.pb_hash = "seed";
		q->r.u.enqueue.payload = q->text;
		submit(&s, q);
	}
	drain(&s);
	for (size_t p = 0; p < 2; p++) {
		for (;;) {
			struct qreq r;
			int got;

			memset(&r, 0, sizeof(r));
			r.op = QOP_CLAIM;
			r.u.claim.playbook = pbs[p];
			r.u.claim.owner = "seed";
			r.u.claim.lease_ms = 3600 * 1000;
			r.u.claim.max = 20000;
			if (queue_exec(s.q, &r) < 0) {
				fprintf(stderr, "escalations_seed: claim: %s\n",
				    r.err.msg);
				return 1;
			}
			got = r.u.claim.n;
			for (int k = 0; k < got; k++) {
				struct item *it = r.u.claim.items[k];
				struct req *q = calloc(1, sizeof(*q));
				long i = atol(it->key + 5);
				bool overdue = i % 100 == 7;

				q->text = xasprintf("{\"payload\":%s,\"checks\":"
				    "{\"id_no\":\"checksum\"}}", it->payload);
				q->r.op = QOP_FAIL;
				q->r.u.fail.item = it->id;
				q->r.u.fail.step_id = "check";
				q->r.u.fail.kind = ERRK_BUSINESS;
				q->r.u.fail.message = i % 7 == 0 ?
				    "姓名与申请不符" : "公民身份号码校验位错误";
				q->r.u.fail.action = FAIL_ESCALATE;
				q->r.u.fail.reason = i % 7 == 0 ? "mismatch" :
				    "field.invalid";
				q->r.u.fail.context = q->text;
				q->r.u.fail.due = overdue ? now - 60000 -
				    (i % 3600) * 1000 : now + 3600000 +
				    (i * 1723) % (48 * 3600000L);
				q->r.u.fail.owner = "seed";
				submit(&s, q);
				item_free(it);
			}
			free(r.u.claim.items);
			claimed += got;
			if (got == 0)
				break;
		}
	}
	drain(&s);
	if (claimed != n) {
		fprintf(stderr, "escalations_seed: escalated %ld of %ld\n",
		    claimed, n);
		return 1;
	}
	/* Escalation ids follow the claim order; every 100th goes to rita. */
	for (long id = 1; id <= n; id += 100) {
		struct req *q = calloc(1, sizeof(*q));

		q->r.op = QOP_ESC_ASSIGN;
		q->r.u.esc_assign.escalation = id;
		q->r.u.esc_assign.by = "seed";
		q->r.u.esc_assign.to = "rita";
		q->r.u.esc_assign.any = true;
		submit(&s, q);
	}
	drain(&s);
	queue_close(s.q);
	/* The queue's read-only connection closes last and cannot checkpoint:
	 * fold the WAL into the database here, so clerkd does not start by
	 * copying the seed's tens of megabytes while it is being measured. */
	{
		sqlite3 *db = NULL;

		if (sqlite3_open(argv[optind], &db) != SQLITE_OK ||
		    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
		    NULL, NULL) != SQLITE_OK) {
			fprintf(stderr, "escalations_seed: checkpoint: %s\n",
			    sqlite3_errmsg(db));
			sqlite3_close(db);
			return 1;
		}
		sqlite3_close(db);
	}
	printf("seeded %ld open escalations\n", n);
	return 0;
}
