/*
 * step_records.c - "records.match": record matching (records/) in a
 * playbook, in one of three modes:
 *
 *   match       two sets (or one against itself): pairs.csv, issues.csv,
 *               result.json; pairs for review go to reviewers
 *   merge       参保信息合并: one register against itself, clusters of
 *               duplicates; exact-ID clusters whose periods do not overlap
 *               become merge instructions, every other cluster is a
 *               reviewer's item (double enrolment its own reason)
 *   crosscheck  四比对: recipients against the death and prison registries
 *               and other regions' recipients; exact-ID cases go on the
 *               suspension list, fuzzy ones to reviewers
 *
 * A file that cannot be read is a business error with its file:line (the
 * run escalates); a file not there yet is a system error (retried). Every
 * reviewer's item carries the components of its pairs as evidence.
 *
 * With push = "PLAYBOOK" the certain merges (merge) and suspensions
 * (crosscheck) are also handed, one item each, to a playbook that sends
 * them to the legacy system (an http.submit step); the files are written
 * either way. The items are keyed by the run and the cluster or case, so
 * a re-run or a crash between spawns never pushes anything twice.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "playbook.h"
#include "records.h"

enum mode { MODE_MATCH, MODE_MERGE, MODE_CROSSCHECK };

struct registry {
	enum rec_registry kind;
	char *file;              /* template */
};

struct records_conf {
	enum mode mode;
	char *left, *right;      /* templates */
	bool self;
	struct registry *reg;
	size_t nreg;
	char *out;               /* template + strftime */
	char *review;            /* playbook for one item per case */
	char *push;              /* playbook for one item per certain merge
	                            or suspension, or NULL: files only */
	bool suspend;            /* crosscheck: exact cases are suspended */
	struct rec_rules rules;
};

static const char *const records_keys[] = { "mode", "left", "right", "self",
    "registries", "out", "review", "push", "suspend", "rules", "rules_file",
    NULL };

static int
diag_err(struct pb_diag *d, const config_setting_t *at, struct err *e)
{
	pb_diag_add(d, at, "%s", e->msg);
	return -1;
}

static int
records_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct records_conf *c = xcalloc(1, sizeof(*c));
	const config_setting_t *g;
	const char *v;
	int b;
	struct err e;
	char *base = NULL;

	*confp = c;
	c->suspend = true;
	rec_rules_default(&c->rules);
	if (config_setting_source_file(s) != NULL) {
		char *slash;

		base = xstrdup(config_setting_source_file(s));
		if ((slash = strrchr(base, '/')) != NULL)
			*slash = '\0';
		else
			strcpy(base, ".");
	}
	if (config_setting_lookup_string(s, "mode", &v)) {
		if (strcmp(v, "match") == 0)
			c->mode = MODE_MATCH;
		else if (strcmp(v, "merge") == 0)
			c->mode = MODE_MERGE;
		else if (strcmp(v, "crosscheck") == 0)
			c->mode = MODE_CROSSCHECK;
		else {
			pb_diag_add(d, config_setting_get_member(s, "mode"),
			    "mode is \"match\", \"merge\" or \"crosscheck\"");
			goto fail;
		}
	}
	if (!config_setting_lookup_string(s, "left", &v)) {
		pb_diag_add(d, s, "records.match needs left = \"...\" (the"
		    " record set: a CSV file; ${field} takes a payload field)");
		goto fail;
	}
	c->left = xstrdup(v);
	if (config_setting_lookup_string(s, "right", &v))
		c->right = xstrdup(v);
	if (config_setting_lookup_bool(s, "self", &b))
		c->self = b;
	if (config_setting_lookup_bool(s, "suspend", &b))
		c->suspend = b;
	if (c->mode == MODE_MERGE)
		c->self = true;
	if (c->mode == MODE_MATCH && (c->right == NULL) != c->self) {
		pb_diag_add(d, s, "records.match (mode match) needs right ="
		    " \"...\" or self = true");
		goto fail;
	}
	if (c->mode == MODE_MERGE && c->right != NULL) {
		pb_diag_add(d, config_setting_get_member(s, "right"),
		    "mode merge matches left against itself: drop right");
		goto fail;
	}
	if ((g = config_setting_get_member(s, "registries")) != NULL) {
		if (c->mode != MODE_CROSSCHECK || !config_setting_is_list(g)) {
			pb_diag_add(d, g, "registries is a list of { kind ="
			    " \"death\"|\"prison\"|\"recipients\"; file ="
			    " \"...\"; } in mode crosscheck");
			goto fail;
		}
		c->nreg = (size_t)config_setting_length(g);
		c->reg = xcalloc(c->nreg ? c->nreg : 1, sizeof(*c->reg));
		for (size_t i = 0; i < c->nreg; i++) {
			const config_setting_t *r = config_setting_get_elem(g,
			    (unsigned)i);
			const char *k, *f;

			if (!config_setting_lookup_string(r, "kind", &k) ||
			    !config_setting_lookup_string(r, "file", &f) ||
			    (strcmp(k, "death") != 0 && strcmp(k, "prison") != 0 &&
			    strcmp(k, "recipients") != 0)) {
				pb_diag_add(d, r, "a registry is { kind ="
				    " \"death\"|\"prison\"|\"recipients\"; file ="
				    " \"...\"; }");
				goto fail;
			}
			c->reg[i].kind = strcmp(k, "death") == 0 ? REG_DEATH :
			    strcmp(k, "prison") == 0 ? REG_PRISON :
			    REG_RECIPIENTS;
			c->reg[i].file = xstrdup(f);
		}
	}
	if (c->mode == MODE_CROSSCHECK && c->nreg == 0) {
		pb_diag_add(d, s, "mode crosscheck needs registries = ( { kind"
		    " = \"death\"; file = \"...\"; }, ... )");
		goto fail;
	}
	c->out = xstrdup(config_setting_lookup_string(s, "out", &v) ? v :
	    "reports/records/%Y-%m-%d");
	if (config_setting_lookup_string(s, "review", &v))
		c->review = xstrdup(v);
	if (config_setting_lookup_string(s, "push", &v)) {
		if (c->mode == MODE_MATCH) {
			pb_diag_add(d, config_setting_get_member(s, "push"),
			    "push hands merges (mode merge) or suspensions (mode"
			    " crosscheck) to a playbook; mode match has neither");
			goto fail;
		}
		c->push = xstrdup(v);
	}
	if ((g = config_setting_get_member(s, "rules")) != NULL &&
	    rec_rules_load(g, base, &c->rules, &e) < 0) {
		diag_err(d, g, &e);
		goto fail;
	}
	if (config_setting_lookup_string(s, "rules_file", &v)) {
		/* Relative to the playbook that names it. */
		char *path = v[0] == '/' || base == NULL ? xstrdup(v) :
		    xasprintf("%s/%s", base, v);

		if (rec_rules_load_file(path, &c->rules, &e) < 0) {
			free(path);
			diag_err(d, config_setting_get_member(s, "rules_file"),
			    &e);
			goto fail;
		}
		free(path);
	}
	free(base);
	return 0;
