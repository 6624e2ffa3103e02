/*
 * DESIGN: see pbe.h. Two rules shape this file.
 *
 * 1. Identify before running. tv__pbe_identify() decodes the parameters
 *    with OpenSSL's ASN.1 types (PBEPARAM, PBE2PARAM, PBKDF2PARAM) and checks
 *    the iteration count; tv__pbe_decrypt() runs the KDF and the cipher. A
 *    reader calls the first for every algorithm before the second for any
 *    of the same object, so an over-cap count never reaches a KDF.
 *
 * 2. Secrets stay in sodium_malloc memory. We derive key and IV ourselves
 *    (the loops of kdf.c on precomputed hash states for SHA-1/224/256/384/
 *    512, about 3x faster than OpenSSL 3.0's; EVP_KDF "PKCS12KDF" /
 *    "PBKDF2" in the reader's library context for any other digest; both
 *    write straight into a secbuf) and decrypt with EVP_CIPHER into a
 *    secbuf, instead of PKCS12_pbe_crypt_ex(), which would leave the
 *    plaintext in OpenSSL's heap. The cipher comes from EVP_CIPHER_fetch()
 *    in that context, which holds the legacy provider for RC2 and 3DES.
 *
 * Supported on purpose (and nothing else): PBES2 with PBKDF2 (PRF
 * HMAC-SHA1/224/256/384/512) and AES-128/192/256-CBC; PKCS#12 PBE with SHA-1
 * and 3-key 3DES, RC2-128 or RC2-40. RC4, 2-key 3DES, PKCS#5 v1 PBES1, scrypt
 * and other PBES2 ciphers are refused as UNSUPPORTED_ALGORITHM.
 */
#include "pki/pbe.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/params.h>

#include "pki/kdf.h"
#include "pki/timing.h"

/* ---- passwords ------------------------------------------------------- */

/* Decode one strict UTF-8 sequence; 0 when s[0..len) doesn't start one. */
static size_t S_utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n, i;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2; c = s[0] & 0x1Fu; min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3; c = s[0] & 0x0Fu; min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4; c = s[0] & 0x07u; min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3Fu);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* UTF-16 code units the password needs, or 0 if it isn't valid UTF-8. */
static size_t S_utf16_units(const unsigned char *s, size_t len, bool *valid)
{
	size_t i = 0, units = 0, n;
	uint32_t cp;

	*valid = true;
	while (i < len) {
		n = S_utf8_next(s + i, len - i, &cp);
		if (!n) {
			*valid = false;
			return len; /* Latin-1: one unit per byte */
		}
		units += cp > 0xFFFF ? 2 : 1;
		i += n;
	}
	return units;
}

static void S_put_unit(unsigned char *out, size_t *pos, uint32_t unit)
{
	out[(*pos)++] = (unsigned char)(unit >> 8);
	out[(*pos)++] = (unsigned char)(unit & 0xFF);
}

/* RFC 7292 B.1: big-endian UTF-16 plus a two-byte zero terminator. */
static enum tv_err S_to_bmp(struct tv_secbuf **out, const unsigned char *s,
			    size_t len)
{
	struct tv_secbuf *bmp = NULL;
	size_t units, i = 0, pos = 0, n;
	bool valid;
	uint32_t cp;
	enum tv_err rc;

	units = S_utf16_units(s, len, &valid);
	rc = tv_secbuf_new(&bmp, 2 * units + 2);
	if (rc)
		return rc;
	while (i < len) {
		n = valid ? S_utf8_next(s + i, len - i, &cp) : 1;
		if (!valid)
			cp = s[i];
		if (cp > 0xFFFF) {
			cp -= 0x10000;
			S_put_unit(bmp->p, &pos, 0xD800 | (cp >> 10));
			S_put_unit(bmp->p, &pos, 0xDC00 | (cp & 0x3FF));
		} else {
			S_put_unit(bmp->p, &pos, cp);
		}
		i += n;
	}
	/* the terminator is already zero (tv_secbuf_new zeroes) */
	*out = bmp;
	return TV_OK;
}

static enum tv_err S_pass_init(struct tv__pass *pw, const char *s, size_t len,
			       bool absent)
{
	enum tv_err rc;

	memset(pw, 0, sizeof(*pw));
	pw->absent = absent;
	rc = tv_secbuf_dup(&pw->utf8, absent ? "" : s, absent ? 0 : len);
	if (rc)
		return rc;
	if (absent)
		return tv_secbuf_new(&pw->bmp, 0);
	return S_to_bmp(&pw->bmp, (const unsigned char *)s, len);
}

