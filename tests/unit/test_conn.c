/*
 * test_conn.c - connectors/conn.h without a network: probes (re, XPath on
 * HTML and XML, JSON paths, Location), masking of ID numbers and page
 * tokens, connector and request definitions with their errors, and the
 * validators of the "validate" step.
 *
 * The ID numbers and USCCs below were checked by hand against GB 11643 and
 * GB 32100 (weights and check tables written out in the comments).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"
#include "playbook.h"

static struct conn_resp
resp(const char *ctype, const char *body)
{
	struct conn_resp r = { 0 };

	r.status = 200;
	r.ctype = ctype ? strdup(ctype) : NULL;
	r.body = strdup(body);
	r.len = strlen(body);
	return r;
}

static char *
eval(const char *spec, struct conn_resp *r, int *rc)
{
	struct conn_probe p;
	struct err e;
	char *v = NULL;

	if (conn_probe_parse(&p, spec, &e) != 0)
		fail_msg("%s: %s", spec, e.msg);
	*rc = conn_probe_eval(&p, r, &v);
	conn_probe_clear(&p);
	return v;
}

static void
test_probe_html(void **state)
{
	struct conn_resp r = resp("text/html;charset=UTF-8",
	    "<html><body><table id=\"result\"><tr><td id=\"cert_no\">"
	    "JZ202611230001</td></tr><tr><td id=\"status\">已登记</td></tr>"
	    "</table><div class=\"biz-error\" data-code=\"E1002\">参保人已在"
	    "转入地存在未完结转移业务</div>");
	int rc;
	char *v;

	v = eval("xpath://td[@id='cert_no']", &r, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(v, "JZ202611230001");
	free(v);
	v = eval("xpath://td[@id='status']", &r, &rc);
	assert_string_equal(v, "已登记");
	free(v);
	v = eval("xpath://td[@id='missing']", &r, &rc);
	assert_int_equal(rc, 0);
	assert_null(v);
	v = eval("re:data-code=\"([^\"]+)\"", &r, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(v, "E1002");
	free(v);
	v = eval("re:未完结", &r, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(v, "未完结");
	free(v);
	conn_resp_clear(&r);
}

static void
test_probe_json(void **state)
{
	struct conn_resp r = resp("application/json",
	    "{\"found\":true,\"cases\":[{\"id\":\"IN1\"},{\"id\":\"IN2\"}],"
	    "\"n\":3,\"no\":false}");
	int rc;
	char *v;

	v = eval("json:cases.1.id", &r, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(v, "IN2");
	free(v);
	v = eval("json:n", &r, &rc);
	assert_string_equal(v, "3");
	free(v);
	v = eval("json:no", &r, &rc);
	assert_int_equal(rc, 0);
	v = eval("json:cases.7.id", &r, &rc);
	assert_int_equal(rc, 0);
	conn_resp_clear(&r);

	/* A truncated body is garbage, not "not found". */
	r = resp("application/json", "{\"found\":tr");
	v = eval("json:found", &r, &rc);
	assert_int_equal(rc, -1);
	assert_null(v);
	conn_resp_clear(&r);
}

