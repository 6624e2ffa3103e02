/*
 * DESIGN: see keyfacts.h. Every check here narrows the accepted input to
 * the canonical forms; a form this file refuses is never an error, only a
 * trip through OpenSSL's decoders. The public-key comparison answers "yes"
 * only when the bytes are equal and the certificate's own key decoded
 * (so an EC point that isn't on its curve never pairs here), and "no" only
 * where unequal bytes mean unequal keys (minimal INTEGERs; uncompressed
 * points on the same named curve; another algorithm altogether).
 */
#include "pki/keyfacts.h"

#include <string.h>

#include <openssl/objects.h>

static const unsigned char S_oid_rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const unsigned char S_oid_ec[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };

static const unsigned char S_p256_oid[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char S_p384_oid[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const unsigned char S_p521_oid[] = { 0x2b, 0x81, 0x04, 0x00, 0x23 };

/* The group orders, big-endian, as long as the private keys OpenSSL writes. */
static const unsigned char S_p256_n[] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9,
	0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const unsigned char S_p384_n[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
	0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};
static const unsigned char S_p521_n[] = {
	0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b,
	0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c,
	0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09,
};

static const struct S_curve {
	int nid;
	unsigned bits;
	const unsigned char *oid;
	size_t oid_len;
	const unsigned char *order; /* its length is the private key's */
	size_t order_len;
} S_curves[] = {
	{ NID_X9_62_prime256v1, 256, S_p256_oid, sizeof(S_p256_oid), S_p256_n, sizeof(S_p256_n) },
	{ NID_secp384r1, 384, S_p384_oid, sizeof(S_p384_oid), S_p384_n, sizeof(S_p384_n) },
	{ NID_secp521r1, 521, S_p521_oid, sizeof(S_p521_oid), S_p521_n, sizeof(S_p521_n) },
};

static const unsigned char S_version0[] = { 0x00 };
static const unsigned char S_version1[] = { 0x01 };

static unsigned S_bits(const struct tv__der *magnitude)
{
	unsigned top = magnitude->p[0], bits = 0;

	while (top) {
		bits++;
		top >>= 1;
	}
	return (unsigned)(magnitude->len - 1) * 8u + bits;
}

/* RSAPrivateKey v0: version, n, e, d, p, q, dp, dq, qinv; nothing else. */
static bool S_rsa(struct tv__key_facts *out, struct tv__der pk)
{
	struct tv__der seq, version, v;
	int i;

	if (!tv__der_get(&pk, TV__DER_SEQUENCE, &seq, NULL) || pk.len)
		return false;
	if (!tv__der_get(&seq, TV__DER_INTEGER, &version, NULL) ||
	    !tv__der_is(&version, S_version0, sizeof(S_version0)))
		return false;
	if (!tv__der_get_uint(&seq, &out->rsa_n) || !tv__der_get_uint(&seq, &out->rsa_e))
		return false;
	for (i = 0; i < 6; i++)
		if (!tv__der_get_uint(&seq, &v))
			return false;
	if (seq.len || out->rsa_n.p[0] == 0)
		return false;
	out->bits = S_bits(&out->rsa_n);
	out->kind = TV__KEY_RSA;
	return true;
}

/* Big-endian a < b, both len octets. */
static bool S_less(const unsigned char *a, const unsigned char *b, size_t len)
{
	return memcmp(a, b, len) < 0;
}

/* ECPrivateKey v1: privateKey of the order's length, no [0], [1] point. */
static bool S_ec(struct tv__key_facts *out, const struct S_curve *curve, struct tv__der pk)
{
	static const unsigned char zero[66];
	struct tv__der seq, version, d, explicit, bits;

	if (!tv__der_get(&pk, TV__DER_SEQUENCE, &seq, NULL) || pk.len)
		return false;
	if (!tv__der_get(&seq, TV__DER_INTEGER, &version, NULL) ||
	    !tv__der_is(&version, S_version1, sizeof(S_version1)))
		return false;
	if (!tv__der_get(&seq, TV__DER_OCTET_STRING, &d, NULL) || d.len != curve->order_len ||
	    !S_less(d.p, curve->order, d.len) || memcmp(d.p, zero, d.len) == 0)
		return false;
	if (!tv__der_get(&seq, TV__DER_CTX1, &explicit, NULL) || seq.len)
		return false;
	if (!tv__der_get(&explicit, TV__DER_BIT_STRING, &bits, NULL) || explicit.len)
		return false;
	/* unused-bits octet, 04, X, Y: coordinates as long as the order on
	 * these three curves */
	if (bits.len != 2 + 2 * curve->order_len ||
	    bits.p[0] != 0 || bits.p[1] != 0x04)
		return false;
	out->ec_point.p = bits.p + 1;
	out->ec_point.len = bits.len - 1;
	out->curve_nid = curve->nid;
	out->bits = curve->bits;
	out->kind = TV__KEY_EC;
	return true;
}

bool tv__key_facts_read(struct tv__key_facts *out, const unsigned char *der, size_t len)
{
	struct tv__der cur = { der, len }, pki, version, alg, oid, param, pk;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!tv__der_get(&cur, TV__DER_SEQUENCE, &pki, NULL) || cur.len)
		return false;
	if (!tv__der_get(&pki, TV__DER_INTEGER, &version, NULL) ||
	    !tv__der_is(&version, S_version0, sizeof(S_version0)))
		return false;
	if (!tv__der_get(&pki, TV__DER_SEQUENCE, &alg, NULL) ||
	    !tv__der_get(&pki, TV__DER_OCTET_STRING, &pk, NULL) || pki.len)
		return false; /* attributes, a v2 public key: OpenSSL's */
	if (!tv__der_get(&alg, TV__DER_OID, &oid, NULL))
		return false;
	if (tv__der_is(&oid, S_oid_rsa, sizeof(S_oid_rsa))) {
		if (!tv__der_get(&alg, TV__DER_NULL, &param, NULL) || param.len || alg.len)
			return false;
		if (S_rsa(out, pk))
			return true;
	} else if (tv__der_is(&oid, S_oid_ec, sizeof(S_oid_ec))) {
		if (!tv__der_get(&alg, TV__DER_OID, &param, NULL) || alg.len)
			return false;
		for (i = 0; i < sizeof(S_curves) / sizeof(S_curves[0]); i++) {
			if (!tv__der_is(&param, S_curves[i].oid, S_curves[i].oid_len))
				continue;
			out->ec_curve = param;
			if (S_ec(out, &S_curves[i], pk))
				return true;
			break;
		}
	}
	memset(out, 0, sizeof(*out));
	return false;
}

/* RSAPublicKey ::= SEQUENCE { n, e }, minimal, nothing after. */
static int S_rsa_match(const struct tv__key_facts *k, const unsigned char *pub, size_t len)
{
	struct tv__der cur = { pub, len }, seq, n, e;

	if (!tv__der_get(&cur, TV__DER_SEQUENCE, &seq, NULL) || cur.len ||
	    !tv__der_get_uint(&seq, &n) || !tv__der_get_uint(&seq, &e) || seq.len)
		return -1;
	return tv__der_eq(&n, &k->rsa_n) && tv__der_eq(&e, &k->rsa_e);
}

static int S_ec_match(const struct tv__key_facts *k, const X509_ALGOR *alg,
		      const unsigned char *pub, size_t len)
{
	const ASN1_OBJECT *curve;
	const void *pval = NULL;
	int ptype = 0;

	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT || !pval)
		return -1; /* explicit parameters */
	curve = pval;
	if (len == 0 || pub[0] != 0x04)
		return -1; /* compressed or hybrid point */
	if (OBJ_obj2nid(curve) != k->curve_nid)
		return 0;
	return len == k->ec_point.len && memcmp(pub, k->ec_point.p, len) == 0;
}

