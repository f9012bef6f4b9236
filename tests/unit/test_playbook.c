/*
 * test_playbook.c - loading playbooks, their file:line problems, and the
 * helpers the scheduler uses (next step, retry delay, ${field} expansion).
 *
 * Fixtures live in tests/fixtures/playbooks; the line numbers asserted
 * below are the lines of those files, so edit both together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "playbook.h"

#define FIXTURES SRCDIR "/tests/fixtures/playbooks/"

static char *
fixture(const char *name)
{
	return xasprintf(FIXTURES "%s", name);
}

/* SHA-256 of a file computed here, not with util's helpers. */
static void
file_sha256(const char *path, char out[65])
{
	unsigned char md[32], buf[4096];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(ctx, buf, n);
	fclose(f);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(mdlen, 32);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static struct playbook *
load_good(const char *name)
{
	char *path = fixture(name);
	struct pb_diag d = { 0 };
	struct playbook *pb = pb_load(path, &d);

	if (pb == NULL)
		fail_msg("%s did not load: %s", name, d.n ? d.msgs[0] : "?");
	assert_int_equal(d.n, 0);
	pb_diag_clear(&d);
	free(path);
	return pb;
}

static void
test_load_manual_all_settings(void **state)
{
	struct playbook *pb = load_good("good_manual.cfg");
	static const char *ids[] = { "check", "wait", "review", "archive",
	    "tell" };
	static const char *kinds[] = { "noop", "sleep", "escalate",
	    "file.move", "notify" };
	static const int lines[] = { 12, 13, 14, 16, 17 };
	char *path = fixture("good_manual.cfg");
	char want[65];

	assert_string_equal(pb->name, "claims.manual-1");
	assert_string_equal(pb->description, "Manual claims, every setting given");
	assert_string_equal(pb->file, path);
	assert_int_equal(pb->trigger, TRIG_MANUAL);
	assert_null(pb->cron_expr);
	assert_null(pb->watch_dir);
	assert_string_equal(pb->calendar_name, "cn-workdays");
	assert_int_equal(pb->calendar_line, 5);
	assert_int_equal(pb->concurrency, 3);
	assert_int_equal(pb->priority, 7);
	assert_int_equal(pb->retry.attempts, 4);
	assert_int_equal(pb->retry.initial_ms, 2000);
	assert_int_equal(pb->retry.max_ms, 90000);
	assert_int_equal(pb->sla_ms, 4 * 3600 * 1000);
	assert_int_equal(pb->nsteps, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(pb->steps[i].id, ids[i]);
		assert_non_null(pb->steps[i].kind);
		assert_string_equal(pb->steps[i].kind->name, kinds[i]);
		assert_int_equal(pb->steps[i].line, lines[i]);
		assert_int_equal(pb->steps[i].reject_on_business, i == 2);
	}
	file_sha256(path, want);
	assert_string_equal(pb->hash, want);
	free(path);
	pb_unref(pb);
}

static void
test_load_cron_defaults(void **state)
{
	struct playbook *pb = load_good("good_cron.cfg");

	assert_string_equal(pb->name, "nightly");
	assert_null(pb->description);
	assert_int_equal(pb->trigger, TRIG_CRON);
	assert_string_equal(pb->cron_expr, "0 30 8 * * MON-FRI");
	assert_non_null(pb->cron);
	/* what clerk always did: a missed firing is not run later */
	assert_int_equal(pb->catch_up, CATCHUP_NONE);
	assert_int_equal(pb->catch_up_max, 10);
	assert_int_equal(pb->catch_up_within_ms, 0);
	assert_null(pb->calendar_name);
	assert_int_equal(pb->concurrency, 1);
	assert_int_equal(pb->priority, 0);
	assert_int_equal(pb->retry.attempts, 5);
	assert_int_equal(pb->retry.initial_ms, 10000);
	assert_int_equal(pb->retry.max_ms, 30 * 60000);
	assert_int_equal(pb->sla_ms, 24 * 3600 * 1000);
	assert_int_equal(pb->nsteps, 1);
	assert_string_equal(pb->steps[0].id, "only");
	assert_int_equal(pb->steps[0].reject_on_business, false);
	pb_unref(pb);
}

static void
test_load_catch_up(void **state)
{
	struct playbook *pb = load_good("good_catchup.cfg");

	assert_int_equal(pb->trigger, TRIG_CRON);
	assert_int_equal(pb->catch_up, CATCHUP_ALL);
	assert_string_equal(pb_catch_up_name(pb->catch_up), "all");
	assert_int_equal(pb->catch_up_max, 5);
	assert_int_equal(pb->catch_up_within_ms, 3 * 86400000LL);
	pb_unref(pb);
}

static void
test_load_interval(void **state)
{
	struct playbook *pb = load_good("good_interval.cfg");

	assert_string_equal(pb->name, "poller");
	assert_int_equal(pb->trigger, TRIG_INTERVAL);
	assert_int_equal(pb->interval_ms, 600000);
	assert_null(pb->cron);
	assert_int_equal(pb->concurrency, 1000);
	assert_int_equal(pb->retry.attempts, 1);
	assert_int_equal(pb->retry.initial_ms, 500);
	assert_int_equal(pb->retry.max_ms, 500);
	assert_int_equal(pb->sla_ms, 2 * 86400000);
	assert_int_equal(pb->nsteps, 2);
	assert_string_equal(pb->steps[0].id, "poll");
	assert_string_equal(pb->steps[1].id, "log");
	assert_string_equal(pb->steps[1].kind->name, "notify");
	pb_unref(pb);
}

static void
test_load_watch(void **state)
{
	struct playbook *pb = load_good("good_watch.cfg");

	assert_string_equal(pb->name, "intake");
	assert_int_equal(pb->trigger, TRIG_WATCH);
	assert_string_equal(pb->watch_dir, "inbox/uploads");
	assert_string_equal(pb->watch_pattern, "*.pdf");
	assert_int_equal(pb->nsteps, 1);
	assert_string_equal(pb->steps[0].kind->name, "file.move");
	pb_unref(pb);

	pb = load_good("good_watch_default.cfg");
	assert_int_equal(pb->trigger, TRIG_WATCH);
	assert_string_equal(pb->watch_dir, "inbox/other");
	assert_string_equal(pb->watch_pattern, "*");
	pb_unref(pb);
}

static void
test_ref_unref(void **state)
{
	struct playbook *pb = load_good("good_cron.cfg");

	assert_ptr_equal(pb_ref(pb), pb);
	assert_int_equal(atomic_load(&pb->refs), 2);
	pb_unref(pb);
	assert_int_equal(atomic_load(&pb->refs), 1);
	assert_string_equal(pb->name, "nightly");
	pb_unref(pb);
	pb_unref(NULL);
}

/* Step settings reach the step: run the kinds that touch nothing outside. */
static void
test_step_settings_reach_run(void **state)
{
	struct playbook *pb = load_good("good_manual.cfg");
	struct playbook *pi = load_good("good_interval.cfg");
	struct item it = { .id = 42, .key = "k", .playbook = "poller" };
	struct step_ctx ctx;
	json_t *payload = json_pack("{s:s}", "name", "Li Si");
	const struct pb_step *st;

	/* escalate: reason and message from the file, ${name} expanded */
	st = &pb->steps[2];
	memset(&ctx, 0, sizeof(ctx));
	ctx.item = &it;
	ctx.payload = payload;
	ctx.pb = pb;
	ctx.step = st;
	assert_int_equal(st->kind->run(&ctx, st->conf), STEP_ESCALATE);
	assert_string_equal(ctx.reason, "needs_review");
	assert_string_equal(ctx.message, "check Li Si");
	assert_non_null(ctx.context);
	json_decref(ctx.context);

	/* noop with fail_attempts = 2: system errors on attempts 0 and 1 */
	st = &pi->steps[0];
	for (int a = 0; a < 3; a++) {
		memset(&ctx, 0, sizeof(ctx));
		it.attempts = a;
		ctx.item = &it;
		ctx.payload = payload;
		ctx.pb = pi;
		ctx.step = st;
		if (a < 2) {
			assert_int_equal(st->kind->run(&ctx, st->conf),
			    STEP_SYSTEM_ERROR);
			assert_non_null(strstr(ctx.message, "attempt"));
			assert_null(ctx.output);
		} else {
			assert_int_equal(st->kind->run(&ctx, st->conf), STEP_OK);
			assert_non_null(ctx.output);
			assert_int_equal(strlen(json_string_value(
			    json_object_get(ctx.output, "nonce"))), 32);
			json_decref(ctx.output);
		}
	}
	json_decref(payload);
	pb_unref(pb);
	pb_unref(pi);
}

/*
 * Loads a bad fixture and checks it gives exactly one problem, reported as
 * "<path>:<line>: <...want...>" (line 0: "<path>: <...want...>").
 */
static void
expect_problem(const char *name, int line, const char *want)
{
	char *path = fixture(name), *prefix, why[1024] = "";
	struct pb_diag d = { 0 };
	struct playbook *pb = pb_load(path, &d);

	prefix = line > 0 ? xasprintf("%s:%d: ", path, line) :
	    xasprintf("%s: ", path);
	if (pb != NULL)
		snprintf(why, sizeof(why), "%s loaded; it must be refused",
		    name);
	else if (d.n != 1)
		snprintf(why, sizeof(why), "%s: %zu problems, expected 1;"
		    " first: %s", name, d.n, d.n ? d.msgs[0] : "-");
	else if (strncmp(d.msgs[0], prefix, strlen(prefix)) != 0 ||
	    strstr(d.msgs[0] + strlen(prefix), want) == NULL)
		snprintf(why, sizeof(why), "%s: got \"%s\", want \"%s...%s...\"",
		    name, d.msgs[0], prefix, want);
	/* free before failing: a failed assertion does not return */
	pb_unref(pb);
	pb_diag_clear(&d);
	free(prefix);
	free(path);
	if (why[0] != '\0')
		fail_msg("%s", why);
}

static void
test_bad_syntax(void **state)
{
	expect_problem("bad_syntax.cfg", 5, "syntax error");
}

static void
test_bad_unknown_top_level_key(void **state)
{
	expect_problem("bad_unknown_key.cfg", 4,
	    "unknown setting \"conccurency\" in the playbook");
}

static void
test_bad_missing_name(void **state)
{
	expect_problem("bad_no_name.cfg", 0, "missing \"name\"");
}

static void
test_bad_missing_trigger(void **state)
{
	expect_problem("bad_no_trigger.cfg", 0, "missing \"trigger\"");
}

static void
test_bad_two_triggers(void **state)
{
	expect_problem("bad_two_triggers.cfg", 3,
	    "the trigger has 2 kinds; give exactly one");
}

static void
test_bad_cron(void **state)
{
	expect_problem("bad_cron.cfg", 3, "cron \"0 25 * * *\"");
	expect_problem("bad_cron.cfg", 3, "25");
}

static void
test_bad_duration(void **state)
{
	expect_problem("bad_duration.cfg", 4, "bad duration \"10 minutes\"");
}

static void
test_bad_retry_max_below_initial(void **state)
{
	expect_problem("bad_retry.cfg", 3, "retry max is shorter than initial");
}

/*
 * max = "0s" is shorter than initial = "10s" too. The check skips it
 * because it guards against the -1 of an unparsable duration with "> 0",
 * and pb_retry_delay then caps every delay at 0: retries with no backoff.
 */
static void
test_bad_retry_zero_max(void **state)
{
	expect_problem("bad_retry_zero_max.cfg", 3,
	    "retry max is shorter than initial");
}

static void
test_bad_empty_steps(void **state)
{
	expect_problem("bad_empty_steps.cfg", 4, "\"steps\" is empty");
}

static void
test_bad_unknown_step_kind(void **state)
{
	/* Only the start of the list: every new step kind lengthens it. */
	expect_problem("bad_step_kind.cfg", 6, "unknown step kind \"ocr.chek\""
	    " (known: noop, sleep, escalate, file.move, notify, reconcile,"
	    " reconcile.remember");
}

static void
test_bad_duplicate_step_id(void **state)
{
	expect_problem("bad_dup_step.cfg", 6,
	    "duplicate step id \"same\" (first used on line 4)");
}

static void
test_bad_unknown_step_key(void **state)
{
	expect_problem("bad_step_key.cfg", 6,
	    "unknown setting \"tmeout\" in this step");
}

static void
test_bad_noop_fail_value(void **state)
{
	expect_problem("bad_noop_fail.cfg", 6, "fail must be \"business\"");
}

static void
test_bad_move_without_to(void **state)
{
	expect_problem("bad_move_no_to.cfg", 5, "file.move needs to = ");
}

static void
test_bad_notify_without_message(void **state)
{
	expect_problem("bad_notify_no_message.cfg", 4, "notify needs message");
}

static void
test_bad_on_business_error(void **state)
{
	expect_problem("bad_obe.cfg", 6,
	    "on_business_error must be \"escalate\" or \"reject\"");
}

static void
test_bad_cases_split(void **state)
{
	expect_problem("bad_cases_split.cfg", 4, "cases.split needs playbook");
	expect_problem("bad_cases_split_enc.cfg", 6,
	    "encoding must be \"UTF-8\", \"GBK\" or \"GB18030\"");
}

/* push hands merges or suspensions on; mode match makes neither. */
static void
test_bad_records_push(void **state)
{
	expect_problem("bad_records_push.cfg", 5, "push hands merges (mode"
	    " merge) or suspensions (mode crosscheck) to a playbook");
}

static void
test_missing_file(void **state)
{
	struct pb_diag d = { 0 };
	const char *path = FIXTURES "no-such-playbook.cfg";

	assert_null(pb_load(path, &d));
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msgs[0], "No such file or directory"));
	assert_int_equal(strncmp(d.msgs[0], path, strlen(path)), 0);
	pb_diag_clear(&d);
}

