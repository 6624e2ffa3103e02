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
 * afterwards, but for the fast leaf check's cache of verified issuer chains
 * (below; its own mutex, entries immutable once added): every call (and pass) makes its own X509_STORE_CTX,
 * X509_STORE takes its own lock for lookups, and the X509 objects shared
 * between threads (the store's, and the caller's leaf and candidates, which
 * X509_verify_cert only reads) are reference-counted atomically and have
 * their extension caches filled under OpenSSL's per-certificate lock.
 * OpenSSL errors are dropped on every return (ERR_set_mark/ERR_pop_to_mark):
 * what a person needs is in msg.
 */
#include "pki/chain.h"

#include <errno.h>
#include <pthread.h>
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

#include "pki/certder.h"
#include "pki/chain_int.h"
#include "pki/x509.h"
#include "pki/x509_int.h"

#define S_SHA1_LEN 20

struct tv_trust_roots {
	STACK_OF(X509) *certs;
};

struct S_issuers;

struct tv_trust_store {
	X509_STORE *anchors;                /* uploaded CAs and system roots */
	unsigned char (*exact)[S_SHA1_LEN]; /* every upload's SHA-1, sorted */
	size_t n_exact;
	unsigned char (*anchor_sha1)[S_SHA1_LEN]; /* every cert in anchors, sorted */
	size_t n_anchor_sha1;
	struct S_issuers *issuers;          /* the fast leaf check's cache (mutable) */
};

/* The fast leaf check's cache: see its DESIGN below. */
#define S_ISSUERS_MAX 64

#define S_SIG_MDS 3 /* the digests of the signatures the fast path checks */

struct S_issuer {
	STACK_OF(X509) *chain;             /* as OpenSSL returned it, nearest first */
	unsigned char (*sha1)[S_SHA1_LEN]; /* each chain certificate's */
	bool *in_store;                    /* each: is it a certificate of the store */
	unsigned char *subject;            /* chain[0]'s subject Name DER */
	size_t subject_len;
	EVP_PKEY *pkey;                    /* chain[0]'s key (borrowed from it) */
	int key_id;                        /* EVP_PKEY_RSA or EVP_PKEY_EC */
	const ASN1_OCTET_STRING *skid;     /* chain[0]'s SKID or NULL (borrowed) */
	/* a DigestVerify context under pkey, per digest (S_md), initialized
	 * once: a leaf's check copies one (NULL, or a copy that fails: it
	 * initializes its own) */
	EVP_MD_CTX *verify[S_SIG_MDS];
};

struct S_issuers {
	pthread_mutex_t lock;
	size_t n;
	struct S_issuer e[S_ISSUERS_MAX];
};

static void S_issuers_free(struct S_issuers *c);


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

/* The SHA-1 of every certificate of the store, sorted, and the empty
 * cache of the fast leaf check. */
static enum tv_err S_index_anchors(struct tv_trust_store *ts)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(ts->anchors);
	int i, n = sk_X509_OBJECT_num(objs);

	ts->anchor_sha1 = malloc(n > 0 ? (size_t)n * S_SHA1_LEN : 1);
	ts->issuers = calloc(1, sizeof(*ts->issuers));
	if (!ts->anchor_sha1 || !ts->issuers)
		return TV_ERR_NOMEM;
	if (pthread_mutex_init(&ts->issuers->lock, NULL) != 0) {
		free(ts->issuers);
		ts->issuers = NULL;
		return TV_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		X509 *c = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (!c)
			continue;
		if (S_sha1(ts->anchor_sha1[ts->n_anchor_sha1], c) != TV_OK)
			return TV_ERR_CRYPTO;
		ts->n_anchor_sha1++;
	}
	if (ts->n_anchor_sha1 > 1)
		qsort(ts->anchor_sha1, ts->n_anchor_sha1, S_SHA1_LEN, S_sha1_cmp);
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
	rc = S_index_anchors(ts);
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
	free(ts->anchor_sha1);
	S_issuers_free(ts->issuers);
	free(ts);
}

