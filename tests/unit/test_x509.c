/* tv-test-libs: tv_pki */
/*
 * test_x509.c - certificate facts and the trusted-CA upload parser
 * (src/pki/x509.c).
 *
 * Known answers: the expected facts below were read off
 * tests/fixtures/chain/FACTS.txt, which tests/fixtures/gen-chain.sh writes with
 *   openssl x509 -noout -fingerprint -sha1 -subject -issuer -nameopt RFC2253
 *                -serial -dates -ext subjectAltName,...
 * and checked by hand (dates converted with Python's calendar.timegm). The
 * fixtures are read with PEM_read_X509, not with the parser under test.
 * Cases that no openssl command line makes (negative and long serials,
 * certificates without a CN, UTF-8 names, bad SANs) are built in C.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/b64.h"
#include "pki/x509.h"

#define S_DIR TV_SOURCE_DIR "/tests/fixtures/chain/"

/* ---- helpers ------------------------------------------------------------ */

static unsigned char *S_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = 0;
	*len = (size_t)n;
	return buf;
}

/* tests/fixtures/chain/<name>.crt.pem, read by OpenSSL itself. */
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

static unsigned char *S_fixture_der(const char *name, size_t *len)
{
	X509 *cert = S_fixture(name);
	unsigned char *der = NULL;

	assert_int_equal(tv_cert_der(&der, len, cert), TV_OK);
	X509_free(cert);
	return der;
}

/* list[0..n) equals the NULL-terminated want. */
static void S_assert_list(char **list, size_t n, const char *const *want)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		assert_true(i < n);
		assert_string_equal(list[i], want[i]);
	}
	assert_int_equal(n, i);
}

/* ---- the fixtures' facts ------------------------------------------------ */

struct S_want {
	const char *name, *type;
	const char *fingerprint, *subject, *issuer, *cert_name, *serial;
	const char *cn[3], *dns[3], *ip[3], *email[2], *uri[2];
	int64_t start, end;
	int strength;
	const char *enc, *curve, *sig, *ski, *aki;
	bool is_ca, self_signed, self_issued;
};

#define S_INTER_DN "CN=tlsvault Test Intermediate CA,O=tlsvault tests,C=US"
#define S_ROOT_DN "CN=tlsvault Test Root CA,O=tlsvault tests,C=US"
#define S_ROOT_SKI "4B90306EF52FC005EC85D0240E5CFFB1C49D07C7"
#define S_INTER_SKI "B8F0DC35440E0E93691705B23429CFA7A1E74709"
#define S_2024 INT64_C(1704067200000)
#define S_2025 INT64_C(1735689600000)
#define S_2027 INT64_C(1798761600000)

