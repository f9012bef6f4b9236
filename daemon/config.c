/*
 * config.c - clerkd's main configuration file.
 */
#include "config.h"

#include <libconfig.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"

static const char *const known_keys[] = {
	"state_dir", "database", "work_dir", "listen", "workers", "log_level",
	"playbook_dir", "calendar_dir", "timezone", "lease", "drain_grace",
	"poll", "web_dir", "users_file", "tls_cert", "tls_key", "store", NULL,
};

static char *
absolute(const char *base, const char *path)
{
	char cwd[4096];

	if (path[0] == '/')
		return xstrdup(path);
	if (base == NULL) {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return xstrdup(path);
		base = cwd;
	}
	if (strcmp(path, ".") == 0)
		return xstrdup(base);
	return xasprintf("%s/%s", base, path);
}

static int
bad(struct err *e, const config_setting_t *s, const char *file,
    const char *msg)
{
	err_setc(e, ERR_INVALID, "%s:%d: %s", file,
	    s ? (int)config_setting_source_line(s) : 0, msg);
	return -1;
}

static int
parse_listen(struct config *c, const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	free(c->listen_host);
	c->listen_host = xstrndup(s, (size_t)(colon - s));
	c->listen_port = (int)port;
	return 0;
}

int
config_load(struct config *c, const char *file, struct err *e)
{
	const char *state = "clerk-state", *db = "clerk.db", *work = NULL;
	const char *pbdir = "playbooks", *caldir = NULL, *web = NULL, *s;
	const char *users = NULL, *cert = NULL, *key = NULL, *store = NULL;
	char *base = NULL, *tmp;
	config_setting_t *root, *m;
	config_t cfg;
	struct {
		const char *key;
		int64_t *dst;
		const char *def;
	} durs[] = {
		{ "lease", &c->lease_ms, "60s" },
		{ "drain_grace", &c->drain_grace_ms, "30s" },
		{ "poll", &c->poll_ms, "1s" },
	};
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->listen_host = xstrdup("127.0.0.1");
	c->listen_port = CONFIG_DEFAULT_PORT;
	c->workers = 4;
	c->log_level = LL_INFO;
	c->timezone = xstrdup("Asia/Shanghai");
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++)
		util_parse_duration(durs[i].def, durs[i].dst, NULL);

	config_init(&cfg);
	if (file != NULL) {
		c->file = absolute(NULL, file);
		tmp = xstrdup(c->file);
		base = xstrdup(dirname(tmp));
		free(tmp);
		if (!config_read_file(&cfg, file)) {
			if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
				err_setc(e, ERR_INVALID, "%s: cannot read the"
				    " config file", file);
			else
				err_setc(e, ERR_INVALID, "%s:%d: %s",
				    config_error_file(&cfg) ?
				    config_error_file(&cfg) : file,
				    config_error_line(&cfg),
				    config_error_text(&cfg));
			goto out;
		}
	}
	root = config_root_setting(&cfg);
	for (int i = 0; i < config_setting_length(root); i++) {
		m = config_setting_get_elem(root, i);
		bool known = false;

		for (int k = 0; known_keys[k] != NULL; k++)
			known |= strcmp(known_keys[k],
			    config_setting_name(m)) == 0;
		if (!known) {
			char msg[256];

			snprintf(msg, sizeof(msg), "unknown setting \"%s\";"
			    " check its spelling (see docs/clerkd.conf.example)",
			    config_setting_name(m));
			bad(e, m, file, msg);
			goto out;
		}
		if (strcmp(config_setting_name(m), "workers") != 0 &&
		    config_setting_type(m) != CONFIG_TYPE_STRING) {
			char msg[256];

			snprintf(msg, sizeof(msg), "\"%s\" must be a string in"
			    " double quotes", config_setting_name(m));
			bad(e, m, file, msg);
			goto out;
		}
	}
	config_lookup_string(&cfg, "state_dir", &state);
	config_lookup_string(&cfg, "database", &db);
	/* A shared store, named by URL, wins over the SQLite file. */
	if (config_lookup_string(&cfg, "store", &store) &&
	    !queue_store_is_url(store)) {
		bad(e, config_lookup(&cfg, "store"), file, "store must be a"
		    " PostgreSQL URL, postgresql://USER@HOST:PORT/DATABASE;"
		    " for an SQLite file set database instead");
		goto out;
	}
	config_lookup_string(&cfg, "work_dir", &work);
	config_lookup_string(&cfg, "playbook_dir", &pbdir);
	config_lookup_string(&cfg, "calendar_dir", &caldir);
	config_lookup_string(&cfg, "web_dir", &web);
	config_lookup_string(&cfg, "users_file", &users);
	config_lookup_string(&cfg, "tls_cert", &cert);
	config_lookup_string(&cfg, "tls_key", &key);
	if ((cert == NULL) != (key == NULL)) {
		bad(e, config_lookup(&cfg, cert ? "tls_cert" : "tls_key"), file,
		    "tls_cert and tls_key go together: set both (PEM files) for"
		    " HTTPS, or neither for plain HTTP");
		goto out;
	}
	if (config_lookup_string(&cfg, "listen", &s) &&
	    parse_listen(c, s) < 0) {
		bad(e, config_lookup(&cfg, "listen"), file, "listen must be"
		    " HOST:PORT, e.g. \"127.0.0.1:8470\"");
		goto out;
	}
	if ((m = config_lookup(&cfg, "workers")) != NULL) {
		if (config_setting_type(m) != CONFIG_TYPE_INT ||
		    config_setting_get_int(m) < 1 ||
		    config_setting_get_int(m) > 256) {
			bad(e, m, file, "workers must be a number from 1 to 256");
			goto out;
		}
		c->workers = config_setting_get_int(m);
	}
	if (config_lookup_string(&cfg, "log_level", &s)) {
		if ((c->log_level = log_level_parse(s)) < 0) {
			bad(e, config_lookup(&cfg, "log_level"), file,
			    "log_level must be debug, info, warn or error");
			goto out;
		}
	}
	if (config_lookup_string(&cfg, "timezone", &s)) {
		free(c->timezone);
		c->timezone = xstrdup(s);
	}
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		struct err de = { 0 };

		if (!config_lookup_string(&cfg, durs[i].key, &s))
			continue;
		if (util_parse_duration(s, durs[i].dst, &de) == 0 &&
		    *durs[i].dst <= 0)
			snprintf(de.msg, sizeof(de.msg), "%s must be longer"
			    " than 0", durs[i].key);
		if (*durs[i].dst <= 0 || de.msg[0] != '\0') {
			bad(e, config_lookup(&cfg, durs[i].key), file, de.msg);
			goto out;
		}
	}
	c->state_dir = absolute(base, state);
	/* A URL is not a path: it is kept as written. */
	c->database = store ? xstrdup(store) : absolute(c->state_dir, db);
	c->work_dir = work ? absolute(base, work) : xstrdup(c->state_dir);
	c->playbook_dir = absolute(base, pbdir);
	c->calendar_dir = caldir ? absolute(base, caldir) :
	    xasprintf("%s/calendars", c->playbook_dir);
	/* Installed files first, then the source tree clerkd was built from
	 * (the demo and the tests run from there). */
	if (web != NULL)
		c->web_dir = absolute(base, web);
	else if (access(CLERK_WEB_DIR "/index.html", R_OK) == 0)
		c->web_dir = xstrdup(CLERK_WEB_DIR);
	else
		c->web_dir = xstrdup(CLERK_SOURCE_WEB_DIR);
	if (users != NULL)
		c->users_file = absolute(base, users);
	if (cert != NULL) {
		c->tls_cert = absolute(base, cert);
		c->tls_key = absolute(base, key);
	}
	rc = 0;
out:
	config_destroy(&cfg);
	free(base);
	if (rc < 0)
		config_clear(c);
	return rc;
}

void
config_clear(struct config *c)
{
	free(c->file);
	free(c->state_dir);
	free(c->database);
	free(c->work_dir);
	free(c->listen_host);
	free(c->playbook_dir);
	free(c->calendar_dir);
	free(c->timezone);
	free(c->web_dir);
	free(c->users_file);
	free(c->tls_cert);
	free(c->tls_key);
	memset(c, 0, sizeof(*c));
}

char *
config_token_path(const struct config *c)
{
	return xasprintf("%s/api.token", c->state_dir);
}
