/*
 * util.h - small helpers every clerk subsystem uses: error values,
 * allocation that dies only at startup-level failure, durations, time,
 * hashing and file reading.
 */
#ifndef CLERK_UTIL_H
#define CLERK_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What kind of failure an error is, so the API can map it to a status. */
enum err_code {
	ERR_FAIL = 0,     /* generic failure (500) */
	ERR_INVALID,      /* bad input from the caller (400) */
	ERR_NOTFOUND,     /* no such thing (404) */
	ERR_CONFLICT,     /* state does not allow it (409) */
	ERR_UNAVAILABLE,  /* store or peer down, try later (503) */
	ERR_FORBIDDEN,    /* not this caller's to do (403) */
};

/* Filled by a failing function with a message a person can act on. */
struct err {
	enum err_code code;
	char msg[512];
};

void err_clear(struct err *e);
void err_set(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void err_setc(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A dry run's own folder, for the thread that runs it (tasks/dryrun.c);
 * NULL ends it. While it is set, a file from outside it that a step would
 * move is copied instead (util_move_file, file.move): a dry run never
 * moves or removes a file that is not its own, whatever its payload says.
 */
void util_dry_run_set(const char *dir);
/* True when a dry run is on this thread and path is outside its folder. */
bool util_dry_run_keeps(const char *path);

/*
 * Moves src to dst, creating dst's folder dir first: a rename, or across
 * file systems an atomic copy and an unlink; dst ends mode 0600. 0, or -1
 * with e set.
 */
int util_move_file(const char *src, const char *dir, const char *dst,
    struct err *e);
/* Copies src to dst (temp file + fsync + rename), dst ending mode mode. */
int util_copy_file(const char *src, const char *dst, mode_t mode,
    struct err *e);

/*
 * Rules files (libconfig) read by the engines: "file:line: message" for
 * the setting s, as ERR_INVALID; returns -1. fallback names the file when
 * libconfig knows none (a config read from a string).
 */
struct config_setting_t;
int util_cfg_error(struct err *e, const struct config_setting_t *s,
    const char *fallback, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Every member of the group g must be one of keys (NULL-terminated). */
int util_cfg_check_keys(const struct config_setting_t *g,
    const char *const *keys, const char *where, const char *fallback,
    struct err *e);

void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "250ms", "10s", "30m", "4h", "2d", or combinations like "1h30m". */
int util_parse_duration(const char *s, int64_t *ms, struct err *e);
/* Formats ms as the shortest exact duration string ("90s" -> "1m30s"). */
void util_format_duration(int64_t ms, char *buf, size_t len);

int64_t util_now_ms(void);   /* wall clock, ms since the epoch */
/*
 * A test hook: CLERK_TEST_CLOCK_OFFSET (a duration, optionally signed,
 * e.g. "5h" or "-90s") moves util_now_ms() by that much, so a test can
 * start clerkd "hours later" without waiting. Returns the offset in *ms
 * (0 when unset); -1 with e filled if the variable is not a duration.
 */
int util_clock_offset(int64_t *ms, struct err *e);
int64_t util_mono_ms(void);  /* monotonic, ms */
/* RFC 3339 local time with offset, e.g. 2026-11-23T08:30:00.123+08:00 */
void util_format_time(int64_t ms, char *buf, size_t len);

/* Gregorian calendar arithmetic, free of time zones. */
int util_month_days(int year, int month);
/* Day number of a civil date, 1970-01-01 = 0 (Howard Hinnant's algorithm). */
int64_t util_days_from_civil(int64_t year, int month, int day);
void util_civil_from_days(int64_t days, int *year, int *month, int *day);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void util_hex(const unsigned char *b, size_t n, char *out);
/* 32 random bytes from the system's CSPRNG, as 64 hex digits. */
int util_random_hex(char out[65], struct err *e);
void util_sha256_hex(const void *data, size_t len, char out[65]);
int util_sha256_file(const char *path, char out[65], struct err *e);

/* Reads a whole file (NUL-terminated); NULL with e filled on failure. */
char *util_read_file(const char *path, size_t *len, struct err *e);
/* Writes data to path via a temp file + fsync + rename. */
int util_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode, struct err *e);
int util_mkdir_p(const char *path, mode_t mode, struct err *e);
/*
 * Masks personal numbers in s[0..n) in place, as auditors see them: a
 * resident ID number keeps its region and last four (110105********1234),
 * an account or card number of 12-19 digits its last four. True when
 * anything was masked.
 */
bool util_mask_ids(char *s, size_t n);
/* Joins dir and a relative path; an absolute path is returned as is. */
char *util_path_join(const char *dir, const char *path);

#endif
