/*
 * DESIGN: the Certificate object is the stored facts document (computed once
 * at import) plus the row's live columns (status, dekHash, dates, ids). State
 * changes take lists of ids and are all-or-nothing: one unknown id (404) or
 * one certificate in the wrong state (409/10110) changes nothing. GET of one
 * certificate splices the stored facts text into its answer
 * (tv_api_cert_text, api/jsonw.c) instead of parsing and re-dumping it: the
 * facts are written only by svc/certinfo.c with json_dumps(JSON_COMPACT),
 * so the text is already what the dump would give.
 */
#include "api/certificates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/jsonw.h"
#include "core/util.h"

#define S_MAX_IDS 1000

json_t *tv_api_cert_json(const struct tv_cert_record *c)
{
	json_t *o = json_loads(c->facts_json, 0, NULL);
	json_t *issuers = json_loads(c->issuer_ids_json, 0, NULL);

	if (!o)
		o = json_object();
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "companyId", json_string(c->tenant_id));
	json_object_set_new(o, "certificateStatus", json_string(c->status));
	if (c->dek_id[0])
		json_object_set_new(o, "dekHash", json_string(c->dek_id));
	json_object_set_new(o, "issuerCertificateIds", issuers ? issuers : json_array());
	json_object_set_new(o, "creationDate", tv_api_date(c->created_ms));
	json_object_set_new(o, "modificationDate", tv_api_date(c->modified_ms));
	if (c->import_job_id[0])
		json_object_set_new(o, "importJobId", json_string(c->import_job_id));
	if (c->label[0])
		json_object_set_new(o, "label", json_string(c->label));
	return o;
}

void tv_api_cert_get(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *id = tv_http_req_param(req, "id");
	struct tv_cert_record c;
	enum tv_err rc;

	if (!tv_uuid_valid(id)) {
		tv_api_not_found(resp);
		return;
	}
	rc = app->store->ops->cert_get(app->store, tv_api_principal(req)->tenant.id, id, &c);
	if (rc == TV_ERR_NOT_FOUND) {
		tv_api_not_found(resp);
		return;
	}
	if (rc) {
		tv_api_internal(resp, req, rc, "cert_get");
		return;
	}
	{
		size_t len = 0;
		char *text = tv_api_cert_text(&c, &len);

		tv_http_reply_json_text(resp, 200, text, len);
	}
	free(c.der);
	free(c.facts_json);
	free(c.issuer_ids_json);
}

/* {"certificateIds":[uuid...]} into ids (borrowed from body); false after a 400. */
static bool S_ids(struct tv_http_resp *resp, json_t *body, const char ***ids, size_t *n)
{
	static const char *const allowed[] = { "certificateIds", NULL };
	json_t *arr, *v;
	size_t i, m;

	if (!json_is_object(body)) {
		tv_api_bad_field(resp, "$", "must be an object");
		return false;
	}
	if (tv_api_unknown_fields(resp, body, allowed))
		return false;
	arr = json_object_get(body, "certificateIds");
	*n = json_array_size(arr);
	if (!json_is_array(arr) || *n < 1 || *n > S_MAX_IDS) {
		tv_api_bad_field(resp, "certificateIds", "must be an array of 1 to 1000 ids");
		return false;
	}
	*ids = calloc(*n, sizeof(**ids));
	if (!*ids)
		return false;
	m = 0;
	json_array_foreach(arr, i, v) {
		bool seen = false;
		size_t k;

		if (!json_is_string(v) || !tv_uuid_valid(json_string_value(v))) {
			char path[48];
			snprintf(path, sizeof(path), "certificateIds[%zu]", i);
			tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", path),
					    "%s: not a certificate id", path);
			free(*ids);
			return false;
		}
		/* the same id twice counts once */
		for (k = 0; k < m && !seen; k++)
			seen = !strcasecmp((*ids)[k], json_string_value(v));
		if (!seen)
			(*ids)[m++] = json_string_value(v);
	}
	*n = m;
	return true;
}

