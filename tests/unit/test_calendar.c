/*
 * test_calendar.c - business calendars: loading, open hours, next opening
 * and the file:line of every error.
 *
 * Expected instants are local dates converted with mktime in
 * Asia/Shanghai, or UTC dates with timegm for the DST zone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "local_time.h"

#include "calendar.h"

#define CAL_DIR SRCDIR "/playbooks/calendars"

/* Writes text to a new temporary file; the caller unlinks and frees. */
static char *
write_tmp(const char *text)
{
	char *path = xstrdup("/tmp/clerk-test-calendar.XXXXXX");
	size_t len = strlen(text);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static struct calendar *
load_path(const char *path)
{
	struct err e;
	struct calendar *c;

	err_clear(&e);
	if ((c = cal_load(path, &e)) == NULL)
		fail_msg("cal_load(%s): %s", path, e.msg);
	return c;
}

static struct calendar *
load_text(const char *text)
{
	char *path = write_tmp(text);
	struct calendar *c = load_path(path);

	unlink(path);
	free(path);
	return c;
}

/* The load must fail with exactly "TMPFILE:line: msg". */
static void
expect_err(const char *text, int line, const char *msg)
{
	char *path = write_tmp(text);
	struct calendar *c;
	struct err e;
	char want[1024];

	err_clear(&e);
	c = cal_load(path, &e);
	unlink(path);
	if (c != NULL) {
		cal_free(c);
		free(path);
		fail_msg("cal_load succeeded, want line %d: %s", line, msg);
	}
	snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
	free(path);
	assert_int_equal(e.code, ERR_INVALID);
	assert_string_equal(e.msg, want);
}

#define WEEK \
	"hours = {\n" \
	"  mon = [\"09:00-12:00\", \"13:30-17:30\"];\n" \
	"  tue = [\"09:00-12:00\", \"13:30-17:30\"];\n" \
	"  wed = [\"09:00-12:00\", \"13:30-17:30\"];\n" \
	"  thu = [\"09:00-12:00\", \"13:30-17:30\"];\n" \
	"  fri = [\"09:00-12:00\", \"13:30-17:30\"];\n" \
	"  sat = [];\n" \
	"  sun = [];\n" \
	"};\n"

static int
cn_setup(void **state)
{
	*state = load_path(CAL_DIR "/cn-workdays.cfg");
	return 0;
}

static int
cn_teardown(void **state)
{
	cal_free(*state);
	return 0;
}

static void
test_load_shipped_calendars(void **state)
{
	struct calendar *c = *state;
	struct calendar *a = load_path(CAL_DIR "/always.cfg");

	assert_string_equal(cal_name(c), "cn-workdays");
	assert_string_equal(cal_name(a), "always");
	cal_free(a);
}

static void
test_open_at_boundaries(void **state)
{
	struct calendar *c = *state;

	/* 2026-03-10 is a plain Tuesday */
	assert_false(cal_is_open(c, lt(2026, 3, 10, 8, 59, 59)));
	assert_true(cal_is_open(c, lt(2026, 3, 10, 9, 0, 0)));
	assert_true(cal_is_open(c, lt(2026, 3, 10, 11, 59, 59)));
	assert_false(cal_is_open(c, lt(2026, 3, 10, 12, 0, 0)));
	assert_true(cal_is_open(c, lt(2026, 3, 10, 17, 29, 59)));
	assert_false(cal_is_open(c, lt(2026, 3, 10, 17, 30, 0)));
	assert_false(cal_is_open(c, lt(2026, 3, 10, 0, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 3, 10, 23, 59, 59)));
}

static void
test_lunch_gap(void **state)
{
	struct calendar *c = *state;

	assert_false(cal_is_open(c, lt(2026, 3, 10, 12, 45, 0)));
	assert_false(cal_is_open(c, lt(2026, 3, 10, 13, 29, 59)));
	assert_true(cal_is_open(c, lt(2026, 3, 10, 13, 30, 0)));
	assert_int_equal(cal_next_open(c, lt(2026, 3, 10, 12, 0, 0)),
	    lt(2026, 3, 10, 13, 30, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 3, 10, 13, 29, 59)),
	    lt(2026, 3, 10, 13, 30, 0));
}

