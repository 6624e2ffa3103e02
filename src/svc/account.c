/*
 * DESIGN: the services that own the secrets of an account. Fresh secrets are
 * generated here, wrapped or hashed here, and handed to the store only in
 * that form; the plaintext API key leaves only through the caller's secbuf.
 */
#include "svc/account.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "dek/dek.h"
#include "svc/keyring.h"

#define S_LAST_USED_GRANULARITY_MS 60000

static enum tv_err S_new_key(struct tv_secbuf **key, unsigned char hash[TV_APIKEY_HASH_BYTES])
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char raw[16];
	struct tv_secbuf *k;
	enum tv_err rc;
	size_t i, o = 0;

	rc = tv_secbuf_new(&k, TV_APIKEY_STRLEN);
	if (rc)
		return rc;
	randombytes_buf(raw, sizeof(raw));
	raw[6] = (unsigned char)((raw[6] & 0x0f) | 0x40); /* version 4 */
	raw[8] = (unsigned char)((raw[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (i = 0; i < sizeof(raw); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			k->p[o++] = '-';
		k->p[o++] = (unsigned char)hexd[raw[i] >> 4];
		k->p[o++] = (unsigned char)hexd[raw[i] & 15];
	}
	sodium_memzero(raw, sizeof(raw));
	crypto_hash_sha256(hash, k->p, k->len);
	*key = k;
	return TV_OK;
}

static enum tv_err S_fill_apikey(struct tv_apikey *rec, struct tv_secbuf **key,
				 const char *tenant_id, enum tv_role role, const char *name,
				 int validity_days, int64_t now)
{
	enum tv_err rc;

	if (role == TV_ROLE_NONE || !name || !*name || strlen(name) > TV_NAME_MAX ||
	    validity_days < 0 || validity_days > TV_APIKEY_MAX_VALIDITY_DAYS)
		return TV_ERR_INVALID;
	memset(rec, 0, sizeof(*rec));
	tv_uuid_new(rec->id);
	snprintf(rec->tenant_id, sizeof(rec->tenant_id), "%s", tenant_id);
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	rec->role = role;
	rec->created_ms = now;
	rec->expires_ms = validity_days ? now + (int64_t)validity_days * 86400000 : 0;
	rc = S_new_key(key, rec->hash);
	return rc;
}

enum tv_err tv_svc_tenant_create(struct tv_tenant_created *out, struct tv_store *store,
				 const struct tv_secbuf *master, const char *name)
{
	struct tv_secbuf *sk = NULL, *key = NULL;
	struct tv_tenant t = { 0 };
	struct tv_dek d = { 0 };
	struct tv_edge e = { 0 };
	struct tv_apikey k;
	int64_t now = tv_now_ms();
	char aad[160];
	enum tv_err rc;

	if (!name || !*name || strlen(name) > TV_NAME_MAX)
		return TV_ERR_INVALID;
	tv_uuid_new(t.id);
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.created_ms = now;

	rc = tv_dek_generate(d.public_key, &sk);
	if (rc)
		goto out;
	tv_dek_id(d.id, d.public_key);
	memcpy(d.tenant_id, t.id, sizeof(t.id));
	d.created_ms = now;
	tv_dek_wrap_aad(aad, sizeof(aad), d.id, d.tenant_id);
	_Static_assert(TV_DEK_SK_BYTES + TV_WRAP_OVERHEAD <= TV_DEK_WRAPPED_MAX, "room");
	rc = tv_wrap(d.wrapped_sk, master, sk->p, sk->len, aad);
	if (rc)
		goto out;
	d.wrapped_len = sk->len + TV_WRAP_OVERHEAD;

	tv_uuid_new(e.id);
	memcpy(e.tenant_id, t.id, sizeof(t.id));
	snprintf(e.name, sizeof(e.name), "tlsvault-embedded");
	tv_uuid_new(e.environment_id);
	memcpy(e.dek_id, d.id, sizeof(d.id));
	e.deployed_ms = e.dek_deployed_ms = e.modified_ms = now;

	rc = S_fill_apikey(&k, &key, t.id, TV_ROLE_ADMIN, "initial admin key", 0, now);
	if (rc)
		goto out;
	rc = store->ops->tenant_bootstrap(store, &t, &d, &e, &k);
	if (rc)
		goto out;
	memcpy(out->tenant_id, t.id, sizeof(t.id));
	memcpy(out->edge_instance_id, e.id, sizeof(e.id));
	memcpy(out->encryption_key_id, d.id, sizeof(d.id));
	out->api_key = key;
	key = NULL;
out:
	tv_secbuf_free(sk);
	tv_secbuf_free(key);
	return rc;
}

enum tv_err tv_svc_apikey_create(struct tv_apikey *rec, struct tv_secbuf **key,
				 struct tv_store *store, const char *tenant_id,
				 enum tv_role role, const char *name, int validity_days)
{
	struct tv_secbuf *k = NULL;
	struct tv_tenant t;
	enum tv_err rc;

	rc = store->ops->tenant_get(store, tenant_id, &t);
	if (rc)
		return rc;
	rc = S_fill_apikey(rec, &k, tenant_id, role, name, validity_days, tv_now_ms());
	if (!rc)
		rc = store->ops->apikey_insert(store, rec);
	if (rc) {
		tv_secbuf_free(k);
		return rc;
	}
	*key = k;
	return TV_OK;
}

enum tv_err tv_svc_apikey_check(struct tv_apikey *rec, struct tv_store *store,
				const char *presented, size_t len)
{
	unsigned char hash[TV_APIKEY_HASH_BYTES];
	struct tv_apikey k;
	int64_t now = tv_now_ms();
	enum tv_err rc;

	if (len == 0 || len > 256)
		return TV_ERR_DENIED;
	crypto_hash_sha256(hash, (const unsigned char *)presented, len);
	rc = store->ops->apikey_by_hash(store, hash, &k);
	if (rc == TV_ERR_NOT_FOUND)
		return TV_ERR_DENIED;
	if (rc)
		return rc;
	/* The index found it by hash; compare again in constant time so the
	 * decision never rests on a variable-time comparison. */
	if (sodium_memcmp(hash, k.hash, sizeof(hash)) != 0 || k.revoked_ms ||
	    (k.expires_ms && k.expires_ms <= now))
		return TV_ERR_DENIED;
	if (now - k.last_used_ms >= S_LAST_USED_GRANULARITY_MS) {
		/* Best effort: a failed touch must not fail the request. */
		if (store->ops->apikey_touch(store, k.id, now) == TV_OK)
			k.last_used_ms = now;
	}
	*rec = k;
	return TV_OK;
}