static const struct S_want S_wants[] = {
	{"root", "ROOT_CA", "26872FA7009347B4C407A52EC26FADAE9417C044", S_ROOT_DN, S_ROOT_DN,
	 "tlsvault Test Root CA", "01", {"tlsvault Test Root CA"}, {0}, {0}, {0}, {0}, S_2024,
	 INT64_C(2335219200000), 2048, "RSA", "", "SHA256_WITH_RSA_ENCRYPTION", S_ROOT_SKI, "",
	 true, true, true},
	{"inter", "CA", "4BB46A252E58FB8FD365328BB443C98F17D15379", S_INTER_DN, S_ROOT_DN,
	 "tlsvault Test Intermediate CA", "1000", {"tlsvault Test Intermediate CA"}, {0}, {0},
	 {0}, {0}, S_2024, INT64_C(2019686400000), 384, "EC", "P384",
	 "SHA256_WITH_RSA_ENCRYPTION", S_INTER_SKI, S_ROOT_SKI, true, false, false},
	{"leaf-rsa", "END_ENTITY", "23915C53FC8B66B97916CD29BC9B8C51E6C5F633",
	 "CN=example.com,CN=www.example.com,OU=Web,O=Example\\, Inc.,C=US", S_INTER_DN,
	 "example.com", "9A4F3C2E1D0B7A6958473625140312AB", {"example.com", "www.example.com"},
	 {"www.example.com", "example.com"}, {"192.0.2.10", "2001:db8::1:0:0:1"},
	 {"admin@example.com"}, {"https://www.example.com/path"}, S_2025, S_2027, 2048, "RSA",
	 "", "SHA384_WITH_ECDSA", "839AF2732712C0079EC54FA08D0A38C8E25AAD6F", S_INTER_SKI,
	 false, false, false},
	{"leaf-p256", "END_ENTITY", "F77112046873A8F03C57222FE1E468989A1FD899",
	 "CN=p256.example.com", S_INTER_DN, "p256.example.com", "0A", {"p256.example.com"},
	 {"p256.example.com"}, {0}, {0}, {0}, S_2025, S_2027, 256, "EC", "P256",
	 "SHA384_WITH_ECDSA", "31FE0459A6885EBA3B1428FCE33A69B1FFF689E6", S_INTER_SKI, false,
	 false, false},
	{"leaf-p384", "END_ENTITY", "AAE8DA54F0AC05B9781B45072A7F52FCC624C767",
	 "CN=p384.example.com", S_INTER_DN, "p384.example.com", "0B", {"p384.example.com"},
	 {"p384.example.com"}, {0}, {0}, {0}, S_2025, S_2027, 384, "EC", "P384",
	 "SHA384_WITH_ECDSA", "7C73FE54D40707F3D75EB55781472CD1D35CA06B", S_INTER_SKI, false,
	 false, false},
	{"leaf-p521", "END_ENTITY", "42047E05F635CD7A444913C82AA0FB7022A7F1EF",
	 "CN=p521.example.com", S_INTER_DN, "p521.example.com", "0C", {"p521.example.com"},
	 {"p521.example.com"}, {0}, {0}, {0}, S_2025, S_2027, 521, "EC", "P521",
	 "SHA384_WITH_ECDSA", "EF340024D5B510FF7F84562C17446C4AAB2D72BF", S_INTER_SKI, false,
	 false, false},
	{"leaf-ed25519", "END_ENTITY", "54CBD16C4CEE6B7C67824EAA2A5888D9989C092B",
	 "CN=ed25519.example.com", S_INTER_DN, "ed25519.example.com", "0D",
	 {"ed25519.example.com"}, {"ed25519.example.com"}, {0}, {0}, {0}, S_2025, S_2027, 256,
	 "ED25519", "", "SHA384_WITH_ECDSA", "40DB1260E8C719CE02707F5C2FC823C7DFAEE4C3", S_INTER_SKI,
	 false, false, false},
	{"expired", "END_ENTITY", "AE23701F21B6AFB91B4E6FBDA03B77769431D55A",
	 "CN=expired.example.com", S_INTER_DN, "expired.example.com", "0E",
	 {"expired.example.com"}, {"expired.example.com"}, {0}, {0}, {0},
	 INT64_C(1577836800000), INT64_C(1609459200000), 256, "EC", "P256", "SHA256_WITH_ECDSA",
	 "E87C0FA425EB9F0223DD32CECCE792BA28538989", S_INTER_SKI, false, false, false},
	{"selfsigned", "END_ENTITY", "B40929E94682B72F6AF337B60E40F18B463CD426",
	 "CN=selfsigned.example.com,O=Self Signed Ltd", "CN=selfsigned.example.com,O=Self Signed Ltd",
	 "selfsigned.example.com", "2A", {"selfsigned.example.com"}, {"selfsigned.example.com"},
	 {0}, {0}, {0}, S_2025, INT64_C(1893456000000), 256, "ED25519", "", "ED25519",
	 "82775C5BE3D1141660AF2929D5C4045932C21016", "", false, true, true},
	{"by-selfsigned", "END_ENTITY", "46ADF271A7FEA958504578DF75AB7DBD36FE6E96",
	 "CN=by-selfsigned.example.com", "CN=selfsigned.example.com,O=Self Signed Ltd",
	 "by-selfsigned.example.com", "2B", {"by-selfsigned.example.com"},
	 {"by-selfsigned.example.com"}, {0}, {0}, {0}, S_2025, S_2027, 256, "EC", "P256",
	 "ED25519", "AEB4858B2569F796EB56754507B01A1A04865454",
	 "82775C5BE3D1141660AF2929D5C4045932C21016", false, false, false},
	{"root2", "ROOT_CA", "EFB258F1EB08310805E6CAFD597B0F7D764E722E",
	 "CN=Unrelated Root CA,O=Unrelated Org,C=DE", "CN=Unrelated Root CA,O=Unrelated Org,C=DE",
	 "Unrelated Root CA", "7F", {"Unrelated Root CA"}, {0}, {0}, {0}, {0}, S_2024,
	 INT64_C(2682374400000), 2048, "RSA", "", "RSASSA_PSS",
	 "7DD38008749B77B76B79C46EA30DE6FB673F3505", "", true, true, true},
	{"leaf-other", "END_ENTITY", "41C981577B763B2EC9D9D0C8E6CF6F0F357DB6DF",
	 "CN=other.example.org", "CN=Unrelated Root CA,O=Unrelated Org,C=DE", "other.example.org",
	 "0100", {"other.example.org"}, {"other.example.org"}, {0}, {0}, {0}, S_2025, S_2027, 256,
	 "EC", "P256", "SHA512_WITH_RSA_ENCRYPTION", "FC5350578345F1B40ECE07421F4F81A26C114C57",
	 "7DD38008749B77B76B79C46EA30DE6FB673F3505", false, false, false},
	{"selfissued", "SELF_ISSUED_CA", "292379FD94FD6B977509CED6F2526DFBAE8A8283", S_ROOT_DN,
	 S_ROOT_DN, "tlsvault Test Root CA", "02", {"tlsvault Test Root CA"}, {0}, {0}, {0}, {0},
	 S_2024, INT64_C(2019686400000), 256, "EC", "P256", "SHA256_WITH_RSA_ENCRYPTION",
	 "A56369D00E790A867DC3295BC93908C9D5FE8839", S_ROOT_SKI, true, false, true},
	/* v1: no extensions, so not a CA for tlsvault, though self-signed */
	{"v1-selfsigned", "END_ENTITY", "9FD4417F41DEFD77781BFA0060C229BEB7AC3804",
	 "CN=v1.example.com,O=Legacy", "CN=v1.example.com,O=Legacy", "v1.example.com", "30",
	 {"v1.example.com"}, {0}, {0}, {0}, {0}, S_2025, INT64_C(1893456000000), 256, "EC", "P256",
	 "SHA256_WITH_ECDSA", "", "", false, true, true},
	/* its AKI names the issuer by DirName and serial, with no keyid */
	{"by-v1", "END_ENTITY", "17AF56A19BB46577AECE5785889B670E68C73D26", "CN=by-v1.example.com",
	 "CN=v1.example.com,O=Legacy", "by-v1.example.com", "31", {"by-v1.example.com"},
	 {"by-v1.example.com"}, {0}, {0}, {0}, S_2025, S_2027, 256, "EC", "P256",
	 "SHA256_WITH_ECDSA", "78BCDC3F14AF25E8D02124FE56E0137414900804", "", false, false, false},
};