static void S_set_status(struct tv_app *app, struct tv_http_req *req, struct tv_http_resp *resp,
			 const char *status, const char *action)
{
	const char *tenant = tv_api_principal(req)->tenant.id;
	const char **ids = NULL;
	json_t *out;
	size_t n = 0, i;
	enum tv_err rc;

	if (!S_ids(resp, tv_http_req_json(req), &ids, &n))
		return;
	rc = app->store->ops->cert_set_status(app->store, tenant, ids, n, status, tv_now_ms());
	if (rc == TV_ERR_NOT_FOUND) {
		for (i = 0; i < n; i++)
			tv_api_audit_outcome(app, req, action, ids[i], "not found", "failed");
		tv_http_reply_error(resp, 404, TV_E_NOT_FOUND, NULL,
				    "a certificate id is not in this vault; nothing changed");
	} else if (rc) {
		tv_api_internal(resp, req, rc, action);
	} else {
		out = json_array();
		for (i = 0; i < n; i++) {
			struct tv_cert_record c;

			tv_api_audit(app, req, action, ids[i], NULL);
			if (app->store->ops->cert_get(app->store, tenant, ids[i], &c) == TV_OK) {
				json_array_append_new(out, tv_api_cert_json(&c));
				free(c.der);
				free(c.facts_json);
				free(c.issuer_ids_json);
			}
		}
		tv_http_reply_json(resp, 200, json_pack("{s:o}", "certificates", out));
	}
	free(ids);
}

void tv_api_cert_retire(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	S_set_status(app, req, resp, "RETIRED", "certificate.retire");
}

void tv_api_cert_recover(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	S_set_status(app, req, resp, "ACTIVE", "certificate.recover");
}

void tv_api_cert_delete(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char **ids = NULL;
	size_t n = 0, i;
	enum tv_err rc;

	if (!S_ids(resp, tv_http_req_json(req), &ids, &n))
		return;
	rc = app->store->ops->cert_delete(app->store, tv_api_principal(req)->tenant.id, ids, n);
	if (rc == TV_ERR_NOT_FOUND || rc == TV_ERR_STATE)
		for (i = 0; i < n; i++)
			tv_api_audit_outcome(app, req, "certificate.delete", ids[i],
					     rc == TV_ERR_STATE ? "not RETIRED" : "not found",
					     "failed");
	if (rc == TV_ERR_NOT_FOUND)
		tv_http_reply_error(resp, 404, TV_E_NOT_FOUND, NULL,
				    "a certificate id is not in this vault; nothing deleted");
	else if (rc == TV_ERR_STATE)
		tv_http_reply_error(resp, 409, TV_E_STATE, NULL,
				    "only RETIRED certificates can be deleted; nothing deleted");
	else if (rc)
		tv_api_internal(resp, req, rc, "cert_delete");
	else {
		for (i = 0; i < n; i++)
			tv_api_audit(app, req, "certificate.delete", ids[i], NULL);
		tv_http_reply_empty(resp, 204);
	}
	free(ids);
}

void tv_api_auditlog(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *limit_s = tv_http_req_query(req, "limit"), *after_s = tv_http_req_query(req, "after");
	struct tv_audit_row *rows = NULL;
	long long limit = limit_s ? atoll(limit_s) : 100, after = after_s ? atoll(after_s) : 0;
	size_t n = 0, i;
	json_t *arr;
	enum tv_err rc;

	if (limit < 1 || limit > 1000 || after < 0) {
		tv_api_bad_field(resp, "limit", "limit is 1 to 1000 and after a row id");
		return;
	}
	rc = app->store->ops->audit_list(app->store, tv_api_principal(req)->tenant.id, after,
					 (size_t)limit, &rows, &n);
	if (rc) {
		tv_api_internal(resp, req, rc, "audit_list");
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:s}", "id",
				       (json_int_t)rows[i].id, "time", tv_api_date(rows[i].ts_ms),
				       "apiKeyId", rows[i].actor, "action", rows[i].action, "objectId",
				       rows[i].object_id, "detail", rows[i].detail, "outcome",
				       rows[i].outcome, "requestId", rows[i].request_id));
	free(rows);
	tv_http_reply_json(resp, 200, json_pack("{s:o}", "entries", arr));
}
