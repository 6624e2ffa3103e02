/* tv-test-libs: tv_pki */
/*
 * test_p12_diff.c - differential test against OpenSSL's own PKCS12_parse,
 * over the whole corpus: every file in shared/vectors and every keystore in
 * tests/fixtures/p12 (found by listing the directory, so a new fixture is
 * covered without editing this file).
 *
 *   both succeed     -> the same key (EVP_PKEY_eq) and the same leaf (X509_cmp)
 *   only ours        -> must be in S_only_ours (PBMAC1, which 3.0 can't verify)
 *   only OpenSSL's   -> must be in S_only_theirs, with the reason we give
 *                       (policy: key types and algorithms we refuse on purpose,
 *                       and files PKCS12_parse accepts half-empty)
 *   both fail        -> fine (wrong MACs, malformed PBMAC1)
 * PKCS12_parse runs in the default library context with the legacy and
 * default providers loaded, so RC2/3DES files aren't a false difference.
 */
#include <dirent.h>

#include "test_p12_util.h"

#include <openssl/pkcs12.h>
#include <openssl/provider.h>

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

/* PKCS12_parse's answer; key and cert may be NULL on "success". */
static bool S_theirs(EVP_PKEY **key, X509 **cert, const unsigned char *der,
		     size_t len, const char *pw)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	STACK_OF(X509) *ca = NULL;
	bool ok;

	*key = NULL;
	*cert = NULL;
	if (!p12)
		return false;
	ok = PKCS12_parse(p12, pw, key, cert, &ca) == 1;
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return ok;
}

static bool S_in_only_ours(const char *file)
{
	size_t i;

	for (i = 0; i < sizeof(S_only_ours) / sizeof(S_only_ours[0]); i++)
		if (!strcmp(S_only_ours[i], file))
			return true;
	return false;
}

/* Compare one file; false when it was skipped (tvt_skip_slow_kdf). */
static bool S_compare(const char *dir, const char *file, const char *pw,
		      struct S_tally *tally)
{
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	EVP_PKEY *their_key;
	X509 *their_cert;
	unsigned char *der;
	enum tv_reason ours;
	bool theirs;
	size_t len, i;

	der = tvt_read_fmt(&len, "%s/%s", dir, file);
	if (tvt_skip_slow_kdf(der, len)) {
		free(der);
		return false;
	}
	ours = tv_p12_read(&c, g_ctx, der, len, pw, strlen(pw), NULL, msg,
			   sizeof(msg));
	theirs = S_theirs(&their_key, &their_cert, der, len, pw);
	if (ours == TV_REASON_OK && theirs) {
		tally->both++;
		assert_non_null(their_key);
		assert_non_null(their_cert);
		for (i = 0; i < c->pair_count; i++)
			if (EVP_PKEY_eq(tv_p12_pair_key(c, i), their_key) == 1)
				break;
		if (i == c->pair_count)
			fail_msg("%s: OpenSSL's key is not among ours", file);
		assert_int_equal(X509_cmp(c->pairs[i].cert, their_cert), 0);
	} else if (ours == TV_REASON_OK) {
		tally->only_ours++;
		if (!S_in_only_ours(file))
			fail_msg("%s: only we read it", file);
	} else if (theirs) {
		tally->only_theirs++;
		for (i = 0; i < sizeof(S_only_theirs) / sizeof(S_only_theirs[0]); i++)
			if (!strcmp(S_only_theirs[i].file, file))
				break;
		if (i == sizeof(S_only_theirs) / sizeof(S_only_theirs[0]))
			fail_msg("%s: only OpenSSL reads it; we say %s: %s", file,
				 tv_reason_code(ours), msg);
		assert_int_equal(ours, S_only_theirs[i].ours);
	} else {
		tally->neither++;
		assert_false(S_in_only_ours(file));
	}
	tv_p12_contents_free(c);
	EVP_PKEY_free(their_key);
	X509_free(their_cert);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_vectors),
		cmocka_unit_test(test_diff_fixtures),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
