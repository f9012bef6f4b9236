/*
 * log.c - JSON-lines logger. One write(2) per line so lines from several
 * threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum log_level min_level = LL_INFO;
static const char *level_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level level)
{
	min_level = level;
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return LL_WARN;
	return -1;
}

/* Appends s as a JSON string body (without quotes), escaping as needed. */
static size_t
json_escape(char *out, size_t off, size_t cap, const char *s)
{
	for (; *s != '\0' && off + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[off++] = '\\';
			out[off++] = (char)c;
		} else if (c == '\n') {
			out[off++] = '\\';
			out[off++] = 'n';
		} else if (c < 0x20) {
			off += (size_t)snprintf(out + off, cap - off, "\\u%04x", c);
		} else
			out[off++] = (char)c;
	}
	return off;
}

static size_t
append(char *out, size_t off, size_t cap, const char *s)
{
	while (*s != '\0' && off + 1 < cap)
		out[off++] = *s++;
	return off;
}

void
log_emit(enum log_level level, int64_t item, const char *playbook,
    const char *step, const char *fmt, ...)
{
	char msg[2048], line[4096], ts[48], num[32];
	size_t off = 0, cap = sizeof(line) - 2;
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* No full ID or account number in a log: journald and log files are
	 * read by more people than the queue's reviewers. */
	util_mask_ids(msg, strlen(msg));
	util_format_time(util_now_ms(), ts, sizeof(ts));

	off = append(line, off, cap, "{\"ts\":\"");
	off = append(line, off, cap, ts);
	off = append(line, off, cap, "\",\"level\":\"");
	off = append(line, off, cap, level_names[level]);
	off = append(line, off, cap, "\"");
	if (item > 0) {
		snprintf(num, sizeof(num), ",\"item\":%lld", (long long)item);
		off = append(line, off, cap, num);
	}
	if (playbook != NULL) {
		off = append(line, off, cap, ",\"playbook\":\"");
		off = json_escape(line, off, cap, playbook);
		off = append(line, off, cap, "\"");
	}
	if (step != NULL) {
		off = append(line, off, cap, ",\"step\":\"");
		off = json_escape(line, off, cap, step);
		off = append(line, off, cap, "\"");
	}
	off = append(line, off, cap, ",\"msg\":\"");
	off = json_escape(line, off, cap, msg);
	off = append(line, off, cap, "\"}");
	line[off++] = '\n';
	(void)!write(STDERR_FILENO, line, off);
}