fail:
	free(base);
	return -1;
}

static void
records_release(void *p)
{
	struct records_conf *c = p;

	if (c == NULL)
		return;
	free(c->left);
	free(c->right);
	for (size_t i = 0; i < c->nreg; i++)
		free(c->reg[i].file);
	free(c->reg);
	free(c->out);
	free(c->review);
	free(c->push);
	rec_rules_clear(&c->rules);
	free(c);
}

static char *
expand_path(struct step_ctx *ctx, const char *tmpl)
{
	/* step_run() saw every reference of the settings filled in before
	 * the step ran, so NULL cannot come back here. */
	char *pattern = step_expand(ctx, tmpl);
	char *path = util_path_join(ctx->work_dir, pattern ? pattern : "");

	free(pattern);
	return path;
}

static enum step_result
load_failed(struct step_ctx *ctx, struct err *e)
{
	/* A file not there yet may still arrive: retried, then escalated. */
	if (e->code == ERR_NOTFOUND)
		return step_fail(ctx, STEP_SYSTEM_ERROR, "missing_file", "%s",
		    e->msg);
	return step_fail(ctx, STEP_BUSINESS_ERROR, "bad_input_file", "%s",
	    e->msg);
}

/* One reviewer's (or push) item; keyed by the run and the case, so a
 * re-run of the same files spawns nothing twice. Takes evidence. */
static int
spawn_case(struct step_ctx *ctx, const char *playbook, const char *what,
    const char *reason, json_t *evidence, const char *message,
    struct err *e)
{
	char *key = xasprintf("%s#%s", ctx->item->key, what), *text;
	int rc;

