/*
 * fuzz_validate.c - the OCR field parsers of ocr/validate.h on what an OCR
 * engine may print: ocr_parse_date, ocr_parse_amount, ocr_parse_amount_cn,
 * ocr_fold_confusables and ocr_text_equal.
 *
 * The input is the text of one field. Besides memory errors and UB, what
 * the parsers promise is checked: an accepted date is a real calendar
 * date; an accepted amount is not negative, and its formatted form parses
 * back to the same number of fen; 大写 amounts stay below 10^12 yuan (the
 * largest 亿 section); folding writes no more than it may, whatever the
 * buffer; text equals itself, folded or not.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "validate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tz_init();
	return 0;
}

static bool
real_date(int ymd)
{
	int y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;

	return y >= 1000 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	    d <= util_month_days(y, m);
}

static void
check_amount(const char *s, int64_t fen, const char *what)
{
	char buf[32];
	int64_t back;

	if (fen < 0) {
		fprintf(stderr, "%s(\"%s\") = %lld, negative\n", what, s,
		    (long long)fen);
		abort();
	}
	ocr_format_amount(fen, buf, sizeof(buf));
	if (ocr_parse_amount(buf, &back) != 0 || back != fen) {
		fprintf(stderr, "%s(\"%s\") = %lld, formatted \"%s\", which "
		    "does not parse back\n", what, s, (long long)fen, buf);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	char out[64];
	int ymd;
	int64_t fen;
	size_t n;

	if (ocr_parse_date(s, &ymd) == 0 && !real_date(ymd)) {
		fprintf(stderr, "ocr_parse_date(\"%s\") = %d, no such date\n",
		    s, ymd);
		abort();
	}
	if (ocr_parse_amount(s, &fen) == 0)
		check_amount(s, fen, "ocr_parse_amount");
	if (ocr_parse_amount_cn(s, &fen) == 0) {
		check_amount(s, fen, "ocr_parse_amount_cn");
		if (fen >= 100000000000000LL) {
			fprintf(stderr, "ocr_parse_amount_cn(\"%s\") = %lld fen, "
			    "beyond 9999亿9999万9999元9角9分\n", s,
			    (long long)fen);
			abort();
		}
	}
	/* a small buffer too, so the cut at the end is exercised */
	for (size_t cap = 1; cap <= sizeof(out); cap += 21) {
		n = ocr_fold_confusables(s, out, cap);
		if (n >= cap || strlen(out) != n) {
			fprintf(stderr, "ocr_fold_confusables wrote %zu bytes "
			    "into %zu\n", n, cap);
			abort();
		}
	}
	if (!ocr_text_equal(s, s, false, NULL) ||
	    !ocr_text_equal(s, s, true, NULL)) {
		fprintf(stderr, "\"%s\" does not equal itself\n", s);
		abort();
	}
	free(s);
	return 0;
}
