/*
 * conn_file.c - SFTP and FTP file exchange on libcurl, for the file.put and
 * file.get steps.
 *
 * Every call is one curl transfer on the calling worker thread with its own
 * easy handle. Renames ride on the transfer they belong to (a QUOTE before
 * a download, a POSTQUOTE after an upload), so the server does the rename
 * and the transfer on one login.
 *
 * FTP runs with CURLFTPMETHOD_NOCWD: curl never changes directory, so a
 * path in a quote command means the same as the path of the URL (relative
 * to the login directory). SFTP paths in quote commands are the URL's path
 * as it stands, "/~/x" being "x" relative to the home directory.
 *
 * The password goes to curl as CURLOPT_PASSWORD, never in a URL, so no
 * URL, message or evidence carries it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <libconfig.h>

#include "conn.h"

#define FILE_MAX ((size_t)256 * 1024 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

enum conn_file_proto
conn_file_proto(const char *url)
{
	if (strncmp(url, "sftp://", 7) == 0)
		return CONN_FILE_SFTP;
	if (strncmp(url, "ftp://", 6) == 0)
		return CONN_FILE_FTP;
	return CONN_FILE_LOCAL;
}

void
conn_file_clear(struct conn_file *f)
{
	free(f->user);
	if (f->pass != NULL)
		explicit_bzero(f->pass, strlen(f->pass));
	free(f->pass);
	free(f->key);
	free(f->known_hosts);
	if (f->curl != NULL)
		curl_easy_cleanup(f->curl);
	memset(f, 0, sizeof(*f));
}

int
conn_file_creds(struct conn_file *f, const char *work_dir, const char *file,
    const char *name, struct err *e)
{
	char *path = util_path_join(work_dir ? work_dir : ".", file);
	const config_setting_t *g;
	const char *user, *pass = NULL, *key = NULL;
	struct stat st;
	config_t cfg;
	int rc = -1;

	if (stat(path, &st) < 0) {
		err_set(e, "%s: %s; write the entry %s = { username = \"...\";"
		    " password = \"...\"; }; there (mode 0600)", path,
		    strerror(errno), name);
		free(path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		err_set(e, "%s: mode %03o lets others read the passwords;"
		    " chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		free(path);
		return -1;
	}
	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		err_set(e, "%s:%d: %s", path, config_error_line(&cfg),
		    config_error_text(&cfg));
		goto out;
	}
	g = config_lookup(&cfg, name);
	if (g != NULL) {
		config_setting_lookup_string(g, "password", &pass);
		config_setting_lookup_string(g, "private_key", &key);
	}
	if (g == NULL || !config_setting_lookup_string(g, "username", &user) ||
	    (pass == NULL && key == NULL)) {
		err_set(e, "%s: no entry %s = { username = \"...\"; password ="
		    " \"...\"; }; (or private_key = \"PATH\"; instead of the"
		    " password, for SFTP)", path, name);
		goto out;
	}
	f->user = xstrdup(user);
	f->pass = pass ? xstrdup(pass) : NULL;
	f->key = key ? util_path_join(work_dir ? work_dir : ".", key) : NULL;
	rc = 0;
out:
	config_destroy(&cfg);
	free(path);
	return rc;
}

char *
conn_file_path(const char *url)
{
	enum conn_file_proto p = conn_file_proto(url);
	const char *s = strchr(url + (p == CONN_FILE_SFTP ? 7 : 6), '/');
	char *dec, *out;
	int len;

	if (s == NULL)
		return xstrdup(p == CONN_FILE_SFTP ? "/" : "");
	dec = curl_easy_unescape(NULL, s, 0, &len);
	if (dec == NULL)
		return NULL;
	if (p == CONN_FILE_FTP)
		out = xstrdup(dec + 1);
	else if (strncmp(dec, "/~/", 3) == 0)
		out = xstrdup(dec + 3);
	else if (strcmp(dec, "/~") == 0)
		out = xstrdup(".");
	else
		out = xstrdup(dec);
	curl_free(dec);
	return out;
}

struct wbuf {
	const char *p;
	size_t len, off;
};

static size_t
read_cb(char *out, size_t size, size_t n, void *arg)
{
	struct wbuf *b = arg;
	size_t len = size * n;

	if (len > b->len - b->off)
		len = b->len - b->off;
	memcpy(out, b->p + b->off, len);
	b->off += len;
	return len;
}

static struct curl_slist *
slist_of(const char *const *cmds)
{
	struct curl_slist *l = NULL;

	for (; cmds != NULL && *cmds != NULL; cmds++)
		l = curl_slist_append(l, *cmds);
	return l;
}

/* Host (and port) of a URL, for messages: everything up to the path. */
static void
host_of(const char *url, char *out, size_t n)
{
	const char *s = strstr(url, "://"), *p;

	s = s ? s + 3 : url;
	p = strchr(s, '/');
	snprintf(out, n, "%.*s", (int)(p ? p - s : (ptrdiff_t)strlen(s)), s);
}

