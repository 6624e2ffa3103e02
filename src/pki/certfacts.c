/*
 * DESIGN: see x509_int.h. The same facts as tv_cert_facts_get(), from the
 * spans of pki/certder.c instead of a decoded X509. Every piece is decoded
 * with the same OpenSSL item d2i_X509 would use for it (X509_NAME,
 * GENERAL_NAMES, BASIC_CONSTRAINTS, the key identifiers, ASN1_OBJECT), and
 * those decoders don't touch the provider decoders that make d2i_X509
 * expensive; the formatting is x509.c's own code. What OpenSSL would do
 * differently is left to it:
 *
 * - the public key: OpenSSL decodes it with its provider and reports its
 *   size; here only an rsaEncryption key with NULL parameters whose
 *   RSAPublicKey is two minimal positive INTEGERs (modulus of at least 512
 *   bits, odd exponent above 1), Ed25519 (32 octets, no parameters), whose
 *   decoding can't fail, and EC on P-256, P-384 or P-521 by name with an
 *   uncompressed point on the curve (what OpenSSL's decoder checks, and
 *   the only way its decoding fails); compressed points, explicit
 *   parameters and everything else go to the X509 path;
 * - a negative serial (OpenSSL's sign handling);
 * - a self-issued certificate (self_signed needs a signature check);
 * - any extension a single d2i doesn't settle: they are decoded as
 *   X509V3_EXT_d2i does (trailing octets in the value ignored), and a
 *   failure to decode is not guessed at but handed over;
 * - names: X509_NAME_cmp decides self-issued, as in x509.c;
 * - the key identifiers are not computed (ski_hash and aki_hash stay ""):
 *   OpenSSL 3.0 hands them out only for a certificate its extension cache
 *   finds valid (X509_get0_subject_key_id returns NULL after
 *   ossl_x509v3_cache_extensions set EXFLAG_INVALID: an empty keyUsage, a
 *   proxyCertInfo on a CA, an undecodable CRL distribution point, ...), a
 *   judgement not worth copying for two fields only the TrustedCA document
 *   shows (fuzz_certder found the difference).
 *
 * Cost: about 45 us for an RSA-2048 leaf, against 18 us for
 * tv_cert_facts_get() on an X509 that is already decoded (it reuses the
 * decoded names and OpenSSL's cached SHA-1). So this pays only where it
 * saves the d2i_X509 itself (about 500 us, the provider decoders): the
 * import path, where the reader leaves the leaf as DER (tv__cert_glance,
 * below) and svc/certinfo.c's tv_certinfo_init_leaf() asks this first.
 * Its differential tests: tests/unit/test_certfacts.c, fuzz_certder.
 */
#include "pki/x509_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "pki/certder.h"

static const unsigned char S_OID_RSA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const unsigned char S_OID_EC[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const unsigned char S_OID_ED25519[] = { 0x2b, 0x65, 0x70 };
static const unsigned char S_OID_SAN[] = { 0x55, 0x1d, 0x11 };
static const unsigned char S_OID_BC[] = { 0x55, 0x1d, 0x13 };
static const unsigned char S_NULL[] = { 0x05, 0x00 };

static X509_NAME *S_name(const struct tv__der *whole)
{
	const unsigned char *p = whole->p;
	X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)whole->len);

	if (name && p != whole->p + whole->len) {
		X509_NAME_free(name);
		name = NULL;
	}
	return name;
}

/* Bits of a big-endian magnitude whose first octet isn't 0. */
static int S_bits(const struct tv__der *mag)
{
	int bits = (int)mag->len * 8;
	unsigned char top = mag->p[0];

	while (!(top & 0x80u)) {
		top <<= 1;
		bits--;
	}
	return bits;
}

/* The named curves read here: field prime p and coefficient b (a = -3). */
struct S_curve {
	unsigned char oid[8];
	size_t oid_len;
	size_t field_len;
	int bits;
	const char *api_name;
	const char *p, *b; /* hex */
};

static const struct S_curve S_curves[] = {
	{ { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 }, 8, 32, 256, "P256",
	  "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
	  "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B" },
	{ { 0x2b, 0x81, 0x04, 0x00, 0x22 }, 5, 48, 384, "P384",
	  "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE"
	  "FFFFFFFF0000000000000000FFFFFFFF",
	  "B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875A"
	  "C656398D8A2ED19D2A85C8EDD3EC2AEF" },
	{ { 0x2b, 0x81, 0x04, 0x00, 0x23 }, 5, 66, 521, "P521",
	  "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
	  "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	  "0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF1"
	  "09E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00" },
};

static const struct S_curve *S_curve_by_oid(const struct tv__der *oid)
{
	size_t i;

	for (i = 0; i < sizeof(S_curves) / sizeof(S_curves[0]); i++)
		if (tv__der_is(oid, S_curves[i].oid, S_curves[i].oid_len))
			return &S_curves[i];
	return NULL;
}

/* Whether the uncompressed point 04 || X || Y is on the curve, as
 * EC_POINT_oct2point checks it when OpenSSL decodes the key: both
 * coordinates below p and y^2 = x^3 - 3x + b (mod p). */
