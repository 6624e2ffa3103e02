/* tv-test-libs: tv_http tv_itsupport */
/* Unit tests of src/http: a server with a test route table, driven by libcurl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/server.h"

static void S_echo(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	const char *id = tv_http_req_param(req, "id"), *sub = tv_http_req_param(req, "sub");
	const char *q = tv_http_req_query(req, "q");
	json_t *body = tv_http_req_json(req);

	(void)app;
	tv_http_reply_json(resp, 200,
			   json_pack("{s:s*,s:s*,s:s*,s:O*}", "id", id, "sub", sub, "q", q, "body",
				     body));
}

static void S_silent(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	(void)app;
	(void)req;
	(void)resp; /* forgets to answer: the server must answer 500 */
}

static atomic_int S_ready;

/* Long-poll: answer once S_ready is set, or at the deadline (?ms=N). */
static void S_wait(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	const char *ms = tv_http_req_query(req, "ms");

	(void)app;
	if (!atomic_load(&S_ready) && tv_http_req_wait(req, ms ? atol(ms) : 0))
		return;
	tv_http_reply_json(resp, 200, json_pack("{s:b}", "ready", atomic_load(&S_ready)));
}

static bool S_auth(void *app, struct tv_http_req *req, int auth, struct tv_http_resp *resp)
{
	const char *k = tv_http_req_header(req, "tppl-api-key");

	(void)app;
	if (!k || strcmp(k, "good")) {
		tv_http_reply_error(resp, 401, 1004, NULL, "no (%d)", auth);
		return false;
	}
	return true;
}

static const struct tv_http_route S_routes[] = {
	{ "GET", "/things/{id}", S_echo, 0, 0 },
	{ "GET", "/things/{id}/parts/{sub}", S_echo, 0, 0 },
	{ "POST", "/things", S_echo, 1, TV_HTTP_JSON_BODY },
	{ "DELETE", "/things/{id}", S_echo, 1, 0 },
	{ "GET", "/silent", S_silent, 0, 0 },
	{ "GET", "/wait", S_wait, 0, 0 },
};

struct S_env {
	struct tv_http_config cfg;
	struct tv_http_server *srv;
	CURL *curl;
	char *body;
	size_t len;
	long status;
};

static size_t S_write(char *p, size_t s, size_t n, void *u)
{
	struct S_env *e = u;
	char *b = realloc(e->body, e->len + s * n + 1);

	if (!b)
		return 0;
	e->body = b;
	memcpy(e->body + e->len, p, s * n);
	e->len += s * n;
	e->body[e->len] = '\0';
	return s * n;
}

static void S_req(struct S_env *e, const char *method, const char *path, const char *body,
		  const char *hdr)
{
	struct curl_slist *h = NULL;
	char url[256];

	free(e->body);
	e->body = NULL;
	e->len = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", tv_http_port(e->srv), path);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, S_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	if (body)
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	else
		curl_easy_setopt(e->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e->curl, CURLOPT_CUSTOMREQUEST, method);
	h = curl_slist_append(h, "Content-Type: application/json");
	if (hdr)
		h = curl_slist_append(h, hdr);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(e->curl), CURLE_OK);
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &e->status);
	curl_slist_free_all(h);
}

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));

	e->cfg.port = 0;
	e->cfg.threads = 2;
	e->cfg.max_body = 1024;
	e->cfg.max_depth = 4;
	e->cfg.routes = S_routes;
	e->cfg.n_routes = sizeof(S_routes) / sizeof(S_routes[0]);
	e->cfg.auth = S_auth;
	if (tv_http_start(&e->srv, &e->cfg) != TV_OK)
		return -1;
	e->curl = curl_easy_init();
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;

	curl_easy_cleanup(e->curl);
	tv_http_stop(e->srv);
	free(e->body);
	free(e);
	return 0;
}

