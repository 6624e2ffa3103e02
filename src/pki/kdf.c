/*
 * DESIGN: see kdf.h. Why this file exists: OpenSSL 3.0's PBKDF2 and
 * PKCS12KDF run HMAC and the digest through the provider machinery for
 * every iteration (a context reset, an update and a final, each with its
 * own copies and padding) and take about twice the physical cost of the
 * hashing they need. The work is fixed by the formats:
 *
 * - PBKDF2-HMAC: U_j = HMAC(P, U_{j-1}). With the states after the ipad
 *   and opad key blocks computed once, each iteration is exactly one
 *   compression for the inner hash (U_{j-1} plus padding fits one block)
 *   and one for the outer hash, so the loop only copies a chaining value,
 *   compresses, and writes the result big-endian into the next block, whose
 *   padding and length bytes are set once.
 * - PKCS#12 KDF (RFC 7292 B.2): A = H^r(D || I). After the first digest
 *   each iteration hashes u < v bytes: one compression from the IV.
 *   The D block's state is computed once per call. The I blocks are never
 *   stored: the update I_j := I_j + B + 1 (mod 2^8v) adds the same value to
 *   every block, so round i's I_j is the original block (salt or password
 *   repeated) plus the running sum delta of all (B + 1) so far, and is
 *   rebuilt on the fly from salt, password and delta.
 *
 * The compression functions are OpenSSL's low-level SHA1/SHA256/SHA512
 * _Transform, which run on SHA-NI where the CPU has it (one 64-byte
 * SHA-256 block in about 45 ns on the reference machine). They are
 * deprecated in OpenSSL 3's headers, so this file, and only this file,
 * defines OPENSSL_SUPPRESS_DEPRECATED. Measured on the reference machine
 * (AMD EPYC with SHA-NI, a 2,048-iteration PBKDF2-HMAC-SHA256, against the
 * bound of 4,096 compressions at the cost of one in a long SHA-256): this
 * loop 1.2x the bound, nettle 3.8's pbkdf2_hmac_sha256 1.6x (so nettle is
 * not used), OpenSSL's PKCS5_PBKDF2_HMAC 3.5x. The rest of the gap is
 * the chain itself: each block depends on the previous digest, so its
 * message schedule cannot overlap the previous compression as it does in a
 * long message.
 *
 * Secrets: the working state (HMAC key block, inner/outer states, U, T, the
 * I block, delta) lives in one struct on the stack, wiped with
 * sodium_memzero before every return. Not sodium_malloc: a guarded
 * allocation per call would cost a visible share of a 2,048-iteration KDF,
 * and the memory never outlives the call.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "pki/kdf.h"

#include <string.h>

#include <openssl/sha.h>
#include <sodium.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define S_MAX_BLOCK 128 /* SHA-384/512 */
#define S_MAX_OUT 64

enum S_fam { S_FAM_SHA1, S_FAM_SHA256, S_FAM_SHA512 };

struct S_alg {
	enum S_fam fam;
	size_t block;     /* v: the compression function's block */
	size_t out;       /* u: the digest length */
	size_t len_bytes; /* the length field ending the last block */
};

static const struct S_alg S_algs[] = {
	[TV__KDF_SHA1] = { S_FAM_SHA1, 64, 20, 8 },
	[TV__KDF_SHA224] = { S_FAM_SHA256, 64, 28, 8 },
	[TV__KDF_SHA256] = { S_FAM_SHA256, 64, 32, 8 },
	[TV__KDF_SHA384] = { S_FAM_SHA512, 128, 48, 16 },
	[TV__KDF_SHA512] = { S_FAM_SHA512, 128, 64, 16 },
};

_Static_assert(S_MAX_OUT + 1 + 16 <= S_MAX_BLOCK,
	       "every digest plus its padding fits one block");

/* Only the chaining value (h) of these is used; the counters stay unused. */
union S_ctx {
	SHA_CTX sha1;
	SHA256_CTX sha256;
	SHA512_CTX sha512;
};

