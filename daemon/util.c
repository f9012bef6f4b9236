/*
 * util.c - error values, allocation, durations, time, hashing, files.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_FAIL;
	e->msg[0] = '\0';
}

static void
err_vset(struct err *e, enum err_code code, const char *fmt, va_list ap)
{
	if (e == NULL)
		return;
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

void
err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, ERR_FAIL, fmt, ap);
	va_end(ap);
}

void
err_setc(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("clerk: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("out of memory reallocating %zu bytes", n);
	return q;
}

char *
xstrdup(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		fatal("out of memory");
	return d;
}

char *
xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (d == NULL)
		fatal("out of memory");
	return d;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	return s;
}

int
util_parse_duration(const char *s, int64_t *ms, struct err *e)
{
	const char *p = s;
	int64_t total = 0;

	if (s == NULL || *s == '\0') {
		err_setc(e, ERR_INVALID, "empty duration; write e.g. \"10s\", \"30m\", \"4h\", \"1d\"");
		return -1;
	}
	while (*p != '\0') {
		int64_t n = 0, unit;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			n = n * 10 + (*p - '0');
			if (n > (int64_t)1e12)
				goto bad;
			p++;
		}
		if (p == start)
			goto bad;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * 1000;
			p++;
		} else if (*p == 'd') {
			unit = 86400 * 1000;
			p++;
		} else
			goto bad;
		/* Refuse what does not fit rather than wrap around: 100 years
		 * is more than any timeout or SLA needs. */
		if (n > INT64_C(3153600000000) / unit ||
		    total + n * unit > INT64_C(3153600000000))
			goto bad;
		total += n * unit;
	}
	*ms = total;
	return 0;
bad:
	err_setc(e, ERR_INVALID, "bad duration \"%s\": use a number and a unit "
	    "(ms, s, m, h, d), e.g. \"10s\", \"30m\", \"1h30m\", at most 100"
	    " years", s);
	return -1;
}

void
util_format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct { int64_t ms; const char *u; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" },
		{ 1000, "s" }, { 1, "ms" },
	};
	size_t off = 0;

	if (ms <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && off < len; i++) {
		if (ms >= units[i].ms) {
			off += snprintf(buf + off, len - off, "%lld%s",
			    (long long)(ms / units[i].ms), units[i].u);
			ms %= units[i].ms;
		}
	}
}

/* Read once: every caller of util_now_ms() (timers, leases, SLA due
 * times, the store's stamps) must see one consistent clock. */
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
static int64_t clock_offset_ms;
static struct err clock_err;
static bool clock_bad;

static void
clock_init(void)
{
	const char *v = getenv("CLERK_TEST_CLOCK_OFFSET");
	int64_t ms = 0;
	bool neg = false;

	if (v == NULL || *v == '\0')
		return;
	if (*v == '-' || *v == '+')
		neg = *v++ == '-';
	if (util_parse_duration(v, &ms, &clock_err) < 0) {
		char why[sizeof(clock_err.msg)];

		snprintf(why, sizeof(why), "%s", clock_err.msg);
		err_set(&clock_err, "CLERK_TEST_CLOCK_OFFSET=\"%s\": %s; unset"
		    " it (it is a test hook) or give a duration such as \"5h\""
		    " or \"-90s\"", getenv("CLERK_TEST_CLOCK_OFFSET"), why);
		clock_bad = true;
		return;
	}
	clock_offset_ms = neg ? -ms : ms;
}

int
util_clock_offset(int64_t *ms, struct err *e)
{
	pthread_once(&clock_once, clock_init);
	*ms = clock_offset_ms;
	if (clock_bad) {
		if (e != NULL)
			*e = clock_err;
		return -1;
	}
	return 0;
}

int64_t
util_now_ms(void)
{
	struct timespec ts;

	pthread_once(&clock_once, clock_init);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    clock_offset_ms;
}

int64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
util_format_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char base[32], off[16];
	int gmtoff;

	localtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	gmtoff = (int)tm.tm_gmtoff;
	snprintf(off, sizeof(off), "%c%02d:%02d", gmtoff < 0 ? '-' : '+',
	    abs(gmtoff) / 3600 % 100, (abs(gmtoff) % 3600) / 60);
	snprintf(buf, len, "%s.%03d%s", base, (int)(ms % 1000), off);
}

int
util_month_days(int y, int m)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : mdays[m - 1];
}

