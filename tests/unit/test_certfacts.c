/* tv-test-libs: tv_pki */
/*
 * test_certfacts.c - the facts from DER (src/pki/certfacts.c) against the
 * reference, tv_cert_facts_get() on the decoded X509: over every
 * certificate of the corpora (the chain and key fixtures, the certificates
 * inside every fixture and shared-vector keystore, the fuzz seeds) and over
 * generated ones (RSA, EC and Ed25519 keys, SANs of every type, IP SANs,
 * e-mail addresses, unusual DNs, bad SANs, odd serials), wherever the fast
 * path answers, every fact must be byte-identical (but the key
 * identifiers, which it leaves empty: x509_int.h). The fast path must also
 * answer for the common shapes, or this would test nothing.
 */
#define _GNU_SOURCE
#include "test_p12_util.h"

#include <dirent.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/x509_int.h"

struct S_tally {
	unsigned fast, slow;
};

static void S_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void S_list_eq(char **a, size_t na, char **b, size_t nb)
{
	size_t i;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

static void S_facts_eq(const struct tv_cert_facts *a, const struct tv_cert_facts *b)
{
	assert_string_equal(a->fingerprint, b->fingerprint);
	S_str_eq(a->subject_dn, b->subject_dn);
	S_str_eq(a->issuer_dn, b->issuer_dn);
	S_list_eq(a->subject_cn, a->n_subject_cn, b->subject_cn, b->n_subject_cn);
	S_list_eq(a->san_dns, a->n_san_dns, b->san_dns, b->n_san_dns);
	S_list_eq(a->san_ip, a->n_san_ip, b->san_ip, b->n_san_ip);
	S_list_eq(a->san_email, a->n_san_email, b->san_email, b->n_san_email);
	S_list_eq(a->san_uri, a->n_san_uri, b->san_uri, b->n_san_uri);
	S_str_eq(a->certificate_name, b->certificate_name);
	assert_string_equal(a->serial, b->serial);
	assert_int_equal(a->validity_start_ms, b->validity_start_ms);
	assert_int_equal(a->validity_end_ms, b->validity_end_ms);
	assert_int_equal(a->key_strength, b->key_strength);
	assert_string_equal(a->encryption_type, b->encryption_type);
	assert_string_equal(a->key_curve, b->key_curve);
	assert_string_equal(a->signature_algorithm, b->signature_algorithm);
	/* the DER path leaves the key identifiers out (see x509_int.h) */
	assert_string_equal(a->ski_hash, "");
	assert_string_equal(a->aki_hash, "");
	(void)b->ski_hash;
	assert_int_equal(a->is_ca, b->is_ca);
	assert_int_equal(a->self_signed, b->self_signed);
	assert_int_equal(a->self_issued, b->self_issued);
}

/* Both paths over cert; the fast one, when it answers, equals the other. */
static bool S_diff(X509 *cert, struct S_tally *t)
{
	struct tv_cert_facts fast, ref;
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	enum tv_err rc;
	bool answered;

	assert_true(len > 0);
	answered = tv__cert_facts_from_der(&fast, der, (size_t)len);
	rc = tv_cert_facts_get(&ref, cert);
	if (answered) {
		assert_int_equal(rc, TV_OK);
		S_facts_eq(&fast, &ref);
		t->fast++;
	} else {
		/* nothing left behind in a refusal */
		assert_null(fast.subject_dn);
		assert_int_equal(fast.n_san_dns, 0);
		t->slow++;
	}
	tv_cert_facts_release(&fast);
	tv_cert_facts_release(&ref);
	OPENSSL_free(der);
	return answered;
}

static bool S_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

/* Every certificate of every PEM, DER or PKCS#12 file in dir. */
static void S_dir(const char *dir, struct S_tally *t)
{
	char path[1200];
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (!dp)
		return; /* the shared vectors may be absent on a developer machine */
	while ((d = readdir(dp))) {
		size_t len = 0;
		unsigned char *data;
		const unsigned char *p;
		X509 *cert;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (S_ends(d->d_name, ".pem")) {
			FILE *f = fopen(path, "r");

			assert_non_null(f);
			while ((cert = PEM_read_X509(f, NULL, NULL, NULL))) {
				S_diff(cert, t);
				X509_free(cert);
			}
			fclose(f);
			ERR_clear_error();
		} else if (S_ends(d->d_name, ".der")) {
			data = tvt_read_file(path, &len);
			p = data;
			cert = d2i_X509(NULL, &p, (long)len);
			if (cert)
				S_diff(cert, t);
			X509_free(cert);
			free(data);
			ERR_clear_error();
		}
	}
	closedir(dp);
}

/* The certificates of a keystore, opened with password. */
static void S_p12(const char *path, const char *password, void *arg)
{
	struct S_tally *t = arg;
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *ca;
	int i;

	if (tvt_p12_parse_file(path, password, &key, &cert, &ca)) {
		if (cert)
			S_diff(cert, t);
		for (i = 0; i < sk_X509_num(ca); i++)
			S_diff(sk_X509_value(ca, i), t);
	}
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
}

static void test_corpora(void **state)
{
	struct S_tally t = { 0, 0 };

	(void)state;
	S_dir(TVT_FIXTURES "/chain", &t);
	S_dir(TVT_FIXTURES "/keys", &t);
	S_dir(TVT_FIXTURES "/hostile", &t);
	S_dir(TV_SOURCE_DIR "/fuzz/corpus/certder", &t);
	S_dir(TV_SOURCE_DIR "/fuzz/corpus/trustedca", &t);
	tvt_each_keystore(S_p12, &t, 1);
	print_message("corpora: %u certificates by the DER path, %u by the X509 path\n", t.fast,
		      t.slow);
	assert_true(t.fast >= 20);
}

/* A certificate signed by the fixture CA key, with subject entries
 * (field, string type, value) and extensions (name, value) as given. */
struct S_entry {
	const char *field;
	int type;
	const char *value;
	int set; /* 0: a new RDN; -1: into the previous one */
};

static X509 *S_gen(const char *key_name, const struct S_entry *subject, const char *const *exts,
		   const unsigned char *serial, int serial_len, bool negative, const char *nb,
		   const char *na)
{
	EVP_PKEY *key = tvt_fixture_key(key_name), *ca_key = tvt_fixture_key("ca");
	X509 *ca = tvt_fixture_cert("ca"), *cert = X509_new(), *back;
	X509_NAME *name = X509_NAME_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	unsigned char *der = NULL;
	const unsigned char *p;
	X509V3_CTX ctx;
	size_t i;
	int len;

	assert_true(X509_set_version(cert, 2));
	assert_true(ASN1_STRING_set(sn, serial, serial_len));
	if (negative)
		sn->type = V_ASN1_NEG_INTEGER;
	assert_true(X509_set_serialNumber(cert, sn));
	for (i = 0; subject && subject[i].field; i++)
		assert_true(X509_NAME_add_entry_by_txt(name, subject[i].field, subject[i].type,
						       (const unsigned char *)subject[i].value,
						       -1, -1, subject[i].set));
	assert_true(X509_set_subject_name(cert, name));
	assert_true(X509_set_issuer_name(cert, X509_get_subject_name(ca)));
	assert_true(ASN1_TIME_set_string(X509_getm_notBefore(cert), nb));
	assert_true(ASN1_TIME_set_string(X509_getm_notAfter(cert), na));
	assert_true(X509_set_pubkey(cert, key));
	X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
	for (i = 0; exts && exts[i]; i += 2) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i], exts[i + 1]);

		if (!e)
			fail_msg("extension %s = %s", exts[i], exts[i + 1]);
		assert_true(X509_add_ext(cert, e, -1));
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(cert, ca_key, EVP_sha256()) > 0);
	len = i2d_X509(cert, &der);
	p = der;
	back = d2i_X509(NULL, &p, len);
	assert_non_null(back);
	OPENSSL_free(der);
	X509_free(cert);
	X509_free(ca);
	X509_NAME_free(name);
	ASN1_INTEGER_free(sn);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return back;
}

