/*
 * test_cron.c - cron expression parsing and next-time computation.
 *
 * Expected times are written as local dates and converted with mktime in
 * Asia/Shanghai (no DST), or as UTC with timegm for the DST zones, so that
 * every expectation is an independent, hand-checked value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "local_time.h"

#include "cron.h"

static struct cron *
parse_ok(const char *expr)
{
	struct err e;
	struct cron *c;

	err_clear(&e);
	c = cron_parse(expr, &e);
	if (c == NULL)
		fail_msg("cron_parse(\"%s\"): %s", expr, e.msg);
	return c;
}

static int64_t
next(const char *expr, int64_t after)
{
	struct cron *c = parse_ok(expr);
	int64_t t = cron_next(c, after);

	cron_free(c);
	return t;
}

/* Checks the first n firings after `after`. */
static void
expect_seq(const char *expr, int64_t after, const int64_t *want, size_t n)
{
	struct cron *c = parse_ok(expr);

	for (size_t i = 0; i < n; i++) {
		after = cron_next(c, after);
		assert_int_equal(after, want[i]);
	}
	cron_free(c);
}

static void
expect_err(const char *expr, const char *msg)
{
	struct err e;
	struct cron *c;

	err_clear(&e);
	c = cron_parse(expr, &e);
	if (c != NULL) {
		cron_free(c);
		fail_msg("cron_parse(\"%s\") succeeded, want error: %s", expr, msg);
	}
	assert_int_equal(e.code, ERR_INVALID);
	assert_string_equal(e.msg, msg);
}

static void
test_star_every_minute(void **state)
{
	assert_int_equal(next("* * * * *", lt(2026, 3, 10, 10, 20, 30)),
	    lt(2026, 3, 10, 10, 21, 0));
	/* strictly after: a firing time itself is not returned */
	assert_int_equal(next("* * * * *", lt(2026, 3, 10, 10, 21, 0)),
	    lt(2026, 3, 10, 10, 22, 0));
	assert_int_equal(next("* * * * *", lt(2026, 3, 10, 23, 59, 0)),
	    lt(2026, 3, 11, 0, 0, 0));
}

static void
test_numbers(void **state)
{
	assert_int_equal(next("30 9 * * *", lt(2026, 3, 10, 8, 0, 0)),
	    lt(2026, 3, 10, 9, 30, 0));
	assert_int_equal(next("30 9 * * *", lt(2026, 3, 10, 9, 30, 0)),
	    lt(2026, 3, 11, 9, 30, 0));
	assert_int_equal(next("30 9 * * *", lt(2026, 3, 10, 9, 29, 59)),
	    lt(2026, 3, 10, 9, 30, 0));
	assert_int_equal(next("  30   9 * *\t* ", lt(2026, 3, 10, 8, 0, 0)),
	    lt(2026, 3, 10, 9, 30, 0));
}

static void
test_ranges(void **state)
{
	const int64_t want[] = {
		lt(2026, 3, 10, 9, 0, 0), lt(2026, 3, 10, 10, 0, 0),
		lt(2026, 3, 10, 11, 0, 0), lt(2026, 3, 11, 9, 0, 0),
	};

	expect_seq("0 9-11 * * *", lt(2026, 3, 10, 8, 0, 0), want, 4);
}

static void
test_lists(void **state)
{
	const int64_t want[] = {
		lt(2026, 3, 10, 10, 45, 0), lt(2026, 3, 10, 11, 0, 0),
		lt(2026, 3, 10, 11, 15, 0), lt(2026, 3, 10, 11, 45, 0),
	};
	const int64_t want2[] = {
		lt(2026, 3, 10, 10, 5, 0), lt(2026, 3, 10, 10, 6, 0),
		lt(2026, 3, 10, 10, 7, 0), lt(2026, 3, 10, 10, 30, 0),
		lt(2026, 3, 10, 11, 5, 0),
	};

	expect_seq("0,15,45 * * * *", lt(2026, 3, 10, 10, 15, 0), want, 4);
	/* a list mixing a range and a value */
	expect_seq("5-7,30 * * * *", lt(2026, 3, 10, 10, 0, 0), want2, 5);
}

