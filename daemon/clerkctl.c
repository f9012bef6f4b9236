/*
 * clerkctl.c - clerk's command-line client. Everything but "playbook check"
 * and "backup" goes through clerkd's HTTP API (docs/API.md) with the bearer
 * token from STATE_DIR/api.token; those two work on files directly, so a
 * supervisor can check a playbook and an operator can back up the database
 * without a running daemon. The reference is docs/clerkctl.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>

#include "audit.h"
#include "auth.h"
#include "config.h"
#include "ctl_test.h"
#include "ocr.h"
#include "daemon.h"     /* CLERK_VERSION */
#include "playbook.h"
#include "queue.h"
#include "recon.h"
#include "util.h"

/* Exit codes; scripts and the tests rely on them. */
enum {
	CTL_OK = 0,        /* done */
	CTL_FAIL = 1,      /* the operation failed (API error, problems) */
	CTL_USAGE = 2,     /* unknown command or option, bad argument */
	CTL_DOWN = 3,      /* clerkd did not answer */
	CTL_DIFFERENCES = 4,   /* reconcile: the files do not reconcile */
};

/* No API reply is this big; a larger one means we talk to something else. */
#define MAX_REPLY (64 * 1024 * 1024)

struct ctl {
	const char *config_file;   /* -c; NULL: $CLERK_CONFIG, default file */
	const char *url;           /* --url */
	const char *token_file;    /* --token-file */
	bool json;

	bool cfg_loaded;
	struct config cfg;
	bool prepared;
	char *base;                /* "http://host:port", no trailing '/' */
	char *token;               /* NULL when it could not be read */
	char *token_path;
	char *token_err;           /* why token is NULL */
	CURL *curl;
};

/* Options a command accepts besides the global ones. */
enum {
	OPT_URL = 0x100, OPT_TOKEN_FILE, OPT_JSON, OPT_VERSION,
	OPT_STATE = 0x200, OPT_PLAYBOOK, OPT_LIMIT, OPT_BEFORE, OPT_ALL,
	OPT_PAYLOAD, OPT_KEY, OPT_PRIORITY, OPT_REASON, OPT_BY, OPT_FORCE,
	OPT_BANK, OPT_LEDGER, OPT_RULES, OPT_OUT, OPT_AFTER, OPT_MINUTES,
	OPT_ASSIGNEE, OPT_OVERDUE,
	OPT_TEMPLATE, OPT_ANCHOR,
	OPT_SAMPLE, OPT_CONNECTOR, OPT_APPROVE, OPT_KEEP,
	OPT_HOURS, OPT_BUCKET,
};

struct args {
	const char *state, *playbook, *payload, *key, *reason, *by;
	const char *assignee;      /* escalation list */
	bool overdue;
	const char *bank[8];       /* reconcile: statement files */
	int nbank;
	const char *ledger, *rules, *out;
	const char *tmpl;          /* ocr check --template */
	const char *samples[32];   /* playbook test */
	int nsamples;
	const char *connectors[16];
	int nconnectors;
	const char *approve, *keep;
	long long hours;           /* playbook history */
	const char *bucket;
	const char *anchor;        /* audit verify --anchor */
	long long limit, before, priority, after, minutes;
	bool have_priority, all, force;
	int argc;                  /* positional arguments */
	char **argv;
};

struct cmd {
	const char *group;         /* "item" for "item list"; NULL if none */
	const char *name;
	const char *args;          /* positional arguments, for the list */
	const char *synopsis;      /* after "clerkctl " */
	const char *summary;       /* one line for the command list */
	const char *help;          /* the rest of --help */
	const struct option *opts;
	int minargs, maxargs;      /* positional; maxargs -1: no limit */
	int (*run)(struct ctl *, struct args *);
};

static const struct option global_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "url", required_argument, NULL, OPT_URL },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char global_help[] =
"global options (before or after the command):\n"
"  -c, --config FILE    clerkd's config, for the address, the token and the\n"
"                       database; default $CLERK_CONFIG, else\n"
"                       " CONFIG_DEFAULT_FILE " if it exists, else built-in\n"
"                       defaults relative to the current directory\n"
"      --url URL        talk to clerkd at URL (e.g. http://127.0.0.1:8470)\n"
"                       instead of the config's listen address\n"
"      --token-file F   read the API token from F instead of\n"
"                       STATE_DIR/api.token\n"
"      --json           print the API's JSON reply as is (pretty)\n"
"  -h, --help           help; \"clerkctl COMMAND --help\" for a command\n"
"      --version        print the version\n"
"\n"
"exit status: 0 ok, 1 the operation failed, 2 usage error,\n"
"3 clerkd could not be reached\n";

static void
errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- output helpers ---- */

/* Display width of one code point: East Asian wide characters take two
 * columns, so tables with Chinese names still line up. */
