/*
 * DESIGN: see certder.h. One function per ASN.1 production of RFC 5280
 * section 4.1, each taking a cursor and refusing anything outside the
 * strict form; the cursor helpers of der.h enforce the length rules. Only
 * the structure is checked here, not what the values mean (an unknown
 * algorithm, a key that doesn't decode): that is for whoever uses the
 * spans, and OpenSSL's d2i_X509 doesn't check it either.
 */
#include "pki/certder.h"

#include <string.h>

#define S_BOOLEAN 0x01u
#define S_UTC_TIME 0x17u
#define S_GENERALIZED_TIME 0x18u
#define S_CTX3 0xa3u
#define S_ISSUER_UID 0x81u  /* [1] IMPLICIT BIT STRING */
#define S_SUBJECT_UID 0x82u /* [2] IMPLICIT BIT STRING */

/* The next element, whatever its (single-octet) tag; whole into *whole.
 * A universal type other than SEQUENCE and SET must be primitive: DER has
 * no constructed strings, and the other universal types are primitive. */
static bool S_any(struct tv__der *cur, struct tv__der *whole)
{
	int tag = tv__der_peek(cur);

	if (tag < 0 || (tag & 0x1f) == 0x1f)
		return false; /* the end, or a multi-octet tag */
	if ((tag & 0xe0) == 0x20 && tag != TV__DER_SEQUENCE && tag != TV__DER_SET)
		return false;
	return tv__der_get(cur, (unsigned)tag, NULL, whole);
}

bool tv__der_oid_valid(const unsigned char *oid, size_t n)
{
	size_t i;
	bool start = true;

	if (n == 0 || (oid[n - 1] & 0x80u))
		return false;
	for (i = 0; i < n; i++) {
		if (start && oid[i] == 0x80u)
			return false; /* a subidentifier with a leading zero group */
		start = !(oid[i] & 0x80u);
	}
	return true;
}

static bool S_oid(struct tv__der *cur, struct tv__der *oid)
{
	struct tv__der save = *cur;

	if (tv__der_get(cur, TV__DER_OID, oid, NULL) && tv__der_oid_valid(oid->p, oid->len))
		return true;
	*cur = save;
	return false;
}

/* A minimally encoded INTEGER of either sign; its contents into *v. */
static bool S_integer(struct tv__der *cur, struct tv__der *v)
{
	struct tv__der save = *cur;

	if (!tv__der_get(cur, TV__DER_INTEGER, v, NULL) || v->len == 0)
		goto bad;
	if (v->len > 1 && ((v->p[0] == 0x00 && !(v->p[1] & 0x80u)) ||
			   (v->p[0] == 0xff && (v->p[1] & 0x80u))))
		goto bad; /* a leading octet that isn't needed */
	return true;
bad:
	*cur = save;
	return false;
}

/* AlgorithmIdentifier ::= SEQUENCE { OID, parameters ANY OPTIONAL }, with
 * parameters absent, NULL, an OID or a SEQUENCE (RSASSA-PSS, explicit
 * curves): the forms whose bytes OpenSSL keeps as they are, so that a
 * byte comparison of two of them means what OpenSSL's comparison means. */
static bool S_alg(struct tv__der *cur, struct tv__der *whole)
{
	static const unsigned char null[] = { TV__DER_NULL, 0x00 };
	struct tv__der save = *cur, in, oid, params;

	if (!tv__der_get(cur, TV__DER_SEQUENCE, &in, whole) || !S_oid(&in, &oid))
		goto bad;
	if (!in.len || tv__der_is(&in, null, sizeof(null)))
		return true;
	if ((S_oid(&in, &params) || tv__der_get(&in, TV__DER_SEQUENCE, NULL, NULL)) &&
	    in.len == 0)
		return true;
bad:
	*cur = save;
	return false;
}

