/*
 * playbook.c - loading and checking playbook files.
 */
#include "playbook.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

void
pb_diag_add(struct pb_diag *d, const config_setting_t *at, const char *fmt,
    ...)
{
	char msg[512];
	const char *file = d->file ? d->file : "playbook";
	int line = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL) {
		line = (int)config_setting_source_line(at);
		if (config_setting_source_file(at) != NULL)
			file = config_setting_source_file(at);
	}
	d->msgs = xrealloc(d->msgs, (d->n + 1) * sizeof(*d->msgs));
	if (line > 0)
		d->msgs[d->n++] = xasprintf("%s:%d: %s", file, line, msg);
	else
		d->msgs[d->n++] = xasprintf("%s: %s", file, msg);
}

void
pb_diag_clear(struct pb_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return false;
	return true;
}

static bool
key_in(const char *key, const char *const *keys)
{
	for (; keys != NULL && *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

/* Reports every member of group g whose name is not in the lists. */
static void
check_keys(const config_setting_t *g, const char *const *a,
    const char *const *b, const char *where, struct pb_diag *d)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);

		if (name != NULL && !key_in(name, a) && !key_in(name, b))
			pb_diag_add(d, m, "unknown setting \"%s\" in %s; check"
			    " its spelling (see playbooks/README.md)", name,
			    where);
	}
}

/* A string member, or NULL; wrong type is a problem. */
static const char *
get_string(const config_setting_t *g, const char *key, bool required,
    struct pb_diag *d)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s == NULL) {
		if (required)
			pb_diag_add(d, g, "missing \"%s\"", key);
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		pb_diag_add(d, s, "\"%s\" must be a string in double quotes",
		    key);
		return NULL;
	}
	return config_setting_get_string(s);
}

static int
get_int(const config_setting_t *g, const char *key, int def, int lo, int hi,
    struct pb_diag *d)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	long long v;

	if (s == NULL)
		return def;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		pb_diag_add(d, s, "\"%s\" must be a whole number", key);
		return def;
	}
	v = config_setting_get_int64(s);
	if (v < lo || v > hi) {
		pb_diag_add(d, s, "\"%s\" is %lld; it must be between %d and %d",
		    key, v, lo, hi);
		return def;
	}
	return (int)v;
}

int64_t
pb_setting_duration(const config_setting_t *g, const char *key,
    const char *def, struct pb_diag *d)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	struct err e;
	int64_t ms = 0;

	if (s == NULL) {
		util_parse_duration(def, &ms, NULL);
		return ms;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		pb_diag_add(d, s, "\"%s\" must be a duration string such as"
		    " \"10s\" or \"4h\"", key);
		return -1;
	}
	if (util_parse_duration(config_setting_get_string(s), &ms, &e) < 0) {
		pb_diag_add(d, s, "%s: %s", key, e.msg);
		return -1;
	}
	return ms;
}

const char *
pb_catch_up_name(enum pb_catch_up c)
{
	return c == CATCHUP_ONCE ? "once" : c == CATCHUP_ALL ? "all" : "none";
}

/*
 * catch_up = "none" | "once" | "all", catch_up_max, catch_up_within: what
 * a timer does with the slots it missed while clerkd was down. The
 * default is "none", what clerk always did: a run at the wrong time (a
 * reconciliation, a letter) is a decision the supervisor takes in writing.
 */
static void
load_catch_up(struct playbook *pb, const config_setting_t *t,
    struct pb_diag *d)
{
	const config_setting_t *c = config_setting_get_member(t, "catch_up"),
	    *max = config_setting_get_member(t, "catch_up_max"),
	    *within = config_setting_get_member(t, "catch_up_within");
	bool timer = pb->trigger == TRIG_CRON || pb->trigger == TRIG_INTERVAL;
	const char *v;

