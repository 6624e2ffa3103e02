/*
 * DESIGN: every authenticated request looks its key up in the store, with no
 * cache, so a revoked key is refused from the next request on, on every node.
 * The lookup is one indexed read of a 32-byte hash; it is cheap next to TLS.
 * The answer for an unknown, revoked or expired key is the same (10501).
 */
#include "api/app.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "svc/account.h"

static void S_principal_free(void *p)
{
	free(p);
}

/* The presented key: tppl-api-key, else "Authorization: Bearer <key>". */
static const char *S_presented(struct tv_http_req *req)
{
	const char *k = tv_http_req_header(req, "tppl-api-key");
	const char *a;

	if (k)
		return k;
	a = tv_http_req_header(req, "Authorization");
	if (a && !strncasecmp(a, "Bearer ", 7)) {
		for (a += 7; *a == ' '; a++)
			;
		return a;
	}
	return NULL;
}

bool tv_api_auth(void *app_ptr, struct tv_http_req *req, int auth, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *key = S_presented(req);
	struct tv_principal *p;
	enum tv_err rc;

	if (!key) {
		tv_http_reply_error(resp, 401, TV_E_NO_AUTH, NULL,
				    "Invalid or missing request header [SESSION, tppl-api-key]");
		return false;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		tv_api_internal(resp, req, TV_ERR_NOMEM, "auth");
		return false;
	}
	rc = tv_svc_apikey_check(&p->key, app->store, key, strlen(key));
	if (!rc)
		rc = app->store->ops->tenant_get(app->store, p->key.tenant_id, &p->tenant);
	if (rc) {
		free(p);
		if (rc == TV_ERR_DENIED || rc == TV_ERR_NOT_FOUND)
			tv_http_reply_error(resp, 401, TV_E_BAD_KEY, NULL,
					    "invalid, expired or revoked API key");
		else
			tv_api_internal(resp, req, rc, "auth");
		return false;
	}
	tv_http_req_set_principal(req, p, S_principal_free);
	tv_http_req_set_tenant(req, p->tenant.id);
	if ((int)p->key.role < auth) {
		if (strcmp(tv_http_req_method(req), "GET"))
			tv_api_audit_outcome(app, req, "request.denied", NULL,
					     tv_role_name(p->key.role), "denied");
		tv_http_reply_error(resp, 403, TV_E_FORBIDDEN, NULL,
				    "role %s may not do this (needs %s)",
				    tv_role_name(p->key.role), tv_role_name((enum tv_role)auth));
		return false;
	}
	return true;
}
