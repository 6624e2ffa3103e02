/*
 * account.h - tenants and API keys: the use cases behind `tlsvaultd init`,
 * `tenant create`, `apikey create`, the /v1/apikeys endpoints and the auth
 * check of every request.
 *
 * API keys: 16 bytes from the CSPRNG, shaped as a v4 UUID (122 random bits).
 * They are shown once; the store keeps only SHA-256(key). A UUID shape, not
 * 32 raw bytes, because VenafiPS recognises a TLS Protect Cloud key by
 * Test-IsGuid (see docs/ARCHITECTURE.md). All functions are thread-safe.
 */
#ifndef TV_SVC_ACCOUNT_H
#define TV_SVC_ACCOUNT_H

#include "core/secmem.h"
#include "store/store.h"

#define TV_APIKEY_STRLEN TV_UUID_STRLEN
#define TV_APIKEY_MAX_VALIDITY_DAYS 3650

/** What creating a tenant yields; the key is shown once. */
struct tv_tenant_created {
	char tenant_id[TV_ID_SIZE];
	char edge_instance_id[TV_ID_SIZE];
	char encryption_key_id[TV_DEK_ID_SIZE];
	struct tv_secbuf *api_key; /* NUL-terminated; caller frees */
};

/**
 * Create a tenant named name with its DEK (wrapped by master), its embedded
 * edge instance and an ADMIN API key, atomically. TV_ERR_EXISTS when the
 * name is taken, TV_ERR_INVALID when it is empty or longer than TV_NAME_MAX.
 */
enum tv_err tv_svc_tenant_create(struct tv_tenant_created *out, struct tv_store *store,
				 const struct tv_secbuf *master, const char *name) TV_WUR;

/**
 * Create an API key for tenant_id. validity_days 0 = no expiry. rec gets the
 * stored record, *key the key itself (shown once; caller frees).
 */
enum tv_err tv_svc_apikey_create(struct tv_apikey *rec, struct tv_secbuf **key,
				 struct tv_store *store, const char *tenant_id,
				 enum tv_role role, const char *name,
				 int validity_days) TV_WUR;

/**
 * Check a presented key: TV_OK with the record when it is known, not revoked
 * and not expired; TV_ERR_DENIED otherwise (one answer for every case, so a
 * caller can't tell which). TV_ERR_STORE when the store fails.
 */
enum tv_err tv_svc_apikey_check(struct tv_apikey *rec, struct tv_store *store,
				const char *presented, size_t len) TV_WUR;

#endif
