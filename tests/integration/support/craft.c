/* DESIGN: see craft.h. The DER is written by hand (der.h) where no tool would write it. */
#define _GNU_SOURCE
#include "craft.h"

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "expect.h"
#include "importing.h"

/* A data ContentInfo whose content is der (consumed). */
struct tvh_buf tvh_craft_data_ci(struct tvh_buf der)
{
	return tvh_seq(2, tvh_oid(NID_pkcs7_data), tvh_explicit(0, tvh_tlv(0x04, der)));
}

/* MacData: SHA-256, a zero MAC, salt_len bytes of salt, iterations. */
struct tvh_buf tvh_craft_mac(size_t salt_len, int64_t iterations)
{
	static const unsigned char null_der[2] = {0x05, 0x00};

	return tvh_seq(3,
	               tvh_seq(2, tvh_seq(2, tvh_oid(NID_sha256), tvh_bytes(null_der, 2)),
	                       tvh_octets(NULL, 32)),
	               tvh_octets(NULL, salt_len), tvh_int(iterations));
}

/* PFX v3 around an AuthenticatedSafe (consumed), with MacData (consumed) or without (len 0). */
struct tvh_buf tvh_craft_pfx(struct tvh_buf authsafe, struct tvh_buf mac)
{
	return tvh_seq(3, tvh_int(3), tvh_craft_data_ci(authsafe), mac);
}

/* An encryptedData ContentInfo: PBES2, PBKDF2 with iterations, AES-256-CBC. */
struct tvh_buf tvh_craft_encrypted_ci(int64_t iterations)
{
	struct tvh_buf kdf =
	    tvh_seq(2, tvh_oid(NID_id_pbkdf2),
	            tvh_seq(3, tvh_octets(NULL, 8), tvh_int(iterations),
	                    tvh_seq(2, tvh_oid(NID_hmacWithSHA256), tvh_bytes("\x05\x00", 2))));
	struct tvh_buf alg =
	    tvh_seq(2, tvh_oid(NID_pbes2),
	            tvh_seq(2, kdf, tvh_seq(2, tvh_oid(NID_aes_256_cbc), tvh_octets(NULL, 16))));
	struct tvh_buf eci =
	    tvh_seq(3, tvh_oid(NID_pkcs7_data), alg, tvh_tlv(0x80, tvh_bytes(NULL, 32)));

	return tvh_seq(2, tvh_oid(NID_pkcs7_encrypted),
	               tvh_explicit(0, tvh_seq(2, tvh_int(0), eci)));
}

/* A pkcs8ShroudedKeyBag with the PKCS#12 3DES PBE at iterations. */
struct tvh_buf tvh_craft_shrouded_bag(int64_t iterations)
{
	struct tvh_buf alg = tvh_seq(2, tvh_oid(NID_pbe_WithSHA1And3_Key_TripleDES_CBC),
	                             tvh_seq(2, tvh_octets(NULL, 8), tvh_int(iterations)));

	return tvh_seq(2, tvh_oid(NID_pkcs8ShroudedKeyBag),
	               tvh_explicit(0, tvh_seq(2, alg, tvh_octets(NULL, 16))));
}

/* safeContentsBags nested depth deep around an empty SafeContents. */
struct tvh_buf tvh_craft_nested(size_t depth)
{
	struct tvh_buf inner = tvh_seq(0);
	size_t i;

	for (i = 0; i < depth; i++)
		inner =
		    tvh_seq(1, tvh_seq(2, tvh_oid(NID_safeContentsBag), tvh_explicit(0, inner)));
	return inner;
}

/* n secretBags in one SafeContents. */
struct tvh_buf tvh_craft_many_bags(size_t n)
{
	struct tvh_buf bag = tvh_seq(
	    2, tvh_oid(NID_secretBag),
	    tvh_explicit(0, tvh_seq(2, tvh_oid(NID_data), tvh_explicit(0, tvh_octets("s", 1)))));
	struct tvh_buf all = tvh_bytes(NULL, bag.len * n);
	size_t i;

