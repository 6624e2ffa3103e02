/*
 * keygen.h - integration-test keystores made in process with OpenSSL: a CA
 * and P-256 leaf keystores it issues, fast enough to make a thousand (the
 * openssl command line takes tens of milliseconds per file).
 */
#ifndef TV_TESTS_KEYGEN_H
#define TV_TESTS_KEYGEN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

struct tvh_ca {
	EVP_PKEY *key;
	X509 *cert;
	char pem[4096]; /* the certificate, for /v1/trustedcacertificates */
};

/** A self-signed P-256 CA named cn. */
void tvh_ca_new(struct tvh_ca *ca, const char *cn);
void tvh_ca_free(struct tvh_ca *ca);

/**
 * A PKCS#12 keystore (DER, malloc'd, *len bytes) holding a new P-256 key and
 * its certificate for cn issued by ca, under password pw (OpenSSL 3's
 * algorithms: AES-256-CBC, PBKDF2, HMAC-SHA-256; 100 iterations). fp (may be NULL) gets the
 * certificate's SHA-1 fingerprint, 40 upper-case hex digits.
 */
unsigned char *tvh_leaf_p12(const struct tvh_ca *ca, const char *cn, const char *pw,
			    size_t *len, char fp[41]);

#endif
