/*
 * DESIGN: small helpers of the bench driver: clocks, files, statistics.
 * The driver is a program, not a library: a setup failure prints why and
 * exits (tvb_die), because a benchmark that goes on after a failed step
 * measures the wrong thing.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double tvb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tvb_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("tlsvault-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void tvb_note(const char *fmt, ...)
{
	va_list ap;

	fputs("[bench] ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int S_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP ? rmdir(path) : unlink(path))
		fprintf(stderr, "tlsvault-bench: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

void tvb_rmtree(const char *path)
{
	struct stat st;

	/* only scratch directories of ours: a path under /tmp named by us, or
	 * one of the cache's own subdirectories */
	if (!path || (strncmp(path, "/tmp/tlsvault-bench", 19) &&
		      strncmp(path, "/dev/shm/tlsvault-bench", 23) && !strstr(path, "/bench-")))
		tvb_die("refusing to remove '%s'", path ? path : "(null)");
	if (lstat(path, &st) != 0)
		return;
	nftw(path, S_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tvb_strcpy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		tvb_die("'%.60s...' is too long (%zu bytes, room for %zu)", src, n, size - 1);
	memcpy(dst, src, n + 1);
}

void tvb_mkdirs(const char *path)
{
	char buf[1024];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		tvb_die("path too long: %s", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			tvb_die("cannot create %s: %s", buf, strerror(errno));
		buf[i] = i < n ? '/' : '\0';
	}
}

unsigned char *tvb_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			unsigned char *p;

			cap = cap ? cap * 2 : 16384;
			p = realloc(buf, cap + 1);
			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

void tvb_write_file(const char *path, const void *p, size_t len, int mode)
{
	char tmp[1100];
	int fd;
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());

	if (n < 0 || (size_t)n >= sizeof(tmp))
		tvb_die("path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode);
	if (fd < 0)
		tvb_die("cannot write %s: %s", tmp, strerror(errno));
	if (write(fd, p, len) != (ssize_t)len || close(fd) != 0)
		tvb_die("cannot write %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		tvb_die("cannot rename %s: %s", tmp, strerror(errno));
}

static int S_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double tvb_percentile(double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(v[0]), S_cmp);
	/* nearest rank: the smallest value with at least p% of samples <= it */
	rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

double tvb_median(const double *v, size_t n)
{
	double tmp[TVB_MAX_RUNS * 64], *s = tmp, m;

	if (n == 0)
		return 0;
	if (n > sizeof(tmp) / sizeof(tmp[0])) {
		s = malloc(n * sizeof(*s));
		if (!s)
			tvb_die("out of memory");
	}
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(s[0]), S_cmp);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	if (s != tmp)
		free(s);
	return m;
}

double tvb_min(const double *v, size_t n)
{
	double m = n ? v[0] : 0;
	size_t i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

double tvb_max(const double *v, size_t n)
{
	double m = n ? v[0] : 0;
	size_t i;

	for (i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}