bool tv__kdf_md_by_name(enum tv__kdf_md *md, const char *name)
{
	static const struct {
		const char *name;
		enum tv__kdf_md md;
	} names[] = {
		{ "SHA1", TV__KDF_SHA1 },     { "SHA224", TV__KDF_SHA224 },
		{ "SHA256", TV__KDF_SHA256 }, { "SHA384", TV__KDF_SHA384 },
		{ "SHA512", TV__KDF_SHA512 },
	};
	size_t i;

	if (!name)
		return false;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(names[i].name, name)) {
			*md = names[i].md;
			return true;
		}
	}
	return false;
}

/* ---- the compression function, per family ---------------------------- */

static void S_iv(union S_ctx *c, enum tv__kdf_md md)
{
	switch (md) {
	case TV__KDF_SHA1: SHA1_Init(&c->sha1); break;
	case TV__KDF_SHA224: SHA224_Init(&c->sha256); break;
	case TV__KDF_SHA256: SHA256_Init(&c->sha256); break;
	case TV__KDF_SHA384: SHA384_Init(&c->sha512); break;
	case TV__KDF_SHA512: SHA512_Init(&c->sha512); break;
	}
}

/* The inline helpers below take fam as a constant in the hot loops (see
 * S_pbkdf2_rounds_*), so the switch folds away there. */
static inline __attribute__((always_inline)) void
S_copy_cv(enum S_fam fam, union S_ctx *dst, const union S_ctx *src)
{
	switch (fam) {
	case S_FAM_SHA1:
		dst->sha1.h0 = src->sha1.h0;
		dst->sha1.h1 = src->sha1.h1;
		dst->sha1.h2 = src->sha1.h2;
		dst->sha1.h3 = src->sha1.h3;
		dst->sha1.h4 = src->sha1.h4;
		break;
	case S_FAM_SHA256:
		memcpy(dst->sha256.h, src->sha256.h, sizeof(dst->sha256.h));
		break;
	case S_FAM_SHA512:
		memcpy(dst->sha512.h, src->sha512.h, sizeof(dst->sha512.h));
		break;
	}
}

static inline __attribute__((always_inline)) void
S_compress(enum S_fam fam, union S_ctx *c, const unsigned char *block)
{
	switch (fam) {
	case S_FAM_SHA1: SHA1_Transform(&c->sha1, block); break;
	case S_FAM_SHA256: SHA256_Transform(&c->sha256, block); break;
	case S_FAM_SHA512: SHA512_Transform(&c->sha512, block); break;
	}
}

/*
 * Writing the chaining value into the next block: one store per word, not
 * per byte. The compression functions load the block 16 bytes at a time,
 * and a load that spans several narrower stores in flight cannot take its
 * data from them (store-to-load forwarding fails) and waits for them to
 * reach the cache: with byte stores that costs about 25 ns per SHA-256
 * compression here, half as much again as the compression. With SSE2 (every
 * x86-64) whole 16-byte lanes are swapped and stored at once, which the
 * load then forwards from.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define S_HOST_LE 1
#else
#define S_HOST_LE 0
#endif

static inline __attribute__((always_inline)) void S_be32(unsigned char *p,
							  uint32_t w)
{
#if S_HOST_LE
	w = __builtin_bswap32(w);
	memcpy(p, &w, sizeof(w));
#else
	p[0] = (unsigned char)(w >> 24);
	p[1] = (unsigned char)(w >> 16);
	p[2] = (unsigned char)(w >> 8);
	p[3] = (unsigned char)w;
#endif
}

static inline __attribute__((always_inline)) void S_be64(unsigned char *p,
							  uint64_t w)
{
#if S_HOST_LE
	w = __builtin_bswap64(w);
	memcpy(p, &w, sizeof(w));
#else
	S_be32(p, (uint32_t)(w >> 32));
	S_be32(p + 4, (uint32_t)w);
#endif
}

#if defined(__SSE2__) && S_HOST_LE
#define S_SSE2 1
/* Byte-swap each 32-bit lane: swap the 16-bit halves, then the bytes. */
static inline __attribute__((always_inline)) void S_store_be32x4(
	unsigned char *p, __m128i x)
{
	x = _mm_shufflehi_epi16(_mm_shufflelo_epi16(x, 0xB1), 0xB1);
	x = _mm_or_si128(_mm_slli_epi16(x, 8), _mm_srli_epi16(x, 8));
	_mm_storeu_si128((__m128i *)(void *)p, x);
}
#else
#define S_SSE2 0
#endif