/*
 * The handle of f, reset for the next transfer: its connection cache keeps
 * the login, so the calls of one step share one session.
 */
static CURL *
easy_new(struct conn_file *f, const char *url, char *errbuf)
{
	CURL *h;

	pthread_once(&curl_once, curl_init_once);
	if (f->curl != NULL)
		curl_easy_reset(f->curl);
	else if ((f->curl = curl_easy_init()) == NULL)
		return NULL;
	h = f->curl;
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "sftp,ftp");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)f->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
	if (f->user != NULL)
		curl_easy_setopt(h, CURLOPT_USERNAME, f->user);
	if (f->pass != NULL)
		curl_easy_setopt(h, CURLOPT_PASSWORD, f->pass);
	if (conn_file_proto(url) == CONN_FILE_SFTP) {
		/* Without a known_hosts file libcurl accepts any host key:
		 * the step refuses to run without one. */
		curl_easy_setopt(h, CURLOPT_SSH_KNOWNHOSTS, f->known_hosts);
		if (f->key != NULL) {
			curl_easy_setopt(h, CURLOPT_SSH_AUTH_TYPES,
			    (long)CURLSSH_AUTH_PUBLICKEY);
			curl_easy_setopt(h, CURLOPT_SSH_PRIVATE_KEYFILE, f->key);
			if (f->pass != NULL)
				curl_easy_setopt(h, CURLOPT_KEYPASSWD, f->pass);
		} else
			curl_easy_setopt(h, CURLOPT_SSH_AUTH_TYPES,
			    (long)(CURLSSH_AUTH_PASSWORD |
			    CURLSSH_AUTH_KEYBOARD));
	} else {
		curl_easy_setopt(h, CURLOPT_FTP_FILEMETHOD,
		    (long)CURLFTPMETHOD_NOCWD);
		curl_easy_setopt(h, CURLOPT_FTP_USE_EPSV, 1L);
	}
	return h;
}

static enum conn_file_rc
classify(const struct conn_file *f, const char *url, CURLcode rc,
    const char *errbuf, struct err *e)
{
	char host[256];
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	host_of(url, host, sizeof(host));
	switch (rc) {
	case CURLE_OK:
		return CONN_FILE_OK;
	case CURLE_LOGIN_DENIED:
		err_set(e, "%s refused the login of user %s (%s); correct the"
		    " credentials entry, then retry the item", host,
		    f->user ? f->user : "anonymous", why);
		return CONN_FILE_AUTH;
	case CURLE_PEER_FAILED_VERIFICATION:
		err_set(e, "%s: its host key is not in %s or differs from the"
		    " one there (%s); check the server's fingerprint, add it"
		    " (ssh-keyscan -p PORT HOST >> FILE), then retry", host,
		    f->known_hosts ? f->known_hosts : "known_hosts", why);
		return CONN_FILE_HOSTKEY;
	case CURLE_REMOTE_FILE_NOT_FOUND:
		err_set(e, "%s: %s", url, why);
		return CONN_FILE_NOTFOUND;
	case CURLE_QUOTE_ERROR:
		err_set(e, "%s: a rename on the server failed (%s)", url, why);
		return CONN_FILE_QUOTE;
	default:
		err_set(e, "%s: %s", url, why);
		return CONN_FILE_SYSTEM;
	}
}

