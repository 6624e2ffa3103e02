/*
 * fuzz_certder.c - the strict DER certificate parser (src/pki/certder.c).
 *
 * Properties: an accepted input's spans all lie inside it, in the order of
 * RFC 5280 (TBS first, then the outer algorithm and the signature); the
 * parse is deterministic; and when OpenSSL's d2i_X509 also decodes the
 * bytes, both agree on version, serial, names, key, algorithms, signature
 * and every extension. A refusal must be all a truncation gets. And the
 * facts from DER (pki/certfacts.c), where they answer, are those
 * tv_cert_facts_get() finds in the decoded certificate.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "pki/certder.h"
#include "pki/x509_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int S_inside(const struct tv__der *s, const uint8_t *data, size_t size)
{
	return s->p >= data && s->len <= size && (size_t)(s->p - data) <= size - s->len;
}

static int S_span_eq(const struct tv__der *s, const unsigned char *p, int n)
{
	return n >= 0 && s->len == (size_t)n && (n == 0 || memcmp(s->p, p, (size_t)n) == 0);
}

static void S_compare(const struct tv__cert_der *c, X509 *x)
{
	unsigned char *enc = NULL;
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	int n, i;

	FZ_CHECK((long)c->version == X509_get_version(x), "versions differ");
	n = i2d_X509_NAME(X509_get_issuer_name(x), &enc);
	FZ_CHECK(S_span_eq(&c->issuer, enc, n), "issuers differ");
	OPENSSL_free(enc), enc = NULL;
	n = i2d_X509_NAME(X509_get_subject_name(x), &enc);
	FZ_CHECK(S_span_eq(&c->subject, enc, n), "subjects differ");
	OPENSSL_free(enc), enc = NULL;
	X509_get0_signature(&sig, &alg, x);
	FZ_CHECK(S_span_eq(&c->signature, ASN1_STRING_get0_data(sig), ASN1_STRING_length(sig)),
		 "signatures differ");
	n = i2d_X509_ALGOR(alg, &enc);
	FZ_CHECK(S_span_eq(&c->sig_alg, enc, n), "signature algorithms differ");
	OPENSSL_free(enc), enc = NULL;
	FZ_CHECK(c->n_ext == (size_t)X509_get_ext_count(x), "extension counts differ");
	for (i = 0; i < X509_get_ext_count(x); i++) {
		X509_EXTENSION *e = X509_get_ext(x, i);
		const ASN1_OBJECT *obj = X509_EXTENSION_get_object(e);
		const ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(e);

		FZ_CHECK(S_span_eq(&c->ext[i].oid, OBJ_get0_data(obj), (int)OBJ_length(obj)),
			 "extension OIDs differ");
		FZ_CHECK(c->ext[i].critical == (X509_EXTENSION_get_critical(e) > 0),
			 "criticality differs");
		FZ_CHECK(S_span_eq(&c->ext[i].value, ASN1_STRING_get0_data(d),
				   ASN1_STRING_length(d)),
			 "extension values differ");
	}
}

static void S_strs_eq(char **a, size_t na, char **b, size_t nb, const char *what)
{
	size_t i;

	FZ_CHECK(na == nb, what);
	for (i = 0; i < na; i++)
		FZ_CHECK(strcmp(a[i], b[i]) == 0, what);
}

static void S_facts(const uint8_t *data, size_t size, X509 *x)
{
	struct tv_cert_facts fast, ref;

	if (!tv__cert_facts_from_der(&fast, data, size))
		return;
	FZ_CHECK(x != NULL, "facts from DER that d2i_X509 doesn't decode");
	FZ_CHECK(tv_cert_facts_get(&ref, x) == TV_OK, "facts from DER that the X509 path refuses");
	FZ_CHECK(!strcmp(fast.fingerprint, ref.fingerprint) &&
			 !strcmp(fast.subject_dn, ref.subject_dn) &&
			 !strcmp(fast.issuer_dn, ref.issuer_dn) &&
			 !strcmp(fast.certificate_name, ref.certificate_name) &&
			 !strcmp(fast.serial, ref.serial) &&
			 fast.validity_start_ms == ref.validity_start_ms &&
			 fast.validity_end_ms == ref.validity_end_ms &&
			 fast.key_strength == ref.key_strength &&
			 !strcmp(fast.encryption_type, ref.encryption_type) &&
			 !strcmp(fast.key_curve, ref.key_curve) &&
			 !strcmp(fast.signature_algorithm, ref.signature_algorithm) &&
			 !fast.ski_hash[0] && !fast.aki_hash[0] && /* left out: x509_int.h */
			 fast.is_ca == ref.is_ca && fast.self_signed == ref.self_signed &&
			 fast.self_issued == ref.self_issued,
		 "facts from DER differ from the X509 path's");
	S_strs_eq(fast.subject_cn, fast.n_subject_cn, ref.subject_cn, ref.n_subject_cn, "CNs differ");
	S_strs_eq(fast.san_dns, fast.n_san_dns, ref.san_dns, ref.n_san_dns, "dNSNames differ");
	S_strs_eq(fast.san_ip, fast.n_san_ip, ref.san_ip, ref.n_san_ip, "iPAddresses differ");
	S_strs_eq(fast.san_email, fast.n_san_email, ref.san_email, ref.n_san_email,
		  "rfc822Names differ");
	S_strs_eq(fast.san_uri, fast.n_san_uri, ref.san_uri, ref.n_san_uri, "URIs differ");
	tv_cert_facts_release(&fast);
	tv_cert_facts_release(&ref);
}