static int
cp_width(uint32_t cp)
{
	if ((cp >= 0x1100 && cp <= 0x115f) ||
	    (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) ||
	    (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* Decodes one UTF-8 sequence at s; returns its length, 0 if invalid
 * (then *cp is 0). */
static int
utf8_next(const unsigned char *s, uint32_t *cp)
{
	int n, i;

	*cp = 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		*cp = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) ||
	    (n == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * A copy of s that is safe to print on a terminal: payloads, messages and
 * file names come from uploads and legacy systems, and an escape sequence
 * in them must not reach the operator's terminal. Control characters and
 * invalid UTF-8 become '?'; a newline becomes a space (indent < 0) or a
 * newline plus indent spaces.
 */
static char *
clean(const char *s, int indent)
{
	size_t cap, len = 0;
	char *out;
	uint32_t cp;
	int n;

	if (s == NULL)
		s = "";
	cap = strlen(s) * 2 + 16;
	out = xmalloc(cap);
	while (*s != '\0') {
		if (len + (size_t)(indent > 0 ? indent : 0) + 8 > cap) {
			cap = cap * 2 + (size_t)(indent > 0 ? indent : 0);
			out = xrealloc(out, cap);
		}
		if (*s == '\n') {
			if (indent < 0)
				out[len++] = ' ';
			else {
				out[len++] = '\n';
				for (int i = 0; i < indent; i++)
					out[len++] = ' ';
			}
			s++;
			continue;
		}
		n = utf8_next((const unsigned char *)s, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f ||
		    (cp >= 0x80 && cp < 0xa0)) {
			out[len++] = cp == '\t' ? ' ' : '?';
			s += n > 0 ? n : 1;
			continue;
		}
		memcpy(out + len, s, (size_t)n);
		len += (size_t)n;
		s += n;
	}
	out[len] = '\0';
	return out;
}

/* Columns s takes on a terminal; s must be clean(). */
static int
str_width(const char *s)
{
	uint32_t cp;
	int w = 0, n;

	while (*s != '\0') {
		n = utf8_next((const unsigned char *)s, &cp);
		if (n == 0)
			n = 1;
		w += cp_width(cp);
		s += n;
	}
	return w;
}

/* Cuts clean string s (in place) to at most maxw columns, ending in "…". */
static char *
truncate_width(char *s, int maxw)
{
	uint32_t cp;
	int w = 0, n;
	char *p = s, *cut = NULL;

	if (str_width(s) <= maxw)
		return s;
	while (*p != '\0') {
		n = utf8_next((const unsigned char *)p, &cp);
		if (n == 0)
			n = 1;
		if (w + cp_width(cp) > maxw - 1) {
			cut = p;
			break;
		}
		w += cp_width(cp);
		p += n;
	}
	if (cut != NULL) {
		size_t off = (size_t)(cut - s);

		s = xrealloc(s, off + 4);
		strcpy(s + off, "\xe2\x80\xa6");
	}
	return s;
}

/* A table printed with aligned columns; cells are cleaned when added. */
struct table {
	size_t ncols, n, cap;      /* n cells so far, row by row */
	char **cells;
	unsigned right;            /* bit i: column i aligned right (numbers) */
	int maxw;                  /* cut cells wider than this; 0: never */
};

static void
table_cell(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
table_cell(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *raw, *s;

	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	s = clean(raw, -1);
	free(raw);
	if (t->maxw > 0)
		s = truncate_width(s, t->maxw);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->n++] = s;
}

/* Starts a table with the given headers (NULL-terminated). */
static void
table_init(struct table *t, unsigned right, ...)
{
	va_list ap;
	const char *h;

	memset(t, 0, sizeof(*t));
	t->right = right;
	va_start(ap, right);
	while ((h = va_arg(ap, const char *)) != NULL) {
		table_cell(t, "%s", h);
		t->ncols++;
	}
	va_end(ap);
	t->maxw = 48;
}

static size_t
table_rows(const struct table *t)
{
	return t->n / t->ncols - 1;
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Prints and frees t. The last column is not padded. */
static void
table_print(struct table *t, FILE *f)
{
	int *w = xcalloc(t->ncols, sizeof(int));

	for (size_t i = 0; i < t->n; i++) {
		int cw = str_width(t->cells[i]);

		if (cw > w[i % t->ncols])
			w[i % t->ncols] = cw;
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t col = i % t->ncols;
		int pad = w[col] - str_width(t->cells[i]);
		bool last = col == t->ncols - 1;

		if (t->right & (1u << col))
			fprintf(f, "%*s%s", pad, "", t->cells[i]);
		else
			fprintf(f, "%s%*s", t->cells[i], last ? 0 : pad, "");
		fputs(last ? "\n" : "  ", f);
		free(t->cells[i]);
	}
	free(t->cells);
	free(w);
	memset(t, 0, sizeof(*t));
}

/* "label       value", the value cleaned, continuation lines indented. */
static void
field(const char *label, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
field(const char *label, const char *fmt, ...)
{
	va_list ap;
	char *raw, *s;

	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	s = clean(raw, 13);
	printf("%-12s %s\n", label, s);
	free(s);
	free(raw);
}

static void
errorx(const char *fmt, ...)
{
	va_list ap;
	char *raw, *s;

	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	s = clean(raw, 2);
	fprintf(stderr, "clerkctl: %s\n", s);
	free(s);
	free(raw);
}

/* JSON pretty-printed with every line indented; for payloads and context. */
static void
print_json_indented(json_t *j, int indent)
{
	char *text, *s;

	if (j == NULL || json_is_null(j)) {
		printf("%*s(none)\n", indent, "");
		return;
	}
	text = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (text == NULL)
		return;
	s = clean(text, indent);
	printf("%*s%s\n", indent, "", s);
	free(s);
	free(text);
}

/* --json: the API's reply as is. */
static int
print_json(json_t *j)
{
	if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) < 0)
		return CTL_FAIL;
	putchar('\n');
	return CTL_OK;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_real(v) ? (long long)json_real_value(v) :
	    (long long)json_integer_value(v);
}

static const char *
dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

/* A time for people: local, RFC 3339; "-" when unset. */
static const char *
fmt_time(long long ms, char *buf, size_t len)
{
	if (ms <= 0)
		snprintf(buf, len, "-");
	else
		util_format_time(ms, buf, len);
	return buf;
}

/* A duration rounded to what a person cares about: no milliseconds once
 * it is seconds, no seconds once it is hours. */
static const char *
fmt_dur(long long ms, char *buf, size_t len)
{
	if (ms < 0)
		ms = 0;
	if (ms >= 3600000)
		ms -= ms % 60000;
	else if (ms >= 1000)
		ms -= ms % 1000;
	util_format_duration(ms, buf, len);
	return buf;
}

/* ---- configuration, address, token ---- */

static const char *
config_source(struct ctl *c)
{
	static char buf[600];

	if (c->url != NULL)
		return "--url";
	if (c->cfg.file != NULL)
		snprintf(buf, sizeof(buf), "the config %s", c->cfg.file);
	else
		snprintf(buf, sizeof(buf), "the built-in defaults (no config"
		    " file found; give --config FILE or set CLERK_CONFIG)");
	return buf;
}

static int
ctl_config(struct ctl *c)
{
	const char *file = c->config_file;
	struct err e;

	if (c->cfg_loaded)
		return 0;
	if (file == NULL && getenv("CLERK_CONFIG") != NULL &&
	    *getenv("CLERK_CONFIG") != '\0')
		file = getenv("CLERK_CONFIG");
	if (file == NULL && access(CONFIG_DEFAULT_FILE, F_OK) == 0)
		file = CONFIG_DEFAULT_FILE;
	err_clear(&e);
	if (config_load(&c->cfg, file, &e) < 0) {
		errorx("%s", e.msg);
		return -1;
	}
	/* Show times in the daemon's zone, as its logs and calendars do. */
	if (getenv("TZ") == NULL) {
		setenv("TZ", c->cfg.timezone, 1);
		tzset();
	}
	c->cfg_loaded = true;
	return 0;
}

/* The base URL and the token; the token may be missing (see token_err). */
static int
ctl_prepare(struct ctl *c)
{
	const char *host;
	char *tok;
	size_t n;
	struct err e;

	if (c->prepared)
		return 0;
	if ((c->url == NULL || c->token_file == NULL) && ctl_config(c) < 0)
		return -1;
	if (c->url != NULL) {
		n = strlen(c->url);
		while (n > 0 && c->url[n - 1] == '/')
			n--;
		c->base = strstr(c->url, "://") != NULL ?
		    xasprintf("%.*s", (int)n, c->url) :
		    xasprintf("http://%.*s", (int)n, c->url);
	} else {
		host = c->cfg.listen_host;
		/* A wildcard listener is reached on loopback. */
		if (*host == '\0' || strcmp(host, "0.0.0.0") == 0 ||
		    strcmp(host, "*") == 0)
			host = "127.0.0.1";
		else if (strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0)
			host = "[::1]";
		if (strchr(host, ':') != NULL && host[0] != '[')
			c->base = xasprintf("%s://[%s]:%d", c->cfg.tls_cert ?
			    "https" : "http", host, c->cfg.listen_port);
		else
			c->base = xasprintf("%s://%s:%d", c->cfg.tls_cert ?
			    "https" : "http", host, c->cfg.listen_port);
	}
	c->token_path = c->token_file != NULL ? xstrdup(c->token_file) :
	    config_token_path(&c->cfg);
	err_clear(&e);
	if ((tok = util_read_file(c->token_path, NULL, &e)) == NULL)
		c->token_err = xasprintf("cannot read the API token: %s"
		    " (clerkd writes it on its first start; run clerkctl as a"
		    " user that may read it, or give --token-file)", e.msg);
	else {
		n = strcspn(tok, " \t\r\n");
		tok[n] = '\0';
		if (n == 0) {
			c->token_err = xasprintf("the token file %s is empty",
			    c->token_path);
			free(tok);
		} else
			c->token = tok;
	}
	c->prepared = true;
	return 0;
}

/* ---- HTTP ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static size_t
http_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > MAX_REPLY)
		return 0;
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/*
 * One request. CTL_OK with *status and *res (NULL if the body is not
 * JSON); CTL_DOWN, with the message printed, when clerkd did not answer.
 */
static int
http_call(struct ctl *c, const char *method, const char *path, json_t *body,
    long *status, json_t **res)
{
	struct buf b = { 0 };
	struct curl_slist *h = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", *url, *text = NULL, *auth = NULL;
	CURLcode cc;
	int rc = CTL_OK;

	*res = NULL;
	*status = 0;
	url = xasprintf("%s%s", c->base, path);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 120000L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "clerkctl/" CLERK_VERSION);
	/* clerkd listens on loopback; a proxy from the environment cannot
	 * reach it and would only get to see the bearer token. */
	curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*");
	/* clerkd's own certificate is the one to trust on its address: it is
	 * often self-signed. The name is still checked. */
	if (c->cfg_loaded && c->cfg.tls_cert != NULL && c->url == NULL)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->cfg.tls_cert);
	h = curl_slist_append(h, "Accept: application/json");
	if (c->token != NULL) {
		auth = xasprintf("Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, auth);
	}
	if (strcmp(method, "POST") == 0) {
		text = body != NULL ? json_dumps(body, JSON_COMPACT) :
		    xstrdup("");
		if (text == NULL)
			fatal("out of memory");
		h = curl_slist_append(h, "Content-Type: application/json");
		/* evhttp would make a large body wait for "100 Continue". */
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(text));
	} else
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);

	cc = curl_easy_perform(c->curl);
	if (cc == CURLE_WRITE_ERROR) {
		errorx("the reply from %s is larger than %d MiB; is that"
		    " clerkd?", c->base, MAX_REPLY / (1024 * 1024));
		rc = CTL_FAIL;
	} else if (cc != CURLE_OK) {
		errorx("cannot reach clerkd at %s: %s", c->base,
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		errorx("is clerkd running (systemctl status clerkd)? The"
		    " address comes from %s; use --config or --url to talk to"
		    " another daemon", config_source(c));
		rc = CTL_DOWN;
	} else {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
		if (b.len > 0)
			*res = json_loadb(b.p, b.len, 0, NULL);
	}
	curl_slist_free_all(h);
	free(auth);
	free(text);
	free(url);
	free(b.p);
	return rc;
}

/*
 * Calls the API. CTL_OK with the reply object in *res (caller frees);
 * otherwise the API's message has been printed and the exit code is
 * returned.
 */
static int
api(struct ctl *c, const char *method, const char *path, json_t *body,
    json_t **res)
{
	const char *msg;
	json_t *j;
	long status;
	int rc;

	*res = NULL;
	if (ctl_prepare(c) < 0)
		return CTL_FAIL;
	if ((rc = http_call(c, method, path, body, &status, &j)) != CTL_OK)
		return rc;
	if (status >= 200 && status < 300 && json_is_object(j)) {
		*res = j;
		return CTL_OK;
	}
	if (c->json && j != NULL)
		print_json(j);
	msg = jstr(json_object_get(j, "error"), "message");
	if (msg != NULL)
		errorx("%s", msg);
	else if (j == NULL)
		errorx("%s answered %ld without a JSON body; is that clerkd's"
		    " address?", c->base, status);
	else
		errorx("clerkd answered %ld", status);
	if (status == 401) {
		if (c->token == NULL)
			errorx("%s", c->token_err);
		else
			errorx("the token from %s was refused; is it the token"
			    " of the clerkd at %s?", c->token_path, c->base);
	}
	json_decref(j);
	return CTL_FAIL;
}

/* Appends "?k=v" or "&k=v" to *q, v URL-escaped; nothing if v is NULL. */
static void
query_add(struct ctl *c, char **q, const char *k, const char *v)
{
	char *ev, *n;

	if (v == NULL)
		return;
	if ((ev = curl_easy_escape(c->curl, v, 0)) == NULL)
		fatal("out of memory");
	n = xasprintf("%s%c%s=%s", *q ? *q : "", *q ? '&' : '?', k, ev);
	curl_free(ev);
	free(*q);
	*q = n;
}

static void
query_addi(struct ctl *c, char **q, const char *k, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	query_add(c, q, k, buf);
}

/* ---- argument parsing ---- */

static int
parse_num(const char *what, const char *s, long long min, long long max,
    long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		errorx("%s must be a number from %lld to %lld, not \"%s\"",
		    what, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int
parse_id(const char *what, const char *s, long long *id)
{
	char *end;

	errno = 0;
	*id = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || *id < 1) {
		errorx("%s must be a positive number, not \"%s\"", what, s);
		return -1;
	}
	return 0;
}

/* --payload JSON, @FILE or @- (standard input); must be an object. */
static int
parse_payload(const char *arg, json_t **out)
{
	json_error_t je;
	struct err e;
	char *text;
	json_t *j;

	if (arg[0] == '@') {
		if (strcmp(arg, "@-") == 0)
			j = json_loadf(stdin, 0, &je);
		else {
			err_clear(&e);
			if ((text = util_read_file(arg + 1, NULL, &e)) == NULL) {
				errorx("--payload: %s", e.msg);
				return -1;
			}
			j = json_loads(text, 0, &je);
			free(text);
		}
	} else
		j = json_loads(arg, 0, &je);
	if (j == NULL && arg[0] == '@')
		errorx("--payload %s: not JSON: %s (line %d, column %d)", arg,
		    je.text, je.line, je.column);
	else if (j == NULL)
		errorx("--payload is not JSON: %s (column %d)", je.text,
		    je.column);
	if (j == NULL)
		return -1;
	if (!json_is_object(j)) {
		errorx("--payload must be a JSON object, like"
		    " '{\"name\": \"...\"}'");
		json_decref(j);
		return -1;
	}
	*out = j;
	return 0;
}

/* ---- commands ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_paused(json_t *pbs);

static int
cmd_status(struct ctl *c, struct args *a)
{
	char t1[64], t2[64];
	const char **names;
	json_t *st, *h = NULL, *counts, *pbs, *errs, *v, *total;
	const char *name;
	struct table t;
	size_t nnames = 0, i, k;
	long hstatus;
	long long started;
	int rc;
	unsigned right = 0;

	if ((rc = api(c, "GET", "/api/v1/status", NULL, &st)) != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_json(st);
		json_decref(st);
		return rc;
	}
	started = jint(st, "started");
	printf("clerkd %s at %s, pid %lld, up %s (since %s)\n",
	    dash(jstr(st, "version")), c->base, jint(st, "pid"),
	    fmt_dur(util_now_ms() - started, t1, sizeof(t1)),
	    fmt_time(started, t2, sizeof(t2)));
	field("config", "%s", dash(jstr(st, "config")));
	field("state dir", "%s", dash(jstr(st, "state_dir")));
	field("workers", "%lld", jint(st, "workers"));
	if (json_is_true(json_object_get(st, "healthy")))
		field("health", "ok%s", json_is_true(json_object_get(st,
		    "draining")) ? ", draining (stopping)" : "");
	else {
		/* /healthz says why; status only says that. */
		if (http_call(c, "GET", "/healthz", NULL, &hstatus, &h) ==
		    CTL_OK && jstr(h, "error") != NULL)
			field("health", "DEGRADED: %s", jstr(h, "error"));
		else
			field("health", "DEGRADED: database writes fail");
		json_decref(h);
	}

	/* Every loaded playbook, and those that still have items. */
	counts = json_object_get(st, "counts");
	pbs = json_object_get(st, "playbooks");
	names = xcalloc(json_array_size(pbs) + json_object_size(counts) + 1,
	    sizeof(*names));
	json_array_foreach(pbs, i, v)
		if ((name = jstr(v, "name")) != NULL)
			names[nnames++] = name;
	json_object_foreach(counts, name, v) {
		bool seen = strcmp(name, "*") == 0;

		for (i = 0; i < nnames && !seen; i++)
			seen = strcmp(names[i], name) == 0;
		if (!seen)
			names[nnames++] = name;
	}
	qsort(names, nnames, sizeof(*names), cmp_str);

	for (int s = 0; s < ITEM_NSTATES; s++)
		right |= 1u << (s + 1);
	table_init(&t, right, "PLAYBOOK", "QUEUED", "RUNNING", "RETRY_WAIT",
	    "ESCALATED", "DONE", "REJECTED", "CANCELLED", NULL);
	for (i = 0; i < nnames; i++) {
		bool loaded = false, paused = false;
		json_t *p;

		json_array_foreach(pbs, k, p)
			if (jstr(p, "name") != NULL &&
			    strcmp(jstr(p, "name"), names[i]) == 0) {
				loaded = true;
				paused = json_is_true(json_object_get(p,
				    "paused"));
			}
		table_cell(&t, "%s%s", names[i], !loaded ? " (not loaded)" :
		    paused ? " (PAUSED)" : "");
		v = json_object_get(counts, names[i]);
		for (int s = 0; s < ITEM_NSTATES; s++)
			table_cell(&t, "%lld", jint(v, item_state_name(s)));
	}
	total = json_object_get(counts, "*");
	if (nnames > 1) {
		table_cell(&t, "total");
		for (int s = 0; s < ITEM_NSTATES; s++)
			table_cell(&t, "%lld", jint(total, item_state_name(s)));
	}
	putchar('\n');
	if (nnames == 0) {
		printf("no playbooks loaded and no work items\n");
		table_free(&t);
	} else
		table_print(&t, stdout);
	free(names);
	print_paused(pbs);

	printf("\nopen escalations: %lld%s\n", jint(total, "open_escalations"),
	    jint(total, "open_escalations") > 0 ?
	    " (clerkctl escalation list)" : "");
	errs = json_object_get(st, "errors");
	if (json_array_size(errs) > 0) {
		printf("\nplaybook problems (those playbooks are not running,"
		    " or run their last good version):\n");
		json_array_foreach(errs, i, v) {
			char *s = clean(json_string_value(v), 4);

			printf("  %s\n", s);
			free(s);
		}
	}
	json_decref(st);
	return CTL_OK;
}

/* The paused playbooks, each with who, since when and why. */
static void
print_paused(json_t *pbs)
{
	json_t *p;
	size_t i;
	bool head = false;

	json_array_foreach(pbs, i, p) {
		char tb[64], *name, *by, *why;

		if (!json_is_true(json_object_get(p, "paused")))
			continue;
		if (!head)
			printf("\npaused (nothing of them is claimed; resume with"
			    " clerkctl playbook resume NAME):\n");
		head = true;
		name = clean(dash(jstr(p, "name")), -1);
		by = clean(dash(jstr(p, "paused_by")), -1);
		why = clean(jstr(p, "pause_reason") ? jstr(p, "pause_reason") :
		    "no reason given", -1);
		printf("  %s by %s since %s: %s\n", name, by, fmt_time(jint(p,
		    "paused_at"), tb, sizeof(tb)), why);
		free(name);
		free(by);
		free(why);
	}
}

static void
fmt_trigger(json_t *t, char *buf, size_t len)
{
	const char *kind = dash(jstr(t, "kind"));
	char d[64];

	if (jstr(t, "cron") != NULL)
		snprintf(buf, len, "cron %s", jstr(t, "cron"));
	else if (strcmp(kind, "interval") == 0)
		snprintf(buf, len, "every %s", fmt_dur(jint(t,
		    "interval_ms"), d, sizeof(d)));
	else if (jstr(t, "dir") != NULL)
		snprintf(buf, len, "watch %s", jstr(t, "dir"));
	else
		snprintf(buf, len, "%s", kind);
}

static int
cmd_playbook_list(struct ctl *c, struct args *a)
{
	json_t *res, *pbs, *errs, *p;
	struct table t;
	char trig[512];
	size_t i;
	int rc;

	if ((rc = api(c, "GET", "/api/v1/playbooks", NULL, &res)) != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_json(res);
		json_decref(res);
		return rc;
	}
	pbs = json_object_get(res, "playbooks");
	table_init(&t, 1u << 3, "NAME", "TRIGGER", "CALENDAR", "STEPS", "HASH",
	    "STATE", NULL);
	json_array_foreach(pbs, i, p) {
		fmt_trigger(json_object_get(p, "trigger"), trig, sizeof(trig));
		table_cell(&t, "%s", dash(jstr(p, "name")));
		table_cell(&t, "%s", trig);
		table_cell(&t, "%s", dash(jstr(p, "calendar")));
		table_cell(&t, "%zu", json_array_size(json_object_get(p,
		    "steps")));
		table_cell(&t, "%.12s", dash(jstr(p, "hash")));
		table_cell(&t, "%s", json_is_true(json_object_get(p, "paused")) ?
		    "PAUSED" : "running");
	}
	if (table_rows(&t) == 0) {
		printf("no playbooks loaded\n");
		table_free(&t);
	} else
		table_print(&t, stdout);
	print_paused(pbs);
	errs = json_object_get(res, "errors");
	if (json_array_size(errs) > 0) {
		printf("\nproblems:\n");
		json_array_foreach(errs, i, p) {
			char *s = clean(json_string_value(p), 4);

			printf("  %s\n", s);
			free(s);
		}
	}
	json_decref(res);
	return CTL_OK;
}

/* Part of a whole, as "3 (2.5%)". */
static void
fmt_share(json_int_t n, json_int_t of, char *buf, size_t len)
{
	if (of > 0)
		snprintf(buf, len, "%lld (%.1f%%)", (long long)n,
		    100.0 * (double)n / (double)of);
	else
		snprintf(buf, len, "%lld", (long long)n);
}

static int
cmd_playbook_history(struct ctl *c, struct args *a)
{
	static const char *const states[] = { "queued", "running",
	    "retry_wait", "escalated", "done", "rejected", "cancelled" };
	json_t *res, *h, *tot, *v, *runs;
	char path[512], trig[512], ts[48], d1[32], d2[32], d3[32];
	struct table t;
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/playbooks/%s/history?hours=%lld"
	    "%s%s", a->argv[0], a->hours > 0 ? a->hours : 24, a->bucket ?
	    "&bucket=" : "", a->bucket ? a->bucket : "");
	if ((rc = api(c, "GET", path, NULL, &res)) != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_json(res);
		json_decref(res);
		return rc;
	}
	h = json_object_get(res, "history");
	tot = json_object_get(h, "totals");
	fmt_trigger(json_object_get(res, "trigger"), trig, sizeof(trig));
	printf("playbook %s: %s%s%s\n", jstr(res, "name"), trig,
	    jstr(res, "calendar") ? ", calendar " : "", jstr(res, "calendar") ?
	    jstr(res, "calendar") : "");
	runs = json_object_get(res, "next_runs");
	if (json_array_size(runs) > 0) {
		printf("next runs:");
		json_array_foreach(runs, i, v)
			printf("%s %s", i ? "," : "", json_string_value(v));
		putchar('\n');
	}
	fmt_share(json_integer_value(json_object_get(tot, "failed_items")),
	    json_integer_value(json_object_get(tot, "items")), d1, sizeof(d1));
	fmt_share(json_integer_value(json_object_get(tot, "escalated_items")),
	    json_integer_value(json_object_get(tot, "items")), d2, sizeof(d2));
	printf("last %lld h: %lld item(s) queued; %s failed at least once"
	    " (%lld failed attempt(s)); %s escalated\n", a->hours > 0 ?
	    a->hours : 24, (long long)json_integer_value(json_object_get(tot,
	    "items")), d1, (long long)json_integer_value(json_object_get(tot,
	    "failed_attempts")), d2);

	/* One row per bucket that has items, each state a column. */
	table_init(&t, 0xfeu, "QUEUED IN", "QUEUED", "RUNNING", "RETRY",
	    "ESCALATED", "DONE", "REJECTED", "CANCELLED", NULL);
	{
		json_int_t since = json_integer_value(json_object_get(h,
		    "since")), bms = json_integer_value(json_object_get(h,
		    "bucket_ms")), cur = -1, cnt[7] = { 0 };
		json_t *b = json_object_get(h, "buckets");

		for (i = 0; i <= json_array_size(b); i++) {
			json_t *r = json_array_get(b, i);
			json_int_t k = r ? json_integer_value(json_object_get(r,
			    "bucket")) : -2;

			if (cur >= 0 && k != cur) {
				table_cell(&t, "%s", fmt_time(since + cur * bms,
				    ts, sizeof(ts)));
				for (int s = 0; s < 7; s++)
					table_cell(&t, "%lld", (long long)cnt[s]);
				memset(cnt, 0, sizeof(cnt));
			}
			if (r == NULL)
				break;
			cur = k;
			for (int s = 0; s < 7; s++)
				if (strcmp(dash(jstr(r, "state")), states[s]) == 0)
					cnt[s] += json_integer_value(
					    json_object_get(r, "n"));
		}
	}
	if (table_rows(&t) > 0) {
		putchar('\n');
		table_print(&t, stdout);
	} else
		table_free(&t);

	table_init(&t, 0x1eu, "STEP", "RUNS", "MEDIAN", "P95", "MAX", NULL);
	json_array_foreach(json_object_get(h, "steps"), i, v) {
		table_cell(&t, "%s", dash(jstr(v, "step")));
		table_cell(&t, "%lld", (long long)json_integer_value(
		    json_object_get(v, "runs")));
		table_cell(&t, "%s", fmt_dur(json_integer_value(json_object_get(
		    v, "median_ms")), d1, sizeof(d1)));
		table_cell(&t, "%s", fmt_dur(json_integer_value(json_object_get(
		    v, "p95_ms")), d2, sizeof(d2)));
		table_cell(&t, "%s", fmt_dur(json_integer_value(json_object_get(
		    v, "max_ms")), d3, sizeof(d3)));
	}
	if (table_rows(&t) > 0) {
		printf("\nsteps, slowest first:\n");
		table_print(&t, stdout);
	} else
		table_free(&t);
	for (int k = 0; k < 2; k++) {
		json_t *arr = json_object_get(h, k ? "escalations" : "failures");

		if (json_array_size(arr) == 0)
			continue;
		printf("\n%s by step and reason:\n", k ? "escalations" :
		    "failed attempts");
		table_init(&t, k ? 0xcu : 0x4u, "STEP", "REASON", "COUNT",
		    k ? "OPEN" : NULL, NULL);
		json_array_foreach(arr, i, v) {
			table_cell(&t, "%s", dash(jstr(v, "step")));
			table_cell(&t, "%s", dash(jstr(v, "reason")));
			table_cell(&t, "%lld", (long long)json_integer_value(
			    json_object_get(v, "n")));
			if (k)
				table_cell(&t, "%lld", (long long)
				    json_integer_value(json_object_get(v,
				    "open")));
		}
		table_print(&t, stdout);
	}
	json_decref(res);
	return CTL_OK;
}