	if (reason != NULL)
		json_object_set_new(evidence, "reason", json_string(reason));
	if (message != NULL)
		json_object_set_new(evidence, "message", json_string(message));
	json_object_set_new(evidence, "run_item", json_integer(ctx->item->id));
	json_object_set_new(evidence, "run_key", json_string(ctx->item->key));
	text = json_dumps(evidence, JSON_COMPACT);
	rc = ctx->spawn(ctx, playbook, key, text, e);
	json_decref(evidence);
	free(text);
	free(key);
	return rc;
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* The elements of arr joined by ';': periods as "from~to" (a cluster's
 * combined_periods), strings as they are (a case's reasons). */
static void
join_text(json_t *arr, char *buf, size_t size)
{
	json_t *x;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(arr, i, x) {
		size_t n = strlen(buf);

		if (json_is_object(x))
			snprintf(buf + n, size - n, "%s%s~%s", i ? ";" : "",
			    jstr(x, "from"), jstr(x, "to"));
		else
			snprintf(buf + n, size - n, "%s%s", i ? ";" : "",
			    json_string_value(x) ? json_string_value(x) : "");
	}
}

static bool
is_survivor(json_t *cluster, json_t *m)
{
	json_t *s = json_object_get(cluster, "survivor");

	return json_integer_value(json_object_get(m, "line")) ==
	    json_integer_value(json_object_get(s, "line")) &&
	    strcmp(jstr(m, "file"), jstr(s, "file")) == 0;
}

/*
 * The member of the cluster that is its survivor (by file and line), or
 * NULL: a reviewer's choice of another survivor ({"survivor": {"line":
 * N}}, merged into the payload) is taken from the members, so the name
 * and ID pushed are the chosen record's, never a mix of two.
 */
static json_t *
survivor_of(json_t *cluster)
{
	json_t *m;
	size_t i;

	if (!json_is_object(json_object_get(cluster, "survivor")))
		return NULL;
	json_array_foreach(json_object_get(cluster, "members"), i, m)
		if (is_survivor(cluster, m))
			return m;
	return NULL;
}

/*
 * The payload of a push item: what the legacy system's form needs as
 * plain fields (${survivor}, ${merged}, ${periods}; ${id_no},
 * ${next_payment}, ${amount}, ${reasons}), and the cluster or case
 * itself as evidence for a reviewer should the system refuse it. A
 * record is "LINE:ID", its row in the export and its 18-digit ID.
 * NULL when the cluster or case lacks what the push needs.
 */
static json_t *
push_payload(json_t *kase, bool suspend)
{
	char buf[2048];
	json_t *pl;

	if (suspend) {
		json_t *r = json_object_get(kase, "recipient");

		if (!json_is_object(r) || json_object_get(kase,
		    "next_payment") == NULL)
			return NULL;
		join_text(json_object_get(kase, "reasons"), buf, sizeof(buf));
		pl = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "id_no",
		    jstr(r, "id"), "name", jstr(r, "name"), "line",
		    json_integer_value(json_object_get(r, "line")),
		    "next_payment", jstr(kase, "next_payment"), "amount",
		    jstr(kase, "amount_at_risk"), "reasons", buf);
		if (json_object_get(r, "benefit") != NULL)
			json_object_set(pl, "benefit", json_object_get(r,
			    "benefit"));
	} else {
		json_t *s = survivor_of(kase), *m;
		size_t i, n = 0;

		if (s == NULL)
			return NULL;
		buf[0] = '\0';
		json_array_foreach(json_object_get(kase, "members"), i, m) {
			if (is_survivor(kase, m))
				continue;
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
			    "%s%lld:%s", n++ ? ";" : "", (long long)
			    json_integer_value(json_object_get(m, "line")),
			    jstr(m, "id"));
		}
		if (n == 0)
			return NULL;
		pl = json_pack("{s:s,s:s,s:s}", "merged", buf, "survivor_id",
		    jstr(s, "id"), "survivor_name", jstr(s, "name"));
		snprintf(buf, sizeof(buf), "%lld:%s", (long long)
		    json_integer_value(json_object_get(s, "line")),
		    jstr(s, "id"));
		json_object_set_new(pl, "survivor", json_string(buf));
		join_text(json_object_get(kase, "combined_periods"), buf,
		    sizeof(buf));
		json_object_set_new(pl, "periods", json_string(buf));
	}
	json_object_set(pl, suspend ? "case" : "cluster", kase);
	return pl;
}

/* One push item for a certain merge or suspension. Takes kase. */
static int
spawn_push(struct step_ctx *ctx, const char *playbook, const char *what,
    json_t *kase, bool suspend, struct err *e)
{
	json_t *pl = push_payload(kase, suspend);

	json_decref(kase);
	if (pl == NULL) {
		err_setc(e, ERR_INVALID, "the %s has no %s to push",
		    suspend ? "case" : "cluster", suspend ?
		    "recipient or next payment" : "survivor or other member");
		return -1;
	}
	return spawn_case(ctx, playbook, what, NULL, pl, NULL, e);
}

/* Keep the database's copy small: the first cases; all are in files. */
#define MAX_CASES 200