static bool S_on_curve(const struct S_curve *cv, const struct tv__der *point)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p, *b, *x, *y, *l, *r, *t;
	size_t n = cv->field_len;
	bool ok = false;

	if (!ctx)
		return false;
	BN_CTX_start(ctx);
	p = BN_CTX_get(ctx), b = BN_CTX_get(ctx), x = BN_CTX_get(ctx), y = BN_CTX_get(ctx);
	l = BN_CTX_get(ctx), r = BN_CTX_get(ctx), t = BN_CTX_get(ctx);
	if (!t || !BN_hex2bn(&p, cv->p) || !BN_hex2bn(&b, cv->b) ||
	    !BN_bin2bn(point->p + 1, (int)n, x) || !BN_bin2bn(point->p + 1 + n, (int)n, y))
		goto out;
	if (BN_cmp(x, p) >= 0 || BN_cmp(y, p) >= 0)
		goto out;
	if (!BN_mod_sqr(l, y, p, ctx) || !BN_mod_sqr(t, x, p, ctx) ||
	    !BN_mod_mul(r, t, x, p, ctx) || !BN_mul_word(x, 3) || !BN_mod_sub(r, r, x, p, ctx) ||
	    !BN_mod_add(r, r, b, p, ctx))
		goto out;
	ok = BN_cmp(l, r) == 0;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ok;
}

static bool S_ec_facts(struct tv_cert_facts *f, const struct tv__der *params,
		       const struct tv__der *point)
{
	struct tv__der in = *params, oid;
	const struct S_curve *cv;

	if (!tv__der_get(&in, TV__DER_OID, &oid, NULL) || in.len)
		return false; /* explicit or implicit parameters */
	cv = S_curve_by_oid(&oid);
	if (!cv || point->len != 1 + 2 * cv->field_len || point->p[0] != 0x04 ||
	    !S_on_curve(cv, point))
		return false;
	memcpy(f->encryption_type, "EC", 3);
	snprintf(f->key_curve, sizeof(f->key_curve), "%s", cv->api_name);
	f->key_strength = cv->bits;
	return true;
}

static bool S_key_facts(struct tv_cert_facts *f, const struct tv__cert_der *c)
{
	struct tv__der alg = c->spki_alg, in, oid, key = c->spki_key, seq, n, e;

	if (!tv__der_get(&alg, TV__DER_SEQUENCE, &in, NULL) ||
	    !tv__der_get(&in, TV__DER_OID, &oid, NULL))
		return false;
	if (tv__der_is(&oid, S_OID_EC, sizeof(S_OID_EC)))
		return S_ec_facts(f, &in, &key);
	if (tv__der_is(&oid, S_OID_ED25519, sizeof(S_OID_ED25519))) {
		if (in.len || key.len != 32)
			return false;
		memcpy(f->encryption_type, "ED25519", 8);
		f->key_strength = 256;
		return true;
	}
	if (!tv__der_is(&oid, S_OID_RSA, sizeof(S_OID_RSA)) ||
	    !tv__der_is(&in, S_NULL, sizeof(S_NULL)))
		return false;
	if (!tv__der_get(&key, TV__DER_SEQUENCE, &seq, NULL) || key.len ||
	    !tv__der_get_uint(&seq, &n) || !tv__der_get_uint(&seq, &e) || seq.len)
		return false;
	if (n.len < 64 || n.len > 2048 || n.p[0] == 0 || !(n.p[n.len - 1] & 1u) || !(e.p[e.len - 1] & 1u) ||
	    (e.len == 1 && e.p[0] < 3))
		return false;
	memcpy(f->encryption_type, "RSA", 4);
	f->key_strength = S_bits(&n);
	return true;
}

bool tv__cert_der_key_decodes(const struct tv__cert_der *c)
{
	struct tv_cert_facts f;

	memset(&f, 0, sizeof(f));
	return S_key_facts(&f, c);
}

/* The extension's value decoded with item, as X509V3_EXT_d2i would; NULL
 * when absent (*present false) or when it doesn't decode. */
static void *S_ext_d2i(const struct tv__cert_der *c, const unsigned char *oid, size_t n,
		       const ASN1_ITEM *item, bool *present)
{
	const struct tv__cert_ext *e = tv__cert_der_ext(c, oid, n);
	const unsigned char *p;

	*present = e != NULL;
	if (!e)
		return NULL;
	p = e->value.p;
	return ASN1_item_d2i(NULL, &p, (long)e->value.len, item);
}

static bool S_sans(struct tv_cert_facts *f, const struct tv__cert_der *c, const char **first)
{
	GENERAL_NAMES *gens;
	bool present, ok = true;
	int i;

	gens = S_ext_d2i(c, S_OID_SAN, sizeof(S_OID_SAN), ASN1_ITEM_rptr(GENERAL_NAMES),
			 &present);
	if (!gens)
		return !present;
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && ok; i++)
		ok = tv__facts_san_add(f, sk_GENERAL_NAME_value(gens, i), first) == TV_OK;
	GENERAL_NAMES_free(gens);
	return ok;
}

