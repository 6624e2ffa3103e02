/* tv-test-libs: tv_pki */
/*
 * test_certder.c - the DER certificate parser (src/pki/certder.c): every
 * field it reads equals what OpenSSL's d2i_X509 decodes from the same bytes
 * (fixture certificates and generated ones with SANs, critical and many
 * extensions, v1, negative-free serials of every length), and the forms
 * that aren't strict DER are refused: every truncation, trailing bytes, a
 * non-minimal length, a critical FALSE, a repeated extension, impossible
 * dates, a non-minimal serial, too many extensions.
 */
#define _GNU_SOURCE
#include "test_p12_util.h"

#include <dirent.h>

#include <openssl/x509v3.h>

#include "pki/certder.h"

static X509 *S_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *cert;

	if (!f)
		fail_msg("cannot open %s", path);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		fail_msg("cannot read certificate %s", path);
	return cert;
}

static int64_t S_time_of(const ASN1_TIME *t)
{
	struct tm tm;

	assert_true(ASN1_TIME_to_tm(t, &tm));
	return (int64_t)timegm(&tm);
}

/* The encoding's contents (after tag and length) of a DER element. */
static void S_contents(const unsigned char *enc, size_t len, struct tv__der *out)
{
	struct tv__der cur = { enc, len };

	assert_true(tv__der_get(&cur, enc[0], out, NULL));
}

static void S_span_is(const struct tv__der *span, const unsigned char *want, int len)
{
	assert_true(len > 0);
	assert_int_equal(span->len, (size_t)len);
	assert_memory_equal(span->p, want, (size_t)len);
}

/* Parse cert's DER and check every field against OpenSSL's decoding. */
static void S_check_same(X509 *cert)
{
	struct tv__cert_der *c = calloc(1, sizeof(*c));
	unsigned char *der = NULL, *enc = NULL;
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	struct tv__der v;
	int len, n, i;

	assert_non_null(c);
	len = i2d_X509(cert, &der);
	assert_true(len > 0);
	assert_true(tv__cert_der_parse(c, der, (size_t)len));
	S_span_is(&c->whole, der, len);
	assert_int_equal((long)c->version, X509_get_version(cert));
	n = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &enc);
	S_contents(enc, (size_t)n, &v);
	assert_true(tv__der_eq(&c->serial, &v));
	OPENSSL_free(enc), enc = NULL;
	n = i2d_X509_NAME(X509_get_issuer_name(cert), &enc);
	S_span_is(&c->issuer, enc, n);
	OPENSSL_free(enc), enc = NULL;
	n = i2d_X509_NAME(X509_get_subject_name(cert), &enc);
	S_span_is(&c->subject, enc, n);
	OPENSSL_free(enc), enc = NULL;
	assert_int_equal(c->not_before, S_time_of(X509_get0_notBefore(cert)));
	assert_int_equal(c->not_after, S_time_of(X509_get0_notAfter(cert)));
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &enc);
	S_span_is(&c->spki, enc, n);
	OPENSSL_free(enc), enc = NULL;
	n = i2d_X509_ALGOR(X509_get0_tbs_sigalg(cert), &enc);
	S_span_is(&c->tbs_sig_alg, enc, n);
	OPENSSL_free(enc), enc = NULL;
	X509_get0_signature(&sig, &alg, cert);
	n = i2d_X509_ALGOR(alg, &enc);
	S_span_is(&c->sig_alg, enc, n);
	OPENSSL_free(enc), enc = NULL;
	S_span_is(&c->signature, ASN1_STRING_get0_data(sig), ASN1_STRING_length(sig));
	n = i2d_re_X509_tbs(cert, &enc);
	S_span_is(&c->tbs, enc, n);
	OPENSSL_free(enc), enc = NULL;
	assert_int_equal(c->n_ext, (size_t)X509_get_ext_count(cert));
	for (i = 0; i < X509_get_ext_count(cert); i++) {
		X509_EXTENSION *e = X509_get_ext(cert, i);
		const ASN1_OBJECT *obj = X509_EXTENSION_get_object(e);
		const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(e);

		S_span_is(&c->ext[i].oid, OBJ_get0_data(obj), (int)OBJ_length(obj));
		assert_int_equal(c->ext[i].critical, X509_EXTENSION_get_critical(e) > 0);
		if (ASN1_STRING_length(data))
			S_span_is(&c->ext[i].value, ASN1_STRING_get0_data(data),
				  ASN1_STRING_length(data));
		else
			assert_int_equal(c->ext[i].value.len, 0);
		assert_ptr_equal(tv__cert_der_ext(c, OBJ_get0_data(obj), OBJ_length(obj)),
				 &c->ext[i]);
	}
	/* no prefix of the certificate is one */
	for (i = 0; i < len; i++)
		assert_false(tv__cert_der_parse(c, der, (size_t)i));
	OPENSSL_free(der);
	free(c);
}

