/*
 * pkcs8.h - the two PKCS#8 import forms of API.md: an "ENCRYPTED PRIVATE
 * KEY" PEM with its password, and a plain PKCS#8 DER key (which the caller
 * has unsealed from a DEK sealed box). Each comes with the certificate the
 * client sent (PEM, possibly a bundle with its chain, or DER).
 *
 * DESIGN: same rules and result type as the PKCS#12 reader (p12.h): the
 * same iteration cap and algorithm support (pbe.h), the same key-type
 * policy, one reason per failure. The order of checks is: size cap -> key
 * container decode (PEM, DER) -> certificate parse -> algorithm
 * identification and iteration cap -> decrypt -> key decode -> pairing
 * with a certificate -> key type. The certificate is parsed before any KDF
 * runs, so a bad certificate costs no CPU.
 *
 * Ownership and threads: as in p12.h. *out, set only on success, holds one
 * pair; the caller's other certificates are its chain_candidates. Free it
 * with tv_p12_contents_free(). Any number of reads may share ctx.
 */
#ifndef TV_PKI_PKCS8_H
#define TV_PKI_PKCS8_H

#include <stddef.h>

#include "pki/p12.h"
#include "pki/pki.h"
#include "pki/reason.h"

/**
 * Read an encrypted PKCS#8 PEM ("-----BEGIN ENCRYPTED PRIVATE KEY-----",
 * PBES2 with PBKDF2 and AES-CBC, or a PKCS#12 PBE) with its password
 * (UTF-8, NULL = absent; an empty or absent password tries "" and absent,
 * as tv_p12_read does), and pair it with the certificate in cert.
 *
 * Returns OK, or KEYSTORE_TOO_LARGE (pem_len over max_keystore_bytes),
 * MALFORMED_KEYSTORE (not such a PEM, bad DER, bad certificate),
 * UNSUPPORTED_ALGORITHM, ITERATION_LIMIT_EXCEEDED, DECRYPTION_FAILED (wrong
 * password: there is no MAC), NO_CERTIFICATE (cert empty),
 * KEY_CERTIFICATE_MISMATCH, UNSUPPORTED_KEY_TYPE, INVALID_ITEM or
 * INTERNAL_ERROR, with a message in msg.
 */
enum tv_reason tv_pkcs8_read_encrypted_pem(struct tv_p12_contents **out,
					   struct tv_pki_ctx *ctx,
					   const char *pem, size_t pem_len,
					   const char *password,
					   size_t password_len,
					   const unsigned char *cert,
					   size_t cert_len,
					   const struct tv_p12_limits *limits,
					   char *msg, size_t msg_size) TV_WUR;

/**
 * Read a plain PKCS#8 DER PrivateKeyInfo (exactly, no trailing bytes) and
 * pair it with the certificate in cert. der is secret: it is only read.
 * Returns OK, or KEYSTORE_TOO_LARGE, MALFORMED_KEYSTORE, NO_CERTIFICATE,
 * KEY_CERTIFICATE_MISMATCH, UNSUPPORTED_KEY_TYPE or INTERNAL_ERROR.
 */
enum tv_reason tv_pkcs8_read_der(struct tv_p12_contents **out,
				 struct tv_pki_ctx *ctx,
				 const unsigned char *der, size_t der_len,
				 const unsigned char *cert, size_t cert_len,
				 const struct tv_p12_limits *limits,
				 char *msg, size_t msg_size) TV_WUR;

#endif
