/* tv-test-libs: tv_pki */
/*
 * test_keyfacts.c - the key fast path (src/pki/keyfacts.c): it reads
 * exactly the PKCS#8 forms OpenSSL's encoder writes, gives the size, curve
 * and public key OpenSSL would, answers "same key" / "another key" only
 * where the bytes decide it, and leaves every other form to OpenSSL.
 */
#include "test_p12_util.h"

#include <openssl/core_names.h>

#include "pki/keyfacts.h"

/* OpenSSL's PKCS#8 encoding of key, into a malloc'd buffer. */
static unsigned char *S_pkcs8(size_t *len, const EVP_PKEY *key)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *der = NULL;
	int n;

	assert_non_null(p8);
	n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	assert_true(n > 0);
	PKCS8_PRIV_KEY_INFO_free(p8);
	*len = (size_t)n;
	return der;
}

static X509 *S_cert_of(EVP_PKEY *key)
{
	X509 *cert = X509_new();

	assert_non_null(cert);
	assert_int_equal(X509_set_pubkey(cert, key), 1);
	return cert;
}

/*
 * tv__key_facts_match_spki on cert's SubjectPublicKeyInfo bytes gives what
 * tv__key_facts_match gives on the X509 (the reader's undecoded leaf), and
 * "ask OpenSSL" for a match whose key may not decode.
 */
static void S_spki_same(const struct tv__key_facts *f, X509 *cert)
{
	unsigned char *der = NULL;
	struct tv__der cur, seq, alg, bits;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int want = tv__key_facts_match(f, cert);

	assert_true(n > 0);
	cur.p = der;
	cur.len = (size_t)n;
	assert_true(tv__der_get(&cur, TV__DER_SEQUENCE, &seq, NULL));
	assert_true(tv__der_get(&seq, TV__DER_SEQUENCE, NULL, &alg));
	assert_true(tv__der_get(&seq, TV__DER_BIT_STRING, &bits, NULL));
	assert_true(bits.len > 0 && bits.p[0] == 0);
	bits.p++;
	bits.len--;
	assert_int_equal(tv__key_facts_match_spki(f, &alg, &bits, true), want);
	assert_int_equal(tv__key_facts_match_spki(f, &alg, &bits, false), want == 1 ? -1 : want);
	OPENSSL_free(der);
}

static void S_check(const char *type, const char *curve, unsigned bits, int nid)
{
	EVP_PKEY *key = curve ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve)
			      : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	EVP_PKEY *other = curve ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve)
				: EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	EVP_PKEY *cross = curve ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
				: EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct tv__key_facts f;
	X509 *mine, *theirs, *wrong_type;
	unsigned char *der;
	size_t len;

	assert_non_null(key);
	assert_non_null(other);
	assert_non_null(cross);
	der = S_pkcs8(&len, key);
	assert_true(tv__key_facts_read(&f, der, len));
	assert_int_equal(f.kind, curve ? TV__KEY_EC : TV__KEY_RSA);
	assert_int_equal(f.bits, (unsigned)EVP_PKEY_get_bits(key));
	if (curve)
		assert_int_equal(f.curve_nid, nid);
	mine = S_cert_of(key);
	theirs = S_cert_of(other);
	wrong_type = S_cert_of(cross);
	assert_int_equal(tv__key_facts_match(&f, mine), 1);
	assert_int_equal(tv__key_facts_match(&f, theirs), 0);
	assert_int_equal(tv__key_facts_match(&f, wrong_type), 0);
	S_spki_same(&f, mine);
	S_spki_same(&f, theirs);
	S_spki_same(&f, wrong_type);
	if (curve) {
		/* a compressed point: the bytes can't tell, OpenSSL decides */
		X509 *compressed;

		assert_int_equal(EVP_PKEY_set_utf8_string_param(
					 key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					 "compressed"),
				 1);
		compressed = S_cert_of(key);
		assert_int_equal(tv__key_facts_match(&f, compressed), -1);
		S_spki_same(&f, compressed);
		X509_free(compressed);
	}
	/* any byte less, or one more, and it is not the plain form */
	assert_false(tv__key_facts_read(&f, der, len - 1));
	assert_int_equal(f.kind, TV__KEY_SLOW);
	assert_int_equal(tv__key_facts_match(&f, mine), -1);
	print_message("%s: fast path ok\n", type);
	OPENSSL_clear_free(der, len);
	X509_free(mine);
	X509_free(theirs);
	X509_free(wrong_type);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	EVP_PKEY_free(cross);
}

static void test_plain_forms(void **state)
{
	(void)state;
	S_check("RSA-2048", NULL, 2048, 0);
	S_check("RSA-3072", NULL, 3072, 0);
	S_check("P-256", "P-256", 256, NID_X9_62_prime256v1);
	S_check("P-384", "P-384", 384, NID_secp384r1);
	S_check("P-521", "P-521", 521, NID_secp521r1);
}

/* Forms the fast path leaves to OpenSSL. */
static void test_other_forms(void **state)
{
	EVP_PKEY *key;
	PKCS8_PRIV_KEY_INFO *p8;
	struct tv__key_facts f;
	unsigned char *der;
	size_t len;
	int n;

	(void)state;
	/* an EC key written without its public point */
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_set_int_param(key, OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, 0), 1);
	der = S_pkcs8(&len, key);
	assert_false(tv__key_facts_read(&f, der, len));
	OPENSSL_clear_free(der, len);
	EVP_PKEY_free(key);
	/* a curve tlsvault doesn't store */
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	assert_non_null(key);
	der = S_pkcs8(&len, key);
	assert_false(tv__key_facts_read(&f, der, len));
	OPENSSL_clear_free(der, len);
	EVP_PKEY_free(key);
	/* Ed25519 */
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(key);
	der = S_pkcs8(&len, key);
	assert_false(tv__key_facts_read(&f, der, len));
	OPENSSL_clear_free(der, len);
	/* an RSA PrivateKeyInfo with attributes */
	EVP_PKEY_free(key);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(key);
	p8 = EVP_PKEY2PKCS8(key);
	assert_non_null(p8);
	assert_int_equal(PKCS8_pkey_add1_attr_by_NID(p8, NID_friendlyName, V_ASN1_BMPSTRING,
						     (const unsigned char *)"\0k", 2),
			 1);
	der = NULL;
	n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	assert_true(n > 0);
	assert_false(tv__key_facts_read(&f, der, (size_t)n));
	OPENSSL_clear_free(der, (size_t)n);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(key);
	/* not DER at all */
	assert_false(tv__key_facts_read(&f, (const unsigned char *)"\x30\x80\x00\x00", 4));
	assert_false(tv__key_facts_read(&f, (const unsigned char *)"", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_forms),
		cmocka_unit_test(test_other_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