static enum step_result
run_match(struct step_ctx *ctx, struct records_conf *c, const char *outdir)
{
	struct rec_set L, R;
	struct rec_result *res;
	char *left = expand_path(ctx, c->left), *right = NULL;
	json_t *summary, *pairs;
	enum step_result rc = STEP_OK;
	struct err e;
	size_t nspawned = 0;

	err_clear(&e);
	if (!c->self)
		right = expand_path(ctx, c->right);
	if (rec_load_pair(left, rec_rules_side(&c->rules, "left"), right,
	    rec_rules_side(&c->rules, "right"), &c->rules, &L, &R, &e) < 0) {
		rc = load_failed(ctx, &e);
		ctx->context = json_pack("{s:s,s:s?}", "left", left, "right",
		    right);
		free(left);
		free(right);
		return rc;
	}
	res = rec_match(&L, c->self ? NULL : &R, &c->rules);
	if (rec_write_outputs(outdir, &L, c->self ? NULL : &R, res, &summary,
	    &e) < 0) {
		rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
		goto out;
	}
	pairs = json_array();
	for (size_t i = 0; i < res->n; i++) {
		const struct rec_pair *p = &res->pairs[i];
		json_t *pj;

		if (p->decision != REC_REVIEW)
			continue;
		pj = rec_pair_json(&L, c->self ? &L : &R, p);
		if (c->review != NULL && ctx->spawn != NULL) {
			char what[64], msg[256];

			snprintf(what, sizeof(what), "pair:%u:%u",
			    L.r[p->l].line, (c->self ? &L : &R)->r[p->r].line);
			snprintf(msg, sizeof(msg), "possible match (score %d):"
			    " line %u and line %u", p->score, L.r[p->l].line,
			    (c->self ? &L : &R)->r[p->r].line);
			if (spawn_case(ctx, c->review, what, "match_review",
			    json_deep_copy(pj), msg, &e) < 0) {
				json_decref(pj);
				json_decref(pairs);
				json_decref(summary);
				rc = step_fail(ctx, STEP_SYSTEM_ERROR,
				    "system_error", "handing pairs to"
				    " reviewers: %s", e.msg);
				goto out;
			}
			nspawned++;
		}
		if (json_array_size(pairs) < MAX_CASES)
			json_array_append(pairs, pj);
		json_decref(pj);
	}
	json_object_set_new(summary, "review_pairs", pairs);
	log_emit(LL_INFO, ctx->item->id, ctx->pb->name, ctx->step->id,
	    "matched %zu and %zu records: %zu auto, %zu review", L.n,
	    c->self ? L.n : R.n, res->nauto, res->nreview);
	if (res->nreview > 0 && nspawned == 0) {
		rc = step_fail(ctx, STEP_ESCALATE, "match_review", "%zu pair(s)"
		    " need a reviewer; %s/pairs.csv", res->nreview, outdir);
		ctx->context = summary;
	} else
		ctx->output = summary;
out:
	rec_result_free(res);
	rec_set_free(&L);
	rec_set_free(&R);
	free(left);
	free(right);
	return rc;
}

static enum step_result
run_merge(struct step_ctx *ctx, struct records_conf *c, const char *outdir)
{
	struct rec_set S, none;
	struct rec_result *res;
	struct rec_merge *m = NULL;
	char *left = expand_path(ctx, c->left);
	json_t *summary, *open = json_array();
	enum step_result rc = STEP_OK;
	size_t nspawned = 0, npushed = 0;
	struct err e;

	err_clear(&e);
	if (rec_load_pair(left, rec_rules_side(&c->rules, "left"), NULL, NULL,
	    &c->rules, &S, &none, &e) < 0) {
		rc = load_failed(ctx, &e);
		ctx->context = json_pack("{s:s}", "left", left);
		free(left);
		json_decref(open);
		return rc;
	}
	res = rec_match(&S, NULL, &c->rules);
	m = rec_merge_plan(&S, res);
	if (rec_write_outputs(outdir, &S, NULL, res, &summary, &e) < 0 ||
	    rec_merge_write(outdir, &S, res, m, &e) < 0) {
		json_decref(open);
		json_decref(summary);
		rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
		goto out;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct rec_cluster *cl = &m->c[i];
		const char *reason;
		json_t *cj;
		char what[64], msg[300];

		if (cl->kind == MERGE_AUTO) {
			if (c->push == NULL || ctx->spawn == NULL)
				continue;
			cj = rec_cluster_json(&S, res, cl);
			snprintf(what, sizeof(what), "push:cluster:%u",
			    S.r[cl->members[0]].line);
			if (spawn_push(ctx, c->push, what, cj, false, &e) < 0) {
				json_decref(open);
				json_decref(summary);
				rc = step_fail(ctx, STEP_SYSTEM_ERROR,
				    "system_error", "handing merges to %s: %s",
				    c->push, e.msg);
				goto out;
			}
			npushed++;
			continue;
		}
		reason = cl->kind == MERGE_DOUBLE_ENROLMENT ?
		    "possible_double_enrolment" : "duplicate_review";
		cj = rec_cluster_json(&S, res, cl);
		snprintf(what, sizeof(what), "cluster:%u",
		    S.r[cl->members[0]].line);
		snprintf(msg, sizeof(msg), "%s: %zu records of %.18s %s (line"
		    " %u): %s", cl->kind == MERGE_DOUBLE_ENROLMENT ?
		    "possible double enrolment" : "possible duplicate", cl->n,
		    S.r[cl->members[0]].id, rec_name(&S, &S.r[cl->members[0]]),
		    S.r[cl->members[0]].line, cl->reason);
		if (c->review != NULL && ctx->spawn != NULL) {
			if (spawn_case(ctx, c->review, what, reason,
			    json_deep_copy(cj), msg, &e) < 0) {
				json_decref(cj);
				json_decref(open);
				json_decref(summary);
				rc = step_fail(ctx, STEP_SYSTEM_ERROR,
				    "system_error", "handing clusters to"
				    " reviewers: %s", e.msg);
				goto out;
			}
			nspawned++;
		}
		if (json_array_size(open) < MAX_CASES)
			json_array_append(open, cj);
		json_decref(cj);
	}
	json_object_set_new(summary, "clusters", json_integer((json_int_t)m->n));
	json_object_set_new(summary, "auto_merged", json_integer(
	    (json_int_t)m->nauto));
	json_object_set_new(summary, "for_review", json_integer(
	    (json_int_t)m->nreview));
	json_object_set_new(summary, "double_enrolment", json_integer(
	    (json_int_t)m->ndouble));
	json_object_set_new(summary, "merge_instructions", json_sprintf(
	    "%s/merge-instructions.csv", outdir));
	json_object_set_new(summary, "push", c->push ? json_string(c->push) :
	    json_null());
	json_object_set_new(summary, "pushed", json_integer(
	    (json_int_t)npushed));
	json_object_set_new(summary, "open_clusters", open);
	log_emit(LL_INFO, ctx->item->id, ctx->pb->name, ctx->step->id,
	    "%zu records: %zu duplicate cluster(s), %zu merged automatically,"
	    " %zu for review, %zu possible double enrolment(s)", S.n, m->n,
	    m->nauto, m->nreview, m->ndouble);
	if (m->nreview + m->ndouble > 0 && nspawned == 0) {
		rc = step_fail(ctx, STEP_ESCALATE, m->ndouble ?
		    "possible_double_enrolment" : "duplicate_review",
		    "%zu duplicate cluster(s) need a reviewer (%zu possible"
		    " double enrolment); %s/clusters.json", m->nreview +
		    m->ndouble, m->ndouble, outdir);
		ctx->context = summary;
	} else
		ctx->output = summary;
out:
	rec_merge_free(m);
	rec_result_free(res);
	rec_set_free(&S);
	free(left);
	return rc;
}

