/*
 * DESIGN: see pkcs8.h. The two forms differ only in how the PrivateKeyInfo
 * is obtained; both end in S_finish(), which decodes the key, pairs it with
 * the caller's certificates and applies the key-type policy, exactly as the
 * PKCS#12 reader does for each of its keys. Decryption reuses pbe.c, so the
 * algorithms accepted and the iteration cap are the same as in PKCS#12.
 */
#include "pki/pkcs8.h"

#include <limits.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "pki/pbe.h"
#include "pki/x509.h"

static enum tv_reason S_certs(STACK_OF(X509) **certs, struct tv_pki_ctx *ctx,
			      const unsigned char *cert, size_t cert_len,
			      const struct tv_p12_limits *lim, char *msg, size_t msz)
{
	enum tv_reason rc;
	int i;

	if (!cert || cert_len == 0)
		return tv__fail(msg, msz, TV_REASON_NO_CERTIFICATE,
				"no certificate was given with the private key");
	rc = tv_pki_certs_parse(certs, ctx, cert, cert_len, msg, msz);
	for (i = 0; !rc && i < sk_X509_num(*certs); i++)
		rc = tv__cert_sans_check(sk_X509_value(*certs, i), lim->max_sans, msg, msz);
	return rc;
}

/* Key + caller's certificates -> contents with one pair. */
static enum tv_reason S_finish(struct tv_p12_contents **out,
			       struct tv_pki_ctx *ctx,
			       const PKCS8_PRIV_KEY_INFO *p8,
			       STACK_OF(X509) *certs,
			       const struct tv_p12_limits *lim, char *msg, size_t msz)
{
	struct tv_p12_contents *c = NULL;
	EVP_PKEY *key = NULL;
	char subject[128];
	enum tv_reason rc;
	int i;

	rc = tv__key_from_p8(&key, ctx, p8, lim->max_key_bits, msg, msz);
	if (rc)
		goto out;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (tv_pki_key_matches_cert(key, sk_X509_value(certs, i)))
			break;
	if (i == sk_X509_num(certs)) {
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(certs, 0)),
				  subject, (int)sizeof(subject));
		rc = tv__fail(msg, msz, TV_REASON_KEY_CERTIFICATE_MISMATCH,
			      "private key is not the key of certificate \"%.100s\"%s",
			      subject, sk_X509_num(certs) > 1 ?
			      " nor of the others given" : "");
		goto out;
	}
	rc = tv__contents_new(&c, ctx, 1, msg, msz);
	if (rc)
		goto out;
	c->pairs[0].decoded_cert = sk_X509_delete(certs, i);
	c->pairs[0].decoded_key = key;
	key = NULL;
	if (tv_cert_der(&c->pairs[0].cert_der, &c->pairs[0].cert_der_len,
			c->pairs[0].decoded_cert) != TV_OK) {
		c->pairs[0].cert_der = NULL;
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR, "out of memory");
		goto out;
	}
	rc = tv_pki_key_check(c->pairs[0].decoded_key, lim->max_key_bits, msg, msz);
	if (rc)
		goto out;
	/* what the importer seals: OpenSSL's encoding of the key */
	if (tv_pki_key_to_pkcs8(&c->pairs[0].pkcs8, c->pairs[0].decoded_key) != TV_OK) {
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
			      "out of memory encoding the private key");
		goto out;
	}
	while (sk_X509_num(certs) > 0) {
		if (!sk_X509_push(c->chain_candidates, sk_X509_value(certs, 0))) {
			rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				      "out of memory");
			goto out;
		}
		(void)sk_X509_shift(certs);
	}
	*out = c;
	c = NULL;
out:
	EVP_PKEY_free(key);
	tv_p12_contents_free(c);
	return rc;
}

/*
 * The PEM's EncryptedPrivateKeyInfo. Read with PEM_FLAG_SECURE, so that
 * OpenSSL cleanses its line buffers and the decoded bytes: the block may be
 * a plain "PRIVATE KEY" sent in the encrypted field, and its decoding is
 * then the key itself (PEM_read_bio frees those copies unwiped).
 */
static enum tv_reason S_pem_sig(X509_SIG **sig, const char *pem,
				size_t pem_len, char *msg, size_t msz)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const unsigned char *p;
	long len = 0;
	enum tv_reason rc = TV_REASON_OK;

	if (!bio)
		return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				"out of memory");
	if (!PEM_read_bio_ex(bio, &name, &header, &data, &len,
			     PEM_FLAG_EAY_COMPATIBLE | PEM_FLAG_SECURE)) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "not a PEM \"ENCRYPTED PRIVATE KEY\"");
	} else if (strcmp(name, PEM_STRING_PKCS8) != 0) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "PEM block \"%.40s\" is not an ENCRYPTED PRIVATE KEY",
			      name);
	} else {
		p = data;
		*sig = d2i_X509_SIG(NULL, &p, len);
		if (!*sig || p != data + len)
			rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				      "ENCRYPTED PRIVATE KEY is not valid DER "
				      "EncryptedPrivateKeyInfo");
	}
	OPENSSL_secure_free(name);
	OPENSSL_secure_free(header);
	if (data)
		OPENSSL_secure_clear_free(data, (size_t)len);
	BIO_free(bio);
	return rc;
}