static int
cmd_playbook_check(struct ctl *c, struct args *a)
{
	json_t *report = NULL, *files = NULL;
	int bad = 0, problems = 0;

	if (c->json) {
		report = json_object();
		files = json_array();
		json_object_set_new(report, "files", files);
	}
	for (int i = 0; i < a->argc; i++) {
		const char *file = a->argv[i];
		char *text = NULL, *line, *save = NULL;
		size_t len = 0;
		FILE *mem;
		int n;

		/* Capture the problems so --json can carry them too. */
		if ((mem = open_memstream(&text, &len)) == NULL)
			fatal("out of memory");
		n = pb_check_file(file, mem);
		fclose(mem);
		if (n > 0) {
			bad++;
			problems += n;
		}
		if (c->json) {
			json_t *arr = json_array();

			for (line = strtok_r(text, "\n", &save); line != NULL;
			    line = strtok_r(NULL, "\n", &save))
				json_array_append_new(arr, json_string(line));
			json_array_append_new(files, json_pack("{s:s,s:b,s:o}",
			    "file", file, "ok", n == 0, "problems", arr));
		} else if (n == 0) {
			char *s = clean(file, -1);

			printf("%s: ok\n", s);
			free(s);
		} else {
			char *s = clean(text, 0);

			fputs(s, stdout);
			if (len > 0 && text[len - 1] != '\n')
				putchar('\n');
			free(s);
		}
		free(text);
	}
	if (c->json) {
		json_object_set_new(report, "problems", json_integer(problems));
		print_json(report);
		json_decref(report);
	}
	fflush(stdout);
	if (bad > 0) {
		errorx("%d problem%s in %d of %d file%s", problems,
		    problems == 1 ? "" : "s", bad, a->argc,
		    a->argc == 1 ? "" : "s");
		return CTL_FAIL;
	}
	return CTL_OK;
}

static int
cmd_playbook_run(struct ctl *c, struct args *a)
{
	json_t *body, *payload = NULL, *res;
	char *ename, *path;
	int rc;

	if (a->payload != NULL && parse_payload(a->payload, &payload) < 0)
		return CTL_USAGE;
	body = json_object();
	if (payload != NULL)
		json_object_set_new(body, "payload", payload);
	if (a->key != NULL)
		json_object_set_new(body, "key", json_string(a->key));
	if (a->have_priority)
		json_object_set_new(body, "priority",
		    json_integer(a->priority));
	if (ctl_prepare(c) < 0) {
		json_decref(body);
		return CTL_FAIL;
	}
	if ((ename = curl_easy_escape(c->curl, a->argv[0], 0)) == NULL)
		fatal("out of memory");
	path = xasprintf("/api/v1/playbooks/%s/run", ename);
	curl_free(ename);
	rc = api(c, "POST", path, body, &res);
	free(path);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		rc = print_json(res);
	else if (json_is_true(json_object_get(res, "duplicate"))) {
		char *s = clean(a->key ? a->key : "", -1);

		printf("item %lld already exists for key \"%s\"; not queued"
		    " again\n", jint(res, "item"), s);
		free(s);
	} else
		printf("item %lld queued\n", jint(res, "item"));
	json_decref(res);
	return rc;
}

static int
playbook_pause(struct ctl *c, struct args *a, bool pause)
{
	json_t *body = json_object(), *res;
	char *ename, *path;
	int rc;

	if (a->reason != NULL)
		json_object_set_new(body, "reason", json_string(a->reason));
	if (a->by != NULL)
		json_object_set_new(body, "by", json_string(a->by));
	if (ctl_prepare(c) < 0) {
		json_decref(body);
		return CTL_FAIL;
	}
	if ((ename = curl_easy_escape(c->curl, a->argv[0], 0)) == NULL)
		fatal("out of memory");
	path = xasprintf("/api/v1/playbooks/%s/%s", ename, pause ? "pause" :
	    "resume");
	curl_free(ename);
	rc = api(c, "POST", path, body, &res);
	free(path);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		rc = print_json(res);
	else {
		char *s = clean(a->argv[0], -1);

		if (pause)
			printf("playbook %s paused: nothing more of it is"
			    " claimed; running steps finish, new items queue"
			    " up (clerkctl playbook resume %s)\n", s, s);
		else
			printf("playbook %s resumed\n", s);
		free(s);
	}
	json_decref(res);
	return rc;
}

static int
cmd_playbook_pause(struct ctl *c, struct args *a)
{
	return playbook_pause(c, a, true);
}

static int
cmd_playbook_resume(struct ctl *c, struct args *a)
{
	if (a->reason != NULL) {
		errorx("playbook resume: --reason is for a pause");
		return CTL_USAGE;
	}
	return playbook_pause(c, a, false);
}

static int
cmd_item_list(struct ctl *c, struct args *a)
{
	json_t *res, *items, *it;
	struct table t;
	char *q = NULL, *path, tb[64];
	size_t i;
	int rc;

	if (ctl_prepare(c) < 0)
		return CTL_FAIL;
	query_add(c, &q, "state", a->state);
	query_add(c, &q, "playbook", a->playbook);
	if (a->limit > 0)
		query_addi(c, &q, "limit", a->limit);
	if (a->before > 0)
		query_addi(c, &q, "before", a->before);
	path = xasprintf("/api/v1/items%s", q ? q : "");
	free(q);
	rc = api(c, "GET", path, NULL, &res);
	free(path);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_json(res);
		json_decref(res);
		return rc;
	}
	items = json_object_get(res, "items");
	table_init(&t, 1u << 0 | 1u << 4, "ID", "PLAYBOOK", "STATE", "KEY",
	    "ATTEMPTS", "CREATED", "LAST ERROR", NULL);
	t.maxw = 40;
	json_array_foreach(items, i, it) {
		table_cell(&t, "%lld", jint(it, "id"));
		table_cell(&t, "%s", dash(jstr(it, "playbook")));
		table_cell(&t, "%s", dash(jstr(it, "state")));
		table_cell(&t, "%s", dash(jstr(it, "key")));
		table_cell(&t, "%lld", jint(it, "attempts"));
		table_cell(&t, "%s", fmt_time(jint(it, "created"), tb,
		    sizeof(tb)));
		table_cell(&t, "%s", dash(jstr(it, "last_error")));
	}
	if (table_rows(&t) == 0) {
		printf("no work items\n");
		table_free(&t);
	} else
		table_print(&t, stdout);
	if (json_is_integer(json_object_get(res, "next")))
		fprintf(stderr, "(more: clerkctl item list --before %lld)\n",
		    jint(res, "next"));
	json_decref(res);
	return CTL_OK;
}

static void
print_escalation_table(json_t *escs)
{
	struct table t;
	char tc[64], td[64];
	size_t i;
	json_t *e;

	table_init(&t, 1u << 0, "ID", "STATE", "STEP", "REASON", "CREATED",
	    "DUE", "DECISION", NULL);
	json_array_foreach(escs, i, e) {
		table_cell(&t, "%lld", jint(e, "id"));
		table_cell(&t, "%s", dash(jstr(e, "state")));
		table_cell(&t, "%s", dash(jstr(e, "step_id")));
		table_cell(&t, "%s", dash(jstr(e, "reason")));
		table_cell(&t, "%s", fmt_time(jint(e, "created"), tc,
		    sizeof(tc)));
		table_cell(&t, "%s", fmt_time(jint(e, "due"), td, sizeof(td)));
		if (jstr(e, "decision") != NULL)
			table_cell(&t, "%s by %s", jstr(e, "decision"),
			    dash(jstr(e, "decided_by")));
		else
			table_cell(&t, "-");
	}
	table_print(&t, stdout);
}

