/*
 * fuzz_common.h - what every clerk fuzz target needs: a fixed time zone,
 * a file path for parsers that only take paths, and sanitizer defaults.
 * Header-only: each target is a single translation unit.
 */
#ifndef CLERK_FUZZ_COMMON_H
#define CLERK_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/*
 * UBSan's checks recover by default: a finding is printed and the run goes
 * on, so libFuzzer never saves the input. Halting makes UB a crash like
 * any other. UBSAN_OPTIONS in the environment still overrides this.
 */
const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/*
 * libconfig before 1.7.3 leaks a string token that the parser throws away
 * on a syntax error (`a = 1, "x";`: hyperrealm/libconfig#142, fixed by
 * #155); Debian 12 ships 1.5. The string is allocated by the scanner
 * (strbuf_append, or calloc in libconfig_yylex for ""), which no clerk code
 * calls, so this hides nothing of ours: settings are made by the parser,
 * and a missing config_destroy still shows as config_setting_create leaks.
 * tests/fuzz/crashes/libconfig-leak-discarded-string reproduces it.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

/*
 * clerkd sets TZ from its config before anything runs; the tests use
 * Asia/Shanghai, which also had DST from 1986 to 1991, so the probe
 * instants below reach the gap and overlap code.
 */
static inline void
fuzz_tz_init(void)
{
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
}

/*
 * A path whose content is the input. The parsers open files by name
 * (libconfig's config_read_file, util_read_file), so the input goes into a
 * memfd that is opened again through /proc/self/fd; nothing touches disk
 * and runs in parallel (-jobs, -fork) do not share a file.
 */
static inline const char *
fuzz_input_path(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	size_t off = 0;

	if (fd < 0) {
		fd = memfd_create("clerk-fuzz", MFD_CLOEXEC);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0) {
		perror("ftruncate");
		abort();
	}
	while (off < size) {
		ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);

		if (n <= 0) {
			perror("pwrite");
			abort();
		}
		off += (size_t)n;
	}
	return path;
}

/*
 * libconfig follows @include to any file on the machine (/dev/zero,
 * /proc/self/fd/0, ...), which makes runs hang or depend on the host
 * rather than on the input. Includes are the supervisor's choice of file,
 * not outside bytes, so they are left out of the fuzzed surface.
 */
static inline int
fuzz_has_include(const uint8_t *data, size_t size)
{
	return memmem(data, size, "@include", 8) != NULL;
}

/* The input as a C string (parsers stop at the first NUL anyway). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* FNV-1a, to derive a deterministic instant from the input. */
static inline uint64_t
fuzz_hash(const uint8_t *data, size_t size)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < size; i++) {
		h ^= data[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * Instants to evaluate parsed schedules at, in the range the daemon sees
 * (its clock): 1986-05-04 01:59:59 and 1986-09-14 01:30 +09:00 are the first
 * Shanghai DST change; the rest are ordinary and year-boundary times.
 */
static const int64_t fuzz_probes[] = {
	0,              /* 1970-01-01 08:00 +08:00 */
	515527199,      /* 1986-05-04 01:59:59 +08:00, just before the jump */
	527013000,      /* 1986-09-14 01:30:00 +09:00, before clocks go back */
	1767196799,     /* 2025-12-31 23:59:59 +08:00 */
	1771084800,     /* 2026-02-15 00:00:00 +08:00 */
};

/* One more probe from the input: somewhere in 1970-2106. */
static inline int64_t
fuzz_probe_from(const uint8_t *data, size_t size)
{
	return (int64_t)(fuzz_hash(data, size) % 4294967296ULL);
}

#endif