static void S_pass_release(struct tv__pass *pw)
{
	tv_secbuf_free(pw->utf8);
	tv_secbuf_free(pw->bmp);
	memset(pw, 0, sizeof(*pw));
}

enum tv_reason tv__pass_list_init(struct tv__pass_list *list,
				  const char *password, size_t password_len,
				  char *msg, size_t msz)
{
	enum tv_err err = TV_OK;

	memset(list, 0, sizeof(*list));
	if (password && password_len > TV__MAX_PASSWORD_BYTES)
		return tv__fail(msg, msz, TV_REASON_INVALID_ITEM,
				"password of %zu bytes is over the limit of %d",
				password_len, TV__MAX_PASSWORD_BYTES);
	if (password && password_len > 0) {
		err = S_pass_init(&list->pass[0], password, password_len, false);
		list->count = 1;
	} else {
		/* empty given: "" first; none given: absent first */
		bool absent_first = password == NULL;

		err = S_pass_init(&list->pass[0], "", 0, absent_first);
		list->count = 1;
		if (!err) {
			err = S_pass_init(&list->pass[1], "", 0, !absent_first);
			list->count = 2;
		}
	}
	if (err) {
		tv__pass_list_release(list);
		return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				"out of secure memory for the password");
	}
	return TV_REASON_OK;
}

void tv__pass_list_release(struct tv__pass_list *list)
{
	size_t i;

	for (i = 0; i < 2; i++)
		S_pass_release(&list->pass[i]);
	list->count = 0;
}

/* ---- small helpers ----------------------------------------------------- */

enum tv_reason tv__iter_get(uint64_t *out, const ASN1_INTEGER *ai,
			    uint64_t dflt, uint64_t cap, const char *what,
			    char *msg, size_t msz)
{
	uint64_t v = dflt;

	if (ai) {
		if (ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER)
			return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
					"%s iteration count is negative", what);
		ERR_set_mark();
		if (!ASN1_INTEGER_get_uint64(&v, ai)) {
			ERR_pop_to_mark();
			return tv__fail(msg, msz, TV_REASON_ITERATION_LIMIT_EXCEEDED,
					"%s iteration count is over 2^64, the limit is %llu",
					what, (unsigned long long)cap);
		}
		ERR_pop_to_mark();
	}
	if (v == 0)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"%s iteration count is zero", what);
	if (v > cap)
		return tv__fail(msg, msz, TV_REASON_ITERATION_LIMIT_EXCEEDED,
				"%s iteration count %llu is over the limit of %llu",
				what, (unsigned long long)v,
				(unsigned long long)cap);
	*out = v;
	return TV_REASON_OK;
}

const char *tv__oid_name(char *buf, size_t size, const ASN1_OBJECT *obj)
{
	char oid[80] = "?";
	int nid;

	if (!obj) {
		snprintf(buf, size, "(no algorithm)");
		return buf;
	}
	OBJ_obj2txt(oid, sizeof(oid), obj, 1);
	nid = OBJ_obj2nid(obj);
	if (nid != NID_undef && OBJ_nid2ln(nid))
		snprintf(buf, size, "%s (%s)", OBJ_nid2ln(nid), oid);
	else
		snprintf(buf, size, "%s", oid);
	return buf;
}

const char *tv__hmac_digest(const ASN1_OBJECT *prf)
{
	switch (OBJ_obj2nid(prf)) {
	case NID_hmacWithSHA1: return "SHA1";
	case NID_hmacWithSHA224: return "SHA224";
	case NID_hmacWithSHA256: return "SHA256";
	case NID_hmacWithSHA384: return "SHA384";
	case NID_hmacWithSHA512: return "SHA512";
	default: return NULL;
	}
}

/* ---- KDFs -------------------------------------------------------------- */

static enum tv_reason S_kdf(unsigned char *out, size_t n,
			    struct tv_pki_ctx *ctx, const char *kdf_name,
			    OSSL_PARAM *params, char *msg, size_t msz)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	enum tv_reason rc = TV_REASON_OK;
	uint64_t t0 = tv__timing_begin(ctx);

	kdf = EVP_KDF_fetch(tv_pki_libctx(ctx), kdf_name, NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (!kctx || EVP_KDF_derive(kctx, out, n, params) != 1)
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
			      "%s key derivation failed", kdf_name);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	tv__timing_end(ctx, TV_PKI_PHASE_KDF, t0, 0);
	return rc;
}

