/*
 * DESIGN: see trust_cache.h. A small array keyed by tenant id; a deployment
 * has few tenants, and the cost that matters is decoding, not lookup.
 */
#include "svc/trust_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct tv_trust_ref {
	struct tv_trust_store *ts;
	int refs; /* guarded by the cache lock */
	struct tv_trust_cache *cache;
};

struct S_entry {
	char tenant_id[TV_ID_SIZE];
	int64_t version;
	struct tv_trust_ref *ref; /* the cache holds one reference */
};

struct tv_trust_cache {
	struct tv_store *store;
	const struct tv_trust_roots *roots;
	pthread_mutex_t lock;
	struct S_entry *entries;
	size_t n, cap;
};

enum tv_err tv_trust_cache_new(struct tv_trust_cache **out, struct tv_store *store,
			       const struct tv_trust_roots *roots)
{
	struct tv_trust_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return TV_ERR_NOMEM;
	c->store = store;
	c->roots = roots;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return TV_OK;
}

/* Drop one reference; the caller holds the cache lock. */
static void S_unref_locked(struct tv_trust_ref *ref)
{
	if (ref && --ref->refs == 0) {
		tv_trust_store_free(ref->ts);
		free(ref);
	}
}

void tv_trust_cache_free(struct tv_trust_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		S_unref_locked(c->entries[i].ref);
	free(c->entries);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct S_entry *S_find(struct tv_trust_cache *c, const char *tenant_id)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->entries[i].tenant_id, tenant_id))
			return &c->entries[i];
	return NULL;
}

/* Build a tenant's store from the rows in the database. */
static enum tv_err S_build(struct tv_trust_cache *c, const char *tenant_id,
			   struct tv_trust_ref **out)
{
	struct tv_trusted_ca *cas = NULL;
	const unsigned char **ders = NULL;
	size_t *lens = NULL, n = 0, i;
	struct tv_trust_ref *ref;
	enum tv_err rc;

	rc = c->store->ops->ca_list(c->store, tenant_id, &cas, &n);
	if (rc)
		return rc;
	ref = calloc(1, sizeof(*ref));
	ders = calloc(n ? n : 1, sizeof(*ders));
	lens = calloc(n ? n : 1, sizeof(*lens));
	rc = ref && ders && lens ? TV_OK : TV_ERR_NOMEM;
	for (i = 0; !rc && i < n; i++) {
		ders[i] = cas[i].der;
		lens[i] = cas[i].der_len;
	}
	if (!rc)
		rc = tv_trust_store_new(&ref->ts, c->roots, ders, lens, n);
	free(ders);
	free(lens);
	tv_trusted_cas_free(cas, n);
	if (rc) {
		free(ref);
		return rc;
	}
	ref->refs = 1;
	ref->cache = c;
	*out = ref;
	return TV_OK;
}

enum tv_err tv_trust_cache_get(struct tv_trust_cache *c, const char *tenant_id,
			       struct tv_trust_ref **out)
{
	struct tv_trust_ref *ref = NULL;
	struct S_entry *e;
	int64_t version = 0;
	enum tv_err rc;

	rc = c->store->ops->ca_version(c->store, tenant_id, &version);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	e = S_find(c, tenant_id);
	if (e && e->version == version) {
		ref = e->ref;
		ref->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	if (ref) {
		*out = ref;
		return TV_OK;
	}
	rc = S_build(c, tenant_id, &ref);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	e = S_find(c, tenant_id);
	if (!e && c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct S_entry *p = realloc(c->entries, cap * sizeof(*p));
		if (p) {
			c->entries = p;
			c->cap = cap;
		}
	}
	if (!e && c->n < c->cap) {
		e = &c->entries[c->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->tenant_id, tenant_id, strnlen(tenant_id, TV_ID_SIZE - 1));
	}
	if (e) {
		S_unref_locked(e->ref);
		e->ref = ref;
		e->version = version;
		ref->refs++; /* the cache's reference */
	}
	pthread_mutex_unlock(&c->lock);
	*out = ref;
	return TV_OK;
}

const struct tv_trust_store *tv_trust_ref_store(const struct tv_trust_ref *ref)
{
	return ref->ts;
}

void tv_trust_ref_release(struct tv_trust_ref *ref)
{
	struct tv_trust_cache *c;

	if (!ref)
		return;
	c = ref->cache;
	pthread_mutex_lock(&c->lock);
	S_unref_locked(ref);
	pthread_mutex_unlock(&c->lock);
}

void tv_trust_cache_invalidate(struct tv_trust_cache *c, const char *tenant_id)
{
	struct S_entry *e;

	pthread_mutex_lock(&c->lock);
	e = S_find(c, tenant_id);
	if (e) {
		S_unref_locked(e->ref);
		*e = c->entries[--c->n];
	}
	pthread_mutex_unlock(&c->lock);
}
