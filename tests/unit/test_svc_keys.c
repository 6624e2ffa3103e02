/* tv-test-libs: tv_svc */
/* tv-test-pg: both */
/* Unit tests of key rotation (issue 11): the store functions behind it
 * (dek_insert, dek_rewrap_all, edge_set_dek, cert_keys_not_on,
 * cert_keys_reseal, items_pending_not_on) and svc/keys.c over them, on
 * SQLite and, under unit-pg/, on PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dek/dek.h"
#include "svc/account.h"
#include "svc/keyring.h"
#include "svc/keys.h"
#include "test_db.h"

struct S_env {
	struct tvt_db db;
	struct tv_store *st;
	struct tv_secbuf *master;
	struct tv_tenant_created t;
	struct tv_keyring *kr;
	int jobs;
};

static struct tv_secbuf *S_random_key(void)
{
	struct tv_secbuf *k = NULL;

	if (tv_secbuf_new(&k, 32))
		return NULL;
	randombytes_buf(k->p, 32);
	return k;
}

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));

	if (!e || tvt_db_new(&e->db, "keys"))
		return -1;
	if (tv_store_open(&e->st, e->db.url, true) || !(e->master = S_random_key()))
		return -1;
	if (tv_svc_tenant_create(&e->t, e->st, e->master, "acme") ||
	    tv_keyring_new(&e->kr, e->st, e->master))
		return -1;
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;
	int rc;

	tv_keyring_free(e->kr);
	tv_store_close(e->st);
	tv_secbuf_free(e->master);
	tv_secbuf_free(e->t.api_key);
	rc = tvt_db_drop(&e->db);
	free(e);
	return rc;
}

/* A job of n items posted with DEK dek_id; the first n_done of them are
 * stored as IMPORTED certificates whose key is "key-<i>" sealed to that DEK. */
static void S_job(struct S_env *e, const char *dek_id, int n, int n_done)
{
	struct tv_import_item items[16];
	struct tv_import_job job = { 0 };
	int i;

	assert_true(n <= 16);
	memset(items, 0, sizeof(items));
	for (i = 0; i < n; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
	}
	snprintf(job.id, sizeof(job.id), "30000000-0000-4000-8000-%012d", ++e->jobs);
	memcpy(job.tenant_id, e->t.tenant_id, sizeof(job.tenant_id));
	memcpy(job.edge_id, e->t.edge_instance_id, sizeof(job.edge_id));
	snprintf(job.dek_id, sizeof(job.dek_id), "%s", dek_id);
	job.created_ms = tv_now_ms();
	job.n_items = n;
	assert_int_equal(e->st->ops->job_create(e->st, &job, items, (size_t)n, 0), TV_OK);
	for (i = 0; i < n_done; i++) {
		struct tv_claimed_item ci;
		struct tv_cert_row row = { .der = (const unsigned char *)"\x30\x00", .der_len = 2,
					   .facts_json = "{}" };
		struct tv_item_outcome o = { .status = "IMPORTED", .reason = "", .cert = &row,
					     .der = row.der, .der_len = 2 };
		unsigned char sealed[64 + TV_SEAL_OVERHEAD];
		char plain[64];
		bool final = false;
		int len;

		assert_int_equal(e->st->ops->item_claim(e->st, "w", tv_now_ms(),
							tv_now_ms() + 60000, 0, &ci),
				 TV_OK);
		snprintf(row.fingerprint, sizeof(row.fingerprint), "%02d%038d", e->jobs,
			 ci.item.index);
		memcpy(o.fingerprint, row.fingerprint, sizeof(o.fingerprint));
		len = snprintf(plain, sizeof(plain), "key-%s", row.fingerprint);
		assert_int_equal(tv_keyring_seal(e->kr, sealed, e->t.tenant_id, dek_id,
						 (const unsigned char *)plain, (size_t)len),
				 TV_OK);
		o.sealed_key = sealed;
		o.sealed_key_len = (size_t)len + TV_SEAL_OVERHEAD;
		assert_int_equal(e->st->ops->item_finish(e->st, ci.job_id, ci.item.index, "w", &o,
							 1, tv_now_ms(), &final),
				 TV_OK);
		tv_import_item_release(&ci.item);
	}
}