/* ---- derivations run ahead (pbe.h) ------------------------------------- */

void tv__kdf_pre_init(struct tv__kdf_pre *pre)
{
	memset(pre, 0, sizeof(*pre));
}

void tv__kdf_pre_release(struct tv__kdf_pre *pre)
{
	tv_secbuf_free(pre->out);
	free(pre->salts);
	memset(pre, 0, sizeof(*pre));
}

bool tv__kdf_pre_add(struct tv__kdf_pre *pre, bool pbkdf2, const char *md,
		     const unsigned char *salt, size_t salt_len,
		     uint64_t iter, int id, size_t n)
{
	struct tv__kdf_pre_entry *e;
	enum tv__kdf_md fast;
	unsigned char *grown;
	size_t i, cap;

	/* what the fast KDFs don't take is left to the walk, as it was */
	if (!tv__kdf_md_by_name(&fast, md) || id < 0 || id > 0xFF || n == 0 ||
	    pre->out || pre->count == TV__KDF_PRE_MAX)
		return true;
	for (i = 0; i < pre->count; i++) {
		e = &pre->e[i];
		if (e->pbkdf2 == pbkdf2 && e->iter == iter && e->id == id &&
		    e->n == n && e->salt_len == salt_len && !strcmp(e->md, md) &&
		    (salt_len == 0 || !memcmp(pre->salts + e->salt_off, salt, salt_len)))
			return true;
	}
	if (salt_len > SIZE_MAX / 2 - pre->salts_len)
		return false;
	if (pre->salts_len + salt_len > pre->salts_cap) {
		cap = 2 * (pre->salts_len + salt_len);
		grown = realloc(pre->salts, cap ? cap : 1);
		if (!grown)
			return false;
		pre->salts = grown;
		pre->salts_cap = cap;
	}
	e = &pre->e[pre->count++];
	memset(e, 0, sizeof(*e));
	e->pbkdf2 = pbkdf2;
	e->md = md;
	e->salt_off = pre->salts_len;
	e->salt_len = salt_len;
	e->iter = iter;
	e->id = id;
	e->n = n;
	if (salt_len)
		memcpy(pre->salts + pre->salts_len, salt, salt_len);
	pre->salts_len += salt_len;
	return true;
}

bool tv__kdf_pre_run(struct tv__kdf_pre *pre, struct tv_pki_ctx *ctx,
		     struct tv__pass *pw)
{
	struct tv__kdf_job jobs[TV__KDF_PRE_MAX];
	struct tv__kdf_pre_entry *e;
	size_t i, total = 0;
	uint64_t t0;

	if (pre->count == 0 || pre->out)
		return true;
	for (i = 0; i < pre->count; i++) {
		pre->e[i].out_off = total;
		total += pre->e[i].n;
	}
	if (tv_secbuf_new(&pre->out, total)) {
		pre->count = 0;
		return false;
	}
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < pre->count; i++) {
		e = &pre->e[i];
		jobs[i].kind = e->pbkdf2 ? TV__KDF_PBKDF2 : TV__KDF_PKCS12;
		(void)tv__kdf_md_by_name(&jobs[i].md, e->md); /* checked in _add */
		jobs[i].pass = e->pbkdf2 ? pw->utf8->p : pw->bmp->p;
		jobs[i].pass_len = e->pbkdf2 ? pw->utf8->len : pw->bmp->len;
		jobs[i].salt = pre->salts + e->salt_off;
		jobs[i].salt_len = e->salt_len;
		jobs[i].iter = e->iter;
		jobs[i].id = (unsigned char)e->id;
		jobs[i].out = pre->out->p + e->out_off;
		jobs[i].n = e->n;
	}
	t0 = tv__timing_begin(ctx);
	(void)tv__kdf_batch(jobs, pre->count); /* each job says for itself */
	tv__timing_end(ctx, TV_PKI_PHASE_KDF, t0, 0);
	for (i = 0; i < pre->count; i++)
		pre->e[i].ok = jobs[i].ok;
	pre->pw = pw;
	pw->pre = pre;
	return true;
}

