/*
 * authcache.h - a per-node cache of API-key lookups (key -> principal).
 *
 * Every authenticated request used to read its key and its tenant from the
 * store. This cache keeps, for a bounded number of recently used keys, the
 * principal those two reads gave, keyed by SHA-256(key), the same hash the
 * store keeps: the key itself is never stored here.
 *
 * Freshness: an entry is used for at most ttl_ms after the store lookup that
 * made it (monotonic clock), so a key revoked on another node (or a tenant
 * changed there) is refused here within ttl_ms. A key revoked through this
 * node is dropped at once (tv_authcache_forget_key), and a lookup that was
 * already running when it was revoked can't put its stale answer back: a
 * put carries the generation read before its lookup, and any forget in
 * between makes the put a no-op. Only good answers are cached (a refused
 * key is looked up every time), and the key's expiry date is checked on
 * every hit. ttl_ms 0 turns the cache off (every call misses).
 *
 * All functions are thread-safe.
 */
#ifndef TV_API_AUTHCACHE_H
#define TV_API_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/app.h"

#define TV_AUTHCACHE_DEFAULT_SECONDS 1
#define TV_AUTHCACHE_MAX_SECONDS 60
/* Entries, in sets of TV_AUTHCACHE_WAYS; the oldest of a full set goes. */
#define TV_AUTHCACHE_ENTRIES 1024
#define TV_AUTHCACHE_WAYS 4

struct tv_authcache;

/** A cache whose entries live ttl_ms (0: off, nothing is kept). */
enum tv_err tv_authcache_new(struct tv_authcache **out, int64_t ttl_ms) TV_WUR;

/** Wipe and free; NULL is a no-op. */
void tv_authcache_free(struct tv_authcache *c);

/**
 * The principal cached for hash, if its entry is younger than the TTL at
 * now_mono_ms and its key has not expired at now_ms (wall clock). A key
 * found expired is dropped. NULL cache: false.
 */
bool tv_authcache_get(struct tv_authcache *c, const unsigned char hash[TV_APIKEY_HASH_BYTES],
		      int64_t now_mono_ms, int64_t now_ms, struct tv_principal *out);

/** The generation to hand to a put that follows a store lookup (read it first). */
uint64_t tv_authcache_generation(struct tv_authcache *c);

/**
 * Remember p (whose key.hash is the key's hash) as looked up at now_mono_ms,
 * unless a forget happened since gen was read, or the key is revoked.
 */
void tv_authcache_put(struct tv_authcache *c, const struct tv_principal *p, uint64_t gen,
		      int64_t now_mono_ms);

/** Drop every entry of the key with this id (revoked here). NULL cache: nothing. */
void tv_authcache_forget_key(struct tv_authcache *c, const char *key_id);

#endif
