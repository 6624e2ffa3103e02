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
 * tv__kdf_batch runs several of them at once (the SHA-256 ones with their
 * iteration chains interleaved on SHA-NI); the reader batches the KDFs of
 * a keystore through pbe.h's tv__kdf_pre.
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

/** The two KDFs a batch job can be. */
enum tv__kdf_kind { TV__KDF_PBKDF2 = 0, TV__KDF_PKCS12 };

/**
 * One KDF of a batch: kind with digest md over pass and salt (the same
 * meaning as the arguments of tv__kdf_pbkdf2_run / tv__kdf_pkcs12_run; id
 * is used by the PKCS#12 KDF only), n bytes into out. ok is the batch's
 * answer for this job: what the single-run function would have returned
 * (out is unchanged when it is false). The pointers are borrowed.
 */
struct tv__kdf_job {
	enum tv__kdf_kind kind;
	enum tv__kdf_md md;
	const unsigned char *pass;
	size_t pass_len;
	const unsigned char *salt;
	size_t salt_len;
	uint64_t iter;
	unsigned char id;
	unsigned char *out;
	size_t n;
	bool ok;
};

/**
 * Run n independent jobs; outputs are byte-identical to one single run of
 * each. Where the CPU has the SHA extensions, the SHA-256 jobs' iteration
 * chains run several at once (their compressions interleaved, width 2 or
 * 3); every other job (other digests, SHA-NI missing, outputs over 16
 * chains) runs alone as tv__kdf_*_run would. Returns true when every job's
 * ok is true. Wipes every intermediate before it returns. Reentrant.
 */
bool tv__kdf_batch(struct tv__kdf_job *jobs, size_t n);

/**
 * tv__kdf_batch with at most width chains at once (1 = each job alone, as
 * today; 2 or 3 interleaved; more is taken as 3). For the tests and the
 * benchmark, which compare the widths; the reader uses tv__kdf_batch.
 */
bool tv__kdf_batch_width(struct tv__kdf_job *jobs, size_t n, unsigned width);

/** The widest interleaving this CPU runs: 3 with SHA-NI, else 1. */
unsigned tv__kdf_max_width(void);

/**
 * For the tests: the SHA-256 compression function on SHA-NI, k (1 to 3)
 * independent states at once: each h[i] (the 8 chaining words) compressed
 * with the 64-byte blocks[i]. Returns false (nothing changed) when the CPU
 * has no SHA extensions or k is out of range.
 */
bool tv__kdf_sha256_ni(uint32_t (*h)[8], const unsigned char (*blocks)[64],
		       size_t k);

#endif