/* Every DEK of the store unwraps with the new key and none with the old. */
static void test_master_rewrap(void **state)
{
	struct S_env *e = *state;
	struct tv_tenant_created b = { 0 };
	struct tv_secbuf *nw = S_random_key(), *wrong = S_random_key();
	struct tv_keyring *kr = NULL;
	struct tv_secbuf *open = NULL;
	unsigned char sealed[5 + TV_SEAL_OVERHEAD];
	size_t ok = 0, total = 0, n = 0;

	assert_int_equal(tv_svc_tenant_create(&b, e->st, e->master, "beta"), TV_OK);
	tv_secbuf_free(b.api_key);
	assert_int_equal(tv_svc_master_check(e->st, e->master, &ok, &total), TV_OK);
	assert_int_equal(total, 2);
	assert_int_equal(ok, 2);

	/* the wrong "old" key: refused, nothing changed */
	assert_int_equal(tv_svc_master_rewrap(e->st, wrong, nw, &n), TV_ERR_CRYPTO);
	assert_int_equal(tv_svc_master_check(e->st, e->master, &ok, &total), TV_OK);
	assert_int_equal(ok, 2);

	/* the store refuses a set that is not all of its DEKs */
	assert_int_equal(e->st->ops->dek_rewrap_all(e->st, NULL, 0), TV_ERR_STATE);
	{
		struct tv_dek_rewrap w = { 0 };
		struct tv_dek *deks = NULL;
		size_t nd = 0;

		assert_int_equal(e->st->ops->dek_list(e->st, NULL, &deks, &nd), TV_OK);
		assert_int_equal(nd, 2);
		memcpy(w.id, deks[0].id, sizeof(w.id));
		memcpy(w.old_wrapped, deks[0].wrapped_sk, deks[0].wrapped_len);
		w.old_len = deks[0].wrapped_len;
		w.new_len = 3;
		assert_int_equal(e->st->ops->dek_rewrap_all(e->st, &w, 1), TV_ERR_STATE);
		free(deks);
	}

	assert_int_equal(tv_svc_master_rewrap(e->st, e->master, nw, &n), TV_OK);
	assert_int_equal(n, 2);
	assert_int_equal(tv_svc_master_check(e->st, e->master, &ok, &total), TV_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(tv_svc_master_check(e->st, nw, &ok, &total), TV_OK);
	assert_int_equal(ok, 2);

	/* a keyring on the old key: the DEK is there but does not unwrap, which
	 * is the server's fault (DENIED), not an unknown key (NOT_FOUND) */
	assert_int_equal(tv_keyring_new(&kr, e->st, e->master), TV_OK);
	assert_int_equal(tv_keyring_load_all(kr), TV_ERR_CRYPTO);
	assert_int_equal(tv_keyring_seal(kr, sealed, e->t.tenant_id, e->t.encryption_key_id,
					 (const unsigned char *)"hello", 5),
			 TV_ERR_DENIED);
	assert_int_equal(tv_keyring_unseal(kr, &open, e->t.tenant_id, "no-such-dek", sealed,
					   sizeof(sealed)),
			 TV_ERR_NOT_FOUND);
	tv_keyring_free(kr);
	/* and one on the new key opens what the old one sealed */
	assert_int_equal(tv_keyring_new(&kr, e->st, nw), TV_OK);
	assert_int_equal(tv_keyring_load_all(kr), TV_OK);
	assert_int_equal(tv_keyring_count(kr), 2);
	tv_keyring_free(kr);
	tv_secbuf_free(nw);
	tv_secbuf_free(wrong);
}

static void S_check_on(struct S_env *e, struct tv_sealed_key *keys, size_t n,
		       const char *dek_id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct tv_cert_record c;
		struct tv_secbuf *p8 = NULL;
		unsigned char *sealed = NULL;
		size_t len = 0;
		char want[64];

		assert_int_equal(e->st->ops->cert_get(e->st, e->t.tenant_id, keys[i].cert_id, &c),
				 TV_OK);
		assert_string_equal(c.dek_id, dek_id);
		snprintf(want, sizeof(want), "key-%s", c.fingerprint);
		free(c.der);
		free(c.facts_json);
		free(c.issuer_ids_json);
		assert_int_equal(e->st->ops->cert_key(e->st, e->t.tenant_id, keys[i].cert_id,
						      &sealed, &len),
				 TV_OK);
		assert_int_equal(tv_keyring_unseal(e->kr, &p8, e->t.tenant_id, dek_id, sealed, len),
				 TV_OK);
		assert_int_equal(p8->len, strlen(want));
		assert_memory_equal(p8->p, want, p8->len);
		tv_secbuf_free(p8);
		free(sealed);
	}
}