static char *
slurp(FILE *f)
{
	char *buf = xcalloc(1, 8192);
	size_t n;

	rewind(f);
	n = fread(buf, 1, 8191, f);
	buf[n] = '\0';
	return buf;
}

static void
test_check_file_counts_and_prints(void **state)
{
	char *path = fixture("bad_many.cfg"), *text, *want;
	FILE *out = tmpfile();

	assert_non_null(out);
	assert_int_equal(pb_check_file(path, out), 3);
	text = slurp(out);
	want = xasprintf(
	    "%s:1: name \"many problems\" may only use letters, digits, '-',"
	    " '_' and '.' (at most 64)\n"
	    "%s:3: \"concurrency\" is 0; it must be between 1 and 1000\n"
	    "%s:5: unknown step kind \"nope\" (known: noop, sleep, escalate,"
	    " file.move, notify, reconcile, reconcile.remember, http.request,"
	    " http.submit, validate, file.put, file.get, records.match,"
	    " records.apply, ocr.check, cases.split)\n", path, path, path);
	assert_string_equal(text, want);
	free(want);
	free(text);
	fclose(out);
	free(path);

	/* a good file: no problems, nothing printed */
	path = fixture("good_manual.cfg");
	out = tmpfile();
	assert_non_null(out);
	assert_int_equal(pb_check_file(path, out), 0);
	text = slurp(out);
	assert_string_equal(text, "");
	free(text);
	fclose(out);
	free(path);

	/* one problem, one line */
	path = fixture("bad_dup_step.cfg");
	out = tmpfile();
	assert_int_equal(pb_check_file(path, out), 1);
	text = slurp(out);
	want = xasprintf("%s:6: duplicate step id \"same\" (first used on"
	    " line 4)\n", path);
	assert_string_equal(text, want);
	free(want);
	free(text);
	fclose(out);
	free(path);
}

