/* tv-test-libs: tv_pki */
/*
 * test_p12_diff.c - differential test against OpenSSL's own PKCS12_parse,
 * over every keystore the tests have: the files in shared/vectors, every
 * keystore in tests/fixtures/p12 (found by listing the directory, so a new
 * fixture is covered without editing this file), every input of the fuzz
 * corpus (fuzz/corpus/p12, in the fuzz target's password-prefixed form),
 * and a set generated here: RSA-2048, EC P-256 and P-384 leaves, with and
 * without a CA chain, in the OpenSSL 3 default profile and a keytool-like
 * one (PBES2/AES-256 at 10,000 iterations), each read twice so the second
 * read takes its CA certificates from the pki context's cache.
 *
 *   both succeed     -> byte-identical: our PKCS#8 (the bytes the importer
 *                       seals) is OpenSSL's encoding of OpenSSL's key, our
 *                       leaf's DER is OpenSSL's leaf's, and with one key, the
 *                       other certificates are OpenSSL's CA set, in order,
 *                       byte for byte
 *   only ours        -> must be in S_only_ours (PBMAC1, which 3.0 can't
 *                       verify; MAC-less files)
 *   only OpenSSL's   -> must be in S_only_theirs, with the reason we give
 *                       (policy: key types and algorithms we refuse on purpose,
 *                       and files PKCS12_parse accepts half-empty)
 *   both fail        -> fine (wrong MACs, malformed PBMAC1)
 * PKCS12_parse runs in the default library context with the legacy and
 * default providers loaded, so RC2/3DES files aren't a false difference.
 */
#include <dirent.h>

#include "test_p12_util.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include <openssl/x509v3.h>

#include "pki/p12.h"
#include "pki/pki.h"

static struct tv_pki_ctx *g_ctx;
static OSSL_PROVIDER *g_legacy, *g_default;

static int S_setup(void **state)
{
	(void)state;
	g_legacy = OSSL_PROVIDER_load(NULL, "legacy");
	g_default = OSSL_PROVIDER_load(NULL, "default");
	if (!g_legacy || !g_default)
		return -1;
	return tv_pki_ctx_new(&g_ctx) == TV_OK ? 0 : -1;
}

static int S_teardown(void **state)
{
	(void)state;
	tv_pki_ctx_free(g_ctx);
	OSSL_PROVIDER_unload(g_legacy);
	OSSL_PROVIDER_unload(g_default);
	return 0;
}

/*
 * Files only we read, on purpose: PBMAC1 (OpenSSL 3.0 has no PBMAC1), and
 * MAC-less files with a non-empty password (PKCS12_parse calls
 * PKCS12_verify_mac, which fails with "mac absent"; the openssl CLI and
 * API.md accept them, the bags' own padding and DER then decide).
 */
static const char *const S_only_ours[] = {
	"rfc9579-a1.p12", "rfc9579-a2.p12", "rfc9579-a3.p12",
	"openssl-nomac-rsa2048.p12", "openssl-nomac-legacy-p256.p12",
};

/* Files only PKCS12_parse reads, and what we say instead. */
static const struct {
	const char *file;
	enum tv_reason ours;
} S_only_theirs[] = {
	{ "openssl-default-dsa2048.p12", TV_REASON_UNSUPPORTED_KEY_TYPE },
	{ "openssl-default-rsa1024.p12", TV_REASON_UNSUPPORTED_KEY_TYPE },
	{ "openssl-default-secp256k1.p12", TV_REASON_UNSUPPORTED_KEY_TYPE },
	{ "openssl-default-ed448.p12", TV_REASON_UNSUPPORTED_KEY_TYPE },
	{ "openssl-rc4-rsa2048.p12", TV_REASON_UNSUPPORTED_ALGORITHM },
	/* PKCS12_parse "succeeds" with a key and no certificate ... */
	{ "openssl-keyonly-rsa2048.p12", TV_REASON_NO_CERTIFICATE },
	/* ... and with a certificate and no key */
	{ "openssl-certonly-rsa2048.p12", TV_REASON_NO_PRIVATE_KEY },
};

struct S_vector_pw {
	const char *file;
	const char *password;
};

