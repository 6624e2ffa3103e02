/*
 * p12.h - the PKCS#12 (.p12/.pfx) reader.
 *
 * DESIGN: pure. Bytes and a password in; every private key with its
 * certificate, plus the remaining certificates, or one precise reason out.
 * No store, no I/O, no global state: the only shared object is the
 * struct tv_pki_ctx passed in (see pki.h; reads on one ctx may run
 * concurrently from many threads). docs/internals/pkcs12.md describes the
 * walk, the order of the checks and how each failure maps to a reason.
 *
 * Ownership: *out is set only on success and owns everything it points to;
 * free it with tv_p12_contents_free(). The input bytes and the password are
 * only read; the password is copied into sodium_malloc memory, in the
 * encodings the KDFs need, and wiped before the call returns.
 */
#ifndef TV_PKI_P12_H
#define TV_PKI_P12_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "pki/reason.h"

#define TV_P12_DEFAULT_MAX_ITERATIONS 1000000u
#define TV_P12_DEFAULT_MAX_KEYSTORE_BYTES (256u * 1024u)
#define TV_P12_DEFAULT_MAX_SANS 1000u
#define TV_P12_DEFAULT_MAX_KEY_BITS TV_PKI_DEFAULT_MAX_KEY_BITS

/**
 * The caps a read enforces. A zero field means its default. Iteration
 * counts (MAC, PBKDF2, PKCS#12 PBE, PBMAC1's PBKDF2) over max_iterations
 * are refused before any KDF runs (ITERATION_LIMIT_EXCEEDED); inputs over
 * max_keystore_bytes are refused before parsing (KEYSTORE_TOO_LARGE); a
 * certificate (leaf or chain) with more than max_sans subjectAltNames is
 * refused as soon as it is decoded (KEYSTORE_TOO_LARGE); an RSA private key
 * over max_key_bits is refused as soon as it is decoded, before pairing or
 * any RSA operation (UNSUPPORTED_KEY_TYPE).
 */
struct tv_p12_limits {
	uint64_t max_iterations;   /* default TV_P12_DEFAULT_MAX_ITERATIONS */
	size_t max_keystore_bytes; /* default TV_P12_DEFAULT_MAX_KEYSTORE_BYTES */
	size_t max_sans;           /* default TV_P12_DEFAULT_MAX_SANS */
	unsigned max_key_bits;     /* RSA modulus; default TV_P12_DEFAULT_MAX_KEY_BITS */
};

/**
 * One private key and its certificate.
 *
 * The key comes as PKCS#8 DER (pkcs8, always set): the bytes the importer
 * seals, which are what OpenSSL's encoder writes for the key
 * (tv_pki_key_to_pkcs8). An EVP_PKEY is made only when someone asks for it
 * (tv_p12_pair_key): the reader pairs and checks the plain RSA and EC forms
 * from their bytes (keyfacts.h), so the import path never decodes a key.
 * Likewise the certificate comes as DER (cert_der, always set) and an X509
 * only on request (tv_p12_pair_cert).
 */
struct tv_p12_pair {
	struct tv_secbuf *pkcs8; /* PrivateKeyInfo DER, secret memory */
	unsigned char *cert_der; /* its certificate (public key equal to the
				    key's), exactly one DER Certificate */
	size_t cert_der_len;
	char *friendly_name; /* UTF-8 friendlyName of the key (else of the
				cert) bag, or NULL; OPENSSL_malloc'd */
	EVP_PKEY *decoded_key; /* private: NULL until tv_p12_pair_key() */
	X509 *decoded_cert;    /* NULL, or the X509 decoded already (read-only;
				  tv_p12_pair_cert() decodes on request) */
};

/** What a keystore holds. */
struct tv_p12_contents {
	struct tv_p12_pair *pairs; /* pair_count >= 1 entries, in file order */
	size_t pair_count;
	STACK_OF(X509) *chain_candidates; /* the other certificates, in file
					     order; never NULL, may be empty;
					     CA certificates may be shared
					     with the ctx's cache (up-ref'd;
					     never modify one) */
	struct tv_pki_ctx *ctx; /* borrowed: the ctx of the read */
};

