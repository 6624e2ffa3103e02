/* tv-test-libs: tv_svc */
/*
 * Unit tests of src/svc/ratelimit: the token bucket's refill arithmetic,
 * the burst, the Retry-After value, the bounded table and concurrent takes.
 * Time is passed in, so nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "svc/ratelimit.h"

#define T0 1000000 /* an arbitrary start on the monotonic clock */

/* How many of n takes at time now succeed. */
static unsigned S_takes(struct tv_ratelimit *rl, const char *key, int64_t now, unsigned n)
{
	unsigned ok = 0, i, retry;

	for (i = 0; i < n; i++)
		ok += tv_ratelimit_take(rl, key, now, &retry);
	return ok;
}

static void test_bad_arguments(void **state)
{
	struct tv_ratelimit *rl = NULL;

	(void)state;
	assert_int_equal(tv_ratelimit_new(&rl, 0, 10, 0), TV_ERR_INVALID);
	assert_int_equal(tv_ratelimit_new(&rl, 10, 0, 0), TV_ERR_INVALID);
	assert_int_equal(tv_ratelimit_new(&rl, TV_RATELIMIT_MAX_RATE + 1, 10, 0), TV_ERR_INVALID);
	assert_int_equal(tv_ratelimit_new(&rl, 10, TV_RATELIMIT_MAX_RATE + 1, 0), TV_ERR_INVALID);
	assert_int_equal(tv_ratelimit_new(&rl, 10, 10, 3), TV_ERR_INVALID);
	assert_int_equal(tv_ratelimit_new(NULL, 10, 10, 0), TV_ERR_INVALID);
	assert_null(rl);
	tv_ratelimit_free(NULL);
}

/* A new key starts full: exactly burst takes pass at one instant. */
static void test_burst(void **state)
{
	struct tv_ratelimit *rl = NULL;
	unsigned retry = 0;

	(void)state;
	assert_int_equal(tv_ratelimit_new(&rl, 10, 25, 0), TV_OK);
	assert_int_equal(S_takes(rl, "tenant-a", T0, 100), 25);
	assert_false(tv_ratelimit_take(rl, "tenant-a", T0, &retry));
	assert_int_equal(retry, 1);
	/* another key has its own bucket */
	assert_int_equal(S_takes(rl, "tenant-b", T0, 100), 25);
	tv_ratelimit_free(rl);
}

/* rate tokens a second, in whole milliseconds; never above the burst. */
static void test_refill(void **state)
{
	struct tv_ratelimit *rl = NULL;

	(void)state;
	assert_int_equal(tv_ratelimit_new(&rl, 10, 5, 0), TV_OK);
	assert_int_equal(S_takes(rl, "k", T0, 5), 5);
	assert_int_equal(S_takes(rl, "k", T0 + 99, 1), 0);  /* 0.99 token */
	assert_int_equal(S_takes(rl, "k", T0 + 100, 1), 1); /* 1.00 */
	assert_int_equal(S_takes(rl, "k", T0 + 100, 1), 0);
	assert_int_equal(S_takes(rl, "k", T0 + 350, 5), 2); /* 2.5 tokens: 2, 0.5 left */
	assert_int_equal(S_takes(rl, "k", T0 + 400, 1), 1); /* 0.5 + 0.5 */
	/* idle for a long time: full again, not more */
	assert_int_equal(S_takes(rl, "k", T0 + 3600 * 1000, 100), 5);
	/* idle for ages: the refill must not overflow */
	assert_int_equal(S_takes(rl, "k", INT64_MAX / 2, 100), 5);
	tv_ratelimit_free(rl);
}

/* A clock that goes back gives nothing, and doesn't break later refills. */
static void test_clock_back(void **state)
{
	struct tv_ratelimit *rl = NULL;

	(void)state;
	assert_int_equal(tv_ratelimit_new(&rl, 1, 2, 0), TV_OK);
	assert_int_equal(S_takes(rl, "k", T0, 2), 2);
	assert_int_equal(S_takes(rl, "k", T0 - 5000, 1), 0);
	assert_int_equal(S_takes(rl, "k", T0 + 1000, 2), 1);
	tv_ratelimit_free(rl);
}

