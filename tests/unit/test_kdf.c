/* tv-test-libs: tv_pki */
/*
 * test_kdf.c - the readers' fast KDFs (pki/kdf.h): PBKDF2-HMAC and the
 * PKCS#12 KDF on precomputed hash states. Known answers from RFC 6070
 * (PBKDF2-HMAC-SHA1) and RFC 7914 section 11 (PBKDF2-HMAC-SHA256); every
 * digest, output lengths across block boundaries, long and empty passwords
 * and salts checked against OpenSSL's PKCS5_PBKDF2_HMAC and
 * PKCS12_key_gen_uni/utf8; a seeded random comparison with OpenSSL; and the
 * reader's wrappers in pbe.c (fast path and the EVP fallback).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>

#include "pki/kdf.h"
#include "pki/pbe.h"
#include "pki/pki.h"

#define S_RANDOM_SETS 300
#define S_MAX_N 300

static const struct {
	enum tv__kdf_md md;
	const char *name;
	const EVP_MD *(*evp)(void);
} S_mds[] = {
	{ TV__KDF_SHA1, "SHA1", EVP_sha1 },
	{ TV__KDF_SHA224, "SHA224", EVP_sha224 },
	{ TV__KDF_SHA256, "SHA256", EVP_sha256 },
	{ TV__KDF_SHA384, "SHA384", EVP_sha384 },
	{ TV__KDF_SHA512, "SHA512", EVP_sha512 },
};
#define S_NMDS (sizeof(S_mds) / sizeof(S_mds[0]))

/* "0c60c8..." into bytes; returns the length. */
static size_t S_unhex(unsigned char *out, size_t size, const char *hex)
{
	size_t n = strlen(hex) / 2, i;
	unsigned int byte;

	assert_true(n <= size);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
		out[i] = (unsigned char)byte;
	}
	return n;
}

/* A small deterministic generator, so a failure is reproducible. */
static uint64_t S_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void S_rand_bytes(uint64_t *s, unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)S_rand(s);
}

/* A batch of one job, at every width, gives want[0..n) and no more. */
static void S_check_batch_one(enum tv__kdf_kind kind, enum tv__kdf_md md,
			      const unsigned char *pass, size_t pass_len,
			      const unsigned char *salt, size_t salt_len,
			      unsigned char id, uint64_t iter,
			      const unsigned char *want, size_t n)
{
	unsigned char got[S_MAX_N];
	struct tv__kdf_job job;
	unsigned width;

	assert_true(n <= S_MAX_N);
	for (width = 1; width <= 3; width++) {
		memset(got, 0xAA, sizeof(got));
		memset(&job, 0, sizeof(job));
		job.kind = kind;
		job.md = md;
		job.pass = pass;
		job.pass_len = pass_len;
		job.salt = salt;
		job.salt_len = salt_len;
		job.iter = iter;
		job.id = id;
		job.out = got;
		job.n = n;
		assert_true(tv__kdf_batch_width(&job, 1, width));
		assert_true(job.ok);
		assert_memory_equal(got, want, n);
		if (n < S_MAX_N)
			assert_int_equal(got[n], 0xAA);
	}
}

static void S_check_pbkdf2(enum tv__kdf_md md, const EVP_MD *evp,
			   const unsigned char *pass, size_t pass_len,
			   const unsigned char *salt, size_t salt_len,
			   uint64_t iter, size_t n)
{
	unsigned char ours[S_MAX_N], theirs[S_MAX_N];

	assert_true(n <= S_MAX_N);
	memset(ours, 0xAA, sizeof(ours));
	assert_true(tv__kdf_pbkdf2_run(ours, n, md, pass, pass_len, salt,
				       salt_len, iter));
	assert_int_equal(PKCS5_PBKDF2_HMAC((const char *)pass, (int)pass_len,
					   salt, (int)salt_len, (int)iter, evp,
					   (int)n, theirs),
			 1);
	assert_memory_equal(ours, theirs, n);
	/* nothing written past n */
	if (n < S_MAX_N)
		assert_int_equal(ours[n], 0xAA);
	S_check_batch_one(TV__KDF_PBKDF2, md, pass, pass_len, salt, salt_len, 0,
			  iter, theirs, n);
}