static void S_check_dir(const char *dir, const char *suffix, unsigned *count)
{
	char path[1200];
	struct dirent *d;
	DIR *dp = opendir(dir);
	size_t sl = strlen(suffix);

	assert_non_null(dp);
	while ((d = readdir(dp))) {
		size_t nl = strlen(d->d_name);
		X509 *cert;

		if (nl <= sl || strcmp(d->d_name + nl - sl, suffix))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		cert = S_pem(path);
		S_check_same(cert);
		X509_free(cert);
		(*count)++;
	}
	closedir(dp);
}

static void test_fixtures_match_openssl(void **state)
{
	unsigned count = 0;

	(void)state;
	S_check_dir(TVT_FIXTURES "/chain", ".crt.pem", &count);
	S_check_dir(TVT_FIXTURES "/keys", ".crt.pem", &count);
	assert_true(count >= 25);
}

/* A certificate from key with the given extensions ("name:value" conf). */
static X509 *S_make(EVP_PKEY *key, long version, const unsigned char *serial, size_t serial_len,
		    const char *const *exts, const char *cn, const char *not_after)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	X509V3_CTX ctx;
	size_t i;

	assert_non_null(cert);
	assert_true(X509_set_version(cert, version));
	assert_true(ASN1_STRING_set(sn, serial, (int)serial_len));
	assert_true(X509_set_serialNumber(cert, sn));
	assert_true(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC,
					       (const unsigned char *)"DE", -1, -1, 0));
	assert_true(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					       (const unsigned char *)"B\xc3\xa4r & Co, \"x\"",
					       -1, -1, 0));
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					       (const unsigned char *)cn, -1, -1, 0));
	/* a multi-valued RDN: OpenSSL sorts it into DER order */
	assert_true(X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
					       (const unsigned char *)"zz", -1, -1, 1));
	assert_true(X509_set_subject_name(cert, name));
	assert_true(X509_set_issuer_name(cert, name));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
	assert_true(ASN1_TIME_set_string(X509_getm_notAfter(cert), not_after));
	assert_true(X509_set_pubkey(cert, key));
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	for (i = 0; exts && exts[i]; i += 2) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i], exts[i + 1]);

		if (!e)
			fail_msg("extension %s = %s", exts[i], exts[i + 1]);
		assert_true(X509_add_ext(cert, e, -1));
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(cert, key,
			      EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) > 0);
	/* back through DER, so the X509 holds its own encoding */
	{
		unsigned char *der = NULL;
		const unsigned char *p;
		int len = i2d_X509(cert, &der);
		X509 *back;

		p = der;
		back = d2i_X509(NULL, &p, len);
		assert_non_null(back);
		OPENSSL_free(der);
		X509_free(cert);
		cert = back;
	}
	X509_NAME_free(name);
	ASN1_INTEGER_free(sn);
	return cert;
}

static const char *const S_exts[] = {
	"basicConstraints", "critical,CA:FALSE",
	"keyUsage", "critical,digitalSignature,keyEncipherment",
	"extendedKeyUsage", "serverAuth,clientAuth",
	"subjectKeyIdentifier", "hash",
	"authorityKeyIdentifier", "keyid:always",
	"subjectAltName", "DNS:a.example,DNS:*.b.example,IP:192.0.2.1,IP:2001:db8::1,"
			  "email:x@example.com,URI:https://example.com/p",
	"nsComment", "generated for test_certder",
	"crlDistributionPoints", "URI:http://crl.example/ca.crl",
	"authorityInfoAccess", "OCSP;URI:http://ocsp.example",
	NULL, NULL,
};

