/*
 * DESIGN: see certinfo_cache.h. The table is the reader's certificate
 * cache's (set-associative, the uniform hash picks the set, LRU by a use
 * stamp), holding shared facts instead of X509s. The reference count is
 * atomic because the last reference may be dropped by a worker outside the
 * lock; everything else in an entry is written before it is published
 * under the mutex and never again.
 */
#include "svc/certinfo_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define S_WAYS 4u

struct S_shared {
	struct tv_certinfo info; /* first: a tv_certinfo pointer is the entry's */
	atomic_uint refs;
};
_Static_assert(offsetof(struct S_shared, info) == 0, "info must open struct S_shared");

struct S_key {
	unsigned char sha256[crypto_hash_sha256_BYTES];
	size_t der_len;
};

struct S_entry {
	struct S_key key;
	struct S_shared *shared; /* NULL: the way is free */
	uint64_t used;
};

struct tv_certinfo_cache {
	pthread_mutex_t lock;
	struct S_entry *entries; /* sets * S_WAYS */
	size_t sets;             /* a power of two */
	uint64_t clock;
	uint64_t hits, misses, inserts, evictions;
	size_t count;
};

enum tv_err tv_certinfo_cache_new(struct tv_certinfo_cache **out, size_t max_entries)
{
	struct tv_certinfo_cache *c;
	size_t sets = 1;

	if (!max_entries)
		max_entries = TV_CERTINFO_CACHE_DEFAULT_ENTRIES;
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

static void S_unref(struct S_shared *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
		tv_certinfo_release(&s->info);
		free(s);
	}
}

void tv_certinfo_put(const struct tv_certinfo *info)
{
	S_unref((struct S_shared *)(uintptr_t)info);
}

void tv_certinfo_cache_free(struct tv_certinfo_cache *cache)
{
	size_t i;

	if (!cache)
		return;
	for (i = 0; i < cache->sets * S_WAYS; i++)
		S_unref(cache->entries[i].shared);
	pthread_mutex_destroy(&cache->lock);
	free(cache->entries);
	free(cache);
}

static struct S_entry *S_set(struct tv_certinfo_cache *c, const struct S_key *key)
{
	size_t index = (size_t)key->sha256[0] | (size_t)key->sha256[1] << 8 |
		       (size_t)key->sha256[2] << 16;

	return &c->entries[(index & (c->sets - 1)) * S_WAYS];
}

static bool S_same(const struct S_entry *e, const struct S_key *key)
{
	return e->shared && e->key.der_len == key->der_len &&
	       memcmp(e->key.sha256, key->sha256, sizeof(key->sha256)) == 0;
}

static struct S_shared *S_lookup(struct tv_certinfo_cache *c, const struct S_key *key)
{
	struct S_shared *found = NULL;
	struct S_entry *set;
	size_t i;

	pthread_mutex_lock(&c->lock);
	set = S_set(c, key);
	for (i = 0; i < S_WAYS && !found; i++) {
		if (S_same(&set[i], key)) {
			found = set[i].shared;
			atomic_fetch_add_explicit(&found->refs, 1, memory_order_relaxed);
			set[i].used = ++c->clock;
		}
	}
	if (found)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Publish s under key (the cache takes a reference of its own); a key
 * another thread published meanwhile is left as it is. */
static void S_insert(struct tv_certinfo_cache *c, const struct S_key *key, struct S_shared *s)
{
	struct S_shared *evicted = NULL;
	struct S_entry *set, *victim = NULL;
	size_t i;

	pthread_mutex_lock(&c->lock);
	set = S_set(c, key);
	for (i = 0; i < S_WAYS; i++) {
		if (S_same(&set[i], key)) {
			victim = NULL;
			break;
		}
		if (victim && !victim->shared)
			continue; /* a free way is taken before any eviction */
		if (!victim || !set[i].shared || set[i].used < victim->used)
			victim = &set[i];
	}
	if (victim) {
		if (victim->shared) {
			evicted = victim->shared;
			c->evictions++;
		} else {
			c->count++;
		}
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
		victim->key = *key;
		victim->shared = s;
		victim->used = ++c->clock;
		c->inserts++;
	}
	pthread_mutex_unlock(&c->lock);
	S_unref(evicted);
}

enum tv_err tv_certinfo_cache_get(struct tv_certinfo_cache *cache, X509 *cert,
				  const struct tv_certinfo **out)
{
	struct S_shared *s = NULL;
	unsigned char *der = NULL;
	struct S_key key = { { 0 }, 0 };
	enum tv_err rc;
	int len;

	if (cache) {
		len = i2d_X509(cert, &der);
		if (len <= 0)
			return TV_ERR_INVALID;
		crypto_hash_sha256(key.sha256, der, (unsigned long long)len);
		key.der_len = (size_t)len;
		OPENSSL_free(der);
		s = S_lookup(cache, &key);
		if (s) {
			*out = &s->info;
			return TV_OK;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return TV_ERR_NOMEM;
	rc = tv_certinfo_init(&s->info, cert, false);
	if (rc) {
		free(s);
		return rc;
	}
	atomic_init(&s->refs, 1);
	if (cache)
		S_insert(cache, &key, s);
	*out = &s->info;
	return TV_OK;
}

void tv_certinfo_cache_stats(struct tv_certinfo_cache *cache, struct tv_certinfo_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!cache)
		return;
	pthread_mutex_lock(&cache->lock);
	out->hits = cache->hits;
	out->misses = cache->misses;
	out->inserts = cache->inserts;
	out->evictions = cache->evictions;
	out->entries = cache->count;
	out->capacity = cache->sets * S_WAYS;
	pthread_mutex_unlock(&cache->lock);
}
