/* tv-test-libs: tv_dek */
/* Unit tests of src/dek: master key file, wrapping, sealing, key ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dek/dek.h"

static char S_dir[64];

static int S_setup(void **state)
{
	(void)state;
	snprintf(S_dir, sizeof(S_dir), "/tmp/tlsvault-dek-XXXXXX");
	return mkdtemp(S_dir) ? 0 : -1;
}

static int S_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_master_key_file(void **state)
{
	struct tv_secbuf *a = NULL, *b = NULL;
	char path[128];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/master.key", S_dir);
	assert_int_equal(tv_master_load(&a, path), TV_ERR_NOT_FOUND);
	assert_int_equal(tv_master_create(path), TV_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(tv_master_create(path), TV_ERR_EXISTS); /* never overwritten */
	{
		/* a bare file name: its directory (".") is synced too */
		char cwd[512];

		assert_non_null(getcwd(cwd, sizeof(cwd)));
		assert_int_equal(chdir(S_dir), 0);
		assert_int_equal(tv_master_create("relative.key"), TV_OK);
		assert_int_equal(stat("relative.key", &st), 0);
		assert_int_equal(st.st_size, 32);
		assert_int_equal(chdir(cwd), 0);
	}
	assert_int_equal(tv_master_load(&a, path), TV_OK);
	assert_int_equal(a->len, 32);
	assert_int_equal(tv_master_load(&b, path), TV_OK);
	assert_memory_equal(a->p, b->p, 32);
	tv_secbuf_free(b);
	/* a key others can read is refused */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(tv_master_load(&b, path), TV_ERR_DENIED);
	assert_int_equal(chmod(path, 0600), 0);
	/* a file of the wrong size is refused */
	assert_int_equal(truncate(path, 31), 0);
	assert_int_equal(tv_master_load(&b, path), TV_ERR_INVALID);
	tv_secbuf_free(a);
}

static void test_wrap_binds_aad(void **state)
{
	static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";
	unsigned char wrapped[32 + TV_WRAP_OVERHEAD], again[32 + TV_WRAP_OVERHEAD];
	struct tv_secbuf *master = NULL, *other = NULL, *plain = NULL;

	(void)state;
	assert_int_equal(tv_secbuf_new(&master, 32), TV_OK);
	assert_int_equal(tv_secbuf_new(&other, 32), TV_OK);
	randombytes_buf(master->p, 32);
	randombytes_buf(other->p, 32);
	assert_int_equal(tv_wrap(wrapped, master, secret, 32, "row-1"), TV_OK);
	assert_int_equal(tv_wrap(again, master, secret, 32, "row-1"), TV_OK);
	assert_memory_not_equal(wrapped, again, sizeof(wrapped)); /* fresh nonce */
	assert_int_equal(tv_unwrap(&plain, master, wrapped, sizeof(wrapped), "row-1"), TV_OK);
	assert_memory_equal(plain->p, secret, 32);
	tv_secbuf_free(plain);
	assert_int_equal(tv_unwrap(&plain, master, wrapped, sizeof(wrapped), "row-2"),
			 TV_ERR_CRYPTO);
	assert_int_equal(tv_unwrap(&plain, other, wrapped, sizeof(wrapped), "row-1"),
			 TV_ERR_CRYPTO);
	wrapped[30] ^= 0x80;
	assert_int_equal(tv_unwrap(&plain, master, wrapped, sizeof(wrapped), "row-1"),
			 TV_ERR_CRYPTO);
	assert_int_equal(tv_unwrap(&plain, master, wrapped, 10, "row-1"), TV_ERR_INVALID);
	tv_secbuf_free(master);
	tv_secbuf_free(other);
}

static void test_seal_unseal(void **state)
{
	static const char msg[] = "hunter2";
	unsigned char pk[32], pk2[32], sealed[sizeof(msg) - 1 + TV_SEAL_OVERHEAD];
	struct tv_secbuf *sk = NULL, *sk2 = NULL, *plain = NULL;

	(void)state;
	assert_int_equal(tv_dek_generate(pk, &sk), TV_OK);
	assert_int_equal(tv_dek_generate(pk2, &sk2), TV_OK);
	assert_int_equal(tv_seal(sealed, (const unsigned char *)msg, sizeof(msg) - 1, pk), TV_OK);
	assert_int_equal(tv_unseal(&plain, sealed, sizeof(sealed), pk, sk), TV_OK);
	assert_int_equal(plain->len, sizeof(msg) - 1);
	assert_memory_equal(plain->p, msg, plain->len);
	tv_secbuf_free(plain);
	/* the other tenant's DEK does not open it; nor does a short box */
	assert_int_equal(tv_unseal(&plain, sealed, sizeof(sealed), pk2, sk2), TV_ERR_CRYPTO);
	assert_int_equal(tv_unseal(&plain, sealed, 47, pk, sk), TV_ERR_CRYPTO);
	/* an empty password is a 48-byte box, and it opens to zero bytes */
	assert_int_equal(tv_seal(sealed, (const unsigned char *)"", 0, pk), TV_OK);
	assert_int_equal(tv_unseal(&plain, sealed, TV_SEAL_OVERHEAD, pk, sk), TV_OK);
	assert_int_equal(plain->len, 0);
	tv_secbuf_free(plain);
	tv_secbuf_free(sk);
	tv_secbuf_free(sk2);
}

