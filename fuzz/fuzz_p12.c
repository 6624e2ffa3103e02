/*
 * fuzz_p12.c - the PKCS#12 reader, differential against OpenSSL.
 *
 * Input: byte 0 chooses the password length L = data[0] % 65 (64 means "no
 * password", NULL); the next L bytes are the password; the rest is the DER.
 *
 * Properties, beyond "no crash, no leak, no over-read":
 *  1. Where OpenSSL's PKCS12_parse returns a private key and a certificate
 *     that belong together, and the file is one we take (a key type
 *     tlsvault stores, one key), our reader succeeds with the same key and
 *     the same leaf, and with one pair, the same other certificates in the
 *     same order.
 *  2. Where our reader succeeds and OpenSSL's does not, it is a case we
 *     take on purpose: a PBMAC1 MAC (RFC 9579), which OpenSSL 3.0 lacks,
 *     or no MAC at all (PKCS12_parse wants one under a non-empty password;
 *     `openssl pkcs12 -nomac` files and Java's MAC-less stores open here).
 * Every read goes through the reader's KDF batch (p12.c runs the KDFs it
 * can see ahead, kdf.c interleaves the SHA-256 ones), so property 1 also
 * holds the batch's keys to OpenSSL's.
 * OpenSSL is only asked when no KDF it would run can be slow: when the MAC
 * is there and its iteration count is under our cap (a MAC-protected file
 * whose MAC fails is refused before any bag KDF), or when our reader
 * succeeded (so every count in the file passed our cap).
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include "core/secmem.h"
#include "fuzz.h"
#include "pki/p12.h"

#define S_MAX_ITER 2048u
#define S_NO_PASSWORD 64

static struct tv_pki_ctx *S_ctx;
static OSSL_PROVIDER *S_legacy, *S_default;

static void S_cleanup(void)
{
	tv_pki_ctx_free(S_ctx);
	OSSL_PROVIDER_unload(S_legacy);
	OSSL_PROVIDER_unload(S_default);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (tv_secmem_init() || tv_pki_ctx_new(&S_ctx))
		abort();
	/* OpenSSL's side runs in the default library context: give it the
	 * legacy algorithms (RC2, RC4, DES) our ctx has too */
	S_legacy = OSSL_PROVIDER_load(NULL, "legacy");
	S_default = OSSL_PROVIDER_load(NULL, "default");
	if (!S_legacy || !S_default)
		abort();
	atexit(S_cleanup);
	return 0;
}

/* The MAC's algorithm is PBMAC1 (1.2.840.113549.1.5.14). */
static bool S_is_pbmac1(const PKCS12 *p12)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	char oid[64];

	PKCS12_get0_mac(NULL, &alg, NULL, NULL, p12);
	if (!alg)
		return false;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	return obj && OBJ_obj2txt(oid, sizeof(oid), obj, 1) > 0 &&
	       !strcmp(oid, "1.2.840.113549.1.5.14");
}

/* The MAC is present and its iteration count is within our cap. */
static bool S_mac_cheap(const PKCS12 *p12)
{
	const ASN1_INTEGER *iter = NULL;
	long v = 1; /* an absent count is 1 */

	if (!PKCS12_mac_present(p12))
		return false;
	PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
	if (iter)
		v = ASN1_INTEGER_get(iter);
	return v > 0 && (unsigned long)v <= S_MAX_ITER;
}

static bool S_same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la, lb;
	bool same;

	if (EVP_PKEY_eq(a, b) == 1)
		return true;
	/* keys from two library contexts: compare the private encodings */
	la = i2d_PrivateKey(a, &da);
	lb = i2d_PrivateKey(b, &db);
	same = la > 0 && la == lb && !memcmp(da, db, (size_t)la);
	OPENSSL_clear_free(da, la > 0 ? (size_t)la : 0);
	OPENSSL_clear_free(db, lb > 0 ? (size_t)lb : 0);
	return same;
}

/*
 * The PKCS#8 bytes the reader hands the importer (taken from the keystore
 * on the fast path) are OpenSSL's own encoding of OpenSSL's key.
 */
static bool S_same_pkcs8(const struct tv_secbuf *ours, const EVP_PKEY *theirs)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(theirs);
	unsigned char *d = NULL;
	int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &d) : -1;
	bool same = ours && len > 0 && (size_t)len == ours->len && !memcmp(d, ours->p, ours->len);

	OPENSSL_clear_free(d, len > 0 ? (size_t)len : 0);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return same;
}

/* A key type tlsvault stores (the reader refuses the others on purpose). */
static bool S_supported_key(const EVP_PKEY *key)
{
	char msg[TV_REASON_MSG_SIZE];

	return tv_pki_key_check(key, 0, msg, sizeof(msg)) == TV_REASON_OK; /* 0: the default cap */
}