/* The digest (the first u bytes of the chaining value, big-endian). */
static inline __attribute__((always_inline)) void
S_put_cv(enum S_fam fam, unsigned char *out, size_t u, const union S_ctx *c)
{
	size_t i;

	switch (fam) {
	case S_FAM_SHA1:
#if S_SSE2
		S_store_be32x4(out, _mm_set_epi32((int)c->sha1.h3, (int)c->sha1.h2,
						  (int)c->sha1.h1, (int)c->sha1.h0));
#else
		S_be32(out, c->sha1.h0);
		S_be32(out + 4, c->sha1.h1);
		S_be32(out + 8, c->sha1.h2);
		S_be32(out + 12, c->sha1.h3);
#endif
		S_be32(out + 16, c->sha1.h4);
		break;
	case S_FAM_SHA256:
		i = 0;
#if S_SSE2
		for (; i + 4 <= u / 4; i += 4)
			S_store_be32x4(out + 4 * i,
				       _mm_loadu_si128((const __m128i *)(const void *)
						       &c->sha256.h[i]));
#endif
		for (; i < u / 4; i++)
			S_be32(out + 4 * i, c->sha256.h[i]);
		break;
	case S_FAM_SHA512:
		for (i = 0; i < u / 8; i++)
			S_be64(out + 8 * i, c->sha512.h[i]);
		break;
	}
}

/* acc ^= c, word by word (XOR commutes with the byte order). */
static inline __attribute__((always_inline)) void
S_xor_cv(enum S_fam fam, union S_ctx *acc, const union S_ctx *c)
{
	size_t i;

	switch (fam) {
	case S_FAM_SHA1:
		acc->sha1.h0 ^= c->sha1.h0;
		acc->sha1.h1 ^= c->sha1.h1;
		acc->sha1.h2 ^= c->sha1.h2;
		acc->sha1.h3 ^= c->sha1.h3;
		acc->sha1.h4 ^= c->sha1.h4;
		break;
	case S_FAM_SHA256:
		for (i = 0; i < 8; i++)
			acc->sha256.h[i] ^= c->sha256.h[i];
		break;
	case S_FAM_SHA512:
		for (i = 0; i < 8; i++)
			acc->sha512.h[i] ^= c->sha512.h[i];
		break;
	}
}

/* ---- streaming hash from a given state --------------------------------- */

struct S_stream {
	const struct S_alg *alg;
	union S_ctx c;
	unsigned char buf[S_MAX_BLOCK];
	size_t fill;
	uint64_t total; /* bytes hashed so far, the prefix blocks included */
};

/* Continue from state from, which has hashed prefix bytes (whole blocks). */
static void S_stream_start(struct S_stream *s, const struct S_alg *alg,
			   const union S_ctx *from, uint64_t prefix)
{
	s->alg = alg;
	s->c = *from;
	s->fill = 0;
	s->total = prefix;
}

static void S_stream_update(struct S_stream *s, const unsigned char *p,
			    size_t n)
{
	size_t v = s->alg->block, take;

	s->total += n;
	while (n > 0) {
		if (s->fill == 0 && n >= v) {
			S_compress(s->alg->fam, &s->c, p);
			p += v;
			n -= v;
			continue;
		}
		take = v - s->fill < n ? v - s->fill : n;
		memcpy(s->buf + s->fill, p, take);
		s->fill += take;
		p += take;
		n -= take;
		if (s->fill == v) {
			S_compress(s->alg->fam, &s->c, s->buf);
			s->fill = 0;
		}
	}
}

