/*
 * calendar.c - business calendars read from libconfig files.
 *
 * A calendar answers one question for the scheduler: may work run at local
 * time t, and if not, when next? The hours for a date come from, in order
 * of precedence: a `special` entry for that date, a public holiday (closed),
 * a 调休 make-up workday (the hours of `makeup_hours`), the weekly hours.
 * The format is documented in playbooks/calendars/README.md.
 *
 * Dates are kept as day numbers (days since 1970-01-01 in the civil
 * calendar) and times of day as seconds since local midnight, both taken
 * from the wall clock, so "09:00" means 09:00 on the office clock whatever
 * daylight saving time does to the UTC offset.
 */
#include "calendar.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAL_DAY 86400
#define CAL_LOOKAHEAD_DAYS 400

struct cal_span {
	int start, end;   /* seconds since local midnight; end exclusive */
};

struct cal_hours {
	struct cal_span *spans;   /* sorted by start */
	size_t n;
};

struct cal_range {
	int64_t from, to;   /* day numbers, inclusive */
	int line;
};

struct cal_date {
	int64_t day;
	int line;
	struct cal_hours hours;   /* special dates only */
};

struct calendar {
	char *name;
	struct cal_hours week[7];   /* index as tm_wday: 0 = Sunday */
	struct cal_range *holidays;
	size_t nholidays;
	struct cal_date *makeup;
	size_t nmakeup;
	int makeup_wday;
	struct cal_date *special;
	size_t nspecial;
};

/* Indexed as tm_wday. */
static const char *const cal_wdays[7] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};

static const char *const cal_months[12] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"
};

/* What a load needs to word its errors. */
struct cal_ctx {
	const char *path;
	const char *text;        /* the file, to place array elements */
	const char **lines;      /* start of each line, 1-based */
	int nlines;
	struct err *e;
};

static int
cal_wday_of(int64_t day)
{
	/* 1970-01-01 was a Thursday */
	return (int)(((day % 7) + 7 + 4) % 7);
}

/* Local wall clock of t as seconds since 1970-01-01 00:00 on that clock. */
static int64_t
cal_wall(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return t;
	return t + tm.tm_gmtoff;
}

/*
 * Earliest instant after `after` whose wall clock reads w. When w does
 * not exist (clocks jump forward over it) the answer is the first instant
 * whose wall clock is past w, i.e. the moment of the jump: an office that
 * opens at 02:30 on that night opens when the clock shows 03:00. -1 when
 * every instant reading w is not after `after`.
 */
static int64_t
cal_wall_to_time(int64_t w, int64_t after)
{
	int64_t best = -1, lo, hi;
	long offs[3], omin, omax;

	for (int i = 0; i < 3; i++) {
		time_t probe = (time_t)(w + (i - 1) * CAL_DAY);
		struct tm tm;

		offs[i] = localtime_r(&probe, &tm) != NULL ? tm.tm_gmtoff : 0;
	}
	omin = omax = offs[0];
	for (int i = 0; i < 3; i++) {
		int64_t cand = w - offs[i];

		if (offs[i] < omin)
			omin = offs[i];
		if (offs[i] > omax)
			omax = offs[i];
		if (cand > after && (best == -1 || cand < best) &&
		    cal_wall(cand) == w)
			best = cand;
	}
	if (best != -1 || omin == omax)
		return best;
	lo = w - omax;
	hi = w - omin;
	if (cal_wall(lo) >= w || cal_wall(hi) < w)
		return -1;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (cal_wall(mid) >= w)
			hi = mid;
		else
			lo = mid;
	}
	return hi > after ? hi : -1;
}

static bool
cal_in_range(const struct cal_range *r, int64_t day)
{
	return day >= r->from && day <= r->to;
}

