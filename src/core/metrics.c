/*
 * DESIGN: see metrics.h. The bucket bounds run from 0.5 ms (a cached read
 * on SQLite) to 10 s (an import item at the iteration cap, a long-poll is
 * not a latency: it ends at its own deadline and lands in +Inf or the top
 * buckets by design). Bucket counters are not cumulative in memory, so an
 * observation is one atomic add plus the sum; the cumulative counts are
 * computed when rendering.
 */
#include "core/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double tv_hist_bounds[TV_HIST_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

int64_t tv_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void tv_hist_observe(struct tv_hist *h, int64_t ns)
{
	double s;
	size_t i;

	if (ns < 0)
		ns = 0;
	s = (double)ns / 1e9;
	for (i = 0; i < TV_HIST_BUCKETS && s > tv_hist_bounds[i]; i++)
		;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

uint64_t tv_hist_count(const struct tv_hist *h)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i <= TV_HIST_BUCKETS; i++)
		n += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	return n;
}

void tv_mtext_release(struct tv_mtext *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

static bool S_reserve(struct tv_mtext *t, size_t more)
{
	size_t cap;
	char *p;

	if (t->failed)
		return false;
	if (t->len + more + 1 <= t->cap)
		return true;
	cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	p = realloc(t->p, cap);
	if (!p) {
		t->failed = true;
		return false;
	}
	t->p = p;
	t->cap = cap;
	return true;
}

static void S_put(struct tv_mtext *t, const char *s, size_t n)
{
	if (!S_reserve(t, n))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

void tv_mtext_printf(struct tv_mtext *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	if (!S_reserve(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* Escape s; quotes too when in_label (HELP text keeps its quotes). */
static void S_escaped(struct tv_mtext *t, const char *s, bool in_label)
{
	for (; *s; s++) {
		if (*s == '\\')
			S_put(t, "\\\\", 2);
		else if (*s == '\n')
			S_put(t, "\\n", 2);
		else if (*s == '"' && in_label)
			S_put(t, "\\\"", 2);
		else
			S_put(t, s, 1);
	}
}

void tv_mtext_family(struct tv_mtext *t, const char *name, const char *type,
		     const char *help)
{
	tv_mtext_printf(t, "# HELP %s ", name);
	S_escaped(t, help, false);
	tv_mtext_printf(t, "\n# TYPE %s %s\n", name, type);
}

void tv_mtext_labels(struct tv_mtext *t, const char *const (*labels)[2], size_t n,
		     const char *le)
{
	size_t i;

	if (!n && !le)
		return;
	S_put(t, "{", 1);
	for (i = 0; i < n; i++) {
		tv_mtext_printf(t, "%s%s=\"", i ? "," : "", labels[i][0]);
		S_escaped(t, labels[i][1] ? labels[i][1] : "", true);
		S_put(t, "\"", 1);
	}
	if (le)
		tv_mtext_printf(t, "%sle=\"%s\"", n ? "," : "", le);
	S_put(t, "}", 1);
}

void tv_mtext_u64(struct tv_mtext *t, const char *name, const char *const (*labels)[2],
		  size_t n, uint64_t value)
{
	S_put(t, name, strlen(name));
	tv_mtext_labels(t, labels, n, NULL);
	tv_mtext_printf(t, " %" PRIu64 "\n", value);
}

void tv_mtext_double(struct tv_mtext *t, const char *name, const char *const (*labels)[2],
		     size_t n, double value)
{
	S_put(t, name, strlen(name));
	tv_mtext_labels(t, labels, n, NULL);
	tv_mtext_printf(t, " %.9f\n", value);
}

void tv_mtext_hist(struct tv_mtext *t, const char *name, const char *const (*labels)[2],
		   size_t n, const struct tv_hist *h)
{
	uint64_t snap[TV_HIST_BUCKETS + 1], cum = 0;
	char le[32];
	size_t i;

	for (i = 0; i <= TV_HIST_BUCKETS; i++)
		snap[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	for (i = 0; i <= TV_HIST_BUCKETS; i++) {
		cum += snap[i];
		if (i < TV_HIST_BUCKETS)
			snprintf(le, sizeof(le), "%g", tv_hist_bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		tv_mtext_printf(t, "%s_bucket", name);
		tv_mtext_labels(t, labels, n, le);
		tv_mtext_printf(t, " %" PRIu64 "\n", cum);
	}
	tv_mtext_printf(t, "%s_sum", name);
	tv_mtext_labels(t, labels, n, NULL);
	tv_mtext_printf(t, " %.9f\n",
			(double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
	tv_mtext_printf(t, "%s_count", name);
	tv_mtext_labels(t, labels, n, NULL);
	tv_mtext_printf(t, " %" PRIu64 "\n", cum);
}