static void test_generated_match_openssl(void **state)
{
	static const unsigned char serials[][21] = {
		{ 0x00 }, { 0x01 }, { 0x7f }, { 0x00, 0x80 }, { 0x12, 0x34, 0x56 },
		{ 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 },
	};
	static const size_t serial_lens[] = { 1, 1, 1, 2, 3, 20 };
	static const char *const names[] = { "rsa2048", "p256", "p384", "ed25519" };
	static const char *const dates[] = { "20491231235959Z", "20500101000000Z",
					     "21060207062816Z", "19991231235959Z" };
	size_t k, s;

	(void)state;
	for (k = 0; k < 4; k++) {
		EVP_PKEY *key = tvt_fixture_key(names[k]);

		for (s = 0; s < 6; s++) {
			X509 *cert = S_make(key, 2, serials[s] + (serials[s][0] == 0 && serial_lens[s] > 1),
					    serial_lens[s] - (serials[s][0] == 0 && serial_lens[s] > 1),
					    S_exts, "host.example", dates[s % 4]);

			S_check_same(cert);
			X509_free(cert);
		}
		{
			X509 *v1 = S_make(key, 0, serials[4], 3, NULL, "v1", dates[0]);
			struct tv__cert_der c;
			unsigned char *der = NULL;
			int len = i2d_X509(v1, &der);

			S_check_same(v1);
			assert_true(tv__cert_der_parse(&c, der, (size_t)len));
			assert_int_equal(c.version, 0);
			assert_false(c.has_extensions);
			OPENSSL_free(der);
			X509_free(v1);
		}
		EVP_PKEY_free(key);
	}
}