static bool S_extensions(struct tv_cert_facts *f, const struct tv__cert_der *c)
{
	BASIC_CONSTRAINTS *bc;
	bool present;

	bc = S_ext_d2i(c, S_OID_BC, sizeof(S_OID_BC), ASN1_ITEM_rptr(BASIC_CONSTRAINTS),
		       &present);
	if (!bc && present)
		return false;
	f->is_ca = bc && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	return true;
}

static bool S_sig_alg(struct tv_cert_facts *f, const struct tv__cert_der *c)
{
	struct tv__der alg = c->sig_alg, in, oid;
	const unsigned char *p;
	ASN1_OBJECT *obj;

	if (!tv__der_get(&alg, TV__DER_SEQUENCE, &in, NULL) ||
	    !tv__der_get(&in, TV__DER_OID, NULL, &oid))
		return false;
	p = oid.p;
	obj = d2i_ASN1_OBJECT(NULL, &p, (long)oid.len);
	if (!obj)
		return false;
	tv__facts_sig_alg(f->signature_algorithm, obj);
	ASN1_OBJECT_free(obj);
	return true;
}

static bool S_fingerprint(char out[41], const unsigned char *der, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(der, len, md, &n, EVP_sha1(), NULL) || n != 20)
		return false;
	tv_hex_upper(out, md, n);
	return true;
}

static bool S_facts(struct tv_cert_facts *f, const struct tv__cert_der *c, X509_NAME *subject,
		    X509_NAME *issuer)
{
	const char *first_san = NULL;
	struct tv__der serial = c->serial;

	if (X509_NAME_cmp(subject, issuer) == 0)
		return false; /* self-issued: self_signed needs the signature */
	if (serial.p[0] & 0x80u)
		return false; /* negative */
	if (serial.len > 1 && serial.p[0] == 0) {
		serial.p++;
		serial.len--;
	}
	return S_fingerprint(f->fingerprint, c->whole.p, c->whole.len) &&
	       S_key_facts(f, c) && tv__name_rfc2253(&f->subject_dn, subject) == TV_OK &&
	       tv__name_rfc2253(&f->issuer_dn, issuer) == TV_OK &&
	       tv__facts_subject_cns(f, subject) == TV_OK && S_sans(f, c, &first_san) &&
	       tv__facts_certificate_name(f, first_san) == TV_OK &&
	       tv__facts_serial(f->serial, serial.p, (int)serial.len, false) == TV_OK &&
	       S_extensions(f, c) && S_sig_alg(f, c);
}

bool tv__cert_facts_from_der(struct tv_cert_facts *out, const unsigned char *der, size_t len)
{
	struct tv__cert_der *c = malloc(sizeof(*c));
	X509_NAME *subject = NULL, *issuer = NULL;
	struct tv_cert_facts f;
	bool ok = false;

	memset(&f, 0, sizeof(f));
	memset(out, 0, sizeof(*out));
	ERR_set_mark();
	if (!c || !tv__cert_der_parse(c, der, len))
		goto out;
	subject = S_name(&c->subject);
	issuer = S_name(&c->issuer);
	if (!subject || !issuer || !S_facts(&f, c, subject, issuer))
		goto out;
	f.validity_start_ms = c->not_before * 1000;
	f.validity_end_ms = c->not_after * 1000;
	*out = f;
	memset(&f, 0, sizeof(f));
	ok = true;
out:
	ERR_pop_to_mark();
	X509_NAME_free(subject);
	X509_NAME_free(issuer);
	tv_cert_facts_release(&f);
	free(c);
	return ok;
}

bool tv_cert_facts_from_der(struct tv_cert_facts *out, const unsigned char *der, size_t len)
{
	return tv__cert_facts_from_der(out, der, len);
}

bool tv__cert_glance(struct tv__cert_glance *g, const unsigned char *der, size_t len)
{
	struct tv__cert_der *c = malloc(sizeof(*c));
	const struct tv__cert_ext *san;
	X509_NAME *subject = NULL, *issuer = NULL;
	long n = 0;
	bool ok = false;

	memset(g, 0, sizeof(*g));
	ERR_set_mark();
	if (!c || !tv__cert_der_parse(c, der, len) || c->subject.len > LONG_MAX ||
	    c->issuer.len > LONG_MAX)
		goto out;
	subject = S_name(&c->subject);
	issuer = subject ? S_name(&c->issuer) : NULL;
	if (!issuer)
		goto out;
	san = tv__cert_der_ext(c, S_OID_SAN, sizeof(S_OID_SAN));
	if (san) {
		n = san->value.len <= LONG_MAX
			    ? tv__der_seq_count(san->value.p, (long)san->value.len)
			    : -1;
		if (n < 0)
			goto out;
	}
	g->spki_alg = c->spki_alg;
	g->spki_key = c->spki_key;
	g->key_decodes = tv__cert_der_key_decodes(c);
	g->n_sans = (size_t)n;
	ok = true;
out:
	ERR_pop_to_mark();
	X509_NAME_free(subject);
	X509_NAME_free(issuer);
	free(c);
	return ok;
}
