/*
 * local_time.h - time helpers shared by the cron and calendar tests:
 * switching the process time zone and building local or UTC instants.
 */
#ifndef CLERK_TEST_LOCAL_TIME_H
#define CLERK_TEST_LOCAL_TIME_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline void
tz_set(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* cmocka teardown: back to the zone the suite runs in. */
static inline int
tz_restore(void **state)
{
	(void)state;
	tz_set("Asia/Shanghai");
	return 0;
}

static inline struct tm
civil(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { 0 };

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return tm;
}

/* Local time in the current zone. */
static inline int64_t
lt(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = civil(y, mo, d, h, mi, s);

	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

static inline int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = civil(y, mo, d, h, mi, s);

	return (int64_t)timegm(&tm);
}

#endif
