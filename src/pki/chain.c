/*
 * DESIGN: verification is OpenSSL's X509_verify_cert() with the policy of
 * API.md put into what it is given, not into code that second-guesses it:
 *
 * - Anchors are the X509_STORE: the tenant's uploaded CAs plus the system
 *   roots. X509_V_FLAG_PARTIAL_CHAIN makes any anchor final, so an uploaded
 *   intermediate is enough and a self-issued CA works as well as a root.
 *   Because OpenSSL then stops at the first anchor it meets, a pass without
 *   that flag runs first, so that the caller gets the path up to a root
 *   whenever there is one (S_openssl_verify).
 * - The untrusted list of a call is just the caller's candidates. The
 *   uploaded CAs serve as intermediates from where they are, the store:
 *   OpenSSL links trusted certificates into a path like untrusted ones, so
 *   a chain climbs through an uploaded intermediate to an uploaded or
 *   system root without copying them into a per-call list.
 * - END_ENTITY uploads are not in the store, only in a sorted array of
 *   SHA-1 fingerprints (of every upload) that is checked before OpenSSL
 *   runs. So a pinned leaf verifies without being a CA, and can never issue
 *   anything: a chain through it fails as it would without the pin. This
 *   matters beyond OpenSSL's own CA check, which lets a v1 self-signed
 *   certificate issue; for API.md that certificate is an END_ENTITY.
 * - X509_V_FLAG_NO_CHECK_TIME because the vault also archives expired
 *   certificates. No purpose is set, so none is checked.
 *
 * A store is built once per tenant (svc/ caches it) and is read-only
 * afterwards: every call (and pass) makes its own X509_STORE_CTX,
 * X509_STORE takes its own lock for lookups, and the X509 objects shared
 * between threads (the store's, and the caller's leaf and candidates, which
 * X509_verify_cert only reads) are reference-counted atomically and have
 * their extension caches filled under OpenSSL's per-certificate lock.
 * OpenSSL errors are dropped on every return (ERR_set_mark/ERR_pop_to_mark):
 * what a person needs is in msg.
 */
#include "pki/chain.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "pki/x509.h"

#define S_SHA1_LEN 20

struct tv_trust_roots {
	STACK_OF(X509) *certs;
};

struct tv_trust_store {
	X509_STORE *anchors;                /* uploaded CAs and system roots */
	unsigned char (*exact)[S_SHA1_LEN]; /* every upload's SHA-1, sorted */
	size_t n_exact;
};

/*
 * Fill cert's extension cache now, while one thread owns it. OpenSSL fills
 * it lazily on first use, under the certificate's lock, and readers then
 * take a lock-free path; doing it up front means verifiers sharing these
 * certificates only ever read them (and keeps ThreadSanitizer, which can't
 * see libcrypto's atomics, quiet). An invalid certificate just fails later.
 */
static void S_warm(X509 *cert)
{
	ERR_set_mark();
	(void)X509_check_purpose(cert, -1, 0);
	ERR_pop_to_mark();
}

/* ---- system roots ------------------------------------------------------ */

/* Whole file into a new malloc'd buffer, at most cap bytes. */
static enum tv_err S_read_file(unsigned char **out, size_t *out_len, const char *path, size_t cap)
{
	unsigned char *buf = NULL;
	size_t len = 0, got;
	FILE *f;
	enum tv_err rc;

	f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO;
	rc = TV_ERR_NOMEM;
	buf = malloc(cap + 1);
	if (!buf)
		goto out;
	while ((got = fread(buf + len, 1, cap + 1 - len, f)) > 0) {
		len += got;
		if (len > cap)
			break;
	}
	rc = TV_ERR_IO;
	if (ferror(f))
		goto out;
	rc = TV_ERR_TOO_LARGE;
	if (len > cap)
		goto out;
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = TV_OK;
out:
	free(buf);
	fclose(f);
	return rc;
}

enum tv_err tv_trust_roots_load(struct tv_trust_roots **out, const char *bundle_path)
{
	struct tv_trust_roots *r = NULL;
	unsigned char *pem = NULL;
	size_t len = 0;
	enum tv_err rc;
	int i;

	rc = TV_ERR_INVALID;
	if (!out)
		goto out;
	rc = S_read_file(&pem, &len, bundle_path ? bundle_path : TV_TRUST_ROOTS_DEFAULT_PATH,
			 TV_TRUST_ROOTS_MAX_FILE);
	if (rc)
		goto out;
	rc = TV_ERR_NOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto out;
	rc = tv_certs_parse(&r->certs, pem, len, TV_TRUST_ROOTS_MAX_CERTS);
	if (rc)
		goto out;
	for (i = 0; i < sk_X509_num(r->certs); i++)
		S_warm(sk_X509_value(r->certs, i));
	*out = r;
	r = NULL;
out:
	free(pem);
	tv_trust_roots_free(r);
	return rc;
}