	for (i = 0; i < n; i++)
		memcpy(all.p + i * bag.len, bag.p, bag.len);
	tvh_buf_free(&bag);
	return tvh_tlv(0x30, all);
}

/* n data ContentInfos, each with an empty SafeContents. */
struct tvh_buf tvh_craft_many_safes(size_t n)
{
	struct tvh_buf ci = tvh_craft_data_ci(tvh_seq(0));
	struct tvh_buf all = tvh_bytes(NULL, ci.len * n);
	size_t i;

	for (i = 0; i < n; i++)
		memcpy(all.p + i * ci.len, ci.p, ci.len);
	tvh_buf_free(&ci);
	return tvh_tlv(0x30, all);
}

/* A certBag whose "certificate" is garbage. */
struct tvh_buf tvh_craft_junk_cert_bag(void)
{
	return tvh_seq(1,
	               tvh_seq(2, tvh_oid(NID_certBag),
	                       tvh_explicit(0, tvh_seq(2, tvh_oid(NID_x509Certificate),
	                                               tvh_explicit(0, tvh_octets("junk", 4))))));
}

EVP_PKEY *tvh_craft_ec_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

/* A self-signed certificate for key; cn may hold NULs (cn_len bytes). */
X509 *tvh_craft_cert(EVP_PKEY *key, const char *cn, int cn_len, long serial, bool ca)
{
	X509_NAME *name = X509_NAME_new();
	X509 *x = X509_new();

	assert_true(name && x);
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
	                                       cn_len, -1, 0));
	assert_true(X509_set_version(x, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
	assert_true(X509_set_subject_name(x, name));
	assert_true(X509_set_issuer_name(x, name));
	assert_true(ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20250101000000Z"));
	assert_true(ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20450101000000Z"));
	assert_true(X509_set_pubkey(x, key));
	if (ca) {
		BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

		assert_non_null(bc);
		bc->ca = 1;
		assert_true(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0));
		BASIC_CONSTRAINTS_free(bc);
	}
	X509_NAME_free(name);
	return x;
}

/* Add n dNSName SANs "h<i>.example". */
void tvh_craft_add_sans(X509 *x, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	char name[32];
	size_t i;

	assert_non_null(gens);
	for (i = 0; i < n; i++) {
		GENERAL_NAME *gen = GENERAL_NAME_new();
		ASN1_IA5STRING *v = ASN1_IA5STRING_new();

		assert_true(gen && v);
		snprintf(name, sizeof(name), "h%zu.example", i);
		assert_true(ASN1_STRING_set(v, name, -1));
		GENERAL_NAME_set0_value(gen, GEN_DNS, v);
		assert_true(sk_GENERAL_NAME_push(gens, gen) > 0);
	}
	assert_true(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT));
	GENERAL_NAMES_free(gens);
}

/* A subjectAltName extension holding raw (malformed) bytes. */
void tvh_craft_add_bad_san(X509 *x)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	assert_non_null(os);
	assert_true(ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x30\x05\x82\x01\x61", 5));
	ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, os);
	assert_non_null(ext);
	assert_true(X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
}

X509 *tvh_craft_sign(X509 *x, EVP_PKEY *key)
{
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* PKCS#12 of key + cert (+ ca, may be NULL), password TVH_CRAFT_PW, 2048 iterations. */
struct tvh_buf tvh_craft_p12(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * ca)
{
	PKCS12 *p12 = PKCS12_create(TVH_CRAFT_PW, "hostile", key, cert, ca, 0, 0, 2048, 2048, 0);
	unsigned char *der = NULL;
	struct tvh_buf out;
	int len;

	assert_non_null(p12);
	len = i2d_PKCS12(p12, &der);
	assert_true(len > 0);
	out = tvh_bytes(der, (size_t)len);
	OPENSSL_free(der);
	PKCS12_free(p12);
	return out;
}

char *tvh_craft_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_non_null(bio);
	assert_true(PEM_write_bio_X509(bio, x));
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	assert_non_null(out);
	BIO_free(bio);
	return out;
}

/* PKCS#8 DER of key (secret bytes: a test key). */
struct tvh_buf tvh_craft_pkcs8(EVP_PKEY *key)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *der = NULL;
	struct tvh_buf out;
	int len;

	assert_non_null(p8);
	len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	assert_true(len > 0);
	out = tvh_bytes(der, (size_t)len);
	OPENSSL_free(der);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return out;
}