enum conn_file_rc
conn_file_fetch(struct conn_file *f, const char *url,
    const char *const *quote, char **data, size_t *len, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	struct conn_buf b = { .max = FILE_MAX };
	struct curl_slist *q = slist_of(quote);
	enum conn_file_rc out;
	CURL *h = easy_new(f, url, errbuf);
	CURLcode rc;

	*data = NULL;
	*len = 0;
	if (h == NULL) {
		curl_slist_free_all(q);
		err_set(e, "%s: cannot create a curl handle", url);
		return CONN_FILE_SYSTEM;
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, conn_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (q != NULL)
		curl_easy_setopt(h, CURLOPT_QUOTE, q);
	rc = curl_easy_perform(h);
	if (rc == CURLE_WRITE_ERROR && b.overflow) {
		err_set(e, "%s: larger than %zu MiB", url, FILE_MAX >> 20);
		out = CONN_FILE_SYSTEM;
	} else
		out = classify(f, url, rc, errbuf, e);
	curl_slist_free_all(q);
	if (out != CONN_FILE_OK) {
		free(b.p);
		return out;
	}
	*data = b.p ? b.p : xstrdup("");
	*len = b.len;
	return out;
}

enum conn_file_rc
conn_file_store(struct conn_file *f, const char *url,
    const char *data, size_t len, const char *const *quote,
    const char *const *postquote, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	struct wbuf b = { data, len, 0 };
	struct curl_slist *q = slist_of(quote), *pq = slist_of(postquote);
	enum conn_file_rc out;
	CURL *h = easy_new(f, url, errbuf);

	if (h == NULL) {
		curl_slist_free_all(q);
		curl_slist_free_all(pq);
		err_set(e, "%s: cannot create a curl handle", url);
		return CONN_FILE_SYSTEM;
	}
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &b);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_NEW_FILE_PERMS, 0644L);
	curl_easy_setopt(h, CURLOPT_FTP_CREATE_MISSING_DIRS,
	    (long)CURLFTP_CREATE_DIR);
	if (q != NULL)
		curl_easy_setopt(h, CURLOPT_QUOTE, q);
	if (pq != NULL)
		curl_easy_setopt(h, CURLOPT_POSTQUOTE, pq);
	out = classify(f, url, curl_easy_perform(h), errbuf, e);
	curl_slist_free_all(q);
	curl_slist_free_all(pq);
	return out;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
conn_file_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

enum conn_file_rc
conn_file_list(struct conn_file *f, const char *dir_url, char ***names,
    size_t *n, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	struct conn_buf b = { .max = FILE_MAX };
	enum conn_file_rc out;
	CURL *h = easy_new(f, dir_url, errbuf);
	char *line, *save = NULL;

	*names = NULL;
	*n = 0;
	if (h == NULL) {
		err_set(e, "%s: cannot create a curl handle", dir_url);
		return CONN_FILE_SYSTEM;
	}
	curl_easy_setopt(h, CURLOPT_DIRLISTONLY, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, conn_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	out = classify(f, dir_url, curl_easy_perform(h), errbuf, e);
	/* An FTP server answers NLST of a missing folder with 550 before
	 * any transfer: the same as an empty or missing folder. */
	if (out == CONN_FILE_SYSTEM && conn_file_proto(dir_url) ==
	    CONN_FILE_FTP) {
		long code = 0;

		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (code == 550 || code == 450)
			out = CONN_FILE_NOTFOUND;
	}
	if (out != CONN_FILE_OK) {
		free(b.p);
		return out;
	}
	for (line = b.p ? strtok_r(b.p, "\r\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		const char *base = strrchr(line, '/');

		base = base ? base + 1 : line;
		if (base[0] == '\0')
			continue;
		*names = xrealloc(*names, (*n + 2) * sizeof(**names));
		(*names)[(*n)++] = xstrdup(base);
		(*names)[*n] = NULL;
	}
	free(b.p);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), cmp_names);
	return CONN_FILE_OK;
}

void
conn_file_rename_cmds(enum conn_file_proto p, const char *from,
    const char *to, char *cmds[3])
{
	if (p == CONN_FILE_SFTP) {
		cmds[0] = xasprintf("rename \"%s\" \"%s\"", from, to);
		cmds[1] = NULL;
	} else {
		cmds[0] = xasprintf("RNFR %s", from);
		cmds[1] = xasprintf("RNTO %s", to);
	}
	cmds[2] = NULL;
}

char *
conn_file_mkdir_cmd(enum conn_file_proto p, const char *dir)
{
	/* "*": a folder that is already there is no failure. */
	return p == CONN_FILE_SFTP ? xasprintf("*mkdir \"%s\"", dir) :
	    xasprintf("*MKD %s", dir);
}
