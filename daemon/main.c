/*
 * main.c - clerkd: starts the store, the scheduler and the API, then runs
 * the event loop until SIGTERM drains it.
 */
#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "daemon.h"
#include "log.h"
#include "ocr.h"

#define EXIT_CONFIG 78   /* sysexits EX_CONFIG: systemd must not restart */

static const char usage_text[] =
"usage: clerkd [-c FILE] [--check] [-h] [-V]\n"
"\n"
"clerkd runs clerk's playbooks: it watches their triggers (cron, interval,\n"
"inbox folders, manual runs), keeps every work item in a durable queue and\n"
"hands whatever it cannot finish with certainty to the escalation queue.\n"
"\n"
"options:\n"
"  -c, --config FILE  main configuration (libconfig); default\n"
"                     /etc/clerk/clerkd.conf if it exists, else built-in\n"
"                     defaults relative to the current directory\n"
"  -t, --check        load the config, calendars and playbooks, print every\n"
"                     problem as file:line: message, and exit (1 if any)\n"
"  -h, --help         this text\n"
"  -V, --version      print the version\n"
"\n"
"signals: SIGHUP reloads the config, calendars and playbooks (a playbook\n"
"that fails to load keeps its running version); SIGTERM or SIGINT drains:\n"
"no new claims, running steps get drain_grace to finish, the rest return\n"
"to the queue, and clerkd exits 0.\n"
"\n"
"files: STATE_DIR/clerk.db (SQLite, WAL), STATE_DIR/api.token (the API's\n"
"bearer token, mode 0600), STATE_DIR/clerkd.lock.\n"
"\n"
"exit status: 0 after a drain; 1 on a runtime failure; 78 when the\n"
"configuration or the database cannot be used (systemd's unit does not\n"
"restart on 78, so a bad config never turns into a crash loop).\n"
"\n"
"See docs/API.md for the HTTP API and playbooks/README.md for playbooks.\n";

static struct daemon daemon_ctx;

static int
lock_state_dir(const struct config *c, struct err *e)
{
	char *path = xasprintf("%s/clerkd.lock", c->state_dir);
	char pid[32];
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);

		pid[n > 0 ? n : 0] = '\0';
		err_set(e, "another clerkd (pid %s) already uses %s; stop it"
		    " or give this one another state_dir", n > 0 ? pid : "?",
		    c->state_dir);
		close(fd);
		free(path);
		return -1;
	}
	/* The lock lives as long as the process: the fd stays open. */
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)!write(fd, pid, strlen(pid));
	free(path);
	return fd;
}

static int
load_token(struct daemon *d, struct err *e)
{
	char *path = config_token_path(&d->cfg), *text;
	size_t len;

	text = util_read_file(path, &len, NULL);
	if (text != NULL) {
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
			text[--len] = '\0';
		if (len >= 32 && len < sizeof(d->token)) {
			memcpy(d->token, text, len + 1);
			free(text);
			free(path);
			return 0;
		}
		free(text);
	}
	if (util_random_hex(d->token, e) < 0) {
		free(path);
		return -1;
	}
	text = xasprintf("%s\n", d->token);
	if (util_write_file_atomic(path, text, strlen(text), 0600, e) < 0) {
		free(text);
		free(path);
		return -1;
	}
	free(text);
	free(path);
	return 0;
}

static void
apply_timezone(const char *tz)
{
	char *zi = xasprintf("/usr/share/zoneinfo/%s", tz);

	if (access(zi, R_OK) != 0)
		log_warn("time zone %s not found in /usr/share/zoneinfo"
		    " (install tzdata); times will be UTC", tz);
	free(zi);
	setenv("TZ", tz, 1);
	tzset();
}

/* Records what a start or reload put in force: the config's and every
 * playbook's hash, and what failed to load. */
static void
audit_loaded(struct daemon *d, const char *actor, const char *action,
    json_t *report)
{
	json_t *det = json_object(), *pbs = json_object(), *list, *p;
	char sha[65];
	size_t i;
	char *text;

	if (d->cfg.file != NULL && util_sha256_file(d->cfg.file, sha, NULL) == 0)
		json_object_set_new(det, "config_sha256", json_string(sha));
	list = sched_playbooks_json(d->sched);
	json_array_foreach(list, i, p)
		json_object_set(pbs, json_string_value(json_object_get(p,
		    "name")), json_object_get(p, "hash"));
	json_decref(list);
	json_object_set_new(det, "playbooks", pbs);
	json_object_set(det, "errors", json_object_get(report, "errors"));
	text = json_dumps(det, JSON_COMPACT);
	queue_audit(d->q, actor, action, d->cfg.file, text);
	free(text);
	json_decref(det);
}

