/*
 * DESIGN: the physical limit of the KDFs on one core. PBKDF2-HMAC-SHA256
 * with a 32-byte output costs, at best, two SHA-256 compressions per
 * iteration (the inner and the outer hash of one block each, with the
 * HMAC key's ipad/opad states computed once): 4,096 compressions for 2048
 * iterations. One compression costs what SHA-256 over a large buffer costs
 * per 64-byte block, which this measures with OpenSSL's own SHA-256 (SHA-NI
 * where the CPU has it). The same cost prices every other bound of the
 * table (a keystore's KDFs, an item).
 *
 * Within a run each measurement is the fastest of a few batches (noise
 * only adds time, and a bound wants the machine's best); the table takes
 * the median of the runs as everywhere else.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define S_HASH_BUF (1u << 20)
#define S_BATCHES 5

/* Nanoseconds per SHA-256 compression (64-byte block), best of batches. */
static double S_compression_ns(size_t mib_per_batch)
{
	unsigned char *buf = malloc(S_HASH_BUF), md[32];
	double best = 0;
	size_t b, i;

	if (!buf || RAND_bytes(buf, S_HASH_BUF) != 1)
		tvb_die("kdf: cannot make the hash buffer");
	for (b = 0; b < S_BATCHES; b++) {
		double t0 = tvb_now(), ns;

		for (i = 0; i < mib_per_batch; i++)
			if (!EVP_Digest(buf, S_HASH_BUF, md, NULL, EVP_sha256(), NULL))
				tvb_die("kdf: SHA-256 failed");
		ns = (tvb_now() - t0) * 1e9 / ((double)mib_per_batch * (S_HASH_BUF / 64.0));
		if (b == 0 || ns < best)
			best = ns;
	}
	free(buf);
	return best;
}

/* Microseconds per PKCS5_PBKDF2_HMAC (SHA-256, 2048 iterations, 32 bytes). */
static double S_pbkdf2_us(size_t calls_per_batch)
{
	static const char pass[] = "bench-openssl-rsa-00000";
	unsigned char salt[8], out[32];
	double best = 0;
	size_t b, i;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		tvb_die("kdf: no random salt");
	for (b = 0; b < S_BATCHES; b++) {
		double t0 = tvb_now(), us;

		for (i = 0; i < calls_per_batch; i++)
			if (!PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), salt, sizeof(salt), 2048,
					       EVP_sha256(), sizeof(out), out))
				tvb_die("kdf: PKCS5_PBKDF2_HMAC failed");
		us = (tvb_now() - t0) * 1e6 / (double)calls_per_batch;
		if (b == 0 || us < best)
			best = us;
	}
	return best;
}

double tvb_compression_ns(const struct tvb_ctx *x)
{
	if (!x->n_compression)
		tvb_die("the SHA-256 compression cost was not measured");
	return tvb_median(x->compression_ns, x->n_compression);
}

void tvb_section_kdf(struct tvb_ctx *x)
{
	const struct tvb_cfg *cfg = x->cfg;
	const char *sec = "KDF ceiling, one core";
	struct tvb_row *comp = tvb_row(sec, "SHA-256 compression (64-byte block)", "ns", NULL);
	struct tvb_row *kdf = tvb_row(sec, "PBKDF2-HMAC-SHA256 2048 it, PKCS5_PBKDF2_HMAC", "us",
				      "4,096 SHA-256 compressions");
	bool tiny = !strcmp(cfg->mode, "tiny");
	int r;

	for (r = 0; r < cfg->runs; r++) {
		double ns = S_compression_ns(tiny ? 2 : 32);
		double us = S_pbkdf2_us(tiny ? 4 : 60);

		if (x->n_compression < TVB_MAX_RUNS)
			x->compression_ns[x->n_compression++] = ns;
		tvb_row_add(comp, ns);
		tvb_row_add(kdf, us);
		tvb_row_add_base(kdf, 4096.0 * ns / 1000.0);
		tvb_note("kdf run %d/%d: compression %.1f ns, PBKDF2 %.0f us (bound %.0f us)", r + 1,
			 cfg->runs, ns, us, 4096.0 * ns / 1000.0);
	}
}