/* The result for these parameters if it was run ahead for pw. */
static bool S_pre_take(unsigned char *out, size_t n, const struct tv__pass *pw,
		       bool pbkdf2, const char *md, const unsigned char *salt,
		       size_t salt_len, uint64_t iter, int id)
{
	const struct tv__kdf_pre *pre = pw->pre;
	const struct tv__kdf_pre_entry *e;
	size_t i;

	if (!pre || pre->pw != pw || !pre->out)
		return false;
	for (i = 0; i < pre->count; i++) {
		e = &pre->e[i];
		if (e->ok && e->pbkdf2 == pbkdf2 && e->iter == iter && e->id == id &&
		    e->n == n && e->salt_len == salt_len && !strcmp(e->md, md) &&
		    (salt_len == 0 || !memcmp(pre->salts + e->salt_off, salt, salt_len))) {
			memcpy(out, pre->out->p + e->out_off, n);
			return true;
		}
	}
	return false;
}

enum tv_reason tv__kdf_pkcs12(unsigned char *out, size_t n,
			      struct tv_pki_ctx *ctx, const char *md,
			      const struct tv__pass *pw,
			      const unsigned char *salt, size_t salt_len,
			      int id, uint64_t iter, char *msg, size_t msz)
{
	OSSL_PARAM params[6];
	enum tv__kdf_md fast;

	if (S_pre_take(out, n, pw, false, md, salt, salt_len, iter, id))
		return TV_REASON_OK; /* the batch's time is counted already */
	if (tv__kdf_md_by_name(&fast, md) && id >= 0 && id <= 0xFF) {
		uint64_t t0 = tv__timing_begin(ctx);
		bool ok = tv__kdf_pkcs12_run(out, n, fast, pw->bmp->p,
					     pw->bmp->len, salt, salt_len,
					     (unsigned char)id, iter);

		tv__timing_end(ctx, TV_PKI_PHASE_KDF, t0, 0);
		if (!ok)
			return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
					"PKCS12KDF key derivation failed");
		return TV_REASON_OK;
	}
	params[0] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_PASSWORD, pw->bmp->p, pw->bmp->len);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter);
	params[3] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)md, 0);
	params[4] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS12_ID, &id);
	params[5] = OSSL_PARAM_construct_end();
	return S_kdf(out, n, ctx, "PKCS12KDF", params, msg, msz);
}

enum tv_reason tv__kdf_pbkdf2(unsigned char *out, size_t n,
			      struct tv_pki_ctx *ctx, const char *md,
			      const struct tv__pass *pw,
			      const unsigned char *salt, size_t salt_len,
			      uint64_t iter, char *msg, size_t msz)
{
	OSSL_PARAM params[6];
	int pkcs5_no_checks = 1; /* RFC 8018 semantics, not SP 800-132 minimums */
	enum tv__kdf_md fast;

	if (S_pre_take(out, n, pw, true, md, salt, salt_len, iter, 0))
		return TV_REASON_OK;
	if (tv__kdf_md_by_name(&fast, md)) {
		uint64_t t0 = tv__timing_begin(ctx);
		bool ok = tv__kdf_pbkdf2_run(out, n, fast, pw->utf8->p,
					     pw->utf8->len, salt, salt_len,
					     iter);

		tv__timing_end(ctx, TV_PKI_PHASE_KDF, t0, 0);
		if (!ok)
			return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
					"PBKDF2 key derivation failed");
		return TV_REASON_OK;
	}
	params[0] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_PASSWORD, pw->utf8->p, pw->utf8->len);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter);
	params[3] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)md, 0);
	params[4] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5,
					     &pkcs5_no_checks);
	params[5] = OSSL_PARAM_construct_end();
	return S_kdf(out, n, ctx, "PBKDF2", params, msg, msz);
}

/* ---- identification ---------------------------------------------------- */

struct S_legacy_pbe {
	int nid;
	const char *cipher;
	const char *label;
	size_t key_len;
};

static const struct S_legacy_pbe S_legacy[] = {
	{ NID_pbe_WithSHA1And3_Key_TripleDES_CBC, "DES-EDE3-CBC",
	  "pbeWithSHAAnd3-KeyTripleDES-CBC", 24 },
	{ NID_pbe_WithSHA1And128BitRC2_CBC, "RC2-CBC",
	  "pbeWithSHAAnd128BitRC2-CBC", 16 },
	{ NID_pbe_WithSHA1And40BitRC2_CBC, "RC2-40-CBC",
	  "pbeWithSHAAnd40BitRC2-CBC", 5 },
};