/* 0x80, zeros, and the message length in bits at the end of block. */
static void S_pad(const struct S_alg *alg, unsigned char *block, size_t fill,
		  uint64_t total)
{
	block[fill] = 0x80;
	memset(block + fill + 1, 0, alg->block - 8 - fill - 1);
	/* for SHA-512 the high half of the 128-bit length is in the zeros */
	S_be64(block + alg->block - 8, total * 8);
}

/* The digest (alg->out bytes) into out. */
static void S_stream_final(struct S_stream *s, unsigned char *out)
{
	const struct S_alg *alg = s->alg;

	if (s->fill + 1 + alg->len_bytes > alg->block) {
		s->buf[s->fill] = 0x80;
		memset(s->buf + s->fill + 1, 0, alg->block - s->fill - 1);
		S_compress(alg->fam, &s->c, s->buf);
		memset(s->buf, 0, alg->block - 8);
		S_be64(s->buf + alg->block - 8, s->total * 8);
	} else {
		S_pad(alg, s->buf, s->fill, s->total);
	}
	S_compress(alg->fam, &s->c, s->buf);
	S_put_cv(alg->fam, out, alg->out, &s->c);
}

/* ---- PBKDF2 ------------------------------------------------------------- */

struct S_pbkdf2 {
	union S_ctx inner, outer; /* after the ipad / opad key blocks */
	union S_ctx work, t;      /* one hash; the XOR of the U's */
	struct S_stream s;
	unsigned char key[S_MAX_BLOCK];  /* K xor ipad, then K xor opad */
	unsigned char iblk[S_MAX_BLOCK]; /* U_{j-1} and padding, inner hash */
	unsigned char oblk[S_MAX_BLOCK]; /* inner digest and padding, outer */
	unsigned char tout[S_MAX_OUT];
};

/* iter - 1 more rounds after U_1: st->iblk holds U_1, st->t its words. */
static inline __attribute__((always_inline)) void
S_pbkdf2_rounds(enum S_fam fam, size_t u, struct S_pbkdf2 *st,
		uint64_t rounds)
{
	uint64_t r;

	for (r = 0; r < rounds; r++) {
		S_copy_cv(fam, &st->work, &st->inner);
		S_compress(fam, &st->work, st->iblk);
		S_put_cv(fam, st->oblk, u, &st->work);
		S_copy_cv(fam, &st->work, &st->outer);
		S_compress(fam, &st->work, st->oblk);
		S_put_cv(fam, st->iblk, u, &st->work);
		S_xor_cv(fam, &st->t, &st->work);
	}
}

/* One copy of the loop per family and digest length, so that every
 * switch above folds to straight-line code. */
static void S_rounds_sha1(struct S_pbkdf2 *st, uint64_t rounds)
{
	S_pbkdf2_rounds(S_FAM_SHA1, 20, st, rounds);
}

static void S_rounds_sha224(struct S_pbkdf2 *st, uint64_t rounds)
{
	S_pbkdf2_rounds(S_FAM_SHA256, 28, st, rounds);
}

static void S_rounds_sha256(struct S_pbkdf2 *st, uint64_t rounds)
{
	S_pbkdf2_rounds(S_FAM_SHA256, 32, st, rounds);
}

static void S_rounds_sha384(struct S_pbkdf2 *st, uint64_t rounds)
{
	S_pbkdf2_rounds(S_FAM_SHA512, 48, st, rounds);
}

static void S_rounds_sha512(struct S_pbkdf2 *st, uint64_t rounds)
{
	S_pbkdf2_rounds(S_FAM_SHA512, 64, st, rounds);
}

static void S_pbkdf2_loop(enum tv__kdf_md md, struct S_pbkdf2 *st,
			  uint64_t rounds)
{
	switch (md) {
	case TV__KDF_SHA1: S_rounds_sha1(st, rounds); break;
	case TV__KDF_SHA224: S_rounds_sha224(st, rounds); break;
	case TV__KDF_SHA256: S_rounds_sha256(st, rounds); break;
	case TV__KDF_SHA384: S_rounds_sha384(st, rounds); break;
	case TV__KDF_SHA512: S_rounds_sha512(st, rounds); break;
	}
}