static void
persist_session(void *arg, enum auth_persist_op op, const char *key,
    const char *csrf, const char *user, int64_t last)
{
	struct daemon *d = arg;

	struct qreq r;

	if (op == AUTH_SESSION_SAVE)
		queue_session_save(d->q, key, csrf, user, last);
	else if (!queue_shared(d->q))
		queue_session_forget(d->q, key);
	else {
		/* On a shared store every request reads the sessions
		 * (http.c): the ended one must be gone from the store before
		 * the next request, or it would be taken back. */
		memset(&r, 0, sizeof(r));
		r.op = QOP_SESSION_FORGET;
		r.u.session.key = key;
		if (queue_exec(d->q, &r) < 0)
			log_error("web session not ended in the store: %s",
			    r.err.msg);
	}
}

/* Web sessions from before a restart: a reviewer's browser stays signed
 * in (docs/API.md). */
static void
restore_sessions(struct daemon *d)
{
	struct err e;
	json_t *list = queue_sessions(d->q, &e), *x;
	int64_t now = util_mono_ms();
	size_t i, n = 0;

	auth_set_persist(d->auth, persist_session, d);
	if (list == NULL) {
		log_error("web sessions not restored: %s", e.msg);
		return;
	}
	json_array_foreach(list, i, x)
		if (auth_session_restore(d->auth, json_string_value(
		    json_object_get(x, "key")), json_string_value(json_object_get(
		    x, "csrf")), json_string_value(json_object_get(x, "user")),
		    json_integer_value(json_object_get(x, "last")), now) == 0)
			n++;
	if (json_array_size(list) > 0)
		log_info("web sessions: %zu restored, %zu ended while clerkd was"
		    " down", n, json_array_size(list) - n);
	json_decref(list);
}

/* The users file again; a broken one keeps the users in force. */
static void
reload_users(struct daemon *d, json_t *report)
{
	struct err e;

	if (auth_load(d->auth, d->cfg.users_file, &e) < 0) {
		log_error("reload: %s; keeping the %zu user(s) in force", e.msg,
		    auth_user_count(d->auth));
		json_array_append_new(json_object_get(report, "errors"),
		    json_string(e.msg));
	} else if (d->cfg.users_file != NULL)
		log_info("users: %zu from %s", auth_user_count(d->auth),
		    d->cfg.users_file);
}

static bool
differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* The settings that changed in the file but take effect only at a
 * restart, as "listen, workers" (to free), or NULL. */
static char *
restart_only(const struct config *n, const struct config *o)
{
	const struct { const char *name; bool changed; } s[] = {
		{ "state_dir", differs(n->state_dir, o->state_dir) },
		{ "database", differs(n->database, o->database) },
		{ "work_dir", differs(n->work_dir, o->work_dir) },
		{ "listen", differs(n->listen_host, o->listen_host) ||
		    n->listen_port != o->listen_port },
		{ "workers", n->workers != o->workers },
		{ "timezone", differs(n->timezone, o->timezone) },
		{ "web_dir", differs(n->web_dir, o->web_dir) },
		{ "tls_cert", differs(n->tls_cert, o->tls_cert) },
		{ "tls_key", differs(n->tls_key, o->tls_key) },
		{ "lease", n->lease_ms != o->lease_ms },
		{ "drain_grace", n->drain_grace_ms != o->drain_grace_ms },
		{ "poll", n->poll_ms != o->poll_ms },
	};
	char *out = NULL, *t;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (s[i].changed) {
			t = xasprintf("%s%s%s", out ? out : "", out ? ", " : "",
			    s[i].name);
			free(out);
			out = t;
		}
	return out;
}

json_t *
daemon_reload(struct daemon *d, const char *actor)
{
	struct config nc;
	struct err e;
	json_t *r, *restart = NULL;

	sd_notifyf("RELOADING=1");
	if (d->config_file != NULL && config_load(&nc, d->config_file, &e) < 0) {
		log_error("reload: %s; keeping the running configuration", e.msg);
		r = sched_load(d->sched, &d->cfg);
		json_array_insert_new(json_object_get(r, "errors"), 0,
		    json_string(e.msg));
		reload_users(d, r);
		audit_loaded(d, actor, "reload", r);
		sd_notifyf("READY=1");
		return r;
	}
	if (d->config_file != NULL) {
		char *later = restart_only(&nc, &d->cfg);

		if (later != NULL) {
			log_warn("reload: %s changed; the running value%s stay"
			    " until clerkd restarts", later, strchr(later, ',') ?
			    "s" : "");
			restart = json_string(later);
			free(later);
		}
		log_set_level(nc.log_level);
		free(d->cfg.playbook_dir);
		free(d->cfg.calendar_dir);
		d->cfg.playbook_dir = xstrdup(nc.playbook_dir);
		d->cfg.calendar_dir = xstrdup(nc.calendar_dir);
		d->cfg.log_level = nc.log_level;
		free(d->cfg.users_file);
		d->cfg.users_file = nc.users_file ? xstrdup(nc.users_file) :
		    NULL;
		config_clear(&nc);
	}
	r = sched_load(d->sched, &d->cfg);
	if (restart != NULL)
		json_object_set_new(r, "restart_needed", restart);
	reload_users(d, r);
	log_info("reloaded: %zu playbook(s), %zu problem(s)",
	    json_array_size(json_object_get(r, "loaded")),
	    json_array_size(json_object_get(r, "errors")));
	audit_loaded(d, actor, "reload", r);
	sd_notifyf("READY=1");
	return r;
}

