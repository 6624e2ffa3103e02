/*
 * DESIGN: see certcache.h. A set-associative table: the hash is uniform, so
 * its first octets pick the set directly; each set is a handful of ways
 * searched linearly, with a use stamp for LRU eviction. O(1) per call, a
 * fixed allocation, no rehashing. The X509 an eviction drops is freed after
 * the mutex is released.
 */
#include "pki/certcache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define S_WAYS 4u

struct S_entry {
	struct tv__cert_key key;
	X509 *cert; /* NULL: the way is free */
	uint64_t used;
};

struct tv__cert_cache {
	pthread_mutex_t lock;
	struct S_entry *entries; /* sets * S_WAYS */
	size_t sets;             /* a power of two */
	uint64_t clock;
	uint64_t hits, misses, inserts, evictions;
	size_t count;
};

enum tv_err tv__cert_cache_new(struct tv__cert_cache **out, size_t max_entries)
{
	struct tv__cert_cache *c;
	size_t sets = 1;

	if (!max_entries)
		max_entries = TV__CERT_CACHE_DEFAULT_ENTRIES;
	while (sets * 2 * S_WAYS <= max_entries)
		sets *= 2;
	c = calloc(1, sizeof(*c));
	if (!c)
		return TV_ERR_NOMEM;
	c->entries = calloc(sets * S_WAYS, sizeof(*c->entries));
	if (!c->entries || pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c->entries);
		free(c);
		return TV_ERR_NOMEM;
	}
	c->sets = sets;
	*out = c;
	return TV_OK;
}

void tv__cert_cache_free(struct tv__cert_cache *cache)
{
	size_t i;

	if (!cache)
		return;
	for (i = 0; i < cache->sets * S_WAYS; i++)
		X509_free(cache->entries[i].cert);
	pthread_mutex_destroy(&cache->lock);
	free(cache->entries);
	free(cache);
}

void tv__cert_key_of(struct tv__cert_key *key, const unsigned char *der, size_t der_len)
{
	crypto_hash_sha256(key->sha256, der, der_len);
	key->der_len = der_len;
}

static struct S_entry *S_set(struct tv__cert_cache *c, const struct tv__cert_key *key)
{
	size_t index = ((size_t)key->sha256[0] << 8 | key->sha256[1]) |
		       ((size_t)key->sha256[2] << 16);

	return &c->entries[(index & (c->sets - 1)) * S_WAYS];
}

static bool S_same(const struct S_entry *e, const struct tv__cert_key *key)
{
	return e->cert && e->key.der_len == key->der_len &&
	       memcmp(e->key.sha256, key->sha256, sizeof(key->sha256)) == 0;
}

X509 *tv__cert_cache_get(struct tv__cert_cache *cache, const struct tv__cert_key *key)
{
	struct S_entry *set;
	X509 *found = NULL;
	size_t i;

	if (!cache)
		return NULL;
	pthread_mutex_lock(&cache->lock);
	set = S_set(cache, key);
	for (i = 0; i < S_WAYS; i++) {
		if (S_same(&set[i], key) && X509_up_ref(set[i].cert)) {
			found = set[i].cert;
			set[i].used = ++cache->clock;
			break;
		}
	}
	if (found)
		cache->hits++;
	else
		cache->misses++;
	pthread_mutex_unlock(&cache->lock);
	return found;
}

void tv__cert_cache_put(struct tv__cert_cache *cache, const struct tv__cert_key *key, X509 *cert)
{
	struct S_entry *set, *victim = NULL;
	X509 *evicted = NULL;
	size_t i;

	if (!cache || !cert || !X509_up_ref(cert))
		return;
	pthread_mutex_lock(&cache->lock);
	set = S_set(cache, key);
	for (i = 0; i < S_WAYS; i++) {
		if (S_same(&set[i], key)) {
			evicted = cert; /* already there: drop the new reference */
			victim = NULL;
			break;
		}
		if (victim && !victim->cert)
			continue; /* a free way is taken before any eviction */
		if (!victim || !set[i].cert || set[i].used < victim->used)
			victim = &set[i];
	}
	if (victim) {
		if (victim->cert) {
			evicted = victim->cert;
			cache->evictions++;
		} else {
			cache->count++;
		}
		victim->key = *key;
		victim->cert = cert;
		victim->used = ++cache->clock;
		cache->inserts++;
	}
	pthread_mutex_unlock(&cache->lock);
	X509_free(evicted);
}

void tv__cert_cache_stats(const struct tv__cert_cache *cache, struct tv__cert_cache_stats *out)
{
	struct tv__cert_cache *c = (struct tv__cert_cache *)cache; /* the lock */

	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	out->hits = c->hits;
	out->misses = c->misses;
	out->inserts = c->inserts;
	out->evictions = c->evictions;
	out->entries = c->count;
	out->capacity = c->sets * S_WAYS;
	pthread_mutex_unlock(&c->lock);
}
