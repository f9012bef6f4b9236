/*
 * ids.c - check characters and validity of resident IDs, unified social
 * credit codes and bank card numbers.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "ids.h"

static const int cnid_weights[17] = {
	7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
static const char cnid_checks[] = "10X98765432";

char
ids_cnid_check_char(const char *first17)
{
	int sum = 0;

	for (int i = 0; i < 17; i++) {
		if (!isdigit((unsigned char)first17[i]))
			return 0;
		sum += (first17[i] - '0') * cnid_weights[i];
	}
	return cnid_checks[sum % 11];
}

bool
ids_province_valid(int code)
{
	/* GB/T 2260 provinces, plus 81-83 of the residence permits issued to
	 * people from Hong Kong, Macao and Taiwan. */
	static const int codes[] = {
		11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
		41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64,
		65, 71, 81, 82, 83 };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i] == code)
			return true;
	return false;
}

static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static bool
real_date(int y, int m, int d)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int max;

	if (m < 1 || m > 12 || d < 1)
		return false;
	max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

static int
today_ymd(void)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
	    tm.tm_mday;
}

int
ids_cnid_from15(const char *s, char out[19])
{
	char c;

	if (strlen(s) != 15)
		return -1;
	for (int i = 0; i < 15; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	/* 15-digit IDs were issued before 2000 with a two-digit year of the
	 * 1900s; the 18-digit form inserts "19" and appends a check. */
	memcpy(out, s, 6);
	out[6] = '1';
	out[7] = '9';
	memcpy(out + 8, s + 6, 9);
	c = ids_cnid_check_char(out);
	out[17] = c;
	out[18] = '\0';
	return 0;
}

enum cnid_status
ids_cnid_parse(const char *s, int today, struct cnid *out)
{
	size_t len = strlen(s);
	int ymd;

	memset(out, 0, sizeof(*out));
	if (len == 15) {
		if (ids_cnid_from15(s, out->id) != 0)
			return CNID_CHARS;
	} else if (len == 18) {
		memcpy(out->id, s, 18);
		if (out->id[17] == 'x')
			out->id[17] = 'X';
	} else {
		return CNID_LENGTH;
	}
	for (int i = 0; i < 17; i++)
		if (!isdigit((unsigned char)out->id[i]))
			return CNID_CHARS;
	if (!isdigit((unsigned char)out->id[17]) && out->id[17] != 'X')
		return CNID_CHARS;

	out->expected = ids_cnid_check_char(out->id);
	out->province = digits(out->id, 2);
	out->year = digits(out->id + 6, 4);
	out->month = digits(out->id + 10, 2);
	out->day = digits(out->id + 12, 2);
	out->sex = (out->id[16] - '0') % 2 == 1 ? 1 : 2;
	if (!ids_province_valid(out->province))
		return CNID_REGION;
	ymd = out->year * 10000 + out->month * 100 + out->day;
	if (today == 0)
		today = today_ymd();
	if (out->year < 1900 || !real_date(out->year, out->month, out->day) ||
	    ymd > today)
		return CNID_BIRTH;
	if (out->id[17] != out->expected)
		return CNID_CHECK;
	return CNID_OK;
}

const char *
ids_cnid_status_message(enum cnid_status st)
{
	switch (st) {
	case CNID_OK:
		return "valid";
	case CNID_LENGTH:
		return "a resident ID has 18 characters (or 15 digits)";
	case CNID_CHARS:
		return "a resident ID is 17 digits and a digit or X";
	case CNID_REGION:
		return "the first two digits name no province";
	case CNID_BIRTH:
		return "the birth date in the ID is impossible or in the future";
	case CNID_CHECK:
		return "the check character does not match (GB 11643)";
	}
	return "unknown";
}

static const char uscc_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int uscc_weights[17] = {
	1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28 };

static int
uscc_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(uscc_alphabet, toupper((unsigned char)c));
	return p != NULL ? (int)(p - uscc_alphabet) : -1;
}

char
ids_uscc_check_char(const char *first17)
{
	int sum = 0, v;

	for (int i = 0; i < 17; i++) {
		if ((v = uscc_value(first17[i])) < 0)
			return 0;
		sum += v * uscc_weights[i];
	}
	v = 31 - sum % 31;
	return uscc_alphabet[v == 31 ? 0 : v];
}

enum uscc_status
ids_uscc_validate(const char *s, char *expected)
{
	char c;

	if (expected != NULL)
		*expected = 0;
	if (strlen(s) != 18)
		return USCC_LENGTH;
	for (int i = 0; i < 18; i++)
		if (uscc_value(s[i]) < 0)
			return USCC_CHARS;
	c = ids_uscc_check_char(s);
	if (expected != NULL)
		*expected = c;
	return toupper((unsigned char)s[17]) == c ? USCC_OK : USCC_CHECK;
}

const char *
ids_uscc_status_message(enum uscc_status st)
{
	switch (st) {
	case USCC_OK:
		return "valid";
	case USCC_LENGTH:
		return "a unified social credit code has 18 characters";
	case USCC_CHARS:
		return "a character outside 0-9 and A-Y without I, O, S, V, Z";
	case USCC_CHECK:
		return "the check character does not match (GB 32100)";
	}
	return "unknown";
}

bool
ids_luhn_valid(const char *s)
{
	int sum = 0, n = 0;

	for (const char *p = s + strlen(s); p > s; ) {
		char c = *--p;

		if (c == ' ')
			continue;
		if (!isdigit((unsigned char)c))
			return false;
		int d = c - '0';
		if (n++ % 2 == 1 && (d *= 2) > 9)
			d -= 9;
		sum += d;
	}
	return n > 1 && sum % 10 == 0;
}

size_t
ids_fold(const char *in, char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t w = 0;

	if (n == 0)
		return 0;
	while (*p != '\0' && w + 1 < n) {
		unsigned c = 0;
		size_t len = 1;

		/* U+FF01..U+FF5E are EF BC 81..EF BD 9E; U+3000 is E3 80 80. */
		if (p[0] == 0xEF && (p[1] == 0xBC || p[1] == 0xBD) &&
		    p[2] >= 0x80 && p[2] <= 0xBF) {
			unsigned cp = ((p[0] & 0x0Fu) << 12) |
			    ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
			if (cp >= 0xFF01 && cp <= 0xFF5E) {
				c = cp - 0xFF01 + 0x21;
				len = 3;
			}
		} else if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) {
			c = ' ';
			len = 3;
		}
		if (len == 1)
			c = *p;
		p += len;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c < 0x80)
			c = (unsigned)toupper((int)c);
		out[w++] = (char)c;
	}
	out[w] = '\0';
	return w;
}
