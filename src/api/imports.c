/*
 * DESIGN: the request is rejected as a whole (400) only when its envelope is
 * wrong. Each item is classified here, without the DEK: an item that fits
 * none of the three forms, or whose fields are not strings or not base64, or
 * whose keystore is over the cap, becomes a FAILED result of its own, so the
 * user learns about all 100 items from one request. Everything that needs
 * the DEK (and so the plaintext) happens on a worker, never in this handler.
 */
#include "api/imports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonw.h"
#include "core/b64.h"
#include "core/util.h"
#include "pki/reason.h"

#define S_MAX_WAIT_SECONDS 60

/* Decode a base64 field into a new buffer; reason text on failure. */
static bool S_b64_field(struct tv_import_item *it, json_t *v, const char *name, size_t max,
			unsigned char **out, size_t *out_len)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	enum tv_err rc;

	if (len / 4 * 3 > max + 3) {
		snprintf(it->reason, sizeof(it->reason),
			 "KEYSTORE_TOO_LARGE: %s is over the limit of %zu bytes", name, max);
		return false;
	}
	rc = tv_b64_decode(out, out_len, s, len, max);
	if (rc == TV_ERR_TOO_LARGE) {
		snprintf(it->reason, sizeof(it->reason),
			 "KEYSTORE_TOO_LARGE: %s is over the limit of %zu bytes", name, max);
		return false;
	}
	if (rc) {
		snprintf(it->reason, sizeof(it->reason), "INVALID_BASE64: %s is not base64", name);
		return false;
	}
	return true;
}

/* A text field (PEM): copied as is. */
static bool S_text_field(struct tv_import_item *it, json_t *v, const char *name, size_t max,
			 unsigned char **out, size_t *out_len)
{
	size_t len = json_string_length(v);

	if (len > max) {
		snprintf(it->reason, sizeof(it->reason),
			 "KEYSTORE_TOO_LARGE: %s is over the limit of %zu bytes", name, max);
		return false;
	}
	*out = malloc(len + 1);
	if (!*out)
		return false;
	memcpy(*out, json_string_value(v), len + 1);
	*out_len = len;
	return true;
}

/* Classify one item; on a problem the item is REJECTED with its reason. */
static void S_classify(struct tv_import_item *it, json_t *o, size_t max)
{
	static const char *const fields[] = { "pkcs12Keystore", "dekEncryptedPassword", "certificate",
					      "passwordEncryptedPrivateKey",
					      "dekEncryptedPrivateKey", "label", NULL };
	json_t *p12 = json_object_get(o, "pkcs12Keystore");
	json_t *pw = json_object_get(o, "dekEncryptedPassword");
	json_t *cert = json_object_get(o, "certificate");
	json_t *enc = json_object_get(o, "passwordEncryptedPrivateKey");
	json_t *sealed = json_object_get(o, "dekEncryptedPrivateKey");
	json_t *label = json_object_get(o, "label");
	size_t i;
	bool ok;

	it->kind = TV_ITEM_REJECTED;
	for (i = 0; fields[i]; i++) {
		json_t *v = json_object_get(o, fields[i]);
		if (v && !json_is_string(v)) {
			snprintf(it->reason, sizeof(it->reason),
				 "INVALID_ITEM: %s must be a string", fields[i]);
			return;
		}
	}
	if (label && json_string_length(label) > TV_LABEL_MAX) {
		snprintf(it->reason, sizeof(it->reason),
			 "INVALID_ITEM: label is longer than %d characters", TV_LABEL_MAX);
		return;
	}
	if (label)
		snprintf(it->label, sizeof(it->label), "%s", json_string_value(label));
	if (p12 && !cert && !enc && !sealed) {
		ok = S_b64_field(it, p12, "pkcs12Keystore", max, &it->keystore, &it->keystore_len);
		it->kind = TV_ITEM_PKCS12;
	} else if (cert && enc && pw && !p12 && !sealed) {
		ok = S_text_field(it, cert, "certificate", max, &it->keystore, &it->keystore_len) &&
		     S_text_field(it, enc, "passwordEncryptedPrivateKey", max, &it->key,
				  &it->key_len);
		it->kind = TV_ITEM_PKCS8_ENCRYPTED;
	} else if (cert && sealed && !pw && !p12 && !enc) {
		ok = S_text_field(it, cert, "certificate", max, &it->keystore, &it->keystore_len) &&
		     S_b64_field(it, sealed, "dekEncryptedPrivateKey", max, &it->key, &it->key_len);
		it->kind = TV_ITEM_PKCS8_SEALED;
	} else {
		snprintf(it->reason, sizeof(it->reason),
			 "INVALID_ITEM: an item holds pkcs12Keystore [+ dekEncryptedPassword], or "
			 "certificate + passwordEncryptedPrivateKey + dekEncryptedPassword, or "
			 "certificate + dekEncryptedPrivateKey");
		return;
	}
	if (ok && pw)
		ok = S_b64_field(it, pw, "dekEncryptedPassword", 4096, &it->sealed_password,
				 &it->sealed_password_len);
	if (!ok) {
		if (!it->reason[0])
			snprintf(it->reason, sizeof(it->reason), "INTERNAL_ERROR: out of memory");
		tv_import_item_release(it);
		it->kind = TV_ITEM_REJECTED;
	}
}

