/*
 * x509_int.h - the pieces of tv_cert_facts_get() (x509.c) that the facts
 * from DER (certfacts.c) share with it, so that both paths format every
 * field with the same code. Internal to src/pki. Thread-safe.
 */
#ifndef TV_PKI_X509_INT_H
#define TV_PKI_X509_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/der.h"
#include "pki/x509.h"

/* Every CN of name, in RFC 2253 order, appended to f->subject_cn. */
enum tv_err tv__facts_subject_cns(struct tv_cert_facts *f, const X509_NAME *name) TV_WUR;

/* One GeneralName into its list of f (other types ignored); *first gets the
 * first string kept. TV_ERR_INVALID: not printable ASCII, a NUL, an odd
 * iPAddress length. */
enum tv_err tv__facts_san_add(struct tv_cert_facts *f, const GENERAL_NAME *gen,
			      const char **first) TV_WUR;

/* f->certificate_name from the facts already filled and the first SAN. */
enum tv_err tv__facts_certificate_name(struct tv_cert_facts *f, const char *first_san) TV_WUR;

/* The serial text from an INTEGER's magnitude p[0..len) and its sign. */
enum tv_err tv__facts_serial(char out[TV_CERT_SERIAL_SIZE], const unsigned char *p, int len,
			     bool negative) TV_WUR;

/* The API's name of the signature algorithm obj (NULL: ""). */
void tv__facts_sig_alg(char out[64], const ASN1_OBJECT *obj);

/* Upper-case hex of a key identifier; "" when absent or over 32 octets. */
void tv__facts_keyid_hex(char out[65], const ASN1_OCTET_STRING *id);

/*
 * The facts of the certificate der[0..len), computed from its DER (pki/
 * certder.h) without d2i_X509, for the shapes where that gives exactly what
 * tv_cert_facts_get() gives for the decoded certificate, except the key
 * identifiers (ski_hash and aki_hash are left "": the TrustedCA document,
 * which shows them, takes the X509 path): strict DER, a
 * non-negative serial, an RSA (rsaEncryption, NULL parameters) or Ed25519
 * key, not self-issued. True with *out filled (owned by *out, as from
 * tv_cert_facts_get); false, *out zeroed, for anything else, refusals
 * included: the caller then asks tv_cert_facts_get(), whose answer (and
 * error) is the reference. Thread-safe.
 */
bool tv__cert_facts_from_der(struct tv_cert_facts *out, const unsigned char *der, size_t len);

struct tv__cert_der;

/* Whether OpenSSL's decoder surely accepts c's SubjectPublicKeyInfo (the
 * shapes certfacts reads: RSA with NULL parameters, Ed25519, EC on P-256/
 * 384/521 by name with an uncompressed point on the curve). False: maybe
 * not (the caller asks OpenSSL). */
bool tv__cert_der_key_decodes(const struct tv__cert_der *c);

/*
 * What the PKCS#12 reader needs of a certificate it leaves undecoded: the
 * SubjectPublicKeyInfo's spans (into the caller's DER), whether its key
 * surely decodes (tv__cert_der_key_decodes) and how many subjectAltNames
 * it has (counted as tv_cert_san_count counts them).
 */
struct tv__cert_glance {
	struct tv__der spki_alg; /* AlgorithmIdentifier, whole */
	struct tv__der spki_key; /* the BIT STRING's bits */
	bool key_decodes;
	size_t n_sans;
};

/*
 * True, with *g filled, when der[0..len) is exactly one certificate that
 * d2i_X509 surely decodes to the same bytes: the strict form of
 * pki/certder.h (every part d2i_X509 decodes below the Certificate is
 * there checked at least as strictly: minimal INTEGERs, AlgorithmIdentifier
 * parameters absent, NULL, an OID or a SEQUENCE, the times, the BIT
 * STRINGs, the extensions' outer form), both Names decoding with
 * d2i_X509_NAME (which d2i_X509 uses for them, canonical form included),
 * and a subjectAltName extension, if any, whose SEQUENCE counts. False:
 * maybe not; the caller decodes with OpenSSL. Thread-safe.
 */
bool tv__cert_glance(struct tv__cert_glance *g, const unsigned char *der, size_t len);

/* The elements of the DER SEQUENCE p[0..len), by their headers, as
 * tv_cert_san_count counts a subjectAltName; -1 if malformed. */
long tv__der_seq_count(const unsigned char *p, long len);

#endif