/* Known answer: base64url(SHA-256(00 01 .. 1f)), padded. */
static void test_key_id_kat(void **state)
{
	unsigned char pk[32];
	char id[TV_DEK_ID_STRLEN + 1];
	int i;

	(void)state;
	for (i = 0; i < 32; i++)
		pk[i] = (unsigned char)i;
	tv_dek_id(id, pk);
	assert_string_equal(id, "Yw3NKWbEM2aRElRIu7JbT_QSpJxzLbLIq8G4WBvXEN0=");
	assert_int_equal(strlen(id), 44);
}

/* The vault lock: shared with shared, never with exclusive. */
static void test_vault_lock(void **state)
{
	int a = -1, b = -1, c = -1;
	char path[128];

	(void)state;
	assert_int_equal(tv_vault_lock(S_dir, false, &a), TV_OK);
	assert_int_equal(tv_vault_lock(S_dir, false, &b), TV_OK);
	assert_int_equal(tv_vault_lock(S_dir, true, &c), TV_ERR_BUSY);
	assert_int_equal(c, -1);
	tv_vault_unlock(a);
	assert_int_equal(tv_vault_lock(S_dir, true, &c), TV_ERR_BUSY);
	tv_vault_unlock(b);
	assert_int_equal(tv_vault_lock(S_dir, true, &c), TV_OK);
	assert_int_equal(tv_vault_lock(S_dir, false, &a), TV_ERR_BUSY);
	tv_vault_unlock(c);
	snprintf(path, sizeof(path), "%s/tlsvaultd.lock", S_dir);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	assert_int_equal(tv_vault_lock("/nonexistent-tlsvault-dir", false, &a), TV_ERR_NOT_FOUND);
}

/* master.key.new replaces master.key; the previous key stays as .old. */
static void test_master_swap(void **state)
{
	struct tv_secbuf *a = NULL, *b = NULL, *x = NULL;
	char cur[128], nw[160], old[160], dir[96];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/swap", S_dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(cur, sizeof(cur), "%s/master.key", dir);
	snprintf(nw, sizeof(nw), "%s.new", cur);
	snprintf(old, sizeof(old), "%s.old", cur);
	assert_int_equal(tv_master_swap(dir), TV_ERR_NOT_FOUND); /* nothing to install */
	assert_int_equal(tv_master_create(cur), TV_OK);
	assert_int_equal(tv_master_swap(dir), TV_ERR_NOT_FOUND);
	assert_int_equal(unlink(old), 0); /* linked before the rename was refused */
	assert_int_equal(tv_master_create(nw), TV_OK);
	assert_int_equal(tv_master_load(&a, cur), TV_OK);
	assert_int_equal(tv_master_load(&b, nw), TV_OK);
	assert_int_equal(tv_master_swap(dir), TV_OK);
	assert_int_equal(access(nw, F_OK), -1);
	assert_int_equal(tv_master_load(&x, cur), TV_OK);
	assert_memory_equal(x->p, b->p, 32);
	tv_secbuf_free(x);
	assert_int_equal(tv_master_load(&x, old), TV_OK); /* mode 0600 kept: it loads */
	assert_memory_equal(x->p, a->p, 32);
	tv_secbuf_free(x);
	assert_int_equal(tv_fsync_path(cur, true), TV_OK);
	assert_int_equal(tv_fsync_path(nw, false), TV_ERR_NOT_FOUND);
	tv_secbuf_free(a);
	tv_secbuf_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_master_key_file),
		cmocka_unit_test(test_wrap_binds_aad),
		cmocka_unit_test(test_seal_unseal),
		cmocka_unit_test(test_key_id_kat),
		cmocka_unit_test(test_vault_lock),
		cmocka_unit_test(test_master_swap),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/dek", tests, S_setup, S_teardown);
}