static int
cmd_item_show(struct ctl *c, struct args *a)
{
	json_t *it, *steps, *s, *escs, *fails;
	long long id;
	char *path, tb[64], db[64];
	struct table t;
	size_t i;
	int rc;

	if (parse_id("ID", a->argv[0], &id) < 0)
		return CTL_USAGE;
	path = xasprintf("/api/v1/items/%lld", id);
	rc = api(c, "GET", path, NULL, &it);
	free(path);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_json(it);
		json_decref(it);
		return rc;
	}
	field("item", "%lld", jint(it, "id"));
	field("key", "%s", dash(jstr(it, "key")));
	field("playbook", "%s (version %.12s)", dash(jstr(it, "playbook")),
	    dash(jstr(it, "pb_hash")));
	field("state", "%s", dash(jstr(it, "state")));
	field("priority", "%lld", jint(it, "priority"));
	fails = json_object_get(it, "failures");
	field("attempts", "%lld of the current step failed; %zu failed"
	    " attempt%s in all", jint(it, "attempts"), json_array_size(fails),
	    json_array_size(fails) == 1 ? "" : "s");
	field("created", "%s", fmt_time(jint(it, "created"), tb, sizeof(tb)));
	field("updated", "%s", fmt_time(jint(it, "updated"), tb, sizeof(tb)));
	if (jint(it, "not_before") > util_now_ms())
		field("not before", "%s", fmt_time(jint(it, "not_before"), tb,
		    sizeof(tb)));
	if (jstr(it, "state") != NULL && strcmp(jstr(it, "state"),
	    "running") == 0)
		field("lease until", "%s", fmt_time(jint(it, "lease_expires"),
		    tb, sizeof(tb)));
	if (jstr(it, "last_error") != NULL && jstr(it, "last_error_kind") &&
	    strcmp(jstr(it, "last_error_kind"), "none") != 0)
		field("last error", "%s (%s error)", jstr(it, "last_error"),
		    jstr(it, "last_error_kind"));
	else if (jstr(it, "last_error") != NULL)
		field("last error", "%s", jstr(it, "last_error"));
	printf("payload:\n");
	print_json_indented(json_object_get(it, "payload"), 2);

	steps = json_object_get(it, "steps");
	printf("\nsteps done: %zu\n", json_array_size(steps));
	if (json_array_size(steps) > 0) {
		table_init(&t, 1u << 2, "STEP", "FINISHED", "TOOK", "VERSION",
		    "OUTPUT", NULL);
		t.maxw = 60;
		json_array_foreach(steps, i, s) {
			char *out = json_dumps(json_object_get(s, "output"),
			    JSON_COMPACT | JSON_ENCODE_ANY);

			table_cell(&t, "%s", dash(jstr(s, "step")));
			table_cell(&t, "%s", fmt_time(jint(s, "finished"), tb,
			    sizeof(tb)));
			table_cell(&t, "%s", fmt_dur(jint(s, "ms"), db,
			    sizeof(db)));
			table_cell(&t, "%.12s", dash(jstr(s, "pb_hash")));
			table_cell(&t, "%s", out ? out : "-");
			free(out);
		}
		table_print(&t, stdout);
	}

	if (json_array_size(fails) > 0) {
		printf("\nfailed attempts: %zu\n", json_array_size(fails));
		table_init(&t, 1u << 1, "STEP", "ATTEMPT", "AT", "KIND", "THEN",
		    "ERROR", NULL);
		t.maxw = 90;
		json_array_foreach(fails, i, s) {
			char *m = clean(jstr(s, "message"), 0);

			table_cell(&t, "%s", dash(jstr(s, "step")));
			table_cell(&t, "%lld", jint(s, "attempt"));
			table_cell(&t, "%s", fmt_time(jint(s, "at"), tb,
			    sizeof(tb)));
			table_cell(&t, "%s", dash(jstr(s, "kind")));
			table_cell(&t, "%s", dash(jstr(s, "reason")));
			table_cell(&t, "%s", m ? m : "-");
			free(m);
		}
		table_print(&t, stdout);
	}

	escs = json_object_get(it, "escalations");
	if (json_array_size(escs) > 0) {
		printf("\nescalations:\n");
		print_escalation_table(escs);
		json_array_foreach(escs, i, s)
			if (jstr(s, "state") != NULL &&
			    strcmp(jstr(s, "state"), "open") == 0) {
				char *m = clean(jstr(s, "message"), 4);

				printf("\nopen: escalation %lld: %s\n  clerkctl"
				    " escalation show %lld\n", jint(s, "id"), m,
				    jint(s, "id"));
				free(m);
			}
	}
	json_decref(it);
	return CTL_OK;
}

static int
item_action(struct ctl *c, struct args *a, const char *action,
    const char *done)
{
	json_t *res;
	long long id;
	char *path;
	int rc;

	if (parse_id("ID", a->argv[0], &id) < 0)
		return CTL_USAGE;
	path = xasprintf("/api/v1/items/%lld/%s", id, action);
	rc = api(c, "POST", path, NULL, &res);
	free(path);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		rc = print_json(res);
	else
		printf("item %lld %s\n", id, done);
	json_decref(res);
	return rc;
}

static int
cmd_item_retry(struct ctl *c, struct args *a)
{
	return item_action(c, a, "retry", "queued again");
}

static int
cmd_item_cancel(struct ctl *c, struct args *a)
{
	return item_action(c, a, "cancel", "cancelled");
}

/* "2026-...(OVERDUE by 5m)" or "... (in 3h)" for an open escalation. */
static void
fmt_due(json_t *e, char *buf, size_t len)
{
	long long due = jint(e, "due"), now = util_now_ms();
	bool open = jstr(e, "state") != NULL &&
	    strcmp(jstr(e, "state"), "open") == 0;
	char tb[64], db[64];

	if (due <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	fmt_time(due, tb, sizeof(tb));
	if (open && due < now)
		snprintf(buf, len, "%s OVERDUE %s", tb, fmt_dur(now - due, db,
		    sizeof(db)));
	else if (open)
		snprintf(buf, len, "%s (in %s)", tb, fmt_dur(due - now, db,
		    sizeof(db)));
	else
		snprintf(buf, len, "%s", tb);
}

static int
cmd_escalation_list(struct ctl *c, struct args *a)
{
	json_t *res, *escs, *e;
	struct table t;
	char *q = NULL, *path, due[160];
	long long now = util_now_ms();
	int rc, overdue = 0;
	size_t i;

	if (ctl_prepare(c) < 0)
		return CTL_FAIL;
	query_add(c, &q, "open", a->all ? "0" : "1");
	query_add(c, &q, "playbook", a->playbook);
	query_add(c, &q, "reason", a->reason);
	query_add(c, &q, "assignee", a->assignee);
	if (a->overdue)
		query_add(c, &q, "overdue", "1");
	if (a->limit > 0)
		query_addi(c, &q, "limit", a->limit);
	path = xasprintf("/api/v1/escalations%s", q);
	free(q);
	rc = api(c, "GET", path, NULL, &res);
	free(path);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_json(res);
		json_decref(res);
		return rc;
	}
	escs = json_object_get(res, "escalations");
	if (a->all)
		table_init(&t, 1u << 0 | 1u << 1, "ID", "ITEM", "PLAYBOOK",
		    "STEP", "REASON", "STATE", "DUE", "DECISION", "MESSAGE",
		    NULL);
	else
		table_init(&t, 1u << 0 | 1u << 1, "ID", "ITEM", "PLAYBOOK",
		    "STEP", "REASON", "DUE", "MESSAGE", NULL);
	json_array_foreach(escs, i, e) {
		bool open = jstr(e, "state") != NULL &&
		    strcmp(jstr(e, "state"), "open") == 0;

		if (open && jint(e, "due") > 0 && jint(e, "due") < now)
			overdue++;
		fmt_due(e, due, sizeof(due));
		table_cell(&t, "%lld", jint(e, "id"));
		table_cell(&t, "%lld", jint(e, "item"));
		table_cell(&t, "%s", dash(jstr(e, "playbook")));
		table_cell(&t, "%s", dash(jstr(e, "step_id")));
		table_cell(&t, "%s", dash(jstr(e, "reason")));
		if (a->all)
			table_cell(&t, "%s", dash(jstr(e, "state")));
		table_cell(&t, "%s", due);
		if (a->all) {
			if (jstr(e, "decision") != NULL)
				table_cell(&t, "%s by %s", jstr(e, "decision"),
				    dash(jstr(e, "decided_by")));
			else
				table_cell(&t, "-");
		}
		table_cell(&t, "%s", dash(jstr(e, "message")));
	}
	if (table_rows(&t) == 0) {
		printf(a->all ? "no escalations\n" : "no open escalations\n");
		table_free(&t);
	} else {
		table_print(&t, stdout);
		if (!a->all)
			printf("\n%zu open, %d overdue\n",
			    json_array_size(escs), overdue);
	}
	if (!json_is_null(json_object_get(res, "next")) &&
	    json_object_get(res, "next") != NULL)
		fprintf(stderr, "(more escalations than shown; raise"
		    " --limit)\n");
	json_decref(res);
	return CTL_OK;
}

static int
cmd_escalation_show(struct ctl *c, struct args *a)
{
	json_t *e;
	long long id;
	char *path, tb[64], due[160];
	int rc;

	if (parse_id("ID", a->argv[0], &id) < 0)
		return CTL_USAGE;
	path = xasprintf("/api/v1/escalations/%lld", id);
	rc = api(c, "GET", path, NULL, &e);
	free(path);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_json(e);
		json_decref(e);
		return rc;
	}
	field("escalation", "%lld (%s)", jint(e, "id"), dash(jstr(e,
	    "state")));
	field("item", "%lld (%s, key %s, %lld attempt%s)", jint(e, "item"),
	    dash(jstr(e, "item_state")), dash(jstr(e, "key")),
	    jint(e, "attempts"), jint(e, "attempts") == 1 ? "" : "s");
	field("playbook", "%s, step %s", dash(jstr(e, "playbook")),
	    dash(jstr(e, "step_id")));
	if (jstr(e, "kind") != NULL && strcmp(jstr(e, "kind"), "none") != 0)
		field("error kind", "%s", jstr(e, "kind"));
	field("reason", "%s", dash(jstr(e, "reason")));
	field("message", "%s", dash(jstr(e, "message")));
	field("created", "%s", fmt_time(jint(e, "created"), tb, sizeof(tb)));
	fmt_due(e, due, sizeof(due));
	field("due", "%s", due);
	if (jstr(e, "assignee") != NULL)
		field("assigned to", "%s", jstr(e, "assignee"));
	if (jstr(e, "claimed_by") != NULL && jint(e, "claim_expires") >
	    util_now_ms())
		field("claimed by", "%s until %s", jstr(e, "claimed_by"),
		    fmt_time(jint(e, "claim_expires"), tb, sizeof(tb)));
	if (jstr(e, "decision") != NULL) {
		field("decision", "%s by %s at %s", jstr(e, "decision"),
		    dash(jstr(e, "decided_by")), fmt_time(jint(e,
		    "decided_at"), tb, sizeof(tb)));
		if (jstr(e, "decision_reason") != NULL)
			field("why", "%s", jstr(e, "decision_reason"));
	}
	printf("evidence:\n");
	print_json_indented(json_object_get(e, "context"), 2);
	printf("payload:\n");
	print_json_indented(json_object_get(e, "payload"), 2);
	if (json_array_size(json_object_get(e, "comments")) > 0) {
		json_t *cm;
		size_t k;

		printf("comments:\n");
		json_array_foreach(json_object_get(e, "comments"), k, cm)
			printf("  %s %s: %s\n", fmt_time(jint(cm, "ts"), tb,
			    sizeof(tb)), dash(jstr(cm, "author")),
			    dash(jstr(cm, "text")));
	}
	if (jstr(e, "state") != NULL && strcmp(jstr(e, "state"), "open") == 0)
		printf("\ndecide with: clerkctl escalation decide %lld"
		    " approve|reject|retry|resume\n", id);
	json_decref(e);
	return CTL_OK;
}

/* --by, else the login name: the audit trail names a person, not "api". */
static const char *
who(const struct args *a)
{
	const char *by = a->by;
	struct passwd *pw;

	if (by == NULL || *by == '\0')
		by = getenv("USER");
	if ((by == NULL || *by == '\0') && (pw = getpwuid(getuid())) != NULL)
		by = pw->pw_name;
	if (by == NULL || *by == '\0')
		by = "clerkctl";
	return by;
}

/* claim / release: a reviewer's lock on an escalation. */
static int
cmd_escalation_claim(struct ctl *c, struct args *a, bool claim)
{
	json_t *body, *res;
	long long id;
	char *path;
	int rc;

	if (parse_id("ID", a->argv[0], &id) < 0)
		return CTL_USAGE;
	body = json_pack("{s:s,s:I}", "by", who(a), "minutes",
	    (json_int_t)(a->minutes > 0 ? a->minutes : 15));
	path = xasprintf("/api/v1/escalations/%lld/%s", id, claim ? "claim" :
	    "release");
	rc = api(c, "POST", path, body, &res);
	free(path);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		rc = print_json(res);
	else if (claim) {
		char until[48];

		util_format_time(jint(res, "until"), until, sizeof(until));
		printf("escalation %lld is yours until %s\n", id, until);
	} else
		printf("escalation %lld released\n", id);
	json_decref(res);
	return rc;
}

