/*
 * test_util.c - durations, hashing, files and paths from daemon/util.h.
 *
 * Expected values are written out by hand (the SHA-256 vectors are the
 * FIPS 180-2 examples), never computed with the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static char dir[] = "/tmp/clerk-test-util-XXXXXX";

static int64_t
dur(const char *s)
{
	struct err e;
	int64_t ms = -12345;

	err_clear(&e);
	if (util_parse_duration(s, &ms, &e) != 0)
		fail_msg("util_parse_duration(\"%s\") failed: %s", s, e.msg);
	return ms;
}

static void
test_parse_duration_units(void **state)
{
	assert_int_equal(dur("250ms"), 250);
	assert_int_equal(dur("10s"), 10000);
	assert_int_equal(dur("30m"), 1800000);
	assert_int_equal(dur("4h"), 14400000);
	assert_int_equal(dur("2d"), 172800000);
	assert_int_equal(dur("0s"), 0);
}

static void
test_parse_duration_combined(void **state)
{
	assert_int_equal(dur("1h30m"), 5400000);
	assert_int_equal(dur("1m30s"), 90000);
	assert_int_equal(dur("1d2h3m4s5ms"), 93784005);
	/* "m" followed by a digit is minutes, not the start of "ms" */
	assert_int_equal(dur("2m5s"), 125000);
	assert_int_equal(dur("1s500ms"), 1500);
}

static void
expect_bad_duration(const char *s)
{
	struct err e;
	int64_t ms = 777;

	err_clear(&e);
	if (util_parse_duration(s, &ms, &e) != -1)
		fail_msg("\"%s\" parsed as %lld ms; it must be refused", s,
		    (long long)ms);
	assert_int_equal(e.code, ERR_INVALID);
	assert_true(strlen(e.msg) > 0);
	/* a refused duration leaves the output alone */
	assert_int_equal(ms, 777);
}

