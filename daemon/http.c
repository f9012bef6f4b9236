/*
 * http.c - clerkd's HTTP listener: /healthz, /metrics and the JSON API
 * (docs/API.md), on libevent's evhttp in the event loop thread.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <ctype.h>
#include <event2/keyvalq_struct.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "audit.h"
#include "auth.h"
#include "daemon.h"
#include "dryrun.h"
#include "log.h"

#define MAX_BODY (1024 * 1024)

static const char *
code_name(enum err_code c)
{
	switch (c) {
	case ERR_INVALID:
		return "invalid";
	case ERR_NOTFOUND:
		return "not_found";
	case ERR_CONFLICT:
		return "conflict";
	case ERR_UNAVAILABLE:
		return "unavailable";
	case ERR_FORBIDDEN:
		return "forbidden";
	default:
		return "failed";
	}
}

static int
code_status(enum err_code c)
{
	switch (c) {
	case ERR_INVALID:
		return 400;
	case ERR_NOTFOUND:
		return 404;
	case ERR_CONFLICT:
		return 409;
	case ERR_UNAVAILABLE:
		return 503;
	case ERR_FORBIDDEN:
		return 403;
	default:
		return 500;
	}
}

/* The reason phrase of a status code (RFC 9110), as a client or proxy
 * logs it next to the code. */
static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return status < 400 ? "OK" : status < 500 ? "Client Error" :
	    "Server Error";
	}
}

static void
reply_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *buf = evbuffer_new();
	char *text = json_dumps(body, JSON_COMPACT);

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add(buf, text, strlen(text));
	evbuffer_add(buf, "\n", 1);
	evhttp_send_reply(req, status, reason_phrase(status), buf);
	evbuffer_free(buf);
	free(text);
	json_decref(body);
}

static void
reply_err(struct evhttp_request *req, enum err_code c, const char *msg)
{
	reply_json(req, code_status(c), json_pack("{s:{s:s,s:s}}", "error",
	    "code", code_name(c), "message", msg));
}

static void
reply_e(struct evhttp_request *req, const struct err *e)
{
	reply_err(req, e->code, e->msg[0] ? e->msg : "failed");
}

/* The request body as JSON; NULL (and a 400 sent) if it is not. */
static json_t *
body_json(struct evhttp_request *req, bool required)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t je;
	json_t *j;
	char *text;

	if (len == 0) {
		if (required) {
			reply_err(req, ERR_INVALID, "a JSON body is required");
			return NULL;
		}
		return json_object();
	}
	text = xmalloc(len + 1);
	evbuffer_remove(in, text, len);
	text[len] = '\0';
	j = json_loads(text, 0, &je);
	free(text);
	if (!json_is_object(j)) {
		char msg[300];

		snprintf(msg, sizeof(msg), "the body is not a JSON object: %s"
		    " (line %d, column %d)", j ? "not an object" : je.text,
		    je.line, je.column);
		json_decref(j);
		reply_err(req, ERR_INVALID, msg);
		return NULL;
	}
	return j;
}

static void
unauthorized(struct evhttp_request *req, const char *msg)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", "Bearer");
	reply_json(req, 401, json_pack("{s:{s:s,s:s}}", "error", "code",
	    "unauthorized", "message", msg));
}

/*
 * Who sent req: a bearer token (the api.token is the built-in admin, or a
 * user's token) or the session cookie. A request that carries a bad
 * credential is refused even if it also carries a good one.
 */
/*
 * A shared store's sessions: one read of them per cookie request, on
 * shared stores only, so a reviewer may be sent to any node
 * (auth_session_sync). A failed read keeps what this node knows.
 */
static void
session_from_store(struct daemon *d, const char *sid)
{
	json_t *list, *x, *hit = NULL;
	char key[65];
	struct err e;
	size_t i;

	if (!queue_shared(d->q) || strlen(sid) != 64)
		return;
	if ((list = queue_sessions(d->q, &e)) == NULL) {
		log_error("web sessions: %s; the sessions this node knows"
		    " stay in force", e.msg);
		return;
	}
	util_sha256_hex(sid, 64, key);
	json_array_foreach(list, i, x) {
		const char *k = json_string_value(json_object_get(x, "key"));

		if (k != NULL && strcmp(k, key) == 0)
			hit = x;
	}
	auth_session_sync(d->auth, sid, hit ? json_string_value(
	    json_object_get(hit, "csrf")) : NULL, hit ? json_string_value(
	    json_object_get(hit, "user")) : NULL, hit ? json_integer_value(
	    json_object_get(hit, "last")) : 0, util_mono_ms());
	json_decref(list);
}

static bool
authenticate(struct daemon *d, struct evhttp_request *req,
    struct auth_who *who)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *h = evhttp_find_header(in, "Authorization");
	const char *ck = evhttp_find_header(in, "Cookie");
	char sid[80];

	if (h != NULL) {
		if (strncmp(h, "Bearer ", 7) == 0 &&
		    auth_check_token(d->auth, h + 7, who) == 0)
			return true;
		unauthorized(req, "the bearer token was refused; send"
		    " Authorization: Bearer TOKEN with the token from"
		    " STATE_DIR/api.token or one of your own");
		return false;
	}
	if (ck != NULL && auth_cookie_get(ck, AUTH_COOKIE, sid, sizeof(sid))) {
		session_from_store(d, sid);
		if (auth_session_check(d->auth, sid, util_mono_ms(), who) == 0)
			return true;
		unauthorized(req, "the session has expired or ended; log in"
		    " again (POST /api/v1/login)");
		return false;
	}
	unauthorized(req, "send Authorization: Bearer TOKEN (the token is in"
	    " STATE_DIR/api.token) or log in: POST /api/v1/login");
	return false;
}

/* A live session cookie came with the request (nothing is replied). */
static bool
signed_in(struct daemon *d, struct evhttp_request *req)
{
	const char *ck = evhttp_find_header(evhttp_request_get_input_headers(
	    req), "Cookie");
	struct auth_who who;
	char sid[80];

	if (ck == NULL || !auth_cookie_get(ck, AUTH_COOKIE, sid, sizeof(sid)))
		return false;
	session_from_store(d, sid);
	return auth_session_check(d->auth, sid, util_mono_ms(), &who) == 0;
}

static void
forbidden(struct evhttp_request *req, const char *code, const char *msg)
{
	reply_json(req, 403, json_pack("{s:{s:s,s:s}}", "error", "code", code,
	    "message", msg));
}

/* The permission table's answer; a 403 is sent if it is no. */
static bool
permit(struct evhttp_request *req, const struct auth_who *who,
    enum auth_action a)
{
	char msg[200];

	if (auth_allowed(who->role, a))
		return true;
	snprintf(msg, sizeof(msg), "role %s may not %s",
	    auth_role_name(who->role), auth_action_desc(a));
	forbidden(req, "forbidden", msg);
	return false;
}

/* ID numbers and bank accounts only for the roles that work with them. */
static json_t *
mask_for(const struct auth_who *who, json_t *j)
{
	if (j != NULL && !auth_sees_personal(who->role))
		auth_mask_json(j);
	return j;
}

static const char *
peer_ip(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port;

	if (c == NULL)
		return "?";
	evhttp_connection_get_peer(c, &addr, &port);
	return addr ? addr : "?";
}

/*
 * Logins verify the password with scrypt (~130 ms of CPU), so they run on
 * their own threads: the loop starts a login (rate limit, the hash to check
 * against), a KDF thread verifies, and the loop finishes it (session,
 * audit, reply) when the thread wakes it with event_active(). evhttp lets
 * a request be answered later from the loop; if the client went away
 * meanwhile, the reply just frees the request.
 */
#define KDF_THREADS 2
#define KDF_MAX_PENDING 64
/* A failed attempt counts against the rate limit only when its check is
 * done, so logins checked at once could outrun it: at most this many at a
 * time for one user name, and for one address (an office behind one NAT
 * address logs in at 9 a.m.). */
#define KDF_MAX_PER_USER 2
#define KDF_MAX_PER_IP 8

struct login_job {
	struct evhttp_request *req;
	char user[129];
	char ip[64];
	char *pw;
	char *hash;
	int verified;
	struct login_job *next;
	struct login_job *inext;   /* the pool's in-flight list (loop thread) */
};

struct login_pool {
	struct daemon *d;
	pthread_t th[KDF_THREADS];
	int nth;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct login_job *todo, *todo_tail, *done;
	int pending;           /* started, not yet answered */
	struct login_job *inflight;  /* the same, for the loop thread only */
	bool stopping;
	struct event *wake;
};

static void
login_job_free(struct login_job *j)
{
	if (j->pw != NULL) {
		OPENSSL_cleanse(j->pw, strlen(j->pw));
		free(j->pw);
	}
	free(j->hash);
	free(j);
}

