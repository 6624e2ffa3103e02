/*
 * test_hostile_conn.c - the hostile-input matrix (issue 7), part two: what
 * an attacker can do with connections and request volume, and the limits
 * that answer it. 2,000 idle connections held open (slowloris) while the
 * server keeps answering and then drops them; a stalled request line and a
 * stalled body; the connection cap (new connections wait in the listen
 * queue) and the per-address cap (closed at accept); the per-tenant rate
 * limit (429/10108 with Retry-After); and the configurable caps (--max-items,
 * --max-sans on trusted CAs, --max-key-bits, --max-body, a chunked body).
 * Every wait polls with a deadline; servers run with a 2 s idle timeout so
 * the timeouts are seen quickly.
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "craft.h"
#include "expect.h"
#include "importing.h"
#include "rawhttp.h"

#define IMPORTS "/outagedetection/v1/certificates/imports"

/* ---- connections: slowloris, the caps, idle timeouts ------------------- */

/* Open n connections that send nothing. */
static int *S_idle_open(const struct tvh_server *s, size_t n)
{
	int *fds = malloc(n * sizeof(*fds));
	size_t i;

	assert_non_null(fds);
	for (i = 0; i < n; i++)
		fds[i] = tvh_raw_connect(s);
	return fds;
}

/* Wait until the server has closed every one of fds; returns how many it closed. */
static size_t S_idle_wait_closed(int *fds, size_t n, int timeout_ms)
{
	int64_t deadline = tv_mono_ms() + timeout_ms;
	struct pollfd *p = calloc(n, sizeof(*p));
	size_t open = n, closed = 0, i;
	char buf[256];

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		p[i].fd = fds[i];
		p[i].events = POLLIN;
	}
	while (open && tv_mono_ms() < deadline) {
		int k = poll(p, n, (int)(deadline - tv_mono_ms()));

		for (i = 0; k > 0 && i < n; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
				close(p[i].fd);
				fds[i] = p[i].fd = -1;
				open--;
				closed++;
			}
		}
	}
	free(p);
	return closed;
}

static void S_idle_close(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
}

/*
 * One item whose MAC runs `iterations` KDF iterations (allowed by this
 * server's --max-iterations), posted and long-polled until final (at most
 * 25 s); returns the poll's milliseconds. The test only writes its DER.
 */
static int64_t S_poll_slow_item(const struct tvh_server *s, int64_t iterations)
{
	struct tvh_items it;
	struct tvh_resp r;
	char *id, path[256];
	int64_t start, ms;
	const char *st;

	memset(&it, 0, sizeof(it));
	it.arr = json_array();
	tvh_dek_key(s, s->api_key, it.pk);
	tvh_items_add_p12(
	    &it, "MAC of many iterations",
	    tvh_craft_pfx(tvh_seq(1, tvh_craft_data_ci(tvh_seq(0))), tvh_craft_mac(8, iterations)),
	    "MAC_VERIFICATION_FAILED");
	id = tvh_post_job(s, s->api_key, tvh_envelope(s, it.arr), NULL);
	snprintf(path, sizeof(path), IMPORTS "/%s?waitSeconds=25", id);
	start = tv_mono_ms();
	tvh_request(&r, s, "GET", path, s->api_key, NULL, 0, NULL);
	ms = tv_mono_ms() - start;
	st = json_string_value(json_object_get(r.json, "status"));
	tvh_case();
	if (r.status != 200 || !st || strcmp(st, "FAILED"))
		fail_msg("a long-poll: %ld %s", r.status, r.body ? r.body : "");
	tvh_resp_free(&r);
	free(id);
	return ms;
}

/*
 * A long-poll outlives the idle timeout (2 s): a suspended connection is not
 * idle (the waker re-runs it every second). The item must take several
 * seconds whatever the machine's speed, so the KDF is calibrated first: an
 * item of 2,000,000 iterations is timed, and the slow one gets as many as
 * should take about 6 s (between 3 and 100 million, the server's cap).
 */
static void S_long_poll(const struct tvh_server *s)
{
	int64_t calib, iterations, ms;

	calib = S_poll_slow_item(s, 2000000);
	iterations = 2000000 * (int64_t)6000 / (calib > 0 ? calib : 1);
	if (iterations < 3000000)
		iterations = 3000000;
	if (iterations > 100000000)
		iterations = 100000000;
	ms = S_poll_slow_item(s, iterations);
	print_message("  2,000,000 iterations took %lld ms; a long-poll on %lld answered after "
	              "%lld ms (idle timeout 2 s)\n",
	              (long long)calib, (long long)iterations, (long long)ms);
	tvh_case();
	if (ms < 2500)
		fail_msg("the slow item took under 2.5 s: this case shows nothing");
}

