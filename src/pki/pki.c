/*
 * DESIGN: the context is just a library context with the two providers the
 * readers need. It is built once per process (or per test) because loading
 * providers costs far more than a read, and it holds no per-read state so
 * that reads can share it across threads.
 *
 * Certificates are decoded into X509 objects made with X509_new_ex() in that
 * library context, so every later operation on them (public key decoding,
 * EVP_PKEY_eq) fetches from the same providers as the keys do.
 *
 * The key-type policy lives here, in one function, because the PKCS#12 and
 * both PKCS#8 readers apply the same one.
 */
#include "pki/pki.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "pki/certcache.h"
#include "pki/x509.h"
#include "pki/timing.h"

struct tv_pki_ctx {
	OSSL_LIB_CTX *libctx;
	OSSL_PROVIDER *default_provider;
	OSSL_PROVIDER *legacy_provider;
	struct tv_pki_timing *timing; /* NULL unless a benchmark set it */
	struct tv__cert_cache *ca_certs; /* the one mutable part; locked inside */
	EVP_CIPHER *ciphers[TV__PKI_NCIPHERS]; /* fetched once, see tv__pki_cipher */
	EVP_MAC *hmac;                         /* likewise, tv__pki_hmac */
};

/* The bag ciphers the readers support (pbe.c), in tv__pki_cipher's order. */
static const char *const S_cipher_names[TV__PKI_NCIPHERS] = {
	"AES-128-CBC", "AES-192-CBC", "AES-256-CBC",
	"DES-EDE3-CBC", "RC2-CBC", "RC2-40-CBC",
};

/* A PEM bundle is a leaf and its chain; nobody sends more than this. */
#define S_MAX_PEM_CERTS 64

/*
 * An EVP_CIPHER_fetch costs a name lookup and a lock in the library context
 * per call, more than decrypting a 4 KB bag; fetched here once instead, with
 * the HMAC of the MAC check. One that doesn't fetch stays NULL and is
 * fetched per call by the reader, which then gives the error.
 */
static void S_fetch_ciphers(struct tv_pki_ctx *ctx)
{
	size_t i;

	ERR_set_mark();
	for (i = 0; i < TV__PKI_NCIPHERS; i++)
		ctx->ciphers[i] = EVP_CIPHER_fetch(ctx->libctx, S_cipher_names[i], NULL);
	ctx->hmac = EVP_MAC_fetch(ctx->libctx, "HMAC", NULL);
	ERR_pop_to_mark();
}

EVP_MAC *tv__pki_hmac(const struct tv_pki_ctx *ctx)
{
	return ctx->hmac;
}

const EVP_CIPHER *tv__pki_cipher(const struct tv_pki_ctx *ctx, const char *name)
{
	size_t i;

	for (i = 0; i < TV__PKI_NCIPHERS; i++)
		if (strcmp(S_cipher_names[i], name) == 0)
			return ctx->ciphers[i];
	return NULL;
}

enum tv_err tv_pki_ctx_new(struct tv_pki_ctx **out)
{
	struct tv_pki_ctx *ctx = NULL;
	enum tv_err rc;

	rc = tv_secmem_init();
	if (rc)
		goto out;
	rc = TV_ERR_NOMEM;
	ctx = OPENSSL_zalloc(sizeof(*ctx));
	if (!ctx)
		goto out;
	ctx->libctx = OSSL_LIB_CTX_new();
	if (!ctx->libctx)
		goto out;
	rc = TV_ERR_CRYPTO;
	ctx->default_provider = OSSL_PROVIDER_load(ctx->libctx, "default");
	if (!ctx->default_provider)
		goto out;
	ctx->legacy_provider = OSSL_PROVIDER_load(ctx->libctx, "legacy");
	if (!ctx->legacy_provider)
		goto out;
	rc = tv__cert_cache_new(&ctx->ca_certs, TV__CERT_CACHE_DEFAULT_ENTRIES);
	if (rc)
		goto out;
	S_fetch_ciphers(ctx);
	*out = ctx;
	ctx = NULL;
	rc = TV_OK;
out:
	tv_pki_ctx_free(ctx);
	return rc;
}

void tv_pki_ctx_free(struct tv_pki_ctx *ctx)
{
	if (!ctx)
		return;
	tv__cert_cache_free(ctx->ca_certs); /* its X509s use the providers */
	for (size_t i = 0; i < TV__PKI_NCIPHERS; i++)
		EVP_CIPHER_free(ctx->ciphers[i]);
	EVP_MAC_free(ctx->hmac);
	if (ctx->legacy_provider)
		OSSL_PROVIDER_unload(ctx->legacy_provider);
	if (ctx->default_provider)
		OSSL_PROVIDER_unload(ctx->default_provider);
	OSSL_LIB_CTX_free(ctx->libctx);
	OPENSSL_free(ctx);
}

