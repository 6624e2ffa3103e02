/*
 * fuzz_leafcheck.c - the fast leaf check of src/pki/chain.c against
 * OpenSSL's X509_verify_cert path, under a fixed CA (an uploaded P-256
 * root, "CN=Fuzz CA"; its key below is a test key, used nowhere else).
 *
 * Each input is tried as it is and, when certder parses it, re-signed: its
 * TBSCertificate signed by the CA key (ECDSA with SHA-256) under its own
 * TBS algorithm, so that mutations of the extensions, names and key reach
 * the checks behind a valid signature. For each, with no candidates and
 * with the CA as one: OpenSSL first (it fills the cache), then the fast
 * check alone, then the automatic path from the DER alone. Properties: the
 * fast check answers only for bytes d2i_X509 decodes whole, only when
 * OpenSSL said OK, and with OpenSSL's chain; the automatic path gives
 * OpenSSL's reason, message and chain.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "pki/certder.h"
#include "pki/chain_int.h"

static const char S_ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBiDCCAS+gAwIBAgIUacHNj0XorEks6hsKiojzkvt+/wgwCgYIKoZIzj0EAwIw\n"
	"EjEQMA4GA1UEAwwHRnV6eiBDQTAeFw0yNjExMjcxNzI1MTZaFw0zNjExMjQxNzI1\n"
	"MTZaMBIxEDAOBgNVBAMMB0Z1enogQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n"
	"AASt+K7uFsjDqKGXQc4za5Tfns+e41SUYmJ8vFGSGbiN35Xa8gQGUfhPGCM7JSH5\n"
	"0v3ryi/iCz+8bcIVmwUgVdMjo2MwYTAdBgNVHQ4EFgQUX85td9H50+nsW3e3zxao\n"
	"yYHJaLIwHwYDVR0jBBgwFoAUX85td9H50+nsW3e3zxaoyYHJaLIwDwYDVR0TAQH/\n"
	"BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDRwAwRAIgQE4zysWr\n"
	"tBmSIe2t6XV7iacLneGRp4siyMWV5ibTPXcCIF/GVB+bVTKLZ9Iyjclyl7d5EWI8\n"
	"dJldP0F3w1KPGEKE\n"
	"-----END CERTIFICATE-----\n";

static const char S_ca_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWj72CwcQmnrNYiMw\n"
	"IEA3MivZQiQbzCOGVnQeNmwTDH6hRANCAASt+K7uFsjDqKGXQc4za5Tfns+e41SU\n"
	"YmJ8vFGSGbiN35Xa8gQGUfhPGCM7JSH50v3ryi/iCz+8bcIVmwUgVdMj\n"
	"-----END PRIVATE KEY-----\n";

static X509 *S_ca;
static EVP_PKEY *S_ca_key;
static struct tv_trust_store *S_ts;
static STACK_OF(X509) *S_cands;
static unsigned long S_n_fast, S_n_ok, S_n_all; /* FZ_LEAFCHECK_STATS=1: printed at exit */

static void S_stats(void)
{
	fprintf(stderr, "fuzz_leafcheck: %lu verified, %lu OpenSSL OK, %lu by the fast check\n",
		S_n_all, S_n_ok, S_n_fast);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	BIO *b;
	unsigned char *der = NULL;
	const unsigned char *ders[1];
	size_t lens[1];
	int len;

	(void)argc;
	(void)argv;
	b = BIO_new_mem_buf(S_ca_pem, -1);
	S_ca = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	b = BIO_new_mem_buf(S_ca_key_pem, -1);
	S_ca_key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!S_ca || !S_ca_key)
		abort();
	len = i2d_X509(S_ca, &der);
	if (len <= 0)
		abort();
	ders[0] = der;
	lens[0] = (size_t)len;
	if (tv_trust_store_new(&S_ts, NULL, ders, lens, 1) != TV_OK)
		abort();
	OPENSSL_free(der);
	S_cands = sk_X509_new_null();
	if (!S_cands || !sk_X509_push(S_cands, S_ca))
		abort();
	if (getenv("FZ_LEAFCHECK_STATS"))
		atexit(S_stats);
	return 0;
}

static void S_chains_eq(STACK_OF(X509) *a, STACK_OF(X509) *b)
{
	int i;

	FZ_CHECK(sk_X509_num(a) == sk_X509_num(b), "chain lengths differ");
	for (i = 0; i < sk_X509_num(a); i++)
		FZ_CHECK(X509_cmp(sk_X509_value(a, i), sk_X509_value(b, i)) == 0, "chains differ");
}

