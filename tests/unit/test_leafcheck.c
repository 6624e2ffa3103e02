/* tv-test-libs: tv_pki */
/*
 * test_leafcheck.c - the fast leaf check of src/pki/chain.c against
 * OpenSSL's X509_verify_cert path (tv__chain_verify_mode): for every leaf,
 * the reference runs first (it fills the check's cache when it says OK),
 * then the fast check alone and the automatic path from the DER alone; the
 * fast check, when it answers, must answer what the reference answered,
 * with the same chain, and the automatic path must always give the
 * reference's reason, message and chain. Over the corpora (the fixture
 * chain, every fixture and shared-vector keystore) and generated leaves:
 * ordinary ones under an RSA and an EC intermediate (most must take the
 * fast path) and crafted edge cases (which mostly must not).
 */
#define _GNU_SOURCE
#include "test_p12_util.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "pki/chain_int.h"

struct S_tally {
	unsigned fast, slow, ok;
};

static void S_chains_eq(STACK_OF(X509) *a, STACK_OF(X509) *b)
{
	int i;

	assert_int_equal(sk_X509_num(a), sk_X509_num(b));
	for (i = 0; i < sk_X509_num(a); i++)
		assert_int_equal(X509_cmp(sk_X509_value(a, i), sk_X509_value(b, i)), 0);
}

/* Both paths over leaf; returns whether the fast check answered. */
static bool S_diff(const struct tv_trust_store *ts, X509 *leaf, STACK_OF(X509) *cands,
		   struct S_tally *t)
{
	char msg_ref[TV_REASON_MSG_SIZE], msg_fast[TV_REASON_MSG_SIZE], msg_auto[TV_REASON_MSG_SIZE];
	STACK_OF(X509) *ref = NULL, *fast = NULL, *aut = NULL;
	enum tv_reason r_ref, r_fast, r_auto;
	unsigned char *der = NULL;
	int len = i2d_X509(leaf, &der);
	bool answered = false, auto_fast = false;

	assert_true(len > 0);
	r_ref = tv__chain_verify_mode(ts, NULL, 0, leaf, cands, &ref, msg_ref, sizeof(msg_ref),
				      TV__CHAIN_OPENSSL, NULL);
	r_fast = tv__chain_verify_mode(ts, der, (size_t)len, NULL, cands, &fast, msg_fast,
				       sizeof(msg_fast), TV__CHAIN_FAST, &answered);
	if (answered) {
		assert_int_equal(r_fast, TV_REASON_OK);
		if (r_ref != TV_REASON_OK)
			fail_msg("fast path said OK, OpenSSL said %d: %s", (int)r_ref, msg_ref);
		S_chains_eq(ref, fast);
		assert_string_equal(msg_fast, "");
	} else if (r_fast == TV_REASON_OK) {
		/* an uploaded leaf: answered before either path */
		assert_int_equal(r_ref, TV_REASON_OK);
		assert_int_equal(sk_X509_num(fast), 0);
		S_chains_eq(ref, fast);
	} else {
		assert_int_equal(r_fast, TV_REASON_INTERNAL_ERROR);
		assert_null(fast);
		if (getenv("TVT_LEAFCHECK_DEBUG") && r_ref == TV_REASON_OK) {
			char *dn = X509_NAME_oneline(X509_get_subject_name(leaf), NULL, 0);

			print_message("OK but not fast: %s\n", dn ? dn : "?");
			OPENSSL_free(dn);
		}
	}
	r_auto = tv__chain_verify_mode(ts, der, (size_t)len, NULL, cands, &aut, msg_auto,
				       sizeof(msg_auto), TV__CHAIN_AUTO, &auto_fast);
	assert_int_equal(r_auto, r_ref);
	assert_string_equal(msg_auto, msg_ref);
	if (r_ref == TV_REASON_OK)
		S_chains_eq(ref, aut);
	else
		assert_null(aut);
	if (answered)
		t->fast++;
	else
		t->slow++;
	if (r_ref == TV_REASON_OK)
		t->ok++;
	sk_X509_pop_free(ref, X509_free);
	sk_X509_pop_free(fast, X509_free);
	sk_X509_pop_free(aut, X509_free);
	OPENSSL_free(der);
	return answered;
}

