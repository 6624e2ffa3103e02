/*
 * DESIGN: an edge instance is ACTIVE only while a worker holding its DEK has
 * sent a heartbeat in the last 30 s, and this node can open boxes sealed to
 * that DEK; otherwise LOST_CONNECTION. Both facts are checked per request,
 * so a node that lost its keys never advertises itself as able to import.
 */
#include "api/edge.h"

#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/util.h"

static json_t *S_edge_json(struct tv_app *app, const struct tv_edge *e, int64_t now)
{
	bool active = e->last_seen_ms && now - e->last_seen_ms <= TV_EDGE_LOST_AFTER_MS &&
		      tv_keyring_has(app->keyring, e->dek_id);

	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:s,s:b}", "id", e->id,
			 "name", e->name, "companyId", e->tenant_id, "environmentId",
			 e->environment_id, "edgeType", "HUB", "edgeStatus",
			 active ? "ACTIVE" : "LOST_CONNECTION", "encryptionKeyId", e->dek_id,
			 "encryptionKeyDeploymentDate", tv_api_date(e->dek_deployed_ms),
			 "deploymentDate", tv_api_date(e->deployed_ms), "lastSeenOnDate",
			 tv_api_date(e->last_seen_ms), "modificationDate",
			 tv_api_date(e->modified_ms), "satelliteVersion", TV_VERSION,
			 "reconciliationFailed", 0);
}

/* Load this tenant's edge instances; false after replying on failure. */
static bool S_edges(struct tv_app *app, struct tv_http_req *req, struct tv_http_resp *resp,
		    struct tv_edge **edges, size_t *n)
{
	enum tv_err rc = app->store->ops->edge_list(app->store, tv_api_principal(req)->tenant.id,
						   edges, n);
	if (rc) {
		tv_api_internal(resp, req, rc, "edge_list");
		return false;
	}
	return true;
}

void tv_api_edge_list(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	struct tv_edge *edges = NULL;
	int64_t now = tv_now_ms();
	json_t *arr;
	size_t n = 0, i;

	if (!S_edges(app, req, resp, &edges, &n))
		return;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, S_edge_json(app, &edges[i], now));
	free(edges);
	tv_http_reply_json(resp, 200, json_pack("{s:o}", "edgeInstances", arr));
}

void tv_api_edge_get(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *id = tv_http_req_param(req, "id");
	struct tv_edge *edges = NULL;
	size_t n = 0, i;

	if (!S_edges(app, req, resp, &edges, &n))
		return;
	for (i = 0; i < n; i++) {
		if (!strcasecmp(edges[i].id, id)) {
			tv_http_reply_json(resp, 200, S_edge_json(app, &edges[i], tv_now_ms()));
			free(edges);
			return;
		}
	}
	free(edges);
	tv_api_not_found(resp);
}

static json_t *S_key_json(const struct tv_dek *d)
{
	char key[TV_B64_ENCODED_LEN(32) + 1];

	tv_b64_encode_to(key, d->public_key, sizeof(d->public_key), false);
	return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", d->id, "companyId", d->tenant_id,
			 "key", key, "keyAlgorithm", "ED25519", "lastBackupDate",
			 tv_api_date(d->last_backup_ms));
}

/* Whether an edge instance of the tenant points at DEK d. */
static bool S_is_current(const struct tv_dek *d, const struct tv_edge *edges, size_t ne)
{
	size_t i;

	for (i = 0; i < ne; i++)
		if (!strcmp(edges[i].dek_id, d->id))
			return true;
	return false;
}

/* This tenant's DEKs, optionally only the one of edge instance edge_id. */
static void S_keys_reply(struct tv_app *app, struct tv_http_req *req,
			 struct tv_http_resp *resp, const char *key_id, const char *edge_id)
{
	const char *tenant = tv_api_principal(req)->tenant.id;
	struct tv_dek *deks = NULL;
	struct tv_edge *edges = NULL;
	const char *want = key_id;
	size_t n = 0, ne = 0, i;
	json_t *arr = NULL;
	enum tv_err rc;

	if (edge_id) {
		if (!S_edges(app, req, resp, &edges, &ne))
			return;
		for (i = 0; i < ne && !want; i++)
			if (!strcasecmp(edges[i].id, edge_id))
				want = edges[i].dek_id;
		if (!want) {
			/* an unknown edge instance filters everything out */
			free(edges);
			tv_http_reply_json(resp, 200, json_pack("{s:[]}", "encryptionKeys"));
			return;
		}
	}
	rc = app->store->ops->dek_list(app->store, tenant, &deks, &n);
	if (rc) {
		free(edges);
		tv_api_internal(resp, req, rc, "dek_list");
		return;
	}
	if (!key_id)
		arr = json_array();
	if (arr && !want) {
		/* The whole list: the keys an edge instance points at (the ones
		 * clients must seal to; after `dek rotate` the newest) come
		 * first, so a client that takes the first entry seals to the
		 * current DEK; older DEKs follow in the store's order. */
		if (!S_edges(app, req, resp, &edges, &ne)) {
			tv_wipe(deks, n * sizeof(*deks));
			free(deks);
			json_decref(arr);
			return;
		}
		for (i = 0; i < n; i++)
			if (S_is_current(&deks[i], edges, ne))
				json_array_append_new(arr, S_key_json(&deks[i]));
	}
	for (i = 0; i < n; i++) {
		if (want && strcmp(deks[i].id, want))
			continue;
		if (key_id) {
			tv_http_reply_json(resp, 200, S_key_json(&deks[i]));
			break;
		}
		if (!want && S_is_current(&deks[i], edges, ne))
			continue; /* listed first, above */
		json_array_append_new(arr, S_key_json(&deks[i]));
	}
	tv_wipe(deks, n * sizeof(*deks));
	free(deks);
	free(edges);
	if (arr)
		tv_http_reply_json(resp, 200, json_pack("{s:o}", "encryptionKeys", arr));
	else if (!resp->status)
		tv_api_not_found(resp);
}

void tv_api_enckey_list(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	const char *edge = tv_http_req_query(req, "edgeInstanceId");

	S_keys_reply(app, req, resp, NULL, edge && *edge ? edge : NULL);
}

void tv_api_enckey_get(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	S_keys_reply(app, req, resp, tv_http_req_param(req, "id"), NULL);
}
