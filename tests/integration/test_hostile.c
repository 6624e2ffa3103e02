/*
 * test_hostile.c - the hostile-input matrix (issue 7), part one: what an
 * attacker can put in a request, against a running server. Every case
 * asserts the exact status and error code (or the item's reason code); after
 * each group the server must still answer, and its log must hold no error
 * (bad input is never a server fault).
 *
 * Groups: malformed JSON and wrong types; HTTP-level abuse (methods, keys,
 * paths, headers, bodies that lie about their length); hostile keystores
 * (crafted DER, caps, oversized keys and certificates, 100 items over the
 * keystore cap); SQL metacharacters in searches. Part two,
 * test_hostile_conn.c, holds connection floods, the rate limit and the
 * configurable caps. Crafted inputs come from support/craft.h; the
 * 16,384-bit RSA key is a committed fixture (tests/fixtures/gen-hostile.sh).
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "craft.h"
#include "expect.h"
#include "importing.h"
#include "rawhttp.h"

#define IMPORTS "/outagedetection/v1/certificates/imports"
#define SEARCH  "/outagedetection/v1/certificatesearch"

/* ---- 1. JSON: nesting, NULs, encodings, duplicates, types -------------- */

/* "[[[...]]]" nested depth deep, inside the value of "importInformation". */
static char *S_deep(size_t depth)
{
	char *s = malloc(2 * depth + 128), *p;
	size_t i;

	assert_non_null(s);
	p = s + sprintf(s, "{\"edgeInstanceId\":\"x\",\"importInformation\":");
	for (i = 0; i < depth; i++)
		*p++ = '[';
	for (i = 0; i < depth; i++)
		*p++ = ']';
	strcpy(p, "}");
	return s;
}

