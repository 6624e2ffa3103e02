/*
 * DESIGN: the master key file is the root of trust. It is created with
 * O_EXCL|O_NOFOLLOW at mode 0600 and refused at load if anyone but the owner
 * can read it, because a leaked master key plus a database copy opens every
 * key in the vault. Wrapping uses XChaCha20-Poly1305 with a random 192-bit
 * nonce, so nonces never need to be tracked.
 */
#include "dek/dek.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/b64.h"
#include "core/util.h"

/*
 * fsync the directory that holds path, so the new file's name survives a
 * power cut as well as its bytes: a database that outlives its master.key
 * is a vault whose keys nobody can open again.
 */
enum tv_err tv_master_create(const char *path)
{
	unsigned char *key = NULL;
	enum tv_err rc = TV_ERR_IO;
	ssize_t w;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? TV_ERR_EXISTS : TV_ERR_IO;
	key = sodium_malloc(TV_MASTER_KEY_BYTES);
	if (!key) {
		rc = TV_ERR_NOMEM;
		goto out;
	}
	randombytes_buf(key, TV_MASTER_KEY_BYTES);
	w = write(fd, key, TV_MASTER_KEY_BYTES);
	if (w != TV_MASTER_KEY_BYTES || fchmod(fd, 0600) != 0 || fsync(fd) != 0 ||
	    tv_fsync_dir_of(path) != 0)
		goto out;
	rc = TV_OK;
out:
	sodium_free(key);
	close(fd);
	if (rc)
		unlink(path);
	return rc;
}

enum tv_err tv_master_load(struct tv_secbuf **out, const char *path)
{
	struct tv_secbuf *key = NULL;
	enum tv_err rc;
	struct stat st;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO;
	rc = TV_ERR_IO;
	if (fstat(fd, &st) != 0)
		goto out;
	rc = TV_ERR_DENIED;
	if (st.st_mode & 077)
		goto out;
	rc = TV_ERR_INVALID;
	if (st.st_size != TV_MASTER_KEY_BYTES)
		goto out;
	rc = tv_secbuf_new(&key, TV_MASTER_KEY_BYTES);
	if (rc)
		goto out;
	r = read(fd, key->p, TV_MASTER_KEY_BYTES);
	rc = r == TV_MASTER_KEY_BYTES ? TV_OK : TV_ERR_IO;
out:
	close(fd);
	if (rc) {
		tv_secbuf_free(key);
		return rc;
	}
	*out = key;
	return TV_OK;
}

enum tv_err tv_dek_generate(unsigned char pk[TV_DEK_PK_BYTES], struct tv_secbuf **sk)
{
	struct tv_secbuf *s;
	enum tv_err rc = tv_secbuf_new(&s, TV_DEK_SK_BYTES);

	if (rc)
		return rc;
	if (crypto_box_keypair(pk, s->p) != 0) {
		tv_secbuf_free(s);
		return TV_ERR_CRYPTO;
	}
	*sk = s;
	return TV_OK;
}

void tv_dek_id(char out[TV_DEK_ID_STRLEN + 1], const unsigned char pk[TV_DEK_PK_BYTES])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	_Static_assert(TV_B64_ENCODED_LEN(crypto_hash_sha256_BYTES) == TV_DEK_ID_STRLEN,
		       "key id length");
	crypto_hash_sha256(h, pk, TV_DEK_PK_BYTES);
	tv_b64_encode_to(out, h, sizeof(h), true);
}

enum tv_err tv_wrap(unsigned char *out, const struct tv_secbuf *master,
		    const unsigned char *secret, size_t len, const char *aad)
{
	if (!master || master->len != TV_MASTER_KEY_BYTES)
		return TV_ERR_INVALID;
	randombytes_buf(out, TV_WRAP_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		out + TV_WRAP_NONCE_BYTES, NULL, secret, len, (const unsigned char *)aad,
		strlen(aad), NULL, out, master->p);
	return TV_OK;
}