static void test_dek_rotation(void **state)
{
	struct S_env *e = *state;
	struct tv_tenant_created b = { 0 };
	struct tv_sealed_key *keys = NULL, *none = NULL;
	struct tv_dek_rotation rot;
	struct tv_dek bogus = { .wrapped_len = 72, .created_ms = 1 };
	char d2[TV_DEK_ID_SIZE];
	const char *d1 = e->t.encryption_key_id;
	size_t n = 0, n0 = 0, moved = 0, seen = 0, total = 0, changed = 0, pending = 0;
	struct tv_edge *edges = NULL;

	S_job(e, d1, 5, 5);  /* five stored keys on D1 */
	S_job(e, d1, 3, 1);  /* one more, and two items still in flight on D1 */
	assert_int_equal(e->st->ops->cert_keys_not_on(e->st, e->t.tenant_id, "none", 100, &keys,
						      &n),
			 TV_OK);
	assert_int_equal(n, 6);
	assert_int_equal(e->st->ops->items_pending_not_on(e->st, e->t.tenant_id, d1, &pending),
			 TV_OK);
	assert_int_equal(pending, 0);
	assert_int_equal(tv_svc_dek_rotation_get(e->st, e->t.tenant_id, &rot), TV_OK);
	assert_false(tv_svc_dek_rotation_unfinished(&rot));

	/* a DEK for a tenant that does not exist: refused */
	snprintf(bogus.id, sizeof(bogus.id), "bogus");
	snprintf(bogus.tenant_id, sizeof(bogus.tenant_id), "no-such-tenant");
	assert_int_equal(e->st->ops->dek_insert(e->st, &bogus), TV_ERR_NOT_FOUND);

	assert_int_equal(tv_svc_dek_create(e->st, e->master, e->t.tenant_id, d2), TV_OK);
	assert_string_not_equal(d2, d1);
	assert_int_equal(tv_svc_dek_rotation_get(e->st, e->t.tenant_id, &rot), TV_OK);
	assert_string_equal(rot.newest, d2);
	assert_string_equal(rot.edge_dek, d1);
	assert_int_equal(rot.n_deks, 2);
	assert_int_equal(rot.keys_elsewhere, 1);
	assert_int_equal(rot.items_elsewhere, 2);
	assert_true(tv_svc_dek_rotation_unfinished(&rot));

	/* in batches of 4: 4, then 2, then nothing left */
	assert_int_equal(tv_svc_dek_reseal_batch(e->st, e->kr, e->t.tenant_id, d2, 4, &moved,
						 &seen),
			 TV_OK);
	assert_int_equal(moved, 4);
	total += moved;
	assert_int_equal(tv_svc_dek_reseal_batch(e->st, e->kr, e->t.tenant_id, d2, 4, &moved,
						 &seen),
			 TV_OK);
	total += moved;
	assert_int_equal(tv_svc_dek_reseal_batch(e->st, e->kr, e->t.tenant_id, d2, 4, &moved,
						 &seen),
			 TV_OK);
	assert_int_equal(seen, 0);
	assert_int_equal(total, 6);
	assert_int_equal(e->st->ops->cert_keys_not_on(e->st, e->t.tenant_id, d2, 100, &none, &n0),
			 TV_OK);
	assert_int_equal(n0, 0);
	S_check_on(e, keys, n, d2);

	/* a row that moved meanwhile is left alone: keys[] still says D1 */
	assert_int_equal(e->st->ops->cert_keys_reseal(e->st, e->t.tenant_id, d2, keys, n,
						      &changed),
			 TV_OK);
	assert_int_equal(changed, 0);
	S_check_on(e, keys, n, d2);

	/* the edge moves to D2 only; another tenant's DEK is refused */
	assert_int_equal(tv_svc_tenant_create(&b, e->st, e->master, "other"), TV_OK);
	tv_secbuf_free(b.api_key);
	assert_int_equal(e->st->ops->edge_set_dek(e->st, e->t.tenant_id, b.encryption_key_id, 5),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(e->st->ops->edge_set_dek(e->st, e->t.tenant_id, d2, 5), TV_OK);
	assert_int_equal(e->st->ops->edge_list(e->st, e->t.tenant_id, &edges, &n0), TV_OK);
	assert_int_equal(n0, 1);
	assert_string_equal(edges[0].dek_id, d2);
	assert_int_equal(edges[0].dek_deployed_ms, 5);
	free(edges);
	assert_int_equal(e->st->ops->edge_list(e->st, b.tenant_id, &edges, &n0), TV_OK);
	assert_string_equal(edges[0].dek_id, b.encryption_key_id);
	free(edges);

	/* the in-flight items on D1 are what is left */
	assert_int_equal(tv_svc_dek_rotation_get(e->st, e->t.tenant_id, &rot), TV_OK);
	assert_int_equal(rot.keys_elsewhere, 0);
	assert_int_equal(rot.items_elsewhere, 2);
	assert_true(tv_svc_dek_rotation_unfinished(&rot));

	/* a passphrase sealed to D1 by a client that saw the certificate
	 * before it moved still opens when D2 is named */
	{
		unsigned char box[6 + TV_SEAL_OVERHEAD];
		struct tv_secbuf *pw = NULL;

		assert_int_equal(tv_keyring_seal(e->kr, box, e->t.tenant_id, d1,
						 (const unsigned char *)"secret", 6),
				 TV_OK);
		assert_int_equal(tv_keyring_unseal(e->kr, &pw, e->t.tenant_id, d2, box,
						   sizeof(box)),
				 TV_ERR_CRYPTO);
		assert_int_equal(tv_keyring_unseal_tenant(e->kr, &pw, e->t.tenant_id, d2, box,
							  sizeof(box)),
				 TV_OK);
		assert_memory_equal(pw->p, "secret", 6);
		tv_secbuf_free(pw);
		/* another tenant's DEK is never tried */
		assert_int_equal(tv_keyring_unseal_tenant(e->kr, &pw, b.tenant_id,
							  b.encryption_key_id, box, sizeof(box)),
				 TV_ERR_CRYPTO);
		box[10] ^= 1;
		assert_int_equal(tv_keyring_unseal_tenant(e->kr, &pw, e->t.tenant_id, d2, box,
							  sizeof(box)),
				 TV_ERR_CRYPTO);
	}
	tv_sealed_keys_free(keys, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_master_rewrap, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_dek_rotation, S_setup, S_teardown),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