static void S_json_cases(const struct tvh_server *s)
{
	char env[512], body[2048];
	char *deep;

	snprintf(env, sizeof(env), "\"edgeInstanceId\":\"%s\",\"encryptionKeyId\":\"%s\"",
	         s->edge_id, s->key_id);
	deep = S_deep(10000);
	tvh_expect_post(s, "import nested 10,000 deep", IMPORTS, deep, 400, 10100);
	tvh_expect_post(s, "search nested 10,000 deep", SEARCH, deep, 400, 10100);
	tvh_expect_post(s, "apikey nested 10,000 deep", "/v1/apikeys", deep, 400, 10100);
	free(deep);
	deep = S_deep(1000000); /* 2 MB of brackets, under the body cap */
	tvh_expect_post(s, "import nested 1,000,000 deep", IMPORTS, deep, 400, 10100);
	free(deep);
	snprintf(
	    body, sizeof(body),
	    "{%s,\"importInformation\":[{\"pkcs12Keystore\":\"AA==\",\"label\":\"a\\u0000b\"}]}",
	    env);
	tvh_expect_post(s, "NUL in an item label", IMPORTS, body, 400, 10100);
	snprintf(body, sizeof(body),
	         "{\"edgeInstanceId\":\"%s\\u0000\",\"encryptionKeyId\":"
	         "\"x\",\"importInformation\":[{}]}",
	         s->edge_id);
	tvh_expect_post(s, "NUL in edgeInstanceId", IMPORTS, body, 400, 10100);
	tvh_expect_post(
	    s, "NUL in a search value", SEARCH,
	    "{\"expression\":{\"field\":\"subjectCN\",\"operator\":\"EQ\",\"value\":\"a\\u0000\"}}",
	    400, 10100);
	tvh_expect_post(s, "NUL in an API key name", "/v1/apikeys",
	                "{\"name\":\"ci\\u0000root\",\"role\":\"ADMIN\"}", 400, 10100);
	tvh_expect_post(s, "NUL in a fingerprint", "/v1/trustedcacertificates/deletion",
	                "{\"fingerprints\":[\"\\u0000\"]}", 400, 10100);
	tvh_expect_post(s, "invalid UTF-8 (a lone continuation byte)", "/v1/apikeys",
	                "{\"name\":\"\x80\",\"role\":\"ADMIN\"}", 400, 10100);
	tvh_expect_post(
	    s, "invalid UTF-8 (overlong '/')", SEARCH,
	    "{\"expression\":{\"field\":\"subjectCN\",\"operator\":\"EQ\",\"value\":\"\xc0\xaf\"}}",
	    400, 10100);
	tvh_expect_post(s, "invalid UTF-8 (truncated sequence)", "/v1/apikeys",
	                "{\"name\":\"\xe2\x82\",\"role\":\"ADMIN\"}", 400, 10100);
	tvh_expect_post(s, "a lone surrogate escape", "/v1/apikeys",
	                "{\"name\":\"\\ud800\",\"role\":\"ADMIN\"}", 400, 10100);
	snprintf(body, sizeof(body), "{%s,\"edgeInstanceId\":\"%s\",\"importInformation\":[{}]}",
	         env, s->edge_id);
	tvh_expect_post(s, "duplicate keys in the envelope", IMPORTS, body, 400, 10100);
	snprintf(body, sizeof(body),
	         "{%s,\"importInformation\":[{\"pkcs12Keystore\":\"AA==\","
	         "\"pkcs12Keystore\":\"AA==\"}]}",
	         env);
	tvh_expect_post(s, "duplicate keys in an item", IMPORTS, body, 400, 10100);
	tvh_expect_post(s, "duplicate keys in a search", SEARCH,
	                "{\"paging\":{\"pageSize\":1,\"pageSize\":2}}", 400, 10100);
	snprintf(body, sizeof(body),
	         "{\"edgeInstanceId\":5,\"encryptionKeyId\":\"%s\","
	         "\"importInformation\":[{}]}",
	         s->key_id);
	tvh_expect_post(s, "a number for edgeInstanceId", IMPORTS, body, 400, 10101);
	snprintf(body, sizeof(body),
	         "{\"edgeInstanceId\":\"%s\",\"encryptionKeyId\":[],"
	         "\"importInformation\":[{}]}",
	         s->edge_id);
	tvh_expect_post(s, "an array for encryptionKeyId", IMPORTS, body, 400, 10101);
	snprintf(body, sizeof(body), "{%s,\"importInformation\":\"x\"}", env);
	tvh_expect_post(s, "a string for importInformation", IMPORTS, body, 400, 10101);
	snprintf(body, sizeof(body), "{%s,\"importInformation\":[5]}", env);
	tvh_expect_post(s, "a number for an item", IMPORTS, body, 400, 10101);
	snprintf(body, sizeof(body), "{%s,\"importInformation\":[]}", env);
	tvh_expect_post(s, "no items", IMPORTS, body, 400, 10102);
	snprintf(body, sizeof(body), "{%s,\"importInformation\":[{}],\"extra\":1}", env);
	tvh_expect_post(s, "an unknown envelope field", IMPORTS, body, 400, 10101);
	tvh_expect_post(s, "a JSON array body", IMPORTS, "[1,2,3]", 400, 10101);
	/* a scalar is not a JSON text this API takes (jansson's default) */
	tvh_expect_post(s, "a JSON null body", IMPORTS, "null", 400, 10100);
	tvh_expect_post(s, "a JSON string body", "/v1/apikeys", "\"ADMIN\"", 400, 10100);
	tvh_expect_post(s, "trailing garbage after the JSON", "/v1/apikeys",
	                "{\"name\":\"a\",\"role\":\"ADMIN\"} x", 400, 10100);
	tvh_expect_post(s, "a number over the double range", "/v1/apikeys",
	                "{\"name\":\"a\",\"role\":\"ADMIN\",\"validityDays\":1e999}", 400, 10100);
	tvh_expect_post(
	    s, "an integer over 64 bits", "/v1/apikeys",
	    "{\"name\":\"a\",\"role\":\"ADMIN\",\"validityDays\":99999999999999999999999}", 400,
	    10100);
	tvh_expect_post(s, "validityDays as a string", "/v1/apikeys",
	                "{\"name\":\"a\",\"role\":\"ADMIN\",\"validityDays\":\"90\"}", 400, 10101);
	tvh_expect_post(s, "a role as a number", "/v1/apikeys", "{\"name\":\"a\",\"role\":3}", 400,
	                10101);
	tvh_expect_post(s, "pageSize as a string", SEARCH, "{\"paging\":{\"pageSize\":\"10\"}}",
	                400, 10101);
	tvh_expect_post(
	    s, "a number where a text value belongs", SEARCH,
	    "{\"expression\":{\"field\":\"subjectCN\",\"operator\":\"EQ\",\"value\":5}}", 400,
	    10101);
	tvh_expect_post(s, "an operand that is a string", SEARCH,
	                "{\"expression\":{\"operator\":\"AND\",\"operands\":[\"x\"]}}", 400, 10101);
	tvh_expect_post(s, "certificateIds as a string",
	                "/outagedetection/v1/certificates/retirement",
	                "{\"certificateIds\":\"abc\"}", 400, 10101);
	tvh_expect_post(s, "encodedCertificates holding a number", "/v1/trustedcacertificates",
	                "{\"encodedCertificates\":[42]}", 400, 10101);
	tvh_expect_http(s, "an empty body", "POST", IMPORTS, s->api_key, "", 0, NULL, 400, 10100);
	tvh_expect_http(s, "text/plain", "POST", IMPORTS, s->api_key, "{}", 2,
	                "Content-Type: text/plain", 415, 10106);
	tvh_expect_http(s, "multipart/form-data", "POST", "/v1/apikeys", s->api_key, "{}", 2,
	                "Content-Type: multipart/form-data; boundary=x", 415, 10106);
	tvh_alive(s, s->api_key);
}