OSSL_LIB_CTX *tv_pki_libctx(const struct tv_pki_ctx *ctx)
{
	return ctx->libctx;
}

void tv_pki_ctx_set_timing(struct tv_pki_ctx *ctx, struct tv_pki_timing *t)
{
	ctx->timing = t;
}

struct tv_pki_timing *tv__pki_ctx_timing(const struct tv_pki_ctx *ctx)
{
	return ctx ? ctx->timing : NULL;
}

struct tv__cert_cache *tv__pki_ca_cache(const struct tv_pki_ctx *ctx)
{
	return ctx->ca_certs;
}

void tv_pki_ca_cache_stats(const struct tv_pki_ctx *ctx, struct tv_shacache_stats *out)
{
	tv__cert_cache_stats(ctx ? ctx->ca_certs : NULL, out);
}

enum tv_reason tv__cert_decode(X509 **out, size_t *used, struct tv_pki_ctx *ctx,
			       const unsigned char *der, size_t der_len, char *msg, size_t msz)
{
	const unsigned char *p = der;
	X509 *cert;

	if (der_len == 0 || der_len > LONG_MAX)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"certificate bag holds no valid X.509 certificate");
	cert = X509_new_ex(ctx->libctx, NULL);
	if (!cert)
		return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				"out of memory decoding a certificate");
	if (!d2i_X509(&cert, &p, (long)der_len)) /* frees cert on failure */
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"certificate bag holds no valid X.509 certificate");
	*out = cert;
	*used = (size_t)(p - der);
	return TV_REASON_OK;
}

/* DER of exactly one certificate, decoded in ctx's library context. */
static enum tv_reason S_cert_from_der(X509 **out, struct tv_pki_ctx *ctx,
				      const unsigned char *der, size_t der_len,
				      char *msg, size_t msz)
{
	const unsigned char *p = der;
	X509 *cert = NULL;
	enum tv_reason rc;

	if (der_len == 0 || der_len > LONG_MAX) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "certificate is empty");
		goto out;
	}
	cert = X509_new_ex(ctx->libctx, NULL);
	if (!cert) {
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
			      "out of memory decoding a certificate");
		goto out;
	}
	if (!d2i_X509(&cert, &p, (long)der_len)) {
		cert = NULL; /* d2i freed it */
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "certificate is not valid DER X.509");
		goto out;
	}
	if (p != der + der_len) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "%zu trailing bytes after the certificate",
			      (size_t)(der + der_len - p));
		goto out;
	}
	*out = cert;
	cert = NULL;
	rc = TV_REASON_OK;
out:
	X509_free(cert);
	return rc;
}

static bool S_looks_like_pem(const unsigned char *in, size_t len)
{
	static const char begin[] = "-----BEGIN ";
	size_t i = 0;

	while (i < len && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
			   in[i] == '\n'))
		i++;
	return len - i >= sizeof(begin) - 1 &&
	       memcmp(in + i, begin, sizeof(begin) - 1) == 0;
}

/*
 * Read the next PEM block. *done is set (and OK returned) at the clean end
 * of the input. Only certificate blocks are accepted.
 */
static enum tv_reason S_next_pem_cert(X509 **out, bool *done, BIO *bio,
				      struct tv_pki_ctx *ctx, char *msg,
				      size_t msz)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	unsigned long e;
	enum tv_reason rc;

	*done = false;
	ERR_set_mark();
	if (!PEM_read_bio(bio, &name, &header, &data, &len)) {
		e = ERR_peek_last_error();
		ERR_pop_to_mark();
		if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
			*done = true;
			rc = TV_REASON_OK;
		} else {
			rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				      "certificate PEM is malformed");
		}
		goto out;
	}
	ERR_pop_to_mark();
	if (strcmp(name, PEM_STRING_X509) != 0 &&
	    strcmp(name, PEM_STRING_X509_OLD) != 0) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "PEM block \"%.40s\" is not a certificate", name);
		goto out;
	}
	rc = S_cert_from_der(out, ctx, data, (size_t)len, msg, msz);
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return rc;
}

static enum tv_reason S_certs_from_pem(STACK_OF(X509) *certs,
				       struct tv_pki_ctx *ctx,
				       const unsigned char *in, size_t in_len,
				       bool first_only, char *msg, size_t msz)
{
	BIO *bio = BIO_new_mem_buf(in, (int)in_len);
	X509 *cert = NULL;
	bool done = false;
	enum tv_reason rc = TV_REASON_OK;

	if (!bio)
		return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				"out of memory reading PEM");
	while (!done && !(first_only && sk_X509_num(certs) == 1)) {
		rc = S_next_pem_cert(&cert, &done, bio, ctx, msg, msz);
		if (rc || done)
			break;
		if (sk_X509_num(certs) >= S_MAX_PEM_CERTS) {
			rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				      "more than %d certificates in one PEM",
				      S_MAX_PEM_CERTS);
			break;
		}
		if (!sk_X509_push(certs, cert)) {
			rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				      "out of memory reading PEM");
			break;
		}
		cert = NULL;
	}
	X509_free(cert);
	BIO_free(bio);
	if (!rc && sk_X509_num(certs) == 0)
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "PEM holds no certificate");
	return rc;
}