/* Validate the envelope; false after replying 400. */
static bool S_envelope(struct tv_http_resp *resp, json_t *body, size_t max_items,
		       struct tv_import_job *job, json_t **items)
{
	static const char *const allowed[] = { "edgeInstanceId", "encryptionKeyId",
					       "importInformation", NULL };
	json_t *edge, *key;
	size_t n, i;

	if (!json_is_object(body)) {
		tv_api_bad_field(resp, "$", "the body must be a JSON object");
		return false;
	}
	if (tv_api_unknown_fields(resp, body, allowed))
		return false;
	edge = json_object_get(body, "edgeInstanceId");
	key = json_object_get(body, "encryptionKeyId");
	*items = json_object_get(body, "importInformation");
	if (!json_is_string(edge)) {
		tv_api_bad_field(resp, "edgeInstanceId", "must be a string");
		return false;
	}
	if (!json_is_string(key)) {
		tv_api_bad_field(resp, "encryptionKeyId", "must be a string");
		return false;
	}
	if (!json_is_array(*items)) {
		tv_api_bad_field(resp, "importInformation", "must be an array");
		return false;
	}
	n = json_array_size(*items);
	if (n < 1 || n > max_items) {
		tv_http_reply_error(resp, 400, TV_E_ITEM_COUNT, json_pack("[I]", (json_int_t)n),
				    "importInformation: size must be between 1 and %zu", max_items);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!json_is_object(json_array_get(*items, i))) {
			char path[48];
			snprintf(path, sizeof(path), "importInformation[%zu]", i);
			tv_api_bad_field(resp, path, "must be an object");
			return false;
		}
	}
	if (!tv_uuid_valid(json_string_value(edge))) {
		tv_http_reply_error(resp, 400, TV_E_UNKNOWN_EDGE, json_pack("[s]", "edgeInstanceId"),
				    "edgeInstanceId: no such edge instance");
		return false;
	}
	snprintf(job->edge_id, sizeof(job->edge_id), "%s", json_string_value(edge));
	if (json_string_length(key) >= sizeof(job->dek_id)) {
		tv_http_reply_error(resp, 400, TV_E_WRONG_KEY, json_pack("[s]", "encryptionKeyId"),
				    "encryptionKeyId: not the key of that edge instance");
		return false;
	}
	snprintf(job->dek_id, sizeof(job->dek_id), "%s", json_string_value(key));
	return true;
}

bool tv_api_import_parse(struct tv_http_resp *resp, json_t *body, size_t max_items,
			 size_t max_keystore,
			 struct tv_import_job *job, struct tv_import_item **items, size_t *n)
{
	json_t *arr;
	size_t i;

