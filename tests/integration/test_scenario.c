/*
 * A short end-to-end scenario: trust a root, import three keystores (one
 * with its chain), search, read a certificate, export it as PKCS#12 and
 * PEM, and stop the server cleanly. Under ASan it is one more integration
 * test; `make test` also runs it with the server under valgrind memcheck
 * (TVH_SERVER_WRAPPER), where the server's exit status is valgrind's: any
 * invalid read or leak fails the test.
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

#define PASS "fixture-pass"

static struct tvh_server S_s;

static int S_teardown(void **state)
{
	(void)state;
	tvh_cleanup(&S_s);
	return 0;
}

static json_t *S_item(const unsigned char pk[32], const char *name)
{
	char path[512], *ks, *sealed = tvh_seal_b64(pk, PASS, strlen(PASS));
	json_t *o;

	snprintf(path, sizeof(path), "%s/p12/%s", TVH_FIXTURES, name);
	ks = tvh_file_b64(path);
	o = json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", sealed);
	free(ks);
	free(sealed);
	return o;
}

static void S_export(const unsigned char pk[32], const char *id, const char *fmt,
		     long want_status)
{
	char *sp = tvh_seal_b64(pk, "Exp0rt-pass", 11), path[200], body[1024];
	struct tvh_resp r;

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", id);
	snprintf(body, sizeof(body),
		 "{\"exportFormat\":\"%s\",\"encryptedPrivateKeyPassphrase\":\"%s\"}", fmt, sp);
	tvh_request(&r, &S_s, "POST", path, S_s.api_key, body, strlen(body), NULL);
	assert_int_equal(r.status, want_status);
	assert_true(r.len > 100);
	tvh_resp_free(&r);
	free(sp);
}

static void test_scenario(void **state)
{
	static const char *const names[] = { "openssl-chain-leaf.p12", "openssl-default-p256.p12",
					     "openssl-default-rsa2048.p12" };
	const char *pems[3];
	char *owned[3], *id, path[200];
	unsigned char pk[32];
	json_t *items = json_array(), *job;
	struct tvh_resp r;
	int i;

	(void)state;
	tvh_init(&S_s);
	tvh_start(&S_s, (const char *const[]){ "--workers", "2", NULL });
	tvh_dek_key(&S_s, S_s.api_key, pk);
	/* the chain's root, and the two self-signed leaves, as trusted */
	pems[0] = owned[0] = tvh_read_file(TVH_FIXTURES "/keys/ca.crt.pem", NULL);
	pems[1] = owned[1] = tvh_read_file(TVH_FIXTURES "/keys/p256.crt.pem", NULL);
	pems[2] = owned[2] = tvh_read_file(TVH_FIXTURES "/keys/rsa2048.crt.pem", NULL);
	tvh_trust(&S_s, S_s.api_key, pems, 3);
	for (i = 0; i < 3; i++) {
		json_array_append_new(items, S_item(pk, names[i]));
		free(owned[i]);
	}
	id = tvh_post_job(&S_s, S_s.api_key, tvh_envelope(&S_s, items), NULL);
	job = tvh_wait_job(&S_s, S_s.api_key, id);
	for (i = 0; i < 3; i++) {
		json_t *res = tvh_result(job, i);
		if (strcmp(json_string_value(json_object_get(res, "status")), "IMPORTED"))
			fail_msg("item %d: %s", i,
				 json_string_value(json_object_get(res, "reason")));
	}
	/* a search, and one certificate */
	{
		static const char q[] = "{\"expression\":{\"field\":\"keyStrength\","
					"\"operator\":\"GTE\",\"value\":2048}}";
		tvh_request(&r, &S_s, "POST", "/outagedetection/v1/certificatesearch",
			    S_s.api_key, q, strlen(q), NULL);
	}
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 1);
	tvh_resp_free(&r);
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s",
		 json_string_value(json_object_get(tvh_result(job, 1), "certificateId")));
	tvh_request(&r, &S_s, "GET", path, S_s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	tvh_resp_free(&r);
	/* exports */
	S_export(pk, json_string_value(json_object_get(tvh_result(job, 0), "certificateId")),
		 "PKCS12", 200);
	S_export(pk, json_string_value(json_object_get(tvh_result(job, 2), "certificateId")), "PEM",
		 200);
	json_decref(job);
	free(id);
	/* a clean stop: under valgrind this is where leaks are counted */
	assert_int_equal(tvh_stop(&S_s, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_scenario, S_teardown),
	};

	return cmocka_run_group_tests_name("integration/scenario", tests, NULL, NULL);
}
