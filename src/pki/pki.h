/*
 * pki.h - the pki layer's context, and the X.509 / private-key helpers the
 * readers share.
 *
 * DESIGN: OpenSSL 3 needs the "legacy" provider for RC2 and the PKCS#12
 * 3DES/RC2 PBEs, and loading it alone in the default library context would
 * disable the "default" provider. So the pki layer owns an OSSL_LIB_CTX of
 * its own with both providers loaded, made once by tv_pki_ctx_new() and
 * passed down explicitly; nothing in src/pki touches the global context.
 *
 * Threads: a struct tv_pki_ctx is immutable after tv_pki_ctx_new(), but for
 * its cache of decoded CA certificates (certcache.h), which locks itself.
 * Any number of threads may run readers and helpers on one ctx at the same time
 * (OpenSSL 3 library contexts are thread-safe for fetching and for
 * operations on distinct objects). tv_pki_ctx_free() must not race with any
 * use of the ctx.
 */
#ifndef TV_PKI_PKI_H
#define TV_PKI_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/shacache.h"
#include "core/secmem.h"
#include "pki/reason.h"

struct tv_pki_ctx;

/**
 * Make a pki context: a private OSSL_LIB_CTX with the "default" and
 * "legacy" providers loaded, and libsodium initialised (tv_secmem_init).
 * On success *out owns the new context; free it with tv_pki_ctx_free().
 * Errors: TV_ERR_NOMEM; TV_ERR_CRYPTO when a provider doesn't load (the
 * legacy provider is required: without it RC2/3DES keystores fail).
 * Thread-safe.
 */
enum tv_err tv_pki_ctx_new(struct tv_pki_ctx **out) TV_WUR;

/** Free a context made by tv_pki_ctx_new(); NULL is a no-op. */
void tv_pki_ctx_free(struct tv_pki_ctx *ctx);

/**
 * The library context every object of the pki layer is made in. Borrowed:
 * valid as long as ctx. Use it to fetch algorithms or to make objects that
 * meet the readers' output (X509_new_ex and the like).
 */
OSSL_LIB_CTX *tv_pki_libctx(const struct tv_pki_ctx *ctx);

/** The largest certificate (PEM text or DER) tv_pki_cert*_parse accept. */
#define TV_PKI_MAX_CERT_INPUT (1024u * 1024u)

/**
 * Parse one certificate, given as PEM ("-----BEGIN CERTIFICATE-----",
 * leading whitespace allowed; the first block is taken) or as DER (which
 * must be exactly one certificate, no trailing bytes).
 * On success *out is a new X509 made in ctx's library context, owned by the
 * caller. Returns TV_REASON_OK, or TV_REASON_MALFORMED_KEYSTORE (not a
 * certificate, empty, over TV_PKI_MAX_CERT_INPUT) or
 * TV_REASON_INTERNAL_ERROR (allocation), with a message in msg.
 * Thread-safe.
 */
enum tv_reason tv_pki_cert_parse(X509 **out, struct tv_pki_ctx *ctx,
				 const unsigned char *in, size_t in_len,
				 char *msg, size_t msg_size) TV_WUR;

/**
 * Like tv_pki_cert_parse(), but a PEM input may hold several CERTIFICATE
 * blocks (a leaf and its chain); all are returned, in order. A DER input
 * gives one. Blocks of other types (a stray key) are an error.
 * On success *out is a new non-empty stack owned by the caller
 * (OSSL_STACK_OF_X509_free / sk_X509_pop_free(.., X509_free)).
 */
enum tv_reason tv_pki_certs_parse(STACK_OF(X509) **out, struct tv_pki_ctx *ctx,
				  const unsigned char *in, size_t in_len,
				  char *msg, size_t msg_size) TV_WUR;

/** RSA keys tlsvault stores: at least TV_PKI_MIN_RSA_BITS, at most the cap. */
#define TV_PKI_MIN_RSA_BITS 2048
#define TV_PKI_DEFAULT_MAX_KEY_BITS 8192
#define TV_PKI_MAX_KEY_BITS_CAP 16384 /* the highest cap a server may set */

/**
 * Check that key is a type tlsvault stores: RSA of TV_PKI_MIN_RSA_BITS to
 * max_rsa_bits bits (0 = TV_PKI_DEFAULT_MAX_KEY_BITS), EC on P-256, P-384 or
 * P-521 (named curve), or Ed25519. Returns TV_REASON_OK or
 * TV_REASON_UNSUPPORTED_KEY_TYPE with a message naming the type and size
 * ("RSA-1024", "EC secp256k1", "DSA-2048", "ED448"). Thread-safe.
 */