static void S_diff(const unsigned char *der, size_t len, STACK_OF(X509) *cands)
{
	char m_ref[TV_REASON_MSG_SIZE], m_fast[TV_REASON_MSG_SIZE], m_auto[TV_REASON_MSG_SIZE];
	STACK_OF(X509) *ref = NULL, *fast = NULL, *aut = NULL;
	enum tv_reason r_ref, r_fast, r_auto;
	const unsigned char *p = der;
	bool answered = false;
	X509 *leaf = NULL;

	if (len > 0 && len < 1u << 20)
		leaf = d2i_X509(NULL, &p, (long)len);
	if (leaf && p != der + len) {
		X509_free(leaf);
		leaf = NULL;
	}
	ERR_clear_error();
	if (!leaf) {
		r_fast = tv__chain_verify_mode(S_ts, der, len, NULL, cands, &fast, m_fast,
					       sizeof(m_fast), TV__CHAIN_FAST, &answered);
		FZ_CHECK(!answered && r_fast != TV_REASON_OK,
			 "the fast check answered for bytes d2i_X509 refuses");
		return;
	}
	r_ref = tv__chain_verify_mode(S_ts, NULL, 0, leaf, cands, &ref, m_ref, sizeof(m_ref),
				      TV__CHAIN_OPENSSL, NULL);
	r_fast = tv__chain_verify_mode(S_ts, der, len, NULL, cands, &fast, m_fast, sizeof(m_fast),
				       TV__CHAIN_FAST, &answered);
	S_n_all++;
	S_n_ok += r_ref == TV_REASON_OK;
	S_n_fast += answered;
	if (answered) {
		FZ_CHECK(r_fast == TV_REASON_OK && r_ref == TV_REASON_OK,
			 "the fast check said OK where OpenSSL did not");
		S_chains_eq(ref, fast);
	} else if (r_fast == TV_REASON_OK) {
		FZ_CHECK(r_ref == TV_REASON_OK && sk_X509_num(fast) == 0, "an uploaded leaf differs");
	}
	r_auto = tv__chain_verify_mode(S_ts, der, len, NULL, cands, &aut, m_auto, sizeof(m_auto),
				       TV__CHAIN_AUTO, NULL);
	FZ_CHECK(r_auto == r_ref, "reasons differ");
	FZ_CHECK(strcmp(m_auto, m_ref) == 0, "messages differ");
	if (r_ref == TV_REASON_OK)
		S_chains_eq(ref, aut);
	sk_X509_pop_free(ref, X509_free);
	sk_X509_pop_free(fast, X509_free);
	sk_X509_pop_free(aut, X509_free);
	X509_free(leaf);
}

/* DER header of tag with length n at out; returns its size. */
static size_t S_hdr(unsigned char *out, unsigned char tag, size_t n)
{
	size_t k = 0, i;

	out[0] = tag;
	if (n < 0x80) {
		out[1] = (unsigned char)n;
		return 2;
	}
	for (i = n; i; i >>= 8)
		k++;
	out[1] = (unsigned char)(0x80 | k);
	for (i = 0; i < k; i++)
		out[2 + i] = (unsigned char)(n >> (8 * (k - 1 - i)));
	return 2 + k;
}

/* The certificate c re-signed by the CA key; NULL on failure. */
static unsigned char *S_resign(const struct tv__cert_der *c, size_t *out_len)
{
	unsigned char sig[128], bit_hdr[8], seq_hdr[8], *out = NULL;
	size_t sig_len = sizeof(sig), bh, sh, body;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, S_ca_key) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, c->tbs.p, c->tbs.len) != 1)
		goto out;
	bh = S_hdr(bit_hdr, 0x03, sig_len + 1);
	body = c->tbs.len + c->tbs_sig_alg.len + bh + 1 + sig_len;
	sh = S_hdr(seq_hdr, 0x30, body);
	out = malloc(sh + body);
	if (!out)
		goto out;
	memcpy(out, seq_hdr, sh);
	memcpy(out + sh, c->tbs.p, c->tbs.len);
	memcpy(out + sh + c->tbs.len, c->tbs_sig_alg.p, c->tbs_sig_alg.len);
	memcpy(out + sh + c->tbs.len + c->tbs_sig_alg.len, bit_hdr, bh);
	out[sh + c->tbs.len + c->tbs_sig_alg.len + bh] = 0;
	memcpy(out + sh + c->tbs.len + c->tbs_sig_alg.len + bh + 1, sig, sig_len);
	*out_len = sh + body;
out:
	EVP_MD_CTX_free(ctx);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tv__cert_der *c = malloc(sizeof(*c));
	unsigned char *again = NULL;
	size_t again_len = 0;

	if (!c)
		return 0;
	S_diff(data, size, NULL);
	S_diff(data, size, S_cands);
	if (tv__cert_der_parse(c, data, size))
		again = S_resign(c, &again_len);
	if (again) {
		S_diff(again, again_len, NULL);
		S_diff(again, again_len, S_cands);
	}
	free(again);
	free(c);
	ERR_clear_error();
	return 0;
}