/* ---- the fast leaf check --------------------------------------------------
 *
 * DESIGN: X509_verify_cert costs 0.2-0.25 ms per leaf (a fresh
 * X509_STORE_CTX, the issuer search, two passes when the chain is partial)
 * and needs the leaf decoded by d2i_X509 (0.5 ms, the provider decoders).
 * Most leaves of a bulk import hang under the same few issuers, and for
 * those OpenSSL's answer is a function of the issuer chain, the store and
 * the candidates, except for what the leaf itself brings: its extension
 * cache's verdict (EXFLAG_INVALID, unhandled critical extensions, proxy),
 * whether its key decodes, the issuer match (name, AKID keyid against the
 * issuer's SKID, signature algorithm against the issuer's key type) and its
 * signature. So once OpenSSL has verified a leaf under an issuer, the chain
 * it returned is kept (per store, S_issuers) and a later leaf under the
 * same issuer Name DER gets that chain without OpenSSL when every one of
 * those leaf properties is settled here the way OpenSSL 3.0 settles it:
 *
 * - the leaf parses with certder (strict DER), is v3 without unique ids,
 *   both signature AlgorithmIdentifiers are byte-equal, and it is not
 *   self-issued (X509_NAME_cmp, OpenSSL's own comparison);
 * - the leaf is neither a certificate of the store (OpenSSL's last-resort
 *   partial-chain match) nor one of the cached chain's;
 * - every extension is one of basicConstraints, keyUsage, extKeyUsage,
 *   subjectAltName, subjectKeyIdentifier, authorityKeyIdentifier,
 *   cRLDistributionPoints, authorityInfoAccess, certificatePolicies, and
 *   decodes with X509V3_EXT_d2i (what ossl_x509v3_cache_extensions calls)
 *   without a condition it turns into EXFLAG_INVALID: a pathLen that is
 *   negative, too large or on a non-CA, a keyUsage with no bit in its first
 *   two octets, a distribution point without a fullName; an AKID is a keyid
 *   alone, equal to the issuer's SKID when the issuer has one; only the
 *   extensions X509_supported_extension knows may be critical;
 * - the key is one certfacts knows OpenSSL's decoder accepts;
 * - the signature is sha256/384/512WithRSAEncryption under an RSA issuer
 *   key or ecdsa-with-SHA256/384/512 under an EC one (check_sig_alg_match),
 *   and EVP_DigestVerify over the TBS bytes with the issuer's key says yes:
 *   the call ASN1_item_verify makes;
 * - the issuer choice can't differ: at caching, the store holds no other
 *   certificate with the issuer's subject; now, no candidate is a different
 *   certificate with the subject of any cached chain certificate (or the
 *   issuer name of its top), and every chain certificate that came from the
 *   candidates, not the store, is among them again, byte for byte.
 * Chains with name constraints, policy constraints or mappings,
 * inhibitAnyPolicy, RFC 3779 resources or proxy certificates are not
 * cached. Anything else, a failed signature included, goes to OpenSSL,
 * whose answer (reason, message) is then the answer: the fast path only
 * ever says OK, with the chain OpenSSL gave before (up-referenced).
 * tests/unit/test_leafcheck.c and fuzz/fuzz_leafcheck.c compare both.
 *
 * The cache is bounded (S_ISSUERS_MAX entries, then no more are added),
 * entries are immutable once added and freed with the store, so a reader
 * holds the mutex only to find one.
 */
static void S_issuer_clear(struct S_issuer *e)
{
	int k;

	for (k = 0; k < S_SIG_MDS; k++)
		EVP_MD_CTX_free(e->verify[k]);
	sk_X509_pop_free(e->chain, X509_free);
	free(e->sha1);
	free(e->in_store);
	free(e->subject);
	memset(e, 0, sizeof(*e));
}

