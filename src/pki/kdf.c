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
 * That gap is closed by running independent chains side by side instead
 * (the second half of this file): tv__kdf_batch, which the reader uses for
 * every KDF it can see before decrypting, interleaves up to three SHA-256
 * chains on SHA-NI; the keystore's 2,048-iteration MAC key and two
 * PBKDF2s then take about the time of one PBKDF2 (measured: 237 us
 * instead of 531 us for the three, about 0.45x the single-stream bound).
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

/* ---- several SHA-256 chains at once on SHA-NI --------------------------- */

/*
 * Why: a KDF chain's compressions depend on each other, and one SHA-NI
 * round instruction (sha256rnds2) has a latency several times its
 * throughput, so a single chain leaves the unit mostly idle. A keystore
 * has two to four independent chains (the MAC key, each PBKDF2, each
 * output block of a PBKDF2), and running two or three side by side, their
 * rounds interleaved, costs little more than one.
 *
 * Written from Intel's description of the SHA extensions: a state is
 * held as two vectors, ABEF (A in the top lane) and CDGH; sha256rnds2
 * does two rounds from the W+K sums in the low two lanes of its third
 * operand and returns the new ABEF (the new CDGH is the old ABEF);
 * sha256msg1 and sha256msg2 are the sigma-0 and sigma-1 halves of the
 * message schedule, with the W[t-7] term added in between. Message words
 * sit in their vector as W0 in the lowest lane, so a digest's words are
 * the next block's words as they are: a chain never goes through bytes.
 *
 * A lane is one chain as a cycle of one (PKCS#12: A := H(A)) or two
 * (PBKDF2: inner, then outer hash) half-steps, each "compress the last
 * digest plus fixed padding from base state [phase]"; PBKDF2's outer
 * phase also XORs its result into T. Lanes are scheduled longest first,
 * width at a time, a finished lane's slot taking the next chain.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define S_NI_BUILD 1
#else
#define S_NI_BUILD 0
#endif

/* At most this many chains per round of the engine (a PBKDF2 of more
 * output blocks than this runs alone): they live on the stack. */
#define S_MAX_CHAINS 16
#define S_MAX_WIDTH 3

#if S_NI_BUILD
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>

#define S_NI __attribute__((target("sha,sse4.1")))

static const uint32_t S_K256[64] __attribute__((aligned(16))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/*
 * k states (s0 = ABEF, s1 = CDGH) each compressed with its block m[l]
 * (W0-3, W4-7, W8-11, W12-15). k is a constant where this is inlined, and
 * the loops unroll, so the k chains' instructions interleave.
 */
static inline __attribute__((always_inline)) S_NI void
S_ni_compress(size_t k, __m128i *s0, __m128i *s1, __m128i (*m)[4])
{
	__m128i a0[S_MAX_WIDTH], c0[S_MAX_WIDTH], kv, wk, x;
	size_t g, l;

#pragma GCC unroll 3
	for (l = 0; l < k; l++) {
		a0[l] = s0[l];
		c0[l] = s1[l];
	}
#pragma GCC unroll 16
	for (g = 0; g < 16; g++) {
		kv = _mm_load_si128((const __m128i *)(const void *)&S_K256[4 * g]);
#pragma GCC unroll 3
		for (l = 0; l < k; l++) {
			if (g >= 4) {
				/* W[4g..4g+3] from the four groups before */
				x = _mm_sha256msg1_epu32(m[l][g & 3], m[l][(g + 1) & 3]);
				x = _mm_add_epi32(x, _mm_alignr_epi8(m[l][(g + 3) & 3],
								     m[l][(g + 2) & 3], 4));
				m[l][g & 3] = _mm_sha256msg2_epu32(x, m[l][(g + 3) & 3]);
			}
			wk = _mm_add_epi32(m[l][g & 3], kv);
			s1[l] = _mm_sha256rnds2_epu32(s1[l], s0[l], wk);
			wk = _mm_shuffle_epi32(wk, 0x0E);
			s0[l] = _mm_sha256rnds2_epu32(s0[l], s1[l], wk);
		}
	}
#pragma GCC unroll 3
	for (l = 0; l < k; l++) {
		s0[l] = _mm_add_epi32(s0[l], a0[l]);
		s1[l] = _mm_add_epi32(s1[l], c0[l]);
	}
}

/* ABEF/CDGH into the words A..D and E..H (the digest as message words). */
static inline __attribute__((always_inline)) S_NI void
S_ni_words(__m128i *w0, __m128i *w1, __m128i abef, __m128i cdgh)
{
	__m128i x = _mm_shuffle_epi32(abef, 0x1B); /* A B E F, A lowest */
	__m128i y = _mm_shuffle_epi32(cdgh, 0x1B); /* C D G H */

	*w0 = _mm_unpacklo_epi64(x, y);
	*w1 = _mm_unpackhi_epi64(x, y);
}

/* The 8 chaining words into ABEF/CDGH. */
static inline __attribute__((always_inline)) void
S_ni_state(__m128i *abef, __m128i *cdgh, const uint32_t *h)
{
	*abef = _mm_set_epi32((int)h[0], (int)h[1], (int)h[4], (int)h[5]);
	*cdgh = _mm_set_epi32((int)h[2], (int)h[3], (int)h[6], (int)h[7]);
}

/* 16 bytes of a block as big-endian words, W0 lowest. */
static inline __attribute__((always_inline)) S_NI __m128i
S_ni_load_be(const unsigned char *p)
{
	const __m128i swap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5,
					  6, 7, 0, 1, 2, 3);

	return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p),
				swap);
}
#endif /* S_NI_BUILD */

