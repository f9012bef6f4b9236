/*
 * fuzz_cron.c - cron_parse and cron_next on cron expressions, which come
 * from the trigger of playbook files.
 *
 * The input is the expression. An expression that parses is evaluated at
 * a few fixed instants and one derived from the input, and each answer is
 * chained once more; cron_next promises a time strictly after its argument
 * or -1, and that promise is checked. An accepted expression whose
 * day-of-month and month are both "*" must also fire: every field left
 * matches at least one value, so some day of each week matches (a DST gap
 * only skips an hour). -1 there means a field parsed to no value at all.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cron.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tz_init();
	return 0;
}

/* True for "s m h * * dow" and "m h * * dow" written out (not a macro). */
static bool
every_day_of_every_month(const char *expr)
{
	const char *f[7], *p = expr;
	size_t len[7];
	int n = 0;

	while (*p != '\0') {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		if (n == 7)
			return false;
		f[n] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		len[n] = (size_t)(p - f[n]);
		n++;
	}
	if (n != 5 && n != 6)
		return false;
	return len[n - 3] == 1 && f[n - 3][0] == '*' &&
	    len[n - 2] == 1 && f[n - 2][0] == '*';
}

static void
check_next(const struct cron *c, int64_t after, const char *expr,
    bool must_fire)
{
	int64_t t = cron_next(c, after);

	if (t == -1 && must_fire) {
		fprintf(stderr, "cron \"%s\" was accepted but never fires after "
		    "%lld although it names every day of every month\n", expr,
		    (long long)after);
		abort();
	}

	if (t != -1 && t <= after) {
		fprintf(stderr, "cron_next(\"%s\", %lld) = %lld, not after it\n",
		    expr, (long long)after, (long long)t);
		abort();
	}
	if (t != -1) {
		int64_t t2 = cron_next(c, t);

		if (t2 != -1 && t2 <= t) {
			fprintf(stderr, "cron_next(\"%s\", %lld) = %lld, not "
			    "after it\n", expr, (long long)t, (long long)t2);
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *expr = fuzz_strndup(data, size);
	struct err e = { 0 };
	struct cron *c;
	bool must_fire;

	c = cron_parse(expr, &e);
	if (c == NULL) {
		/* every refusal says why */
		if (e.msg[0] == '\0')
			abort();
		free(expr);
		return 0;
	}
	must_fire = every_day_of_every_month(expr);
	for (size_t i = 0; i < sizeof(fuzz_probes) / sizeof(fuzz_probes[0]); i++)
		check_next(c, fuzz_probes[i], expr, must_fire);
	check_next(c, fuzz_probe_from(data, size), expr, must_fire);
	cron_free(c);
	free(expr);
	return 0;
}
