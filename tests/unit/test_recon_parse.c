/*
 * test_recon_parse.c - the reconciliation rules and the statement parsers
 * (CSV in UTF-8 and GBK, CAMT.053 02 and 08, MT940) on hand-written
 * fixtures in tests/fixtures/recon, with exact values and exact
 * FILE:LINE errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recon.h"

#define FX SRCDIR "/tests/fixtures/recon/"

static char tmpdir[] = "/tmp/clerk-test-recon-XXXXXX";

static char *
write_tmp(const char *name, const char *text, size_t len)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	return path;
}

static struct recon_csv_spec
plain_spec(void)
{
	struct recon_csv_spec s;

	memset(&s, 0, sizeof(s));
	strcpy(s.encoding, "UTF-8");
	s.delimiter = ',';
	s.header_rows = 1;
	s.date_format = "%Y-%m-%d";
	s.sign = SIGN_AMOUNT;
	return s;
}

static void
day_is(recon_day d, const char *want)
{
	char buf[11];

	recon_day_format(d, buf);
	assert_string_equal(buf, want);
}

/* ---- rules ---- */

static void
test_rules_default(void **state)
{
	struct recon_rules r;

	recon_rules_default(&r);
	assert_string_equal(r.bank_csv.encoding, "UTF-8");
	assert_int_equal(r.bank_csv.delimiter, ',');
	assert_int_equal(r.bank_csv.header_rows, 1);
	assert_string_equal(r.bank_csv.date_format, "%Y-%m-%d");
	assert_int_equal(r.bank_csv.sign, SIGN_AMOUNT);
	assert_null(r.bank_csv.col_date);
	assert_int_equal(r.window_before, 1);
	assert_int_equal(r.window_after, 3);
	assert_int_equal(r.subset_max_parts, 8);
	assert_int_equal(r.subset_max_candidates, 30);
	assert_int_equal(r.fee_tolerance, 0);
	assert_true(r.reversals);
	assert_true(r.duplicates);
	assert_null(r.expect_account);
	recon_rules_clear(&r);
}

static void
test_rules_file(void **state)
{
	struct recon_rules r;
	struct err e;

	recon_rules_default(&r);
	assert_int_equal(recon_rules_load_file(FX "rules.cfg", &r, &e), 0);
	assert_string_equal(r.bank_csv.skip_pattern, "合计");
	assert_string_equal(r.bank_csv.col_date, "交易日期");
	assert_string_equal(r.bank_csv.col_flag, "借贷标志");
	assert_string_equal(r.bank_csv.col_balance, "余额");
	assert_int_equal(r.bank_csv.sign, SIGN_FLAG);
	assert_string_equal(r.bank_csv.flag_in, "贷");
	assert_false(r.bank_csv.negate);
	assert_int_equal(r.ledger_csv.delimiter, ';');
	assert_int_equal(r.ledger_csv.header_rows, 0);
	assert_string_equal(r.ledger_csv.date_format, "%d/%m/%Y");
	assert_string_equal(r.ledger_csv.col_date, "1");
	assert_string_equal(r.ledger_csv.col_batch, "6");
	assert_int_equal(r.ledger_csv.sign, SIGN_DEBIT_CREDIT);
	assert_true(r.ledger_csv.negate);
	assert_int_equal(r.window_before, 2);
	assert_int_equal(r.window_after, 5);
	assert_int_equal(r.subset_max_parts, 6);
	assert_int_equal(r.subset_max_candidates, 20);
	assert_int_equal(r.fee_tolerance, 50);
	assert_false(r.reversals);
	assert_true(r.duplicates);
	assert_string_equal(r.expect_account, "622202100100123");
	assert_ptr_equal(r.bank_csv.expect_account, r.expect_account);
	assert_ptr_equal(r.ledger_csv.expect_account, r.expect_account);
	recon_rules_clear(&r);
}

/* A rules group inside a playbook step: errors name the file and line. */
static void
test_rules_group_in_file(void **state)
{
	const char *text = "steps = (\n  { kind = \"reconcile\";\n"
	    "    rules = {\n      match = { fee_tolerance = \"1.2\"; };\n"
	    "      bank = { encoding = \"GB18030\"; delimiter = \"tab\"; };\n"
	    "    };\n  }\n);\n";
	char *path = write_tmp("pb.cfg", text, strlen(text));
	struct recon_rules r;
	struct err e;
	config_t cfg;
	config_setting_t *g;

	config_init(&cfg);
	assert_true(config_read_file(&cfg, path));
	g = config_lookup(&cfg, "steps.[0].rules");
	assert_non_null(g);
	recon_rules_default(&r);
	assert_int_equal(recon_rules_load(g, &r, &e), 0);
	assert_int_equal(r.fee_tolerance, 120);
	assert_string_equal(r.bank_csv.encoding, "GB18030");
	assert_int_equal(r.bank_csv.delimiter, '\t');
	recon_rules_clear(&r);
	config_destroy(&cfg);
	free(path);
}

