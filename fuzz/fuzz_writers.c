/*
 * fuzz_writers.c - the keystore writers, round-tripped through a reader.
 *
 * Input: byte 0 picks the key (P-256, Ed25519, RSA-2048, P-384), byte 1 the
 * format (PKCS#12 modern, PKCS#12 legacy, encrypted PKCS#8 PEM, JKS) and how
 * many chain certificates go along (0-2), byte 2 the passphrase length; then
 * the passphrase, then the alias/label. The keys and certificates are made
 * once, at start.
 * Properties: the writer either refuses (TV_ERR_INVALID: a bad passphrase or
 * label, never a crypto or internal error) or writes a keystore that opens
 * with the same passphrase, giving back the same key and leaf (and, for
 * PKCS#12, the chain in order). JKS is checked by an independent reading:
 * the store digest, Sun's key protector, the key and the certificate count.
 */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/secmem.h"
#include "fuzz.h"
#include "pki/jks.h"
#include "pki/p12.h"
#include "pki/pkcs8.h"
#include "pki/writer.h"

#define S_KEYS 4

static struct tv_pki_ctx *S_ctx;
static EVP_PKEY *S_ca_key, *S_key[S_KEYS];
static X509 *S_leaf[S_KEYS];
static STACK_OF(X509) *S_chain; /* intermediate, root */

