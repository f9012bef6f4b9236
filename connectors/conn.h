/*
 * conn.h - connectors to legacy systems.
 *
 * A connector is declared in a playbook's top-level "connectors" group (or
 * a file the playbook @includes): base URL, login form, timeouts, limits,
 * circuit breaker, service hours. Its definition (struct conn_def) is
 * parsed with the playbook; its run-time state (session cookies, CSRF
 * token, breaker, rate and concurrency limits, a failed login) lives in one
 * process-wide struct conn per connector name, shared by every step and
 * every playbook that names it, and guarded by its own lock.
 *
 * Requests run synchronously on the calling thread (a step's worker
 * thread, never the event loop), one curl easy handle per request, with
 * connections and DNS shared per connector.
 */
#ifndef CLERK_CONN_H
#define CLERK_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libconfig.h>

#include "util.h"

/* A check or extraction on a response: "re:", "xpath:" or "json:". */
enum conn_probe_kind { CONN_RE, CONN_XPATH, CONN_JSON, CONN_LOCATION };

struct conn_probe {
	enum conn_probe_kind kind;
	char *expr;
	void *re;                  /* pcre2_code for CONN_RE / LOCATION */
};

/* Parses "re:...", "xpath:...", "json:a.b.0", "location:..." */
int conn_probe_parse(struct conn_probe *p, const char *spec, struct err *e);
void conn_probe_clear(struct conn_probe *p);

/* A body read through libcurl, NUL-terminated, refused past max bytes. */
struct conn_buf {
	char *p;
	size_t len, cap, max;
	bool overflow;
};

/* CURLOPT_WRITEFUNCTION for a struct conn_buf. */
size_t conn_buf_write(char *data, size_t size, size_t n, void *arg);

struct conn_resp {
	long status;
	char *ctype;               /* Content-Type, or NULL */
	char *location;            /* Location, or NULL */
	char *body;                /* NUL-terminated */
	size_t len;
	double ms;
	void *html;                /* parsed lazily (xmlDocPtr) */
	json_t *json;              /* parsed lazily */
	bool json_tried, html_tried;
};

void conn_resp_clear(struct conn_resp *r);
/*
 * 1: found, *value set (caller frees; the first capture group for "re:",
 * the string value for xpath/json); 0: not found; -1: the body could not be
 * parsed as the probe needs (not JSON, not XML).
 */
int conn_probe_eval(const struct conn_probe *p, struct conn_resp *r,
    char **value);

enum conn_body { CONN_BODY_NONE, CONN_BODY_FORM, CONN_BODY_MULTIPART,
    CONN_BODY_JSON, CONN_BODY_XML };

struct conn_field {
	char *name;
	char *value;               /* template */
	bool file;                 /* multipart: value names a file to upload */
};

struct conn_extract {
	char *name;
	struct conn_probe probe;
};

/* One request as a playbook writes it. */
struct conn_req {
	char *method;
	char *path;                /* template, appended to the base URL */
	enum conn_body body;
	struct conn_field *fields;
	size_t nfields;
	char *raw;                 /* JSON / XML body template */
	char *soap_action;
	bool csrf;                 /* send the session's CSRF token */
	long status[8];            /* accepted statuses; none = 200 */
	int nstatus;
	char *content_type;        /* expected prefix, e.g. "text/html" */
	struct conn_probe *ok;     /* every one must match */
	size_t nok;
	struct conn_probe biz;     /* a business refusal: its code */
	struct conn_probe biz_msg; /* and its message */
	bool has_biz, has_biz_msg;
	struct conn_extract *extract;
	size_t nextract;
};

/* Parses a request group: method, path, form|multipart|json|xml, ... */
int conn_req_parse(struct conn_req *r, const config_setting_t *s,
    struct err *e);
void conn_req_clear(struct conn_req *r);

struct conn_def;

/*
 * Finds connector `name` in the "connectors" group at the root of the
 * configuration s belongs to and parses it. Relative paths (calendar_file)
 * resolve against that file's folder. Errors are "file:line: message".
 */
struct conn_def *conn_def_load(const config_setting_t *s, const char *name,
    struct err *e);
void conn_def_free(struct conn_def *d);
const char *conn_def_name(const struct conn_def *d);

enum conn_outcome {
	CONN_OK,
	CONN_BUSINESS,             /* the system refused (biz code) */
	CONN_SYSTEM,               /* failed; nothing was processed */
	CONN_UNKNOWN,              /* failed after sending: may be processed */
	CONN_AUTH,                 /* the login was refused: stop */
	CONN_WAIT,                 /* not now: hours, maintenance */
};

/* What a CONN_WAIT (or a CONN_AUTH that is not the first) waits on. */
enum conn_wait_on {
	CONN_WAIT_NONE,
	CONN_WAIT_HOURS,           /* outside the service hours: no bound */
	CONN_WAIT_UNAVAILABLE,     /* maintenance: bounded by unavailable_max */
	CONN_WAIT_AUTH,            /* a refused login: bounded by auth_max */
};