static void
test_steps(void **state)
{
	const int64_t star[] = {
		lt(2026, 3, 10, 11, 0, 0), lt(2026, 3, 10, 11, 20, 0),
		lt(2026, 3, 10, 11, 40, 0), lt(2026, 3, 10, 12, 0, 0),
	};
	const int64_t range[] = {
		lt(2026, 3, 10, 10, 50, 0), lt(2026, 3, 10, 11, 10, 0),
		lt(2026, 3, 10, 11, 30, 0), lt(2026, 3, 10, 11, 50, 0),
		lt(2026, 3, 10, 12, 10, 0),
	};
	const int64_t from[] = {
		lt(2026, 3, 10, 10, 50, 0), lt(2026, 3, 10, 11, 5, 0),
		lt(2026, 3, 10, 11, 20, 0),
	};
	const int64_t hours[] = {
		lt(2026, 3, 10, 18, 0, 0), lt(2026, 3, 11, 0, 0, 0),
		lt(2026, 3, 11, 6, 0, 0),
	};

	expect_seq("*/20 * * * *", lt(2026, 3, 10, 10, 41, 0), star, 4);
	expect_seq("10-50/20 * * * *", lt(2026, 3, 10, 10, 41, 0), range, 5);
	/* "5/15": from 5 to the end of the field in steps of 15 */
	expect_seq("5/15 * * * *", lt(2026, 3, 10, 10, 41, 0), from, 3);
	expect_seq("0 */6 * * *", lt(2026, 3, 10, 12, 0, 0), hours, 3);
}

static void
test_month_names(void **state)
{
	const int64_t q[] = {
		lt(2027, 1, 1, 0, 0, 0), lt(2027, 2, 1, 0, 0, 0),
		lt(2027, 3, 1, 0, 0, 0), lt(2028, 1, 1, 0, 0, 0),
	};

	assert_int_equal(next("0 0 1 jun *", lt(2026, 3, 10, 0, 0, 0)),
	    lt(2026, 6, 1, 0, 0, 0));
	assert_int_equal(next("0 0 1 JUN *", lt(2026, 3, 10, 0, 0, 0)),
	    lt(2026, 6, 1, 0, 0, 0));
	expect_seq("0 0 1 Jan-MAR *", lt(2026, 3, 10, 0, 0, 0), q, 4);
	assert_int_equal(next("0 0 1 6,dec *", lt(2026, 6, 2, 0, 0, 0)),
	    lt(2026, 12, 1, 0, 0, 0));
}

static void
test_weekday_names(void **state)
{
	const int64_t wk[] = {
		lt(2026, 3, 16, 9, 0, 0), lt(2026, 3, 17, 9, 0, 0),
		lt(2026, 3, 18, 9, 0, 0), lt(2026, 3, 19, 9, 0, 0),
		lt(2026, 3, 20, 9, 0, 0), lt(2026, 3, 23, 9, 0, 0),
	};
	const int64_t we[] = {
		lt(2026, 3, 14, 10, 0, 0), lt(2026, 3, 15, 10, 0, 0),
		lt(2026, 3, 21, 10, 0, 0),
	};

	/* 2026-03-13 is a Friday */
	expect_seq("0 9 * * MON-FRI", lt(2026, 3, 13, 10, 0, 0), wk, 6);
	expect_seq("0 9 * * mon-fri", lt(2026, 3, 13, 10, 0, 0), wk, 6);
	expect_seq("0 9 * * 1-5", lt(2026, 3, 13, 10, 0, 0), wk, 6);
	expect_seq("0 10 * * sat,Sun", lt(2026, 3, 13, 10, 0, 0), we, 3);
}

