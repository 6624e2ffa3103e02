/*
 * dek.h - the key hierarchy: master key, tenant DEKs, sealing.
 *
 *   master.key (32 bytes, file mode 0600)
 *     └─ wraps (XChaCha20-Poly1305, AAD = purpose ‖ row id) each DEK secret key
 *          └─ DEK: X25519 keypair per tenant; clients crypto_box_seal to its
 *             public key, the server opens with the secret key.
 *
 * DESIGN: pure functions over bytes. No store, no globals. Every secret (the
 * master key, a DEK secret key, an opened plaintext) is returned in a
 * tv_secbuf. The AAD binds a wrapped secret to the row it belongs to, so a
 * database writer can't swap one tenant's wrapped DEK into another's row.
 * All functions are thread-safe; tv_secmem_init() must have run.
 */
#ifndef TV_DEK_DEK_H
#define TV_DEK_DEK_H

#include <stdbool.h>
#include <stddef.h>
#include <sodium.h>

#include "core/err.h"
#include "core/secmem.h"

#define TV_MASTER_KEY_BYTES 32
#define TV_DEK_PK_BYTES crypto_box_PUBLICKEYBYTES
#define TV_DEK_SK_BYTES crypto_box_SECRETKEYBYTES
#define TV_SEAL_OVERHEAD crypto_box_SEALBYTES
#define TV_WRAP_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TV_WRAP_OVERHEAD (TV_WRAP_NONCE_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
/* base64url(SHA-256(pk)) with padding */
#define TV_DEK_ID_STRLEN 44

_Static_assert(TV_MASTER_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "the master key is an XChaCha20-Poly1305 key");
_Static_assert(TV_DEK_PK_BYTES == 32 && TV_DEK_SK_BYTES == 32, "X25519 keys");
_Static_assert(TV_SEAL_OVERHEAD == 48, "API.md promises 48 bytes of overhead");

/**
 * Create DIR/master.key with 32 random bytes, mode 0600, O_EXCL, and fsync
 * both the file and its directory before returning TV_OK.
 * TV_ERR_EXISTS when the file is there (nothing is changed), TV_ERR_IO else.
 */
enum tv_err tv_master_create(const char *path) TV_WUR;

/**
 * Load a master key file into a new secbuf. TV_ERR_DENIED when the file is
 * readable by group or others, TV_ERR_INVALID when it isn't 32 bytes.
 */
enum tv_err tv_master_load(struct tv_secbuf **out, const char *path) TV_WUR;

/** A new DEK keypair: pk (public, 32 bytes) and *sk (secret, secbuf). */
enum tv_err tv_dek_generate(unsigned char pk[TV_DEK_PK_BYTES],
			    struct tv_secbuf **sk) TV_WUR;

/** The key id of a DEK public key: base64url(SHA-256(pk)), padded, NUL-ended. */
void tv_dek_id(char out[TV_DEK_ID_STRLEN + 1], const unsigned char pk[TV_DEK_PK_BYTES]);

/**
 * Wrap secret[0..len) under the master key. out must have room for
 * len + TV_WRAP_OVERHEAD bytes: nonce ‖ ciphertext ‖ tag. aad binds it.
 */
enum tv_err tv_wrap(unsigned char *out, const struct tv_secbuf *master,
		    const unsigned char *secret, size_t len, const char *aad) TV_WUR;

/**
 * Unwrap what tv_wrap made into a new secbuf. TV_ERR_CRYPTO when the tag does
 * not verify (wrong master key, altered blob, or wrong aad).
 */
enum tv_err tv_unwrap(struct tv_secbuf **out, const struct tv_secbuf *master,
		      const unsigned char *wrapped, size_t len, const char *aad) TV_WUR;

/** Seal msg to pk (crypto_box_seal). out has room for len + TV_SEAL_OVERHEAD. */
enum tv_err tv_seal(unsigned char *out, const unsigned char *msg, size_t len,
		    const unsigned char pk[TV_DEK_PK_BYTES]) TV_WUR;

/**
 * Open a sealed box into a new secbuf. TV_ERR_CRYPTO when it does not open
 * with this keypair (wrong key, or not a sealed box).
 */
enum tv_err tv_unseal(struct tv_secbuf **out, const unsigned char *sealed, size_t len,
		      const unsigned char pk[TV_DEK_PK_BYTES],
		      const struct tv_secbuf *sk) TV_WUR;

/**
 * Take the vault lock DIR/tlsvaultd.lock (created 0600 if missing) shared
 * or exclusive, without waiting: TV_ERR_BUSY when another process holds it
 * in a conflicting mode. *fd is the lock; tv_vault_unlock() releases it.
 * serve and `dek rotate` hold it shared, rotate-master-key exclusive.
 */
enum tv_err tv_vault_lock(const char *dir, bool exclusive, int *fd) TV_WUR;
void tv_vault_unlock(int fd);

/**
 * The last step of a master-key rotation: hard-link DIR/master.key to
 * DIR/master.key.old (kept if it is there already), then rename
 * DIR/master.key.new over DIR/master.key, fsyncing the directory after
 * each. TV_ERR_NOT_FOUND when there is no master.key or no master.key.new.
 */
enum tv_err tv_master_swap(const char *dir) TV_WUR;

/** fsync a file, and with and_dir its directory too. */
enum tv_err tv_fsync_path(const char *path, bool and_dir) TV_WUR;

#endif
