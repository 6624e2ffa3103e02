/*
 * DESIGN: see keys.h. Master-key rotation reads every DEK, unwraps it with
 * the old key (checking that the public key belongs to the secret, as the
 * keyring does), wraps it with the new one and hands the whole set to the
 * store, which swaps them in one transaction only if the set is still
 * exactly the store's DEKs with the wrapped values read. A DEK rotation's
 * reseal goes through the keyring, so it opens keys sealed to any of the
 * tenant's DEKs and checks each DEK as the server does.
 */
#include "svc/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dek/dek.h"

/* Unwrap one DEK with master and check it against its public key. */
static enum tv_err S_unwrap(struct tv_secbuf **sk, const struct tv_dek *d,
			    const struct tv_secbuf *master)
{
	unsigned char pk[TV_DEK_PK_BYTES];
	char aad[160];
	enum tv_err rc;

	tv_dek_wrap_aad(aad, sizeof(aad), d->id, d->tenant_id);
	rc = tv_unwrap(sk, master, d->wrapped_sk, d->wrapped_len, aad);
	if (rc)
		return rc;
	if ((*sk)->len != TV_DEK_SK_BYTES || crypto_scalarmult_base(pk, (*sk)->p) != 0 ||
	    sodium_memcmp(pk, d->public_key, TV_DEK_PK_BYTES) != 0) {
		tv_secbuf_free(*sk);
		*sk = NULL;
		return TV_ERR_CRYPTO;
	}
	return TV_OK;
}

static enum tv_err S_rewrap_once(struct tv_store *store, const struct tv_secbuf *old_master,
				 const struct tv_secbuf *new_master, size_t *n_out)
{
	struct tv_dek_rewrap *w = NULL;
	struct tv_dek *deks = NULL;
	size_t n = 0, i;
	enum tv_err rc;

	rc = store->ops->dek_list(store, NULL, &deks, &n);
	if (rc)
		return rc;
	w = calloc(n ? n : 1, sizeof(*w));
	rc = w ? TV_OK : TV_ERR_NOMEM;
	for (i = 0; !rc && i < n; i++) {
		struct tv_secbuf *sk = NULL;
		char aad[160];

		rc = S_unwrap(&sk, &deks[i], old_master);
		if (rc)
			break;
		memcpy(w[i].id, deks[i].id, sizeof(w[i].id));
		memcpy(w[i].old_wrapped, deks[i].wrapped_sk, deks[i].wrapped_len);
		w[i].old_len = deks[i].wrapped_len;
		tv_dek_wrap_aad(aad, sizeof(aad), deks[i].id, deks[i].tenant_id);
		rc = tv_wrap(w[i].new_wrapped, new_master, sk->p, sk->len, aad);
		w[i].new_len = sk->len + TV_WRAP_OVERHEAD;
		tv_secbuf_free(sk);
	}
	if (!rc)
		rc = store->ops->dek_rewrap_all(store, w, n);
	if (!rc)
		*n_out = n;
	if (w)
		tv_wipe(w, (n ? n : 1) * sizeof(*w));
	free(w);
	tv_wipe(deks, n * sizeof(*deks));
	free(deks);
	return rc;
}

enum tv_err tv_svc_master_rewrap(struct tv_store *store, const struct tv_secbuf *old_master,
				 const struct tv_secbuf *new_master, size_t *n)
{
	enum tv_err rc = TV_ERR_STATE;
	int tries;

	*n = 0;
	/* TV_ERR_STATE: a tenant (a DEK) was added between the read and the
	 * write; read again */
	for (tries = 0; tries < 5 && rc == TV_ERR_STATE; tries++)
		rc = S_rewrap_once(store, old_master, new_master, n);
	return rc;
}

enum tv_err tv_svc_master_check(struct tv_store *store, const struct tv_secbuf *master,
				size_t *ok, size_t *total)
{
	struct tv_dek *deks = NULL;
	size_t n = 0, i, good = 0;
	enum tv_err rc;

	rc = store->ops->dek_list(store, NULL, &deks, &n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		struct tv_secbuf *sk = NULL;

		if (S_unwrap(&sk, &deks[i], master) == TV_OK)
			good++;
		tv_secbuf_free(sk);
	}
	tv_wipe(deks, n * sizeof(*deks));
	free(deks);
	*ok = good;
	*total = n;
	return TV_OK;
}

enum tv_err tv_svc_dek_rotation_get(struct tv_store *store, const char *tenant_id,
				    struct tv_dek_rotation *out)
{
	struct tv_sealed_key *keys = NULL;
	struct tv_edge *edges = NULL;
	struct tv_dek *deks = NULL;
	size_t n_deks = 0, n_edges = 0, n_keys = 0;
	enum tv_err rc;