static const struct S_vector_pw S_vector_pws[] = {
	{ "pbes2_aes256cbc.p12", "password" },
	{ "pbes2_aes128cbc.p12", "rHyQTJsubhfxcpH5JttyilHE6BBsNoZp" },
	{ "pbes2_aes192cbc.p12", "password" },
	{ "windows-azure-tools-nullpw.p12", "" },
	{ "testing-example-com-emptypw.p12", "" },
	{ "rfc9579-a1.p12", "1234" }, { "rfc9579-a2.p12", "1234" },
	{ "rfc9579-a3.p12", "1234" }, { "rfc9579-a4.p12", "1234" },
	{ "rfc9579-a5.p12", "1234" }, { "rfc9579-a6.p12", "1234" },
	{ "pbmac1-short-key-bypass.p12", "1234" },
};

struct S_tally {
	int both, only_ours, only_theirs, neither;
};

/* PKCS12_parse's answer; key, cert and ca may be NULL on "success". */
static bool S_theirs(EVP_PKEY **key, X509 **cert, STACK_OF(X509) **ca,
		     const unsigned char *der, size_t len, const char *pw)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	bool ok;

	*key = NULL;
	*cert = NULL;
	*ca = NULL;
	if (!p12)
		return false;
	ok = PKCS12_parse(p12, pw, key, cert, ca) == 1;
	PKCS12_free(p12);
	ERR_clear_error();
	return ok;
}

/* Whether a and b have the same DER. */
static bool S_same_der(X509 *a, X509 *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_X509(a, &da), lb = i2d_X509(b, &db);
	bool same = la > 0 && la == lb && !memcmp(da, db, (size_t)la);

	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

/* Whether ours (PKCS#8 DER) is OpenSSL's encoding of their key. */
static bool S_same_key_der(const struct tv_secbuf *ours, const EVP_PKEY *theirs)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(theirs);
	unsigned char *d = NULL;
	int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &d) : -1;
	bool same = ours && len > 0 && (size_t)len == ours->len && !memcmp(d, ours->p, ours->len);

	OPENSSL_clear_free(d, len > 0 ? (size_t)len : 0);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return same;
}

/* Both succeeded: the same key bytes, leaf and (one key) CA set. */
static void S_assert_same(const char *what, struct tv_p12_contents *c, EVP_PKEY *their_key,
			  X509 *their_cert, STACK_OF(X509) *their_ca)
{
	size_t i;
	int k;

	assert_non_null(their_key);
	assert_non_null(their_cert);
	for (i = 0; i < c->pair_count; i++)
		if (S_same_key_der(c->pairs[i].pkcs8, their_key))
			break;
	if (i == c->pair_count)
		fail_msg("%s: OpenSSL's key (as PKCS#8 DER) is not among ours", what);
	assert_int_equal(EVP_PKEY_eq(tv_p12_pair_key(c, i), their_key), 1);
	if (!S_same_der(tv_p12_pair_cert(c, i), their_cert))
		fail_msg("%s: a different leaf", what);
	if (c->pair_count != 1)
		return; /* PKCS12_parse counts the other keys' certificates as CAs */
	if (sk_X509_num(c->chain_candidates) != (their_ca ? sk_X509_num(their_ca) : 0))
		fail_msg("%s: %d CA certificates, OpenSSL has %d", what,
			 sk_X509_num(c->chain_candidates), their_ca ? sk_X509_num(their_ca) : 0);
	for (k = 0; k < sk_X509_num(c->chain_candidates); k++)
		if (!S_same_der(sk_X509_value(c->chain_candidates, k), sk_X509_value(their_ca, k)))
			fail_msg("%s: CA certificate %d differs", what, k);
}

static bool S_in_only_ours(const char *file)
{
	size_t i;

	for (i = 0; i < sizeof(S_only_ours) / sizeof(S_only_ours[0]); i++)
		if (!strcmp(S_only_ours[i], file))
			return true;
	return false;
}

/*
 * Compare one keystore; ours is the reason we gave (msg its message), c our
 * contents. The tally says where it went.
 */