static X509 *S_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *c;

	assert_non_null(f);
	c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(c);
	return c;
}

static struct tv_trust_store *S_store_of(X509 *const *certs, size_t n)
{
	unsigned char *ders[8] = { NULL };
	size_t lens[8];
	struct tv_trust_store *ts = NULL;
	size_t i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++) {
		int len = i2d_X509(certs[i], &ders[i]);

		assert_true(len > 0);
		lens[i] = (size_t)len;
	}
	assert_int_equal(tv_trust_store_new(&ts, NULL, (const unsigned char *const *)ders, lens, n),
			 TV_OK);
	for (i = 0; i < n; i++)
		OPENSSL_free(ders[i]);
	return ts;
}

/* The fixture chain: root, intermediate, leaves of every key type, twice
 * each (the second run finds the cache the first filled). */
static void test_fixture_chain(void **state)
{
	static const char *const leaves[] = { "leaf-rsa", "leaf-p256", "leaf-p384", "leaf-p521",
					      "leaf-ed25519", "leaf-other", "expired",
					      "by-selfsigned", "by-v1", "selfissued", "selfsigned",
					      "v1-selfsigned", "inter", "root", "root2" };
	struct S_tally t = { 0, 0, 0 };
	X509 *root = S_pem(TVT_FIXTURES "/chain/root.crt.pem");
	X509 *inter = S_pem(TVT_FIXTURES "/chain/inter.crt.pem");
	X509 *both[2] = { root, inter };
	STACK_OF(X509) *cands = sk_X509_new_null();
	struct tv_trust_store *ts1 = S_store_of(&root, 1), *ts2 = S_store_of(both, 2);
	char path[512];
	size_t i;
	int round;

	(void)state;
	assert_true(sk_X509_push(cands, inter));
	for (round = 0; round < 2; round++)
		for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
			X509 *leaf;

			snprintf(path, sizeof(path), TVT_FIXTURES "/chain/%s.crt.pem", leaves[i]);
			leaf = S_pem(path);
			S_diff(ts1, leaf, cands, &t);
			S_diff(ts1, leaf, NULL, &t);
			S_diff(ts2, leaf, NULL, &t);
			S_diff(ts2, leaf, cands, &t);
			X509_free(leaf);
		}
	print_message("fixture chain: %u fast, %u OpenSSL (%u OK)\n", t.fast, t.slow, t.ok);
	assert_true(t.fast >= 8);
	sk_X509_free(cands);
	tv_trust_store_free(ts1);
	tv_trust_store_free(ts2);
	X509_free(root);
	X509_free(inter);
}

/* A keystore's leaf, twice, against a store of its self-issued CAs and
 * against one of all its CAs, with its other certificates as candidates. */
static void S_p12(const char *path, const char *password, void *arg)
{
	struct S_tally *t = arg;
	EVP_PKEY *key;
	X509 *cert, *roots[8], *all[8];
	STACK_OF(X509) *ca;
	size_t n_roots = 0, n_all = 0;
	int i, round;

	if (tvt_p12_parse_file(path, password, &key, &cert, &ca) && cert) {
		for (i = 0; i < sk_X509_num(ca) && n_all < 8; i++) {
			X509 *c = sk_X509_value(ca, i);

			if (X509_check_ca(c) <= 0)
				continue;
			all[n_all++] = c;
			if (X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) == 0)
				roots[n_roots++] = c;
		}
		{
			struct tv_trust_store *a = S_store_of(roots, n_roots),
					      *b = S_store_of(all, n_all);

			for (round = 0; round < 2; round++) {
				S_diff(a, cert, ca, t);
				S_diff(b, cert, ca, t);
				S_diff(b, cert, NULL, t);
			}
			tv_trust_store_free(a);
			tv_trust_store_free(b);
		}
	}
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
}