static void
test_rules_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "bank = {\n  encodng = \"GBK\";\n};\n",
		  ":2: unknown key \"encodng\" in bank; known keys: encoding,"
		  " delimiter, header_rows, skip, date_format, columns, sign,"
		  " flag_in, negate" },
		{ "# rules\nmatch = {\n  window = [-1, 3];\n"
		  "  fee_tolerance = 0.5;\n};\n",
		  ":4: fee_tolerance must be an amount in double quotes, e.g."
		  " \"0.50\" (a float would not be exact)" },
		{ "match = { fee_tolerance = \"0.505\"; };\n",
		  ":1: fee_tolerance \"0.505\" is not an amount; write yuan"
		  " with at most 2 decimals, e.g. \"0.50\"" },
		{ "match = {\n window = [1, 3];\n};\n",
		  ":2: window start must be between -366 and 0, not 1" },
		{ "match = {\n window = [-1];\n};\n",
		  ":2: window must be [days before, days after], e.g. [-1, 3]" },
		{ "match = {\n subset_max_parts = 100;\n};\n",
		  ":2: subset_max_parts must be between 2 and 32, not 100" },
		{ "match = {\n reversals = \"yes\";\n};\n",
		  ":2: reversals must be true or false" },
		{ "ledger = {\n  sign = \"flag\";\n  columns = { flag = \"借贷\"; };\n};\n",
		  ":1: ledger: sign = \"flag\" needs flag_in, the flag value"
		  " meaning money in (e.g. flag_in = \"贷\")" },
		{ "bank = {\n  sign = \"signed\";\n};\n",
		  ":2: sign must be \"amount\", \"debit_credit\" or \"flag\","
		  " not \"signed\"" },
		{ "bank = {\n\n  date_format = \"%Y-%m\";\n};\n",
		  ":3: date_format \"%Y-%m\" needs %Y, %m and %d once each (e.g."
		  " \"%Y-%m-%d\", \"%Y%m%d\", \"%d/%m/%Y\")" },
		{ "bank = {\n  columns = {\n    date = \"日期\";\n"
		  "    amount = 0;\n  };\n};\n",
		  ":4: column amount: a column number counts from 1 (got 0)" },
		{ "bank = {\n  columns = {\n    dates = \"日期\";\n  };\n};\n",
		  ":3: unknown key \"dates\" in bank.columns; known keys: date,"
		  " value_date, amount, debit, credit, flag, ref, counterparty,"
		  " text, batch, account, balance" },
		{ "bank = { encoding = \"latin1\"; };\n",
		  ":1: encoding \"latin1\" is not supported; use \"UTF-8\","
		  " \"GBK\" or \"GB18030\"" },
		{ "bank = { delimiter = \",;\"; };\n",
		  ":1: delimiter must be one ASCII character (\",\", \";\","
		  " \"|\") or \"tab\", not \",;\"" },
		{ "bank = { header_rows = -1; };\n",
		  ":1: header_rows must be between 0 and 100, not -1" },
		{ "bank = { skip = \"\"; };\n",
		  ":1: skip is empty; it would skip every row (write the start"
		  " of the summary rows, e.g. \"合计\")" },
		{ "\nbank = \"x\";\n",
		  ":2: bank must be a group: bank = { encoding = \"GBK\";"
		  " columns = { ... }; }" },
		{ "matching = { };\n",
		  ":1: unknown key \"matching\" in rules; known keys: bank,"
		  " ledger, match" },
		{ "match = { account = 622202; };\n",
		  ":1: account must be a string in double quotes" },
		{ "bank = {\n  header_rows = = 1;\n};\n",
		  ":2: syntax error" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = write_tmp("rules.cfg", cases[i].text,
		    strlen(cases[i].text));
		char *want = xasprintf("%s%s", path, cases[i].msg);
		struct recon_rules r;
		struct err e;

		recon_rules_default(&r);
		assert_int_equal(recon_rules_load_file(path, &r, &e), -1);
		if (strcmp(e.msg, want) != 0)
			print_error("case %zu\n", i);
		assert_string_equal(e.msg, want);
		recon_rules_clear(&r);
		free(want);
		free(path);
	}
}

static void
test_rules_missing_file(void **state)
{
	struct recon_rules r;
	struct err e;

	recon_rules_default(&r);
	assert_int_equal(recon_rules_load_file("/nonexistent/rules.cfg", &r,
	    &e), -1);
	assert_string_equal(e.msg, "/nonexistent/rules.cfg: cannot read the"
	    " rules file");
	recon_rules_clear(&r);
}

/* ---- amounts, references ---- */