static void
test_next_step(void **state)
{
	struct playbook *pb = load_good("good_manual.cfg");
	struct item_step journal[5];
	struct item it = { .id = 1 };

	/* steps are check, wait, review, archive, tell */
	for (size_t i = 0; i < 5; i++) {
		journal[i].step_id = pb->steps[i].id;
		journal[i].output = "{}";
	}
	it.steps = journal;
	for (size_t k = 0; k <= 5; k++) {
		it.nsteps = k;
		assert_int_equal(pb_next_step(pb, &it), k);
	}

	/* the first step missing from the journal wins, whatever the order */
	struct item_step gap[] = { { "check", "{}" }, { "review", "{}" },
	    { "tell", "{}" } };
	it.steps = gap;
	it.nsteps = 3;
	assert_int_equal(pb_next_step(pb, &it), 1);

	struct item_step reversed[] = { { "wait", "{}" }, { "check", "{}" } };
	it.steps = reversed;
	it.nsteps = 2;
	assert_int_equal(pb_next_step(pb, &it), 2);

	/* steps of another version of the playbook do not count */
	struct item_step other[] = { { "old-step", "{}" } };
	it.steps = other;
	it.nsteps = 1;
	assert_int_equal(pb_next_step(pb, &it), 0);
	pb_unref(pb);
}

