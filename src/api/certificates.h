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

#endif
