/*
 * ids.h - the identifiers printed on Chinese social-insurance documents:
 * the resident ID number (GB 11643), the unified social credit code
 * (GB 32100) and bank card numbers (Luhn).
 *
 * Shared by the OCR field validators and record matching, so that a check
 * character is computed in exactly one place.
 */
#ifndef CLERK_IDS_H
#define CLERK_IDS_H

#include <stdbool.h>
#include <stddef.h>

enum cnid_status {
	CNID_OK,
	CNID_LENGTH,       /* not 18 (or 15) characters */
	CNID_CHARS,        /* not digits, or X anywhere but last */
	CNID_REGION,       /* first two digits name no province */
	CNID_BIRTH,        /* no such date, before 1900 or in the future */
	CNID_CHECK,        /* the check character does not match */
};

struct cnid {
	char id[19];       /* 18 characters, upper-case X */
	int year, month, day;
	int sex;           /* 1 male, 2 female (17th digit odd/even) */
	int province;      /* 11..82 */
	char expected;     /* the check character the first 17 call for */
};

/* The GB 11643 check character of 17 digits, or 0 if they are not. */
char ids_cnid_check_char(const char *first17);

/*
 * Parses an 18-character ID (or a 15-digit one, converted to 18 with "19"
 * inserted and the check character computed). today is YYYYMMDD, or 0 for
 * the local date. out is filled as far as parsing got, even on error
 * (expected is set whenever the first 17 characters are digits).
 */
enum cnid_status ids_cnid_parse(const char *s, int today, struct cnid *out);
const char *ids_cnid_status_message(enum cnid_status st);

/* 15-digit ID to 18: 0, or -1 if s is not 15 digits. */
int ids_cnid_from15(const char *s, char out[19]);

bool ids_province_valid(int code);

enum uscc_status {
	USCC_OK,
	USCC_LENGTH,
	USCC_CHARS,        /* a character outside the GB 32100 alphabet */
	USCC_CHECK,
};

/* The GB 32100 check character of 17 characters, or 0 if invalid. */
char ids_uscc_check_char(const char *first17);
enum uscc_status ids_uscc_validate(const char *s, char *expected);
const char *ids_uscc_status_message(enum uscc_status st);

/* Luhn over the digits of s (spaces ignored); false if a non-digit. */
bool ids_luhn_valid(const char *s);

/*
 * Folds full-width ASCII (U+FF01..U+FF5E) and the ideographic space to
 * half-width, drops white space and upper-cases letters; writes at most
 * n - 1 bytes. Returns the length written. Other UTF-8 is copied as is.
 */
size_t ids_fold(const char *in, char *out, size_t n);

#endif
