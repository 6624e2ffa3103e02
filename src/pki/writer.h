/*
 * writer.h - the keystore writers behind POST .../certificates/{id}/keystore:
 * PKCS#12 (two profiles), an encrypted PKCS#8 PEM, the PEM zip of the
 * reference service, and (through pki/jks.h, included here) a Java KeyStore.
 *
 * DESIGN: pure, like the readers: a key, its certificate, its chain and a
 * passphrase in; the bytes of one file out, in a new struct tv_secbuf. No
 * file, no global state; PKCS#12 and PKCS#8 use ctx's library context (the
 * one the readers use), so what we write is what we can read back.
 *
 * Ownership: every input is borrowed and only read (key, leaf, chain,
 * strings). *out is set only on success and is owned by the caller: free it
 * with tv_secbuf_free(), which wipes it. The output holds the private key
 * encrypted under the passphrase; it is kept in sodium_malloc memory all the
 * same, because a weak passphrase makes it a secret. The passphrase is
 * copied into sodium_malloc memory for the call and wiped before returning.
 * The unencrypted PKCS#8 is, for PKCS#12 and PKCS#8, an OpenSSL
 * PKCS8_PRIV_KEY_INFO (OpenSSL cleanses it on free, and cleanses its own
 * encoding and PBKDF2 buffers); for JKS it and the key stream are tv_secbufs.
 *
 * Passphrases are UTF-8 bytes, passphrase_len of them (no terminator
 * needed); NULL with length 0 is the empty passphrase. Invalid UTF-8, or a
 * NUL byte, is refused (TV_ERR_INVALID): PKCS#12 and JKS turn the password
 * into UTF-16 characters, the OpenSSL APIs take C strings, and PKCS#12
 * defines a password as a string.
 * At most TV_WRITER_MAX_PASSPHRASE bytes, at most TV_WRITER_MAX_CHAIN chain
 * certificates.
 *
 * Threads: every function may be called from any thread, any number at once,
 * also on one ctx and on shared key/certificate objects (they are only read).
 */
#ifndef TV_PKI_WRITER_H
#define TV_PKI_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/secmem.h"
#include "pki/jks.h"
#include "pki/pki.h"

/** The longest passphrase a writer accepts, in UTF-8 bytes (as the readers). */
#define TV_WRITER_MAX_PASSPHRASE 4096u
/** The most chain certificates (not counting the leaf) a writer accepts. */
#define TV_WRITER_MAX_CHAIN 32
/** PBKDF2 iterations of the MODERN PKCS#12 and of the PKCS#8 PEM. */
#ifndef TV_WRITER_PBKDF2_ITER /* the fuzz build lowers it, for speed */
#define TV_WRITER_PBKDF2_ITER 10000
#endif
/** MAC iterations of the MODERN PKCS#12. */
#ifndef TV_WRITER_MODERN_MAC_ITER /* the fuzz build lowers it, for speed */
#define TV_WRITER_MODERN_MAC_ITER 10000
#endif
/** PBE and MAC iterations of the LEGACY PKCS#12 (what old Windows expects). */
#ifndef TV_WRITER_LEGACY_ITER /* the fuzz build lowers it, for speed */
#define TV_WRITER_LEGACY_ITER 2048
#endif
/** The longest label (bytes) kept for the zip's file names. */
#define TV_WRITER_MAX_LABEL 100u

enum tv_p12_profile {
	/* PBES2 (PBKDF2-HMAC-SHA256, TV_WRITER_PBKDF2_ITER iterations,
	 * AES-256-CBC) for the key and the certificates; HMAC-SHA256 MAC
	 * with TV_WRITER_MODERN_MAC_ITER iterations */
	TV_P12_MODERN = 0,
	/* pbeWithSHAAnd3-KeyTripleDES-CBC for the key and the certificates,
	 * SHA-1 MAC, TV_WRITER_LEGACY_ITER iterations: old Windows and Java */
	TV_P12_LEGACY = 1
};

/**
 * Write a DER PKCS#12: a shrouded key bag for key and one certificate bag per
 * certificate, leaf first, then chain in its order (nearest issuer first).
 * The key and leaf bags carry localKeyId = SHA-1 of the leaf's DER, and
 * friendlyName = alias when alias is not NULL (UTF-8, NUL-terminated). The
 * empty passphrase is allowed: the file is then encrypted and MACed with the
 * empty password ("", a BMPString of just the terminator), not left open.
 * chain may be NULL. ctx: its library context does the work.
 *
 * Errors: TV_ERR_INVALID (a NULL argument, key without its private part, key
 * not leaf's key, a passphrase or alias that is not UTF-8 or holds a NUL, an
 * alias with a character outside the Basic Multilingual Plane (friendlyName
 * is a BMPString), a passphrase over TV_WRITER_MAX_PASSPHRASE, a chain over
 * TV_WRITER_MAX_CHAIN, an unknown profile), TV_ERR_NOMEM, TV_ERR_CRYPTO.
 */