/* The HMAC key's inner and outer states (RFC 2104; a key longer than a
 * block is hashed first). */
static void S_hmac_states(struct S_pbkdf2 *st, enum tv__kdf_md md,
			  const unsigned char *pass, size_t pass_len)
{
	const struct S_alg *alg = &S_algs[md];
	size_t i;

	memset(st->key, 0, sizeof(st->key));
	if (pass_len > alg->block) {
		S_iv(&st->work, md);
		S_stream_start(&st->s, alg, &st->work, 0);
		S_stream_update(&st->s, pass, pass_len);
		S_stream_final(&st->s, st->key);
	} else if (pass_len) {
		memcpy(st->key, pass, pass_len);
	}
	for (i = 0; i < alg->block; i++)
		st->key[i] ^= 0x36;
	S_iv(&st->inner, md);
	S_compress(alg->fam, &st->inner, st->key);
	for (i = 0; i < alg->block; i++)
		st->key[i] ^= 0x36 ^ 0x5c;
	S_iv(&st->outer, md);
	S_compress(alg->fam, &st->outer, st->key);
}

bool tv__kdf_pbkdf2_run(unsigned char *out, size_t n, enum tv__kdf_md md,
			const unsigned char *pass, size_t pass_len,
			const unsigned char *salt, size_t salt_len,
			uint64_t iter)
{
	const struct S_alg *alg = &S_algs[md];
	struct S_pbkdf2 st;
	unsigned char counter[4];
	size_t done, take;
	uint32_t block_no;

	if (n == 0 || iter == 0 || (n - 1) / alg->out >= UINT32_MAX)
		return false;
	S_hmac_states(&st, md, pass, pass_len);
	S_pad(alg, st.iblk, alg->out, alg->block + alg->out);
	S_pad(alg, st.oblk, alg->out, alg->block + alg->out);
	for (done = 0, block_no = 1; done < n; done += take, block_no++) {
		/* U_1 = HMAC(P, S || INT(i)) */
		S_be32(counter, block_no);
		S_stream_start(&st.s, alg, &st.inner, alg->block);
		S_stream_update(&st.s, salt, salt_len);
		S_stream_update(&st.s, counter, sizeof(counter));
		S_stream_final(&st.s, st.oblk);
		S_copy_cv(alg->fam, &st.work, &st.outer);
		S_compress(alg->fam, &st.work, st.oblk);
		S_put_cv(alg->fam, st.iblk, alg->out, &st.work);
		S_copy_cv(alg->fam, &st.t, &st.work);
		S_pbkdf2_loop(md, &st, iter - 1);
		S_put_cv(alg->fam, st.tout, alg->out, &st.t);
		take = n - done < alg->out ? n - done : alg->out;
		memcpy(out + done, st.tout, take);
	}
	sodium_memzero(&st, sizeof(st));
	return true;
}

/* ---- the PKCS#12 KDF --------------------------------------------------- */

struct S_pkcs12 {
	union S_ctx iv, d, work; /* the IV; after the D block; one hash */
	struct S_stream s;
	unsigned char dblk[S_MAX_BLOCK];  /* D: v bytes of the id */
	unsigned char iblk[S_MAX_BLOCK];  /* one block of I */
	unsigned char delta[S_MAX_BLOCK]; /* sum of (B + 1) so far, big-endian */
	unsigned char ablk[S_MAX_BLOCK];  /* A_i and its padding */
};

/* A_i = H^(rounds)(A) for the A in st->ablk, one compression each. */
static inline __attribute__((always_inline)) void
S_pkcs12_rounds(enum S_fam fam, size_t u, struct S_pkcs12 *st,
		uint64_t rounds)
{
	uint64_t r;

	for (r = 0; r < rounds; r++) {
		S_copy_cv(fam, &st->work, &st->iv);
		S_compress(fam, &st->work, st->ablk);
		S_put_cv(fam, st->ablk, u, &st->work);
	}
}

static void S_p12_sha1(struct S_pkcs12 *st, uint64_t rounds)
{
	S_pkcs12_rounds(S_FAM_SHA1, 20, st, rounds);
}

