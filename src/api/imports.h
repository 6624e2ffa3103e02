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

/**
 * Validate an import request body and classify its items (the handler's
 * first step, without the store; the fuzz target calls it too): at most
 * max_items items, each keystore at most max_keystore bytes. Returns false
 * after replying 400 in resp. On success job->edge_id and job->dek_id are
 * set and *items (calloc'd, *n of them) are classified: release each with
 * tv_import_item_release() and free the array.
 */
bool tv_api_import_parse(struct tv_http_resp *resp, json_t *body, size_t max_items,
			 size_t max_keystore,
			 struct tv_import_job *job, struct tv_import_item **items,
			 size_t *n) TV_WUR;

#endif