/* assign ID USER, comment ID TEXT. */
static int
cmd_escalation_note(struct ctl *c, struct args *a, bool assign)
{
	json_t *body, *res;
	long long id;
	char *path;
	int rc;

	if (parse_id("ID", a->argv[0], &id) < 0)
		return CTL_USAGE;
	body = json_pack("{s:s,s:s}", "by", who(a), assign ? "to" : "text",
	    a->argv[1]);
	path = xasprintf("/api/v1/escalations/%lld/%s", id, assign ? "assign" :
	    "comments");
	rc = api(c, "POST", path, body, &res);
	free(path);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		rc = print_json(res);
	else if (assign && jstr(res, "from") != NULL && *jstr(res, "from"))
		printf("escalation %lld assigned to %s (was %s)\n", id,
		    dash(jstr(res, "assignee")), jstr(res, "from"));
	else if (assign)
		printf("escalation %lld assigned to %s\n", id,
		    dash(jstr(res, "assignee")));
	else
		printf("comment %lld on escalation %lld\n", jint(res, "comment"),
		    id);
	json_decref(res);
	return rc;
}

static int
cmd_escalation_assign(struct ctl *c, struct args *a)
{
	return cmd_escalation_note(c, a, true);
}

static int
cmd_escalation_comment(struct ctl *c, struct args *a)
{
	return cmd_escalation_note(c, a, false);
}

static int
cmd_escalation_take(struct ctl *c, struct args *a)
{
	return cmd_escalation_claim(c, a, true);
}

static int
cmd_escalation_release(struct ctl *c, struct args *a)
{
	return cmd_escalation_claim(c, a, false);
}

static int
cmd_escalation_decide(struct ctl *c, struct args *a)
{
	json_t *body, *payload = NULL, *res;
	const char *by;
	long long id;
	char *path;
	int rc;

	if (parse_id("ID", a->argv[0], &id) < 0)
		return CTL_USAGE;
	if (decision_parse(a->argv[1]) < 0) {
		errorx("unknown decision \"%s\"; use approve, reject, retry or"
		    " resume", a->argv[1]);
		return CTL_USAGE;
	}
	if (a->payload != NULL && parse_payload(a->payload, &payload) < 0)
		return CTL_USAGE;
	by = who(a);
	body = json_pack("{s:s,s:s}", "decision", a->argv[1], "by", by);
	if (a->reason != NULL)
		json_object_set_new(body, "reason", json_string(a->reason));
	if (payload != NULL)
		json_object_set_new(body, "payload", payload);
	path = xasprintf("/api/v1/escalations/%lld/decide", id);
	rc = api(c, "POST", path, body, &res);
	free(path);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		rc = print_json(res);
	else
		printf("escalation %lld decided: %s (item %lld)\n", id,
		    a->argv[1], jint(res, "item"));
	json_decref(res);
	return rc;
}

static int
cmd_reload(struct ctl *c, struct args *a)
{
	json_t *res, *loaded, *errs, *v;
	size_t i;
	int rc;

	if ((rc = api(c, "POST", "/api/v1/reload", NULL, &res)) != CTL_OK)
		return rc;
	loaded = json_object_get(res, "loaded");
	errs = json_object_get(res, "errors");
	if (c->json)
		print_json(res);
	else {
		printf("loaded %zu playbook%s", json_array_size(loaded),
		    json_array_size(loaded) == 1 ? "" : "s");
		json_array_foreach(loaded, i, v) {
			char *s = clean(json_string_value(v), -1);

			printf("%s %s", i == 0 ? ":" : ",", s);
			free(s);
		}
		putchar('\n');
		if (jstr(res, "restart_needed") != NULL)
			printf("changed, but only a restart applies them: %s\n",
			    jstr(res, "restart_needed"));
		fflush(stdout);
		json_array_foreach(errs, i, v) {
			char *s = clean(json_string_value(v), 2);

			fprintf(stderr, "%s\n", s);
			free(s);
		}
	}
	rc = CTL_OK;
	if (json_array_size(errs) > 0) {
		/* Failed playbooks keep running their last good version. */
		errorx("reload found %zu problem%s; playbooks that failed to"
		    " load keep their running version", json_array_size(errs),
		    json_array_size(errs) == 1 ? "" : "s");
		rc = CTL_FAIL;
	}
	json_decref(res);
	return rc;
}

/* Makes the rename into dir durable. */
static void
sync_dir_of(const char *path)
{
	char *tmp = xstrdup(path);
	int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(tmp);
}

static int
cmd_backup(struct ctl *c, struct args *a)
{
	const char *dest = a->argv[0];
	struct stat db, sb;
	struct queue *q;
	struct err e;
	char *tmp;
	bool exists;
	int rc;

	if (ctl_config(c) < 0)
		return CTL_FAIL;
	if (queue_store_is_url(c->cfg.database)) {
		char *name = queue_store_name(c->cfg.database);

		errorx("the store is the PostgreSQL database %s: back it up"
		    " with pg_dump (a consistent copy) or pg_basebackup with"
		    " WAL archiving (point-in-time recovery); clerkctl backup"
		    " copies SQLite files", name);
		free(name);
		return CTL_FAIL;
	}
	if (stat(c->cfg.database, &db) < 0) {
		/* queue_open would create an empty database here. */
		errorx("no database at %s: %s; is %s the one clerkd uses?",
		    c->cfg.database, strerror(errno), config_source(c));
		return CTL_FAIL;
	}
	exists = lstat(dest, &sb) == 0;
	if (exists && S_ISDIR(sb.st_mode)) {
		errorx("%s is a directory; give the backup's file name", dest);
		return CTL_FAIL;
	}
	if (exists && sb.st_dev == db.st_dev && sb.st_ino == db.st_ino) {
		errorx("%s is the live database itself; back up to another"
		    " file", dest);
		return CTL_FAIL;
	}
	if (exists && !a->force) {
		errorx("%s already exists; give --force to replace it", dest);
		return CTL_FAIL;
	}

	/* Write next to dest and rename, so dest is never a half backup. */
	tmp = xasprintf("%s.tmp-%ld", dest, (long)getpid());
	unlink(tmp);
	err_clear(&e);
	if ((q = queue_open(c->cfg.database, NULL, &e)) == NULL) {
		errorx("%s", e.msg);
		free(tmp);
		return CTL_FAIL;
	}
	rc = queue_backup(q, tmp, &e);
	queue_close(q);
	if (rc < 0) {
		errorx("%s", e.msg);
		unlink(tmp);
		free(tmp);
		return CTL_FAIL;
	}
	if (a->force)
		rc = rename(tmp, dest);
	else {
		/* link() refuses a dest that appeared meanwhile, where
		 * rename() would silently replace it. */
		if ((rc = link(tmp, dest)) < 0 && errno != EEXIST &&
		    lstat(dest, &sb) < 0)
			rc = rename(tmp, dest);   /* no hard links here */
		else if (rc < 0)
			errno = EEXIST;
		if (rc == 0)
			unlink(tmp);
	}
	if (rc < 0) {
		errorx("cannot write %s: %s", dest, errno == EEXIST ?
		    "it appeared while the backup ran; give --force to"
		    " replace it" : strerror(errno));
		unlink(tmp);
		free(tmp);
		return CTL_FAIL;
	}
	free(tmp);
	sync_dir_of(dest);
	if (stat(dest, &sb) < 0)
		sb.st_size = 0;
	if (c->json) {
		json_t *j = json_pack("{s:s,s:s,s:I}", "database",
		    c->cfg.database, "backup", dest, "bytes",
		    (json_int_t)sb.st_size);

		print_json(j);
		json_decref(j);
	} else
		printf("backed up %s to %s (%lld bytes)\n", c->cfg.database,
		    dest, (long long)sb.st_size);
	return CTL_OK;
}

/*
 * restore: a backup back in place of the database, with clerkd stopped.
 * clerkd's own lock on STATE_DIR/clerkd.lock is held throughout, so a
 * running clerkd refuses the restore, and one starting meanwhile refuses
 * to run.
 */
static int
cmd_restore(struct ctl *c, struct args *a)
{
	const char *backup = a->argv[0];
	struct restore_info ri;
	struct queue *q;
	struct err e;
	char *lock;
	int fd;

	if (ctl_config(c) < 0)
		return CTL_FAIL;
	if (access(backup, R_OK) < 0) {
		errorx("%s: %s", backup, strerror(errno));
		return CTL_FAIL;
	}
	lock = xasprintf("%s/clerkd.lock", c->cfg.state_dir);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		errorx("%s: %s; is %s the state_dir clerkd uses (%s)?", lock,
		    strerror(errno), c->cfg.state_dir, config_source(c));
		free(lock);
		return CTL_FAIL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32];
		ssize_t r = read(fd, pid, sizeof(pid) - 1);

		pid[r > 0 ? r : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		errorx("clerkd (pid %s) is running on %s: stop it first"
		    " (systemctl stop clerkd); a restore replaces the database"
		    " under it", r > 0 ? pid : "?", c->cfg.state_dir);
		close(fd);
		free(lock);
		return CTL_FAIL;
	}
	free(lock);
	err_clear(&e);
	if (queue_restore(backup, c->cfg.database, stderr, &ri, &e) < 0) {
		errorx("%s; nothing was restored%s%s", e.msg,
		    ri.aside ? ", the database is kept as is and also at " : "",
		    ri.aside ? ri.aside : "");
		free(ri.aside);
		close(fd);
		return CTL_FAIL;
	}
	/* Opened once here: an older backup is migrated now, with the
	 * operator watching, not at clerkd's next start. */
	if ((q = queue_open(c->cfg.database, NULL, &e)) == NULL) {
		errorx("restored %s to %s, but it does not open: %s", backup,
		    c->cfg.database, e.msg);
		free(ri.aside);
		free(ri.anchor_error);
		close(fd);
		return CTL_FAIL;
	}
	queue_close(q);
	close(fd);
	if (c->json) {
		json_t *j = json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:s?,s:I,s:b}",
		    "database", c->cfg.database, "backup", backup,
		    "schema_version", ri.version, "items", (json_int_t)ri.items,
		    "escalations", (json_int_t)ri.escalations, "audit_rows",
		    (json_int_t)ri.audit_rows, "replaced", ri.aside,
		    "audit_last_id", (json_int_t)ri.audit_id, "anchored",
		    ri.anchor_error == NULL);

		print_json(j);
		json_decref(j);
	} else {
		printf("restored %s to %s: %lld item(s), %lld escalation(s),"
		    " %lld audit row(s), intact (schema version %d)\n", backup,
		    c->cfg.database, (long long)ri.items,
		    (long long)ri.escalations, (long long)ri.audit_rows,
		    ri.version);
		if (ri.aside)
			printf("the database it replaced is kept at %s\n",
			    ri.aside);
		if (ri.anchor_error == NULL)
			printf("the audit anchor %s.audit-anchor records the"
			    " restore (trail ends at row %lld)\n",
			    c->cfg.database, (long long)ri.audit_id);
	}
	free(ri.aside);
	if (ri.anchor_error != NULL) {
		/* The database is restored; only the record of it is not. */
		errorx("the restore is done, but not recorded in the audit"
		    " anchor: %s; `clerkctl audit verify` will take the older"
		    " trail for a truncated one until the same restore is run"
		    " again with that fixed", ri.anchor_error);
		free(ri.anchor_error);
		return CTL_FAIL;
	}
	return CTL_OK;
}

/*
 * reconcile: the daemon's reconciliation engine on two files, for a
 * supervisor tuning rules or a finance officer re-running a period.
 */
static int
cmd_reconcile(struct ctl *c, struct args *a)
{
	struct recon_side bank = { 0 }, ledger = { 0 };
	struct recon_rules rules;
	struct recon_result *res;
	const char *out = a->out ? a->out : "reconcile-report";
	struct err e;
	char bal[2][32];
	int rc = CTL_OK;

	if (a->nbank == 0 || a->ledger == NULL) {
		errorx("reconcile needs --bank FILE and --ledger FILE");
		return CTL_USAGE;
	}
	recon_rules_default(&rules);
	err_clear(&e);
	if (a->rules != NULL && recon_rules_load_file(a->rules, &rules,
	    &e) < 0) {
		errorx("%s", e.msg);
		recon_rules_clear(&rules);
		return CTL_FAIL;
	}
	if (recon_parse_pair(a->bank, a->nbank, a->ledger, &rules, &bank,
	    &ledger, &e) < 0)
		goto bad;
	res = recon_match(&bank, &ledger, &rules, NULL, 0);
	if (recon_write_outputs(out, &bank, &ledger, res, &e) < 0) {
		errorx("%s", e.msg);
		recon_result_free(res);
		rc = CTL_FAIL;
		goto out;
	}
	if (c->json) {
		json_t *j = recon_result_json(&bank, &ledger, res);

		json_object_set_new(j, "report", json_sprintf("%s/report.html",
		    out));
		print_json(j);
		json_decref(j);
	} else {
		recon_amount_format(res->adjusted_book, true, bal[0],
		    sizeof(bal[0]));
		recon_amount_format(res->adjusted_bank, true, bal[1],
		    sizeof(bal[1]));
		printf("bank %s%s: %zu line(s); ledger %s: %zu line(s)\n",
		    a->bank[0], a->nbank > 1 ? " (and more)" : "", bank.n,
		    a->ledger, ledger.n);
		printf("matched %zu, differences %zu\n", res->nmatches,
		    res->ndiffs);
		for (size_t i = 0; i < res->ndiffs && i < 20; i++)
			printf("  %-24s %s\n", recon_diff_kind_name(
			    res->diffs[i].kind), res->diffs[i].message);
		if (res->ndiffs > 20)
			printf("  ... %zu more in %s/differences.csv\n",
			    res->ndiffs - 20, out);
		printf("余额调节表: adjusted book balance %s, adjusted bank"
		    " balance %s: %s\n", bal[0], bal[1], res->ties ? "ties" :
		    "DOES NOT TIE");
		printf("report: %s/report.html\n", out);
	}
	/* Differences are not a failure of the command, but a script must
	 * be able to tell: exit 4. */
	if (res->ndiffs > 0 || !res->ties)
		rc = CTL_DIFFERENCES;
	recon_result_free(res);
out:
	recon_side_free(&bank);
	recon_side_free(&ledger);
	recon_rules_clear(&rules);
	return rc;
bad:
	errorx("%s", e.msg);
	rc = CTL_FAIL;
	goto out;
}

