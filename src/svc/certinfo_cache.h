/*
 * certinfo_cache.h - the facts of CA certificates, computed once per
 * process and shared by every import item whose chain contains them.
 *
 * DESIGN: the issuers of a chain (intermediates, roots) repeat across the
 * keystores of one organisation, yet each item used to compute their facts
 * (names, fingerprint, JSON document, row) again: about a third of the
 * "certificate facts" step. The facts are a pure function of the DER, so
 * an entry is keyed by the SHA-256 of the DER and its length, like the
 * reader's certificate cache (src/pki/certcache.h), and a hit is exactly
 * what tv_certinfo_init(..., false) would give for those bytes.
 *
 * An entry is immutable once published and reference-counted: the cache
 * holds one reference, every caller of tv_certinfo_cache_get another, so
 * an eviction never frees facts a worker still stores from. Bounded:
 * sets of S_WAYS entries indexed by the hash, least recently used evicted.
 * Threads: every call may come from any thread; the cache's mutex is held
 * only for table work, never while facts are computed or freed.
 */
#ifndef TV_SVC_CERTINFO_CACHE_H
#define TV_SVC_CERTINFO_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "core/err.h"
#include "core/shacache.h"
#include "svc/certinfo.h"

#define TV_CERTINFO_CACHE_DEFAULT_ENTRIES 1024u

struct tv_certinfo_cache;

/** A new empty cache of about max_entries entries (rounded down to whole
 * sets; 0 = TV_CERTINFO_CACHE_DEFAULT_ENTRIES). TV_ERR_NOMEM. */
enum tv_err tv_certinfo_cache_new(struct tv_certinfo_cache **out, size_t max_entries) TV_WUR;

/** Free the cache and drop its references (facts still held by callers
 * live on until they are put back); NULL is a no-op. */
void tv_certinfo_cache_free(struct tv_certinfo_cache *cache);

/**
 * *out = the facts of cert as tv_certinfo_init(info, cert, false) computes
 * them, shared and read-only, from the cache when cert's DER was seen
 * before. The caller gives its reference back with tv_certinfo_put().
 * cache NULL: computed and not shared. Errors are tv_certinfo_init's
 * (TV_ERR_INVALID: facts refused; not cached), *out untouched.
 */
enum tv_err tv_certinfo_cache_get(struct tv_certinfo_cache *cache, X509 *cert,
				  const struct tv_certinfo **out) TV_WUR;

/** Give back a reference from tv_certinfo_cache_get; NULL is a no-op. */
void tv_certinfo_put(const struct tv_certinfo *info);

/** Counters (the shared table's), for tests and benchmarks. */
void tv_certinfo_cache_stats(struct tv_certinfo_cache *cache, struct tv_shacache_stats *out);

#endif