static const struct cal_hours *
cal_day_hours(const struct calendar *c, int64_t day)
{
	for (size_t i = 0; i < c->nspecial; i++)
		if (c->special[i].day == day)
			return &c->special[i].hours;
	for (size_t i = 0; i < c->nholidays; i++)
		if (cal_in_range(&c->holidays[i], day))
			return NULL;
	for (size_t i = 0; i < c->nmakeup; i++)
		if (c->makeup[i].day == day)
			return &c->week[c->makeup_wday];
	return &c->week[cal_wday_of(day)];
}

const char *
cal_name(const struct calendar *c)
{
	return c->name;
}

bool
cal_is_open(const struct calendar *c, int64_t t)
{
	const struct cal_hours *h;
	int64_t w = cal_wall(t), day, sod;

	day = w >= 0 ? w / CAL_DAY : -((-w + CAL_DAY - 1) / CAL_DAY);
	sod = w - day * CAL_DAY;
	if ((h = cal_day_hours(c, day)) == NULL)
		return false;
	for (size_t i = 0; i < h->n; i++)
		if (sod >= h->spans[i].start && sod < h->spans[i].end)
			return true;
	return false;
}

int64_t
cal_next_open(const struct calendar *c, int64_t t)
{
	int64_t w = cal_wall(t), day0, sod;

	if (cal_is_open(c, t))
		return t;
	day0 = w >= 0 ? w / CAL_DAY : -((-w + CAL_DAY - 1) / CAL_DAY);
	sod = w - day0 * CAL_DAY;
	for (int k = 0; k <= CAL_LOOKAHEAD_DAYS; k++) {
		const struct cal_hours *h = cal_day_hours(c, day0 + k);

		if (h == NULL)
			continue;
		for (size_t i = 0; i < h->n; i++) {
			const struct cal_span *s = &h->spans[i];
			int64_t base = (day0 + k) * CAL_DAY, at;

			if (k == 0 && s->start <= sod)
				continue;
			at = cal_wall_to_time(base + s->start, t);
			/* a span wholly inside a DST gap never opens */
			if (at == -1 || cal_wall(at) >= base + s->end)
				continue;
			return at;
		}
	}
	return -1;
}

static void
cal_hours_clear(struct cal_hours *h)
{
	free(h->spans);
	h->spans = NULL;
	h->n = 0;
}

void
cal_free(struct calendar *c)
{
	if (c == NULL)
		return;
	free(c->name);
	for (int i = 0; i < 7; i++)
		cal_hours_clear(&c->week[i]);
	free(c->holidays);
	free(c->makeup);
	for (size_t i = 0; i < c->nspecial; i++)
		cal_hours_clear(&c->special[i].hours);
	free(c->special);
	free(c);
}

/*
 * Line of a setting. libconfig stamps an array element with the line of
 * the token after it, so the last element of a multi-line array gets the
 * line of the closing bracket; look back for the element's own text.
 */
static int
cal_line(const struct cal_ctx *ctx, const config_setting_t *s)
{
	const config_setting_t *parent = config_setting_parent(s);
	const char *file = config_setting_source_file(s), *val;
	int line = config_setting_source_line(s), lo;
	size_t vlen;

	if (config_setting_name(s) != NULL || parent == NULL ||
	    config_setting_type(s) != CONFIG_TYPE_STRING ||
	    (file != NULL && strcmp(file, ctx->path) != 0) ||
	    line < 1 || line > ctx->nlines)
		return line;
	val = config_setting_get_string(s);
	vlen = strlen(val);
	lo = config_setting_source_line(parent);
	if (lo < 1)
		lo = 1;
	for (int ln = line; ln >= lo; ln--) {
		const char *p = ctx->lines[ln - 1];
		const char *end = ln < ctx->nlines ? ctx->lines[ln] : p + strlen(p);

		for (; p + vlen + 2 <= end; p++)
			if (p[0] == '"' && p[vlen + 1] == '"' &&
			    memcmp(p + 1, val, vlen) == 0)
				return ln;
	}
	return line;
}