static void S_check_want(const struct S_want *w)
{
	struct tv_cert_facts f;
	X509 *cert = S_fixture(w->name);

	assert_int_equal(tv_cert_facts_get(&f, cert), TV_OK);
	assert_string_equal(f.fingerprint, w->fingerprint);
	assert_string_equal(f.subject_dn, w->subject);
	assert_string_equal(f.issuer_dn, w->issuer);
	S_assert_list(f.subject_cn, f.n_subject_cn, w->cn);
	S_assert_list(f.san_dns, f.n_san_dns, w->dns);
	S_assert_list(f.san_ip, f.n_san_ip, w->ip);
	S_assert_list(f.san_email, f.n_san_email, w->email);
	S_assert_list(f.san_uri, f.n_san_uri, w->uri);
	assert_string_equal(f.certificate_name, w->cert_name);
	assert_string_equal(f.serial, w->serial);
	assert_true(f.validity_start_ms == w->start);
	assert_true(f.validity_end_ms == w->end);
	assert_int_equal(f.key_strength, w->strength);
	assert_string_equal(f.encryption_type, w->enc);
	assert_string_equal(f.key_curve, w->curve);
	assert_string_equal(f.signature_algorithm, w->sig);
	assert_string_equal(f.ski_hash, w->ski);
	assert_string_equal(f.aki_hash, w->aki);
	assert_int_equal(f.is_ca, w->is_ca);
	assert_int_equal(f.self_signed, w->self_signed);
	assert_int_equal(f.self_issued, w->self_issued);
	assert_string_equal(tv_cert_type(&f), w->type);
	tv_cert_facts_release(&f);
	assert_null(f.subject_dn);
	assert_int_equal(f.n_san_dns, 0);
	tv_cert_facts_release(&f); /* twice is harmless: f is zeroed */
	X509_free(cert);
}

static void test_facts_fixtures(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(S_wants) / sizeof(S_wants[0]); i++) {
		print_message("facts of %s\n", S_wants[i].name);
		S_check_want(&S_wants[i]);
	}
}

/* ---- certificates built in C ------------------------------------------- */

static EVP_PKEY *g_key; /* one P-256 key signs every built certificate */

static int S_setup(void **state)
{
	(void)state;
	g_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return g_key ? 0 : -1;
}

static int S_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(g_key);
	return 0;
}

