/*
 * step_reconcile.c - "reconcile": 社保基金财务对账 of one account and
 * period. Reads the bank statement and the ledger export named by the
 * item, matches them (recon/), writes result.json, differences.csv and
 * report.html, and escalates when anything does not reconcile: every
 * difference, with its candidates, goes to the reviewer as evidence.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "playbook.h"
#include "recon.h"

struct recon_conf {
	char *bank;              /* template: path of the statement */
	char *ledger;            /* template: path of the ledger export */
	char *out;               /* template + strftime: report folder */
	char *differences;       /* playbook that gets one item per difference */
	char *memory;            /* template: reviewers' remembered matches */
	struct recon_rules rules;
};

static const char *const recon_keys[] = { "bank", "ledger", "out", "rules",
    "rules_file", "differences", "memory", NULL };

/* Remembered matches are read by runs and appended by reviewers' items,
 * possibly at once on several workers. */
static pthread_mutex_t memory_lock = PTHREAD_MUTEX_INITIALIZER;

static int
recon_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct recon_conf *c = xcalloc(1, sizeof(*c));
	const config_setting_t *g;
	const char *v;
	struct err e;

	*confp = c;
	recon_rules_default(&c->rules);
	if (!config_setting_lookup_string(s, "bank", &v)) {
		pb_diag_add(d, s, "reconcile needs bank = \"${file}\" (the"
		    " statement's path; ${field} takes a payload field)");
		return -1;
	}
	c->bank = xstrdup(v);
	if (!config_setting_lookup_string(s, "ledger", &v)) {
		pb_diag_add(d, s, "reconcile needs ledger = \"...\" (the ledger"
		    " export's path)");
		return -1;
	}
	c->ledger = xstrdup(v);
	c->out = xstrdup(config_setting_lookup_string(s, "out", &v) ? v :
	    "reports/reconcile/%Y-%m-%d");
	if (config_setting_lookup_string(s, "differences", &v))
		c->differences = xstrdup(v);
	if (config_setting_lookup_string(s, "memory", &v))
		c->memory = xstrdup(v);
	if ((g = config_setting_get_member(s, "rules")) != NULL &&
	    recon_rules_load(g, &c->rules, &e) < 0) {
		d->msgs = xrealloc(d->msgs, (d->n + 1) * sizeof(*d->msgs));
		d->msgs[d->n++] = xstrdup(e.msg);
		return -1;
	}
	if (config_setting_lookup_string(s, "rules_file", &v)) {
		char *path = v[0] == '/' || config_setting_source_file(s) ==
		    NULL ? xstrdup(v) : NULL;

		if (path == NULL) {
			/* Relative to the playbook that names it. */
			char *dir = xstrdup(config_setting_source_file(s));
			char *slash = strrchr(dir, '/');

			if (slash != NULL)
				*slash = '\0';
			path = slash ? xasprintf("%s/%s", dir, v) : xstrdup(v);
			free(dir);
		}
		if (recon_rules_load_file(path, &c->rules, &e) < 0) {
			pb_diag_add(d, config_setting_get_member(s, "rules_file"),
			    "%s", e.msg);
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

static void
recon_release(void *p)
{
	struct recon_conf *c = p;

	if (c == NULL)
		return;
	free(c->bank);
	free(c->ledger);
	free(c->out);
	free(c->differences);
	free(c->memory);
	recon_rules_clear(&c->rules);
	free(c);
}

/*
 * Reviewers' matches as the matcher takes them, from a JSON array of
 * {bank_ref, bank_amount, bank_date, ledger_ref, ledger_amount,
 * ledger_date} (amounts in fen, dates YYYY-MM-DD). The strings stay owned
 * by arr.
 */
static struct recon_manual *
manual_from_json(json_t *arr, size_t *n)
{
	struct recon_manual *out;
	json_t *m;
	size_t i;

	*n = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return NULL;
	out = xcalloc(json_array_size(arr), sizeof(*out));
	json_array_foreach(arr, i, m) {
		const char *bd = json_string_value(json_object_get(m, "bank_date"));
		const char *ld = json_string_value(json_object_get(m,
		    "ledger_date"));
		const char *br = json_string_value(json_object_get(m, "bank_ref"));
		const char *lr = json_string_value(json_object_get(m,
		    "ledger_ref"));

		out[*n].bank_ref = br ? br : "";
		out[*n].ledger_ref = lr ? lr : "";
		out[*n].bank_amount = json_integer_value(json_object_get(m,
		    "bank_amount"));
		out[*n].ledger_amount = json_integer_value(json_object_get(m,
		    "ledger_amount"));
		out[*n].bank_date = bd ? recon_day_parse(bd) : 0;
		out[*n].ledger_date = ld ? recon_day_parse(ld) : 0;
		(*n)++;
	}
	return out;
}

/* The remembered matches in path (a JSON array), or an empty array. */
static json_t *
memory_load(const char *path, struct err *e)
{
	json_error_t je;
	json_t *arr;

	if (access(path, F_OK) != 0)
		return json_array();
	arr = json_load_file(path, 0, &je);
	if (!json_is_array(arr)) {
		err_set(e, "%s:%d: the remembered matches are not a JSON array:"
		    " %s", path, je.line, arr ? "not an array" : je.text);
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/*
 * One work item per difference, for a reviewer each: keyed by the run and
 * the line, so a re-run of the same files creates none twice.
 */
static int
spawn_differences(struct step_ctx *ctx, struct recon_conf *c, json_t *summary,
    const char *report, struct err *e)
{
	json_t *diffs = json_object_get(summary, "differences"), *d;
	size_t i;

	json_array_foreach(diffs, i, d) {
		char *key, *text;
		int rc;

		if (strcmp(json_string_value(json_object_get(d, "kind")),
		    "balance") == 0)
			continue;   /* the run's own escalation says it */
		key = xasprintf("%s#%s#%s:%lld", ctx->item->key,
		    json_string_value(json_object_get(d, "kind")),
		    json_string_value(json_object_get(d, "file")) ?
		    json_string_value(json_object_get(d, "file")) : "-",
		    (long long)json_integer_value(json_object_get(d, "line")));
		json_object_set_new(d, "run_item", json_integer(ctx->item->id));
		json_object_set_new(d, "run_key", json_string(ctx->item->key));
		json_object_set_new(d, "report", json_string(report));
		text = json_dumps(d, JSON_COMPACT);
		rc = ctx->spawn(ctx, c->differences, key, text, e);
		free(text);
		free(key);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * The step output and the escalation context live in the database: keep
 * the first MAX_DIFFS differences there; the full list is in the report
 * folder.
 */
#define MAX_DIFFS 500

static void
cap_differences(json_t *summary)
{
	json_t *diffs = json_object_get(summary, "differences");
	size_t n = json_array_size(diffs);

	json_object_set_new(summary, "differences_total", json_integer(
	    (json_int_t)n));
	while (json_array_size(diffs) > MAX_DIFFS)
		json_array_remove(diffs, json_array_size(diffs) - 1);
}

static enum step_result
recon_run(struct step_ctx *ctx, void *p)
{
	struct recon_conf *c = p;
	struct recon_side bank = { 0 }, ledger = { 0 };
	struct recon_result *res = NULL;
	struct recon_manual *manual;
	char *bank_path, *ledger_path, *pattern, dirbuf[1024], *outdir;
	enum step_result rc = STEP_OK;
	time_t t = (time_t)(ctx->item->created / 1000);
	size_t nmanual;
	json_t *summary, *memory = NULL;
	char *memory_path = NULL;
	struct err e;
	struct tm tm;

	{
		char *b = step_expand(ctx, c->bank), *l = step_expand(ctx,
		    c->ledger), *m = c->memory ? step_expand(ctx, c->memory) :
		    xstrdup("");

		pattern = step_expand(ctx, c->out);
		if (b == NULL || l == NULL || m == NULL || pattern == NULL) {
			free(b);
			free(l);
			free(m);
			free(pattern);
			return step_unresolved(ctx);
		}
		bank_path = util_path_join(ctx->work_dir, b);
		ledger_path = util_path_join(ctx->work_dir, l);
		free(b);
		free(l);
		free(m);
	}
	localtime_r(&t, &tm);
	if (strftime(dirbuf, sizeof(dirbuf), pattern, &tm) == 0)
		snprintf(dirbuf, sizeof(dirbuf), "%s", pattern);
	free(pattern);
	outdir = step_out_path(ctx, dirbuf);

	/* A file that cannot be read as a statement is the sender's to fix:
	 * a business error, escalated with the parser's file:line message,
	 * never a half report. */
	if (recon_parse_pair((const char *const *)&bank_path, 1, ledger_path,
	    &c->rules, &bank, &ledger, &e) < 0) {
		/* A file not there yet may still arrive: retried, then
		 * escalated. */
		if (e.code == ERR_NOTFOUND)
			rc = step_fail(ctx, STEP_SYSTEM_ERROR, "missing_file",
			    "%s", e.msg);
		else
			rc = step_fail(ctx, STEP_BUSINESS_ERROR,
			    "bad_input_file", "%s", e.msg);
		ctx->context = json_pack("{s:s,s:s}", "bank", bank_path,
		    "ledger", ledger_path);
		goto out;
	}
	if (c->memory != NULL) {
		/* Filled in above: the same references. */
		pattern = step_expand(ctx, c->memory);
		memory_path = util_path_join(ctx->work_dir, pattern ? pattern :
		    "");
		free(pattern);
		pthread_mutex_lock(&memory_lock);
		memory = memory_load(memory_path, &e);
		pthread_mutex_unlock(&memory_lock);
		if (memory == NULL) {
			rc = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_memory",
			    "%s", e.msg);
			goto out;
		}
	} else
		memory = json_array();
	/* This run's corrections (payload) come on top of the remembered. */
	if (json_is_array(json_object_get(ctx->payload, "manual_matches")))
		json_array_extend(memory, json_object_get(ctx->payload,
		    "manual_matches"));
	manual = manual_from_json(memory, &nmanual);
	res = recon_match(&bank, &ledger, &c->rules, manual, nmanual);
	free(manual);
	if (recon_write_outputs(outdir, &bank, &ledger, res, &e) < 0) {
		rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
		goto out;
	}
	summary = recon_result_json(&bank, &ledger, res);
	cap_differences(summary);
	json_object_set_new(summary, "report", json_sprintf("%s/report.html",
	    outdir));
	json_object_set_new(summary, "bank_file", json_string(bank_path));
	json_object_set_new(summary, "ledger_file", json_string(ledger_path));
	log_emit(LL_INFO, ctx->item->id, ctx->pb->name, ctx->step->id,
	    "reconciled %zu bank and %zu ledger lines: %zu matched, %zu"
	    " difference(s), %s", bank.n, ledger.n, res->nmatches, res->ndiffs,
	    res->ties ? "the statement ties" : "it does NOT tie");
	if (c->differences != NULL && ctx->spawn != NULL && res->ndiffs > 0) {
		char *report = xasprintf("%s/report.html", outdir);
		json_t *all = recon_result_json(&bank, &ledger, res);

		rc = spawn_differences(ctx, c, all, report, &e) < 0 ?
		    step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
		    "handing the differences to reviewers: %s", e.msg) :
		    STEP_OK;
		json_decref(all);
		free(report);
		if (rc != STEP_OK) {
			json_decref(summary);
			goto out;
		}
		/* Each difference is a reviewer's item now; the run itself
		 * escalates only when its balances do not prove. */
		if (res->ties && res->bank_proves && res->ledger_proves) {
			json_object_set_new(summary, "differences_spawned",
			    json_string(c->differences));
			ctx->output = summary;
			goto out;
		}
	}
	if (res->ndiffs > 0 || !res->ties) {
		rc = step_fail(ctx, STEP_ESCALATE, "reconcile_differences",
		    "%zu difference(s) between %s and %s; the 余额调节表 %s;"
		    " report %s/report.html", res->ndiffs, bank_path,
		    ledger_path, res->ties ? "ties" : "does not tie", outdir);
		ctx->context = summary;
	} else
		ctx->output = summary;
out:
	json_decref(memory);
	free(memory_path);
	recon_result_free(res);
	recon_side_free(&bank);
	recon_side_free(&ledger);
	free(bank_path);
	free(ledger_path);
	free(outdir);
	return rc;
}

static int
remember_output_has(const void *conf, const char *path, char *hint, size_t n)
{
	static const char *const names[] = { "remembered", "match", NULL };

	(void)conf;
	return step_output_in(path, names, hint, n);
}

const struct step_kind step_reconcile = {
	.name = "reconcile",
	.summary = "matches a bank statement against the ledger and writes"
	    " the 余额调节表",
	.keys = recon_keys,
	.prepare = recon_prepare,
	.release = recon_release,
	.run = recon_run,
};

/*
 * "reconcile.remember": the step after a difference's review. When the
 * reviewer approved with "match_with" (the other side's line: ref,
 * amount_fen, date) in the payload, the pair is appended to the memory
 * file, and the next run of the account applies it before any pass.
 */
struct remember_conf {
	char *memory;
};

static const char *const remember_keys[] = { "memory", NULL };

static int
remember_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct remember_conf *c = xcalloc(1, sizeof(*c));
	const char *v;

	*confp = c;
	if (!config_setting_lookup_string(s, "memory", &v)) {
		pb_diag_add(d, s, "reconcile.remember needs memory = \"...\""
		    " (the file the reconcile step reads)");
		return -1;
	}
	c->memory = xstrdup(v);
	return 0;
}

static void
remember_release(void *p)
{
	struct remember_conf *c = p;

	if (c != NULL)
		free(c->memory);
	free(c);
}

/* The remembered match whose PREFIX ("bank_" or "ledger_") line is
 * (ref, amount, date), or NULL. */
static json_t *
pair_with(json_t *mem, const char *prefix, json_t *ref, json_t *amount,
    json_t *date)
{
	char kr[16], ka[16], kd[16];
	json_t *x;
	size_t i;

	if (ref == NULL || amount == NULL || date == NULL)
		return NULL;
	snprintf(kr, sizeof(kr), "%sref", prefix);
	snprintf(ka, sizeof(ka), "%samount", prefix);
	snprintf(kd, sizeof(kd), "%sdate", prefix);
	json_array_foreach(mem, i, x)
		if (json_equal(json_object_get(x, kr), ref) &&
		    json_equal(json_object_get(x, ka), amount) &&
		    json_equal(json_object_get(x, kd), date))
			return x;
	return NULL;
}

/* The remembered match that books m's PREFIX line, or NULL. */
static json_t *
pair_taking(json_t *mem, json_t *m, const char *prefix)
{
	char kr[16], ka[16], kd[16];

	snprintf(kr, sizeof(kr), "%sref", prefix);
	snprintf(ka, sizeof(ka), "%samount", prefix);
	snprintf(kd, sizeof(kd), "%sdate", prefix);
	return pair_with(mem, prefix, json_object_get(m, kr),
	    json_object_get(m, ka), json_object_get(m, kd));
}

/*
 * The pair a reviewer's match makes of the difference pl (its line, on
 * its side) and with (the other side's line), as the memory file keeps
 * it; NULL with why in msg when with or pl lacks what it needs.
 */
static json_t *
pair_of(json_t *pl, json_t *with, bool *on_bankp, char *msg, size_t n)
{
	const char *side = json_string_value(json_object_get(pl, "side"));
	const char *wref, *wdate, *ref, *date;
	bool on_bank = side != NULL && strcmp(side, "bank") == 0;

	*on_bankp = on_bank;
	wref = json_string_value(json_object_get(with, "ref"));
	wdate = json_string_value(json_object_get(with, "date"));
	ref = json_string_value(json_object_get(pl, "ref"));
	date = json_string_value(json_object_get(pl, "date"));
	if (!json_is_integer(json_object_get(with, "amount_fen")) ||
	    wdate == NULL || recon_day_parse(wdate) < 0 || date == NULL ||
	    !json_is_integer(json_object_get(pl, "amount_fen"))) {
		snprintf(msg, n, "match_with needs ref, amount_fen (an integer,"
		    " in fen) and date (YYYY-MM-DD) of the line on the other"
		    " side");
		return NULL;
	}
	return json_pack("{s:s,s:O,s:s,s:s,s:O,s:s}",
	    "bank_ref", on_bank ? (ref ? ref : "") : (wref ? wref : ""),
	    "bank_amount", on_bank ? json_object_get(pl, "amount_fen") :
	    json_object_get(with, "amount_fen"),
	    "bank_date", on_bank ? date : wdate,
	    "ledger_ref", on_bank ? (wref ? wref : "") : (ref ? ref : ""),
	    "ledger_amount", on_bank ? json_object_get(with, "amount_fen") :
	    json_object_get(pl, "amount_fen"),
	    "ledger_date", on_bank ? wdate : date);
}

/* "the bank line REF of DATE, 1234.56" for the PREFIX line of pair x. */
static void
line_text(json_t *x, const char *prefix, char *buf, size_t n)
{
	char kr[16], ka[16], kd[16];
	const char *ref, *date;

	snprintf(kr, sizeof(kr), "%sref", prefix);
	snprintf(ka, sizeof(ka), "%samount", prefix);
	snprintf(kd, sizeof(kd), "%sdate", prefix);
	ref = json_string_value(json_object_get(x, kr));
	date = json_string_value(json_object_get(x, kd));
	snprintf(buf, n, "the %s line %s%sof %s, %.2f",
	    prefix[0] == 'b' ? "bank" : "ledger", ref ? ref : "",
	    ref && *ref ? " " : "", date ? date : "?",
	    (double)json_integer_value(json_object_get(x, ka)) / 100.0);
}

/*
 * Whether the match m (a difference on the bank side when on_bank) would
 * book a line twice: its other side's line, or the difference's own, is
 * already in a remembered match with another line. The same match again
 * is not (a step run again after a crash). 1 with why in msg.
 */
static int
match_conflict(json_t *mem, json_t *m, bool on_bank, char *msg, size_t n)
{
	const char *mine = on_bank ? "bank_" : "ledger_";
	const char *theirs = on_bank ? "ledger_" : "bank_";
	char a[160], b[160];
	json_t *dup;

	if ((dup = pair_taking(mem, m, theirs)) != NULL &&
	    !json_equal(dup, m)) {
		line_text(m, theirs, a, sizeof(a));
		line_text(dup, mine, b, sizeof(b));
		snprintf(msg, n, "%s is already matched to %s (a line is"
		    " booked once): choose another line or reject", a, b);
		return 1;
	}
	if ((dup = pair_taking(mem, m, mine)) != NULL &&
	    !json_equal(dup, m)) {
		line_text(m, mine, a, sizeof(a));
		line_text(dup, theirs, b, sizeof(b));
		snprintf(msg, n, "%s, this difference's own line, is already"
		    " matched to %s: approve without a match to close it",
		    a, b);
		return 1;
	}
	return 0;
}

static enum step_result
remember_run(struct step_ctx *ctx, void *p)
{
	struct remember_conf *c = p;
	json_t *pl = ctx->payload, *with = json_object_get(pl, "match_with");
	json_t *mem, *m;
	char *pattern, *path, *text, why[512];
	enum step_result rc = STEP_OK;
	bool on_bank;
	struct err e;

	if (with == NULL) {
		ctx->output = json_pack("{s:b}", "remembered", 0);
		return STEP_OK;
	}
	if ((m = pair_of(pl, with, &on_bank, why, sizeof(why))) == NULL)
		return step_fail(ctx, STEP_BUSINESS_ERROR, "bad_match", "%s",
		    why);
	if ((pattern = step_expand(ctx, c->memory)) == NULL) {
		json_decref(m);
		return step_unresolved(ctx);
	}
	path = util_path_join(ctx->work_dir, pattern);
	free(pattern);
	pthread_mutex_lock(&memory_lock);
	if ((mem = memory_load(path, &e)) == NULL)
		rc = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_memory", "%s",
		    e.msg);
	else if (match_conflict(mem, m, on_bank, why, sizeof(why)))
		rc = step_fail(ctx, STEP_BUSINESS_ERROR,
		    "line_already_matched", "%s", why);
	else if (pair_taking(mem, m, "bank_") == NULL) {
		/* (else: remembered already, a run again after a crash) */
		char *dir = xstrdup(path), *slash = strrchr(dir, '/');

		json_array_append(mem, m);
		text = json_dumps(mem, JSON_INDENT(1) | JSON_ENSURE_ASCII);
		if (slash != NULL)
			*slash = '\0';
		if ((slash != NULL && util_mkdir_p(dir, 0755, &e) < 0) ||
		    util_write_file_atomic(path, text, strlen(text), 0600,
		    &e) < 0)
			rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "%s", e.msg);
		free(text);
		free(dir);
	}
	pthread_mutex_unlock(&memory_lock);
	json_decref(mem);
	if (rc == STEP_OK)
		ctx->output = json_pack("{s:b,s:O}", "remembered", 1, "match", m);
	json_decref(m);
	free(path);
	return rc;
}

/* The memory file outside a run: NULL when its name needs an item's
 * values (then the step itself checks, when it runs). */
static char *
memory_path(const struct remember_conf *c, const char *work_dir)
{
	if (strstr(c->memory, "${") != NULL)
		return NULL;
	return util_path_join(work_dir, c->memory);
}

/* A match a reviewer is about to approve that would book a line twice
 * is refused now, naming the match that has it. */
static int
remember_check(const void *conf, const char *work_dir, json_t *decision,
    json_t *payload, struct err *e)
{
	json_t *with = json_object_get(decision, "match_with"), *mem, *m;
	char *path, why[512];
	bool on_bank;
	int rc = 0;

	if (with == NULL)
		return 0;
	if ((m = pair_of(payload, with, &on_bank, why, sizeof(why))) == NULL) {
		err_setc(e, ERR_INVALID, "%s", why);
		return -1;
	}
	if ((path = memory_path(conf, work_dir)) != NULL) {
		pthread_mutex_lock(&memory_lock);
		mem = memory_load(path, e);
		pthread_mutex_unlock(&memory_lock);
		if (mem == NULL)
			rc = -1;
		else if (match_conflict(mem, m, on_bank, why, sizeof(why))) {
			err_setc(e, ERR_CONFLICT, "%s", why);
			rc = -1;
		}
		json_decref(mem);
		free(path);
	}
	json_decref(m);
	return rc;
}

/*
 * An open difference, as a reviewer opens it, says which of its lines
 * other reviewers have booked since it was made: "matched": {"line":
 * PAIR when its own line is matched already, "candidates": [{"index",
 * "pair"}] for candidates matched to another line}.
 */
static void
remember_annotate(const void *conf, const char *work_dir, json_t *esc)
{
	json_t *pl = json_object_get(esc, "payload"), *mem, *x, *c, *cands;
	json_t *out, *taken;
	const char *side = json_string_value(json_object_get(pl, "side"));
	bool on_bank = side != NULL && strcmp(side, "bank") == 0;
	char *path;
	struct err e;
	size_t i;

	if (!json_is_object(pl) || side == NULL ||
	    (path = memory_path(conf, work_dir)) == NULL)
		return;
	pthread_mutex_lock(&memory_lock);
	mem = memory_load(path, &e);
	pthread_mutex_unlock(&memory_lock);
	free(path);
	if (mem == NULL || json_array_size(mem) == 0) {
		json_decref(mem);
		return;
	}
	out = json_object();
	taken = json_array();
	if ((x = pair_with(mem, on_bank ? "bank_" : "ledger_",
	    json_object_get(pl, "ref"), json_object_get(pl, "amount_fen"),
	    json_object_get(pl, "date"))) != NULL)
		json_object_set(out, "line", x);
	cands = json_object_get(pl, "candidates");
	json_array_foreach(cands, i, c)
		if ((x = pair_with(mem, on_bank ? "ledger_" : "bank_",
		    json_object_get(c, "ref"), json_object_get(c, "amount_fen"),
		    json_object_get(c, "date"))) != NULL)
			json_array_append_new(taken, json_pack("{s:I,s:O}",
			    "index", (json_int_t)i, "pair", x));
	if (json_array_size(taken) > 0)
		json_object_set(out, "candidates", taken);
	if (json_object_size(out) > 0)
		json_object_set(esc, "matched", out);
	json_decref(taken);
	json_decref(out);
	json_decref(mem);
}

const struct step_kind step_reconcile_remember = {
	.name = "reconcile.remember",
	.summary = "remembers a reviewer's match for the next reconciliation",
	.keys = remember_keys,
	.prepare = remember_prepare,
	.release = remember_release,
	.run = remember_run,
	.output_has = remember_output_has,
	.check_handed_on = remember_check,
	.annotate = remember_annotate,
	.effect = "adds the match to the remembered matches",
};