/*
 * audit verify / export: read the database's audit trail directly, as
 * backup does, so an auditor needs no running daemon.
 */

/*
 * A PostgreSQL store's trail: the chain is checked as SQLite's, but there
 * is no anchor file. The database is shared by the nodes and kept by its
 * own replicas and WAL archive, which are where its end is witnessed; a
 * file on one node would see only that node's commits.
 */
static int
audit_verify_shared(const char *url, struct args *a)
{
	char *name = queue_store_name(url);
	struct err e;
	int64_t rows;
	int n;

	if (a->anchor != NULL) {
		errorx("--anchor: a PostgreSQL store has no anchor file (its"
		    " end is kept by the database's replicas and WAL"
		    " archive)");
		free(name);
		return CTL_FAIL;
	}
	err_clear(&e);
	if ((n = audit_verify(url, stdout, &rows, &e)) < 0) {
		errorx("%s", e.msg);
		free(name);
		return CTL_FAIL;
	}
	if (n > 0)
		printf("audit trail of %lld row(s) in %s: %d problem(s); it has"
		    " been tampered with\n", (long long)rows, name, n);
	else
		printf("audit trail of %lld row(s) in %s: intact as a chain"
		    " (a PostgreSQL store has no anchor file: rows deleted from"
		    " the end show against a replica or the WAL archive)\n",
		    (long long)rows, name);
	free(name);
	return n > 0 ? CTL_FAIL : CTL_OK;
}
static int
cmd_audit_verify(struct ctl *c, struct args *a)
{
	struct audit_end end;
	const char *db;
	struct err e;
	char *anchor;
	int64_t rows;
	int n, m;

	if (a->argc > 0)
		db = a->argv[0];
	else if (ctl_config(c) < 0)
		return CTL_FAIL;
	else
		db = c->cfg.database;
	if (queue_store_is_url(db))
		return audit_verify_shared(db, a);
	if (access(db, R_OK) < 0) {
		errorx("%s: %s", db, strerror(errno));
		return CTL_FAIL;
	}
	/* Asked for, an anchor must be there: --anchor is how a script
	 * insists on the end being checked. */
	if (a->anchor != NULL && access(a->anchor, R_OK) < 0) {
		errorx("--anchor %s: %s", a->anchor, strerror(errno));
		return CTL_FAIL;
	}
	anchor = a->anchor ? xstrdup(a->anchor) : audit_anchor_path(db);
	err_clear(&e);
	if ((n = audit_verify(db, stdout, &rows, &e)) < 0 ||
	    (m = audit_verify_end(db, anchor, stdout, &end, &e)) < 0) {
		errorx("%s", e.msg);
		free(anchor);
		return CTL_FAIL;
	}
	if (n + m > 0) {
		printf("audit trail of %lld row(s) in %s: %d problem(s); it has"
		    " been tampered with\n", (long long)rows, db, n + m);
		free(anchor);
		return CTL_FAIL;
	}
	if (!end.anchored)
		printf("audit trail of %lld row(s) in %s: intact as a chain, but"
		    " its end cannot be checked: %s %s (rows deleted from the"
		    " end would not show; give --anchor FILE)\n",
		    (long long)rows, db, anchor, access(anchor, F_OK) == 0 ?
		    "has no entry yet" : "does not exist");
	else {
		printf("audit trail of %lld row(s) in %s: intact; its end"
		    " matches %s (row %lld%s)\n", (long long)rows, db, anchor,
		    (long long)end.anchored_id, end.restored ?
		    ", anchored since a restore" : "");
		if (end.ahead > 0)
			printf("%lld row(s) after the last anchored row %lld:"
			    " committed, not yet anchored (clerkd writes the"
			    " anchor just after each commit; a crash in between"
			    " leaves this); they chain from it\n",
			    (long long)end.ahead, (long long)end.anchored_id);
	}
	free(anchor);
	return CTL_OK;
}

static int
cmd_audit_export(struct ctl *c, struct args *a)
{
	struct err e;

	if (ctl_config(c) < 0)
		return CTL_FAIL;
	err_clear(&e);
	if (audit_export(c->cfg.database, a->after, 0, stdout, &e) < 0) {
		errorx("%s", e.msg);
		return CTL_FAIL;
	}
	return CTL_OK;
}

/*
 * user hash / token: lines for the users file; no daemon, no config.
 */

/* One line from standard input, without its newline; with the echo off
 * when it is a terminal. NULL at end of input. */
