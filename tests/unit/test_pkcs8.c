/* tv-test-libs: tv_pki */
/*
 * test_pkcs8.c - the two PKCS#8 import forms of API.md: an encrypted
 * "ENCRYPTED PRIVATE KEY" PEM with its password, and a plain PKCS#8 DER key,
 * each with a certificate (PEM, PEM bundle or DER). Fixtures come from
 * tests/fixtures/gen-keystores.sh (openssl pkcs8 -topk8 ...).
 */
#include "test_p12_util.h"

#include <openssl/pkcs12.h>

#include "pki/pkcs8.h"
#include "pki/timing.h"

static struct tv_pki_ctx *g_ctx;
/* counts KDF runs: "refused before any KDF" is a count, not a time */
static struct tv_pki_timing g_timing;

static int S_setup(void **state)
{
	(void)state;
	if (tv_pki_ctx_new(&g_ctx) != TV_OK)
		return -1;
	tv_pki_ctx_set_timing(g_ctx, &g_timing);
	return 0;
}

static int S_teardown(void **state)
{
	(void)state;
	tv_pki_ctx_free(g_ctx);
	return 0;
}

/* tests/fixtures/keys/<name>.crt.pem, as PEM text or as DER. */
static unsigned char *S_cert_bytes(const char *name, bool der, size_t *len)
{
	unsigned char *out = NULL;
	X509 *cert;
	int n;

	if (!der)
		return tvt_read_fmt(len, "%s/keys/%s.crt.pem", TVT_FIXTURES, name);
	cert = tvt_fixture_cert(name);
	n = i2d_X509(cert, &out);
	assert_true(n > 0);
	X509_free(cert);
	*len = (size_t)n;
	return out; /* OPENSSL_malloc'd; free() is the same allocator here */
}

static void S_assert_pair(struct tv_p12_contents *c, const char *name)
{
	EVP_PKEY *key = tvt_fixture_key(name);
	X509 *cert = tvt_fixture_cert(name);

	assert_non_null(c);
	assert_int_equal(c->pair_count, 1);
	assert_int_equal(EVP_PKEY_eq(tv_p12_pair_key(c, 0), key), 1);
	assert_int_equal(X509_cmp(tv_p12_pair_cert(c, 0), cert), 0);
	assert_null(c->pairs[0].friendly_name);
	EVP_PKEY_free(key);
	X509_free(cert);
}

struct S_enc_case {
	const char *pem;      /* tests/fixtures/pkcs8/<pem>, or NULL: crafted */
	const char *password;
	const char *cert;     /* fixture name, or NULL: none given */
	bool cert_der;
	const char *key;      /* fixture whose key must come back on success */
	enum tv_reason want;
	const char *msg_has;
};

static const struct S_enc_case S_enc_cases[] = {
	{ "rsa2048-aes256-sha256.pem", TVT_PASS, "rsa2048", false, "rsa2048",
	  TV_REASON_OK, NULL },
	{ "p256-aes128-sha512.pem", TVT_PASS, "p256", true, "p256", TV_REASON_OK,
	  NULL },
	{ "ed25519-aes192-sha1.pem", TVT_PASS, "ed25519", false, "ed25519",
	  TV_REASON_OK, NULL },
	{ "p384-pkcs12-3des.pem", TVT_PASS, "p384", true, "p384", TV_REASON_OK,
	  NULL },
	{ "p521-utf8pw.pem", TVT_UTF8_PASS, "p521", false, "p521", TV_REASON_OK,
	  NULL },
	{ "rsa2048-aes256-sha256.pem", "Xq7-not-it", "rsa2048", false, NULL,
	  TV_REASON_DECRYPTION_FAILED, "wrong password" },
	{ "p384-pkcs12-3des.pem", "Xq7-not-it", "p384", false, NULL,
	  TV_REASON_DECRYPTION_FAILED, "wrong password" },
	{ "p256-aes128-sha512.pem", "", "p256", false, NULL,
	  TV_REASON_DECRYPTION_FAILED, NULL },
	{ "rsa2048-aes256-sha256.pem", TVT_PASS, "p256", false, NULL,
	  TV_REASON_KEY_CERTIFICATE_MISMATCH, "CN=p256.fixture.test" },
	{ "rsa2048-aes256-sha256.pem", TVT_PASS, NULL, false, NULL,
	  TV_REASON_NO_CERTIFICATE, "no certificate" },
	{ "dsa2048-aes256.pem", TVT_PASS, "dsa2048", false, NULL,
	  TV_REASON_UNSUPPORTED_KEY_TYPE, "DSA" },
	{ "rsa1024-aes256.pem", TVT_PASS, "rsa1024", false, NULL,
	  TV_REASON_UNSUPPORTED_KEY_TYPE, "RSA-1024" },
	{ "rsa2048-pbes1-md5des.pem", TVT_PASS, "rsa2048", false, NULL,
	  TV_REASON_UNSUPPORTED_ALGORITHM, "pbeWithMD5AndDES-CBC" },
};

