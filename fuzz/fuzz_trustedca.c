/*
 * fuzz_trustedca.c - the trusted-CA upload parser (PEM, bundles, base64 DER,
 * raw DER) and the facts computed for every certificate it returns.
 *
 * Properties: a success is a non-empty stack of at most the asked count;
 * every certificate's facts document is JSON with a 40-digit fingerprint;
 * and its DER parses back to the same certificate.
 */
#include <ctype.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "core/secmem.h"
#include "fuzz.h"
#include "pki/x509.h"
#include "svc/certinfo.h"

#define S_MAX_CERTS 200

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (tv_secmem_init())
		abort();
	return 0;
}

static void S_check_cert(X509 *cert)
{
	STACK_OF(X509) *again = NULL;
	struct tv_certinfo info;
	json_t *facts;
	size_t i;

	if (tv_certinfo_init(&info, cert, true))
		return; /* an unencodable certificate is refused upstream */
	FZ_CHECK(strlen(info.facts.fingerprint) == 40, "a fingerprint of the wrong length");
	for (i = 0; i < 40; i++)
		FZ_CHECK(isxdigit((unsigned char)info.facts.fingerprint[i]) &&
				 !islower((unsigned char)info.facts.fingerprint[i]),
			 "a fingerprint that is not upper-case hex");
	facts = json_loads(info.facts_json, 0, NULL);
	FZ_CHECK(facts != NULL, "a facts document that is not JSON");
	json_decref(facts);
	FZ_CHECK(tv_certs_parse(&again, info.der, info.der_len, 1) == TV_OK,
		 "a certificate's own DER does not parse back");
	FZ_CHECK(X509_cmp(sk_X509_value(again, 0), cert) == 0, "DER round trip differs");
	sk_X509_pop_free(again, X509_free);
	tv_certinfo_release(&info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;
	size_t max = size ? (size_t)(data[0] % 8) + 1 : 1;
	enum tv_err rc;
	int i;

	/* the first byte caps the count (1..8) on short inputs, to reach the
	 * TOO_LARGE path; the whole input is the upload */
	rc = tv_certs_parse(&certs, data, size, size > 4096 ? S_MAX_CERTS : max);
	if (rc == TV_OK) {
		FZ_CHECK(certs && sk_X509_num(certs) >= 1, "a success without certificates");
		for (i = 0; i < sk_X509_num(certs); i++)
			S_check_cert(sk_X509_value(certs, i));
		sk_X509_pop_free(certs, X509_free);
	} else {
		FZ_CHECK(certs == NULL, "a failure that returned certificates");
		FZ_CHECK(rc == TV_ERR_INVALID || rc == TV_ERR_TOO_LARGE || rc == TV_ERR_NOMEM,
			 "an unexpected error");
	}
	ERR_clear_error();
	return 0;
}
