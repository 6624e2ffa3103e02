/* tv-test-libs: tv_pki */
/*
 * test_wipeheap.c - the wiping allocator (core/wipeheap.h), and why the
 * server needs it.
 *
 * main() installs, before OpenSSL allocates anything, free hooks that look
 * at every block OpenSSL frees: a block that still holds the bytes of the
 * private key under test counts as residue (OpenSSL freed a plaintext copy
 * without OPENSSL_clear_free), then the block goes through
 * tv_wipeheap_wipe() and must be all zeros before tv_wipeheap_ossl_free()
 * frees it. So the tests show both the gap in OpenSSL (residue > 0 on the
 * import and export paths; if a future OpenSSL cleanses these copies, that
 * assertion fails and docs/SECURITY.md's table should be updated) and that
 * the wipe closes it, without ever reading freed memory.
 *
 * The key bytes looked for: the last 32 bytes of the EC scalar, 32 bytes
 * from the middle of the RSA private exponent (so DER's leading-zero rule
 * doesn't matter), or the Ed25519 seed. Only raw bytes are recognised, not
 * base64 (PEM) copies.
 */
#include "test_p12_util.h"

#include <malloc.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "core/secmem.h"
#include "core/wipeheap.h"
#include "pki/p12.h"
#include "pki/pkcs8.h"
#include "pki/pki.h"
#include "pki/writer.h"

#define S_PATTERN_LEN 32

static struct tv_pki_ctx *g_ctx;

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define S_MAKE_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#endif
#endif
#ifndef S_MAKE_DEFINED
#define S_MAKE_DEFINED(p, n) ((void)(p), (void)(n))
#endif

/* What the free hook counts while armed. */
static struct {
	bool armed;
	unsigned char pattern[S_PATTERN_LEN];
	size_t frees;   /* blocks OpenSSL freed */
	size_t residue; /* ...that still held the key bytes */
	size_t unwiped; /* ...that were not all zeros after tv_wipeheap_wipe() */
} g_watch;

/* True when pattern occurs in p[0..n). */
static bool S_contains(const unsigned char *p, size_t n, const unsigned char *pattern)
{
	size_t i;

	for (i = 0; i + S_PATTERN_LEN <= n; i++)
		if (p[i] == pattern[0] && !memcmp(p + i, pattern, S_PATTERN_LEN))
			return true;
	return false;
}

static void S_free_hook(void *p, const char *file, int line)
{
	size_t n, i;
	const unsigned char *b = p;

	if (p && g_watch.armed) {
		n = malloc_usable_size(p);
		/* the scan reads a block's unwritten tail on purpose: tell
		 * memcheck (make test's valgrind run) it is deliberate */
		S_MAKE_DEFINED(p, n);
		g_watch.frees++;
		if (S_contains(b, n, g_watch.pattern))
			g_watch.residue++;
		tv_wipeheap_wipe(p);
		for (i = 0; i < n; i++) {
			if (b[i]) {
				g_watch.unwiped++;
				break;
			}
		}
	}
	tv_wipeheap_ossl_free(p, file, line);
}

/* 32 bytes of name's private key (tests/fixtures/keys) into the watch. */
static EVP_PKEY *S_watch_key(const char *name)
{
	EVP_PKEY *key = tvt_fixture_key(name);
	unsigned char buf[1024];
	size_t len = sizeof(buf);
	BIGNUM *bn = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1) {
		/* the encoding pads the scalar on the left: its last bytes are fixed */
		n = BN_num_bytes(bn) > S_PATTERN_LEN ? BN_num_bytes(bn) : S_PATTERN_LEN;
		assert_int_equal(BN_bn2binpad(bn, buf, n), n);
		memcpy(g_watch.pattern, buf + n - S_PATTERN_LEN, S_PATTERN_LEN);
	} else if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_D, &bn) == 1) {
		n = BN_bn2bin(bn, buf);
		assert_true(n >= 3 * S_PATTERN_LEN);
		memcpy(g_watch.pattern, buf + S_PATTERN_LEN, S_PATTERN_LEN);
	} else {
		assert_int_equal(EVP_PKEY_get_raw_private_key(key, buf, &len), 1);
		assert_int_equal(len, S_PATTERN_LEN);
		memcpy(g_watch.pattern, buf, S_PATTERN_LEN);
	}
	BN_clear_free(bn);
	tv_wipe(buf, sizeof(buf));
	return key;
}

static void S_arm(void)
{
	g_watch.frees = g_watch.residue = g_watch.unwiped = 0;
	g_watch.armed = true;
}

static void S_disarm(void)
{
	g_watch.armed = false;
}

/* ---- the allocator itself ------------------------------------------------- */

static void test_semantics(void **state)
{
	unsigned char *p, *q;
	size_t i;
	char *s;

	(void)state;
	p = tv_wipeheap_malloc(10);
	assert_non_null(p);
	for (i = 0; i < 10; i++)
		p[i] = (unsigned char)i;
	q = tv_wipeheap_realloc(p, 4); /* shrinking keeps the block */
	assert_ptr_equal(q, p);
	q = tv_wipeheap_realloc(p, 100000); /* growing copies */
	assert_non_null(q);
	for (i = 0; i < 10; i++)
		assert_int_equal(q[i], i);
	assert_null(tv_wipeheap_realloc(q, 0)); /* frees */
	p = tv_wipeheap_realloc(NULL, 8);
	assert_non_null(p);
	tv_wipeheap_free(p);
	tv_wipeheap_free(NULL);

	p = tv_wipeheap_calloc(16, 4);
	assert_non_null(p);
	for (i = 0; i < 64; i++)
		assert_int_equal(p[i], 0);
	tv_wipeheap_free(p);

	s = tv_wipeheap_strdup("tppl-api-key: x");
	assert_string_equal(s, "tppl-api-key: x");
	tv_wipeheap_free(s);

	/* OpenSSL's own rule: a 0-byte allocation is NULL */
	assert_null(tv_wipeheap_ossl_malloc(0, __FILE__, __LINE__));
	assert_null(tv_wipeheap_ossl_realloc(NULL, 0, __FILE__, __LINE__));
}