enum tv_err tv_unwrap(struct tv_secbuf **out, const struct tv_secbuf *master,
		      const unsigned char *wrapped, size_t len, const char *aad)
{
	struct tv_secbuf *plain;
	enum tv_err rc;

	if (!master || master->len != TV_MASTER_KEY_BYTES || len < TV_WRAP_OVERHEAD)
		return TV_ERR_INVALID;
	rc = tv_secbuf_new(&plain, len - TV_WRAP_OVERHEAD);
	if (rc)
		return rc;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain->p, NULL, NULL, wrapped + TV_WRAP_NONCE_BYTES,
		    len - TV_WRAP_NONCE_BYTES, (const unsigned char *)aad, strlen(aad),
		    wrapped, master->p) != 0) {
		tv_secbuf_free(plain);
		return TV_ERR_CRYPTO;
	}
	*out = plain;
	return TV_OK;
}

enum tv_err tv_seal(unsigned char *out, const unsigned char *msg, size_t len,
		    const unsigned char pk[TV_DEK_PK_BYTES])
{
	return crypto_box_seal(out, msg, len, pk) == 0 ? TV_OK : TV_ERR_CRYPTO;
}

enum tv_err tv_unseal(struct tv_secbuf **out, const unsigned char *sealed, size_t len,
		      const unsigned char pk[TV_DEK_PK_BYTES], const struct tv_secbuf *sk)
{
	struct tv_secbuf *plain;
	enum tv_err rc;

	if (!sk || sk->len != TV_DEK_SK_BYTES || len < TV_SEAL_OVERHEAD)
		return TV_ERR_CRYPTO;
	rc = tv_secbuf_new(&plain, len - TV_SEAL_OVERHEAD);
	if (rc)
		return rc;
	if (crypto_box_seal_open(plain->p, sealed, len, pk, sk->p) != 0) {
		tv_secbuf_free(plain);
		return TV_ERR_CRYPTO;
	}
	*out = plain;
	return TV_OK;
}

/*
 * The vault lock: DIR/tlsvaultd.lock, held with flock() for as long as a
 * process uses the vault. serve and `dek rotate` hold it shared;
 * rotate-master-key holds it exclusive, so it can't run while a server on
 * this directory holds the master key in memory. The file is never removed
 * (removing a lock file others may have open would split the lock).
 */
enum tv_err tv_vault_lock(const char *dir, bool exclusive, int *fd_out)
{
	char path[4096];
	int fd, n;

	*fd_out = -1;
	n = snprintf(path, sizeof(path), "%s/tlsvaultd.lock", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return TV_ERR_INVALID;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO;
	if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		return e == EWOULDBLOCK ? TV_ERR_BUSY : TV_ERR_IO;
	}
	*fd_out = fd;
	return TV_OK;
}

void tv_vault_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/*
 * Keep the current key as master.key.old (a hard link: the same inode,
 * mode 0600, no copy of the key made), then move master.key.new over
 * master.key. Both steps are atomic and each is made durable before the
 * next. A crash between them leaves master.key (old), master.key.old (the
 * same) and master.key.new: the rotation command finishes that state.
 */
enum tv_err tv_master_swap(const char *dir)
{
	char cur[4096], old[4200], nw[4200];
	int n;

	n = snprintf(cur, sizeof(cur), "%s/master.key", dir);
	if (n < 0 || (size_t)n >= sizeof(cur))
		return TV_ERR_INVALID;
	snprintf(old, sizeof(old), "%s.old", cur);
	snprintf(nw, sizeof(nw), "%s.new", cur);
	if (link(cur, old) != 0 && errno != EEXIST)
		return errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO;
	if (tv_fsync_dir_of(cur) != 0)
		return TV_ERR_IO;
	if (rename(nw, cur) != 0)
		return errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO;
	return tv_fsync_dir_of(cur) == 0 ? TV_OK : TV_ERR_IO;
}

enum tv_err tv_fsync_path(const char *path, bool and_dir)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0)
		return errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO;
	r = fsync(fd);
	close(fd);
	if (r != 0)
		return TV_ERR_IO;
	return !and_dir || tv_fsync_dir_of(path) == 0 ? TV_OK : TV_ERR_IO;
}
