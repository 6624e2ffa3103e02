/* metrics.h - the operator's endpoints: GET /metrics (Prometheus text
 * format, api/metrics.c) and GET /v1/openapi.json (api/openapi.c). */
#ifndef TV_API_METRICS_H
#define TV_API_METRICS_H

#include "api/app.h"

/**
 * GET /metrics. The route carries no auth level: the handler asks for an
 * ADMIN key itself when app->metrics_require_key (docs/ARCHITECTURE.md,
 * "Metrics").
 */
void tv_api_metrics(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

/** GET /v1/openapi.json: docs/openapi.yaml as JSON (no authentication). */
void tv_api_openapi(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
