/* DESIGN: see keygen.h. Certificates get the extensions a real CA sets, so
 * the server's chain check treats them like any other. */
#define _GNU_SOURCE
#include "keygen.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* PBKDF2 iterations of the keystores: low, so a thousand are quick to make
 * and to read (the reader's KDFs and caps are tested on real files elsewhere). */
#define TVH_KEYGEN_ITER 100

static void S_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key named cn, issued by (issuer, signer), or self-signed. */
static X509 *S_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *signer, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint64_t serial;
	char san[300];

	assert_non_null(x);
	X509_set_version(x, 2);
	randombytes_buf(&serial, sizeof(serial));
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), (serial >> 1) | 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				   0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	S_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	S_ext(x, issuer ? issuer : x, NID_authority_key_identifier, "keyid:always");
	if (ca) {
		S_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		S_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		snprintf(san, sizeof(san), "DNS:%s", cn);
		S_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		S_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		S_ext(x, issuer, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, signer ? signer : key, EVP_sha256()) > 0);
	return x;
}

void tvh_ca_new(struct tvh_ca *ca, const char *cn)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	memset(ca, 0, sizeof(*ca));
	ca->key = EVP_EC_gen("P-256");
	assert_non_null(ca->key);
	ca->cert = S_cert(ca->key, cn, NULL, NULL, true);
	assert_int_equal(PEM_write_bio_X509(b, ca->cert), 1);
	n = BIO_get_mem_data(b, &p);
	assert_true(n > 0 && (size_t)n < sizeof(ca->pem));
	memcpy(ca->pem, p, (size_t)n);
	ca->pem[n] = '\0';
	BIO_free(b);
}

void tvh_ca_free(struct tvh_ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	memset(ca, 0, sizeof(*ca));
}

unsigned char *tvh_leaf_p12(const struct tvh_ca *ca, const char *cn, const char *pw,
			    size_t *len, char fp[41])
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x;
	PKCS12 *p12;
	unsigned char *der = NULL, *out;
	int n;

	assert_non_null(key);
	x = S_cert(key, cn, ca->cert, ca->key, false);
	p12 = PKCS12_create(pw, cn, key, x, NULL, 0, 0, TVH_KEYGEN_ITER, TVH_KEYGEN_ITER, 0);
	assert_non_null(p12);
	n = i2d_PKCS12(p12, &der);
	assert_true(n > 0);
	out = malloc((size_t)n);
	assert_non_null(out);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	if (fp) {
		unsigned char md[SHA_DIGEST_LENGTH], *cd = NULL;
		int cl = i2d_X509(x, &cd);

		assert_true(cl > 0);
		SHA1(cd, (size_t)cl, md);
		tv_hex_upper(fp, md, sizeof(md));
		OPENSSL_free(cd);
	}
	OPENSSL_free(der);
	PKCS12_free(p12);
	X509_free(x);
	EVP_PKEY_free(key);
	return out;
}
