/*
 * DESIGN: /metrics is assembled at scrape time from the objects that keep
 * the counters (the HTTP server, the timed store, the service counters) and
 * one store read for the queue depth per tenant, so nothing here is global
 * state and the queue depth is the store's truth, shared by every node.
 *
 * Who may read it: anyone who reaches the port, by default, because API.md
 * lists /metrics under "Operations (no authentication)" (a Prometheus
 * scraper has no API key); the queue depth of every tenant is labelled by
 * tenant id (never a name). --metrics-require-key (like Vault, whose
 * sys/metrics needs a token unless unauthenticated_metrics_access is set)
 * asks for an ADMIN key, and that key sees the queue depth of its own tenant
 * only; the other series are totals of the node, with no tenant in them. No
 * series carries a secret, a path, a request id or a certificate id: every
 * label value comes from a closed set, except the tenant id of the queue
 * depth, which issue 11 asks for.
 */
#include "api/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/util.h"

#define S_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void S_process(const struct tv_app *app, struct tv_mtext *out)
{
	tv_mtext_family(out, "tlsvault_build_info", "gauge",
			"Always 1; the version of this tlsvaultd is the label");
	tv_mtext_u64(out, "tlsvault_build_info",
		     (const char *const[][2]){ { "version", TV_VERSION } }, 1, 1);
	tv_mtext_family(out, "tlsvault_process_start_time_seconds", "gauge",
			"When this process started, in seconds since the Unix epoch");
	tv_mtext_double(out, "tlsvault_process_start_time_seconds", NULL, 0,
			(double)app->start_time_ms / 1000.0);
}

/* The queue depth per tenant (only tenant_id's when it isn't NULL). */
static void S_queue(struct tv_app *app, const char *tenant_id, struct tv_mtext *out)
{
	struct tv_queue_depth *rows = NULL;
	size_t n = 0, i;
	enum tv_err rc;

	if (!app->store->ops->queue_depth)
		return;
	rc = app->store->ops->queue_depth(app->store, &rows, &n);
	tv_mtext_family(out, "tlsvault_import_queue_depth", "gauge",
			"Import items not yet final, by tenant id and state, read from the store "
			"(all nodes) when scraped");
	for (i = 0; !rc && i < n; i++) {
		if (tenant_id && strcmp(rows[i].tenant_id, tenant_id))
			continue;
		tv_mtext_u64(out, "tlsvault_import_queue_depth",
			     (const char *const[][2]){ { "tenant", rows[i].tenant_id },
						       { "state", "waiting" } },
			     2, (uint64_t)rows[i].waiting);
		tv_mtext_u64(out, "tlsvault_import_queue_depth",
			     (const char *const[][2]){ { "tenant", rows[i].tenant_id },
						       { "state", "processing" } },
			     2, (uint64_t)rows[i].processing);
	}
	free(rows);
	tv_mtext_family(out, "tlsvault_import_queue_depth_up", "gauge",
			"1 when the queue depth above could be read from the store, else 0");
	tv_mtext_u64(out, "tlsvault_import_queue_depth_up", NULL, 0, rc ? 0 : 1);
}

void tv_api_metrics(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = NULL;
	struct tv_mtext out = { 0 };

	if (app->metrics_require_key) {
		if (!tv_api_auth(app, req, TV_ROLE_ADMIN, resp))
			return;
		p = tv_api_principal(req);
	}
	S_process(app, &out);
	pthread_mutex_lock(&app->http_lock);
	if (app->http)
		tv_http_metrics(app->http, &out);
	pthread_mutex_unlock(&app->http_lock);
	tv_store_metrics(app->store, &out);
	if (app->metrics)
		tv_svc_metrics_render(app->metrics, &out);
	S_queue(app, p ? p->tenant.id : NULL, &out);
	if (out.failed || tv_http_reply_bytes(resp, 200, S_CONTENT_TYPE, out.p, out.len, false))
		tv_api_internal(resp, req, TV_ERR_NOMEM, "metrics");
	tv_mtext_release(&out);
}
