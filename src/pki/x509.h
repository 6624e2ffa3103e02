/*
 * x509.h - what tlsvault shows about a certificate, and how it reads the
 * certificates people paste.
 *
 * tv_cert_facts_get() turns an X509 into the plain fields of the API's
 * Certificate and TrustedCA objects (fingerprint, DNs, CNs, SANs by type,
 * serial, dates, key and signature algorithm, key identifiers, CA-ness).
 * tv_certs_parse() reads the trusted-CA upload forms: PEM, a PEM bundle,
 * bare base64 of DER, or raw DER.
 *
 * Everything here is pure (bytes in, bytes out, no global state) and
 * thread-safe: any number of threads may call any function at once, also on
 * the same X509 (OpenSSL 3 locks its per-certificate caches). Objects are
 * decoded in OpenSSL's default library context; certificates made in
 * another one (tv_pki_ctx's) are accepted as input.
 */
#ifndef TV_PKI_X509_H
#define TV_PKI_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "core/err.h"

/** Upload caps of tv_certs_parse(): the input size (the count is an argument). */
#define TV_CERTS_MAX_INPUT (4u * 1024u * 1024u)

/** Room for a serial number: a sign, 21 octets in hex, the NUL. */
#define TV_CERT_SERIAL_SIZE (2 * 20 + 3)

/**
 * The facts of one certificate. Caller-owned storage: fill it with
 * tv_cert_facts_get(), empty it with tv_cert_facts_release(). Every string
 * is NUL-terminated UTF-8 (strings the certificate holds as IA5String must
 * be printable ASCII, or tv_cert_facts_get() refuses the certificate).
 */
struct tv_cert_facts {
	char fingerprint[41]; /* SHA-1 of the DER, 40 upper-case hex digits */
	char *subject_dn;     /* RFC 2253 order and escaping, UTF-8 unescaped */
	char *issuer_dn;      /* same format */
	char **subject_cn;    /* every CN, in the order of subject_dn */
	size_t n_subject_cn;
	char **san_dns; /* dNSName */
	size_t n_san_dns;
	char **san_ip; /* iPAddress: dotted IPv4, RFC 5952 IPv6 */
	size_t n_san_ip;
	char **san_email; /* rfc822Name */
	size_t n_san_email;
	char **san_uri; /* uniformResourceIdentifier */
	size_t n_san_uri;
	/* subject_cn[0], else the first SAN of the four types, else subject_dn */
	char *certificate_name;
	/* upper-case hex of the INTEGER's magnitude, two digits an octet, no
	 * sign octet; "-" first when negative; "00" for zero (as openssl
	 * x509 -serial prints it) */
	char serial[TV_CERT_SERIAL_SIZE];
	int64_t validity_start_ms; /* notBefore, ms since the epoch, UTC */
	int64_t validity_end_ms;   /* notAfter */
	/* RSA modulus bits; EC curve bits (256/384/521); Ed25519 256; else the
	 * bits OpenSSL reports; 0 when the key doesn't decode */
	int key_strength;
	char encryption_type[8]; /* "RSA" (also RSA-PSS keys), "EC", "ED25519", "" */
	char key_curve[8];       /* "P256", "P384", "P521" for EC, else "" */
	/* "SHA256_WITH_RSA_ENCRYPTION", "SHA384_WITH_ECDSA", "ED25519",
	 * "RSASSA_PSS", ...; else OpenSSL's short name upper-cased with '-' as
	 * '_', or the dotted OID when OpenSSL doesn't know it */
	char signature_algorithm[64];
	char ski_hash[65]; /* upper hex of the SKI; "" if absent or over 32 octets */
	char aki_hash[65]; /* upper hex of the AKI keyIdentifier; same rule */
	bool is_ca;        /* basicConstraints cA=TRUE */
	bool self_signed;  /* self_issued and its own key verifies its signature */
	bool self_issued;  /* subject == issuer (X509_NAME_cmp) */
};

/**
 * Fill *out with the facts of cert (borrowed, not modified). On success the
 * strings in *out are malloc'd and owned by *out (tv_cert_facts_release);
 * on failure *out is zeroed and holds nothing.
 * Errors: TV_ERR_INVALID when cert is NULL, a name doesn't print, an
 * extension (SAN, basicConstraints) is malformed or repeated, a string has
 * an embedded NUL, an IA5String isn't printable ASCII, an iPAddress isn't
 * 4 or 16 octets, the serial doesn't fit (over 21 octets, over 20 when
 * negative), or a date doesn't decode;
 * TV_ERR_NOMEM; TV_ERR_CRYPTO when the fingerprint can't be computed.
 * Thread-safe.
 */
