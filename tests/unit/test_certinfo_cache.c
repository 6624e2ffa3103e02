/* tv-test-libs: tv_svc */
/*
 * test_certinfo_cache.c - the shared facts of chain CAs
 * (src/svc/certinfo_cache.c): a hit is byte for byte what tv_certinfo_init
 * computes (row, DER, JSON document, dNSNames), keyed by the DER so equal
 * certificates decoded twice share one entry, the size is bounded with
 * least-recently-used eviction, a reference outlives eviction and the cache,
 * and concurrent workers keep counters and references exact.
 */
#include <pthread.h>

#include "test_p12_util.h"

#include "svc/certinfo_cache.h"

static X509 *S_chain_cert(const char *name)
{
	char path[1024];
	X509 *cert;
	FILE *f;

	snprintf(path, sizeof(path), "%s/chain/%s.crt.pem", TVT_FIXTURES, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		fail_msg("cannot read certificate %s", path);
	return cert;
}

static void S_str_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* Every stored field of got equals what tv_certinfo_init gives for cert. */
static void S_assert_same_as_fresh(const struct tv_certinfo *got, X509 *cert)
{
	struct tv_certinfo want;
	const struct tv_cert_row *a = &got->row, *b = &want.row;

	assert_int_equal(tv_certinfo_init(&want, cert, false), TV_OK);
	assert_int_equal(got->der_len, want.der_len);
	assert_memory_equal(got->der, want.der, want.der_len);
	assert_string_equal(got->facts_json, want.facts_json);
	assert_string_equal(got->san_dns, want.san_dns);
	assert_memory_equal(a->fingerprint, b->fingerprint, sizeof(a->fingerprint));
	assert_ptr_equal(a->der, got->der);
	assert_int_equal(a->der_len, b->der_len);
	assert_ptr_equal(a->facts_json, got->facts_json);
	S_str_equal(a->certificate_name, b->certificate_name);
	S_str_equal(a->subject_cn, b->subject_cn);
	S_str_equal(a->san_dns, b->san_dns);
	S_str_equal(a->serial_number, b->serial_number);
	S_str_equal(a->issuer_dn, b->issuer_dn);
	S_str_equal(a->encryption_type, b->encryption_type);
	assert_int_equal(a->validity_start_ms, b->validity_start_ms);
	assert_int_equal(a->validity_end_ms, b->validity_end_ms);
	assert_int_equal(a->key_strength, b->key_strength);
	tv_certinfo_release(&want);
}

static void test_hit_equals_fresh_facts(void **state)
{
	static const char *const names[] = { "root", "inter", "leaf-rsa", "leaf-p256",
					     "leaf-p384", "leaf-ed25519", "root2" };
	struct tv_certinfo_cache *cache = NULL;
	struct tv_shacache_stats st;
	const struct tv_certinfo *first, *again;
	size_t i;

	(void)state;
	assert_int_equal(tv_certinfo_cache_new(&cache, 64), TV_OK);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* two decodes of one DER: distinct X509s, one entry */
		X509 *a = S_chain_cert(names[i]), *b = S_chain_cert(names[i]);

		assert_ptr_not_equal(a, b);
		assert_int_equal(tv_certinfo_cache_get(cache, a, &first), TV_OK);
		S_assert_same_as_fresh(first, a);
		assert_int_equal(tv_certinfo_cache_get(cache, b, &again), TV_OK);
		assert_ptr_equal(again, first);
		S_assert_same_as_fresh(again, b);
		tv_certinfo_put(first);
		tv_certinfo_put(again);
		X509_free(a);
		X509_free(b);
	}
	tv_certinfo_cache_stats(cache, &st);
	assert_int_equal(st.hits, i);
	assert_int_equal(st.misses, i);
	assert_int_equal(st.inserts, i);
	assert_int_equal(st.entries, i);
	assert_int_equal(st.capacity, 64);
	tv_certinfo_cache_free(cache);
	tv_certinfo_cache_free(NULL);
	tv_certinfo_put(NULL);
}

static void test_no_cache_is_fresh_and_unshared(void **state)
{
	const struct tv_certinfo *a, *b;
	X509 *cert = S_chain_cert("inter");

	(void)state;
	assert_int_equal(tv_certinfo_cache_get(NULL, cert, &a), TV_OK);
	assert_int_equal(tv_certinfo_cache_get(NULL, cert, &b), TV_OK);
	assert_ptr_not_equal(a, b);
	S_assert_same_as_fresh(a, cert);
	tv_certinfo_put(a);
	tv_certinfo_put(b);
	X509_free(cert);
}

/* Distinct certificates: the fixture root re-signed with serials 1..n. */
static X509 *S_numbered(EVP_PKEY *key, long n)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_non_null(cert);
	assert_non_null(name);
	assert_true(X509_set_version(cert, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(cert), n));
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					       (const unsigned char *)"cache CA", -1, -1, 0));
	assert_true(X509_set_subject_name(cert, name));
	assert_true(X509_set_issuer_name(cert, name));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 86400));
	assert_true(X509_set_pubkey(cert, key));
	assert_true(X509_sign(cert, key, EVP_sha256()));
	X509_NAME_free(name);
	return cert;
}

