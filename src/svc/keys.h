/*
 * keys.h - key rotation (issue 11): re-wrapping every DEK under a new
 * master key, and moving a tenant's stored keys to a new DEK.
 *
 * DESIGN: these are the use cases; the files (master.key, its .new and
 * .old) and the waiting are the command's (cmd/tlsvaultd). Every plaintext
 * secret (a DEK secret key, a private key's PKCS#8) lives in a tv_secbuf for
 * one iteration and is wiped on every path. The DEK rotation keeps its state
 * in the store, not in memory: the tenant's newest DEK is the rotation's
 * target, so a rerun after an interruption finds where it stopped.
 */
#ifndef TV_SVC_KEYS_H
#define TV_SVC_KEYS_H

#include <stddef.h>

#include "core/secmem.h"
#include "store/store.h"
#include "svc/keyring.h"

/**
 * Re-wrap the secret key of every DEK in the store from old_master to
 * new_master in one store transaction (retried when a DEK is added
 * meanwhile). TV_ERR_CRYPTO, and nothing changed, when a DEK does not unwrap
 * with old_master (or its public key does not match). *n = DEKs re-wrapped.
 */
enum tv_err tv_svc_master_rewrap(struct tv_store *store, const struct tv_secbuf *old_master,
				 const struct tv_secbuf *new_master, size_t *n) TV_WUR;

/** How many of the store's *total DEKs unwrap (and match) with master: *ok. */
enum tv_err tv_svc_master_check(struct tv_store *store, const struct tv_secbuf *master,
				size_t *ok, size_t *total) TV_WUR;

/** Where a tenant's DEK rotation stands, read from the store. */
struct tv_dek_rotation {
	char edge_dek[TV_DEK_ID_SIZE]; /* what clients seal to now */
	char newest[TV_DEK_ID_SIZE];   /* the tenant's newest DEK: the target */
	char before[TV_DEK_ID_SIZE];   /* the one made just before it ("" if none) */
	size_t n_deks;
	size_t keys_elsewhere; /* 1 when a stored key is sealed to another DEK than newest */
	size_t items_elsewhere; /* import items not final on another DEK than newest */
};

/** Read the state. TV_ERR_NOT_FOUND when the tenant has no DEK or no edge. */
enum tv_err tv_svc_dek_rotation_get(struct tv_store *store, const char *tenant_id,
				    struct tv_dek_rotation *out) TV_WUR;

/** True when a rotation has work left (the newest DEK isn't everywhere yet). */
bool tv_svc_dek_rotation_unfinished(const struct tv_dek_rotation *r);

/** A new DEK for the tenant, wrapped by master; its id in out. */
enum tv_err tv_svc_dek_create(struct tv_store *store, const struct tv_secbuf *master,
			      const char *tenant_id, char out[TV_DEK_ID_SIZE]) TV_WUR;

/**
 * Reseal up to batch stored keys of the tenant that are sealed to another
 * DEK to target, in one store transaction. *moved counts the keys written,
 * *seen the keys read (0: none left).
 */
enum tv_err tv_svc_dek_reseal_batch(struct tv_store *store, struct tv_keyring *kr,
				    const char *tenant_id, const char *target, size_t batch,
				    size_t *moved, size_t *seen) TV_WUR;

#endif
