/*
 * DESIGN: the facts are computed once, when a certificate enters the vault,
 * and stored as plain columns (search, listing), so this file favours
 * exactness over speed and refuses a certificate rather than store a value
 * that is wrong or not valid UTF-8: an embedded NUL, a non-ASCII
 * IA5String, an iPAddress of odd length, a repeated or undecodable SAN
 * extension are TV_ERR_INVALID. Values that merely don't fit a fixed field
 * (a key identifier over 32 octets) are left empty instead, because the
 * certificate is still good.
 *
 * Names are printed with OpenSSL's RFC 2253 flags minus ESC_MSB, so that
 * non-ASCII characters come out as UTF-8 (what RFC 4514 and Java's
 * X500Principal print) instead of \C3\A9 escapes; for ASCII names the text
 * is exactly `openssl x509 -nameopt RFC2253`. CNs are listed in the same
 * order as the DN string (most specific first), so subject_cn[0] is the CN
 * a person reads first.
 *
 * Input parsing has its own small PEM scanner instead of PEM_read_bio():
 * the bundle rules (any text between blocks, any non-certificate block is
 * an error, a BEGIN without its END is an error) are then stated in one
 * place, and base64 goes through core/b64, the same lenient decoder the
 * rest of the API uses. OpenSSL errors raised while probing are dropped
 * (ERR_set_mark / ERR_pop_to_mark) so that callers find the thread's error
 * queue as they left it.
 */
#include "pki/x509.h"
#include "pki/x509_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "core/b64.h"
#include "core/util.h"

_Static_assert(TV_CERT_SERIAL_SIZE == 2 * 20 + 3, "serial field of the API struct");

/* ---- small helpers ---------------------------------------------------- */

/* Copy s[0..len) into a new string; an embedded NUL is an error. */
static enum tv_err S_dup(char **out, const void *s, size_t len)
{
	char *d;

	if (len && memchr(s, '\0', len))
		return TV_ERR_INVALID;
	d = malloc(len + 1);
	if (!d)
		return TV_ERR_NOMEM;
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	*out = d;
	return TV_OK;
}

/* Append s to the list; on success the list owns s. */
static enum tv_err S_push(char ***list, size_t *n, char *s)
{
	char **grown;

	if (*n >= SIZE_MAX / sizeof(**list) - 1)
		return TV_ERR_NOMEM;
	grown = realloc(*list, (*n + 1) * sizeof(**list));
	if (!grown)
		return TV_ERR_NOMEM;
	grown[*n] = s;
	*list = grown;
	(*n)++;
	return TV_OK;
}

static void S_list_free(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* An IA5String as a C string: printable ASCII only (JSON-safe, no NUL). */
static enum tv_err S_ia5_dup(char **out, const ASN1_STRING *s)
{
	const unsigned char *p = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s);
	int i;

	if (len < 0 || (len && !p))
		return TV_ERR_INVALID;
	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return TV_ERR_INVALID;
	return S_dup(out, p, (size_t)len);
}

static enum tv_err S_ip_text(char **out, const ASN1_OCTET_STRING *ip)
{
	char text[INET6_ADDRSTRLEN];
	int len = ASN1_STRING_length(ip);
	int af;

	if (len == 4)
		af = AF_INET;
	else if (len == 16)
		af = AF_INET6;
	else
		return TV_ERR_INVALID; /* 8 and 32 are name-constraint forms */
	/* glibc's inet_ntop follows RFC 5952: lower case, the longest run of
	 * two or more zero groups (the first on a tie) becomes "::". */
	if (!inet_ntop(af, ASN1_STRING_get0_data(ip), text, sizeof(text)))
		return TV_ERR_INVALID;
	return S_dup(out, text, strlen(text));
}

/* Upper hex of an octet string into out[65]; "" when absent or too long. */
void tv__facts_keyid_hex(char out[65], const ASN1_OCTET_STRING *id)
{
	int len = id ? ASN1_STRING_length(id) : 0;

	out[0] = '\0';
	if (len > 0 && len <= 32)
		tv_hex_upper(out, ASN1_STRING_get0_data(id), (size_t)len);
}

/* ---- names ------------------------------------------------------------ */

enum tv_err tv__name_rfc2253(char **out, const X509_NAME *name)
{
	const unsigned long flags = XN_FLAG_RFC2253 & ~(unsigned long)ASN1_STRFLGS_ESC_MSB;
	BIO *bio = NULL;
	char *text = NULL;
	long n;
	enum tv_err rc;

