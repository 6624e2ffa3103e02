/* certificates.h - handlers: the vault's certificate inventory, search, retire,
 * recover, delete, keystore export, and the audit log. */
#ifndef TV_API_CERTIFICATES_H
#define TV_API_CERTIFICATES_H

#include "api/app.h"

void tv_api_cert_get(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cert_search(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cert_retire(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cert_recover(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cert_delete(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_cert_keystore(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
void tv_api_auditlog(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

/** The Certificate object of API.md for a stored record (new reference). */
json_t *tv_api_cert_json(const struct tv_cert_record *c);

/*
 * The certificatesearch body, parsed (for the handler and the fuzz target):
 * the query tree and the arena its nodes and values live in. NULL after
 * replying 400 (or 500) in resp. Pure apart from resp.
 */
struct tv_api_search;
struct tv_api_search *tv_api_search_parse(struct tv_http_resp *resp, json_t *body);
const struct tv_search *tv_api_search_query(const struct tv_api_search *s);
void tv_api_search_free(struct tv_api_search *s);

#endif
