/*
 * secmem.h - secret buffers.
 *
 * DESIGN: every password, private key, DEK or master key lives in a
 * tv_secbuf. Buffers of up to TV_SECPOOL_MAX_BYTES come from a pool of a few
 * large mlock'd, MADV_DONTDUMP regions with guard pages around each region
 * (secmem.c explains the trade-off); larger ones from sodium_malloc (guard
 * pages around the buffer). Either way the bytes are zeroed when handed
 * out and wiped when freed. tv_secbuf_free(NULL) is a no-op. A secbuf is
 * owned by whoever holds the pointer; it is not thread-safe, and need not
 * be; tv_secbuf_new/_free may be called from any number of threads.
 * tv_secmem_init() must run once (it calls sodium_init) before any use.
 */
#ifndef TV_CORE_SECMEM_H
#define TV_CORE_SECMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

struct tv_secbuf {
	unsigned char *p; /* len + 1 bytes (NUL after the data), pool or sodium_malloc */
	size_t len;       /* callers may shrink it; the two fields below are secmem's */
	size_t tv__size;  /* bytes handed out at creation (the first len + 1) */
	int tv__class;    /* the pool's size class, or -1 for sodium_malloc */
};

/** The largest len + 1 the pool serves; larger buffers use sodium_malloc. */
#define TV_SECPOOL_MAX_BYTES (64u * 1024u - 16u)

/** Initialise libsodium and the pool. Thread-safe, idempotent. */
enum tv_err tv_secmem_init(void) TV_WUR;

/** A new zeroed secret buffer of len bytes (len may be 0). Thread-safe. */
enum tv_err tv_secbuf_new(struct tv_secbuf **out, size_t len) TV_WUR;

/** A new secret buffer holding a copy of src[0..len). Thread-safe. */
enum tv_err tv_secbuf_dup(struct tv_secbuf **out, const void *src, size_t len) TV_WUR;

/**
 * Wipe and free; NULL is a no-op. Aborts the process (as sodium_free does)
 * when the canary after the buffer's bytes was overwritten: memory next to
 * a secret was corrupted and nothing can be trusted any more.
 */
void tv_secbuf_free(struct tv_secbuf *b);

/** Wipe len bytes at p (never optimised away). */
void tv_wipe(void *p, size_t len);

/** Counters of the pool; a snapshot, for tests and /metrics. */
struct tv_secmem_stats {
	uint64_t pool_allocs;     /* buffers served by the pool */
	uint64_t fallback_allocs; /* buffers served by sodium_malloc */
	size_t regions;           /* regions mapped */
	size_t mapped_bytes;      /* usable bytes in them */
	size_t in_use;            /* pool chunks handed out now */
	bool mlock_failed;        /* a region could not be locked in RAM */
};

/** Fill *out with the pool's counters. Thread-safe. */
void tv_secmem_stats(struct tv_secmem_stats *out);

/*
 * Test-only hooks (tests/unit/test_secmem.c). Whether p lies in one of the
 * pool's regions; and whether the n bytes at p, which must lie inside the
 * pool (a freed chunk stays mapped), are all zero. The latter lifts the
 * ASan poisoning of a free chunk for the read and restores it.
 */
bool tv__secmem_in_pool(const void *p);
bool tv__secmem_pool_bytes_zero(const void *p, size_t n);

#endif
