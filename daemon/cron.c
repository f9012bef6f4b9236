/*
 * cron.c - cron expressions and their next firing time.
 *
 * The matcher walks wall-clock fields (year, month, day, hour, minute,
 * second) and skips whole months, days, hours and minutes that cannot
 * match, so even "0 0 29 2 *" costs a few thousand cheap steps, not a scan
 * of every second. Only a matching wall time is turned into an instant, and
 * that conversion is where daylight saving time is dealt with:
 *
 *  - a wall time that does not exist (clocks jump forward over it) is
 *    skipped, not moved to the next valid minute, so it never fires twice;
 *  - a wall time that exists twice (clocks go back) fires at its earliest
 *    instant after `after`; since the search moves forward in wall-clock
 *    order from the wall time just after `after`, the repeated hour is not
 *    replayed, so a daily job at 02:30 runs once on that day too.
 */
#include "cron.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct cron {
	uint64_t sec;     /* bits 0-59 */
	uint64_t min;     /* bits 0-59 */
	uint32_t hour;    /* bits 0-23 */
	uint32_t dom;     /* bits 1-31 */
	uint16_t mon;     /* bits 1-12 */
	uint8_t dow;      /* bits 0-6, 0 = Sunday */
	/*
	 * Vixie cron's rule: a field written starting with '*' (also "*\/2")
	 * does not restrict the day, so dom and dow are ANDed; when both are
	 * restricted a day matches if either does.
	 */
	bool dom_star;
	bool dow_star;
};

enum cron_field { CF_SEC, CF_MIN, CF_HOUR, CF_DOM, CF_MON, CF_DOW };

static const char *const cron_months[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const cron_days[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const struct cron_fspec {
	const char *name;
	int min, max;
	const char *const *names;   /* names[i] means min + i */
	const char *hint;
} cron_fspecs[] = {
	[CF_SEC]  = { "second", 0, 59, NULL, "0-59" },
	[CF_MIN]  = { "minute", 0, 59, NULL, "0-59" },
	[CF_HOUR] = { "hour", 0, 23, NULL, "0-23" },
	[CF_DOM]  = { "day-of-month", 1, 31, NULL, "1-31" },
	[CF_MON]  = { "month", 1, 12, cron_months, "1-12 or JAN-DEC" },
	/* 7 is accepted as a second Sunday and folded onto 0 */
	[CF_DOW]  = { "day-of-week", 0, 7, cron_days, "0-7 or SUN-SAT" },
};

static const struct {
	const char *name;
	const char *expr;
} cron_macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

#define CRON_MAXFIELDS 6
#define CRON_LOOKAHEAD_YEARS 5

/*
 * One value: a number or, where the field has them, a three-letter name.
 * *pp is advanced past it. Returns 0, or -1 with e filled.
 */
static int
cron_value(const char *expr, const struct cron_fspec *fs, const char **pp,
    int *out, struct err *e)
{
	const char *p = *pp, *start = p;
	long v = 0;

	if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p)) {
			/* stop growing, but keep the digits for the message */
			if (v < 1000000)
				v = v * 10 + (*p - '0');
			p++;
		}
		if (v < fs->min || v > fs->max) {
			err_setc(e, ERR_INVALID, "cron \"%s\": %s field: %.*s is "
			    "out of range %d-%d", expr, fs->name, (int)(p - start),
			    start, fs->min, fs->max);
			return -1;
		}
		*out = (int)v;
		*pp = p;
		return 0;
	}
	if (isalpha((unsigned char)*p) && fs->names != NULL) {
		while (isalpha((unsigned char)*p))
			p++;
		for (int i = 0; fs->names[i] != NULL; i++) {
			if (p - start == 3 && strncasecmp(start, fs->names[i], 3) == 0) {
				*out = fs->min + i;
				*pp = p;
				return 0;
			}
		}
		err_setc(e, ERR_INVALID, "cron \"%s\": %s field: \"%.*s\" is not "
		    "a %s name; use %s", expr, fs->name, (int)(p - start), start,
		    fs->names == cron_months ? "month" : "weekday", fs->hint);
		return -1;
	}
	if (isalpha((unsigned char)*p)) {
		while (isalpha((unsigned char)*p))
			p++;
		err_setc(e, ERR_INVALID, "cron \"%s\": %s field: \"%.*s\" is not "
		    "a number; use %s", expr, fs->name, (int)(p - start), start,
		    fs->hint);
		return -1;
	}
	return 1;   /* no value here; the caller reports the syntax */
}