static void
delay_range(int64_t initial, int64_t max, int attempt, int64_t d)
{
	struct playbook pb;
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	memset(&pb, 0, sizeof(pb));
	pb.retry.attempts = 100;
	pb.retry.initial_ms = initial;
	pb.retry.max_ms = max;
	for (int i = 0; i < 4000; i++) {
		int64_t v = pb_retry_delay(&pb, attempt);

		if (v < d / 2 || v > d)
			fail_msg("initial %lld max %lld attempt %d: delay %lld"
			    " outside [%lld, %lld]", (long long)initial,
			    (long long)max, attempt, (long long)v,
			    (long long)(d / 2), (long long)d);
		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
	}
	/* the jitter spreads over the range, not one fixed value */
	if (d >= 100) {
		assert_true(lo < d / 2 + d / 10);
		assert_true(hi > d - d / 10);
	}
}

static void
test_retry_delay(void **state)
{
	/* initial 1s, max 30s: 1, 2, 4, 8, 16, then capped at 30 */
	delay_range(1000, 30000, 1, 1000);
	delay_range(1000, 30000, 2, 2000);
	delay_range(1000, 30000, 3, 4000);
	delay_range(1000, 30000, 4, 8000);
	delay_range(1000, 30000, 5, 16000);
	delay_range(1000, 30000, 6, 30000);
	delay_range(1000, 30000, 7, 30000);
	delay_range(1000, 30000, 60, 30000);
	delay_range(1000, 30000, 100000, 30000);
	/* the defaults: 10s doubling to 30m */
	delay_range(10000, 1800000, 8, 1280000);
	delay_range(10000, 1800000, 9, 1800000);
	/* max == initial: never grows */
	delay_range(500, 500, 1, 500);
	delay_range(500, 500, 10, 500);
	/* initial above a power-of-two boundary of max */
	delay_range(3000, 10000, 2, 6000);
	delay_range(3000, 10000, 3, 10000);
}

