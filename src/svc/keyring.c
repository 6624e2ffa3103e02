/*
 * DESIGN: a small array of loaded DEKs, searched linearly: a deployment has
 * as many DEKs as tenants (a handful to hundreds), and each lookup is cheap
 * next to the crypto it guards. Loading happens outside the write lock
 * (store I/O and unwrapping), then the result is inserted under it, so a
 * slow store never blocks readers of keys already loaded.
 */
#include "svc/keyring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct S_key {
	char id[TV_DEK_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	unsigned char pk[TV_DEK_PK_BYTES];
	struct tv_secbuf *sk;
};

struct tv_keyring {
	struct tv_store *store;
	const struct tv_secbuf *master;
	pthread_rwlock_t lock;
	struct S_key *keys;
	size_t n, cap;
};

void tv_dek_wrap_aad(char *out, size_t size, const char *dek_id, const char *tenant_id)
{
	snprintf(out, size, "tlsvault:dek:v1:%s:%s", dek_id, tenant_id);
}

enum tv_err tv_keyring_new(struct tv_keyring **out, struct tv_store *store,
			   const struct tv_secbuf *master)
{
	struct tv_keyring *kr = calloc(1, sizeof(*kr));

	if (!kr)
		return TV_ERR_NOMEM;
	kr->store = store;
	kr->master = master;
	pthread_rwlock_init(&kr->lock, NULL);
	*out = kr;
	return TV_OK;
}

void tv_keyring_free(struct tv_keyring *kr)
{
	size_t i;

	if (!kr)
		return;
	for (i = 0; i < kr->n; i++)
		tv_secbuf_free(kr->keys[i].sk);
	free(kr->keys);
	pthread_rwlock_destroy(&kr->lock);
	free(kr);
}

static struct S_key *S_find(struct tv_keyring *kr, const char *dek_id)
{
	size_t i;

	for (i = 0; i < kr->n; i++)
		if (!strcmp(kr->keys[i].id, dek_id))
			return &kr->keys[i];
	return NULL;
}

/* Insert an unwrapped DEK unless another thread got there first. */
static enum tv_err S_insert(struct tv_keyring *kr, const struct tv_dek *d,
			    struct tv_secbuf *sk)
{
	enum tv_err rc = TV_OK;

	pthread_rwlock_wrlock(&kr->lock);
	if (S_find(kr, d->id)) {
		tv_secbuf_free(sk);
		goto out;
	}
	if (kr->n == kr->cap) {
		size_t ncap = kr->cap ? kr->cap * 2 : 8;
		struct S_key *p = realloc(kr->keys, ncap * sizeof(*p));
		if (!p) {
			tv_secbuf_free(sk);
			rc = TV_ERR_NOMEM;
			goto out;
		}
		kr->keys = p;
		kr->cap = ncap;
	}
	memcpy(kr->keys[kr->n].id, d->id, sizeof(d->id));
	memcpy(kr->keys[kr->n].tenant_id, d->tenant_id, sizeof(d->tenant_id));
	memcpy(kr->keys[kr->n].pk, d->public_key, TV_DEK_PK_BYTES);
	kr->keys[kr->n].sk = sk;
	kr->n++;
out:
	pthread_rwlock_unlock(&kr->lock);
	return rc;
}

static enum tv_err S_load(struct tv_keyring *kr, const struct tv_dek *d)
{
	unsigned char derived_pk[TV_DEK_PK_BYTES];
	struct tv_secbuf *sk = NULL;
	char aad[160];
	enum tv_err rc;

	tv_dek_wrap_aad(aad, sizeof(aad), d->id, d->tenant_id);
	rc = tv_unwrap(&sk, kr->master, d->wrapped_sk, d->wrapped_len, aad);
	if (rc)
		return rc;
	/* The public key must belong to the secret key: a row whose public key
	 * was replaced would have clients seal to a key we can't open. */
	if (sk->len != TV_DEK_SK_BYTES || crypto_scalarmult_base(derived_pk, sk->p) != 0 ||
	    sodium_memcmp(derived_pk, d->public_key, TV_DEK_PK_BYTES) != 0) {
		tv_secbuf_free(sk);
		return TV_ERR_CRYPTO;
	}
	return S_insert(kr, d, sk);
}

enum tv_err tv_keyring_load_all(struct tv_keyring *kr)
{
	struct tv_dek *deks = NULL;
	enum tv_err rc;
	size_t n = 0, i;

	rc = kr->store->ops->dek_list(kr->store, NULL, &deks, &n);
	if (rc)
		return rc;
	/* one DEK that doesn't unwrap must not keep the others out: load what
	 * opens, report the first failure */
	for (i = 0; i < n; i++) {
		pthread_rwlock_rdlock(&kr->lock);
		bool have = S_find(kr, deks[i].id) != NULL;
		pthread_rwlock_unlock(&kr->lock);
		if (!have) {
			enum tv_err r = S_load(kr, &deks[i]);
			if (r && !rc)
				rc = r;
		}
	}
	tv_wipe(deks, n * sizeof(*deks));
	free(deks);
	return rc;
}