static X509 *S_cert(EVP_PKEY *subject_key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		    long serial, bool ca)
{
	X509 *c = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	if (!c || !X509_set_version(c, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(c), serial) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(c, X509_get_subject_name(issuer ? issuer : c)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 365) ||
	    !X509_set_pubkey(c, subject_key))
		abort();
	X509V3_set_ctx(&v3, issuer ? issuer : c, c, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (!ext || !X509_add_ext(c, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
	/* Ed25519 signs without a separate digest */
	if (!X509_sign(c, issuer_key,
		       EVP_PKEY_get_id(issuer_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()))
		abort();
	return c;
}

static void S_cleanup(void)
{
	int i;

	for (i = 0; i < S_KEYS; i++) {
		EVP_PKEY_free(S_key[i]);
		X509_free(S_leaf[i]);
	}
	EVP_PKEY_free(S_ca_key);
	sk_X509_pop_free(S_chain, X509_free);
	tv_pki_ctx_free(S_ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *inter_key;
	X509 *root, *inter;
	int i;

	(void)argc;
	(void)argv;
	if (tv_secmem_init() || tv_pki_ctx_new(&S_ctx))
		abort();
	S_ca_key = EVP_EC_gen("P-256");
	inter_key = EVP_EC_gen("P-256");
	S_key[0] = EVP_EC_gen("P-256");
	S_key[1] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	S_key[2] = EVP_RSA_gen(2048);
	S_key[3] = EVP_EC_gen("P-384");
	if (!S_ca_key || !inter_key || !S_key[0] || !S_key[1] || !S_key[2] || !S_key[3])
		abort();
	root = S_cert(S_ca_key, "Fuzz Root", NULL, S_ca_key, 1, true);
	inter = S_cert(inter_key, "Fuzz Intermediate", root, S_ca_key, 2, true);
	for (i = 0; i < S_KEYS; i++)
		S_leaf[i] = S_cert(S_key[i], "fuzz.example.com", inter, inter_key, 10 + i, false);
	S_chain = sk_X509_new_null();
	if (!S_chain || !sk_X509_push(S_chain, inter) || !sk_X509_push(S_chain, root))
		abort();
	EVP_PKEY_free(inter_key);
	atexit(S_cleanup);
	return 0;
}

static bool S_same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	return EVP_PKEY_eq(a, b) == 1;
}

/* UTF-8 to UTF-16BE (Java's char[] of the password); false on bad UTF-8. */
static bool S_utf16be(unsigned char *out, size_t cap, size_t *out_len, const char *s, size_t len)
{
	size_t pos = 0, n = 0;
	uint32_t cp;

	while (pos < len) {
		if (tv__utf8_next((const unsigned char *)s, len, &pos, &cp) != 0)
			return false;
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			uint32_t hi = 0xD800 + (v >> 10), lo = 0xDC00 + (v & 0x3FF);
			if (n + 4 > cap)
				return false;
			out[n++] = (unsigned char)(hi >> 8);
			out[n++] = (unsigned char)hi;
			out[n++] = (unsigned char)(lo >> 8);
			out[n++] = (unsigned char)lo;
		} else {
			if (n + 2 > cap)
				return false;
			out[n++] = (unsigned char)(cp >> 8);
			out[n++] = (unsigned char)cp;
		}
	}
	*out_len = n;
	return true;
}

static void S_sha1(unsigned char out[20], const void *a, size_t alen, const void *b, size_t blen,
		   const void *c, size_t clen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md || !EVP_DigestInit_ex(md, EVP_sha1(), NULL) || !EVP_DigestUpdate(md, a, alen) ||
	    !EVP_DigestUpdate(md, b, blen) || !EVP_DigestUpdate(md, c, clen) ||
	    !EVP_DigestFinal_ex(md, out, NULL))
		abort();
	EVP_MD_CTX_free(md);
}

static uint32_t S_be(const unsigned char *p, size_t n)
{
	uint32_t v = 0;

	while (n--)
		v = (v << 8) | *p++;
	return v;
}

/* An independent reading of a one-entry JKS written with pass for both. */
static void S_jks_check(const struct tv_secbuf *jks, const char *pass, size_t pass_len,
			EVP_PKEY *want, int want_certs)
{
	unsigned char pw[2 * TV_WRITER_MAX_PASSPHRASE + 8], d[20], *plain;
	const unsigned char *p = jks->p, *q, *enc;
	size_t pwlen = 0, body, alias_len, n, enc_len, i;
	const ASN1_OCTET_STRING *oct;
	PKCS8_PRIV_KEY_INFO *p8;
	X509_SIG *sig;
	EVP_PKEY *key;

	FZ_CHECK(jks->len > 20 + 18, "a JKS too short to hold an entry");
	FZ_CHECK(S_utf16be(pw, sizeof(pw), &pwlen, pass, pass_len), "a passphrase not UTF-8");
	body = jks->len - 20;
	S_sha1(d, pw, pwlen, "Mighty Aphrodite", 16, p, body);
	FZ_CHECK(!memcmp(d, p + body, 20), "the JKS store digest does not verify");
	FZ_CHECK(S_be(p, 4) == 0xFEEDFEEDu && S_be(p + 4, 4) == 2 && S_be(p + 8, 4) == 1 &&
			 S_be(p + 12, 4) == 1,
		 "not a version-2 JKS with one private-key entry");
	alias_len = S_be(p + 16, 2);
	FZ_CHECK(18 + alias_len + 8 + 4 <= body, "an alias past the end");
	p += 18 + alias_len + 8;
	n = S_be(p, 4);
	FZ_CHECK((size_t)(p - jks->p) + 4 + n + 4 <= body, "a key past the end");
	q = p + 4;
	sig = d2i_X509_SIG(NULL, &q, (long)n);
	FZ_CHECK(sig && q == p + 4 + n, "the protected key is not one EncryptedPrivateKeyInfo");
	X509_SIG_get0(sig, NULL, &oct);
	enc = ASN1_STRING_get0_data(oct);
	enc_len = (size_t)ASN1_STRING_length(oct);
	FZ_CHECK(enc_len > 40, "a protected key too short");
	FZ_CHECK((int)S_be(p + 4 + n, 4) == want_certs, "a different number of certificates");
	plain = OPENSSL_malloc(enc_len);
	FZ_CHECK(plain != NULL, "out of memory");
	memcpy(d, enc, 20);
	for (i = 0; i < enc_len - 40; i++) {
		if (i % 20 == 0)
			S_sha1(d, pw, pwlen, d, 20, "", 0);
		plain[i] = enc[20 + i] ^ d[i % 20];
	}
	S_sha1(d, pw, pwlen, plain, enc_len - 40, "", 0);
	FZ_CHECK(!memcmp(d, enc + enc_len - 20, 20), "the key protector's check fails");
	q = plain;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)(enc_len - 40));
	FZ_CHECK(p8 != NULL, "the recovered key is not PKCS#8");
	key = EVP_PKCS82PKEY(p8);
	FZ_CHECK(key && S_same_key(key, want), "JKS gives back a different key");
	EVP_PKEY_free(key);
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_clear_free(plain, enc_len);
	X509_SIG_free(sig);
	OPENSSL_cleanse(pw, sizeof(pw));
}