enum tv_reason tv_pki_key_check(const EVP_PKEY *key, unsigned max_rsa_bits, char *msg,
				size_t msg_size) TV_WUR;

/**
 * Whether cert's public key is key's public key (EVP_PKEY_eq). A cert whose
 * key doesn't decode matches nothing. Thread-safe.
 */
int tv_pki_key_matches_cert(const EVP_PKEY *key, const X509 *cert);

/**
 * Write key's private key as unencrypted PKCS#8 DER (PrivateKeyInfo) into
 * a new secret buffer. On success *out is owned by the caller (free with
 * tv_secbuf_free, which wipes). Errors: TV_ERR_INVALID (no private part or
 * not encodable), TV_ERR_NOMEM, TV_ERR_CRYPTO. Thread-safe.
 */
enum tv_err tv_pki_key_to_pkcs8(struct tv_secbuf **out,
				const EVP_PKEY *key) TV_WUR;

/** A snapshot of ctx's CA certificate cache counters (see p12.h). Thread-safe. */
void tv_pki_ca_cache_stats(const struct tv_pki_ctx *ctx, struct tv_shacache_stats *out);


/*
 * Internal to src/pki: the context's EVP_CIPHER of that name, fetched once
 * by tv_pki_ctx_new(), for the bag ciphers pbe.c supports; NULL for another
 * name or one that didn't fetch (then fetch it per call). Borrowed: valid as
 * long as ctx; an EVP_CIPHER is immutable, so any thread may use it.
 */
#define TV__PKI_NCIPHERS 6
const EVP_CIPHER *tv__pki_cipher(const struct tv_pki_ctx *ctx, const char *name);

/*
 * Internal to src/pki: the context's EVP_MAC "HMAC", fetched once (NULL if
 * it didn't fetch). Borrowed, like tv__pki_cipher's; EVP_MAC_CTX_new on it
 * from any thread.
 */
EVP_MAC *tv__pki_hmac(const struct tv_pki_ctx *ctx);

/* Internal to src/pki: the context's CA certificate cache (certcache.h). */
struct tv__cert_cache *tv__pki_ca_cache(const struct tv_pki_ctx *ctx);

/*
 * Internal to src/pki: decode the certificate at the start of der (bytes
 * after it are left alone, as PKCS12_SAFEBAG_get1_cert leaves them) in
 * ctx's library context; *used is the length of its encoding. OK;
 * MALFORMED_KEYSTORE when it isn't X.509; INTERNAL_ERROR (allocation).
 */
enum tv_reason tv__cert_decode(X509 **out, size_t *used, struct tv_pki_ctx *ctx,
			       const unsigned char *der, size_t der_len, char *msg,
			       size_t msz) TV_WUR;

/*
 * Internal to src/pki: decode a PrivateKeyInfo in ctx's library context.
 * Returns OK; MALFORMED_KEYSTORE when an RSA/EC/Ed25519 key doesn't decode;
 * UNSUPPORTED_KEY_TYPE naming the OID of any other algorithm OpenSSL can't
 * decode, or for an RSA key over max_rsa_bits (0 = the default cap; checked
 * here, as soon as the key is decoded, so an oversized key never reaches an
 * RSA operation: no pairing, no signature). (Types OpenSSL decodes but we
 * don't store, DSA or Ed448, are refused later by tv_pki_key_check, after
 * pairing.)
 */
enum tv_reason tv__key_from_p8(EVP_PKEY **out, struct tv_pki_ctx *ctx,
			       const PKCS8_PRIV_KEY_INFO *p8, unsigned max_rsa_bits,
			       char *msg, size_t msz) TV_WUR;

/*
 * Internal to src/pki: the RSA size policy on a modulus of bits bits: over
 * max_bits (0 = the default cap) is UNSUPPORTED_KEY_TYPE; with cap_only
 * false, so is under TV_PKI_MIN_RSA_BITS. The messages tv_pki_key_check
 * gives.
 */
enum tv_reason tv__rsa_bits_check(unsigned bits, unsigned max_bits, bool cap_only, char *msg,
				  size_t msz) TV_WUR;

/*
 * Internal to src/pki: the subjectAltName cap of a certificate found in a
 * keystore (what names the certificate "leaf" or "chain"). OK;
 * KEYSTORE_TOO_LARGE over max_sans; MALFORMED_KEYSTORE when the extension
 * doesn't decode. Counts without decoding the names.
 */
enum tv_reason tv__cert_sans_check(const X509 *cert, size_t max_sans, char *msg,
				   size_t msz) TV_WUR;

/* Internal to src/pki: the same cap on a count of n subjectAltNames. */
enum tv_reason tv__sans_cap_check(size_t n, size_t max_sans, char *msg, size_t msz) TV_WUR;

#endif