static void *
kdf_main(void *arg)
{
	struct login_pool *p = arg;
	struct login_job *j;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->todo == NULL && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stopping)
			break;
		j = p->todo;
		p->todo = j->next;
		if (p->todo == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->lock);
		j->verified = auth_verify_password(j->hash, j->pw);
		OPENSSL_cleanse(j->pw, strlen(j->pw));
		pthread_mutex_lock(&p->lock);
		j->next = p->done;
		p->done = j;
		event_active(p->wake, EV_READ, 0);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void
audit_login(struct daemon *d, const char *user, const char *action,
    json_t *details)
{
	char *text = json_dumps(details, JSON_COMPACT);

	queue_audit(d->q, user, action, NULL, text);
	free(text);
	json_decref(details);
}

static void
login_finish(struct daemon *d, struct login_job *j)
{
	struct evhttp_request *req = j->req;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct auth_who who;
	int status;
	char *cookie;

	if (auth_login_finish(d->auth, j->user, j->ip, j->hash, j->verified,
	    util_mono_ms(), &who, &status) < 0) {
		log_warn("login as \"%s\" from %s failed", j->user, j->ip);
		audit_login(d, j->user, "login", json_pack("{s:b,s:s}", "ok", 0,
		    "ip", j->ip));
		reply_json(req, 401, json_pack("{s:{s:s,s:s}}", "error", "code",
		    "unauthorized", "message", "wrong user name or password"));
		return;
	}
	log_info("%s logged in from %s", who.name, j->ip);
	audit_login(d, who.name, "login", json_pack("{s:b,s:s}", "ok", 1,
	    "ip", j->ip));
	/* Secure only with TLS: over plain HTTP on loopback a browser would
	 * not send a Secure cookie back; behind a TLS proxy the proxy adds it
	 * (docs/API.md). */
	cookie = xasprintf("%s=%s; HttpOnly; SameSite=Strict; Path=/%s",
	    AUTH_COOKIE, who.session_id, d->tls != NULL ? "; Secure" : "");
	evhttp_add_header(out, "Set-Cookie", cookie);
	free(cookie);
	reply_json(req, 200, json_pack("{s:s,s:s,s:s}", "user", who.name,
	    "role", auth_role_name(who.role), "csrf", who.csrf));
}

/* On the loop: the logins the KDF threads are through with. */
static void
logins_done(evutil_socket_t fd, short what, void *arg)
{
	struct login_pool *p = arg;
	struct login_job *list, *j;

	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->lock);
	while ((j = list) != NULL) {
		list = j->next;
		login_finish(p->d, j);
		p->pending--;
		for (struct login_job **x = &p->inflight; *x != NULL;
		    x = &(*x)->inext)
			if (*x == j) {
				*x = j->inext;
				break;
			}
		login_job_free(j);
	}
}

static struct login_pool *
login_pool_new(struct daemon *d, struct err *e)
{
	struct login_pool *p = xcalloc(1, sizeof(*p));

	p->d = d;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->wake = event_new(d->base, -1, 0, logins_done, p);
	for (; p->nth < KDF_THREADS; p->nth++)
		if (pthread_create(&p->th[p->nth], NULL, kdf_main, p) != 0) {
			err_set(e, "cannot start the login threads");
			break;
		}
	if (p->nth == 0) {
		event_free(p->wake);
		free(p);
		return NULL;
	}
	return p;
}

/* Logins still verifying are dropped unanswered: evhttp_free closes their
 * connections. */
