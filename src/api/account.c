/*
 * DESIGN: /v1/useraccounts (what vcert calls to check a key) and the API key
 * endpoints (ext). A new key is shown once, in the 201 body, which the server
 * wipes after sending; only its hash is stored.
 */
#include "api/account.h"

#include <stdlib.h>
#include <string.h>

#include "api/authcache.h"
#include "core/util.h"
#include "svc/account.h"

#define S_DEFAULT_VALIDITY_DAYS 365

static json_t *S_apikey_json(const struct tv_apikey *k, bool with_usage)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", k->id, "name", k->name, "role",
			      tv_role_name(k->role), "creationDate", tv_api_date(k->created_ms),
			      "validityEndDate", tv_api_date(k->expires_ms));

	if (o && with_usage) {
		json_object_set_new(o, "lastUsedDate", tv_api_date(k->last_used_ms));
		json_object_set_new(o, "revoked", json_boolean(k->revoked_ms != 0));
	}
	return o;
}

void tv_api_useraccounts(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	const struct tv_principal *p = tv_api_principal(req);
	const struct tv_apikey *k = &p->key;

	(void)app;
	tv_http_reply_json(
		resp, 200,
		json_pack("{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s},s:{s:s,s:s,s:s,s:[s],s:o,s:o}}",
			  "user", "id", k->id, "username", k->name, "companyId", p->tenant.id,
			  "userType", "API", "company", "id", p->tenant.id, "name",
			  p->tenant.name, "apiKey", "id", k->id, "role", tv_role_name(k->role),
			  "apiKeyStatus", "ACTIVE", "apiTypes", "ALL", "creationDate",
			  tv_api_date(k->created_ms), "validityEndDate",
			  tv_api_date(k->expires_ms)));
}

void tv_api_apikeys_list(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	struct tv_apikey *keys = NULL;
	json_t *arr;
	size_t n = 0, i;
	enum tv_err rc;

	rc = app->store->ops->apikey_list(app->store, p->tenant.id, &keys, &n);
	if (rc) {
		tv_api_internal(resp, req, rc, "apikey_list");
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, S_apikey_json(&keys[i], true));
	free(keys);
	tv_http_reply_json(resp, 200, json_pack("{s:o}", "apiKeys", arr));
}

/* Validate the body of POST /v1/apikeys. */
static bool S_parse_create(struct tv_http_resp *resp, json_t *body, const char **name,
			   enum tv_role *role, int *days)
{
	static const char *const allowed[] = { "name", "role", "validityDays", NULL };
	json_t *jn, *jr, *jd;

	if (!json_is_object(body)) {
		tv_api_bad_field(resp, "$", "must be an object");
		return false;
	}
	if (tv_api_unknown_fields(resp, body, allowed))
		return false;
	jn = json_object_get(body, "name");
	jr = json_object_get(body, "role");
	jd = json_object_get(body, "validityDays");
	if (!json_is_string(jn) || !json_string_length(jn) ||
	    json_string_length(jn) > TV_NAME_MAX) {
		tv_api_bad_field(resp, "name", "must be a string of 1 to 128 characters");
		return false;
	}
	*role = json_is_string(jr) ? tv_role_parse(json_string_value(jr)) : TV_ROLE_NONE;
	if (*role == TV_ROLE_NONE) {
		tv_api_bad_field(resp, "role", "must be READ_ONLY, PKI_ADMIN or ADMIN");
		return false;
	}
	*days = S_DEFAULT_VALIDITY_DAYS;
	if (jd) {
		if (!json_is_integer(jd) || json_integer_value(jd) < 1 ||
		    json_integer_value(jd) > TV_APIKEY_MAX_VALIDITY_DAYS) {
			tv_api_bad_field(resp, "validityDays", "must be an integer from 1 to 3650");
			return false;
		}
		*days = (int)json_integer_value(jd);
	}
	*name = json_string_value(jn);
	return true;
}

void tv_api_apikeys_create(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	struct tv_secbuf *key = NULL;
	struct tv_apikey rec;
	const char *name;
	enum tv_role role;
	json_t *o;
	int days;
	enum tv_err rc;

	if (!S_parse_create(resp, tv_http_req_json(req), &name, &role, &days))
		return;
	rc = tv_svc_apikey_create(&rec, &key, app->store, p->tenant.id, role, name, days);
	if (rc) {
		tv_api_internal(resp, req, rc, "apikey_create");
		return;
	}
	tv_api_audit(app, req, "apikey.create", rec.id, tv_role_name(role));
	o = S_apikey_json(&rec, false);
	json_object_set_new(o, "key", json_stringn((const char *)key->p, key->len));
	tv_secbuf_free(key);
	tv_http_reply_json(resp, 201, o);
	resp->wipe_body = true;
}

void tv_api_apikeys_delete(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	const char *id = tv_http_req_param(req, "id");
	enum tv_err rc;

	if (!tv_uuid_valid(id)) {
		tv_api_not_found(resp);
		return;
	}
	rc = app->store->ops->apikey_revoke(app->store, p->tenant.id, id, tv_now_ms());
	/* this node refuses the key from the next request on (other nodes
	 * within their cache's TTL); even after a store error, which may have
	 * come after the commit, forgetting costs one lookup */
	tv_authcache_forget_key(app->authcache, id);
	if (rc == TV_ERR_NOT_FOUND) {
		tv_api_not_found(resp);
		return;
	}
	if (rc) {
		tv_api_internal(resp, req, rc, "apikey_revoke");
		return;
	}
	tv_api_audit(app, req, "apikey.revoke", id, NULL);
	tv_http_reply_empty(resp, 204);
}
