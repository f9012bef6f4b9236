/*
 * cron.h - cron expressions: "m h dom mon dow" or, with an optional
 * leading seconds field, "s m h dom mon dow". Evaluated in the process's
 * local time zone (clerkd sets TZ from its config before anything runs).
 */
#ifndef CLERK_CRON_H
#define CLERK_CRON_H

#include <stdint.h>

#include "util.h"

struct cron;

struct cron *cron_parse(const char *expr, struct err *e);
void cron_free(struct cron *c);
/* Next firing strictly after `after` (unix seconds); -1 if none in 5 years. */
int64_t cron_next(const struct cron *c, int64_t after);

#endif
