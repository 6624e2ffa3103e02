/* DESIGN: see shacache.h. */
#include "core/shacache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define S_WAYS 4u

_Static_assert(sizeof(((struct tv_shacache_key *)0)->sha256) == crypto_hash_sha256_BYTES,
	       "a key holds one SHA-256");

struct S_entry {
	struct tv_shacache_key key;
	void *value; /* NULL: the way is free */
	uint64_t used;
};

struct tv_shacache {
	pthread_mutex_t lock;
	const struct tv_shacache_ops *ops;
	struct S_entry *entries; /* sets * S_WAYS */
	size_t sets;             /* a power of two */
	uint64_t clock;
	uint64_t hits, misses, inserts, evictions;
	size_t count;
};

enum tv_err tv_shacache_new(struct tv_shacache **out, size_t max_entries,
			    const struct tv_shacache_ops *ops)
{
	struct tv_shacache *c;
	size_t sets = 1;

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
	c->ops = ops;
	c->sets = sets;
	*out = c;
	return TV_OK;
}

void tv_shacache_free(struct tv_shacache *cache)
{
	size_t i;

	if (!cache)
		return;
	for (i = 0; i < cache->sets * S_WAYS; i++)
		if (cache->entries[i].value)
			cache->ops->unref(cache->entries[i].value);
	pthread_mutex_destroy(&cache->lock);
	free(cache->entries);
	free(cache);
}

void tv_shacache_key_of(struct tv_shacache_key *key, const void *data, size_t len)
{
	crypto_hash_sha256(key->sha256, data, (unsigned long long)len);
	key->len = len;
}

static struct S_entry *S_set(struct tv_shacache *c, const struct tv_shacache_key *key)
{
	size_t index = (size_t)key->sha256[0] | (size_t)key->sha256[1] << 8 |
		       (size_t)key->sha256[2] << 16;

	return &c->entries[(index & (c->sets - 1)) * S_WAYS];
}

static bool S_same(const struct S_entry *e, const struct tv_shacache_key *key)
{
	return e->value && e->key.len == key->len &&
	       memcmp(e->key.sha256, key->sha256, sizeof(key->sha256)) == 0;
}

void *tv_shacache_get(struct tv_shacache *cache, const struct tv_shacache_key *key)
{
	struct S_entry *set;
	void *found = NULL;
	size_t i;

	if (!cache)
		return NULL;
	pthread_mutex_lock(&cache->lock);
	set = S_set(cache, key);
	for (i = 0; i < S_WAYS && !found; i++) {
		if (S_same(&set[i], key) && cache->ops->ref(set[i].value)) {
			found = set[i].value;
			set[i].used = ++cache->clock;
		}
	}
	if (found)
		cache->hits++;
	else
		cache->misses++;
	pthread_mutex_unlock(&cache->lock);
	return found;
}

void tv_shacache_put(struct tv_shacache *cache, const struct tv_shacache_key *key, void *value)
{
	struct S_entry *set, *victim = NULL;
	void *evicted = NULL;
	size_t i;

	if (!cache || !value)
		return;
	pthread_mutex_lock(&cache->lock);
	set = S_set(cache, key);
	for (i = 0; i < S_WAYS; i++) {
		if (S_same(&set[i], key)) {
			victim = NULL; /* already there: keep that one */
			break;
		}
		if (victim && !victim->value)
			continue; /* a free way is taken before any eviction */
		if (!victim || !set[i].value || set[i].used < victim->used)
			victim = &set[i];
	}
	if (victim && cache->ops->ref(value)) {
		if (victim->value) {
			evicted = victim->value;
			cache->evictions++;
		} else {
			cache->count++;
		}
		victim->key = *key;
		victim->value = value;
		victim->used = ++cache->clock;
		cache->inserts++;
	}
	pthread_mutex_unlock(&cache->lock);
	if (evicted)
		cache->ops->unref(evicted);
}

void tv_shacache_stats(struct tv_shacache *cache, struct tv_shacache_stats *out)
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
