/*
 * test_auth.c - users and roles: scrypt hashes, the users file and its
 * errors, API tokens, sessions and their expiry, CSRF tokens, the login
 * rate limit, the permission table and the masking of personal data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"

#define ADMIN_TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[] = "/tmp/clerk-test-auth-XXXXXX";
static char alice_hash[AUTH_HASH_MAX];   /* password "wonderland" */
static char bob_hash[AUTH_HASH_MAX];     /* password "builder" */
static char carol_token[65], carol_stored[72];

static char *
write_users(const char *name, const char *text, mode_t mode)
{
	char *path;
	FILE *f;

	assert_non_null(path = xasprintf("%s/%s", dir, name));
	unlink(path);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* A users file with alice (reviewer), bob (auditor), carol (supervisor,
 * token only). */
static char *
good_users(void)
{
	char *text = xasprintf("users = (\n"
	    "  { name = \"alice\"; role = \"reviewer\"; password = \"%s\"; },\n"
	    "  { name = \"bob\"; role = \"auditor\"; password = \"%s\"; },\n"
	    "  { name = \"carol\"; role = \"supervisor\"; tokens = [\"%s\"]; }\n"
	    ");\n", alice_hash, bob_hash, carol_stored);
	char *path = write_users("users.cfg", text, 0600);

	free(text);
	return path;
}

static int
setup(void **state)
{
	struct err e;

	if (mkdtemp(dir) == NULL)
		return -1;
	if (auth_hash_password("wonderland", alice_hash, &e) < 0 ||
	    auth_hash_password("builder", bob_hash, &e) < 0 ||
	    auth_token_new(carol_token, carol_stored, &e) < 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);

	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void
test_hash_round_trip(void **state)
{
	char again[AUTH_HASH_MAX];
	struct err e;

	assert_int_equal(strncmp(alice_hash, "scrypt$32768$8$1$", 17), 0);
	assert_int_equal(auth_verify_password(alice_hash, "wonderland"), 1);
	assert_int_equal(auth_verify_password(alice_hash, "Wonderland"), 0);
	assert_int_equal(auth_verify_password(alice_hash, ""), 0);
	/* A fresh salt every time: the same password, another string. */
	assert_int_equal(auth_hash_password("wonderland", again, &e), 0);
	assert_string_not_equal(again, alice_hash);
	assert_int_equal(auth_verify_password(again, "wonderland"), 1);
	/* Non-ASCII passwords are bytes like any other. */
	assert_int_equal(auth_hash_password("密码 Ünïcode", again, &e), 0);
	assert_int_equal(auth_verify_password(again, "密码 Ünïcode"), 1);
	assert_int_equal(auth_verify_password(again, "密码 Unicode"), 0);
}

static void
test_hash_corrupted(void **state)
{
	char buf[AUTH_HASH_MAX + 8], *last;
	const char *bad[] = {
		"",
		"wonderland",
		"pbkdf2$1000$aa$bb",
		"scrypt$32768$8$1$",
		"scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==",
		"scrypt$30000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"scrypt$32768$0$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"scrypt$32768$8$1$AAAA!AAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
		"scrypt$-1$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};
	struct err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (auth_verify_password(bad[i], "wonderland") != -1)
			fail_msg("accepted corrupted hash \"%s\"", bad[i]);
		assert_int_equal(auth_hash_check(bad[i], &e), -1);
		assert_true(e.msg[0] != '\0');
	}
	/* One character of the good hash cut off or changed. */
	snprintf(buf, sizeof(buf), "%s", alice_hash);
	buf[strlen(buf) - 2] = '\0';
	assert_int_equal(auth_verify_password(buf, "wonderland"), -1);
	snprintf(buf, sizeof(buf), "%s", alice_hash);
	last = strrchr(buf, '$') + 1;
	last[0] = last[0] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_verify_password(buf, "wonderland"), 0);
	assert_int_equal(auth_hash_check(alice_hash, &e), 0);
}

static struct auth_users *
load(const char *text, mode_t mode, struct err *e)
{
	char *path = write_users("u.cfg", text, mode);
	struct auth_users *u = auth_users_load(path, e);

	free(path);
	return u;
}

/* The users file's errors name the file and the line. */
static void
test_users_file_errors(void **state)
{
	char *tail, *text;
	struct {
		const char *text, *want;
	} cases[] = {
		{ "users = (\n  { name = \"a\"; role = \"reviewer\"\n", ":3: syntax error" },
		{ "users = (\n  { name = \"a\";\n    role = \"boss\"; tokens = [\"%s\"]; }\n);\n",
		  ":3: user \"a\": unknown role \"boss\"" },
		{ "users = (\n  { name = \"a\"; role = \"auditor\"; tokens = [\"%s\"]; },\n"
		  "  { name = \"a\"; role = \"auditor\"; tokens = [\"sha256:"
		  "00000000000000000000000000000000000000000000000000000000000000ff\"]; }\n);\n",
		  ":3: user \"a\" is defined twice" },
		{ "users = (\n  { name = \"a\"; role = \"auditor\";\n    password = \"secret\"; }\n);\n",
		  ":3: user \"a\": a password hash must start with" },
		{ "users = (\n  { name = \"a\"; role = \"auditor\";\n    tokens = [\"plain-token\"]; }\n);\n",
		  ":3: user \"a\": a token is stored as" },
		{ "users = (\n  { name = \"a\"; role = \"auditor\"; tokens = [\"%s\"];\n"
		  "    email = \"a@example.com\"; }\n);\n",
		  ":3: unknown user setting \"email\"" },
		{ "users = (\n  { name = \"a\"; role = \"auditor\"; }\n);\n",
		  ":2: user \"a\" has neither a password nor a token" },
		{ "users = (\n  { name = \"admin\"; role = \"admin\"; tokens = [\"%s\"]; }\n);\n",
		  ":2: the name \"admin\" belongs to STATE_DIR/api.token" },
		{ "users = (\n  { name = \"a b\"; role = \"admin\"; tokens = [\"%s\"]; }\n);\n",
		  ":2: user name \"a b\"" },
		{ "user = ();\n", ":1: unknown setting \"user\"" },
		{ "\n", ": no users = (" },
		{ "users = (\n  { name = \"a\"; role = \"auditor\"; tokens = [\"%s\"]; },\n"
		  "  { name = \"b\"; role = \"auditor\"; tokens = [\"%s\"]; }\n);\n",
		  ":3: user \"b\": this token is also user \"a\"'s" },
	};
	struct auth_users *u;
	struct err e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = xasprintf(cases[i].text, carol_stored, carol_stored);
		u = load(text, 0600, &e);
		free(text);
		if (u != NULL)
			fail_msg("case %zu loaded", i);
		tail = strstr(e.msg, "/u.cfg:");
		if (tail == NULL || strstr(tail + 6, cases[i].want) != tail + 6)
			fail_msg("case %zu: got \"%s\", want \"...u.cfg%s\"", i,
			    e.msg, cases[i].want);
	}
}