static void S_judge(const char *what, const char *file, enum tv_reason ours,
		    const char *msg, struct tv_p12_contents *c, const unsigned char *der,
		    size_t len, const char *pw, struct S_tally *tally)
{
	STACK_OF(X509) *their_ca;
	EVP_PKEY *their_key;
	X509 *their_cert;
	bool theirs;
	size_t i;

	theirs = S_theirs(&their_key, &their_cert, &their_ca, der, len, pw);
	if (ours == TV_REASON_OK && theirs) {
		tally->both++;
		S_assert_same(what, c, their_key, their_cert, their_ca);
	} else if (ours == TV_REASON_OK) {
		tally->only_ours++;
		if (!S_in_only_ours(file))
			fail_msg("%s: only we read it", what);
	} else if (theirs) {
		tally->only_theirs++;
		for (i = 0; i < sizeof(S_only_theirs) / sizeof(S_only_theirs[0]); i++)
			if (!strcmp(S_only_theirs[i].file, file))
				break;
		if (i == sizeof(S_only_theirs) / sizeof(S_only_theirs[0]))
			fail_msg("%s: only OpenSSL reads it; we say %s: %s", what,
				 tv_reason_code(ours), msg);
		assert_int_equal(ours, S_only_theirs[i].ours);
	} else {
		tally->neither++;
		assert_false(S_in_only_ours(file));
	}
	EVP_PKEY_free(their_key);
	X509_free(their_cert);
	sk_X509_pop_free(their_ca, X509_free);
}

/* Compare one file; false when it was skipped (tvt_skip_slow_kdf). */
static bool S_compare(const char *dir, const char *file, const char *pw,
		      struct S_tally *tally)
{
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der;
	enum tv_reason ours;
	size_t len;

	der = tvt_read_fmt(&len, "%s/%s", dir, file);
	if (tvt_skip_slow_kdf(der, len)) {
		free(der);
		return false;
	}
	ours = tv_p12_read(&c, g_ctx, der, len, pw, strlen(pw), NULL, msg,
			   sizeof(msg));
	S_judge(file, file, ours, msg, c, der, len, pw, tally);
	tv_p12_contents_free(c);
	free(der);
	return true;
}

static void test_diff_vectors(void **state)
{
	struct S_tally t = { 0, 0, 0, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(S_vector_pws) / sizeof(S_vector_pws[0]); i++)
		S_compare(TV_VECTORS_DIR, S_vector_pws[i].file,
			  S_vector_pws[i].password, &t);
	assert_int_equal(t.both, 5);      /* PBES2 x3, NULL pw, empty pw */
	assert_int_equal(t.only_ours, 3); /* PBMAC1 a1-a3 */
	assert_int_equal(t.only_theirs, 0);
	assert_int_equal(t.neither, 4);   /* a4, a5, a6, short key */
}

static const char *S_fixture_password(const char *file)
{
	if (strstr(file, "emptypw"))
		return "";
	if (strstr(file, "utf8pw"))
		return TVT_UTF8_PASS;
	return TVT_PASS;
}

static void test_diff_fixtures(void **state)
{
	struct S_tally t = { 0, 0, 0, 0 };
	const char *dir = TVT_FIXTURES "/p12";
	struct dirent *e;
	int files = 0, skipped = 0;
	DIR *d;
	size_t n;

	(void)state;
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".p12") != 0)
			continue;
		if (S_compare(dir, e->d_name, S_fixture_password(e->d_name), &t))
			files++;
		else
			skipped++;
	}
	closedir(d);
	assert_true(files + skipped >= 45);
	assert_int_equal(t.both, files - t.only_ours - t.only_theirs);
	assert_int_equal(t.only_ours, 2); /* the two MAC-less ones */
	assert_int_equal(t.only_theirs,
			 (int)(sizeof(S_only_theirs) / sizeof(S_only_theirs[0])));
	assert_int_equal(t.neither, 0);
}

/* ---- the fuzz corpus ------------------------------------------------------ */

#define S_FUZZ_NO_PASSWORD 64 /* fuzz/fuzz_p12.c: L = byte 0 % 65; 64 = NULL */

/* The MAC's iteration count; 0 without a MAC or a PFX. */
static long S_mac_iterations(const unsigned char *der, size_t len)
{
	const ASN1_INTEGER *iter = NULL;
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	long n = 0;

	if (p12 && PKCS12_mac_present(p12)) {
		PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
		n = iter ? ASN1_INTEGER_get(iter) : 1;
	}
	PKCS12_free(p12);
	ERR_clear_error();
	return n;
}

