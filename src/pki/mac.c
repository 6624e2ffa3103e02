/*
 * DESIGN: see mac.h for the PBMAC1 policy. OpenSSL 3.0 can neither parse
 * nor verify PBMAC1, so its parameters are decoded with a small ASN.1
 * template of our own (PBMAC1-params ::= SEQUENCE { keyDerivationFunc
 * AlgorithmIdentifier, messageAuthScheme AlgorithmIdentifier }) and
 * PBKDF2PARAM; the MAC key comes from tv__kdf_pbkdf2 (pbe.c, which runs
 * the fast KDFs of kdf.c) and the MAC from EVP_MAC in the reader's library
 * context. The classic MAC goes the same way (tv__kdf_pkcs12, purpose id
 * 3) so both paths share the key handling: MAC key and computed
 * MAC live in secbufs and the comparison is sodium_memcmp.
 */
#include "pki/mac.h"

#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <sodium.h>

#include "pki/timing.h"

#define S_PBMAC1_MAX_KEY_LEN 64

typedef struct {
	X509_ALGOR *kdf;
	X509_ALGOR *scheme;
} TV_PBMAC1PARAM;

ASN1_SEQUENCE(TV_PBMAC1PARAM) = {
	ASN1_SIMPLE(TV_PBMAC1PARAM, kdf, X509_ALGOR),
	ASN1_SIMPLE(TV_PBMAC1PARAM, scheme, X509_ALGOR),
} static_ASN1_SEQUENCE_END(TV_PBMAC1PARAM)

static const char *S_classic_digest(const ASN1_OBJECT *obj)
{
	switch (OBJ_obj2nid(obj)) {
	case NID_sha1: return "SHA1";
	case NID_sha224: return "SHA224";
	case NID_sha256: return "SHA256";
	case NID_sha384: return "SHA384";
	case NID_sha512: return "SHA512";
	default: return NULL;
	}
}

static size_t S_digest_size(const char *md)
{
	if (!strcmp(md, "SHA1"))
		return 20;
	if (!strcmp(md, "SHA224"))
		return 28;
	if (!strcmp(md, "SHA256"))
		return 32;
	if (!strcmp(md, "SHA384"))
		return 48;
	return 64; /* SHA512: the only other digest the tables above give */
}

static enum tv_reason S_identify_classic(struct tv__mac *mac,
					 const X509_ALGOR *alg,
					 const ASN1_OCTET_STRING *salt,
					 const ASN1_INTEGER *iter,
					 uint64_t max_iter, char *msg,
					 size_t msz)
{
	char name[128];

	mac->hmac_md = mac->kdf_md = S_classic_digest(alg->algorithm);
	if (!mac->hmac_md)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"MAC digest %s is not supported",
				tv__oid_name(name, sizeof(name), alg->algorithm));
	if (!salt)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"MAC has no salt");
	mac->key_len = S_digest_size(mac->hmac_md);
	mac->salt = ASN1_STRING_get0_data(salt);
	mac->salt_len = (size_t)ASN1_STRING_length(salt);
	/* MacData.iterations DEFAULT 1 */
	return tv__iter_get(&mac->iter, iter, 1, max_iter, "MAC", msg, msz);
}

