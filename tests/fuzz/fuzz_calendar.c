/*
 * fuzz_calendar.c - cal_load on calendar files (libconfig) a supervisor
 * edits, then cal_is_open and cal_next_open on what loaded.
 *
 * The input is the file. A calendar that loads is asked about a few fixed
 * instants (including Shanghai's 1986 DST changes) and one derived from
 * the input, and cal_next_open's promises are checked: t itself when open,
 * else a later instant at which the calendar is open, or -1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "calendar.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tz_init();
	return 0;
}

static void
check_at(const struct calendar *c, int64_t t)
{
	bool open = cal_is_open(c, t);
	int64_t next = cal_next_open(c, t);

	if (open && next != t) {
		fprintf(stderr, "cal_next_open(%lld) = %lld while open\n",
		    (long long)t, (long long)next);
		abort();
	}
	if (!open && next != -1 && (next <= t || !cal_is_open(c, next))) {
		fprintf(stderr, "cal_next_open(%lld) = %lld, which is %s\n",
		    (long long)t, (long long)next,
		    next <= t ? "not after it" : "not open");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = { 0 };
	struct calendar *c;

	if (fuzz_has_include(data, size))
		return -1;   /* keep it out of the corpus */
	c = cal_load(fuzz_input_path(data, size), &e);
	if (c == NULL) {
		if (e.msg[0] == '\0')
			abort();
		return 0;
	}
	if (cal_name(c) == NULL)
		abort();
	for (size_t i = 0; i < sizeof(fuzz_probes) / sizeof(fuzz_probes[0]); i++)
		check_at(c, fuzz_probes[i]);
	check_at(c, fuzz_probe_from(data, size));
	cal_free(c);
	return 0;
}