/* The rules' side that maps a registry's columns. */
static const char *
side_of(enum rec_registry k)
{
	return k == REG_DEATH ? "death" : k == REG_PRISON ? "prison" :
	    "recipients";
}

static enum step_result
run_crosscheck(struct step_ctx *ctx, struct records_conf *c,
    const char *outdir)
{
	struct rec_set rcp, *reg = xcalloc(c->nreg, sizeof(*reg));
	struct rec_crosscheck cc = { 0 };
	char *left = expand_path(ctx, c->left), **paths;
	json_t *summary = NULL, *open = json_array();
	enum step_result rc = STEP_OK;
	size_t nspawned = 0, nloaded = 0, npushed = 0;
	struct err e;

	err_clear(&e);
	paths = xcalloc(c->nreg, sizeof(*paths));
	for (size_t i = 0; i < c->nreg; i++)
		paths[i] = expand_path(ctx, c->reg[i].file);
	/* The recipients and the first registry at once, then the rest. */
	if (rec_load_pair(left, rec_rules_side(&c->rules, "left"), paths[0],
	    rec_rules_side(&c->rules, side_of(c->reg[0].kind)), &c->rules,
	    &rcp, &reg[0], &e) < 0) {
		rc = load_failed(ctx, &e);
		goto out;
	}
	nloaded = 1;
	for (size_t i = 1; i < c->nreg; i++, nloaded++) {
		if (rec_set_load(paths[i], rec_rules_side(&c->rules,
		    side_of(c->reg[i].kind)),
		    &c->rules, &reg[i], &e) < 0) {
			rec_set_free(&reg[i]);
			rc = load_failed(ctx, &e);
			goto out;
		}
	}
	{
		struct rec_result *first = NULL;

		for (size_t i = 0; i < c->nreg; i++) {
			struct rec_result *res = rec_match(&rcp, &reg[i],
			    &c->rules);

			rec_crosscheck_add(&cc, &rcp, &reg[i], c->reg[i].kind,
			    res);
			if (i == 0)
				first = res;
			else
				rec_result_free(res);
		}
		rec_crosscheck_finish(&cc, &rcp);
		/* The pairs and issues of the recipients against the first
		 * registry go in the usual files; the cases are the
		 * result. */
		if (rec_write_outputs(outdir, &rcp, &reg[0], first, &summary,
		    &e) < 0) {
			rec_result_free(first);
			rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "%s", e.msg);
			goto out;
		}
		rec_result_free(first);
	}
	if (rec_crosscheck_write(outdir, &rcp, &cc, &e) < 0) {
		rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
		goto out;
	}
	for (size_t i = 1; i < c->nreg; i++)
		if (rec_append_issues(outdir, &reg[i], &e) < 0) {
			rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "%s", e.msg);
			goto out;
		}
	for (size_t i = 1; i < c->nreg; i++) {
		char key[32];

		snprintf(key, sizeof(key), "registry_%zu", i + 1);
		json_object_set_new(summary, key, json_pack("{s:s,s:I,s:I}",
		    "file", reg[i].path, "records", (json_int_t)reg[i].n,
		    "issues", (json_int_t)reg[i].nissues));
	}
	for (size_t i = 0; i < cc.n; i++) {
		const struct rec_case *k = &cc.c[i];
		json_t *cj = rec_case_json(&rcp, k);
		char what[64], msg[400];

		if (k->exact && c->suspend) {
			if (c->push != NULL && ctx->spawn != NULL) {
				snprintf(what, sizeof(what), "push:case:%u",
				    rcp.r[k->rec].line);
				if (spawn_push(ctx, c->push, what, cj, true,
				    &e) < 0) {
					rc = step_fail(ctx, STEP_SYSTEM_ERROR,
					    "system_error", "handing"
					    " suspensions to %s: %s", c->push,
					    e.msg);
					goto out;
				}
				npushed++;
			} else
				json_decref(cj);
			continue;
		}
		snprintf(what, sizeof(what), "case:%u", rcp.r[k->rec].line);
		snprintf(msg, sizeof(msg), "%s (line %u, %.18s %s): %s; %s at"
		    " risk", k->exact ? "registry hit" : "possible registry hit",
		    rcp.r[k->rec].line, rcp.r[k->rec].id, rec_name(&rcp,
		    &rcp.r[k->rec]), json_string_value(json_object_get(cj,
		    "summary")), json_string_value(json_object_get(cj,
		    "amount_at_risk")));
		if (c->review != NULL && ctx->spawn != NULL) {
			if (spawn_case(ctx, c->review, what, k->exact ?
			    "crosscheck_hit" : "crosscheck_fuzzy_hit",
			    json_deep_copy(cj), msg, &e) < 0) {
				json_decref(cj);
				rc = step_fail(ctx, STEP_SYSTEM_ERROR,
				    "system_error", "handing cases to"
				    " reviewers: %s", e.msg);
				goto out;
			}
			nspawned++;
		}
		if (json_array_size(open) < MAX_CASES)
			json_array_append(open, cj);
		json_decref(cj);
	}
	{
		char y[32];
		int64_t t = cc.total_at_risk;

		snprintf(y, sizeof(y), "%lld.%02lld", (long long)t / 100,
		    (long long)(t < 0 ? -t : t) % 100);
		json_object_set_new(summary, "cases", json_integer(
		    (json_int_t)cc.n));
		json_object_set_new(summary, "suspended", json_integer(
		    c->suspend ? (json_int_t)cc.nexact : 0));
		json_object_set_new(summary, "for_review", json_integer(
		    (json_int_t)(c->suspend ? cc.nfuzzy : cc.n)));
		json_object_set_new(summary, "total_at_risk", json_string(y));
		json_object_set_new(summary, "total_at_risk_fen", json_integer(
		    (json_int_t)t));
		json_object_set_new(summary, "suspension_list", json_sprintf(
		    "%s/suspensions.csv", outdir));
		json_object_set_new(summary, "push", c->push ?
		    json_string(c->push) : json_null());
		json_object_set_new(summary, "pushed", json_integer(
		    (json_int_t)npushed));
		json_object_set_new(summary, "cases_file", json_sprintf(
		    "%s/cases.json", outdir));
		json_object_set_new(summary, "open_cases", open);
		open = NULL;
		log_emit(LL_INFO, ctx->item->id, ctx->pb->name, ctx->step->id,
		    "%zu recipients: %zu case(s), %zu suspended, %zu for"
		    " review, %s yuan at risk", rcp.n, cc.n, c->suspend ?
		    cc.nexact : 0, c->suspend ? cc.nfuzzy : cc.n, y);
	}
	if ((c->suspend ? cc.nfuzzy : cc.n) > 0 && nspawned == 0) {
		rc = step_fail(ctx, STEP_ESCALATE, "crosscheck_fuzzy_hit",
		    "%zu case(s) need a reviewer; %s/cases.json", c->suspend ?
		    cc.nfuzzy : cc.n, outdir);
		ctx->context = summary;
	} else
		ctx->output = summary;
	summary = NULL;
