/*
 * metrics.h - the building blocks of the Prometheus metrics: a latency
 * histogram with fixed buckets that is updated with C11 atomics (no lock on
 * the hot path), and a text buffer that writes the Prometheus text
 * exposition format, version 0.0.4 (docs/ARCHITECTURE.md, "Metrics").
 *
 * DESIGN: there is no global registry. Each component keeps its counters in
 * its own object (the HTTP server, the timed store, the service counters)
 * and renders them into a struct tv_mtext when /metrics is scraped, so the
 * counters follow the object's lifetime and two servers in one process
 * don't share numbers. Updates are relaxed atomic adds: a scrape may see a
 * histogram mid-update by one observation, which Prometheus tolerates; the
 * buckets and _count of one histogram are rendered from one snapshot so
 * they always agree.
 *
 * Threads: tv_hist_observe may run on any number of threads at once; a
 * struct tv_mtext belongs to one thread.
 */
#ifndef TV_CORE_METRICS_H
#define TV_CORE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bounds of the latency buckets, in seconds; +Inf is implicit. */
#define TV_HIST_BUCKETS 14
extern const double tv_hist_bounds[TV_HIST_BUCKETS];

/** A latency histogram; zero-initialised storage is an empty histogram. */
struct tv_hist {
	_Atomic uint64_t bucket[TV_HIST_BUCKETS + 1]; /* not cumulative; last = +Inf */
	_Atomic uint64_t sum_ns;
};

/** Monotonic nanoseconds, for measuring durations. */
int64_t tv_mono_ns(void);

/** Record one duration (negative counts as 0). Lock-free; any thread. */
void tv_hist_observe(struct tv_hist *h, int64_t ns);

/** Number of observations so far. */
uint64_t tv_hist_count(const struct tv_hist *h);

/** A growing text buffer; zero-initialised is empty. */
struct tv_mtext {
	char *p; /* NUL-terminated when len > 0 */
	size_t len, cap;
	bool failed; /* an allocation failed: the text is incomplete */
};

/** Free the buffer (not the struct). */
void tv_mtext_release(struct tv_mtext *t);

/** Append printf-style text. */
void tv_mtext_printf(struct tv_mtext *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * "# HELP name help" and "# TYPE name type" (type: counter, gauge,
 * histogram). help is escaped (backslash, newline).
 */
void tv_mtext_family(struct tv_mtext *t, const char *name, const char *type,
		     const char *help);

/**
 * One label set: labels is an array of n name/value pairs ("route", "/x").
 * Writes {a="x",b="y"} with the values escaped as the format requires
 * (backslash, double quote, newline), or nothing when n is 0 and le is
 * NULL. le, when not NULL, is appended as the last label (histograms).
 */
void tv_mtext_labels(struct tv_mtext *t, const char *const (*labels)[2], size_t n,
		     const char *le);

/** A sample "name{labels} value" with an unsigned integer value. */
void tv_mtext_u64(struct tv_mtext *t, const char *name, const char *const (*labels)[2],
		  size_t n, uint64_t value);

/** A sample with a floating-point value. */
void tv_mtext_double(struct tv_mtext *t, const char *name, const char *const (*labels)[2],
		     size_t n, double value);

/**
 * The samples of one histogram series: name_bucket{labels,le="..."} for
 * every bound and +Inf (cumulative), name_sum (seconds) and name_count.
 * name is the family name without a suffix; its # TYPE line is the caller's.
 */
void tv_mtext_hist(struct tv_mtext *t, const char *name, const char *const (*labels)[2],
		   size_t n, const struct tv_hist *h);

#endif
