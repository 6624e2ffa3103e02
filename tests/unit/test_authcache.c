/* tv-test-libs: tv_api */
/*
 * Unit tests of src/api/authcache.c: the TTL bound (a hit only while the
 * entry is younger than the TTL), forgetting a revoked key at once, a
 * lookup that raced a revocation not putting its stale answer back, key
 * expiry on a hit, the bound on entries, and the cache turned off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/authcache.h"

/* A principal for key number i, as the store would return it. */
static void S_principal(struct tv_principal *p, unsigned i, int64_t expires_ms)
{
	char key[64];

	memset(p, 0, sizeof(*p));
	snprintf(key, sizeof(key), "key-%u", i);
	crypto_hash_sha256(p->key.hash, (const unsigned char *)key, strlen(key));
	snprintf(p->key.id, sizeof(p->key.id), "abcdef00-0000-4000-8000-%012u", i);
	snprintf(p->key.tenant_id, sizeof(p->key.tenant_id), "tenant-%u", i % 3);
	snprintf(p->key.name, sizeof(p->key.name), "name-%u", i);
	p->key.role = TV_ROLE_PKI_ADMIN;
	p->key.expires_ms = expires_ms;
	snprintf(p->tenant.id, sizeof(p->tenant.id), "tenant-%u", i % 3);
	snprintf(p->tenant.name, sizeof(p->tenant.name), "Tenant %u", i % 3);
}

static void test_ttl_bound(void **state)
{
	struct tv_authcache *c;
	struct tv_principal p, got;

	(void)state;
	assert_int_equal(tv_authcache_new(&c, 1000), TV_OK);
	S_principal(&p, 1, 0);
	assert_false(tv_authcache_get(c, p.key.hash, 5000, 0, &got));
	tv_authcache_put(c, &p, tv_authcache_generation(c), 5000);
	memset(&got, 0, sizeof(got));
	assert_true(tv_authcache_get(c, p.key.hash, 5000, 0, &got));
	assert_memory_equal(&got, &p, sizeof(p));
	assert_true(tv_authcache_get(c, p.key.hash, 5999, 0, &got));
	/* at the TTL the entry is stale: the caller must ask the store */
	assert_false(tv_authcache_get(c, p.key.hash, 6000, 0, &got));
	assert_false(tv_authcache_get(c, p.key.hash, 5500, 0, &got)); /* and it is gone */
	/* a clock that went backwards doesn't extend an entry's life */
	tv_authcache_put(c, &p, tv_authcache_generation(c), 7000);
	assert_false(tv_authcache_get(c, p.key.hash, 6999, 0, &got));
	tv_authcache_free(c);
}

static void test_forget_and_race(void **state)
{
	struct tv_authcache *c;
	struct tv_principal a, b, got;
	uint64_t gen;

	(void)state;
	assert_int_equal(tv_authcache_new(&c, 60000), TV_OK);
	S_principal(&a, 1, 0);
	S_principal(&b, 2, 0);
	tv_authcache_put(c, &a, tv_authcache_generation(c), 100);
	tv_authcache_put(c, &b, tv_authcache_generation(c), 100);
	/* revoked here: gone at once, in any letter case of its id; b stays */
	{
		char upper[TV_ID_SIZE];
		size_t i;

		for (i = 0; a.key.id[i]; i++)
			upper[i] = (char)(a.key.id[i] >= 'a' && a.key.id[i] <= 'f' ? a.key.id[i] - 32
										    : a.key.id[i]);
		upper[i] = '\0';
		tv_authcache_forget_key(c, upper);
	}
	assert_false(tv_authcache_get(c, a.key.hash, 101, 0, &got));
	assert_true(tv_authcache_get(c, b.key.hash, 101, 0, &got));
	/* a lookup that began before a revocation can't cache its answer */
	gen = tv_authcache_generation(c);
	tv_authcache_forget_key(c, a.key.id);
	tv_authcache_put(c, &a, gen, 102);
	assert_false(tv_authcache_get(c, a.key.hash, 103, 0, &got));
	/* one that began after it can */
	tv_authcache_put(c, &a, tv_authcache_generation(c), 104);
	assert_true(tv_authcache_get(c, a.key.hash, 105, 0, &got));
	/* a revoked key is never cached */
	tv_authcache_forget_key(c, a.key.id);
	a.key.revoked_ms = 1;
	tv_authcache_put(c, &a, tv_authcache_generation(c), 106);
	assert_false(tv_authcache_get(c, a.key.hash, 107, 0, &got));
	/* forgetting an id nobody has is harmless */
	tv_authcache_forget_key(c, "11111111-2222-4333-8444-555555555555");
	assert_true(tv_authcache_get(c, b.key.hash, 108, 0, &got));
	tv_authcache_free(c);
}

