/*
 * jks.h - the Java KeyStore (JKS) writer. Included by pki/writer.h, which
 * holds the other keystore writers and the rules they share (ownership,
 * passphrase encoding, caps, threads); read it first.
 *
 * DESIGN: JKS has no specification; the format is what Sun's
 * JavaKeyStore reads. We write it with our own code (OpenSSL cannot), and
 * check it with Java 17's keytool in tests/unit/test_writer.c.
 */
#ifndef TV_PKI_JKS_H
#define TV_PKI_JKS_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/secmem.h"

/** The longest alias accepted, in UTF-8 bytes (JKS allows 65535). */
#define TV_JKS_MAX_ALIAS 1024u

/**
 * Write a Java KeyStore, version 2 (magic 0xFEEDFEED), with one
 * PrivateKeyEntry (tag 1):
 *  - alias: UTF-8, NUL-terminated; lower-cased as keytool and
 *    JavaKeyStore do (they look entries up by the lower-cased alias, so an
 *    upper-case alias in the file could not be found), then written in
 *    Java's modified UTF-8. NULL or "" means the leaf's first subject CN, or
 *    "mykey" (keytool's default) when it has none that fits;
 *  - the creation date: now, in ms since the epoch;
 *  - key: its PKCS#8 PrivateKeyInfo, protected with Sun's JKS key protector
 *    (OID 1.3.6.1.4.1.42.2.17.1.1: a 20-byte random salt, a SHA-1 key stream
 *    over the UTF-16BE key password, a SHA-1 check of the plaintext) inside
 *    an EncryptedPrivateKeyInfo;
 *  - the certificates, leaf first then chain in its order, each of type
 *    "X.509";
 * then SHA-1(UTF-16BE(store password) || "Mighty Aphrodite" || all of the
 * above), which keytool checks before it reads anything.
 *
 * key_pass protects the key, store_pass the store; both are UTF-8 (NUL
 * refused, at most TV_WRITER_MAX_PASSPHRASE bytes), and either may be empty.
 * The caller decides the store password (API.md: the key passphrase when the
 * keystore passphrase is empty); nothing is substituted here.
 *
 * Key types: those tlsvault stores (tv_pki_key_check): RSA 2048 to 8192
 * bits, EC P-256, P-384 and P-521, and Ed25519. Java 17's keytool lists
 * them and recovers the key (the unit test runs RSA-2048, P-256, P-384 and
 * Ed25519 through keytool; RSA-4096 and P-521 were checked by hand). Ed25519
 * needs the EdDSA KeyFactory of Java 15 and later: an older Java cannot
 * recover that key (not tested here). Anything else (RSA-PSS, secp256k1,
 * gone from Java's SunEC since 16, DSA, Ed448) is TV_ERR_INVALID.
 *
 * SHA-1 and the salt come from OpenSSL's default library context (there is
 * no pki ctx in this call); both are in the default provider.
 *
 * Errors: TV_ERR_INVALID (NULL argument, unsupported key type, key not the
 * leaf's, bad or over-long alias or password, chain over
 * TV_WRITER_MAX_CHAIN), TV_ERR_NOMEM, TV_ERR_CRYPTO.
 * Thread-safe; *out as in writer.h.
 */
enum tv_err tv_jks_write(struct tv_secbuf **out, EVP_PKEY *key, X509 *leaf,
			 STACK_OF(X509) *chain, const char *alias,
			 const char *key_pass, size_t key_pass_len,
			 const char *store_pass, size_t store_pass_len) TV_WUR;

#endif