enum tv_err tv_cert_facts_get(struct tv_cert_facts *out, X509 *cert) TV_WUR;

/**
 * The same facts for the certificate der[0..len), taken from its DER
 * without d2i_X509 where that gives exactly what tv_cert_facts_get() gives
 * for the decoded certificate (the Certificate document's fields: the key
 * identifiers ski_hash and aki_hash are left ""). True with *out filled
 * (owned by *out); false, *out zeroed, when it can't tell (an uncommon
 * form, or a certificate tv_cert_facts_get() might refuse): then decode
 * the certificate and ask tv_cert_facts_get(), whose answer is the
 * reference. Thread-safe.
 */
bool tv_cert_facts_from_der(struct tv_cert_facts *out, const unsigned char *der, size_t len);

/** Free what *f owns and zero it. NULL, or an already zeroed f, is a no-op. */
void tv_cert_facts_release(struct tv_cert_facts *f);

/**
 * The API's certificateType: "ROOT_CA" (CA and self-signed),
 * "SELF_ISSUED_CA" (CA, subject == issuer, not self-signed), "CA", or
 * "END_ENTITY" (not a CA, self-signed leaves included). A static string.
 */
const char *tv_cert_type(const struct tv_cert_facts *f);

/**
 * Parse what a person uploads as trusted certificates: one PEM
 * certificate, a PEM bundle (several CERTIFICATE blocks, any text around
 * and between them), bare base64 of one DER certificate (whitespace and
 * line breaks allowed, standard or URL-safe alphabet, padding optional), or
 * raw DER of one certificate (no trailing bytes).
 * On success *out is a new non-empty stack, in input order, owned by the
 * caller (sk_X509_pop_free(*out, X509_free)); on failure *out is untouched.
 * Errors: TV_ERR_TOO_LARGE when len > TV_CERTS_MAX_INPUT or there are more
 * than max_certs certificates; TV_ERR_INVALID when the input is empty, a
 * PEM block isn't a certificate (another type, truncated, bad base64, not
 * X.509), or the whole isn't one of the forms; no partial result.
 * TV_ERR_NOMEM. Thread-safe.
 */
enum tv_err tv_certs_parse(STACK_OF(X509) **out, const unsigned char *input, size_t len,
			   size_t max_certs) TV_WUR;

/**
 * The number of names in cert's subjectAltName extensions (all of them, if
 * the certificate repeats the extension), counted by walking the DER
 * headers, without decoding a name: cheap on a certificate with 100,000
 * names, so a cap can be checked before any work on them. 0 without the
 * extension. Errors: TV_ERR_INVALID when cert is NULL or an extension isn't
 * a DER SEQUENCE of complete elements. Thread-safe.
 */
enum tv_err tv_cert_san_count(size_t *out, const X509 *cert) TV_WUR;

/**
 * DER of cert into a new malloc'd buffer (*out, *out_len), owned by the
 * caller (free()). Errors: TV_ERR_INVALID (NULL or unencodable cert),
 * TV_ERR_NOMEM. Thread-safe.
 */
enum tv_err tv_cert_der(unsigned char **out, size_t *out_len, X509 *cert) TV_WUR;

/**
 * PEM text of cert ("-----BEGIN CERTIFICATE-----", 64-column base64, a final
 * newline) into a new malloc'd NUL-terminated string owned by the caller
 * (free()). Errors: TV_ERR_INVALID, TV_ERR_NOMEM. Thread-safe.
 */
enum tv_err tv_cert_pem(char **out, X509 *cert) TV_WUR;

/*
 * Internal to src/pki (chain.c): the pieces of tv_cert_facts_get() that a
 * verifier needs without building all the facts. Thread-safe.
 */

/* basicConstraints cA=TRUE; false when absent or malformed. */
bool tv__cert_is_ca(X509 *cert);

/* subject == issuer and the certificate's own key verifies its signature. */
bool tv__cert_self_signed(X509 *cert);

/* name in the subject_dn format, into a new malloc'd string *out. */
enum tv_err tv__name_rfc2253(char **out, const X509_NAME *name) TV_WUR;

#endif