out:
	json_decref(summary);
	json_decref(open);
	rec_crosscheck_clear(&cc);
	if (nloaded > 0)
		rec_set_free(&rcp);
	for (size_t i = 0; i < nloaded; i++)
		rec_set_free(&reg[i]);
	for (size_t i = 0; i < c->nreg; i++)
		free(paths[i]);
	free(paths);
	free(reg);
	free(left);
	return rc;
}

static enum step_result
records_run(struct step_ctx *ctx, void *p)
{
	struct records_conf *c = p;
	time_t t = (time_t)(ctx->item->created / 1000);
	char *pattern, dirbuf[1024], *outdir;
	enum step_result rc;
	struct tm tm;

	if ((pattern = step_expand(ctx, c->out)) == NULL)
		return step_unresolved(ctx);
	localtime_r(&t, &tm);
	if (strftime(dirbuf, sizeof(dirbuf), pattern, &tm) == 0)
		snprintf(dirbuf, sizeof(dirbuf), "%s", pattern);
	free(pattern);
	outdir = step_out_path(ctx, dirbuf);
	switch (c->mode) {
	case MODE_MERGE:
		rc = run_merge(ctx, c, outdir);
		break;
	case MODE_CROSSCHECK:
		rc = run_crosscheck(ctx, c, outdir);
		break;
	default:
		rc = run_match(ctx, c, outdir);
	}
	free(outdir);
	return rc;
}

