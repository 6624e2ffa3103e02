/*
 * DESIGN: per route of the table, counts by status and a latency
 * histogram; plus one row per method for requests that matched no route
 * (their path is never a label: it is whatever the client sent, and a
 * label set per path would let any client grow the output without bound).
 * Updates are relaxed atomic adds, so no lock sits on a request. A status
 * outside 100..599 can't happen (the server picks them all) and is not
 * counted.
 */
#include "http/stats.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

static const char *const S_methods[] = { "GET",  "POST",    "PUT",  "DELETE",
					 "PATCH", "HEAD", "OPTIONS", "OTHER" };
#define S_N_METHODS (sizeof(S_methods) / sizeof(S_methods[0]))
#define S_UNMATCHED "unmatched"

struct S_row {
	_Atomic uint64_t by_status[500]; /* index status - 100 */
	struct tv_hist latency;
};

struct tv__http_stats {
	const struct tv_http_route *routes;
	size_t n_routes;
	_Atomic int64_t open_conns;
	struct S_row rows[]; /* n_routes, then S_N_METHODS unmatched */
};

struct tv__http_stats *tv__http_stats_new(const struct tv_http_route *routes, size_t n)
{
	struct tv__http_stats *st =
		calloc(1, sizeof(*st) + (n + S_N_METHODS) * sizeof(st->rows[0]));

	if (st) {
		st->routes = routes;
		st->n_routes = n;
	}
	return st;
}

void tv__http_stats_free(struct tv__http_stats *st)
{
	free(st);
}

void tv__http_stats_observe(struct tv__http_stats *st, const struct tv_http_route *route,
			    const char *method, unsigned status, int64_t duration_ns)
{
	struct S_row *row;
	size_t i;

	if (!st || status < 100 || status > 599)
		return;
	if (route) {
		i = (size_t)(route - st->routes);
	} else {
		for (i = 0; i < S_N_METHODS - 1 && strcmp(S_methods[i], method); i++)
			;
		i += st->n_routes;
	}
	row = &st->rows[i];
	atomic_fetch_add_explicit(&row->by_status[status - 100], 1, memory_order_relaxed);
	tv_hist_observe(&row->latency, duration_ns);
}

void tv__http_stats_conn(struct tv__http_stats *st, int delta)
{
	if (st)
		atomic_fetch_add_explicit(&st->open_conns, delta, memory_order_relaxed);
}

static const char *S_route(const struct tv__http_stats *st, size_t i)
{
	return i < st->n_routes ? st->routes[i].pattern : S_UNMATCHED;
}

static const char *S_method(const struct tv__http_stats *st, size_t i)
{
	return i < st->n_routes ? st->routes[i].method : S_methods[i - st->n_routes];
}

void tv__http_stats_render(struct tv__http_stats *st, struct tv_mtext *out)
{
	size_t i, n = st->n_routes + S_N_METHODS;
	char status[8];
	unsigned s;

	tv_mtext_family(out, "tlsvault_http_requests_total", "counter",
			"HTTP requests answered, by route pattern, method and status");
	for (i = 0; i < n; i++) {
		for (s = 0; s < 500; s++) {
			uint64_t v = atomic_load_explicit(&st->rows[i].by_status[s],
							  memory_order_relaxed);
			if (!v)
				continue;
			snprintf(status, sizeof(status), "%u", s + 100);
			tv_mtext_u64(out, "tlsvault_http_requests_total",
				     (const char *const[][2]){ { "route", S_route(st, i) },
							       { "method", S_method(st, i) },
							       { "status", status } },
				     3, v);
		}
	}
	tv_mtext_family(out, "tlsvault_http_request_duration_seconds", "histogram",
			"Time from a request's first byte to its answer being queued, by route");
	for (i = 0; i < n; i++)
		if (tv_hist_count(&st->rows[i].latency))
			tv_mtext_hist(out, "tlsvault_http_request_duration_seconds",
				      (const char *const[][2]){ { "route", S_route(st, i) },
								{ "method", S_method(st, i) } },
				      2, &st->rows[i].latency);
	tv_mtext_family(out, "tlsvault_http_open_connections", "gauge",
			"HTTP connections open now");
	tv_mtext_printf(out, "tlsvault_http_open_connections %lld\n",
			(long long)atomic_load(&st->open_conns));
}