	memset(out, 0, sizeof(*out));
	rc = store->ops->dek_list(store, tenant_id, &deks, &n_deks);
	if (!rc)
		rc = store->ops->edge_list(store, tenant_id, &edges, &n_edges);
	if (!rc && (!n_deks || !n_edges))
		rc = TV_ERR_NOT_FOUND;
	if (!rc) {
		/* dek_list is ordered by created_ms, id: the last is the newest */
		memcpy(out->newest, deks[n_deks - 1].id, sizeof(out->newest));
		if (n_deks > 1)
			memcpy(out->before, deks[n_deks - 2].id, sizeof(out->before));
		memcpy(out->edge_dek, edges[0].dek_id, sizeof(out->edge_dek));
		out->n_deks = n_deks;
		rc = store->ops->cert_keys_not_on(store, tenant_id, out->newest, 1, &keys,
						  &n_keys);
	}
	if (!rc) {
		out->keys_elsewhere = n_keys;
		rc = store->ops->items_pending_not_on(store, tenant_id, out->newest,
						      &out->items_elsewhere);
	}
	tv_sealed_keys_free(keys, n_keys);
	tv_wipe(deks, n_deks * sizeof(*deks));
	free(deks);
	free(edges);
	return rc;
}

bool tv_svc_dek_rotation_unfinished(const struct tv_dek_rotation *r)
{
	return strcmp(r->edge_dek, r->newest) != 0 || r->keys_elsewhere || r->items_elsewhere;
}

enum tv_err tv_svc_dek_create(struct tv_store *store, const struct tv_secbuf *master,
			      const char *tenant_id, char out[TV_DEK_ID_SIZE])
{
	struct tv_secbuf *sk = NULL;
	struct tv_dek d = { 0 };
	char aad[160];
	enum tv_err rc;

	if (strlen(tenant_id) >= sizeof(d.tenant_id))
		return TV_ERR_NOT_FOUND;
	rc = tv_dek_generate(d.public_key, &sk);
	if (rc)
		return rc;
	tv_dek_id(d.id, d.public_key);
	snprintf(d.tenant_id, sizeof(d.tenant_id), "%s", tenant_id);
	d.created_ms = tv_now_ms();
	tv_dek_wrap_aad(aad, sizeof(aad), d.id, d.tenant_id);
	_Static_assert(TV_DEK_SK_BYTES + TV_WRAP_OVERHEAD <= TV_DEK_WRAPPED_MAX, "room");
	rc = tv_wrap(d.wrapped_sk, master, sk->p, sk->len, aad);
	tv_secbuf_free(sk);
	if (rc)
		return rc;
	d.wrapped_len = TV_DEK_SK_BYTES + TV_WRAP_OVERHEAD;
	rc = store->ops->dek_insert(store, &d);
	if (!rc)
		memcpy(out, d.id, sizeof(d.id));
	return rc;
}

enum tv_err tv_svc_dek_reseal_batch(struct tv_store *store, struct tv_keyring *kr,
				    const char *tenant_id, const char *target, size_t batch,
				    size_t *moved, size_t *seen)
{
	struct tv_sealed_key *keys = NULL;
	size_t n = 0, i;
	enum tv_err rc;

	*moved = *seen = 0;
	rc = store->ops->cert_keys_not_on(store, tenant_id, target, batch, &keys, &n);
	if (rc || !n)
		return rc;
	for (i = 0; !rc && i < n; i++) {
		struct tv_secbuf *p8 = NULL;
		unsigned char *fresh = NULL;

		rc = tv_keyring_unseal(kr, &p8, tenant_id, keys[i].dek_id, keys[i].sealed,
				       keys[i].sealed_len);
		if (!rc) {
			fresh = malloc(p8->len + TV_SEAL_OVERHEAD);
			rc = fresh ? TV_OK : TV_ERR_NOMEM;
		}
		if (!rc)
			rc = tv_keyring_seal(kr, fresh, tenant_id, target, p8->p, p8->len);
		if (!rc) {
			tv_wipe(keys[i].sealed, keys[i].sealed_len);
			free(keys[i].sealed);
			keys[i].sealed = fresh;
			keys[i].sealed_len = p8->len + TV_SEAL_OVERHEAD;
			fresh = NULL;
		}
		free(fresh);
		tv_secbuf_free(p8);
	}
	if (!rc)
		rc = store->ops->cert_keys_reseal(store, tenant_id, target, keys, n, moved);
	if (!rc)
		*seen = n;
	tv_sealed_keys_free(keys, n);
	return rc;
}