/*
 * One chain. Vectors are kept as two 16-byte halves of raw words so this
 * struct is the same with or without the SSE headers; the engine loads
 * and stores them with unaligned moves.
 */
struct S_lane {
	uint32_t base[2][8];  /* per phase: ABEF, CDGH of the starting state */
	uint32_t mask[2][4];  /* all ones in the phase whose result T takes */
	uint32_t t[8];        /* XOR of the U's (PBKDF2), ABEF/CDGH */
	uint32_t d[8];        /* the last digest as words W0-7 */
	uint32_t pad[8];      /* W8-15: 0x80000000, zeros, the bit length */
	uint64_t left;        /* half-steps to go */
	unsigned phase;
};

#if S_NI_BUILD
#define S_V(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define S_VST(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))

/* steps half-steps on each of the k lanes at once. */
static inline __attribute__((always_inline)) S_NI void
S_ni_steps(size_t k, struct S_lane **ln, uint64_t steps)
{
	__m128i s0[S_MAX_WIDTH], s1[S_MAX_WIDTH], m[S_MAX_WIDTH][4], mk;
	uint64_t r;
	size_t l;
	unsigned p;

	for (r = 0; r < steps; r++) {
#pragma GCC unroll 3
		for (l = 0; l < k; l++) {
			p = ln[l]->phase;
			s0[l] = S_V(&ln[l]->base[p][0]);
			s1[l] = S_V(&ln[l]->base[p][4]);
			m[l][0] = S_V(&ln[l]->d[0]);
			m[l][1] = S_V(&ln[l]->d[4]);
			m[l][2] = S_V(&ln[l]->pad[0]);
			m[l][3] = S_V(&ln[l]->pad[4]);
		}
		S_ni_compress(k, s0, s1, m);
#pragma GCC unroll 3
		for (l = 0; l < k; l++) {
			p = ln[l]->phase;
			mk = S_V(&ln[l]->mask[p][0]);
			S_VST(&ln[l]->t[0], _mm_xor_si128(S_V(&ln[l]->t[0]),
							  _mm_and_si128(s0[l], mk)));
			S_VST(&ln[l]->t[4], _mm_xor_si128(S_V(&ln[l]->t[4]),
							  _mm_and_si128(s1[l], mk)));
			S_ni_words(&m[l][0], &m[l][1], s0[l], s1[l]);
			S_VST(&ln[l]->d[0], m[l][0]);
			S_VST(&ln[l]->d[4], m[l][1]);
			ln[l]->phase = p ^ 1u;
		}
	}
}

static S_NI void S_ni_steps1(struct S_lane **ln, uint64_t steps)
{
	S_ni_steps(1, ln, steps);
}

static S_NI void S_ni_steps2(struct S_lane **ln, uint64_t steps)
{
	S_ni_steps(2, ln, steps);
}