static void
test_sunday_is_0_and_7(void **state)
{
	const int64_t fss[] = {
		lt(2026, 3, 13, 9, 0, 0), lt(2026, 3, 14, 9, 0, 0),
		lt(2026, 3, 15, 9, 0, 0), lt(2026, 3, 20, 9, 0, 0),
	};

	/* 2026-03-15 is a Sunday */
	assert_int_equal(next("0 9 * * 0", lt(2026, 3, 10, 0, 0, 0)),
	    lt(2026, 3, 15, 9, 0, 0));
	assert_int_equal(next("0 9 * * 7", lt(2026, 3, 10, 0, 0, 0)),
	    lt(2026, 3, 15, 9, 0, 0));
	assert_int_equal(next("0 9 * * SUN", lt(2026, 3, 10, 0, 0, 0)),
	    lt(2026, 3, 15, 9, 0, 0));
	expect_seq("0 9 * * 5-7", lt(2026, 3, 12, 0, 0, 0), fss, 4);
	expect_seq("0 9 * * FRI-SUN", lt(2026, 3, 12, 0, 0, 0), fss, 4);
	/* SUN-SUN is Sunday only, not the whole week */
	assert_int_equal(next("0 9 * * SUN-SUN", lt(2026, 3, 10, 0, 0, 0)),
	    lt(2026, 3, 15, 9, 0, 0));
}

static void
test_dom_dow_or_rule(void **state)
{
	/* April 2026: the 1st is a Wednesday, Mondays are 6, 13, 20, 27 */
	const int64_t either[] = {
		lt(2026, 4, 6, 0, 0, 0), lt(2026, 4, 13, 0, 0, 0),
		lt(2026, 4, 15, 0, 0, 0), lt(2026, 4, 20, 0, 0, 0),
		lt(2026, 4, 27, 0, 0, 0), lt(2026, 5, 4, 0, 0, 0),
	};
	/* a field starting with '*' does not restrict the day: AND */
	const int64_t both[] = {
		lt(2026, 5, 11, 0, 0, 0), lt(2026, 6, 1, 0, 0, 0),
		lt(2026, 8, 31, 0, 0, 0), lt(2026, 9, 21, 0, 0, 0),
	};

	expect_seq("0 0 15 * 1", lt(2026, 4, 1, 0, 0, 0), either, 6);
	assert_int_equal(next("0 0 15 * *", lt(2026, 4, 1, 0, 0, 0)),
	    lt(2026, 4, 15, 0, 0, 0));
	assert_int_equal(next("0 0 * * 1", lt(2026, 4, 1, 0, 0, 0)),
	    lt(2026, 4, 6, 0, 0, 0));
	expect_seq("0 0 */10 * 1", lt(2026, 1, 1, 0, 0, 0), both, 4);
}

static void
test_seconds_field(void **state)
{
	const int64_t q[] = {
		lt(2026, 3, 10, 10, 0, 15), lt(2026, 3, 10, 10, 0, 30),
		lt(2026, 3, 10, 10, 0, 45), lt(2026, 3, 10, 10, 1, 0),
	};

	expect_seq("*/15 * * * * *", lt(2026, 3, 10, 10, 0, 7), q, 4);
	assert_int_equal(next("30 0 12 * * *", lt(2026, 3, 10, 12, 0, 30)),
	    lt(2026, 3, 11, 12, 0, 30));
	assert_int_equal(next("30 0 12 * * *", lt(2026, 3, 10, 11, 0, 0)),
	    lt(2026, 3, 10, 12, 0, 30));
	assert_int_equal(next("* * * * * *", lt(2026, 12, 31, 23, 59, 59)),
	    lt(2027, 1, 1, 0, 0, 0));
	/* five fields fire at second 0 */
	assert_int_equal(next("* * * * *", lt(2026, 3, 10, 10, 0, 0)),
	    lt(2026, 3, 10, 10, 1, 0));
}