static int
cal_err(const struct cal_ctx *ctx, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
cal_err(const struct cal_ctx *ctx, const config_setting_t *s,
    const char *fmt, ...)
{
	char msg[sizeof(ctx->e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_setc(ctx->e, ERR_INVALID, "%s:%d: %s", ctx->path,
	    s != NULL ? cal_line(ctx, s) : 1, msg);
	return -1;
}

static int
cal_wday_index(const char *name)
{
	for (int i = 0; i < 7; i++)
		if (strcmp(name, cal_wdays[i]) == 0)
			return i;
	return -1;
}

/* "HH:MM" at *pp; hours 0-24, 24 only as "24:00". */
static int
cal_parse_hhmm(const char **pp, int *out, bool *bad_range)
{
	const char *p = *pp;
	int h = 0, m, nd = 0;

	while (*p >= '0' && *p <= '9' && nd < 2) {
		h = h * 10 + (*p++ - '0');
		nd++;
	}
	if (nd == 0 || *p != ':' || !(p[1] >= '0' && p[1] <= '9') ||
	    !(p[2] >= '0' && p[2] <= '9'))
		return -1;
	m = (p[1] - '0') * 10 + (p[2] - '0');
	*pp = p + 3;
	if (h > 24 || m > 59 || (h == 24 && m != 0)) {
		*bad_range = true;
		return -1;
	}
	*out = h * 3600 + m * 60;
	return 0;
}

static int
cal_parse_span(const struct cal_ctx *ctx, const config_setting_t *s,
    struct cal_span *span)
{
	const char *text = config_setting_get_string(s), *p = text, *tok;
	bool bad_range = false;

	if (text == NULL)
		return cal_err(ctx, s, "hours must be strings like "
		    "\"09:00-12:00\"");
	tok = p;
	if (cal_parse_hhmm(&p, &span->start, &bad_range) < 0)
		goto bad;
	if (span->start == 24 * 3600) {
		bad_range = true;
		goto bad;
	}
	if (*p++ != '-')
		goto syntax;
	tok = p;
	if (cal_parse_hhmm(&p, &span->end, &bad_range) < 0)
		goto bad;
	if (*p != '\0')
		goto syntax;
	if (span->end < span->start)
		return cal_err(ctx, s, "hours \"%s\" end before they start; a "
		    "span cannot cross midnight: split it, e.g. \"22:00-24:00\" "
		    "on one day and \"00:00-06:00\" on the next", text);
	if (span->end == span->start)
		return cal_err(ctx, s, "hours \"%s\" are empty; remove them or "
		    "give an end after the start", text);
	return 0;
bad:
	if (bad_range)
		return cal_err(ctx, s, "bad time \"%.*s\" in \"%s\": use HH:MM "
		    "with hours 00-23 and minutes 00-59 (\"24:00\" only as an "
		    "end)", (int)(p - tok), tok, text);
syntax:
	return cal_err(ctx, s, "bad hours \"%s\": write \"HH:MM-HH:MM\", e.g. "
	    "\"09:00-12:00\"; \"00:00-24:00\" is all day", text);
}

static int
cal_span_cmp(const void *a, const void *b)
{
	const struct cal_span *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/* An array or list of "HH:MM-HH:MM" strings; [] is closed. */
static int
cal_parse_hours(const struct cal_ctx *ctx, const config_setting_t *s,
    const char *what, struct cal_hours *h)
{
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return cal_err(ctx, s, "%s must be a list of spans like "
		    "[\"09:00-12:00\", \"13:30-17:30\"], or [] for closed", what);
	n = config_setting_length(s);
	h->spans = xcalloc((size_t)n, sizeof(*h->spans));
	h->n = 0;
	for (int i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING)
			return cal_err(ctx, el, "%s must be a list of strings like "
			    "\"09:00-12:00\"", what);
		if (cal_parse_span(ctx, el, &h->spans[h->n]) < 0)
			return -1;
		h->n++;
	}
	qsort(h->spans, h->n, sizeof(*h->spans), cal_span_cmp);
	return 0;
}

/* Strict "YYYY-MM-DD" at the start of text, len bytes long. */
static int
cal_parse_date(const struct cal_ctx *ctx, const config_setting_t *s,
    const char *text, size_t len, int64_t *day)
{
	int v[3] = { 0, 0, 0 }, widths[3] = { 4, 2, 2 };
	const char *p = text;

	for (int f = 0; f < 3; f++) {
		for (int i = 0; i < widths[f]; i++, p++) {
			if ((size_t)(p - text) >= len || *p < '0' || *p > '9')
				goto syntax;
			v[f] = v[f] * 10 + (*p - '0');
		}
		if (f < 2 && ((size_t)(p - text) >= len || *p++ != '-'))
			goto syntax;
	}
	if ((size_t)(p - text) != len)
		goto syntax;
	if (v[1] < 1 || v[1] > 12)
		return cal_err(ctx, s, "bad date \"%.*s\": there is no month %d",
		    (int)len, text, v[1]);
	if (v[2] < 1 || v[2] > util_month_days(v[0], v[1]))
		return cal_err(ctx, s, "bad date \"%.*s\": %s %d has %d days",
		    (int)len, text, cal_months[v[1] - 1], v[0],
		    util_month_days(v[0], v[1]));
	*day = util_days_from_civil(v[0], v[1], v[2]);
	return 0;
syntax:
	return cal_err(ctx, s, "bad date \"%.*s\": write dates as YYYY-MM-DD, "
	    "e.g. \"2026-10-01\"", (int)len, text);
}

static int
cal_date_list(const struct cal_ctx *ctx, const config_setting_t *s,
    const char *what)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return cal_err(ctx, s, "%s must be a list of dates, e.g. "
		    "%s = [\"2026-10-01\"];", what, what);
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING)
			return cal_err(ctx, el, "%s must hold dates as strings, "
			    "e.g. \"2026-10-01\"", what);
	}
	return 0;
}

