/*
 * DESIGN: every authenticated request looks its key up in the store, with no
 * cache, so a revoked key is refused from the next request on, on every node.
 * The lookup is one indexed read of a 32-byte hash; it is cheap next to TLS.
 * The answer for an unknown, revoked or expired key is the same (10501).
 *
 * The per-tenant rate limit is taken here, once the tenant is known and
 * before the role check, so every authenticated request of a tenant (any of
 * its keys, allowed or not) draws on one bucket. Requests that fail
 * authentication have no tenant to charge and are not counted.
 */
#include "api/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "svc/account.h"

static void S_principal_free(void *p)
{
	free(p);
}

/*
 * The presented key: tppl-api-key, else "Authorization: Bearer <key>". An
 * empty value is no key at all (1004, like a missing header), not a wrong
 * one.
 */
static const char *S_presented(struct tv_http_req *req)
{
	const char *k = tv_http_req_header(req, "tppl-api-key");
	const char *a;

	if (k && *k)
		return k;
	a = tv_http_req_header(req, "Authorization");
	if (a && !strncasecmp(a, "Bearer ", 7)) {
		for (a += 7; *a == ' '; a++)
			;
		return *a ? a : NULL;
	}
	return NULL;
}

/* false after replying 429 when the tenant is over its request rate. */
static bool S_rate_ok(struct tv_app *app, const struct tv_principal *p,
		      struct tv_http_resp *resp)
{
	unsigned retry = 1;
	char value[16];

	if (!app->ratelimit ||
	    tv_ratelimit_take(app->ratelimit, p->tenant.id, tv_mono_ms(), &retry))
		return true;
	snprintf(value, sizeof(value), "%u", retry);
	tv_http_reply_error(resp, 429, TV_E_RATE, json_pack("[I]", (json_int_t)retry),
			    "rate limit exceeded for this tenant; retry after %u s", retry);
	tv_http_resp_header(resp, "Retry-After", value);
	return false;
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
	if (!S_rate_ok(app, p, resp))
		return false;
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
