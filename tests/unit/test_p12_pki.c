/* tv-test-libs: tv_pki */
/*
 * test_p12_pki.c - the helpers of pki.h that the readers are built on:
 * certificate parsing (PEM, DER, bundles), the key-type policy, and
 * tv_pki_key_to_pkcs8 (what the import pipeline seals to the DEK).
 */
#include "test_p12_util.h"

#include "pki/pki.h"
#include "pki/reason.h"

static struct tv_pki_ctx *g_ctx;

static int S_setup(void **state)
{
	(void)state;
	return tv_pki_ctx_new(&g_ctx) == TV_OK ? 0 : -1;
}

static int S_teardown(void **state)
{
	(void)state;
	tv_pki_ctx_free(g_ctx);
	return 0;
}

/* ---- helpers of pki.h ------------------------------------------------------ */

static void test_key_to_pkcs8(void **state)
{
	static const char *const names[] = { "rsa2048", "p521", "ed25519" };
	struct tv_secbuf *buf = NULL;
	const unsigned char *p;
	EVP_PKEY *key, *back;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		key = tvt_fixture_key(names[i]);
		assert_int_equal(tv_pki_key_to_pkcs8(&buf, key), TV_OK);
		p = buf->p;
		back = d2i_AutoPrivateKey(NULL, &p, (long)buf->len);
		assert_non_null(back);
		assert_ptr_equal(p, buf->p + buf->len);
		assert_int_equal(EVP_PKEY_eq(key, back), 1);
		EVP_PKEY_free(back);
		EVP_PKEY_free(key);
		tv_secbuf_free(buf);
		buf = NULL;
	}
	assert_int_equal(tv_pki_key_to_pkcs8(&buf, NULL), TV_ERR_INVALID);
	assert_null(buf);
}

static void test_cert_parse(void **state)
{
	char msg[TV_REASON_MSG_SIZE];
	STACK_OF(X509) *certs = NULL;
	unsigned char *pem, *der = NULL, *both;
	X509 *want = tvt_fixture_cert("leaf"), *ca = tvt_fixture_cert("ca");
	X509 *got = NULL;
	size_t pem_len, ca_len;
	unsigned char *ca_pem;
	int der_len;

	(void)state;
	pem = tvt_read_fmt(&pem_len, "%s/keys/leaf.crt.pem", TVT_FIXTURES);
	assert_int_equal(tv_pki_cert_parse(&got, g_ctx, pem, pem_len, msg,
					   sizeof(msg)), TV_REASON_OK);
	assert_int_equal(X509_cmp(got, want), 0);
	X509_free(got);
	der_len = i2d_X509(want, &der);
	assert_true(der_len > 0);
	assert_int_equal(tv_pki_cert_parse(&got, g_ctx, der, (size_t)der_len, msg,
					   sizeof(msg)), TV_REASON_OK);
	assert_int_equal(X509_cmp(got, want), 0);
	X509_free(got);
	got = NULL;
	/* DER with a trailing byte, garbage, nothing */
	assert_int_equal(tv_pki_cert_parse(&got, g_ctx, der, (size_t)der_len - 1,
					   msg, sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_int_equal(tv_pki_cert_parse(&got, g_ctx, (const unsigned char *)"xyz",
					   3, msg, sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_int_equal(tv_pki_cert_parse(&got, g_ctx, NULL, 0, msg, sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_null(got);
	/* a bundle: leaf then CA */
	ca_pem = tvt_read_fmt(&ca_len, "%s/keys/ca.crt.pem", TVT_FIXTURES);
	both = malloc(pem_len + ca_len);
	assert_non_null(both);
	memcpy(both, pem, pem_len);
	memcpy(both + pem_len, ca_pem, ca_len);
	assert_int_equal(tv_pki_certs_parse(&certs, g_ctx, both, pem_len + ca_len,
					    msg, sizeof(msg)), TV_REASON_OK);
	assert_int_equal(sk_X509_num(certs), 2);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 0), want), 0);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 1), ca), 0);
	sk_X509_pop_free(certs, X509_free);
	free(both);
	free(ca_pem);
	free(pem);
	OPENSSL_free(der);
	X509_free(want);
	X509_free(ca);
}

static void test_key_check(void **state)
{
	static const struct {
		const char *name;
		enum tv_reason want;
		const char *msg_has;
	} keys[] = {
		{ "rsa2048", TV_REASON_OK, NULL },
		{ "rsa4096", TV_REASON_OK, NULL },
		{ "p256", TV_REASON_OK, NULL },
		{ "p384", TV_REASON_OK, NULL },
		{ "p521", TV_REASON_OK, NULL },
		{ "ed25519", TV_REASON_OK, NULL },
		{ "rsa1024", TV_REASON_UNSUPPORTED_KEY_TYPE, "RSA-1024" },
		{ "dsa2048", TV_REASON_UNSUPPORTED_KEY_TYPE, "DSA" },
		{ "secp256k1", TV_REASON_UNSUPPORTED_KEY_TYPE, "secp256k1" },
		{ "ed448", TV_REASON_UNSUPPORTED_KEY_TYPE, "ED448" },
	};
	char msg[TV_REASON_MSG_SIZE];
	EVP_PKEY *key;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		key = tvt_fixture_key(keys[i].name);
		msg[0] = '\0';
		assert_int_equal(tv_pki_key_check(key, 0, msg, sizeof(msg)),
				 keys[i].want);
		if (keys[i].msg_has)
			assert_non_null(strstr(msg, keys[i].msg_has));
		EVP_PKEY_free(key);
	}
}

static void test_ctx_lifecycle(void **state)
{
	struct tv_pki_ctx *ctx = NULL;
	EVP_CIPHER *rc2;

	(void)state;
	tv_pki_ctx_free(NULL);
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	/* both providers: RC2 (legacy) and AES (default) fetch in its libctx */
	rc2 = EVP_CIPHER_fetch(tv_pki_libctx(ctx), "RC2-40-CBC", NULL);
	assert_non_null(rc2);
	EVP_CIPHER_free(rc2);
	rc2 = EVP_CIPHER_fetch(tv_pki_libctx(ctx), "AES-256-CBC", NULL);
	assert_non_null(rc2);
	EVP_CIPHER_free(rc2);
	tv_pki_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctx_lifecycle),
		cmocka_unit_test(test_key_to_pkcs8),
		cmocka_unit_test(test_cert_parse),
		cmocka_unit_test(test_key_check),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