int64_t
util_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
util_civil_from_days(int64_t z, int *yp, int *mp, int *dp)
{
	int64_t era, doe, yoe, y, doy, mp5;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp5 = (5 * doy + 2) / 153;
	*dp = (int)(doy - (153 * mp5 + 2) / 5 + 1);
	*mp = (int)(mp5 < 10 ? mp5 + 3 : mp5 - 9);
	*yp = (int)(y + (*mp <= 2));
}

void
util_hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int
util_random_hex(char out[65], struct err *e)
{
	unsigned char raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		err_set(e, "no random bytes from the system");
		return -1;
	}
	util_hex(raw, sizeof(raw), out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void
util_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	util_hex(md, sizeof(md), out);
}

int
util_sha256_file(const char *path, char out[65], struct err *e)
{
	unsigned char buf[65536], md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_setc(e, errno == ENOENT ? ERR_NOTFOUND : ERR_FAIL,
		    "%s: %s", path, strerror(errno));
		return -1;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		fatal("out of memory");
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	if (n < 0) {
		err_set(e, "%s: read: %s", path, strerror(errno));
		EVP_MD_CTX_free(ctx);
		close(fd);
		return -1;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	close(fd);
	util_hex(md, sizeof(md), out);
	return 0;
}

char *
util_read_file(const char *path, size_t *lenp, struct err *e)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	f = fopen(path, "rb");
	if (f == NULL) {
		err_setc(e, errno == ENOENT ? ERR_NOTFOUND : ERR_FAIL,
		    "%s: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		err_set(e, "%s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

int
util_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode, struct err *e)
{
	static atomic_uint seq;
	char *tmp = xasprintf("%s.tmp.%ld.%u", path, (long)getpid(),
	    atomic_fetch_add(&seq, 1));
	const char *p = data;
	char *dir, *slash;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, "%s: write: %s", tmp, strerror(errno));
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		err_set(e, "%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		err_set(e, "rename %s -> %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	/* The rename is durable only once the directory is synced. */
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		fd = open(slash == dir ? "/" : dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	} else
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
	return 0;
fail:
	close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* mkdir that accepts an existing directory, and only a directory. */
static int
mkdir_one(const char *p, mode_t mode, struct err *e)
{
	struct stat st;

	if (mkdir(p, mode) == 0)
		return 0;
	if (errno == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		err_set(e, "cannot create directory %s: a file of that name is"
		    " in the way", p);
	else
		err_set(e, "cannot create directory %s: %s", p, strerror(errno));
	return -1;
}

int
util_mkdir_p(const char *path, mode_t mode, struct err *e)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir_one(p, mode, e) < 0) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir_one(p, mode, e) < 0) {
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

char *
util_path_join(const char *dir, const char *path)
{
	if (path[0] == '/' || dir == NULL || dir[0] == '\0')
		return xstrdup(path);
	return xasprintf("%s/%s", dir, path);
}

int
util_cfg_error(struct err *e, const config_setting_t *s, const char *fallback,
    const char *fmt, ...)
{
	const char *file = config_setting_source_file(s);
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_setc(e, ERR_INVALID, "%s:%u: %s", file ? file : fallback,
	    config_setting_source_line(s), msg);
	return -1;
}

int
util_cfg_check_keys(const config_setting_t *g, const char *const *keys,
    const char *where, const char *fallback, struct err *e)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);
		bool known = false;
		char list[300] = "";

		for (int k = 0; keys[k] != NULL; k++)
			known |= name != NULL && strcmp(keys[k], name) == 0;
		if (known)
			continue;
		for (int k = 0; keys[k] != NULL; k++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
			    "%s%s", k ? ", " : "", keys[k]);
		return util_cfg_error(e, m, fallback, "unknown key \"%s\" in %s;"
		    " known keys: %s", name ? name : "?", where, list);
	}
	return 0;
}

/* Per thread: clerkd's workers run real steps while a dry run runs. */
static __thread char *dry_run_dir;

void
util_dry_run_set(const char *dir)
{
	free(dry_run_dir);
	dry_run_dir = dir ? realpath(dir, NULL) : NULL;
	if (dir != NULL && dry_run_dir == NULL)
		dry_run_dir = xstrdup(dir);
}