	pb->catch_up = CATCHUP_NONE;
	pb->catch_up_max = 10;
	pb->catch_up_within_ms = 0;
	if (!timer) {
		const config_setting_t *any = c ? c : max ? max : within;

		if (any != NULL)
			pb_diag_add(d, any, "\"%s\" applies to cron and"
			    " interval triggers only; remove it",
			    config_setting_name(any));
		return;
	}
	if (c != NULL) {
		v = config_setting_type(c) == CONFIG_TYPE_STRING ?
		    config_setting_get_string(c) : NULL;
		if (v != NULL && strcmp(v, "none") == 0)
			pb->catch_up = CATCHUP_NONE;
		else if (v != NULL && strcmp(v, "once") == 0)
			pb->catch_up = CATCHUP_ONCE;
		else if (v != NULL && strcmp(v, "all") == 0)
			pb->catch_up = CATCHUP_ALL;
		else {
			pb_diag_add(d, c, "\"catch_up\" must be \"none\""
			    " (skip the firings missed while clerkd was down),"
			    " \"once\" (run the latest of them) or \"all\" (run"
			    " each, up to catch_up_max)");
			return;
		}
	}
	if (max != NULL) {
		pb->catch_up_max = get_int(t, "catch_up_max", 10, 1, 1000, d);
		if (pb->catch_up != CATCHUP_ALL)
			pb_diag_add(d, max, "\"catch_up_max\" applies to"
			    " catch_up = \"all\" only (\"once\" runs one);"
			    " remove it or set catch_up = \"all\"");
	}
	if (within != NULL) {
		pb->catch_up_within_ms = pb_setting_duration(t,
		    "catch_up_within", "0s", d);
		if (pb->catch_up_within_ms >= 0 &&
		    pb->catch_up_within_ms < 1000)
			pb_diag_add(d, within, "\"catch_up_within\" must be at"
			    " least 1s (leave it out for no age limit)");
		if (pb->catch_up == CATCHUP_NONE)
			pb_diag_add(d, within, "\"catch_up_within\" has no"
			    " effect with catch_up = \"none\"; remove it or set"
			    " catch_up = \"once\" or \"all\"");
		if (pb->catch_up_within_ms < 0)
			pb->catch_up_within_ms = 0;
	}
}

static void
load_trigger(struct playbook *pb, const config_setting_t *t,
    struct pb_diag *d)
{
	static const char *const keys[] = { "manual", "cron", "interval",
	    "watch", "overdue", "catch_up", "catch_up_max", "catch_up_within",
	    NULL };
	const config_setting_t *m;
	int n = 0;
	struct err e;

	if (t == NULL) {
		pb_diag_add(d, NULL, "missing \"trigger\"; add e.g."
		    " trigger = { manual = true; };");
		return;
	}
	if (!config_setting_is_group(t)) {
		pb_diag_add(d, t, "\"trigger\" must be a group { ... }");
		return;
	}
	check_keys(t, keys, NULL, "trigger", d);
	if ((m = config_setting_get_member(t, "manual")) != NULL) {
		n++;
		pb->trigger = TRIG_MANUAL;
		if (config_setting_type(m) != CONFIG_TYPE_BOOL ||
		    !config_setting_get_bool(m))
			pb_diag_add(d, m, "\"manual\" must be true");
	}
	if ((m = config_setting_get_member(t, "cron")) != NULL) {
		n++;
		pb->trigger = TRIG_CRON;
		if (config_setting_type(m) != CONFIG_TYPE_STRING)
			pb_diag_add(d, m, "\"cron\" must be a string such as"
			    " \"0 30 8 * * MON-FRI\"");
		else {
			pb->cron_expr = xstrdup(config_setting_get_string(m));
			pb->cron = cron_parse(pb->cron_expr, &e);
			if (pb->cron == NULL)
				pb_diag_add(d, m, "%s", e.msg);
		}
	}
	if ((m = config_setting_get_member(t, "interval")) != NULL) {
		n++;
		pb->trigger = TRIG_INTERVAL;
		pb->interval_ms = pb_setting_duration(t, "interval", "1m", d);
		if (pb->interval_ms >= 0 && pb->interval_ms < 1000)
			pb_diag_add(d, m, "\"interval\" must be at least 1s");
	}
	if ((m = config_setting_get_member(t, "watch")) != NULL) {
		static const char *const wkeys[] = { "dir", "pattern", NULL };
		const char *s;

		n++;
		pb->trigger = TRIG_WATCH;
		if (!config_setting_is_group(m))
			pb_diag_add(d, m, "\"watch\" must be a group such as"
			    " { dir = \"inbox/claims\"; }");
		else {
			check_keys(m, wkeys, NULL, "watch", d);
			if ((s = get_string(m, "dir", true, d)) != NULL)
				pb->watch_dir = xstrdup(s);
			s = get_string(m, "pattern", false, d);
			pb->watch_pattern = xstrdup(s ? s : "*");
		}
	}
	if ((m = config_setting_get_member(t, "overdue")) != NULL) {
		n++;
		pb->trigger = TRIG_OVERDUE;
		if (config_setting_type(m) != CONFIG_TYPE_BOOL ||
		    !config_setting_get_bool(m))
			pb_diag_add(d, m, "\"overdue\" must be true");
	}
	if (n == 0)
		pb_diag_add(d, t, "the trigger needs one of manual, cron,"
		    " interval, watch or overdue");
	else if (n > 1)
		pb_diag_add(d, t, "the trigger has %d kinds; give exactly one"
		    " (make a second playbook for a second trigger)", n);
	else
		load_catch_up(pb, t, d);
}