static void
login_pool_free(struct login_pool *p)
{
	struct login_job *j;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	while ((j = p->todo) != NULL) {
		p->todo = j->next;
		login_job_free(j);
	}
	while ((j = p->done) != NULL) {
		p->done = j->next;
		login_job_free(j);
	}
	event_free(p->wake);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

/* POST /api/v1/login {"user", "password"}: a session cookie and its CSRF
 * token, answered once a KDF thread has checked the password. */
static void
post_login(struct daemon *d, struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct login_pool *p = d->logins;
	json_t *b = body_json(req, true);
	const char *user, *pw, *ip = peer_ip(req);
	struct login_job *j;
	int64_t retry = 0;
	int status;
	char *hash, ra[32];

	if (b == NULL)
		return;
	user = json_string_value(json_object_get(b, "user"));
	pw = json_string_value(json_object_get(b, "password"));
	if (user == NULL || pw == NULL || strlen(user) > 128 ||
	    strlen(pw) > 1024) {
		json_decref(b);
		reply_err(req, ERR_INVALID, "send {\"user\": NAME, \"password\":"
		    " PASSWORD}");
		return;
	}
	evhttp_add_header(out, "Cache-Control", "no-store");
	if (p->pending >= KDF_MAX_PENDING) {
		json_decref(b);
		evhttp_add_header(out, "Retry-After", "1");
		reply_err(req, ERR_UNAVAILABLE, "too many logins at once; try"
		    " again in a second");
		return;
	}
	{
		int same_user = 0, same_ip = 0;

		for (struct login_job *x = p->inflight; x != NULL; x = x->inext) {
			same_user += strcmp(x->user, user) == 0;
			same_ip += strcmp(x->ip, ip) == 0;
		}
		if (same_user >= KDF_MAX_PER_USER || same_ip >= KDF_MAX_PER_IP) {
			json_decref(b);
			evhttp_add_header(out, "Retry-After", "1");
			reply_json(req, 429, json_pack("{s:{s:s,s:s}}", "error",
			    "code", "too_many_attempts", "message", "a login for"
			    " this user or from this address is being checked;"
			    " try again in a second"));
			return;
		}
	}
	if (auth_login_start(d->auth, user, ip, util_mono_ms(), &hash,
	    &status, &retry) < 0) {
		/* Not audited: refused attempts cost nothing and would let
		 * anyone fill the audit trail. */
		log_warn("login as \"%s\" from %s refused: too many failed"
		    " attempts", user, ip);
		snprintf(ra, sizeof(ra), "%lld", (long long)retry);
		evhttp_add_header(out, "Retry-After", ra);
		reply_json(req, 429, json_pack("{s:{s:s,s:s}}", "error", "code",
		    "too_many_attempts", "message", "too many failed logins for"
		    " this user or address; try again in 15 minutes"));
		json_decref(b);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->req = req;
	snprintf(j->user, sizeof(j->user), "%s", user);
	snprintf(j->ip, sizeof(j->ip), "%s", ip);
	j->pw = xstrdup(pw);
	j->hash = hash;
	json_decref(b);
	p->pending++;
	j->inext = p->inflight;
	p->inflight = j;
	pthread_mutex_lock(&p->lock);
	if (p->todo_tail != NULL)
		p->todo_tail->next = j;
	else
		p->todo = j;
	p->todo_tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void
post_logout(struct daemon *d, struct evhttp_request *req,
    const struct auth_who *who)
{
	bool ended = who->session && auth_logout(d->auth, who->session_id);

	if (ended) {
		audit_login(d, who->name, "logout", json_pack("{s:s}", "ip",
		    peer_ip(req)));
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Set-Cookie", AUTH_COOKIE "=; Max-Age=0; HttpOnly;"
		    " SameSite=Strict; Path=/");
	}
	reply_json(req, 200, json_pack("{s:b}", "logged_out", ended));
}

static int64_t
query_int(struct evkeyvalq *q, const char *key, int64_t def)
{
	const char *v = evhttp_find_header(q, key);

	return v ? atoll(v) : def;
}

static void
get_healthz(struct daemon *d, struct evhttp_request *req)
{
	struct err e;

	if (queue_healthy(d->q, &e))
		reply_json(req, 200, json_pack("{s:s,s:b}", "status", "ok",
		    "draining", sched_draining(d->sched)));
	else
		reply_json(req, 503, json_pack("{s:s,s:s}", "status",
		    "degraded", "error", e.msg));
}

static void
get_metrics(struct daemon *d, struct evhttp_request *req)
{
	struct evbuffer *buf = evbuffer_new();
	struct err e;
	json_t *counts = queue_counts(d->q, &e), *v;
	const char *pb, *state;

	evbuffer_add_printf(buf, "# HELP clerk_items Work items by playbook"
	    " and state.\n# TYPE clerk_items gauge\n");
	json_object_foreach(counts, pb, v) {
		json_t *n;

		if (strcmp(pb, "*") == 0)
			continue;
		for (int s = 0; s < ITEM_NSTATES; s++) {
			n = json_object_get(v, item_state_name(s));
			evbuffer_add_printf(buf, "clerk_items{playbook=\"%s\","
			    "state=\"%s\"} %lld\n", pb, item_state_name(s),
			    (long long)json_integer_value(n));
		}
	}
	evbuffer_add_printf(buf, "# HELP clerk_queue_depth Items waiting to"
	    " run (queued + retry_wait).\n# TYPE clerk_queue_depth gauge\n");
	json_object_foreach(counts, pb, v) {
		if (strcmp(pb, "*") == 0)
			continue;
		evbuffer_add_printf(buf, "clerk_queue_depth{playbook=\"%s\"}"
		    " %lld\n", pb, (long long)(json_integer_value(
		    json_object_get(v, "queued")) + json_integer_value(
		    json_object_get(v, "retry_wait"))));
	}
	v = json_object_get(counts, "*");
	evbuffer_add_printf(buf, "# HELP clerk_open_escalations Escalations"
	    " waiting for a reviewer.\n# TYPE clerk_open_escalations gauge\n"
	    "clerk_open_escalations %lld\n", (long long)json_integer_value(
	    json_object_get(v, "open_escalations")));
	evbuffer_add_printf(buf, "# HELP clerk_overdue_escalations Open"
	    " escalations past their due time.\n"
	    "# TYPE clerk_overdue_escalations gauge\n"
	    "clerk_overdue_escalations %lld\n", (long long)json_integer_value(
	    json_object_get(v, "overdue_escalations")));
	evbuffer_add_printf(buf, "# HELP clerk_escalation_decision_seconds From"
	    " escalation to decision.\n"
	    "# TYPE clerk_escalation_decision_seconds summary\n"
	    "clerk_escalation_decision_seconds_sum %.3f\n"
	    "clerk_escalation_decision_seconds_count %lld\n",
	    (double)json_integer_value(json_object_get(v, "decision_ms_sum")) /
	    1000.0, (long long)json_integer_value(json_object_get(v,
	    "decided_escalations")));
	evbuffer_add_printf(buf, "# HELP clerk_up 1 while database writes"
	    " succeed.\n# TYPE clerk_up gauge\nclerk_up %d\n",
	    queue_healthy(d->q, NULL) ? 1 : 0);
	(void)state;
	json_decref(counts);
	sched_metrics(d->sched, buf);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

static void
get_status(struct daemon *d, struct evhttp_request *req)
{
	struct err e;
	json_t *counts = queue_counts(d->q, &e);
	bool healthy = queue_healthy(d->q, NULL);

	if (counts == NULL) {
		reply_e(req, &e);
		return;
	}
	reply_json(req, 200, json_pack("{s:s,s:i,s:I,s:s,s:s,s:i,s:b,s:b,"
	    "s:o,s:o,s:o}", "version", CLERK_VERSION, "pid", (int)getpid(),
	    "started", (json_int_t)d->started, "state_dir", d->cfg.state_dir,
	    "config", d->cfg.file ? d->cfg.file : "(defaults)", "workers",
	    d->cfg.workers, "draining", sched_draining(d->sched), "healthy",
	    healthy, "counts", counts, "playbooks",
	    sched_playbooks_json(d->sched), "errors",
	    sched_errors_json(d->sched)));
}

static void
post_run(struct daemon *d, struct evhttp_request *req, const char *name)
{
	json_t *b = body_json(req, false), *payload;
	const char *key;
	char *ptext, *kbuf = NULL;
	int64_t id = 0;
	bool dup = false;
	struct err e;
	int rc;

	if (b == NULL)
		return;
	payload = json_object_get(b, "payload");
	if (payload != NULL && !json_is_object(payload)) {
		json_decref(b);
		reply_err(req, ERR_INVALID, "\"payload\" must be a JSON object");
		return;
	}
	key = json_string_value(json_object_get(b, "key"));
	if (key == NULL) {
		unsigned r = (unsigned)random();

		kbuf = xasprintf("manual:%lld:%08x", (long long)util_now_ms(), r);
		key = kbuf;
	}
	ptext = payload ? json_dumps(payload, JSON_COMPACT) : xstrdup("{}");
	rc = sched_enqueue(d->sched, name, key, (int)json_integer_value(
	    json_object_get(b, "priority")), ptext, &id, &dup, &e);
	free(ptext);
	free(kbuf);
	json_decref(b);
	if (rc < 0)
		reply_e(req, &e);
	else
		reply_json(req, dup ? 200 : 201, json_pack("{s:I,s:b}", "item",
		    (json_int_t)id, "duplicate", dup));
}

static const char *acting_as(const struct auth_who *who, json_t *body);

/* POST playbooks/NAME/pause|resume, body {"reason"} (pause) and, for the
 * api.token, {"by"}. */
static void
post_pause(struct daemon *d, struct evhttp_request *req, const char *name,
    bool pause, const struct auth_who *who)
{
	json_t *b = body_json(req, false), *reason;
	struct err e;
	const char *by;

	if (b == NULL)
		return;
	reason = json_object_get(b, "reason");
	if (reason != NULL && !json_is_null(reason) && (!json_is_string(reason)
	    || !pause)) {
		json_decref(b);
		reply_err(req, ERR_INVALID, pause ? "\"reason\" must be a"
		    " string" : "a resume takes no \"reason\"");
		return;
	}
	/* (jansson has already refused text that is not UTF-8.) */
	if (json_is_string(reason) && json_string_length(reason) > 1000) {
		json_decref(b);
		reply_err(req, ERR_INVALID, "\"reason\" is longer than 1000"
		    " bytes; say it in a few words");
		return;
	}
	by = acting_as(who, b);
	if (sched_pause(d->sched, name, pause, by, json_is_string(reason) &&
	    json_string_length(reason) > 0 ? json_string_value(reason) : NULL,
	    &e) < 0)
		reply_e(req, &e);
	else
		reply_json(req, 200, json_pack("{s:s,s:b,s:s}", "playbook",
		    name, "paused", pause, "by", by));
	json_decref(b);
}

/*
 * POST /api/v1/playbooks/NAME/test: a dry run (tasks/dryrun.c) of the
 * loaded playbook NAME, or of a changed text of it, on a sample upload
 * and/or a payload. OCR takes seconds, so each runs on a thread of its
 * own and the loop answers when the thread wakes it with event_active(),
 * as logins do. It never runs a connector: clerkctl's override
 * (conn_override_base_url) is process-wide and would reach the real
 * runs, so every step that acts outside the run is stubbed. It writes
 * only into a temporary folder it removes, and reads from the work
 * folder. It changes nothing, so it is logged (with the user), not
 * audited.
 */
#define DRY_MAX 2

struct dry_job {
	struct dry_pool *p;
	struct evhttp_request *req;
	char user[128];
	enum auth_role role;
	char name[128];
	struct playbook *pb;        /* the loaded version, or NULL */
	char *text;                 /* playbook_text, or NULL */
	char *pb_dir;               /* where its templates/ are */
	char *sample_name;          /* NULL: the payload alone */
	char *sample_b64;
	json_t *payload, *approve;
	char *work_dir;
	int status;
	json_t *reply;
	int64_t started;
	pthread_t th;
	struct dry_job *next;       /* the pool's done list (locked) */
	struct dry_job *anext;      /* every started one (loop thread) */
};

struct dry_pool {
	struct daemon *d;
	pthread_mutex_t lock;
	struct dry_job *done;
	struct dry_job *all;
	int n;
	atomic_bool stopping;
	struct event *wake;
};

static void
dry_job_free(struct dry_job *j)
{
	if (j->pb != NULL)
		pb_unref(j->pb);
	free(j->text);
	free(j->pb_dir);
	free(j->sample_name);
	free(j->sample_b64);
	json_decref(j->payload);
	json_decref(j->approve);
	free(j->work_dir);
	json_decref(j->reply);
	free(j);
}

static json_t *
dry_error(int *status, int code, enum err_code c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static json_t *
dry_error(int *status, int code, enum err_code c, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	json_t *j;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	*status = code;
	j = json_pack("{s:{s:s,s:s}}", "error", "code", code_name(c),
	    "message", msg ? msg : "failed");
	free(msg);
	return j;
}

/* s with every from replaced by to. */
static char *
str_replace_all(const char *s, const char *from, const char *to)
{
	size_t nf = strlen(from), nt = strlen(to), n = 0;
	const char *p;
	char *out, *o;

	for (p = s; (p = strstr(p, from)) != NULL; p += nf)
		n++;
	out = o = xmalloc(strlen(s) + n * nt + 1);
	while ((p = strstr(s, from)) != NULL) {
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		memcpy(o, to, nt);
		o += nt;
		s = p + nf;
	}
	strcpy(o, s);
	return out;
}

/*
 * The playbook_text, loaded as clerkd loads a file: written into the
 * run's folder next to a link to the templates/ the loaded version uses
 * (ocr.check finds its template next to the playbook). Its problems say
 * "playbook_text:LINE: ..."; NULL with the 400 in *reply.
 */
static struct playbook *
dry_load_text(struct dry_job *j, const char *base, json_t **reply)
{
	char *dir = xasprintf("%s/playbook", base);
	char *file = xasprintf("%s/%s.cfg", dir, j->name);
	char *tmpl = xasprintf("%s/templates", dir), *real = NULL;
	struct pb_diag d = { .file = file };
	struct playbook *pb = NULL;
	json_t *probs;
	struct err e;

	err_clear(&e);
	if (util_mkdir_p(dir, 0700, &e) < 0 || util_write_file_atomic(file,
	    j->text, strlen(j->text), 0600, &e) < 0) {
		*reply = dry_error(&j->status, 500, ERR_FAIL, "%s", e.msg);
		goto out;
	}
	if (j->pb_dir != NULL) {
		real = xasprintf("%s/templates", j->pb_dir);
		if (access(real, F_OK) == 0 && symlink(real, tmpl) < 0) {
			*reply = dry_error(&j->status, 500, ERR_FAIL, "%s: %s",
			    tmpl, strerror(errno));
			goto out;
		}
	}
	if ((pb = pb_load(file, &d)) == NULL) {
		probs = json_array();
		for (size_t i = 0; i < d.n; i++) {
			char *a = str_replace_all(d.msgs[i], file,
			    "playbook_text");
			char *b = real ? str_replace_all(a, tmpl, real) :
			    xstrdup(a);

			json_array_append_new(probs, json_string(b));
			free(a);
			free(b);
		}
		*reply = dry_error(&j->status, 400, ERR_INVALID, "the playbook"
		    " text does not load (%zu problem%s; the first: %s);"
		    " nothing was run", d.n, d.n == 1 ? "" : "s", d.n > 0 ?
		    json_string_value(json_array_get(probs, 0)) : "?");
		json_object_set_new(json_object_get(*reply, "error"),
		    "problems", probs);
	} else if (pb->name == NULL || strcmp(pb->name, j->name) != 0) {
		*reply = dry_error(&j->status, 400, ERR_INVALID, "the playbook"
		    " text is playbook \"%s\", not \"%s\"; send it to"
		    " /api/v1/playbooks/%s/test or change its name",
		    pb->name ? pb->name : "?", j->name, pb->name ? pb->name :
		    "NAME");
		pb_unref(pb);
		pb = NULL;
	}
	pb_diag_clear(&d);
out:
	free(real);
	free(tmpl);
	free(file);
	free(dir);
	return pb;
}

/* Standard base64 (line breaks allowed); NULL when it is not. */
static unsigned char *
dry_b64_decode(const char *in, size_t *len)
{
	size_t n = strlen(in);
	unsigned char *out = xmalloc(n + 4);
	EVP_ENCODE_CTX *c = EVP_ENCODE_CTX_new();
	int a = 0, b = 0;

	EVP_DecodeInit(c);
	if (n > INT_MAX || EVP_DecodeUpdate(c, out, &a,
	    (const unsigned char *)in, (int)n) < 0 ||
	    EVP_DecodeFinal(c, out + a, &b) < 0) {
		free(out);
		out = NULL;
	}
	EVP_ENCODE_CTX_free(c);
	*len = (size_t)a + (size_t)b;
	return out;
}

/* On the job's thread: the whole run, from the temporary folder made to
 * the reply, the folder removed. */
static json_t *
dry_work(struct dry_job *j)
{
	const char *t = getenv("TMPDIR");
	char *base = xasprintf("%s/clerk-dry-run-XXXXXX", t && *t ? t : "/tmp");
	char *rundir = NULL;
	struct playbook *pb = NULL;
	json_t *payload = NULL, *run, *reply = NULL;
	struct dryrun_opts ro = {
		.work_dir = j->work_dir,
		.approve = j->approve,
		.run_overridden = false,
		.unstub_hint = "a dry run from clerkd never runs connectors;"
		    " to see the rest, run clerkctl playbook test with"
		    " --connector NAME=URL against a simulator",
		.stopping = &j->p->stopping,
	};
	struct err e;
	bool failed;

	err_clear(&e);
	j->status = 200;
	if (mkdtemp(base) == NULL) {
		reply = dry_error(&j->status, 500, ERR_FAIL, "cannot make a"
		    " temporary folder %s: %s (set TMPDIR for clerkd)", base,
		    strerror(errno));
		free(base);
		return reply;
	}
	if (j->text != NULL) {
		if ((pb = dry_load_text(j, base, &reply)) == NULL)
			goto out;
	} else
		pb = pb_ref(j->pb);
	rundir = xasprintf("%s/run", base);
	if (util_mkdir_p(rundir, 0700, &e) < 0) {
		reply = dry_error(&j->status, 500, ERR_FAIL, "%s", e.msg);
		goto out;
	}
	if (j->sample_b64 != NULL) {
		char *sdir = xasprintf("%s/sample", base);
		char *spath = xasprintf("%s/%s", sdir, j->sample_name);
		size_t len;
		unsigned char *bytes = dry_b64_decode(j->sample_b64, &len);

		if (bytes == NULL || len == 0)
			reply = dry_error(&j->status, 400, ERR_INVALID,
			    "sample.content is %s; send the file's bytes in"
			    " base64", bytes ? "empty" : "not base64");
		else if (util_mkdir_p(sdir, 0700, &e) < 0 ||
		    util_write_file_atomic(spath, bytes, len, 0600, &e) < 0 ||
		    (payload = dryrun_upload_payload(spath, rundir,
		    j->payload, &e)) == NULL)
			reply = dry_error(&j->status, 500, ERR_FAIL, "%s",
			    e.msg);
		free(bytes);
		free(spath);
		free(sdir);
		if (reply != NULL)
			goto out;
	} else
		payload = j->payload ? json_deep_copy(j->payload) :
		    json_object();
	run = dryrun_run(pb, &ro, payload, rundir, 1, &failed);
	reply = json_pack("{s:s,s:s,s:o,s:s,s:s,s:O,s:b,s:O,s:O,s:O}",
	    "playbook", pb->name, "source", j->text ? "playbook_text" :
	    "loaded", "file", j->text ? json_null() : json_string(pb->file),
	    "hash", pb->hash, "input", j->sample_name ? j->sample_name :
	    "the payload", "outcome", json_object_get(run, "outcome"),
	    "failed", failed, "payload", payload, "steps",
	    json_object_get(run, "steps"), "would_queue",
	    json_object_get(run, "would_queue"));
	json_decref(run);
out:
	if (reply != NULL && j->status == 200)
		json_object_set_new(reply, "ms", json_integer(util_mono_ms() -
		    j->started));
	json_decref(payload);
	if (pb != NULL)
		pb_unref(pb);
	dryrun_remove_tree(base);
	free(rundir);
	free(base);
	return reply;
}

static void *
dry_main(void *arg)
{
	struct dry_job *j = arg;
	struct dry_pool *p = j->p;
	json_t *reply = dry_work(j);

	/* the OCR engine this thread made goes with it */
	pthread_mutex_lock(&p->lock);
	j->reply = reply;
	j->next = p->done;
	p->done = j;
	event_active(p->wake, EV_READ, 0);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void
dry_unlink(struct dry_pool *p, struct dry_job *j)
{
	for (struct dry_job **x = &p->all; *x != NULL; x = &(*x)->anext)
		if (*x == j) {
			*x = j->anext;
			break;
		}
	p->n--;
}

/* On the loop: the dry runs whose threads are through. */
static void
dry_done(evutil_socket_t fd, short what, void *arg)
{
	struct dry_pool *p = arg;
	struct dry_job *list, *j;

	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->lock);
	while ((j = list) != NULL) {
		list = j->next;
		pthread_join(j->th, NULL);
		dry_unlink(p, j);
		log_emit(LL_INFO, 0, j->name, NULL, "dry run of playbook %s"
		    " (%s) on %s by %s: %s in %lld ms", j->name, j->text ?
		    "playbook_text" : "loaded", j->sample_name ?
		    j->sample_name : "the payload", j->user, j->status == 200 ?
		    json_string_value(json_object_get(j->reply, "outcome")) :
		    json_string_value(json_object_get(json_object_get(
		    j->reply, "error"), "message")), (long long)(util_mono_ms()
		    - j->started));
		if (j->status == 200 && !auth_sees_personal(j->role))
			auth_mask_json(j->reply);
		reply_json(j->req, j->status, j->reply);
		j->reply = NULL;
		dry_job_free(j);
	}
}

static struct dry_pool *
dry_pool_new(struct daemon *d)
{
	struct dry_pool *p = xcalloc(1, sizeof(*p));

	p->d = d;
	pthread_mutex_init(&p->lock, NULL);
	atomic_init(&p->stopping, false);
	p->wake = event_new(d->base, -1, 0, dry_done, p);
	return p;
}

/* Waits for the dry runs still going (they end with their step) and
 * drops their answers: evhttp_free closes the connections. */
static void
dry_pool_free(struct dry_pool *p)
{
	struct dry_job *j;

	if (p == NULL)
		return;
	atomic_store(&p->stopping, true);
	for (j = p->all; j != NULL; j = j->anext)
		pthread_join(j->th, NULL);
	while ((j = p->all) != NULL) {
		p->all = j->anext;
		dry_job_free(j);
	}
	event_free(p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* A file name for the sample: no folder, no hidden name, printable. */
static bool
dry_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 200 || s[0] == '.')
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c == '/' || *c == '\\' || *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* POST playbooks/NAME/test {"payload"?, "sample": {"name", "content"}?,
 * "approve"?, "playbook_text"?}: checked here, run on a thread. */
static void
post_test(struct daemon *d, struct evhttp_request *req, const char *name,
    const struct auth_who *who)
{
	json_t *b = body_json(req, false), *payload, *sample, *approve, *text;
	const char *sname = NULL, *content = NULL;
	struct dry_pool *p = d->dryruns;
	struct playbook *pb;
	struct dry_job *j;
	char *msg;

	if (b == NULL)
		return;
	payload = json_object_get(b, "payload");
	sample = json_object_get(b, "sample");
	approve = json_object_get(b, "approve");
	text = json_object_get(b, "playbook_text");
	if (payload != NULL && !json_is_null(payload) &&
	    !json_is_object(payload)) {
		reply_err(req, ERR_INVALID, "\"payload\" must be a JSON object");
		goto out;
	}
	if (approve != NULL && !json_is_null(approve) &&
	    !json_is_object(approve)) {
		reply_err(req, ERR_INVALID, "\"approve\" must be a JSON object,"
		    " the decision's payload, e.g. {\"fields\": {\"name\":"
		    " \"...\"}}");
		goto out;
	}
	if (text != NULL && !json_is_null(text) && (!json_is_string(text) ||
	    json_string_length(text) == 0)) {
		reply_err(req, ERR_INVALID, "\"playbook_text\" must be the"
		    " playbook's text, a string");
		goto out;
	}
	if (sample != NULL && !json_is_null(sample)) {
		sname = json_string_value(json_object_get(sample, "name"));
		content = json_string_value(json_object_get(sample, "content"));
		if (!json_is_object(sample) || sname == NULL || content == NULL) {
			reply_err(req, ERR_INVALID, "\"sample\" must be"
			    " {\"name\": \"form.png\", \"content\": \"<the"
			    " file in base64>\"}");
			goto out;
		}
		if (!dry_name_ok(sname)) {
			reply_err(req, ERR_INVALID, "sample.name must be a file"
			    " name (no folder, not hidden, at most 200 bytes)");
			goto out;
		}
	}
	pb = sched_playbook_ref(d->sched, name);
	if (pb == NULL && !json_is_string(text)) {
		msg = xasprintf("no playbook \"%s\" is loaded; send its text"
		    " as \"playbook_text\" to dry-run one not yet deployed",
		    name);
		reply_err(req, ERR_NOTFOUND, msg);
		free(msg);
		goto out;
	}
	if (p->n >= DRY_MAX) {
		if (pb != NULL)
			pb_unref(pb);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "5");
		reply_json(req, 429, json_pack("{s:{s:s,s:s}}", "error", "code",
		    "busy", "message", "two dry runs are running already; try"
		    " again when one has finished"));
		goto out;
	}
	j = xcalloc(1, sizeof(*j));
	j->p = p;
	j->req = req;
	snprintf(j->user, sizeof(j->user), "%s", who->name);
	j->role = who->role;
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->pb = pb;
	if (json_is_string(text))
		j->text = xstrdup(json_string_value(text));
	if (pb != NULL) {
		char *tmp = xstrdup(pb->file);

		j->pb_dir = xstrdup(dirname(tmp));
		free(tmp);
	} else if (d->cfg.playbook_dir != NULL)
		j->pb_dir = xstrdup(d->cfg.playbook_dir);
	if (sname != NULL) {
		j->sample_name = xstrdup(sname);
		j->sample_b64 = xstrdup(content);
	}
	if (json_is_object(payload))
		j->payload = json_incref(payload);
	if (json_is_object(approve))
		j->approve = json_deep_copy(approve);
	j->work_dir = xstrdup(d->cfg.work_dir);
	j->started = util_mono_ms();
	if (pthread_create(&j->th, NULL, dry_main, j) != 0) {
		dry_job_free(j);
		reply_err(req, ERR_UNAVAILABLE, "cannot start a thread for the"
		    " dry run; try again later");
		goto out;
	}
	j->anext = p->all;
	p->all = j;
	p->n++;
out:
	json_decref(b);
}

static void
item_action(struct daemon *d, struct evhttp_request *req, int64_t id,
    enum qop op, const struct auth_who *who)
{
	struct qreq r;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.u.item_op.item = id;
	r.u.item_op.by = who->api_token ? NULL : who->name;
	if (queue_exec(d->q, &r) < 0) {
		reply_e(req, &r.err);
		return;
	}
	log_emit(LL_INFO, id, NULL, NULL, "%s by an operator",
	    op == QOP_ITEM_RETRY ? "queued again" : "cancelled");
	reply_json(req, 200, json_pack("{s:I}", "item", (json_int_t)id));
}

/* Who the store records: the user, except that the api.token (scripts,
 * clerkctl) may name the person it acts for in "by". */
static const char *
acting_as(const struct auth_who *who, json_t *body)
{
	const char *by = json_string_value(json_object_get(body, "by"));

	if (!who->api_token)
		return who->name;
	return by ? by : "api";
}

static void
post_decide(struct daemon *d, struct evhttp_request *req, int64_t id,
    const struct auth_who *who)
{
	json_t *b = body_json(req, true), *payload;
	const char *dec, *by, *reason;
	char *ptext = NULL;
	struct qreq r;
	int di;

	if (b == NULL)
		return;
	dec = json_string_value(json_object_get(b, "decision"));
	if (dec == NULL || (di = decision_parse(dec)) < 0) {
		json_decref(b);
		reply_err(req, ERR_INVALID, "\"decision\" must be approve,"
		    " reject, retry or resume");
		return;
	}
	by = acting_as(who, b);
	reason = json_string_value(json_object_get(b, "reason"));
	payload = json_object_get(b, "payload");
	if (di == DEC_APPROVE) {
		struct err e;

		/* A correction that would not pass, or an approval of values
		 * that are not valid, is refused now, with why, not escalated
		 * again after the reviewer has moved on. */
		if (sched_check_decision(d->sched, id, json_is_object(payload) ?
		    payload : NULL, &e) < 0) {
			json_decref(b);
			reply_e(req, &e);
			return;
		}
	}
	if (payload != NULL)
		ptext = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
	memset(&r, 0, sizeof(r));
	r.op = QOP_DECIDE;
	r.u.decide.escalation = id;
	r.u.decide.decision = (enum decision)di;
	r.u.decide.by = by;
	r.u.decide.reason = reason;
	r.u.decide.payload = ptext;
	if (queue_exec(d->q, &r) < 0)
		reply_e(req, &r.err);
	else {
		log_emit(LL_INFO, r.u.decide.item, NULL, NULL, "escalation %lld"
		    " decided: %s by %s", (long long)id, dec, r.u.decide.by);
		reply_json(req, 200, json_pack("{s:I,s:s}", "item",
		    (json_int_t)r.u.decide.item, "decision", dec));
	}
	free(ptext);
	json_decref(b);
}

/* by_due: the list is in (due, id) order and its cursor is "DUE:ID". */
/* A reviewer's claim on an escalation: {"by", "minutes"} (default 15). */
static void
post_claim(struct daemon *d, struct evhttp_request *req, int64_t id,
    bool claim, const struct auth_who *who)
{
	json_t *b = body_json(req, false);
	json_t *m;
	const char *by;
	struct qreq r;

	if (b == NULL)
		return;
	by = acting_as(who, b);
	m = json_object_get(b, "minutes");
	memset(&r, 0, sizeof(r));
	r.op = claim ? QOP_ESC_CLAIM : QOP_ESC_RELEASE;
	r.u.esc_claim.escalation = id;
	r.u.esc_claim.by = by;
	r.u.esc_claim.ms = (m != NULL ? json_integer_value(m) : 15) * 60000;
	if (queue_exec(d->q, &r) < 0)
		reply_e(req, &r.err);
	else
		reply_json(req, 200, json_pack("{s:I,s:s,s:I}", "escalation",
		    (json_int_t)id, "claimed_by", claim ? r.u.esc_claim.by : "",
		    "until", (json_int_t)r.u.esc_claim.until));
	json_decref(b);
}

/* {"to": USER}: a supervisor re-assigns any open escalation to a
 * reviewer; a reviewer hands over one they hold. */
static void
post_assign(struct daemon *d, struct evhttp_request *req, int64_t id,
    const struct auth_who *who)
{
	json_t *b = body_json(req, true);
	const char *to;
	struct qreq r;
	char msg[300];

	if (b == NULL)
		return;
	to = json_string_value(json_object_get(b, "to"));
	if (to == NULL || to[0] == '\0' || strlen(to) > 64) {
		json_decref(b);
		reply_err(req, ERR_INVALID, "send {\"to\": USER}, the reviewer"
		    " to assign the escalation to");
		return;
	}
	if (!auth_can_review(d->auth, to)) {
		snprintf(msg, sizeof(msg), "\"%s\" is not a user who may decide"
		    " escalations (a reviewer, supervisor or admin in the users"
		    " file)", to);
		json_decref(b);
		reply_err(req, ERR_INVALID, msg);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.op = QOP_ESC_ASSIGN;
	r.u.esc_assign.escalation = id;
	r.u.esc_assign.by = acting_as(who, b);
	r.u.esc_assign.to = to;
	r.u.esc_assign.any = auth_allowed(who->role, AUTH_ASSIGN_ANY);
	if (queue_exec(d->q, &r) < 0)
		reply_e(req, &r.err);
	else {
		log_info("escalation %lld assigned to %s by %s", (long long)id,
		    to, r.u.esc_assign.by);
		reply_json(req, 200, json_pack("{s:I,s:s,s:s,s:s}",
		    "escalation", (json_int_t)id, "assignee", to, "from",
		    r.u.esc_assign.from, "by", r.u.esc_assign.by));
	}
	json_decref(b);
}

/* {"text": "..."}: a note on the escalation, kept and audited. */
static void
post_comment(struct daemon *d, struct evhttp_request *req, int64_t id,
    const struct auth_who *who)
{
	json_t *b = body_json(req, true);
	struct qreq r;

	if (b == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.op = QOP_ESC_COMMENT;
	r.u.esc_comment.escalation = id;
	r.u.esc_comment.by = acting_as(who, b);
	r.u.esc_comment.text = json_string_value(json_object_get(b, "text"));
	if (r.u.esc_comment.text == NULL) {
		json_decref(b);
		reply_err(req, ERR_INVALID, "send {\"text\": \"...\"}");
		return;
	}
	if (queue_exec(d->q, &r) < 0)
		reply_e(req, &r.err);
	else
		reply_json(req, 201, json_pack("{s:I,s:I,s:s}", "escalation",
		    (json_int_t)id, "comment", (json_int_t)r.u.esc_comment.id,
		    "author", r.u.esc_comment.by));
	json_decref(b);
}

/*
 * GET /api/v1/items/ID/artifacts/NAME: a file a step kept for the item
 * (the OCR step's page images) from WORK_DIR/artifacts/ID/. The name is
 * taken as it came, still percent-encoded, and must be a plain file name,
 * so no request reaches a file outside that folder.
 */
static void
get_artifact(struct daemon *d, struct evhttp_request *req, int64_t id,
    const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".png", "image/png" }, { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" }, { ".tif", "image/tiff" },
		{ ".tiff", "image/tiff" }, { ".pdf", "application/pdf" },
		{ ".json", "application/json" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *type = "application/octet-stream";
	size_t n = strlen(name), len;
	struct evbuffer *buf;
	struct err e;
	json_t *it;
	char *path, *data;
	bool ok = n > 0 && n <= 128 && name[0] != '.';

	for (const char *c = name; ok && *c != '\0'; c++)
		if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' ||
		    *c == '_') || (c[0] == '.' && c[1] == '.'))
			ok = false;
	if (!ok) {
		reply_err(req, ERR_INVALID, "an artifact name is a plain file"
		    " name: letters, digits, '.', '_' and '-', not starting with"
		    " '.', without '..' or '/'");
		return;
	}
	if ((it = queue_item_get(d->q, id, &e)) == NULL) {
		reply_e(req, &e);
		return;
	}
	json_decref(it);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t el = strlen(types[i].ext);

		if (n > el && strcasecmp(name + n - el, types[i].ext) == 0)
			type = types[i].type;
	}
	path = xasprintf("%s/artifacts/%lld/%s", d->cfg.work_dir,
	    (long long)id, name);
	data = util_read_file(path, &len, NULL);
	free(path);
	if (data == NULL) {
		reply_err(req, ERR_NOTFOUND, "item has no such artifact");
		return;
	}
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Cache-Control", "private, max-age=300");
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none';"
	    " sandbox");
	buf = evbuffer_new();
	evbuffer_add(buf, data, len);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
	free(data);
}

/*
 * A playbook's run history: the playbook as listed, with its next ten
 * firings, and what the store counts over the last `hours` in buckets
 * of `bucket` (a duration; default 1h, or 1d beyond two days).
 */
static void
get_history(struct daemon *d, struct evhttp_request *req, const char *name,
    struct evkeyvalq *q)
{
	int64_t hours = query_int(q, "hours", 24), bucket, nb, now = util_now_ms();
	const char *b = evhttp_find_header(q, "bucket");
	json_t *pb, *h;
	struct err e;
	char *msg;

	if (hours < 1 || hours > 24 * 400) {
		reply_err(req, ERR_INVALID, "hours is 1 to 9600 (400 days)");
		return;
	}
	bucket = hours > 48 ? 86400000 : 3600000;
	err_clear(&e);
	if (b != NULL && util_parse_duration(b, &bucket, &e) < 0) {
		msg = xasprintf("bucket: %s", e.msg);
		reply_err(req, ERR_INVALID, msg);
		free(msg);
		return;
	}
	nb = bucket > 0 ? (hours * 3600000 + bucket - 1) / bucket : 0;
	if (bucket < 60000 || nb > 500) {
		reply_err(req, ERR_INVALID, "bucket is a duration of at least 1m,"
		    " and the window holds at most 500 of them");
		return;
	}
	if ((pb = sched_playbook_json(d->sched, name, 10)) == NULL) {
		msg = xasprintf("no playbook \"%s\" is loaded", name);
		reply_err(req, ERR_NOTFOUND, msg);
		free(msg);
		return;
	}
	/* The buckets end now: the last one holds the latest items. */
	if ((h = queue_history(d->q, name, now - nb * bucket, bucket,
	    &e)) == NULL) {
		json_decref(pb);
		reply_e(req, &e);
		return;
	}
	json_object_set_new(h, "until", json_integer(now));
	json_object_set_new(h, "bucket_count", json_integer(nb));
	json_object_set_new(pb, "history", h);
	reply_json(req, 200, pb);
}

/* The audit trail after row `after`, oldest first. */
static void
get_audit(struct daemon *d, struct evhttp_request *req, int64_t after,
    int64_t limit, const struct auth_who *who)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	json_t *rows = json_array();
	struct err e;
	FILE *f;
	int64_t n;

	if (limit <= 0 || limit > 1000)
		limit = 100;
	f = open_memstream(&text, &len);
	if (f == NULL) {
		reply_err(req, ERR_FAIL, "out of memory");
		json_decref(rows);
		return;
	}
	n = audit_export(d->cfg.database, after, limit, f, &e);
	fclose(f);
	if (n < 0) {
		reply_e(req, &e);
		json_decref(rows);
		free(text);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		json_array_append_new(rows, json_loads(line, 0, NULL));
	free(text);
	mask_for(who, rows);
	reply_json(req, 200, json_pack("{s:o,s:o}", "audit", rows, "next",
	    (int64_t)json_array_size(rows) == limit ? json_incref(json_object_get(
	    json_array_get(rows, json_array_size(rows) - 1), "id")) :
	    json_null()));
}

static void
list_reply(struct evhttp_request *req, json_t *arr, const char *key,
    int limit, bool by_due, struct err *e)
{
	json_t *next = json_null(), *last;
	size_t n;

	if (arr == NULL) {
		reply_e(req, e);
		return;
	}
	n = json_array_size(arr);
	if (n > 0 && (int)n >= (limit > 0 ? limit : 100)) {
		last = json_array_get(arr, n - 1);
		json_decref(next);
		if (by_due)
			next = json_sprintf("%" JSON_INTEGER_FORMAT ":%"
			    JSON_INTEGER_FORMAT, json_integer_value(
			    json_object_get(last, "due")), json_integer_value(
			    json_object_get(last, "id")));
		else
			next = json_incref(json_object_get(last, "id"));
	}
	reply_json(req, 200, json_pack("{s:o,s:o}", key, arr, "next", next));
}

/* The escalation list as the store writes it, for the roles that see it
 * unmasked; the reply is list_reply's. */
static void
list_reply_json(struct evhttp_request *req, struct daemon *d,
    const struct esc_filter *f)
{
	struct esc_page pg;
	struct evbuffer *buf;
	struct err e;
	char *text = queue_escalation_list_json(d->q, f, &pg, &e);

	if (text == NULL) {
		reply_e(req, &e);
		return;
	}
	buf = evbuffer_new();
	/* add, not printf: a page is tens of KB. */
	evbuffer_add(buf, "{\"escalations\":", 15);
	evbuffer_add(buf, text, strlen(text));
	evbuffer_add(buf, ",\"next\":", 8);
	if (pg.n > 0 && pg.n >= (f->limit > 0 ? f->limit : 100)) {
		if (!f->by_id)
			evbuffer_add_printf(buf, "\"%lld:%lld\"}\n",
			    (long long)pg.last_due, (long long)pg.last_id);
		else
			evbuffer_add_printf(buf, "%lld}\n",
			    (long long)pg.last_id);
	} else
		evbuffer_add_printf(buf, "null}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
	free(text);
}

/* "/api/v1/items/42/retry" -> id 42, rest "retry". */
static int64_t
path_id(const char *p, const char **rest)
{
	char *end;
	long long id = strtoll(p, &end, 10);

	if (end == p || id <= 0)
		return -1;
	*rest = *end == '/' ? end + 1 : end;
	return id;
}

/*
 * The reviewer UI's files from the web folder: plain names only, so no
 * request can leave the folder.
 */
static void
get_static(struct daemon *d, struct evhttp_request *req, const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
	};
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *type = NULL;
	struct evbuffer *buf;
	char *path, *data;
	size_t len, n = strlen(name);

	for (const char *p = name; *p != '\0'; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' ||
		    *p == '_') || (p[0] == '.' && p[1] == '.'))
			n = 0;
	for (size_t i = 0; n > 0 && i < sizeof(types) / sizeof(types[0]); i++) {
		size_t el = strlen(types[i].ext);

		if (n > el && strcmp(name + n - el, types[i].ext) == 0)
			type = types[i].type;
	}
	if (type == NULL || d->cfg.web_dir == NULL) {
		reply_err(req, ERR_NOTFOUND, "no such file");
		return;
	}
	path = xasprintf("%s/%s", d->cfg.web_dir, name);
	data = util_read_file(path, &len, NULL);
	free(path);
	if (data == NULL) {
		reply_err(req, ERR_NOTFOUND, "no such file");
		return;
	}
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'self';"
	    " img-src 'self' data: blob:; frame-ancestors 'none'");
	buf = evbuffer_new();
	evbuffer_add(buf, data, len);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
	free(data);
}

static void
route(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri), *rest;
	struct evkeyvalq q = { 0 };
	struct auth_who who;
	struct err e;
	int64_t id;
	bool get = m == EVHTTP_REQ_GET, post = m == EVHTTP_REQ_POST;

	if (path == NULL)
		path = "/";
	err_clear(&e);
	if (strcmp(path, "/healthz") == 0 && get) {
		get_healthz(d, req);
		return;
	}
	if (strcmp(path, "/metrics") == 0 && get) {
		get_metrics(d, req);
		return;
	}
	if (get && (strcmp(path, "/") == 0 || strncmp(path, "/web/", 5) == 0)) {
		get_static(d, req, strcmp(path, "/") == 0 ? "index.html" :
		    path + 5);
		return;
	}
	if (strncmp(path, "/api/v1/", 8) != 0) {
		reply_err(req, ERR_NOTFOUND, "no such endpoint; see docs/API.md");
		return;
	}
	if (strcmp(path + 8, "login") == 0 && post) {
		post_login(d, req);
		return;
	}
	/* The page asks who is signed in before anyone is: "nobody" is an
	 * answer, not an error (a 401 would be a console error in every
	 * browser that opens the page). A refused token is still 401. */
	if (strcmp(path + 8, "me") == 0 && get && evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization") == NULL &&
	    !signed_in(d, req)) {
		reply_json(req, 200, json_pack("{s:b}", "authenticated", 0));
		return;
	}
	if (!authenticate(d, req, &who))
		return;
	/* A browser sends the cookie with any request to us, even one a
	 * hostile page makes it send; only our own page knows the token. */
	if (post && who.session && !auth_csrf_ok(&who, evhttp_find_header(
	    evhttp_request_get_input_headers(req), "X-CSRF-Token"))) {
		forbidden(req, "csrf", "a request with the session cookie must"
		    " send the session's CSRF token (from login or"
		    " /api/v1/me) in X-CSRF-Token");
		return;
	}
	if (get && !permit(req, &who, AUTH_READ))
		return;
	evhttp_parse_query_str(evhttp_uri_get_query(uri) ?
	    evhttp_uri_get_query(uri) : "", &q);
	path += 8;

	if (strcmp(path, "logout") == 0 && post)
		post_logout(d, req, &who);
	else if (strcmp(path, "me") == 0 && get) {
		json_t *me = json_pack("{s:b,s:s,s:s,s:s}", "authenticated", 1,
		    "user", who.name, "role", auth_role_name(who.role), "via",
		    who.session ? "session" : "token");

		/* The page can fetch its CSRF token again after a reload;
		 * no other origin can read this reply. */
		if (who.session)
			json_object_set_new(me, "csrf", json_string(who.csrf));
		reply_json(req, 200, me);
	} else if (strcmp(path, "status") == 0 && get)
		get_status(d, req);
	else if (strcmp(path, "playbooks") == 0 && get)
		reply_json(req, 200, json_pack("{s:o,s:o}", "playbooks",
		    sched_playbooks_json(d->sched), "errors",
		    sched_errors_json(d->sched)));
	else if (strncmp(path, "playbooks/", 10) == 0 && get) {
		char name[128];
		const char *slash = strchr(path + 10, '/');

		if (slash == NULL || strcmp(slash, "/history") != 0 ||
		    (size_t)(slash - path - 10) >= sizeof(name))
			reply_err(req, ERR_NOTFOUND, "use GET"
			    " /api/v1/playbooks/NAME/history");
		else if (permit(req, &who, AUTH_HISTORY)) {
			memcpy(name, path + 10, (size_t)(slash - path - 10));
			name[slash - path - 10] = '\0';
			get_history(d, req, name, &q);
		}
	} else if (strncmp(path, "playbooks/", 10) == 0 && post) {
		char name[128];
		const char *slash = strchr(path + 10, '/');
		enum auth_action act = AUTH_RUN;

		if (slash != NULL && (strcmp(slash, "/pause") == 0 ||
		    strcmp(slash, "/resume") == 0))
			act = AUTH_PAUSE;
		else if (slash != NULL && strcmp(slash, "/test") == 0)
			act = AUTH_DRYRUN;
		if (!permit(req, &who, act))
			goto out;
		if (slash == NULL || (act == AUTH_RUN &&
		    strcmp(slash, "/run") != 0) ||
		    (size_t)(slash - path - 10) >= sizeof(name))
			reply_err(req, ERR_NOTFOUND, "use POST"
			    " /api/v1/playbooks/NAME/run, /pause, /resume or"
			    " /test");
		else {
			memcpy(name, path + 10, (size_t)(slash - path - 10));
			name[slash - path - 10] = '\0';
			if (act == AUTH_RUN)
				post_run(d, req, name);
			else if (act == AUTH_DRYRUN)
				post_test(d, req, name, &who);
			else
				post_pause(d, req, name, strcmp(slash,
				    "/pause") == 0, &who);
		}
	} else if (strcmp(path, "reload") == 0 && post) {
		if (permit(req, &who, AUTH_RELOAD))
			reply_json(req, 200, daemon_reload(d, who.name));
	}
	else if (strcmp(path, "items") == 0 && get) {
		struct item_filter f = { 0 };
		const char *st = evhttp_find_header(&q, "state");

		f.playbook = evhttp_find_header(&q, "playbook");
		f.state = st ? item_state_parse(st) : -1;
		f.before_id = query_int(&q, "before", 0);
		f.limit = (int)query_int(&q, "limit", 100);
		if (st != NULL && f.state < 0)
			reply_err(req, ERR_INVALID, "unknown state; use queued,"
			    " running, retry_wait, escalated, done, rejected"
			    " or cancelled");
		else
			list_reply(req, mask_for(&who, queue_item_list(d->q,
			    &f, &e)), "items", f.limit, false, &e);
	} else if (strncmp(path, "items/", 6) == 0 &&
	    (id = path_id(path + 6, &rest)) > 0) {
		json_t *it;

		if (get && *rest == '\0') {
			if ((it = queue_item_get(d->q, id, &e)) == NULL)
				reply_e(req, &e);
			else
				reply_json(req, 200, mask_for(&who, it));
		} else if (get && strncmp(rest, "artifacts/", 10) == 0)
			get_artifact(d, req, id, rest + 10);
		else if (post && (strcmp(rest, "retry") == 0 ||
		    strcmp(rest, "cancel") == 0)) {
			if (!permit(req, &who, AUTH_ITEM_OP))
				goto out;
			if (strcmp(rest, "retry") == 0) {
				item_action(d, req, id, QOP_ITEM_RETRY, &who);
				sched_kick(d->sched);
			} else
				item_action(d, req, id, QOP_ITEM_CANCEL, &who);
		} else
			reply_err(req, ERR_NOTFOUND, "no such item endpoint");
	} else if (strcmp(path, "audit") == 0 && get) {
		if (permit(req, &who, AUTH_READ_AUDIT))
			get_audit(d, req, query_int(&q, "after", 0),
			    query_int(&q, "limit", 100), &who);
	}
	else if (strcmp(path, "escalations") == 0 && get) {
		struct esc_filter f = { 0 };
		const char *open = evhttp_find_header(&q, "open"), *after;

		const char *st = evhttp_find_header(&q, "state");
		const char *asg = evhttp_find_header(&q, "assignee");
		const char *od = evhttp_find_header(&q, "overdue");
		const char *sort = evhttp_find_header(&q, "sort");

		f.playbook = evhttp_find_header(&q, "playbook");
		f.reason = evhttp_find_header(&q, "reason");
		f.open_only = open == NULL || strcmp(open, "0") != 0;
		if (st != NULL && strcmp(st, "open") != 0 &&
		    strcmp(st, "all") != 0) {
			reply_err(req, ERR_INVALID, "state is open (the default)"
			    " or all");
			goto out;
		}
		if (st != NULL)
			f.open_only = strcmp(st, "open") == 0;
		if (asg != NULL)
			f.assignee = strcmp(asg, "me") == 0 ? who.name :
			    strcmp(asg, "none") == 0 ? "" : asg;
		if (od != NULL && strcmp(od, "1") != 0 && strcmp(od, "0") != 0) {
			reply_err(req, ERR_INVALID, "overdue is 1 (only those"
			    " past their due time) or 0");
			goto out;
		}
		f.overdue = od != NULL && strcmp(od, "1") == 0;
		f.text = evhttp_find_header(&q, "q");
		if (f.text != NULL && f.text[0] == '\0')
			f.text = NULL;
		else if (f.text != NULL && strlen(f.text) > 200) {
			reply_err(req, ERR_INVALID, "q (the text to look for) is"
			    " at most 200 bytes");
			goto out;
		}
		if (sort != NULL && strcmp(sort, "due") != 0 &&
		    strcmp(sort, "id") != 0) {
			reply_err(req, ERR_INVALID, "sort is due (open ones: by due"
			    " time, then id; the default) or id (oldest first)");
			goto out;
		}
		f.by_id = !f.open_only || (sort != NULL && strcmp(sort, "id") ==
		    0);
		f.brief = !(evhttp_find_header(&q, "context") != NULL &&
		    strcmp(evhttp_find_header(&q, "context"), "1") == 0);
		after = evhttp_find_header(&q, "after");
		if (after != NULL && !f.by_id &&
		    sscanf(after, "%" SCNd64 ":%" SCNd64, &f.after_due,
		    &f.after_id) != 2) {
			reply_err(req, ERR_INVALID, "after must be the \"next\""
			    " cursor of the previous page (DUE:ID)");
			goto out;
		}
		if (after != NULL && f.by_id)
			f.after_id = atoll(after);
		f.limit = (int)query_int(&q, "limit", 100);
		if (f.brief && auth_sees_personal(who.role))
			list_reply_json(req, d, &f);
		else
			list_reply(req, mask_for(&who, queue_escalation_list(d->q,
			    &f, &e)), "escalations", f.limit, !f.by_id, &e);
	} else if (strncmp(path, "escalations/", 12) == 0 &&
	    (id = path_id(path + 12, &rest)) > 0) {
		json_t *es;

		if (get && *rest == '\0') {
			if ((es = queue_escalation_get(d->q, id, &e)) == NULL)
				reply_e(req, &e);
			else {
				sched_annotate_escalation(d->sched, es);
				reply_json(req, 200, mask_for(&who, es));
			}
		} else if (post && strcmp(rest, "decide") == 0) {
			if (!permit(req, &who, AUTH_DECIDE))
				goto out;
			post_decide(d, req, id, &who);
			sched_kick(d->sched);
		} else if (post && (strcmp(rest, "claim") == 0 ||
		    strcmp(rest, "release") == 0)) {
			if (permit(req, &who, AUTH_CLAIM))
				post_claim(d, req, id, strcmp(rest, "claim") ==
				    0, &who);
		} else if (post && strcmp(rest, "assign") == 0) {
			if (permit(req, &who, AUTH_ASSIGN))
				post_assign(d, req, id, &who);
		} else if (post && strcmp(rest, "comments") == 0) {
			if (permit(req, &who, AUTH_COMMENT))
				post_comment(d, req, id, &who);
		} else
			reply_err(req, ERR_NOTFOUND, "no such escalation"
			    " endpoint");
	} else
		reply_err(req, ERR_NOTFOUND, "no such endpoint or method; see"
		    " docs/API.md");
out:
	evhttp_clear_headers(&q);
}