static S_NI void S_ni_steps3(struct S_lane **ln, uint64_t steps)
{
	S_ni_steps(3, ln, steps);
}

static S_NI void S_ni_blocks(uint32_t (*h)[8], const unsigned char (*blocks)[64],
			     size_t k)
{
	__m128i s0[S_MAX_WIDTH], s1[S_MAX_WIDTH], m[S_MAX_WIDTH][4];
	size_t l, i;

	for (l = 0; l < k; l++) {
		S_ni_state(&s0[l], &s1[l], h[l]);
		for (i = 0; i < 4; i++)
			m[l][i] = S_ni_load_be(blocks[l] + 16 * i);
	}
	/* k is 1 to 3: one instance each keeps the compressions interleaved */
	if (k == 3)
		S_ni_compress(3, s0, s1, m);
	else if (k == 2)
		S_ni_compress(2, s0, s1, m);
	else
		S_ni_compress(1, s0, s1, m);
	for (l = 0; l < k; l++) {
		S_ni_words(&m[l][0], &m[l][1], s0[l], s1[l]);
		S_VST(&h[l][0], m[l][0]);
		S_VST(&h[l][4], m[l][1]);
	}
	sodium_memzero(m, sizeof(m));
}

/*
 * Whether the CPU has SHA-NI (CPUID leaf 7, EBX bit 29) and the SSSE3 and
 * SSE4.1 the code above also uses. Cached: CPUID traps to the hypervisor
 * in a VM and costs microseconds. The one mutable static of the file, set
 * to the same value by whichever thread gets there first.
 */
static bool S_ni_have(void)
{
	static _Atomic int known = -1;
	unsigned int a, b, c, d;
	int v = atomic_load_explicit(&known, memory_order_relaxed);

	if (v >= 0)
		return v == 1;
	v = 0;
	if (__get_cpuid_max(0, NULL) >= 7 && __get_cpuid(1, &a, &b, &c, &d) &&
	    (c & bit_SSSE3) && (c & bit_SSE4_1)) {
		__cpuid_count(7, 0, a, b, c, d);
		v = (b & (1u << 29)) != 0;
	}
	atomic_store_explicit(&known, v, memory_order_relaxed);
	return v == 1;
}
#else
static bool S_ni_have(void)
{
	return false;
}
#endif /* S_NI_BUILD */

unsigned tv__kdf_max_width(void)
{
	return S_ni_have() ? S_MAX_WIDTH : 1;
}

bool tv__kdf_sha256_ni(uint32_t (*h)[8], const unsigned char (*blocks)[64],
		       size_t k)
{
	if (k < 1 || k > S_MAX_WIDTH || !S_ni_have())
		return false;
#if S_NI_BUILD
	S_ni_blocks(h, blocks, k);
	return true;
#else
	(void)h;
	(void)blocks;
	return false;
#endif
}

/* ---- the batch ----------------------------------------------------------- */

/* Chaining words h0..h7 into the lane layout ABEF, CDGH (lowest lane
 * first: F E B A, H G D C), and back. */
static void S_lane_state(uint32_t *out, const uint32_t *h)
{
	out[0] = h[5]; out[1] = h[4]; out[2] = h[1]; out[3] = h[0];
	out[4] = h[7]; out[5] = h[6]; out[6] = h[3]; out[7] = h[2];
}

static void S_lane_words(uint32_t *h, const uint32_t *st)
{
	h[0] = st[3]; h[1] = st[2]; h[2] = st[7]; h[3] = st[6];
	h[4] = st[1]; h[5] = st[0]; h[6] = st[5]; h[7] = st[4];
}

/* Where a lane's result goes: job, and which 32-byte block of its out. */
struct S_dest {
	size_t job;
	size_t block;
};

/* Whether job j runs in the engine (SHA-256, arguments the single run
 * accepts, PKCS#12 with one output block, few enough PBKDF2 blocks). */
static bool S_engine_takes(const struct tv__kdf_job *j)
{
	if (j->md != TV__KDF_SHA256 || j->n == 0 || j->iter == 0 ||
	    j->iter - 1 > UINT64_MAX / 2)
		return false;
	if (j->kind == TV__KDF_PBKDF2)
		return (j->n + 31) / 32 <= S_MAX_CHAINS;
	return j->n <= 32 && (j->salt_len != 0 || j->pass_len != 0);
}