/* ---- 2. HTTP: methods, keys, paths, headers, lying bodies ---------------- */

static void S_method_and_key_cases(const struct tvh_server *s)
{
	char big_key[10000], hdr[10100];

	tvh_expect_http(s, "DELETE on a read-only path", "DELETE", "/v1/useraccounts", s->api_key,
	                NULL, 0, NULL, 405, 10406);
	tvh_expect_http(s, "PUT on the import path", "PUT", IMPORTS, s->api_key, "{}", 2, NULL, 405,
	                10406);
	tvh_expect_http(s, "GET on the search path", "GET", SEARCH, s->api_key, NULL, 0, NULL, 405,
	                10406);
	tvh_expect_http(s, "an unknown method", "BREW", "/healthz", NULL, NULL, 0, NULL, 405,
	                10406);
	tvh_expect_http(s, "an unknown path", "GET", "/v1/nothing-here", s->api_key, NULL, 0, NULL,
	                404, 10405);
	tvh_expect_http(s, "no API key", "GET", "/v1/useraccounts", NULL, NULL, 0, NULL, 401, 1004);
	tvh_expect_http(s, "a wrong API key", "GET", "/v1/useraccounts",
	                "00000000-0000-4000-8000-000000000000", NULL, 0, NULL, 401, 10501);
	tvh_expect_http(s, "an empty API key", "GET", "/v1/useraccounts", NULL, NULL, 0,
	                "tppl-api-key;", 401, 1004);
	memset(big_key, 'k', sizeof(big_key) - 1);
	big_key[sizeof(big_key) - 1] = '\0';
	snprintf(hdr, sizeof(hdr), "tppl-api-key: %s", big_key);
	tvh_expect_http(s, "a 10 KB API key", "GET", "/v1/useraccounts", NULL, NULL, 0, hdr, 401,
	                10501);
	tvh_expect_http(s, "SQL in the API key", "GET", "/v1/useraccounts", "' OR '1'='1", NULL, 0,
	                NULL, 401, 10501);
	tvh_expect_http(s, "a Bearer token that isn't a key", "GET", "/v1/useraccounts", NULL, NULL,
	                0, "Authorization: Bearer not-a-key", 401, 10501);
	tvh_expect_http(s, "Basic authentication", "GET", "/v1/useraccounts", NULL, NULL, 0,
	                "Authorization: Basic YWRtaW46YWRtaW4=", 401, 1004);
	tvh_expect_http(s, "an empty Bearer token", "GET", "/v1/useraccounts", NULL, NULL, 0,
	                "Authorization: Bearer ", 401, 1004);
	tvh_alive(s, s->api_key);
}

static void S_path_cases(const struct tvh_server *s)
{
	tvh_expect_raw_get(s, "../ in a certificate id",
	                   "/outagedetection/v1/certificates/../../etc/passwd", 404, 10405);
	tvh_expect_raw_get(s, "a certificate id of ..", "/outagedetection/v1/certificates/..", 404,
	                   10404);
	tvh_expect_raw_get(s, "%2e%2e in a certificate id",
	                   "/outagedetection/v1/certificates/%2e%2e", 404, 10404);
	tvh_expect_raw_get(s, "%2e%2e%2f in a certificate id",
	                   "/outagedetection/v1/certificates/%2e%2e%2f%2e%2e%2fhealthz", 404,
	                   10405);
	tvh_expect_raw_get(s, "an encoded slash in a job id", "/v1/certificates/imports/a%2Fb", 404,
	                   10405);
	tvh_expect_raw_get(s, "a NUL in a job id", "/v1/certificates/imports/%00", 404, 10404);
	tvh_expect_raw_get(s, "a NUL that would cut the path short",
	                   "/v1/certificates/imports/00000000-0000-4000-8000-000000000000%00/x",
	                   404, 10405);
	tvh_expect_raw_get(s, "a NUL after waitSeconds",
	                   "/v1/certificates/imports/00000000-0000-4000-8000-000000000000"
	                   "?waitSeconds=5%00junk",
	                   400, 10101);
	tvh_expect_raw_get(s, "an encoded path still routes",
	                   "/v1/certificates/imports/00000000-0000-4000-8000-00000000000%30", 404,
	                   10404);
	tvh_expect_raw_get(s, "../ in a fingerprint",
	                   "/v1/trustedcacertificates/..%2F..%2Fmaster.key", 404, 10405);
	tvh_expect_raw_get(s, "a fingerprint of ..", "/v1/trustedcacertificates/..", 400, 10107);
	tvh_expect_raw_get(s, "../ in an edge instance id", "/v1/edgeinstances/../apikeys", 404,
	                   10405);
	tvh_expect_raw_get(s, "a quote in a job id", "/v1/certificates/imports/'%20OR%201=1--", 404,
	                   10404);
	tvh_expect_raw_get(s, "a huge waitSeconds",
	                   "/v1/certificates/imports/00000000-0000-4000-8000-000000000000"
	                   "?waitSeconds=99999999999999999999999",
	                   400, 10101);
	tvh_expect_raw_get(
	    s, "a negative waitSeconds",
	    "/v1/certificates/imports/00000000-0000-4000-8000-000000000000?waitSeconds=-1", 400,
	    10101);
	tvh_expect_raw_get(
	    s, "waitSeconds of 61",
	    "/v1/certificates/imports/00000000-0000-4000-8000-000000000000?waitSeconds=61", 400,
	    10101);
	tvh_expect_raw_get(
	    s, "a waitSeconds with junk",
	    "/v1/certificates/imports/00000000-0000-4000-8000-000000000000?waitSeconds=5x", 400,
	    10101);
	tvh_expect_raw_get(s, "an absolute URI request target", "http://evil.example/healthz", 404,
	                   10405);
	tvh_alive(s, s->api_key);
}

