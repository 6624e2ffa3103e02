/*
 * DESIGN: see metrics.h. Results are counted by the importer's committer
 * once items_finish has recorded them (with the status the store decided: a duplicate becomes
 * SKIPPED there), and by the API for items refused at intake, so the
 * counters match the result rows this node wrote, one per key/certificate
 * pair. Only non-zero combinations are rendered.
 */
#include "svc/metrics.h"

#include <string.h>

static const char *const S_statuses[TV_SVC_RESULT_STATUSES] = { "IMPORTED", "SKIPPED",
								 "FAILED", "VALID" };
static const char *const S_formats[TV_SVC_EXPORT_FORMATS] = { "PKCS12", "PEM", "JKS" };

static int S_index(const char *const *names, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

/* The code at the start of a reason ("CODE" or "CODE: message"). */
static enum tv_reason S_reason(const char *reason)
{
	size_t len = strcspn(reason, ":");
	int i;

	if (!len)
		return TV_REASON_OK;
	for (i = 1; i < TV_REASON_COUNT; i++) {
		const char *code = tv_reason_code((enum tv_reason)i);

		if (strlen(code) == len && !strncmp(code, reason, len))
			return (enum tv_reason)i;
	}
	return TV_REASON_INTERNAL_ERROR;
}

void tv_svc_metrics_result(struct tv_svc_metrics *m, const char *status, const char *reason)
{
	int s;

	if (!m || !status)
		return;
	s = S_index(S_statuses, TV_SVC_RESULT_STATUSES, status);
	if (s < 0)
		return;
	atomic_fetch_add_explicit(&m->results[s][S_reason(reason ? reason : "")], 1,
				  memory_order_relaxed);
}

void tv_svc_metrics_export(struct tv_svc_metrics *m, const char *format)
{
	int f;

	if (!m || !format)
		return;
	f = S_index(S_formats, TV_SVC_EXPORT_FORMATS, format);
	if (f >= 0)
		atomic_fetch_add_explicit(&m->exports[f], 1, memory_order_relaxed);
}

void tv_svc_metrics_busy(struct tv_svc_metrics *m, int64_t ns)
{
	if (m && ns > 0)
		atomic_fetch_add_explicit(&m->worker_busy_ns, (uint64_t)ns, memory_order_relaxed);
}

void tv_svc_metrics_reclaim(struct tv_svc_metrics *m)
{
	if (m)
		atomic_fetch_add_explicit(&m->lease_reclaims, 1, memory_order_relaxed);
}

void tv_svc_metrics_render(const struct tv_svc_metrics *m, struct tv_mtext *out)
{
	int s, r;

	tv_mtext_family(out, "tlsvault_import_items_total", "counter",
			"Import results recorded by this node, by final status and reason code "
			"(one per key/certificate pair; reason is empty when there is none)");
	for (s = 0; s < TV_SVC_RESULT_STATUSES; s++) {
		for (r = 0; r < TV_REASON_COUNT; r++) {
			uint64_t v = atomic_load_explicit(&m->results[s][r], memory_order_relaxed);

			if (v)
				tv_mtext_u64(out, "tlsvault_import_items_total",
					     (const char *const[][2]){
						     { "status", S_statuses[s] },
						     { "reason", tv_reason_code((enum tv_reason)r) } },
					     2, v);
		}
	}
	tv_mtext_family(out, "tlsvault_workers", "gauge", "Import worker threads of this node");
	tv_mtext_u64(out, "tlsvault_workers", NULL, 0, m->workers);
	tv_mtext_family(out, "tlsvault_worker_busy_seconds_total", "counter",
			"Time the import workers spent on items, summed over the workers");
	tv_mtext_double(out, "tlsvault_worker_busy_seconds_total", NULL, 0,
			(double)atomic_load(&m->worker_busy_ns) / 1e9);
	tv_mtext_family(out, "tlsvault_import_lease_reclaims_total", "counter",
			"Import items this node claimed again after an earlier claim's lease "
			"expired (a worker or node stopped mid-item)");
	tv_mtext_u64(out, "tlsvault_import_lease_reclaims_total", NULL, 0,
		     atomic_load(&m->lease_reclaims));
	tv_mtext_family(out, "tlsvault_exports_total", "counter",
			"Keystores exported (certificate with its private key), by format");
	for (s = 0; s < TV_SVC_EXPORT_FORMATS; s++)
		tv_mtext_u64(out, "tlsvault_exports_total",
			     (const char *const[][2]){ { "format", S_formats[s] } }, 1,
			     atomic_load(&m->exports[s]));
}