const char *conn_outcome_name(enum conn_outcome o);

/* What one call gives back. */
struct conn_call {
	json_t *values;            /* extracted values */
	json_t *evidence;          /* array of exchanges, masked */
	char message[512];
	char code[64];             /* business code, or a reason */
	int64_t wait_until;        /* CONN_WAIT: ms */
	enum conn_wait_on wait_on;
	/* The connector's bound on that wait (unavailable_max, auth_max),
	 * in ms, counted by the caller from when its item began waiting on
	 * the same; 0 for a wait without one. */
	int64_t wait_max;
	bool auth_first;           /* CONN_AUTH: this call saw the refusal */
	struct conn_resp resp;     /* the last response (for probes) */
};

void conn_call_init(struct conn_call *c);
void conn_call_clear(struct conn_call *c);

/* Resolves ${...} in a template; the caller frees. */
typedef char *(*conn_expand_fn)(void *arg, const char *tmpl);

struct conn_env {
	const char *work_dir;      /* credentials file, upload files */
	conn_expand_fn expand;
	void *expand_arg;
};

/*
 * Sends r through connector d: waits for its limits, logs in when needed
 * (and again when the session expired), checks and extracts. Never sends
 * while the breaker is open, outside the service hours or after a refused
 * login. `side_effect`: a failure after the request left is CONN_UNKNOWN
 * and the request is not repeated.
 */
enum conn_outcome conn_send(const struct conn_def *d, const struct conn_req *r,
    const struct conn_env *env, bool side_effect, struct conn_call *c);

/* Masks secrets the connector knows and ID numbers in text; caller frees. */
char *conn_mask(const struct conn_def *d, const char *text);
/* Masks 18-character PRC ID numbers only; caller frees. */
char *conn_mask_ids(const char *text);

/* Forgets every connector's run-time state (tests, shutdown). */
void conn_reset_all(void);
/*
 * For a dry run only: connector name talks to url instead of its
 * base_url (a simulator); conn_overridden() says which, or NULL.
 */
void conn_override_base_url(const char *name, const char *url);
const char *conn_overridden(const char *name);

/* ---- SFTP / FTP file exchange (conn_file.c) ---- */

enum conn_file_proto { CONN_FILE_LOCAL, CONN_FILE_SFTP, CONN_FILE_FTP };

/* sftp:// or ftp:// by the URL's scheme; anything else is a local path. */
enum conn_file_proto conn_file_proto(const char *url);

/* How to reach one server. */
struct conn_file {
	char *user, *pass;         /* NULL user: anonymous FTP */
	char *key;                 /* SFTP private key file, or NULL */
	char *known_hosts;         /* SFTP: required */
	int64_t connect_ms, timeout_ms;
	void *curl;                /* one handle, one session, per step run */
};

/*
 * Reads entry `name` ({ username; password; } or { username; private_key;
 * }) of the credentials file (relative to work_dir, mode 0600) into f.
 */
int conn_file_creds(struct conn_file *f, const char *work_dir,
    const char *file, const char *name, struct err *e);
void conn_file_clear(struct conn_file *f);

enum conn_file_rc {
	CONN_FILE_OK,
	CONN_FILE_NOTFOUND,        /* no such file or folder */
	CONN_FILE_QUOTE,           /* a quote command (rename, mkdir) failed */
	CONN_FILE_AUTH,            /* the server refused the login */
	CONN_FILE_HOSTKEY,         /* SFTP host key unknown or changed */
	CONN_FILE_SYSTEM,          /* anything else: unreachable, timeout, ... */
};

/* The server-side path of a URL, as quote commands need it; caller frees. */
char *conn_file_path(const char *url);
/* Quote commands renaming from -> to (server paths), NULL-terminated. */
void conn_file_rename_cmds(enum conn_file_proto p, const char *from,
    const char *to, char *cmds[3]);
/* A quote command creating a folder, not failing when it exists. */
char *conn_file_mkdir_cmd(enum conn_file_proto p, const char *dir);

/* Downloads url (after the quote commands) into *data (caller frees). */
enum conn_file_rc conn_file_fetch(struct conn_file *f, const char *url,
    const char *const *quote, char **data, size_t *len, struct err *e);
/* Uploads data to url, running postquote after the upload. */
enum conn_file_rc conn_file_store(struct conn_file *f, const char *url,
    const char *data, size_t len, const char *const *quote,
    const char *const *postquote, struct err *e);
/* Sorted names in the folder dir_url (ending in '/'), NULL-ended. */
enum conn_file_rc conn_file_list(struct conn_file *f,
    const char *dir_url, char ***names, size_t *n, struct err *e);
void conn_file_names_free(char **v, size_t n);

#endif