/*
 * reconcile.remember books a line once: a second match of a booked line,
 * or of a difference whose own line is booked, fails as a business error
 * when it runs (the decision check can be raced by two reviewers); the
 * same match again is no second entry; an open difference is told which
 * of its lines are booked.
 */
static void
test_remember_books_a_line_once(void **state)
{
	const struct step_kind *k = step_kind_find("reconcile.remember");
	char dir[] = "/tmp/clerk-remember-XXXXXX", *path, msg[512];
	config_t cfg;
	struct pb_diag d = { 0 };
	struct item it = { .id = 7, .key = "k", .playbook = "diff" };
	struct step_ctx ctx;
	json_t *bank, *other, *mem, *esc, *dec;
	void *conf = NULL;
	struct err e;

	(void)state;
	assert_non_null(k);
	assert_non_null(mkdtemp(dir));
	config_init(&cfg);
	assert_int_equal(config_read_string(&cfg, "s = { memory = \"m/fund.json\"; };"),
	    CONFIG_TRUE);
	assert_int_equal(k->prepare(config_lookup(&cfg, "s"), &conf, &d), 0);
	bank = json_pack("{s:s,s:s,s:i,s:s,s:{s:s,s:i,s:s}}", "side", "bank",
	    "ref", "B1", "amount_fen", 153218, "date", "2026-11-20",
	    "match_with", "ref", "", "amount_fen", 153218, "date", "2026-11-25");
	for (int run = 0; run < 2; run++) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.item = &it;
		ctx.payload = bank;
		ctx.work_dir = dir;
		assert_int_equal(k->run(&ctx, conf), STEP_OK);
		json_decref(ctx.output);
	}
	path = xasprintf("%s/m/fund.json", dir);
	mem = json_load_file(path, 0, NULL);
	assert_int_equal(json_array_size(mem), 1);
	json_decref(mem);

	/* another bank line offered the booked ledger line */
	other = json_pack("{s:s,s:s,s:i,s:s,s:{s:s,s:i,s:s}}", "side", "bank",
	    "ref", "B2", "amount_fen", 153218, "date", "2026-11-21",
	    "match_with", "ref", "", "amount_fen", 153218, "date", "2026-11-25");
	memset(&ctx, 0, sizeof(ctx));
	ctx.item = &it;
	ctx.payload = other;
	ctx.work_dir = dir;
	assert_int_equal(k->run(&ctx, conf), STEP_BUSINESS_ERROR);
	assert_string_equal(ctx.reason, "line_already_matched");
	assert_non_null(strstr(ctx.message, "B1"));
	json_decref(ctx.context);
	dec = json_object();
	assert_int_equal(k->check_handed_on(conf, dir, dec, other, &e), 0);
	json_decref(dec);   /* no match_with: nothing to check */
	dec = json_pack("{s:O}", "match_with", json_object_get(other,
	    "match_with"));
	assert_int_equal(k->check_handed_on(conf, dir, dec, other, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	json_decref(dec);

	/* the ledger difference of the booked line, matched elsewhere */
	json_decref(other);
	other = json_pack("{s:s,s:s,s:i,s:s,s:{s:s,s:i,s:s}}", "side", "ledger",
	    "ref", "", "amount_fen", 153218, "date", "2026-11-25",
	    "match_with", "ref", "B3", "amount_fen", 153218, "date", "2026-11-26");
	memset(&ctx, 0, sizeof(ctx));
	ctx.item = &it;
	ctx.payload = other;
	ctx.work_dir = dir;
	assert_int_equal(k->run(&ctx, conf), STEP_BUSINESS_ERROR);
	snprintf(msg, sizeof(msg), "%s", ctx.message);
	assert_non_null(strstr(msg, "own line"));
	json_decref(ctx.context);
	mem = json_load_file(path, 0, NULL);
	assert_int_equal(json_array_size(mem), 1);
	json_decref(mem);

	/* an open difference is told what is booked */
	esc = json_pack("{s:{s:s,s:s,s:i,s:s,s:[{s:s,s:i,s:s},{s:s,s:i,s:s}]}}",
	    "payload", "side", "ledger", "ref", "", "amount_fen", 153218,
	    "date", "2026-11-25", "candidates", "ref", "B9", "amount_fen", 5,
	    "date", "2026-11-01", "ref", "B1", "amount_fen", 153218, "date",
	    "2026-11-20");
	k->annotate(conf, dir, esc);
	assert_non_null(json_object_get(json_object_get(esc, "matched"), "line"));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(esc, "matched"), "candidates"), 0),
	    "index")), 1);
	assert_int_equal(json_array_size(json_object_get(json_object_get(esc,
	    "matched"), "candidates")), 1);
	json_decref(esc);

	json_decref(other);
	json_decref(bank);
	k->release(conf);
	config_destroy(&cfg);
	unlink(path);
	free(path);
	path = xasprintf("%s/m", dir);
	rmdir(path);
	free(path);
	rmdir(dir);
}

