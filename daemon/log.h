/*
 * log.h - JSON-lines logging on stderr: one object per line with time,
 * level, message and, where known, the work item, playbook and step.
 */
#ifndef CLERK_LOG_H
#define CLERK_LOG_H

#include <stdint.h>

enum log_level { LL_DEBUG, LL_INFO, LL_WARN, LL_ERROR };

void log_set_level(enum log_level level);
/* "debug", "info", "warn", "error"; -1 if unknown. */
int log_level_parse(const char *s);
void log_emit(enum log_level level, int64_t item, const char *playbook,
    const char *step, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define log_debug(...) log_emit(LL_DEBUG, 0, NULL, NULL, __VA_ARGS__)
#define log_info(...)  log_emit(LL_INFO, 0, NULL, NULL, __VA_ARGS__)
#define log_warn(...)  log_emit(LL_WARN, 0, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_emit(LL_ERROR, 0, NULL, NULL, __VA_ARGS__)

#endif