static void S_header_cases(const struct tvh_server *s)
{
	size_t cap = 256 * 1024, n, i;
	char *req = malloc(cap);

	assert_non_null(req);
	/* 300 small headers: parsed and answered */
	n = (size_t)sprintf(req,
	                    "GET /v1/useraccounts HTTP/1.1\r\nHost: t\r\n"
	                    "tppl-api-key: %s\r\nConnection: close\r\n",
	                    s->api_key);
	for (i = 0; i < 300; i++)
		n += (size_t)sprintf(req + n, "X-Flood-%zu: %zu\r\n", i, i);
	n += (size_t)sprintf(req + n, "\r\n");
	tvh_expect_raw(s, "300 headers", req, n, 200, -1);
	/* 5,000 headers: more than a connection's memory holds */
	n = (size_t)sprintf(req, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
	for (i = 0; i < 5000; i++)
		n += (size_t)sprintf(req + n, "X-Flood-%zu: %zu\r\n", i, i);
	n += (size_t)sprintf(req + n, "\r\n");
	tvh_expect_raw(s, "5,000 headers", req, n, 431, -1);
	/* one header of 100 KiB */
	n = (size_t)sprintf(req, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	                         "X-Big: ");
	memset(req + n, 'a', 100 * 1024);
	n += 100 * 1024;
	n += (size_t)sprintf(req + n, "\r\n\r\n");
	tvh_expect_raw(s, "a 100 KiB header", req, n, 431, -1);
	/* a 100 KiB URL */
	n = (size_t)sprintf(req, "GET /healthz?");
	memset(req + n, 'q', 100 * 1024);
	n += 100 * 1024;
	n += (size_t)sprintf(req + n, " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	tvh_expect_raw(s, "a 100 KiB URL", req, n, 414, -1);
	/* a header line without a colon */
	n = (size_t)sprintf(req, "GET /healthz HTTP/1.1\r\nHost: t\r\nno colon here\r\n"
	                         "Connection: close\r\n\r\n");
	tvh_expect_raw(s, "a header without a colon", req, n, 400, -1);
	/* HTTP/0.9-style and garbage request lines */
	{
		static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00,
		                                      0x01, 0x00, 0x01, 0xfc, 0x03,
		                                      0x03, '\r', '\n', '\r', '\n'};
		memcpy(req, hello, sizeof(hello));
		n = sizeof(hello);
	}
	{
		struct tvh_raw r;

		/* not HTTP at all: closed without an answer */
		tvh_raw_request(&r, s, req, n, 10000);
		tvh_expect("TLS bytes on the plain port", r.status, r.code, 0, -1, r.body);
		tvh_case();
		if (!r.closed)
			fail_msg("TLS bytes on the plain port: the connection stayed open");
		tvh_raw_free(&r);
	}
	free(req);
	tvh_alive(s, s->api_key);
}

/* Content-Length of 1 GiB with a few bytes of body, sent slowly. */
static void S_lying_body_cases(const struct tvh_server *s)
{
	char req[512];
	struct tvh_raw r;
	int fd, n;

	n = snprintf(req, sizeof(req),
	             "POST " IMPORTS " HTTP/1.1\r\nHost: t\r\ntppl-api-key: %s\r\n"
	             "Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n",
	             s->api_key);
	fd = tvh_raw_connect(s);
	assert_true(tvh_raw_send(fd, req, (size_t)n));
	assert_true(tvh_raw_send(fd, "{\"ed", 4));
	/* refused on the headers: the answer comes without more bytes */
	tvh_raw_read(&r, fd, 5000);
	tvh_expect("1 GiB Content-Length, slow body", r.status, r.code, 413, 10105, r.body);
	tvh_case();
	if (!r.closed || r.ms > 5000)
		fail_msg("1 GiB body: the connection must close at once (closed %d, %lld ms)",
		         r.closed, (long long)r.ms);
	tvh_raw_free(&r);
	close(fd);
	/* the same without a key: the size is refused before authentication */
	n = snprintf(req, sizeof(req),
	             "POST " IMPORTS " HTTP/1.1\r\nHost: t\r\n"
	             "Content-Length: 1073741824\r\n\r\n");
	tvh_expect_raw(s, "1 GiB Content-Length without a key", req, (size_t)n, 413, 10105);
	n = snprintf(req, sizeof(req),
	             "POST " IMPORTS " HTTP/1.1\r\nHost: t\r\n"
	             "Content-Length: 99999999999999999999999999\r\n\r\n");
	tvh_expect_raw(s, "a Content-Length over 64 bits", req, (size_t)n, 413, -1);
	n = snprintf(req, sizeof(req),
	             "POST " IMPORTS " HTTP/1.1\r\nHost: t\r\n"
	             "Content-Length: -5\r\n\r\n");
	tvh_expect_raw(s, "a negative Content-Length", req, (size_t)n, 400, -1);
	tvh_alive(s, s->api_key);
}

static void test_json_and_http(void **state)
{
	struct tvh_server *s = tvh_test_server();

	(void)state;
	tvh_init(s);
	tvh_start(s, NULL);
	S_json_cases(s);
	S_method_and_key_cases(s);
	S_path_cases(s);
	S_header_cases(s);
	S_lying_body_cases(s);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);
}

