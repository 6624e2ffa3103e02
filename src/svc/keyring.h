/*
 * keyring.h - the embedded edge instance's DEKs, unwrapped in memory.
 *
 * DESIGN: the keyring is the only place a DEK secret key exists in plaintext.
 * It unwraps each tenant's DEK with the master key on first use (so a tenant
 * created by `tlsvaultd tenant create` while the server runs is picked up
 * without a restart), keeps the secret in sodium_malloc memory, and offers
 * "open this sealed box" instead of handing the secret out.
 *
 * Threads: every function may be called from any thread; a rwlock guards the
 * table. Lock order: the keyring lock is a leaf (nothing else is taken while
 * holding it, except the store, which takes only its own pool lock).
 */
#ifndef TV_SVC_KEYRING_H
#define TV_SVC_KEYRING_H

#include <stddef.h>

#include "core/secmem.h"
#include "dek/dek.h"
#include "store/store.h"

struct tv_keyring;

/** A keyring over store, unwrapping with master (borrowed; both outlive it). */
enum tv_err tv_keyring_new(struct tv_keyring **out, struct tv_store *store,
			   const struct tv_secbuf *master) TV_WUR;

/** Wipe every secret and free; NULL is a no-op. */
void tv_keyring_free(struct tv_keyring *kr);

/**
 * Load every DEK of the store that isn't loaded yet. TV_ERR_CRYPTO when a
 * wrapped key doesn't open with the master key (the wrong master.key).
 */
enum tv_err tv_keyring_load_all(struct tv_keyring *kr) TV_WUR;

/** Number of DEKs loaded. */
size_t tv_keyring_count(struct tv_keyring *kr);

/** True when the DEK with this id is loaded (loading it if it exists). */
bool tv_keyring_has(struct tv_keyring *kr, const char *dek_id);

/**
 * Open a box sealed to the DEK dek_id of tenant tenant_id into a new secbuf.
 * TV_ERR_NOT_FOUND when that tenant has no such DEK; TV_ERR_CRYPTO when the
 * box does not open with it; TV_ERR_DENIED when the DEK is in the store but
 * this keyring's master key does not unwrap it (the server's fault: its
 * master.key is not the vault's current one).
 */
enum tv_err tv_keyring_unseal(struct tv_keyring *kr, struct tv_secbuf **out,
			      const char *tenant_id, const char *dek_id,
			      const unsigned char *sealed, size_t len) TV_WUR;

/**
 * tv_keyring_unseal with dek_id first, then, when the box does not open with
 * it, with the tenant's other DEKs: for a secret a client sealed to the DEK
 * a certificate was on just before a DEK rotation moved it.
 */
enum tv_err tv_keyring_unseal_tenant(struct tv_keyring *kr, struct tv_secbuf **out,
				     const char *tenant_id, const char *dek_id,
				     const unsigned char *sealed, size_t len) TV_WUR;

/**
 * Seal msg to the DEK dek_id of tenant tenant_id; out has room for
 * len + TV_SEAL_OVERHEAD bytes. TV_ERR_NOT_FOUND when there is no such DEK,
 * TV_ERR_DENIED as for tv_keyring_unseal.
 */
enum tv_err tv_keyring_seal(struct tv_keyring *kr, unsigned char *out, const char *tenant_id,
			    const char *dek_id, const unsigned char *msg, size_t len) TV_WUR;

/** Wrap-AAD of a DEK secret key: binds it to its row (dek id and tenant). */
void tv_dek_wrap_aad(char *out, size_t size, const char *dek_id, const char *tenant_id);

#endif