static void S_p12_check(const struct tv_secbuf *ks, const char *pass, size_t pass_len,
			EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain)
{
	struct tv_p12_contents *out = NULL;
	char msg[TV_REASON_MSG_SIZE];
	enum tv_reason why;
	int i;

	why = tv_p12_read(&out, S_ctx, ks->p, ks->len, pass, pass_len, NULL, msg, sizeof(msg));
	FZ_CHECK(why == TV_REASON_OK, "our PKCS#12 does not open with its passphrase");
	FZ_CHECK(out->pair_count == 1 && S_same_key(tv_p12_pair_key(out, 0), key),
		 "PKCS#12 gives back a different key");
	FZ_CHECK(X509_cmp(tv_p12_pair_cert(out, 0), leaf) == 0, "PKCS#12 gives back a different leaf");
	FZ_CHECK(sk_X509_num(out->chain_candidates) == sk_X509_num(chain),
		 "PKCS#12 gives back a different chain");
	for (i = 0; i < sk_X509_num(chain); i++)
		FZ_CHECK(X509_cmp(sk_X509_value(out->chain_candidates, i), sk_X509_value(chain, i)) ==
				 0,
			 "PKCS#12 gives back the chain out of order");
	tv_p12_contents_free(out);
}

static void S_pem_check(const struct tv_secbuf *pem, const char *pass, size_t pass_len,
			EVP_PKEY *key, X509 *leaf)
{
	struct tv_p12_contents *out = NULL;
	unsigned char *der = NULL;
	char msg[TV_REASON_MSG_SIZE];
	enum tv_reason why;
	int der_len = i2d_X509(leaf, &der);

	FZ_CHECK(der_len > 0, "the leaf does not encode");
	why = tv_pkcs8_read_encrypted_pem(&out, S_ctx, (const char *)pem->p, pem->len, pass,
					  pass_len, der, (size_t)der_len, NULL, msg, sizeof(msg));
	FZ_CHECK(why == TV_REASON_OK, "our PKCS#8 PEM does not open with its passphrase");
	FZ_CHECK(S_same_key(tv_p12_pair_key(out, 0), key), "PKCS#8 gives back a different key");
	tv_p12_contents_free(out);
	OPENSSL_free(der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pass[TV_WRITER_MAX_PASSPHRASE + 1], label[256];
	struct tv_secbuf *out = NULL;
	STACK_OF(X509) *chain;
	size_t pass_len, label_len;
	int k, fmt, n_chain, i;
	enum tv_err rc;

	if (size < 3)
		return 0;
	k = data[0] % S_KEYS;
	fmt = data[1] % 4;
	n_chain = (data[1] / 4) % 3;
	pass_len = data[2];
	if (size < 3 + pass_len)
		return 0;
	memcpy(pass, data + 3, pass_len);
	pass[pass_len] = '\0';
	label_len = size - 3 - pass_len;
	if (label_len >= sizeof(label))
		label_len = sizeof(label) - 1;
	memcpy(label, data + 3 + pass_len, label_len);
	label[label_len] = '\0';
	chain = sk_X509_new_null();
	FZ_CHECK(chain != NULL, "out of memory");
	for (i = 0; i < n_chain; i++)
		sk_X509_push(chain, sk_X509_value(S_chain, i));
	switch (fmt) {
	case 0:
	case 1:
		rc = tv_p12_write(&out, S_ctx, S_key[k], S_leaf[k], chain, label, pass, pass_len,
				  fmt ? TV_P12_LEGACY : TV_P12_MODERN);
		if (!rc)
			S_p12_check(out, pass, pass_len, S_key[k], S_leaf[k], chain);
		break;
	case 2:
		rc = tv_pkcs8_pem_write(&out, S_ctx, S_key[k], pass, pass_len);
		if (!rc)
			S_pem_check(out, pass, pass_len, S_key[k], S_leaf[k]);
		break;
	default:
		rc = tv_jks_write(&out, S_key[k], S_leaf[k], chain, label, pass, pass_len, pass,
				  pass_len);
		if (!rc)
			S_jks_check(out, pass, pass_len, S_key[k], 1 + n_chain);
		break;
	}
	FZ_CHECK(rc == TV_OK || rc == TV_ERR_INVALID, "a writer failed other than on bad input");
	FZ_CHECK(rc != TV_OK || out != NULL, "a success without a keystore");
	tv_secbuf_free(out);
	sk_X509_free(chain);
	OPENSSL_cleanse(pass, sizeof(pass));
	ERR_clear_error();
	return 0;
}
