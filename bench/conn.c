/*
 * bench/conn.c - the connector's cost per request against plain libcurl.
 *
 *   build/bench/bench_conn -u http://127.0.0.1:PORT/out/login -n 2000 -r 3
 *
 * Both sides GET the same URL sequentially, N times per round, keeping the
 * connection alive:
 *   - clerk: conn_send() of a connector without login (limits, breaker
 *     gate, request build, Set-Cookie jar, masked evidence of the
 *     exchange, a content-type check and an XPath extraction);
 *   - baseline: one reused libcurl easy handle doing the GET and nothing
 *     else.
 * Prints the median per-request time of each over the rounds and the ratio.
 */
#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "conn.h"

static size_t
sink(char *d, size_t s, size_t n, void *a)
{
	return s * n;
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time of this process (user + system), us: what the client itself
 * spends, apart from the server's share of the wall time. */
static double
cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char *
expand(void *arg, const char *t)
{
	return strdup(t);
}

int
main(int argc, char **argv)
{
	const char *url = NULL;
	int n = 2000, rounds = 3, c;
	double *ours, *base, *ours_cpu, *base_cpu;
	char *text, *slash;
	config_t cfg;
	struct conn_def *d;
	struct conn_req req;
	struct conn_env env = { ".", expand, NULL };
	struct err e;
	CURL *h;

	while ((c = getopt(argc, argv, "u:n:r:")) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_conn -u URL [-n N] [-r R]\n");
			return 2;
		}
	}
	if (url == NULL || n < 1 || rounds < 1 ||
	    (slash = strchr(url + strlen("http://"), '/')) == NULL) {
		fprintf(stderr, "usage: bench_conn -u http://HOST:PORT/PATH"
		    " [-n N] [-r R]\n");
		return 2;
	}
	text = NULL;
	if (asprintf(&text, "connectors = { b = { base_url = \"%.*s\";"
	    " max_concurrent = 1; retries = 0; }; };\n"
	    "step = { request = { path = \"%s\"; content_type = \"text/html\";"
	    " extract = { title = \"xpath://title\"; }; }; };",
	    (int)(slash - url), url, slash) < 0)
		return 1;
	config_init(&cfg);
	if (!config_read_string(&cfg, text)) {
		fprintf(stderr, "bench_conn: %s\n", config_error_text(&cfg));
		return 1;
	}
	free(text);
	if ((d = conn_def_load(config_lookup(&cfg, "step"), "b", &e)) == NULL ||
	    conn_req_parse(&req, config_lookup(&cfg, "step.request"), &e) < 0) {
		fprintf(stderr, "bench_conn: %s\n", e.msg);
		return 1;
	}
	ours = calloc((size_t)rounds, sizeof(*ours));
	base = calloc((size_t)rounds, sizeof(*base));
	ours_cpu = calloc((size_t)rounds, sizeof(*ours_cpu));
	base_cpu = calloc((size_t)rounds, sizeof(*base_cpu));
	h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	for (int r = 0; r < rounds; r++) {
		double t0 = now_us(), c0 = cpu_us();

		for (int i = 0; i < n; i++) {
			long st = 0;

			if (curl_easy_perform(h) != CURLE_OK ||
			    (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st),
			    st != 200)) {
				fprintf(stderr, "bench_conn: libcurl GET %s"
				    " failed\n", url);
				return 1;
			}
		}
		base[r] = (now_us() - t0) / n;
		base_cpu[r] = (cpu_us() - c0) / n;
		t0 = now_us();
		c0 = cpu_us();
		for (int i = 0; i < n; i++) {
			struct conn_call call;
			enum conn_outcome o;

			conn_call_init(&call);
			o = conn_send(d, &req, &env, false, &call);
			if (o != CONN_OK) {
				fprintf(stderr, "bench_conn: %s: %s\n",
				    conn_outcome_name(o), call.message);
				return 1;
			}
			conn_call_clear(&call);
		}
		ours[r] = (now_us() - t0) / n;
		ours_cpu[r] = (cpu_us() - c0) / n;
		printf("round %d: libcurl %.1f us/request (%.1f us CPU),"
		    " clerk connector %.1f us/request (%.1f us CPU)\n", r + 1,
		    base[r], base_cpu[r], ours[r], ours_cpu[r]);
	}
	{
		double b = median(base, rounds), o = median(ours, rounds);

		double bc = median(base_cpu, rounds), oc = median(ours_cpu,
		    rounds);

		printf("median of %d rounds x %d requests: libcurl %.1f us,"
		    " clerk connector %.1f us, overhead %.1f us/request,"
		    " ratio %.2fx\n", rounds, n, b, o, o - b, o / b);
		printf("client CPU per request: libcurl %.1f us, clerk connector"
		    " %.1f us, ratio %.2fx\n", bc, oc, oc / bc);
	}
	curl_easy_cleanup(h);
	conn_req_clear(&req);
	conn_def_free(d);
	config_destroy(&cfg);
	conn_reset_all();
	free(ours);
	free(base);
	free(ours_cpu);
	free(base_cpu);
	return 0;
}
