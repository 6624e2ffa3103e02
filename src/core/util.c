/*
 * DESIGN: the formatting rules of API.md (dates with milliseconds in UTC,
 * upper-case hex fingerprints, lower-case UUIDs) live here so every layer
 * spells them the same way.
 */
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

int64_t tv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tv_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tv_iso_time(char out[TV_ISO_TIME_STRLEN + 1], int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		secs -= 1;
	}
	gmtime_r(&secs, &tm);
	/* Each field is bounded by gmtime_r; the masks only tell the compiler. */
	snprintf(out, TV_ISO_TIME_STRLEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
		 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned)frac % 1000u);
}

static bool S_digits(const char *s, int n, int *val)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*val = v;
	return true;
}

enum tv_err tv_iso_parse(int64_t *ms, const char *s)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	struct tm tm;
	const char *p;
	time_t t;

	if (strlen(s) < 10 || !S_digits(s, 4, &y) || s[4] != '-' ||
	    !S_digits(s + 5, 2, &mo) || s[7] != '-' || !S_digits(s + 8, 2, &d))
		return TV_ERR_INVALID;
	p = s + 10;
	if (*p == 'T' || *p == 't') {
		if (!S_digits(p + 1, 2, &h) || p[3] != ':' || !S_digits(p + 4, 2, &mi) ||
		    p[6] != ':' || !S_digits(p + 7, 2, &sec))
			return TV_ERR_INVALID;
		p += 9;
		if (*p == '.') {
			int scale = 100;
			p++;
			if (!isdigit((unsigned char)*p))
				return TV_ERR_INVALID;
			for (; isdigit((unsigned char)*p); p++) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (!strcmp(p, "+00:00"))
		p += 6;
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return TV_ERR_INVALID;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*ms = (int64_t)t * 1000 + frac;
	return TV_OK;
}

void tv_uuid_new(char out[TV_UUID_STRLEN + 1])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

bool tv_uuid_valid(const char *s)
{
	size_t i;

	if (strlen(s) != TV_UUID_STRLEN)
		return false;
	for (i = 0; i < TV_UUID_STRLEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

void tv_hex_upper(char *out, const void *src, size_t len)
{
	static const char S_x[] = "0123456789ABCDEF";
	const unsigned char *p = src;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = S_x[p[i] >> 4];
		out[2 * i + 1] = S_x[p[i] & 15];
	}
	out[2 * len] = '\0';
}

enum tv_err tv_fingerprint_norm(char out[41], const char *in)
{
	size_t n = 0;

	for (; *in; in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n == 40)
			return TV_ERR_INVALID;
		out[n++] = (char)toupper((unsigned char)*in);
	}
	if (n != 40)
		return TV_ERR_INVALID;
	out[40] = '\0';
	return TV_OK;
}

int tv_fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd, rc;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}
