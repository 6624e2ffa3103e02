/*
 * certcache.h - decoded CA certificates, keyed by the SHA-256 of their DER,
 * shared by every read on one pki context (internal to src/pki).
 *
 * DESIGN: the certificates that aren't a key's own (intermediates and
 * roots) repeat across the keystores of one organisation, and decoding one
 * costs far more than hashing it (OpenSSL 3.0 decodes the public key of
 * every certificate through its provider decoders). So the reader hashes
 * each certBag's DER, asks here first, and decodes only on a miss; after
 * pairing it offers the certificates that turned out not to be a key's.
 *
 * An entry stands for exactly one DER: the full SHA-256 and the DER length
 * must both match, so a hit is the certificate d2i_X509 would give for
 * those bytes (the X509 was decoded from them, in the context's library
 * context, and is never modified afterwards).
 *
 * Bounded: sets of S_WAYS entries indexed by the hash; a full set evicts
 * its least recently used entry. Ownership: the cache holds one reference
 * to each X509; a hit returns another (X509_up_ref), which the caller
 * frees. Threads: every call takes the cache's mutex, held only for table
 * work (never around a decode or an X509_free of the last reference).
 */
#ifndef TV_PKI_CERTCACHE_H
#define TV_PKI_CERTCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "core/err.h"
#include "core/shacache.h"

#define TV__CERT_CACHE_DEFAULT_ENTRIES 4096u

struct tv__cert_cache;

/* The SHA-256 of a certificate's DER, as the cache keys it. */
struct tv__cert_key {
	unsigned char sha256[32];
	size_t der_len;
};

/* A new empty cache of about max_entries entries (rounded to whole sets;
 * 0 = TV__CERT_CACHE_DEFAULT_ENTRIES). */
enum tv_err tv__cert_cache_new(struct tv__cert_cache **out, size_t max_entries) TV_WUR;

/* Free the cache and drop its references; NULL is a no-op. */
void tv__cert_cache_free(struct tv__cert_cache *cache);

/* key from the DER bytes (libsodium's SHA-256). */
void tv__cert_key_of(struct tv__cert_key *key, const unsigned char *der, size_t der_len);

/* The cached certificate for key, up-ref'd (the caller frees it), or NULL. */
X509 *tv__cert_cache_get(struct tv__cert_cache *cache, const struct tv__cert_key *key);

/* Remember cert (decoded from the DER key was made of); takes a reference
 * of its own. A key already present is left as it is. */
void tv__cert_cache_put(struct tv__cert_cache *cache, const struct tv__cert_key *key, X509 *cert);

/* Counters (the shared table's), for tests and benchmarks. */
void tv__cert_cache_stats(const struct tv__cert_cache *cache, struct tv_shacache_stats *out);

#endif