static void test_keystores(void **state)
{
	struct S_tally t = { 0, 0, 0 };

	(void)state;
	/* under valgrind every third fixture: PKCS12_parse's KDFs are most of
	 * this test's time there, and the native and ASan runs read them all */
	tvt_each_keystore(S_p12, &t, tvt_time_scale() > 1.0 ? 3 : 1);
	print_message("keystores: %u fast, %u OpenSSL (%u OK)\n", t.fast, t.slow, t.ok);
	assert_true(t.fast + t.slow > 0);
}

/* ---- generated certificates ---------------------------------------------- */

/* Under valgrind (make test's memcheck pass, a time scale over 1) RSA-1024:
 * a 2048-bit key generation there takes tens of seconds and reaches no
 * other code. */
static EVP_PKEY *S_rsa(void)
{
	EVP_PKEY *k = EVP_RSA_gen(tvt_time_scale() > 1.0 ? 1024 : 2048);

	assert_non_null(k);
	return k;
}

static EVP_PKEY *S_ec(const char *curve)
{
	EVP_PKEY *k = EVP_EC_gen(curve);

	assert_non_null(k);
	return k;
}

/*
 * A certificate for key named cn, issued by issuer (NULL: self-signed)
 * with issuer_key and md, extensions as (name, value) pairs, version
 * (0: v1, 2: v3), serial. Returned as d2i_X509 decodes it.
 */
static X509 *S_make(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		    const char *const *exts, long version, long serial, const EVP_MD *md)
{
	X509 *cert = X509_new(), *back;
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	const unsigned char *p;
	X509V3_CTX ctx;
	size_t i;
	int len;

	assert_true(X509_set_version(cert, version));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial));
	assert_true(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					       (const unsigned char *)"Leafcheck", -1, -1, 0));
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					       (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_set_subject_name(cert, name));
	assert_true(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name));
	assert_true(ASN1_TIME_set_string(X509_getm_notBefore(cert), "20200101000000Z"));
	assert_true(ASN1_TIME_set_string(X509_getm_notAfter(cert), "20400101000000Z"));
	assert_true(X509_set_pubkey(cert, key));
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	for (i = 0; exts && exts[i]; i += 2) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i], exts[i + 1]);

		if (!e)
			fail_msg("extension %s = %s", exts[i], exts[i + 1]);
		assert_true(X509_add_ext(cert, e, -1));
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(cert, issuer_key, md) > 0);
	len = i2d_X509(cert, &der);
	p = der;
	back = d2i_X509(NULL, &p, len);
	assert_non_null(back);
	OPENSSL_free(der);
	X509_free(cert);
	X509_NAME_free(name);
	return back;
}

/* cert's DER with the octet at from_end (counted back from its end)
 * flipped, decoded again. */
static X509 *S_flip(X509 *cert, int from_end)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_X509(cert, &der);
	X509 *back;

	assert_true(len > from_end);
	der[len - from_end] ^= 0x01;
	p = der;
	back = d2i_X509(NULL, &p, len);
	assert_non_null(back);
	OPENSSL_free(der);
	return back;
}

static const char *const S_ca_exts[] = { "basicConstraints", "critical,CA:TRUE",
					 "keyUsage", "critical,keyCertSign,cRLSign",
					 "subjectKeyIdentifier", "hash",
					 "authorityKeyIdentifier", "keyid",
					 NULL };
static const char *const S_root_exts[] = { "basicConstraints", "critical,CA:TRUE",
					   "keyUsage", "critical,keyCertSign,cRLSign",
					   "subjectKeyIdentifier", "hash", NULL };

struct S_pki {
	EVP_PKEY *root_key, *rsa_key, *ec_key, *other_key;
	X509 *root, *rsa_ca, *ec_ca;
};