/* The DER of a generated certificate, for byte surgery. */
static unsigned char *S_der(X509 *cert, size_t *len)
{
	unsigned char *der = NULL, *copy;
	int n = i2d_X509(cert, &der);

	assert_true(n > 0);
	copy = malloc((size_t)n + 8);
	assert_non_null(copy);
	memcpy(copy, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return copy;
}

static unsigned char *S_find(unsigned char *der, size_t len, const unsigned char *pat, size_t n)
{
	size_t i;

	for (i = 0; i + n <= len; i++)
		if (!memcmp(der + i, pat, n))
			return der + i;
	fail_msg("pattern not found");
	return NULL;
}

static bool S_parses(const unsigned char *der, size_t len)
{
	struct tv__cert_der *c = malloc(sizeof(*c));
	bool ok;

	assert_non_null(c);
	ok = tv__cert_der_parse(c, der, len);
	free(c);
	return ok;
}

static void test_refuses_what_is_not_strict_der(void **state)
{
	static const unsigned char critical_true[] = { 0x01, 0x01, 0xff };
	static const unsigned char utc_z[] = { 0x17, 0x0d };
	EVP_PKEY *key = tvt_fixture_key("p256");
	static const unsigned char one[] = { 0x01 };
	const char *const dup[] = { "subjectKeyIdentifier", "hash", "subjectKeyIdentifier", "hash",
				    NULL, NULL };
	X509 *cert = S_make(key, 2, one, 1, S_exts, "strict", "20491231235959Z");
	unsigned char *der, *p, *grown;
	size_t len;

	(void)state;
	der = S_der(cert, &len);
	assert_true(S_parses(der, len));
	/* trailing bytes, and NULL input */
	der[len] = 0;
	assert_false(S_parses(der, len + 1));
	assert_false(S_parses(NULL, 0));
	/* the outer length in a longer form than needed: 30 82 xx xx -> 30 83 00 xx xx */
	assert_int_equal(der[1], 0x82);
	grown = malloc(len + 1);
	assert_non_null(grown);
	grown[0] = 0x30;
	grown[1] = 0x83;
	grown[2] = 0;
	memcpy(grown + 3, der + 2, len - 2);
	assert_false(S_parses(grown, len + 1));
	free(grown);
	/* a critical flag spelled FALSE, or TRUE as 01 (both BER, not DER) */
	p = S_find(der, len, critical_true, sizeof(critical_true));
	p[2] = 0x00;
	assert_false(S_parses(der, len));
	p[2] = 0x01;
	assert_false(S_parses(der, len));
	p[2] = 0xff;
	assert_true(S_parses(der, len));
	/* impossible dates: month 13, Feb 30, a letter, no Z */
	p = S_find(der, len, utc_z, sizeof(utc_z)) + 2;
	{
		unsigned char save[13];

		memcpy(save, p, 13);
		memcpy(p, "991301000000Z", 13);
		assert_false(S_parses(der, len));
		memcpy(p, "990230000000Z", 13);
		assert_false(S_parses(der, len));
		memcpy(p, "000229000000Z", 13); /* 2000 is a leap year */
		assert_true(S_parses(der, len));
		memcpy(p, "9a0101000000Z", 13);
		assert_false(S_parses(der, len));
		memcpy(p, "9901010000000", 13);
		assert_false(S_parses(der, len));
		memcpy(p, save, 13);
		assert_true(S_parses(der, len));
	}
	free(der);
	X509_free(cert);

	/* the outer algorithm's parameters as an empty constructed [UNIVERSAL
	 * 14] (found by fuzz_certder: OpenSSL re-encodes it otherwise), and as
	 * a BOOLEAN: only absent, NULL, an OID or a SEQUENCE are kept */
	{
		size_t n = 0;
		unsigned char *crash = tvt_read_file(TV_SOURCE_DIR "/fuzz/corpus/certder/"
						     "crash-alg-params-constructed-63a0a977",
						     &n);

		assert_false(S_parses(crash, n));
		crash[0x246] = 0x05; /* back to NULL: the seed it came from */
		assert_true(S_parses(crash, n));
		crash[0x246] = 0x01;
		assert_false(S_parses(crash, n));
		free(crash);
	}

	/* a repeated extension: OpenSSL decodes it, RFC 5280 forbids it */
	cert = S_make(key, 2, one, 1, dup, "dup", "20491231235959Z");
	der = S_der(cert, &len);
	assert_false(S_parses(der, len));
	free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void test_refuses_bad_serials_and_too_many_extensions(void **state)
{
	EVP_PKEY *key = tvt_fixture_key("p256");
	static const unsigned char serial[] = { 0x01, 0x02 };
	const char *many[2 * (TV__CERT_MAX_EXTENSIONS + 2)];
	char oids[TV__CERT_MAX_EXTENSIONS + 1][40];
	X509 *cert;
	unsigned char *der, *p;
	size_t len, i;
	static const unsigned char sn[] = { 0x02, 0x02, 0x01, 0x02 };

	(void)state;
	cert = S_make(key, 2, serial, 2, NULL, "serial", "20491231235959Z");
	der = S_der(cert, &len);
	assert_true(S_parses(der, len));
	/* 02 02 01 02 -> 02 02 00 02: a leading zero octet that isn't needed */
	p = S_find(der, len, sn, sizeof(sn));
	p[2] = 0x00;
	assert_false(S_parses(der, len));
	/* ff 82: a leading ff that isn't needed */
	p[2] = 0xff;
	p[3] = 0x82;
	assert_false(S_parses(der, len));
	free(der);
	X509_free(cert);

	/* one extension more than the bound is refused, the bound itself is not */
	for (i = 0; i < TV__CERT_MAX_EXTENSIONS + 1; i++) {
		snprintf(oids[i], sizeof(oids[i]), "ASN1:UTF8String:x%zu", i);
		many[2 * i + 1] = oids[i];
	}
	{
		char names[TV__CERT_MAX_EXTENSIONS + 1][40];

		for (i = 0; i < TV__CERT_MAX_EXTENSIONS + 1; i++) {
			snprintf(names[i], sizeof(names[i]), "1.3.6.1.4.1.99999.%zu", i);
			many[2 * i] = names[i];
		}
		many[2 * TV__CERT_MAX_EXTENSIONS] = NULL;
		many[2 * TV__CERT_MAX_EXTENSIONS + 1] = NULL;
		cert = S_make(key, 2, serial, 2, many, "bound", "20491231235959Z");
		S_check_same(cert);
		X509_free(cert);
		many[2 * TV__CERT_MAX_EXTENSIONS] = names[TV__CERT_MAX_EXTENSIONS];
		many[2 * TV__CERT_MAX_EXTENSIONS + 1] = oids[TV__CERT_MAX_EXTENSIONS];
		many[2 * TV__CERT_MAX_EXTENSIONS + 2] = NULL;
		many[2 * TV__CERT_MAX_EXTENSIONS + 3] = NULL;
		cert = S_make(key, 2, serial, 2, many, "over", "20491231235959Z");
		der = S_der(cert, &len);
		assert_false(S_parses(der, len));
		free(der);
		X509_free(cert);
	}
	EVP_PKEY_free(key);
}

static void test_oid_validity(void **state)
{
	static const unsigned char good[] = { 0x55, 0x1d, 0x0f };
	static const unsigned char long_ok[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f };
	static const unsigned char unended[] = { 0x55, 0x9d };
	static const unsigned char leading[] = { 0x55, 0x80, 0x01 };

	(void)state;
	assert_true(tv__der_oid_valid(good, sizeof(good)));
	assert_true(tv__der_oid_valid(long_ok, sizeof(long_ok)));
	assert_false(tv__der_oid_valid(unended, sizeof(unended)));
	assert_false(tv__der_oid_valid(leading, sizeof(leading)));
	assert_false(tv__der_oid_valid(good, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_match_openssl),
		cmocka_unit_test(test_generated_match_openssl),
		cmocka_unit_test(test_refuses_what_is_not_strict_der),
		cmocka_unit_test(test_refuses_bad_serials_and_too_many_extensions),
		cmocka_unit_test(test_oid_validity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