/* A BIT STRING with no unused bits; its bits (after the count) into *bits. */
static bool S_bits(struct tv__der *cur, unsigned tag, struct tv__der *bits)
{
	struct tv__der save = *cur, v;

	if (!tv__der_get(cur, tag, &v, NULL) || v.len == 0 || v.p[0] != 0) {
		*cur = save;
		return false;
	}
	bits->p = v.p + 1;
	bits->len = v.len - 1;
	return true;
}

/* DER orders the elements of a SET OF by their encodings, the shorter one
 * padded with zero octets (X.690 11.6): a <= b. */
static bool S_set_ordered(const struct tv__der *a, const struct tv__der *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);

	if (c)
		return c < 0;
	if (a->len <= b->len)
		return true;
	for (; n < a->len; n++)
		if (a->p[n])
			return false;
	return true;
}

/* RelativeDistinguishedName ::= SET SIZE (1..MAX) OF
 * AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY } */
static bool S_rdn(struct tv__der *cur)
{
	struct tv__der set, atv, oid, value, whole, prev = { NULL, 0 };

	if (!tv__der_get(cur, TV__DER_SET, &set, NULL) || set.len == 0)
		return false;
	while (set.len) {
		if (!tv__der_get(&set, TV__DER_SEQUENCE, &atv, &whole) || !S_oid(&atv, &oid) ||
		    !S_any(&atv, &value) || atv.len)
			return false;
		if (prev.p && !S_set_ordered(&prev, &whole))
			return false;
		prev = whole;
	}
	return true;
}

/* Name ::= SEQUENCE OF RelativeDistinguishedName (an empty one allowed) */
static bool S_name(struct tv__der *cur, struct tv__der *whole)
{
	struct tv__der save = *cur, in;

	if (!tv__der_get(cur, TV__DER_SEQUENCE, &in, whole))
		goto bad;
	while (in.len)
		if (!S_rdn(&in))
			goto bad;
	return true;
bad:
	*cur = save;
	return false;
}

static bool S_digits(const unsigned char *p, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (p[i] - '0');
	}
	return true;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t S_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Time ::= CHOICE { UTCTime "YYMMDDHHMMSSZ", GeneralizedTime "YYYYMMDDHHMMSSZ" } */
static bool S_time(struct tv__der *cur, int64_t *secs, struct tv__der *whole)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tv__der save = *cur, v;
	int y, mo, d, h, mi, s;
	size_t yl;

	if (tv__der_get(cur, S_UTC_TIME, &v, whole))
		yl = 2;
	else if (tv__der_get(cur, S_GENERALIZED_TIME, &v, whole))
		yl = 4;
	else
		return false;
	if (v.len != yl + 11 || v.p[yl + 10] != 'Z' || !S_digits(v.p, yl, &y) ||
	    !S_digits(v.p + yl, 2, &mo) || !S_digits(v.p + yl + 2, 2, &d) ||
	    !S_digits(v.p + yl + 4, 2, &h) || !S_digits(v.p + yl + 6, 2, &mi) ||
	    !S_digits(v.p + yl + 8, 2, &s))
		goto bad;
	if (yl == 2)
		y += y >= 50 ? 1900 : 2000; /* RFC 5280 4.1.2.5.1 */
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 59)
		goto bad;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		goto bad;
	*secs = S_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	return true;
bad:
	*cur = save;
	return false;
}

/* Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 *                          extnValue OCTET STRING } */
static bool S_extension(struct tv__der *cur, struct tv__cert_ext *ext)
{
	struct tv__der in, flag;

	if (!tv__der_get(cur, TV__DER_SEQUENCE, &in, &ext->whole) || !S_oid(&in, &ext->oid))
		return false;
	ext->critical = false;
	if (tv__der_peek(&in) == S_BOOLEAN) {
		/* DER leaves a DEFAULT value out: only TRUE (ff) may be here */
		if (!tv__der_get(&in, S_BOOLEAN, &flag, NULL) || flag.len != 1 ||
		    flag.p[0] != 0xff)
			return false;
		ext->critical = true;
	}
	return tv__der_get(&in, TV__DER_OCTET_STRING, &ext->value, NULL) && in.len == 0;
}