static void
test_month_and_year_boundaries(void **state)
{
	assert_int_equal(next("0 0 1 * *", lt(2026, 12, 15, 0, 0, 0)),
	    lt(2027, 1, 1, 0, 0, 0));
	assert_int_equal(next("59 23 31 12 *", lt(2026, 12, 31, 23, 59, 0)),
	    lt(2027, 12, 31, 23, 59, 0));
	/* the 31st skips the months that do not have one */
	assert_int_equal(next("0 8 31 * *", lt(2026, 3, 31, 8, 0, 0)),
	    lt(2026, 5, 31, 8, 0, 0));
	assert_int_equal(next("0 8 31 * *", lt(2026, 7, 31, 8, 0, 0)),
	    lt(2026, 8, 31, 8, 0, 0));
	assert_int_equal(next("0 0 30 * *", lt(2026, 1, 30, 0, 0, 0)),
	    lt(2026, 3, 30, 0, 0, 0));
}

static void
test_leap_day(void **state)
{
	const int64_t q[] = {
		lt(2028, 2, 29, 12, 0, 0), lt(2032, 2, 29, 12, 0, 0),
	};

	expect_seq("0 12 29 2 *", lt(2026, 3, 1, 0, 0, 0), q, 2);
	assert_int_equal(next("0 0 28 2 *", lt(2028, 2, 28, 0, 0, 0)),
	    lt(2029, 2, 28, 0, 0, 0));
	assert_int_equal(next("0 0 1 3 *", lt(2028, 2, 29, 0, 0, 0)),
	    lt(2028, 3, 1, 0, 0, 0));
	/* 2100 is not a leap year: Feb 29 2096 is followed by 2104, but
	 * that is more than five years away */
	assert_int_equal(next("0 0 29 2 *", lt(2096, 3, 1, 0, 0, 0)), -1);
}

static void
test_never_matches(void **state)
{
	assert_int_equal(next("0 0 30 2 *", lt(2026, 1, 1, 0, 0, 0)), -1);
	assert_int_equal(next("0 0 31 4,6,9,11 *", lt(2026, 1, 1, 0, 0, 0)), -1);
	assert_int_equal(next("0 0 0 30 2 *", lt(2026, 1, 1, 0, 0, 0)), -1);
}

static void
test_efficient(void **state)
{
	struct cron *c = parse_ok("59 59 23 30 2 *");
	clock_t start = clock();

	/* second-by-second scanning would take minutes per call */
	for (int i = 0; i < 200; i++)
		assert_int_equal(cron_next(c, lt(2026, 1, 1, 0, 0, 0) + i), -1);
	assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 2.0);
	cron_free(c);
}

static void
test_macros(void **state)
{
	int64_t from = lt(2026, 3, 10, 10, 20, 0);

	assert_int_equal(next("@yearly", from), lt(2027, 1, 1, 0, 0, 0));
	assert_int_equal(next("@annually", from), lt(2027, 1, 1, 0, 0, 0));
	assert_int_equal(next("@monthly", from), lt(2026, 4, 1, 0, 0, 0));
	assert_int_equal(next("@weekly", from), lt(2026, 3, 15, 0, 0, 0));
	assert_int_equal(next("@daily", from), lt(2026, 3, 11, 0, 0, 0));
	assert_int_equal(next("@midnight", from), lt(2026, 3, 11, 0, 0, 0));
	assert_int_equal(next("@hourly", from), lt(2026, 3, 10, 11, 0, 0));
	assert_int_equal(next("@DAILY", from), lt(2026, 3, 11, 0, 0, 0));
	assert_int_equal(next(" @hourly ", from), lt(2026, 3, 10, 11, 0, 0));
}