static void S_run_enc(const struct S_enc_case *t)
{
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *pem, *cert = NULL;
	size_t pem_len, cert_len = 0;
	enum tv_reason rc;

	pem = tvt_read_fmt(&pem_len, "%s/pkcs8/%s", TVT_FIXTURES, t->pem);
	if (t->cert)
		cert = S_cert_bytes(t->cert, t->cert_der, &cert_len);
	rc = tv_pkcs8_read_encrypted_pem(&c, g_ctx, (const char *)pem, pem_len,
					 t->password, strlen(t->password), cert,
					 cert_len, NULL, msg, sizeof(msg));
	if (rc != t->want)
		fail_msg("%s/%s: got %s (%s), want %s", t->pem,
			 t->cert ? t->cert : "-", tv_reason_code(rc), msg,
			 tv_reason_code(t->want));
	if (rc == TV_REASON_OK) {
		S_assert_pair(c, t->key);
		assert_int_equal(sk_X509_num(c->chain_candidates), 0);
		tv_p12_contents_free(c);
	} else {
		assert_null(c);
		assert_true(msg[0] != '\0');
		if (t->msg_has && !strstr(msg, t->msg_has))
			fail_msg("%s: message \"%s\" lacks \"%s\"", t->pem, msg,
				 t->msg_has);
		tvt_assert_no_secret(msg, t->password);
	}
	free(pem);
	if (t->cert_der)
		OPENSSL_free(cert);
	else
		free(cert);
}

static void test_encrypted_pem(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(S_enc_cases) / sizeof(S_enc_cases[0]); i++)
		S_run_enc(&S_enc_cases[i]);
}

/* An ENCRYPTED PRIVATE KEY claiming 10,000,000 PBKDF2 iterations. */
static char *S_pem_iter_10m(size_t *len)
{
	X509_ALGOR *alg = PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), 10000000, NULL,
					       0, NULL, NID_hmacWithSHA256, NULL);
	X509_SIG *sig = X509_SIG_new();
	X509_ALGOR *sig_alg;
	ASN1_OCTET_STRING *sig_data;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_non_null(alg);
	X509_SIG_getm(sig, &sig_alg, &sig_data);
	assert_int_equal(X509_ALGOR_copy(sig_alg, alg), 1);
	assert_int_equal(ASN1_OCTET_STRING_set(sig_data,
					       (const unsigned char *)"0123456789abcdef",
					       16), 1);
	assert_int_equal(PEM_write_bio_PKCS8(bio, sig), 1);
	n = BIO_get_mem_data(bio, &data);
	out = malloc((size_t)n);
	assert_non_null(out);
	memcpy(out, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	X509_SIG_free(sig);
	X509_ALGOR_free(alg);
	return out;
}