static int
cal_load_hours(const struct cal_ctx *ctx, struct calendar *c,
    const config_setting_t *s)
{
	if (!config_setting_is_group(s))
		return cal_err(ctx, s, "hours must be a group of weekdays, e.g. "
		    "hours = { mon = [\"09:00-17:00\"]; sat = []; };");
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *d = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(d);
		int wd = cal_wday_index(name);
		char what[32];

		if (wd < 0)
			return cal_err(ctx, d, "unknown weekday \"%s\" in hours; "
			    "use mon, tue, wed, thu, fri, sat, sun", name);
		snprintf(what, sizeof(what), "hours.%s", name);
		if (cal_parse_hours(ctx, d, what, &c->week[wd]) < 0)
			return -1;
	}
	return 0;
}

static int
cal_load_holidays(const struct cal_ctx *ctx, struct calendar *c,
    const config_setting_t *s)
{
	int n;

	if (cal_date_list(ctx, s, "holidays") < 0)
		return -1;
	n = config_setting_length(s);
	c->holidays = xcalloc((size_t)n, sizeof(*c->holidays));
	for (int i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(el);
		const char *dots = strstr(text, "..");
		struct cal_range *r = &c->holidays[c->nholidays];

		r->line = cal_line(ctx, el);
		if (dots == NULL) {
			if (cal_parse_date(ctx, el, text, strlen(text), &r->from) < 0)
				return -1;
			r->to = r->from;
		} else {
			if (cal_parse_date(ctx, el, text, (size_t)(dots - text),
			    &r->from) < 0 || cal_parse_date(ctx, el, dots + 2,
			    strlen(dots + 2), &r->to) < 0)
				return -1;
			if (r->to < r->from)
				return cal_err(ctx, el, "holiday range \"%s\" ends "
				    "before it starts; write the earlier date first",
				    text);
		}
		c->nholidays++;
	}
	return 0;
}

