/*
 * test_validate.c - the OCR field validators of ocr/validate.h: dates,
 * amounts, 大写金额, confusable folding, and the status, severity and
 * reason code of each field type.
 *
 * Every expected value is written out by hand. The resident IDs other than
 * GB 11643's example 11010519491231002X had their check character worked
 * out with the weights of the standard, outside this code; the credit
 * codes likewise with GB 32100's (91350100M000100Y43 is the standard's
 * explanatory example), and 6222020200000000006 by the Luhn rule. The
 * addresses are checked against the shipped table of GB/T 2260
 * (playbooks/templates/cn-divisions.txt) and against small tables
 * written here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "validate.h"

#define TODAY 20261123

static struct ocr_field_spec
spec_of(enum ocr_ftype type)
{
	struct ocr_field_spec s;

	memset(&s, 0, sizeof(s));
	s.type = type;
	return s;
}

/* Validates raw against spec and checks status, severity and code. */
#define CHECK(spec, raw, payload, st, sev, c) do { \
	assert_int_equal(ocr_validate_field((spec), (raw), (payload), TODAY, \
	    &r), 0); \
	assert_string_equal(r.code, (c)); \
	assert_int_equal(r.status, (st)); \
	assert_int_equal(r.severity, (sev)); \
} while (0)

/* ---- dates ---- */

static void
test_date_formats(void **state)
{
	int ymd = 0;

	(void)state;
	assert_int_equal(ocr_parse_date("2026年11月23日", &ymd), 0);
	assert_int_equal(ymd, 20261123);
	assert_int_equal(ocr_parse_date("2026年1月5日", &ymd), 0);
	assert_int_equal(ymd, 20260105);
	assert_int_equal(ocr_parse_date("2026-11-23", &ymd), 0);
	assert_int_equal(ymd, 20261123);
	assert_int_equal(ocr_parse_date("2026-1-5", &ymd), 0);
	assert_int_equal(ymd, 20260105);
	assert_int_equal(ocr_parse_date("2026/03/09", &ymd), 0);
	assert_int_equal(ymd, 20260309);
	assert_int_equal(ocr_parse_date("2026.12.31", &ymd), 0);
	assert_int_equal(ymd, 20261231);
	assert_int_equal(ocr_parse_date("19491001", &ymd), 0);
	assert_int_equal(ymd, 19491001);
	/* spaces an OCR engine puts between glyphs */
	assert_int_equal(ocr_parse_date(" 2026 年 11 月 2 日 ", &ymd), 0);
	assert_int_equal(ymd, 20261102);
	assert_int_equal(ocr_parse_date("2026年11月2号", &ymd), 0);
	assert_int_equal(ymd, 20261102);
}

static void
test_date_full_width(void **state)
{
	int ymd = 0;

	(void)state;
	/* ２０２６年１１月２３日 */
	assert_int_equal(ocr_parse_date("\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92"
	    "\xEF\xBC\x96年\xEF\xBC\x91\xEF\xBC\x91月\xEF\xBC\x92\xEF\xBC\x93日",
	    &ymd), 0);
	assert_int_equal(ymd, 20261123);
	/* ２０２６－０２－２８ with full-width hyphens */
	assert_int_equal(ocr_parse_date("\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92"
	    "\xEF\xBC\x96\xEF\xBC\x8D\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x8D"
	    "\xEF\xBC\x92\xEF\xBC\x98", &ymd), 0);
	assert_int_equal(ymd, 20260228);
	/* ２０２６．１．１ */
	assert_int_equal(ocr_parse_date("\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92"
	    "\xEF\xBC\x96\xEF\xBC\x8E\xEF\xBC\x91\xEF\xBC\x8E\xEF\xBC\x91",
	    &ymd), 0);
	assert_int_equal(ymd, 20260101);
}