static const unsigned char S_sn1[] = { 0x01 };

static void test_generated(void **state)
{
	static const struct S_entry plain[] = {
		{ "C", MBSTRING_ASC, "US", 0 },
		{ "O", MBSTRING_ASC, "Example, Inc.", 0 },
		{ "CN", MBSTRING_ASC, "www.example.com", 0 },
		{ NULL, 0, NULL, 0 },
	};
	static const struct S_entry unusual[] = {
		{ "C", MBSTRING_ASC, "DE", 0 },
		{ "O", MBSTRING_UTF8, "M\xc3\xbcller & S\xc3\xb6hne \"GmbH\"", 0 },
		{ "OU", MBSTRING_UTF8, "B\xc3\xa9la", 0 },
		{ "OU", MBSTRING_ASC, "+plus;semi<lt>", -1 }, /* multi-valued RDN */
		{ "CN", MBSTRING_UTF8, "#hash lead ", 0 },
		{ "CN", MBSTRING_ASC, " space lead", 0 },
		{ "emailAddress", MBSTRING_ASC, "who@example.com", 0 },
		{ "serialNumber", MBSTRING_ASC, "12345", 0 },
		{ "DC", MBSTRING_ASC, "example", 0 },
		{ "UID", MBSTRING_UTF8, "\xe5\xaf\x86", 0 },
		{ NULL, 0, NULL, 0 },
	};
	static const struct S_entry no_cn[] = {
		{ "O", MBSTRING_ASC, "No CN", 0 },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const sans[] = {
		"subjectAltName",
		"DNS:a.example,DNS:*.b.example,IP:192.0.2.1,IP:2001:db8::1,IP:::1,"
		"IP:2001:db8:0:0:1:0:0:1,email:x@example.com,URI:https://example.com/p?q=1",
		NULL, NULL,
	};
	static const char *const full[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature,keyEncipherment",
		"extendedKeyUsage", "serverAuth,clientAuth",
		"subjectKeyIdentifier", "hash",
		"authorityKeyIdentifier", "keyid:always,issuer",
		"subjectAltName", "DNS:a.example,DNS:b.example,IP:10.0.0.1,email:a@b.example,"
				  "URI:urn:x,RID:1.2.3.4,otherName:1.2.3.4;UTF8:hi",
		NULL, NULL,
	};
	static const char *const ca_ext[] = {
		"basicConstraints", "critical,CA:TRUE,pathlen:0",
		"keyUsage", "critical,keyCertSign,cRLSign",
		"subjectKeyIdentifier", "hash",
		NULL, NULL,
	};
	static const char *const only_sans[] = {
		"subjectAltName", "email:only@example.com,DNS:second.example",
		NULL, NULL,
	};
	static const char *const bad_dns[] = {
		"subjectAltName", "DNS:caf\xc3\xa9.example",
		NULL, NULL,
	};
	static const unsigned char big[] = { 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9,
					     10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
	static const unsigned char high[] = { 0x80, 0x01 };
	static const char *const keys[] = { "rsa2048", "rsa1024", "p256", "p384", "ed25519" };
	struct S_tally t = { 0, 0 };
	const char *const *ext_sets[] = { NULL, full, ca_ext, only_sans, bad_dns, sans };
	const struct S_entry *subjects[] = { plain, unusual, no_cn, NULL };
	size_t k, e, s;
	X509 *cert;

	(void)state;
	for (k = 0; k < 5; k++) {
		for (e = 0; e < 6; e++) {
			for (s = 0; s < 4; s++) {
				cert = S_gen(keys[k], subjects[s], ext_sets[e], S_sn1, 1, false,
					     "20240229120000Z", "20500101000000Z");
				S_diff(cert, &t);
				X509_free(cert);
			}
		}
	}
	/* every named curve, RSA and Ed25519 take the DER path (this also checks
	 * certfacts.c's curve constants: a wrong p or b puts no point on it) */
	{
		static const char *const fast_keys[] = { "p256", "p384", "p521", "rsa2048",
							 "ed25519" };

		for (k = 0; k < 5; k++) {
			cert = S_gen(fast_keys[k], plain, full, S_sn1, 1, false, "20240229120000Z",
				     "20500101000000Z");
			assert_true(S_diff(cert, &t));
			X509_free(cert);
		}
	}
	/* serials: 21 octets, a high bit, negative; dates */
	cert = S_gen("rsa2048", plain, full, big, sizeof(big), false, "19500101000000Z",
		     "20491231235959Z");
	S_diff(cert, &t);
	X509_free(cert);
	cert = S_gen("rsa2048", plain, full, high, sizeof(high), false, "19991231235959Z",
		     "99991231235959Z");
	assert_true(S_diff(cert, &t));
	X509_free(cert);
	cert = S_gen("rsa2048", plain, full, high, sizeof(high), true, "20000101000000Z",
		     "20300101000000Z");
	S_diff(cert, &t);
	X509_free(cert);
	print_message("generated: %u by the DER path, %u by the X509 path\n", t.fast, t.slow);
	assert_true(t.fast >= 40);
	assert_true(t.slow >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpora),
		cmocka_unit_test(test_generated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