/* An unsigned self-issued v3 certificate; entries are "type", "utf8 value" pairs. */
static X509 *S_new(const char *serial_hex, ...)
{
	X509_NAME *name = X509_NAME_new();
	ASN1_INTEGER *serial;
	BIGNUM *bn = NULL;
	const char *type;
	X509 *x = X509_new();
	va_list ap;

	assert_non_null(name);
	assert_non_null(x);
	va_start(ap, serial_hex);
	while ((type = va_arg(ap, const char *)) != NULL)
		assert_true(X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8,
						       (const unsigned char *)va_arg(ap, const char *),
						       -1, -1, 0));
	va_end(ap);
	assert_true(BN_hex2bn(&bn, serial_hex) > 0);
	serial = BN_to_ASN1_INTEGER(bn, NULL);
	assert_non_null(serial);
	assert_true(X509_set_version(x, X509_VERSION_3));
	assert_true(X509_set_serialNumber(x, serial));
	assert_true(X509_set_subject_name(x, name));
	assert_true(X509_set_issuer_name(x, name));
	assert_true(ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20250101000000Z"));
	assert_true(ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20550101000000Z"));
	assert_true(X509_set_pubkey(x, g_key));
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_NAME_free(name);
	return x;
}

static void S_add_san(X509 *x, const char *conf)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_alt_name, conf);
	assert_non_null(ext);
	assert_true(X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
}

static X509 *S_sign(X509 *x)
{
	assert_true(X509_sign(x, g_key, EVP_sha256()) > 0);
	return x;
}

/* tv_cert_facts_get fails with want and leaves *f zeroed. */
static void S_assert_facts_fail(X509 *x, enum tv_err want)
{
	struct tv_cert_facts f, zero;

	memset(&f, 0x5a, sizeof(f));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(tv_cert_facts_get(&f, x), want);
	assert_memory_equal(&f, &zero, sizeof(f));
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_facts_serials(void **state)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{"-1234", "-1234"},
		{"-FF", "-FF"},
		{"0", "00"},
		{"7", "07"},
		{"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
		 "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"}, /* 20 octets, sign pad in DER */
		{"010000000000000000000000000000000000000000",
		 "010000000000000000000000000000000000000000"}, /* 21 octets: still fits */
		{"-0100000000000000000000000000000000000000",
		 "-0100000000000000000000000000000000000000"}, /* -20 octets */
	};
	static const char *const too_long[] = {
		"01000000000000000000000000000000000000000000",  /* 22 octets */
		"-010000000000000000000000000000000000000000", /* -21 octets */
	};
	struct tv_cert_facts f;
	size_t i;
	X509 *x;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		x = S_sign(S_new(ok[i].in, "CN", "serial.test", NULL));
		assert_int_equal(tv_cert_facts_get(&f, x), TV_OK);
		assert_string_equal(f.serial, ok[i].want);
		assert_true(f.self_signed && f.self_issued && !f.is_ca);
		assert_string_equal(tv_cert_type(&f), "END_ENTITY");
		tv_cert_facts_release(&f);
		X509_free(x);
	}
	for (i = 0; i < sizeof(too_long) / sizeof(too_long[0]); i++) {
		x = S_sign(S_new(too_long[i], "CN", "serial.test", NULL));
		S_assert_facts_fail(x, TV_ERR_INVALID);
		X509_free(x);
	}
}

static void test_facts_certificate_name(void **state)
{
	static const char *const ips[] = {"2001:db8::2:1", "::ffff:192.0.2.1",
					  "2001:db8:0:1:1:1:1:1", "2001:0:0:1::1", NULL};
	static const char *const dns[] = {"a.example", NULL};
	struct tv_cert_facts f;
	X509 *x;

	(void)state;
	/* no CN: the first SAN of any type, here an iPAddress */
	x = S_new("1", "C", "US", "O", "No CN Org", NULL);
	S_add_san(x, "IP:2001:db8:0:0:0:0:2:1, DNS:a.example, IP:::ffff:192.0.2.1, "
		     "IP:2001:db8:0:1:1:1:1:1, IP:2001:0:0:1:0:0:0:1");
	S_sign(x);
	assert_int_equal(tv_cert_facts_get(&f, x), TV_OK);
	assert_string_equal(f.subject_dn, "O=No CN Org,C=US");
	assert_int_equal(f.n_subject_cn, 0);
	assert_string_equal(f.certificate_name, "2001:db8::2:1");
	S_assert_list(f.san_ip, f.n_san_ip, ips);
	S_assert_list(f.san_dns, f.n_san_dns, dns);
	assert_string_equal(f.ski_hash, "");
	assert_string_equal(f.aki_hash, "");
	tv_cert_facts_release(&f);
	X509_free(x);

	/* neither CN nor SAN: the subject DN */
	x = S_sign(S_new("2", "C", "US", "O", "Only Org", NULL));
	assert_int_equal(tv_cert_facts_get(&f, x), TV_OK);
	assert_string_equal(f.certificate_name, "O=Only Org,C=US");
	assert_int_equal(f.n_san_dns + f.n_san_ip + f.n_san_email + f.n_san_uri, 0);
	tv_cert_facts_release(&f);
	X509_free(x);

	/* no CN, a URI first */
	x = S_new("3", "O", "Uri Org", NULL);
	S_add_san(x, "URI:spiffe://example.org/svc, email:ops@example.org");
	S_sign(x);
	assert_int_equal(tv_cert_facts_get(&f, x), TV_OK);
	assert_string_equal(f.certificate_name, "spiffe://example.org/svc");
	assert_string_equal(f.san_email[0], "ops@example.org");
	tv_cert_facts_release(&f);
	X509_free(x);
}

