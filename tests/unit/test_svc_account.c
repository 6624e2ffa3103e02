/* tv-test-libs: tv_svc */
/* tv-test-pg: both */
/* Unit tests of src/svc: tenants, API keys and the keyring (on SQLite, and
 * on PostgreSQL under unit-pg/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dek/dek.h"
#include "svc/account.h"
#include "svc/keyring.h"
#include "test_db.h"

struct S_env {
	struct tvt_db db;
	struct tv_store *st;
	struct tv_secbuf *master;
};

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));

	if (!e || tvt_db_new(&e->db, "svc"))
		return -1;
	if (tv_store_open(&e->st, e->db.url, true) || tv_secbuf_new(&e->master, 32))
		return -1;
	randombytes_buf(e->master->p, 32);
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;
	int rc;

	tv_store_close(e->st);
	tv_secbuf_free(e->master);
	rc = tvt_db_drop(&e->db);
	free(e);
	return rc;
}

static void test_tenant_and_keys(void **state)
{
	struct S_env *e = *state;
	struct tv_tenant_created a = { 0 }, b = { 0 };
	struct tv_secbuf *key = NULL;
	struct tv_apikey rec, got;

	assert_int_equal(tv_svc_tenant_create(&a, e->st, e->master, "acme"), TV_OK);
	assert_int_equal(tv_svc_tenant_create(&b, e->st, e->master, "acme"), TV_ERR_EXISTS);
	assert_int_equal(tv_svc_tenant_create(&b, e->st, e->master, ""), TV_ERR_INVALID);
	assert_int_equal(a.api_key->len, TV_APIKEY_STRLEN);
	assert_true(tv_uuid_valid((const char *)a.api_key->p)); /* VenafiPS: Test-IsGuid */
	assert_int_equal(strlen(a.encryption_key_id), TV_DEK_ID_STRLEN);

	/* the first key is ADMIN and checks out */
	assert_int_equal(tv_svc_apikey_check(&got, e->st, (const char *)a.api_key->p,
					     a.api_key->len),
			 TV_OK);
	assert_int_equal(got.role, TV_ROLE_ADMIN);
	assert_string_equal(got.tenant_id, a.tenant_id);
	/* one bit off, empty, or absurdly long: denied */
	a.api_key->p[0] ^= 1;
	assert_int_equal(tv_svc_apikey_check(&got, e->st, (const char *)a.api_key->p,
					     a.api_key->len),
			 TV_ERR_DENIED);
	assert_int_equal(tv_svc_apikey_check(&got, e->st, "", 0), TV_ERR_DENIED);

	/* a new key; revoked → denied */
	assert_int_equal(tv_svc_apikey_create(&rec, &key, e->st, a.tenant_id, TV_ROLE_READ_ONLY,
					      "ro", 30),
			 TV_OK);
	assert_true(rec.expires_ms > rec.created_ms);
	assert_int_equal(tv_svc_apikey_check(&got, e->st, (const char *)key->p, key->len), TV_OK);
	assert_int_equal(e->st->ops->apikey_revoke(e->st, a.tenant_id, rec.id, tv_now_ms()), TV_OK);
	assert_int_equal(tv_svc_apikey_check(&got, e->st, (const char *)key->p, key->len),
			 TV_ERR_DENIED);
	tv_secbuf_free(key);
	/* bad arguments and an unknown tenant */
	assert_int_equal(tv_svc_apikey_create(&rec, &key, e->st, a.tenant_id, TV_ROLE_NONE, "x", 1),
			 TV_ERR_INVALID);
	assert_int_equal(tv_svc_apikey_create(&rec, &key, e->st, a.tenant_id, TV_ROLE_ADMIN, "x",
					      9999),
			 TV_ERR_INVALID);
	assert_int_equal(tv_svc_apikey_create(&rec, &key, e->st,
					      "00000000-0000-4000-8000-000000000000",
					      TV_ROLE_ADMIN, "x", 1),
			 TV_ERR_NOT_FOUND);
	tv_secbuf_free(a.api_key);
}

