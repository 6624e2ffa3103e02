/* trustedcas.h - handlers: /v1/trustedcacertificates and its sub-resources. */
#ifndef TV_API_TRUSTEDCAS_H
#define TV_API_TRUSTEDCAS_H

#include "api/app.h"

void tv_api_cas_create(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cas_list(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cas_get(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cas_contents(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cas_delete(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