/* payload = [ "case_id", "name" ]: the fields the items are enqueued
 * with (by the API, by hand, by another playbook). */
static void
load_payload(struct playbook *pb, const config_setting_t *l,
    struct pb_diag *d)
{
	int n;

	if (l == NULL)
		return;
	if (!config_setting_is_array(l) && !config_setting_is_list(l)) {
		pb_diag_add(d, l, "\"payload\" must be a list of field names"
		    " such as [ \"case_id\", \"name\" ]");
		return;
	}
	n = config_setting_length(l);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l,
		    (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (v == NULL || v[0] == '\0' || strchr(v, '.') != NULL) {
			pb_diag_add(d, e, "payload: element %d must be a field"
			    " name such as \"case_id\" (a string without dots)",
			    i + 1);
			continue;
		}
		pb->payload_fields = xrealloc(pb->payload_fields,
		    (pb->npayload_fields + 1) * sizeof(*pb->payload_fields));
		pb->payload_fields[pb->npayload_fields++] = xstrdup(v);
	}
}

/* ---- references: ${field}, ${payload.a.b}, ${steps.ID.a.b} ---- */

/* The payload fields each trigger gives its items. */
static const char *const watch_fields[] = { "file", "name", "dir", "stem",
    "size", "sha256", NULL };
static const char *const timer_fields[] = { "trigger", "scheduled",
    "catch_up", NULL };
/* An overdue alert carries the escalation's row. */
static const char *const overdue_fields[] = { "id", "escalation", "item",
    "playbook", "step_id", "kind", "reason", "message", "context", "created",
    "due", "due_text", "state", "decision", "decided_by", "decided_at",
    "decision_reason", "claimed_by", "claim_expires", "assignee", "priority",
    "previous", NULL };
/* What any step's output holds once a reviewer approved it. */
static const char *const approval_fields[] = { "decision", "escalation",
    "approved_by", NULL };

static bool
in_list(const char *const *l, const char *s, size_t len)
{
	for (; l != NULL && *l != NULL; l++)
		if (strlen(*l) == len && strncmp(*l, s, len) == 0)
			return true;
	return false;
}

static bool
payload_known(const struct playbook *pb, const char *field, size_t len)
{
	const char *const *trig = pb->trigger == TRIG_WATCH ? watch_fields :
	    pb->trigger == TRIG_CRON || pb->trigger == TRIG_INTERVAL ?
	    timer_fields : pb->trigger == TRIG_OVERDUE ? overdue_fields : NULL;

	if (in_list(trig, field, len))
		return true;
	for (size_t i = 0; i < pb->npayload_fields; i++)
		if (strlen(pb->payload_fields[i]) == len &&
		    strncmp(pb->payload_fields[i], field, len) == 0)
			return true;
	return false;
}