/* 2,000 idle connections: the server answers beside them, then drops them. */
static void test_slowloris(void **state)
{
	const char *const extra[] = {"--conn-timeout",
	                             "2",
	                             "--max-connections",
	                             "4000",
	                             "--http-threads",
	                             "2",
	                             "--max-iterations",
	                             "100000000",
	                             NULL};
	struct tvh_server *s = tvh_test_server();
	struct tvh_resp r;
	struct tvh_raw raw;
	size_t closed;
	int *fds, fd;

	(void)state;
	tvh_init(s);
	tvh_start(s, extra);
	fds = S_idle_open(s, 2000);
	/* a normal request while 2,000 are held */
	tvh_request(&r, s, "GET", "/v1/useraccounts", s->api_key, NULL, 0, NULL);
	tvh_expect("a request beside 2,000 idle connections", r.status, tvh_error_code(&r), 200, -1,
	           r.body);
	tvh_resp_free(&r);
	/* a connection that starts a request and stalls: closed, never answered */
	fd = tvh_raw_connect(s);
	assert_true(tvh_raw_send_str(fd, "GET /hea"));
	tvh_raw_read(&raw, fd, 10000);
	tvh_case();
	if (raw.status != 0 || !raw.closed || raw.ms < 1000)
		fail_msg("a stalled request line: status %ld, closed %d after %lld ms", raw.status,
		         raw.closed, (long long)raw.ms);
	tvh_raw_free(&raw);
	close(fd);
	/* the idle ones are all dropped after the 2 s timeout */
	closed = S_idle_wait_closed(fds, 2000, 20000);
	tvh_case();
	if (closed != 2000)
		fail_msg("only %zu of 2,000 idle connections were closed", closed);
	S_idle_close(fds, 2000);
	/* a body that stalls under its Content-Length: closed after the timeout */
	fd = tvh_raw_connect(s);
	assert_true(tvh_raw_send_str(fd, "POST " IMPORTS " HTTP/1.1\r\nHost: t\r\n"
	                                 "Content-Length: 1000\r\n\r\n{\"a\""));
	tvh_raw_read(&raw, fd, 10000);
	tvh_case();
	if (raw.status != 0 || !raw.closed || raw.ms < 1000)
		fail_msg("a stalled body: status %ld, closed %d after %lld ms", raw.status,
		         raw.closed, (long long)raw.ms);
	tvh_raw_free(&raw);
	close(fd);
	S_long_poll(s);
	tvh_alive(s, s->api_key);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);
}

/* A request on a new connection: 200, or nothing (closed at accept). */
static long S_try(const struct tvh_server *s)
{
	struct tvh_raw r;
	long status;

	tvh_raw_request(&r, s, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 53,
	                5000);
	status = r.status;
	tvh_raw_free(&r);
	return status;
}

/*
 * --max-connections: over it, libmicrohttpd stops accepting, so a new
 * connection waits in the kernel's listen queue, unanswered, until an idle
 * one times out; then it is served. --max-connections-per-ip: over it, a new
 * connection from that address is closed at accept.
 */
static void test_connection_caps(void **state)
{
	const char *const total[] = {
	    "--conn-timeout", "2", "--max-connections", "16", "--http-threads", "1", NULL};
	const char *const per_ip[] = {"--max-connections-per-ip", "4", "--http-threads", "1", NULL};
	struct tvh_server *s = tvh_test_server();
	struct pollfd pfd;
	struct tvh_raw r;
	int64_t deadline;
	int *fds, fd;
	long st;

	(void)state;
	tvh_init(s);
	tvh_start(s, total);
	fds = S_idle_open(s, 16);
	fd = tvh_raw_connect(s);
	assert_true(tvh_raw_send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
	pfd.fd = fd;
	pfd.events = POLLIN;
	tvh_case();
	if (poll(&pfd, 1, 1000) != 0)
		fail_msg(
		    "a 17th connection over --max-connections 16 was served or closed at once");
	tvh_raw_read(&r, fd, 15000);
	tvh_expect("the 17th connection, once the idle ones timed out", r.status, r.code, 200, -1,
	           r.body);
	tvh_raw_free(&r);
	close(fd);
	S_idle_close(fds, 16);
	tvh_alive(s, s->api_key);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);

	tvh_init(s);
	tvh_start(s, per_ip);
	fds = S_idle_open(s, 4);
	tvh_expect("a 5th connection over --max-connections-per-ip 4", S_try(s), -1, 0, -1, NULL);
	S_idle_close(fds, 4);
	deadline = tv_mono_ms() + 10000;
	while ((st = S_try(s)) != 200 && tv_mono_ms() < deadline)
		usleep(50000); /* poll interval */
	tvh_expect("a connection once ours are closed", st, -1, 200, -1, NULL);
	tvh_alive(s, s->api_key);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);
}

