/* DESIGN: see expect.h. */
#define _GNU_SOURCE
#include "expect.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_cases;
static struct tvh_server g_server;

void tvh_case(void)
{
	g_cases++;
}

int tvh_case_count(void)
{
	return g_cases;
}

struct tvh_server *tvh_test_server(void)
{
	/* a failed test longjmped past its cleanup: stop its server before
	 * the slot is reused, or tvh_init would forget its pid */
	tvh_test_server_reap();
	return &g_server;
}

void tvh_test_server_reap(void)
{
	if (g_server.pid > 0)
		tvh_cleanup(&g_server);
}

void tvh_alive(const struct tvh_server *s, const char *key)
{
	struct tvh_resp r;

	tvh_request(&r, s, "GET", "/healthz", NULL, NULL, 0, NULL);
	if (r.status != 200)
		fail_msg("the server stopped answering /healthz (%ld)", r.status);
	tvh_resp_free(&r);
	if (!key)
		return;
	tvh_request(&r, s, "GET", "/v1/useraccounts", key, NULL, 0, NULL);
	if (r.status != 200)
		fail_msg("the server stopped answering /v1/useraccounts (%ld)", r.status);
	tvh_resp_free(&r);
}

void tvh_no_errors(const struct tvh_server *s)
{
	static const char needle[] = "\"level\":\"error\"";
	char *log = tvh_read_file(s->log_path, NULL), *hit;

	assert_non_null(log);
	hit = strstr(log, needle);
	if (hit)
		fail_msg("the server logged an error: %.300s", hit);
	free(log);
}

void tvh_expect(const char *what, long status, int code, long want_status, int want_code,
                const char *body)
{
	tvh_case();
	if (status != want_status || code != want_code)
		fail_msg("%s: got %ld/%d, want %ld/%d: %.300s", what, status, code, want_status,
		         want_code, body ? body : "");
}

void tvh_expect_http(const struct tvh_server *s, const char *what, const char *method,
                     const char *path, const char *key, const char *body, size_t len,
                     const char *header, long status, int code)
{
	struct tvh_resp r;

	tvh_request(&r, s, method, path, key, body, len, header);
	tvh_expect(what, r.status, tvh_error_code(&r), status, code, r.body);
	tvh_resp_free(&r);
}

void tvh_expect_post(const struct tvh_server *s, const char *what, const char *path,
                     const char *json, long status, int code)
{
	tvh_expect_http(s, what, "POST", path, s->api_key, json, strlen(json), NULL, status, code);
}

void tvh_expect_raw(const struct tvh_server *s, const char *what, const char *req, size_t len,
                    long status, int code)
{
	struct tvh_raw r;

	tvh_raw_request(&r, s, req, len, 10000);
	tvh_expect(what, r.status, r.code, status, code, r.body);
	tvh_raw_free(&r);
}

void tvh_expect_raw_get(const struct tvh_server *s, const char *what, const char *path, long status,
                        int code)
{
	char req[2048];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: t\r\ntppl-api-key: %s\r\n"
	                 "Connection: close\r\n\r\n",
	                 path, s->api_key);

	assert_true(n > 0 && (size_t)n < sizeof(req));
	tvh_expect_raw(s, what, req, (size_t)n, status, code);
}