/* What the trigger and payload = [...] give, for a message. */
static void
payload_hint(const struct playbook *pb, char *buf, size_t n)
{
	const char *const *trig = pb->trigger == TRIG_WATCH ? watch_fields :
	    pb->trigger == TRIG_CRON || pb->trigger == TRIG_INTERVAL ?
	    timer_fields : pb->trigger == TRIG_OVERDUE ? overdue_fields : NULL;

	buf[0] = '\0';
	for (; trig != NULL && *trig != NULL; trig++)
		snprintf(buf + strlen(buf), n - strlen(buf), "%s%s",
		    buf[0] ? ", " : "", *trig);
	for (size_t i = 0; i < pb->npayload_fields; i++)
		snprintf(buf + strlen(buf), n - strlen(buf), "%s%s",
		    buf[0] ? ", " : "", pb->payload_fields[i]);
	if (buf[0] == '\0')
		snprintf(buf, n, "none declared");
}

/* The step of list (after index i) whose id the reference names. */
static int
later_step_line(const config_setting_t *list, int i, const char *rest)
{
	int n = config_setting_length(list);

	for (int k = i + 1; k < n; k++) {
		const config_setting_t *s = config_setting_get_elem(list, k);
		const char *id;

		if (config_setting_lookup_string(s, "id", &id) &&
		    strncmp(rest, id, strlen(id)) == 0 &&
		    (rest[strlen(id)] == '.' || rest[strlen(id)] == '\0'))
			return (int)config_setting_source_line(s);
	}
	return 0;
}

static void
check_ref(struct playbook *pb, const config_setting_t *list, int i,
    const struct pb_step *st, const config_setting_t *at, const char *name,
    struct pb_diag *d)
{
	char hint[400];

	if (strncmp(name, "steps.", 6) == 0) {
		const char *rest = name + 6;
		const struct pb_step *from = NULL;
		int line;

		for (size_t k = 0; k < pb->nsteps; k++) {
			size_t len = strlen(pb->steps[k].id);

			if (strncmp(rest, pb->steps[k].id, len) == 0 &&
			    (rest[len] == '.' || rest[len] == '\0'))
				from = &pb->steps[k];
		}
		if (from == NULL) {
			size_t len = strcspn(rest, ".");

			/* An earlier step with problems of its own: those are
			 * reported, its outputs cannot be checked. */
			for (int k = 0; k < i; k++) {
				const char *id;

				if (config_setting_lookup_string(
				    config_setting_get_elem(list, (unsigned)k),
				    "id", &id) && strncmp(rest, id,
				    strlen(id)) == 0 && (rest[strlen(id)] ==
				    '.' || rest[strlen(id)] == '\0'))
					return;
			}
			if (st->id != NULL && strlen(st->id) == len &&
			    strncmp(rest, st->id, len) == 0)
				pb_diag_add(d, at, "${%s}: a step cannot use its"
				    " own output", name);
			else if ((line = later_step_line(list, i, rest)) > 0)
				pb_diag_add(d, at, "${%s}: step \"%.*s\" runs"
				    " after this one (line %d); only earlier"
				    " steps' outputs can be used", name,
				    (int)len, rest, line);
			else {
				hint[0] = '\0';
				for (size_t k = 0; k < pb->nsteps; k++)
					snprintf(hint + strlen(hint), sizeof(hint) -
					    strlen(hint), "%s%s", k ? ", " : "",
					    pb->steps[k].id);
				pb_diag_add(d, at, "${%s}: no step \"%.*s\" before"
				    " this one (earlier steps: %s)", name,
				    (int)len, rest, hint[0] ? hint : "none");
			}
			return;
		}
		rest += strlen(from->id);
		if (*rest == '\0') {
			pb_diag_add(d, at, "${%s} names a whole step; name one"
			    " of its fields: ${%s.FIELD}", name, name);
			return;
		}
		rest++;
		if (in_list(approval_fields, rest, strcspn(rest, ".")) ||
		    from->kind->output_has == NULL)
			return;
		hint[0] = '\0';
		if (from->kind->output_has(from->conf, rest, hint,
		    sizeof(hint)) == 0)
			pb_diag_add(d, at, "${%s}: step \"%s\" (%s) has no output"
			    " \"%s\"%s%s%s", name, from->id, from->kind->name,
			    rest, hint[0] ? " (it has: " : "", hint,
			    hint[0] ? ")" : "");
		return;
	}
	{
		const char *field = strncmp(name, "payload.", 8) == 0 ?
		    name + 8 : name;

		if (payload_known(pb, field, strcspn(field, ".")))
			return;
		payload_hint(pb, hint, sizeof(hint));
		pb_diag_add(d, at, "${%s}: the items of this playbook have no"
		    " field \"%.*s\" (they carry: %s); declare the fields they"
		    " are enqueued with, payload = [ \"%.*s\", ... ];, or use"
		    " ${steps.ID.FIELD} for an earlier step's output", name,
		    (int)strcspn(field, "."), field, hint,
		    (int)strcspn(field, "."), field);
	}
}