static void test_facts_utf8_and_escaping(void **state)
{
	struct tv_cert_facts f;
	X509 *x;

	(void)state;
	/* UTF-8 stays UTF-8 (RFC 4514 style); RFC 2253 specials are escaped */
	x = S_sign(S_new("4", "C", "DE", "O", "Caf\xc3\xa9 Z\xc3\xbcrich", "OU", "a+b;c",
			 "CN", "\xe6\x97\xa5\xe6\x9c\xac", NULL));
	assert_int_equal(tv_cert_facts_get(&f, x), TV_OK);
	assert_string_equal(f.subject_dn, "CN=\xe6\x97\xa5\xe6\x9c\xac,OU=a\\+b\\;c,"
					  "O=Caf\xc3\xa9 Z\xc3\xbcrich,C=DE");
	assert_string_equal(f.issuer_dn, f.subject_dn);
	assert_int_equal(f.n_subject_cn, 1);
	assert_string_equal(f.subject_cn[0], "\xe6\x97\xa5\xe6\x9c\xac");
	assert_string_equal(f.certificate_name, "\xe6\x97\xa5\xe6\x9c\xac");
	assert_string_equal(f.signature_algorithm, "SHA256_WITH_ECDSA");
	assert_true(f.validity_end_ms == INT64_C(2682374400000)); /* GeneralizedTime 2055 */
	tv_cert_facts_release(&f);
	X509_free(x);
}

static void test_facts_refused(void **state)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gen;
	ASN1_OCTET_STRING *ip, *ski;
	unsigned char long_id[33];
	struct tv_cert_facts f;
	X509 *x;

	(void)state;
	/* a dNSName that isn't ASCII, one with a control character */
	x = S_new("5", "CN", "bad.example", NULL);
	S_add_san(x, "DNS:caf\xc3\xa9.example");
	S_assert_facts_fail(S_sign(x), TV_ERR_INVALID);
	X509_free(x);
	x = S_new("6", "CN", "bad.example", NULL);
	S_add_san(x, "DNS:a\x01.example");
	S_assert_facts_fail(S_sign(x), TV_ERR_INVALID);
	X509_free(x);

	/* an iPAddress of 8 octets (a name-constraint form) */
	x = S_new("7", "CN", "bad.example", NULL);
	gens = sk_GENERAL_NAME_new_null();
	gen = GENERAL_NAME_new();
	ip = ASN1_OCTET_STRING_new();
	assert_true(gens && gen && ip);
	assert_true(ASN1_OCTET_STRING_set(ip, (const unsigned char *)"\xc0\x00\x02\x00\xff\xff\xff\x00", 8));
	GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
	assert_true(sk_GENERAL_NAME_push(gens, gen) > 0);
	assert_true(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT));
	S_assert_facts_fail(S_sign(x), TV_ERR_INVALID);
	X509_free(x);

	/* two subjectAltName extensions */
	x = S_new("8", "CN", "twice.example", NULL);
	S_add_san(x, "DNS:one.example");
	assert_true(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND));
	S_assert_facts_fail(S_sign(x), TV_ERR_INVALID);
	X509_free(x);
	GENERAL_NAMES_free(gens);

	/* a 33-octet SKI doesn't fit ski_hash: left empty, the cert is fine */
	x = S_new("9", "CN", "longski.example", NULL);
	memset(long_id, 0xab, sizeof(long_id));
	ski = ASN1_OCTET_STRING_new();
	assert_non_null(ski);
	assert_true(ASN1_OCTET_STRING_set(ski, long_id, sizeof(long_id)));
	assert_true(X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT));
	ASN1_OCTET_STRING_free(ski);
	S_sign(x);
	assert_int_equal(tv_cert_facts_get(&f, x), TV_OK);
	assert_string_equal(f.ski_hash, "");
	tv_cert_facts_release(&f);
	X509_free(x);

	S_assert_facts_fail(NULL, TV_ERR_INVALID);
	tv_cert_facts_release(NULL);
}

