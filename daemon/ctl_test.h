/*
 * ctl_test.h - "clerkctl playbook test": a dry run of a playbook on
 * samples, without a daemon, a queue or the systems it talks to.
 */
#ifndef CLERK_CTL_TEST_H
#define CLERK_CTL_TEST_H

#include <stdbool.h>

#include <jansson.h>

enum { CTLT_OK = 0, CTLT_FAIL = 1, CTLT_USAGE = 2 };

struct dry_opts {
	const char *work_dir;      /* where relative paths are read */
	const char *const *samples;   /* uploads, or folders of them */
	int nsamples;
	json_t *payload;           /* the payload, or on top of an upload's */
	const char *const *connectors;   /* "NAME=URL": run against URL */
	int nconnectors;
	json_t *approve;           /* approve escalations with this decision
	                              payload ({"fields": {...}}); NULL: stop */
	const char *keep;          /* write into this folder and keep it */
	bool json;
};

/* Runs file's playbook on each sample (or once on the payload) and
 * prints each step; CTLT_FAIL when a run hit a system error or a
 * reference nothing fills in, or the playbook does not load. */
int ctl_playbook_test(const char *file, const struct dry_opts *o);

#endif