/* Every ${...} in the settings of step i: checked, and kept in st->refs
 * so the step does not run while one of them has no value. */
static void
collect_refs(struct playbook *pb, const config_setting_t *list, int i,
    struct pb_step *st, const config_setting_t *s, struct pb_diag *d)
{
	int n = config_setting_length(s);

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *p = config_setting_get_string(s), *end;
		char name[STEP_REF_MAX];
		const char *name0 = config_setting_name(s);

		/* The step's id, kind and error policy are not templates. */
		if (config_setting_parent(s) == config_setting_get_elem(list,
		    i) && name0 != NULL && (strcmp(name0, "id") == 0 ||
		    strcmp(name0, "use") == 0 ||
		    strcmp(name0, "on_business_error") == 0))
			return;
		while ((p = step_ref_next(p, name, sizeof(name), &end)) !=
		    NULL) {
			bool dup = false;

			p = end;
			if (in_list(st->kind->tokens, name, strlen(name)))
				continue;
			check_ref(pb, list, i, st, s, name, d);
			for (size_t k = 0; k < st->nrefs; k++)
				dup |= strcmp(st->refs[k], name) == 0;
			if (dup)
				continue;
			st->refs = xrealloc(st->refs, (st->nrefs + 1) *
			    sizeof(*st->refs));
			st->refs[st->nrefs++] = xstrdup(name);
		}
		return;
	}
	for (int k = 0; k < n; k++)
		collect_refs(pb, list, i, st, config_setting_get_elem(s,
		    (unsigned)k), d);
}

static void
refs_free(struct pb_step *st)
{
	for (size_t k = 0; k < st->nrefs; k++)
		free(st->refs[k]);
	free(st->refs);
	st->refs = NULL;
	st->nrefs = 0;
}

static void
load_steps(struct playbook *pb, const config_setting_t *list,
    struct pb_diag *d)
{
	static const char *const common[] = { "id", "use", "on_business_error",
	    NULL };
	int n;