/* PBKDF2 half of PBMAC1: salt, count, PRF and the mandatory keyLength. */
static enum tv_reason S_pbmac1_kdf(struct tv__mac *mac, const X509_ALGOR *kf,
				   uint64_t max_iter, char *msg, size_t msz)
{
	char name[128];
	const PBKDF2PARAM *kp;
	uint64_t klen = 0;
	enum tv_reason rc;

	if (OBJ_obj2nid(kf->algorithm) != NID_id_pbkdf2)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"PBMAC1 key derivation %s is not supported (PBKDF2 only)",
				tv__oid_name(name, sizeof(name), kf->algorithm));
	kp = mac->kdf_param = ASN1_TYPE_unpack_sequence(
		ASN1_ITEM_rptr(PBKDF2PARAM), kf->parameter);
	if (!kp || !kp->salt || kp->salt->type != V_ASN1_OCTET_STRING)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"malformed PBMAC1 parameters: bad PBKDF2 parameters");
	mac->kdf_md = kp->prf ? tv__hmac_digest(kp->prf->algorithm) : "SHA1";
	if (!mac->kdf_md)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"PBMAC1 PBKDF2 PRF %s is not supported",
				tv__oid_name(name, sizeof(name), kp->prf->algorithm));
	rc = tv__iter_get(&mac->iter, kp->iter, 1, max_iter, "PBMAC1 PBKDF2",
			  msg, msz);
	if (rc)
		return rc;
	if (!kp->keylength)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"malformed PBMAC1 parameters: PBKDF2 keyLength is missing "
				"(RFC 9579 requires it)");
	if (ASN1_STRING_type(kp->keylength) == V_ASN1_NEG_INTEGER ||
	    !ASN1_INTEGER_get_uint64(&klen, kp->keylength) ||
	    klen > S_PBMAC1_MAX_KEY_LEN)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"malformed PBMAC1 parameters: PBKDF2 keyLength out of range "
				"(at most %d)", S_PBMAC1_MAX_KEY_LEN);
	mac->key_len = (size_t)klen;
	mac->salt = ASN1_STRING_get0_data(kp->salt->value.octet_string);
	mac->salt_len = (size_t)ASN1_STRING_length(kp->salt->value.octet_string);
	return TV_REASON_OK;
}

static enum tv_reason S_identify_pbmac1(struct tv__mac *mac,
					const X509_ALGOR *alg,
					uint64_t max_iter, char *msg,
					size_t msz)
{
	char name[128];
	const TV_PBMAC1PARAM *pp;
	enum tv_reason rc;
	size_t out_len;

	mac->pbmac1 = true;
	pp = mac->pbmac1_param = ASN1_TYPE_unpack_sequence(
		ASN1_ITEM_rptr(TV_PBMAC1PARAM), alg->parameter);
	if (!pp)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"malformed PBMAC1 parameters");
	mac->hmac_md = tv__hmac_digest(pp->scheme->algorithm);
	if (!mac->hmac_md)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"PBMAC1 message authentication scheme %s is not supported",
				tv__oid_name(name, sizeof(name), pp->scheme->algorithm));
	rc = S_pbmac1_kdf(mac, pp->kdf, max_iter, msg, msz);
	if (rc)
		return rc;
	out_len = S_digest_size(mac->hmac_md);
	if (mac->key_len < out_len)
		return tv__fail(msg, msz, TV_REASON_MAC_VERIFICATION_FAILED,
				"PBMAC1 key length %zu is shorter than the HMAC-%s output "
				"(%zu bytes); such a MAC is rejected",
				mac->key_len, mac->hmac_md, out_len);
	return TV_REASON_OK;
}

enum tv_reason tv__mac_identify(struct tv__mac *mac, const PKCS12 *p12,
				uint64_t max_iter, char *msg, size_t msz)
{
	const ASN1_OCTET_STRING *digest = NULL, *salt = NULL;
	const X509_ALGOR *alg = NULL;
	const ASN1_INTEGER *iter = NULL;
	enum tv_reason rc;

	memset(mac, 0, sizeof(*mac));
	PKCS12_get0_mac(&digest, &alg, &salt, &iter, p12);
	if (!digest)
		return TV_REASON_OK; /* no MacData */
	mac->present = true;
	if (!alg || !alg->algorithm)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"MAC has no algorithm");
	if (OBJ_obj2nid(alg->algorithm) == NID_pbmac1)
		rc = S_identify_pbmac1(mac, alg, max_iter, msg, msz);
	else
		rc = S_identify_classic(mac, alg, salt, iter, max_iter, msg, msz);
	if (rc)
		return rc;
	mac->expected = ASN1_STRING_get0_data(digest);
	mac->expected_len = (size_t)ASN1_STRING_length(digest);
	if (mac->expected_len != S_digest_size(mac->hmac_md))
		return tv__fail(msg, msz, TV_REASON_MAC_VERIFICATION_FAILED,
				"stored MAC has %zu bytes, HMAC-%s gives %zu",
				mac->expected_len, mac->hmac_md,
				S_digest_size(mac->hmac_md));
	return TV_REASON_OK;
}