static void
test_dst_spring_forward_skips_gap(void **state)
{
	struct cron *c;
	int64_t t;

	/* Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST (01:00 UTC) */
	tz_set("Europe/Berlin");
	c = parse_ok("30 2 * * *");
	t = cron_next(c, utc(2026, 3, 27, 12, 0, 0));
	assert_int_equal(t, utc(2026, 3, 28, 1, 30, 0));     /* 02:30 CET */
	t = cron_next(c, t);
	/* 02:30 does not exist on the 29th: skipped, not moved to 03:30 */
	assert_int_equal(t, utc(2026, 3, 30, 0, 30, 0));     /* 02:30 CEST */
	cron_free(c);

	c = parse_ok("*/30 * * * *");
	t = cron_next(c, utc(2026, 3, 29, 0, 15, 0));        /* 01:15 CET */
	assert_int_equal(t, utc(2026, 3, 29, 0, 30, 0));     /* 01:30 CET */
	t = cron_next(c, t);
	assert_int_equal(t, utc(2026, 3, 29, 1, 0, 0));      /* 03:00 CEST */
	t = cron_next(c, t);
	assert_int_equal(t, utc(2026, 3, 29, 1, 30, 0));     /* 03:30 CEST */
	cron_free(c);

	/* New York: 2026-03-08 02:00 EST becomes 03:00 EDT */
	tz_set("America/New_York");
	c = parse_ok("0 2 * * *");
	t = cron_next(c, utc(2026, 3, 7, 8, 0, 0));          /* 03-07 03:00 EST */
	assert_int_equal(t, utc(2026, 3, 9, 6, 0, 0));       /* 03-09 02:00 EDT */
	cron_free(c);
}

static void
test_dst_fall_back_fires_once(void **state)
{
	struct cron *c;
	int64_t t;

	/* Berlin: 2026-10-25 03:00 CEST becomes 02:00 CET (01:00 UTC) */
	tz_set("Europe/Berlin");
	c = parse_ok("30 2 * * *");
	t = cron_next(c, utc(2026, 10, 24, 12, 0, 0));
	assert_int_equal(t, utc(2026, 10, 25, 0, 30, 0));    /* first 02:30 */
	t = cron_next(c, t);
	/* not again at the second 02:30 (01:30 UTC) */
	assert_int_equal(t, utc(2026, 10, 26, 1, 30, 0));
	cron_free(c);

	/* the repeated wall-clock hour is not replayed */
	c = parse_ok("0 * * * *");
	t = cron_next(c, utc(2026, 10, 24, 23, 30, 0));      /* 01:30 CEST */
	assert_int_equal(t, utc(2026, 10, 25, 0, 0, 0));     /* 02:00 CEST */
	t = cron_next(c, t);
	assert_int_equal(t, utc(2026, 10, 25, 2, 0, 0));     /* 03:00 CET */
	/* from the last second before the change, too */
	t = cron_next(c, utc(2026, 10, 25, 0, 59, 59));      /* 02:59:59 CEST */
	assert_int_equal(t, utc(2026, 10, 25, 2, 0, 0));
	cron_free(c);

	/* started during the second pass, it still fires in it */
	c = parse_ok("45 2 * * *");
	t = cron_next(c, utc(2026, 10, 25, 1, 10, 0));       /* second 02:10 */
	assert_int_equal(t, utc(2026, 10, 25, 1, 45, 0));    /* second 02:45 */
	cron_free(c);
}

static void
test_dst_daily_no_skip_no_repeat(void **state)
{
	static const char *const zones[] = { "Europe/Berlin", "America/New_York" };

	for (size_t z = 0; z < 2; z++) {
		struct cron *c = parse_ok("0 9 * * *");
		int64_t t;
		struct tm prev, cur;
		time_t tt;

		tz_set(zones[z]);
		t = cron_next(c, lt(2026, 1, 1, 0, 0, 0));
		assert_int_equal(t, lt(2026, 1, 1, 9, 0, 0));
		tt = (time_t)t;
		localtime_r(&tt, &prev);
		/* a year of days through both transitions: every day, 09:00 */
		for (int i = 0; i < 400; i++) {
			t = cron_next(c, t);
			tt = (time_t)t;
			localtime_r(&tt, &cur);
			assert_int_equal(cur.tm_hour, 9);
			assert_int_equal(cur.tm_min, 0);
			assert_int_equal(cur.tm_sec, 0);
			assert_int_equal(cur.tm_yday, prev.tm_year == cur.tm_year ?
			    prev.tm_yday + 1 : 0);
			prev = cur;
		}
		assert_int_equal(t, lt(2027, 2, 5, 9, 0, 0));
		cron_free(c);
	}
}

