/*
 * playbook.h - playbooks (libconfig files) and the step kinds they use.
 *
 * A playbook names its trigger, its calendar, its policies and its steps.
 * Loading checks everything a supervisor can get wrong and reports each
 * problem as "file:line: message"; a playbook that does not load never
 * replaces one that runs.
 */
#ifndef CLERK_PLAYBOOK_H
#define CLERK_PLAYBOOK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <libconfig.h>

#include "queue.h"
#include "util.h"

/* The longest ${...} reference name. */
#define STEP_REF_MAX 128

struct calendar;
struct cron;
struct playbook;
struct pb_step;

/* Problems found while loading, each "file:line: message". */
struct pb_diag {
	const char *file;          /* for problems that have no line */
	char **msgs;
	size_t n;
};

void pb_diag_add(struct pb_diag *d, const config_setting_t *at,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pb_diag_clear(struct pb_diag *d);

/*
 * The duration setting key of group g in ms: def when it is absent, -1
 * (with a problem added) when it is not a duration string.
 */
int64_t pb_setting_duration(const config_setting_t *g, const char *key,
    const char *def, struct pb_diag *d);

/* What a step kind's run() reports. */
enum step_result {
	STEP_OK,
	STEP_SYSTEM_ERROR,     /* retried with backoff, then escalated */
	STEP_BUSINESS_ERROR,   /* escalated (or rejected) at once */
	STEP_ESCALATE,         /* needs a person, by design */
	STEP_WAIT,             /* not yet: back to the queue until
	                          ctx->wait_until, no attempt counted */
};

struct step_ctx {
	const struct item *item;
	json_t *payload;           /* the item's payload (borrowed) */
	json_t *outputs;           /* {"step id": output} of finished steps */
	const struct playbook *pb;
	const struct pb_step *step;
	const char *work_dir;      /* base of relative paths */
	/* Where the step writes and moves files (archive, reports,
	 * artifacts); NULL: work_dir. A dry run points it elsewhere. */
	const char *out_dir;
	atomic_bool *stopping;     /* set when the daemon drains */
	/*
	 * Creates a work item of another playbook and waits for its commit;
	 * an existing key is not an error (a re-run spawns nothing twice).
	 * NULL where no queue is at hand (clerkctl).
	 */
	int (*spawn)(struct step_ctx *ctx, const char *playbook,
	    const char *key, const char *payload, struct err *e);
	void *spawn_arg;

	/*
	 * A reviewer's approval of this step (the item was escalated here
	 * and approved): {"escalation", "by", "at", "fields"?}, and the
	 * escalation's evidence; NULL when the step runs as usual.
	 */
	json_t *approval;
	json_t *evidence;

	/* The first ${...} that had no value (step_expand, step_refs_check). */
	char unresolved[STEP_REF_MAX];

	/* Filled by run(). */
	json_t *output;            /* on STEP_OK; NULL means {} */
	char message[512];         /* on failure/escalation */
	char reason[64];           /* escalation reason code */
	json_t *context;           /* escalation evidence, or NULL */
	int64_t wait_until;        /* on STEP_WAIT: ms since the epoch */
	/*
	 * On STEP_WAIT, set by step_waiting_since(): what the step waits on
	 * and since when. The scheduler keeps it with the item (payload
	 * "_waiting") so that a bound on the wait holds across restarts; a
	 * wait without it, or any other result, ends the kept one.
	 */
	char wait_on[40];
	int64_t wait_since;
};

/*
 * References: ${field} or ${payload.a.b} from the item's payload,
 * ${steps.ID.a.b} from the output of an earlier step. A reference that
 * has no value (absent or null) is an error, never text: the values end
 * up in other organisations' systems.
 */
/* The next ${name} at or after p: its start, name copied, *end after '}'. */
const char *step_ref_next(const char *p, char *name, size_t n,
    const char **end);
/* The value name refers to (borrowed), or NULL. */
json_t *step_ref_value(json_t *payload, json_t *outputs, const char *name);
/* tmpl with every reference filled in; NULL when one has no value (its
 * name in ctx->unresolved): the caller fails with step_unresolved(). */
char *step_expand(struct step_ctx *ctx, const char *tmpl);
/* 0 when every reference in refs has a value, else -1 (ctx->unresolved). */
int step_refs_check(struct step_ctx *ctx, char *const *refs, size_t n);
/* The business error for ctx->unresolved, naming the reference. */
enum step_result step_unresolved(struct step_ctx *ctx);

/*
 * Since when (ms) this step of the item has been waiting on `on` (e.g.
 * "system.unavailable"): the start kept with the item when its last wait
 * was this step's on the same, else now. Marks the wait to be kept
 * (ctx->wait_on, ctx->wait_since) should the step return STEP_WAIT.
 */
int64_t step_waiting_since(struct step_ctx *ctx, const char *on);

/* Sets ctx->message (and reason) and returns res. */
enum step_result step_fail(struct step_ctx *ctx, enum step_result res,
    const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

struct step_kind {
	const char *name;
	const char *summary;
	const char *const *keys;   /* settings it accepts besides the common */
	/* Checks the step's settings at load time and builds its conf. */
	int (*prepare)(const config_setting_t *s, void **conf,
	    struct pb_diag *d);
	void (*release)(void *conf);
	enum step_result (*run)(struct step_ctx *ctx, void *conf);

	/*
	 * For checking ${steps.ID.PATH} at load: 1 when this step's output
	 * can hold PATH, 0 when not (with what it does hold in hint). NULL:
	 * the kind's output is not known in advance.
	 */
	int (*output_has)(const void *conf, const char *path, char *hint,
	    size_t n);
	/* ${NAME}s the kind fills in itself (http: "request_key"). */
	const char *const *tokens;
	/*
	 * A reviewer's approval's payload (decision: {"fields": {...}}),
	 * checked against the item's payload and the escalation's evidence
	 * (its context) before the decision is committed, so a bad
	 * correction is refused at once. NULL: any.
	 */
	int (*check_decision)(const void *conf, json_t *decision,
	    json_t *payload, json_t *evidence, struct err *e);
	/*
	 * For a step after the one that escalated, which reads what the
	 * reviewer decided: check_handed_on refuses a decision this step
	 * would refuse when it runs (so the reviewer hears it at once), and
	 * annotate adds to an open escalation what has changed since it was
	 * opened (a line another reviewer has booked meanwhile). work_dir is
	 * the base of relative paths. NULL: nothing to check or add.
	 */
	int (*check_handed_on)(const void *conf, const char *work_dir,
	    json_t *decision, json_t *payload, struct err *e);
	void (*annotate)(const void *conf, const char *work_dir, json_t *esc);
	/*
	 * Runs instead of run() once a reviewer approved the step that
	 * escalated (ctx->approval, ctx->evidence): its output is what the
	 * later steps read. NULL: the output is the approval and the
	 * reviewer's fields.
	 */
	enum step_result (*approved)(struct step_ctx *ctx, void *conf);

	/*
	 * For a dry run (clerkctl playbook test): what the step does to a
	 * system or file outside the run ("sends a request to a legacy
	 * system"); a kind with an effect is not run there but shown with
	 * its input. NULL: safe to run, its files written in ctx->out_dir.
	 */
	const char *effect;
	/* The connector a step of this kind talks to, so a dry run can run
	 * it against a simulator named for that connector. NULL: none. */
	const char *(*connector)(const void *conf);
};

/*
 * Runs ctx->step: its approved() (or the generic approval) when a
 * reviewer approved it, else run() once every reference in its settings
 * has a value.
 */
enum step_result step_run(struct step_ctx *ctx);

/*
 * What the later steps of it read: {"step id": output} of its finished
 * steps, with the corrections of a resume (payload "corrections":
 * {"steps": {"ID": {...}}}) on top.
 */
json_t *step_outputs(const struct item *it, json_t *payload);
/* rel under ctx->out_dir (work_dir when unset): where a step writes. */
char *step_out_path(const struct step_ctx *ctx, const char *rel);

/* output_has for a kind whose output has exactly the top-level names. */
int step_output_in(const char *path, const char *const *names, char *hint,
    size_t n);

const struct step_kind *step_kind_find(const char *name);
/* NULL-terminated list of every registered kind. */
const struct step_kind *const *step_kinds(void);

enum trigger_kind { TRIG_MANUAL, TRIG_CRON, TRIG_INTERVAL, TRIG_WATCH,
    TRIG_OVERDUE };

/* What a cron / interval trigger does with the firings it missed while
 * clerkd was down (trigger = { ...; catch_up = "once"; }). */
enum pb_catch_up { CATCHUP_NONE, CATCHUP_ONCE, CATCHUP_ALL };
const char *pb_catch_up_name(enum pb_catch_up c);

struct pb_step {
	char *id;
	const struct step_kind *kind;
	void *conf;
	int line;
	bool reject_on_business;   /* on_business_error = "reject" */
	/* Every ${...} in the step's settings but the kind's own tokens:
	 * all must have a value before the step runs. */
	char **refs;
	size_t nrefs;
};

struct playbook {
	atomic_int refs;
	char *name;
	char *description;
	char *file;
	char hash[65];             /* SHA-256 of the file's bytes */

	enum trigger_kind trigger;
	char *cron_expr;
	struct cron *cron;
	int64_t interval_ms;
	enum pb_catch_up catch_up;
	int catch_up_max;          /* "all": at most this many, the latest */
	int64_t catch_up_within_ms;    /* only slots this recent; 0 = any age */
	char *watch_dir;           /* as written; resolved by the daemon */
	char *watch_pattern;       /* fnmatch pattern, default "*" */

	char *calendar_name;       /* NULL = always */
	int calendar_line;
	const struct calendar *calendar;   /* resolved by the daemon */

	int concurrency;
	int priority;
	struct {
		int attempts;
		int64_t initial_ms;
		int64_t max_ms;
	} retry;
	int64_t sla_ms;

	/* Payload fields its items carry besides the trigger's (payload =
	 * [ ... ]), for checking ${field} references. */
	char **payload_fields;
	size_t npayload_fields;

	struct pb_step *steps;
	size_t nsteps;
};

/* Loads one playbook file; NULL with every problem in d. */
struct playbook *pb_load(const char *file, struct pb_diag *d);
struct playbook *pb_ref(struct playbook *pb);
void pb_unref(struct playbook *pb);

/* Loads and checks file, prints its problems to out; returns their number. */
int pb_check_file(const char *file, FILE *out);

/* Index of the first step not in the item's journal; nsteps when none. */
size_t pb_next_step(const struct playbook *pb, const struct item *it);
/* Backoff before retry number `attempt` (1-based), with jitter. */
int64_t pb_retry_delay(const struct playbook *pb, int attempt);

#endif