	rc = TV_ERR_INVALID;
	if (!name)
		goto out;
	rc = TV_ERR_NOMEM;
	bio = BIO_new(BIO_s_mem());
	if (!bio)
		goto out;
	rc = TV_ERR_INVALID;
	if (X509_NAME_print_ex(bio, name, 0, flags) < 0)
		goto out;
	n = BIO_get_mem_data(bio, &text);
	if (n < 0)
		goto out;
	rc = S_dup(out, n ? text : "", (size_t)n);
out:
	BIO_free(bio);
	return rc;
}

/* Every CN of the subject, in RFC 2253 order (the DER order reversed). */
enum tv_err tv__facts_subject_cns(struct tv_cert_facts *f, const X509_NAME *name)
{
	unsigned char *utf8 = NULL;
	const X509_NAME_ENTRY *e;
	char *cn = NULL;
	int i, len;
	enum tv_err rc = TV_OK;

	for (i = X509_NAME_entry_count(name) - 1; i >= 0; i--) {
		e = X509_NAME_get_entry(name, i);
		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != NID_commonName)
			continue;
		rc = TV_ERR_INVALID;
		len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
		if (len < 0)
			break;
		rc = S_dup(&cn, utf8, (size_t)len);
		OPENSSL_free(utf8);
		utf8 = NULL;
		if (rc)
			break;
		rc = S_push(&f->subject_cn, &f->n_subject_cn, cn);
		if (rc)
			break;
		cn = NULL;
	}
	free(cn);
	return rc;
}

static enum tv_err S_names(struct tv_cert_facts *f, X509 *cert)
{
	enum tv_err rc;

	rc = tv__name_rfc2253(&f->subject_dn, X509_get_subject_name(cert));
	if (rc)
		return rc;
	rc = tv__name_rfc2253(&f->issuer_dn, X509_get_issuer_name(cert));
	if (rc)
		return rc;
	return tv__facts_subject_cns(f, X509_get_subject_name(cert));
}

/* ---- subjectAltName ----------------------------------------------------- */

/* Add one GeneralName to its list; *first gets the first one kept. */
enum tv_err tv__facts_san_add(struct tv_cert_facts *f, const GENERAL_NAME *gen,
			      const char **first)
{
	char ***list;
	size_t *n;
	char *s = NULL;
	enum tv_err rc;

	switch (gen->type) {
	case GEN_DNS:
		rc = S_ia5_dup(&s, gen->d.dNSName);
		list = &f->san_dns, n = &f->n_san_dns;
		break;
	case GEN_IPADD:
		rc = S_ip_text(&s, gen->d.iPAddress);
		list = &f->san_ip, n = &f->n_san_ip;
		break;
	case GEN_EMAIL:
		rc = S_ia5_dup(&s, gen->d.rfc822Name);
		list = &f->san_email, n = &f->n_san_email;
		break;
	case GEN_URI:
		rc = S_ia5_dup(&s, gen->d.uniformResourceIdentifier);
		list = &f->san_uri, n = &f->n_san_uri;
		break;
	default:
		return TV_OK; /* otherName, directoryName, ...: not shown */
	}
	if (rc)
		return rc;
	rc = S_push(list, n, s);
	if (rc) {
		free(s);
		return rc;
	}
	if (!*first)
		*first = s;
	return TV_OK;
}

static enum tv_err S_sans(struct tv_cert_facts *f, X509 *cert, const char **first)
{
	GENERAL_NAMES *gens;
	int crit = -1, i;
	enum tv_err rc = TV_OK;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (!gens)
		return crit == -1 ? TV_OK : TV_ERR_INVALID; /* -2: repeated */
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && !rc; i++)
		rc = tv__facts_san_add(f, sk_GENERAL_NAME_value(gens, i), first);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* ---- serial, dates, key, signature -------------------------------------- */

enum tv_err tv__facts_serial(char out[TV_CERT_SERIAL_SIZE], const unsigned char *p, int len,
			     bool negative)
{
	size_t o = 0;

	if (len < 0 || (len && !p))
		return TV_ERR_INVALID;
	while (len > 1 && p[0] == 0) { /* only a BER-lenient decoder keeps these */
		p++;
		len--;
	}
	if (len == 0 || (len == 1 && p[0] == 0)) {
		memcpy(out, "00", 3);
		return TV_OK;
	}
	if (negative)
		out[o++] = '-';
	if (o + 2 * (size_t)len + 1 > TV_CERT_SERIAL_SIZE)
		return TV_ERR_INVALID;
	tv_hex_upper(out + o, p, (size_t)len);
	return TV_OK;
}