static void
test_errors_range(void **state)
{
	expect_err("0 25 * * *",
	    "cron \"0 25 * * *\": hour field: 25 is out of range 0-23");
	expect_err("60 * * * *",
	    "cron \"60 * * * *\": minute field: 60 is out of range 0-59");
	expect_err("0 0 0 * *",
	    "cron \"0 0 0 * *\": day-of-month field: 0 is out of range 1-31");
	expect_err("0 0 32 * *",
	    "cron \"0 0 32 * *\": day-of-month field: 32 is out of range 1-31");
	expect_err("0 0 * 13 *",
	    "cron \"0 0 * 13 *\": month field: 13 is out of range 1-12");
	expect_err("0 0 * 0 *",
	    "cron \"0 0 * 0 *\": month field: 0 is out of range 1-12");
	expect_err("0 0 * * 8",
	    "cron \"0 0 * * 8\": day-of-week field: 8 is out of range 0-7");
	expect_err("61 0 0 * * *",
	    "cron \"61 0 0 * * *\": second field: 61 is out of range 0-59");
	expect_err("0 1-99999999999 * * *",
	    "cron \"0 1-99999999999 * * *\": hour field: 99999999999 is out of "
	    "range 0-23");
}

static void
test_errors_names(void **state)
{
	expect_err("0 0 * FOO *",
	    "cron \"0 0 * FOO *\": month field: \"FOO\" is not a month name; "
	    "use 1-12 or JAN-DEC");
	expect_err("0 0 * * funday",
	    "cron \"0 0 * * funday\": day-of-week field: \"funday\" is not a "
	    "weekday name; use 0-7 or SUN-SAT");
	expect_err("0 0 * january *",
	    "cron \"0 0 * january *\": month field: \"january\" is not a month "
	    "name; use 1-12 or JAN-DEC");
	expect_err("MON * * * *",
	    "cron \"MON * * * *\": minute field: \"MON\" is not a number; use "
	    "0-59");
	expect_err("0 0 MON * *",
	    "cron \"0 0 MON * *\": day-of-month field: \"MON\" is not a number; "
	    "use 1-31");
}

static void
test_errors_ranges_and_steps(void **state)
{
	expect_err("0 17-9 * * *",
	    "cron \"0 17-9 * * *\": hour field: range 17-9 goes backwards; "
	    "write the smaller value first, or a list such as 22-23,0-2 for a "
	    "range across the wrap-around");
	expect_err("0 0 * DEC-JAN *",
	    "cron \"0 0 * DEC-JAN *\": month field: range DEC-JAN goes "
	    "backwards; write the smaller value first, or a list such as "
	    "22-23,0-2 for a range across the wrap-around");
	expect_err("*/0 * * * *",
	    "cron \"*/0 * * * *\": minute field: step 0 is not allowed; use a "
	    "step of 1 or more");
	expect_err("*/90 * * * *",
	    "cron \"*/90 * * * *\": minute field: step 90 is larger than the "
	    "range 0-59, so it would match only once; cron cannot express "
	    "that interval, use an interval trigger instead");
	expect_err("0 0-23/24 * * *",
	    "cron \"0 0-23/24 * * *\": hour field: step 24 is larger than the "
	    "range 0-23, so it would match only once; cron cannot express "
	    "that interval, use an interval trigger instead");
}

static void
test_errors_syntax(void **state)
{
	static const struct {
		const char *expr, *field, *text, *values;
	} cases[] = {
		{ "1- * * * *", "minute", "1-", "0-59" },
		{ "1,,2 * * * *", "minute", "1,,2", "0-59" },
		{ ",1 * * * *", "minute", ",1", "0-59" },
		{ "1, * * * *", "minute", "1,", "0-59" },
		{ "*/ * * * *", "minute", "*/", "0-59" },
		{ "1-2-3 * * * *", "minute", "1-2-3", "0-59" },
		{ "*5 * * * *", "minute", "*5", "0-59" },
		{ "1/2/3 * * * *", "minute", "1/2/3", "0-59" },
		{ "0 -1 * * *", "hour", "-1", "0-23" },
		{ "0 0 1.5 * *", "day-of-month", "1.5", "1-31" },
		{ "0 0 * * MON-", "day-of-week", "MON-", "0-7 or SUN-SAT" },
		{ "0 0 * */x *", "month", "*/x", "1-12 or JAN-DEC" },
	};
	char want[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want), "cron \"%s\": %s field: cannot parse "
		    "\"%s\"; use *, a value (%s), a range A-B, a list A,B and "
		    "steps */N or A-B/N", cases[i].expr, cases[i].field,
		    cases[i].text, cases[i].values);
		expect_err(cases[i].expr, want);
	}
}