static void
test_weekend_closed(void **state)
{
	struct calendar *c = *state;

	/* 2026-03-14 Saturday, 2026-03-15 Sunday */
	assert_false(cal_is_open(c, lt(2026, 3, 14, 10, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 3, 15, 10, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 3, 15, 14, 0, 0)));
}

static void
test_holiday_closed(void **state)
{
	struct calendar *c = *state;

	/* 国庆节 2026-10-01 (Thu) to 10-07 (Wed) */
	assert_true(cal_is_open(c, lt(2026, 9, 30, 10, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 10, 1, 10, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 10, 7, 10, 0, 0)));
	assert_true(cal_is_open(c, lt(2026, 10, 8, 10, 0, 0)));
	/* a single weekday inside the 春节 range, and 元旦 */
	assert_false(cal_is_open(c, lt(2026, 2, 23, 10, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 1, 1, 10, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 1, 2, 10, 0, 0)));
}

static void
test_makeup_workday_open(void **state)
{
	struct calendar *c = *state;

	/* 2026-02-14 is a make-up Saturday, 2026-02-07 a plain one */
	assert_true(cal_is_open(c, lt(2026, 2, 14, 9, 0, 0)));
	assert_true(cal_is_open(c, lt(2026, 2, 14, 11, 59, 59)));
	assert_false(cal_is_open(c, lt(2026, 2, 14, 12, 30, 0)));
	assert_true(cal_is_open(c, lt(2026, 2, 14, 13, 30, 0)));
	assert_false(cal_is_open(c, lt(2026, 2, 7, 10, 0, 0)));
	/* 2026-09-20 and 2026-01-04 are make-up Sundays */
	assert_true(cal_is_open(c, lt(2026, 9, 20, 10, 0, 0)));
	assert_true(cal_is_open(c, lt(2026, 1, 4, 16, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 9, 13, 10, 0, 0)));
}

static void
test_next_open_friday_evening(void **state)
{
	struct calendar *c = *state;

	assert_int_equal(cal_next_open(c, lt(2026, 3, 13, 18, 0, 0)),
	    lt(2026, 3, 16, 9, 0, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 3, 13, 17, 30, 0)),
	    lt(2026, 3, 16, 9, 0, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 3, 14, 11, 0, 0)),
	    lt(2026, 3, 16, 9, 0, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 3, 16, 8, 59, 59)),
	    lt(2026, 3, 16, 9, 0, 0));
}

static void
test_next_open_when_open_is_now(void **state)
{
	struct calendar *c = *state;
	int64_t t = lt(2026, 3, 10, 10, 17, 3);

	assert_int_equal(cal_next_open(c, t), t);
	assert_int_equal(cal_next_open(c, lt(2026, 3, 10, 7, 0, 0)),
	    lt(2026, 3, 10, 9, 0, 0));
}

static void
test_next_open_after_holiday(void **state)
{
	struct calendar *c = *state;

	/* eve of 国庆节: closed 10-01..10-07, then Thursday 10-08 */
	assert_int_equal(cal_next_open(c, lt(2026, 9, 30, 17, 30, 0)),
	    lt(2026, 10, 8, 9, 0, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 9, 30, 23, 0, 0)),
	    lt(2026, 10, 8, 9, 0, 0));
	/* 劳动节 05-01..05-05, then Wednesday 05-06 */
	assert_int_equal(cal_next_open(c, lt(2026, 4, 30, 18, 0, 0)),
	    lt(2026, 5, 6, 9, 0, 0));
	/* before 春节 the make-up Saturday comes first, then the long break */
	assert_int_equal(cal_next_open(c, lt(2026, 2, 13, 18, 0, 0)),
	    lt(2026, 2, 14, 9, 0, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 2, 14, 17, 30, 0)),
	    lt(2026, 2, 24, 9, 0, 0));
	/* 元旦 01-01..01-03, make-up Sunday 01-04 */
	assert_int_equal(cal_next_open(c, lt(2025, 12, 31, 18, 0, 0)),
	    lt(2026, 1, 4, 9, 0, 0));
}