static enum tv_err S_serial(char out[TV_CERT_SERIAL_SIZE], const ASN1_INTEGER *sn)
{
	if (!sn)
		return TV_ERR_INVALID;
	return tv__facts_serial(out, ASN1_STRING_get0_data(sn), ASN1_STRING_length(sn),
				ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER);
}

static enum tv_err S_time_ms(int64_t *ms, const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	/* t is never NULL here: ASN1_TIME_to_tm(NULL) would mean "now". */
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return TV_ERR_INVALID;
	*ms = (int64_t)timegm(&tm) * 1000;
	return TV_OK;
}

static void S_ec_facts(struct tv_cert_facts *f, const EVP_PKEY *key)
{
	char group[64] = "";
	size_t len = 0;
	int nid;

	memcpy(f->encryption_type, "EC", 3);
	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
					    sizeof(group), &len))
		return; /* explicit curve parameters: no name */
	nid = OBJ_txt2nid(group);
	if (nid == NID_X9_62_prime256v1) {
		memcpy(f->key_curve, "P256", 5);
		f->key_strength = 256;
	} else if (nid == NID_secp384r1) {
		memcpy(f->key_curve, "P384", 5);
		f->key_strength = 384;
	} else if (nid == NID_secp521r1) {
		memcpy(f->key_curve, "P521", 5);
		f->key_strength = 521;
	}
}

/* A key OpenSSL can't decode leaves the key facts empty: still a cert. */
static void S_key_facts(struct tv_cert_facts *f, X509 *cert)
{
	const EVP_PKEY *key = X509_get0_pubkey(cert);
	int bits;

	if (!key)
		return;
	bits = EVP_PKEY_get_bits(key);
	f->key_strength = bits > 0 ? bits : 0;
	if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
		memcpy(f->encryption_type, "RSA", 4);
	} else if (EVP_PKEY_is_a(key, "EC")) {
		S_ec_facts(f, key);
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		memcpy(f->encryption_type, "ED25519", 8);
		f->key_strength = 256; /* fixed by the API, whatever a provider says */
	}
}

static const struct {
	int nid;
	const char *name;
} S_sig_names[] = {
	{NID_md5WithRSAEncryption, "MD5_WITH_RSA_ENCRYPTION"},
	{NID_sha1WithRSAEncryption, "SHA1_WITH_RSA_ENCRYPTION"},
	{NID_sha224WithRSAEncryption, "SHA224_WITH_RSA_ENCRYPTION"},
	{NID_sha256WithRSAEncryption, "SHA256_WITH_RSA_ENCRYPTION"},
	{NID_sha384WithRSAEncryption, "SHA384_WITH_RSA_ENCRYPTION"},
	{NID_sha512WithRSAEncryption, "SHA512_WITH_RSA_ENCRYPTION"},
	{NID_rsassaPss, "RSASSA_PSS"},
	{NID_ecdsa_with_SHA1, "SHA1_WITH_ECDSA"},
	{NID_ecdsa_with_SHA224, "SHA224_WITH_ECDSA"},
	{NID_ecdsa_with_SHA256, "SHA256_WITH_ECDSA"},
	{NID_ecdsa_with_SHA384, "SHA384_WITH_ECDSA"},
	{NID_ecdsa_with_SHA512, "SHA512_WITH_ECDSA"},
	{NID_ED25519, "ED25519"},
	{NID_ED448, "ED448"},
	{NID_dsaWithSHA1, "SHA1_WITH_DSA"},
	{NID_dsa_with_SHA256, "SHA256_WITH_DSA"},
};

void tv__facts_sig_alg(char out[64], const ASN1_OBJECT *obj)
{
	size_t i;
	int nid;

	nid = obj ? OBJ_obj2nid(obj) : NID_undef;
	for (i = 0; i < sizeof(S_sig_names) / sizeof(S_sig_names[0]); i++) {
		if (S_sig_names[i].nid == nid) {
			snprintf(out, 64, "%s", S_sig_names[i].name);
			return;
		}
	}
	if (nid != NID_undef)
		snprintf(out, 64, "%s", OBJ_nid2sn(nid));
	else if (!obj || OBJ_obj2txt(out, 64, obj, 1) <= 0)
		out[0] = '\0';
	for (i = 0; out[i]; i++)
		out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

static void S_sig_alg(char out[64], X509 *cert)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;

	X509_get0_signature(NULL, &alg, cert);
	if (alg)
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
	tv__facts_sig_alg(out, obj);
}