static void S_p12_sha224(struct S_pkcs12 *st, uint64_t rounds)
{
	S_pkcs12_rounds(S_FAM_SHA256, 28, st, rounds);
}

static void S_p12_sha256(struct S_pkcs12 *st, uint64_t rounds)
{
	S_pkcs12_rounds(S_FAM_SHA256, 32, st, rounds);
}

static void S_p12_sha384(struct S_pkcs12 *st, uint64_t rounds)
{
	S_pkcs12_rounds(S_FAM_SHA512, 48, st, rounds);
}

static void S_p12_sha512(struct S_pkcs12 *st, uint64_t rounds)
{
	S_pkcs12_rounds(S_FAM_SHA512, 64, st, rounds);
}

static void S_pkcs12_loop(enum tv__kdf_md md, struct S_pkcs12 *st,
			  uint64_t rounds)
{
	switch (md) {
	case TV__KDF_SHA1: S_p12_sha1(st, rounds); break;
	case TV__KDF_SHA224: S_p12_sha224(st, rounds); break;
	case TV__KDF_SHA256: S_p12_sha256(st, rounds); break;
	case TV__KDF_SHA384: S_p12_sha384(st, rounds); break;
	case TV__KDF_SHA512: S_p12_sha512(st, rounds); break;
	}
}

/* Hash the blocks of src repeated to a whole number of v-byte blocks
 * (RFC 7292 B.2 steps 2-3), each plus delta mod 2^8v (step 6C). */
static void S_hash_repeated(struct S_pkcs12 *st, const unsigned char *src,
			    size_t len)
{
	size_t v = st->s.alg->block, blocks, j, k, pos = 0;
	unsigned int carry;

	if (len == 0)
		return;
	blocks = len / v + (len % v != 0);
	for (j = 0; j < blocks; j++) {
		for (k = 0; k < v; k++) {
			st->iblk[k] = src[pos];
			if (++pos == len)
				pos = 0;
		}
		carry = 0;
		for (k = v; k-- > 0;) {
			carry += (unsigned int)st->iblk[k] + st->delta[k];
			st->iblk[k] = (unsigned char)carry;
			carry >>= 8;
		}
		S_stream_update(&st->s, st->iblk, v);
	}
}

/* delta += B + 1 (mod 2^8v), B = A repeated to v bytes (step 6B-C). */
static void S_delta_add(struct S_pkcs12 *st, size_t u, size_t v)
{
	unsigned int carry = 1;
	size_t k;

	for (k = v; k-- > 0;) {
		carry += (unsigned int)st->delta[k] + st->ablk[k % u];
		st->delta[k] = (unsigned char)carry;
		carry >>= 8;
	}
}

bool tv__kdf_pkcs12_run(unsigned char *out, size_t n, enum tv__kdf_md md,
			const unsigned char *pass, size_t pass_len,
			const unsigned char *salt, size_t salt_len,
			unsigned char id, uint64_t iter)
{
	const struct S_alg *alg = &S_algs[md];
	size_t v = alg->block, u = alg->out, done, take;
	struct S_pkcs12 st;

	/* OpenSSL refuses an empty I too (it cannot allocate zero bytes) */
	if (n == 0 || iter == 0 || (salt_len == 0 && pass_len == 0))
		return false;
	memset(&st, 0, sizeof(st));
	S_iv(&st.iv, md);
	memset(st.dblk, id, v);
	st.d = st.iv;
	S_compress(alg->fam, &st.d, st.dblk);
	S_pad(alg, st.ablk, u, u);
	for (done = 0; done < n; done += take) {
		S_stream_start(&st.s, alg, &st.d, v);
		S_hash_repeated(&st, salt, salt_len);
		S_hash_repeated(&st, pass, pass_len);
		S_stream_final(&st.s, st.ablk);
		S_pkcs12_loop(md, &st, iter - 1);
		take = n - done < u ? n - done : u;
		memcpy(out + done, st.ablk, take);
		if (done + take < n)
			S_delta_add(&st, u, v);
	}
	sodium_memzero(&st, sizeof(st));
	return true;
}