/* Each connection's TLS session, handed to evhttp in place of a plain
 * bufferevent (evhttp sets the socket on it after accept). */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	SSL_CTX *ctx = arg;
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void
tls_err(struct err *e, const char *what, const char *path)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	err_setc(e, ERR_INVALID, "%s: %s: %s (tls_cert and tls_key are PEM"
	    " files: the certificate, with its chain, and its private key)",
	    path, what, buf);
	ERR_clear_error();
}

static SSL_CTX *
tls_ctx(const struct config *c, struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		tls_err(e, "cannot set up TLS", c->tls_cert);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
		tls_err(e, "cannot load the certificate", c->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM)
	    != 1) {
		tls_err(e, "cannot load the private key", c->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(e, "the private key does not match the certificate",
		    c->tls_key);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
http_start(struct daemon *d, struct err *e)
{
	struct evhttp_bound_socket *bound;
	evutil_socket_t fd;
	int one = 1;

	if (d->cfg.tls_cert != NULL && (d->tls = tls_ctx(&d->cfg, e)) == NULL)
		return -1;
	if ((d->logins = login_pool_new(d, e)) == NULL) {
		SSL_CTX_free(d->tls);
		d->tls = NULL;
		return -1;
	}
	d->dryruns = dry_pool_new(d);
	d->http = evhttp_new(d->base);
	if (d->tls != NULL)
		evhttp_set_bevcb(d->http, tls_bev, d->tls);
	evhttp_set_max_body_size(d->http, MAX_BODY);
	evhttp_set_max_headers_size(d->http, 16384);
	evhttp_set_timeout(d->http, 30);
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(d->http, route, d);
	if ((bound = evhttp_bind_socket_with_handle(d->http, d->cfg.listen_host,
	    (ev_uint16_t)d->cfg.listen_port)) == NULL) {
		err_set(e, "cannot listen on %s:%d (is another clerkd running,"
		    " or the port taken? set listen in the config)",
		    d->cfg.listen_host, d->cfg.listen_port);
		evhttp_free(d->http);
		d->http = NULL;
		login_pool_free(d->logins);
		d->logins = NULL;
		dry_pool_free(d->dryruns);
		d->dryruns = NULL;
		SSL_CTX_free(d->tls);
		d->tls = NULL;
		return -1;
	}
	/* evhttp writes a reply's headers and body separately; with Nagle the
	 * body's last segment then waits for the client's delayed ACK (40 ms
	 * on Linux), so a 30 KB list page took 43 ms instead of 1. Accepted
	 * sockets inherit the option from the listener. */
	fd = evhttp_bound_socket_get_fd(bound);
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		log_warn("TCP_NODELAY on the listener: %s", strerror(errno));
	return 0;
}

void
http_stop(struct daemon *d)
{
	login_pool_free(d->logins);
	d->logins = NULL;
	dry_pool_free(d->dryruns);
	d->dryruns = NULL;
	if (d->http != NULL)
		evhttp_free(d->http);
	d->http = NULL;
	SSL_CTX_free(d->tls);
	d->tls = NULL;
}