static void
test_users_file_mode(void **state)
{
	char *text = xasprintf("users = ( { name = \"a\"; role = \"auditor\";"
	    " tokens = [\"%s\"]; } );\n", carol_stored);
	struct auth_users *u;
	struct err e;

	u = load(text, 0644, &e);
	assert_null(u);
	assert_non_null(strstr(e.msg, "readable by group or others (mode 0644)"));
	assert_non_null(strstr(e.msg, "chmod 600"));
	assert_null(load(text, 0640, &e));
	assert_null(load(text, 0602, &e));
	u = load(text, 0400, &e);
	assert_non_null(u);
	assert_int_equal(u->n, 1);
	assert_string_equal(u->v[0].name, "a");
	assert_int_equal(u->v[0].role, AUTH_AUDITOR);
	auth_users_free(u);
	free(text);
}

static void
test_users_reload_keeps_old(void **state)
{
	char *path = good_users(), *bad;
	struct auth *a = auth_new(ADMIN_TOKEN);
	struct err e;

	assert_int_equal(auth_load(a, path, &e), 0);
	assert_int_equal(auth_user_count(a), 3);
	bad = write_users("bad.cfg", "users = ( { name = \"x\" } );\n", 0600);
	assert_int_equal(auth_load(a, bad, &e), -1);
	assert_int_equal(auth_user_count(a), 3);
	assert_int_equal(auth_load(a, NULL, &e), 0);
	assert_int_equal(auth_user_count(a), 0);
	auth_free(a);
	free(path);
	free(bad);
}