static void
test_special_hours(void **state)
{
	struct calendar *c = load_text(
	    "name = \"office\";\n"
	    WEEK
	    "holidays = [\"2026-05-01..2026-05-05\"];\n"
	    "makeup_workdays = [\"2026-05-09\"];\n"
	    "special = (\n"
	    "  { date = \"2026-12-31\"; hours = [\"09:00-12:00\"]; },\n"
	    "  { date = \"2026-05-04\"; hours = [\"10:00-11:00\"]; },\n"
	    "  { date = \"2026-06-01\"; hours = []; },\n"
	    "  { date = \"2026-05-09\"; hours = [\"14:00-15:00\"]; }\n"
	    ");\n");

	assert_string_equal(cal_name(c), "office");
	/* New Year's Eve closes at noon */
	assert_true(cal_is_open(c, lt(2026, 12, 31, 11, 59, 59)));
	assert_false(cal_is_open(c, lt(2026, 12, 31, 12, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 12, 31, 14, 0, 0)));
	assert_int_equal(cal_next_open(c, lt(2026, 12, 31, 12, 0, 0)),
	    lt(2027, 1, 1, 9, 0, 0));
	/* special beats holiday */
	assert_false(cal_is_open(c, lt(2026, 5, 4, 9, 30, 0)));
	assert_true(cal_is_open(c, lt(2026, 5, 4, 10, 30, 0)));
	assert_int_equal(cal_next_open(c, lt(2026, 4, 30, 18, 0, 0)),
	    lt(2026, 5, 4, 10, 0, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 5, 4, 11, 0, 0)),
	    lt(2026, 5, 6, 9, 0, 0));
	/* special [] closes a Monday */
	assert_false(cal_is_open(c, lt(2026, 6, 1, 10, 0, 0)));
	assert_int_equal(cal_next_open(c, lt(2026, 5, 29, 18, 0, 0)),
	    lt(2026, 6, 2, 9, 0, 0));
	/* special beats make-up workday */
	assert_false(cal_is_open(c, lt(2026, 5, 9, 10, 0, 0)));
	assert_true(cal_is_open(c, lt(2026, 5, 9, 14, 0, 0)));
	cal_free(c);
}

static void
test_makeup_hours_other_day(void **state)
{
	struct calendar *c = load_text(
	    "name = \"sat-mornings\";\n"
	    "hours = {\n"
	    "  mon = [\"08:00-18:00\"];\n"
	    "  sat = [\"09:00-12:00\"];\n"
	    "};\n"
	    "makeup_workdays = [\"2026-09-20\"];\n"
	    "makeup_hours = \"sat\";\n");

	assert_true(cal_is_open(c, lt(2026, 9, 20, 10, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 9, 20, 8, 30, 0)));
	assert_false(cal_is_open(c, lt(2026, 9, 20, 14, 0, 0)));
	/* days absent from hours are closed */
	assert_false(cal_is_open(c, lt(2026, 9, 22, 10, 0, 0)));
	assert_int_equal(cal_next_open(c, lt(2026, 9, 21, 18, 0, 0)),
	    lt(2026, 9, 26, 9, 0, 0));
	cal_free(c);
}

