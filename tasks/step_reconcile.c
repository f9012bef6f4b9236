/*
 * step_reconcile.c - "reconcile": 社保基金财务对账 of one account and
 * period. Reads the bank statement and the ledger export named by the
 * item, matches them (recon/), writes result.json, differences.csv and
 * report.html, and escalates when anything does not reconcile: every
 * difference, with its candidates, goes to the reviewer as evidence.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "playbook.h"
#include "recon.h"

struct recon_conf {
	char *bank;              /* template: path of the statement */
	char *ledger;            /* template: path of the ledger export */
	char *out;               /* template + strftime: report folder */
	struct recon_rules rules;
};

static const char *const recon_keys[] = { "bank", "ledger", "out", "rules",
    "rules_file", NULL };

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
	recon_rules_clear(&c->rules);
	free(c);
}

/* The reviewer's remembered matches: payload "manual_matches". */
static struct recon_manual *
manual_from_payload(json_t *payload, size_t *n)
{
	json_t *arr = json_object_get(payload, "manual_matches"), *m;
	struct recon_manual *out;
	size_t i;

	*n = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return NULL;
	out = xcalloc(json_array_size(arr), sizeof(*out));
	json_array_foreach(arr, i, m) {
		const char *bd = json_string_value(json_object_get(m, "bank_date"));
		const char *ld = json_string_value(json_object_get(m,
		    "ledger_date"));

		out[*n].bank_ref = json_string_value(json_object_get(m,
		    "bank_ref"));
		out[*n].ledger_ref = json_string_value(json_object_get(m,
		    "ledger_ref"));
		out[*n].bank_amount = json_integer_value(json_object_get(m,
		    "bank_amount"));
		out[*n].ledger_amount = json_integer_value(json_object_get(m,
		    "ledger_amount"));
		out[*n].bank_date = bd ? recon_day_parse(bd) : 0;
		out[*n].ledger_date = ld ? recon_day_parse(ld) : 0;
		if (out[*n].bank_ref == NULL)
			out[*n].bank_ref = "";
		if (out[*n].ledger_ref == NULL)
			out[*n].ledger_ref = "";
		(*n)++;
	}
	return out;
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
	json_t *summary;
	struct err e;
	struct tm tm;

	bank_path = util_path_join(ctx->work_dir, (pattern = step_expand(ctx,
	    c->bank)));
	free(pattern);
	ledger_path = util_path_join(ctx->work_dir, (pattern = step_expand(ctx,
	    c->ledger)));
	free(pattern);
	pattern = step_expand(ctx, c->out);
	localtime_r(&t, &tm);
	if (strftime(dirbuf, sizeof(dirbuf), pattern, &tm) == 0)
		snprintf(dirbuf, sizeof(dirbuf), "%s", pattern);
	free(pattern);
	outdir = util_path_join(ctx->work_dir, dirbuf);

	/* A file that cannot be read as a statement is the sender's to fix:
	 * a business error, escalated with the parser's file:line message,
	 * never a half report. */
	if (recon_parse_file(bank_path, &c->rules.bank_csv, &bank, &e) < 0 ||
	    recon_parse_file(ledger_path, &c->rules.ledger_csv, &ledger,
	    &e) < 0) {
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
	manual = manual_from_payload(ctx->payload, &nmanual);
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
	if (res->ndiffs > 0 || !res->ties) {
		rc = step_fail(ctx, STEP_ESCALATE, "reconcile_differences",
		    "%zu difference(s) between %s and %s; the 余额调节表 %s;"
		    " report %s/report.html", res->ndiffs, bank_path,
		    ledger_path, res->ties ? "ties" : "does not tie", outdir);
		ctx->context = summary;
	} else
		ctx->output = summary;
out:
	recon_result_free(res);
	recon_side_free(&bank);
	recon_side_free(&ledger);
	free(bank_path);
	free(ledger_path);
	free(outdir);
	return rc;
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
