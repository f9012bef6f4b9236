/*
 * auth.c - users, roles, passwords, API tokens, web sessions, the login
 * rate limit and the masking of personal data (DESIGN.md §11).
 */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* ---- roles and permissions ---- */

static const char *const role_names[AUTH_NROLES] = {
	"admin", "supervisor", "reviewer", "auditor",
};

static const char *const action_descs[AUTH_NACTIONS] = {
	[AUTH_READ] = "read",
	[AUTH_READ_AUDIT] = "read the audit trail",
	[AUTH_DECIDE] = "decide escalations",
	[AUTH_CLAIM] = "claim or release escalations",
	[AUTH_RUN] = "run playbooks",
	[AUTH_RELOAD] = "reload the configuration",
	[AUTH_ITEM_OP] = "retry or cancel work items",
	[AUTH_ASSIGN] = "re-assign escalations",
	[AUTH_ASSIGN_ANY] = "re-assign escalations they do not hold",
	[AUTH_COMMENT] = "comment on escalations",
	[AUTH_HISTORY] = "read the run history",
	[AUTH_PAUSE] = "pause or resume playbooks",
	[AUTH_DRYRUN] = "dry-run playbooks",
};

/*
 * The one permission table. A reviewer decides what it is shown, an
 * auditor only reads (and reads the audit trail, which a reviewer has no
 * need for); running playbooks, reloading, retrying or cancelling
 * items, pausing and resuming playbooks, dry-running them and watching
 * their run history are a supervisor's. A reviewer hands over what they hold; a supervisor
 * re-assigns anything open.
 */
static const bool permissions[AUTH_NROLES][AUTH_NACTIONS] = {
	/*  READ AUDIT DECIDE CLAIM RUN RELOAD ITEM ASSIGN ANY COMMENT HIST PAUSE
	 *  DRYRUN */
	[AUTH_ADMIN] =      { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
	[AUTH_SUPERVISOR] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
	[AUTH_REVIEWER] =   { 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0 },
	[AUTH_AUDITOR] =    { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};

const char *
auth_role_name(enum auth_role r)
{
	return (unsigned)r < AUTH_NROLES ? role_names[r] : "?";
}

int
auth_role_parse(const char *s)
{
	for (int i = 0; i < AUTH_NROLES; i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return -1;
}

const char *
auth_action_desc(enum auth_action a)
{
	return (unsigned)a < AUTH_NACTIONS ? action_descs[a] : "?";
}

bool
auth_allowed(enum auth_role role, enum auth_action action)
{
	if ((unsigned)role >= AUTH_NROLES || (unsigned)action >= AUTH_NACTIONS)
		return false;
	return permissions[role][action];
}

bool
auth_sees_personal(enum auth_role role)
{
	return role == AUTH_ADMIN || role == AUTH_SUPERVISOR ||
	    role == AUTH_REVIEWER;
}

/* ---- passwords ---- */

#define SCRYPT_N 32768
#define SCRYPT_R 8
#define SCRYPT_P 1
#define SALT_LEN 16
#define KEY_LEN 32

/* Hashed for unknown users, so a wrong name takes as long as a wrong
 * password and does not tell which names exist. */
static const char dummy_hash[] = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

static int
b64_decode(const char *s, size_t n, unsigned char *out, size_t max)
{
	unsigned char buf[128];
	size_t pad = 0;
	int len;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(buf))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			if (i < n - 2)
				return -1;
			pad++;
		} else if (pad > 0 || !(isalnum((unsigned char)s[i]) ||
		    s[i] == '+' || s[i] == '/'))
			return -1;
	}
	len = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	if (len < 0 || (size_t)len < pad || (size_t)len - pad > max)
		return -1;
	memcpy(out, buf, (size_t)len - pad);
	return (int)((size_t)len - pad);
}

struct scrypt_params {
	uint64_t n, r, p;
	unsigned char salt[64], key[64];
	size_t salt_len, key_len;
};

static int
parse_u64(const char **p, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)**p))
		return -1;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno != 0 || *end != '$')
		return -1;
	*p = end + 1;
	return 0;
}