static void test_encrypted_pem_limits(void **state)
{
	struct tv_p12_limits lim = { .max_keystore_bytes = 100 };
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *cert, *pem;
	char *crafted;
	size_t cert_len, len;

	(void)state;
	cert = S_cert_bytes("rsa2048", false, &cert_len);
	crafted = S_pem_iter_10m(&len);
	tv_pki_timing_reset(&g_timing);
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, crafted, len,
						     TVT_PASS, strlen(TVT_PASS),
						     cert, cert_len, NULL, msg,
						     sizeof(msg)),
			 TV_REASON_ITERATION_LIMIT_EXCEEDED);
	assert_int_equal(atomic_load(&g_timing.spans[TV_PKI_PHASE_KDF]), 0);
	assert_non_null(strstr(msg, "10000000 is over the limit of 1000000"));
	free(crafted);

	pem = tvt_read_fmt(&len, "%s/pkcs8/rsa2048-aes256-sha256.pem", TVT_FIXTURES);
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, (const char *)pem,
						     len, TVT_PASS, strlen(TVT_PASS),
						     cert, cert_len, &lim, msg,
						     sizeof(msg)),
			 TV_REASON_KEYSTORE_TOO_LARGE);
	/* the cap on a PEM is the same iteration cap */
	lim = (struct tv_p12_limits){ .max_iterations = 2047 };
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, (const char *)pem,
						     len, TVT_PASS, strlen(TVT_PASS),
						     cert, cert_len, &lim, msg,
						     sizeof(msg)),
			 TV_REASON_ITERATION_LIMIT_EXCEEDED);
	/* a bad certificate is refused before any KDF runs */
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, (const char *)pem,
						     len, TVT_PASS, strlen(TVT_PASS),
						     (const unsigned char *)"junk", 4,
						     NULL, msg, sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_null(c);
	free(pem);
	free(cert);
}

static void test_encrypted_pem_malformed(void **state)
{
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *cert, *plain;
	size_t cert_len, len;

	(void)state;
	cert = S_cert_bytes("rsa2048", false, &cert_len);
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, "hello", 5,
						     TVT_PASS, strlen(TVT_PASS),
						     cert, cert_len, NULL, msg,
						     sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, "", 0, TVT_PASS,
						     strlen(TVT_PASS), cert,
						     cert_len, NULL, msg,
						     sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	/* an unencrypted "PRIVATE KEY" is not this form */
	plain = tvt_read_fmt(&len, "%s/keys/rsa2048.key.pem", TVT_FIXTURES);
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, (const char *)plain,
						     len, TVT_PASS, strlen(TVT_PASS),
						     cert, cert_len, NULL, msg,
						     sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_non_null(strstr(msg, "PRIVATE KEY"));
	assert_null(c);
	free(plain);
	free(cert);
}

/* The certificate may be a bundle: the leaf is found, the rest is chain. */
static void test_cert_bundle(void **state)
{
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der, *ca, *leaf, *bundle;
	size_t der_len, ca_len, leaf_len;
	X509 *ca_cert = tvt_fixture_cert("ca");

	(void)state;
	der = tvt_read_fmt(&der_len, "%s/pkcs8/p256.der", TVT_FIXTURES);
	ca = S_cert_bytes("ca", false, &ca_len);
	leaf = S_cert_bytes("p256", false, &leaf_len);
	bundle = malloc(ca_len + leaf_len);
	assert_non_null(bundle);
	memcpy(bundle, ca, ca_len); /* CA first: the leaf is found anyway */
	memcpy(bundle + ca_len, leaf, leaf_len);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, der_len, bundle,
					   ca_len + leaf_len, NULL, msg,
					   sizeof(msg)), TV_REASON_OK);
	S_assert_pair(c, "p256");
	assert_int_equal(sk_X509_num(c->chain_candidates), 1);
	assert_int_equal(X509_cmp(sk_X509_value(c->chain_candidates, 0), ca_cert),
			 0);
	tv_p12_contents_free(c);
	free(bundle);
	free(leaf);
	free(ca);
	free(der);
	X509_free(ca_cert);
}

struct S_der_case {
	const char *der;   /* tests/fixtures/pkcs8/<der> */
	const char *cert;
	bool cert_der;
	int trailing;      /* bytes appended to the key */
	enum tv_reason want;
	const char *msg_has;
};