static int
cal_load_makeup(const struct cal_ctx *ctx, struct calendar *c,
    const config_setting_t *s)
{
	int n;

	if (cal_date_list(ctx, s, "makeup_workdays") < 0)
		return -1;
	n = config_setting_length(s);
	c->makeup = xcalloc((size_t)n, sizeof(*c->makeup));
	for (int i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(el);
		struct cal_date *d = &c->makeup[c->nmakeup];

		if (cal_parse_date(ctx, el, text, strlen(text), &d->day) < 0)
			return -1;
		d->line = cal_line(ctx, el);
		for (size_t j = 0; j < c->nholidays; j++)
			if (cal_in_range(&c->holidays[j], d->day))
				return cal_err(ctx, el, "%s is both a holiday (line "
				    "%d) and a make-up workday; check the official "
				    "notice and remove it from one list", text,
				    c->holidays[j].line);
		c->nmakeup++;
	}
	return 0;
}

static int
cal_load_special(const struct cal_ctx *ctx, struct calendar *c,
    const config_setting_t *s)
{
	int n;

	if (!config_setting_is_list(s))
		return cal_err(ctx, s, "special must be a list of groups, e.g. "
		    "special = ( { date = \"2026-12-31\"; hours = "
		    "[\"09:00-12:00\"]; } );");
	n = config_setting_length(s);
	c->special = xcalloc((size_t)n, sizeof(*c->special));
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		config_setting_t *date, *hours;
		struct cal_date *d = &c->special[c->nspecial];
		const char *text;

		if (!config_setting_is_group(g))
			return cal_err(ctx, g, "each special entry must be a group "
			    "{ date = \"YYYY-MM-DD\"; hours = [...]; }");
		for (int j = 0; j < config_setting_length(g); j++) {
			config_setting_t *m = config_setting_get_elem(g, (unsigned)j);
			const char *name = config_setting_name(m);

			if (strcmp(name, "date") != 0 && strcmp(name, "hours") != 0)
				return cal_err(ctx, m, "unknown setting \"%s\" in a "
				    "special entry; it takes only date and hours",
				    name);
		}
		date = config_setting_get_member(g, "date");
		hours = config_setting_get_member(g, "hours");
		if (date == NULL)
			return cal_err(ctx, g, "special entry has no date; add "
			    "date = \"YYYY-MM-DD\";");
		if (hours == NULL)
			return cal_err(ctx, g, "special entry has no hours; add "
			    "hours = [\"09:00-12:00\"]; or hours = []; for closed");
		if ((text = config_setting_get_string(date)) == NULL)
			return cal_err(ctx, date, "date must be a string like "
			    "\"2026-12-31\"");
		if (cal_parse_date(ctx, date, text, strlen(text), &d->day) < 0)
			return -1;
		d->line = cal_line(ctx, date);
		for (size_t j = 0; j < c->nspecial; j++)
			if (c->special[j].day == d->day)
				return cal_err(ctx, date, "%s already has special "
				    "hours (line %d); merge the two entries", text,
				    c->special[j].line);
		c->nspecial++;
		if (cal_parse_hours(ctx, hours, "special hours", &d->hours) < 0)
			return -1;
	}
	return 0;
}

