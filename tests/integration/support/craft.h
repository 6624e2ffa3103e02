/*
 * craft.h - hostile inputs for the import tests: PKCS#12 structures no tool
 * writes (built with der.h: absurd iteration counts, lengths past the end,
 * nesting thousands deep), certificates made with OpenSSL (10,000 SANs, a NUL
 * inside a CN, a malformed extension), and a job of such items whose every
 * reason code is checked.
 *
 * Builders take ownership of the tvh_buf they are given and return a new
 * one. Every failure fails the test.
 */
#ifndef TV_TESTS_CRAFT_H
#define TV_TESTS_CRAFT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "der.h"
#include "harness.h"

/* The password of every keystore crafted here. */
#define TVH_CRAFT_PW "hostile-pass"

/* ---- PKCS#12 structures, in DER ---- */

/** A data ContentInfo whose content is der (consumed). */
struct tvh_buf tvh_craft_data_ci(struct tvh_buf der);

/** MacData: SHA-256, a zero MAC, salt_len bytes of salt, iterations (any value). */
struct tvh_buf tvh_craft_mac(size_t salt_len, int64_t iterations);

/** PFX v3 around an AuthenticatedSafe, with MacData or without (an empty buf); consumed. */
struct tvh_buf tvh_craft_pfx(struct tvh_buf authsafe, struct tvh_buf mac);

/** An encryptedData ContentInfo: PBES2, PBKDF2 with iterations, AES-256-CBC. */
struct tvh_buf tvh_craft_encrypted_ci(int64_t iterations);

/** A pkcs8ShroudedKeyBag with the PKCS#12 3DES PBE at iterations. */
struct tvh_buf tvh_craft_shrouded_bag(int64_t iterations);

/** SafeContents: safeContentsBags nested depth deep around an empty one. */
struct tvh_buf tvh_craft_nested(size_t depth);

/** SafeContents of n secretBags. */
struct tvh_buf tvh_craft_many_bags(size_t n);

/** AuthenticatedSafe of n data ContentInfos, each with an empty SafeContents. */
struct tvh_buf tvh_craft_many_safes(size_t n);

/** SafeContents with one certBag whose certificate is junk. */
struct tvh_buf tvh_craft_junk_cert_bag(void);

/* ---- keys, certificates and keystores, with OpenSSL ---- */

EVP_PKEY *tvh_craft_ec_key(void);

/** A self-signed v3 certificate (unsigned yet) for key; cn may hold NULs (cn_len, or -1). */
X509 *tvh_craft_cert(EVP_PKEY *key, const char *cn, int cn_len, long serial, bool ca);

/** Add n dNSNames "h<i>.example". */
void tvh_craft_add_sans(X509 *x, size_t n);

/** Add a subjectAltName extension whose value isn't valid DER. */
void tvh_craft_add_bad_san(X509 *x);

/** Sign x with key (SHA-256); returns x. */
X509 *tvh_craft_sign(X509 *x, EVP_PKEY *key);

/** PKCS#12 of key, cert and ca (may be NULL), password TVH_CRAFT_PW, 2048 iterations. */
struct tvh_buf tvh_craft_p12(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * ca);

/** PEM text of x (malloc'd). */
char *tvh_craft_pem(X509 *x);

/** PKCS#8 DER of key (a test key). */
struct tvh_buf tvh_craft_pkcs8(EVP_PKEY *key);

/* ---- a job of hostile items ---- */

struct tvh_items {
	json_t *arr;
	const char *want[100]; /* reason code of each item */
	const char *what[100];
	unsigned char pk[32]; /* the tenant's DEK public key */
};

/** A pkcs12Keystore item (der consumed), TVH_CRAFT_PW sealed to it->pk. */
void tvh_items_add_p12(struct tvh_items *it, const char *what, struct tvh_buf der,
                       const char *want);

/** Any item (stolen), and the reason code it must fail with. */
void tvh_items_add(struct tvh_items *it, const char *what, json_t *item, const char *want);

/** A certificate + dekEncryptedPrivateKey item (p8 consumed and wiped). */
json_t *tvh_sealed_item(const unsigned char pk[32], const char *pem, struct tvh_buf p8);

/**
 * Post the items as one job, wait for it, and check that every item FAILED
 * with its reason code; each item is a case, or the whole job one case when
 * one_case (many copies of one input).
 */
void tvh_items_run(const struct tvh_server *s, struct tvh_items *it, bool one_case);

#endif