size_t tv_trust_roots_count(const struct tv_trust_roots *r)
{
	return r ? (size_t)sk_X509_num(r->certs) : 0;
}

X509 *tv_trust_roots_get(const struct tv_trust_roots *r, size_t i)
{
	if (i >= tv_trust_roots_count(r))
		return NULL;
	return sk_X509_value(r->certs, (int)i);
}

void tv_trust_roots_free(struct tv_trust_roots *r)
{
	if (!r)
		return;
	sk_X509_pop_free(r->certs, X509_free);
	free(r);
}

/* ---- a tenant's store ---------------------------------------------------- */

static int S_sha1_cmp(const void *a, const void *b)
{
	return memcmp(a, b, S_SHA1_LEN);
}

static enum tv_err S_sha1(unsigned char out[S_SHA1_LEN], X509 *cert)
{
	unsigned int n = 0;
	unsigned char md[EVP_MAX_MD_SIZE];

	if (!X509_digest(cert, EVP_sha1(), md, &n) || n != S_SHA1_LEN)
		return TV_ERR_CRYPTO;
	memcpy(out, md, S_SHA1_LEN);
	return TV_OK;
}

static enum tv_err S_decode(X509 **out, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *cert;

	if (!der || len == 0 || len > LONG_MAX)
		return TV_ERR_INVALID;
	cert = d2i_X509(NULL, &p, (long)len);
	if (!cert)
		return TV_ERR_INVALID;
	if (p != der + len) {
		X509_free(cert);
		return TV_ERR_INVALID;
	}
	*out = cert;
	return TV_OK;
}

/* Record one upload: its fingerprint always; an anchor if it is a CA. */
static enum tv_err S_add_upload(struct tv_trust_store *ts, const unsigned char *der, size_t len)
{
	X509 *cert = NULL;
	enum tv_err rc;

	rc = S_decode(&cert, der, len);
	if (rc)
		goto out;
	S_warm(cert);
	rc = S_sha1(ts->exact[ts->n_exact], cert);
	if (rc)
		goto out;
	ts->n_exact++;
	rc = TV_OK;
	if (!tv__cert_is_ca(cert))
		goto out;
	rc = TV_ERR_NOMEM;
	if (!X509_STORE_add_cert(ts->anchors, cert)) /* takes its own reference */
		goto out;
	rc = TV_OK;
out:
	X509_free(cert);
	return rc;
}

static enum tv_err S_add_roots(struct tv_trust_store *ts, const struct tv_trust_roots *roots)
{
	size_t i, n = tv_trust_roots_count(roots);

	for (i = 0; i < n; i++)
		if (!X509_STORE_add_cert(ts->anchors, tv_trust_roots_get(roots, i)))
			return TV_ERR_NOMEM;
	return TV_OK;
}

enum tv_err tv_trust_store_new(struct tv_trust_store **out, const struct tv_trust_roots *roots,
			       const unsigned char *const *ders, const size_t *der_lens, size_t n)
{
	struct tv_trust_store *ts = NULL;
	size_t i;
	enum tv_err rc;

	ERR_set_mark();
	rc = TV_ERR_INVALID;
	if (!out || (n && (!ders || !der_lens)))
		goto out;
	rc = TV_ERR_NOMEM;
	if (n > SIZE_MAX / S_SHA1_LEN)
		goto out;
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		goto out;
	ts->anchors = X509_STORE_new();
	ts->exact = malloc(n ? n * S_SHA1_LEN : 1);
	if (!ts->anchors || !ts->exact)
		goto out;
	for (i = 0; i < n; i++) {
		rc = S_add_upload(ts, ders[i], der_lens[i]);
		if (rc)
			goto out;
	}
	if (ts->n_exact > 1)
		qsort(ts->exact, ts->n_exact, S_SHA1_LEN, S_sha1_cmp);
	rc = S_add_roots(ts, roots);
	if (rc)
		goto out;
	*out = ts;
	ts = NULL;
out:
	tv_trust_store_free(ts);
	ERR_pop_to_mark();
	return rc;
}

void tv_trust_store_free(struct tv_trust_store *ts)
{
	if (!ts)
		return;
	X509_STORE_free(ts->anchors);
	free(ts->exact);
	free(ts);
}

/* ---- verification ------------------------------------------------------------ */

static bool S_is_uploaded(const struct tv_trust_store *ts, const unsigned char md[S_SHA1_LEN])
{
	return ts->n_exact && bsearch(md, ts->exact, ts->n_exact, S_SHA1_LEN, S_sha1_cmp);
}

