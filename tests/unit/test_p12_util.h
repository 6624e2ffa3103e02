/*
 * test_p12_util.h - helpers shared by the pki reader tests (test_p12*.c,
 * test_pkcs8.c): file loading, fixture paths, key/cert comparison and a
 * monotonic clock. Everything is static inline so each test includes only
 * what it uses without unused-function warnings.
 */
#ifndef TV_TEST_P12_UTIL_H
#define TV_TEST_P12_UTIL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#define TVT_FIXTURES TV_SOURCE_DIR "/tests/fixtures"
#define TVT_PASS "fixture-pass"
#define TVT_UTF8_PASS "p\xc3\xa4ssw\xc3\xb6rd-\xe5\xaf\x86\xe7\xa0\x81" /* pässwörd-密码 */

/* Whole file into a malloc'd buffer; fails the test if unreadable. */
static inline unsigned char *tvt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = 0;
	*len = (size_t)n;
	return buf;
}

/*
 * How much slower than native this run is: TV_TEST_TIME_SCALE, set by the
 * valgrind runs (make test) where everything runs ~50 times slower. Above 1,
 * tvt_skip_slow_kdf() skips the keystores whose KDFs would take minutes.
 */
static inline double tvt_time_scale(void)
{
	const char *v = getenv("TV_TEST_TIME_SCALE");
	double d = v ? atof(v) : 1.0;

	return d >= 1.0 ? d : 1.0;
}

/*
 * Under valgrind (a time scale over 1), a keystore whose MAC iteration count
 * is over 10,000 (certtool's 600,000) is skipped: its KDFs take minutes
 * there and reach no code the cheaper keystores don't. Native and ASan runs
 * read every file.
 */
static inline bool tvt_skip_slow_kdf(const unsigned char *der, size_t len)
{
	const ASN1_INTEGER *iter = NULL;
	const unsigned char *p = der;
	PKCS12 *p12;
	long n = 0;

	if (tvt_time_scale() <= 1.0)
		return false;
	p12 = d2i_PKCS12(NULL, &p, (long)len);
	if (!p12)
		return false;
	if (PKCS12_mac_present(p12)) {
		PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
		n = iter ? ASN1_INTEGER_get(iter) : 1;
	}
	PKCS12_free(p12);
	return n > 10000;
}

static inline unsigned char *tvt_read_fmt(size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline unsigned char *tvt_read_fmt(size_t *len, const char *fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return tvt_read_file(path, len);
}

/*
 * PKCS12_parse of the keystore file at path with password: true with *key,
 * *cert (may be NULL) and *ca set (the caller frees them); false when it
 * doesn't parse or tvt_skip_slow_kdf() skips it, nothing set. OpenSSL's
 * error queue is cleared either way.
 */
static inline bool tvt_p12_parse_file(const char *path, const char *password, EVP_PKEY **key,
				      X509 **cert, STACK_OF(X509) **ca)
{
	size_t len = 0;
	unsigned char *data = tvt_read_file(path, &len);
	const unsigned char *p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	bool ok;

	*key = NULL;
	*cert = NULL;
	*ca = NULL;
	ok = p12 && !tvt_skip_slow_kdf(data, len) && PKCS12_parse(p12, password, key, cert, ca);
	ERR_clear_error();
	PKCS12_free(p12);
	free(data);
	return ok;
}

/*
 * fn(path, password, arg) for every fixture keystore of the MANIFEST that
 * opens with a password (its spec "pass", "empty" or "utf8"), only every
 * every-th of them when every > 1, then for the shared vectors that open
 * with a known password.
 */
static inline void tvt_each_keystore(void (*fn)(const char *path, const char *password,
						void *arg),
				     void *arg, unsigned every)
{
	char line[512], file[256], spec[64], path[1024];
	unsigned n = 0;
	FILE *m = fopen(TVT_FIXTURES "/MANIFEST", "r");

	assert_non_null(m);
	while (fgets(line, sizeof(line), m)) {
		if (sscanf(line, "%255s %63s", file, spec) != 2 || (every > 1 && n++ % every))
			continue;
		snprintf(path, sizeof(path), "%s/p12/%s", TVT_FIXTURES, file);
		if (!strcmp(spec, "pass"))
			fn(path, TVT_PASS, arg);
		else if (!strcmp(spec, "empty"))
			fn(path, "", arg);
		else if (!strcmp(spec, "utf8"))
			fn(path, TVT_UTF8_PASS, arg);
	}
	fclose(m);
	fn(TV_VECTORS_DIR "/pbes2_aes256cbc.p12", "password", arg);
	fn(TV_VECTORS_DIR "/pbes2_aes192cbc.p12", "password", arg);
	fn(TV_VECTORS_DIR "/pbes2_aes128cbc.p12", "rHyQTJsubhfxcpH5JttyilHE6BBsNoZp", arg);
	fn(TV_VECTORS_DIR "/testing-example-com-emptypw.p12", "", arg);
	fn(TV_VECTORS_DIR "/windows-azure-tools-nullpw.p12", NULL, arg);
}

/* tests/fixtures/keys/<name>.key.pem */
static inline EVP_PKEY *tvt_fixture_key(const char *name)
{
	char path[1024];
	EVP_PKEY *key;
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys/%s.key.pem", TVT_FIXTURES, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key)
		fail_msg("cannot read key %s", path);
	return key;
}

/* tests/fixtures/keys/<name>.crt.pem */
static inline X509 *tvt_fixture_cert(const char *name)
{
	char path[1024];
	X509 *cert;
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys/%s.crt.pem", TVT_FIXTURES, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		fail_msg("cannot read certificate %s", path);
	return cert;
}

/* SHA-1 of the DER, 40 upper-case hex digits (the API's fingerprint). */
static inline void tvt_fingerprint(char out[41], const X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	assert_int_equal(X509_digest(cert, EVP_sha1(), md, &n), 1);
	assert_int_equal(n, 20);
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

static inline double tvt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The message must not hold the password (when there is one). */
static inline void tvt_assert_no_secret(const char *msg, const char *password)
{
	if (password && password[0])
		assert_null(strstr(msg, password));
}

#endif
