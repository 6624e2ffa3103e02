/*
 * timing.h - optional phase counters for the keystore readers, for the
 * benchmark's per-item cost breakdown (bench/, `make bench`).
 *
 * DESIGN: the benchmark needs to know where a read spends its time (KDFs,
 * MAC, bag decryption, certificate and key decoding, pairing) without a
 * profiler, and the numbers must come from the production code itself so
 * they stay true when the readers change (the import fast path). So the pki
 * code marks each phase, and a context made for measuring carries a
 * struct tv_pki_timing that the marks add to. A context without one (every
 * production context) pays one predictable branch per mark: no clock is
 * read, nothing is written.
 *
 * Whoever changes a reader keeps the marks around the same work: a phase
 * that moves to new code takes its mark along, or the breakdown lies.
 *
 * Threads: the counters are atomics, so any number of reads sharing one
 * timed context may run at once; their sums are exact, the split between
 * threads is not kept.
 */
#ifndef TV_PKI_TIMING_H
#define TV_PKI_TIMING_H

#include <stdatomic.h>
#include <stdint.h>

struct tv_pki_ctx;

/** The phases of a read that are timed. */
enum tv_pki_phase {
	TV_PKI_PHASE_KDF = 0,     /* PBKDF2 and the PKCS#12 KDF, every use */
	TV_PKI_PHASE_MAC,         /* the HMAC over the authSafe (its KDF excluded) */
	TV_PKI_PHASE_DECRYPT,     /* bag and safe ciphers (their KDFs excluded) */
	TV_PKI_PHASE_CERT_DECODE, /* certificate bags into X509 objects, copies */
	TV_PKI_PHASE_KEY_DECODE,  /* PKCS#8 PrivateKeyInfo into EVP_PKEY */
	TV_PKI_PHASE_PAIRING,     /* key/certificate matching and the key-type check */
	TV_PKI_PHASE_COUNT
};

/** Accumulated nanoseconds and number of timed spans, per phase. */
struct tv_pki_timing {
	_Atomic uint64_t ns[TV_PKI_PHASE_COUNT];
	_Atomic uint64_t spans[TV_PKI_PHASE_COUNT];
};

/** A short lower-case name for a phase ("kdf", "mac", ...); "?" if unknown. */
const char *tv_pki_phase_name(enum tv_pki_phase phase);

/**
 * Make every later read on ctx add its phase times to t (borrowed; it must
 * outlive the ctx's use; NULL turns timing off). Call it before ctx is
 * shared between threads: it is part of setting the context up, like
 * creating it. Meant for benchmarks; servers never call it.
 */
void tv_pki_ctx_set_timing(struct tv_pki_ctx *ctx, struct tv_pki_timing *t);

/** Zero t's counters (not concurrently with reads that use it). */
void tv_pki_timing_reset(struct tv_pki_timing *t);

/*
 * Internal to src/pki: a mark. tv__timing_begin returns a start stamp, or 0
 * when ctx has no timing (then tv__timing_end does nothing). tv__timing_end
 * adds the time since t0, minus excluded_ns (time of a nested phase that
 * counts elsewhere), to phase. tv__timing_since gives the ns since t0 (0
 * when t0 is 0), for measuring a nested phase to exclude.
 */
uint64_t tv__timing_begin(const struct tv_pki_ctx *ctx);
void tv__timing_end(const struct tv_pki_ctx *ctx, enum tv_pki_phase phase, uint64_t t0,
		    uint64_t excluded_ns);
uint64_t tv__timing_since(uint64_t t0);

/* Internal to src/pki: the counters ctx carries, or NULL (defined in pki.c,
 * which owns the context's layout). */
struct tv_pki_timing *tv__pki_ctx_timing(const struct tv_pki_ctx *ctx);

#endif