static void S_pki_init(struct S_pki *k)
{
	k->root_key = S_rsa();
	k->rsa_key = S_rsa();
	k->ec_key = S_ec("P-256");
	k->other_key = S_rsa();
	k->root = S_make(k->root_key, "Root", NULL, k->root_key, S_root_exts, 2, 1, EVP_sha256());
	k->rsa_ca = S_make(k->rsa_key, "RSA CA", k->root, k->root_key, S_ca_exts, 2, 2,
			   EVP_sha256());
	k->ec_ca = S_make(k->ec_key, "EC CA", k->root, k->root_key, S_ca_exts, 2, 3,
			  EVP_sha384());
}

static void S_pki_free(struct S_pki *k)
{
	EVP_PKEY_free(k->root_key);
	EVP_PKEY_free(k->rsa_key);
	EVP_PKEY_free(k->ec_key);
	EVP_PKEY_free(k->other_key);
	X509_free(k->root);
	X509_free(k->rsa_ca);
	X509_free(k->ec_ca);
}

/* 100 ordinary leaves (30 under valgrind): RSA and EC keys, both intermediates, the usual
 * extensions in several combinations and digests. Most must go fast. */
static void test_generated(void **state)
{
	static const char *const ext_sets[][16] = {
		{ "basicConstraints", "critical,CA:FALSE", "keyUsage",
		  "critical,digitalSignature,keyEncipherment", "extendedKeyUsage",
		  "serverAuth,clientAuth", "subjectAltName", "DNS:a.example.com,DNS:b.example.com",
		  "subjectKeyIdentifier", "hash", "authorityKeyIdentifier", "keyid", NULL },
		{ "subjectAltName", "DNS:x.example.com,IP:10.0.0.1,email:a@example.com", NULL },
		{ "crlDistributionPoints", "URI:http://crl.example.com/ca.crl",
		  "authorityInfoAccess", "OCSP;URI:http://ocsp.example.com,caIssuers;URI:http://example.com/ca.crt",
		  "certificatePolicies", "DER:30:0a:30:08:06:06:67:81:0c:01:02:01", NULL },
		{ "basicConstraints", "CA:FALSE", "keyUsage", "digitalSignature", NULL },
		{ NULL },
	};
	static const char *const digests[] = { "SHA256", "SHA384", "SHA512" };
	struct S_tally t = { 0, 0, 0 };
	struct S_pki k;
	struct tv_trust_store *ts;
	STACK_OF(X509) *cands = sk_X509_new_null();
	EVP_PKEY *leaf_keys[3];
	char cn[64];
	/* fewer under valgrind: each is a signature and two verifications */
	int i, n = tvt_time_scale() > 1.0 ? 30 : 100;

	(void)state;
	S_pki_init(&k);
	leaf_keys[0] = S_rsa();
	leaf_keys[1] = S_ec("P-256");
	leaf_keys[2] = S_ec("P-384");
	ts = S_store_of(&k.root, 1);
	assert_true(sk_X509_push(cands, k.rsa_ca));
	assert_true(sk_X509_push(cands, k.ec_ca));
	for (i = 0; i < n; i++) {
		bool under_ec = i % 2;
		X509 *leaf;

		snprintf(cn, sizeof(cn), "leaf%d.example.com", i);
		leaf = S_make(leaf_keys[i % 3], cn, under_ec ? k.ec_ca : k.rsa_ca,
			      under_ec ? k.ec_key : k.rsa_key, ext_sets[i % 5], 2, 100 + i,
			      EVP_get_digestbyname(digests[(i / 5) % 3]));
		S_diff(ts, leaf, cands, &t);
		X509_free(leaf);
	}
	print_message("generated: %u fast, %u OpenSSL (%u OK)\n", t.fast, t.slow, t.ok);
	assert_int_equal(t.ok, (unsigned)n);
	assert_true(t.fast >= (unsigned)n - 5); /* only the first under each intermediate
						   fills the cache */
	EVP_PKEY_free(leaf_keys[0]);
	EVP_PKEY_free(leaf_keys[1]);
	EVP_PKEY_free(leaf_keys[2]);
	sk_X509_free(cands);
	tv_trust_store_free(ts);
	S_pki_free(&k);
}