/* ---- a job of hostile items ---- */

/* A pkcs12Keystore item (der consumed) with TVH_CRAFT_PW sealed to the tenant's DEK. */
void tvh_items_add_p12(struct tvh_items *it, const char *what, struct tvh_buf der, const char *want)
{
	char *ks = tvh_b64(der.p, der.len),
	     *pw = tvh_seal_b64(it->pk, TVH_CRAFT_PW, strlen(TVH_CRAFT_PW));
	size_t i = json_array_size(it->arr);

	assert_true(i < 100);
	json_array_append_new(
	    it->arr, json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", pw));
	it->want[i] = want;
	it->what[i] = what;
	free(ks);
	free(pw);
	tvh_buf_free(&der);
}

void tvh_items_add(struct tvh_items *it, const char *what, json_t *item, const char *want)
{
	size_t i = json_array_size(it->arr);

	assert_true(i < 100);
	json_array_append_new(it->arr, item);
	it->want[i] = want;
	it->what[i] = what;
}

/* A certificate + sealed PKCS#8 item. */
json_t *tvh_sealed_item(const unsigned char pk[32], const char *pem, struct tvh_buf p8)
{
	char *sealed = tvh_seal_b64(pk, p8.p, p8.len);
	json_t *o = json_pack("{s:s,s:s}", "certificate", pem, "dekEncryptedPrivateKey", sealed);

	sodium_memzero(p8.p, p8.len);
	tvh_buf_free(&p8);
	free(sealed);
	return o;
}

/* Post the items, wait, and check every item's status and reason code;
 * each item counts as a case unless one_case (100 copies of one input). */
void tvh_items_run(const struct tvh_server *s, struct tvh_items *it, bool one_case)
{
	size_t n = json_array_size(it->arr), i;
	int64_t start = tv_mono_ms();
	char *id = tvh_post_job(s, s->api_key, tvh_envelope(s, it->arr), NULL);
	json_t *job = tvh_wait_job(s, s->api_key, id);

	for (i = 0; i < n; i++) {
		json_t *r = tvh_result(job, (int)i);
		const char *st = json_string_value(json_object_get(r, "status"));
		const char *reason = json_string_value(json_object_get(r, "reason"));

		if (!one_case || i == 0)
			tvh_case();
		if (!r || !st || !reason || strcmp(st, "FAILED") ||
		    strncmp(reason, it->want[i], strlen(it->want[i])) ||
		    reason[strlen(it->want[i])] != ':')
			fail_msg("item %zu (%s): got %s '%s', want FAILED %s", i, it->what[i],
			         st ? st : "?", reason ? reason : "?", it->want[i]);
		if (!one_case || i == 0)
			print_message("  item %2zu %-44s %.110s\n", i, it->what[i], reason);
	}
	print_message("  %zu hostile items final in %lld ms\n", n,
	              (long long)(tv_mono_ms() - start));
	/* Generous, never flaky: one KDF at 2^31-1 iterations alone would take
	 * hours. The caps must refuse before the expensive work starts. */
	if (tv_mono_ms() - start > 60000)
		fail_msg("%zu hostile items took %lld ms: a cap came too late", n,
		         (long long)(tv_mono_ms() - start));
	json_decref(job);
	free(id);
}
