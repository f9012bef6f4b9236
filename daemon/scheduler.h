/*
 * scheduler.h - runs playbooks: triggers make work items, a dispatcher on
 * the event loop claims them within each playbook's concurrency and
 * calendar, and a pool of worker threads runs their steps. Results go to
 * the queue's writer; the next step starts only after the previous one's
 * completion is committed.
 */
#ifndef CLERK_SCHEDULER_H
#define CLERK_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "queue.h"

struct playbook;
struct sched;

/* q NULL: only load and check playbooks; no trigger is started. */
struct sched *sched_new(struct event_base *base, struct queue *q,
    const struct config *cfg);
/*
 * (Re)loads calendars and playbooks from the configured directories. A
 * playbook that fails keeps its running version. Returns
 * {"loaded":[names], "errors":["file:line: message"]}.
 */
json_t *sched_load(struct sched *s, const struct config *cfg);
void sched_start(struct sched *s);
/* Stops claiming, lets running steps finish within the grace period,
 * releases the rest, then calls done(arg) on the loop. */
void sched_drain(struct sched *s, void (*done)(void *), void *arg);
/* Frees s; false (and nothing freed) while a worker is still in a step. */
bool sched_free(struct sched *s);
/* The name this clerkd's claims carry (host:pid:start), the items'
 * owner. */
const char *sched_owner(const struct sched *s);
/* Look for work now (after an enqueue, a decision, a retry). */
void sched_kick(struct sched *s);

int sched_enqueue(struct sched *s, const char *playbook, const char *key,
    int priority, const char *payload, int64_t *id, bool *dup, struct err *e);

/*
 * Pauses (pause true) or resumes playbook name for by (a person, for the
 * audit trail): while paused nothing of it is claimed and no new step of
 * it starts (a running step finishes and its result is committed, then
 * the item waits in the queue); its triggers still enqueue. Persisted,
 * so it outlasts restarts and reloads. -1 with ERR_NOTFOUND when no such
 * playbook is loaded, ERR_CONFLICT when it already is paused / is not.
 */
int sched_pause(struct sched *s, const char *name, bool pause,
    const char *by, const char *reason, struct err *e);
json_t *sched_playbooks_json(struct sched *s);
/*
 * Checks an approval's payload (corrected fields, a line to match) with
 * the kind of the step that escalated and of the later steps that read
 * it, before it is committed: -1 with a message a reviewer can act on
 * when it would not be accepted.
 */
int sched_check_decision(struct sched *s, int64_t escalation,
    json_t *decision, struct err *e);
/* Adds to an open escalation (as GET returns it) what the later steps
 * know has changed since it was opened. */
void sched_annotate_escalation(struct sched *s, json_t *esc);
json_t *sched_errors_json(struct sched *s);
/* One loaded playbook as in the list, with its next nruns firings;
 * NULL when no playbook of that name is loaded. */
json_t *sched_playbook_json(struct sched *s, const char *name, int nruns);
/* The version of playbook name that runs now, referenced (pb_unref it);
 * NULL when none of that name is loaded. */
struct playbook *sched_playbook_ref(struct sched *s, const char *name);
bool sched_draining(struct sched *s);
void sched_metrics(struct sched *s, struct evbuffer *out);

#endif