/* ---- the rate limit and the small caps ---------------------------------- */

static void test_rate_limit(void **state)
{
	const char *const extra[] = {"--rate", "1", "--rate-burst", "3", NULL};
	struct tvh_server *s = tvh_test_server();
	struct tvh_resp r;
	char *out = NULL, other_key[64];
	int64_t deadline;
	json_t *j;
	int i;

	(void)state;
	tvh_init(s);
	tvh_start(s, extra);
	for (i = 0; i < 3; i++)
		tvh_expect_http(s, "a request within the burst", "GET", "/v1/useraccounts",
		                s->api_key, NULL, 0, NULL, 200, -1);
	tvh_request(&r, s, "GET", "/v1/edgeinstances", s->api_key, NULL, 0, NULL);
	tvh_expect("a request over the rate", r.status, tvh_error_code(&r), 429, 10108, r.body);
	tvh_case();
	if (strcmp(r.retry_after, "1"))
		fail_msg("Retry-After is '%s', want 1", r.retry_after);
	tvh_resp_free(&r);
	tvh_expect_http(s, "a POST over the rate", "POST", IMPORTS, s->api_key, "{}", 2, NULL, 429,
	                10108);
	/* unauthenticated and unknown-key requests draw on no bucket */
	tvh_expect_http(s, "/healthz while the tenant is limited", "GET", "/healthz", NULL, NULL, 0,
	                NULL, 200, -1);
	tvh_expect_http(s, "a bad key while the tenant is limited", "GET", "/v1/useraccounts",
	                "00000000-0000-4000-8000-000000000000", NULL, 0, NULL, 401, 10501);
	/* another tenant has its own bucket */
	{
		const char *args[] = {TVD_PATH, "tenant", "create", "--data",
		                      s->dir,   "--name", "other",  NULL};
		assert_int_equal(tvh_run(&out, args), 0);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		snprintf(other_key, sizeof(other_key), "%s",
		         json_string_value(json_object_get(j, "apiKey")));
		json_decref(j);
		free(out);
	}
	tvh_expect_http(s, "another tenant while the first is limited", "GET", "/v1/useraccounts",
	                other_key, NULL, 0, NULL, 200, -1);
	/* the bucket refills: one request a second */
	deadline = tv_mono_ms() + 5000;
	do {
		tvh_request(&r, s, "GET", "/v1/useraccounts", s->api_key, NULL, 0, NULL);
		if (r.status == 200)
			break;
		assert_int_equal(r.status, 429);
		tvh_resp_free(&r);
		usleep(100000); /* poll interval */
	} while (tv_mono_ms() < deadline);
	tvh_expect("a request after the refill", r.status, tvh_error_code(&r), 200, -1, r.body);
	tvh_resp_free(&r);
	tvh_alive(s, NULL);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);
}

/* A chunked body that grows past --max-body 65536: drained, then 413. */
static void S_chunked_over(const struct tvh_server *s)
{
	char head[512], chunk[8192 + 16];
	struct tvh_raw r;
	int fd, n, i;

	n = snprintf(head, sizeof(head),
	             "POST /v1/apikeys HTTP/1.1\r\nHost: t\r\ntppl-api-key: %s\r\n"
	             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
	             "Connection: close\r\n\r\n",
	             s->api_key);
	fd = tvh_raw_connect(s);
	assert_true(tvh_raw_send(fd, head, (size_t)n));
	n = snprintf(chunk, sizeof(chunk), "2000\r\n");
	memset(chunk + n, ' ', 8192);
	memcpy(chunk + n + 8192, "\r\n", 2);
	for (i = 0; i < 10; i++) /* 80 KiB */
		assert_true(tvh_raw_send(fd, chunk, (size_t)n + 8192 + 2));
	assert_true(tvh_raw_send_str(fd, "0\r\n\r\n"));
	tvh_raw_read(&r, fd, 10000);
	tvh_expect("a chunked body over --max-body", r.status, r.code, 413, 10105, r.body);
	tvh_raw_free(&r);
	close(fd);
}

