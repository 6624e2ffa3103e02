/*
 * DESIGN: lines are built in a fixed stack buffer (8 KiB; longer values are
 * cut, never overflowed) and written in one call so that lines from worker
 * threads never interleave. JSON escaping is done here because core does not
 * link jansson.
 */
#include "core/log.h"

#include <inttypes.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

static pthread_mutex_t S_lock = PTHREAD_MUTEX_INITIALIZER;
static enum tv_log_level S_min = TV_LOG_INFO;

struct S_line {
	char buf[8192];
	size_t len;
};

static void S_put(struct S_line *l, const char *s, size_t n)
{
	if (l->len + n > sizeof(l->buf) - 2)
		n = sizeof(l->buf) - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void S_str(struct S_line *l, const char *s)
{
	const char *run = s;

	S_put(l, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue; /* copied with its run below */
		S_put(l, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			S_put(l, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			S_put(l, esc, 6);
		}
	}
	S_put(l, run, (size_t)(s - run));
	S_put(l, "\"", 1);
}

/*
 * The line's timestamp: tv_iso_time, with the part down to the second
 * formatted once per second per thread (a busy server logs thousands of
 * lines a second; gmtime_r and snprintf were most of a line's cost).
 */
static void S_timestamp(char out[TV_ISO_TIME_STRLEN + 1], int64_t ms)
{
	static __thread int64_t cached_sec = INT64_MIN;
	static __thread char cached[TV_ISO_TIME_STRLEN + 1];
	int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	unsigned frac = (unsigned)(ms - sec * 1000);

	if (sec != cached_sec) {
		tv_iso_time(cached, sec * 1000);
		cached_sec = sec;
	}
	memcpy(out, cached, TV_ISO_TIME_STRLEN + 1);
	/* "....:SS.mmmZ": the milliseconds are the three digits before the Z */
	out[TV_ISO_TIME_STRLEN - 4] = (char)('0' + frac / 100);
	out[TV_ISO_TIME_STRLEN - 3] = (char)('0' + frac / 10 % 10);
	out[TV_ISO_TIME_STRLEN - 2] = (char)('0' + frac % 10);
}

void tv_log_set_min(enum tv_log_level min)
{
	S_min = min;
}

void tv_log(enum tv_log_level level, const char *msg, const struct tv_log_field *fields,
	    size_t n_fields)
{
	static const char *const S_names[] = { "debug", "info", "warn", "error" };
	char ts[TV_ISO_TIME_STRLEN + 1];
	struct S_line l;
	size_t i;
	ssize_t w;

	if (level < S_min)
		return;
	l.len = 0;
	S_timestamp(ts, tv_now_ms());
	S_put(&l, "{\"ts\":", 6);
	S_str(&l, ts);
	S_put(&l, ",\"level\":", 9);
	S_str(&l, S_names[level]);
	S_put(&l, ",\"msg\":", 7);
	S_str(&l, msg);
	for (i = 0; i < n_fields; i++) {
		S_put(&l, ",", 1);
		S_str(&l, fields[i].key);
		S_put(&l, ":", 1);
		if (fields[i].is_int) {
			char num[32];
			int n = snprintf(num, sizeof(num), "%" PRId64, fields[i].num);
			S_put(&l, num, (size_t)n);
		} else if (fields[i].str) {
			S_str(&l, fields[i].str);
		} else {
			S_put(&l, "null", 4);
		}
	}
	l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	pthread_mutex_lock(&S_lock);
	w = write(STDERR_FILENO, l.buf, l.len);
	pthread_mutex_unlock(&S_lock);
	(void)w;
}