/** Free contents and everything in it (wiping the keys); NULL is a no-op. */
void tv_p12_contents_free(struct tv_p12_contents *contents);

/**
 * The private key of pair i as an EVP_PKEY made in the read's library
 * context, decoded from its PKCS#8 on the first call (the ctx of the read
 * must still be alive). Borrowed: owned by contents. NULL when i is out of
 * range or on allocation failure (the key decoded once already, at read
 * time or in its form's checks, so it decodes again). Not thread-safe on
 * one contents.
 */
EVP_PKEY *tv_p12_pair_key(struct tv_p12_contents *contents, size_t i);

/**
 * The certificate of pair i as an X509 in the read's library context,
 * decoded from cert_der on the first call (the ctx of the read must still
 * be alive). The reader decodes a certificate only when it must (a CA
 * certificate, or one whose DER is not the strict form of pki/certder.h):
 * the import path takes the leaf's facts and chain from its DER, so the
 * leaf's public key never goes through OpenSSL's decoders there. The
 * reader checks before it defers a decode that d2i_X509 accepts the
 * bytes, so this fails only on allocation failure. Borrowed: owned by
 * contents. NULL when i is out of range or on failure. Not thread-safe on
 * one contents.
 */
X509 *tv_p12_pair_cert(struct tv_p12_contents *contents, size_t i);

/**
 * Read a DER PKCS#12 file.
 *
 * password: UTF-8 bytes (password_len of them, no terminator needed), or
 * NULL for "no password". An empty or absent password tries both the empty
 * string and the absent password (empty first when the caller gave "",
 * absent first when NULL), as OpenSSL does; the MAC, or without a MAC the
 * decryption, decides which one is right.
 *
 * limits: NULL means the defaults.
 *
 * Returns TV_REASON_OK and sets *out; or one of MALFORMED_KEYSTORE,
 * KEYSTORE_TOO_LARGE, MAC_VERIFICATION_FAILED, DECRYPTION_FAILED,
 * UNSUPPORTED_ALGORITHM, ITERATION_LIMIT_EXCEEDED, NO_PRIVATE_KEY,
 * NO_CERTIFICATE, KEY_CERTIFICATE_MISMATCH, UNSUPPORTED_KEY_TYPE,
 * INVALID_ITEM (password over 4096 bytes) or INTERNAL_ERROR, with a message
 * for a person in msg[0..msg_size) (may be NULL/0; TV_REASON_MSG_SIZE
 * bytes never truncate). On success msg is "". The message names
 * algorithms and numbers, never password bytes.
 *
 * Every key of the file is returned, each with its certificate (paired by
 * localKeyId, else by public key); if any key fails, the whole read fails.
 * Thread-safe: any number of reads may share ctx.
 */
enum tv_reason tv_p12_read(struct tv_p12_contents **out,
			   struct tv_pki_ctx *ctx,
			   const unsigned char *der, size_t der_len,
			   const char *password, size_t password_len,
			   const struct tv_p12_limits *limits,
			   char *msg, size_t msg_size) TV_WUR;

/*
 * Internal to src/pki (the PKCS#8 readers share the result type): an empty
 * contents with chain_candidates allocated, and the resolution of limits.
 */
enum tv_reason tv__contents_new(struct tv_p12_contents **out, struct tv_pki_ctx *ctx,
				size_t pair_count, char *msg, size_t msz) TV_WUR;
void tv__limits_resolve(struct tv_p12_limits *out,
			const struct tv_p12_limits *in);

/*
 * The checks every reader makes before parsing (internal to src/pki): bad
 * arguments, the size cap, an empty input. Clears msg, fills *lim. Returns
 * TV_REASON_OK to go on, else the reason (msg says it for "what").
 */
enum tv_reason tv__input_check(struct tv_p12_limits *lim, const struct tv_p12_limits *limits,
			       const void *out, const void *ctx, const void *in, size_t len,
			       size_t len_max, const char *what, char *msg, size_t msg_size);

#endif