static void
test_tokens(void **state)
{
	char *path = good_users(), forged[65];
	struct auth *a = auth_new(ADMIN_TOKEN);
	struct auth_who who;
	struct err e;

	assert_int_equal(auth_load(a, path, &e), 0);
	assert_int_equal(auth_check_token(a, ADMIN_TOKEN, &who), 0);
	assert_string_equal(who.name, "admin");
	assert_int_equal(who.role, AUTH_ADMIN);
	assert_true(who.api_token);
	assert_false(who.session);

	assert_int_equal(auth_check_token(a, carol_token, &who), 0);
	assert_string_equal(who.name, "carol");
	assert_int_equal(who.role, AUTH_SUPERVISOR);
	assert_false(who.api_token);

	/* The stored form is not a token, nor is a near miss. */
	assert_int_equal(auth_check_token(a, carol_stored, &who), -1);
	assert_int_equal(auth_check_token(a, carol_stored + 7, &who), -1);
	snprintf(forged, sizeof(forged), "%s", carol_token);
	forged[0] = forged[0] == 'a' ? 'b' : 'a';
	assert_int_equal(auth_check_token(a, forged, &who), -1);
	snprintf(forged, sizeof(forged), "%s", ADMIN_TOKEN);
	forged[63] = 'e';
	assert_int_equal(auth_check_token(a, forged, &who), -1);
	assert_int_equal(auth_check_token(a, "", &who), -1);
	assert_int_equal(auth_check_token(a, "0123456789abcdef", &who), -1);
	auth_free(a);
	free(path);
}

static void
test_sessions(void **state)
{
	char *path = good_users(), *one, sid[65], *text;
	struct auth *a = auth_new(ADMIN_TOKEN);
	struct auth_who who, w2;
	int64_t now = 1000000, retry;
	int status;
	struct err e;

	assert_int_equal(auth_load(a, path, &e), 0);
	assert_int_equal(auth_login(a, "alice", "wonderland", "10.0.0.1", now,
	    &who, &status, &retry), 0);
	assert_string_equal(who.name, "alice");
	assert_int_equal(who.role, AUTH_REVIEWER);
	assert_true(who.session);
	assert_int_equal(strlen(who.session_id), 64);
	assert_int_equal(strlen(who.csrf), 64);
	assert_string_not_equal(who.session_id, who.csrf);
	memcpy(sid, who.session_id, sizeof(sid));

	/* Used within 8 h, it lives on: the idle clock restarts. */
	now += AUTH_SESSION_IDLE_MS - 1;
	assert_int_equal(auth_session_check(a, sid, now, &w2), 0);
	assert_string_equal(w2.name, "alice");
	assert_string_equal(w2.csrf, who.csrf);
	now += AUTH_SESSION_IDLE_MS - 1;
	assert_int_equal(auth_session_check(a, sid, now, &w2), 0);
	/* 8 h idle: gone, and gone for good. */
	now += AUTH_SESSION_IDLE_MS;
	assert_int_equal(auth_session_check(a, sid, now, &w2), -1);
	assert_int_equal(auth_session_check(a, sid, now - 1, &w2), -1);
	assert_int_equal(auth_session_count(a), 0);

	/* Logout ends it. */
	assert_int_equal(auth_login(a, "alice", "wonderland", "10.0.0.1", now,
	    &who, &status, &retry), 0);
	assert_int_equal(auth_session_check(a, who.session_id, now, &w2), 0);
	assert_true(auth_logout(a, who.session_id));
	assert_false(auth_logout(a, who.session_id));
	assert_int_equal(auth_session_check(a, who.session_id, now, &w2), -1);

	/* Unknown or malformed ids. */
	assert_int_equal(auth_session_check(a, "", now, &w2), -1);
	assert_int_equal(auth_session_check(a, "abc", now, &w2), -1);
	assert_int_equal(auth_session_check(a, who.csrf, now, &w2), -1);

	/* A reload that demotes alice demotes her session; one that
	 * removes her ends it. */
	assert_int_equal(auth_login(a, "alice", "wonderland", "10.0.0.1", now,
	    &who, &status, &retry), 0);
	text = xasprintf("users = ( { name = \"alice\"; role = \"auditor\";"
	    " password = \"%s\"; } );\n", alice_hash);
	one = write_users("one.cfg", text, 0600);
	free(text);
	assert_int_equal(auth_load(a, one, &e), 0);
	assert_int_equal(auth_session_check(a, who.session_id, now, &w2), 0);
	assert_int_equal(w2.role, AUTH_AUDITOR);
	assert_int_equal(auth_load(a, NULL, &e), 0);
	assert_int_equal(auth_session_check(a, who.session_id, now, &w2), -1);

	/* A token-only user cannot log in with any password. */
	assert_int_equal(auth_load(a, path, &e), 0);
	assert_int_equal(auth_login(a, "carol", "", "10.0.0.2", now, &who,
	    &status, &retry), -1);
	assert_int_equal(status, 401);
	auth_free(a);
	free(path);
	free(one);
}

