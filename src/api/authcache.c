/*
 * DESIGN: see authcache.h. A set-associative table (TV_AUTHCACHE_ENTRIES in
 * sets of TV_AUTHCACHE_WAYS, the set chosen by the first bytes of the hash,
 * which SHA-256 spreads evenly) under one mutex: a hit is a few 32-byte
 * compares and one copy of the principal, far below the store query it
 * replaces, and the lock is held for nothing longer. The table is allocated
 * once (about 0.5 MiB, touched only as keys are used) and never grows, so a
 * flood of distinct keys costs evictions, not memory; unknown keys are never
 * cached, so guessing costs the guesser a store lookup each time, as before.
 */
#include "api/authcache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/secmem.h"

#define S_SETS (TV_AUTHCACHE_ENTRIES / TV_AUTHCACHE_WAYS)

struct S_entry {
	bool used;
	int64_t fetched_mono_ms;
	struct tv_principal p; /* p.key.hash is the entry's key */
};

struct tv_authcache {
	pthread_mutex_t lock;
	int64_t ttl_ms;
	uint64_t generation; /* bumped by every forget */
	struct S_entry *e;   /* S_SETS * TV_AUTHCACHE_WAYS */
};

enum tv_err tv_authcache_new(struct tv_authcache **out, int64_t ttl_ms)
{
	struct tv_authcache *c;

	if (ttl_ms < 0 || ttl_ms > (int64_t)TV_AUTHCACHE_MAX_SECONDS * 1000)
		return TV_ERR_INVALID;
	c = calloc(1, sizeof(*c));
	if (!c)
		return TV_ERR_NOMEM;
	c->ttl_ms = ttl_ms;
	if (ttl_ms) {
		c->e = calloc(TV_AUTHCACHE_ENTRIES, sizeof(*c->e));
		if (!c->e) {
			free(c);
			return TV_ERR_NOMEM;
		}
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return TV_OK;
}

void tv_authcache_free(struct tv_authcache *c)
{
	if (!c)
		return;
	if (c->e) {
		tv_wipe(c->e, TV_AUTHCACHE_ENTRIES * sizeof(*c->e));
		free(c->e);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct S_entry *S_set(struct tv_authcache *c, const unsigned char *hash)
{
	uint32_t h = (uint32_t)hash[0] | (uint32_t)hash[1] << 8 | (uint32_t)hash[2] << 16;

	return &c->e[(h % S_SETS) * TV_AUTHCACHE_WAYS];
}

static bool S_same(const struct S_entry *e, const unsigned char *hash)
{
	return e->used && sodium_memcmp(e->p.key.hash, hash, TV_APIKEY_HASH_BYTES) == 0;
}

static void S_drop(struct S_entry *e)
{
	tv_wipe(e, sizeof(*e)); /* used = false */
}

bool tv_authcache_get(struct tv_authcache *c, const unsigned char hash[TV_APIKEY_HASH_BYTES],
		      int64_t now_mono_ms, int64_t now_ms, struct tv_principal *out)
{
	struct S_entry *set;
	bool hit = false;
	int i;

	if (!c || !c->ttl_ms)
		return false;
	pthread_mutex_lock(&c->lock);
	set = S_set(c, hash);
	for (i = 0; i < TV_AUTHCACHE_WAYS; i++) {
		struct S_entry *e = &set[i];

		if (!S_same(e, hash))
			continue;
		if (now_mono_ms - e->fetched_mono_ms >= c->ttl_ms ||
		    now_mono_ms < e->fetched_mono_ms ||
		    (e->p.key.expires_ms && e->p.key.expires_ms <= now_ms)) {
			S_drop(e); /* stale or expired: the caller asks the store */
		} else {
			*out = e->p;
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

uint64_t tv_authcache_generation(struct tv_authcache *c)
{
	uint64_t g;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	g = c->generation;
	pthread_mutex_unlock(&c->lock);
	return g;
}

void tv_authcache_put(struct tv_authcache *c, const struct tv_principal *p, uint64_t gen,
		      int64_t now_mono_ms)
{
	struct S_entry *set, *slot = NULL;
	int i;

	if (!c || !c->ttl_ms || p->key.revoked_ms)
		return;
	pthread_mutex_lock(&c->lock);
	if (gen == c->generation) {
		set = S_set(c, p->key.hash);
		/* the key's own entry, else a free way, else the oldest */
		for (i = 0; i < TV_AUTHCACHE_WAYS && !slot; i++)
			if (S_same(&set[i], p->key.hash))
				slot = &set[i];
		for (i = 0; i < TV_AUTHCACHE_WAYS && !slot; i++)
			if (!set[i].used)
				slot = &set[i];
		if (!slot) {
			slot = &set[0];
			for (i = 1; i < TV_AUTHCACHE_WAYS; i++)
				if (set[i].fetched_mono_ms < slot->fetched_mono_ms)
					slot = &set[i];
		}
		slot->used = true;
		slot->fetched_mono_ms = now_mono_ms;
		slot->p = *p;
	}
	pthread_mutex_unlock(&c->lock);
}

void tv_authcache_forget_key(struct tv_authcache *c, const char *key_id)
{
	size_t i;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->generation++;
	for (i = 0; c->e && i < TV_AUTHCACHE_ENTRIES; i++)
		if (c->e[i].used && !strcasecmp(c->e[i].p.key.id, key_id))
			S_drop(&c->e[i]);
	pthread_mutex_unlock(&c->lock);
}
