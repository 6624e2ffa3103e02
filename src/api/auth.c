/*
 * DESIGN: an authenticated request looks its key (by SHA-256) and the key's
 * tenant up in the store, unless the node's auth cache (api/authcache.h)
 * answered for that hash within --auth-cache-seconds: two store queries per
 * request were a quarter of the CPU of a small GET. A key revoked through
 * this node is dropped from its cache at once (api/account.c), so it is
 * refused from the next request on; on the other nodes within the cache's
 * TTL. The answer for an unknown, revoked or expired key is the same (10501).
 *
 * The per-tenant rate limit is taken here, once the tenant is known and
 * before the role check, so every authenticated request of a tenant (any of
 * its keys, allowed or not) draws on one bucket. Requests that fail
 * authentication have no tenant to charge and are not counted.
 */
#include "api/app.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/authcache.h"
#include "core/secmem.h"
#include "core/util.h"
#include "svc/account.h"

static void S_principal_free(void *p)
{
	tv_wipe(p, sizeof(struct tv_principal));
	free(p);
}

/*
 * The principal for a presented key: from the cache when it is fresh there,
 * else from the store (key, then tenant), and then cached. TV_ERR_DENIED for
 * an unknown, revoked or expired key.
 */
static enum tv_err S_lookup(struct tv_app *app, const char *key, struct tv_principal *p)
{
	size_t len = strlen(key);
	unsigned char hash[TV_APIKEY_HASH_BYTES];
	int64_t mono = tv_mono_ms();
	uint64_t gen;
	enum tv_err rc;

	if (len == 0 || len > 256)
		return TV_ERR_DENIED; /* as tv_svc_apikey_check: never a valid key */
	crypto_hash_sha256(hash, (const unsigned char *)key, len);
	if (tv_authcache_get(app->authcache, hash, mono, tv_now_ms(), p))
		return TV_OK;
	/* read before the lookup: a revocation here in between voids the put */
	gen = tv_authcache_generation(app->authcache);
	rc = tv_svc_apikey_check(&p->key, app->store, key, len);
	if (!rc)
		rc = app->store->ops->tenant_get(app->store, p->key.tenant_id, &p->tenant);
	if (!rc)
		tv_authcache_put(app->authcache, p, gen, mono);
	return rc;
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
	rc = S_lookup(app, key, p);
	if (rc) {
		S_principal_free(p);
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
