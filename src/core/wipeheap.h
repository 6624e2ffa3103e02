/*
 * wipeheap.h - heap functions that wipe every block before it goes back to
 * malloc, for libraries that let us replace their allocator.
 *
 * DESIGN: our own secrets live in tv_secbufs (core/secmem.h), but libraries
 * copy them into their own heap and free the copies without a wipe: OpenSSL
 * 3 frees the plaintext PKCS#8 DER it makes in EVP_PKEY2PKCS8() and in its
 * DER key decoder with OPENSSL_free(), not OPENSSL_clear_free() (measured in
 * tests/unit/test_wipeheap.c; docs/SECURITY.md lists the paths), and
 * libcurl frees its copy of the API-key header unwiped. Freed glibc chunks
 * keep their bytes until reused, so a key would outlive its use in the
 * process's memory. These functions are drop-in replacements that wipe the
 * whole usable size of a block before freeing it; realloc() moves a block by
 * copy-wipe-free instead of letting libc move it and keep the old bytes.
 *
 * Install them before the library allocates anything:
 *   OpenSSL: CRYPTO_set_mem_functions(tv_wipeheap_ossl_malloc,
 *            tv_wipeheap_ossl_realloc, tv_wipeheap_ossl_free)
 *   libcurl: curl_global_init_mem(flags, tv_wipeheap_malloc, tv_wipeheap_free,
 *            tv_wipeheap_realloc, tv_wipeheap_strdup, tv_wipeheap_calloc)
 *   jansson: json_set_alloc_funcs(tv_wipeheap_malloc, tv_wipeheap_free)
 *
 * Blocks come from the C library's malloc, so a block allocated here may be
 * freed with free() and the reverse (it is then merely not wiped). What it
 * does not cover: a library's stack, its static buffers, memory it maps by
 * itself, and blocks still alive. The cost is one memset per free.
 * Every function is thread-safe and async-signal-unsafe, like malloc.
 */
#ifndef TV_CORE_WIPEHEAP_H
#define TV_CORE_WIPEHEAP_H

#include <stddef.h>

/** malloc(n). */
void *tv_wipeheap_malloc(size_t n);

/** calloc(nmemb, size) (NULL on overflow). */
void *tv_wipeheap_calloc(size_t nmemb, size_t size);

/**
 * realloc(p, n): a block that fits stays where it is; a larger one is copied
 * to a new block and the old one wiped and freed. n == 0 frees p (wiped) and
 * returns NULL. On failure NULL, and p is untouched.
 */
void *tv_wipeheap_realloc(void *p, size_t n);

/** Wipe the usable size of p, then free(p). NULL is a no-op. */
void tv_wipeheap_free(void *p);

/** strdup(s) into a block from tv_wipeheap_malloc(). */
char *tv_wipeheap_strdup(const char *s);

/** Wipe the whole usable size of a live malloc'd block (NULL: nothing). */
void tv_wipeheap_wipe(void *p);

/* The same, with the signatures of OpenSSL's CRYPTO_set_mem_functions()
 * (file and line are ignored) and its rule that a 0-byte malloc is NULL. */
void *tv_wipeheap_ossl_malloc(size_t n, const char *file, int line);
void *tv_wipeheap_ossl_realloc(void *p, size_t n, const char *file, int line);
void tv_wipeheap_ossl_free(void *p, const char *file, int line);

#endif