static void
test_csrf(void **state)
{
	char *path = good_users(), wrong[65];
	struct auth *a = auth_new(ADMIN_TOKEN);
	struct auth_who who, tok;
	int64_t retry;
	int status;
	struct err e;

	assert_int_equal(auth_load(a, path, &e), 0);
	assert_int_equal(auth_login(a, "alice", "wonderland", "10.0.0.1", 5,
	    &who, &status, &retry), 0);
	assert_true(auth_csrf_ok(&who, who.csrf));
	assert_false(auth_csrf_ok(&who, NULL));
	assert_false(auth_csrf_ok(&who, ""));
	assert_false(auth_csrf_ok(&who, who.session_id));
	memcpy(wrong, who.csrf, sizeof(wrong));
	wrong[10] = wrong[10] == '0' ? '1' : '0';
	assert_false(auth_csrf_ok(&who, wrong));
	/* A bearer token has no session, so no CSRF token to match. */
	assert_int_equal(auth_check_token(a, ADMIN_TOKEN, &tok), 0);
	assert_false(auth_csrf_ok(&tok, ""));
	auth_free(a);
	free(path);
}

static void
test_rate_limit(void **state)
{
	char *path = good_users();
	struct auth *a = auth_new(ADMIN_TOKEN);
	struct auth_who who;
	int64_t now = 50000000, retry;
	int status;
	struct err e;

	assert_int_equal(auth_load(a, path, &e), 0);
	/* Five failures for alice, from five addresses. */
	for (int i = 0; i < AUTH_FAIL_MAX; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.0.1.%d", i);
		assert_int_equal(auth_login(a, "alice", "guess", ip, now + i,
		    &who, &status, &retry), -1);
		assert_int_equal(status, 401);
	}
	/* Now even the right password is refused, from anywhere. */
	assert_int_equal(auth_login(a, "alice", "wonderland", "10.9.9.9",
	    now + 10, &who, &status, &retry), -1);
	assert_int_equal(status, 429);
	assert_true(retry > 800 && retry <= 900);
	/* bob is not affected. */
	assert_int_equal(auth_login(a, "bob", "builder", "10.9.9.9", now + 11,
	    &who, &status, &retry), 0);
	/* After 15 minutes alice may try again. */
	now += AUTH_BLOCK_MS + 10;
	assert_int_equal(auth_login(a, "alice", "wonderland", "10.9.9.9", now,
	    &who, &status, &retry), 0);

	/* Five failures from one address, each for another name: the
	 * address is blocked, for every name; other addresses are not. */
	for (int i = 0; i < AUTH_FAIL_MAX; i++) {
		char name[32];

		snprintf(name, sizeof(name), "nobody%d", i);
		assert_int_equal(auth_login(a, name, "x", "192.0.2.7", now + i,
		    &who, &status, &retry), -1);
		assert_int_equal(status, 401);
	}
	assert_int_equal(auth_login(a, "bob", "builder", "192.0.2.7", now + 10,
	    &who, &status, &retry), -1);
	assert_int_equal(status, 429);
	assert_int_equal(auth_login(a, "bob", "builder", "192.0.2.8", now + 10,
	    &who, &status, &retry), 0);

	/* Failures spread wider than the window do not add up. */
	now += AUTH_BLOCK_MS + 10;
	for (int i = 0; i < 2 * AUTH_FAIL_MAX; i++) {
		assert_int_equal(auth_login(a, "bob", "nope", "198.51.100.1",
		    now, &who, &status, &retry), -1);
		assert_int_equal(status, 401);
		now += AUTH_FAIL_WINDOW_MS / (AUTH_FAIL_MAX - 1) + 1;
	}
	auth_free(a);
	free(path);
}

