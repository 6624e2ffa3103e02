/*
 * Integration tests of what the web console (issue 12) needs from the
 * server: the embedded files at /ui/ with their security and cache headers,
 * the (ext) list of recent import jobs, and the (ext) dekHash search field.
 * The console itself is tested in Chromium by web/test/console.test.mjs.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "importing.h"

#define PASS      "fixture-pass"
#define CSP_START "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self';"

static void S_get(struct tvh_resp *r, const struct tvh_server *s, const char *path,
                  const char *extra_header)
{
	tvh_request(r, s, "GET", path, NULL, NULL, 0, extra_header);
}

/* The headers every answer under /ui/ carries. */
static void S_security_headers(const struct tvh_resp *r)
{
	char v[512];

	assert_non_null(tvh_header(r, "Content-Security-Policy", v, sizeof(v)));
	assert_int_equal(strncmp(v, CSP_START, strlen(CSP_START)), 0);
	assert_non_null(strstr(v, "connect-src 'self'"));
	assert_non_null(strstr(v, "frame-ancestors 'none'"));
	assert_null(strstr(v, "unsafe-inline"));
	assert_string_equal(tvh_header(r, "X-Frame-Options", v, sizeof(v)), "DENY");
	assert_string_equal(tvh_header(r, "Referrer-Policy", v, sizeof(v)), "no-referrer");
	assert_string_equal(tvh_header(r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
}

static void test_console_files(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;
	char v[512], etag[128], path[128], inm[200];
	const char *p, *q;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);

	S_get(&r, &s, "/", NULL);
	assert_int_equal(r.status, 302);
	assert_string_equal(tvh_header(&r, "Location", v, sizeof(v)), "/ui/");
	tvh_resp_free(&r);

	/* relative names in index.html resolve only under /ui/ */
	S_get(&r, &s, "/ui", NULL);
	assert_int_equal(r.status, 301);
	assert_string_equal(tvh_header(&r, "Location", v, sizeof(v)), "/ui/");
	S_security_headers(&r);
	tvh_resp_free(&r);

	S_get(&r, &s, "/ui/", NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/html; charset=utf-8");
	S_security_headers(&r);
	assert_string_equal(tvh_header(&r, "Cache-Control", v, sizeof(v)), "no-cache");
	assert_non_null(tvh_header(&r, "ETag", etag, sizeof(etag)));
	/* the script is named by its content hash, and nothing runs inline */
	p = strstr(r.body, "src=\"app.");
	assert_non_null(p);
	p += 5;
	q = strchr(p, '"');
	assert_non_null(q);
	assert_int_equal(q - p, (long)strlen("app.0123456789.js"));
	snprintf(path, sizeof(path), "/ui/%.*s", (int)(q - p), p);
	assert_null(strstr(r.body, "<script>"));
	assert_null(strstr(r.body, "style="));
	tvh_resp_free(&r);

	/* revalidation: the same version is a 304 with no body */
	snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
	S_get(&r, &s, "/ui/", inm);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.len, 0);
	S_security_headers(&r);
	tvh_resp_free(&r);

	S_get(&r, &s, path, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/javascript; charset=utf-8");
	assert_string_equal(tvh_header(&r, "Cache-Control", v, sizeof(v)),
	                    "public, max-age=31536000, immutable");
	S_security_headers(&r);
	assert_true(r.len > 100);
	tvh_resp_free(&r);

	/* no name ever reaches the filesystem: what is not in the table is 404 */
	S_get(&r, &s, "/ui/master.key", NULL);
	assert_int_equal(r.status, 404);
	S_security_headers(&r);
	tvh_resp_free(&r);
	S_get(&r, &s, "/ui/..%2f..%2fmaster.key", NULL);
	assert_int_equal(r.status, 404);
	tvh_resp_free(&r);
	S_get(&r, &s, "/ui/app.js", NULL);
	assert_int_equal(r.status, 404);
	tvh_resp_free(&r);

	/* the API keeps its own policy: never cached */
	S_get(&r, &s, "/healthz", NULL);
	assert_string_equal(tvh_header(&r, "Cache-Control", v, sizeof(v)), "no-store");
	assert_null(tvh_header(&r, "Content-Security-Policy", v, sizeof(v)));
	tvh_resp_free(&r);

	assert_int_equal(tvh_stop(&s, 0), 0);
	tvh_cleanup(&s);
}

/* The PEM certificate inside a fixture keystore (to pin it as trusted). */
static char *S_fixture_cert(const char *name)
{
	char cmd[600], *pem = NULL;
	size_t cap = 0;
	FILE *f;
	ssize_t n;

	snprintf(cmd, sizeof(cmd),
	         "openssl pkcs12 -in '%s/p12/%s' -passin pass:" PASS " -nokeys -clcerts 2>/dev/null"
	         " | openssl x509",
	         TVH_FIXTURES, name);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = getdelim(&pem, &cap, '\0', f);
	assert_int_equal(pclose(f), 0);
	assert_true(n > 0);
	return pem;
}

static json_t *S_item(const unsigned char pk[32], const char *file, const char *pw)
{
	char path[512], *ks, *sealed;
	json_t *o;

	snprintf(path, sizeof(path), "%s/p12/%s", TVH_FIXTURES, file);
	ks = tvh_file_b64(path);
	sealed = tvh_seal_b64(pk, pw, strlen(pw));
	o = json_pack("{s:s,s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", sealed,
	              "label", file);
	free(ks);
	free(sealed);
	return o;
}

static long S_count(const struct tvh_server *s, const char *key, const char *expression)
{
	struct tvh_resp r;
	char body[600];
	long n;

	snprintf(body, sizeof(body), "{\"expression\":%s,\"paging\":{\"pageSize\":1}}", expression);
	tvh_request(&r, s, "POST", "/outagedetection/v1/certificatesearch", key, body, strlen(body),
	            NULL);
	assert_int_equal(r.status, 200);
	n = (long)json_integer_value(json_object_get(r.json, "count"));
	tvh_resp_free(&r);
	return n;
}

static void test_job_list_and_key_search(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;
	unsigned char pk[32];
	char *pem = S_fixture_cert("openssl-default-p256.p12"), *id1, *id2, *out = NULL;
	const char *pems[1] = {pem};
	char expr[300];
	json_t *job, *jobs, *j;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_dek_key(&s, s.api_key, pk);
	tvh_trust(&s, s.api_key, pems, 1);

	/* one job: an import and a wrong password */
	id1 = tvh_post_job(
	    &s, s.api_key,
	    tvh_envelope(&s, json_pack("[o,o]", S_item(pk, "openssl-default-p256.p12", PASS),
	                               S_item(pk, "openssl-default-p384.p12", "nope"))),
	    NULL);
	job = tvh_wait_job(&s, s.api_key, id1);
	json_decref(job);
	/* a second, newer job: the same keystore again, SKIPPED */
	id2 = tvh_post_job(
	    &s, s.api_key,
	    tvh_envelope(&s, json_pack("[o]", S_item(pk, "openssl-default-p256.p12", PASS))), NULL);
	job = tvh_wait_job(&s, s.api_key, id2);
	json_decref(job);

	tvh_request(&r, &s, "GET", "/v1/certificates/imports", s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	jobs = json_object_get(r.json, "imports");
	assert_int_equal(json_array_size(jobs), 2);
	j = json_array_get(jobs, 0); /* newest first */
	assert_string_equal(json_string_value(json_object_get(j, "id")), id2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "resultCounts"), "SKIPPED")), 1);
	j = json_array_get(jobs, 1);
	assert_string_equal(json_string_value(json_object_get(j, "id")), id1);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "COMPLETED");
	assert_int_equal(json_integer_value(json_object_get(j, "itemCount")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "finalItemCount")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "resultCounts"), "IMPORTED")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "resultCounts"), "FAILED")), 1);
	assert_true(json_is_string(json_object_get(j, "completionDate")));
	tvh_resp_free(&r);

	tvh_request(&r, &s, "GET", "/outagedetection/v1/certificates/imports?limit=1", s.api_key,
	            NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "imports")), 1);
	tvh_resp_free(&r);
	for (const char *const *bad = (const char *const[]){"0", "101", "x", "", NULL}; *bad;
	     bad++) {
		char path[96];

		snprintf(path, sizeof(path), "/v1/certificates/imports?limit=%s", *bad);
		tvh_request(&r, &s, "GET", path, s.api_key, NULL, 0, NULL);
		assert_int_equal(r.status, 400);
		assert_int_equal(tvh_error_code(&r), 10101);
		tvh_resp_free(&r);
	}

	/* dekHash: the certificates with a private key sealed to this key */
	snprintf(expr, sizeof(expr),
	         "{\"field\":\"dekHash\",\"operator\":\"IN\",\"value\":[\"%s\"]}", s.key_id);
	assert_int_equal(S_count(&s, s.api_key, expr), 1);
	snprintf(expr, sizeof(expr), "{\"field\":\"dekHash\",\"operator\":\"EQ\",\"value\":\"%s\"}",
	         s.key_id);
	assert_int_equal(S_count(&s, s.api_key, expr), 1);
	assert_int_equal(S_count(&s, s.api_key,
	                         "{\"field\":\"dekHash\",\"operator\":\"EQ\",\"value\":\"other\"}"),
	                 0);

	/* another tenant sees none of it */
	{
		const char *args[] = {TVD_PATH, "tenant", "create", "--data",
		                      s.dir,    "--name", "other",  NULL};
		json_t *t;
		char key[64];

		assert_int_equal(tvh_run(&out, args), 0);
		t = json_loads(out, 0, NULL);
		assert_non_null(t);
		snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(t, "apiKey")));
		json_decref(t);
		tvh_request(&r, &s, "GET", "/v1/certificates/imports", key, NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		assert_int_equal(json_array_size(json_object_get(r.json, "imports")), 0);
		tvh_resp_free(&r);
		assert_int_equal(S_count(&s, key, expr), 0);
	}

	free(out);
	free(id1);
	free(id2);
	free(pem);
	assert_int_equal(tvh_stop(&s, 0), 0);
	tvh_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_console_files),
	    cmocka_unit_test(test_job_list_and_key_search),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