static void
test_amounts(void **state)
{
	static const struct {
		const char *s;
		char dec;
		int rc;
		int64_t v;
	} cases[] = {
		{ "1,234.56", '.', 0, 123456 },
		{ "-12.3", '.', 0, -1230 },
		{ "1234", '.', 0, 123400 },
		{ " +7.05 ", '.', 0, 705 },
		{ "(5.00)", '.', 0, -500 },
		{ "1,234,567.8", '.', 0, 123456780 },
		{ "0.10", '.', 0, 10 },
		{ ".5", '.', 0, 50 },
		{ "12.300", '.', 0, 1230 },
		{ "1234,56", ',', 0, 123456 },
		{ "500,", ',', 0, 50000 },
		{ "1,5", ',', 0, 150 },
		{ "999999999999999.99", '.', 0, 99999999999999999LL },
		{ "12,30", '.', -1, 0 },
		{ "1,23,456.00", '.', -1, 0 },
		{ "12.345", '.', -1, 0 },
		{ "1.2.3", '.', -1, 0 },
		{ "", '.', -1, 0 },
		{ "-", '.', -1, 0 },
		{ "12a", '.', -1, 0 },
		{ "1234.56", ',', -1, 0 },
		{ "1e5", '.', -1, 0 },
		{ "1234567890123456", '.', -1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -1;
		int rc = recon_amount_parse(cases[i].s, strlen(cases[i].s),
		    cases[i].dec, &v);

		if (rc != cases[i].rc)
			print_error("amount \"%s\"\n", cases[i].s);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_int_equal(v, cases[i].v);
	}
}

static void
test_ref_normalise(void **state)
{
	struct recon_arena a = { 0 };
	struct recon_line l;
	const char *s;

	s = "ｓｂ－２０２６／１１ ａ_b.c";
	assert_string_equal(recon_ref_normalise(&a, s, strlen(s)),
	    "SB202611ABC");
	s = "sb-2026-11-0042";
	assert_string_equal(recon_ref_normalise(&a, s, strlen(s)),
	    "SB2026110042");
	s = "凭证\xE3\x80\x80号 12";
	assert_string_equal(recon_ref_normalise(&a, s, strlen(s)),
	    "凭证号12");
	assert_string_equal(recon_ref_normalise(&a, "", 0), "");
	memset(&l, 0, sizeof(l));
	recon_line_set_ref(&a, &l, "ABC123", 6);
	assert_string_equal(l.ref, "ABC123");
	assert_ptr_equal(l.ref, l.ref_norm);
	recon_line_set_ref(&a, &l, "abc-123", 7);
	assert_string_equal(l.ref, "abc-123");
	assert_string_equal(l.ref_norm, "ABC123");
	recon_arena_free(&a);
}

/* ---- CSV ---- */

static void
test_csv_utf8(void **state)
{
	struct recon_rules r;
	struct recon_side s = { 0 };
	struct recon_line *l;
	struct err e;

	recon_rules_default(&r);
	assert_int_equal(recon_rules_load_file(FX "rules.cfg", &r, &e), 0);
	assert_int_equal(recon_parse_file(FX "bank_utf8.csv", &r.bank_csv, &s,
	    &e), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.nfiles, 1);
	assert_string_equal(s.files[0], FX "bank_utf8.csv");
	assert_string_equal(s.account, "622202100100123");
	assert_true(s.has_opening);
	assert_true(s.has_closing);
	assert_int_equal(s.opening, 100000000);
	assert_int_equal(s.closing, 101154567);
	assert_int_equal(s.period_from, 0);

	l = &s.lines[0];
	assert_int_equal(l->amount, 1234567);
	day_is(l->date, "2026-11-23");
	assert_int_equal(l->value_date, 0);
	assert_string_equal(l->ref, "SB-2026-11-0042");
	assert_string_equal(l->ref_norm, "SB2026110042");
	assert_string_equal(l->counterparty, "某某科技有限公司");
	assert_string_equal(l->text, "养老保险费, 11月");
	assert_string_equal(l->batch, "");
	assert_false(l->reversal);
	assert_int_equal(l->src_line, 2);
	assert_int_equal(l->src_file, 0);

	l = &s.lines[1];
	assert_int_equal(l->amount, -50000);
	assert_string_equal(l->ref, "ｂｋ ０００２");
	assert_string_equal(l->ref_norm, "BK0002");
	assert_string_equal(l->counterparty, "王五\"公司\"");
	assert_string_equal(l->text, "失业保险金\r\n第二行");
	assert_int_equal(l->src_line, 3);

	l = &s.lines[2];
	assert_int_equal(l->amount, -30000);
	day_is(l->date, "2026-11-24");
	assert_string_equal(l->ref, "");
	assert_string_equal(l->ref_norm, "");
	assert_string_equal(l->counterparty, "");
	assert_true(l->reversal);
	assert_int_equal(l->src_line, 5);
	recon_side_free(&s);
	recon_rules_clear(&r);
}

static void
test_csv_gbk(void **state)
{
	struct recon_rules r;
	struct recon_side s = { 0 };
	struct err e;

	recon_rules_default(&r);
	assert_int_equal(recon_rules_load_file(FX "rules_gbk.cfg", &r, &e), 0);
	assert_int_equal(recon_parse_file(FX "bank_gbk.csv", &r.bank_csv, &s,
	    &e), 0);
	assert_int_equal(s.n, 3);
	assert_null(s.account);
	assert_int_equal(s.opening, 1000000);
	assert_int_equal(s.closing, 925057);
	assert_int_equal(s.lines[0].amount, -100000);
	day_is(s.lines[0].date, "2026-11-01");
	assert_string_equal(s.lines[0].ref, "PZ-001");
	assert_string_equal(s.lines[0].text, "养老金发放");
	assert_int_equal(s.lines[0].src_line, 3);
	assert_int_equal(s.lines[1].amount, 25050);
	assert_string_equal(s.lines[1].text, "退回");
	assert_int_equal(s.lines[2].amount, 7);
	assert_string_equal(s.lines[2].ref_norm, "PZ003");
	assert_string_equal(s.lines[2].text, "利息");
	assert_int_equal(s.lines[2].src_line, 5);
	recon_side_free(&s);

	/* The same bytes declared UTF-8: refused, naming the first line
	 * that is not UTF-8. */
	strcpy(r.bank_csv.encoding, "UTF-8");
	assert_int_equal(recon_parse_file(FX "bank_gbk.csv", &r.bank_csv, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "bank_gbk.csv:1: not valid UTF-8 (byte"
	    " 0xCA); if the export is in GBK, set encoding = \"GBK\" in the"
	    " rules");
	assert_int_equal(s.n, 0);
	assert_int_equal(s.nfiles, 0);
	recon_side_free(&s);
	recon_rules_clear(&r);
}

/* Text written in GBK reads back as the same UTF-8, GB18030 too. */
static void
test_gbk_round_trip(void **state)
{
	const char *gbk = "date,amount,text\n2026-11-01,1.00,"
	    "\xD1\xF8\xC0\xCF\xBD\xF0\n";   /* 养老金 */
	const char *gb18030 = "date,amount,text\n2026-11-01,1.00,"
	    "\x81\x30\x89\x38\n";           /* ß, 4 bytes in GB18030 */
	char *p1 = write_tmp("gbk.csv", gbk, strlen(gbk));
	char *p2 = write_tmp("gb18030.csv", gb18030, strlen(gb18030));
	struct recon_csv_spec spec = plain_spec();
	struct recon_side s = { 0 };
	struct err e;

	spec.col_text = "text";
	strcpy(spec.encoding, "GBK");
	assert_int_equal(recon_parse_file(p1, &spec, &s, &e), 0);
	assert_string_equal(s.lines[0].text, "养老金");
	strcpy(spec.encoding, "GB18030");
	assert_int_equal(recon_parse_file(p2, &spec, &s, &e), 0);
	assert_string_equal(s.lines[1].text, "ß");
	assert_int_equal(s.lines[1].src_file, 1);
	recon_side_free(&s);
	free(p1);
	free(p2);
}

static void
test_csv_ledger_columns_by_number(void **state)
{
	struct recon_rules r;
	struct recon_side s = { 0 };
	struct err e;

	recon_rules_default(&r);
	assert_int_equal(recon_rules_load_file(FX "rules.cfg", &r, &e), 0);
	assert_int_equal(recon_parse_file(FX "ledger.csv", &r.ledger_csv, &s,
	    &e), 0);
	assert_int_equal(s.n, 2);
	assert_false(s.has_opening);
	/* 借 (debit) in the fund's books is money into the bank account. */
	assert_int_equal(s.lines[0].amount, 1234567);
	day_is(s.lines[0].date, "2026-11-23");
	assert_string_equal(s.lines[0].ref, "V-1");
	assert_string_equal(s.lines[0].text, "养老保险费");
	assert_string_equal(s.lines[0].batch, "");
	assert_int_equal(s.lines[1].amount, -50000);
	day_is(s.lines[1].date, "2026-12-01");
	assert_string_equal(s.lines[1].batch, "B-9");
	assert_int_equal(s.lines[1].src_line, 2);
	recon_side_free(&s);
	recon_rules_clear(&r);
}

static void
test_csv_errors(void **state)
{
	static const struct {
		const char *file, *msg;
	} cases[] = {
		{ "bad_date.csv", ":3: unparseable date; date_format is"
		  " \"%Y-%m-%d\" (column date, value \"2026-13-01\")" },
		{ "bad_amount.csv", ":4: unparseable amount (column amount,"
		  " value \"12,30\")" },
		{ "wrong_cells.csv", ":3: the row has 4 cells, the header has"
		  " 3" },
		{ "missing_col.csv", ":1: no amount column in the header; map"
		  " it in the rules (columns = { amount = \"...\"; }); the"
		  " header has \"date\", \"sum\", \"ref\"" },
		{ "unterminated.csv", ":3: quoted cell never closed (a missing"
		  " \")" },
		{ "empty.csv", ": no statement lines (the file is empty)" },
		{ "header_only.csv", ": no statement lines" },
		{ "bad_utf8.csv", ":3: not valid UTF-8 (byte 0xD5); if the"
		  " export is in GBK, set encoding = \"GBK\" in the rules" },
		{ "not_camt.xml", ": XML but not an ISO 20022 camt.053 statement"
		  " (no camt.053 namespace)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct recon_csv_spec spec = plain_spec();
		struct recon_side s = { 0 };
		char *want = xasprintf(FX "%s%s", cases[i].file, cases[i].msg);
		char *path = xasprintf(FX "%s", cases[i].file);
		struct err e;

		assert_int_equal(recon_parse_file(path, &spec, &s, &e), -1);
		if (strcmp(e.msg, want) != 0)
			print_error("case %s\n", cases[i].file);
		assert_string_equal(e.msg, want);
		assert_int_equal(s.n, 0);
		assert_int_equal(s.nfiles, 0);
		recon_side_free(&s);
		free(want);
		free(path);
	}
}

static void
test_csv_mapping_errors(void **state)
{
	struct recon_rules r;
	struct recon_side s = { 0 };
	struct err e;

	recon_rules_default(&r);
	assert_int_equal(recon_rules_load_file(FX "rules_gbk.cfg", &r, &e), 0);
	free(r.bank_csv.col_text);
	r.bank_csv.col_text = xstrdup("备注");
	assert_int_equal(recon_parse_file(FX "bank_gbk.csv", &r.bank_csv, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "bank_gbk.csv:2: missing column \"备注\""
	    " (text) in the header; it has \"交易日期\", \"借方发生额\","
	    " \"贷方发生额\", \"余额\", \"凭证号\", \"摘要\"");
	free(r.bank_csv.col_text);
	r.bank_csv.col_text = xstrdup("9");
	assert_int_equal(recon_parse_file(FX "bank_gbk.csv", &r.bank_csv, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "bank_gbk.csv:2: column 9 (text) is"
	    " beyond the 6 columns of the header");
	/* Without the skip rule the 合计 row is data, and not a date. */
	free(r.bank_csv.col_text);
	r.bank_csv.col_text = NULL;
	free(r.bank_csv.skip_pattern);
	r.bank_csv.skip_pattern = NULL;
	assert_int_equal(recon_parse_file(FX "bank_gbk.csv", &r.bank_csv, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "bank_gbk.csv:6: unparseable date;"
	    " date_format is \"%Y%m%d\" (column 交易日期, value \"合计\")");
	recon_side_free(&s);
	recon_rules_clear(&r);
}

static void
test_csv_bad_gbk(void **state)
{
	struct recon_csv_spec spec = plain_spec();
	struct recon_side s = { 0 };
	struct err e;

	strcpy(spec.encoding, "GBK");
	spec.col_date = "日期";
	spec.col_amount = "金额";
	assert_int_equal(recon_parse_file(FX "bad_gbk.csv", &spec, &s, &e), -1);
	assert_string_equal(e.msg, FX "bad_gbk.csv:3: not valid GBK (bytes"
	    " 0xFF 0xFE); check the encoding set in the rules");
	recon_side_free(&s);
}

static void
test_csv_sign_conventions(void **state)
{
	const char *flag = "日期|标志|金额\n2026-11-01|贷|10.00\n"
	    "2026-11-01|借|3.5\n2026-11-02||1\n";
	const char *dc = "date,debit,credit\n2026-11-01,,1.00\n"
	    "2026-11-01,2.00,\n2026-11-02,1.00,1.00\n";
	const char *dc0 = "date,debit,credit\n2026-11-01,,\n";
	char *pf = write_tmp("flag.csv", flag, strlen(flag));
	char *pd = write_tmp("dc.csv", dc, strlen(dc));
	char *p0 = write_tmp("dc0.csv", dc0, strlen(dc0));
	struct recon_csv_spec spec = plain_spec();
	struct recon_side s = { 0 };
	struct err e;
	char *want;

	spec.delimiter = '|';
	spec.sign = SIGN_FLAG;
	spec.flag_in = "贷";
	spec.col_date = "日期";
	spec.col_flag = "标志";
	spec.col_amount = "金额";
	assert_int_equal(recon_parse_file(pf, &spec, &s, &e), -1);
	want = xasprintf("%s:4: empty debit/credit flag (column 标志, value"
	    " \"\")", pf);
	assert_string_equal(e.msg, want);
	free(want);

	spec = plain_spec();
	spec.sign = SIGN_DEBIT_CREDIT;
	assert_int_equal(recon_parse_file(pd, &spec, &s, &e), -1);
	want = xasprintf("%s:4: both debit and credit have an amount (columns"
	    " debit and credit)", pd);
	assert_string_equal(e.msg, want);
	free(want);
	assert_int_equal(recon_parse_file(p0, &spec, &s, &e), -1);
	want = xasprintf("%s:2: neither debit nor credit has an amount"
	    " (columns debit and credit)", p0);
	assert_string_equal(e.msg, want);
	free(want);

	/* The good rows, with negate. */
	spec.negate = true;
	dc = "date,debit,credit\n2026-11-01,,1.00\n2026-11-01,2.00,0\n";
	free(pd);
	pd = write_tmp("dc.csv", dc, strlen(dc));
	assert_int_equal(recon_parse_file(pd, &spec, &s, &e), 0);
	assert_int_equal(s.lines[0].amount, -100);
	assert_int_equal(s.lines[1].amount, 200);
	recon_side_free(&s);
	free(pf);
	free(pd);
	free(p0);
}

static void
test_csv_dates(void **state)
{
	static const struct {
		const char *fmt, *cell, *want;
	} ok[] = {
		{ "%Y-%m-%d", "2026-11-23", "2026-11-23" },
		{ "%Y-%m-%d", "2026-1-3", "2026-01-03" },
		{ "%Y-%m-%d", "2026-11-23 10:15:00", "2026-11-23" },
		{ "%Y/%m/%d", "2024/02/29", "2024-02-29" },
		{ "%Y%m%d", "20261123", "2026-11-23" },
		{ "%d.%m.%Y", "23.11.2026", "2026-11-23" },
		{ "%d/%m/%Y", "1/2/2026", "2026-02-01" },
		{ "%Y年%m月%d日", "2026年11月23日", "2026-11-23" },
		{ "%m/%d/%Y", "12/31/2026", "2026-12-31" },
	};
	static const struct {
		const char *fmt, *cell;
	} bad[] = {
		{ "%Y-%m-%d", "2026-02-29" },
		{ "%Y-%m-%d", "2026/11/23" },
		{ "%Y-%m-%d", "26-11-23" },
		{ "%Y%m%d", "2026112" },
		{ "%Y%m%d", "202611231" },
		{ "%Y-%m-%d", "2026-11-31" },
		{ "%Y-%m-%d", "2026-11-23x" },
		{ "%Y-%m-%d", "" },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *text = xasprintf("date,amount\n%s,1\n", ok[i].cell);
		char *path = write_tmp("d.csv", text, strlen(text));
		struct recon_csv_spec spec = plain_spec();
		struct recon_side s = { 0 };
		struct err e;

		spec.date_format = (char *)ok[i].fmt;
		if (recon_parse_file(path, &spec, &s, &e) != 0)
			print_error("%s %s: %s\n", ok[i].fmt, ok[i].cell, e.msg);
		assert_int_equal(s.n, 1);
		day_is(s.lines[0].date, ok[i].want);
		recon_side_free(&s);
		free(path);
		free(text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = xasprintf("date,amount\n%s,1\n", bad[i].cell);
		char *path = write_tmp("d.csv", text, strlen(text));
		struct recon_csv_spec spec = plain_spec();
		struct recon_side s = { 0 };
		struct err e;
		char *want = xasprintf("%s:2: unparseable date; date_format is"
		    " \"%s\" (column date, value \"%s\")", path, bad[i].fmt,
		    bad[i].cell);

		spec.date_format = (char *)bad[i].fmt;
		assert_int_equal(recon_parse_file(path, &spec, &s, &e), -1);
		assert_string_equal(e.msg, want);
		recon_side_free(&s);
		free(want);
		free(path);
		free(text);
	}
}

/* ---- CAMT.053 ---- */

static void
test_camt_v02(void **state)
{
	struct recon_side s = { 0 };
	struct recon_line *l;
	struct err e;

	assert_int_equal(recon_parse_file(FX "camt053_v02.xml", NULL, &s, &e),
	    0);
	assert_string_equal(s.account, "622202100100123");
	assert_string_equal(s.currency, "CNY");
	assert_true(s.has_opening);
	assert_int_equal(s.opening, 100000000);
	assert_true(s.has_closing);
	assert_int_equal(s.closing, 101754567);
	day_is(s.period_from, "2026-11-23");
	day_is(s.period_to, "2026-11-23");
	assert_int_equal(s.n, 4);   /* the pending entry is not booked */

	l = &s.lines[0];
	assert_int_equal(l->amount, 1234567);
	day_is(l->date, "2026-11-23");
	day_is(l->value_date, "2026-11-22");
	assert_string_equal(l->ref, "SB-2026-11-0042");
	assert_string_equal(l->ref_norm, "SB2026110042");
	assert_string_equal(l->counterparty, "某某科技有限公司");
	assert_string_equal(l->text, "2026年11月 养老保险费");
	assert_string_equal(l->batch, "");
	assert_int_equal(l->batch_count, 0);
	assert_false(l->reversal);
	assert_int_equal(l->src_line, 49);

	l = &s.lines[1];
	assert_int_equal(l->amount, -50000);
	day_is(l->value_date, "2026-11-23");
	assert_string_equal(l->ref, "BK20261123000002");   /* NOTPROVIDED */
	assert_string_equal(l->counterparty, "张三");
	assert_string_equal(l->text, "失业保险金 11月");
	assert_int_equal(l->src_line, 85);

	l = &s.lines[2];
	assert_int_equal(l->amount, -30000);
	assert_true(l->reversal);
	assert_string_equal(l->ref, "BK20261123000003");
	assert_string_equal(l->text, "冲正 BK20261120000077");
	assert_int_equal(l->value_date, 0);

	l = &s.lines[3];
	assert_int_equal(l->amount, 600000);
	assert_string_equal(l->batch, "PI-7781");
	assert_int_equal(l->batch_count, 3);
	assert_string_equal(l->ref, "BK20261123000004");
	assert_string_equal(l->counterparty, "");
	assert_string_equal(l->text, "批量代收 3 笔");
	recon_side_free(&s);
}

static void
test_camt_v08(void **state)
{
	struct recon_side s = { 0 };
	struct err e;

	assert_int_equal(recon_parse_file(FX "camt053_v08.xml", NULL, &s, &e),
	    0);
	assert_string_equal(s.account, "CN12BKCH0000622202100100999");
	assert_int_equal(s.opening, -25000);   /* PRCD, DBIT */
	assert_int_equal(s.closing, 175051);
	day_is(s.period_from, "2026-11-01");
	day_is(s.period_to, "2026-11-30");
	assert_int_equal(s.n, 2);
	assert_int_equal(s.lines[0].amount, 200050);
	day_is(s.lines[0].date, "2026-11-05");
	day_is(s.lines[0].value_date, "2026-11-05");
	assert_string_equal(s.lines[0].ref, "ｓｂ－２０２６／１１");
	assert_string_equal(s.lines[0].ref_norm, "SB202611");
	assert_string_equal(s.lines[0].counterparty, "李四");
	assert_string_equal(s.lines[0].text, "医疗保险 补缴");
	assert_int_equal(s.lines[0].src_line, 12);
	assert_int_equal(s.lines[1].amount, 1);
	assert_false(s.lines[1].reversal);
	assert_string_equal(s.lines[1].ref, "INT-1130");
	assert_string_equal(s.lines[1].text, "利息");
	recon_side_free(&s);
}

static void
test_camt_errors(void **state)
{
	struct recon_side s = { 0 };
	struct err e;

	assert_int_equal(recon_parse_file(FX "camt_truncated.xml", NULL, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "camt_truncated.xml:80: broken XML:"
	    " Extra content at the end of the document (is the file"
	    " truncated?)");
	assert_int_equal(s.n, 0);
	assert_int_equal(recon_parse_file(FX "camt_bad_amount.xml", NULL, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "camt_bad_amount.xml:87: unparseable"
	    " amount in <Amt> (value \"5OO.00\")");
	assert_int_equal(s.n, 0);
	assert_int_equal(s.nfiles, 0);
	/* GBK bytes in an XML that says nothing (so UTF-8). */
	assert_int_equal(recon_parse_file(FX "camt_bad_encoding.xml", NULL, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "camt_bad_encoding.xml:104: broken XML:"
	    " Input is not proper UTF-8, indicate encoding ! Bytes: 0xD5 0xC5"
	    " 0xC8 0xFD");
	assert_int_equal(recon_parse_file(FX "not_camt.xml", NULL, &s, &e), -1);
	assert_string_equal(e.msg, FX "not_camt.xml: XML but not an ISO 20022"
	    " camt.053 statement (no camt.053 namespace)");
	recon_side_free(&s);
}

/* ---- MT940 ---- */

static void
test_mt940(void **state)
{
	struct recon_side s = { 0 };
	struct recon_line *l;
	struct err e;

	assert_int_equal(recon_parse_file(FX "mt940.sta", NULL, &s, &e), 0);
	assert_string_equal(s.account, "BKCHCNBJ/622202100100123");
	assert_string_equal(s.currency, "CNY");
	assert_int_equal(s.opening, 100000000);
	assert_int_equal(s.closing, 101212417);
	day_is(s.period_from, "2026-11-22");
	day_is(s.period_to, "2026-11-24");
	assert_int_equal(s.n, 5);

	l = &s.lines[0];
	assert_int_equal(l->amount, 1234567);
	day_is(l->date, "2026-11-23");
	day_is(l->value_date, "2026-11-23");
	assert_string_equal(l->ref, "SB-2026-11-0042");
	assert_string_equal(l->text, "2026年11月 养老保险费 某某科技有限公司"
	    " 缴费单位编号 44010088");
	assert_int_equal(l->src_line, 6);

	l = &s.lines[1];
	assert_int_equal(l->amount, -50000);
	assert_string_equal(l->ref, "BK0002");   /* NONREF: the bank's */
	assert_string_equal(l->text, "失业保险金11月");
	assert_string_equal(l->counterparty, "张三");
	assert_int_equal(l->src_line, 9);

	l = &s.lines[2];
	assert_int_equal(l->amount, 30000);   /* RD: a debit reversed */
	assert_true(l->reversal);
	day_is(l->date, "2026-11-23");
	day_is(l->value_date, "2026-11-24");
	assert_string_equal(l->ref, "REV-77");
	assert_string_equal(l->text, "冲正");

	l = &s.lines[3];
	assert_int_equal(l->amount, -150);    /* RC: a credit reversed */
	assert_true(l->reversal);
	assert_string_equal(l->ref, "");
	assert_string_equal(l->text, "");

	l = &s.lines[4];
	assert_int_equal(l->amount, -2000);
	day_is(l->date, "2026-11-24");
	assert_string_equal(l->ref, "ABC 123");
	assert_string_equal(l->ref_norm, "ABC123");
	assert_int_equal(l->src_line, 22);
	recon_side_free(&s);
}

static void
test_mt940_errors(void **state)
{
	struct recon_side s = { 0 };
	struct err e;

	assert_int_equal(recon_parse_file(FX "mt940_no60.sta", NULL, &s, &e),
	    -1);
	assert_string_equal(e.msg, FX "mt940_no60.sta:1: statement without an"
	    " opening balance (:60F: or :60M:)");
	assert_int_equal(recon_parse_file(FX "mt940_no62.sta", NULL, &s, &e),
	    -1);
	assert_string_equal(e.msg, FX "mt940_no62.sta:6: statement starting"
	    " at line 1 without a closing balance (:62F: or :62M:)");
	assert_int_equal(recon_parse_file(FX "mt940_bad_amount.sta", NULL, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "mt940_bad_amount.sta:4: bad :61: amount"
	    " (value \"261123C10.00NTRFA//B\")");
	assert_int_equal(s.n, 0);
	assert_int_equal(s.nfiles, 0);
	recon_side_free(&s);
}

/* ---- account, several files ---- */

static void
test_expect_account(void **state)
{
	struct recon_csv_spec spec = plain_spec();
	struct recon_side s = { 0 };
	struct err e;

	spec.expect_account = "622202100100123";
	assert_int_equal(recon_parse_file(FX "camt053_v08.xml", &spec, &s, &e),
	    -1);
	assert_string_equal(e.msg, FX "camt053_v08.xml: statement is for"
	    " account CN12BKCH0000622202100100999, expected 622202100100123");
	assert_int_equal(s.n, 0);
	assert_int_equal(recon_parse_file(FX "other_account.csv", &spec, &s,
	    &e), -1);
	assert_string_equal(e.msg, FX "other_account.csv: statement is for"
	    " account 622202100100999, expected 622202100100123");
	/* "BANK/ACCOUNT" in :25: is the same account. */
	assert_int_equal(recon_parse_file(FX "mt940.sta", &spec, &s, &e), 0);
	assert_int_equal(recon_parse_file(FX "camt053_v02.xml", &spec, &s, &e),
	    0);
	assert_int_equal(s.n, 9);
	assert_int_equal(s.nfiles, 2);
	assert_int_equal(s.lines[0].src_file, 0);
	assert_int_equal(s.lines[8].src_file, 1);
	/* A second file for another account on the same side. */
	spec.expect_account = NULL;
	assert_int_equal(recon_parse_file(FX "camt053_v08.xml", &spec, &s, &e),
	    -1);
	assert_string_equal(e.msg, FX "camt053_v08.xml: statement is for"
	    " account CN12BKCH0000622202100100999, but " FX "mt940.sta is for"
	    " BKCHCNBJ/622202100100123");
	assert_int_equal(s.n, 9);
	assert_int_equal(s.nfiles, 2);
	recon_side_free(&s);
}

static void
test_missing_file(void **state)
{
	struct recon_side s = { 0 };
	struct err e;

	assert_int_equal(recon_parse_file("/nonexistent.csv", NULL, &s, &e),
	    -1);
	assert_string_equal(e.msg, "/nonexistent.csv: No such file or"
	    " directory");
	recon_side_free(&s);
}

static int
setup(void **state)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int rc = system(cmd);

	free(cmd);
	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_default),
		cmocka_unit_test(test_rules_file),
		cmocka_unit_test(test_rules_group_in_file),
		cmocka_unit_test(test_rules_errors),
		cmocka_unit_test(test_rules_missing_file),
		cmocka_unit_test(test_amounts),
		cmocka_unit_test(test_ref_normalise),
		cmocka_unit_test(test_csv_utf8),
		cmocka_unit_test(test_csv_gbk),
		cmocka_unit_test(test_gbk_round_trip),
		cmocka_unit_test(test_csv_ledger_columns_by_number),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_csv_mapping_errors),
		cmocka_unit_test(test_csv_bad_gbk),
		cmocka_unit_test(test_csv_sign_conventions),
		cmocka_unit_test(test_csv_dates),
		cmocka_unit_test(test_camt_v02),
		cmocka_unit_test(test_camt_v08),
		cmocka_unit_test(test_camt_errors),
		cmocka_unit_test(test_mt940),
		cmocka_unit_test(test_mt940_errors),
		cmocka_unit_test(test_expect_account),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
