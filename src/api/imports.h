/* imports.h - handlers: POST .../certificates/imports and GET .../imports/{id}. */
#ifndef TV_API_IMPORTS_H
#define TV_API_IMPORTS_H

#include "api/app.h"

void tv_api_imports_create(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_imports_get(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
