/*
 * fuzz_codec.c - base64 and PEM decoding.
 *
 * Input: byte 0 picks the mode, the rest is the data.
 *  0: base64 decode; whatever decodes re-encodes (standard and URL-safe) and
 *     decodes back to the same bytes.
 *  1: base64 encode (both alphabets) and decode back: the same bytes.
 *  2: an encrypted PKCS#8 PEM (tv_pkcs8_read_encrypted_pem) with password
 *     "fuzz" and a fixed certificate: any result, never a crash; a success
 *     means the key is the certificate's.
 *  3: a plain PKCS#8 DER (tv_pkcs8_read_der) with the same certificate.
 */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "core/b64.h"
#include "core/secmem.h"
#include "fuzz.h"
#include "pki/pkcs8.h"

static struct tv_pki_ctx *S_ctx;
static unsigned char *S_cert_der;
static int S_cert_len;

static void S_cleanup(void)
{
	tv_pki_ctx_free(S_ctx);
	OPENSSL_free(S_cert_der);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *key;
	X509 *cert = X509_new();

	(void)argc;
	(void)argv;
	if (tv_secmem_init() || tv_pki_ctx_new(&S_ctx) || !cert)
		abort();
	/* a P-256 key and a self-signed certificate for it: the reads pair
	 * their key against this */
	key = EVP_EC_gen("P-256");
	if (!key || !X509_set_version(cert, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
					(const unsigned char *)"fuzz", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(cert)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 86400) || !X509_set_pubkey(cert, key) ||
	    !X509_sign(cert, key, EVP_sha256()))
		abort();
	S_cert_len = i2d_X509(cert, &S_cert_der);
	if (S_cert_len <= 0)
		abort();
	X509_free(cert);
	EVP_PKEY_free(key);
	atexit(S_cleanup);
	return 0;
}

static void S_b64_roundtrip(const unsigned char *src, size_t len)
{
	unsigned char *back = NULL;
	size_t back_len = 0;
	char *enc = NULL;
	int url;

	for (url = 0; url < 2; url++) {
		FZ_CHECK(tv_b64_encode(&enc, src, len, url) == TV_OK, "encoding failed");
		FZ_CHECK(strlen(enc) == TV_B64_ENCODED_LEN(len), "an encoding of the wrong length");
		FZ_CHECK(tv_b64_decode(&back, &back_len, enc, strlen(enc), len) == TV_OK,
			 "our own encoding does not decode");
		FZ_CHECK(back_len == len && (!len || !memcmp(back, src, len)),
			 "base64 round trip differs");
		free(back);
		free(enc);
		back = NULL;
		enc = NULL;
	}
}

static void S_pkcs8(int mode, const uint8_t *data, size_t size)
{
	static const struct tv_p12_limits limits = { .max_iterations = 20000 };
	struct tv_p12_contents *out = NULL;
	char msg[TV_REASON_MSG_SIZE];
	enum tv_reason why;

	if (mode == 2)
		why = tv_pkcs8_read_encrypted_pem(&out, S_ctx, (const char *)data, size, "fuzz", 4,
						  S_cert_der, (size_t)S_cert_len, &limits, msg,
						  sizeof(msg));
	else
		why = tv_pkcs8_read_der(&out, S_ctx, data, size, S_cert_der, (size_t)S_cert_len,
					&limits, msg, sizeof(msg));
	FZ_CHECK((why == TV_REASON_OK) == (out != NULL), "result and contents disagree");
	FZ_CHECK(why == TV_REASON_OK || msg[0], "a failure without a message");
	if (out)
		FZ_CHECK(out->pair_count == 1 &&
				 X509_check_private_key(tv_p12_pair_cert(out, 0), tv_p12_pair_key(out, 0)) == 1,
			 "a key that is not the certificate's");
	tv_p12_contents_free(out);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *dec = NULL;
	size_t dec_len = 0;
	int mode;

	if (size < 1)
		return 0;
	mode = data[0] % 4;
	data++;
	size--;
	switch (mode) {
	case 0:
		if (tv_b64_decode(&dec, &dec_len, (const char *)data, size, size) == TV_OK) {
			FZ_CHECK(dec_len <= TV_B64_DECODED_MAX(size), "decoded more than the bound");
			S_b64_roundtrip(dec, dec_len);
			free(dec);
		}
		break;
	case 1:
		S_b64_roundtrip(data, size);
		break;
	default:
		S_pkcs8(mode, data, size);
		break;
	}
	return 0;
}