static void test_expired_key_denied(void **state)
{
	struct S_env *e = *state;
	struct tv_tenant_created a = { 0 };
	struct tv_secbuf *key = NULL;
	struct tv_apikey rec, got;

	assert_int_equal(tv_svc_tenant_create(&a, e->st, e->master, "expiry"), TV_OK);
	assert_int_equal(tv_svc_apikey_create(&rec, &key, e->st, a.tenant_id, TV_ROLE_ADMIN, "old",
					      1),
			 TV_OK);
	/* store it again with an expiry in the past, under a new hash */
	rec.expires_ms = tv_now_ms() - 1;
	tv_uuid_new(rec.id);
	crypto_hash_sha256(rec.hash, (const unsigned char *)"expired-key", 11);
	assert_int_equal(e->st->ops->apikey_insert(e->st, &rec), TV_OK);
	assert_int_equal(tv_svc_apikey_check(&got, e->st, "expired-key", 11), TV_ERR_DENIED);
	tv_secbuf_free(key);
	tv_secbuf_free(a.api_key);
}

static void test_keyring(void **state)
{
	struct S_env *e = *state;
	struct tv_tenant_created a = { 0 }, b = { 0 };
	struct tv_keyring *kr = NULL, *wrong = NULL;
	struct tv_secbuf *plain = NULL, *other = NULL;
	struct tv_dek *deks = NULL;
	unsigned char sealed[5 + TV_SEAL_OVERHEAD];
	size_t n = 0, i;

	assert_int_equal(tv_svc_tenant_create(&a, e->st, e->master, "kr-a"), TV_OK);
	assert_int_equal(tv_keyring_new(&kr, e->st, e->master), TV_OK);
	assert_int_equal(tv_keyring_load_all(kr), TV_OK);
	/* a tenant created after the keyring loaded is found on first use */
	assert_int_equal(tv_svc_tenant_create(&b, e->st, e->master, "kr-b"), TV_OK);
	assert_true(tv_keyring_has(kr, b.encryption_key_id));
	assert_false(tv_keyring_has(kr, "no-such-key"));
	assert_int_equal(e->st->ops->dek_list(e->st, b.tenant_id, &deks, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_int_equal(tv_seal(sealed, (const unsigned char *)"hello", 5, deks[0].public_key),
			 TV_OK);
	assert_int_equal(tv_keyring_unseal(kr, &plain, b.tenant_id, b.encryption_key_id, sealed,
					   sizeof(sealed)),
			 TV_OK);
	assert_memory_equal(plain->p, "hello", 5);
	tv_secbuf_free(plain);
	/* tenant A can't use tenant B's DEK */
	assert_int_equal(tv_keyring_unseal(kr, &plain, a.tenant_id, b.encryption_key_id, sealed,
					   sizeof(sealed)),
			 TV_ERR_NOT_FOUND);
	/* A's DEK doesn't open a box sealed to B */
	assert_int_equal(tv_keyring_unseal(kr, &plain, a.tenant_id, a.encryption_key_id, sealed,
					   sizeof(sealed)),
			 TV_ERR_CRYPTO);
	free(deks);
	/* another master key can't unwrap any DEK */
	assert_int_equal(tv_secbuf_new(&other, 32), TV_OK);
	randombytes_buf(other->p, 32);
	assert_int_equal(tv_keyring_new(&wrong, e->st, other), TV_OK);
	assert_int_equal(tv_keyring_load_all(wrong), TV_ERR_CRYPTO);
	tv_keyring_free(wrong);
	tv_secbuf_free(other);
	for (i = 0; i < 2; i++)
		tv_secbuf_free(i ? b.api_key : a.api_key);
	tv_keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tenant_and_keys),
		cmocka_unit_test(test_expired_key_denied),
		cmocka_unit_test(test_keyring),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/svc_account", tests, S_setup, S_teardown);
}
