/*
 * secmem.h - secret buffers.
 *
 * DESIGN: every password, private key, DEK or master key lives in a
 * tv_secbuf, whose bytes come from sodium_malloc (guard pages, mlock'd,
 * wiped by sodium_free). tv_secbuf_free(NULL) is a no-op. A secbuf is owned
 * by whoever holds the pointer; it is not thread-safe, and need not be.
 * tv_secmem_init() must run once (it calls sodium_init) before any use.
 */
#ifndef TV_CORE_SECMEM_H
#define TV_CORE_SECMEM_H

#include <stddef.h>
#include "core/err.h"

struct tv_secbuf {
	unsigned char *p; /* sodium_malloc'd, len + 1 bytes (NUL after the data) */
	size_t len;
};

/** Initialise libsodium. Thread-safe, idempotent. */
enum tv_err tv_secmem_init(void) TV_WUR;

/** A new zeroed secret buffer of len bytes (len may be 0). */
enum tv_err tv_secbuf_new(struct tv_secbuf **out, size_t len) TV_WUR;

/** A new secret buffer holding a copy of src[0..len). */
enum tv_err tv_secbuf_dup(struct tv_secbuf **out, const void *src, size_t len) TV_WUR;

/** Wipe and free; NULL is a no-op. */
void tv_secbuf_free(struct tv_secbuf *b);

/** Wipe len bytes at p (never optimised away). */
void tv_wipe(void *p, size_t len);

#endif