static void
test_parse_duration_errors(void **state)
{
	struct err e;
	int64_t ms = 0;

	expect_bad_duration("");
	expect_bad_duration("10");
	expect_bad_duration("s");
	expect_bad_duration("10x");
	expect_bad_duration("-5s");
	expect_bad_duration("10 minutes");
	expect_bad_duration("1h30");
	expect_bad_duration(" 10s");

	/* the message names the input and tells how to write one */
	assert_int_equal(util_parse_duration("10x", &ms, &e), -1);
	assert_non_null(strstr(e.msg, "\"10x\""));
	assert_non_null(strstr(e.msg, "ms, s, m, h, d"));
	assert_int_equal(util_parse_duration("", &ms, &e), -1);
	assert_non_null(strstr(e.msg, "empty duration"));
	assert_int_equal(util_parse_duration(NULL, &ms, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
}

/*
 * A number is capped at 10^12 before its unit is applied, but 10^12 days
 * (8.64e19 ms) and sums of large parts do not fit in int64_t: they must be
 * refused, not wrapped into a negative or small duration.
 */
static void
test_parse_duration_overflow_is_refused(void **state)
{
	expect_bad_duration("999999999999d");
	expect_bad_duration("200000000000d");
	expect_bad_duration("999999999999h999999999999h999999999999h");
}

static void
fmt(int64_t ms, const char *want)
{
	char buf[64];
	int64_t back;

	memset(buf, 'X', sizeof(buf));
	util_format_duration(ms, buf, sizeof(buf));
	assert_string_equal(buf, want);
	if (ms > 0) {
		back = dur(buf);
		assert_int_equal(back, ms);
	}
}

static void
test_format_duration(void **state)
{
	fmt(250, "250ms");
	fmt(1000, "1s");
	fmt(90000, "1m30s");
	fmt(5400000, "1h30m");
	fmt(172800000, "2d");
	fmt(93784005, "1d2h3m4s5ms");
	fmt(86400001, "1d1ms");
	fmt(0, "0s");
	fmt(-5, "0s");
}

static void
test_format_duration_round_trip(void **state)
{
	static const char *inputs[] = { "250ms", "10s", "1h30m", "2d", "90s",
	    "61m", "25h", "1500ms", "3d23h59m59s999ms" };
	static const char *canon[] = { "250ms", "10s", "1h30m", "2d", "1m30s",
	    "1h1m", "1d1h", "1s500ms", "3d23h59m59s999ms" };
	char buf[64];

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		int64_t ms = dur(inputs[i]);

		util_format_duration(ms, buf, sizeof(buf));
		assert_string_equal(buf, canon[i]);
		assert_int_equal(dur(buf), ms);
	}
}

static void
test_format_duration_small_buffer(void **state)
{
	char buf[8];

	/* must stay NUL-terminated inside the buffer and not overrun it */
	memset(buf, 'X', sizeof(buf));
	util_format_duration(93784005, buf, 5);
	assert_true(memchr(buf, '\0', 5) != NULL);
	assert_int_equal(buf[5], 'X');
	assert_int_equal(strncmp(buf, "1d2h", 4), 0);
}

static void
test_sha256_hex(void **state)
{
	char out[65];
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	memset(out, 'X', sizeof(out));
	util_sha256_hex("abc", 3, out);
	assert_string_equal(out,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	util_sha256_hex("", 0, out);
	assert_string_equal(out,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	util_sha256_hex(two, strlen(two), out);
	assert_string_equal(out,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_sha256_file(void **state)
{
	char *path = xasprintf("%s/abc.txt", dir), out[65];
	struct err e;

	assert_int_equal(util_write_file_atomic(path, "abc", 3, 0644, &e), 0);
	assert_int_equal(util_sha256_file(path, out, &e), 0);
	assert_string_equal(out,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	free(path);

	path = xasprintf("%s/does-not-exist", dir);
	err_clear(&e);
	assert_int_equal(util_sha256_file(path, out, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, path));
	free(path);
}

static void
test_write_read_round_trip(void **state)
{
	char *path = xasprintf("%s/data.bin", dir);
	char data[10000];
	struct err e;
	struct stat st;
	size_t len = 0;
	char *back;

	/* binary with NULs, larger than read_file's first buffer */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 % 256);
	assert_int_equal(util_write_file_atomic(path, data, sizeof(data), 0600,
	    &e), 0);
	back = util_read_file(path, &len, &e);
	assert_non_null(back);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(back[len], '\0');
	free(back);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, (off_t)sizeof(data));

	/* replacing keeps the new mode and content, leaves no temp file */
	assert_int_equal(util_write_file_atomic(path, "hello\n", 6, 0640, &e), 0);
	back = util_read_file(path, &len, &e);
	assert_non_null(back);
	assert_int_equal(len, 6);
	assert_string_equal(back, "hello\n");
	free(back);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	{
		char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());

		assert_int_equal(access(tmp, F_OK), -1);
		free(tmp);
	}
	free(path);
}

static void
test_read_empty_and_missing(void **state)
{
	char *path = xasprintf("%s/empty", dir), *back;
	struct err e;
	size_t len = 99;

	assert_int_equal(util_write_file_atomic(path, "", 0, 0644, &e), 0);
	back = util_read_file(path, &len, &e);
	assert_non_null(back);
	assert_int_equal(len, 0);
	assert_string_equal(back, "");
	free(back);
	free(path);

	path = xasprintf("%s/missing", dir);
	err_clear(&e);
	assert_null(util_read_file(path, &len, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, path));
	free(path);
}

static void
test_write_atomic_into_missing_dir(void **state)
{
	char *path = xasprintf("%s/no/such/dir/file", dir);
	struct err e;

	err_clear(&e);
	assert_int_equal(util_write_file_atomic(path, "x", 1, 0644, &e), -1);
	assert_non_null(strstr(e.msg, "No such file or directory"));
	free(path);
}

static void
test_mkdir_p_nested(void **state)
{
	char *path = xasprintf("%s/a/b/c/d", dir);
	char *trail = xasprintf("%s/x/y/", dir);
	struct err e;
	struct stat st;

	assert_int_equal(util_mkdir_p(path, 0750, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0750);
	/* again: existing directories are fine */
	assert_int_equal(util_mkdir_p(path, 0750, &e), 0);
	assert_int_equal(util_mkdir_p(trail, 0755, &e), 0);
	assert_int_equal(stat(trail, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(path);
	free(trail);
}

/*
 * mkdir(2) answers EEXIST for any existing name, file or not. util_mkdir_p
 * must not report success for a path whose last (or middle) component is a
 * regular file: the caller then writes into a "directory" that is not one.
 */
static void
test_mkdir_p_over_a_file_fails(void **state)
{
	char file[256], under[256];
	struct err e;

	snprintf(file, sizeof(file), "%s/plain", dir);
	snprintf(under, sizeof(under), "%s/plain/sub", dir);
	assert_int_equal(util_write_file_atomic(file, "x", 1, 0644, &e), 0);
	err_clear(&e);
	assert_int_equal(util_mkdir_p(under, 0755, &e), -1);
	assert_true(strlen(e.msg) > 0);
	err_clear(&e);
	/* the last component exists, but as a regular file */
	assert_int_equal(util_mkdir_p(file, 0755, &e), -1);
	assert_true(strlen(e.msg) > 0);
}

static void
test_path_join(void **state)
{
	char *p;

	p = util_path_join("/srv/clerk", "inbox/a.pdf");
	assert_string_equal(p, "/srv/clerk/inbox/a.pdf");
	free(p);
	p = util_path_join("/srv/clerk", "/etc/clerk/x");
	assert_string_equal(p, "/etc/clerk/x");
	free(p);
	p = util_path_join(NULL, "rel/x");
	assert_string_equal(p, "rel/x");
	free(p);
	p = util_path_join("", "rel/x");
	assert_string_equal(p, "rel/x");
	free(p);
	p = util_path_join("state", "clerk.db");
	assert_string_equal(p, "state/clerk.db");
	free(p);
}

static void
test_err_values(void **state)
{
	struct err e;

	err_setc(&e, ERR_CONFLICT, "item %d is %s", 7, "running");
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_string_equal(e.msg, "item 7 is running");
	err_set(&e, "plain");
	assert_int_equal(e.code, ERR_FAIL);
	assert_string_equal(e.msg, "plain");
	err_clear(&e);
	assert_int_equal(e.code, ERR_FAIL);
	assert_string_equal(e.msg, "");
	err_set(NULL, "ignored");   /* must not crash */
}

static void
test_format_time_shanghai(void **state)
{
	char buf[64];

	/* 2026-11-23T00:30:00.123Z is 08:30 in Asia/Shanghai */
	util_format_time(1795393800123LL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T08:30:00.123+08:00");
}

static int
setup(void **state)
{
	/* modes below are checked exactly */
	umask(022);
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);

	free(cmd);
	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration_units),
		cmocka_unit_test(test_parse_duration_combined),
		cmocka_unit_test(test_parse_duration_errors),
		cmocka_unit_test(test_parse_duration_overflow_is_refused),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_format_duration_round_trip),
		cmocka_unit_test(test_format_duration_small_buffer),
		cmocka_unit_test(test_sha256_hex),
		cmocka_unit_test(test_sha256_file),
		cmocka_unit_test(test_write_read_round_trip),
		cmocka_unit_test(test_read_empty_and_missing),
		cmocka_unit_test(test_write_atomic_into_missing_dir),
		cmocka_unit_test(test_mkdir_p_nested),
		cmocka_unit_test(test_mkdir_p_over_a_file_fails),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_err_values),
		cmocka_unit_test(test_format_time_shanghai),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