static void test_params_and_query(void **state)
{
	struct S_env *e = *state;

	S_req(e, "GET", "/things/abc?q=x%20y", NULL, NULL);
	assert_int_equal(e->status, 200);
	assert_string_equal(e->body, "{\"id\":\"abc\",\"q\":\"x y\"}");
	S_req(e, "GET", "/things/abc/parts/7/", NULL, NULL); /* a trailing slash is fine */
	assert_string_equal(e->body, "{\"id\":\"abc\",\"sub\":\"7\"}");
	S_req(e, "GET", "/things", NULL, NULL);
	assert_int_equal(e->status, 405);
	S_req(e, "GET", "/things/abc/parts", NULL, NULL);
	assert_int_equal(e->status, 404);
	assert_non_null(strstr(e->body, "10405"));
	S_req(e, "GET", "/thingsabc", NULL, NULL);
	assert_int_equal(e->status, 404);
}

static void test_auth_body_and_depth(void **state)
{
	struct S_env *e = *state;

	S_req(e, "POST", "/things", "{\"a\":1}", NULL);
	assert_int_equal(e->status, 401);
	S_req(e, "POST", "/things", "{\"a\":[1,{\"b\":2}]}", "tppl-api-key: good");
	assert_int_equal(e->status, 200);
	assert_string_equal(e->body, "{\"body\":{\"a\":[1,{\"b\":2}]}}");
	/* depth 5 > 4; brackets inside strings don't count */
	S_req(e, "POST", "/things", "[[[[[1]]]]]", "tppl-api-key: good");
	assert_int_equal(e->status, 400);
	assert_non_null(strstr(e->body, "10100"));
	S_req(e, "POST", "/things", "{\"s\":\"[[[[[[[[\"}", "tppl-api-key: good");
	assert_int_equal(e->status, 200);
	/* duplicate keys are refused rather than silently merged */
	S_req(e, "POST", "/things", "{\"a\":1,\"a\":2}", "tppl-api-key: good");
	assert_int_equal(e->status, 400);
	/* a handler that doesn't answer gets a 500, not a hang */
	S_req(e, "GET", "/silent", NULL, NULL);
	assert_int_equal(e->status, 500);
	assert_non_null(strstr(e->body, "10500"));
}

/* Responses are queued on the second call, so connections stay open. */
static void test_keep_alive(void **state)
{
	struct S_env *e = *state;
	long connects = -1;

	S_req(e, "GET", "/things/1", NULL, NULL);
	S_req(e, "GET", "/things/2", NULL, NULL);
	curl_easy_getinfo(e->curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0); /* the second request reused the connection */
	S_req(e, "POST", "/things", "{}", "tppl-api-key: good");
	curl_easy_getinfo(e->curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0);
}

static void *S_set_ready(void *arg)
{
	struct S_env *e = arg;

	usleep(300000); /* the waiter must be suspended by then */
	atomic_store(&S_ready, 1);
	tv_http_wake(e->srv);
	return NULL;
}

/* A suspended request answers at its deadline, or as soon as it is woken. */
static void test_long_poll(void **state)
{
	struct S_env *e = *state;
	int64_t t0;
	pthread_t th;

	atomic_store(&S_ready, 0);
	t0 = tv_mono_ms();
	S_req(e, "GET", "/wait?ms=400", NULL, NULL);
	assert_int_equal(e->status, 200);
	assert_string_equal(e->body, "{\"ready\":false}");
	assert_true(tv_mono_ms() - t0 >= 400);
	assert_int_equal(pthread_create(&th, NULL, S_set_ready, e), 0);
	t0 = tv_mono_ms();
	S_req(e, "GET", "/wait?ms=20000", NULL, NULL);
	pthread_join(th, NULL);
	assert_string_equal(e->body, "{\"ready\":true}");
	assert_true(tv_mono_ms() - t0 < 5000); /* woken, not timed out */
	/* many waiters don't starve the pool (2 threads here) */
	atomic_store(&S_ready, 0);
}

static void test_json_depth(void **state)
{
	(void)state;
	assert_int_equal(tv_json_depth("{}", 2, 10), 1);
	assert_int_equal(tv_json_depth("{\"a\":[[]]}", 10, 10), 3);
	assert_int_equal(tv_json_depth("\"[[[\\\"[[\"", 9, 10), 0);
	assert_int_equal(tv_json_depth("1", 1, 10), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_and_query),
		cmocka_unit_test(test_auth_body_and_depth),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_long_poll),
	};

	return cmocka_run_group_tests_name("unit/http", tests, S_setup, S_teardown);
}