/*
 * Whether a corpus input is a fixture (its seed copy: "seed-NAME" holding
 * tests/fixtures/p12/NAME, byte for byte, with the fixture's password),
 * which test_diff_fixtures has compared already.
 */
static const char *S_fixture_password(const char *file);

static bool S_is_fixture_copy(const char *name, const char *pw, const unsigned char *der,
			      size_t len)
{
	char path[1024];
	unsigned char *fixture;
	size_t flen;
	bool same;
	FILE *f;

	if (strncmp(name, "seed-", 5) != 0 || !pw || strcmp(pw, S_fixture_password(name + 5)))
		return false;
	snprintf(path, sizeof(path), "%s/p12/%s", TVT_FIXTURES, name + 5);
	f = fopen(path, "rb");
	if (!f)
		return false;
	fclose(f);
	fixture = tvt_read_file(path, &flen);
	same = flen == len && !memcmp(fixture, der, len);
	free(fixture);
	return same;
}

/*
 * Corpus inputs where the readers disagree, on purpose (the same classes
 * as the fixtures above). The corpus is checked in; an input not listed
 * here must agree. An input we refuse for its iteration counts isn't given
 * to OpenSSL (it would run the KDFs the cap is there to refuse), nor one
 * with a MAC over 10,000 iterations (certtool's 600,000: the seeds that are
 * copies of fixtures, compared above; they would double this test's time).
 */
static const struct {
	const char *file;
	enum tv_reason ours; /* TV_REASON_OK: only we read it */
} S_corpus_cases[] = {
	/* PBMAC1 (RFC 9579 A.1-A.3): OpenSSL 3.0 has no PBMAC1 */
	{ "seed-rfc9579-a1", TV_REASON_OK },
	{ "seed-rfc9579-a2", TV_REASON_OK },
	{ "seed-rfc9579-a3", TV_REASON_OK },
	/* no MAC under a password: PKCS12_parse wants a MAC ("mac absent") */
	{ "seed-cheap-nomac", TV_REASON_OK },
	/* PFX version 10: RFC 7292 says 3; OpenSSL doesn't look */
	{ "crash-version-10-77135abe", TV_REASON_MALFORMED_KEYSTORE },
	/* (the seed copies of fixtures, which disagree where S_only_ours and
	 * S_only_theirs say, are compared by test_diff_fixtures) */
	{ NULL, TV_REASON_OK },
};

