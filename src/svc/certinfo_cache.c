/*
 * DESIGN: see certinfo_cache.h. The table is core/shacache's
 * (set-associative, LRU), holding shared facts. The reference count is
 * atomic because the last reference may be dropped by a worker outside
 * the lock; everything else in an entry is written before it is published
 * under the cache's mutex and never again.
 */
#include "svc/certinfo_cache.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/shacache.h"

struct S_shared {
	struct tv_certinfo info; /* first: a tv_certinfo pointer is the entry's */
	atomic_uint refs;
};
_Static_assert(offsetof(struct S_shared, info) == 0, "info must open struct S_shared");

/* struct tv_certinfo_cache is never defined: the handle is the shacache's */
#define S_C(cache) ((struct tv_shacache *)(void *)(cache))

static bool S_ref(void *v)
{
	atomic_fetch_add_explicit(&((struct S_shared *)v)->refs, 1, memory_order_relaxed);
	return true;
}

static void S_unref(void *v)
{
	struct S_shared *s = v;

	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
		tv_certinfo_release(&s->info);
		free(s);
	}
}

static const struct tv_shacache_ops S_ops = { S_ref, S_unref };

enum tv_err tv_certinfo_cache_new(struct tv_certinfo_cache **out, size_t max_entries)
{
	struct tv_shacache *c = NULL;
	enum tv_err rc = tv_shacache_new(
		&c, max_entries ? max_entries : TV_CERTINFO_CACHE_DEFAULT_ENTRIES, &S_ops);

	if (!rc)
		*out = (struct tv_certinfo_cache *)(void *)c;
	return rc;
}

void tv_certinfo_put(const struct tv_certinfo *info)
{
	S_unref((struct S_shared *)(uintptr_t)info);
}

void tv_certinfo_cache_free(struct tv_certinfo_cache *cache)
{
	tv_shacache_free(S_C(cache));
}

enum tv_err tv_certinfo_cache_get(struct tv_certinfo_cache *cache, X509 *cert,
				  const struct tv_certinfo **out)
{
	struct tv_shacache_key key;
	struct S_shared *s = NULL;
	unsigned char *der = NULL;
	enum tv_err rc;
	int len;

	if (cache) {
		len = i2d_X509(cert, &der);
		if (len <= 0)
			return TV_ERR_INVALID;
		tv_shacache_key_of(&key, der, (size_t)len);
		OPENSSL_free(der);
		s = tv_shacache_get(S_C(cache), &key);
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
	if (cache) /* a key another thread published meanwhile keeps its value */
		tv_shacache_put(S_C(cache), &key, s);
	*out = &s->info;
	return TV_OK;
}

void tv_certinfo_cache_stats(struct tv_certinfo_cache *cache, struct tv_shacache_stats *out)
{
	tv_shacache_stats(S_C(cache), out);
}