/* ---- 3. hostile keystores ---------------------------------------------- */

static void S_crafted_items(struct tvh_items *it)
{
	struct tvh_buf b;
	unsigned char rnd[4096];

	tvh_items_add_p12(
	    it, "MAC iterations 2^31-1",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))), tvh_craft_mac(8, 2147483647)),
	    "ITERATION_LIMIT_EXCEEDED");
	tvh_items_add_p12(it, "MAC iterations 2^62",
	                  tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))),
	                                tvh_craft_mac(8, (int64_t)1 << 62)),
	                  "ITERATION_LIMIT_EXCEEDED");
	tvh_items_add_p12(
	    it, "MAC iterations -1",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))), tvh_craft_mac(8, -1)),
	    "MALFORMED_KEYSTORE");
	tvh_items_add_p12(
	    it, "MAC iterations 0",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))), tvh_craft_mac(8, 0)),
	    "MALFORMED_KEYSTORE");
	tvh_items_add_p12(
	    it, "MAC salt of 200 KiB (under the cap)",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))), tvh_craft_mac(200 * 1024, 1)),
	    "MAC_VERIFICATION_FAILED");
	tvh_items_add_p12(
	    it, "MAC salt of 1 MiB",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))), tvh_craft_mac(1024 * 1024, 1)),
	    "KEYSTORE_TOO_LARGE");
	tvh_items_add_p12(
	    it, "PBES2 iterations 2^31-1 (no MAC)",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_encrypted_ci(2147483647)), tvh_bytes(NULL, 0)),
	    "ITERATION_LIMIT_EXCEEDED");
	tvh_items_add_p12(it, "PBES2 iterations -5 (no MAC)",
	                  tvh_craft_pfx(tvh_seq(1, tvh_craft_encrypted_ci(-5)), tvh_bytes(NULL, 0)),
	                  "MALFORMED_KEYSTORE");
	tvh_items_add_p12(it, "3DES PBE iterations 2^31-1",
	                  tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(
	                                               1, tvh_craft_shrouded_bag(2147483647)))),
	                                tvh_bytes(NULL, 0)),
	                  "ITERATION_LIMIT_EXCEEDED");
	tvh_items_add_p12(
	    it, "SafeContents nested 5 deep",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_craft_nested(5))), tvh_bytes(NULL, 0)),
	    "MALFORMED_KEYSTORE");
	tvh_items_add_p12(it, "SafeContents nested 2,000 deep",
	                  tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_craft_nested(2000))),
	                                tvh_bytes(NULL, 0)),
	                  "MALFORMED_KEYSTORE");
	tvh_items_add_p12(it, "5,000 safe bags",
	                  tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_craft_many_bags(5000))),
	                                tvh_bytes(NULL, 0)),
	                  "MALFORMED_KEYSTORE");
	tvh_items_add_p12(it, "5,000 empty safes",
	                  tvh_craft_pfx(tvh_craft_many_safes(5000), tvh_bytes(NULL, 0)),
	                  "NO_PRIVATE_KEY");
	tvh_items_add_p12(it, "a certBag holding junk",
	                  tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_craft_junk_cert_bag())),
	                                tvh_bytes(NULL, 0)),
	                  "MALFORMED_KEYSTORE");
	b = tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))), tvh_craft_mac(8, 2048));
	tvh_items_add_p12(it, "an outer length 100 past the end",
	                  tvh_tlv_len(0x30, b.len - 2 + 100, tvh_bytes(b.p + 2, b.len - 2)),
	                  "MALFORMED_KEYSTORE");
	tvh_buf_free(&b);
	tvh_items_add_p12(it, "a 4 GiB length",
	                  tvh_tlv_len(0x30, 0xffffffffu, tvh_cat(2, tvh_int(3), tvh_seq(0))),
	                  "MALFORMED_KEYSTORE");
	tvh_items_add_p12(
	    it, "an inner bag length past the end",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(
	                                 tvh_seq(1, tvh_tlv_len(0x30, 5000, tvh_oid(NID_keyBag))))),
	                  tvh_bytes(NULL, 0)),
	    "MALFORMED_KEYSTORE");
	randombytes_buf(rnd, sizeof(rnd));
	rnd[0] = 0x30;
	tvh_items_add_p12(it, "4 KiB of random bytes", tvh_bytes(rnd, sizeof(rnd)),
	                  "MALFORMED_KEYSTORE");
	tvh_items_add_p12(it, "an empty keystore", tvh_bytes(NULL, 0), "MALFORMED_KEYSTORE");
}

