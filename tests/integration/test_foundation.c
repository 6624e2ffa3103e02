/*
 * Integration tests of the foundation (issue 2): a real tlsvaultd on a
 * loopback port, driven over HTTP.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/b64.h"
#include "core/secmem.h"
#include "dek/dek.h"
#include "harness.h"
#include "store/store.h"
#include "svc/keyring.h"

static json_t *S_get(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	return v;
}

static const char *S_str(json_t *o, const char *key)
{
	const char *v = json_string_value(S_get(o, key));

	assert_non_null(v);
	return v;
}

/* Acceptance 2: one ACTIVE edge instance whose key is the served DEK. */
static void test_edge_instance_and_key(void **state)
{
	struct tvh_server s;
	struct tvh_resp r, k;
	json_t *edges, *e, *keys, *key;
	unsigned char pk[64];
	size_t pk_len = 0;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_request(&r, &s, "GET", "/v1/edgeinstances", s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_true(r.request_id[0] != '\0');
	edges = S_get(r.json, "edgeInstances");
	assert_int_equal(json_array_size(edges), 1);
	e = json_array_get(edges, 0);
	assert_string_equal(S_str(e, "id"), s.edge_id);
	assert_string_equal(S_str(e, "edgeStatus"), "ACTIVE");
	assert_string_equal(S_str(e, "edgeType"), "HUB");
	assert_string_equal(S_str(e, "companyId"), s.tenant_id);
	assert_string_equal(S_str(e, "encryptionKeyId"), s.key_id);
	assert_non_null(json_string_value(S_get(e, "lastSeenOnDate")));
	assert_true(json_is_false(S_get(e, "reconciliationFailed")));

	tvh_request(&k, &s, "GET", "/v1/edgeencryptionkeys", s.api_key, NULL, 0, NULL);
	assert_int_equal(k.status, 200);
	keys = S_get(k.json, "encryptionKeys");
	assert_int_equal(json_array_size(keys), 1);
	key = json_array_get(keys, 0);
	assert_string_equal(S_str(key, "id"), S_str(e, "encryptionKeyId"));
	assert_string_equal(S_str(key, "keyAlgorithm"), "ED25519");
	assert_int_equal(strlen(S_str(key, "key")), 44);
	assert_int_equal(tv_b64_decode_to(pk, sizeof(pk), &pk_len, S_str(key, "key"), 44), TV_OK);
	assert_int_equal(pk_len, 32);
	/* the id is base64url(SHA-256(key)) */
	{
		char id[TV_DEK_ID_STRLEN + 1];
		tv_dek_id(id, pk);
		assert_string_equal(id, S_str(key, "id"));
	}
	tvh_resp_free(&k);

	/* the single forms and the edgeInstanceId filter */
	{
		char path[256];
		snprintf(path, sizeof(path), "/v1/edgeinstances/%s", s.edge_id);
		tvh_request(&k, &s, "GET", path, s.api_key, NULL, 0, NULL);
		assert_int_equal(k.status, 200);
		assert_string_equal(S_str(k.json, "id"), s.edge_id);
		tvh_resp_free(&k);
		snprintf(path, sizeof(path), "/v1/edgeencryptionkeys/%s", s.key_id);
		tvh_request(&k, &s, "GET", path, s.api_key, NULL, 0, NULL);
		assert_int_equal(k.status, 200);
		assert_string_equal(S_str(k.json, "id"), s.key_id);
		tvh_resp_free(&k);
		snprintf(path, sizeof(path), "/v1/edgeencryptionkeys?edgeInstanceId=%s", s.edge_id);
		tvh_request(&k, &s, "GET", path, s.api_key, NULL, 0, NULL);
		assert_int_equal(json_array_size(S_get(k.json, "encryptionKeys")), 1);
		tvh_resp_free(&k);
		tvh_request(&k, &s, "GET",
			    "/v1/edgeencryptionkeys?edgeInstanceId=00000000-0000-4000-8000-000000000000",
			    s.api_key, NULL, 0, NULL);
		assert_int_equal(json_array_size(S_get(k.json, "encryptionKeys")), 0);
		tvh_resp_free(&k);
	}
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

/*
 * Acceptance 2, second half: a message sealed (crypto_box_seal) to the key the
 * server publishes opens through the server's DEK code path: the keyring,
 * loaded from the same data directory and master key the server uses.
 */
static void test_sealed_message_opens(void **state)
{
	static const char msg[] = "pässwörd-密码";
	struct tv_secbuf *master = NULL, *plain = NULL;
	struct tv_keyring *kr = NULL;
	struct tv_store *store = NULL;
	struct tvh_server s;
	struct tvh_resp r;
	unsigned char pk[64], sealed[sizeof(msg) + TV_SEAL_OVERHEAD];
	char path[400], url[400];
	size_t pk_len = 0;
	json_t *key;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_request(&r, &s, "GET", "/v1/edgeencryptionkeys", s.api_key, NULL, 0, NULL);
	key = json_array_get(S_get(r.json, "encryptionKeys"), 0);
	assert_int_equal(tv_b64_decode_to(pk, sizeof(pk), &pk_len, S_str(key, "key"), 44), TV_OK);
	/* what every client does: crypto_box_seal(utf8, pk) */
	assert_int_equal(crypto_box_seal(sealed, (const unsigned char *)msg, sizeof(msg) - 1, pk), 0);

	snprintf(path, sizeof(path), "%s/master.key", s.dir);
	snprintf(url, sizeof(url), "sqlite:%s/tlsvault.db", s.dir);
	assert_int_equal(tv_master_load(&master, path), TV_OK);
	assert_int_equal(tv_store_open(&store, url, false), TV_OK);
	assert_int_equal(tv_keyring_new(&kr, store, master), TV_OK);
	assert_int_equal(tv_keyring_unseal(kr, &plain, s.tenant_id, s.key_id, sealed,
					   sizeof(msg) - 1 + TV_SEAL_OVERHEAD),
			 TV_OK);
	assert_int_equal(plain->len, sizeof(msg) - 1);
	assert_memory_equal(plain->p, msg, sizeof(msg) - 1);
	tv_secbuf_free(plain);
	/* a box altered by one bit does not open */
	sealed[40] ^= 1;
	assert_int_equal(tv_keyring_unseal(kr, &plain, s.tenant_id, s.key_id, sealed,
					   sizeof(msg) - 1 + TV_SEAL_OVERHEAD),
			 TV_ERR_CRYPTO);
	/* another tenant's id does not reach this DEK */
	assert_int_equal(tv_keyring_unseal(kr, &plain, "00000000-0000-4000-8000-000000000000",
					   s.key_id, sealed, sizeof(sealed)),
			 TV_ERR_NOT_FOUND);
	tv_keyring_free(kr);
	tv_store_close(store);
	tv_secbuf_free(master);
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

static void S_expect(const struct tvh_server *s, const char *method, const char *path,
		     const char *key, const char *body, long status, int code)
{
	struct tvh_resp r;

	tvh_request(&r, s, method, path, key, body, body ? strlen(body) : 0, NULL);
	if (r.status != status || tvh_error_code(&r) != code)
		fail_msg("%s %s: got %ld/%d, want %ld/%d: %s", method, path, r.status,
			 tvh_error_code(&r), status, code, r.body ? r.body : "");
	assert_true(r.request_id[0] != '\0');
	assert_string_equal(r.content_type, "application/json");
	tvh_resp_free(&r);
}

/* Create a key with role over the API; returns it in out. */
static void S_new_key(const struct tvh_server *s, const char *role, char *out, size_t size,
		      char *id, size_t id_size)
{
	char body[128];
	struct tvh_resp r;

	snprintf(body, sizeof(body), "{\"name\":\"t-%s\",\"role\":\"%s\",\"validityDays\":30}",
		 role, role);
	tvh_request(&r, s, "POST", "/v1/apikeys", s->api_key, body, strlen(body), NULL);
	assert_int_equal(r.status, 201);
	snprintf(out, size, "%s", S_str(r.json, "key"));
	if (id)
		snprintf(id, id_size, "%s", S_str(r.json, "id"));
	assert_string_equal(S_str(r.json, "role"), role);
	assert_non_null(json_string_value(S_get(r.json, "validityEndDate")));
	tvh_resp_free(&r);
}

/* Acceptance 3: every error of the matrix. */
static void test_error_matrix(void **state)
{
	const char *const extra[] = { "--max-body", "4096", "--max-json-depth", "8", NULL };
	struct tvh_server s;
	struct tvh_resp r;
	char ro[64], path[256], *big, *out = NULL;
	json_t *b;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, extra);
	/* no header */
	S_expect(&s, "GET", "/v1/edgeinstances", NULL, NULL, 401, 1004);
	tvh_request(&r, &s, "GET", "/v1/useraccounts", NULL, NULL, 0, NULL);
	assert_string_equal(S_str(json_array_get(S_get(r.json, "errors"), 0), "message"),
			    "Invalid or missing request header [SESSION, tppl-api-key]");
	tvh_resp_free(&r);
	/* a wrong key, in both header forms */
	S_expect(&s, "GET", "/v1/edgeinstances", "11111111-2222-4333-8444-555555555555", NULL, 401,
		 10501);
	tvh_request(&r, &s, "GET", "/v1/useraccounts", NULL, NULL, 0,
		    "Authorization: Bearer 11111111-2222-4333-8444-555555555555");
	assert_int_equal(r.status, 401);
	assert_int_equal(tvh_error_code(&r), 10501);
	tvh_resp_free(&r);
	{
		char hdr[128];
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", s.api_key);
		tvh_request(&r, &s, "GET", "/v1/useraccounts", NULL, NULL, 0, hdr);
		assert_int_equal(r.status, 200);
		assert_string_equal(S_str(S_get(r.json, "company"), "id"), s.tenant_id);
		tvh_resp_free(&r);
	}
	/* tenant B can't see tenant A's edge instance (created while A's server runs) */
	{
		const char *args[] = { TVD_PATH, "tenant", "create", "--data", s.dir,
				       "--name", "tenant-b", NULL };
		assert_int_equal(tvh_run(&out, args), 0);
		b = json_loads(out, 0, NULL);
		assert_non_null(b);
		snprintf(path, sizeof(path), "/v1/edgeinstances/%s", s.edge_id);
		S_expect(&s, "GET", path, S_str(b, "apiKey"), NULL, 404, 10404);
		snprintf(path, sizeof(path), "/v1/edgeencryptionkeys/%s", s.key_id);
		S_expect(&s, "GET", path, S_str(b, "apiKey"), NULL, 404, 10404);
		tvh_request(&r, &s, "GET", "/v1/edgeinstances", S_str(b, "apiKey"), NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		assert_int_equal(json_array_size(S_get(r.json, "edgeInstances")), 1);
		assert_string_equal(S_str(json_array_get(S_get(r.json, "edgeInstances"), 0), "id"),
				    S_str(b, "edgeInstanceId"));
		tvh_resp_free(&r);
		json_decref(b);
		free(out);
	}
	/* a READ_ONLY key may read but not manage keys */
	S_new_key(&s, "READ_ONLY", ro, sizeof(ro), NULL, 0);
	S_expect(&s, "POST", "/v1/apikeys", ro, "{\"name\":\"x\",\"role\":\"ADMIN\"}", 403, 10601);
	S_expect(&s, "GET", "/v1/apikeys", ro, NULL, 403, 10601);
	tvh_request(&r, &s, "GET", "/v1/edgeinstances", ro, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	tvh_resp_free(&r);
	/* unknown path, wrong method */
	S_expect(&s, "GET", "/v1/nosuchthing", s.api_key, NULL, 404, 10405);
	S_expect(&s, "GET", "/nope", NULL, NULL, 404, 10405);
	tvh_request(&r, &s, "PUT", "/v1/apikeys", s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 405);
	assert_int_equal(tvh_error_code(&r), 10406);
	assert_string_equal(r.allow, "GET, POST");
	tvh_resp_free(&r);
	/* malformed JSON: 400/10100 with line and column */
	{
		static const char bad[] = "{\n  \"name\": \"x\",\n  oops\n}";
		tvh_request(&r, &s, "POST", "/v1/apikeys", s.api_key, bad, sizeof(bad) - 1, NULL);
	}
	assert_int_equal(r.status, 400);
	assert_int_equal(tvh_error_code(&r), 10100);
	assert_non_null(strstr(S_str(json_array_get(S_get(r.json, "errors"), 0), "message"),
			       "line 3, column"));
	tvh_resp_free(&r);
	/* too deep, wrong type, unknown field, wrong content type */
	S_expect(&s, "POST", "/v1/apikeys", s.api_key,
		 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		 400, 10100);
	/* 9 levels: over the --max-json-depth 8 this server runs with */
	S_expect(&s, "POST", "/v1/apikeys", s.api_key, "[[[[[[[[[1]]]]]]]]]", 400, 10100);
	S_expect(&s, "POST", "/v1/apikeys", s.api_key, "{\"name\":\"x\",\"role\":\"KING\"}", 400,
		 10101);
	S_expect(&s, "POST", "/v1/apikeys", s.api_key,
		 "{\"name\":\"x\",\"role\":\"ADMIN\",\"extra\":1}", 400, 10101);
	tvh_request(&r, &s, "POST", "/v1/apikeys", s.api_key, "{}", 2, "Content-Type: text/plain");
	assert_int_equal(r.status, 415);
	assert_int_equal(tvh_error_code(&r), 10106);
	tvh_resp_free(&r);
	/* an oversized body (the cap is 4096 here) */
	big = malloc(10000);
	memset(big, ' ', 10000);
	big[0] = '{';
	big[9999] = '}';
	/* as clients send big bodies: Expect: 100-continue, answered 413 unread */
	tvh_request(&r, &s, "POST", "/v1/apikeys", s.api_key, big, 10000, "Expect: 100-continue");
	assert_int_equal(r.status, 413);
	assert_int_equal(tvh_error_code(&r), 10105);
	tvh_resp_free(&r);
	/* chunked, with no Content-Length: drained, then 413 */
	tvh_request(&r, &s, "POST", "/v1/apikeys", s.api_key, big, 10000,
		    "Transfer-Encoding: chunked");
	assert_int_equal(r.status, 413);
	assert_int_equal(tvh_error_code(&r), 10105);
	tvh_resp_free(&r);
	free(big);
	/* the server still answers on a fresh request afterwards */
	tvh_request(&r, &s, "GET", "/healthz", NULL, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

/* Hash a file's bytes so "changes nothing" can be checked exactly. */
static void S_file_hash(unsigned char out[32], const char *path)
{
	size_t len = 0;
	char *buf = tvh_read_file(path, &len);

	assert_non_null(buf);
	crypto_hash_sha256(out, (const unsigned char *)buf, len);
	free(buf);
}

/* Acceptance 4: init twice, file modes, and no plaintext secret at rest. */
static void test_init_twice_and_secrets_at_rest(void **state)
{
	struct tv_secbuf *master = NULL, *sk = NULL;
	struct tv_store *store = NULL;
	struct tv_dek *deks = NULL;
	unsigned char h1[32], h2[32], k1[32], k2[32];
	char key_path[300], db_path[300], wal_path[320], url[320], aad[160];
	struct tvh_server s;
	struct stat st;
	size_t n = 0;

	(void)state;
	tvh_init(&s);
	snprintf(key_path, sizeof(key_path), "%s/master.key", s.dir);
	snprintf(db_path, sizeof(db_path), "%s/tlsvault.db", s.dir);
	snprintf(wal_path, sizeof(wal_path), "%s-wal", db_path);
	assert_int_equal(stat(key_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(stat(db_path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	S_file_hash(k1, key_path);
	S_file_hash(h1, db_path);
	{
		const char *args[] = { TVD_PATH, "init", "--data", s.dir, NULL };
		char *out = NULL;
		assert_int_equal(tvh_run(&out, args), 1);
		assert_string_equal(out, ""); /* no new key printed */
		free(out);
	}
	S_file_hash(k2, key_path);
	S_file_hash(h2, db_path);
	assert_memory_equal(k1, k2, 32);
	assert_memory_equal(h1, h2, 32);

	/* unwrap the DEK secret key the way the server does, then look for it */
	snprintf(url, sizeof(url), "sqlite:%s", db_path);
	assert_int_equal(tv_master_load(&master, key_path), TV_OK);
	assert_int_equal(tv_store_open(&store, url, false), TV_OK);
	assert_int_equal(store->ops->dek_list(store, NULL, &deks, &n), TV_OK);
	assert_int_equal(n, 1);
	tv_dek_wrap_aad(aad, sizeof(aad), deks[0].id, deks[0].tenant_id);
	assert_int_equal(tv_unwrap(&sk, master, deks[0].wrapped_sk, deks[0].wrapped_len, aad),
			 TV_OK);
	assert_int_equal(sk->len, 32);
	/* the wrap is bound to its row: another tenant id does not unwrap it */
	{
		struct tv_secbuf *other = NULL;
		tv_dek_wrap_aad(aad, sizeof(aad), deks[0].id, "00000000-0000-4000-8000-000000000000");
		assert_int_equal(tv_unwrap(&other, master, deks[0].wrapped_sk, deks[0].wrapped_len,
					   aad),
				 TV_ERR_CRYPTO);
	}
	tv_store_close(store);
	assert_false(tvh_file_contains(db_path, sk->p, sk->len));
	assert_false(tvh_file_contains(wal_path, sk->p, sk->len));
	assert_false(tvh_file_contains(db_path, master->p, master->len));
	assert_false(tvh_file_contains(db_path, s.api_key, strlen(s.api_key)));
	assert_false(tvh_file_contains(wal_path, s.api_key, strlen(s.api_key)));
	/* ...while the public key and the key's hash are there */
	assert_true(tvh_file_contains(db_path, deks[0].public_key, 32) ||
		    tvh_file_contains(wal_path, deks[0].public_key, 32));
	free(deks);
	tv_secbuf_free(sk);
	tv_secbuf_free(master);
	tvh_cleanup(&s);
}

/* Acceptance 5: kill -9, restart on the same directory, same state. */
static void test_kill9_restart(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;
	char ro[64], before[512], *p;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	S_new_key(&s, "READ_ONLY", ro, sizeof(ro), NULL, 0);
	tvh_request(&r, &s, "GET", "/v1/edgeencryptionkeys", s.api_key, NULL, 0, NULL);
	p = json_dumps(json_array_get(S_get(r.json, "encryptionKeys"), 0), JSON_SORT_KEYS);
	snprintf(before, sizeof(before), "%s", p);
	free(p);
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&s, SIGKILL), -1);

	tvh_start(&s, NULL);
	tvh_request(&r, &s, "GET", "/v1/edgeencryptionkeys", s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	p = json_dumps(json_array_get(S_get(r.json, "encryptionKeys"), 0), JSON_SORT_KEYS);
	assert_string_equal(p, before);
	free(p);
	tvh_resp_free(&r);
	/* the key made before the crash still works, with its role */
	tvh_request(&r, &s, "GET", "/v1/useraccounts", ro, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(S_get(r.json, "apiKey"), "role"), "READ_ONLY");
	assert_string_equal(S_str(S_get(r.json, "company"), "id"), s.tenant_id);
	tvh_resp_free(&r);
	tvh_request(&r, &s, "GET", "/v1/edgeinstances", s.api_key, NULL, 0, NULL);
	assert_string_equal(S_str(json_array_get(S_get(r.json, "edgeInstances"), 0), "edgeStatus"),
			    "ACTIVE");
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

/* Acceptance 6: a revoked key is refused at once; keys are listed, never shown. */
static void test_revoke_and_list(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;
	char key[64], id[64], path[128];
	json_t *keys;
	size_t i;
	bool seen = false;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	S_new_key(&s, "PKI_ADMIN", key, sizeof(key), id, sizeof(id));
	tvh_request(&r, &s, "GET", "/v1/useraccounts", key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	tvh_resp_free(&r);

	tvh_request(&r, &s, "GET", "/v1/apikeys", s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	keys = S_get(r.json, "apiKeys");
	assert_int_equal(json_array_size(keys), 2);
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		assert_null(json_object_get(k, "key"));
		assert_true(json_is_false(S_get(k, "revoked")));
		if (!strcmp(S_str(k, "id"), id))
			seen = true;
	}
	assert_true(seen);
	assert_null(strstr(r.body, key));
	tvh_resp_free(&r);

	snprintf(path, sizeof(path), "/v1/apikeys/%s", id);
	tvh_request(&r, &s, "DELETE", path, s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 204);
	tvh_resp_free(&r);
	S_expect(&s, "GET", "/v1/useraccounts", key, NULL, 401, 10501);
	S_expect(&s, "DELETE", path, s.api_key, NULL, 404, 10404);
	S_expect(&s, "DELETE", "/v1/apikeys/not-a-uuid", s.api_key, NULL, 404, 10404);

	/* a key made with the CLI while the server runs works at once */
	{
		const char *args[] = { TVD_PATH, "apikey", "create", "--data", s.dir, "--tenant",
				       s.tenant_id, "--role", "READ_ONLY", "--name", "cli-made",
				       NULL };
		char *out = NULL;
		json_t *j;

		assert_int_equal(tvh_run(&out, args), 0);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		tvh_request(&r, &s, "GET", "/v1/useraccounts", S_str(j, "apiKey"), NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		assert_string_equal(S_str(S_get(r.json, "user"), "username"), "cli-made");
		tvh_resp_free(&r);
		json_decref(j);
		free(out);
	}
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	/* nothing secret reached the log: no API key, in any form */
	assert_false(tvh_file_contains(s.log_path, key, strlen(key)));
	assert_false(tvh_file_contains(s.log_path, s.api_key, strlen(s.api_key)));
	tvh_cleanup(&s);
}

/* Operations endpoints, usage errors and the non-loopback refusal. */
static void test_ops_and_usage(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_request(&r, &s, "GET", "/healthz", NULL, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(r.json, "status"), "ok");
	tvh_resp_free(&r);
	tvh_request(&r, &s, "GET", "/readyz", NULL, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&s, SIGINT), 0);
	{
		const char *a1[] = { TVD_PATH, "serve", "--data", s.dir, "--listen", "0.0.0.0:0", NULL };
		const char *a2[] = { TVD_PATH, "serve", "--bogus", NULL };
		const char *a3[] = { TVD_PATH, "frobnicate", NULL };
		const char *a4[] = { TVD_PATH, "version", NULL };
		const char *a5[] = { TVD_PATH, "serve", "--help", NULL };
		const char *a6[] = { TVD_PATH, "serve", "--data", "/nonexistent-tlsvault", NULL };
		char *out = NULL;

		assert_int_equal(tvh_run(NULL, a1), 2);
		assert_int_equal(tvh_run(NULL, a2), 2);
		assert_int_equal(tvh_run(NULL, a3), 2);
		assert_int_equal(tvh_run(&out, a4), 0);
		assert_non_null(strstr(out, "tlsvaultd "));
		free(out);
		assert_int_equal(tvh_run(&out, a5), 0);
		assert_non_null(strstr(out, "--listen"));
		free(out);
		assert_int_equal(tvh_run(NULL, a6), 1);
	}
	tvh_cleanup(&s);
}

/* HTTPS through libmicrohttpd's TLS, verified against the server's own cert. */
static void test_https(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;
	char cmd[1024], cert[300], key[300];
	const char *extra[5];

	(void)state;
	tvh_init(&s);
	snprintf(cert, sizeof(cert), "%s/tls.crt", s.dir);
	snprintf(key, sizeof(key), "%s/tls.key", s.dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s'"
		 " -out '%s' -subj /CN=localhost -addext subjectAltName=DNS:localhost -days 2"
		 " 2>/dev/null", key, cert);
	assert_int_equal(system(cmd), 0);
	extra[0] = "--tls-cert";
	extra[1] = cert;
	extra[2] = "--tls-key";
	extra[3] = key;
	extra[4] = NULL;
	tvh_start(&s, extra);
	s.cacert = cert;
	tvh_request(&r, &s, "GET", "/v1/useraccounts", s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(S_get(r.json, "company"), "id"), s.tenant_id);
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_instance_and_key),
		cmocka_unit_test(test_sealed_message_opens),
		cmocka_unit_test(test_error_matrix),
		cmocka_unit_test(test_init_twice_and_secrets_at_rest),
		cmocka_unit_test(test_kill9_restart),
		cmocka_unit_test(test_revoke_and_list),
		cmocka_unit_test(test_ops_and_usage),
		cmocka_unit_test(test_https),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("integration/foundation", tests, NULL, NULL);
}