/* Add a subjectAltName extension whose value is the given raw bytes. */
static void S_add_raw_san(X509 *x, const char *der, int len)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	assert_non_null(os);
	assert_true(ASN1_OCTET_STRING_set(os, (const unsigned char *)der, len));
	ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, os);
	assert_non_null(ext);
	assert_true(X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
}

static size_t S_san_count(X509 *x)
{
	size_t n = 12345;

	assert_int_equal(tv_cert_san_count(&n, x), TV_OK);
	return n;
}

static void test_san_count(void **state)
{
	static const struct {
		const char *der;
		int len;
	} bad[] = {
		{ "\x30\x05\x82\x01\x61", 5 },  /* SEQUENCE longer than the value */
		{ "\x04\x00", 2 },                 /* not a SEQUENCE */
		{ "\x30\x03\x82\x05\x61", 5 },  /* a name past the SEQUENCE's end */
		{ "\x30\x80\x00\x00", 4 },       /* indefinite length (BER, not DER) */
		{ "\x30\x04\xa0\x80\x00\x00", 6 }, /* an indefinite-length element */
		{ "", 0 },
	};
	GENERAL_NAMES *gens;
	char name[32];
	size_t i, n;
	X509 *x;

	(void)state;
	x = S_new("1", "CN", "none.example", NULL);
	assert_int_equal(S_san_count(x), 0);
	X509_free(x);
	x = S_new("2", "CN", "four.example", NULL);
	S_add_san(x, "DNS:a.example,DNS:b.example,IP:192.0.2.1,email:x@example.com");
	assert_int_equal(S_san_count(x), 4);
	/* a second extension adds up (the facts refuse it; the count doesn't hide it) */
	S_add_san(x, "DNS:c.example");
	assert_int_equal(S_san_count(x), 5);
	X509_free(x);
	/* 10,000 names, counted without decoding one */
	x = S_new("3", "CN", "many.example", NULL);
	gens = sk_GENERAL_NAME_new_null();
	assert_non_null(gens);
	for (i = 0; i < 10000; i++) {
		GENERAL_NAME *gen = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		assert_true(gen && s);
		snprintf(name, sizeof(name), "h%zu.example", i);
		assert_true(ASN1_STRING_set(s, name, -1));
		GENERAL_NAME_set0_value(gen, GEN_DNS, s);
		assert_true(sk_GENERAL_NAME_push(gens, gen) > 0);
	}
	assert_true(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT));
	GENERAL_NAMES_free(gens);
	assert_int_equal(S_san_count(x), 10000);
	X509_free(x);
	/* an empty SEQUENCE is 0 names, not an error */
	x = S_new("4", "CN", "empty.example", NULL);
	S_add_raw_san(x, "\x30\x00", 2);
	assert_int_equal(S_san_count(x), 0);
	X509_free(x);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		x = S_new("5", "CN", "bad.example", NULL);
		S_add_raw_san(x, bad[i].der, bad[i].len);
		n = 777;
		if (tv_cert_san_count(&n, x) != TV_ERR_INVALID)
			fail_msg("bad SAN %zu was counted", i);
		assert_int_equal(n, 777); /* untouched on failure */
		assert_int_equal(ERR_peek_error(), 0);
		X509_free(x);
	}
	assert_int_equal(tv_cert_san_count(&n, NULL), TV_ERR_INVALID);
}

static void test_cert_type(void **state)
{
	struct tv_cert_facts f;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_string_equal(tv_cert_type(NULL), "END_ENTITY");
	f.self_signed = f.self_issued = true;
	assert_string_equal(tv_cert_type(&f), "END_ENTITY"); /* a self-signed leaf */
	f.is_ca = true;
	assert_string_equal(tv_cert_type(&f), "ROOT_CA");
	f.self_signed = false;
	assert_string_equal(tv_cert_type(&f), "SELF_ISSUED_CA");
	f.self_issued = false;
	assert_string_equal(tv_cert_type(&f), "CA");
}

/* ---- tv_certs_parse ------------------------------------------------------- */

/* Parse and compare with the named fixtures, in order. */
static void S_assert_parses(const void *in, size_t len, const char *const *names)
{
	STACK_OF(X509) *certs = NULL;
	X509 *want;
	int i;

	assert_int_equal(tv_certs_parse(&certs, in, len, 500), TV_OK);
	assert_non_null(certs);
	for (i = 0; names[i]; i++) {
		assert_true(i < sk_X509_num(certs));
		want = S_fixture(names[i]);
		assert_int_equal(X509_cmp(sk_X509_value(certs, i), want), 0);
		X509_free(want);
	}
	assert_int_equal(sk_X509_num(certs), i);
	sk_X509_pop_free(certs, X509_free);
	assert_int_equal(ERR_peek_error(), 0);
}

