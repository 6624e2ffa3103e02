/* tv-test-libs: tv_pki */
/*
 * test_chain.c - trust anchors and chain verification (src/pki/chain.c)
 * on the fixtures of tests/fixtures/gen-chain.sh:
 *
 *   root ── inter ─┬─ leaf-rsa, leaf-p256/p384/p521/ed25519
 *    │             └─ expired (validity 2020..2021)
 *    └─ selfissued (subject == root's subject, its own key)
 *   root2 ── leaf-other            (an unrelated root)
 *   selfsigned ── by-selfsigned    (a self-signed END_ENTITY "issuing")
 *   v1-selfsigned ── by-v1         (the same with an X.509 v1 "issuer")
 *
 * and on the system bundle that the ca-certificates package installs.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/chain.h"
#include "pki/x509.h"

#define S_DIR TV_SOURCE_DIR "/tests/fixtures/chain/"
#define S_MAX_UPLOADS 8

/* ---- helpers ------------------------------------------------------------ */

static X509 *S_fixture(const char *name)
{
	char path[512];
	X509 *cert;
	FILE *f;

	snprintf(path, sizeof(path), S_DIR "%s.crt.pem", name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		fail_msg("cannot read %s", path);
	return cert;
}

/* A store of the named fixtures (NULL-terminated list) plus roots. */
static struct tv_trust_store *S_store(const struct tv_trust_roots *roots, const char *const *names)
{
	unsigned char *ders[S_MAX_UPLOADS] = { NULL };
	size_t lens[S_MAX_UPLOADS] = { 0 }, n, i;
	struct tv_trust_store *ts = NULL;
	X509 *cert;

	for (n = 0; names && names[n]; n++) {
		assert_true(n < S_MAX_UPLOADS);
		cert = S_fixture(names[n]);
		assert_int_equal(tv_cert_der(&ders[n], &lens[n], cert), TV_OK);
		X509_free(cert);
	}
	assert_int_equal(tv_trust_store_new(&ts, roots, (const unsigned char *const *)ders, lens, n),
			 TV_OK);
	assert_non_null(ts);
	for (i = 0; i < n; i++)
		free(ders[i]);
	return ts;
}

/* A stack of the named fixtures, or NULL for no names. */
static STACK_OF(X509) *S_stack(const char *const *names)
{
	STACK_OF(X509) *sk;
	size_t i;

	if (!names)
		return NULL;
	sk = sk_X509_new_null();
	assert_non_null(sk);
	for (i = 0; names[i]; i++)
		assert_true(sk_X509_push(sk, S_fixture(names[i])) > 0);
	return sk;
}

/* chain holds exactly the named fixtures, in order. */
static void S_assert_chain(STACK_OF(X509) *chain, const char *const *names)
{
	X509 *want;
	int i;

	assert_non_null(chain);
	for (i = 0; names[i]; i++) {
		assert_true(i < sk_X509_num(chain));
		want = S_fixture(names[i]);
		if (X509_cmp(sk_X509_value(chain, i), want) != 0)
			fail_msg("chain[%d] is not %s", i, names[i]);
		X509_free(want);
	}
	assert_int_equal(sk_X509_num(chain), i);
}

/*
 * Verify fixture leaf against a store of uploads (+ roots) with candidates,
 * expect want; on OK the chain must be chain_names. Returns nothing: msg is
 * copied to msg_out (may be NULL) for further checks.
 */
static void S_verify(const struct tv_trust_roots *roots, const char *const *uploads,
		     const char *leaf_name, const char *const *candidates, enum tv_reason want,
		     const char *const *chain_names, char *msg_out, size_t msg_out_size)
{
	struct tv_trust_store *ts = S_store(roots, uploads);
	STACK_OF(X509) *cand = S_stack(candidates);
	STACK_OF(X509) *sentinel = (STACK_OF(X509) *)&sentinel, *chain = sentinel;
	char msg[TV_REASON_MSG_SIZE];
	X509 *leaf = S_fixture(leaf_name);
	enum tv_reason got;

	got = tv_chain_verify(ts, leaf, cand, &chain, msg, sizeof(msg));
	if (got != want)
		fail_msg("%s: got %s (%s), want %s", leaf_name, tv_reason_code(got), msg,
			 tv_reason_code(want));
	if (want == TV_REASON_OK) {
		assert_string_equal(msg, "");
		S_assert_chain(chain, chain_names);
		sk_X509_pop_free(chain, X509_free);
	} else {
		assert_ptr_equal(chain, sentinel); /* untouched on failure */
		assert_true(strlen(msg) > 0);
	}
	assert_int_equal(ERR_peek_error(), 0);
	if (msg_out)
		snprintf(msg_out, msg_out_size, "%s", msg);
	X509_free(leaf);
	sk_X509_pop_free(cand, X509_free);
	tv_trust_store_free(ts);
}

static const char *const S_none[] = {NULL};

/* ---- paths through the test PKI ------------------------------------------ */

static void test_root_uploaded_inter_candidate(void **state)
{
	static const char *const up[] = {"root", NULL};
	static const char *const cand[] = {"inter", NULL};
	static const char *const chain[] = {"inter", "root", NULL};
	static const char *const leaves[] = {"leaf-rsa", "leaf-p256", "leaf-p384",
					     "leaf-p521", "leaf-ed25519", NULL};
	size_t i;

	(void)state;
	for (i = 0; leaves[i]; i++)
		S_verify(NULL, up, leaves[i], cand, TV_REASON_OK, chain, NULL, 0);
	/* without the intermediate there is no path */
	S_verify(NULL, up, "leaf-rsa", NULL, TV_REASON_CHAIN_BUILDING_FAILED, NULL, NULL, 0);
}

static void test_both_uploaded(void **state)
{
	static const char *const up[] = {"root", "inter", NULL};
	static const char *const chain[] = {"inter", "root", NULL};

	(void)state;
	S_verify(NULL, up, "leaf-rsa", NULL, TV_REASON_OK, chain, NULL, 0);
	S_verify(NULL, up, "leaf-ed25519", S_none, TV_REASON_OK, chain, NULL, 0);
}

static void test_partial_chain(void **state)
{
	static const char *const up[] = {"inter", NULL};
	static const char *const chain[] = {"inter", NULL};
	static const char *const root_cand[] = {"root", NULL};

	(void)state;
	S_verify(NULL, up, "leaf-p256", NULL, TV_REASON_OK, chain, NULL, 0);
	/* an untrusted root among the candidates doesn't lengthen the chain */
	S_verify(NULL, up, "leaf-p256", root_cand, TV_REASON_OK, chain, NULL, 0);
}

static void test_expired_still_verifies(void **state)
{
	static const char *const up[] = {"root", NULL};
	static const char *const cand[] = {"inter", NULL};
	static const char *const chain[] = {"inter", "root", NULL};
	struct tv_cert_facts f;
	X509 *expired = S_fixture("expired");

	(void)state;
	assert_int_equal(tv_cert_facts_get(&f, expired), TV_OK);
	assert_true(f.validity_end_ms < INT64_C(1700000000000)); /* really expired */
	tv_cert_facts_release(&f);
	X509_free(expired);
	S_verify(NULL, up, "expired", cand, TV_REASON_OK, chain, NULL, 0);
}

static void test_leaf_is_anchor(void **state)
{
	static const char *const up_inter[] = {"inter", NULL};
	static const char *const up_root[] = {"root", NULL};
	static const char *const up_si[] = {"selfissued", NULL};
	static const char *const root_only[] = {"root", NULL};

	(void)state;
	/* an uploaded CA given as the leaf: OK, nothing above it */
	S_verify(NULL, up_inter, "inter", NULL, TV_REASON_OK, S_none, NULL, 0);
	S_verify(NULL, up_root, "root", NULL, TV_REASON_OK, S_none, NULL, 0);
	/* a CA leaf under an uploaded root */
	S_verify(NULL, up_root, "inter", NULL, TV_REASON_OK, root_only, NULL, 0);
	/* a self-issued CA is an anchor like any uploaded CA, and verifies
	 * under the root whose name it shares */
	S_verify(NULL, up_si, "selfissued", NULL, TV_REASON_OK, S_none, NULL, 0);
	S_verify(NULL, up_root, "selfissued", NULL, TV_REASON_OK, root_only, NULL, 0);
}

static void test_unrelated_root(void **state)
{
	static const char *const up[] = {"root", "inter", NULL};
	static const char *const cand[] = {"inter", "root", NULL};
	static const char *const cand2[] = {"root2", NULL};
	char msg[TV_REASON_MSG_SIZE];

	(void)state;
	S_verify(NULL, up, "leaf-other", cand, TV_REASON_CHAIN_BUILDING_FAILED, NULL, msg,
		 sizeof(msg));
	assert_string_equal(msg, "no path to a trusted CA for issuer "
				 "'CN=Unrelated Root CA,O=Unrelated Org,C=DE': "
				 "unable to get local issuer certificate");
	/* the unrelated root as a mere candidate doesn't help either */
	S_verify(NULL, up, "leaf-other", cand2, TV_REASON_CHAIN_BUILDING_FAILED, NULL, msg,
		 sizeof(msg));
}

static void test_self_signed(void **state)
{
	static const char *const up_root[] = {"root", NULL};
	static const char *const up_ss[] = {"selfsigned", NULL};
	static const char *const up_both[] = {"root", "selfsigned", NULL};
	char msg[TV_REASON_MSG_SIZE];

	(void)state;
	S_verify(NULL, up_root, "selfsigned", NULL, TV_REASON_SELF_SIGNED, NULL, msg, sizeof(msg));
	assert_non_null(strstr(msg, "'CN=selfsigned.example.com,O=Self Signed Ltd'"));
	S_verify(NULL, NULL, "selfsigned", NULL, TV_REASON_SELF_SIGNED, NULL, NULL, 0);
	/* a self-signed root that isn't uploaded is SELF_SIGNED too */
	S_verify(NULL, up_ss, "root2", NULL, TV_REASON_SELF_SIGNED, NULL, NULL, 0);
	/* pinned as END_ENTITY: OK with an empty chain */
	S_verify(NULL, up_ss, "selfsigned", NULL, TV_REASON_OK, S_none, NULL, 0);
	S_verify(NULL, up_both, "selfsigned", NULL, TV_REASON_OK, S_none, NULL, 0);
}

static void test_pinned_end_entity_never_issues(void **state)
{
	static const char *const up_ss[] = {"selfsigned", NULL};
	static const char *const cand_ss[] = {"selfsigned", NULL};
	static const char *const up_leaf[] = {"leaf-p256", "root", NULL};
	static const char *const cand_leaf[] = {"leaf-p256", "inter", NULL};
	static const char *const up_v1[] = {"v1-selfsigned", NULL};
	static const char *const cand_v1[] = {"v1-selfsigned", NULL};
	char msg[TV_REASON_MSG_SIZE];

	(void)state;
	/* the pinned self-signed leaf is not an anchor... */
	S_verify(NULL, up_ss, "by-selfsigned", NULL, TV_REASON_CHAIN_BUILDING_FAILED, NULL, msg,
		 sizeof(msg));
	assert_non_null(strstr(msg, "issuer 'CN=selfsigned.example.com,O=Self Signed Ltd'"));
	/* ...nor an intermediate, even when the keystore offers it */
	S_verify(NULL, up_ss, "by-selfsigned", cand_ss, TV_REASON_CHAIN_BUILDING_FAILED, NULL,
		 NULL, 0);
	/* a v1 self-signed certificate has no cA=TRUE: pinned, never an issuer,
	 * although OpenSSL's own CA check would let it issue */
	S_verify(NULL, up_v1, "v1-selfsigned", NULL, TV_REASON_OK, S_none, NULL, 0);
	S_verify(NULL, up_v1, "by-v1", NULL, TV_REASON_CHAIN_BUILDING_FAILED, NULL, NULL, 0);
	S_verify(NULL, up_v1, "by-v1", cand_v1, TV_REASON_CHAIN_BUILDING_FAILED, NULL, NULL, 0);
	/* pinning one leaf trusts that leaf, not its siblings */
	S_verify(NULL, up_leaf, "leaf-p256", NULL, TV_REASON_OK, S_none, NULL, 0);
	S_verify(NULL, up_leaf, "leaf-p384", NULL, TV_REASON_CHAIN_BUILDING_FAILED, NULL, NULL, 0);
	S_verify(NULL, up_leaf, "leaf-p384", cand_leaf, TV_REASON_OK,
		 (const char *const[]){"inter", "root", NULL}, NULL, 0);
}

static void test_tampered_signature(void **state)
{
	static const char *const up[] = {"root", "inter", NULL};
	struct tv_trust_store *ts = S_store(NULL, up);
	char msg[TV_REASON_MSG_SIZE];
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509 *leaf = S_fixture("leaf-rsa"), *bad;

	(void)state;
	assert_int_equal(tv_cert_der(&der, &len, leaf), TV_OK);
	der[len - 5] ^= 0x01; /* inside the signature value */
	p = der;
	bad = d2i_X509(NULL, &p, (long)len);
	assert_non_null(bad);
	assert_int_equal(tv_chain_verify(ts, bad, NULL, NULL, msg, sizeof(msg)),
			 TV_REASON_CHAIN_BUILDING_FAILED);
	assert_non_null(strstr(msg, "signature"));
	/* the untampered leaf, with chain_out and msg NULL */
	assert_int_equal(tv_chain_verify(ts, leaf, NULL, NULL, NULL, 0), TV_REASON_OK);
	assert_int_equal(tv_chain_verify(NULL, leaf, NULL, NULL, msg, sizeof(msg)),
			 TV_REASON_INTERNAL_ERROR);
	assert_int_equal(tv_chain_verify(ts, NULL, NULL, NULL, msg, sizeof(msg)),
			 TV_REASON_INTERNAL_ERROR);
	assert_int_equal(ERR_peek_error(), 0);
	X509_free(bad);
	X509_free(leaf);
	free(der);
	tv_trust_store_free(ts);
}

static void test_store_rejects_bad_der(void **state)
{
	static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	const unsigned char *ders[2];
	size_t lens[2];
	struct tv_trust_store *ts = NULL;
	unsigned char *good;
	size_t good_len;
	X509 *root = S_fixture("root");

	(void)state;
	assert_int_equal(tv_cert_der(&good, &good_len, root), TV_OK);
	ders[0] = good;
	lens[0] = good_len;
	ders[1] = junk;
	lens[1] = sizeof(junk);
	assert_int_equal(tv_trust_store_new(&ts, NULL, ders, lens, 2), TV_ERR_INVALID);
	assert_null(ts);
	lens[0] = good_len + 1; /* a trailing byte */
	assert_int_equal(tv_trust_store_new(&ts, NULL, ders, lens, 1), TV_ERR_INVALID);
	assert_int_equal(tv_trust_store_new(&ts, NULL, NULL, NULL, 1), TV_ERR_INVALID);
	assert_null(ts);
	/* an empty store is fine and trusts nothing */
	assert_int_equal(tv_trust_store_new(&ts, NULL, NULL, NULL, 0), TV_OK);
	assert_int_equal(tv_chain_verify(ts, root, NULL, NULL, NULL, 0), TV_REASON_SELF_SIGNED);
	tv_trust_store_free(ts);
	tv_trust_store_free(NULL);
	assert_int_equal(ERR_peek_error(), 0);
	free(good);
	X509_free(root);
}

/* ---- system roots --------------------------------------------------------- */

static void test_system_roots(void **state)
{
	static const char *const cand[] = {"inter", NULL};
	static const char *const up_root[] = {"root", NULL};
	static const char *const chain[] = {"inter", "root", NULL};
	struct tv_trust_roots *roots = NULL, *other = NULL;
	struct tv_trust_store *ts;
	struct tv_cert_facts f;
	STACK_OF(X509) *out = NULL;
	char msg[TV_REASON_MSG_SIZE];
	X509 *sys_root, *leaf;
	size_t i, n;

	(void)state;
	assert_int_equal(tv_trust_roots_load(&roots, NULL), TV_OK);
	n = tv_trust_roots_count(roots);
	print_message("%zu system roots\n", n);
	assert_true(n > 50);
	assert_null(tv_trust_roots_get(roots, n));
	for (i = 0; i < n; i++) { /* all CAs: the listing shows them as such */
		assert_int_equal(tv_cert_facts_get(&f, tv_trust_roots_get(roots, i)), TV_OK);
		assert_true(f.is_ca || f.self_signed);
		tv_cert_facts_release(&f);
	}
	assert_int_equal(tv_trust_roots_load(&other, TV_TRUST_ROOTS_DEFAULT_PATH), TV_OK);
	assert_int_equal(tv_trust_roots_count(other), n);
	tv_trust_roots_free(other);
	other = NULL;
	assert_int_equal(tv_trust_roots_load(&other, S_DIR "no-such-file.pem"),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(tv_trust_roots_load(&other, S_DIR "FACTS.txt"), TV_ERR_INVALID);
	assert_null(other);
	assert_int_equal(tv_trust_roots_count(NULL), 0);

	/* roots but no uploads: the test PKI is not trusted */
	S_verify(roots, NULL, "leaf-rsa", cand, TV_REASON_CHAIN_BUILDING_FAILED, NULL, msg,
		 sizeof(msg));
	assert_string_equal(msg, "no path to a trusted CA for issuer "
				 "'CN=tlsvault Test Intermediate CA,O=tlsvault tests,C=US': "
				 "unable to get local issuer certificate");
	/* roots and the test root: trusted, through the uploaded root */
	S_verify(roots, up_root, "leaf-rsa", cand, TV_REASON_OK, chain, NULL, 0);

	/* a system root as the leaf verifies with nothing above it; the store
	 * keeps its own references, so the roots may go first */
	ts = S_store(roots, NULL);
	sys_root = X509_dup(tv_trust_roots_get(roots, 0));
	assert_non_null(sys_root);
	tv_trust_roots_free(roots);
	assert_int_equal(tv_chain_verify(ts, sys_root, NULL, &out, msg, sizeof(msg)),
			 TV_REASON_OK);
	assert_int_equal(sk_X509_num(out), 0);
	sk_X509_pop_free(out, X509_free);
	leaf = S_fixture("selfsigned");
	assert_int_equal(tv_chain_verify(ts, leaf, NULL, NULL, msg, sizeof(msg)),
			 TV_REASON_SELF_SIGNED);
	X509_free(leaf);
	X509_free(sys_root);
	tv_trust_store_free(ts);
}

/* ---- threads ------------------------------------------------------------------ */

#define S_THREADS 4
#define S_ITERATIONS 200

struct S_worker {
	const struct tv_trust_store *ts;
	X509 *leaf_rsa, *leaf_other, *selfsigned, *inter, *root;
	STACK_OF(X509) *cand;
	int ok, wrong;
};

static void *S_worker_run(void *arg)
{
	struct S_worker *w = arg;
	STACK_OF(X509) *chain;
	char msg[TV_REASON_MSG_SIZE];
	int i;

	for (i = 0; i < S_ITERATIONS; i++) {
		chain = NULL;
		if (tv_chain_verify(w->ts, w->leaf_rsa, w->cand, &chain, msg, sizeof(msg)) ==
			    TV_REASON_OK &&
		    sk_X509_num(chain) == 2 && X509_cmp(sk_X509_value(chain, 0), w->inter) == 0 &&
		    X509_cmp(sk_X509_value(chain, 1), w->root) == 0)
			w->ok++;
		else
			w->wrong++;
		sk_X509_pop_free(chain, X509_free);
		if (tv_chain_verify(w->ts, w->leaf_other, w->cand, NULL, msg, sizeof(msg)) ==
		    TV_REASON_CHAIN_BUILDING_FAILED)
			w->ok++;
		else
			w->wrong++;
		if (tv_chain_verify(w->ts, w->selfsigned, NULL, NULL, msg, sizeof(msg)) ==
		    TV_REASON_SELF_SIGNED)
			w->ok++;
		else
			w->wrong++;
	}
	return NULL;
}

static void test_concurrent_verify(void **state)
{
	static const char *const up[] = {"root", NULL};
	static const char *const cand[] = {"inter", NULL};
	struct tv_trust_store *ts = S_store(NULL, up);
	struct S_worker w[S_THREADS];
	pthread_t tid[S_THREADS];
	/* shared by all threads: the same X509 objects, the same stack */
	X509 *leaf_rsa = S_fixture("leaf-rsa"), *leaf_other = S_fixture("leaf-other");
	X509 *selfsigned = S_fixture("selfsigned"), *inter = S_fixture("inter");
	X509 *root = S_fixture("root");
	STACK_OF(X509) *candidates = S_stack(cand);
	int i;

	(void)state;
	/*
	 * Fill the shared objects' extension caches before the threads start.
	 * Concurrent first use is safe in OpenSSL (a lock, then a lock-free
	 * acquire load), but libcrypto isn't built with ThreadSanitizer, so
	 * `make tsan` can't see that load and would report a false race. The
	 * store's own certificates are warmed by tv_trust_store_new.
	 */
	for (i = 0; i < sk_X509_num(candidates); i++)
		assert_int_equal(X509_check_purpose(sk_X509_value(candidates, i), -1, 0), 1);
	assert_int_equal(X509_check_purpose(leaf_rsa, -1, 0), 1);
	assert_int_equal(X509_check_purpose(leaf_other, -1, 0), 1);
	assert_int_equal(X509_check_purpose(selfsigned, -1, 0), 1);
	for (i = 0; i < S_THREADS; i++) {
		w[i] = (struct S_worker){ts, leaf_rsa, leaf_other, selfsigned, inter, root,
					 candidates, 0, 0};
		assert_int_equal(pthread_create(&tid[i], NULL, S_worker_run, &w[i]), 0);
	}
	for (i = 0; i < S_THREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(w[i].wrong, 0);
		assert_int_equal(w[i].ok, 3 * S_ITERATIONS);
	}
	sk_X509_pop_free(candidates, X509_free);
	X509_free(root);
	X509_free(inter);
	X509_free(selfsigned);
	X509_free(leaf_other);
	X509_free(leaf_rsa);
	tv_trust_store_free(ts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_uploaded_inter_candidate),
		cmocka_unit_test(test_both_uploaded),
		cmocka_unit_test(test_partial_chain),
		cmocka_unit_test(test_expired_still_verifies),
		cmocka_unit_test(test_leaf_is_anchor),
		cmocka_unit_test(test_unrelated_root),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_pinned_end_entity_never_issues),
		cmocka_unit_test(test_tampered_signature),
		cmocka_unit_test(test_store_rejects_bad_der),
		cmocka_unit_test(test_system_roots),
		cmocka_unit_test(test_concurrent_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