static void S_check_pkcs12(enum tv__kdf_md md, const EVP_MD *evp,
			   const unsigned char *bmp, size_t bmp_len,
			   const unsigned char *salt, size_t salt_len, int id,
			   uint64_t iter, size_t n)
{
	unsigned char ours[S_MAX_N], theirs[S_MAX_N];
	unsigned char salt_copy[512];

	assert_true(n <= S_MAX_N && salt_len <= sizeof(salt_copy));
	memcpy(salt_copy, salt, salt_len); /* OpenSSL takes a non-const salt */
	memset(ours, 0xAA, sizeof(ours));
	assert_true(tv__kdf_pkcs12_run(ours, n, md, bmp, bmp_len, salt,
				       salt_len, (unsigned char)id, iter));
	assert_int_equal(PKCS12_key_gen_uni((unsigned char *)bmp, (int)bmp_len,
					    salt_copy, (int)salt_len, id,
					    (int)iter, (int)n, theirs, evp),
			 1);
	assert_memory_equal(ours, theirs, n);
	if (n < S_MAX_N)
		assert_int_equal(ours[n], 0xAA);
	S_check_batch_one(TV__KDF_PKCS12, md, bmp, bmp_len, salt, salt_len,
			  (unsigned char)id, iter, theirs, n);
}

/* ---- known answers --------------------------------------------------- */

static void S_kat(enum tv__kdf_md md, const char *pass, size_t pass_len,
		  const char *salt, size_t salt_len, uint64_t iter,
		  const char *hex)
{
	unsigned char want[128], got[128];
	size_t n = S_unhex(want, sizeof(want), hex);

	assert_true(tv__kdf_pbkdf2_run(got, n, md, (const unsigned char *)pass,
				       pass_len, (const unsigned char *)salt,
				       salt_len, iter));
	assert_memory_equal(got, want, n);
	S_check_batch_one(TV__KDF_PBKDF2, md, (const unsigned char *)pass,
			  pass_len, (const unsigned char *)salt, salt_len, 0,
			  iter, want, n);
}

#define S_KAT(md, p, s, c, hex) S_kat(md, p, sizeof(p) - 1, s, sizeof(s) - 1, c, hex)