static enum tv_reason S_identify_pkcs12(struct tv__pbe *pbe,
					const struct S_legacy_pbe *lp,
					const X509_ALGOR *alg,
					uint64_t max_iter, const char *what,
					char *msg, size_t msz)
{
	char ctx_what[96];

	pbe->pbe_param = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM),
						   alg->parameter);
	if (!pbe->pbe_param || !pbe->pbe_param->salt)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"%s: malformed %s parameters", what, lp->label);
	pbe->scheme = TV__PBE_PKCS12;
	pbe->cipher = lp->cipher;
	pbe->label = lp->label;
	pbe->kdf_md = "SHA1";
	pbe->key_len = lp->key_len;
	pbe->iv_len = 8;
	pbe->salt = ASN1_STRING_get0_data(pbe->pbe_param->salt);
	pbe->salt_len = (size_t)ASN1_STRING_length(pbe->pbe_param->salt);
	snprintf(ctx_what, sizeof(ctx_what), "%s %s", what, lp->label);
	return tv__iter_get(&pbe->iter, pbe->pbe_param->iter, 1, max_iter,
			    ctx_what, msg, msz);
}

struct S_aes {
	int nid;
	const char *cipher;
	size_t key_len;
};

static const struct S_aes S_aes_cbc[] = {
	{ NID_aes_128_cbc, "AES-128-CBC", 16 },
	{ NID_aes_192_cbc, "AES-192-CBC", 24 },
	{ NID_aes_256_cbc, "AES-256-CBC", 32 },
};

/* The encryption scheme half of PBES2: AES-CBC and its IV. */
static enum tv_reason S_pbes2_cipher(struct tv__pbe *pbe,
				     const X509_ALGOR *enc, const char *what,
				     char *msg, size_t msz)
{
	const ASN1_TYPE *iv = enc->parameter;
	char name[128];
	size_t i;
	int nid = OBJ_obj2nid(enc->algorithm);

	for (i = 0; i < sizeof(S_aes_cbc) / sizeof(S_aes_cbc[0]); i++)
		if (S_aes_cbc[i].nid == nid)
			break;
	if (i == sizeof(S_aes_cbc) / sizeof(S_aes_cbc[0]))
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"%s: PBES2 cipher %s is not supported (AES-CBC only)",
				what, tv__oid_name(name, sizeof(name), enc->algorithm));
	if (!iv || iv->type != V_ASN1_OCTET_STRING ||
	    ASN1_STRING_length(iv->value.octet_string) != 16)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"%s: PBES2 %s IV is not 16 bytes", what,
				S_aes_cbc[i].cipher);
	pbe->cipher = S_aes_cbc[i].cipher;
	pbe->key_len = S_aes_cbc[i].key_len;
	pbe->iv_len = 16;
	pbe->iv = ASN1_STRING_get0_data(iv->value.octet_string);
	return TV_REASON_OK;
}

/* The key derivation half of PBES2: PBKDF2 with an HMAC PRF. */
static enum tv_reason S_pbes2_kdf(struct tv__pbe *pbe, const X509_ALGOR *kf,
				  uint64_t max_iter, const char *what,
				  char *msg, size_t msz)
{
	char name[128], ctx_what[96];
	const PBKDF2PARAM *kp;
	uint64_t klen;

	if (OBJ_obj2nid(kf->algorithm) != NID_id_pbkdf2)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"%s: PBES2 key derivation %s is not supported (PBKDF2 only)",
				what, tv__oid_name(name, sizeof(name), kf->algorithm));
	kp = pbe->kdf_param = ASN1_TYPE_unpack_sequence(
		ASN1_ITEM_rptr(PBKDF2PARAM), kf->parameter);
	if (!kp || !kp->salt || kp->salt->type != V_ASN1_OCTET_STRING)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"%s: malformed PBKDF2 parameters", what);
	pbe->kdf_md = kp->prf ? tv__hmac_digest(kp->prf->algorithm) : "SHA1";
	if (!pbe->kdf_md)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"%s: PBKDF2 PRF %s is not supported", what,
				tv__oid_name(name, sizeof(name), kp->prf->algorithm));
	if (kp->keylength) {
		if (ASN1_STRING_type(kp->keylength) == V_ASN1_NEG_INTEGER ||
		    !ASN1_INTEGER_get_uint64(&klen, kp->keylength) ||
		    klen != pbe->key_len)
			return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
					"%s: PBKDF2 keyLength does not fit %s", what,
					pbe->cipher);
	}
	pbe->salt = ASN1_STRING_get0_data(kp->salt->value.octet_string);
	pbe->salt_len = (size_t)ASN1_STRING_length(kp->salt->value.octet_string);
	snprintf(ctx_what, sizeof(ctx_what), "%s PBKDF2", what);
	return tv__iter_get(&pbe->iter, kp->iter, 1, max_iter, ctx_what, msg,
			    msz);
}

