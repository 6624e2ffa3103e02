/* edge.h - handlers: /v1/edgeinstances[/{id}], /v1/edgeencryptionkeys[/{id}]. */
#ifndef TV_API_EDGE_H
#define TV_API_EDGE_H

#include "api/app.h"

void tv_api_edge_list(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_edge_get(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_enckey_list(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_enckey_get(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