static void test_diff_fuzz_corpus(void **state)
{
	struct S_tally t = { 0, 0, 0, 0 };
	const char *dir = TV_SOURCE_DIR "/fuzz/corpus/p12";
	char pw[S_FUZZ_NO_PASSWORD + 1], msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c;
	STACK_OF(X509) *their_ca;
	EVP_PKEY *their_key;
	X509 *their_cert;
	unsigned char *data;
	struct dirent *e;
	size_t len, pwlen, skip, i;
	enum tv_reason ours;
	bool theirs;
	int files = 0, skipped = 0;
	DIR *d;

	(void)state;
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		data = tvt_read_fmt(&len, "%s/%s", dir, e->d_name);
		files++;
		pwlen = len ? data[0] % (S_FUZZ_NO_PASSWORD + 1) : 0;
		skip = 1 + (pwlen == S_FUZZ_NO_PASSWORD ? 0 : pwlen);
		memcpy(pw, data + 1, pwlen == S_FUZZ_NO_PASSWORD || len < skip ? 0 : pwlen);
		pw[pwlen == S_FUZZ_NO_PASSWORD || len < skip ? 0 : pwlen] = '\0';
		if (len < skip ||
		    S_is_fixture_copy(e->d_name, pwlen == S_FUZZ_NO_PASSWORD ? NULL : pw,
				      data + skip, len - skip)) {
			skipped++;
			free(data);
			continue;
		}
		c = NULL;
		ours = tv_p12_read(&c, g_ctx, data + skip, len - skip,
				   pwlen == S_FUZZ_NO_PASSWORD ? NULL : pw,
				   pwlen == S_FUZZ_NO_PASSWORD ? 0 : pwlen, NULL, msg,
				   sizeof(msg));
		/* a password with a NUL can't be given to OpenSSL */
		if ((pwlen != S_FUZZ_NO_PASSWORD && strlen(pw) != pwlen) ||
		    ours == TV_REASON_ITERATION_LIMIT_EXCEEDED ||
		    S_mac_iterations(data + skip, len - skip) > 10000) {
			skipped++;
			tv_p12_contents_free(c);
			free(data);
			continue;
		}
		theirs = S_theirs(&their_key, &their_cert, &their_ca, data + skip, len - skip,
				  pwlen == S_FUZZ_NO_PASSWORD ? NULL : pw);
		for (i = 0; S_corpus_cases[i].file; i++)
			if (!strcmp(S_corpus_cases[i].file, e->d_name))
				break;
		if (ours == TV_REASON_OK && theirs && their_key && their_cert) {
			t.both++;
			S_assert_same(e->d_name, c, their_key, their_cert, their_ca);
		} else if (ours == TV_REASON_OK || (theirs && their_key && their_cert)) {
			if (!S_corpus_cases[i].file)
				fail_msg("%s: the readers disagree (ours: %s: %s; OpenSSL: %s)",
					 e->d_name, tv_reason_code(ours), msg,
					 theirs ? "reads it" : "refuses it");
			assert_int_equal(ours, S_corpus_cases[i].ours);
			t.only_ours += ours == TV_REASON_OK;
			t.only_theirs += ours != TV_REASON_OK;
		} else {
			t.neither++;
		}
		EVP_PKEY_free(their_key);
		X509_free(their_cert);
		sk_X509_pop_free(their_ca, X509_free);
		tv_p12_contents_free(c);
		free(data);
	}
	closedir(d);
	print_message("fuzz corpus: %d inputs (%d not compared), %d read by both, %d only ours, "
		      "%d only OpenSSL, %d by neither\n", files, skipped, t.both, t.only_ours,
		      t.only_theirs, t.neither);
	assert_true(files >= 40);
	assert_true(t.both >= 8);
	/* every listed disagreement is still in the corpus, and still one */
	assert_int_equal(t.only_ours + t.only_theirs,
			 (int)(sizeof(S_corpus_cases) / sizeof(S_corpus_cases[0])) - 1);
}

/* ---- a generated set ------------------------------------------------------- */

#define S_GEN_PASS "generated-pass"

static EVP_PKEY *S_keygen(const char *type)
{
	EVP_PKEY *key = !strcmp(type, "RSA") ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
					     : EVP_PKEY_Q_keygen(NULL, NULL, "EC", type);

	assert_non_null(key);
	return key;
}

/* A certificate for key, issued by issuer (NULL: self-signed). */
static X509 *S_issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		     bool ca, long serial)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_EXTENSION *ext;
	X509V3_CTX v3;

	assert_non_null(cert);
	assert_non_null(name);
	assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(cert, name), 1);
	assert_int_equal(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name),
			 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * 365));
	assert_int_equal(X509_set_pubkey(cert, key), 1);
	X509V3_set_ctx(&v3, issuer ? issuer : cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "CA:FALSE");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	X509_NAME_free(name);
	return cert;
}

/*
 * A keystore of key, cert and ca in a profile: the OpenSSL 3 default
 * (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, 2048 iterations, HMAC-SHA256 MAC)
 * or keytool-like (the same algorithms at 10,000 iterations, as Java 17's
 * keytool writes them).
 */
static unsigned char *S_keystore(size_t *len, EVP_PKEY *key, X509 *cert, STACK_OF(X509) *ca,
				 int iterations)
{
	PKCS12 *p12 = PKCS12_create(S_GEN_PASS, "generated", key, cert, ca, NID_aes_256_cbc,
				    NID_aes_256_cbc, iterations, iterations, 0);
	unsigned char *der = NULL;
	int n;

	assert_non_null(p12);
	n = i2d_PKCS12(p12, &der);
	assert_true(n > 0);
	PKCS12_free(p12);
	*len = (size_t)n;
	return der;
}