const struct step_kind step_records = {
	.name = "records.match",
	.summary = "record matching: duplicates (参保信息合并) and registry"
	    " cross-checks (四比对)",
	.keys = records_keys,
	.prepare = records_prepare,
	.release = records_release,
	.run = records_run,
};

/*
 * "records.apply": the step after a reviewer's approval of a case that
 * records.match handed over. mode "merge" appends the cluster's merges
 * (survivor, each other member, the combined periods) to a merge
 * instructions file; mode "suspend" appends the recipient's next payment
 * to a suspension list. Both in the formats records.match writes. Each
 * row names the review item, and a row already there for the item is
 * not written again, so a re-run after a crash adds nothing twice. With
 * push = "PLAYBOOK" the approved merge or suspension is also handed to
 * that playbook (one item, keyed by the review item) to be sent to the
 * legacy system, as records.match does with the certain ones.
 */
struct apply_conf {
	bool suspend;
	char *file;              /* template */
	char *push;              /* playbook, or NULL */
};

static const char *const apply_keys[] = { "mode", "file", "push", NULL };

/* Appends run in parallel on several workers. */
static pthread_mutex_t apply_lock = PTHREAD_MUTEX_INITIALIZER;

static int
apply_prepare(const config_setting_t *s, void **confp, struct pb_diag *d)
{
	struct apply_conf *c = xcalloc(1, sizeof(*c));
	const char *v;

	*confp = c;
	if (!config_setting_lookup_string(s, "mode", &v) ||
	    (strcmp(v, "merge") != 0 && strcmp(v, "suspend") != 0)) {
		pb_diag_add(d, s, "records.apply needs mode = \"merge\" or"
		    " \"suspend\"");
		return -1;
	}
	c->suspend = strcmp(v, "suspend") == 0;
	if (!config_setting_lookup_string(s, "file", &v)) {
		pb_diag_add(d, s, "records.apply needs file = \"...\" (the"
		    " merge instructions or the suspension list to add to)");
		return -1;
	}
	c->file = xstrdup(v);
	if (config_setting_lookup_string(s, "push", &v))
		c->push = xstrdup(v);
	return 0;
}

static void
apply_release(void *p)
{
	struct apply_conf *c = p;

	if (c != NULL) {
		free(c->file);
		free(c->push);
	}
	free(c);
}

