/*
 * DESIGN: /healthz says the process runs (for restarts); /readyz says this
 * node can do work (for load balancers): the store answers, the keys are
 * loaded, and it is not shutting down.
 */
#include "api/ops.h"

void tv_api_healthz(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	(void)app;
	(void)req;
	tv_http_reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

void tv_api_readyz(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *why = NULL;

	(void)req;
	if (atomic_load(&app->stopping))
		why = "shutting down";
	else if (!atomic_load(&app->ready))
		why = "starting";
	else if (app->store->ops->ping(app->store) != TV_OK)
		why = "store not answering";
	if (why) {
		tv_http_reply_json(resp, 503,
				   json_pack("{s:s,s:s}", "status", "unavailable", "reason", why));
		tv_http_resp_header(resp, "Retry-After", "5");
		return;
	}
	tv_http_reply_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}
