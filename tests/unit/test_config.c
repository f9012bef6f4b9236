/*
 * test_config.c - clerkd's main configuration: defaults, path resolution
 * and file:line errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static char dir[] = "/tmp/clerk-test-config-XXXXXX";

static char *
write_conf(const char *text)
{
	char *path = xasprintf("%s/clerkd.conf", dir);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_defaults(void **state)
{
	struct config c;
	struct err e;
	char cwd[4096];

	assert_int_equal(config_load(&c, NULL, &e), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_null(c.file);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8470);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.log_level, LL_INFO);
	assert_string_equal(c.timezone, "Asia/Shanghai");
	assert_int_equal(c.lease_ms, 60000);
	assert_int_equal(c.drain_grace_ms, 30000);
	char *want = xasprintf("%s/clerk-state", cwd);
	assert_string_equal(c.state_dir, want);
	free(want);
	want = xasprintf("%s/clerk-state/clerk.db", cwd);
	assert_string_equal(c.database, want);
	free(want);
	assert_string_equal(c.work_dir, c.state_dir);
	want = xasprintf("%s/playbooks/calendars", cwd);
	assert_string_equal(c.calendar_dir, want);
	free(want);
	config_clear(&c);
}

static void
test_relative_to_file(void **state)
{
	char *path = write_conf("state_dir = \"st\";\nlisten = \"0.0.0.0:9000\";\n"
	    "workers = 8;\nlog_level = \"debug\";\nplaybook_dir = \"/etc/pb\";\n"
	    "lease = \"2m\";\ntimezone = \"UTC\";\n");
	struct config c;
	struct err e;
	char *want;

	assert_int_equal(config_load(&c, path, &e), 0);
	want = xasprintf("%s/st", dir);
	assert_string_equal(c.state_dir, want);
	free(want);
	want = xasprintf("%s/st/clerk.db", dir);
	assert_string_equal(c.database, want);
	free(want);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(c.listen_port, 9000);
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.log_level, LL_DEBUG);
	assert_string_equal(c.playbook_dir, "/etc/pb");
	assert_string_equal(c.calendar_dir, "/etc/pb/calendars");
	assert_int_equal(c.lease_ms, 120000);
	assert_string_equal(c.timezone, "UTC");
	char *tok = config_token_path(&c);
	want = xasprintf("%s/st/api.token", dir);
	assert_string_equal(tok, want);
	free(want);
	free(tok);
	config_clear(&c);
	free(path);
}

static void
expect_error(const char *text, const char *msg_part)
{
	char *path = write_conf(text);
	char *want = xasprintf("%s:", path);
	struct config c;
	struct err e;

	assert_int_equal(config_load(&c, path, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	if (strstr(e.msg, want) == NULL || strstr(e.msg, msg_part) == NULL)
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", e.msg, want,
		    msg_part);
	free(want);
	free(path);
}

static void
test_errors(void **state)
{
	expect_error("workers = ;\n", ":1: syntax error");
	expect_error("state_dir = \"a\";\nworekrs = 2;\n",
	    ":2: unknown setting \"worekrs\"");
	expect_error("\nlisten = \"localhost\";\n", ":2: listen must be HOST:PORT");
	expect_error("listen = \"127.0.0.1:99999\";\n", ":1: listen must be");
	expect_error("workers = 0;\n", ":1: workers must be a number from 1 to 256");
	expect_error("log_level = \"loud\";\n", ":1: log_level must be");
	expect_error("\n\nlease = \"5 minutes\";\n", ":3: bad duration");
	expect_error("drain_grace = \"0s\";\n", ":1: drain_grace must be longer than 0");
	expect_error("state_dir = 5;\n", ":1: \"state_dir\" must be a string");
	expect_error("\nstore = \"mysql://db/clerk\";\n",
	    ":2: store must be a PostgreSQL URL");
}

/* A store URL wins over database and is kept as written, not taken for a
 * path under state_dir. */
static void
test_store_url(void **state)
{
	char *path = write_conf("state_dir = \"st\";\ndatabase = \"x.db\";\n"
	    "store = \"postgresql://clerk@db1:5432/clerk\";\n");
	struct config c;
	struct err e;

	assert_int_equal(config_load(&c, path, &e), 0);
	assert_string_equal(c.database, "postgresql://clerk@db1:5432/clerk");
	config_clear(&c);
	free(path);
}

static void
test_missing_file(void **state)
{
	struct config c;
	struct err e;

	assert_int_equal(config_load(&c, "/nonexistent/clerkd.conf", &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/clerkd.conf: cannot read"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_relative_to_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_store_url),
		cmocka_unit_test(test_missing_file),
	};
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	char *cmd = xasprintf("rm -rf %s", dir);
	(void)!system(cmd);
	free(cmd);
	return rc;
}