static void
test_errors_shape(void **state)
{
	expect_err("0 9 * *",
	    "cron \"0 9 * *\": expected 5 fields (min hour dom month dow) or 6 "
	    "(sec min hour dom month dow), got 4");
	expect_err("0",
	    "cron \"0\": expected 5 fields (min hour dom month dow) or 6 (sec "
	    "min hour dom month dow), got 1");
	expect_err("1 2 3 4 5 6 7",
	    "cron \"1 2 3 4 5 6 7\": too many fields; expected 5 (min hour dom "
	    "month dow) or 6 (sec min hour dom month dow)");
	expect_err("",
	    "cron \"\": empty expression; write five fields \"min hour dom "
	    "month dow\", e.g. \"0 9 * * 1-5\"");
	expect_err("   ",
	    "cron \"   \": empty expression; write five fields \"min hour dom "
	    "month dow\", e.g. \"0 9 * * 1-5\"");
	expect_err(NULL,
	    "cron \"\": empty expression; write five fields \"min hour dom "
	    "month dow\", e.g. \"0 9 * * 1-5\"");
	expect_err("@reboot",
	    "cron \"@reboot\": unknown macro; use @yearly, @annually, "
	    "@monthly, @weekly, @daily, @midnight or @hourly, or five fields "
	    "\"min hour dom month dow\"");
	expect_err("@daily 5",
	    "cron \"@daily 5\": unknown macro; use @yearly, @annually, "
	    "@monthly, @weekly, @daily, @midnight or @hourly, or five fields "
	    "\"min hour dom month dow\"");
}

/* Found by fuzz_cron: "7/1" in the weekday field parsed to an empty set
 * and the expression never fired. 7 is Sunday, so it is "0/1": every day. */
static void
test_dow_seven_with_step_fires(void **state)
{
	/* 2026-11-23 is a Monday. */
	assert_int_equal(next("0 9 * * 7/1", lt(2026, 11, 23, 10, 0, 0)),
	    lt(2026, 11, 24, 9, 0, 0));
	assert_int_equal(next("0 9 * * 7/3", lt(2026, 11, 23, 10, 0, 0)),
	    lt(2026, 11, 25, 9, 0, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_star_every_minute),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_month_names),
		cmocka_unit_test(test_weekday_names),
		cmocka_unit_test(test_sunday_is_0_and_7),
		cmocka_unit_test(test_dom_dow_or_rule),
		cmocka_unit_test(test_seconds_field),
		cmocka_unit_test(test_month_and_year_boundaries),
		cmocka_unit_test(test_leap_day),
		cmocka_unit_test(test_never_matches),
		cmocka_unit_test(test_efficient),
		cmocka_unit_test(test_macros),
		cmocka_unit_test_teardown(test_dst_spring_forward_skips_gap,
		    tz_restore),
		cmocka_unit_test_teardown(test_dst_fall_back_fires_once,
		    tz_restore),
		cmocka_unit_test_teardown(test_dst_daily_no_skip_no_repeat,
		    tz_restore),
		cmocka_unit_test(test_errors_range),
		cmocka_unit_test(test_errors_names),
		cmocka_unit_test(test_errors_ranges_and_steps),
		cmocka_unit_test(test_errors_syntax),
		cmocka_unit_test(test_errors_shape),
		cmocka_unit_test(test_dow_seven_with_step_fires),
	};

	/* the expectations are Shanghai local times, whatever the caller's TZ */
	tz_set("Asia/Shanghai");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