/* Retry-After is whole seconds until a token, at least 1. */
static void test_retry_after(void **state)
{
	struct tv_ratelimit *rl = NULL;
	unsigned retry = 0;

	(void)state;
	assert_int_equal(tv_ratelimit_new(&rl, 1, 1, 0), TV_OK);
	assert_true(tv_ratelimit_take(rl, "k", T0, &retry));
	assert_false(tv_ratelimit_take(rl, "k", T0, &retry));
	assert_int_equal(retry, 1); /* 1000 ms to go */
	retry = 0;
	assert_false(tv_ratelimit_take(rl, "k", T0 + 999, &retry));
	assert_int_equal(retry, 1); /* 1 ms to go: still a whole second */
	assert_true(tv_ratelimit_take(rl, "k", T0 + 1000, &retry));
	/* a fast rate: a token in 1 ms, still Retry-After 1 */
	tv_ratelimit_free(rl);
	assert_int_equal(tv_ratelimit_new(&rl, 1000, 1, 0), TV_OK);
	assert_true(tv_ratelimit_take(rl, "k", T0, &retry));
	retry = 0;
	assert_false(tv_ratelimit_take(rl, "k", T0, &retry));
	assert_int_equal(retry, 1);
	/* NULL retry_after is allowed */
	assert_false(tv_ratelimit_take(rl, "k", T0, NULL));
	tv_ratelimit_free(rl);
}

/* Distinct keys never grow the table; the least recently used one goes. */
static void test_bounded_table(void **state)
{
	struct tv_ratelimit *rl = NULL;
	char key[32];
	unsigned i;

	(void)state;
	assert_int_equal(tv_ratelimit_new(&rl, 1, 3, 16), TV_OK);
	/* "hot" is used up, and stays in use while 10,000 keys flood by */
	assert_int_equal(S_takes(rl, "hot", T0, 3), 3);
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "flood-%u", i);
		assert_int_equal(S_takes(rl, key, T0, 1), 1);
		assert_true(tv_ratelimit_tracked(rl) <= 16);
		if (i % 8 == 0) /* hot is touched often, so it is never the LRU */
			assert_int_equal(S_takes(rl, "hot", T0, 1), 0);
	}
	assert_int_equal(tv_ratelimit_tracked(rl), 16);
	assert_int_equal(S_takes(rl, "hot", T0, 1), 0);
	/* an evicted key comes back with a full bucket: flood-0 went long ago */
	assert_int_equal(S_takes(rl, "flood-0", T0, 5), 3);
	tv_ratelimit_free(rl);
}

/* Keys longer than TV_RATELIMIT_KEY_MAX are cut, not overflowed. */
static void test_long_key(void **state)
{
	struct tv_ratelimit *rl = NULL;
	char a[200], b[200];

	(void)state;
	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[150] = 'y'; /* differs only after the cut: the same bucket */
	assert_int_equal(tv_ratelimit_new(&rl, 1, 2, 0), TV_OK);
	assert_int_equal(S_takes(rl, a, T0, 1), 1);
	assert_int_equal(S_takes(rl, b, T0, 5), 1);
	assert_int_equal(S_takes(rl, "", T0, 5), 2);
	assert_int_equal(S_takes(rl, NULL, T0, 5), 0); /* NULL is the "" key */
	tv_ratelimit_free(rl);
}

struct S_race {
	struct tv_ratelimit *rl;
	const char *key;
	unsigned ok;
};

static void *S_racer(void *arg)
{
	struct S_race *r = arg;

	r->ok = S_takes(r->rl, r->key, T0, 5000);
	return NULL;
}

/* 8 threads, 40,000 takes at one instant: exactly burst pass, per key. */
static void test_concurrent(void **state)
{
	struct tv_ratelimit *rl = NULL;
	struct S_race race[8];
	pthread_t th[8];
	unsigned total_a = 0, total_b = 0, i;

	(void)state;
	assert_int_equal(tv_ratelimit_new(&rl, 100, 1000, 0), TV_OK);
	for (i = 0; i < 8; i++) {
		race[i].rl = rl;
		race[i].key = i % 2 ? "tenant-a" : "tenant-b";
		assert_int_equal(pthread_create(&th[i], NULL, S_racer, &race[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (i % 2)
			total_a += race[i].ok;
		else
			total_b += race[i].ok;
	}
	assert_int_equal(total_a, 1000);
	assert_int_equal(total_b, 1000);
	assert_int_equal(tv_ratelimit_tracked(rl), 2);
	tv_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_burst),
	    cmocka_unit_test(test_refill),        cmocka_unit_test(test_clock_back),
	    cmocka_unit_test(test_retry_after),   cmocka_unit_test(test_bounded_table),
	    cmocka_unit_test(test_long_key),      cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
