/*
 * Integration test of per-tenant fairness and the queue cap (issue 7):
 * tenant A queues 2,000 slow items; tenant B's one-item job, posted after
 * them, still finishes within seconds, while almost all of A's items are
 * still waiting. A's next 100 items are refused with 429/10108 and Retry-After,
 * while B's job (its own queue) is accepted.
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

#include "core/util.h"
#include "importing.h"

#define PASS    "fixture-pass"
#define A_JOBS  20
#define A_ITEMS 100

/* A keystore whose KDFs take a while (100,000 iterations each): the items
 * of tenant A keep both workers busy for minutes. */
static char *S_slow_keystore(const struct tvh_server *s)
{
	char path[320], cmd[1024], *b64;

	snprintf(path, sizeof(path), "%s/slow.p12", s->dir);
	snprintf(cmd, sizeof(cmd),
	         "openssl pkcs12 -export -inkey %s/keys/p256.key.pem -in %s/keys/p256.crt.pem"
	         " -passout pass:%s -iter 100000 -maciter -out %s 2>/dev/null",
	         TVH_FIXTURES, TVH_FIXTURES, PASS, path);
	assert_int_equal(system(cmd), 0);
	b64 = tvh_file_b64(path);
	assert_non_null(b64);
	return b64;
}

static json_t *S_items(const unsigned char pk[32], const char *ks_b64, int n)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < n; i++) {
		char *sealed = tvh_seal_b64(pk, PASS, strlen(PASS));
		json_array_append_new(arr, json_pack("{s:s,s:s}", "pkcs12Keystore", ks_b64,
		                                     "dekEncryptedPassword", sealed));
		free(sealed);
	}
	return arr;
}

/* Items of job id that are final (not PROCESSING), seen through the API. */
static int S_final_items(const struct tvh_server *s, const char *key, const char *id)
{
	char path[256];
	struct tvh_resp r;
	json_t *res, *v;
	size_t i;
	int n = 0;

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s", id);
	tvh_request(&r, s, "GET", path, key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	res = json_object_get(r.json, "results");
	json_array_foreach(res, i, v) n +=
	    strcmp(json_string_value(json_object_get(v, "status")), "PROCESSING") != 0;
	tvh_resp_free(&r);
	return n;
}

static struct tvh_server S_a;

/* Stop the server even when an assertion failed half-way. */
static int S_teardown(void **state)
{
	(void)state;
	tvh_cleanup(&S_a);
	return 0;
}

static void test_one_tenant_cannot_starve_another(void **state)
{
	const char *extra[] = {"--workers", "2", "--max-tenant-queue", "2000", NULL};
	const char *create[] = {TVD_PATH, "tenant", "create",   "--data",
	                        NULL,     "--name", "tenant-b", NULL};
	struct tvh_server b;
	unsigned char pk_a[32], pk_b[32];
	char *ks, *ids[A_JOBS], *b_job, *out = NULL, *text;
	struct tvh_resp r;
	json_t *tb, *job;
	int64_t t0, waited;
	int i, a_final = 0;

	(void)state;
	tvh_init(&S_a);
	create[4] = S_a.dir;
	assert_int_equal(tvh_run(&out, create), 0);
	tb = json_loads(out, 0, NULL);
	assert_non_null(tb);
	free(out);
	b = S_a;
	snprintf(b.tenant_id, sizeof(b.tenant_id), "%s",
	         json_string_value(json_object_get(tb, "tenantId")));
	snprintf(b.api_key, sizeof(b.api_key), "%s",
	         json_string_value(json_object_get(tb, "apiKey")));
	snprintf(b.edge_id, sizeof(b.edge_id), "%s",
	         json_string_value(json_object_get(tb, "edgeInstanceId")));
	snprintf(b.key_id, sizeof(b.key_id), "%s",
	         json_string_value(json_object_get(tb, "encryptionKeyId")));
	json_decref(tb);
	tvh_start(&S_a, extra);
	b.port = S_a.port;
	b.pid = 0; /* a owns the process */
	tvh_dek_key(&S_a, S_a.api_key, pk_a);
	tvh_dek_key(&b, b.api_key, pk_b);

	/* tenant A fills its queue: 20 jobs of 100 slow items */
	ks = S_slow_keystore(&S_a);
	for (i = 0; i < A_JOBS; i++)
		ids[i] = tvh_post_job(&S_a, S_a.api_key,
		                      tvh_envelope(&S_a, S_items(pk_a, ks, A_ITEMS)), NULL);
	/* 100 more items of A are over its queue cap (2,000 not yet final:
	 * fewer than 100 of A's items can have finished by now) */
	job = tvh_envelope(&S_a, S_items(pk_a, ks, A_ITEMS));
	text = json_dumps(job, JSON_COMPACT);
	json_decref(job);
	tvh_request(&r, &S_a, "POST", "/outagedetection/v1/certificates/imports", S_a.api_key, text,
	            strlen(text), NULL);
	assert_int_equal(r.status, 429);
	assert_int_equal(tvh_error_code(&r), 10108);
	assert_true(atoi(r.retry_after) >= 1);
	tvh_resp_free(&r);
	free(text);

	/* tenant B's one item, posted after all of A's, is served at once */
	t0 = tv_mono_ms();
	{
		char *fixture = tvh_file_b64(TVH_FIXTURES "/p12/openssl-default-p256.p12");
		b_job =
		    tvh_post_job(&b, b.api_key, tvh_envelope(&b, S_items(pk_b, fixture, 1)), NULL);
		free(fixture);
	}
	job = tvh_wait_job(&b, b.api_key, b_job);
	waited = tv_mono_ms() - t0;
	json_decref(job);
	for (i = 0; i < A_JOBS; i++)
		a_final += S_final_items(&S_a, S_a.api_key, ids[i]);
	print_message("tenant B's job was final after %lld ms; tenant A had %d of %d items "
	              "final\n",
	              (long long)waited, a_final, A_JOBS * A_ITEMS);
	/* FIFO would have put B behind minutes of A's work */
	assert_true(waited < 15000);
	assert_true(a_final < A_JOBS * A_ITEMS / 10);
	free(b_job);
	assert_int_equal(tvh_stop(&S_a, 0), 0);
	for (i = 0; i < A_JOBS; i++)
		free(ids[i]);
	free(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_one_tenant_cannot_starve_another, S_teardown),
	};

	return cmocka_run_group_tests_name("integration/fairness", tests, NULL, NULL);
}
