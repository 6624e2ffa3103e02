/*
 * keyfacts.h - what the reader needs to know about a private key, read
 * from its PKCS#8 bytes without building an EVP_PKEY (internal to src/pki).
 *
 * DESIGN: OpenSSL 3.0 decodes a private key through its provider decoders
 * (~0.6 ms for RSA-2048), and the import path needs nothing from the
 * EVP_PKEY: pairing compares public keys, the key-type policy needs the
 * type and size, and what is sealed is the PKCS#8 DER. So for the plain
 * forms that make up nearly every keystore, this reads those facts straight
 * from the DER:
 *
 *   RSA: PrivateKeyInfo v0, rsaEncryption with NULL parameters, a
 *        two-prime RSAPrivateKey v0 of nine minimal non-negative INTEGERs;
 *   EC:  PrivateKeyInfo v0, id-ecPublicKey on P-256, P-384 or P-521 (named),
 *        ECPrivateKey v1 with a private key of the order's length, 0 < d <
 *        n, no [0] parameters, and a [1] uncompressed public point.
 *
 * No attributes, no trailing bytes. Those are exactly the forms that
 * OpenSSL's own PKCS#8 encoder writes for the key they decode to, so these
 * bytes are what tv_pki_key_to_pkcs8() of the decoded key would give, and
 * the bytes the importer seals don't change. Anything else (Ed25519, other
 * algorithms, explicit curves, a missing public point, attributes, BER)
 * is not "fast": the caller decodes it with OpenSSL as before.
 *
 * The public parts point into the caller's DER (borrowed, secret memory);
 * nothing is copied. Pure; thread-safe.
 */
#ifndef TV_PKI_KEYFACTS_H
#define TV_PKI_KEYFACTS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "pki/der.h"

enum tv__key_kind {
	TV__KEY_SLOW = 0, /* not a form read here: use OpenSSL */
	TV__KEY_RSA,
	TV__KEY_EC,
};

struct tv__key_facts {
	enum tv__key_kind kind;
	unsigned bits;            /* RSA: modulus bits (BN_num_bits); EC: curve bits */
	int curve_nid;            /* EC */
	struct tv__der rsa_n;     /* RSA: modulus magnitude */
	struct tv__der rsa_e;     /* RSA: public exponent magnitude */
	struct tv__der ec_curve;  /* EC: the curve OID's contents */
	struct tv__der ec_point;  /* EC: 04 || X || Y */
};

/*
 * Read the facts of the PrivateKeyInfo in der[0..len). True with *out
 * filled for the forms above; false (and kind TV__KEY_SLOW) for anything
 * else, including malformed input.
 */
bool tv__key_facts_read(struct tv__key_facts *out, const unsigned char *der, size_t len);

/*
 * Whether cert's SubjectPublicKeyInfo holds the public key of the key
 * described by k: 1 yes, 0 no, -1 can't tell from the bytes (another
 * encoding of the same kind of key, a compressed point, explicit curve
 * parameters, an unknown algorithm): ask OpenSSL.
 */
int tv__key_facts_match(const struct tv__key_facts *k, X509 *cert);

/*
 * The same answer from a certificate's SubjectPublicKeyInfo spans
 * (pki/certder.h: spki_alg whole, spki_key the BIT STRING's bits) and
 * whether its key surely decodes (key_decodes; false also means "maybe"):
 * 1, 0, or -1 for "decode the certificate and ask tv__key_facts_match".
 */
int tv__key_facts_match_spki(const struct tv__key_facts *k, const struct tv__der *spki_alg,
			     const struct tv__der *spki_key, bool key_decodes);

#endif