int tv__key_facts_match(const struct tv__key_facts *k, X509 *cert)
{
	X509_PUBKEY *spki = X509_get_X509_PUBKEY(cert);
	const unsigned char *pub = NULL;
	ASN1_OBJECT *obj = NULL;
	X509_ALGOR *alg = NULL;
	int pub_len = 0, nid, eq;

	if (k->kind == TV__KEY_SLOW || !spki ||
	    !X509_PUBKEY_get0_param(&obj, &pub, &pub_len, &alg, spki) || !pub || pub_len < 0)
		return -1;
	nid = OBJ_obj2nid(obj);
	if (nid == NID_rsaEncryption && k->kind == TV__KEY_RSA)
		eq = S_rsa_match(k, pub, (size_t)pub_len);
	else if (nid == NID_X9_62_id_ecPublicKey && k->kind == TV__KEY_EC)
		eq = S_ec_match(k, alg, pub, (size_t)pub_len);
	else if (nid == NID_rsaEncryption || nid == NID_X9_62_id_ecPublicKey)
		return 0; /* an RSA certificate for an EC key, or the other way */
	else
		return -1;
	/* equal bytes pair only when the certificate's key decodes, as
	 * EVP_PKEY_eq needs it to (a point off its curve pairs with nothing) */
	if (eq == 1 && !X509_get0_pubkey(cert))
		return -1;
	return eq;
}

int tv__key_facts_match_spki(const struct tv__key_facts *k, const struct tv__der *spki_alg,
			     const struct tv__der *spki_key, bool key_decodes)
{
	static const unsigned char rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
	static const unsigned char ec[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
	struct tv__der alg = *spki_alg, in, oid, curve;
	bool is_rsa, is_ec;
	int eq;

	if (k->kind == TV__KEY_SLOW || !tv__der_get(&alg, TV__DER_SEQUENCE, &in, NULL) ||
	    alg.len || !tv__der_get(&in, TV__DER_OID, &oid, NULL))
		return -1;
	is_rsa = tv__der_is(&oid, rsa, sizeof(rsa));
	is_ec = tv__der_is(&oid, ec, sizeof(ec));
	if (is_rsa && k->kind == TV__KEY_RSA) {
		eq = S_rsa_match(k, spki_key->p, spki_key->len);
	} else if (is_ec && k->kind == TV__KEY_EC) {
		/* named curve only; a compressed or hybrid point: ask OpenSSL */
		if (!tv__der_get(&in, TV__DER_OID, &curve, NULL) || in.len)
			return -1;
		if (spki_key->len == 0 || spki_key->p[0] != 0x04)
			return -1;
		if (!tv__der_eq(&curve, &k->ec_curve))
			return 0;
		eq = tv__der_eq(spki_key, &k->ec_point);
	} else if (is_rsa || is_ec) {
		return 0; /* an RSA certificate for an EC key, or the other way */
	} else {
		return -1;
	}
	/* as tv__key_facts_match: equal bytes pair only with a key that decodes */
	if (eq == 1 && !key_decodes)
		return -1;
	return eq;
}