static void S_made_items(struct tvh_items *it)
{
	EVP_PKEY *key = tvh_craft_ec_key(), *ca_key = tvh_craft_ec_key();
	STACK_OF(X509) *ca = sk_X509_new_null();
	X509 *x, *big_ca;
	size_t len = 0;
	char *bytes;
	char *pem;

	/* a leaf with 10,000 SANs, and a chain member with 10,000 */
	x = tvh_craft_cert(key, "sans.example", -1, 2, false);
	tvh_craft_add_sans(x, 10000);
	tvh_items_add_p12(it, "a leaf with 10,000 SANs",
	                  tvh_craft_p12(key, tvh_craft_sign(x, key), NULL), "KEYSTORE_TOO_LARGE");
	X509_free(x);
	big_ca = tvh_craft_cert(ca_key, "sans-ca.example", -1, 3, true);
	tvh_craft_add_sans(big_ca, 10000);
	assert_true(sk_X509_push(ca, tvh_craft_sign(big_ca, ca_key)) > 0);
	x = tvh_craft_sign(tvh_craft_cert(key, "leaf.example", -1, 4, false), key);
	tvh_items_add_p12(it, "a chain member with 10,000 SANs", tvh_craft_p12(key, x, ca),
	                  "KEYSTORE_TOO_LARGE");
	X509_free(x);
	/* certificates the facts can't hold */
	x = tvh_craft_sign(tvh_craft_cert(key, "nul\0.example", 12, 5, false), key);
	tvh_items_add_p12(it, "a NUL byte inside the CN", tvh_craft_p12(key, x, NULL),
	                  "MALFORMED_KEYSTORE");
	X509_free(x);
	x = tvh_craft_cert(key, "badsan.example", -1, 6, false);
	tvh_craft_add_bad_san(x);
	tvh_items_add_p12(it, "a malformed subjectAltName",
	                  tvh_craft_p12(key, tvh_craft_sign(x, key), NULL), "MALFORMED_KEYSTORE");
	X509_free(x);
	/* the 16,384-bit RSA key, as PKCS#12 and as a sealed PKCS#8 */
	bytes = tvh_read_file(TVH_FIXTURES "/hostile/rsa16384.p12", &len);
	assert_non_null(bytes);
	{
		char *ks = tvh_b64(bytes, len);
		char *pw = tvh_seal_b64(it->pk, "fixture-pass", 12);

		tvh_items_add(
		    it, "RSA-16384 PKCS#12",
		    json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", pw),
		    "UNSUPPORTED_KEY_TYPE");
		free(ks);
		free(pw);
	}
	free(bytes);
	{
		FILE *f = fopen(TVH_FIXTURES "/hostile/rsa16384.key.pem", "r");
		EVP_PKEY *big;

		assert_non_null(f);
		big = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		assert_non_null(big);
		pem = tvh_read_file(TVH_FIXTURES "/hostile/rsa16384.crt.pem", NULL);
		tvh_items_add(it, "RSA-16384 sealed PKCS#8",
		              tvh_sealed_item(it->pk, pem, tvh_craft_pkcs8(big)),
		              "UNSUPPORTED_KEY_TYPE");
		free(pem);
		EVP_PKEY_free(big);
	}
	/* form and envelope-free item problems */
	x = tvh_craft_sign(tvh_craft_cert(key, "garbage-key.example", -1, 7, false), key);
	pem = tvh_craft_pem(x);
	tvh_items_add(it, "a sealed PKCS#8 that is junk",
	              tvh_sealed_item(it->pk, pem, tvh_bytes("\x30\x03junk", 7)),
	              "MALFORMED_KEYSTORE");
	tvh_items_add(
	    it, "a certificate that is not PEM",
	    tvh_sealed_item(it->pk, "-----BEGIN CERTIFICATE-----\nAAAA\n", tvh_craft_pkcs8(key)),
	    "MALFORMED_KEYSTORE");
	free(pem);
	X509_free(x);
	tvh_items_add(it, "a keystore that isn't base64",
	              json_pack("{s:s}", "pkcs12Keystore", "@@@not base64@@@"), "INVALID_BASE64");
	tvh_items_add(it, "an empty item", json_object(), "INVALID_ITEM");
	tvh_items_add(it, "pkcs12Keystore and certificate",
	              json_pack("{s:s,s:s}", "pkcs12Keystore", "AA==", "certificate", "x"),
	              "INVALID_ITEM");
	tvh_items_add(it, "a number for pkcs12Keystore",
	              json_pack("{s:i}", "pkcs12Keystore", 12345), "INVALID_ITEM");
	{
		char *label = malloc(10001);

		assert_non_null(label);
		memset(label, 'l', 10000);
		label[10000] = '\0';
		tvh_items_add(it, "a label of 10,000 characters",
		              json_pack("{s:s,s:s}", "pkcs12Keystore", "AA==", "label", label),
		              "INVALID_ITEM");
		free(label);
	}
	{
		unsigned char other_pk[32], other_sk[32];
		char *ks = tvh_file_b64(TVH_FIXTURES "/p12/openssl-default-p256.p12");
		char *pw;

		crypto_box_keypair(other_pk, other_sk);
		pw = tvh_seal_b64(other_pk, "fixture-pass", 12);
		tvh_items_add(
		    it, "a password sealed to another key",
		    json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", pw),
		    "PASSWORD_DECRYPTION_FAILED");
		free(pw);
		pw = malloc(12000);
		assert_non_null(pw);
		memset(pw, 'A', 11999);
		pw[11999] = '\0';
		tvh_items_add(
		    it, "a sealed password of 12 KB",
		    json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", pw),
		    "KEYSTORE_TOO_LARGE");
		free(pw);
		pw = tvh_seal_b64(it->pk, "fixture-pass", 12);
		tvh_items_add(
		    it, "a good keystore, untrusted (control)",
		    json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", pw),
		    "SELF_SIGNED");
		free(pw);
		free(ks);
	}
	sk_X509_pop_free(ca, X509_free);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

/* 100 items of 300 KiB each: over the keystore cap, under the body cap. */
static void S_big_items(const struct tvh_server *s)
{
	struct tvh_items it;
	unsigned char *blob = malloc(300 * 1024);
	char *b64;
	size_t i;

	assert_non_null(blob);
	memset(&it, 0, sizeof(it));
	it.arr = json_array();
	randombytes_buf(blob, 300 * 1024);
	b64 = tvh_b64(blob, 300 * 1024);
	for (i = 0; i < 100; i++)
		tvh_items_add(&it, "300 KiB keystore", json_pack("{s:s}", "pkcs12Keystore", b64),
		              "KEYSTORE_TOO_LARGE");
	free(b64);
	free(blob);
	tvh_items_run(s, &it, true);
}

static void test_hostile_keystores(void **state)
{
	struct tvh_server *s = tvh_test_server();
	struct tvh_items it;

	(void)state;
	tvh_init(s);
	tvh_start(s, NULL);
	memset(&it, 0, sizeof(it));
	it.arr = json_array();
	tvh_dek_key(s, s->api_key, it.pk);
	S_crafted_items(&it);
	S_made_items(&it);
	tvh_items_run(s, &it, false);
	tvh_alive(s, s->api_key);
	S_big_items(s);
	tvh_alive(s, s->api_key);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);
}