/* What the PKCS#12 reader relies on when it leaves a certificate undecoded. */
static void S_glance(const uint8_t *data, size_t size, X509 *x, const unsigned char *end)
{
	struct tv__cert_glance g;
	size_t n = 0;

	if (!tv__cert_glance(&g, data, size))
		return;
	FZ_CHECK(x != NULL && end == data + size,
		 "a glance at a certificate d2i_X509 doesn't decode exactly");
	FZ_CHECK(tv_cert_san_count(&n, x) == TV_OK && n == g.n_sans,
		 "a glance counts other subjectAltNames");
	FZ_CHECK(!g.key_decodes || X509_get0_pubkey(x) != NULL,
		 "a glance says the key decodes and it doesn't");
	FZ_CHECK(S_inside(&g.spki_alg, data, size) && S_inside(&g.spki_key, data, size),
		 "a glance's span outside the input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tv__cert_der c, again;
	const unsigned char *p = data;
	X509 *x;
	size_t i;

	if (!tv__cert_der_parse(&c, data, size))
		return 0;
	FZ_CHECK(tv__cert_der_parse(&again, data, size) && !memcmp(&c, &again, sizeof(c)),
		 "two parses of one input differ");
	FZ_CHECK(c.whole.p == data && c.whole.len == size, "the certificate is not the input");
	FZ_CHECK(S_inside(&c.tbs, data, size) && S_inside(&c.sig_alg, data, size) &&
			 S_inside(&c.signature, data, size) && S_inside(&c.issuer, data, size) &&
			 S_inside(&c.subject, data, size) && S_inside(&c.spki, data, size) &&
			 S_inside(&c.serial, data, size),
		 "a span outside the input");
	FZ_CHECK(c.tbs.p < c.sig_alg.p && c.tbs.p + c.tbs.len == c.sig_alg.p &&
			 c.sig_alg.p + c.sig_alg.len <= c.signature.p,
		 "spans out of order");
	FZ_CHECK(c.n_ext <= TV__CERT_MAX_EXTENSIONS && (c.n_ext == 0 || c.version == 2),
		 "extensions on a v1/v2 certificate");
	for (i = 0; i < c.n_ext; i++)
		FZ_CHECK(S_inside(&c.ext[i].whole, c.tbs.p, c.tbs.len) &&
				 tv__der_oid_valid(c.ext[i].oid.p, c.ext[i].oid.len),
			 "an extension outside the TBS or with a bad OID");
	FZ_CHECK(!tv__cert_der_parse(&again, data, size - 1), "a truncation parses");
	x = d2i_X509(NULL, &p, (long)size);
	if (x)
		S_compare(&c, x);
	S_facts(data, size, x);
	S_glance(data, size, x, p);
	X509_free(x);
	ERR_clear_error();
	return 0;
}