static size_t S_engine_chains(const struct tv__kdf_job *j)
{
	return j->kind == TV__KDF_PBKDF2 ? (j->n + 31) / 32 : 1;
}

static void S_lane_pad(struct S_lane *ln, uint32_t bytes)
{
	memset(ln->pad, 0, sizeof(ln->pad));
	ln->pad[0] = 0x80000000u;
	ln->pad[7] = bytes * 8u;
}

/* U_1 of every output block, as in tv__kdf_pbkdf2_run; one lane each. */
static void S_setup_pbkdf2(struct S_lane *ln, const struct tv__kdf_job *j,
			   struct S_pbkdf2 *st)
{
	const struct S_alg *alg = &S_algs[TV__KDF_SHA256];
	unsigned char counter[4];
	size_t c, chains = S_engine_chains(j);

	S_hmac_states(st, TV__KDF_SHA256, j->pass, j->pass_len);
	S_pad(alg, st->oblk, alg->out, alg->block + alg->out);
	for (c = 0; c < chains; c++) {
		S_be32(counter, (uint32_t)(c + 1));
		S_stream_start(&st->s, alg, &st->inner, alg->block);
		S_stream_update(&st->s, j->salt, j->salt_len);
		S_stream_update(&st->s, counter, sizeof(counter));
		S_stream_final(&st->s, st->oblk);
		S_copy_cv(S_FAM_SHA256, &st->work, &st->outer);
		S_compress(S_FAM_SHA256, &st->work, st->oblk);
		memset(&ln[c], 0, sizeof(ln[c]));
		S_lane_state(ln[c].base[0], st->inner.sha256.h);
		S_lane_state(ln[c].base[1], st->outer.sha256.h);
		memset(ln[c].mask[1], 0xFF, sizeof(ln[c].mask[1]));
		S_lane_state(ln[c].t, st->work.sha256.h);
		memcpy(ln[c].d, st->work.sha256.h, sizeof(ln[c].d));
		S_lane_pad(&ln[c], (uint32_t)(alg->block + alg->out));
		ln[c].left = 2 * (j->iter - 1);
	}
}

/* A_1 = H(D || I), as in tv__kdf_pkcs12_run; the lane runs the rest. */
static void S_setup_pkcs12(struct S_lane *ln, const struct tv__kdf_job *j,
			   struct S_pkcs12 *st)
{
	const struct S_alg *alg = &S_algs[TV__KDF_SHA256];

	memset(st, 0, sizeof(*st));
	S_iv(&st->iv, TV__KDF_SHA256);
	memset(st->dblk, j->id, alg->block);
	st->d = st->iv;
	S_compress(S_FAM_SHA256, &st->d, st->dblk);
	S_pad(alg, st->ablk, alg->out, alg->out);
	S_stream_start(&st->s, alg, &st->d, alg->block);
	S_hash_repeated(st, j->salt, j->salt_len);
	S_hash_repeated(st, j->pass, j->pass_len);
	S_stream_final(&st->s, st->ablk);
	memset(ln, 0, sizeof(*ln));
	S_lane_state(ln->base[0], st->iv.sha256.h);
	S_lane_state(ln->base[1], st->iv.sha256.h);
	memcpy(ln->d, st->s.c.sha256.h, sizeof(ln->d));
	S_lane_pad(ln, (uint32_t)alg->out);
	ln->left = j->iter - 1;
}

#if S_NI_BUILD
/*
 * The engine's vectors spill to its stack frame and the red zone below it,
 * and HMAC states are as good as the password: after a run the same depth
 * of stack is overwritten from this frame (called where the engine was).
 */
static __attribute__((noinline)) void S_stack_scrub(void)
{
	unsigned char junk[1024];

	sodium_memzero(junk, sizeof(junk));
	__asm__ __volatile__("" : : "r"(junk) : "memory");
}