/*
 * Parses one field ("*", "5", "1-5", "*\/15", "0-30/10", "MON,WED,FRI",
 * "10/5" = 10 to the end in steps of 5) of length len into bits.
 */
static int
cron_field_parse(const char *expr, enum cron_field f, const char *text,
    size_t len, uint64_t *bits, bool *star, struct err *e)
{
	const struct cron_fspec *fs = &cron_fspecs[f];
	char *buf = xmalloc(len + 1);
	char *item, *save = NULL;
	uint64_t set = 0;
	int rc = -1;

	memcpy(buf, text, len);
	buf[len] = '\0';
	*star = buf[0] == '*';
	if (len == 0 || buf[len - 1] == ',' || buf[0] == ',' ||
	    strstr(buf, ",,") != NULL)
		goto syntax;

	for (item = strtok_r(buf, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		const char *p = item;
		int lo, hi, step = 1, r;
		bool ranged = false;

		if (*p == '*') {
			lo = fs->min;
			hi = fs->max == 7 ? 6 : fs->max;
			p++;
			ranged = true;
		} else {
			if ((r = cron_value(expr, fs, &p, &lo, e)) < 0)
				goto out;
			if (r > 0)
				goto syntax;
			hi = lo;
			if (*p == '-') {
				p++;
				if ((r = cron_value(expr, fs, &p, &hi, e)) < 0)
					goto out;
				if (r > 0)
					goto syntax;
				/* "FRI-SUN" and "5-0" end on the second Sunday, 7 */
				if (f == CF_DOW && hi == 0 && lo > 0)
					hi = 7;
				if (hi < lo) {
					err_setc(e, ERR_INVALID, "cron \"%s\": %s field: "
					    "range %s goes backwards; write the smaller "
					    "value first, or a list such as 22-23,0-2 for "
					    "a range across the wrap-around", expr,
					    fs->name, item);
					goto out;
				}
				ranged = true;
			}
		}
		if (*p == '/') {
			const char *s = ++p;
			long n = 0;

			while (isdigit((unsigned char)*p)) {
				if (n < 1000000)
					n = n * 10 + (*p - '0');
				p++;
			}
			if (p == s || *p != '\0')
				goto syntax;
			if (n == 0) {
				err_setc(e, ERR_INVALID, "cron \"%s\": %s field: step "
				    "0 is not allowed; use a step of 1 or more",
				    expr, fs->name);
				goto out;
			}
			if (n > fs->max - fs->min) {
				/* "*\/90" in minutes means "every 90 minutes" to
				 * people and "at :00" to cron; refuse the trap */
				err_setc(e, ERR_INVALID, "cron \"%s\": %s field: step "
				    "%.*s is larger than the range %d-%d, so it would "
				    "match only once; cron cannot express that "
				    "interval, use an interval trigger instead",
				    expr, fs->name, (int)(p - s), s, fs->min,
				    fs->max);
				goto out;
			}
			step = (int)n;
			if (!ranged) {
				/* "A/N" runs to the end of the field; for the
				 * weekday, 7 is Sunday again, so "7/N" is
				 * "0/N", not an empty set. */
				if (fs->max == 7 && lo == 7)
					lo = 0;
				hi = fs->max == 7 ? 6 : fs->max;
			}
		}
		if (*p != '\0')
			goto syntax;
		for (int v = lo; v <= hi; v += step)
			set |= (uint64_t)1 << v;
	}
	if (f == CF_DOW && (set & (1u << 7))) {
		set &= ~(uint64_t)(1u << 7);
		set |= 1;
	}
	*bits = set;
	rc = 0;
	goto out;
syntax:
	err_setc(e, ERR_INVALID, "cron \"%s\": %s field: cannot parse \"%.*s\"; "
	    "use *, a value (%s), a range A-B, a list A,B and steps */N or "
	    "A-B/N", expr, fs->name, (int)len, text, fs->hint);
out:
	free(buf);
	return rc;
}

struct cron *
cron_parse(const char *expr, struct err *e)
{
	const char *fields[CRON_MAXFIELDS];
	size_t lens[CRON_MAXFIELDS];
	const char *orig = expr, *p;
	struct cron *c;
	uint64_t bits[CRON_MAXFIELDS];
	bool star[CRON_MAXFIELDS];
	int n = 0, first;

	if (expr == NULL)
		expr = orig = "";
	p = expr;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '@') {
		const char *end = p;
		size_t i;

		while (*end != '\0' && !isspace((unsigned char)*end))
			end++;
		for (i = 0; i < sizeof(cron_macros) / sizeof(cron_macros[0]); i++)
			if ((size_t)(end - p) == strlen(cron_macros[i].name) &&
			    strncasecmp(p, cron_macros[i].name, end - p) == 0)
				break;
		while (isspace((unsigned char)*end))
			end++;
		if (i == sizeof(cron_macros) / sizeof(cron_macros[0]) ||
		    *end != '\0') {
			err_setc(e, ERR_INVALID, "cron \"%s\": unknown macro; use "
			    "@yearly, @annually, @monthly, @weekly, @daily, "
			    "@midnight or @hourly, or five fields \"min hour dom "
			    "month dow\"", orig);
			return NULL;
		}
		/* the macro's own text is well-formed, so errors name orig */
		p = cron_macros[i].expr;
	}

	while (*p != '\0') {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		if (n == CRON_MAXFIELDS) {
			n++;
			break;
		}
		fields[n] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		lens[n] = (size_t)(p - fields[n]);
		n++;
	}
	if (n == 0) {
		err_setc(e, ERR_INVALID, "cron \"%s\": empty expression; write "
		    "five fields \"min hour dom month dow\", e.g. \"0 9 * * 1-5\"",
		    orig);
		return NULL;
	}
	if (n != 5 && n != 6) {
		if (n > CRON_MAXFIELDS)
			err_setc(e, ERR_INVALID, "cron \"%s\": too many fields; "
			    "expected 5 (min hour dom month dow) or 6 (sec min "
			    "hour dom month dow)", orig);
		else
			err_setc(e, ERR_INVALID, "cron \"%s\": expected 5 fields "
			    "(min hour dom month dow) or 6 (sec min hour dom month "
			    "dow), got %d", orig, n);
		return NULL;
	}

	first = n == 6 ? CF_SEC : CF_MIN;
	for (int i = 0; i < n; i++) {
		if (cron_field_parse(orig, (enum cron_field)(first + i), fields[i],
		    lens[i], &bits[first + i], &star[first + i], e) < 0)
			return NULL;
	}
	if (n == 5)
		bits[CF_SEC] = 1;

	c = xcalloc(1, sizeof(*c));
	c->sec = bits[CF_SEC];
	c->min = bits[CF_MIN];
	c->hour = (uint32_t)bits[CF_HOUR];
	c->dom = (uint32_t)bits[CF_DOM];
	c->mon = (uint16_t)bits[CF_MON];
	c->dow = (uint8_t)bits[CF_DOW];
	c->dom_star = star[CF_DOM];
	c->dow_star = star[CF_DOW];
	return c;
}

