/*
 * auth.h - who may use clerkd's API: users and roles from the users file,
 * scrypt password hashes, API tokens, web sessions with CSRF tokens, the
 * login rate limit, the role -> permission table and the masking of
 * personal data for roles that do not need to see it.
 *
 * Everything here runs on the event loop thread; nothing locks.
 */
#ifndef CLERK_AUTH_H
#define CLERK_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

enum auth_role {
	AUTH_ADMIN,
	AUTH_SUPERVISOR,
	AUTH_REVIEWER,
	AUTH_AUDITOR,
	AUTH_NROLES
};

/* What a request wants to do; http.c maps every endpoint to one. */
enum auth_action {
	AUTH_READ,          /* status, playbooks, items, escalations, me */
	AUTH_READ_AUDIT,    /* the audit trail */
	AUTH_DECIDE,        /* escalations/ID/decide */
	AUTH_CLAIM,         /* escalations/ID/claim|release */
	AUTH_RUN,           /* playbooks/NAME/run */
	AUTH_RELOAD,        /* reload */
	AUTH_ITEM_OP,       /* items/ID/retry|cancel */
	AUTH_ASSIGN,        /* escalations/ID/assign: hand over one you hold */
	AUTH_ASSIGN_ANY,    /* escalations/ID/assign: any open one, to anyone */
	AUTH_COMMENT,       /* escalations/ID/comments */
	AUTH_HISTORY,       /* playbooks/NAME/history: run history */
	AUTH_PAUSE,         /* playbooks/NAME/pause|resume */
	AUTH_DRYRUN,        /* playbooks/NAME/test: a dry run */
	AUTH_NACTIONS
};

const char *auth_role_name(enum auth_role r);
int auth_role_parse(const char *s);            /* -1 if unknown */
/* "decide escalations", for "role X may not ..." */
const char *auth_action_desc(enum auth_action a);
bool auth_allowed(enum auth_role role, enum auth_action action);
/* Whether the role sees ID numbers and bank accounts in full. */
bool auth_sees_personal(enum auth_role role);

/* The api.token's user: an admin that cannot be in the users file. */
#define AUTH_TOKEN_USER "admin"

/* Session cookie name, idle expiry, login rate limit. */
#define AUTH_COOKIE "clerk_session"
#define AUTH_SESSION_IDLE_MS (8LL * 3600 * 1000)
#define AUTH_FAIL_MAX 5
#define AUTH_FAIL_WINDOW_MS (15LL * 60 * 1000)
#define AUTH_BLOCK_MS (15LL * 60 * 1000)

/* ---- passwords: scrypt$N$r$p$<salt b64>$<hash b64> ---- */

#define AUTH_HASH_MAX 160
/* Hashes pw with a fresh random salt (N=2^15, r=8, p=1). */
int auth_hash_password(const char *pw, char out[AUTH_HASH_MAX],
    struct err *e);
/* 1: pw matches; 0: it does not; -1: the hash string is malformed. */
int auth_verify_password(const char *hash, const char *pw);
/* Checks a hash string's form and parameters; the reason in e. */
int auth_hash_check(const char *hash, struct err *e);

/* A new API token (32 random bytes, hex) and its users-file line form
 * "sha256:<hex>". */
int auth_token_new(char token[65], char stored[72], struct err *e);

/* ---- users ---- */

struct auth_user {
	char *name;
	enum auth_role role;
	char *password;        /* scrypt string, or NULL: tokens only */
	char **tokens;         /* "sha256:<hex>" */
	size_t ntokens;
};

struct auth_users {
	struct auth_user *v;
	size_t n;
};

/*
 * Reads a users file. Refuses one that group or others may read, and
 * reports problems as "file:line: message". Returns NULL on error.
 */
struct auth_users *auth_users_load(const char *path, struct err *e);
void auth_users_free(struct auth_users *u);
const struct auth_user *auth_users_find(const struct auth_users *u,
    const char *name);

/* ---- the daemon's state: users, sessions, failed logins ---- */

struct auth;

/* admin_token: the api.token text, a bearer token for AUTH_TOKEN_USER. */
struct auth *auth_new(const char *admin_token);
void auth_free(struct auth *a);
/* Replaces the users (takes u; NULL: only the api.token admin). Sessions
 * of users no longer in the file end. */
void auth_set_users(struct auth *a, struct auth_users *u);
/* Loads path and, if it is good, puts it in force; else keeps the users
 * in force and fills e. path NULL: no users file. */