static void S_issuers_free(struct S_issuers *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		S_issuer_clear(&c->e[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static bool S_in_anchors(const struct tv_trust_store *ts, const unsigned char md[S_SHA1_LEN])
{
	return ts->n_anchor_sha1 &&
	       bsearch(md, ts->anchor_sha1, ts->n_anchor_sha1, S_SHA1_LEN, S_sha1_cmp);
}

/* Whether cert carries an extension that makes OpenSSL's verdict depend on
 * more than a leaf's issuer match and signature. */
static bool S_has_path_ext(X509 *cert)
{
	static const int nids[] = { NID_name_constraints, NID_policy_constraints,
				    NID_policy_mappings,  NID_inhibit_any_policy,
				    NID_proxyCertInfo,    NID_sbgp_ipAddrBlock,
				    NID_sbgp_autonomousSysNum };
	size_t i;

	for (i = 0; i < sizeof(nids) / sizeof(nids[0]); i++)
		if (X509_get_ext_by_NID(cert, nids[i], -1) >= 0)
			return true;
	return (X509_get_extension_flags(cert) & (EXFLAG_PROXY | EXFLAG_INVALID)) != 0;
}

/* How many certificates of the store have subject name. */
static size_t S_store_count(const struct tv_trust_store *ts, const X509_NAME *name)
{
	STACK_OF(X509_OBJECT) *objs;
	size_t n = 0;
	int i;

	if (!X509_STORE_lock(ts->anchors))
		return SIZE_MAX;
	objs = X509_STORE_get0_objects(ts->anchors);
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *c = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (c && X509_NAME_cmp(X509_get_subject_name(c), name) == 0)
			n++;
	}
	X509_STORE_unlock(ts->anchors);
	return n;
}

/* SHA-256, SHA-384, SHA-512 for k = 0, 1, 2 (S_sig_md's answers). */
static const EVP_MD *S_md(int k)
{
	return k == 0 ? EVP_sha256() : k == 1 ? EVP_sha384() : EVP_sha512();
}

/*
 * The issuer's DigestVerify contexts, one per digest. EVP_DigestVerifyInit
 * fetches the provider's signature and digest and builds their contexts,
 * which cost more than the RSA verification itself; a copy of a context
 * built once costs less (the chain check of an RSA leaf, measured: 199 us
 * before, 110 to 135 after, with EVP_MD_CTX_FLAG_FINALISE). The contexts are
 * only read after this (copied from), like the rest of the entry. One
 * that can't be built stays NULL and the leaf's check initializes its own.
 */
static void S_issuer_contexts(struct S_issuer *e)
{
	int k;

	ERR_set_mark();
	for (k = 0; k < S_SIG_MDS; k++) {
		e->verify[k] = EVP_MD_CTX_new();
		if (e->verify[k] &&
		    EVP_DigestVerifyInit(e->verify[k], NULL, S_md(k), NULL, e->pkey) != 1) {
			EVP_MD_CTX_free(e->verify[k]);
			e->verify[k] = NULL;
		}
	}
	ERR_pop_to_mark();
}

/* Fill e from the chain OpenSSL verified for leaf; false: not cacheable. */
static bool S_issuer_fill(struct S_issuer *e, const struct tv_trust_store *ts, X509 *leaf,
			  STACK_OF(X509) *chain)
{
	int i, n = sk_X509_num(chain), len;
	X509 *first = sk_X509_value(chain, 0);
	unsigned char md[S_SHA1_LEN], *p;

	if (n < 1 || X509_NAME_cmp(X509_get_subject_name(leaf), X509_get_issuer_name(leaf)) == 0 ||
	    S_sha1(md, leaf) != TV_OK || S_in_anchors(ts, md))
		return false;
	e->sha1 = calloc((size_t)n, S_SHA1_LEN);
	e->in_store = calloc((size_t)n, sizeof(*e->in_store));
	if (!e->sha1 || !e->in_store)
		return false;
	for (i = 0; i < n; i++) {
		X509 *c = sk_X509_value(chain, i);

		if (S_has_path_ext(c) || S_sha1(e->sha1[i], c) != TV_OK)
			return false;
		e->in_store[i] = S_in_anchors(ts, e->sha1[i]);
	}
	/* the leaf's issuer is chosen among the store's certificates with its
	 * subject by the leaf's AKID: there must be no choice */
	if (S_store_count(ts, X509_get_subject_name(first)) != (e->in_store[0] ? 1u : 0u))
		return false;
	e->pkey = X509_get0_pubkey(first);
	if (!e->pkey)
		return false;
	if (EVP_PKEY_is_a(e->pkey, "RSA"))
		e->key_id = EVP_PKEY_RSA;
	else if (EVP_PKEY_is_a(e->pkey, "EC"))
		e->key_id = EVP_PKEY_EC;
	else
		return false;
	if ((X509_get_extension_flags(first) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(first) & KU_KEY_CERT_SIGN))
		return false;
	e->skid = X509_get0_subject_key_id(first);
	len = i2d_X509_NAME(X509_get_subject_name(first), NULL);
	if (len <= 0)
		return false;
	e->subject = malloc((size_t)len);
	if (!e->subject)
		return false;
	p = e->subject;
	if (i2d_X509_NAME(X509_get_subject_name(first), &p) != len)
		return false;
	e->subject_len = (size_t)len;
	e->chain = sk_X509_new_reserve(NULL, n);
	if (!e->chain)
		return false;
	for (i = 0; i < n; i++) {
		X509 *c = sk_X509_value(chain, i);

		if (!X509_up_ref(c))
			return false;
		(void)sk_X509_push(e->chain, c); /* reserved */
	}
	S_issuer_contexts(e);
	return true;
}

/* Remember chain (OpenSSL's, for leaf) when it is cacheable and new. */
static void S_issuers_add(const struct tv_trust_store *ts, X509 *leaf, STACK_OF(X509) *chain)
{
	struct S_issuers *c = ts->issuers;
	struct S_issuer e;
	size_t i;
	bool known = false;

	if (!c || sk_X509_num(chain) < 1)
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n && !known; i++)
		known = X509_NAME_cmp(X509_get_subject_name(sk_X509_value(c->e[i].chain, 0)),
				      X509_get_issuer_name(leaf)) == 0;
	if (known || c->n >= S_ISSUERS_MAX) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (S_issuer_fill(&e, ts, leaf, chain))
		c->e[c->n++] = e;
	else
		S_issuer_clear(&e);
	pthread_mutex_unlock(&c->lock);
}

static const struct S_issuer *S_issuers_find(const struct tv_trust_store *ts,
					     const struct tv__der *issuer)
{
	struct S_issuers *c = ts->issuers;
	const struct S_issuer *found = NULL;
	size_t i;

	if (!c)
		return NULL;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n && !found; i++)
		if (c->e[i].subject_len == issuer->len &&
		    memcmp(c->e[i].subject, issuer->p, issuer->len) == 0)
			found = &c->e[i];
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Extension OIDs (contents). */
static const unsigned char S_OID_BC[] = { 0x55, 0x1d, 0x13 };
static const unsigned char S_OID_KU[] = { 0x55, 0x1d, 0x0f };
static const unsigned char S_OID_EKU[] = { 0x55, 0x1d, 0x25 };
static const unsigned char S_OID_SAN[] = { 0x55, 0x1d, 0x11 };
static const unsigned char S_OID_SKID[] = { 0x55, 0x1d, 0x0e };
static const unsigned char S_OID_AKID[] = { 0x55, 0x1d, 0x23 };
static const unsigned char S_OID_CRLDP[] = { 0x55, 0x1d, 0x1f };
static const unsigned char S_OID_CP[] = { 0x55, 0x1d, 0x20 };
static const unsigned char S_OID_AIA[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01 };

enum S_ext_kind { S_BC, S_KU, S_EKU, S_SAN, S_SKID, S_AKID, S_CRLDP, S_CP, S_AIA };

static const struct {
	const unsigned char *oid;
	size_t len;
	enum S_ext_kind kind;
	bool may_be_critical; /* X509_supported_extension knows it */
} S_exts[] = {
	{ S_OID_BC, sizeof(S_OID_BC), S_BC, true },
	{ S_OID_KU, sizeof(S_OID_KU), S_KU, true },
	{ S_OID_EKU, sizeof(S_OID_EKU), S_EKU, true },
	{ S_OID_SAN, sizeof(S_OID_SAN), S_SAN, true },
	{ S_OID_SKID, sizeof(S_OID_SKID), S_SKID, false },
	{ S_OID_AKID, sizeof(S_OID_AKID), S_AKID, false },
	{ S_OID_CRLDP, sizeof(S_OID_CRLDP), S_CRLDP, false },
	{ S_OID_CP, sizeof(S_OID_CP), S_CP, true },
	{ S_OID_AIA, sizeof(S_OID_AIA), S_AIA, false },
};

static bool S_bc_ok(const BASIC_CONSTRAINTS *bc)
{
	if (!bc->pathlen)
		return true;
	return bc->ca && bc->pathlen->type != V_ASN1_NEG_INTEGER &&
	       ASN1_INTEGER_get(bc->pathlen) >= 0;
}

static bool S_ku_ok(const ASN1_BIT_STRING *ku)
{
	unsigned v = 0;

	if (ku->length > 0)
		v = ku->data[0];
	if (ku->length > 1)
		v |= (unsigned)ku->data[1] << 8;
	return v != 0;
}

static bool S_crldp_ok(const STACK_OF(DIST_POINT) *dps)
{
	int i;

	for (i = 0; i < sk_DIST_POINT_num(dps); i++) {
		const DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

		if (!dp->distpoint || dp->distpoint->type != 0)
			return false;
	}
	return true;
}

static bool S_akid_ok(const AUTHORITY_KEYID *akid, const struct S_issuer *iss)
{
	if (!akid->keyid || akid->issuer || akid->serial)
		return false;
	return !iss->skid || ASN1_OCTET_STRING_cmp(akid->keyid, iss->skid) == 0;
}

/* One extension: whitelisted, decodes as OpenSSL decodes it, and nothing in
 * it that its extension cache marks invalid or can't handle. */
static bool S_ext_ok(const struct tv__cert_ext *x, const struct S_issuer *iss)
{
	const unsigned char *p = x->whole.p;
	X509_EXTENSION *ext = NULL;
	const X509V3_EXT_METHOD *m = NULL;
	void *v = NULL;
	size_t i;
	bool ok = false;

	for (i = 0; i < sizeof(S_exts) / sizeof(S_exts[0]); i++)
		if (tv__der_is(&x->oid, S_exts[i].oid, S_exts[i].len))
			break;
	if (i == sizeof(S_exts) / sizeof(S_exts[0]) || (x->critical && !S_exts[i].may_be_critical))
		return false;
	if (x->whole.len > LONG_MAX)
		return false;
	ext = d2i_X509_EXTENSION(NULL, &p, (long)x->whole.len);
	if (!ext || p != x->whole.p + x->whole.len)
		goto out;
	m = X509V3_EXT_get(ext);
	v = X509V3_EXT_d2i(ext);
	if (!m || !m->it || !v)
		goto out;
	switch (S_exts[i].kind) {
	case S_BC:
		ok = S_bc_ok(v);
		break;
	case S_KU:
		ok = S_ku_ok(v);
		break;
	case S_CRLDP:
		ok = S_crldp_ok(v);
		break;
	case S_AKID:
		ok = S_akid_ok(v, iss);
		break;
	default:
		ok = true;
		break;
	}
out:
	if (v)
		ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
	X509_EXTENSION_free(ext);
	return ok;
}

/* The digest of a signature algorithm the fast path takes, given the
 * issuer's key type, as S_md's k; -1 for any other. */
static int S_sig_md(const struct tv__der *alg, int key_id)
{
	/* sha256WithRSAEncryption and ecdsa-with-SHA256; the SHA-384 and
	 * SHA-512 algorithms follow each in its last arc */
	static const unsigned char rsa256[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
						0x0d, 0x01, 0x01, 0x0b };
	static const unsigned char ec256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
	const unsigned char *arcs = key_id == EVP_PKEY_RSA ? rsa256
				    : key_id == EVP_PKEY_EC ? ec256
							    : NULL;
	size_t n = key_id == EVP_PKEY_RSA ? sizeof(rsa256) : sizeof(ec256);
	struct tv__der in = *alg, seq, oid;
	int k;

	if (!arcs || !tv__der_get(&in, TV__DER_SEQUENCE, &seq, NULL) ||
	    !tv__der_get(&seq, TV__DER_OID, &oid, NULL) || oid.len != n ||
	    memcmp(oid.p, arcs, n - 1) != 0)
		return -1;
	k = (int)oid.p[n - 1] - (int)arcs[n - 1];
	return k >= 0 && k < S_SIG_MDS ? k : -1;
}

static bool S_sig_ok(const struct tv__cert_der *c, const struct S_issuer *iss)
{
	int k = S_sig_md(&c->sig_alg, iss->key_id);
	EVP_MD_CTX *ctx;
	bool ok = false, ready;

	if (k < 0)
		return false;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return false;
	/* a copy that fails (a provider without dupctx) falls back to a fresh
	 * context, so the fast path stays open */
	ready = iss->verify[k] && EVP_MD_CTX_copy_ex(ctx, iss->verify[k]) == 1;
	if (!ready && EVP_MD_CTX_reset(ctx) == 1)
		ready = EVP_DigestVerifyInit(ctx, NULL, S_md(k), NULL, iss->pkey) == 1;
	if (ready) {
		/* used once: the final step need not keep it usable (a copy) */
		EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
		ok = EVP_DigestVerify(ctx, c->signature.p, c->signature.len, c->tbs.p,
				      c->tbs.len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* The candidates can't make OpenSSL pick another chain (see DESIGN). */
static bool S_candidates_ok(const struct S_issuer *iss, STACK_OF(X509) *candidates)
{
	int n = sk_X509_num(iss->chain), i, k;
	X509 *top = sk_X509_value(iss->chain, n - 1);
	bool top_si = X509_NAME_cmp(X509_get_subject_name(top), X509_get_issuer_name(top)) == 0;
	bool seen[64];
	unsigned char md[S_SHA1_LEN];

	if (n > (int)(sizeof(seen) / sizeof(seen[0])))
		return false;
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < sk_X509_num(candidates); i++) {
		X509 *cand = sk_X509_value(candidates, i);
		const X509_NAME *subj = X509_get_subject_name(cand);
		bool equal = false;

		if (S_sha1(md, cand) != TV_OK)
			return false;
		for (k = 0; k < n && !equal; k++)
			if (memcmp(md, iss->sha1[k], S_SHA1_LEN) == 0)
				equal = seen[k] = true;
		if (equal)
			continue;
		for (k = 0; k < n; k++)
			if (X509_NAME_cmp(subj, X509_get_subject_name(sk_X509_value(iss->chain, k))) ==
			    0)
				return false;
		if (!top_si && X509_NAME_cmp(subj, X509_get_issuer_name(top)) == 0)
			return false;
	}
	for (k = 0; k < n; k++)
		if (!iss->in_store[k] && !seen[k])
			return false;
	return true;
}

/*
 * The fast path for leaf der[0..len) with SHA-1 md: true with *chain = the
 * cached chain (up-referenced copy); false: not applicable, ask OpenSSL.
 */
static bool S_fast(const struct tv_trust_store *ts, const unsigned char *der, size_t len,
		   const unsigned char md[S_SHA1_LEN], STACK_OF(X509) *candidates,
		   STACK_OF(X509) **chain)
{
	struct tv__cert_der *c = NULL;
	const struct S_issuer *iss;
	X509_NAME *subject = NULL;
	const unsigned char *p;
	STACK_OF(X509) *out = NULL;
	bool ok = false;
	size_t i;
	int k;

	if (!ts->issuers || S_in_anchors(ts, md))
		return false;
	c = malloc(sizeof(*c));
	if (!c || !tv__cert_der_parse(c, der, len))
		goto out;
	if (c->version != 2 || c->has_issuer_uid || c->has_subject_uid ||
	    !tv__der_eq(&c->sig_alg, &c->tbs_sig_alg) || c->subject.len > LONG_MAX)
		goto out;
	iss = S_issuers_find(ts, &c->issuer);
	if (!iss)
		goto out;
	for (k = 0; k < sk_X509_num(iss->chain); k++)
		if (memcmp(md, iss->sha1[k], S_SHA1_LEN) == 0)
			goto out;
	p = c->subject.p;
	subject = d2i_X509_NAME(NULL, &p, (long)c->subject.len);
	if (!subject ||
	    X509_NAME_cmp(subject, X509_get_subject_name(sk_X509_value(iss->chain, 0))) == 0)
		goto out;
	for (i = 0; i < c->n_ext; i++)
		if (!S_ext_ok(&c->ext[i], iss))
			goto out;
	if (!tv__cert_der_key_decodes(c) || !S_candidates_ok(iss, candidates) ||
	    !S_sig_ok(c, iss))
		goto out;
	out = sk_X509_new_reserve(NULL, sk_X509_num(iss->chain));
	if (!out)
		goto out;
	for (k = 0; k < sk_X509_num(iss->chain); k++) {
		X509 *x = sk_X509_value(iss->chain, k);

		if (!X509_up_ref(x))
			goto out;
		(void)sk_X509_push(out, x); /* reserved */
	}
	*chain = out;
	out = NULL;
	ok = true;
out:
	sk_X509_pop_free(out, X509_free);
	X509_NAME_free(subject);
	free(c);
	return ok;
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

enum tv_reason tv__chain_verify_mode(const struct tv_trust_store *ts, const unsigned char *der,
				    size_t len, X509 *leaf, STACK_OF(X509) *candidates,
				    STACK_OF(X509) **chain_out, char *msg, size_t msg_size,
				    enum tv__chain_mode mode, bool *fast)
{
	unsigned char md[S_SHA1_LEN], *own_der = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *own_leaf = NULL;
	enum tv_reason rc;
	int n;

	ERR_set_mark();
	if (fast)
		*fast = false;
	if (msg && msg_size)
		msg[0] = '\0';
	if (!ts || (!leaf && (!der || !len))) {
		rc = tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR, "no certificate to verify");
		goto out;
	}
	if (!der && mode != TV__CHAIN_OPENSSL) {
		n = i2d_X509(leaf, &own_der); /* the cached encoding: a copy */
		if (n > 0) {
			der = own_der;
			len = (size_t)n;
		}
	}
	if (leaf ? S_sha1(md, leaf) != TV_OK : !EVP_Digest(der, len, md, NULL, EVP_sha1(), NULL)) {
		rc = tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR,
			      "cannot compute the certificate's fingerprint");
		goto out;
	}
	if (S_is_uploaded(ts, md)) {
		chain = sk_X509_new_null();
		rc = chain ? TV_REASON_OK
			   : tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR, "out of memory");
	} else if (mode != TV__CHAIN_OPENSSL && der && S_fast(ts, der, len, md, candidates, &chain)) {
		if (fast)
			*fast = true;
		rc = TV_REASON_OK;
	} else if (mode == TV__CHAIN_FAST) {
		rc = tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR,
			      "the fast leaf check does not apply");
	} else {
		if (!leaf && S_decode(&own_leaf, der, len) != TV_OK) {
			rc = tv__fail(msg, msg_size, TV_REASON_MALFORMED_KEYSTORE,
				      "the certificate does not decode as X.509");
			goto out;
		}
		if (!leaf)
			leaf = own_leaf;
		rc = S_openssl_verify(ts, leaf, candidates, &chain, msg, msg_size);
		if (rc == TV_REASON_OK)
			S_issuers_add(ts, leaf, chain);
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
	X509_free(own_leaf);
	OPENSSL_free(own_der);
	ERR_pop_to_mark();
	return rc;
}

enum tv_reason tv_chain_verify(const struct tv_trust_store *ts, X509 *leaf,
			       STACK_OF(X509) *candidates, STACK_OF(X509) **chain_out, char *msg,
			       size_t msg_size)
{
	if (!leaf) {
		if (msg && msg_size)
			msg[0] = '\0';
		return tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR, "no certificate to verify");
	}
	return tv__chain_verify_mode(ts, NULL, 0, leaf, candidates, chain_out, msg, msg_size,
				     TV__CHAIN_AUTO, NULL);
}

enum tv_reason tv_chain_verify_der(const struct tv_trust_store *ts, const unsigned char *der,
				   size_t len, X509 *leaf, STACK_OF(X509) *candidates,
				   STACK_OF(X509) **chain_out, char *msg, size_t msg_size)
{
	if (!der || !len) {
		if (msg && msg_size)
			msg[0] = '\0';
		return tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR, "no certificate to verify");
	}
	return tv__chain_verify_mode(ts, der, len, leaf, candidates, chain_out, msg, msg_size,
				     TV__CHAIN_AUTO, NULL);
}
