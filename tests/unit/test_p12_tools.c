/* tv-test-libs: tv_pki */
/*
 * test_p12_tools.c - keystores written by three independent tools (openssl
 * pkcs12 -export, Java keytool, GnuTLS certtool --to-p12; see
 * tests/fixtures/gen-keystores.sh) read back to the original key
 * (EVP_PKEY_eq against tests/fixtures/keys/<k>.key.pem) and certificate
 * (X509_cmp against <k>.crt.pem), for RSA-2048/4096, EC P-256/384/521 and
 * Ed25519, with the tools' default, legacy and odd profiles, the empty and
 * a non-ASCII password.
 */
#include "test_p12_util.h"

#include "pki/p12.h"
#include "pki/pki.h"

static struct tv_pki_ctx *g_ctx;

static int S_setup(void **state)
{
	(void)state;
	return tv_pki_ctx_new(&g_ctx) == TV_OK ? 0 : -1;
}

static int S_teardown(void **state)
{
	(void)state;
	tv_pki_ctx_free(g_ctx);
	return 0;
}

enum S_pw { PW, EMPTY, UTF8 };

struct S_store {
	const char *file;
	enum S_pw pw;
	const char *keys[2]; /* fixture key names, in file order */
	const char *chain;   /* fixture name of the one chain candidate */
};