static int
cal_load_cfg(const struct cal_ctx *ctx, struct calendar *c, config_t *cfg)
{
	static const char *const known[] = { "name", "hours", "holidays",
	    "makeup_workdays", "makeup_hours", "special", NULL };
	config_setting_t *root = config_root_setting(cfg), *s;
	const char *name, *mh;

	/* a misspelt "holiday" would otherwise leave every holiday open */
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *m = config_setting_get_elem(root, (unsigned)i);
		const char *mname = config_setting_name(m);
		int k;

		for (k = 0; known[k] != NULL; k++)
			if (strcmp(mname, known[k]) == 0)
				break;
		if (known[k] == NULL)
			return cal_err(ctx, m, "unknown setting \"%s\"; a calendar "
			    "has name, hours, holidays, makeup_workdays, "
			    "makeup_hours and special", mname);
	}

	if ((s = config_setting_get_member(root, "name")) == NULL)
		return cal_err(ctx, NULL, "no name; add a line such as "
		    "name = \"cn-workdays\"; (playbooks refer to the calendar by "
		    "it)");
	if ((name = config_setting_get_string(s)) == NULL || *name == '\0' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") != strlen(name))
		return cal_err(ctx, s, "name must be a non-empty string of "
		    "letters, digits, '-', '_' and '.', e.g. \"cn-workdays\"");
	c->name = xstrdup(name);

	if ((s = config_setting_get_member(root, "hours")) == NULL)
		return cal_err(ctx, NULL, "no hours; add the weekly opening "
		    "hours, e.g. hours = { mon = [\"09:00-17:00\"]; };");
	if (cal_load_hours(ctx, c, s) < 0)
		return -1;

	if ((s = config_setting_get_member(root, "holidays")) != NULL &&
	    cal_load_holidays(ctx, c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(root, "makeup_workdays")) != NULL &&
	    cal_load_makeup(ctx, c, s) < 0)
		return -1;

	c->makeup_wday = 1;
	if ((s = config_setting_get_member(root, "makeup_hours")) != NULL) {
		if ((mh = config_setting_get_string(s)) == NULL ||
		    (c->makeup_wday = cal_wday_index(mh)) < 0)
			return cal_err(ctx, s, "makeup_hours must name a weekday "
			    "whose hours make-up workdays use: \"mon\", \"tue\", "
			    "\"wed\", \"thu\", \"fri\", \"sat\" or \"sun\"");
	}
	if (s == NULL)
		s = config_setting_get_member(root, "makeup_workdays");
	if (c->nmakeup > 0 && c->week[c->makeup_wday].n == 0)
		return cal_err(ctx, s, "make-up workdays take "
		    "the hours of %s, which has none, so they would stay "
		    "closed; set makeup_hours to a weekday with hours",
		    cal_wdays[c->makeup_wday]);

	if ((s = config_setting_get_member(root, "special")) != NULL &&
	    cal_load_special(ctx, c, s) < 0)
		return -1;
	return 0;
}

struct calendar *
cal_load(const char *path, struct err *e)
{
	struct cal_ctx ctx = { .path = path, .e = e };
	struct calendar *c = NULL;
	config_t cfg;
	char *text, *dir, *slash;
	size_t len;
	int cap = 0;

	if ((text = util_read_file(path, &len, e)) == NULL)
		return NULL;
	ctx.text = text;
	for (const char *p = text; p != NULL && *p != '\0'; ) {
		if (ctx.nlines == cap) {
			cap = cap ? cap * 2 : 64;
			ctx.lines = xrealloc(ctx.lines, (size_t)cap * sizeof(*ctx.lines));
		}
		ctx.lines[ctx.nlines++] = p;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}

	config_init(&cfg);
	/* @include "x.cfg" is read next to the calendar, not the daemon's cwd */
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		config_set_include_dir(&cfg, *dir != '\0' ? dir : "/");
	}
	if (!config_read_file(&cfg, path)) {
		const char *file = config_error_file(&cfg);

		const char *etext = config_error_text(&cfg);

		if (file == NULL)
			file = path;
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			err_setc(e, ERR_FAIL, "%s: cannot read: %s", file,
			    strerror(errno));
		else if (etext != NULL && strcmp(etext, "syntax error") == 0)
			/* an unclosed quote is only noticed lines later */
			err_setc(e, ERR_INVALID, "%s:%d: syntax error; look on "
			    "this line and the ones before it for a missing ';', "
			    "an unclosed quote or bracket (format: "
			    "playbooks/calendars/README.md)", file,
			    config_error_line(&cfg));
		else
			err_setc(e, ERR_INVALID, "%s:%d: %s (format: "
			    "playbooks/calendars/README.md)", file,
			    config_error_line(&cfg), etext != NULL ? etext : "error");
		goto out;
	}
	c = xcalloc(1, sizeof(*c));
	if (cal_load_cfg(&ctx, c, &cfg) < 0) {
		cal_free(c);
		c = NULL;
	}
out:
	config_destroy(&cfg);
	free(dir);
	free(ctx.lines);
	free(text);
	return c;
}