static void test_diff_generated(void **state)
{
	static const char *const leaf_types[] = { "RSA", "P-256", "P-384" };
	static const int profiles[] = { 2048, 10000 };
	struct tv_shacache_stats before, after;
	struct tv_p12_contents *c, *again;
	char msg[TV_REASON_MSG_SIZE], what[96];
	struct S_tally t = { 0, 0, 0, 0 };
	EVP_PKEY *root_key, *inter_key, *leaf_key;
	X509 *root, *inter, *leaf;
	STACK_OF(X509) *chain;
	unsigned char *der;
	size_t len, k, p;
	int with_chain, n = 0;

	(void)state;
	/* an EC root over an RSA intermediate: both kinds of CA certificate,
	 * and leaves whose key type differs from their issuer's */
	root_key = S_keygen("P-256");
	inter_key = S_keygen("RSA");
	root = S_issue(root_key, "diff root", NULL, NULL, true, 1);
	inter = S_issue(inter_key, "diff intermediate", root, root_key, true, 2);
	chain = sk_X509_new_null();
	assert_non_null(chain);
	assert_true(sk_X509_push(chain, inter) > 0);
	assert_true(sk_X509_push(chain, root) > 0);
	tv_pki_ca_cache_stats(g_ctx, &before);
	for (k = 0; k < sizeof(leaf_types) / sizeof(leaf_types[0]); k++) {
		leaf_key = S_keygen(leaf_types[k]);
		leaf = S_issue(leaf_key, "diff leaf", inter, inter_key, false, 10 + (long)k);
		for (p = 0; p < sizeof(profiles) / sizeof(profiles[0]); p++) {
			for (with_chain = 0; with_chain < 2; with_chain++) {
				snprintf(what, sizeof(what), "generated %s, %d iterations, %s",
					 leaf_types[k], profiles[p],
					 with_chain ? "with chain" : "leaf only");
				der = S_keystore(&len, leaf_key, leaf, with_chain ? chain : NULL,
						 profiles[p]);
				c = again = NULL;
				assert_int_equal(tv_p12_read(&c, g_ctx, der, len, S_GEN_PASS,
							     strlen(S_GEN_PASS), NULL, msg,
							     sizeof(msg)),
						 TV_REASON_OK);
				/* the fast path: nothing decoded the key */
				assert_null(c->pairs[0].decoded_key);
				S_judge(what, what, TV_REASON_OK, msg, c, der, len, S_GEN_PASS,
					&t);
				/* read again: the CA certificates come from the cache,
				 * the very objects, and still OpenSSL's bytes */
				assert_int_equal(tv_p12_read(&again, g_ctx, der, len, S_GEN_PASS,
							     strlen(S_GEN_PASS), NULL, msg,
							     sizeof(msg)),
						 TV_REASON_OK);
				S_judge(what, what, TV_REASON_OK, msg, again, der, len,
					S_GEN_PASS, &t);
				assert_int_equal(sk_X509_num(again->chain_candidates),
						 with_chain ? 2 : 0);
				if (with_chain)
					assert_ptr_equal(sk_X509_value(again->chain_candidates, 0),
							 sk_X509_value(c->chain_candidates, 0));
				assert_ptr_not_equal(tv_p12_pair_cert(again, 0), tv_p12_pair_cert(c, 0));
				tv_p12_contents_free(c);
				tv_p12_contents_free(again);
				OPENSSL_free(der);
				n++;
			}
		}
		X509_free(leaf);
		EVP_PKEY_free(leaf_key);
	}
	tv_pki_ca_cache_stats(g_ctx, &after);
	assert_int_equal(n, 12);
	assert_int_equal(t.both, 2 * n);
	/* 6 keystores with a chain, read twice: 2 CA certificates each time;
	 * only the first read of the first one decoded them */
	assert_true(after.hits - before.hits >= 2 * 6 * 2 - 2);
	assert_true(after.entries <= after.capacity);
	sk_X509_free(chain);
	X509_free(inter);
	X509_free(root);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(root_key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_vectors),
		cmocka_unit_test(test_diff_fixtures),
		cmocka_unit_test(test_diff_fuzz_corpus),
		cmocka_unit_test(test_diff_generated),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