/* ---- basic constraints, self-signature ---------------------------------- */

static enum tv_err S_basic_constraints(bool *is_ca, X509 *cert)
{
	BASIC_CONSTRAINTS *bc;
	int crit = -1;

	*is_ca = false;
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
	if (!bc)
		return crit == -1 ? TV_OK : TV_ERR_INVALID;
	*is_ca = bc->ca != 0;
	BASIC_CONSTRAINTS_free(bc);
	return TV_OK;
}

bool tv__cert_is_ca(X509 *cert)
{
	bool is_ca = false;

	ERR_set_mark();
	if (cert && S_basic_constraints(&is_ca, cert) != TV_OK)
		is_ca = false;
	ERR_pop_to_mark();
	return is_ca;
}

static bool S_self_issued(X509 *cert)
{
	return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;
}

bool tv__cert_self_signed(X509 *cert)
{
	EVP_PKEY *key;
	bool ok = false;

	if (!cert || !S_self_issued(cert))
		return false;
	ERR_set_mark();
	key = X509_get0_pubkey(cert);
	ok = key && X509_verify(cert, key) == 1;
	ERR_pop_to_mark();
	return ok;
}

/* ---- the facts ------------------------------------------------------------ */

void tv_cert_facts_release(struct tv_cert_facts *f)
{
	if (!f)
		return;
	free(f->subject_dn);
	free(f->issuer_dn);
	free(f->certificate_name);
	S_list_free(f->subject_cn, f->n_subject_cn);
	S_list_free(f->san_dns, f->n_san_dns);
	S_list_free(f->san_ip, f->n_san_ip);
	S_list_free(f->san_email, f->n_san_email);
	S_list_free(f->san_uri, f->n_san_uri);
	memset(f, 0, sizeof(*f));
}

static enum tv_err S_fingerprint(char out[41], X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!X509_digest(cert, EVP_sha1(), md, &n) || n != 20)
		return TV_ERR_CRYPTO;
	tv_hex_upper(out, md, n);
	return TV_OK;
}

enum tv_err tv__facts_certificate_name(struct tv_cert_facts *f, const char *first_san)
{
	const char *name = f->subject_dn;

	if (f->n_subject_cn)
		name = f->subject_cn[0];
	else if (first_san)
		name = first_san;
	return S_dup(&f->certificate_name, name, strlen(name));
}

enum tv_err tv_cert_facts_get(struct tv_cert_facts *out, X509 *cert)
{
	struct tv_cert_facts f;
	const char *first_san = NULL;
	enum tv_err rc;

	memset(&f, 0, sizeof(f));
	ERR_set_mark();
	rc = TV_ERR_INVALID;
	if (!out || !cert)
		goto out;
	rc = S_fingerprint(f.fingerprint, cert);
	if (rc)
		goto out;
	rc = S_names(&f, cert);
	if (rc)
		goto out;
	rc = S_sans(&f, cert, &first_san);
	if (rc)
		goto out;
	rc = tv__facts_certificate_name(&f, first_san);
	if (rc)
		goto out;
	rc = S_serial(f.serial, X509_get0_serialNumber(cert));
	if (rc)
		goto out;
	rc = S_time_ms(&f.validity_start_ms, X509_get0_notBefore(cert));
	if (rc)
		goto out;
	rc = S_time_ms(&f.validity_end_ms, X509_get0_notAfter(cert));
	if (rc)
		goto out;
	rc = S_basic_constraints(&f.is_ca, cert);
	if (rc)
		goto out;
	S_key_facts(&f, cert);
	S_sig_alg(f.signature_algorithm, cert);
	tv__facts_keyid_hex(f.ski_hash, X509_get0_subject_key_id(cert));
	tv__facts_keyid_hex(f.aki_hash, X509_get0_authority_key_id(cert));
	f.self_issued = S_self_issued(cert);
	f.self_signed = tv__cert_self_signed(cert);
	*out = f;
	memset(&f, 0, sizeof(f));
out:
	ERR_pop_to_mark();
	tv_cert_facts_release(&f);
	if (rc && out)
		memset(out, 0, sizeof(*out));
	return rc;
}

const char *tv_cert_type(const struct tv_cert_facts *f)
{
	if (!f || !f->is_ca)
		return "END_ENTITY";
	if (f->self_signed)
		return "ROOT_CA";
	if (f->self_issued)
		return "SELF_ISSUED_CA";
	return "CA";
}

/* ---- parsing uploads -------------------------------------------------------- */