static void
test_all_day(void **state)
{
	struct calendar *a = load_path(CAL_DIR "/always.cfg");
	struct calendar *c = load_text(
	    "name = \"mondays\";\n"
	    "hours = { mon = [\"00:00-24:00\"]; };\n");
	int64_t t;

	for (t = lt(2026, 3, 9, 0, 0, 0); t < lt(2026, 3, 17, 0, 0, 0);
	    t += 3599) {
		assert_true(cal_is_open(a, t));
		assert_int_equal(cal_next_open(a, t), t);
	}
	assert_true(cal_is_open(a, lt(2026, 10, 1, 23, 59, 59)));
	/* 2026-03-16 is a Monday */
	assert_true(cal_is_open(c, lt(2026, 3, 16, 0, 0, 0)));
	assert_true(cal_is_open(c, lt(2026, 3, 16, 23, 59, 59)));
	assert_false(cal_is_open(c, lt(2026, 3, 17, 0, 0, 0)));
	assert_false(cal_is_open(c, lt(2026, 3, 15, 23, 59, 59)));
	assert_int_equal(cal_next_open(c, lt(2026, 3, 17, 0, 0, 0)),
	    lt(2026, 3, 23, 0, 0, 0));
	cal_free(a);
	cal_free(c);
}

static void
test_next_open_horizon(void **state)
{
	struct calendar *c = load_text(
	    "name = \"once\";\n"
	    "hours = {};\n"
	    "special = ( { date = \"2027-01-15\"; hours = [\"09:00-10:00\"]; } );\n");
	struct calendar *never = load_text(
	    "name = \"never\";\n"
	    "hours = { sun = []; };\n");

	assert_int_equal(cal_next_open(c, lt(2026, 3, 1, 0, 0, 0)),
	    lt(2027, 1, 15, 9, 0, 0));
	/* 2025-11-01 is 440 days before: past the 400-day horizon */
	assert_int_equal(cal_next_open(c, lt(2025, 11, 1, 0, 0, 0)), -1);
	assert_int_equal(cal_next_open(c, lt(2027, 1, 15, 10, 0, 0)), -1);
	assert_int_equal(cal_next_open(never, lt(2026, 3, 1, 0, 0, 0)), -1);
	assert_false(cal_is_open(never, lt(2026, 3, 1, 10, 0, 0)));
	cal_free(c);
	cal_free(never);
}

static void
test_dst_gap(void **state)
{
	struct calendar *c;

	/* Berlin: 2026-03-29 (Sunday) 02:00 CET becomes 03:00 CEST */
	tz_set("Europe/Berlin");
	c = load_text(
	    "name = \"night\";\n"
	    "hours = {\n"
	    "  sun = [\"02:00-02:30\", \"02:30-04:00\"];\n"
	    "  mon = [\"02:00-02:30\"];\n"
	    "};\n");
	/* 02:30 does not exist: the span opens at the jump, 03:00 CEST */
	assert_int_equal(cal_next_open(c, utc(2026, 3, 28, 23, 0, 0)),
	    utc(2026, 3, 29, 1, 0, 0));
	assert_true(cal_is_open(c, utc(2026, 3, 29, 1, 0, 0)));
	assert_false(cal_is_open(c, utc(2026, 3, 29, 0, 59, 59)));
	/* after it, the next span is Monday 02:00 CEST */
	assert_int_equal(cal_next_open(c, utc(2026, 3, 29, 2, 0, 0)),
	    utc(2026, 3, 30, 0, 0, 0));
	cal_free(c);
}

/* The example in the README must load and mean what the README says. */
static void
test_readme_example(void **state)
{
	struct err e;
	char *md, *start, *end;
	struct calendar *c;

	err_clear(&e);
	md = util_read_file(CAL_DIR "/README.md", NULL, &e);
	assert_non_null(md);
	start = strstr(md, "```\nname = ");
	assert_non_null(start);
	start += 4;
	end = strstr(start, "```");
	assert_non_null(end);
	*end = '\0';
	c = load_text(start);
	free(md);

	assert_string_equal(cal_name(c), "district-office");
	assert_true(cal_is_open(c, lt(2026, 9, 18, 15, 59, 59)));
	assert_false(cal_is_open(c, lt(2026, 9, 18, 16, 0, 0)));
	assert_int_equal(cal_next_open(c, lt(2026, 9, 18, 16, 0, 0)),
	    lt(2026, 9, 20, 9, 0, 0));
	assert_int_equal(cal_next_open(c, lt(2026, 9, 30, 17, 30, 0)),
	    lt(2026, 10, 8, 9, 0, 0));
	assert_false(cal_is_open(c, lt(2026, 12, 31, 13, 30, 0)));
	assert_false(cal_is_open(c, lt(2026, 6, 1, 10, 0, 0)));
	cal_free(c);
}