static int
hash_parse(const char *h, struct scrypt_params *sp, struct err *e)
{
	const char *p = h, *dollar;
	int n;

	if (strncmp(p, "scrypt$", 7) != 0) {
		err_setc(e, ERR_INVALID, "a password hash must start with"
		    " \"scrypt$\" (make one with clerkctl user hash)");
		return -1;
	}
	p += 7;
	if (parse_u64(&p, &sp->n) < 0 || parse_u64(&p, &sp->r) < 0 ||
	    parse_u64(&p, &sp->p) < 0) {
		err_setc(e, ERR_INVALID, "a password hash must read"
		    " scrypt$N$r$p$SALT$HASH");
		return -1;
	}
	/* Bounds keep a hostile or mangled file from making clerkd spend
	 * gigabytes or minutes on one login. */
	if (sp->n < 1024 || sp->n > (1 << 20) || (sp->n & (sp->n - 1)) != 0 ||
	    sp->r < 1 || sp->r > 32 || sp->p < 1 || sp->p > 16 ||
	    sp->n * sp->r * 128 > 256ULL * 1024 * 1024) {
		err_setc(e, ERR_INVALID, "scrypt parameters out of range (N a"
		    " power of two from 2^10 to 2^20, r 1-32, p 1-16)");
		return -1;
	}
	if ((dollar = strchr(p, '$')) == NULL ||
	    (n = b64_decode(p, (size_t)(dollar - p), sp->salt,
	    sizeof(sp->salt))) < 8) {
		err_setc(e, ERR_INVALID, "the salt of a password hash is not"
		    " base64 of 8 to 64 bytes");
		return -1;
	}
	sp->salt_len = (size_t)n;
	p = dollar + 1;
	if ((n = b64_decode(p, strlen(p), sp->key, sizeof(sp->key))) < 16) {
		err_setc(e, ERR_INVALID, "the hash of a password hash is not"
		    " base64 of 16 to 64 bytes");
		return -1;
	}
	sp->key_len = (size_t)n;
	return 0;
}

static int
scrypt(const char *pw, const struct scrypt_params *sp, unsigned char *out,
    size_t len)
{
	uint64_t mem = 128 * sp->r * (sp->n + sp->p + 2) + 1024 * 1024;

	return EVP_PBE_scrypt(pw, strlen(pw), sp->salt, sp->salt_len, sp->n,
	    sp->r, sp->p, mem, out, len) == 1 ? 0 : -1;
}

int
auth_hash_password(const char *pw, char out[AUTH_HASH_MAX], struct err *e)
{
	struct scrypt_params sp = { .n = SCRYPT_N, .r = SCRYPT_R,
	    .p = SCRYPT_P, .salt_len = SALT_LEN, .key_len = KEY_LEN };
	char salt64[32], key64[48];

	if (RAND_bytes(sp.salt, SALT_LEN) != 1) {
		err_set(e, "no random bytes for a salt");
		return -1;
	}
	if (scrypt(pw, &sp, sp.key, KEY_LEN) < 0) {
		err_set(e, "scrypt failed");
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)salt64, sp.salt, SALT_LEN);
	EVP_EncodeBlock((unsigned char *)key64, sp.key, KEY_LEN);
	snprintf(out, AUTH_HASH_MAX, "scrypt$%d$%d$%d$%s$%s", SCRYPT_N,
	    SCRYPT_R, SCRYPT_P, salt64, key64);
	OPENSSL_cleanse(&sp, sizeof(sp));
	return 0;
}

int
auth_hash_check(const char *hash, struct err *e)
{
	struct scrypt_params sp;
	struct err tmp;

	return hash_parse(hash, &sp, e ? e : &tmp);
}

int
auth_verify_password(const char *hash, const char *pw)
{
	struct scrypt_params sp;
	unsigned char key[64];
	struct err e;
	int ok;

	if (hash == NULL || pw == NULL || hash_parse(hash, &sp, &e) < 0)
		return -1;
	if (scrypt(pw, &sp, key, sp.key_len) < 0)
		return -1;
	ok = CRYPTO_memcmp(key, sp.key, sp.key_len) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}