/* First occurrence of the NUL-terminated needle in hay[0..len), or NULL. */
static const unsigned char *S_find(const unsigned char *hay, size_t len, const char *needle)
{
	size_t nlen = strlen(needle);
	const unsigned char *p = hay, *end = hay + len;

	while ((size_t)(end - p) >= nlen) {
		p = memchr(p, needle[0], (size_t)(end - p) - nlen + 1);
		if (!p)
			return NULL;
		if (memcmp(p, needle, nlen) == 0)
			return p;
		p++;
	}
	return NULL;
}

/* Exactly one DER certificate, nothing after it. */
static enum tv_err S_cert_from_der(X509 **out, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *cert;

	if (len == 0 || len > LONG_MAX || der[0] != 0x30)
		return TV_ERR_INVALID;
	cert = d2i_X509(NULL, &p, (long)len);
	if (!cert)
		return TV_ERR_INVALID;
	if (p != der + len) {
		X509_free(cert);
		return TV_ERR_INVALID;
	}
	*out = cert;
	return TV_OK;
}

/* Decode base64 text (whitespace allowed) of one DER certificate. */
static enum tv_err S_cert_from_b64(X509 **out, const unsigned char *text, size_t len)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	enum tv_err rc;

	rc = tv_b64_decode(&der, &der_len, (const char *)text, len, TV_CERTS_MAX_INPUT);
	if (rc) {
		rc = rc == TV_ERR_NOMEM ? rc : TV_ERR_INVALID;
		goto out;
	}
	rc = S_cert_from_der(out, der, der_len);
out:
	free(der);
	return rc;
}

static enum tv_err S_push_cert(STACK_OF(X509) *certs, X509 *cert)
{
	if (sk_X509_push(certs, cert) > 0)
		return TV_OK;
	X509_free(cert);
	return TV_ERR_NOMEM;
}

/* The labels a certificate block may carry (RFC 7468 and its older alias). */
static const char *const S_pem_labels[][2] = {
	{"CERTIFICATE-----", "-----END CERTIFICATE-----"},
	{"X509 CERTIFICATE-----", "-----END X509 CERTIFICATE-----"},
};

/*
 * One PEM block whose "-----BEGIN " starts at begin. *next gets the byte
 * after its END line. A label other than a certificate's, a missing END
 * line or a body that isn't one certificate is TV_ERR_INVALID.
 */
static enum tv_err S_pem_block(X509 **out, const unsigned char **next,
			       const unsigned char *begin, const unsigned char *end)
{
	const unsigned char *label = begin + strlen("-----BEGIN "), *body, *stop;
	size_t i, n = sizeof(S_pem_labels) / sizeof(S_pem_labels[0]);
	size_t llen;

	for (i = 0; i < n; i++) {
		llen = strlen(S_pem_labels[i][0]);
		if ((size_t)(end - label) >= llen && memcmp(label, S_pem_labels[i][0], llen) == 0)
			break;
	}
	if (i == n)
		return TV_ERR_INVALID;
	body = label + llen;
	stop = S_find(body, (size_t)(end - body), S_pem_labels[i][1]);
	if (!stop)
		return TV_ERR_INVALID; /* truncated */
	*next = stop + strlen(S_pem_labels[i][1]);
	return S_cert_from_b64(out, body, (size_t)(stop - body));
}

static enum tv_err S_parse_pem(STACK_OF(X509) *certs, const unsigned char *in, size_t len,
			       size_t max_certs)
{
	const unsigned char *p = in, *end = in + len, *begin;
	X509 *cert = NULL;
	enum tv_err rc;

	while ((begin = S_find(p, (size_t)(end - p), "-----BEGIN ")) != NULL) {
		if ((size_t)sk_X509_num(certs) >= max_certs)
			return TV_ERR_TOO_LARGE;
		rc = S_pem_block(&cert, &p, begin, end);
		if (rc)
			return rc;
		rc = S_push_cert(certs, cert);
		if (rc)
			return rc;
	}
	return sk_X509_num(certs) > 0 ? TV_OK : TV_ERR_INVALID;
}

