/*
 * bench/ocr.c - the OCR document check's throughput: N worker threads,
 * each with its own engine (as clerkd's workers, started before the
 * clock of the checks: a one-off, timed on its own), check the files named
 * on standard input (one path per line) against one template. Prints one
 * JSON line per file (file, verdict, fields, recognise_ms, total_ms) on
 * stdout and the totals on stderr. bench/ocr_bench.sh runs it against the
 * tesseract CLI baselines and scores the results. A line may carry the
 * item's payload after a tab ("path<TAB>{json}"), for match fields.
 *
 * usage: bench_ocr -t TEMPLATE [-j THREADS] < files
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"

struct bench {
	struct ocr_template *t;
	char **files;
	json_t **payloads;
	size_t n, next;
	pthread_mutex_t lock;
	double recognise_ms, total_ms, engine_ms;
	size_t failed;
};

static void *
worker(void *arg)
{
	struct bench *b = arg;
	int64_t t0 = util_mono_ms();
	struct err ee;

	/* The worker's engine starts before its first check, as in a
	 * running clerkd, and is timed on its own: a one-off per worker,
	 * not a cost of each page. */
	if (ocr_engine_acquire(b->t->languages, &ee) == NULL)
		fprintf(stderr, "bench_ocr: %s\n", ee.msg);
	pthread_mutex_lock(&b->lock);
	b->engine_ms += (double)(util_mono_ms() - t0);
	pthread_mutex_unlock(&b->lock);
	for (;;) {
		struct ocr_check_opts o;
		json_t *r, *line;
		struct err e;
		char *s;
		size_t i;

		pthread_mutex_lock(&b->lock);
		i = b->next++;
		pthread_mutex_unlock(&b->lock);
		if (i >= b->n)
			break;
		memset(&o, 0, sizeof(o));
		o.payload = b->payloads[i];
		r = ocr_check_file(b->files[i], b->t, &o, &e);
		pthread_mutex_lock(&b->lock);
		if (r == NULL) {
			b->failed++;
			fprintf(stderr, "bench_ocr: %s: %s\n", b->files[i], e.msg);
		} else {
			b->recognise_ms += o.recognise_ms;
			b->total_ms += o.total_ms;
			line = json_pack("{s:s,s:O,s:O,s:O,s:f,s:f}", "file",
			    b->files[i], "verdict", json_object_get(r, "verdict"),
			    "fields", json_object_get(r, "fields"), "reasons",
			    json_object_get(r, "reasons"), "recognise_ms",
			    o.recognise_ms, "total_ms", o.total_ms);
			s = json_dumps(line, JSON_COMPACT);
			puts(s);
			free(s);
			json_decref(line);
			json_decref(r);
		}
		pthread_mutex_unlock(&b->lock);
	}
	ocr_engine_thread_done();
	return NULL;
}

int
main(int argc, char **argv)
{
	struct bench b;
	const char *tmpl = NULL;
	int threads = 2, c;
	pthread_t *tids;
	char line[4096];
	int64_t t0;
	double wall;
	struct err e;

	ocr_env_ensure(argv);
	while ((c = getopt(argc, argv, "t:j:")) != -1) {
		if (c == 't')
			tmpl = optarg;
		else if (c == 'j')
			threads = atoi(optarg);
		else {
			fprintf(stderr, "usage: bench_ocr -t TEMPLATE [-j THREADS]"
			    " < files\n");
			return 2;
		}
	}
	if (tmpl == NULL || threads < 1) {
		fprintf(stderr, "usage: bench_ocr -t TEMPLATE [-j THREADS] < files\n");
		return 2;
	}
	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&b.lock, NULL);
	if ((b.t = ocr_template_load(tmpl, &e)) == NULL) {
		fprintf(stderr, "bench_ocr: %s\n", e.msg);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *tab;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		b.files = xrealloc(b.files, (b.n + 1) * sizeof(*b.files));
		b.payloads = xrealloc(b.payloads, (b.n + 1) *
		    sizeof(*b.payloads));
		b.payloads[b.n] = NULL;
		if ((tab = strchr(line, '\t')) != NULL) {
			*tab = '\0';
			b.payloads[b.n] = json_loads(tab + 1, 0, NULL);
		}
		b.files[b.n++] = xstrdup(line);
	}
	tids = xcalloc((size_t)threads, sizeof(*tids));
	t0 = util_mono_ms();
	for (int i = 0; i < threads; i++)
		pthread_create(&tids[i], NULL, worker, &b);
	for (int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	wall = (double)(util_mono_ms() - t0) / 1000.0;
	fprintf(stderr, "bench_ocr: %zu files, %d threads, %.2f s wall, %.2f"
	    " files/s; recognise %.0f ms, check total %.0f ms, overhead %.1f%%;"
	    " engine start %.0f ms (all workers); %zu failed\n", b.n, threads,
	    wall, wall > 0 ? b.n / wall : 0, b.recognise_ms, b.total_ms,
	    b.recognise_ms > 0 ? 100.0 * (b.total_ms - b.recognise_ms) /
	    b.recognise_ms : 0, b.engine_ms, b.failed);
	for (size_t i = 0; i < b.n; i++) {
		free(b.files[i]);
		json_decref(b.payloads[i]);
	}
	free(b.files);
	free(b.payloads);
	free(tids);
	ocr_template_free(b.t);
	return b.failed ? 1 : 0;
}