/* --max-items, --max-sans (trusted CAs), --max-key-bits, --max-body, chunked. */
static void test_small_caps(void **state)
{
	const char *const extra[] = {
	    "--max-items", "5",          "--max-sans", "10", "--max-key-bits",
	    "3072",        "--max-body", "65536",      NULL};
	struct tvh_server *s = tvh_test_server();
	struct tvh_items it;
	EVP_PKEY *key = tvh_craft_ec_key();
	X509 *x;
	json_t *items, *body;
	char *text, *pem, *big;
	int i;

	(void)state;
	tvh_init(s);
	tvh_start(s, extra);
	items = json_array();
	for (i = 0; i < 6; i++)
		json_array_append_new(items, json_pack("{s:s}", "pkcs12Keystore", "AA=="));
	body = tvh_envelope(s, items);
	text = json_dumps(body, JSON_COMPACT);
	tvh_expect_post(s, "6 items over --max-items 5", IMPORTS, text, 400, 10102);
	free(text);
	json_decref(body);
	/* a trusted CA with 11 SANs over --max-sans 10; 10 is fine */
	x = tvh_craft_cert(key, "ca11.example", -1, 21, true);
	tvh_craft_add_sans(x, 11);
	pem = tvh_craft_pem(tvh_craft_sign(x, key));
	body = json_pack("{s:[s]}", "encodedCertificates", pem);
	text = json_dumps(body, JSON_COMPACT);
	tvh_expect_post(s, "a trusted CA with 11 SANs over --max-sans 10",
	                "/v1/trustedcacertificates", text, 400, 10107);
	free(text);
	json_decref(body);
	free(pem);
	X509_free(x);
	x = tvh_craft_cert(key, "ca10.example", -1, 22, true);
	tvh_craft_add_sans(x, 10);
	pem = tvh_craft_pem(tvh_craft_sign(x, key));
	body = json_pack("{s:[s]}", "encodedCertificates", pem);
	text = json_dumps(body, JSON_COMPACT);
	tvh_expect_post(s, "a trusted CA with 10 SANs", "/v1/trustedcacertificates", text, 201, -1);
	free(text);
	json_decref(body);
	free(pem);
	X509_free(x);
	x = tvh_craft_cert(key, "cabad.example", -1, 23, true);
	tvh_craft_add_bad_san(x);
	pem = tvh_craft_pem(tvh_craft_sign(x, key));
	body = json_pack("{s:[s]}", "encodedCertificates", pem);
	text = json_dumps(body, JSON_COMPACT);
	tvh_expect_post(s, "a trusted CA with a malformed SAN", "/v1/trustedcacertificates", text,
	                400, 10107);
	free(text);
	json_decref(body);
	free(pem);
	X509_free(x);
	/* facts tlsvault can't store: refused whole, nothing stored */
	{
		X509 *good =
		    tvh_craft_sign(tvh_craft_cert(key, "good-ca.example", -1, 24, true), key);
		char *good_pem = tvh_craft_pem(good);
		struct tvh_resp r;

		x = tvh_craft_sign(tvh_craft_cert(key, "nul\0ca.example", 14, 25, true), key);
		pem = tvh_craft_pem(x);
		body = json_pack("{s:[s]}", "encodedCertificates", pem);
		text = json_dumps(body, JSON_COMPACT);
		tvh_expect_post(s, "a trusted CA with a NUL inside its CN",
		                "/v1/trustedcacertificates", text, 400, 10107);
		free(text);
		json_decref(body);
		body = json_pack("{s:[s,s]}", "encodedCertificates", good_pem, pem);
		text = json_dumps(body, JSON_COMPACT);
		tvh_expect_post(s, "a good CA, then one with a NUL in its CN",
		                "/v1/trustedcacertificates", text, 400, 10107);
		free(text);
		json_decref(body);
		tvh_request(&r, s, "GET", "/v1/trustedcacertificates", s->api_key, NULL, 0, NULL);
		tvh_case();
		assert_int_equal(r.status, 200);
		if (json_integer_value(json_object_get(r.json, "certificatesCount")) != 1)
			fail_msg("a refused upload stored something: %s", r.body);
		tvh_resp_free(&r);
		free(pem);
		free(good_pem);
		X509_free(x);
		X509_free(good);
	}
	/* a 4096-bit RSA keystore over --max-key-bits 3072; 2048 is fine */
	memset(&it, 0, sizeof(it));
	it.arr = json_array();
	tvh_dek_key(s, s->api_key, it.pk);
	{
		char *ks = tvh_file_b64(TVH_FIXTURES "/p12/openssl-default-rsa4096.p12");
		char *pw = tvh_seal_b64(it.pk, "fixture-pass", 12);

		tvh_items_add(
		    &it, "RSA-4096 over --max-key-bits 3072",
		    json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", pw),
		    "UNSUPPORTED_KEY_TYPE");
		free(ks);
		ks = tvh_file_b64(TVH_FIXTURES "/p12/openssl-default-rsa2048.p12");
		tvh_items_add(
		    &it, "RSA-2048 under the cap (control)",
		    json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", pw),
		    "SELF_SIGNED");
		free(ks);
		free(pw);
	}
	tvh_items_run(s, &it, false);
	/* a body over --max-body, declared and chunked */
	big = malloc(70000);
	assert_non_null(big);
	memset(big, ' ', 70000);
	big[0] = '{';
	big[69999] = '}';
	tvh_expect_http(s, "a declared body over --max-body", "POST", "/v1/apikeys", s->api_key,
	                big, 70000, "Expect: 100-continue", 413, 10105);
	free(big);
	S_chunked_over(s);
	tvh_alive(s, s->api_key);
	EVP_PKEY_free(key);
	assert_int_equal(tvh_stop(s, 0), 0);
	tvh_no_errors(s);
	tvh_cleanup(s);
}