int auth_load(struct auth *a, const char *path, struct err *e);
size_t auth_user_count(const struct auth *a);

/* Who a request is. */
struct auth_who {
	char name[128];
	enum auth_role role;
	bool api_token;        /* the api.token (admin) */
	bool session;          /* via the session cookie */
	char session_id[65];
	char csrf[65];
};

/* A bearer token: the api.token or a user's. 0 and who filled, or -1. */
int auth_check_token(struct auth *a, const char *token, struct auth_who *who);

/*
 * Login in two halves, so the slow KDF can run off the event loop:
 * auth_login_start checks the rate limit and returns (in *hash, to free)
 * the hash to verify the password against (a dummy one for an unknown
 * user, which takes as long); the caller runs auth_verify_password(*hash,
 * password) anywhere, and hands its result to auth_login_finish on the
 * loop thread. Same results as auth_login.
 */
int auth_login_start(struct auth *a, const char *user, const char *ip,
    int64_t now, char **hash, int *status, int64_t *retry_s);
int auth_login_finish(struct auth *a, const char *user, const char *ip,
    const char *hash, int verified, int64_t now, struct auth_who *who,
    int *status);
/* Whether name is a user (or the api.token's admin) whose role may
 * decide escalations: someone an escalation can be assigned to. */
bool auth_can_review(const struct auth *a, const char *name);

/*
 * Login. Returns 0 with who filled and a new session (who->session_id,
 * who->csrf); -1 with *status 401 (wrong name or password) or 429 (too
 * many failures for this user or address; *retry_s says for how long).
 */
int auth_login(struct auth *a, const char *user, const char *password,
    const char *ip, int64_t now, struct auth_who *who, int *status,
    int64_t *retry_s);
/* A session cookie's id: 0 and who filled (the idle clock restarts), or
 * -1 when unknown, expired or its user is gone. */
int auth_session_check(struct auth *a, const char *id, int64_t now,
    struct auth_who *who);
/*
 * Sessions outlive a restart when the daemon persists them: persist() is
 * called with SAVE when a session starts (and at most once a minute as it
 * is used: last is the wall-clock time of its last use) and with FORGET
 * (csrf, user NULL) when it ends. key is the SHA-256 (hex) of the cookie
 * value, never the value itself. Not called when auth_free() drops them.
 */
enum auth_persist_op { AUTH_SESSION_SAVE, AUTH_SESSION_FORGET };
typedef void (*auth_persist_fn)(void *arg, enum auth_persist_op op,
    const char *key, const char *csrf, const char *user, int64_t last);
void auth_set_persist(struct auth *a, auth_persist_fn fn, void *arg);
/* A persisted session back in force (after the users are loaded): -1 (and
 * FORGET) when it has been idle too long or its user is gone. */
int auth_session_restore(struct auth *a, const char *key, const char *csrf,
    const char *user, int64_t last_wall, int64_t now);
/*
 * On a store several clerkd share, the store's sessions are the truth:
 * a session signed in on one node works on every node, and one ended on
 * one node ends everywhere. Given what the store has for cookie id (csrf
 * NULL: nothing), restores one this node does not hold, or ends one the
 * store no longer has - unless this node saved it within the last 5 s,
 * since its own save may not be committed yet.
 */
void auth_session_sync(struct auth *a, const char *id, const char *csrf,
    const char *user, int64_t last_wall, int64_t now);
/* Ends the session; false if there was none. */
bool auth_logout(struct auth *a, const char *id);
/* Whether token is the session's CSRF token (constant time). */
bool auth_csrf_ok(const struct auth_who *who, const char *token);
size_t auth_session_count(const struct auth *a);

/* The value of cookie name in a Cookie header, copied to out; false if
 * absent or too long. */
bool auth_cookie_get(const char *header, const char *name, char *out,
    size_t len);

/* ---- personal data ---- */

/*
 * Masks, in every string of j (recursively; keys are left alone):
 * 18-character resident ID numbers keep their first 6 and last 4
 * characters, digit runs of 12-19 digits (bank accounts, card numbers,
 * also in groups of four) keep their last 4. Numbers are left alone:
 * timestamps are 13-digit numbers.
 */
void auth_mask_json(json_t *j);
/* The same on one string; returns a new string. */
char *auth_mask_text(const char *s);

#endif
