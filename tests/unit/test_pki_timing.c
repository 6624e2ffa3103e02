/* tv-test-libs: tv_pki */
/*
 * test_pki_timing.c - the reader's phase counters (pki/timing.h), which the
 * benchmark's per-item breakdown reads: each phase is marked exactly where
 * the work happens (so many KDFs, MACs, decryptions and decodes per file
 * of a known profile), a context without counters writes nothing, and
 * concurrent reads on one timed context add up exactly.
 */
#include <pthread.h>

#include "test_p12_util.h"

#include "pki/p12.h"
#include "pki/pki.h"
#include "pki/timing.h"

#define S_THREADS 4
#define S_READS_PER_THREAD 3

static enum tv_reason S_read_fixture(struct tv_pki_ctx *ctx, const char *name, const char *pass)
{
	struct tv_p12_contents *c = NULL;
	char msg[TV_REASON_MSG_SIZE];
	unsigned char *der;
	enum tv_reason r;
	size_t len;

	der = tvt_read_fmt(&len, "%s/p12/%s", TVT_FIXTURES, name);
	r = tv_p12_read(&c, ctx, der, len, pass, strlen(pass), NULL, msg, sizeof(msg));
	tv_p12_contents_free(c);
	free(der);
	return r;
}

static uint64_t S_spans(struct tv_pki_timing *t, enum tv_pki_phase p)
{
	return atomic_load(&t->spans[p]);
}

static uint64_t S_ns(struct tv_pki_timing *t, enum tv_pki_phase p)
{
	return atomic_load(&t->ns[p]);
}

/* OpenSSL 3's default profile: a PKCS#12-KDF MAC, and PBES2 (one PBKDF2
 * each) on the certificate safe and on the key bag: all three visible
 * before any decryption, so they run as one batch, one KDF span. */
static void test_default_profile_counts(void **state)
{
	struct tv_pki_timing t;
	struct tv_pki_ctx *ctx = NULL;
	int p;

	(void)state;
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	memset(&t, 0xff, sizeof(t));
	tv_pki_timing_reset(&t);
	tv_pki_ctx_set_timing(ctx, &t);
	assert_int_equal(S_read_fixture(ctx, "openssl-default-rsa2048.p12", TVT_PASS),
			 TV_REASON_OK);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KDF), 1);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_MAC), 1);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_DECRYPT), 2);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KEY_DECODE), 1);
	/* the one certificate bag, decoded once (pairing hands out a
	 * reference, not a copy) */
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_CERT_DECODE), 1);
	/* matching, then the key-type check */
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_PAIRING), 2);
	/* 2048-iteration KDFs take real time; the rest is at least counted */
	assert_true(S_ns(&t, TV_PKI_PHASE_KDF) > 100000u);
	for (p = 0; p < TV_PKI_PHASE_COUNT; p++)
		assert_true(S_ns(&t, (enum tv_pki_phase)p) > 0);
	tv_pki_ctx_free(ctx);
}

/* The legacy PBEs derive key and IV with two PKCS#12 KDF runs each: with
 * the MAC's, five derivations in the one batch. */
static void test_legacy_profile_counts(void **state)
{
	struct tv_pki_timing t;
	struct tv_pki_ctx *ctx = NULL;

	(void)state;
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	tv_pki_timing_reset(&t);
	tv_pki_ctx_set_timing(ctx, &t);
	assert_int_equal(S_read_fixture(ctx, "openssl-legacy-rsa2048.p12", TVT_PASS),
			 TV_REASON_OK);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KDF), 1);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_DECRYPT), 2);
	tv_pki_ctx_free(ctx);
}

/* A wrong password stops at the MAC: one KDF span (the batch, which has
 * derived the bags' keys with the MAC's: the price of running them side
 * by side), one HMAC, no decryption, nothing after. */
static void test_wrong_password_stops_at_mac(void **state)
{
	struct tv_pki_timing t;
	struct tv_pki_ctx *ctx = NULL;

	(void)state;
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	tv_pki_timing_reset(&t);
	tv_pki_ctx_set_timing(ctx, &t);
	assert_int_equal(S_read_fixture(ctx, "openssl-default-rsa2048.p12", "not-the-password"),
			 TV_REASON_MAC_VERIFICATION_FAILED);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KDF), 1);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_MAC), 1);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_DECRYPT), 0);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_CERT_DECODE), 0);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KEY_DECODE), 0);
	tv_pki_ctx_free(ctx);
}

/* A PFX whose key bag sits inside the encrypted safe (PBES2 with
 * PBKDF2-HMAC-SHA256 on both, HMAC-SHA256 MAC, 2,048 iterations each). */
