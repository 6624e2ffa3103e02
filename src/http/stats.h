/*
 * stats.h - internal to src/http: the request counters behind
 * tv_http_metrics() (server.h), kept out of server.c so that the server's
 * request path carries only a few calls.
 *
 * Threads: tv__http_stats_observe and tv__http_stats_conn may run on any
 * number of threads at once (atomics only); rendering may run alongside.
 */
#ifndef TV_HTTP_STATS_H
#define TV_HTTP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h" /* tv_mono_ns for the durations */
#include "http/server.h"

struct tv__http_stats;

/** Counters for a route table of n routes; NULL when out of memory. */
struct tv__http_stats *tv__http_stats_new(const struct tv_http_route *routes, size_t n);

/** NULL is a no-op. */
void tv__http_stats_free(struct tv__http_stats *st);

/**
 * Count one answer: route is the matched entry of the table, or NULL (then
 * the request counts as "unmatched" under its method, unknown methods as
 * OTHER); duration_ns from the request's first byte.
 */
void tv__http_stats_observe(struct tv__http_stats *st, const struct tv_http_route *route,
			    const char *method, unsigned status, int64_t duration_ns);

/** A connection opened (+1) or closed (-1). */
void tv__http_stats_conn(struct tv__http_stats *st, int delta);

/** Append the Prometheus text of the counters. */
void tv__http_stats_render(struct tv__http_stats *st, struct tv_mtext *out);

#endif