static void S_assert_rejects(const void *in, size_t len, size_t max, enum tv_err want)
{
	STACK_OF(X509) *sentinel = (STACK_OF(X509) *)&sentinel, *certs = sentinel;

	assert_int_equal(tv_certs_parse(&certs, in, len, max), want);
	assert_ptr_equal(certs, sentinel); /* untouched on failure */
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_parse_pem_and_bundle(void **state)
{
	static const char *const leaf[] = {"leaf-rsa", NULL};
	static const char *const pair[] = {"inter", "root", NULL};
	unsigned char *pem;
	char *text;
	size_t len;

	(void)state;
	pem = S_read(S_DIR "leaf-rsa.crt.pem", &len);
	S_assert_parses(pem, len, leaf);
	free(pem);
	/* the bundle has text before, between and after its two blocks */
	pem = S_read(S_DIR "bundle.pem", &len);
	assert_non_null(strstr((char *)pem, "junk between the blocks"));
	S_assert_parses(pem, len, pair);
	S_assert_rejects(pem, len, 1, TV_ERR_TOO_LARGE); /* over max_certs */
	/* text that starts with '0' (0x30, a DER SEQUENCE tag) is still text */
	text = malloc(len + 32);
	assert_non_null(text);
	len = (size_t)sprintf(text, "0 comments, 2 certs\n%s", (char *)pem);
	S_assert_parses(text, len, pair);
	free(text);
	free(pem);
}

/* DER of the named fixture as base64, cut into lines of width with eol. */
static char *S_b64_lines(const char *name, bool url, size_t width, const char *eol)
{
	unsigned char *der;
	char *b64, *out;
	size_t der_len, n, i, o = 0;

	der = S_fixture_der(name, &der_len);
	assert_int_equal(tv_b64_encode(&b64, der, der_len, url), TV_OK);
	n = strlen(b64);
	out = malloc(n + (n / width + 2) * strlen(eol) + 8);
	assert_non_null(out);
	o += (size_t)sprintf(out, "  %s", eol);
	for (i = 0; i < n; i += width) {
		memcpy(out + o, b64 + i, n - i < width ? n - i : width);
		o += n - i < width ? n - i : width;
		o += (size_t)sprintf(out + o, "%s", eol);
	}
	out[o] = '\0';
	free(b64);
	free(der);
	return out;
}

static void test_parse_base64_and_der(void **state)
{
	static const char *const names[] = {"root", "inter", "leaf-rsa", "leaf-p256",
					    "leaf-ed25519", "selfsigned", "root2"};
	const char *one[2] = {NULL, NULL};
	unsigned char *der;
	char *b64, *p, *q;
	size_t i, len;
	bool url_chars = false;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		one[0] = names[i];
		der = S_fixture_der(names[i], &len);
		S_assert_parses(der, len, one); /* raw DER */
		free(der);
		b64 = S_b64_lines(names[i], false, 64, "\n");
		S_assert_parses(b64, strlen(b64), one);
		free(b64);
		b64 = S_b64_lines(names[i], false, 76, "\r\n");
		S_assert_parses(b64, strlen(b64), one);
		free(b64);
		/* URL-safe alphabet without padding, one line */
		b64 = S_b64_lines(names[i], true, 100000, "");
		url_chars |= strpbrk(b64, "-_") != NULL;
		for (p = q = b64; *p; p++)
			if (*p != '=')
				*q++ = *p;
		*q = '\0';
		S_assert_parses(b64, strlen(b64), one);
		free(b64);
	}
	assert_true(url_chars); /* the URL-safe case really used '-' or '_' */
}

