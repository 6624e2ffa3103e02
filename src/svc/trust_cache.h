/*
 * trust_cache.h - each tenant's decoded trust store, cached per process.
 *
 * DESIGN: building a trust store decodes every uploaded CA, so it is done
 * once per tenant and reused by every worker. Each entry remembers the
 * tenant's trust_version from the store; tv_trust_cache_get() re-reads that
 * counter (one indexed read) and rebuilds when it moved, which also makes a
 * change made on another node visible here. Entries are reference counted
 * so a rebuild never frees a store a worker is still verifying with.
 *
 * Threads: all functions are thread-safe; one mutex guards the table and is
 * never held across store I/O or decoding (lock order: leaf).
 */
#ifndef TV_SVC_TRUST_CACHE_H
#define TV_SVC_TRUST_CACHE_H

#include "pki/chain.h"
#include "store/store.h"

struct tv_trust_cache;
struct tv_trust_ref; /* a counted reference to one tenant's store */

/** roots may be NULL (--no-system-roots); borrowed, must outlive the cache. */
enum tv_err tv_trust_cache_new(struct tv_trust_cache **out, struct tv_store *store,
			       const struct tv_trust_roots *roots) TV_WUR;
void tv_trust_cache_free(struct tv_trust_cache *c);

/** The tenant's current trust store; release the reference when done. */
enum tv_err tv_trust_cache_get(struct tv_trust_cache *c, const char *tenant_id,
			       struct tv_trust_ref **out) TV_WUR;
const struct tv_trust_store *tv_trust_ref_store(const struct tv_trust_ref *ref);
void tv_trust_ref_release(struct tv_trust_ref *ref);

/** Drop the tenant's entry now (this node changed its CAs). */
void tv_trust_cache_invalidate(struct tv_trust_cache *c, const char *tenant_id);

#endif
