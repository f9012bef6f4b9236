/*
 * calendar.h - business calendars: weekly hours plus dated exceptions
 * (public holidays closed all day, 调休 make-up workdays open), read from a
 * libconfig file the supervisor edits. Times are local (process TZ).
 */
#ifndef CLERK_CALENDAR_H
#define CLERK_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct calendar;

/* Errors come back as "file:line: message". */
struct calendar *cal_load(const char *path, struct err *e);
void cal_free(struct calendar *c);
const char *cal_name(const struct calendar *c);
bool cal_is_open(const struct calendar *c, int64_t t);
/* t itself when open, else the next opening; -1 if none within 400 days. */
int64_t cal_next_open(const struct calendar *c, int64_t t);

#endif