bool
util_dry_run_keeps(const char *path)
{
	char *real;
	size_t n;
	bool inside;

	if (dry_run_dir == NULL)
		return false;
	/* A path that cannot be resolved is not known to be ours. */
	if ((real = realpath(path, NULL)) == NULL)
		return true;
	n = strlen(dry_run_dir);
	inside = strncmp(real, dry_run_dir, n) == 0 && real[n] == '/';
	free(real);
	return !inside;
}

int
util_copy_file(const char *src, const char *dst, mode_t mode, struct err *e)
{
	size_t len;
	char *data = util_read_file(src, &len, e);
	int rc;

	if (data == NULL)
		return -1;
	rc = util_write_file_atomic(dst, data, len, mode, e);
	free(data);
	return rc;
}

int
util_move_file(const char *src, const char *dir, const char *dst,
    struct err *e)
{
	bool keep = util_dry_run_keeps(src);

	if (util_mkdir_p(dir, 0755, e) < 0)
		return -1;
	if (!keep && rename(src, dst) == 0) {
		/* Filed by clerk (archive, quarantine): its own only, however
		 * the upload came in. */
		if (chmod(dst, S_IRUSR | S_IWUSR) < 0) {
			err_set(e, "chmod 600 %s: %s", dst, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (!keep && errno != EXDEV) {
		err_set(e, "move %s -> %s: %s", src, dst, strerror(errno));
		return -1;
	}
	if (util_copy_file(src, dst, 0600, e) < 0)
		return -1;
	if (!keep && unlink(src) < 0) {
		err_set(e, "remove %s after copying it: %s", src,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- personal data in text ---- */

static bool
mask_alnum(char c)
{
	return isalnum((unsigned char)c);
}

static bool
mask_two(const char *s, int lo, int hi)
{
	int v;

	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return false;
	v = (s[0] - '0') * 10 + (s[1] - '0');
	return v >= lo && v <= hi;
}

/* A resident ID: 6-digit region, birth date YYYYMMDD, 3 digits, check. */
static bool
looks_like_id(const char *s)
{
	return (mask_two(s + 6, 19, 20)) && mask_two(s + 8, 0, 99) &&
	    mask_two(s + 10, 1, 12) && mask_two(s + 12, 1, 31);
}

bool
util_mask_ids(char *s, size_t n)
{
	bool changed = false;
	size_t i = 0;

	while (i < n) {
		size_t j, digits, k;

		if (!isdigit((unsigned char)s[i]) || (i > 0 &&
		    mask_alnum(s[i - 1]))) {
			i++;
			continue;
		}
		for (j = i; j < n && isdigit((unsigned char)s[j]); j++)
			;
		digits = j - i;
		/* 17 digits and a check character X, or 18 digits with a
		 * plausible birth date: a resident ID number. */
		if (((digits == 17 && j < n && (s[j] == 'X' || s[j] == 'x')) ||
		    (digits == 18 && looks_like_id(s + i))) &&
		    (i + 18 >= n || !mask_alnum(s[i + 18]))) {
			memset(s + i + 6, '*', 8);
			changed = true;
			i += 18;
			continue;
		}
		if (digits >= 12 && digits <= 19 && (j >= n ||
		    !mask_alnum(s[j]))) {
			memset(s + i, '*', digits - 4);
			changed = true;
			i = j;
			continue;
		}
		/* "6222 0212 3456 7890": groups of four, one separator. */
		if (digits == 4 && j + 1 < n && (s[j] == ' ' || s[j] == '-')) {
			char sep = s[j];
			size_t end = j, total = 4, groups = 1, g;

			k = j;
			while (k + 1 < n && s[k] == sep &&
			    isdigit((unsigned char)s[k + 1])) {
				for (g = 0; k + 1 + g < n &&
				    isdigit((unsigned char)s[k + 1 + g]); g++)
					;
				if (g > 4)
					break;
				total += g;
				groups++;
				end = k + 1 + g;
				k = end;
				if (g < 4)
					break;
			}
			if (groups >= 3 && total >= 12 && total <= 19 &&
			    (end >= n || !mask_alnum(s[end]))) {
				size_t keep = 4;

				for (k = end; k > i; k--) {
					if (!isdigit((unsigned char)s[k - 1]))
						continue;
					if (keep > 0)
						keep--;
					else
						s[k - 1] = '*';
				}
				changed = true;
				i = end;
				continue;
			}
		}
		i = j;
	}
	return changed;
}
