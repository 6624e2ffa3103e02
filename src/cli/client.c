/*
 * DESIGN: the CLI speaks the same API as every other client; this is the one
 * place that knows about libcurl. Errors from the API are lifted into
 * resp->code / resp->error so commands can print them as a person expects.
 */
#include "cli/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_RESPONSE ((size_t)256 << 20)

static size_t S_write(char *p, size_t s, size_t n, void *u)
{
	struct tv_client_resp *r = u;
	size_t add = s * n;
	char *b;

	if (r->len + add > S_MAX_RESPONSE)
		return 0;
	b = realloc(r->body, r->len + add + 1);
	if (!b)
		return 0;
	r->body = b;
	memcpy(r->body + r->len, p, add);
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static void S_lift_error(struct tv_client_resp *r)
{
	json_t *e = json_array_get(json_object_get(r->json, "errors"), 0);
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (!e)
		return;
	r->code = (int)json_integer_value(json_object_get(e, "code"));
	snprintf(r->error, sizeof(r->error), "%s", msg ? msg : "error");
}

enum tv_err tv_client_call(const struct tv_client *c, struct tv_client_resp *resp,
			   const char *method, const char *path, json_t *body)
{
	struct curl_slist *h = NULL;
	char url[2048], auth[300], *text = NULL;
	CURLcode cc;
	CURL *curl;

	memset(resp, 0, sizeof(*resp));
	curl = curl_easy_init();
	if (!curl)
		return TV_ERR_NOMEM;
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, S_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "tlsvault/" TV_VERSION);
	if (c->cacert)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
	if (c->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	h = curl_slist_append(h, "Accept: application/json");
	if (c->api_key) {
		snprintf(auth, sizeof(auth), "tppl-api-key: %s", c->api_key);
		h = curl_slist_append(h, auth);
		memset(auth, 0, sizeof(auth));
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(curl);
	curl_slist_free_all(h);
	free(text);
	if (cc != CURLE_OK) {
		snprintf(resp->error, sizeof(resp->error), "%s: %s", c->url, curl_easy_strerror(cc));
		curl_easy_cleanup(curl);
		return TV_ERR_IO;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_cleanup(curl);
	if (resp->body)
		resp->json = json_loadb(resp->body, resp->len, 0, NULL);
	if (resp->status >= 400)
		S_lift_error(resp);
	return TV_OK;
}

void tv_client_resp_release(struct tv_client_resp *resp)
{
	json_decref(resp->json);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