static enum tv_reason S_identify_pbes2(struct tv__pbe *pbe,
				       const X509_ALGOR *alg,
				       uint64_t max_iter, const char *what,
				       char *msg, size_t msz)
{
	enum tv_reason rc;

	pbe->scheme = TV__PBE_PBES2;
	pbe->pbe2_param = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
						    alg->parameter);
	if (!pbe->pbe2_param || !pbe->pbe2_param->keyfunc ||
	    !pbe->pbe2_param->encryption)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"%s: malformed PBES2 parameters", what);
	/* the cipher first: PBKDF2's keyLength is checked against it */
	rc = S_pbes2_cipher(pbe, pbe->pbe2_param->encryption, what, msg, msz);
	if (rc)
		return rc;
	rc = S_pbes2_kdf(pbe, pbe->pbe2_param->keyfunc, max_iter, what, msg,
			 msz);
	if (rc)
		return rc;
	pbe->label = "PBES2";
	return TV_REASON_OK;
}

enum tv_reason tv__pbe_identify(struct tv__pbe *pbe, const X509_ALGOR *alg,
				uint64_t max_iter, const char *what,
				char *msg, size_t msz)
{
	char name[128];
	size_t i;
	int nid;

	memset(pbe, 0, sizeof(*pbe));
	if (!alg || !alg->algorithm)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"%s: no encryption algorithm", what);
	nid = OBJ_obj2nid(alg->algorithm);
	if (nid == NID_pbes2)
		return S_identify_pbes2(pbe, alg, max_iter, what, msg, msz);
	for (i = 0; i < sizeof(S_legacy) / sizeof(S_legacy[0]); i++)
		if (S_legacy[i].nid == nid)
			return S_identify_pkcs12(pbe, &S_legacy[i], alg,
						 max_iter, what, msg, msz);
	return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
			"%s: encryption algorithm %s is not supported", what,
			tv__oid_name(name, sizeof(name), alg->algorithm));
}

void tv__pbe_release(struct tv__pbe *pbe)
{
	PBEPARAM_free(pbe->pbe_param);
	PBE2PARAM_free(pbe->pbe2_param);
	PBKDF2PARAM_free(pbe->kdf_param);
	memset(pbe, 0, sizeof(*pbe));
}

bool tv__pbe_kdf_plan(struct tv__kdf_pre *pre, const struct tv__pbe *pbe)
{
	if (pbe->scheme == TV__PBE_PBES2)
		return tv__kdf_pre_add(pre, true, pbe->kdf_md, pbe->salt,
				       pbe->salt_len, pbe->iter, 0, pbe->key_len);
	return tv__kdf_pre_add(pre, false, pbe->kdf_md, pbe->salt,
			       pbe->salt_len, pbe->iter, 1, pbe->key_len) &&
	       tv__kdf_pre_add(pre, false, pbe->kdf_md, pbe->salt,
			       pbe->salt_len, pbe->iter, 2, pbe->iv_len);
}

/* ---- decryption -------------------------------------------------------- */

/* Key then IV into one secbuf. */
static enum tv_reason S_derive_key_iv(struct tv_secbuf *kiv,
				      struct tv_pki_ctx *ctx,
				      const struct tv__pbe *pbe,
				      const struct tv__pass *pw, char *msg,
				      size_t msz)
{
	enum tv_reason rc;

	if (pbe->scheme == TV__PBE_PBES2) {
		memcpy(kiv->p + pbe->key_len, pbe->iv, pbe->iv_len);
		return tv__kdf_pbkdf2(kiv->p, pbe->key_len, ctx, pbe->kdf_md,
				      pw, pbe->salt, pbe->salt_len, pbe->iter,
				      msg, msz);
	}
	rc = tv__kdf_pkcs12(kiv->p, pbe->key_len, ctx, pbe->kdf_md, pw,
			    pbe->salt, pbe->salt_len, 1, pbe->iter, msg, msz);
	if (rc)
		return rc;
	return tv__kdf_pkcs12(kiv->p + pbe->key_len, pbe->iv_len, ctx,
			      pbe->kdf_md, pw, pbe->salt, pbe->salt_len, 2,
			      pbe->iter, msg, msz);
}