static char *
read_secret(const char *prompt)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &old) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static void
free_secret(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static int
cmd_user_hash(struct ctl *c, struct args *a)
{
	char hash[AUTH_HASH_MAX], *pw, *again = NULL;
	struct err e;
	int rc = CTL_FAIL;

	if ((pw = read_secret("password: ")) == NULL || pw[0] == '\0') {
		errorx("no password on standard input");
		goto out;
	}
	if (isatty(STDIN_FILENO)) {
		again = read_secret("again: ");
		if (again == NULL || strcmp(pw, again) != 0) {
			errorx("the passwords differ; nothing printed");
			goto out;
		}
	}
	if (auth_hash_password(pw, hash, &e) < 0) {
		errorx("%s", e.msg);
		goto out;
	}
	printf("%s\n", hash);
	rc = CTL_OK;
out:
	free_secret(pw);
	free_secret(again);
	return rc;
}

static int
cmd_user_token(struct ctl *c, struct args *a)
{
	char token[65], stored[72];
	struct err e;

	if (auth_token_new(token, stored, &e) < 0) {
		errorx("%s", e.msg);
		return CTL_FAIL;
	}
	printf("token:  %s\nstored: %s\n", token, stored);
	return CTL_OK;
}

/* ---- the command table ---- */

static const struct option o_none[] = { { NULL, 0, NULL, 0 } };

static const struct option o_run[] = {
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_pause[] = {
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "by", required_argument, NULL, OPT_BY },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_item_list[] = {
	{ "state", required_argument, NULL, OPT_STATE },
	{ "playbook", required_argument, NULL, OPT_PLAYBOOK },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "before", required_argument, NULL, OPT_BEFORE },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_esc_list[] = {
	{ "all", no_argument, NULL, OPT_ALL },
	{ "playbook", required_argument, NULL, OPT_PLAYBOOK },
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "assignee", required_argument, NULL, OPT_ASSIGNEE },
	{ "overdue", no_argument, NULL, OPT_OVERDUE },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_claim[] = {
	{ "minutes", required_argument, NULL, OPT_MINUTES },
	{ "by", required_argument, NULL, OPT_BY },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_release[] = {
	{ "by", required_argument, NULL, OPT_BY },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_decide[] = {
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "by", required_argument, NULL, OPT_BY },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_backup[] = {
	{ "force", no_argument, NULL, OPT_FORCE },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_reconcile[] = {
	{ "bank", required_argument, NULL, OPT_BANK },
	{ "ledger", required_argument, NULL, OPT_LEDGER },
	{ "rules", required_argument, NULL, OPT_RULES },
	{ "out", required_argument, NULL, OPT_OUT },
	{ NULL, 0, NULL, 0 },
};

/* records match (daemon/ctl_records.c): --left and --right ride on the
 * reconcile options' slots, --self on --all's. */
int ctl_records_match(const char *left, const char *right, const char *rules,
    const char *out, bool self, bool json);

static int
cmd_records_match(struct ctl *c, struct args *a)
{
	if (a->nbank > 1) {
		errorx("records match: one --left file");
		return CTL_USAGE;
	}
	return ctl_records_match(a->nbank ? a->bank[0] : NULL, a->ledger,
	    a->rules, a->out, a->all, c->json);
}

static const struct option o_records_match[] = {
	{ "left", required_argument, NULL, OPT_BANK },
	{ "right", required_argument, NULL, OPT_LEDGER },
	{ "rules", required_argument, NULL, OPT_RULES },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "self", no_argument, NULL, OPT_ALL },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_audit_verify[] = {
	{ "anchor", required_argument, NULL, OPT_ANCHOR },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_audit_export[] = {
	{ "after", required_argument, NULL, OPT_AFTER },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_ocr_check[] = {
	{ "template", required_argument, NULL, OPT_TEMPLATE },
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_playbook_history[] = {
	{ "hours", required_argument, NULL, OPT_HOURS },
	{ "bucket", required_argument, NULL, OPT_BUCKET },
	{ NULL, 0, NULL, 0 },
};

static const struct option o_playbook_test[] = {
	{ "sample", required_argument, NULL, OPT_SAMPLE },
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "connector", required_argument, NULL, OPT_CONNECTOR },
	{ "approve", required_argument, NULL, OPT_APPROVE },
	{ "keep", required_argument, NULL, OPT_KEEP },
	{ NULL, 0, NULL, 0 },
};

/* The dry run (daemon/ctl_test.c); the config gives the work folder. */
static int
cmd_playbook_test(struct ctl *c, struct args *a)
{
	struct dry_opts o = { 0 };
	json_t *payload = NULL, *approve = NULL;
	int rc;

	if (a->payload != NULL && parse_payload(a->payload, &payload) < 0)
		return CTL_USAGE;
	if (a->approve != NULL && parse_payload(a->approve, &approve) < 0) {
		json_decref(payload);
		return CTL_USAGE;
	}
	if (ctl_config(c) < 0) {
		json_decref(payload);
		json_decref(approve);
		return CTL_FAIL;
	}
	o.work_dir = c->cfg.work_dir;
	o.samples = a->samples;
	o.nsamples = a->nsamples;
	o.payload = payload;
	o.connectors = a->connectors;
	o.nconnectors = a->nconnectors;
	o.approve = approve;
	o.keep = a->keep;
	o.json = c->json;
	rc = ctl_playbook_test(a->argv[0], &o);
	json_decref(payload);
	json_decref(approve);
	return rc == CTLT_OK ? CTL_OK : rc == CTLT_USAGE ? CTL_USAGE :
	    CTL_FAIL;
}

/* daemon/ctl_ocr.c */
int ctl_ocr_check(const char *file, const char *tmpl, const char *tdir,
    const char *payload, bool json);

static int
cmd_ocr_check(struct ctl *c, struct args *a)
{
	char *dir = NULL;
	int rc;

	if (a->tmpl != NULL && strchr(a->tmpl, '/') == NULL && ctl_config(c) == 0)
		dir = xasprintf("%s/templates", c->cfg.playbook_dir);
	rc = ctl_ocr_check(a->argv[0], a->tmpl, dir, a->payload, c->json);
	free(dir);
	return rc;
}

static const struct cmd cmds[] = {
	{ NULL, "status", "", "status",
	  "daemon health, work items per playbook and state",
	  "Shows clerkd's version, uptime, config and health, a table of work\n"
	  "items per playbook and state (a paused playbook marked PAUSED), the\n"
	  "number of open escalations and the playbook files that failed to\n"
	  "load.\n",
	  o_none, 0, 0, cmd_status },
	{ "playbook", "list", "", "playbook list",
	  "the loaded playbooks",
	  "Lists the playbooks clerkd runs: name, trigger, business calendar,\n"
	  "number of steps, the first 12 characters of the file's SHA-256\n"
	  "(the version recorded with every run) and whether it is running or\n"
	  "PAUSED, then who paused which playbook, since when and why, and the\n"
	  "files that failed to load.\n",
	  o_none, 0, 0, cmd_playbook_list },
	{ "playbook", "check", "FILE...", "playbook check FILE...",
	  "check playbook files (no daemon needed)",
	  "Loads each FILE the way clerkd would, without a daemon, and prints\n"
	  "every problem as \"file:line: message\", or \"FILE: ok\". Exits 1 if\n"
	  "any file has a problem. Check before you deploy and reload.\n",
	  o_none, 1, -1, cmd_playbook_check },
	{ "playbook", "history", "NAME", "playbook history NAME [--hours N]"
	  " [--bucket DURATION]",
	  "a playbook's run history: items per state, failures, slow steps",
	  "Shows what playbook NAME did over the last N hours (default 24):\n"
	  "its trigger and next runs, the items queued per bucket of time (1h,\n"
	  "or 1d beyond 48 hours) in the state each is in now, how many failed\n"
	  "at least once and how many escalated, its steps by time taken\n"
	  "(runs, median, 95th percentile, longest; slowest first), and the\n"
	  "failed attempts and escalations by step and reason. Needs the\n"
	  "supervisor or admin role.\n"
	  "\n"
	  "options:\n"
	  "  --hours N           the window, 1 to 9600 (default 24)\n"
	  "  --bucket DURATION   the time per row, e.g. 15m, 1h, 1d (at least\n"
	  "                      1m, at most 500 rows in the window)\n",
	  o_playbook_history, 1, 1, cmd_playbook_history },
	{ "playbook", "test", "FILE", "playbook test FILE [--sample PATH]..."
	  " [--payload JSON|@FILE] [--connector NAME=URL]... [--approve"
	  " JSON|@FILE] [--keep DIR]",
	  "dry-run a playbook on samples (no daemon, nothing sent)",
	  "Runs the playbook in FILE on each sample, step by step, the way\n"
	  "clerkd would, and prints every step's input (each ${...} it reads,\n"
	  "with its value), its decision (ok, escalate, reject, wait,\n"
	  "system_error, stubbed, blocked), the reason and message, the\n"
	  "evidence a reviewer would see, and its output. Nothing is queued,\n"
	  "no daemon is needed, and the live queue is not read or written.\n"
	  "\n"
	  "Each sample runs on a copy, in a folder of its own: what the steps\n"
	  "write or move (archive, quarantine, reports, page images) lands\n"
	  "there, and the folder is removed at the end unless --keep is given.\n"
	  "Relative paths the steps read (rules, registries, templates,\n"
	  "credentials, remembered matches) come from the config's work\n"
	  "folder, read only.\n"
	  "\n"
	  "A step that acts outside the run is not run but shown with the\n"
	  "values it would send: http.request and http.submit (legacy\n"
	  "systems), file.put and file.get (drop folders, SFTP/FTP), notify,\n"
	  "reconcile.remember and records.apply. A step whose connector is\n"
	  "named with --connector runs for real against that URL (point it at\n"
	  "a simulator, never at a live system). A later step that reads what\n"
	  "a stubbed step would have returned is reported as blocked. Items a\n"
	  "step would queue (cases.split, pushes) are listed, not queued.\n"
	  "\n"
	  "options:\n"
	  "  --sample PATH         an upload, as a watch trigger would hand it\n"
	  "                        over, or a folder: each of its files is a\n"
	  "                        run (repeatable; last month's samples)\n"
	  "  --payload JSON|@FILE  the item's payload, a JSON object; with\n"
	  "                        --sample, added to the upload's payload\n"
	  "                        (e.g. the expected name and id_no)\n"
	  "  --connector NAME=URL  run the steps of connector NAME against URL\n"
	  "                        (repeatable)\n"
	  "  --approve JSON|@FILE  at an escalation, go on as if a reviewer\n"
	  "                        approved with this decision payload, e.g.\n"
	  "                        '{\"fields\":{\"name\":\"...\"}}' or '{}';\n"
	  "                        without it a run stops at its escalation\n"
	  "  --keep DIR            write the runs' files into DIR and keep them\n"
	  "\n"
	  "Exit status 0 when every run ended (done, escalated, rejected,\n"
	  "waiting or blocked by a stubbed step), 1 when a step failed with a\n"
	  "system error or a reference nothing fills in, or FILE does not load.\n",
	  o_playbook_test, 1, 1, cmd_playbook_test },
	{ "playbook", "run", "NAME", "playbook run NAME [--payload JSON|@FILE]"
	  " [--key KEY] [--priority N]",
	  "queue a work item for a playbook",
	  "Queues one work item of playbook NAME and prints its id. A KEY that\n"
	  "was used before does not make a second item: the existing item's\n"
	  "id is printed and nothing is queued.\n"
	  "\n"
	  "options:\n"
	  "  --payload JSON|@FILE  the item's payload, a JSON object; @FILE\n"
	  "                        reads it from FILE, @- from standard input\n"
	  "  --key KEY             the unique key (default: manual:TIME:RANDOM)\n"
	  "  --priority N          higher runs first (default 0)\n",
	  o_run, 1, 1, cmd_playbook_run },
	{ "playbook", "pause", "NAME", "playbook pause NAME [--reason TEXT]"
	  " [--by NAME]",
	  "stop claiming a playbook's items until it is resumed",
	  "Pauses playbook NAME: clerkd claims none of its items and starts\n"
	  "no new step of it. A step that is running finishes and its result\n"
	  "is committed; the item then waits in the queue. Its triggers (cron,\n"
	  "interval, watch, playbook run, the API) still queue new items, which\n"
	  "wait too. The pause is recorded (who, when, why) in the database and\n"
	  "the audit trail, and outlasts restarts and reloads. Pausing a paused\n"
	  "playbook fails (exit 1) and says who paused it. Admins and\n"
	  "supervisors only.\n"
	  "\n"
	  "options:\n"
	  "  --reason TEXT  why, shown with the pause (at most 1000 bytes)\n"
	  "  --by NAME      the person it is done for, in the audit trail\n"
	  "                 (with the api.token; default \"api\")\n",
	  o_pause, 1, 1, cmd_playbook_pause },
	{ "playbook", "resume", "NAME", "playbook resume NAME [--by NAME]",
	  "claim a paused playbook's items again",
	  "Resumes playbook NAME: its waiting items are claimed again, each\n"
	  "at its first unfinished step. Resuming a playbook that is not\n"
	  "paused fails (exit 1). Audited like the pause.\n"
	  "\n"
	  "options:\n"
	  "  --by NAME  the person it is done for, in the audit trail\n",
	  o_pause, 1, 1, cmd_playbook_resume },
	{ "item", "list", "", "item list [--state S] [--playbook P] [--limit N]"
	  " [--before ID]",
	  "work items, newest first",
	  "Lists work items, newest first.\n"
	  "\n"
	  "options:\n"
	  "  --state S     only items in state S: queued, running, retry_wait,\n"
	  "                escalated, done, rejected or cancelled\n"
	  "  --playbook P  only items of playbook P\n"
	  "  --limit N     at most N items (default 100, at most 1000)\n"
	  "  --before ID   only items older than ID (the next page)\n",
	  o_item_list, 0, 0, cmd_item_list },
	{ "item", "show", "ID", "item show ID",
	  "one work item: payload, step journal, escalations",
	  "Shows work item ID: its fields, the payload, the journal of finished\n"
	  "steps (with the playbook version that ran each) and its\n"
	  "escalations.\n",
	  o_none, 1, 1, cmd_item_show },
	{ "item", "retry", "ID", "item retry ID",
	  "queue a waiting, rejected or cancelled item again",
	  "Queues item ID again (from retry_wait, rejected or cancelled); it\n"
	  "resumes at its first unfinished step. An escalated item is decided\n"
	  "with \"clerkctl escalation decide ID retry\" instead.\n",
	  o_none, 1, 1, cmd_item_retry },
	{ "item", "cancel", "ID", "item cancel ID",
	  "cancel a queued, waiting or escalated item",
	  "Cancels item ID (queued, retry_wait or escalated); its open\n"
	  "escalations are closed.\n",
	  o_none, 1, 1, cmd_item_cancel },
	{ "escalation", "list", "", "escalation list [--all] [--playbook P]"
	  " [--reason R] [--assignee NAME|me|none] [--overdue] [--limit N]",
	  "open escalations, most urgent first",
	  "Lists the open escalations by due time, the overdue ones marked\n"
	  "OVERDUE.\n"
	  "\n"
	  "options:\n"
	  "  --all         decided ones too, by id, with their decision\n"
	  "  --playbook P  only escalations of playbook P\n"
	  "  --reason R    only those raised for reason R\n"
	  "  --assignee A  only those assigned to A (a user name, me, or\n"
	  "                none for the unassigned)\n"
	  "  --overdue     only open ones past their due time\n"
	  "  --limit N     at most N (default 100, at most 1000)\n",
	  o_esc_list, 0, 0, cmd_escalation_list },
	{ "escalation", "assign", "ID USER", "escalation assign ID USER"
	  " [--by NAME]",
	  "hand an escalation to another reviewer",
	  "Assigns escalation ID to USER, a reviewer, supervisor or admin in\n"
	  "the users file. A supervisor re-assigns any open escalation; a\n"
	  "reviewer hands over one assigned to them or claimed by them (their\n"
	  "claim goes along). Audited.\n"
	  "\n"
	  "options:\n"
	  "  --by NAME  who assigns (with the api.token; default $USER)\n",
	  o_release, 2, 2, cmd_escalation_assign },
	{ "escalation", "comment", "ID TEXT", "escalation comment ID TEXT"
	  " [--by NAME]",
	  "leave a note on an escalation",
	  "Adds a comment (at most 4000 bytes) to escalation ID; \"escalation\n"
	  "show\" lists them. Audited.\n"
	  "\n"
	  "options:\n"
	  "  --by NAME  who writes it (with the api.token; default $USER)\n",
	  o_release, 2, 2, cmd_escalation_comment },
	{ "escalation", "show", "ID", "escalation show ID",
	  "one escalation with its evidence and the item's payload",
	  "Shows escalation ID: why it was raised, when it is due, the\n"
	  "evidence the step left, the item's payload and, once decided, the\n"
	  "decision.\n",
	  o_none, 1, 1, cmd_escalation_show },
	{ "escalation", "claim", "ID", "escalation claim ID [--minutes N]"
	  " [--by NAME]",
	  "hold an escalation while you work on it",
	  "Claims escalation ID for --minutes (default 15, at most 1440):\n"
	  "until then nobody else can claim or decide it. Claiming again\n"
	  "extends your claim.\n"
	  "\n"
	  "options:\n"
	  "  --minutes N  how long (default 15)\n"
	  "  --by NAME    who claims (default $USER)\n",
	  o_claim, 1, 1, cmd_escalation_take },
	{ "escalation", "release", "ID", "escalation release ID [--by NAME]",
	  "give a claimed escalation back",
	  "Releases your claim on escalation ID.\n"
	  "\n"
	  "options:\n"
	  "  --by NAME  who releases (default $USER)\n",
	  o_release, 1, 1, cmd_escalation_release },
	{ "escalation", "decide", "ID DECISION", "escalation decide ID approve|reject|retry|"
	  "resume [--reason TEXT] [--payload JSON|@FILE] [--by NAME]",
	  "decide an escalation",
	  "Decides escalation ID:\n"
	  "  approve  the step counts as done; the item goes on with the next\n"
	  "           (a --payload is merged in first, for the next steps)\n"
	  "  reject   the item ends rejected; needs --reason\n"
	  "  retry    the escalated step runs again\n"
	  "  resume   merges --payload into the item's payload (RFC 7386),\n"
	  "           then runs the step again; needs --payload\n"
	  "\n"
	  "options:\n"
	  "  --reason TEXT         why; for a rejection, what the applicant\n"
	  "                        can do about it\n"
	  "  --payload JSON|@FILE  corrected fields, a JSON object\n"
	  "  --by NAME             who decides, for the audit trail\n"
	  "                        (default $USER)\n",
	  o_decide, 2, 2, cmd_escalation_decide },
	{ NULL, "reload", "", "reload",
	  "reload config, calendars and playbooks (like SIGHUP)",
	  "Asks clerkd to reload its config, calendars and playbooks and\n"
	  "prints the playbooks loaded and every problem. A playbook that\n"
	  "fails to load keeps running its last good version. Exits 1 if\n"
	  "there were problems.\n",
	  o_none, 0, 0, cmd_reload },
	{ NULL, "backup", "FILE", "backup FILE [--force]",
	  "copy the database to FILE (SQLite online backup)",
	  "Writes a consistent copy of clerkd's database (the config's\n"
	  "database) to FILE with SQLite's online backup; clerkd may keep\n"
	  "running. Needs read access to the database, not the daemon.\n"
	  "\n"
	  "options:\n"
	  "  --force  replace FILE if it exists\n",
	  o_backup, 1, 1, cmd_backup },
	{ NULL, "restore", "FILE", "restore FILE",
	  "put a backup back in place of the database (clerkd stopped)",
	  "Replaces clerkd's database (the config's database) with FILE, a\n"
	  "file `clerkctl backup` wrote. Stop clerkd first: restore takes\n"
	  "clerkd's lock (STATE_DIR/clerkd.lock) and refuses while clerkd\n"
	  "holds it. FILE must pass SQLite's integrity check and its audit\n"
	  "trail must verify; a backup from an older clerk is migrated (a\n"
	  "newer one is refused). The database it replaces is kept, whole,\n"
	  "as DATABASE.before-restore-TIMESTAMP; FILE itself is not changed.\n"
	  "The restored file is owned like the database's folder, so a root\n"
	  "operator's restore leaves a file the clerk user can open.\n"
	  "Work done after FILE was written is not in it: items queued since\n"
	  "come back only if their triggers fire again.\n",
	  o_none, 1, 1, cmd_restore },
	{ NULL, "reconcile", "", "reconcile --bank FILE --ledger FILE"
	  " [--rules FILE] [--out DIR]",
	  "match a bank statement against the ledger (no daemon needed)",
	  "Runs clerk's reconciliation engine on a bank statement (CSV,\n"
	  "CAMT.053 or MT940, told by content) and a ledger export, without\n"
	  "the daemon. Writes result.json, differences.csv and report.html\n"
	  "(with the 余额调节表) to DIR and prints a summary. The rules file\n"
	  "(libconfig) maps CSV columns and sets the matching passes; see\n"
	  "recon/README.md.\n"
	  "\n"
	  "options:\n"
	  "  --bank FILE    the bank statement; repeat for overlapping\n"
	  "                 statement files of the same account (duplicates\n"
	  "                 between them are reported, not counted twice)\n"
	  "  --ledger FILE  the ledger export of the same account\n"
	  "  --rules FILE   rules (default: UTF-8 CSV with the default columns)\n"
	  "  --out DIR      where the report goes (default reconcile-report)\n"
	  "\n"
	  "exit status: 0 everything matched and the statement ties, 4 there\n"
	  "are differences (see the report), 1 a file could not be read.\n",
	  o_reconcile, 0, 0, cmd_reconcile },
	{ "records", "match", "", "records match --left FILE (--right FILE |"
	  " --self) --rules FILE [--out DIR]",
	  "match two record sets, or one against itself (no daemon needed)",
	  "Runs clerk's record-matching engine (参保信息合并, 四比对) on two\n"
	  "CSV record sets, or on one against itself with --self, without the\n"
	  "daemon: normalises IDs (15 -> 18 digits), names and dates, looks\n"
	  "candidates up by blocks (never all pairs), scores each pair with its\n"
	  "components and decides auto, review or no-match by the thresholds.\n"
	  "Writes pairs.csv, issues.csv (rows with an invalid ID or date, still\n"
	  "matched) and result.json to DIR and prints a summary. The rules file\n"
	  "(libconfig) maps the columns and sets blocking and thresholds; see\n"
	  "docs/clerkctl.md and playbooks/README.md.\n"
	  "\n"
	  "options:\n"
	  "  --left FILE    the first record set (CSV, UTF-8 or GBK)\n"
	  "  --right FILE   the second record set\n"
	  "  --self         match --left against itself (duplicates)\n"
	  "  --rules FILE   the rules (columns, blocking, thresholds)\n"
	  "  --out DIR      where the report goes (default records-report)\n"
	  "\n"
	  "exit status: 0 done and no pair needs a reviewer, 4 some pairs are\n"
	  "for review (see pairs.csv), 1 a file could not be read.\n",
	  o_records_match, 0, 0, cmd_records_match },
	{ "user", "hash", "", "user hash",
	  "a password hash for the users file (no daemon needed)",
	  "Reads a password from standard input (asked twice, without echo,\n"
	  "on a terminal; the first line of a pipe otherwise) and prints its\n"
	  "scrypt hash, scrypt$N$r$p$SALT$HASH, for a user's password = \"...\";\n"
	  "in the users file (docs/API.md). Every run uses a new salt.\n",
	  o_none, 0, 0, cmd_user_hash },
	{ "user", "token", "", "user token",
	  "a new API token and its users-file form (no daemon needed)",
	  "Prints a new random API token (give it to its user once; it is\n"
	  "not stored anywhere) and the form the users file keeps,\n"
	  "sha256:HEX, for that user's tokens = [ ... ];\n",
	  o_none, 0, 0, cmd_user_token },
	{ "audit", "verify", "[FILE]", "audit verify [FILE] [--anchor ANCHOR]",
	  "check the audit trail's hash chain and its end",
	  "Walks the audit trail in clerkd's database (the config's database,\n"
	  "or FILE, e.g. a backup; the daemon need not run) and checks every\n"
	  "row's SHA-256 chain. Names every edited row, every deleted one, and\n"
	  "every row whose predecessor was rewritten. Then checks the trail's\n"
	  "end against the anchor clerkd appends to (DATABASE.audit-anchor):\n"
	  "rows deleted from the end are named with how many are gone. Rows\n"
	  "after the last anchored one are fine (a crash between a commit and\n"
	  "the anchor write); a restore is recorded in the anchor. Without an\n"
	  "anchor file the end cannot be checked, and verify says so.\n"
	  "\n"
	  "options:\n"
	  "  --anchor ANCHOR  check against this anchor file (e.g. one kept\n"
	  "                   with a backup); it must exist\n"
	  "\n"
	  "exit status: 0 intact, 1 a problem was found or the database or\n"
	  "the anchor could not be read.\n",
	  o_audit_verify, 0, 1, cmd_audit_verify },
	{ "audit", "export", "", "audit export [--after N]",
	  "print the audit trail as JSON lines",
	  "Prints the audit trail, one JSON object per line (id, ts, actor,\n"
	  "action, target, details, prev_hash, hash), oldest first.\n"
	  "\n"
	  "options:\n"
	  "  --after N  only rows after row N\n",
	  o_audit_export, 0, 0, cmd_audit_export },
	{ "ocr", "check", "FILE", "ocr check FILE --template NAME|FILE"
	  " [--payload JSON|@FILE]",
	  "OCR-check a document against a template (no daemon needed)",
	  "Runs the ocr.check step's document check on FILE (PNG, JPEG, TIFF\n"
	  "or PDF, told by content) without the daemon and prints the\n"
	  "verdict, each page's quality checks, the fields read and the\n"
	  "reasons; --json prints the OCR result as the step stores it.\n"
	  "\n"
	  "options:\n"
	  "  --template NAME|FILE  a template file, or NAME for\n"
	  "                        PLAYBOOK_DIR/templates/NAME.cfg\n"
	  "  --payload JSON|@FILE  the item payload that match = \"...\" fields\n"
	  "                        compare with, e.g. {\"name\": \"张三\"}\n"
	  "\n"
	  "exit status: 0 accept, 4 reject, 5 escalate, 1 the check could not\n"
	  "run (template or engine problem), 2 usage error.\n",
	  o_ocr_check, 1, 1, cmd_ocr_check },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: clerkctl [-c FILE] [--url URL] [--token-file FILE]"
	    " [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < NCMDS; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s%s%s%s%s", cmds[i].group ?
		    cmds[i].group : "", cmds[i].group ? " " : "",
		    cmds[i].name, *cmds[i].args ? " " : "", cmds[i].args);
		fprintf(f, "  %-30s %s\n", name, cmds[i].summary);
	}
	fprintf(f, "\n%s", global_help);
}

/* A command's help; after a usage error without the global options. */
static void
cmd_help(const struct cmd *cmd, FILE *f, bool full)
{
	fprintf(f, "usage: clerkctl %s\n\n%s\n%s", cmd->synopsis, cmd->help,
	    full ? global_help : "global options: clerkctl --help\n");
}

/* A group word ("item") alone: its commands. */
static void
group_usage(const char *group, FILE *f)
{
	fprintf(f, "usage: clerkctl %s COMMAND\n\ncommands:\n", group);
	for (size_t i = 0; i < NCMDS; i++)
		if (cmds[i].group != NULL && strcmp(cmds[i].group, group) == 0)
			fprintf(f, "  clerkctl %s\n      %s\n",
			    cmds[i].synopsis, cmds[i].summary);
}

static bool
is_group(const char *w)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (cmds[i].group != NULL && strcmp(cmds[i].group, w) == 0)
			return true;
	return false;
}

/* 1 if ch is a global option (and was taken), else 0. */
static int
global_opt(struct ctl *c, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		c->config_file = arg;
		return 1;
	case OPT_URL:
		c->url = arg;
		return 1;
	case OPT_TOKEN_FILE:
		c->token_file = arg;
		return 1;
	case OPT_JSON:
		c->json = true;
		return 1;
	default:
		return 0;
	}
}

/* The option that getopt did not accept, for the message. */
static const char *
bad_option(char **argv, char *buf, size_t len)
{
	if (optopt != 0 && optopt < 0x100)
		snprintf(buf, len, "-%c", optopt);
	else
		snprintf(buf, len, "%s", argv[optind - 1]);
	return buf;
}

static int
run_cmd(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
	struct option *opts;
	struct args a;
	size_t nl = 0, ng = sizeof(global_opts) / sizeof(global_opts[0]);
	char name[64], buf[256];
	int ch, rc = -1;

	snprintf(name, sizeof(name), "%s%s%s", cmd->group ? cmd->group : "",
	    cmd->group ? " " : "", cmd->name);
	while (cmd->opts[nl].name != NULL)
		nl++;
	opts = xcalloc(nl + ng, sizeof(*opts));
	memcpy(opts, cmd->opts, nl * sizeof(*opts));
	memcpy(opts + nl, global_opts, ng * sizeof(*opts));
	memset(&a, 0, sizeof(a));

	/* optind 0 makes glibc start over on this new argument vector. */
	optind = 0;
	opterr = 0;
	while (rc < 0 && (ch = getopt_long(argc, argv, ":c:h", opts, NULL))
	    != -1) {
		if (global_opt(c, ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			cmd_help(cmd, stdout, true);
			rc = CTL_OK;
			break;
		case OPT_VERSION:
			printf("clerkctl %s\n", CLERK_VERSION);
			rc = CTL_OK;
			break;
		case OPT_STATE:
			a.state = optarg;
			break;
		case OPT_PLAYBOOK:
			a.playbook = optarg;
			break;
		case OPT_LIMIT:
			if (parse_num("--limit", optarg, 1, 1000, &a.limit) < 0)
				rc = CTL_USAGE;
			break;
		case OPT_BEFORE:
			if (parse_id("--before", optarg, &a.before) < 0)
				rc = CTL_USAGE;
			break;
		case OPT_ALL:
			a.all = true;
			break;
		case OPT_ASSIGNEE:
			a.assignee = optarg;
			break;
		case OPT_OVERDUE:
			a.overdue = true;
			break;
		case OPT_PAYLOAD:
			a.payload = optarg;
			break;
		case OPT_KEY:
			a.key = optarg;
			break;
		case OPT_PRIORITY:
			if (parse_num("--priority", optarg, -1000000, 1000000,
			    &a.priority) < 0)
				rc = CTL_USAGE;
			a.have_priority = true;
			break;
		case OPT_REASON:
			a.reason = optarg;
			break;
		case OPT_BY:
			a.by = optarg;
			break;
		case OPT_FORCE:
			a.force = true;
			break;
		case OPT_BANK:
			if (a.nbank == 8) {
				errorx("%s: at most 8 --bank files", name);
				return CTL_USAGE;
			}
			a.bank[a.nbank++] = optarg;
			break;
		case OPT_LEDGER:
			a.ledger = optarg;
			break;
		case OPT_RULES:
			a.rules = optarg;
			break;
		case OPT_MINUTES:
			if (parse_num("--minutes", optarg, 1, 1440,
			    &a.minutes) < 0)
				rc = CTL_USAGE;
			break;
		case OPT_AFTER:
			if (parse_num("--after", optarg, 0, INT64_MAX,
			    &a.after) < 0)
				rc = CTL_USAGE;
			break;
		case OPT_OUT:
			a.out = optarg;
			break;
		case OPT_TEMPLATE:
			a.tmpl = optarg;
			break;
		case OPT_SAMPLE:
			if (a.nsamples == 32) {
				errorx("%s: at most 32 --sample (name a folder"
				    " to run all its files)", name);
				return CTL_USAGE;
			}
			a.samples[a.nsamples++] = optarg;
			break;
		case OPT_CONNECTOR:
			if (a.nconnectors == 16) {
				errorx("%s: at most 16 --connector", name);
				return CTL_USAGE;
			}
			a.connectors[a.nconnectors++] = optarg;
			break;
		case OPT_APPROVE:
			a.approve = optarg;
			break;
		case OPT_KEEP:
			a.keep = optarg;
			break;
		case OPT_HOURS:
			if (parse_num("--hours", optarg, 1, 9600, &a.hours) < 0)
				rc = CTL_USAGE;
			break;
		case OPT_BUCKET:
			a.bucket = optarg;
			break;
		case OPT_ANCHOR:
			a.anchor = optarg;
			break;
		case ':':
			errorx("%s: option %s needs a value", name,
			    bad_option(argv, buf, sizeof(buf)));
			fputc('\n', stderr);
			cmd_help(cmd, stderr, false);
			rc = CTL_USAGE;
			break;
		default:
			errorx("%s: unknown option %s", name,
			    bad_option(argv, buf, sizeof(buf)));
			fputc('\n', stderr);
			cmd_help(cmd, stderr, false);
			rc = CTL_USAGE;
			break;
		}
	}
	free(opts);
	if (rc >= 0)
		return rc;
	a.argc = argc - optind;
	a.argv = argv + optind;
	if (a.argc < cmd->minargs || (cmd->maxargs >= 0 &&
	    a.argc > cmd->maxargs)) {
		if (a.argc < cmd->minargs)
			errorx("%s: missing argument", name);
		else
			errorx("%s: unexpected argument \"%s\"", name,
			    a.argv[cmd->maxargs]);
		fprintf(stderr, "usage: clerkctl %s\n(clerkctl %s --help"
		    " explains)\n", cmd->synopsis, name);
		return CTL_USAGE;
	}
	return cmd->run(c, &a);
}

int
main(int argc, char **argv)
{
	struct option *gopts = (struct option *)global_opts;
	struct ctl c;
	const struct cmd *cmd = NULL;
	char buf[256];
	int ch, rc;

	/* Before anything else: this may re-execute clerkctl (ocr.h says why). */
	ocr_env_ensure(argv);
	memset(&c, 0, sizeof(c));
	opterr = 0;
	/* '+': stop at the command; its options are parsed by run_cmd. */
	while ((ch = getopt_long(argc, argv, "+:c:h", gopts, NULL)) != -1) {
		if (global_opt(&c, ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			usage(stdout);
			return CTL_OK;
		case OPT_VERSION:
			printf("clerkctl %s\n", CLERK_VERSION);
			return CTL_OK;
		case ':':
			errorx("option %s needs a value", bad_option(argv, buf,
			    sizeof(buf)));
			usage(stderr);
			return CTL_USAGE;
		default:
			errorx("unknown option %s", bad_option(argv, buf,
			    sizeof(buf)));
			usage(stderr);
			return CTL_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		errorx("no command given");
		usage(stderr);
		return CTL_USAGE;
	}
	if (is_group(argv[0])) {
		if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0) {
			bool help = argc >= 2;

			if (!help)
				errorx("\"%s\" needs a command", argv[0]);
			group_usage(argv[0], help ? stdout : stderr);
			return help ? CTL_OK : CTL_USAGE;
		}
		for (size_t i = 0; i < NCMDS && cmd == NULL; i++)
			if (cmds[i].group != NULL &&
			    strcmp(cmds[i].group, argv[0]) == 0 &&
			    strcmp(cmds[i].name, argv[1]) == 0)
				cmd = &cmds[i];
		if (cmd == NULL) {
			errorx("unknown command \"%s %s\"", argv[0], argv[1]);
			group_usage(argv[0], stderr);
			return CTL_USAGE;
		}
		argc--;
		argv++;
	} else {
		for (size_t i = 0; i < NCMDS && cmd == NULL; i++)
			if (cmds[i].group == NULL &&
			    strcmp(cmds[i].name, argv[0]) == 0)
				cmd = &cmds[i];
		if (cmd == NULL) {
			errorx("unknown command \"%s\"", argv[0]);
			usage(stderr);
			return CTL_USAGE;
		}
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	if ((c.curl = curl_easy_init()) == NULL)
		fatal("cannot initialize libcurl");
	rc = run_cmd(&c, cmd, argc, argv);
	curl_easy_cleanup(c.curl);
	curl_global_cleanup();
	if (c.cfg_loaded)
		config_clear(&c.cfg);
	free(c.base);
	free(c.token);
	free(c.token_path);
	free(c.token_err);
	return rc;
}
