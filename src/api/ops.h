/* ops.h - handlers without authentication: /healthz, /readyz. */
#ifndef TV_API_OPS_H
#define TV_API_OPS_H

#include "api/app.h"

void tv_api_healthz(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_readyz(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