static enum tv_reason S_cipher_run(struct tv_secbuf *out,
				   EVP_CIPHER_CTX *cctx,
				   const unsigned char *ct, size_t ct_len,
				   const struct tv__pbe *pbe, const char *what,
				   char *msg, size_t msz)
{
	int l1 = 0, l2 = 0;

	if (EVP_DecryptUpdate(cctx, out->p, &l1, ct, (int)ct_len) != 1)
		return tv__fail(msg, msz, TV_REASON_DECRYPTION_FAILED,
				"%s: %s decryption failed", what, pbe->cipher);
	if (EVP_DecryptFinal_ex(cctx, out->p + l1, &l2) != 1)
		return tv__fail(msg, msz, TV_REASON_DECRYPTION_FAILED,
				"%s did not decrypt with %s %s "
				"(wrong password or corrupted data)",
				what, pbe->label, pbe->cipher);
	out->len = (size_t)l1 + (size_t)l2;
	return TV_REASON_OK;
}

/*
 * The context's cipher, fetched once (pki.c); one it doesn't hold is
 * fetched now and *fetched owns it.
 */
static const EVP_CIPHER *S_cipher_get(struct tv_pki_ctx *ctx, const char *name,
				      EVP_CIPHER **fetched)
{
	const EVP_CIPHER *cipher = tv__pki_cipher(ctx, name);

	if (cipher)
		return cipher;
	ERR_set_mark();
	*fetched = EVP_CIPHER_fetch(tv_pki_libctx(ctx), name, NULL);
	ERR_pop_to_mark();
	return *fetched;
}

enum tv_reason tv__pbe_decrypt(struct tv_secbuf **plain,
			       struct tv_pki_ctx *ctx,
			       const struct tv__pbe *pbe,
			       const struct tv__pass *pw,
			       const unsigned char *ct, size_t ct_len,
			       const char *what, char *msg, size_t msz)
{
	struct tv_secbuf *kiv = NULL, *out = NULL;
	const EVP_CIPHER *cipher = NULL;
	EVP_CIPHER *fetched = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	enum tv_reason rc;
	uint64_t t0 = tv__timing_begin(ctx), t_kdf, kdf_ns = 0;

	if (ct_len == 0 || ct_len > INT_MAX - 64) {
		rc = tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
			      "%s: encrypted content is empty or too large", what);
		goto out;
	}
	cipher = S_cipher_get(ctx, pbe->cipher, &fetched);
	if (!cipher || (size_t)EVP_CIPHER_get_key_length(cipher) != pbe->key_len ||
	    (size_t)EVP_CIPHER_get_iv_length(cipher) != pbe->iv_len) {
		rc = tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
			      "%s: cipher %s is not available", what, pbe->cipher);
		goto out;
	}
	if (tv_secbuf_new(&kiv, pbe->key_len + pbe->iv_len) ||
	    tv_secbuf_new(&out, ct_len + (size_t)EVP_CIPHER_get_block_size(cipher)) ||
	    !(cctx = EVP_CIPHER_CTX_new())) {
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
			      "out of memory decrypting %s", what);
		goto out;
	}
	t_kdf = tv__timing_begin(ctx);
	rc = S_derive_key_iv(kiv, ctx, pbe, pw, msg, msz);
	kdf_ns = tv__timing_since(t_kdf); /* the KDF phase counts it */
	if (rc)
		goto out;
	if (EVP_DecryptInit_ex2(cctx, cipher, kiv->p, kiv->p + pbe->key_len,
				NULL) != 1) {
		rc = tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
			      "%s: %s setup failed", what, pbe->cipher);
		goto out;
	}
	rc = S_cipher_run(out, cctx, ct, ct_len, pbe, what, msg, msz);
	if (rc)
		goto out;
	*plain = out;
	out = NULL;
out:
	EVP_CIPHER_CTX_free(cctx); /* cleanses the key schedule */
	EVP_CIPHER_free(fetched);
	tv_secbuf_free(kiv);
	tv_secbuf_free(out);
	tv__timing_end(ctx, TV_PKI_PHASE_DECRYPT, t0, kdf_ns);
	return rc;
}
