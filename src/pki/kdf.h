/*
 * kdf.h - the keystore readers' password-based KDFs on precomputed hash
 * states: PBKDF2 (RFC 8018) with HMAC-SHA1/224/256/384/512 and the PKCS#12
 * KDF (RFC 7292 appendix B.2) with SHA-1/224/256/384/512.
 *
 * Internal to src/pki. pbe.c calls these for every digest they know and
 * keeps OpenSSL's EVP_KDF for anything else; the results are byte-identical
 * to OpenSSL's PKCS5_PBKDF2_HMAC and PKCS12_key_gen_uni (tests/unit/
 * test_kdf.c checks known answers and compares with OpenSSL at random).
 *
 * Ownership: out is the caller's (a secbuf, normally); the functions keep
 * nothing and wipe every intermediate (HMAC states, U, T, the I blocks)
 * before they return, on every path. Threads: reentrant, no shared state.
 */
#ifndef TV_PKI_KDF_H
#define TV_PKI_KDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/** The digests the fast KDFs run on. */
enum tv__kdf_md {
	TV__KDF_SHA1 = 0,
	TV__KDF_SHA224,
	TV__KDF_SHA256,
	TV__KDF_SHA384,
	TV__KDF_SHA512,
};

/**
 * The digest named name ("SHA1", "SHA224", "SHA256", "SHA384", "SHA512",
 * the names pbe.c and mac.c use) into *md. Returns false (and leaves *md)
 * for any other name: the caller then uses OpenSSL's EVP_KDF.
 */
bool tv__kdf_md_by_name(enum tv__kdf_md *md, const char *name);

/**
 * PBKDF2-HMAC-md: n bytes derived from pass (pass_len bytes, may be 0) and
 * salt (salt_len bytes, may be 0) with iter iterations into out. Returns
 * false only for arguments OpenSSL refuses too: n == 0, iter == 0, or n over
 * (2^32 - 1) digest lengths; out is then unchanged.
 */
bool tv__kdf_pbkdf2_run(unsigned char *out, size_t n, enum tv__kdf_md md,
			const unsigned char *pass, size_t pass_len,
			const unsigned char *salt, size_t salt_len,
			uint64_t iter) TV_WUR;

/**
 * The PKCS#12 KDF with digest md: n bytes of purpose id (1 key, 2 IV,
 * 3 MAC; any byte value is used as given) from the BMPString password pass
 * (with its 00 00 terminator; pass_len 0 = the absent password) and salt,
 * with iter iterations, into out. Returns false for n == 0, iter == 0, and
 * (as OpenSSL does) when both salt and password are empty; out is then
 * unchanged.
 */
bool tv__kdf_pkcs12_run(unsigned char *out, size_t n, enum tv__kdf_md md,
			const unsigned char *pass, size_t pass_len,
			const unsigned char *salt, size_t salt_len,
			unsigned char id, uint64_t iter) TV_WUR;

#endif