enum tv_err tv_certs_parse(STACK_OF(X509) **out, const unsigned char *input, size_t len,
			   size_t max_certs)
{
	STACK_OF(X509) *certs = NULL;
	X509 *cert = NULL;
	enum tv_err rc;

	ERR_set_mark();
	rc = TV_ERR_INVALID;
	if (!out || !input || len == 0 || max_certs == 0)
		goto out;
	rc = TV_ERR_TOO_LARGE;
	if (len > TV_CERTS_MAX_INPUT)
		goto out;
	rc = TV_ERR_NOMEM;
	certs = sk_X509_new_null();
	if (!certs)
		goto out;
	/* DER first: a PEM bundle may start with '0' text, but DER that
	 * parses exactly is never meant as text. */
	if (S_cert_from_der(&cert, input, len) == TV_OK)
		rc = S_push_cert(certs, cert);
	else if (S_find(input, len, "-----BEGIN "))
		rc = S_parse_pem(certs, input, len, max_certs);
	else if ((rc = S_cert_from_b64(&cert, input, len)) == TV_OK)
		rc = S_push_cert(certs, cert);
	if (rc)
		goto out;
	*out = certs;
	certs = NULL;
out:
	sk_X509_pop_free(certs, X509_free);
	ERR_pop_to_mark();
	return rc;
}

long tv__der_seq_count(const unsigned char *p, long len)
{
	const unsigned char *end;
	long n = 0, elen;
	int tag, cls, r;

	r = ASN1_get_object(&p, &elen, &tag, &cls, len);
	if ((r & 0x80) || r != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    cls != V_ASN1_UNIVERSAL)
		return -1;
	end = p + elen;
	while (p < end) {
		/* 0x80: error or past the end; 0x21: indefinite length (not DER) */
		r = ASN1_get_object(&p, &elen, &tag, &cls, (long)(end - p));
		if ((r & 0x80) || r == 0x21)
			return -1;
		p += elen;
		n++;
	}
	return n;
}

enum tv_err tv_cert_san_count(size_t *out, const X509 *cert)
{
	const ASN1_OCTET_STRING *data;
	enum tv_err rc = TV_ERR_INVALID;
	size_t total = 0;
	long n;
	int i = -1;

	if (!out || !cert)
		return TV_ERR_INVALID;
	ERR_set_mark();
	while ((i = X509_get_ext_by_NID(cert, NID_subject_alt_name, i)) >= 0) {
		data = X509_EXTENSION_get_data(X509_get_ext(cert, i));
		n = data ? tv__der_seq_count(ASN1_STRING_get0_data(data), ASN1_STRING_length(data)) : -1;
		if (n < 0)
			goto out;
		total += (size_t)n;
	}
	*out = total;
	rc = TV_OK;
out:
	ERR_pop_to_mark();
	return rc;
}

/* ---- output ------------------------------------------------------------------ */

enum tv_err tv_cert_der(unsigned char **out, size_t *out_len, X509 *cert)
{
	unsigned char *der = NULL, *p;
	int len;
	enum tv_err rc;

	ERR_set_mark();
	rc = TV_ERR_INVALID;
	if (!out || !out_len || !cert)
		goto out;
	len = i2d_X509(cert, NULL);
	if (len <= 0)
		goto out;
	rc = TV_ERR_NOMEM;
	der = malloc((size_t)len);
	if (!der)
		goto out;
	p = der;
	rc = TV_ERR_INVALID;
	if (i2d_X509(cert, &p) != len)
		goto out;
	*out = der;
	*out_len = (size_t)len;
	der = NULL;
	rc = TV_OK;
out:
	free(der);
	ERR_pop_to_mark();
	return rc;
}

enum tv_err tv_cert_pem(char **out, X509 *cert)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	unsigned char *der = NULL;
	char *b64 = NULL, *pem = NULL;
	size_t der_len = 0, n, i, o;
	enum tv_err rc;

	rc = TV_ERR_INVALID;
	if (!out)
		goto out;
	rc = tv_cert_der(&der, &der_len, cert);
	if (rc)
		goto out;
	rc = tv_b64_encode(&b64, der, der_len, false);
	if (rc)
		goto out;
	n = strlen(b64);
	rc = TV_ERR_NOMEM;
	pem = malloc(sizeof(head) + n + n / 64 + 1 + sizeof(tail));
	if (!pem)
		goto out;
	memcpy(pem, head, sizeof(head) - 1);
	o = sizeof(head) - 1;
	for (i = 0; i < n; i += 64) {
		size_t line = n - i < 64 ? n - i : 64;

		memcpy(pem + o, b64 + i, line);
		o += line;
		pem[o++] = '\n';
	}
	memcpy(pem + o, tail, sizeof(tail)); /* with its NUL */
	*out = pem;
	pem = NULL;
	rc = TV_OK;
out:
	free(der);
	free(b64);
	free(pem);
	return rc;
}