static unsigned char *S_nested_p12(size_t *len)
{
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	EVP_PKEY *key = tvt_fixture_key("leaf");
	X509 *cert = tvt_fixture_cert("leaf");
	unsigned char *der = NULL;
	PKCS12 *p12;
	int n;

	assert_non_null(PKCS12_add_cert(&bags, cert));
	assert_non_null(PKCS12_add_key(&bags, key, 0, 2048, NID_aes_256_cbc, TVT_PASS));
	assert_int_equal(PKCS12_add_safe(&safes, bags, NID_aes_256_cbc, 2048, TVT_PASS), 1);
	p12 = PKCS12_add_safes(safes, 0);
	assert_non_null(p12);
	assert_int_equal(PKCS12_set_mac(p12, TVT_PASS, -1, NULL, 0, 2048, EVP_sha256()), 1);
	n = i2d_PKCS12(p12, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	PKCS12_free(p12);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	EVP_PKEY_free(key);
	X509_free(cert);
	return der;
}

/* A key bag inside an encrypted safe is not visible before the safe is
 * decrypted: the batch has the MAC's and the safe's KDFs, and the bag's
 * key is derived when the walk gets there, a second span. */
static void test_nested_key_bag_derived_later(void **state)
{
	struct tv_p12_contents *c = NULL;
	char msg[TV_REASON_MSG_SIZE];
	struct tv_pki_timing t;
	struct tv_pki_ctx *ctx = NULL;
	unsigned char *der;
	size_t len;

	(void)state;
	der = S_nested_p12(&len);
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	tv_pki_timing_reset(&t);
	tv_pki_ctx_set_timing(ctx, &t);
	assert_int_equal(tv_p12_read(&c, ctx, der, len, TVT_PASS, strlen(TVT_PASS), NULL, msg,
				     sizeof(msg)),
			 TV_REASON_OK);
	assert_int_equal(c->pair_count, 1);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KDF), 2);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_DECRYPT), 2);
	tv_p12_contents_free(c);
	tv_pki_ctx_free(ctx);
	OPENSSL_free(der);
}

/* Detached (NULL) counters: reads go on and write nothing anywhere. */
static void test_untimed_ctx_writes_nothing(void **state)
{
	struct tv_pki_timing t;
	struct tv_pki_ctx *ctx = NULL;
	int p;

	(void)state;
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	tv_pki_timing_reset(&t);
	tv_pki_ctx_set_timing(ctx, &t);
	tv_pki_ctx_set_timing(ctx, NULL);
	assert_int_equal(S_read_fixture(ctx, "openssl-default-p256.p12", TVT_PASS),
			 TV_REASON_OK);
	for (p = 0; p < TV_PKI_PHASE_COUNT; p++) {
		assert_int_equal(S_spans(&t, (enum tv_pki_phase)p), 0);
		assert_int_equal(S_ns(&t, (enum tv_pki_phase)p), 0);
	}
	tv_pki_ctx_free(ctx);
}

struct S_thread_arg {
	struct tv_pki_ctx *ctx;
	int failures;
};

static void *S_reader(void *p)
{
	struct S_thread_arg *a = p;
	int i;

	for (i = 0; i < S_READS_PER_THREAD; i++)
		if (S_read_fixture(a->ctx, "openssl-default-p256.p12", TVT_PASS) != TV_REASON_OK)
			a->failures++;
	return NULL;
}

/* Concurrent reads on one timed context: the sums are exact. */
static void test_concurrent_sums_exact(void **state)
{
	struct S_thread_arg args[S_THREADS];
	pthread_t th[S_THREADS];
	struct tv_pki_timing t;
	struct tv_pki_ctx *ctx = NULL;
	int i;

	(void)state;
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	tv_pki_timing_reset(&t);
	tv_pki_ctx_set_timing(ctx, &t);
	for (i = 0; i < S_THREADS; i++) {
		args[i].ctx = ctx;
		args[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, S_reader, &args[i]), 0);
	}
	for (i = 0; i < S_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KDF), S_THREADS * S_READS_PER_THREAD);
	assert_int_equal(S_spans(&t, TV_PKI_PHASE_KEY_DECODE), S_THREADS * S_READS_PER_THREAD);
	tv_pki_ctx_free(ctx);
}

static void test_phase_names(void **state)
{
	(void)state;
	assert_string_equal(tv_pki_phase_name(TV_PKI_PHASE_KDF), "kdf");
	assert_string_equal(tv_pki_phase_name(TV_PKI_PHASE_PAIRING), "pairing");
	assert_string_equal(tv_pki_phase_name(TV_PKI_PHASE_COUNT), "?");
	assert_string_equal(tv_pki_phase_name((enum tv_pki_phase)-1), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_profile_counts),
		cmocka_unit_test(test_legacy_profile_counts),
		cmocka_unit_test(test_wrong_password_stops_at_mac),
		cmocka_unit_test(test_nested_key_bag_derived_later),
		cmocka_unit_test(test_untimed_ctx_writes_nothing),
		cmocka_unit_test(test_concurrent_sums_exact),
		cmocka_unit_test(test_phase_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