	*items = NULL;
	*n = 0;
	if (!S_envelope(resp, body, max_items, job, &arr))
		return false;
	*items = calloc(json_array_size(arr), sizeof(**items));
	if (!*items) {
		tv_http_reply_error(resp, 500, TV_HTTP_E_INTERNAL, NULL, "out of memory");
		return false;
	}
	*n = json_array_size(arr);
	for (i = 0; i < *n; i++) {
		(*items)[i].index = (int)i;
		S_classify(&(*items)[i], json_array_get(arr, i), max_keystore);
	}
	return true;
}

void tv_api_imports_create(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	const char *dry = tv_http_req_query(req, "dryRun");
	struct tv_import_item *items = NULL;
	struct tv_import_job job;
	enum tv_import_verdict verdict = TV_IMPORT_ACCEPTED;
	size_t n = 0, i;
	enum tv_err rc;

	memset(&job, 0, sizeof(job));
	if (atomic_load(&app->stopping)) {
		tv_http_reply_error(resp, 503, TV_HTTP_E_UNAVAILABLE, NULL, "the server is stopping");
		tv_http_resp_header(resp, "Retry-After", "5");
		return;
	}
	if (dry && strcmp(dry, "true") && strcmp(dry, "false")) {
		tv_api_bad_field(resp, "dryRun", "must be true or false");
		return;
	}
	if (!tv_api_import_parse(resp, tv_http_req_json(req),
				 app->max_items ? app->max_items : TV_IMPORT_MAX_ITEMS,
				 app->max_keystore_bytes, &job, &items, &n))
		return;
	job.dry_run = dry && !strcmp(dry, "true");
	memcpy(job.tenant_id, p->tenant.id, sizeof(job.tenant_id));
	rc = tv_import_create(app->store, &job, items, n, app->max_tenant_queue, &verdict);
	for (i = 0; !rc && verdict == TV_IMPORT_ACCEPTED && i < n; i++)
		if (items[i].kind == TV_ITEM_REJECTED) /* final at once: FAILED */
			tv_svc_metrics_result(app->metrics, "FAILED", items[i].reason);
	for (i = 0; i < n; i++)
		tv_import_item_release(&items[i]);
	free(items);
	if (rc == TV_ERR_LIMIT) {
		tv_http_reply_error(resp, 429, TV_E_RATE, NULL,
				    "the import queue of this tenant is full (%zu items not yet "
				    "final); retry later",
				    app->max_tenant_queue);
		tv_http_resp_header(resp, "Retry-After", "5");
		return;
	}
	if (rc) {
		tv_api_internal(resp, req, rc, "import_create");
		return;
	}
	if (verdict == TV_IMPORT_UNKNOWN_EDGE) {
		tv_http_reply_error(resp, 400, TV_E_UNKNOWN_EDGE, json_pack("[s]", "edgeInstanceId"),
				    "edgeInstanceId: no such edge instance");
		return;
	}
	if (verdict == TV_IMPORT_WRONG_KEY) {
		tv_http_reply_error(resp, 400, TV_E_WRONG_KEY, json_pack("[s]", "encryptionKeyId"),
				    "encryptionKeyId: not the key of that edge instance");
		return;
	}
	if (app->importer)
		tv_importer_notify(app->importer);
	tv_api_audit(app, req, job.dry_run ? "import.dryrun" : "import.create", job.id, NULL);
	tv_http_reply_json(resp, 201, json_pack("{s:s,s:o}", "id", job.id, "creationDate",
						tv_api_date(job.created_ms)));
}

static json_t *S_result_json(const struct tv_import_result *r)
{
	char *b64 = NULL;
	json_t *o;

	if (r->der && tv_b64_encode(&b64, r->der, r->der_len, false) != TV_OK)
		b64 = NULL;
	o = json_pack("{s:s,s:s,s:s,s:s,s:i}", "certificateBytes", b64 ? b64 : "",
		      "fingerprint", r->fingerprint, "status", r->status, "reason",
		      r->reason ? r->reason : "", "itemIndex", r->item_index);
	free(b64);
	if (o && r->certificate_id[0])
		json_object_set_new(o, "certificateId", json_string(r->certificate_id));
	if (o && r->label[0])
		json_object_set_new(o, "label", json_string(r->label));
	return o;
}