static const struct S_der_case S_der_cases[] = {
	{ "rsa2048.der", "rsa2048", false, 0, TV_REASON_OK, NULL },
	{ "p256.der", "p256", true, 0, TV_REASON_OK, NULL },
	{ "ed25519.der", "ed25519", false, 0, TV_REASON_OK, NULL },
	{ "dsa2048.der", "dsa2048", false, 0, TV_REASON_UNSUPPORTED_KEY_TYPE,
	  "DSA" },
	{ "rsa2048.der", "ed25519", false, 0, TV_REASON_KEY_CERTIFICATE_MISMATCH,
	  "ed25519.fixture.test" },
	{ "rsa2048.der", NULL, false, 0, TV_REASON_NO_CERTIFICATE, NULL },
	{ "p256.der", "p256", false, 3, TV_REASON_MALFORMED_KEYSTORE, "PKCS#8" },
};

static void test_plain_der(void **state)
{
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c;
	unsigned char *der, *cert;
	size_t i, len, cert_len;
	enum tv_reason rc;

	(void)state;
	for (i = 0; i < sizeof(S_der_cases) / sizeof(S_der_cases[0]); i++) {
		const struct S_der_case *t = &S_der_cases[i];

		der = tvt_read_fmt(&len, "%s/pkcs8/%s", TVT_FIXTURES, t->der);
		der = realloc(der, len + 8);
		assert_non_null(der);
		memset(der + len, 0, 8);
		len += (size_t)t->trailing;
		cert = NULL;
		cert_len = 0;
		if (t->cert)
			cert = S_cert_bytes(t->cert, t->cert_der, &cert_len);
		c = NULL;
		rc = tv_pkcs8_read_der(&c, g_ctx, der, len, cert, cert_len, NULL,
				       msg, sizeof(msg));
		if (rc != t->want)
			fail_msg("%s: got %s (%s), want %s", t->der,
				 tv_reason_code(rc), msg, tv_reason_code(t->want));
		if (rc == TV_REASON_OK) {
			S_assert_pair(c, t->cert);
			tv_p12_contents_free(c);
		} else {
			assert_null(c);
			if (t->msg_has && !strstr(msg, t->msg_has))
				fail_msg("%s: message \"%s\" lacks \"%s\"", t->der,
					 msg, t->msg_has);
		}
		free(der);
		if (t->cert_der)
			OPENSSL_free(cert);
		else
			free(cert);
	}
}

static void test_plain_der_limits(void **state)
{
	struct tv_p12_limits lim = { .max_keystore_bytes = 64 };
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der, *cert;
	size_t len, cert_len;

	(void)state;
	der = tvt_read_fmt(&len, "%s/pkcs8/rsa2048.der", TVT_FIXTURES);
	cert = S_cert_bytes("rsa2048", false, &cert_len);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, cert, cert_len,
					   &lim, msg, sizeof(msg)),
			 TV_REASON_KEYSTORE_TOO_LARGE);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, (const unsigned char *)"\x30\x03junk",
					   7, cert, cert_len, NULL, msg,
					   sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, 0, cert, cert_len, NULL,
					   msg, sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	assert_null(c);
	free(der);
	free(cert);
}

/* tests/fixtures/hostile/rsa16384.key.pem (a PKCS#8 PEM) as PKCS#8 DER. */
static unsigned char *S_rsa16k_der(size_t *len)
{
	unsigned char *pem, *der = NULL;
	char *name = NULL, *header = NULL;
	size_t pem_len;
	long n = 0;
	BIO *bio;

	pem = tvt_read_fmt(&pem_len, "%s/hostile/rsa16384.key.pem", TVT_FIXTURES);
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	assert_non_null(bio);
	assert_true(PEM_read_bio(bio, &name, &header, &der, &n));
	assert_string_equal(name, "PRIVATE KEY");
	*len = (size_t)n;
	OPENSSL_free(name);
	OPENSSL_free(header);
	BIO_free(bio);
	free(pem);
	return der;
}