/* A crafted leaf: both paths agree, and the fast one answers as expected
 * (1 must, 0 must not). */
struct S_case {
	const char *name;
	const char *const *exts;
	int expect_fast;
};

static void test_edge_cases(void **state)
{
	static const char *const e_unknown_crit[] = { "1.2.3.4", "critical,DER:05:00", NULL };
	static const char *const e_unknown[] = { "1.2.3.4", "DER:05:00", NULL };
	static const char *const e_akid_issuer[] = { "authorityKeyIdentifier",
						     "keyid:always,issuer:always", NULL };
	static const char *const e_akid_bad[] = { "authorityKeyIdentifier",
						  "DER:30:06:80:04:01:02:03:04", NULL };
	static const char *const e_akid_empty[] = { "authorityKeyIdentifier", "DER:30:00", NULL };
	static const char *const e_neg_pathlen[] = { "basicConstraints",
						     "critical,DER:30:06:01:01:ff:02:01:ff", NULL };
	static const char *const e_pathlen_nonca[] = { "basicConstraints",
						       "DER:30:03:02:01:01", NULL };
	static const char *const e_ca_pathlen[] = { "basicConstraints",
						    "critical,CA:TRUE,pathlen:0", NULL };
	static const char *const e_bad_san[] = { "subjectAltName", "DER:30:03:82:05:61", NULL };
	static const char *const e_crit_san[] = { "subjectAltName", "critical,DNS:c.example.com",
						  NULL };
	static const char *const e_empty_ku[] = { "keyUsage", "DER:03:01:00", NULL };
	static const char *const e_ku_third[] = { "keyUsage", "DER:03:04:07:00:00:80", NULL };
	static const char *const e_bad_skid[] = { "subjectKeyIdentifier", "DER:30:00", NULL };
	static const char *const e_crit_skid[] = { "subjectKeyIdentifier", "critical,DER:04:02:01:02",
						   NULL };
	static const char *const e_crldp_rel[] = {
		"crlDistributionPoints", "DER:30:13:30:11:a0:0f:a1:0d:30:0b:06:03:55:04:03:0c:04:63:72:6c:31",
		NULL
	};
	static const char *const e_crldp_empty_dp[] = { "crlDistributionPoints", "DER:30:02:30:00",
							NULL };
	static const char *const e_crit_crldp[] = { "crlDistributionPoints",
						    "critical,URI:http://crl.example.com/x.crl", NULL };
	static const char *const e_crit_cp[] = { "certificatePolicies",
						 "critical,DER:30:08:30:06:06:04:55:1d:20:00", NULL };
	static const char *const e_proxy[] = { "proxyCertInfo",
					       "critical,DER:30:0c:30:0a:06:08:2b:06:01:05:05:07:15:00", NULL };
	static const char *const e_dup[] = { "subjectAltName", "DNS:a.example.com",
					     "subjectAltName", "DNS:b.example.com", NULL };
	static const char *const e_good[] = { "subjectAltName", "DNS:good.example.com",
					      "authorityKeyIdentifier", "keyid", NULL };
	static const struct S_case cases[] = {
		{ "unknown critical", e_unknown_crit, 0 },
		{ "unknown non-critical", e_unknown, 0 },
		{ "akid issuer/serial", e_akid_issuer, 0 },
		{ "akid mismatch", e_akid_bad, 0 },
		{ "akid empty", e_akid_empty, 0 },
		{ "negative pathlen", e_neg_pathlen, 0 },
		{ "pathlen on non-CA", e_pathlen_nonca, 0 },
		{ "CA leaf with pathlen", e_ca_pathlen, 1 },
		{ "malformed SAN", e_bad_san, 0 },
		{ "critical SAN", e_crit_san, 1 },
		{ "empty keyUsage", e_empty_ku, 0 },
		{ "keyUsage third octet only", e_ku_third, 0 },
		{ "malformed SKID", e_bad_skid, 0 },
		{ "critical SKID", e_crit_skid, 0 },
		{ "CRLDP relative name", e_crldp_rel, 0 },
		{ "CRLDP empty point", e_crldp_empty_dp, 0 },
		{ "critical CRLDP", e_crit_crldp, 0 },
		{ "critical policies", e_crit_cp, 1 },
		{ "proxy", e_proxy, 0 },
		{ "duplicate SAN", e_dup, 0 },
		{ "good", e_good, 1 },
	};
	struct S_tally t = { 0, 0, 0 };
	struct S_pki k;
	struct tv_trust_store *ts;
	STACK_OF(X509) *cands = sk_X509_new_null(), *cands2 = sk_X509_new_null();
	EVP_PKEY *leaf_key = S_ec("P-256"), *noks_key;
	X509 *leaf, *bad, *noks_ca, *twin_ca, *nc_ca;
	size_t i;
	int which;
	static const char *const noks_exts[] = { "basicConstraints", "critical,CA:TRUE",
						 "keyUsage", "critical,digitalSignature",
						 "subjectKeyIdentifier", "hash", NULL };
	static const char *const nc_exts[] = { "basicConstraints", "critical,CA:TRUE",
					       "nameConstraints", "critical,permitted;DNS:example.com",
					       NULL };

	(void)state;
	S_pki_init(&k);
	ts = S_store_of(&k.root, 1);
	assert_true(sk_X509_push(cands, k.rsa_ca));
	assert_true(sk_X509_push(cands, k.ec_ca));
	/* fill the cache for both intermediates */
	for (which = 0; which < 2; which++) {
		leaf = S_make(leaf_key, "first", which ? k.ec_ca : k.rsa_ca,
			      which ? k.ec_key : k.rsa_key, e_good, 2, 7, EVP_sha256());
		S_diff(ts, leaf, cands, &t);
		assert_true(S_diff(ts, leaf, cands, &t));
		X509_free(leaf);
	}
	for (which = 0; which < 2; which++)
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			bool fast;

			leaf = S_make(leaf_key, cases[i].name, which ? k.ec_ca : k.rsa_ca,
				      which ? k.ec_key : k.rsa_key, cases[i].exts, 2, 10 + (long)i,
				      EVP_sha256());
			fast = S_diff(ts, leaf, cands, &t);
			if (fast != (cases[i].expect_fast == 1))
				fail_msg("%s: fast path %s", cases[i].name,
					 fast ? "taken" : "not taken");
			X509_free(leaf);
		}
	/* bad signature; signature by another key; v1; wrong algorithm family */
	leaf = S_make(leaf_key, "sig", k.rsa_ca, k.rsa_key, e_good, 2, 50, EVP_sha256());
	bad = S_flip(leaf, 1);
	assert_false(S_diff(ts, bad, cands, &t));
	X509_free(bad);
	X509_free(leaf);
	leaf = S_make(leaf_key, "other key", k.rsa_ca, k.other_key, e_good, 2, 51, EVP_sha256());
	assert_false(S_diff(ts, leaf, cands, &t));
	X509_free(leaf);
	leaf = S_make(leaf_key, "v1", k.rsa_ca, k.rsa_key, NULL, 0, 52, EVP_sha256());
	assert_false(S_diff(ts, leaf, cands, &t));
	X509_free(leaf);
	leaf = S_make(leaf_key, "ecdsa under rsa", k.rsa_ca, k.ec_key, e_good, 2, 53, EVP_sha256());
	assert_false(S_diff(ts, leaf, cands, &t));
	X509_free(leaf);
	leaf = S_make(leaf_key, "rsa under ec", k.ec_ca, k.rsa_key, e_good, 2, 54, EVP_sha256());
	assert_false(S_diff(ts, leaf, cands, &t));
	X509_free(leaf);
	leaf = S_make(leaf_key, "sha1", k.rsa_ca, k.rsa_key, e_good, 2, 55, EVP_sha1());
	assert_false(S_diff(ts, leaf, cands, &t));
	X509_free(leaf);
	/* SHA-384 and SHA-512 signatures (each issuer's own verify context),
	 * good, flipped, and good again (the issuer's context is copied, not
	 * used up) */
	for (which = 0; which < 2; which++) {
		leaf = S_make(leaf_key, which ? "sha512" : "sha384", which ? k.ec_ca : k.rsa_ca,
			      which ? k.ec_key : k.rsa_key, e_good, 2, 58 + (long)which,
			      which ? EVP_sha512() : EVP_sha384());
		assert_true(S_diff(ts, leaf, cands, &t));
		bad = S_flip(leaf, 1);
		assert_false(S_diff(ts, bad, cands, &t));
		X509_free(bad);
		assert_true(S_diff(ts, leaf, cands, &t));
		X509_free(leaf);
	}
	/* SHA-224, next to the accepted arcs: OpenSSL's path */
	leaf = S_make(leaf_key, "sha224", k.rsa_ca, k.rsa_key, e_good, 2, 63, EVP_sha224());
	assert_false(S_diff(ts, leaf, cands, &t));
	X509_free(leaf);
	/* self-issued leaf named like its issuer */
	leaf = S_make(leaf_key, "RSA CA", k.rsa_ca, k.rsa_key, e_good, 2, 56, EVP_sha256());
	assert_false(S_diff(ts, leaf, cands, &t));
	X509_free(leaf);
	/* the intermediate missing from the candidates: OpenSSL fails */
	leaf = S_make(leaf_key, "no inter", k.rsa_ca, k.rsa_key, e_good, 2, 57, EVP_sha256());
	assert_false(S_diff(ts, leaf, NULL, &t));
	/* a second, different intermediate with the same subject among them */
	noks_key = S_rsa();
	twin_ca = S_make(noks_key, "RSA CA", k.root, k.root_key, S_ca_exts, 2, 60, EVP_sha256());
	assert_true(sk_X509_push(cands2, twin_ca));
	assert_true(sk_X509_push(cands2, k.rsa_ca));
	assert_false(S_diff(ts, leaf, cands2, &t));
	X509_free(leaf);
	/* an issuer without keyCertSign and a name-constrained one: never fast */
	noks_ca = S_make(noks_key, "No certsign", k.root, k.root_key, noks_exts, 2, 61,
			 EVP_sha256());
	nc_ca = S_make(noks_key, "Constrained", k.root, k.root_key, nc_exts, 2, 62, EVP_sha256());
	assert_true(sk_X509_push(cands2, noks_ca));
	assert_true(sk_X509_push(cands2, nc_ca));
	for (i = 0; i < 3; i++) {
		leaf = S_make(leaf_key, "under noks", noks_ca, noks_key, NULL, 2, 70 + (long)i,
			      EVP_sha256());
		assert_false(S_diff(ts, leaf, cands2, &t));
		X509_free(leaf);
		leaf = S_make(leaf_key, "under nc", nc_ca, noks_key, e_crit_san, 2, 80 + (long)i,
			      EVP_sha256());
		assert_false(S_diff(ts, leaf, cands2, &t));
		X509_free(leaf);
	}
	print_message("edge cases: %u fast, %u OpenSSL (%u OK)\n", t.fast, t.slow, t.ok);
	X509_free(twin_ca);
	X509_free(noks_ca);
	X509_free(nc_ca);
	EVP_PKEY_free(noks_key);
	EVP_PKEY_free(leaf_key);
	sk_X509_free(cands);
	sk_X509_free(cands2);
	tv_trust_store_free(ts);
	S_pki_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_chain),
		cmocka_unit_test(test_keystores),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_edge_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