static enum tv_reason S_certs_parse(STACK_OF(X509) **out,
				    struct tv_pki_ctx *ctx,
				    const unsigned char *in, size_t in_len,
				    bool first_only, char *msg, size_t msz)
{
	STACK_OF(X509) *certs = NULL;
	X509 *cert = NULL;
	enum tv_reason rc;

	if (!in || in_len == 0) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "certificate is empty");
		goto out;
	}
	if (in_len > TV_PKI_MAX_CERT_INPUT) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "certificate input of %zu bytes is over the limit of %u",
			      in_len, TV_PKI_MAX_CERT_INPUT);
		goto out;
	}
	certs = sk_X509_new_null();
	if (!certs) {
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
			      "out of memory");
		goto out;
	}
	if (S_looks_like_pem(in, in_len)) {
		rc = S_certs_from_pem(certs, ctx, in, in_len, first_only, msg,
				      msz);
		if (rc)
			goto out;
	} else {
		rc = S_cert_from_der(&cert, ctx, in, in_len, msg, msz);
		if (rc)
			goto out;
		if (!sk_X509_push(certs, cert)) {
			rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				      "out of memory");
			goto out;
		}
		cert = NULL;
	}
	*out = certs;
	certs = NULL;
	rc = TV_REASON_OK;
out:
	X509_free(cert);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

enum tv_reason tv_pki_cert_parse(X509 **out, struct tv_pki_ctx *ctx,
				 const unsigned char *in, size_t in_len,
				 char *msg, size_t msg_size)
{
	STACK_OF(X509) *certs = NULL;
	enum tv_reason rc;

	rc = S_certs_parse(&certs, ctx, in, in_len, true, msg, msg_size);
	if (rc)
		return rc;
	*out = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	return TV_REASON_OK;
}

enum tv_reason tv_pki_certs_parse(STACK_OF(X509) **out, struct tv_pki_ctx *ctx,
				  const unsigned char *in, size_t in_len,
				  char *msg, size_t msg_size)
{
	return S_certs_parse(out, ctx, in, in_len, false, msg, msg_size);
}

static enum tv_reason S_check_ec(const EVP_PKEY *key, char *msg, size_t msz)
{
	char group[64] = "";
	size_t len = 0;
	int nid;

	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
					    group, sizeof(group), &len))
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_KEY_TYPE,
				"EC key with explicit curve parameters is not supported "
				"(use P-256, P-384 or P-521)");
	nid = OBJ_txt2nid(group);
	if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 ||
	    nid == NID_secp521r1)
		return TV_REASON_OK;
	return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_KEY_TYPE,
			"EC curve %s is not supported (use P-256, P-384 or P-521)",
			group);
}

enum tv_reason tv__rsa_bits_check(unsigned bits, unsigned max_bits, bool cap_only, char *msg,
				  size_t msz)
{
	if (!max_bits)
		max_bits = TV_PKI_DEFAULT_MAX_KEY_BITS;
	if (bits > max_bits)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_KEY_TYPE,
				"RSA-%u is over the limit of %u bits (RSA keys must have %d to %u "
				"bits)",
				bits, max_bits, TV_PKI_MIN_RSA_BITS, max_bits);
	if (cap_only || bits >= TV_PKI_MIN_RSA_BITS)
		return TV_REASON_OK;
	return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_KEY_TYPE,
			"RSA-%u is not supported (RSA keys must have %d to %u bits)", bits,
			TV_PKI_MIN_RSA_BITS, max_bits);
}

/* The RSA size cap: over it is refused before any RSA operation runs. */
static enum tv_reason S_check_rsa_max(const EVP_PKEY *key, unsigned max_bits, char *msg,
				      size_t msz)
{
	int bits = EVP_PKEY_get_bits(key);

	if (!EVP_PKEY_is_a(key, "RSA") || bits <= 0)
		return TV_REASON_OK;
	return tv__rsa_bits_check((unsigned)bits, max_bits, true, msg, msz);
}