/* The KDF runs between start and finish, off the loop: a reload in
 * between that changes the password makes the old one count for nothing. */
static void
test_login_split(void **state)
{
	char *path = good_users(), *hash, *text, *one, other[AUTH_HASH_MAX];
	struct auth *a = auth_new(ADMIN_TOKEN);
	struct auth_who who;
	int64_t now = 1000000, retry;
	int status;
	struct err e;

	assert_int_equal(auth_load(a, path, &e), 0);
	assert_true(auth_can_review(a, "alice"));
	assert_true(auth_can_review(a, AUTH_TOKEN_USER));
	assert_false(auth_can_review(a, "nobody"));
	assert_int_equal(auth_login_start(a, "alice", "10.0.0.1", now, &hash,
	    &status, &retry), 0);
	assert_int_equal(auth_login_finish(a, "alice", "10.0.0.1", hash,
	    auth_verify_password(hash, "wonderland"), now, &who, &status), 0);
	assert_string_equal(who.name, "alice");
	free(hash);

	assert_int_equal(auth_login_start(a, "alice", "10.0.0.1", now, &hash,
	    &status, &retry), 0);
	assert_int_equal(auth_hash_password("changed", other, &e), 0);
	text = xasprintf("users = ( { name = \"alice\"; role = \"auditor\";"
	    " password = \"%s\"; } );\n", other);
	one = write_users("split.cfg", text, 0600);
	free(text);
	assert_int_equal(auth_load(a, one, &e), 0);
	assert_int_equal(auth_login_finish(a, "alice", "10.0.0.1", hash,
	    auth_verify_password(hash, "wonderland"), now, &who, &status), -1);
	assert_int_equal(status, 401);
	assert_false(auth_can_review(a, "alice"));
	free(hash);
	/* An unknown user is checked against a dummy hash, as slowly. */
	assert_int_equal(auth_login_start(a, "nobody", "10.0.0.1", now, &hash,
	    &status, &retry), 0);
	assert_int_equal(strncmp(hash, "scrypt$", 7), 0);
	assert_int_equal(auth_login_finish(a, "nobody", "10.0.0.1", hash,
	    auth_verify_password(hash, "x"), now, &who, &status), -1);
	free(hash);
	unlink(one);
	free(one);
	auth_free(a);
	free(path);
}