static void test_rfc6070_pbkdf2_sha1(void **state)
{
	(void)state;
	S_KAT(TV__KDF_SHA1, "password", "salt", 1,
	      "0c60c80f961f0e71f3a9b524af6012062fe037a6");
	S_KAT(TV__KDF_SHA1, "password", "salt", 2,
	      "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
	S_KAT(TV__KDF_SHA1, "password", "salt", 4096,
	      "4b007901b765489abead49d926f721d065a429c1");
	S_KAT(TV__KDF_SHA1, "passwordPASSWORDpassword",
	      "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096,
	      "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038");
	S_KAT(TV__KDF_SHA1, "pass\0word", "sa\0lt", 4096,
	      "56fa6aa75548099dcc37d7f03425e0c3");
}

static void test_rfc7914_pbkdf2_sha256(void **state)
{
	(void)state;
	S_KAT(TV__KDF_SHA256, "passwd", "salt", 1,
	      "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
	      "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
	S_KAT(TV__KDF_SHA256, "Password", "NaCl", 80000,
	      "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
	      "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

/* ---- against OpenSSL, chosen parameters ------------------------------- */

static void test_pbkdf2_lengths_vs_openssl(void **state)
{
	static const size_t lens[] = { 1, 7, 19, 20, 21, 31, 32, 33, 47, 48,
				       49, 63, 64, 65, 127, 128, 129, 200, 257 };
	static const size_t pass_lens[] = { 0, 1, 55, 64, 65, 127, 128, 129, 300 };
	unsigned char pass[300], salt[300];
	uint64_t seed = 0x6b64665f6c656e73ULL;
	size_t m, i, p;

	(void)state;
	S_rand_bytes(&seed, pass, sizeof(pass));
	S_rand_bytes(&seed, salt, sizeof(salt));
	for (m = 0; m < S_NMDS; m++) {
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
			S_check_pbkdf2(S_mds[m].md, S_mds[m].evp(), pass, 12,
				       salt, 16, 3, lens[i]);
		for (p = 0; p < sizeof(pass_lens) / sizeof(pass_lens[0]); p++) {
			/* passwords around and over the block (the key is
			 * hashed when longer); salts that need 1-3 blocks */
			S_check_pbkdf2(S_mds[m].md, S_mds[m].evp(), pass,
				       pass_lens[p], salt, pass_lens[p] % 200, 2,
				       70);
		}
		S_check_pbkdf2(S_mds[m].md, S_mds[m].evp(), pass, 0, salt, 0,
			       5, 33);
		S_check_pbkdf2(S_mds[m].md, S_mds[m].evp(), pass, 20, salt, 20,
			       2048, 64);
	}
}

static void test_pkcs12_vs_openssl(void **state)
{
	static const size_t lens[] = { 1, 5, 8, 16, 20, 24, 28, 32, 40, 48,
				       64, 65, 100, 129, 257 };
	static const size_t salt_lens[] = { 0, 1, 8, 20, 63, 64, 65, 127,
					    128, 129, 300 };
	unsigned char bmp[300], salt[300];
	uint64_t seed = 0x706b637331322121ULL;
	size_t m, i;
	int id;

	(void)state;
	S_rand_bytes(&seed, bmp, sizeof(bmp));
	S_rand_bytes(&seed, salt, sizeof(salt));
	for (m = 0; m < S_NMDS; m++) {
		const EVP_MD *evp = S_mds[m].evp();

		for (id = 1; id <= 3; id++)
			for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
				S_check_pkcs12(S_mds[m].md, evp, bmp, 18, salt,
					       8, id, 4, lens[i]);
		for (i = 0; i < sizeof(salt_lens) / sizeof(salt_lens[0]); i++) {
			/* salts and passwords shorter, equal to and longer
			 * than a block, with keys of several digests */
			S_check_pkcs12(S_mds[m].md, evp, bmp, 2 * i + 2, salt,
				       salt_lens[i], 1, 3, 150);
			S_check_pkcs12(S_mds[m].md, evp, bmp,
				       salt_lens[i] & ~(size_t)1, salt, 20, 2,
				       2, 129);
		}
		/* the empty password ("" is 00 00) and the absent one */
		S_check_pkcs12(S_mds[m].md, evp, (const unsigned char *)"\0", 2,
			       salt, 8, 3, 7, 64);
		S_check_pkcs12(S_mds[m].md, evp, NULL, 0, salt, 8, 3, 7, 64);
		S_check_pkcs12(S_mds[m].md, evp, bmp, 10, salt, 20, 3, 2048,
			       32);
	}
}

/* The ID bytes and the UTF-8 to BMPString path of PKCS12_key_gen_utf8. */
static void test_pkcs12_utf8_vs_openssl(void **state)
{
	static const char *passwords[] = {
		NULL, "", "fixture-pass",
		"p\xc3\xa4ssw\xc3\xb6rd-\xe5\xaf\x86\xe7\xa0\x81\xf0\x9f\x94\x91",
	};
	unsigned char salt[20], ours[100], theirs[100];
	unsigned char *bmp = NULL;
	int bmp_len = 0, id;
	size_t m, p;

	(void)state;
	memset(salt, 0x5A, sizeof(salt));
	for (p = 0; p < sizeof(passwords) / sizeof(passwords[0]); p++) {
		const char *pw = passwords[p];

		bmp = NULL;
		bmp_len = 0;
		if (pw)
			assert_non_null(OPENSSL_utf82uni(pw, (int)strlen(pw),
							 &bmp, &bmp_len));
		for (m = 0; m < S_NMDS; m++) {
			for (id = 1; id <= 3; id++) {
				assert_true(tv__kdf_pkcs12_run(
					ours, sizeof(ours), S_mds[m].md, bmp,
					(size_t)bmp_len, salt, sizeof(salt),
					(unsigned char)id, 10));
				assert_int_equal(PKCS12_key_gen_utf8(
					pw, pw ? (int)strlen(pw) : 0, salt,
					sizeof(salt), id, 10, sizeof(ours),
					theirs, S_mds[m].evp()), 1);
				assert_memory_equal(ours, theirs, sizeof(ours));
			}
		}
		OPENSSL_clear_free(bmp, (size_t)bmp_len);
	}
}

/* ---- seeded random comparison ---------------------------------------- */

static void test_random_vs_openssl(void **state)
{
	unsigned char pass[400], salt[400];
	uint64_t seed = 0x74762d6b64662d31ULL;
	size_t set, m, pass_len, salt_len, n;
	uint64_t iter;
	int id;

	(void)state;
	for (set = 0; set < S_RANDOM_SETS; set++) {
		m = S_rand(&seed) % S_NMDS;
		pass_len = S_rand(&seed) % 3 == 0 ? S_rand(&seed) % 400
						  : S_rand(&seed) % 40;
		salt_len = S_rand(&seed) % 4 == 0 ? S_rand(&seed) % 400
						  : S_rand(&seed) % 33;
		n = 1 + S_rand(&seed) % 200;
		iter = 1 + S_rand(&seed) % 40;
		id = 1 + (int)(S_rand(&seed) % 3);
		S_rand_bytes(&seed, pass, pass_len);
		S_rand_bytes(&seed, salt, salt_len);
		S_check_pbkdf2(S_mds[m].md, S_mds[m].evp(), pass, pass_len,
			       salt, salt_len, iter, n);
		if (pass_len == 0 && salt_len == 0)
			continue; /* refused by both: test_refusals */
		S_check_pkcs12(S_mds[m].md, S_mds[m].evp(), pass, pass_len,
			       salt, salt_len, id, iter, n);
	}
}

/* ---- refusals and names ------------------------------------------------ */

static void test_refusals(void **state)
{
	unsigned char out[32], salt[1] = { 0 };
	enum tv__kdf_md md = TV__KDF_SHA256;

	(void)state;
	memset(out, 0x11, sizeof(out));
	assert_false(tv__kdf_pbkdf2_run(out, 0, md, salt, 1, salt, 1, 1));
	assert_false(tv__kdf_pbkdf2_run(out, 32, md, salt, 1, salt, 1, 0));
	assert_false(tv__kdf_pkcs12_run(out, 0, md, salt, 1, salt, 1, 1, 1));
	assert_false(tv__kdf_pkcs12_run(out, 32, md, salt, 1, salt, 1, 1, 0));
	/* empty I: OpenSSL refuses it as well */
	assert_false(tv__kdf_pkcs12_run(out, 32, md, NULL, 0, salt, 0, 3, 1));
	assert_int_equal(PKCS12_key_gen_uni(NULL, 0, salt, 0, 3, 1, 32, out,
					    EVP_sha256()), 0);
	assert_true(tv__kdf_pkcs12_run(out, 32, md, NULL, 0, salt, 1, 3, 1));
}

static void test_md_names(void **state)
{
	enum tv__kdf_md md = TV__KDF_SHA1;
	size_t m;

	(void)state;
	for (m = 0; m < S_NMDS; m++) {
		assert_true(tv__kdf_md_by_name(&md, S_mds[m].name));
		assert_int_equal(md, S_mds[m].md);
	}
	md = TV__KDF_SHA384;
	assert_false(tv__kdf_md_by_name(&md, "MD5"));
	assert_false(tv__kdf_md_by_name(&md, "sha256"));
	assert_false(tv__kdf_md_by_name(&md, "SHA3-256"));
	assert_false(tv__kdf_md_by_name(&md, NULL));
	assert_int_equal(md, TV__KDF_SHA384);
}

/* ---- the reader's wrappers (pbe.c) -------------------------------------- */

static void test_reader_wrappers(void **state)
{
	static const char *digests[] = { "SHA1", "SHA256", "SHA512",
					 "SHA3-256" /* the EVP fallback */ };
	static const char *passwords[] = { NULL, "", "fixture-pass" };
	struct tv_pki_ctx *ctx = NULL;
	struct tv__pass_list list;
	unsigned char salt[16], ours[40], theirs[40];
	char msg[TV_REASON_MSG_SIZE];
	size_t d, p, k;
	int id;

	(void)state;
	memset(salt, 0x3C, sizeof(salt));
	assert_int_equal(tv_pki_ctx_new(&ctx), TV_OK);
	for (p = 0; p < sizeof(passwords) / sizeof(passwords[0]); p++) {
		const char *pw = passwords[p];

		assert_int_equal(tv__pass_list_init(&list, pw, pw ? strlen(pw) : 0,
						    msg, sizeof(msg)),
				 TV_REASON_OK);
		for (k = 0; k < list.count; k++) {
			const struct tv__pass *pass = &list.pass[k];

			for (d = 0; d < sizeof(digests) / sizeof(digests[0]); d++) {
				const EVP_MD *evp = EVP_get_digestbyname(digests[d]);

				assert_non_null(evp);
				assert_int_equal(tv__kdf_pbkdf2(ours, sizeof(ours), ctx,
								digests[d], pass, salt,
								sizeof(salt), 17, msg,
								sizeof(msg)),
						 TV_REASON_OK);
				assert_int_equal(PKCS5_PBKDF2_HMAC(
					(const char *)pass->utf8->p,
					(int)pass->utf8->len, salt, sizeof(salt), 17,
					evp, sizeof(ours), theirs), 1);
				assert_memory_equal(ours, theirs, sizeof(ours));
				for (id = 1; id <= 3; id++) {
					assert_int_equal(tv__kdf_pkcs12(
						ours, sizeof(ours), ctx, digests[d], pass,
						salt, sizeof(salt), id, 9, msg,
						sizeof(msg)), TV_REASON_OK);
					assert_int_equal(PKCS12_key_gen_uni(
						pass->bmp->len ? pass->bmp->p : NULL,
						(int)pass->bmp->len, salt, sizeof(salt),
						id, 9, sizeof(ours), theirs, evp), 1);
					assert_memory_equal(ours, theirs, sizeof(ours));
				}
			}
		}
		tv__pass_list_release(&list);
	}
	tv_pki_ctx_free(ctx);
}

/* ---- the batch (several chains at once) ------------------------------- */

/* SHA-256 of msg through the SHA-NI compression, k messages at once,
 * padded here; against OpenSSL's SHA256 of each. */
static void test_sha256_ni_vs_openssl(void **state)
{
	unsigned char msg[3][300], blocks[3][64], want[32], got[32];
	uint32_t h[3][8];
	uint64_t seed = 0x74762d73686132ULL;
	size_t len[3], nblk[3], k, l, b, i, total, set;
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372,
					0xa54ff53a, 0x510e527f, 0x9b05688c,
					0x1f83d9ab, 0x5be0cd19 };
	unsigned char padded[3][384];

	(void)state;
	if (tv__kdf_max_width() < 2) {
		uint32_t one[1][8];
		const unsigned char blk[1][64] = { { 0 } };

		assert_false(tv__kdf_sha256_ni(one, blk, 1));
		skip();
	}
	for (set = 0; set < 200; set++) {
		k = 1 + S_rand(&seed) % 3;
		for (l = 0; l < k; l++) {
			len[l] = S_rand(&seed) % 300;
			S_rand_bytes(&seed, msg[l], len[l]);
			/* message, 0x80, zeros, 64-bit bit length */
			total = (len[l] + 9 + 63) / 64 * 64;
			memset(padded[l], 0, sizeof(padded[l]));
			memcpy(padded[l], msg[l], len[l]);
			padded[l][len[l]] = 0x80;
			for (i = 0; i < 8; i++)
				padded[l][total - 1 - i] =
					(unsigned char)(((uint64_t)len[l] * 8) >> (8 * i));
			nblk[l] = total / 64;
			memcpy(h[l], iv, sizeof(iv));
		}
		/* the lanes run in step; a lane whose message has ended
		 * compresses garbage into a copy that is thrown away */
		for (b = 0; b < 6; b++) {
			uint32_t keep[3][8];

			memcpy(keep, h, sizeof(keep));
			for (l = 0; l < k; l++)
				memcpy(blocks[l], padded[l] + 64 * (b < nblk[l] ? b : 0), 64);
			assert_true(tv__kdf_sha256_ni(h, (const unsigned char (*)[64])blocks, k));
			for (l = 0; l < k; l++)
				if (b >= nblk[l])
					memcpy(h[l], keep[l], sizeof(h[l]));
		}
		for (l = 0; l < k; l++) {
			for (i = 0; i < 8; i++) {
				got[4 * i] = (unsigned char)(h[l][i] >> 24);
				got[4 * i + 1] = (unsigned char)(h[l][i] >> 16);
				got[4 * i + 2] = (unsigned char)(h[l][i] >> 8);
				got[4 * i + 3] = (unsigned char)h[l][i];
			}
			assert_non_null(SHA256(msg[l], len[l], want));
			assert_memory_equal(got, want, 32);
		}
	}
	assert_false(tv__kdf_sha256_ni(h, (const unsigned char (*)[64])blocks, 0));
	assert_false(tv__kdf_sha256_ni(h, (const unsigned char (*)[64])blocks, 4));
}

#define S_BATCH_MAX 12

/* Mixed batches (both KDFs, SHA-256 with SHA-1 and the others mixed in,
 * different iterations and lengths, multi-block outputs, refusals) at
 * every width, against single runs and against OpenSSL. */
static void test_batch_mixed_vs_single(void **state)
{
	struct tv__kdf_job jobs[S_BATCH_MAX];
	unsigned char pass[S_BATCH_MAX][80], salt[S_BATCH_MAX][40];
	unsigned char out[S_BATCH_MAX][S_MAX_N], single[S_MAX_N], theirs[S_MAX_N];
	uint64_t seed = 0x74762d6261746368ULL;
	size_t set, i, nj, m;
	unsigned width;
	bool all, ok;

	(void)state;
	for (set = 0; set < 60; set++) {
		nj = 1 + S_rand(&seed) % S_BATCH_MAX;
		memset(jobs, 0, sizeof(jobs));
		for (i = 0; i < nj; i++) {
			struct tv__kdf_job *j = &jobs[i];

			/* two in three SHA-256, the rest any digest */
			m = S_rand(&seed) % 3 ? 2 : S_rand(&seed) % S_NMDS;
			j->md = S_mds[m].md;
			j->kind = S_rand(&seed) % 2 ? TV__KDF_PBKDF2 : TV__KDF_PKCS12;
			j->pass_len = S_rand(&seed) % 5 == 0 ? 0 : S_rand(&seed) % 80;
			j->salt_len = S_rand(&seed) % 5 == 0 ? 0 : S_rand(&seed) % 40;
			S_rand_bytes(&seed, pass[i], j->pass_len);
			S_rand_bytes(&seed, salt[i], j->salt_len);
			j->pass = pass[i];
			j->salt = salt[i];
			j->iter = S_rand(&seed) % 25 == 0 ? 0 : 1 + S_rand(&seed) % 60;
			j->id = (unsigned char)(1 + S_rand(&seed) % 3);
			j->n = S_rand(&seed) % 25 == 0 ? 0 :
			       S_rand(&seed) % 3 == 0 ? 1 + S_rand(&seed) % S_MAX_N :
							1 + S_rand(&seed) % 40;
			j->out = out[i];
		}
		for (width = 1; width <= 4; width++) {
			memset(out, 0xAA, sizeof(out));
			for (i = 0; i < nj; i++)
				jobs[i].ok = !jobs[i].ok; /* the batch must set it */
			all = tv__kdf_batch_width(jobs, nj, width);
			ok = true;
			for (i = 0; i < nj; i++) {
				const struct tv__kdf_job *j = &jobs[i];
				bool want_ok;

				memset(single, 0xAA, sizeof(single));
				if (j->kind == TV__KDF_PBKDF2)
					want_ok = tv__kdf_pbkdf2_run(single, j->n, j->md, j->pass,
								     j->pass_len, j->salt,
								     j->salt_len, j->iter);
				else
					want_ok = tv__kdf_pkcs12_run(single, j->n, j->md, j->pass,
								     j->pass_len, j->salt,
								     j->salt_len, j->id, j->iter);
				assert_int_equal(j->ok, want_ok);
				ok = ok && want_ok;
				/* out unchanged after a refusal, nothing past n */
				assert_memory_equal(out[i], single, S_MAX_N);
				if (!want_ok)
					continue;
				if (j->kind == TV__KDF_PBKDF2) {
					assert_int_equal(PKCS5_PBKDF2_HMAC(
						(const char *)j->pass, (int)j->pass_len, j->salt,
						(int)j->salt_len, (int)j->iter,
						S_mds[j->md].evp(), (int)j->n, theirs), 1);
				} else {
					unsigned char sc[40];

					memcpy(sc, j->salt, j->salt_len);
					assert_int_equal(PKCS12_key_gen_uni(
						j->pass_len ? (unsigned char *)j->pass : NULL,
						(int)j->pass_len, sc, (int)j->salt_len, j->id,
						(int)j->iter, (int)j->n, theirs,
						S_mds[j->md].evp()), 1);
				}
				assert_memory_equal(out[i], theirs, j->n);
			}
			assert_int_equal(all, ok);
		}
	}
	assert_true(tv__kdf_batch(jobs, 0));
}

/* A keystore's shape at real counts: the MAC's PKCS#12 KDF and two
 * PBKDF2s of 2,048 iterations, in one batch, against OpenSSL. */
static void test_batch_keystore_shape(void **state)
{
	static const unsigned char bmp[] = { 0, 'p', 0, 'w', 0, 0 };
	unsigned char salt[3][20], out[3][32], theirs[32];
	struct tv__kdf_job jobs[3];
	size_t i;

	(void)state;
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 3; i++) {
		memset(salt[i], (int)(0x41 + i), sizeof(salt[i]));
		jobs[i].md = TV__KDF_SHA256;
		jobs[i].kind = i == 0 ? TV__KDF_PKCS12 : TV__KDF_PBKDF2;
		jobs[i].pass = i == 0 ? bmp : (const unsigned char *)"pw";
		jobs[i].pass_len = i == 0 ? sizeof(bmp) : 2;
		jobs[i].salt = salt[i];
		jobs[i].salt_len = sizeof(salt[i]);
		jobs[i].iter = 2048;
		jobs[i].id = 3;
		jobs[i].out = out[i];
		jobs[i].n = 32;
	}
	assert_true(tv__kdf_batch(jobs, 3));
	assert_int_equal(PKCS12_key_gen_uni((unsigned char *)bmp, sizeof(bmp), salt[0], 20,
					    3, 2048, 32, theirs, EVP_sha256()), 1);
	assert_memory_equal(out[0], theirs, 32);
	for (i = 1; i < 3; i++) {
		assert_int_equal(PKCS5_PBKDF2_HMAC("pw", 2, salt[i], 20, 2048,
						   EVP_sha256(), 32, theirs), 1);
		assert_memory_equal(out[i], theirs, 32);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6070_pbkdf2_sha1),
		cmocka_unit_test(test_rfc7914_pbkdf2_sha256),
		cmocka_unit_test(test_pbkdf2_lengths_vs_openssl),
		cmocka_unit_test(test_pkcs12_vs_openssl),
		cmocka_unit_test(test_pkcs12_utf8_vs_openssl),
		cmocka_unit_test(test_random_vs_openssl),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_md_names),
		cmocka_unit_test(test_reader_wrappers),
		cmocka_unit_test(test_sha256_ni_vs_openssl),
		cmocka_unit_test(test_batch_mixed_vs_single),
		cmocka_unit_test(test_batch_keystore_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