/* Why OpenSSL said no, as a reason and a message. */
static enum tv_reason S_failure(X509 *leaf, int err, char *msg, size_t msz)
{
	char *dn = NULL;
	enum tv_reason rc;

	if (err == X509_V_ERR_OUT_OF_MEM || err == X509_V_OK)
		return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				"chain verification failed internally");
	if (tv__cert_self_signed(leaf)) {
		if (tv__name_rfc2253(&dn, X509_get_subject_name(leaf)) != TV_OK)
			dn = NULL;
		rc = tv__fail(msg, msz, TV_REASON_SELF_SIGNED,
			      "certificate '%s' is self-signed and not a trusted certificate",
			      dn ? dn : "?");
	} else {
		if (tv__name_rfc2253(&dn, X509_get_issuer_name(leaf)) != TV_OK)
			dn = NULL;
		rc = tv__fail(msg, msz, TV_REASON_CHAIN_BUILDING_FAILED,
			      "no path to a trusted CA for issuer '%s': %s", dn ? dn : "?",
			      X509_verify_cert_error_string(err));
	}
	free(dn);
	return rc;
}

/*
 * One run of OpenSSL's verifier with flags. Returns 1 with *chain = the
 * whole verified chain (leaf first), 0 with *err = the verify error, or -1
 * when out of memory.
 */
static int S_run(const struct tv_trust_store *ts, X509 *leaf, STACK_OF(X509) *untrusted,
		 unsigned long flags, STACK_OF(X509) **chain, int *err)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ret = -1;

	if (!ctx || !X509_STORE_CTX_init(ctx, ts->anchors, leaf, untrusted))
		goto out;
	X509_STORE_CTX_set_flags(ctx, flags);
	if (X509_verify_cert(ctx) != 1) {
		*err = X509_STORE_CTX_get_error(ctx);
		ret = 0;
		goto out;
	}
	*chain = X509_STORE_CTX_get1_chain(ctx);
	ret = *chain ? 1 : -1;
out:
	X509_STORE_CTX_free(ctx);
	return ret;
}

/*
 * Verify with OpenSSL; on success *chain gets the issuers above leaf.
 * Two passes: with PARTIAL_CHAIN, OpenSSL 3.0 stops at the first trusted
 * certificate, so an uploaded intermediate would hide the uploaded or
 * system root above it. A first pass without it succeeds only at a
 * self-signed anchor, and so gives the longest path; the partial pass then
 * covers chains that end at an uploaded intermediate or self-issued CA.
 */
static enum tv_reason S_openssl_verify(const struct tv_trust_store *ts, X509 *leaf,
				       STACK_OF(X509) *candidates, STACK_OF(X509) **chain,
				       char *msg, size_t msz)
{
	const unsigned long flags = X509_V_FLAG_NO_CHECK_TIME;
	int ret, err = X509_V_OK;

	ret = S_run(ts, leaf, candidates, flags, chain, &err);
	if (ret == 0)
		ret = S_run(ts, leaf, candidates, flags | X509_V_FLAG_PARTIAL_CHAIN, chain, &err);
	if (ret < 0)
		return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				"out of memory verifying a chain");
	if (ret == 0)
		return S_failure(leaf, err, msg, msz);
	X509_free(sk_X509_shift(*chain)); /* the leaf itself */
	return TV_REASON_OK;
}

enum tv_reason tv_chain_verify(const struct tv_trust_store *ts, X509 *leaf,
			       STACK_OF(X509) *candidates, STACK_OF(X509) **chain_out, char *msg,
			       size_t msg_size)
{
	unsigned char md[S_SHA1_LEN];
	STACK_OF(X509) *chain = NULL;
	enum tv_reason rc;

	ERR_set_mark();
	if (msg && msg_size)
		msg[0] = '\0';
	if (!ts || !leaf) {
		rc = tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR, "no certificate to verify");
		goto out;
	}
	if (S_sha1(md, leaf) != TV_OK) {
		rc = tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR,
			      "cannot compute the certificate's fingerprint");
		goto out;
	}
	if (S_is_uploaded(ts, md)) {
		chain = sk_X509_new_null();
		rc = chain ? TV_REASON_OK
			   : tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR, "out of memory");
	} else {
		rc = S_openssl_verify(ts, leaf, candidates, &chain, msg, msg_size);
	}
	if (rc)
		goto out;
	if (msg && msg_size)
		msg[0] = '\0';
	if (chain_out) {
		*chain_out = chain;
		chain = NULL;
	}
out:
	sk_X509_pop_free(chain, X509_free);
	ERR_pop_to_mark();
	return rc;
}
