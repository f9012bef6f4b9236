/*
 * test_ids.c - resident IDs, credit codes and card numbers from ocr/ids.h.
 *
 * The valid numbers are the published examples: 11010519491231002X and
 * 440524188001010014 from GB 11643, 91350100M000100Y43 from GB 32100's
 * explanatory material, 4111111111111111 and 79927398713 for Luhn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"

#define TODAY 20261123

static void
test_cnid_standard_examples(void **state)
{
	struct cnid c;

	(void)state;
	assert_int_equal(ids_cnid_parse("11010519491231002X", TODAY, &c),
	    CNID_OK);
	assert_int_equal(c.year, 1949);
	assert_int_equal(c.month, 12);
	assert_int_equal(c.day, 31);
	assert_int_equal(c.sex, 2);
	assert_int_equal(c.province, 11);
	assert_int_equal(ids_cnid_parse("440524188001010014", TODAY, &c),
	    CNID_BIRTH);   /* 1880: before 1900 on purpose */
	assert_int_equal(c.expected, '4');
	assert_int_equal(ids_cnid_check_char("11010519491231002"), 'X');
	assert_int_equal(ids_cnid_check_char("1101051949123100"), 0);
}

static void
test_cnid_lower_case_x(void **state)
{
	struct cnid c;

	(void)state;
	assert_int_equal(ids_cnid_parse("11010519491231002x", TODAY, &c),
	    CNID_OK);
	assert_string_equal(c.id, "11010519491231002X");
}

static void
test_cnid_wrong_check(void **state)
{
	struct cnid c;

	(void)state;
	assert_int_equal(ids_cnid_parse("110105194912310023", TODAY, &c),
	    CNID_CHECK);
	assert_int_equal(c.expected, 'X');
}

static void
test_cnid_bad_shapes(void **state)
{
	struct cnid c;

	(void)state;
	assert_int_equal(ids_cnid_parse("1101051949123100", TODAY, &c),
	    CNID_LENGTH);
	assert_int_equal(ids_cnid_parse("1101051949123X002X", TODAY, &c),
	    CNID_CHARS);
	assert_int_equal(ids_cnid_parse("11010519491231002Y", TODAY, &c),
	    CNID_CHARS);
	/* 99 names no province. */
	assert_int_equal(ids_cnid_parse("990105194912310028", TODAY, &c),
	    CNID_REGION);
}

static void
test_cnid_impossible_and_future_birth(void **state)
{
	struct cnid c;
	char id[19];

	(void)state;
	/* 1949-02-30 does not exist. */
	memcpy(id, "11010519490230002", 17);
	id[17] = ids_cnid_check_char(id);
	id[18] = '\0';
	assert_int_equal(ids_cnid_parse(id, TODAY, &c), CNID_BIRTH);
	/* 2000-02-29 does (a leap year of the 400 rule). */
	memcpy(id, "11010520000229002", 17);
	id[17] = ids_cnid_check_char(id);
	assert_int_equal(ids_cnid_parse(id, TODAY, &c), CNID_OK);
	/* 1900-02-29 does not. */
	memcpy(id, "11010519000229002", 17);
	id[17] = ids_cnid_check_char(id);
	assert_int_equal(ids_cnid_parse(id, TODAY, &c), CNID_BIRTH);
	/* Born the day after "today". */
	memcpy(id, "11010520261124002", 17);
	id[17] = ids_cnid_check_char(id);
	assert_int_equal(ids_cnid_parse(id, TODAY, &c), CNID_BIRTH);
	memcpy(id, "11010520261123002", 17);
	id[17] = ids_cnid_check_char(id);
	assert_int_equal(ids_cnid_parse(id, TODAY, &c), CNID_OK);
}

static void
test_cnid_from15(void **state)
{
	char out[19];
	struct cnid c;

	(void)state;
	assert_int_equal(ids_cnid_from15("110105491231002", out), 0);
	assert_string_equal(out, "11010519491231002X");
	assert_int_equal(ids_cnid_from15("11010549123100", out), -1);
	assert_int_equal(ids_cnid_from15("11010549123100A", out), -1);
	assert_int_equal(ids_cnid_parse("110105491231002", TODAY, &c),
	    CNID_OK);
	assert_string_equal(c.id, "11010519491231002X");
}

static void
test_uscc(void **state)
{
	char exp;

	(void)state;
	assert_int_equal(ids_uscc_validate("91350100M000100Y43", &exp),
	    USCC_OK);
	assert_int_equal(exp, '3');
	assert_int_equal(ids_uscc_validate("91350100M000100Y44", &exp),
	    USCC_CHECK);
	assert_int_equal(exp, '3');
	/* I, O, S, V and Z are not in the alphabet. */
	assert_int_equal(ids_uscc_validate("91350100M000100O43", NULL),
	    USCC_CHARS);
	assert_int_equal(ids_uscc_validate("91350100M000100Y4", NULL),
	    USCC_LENGTH);
	assert_int_equal(ids_uscc_check_char("91350100M000100Y4"), '3');
}

static void
test_luhn(void **state)
{
	(void)state;
	assert_true(ids_luhn_valid("4111111111111111"));
	assert_true(ids_luhn_valid("4111 1111 1111 1111"));
	assert_true(ids_luhn_valid("79927398713"));
	assert_false(ids_luhn_valid("79927398710"));
	assert_false(ids_luhn_valid("4111-1111-1111-1111"));
	assert_false(ids_luhn_valid("0"));
}

static void
test_fold(void **state)
{
	char out[64];

	(void)state;
	/* "１１０ １０５ｘ" with a full-width and an ideographic space */
	ids_fold("\xEF\xBC\x91\xEF\xBC\x91\xEF\xBC\x90\xE3\x80\x80"
	    "105\xEF\xBD\x98", out, sizeof(out));
	assert_string_equal(out, "110105X");
	/* Chinese is copied as it is. */
	ids_fold("张 三", out, sizeof(out));
	assert_string_equal(out, "张三");
	assert_int_equal(ids_fold("abcdef", out, 4), 3);
	assert_string_equal(out, "ABC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cnid_standard_examples),
		cmocka_unit_test(test_cnid_lower_case_x),
		cmocka_unit_test(test_cnid_wrong_check),
		cmocka_unit_test(test_cnid_bad_shapes),
		cmocka_unit_test(test_cnid_impossible_and_future_birth),
		cmocka_unit_test(test_cnid_from15),
		cmocka_unit_test(test_uscc),
		cmocka_unit_test(test_luhn),
		cmocka_unit_test(test_fold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
