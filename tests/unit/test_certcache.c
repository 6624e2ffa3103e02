/* tv-test-libs: tv_pki */
/*
 * test_certcache.c - the pki context's cache of decoded CA certificates
 * (src/pki/certcache.c): hits hand out the cached object with a reference
 * of their own, a key is the full SHA-256 and the DER length, the size is
 * bounded with least-recently-used eviction, and concurrent use keeps the
 * counters and the references exact.
 */
#include <pthread.h>

#include "test_p12_util.h"

#include "pki/certcache.h"

static X509 *S_cert(void)
{
	X509 *cert = X509_new();

	assert_non_null(cert);
	return cert;
}

static void S_key(struct tv__cert_key *key, unsigned n)
{
	unsigned char der[16];

	memset(der, 0, sizeof(der));
	memcpy(der, &n, sizeof(n));
	tv__cert_key_of(key, der, sizeof(der));
}

static void test_hit_is_the_cached_object(void **state)
{
	struct tv__cert_cache *cache = NULL;
	struct tv_shacache_stats st;
	struct tv__cert_key key, other_len;
	X509 *cert = S_cert(), *got;

	(void)state;
	assert_int_equal(tv__cert_cache_new(&cache, 64), TV_OK);
	S_key(&key, 1);
	assert_null(tv__cert_cache_get(cache, &key));
	tv__cert_cache_put(cache, &key, cert);
	X509_free(cert); /* the cache keeps its own reference */
	got = tv__cert_cache_get(cache, &key);
	assert_ptr_equal(got, cert);
	X509_free(got);
	/* the same hash with another length is another key */
	other_len = key;
	other_len.der_len++;
	assert_null(tv__cert_cache_get(cache, &other_len));
	/* a second put of a present key changes nothing */
	tv__cert_cache_put(cache, &key, got);
	tv__cert_cache_stats(cache, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.capacity, 64);
	tv__cert_cache_free(cache);
	tv__cert_cache_free(NULL);
}

static void test_bounded_lru(void **state)
{
	struct tv__cert_cache *cache = NULL;
	struct tv_shacache_stats st;
	struct tv__cert_key keys[200];
	X509 *cert, *got;
	unsigned i, present = 0;

	(void)state;
	assert_int_equal(tv__cert_cache_new(&cache, 16), TV_OK);
	for (i = 0; i < 200; i++) {
		S_key(&keys[i], i);
		cert = S_cert();
		tv__cert_cache_put(cache, &keys[i], cert);
		X509_free(cert);
		/* the first key is used all along: LRU keeps it */
		got = tv__cert_cache_get(cache, &keys[0]);
		assert_non_null(got);
		X509_free(got);
	}
	tv__cert_cache_stats(cache, &st);
	assert_int_equal(st.capacity, 16);
	assert_true(st.entries <= st.capacity);
	assert_int_equal(st.inserts, 200);
	assert_int_equal(st.evictions, 200 - st.entries);
	for (i = 0; i < 200; i++) {
		got = tv__cert_cache_get(cache, &keys[i]);
		present += got != NULL;
		X509_free(got);
	}
	assert_int_equal(present, st.entries);
	tv__cert_cache_free(cache); /* ASan: every evicted X509 was freed */
}

#define S_THREADS 4
#define S_OPS 2000

static void *S_worker(void *arg)
{
	struct tv__cert_cache *cache = arg;
	struct tv__cert_key key;
	X509 *cert;
	unsigned i;

	for (i = 0; i < S_OPS; i++) {
		S_key(&key, (i * 7u) % 64u);
		cert = tv__cert_cache_get(cache, &key);
		if (!cert) {
			cert = X509_new();
			if (!cert)
				return "out of memory";
			tv__cert_cache_put(cache, &key, cert);
		}
		X509_free(cert);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct tv__cert_cache *cache = NULL;
	struct tv_shacache_stats st;
	pthread_t th[S_THREADS];
	void *ret;
	int i;

	(void)state;
	assert_int_equal(tv__cert_cache_new(&cache, 32), TV_OK);
	for (i = 0; i < S_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, S_worker, cache), 0);
	for (i = 0; i < S_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	tv__cert_cache_stats(cache, &st);
	assert_int_equal(st.hits + st.misses, (uint64_t)S_THREADS * S_OPS);
	assert_true(st.entries <= st.capacity);
	assert_true(st.hits > 0);
	tv__cert_cache_free(cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_is_the_cached_object),
		cmocka_unit_test(test_bounded_lru),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