static void S_compare(struct tv_p12_contents *ours, enum tv_reason why, const char *msg,
		      const unsigned char *der, size_t len, const char *pw, bool ours_ok)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	STACK_OF(X509) *ca = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int ok, i;

	if (!p12)
		goto out;
	if (!ours_ok && !S_mac_cheap(p12))
		goto out;
	ok = PKCS12_parse(p12, pw, &key, &cert, &ca);
	ERR_clear_error();
	if (ours_ok && !ok) {
		/* on purpose: PBMAC1, which OpenSSL 3.0 lacks; and a file without
		 * a MAC, which PKCS12_parse refuses under any non-empty password
		 * (PKCS12_verify_mac: "mac absent") though its bags decrypt */
		FZ_CHECK(S_is_pbmac1(p12) || !PKCS12_mac_present(p12),
			 "ours reads a file OpenSSL refuses, and it is neither PBMAC1 nor MAC-less");
		goto out;
	}
	if (!ok || !key || !cert || X509_check_private_key(cert, key) != 1 ||
	    !S_supported_key(key)) {
		ERR_clear_error();
		goto out;
	}
	if (!ours_ok) {
		/* on purpose (docs/internals/pkcs12.md): a cap; an algorithm we
		 * refuse though OpenSSL's legacy provider has it (RC4, 2-key 3DES,
		 * PBES1, scrypt, other PBES2 ciphers); a second key that fails; a
		 * PFX version other than 3 (RFC 7292; Java refuses it too, OpenSSL
		 * doesn't look) */
		bool on_purpose = why == TV_REASON_ITERATION_LIMIT_EXCEEDED ||
				  (why == TV_REASON_MALFORMED_KEYSTORE &&
				   !strncmp(msg, "PKCS#12 version ", 16)) ||
				  why == TV_REASON_UNSUPPORTED_ALGORITHM ||
				  why == TV_REASON_KEYSTORE_TOO_LARGE ||
				  why == TV_REASON_UNSUPPORTED_KEY_TYPE ||
				  why == TV_REASON_KEY_CERTIFICATE_MISMATCH ||
				  why == TV_REASON_NO_CERTIFICATE;

		if (!on_purpose)
			fprintf(stderr, "fuzz: OpenSSL reads it; ours: %s\n", msg);
		FZ_CHECK(on_purpose, "OpenSSL reads a key and its certificate, ours refuses");
		goto out;
	}
	FZ_CHECK(S_same_key(tv_p12_pair_key(ours, 0), key), "a different key");
	FZ_CHECK(S_same_pkcs8(ours->pairs[0].pkcs8, key), "different PKCS#8 bytes for the key");
	FZ_CHECK(X509_cmp(tv_p12_pair_cert(ours, 0), cert) == 0, "a different leaf");
	if (ours->pair_count == 1) {
		/* OpenSSL leaves ca NULL when there are none */
		FZ_CHECK(sk_X509_num(ours->chain_candidates) == (ca ? sk_X509_num(ca) : 0),
			 "a different number of other certificates");
		for (i = 0; i < sk_X509_num(ca); i++)
			FZ_CHECK(X509_cmp(sk_X509_value(ours->chain_candidates, i),
					  sk_X509_value(ca, i)) == 0,
				 "a different other certificate");
	}
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct tv_p12_limits limits = { .max_iterations = S_MAX_ITER };
	struct tv_p12_contents *out = NULL;
	char pw[S_NO_PASSWORD + 1], msg[TV_REASON_MSG_SIZE];
	size_t pwlen;
	enum tv_reason why;
	bool has_nul;

	if (size < 1)
		return 0;
	pwlen = data[0] % (S_NO_PASSWORD + 1);
	if (pwlen != S_NO_PASSWORD && size < 1 + pwlen)
		return 0;
	if (pwlen != S_NO_PASSWORD)
		memcpy(pw, data + 1, pwlen);
	pw[pwlen == S_NO_PASSWORD ? 0 : pwlen] = '\0';
	has_nul = pwlen != S_NO_PASSWORD && strlen(pw) != pwlen;
	data += 1 + (pwlen == S_NO_PASSWORD ? 0 : pwlen);
	size -= 1 + (pwlen == S_NO_PASSWORD ? 0 : pwlen);
	why = tv_p12_read(&out, S_ctx, data, size, pwlen == S_NO_PASSWORD ? NULL : pw,
			  pwlen == S_NO_PASSWORD ? 0 : pwlen, &limits, msg, sizeof(msg));
	FZ_CHECK((why == TV_REASON_OK) == (out != NULL), "result and contents disagree");
	FZ_CHECK(why == TV_REASON_OK ? msg[0] == '\0' : msg[0] != '\0',
		 "a failure without a message, or a success with one");
	if (out)
		FZ_CHECK(out->pair_count >= 1 && tv_p12_pair_key(out, 0) && tv_p12_pair_cert(out, 0),
			 "a success without a key and its certificate");
	/* OpenSSL takes a C string: a password with a NUL can't be compared */
	if (!has_nul)
		S_compare(out, why, msg, data, size, pwlen == S_NO_PASSWORD ? NULL : pw,
			  why == TV_REASON_OK);
	tv_p12_contents_free(out);
	tv_wipe(pw, sizeof(pw));
	return 0;
}