/* A CSV cell into buf (quoted when it must be). */
static void
cell(char **buf, size_t *len, size_t *cap, const char *s, bool last)
{
	size_t need = strlen(s) * 2 + 4;

	if (*len + need + 1 > *cap) {
		*cap = (*len + need + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	if (strpbrk(s, ",\"\n\r") != NULL) {
		(*buf)[(*len)++] = '"';
		for (; *s; s++) {
			if (*s == '"')
				(*buf)[(*len)++] = '"';
			(*buf)[(*len)++] = *s;
		}
		(*buf)[(*len)++] = '"';
	} else {
		memcpy(*buf + *len, s, strlen(s));
		*len += strlen(s);
	}
	(*buf)[(*len)++] = last ? '\n' : ',';
	(*buf)[*len] = '\0';
}

/* Is tag a whole cell somewhere in text? */
static bool
has_tag(const char *text, const char *tag)
{
	size_t n = strlen(tag);

	for (const char *p = text; (p = strstr(p, tag)) != NULL; p += n)
		if ((p == text || p[-1] == ',' || p[-1] == '\n') &&
		    (p[n] == ',' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static enum step_result
apply_run(struct step_ctx *ctx, void *p)
{
	struct apply_conf *c = p;
	json_t *pl = ctx->payload;
	char *pattern = step_expand(ctx, c->file);
	char *path = util_path_join(ctx->work_dir, pattern ? pattern : "");
	char *tag = xasprintf("item:%lld", (long long)ctx->item->id);
	char *rows = NULL, *old = NULL, num[32];
	size_t len = 0, cap = 0, oldlen = 0, n = 0;
	enum step_result rc = STEP_OK;
	struct err e;

	if (pattern == NULL) {
		free(path);
		free(tag);
		return step_unresolved(ctx);
	}
	free(pattern);
	if (c->suspend) {
		json_t *r = json_object_get(pl, "recipient");
		char rs[256];

		if (!json_is_object(r) || json_object_get(pl, "next_payment") ==
		    NULL) {
			rc = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_case",
			    "records.apply (suspend) needs the case of"
			    " benefit-crosscheck: recipient, next_payment");
			goto out;
		}
		join_text(json_object_get(pl, "reasons"), rs, sizeof(rs));
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(
		    json_object_get(r, "line")));
		cell(&rows, &len, &cap, num, false);
		cell(&rows, &len, &cap, jstr(r, "id"), false);
		cell(&rows, &len, &cap, jstr(r, "name"), false);
		cell(&rows, &len, &cap, jstr(pl, "next_payment"), false);
		cell(&rows, &len, &cap, rs, false);
		cell(&rows, &len, &cap, jstr(pl, "amount_at_risk"), false);
		cell(&rows, &len, &cap, tag, true);
		n = 1;
	} else {
		json_t *s = json_object_get(pl, "survivor"), *m;
		char ps[1024];
		size_t i;

		if (!json_is_object(s) || !json_is_array(json_object_get(pl,
		    "members"))) {
			rc = step_fail(ctx, STEP_BUSINESS_ERROR, "bad_case",
			    "records.apply (merge) needs the cluster of"
			    " record-merge: survivor, members");
			goto out;
		}
		if ((s = survivor_of(pl)) == NULL) {
			char lines[400] = "";

			json_array_foreach(json_object_get(pl, "members"), i, m)
				snprintf(lines + strlen(lines), sizeof(lines) -
				    strlen(lines), "%s%lld", i ? ", " : "",
				    (long long)json_integer_value(
				    json_object_get(m, "line")));
			rc = step_fail(ctx, STEP_BUSINESS_ERROR,
			    "survivor_not_member", "the survivor (line %lld"
			    " of %s) is not a member of the cluster; choose"
			    " one of lines %s", (long long)json_integer_value(
			    json_object_get(json_object_get(pl, "survivor"),
			    "line")), jstr(json_object_get(pl, "survivor"),
			    "file"), lines);
			goto out;
		}
		join_text(json_object_get(pl, "combined_periods"), ps,
		    sizeof(ps));
		json_array_foreach(json_object_get(pl, "members"), i, m) {
			if (is_survivor(pl, m))
				continue;
			cell(&rows, &len, &cap, tag, false);
			cell(&rows, &len, &cap, "merge", false);
			snprintf(num, sizeof(num), "%lld", (long long)
			    json_integer_value(json_object_get(s, "line")));
			cell(&rows, &len, &cap, num, false);
			cell(&rows, &len, &cap, jstr(s, "id"), false);
			cell(&rows, &len, &cap, jstr(s, "name"), false);
			snprintf(num, sizeof(num), "%lld", (long long)
			    json_integer_value(json_object_get(m, "line")));
			cell(&rows, &len, &cap, num, false);
			cell(&rows, &len, &cap, jstr(m, "id"), false);
			cell(&rows, &len, &cap, jstr(m, "name"), false);
			cell(&rows, &len, &cap, ps, true);
			n++;
		}
	}
	pthread_mutex_lock(&apply_lock);
	if (access(path, F_OK) == 0 && (old = util_read_file(path, &oldlen,
	    &e)) == NULL) {
		rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error", "%s",
		    e.msg);
	} else if (old != NULL && has_tag(old, tag)) {
		/* Written by an earlier run of this step: nothing to add. */
	} else if (n > 0) {
		const char *header = c->suspend ?
		    "line,id,name,next_payment,reasons,amount_at_risk,review\n" :
		    "cluster,action,survivor_line,survivor_id,survivor_name,"
		    "merged_line,merged_id,merged_name,combined_periods\n";
		char *dir = xstrdup(path), *slash = strrchr(dir, '/');
		char *text = xasprintf("%s%s%s", old ? old : "", old ? "" :
		    header, rows);

		if (slash != NULL)
			*slash = '\0';
		if ((slash != NULL && util_mkdir_p(dir, 0755, &e) < 0) ||
		    util_write_file_atomic(path, text, strlen(text), 0644,
		    &e) < 0)
			rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "%s", e.msg);
		free(text);
		free(dir);
	}
	pthread_mutex_unlock(&apply_lock);
	if (rc == STEP_OK && c->push != NULL && n > 0) {
		/* After the row: a crash between the two re-runs the step,
		 * which finds the row and spawns under the same key. */
		if (ctx->spawn == NULL)
			rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "records.apply cannot push to %s here: no work"
			    " queue", c->push);
		else if (spawn_push(ctx, c->push, "push", json_incref(pl),
		    c->suspend, &e) < 0)
			rc = step_fail(ctx, STEP_SYSTEM_ERROR, "system_error",
			    "handing the approved %s to %s: %s", c->suspend ?
			    "suspension" : "merge", c->push, e.msg);
	}
	if (rc == STEP_OK)
		ctx->output = json_pack("{s:s,s:I,s:s?}", "file", path, "rows",
		    (json_int_t)n, "push", c->push);
out:
	free(old);
	free(rows);
	free(tag);
	free(path);
	return rc;
}

const struct step_kind step_records_apply = {
	.name = "records.apply",
	.summary = "adds a reviewer-approved merge or suspension to its file",
	.keys = apply_keys,
	.prepare = apply_prepare,
	.release = apply_release,
	.run = apply_run,
	.effect = "adds the merge or suspension to its file (and may push it)",
};