static void
test_err_syntax(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  mon = [\"09:00-12:00\"\n"
	    "};\n", 4,
	    "syntax error; look on this line and the ones before it for a "
	    "missing ';', an unclosed quote or bracket (format: "
	    "playbooks/calendars/README.md)");
	expect_err(
	    "name = \"x\";\n"
	    "name = \"y\";\n", 2,
	    "duplicate setting name (format: playbooks/calendars/README.md)");
}

static void
test_err_bad_time(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  mon = [\"09:00-12:00\",\n"
	    "         \"25:00-26:00\"];\n"
	    "};\n", 4,
	    "bad time \"25:00\" in \"25:00-26:00\": use HH:MM with hours 00-23 "
	    "and minutes 00-59 (\"24:00\" only as an end)");
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  tue = [\"09:00-12:60\"];\n"
	    "};\n", 3,
	    "bad time \"12:60\" in \"09:00-12:60\": use HH:MM with hours 00-23 "
	    "and minutes 00-59 (\"24:00\" only as an end)");
	expect_err(
	    "name = \"x\";\n"
	    "hours = { wed = [\"24:00-24:00\"]; };\n", 2,
	    "bad time \"24:00\" in \"24:00-24:00\": use HH:MM with hours 00-23 "
	    "and minutes 00-59 (\"24:00\" only as an end)");
	expect_err(
	    "name = \"x\";\n"
	    "\n"
	    "hours = { thu = [\"9-12\"]; };\n", 3,
	    "bad hours \"9-12\": write \"HH:MM-HH:MM\", e.g. \"09:00-12:00\"; "
	    "\"00:00-24:00\" is all day");
	expect_err(
	    "name = \"x\";\n"
	    "hours = { thu = [\"09:00-12:00 \"]; };\n", 2,
	    "bad hours \"09:00-12:00 \": write \"HH:MM-HH:MM\", e.g. "
	    "\"09:00-12:00\"; \"00:00-24:00\" is all day");
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  fri = [9];\n"
	    "};\n", 3,
	    "hours.fri must be a list of strings like \"09:00-12:00\"");
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  fri = \"09:00-12:00\";\n"
	    "};\n", 3,
	    "hours.fri must be a list of spans like [\"09:00-12:00\", "
	    "\"13:30-17:30\"], or [] for closed");
}

static void
test_err_end_before_start(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  mon = [\"09:00-12:00\"];\n"
	    "  sat = [\"22:00-06:00\"];\n"
	    "};\n", 4,
	    "hours \"22:00-06:00\" end before they start; a span cannot cross "
	    "midnight: split it, e.g. \"22:00-24:00\" on one day and "
	    "\"00:00-06:00\" on the next");
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  mon = [\"09:00-09:00\"];\n"
	    "};\n", 3,
	    "hours \"09:00-09:00\" are empty; remove them or give an end after "
	    "the start");
}

