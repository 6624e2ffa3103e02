/*
 * mac.h - the integrity check of a PKCS#12 file (internal to src/pki).
 *
 * DESIGN: like pbe.h, split in two: tv__mac_identify() decodes MacData
 * (classic HMAC with the PKCS#12 KDF, RFC 7292; or PBMAC1, RFC 9579) and
 * checks its iteration count against the cap without running anything;
 * tv__mac_verify() derives the key and compares the HMAC in constant time.
 * The reader identifies once, then verifies once per candidate password.
 *
 * PBMAC1 policy (RFC 9579 leaves room, we close it):
 *   - PBKDF2's keyLength must be present: a missing one is
 *     MALFORMED_KEYSTORE ("malformed PBMAC1 parameters"), as the RFC
 *     requires it and guessing a length is how verifiers get bypassed;
 *   - a keyLength shorter than the HMAC output is MAC_VERIFICATION_FAILED:
 *     such a MAC key is brute-forceable without the password
 *     (vectors/pbmac1-short-key-bypass.p12), and the RFC says it MUST be
 *     rejected; a keyLength over 64 bytes is MALFORMED_KEYSTORE (it only
 *     multiplies the PBKDF2 cost);
 *   - MacData's own salt and iteration count are ignored (RFC 9579 §4: they
 *     are "not used"), so they are not capped either; PBKDF2's are.
 *
 * Threads: reentrant; a struct tv__mac is used by one thread at a time.
 */
#ifndef TV_PKI_MAC_H
#define TV_PKI_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/pkcs12.h>

#include "pki/pbe.h"

/** An identified MAC; points into p12 and into the decodes it owns. */
struct tv__mac {
	bool present;
	bool pbmac1;
	const char *hmac_md;  /* HMAC digest ("SHA256") */
	const char *kdf_md;   /* PKCS#12 KDF digest or PBKDF2 PRF digest */
	size_t key_len;       /* MAC key length */
	uint64_t iter;
	const unsigned char *salt;
	size_t salt_len;
	const unsigned char *expected; /* the MAC stored in the file */
	size_t expected_len;
	void *pbmac1_param;       /* owned decodes */
	PBKDF2PARAM *kdf_param;
};

/**
 * Identify p12's MAC and check its iteration count against max_iter. A file
 * without MacData gives OK with present = false. Returns OK,
 * MALFORMED_KEYSTORE, UNSUPPORTED_ALGORITHM, ITERATION_LIMIT_EXCEEDED or
 * MAC_VERIFICATION_FAILED (a MAC whose length or key length can't be
 * right). Release mac with tv__mac_release() on every path.
 */
enum tv_reason tv__mac_identify(struct tv__mac *mac, const PKCS12 *p12,
				uint64_t max_iter, char *msg,
				size_t msz) TV_WUR;
void tv__mac_release(struct tv__mac *mac);

/** Plan the MAC key's derivation that tv__mac_verify will run (nothing
 * when there is no MAC). Returns false only when out of memory. */
bool tv__mac_kdf_plan(struct tv__kdf_pre *pre,
		      const struct tv__mac *mac) TV_WUR;

/**
 * Verify the MAC over data[0..len) (the authSafe content octets) with one
 * password. Returns OK, MAC_VERIFICATION_FAILED or INTERNAL_ERROR.
 */
enum tv_reason tv__mac_verify(const struct tv__mac *mac,
			      struct tv_pki_ctx *ctx,
			      const struct tv__pass *pw,
			      const unsigned char *data, size_t len,
			      char *msg, size_t msz) TV_WUR;

#endif
