/*
 * config.h - clerkd's main configuration (libconfig). clerkctl reads the
 * same file to find the daemon's address and API token.
 */
#ifndef CLERK_CONFIG_H
#define CLERK_CONFIG_H

#include <stdint.h>

#include "util.h"

#define CONFIG_DEFAULT_FILE "/etc/clerk/clerkd.conf"
#define CONFIG_DEFAULT_PORT 8470

struct config {
	char *file;            /* NULL when running on defaults */
	char *state_dir;       /* absolute */
	/* The store: an SQLite file (database, absolute) or, when the store
	 * setting names one, a postgresql:// URL that several clerkd may
	 * share (each with its own state_dir). */
	char *database;
	char *work_dir;        /* base of relative paths in playbooks */
	char *listen_host;
	int listen_port;
	int workers;
	int log_level;         /* enum log_level */
	char *playbook_dir;
	char *calendar_dir;
	char *timezone;        /* e.g. Asia/Shanghai */
	char *web_dir;         /* the reviewer UI's files */
	char *users_file;      /* absolute; NULL: only the api.token admin */
	char *tls_cert;        /* PEM certificate (chain), absolute; NULL: plain HTTP */
	char *tls_key;         /* PEM private key, absolute */
	int64_t lease_ms;
	int64_t drain_grace_ms;
	int64_t poll_ms;       /* how often idle playbooks are polled */
};

/*
 * Loads file (NULL: built-in defaults relative to the current directory).
 * Relative paths in the file are taken relative to the file's directory.
 * Errors are "file:line: message".
 */
int config_load(struct config *c, const char *file, struct err *e);
void config_clear(struct config *c);
/* STATE_DIR/api.token, allocated. */
char *config_token_path(const struct config *c);

#endif