static void
test_step_expand(void **state)
{
	struct step_ctx ctx;
	char *s;

	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	ctx.payload = json_pack("{s:s,s:i,s:{s:i},s:n,s:s}", "name", "张三",
	    "size", 1234, "obj", "a", 1, "nothing", "empty", "");

	s = step_expand(&ctx, "filed ${name} (${size} bytes)");
	assert_string_equal(s, "filed 张三 (1234 bytes)");
	free(s);
	s = step_expand(&ctx, "${name}${name}");
	assert_string_equal(s, "张三张三");
	free(s);
	s = step_expand(&ctx, "obj=${obj} a=${obj.a} p=${payload.name}"
	    " empty=[${empty}]");
	assert_string_equal(s, "obj={\"a\":1} a=1 p=张三 empty=[]");
	free(s);
	/* not references: stay as written */
	s = step_expand(&ctx, "$name ${name ${ and {name} $ ${} ${a b}");
	assert_string_equal(s, "$name ${name ${ and {name} $ ${} ${a b}");
	free(s);
	s = step_expand(&ctx, "");
	assert_string_equal(s, "");
	free(s);
	/* a reference without a value is an error, never text */
	assert_null(step_expand(&ctx, "${x} stays, ${name} goes"));
	assert_string_equal(ctx.unresolved, "x");
	assert_null(step_expand(&ctx, "null=${nothing}"));
	assert_string_equal(ctx.unresolved, "nothing");
	assert_null(step_expand(&ctx, "${payload.obj.b}"));

	/* outputs of earlier steps */
	ctx.outputs = json_pack("{s:{s:s},s:{s:s}}", "register", "cert_no",
	    "JZ000000000001", "a.b", "c", "d");
	s = step_expand(&ctx, "${steps.register.cert_no}/${steps.a.b.c}");
	assert_string_equal(s, "JZ000000000001/d");
	free(s);
	assert_null(step_expand(&ctx, "${steps.register.x}"));
	assert_string_equal(ctx.unresolved, "steps.register.x");
	assert_null(step_expand(&ctx, "${steps.other.cert_no}"));
	assert_null(step_expand(&ctx, "${steps.register}"));
	json_decref(ctx.outputs);
	/* nested outputs: ${steps.ID.a.b}, array elements by number */
	ctx.outputs = json_pack("{s:{s:{s:s,s:i},s:[s,s]}}", "check", "values",
	    "id_no", "11010519491231002X", "n", 3, "list", "a", "b");
	s = step_expand(&ctx, "${steps.check.values.id_no} ${steps.check.values.n}"
	    " ${steps.check.list.1}");
	assert_string_equal(s, "11010519491231002X 3 b");
	free(s);
	assert_null(step_expand(&ctx, "${steps.check.values.x}"));
	assert_null(step_expand(&ctx, "${steps.check.list.9}"));
	assert_null(step_expand(&ctx, "${steps.check.list.x}"));
	assert_null(step_expand(&ctx, "${steps.check.values.id_no.z}"));
	/* the reason names the reference and says nothing was sent */
	assert_null(step_expand(&ctx, "${steps.check.values.name}"));
	assert_int_equal(step_unresolved(&ctx), STEP_BUSINESS_ERROR);
	assert_string_equal(ctx.reason, "unresolved_reference");
	assert_non_null(strstr(ctx.message, "${steps.check.values.name}"));
	assert_non_null(strstr(ctx.message, "nothing was sent"));
	json_decref(ctx.outputs);
	ctx.outputs = NULL;
	/* a template much longer than the first buffer */
	{
		char tmpl[2048], want[8192];

		tmpl[0] = want[0] = '\0';
		for (int i = 0; i < 200; i++) {
			strcat(tmpl, "${name}.");
			strcat(want, "张三.");
		}
		s = step_expand(&ctx, tmpl);
		assert_string_equal(s, want);
		free(s);
	}
	json_decref(ctx.payload);

	/* no payload: a reference has no value */
	ctx.payload = NULL;
	assert_null(step_expand(&ctx, "hello ${name}"));
	s = step_expand(&ctx, "hello");
	assert_string_equal(s, "hello");
	free(s);
}