static void test_key_expiry_on_hit(void **state)
{
	struct tv_authcache *c;
	struct tv_principal p, got;

	(void)state;
	assert_int_equal(tv_authcache_new(&c, 60000), TV_OK);
	S_principal(&p, 7, 1700000000000);
	tv_authcache_put(c, &p, tv_authcache_generation(c), 10);
	assert_true(tv_authcache_get(c, p.key.hash, 11, 1699999999999, &got));
	assert_false(tv_authcache_get(c, p.key.hash, 12, 1700000000000, &got));
	tv_authcache_free(c);
}

/* More keys than entries: the cache stays bounded and answers right. */
static void test_bounded(void **state)
{
	enum { N = TV_AUTHCACHE_ENTRIES * 4 };
	struct tv_authcache *c;
	struct tv_principal p, got;
	unsigned i, hits = 0;

	(void)state;
	assert_int_equal(tv_authcache_new(&c, 60000), TV_OK);
	for (i = 0; i < N; i++) {
		S_principal(&p, i, 0);
		tv_authcache_put(c, &p, tv_authcache_generation(c), 1000 + i);
	}
	for (i = 0; i < N; i++) {
		S_principal(&p, i, 0);
		if (tv_authcache_get(c, p.key.hash, 1000 + N, 0, &got)) {
			hits++;
			assert_memory_equal(&got, &p, sizeof(p));
		}
	}
	assert_true(hits <= TV_AUTHCACHE_ENTRIES);
	assert_true(hits > TV_AUTHCACHE_ENTRIES / 2);
	/* the most recent key is always there (the oldest of its set went) */
	S_principal(&p, N - 1, 0);
	assert_true(tv_authcache_get(c, p.key.hash, 1000 + N, 0, &got));
	tv_authcache_free(c);
}

static void test_off_and_limits(void **state)
{
	struct tv_authcache *c;
	struct tv_principal p, got;

	(void)state;
	assert_int_equal(tv_authcache_new(&c, -1), TV_ERR_INVALID);
	assert_int_equal(tv_authcache_new(&c, TV_AUTHCACHE_MAX_SECONDS * 1000 + 1),
			 TV_ERR_INVALID);
	assert_int_equal(tv_authcache_new(&c, 0), TV_OK);
	S_principal(&p, 1, 0);
	tv_authcache_put(c, &p, tv_authcache_generation(c), 1);
	assert_false(tv_authcache_get(c, p.key.hash, 1, 0, &got));
	tv_authcache_forget_key(c, p.key.id);
	tv_authcache_free(c);
	/* no cache at all (serve with --auth-cache-seconds 0) */
	assert_false(tv_authcache_get(NULL, p.key.hash, 1, 0, &got));
	tv_authcache_put(NULL, &p, 0, 1);
	tv_authcache_forget_key(NULL, p.key.id);
	assert_int_equal(tv_authcache_generation(NULL), 0);
	tv_authcache_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl_bound),
		cmocka_unit_test(test_forget_and_race),
		cmocka_unit_test(test_key_expiry_on_hit),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_off_and_limits),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("unit/authcache", tests, NULL, NULL);
}
