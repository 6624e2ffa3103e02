/*
 * DESIGN: the little things every handler needs to answer in API.md's exact
 * shapes (dates, error bodies) live here once.
 */
#include "api/app.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/secmem.h"
#include "core/util.h"
#include "core/wipeheap.h"

void tv_api_json_init(void)
{
	json_set_alloc_funcs(tv_wipeheap_malloc, tv_wipeheap_free);
}

const struct tv_principal *tv_api_principal(const struct tv_http_req *req)
{
	return tv_http_req_principal(req);
}

json_t *tv_api_date(int64_t ms)
{
	char s[TV_ISO_TIME_STRLEN + 1];

	if (!ms)
		return json_null();
	tv_iso_time(s, ms);
	return json_string(s);
}

void tv_api_not_found(struct tv_http_resp *resp)
{
	tv_http_reply_error(resp, 404, TV_E_NOT_FOUND, NULL, "not found");
}

void tv_api_bad_field(struct tv_http_resp *resp, const char *path, const char *why)
{
	tv_http_reply_error(resp, 400, TV_E_FIELD, json_pack("[s]", path), "%s: %s", path, why);
}

void tv_api_internal(struct tv_http_resp *resp, struct tv_http_req *req, enum tv_err rc,
		     const char *where)
{
	TV_LOG(TV_LOG_ERROR, "internal error", TV_LS("where", where),
	       TV_LS("error", tv_strerror(rc)),
	       TV_LS("request_id", tv_http_req_request_id(req)));
	tv_http_reply_error(resp, 500, TV_HTTP_E_INTERNAL, NULL, "internal error (request %s)",
			    tv_http_req_request_id(req));
}

bool tv_api_unknown_fields(struct tv_http_resp *resp, json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v) {
		bool ok = false;

		for (i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(key, allowed[i]);
		if (!ok) {
			tv_api_bad_field(resp, key, "unknown field");
			return true;
		}
	}
	return false;
}

void tv_api_audit(struct tv_app *app, struct tv_http_req *req, const char *action,
		  const char *object_id, const char *detail)
{
	tv_api_audit_outcome(app, req, action, object_id, detail, "ok");
}

void tv_api_audit_outcome(struct tv_app *app, struct tv_http_req *req, const char *action,
			  const char *object_id, const char *detail, const char *outcome)
{
	const struct tv_principal *p = tv_api_principal(req);
	struct tv_audit a = { .ts_ms = tv_now_ms(), .tenant_id = p ? p->tenant.id : NULL,
			      .actor = p ? p->key.id : NULL, .action = action,
			      .object_id = object_id, .detail = detail,
			      .request_id = tv_http_req_request_id(req), .outcome = outcome };
	enum tv_err rc = app->store->ops->audit_append(app->store, &a);

	if (rc)
		TV_LOG(TV_LOG_ERROR, "audit log write failed", TV_LS("action", action),
		       TV_LS("error", tv_strerror(rc)),
		       TV_LS("request_id", tv_http_req_request_id(req)));
}

void tv_api_job_final(void *app_ptr)
{
	struct tv_app *app = app_ptr;

	/* under the lock, so the server can't be freed between the check and
	 * the wake (lock order: app->http_lock, then the server's own lock) */
	pthread_mutex_lock(&app->http_lock);
	if (app->http)
		tv_http_wake(app->http);
	pthread_mutex_unlock(&app->http_lock);
}