static void test_wipe(void **state)
{
	unsigned char *p = malloc(100);
	size_t n, i;

	(void)state;
	assert_non_null(p);
	n = malloc_usable_size(p);
	memset(p, 0xa5, n);
	tv_wipeheap_wipe(p);
	for (i = 0; i < n; i++)
		assert_int_equal(p[i], 0);
	free(p);
	tv_wipeheap_wipe(NULL);
}

/* ---- OpenSSL through it ----------------------------------------------------- */

/* The seal path of an import and the load path of an export, for one key. */
static void S_key_paths(const char *name)
{
	EVP_PKEY *key = S_watch_key(name), *back;
	struct tv_secbuf *p8 = NULL;
	const unsigned char *p;

	S_arm();
	assert_int_equal(tv_pki_key_to_pkcs8(&p8, key), TV_OK);
	p = p8->p;
	back = d2i_AutoPrivateKey_ex(NULL, &p, (long)p8->len, tv_pki_libctx(g_ctx), NULL);
	assert_non_null(back);
	assert_int_equal(EVP_PKEY_eq(back, key), 1);
	EVP_PKEY_free(back);
	tv_secbuf_free(p8);
	S_disarm();
	print_message("%s: OpenSSL freed %zu blocks, %zu of them holding the key unwiped\n",
		      name, g_watch.frees, g_watch.residue);
	assert_true(g_watch.frees > 0);   /* the hook is installed */
	assert_true(g_watch.residue > 0); /* the gap: see the comment at the top */
	assert_int_equal(g_watch.unwiped, 0);
	EVP_PKEY_free(key);
}

static void test_openssl_key_residue(void **state)
{
	(void)state;
	S_key_paths("p256");
	S_key_paths("rsa2048");
	S_key_paths("ed25519");
}

/* The writers and the reader, end to end with the allocator in place. */
static void test_openssl_round_trip(void **state)
{
	EVP_PKEY *key = S_watch_key("p384");
	X509 *cert = tvt_fixture_cert("p384");
	struct tv_p12_contents *c = NULL;
	struct tv_secbuf *p12 = NULL;
	char msg[TV_REASON_MSG_SIZE];

	(void)state;
	S_arm();
	assert_int_equal(tv_p12_write(&p12, g_ctx, key, cert, NULL, "a", "pw", 2, TV_P12_MODERN),
			 TV_OK);
	assert_int_equal(tv_p12_read(&c, g_ctx, p12->p, p12->len, "pw", 2, NULL, msg, sizeof(msg)),
			 TV_REASON_OK);
	assert_int_equal(c->pair_count, 1);
	assert_int_equal(EVP_PKEY_eq(tv_p12_pair_key(c, 0), key), 1);
	tv_p12_contents_free(c);
	tv_secbuf_free(p12);
	S_disarm();
	assert_true(g_watch.residue > 0);
	assert_int_equal(g_watch.unwiped, 0);
	EVP_PKEY_free(key);
	X509_free(cert);
}

/*
 * A plain "PRIVATE KEY" PEM sent as passwordEncryptedPrivateKey is refused,
 * and the reader frees its decoding of it cleansed (pki/pkcs8.c reads PEM
 * with PEM_FLAG_SECURE): nothing of the key is left to the allocator.
 */
static void test_pkcs8_plain_pem_refused_clean(void **state)
{
	EVP_PKEY *key = S_watch_key("p256");
	struct tv_p12_contents *c = NULL;
	char msg[TV_REASON_MSG_SIZE], *pem;
	unsigned char *cert;
	size_t cert_len;
	BIO *bio;
	long len;

	(void)state;
	cert = tvt_read_fmt(&cert_len, "%s/keys/p256.crt.pem", TVT_FIXTURES);
	bio = BIO_new(BIO_s_secmem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(bio, &pem);
	assert_true(len > 0);
	S_arm();
	assert_int_equal(tv_pkcs8_read_encrypted_pem(&c, g_ctx, pem, (size_t)len, "pw", 2, cert,
						     cert_len, NULL, msg, sizeof(msg)),
			 TV_REASON_MALFORMED_KEYSTORE);
	S_disarm();
	assert_null(c);
	assert_non_null(strstr(msg, "is not an ENCRYPTED PRIVATE KEY"));
	assert_true(g_watch.frees > 0);
	assert_int_equal(g_watch.residue, 0);
	assert_int_equal(g_watch.unwiped, 0);
	BIO_free(bio);
	free(cert);
	EVP_PKEY_free(key);
}

static int S_setup(void **state)
{
	(void)state;
	if (tv_secmem_init() != TV_OK)
		return -1;
	return tv_pki_ctx_new(&g_ctx) == TV_OK ? 0 : -1;
}

static int S_teardown(void **state)
{
	(void)state;
	tv_pki_ctx_free(g_ctx);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_semantics),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_openssl_key_residue),
		cmocka_unit_test(test_openssl_round_trip),
		cmocka_unit_test(test_pkcs8_plain_pem_refused_clean),
	};

	/* before anything can make OpenSSL allocate */
	if (!CRYPTO_set_mem_functions(tv_wipeheap_ossl_malloc, tv_wipeheap_ossl_realloc,
				      S_free_hook)) {
		fprintf(stderr, "CRYPTO_set_mem_functions refused: OpenSSL allocated already\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