static void
token_stored(const char *token, char stored[72])
{
	memcpy(stored, "sha256:", 7);
	util_sha256_hex(token, strlen(token), stored + 7);
}

int
auth_token_new(char token[65], char stored[72], struct err *e)
{
	if (util_random_hex(token, e) < 0)
		return -1;
	token_stored(token, stored);
	return 0;
}

/* ---- the users file ---- */

static const struct auth_user *
find_user(const struct auth_users *u, const char *name)
{
	for (size_t i = 0; u != NULL && i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return &u->v[i];
	return NULL;
}

const struct auth_user *
auth_users_find(const struct auth_users *u, const char *name)
{
	return find_user(u, name);
}

void
auth_users_free(struct auth_users *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->v[i].name);
		if (u->v[i].password != NULL) {
			OPENSSL_cleanse(u->v[i].password,
			    strlen(u->v[i].password));
			free(u->v[i].password);
		}
		for (size_t t = 0; t < u->v[i].ntokens; t++)
			free(u->v[i].tokens[t]);
		free(u->v[i].tokens);
	}
	free(u->v);
	free(u);
}

static int
ubad(struct err *e, const char *path, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
ubad(struct err *e, const char *path, const config_setting_t *s,
    const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s == NULL)
		err_setc(e, ERR_INVALID, "%s: %s", path, msg);
	else
		err_setc(e, ERR_INVALID, "%s:%d: %s", path,
		    (int)config_setting_source_line(s), msg);
	return -1;
}

static bool
good_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || strchr("._@-", *s)))
			return false;
	return true;
}