/* Every test leaves its count; the matrix must hold 60 or more. */
/* Every limit has a flag and a variable in --help; out of range is a usage error (2). */
static void test_limit_flags(void **state)
{
	static const char *const names[][2] = {
	    {"--max-body", "TLSVAULT_MAX_BODY"},
	    {"--max-items", "TLSVAULT_MAX_ITEMS"},
	    {"--max-keystore", "TLSVAULT_MAX_KEYSTORE"},
	    {"--max-iterations", "TLSVAULT_MAX_ITERATIONS"},
	    {"--max-sans", "TLSVAULT_MAX_SANS"},
	    {"--max-key-bits", "TLSVAULT_MAX_KEY_BITS"},
	    {"--max-json-depth", "TLSVAULT_MAX_JSON_DEPTH"},
	    {"--max-connections", "TLSVAULT_MAX_CONNECTIONS"},
	    {"--max-connections-per-ip", "TLSVAULT_MAX_CONNECTIONS_PER_IP"},
	    {"--conn-timeout", "TLSVAULT_CONN_TIMEOUT"},
	    {"--rate", "TLSVAULT_RATE"},
	    {"--rate-burst", "TLSVAULT_RATE_BURST"},
	    {"--max-tenant-queue", "TLSVAULT_MAX_TENANT_QUEUE"},
	    {"--max-tenant-inflight", "TLSVAULT_MAX_TENANT_INFLIGHT"},
	};
	static const char *const bad[][2] = {
	    {"--max-items", "101"},
	    {"--max-items", "0"},
	    {"--max-sans", "0"},
	    {"--max-key-bits", "16385"},
	    {"--max-key-bits", "1024"},
	    {"--max-connections", "0"},
	    {"--conn-timeout", "0"},
	    {"--rate", "-1"},
	    {"--rate-burst", "0"},
	    {"--max-tenant-queue", "0"},
	    {"--max-tenant-inflight", "257"},
	    {"--max-body", "12abc"},
	};
	char *out = NULL;
	size_t i;

	(void)state;
	{
		const char *args[] = {TVD_PATH, "serve", "--help", NULL};

		assert_int_equal(tvh_run(&out, args), 0);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char flag[64];

		snprintf(flag, sizeof(flag), "%s ", names[i][0]);
		tvh_case();
		if (!strstr(out, flag) || !strstr(out, names[i][1]))
			fail_msg("serve --help lacks %s or %s", names[i][0], names[i][1]);
	}
	free(out);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = {TVD_PATH,  "serve",   "--data", "/nonexistent-tlsvault",
		                      bad[i][0], bad[i][1], NULL};

		tvh_case();
		if (tvh_run(NULL, args) != 2)
			fail_msg("serve %s %s is not a usage error", bad[i][0], bad[i][1]);
	}
	/* the variable is checked like the flag */
	setenv("TLSVAULT_RATE", "fast", 1);
	{
		const char *args[] = {TVD_PATH, "serve", "--data", "/nonexistent-tlsvault", NULL};

		tvh_case();
		assert_int_equal(tvh_run(NULL, args), 2);
	}
	unsetenv("TLSVAULT_RATE");
}

static void test_case_count(void **state)
{
	(void)state;
	print_message("connection and limit cases asserted: %d\n", tvh_case_count());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slowloris),   cmocka_unit_test(test_connection_caps),
	    cmocka_unit_test(test_rate_limit),  cmocka_unit_test(test_small_caps),
	    cmocka_unit_test(test_limit_flags), cmocka_unit_test(test_case_count),
	};
	struct rlimit rl;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	/* 2,000 connections need 2,000 descriptors here too */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	tvh_test_server_reap();
	return failed;
}