/* ---- 4. SQL metacharacters in searches ------------------------------------ */

/* The count of a search body, asserting 200. */
static long S_count(const struct tvh_server *s, const char *what, const char *body)
{
	struct tvh_resp r;
	long n;

	tvh_request(&r, s, "POST", SEARCH, s->api_key, body, strlen(body), NULL);
	if (r.status != 200)
		fail_msg("%s: %ld %s", what, r.status, r.body ? r.body : "");
	n = (long)json_integer_value(json_object_get(r.json, "count"));
	tvh_resp_free(&r);
	return n;
}

static void S_search_expect(const struct tvh_server *s, const char *what, const char *field,
                            const char *op, const char *value, long want)
{
	json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "expression", "field", field, "operator", op,
	                         "value", value);
	char *text = json_dumps(body, JSON_COMPACT);
	long n = S_count(s, what, text);

	tvh_case();
	if (n != want)
		fail_msg("%s: %ld matches, want %ld", what, n, want);
	free(text);
	json_decref(body);
}

static void test_sql_metacharacters(void **state)
{
	struct tvh_server *s = tvh_test_server();
	unsigned char pk[32];
	EVP_PKEY *k1 = tvh_craft_ec_key(), *k2 = tvh_craft_ec_key();
	X509 *c1, *c2;
	char *pems[2], *id;
	json_t *job, *items;

	(void)state;
	tvh_init(s);
	tvh_start(s, NULL);
	tvh_dek_key(s, s->api_key, pk);
	c1 = tvh_craft_sign(
	    tvh_craft_cert(k1, "x'); DROP TABLE certificates; -- 100%_off\\\"", -1, 11, false), k1);
	c2 = tvh_craft_sign(tvh_craft_cert(k2, "plain.example", -1, 12, false), k2);
	pems[0] = tvh_craft_pem(c1);
	pems[1] = tvh_craft_pem(c2);
	tvh_trust(s, s->api_key, (const char *const *)pems, 2);
	items = json_array();
	json_array_append_new(items, tvh_sealed_item(pk, pems[0], tvh_craft_pkcs8(k1)));
	json_array_append_new(items, tvh_sealed_item(pk, pems[1], tvh_craft_pkcs8(k2)));
	id = tvh_post_job(s, s->api_key, tvh_envelope(s, items), NULL);
	job = tvh_wait_job(s, s->api_key, id);
	assert_string_equal(json_string_value(json_object_get(job, "status")), "COMPLETED");
	json_decref(job);
	free(id);

	S_search_expect(s, "MATCH '%' is a literal percent", "subjectCN", "MATCH", "%", 1);
	S_search_expect(s, "MATCH '_' is a literal underscore", "subjectCN", "MATCH", "_", 1);
	S_search_expect(s, "EQ the whole CN with its quotes", "subjectCN", "EQ",
	                "x'); DROP TABLE certificates; -- 100%_off\\\"", 1);
	S_search_expect(s, "MATCH the injection text", "certificateName", "MATCH",
	                "'); DROP TABLE certificates; --", 1);
	S_search_expect(s, "MATCH a classic tautology", "subjectCN", "MATCH", "' OR '1'='1", 0);
	S_search_expect(s, "EQ a tautology", "subjectCN", "EQ", "x' OR 1=1 --", 0);
	S_search_expect(s, "MATCH a backslash-quote", "subjectCN", "MATCH", "\\\"", 1);
	S_search_expect(s, "MATCH a lone backslash", "subjectCN", "MATCH", "\\\\", 0);
	S_search_expect(s, "MATCH a GLOB star", "subjectCN", "MATCH", "*", 0);
	S_search_expect(s, "serialNumber with a statement", "serialNumber", "EQ",
	                "1; DELETE FROM certificates", 0);
	S_search_expect(s, "fingerprint MATCH with a tautology", "fingerprint", "MATCH",
	                "' OR 1=1 --", 0);
	tvh_expect_post(s, "keyStrength '1 OR 1=1'", SEARCH,
	                "{\"expression\":{\"field\":\"keyStrength\",\"operator\":\"EQ\",\"value\":"
	                "\"1 OR 1=1\"}}",
	                400, 10101);
	tvh_expect_post(
	    s, "an ordering field with SQL", SEARCH,
	    "{\"ordering\":{\"orders\":[{\"field\":\"id; DROP TABLE x\",\"direction\":\"ASC\"}]}}",
	    400, 10101);
	tvh_expect_post(
	    s, "an ordering direction with SQL", SEARCH,
	    "{\"ordering\":{\"orders\":[{\"field\":\"subjectCN\",\"direction\":\"ASC; --\"}]}}",
	    400, 10101);
	tvh_expect_post(s, "retire ids with SQL", "/outagedetection/v1/certificates/retirement",
	                "{\"certificateIds\":[\"' OR 1=1 --\"]}", 400, 10107);
	/* the table is intact: both certificates are still there */
	tvh_case();
	assert_int_equal(S_count(s, "everything", "{}"), 2);
	tvh_alive(s, s->api_key);
	free(pems[0]);
	free(pems[1]);
	X509_free(c1);
	X509_free(c2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);
}

/* The matrix must hold 60 cases or more. */
static void test_case_count(void **state)
{
	(void)state;
	print_message("hostile cases asserted: %d\n", tvh_case_count());
	if (tvh_case_count() < 60)
		fail_msg("only %d hostile cases ran", tvh_case_count());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_and_http),
	    cmocka_unit_test(test_hostile_keystores),
	    cmocka_unit_test(test_sql_metacharacters),
	    cmocka_unit_test(test_case_count),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	tvh_test_server_reap();
	return failed;
}