enum tv_err tv_p12_write(struct tv_secbuf **out, struct tv_pki_ctx *ctx,
			 EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain,
			 const char *alias, const char *passphrase,
			 size_t passphrase_len,
			 enum tv_p12_profile profile) TV_WUR;

/**
 * Write key as an encrypted PKCS#8 PEM ("-----BEGIN ENCRYPTED PRIVATE
 * KEY-----"): PBES2 with PBKDF2-HMAC-SHA256 (TV_WRITER_PBKDF2_ITER
 * iterations, 16-byte random salt) and AES-256-CBC. The passphrase bytes are
 * the PBKDF2 password as they are (UTF-8). *out holds the PEM text; out->len
 * counts it without the terminating NUL that tv_secbuf keeps after it.
 *
 * Errors: TV_ERR_INVALID (NULL argument, no private part, bad passphrase),
 * TV_ERR_NOMEM, TV_ERR_CRYPTO.
 */
enum tv_err tv_pkcs8_pem_write(struct tv_secbuf **out, struct tv_pki_ctx *ctx,
			       EVP_PKEY *key, const char *passphrase,
			       size_t passphrase_len) TV_WUR;

/**
 * Write the zip of the PEM export, built in memory (never a temporary file),
 * with four members, in this order:
 *   <label>.key            tv_pkcs8_pem_write(key, passphrase)
 *   <label>.crt            the leaf, one PEM block
 *   <label>_root-first.pem the root end first: chain reversed, then the leaf
 *   <label>_root-last.pem  the leaf first, then chain in its order
 * Both chain files include the leaf, and their PEM blocks are separated by
 * one blank line ("-----END CERTIFICATE-----\n\n-----BEGIN ..."), as the
 * clients read them: vcert (Go) and vcert-python split _root-first.pem on
 * "\n\n" and take its last block as the certificate, the others as the
 * chain; VenafiPS takes the first block of _root-last.pem as the
 * certificate and the rest as the chain.
 *
 * label: UTF-8, NUL-terminated, or NULL. It is made a safe file name: it
 * keeps ASCII letters, digits and "._-+@=," and the non-ASCII characters
 * that are not spaces, controls, invisible or bidi formatting marks or
 * noncharacters; anything else ('/', '\\', spaces, controls, invalid UTF-8)
 * becomes '_'. A '.' right after a '.' becomes '_' (so never ".."), runs of
 * '_' become one, leading '.', '_' and '-' and trailing '.' and '_' are
 * dropped, and the result is cut to TV_WRITER_MAX_LABEL bytes on a character
 * boundary. An empty result (or a NULL label) is "certificate".
 * "../../etc/x" becomes "etc_x".
 *
 * Errors: as tv_p12_write(); TV_ERR_NOMEM also when libzip fails (in memory
 * its only failure is allocation).
 */
enum tv_err tv_pem_zip_write(struct tv_secbuf **out, struct tv_pki_ctx *ctx,
			     EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain,
			     const char *label, const char *passphrase,
			     size_t passphrase_len) TV_WUR;

/**
 * Whether the writers accept pass[0..len) as a passphrase: UTF-8 without a
 * NUL byte, at most TV_WRITER_MAX_PASSPHRASE bytes (the empty one is
 * allowed). For callers that must tell a person which field is wrong before
 * they hand the passphrase over. Pure, thread-safe.
 */
bool tv_writer_passphrase_ok(const void *pass, size_t len);

/**
 * The safe file name tv_pem_zip_write() makes of label (see there), written
 * to buf[0..buf_size) with a NUL. buf_size must be at least
 * TV_WRITER_MAX_LABEL + 1. Thread-safe.
 */
void tv_writer_safe_label(char *buf, size_t buf_size, const char *label);

/*
 * Internal to src/pki (writer.c and jks.c share them).
 *
 * tv__utf8_next: decode the UTF-8 character at s[*pos] (*pos < len), strictly
 * (no overlong forms, no surrogates, nothing above U+10FFFF). Returns 0 and
 * sets *cp, or -1; *pos moves past the character, or by one byte on error.
 * tv__utf8_valid: s[0..len) is valid UTF-8 without a NUL.
 * tv__writer_pass_check: a passphrase writers accept (see above).
 * tv__writer_inputs_check: key and leaf given, key is leaf's key, the chain
 * holds at most TV_WRITER_MAX_CHAIN certificates and no NULL.
 */
int tv__utf8_next(const unsigned char *s, size_t len, size_t *pos,
		  uint32_t *cp) TV_WUR;
bool tv__utf8_valid(const void *s, size_t len);
enum tv_err tv__writer_pass_check(const char *pass, size_t len) TV_WUR;
enum tv_err tv__writer_inputs_check(EVP_PKEY *key, X509 *leaf,
				    STACK_OF(X509) *chain) TV_WUR;

#endif