/*
 * The job's answer: written straight as text (tv_api_job_text), else, when
 * the writer fails, as the tree it stands for.
 */
static char *S_job_text(const struct tv_import_job *job, const struct tv_import_result *results,
			size_t n, size_t *len)
{
	char *t = tv_api_job_text(job, results, n, len);
	json_t *arr, *o;
	size_t i;

	if (t)
		return t;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, S_result_json(&results[i]));
	o = json_pack("{s:s,s:s,s:o,s:o,s:b,s:i,s:o}", "id", job->id, "status", job->status,
		      "creationDate", tv_api_date(job->created_ms), "completionDate",
		      tv_api_date(job->completed_ms), "dryRun", job->dry_run, "itemCount",
		      job->n_items, "results", arr);
	t = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (t)
		*len = strlen(t);
	return t;
}

/* waitSeconds: -1 when malformed. */
static int S_wait_seconds(struct tv_http_req *req)
{
	const char *s = tv_http_req_query(req, "waitSeconds");
	char *end;
	long v;

	if (!s)
		return 0;
	v = strtol(s, &end, 10);
	return *s && !*end && v >= 0 && v <= S_MAX_WAIT_SECONDS ? (int)v : -1;
}

void tv_api_imports_get(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	const char *id = tv_http_req_param(req, "id");
	struct tv_import_result *results = NULL;
	struct tv_import_job job;
	int wait = S_wait_seconds(req);
	size_t n = 0, len = 0;
	char *text;
	bool final;
	enum tv_err rc;

	if (wait < 0) {
		tv_api_bad_field(resp, "waitSeconds", "must be an integer from 0 to 60");
		return;
	}
	if (!tv_uuid_valid(id)) {
		tv_api_not_found(resp);
		return;
	}
	rc = app->store->ops->job_get(app->store, p->tenant.id, id, &job, &results, &n);
	if (rc == TV_ERR_NOT_FOUND) {
		tv_api_not_found(resp);
		return;
	}
	if (rc) {
		tv_api_internal(resp, req, rc, "job_get");
		return;
	}
	final = !strcmp(job.status, "COMPLETED") || !strcmp(job.status, "FAILED");
	if (!final && wait > 0 && tv_http_req_wait(req, (int64_t)wait * 1000)) {
		tv_import_results_free(results, n);
		return; /* called again when a job ends, or at the deadline */
	}
	text = S_job_text(&job, results, n, &len);
	tv_import_results_free(results, n);
	tv_http_reply_json_text(resp, 200, text, len);
}

#define S_LIST_DEFAULT 20
#define S_LIST_MAX 100

void tv_api_imports_list(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *limit_s = tv_http_req_query(req, "limit");
	struct tv_import_job *jobs = NULL;
	long limit = S_LIST_DEFAULT;
	size_t n = 0, i;
	json_t *arr;
	enum tv_err rc;

	if (limit_s) {
		char *end;

		limit = strtol(limit_s, &end, 10);
		if (!*limit_s || *end || limit < 1 || limit > S_LIST_MAX) {
			tv_api_bad_field(resp, "limit", "must be an integer from 1 to 100");
			return;
		}
	}
	rc = app->store->ops->job_list(app->store, tv_api_principal(req)->tenant.id,
				       (size_t)limit, &jobs, &n);
	if (rc) {
		tv_api_internal(resp, req, rc, "job_list");
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++) {
		const struct tv_import_job *j = &jobs[i];

		json_array_append_new(
			arr, json_pack("{s:s,s:s,s:o,s:o,s:b,s:i,s:i,s:{s:i,s:i,s:i,s:i}}", "id",
				       j->id, "status", j->status, "creationDate",
				       tv_api_date(j->created_ms), "completionDate",
				       tv_api_date(j->completed_ms), "dryRun", j->dry_run,
				       "itemCount", j->n_items, "finalItemCount", j->n_final,
				       "resultCounts", "IMPORTED", j->n_imported, "SKIPPED",
				       j->n_skipped, "FAILED", j->n_failed, "VALID", j->n_valid));
	}
	free(jobs);
	tv_http_reply_json(resp, 200, json_pack("{s:o}", "imports", arr));
}