/* Run the lanes to the end, longest first, width at a time. */
static void S_engine_run(struct S_lane *lanes, size_t nl, unsigned width)
{
	struct S_lane *order[S_MAX_CHAINS], *act[S_MAX_WIDTH], *tmp;
	size_t i, k, na = 0, next = 0;
	uint64_t steps;

	for (i = 0; i < nl; i++) {
		order[i] = &lanes[i];
		for (k = i; k > 0 && order[k - 1]->left < order[k]->left; k--) {
			tmp = order[k - 1];
			order[k - 1] = order[k];
			order[k] = tmp;
		}
	}
	for (;;) {
		while (na < width && next < nl) {
			if (order[next]->left)
				act[na++] = order[next];
			next++;
		}
		if (na == 0)
			break;
		steps = act[0]->left;
		for (i = 1; i < na; i++)
			if (act[i]->left < steps)
				steps = act[i]->left;
		if (na == 3)
			S_ni_steps3(act, steps);
		else if (na == 2)
			S_ni_steps2(act, steps);
		else
			S_ni_steps1(act, steps);
		for (i = k = 0; i < na; i++) {
			act[i]->left -= steps;
			if (act[i]->left)
				act[k++] = act[i];
		}
		na = k;
	}
	S_stack_scrub();
}
#endif

/* Run the engine's lanes and write each result to its job's out. */
static void S_engine_flush(struct tv__kdf_job *jobs, struct S_lane *lanes,
			   const struct S_dest *dest, size_t nl,
			   unsigned width)
{
	uint32_t h[8];
	unsigned char blk[32];
	size_t c, i, take;
	struct tv__kdf_job *j;

#if S_NI_BUILD
	S_engine_run(lanes, nl, width);
#else
	(void)width; /* unreachable: S_ni_have() is false here */
#endif
	for (c = 0; c < nl; c++) {
		j = &jobs[dest[c].job];
		if (j->kind == TV__KDF_PBKDF2)
			S_lane_words(h, lanes[c].t);
		else
			memcpy(h, lanes[c].d, sizeof(h));
		for (i = 0; i < 8; i++)
			S_be32(blk + 4 * i, h[i]);
		take = j->n - 32 * dest[c].block;
		if (take > 32)
			take = 32;
		memcpy(j->out + 32 * dest[c].block, blk, take);
	}
	sodium_memzero(h, sizeof(h));
	sodium_memzero(blk, sizeof(blk));
	sodium_memzero(lanes, nl * sizeof(*lanes));
}

static bool S_run_alone(struct tv__kdf_job *j)
{
	if (j->kind == TV__KDF_PBKDF2)
		return tv__kdf_pbkdf2_run(j->out, j->n, j->md, j->pass,
					  j->pass_len, j->salt, j->salt_len,
					  j->iter);
	return tv__kdf_pkcs12_run(j->out, j->n, j->md, j->pass, j->pass_len,
				  j->salt, j->salt_len, j->id, j->iter);
}

bool tv__kdf_batch_width(struct tv__kdf_job *jobs, size_t n, unsigned width)
{
	struct S_lane lanes[S_MAX_CHAINS];
	struct S_dest dest[S_MAX_CHAINS];
	union {
		struct S_pbkdf2 p;
		struct S_pkcs12 k;
	} st;
	size_t i, c, nl = 0, chains;
	bool all = true;

	if (width > S_MAX_WIDTH)
		width = S_MAX_WIDTH;
	if (width > 1 && !S_ni_have())
		width = 1;
	for (i = 0; i < n; i++) {
		struct tv__kdf_job *j = &jobs[i];

		if (width < 2 || !S_engine_takes(j)) {
			j->ok = S_run_alone(j);
			all = all && j->ok;
			continue;
		}
		chains = S_engine_chains(j);
		if (nl + chains > S_MAX_CHAINS) {
			S_engine_flush(jobs, lanes, dest, nl, width);
			nl = 0;
		}
		if (j->kind == TV__KDF_PBKDF2)
			S_setup_pbkdf2(&lanes[nl], j, &st.p);
		else
			S_setup_pkcs12(&lanes[nl], j, &st.k);
		for (c = 0; c < chains; c++) {
			dest[nl + c].job = i;
			dest[nl + c].block = c;
		}
		nl += chains;
		j->ok = true;
	}
	if (nl)
		S_engine_flush(jobs, lanes, dest, nl, width);
	sodium_memzero(&st, sizeof(st));
	return all;
}

bool tv__kdf_batch(struct tv__kdf_job *jobs, size_t n)
{
	return tv__kdf_batch_width(jobs, n, tv__kdf_max_width());
}
