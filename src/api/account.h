/* account.h - handlers: GET /v1/useraccounts, /v1/apikeys (GET, POST, DELETE). */
#ifndef TV_API_ACCOUNT_H
#define TV_API_ACCOUNT_H

#include "api/app.h"

void tv_api_useraccounts(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_apikeys_list(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_apikeys_create(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_apikeys_delete(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
