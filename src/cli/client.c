/*
 * DESIGN: the CLI speaks the same API as every other client; this is the one
 * place that knows about libcurl. Errors from the API are lifted into
 * resp->code / resp->error so commands can print them as a person expects.
 *
 * Retries: only what is transient by contract - a refused connection (the
 * server is starting), 429 (queue full) and 503 (starting or stopping). Both
 * statuses mean the server stored nothing, so even a POST is safe to repeat.
 * The delay is Retry-After when the server sends it, else 250 ms doubling,
 * capped at 10 s per wait.
 */
#include "cli/client.h"

#include "core/secmem.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_MAX_RESPONSE ((size_t)256 << 20)
#define S_MAX_DELAY_MS 10000L

/* Grow the body by copy-and-wipe (realloc could leave the old bytes behind). */
static size_t S_write(char *p, size_t s, size_t n, void *u)
{
	struct tv_client_resp *r = u;
	size_t add = s * n, cap;
	char *b;

	if (r->len + add > S_MAX_RESPONSE)
		return 0;
	if (r->len + add + 1 > r->cap) {
		cap = r->cap ? r->cap : 16384;
		while (cap < r->len + add + 1)
			cap *= 2;
		b = malloc(cap);
		if (!b)
			return 0;
		if (r->body) {
			memcpy(b, r->body, r->len);
			tv_wipe(r->body, r->cap);
			free(r->body);
		}
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, add);
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static void S_header_copy(char *dst, size_t size, const char *line, size_t n,
			  const char *name)
{
	size_t nl = strlen(name), i;

	if (n <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':')
		return;
	line += nl + 1;
	n -= nl + 1;
	while (n && (*line == ' ' || *line == '\t'))
		line++, n--;
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	for (i = 0; i < n && i + 1 < size; i++)
		dst[i] = line[i];
	dst[i] = '\0';
}

static size_t S_header(char *p, size_t s, size_t n, void *u)
{
	struct tv_client_resp *r = u;
	size_t len = s * n;

	S_header_copy(r->request_id, sizeof(r->request_id), p, len, "X-Request-Id");
	S_header_copy(r->retry_after, sizeof(r->retry_after), p, len, "Retry-After");
	S_header_copy(r->content_type, sizeof(r->content_type), p, len, "Content-Type");
	return len;
}

static void S_lift_error(struct tv_client_resp *r)
{
	json_t *e = json_array_get(json_object_get(r->json, "errors"), 0);
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (!e) {
		snprintf(r->error, sizeof(r->error), "HTTP %ld", r->status);
		return;
	}
	r->code = (int)json_integer_value(json_object_get(e, "code"));
	snprintf(r->error, sizeof(r->error), "%s", msg ? msg : "error");
}

void tv_client_init(struct tv_client *c, const char *url, const char *api_key,
		    const char *cacert, bool insecure)
{
	memset(c, 0, sizeof(*c));
	c->url = url;
	c->api_key = api_key;
	c->cacert = cacert;
	c->insecure = insecure;
	c->max_tries = TV_CLIENT_MAX_TRIES;
}

void tv_client_init_from(struct tv_client *c, const struct tv_client *from)
{
	tv_client_init(c, from->url, from->api_key, from->cacert, from->insecure);
	c->max_tries = from->max_tries;
}

void tv_client_release(struct tv_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

void tv_client_resp_release(struct tv_client_resp *resp)
{
	json_decref(resp->json);
	if (resp->body) {
		tv_wipe(resp->body, resp->cap);
		free(resp->body);
	}
	memset(resp, 0, sizeof(*resp));
}

void tv_client_describe(const struct tv_client_resp *r, char *buf, size_t size)
{
	if (r->status >= 400)
		snprintf(buf, size, "error: %s (code %d, request %s)", r->error, r->code,
			 r->request_id[0] ? r->request_id : "-");
	else
		snprintf(buf, size, "error: %s", r->error[0] ? r->error : "unexpected answer");
}

/* One try. TV_ERR_IO with r->error set when the transfer failed. */
static enum tv_err S_perform(struct tv_client *c, struct tv_client_resp *r, const char *method,
			     const char *url, const char *text, CURLcode *ccp)
{
	struct curl_slist *h = NULL;
	char *auth = NULL;
	size_t alen;
	CURL *curl = c->curl;
	enum tv_err rc = TV_OK;
	CURLcode cc;

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, S_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, S_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "tlsvault/" TV_VERSION);
	if (c->cacert)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
	if (c->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	h = curl_slist_append(h, "Accept: application/json");
	if (c->api_key) {
		alen = strlen(c->api_key) + 32;
		auth = malloc(alen);
		if (!auth) {
			rc = TV_ERR_NOMEM;
			goto out;
		}
		snprintf(auth, alen, "tppl-api-key: %s", c->api_key);
		h = curl_slist_append(h, auth);
	}
	if (text) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(curl);
	*ccp = cc;
	if (cc != CURLE_OK) {
		snprintf(r->error, sizeof(r->error), "%s: %s", url, curl_easy_strerror(cc));
		rc = TV_ERR_IO;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body && strstr(r->content_type, "json"))
		r->json = json_loadb(r->body, r->len, 0, NULL);
	if (r->status >= 400)
		S_lift_error(r);
out:
	if (auth) {
		tv_wipe(auth, strlen(auth));
		free(auth);
	}
	curl_slist_free_all(h);
	return rc;
}

static void S_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

enum tv_err tv_client_call(struct tv_client *c, struct tv_client_resp *resp,
			   const char *method, const char *path, json_t *body)
{
	char *url = NULL, *text = NULL;
	long delay = 250, wait;
	enum tv_err rc = TV_OK;
	size_t ulen;
	CURLcode cc;
	int tries;

	memset(resp, 0, sizeof(*resp));
	if (!c->curl && !(c->curl = curl_easy_init()))
		return TV_ERR_NOMEM;
	ulen = strlen(c->url) + strlen(path) + 1;
	url = malloc(ulen);
	if (!url)
		return TV_ERR_NOMEM;
	snprintf(url, ulen, "%s%s", c->url, path);
	/* a trailing slash in the base URL would double up */
	if (strlen(c->url) && c->url[strlen(c->url) - 1] == '/' && path[0] == '/')
		memmove(url + strlen(c->url) - 1, url + strlen(c->url), strlen(path) + 1);
	if (body && !(text = json_dumps(body, JSON_COMPACT))) {
		rc = TV_ERR_NOMEM;
		goto out;
	}
	for (tries = 1;; tries++) {
		cc = CURLE_OK;
		rc = S_perform(c, resp, method, url, text, &cc);
		if (rc == TV_ERR_NOMEM)
			goto out;
		if (rc == TV_OK && resp->status != 429 && resp->status != 503)
			goto out;
		if (rc == TV_ERR_IO && cc != CURLE_COULDNT_CONNECT)
			goto out;
		if (tries >= c->max_tries)
			goto out;
		wait = delay;
		if (resp->retry_after[0] && atol(resp->retry_after) > 0)
			wait = atol(resp->retry_after) * 1000L;
		if (wait > S_MAX_DELAY_MS)
			wait = S_MAX_DELAY_MS;
		delay *= 2;
		tv_client_resp_release(resp);
		S_sleep_ms(wait);
	}
out:
	if (text) {
		/* the body may hold sealed secrets only, but keep it off the heap anyway */
		tv_wipe(text, strlen(text));
		free(text);
	}
	free(url);
	return rc;
}