void tv__mac_release(struct tv__mac *mac)
{
	ASN1_item_free(mac->pbmac1_param, ASN1_ITEM_rptr(TV_PBMAC1PARAM));
	PBKDF2PARAM_free(mac->kdf_param);
	memset(mac, 0, sizeof(*mac));
}

bool tv__mac_kdf_plan(struct tv__kdf_pre *pre, const struct tv__mac *mac)
{
	if (!mac->present)
		return true;
	if (mac->pbmac1)
		return tv__kdf_pre_add(pre, true, mac->kdf_md, mac->salt,
				       mac->salt_len, mac->iter, 0, mac->key_len);
	return tv__kdf_pre_add(pre, false, mac->kdf_md, mac->salt, mac->salt_len,
			       mac->iter, 3, mac->key_len);
}

static enum tv_reason S_hmac(unsigned char *out, size_t out_size,
			     size_t *out_len, struct tv_pki_ctx *ctx,
			     const char *md, const struct tv_secbuf *key,
			     const unsigned char *data, size_t len)
{
	EVP_MAC *hmac = tv__pki_hmac(ctx), *fetched = NULL;
	EVP_MAC_CTX *mctx = NULL;
	OSSL_PARAM params[2];
	enum tv_reason rc = TV_REASON_INTERNAL_ERROR;
	uint64_t t0 = tv__timing_begin(ctx);

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)md, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!hmac) /* the context's didn't fetch: try again, fail below */
		hmac = fetched = EVP_MAC_fetch(tv_pki_libctx(ctx), "HMAC", NULL);
	mctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	if (mctx && EVP_MAC_init(mctx, key->p, key->len, params) == 1 &&
	    EVP_MAC_update(mctx, data, len) == 1 &&
	    EVP_MAC_final(mctx, out, out_len, out_size) == 1)
		rc = TV_REASON_OK;
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(fetched);
	tv__timing_end(ctx, TV_PKI_PHASE_MAC, t0, 0);
	return rc;
}

enum tv_reason tv__mac_verify(const struct tv__mac *mac,
			      struct tv_pki_ctx *ctx,
			      const struct tv__pass *pw,
			      const unsigned char *data, size_t len,
			      char *msg, size_t msz)
{
	struct tv_secbuf *key = NULL, *computed = NULL;
	size_t computed_len = 0;
	enum tv_reason rc;

	if (tv_secbuf_new(&key, mac->key_len) ||
	    tv_secbuf_new(&computed, EVP_MAX_MD_SIZE)) {
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
			      "out of secure memory for the MAC");
		goto out;
	}
	if (mac->pbmac1)
		rc = tv__kdf_pbkdf2(key->p, key->len, ctx, mac->kdf_md, pw,
				    mac->salt, mac->salt_len, mac->iter, msg, msz);
	else
		rc = tv__kdf_pkcs12(key->p, key->len, ctx, mac->kdf_md, pw,
				    mac->salt, mac->salt_len, 3, mac->iter, msg,
				    msz);
	if (rc)
		goto out;
	rc = S_hmac(computed->p, computed->len, &computed_len, ctx,
		    mac->hmac_md, key, data, len);
	if (rc) {
		rc = tv__fail(msg, msz, rc, "HMAC-%s failed", mac->hmac_md);
		goto out;
	}
	if (computed_len != mac->expected_len ||
	    sodium_memcmp(computed->p, mac->expected, computed_len) != 0) {
		rc = tv__fail(msg, msz, TV_REASON_MAC_VERIFICATION_FAILED,
			      "%s MAC (HMAC-%s) does not verify: wrong password or "
			      "corrupted keystore",
			      mac->pbmac1 ? "PBMAC1" : "PKCS#12", mac->hmac_md);
		goto out;
	}
	rc = TV_REASON_OK;
out:
	tv_secbuf_free(key);
	tv_secbuf_free(computed);
	return rc;
}
