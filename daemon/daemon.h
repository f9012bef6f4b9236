/*
 * daemon.h - what clerkd's parts share: the loop, config, queue and
 * scheduler, and the actions the API can ask of the daemon.
 */
#ifndef CLERK_DAEMON_H
#define CLERK_DAEMON_H

#include <event2/event.h>
#include <event2/http.h>

#include "auth.h"
#include "config.h"
#include "queue.h"
#include "scheduler.h"

struct dry_pool;
struct login_pool;

#define CLERK_VERSION "0.1.0"

struct daemon {
	struct event_base *base;
	struct config cfg;
	const char *config_file;
	struct queue *q;
	struct sched *sched;
	struct evhttp *http;
	char token[65];
	struct auth *auth;     /* users, sessions; the token is its admin */
	struct login_pool *logins;  /* http.c: password checks off the loop */
	struct dry_pool *dryruns;   /* http.c: dry runs off the loop */
	struct ssl_ctx_st *tls;     /* http.c: SSL_CTX when tls_cert is set */
	int64_t started;
};

/* Re-reads config, calendars and playbooks (SIGHUP, POST /reload);
 * actor is who asked, for the audit trail. */
json_t *daemon_reload(struct daemon *d, const char *actor);

/* http.c */
int http_start(struct daemon *d, struct err *e);
void http_stop(struct daemon *d);

/* sdnotify.c: systemd's notify protocol, a no-op outside systemd. */
void sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Half the watchdog interval systemd asks for, in ms; 0 if none. */
int64_t sd_watchdog_ms(void);

#endif
