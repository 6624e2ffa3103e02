/*
 * metrics.h - the service counters behind /metrics: import results by
 * final status and reason code, worker busy time, lease re-claims, and
 * exports by format.
 *
 * DESIGN: one struct owned by the server (cmd/tlsvaultd) and handed to the
 * importer and the API, not a global. Every counter is a C11 atomic and
 * every label comes from a closed set (the four result statuses, the reason
 * codes of pki/reason.h, the three export formats), so a client can't grow
 * the output and no tenant, id or secret is ever a label.
 * Threads: every function may run on any thread at once.
 */
#ifndef TV_SVC_METRICS_H
#define TV_SVC_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/metrics.h"
#include "pki/reason.h"

#define TV_SVC_RESULT_STATUSES 4 /* IMPORTED, SKIPPED, FAILED, VALID */
#define TV_SVC_EXPORT_FORMATS 3  /* PKCS12, PEM, JKS */

/** Zero-initialised storage is a set of zero counters. */
struct tv_svc_metrics {
	_Atomic uint64_t results[TV_SVC_RESULT_STATUSES][TV_REASON_COUNT];
	_Atomic uint64_t worker_busy_ns;
	_Atomic uint64_t lease_reclaims;
	_Atomic uint64_t exports[TV_SVC_EXPORT_FORMATS];
	unsigned workers; /* set once before the workers start */
};

/**
 * Count one import result. status is IMPORTED, SKIPPED, FAILED or VALID;
 * reason is the result's reason code or its whole reason text ("CODE:
 * message"; "" when none). An unknown status is not counted; an unknown
 * code counts as INTERNAL_ERROR. m may be NULL (nothing counted).
 */
void tv_svc_metrics_result(struct tv_svc_metrics *m, const char *status, const char *reason);

/** Count one export written in format (PKCS12, PEM or JKS); m may be NULL. */
void tv_svc_metrics_export(struct tv_svc_metrics *m, const char *format);

/** Add a worker's busy time (one item, claim to finish); m may be NULL. */
void tv_svc_metrics_busy(struct tv_svc_metrics *m, int64_t ns);

/** Count an item claimed again after an earlier claim's lease expired. */
void tv_svc_metrics_reclaim(struct tv_svc_metrics *m);

/** Append the counters in the Prometheus text format. */
void tv_svc_metrics_render(const struct tv_svc_metrics *m, struct tv_mtext *out);

#endif