	if (list == NULL) {
		pb_diag_add(d, NULL, "missing \"steps\"; a playbook needs at"
		    " least one step");
		return;
	}
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		pb_diag_add(d, list, "\"steps\" must be a list ( { ... }, ... )");
		return;
	}
	n = config_setting_length(list);
	if (n == 0) {
		pb_diag_add(d, list, "\"steps\" is empty; a playbook needs at"
		    " least one step");
		return;
	}
	pb->steps = xcalloc((size_t)n, sizeof(*pb->steps));
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list, i);
		struct pb_step *st = &pb->steps[pb->nsteps];
		const char *id, *use, *obe;
		size_t before = d->n;

		memset(st, 0, sizeof(*st));
		if (!config_setting_is_group(s)) {
			pb_diag_add(d, s, "step %d must be a group { id = ...;"
			    " use = ...; }", i + 1);
			continue;
		}
		id = get_string(s, "id", true, d);
		use = get_string(s, "use", true, d);
		if (id != NULL && !valid_name(id))
			pb_diag_add(d, s, "step id \"%s\" may only use letters,"
			    " digits, '-', '_' and '.'", id);
		for (size_t j = 0; id != NULL && j < pb->nsteps; j++)
			if (strcmp(pb->steps[j].id, id) == 0)
				pb_diag_add(d, s, "duplicate step id \"%s\""
				    " (first used on line %d)", id,
				    pb->steps[j].line);
		if (use != NULL && (st->kind = step_kind_find(use)) == NULL) {
			const struct step_kind *const *k = step_kinds();
			char known[256] = "";

			for (; *k != NULL; k++) {
				strncat(known, known[0] ? ", " : "",
				    sizeof(known) - strlen(known) - 1);
				strncat(known, (*k)->name,
				    sizeof(known) - strlen(known) - 1);
			}
			pb_diag_add(d, config_setting_get_member(s, "use"),
			    "unknown step kind \"%s\" (known: %s)", use, known);
		}
		obe = get_string(s, "on_business_error", false, d);
		if (obe != NULL && strcmp(obe, "escalate") != 0 &&
		    strcmp(obe, "reject") != 0)
			pb_diag_add(d, config_setting_get_member(s,
			    "on_business_error"), "on_business_error must be"
			    " \"escalate\" or \"reject\"");
		if (st->kind != NULL) {
			check_keys(s, common, st->kind->keys, "this step", d);
			if (st->kind->prepare != NULL &&
			    st->kind->prepare(s, &st->conf, d) < 0 &&
			    d->n == before)
				pb_diag_add(d, s, "step \"%s\" is not valid",
				    id ? id : "?");
		}
		if (d->n == before) {
			st->id = (char *)id;   /* for the messages only */
			collect_refs(pb, list, i, st, s, d);
			st->id = NULL;
		}
		if (d->n > before) {
			if (st->kind != NULL && st->kind->release != NULL)
				st->kind->release(st->conf);
			st->conf = NULL;
			refs_free(st);
			continue;
		}
		st->id = xstrdup(id);
		st->line = (int)config_setting_source_line(s);
		st->reject_on_business = obe != NULL &&
		    strcmp(obe, "reject") == 0;
		pb->nsteps++;
	}
}