enum tv_reason tv_pki_key_check(const EVP_PKEY *key, unsigned max_rsa_bits, char *msg,
				size_t msg_size)
{
	const char *name;
	int bits;

	if (!key)
		return tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR,
				"no key to check");
	if (!max_rsa_bits)
		max_rsa_bits = TV_PKI_DEFAULT_MAX_KEY_BITS;
	bits = EVP_PKEY_get_bits(key);
	if (EVP_PKEY_is_a(key, "RSA"))
		return tv__rsa_bits_check(bits > 0 ? (unsigned)bits : 0, max_rsa_bits, false, msg,
					  msg_size);
	if (EVP_PKEY_is_a(key, "EC"))
		return S_check_ec(key, msg, msg_size);
	if (EVP_PKEY_is_a(key, "ED25519"))
		return TV_REASON_OK;
	name = EVP_PKEY_get0_type_name(key);
	return tv__fail(msg, msg_size, TV_REASON_UNSUPPORTED_KEY_TYPE,
			"%s key (%d bits) is not supported (use RSA %d-%u, "
			"EC P-256/P-384/P-521 or Ed25519)",
			name ? name : "unknown", bits, TV_PKI_MIN_RSA_BITS, max_rsa_bits);
}

enum tv_reason tv__cert_sans_check(const X509 *cert, size_t max_sans, char *msg, size_t msz)
{
	size_t n = 0;

	if (tv_cert_san_count(&n, cert) != TV_OK)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"a certificate's subjectAltName extension is malformed");
	return tv__sans_cap_check(n, max_sans, msg, msz);
}

enum tv_reason tv__sans_cap_check(size_t n, size_t max_sans, char *msg, size_t msz)
{
	if (n > max_sans)
		return tv__fail(msg, msz, TV_REASON_KEYSTORE_TOO_LARGE,
				"the certificate has %zu subjectAltNames, over the limit of %zu",
				n, max_sans);
	return TV_REASON_OK;
}

int tv_pki_key_matches_cert(const EVP_PKEY *key, const X509 *cert)
{
	const EVP_PKEY *pub;
	int eq;

	if (!key || !cert)
		return 0;
	ERR_set_mark();
	pub = X509_get0_pubkey(cert);
	eq = pub ? EVP_PKEY_eq(pub, key) : 0;
	ERR_pop_to_mark();
	return eq == 1;
}

enum tv_err tv_pki_key_to_pkcs8(struct tv_secbuf **out, const EVP_PKEY *key)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	struct tv_secbuf *buf = NULL;
	unsigned char *p;
	enum tv_err rc;
	int len;

	rc = TV_ERR_INVALID;
	if (!key)
		goto out;
	ERR_set_mark();
	p8 = EVP_PKEY2PKCS8(key);
	ERR_pop_to_mark();
	if (!p8)
		goto out;
	rc = TV_ERR_CRYPTO;
	len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
	if (len <= 0)
		goto out;
	rc = tv_secbuf_new(&buf, (size_t)len);
	if (rc)
		goto out;
	p = buf->p;
	rc = TV_ERR_CRYPTO;
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != len)
		goto out;
	*out = buf;
	buf = NULL;
	rc = TV_OK;
out:
	PKCS8_PRIV_KEY_INFO_free(p8); /* its free callback cleanses the key */
	tv_secbuf_free(buf);
	return rc;
}

enum tv_reason tv__key_from_p8(EVP_PKEY **out, struct tv_pki_ctx *ctx,
			       const PKCS8_PRIV_KEY_INFO *p8, unsigned max_rsa_bits,
			       char *msg, size_t msz)
{
	enum tv_reason rc;
	const ASN1_OBJECT *obj = NULL;
	char oid[80] = "?", name[128];
	EVP_PKEY *key;
	uint64_t t0;
	int nid;

	if (!p8)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"no PrivateKeyInfo");
	t0 = tv__timing_begin(ctx);
	key = EVP_PKCS82PKEY_ex(p8, ctx->libctx, NULL);
	tv__timing_end(ctx, TV_PKI_PHASE_KEY_DECODE, t0, 0);
	if (key) {
		rc = S_check_rsa_max(key, max_rsa_bits, msg, msz);
		if (rc) {
			EVP_PKEY_free(key);
			return rc;
		}
		*out = key;
		return TV_REASON_OK;
	}
	if (!PKCS8_pkey_get0(&obj, NULL, NULL, NULL, p8) || !obj)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"private key has no algorithm");
	nid = OBJ_obj2nid(obj);
	OBJ_obj2txt(oid, sizeof(oid), obj, 1);
	snprintf(name, sizeof(name), "%s (%s)",
		 nid != NID_undef ? OBJ_nid2ln(nid) : "unknown", oid);
	if (nid == NID_rsaEncryption || nid == NID_X9_62_id_ecPublicKey ||
	    nid == NID_ED25519)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"%s private key does not decode", name);
	return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_KEY_TYPE,
			"private key type %s is not supported (use RSA 2048-8192, "
			"EC P-256/P-384/P-521 or Ed25519)", name);
}
