/*
 * shacache.h - a bounded cache of reference-counted values keyed by the
 * SHA-256 and length of the bytes they stand for (a certificate's DER).
 *
 * DESIGN: a set-associative table: the hash is uniform, so its first
 * octets pick the set directly; each set is a handful of ways searched
 * linearly, with a use stamp for LRU eviction. O(1) per call, one fixed
 * allocation, no rehashing. The cache holds one reference of each value
 * it keeps (taken with ops->ref under the mutex, so ref must be cheap and
 * must not call back into the cache); what an eviction or tv_shacache_free
 * drops goes to ops->unref outside the mutex. Thread-safe. Used by the
 * reader's CA certificate cache (pki/certcache.c: X509s) and the CA facts
 * cache (svc/certinfo_cache.c: shared tv_certinfo).
 */
#ifndef TV_CORE_SHACACHE_H
#define TV_CORE_SHACACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct tv_shacache;

struct tv_shacache_key {
	unsigned char sha256[32];
	size_t len; /* of the bytes hashed: a second check against collisions */
};

struct tv_shacache_ops {
	bool (*ref)(void *value);   /* take a reference; false: unusable */
	void (*unref)(void *value); /* drop one */
};

struct tv_shacache_stats {
	uint64_t hits, misses, inserts, evictions;
	size_t entries, capacity;
};

/** A cache of at most max_entries (rounded down to the table's shape; at
 * least one set). ops must outlive the cache. */
enum tv_err tv_shacache_new(struct tv_shacache **out, size_t max_entries,
			    const struct tv_shacache_ops *ops) TV_WUR;

/** Drop every value (ops->unref) and free; NULL is a no-op. */
void tv_shacache_free(struct tv_shacache *cache);

/** The key of data[0..len). */
void tv_shacache_key_of(struct tv_shacache_key *key, const void *data, size_t len);

/** A new reference to the value under key, or NULL (counted as a miss). */
void *tv_shacache_get(struct tv_shacache *cache, const struct tv_shacache_key *key);

/** Keep value under key with a reference of the cache's own, evicting the
 * set's least recently used entry if it is full. A key already present
 * keeps its value. NULL cache or value: a no-op. */
void tv_shacache_put(struct tv_shacache *cache, const struct tv_shacache_key *key, void *value);

void tv_shacache_stats(struct tv_shacache *cache, struct tv_shacache_stats *out);

#endif