static void
test_permissions(void **state)
{
	/* READ AUDIT DECIDE CLAIM RUN RELOAD ITEM_OP ASSIGN ASSIGN_ANY
	 * COMMENT HISTORY PAUSE DRYRUN */
	static const bool want[AUTH_NROLES][AUTH_NACTIONS] = {
		[AUTH_ADMIN] =      { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
		[AUTH_SUPERVISOR] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
		[AUTH_REVIEWER] =   { 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0 },
		[AUTH_AUDITOR] =    { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	};

	for (int r = 0; r < AUTH_NROLES; r++)
		for (int x = 0; x < AUTH_NACTIONS; x++)
			if (auth_allowed(r, x) != want[r][x])
				fail_msg("role %s, action %s: got %d",
				    auth_role_name(r), auth_action_desc(x),
				    auth_allowed(r, x));
	assert_false(auth_allowed(AUTH_NROLES, AUTH_READ));
	assert_false(auth_allowed(AUTH_ADMIN, AUTH_NACTIONS));
	assert_int_equal(auth_role_parse("reviewer"), AUTH_REVIEWER);
	assert_int_equal(auth_role_parse("Reviewer"), -1);
	assert_true(auth_sees_personal(AUTH_REVIEWER));
	assert_false(auth_sees_personal(AUTH_AUDITOR));
}

static void
test_mask_text(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "110101199003071234", "110101********1234" },
		{ "身份证 11010119900307123X 已核验", "身份证 110101********123X 已核验" },
		{ "id:44030419851231002x.", "id:440304********002x." },
		{ "6222021234567890123", "***************0123" },
		{ "acct 622202123456, ok", "acct ********3456, ok" },
		{ "6222 0212 3456 7890", "**** **** **** 7890" },
		{ "4111-1111-1111-1111-123", "****-****-****-***1-123" },
		/* 18 digits without a birth date: an account, last 4 kept */
		{ "123456789012345678", "**************5678" },
		/* too short, too long, part of a word, dates, phone numbers */
		{ "12345678901", "12345678901" },
		{ "12345678901234567890", "12345678901234567890" },
		{ "a1b2c3d4e5f60012345678901234ab", "a1b2c3d4e5f60012345678901234ab" },
		{ "2024-01-15 13800138000", "2024-01-15 13800138000" },
		{ "¥1,234,567.89 on 2024-01-15", "¥1,234,567.89 on 2024-01-15" },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = auth_mask_text(cases[i].in);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("mask(\"%s\") = \"%s\", want \"%s\"",
			    cases[i].in, got, cases[i].want);
		free(got);
	}
}

static void
test_mask_json(void **state)
{
	json_t *j = json_pack("{s:I,s:I,s:s,s:{s:s,s:I,s:[s,i]},s:[{s:s}]}",
	    "id", (json_int_t)42, "created", (json_int_t)1700000000000LL,
	    "hash", "0123456789012345abcdef", "payload", "id_no",
	    "110101199003071234", "account", (json_int_t)6222021234567890LL,
	    "list", "card 6222021234567890", 7, "escalations", "message",
	    "account 6222021234567890 not found");
	char *text;

	auth_mask_json(j);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"created\":1700000000000,"
	    "\"escalations\":[{\"message\":\"account ************7890 not"
	    " found\"}],\"hash\":\"0123456789012345abcdef\",\"id\":42,"
	    "\"payload\":{\"account\":\"************7890\",\"id_no\":"
	    "\"110101********1234\",\"list\":[\"card ************7890\",7]}}");
	free(text);
	json_decref(j);
	auth_mask_json(NULL);
}

static void
test_cookie(void **state)
{
	char v[80];

	assert_true(auth_cookie_get("clerk_session=abc", "clerk_session", v,
	    sizeof(v)));
	assert_string_equal(v, "abc");
	assert_true(auth_cookie_get("theme=dark; clerk_session=xyz ; a=b",
	    "clerk_session", v, sizeof(v)));
	assert_string_equal(v, "xyz");
	assert_false(auth_cookie_get("old_clerk_session=abc", "clerk_session",
	    v, sizeof(v)));
	assert_false(auth_cookie_get("clerk_sessionx=abc", "clerk_session", v,
	    sizeof(v)));
	assert_false(auth_cookie_get("", "clerk_session", v, sizeof(v)));
	assert_false(auth_cookie_get("clerk_session=0123456789", "clerk_session",
	    v, 5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_round_trip),
		cmocka_unit_test(test_hash_corrupted),
		cmocka_unit_test(test_users_file_errors),
		cmocka_unit_test(test_users_file_mode),
		cmocka_unit_test(test_users_reload_keeps_old),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_csrf),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_login_split),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_mask_text),
		cmocka_unit_test(test_mask_json),
		cmocka_unit_test(test_cookie),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