void
cron_free(struct cron *c)
{
	free(c);
}

/* 0 = Sunday; Sakamoto's method, valid for the Gregorian calendar. */
static int
cron_wday(int y, int m, int d)
{
	static const int t[] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };

	if (m < 3)
		y--;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

struct cron_wall {
	int year, mon, mday, hour, min, sec;   /* mon 1-12 */
};

static int
cron_wall_of(int64_t t, struct cron_wall *w)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return -1;
	w->year = tm.tm_year + 1900;
	w->mon = tm.tm_mon + 1;
	w->mday = tm.tm_mday;
	w->hour = tm.tm_hour;
	w->min = tm.tm_min;
	w->sec = tm.tm_sec;
	return 0;
}

static bool
cron_wall_eq(const struct cron_wall *a, const struct cron_wall *b)
{
	return a->year == b->year && a->mon == b->mon && a->mday == b->mday &&
	    a->hour == b->hour && a->min == b->min && a->sec == b->sec;
}

/*
 * Earliest instant after `after` whose local wall time is w, or -1 when
 * there is none (w falls in a spring-forward gap, or all its instants are
 * not after `after`). mktime's tm_isdst guessing differs between libcs and
 * cannot name the second of two instants, so try the UTC offsets in force
 * a day either side and keep the candidates that read back as w.
 */