static void test_parse_rejects(void **state)
{
	static const char key_block[] = "-----BEGIN PRIVATE KEY-----\n"
					"MC4CAQAwBQYDK2VwBCIEIJ+pWmPWNs3g2vzXHSIi0lBmM3qYFXMZbKwvSLEuZKgH\n"
					"-----END PRIVATE KEY-----\n";
	unsigned char *pem, *buf;
	size_t len;
	char *end;

	(void)state;
	S_assert_rejects("", 0, 500, TV_ERR_INVALID);
	S_assert_rejects(NULL, 10, 500, TV_ERR_INVALID);
	S_assert_rejects("hello, world", 12, 500, TV_ERR_INVALID);
	S_assert_rejects("\x30\x82\x01\x00\x01\x02\x03", 7, 500, TV_ERR_INVALID);
	S_assert_rejects("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", 54, 500,
			 TV_ERR_INVALID);

	pem = S_read(S_DIR "leaf-p256.crt.pem", &len);
	S_assert_rejects(pem, len, 0, TV_ERR_INVALID); /* max_certs 0 */
	end = strstr((char *)pem, "-----END");
	assert_non_null(end);
	S_assert_rejects(pem, (size_t)(end - (char *)pem), 500, TV_ERR_INVALID); /* no END */
	S_assert_rejects(pem, len / 2, 500, TV_ERR_INVALID); /* cut mid-body */
	/* a good block, then a key block: nothing is returned */
	buf = malloc(len + sizeof(key_block));
	assert_non_null(buf);
	memcpy(buf, pem, len);
	memcpy(buf + len, key_block, sizeof(key_block));
	S_assert_rejects(buf, len + sizeof(key_block) - 1, 500, TV_ERR_INVALID);
	/* a damaged body: base64 fine, DER not */
	memcpy(buf, pem, len);
	buf[40] = buf[40] == 'A' ? 'B' : 'A';
	S_assert_rejects(buf, len, 500, TV_ERR_INVALID);
	free(buf);
	free(pem);

	/* a bundle whose second block is damaged: no partial result */
	pem = S_read(S_DIR "bundle.pem", &len);
	end = strstr(strstr((char *)pem, "junk between"), "-----BEGIN CERTIFICATE-----");
	assert_non_null(end);
	end[40] = '*';
	S_assert_rejects(pem, len, 500, TV_ERR_INVALID);
	free(pem);
}

static void test_parse_rejects_der_and_size(void **state)
{
	unsigned char *der, *buf;
	size_t der_len;
	char *b64;

	(void)state;
	/* DER with a trailing byte, cut DER, base64 of a cut DER */
	der = S_fixture_der("leaf-p384", &der_len);
	buf = malloc(der_len + 1);
	assert_non_null(buf);
	memcpy(buf, der, der_len);
	buf[der_len] = 0;
	S_assert_rejects(buf, der_len + 1, 500, TV_ERR_INVALID);
	S_assert_rejects(buf, der_len - 1, 500, TV_ERR_INVALID);
	assert_int_equal(tv_b64_encode(&b64, der, der_len - 3, false), TV_OK);
	S_assert_rejects(b64, strlen(b64), 500, TV_ERR_INVALID);
	free(b64);
	free(buf);
	free(der);

	/* over the 4 MiB input cap, before looking at the content */
	buf = malloc(TV_CERTS_MAX_INPUT + 1);
	assert_non_null(buf);
	memset(buf, ' ', TV_CERTS_MAX_INPUT + 1);
	S_assert_rejects(buf, TV_CERTS_MAX_INPUT + 1, 500, TV_ERR_TOO_LARGE);
	free(buf);
}

/* ---- output forms ------------------------------------------------------------ */

static void test_der_and_pem(void **state)
{
	static const char *const names[] = {"root", "inter", "leaf-rsa", "leaf-p521",
					    "expired", "selfsigned", "root2", "selfissued"};
	const char *one[2] = {NULL, NULL};
	unsigned char *file, *der, *ref = NULL;
	char path[512], *pem;
	size_t i, file_len, der_len;
	X509 *cert;
	int ref_len;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cert = S_fixture(names[i]);
		assert_int_equal(tv_cert_der(&der, &der_len, cert), TV_OK);
		ref_len = i2d_X509(cert, &ref);
		assert_true(ref_len > 0);
		assert_int_equal(der_len, (size_t)ref_len);
		assert_memory_equal(der, ref, der_len);
		OPENSSL_free(ref);
		ref = NULL;
		/* openssl ca -notext wrote the fixture: the same bytes */
		assert_int_equal(tv_cert_pem(&pem, cert), TV_OK);
		snprintf(path, sizeof(path), S_DIR "%s.crt.pem", names[i]);
		file = S_read(path, &file_len);
		assert_string_equal(pem, (char *)file);
		one[0] = names[i];
		S_assert_parses(pem, strlen(pem), one);
		free(file);
		free(pem);
		free(der);
		X509_free(cert);
	}
	assert_int_equal(tv_cert_der(&der, &der_len, NULL), TV_ERR_INVALID);
	assert_int_equal(tv_cert_pem(&pem, NULL), TV_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_facts_fixtures),
		cmocka_unit_test(test_facts_serials),
		cmocka_unit_test(test_facts_certificate_name),
		cmocka_unit_test(test_facts_utf8_and_escaping),
		cmocka_unit_test(test_facts_refused),
		cmocka_unit_test(test_cert_type),
		cmocka_unit_test(test_san_count),
		cmocka_unit_test(test_parse_pem_and_bundle),
		cmocka_unit_test(test_parse_base64_and_der),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_rejects_der_and_size),
		cmocka_unit_test(test_der_and_pem),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