static const struct S_store S_stores[] = {
	/* openssl pkcs12 -export */
	{ "openssl-default-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "openssl-default-rsa4096.p12", PW, { "rsa4096" }, NULL },
	{ "openssl-default-p256.p12", PW, { "p256" }, NULL },
	{ "openssl-default-p384.p12", PW, { "p384" }, NULL },
	{ "openssl-default-p521.p12", PW, { "p521" }, NULL },
	{ "openssl-default-ed25519.p12", PW, { "ed25519" }, NULL },
	{ "openssl-legacy-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "openssl-legacy-p384.p12", PW, { "p384" }, NULL },
	{ "openssl-descert-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "openssl-nomac-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "openssl-nomac-legacy-p256.p12", PW, { "p256" }, NULL },
	{ "openssl-keypbe-aes128-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "openssl-rc2-128-p256.p12", PW, { "p256" }, NULL },
	{ "openssl-macsha384-p256.p12", PW, { "p256" }, NULL },
	{ "openssl-macsha512-ed25519.p12", PW, { "ed25519" }, NULL },
	{ "openssl-emptypw-rsa2048.p12", EMPTY, { "rsa2048" }, NULL },
	{ "openssl-emptypw-legacy-p256.p12", EMPTY, { "p256" }, NULL },
	{ "openssl-utf8pw-p256.p12", UTF8, { "p256" }, NULL },
	{ "openssl-utf8pw-legacy-rsa2048.p12", UTF8, { "rsa2048" }, NULL },
	{ "openssl-chain-leaf.p12", PW, { "leaf" }, "ca" },
	/* Java keytool (JDK defaults: PBES2 AES-256, HMAC-SHA256 MAC) */
	{ "keytool-default-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "keytool-default-rsa4096.p12", PW, { "rsa4096" }, NULL },
	{ "keytool-default-p256.p12", PW, { "p256" }, NULL },
	{ "keytool-default-p384.p12", PW, { "p384" }, NULL },
	{ "keytool-default-p521.p12", PW, { "p521" }, NULL },
	{ "keytool-default-ed25519.p12", PW, { "ed25519" }, NULL },
	{ "keytool-twokeys.p12", PW, { "rsa2048", "p256" }, NULL },
	{ "keytool-legacy-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "keytool-prfsha512-p521.p12", PW, { "p521" }, NULL },
	{ "keytool-prfsha1-rsa2048.p12", PW, { "rsa2048" }, NULL },
	/* GnuTLS certtool --to-p12 */
	{ "certtool-aes128-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "certtool-aes128-rsa4096.p12", PW, { "rsa4096" }, NULL },
	{ "certtool-aes128-p256.p12", PW, { "p256" }, NULL },
	{ "certtool-aes128-p384.p12", PW, { "p384" }, NULL },
	{ "certtool-aes128-p521.p12", PW, { "p521" }, NULL },
	{ "certtool-aes128-ed25519.p12", PW, { "ed25519" }, NULL },
	{ "certtool-aes256-p384.p12", PW, { "p384" }, NULL },
	{ "certtool-3des-rsa2048.p12", PW, { "rsa2048" }, NULL },
	{ "certtool-rc2-40-p256.p12", PW, { "p256" }, NULL },
	{ "certtool-utf8pw-rsa2048.p12", UTF8, { "rsa2048" }, NULL },
	{ "certtool-emptypw-p256.p12", EMPTY, { "p256" }, NULL },
};

static const char *S_password(enum S_pw pw)
{
	return pw == PW ? TVT_PASS : pw == UTF8 ? TVT_UTF8_PASS : "";
}

/* The pair holding the original key of fixture name; checks its cert. */
static void S_assert_has(struct tv_p12_contents *c, const char *name,
			 const char *file)
{
	EVP_PKEY *key = tvt_fixture_key(name);
	X509 *cert = tvt_fixture_cert(name);
	size_t i;

	for (i = 0; i < c->pair_count; i++)
		if (EVP_PKEY_eq(tv_p12_pair_key(c, i), key) == 1)
			break;
	if (i == c->pair_count)
		fail_msg("%s: key %s not returned", file, name);
	assert_int_equal(X509_cmp(tv_p12_pair_cert(c, i), cert), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(tv_p12_pair_cert(c, i)),
				     tv_p12_pair_key(c, i)), 1);
	if (c->pairs[i].friendly_name &&
	    strcmp(c->pairs[i].friendly_name, name) != 0)
		fail_msg("%s: friendly name \"%s\", want \"%s\"", file,
			 c->pairs[i].friendly_name, name);
	EVP_PKEY_free(key);
	X509_free(cert);
}

static void S_check_store(const struct S_store *s)
{
	const char *pw = S_password(s->pw);
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der;
	enum tv_reason rc;
	size_t len, want_keys = s->keys[1] ? 2 : 1;
	X509 *ca;

	der = tvt_read_fmt(&len, "%s/p12/%s", TVT_FIXTURES, s->file);
	if (tvt_skip_slow_kdf(der, len)) {
		free(der);
		return;
	}
	rc = tv_p12_read(&c, g_ctx, der, len, pw, strlen(pw), NULL, msg,
			 sizeof(msg));
	if (rc != TV_REASON_OK)
		fail_msg("%s: %s: %s", s->file, tv_reason_code(rc), msg);
	assert_int_equal(c->pair_count, want_keys);
	S_assert_has(c, s->keys[0], s->file);
	if (s->keys[1])
		S_assert_has(c, s->keys[1], s->file);
	if (s->chain) {
		ca = tvt_fixture_cert(s->chain);
		assert_int_equal(sk_X509_num(c->chain_candidates), 1);
		assert_int_equal(X509_cmp(sk_X509_value(c->chain_candidates, 0),
					  ca), 0);
		X509_free(ca);
	} else {
		assert_int_equal(sk_X509_num(c->chain_candidates), 0);
	}
	tv_p12_contents_free(c);
	free(der);
}

static void S_run_prefix(const char *prefix)
{
	size_t i, n = 0;

	for (i = 0; i < sizeof(S_stores) / sizeof(S_stores[0]); i++) {
		if (strncmp(S_stores[i].file, prefix, strlen(prefix)) != 0)
			continue;
		S_check_store(&S_stores[i]);
		n++;
	}
	assert_true(n >= 10);
}

static void test_openssl_keystores(void **state)
{
	(void)state;
	S_run_prefix("openssl-");
}

static void test_keytool_keystores(void **state)
{
	(void)state;
	S_run_prefix("keytool-");
}

static void test_certtool_keystores(void **state)
{
	(void)state;
	S_run_prefix("certtool-");
}

/* The same stores with a wrong password: MAC fails (or, MAC-less, the bags). */
static void test_wrong_passwords(void **state)
{
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der;
	enum tv_reason rc, want;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(S_stores) / sizeof(S_stores[0]); i++) {
		if (strstr(S_stores[i].file, "rsa4096") ||
		    strstr(S_stores[i].file, "certtool-"))
			continue; /* slow KDFs (600,000 iterations), nothing new */
		der = tvt_read_fmt(&len, "%s/p12/%s", TVT_FIXTURES,
				   S_stores[i].file);
		rc = tv_p12_read(&c, g_ctx, der, len, "wrong", 5, NULL, msg,
				 sizeof(msg));
		want = strstr(S_stores[i].file, "nomac") ?
			TV_REASON_DECRYPTION_FAILED :
			TV_REASON_MAC_VERIFICATION_FAILED;
		if (rc != want)
			fail_msg("%s: %s (%s)", S_stores[i].file,
				 tv_reason_code(rc), msg);
		assert_null(c);
		free(der);
	}
}

/* The UTF-8 password is not interchangeable with a Latin-1 look-alike. */
static void test_utf8_password_is_exact(void **state)
{
	static const char latin1[] = "p\xe4ssw\xf6rd-"; /* not the full password */
	char msg[TV_REASON_MSG_SIZE];
	struct tv_p12_contents *c = NULL;
	unsigned char *der;
	size_t len;

	(void)state;
	der = tvt_read_fmt(&len, "%s/p12/openssl-utf8pw-legacy-rsa2048.p12",
			   TVT_FIXTURES);
	assert_int_equal(tv_p12_read(&c, g_ctx, der, len, latin1, strlen(latin1),
				     NULL, msg, sizeof(msg)),
			 TV_REASON_MAC_VERIFICATION_FAILED);
	assert_null(c);
	free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_keystores),
		cmocka_unit_test(test_keytool_keystores),
		cmocka_unit_test(test_certtool_keystores),
		cmocka_unit_test(test_wrong_passwords),
		cmocka_unit_test(test_utf8_password_is_exact),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