static void
test_probe_soap(void **state)
{
	struct conn_resp r = resp("text/xml;charset=UTF-8",
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap="
	    "\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
	    "<QueryCaseResponse><Status>已接收</Status></QueryCaseResponse>"
	    "</soap:Body></soap:Envelope>");
	int rc;
	char *v;

	v = eval("xpath://*[local-name()='Status']", &r, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(v, "已接收");
	free(v);
	v = eval("xpath://*[local-name()='Fault']", &r, &rc);
	assert_int_equal(rc, 0);
	conn_resp_clear(&r);

	r = resp("text/xml", "<soap:Envelope><soap:Bo");
	v = eval("xpath://*[local-name()='Status']", &r, &rc);
	assert_int_equal(rc, -1);
	conn_resp_clear(&r);
}

static void
test_probe_location(void **state)
{
	struct conn_resp r = resp(NULL, "");
	int rc;

	r.status = 302;
	r.location = strdup("/out/login?expired=1");
	free(eval("location:/login\\?expired", &r, &rc));
	assert_int_equal(rc, 1);
	conn_resp_clear(&r);
}

static void
test_probe_errors(void **state)
{
	struct conn_probe p;
	struct err e;

	assert_int_equal(conn_probe_parse(&p, "cert_no", &e), -1);
	assert_non_null(strstr(e.msg, "re:, xpath:, json:"));
	assert_int_equal(conn_probe_parse(&p, "re:([a-", &e), -1);
	assert_non_null(strstr(e.msg, "offset"));
	assert_int_equal(conn_probe_parse(&p, "xpath://td[", &e), -1);
	assert_int_equal(conn_probe_parse(&p, "json:", &e), -1);
}

static void
test_mask_ids(void **state)
{
	char *s = conn_mask_ids("id_no=11010519491231002X&x=1; "
	    "phone 13800138000; ref 1234567890123456789012");

	assert_string_equal(s, "id_no=110105**********2X&x=1; "
	    "phone 13800138000; ref 1234567890123456789012");
	free(s);
}

static config_t cfg;

static const config_setting_t *
load(const char *text)
{
	config_init(&cfg);
	if (!config_read_string(&cfg, text))
		fail_msg("%d: %s", config_error_line(&cfg), config_error_text(&cfg));
	return config_lookup(&cfg, "step");
}

static void
test_def_and_request(void **state)
{
	const config_setting_t *s = load(
	    "connectors = { sys = { base_url = \"http://127.0.0.1:1/x\";"
	    "  timeout = \"2s\"; breaker = { failures = 3; open = \"1s\"; };"
	    "  login = { path = \"/login\"; failure = \"re:错误\"; }; }; };\n"
	    "step = { connector = \"sys\"; request = { path = \"/a/${id}\";"
	    "  form = { a = \"${x}\"; }; extract = { c = \"json:c\"; };"
	    "  status = [200, 201]; }; };");
	struct conn_def *d;
	struct conn_req r;
	struct err e;

	d = conn_def_load(s, "sys", &e);
	assert_non_null(d);
	assert_string_equal(conn_def_name(d), "sys");
	conn_def_free(d);
	assert_int_equal(conn_req_parse(&r, config_setting_get_member(s,
	    "request"), &e), 0);
	assert_string_equal(r.method, "POST");
	assert_int_equal(r.body, CONN_BODY_FORM);
	assert_true(r.csrf);
	assert_int_equal(r.nstatus, 2);
	assert_int_equal(r.nextract, 1);
	conn_req_clear(&r);

	assert_null(conn_def_load(s, "other", &e));
	assert_non_null(strstr(e.msg, "no connector \"other\""));
	config_destroy(&cfg);

	s = load("connectors = { sys = { base_url = \"x\"; timout = \"2s\"; };"
	    " };\nstep = { };");
	assert_null(conn_def_load(s, "sys", &e));
	assert_non_null(strstr(e.msg, ":1: unknown setting \"timout\""));
	config_destroy(&cfg);

	/* Bounds on waits: durations, never below one wait. */
	s = load("connectors = { sys = { base_url = \"x\";\n"
	    " unavailable_wait = \"1m\"; unavailable_max = \"30s\"; }; };\n"
	    "step = { };");
	assert_null(conn_def_load(s, "sys", &e));
	assert_non_null(strstr(e.msg, ":2: unavailable_max = \"30s\" is"
	    " shorter than unavailable_wait (1m)"));
	config_destroy(&cfg);
	s = load("connectors = { sys = { base_url = \"x\";\n\n"
	    " auth_max = 24; }; };\nstep = { };");
	assert_null(conn_def_load(s, "sys", &e));
	assert_non_null(strstr(e.msg, ":3: auth_max must be a duration"));
	config_destroy(&cfg);
	s = load("connectors = { sys = { base_url = \"x\"; auth_wait = \"2d\";"
	    " unavailable_max = \"1h\"; auth_max = \"3d\"; }; };\n"
	    "step = { };");
	d = conn_def_load(s, "sys", &e);
	assert_non_null(d);
	conn_def_free(d);
	config_destroy(&cfg);

	s = load("step = { request = { path = \"/a\"; ok = \"title\"; }; };");
	assert_int_equal(conn_req_parse(&r, config_setting_get_member(s,
	    "request"), &e), -1);
	assert_non_null(strstr(e.msg, "ok:"));
	conn_req_clear(&r);
	config_destroy(&cfg);
}

/* Server paths as quote commands need them (conn_file.c). */
static void
test_file_paths(void **state)
{
	struct { const char *url, *path; } cases[] = {
		{ "sftp://h:22/srv/ex/out/", "/srv/ex/out/" },
		{ "sftp://h/~/out/", "out/" },
		{ "sftp://h/%E6%96%87%20x/", "/\xe6\x96\x87 x/" },
		{ "ftp://h:21/out/", "out/" },
		{ "ftp://h//srv/out/", "/srv/out/" },
		{ "ftp://h/", "" },
	};
	char *cmds[3], *p;

	(void)state;
	assert_int_equal(conn_file_proto("sftp://h/"), CONN_FILE_SFTP);
	assert_int_equal(conn_file_proto("ftp://h/"), CONN_FILE_FTP);
	assert_int_equal(conn_file_proto("ftps://h/"), CONN_FILE_LOCAL);
	assert_int_equal(conn_file_proto("outbox/sftp://"), CONN_FILE_LOCAL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = conn_file_path(cases[i].url);
		assert_non_null(p);
		assert_string_equal(p, cases[i].path);
		free(p);
	}
	conn_file_rename_cmds(CONN_FILE_SFTP, "/a/.t.part", "/a/t", cmds);
	assert_string_equal(cmds[0], "rename \"/a/.t.part\" \"/a/t\"");
	assert_null(cmds[1]);
	free(cmds[0]);
	conn_file_rename_cmds(CONN_FILE_FTP, "a/x", "a/.clerk-taken/1-get-x",
	    cmds);
	assert_string_equal(cmds[0], "RNFR a/x");
	assert_string_equal(cmds[1], "RNTO a/.clerk-taken/1-get-x");
	assert_null(cmds[2]);
	free(cmds[0]);
	free(cmds[1]);
	p = conn_file_mkdir_cmd(CONN_FILE_SFTP, "/a/.clerk-taken");
	assert_string_equal(p, "*mkdir \"/a/.clerk-taken\"");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_html),
		cmocka_unit_test(test_probe_json),
		cmocka_unit_test(test_probe_soap),
		cmocka_unit_test(test_probe_location),
		cmocka_unit_test(test_probe_errors),
		cmocka_unit_test(test_mask_ids),
		cmocka_unit_test(test_def_and_request),
		cmocka_unit_test(test_file_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