/* Writes a playbook to a temporary file and checks it, for the
 * reference checks: every problem text is returned, joined. */
static char *
check_text(const char *text)
{
	char path[] = "/tmp/clerk-pbref-XXXXXX";
	int fd = mkstemp(path);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	pb_check_file(path, out);
	fclose(out);
	unlink(path);
	return buf;
}

/* ${steps.fetc.nmae} passed the check and then showed in a reviewer's
 * message; ${steps.check.values.id_no} reached another system as text. */
static void
test_check_references(void **state)
{
	char *t;

	(void)state;
	t = check_text("name = \"r\"; trigger = { watch = { dir = \"in\"; }; };\n"
	    "steps = (\n"
	    "{ id = \"fetch\"; use = \"noop\"; },\n"
	    "{ id = \"log\"; use = \"notify\"; message = \"${steps.fetc.nmae}\"; },\n"
	    "{ id = \"log2\"; use = \"notify\"; message = \"${steps.fetch.nmae}\"; },\n"
	    "{ id = \"log3\"; use = \"notify\"; message = \"${steps.log3.message}"
	    " ${steps.later.message} ${nmae}\"; },\n"
	    "{ id = \"later\"; use = \"notify\"; message = \"${name} ${size}"
	    " ${steps.fetch.nonce} ${steps.log.message} ${payload.sha256}"
	    " ${steps.fetch.decision}\"; }\n"
	    ");\n");
	assert_non_null(strstr(t, ":4: ${steps.fetc.nmae}: no step \"fetc\""
	    " before this one"));
	assert_non_null(strstr(t, ":5: ${steps.fetch.nmae}: step \"fetch\""
	    " (noop) has no output \"nmae\" (it has: nonce)"));
	assert_non_null(strstr(t, ":6: ${steps.log3.message}: a step cannot"
	    " use its own output"));
	assert_non_null(strstr(t, ":6: ${steps.later.message}: step \"later\""
	    " runs after this one (line 7)"));
	assert_non_null(strstr(t, ":6: ${nmae}: the items of this playbook"
	    " have no field \"nmae\" (they carry: file, name, dir, stem, size,"
	    " sha256)"));
	/* line 7 is all known: no problem there */
	assert_null(strstr(t, ":7:"));
	free(t);

	/* manual items: their fields are declared */
	t = check_text("name = \"m\"; trigger = { manual = true; };\n"
	    "payload = [ \"case_id\" ];\n"
	    "steps = ( { id = \"a\"; use = \"notify\";\n"
	    " message = \"${case_id} ${case_id.x} ${payload.case_id} ${id_no}\"; } );\n");
	assert_non_null(strstr(t, ":4: ${id_no}: the items of this playbook"
	    " have no field \"id_no\" (they carry: case_id)"));
	assert_null(strstr(t, "case_id}:"));
	free(t);
	t = check_text("name = \"m\"; trigger = { manual = true; };\n"
	    "payload = ( \"a.b\", 3 );\n"
	    "steps = ( { id = \"a\"; use = \"noop\"; } );\n");
	assert_non_null(strstr(t, ":2: payload: element 1 must be a field name"));
	assert_non_null(strstr(t, ":2: payload: element 2 must be a field name"));
	free(t);
	/* an ocr.check's values are its template's fields */
	t = check_text("name = \"o\"; trigger = { watch = { dir = \"in\"; }; };\n"
	    "steps = ( { id = \"check\"; use = \"ocr.check\";"
	    " template = \"" SRCDIR "/playbooks/templates/id-card-front.cfg\"; },\n"
	    "{ id = \"n\"; use = \"notify\"; message ="
	    " \"${steps.check.values.id_no} ${steps.check.values.idno}\"; } );\n");
	assert_non_null(strstr(t, ":3: ${steps.check.values.idno}: step"
	    " \"check\" (ocr.check) has no output \"values.idno\""));
	assert_null(strstr(t, "values.id_no}:"));
	free(t);
	/* http: extracted values and the step's own ${request_key} */
	t = check_text("name = \"h\"; trigger = { manual = true; };\n"
	    "payload = [ \"id_no\" ];\n"
	    "connectors = { sys = { base_url = \"http://127.0.0.1:1\"; }; };\n"
	    "steps = ( { id = \"reg\"; use = \"http.submit\"; connector = \"sys\";\n"
	    " request = { path = \"/r\"; form = { k = \"${request_key}\"; i = \"${id_no}\"; };\n"
	    "  extract = { cert_no = \"re:c=([0-9]+)\"; }; }; },\n"
	    "{ id = \"n\"; use = \"notify\"; message ="
	    " \"${steps.reg.cert_no} ${steps.reg.request_key} ${steps.reg.certno}\"; } );\n");
	assert_non_null(strstr(t, ":7: ${steps.reg.certno}: step \"reg\""
	    " (http.submit) has no output \"certno\" (it has: cert_no,"));
	assert_null(strstr(t, "request_key}:"));
	assert_null(strstr(t, "cert_no}:"));
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_manual_all_settings),
		cmocka_unit_test(test_load_cron_defaults),
		cmocka_unit_test(test_load_catch_up),
		cmocka_unit_test(test_load_interval),
		cmocka_unit_test(test_load_watch),
		cmocka_unit_test(test_ref_unref),
		cmocka_unit_test(test_step_settings_reach_run),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_bad_unknown_top_level_key),
		cmocka_unit_test(test_bad_missing_name),
		cmocka_unit_test(test_bad_missing_trigger),
		cmocka_unit_test(test_bad_two_triggers),
		cmocka_unit_test(test_bad_cron),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_bad_retry_max_below_initial),
		cmocka_unit_test(test_bad_retry_zero_max),
		cmocka_unit_test(test_bad_empty_steps),
		cmocka_unit_test(test_bad_unknown_step_kind),
		cmocka_unit_test(test_bad_duplicate_step_id),
		cmocka_unit_test(test_bad_unknown_step_key),
		cmocka_unit_test(test_bad_noop_fail_value),
		cmocka_unit_test(test_bad_move_without_to),
		cmocka_unit_test(test_bad_notify_without_message),
		cmocka_unit_test(test_bad_on_business_error),
		cmocka_unit_test(test_bad_cases_split),
		cmocka_unit_test(test_bad_records_push),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_check_file_counts_and_prints),
		cmocka_unit_test(test_next_step),
		cmocka_unit_test(test_retry_delay),
		cmocka_unit_test(test_step_expand),
		cmocka_unit_test(test_remember_books_a_line_once),
		cmocka_unit_test(test_check_references),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