static void test_bounded_and_references_outlive_eviction(void **state)
{
	struct tv_certinfo_cache *cache = NULL;
	struct tv_shacache_stats st;
	const struct tv_certinfo *held, *got;
	EVP_PKEY *key = tvt_fixture_key("p256");
	X509 *first = S_numbered(key, 1), *cert;
	char serial[64];
	long n;

	(void)state;
	assert_int_equal(tv_certinfo_cache_new(&cache, 16), TV_OK);
	assert_int_equal(tv_certinfo_cache_get(cache, first, &held), TV_OK);
	snprintf(serial, sizeof(serial), "%s", held->row.serial_number);
	for (n = 2; n <= 200; n++) {
		cert = S_numbered(key, n);
		assert_int_equal(tv_certinfo_cache_get(cache, cert, &got), TV_OK);
		tv_certinfo_put(got);
		X509_free(cert);
	}
	tv_certinfo_cache_stats(cache, &st);
	assert_int_equal(st.capacity, 16);
	assert_true(st.entries <= 16);
	assert_int_equal(st.inserts, 200);
	assert_int_equal(st.evictions, 200 - st.entries);
	/* the caller's reference survives eviction and the cache itself */
	tv_certinfo_cache_free(cache);
	assert_string_equal(held->row.serial_number, serial);
	S_assert_same_as_fresh(held, first);
	tv_certinfo_put(held);
	X509_free(first);
	EVP_PKEY_free(key);
}

static void test_refused_facts_are_not_cached(void **state)
{
	struct tv_certinfo_cache *cache = NULL;
	struct tv_shacache_stats st;
	const struct tv_certinfo *got = NULL;
	EVP_PKEY *key = tvt_fixture_key("p256");
	X509 *cert = S_numbered(key, 7);
	X509_NAME *name = X509_NAME_new();

	(void)state;
	/* a NUL inside the subject CN: tv_certinfo_init refuses it */
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", V_ASN1_UTF8STRING,
					       (const unsigned char *)"a\0b", 3, -1, 0));
	assert_true(X509_set_subject_name(cert, name));
	assert_true(X509_sign(cert, key, EVP_sha256()));
	assert_int_equal(tv_certinfo_cache_new(&cache, 16), TV_OK);
	assert_int_equal(tv_certinfo_cache_get(cache, cert, &got), TV_ERR_INVALID);
	assert_null(got);
	tv_certinfo_cache_stats(cache, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.misses, 1);
	tv_certinfo_cache_free(cache);
	X509_NAME_free(name);
	X509_free(cert);
	EVP_PKEY_free(key);
}

#define S_THREADS 4
#define S_ROUNDS 300

struct S_worker {
	struct tv_certinfo_cache *cache;
	X509 **certs;
	size_t n_certs;
	const struct tv_certinfo *first[8];
	unsigned seen_other;
};

static void *S_work(void *arg)
{
	struct S_worker *w = arg;
	const struct tv_certinfo *got;
	size_t r, k;

	for (r = 0; r < S_ROUNDS; r++) {
		k = r % w->n_certs;
		if (tv_certinfo_cache_get(w->cache, w->certs[k], &got) != TV_OK)
			return NULL;
		if (strcmp(got->row.serial_number, w->first[k]->row.serial_number) != 0)
			w->seen_other++;
		tv_certinfo_put(got);
	}
	return w;
}

static void test_threads(void **state)
{
	struct tv_certinfo_cache *cache = NULL;
	struct tv_shacache_stats st;
	struct S_worker w[S_THREADS];
	pthread_t th[S_THREADS];
	EVP_PKEY *key = tvt_fixture_key("p256");
	X509 *certs[8];
	void *ret;
	size_t i, k;

	(void)state;
	assert_int_equal(tv_certinfo_cache_new(&cache, 8), TV_OK); /* 2 sets: evictions */
	for (k = 0; k < 8; k++)
		certs[k] = S_numbered(key, (long)k + 100);
	for (i = 0; i < S_THREADS; i++) {
		w[i].cache = cache;
		w[i].certs = certs;
		w[i].n_certs = 8;
		w[i].seen_other = 0;
		for (k = 0; k < 8; k++)
			assert_int_equal(tv_certinfo_cache_get(NULL, certs[k], &w[i].first[k]),
					 TV_OK);
	}
	for (i = 0; i < S_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, S_work, &w[i]), 0);
	for (i = 0; i < S_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_ptr_equal(ret, &w[i]);
		assert_int_equal(w[i].seen_other, 0);
		for (k = 0; k < 8; k++)
			tv_certinfo_put(w[i].first[k]);
	}
	tv_certinfo_cache_stats(cache, &st);
	assert_int_equal(st.hits + st.misses, S_THREADS * S_ROUNDS);
	assert_true(st.entries <= 8);
	tv_certinfo_cache_free(cache);
	for (k = 0; k < 8; k++)
		X509_free(certs[k]);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_equals_fresh_facts),
		cmocka_unit_test(test_no_cache_is_fresh_and_unshared),
		cmocka_unit_test(test_bounded_and_references_outlive_eviction),
		cmocka_unit_test(test_refused_facts_are_not_cached),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
