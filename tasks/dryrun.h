/*
 * dryrun.h - a dry run of one playbook on one sample upload or payload:
 * its steps in order, in a folder of the run's own, without a queue or
 * the systems it talks to. clerkctl playbook test and clerkd's
 * POST /api/v1/playbooks/NAME/test both run it.
 */
#ifndef CLERK_DRYRUN_H
#define CLERK_DRYRUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "playbook.h"
#include "util.h"

struct dryrun_opts {
	const char *work_dir;      /* where relative paths are read */
	json_t *approve;           /* approve escalations with this decision
	                              payload ({"fields": {...}}); NULL: stop */
	/*
	 * Run a step whose connector conn_overridden() points at a simulator
	 * (clerkctl --connector). false: every step with an effect or a
	 * connector is stubbed; clerkd sets it, because the override is
	 * process-wide and would reach its real runs.
	 */
	bool run_overridden;
	/* How to run a stubbed step for real, for the "blocked" message. */
	const char *unstub_hint;
	atomic_bool *stopping;     /* NULL: never */
};

/*
 * Copies the upload at path sample into dir/inbox and returns the payload
 * a watch trigger gives it, with extra on top; NULL with e set.
 */
json_t *dryrun_upload_payload(const char *sample, const char *dir,
    json_t *extra, struct err *e);

/*
 * Runs pb's steps on payload (borrowed; an approval adds its corrections
 * to it) in dir, as item number n. Returns {"outcome", "payload",
 * "steps", "would_queue"}; *failed is set when a step failed in a way
 * the playbook's author has to fix (a system error, a reference nothing
 * fills in).
 */
json_t *dryrun_run(const struct playbook *pb, const struct dryrun_opts *o,
    json_t *payload, const char *dir, int64_t n, bool *failed);

/* rm -r of a folder the dry run made for itself (mkdtemp). */
void dryrun_remove_tree(const char *path);

#endif