/* [3] EXPLICIT Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension */
static bool S_extensions(struct tv__der *cur, struct tv__cert_der *out)
{
	struct tv__der outer, list;
	size_t i;

	if (!tv__der_get(cur, S_CTX3, &outer, NULL) ||
	    !tv__der_get(&outer, TV__DER_SEQUENCE, &list, NULL) || outer.len || !list.len)
		return false;
	out->has_extensions = true;
	while (list.len) {
		struct tv__cert_ext *e = &out->ext[out->n_ext];

		if (out->n_ext == TV__CERT_MAX_EXTENSIONS || !S_extension(&list, e))
			return false;
		for (i = 0; i < out->n_ext; i++)
			if (tv__der_eq(&out->ext[i].oid, &e->oid))
				return false; /* RFC 5280 4.2: at most one of each */
		out->n_ext++;
	}
	return true;
}

static bool S_version(struct tv__der *cur, unsigned *version)
{
	struct tv__der outer, v;

	*version = 0;
	if (tv__der_peek(cur) != TV__DER_CTX0)
		return true; /* DEFAULT v1, left out */
	if (!tv__der_get(cur, TV__DER_CTX0, &outer, NULL) || !S_integer(&outer, &v) ||
	    outer.len || v.len != 1 || (v.p[0] != 1 && v.p[0] != 2))
		return false; /* an explicit v1 is not DER; v4+ doesn't exist */
	*version = v.p[0];
	return true;
}

static bool S_tbs(struct tv__der *cur, struct tv__cert_der *out)
{
	struct tv__der in, validity, spki, uid;

	if (!tv__der_get(cur, TV__DER_SEQUENCE, &in, &out->tbs) || !S_version(&in, &out->version) ||
	    !S_integer(&in, &out->serial) || !S_alg(&in, &out->tbs_sig_alg) ||
	    !S_name(&in, &out->issuer))
		return false;
	if (!tv__der_get(&in, TV__DER_SEQUENCE, &validity, NULL) ||
	    !S_time(&validity, &out->not_before, &out->not_before_der) ||
	    !S_time(&validity, &out->not_after, &out->not_after_der) || validity.len)
		return false;
	if (!S_name(&in, &out->subject) ||
	    !tv__der_get(&in, TV__DER_SEQUENCE, &spki, &out->spki) ||
	    !S_alg(&spki, &out->spki_alg) ||
	    !S_bits(&spki, TV__DER_BIT_STRING, &out->spki_key) || spki.len)
		return false;
	if (out->version >= 1 && tv__der_peek(&in) == (int)S_ISSUER_UID) {
		if (!tv__der_get(&in, S_ISSUER_UID, &uid, NULL) || uid.len == 0 || uid.p[0] > 7)
			return false;
		out->has_issuer_uid = true;
	}
	if (out->version >= 1 && tv__der_peek(&in) == (int)S_SUBJECT_UID) {
		if (!tv__der_get(&in, S_SUBJECT_UID, &uid, NULL) || uid.len == 0 || uid.p[0] > 7)
			return false;
		out->has_subject_uid = true;
	}
	if (out->version == 2 && in.len && !S_extensions(&in, out))
		return false;
	return in.len == 0;
}

bool tv__cert_der_parse(struct tv__cert_der *out, const unsigned char *der, size_t len)
{
	struct tv__der all = { der, len }, cert;

	memset(out, 0, sizeof(*out));
	if (!der || !tv__der_get(&all, TV__DER_SEQUENCE, &cert, &out->whole) || all.len)
		return false;
	return S_tbs(&cert, out) && S_alg(&cert, &out->sig_alg) &&
	       S_bits(&cert, TV__DER_BIT_STRING, &out->signature) && cert.len == 0;
}

const struct tv__cert_ext *tv__cert_der_ext(const struct tv__cert_der *cert,
					    const unsigned char *oid, size_t n)
{
	size_t i;

	for (i = 0; i < cert->n_ext; i++)
		if (tv__der_is(&cert->ext[i].oid, oid, n))
			return &cert->ext[i];
	return NULL;
}