size_t tv_keyring_count(struct tv_keyring *kr)
{
	size_t n;

	pthread_rwlock_rdlock(&kr->lock);
	n = kr->n;
	pthread_rwlock_unlock(&kr->lock);
	return n;
}

bool tv_keyring_has(struct tv_keyring *kr, const char *dek_id)
{
	bool have;

	pthread_rwlock_rdlock(&kr->lock);
	have = S_find(kr, dek_id) != NULL;
	pthread_rwlock_unlock(&kr->lock);
	if (!have && tv_keyring_load_all(kr) == TV_OK) {
		pthread_rwlock_rdlock(&kr->lock);
		have = S_find(kr, dek_id) != NULL;
		pthread_rwlock_unlock(&kr->lock);
	}
	return have;
}

/*
 * Make sure the tenant's DEK dek_id is loaded: a DEK made after start (a new
 * tenant, a DEK rotation) is read from the store on its first use. A DEK
 * that is in the store but doesn't unwrap with this process's master key
 * is TV_ERR_DENIED, never "not found": the fault is the server's (its
 * master.key is not the vault's current one), not the client's.
 */
static enum tv_err S_ensure(struct tv_keyring *kr, const char *tenant_id, const char *dek_id)
{
	struct tv_dek *deks = NULL;
	size_t n = 0, i;
	enum tv_err rc;
	bool have;

	pthread_rwlock_rdlock(&kr->lock);
	have = S_find(kr, dek_id) != NULL;
	pthread_rwlock_unlock(&kr->lock);
	if (have)
		return TV_OK;
	rc = kr->store->ops->dek_list(kr->store, tenant_id, &deks, &n);
	if (rc)
		return rc;
	rc = TV_ERR_NOT_FOUND;
	for (i = 0; i < n; i++)
		if (!strcmp(deks[i].id, dek_id))
			break;
	if (i < n) {
		rc = S_load(kr, &deks[i]);
		if (rc == TV_ERR_CRYPTO) {
			TV_LOG(TV_LOG_ERROR, "the master key does not unwrap a DEK of the store: "
					     "this server's master.key is not the vault's current "
					     "one (rotated or replaced?); restart it with the "
					     "current master.key",
			       TV_LS("dek", dek_id), TV_LS("tenant", tenant_id));
			rc = TV_ERR_DENIED;
		}
	}
	tv_wipe(deks, n * sizeof(*deks));
	free(deks);
	return rc;
}

enum tv_err tv_keyring_unseal(struct tv_keyring *kr, struct tv_secbuf **out,
			      const char *tenant_id, const char *dek_id,
			      const unsigned char *sealed, size_t len)
{
	struct S_key *k;
	enum tv_err rc;

	rc = S_ensure(kr, tenant_id, dek_id);
	if (rc)
		return rc;
	pthread_rwlock_rdlock(&kr->lock);
	k = S_find(kr, dek_id);
	if (!k || strcmp(k->tenant_id, tenant_id))
		rc = TV_ERR_NOT_FOUND;
	else
		rc = tv_unseal(out, sealed, len, k->pk, k->sk);
	pthread_rwlock_unlock(&kr->lock);
	return rc;
}

enum tv_err tv_keyring_seal(struct tv_keyring *kr, unsigned char *out, const char *tenant_id,
			    const char *dek_id, const unsigned char *msg, size_t len)
{
	unsigned char pk[TV_DEK_PK_BYTES];
	struct S_key *k;
	enum tv_err rc;
	bool ok;

	rc = S_ensure(kr, tenant_id, dek_id);
	if (rc)
		return rc;
	/* decide under the lock: once it is released, a tenant created
	 * meanwhile may move the key table (k would dangle) */
	pthread_rwlock_rdlock(&kr->lock);
	k = S_find(kr, dek_id);
	ok = k && !strcmp(k->tenant_id, tenant_id);
	if (ok)
		memcpy(pk, k->pk, sizeof(pk));
	pthread_rwlock_unlock(&kr->lock);
	if (!ok)
		return TV_ERR_NOT_FOUND;
	return tv_seal(out, msg, len, pk);
}

enum tv_err tv_keyring_unseal_tenant(struct tv_keyring *kr, struct tv_secbuf **out,
				     const char *tenant_id, const char *dek_id,
				     const unsigned char *sealed, size_t len)
{
	struct tv_dek *deks = NULL;
	size_t n = 0, i;
	enum tv_err rc, r;

	rc = tv_keyring_unseal(kr, out, tenant_id, dek_id, sealed, len);
	if (rc != TV_ERR_CRYPTO)
		return rc;
	/* a DEK rotation moved the key meanwhile: the caller sealed to the
	 * DEK it saw a moment ago, which is still one of the tenant's */
	if (kr->store->ops->dek_list(kr->store, tenant_id, &deks, &n) != TV_OK)
		return rc;
	for (i = 0; i < n && rc; i++) {
		if (!strcmp(deks[i].id, dek_id))
			continue;
		r = tv_keyring_unseal(kr, out, tenant_id, deks[i].id, sealed, len);
		if (r == TV_OK || r != TV_ERR_CRYPTO)
			rc = r == TV_OK ? TV_OK : rc;
	}
	tv_wipe(deks, n * sizeof(*deks));
	free(deks);
	return rc;
}