struct playbook *
pb_load(const char *file, struct pb_diag *d)
{
	static const char *const keys[] = { "name", "description", "trigger",
	    "calendar", "concurrency", "priority", "retry", "sla", "steps",
	    "connectors", "payload", NULL };
	struct playbook *pb = xcalloc(1, sizeof(*pb));
	const config_setting_t *root, *s;
	size_t before = d->n;
	const char *str;
	struct err e;
	config_t cfg;

	d->file = file;
	atomic_init(&pb->refs, 1);
	pb->file = xstrdup(file);
	if (util_sha256_file(file, pb->hash, &e) < 0) {
		pb_diag_add(d, NULL, "cannot read the playbook: %s",
		    strerror(errno));
		pb_unref(pb);
		return NULL;
	}
	config_init(&cfg);
	if (!config_read_file(&cfg, file)) {
		d->msgs = xrealloc(d->msgs, (d->n + 1) * sizeof(*d->msgs));
		d->msgs[d->n++] = xasprintf("%s:%d: %s",
		    config_error_file(&cfg) ? config_error_file(&cfg) : file,
		    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		pb_unref(pb);
		return NULL;
	}
	root = config_root_setting(&cfg);
	check_keys(root, keys, NULL, "the playbook", d);

	if ((str = get_string(root, "name", true, d)) != NULL) {
		if (!valid_name(str))
			pb_diag_add(d, config_setting_get_member(root, "name"),
			    "name \"%s\" may only use letters, digits, '-', '_'"
			    " and '.' (at most 64)", str);
		pb->name = xstrdup(str);
	}
	if ((str = get_string(root, "description", false, d)) != NULL)
		pb->description = xstrdup(str);
	load_trigger(pb, config_setting_get_member(root, "trigger"), d);
	if ((str = get_string(root, "calendar", false, d)) != NULL) {
		pb->calendar_name = xstrdup(str);
		pb->calendar_line = (int)config_setting_source_line(
		    config_setting_get_member(root, "calendar"));
	}
	pb->concurrency = get_int(root, "concurrency", 1, 1, 1000, d);
	pb->priority = get_int(root, "priority", 0, -1000000, 1000000, d);
	pb->retry.attempts = 5;
	pb->retry.initial_ms = 10000;
	pb->retry.max_ms = 30 * 60000;
	if ((s = config_setting_get_member(root, "retry")) != NULL) {
		static const char *const rkeys[] = { "attempts", "initial",
		    "max", NULL };

		if (!config_setting_is_group(s))
			pb_diag_add(d, s, "\"retry\" must be a group such as"
			    " { attempts = 5; initial = \"10s\"; max = \"30m\"; }");
		else {
			check_keys(s, rkeys, NULL, "retry", d);
			pb->retry.attempts = get_int(s, "attempts", 5, 1, 100, d);
			pb->retry.initial_ms = pb_setting_duration(s, "initial", "10s",
			    d);
			pb->retry.max_ms = pb_setting_duration(s, "max", "30m", d);
			/* -1 means unparsable, reported already. */
			if (pb->retry.initial_ms >= 0 && pb->retry.max_ms >= 0 &&
			    pb->retry.max_ms < pb->retry.initial_ms)
				pb_diag_add(d, s, "retry max is shorter than"
				    " initial");
		}
	}
	pb->sla_ms = pb_setting_duration(root, "sla", "24h", d);
	load_payload(pb, config_setting_get_member(root, "payload"), d);
	load_steps(pb, config_setting_get_member(root, "steps"), d);
	config_destroy(&cfg);
	if (d->n > before) {
		pb_unref(pb);
		return NULL;
	}
	return pb;
}

struct playbook *
pb_ref(struct playbook *pb)
{
	atomic_fetch_add(&pb->refs, 1);
	return pb;
}

void
pb_unref(struct playbook *pb)
{
	if (pb == NULL || atomic_fetch_sub(&pb->refs, 1) != 1)
		return;
	for (size_t i = 0; i < pb->nsteps; i++) {
		if (pb->steps[i].kind->release != NULL)
			pb->steps[i].kind->release(pb->steps[i].conf);
		free(pb->steps[i].id);
		refs_free(&pb->steps[i]);
	}
	free(pb->steps);
	for (size_t i = 0; i < pb->npayload_fields; i++)
		free(pb->payload_fields[i]);
	free(pb->payload_fields);
	cron_free(pb->cron);
	free(pb->cron_expr);
	free(pb->watch_dir);
	free(pb->watch_pattern);
	free(pb->calendar_name);
	free(pb->name);
	free(pb->description);
	free(pb->file);
	free(pb);
}

int
pb_check_file(const char *file, FILE *out)
{
	struct pb_diag d = { 0 };
	struct playbook *pb = pb_load(file, &d);
	int n = (int)d.n;

	for (size_t i = 0; i < d.n; i++)
		fprintf(out, "%s\n", d.msgs[i]);
	pb_diag_clear(&d);
	pb_unref(pb);
	return n;
}

size_t
pb_next_step(const struct playbook *pb, const struct item *it)
{
	for (size_t i = 0; i < pb->nsteps; i++)
		if (item_step_output(it, pb->steps[i].id) == NULL)
			return i;
	return pb->nsteps;
}

int64_t
pb_retry_delay(const struct playbook *pb, int attempt)
{
	int64_t d = pb->retry.initial_ms;

	for (int i = 1; i < attempt && d < pb->retry.max_ms; i++)
		d *= 2;
	if (d > pb->retry.max_ms)
		d = pb->retry.max_ms;
	/* Equal jitter: half fixed, half random, so a fleet of items that
	 * failed together does not come back together. */
	return d / 2 + (int64_t)(random() % (d / 2 + 1));
}