static int64_t
cron_wall_to_time(const struct cron_wall *w, int64_t after)
{
	struct tm tm = { 0 };
	struct cron_wall back;
	int64_t g, best = -1;
	long offs[3];

	tm.tm_year = w->year - 1900;
	tm.tm_mon = w->mon - 1;
	tm.tm_mday = w->mday;
	tm.tm_hour = w->hour;
	tm.tm_min = w->min;
	tm.tm_sec = w->sec;
	g = (int64_t)timegm(&tm);
	for (int i = 0; i < 3; i++) {
		time_t probe = (time_t)(g + (i - 1) * 86400);
		struct tm lt;

		offs[i] = localtime_r(&probe, &lt) != NULL ? lt.tm_gmtoff : 0;
	}
	for (int i = 0; i < 3; i++) {
		int64_t cand = g - offs[i];

		if (cand <= after || (best != -1 && cand >= best))
			continue;
		if (cron_wall_of(cand, &back) == 0 && cron_wall_eq(&back, w))
			best = cand;
	}
	return best;
}

static bool
cron_day_matches(const struct cron *c, const struct cron_wall *w)
{
	bool dom = c->dom & (1u << w->mday);
	bool dow = c->dow & (1u << cron_wday(w->year, w->mon, w->mday));

	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

static void
cron_next_day(struct cron_wall *w)
{
	w->hour = w->min = w->sec = 0;
	if (++w->mday > util_month_days(w->year, w->mon)) {
		w->mday = 1;
		if (++w->mon > 12) {
			w->mon = 1;
			w->year++;
		}
	}
}

/* One wall-clock second later. */
static void
cron_wall_step(struct cron_wall *w)
{
	if (++w->sec > 59) {
		w->sec = 0;
		if (++w->min > 59) {
			w->min = 0;
			if (++w->hour > 23)
				cron_next_day(w);
		}
	}
}

int64_t
cron_next(const struct cron *c, int64_t after)
{
	struct cron_wall w;
	int limit;

	if (c == NULL)
		return -1;
	/*
	 * Start at the wall time one second after after's, not at the wall
	 * time of after + 1: when clocks go back those differ, and starting
	 * from the later wall time is what keeps the repeated hour from being
	 * replayed.
	 */
	if (cron_wall_of(after, &w) < 0)
		return -1;
	limit = w.year + CRON_LOOKAHEAD_YEARS;
	cron_wall_step(&w);

	while (w.year <= limit) {
		int64_t t;

		if (!(c->mon & (1u << w.mon))) {
			w.mday = 1;
			w.hour = w.min = w.sec = 0;
			if (++w.mon > 12) {
				w.mon = 1;
				w.year++;
			}
			continue;
		}
		if (!cron_day_matches(c, &w)) {
			cron_next_day(&w);
			continue;
		}
		if (!(c->hour & (1u << w.hour))) {
			w.min = w.sec = 0;
			if (++w.hour > 23)
				cron_next_day(&w);
			continue;
		}
		if (!(c->min & ((uint64_t)1 << w.min))) {
			w.sec = 0;
			if (++w.min > 59) {
				w.min = 0;
				if (++w.hour > 23)
					cron_next_day(&w);
			}
			continue;
		}
		if ((c->sec & ((uint64_t)1 << w.sec)) &&
		    (t = cron_wall_to_time(&w, after)) != -1)
			return t;
		cron_wall_step(&w);
	}
	return -1;
}