/*
 * A 16,384-bit RSA key is refused as soon as it is decoded: with the
 * certificate of another key, the answer is still UNSUPPORTED_KEY_TYPE,
 * not KEY_CERTIFICATE_MISMATCH, so no pairing (and no RSA operation) ran.
 * With the cap raised to 16384 it reads.
 */
static void test_key_bits_cap(void **state)
{
	struct tv_p12_limits lim = { .max_key_bits = 16384 };
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der, *other, *own;
	size_t len, other_len, own_len;

	(void)state;
	der = S_rsa16k_der(&len);
	other = S_cert_bytes("rsa2048", false, &other_len);
	own = tvt_read_fmt(&own_len, "%s/hostile/rsa16384.crt.pem", TVT_FIXTURES);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, other, other_len, NULL, msg,
					   sizeof(msg)),
			 TV_REASON_UNSUPPORTED_KEY_TYPE);
	assert_non_null(strstr(msg, "RSA-16384"));
	assert_non_null(strstr(msg, "limit of 8192"));
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, own, own_len, NULL, msg,
					   sizeof(msg)),
			 TV_REASON_UNSUPPORTED_KEY_TYPE);
	assert_null(c);
	lim.max_keystore_bytes = 64 * 1024;
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, other, other_len, &lim, msg,
					   sizeof(msg)),
			 TV_REASON_KEY_CERTIFICATE_MISMATCH);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, own, own_len, &lim, msg,
					   sizeof(msg)),
			 TV_REASON_OK);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_get_bits(tv_p12_pair_key(c, 0)), 16384);
	tv_p12_contents_free(c);
	/* a lower cap: 2048 bits pass a cap of 3072, 16384 don't */
	c = NULL;
	lim.max_key_bits = 3072;
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, own, own_len, &lim, msg,
					   sizeof(msg)),
			 TV_REASON_UNSUPPORTED_KEY_TYPE);
	assert_non_null(strstr(msg, "limit of 3072"));
	OPENSSL_free(der);
	der = tvt_read_fmt(&len, "%s/pkcs8/rsa2048.der", TVT_FIXTURES);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, other, other_len, &lim, msg,
					   sizeof(msg)),
			 TV_REASON_OK);
	tv_p12_contents_free(c);
	free(der);
	free(other);
	free(own);
}

/* A given certificate with more subjectAltNames than the cap: KEYSTORE_TOO_LARGE. */
static void test_sans_cap(void **state)
{
	struct tv_p12_limits lim = { .max_sans = 1 };
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der, *cert;
	size_t len, cert_len;

	(void)state;
	/* keys/p256.crt.pem has no subjectAltName; chain/leaf-rsa.crt.pem has
	 * six, and the cap is checked before the key is even decoded */
	der = tvt_read_fmt(&len, "%s/pkcs8/p256.der", TVT_FIXTURES);
	cert = S_cert_bytes("p256", false, &cert_len);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, cert, cert_len, NULL, msg,
					   sizeof(msg)),
			 TV_REASON_OK);
	tv_p12_contents_free(c);
	c = NULL;
	free(cert);
	cert = tvt_read_fmt(&cert_len, "%s/chain/leaf-rsa.crt.pem", TVT_FIXTURES);
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, cert, cert_len, &lim, msg,
					   sizeof(msg)),
			 TV_REASON_KEYSTORE_TOO_LARGE);
	assert_non_null(strstr(msg, "has 6 subjectAltNames, over the limit of 1"));
	lim.max_sans = 6;
	assert_int_equal(tv_pkcs8_read_der(&c, g_ctx, der, len, cert, cert_len, &lim, msg,
					   sizeof(msg)),
			 TV_REASON_KEY_CERTIFICATE_MISMATCH);
	assert_null(c);
	free(der);
	free(cert);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encrypted_pem),
		cmocka_unit_test(test_encrypted_pem_limits),
		cmocka_unit_test(test_encrypted_pem_malformed),
		cmocka_unit_test(test_cert_bundle),
		cmocka_unit_test(test_plain_der),
		cmocka_unit_test(test_plain_der_limits),
		cmocka_unit_test(test_key_bits_cap),
		cmocka_unit_test(test_sans_cap),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