static void
test_date_impossible(void **state)
{
	int ymd = 12345;

	(void)state;
	assert_int_equal(ocr_parse_date("2026-02-29", &ymd), -1);
	assert_int_equal(ocr_parse_date("1900-02-29", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026-04-31", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026-13-01", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026-00-10", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026-01-00", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026年2月30日", &ymd), -1);
	assert_int_equal(ocr_parse_date("20261301", &ymd), -1);
	assert_int_equal(ymd, 12345);   /* untouched on failure */
	/* leap days that exist */
	assert_int_equal(ocr_parse_date("2024-02-29", &ymd), 0);
	assert_int_equal(ymd, 20240229);
	assert_int_equal(ocr_parse_date("2000-02-29", &ymd), 0);
	assert_int_equal(ymd, 20000229);
}

static void
test_date_malformed(void **state)
{
	int ymd;

	(void)state;
	assert_int_equal(ocr_parse_date("", &ymd), -1);
	assert_int_equal(ocr_parse_date("   ", &ymd), -1);
	/* 日 lost: the day may have lost a digit too */
	assert_int_equal(ocr_parse_date("2026年11月2", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026年11月", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026-11/23", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026-11-23x", &ymd), -1);
	assert_int_equal(ocr_parse_date("26-11-23", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026-123-1", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026112", &ymd), -1);
	assert_int_equal(ocr_parse_date("202611230", &ymd), -1);
	assert_int_equal(ocr_parse_date("2026--11-23", &ymd), -1);
	assert_int_equal(ocr_parse_date("0999-01-01", &ymd), -1);
	assert_int_equal(ocr_parse_date(NULL, &ymd), -1);
}

static void
test_date_field_ranges(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_DATE);
	struct ocr_vresult r;

	(void)state;
	s.not_after = -1;       /* not after today */
	CHECK(&s, "2026年11月23日", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "2026-11-23");
	CHECK(&s, "2026-11-24", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "date.after_today");
	assert_string_equal(r.value, "2026-11-24");
	s.not_after = 0;
	s.not_before = -1;      /* not before today */
	CHECK(&s, "2026/11/22", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "date.before_today");
	CHECK(&s, "2026/11/23", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	s.not_before = 20200101;
	s.not_after = 20261231;
	CHECK(&s, "2019-12-31", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "date.before_min");
	CHECK(&s, "2020-01-01", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "2026-12-31", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "2027-01-01", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "date.after_max");
	/* unreadable is not the applicant's fault: a person looks */
	CHECK(&s, "2026-02-30", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "date.format");
	CHECK(&s, "二〇二六年", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "date.format");
}

static void
test_date_today_is_local_date(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_DATE);
	struct ocr_vresult r;

	(void)state;
	s.not_after = -1;
	/* today = 0 takes the local date, whenever the test runs */
	assert_int_equal(ocr_validate_field(&s, "2000-01-01", NULL, 0, &r), 0);
	assert_string_equal(r.code, "ok");
	assert_int_equal(ocr_validate_field(&s, "9999-12-31", NULL, 0, &r), 0);
	assert_string_equal(r.code, "date.after_today");
	assert_int_equal(r.severity, OCR_SEV_REJECT);
}

/* ---- numeric amounts ---- */

static void
test_amount_formats(void **state)
{
	int64_t fen = 0;
	char buf[32];

	(void)state;
	assert_int_equal(ocr_parse_amount("1,234.56", &fen), 0);
	assert_int_equal(fen, 123456);
	assert_int_equal(ocr_parse_amount("￥1234.5", &fen), 0);
	assert_int_equal(fen, 123450);
	assert_int_equal(ocr_parse_amount("1234.56元", &fen), 0);
	assert_int_equal(fen, 123456);
	assert_int_equal(ocr_parse_amount("¥ 12", &fen), 0);
	assert_int_equal(fen, 1200);
	assert_int_equal(ocr_parse_amount("RMB 1 234.56", &fen), 0);
	assert_int_equal(fen, 123456);
	assert_int_equal(ocr_parse_amount("人民币 500.00 元", &fen), 0);
	assert_int_equal(fen, 50000);
	assert_int_equal(ocr_parse_amount("1,234,567.09", &fen), 0);
	assert_int_equal(fen, 123456709);
	assert_int_equal(ocr_parse_amount("0.05", &fen), 0);
	assert_int_equal(fen, 5);
	/* ＣＮＹ１，２３４．５６ all full-width */
	assert_int_equal(ocr_parse_amount("\xEF\xBC\xA3\xEF\xBC\xAE\xEF\xBC\xB9"
	    "\xEF\xBC\x91\xEF\xBC\x8C\xEF\xBC\x92\xEF\xBC\x93\xEF\xBC\x94"
	    "\xEF\xBC\x8E\xEF\xBC\x95\xEF\xBC\x96", &fen), 0);
	assert_int_equal(fen, 123456);
	assert_int_equal(ocr_parse_amount("999999999999999.99", &fen), 0);
	assert_int_equal(fen, 99999999999999999LL);

	ocr_format_amount(123450, buf, sizeof(buf));
	assert_string_equal(buf, "1234.50");
	ocr_format_amount(5, buf, sizeof(buf));
	assert_string_equal(buf, "0.05");
	ocr_format_amount(-1999, buf, sizeof(buf));
	assert_string_equal(buf, "-19.99");
}

static void
test_amount_malformed(void **state)
{
	int64_t fen = 77;

	(void)state;
	assert_int_equal(ocr_parse_amount("", &fen), -1);
	assert_int_equal(ocr_parse_amount("元", &fen), -1);
	assert_int_equal(ocr_parse_amount("abc", &fen), -1);
	/* a decimal comma, or a lost digit: never 123456 */
	assert_int_equal(ocr_parse_amount("1234,56", &fen), -1);
	assert_int_equal(ocr_parse_amount("12,34", &fen), -1);
	assert_int_equal(ocr_parse_amount("1,2345", &fen), -1);
	assert_int_equal(ocr_parse_amount("1234,567", &fen), -1);
	assert_int_equal(ocr_parse_amount(",123", &fen), -1);
	assert_int_equal(ocr_parse_amount("1,,234", &fen), -1);
	assert_int_equal(ocr_parse_amount("1234.567", &fen), -1);
	assert_int_equal(ocr_parse_amount("1234.", &fen), -1);
	assert_int_equal(ocr_parse_amount(".5", &fen), -1);
	assert_int_equal(ocr_parse_amount("-5.00", &fen), -1);
	assert_int_equal(ocr_parse_amount("1.2.3", &fen), -1);
	assert_int_equal(ocr_parse_amount("12元34", &fen), -1);
	assert_int_equal(ocr_parse_amount("1000000000000000", &fen), -1);
	assert_int_equal(fen, 77);
}

/* ---- 大写金额 ---- */

static void
test_amount_cn_valid(void **state)
{
	int64_t fen = 0;

	(void)state;
	assert_int_equal(ocr_parse_amount_cn("壹万零伍元整", &fen), 0);
	assert_int_equal(fen, 1000500);
	assert_int_equal(ocr_parse_amount_cn("壹佰元零伍分", &fen), 0);
	assert_int_equal(fen, 10005);
	assert_int_equal(ocr_parse_amount_cn("叁仟贰佰壹拾伍元陆角柒分", &fen),
	    0);
	assert_int_equal(fen, 321567);
	assert_int_equal(ocr_parse_amount_cn("伍角", &fen), 0);
	assert_int_equal(fen, 50);
	assert_int_equal(ocr_parse_amount_cn("人民币壹亿元整", &fen), 0);
	assert_int_equal(fen, 10000000000LL);
	assert_int_equal(ocr_parse_amount_cn("人民币 壹仟 元 正", &fen), 0);
	assert_int_equal(fen, 100000);
	assert_int_equal(ocr_parse_amount_cn("壹仟零伍拾圆整", &fen), 0);
	assert_int_equal(fen, 105000);
	assert_int_equal(ocr_parse_amount_cn("壹仟陆佰捌拾元零叁角贰分", &fen),
	    0);
	assert_int_equal(fen, 168032);
	assert_int_equal(ocr_parse_amount_cn("壹仟陆佰捌拾元叁角贰分", &fen),
	    0);
	assert_int_equal(fen, 168032);
	/* 107000.53 both ways 《支付结算办法》 allows */
	assert_int_equal(ocr_parse_amount_cn("壹拾万柒仟元伍角叁分", &fen), 0);
	assert_int_equal(fen, 10700053);
	assert_int_equal(ocr_parse_amount_cn("壹拾万零柒仟元伍角叁分", &fen),
	    0);
	assert_int_equal(fen, 10700053);
	assert_int_equal(ocr_parse_amount_cn("壹万零伍佰零伍元", &fen), 0);
	assert_int_equal(fen, 1050500);
	assert_int_equal(ocr_parse_amount_cn("壹亿零伍万元整", &fen), 0);
	assert_int_equal(fen, 10005000000LL);
	assert_int_equal(ocr_parse_amount_cn("壹亿伍仟万元整", &fen), 0);
	assert_int_equal(fen, 15000000000LL);
	assert_int_equal(ocr_parse_amount_cn("壹亿零伍元", &fen), 0);
	assert_int_equal(fen, 10000000500LL);
	assert_int_equal(ocr_parse_amount_cn("拾伍元整", &fen), 0);
	assert_int_equal(fen, 1500);
	assert_int_equal(ocr_parse_amount_cn("伍角叁分", &fen), 0);
	assert_int_equal(fen, 53);
	assert_int_equal(ocr_parse_amount_cn("玖分", &fen), 0);
	assert_int_equal(fen, 9);
	assert_int_equal(ocr_parse_amount_cn("零元整", &fen), 0);
	assert_int_equal(fen, 0);
	assert_int_equal(ocr_parse_amount_cn("捌佰元伍角整", &fen), 0);
	assert_int_equal(fen, 80050);
	assert_int_equal(ocr_parse_amount_cn("玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万"
	    "玖仟玖佰玖拾玖元玖角玖分", &fen), 0);
	assert_int_equal(fen, 99999999999999LL);
}

static void
test_amount_cn_malformed(void **state)
{
	int64_t fen = 77;

	(void)state;
	assert_int_equal(ocr_parse_amount_cn("", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("人民币", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹万万", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹万万元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("元元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹元元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("元整", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("整", &fen), -1);
	/* 零 rules */
	assert_int_equal(ocr_parse_amount_cn("壹万伍元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹仟伍拾元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹仟零伍佰元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹万零零伍元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹佰零元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("零壹佰元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹亿零万元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹亿伍万元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("伍角零伍分", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("零伍角", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹佰元零", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹佰元零角", &fen), -1);
	/* order and shape */
	assert_int_equal(ocr_parse_amount_cn("壹拾佰元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("伍佰壹仟元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹贰元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹万壹亿元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("亿元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹万拾伍元", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹佰", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("伍", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹佰元整伍角", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("伍分叁角", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("壹佰元伍", &fen), -1);
	/* lower-case numerals are not 大写 */
	assert_int_equal(ocr_parse_amount_cn("一百元整", &fen), -1);
	assert_int_equal(ocr_parse_amount_cn("100元", &fen), -1);
	assert_int_equal(fen, 77);
}

/* ---- confusables and equality ---- */

static void
test_fold_confusables(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(ocr_fold_confusables("11O1O5l9491231OO2x", out,
	    sizeof(out)), 18);
	assert_string_equal(out, "11010519491231002X");
	ocr_fold_confusables("DQ|!ZSBG I", out, sizeof(out));
	assert_string_equal(out, "00112586" "1");
	/* full-width Ｏ, 〇 and × */
	ocr_fold_confusables("\xEF\xBC\xAF〇12×", out, sizeof(out));
	assert_string_equal(out, "0012X");
	/* Chinese is kept whole, even where the buffer ends */
	ocr_fold_confusables("张三O", out, sizeof(out));
	assert_string_equal(out, "张三0");
	assert_int_equal(ocr_fold_confusables("张三", out, 5), 3);
	assert_string_equal(out, "张");
	assert_int_equal(ocr_fold_confusables("ABC", out, 1), 0);
	assert_string_equal(out, "");
}

static void
test_text_equal(void **state)
{
	bool folded = true;

	(void)state;
	/* width, spaces and case only: no folding needed */
	assert_true(ocr_text_equal("１１０１０５ｘ", "110105X", true, &folded));
	assert_false(folded);
	assert_true(ocr_text_equal("张 三", "张三", false, &folded));
	assert_false(folded);
	assert_true(ocr_text_equal("阿依古丽•买买提", "阿依古丽·买买提", false,
	    &folded));
	/* look-alikes: only for identifiers */
	assert_true(ocr_text_equal("11O1O5l9491231OO2X", "11010519491231002X",
	    true, &folded));
	assert_true(folded);
	assert_false(ocr_text_equal("11O1O5l9491231OO2X", "11010519491231002X",
	    false, &folded));
	assert_false(folded);
	assert_false(ocr_text_equal("11010519491231002X", "110105194912310023",
	    true, &folded));
	assert_false(ocr_text_equal("张三", "张王", false, NULL));
	assert_false(ocr_text_equal("张三", "张三丰", false, NULL));
	assert_false(ocr_text_equal(NULL, "x", false, NULL));
}

/* ---- identifiers ---- */

static void
test_cn_id_field(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_CN_ID);
	struct ocr_vresult r;

	(void)state;
	CHECK(&s, "11010519491231002X", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "11010519491231002X");
	/* trailing lower-case x and spaces */
	CHECK(&s, " 110105 19491231 002x ", NULL, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	assert_string_equal(r.value, "11010519491231002X");
	/* full-width digits: １１０１０５１９４９１２３１００２Ｘ */
	CHECK(&s, "\xEF\xBC\x91\xEF\xBC\x91\xEF\xBC\x90\xEF\xBC\x91\xEF\xBC\x90"
	    "\xEF\xBC\x95\xEF\xBC\x91\xEF\xBC\x99\xEF\xBC\x94\xEF\xBC\x99"
	    "\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93\xEF\xBC\x91\xEF\xBC\x90"
	    "\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\xB8", NULL, OCR_FS_OK,
	    OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "11010519491231002X");
	CHECK(&s, "44030419900307123X", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "320106200002290027", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	/* born today is fine */
	CHECK(&s, "110105202611230015", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");

	/* the applicant must bring a correct copy */
	CHECK(&s, "110105194912310023", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "cn_id.check");
	assert_string_equal(r.value, "110105194912310023");
	assert_non_null(strstr(r.message, "call for X, not 3"));
	CHECK(&s, "990105194912310028", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "cn_id.region");
	CHECK(&s, "110105202612010014", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "cn_id.birth");   /* born next month */
	CHECK(&s, "110105194902300012", NULL, OCR_FS_INVALID, OCR_SEV_REJECT,
	    "cn_id.birth");   /* 30 February */

	/* unreadable: a person looks */
	CHECK(&s, "1101051949123100", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "cn_id.length");
	CHECK(&s, "1101051949123X002X", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "cn_id.chars");
	CHECK(&s, "11010519491231002Y", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "cn_id.chars");
	/* look-alikes that fold to a valid number are flagged */
	CHECK(&s, "11O1O5l9491231OO2X", NULL, OCR_FS_OK, OCR_SEV_WARN,
	    "cn_id.folded");
	assert_string_equal(r.value, "11010519491231002X");
	assert_true(r.folded);
	/* ... and ones that fold to a wrong number are not valid */
	CHECK(&s, "11O1O5l949123lOO23", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "cn_id.chars");
	/* an old 15-digit number has no check character to verify */
	CHECK(&s, "110105491231002", NULL, OCR_FS_WARNING, OCR_SEV_WARN,
	    "cn_id.old15");
	assert_string_equal(r.value, "11010519491231002X");
}

static void
test_uscc_field(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_USCC);
	struct ocr_vresult r;

	(void)state;
	CHECK(&s, "91350100M000100Y43", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "9135 0100 m000 100y 43", NULL, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	assert_string_equal(r.value, "91350100M000100Y43");
	CHECK(&s, "91110108MA01BGDL5K", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	/* real codes exist that fail: escalate, never reject */
	CHECK(&s, "91350100M000100Y44", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "uscc.check");
	CHECK(&s, "91350100M000100Y4", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "uscc.length");
	CHECK(&s, "91350100M000100V43", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "uscc.chars");
	/* O is not in the GB 32100 alphabet; B, G, D, L are and stay */
	CHECK(&s, "911101O8MA01BGDL5K", NULL, OCR_FS_OK, OCR_SEV_WARN,
	    "uscc.folded");
	assert_string_equal(r.value, "91110108MA01BGDL5K");
	assert_true(r.folded);
}

static void
test_bank_card_field(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_BANK_CARD);
	struct ocr_vresult r;

	(void)state;
	CHECK(&s, "6222 0202 0000 0000 006", NULL, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	assert_string_equal(r.value, "6222020200000000006");
	CHECK(&s, "4111-1111-1111-1111", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "4111111111111111");
	/* passbook and corporate accounts are not Luhn: a warning only */
	CHECK(&s, "6222020200000000007", NULL, OCR_FS_WARNING, OCR_SEV_WARN,
	    "bank_card.luhn");
	CHECK(&s, "4III 1111 1111 1111", NULL, OCR_FS_OK, OCR_SEV_WARN,
	    "bank_card.folded");
	assert_string_equal(r.value, "4111111111111111");
	CHECK(&s, "6222 02O2 张", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "bank_card.chars");
	CHECK(&s, "1234567", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "bank_card.length");
	CHECK(&s, "123456789012345678901234567890123", NULL, OCR_FS_INVALID,
	    OCR_SEV_ESCALATE, "bank_card.length");
}

/* ---- amounts as fields ---- */

static void
test_amount_fields(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_AMOUNT);
	struct ocr_field_spec cn = spec_of(OCR_F_AMOUNT_CN);
	struct ocr_vresult r;

	(void)state;
	CHECK(&s, "￥1,234.5", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "1234.50");
	CHECK(&s, "1234,5", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "amount.format");
	CHECK(&cn, "人民币叁仟贰佰壹拾伍元陆角柒分", NULL, OCR_FS_OK,
	    OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "3215.67");
	CHECK(&cn, "壹万万元", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "amount_cn.format");
}

/* ---- text, name, enum, regex ---- */

static void
test_enum_field(void **state)
{
	char *values[] = { "男", "女" };
	struct ocr_field_spec s = spec_of(OCR_F_ENUM);
	struct ocr_vresult r;

	(void)state;
	s.enum_values = values;
	s.n_enum = 2;
	CHECK(&s, " 女 ", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "女");
	CHECK(&s, "妇", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE, "enum.value");
	CHECK(&s, "男女", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "enum.value");
}

static void
test_regex_field(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_REGEX);
	struct ocr_vresult r;
	struct err e = { 0 };

	(void)state;
	s.regex = strdup("[0-9]{6}");
	assert_int_equal(ocr_field_spec_compile(&s, &e), 0);
	assert_non_null(s.re);
	CHECK(&s, "100101", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "100101");
	/* the whole value must match */
	CHECK(&s, "1001012", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "regex.nomatch");
	CHECK(&s, "x100101", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "regex.nomatch");
	/* compiling again replaces the code (no leak under ASan) */
	assert_int_equal(ocr_field_spec_compile(&s, &e), 0);
	ocr_field_spec_clear(&s);
	assert_null(s.re);
	assert_null(s.regex);

	/* UTF-8 classes */
	s = spec_of(OCR_F_REGEX);
	s.regex = strdup("\\p{Han}{2,4}");
	assert_int_equal(ocr_field_spec_compile(&s, &e), 0);
	CHECK(&s, "张三", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "张", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "regex.nomatch");
	/* invalid UTF-8 from the engine simply does not match */
	CHECK(&s, "\xE5\xBC\xA0\xFF", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "regex.nomatch");
	ocr_field_spec_clear(&s);

	/* catastrophic backtracking is cut off */
	s = spec_of(OCR_F_REGEX);
	s.regex = strdup("(a+)+b");
	assert_int_equal(ocr_field_spec_compile(&s, &e), 0);
	CHECK(&s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabc", NULL,
	    OCR_FS_INVALID, OCR_SEV_ESCALATE, "regex.limit");
	ocr_field_spec_clear(&s);
}

static void
test_regex_bad_pattern(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_REGEX);
	struct ocr_vresult r;
	struct err e = { 0 };

	(void)state;
	s.regex = strdup("ab(c");
	assert_int_equal(ocr_field_spec_compile(&s, &e), -1);
	assert_null(s.re);
	assert_int_equal(e.code, ERR_INVALID);
	assert_true(strncmp(e.msg, "pattern error at offset 4: ", 27) == 0);
	assert_non_null(strstr(e.msg, "parenthesis"));
	/* validating with an uncompiled pattern is a caller's bug */
	assert_int_equal(ocr_validate_field(&s, "abc", NULL, TODAY, &r), -1);
	assert_string_equal(r.code, "internal");
	assert_int_equal(r.severity, OCR_SEV_ESCALATE);
	ocr_field_spec_clear(&s);

	s = spec_of(OCR_F_REGEX);
	s.regex = strdup("[0-9");
	assert_int_equal(ocr_field_spec_compile(&s, &e), -1);
	assert_true(strncmp(e.msg, "pattern error at offset 4: ", 27) == 0);
	ocr_field_spec_clear(&s);
}

static void
test_text_and_name(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_TEXT);
	struct ocr_field_spec n = spec_of(OCR_F_NAME);
	struct ocr_vresult r;

	(void)state;
	CHECK(&s, "　北京市 朝阳区  ", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "北京市 朝阳区");
	CHECK(&n, " 张  三 ", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "张三");
	CHECK(&n, "阿依古丽·买买提", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	/* not a name: Latin, digits, one character, punctuation */
	CHECK(&n, "ame", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE, "name.chars");
	CHECK(&n, "ZHANG SAN", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "name.chars");
	CHECK(&n, "张三1", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE, "name.chars");
	CHECK(&n, "张", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE, "name.chars");
	CHECK(&n, "张三|", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE, "name.chars");
	CHECK(&n, "\xE5\xBC\xA0\xFF", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "name.chars");
	/* latin = true: a transcribed or foreign name in Latin letters */
	n.latin = true;
	CHECK(&n, "ZHANG   SAN", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "ZHANG SAN");
	CHECK(&n, "O'NEILL-SMITH", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&n, "张三", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&n, "ZH4NG", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE, "name.chars");
}

/* ---- addresses (divisions) ---- */

static struct ocr_field_spec
address_spec(const char *table)
{
	struct ocr_field_spec s = spec_of(OCR_F_TEXT);
	struct err e = { 0 };

	s.name = "address";
	s.label = "住址";
	if ((s.divisions = ocr_divisions_load(table, &e)) == NULL)
		fail_msg("%s", e.msg);
	return s;
}

#define CN_DIVISIONS SRCDIR "/playbooks/templates/cn-divisions.txt"

/* chi_sim's misreads of 武侯区 (武候区, 武修区) are no county of 成都市,
 * and escalate; real addresses pass as read. */
static void
test_address_divisions(void **state)
{
	struct ocr_field_spec s = address_spec(CN_DIVISIONS);
	struct ocr_field_spec plain = spec_of(OCR_F_TEXT);
	struct ocr_vresult r;

	(void)state;
	CHECK(&s, "成都市武侯区人民南路四段27号", NULL, OCR_FS_OK,
	    OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "成都市武侯区人民南路四段27号");
	CHECK(&s, "成都市武修区人民南路四段27号", NULL, OCR_FS_INVALID,
	    OCR_SEV_ESCALATE, "address.division");
	/* the value is what was read, not the nearest real name */
	assert_string_equal(r.value, "成都市武修区人民南路四段27号");
	assert_non_null(strstr(r.message, "住址的区县\"武修区…\"不在成都市"));
	CHECK(&s, "成都市武候区人民南路四段27号", NULL, OCR_FS_INVALID,
	    OCR_SEV_ESCALATE, "address.division");
	CHECK(&s, "四川省成都市武侯区人民南路四段27号", NULL, OCR_FS_OK,
	    OCR_SEV_NONE, "ok");
	/* a municipality's districts follow it */
	CHECK(&s, "北京市东城区景山前街4号", NULL, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	CHECK(&s, "重庆市城口县葛城街道", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "北京市武侯区", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "address.division");
	/* a city without counties, and a county-level city of the province */
	CHECK(&s, "广东省东莞市南城街道鸿福路106号", NULL, OCR_FS_OK,
	    OCR_SEV_NONE, "ok");
	CHECK(&s, "湖北省仙桃市沙嘴街道", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "仙桃市沙嘴街道", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	/* spaces OCR puts between Chinese words; the value keeps them */
	CHECK(&s, " 成都市　武侯区 人民南路 ", NULL, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	assert_string_equal(r.value, "成都市　武侯区 人民南路");
	CHECK(&s, "四川省 成都市 武侯区人民南路", NULL, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	/* junk, a city of another province, a province or city alone */
	CHECK(&s, "Ue elas R275", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "address.division");
	assert_non_null(strstr(r.message, "住址开头的\"Ue …\"不是省、市"));
	CHECK(&s, "广东省成都市武侯区人民南路四段27号", NULL, OCR_FS_INVALID,
	    OCR_SEV_ESCALATE, "address.division");
	assert_non_null(strstr(r.message, "住址的市\"成都市…\"不在广东省"));
	CHECK(&s, "四川省", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "address.division");
	CHECK(&s, "成都市", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "address.division");
	/* optional and empty is still fine */
	s.required = false;
	CHECK(&s, "  ", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	/* without divisions, text is anything */
	CHECK(&plain, "成都市武修区人民南路四段27号", NULL, OCR_FS_OK,
	    OCR_SEV_NONE, "ok");
	CHECK(&plain, "Ue elas R275", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	ocr_divisions_release(s.divisions);
}

/* ocr_divisions_near: a chain broken one character off a real
 * division; the one such division of its parent, or nothing. */
static void
test_address_near(void **state)
{
	struct ocr_field_spec s = address_spec(CN_DIVISIONS);
	char out[128], small[12];

	(void)state;
	assert_int_equal(ocr_divisions_near(s.divisions,
	    "成都市武候区人民南路四段27号", out, sizeof(out)), 0);
	assert_string_equal(out, "成都市武侯区人民南路四段27号");
	assert_int_equal(ocr_divisions_near(s.divisions,
	    "南京市亦武区中山路18号", out, sizeof(out)), 0);
	assert_string_equal(out, "南京市玄武区中山路18号");
	/* a city off by one under its province */
	assert_int_equal(ocr_divisions_near(s.divisions,
	    "四川省成部市武侯区", out, sizeof(out)), 0);
	assert_string_equal(out, "四川省成都市武侯区");
	/* one off 玄武区 and one off 鼓楼区: which it is, nobody knows */
	assert_int_equal(ocr_divisions_near(s.divisions, "南京市鼓武区中山路",
	    out, sizeof(out)), -1);
	/* two characters off, or one off twice: not near */
	assert_int_equal(ocr_divisions_near(s.divisions, "成都市文候区",
	    out, sizeof(out)), -1);
	assert_int_equal(ocr_divisions_near(s.divisions, "四川省成部市武候区",
	    out, sizeof(out)), -1);
	/* a real chain, and no province or city at all: nothing to mend */
	assert_int_equal(ocr_divisions_near(s.divisions, "成都市武侯区",
	    out, sizeof(out)), -1);
	assert_int_equal(ocr_divisions_near(s.divisions, "RRR REPLI", out,
	    sizeof(out)), -1);
	/* what does not fit */
	assert_int_equal(ocr_divisions_near(s.divisions,
	    "成都市武候区人民南路", small, sizeof(small)), -1);
	ocr_divisions_release(s.divisions);
}

static char *
write_table(const char *text)
{
	char *path = strdup("/tmp/clerk-test-divisions-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* The rules on a table written out here: the longest name of a level
 * wins, a city of one name in two provinces is either. */
static void
test_address_table_rules(void **state)
{
	char *path = write_table("# a made-up table\n"
	    "甲省\t乙市\t丙区\n"
	    "甲省\t乙市\t丙区丁\n"
	    "甲省\t戊市\n"
	    "庚省\t乙市\t辛县\r\n"
	    "\n"
	    "庚省\t\t壬市\n");
	struct ocr_field_spec s = address_spec(path);
	struct ocr_div_match m;
	struct ocr_vresult r;

	(void)state;
	ocr_divisions_match(s.divisions, "乙市丙区丁路", &m);
	assert_int_equal(m.status, OCR_DIV_OK);
	assert_string_equal(m.county, "丙区丁");
	assert_string_equal(m.rest, "路");
	/* 乙市 of 庚省 has 辛县 */
	CHECK(&s, "乙市辛县", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "甲省乙市辛县", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "address.division");
	CHECK(&s, "庚省壬市什么都行", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "甲省戊市", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&s, "甲省壬市", NULL, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "address.division");
	ocr_divisions_release(s.divisions);
	unlink(path);
	free(path);
}

static void
expect_table_error(const char *text, int line, const char *what)
{
	char *path = write_table(text), want[128];
	struct err e = { 0 };

	assert_null(ocr_divisions_load(path, &e));
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	if (strncmp(e.msg, want, strlen(want)) != 0 || strstr(e.msg, what) ==
	    NULL)
		fail_msg("got \"%s\", want \"%s...%s\"", e.msg, want, what);
	unlink(path);
	free(path);
}

static void
test_address_table_errors(void **state)
{
	struct err e = { 0 };

	(void)state;
	assert_null(ocr_divisions_load("/nonexistent/cn-divisions.txt", &e));
	assert_non_null(strstr(e.msg, "/nonexistent/cn-divisions.txt: cannot "
	    "read it"));
	expect_table_error("# only a comment\n", 1, "no division");
	expect_table_error("甲省\t乙市\t丙区\n甲省\n", 2, "not a division");
	expect_table_error("甲省\t乙市\t丙区\t丁\n", 1, "not a division");
	expect_table_error("甲省\t乙市\t\n", 1, "not a division");
	expect_table_error("\t乙市\t丙区\n", 1, "not a division");
	expect_table_error("甲省\t乙 市\t丙区\n", 1, "not a division's name");
	expect_table_error("甲省\t乙市\t\xE4\xB8\n", 1, "not a division's name");
	expect_table_error("甲省\t乙市\t丙区\n甲省\t乙市\n", 2,
	    "both with counties and without");
	expect_table_error("甲省\t乙市\n甲省\t乙市\t丙区\n", 2,
	    "both with counties and without");
}

/* ---- required ---- */

static void
test_required_empty(void **state)
{
	struct ocr_field_spec s = spec_of(OCR_F_CN_ID);
	struct ocr_vresult r;

	(void)state;
	s.required = true;
	s.label = "公民身份号码";
	CHECK(&s, "", NULL, OCR_FS_MISSING, OCR_SEV_REJECT, "required");
	assert_non_null(strstr(r.message, "公民身份号码"));
	CHECK(&s, NULL, NULL, OCR_FS_MISSING, OCR_SEV_REJECT, "required");
	/* white space and an ideographic space are empty too */
	CHECK(&s, " \t\xE3\x80\x80\n", NULL, OCR_FS_MISSING, OCR_SEV_REJECT,
	    "required");
	s.required = false;
	CHECK(&s, "", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_string_equal(r.value, "");
	/* an empty optional field is not compared with the case */
	s.match = "id_number";
	CHECK(&s, "  ", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
}

/* ---- match ---- */

static void
test_match(void **state)
{
	json_t *payload = json_loads("{\"id_number\": \"11010519491231002x\","
	    "\"name\": \"张三\", \"applicant\": {\"name\": \"李四\"},"
	    "\"old_id\": \"110105491231002\", \"benefit\": 1234.5,"
	    "\"claimed_on\": \"2026年11月20日\","
	    "\"uscc\": \"91110108MA01BGDL5K\","
	    "\"typed_id\": \"11O1O5I9491231OO2X\"}", 0, NULL);
	struct ocr_field_spec id = spec_of(OCR_F_CN_ID);
	struct ocr_field_spec name = spec_of(OCR_F_NAME);
	struct ocr_field_spec amount = spec_of(OCR_F_AMOUNT);
	struct ocr_field_spec date = spec_of(OCR_F_DATE);
	struct ocr_field_spec uscc = spec_of(OCR_F_USCC);
	struct ocr_vresult r;

	(void)state;
	assert_non_null(payload);
	id.match = "id_number";
	CHECK(&id, "11010519491231002X", payload, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	/* a valid ID that is someone else's must never pass */
	CHECK(&id, "44030419900307123X", payload, OCR_FS_MISMATCH,
	    OCR_SEV_ESCALATE, "match.id_number");
	/* look-alikes read off the document: the same person, noted */
	CHECK(&id, "11O1O5l9491231OO2X", payload, OCR_FS_OK, OCR_SEV_WARN,
	    "cn_id.folded");
	assert_true(r.folded);
	/* ... or typed into the case */
	id.match = "typed_id";
	CHECK(&id, "11010519491231002X", payload, OCR_FS_OK, OCR_SEV_WARN,
	    "match.folded");
	assert_true(r.folded);
	id.match = "id_number";
	/* a wrong check character stays a rejection, whatever the case says */
	CHECK(&id, "110105194912310023", payload, OCR_FS_INVALID,
	    OCR_SEV_REJECT, "cn_id.check");
	/* the case still holding the 15-digit number */
	id.match = "old_id";
	CHECK(&id, "11010519491231002X", payload, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");

	name.match = "name";
	CHECK(&name, "张 三", payload, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&name, "张王", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.name");
	name.match = "applicant.name";
	CHECK(&name, "李四", payload, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&name, "张三", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.applicant.name");
	/* no folding for names: O and 0 are different people's names */
	name.match = "name";
	name.latin = true;
	CHECK(&name, "张三O", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.name");
	/* a Chinese-only name with a Latin letter is not a name at all */
	name.latin = false;
	CHECK(&name, "张三O", payload, OCR_FS_INVALID, OCR_SEV_ESCALATE,
	    "name.chars");

	/* nothing to compare with is never a pass */
	name.match = "spouse";
	CHECK(&name, "张三", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.missing");
	name.match = "name";
	CHECK(&name, "张三", NULL, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.missing");
	name.match = "applicant";   /* an object, not a value */
	CHECK(&name, "张三", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.missing");

	/* match_optional: no case data is no comparison (and no "matched",
	 * so a low confidence is not vouched for); case data that is there
	 * is compared as ever */
	name.match_optional = true;
	name.match = "spouse";
	CHECK(&name, "张三", payload, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_false(r.matched);
	name.match = "applicant.name";
	CHECK(&name, "李四", payload, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_true(r.matched);
	CHECK(&name, "张三", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.applicant.name");
	assert_false(r.matched);
	name.match_optional = false;
	id.match = "spouse_id";
	id.match_optional = true;
	CHECK(&id, "11010519491231002X", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&id, "110105194912310023", NULL, OCR_FS_INVALID,
	    OCR_SEV_REJECT, "cn_id.check");
	id.match_optional = false;

	amount.match = "benefit";
	CHECK(&amount, "1,234.50元", payload, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&amount, "1,234.56", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.benefit");
	date.match = "claimed_on";
	CHECK(&date, "2026-11-20", payload, OCR_FS_OK, OCR_SEV_NONE, "ok");
	CHECK(&date, "2026-11-21", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.claimed_on");
	uscc.match = "uscc";
	CHECK(&uscc, "91110108MA01BGDL5K", payload, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	CHECK(&uscc, "91350100M000100Y43", payload, OCR_FS_MISMATCH,
	    OCR_SEV_ESCALATE, "match.uscc");

	/* a long key is cut to fit the code */
	name.match = "a_very_long_payload_key_that_does_not_fit_in_the_code";
	json_object_set_new(payload, name.match, json_string("张三"));
	CHECK(&name, "李四", payload, OCR_FS_MISMATCH, OCR_SEV_ESCALATE,
	    "match.a_very_long_payload_key_that_does_not_fit");
	json_decref(payload);
}

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(ocr_ftype_from_name("cn_id"), OCR_F_CN_ID);
	assert_int_equal(ocr_ftype_from_name("amount_cn"), OCR_F_AMOUNT_CN);
	assert_int_equal(ocr_ftype_from_name("regex"), OCR_F_REGEX);
	assert_int_equal(ocr_ftype_from_name("phone"), -1);
	assert_int_equal(ocr_ftype_from_name(NULL), -1);
	assert_string_equal(ocr_ftype_name(OCR_F_BANK_CARD), "bank_card");
	assert_string_equal(ocr_fstatus_name(OCR_FS_LOW_CONFIDENCE),
	    "low_confidence");
	assert_string_equal(ocr_severity_name(OCR_SEV_ESCALATE), "escalate");
}


/* ---- when a read field is unsure (ocr_field_unsure) ---- */

/* An ID number that validates and is the applicant's, read twice alike,
 * but one digit of it at low confidence: it must escalate (issue 3:
 * "a low-confidence digit in an identifier must never end in accept"),
 * whatever the case or the second read says. */
static void
test_unsure_identifier_low_digit(void **state)
{
	json_t *payload = json_loads("{\"id_no\": \"11010519491231002X\"}",
	    0, NULL);
	struct ocr_field_spec id = spec_of(OCR_F_CN_ID);
	struct ocr_reads rd;
	struct ocr_vresult r;

	(void)state;
	id.match = "id_no";
	id.min_confidence = 80;
	CHECK(&id, "11010519491231002X", payload, OCR_FS_OK, OCR_SEV_NONE,
	    "ok");
	memset(&rd, 0, sizeof(rd));
	rd.found = true;
	rd.min_confidence = 80;
	rd.agree_confidence = 50;
	rd.conf = 62;                   /* the least sure digit */
	assert_true(ocr_field_unsure(&id, &r, &rd));
	rd.reread = rd.agree = true;    /* two reads agreeing do not vouch */
	assert_true(ocr_field_unsure(&id, &r, &rd));
	rd.conf = 79.9;
	assert_true(ocr_field_unsure(&id, &r, &rd));
	rd.conf = 80;
	assert_false(ocr_field_unsure(&id, &r, &rd));
	/* sure digits, but the page read another well-formed number */
	rd.agree = false;
	assert_true(ocr_field_unsure(&id, &r, &rd));
	/* a second read alone (the page read nothing there) is not
	 * enough, however sure its digits */
	rd.conf = 99;
	assert_true(ocr_field_unsure(&id, &r, &rd));
	json_decref(payload);
}

static void
test_unsure_other_fields(void **state)
{
	json_t *payload = json_loads("{\"name\": \"张三\"}", 0, NULL);
	struct ocr_field_spec name = spec_of(OCR_F_NAME);
	struct ocr_field_spec date = spec_of(OCR_F_DATE);
	struct ocr_reads rd;
	struct ocr_vresult r;

	(void)state;
	memset(&rd, 0, sizeof(rd));
	rd.found = true;
	rd.min_confidence = 70;
	rd.agree_confidence = 50;
	/* a date read once below the threshold */
	CHECK(&date, "2024年2月21日", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	rd.conf = 43;
	assert_true(ocr_field_unsure(&date, &r, &rd));
	/* read twice alike: sure from agree_confidence on */
	rd.reread = rd.agree = true;
	assert_true(ocr_field_unsure(&date, &r, &rd));
	rd.conf = 50;
	assert_false(ocr_field_unsure(&date, &r, &rd));
	/* two different dates: unsure however confident */
	rd.agree = false;
	rd.conf = 99;
	assert_true(ocr_field_unsure(&date, &r, &rd));
	/* the one read that is a value at all (the others no address of
	 * the divisions): sure from min_confidence, not agree_confidence */
	rd.alone = true;
	rd.conf = 69.9;
	assert_true(ocr_field_unsure(&date, &r, &rd));
	rd.conf = 70;
	assert_false(ocr_field_unsure(&date, &r, &rd));
	rd.alone = false;
	/* a name exactly as the case has it is sure at any confidence */
	name.match = "name";
	CHECK(&name, "张三", payload, OCR_FS_OK, OCR_SEV_NONE, "ok");
	rd.conf = 5;
	assert_false(ocr_field_unsure(&name, &r, &rd));
	/* without a case to agree with, the conflict stands */
	name.match = NULL;
	CHECK(&name, "张三", NULL, OCR_FS_OK, OCR_SEV_NONE, "ok");
	assert_true(ocr_field_unsure(&name, &r, &rd));
	/* nothing read: not this function's to judge */
	rd.found = false;
	assert_false(ocr_field_unsure(&name, &r, &rd));
	json_decref(payload);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date_formats),
		cmocka_unit_test(test_date_full_width),
		cmocka_unit_test(test_date_impossible),
		cmocka_unit_test(test_date_malformed),
		cmocka_unit_test(test_date_field_ranges),
		cmocka_unit_test(test_date_today_is_local_date),
		cmocka_unit_test(test_amount_formats),
		cmocka_unit_test(test_amount_malformed),
		cmocka_unit_test(test_amount_cn_valid),
		cmocka_unit_test(test_amount_cn_malformed),
		cmocka_unit_test(test_fold_confusables),
		cmocka_unit_test(test_text_equal),
		cmocka_unit_test(test_cn_id_field),
		cmocka_unit_test(test_uscc_field),
		cmocka_unit_test(test_bank_card_field),
		cmocka_unit_test(test_amount_fields),
		cmocka_unit_test(test_enum_field),
		cmocka_unit_test(test_regex_field),
		cmocka_unit_test(test_regex_bad_pattern),
		cmocka_unit_test(test_text_and_name),
		cmocka_unit_test(test_address_divisions),
		cmocka_unit_test(test_address_near),
		cmocka_unit_test(test_address_table_rules),
		cmocka_unit_test(test_address_table_errors),
		cmocka_unit_test(test_required_empty),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_unsure_identifier_low_digit),
		cmocka_unit_test(test_unsure_other_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