/* Decrypt with each candidate password until one gives a PrivateKeyInfo. */
static enum tv_reason S_decrypt_p8(PKCS8_PRIV_KEY_INFO **p8,
				   struct tv_pki_ctx *ctx,
				   const struct tv__pbe *pbe,
				   const struct tv__pass_list *pws,
				   const ASN1_OCTET_STRING *ct, char *msg,
				   size_t msz)
{
	struct tv_secbuf *plain = NULL;
	const unsigned char *p;
	enum tv_reason rc = TV_REASON_DECRYPTION_FAILED;
	size_t i;

	for (i = 0; i < pws->count; i++) {
		rc = tv__pbe_decrypt(&plain, ctx, pbe, &pws->pass[i],
				     ASN1_STRING_get0_data(ct),
				     (size_t)ASN1_STRING_length(ct),
				     "encrypted private key", msg, msz);
		if (rc == TV_REASON_OK) {
			p = plain->p;
			*p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)plain->len);
			if (!*p8 || p != plain->p + plain->len) {
				PKCS8_PRIV_KEY_INFO_free(*p8);
				*p8 = NULL;
				rc = tv__fail(msg, msz, TV_REASON_DECRYPTION_FAILED,
					      "encrypted private key decrypted to garbage "
					      "(wrong password or corrupted data)");
			}
		}
		tv_secbuf_free(plain);
		plain = NULL;
		if (rc != TV_REASON_DECRYPTION_FAILED)
			break;
	}
	return rc;
}

static enum tv_reason S_read_encrypted(struct tv_p12_contents **out,
				       struct tv_pki_ctx *ctx, const char *pem,
				       size_t pem_len, const char *password,
				       size_t password_len,
				       const unsigned char *cert,
				       size_t cert_len,
				       const struct tv_p12_limits *lim,
				       char *msg, size_t msz)
{
	STACK_OF(X509) *certs = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const X509_ALGOR *alg = NULL;
	const ASN1_OCTET_STRING *ct = NULL;
	struct tv__pass_list pws;
	struct tv__pbe pbe;
	X509_SIG *sig = NULL;
	enum tv_reason rc;

	memset(&pws, 0, sizeof(pws));
	memset(&pbe, 0, sizeof(pbe));
	rc = S_pem_sig(&sig, pem, pem_len, msg, msz);
	if (rc)
		goto out;
	rc = S_certs(&certs, ctx, cert, cert_len, lim, msg, msz);
	if (rc)
		goto out;
	X509_SIG_get0(sig, &alg, &ct);
	rc = tv__pbe_identify(&pbe, alg, lim->max_iterations,
			      "encrypted private key", msg, msz);
	if (rc)
		goto out;
	rc = tv__pass_list_init(&pws, password, password_len, msg, msz);
	if (rc)
		goto out;
	rc = S_decrypt_p8(&p8, ctx, &pbe, &pws, ct, msg, msz);
	if (rc)
		goto out;
	rc = S_finish(out, ctx, p8, certs, lim, msg, msz);
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	sk_X509_pop_free(certs, X509_free);
	X509_SIG_free(sig);
	tv__pbe_release(&pbe);
	tv__pass_list_release(&pws);
	return rc;
}

enum tv_reason tv_pkcs8_read_encrypted_pem(struct tv_p12_contents **out,
					   struct tv_pki_ctx *ctx,
					   const char *pem, size_t pem_len,
					   const char *password,
					   size_t password_len,
					   const unsigned char *cert,
					   size_t cert_len,
					   const struct tv_p12_limits *limits,
					   char *msg, size_t msg_size)
{
	struct tv_p12_limits lim;
	enum tv_reason rc;

	rc = tv__input_check(&lim, limits, out, ctx, pem, pem_len, INT_MAX, "encrypted key", msg,
			     msg_size);
	if (rc)
		return rc;
	ERR_set_mark();
	rc = S_read_encrypted(out, ctx, pem, pem_len, password, password_len,
			      cert, cert_len, &lim, msg, msg_size);
	ERR_pop_to_mark();
	if (!rc && msg && msg_size)
		msg[0] = '\0';
	return rc;
}

static enum tv_reason S_read_der(struct tv_p12_contents **out,
				 struct tv_pki_ctx *ctx,
				 const unsigned char *der, size_t der_len,
				 const unsigned char *cert, size_t cert_len,
				 const struct tv_p12_limits *lim,
				 char *msg, size_t msz)
{
	STACK_OF(X509) *certs = NULL;
	PKCS8_PRIV_KEY_INFO *p8;
	const unsigned char *p = der;
	enum tv_reason rc;

	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der_len);
	if (!p8 || p != der + der_len) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "private key is not a DER PKCS#8 PrivateKeyInfo");
		goto out;
	}
	rc = S_certs(&certs, ctx, cert, cert_len, lim, msg, msz);
	if (rc)
		goto out;
	rc = S_finish(out, ctx, p8, certs, lim, msg, msz);
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

enum tv_reason tv_pkcs8_read_der(struct tv_p12_contents **out,
				 struct tv_pki_ctx *ctx,
				 const unsigned char *der, size_t der_len,
				 const unsigned char *cert, size_t cert_len,
				 const struct tv_p12_limits *limits,
				 char *msg, size_t msg_size)
{
	struct tv_p12_limits lim;
	enum tv_reason rc;

	rc = tv__input_check(&lim, limits, out, ctx, der, der_len, LONG_MAX, "private key", msg,
			     msg_size);
	if (rc)
		return rc;
	ERR_set_mark();
	rc = S_read_der(out, ctx, der, der_len, cert, cert_len, &lim, msg, msg_size);
	ERR_pop_to_mark();
	if (!rc && msg && msg_size)
		msg[0] = '\0';
	return rc;
}