static bool
good_token_hash(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
		return false;
	for (s += 7; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
			return false;
	return true;
}

static int
load_user(struct auth_users *u, const char *path, config_setting_t *g,
    struct err *e)
{
	static const char *const keys[] = { "name", "role", "password",
	    "tokens", NULL };
	struct auth_user *nu;
	config_setting_t *m, *toks;
	const char *name, *role, *pw = NULL;
	struct err he;
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return ubad(e, path, g, "each user is a group { name = ...;"
		    " role = ...; password = ...; }");
	for (int i = 0; i < config_setting_length(g); i++) {
		bool known = false;

		m = config_setting_get_elem(g, i);
		for (int k = 0; keys[k] != NULL; k++)
			known |= strcmp(keys[k], config_setting_name(m)) == 0;
		if (!known)
			return ubad(e, path, m, "unknown user setting \"%s\""
			    " (a user has name, role, password and tokens)",
			    config_setting_name(m));
	}
	if (!config_setting_lookup_string(g, "name", &name))
		return ubad(e, path, g, "a user needs name = \"...\"");
	if (!good_name(name))
		return ubad(e, path, config_setting_lookup(g, "name"), "user"
		    " name \"%s\": use 1 to 64 letters, digits, '.', '_', '@'"
		    " or '-'", name);
	if (strcmp(name, AUTH_TOKEN_USER) == 0)
		return ubad(e, path, config_setting_lookup(g, "name"), "the"
		    " name \"%s\" belongs to STATE_DIR/api.token; give this"
		    " user another name (its role may be admin)", name);
	if (find_user(u, name) != NULL)
		return ubad(e, path, config_setting_lookup(g, "name"), "user"
		    " \"%s\" is defined twice", name);
	if (!config_setting_lookup_string(g, "role", &role))
		return ubad(e, path, g, "user \"%s\" needs role = \"admin\","
		    " \"supervisor\", \"reviewer\" or \"auditor\"", name);
	if ((r = auth_role_parse(role)) < 0)
		return ubad(e, path, config_setting_lookup(g, "role"), "user"
		    " \"%s\": unknown role \"%s\"; use admin, supervisor,"
		    " reviewer or auditor", name, role);
	if ((m = config_setting_lookup(g, "password")) != NULL) {
		if ((pw = config_setting_get_string(m)) == NULL)
			return ubad(e, path, m, "user \"%s\": password must be"
			    " a string", name);
		if (auth_hash_check(pw, &he) < 0)
			return ubad(e, path, m, "user \"%s\": %s", name, he.msg);
	}
	toks = config_setting_lookup(g, "tokens");
	if (toks != NULL && !config_setting_is_aggregate(toks))
		return ubad(e, path, toks, "user \"%s\": tokens must be a list"
		    " [\"sha256:...\", ...]", name);
	if (pw == NULL && (toks == NULL || config_setting_length(toks) == 0))
		return ubad(e, path, g, "user \"%s\" has neither a password nor"
		    " a token, so cannot log in", name);
	for (int i = 0; toks != NULL && i < config_setting_length(toks); i++) {
		const char *t = config_setting_get_string(
		    config_setting_get_elem(toks, i));

		if (t == NULL || !good_token_hash(t))
			return ubad(e, path, config_setting_get_elem(toks, i),
			    "user \"%s\": a token is stored as \"sha256:\""
			    " and 64 lowercase hex digits (clerkctl user"
			    " token makes one)", name);
		for (size_t j = 0; j < u->n; j++)
			for (size_t k = 0; k < u->v[j].ntokens; k++)
				if (strcmp(u->v[j].tokens[k], t) == 0)
					return ubad(e, path,
					    config_setting_get_elem(toks, i),
					    "user \"%s\": this token is also"
					    " user \"%s\"'s", name,
					    u->v[j].name);
	}
	u->v = xrealloc(u->v, (u->n + 1) * sizeof(*u->v));
	nu = &u->v[u->n++];
	memset(nu, 0, sizeof(*nu));
	nu->name = xstrdup(name);
	nu->role = (enum auth_role)r;
	nu->password = pw ? xstrdup(pw) : NULL;
	nu->ntokens = toks ? (size_t)config_setting_length(toks) : 0;
	nu->tokens = xcalloc(nu->ntokens + 1, sizeof(char *));
	for (size_t i = 0; i < nu->ntokens; i++)
		nu->tokens[i] = xstrdup(config_setting_get_string(
		    config_setting_get_elem(toks, (int)i)));
	return 0;
}

struct auth_users *
auth_users_load(const char *path, struct err *e)
{
	struct auth_users *u;
	config_setting_t *root, *list, *m;
	struct stat st;
	config_t cfg;
	FILE *f;

	/* One open file for the mode check and the read: no swap between. */
	if ((f = fopen(path, "r")) == NULL) {
		err_setc(e, ERR_INVALID, "%s: cannot read the users file: %s",
		    path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		err_setc(e, ERR_INVALID, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		err_setc(e, ERR_INVALID, "%s: the users file holds password"
		    " hashes but is readable by group or others (mode %04o);"
		    " chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		fclose(f);
		return NULL;
	}
	config_init(&cfg);
	if (!config_read(&cfg, f)) {
		err_setc(e, ERR_INVALID, "%s:%d: %s", path,
		    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		fclose(f);
		return NULL;
	}
	fclose(f);
	u = xcalloc(1, sizeof(*u));
	root = config_root_setting(&cfg);
	for (int i = 0; i < config_setting_length(root); i++) {
		m = config_setting_get_elem(root, i);
		if (strcmp(config_setting_name(m), "users") != 0) {
			ubad(e, path, m, "unknown setting \"%s\"; the users file"
			    " has only users = ( ... );",
			    config_setting_name(m));
			goto fail;
		}
	}
	list = config_lookup(&cfg, "users");
	if (list == NULL) {
		ubad(e, path, NULL, "no users = ( { name = ...; role = ...;"
		    " password = ...; }, ... ); found");
		goto fail;
	}
	if (!config_setting_is_aggregate(list) ||
	    config_setting_type(list) == CONFIG_TYPE_GROUP) {
		ubad(e, path, list, "users must be a list: users = ( { ... },"
		    " { ... } );");
		goto fail;
	}
	for (int i = 0; i < config_setting_length(list); i++)
		if (load_user(u, path, config_setting_get_elem(list, i), e) < 0)
			goto fail;
	config_destroy(&cfg);
	return u;
fail:
	config_destroy(&cfg);
	auth_users_free(u);
	return NULL;
}

/* ---- sessions and the rate limit ---- */

#define MAX_SESSIONS 10000
#define MAX_FAIL_KEYS 4096

/* A session is known by the SHA-256 of its cookie value (its key), so
 * neither memory nor the database holds a cookie anyone could send. */
struct session {
	char key[65];
	char csrf[65];
	char *user;
	int64_t last;          /* last use, ms (monotonic) */
	int64_t saved;         /* when last handed to persist(), ms (monotonic) */
};

/* How stale the persisted last use may get: at most one write a minute
 * per active session. */
#define SESSION_SAVE_MS (60LL * 1000)

struct fail_key {
	char key[160];         /* "u:NAME" or "ip:ADDR" */
	int64_t at[AUTH_FAIL_MAX];  /* the recent failures, a ring */
	int n;
	int64_t blocked_until;
};

struct auth {
	char admin_token[65];
	struct auth_users *users;
	struct session *s;
	size_t ns;
	struct fail_key *f;
	size_t nf;
	auth_persist_fn persist;
	void *persist_arg;
};

struct auth *
auth_new(const char *admin_token)
{
	struct auth *a = xcalloc(1, sizeof(*a));

	snprintf(a->admin_token, sizeof(a->admin_token), "%s", admin_token);
	return a;
}

static void
session_save(struct auth *a, struct session *s, int64_t now)
{
	s->saved = now;
	if (a->persist != NULL)
		a->persist(a->persist_arg, AUTH_SESSION_SAVE, s->key, s->csrf,
		    s->user, util_now_ms() - (now - s->last));
}

/* forget: the session ended (logout, expiry, its user gone), not just
 * clerkd stopping. */
static void
session_drop(struct auth *a, size_t i, bool forget)
{
	if (forget && a->persist != NULL)
		a->persist(a->persist_arg, AUTH_SESSION_FORGET, a->s[i].key,
		    NULL, NULL, 0);
	OPENSSL_cleanse(a->s[i].key, sizeof(a->s[i].key));
	OPENSSL_cleanse(a->s[i].csrf, sizeof(a->s[i].csrf));
	free(a->s[i].user);
	a->s[i] = a->s[--a->ns];
}

void
auth_set_persist(struct auth *a, auth_persist_fn fn, void *arg)
{
	a->persist = fn;
	a->persist_arg = arg;
}

int
auth_session_restore(struct auth *a, const char *key, const char *csrf,
    const char *user, int64_t last_wall, int64_t now)
{
	int64_t idle = util_now_ms() - last_wall;
	struct session *s;

	if (key == NULL || csrf == NULL || user == NULL)
		return -1;
	if (strlen(key) != 64 || strlen(csrf) != 64 || idle >=
	    AUTH_SESSION_IDLE_MS || find_user(a->users, user) == NULL ||
	    a->ns == MAX_SESSIONS) {
		if (a->persist != NULL)
			a->persist(a->persist_arg, AUTH_SESSION_FORGET, key,
			    NULL, NULL, 0);
		return -1;
	}
	if (a->s == NULL)
		a->s = xcalloc(MAX_SESSIONS, sizeof(*a->s));
	s = &a->s[a->ns++];
	memset(s, 0, sizeof(*s));
	memcpy(s->key, key, 65);
	memcpy(s->csrf, csrf, 65);
	s->user = xstrdup(user);
	s->last = now - (idle > 0 ? idle : 0);
	s->saved = now;
	return 0;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	while (a->ns > 0)
		session_drop(a, 0, false);
	free(a->s);
	free(a->f);
	auth_users_free(a->users);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

void
auth_set_users(struct auth *a, struct auth_users *u)
{
	auth_users_free(a->users);
	a->users = u;
	for (size_t i = 0; i < a->ns;)
		if (find_user(u, a->s[i].user) == NULL)
			session_drop(a, i, true);
		else
			i++;
}

int
auth_load(struct auth *a, const char *path, struct err *e)
{
	struct auth_users *u = NULL;

	if (path != NULL && (u = auth_users_load(path, e)) == NULL)
		return -1;
	auth_set_users(a, u);
	return 0;
}

size_t
auth_user_count(const struct auth *a)
{
	return a->users ? a->users->n : 0;
}

size_t
auth_session_count(const struct auth *a)
{
	return a->ns;
}

static void
who_user(struct auth_who *who, const struct auth_user *u)
{
	memset(who, 0, sizeof(*who));
	snprintf(who->name, sizeof(who->name), "%s", u->name);
	who->role = u->role;
}

int
auth_check_token(struct auth *a, const char *token, struct auth_who *who)
{
	size_t n = strlen(token), an = strlen(a->admin_token);
	char stored[72];
	int hit = -1;

	if (n == 0 || n > 256)
		return -1;
	if (an > 0 && n == an && CRYPTO_memcmp(token, a->admin_token, n) == 0) {
		memset(who, 0, sizeof(*who));
		snprintf(who->name, sizeof(who->name), "%s", AUTH_TOKEN_USER);
		who->role = AUTH_ADMIN;
		who->api_token = true;
		return 0;
	}
	token_stored(token, stored);
	/* Every stored token is compared, so the time says nothing about
	 * which user (if any) came close. */
	for (size_t i = 0; a->users != NULL && i < a->users->n; i++)
		for (size_t t = 0; t < a->users->v[i].ntokens; t++)
			if (CRYPTO_memcmp(stored, a->users->v[i].tokens[t],
			    71) == 0)
				hit = (int)i;
	if (hit < 0)
		return -1;
	who_user(who, &a->users->v[hit]);
	return 0;
}

static struct fail_key *
fail_find(struct auth *a, const char *key, int64_t now, bool create)
{
	size_t oldest = 0;

	for (size_t i = 0; i < a->nf; i++)
		if (strcmp(a->f[i].key, key) == 0)
			return &a->f[i];
	if (!create)
		return NULL;
	if (a->nf == MAX_FAIL_KEYS) {
		/* Forget what can no longer block anyone, else the stalest. */
		for (size_t i = 0; i < a->nf;) {
			struct fail_key *k = &a->f[i];
			int64_t last = k->n > 0 ? k->at[(k->n - 1) %
			    AUTH_FAIL_MAX] : 0;

			if (k->blocked_until <= now &&
			    now - last > AUTH_FAIL_WINDOW_MS)
				a->f[i] = a->f[--a->nf];
			else
				i++;
		}
		if (a->nf == MAX_FAIL_KEYS) {
			for (size_t i = 1; i < a->nf; i++)
				if (a->f[i].at[0] < a->f[oldest].at[0])
					oldest = i;
			a->f[oldest] = a->f[--a->nf];
		}
	}
	if (a->f == NULL)
		a->f = xcalloc(MAX_FAIL_KEYS, sizeof(*a->f));
	memset(&a->f[a->nf], 0, sizeof(a->f[0]));
	snprintf(a->f[a->nf].key, sizeof(a->f[0].key), "%s", key);
	return &a->f[a->nf++];
}

/* ms until key may try again, 0 if it may now. */
static int64_t
fail_blocked(struct auth *a, const char *key, int64_t now)
{
	struct fail_key *k = fail_find(a, key, now, false);

	return k != NULL && k->blocked_until > now ? k->blocked_until - now : 0;
}

static void
fail_record(struct auth *a, const char *key, int64_t now)
{
	struct fail_key *k = fail_find(a, key, now, true);
	int recent = 0;

	k->at[k->n % AUTH_FAIL_MAX] = now;
	k->n++;
	for (int i = 0; i < AUTH_FAIL_MAX && i < k->n; i++)
		if (now - k->at[i] < AUTH_FAIL_WINDOW_MS)
			recent++;
	if (recent >= AUTH_FAIL_MAX)
		k->blocked_until = now + AUTH_BLOCK_MS;
}

static void
fail_clear(struct auth *a, const char *key)
{
	struct fail_key *k = fail_find(a, key, 0, false);

	if (k != NULL)
		*k = a->f[--a->nf];
}

static int
session_new(struct auth *a, const struct auth_user *u, int64_t now,
    struct auth_who *who)
{
	struct session *s;
	struct err e;

	for (size_t i = 0; i < a->ns;)
		if (now - a->s[i].last >= AUTH_SESSION_IDLE_MS)
			session_drop(a, i, true);
		else
			i++;
	if (a->ns == MAX_SESSIONS) {
		size_t lru = 0;

		for (size_t i = 1; i < a->ns; i++)
			if (a->s[i].last < a->s[lru].last)
				lru = i;
		session_drop(a, lru, true);
	}
	if (a->s == NULL)
		a->s = xcalloc(MAX_SESSIONS, sizeof(*a->s));
	s = &a->s[a->ns];
	memset(s, 0, sizeof(*s));
	who_user(who, u);
	if (util_random_hex(who->session_id, &e) < 0 ||
	    util_random_hex(s->csrf, &e) < 0)
		return -1;
	util_sha256_hex(who->session_id, 64, s->key);
	s->user = xstrdup(u->name);
	s->last = now;
	a->ns++;
	who->session = true;
	memcpy(who->csrf, s->csrf, sizeof(who->csrf));
	session_save(a, s, now);
	return 0;
}

int
auth_login_start(struct auth *a, const char *user, const char *ip,
    int64_t now, char **hash, int *status, int64_t *retry_s)
{
	const struct auth_user *u;
	char ukey[160], ipkey[160];
	int64_t wait;

	*hash = NULL;
	snprintf(ukey, sizeof(ukey), "u:%.128s", user);
	snprintf(ipkey, sizeof(ipkey), "ip:%.64s", ip ? ip : "?");
	wait = fail_blocked(a, ukey, now);
	if (fail_blocked(a, ipkey, now) > wait)
		wait = fail_blocked(a, ipkey, now);
	if (wait > 0) {
		*status = 429;
		*retry_s = (wait + 999) / 1000;
		return -1;
	}
	u = find_user(a->users, user);
	*hash = xstrdup(u && u->password ? u->password : dummy_hash);
	return 0;
}

int
auth_login_finish(struct auth *a, const char *user, const char *ip,
    const char *hash, int verified, int64_t now, struct auth_who *who,
    int *status)
{
	const struct auth_user *u = find_user(a->users, user);
	char ukey[160], ipkey[160];
	bool ok;

	snprintf(ukey, sizeof(ukey), "u:%.128s", user);
	snprintf(ipkey, sizeof(ipkey), "ip:%.64s", ip ? ip : "?");
	/* A reload while the KDF ran may have changed or removed the
	 * password: only the one verified counts. */
	ok = verified == 1 && u != NULL && u->password != NULL &&
	    strcmp(u->password, hash) == 0;
	if (!ok || session_new(a, u, now, who) < 0) {
		fail_record(a, ukey, now);
		fail_record(a, ipkey, now);
		*status = 401;
		return -1;
	}
	fail_clear(a, ukey);
	return 0;
}

int
auth_login(struct auth *a, const char *user, const char *password,
    const char *ip, int64_t now, struct auth_who *who, int *status,
    int64_t *retry_s)
{
	char *hash;
	int rc;

	if (auth_login_start(a, user, ip, now, &hash, status, retry_s) < 0)
		return -1;
	*retry_s = 0;
	rc = auth_login_finish(a, user, ip, hash, auth_verify_password(hash,
	    password), now, who, status);
	free(hash);
	return rc;
}

bool
auth_can_review(const struct auth *a, const char *name)
{
	const struct auth_user *u;

	if (strcmp(name, AUTH_TOKEN_USER) == 0)
		return true;
	u = find_user(a->users, name);
	return u != NULL && auth_allowed(u->role, AUTH_DECIDE);
}

static struct session *
session_find(struct auth *a, const char *id, size_t *idx)
{
	struct session *hit = NULL;
	char key[65];

	if (strlen(id) != 64)
		return NULL;
	util_sha256_hex(id, 64, key);
	for (size_t i = 0; i < a->ns; i++)
		if (CRYPTO_memcmp(a->s[i].key, key, 64) == 0) {
			hit = &a->s[i];
			*idx = i;
		}
	return hit;
}

int
auth_session_check(struct auth *a, const char *id, int64_t now,
    struct auth_who *who)
{
	const struct auth_user *u;
	struct session *s;
	size_t i;

	if ((s = session_find(a, id, &i)) == NULL)
		return -1;
	if (now - s->last >= AUTH_SESSION_IDLE_MS ||
	    (u = find_user(a->users, s->user)) == NULL) {
		session_drop(a, i, true);
		return -1;
	}
	s->last = now;
	if (now - s->saved >= SESSION_SAVE_MS)
		session_save(a, s, now);
	/* The role is the file's now, so a reload that demotes a user
	 * takes effect on their next request. */
	who_user(who, u);
	who->session = true;
	snprintf(who->session_id, sizeof(who->session_id), "%s", id);
	memcpy(who->csrf, s->csrf, sizeof(who->csrf));
	return 0;
}

void
auth_session_sync(struct auth *a, const char *id, const char *csrf,
    const char *user, int64_t last_wall, int64_t now)
{
	struct session *s;
	char key[65];
	size_t i;

	if (strlen(id) != 64)
		return;
	s = session_find(a, id, &i);
	if (csrf == NULL) {
		/* Ended elsewhere: nothing is left in the store to forget. */
		if (s != NULL && now - s->saved > 5000)
			session_drop(a, i, false);
		return;
	}
	if (s != NULL)
		return;
	util_sha256_hex(id, 64, key);
	auth_session_restore(a, key, csrf, user, last_wall, now);
}

bool
auth_logout(struct auth *a, const char *id)
{
	size_t i;

	if (session_find(a, id, &i) == NULL)
		return false;
	session_drop(a, i, true);
	return true;
}

bool
auth_csrf_ok(const struct auth_who *who, const char *token)
{
	return who->session && token != NULL && strlen(token) == 64 &&
	    strlen(who->csrf) == 64 && CRYPTO_memcmp(token, who->csrf, 64) == 0;
}

bool
auth_cookie_get(const char *header, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	const char *p = header;

	while (p != NULL && *p != '\0') {
		const char *end;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t vl = (size_t)(end - p - nl - 1);

			while (vl > 0 && (p[nl + 1 + vl - 1] == ' ' ||
			    p[nl + 1 + vl - 1] == '\t'))
				vl--;
			if (vl >= len)
				return false;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

/* ---- masking ---- */

char *
auth_mask_text(const char *s)
{
	char *out = xstrdup(s);

	util_mask_ids(out, strlen(out));
	return out;
}

/* In data that came from outside (payloads, step outputs, contexts), a
 * long integer may be an account number too. */
static bool
user_data_key(const char *k)
{
	return strcmp(k, "payload") == 0 || strcmp(k, "context") == 0 ||
	    strcmp(k, "output") == 0 || strcmp(k, "details") == 0;
}

static json_t *
mask_value(json_t *v, bool user_data)
{
	if (json_is_string(v)) {
		size_t n = json_string_length(v);
		char *buf = xmalloc(n + 1);

		memcpy(buf, json_string_value(v), n + 1);
		if (util_mask_ids(buf, n))
			json_string_setn(v, buf, n);
		free(buf);
	} else if (json_is_integer(v) && user_data) {
		char buf[32];
		json_int_t x = json_integer_value(v);

		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, x);
		if (x > 0 && strlen(buf) >= 12 && util_mask_ids(buf, strlen(buf)))
			return json_string(buf);
	} else if (json_is_object(v)) {
		const char *k;
		json_t *m, *r;
		void *it;

		json_object_foreach_safe(v, it, k, m) {
			if ((r = mask_value(m, user_data ||
			    user_data_key(k))) != NULL)
				json_object_set_new(v, k, r);
		}
	} else if (json_is_array(v)) {
		json_t *m, *r;
		size_t i;

		json_array_foreach(v, i, m) {
			if ((r = mask_value(m, user_data)) != NULL)
				json_array_set_new(v, i, r);
		}
	}
	return NULL;
}

void
auth_mask_json(json_t *j)
{
	if (j != NULL)
		mask_value(j, false);
}