static void
test_err_bad_date(void **state)
{
	/* the last element of a multi-line list: libconfig alone would say 8 */
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [\n"
	    "  \"2026-01-01\",\n"
	    "  \"2026-02-30\"\n"
	    "];\n", 13,
	    "bad date \"2026-02-30\": February 2026 has 28 days");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [\"2028-02-30\"];\n", 11,
	    "bad date \"2028-02-30\": February 2028 has 29 days");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [\"2026-13-01\"];\n", 11,
	    "bad date \"2026-13-01\": there is no month 13");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [\n"
	    "  \"2026/01/01\"];\n", 12,
	    "bad date \"2026/01/01\": write dates as YYYY-MM-DD, e.g. "
	    "\"2026-10-01\"");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [\"2026-10-01..2026-10-32\"];\n", 11,
	    "bad date \"2026-10-32\": October 2026 has 31 days");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "makeup_workdays = [\"2026-9-20\"];\n", 11,
	    "bad date \"2026-9-20\": write dates as YYYY-MM-DD, e.g. "
	    "\"2026-10-01\"");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [20260101];\n", 11,
	    "holidays must hold dates as strings, e.g. \"2026-10-01\"");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = \"2026-01-01\";\n", 11,
	    "holidays must be a list of dates, e.g. holidays = "
	    "[\"2026-10-01\"];");
}

static void
test_err_unknown_weekday(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    "hours = {\n"
	    "  mon = [\"09:00-12:00\"];\n"
	    "  tuesday = [\"09:00-12:00\"];\n"
	    "};\n", 4,
	    "unknown weekday \"tuesday\" in hours; use mon, tue, wed, thu, fri, "
	    "sat, sun");
	expect_err(
	    "name = \"x\";\n"
	    "hours = [\"09:00-12:00\"];\n", 2,
	    "hours must be a group of weekdays, e.g. hours = { mon = "
	    "[\"09:00-17:00\"]; sat = []; };");
}

static void
test_err_holiday_range_reversed(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [\n"
	    "  \"2026-01-01\",\n"
	    "  \"2026-10-07..2026-10-01\",\n"
	    "  \"2026-12-25\"\n"
	    "];\n", 13,
	    "holiday range \"2026-10-07..2026-10-01\" ends before it starts; "
	    "write the earlier date first");
}

static void
test_err_holiday_and_makeup(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holidays = [\n"
	    "  \"2026-01-01\",\n"
	    "  \"2026-10-01..2026-10-07\"\n"
	    "];\n"
	    "makeup_workdays = [\"2026-09-20\",\n"
	    "  \"2026-10-03\"];\n", 16,
	    "2026-10-03 is both a holiday (line 13) and a make-up workday; "
	    "check the official notice and remove it from one list");
}

static void
test_err_missing_name(void **state)
{
	expect_err(
	    "# no name\n"
	    WEEK, 1,
	    "no name; add a line such as name = \"cn-workdays\"; (playbooks "
	    "refer to the calendar by it)");
	expect_err("", 1,
	    "no name; add a line such as name = \"cn-workdays\"; (playbooks "
	    "refer to the calendar by it)");
	expect_err(
	    "\n"
	    "name = \"\";\n"
	    WEEK, 2,
	    "name must be a non-empty string of letters, digits, '-', '_' and "
	    "'.', e.g. \"cn-workdays\"");
	expect_err(
	    "name = \"cn workdays\";\n"
	    WEEK, 1,
	    "name must be a non-empty string of letters, digits, '-', '_' and "
	    "'.', e.g. \"cn-workdays\"");
	expect_err(
	    "name = \"x\";\n", 1,
	    "no hours; add the weekly opening hours, e.g. hours = { mon = "
	    "[\"09:00-17:00\"]; };");
}

static void
test_err_unknown_setting(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "holiday = [\"2026-10-01\"];\n", 11,
	    "unknown setting \"holiday\"; a calendar has name, hours, holidays, "
	    "makeup_workdays, makeup_hours and special");
}

