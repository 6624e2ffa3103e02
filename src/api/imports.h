/*
 * imports.h - handlers: POST .../certificates/imports, GET .../imports/{id},
 * and (ext) GET .../certificates/imports, the tenant's recent jobs.
 */
#ifndef TV_API_IMPORTS_H
#define TV_API_IMPORTS_H

#include "api/app.h"

void tv_api_imports_create(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
/** (ext) ?limit=1..100 (default 20): the newest jobs first, without results. */
void tv_api_imports_list(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_imports_get(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
