/*
 * DESIGN: see certcache.h. The table is core/shacache's (set-associative,
 * LRU), holding up-ref'd X509s; an X509 an eviction drops is freed after
 * the cache's mutex is released.
 */
#include "pki/certcache.h"

#include <stdbool.h>
#include <string.h>

#include "core/shacache.h"

/* struct tv__cert_cache is never defined: the handle is the shacache's */
#define S_C(cache) ((struct tv_shacache *)(void *)(cache))

static bool S_ref(void *cert)
{
	return X509_up_ref(cert) == 1;
}

static void S_unref(void *cert)
{
	X509_free(cert);
}

static const struct tv_shacache_ops S_ops = { S_ref, S_unref };

static void S_key(struct tv_shacache_key *k, const struct tv__cert_key *key)
{
	memcpy(k->sha256, key->sha256, sizeof(k->sha256));
	k->len = key->der_len;
}

enum tv_err tv__cert_cache_new(struct tv__cert_cache **out, size_t max_entries)
{
	struct tv_shacache *c = NULL;
	enum tv_err rc = tv_shacache_new(&c, max_entries ? max_entries
							 : TV__CERT_CACHE_DEFAULT_ENTRIES,
					 &S_ops);

	if (!rc)
		*out = (struct tv__cert_cache *)(void *)c;
	return rc;
}

void tv__cert_cache_free(struct tv__cert_cache *cache)
{
	tv_shacache_free(S_C(cache));
}

void tv__cert_key_of(struct tv__cert_key *key, const unsigned char *der, size_t der_len)
{
	struct tv_shacache_key k;

	tv_shacache_key_of(&k, der, der_len);
	memcpy(key->sha256, k.sha256, sizeof(key->sha256));
	key->der_len = der_len;
}

X509 *tv__cert_cache_get(struct tv__cert_cache *cache, const struct tv__cert_key *key)
{
	struct tv_shacache_key k;

	S_key(&k, key);
	return tv_shacache_get(S_C(cache), &k);
}

void tv__cert_cache_put(struct tv__cert_cache *cache, const struct tv__cert_key *key, X509 *cert)
{
	struct tv_shacache_key k;

	S_key(&k, key);
	tv_shacache_put(S_C(cache), &k, cert);
}

void tv__cert_cache_stats(const struct tv__cert_cache *cache, struct tv_shacache_stats *out)
{
	tv_shacache_stats(S_C((struct tv__cert_cache *)(uintptr_t)cache), out);
}