static void
test_err_makeup_hours(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "makeup_workdays = [\"2026-09-20\"];\n"
	    "makeup_hours = \"monday\";\n", 12,
	    "makeup_hours must name a weekday whose hours make-up workdays "
	    "use: \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\" or "
	    "\"sun\"");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "makeup_workdays = [\"2026-09-20\"];\n"
	    "makeup_hours = \"sat\";\n", 12,
	    "make-up workdays take the hours of sat, which has none, so they "
	    "would stay closed; set makeup_hours to a weekday with hours");
	expect_err(
	    "name = \"x\";\n"
	    "hours = { tue = [\"09:00-12:00\"]; };\n"
	    "makeup_workdays = [\"2026-09-20\"];\n", 3,
	    "make-up workdays take the hours of mon, which has none, so they "
	    "would stay closed; set makeup_hours to a weekday with hours");
}

static void
test_err_special(void **state)
{
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "special = (\n"
	    "  { date = \"2026-12-31\"; hours = [\"09:00-12:00\"]; },\n"
	    "  { date = \"2026-12-31\"; hours = []; }\n"
	    ");\n", 13,
	    "2026-12-31 already has special hours (line 12); merge the two "
	    "entries");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "special = (\n"
	    "  { date = \"2026-12-31\";\n"
	    "    hours = [\"09:00-25:00\"]; }\n"
	    ");\n", 13,
	    "bad time \"25:00\" in \"09:00-25:00\": use HH:MM with hours 00-23 "
	    "and minutes 00-59 (\"24:00\" only as an end)");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "special = ( { date = \"2026-02-29\"; hours = []; } );\n", 11,
	    "bad date \"2026-02-29\": February 2026 has 28 days");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "special = ( { hours = []; } );\n", 11,
	    "special entry has no date; add date = \"YYYY-MM-DD\";");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "special = ( { date = \"2026-12-31\"; } );\n", 11,
	    "special entry has no hours; add hours = [\"09:00-12:00\"]; or "
	    "hours = []; for closed");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "special = ( { date = \"2026-12-31\"; hours = [];\n"
	    "  note = \"half day\"; } );\n", 12,
	    "unknown setting \"note\" in a special entry; it takes only date "
	    "and hours");
	expect_err(
	    "name = \"x\";\n"
	    WEEK
	    "special = { date = \"2026-12-31\"; hours = []; };\n", 11,
	    "special must be a list of groups, e.g. special = ( { date = "
	    "\"2026-12-31\"; hours = [\"09:00-12:00\"]; } );");
}

static void
test_err_missing_file(void **state)
{
	struct err e;

	err_clear(&e);
	assert_null(cal_load("/nonexistent/clerk/cal.cfg", &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_string_equal(e.msg,
	    "/nonexistent/clerk/cal.cfg: No such file or directory");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_shipped_calendars,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_open_at_boundaries,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_lunch_gap,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_weekend_closed,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_holiday_closed,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_makeup_workday_open,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_next_open_friday_evening,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_next_open_when_open_is_now,
		    cn_setup, cn_teardown),
		cmocka_unit_test_setup_teardown(test_next_open_after_holiday,
		    cn_setup, cn_teardown),
		cmocka_unit_test(test_special_hours),
		cmocka_unit_test(test_makeup_hours_other_day),
		cmocka_unit_test(test_all_day),
		cmocka_unit_test(test_next_open_horizon),
		cmocka_unit_test_teardown(test_dst_gap, tz_restore),
		cmocka_unit_test(test_readme_example),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_bad_time),
		cmocka_unit_test(test_err_end_before_start),
		cmocka_unit_test(test_err_bad_date),
		cmocka_unit_test(test_err_unknown_weekday),
		cmocka_unit_test(test_err_holiday_range_reversed),
		cmocka_unit_test(test_err_holiday_and_makeup),
		cmocka_unit_test(test_err_missing_name),
		cmocka_unit_test(test_err_unknown_setting),
		cmocka_unit_test(test_err_makeup_hours),
		cmocka_unit_test(test_err_special),
		cmocka_unit_test(test_err_missing_file),
	};

	/* the expectations are Shanghai local times, whatever the caller's TZ */
	tz_set("Asia/Shanghai");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
