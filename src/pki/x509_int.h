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

#endif
