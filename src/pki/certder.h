/*
 * certder.h - an X.509 certificate's fields read straight from its DER,
 * without OpenSSL's decoder (internal to src/pki).
 *
 * DESIGN: OpenSSL 3.0's d2i_X509 decodes the SubjectPublicKeyInfo through
 * its provider decoders, building a decoder chain per certificate: most of
 * the cost of decoding a leaf on the import path, which needs none of it
 * to compute the certificate's facts or to pair it with its key. This
 * reads the Certificate of RFC 5280 section 4.1 into spans of the caller's
 * bytes: the signed TBSCertificate, version, serial, both signature
 * algorithms, issuer and subject Names, validity, the SubjectPublicKeyInfo,
 * the extensions and the signature.
 *
 * Strict DER, like der.h: minimal lengths, single-octet tags, a version
 * [0] only for v2/v3, BOOLEAN TRUE only as ff and never a critical FALSE,
 * minimal INTEGERs, RDN sets in DER order, UTCTime/GeneralizedTime in
 * their Z forms with valid dates, unused bits 0 in key and signature, no
 * repeated extension, nothing after the certificate. A refusal means "not
 * the plain form": callers fall back to OpenSSL for anything refused, so
 * being strict costs time, never correctness.
 *
 * Bounded: nothing is allocated; at most TV__CERT_MAX_EXTENSIONS extensions
 * (more: refused); work is linear in the input (the repeat check is
 * quadratic in that fixed bound). Pure; thread-safe.
 */
#ifndef TV_PKI_CERTDER_H
#define TV_PKI_CERTDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pki/der.h"

#define TV__CERT_MAX_EXTENSIONS 24

struct tv__cert_ext {
	struct tv__der oid;   /* the extnID's contents */
	bool critical;
	struct tv__der value; /* the extnValue OCTET STRING's contents */
	struct tv__der whole; /* the Extension SEQUENCE, tag to end */
};

/* Spans into the parsed DER; "whole" spans run from tag to end. */
struct tv__cert_der {
	struct tv__der whole;       /* the Certificate */
	struct tv__der tbs;         /* TBSCertificate, whole: the signed bytes */
	unsigned version;           /* 0 = v1, 1 = v2, 2 = v3 */
	struct tv__der serial;      /* INTEGER contents as encoded (two's complement) */
	struct tv__der tbs_sig_alg; /* AlgorithmIdentifier inside the TBS, whole */
	struct tv__der issuer;      /* Name, whole */
	struct tv__der subject;     /* Name, whole */
	int64_t not_before;         /* seconds since the epoch, UTC */
	int64_t not_after;
	struct tv__der not_before_der, not_after_der; /* the Time elements, whole */
	struct tv__der spki;        /* SubjectPublicKeyInfo, whole */
	struct tv__der spki_alg;    /* its AlgorithmIdentifier, whole */
	struct tv__der spki_key;    /* its BIT STRING's bits (unused bits 0) */
	bool has_issuer_uid, has_subject_uid;
	bool has_extensions;        /* the [3] element was present */
	size_t n_ext;
	struct tv__cert_ext ext[TV__CERT_MAX_EXTENSIONS];
	struct tv__der sig_alg;     /* the outer AlgorithmIdentifier, whole */
	struct tv__der signature;   /* the signature BIT STRING's bits (unused bits 0) */
};

/*
 * Parse der[0..len), which must be exactly one Certificate. True with *out
 * filled; false when the bytes are not the strict form above (*out then
 * holds nothing to use).
 */
bool tv__cert_der_parse(struct tv__cert_der *out, const unsigned char *der, size_t len);

/* The extension of cert whose extnID contents are oid[0..n), or NULL. */
const struct tv__cert_ext *tv__cert_der_ext(const struct tv__cert_der *cert,
					    const unsigned char *oid, size_t n);

/* Whether oid[0..n) is a well-formed OBJECT IDENTIFIER's contents (non-empty,
 * minimal subidentifiers, the last one ended). */
bool tv__der_oid_valid(const unsigned char *oid, size_t n);

#endif