static void
drained(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (sig == SIGHUP) {
		log_info("SIGHUP: reloading");
		json_decref(daemon_reload(d, "clerkd (SIGHUP)"));
		return;
	}
	if (sched_draining(d->sched)) {
		log_warn("second stop signal: exiting now; running items"
		    " return to the queue on the next start");
		event_base_loopexit(d->base, NULL);
		return;
	}
	log_info("%s: draining (grace %lldms)", sig == SIGTERM ? "SIGTERM" :
	    "SIGINT", (long long)d->cfg.drain_grace_ms);
	sd_notifyf("STOPPING=1");
	sched_drain(d->sched, drained, d);
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	/* Only a daemon that can still write is alive for systemd. */
	if (queue_healthy(d->q, NULL))
		sd_notifyf("WATCHDOG=1");
}

static int
check_only(struct config *cfg)
{
	struct event_base *base = event_base_new();
	struct sched *sc;
	json_t *r, *v;
	size_t i;
	int n;

	/* Loading needs no store: nothing is enqueued or claimed. */
	log_set_level((enum log_level)(LL_ERROR + 1));
	sc = sched_new(base, NULL, cfg);
	r = sched_load(sc, cfg);
	json_array_foreach(json_object_get(r, "errors"), i, v)
		printf("%s\n", json_string_value(v));
	json_array_foreach(json_object_get(r, "loaded"), i, v)
		printf("ok: playbook %s\n", json_string_value(v));
	n = (int)json_array_size(json_object_get(r, "errors"));
	if (cfg->users_file != NULL) {
		struct auth_users *u;
		struct err e;

		if ((u = auth_users_load(cfg->users_file, &e)) == NULL) {
			printf("%s\n", e.msg);
			n++;
		} else
			printf("ok: %zu user(s) in %s\n", u->n, cfg->users_file);
		auth_users_free(u);
	}
	json_decref(r);
	sched_free(sc);
	event_base_free(base);
	return n > 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon *d = &daemon_ctx;
	struct event *sigs[4], *wd = NULL;
	int signums[4] = { SIGHUP, SIGTERM, SIGINT, 0 };
	bool check = false;
	struct qreq r;
	struct err e;
	json_t *rep;
	int c, lockfd, rc = 0;
	char *node_owner = NULL;
	int64_t wd_ms, clock_off;

	/* Before anything else: this may re-execute clerkd (ocr.h says why). */
	ocr_env_ensure(argv);
	while ((c = getopt_long(argc, argv, "c:thV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d->config_file = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("clerkd %s\n", CLERK_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clerkd: unexpected argument \"%s\"\n\n%s",
		    argv[optind], usage_text);
		return 2;
	}
	if (d->config_file == NULL && access(CONFIG_DEFAULT_FILE, R_OK) == 0)
		d->config_file = CONFIG_DEFAULT_FILE;
	if (config_load(&d->cfg, d->config_file, &e) < 0) {
		fprintf(stderr, "clerkd: %s\n", e.msg);
		return EXIT_CONFIG;
	}
	log_set_level(d->cfg.log_level);
	/* What clerkd writes (the database, documents, page images, reports,
	 * backups) is personal data: its own, mode 0600 / 0700, whatever the
	 * umask it was started with. */
	umask(0077);
	apply_timezone(d->cfg.timezone);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(util_now_ms() ^ getpid()));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* libxml2 must be set up once, before worker threads parse CAMT. */
	xmlInitParser();
	evthread_use_pthreads();
	if (check)
		return check_only(&d->cfg);
	if (util_clock_offset(&clock_off, &e) < 0) {
		log_error("%s", e.msg);
		return EXIT_CONFIG;
	}
	if (clock_off != 0) {
		char off[32];

		util_format_duration(clock_off < 0 ? -clock_off : clock_off,
		    off, sizeof(off));
		log_warn("CLERK_TEST_CLOCK_OFFSET is set: clerkd's clock runs"
		    " %s %s the system clock (leases, SLAs, triggers, the"
		    " store's times); this is a test hook, unset it outside"
		    " tests", off, clock_off < 0 ? "behind" : "ahead of");
	}

	if (util_mkdir_p(d->cfg.state_dir, 0750, &e) < 0 ||
	    util_mkdir_p(d->cfg.work_dir, 0755, &e) < 0) {
		log_error("%s", e.msg);
		return EXIT_CONFIG;
	}
	if ((lockfd = lock_state_dir(&d->cfg, &e)) < 0) {
		log_error("%s", e.msg);
		return EXIT_CONFIG;
	}
	if (load_token(d, &e) < 0) {
		log_error("%s", e.msg);
		return EXIT_CONFIG;
	}
	d->auth = auth_new(d->token);
	if (auth_load(d->auth, d->cfg.users_file, &e) < 0) {
		log_error("%s", e.msg);
		return EXIT_CONFIG;
	}
	if (d->cfg.users_file != NULL)
		log_info("users: %zu from %s", auth_user_count(d->auth),
		    d->cfg.users_file);
	d->base = event_base_new();
	if (d->base == NULL)
		fatal("cannot create the event loop");
	d->q = queue_open(d->cfg.database, NULL, &e);
	if (d->q == NULL) {
		log_error("%s", e.msg);
		return EXIT_CONFIG;
	}
	restore_sessions(d);
	/* The state dir is locked, so nothing else runs these items: their
	 * leases are void, and they go back to the queue at once. On a
	 * shared store the running items are mostly other nodes', alive
	 * and working: only this node's own go back, those of the owner
	 * it last ran as (kept in the state dir; the lock says that
	 * process is gone). */
	memset(&r, 0, sizeof(r));
	r.op = QOP_RECOVER;
	node_owner = xasprintf("%s/node-owner", d->cfg.state_dir);
	if (queue_store_is_url(d->cfg.database)) {
		char *prev = util_read_file(node_owner, NULL, NULL);

		if (prev != NULL)
			prev[strcspn(prev, "\n")] = '\0';
		if (prev != NULL && prev[0] != '\0') {
			r.u.recover.owner = prev;
			if (queue_exec(d->q, &r) < 0)
				log_error("items of %s not returned to the"
				    " queue: %s; they go back when their lease"
				    " runs out", prev, r.err.msg);
		}
		free(prev);
		r.u.recover.owner = NULL;
	} else if (queue_exec(d->q, &r) < 0) {
		log_error("%s", r.err.msg);
		queue_close(d->q);
		free(node_owner);
		return EXIT_CONFIG;
	}
	if (r.u.recover.n > 0)
		log_warn("%d item(s) were running when clerkd last stopped;"
		    " they resume at their first unfinished step",
		    r.u.recover.n);
	d->started = util_now_ms();
	d->sched = sched_new(d->base, d->q, &d->cfg);
	if (queue_store_is_url(d->cfg.database) && util_write_file_atomic(
	    node_owner, sched_owner(d->sched), strlen(sched_owner(d->sched)),
	    0600, &e) < 0)
		log_warn("%s; after a crash this node's running items go back"
		    " to the queue only when their lease runs out", e.msg);
	free(node_owner);
	node_owner = NULL;
	rep = sched_load(d->sched, &d->cfg);
	audit_loaded(d, "clerkd", "start", rep);
	json_decref(rep);
	if (http_start(d, &e) < 0) {
		log_error("%s", e.msg);
		rc = EXIT_CONFIG;
		goto out;
	}
	for (int i = 0; signums[i] != 0; i++) {
		sigs[i] = evsignal_new(d->base, signums[i], on_signal, d);
		evsignal_add(sigs[i], NULL);
	}
	if ((wd_ms = sd_watchdog_ms()) > 0) {
		struct timeval tv = { wd_ms / 1000, (wd_ms % 1000) * 1000 };

		wd = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
		evtimer_add(wd, &tv);
	}
	sched_start(d->sched);
	log_info("clerkd %s ready on http://%s:%d (state %s, %d worker(s))",
	    CLERK_VERSION, d->cfg.listen_host, d->cfg.listen_port,
	    d->cfg.state_dir, d->cfg.workers);
	sd_notifyf("READY=1\nMAINPID=%ld", (long)getpid());

	event_base_dispatch(d->base);

	for (int i = 0; signums[i] != 0; i++)
		event_free(sigs[i]);
	if (wd != NULL)
		event_free(wd);
out:
	http_stop(d);
	if (!sched_free(d->sched)) {
		/* A step did not end within the grace period. Its item was
		 * released; flush the writer and leave without waiting. */
		memset(&r, 0, sizeof(r));
		r.op = QOP_RENEW;
		r.u.renew.owner = "";
		queue_exec(d->q, &r);
		log_info("clerkd stopped");
		_exit(rc);
	}
	queue_close(d->q);
	event_base_free(d->base);
	auth_free(d->auth);
	config_clear(&d->cfg);
	close(lockfd);
	curl_global_cleanup();
	xmlCleanupParser();
	log_info("clerkd stopped");
	return rc;
}
