/*
 * DESIGN: a JKS file is small and fully determined by its inputs (plus a
 * salt and a date), so we compute its exact size first, allocate one
 * tv_secbuf and write it front to back with a bounds-checked cursor; the
 * store digest is then taken over the buffer itself. There is no JKS
 * library to lean on: the layout below is what Sun's JavaKeyStore
 * engineStore() writes and engineLoad() reads (all integers big-endian):
 *
 *   u32 0xFEEDFEED, u32 version 2, u32 entry count
 *   entry: u32 tag 1 (PrivateKeyEntry), alias (u16 length + modified
 *          UTF-8), u64 creation time (ms), u32 length + DER of the
 *          EncryptedPrivateKeyInfo, u32 certificate count, and per
 *          certificate: type (u16 length + "X.509"), u32 length + DER
 *   20-byte SHA-1(UTF-16BE(store password) || "Mighty Aphrodite" || above)
 *
 * Sun's key protector (sun.security.provider.KeyProtector), for a PKCS#8
 * plaintext P and the key password as UTF-16BE bytes W:
 *   salt = 20 random bytes; D0 = salt; Di = SHA-1(W || Di-1);
 *   stream = D1 || D2 || ... cut to |P|;
 *   protected = salt || (P XOR stream) || SHA-1(W || P)
 * inside SEQUENCE { SEQUENCE { OID 1.3.6.1.4.1.42.2.17.1.1, NULL },
 * OCTET STRING protected } (keytool writes the NULL; so do we).
 *
 * Secrets: P (from tv_pki_key_to_pkcs8), W and the key stream live in
 * tv_secbufs; each Di is written by SHA-1 straight into the key stream
 * buffer, so no secret passes through the stack. The store password's
 * UTF-16BE form is secret too, and gets the same treatment.
 *
 * Aliases: JavaKeyStore lower-cases every alias it is given with
 * String.toLowerCase(Locale.ENGLISH) and looks entries up that way, so an
 * upper-case alias in a file could be listed but never found. We lower-case
 * ASCII ourselves and the rest with towlower_l() in a private C.UTF-8
 * locale (no global locale is touched), plus Java's one-to-two mapping of
 * U+0130. Java's context rule for a final capital sigma is not copied.
 */
#include "pki/jks.h"

#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/util.h"
#include "pki/pki.h"
#include "pki/writer.h"

#define S_MAGIC 0xFEEDFEEDu
#define S_VERSION 2u
#define S_TAG_PRIVATE_KEY 1u
#define S_SHA1_LEN 20
#define S_SALT_LEN 20
#define S_DEFAULT_ALIAS "mykey" /* keytool's */
#define S_CERT_TYPE "X.509"
#define S_WHITENER "Mighty Aphrodite"
/* the worst growth of lower-casing plus modified UTF-8 is 3 bytes for 2 */
#define S_ALIAS_ROOM (2 * TV_JKS_MAX_ALIAS + 8)

/* DER of AlgorithmIdentifier { 1.3.6.1.4.1.42.2.17.1.1, NULL } */
static const unsigned char S_KEY_PROTECTOR_ALG[] = {
	0x30, 0x0e, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01,
	0x2a, 0x02, 0x11, 0x01, 0x01, 0x05, 0x00};

_Static_assert(TV_JKS_MAX_ALIAS * 3 / 2 + 8 <= S_ALIAS_ROOM, "alias room");
_Static_assert(S_ALIAS_ROOM <= 65535, "writeUTF lengths are u16");

/* ---- a bounds-checked output cursor -------------------------------------- */

struct S_cur {
	unsigned char *p;
	size_t left;
	bool overflow;
};

static void S_put(struct S_cur *c, const void *src, size_t len)
{
	if (c->overflow || len > c->left) {
		c->overflow = true;
		return;
	}
	if (len)
		memcpy(c->p, src, len);
	c->p += len;
	c->left -= len;
}

static void S_put_be(struct S_cur *c, uint64_t v, size_t bytes)
{
	unsigned char b[8];
	size_t i;

	for (i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
	S_put(c, b, bytes);
}

/* A DER tag and length; the size of that header when c is NULL. */
static size_t S_put_der_hdr(struct S_cur *c, unsigned char tag, size_t len)
{
	size_t n = 0, t;

	for (t = len; len >= 0x80 && t; t >>= 8)
		n++;
	if (c) {
		S_put_be(c, tag, 1);
		if (n)
			S_put_be(c, 0x80u | n, 1);
		S_put_be(c, len, n ? n : 1);
	}
	return 2 + n;
}

/* ---- text ---------------------------------------------------------------- */

/* UTF-8 to UTF-16BE (surrogate pairs above U+FFFF), as Java's char[]. */
static enum tv_err S_utf16be(struct tv_secbuf **out, const char *s, size_t len)
{
	struct tv_secbuf *buf = NULL;
	size_t pos = 0, n = 0;
	uint32_t cp;
	enum tv_err rc;

	rc = tv__writer_pass_check(s, len);
	if (rc)
		return rc;
	rc = tv_secbuf_new(&buf, 2 * len); /* 4 UTF-8 bytes make 4 at most */
	if (rc)
		return rc;
	while (pos < len) {
		if (tv__utf8_next((const unsigned char *)s, len, &pos, &cp)) {
			tv_secbuf_free(buf);
			return TV_ERR_INVALID; /* checked above; never */
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			buf->p[n++] = (unsigned char)(0xd8 | (cp >> 18));
			buf->p[n++] = (unsigned char)(cp >> 10);
			cp = 0xdc00 | (cp & 0x3ff);
		}
		buf->p[n++] = (unsigned char)(cp >> 8);
		buf->p[n++] = (unsigned char)cp;
	}
	tv_wipe(&cp, sizeof(cp));
	buf->len = n;
	*out = buf;
	return TV_OK;
}

/* One UTF-16 unit in Java's modified UTF-8 (NUL as C0 80). */
static size_t S_mutf8_unit(unsigned char *o, uint32_t u)
{
	if (u && u < 0x80) {
		o[0] = (unsigned char)u;
		return 1;
	}
	if (u < 0x800) {
		o[0] = (unsigned char)(0xc0 | (u >> 6));
		o[1] = (unsigned char)(0x80 | (u & 0x3f));
		return 2;
	}
	o[0] = (unsigned char)(0xe0 | (u >> 12));
	o[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
	o[2] = (unsigned char)(0x80 | (u & 0x3f));
	return 3;
}

static uint32_t S_lower(uint32_t cp, locale_t loc)
{
	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
	return loc ? (uint32_t)towlower_l((wint_t)cp, loc) : cp;
}

/* alias lower-cased the way JavaKeyStore does, in modified UTF-8. */
static enum tv_err S_alias_mutf8(unsigned char *out, size_t *out_len,
				 const char *alias)
{
	size_t len = strlen(alias), pos = 0, n = 0;
	locale_t loc;
	uint32_t cp;

	if (len == 0 || len > TV_JKS_MAX_ALIAS || !tv__utf8_valid(alias, len))
		return TV_ERR_INVALID;
	loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	while (pos < len) {
		if (tv__utf8_next((const unsigned char *)alias, len, &pos, &cp))
			break; /* validated above; never */
		if (cp == 0x130) { /* Java: U+0130 -> "i" U+0307 */
			n += S_mutf8_unit(out + n, 'i');
			cp = 0x307;
		}
		cp = S_lower(cp, loc);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			n += S_mutf8_unit(out + n, 0xd800 | (cp >> 10));
			cp = 0xdc00 | (cp & 0x3ff);
		}
		n += S_mutf8_unit(out + n, cp);
	}
	if (loc)
		freelocale(loc);
	*out_len = n;
	return TV_OK;
}

/* The leaf's first CN when it makes an alias; else keytool's default. */
static enum tv_err S_default_alias(unsigned char *out, size_t *out_len,
				   X509 *leaf)
{
	X509_NAME *subject = X509_get_subject_name(leaf);
	X509_NAME_ENTRY *e;
	unsigned char *cn = NULL;
	enum tv_err rc = TV_ERR_INVALID;
	int i, n;

	i = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
	e = i >= 0 ? X509_NAME_get_entry(subject, i) : NULL;
	n = e ? ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(e)) : -1;
	if (n > 0 && memchr(cn, 0, (size_t)n) == NULL)
		rc = S_alias_mutf8(out, out_len, (const char *)cn);
	OPENSSL_free(cn);
	if (rc)
		rc = S_alias_mutf8(out, out_len, S_DEFAULT_ALIAS);
	return rc;
}

/* ---- the key protector --------------------------------------------------- */

static int S_sha1(EVP_MD_CTX *md, const EVP_MD *sha1, unsigned char *dst,
		  const void *a, size_t a_len, const void *b, size_t b_len)
{
	return EVP_DigestInit_ex(md, sha1, NULL) == 1 &&
	       EVP_DigestUpdate(md, a, a_len) == 1 &&
	       EVP_DigestUpdate(md, b, b_len) == 1 &&
	       EVP_DigestFinal_ex(md, dst, NULL) == 1;
}

/* salt || (p8 XOR stream) || SHA-1(pw || p8), into a new secbuf. */
static enum tv_err S_protect(struct tv_secbuf **out, EVP_MD_CTX *md,
			     const EVP_MD *sha1, const struct tv_secbuf *p8,
			     const struct tv_secbuf *pw)
{
	size_t rounds = (p8->len + S_SHA1_LEN - 1) / S_SHA1_LEN, i;
	struct tv_secbuf *stream = NULL, *prot = NULL;
	const unsigned char *prev;
	enum tv_err rc;

	rc = tv_secbuf_new(&prot, S_SALT_LEN + p8->len + S_SHA1_LEN);
	if (!rc)
		rc = tv_secbuf_new(&stream, rounds * S_SHA1_LEN);
	if (rc)
		goto out;
	rc = TV_ERR_CRYPTO;
	if (RAND_bytes(prot->p, S_SALT_LEN) != 1)
		goto out;
	for (i = 0, prev = prot->p; i < rounds; i++) {
		if (!S_sha1(md, sha1, stream->p + i * S_SHA1_LEN, pw->p, pw->len,
			    prev, S_SHA1_LEN))
			goto out;
		prev = stream->p + i * S_SHA1_LEN;
	}
	for (i = 0; i < p8->len; i++)
		prot->p[S_SALT_LEN + i] = p8->p[i] ^ stream->p[i];
	if (!S_sha1(md, sha1, prot->p + S_SALT_LEN + p8->len, pw->p, pw->len,
		    p8->p, p8->len))
		goto out;
	*out = prot;
	prot = NULL;
	rc = TV_OK;
out:
	tv_secbuf_free(stream);
	tv_secbuf_free(prot);
	return rc;
}

/* ---- the file ------------------------------------------------------------ */

/* What goes into the file, gathered before its size is known. */
struct S_jks {
	unsigned char alias[S_ALIAS_ROOM];
	size_t alias_len;
	struct tv_secbuf *protected_key; /* the OCTET STRING's content */
	X509 *certs[TV_WRITER_MAX_CHAIN + 1];
	int cert_len[TV_WRITER_MAX_CHAIN + 1]; /* DER sizes */
	int ncerts;
};

static size_t S_epki_inner(const struct S_jks *j)
{
	return sizeof(S_KEY_PROTECTOR_ALG) +
	       S_put_der_hdr(NULL, 0x04, j->protected_key->len) +
	       j->protected_key->len;
}

static size_t S_body_size(const struct S_jks *j)
{
	size_t n = 4 + 4 + 4 + 4 + 2 + j->alias_len + 8 + 4 + 4, inner;
	int i;

	inner = S_epki_inner(j);
	n += S_put_der_hdr(NULL, 0x30, inner) + inner;
	for (i = 0; i < j->ncerts; i++)
		n += 2 + strlen(S_CERT_TYPE) + 4 + (size_t)j->cert_len[i];
	return n;
}

static void S_put_body(struct S_cur *c, const struct S_jks *j)
{
	size_t inner = S_epki_inner(j), epki = S_put_der_hdr(NULL, 0x30, inner) + inner;
	unsigned char *p;
	int i;

	S_put_be(c, S_MAGIC, 4);
	S_put_be(c, S_VERSION, 4);
	S_put_be(c, 1, 4);
	S_put_be(c, S_TAG_PRIVATE_KEY, 4);
	S_put_be(c, j->alias_len, 2);
	S_put(c, j->alias, j->alias_len);
	S_put_be(c, (uint64_t)tv_now_ms(), 8);
	S_put_be(c, epki, 4);
	S_put_der_hdr(c, 0x30, inner);
	S_put(c, S_KEY_PROTECTOR_ALG, sizeof(S_KEY_PROTECTOR_ALG));
	S_put_der_hdr(c, 0x04, j->protected_key->len);
	S_put(c, j->protected_key->p, j->protected_key->len);
	S_put_be(c, (uint64_t)j->ncerts, 4);
	for (i = 0; i < j->ncerts; i++) {
		S_put_be(c, strlen(S_CERT_TYPE), 2);
		S_put(c, S_CERT_TYPE, strlen(S_CERT_TYPE));
		S_put_be(c, (uint64_t)j->cert_len[i], 4);
		if (c->overflow || (size_t)j->cert_len[i] > c->left) {
			c->overflow = true;
			return;
		}
		p = c->p;
		if (i2d_X509(j->certs[i], &p) != j->cert_len[i]) {
			c->overflow = true;
			return;
		}
		c->p = p;
		c->left -= (size_t)j->cert_len[i];
	}
}

/* Lay out the file in a new secbuf and append the store digest. */
static enum tv_err S_emit(struct tv_secbuf **out, const struct S_jks *j,
			  EVP_MD_CTX *md, const EVP_MD *sha1,
			  const struct tv_secbuf *store_pw)
{
	size_t body = S_body_size(j);
	struct tv_secbuf *file = NULL;
	struct S_cur c;
	enum tv_err rc;

	if (body > UINT32_MAX)
		return TV_ERR_INVALID;
	rc = tv_secbuf_new(&file, body + S_SHA1_LEN);
	if (rc)
		return rc;
	c = (struct S_cur){.p = file->p, .left = body};
	S_put_body(&c, j);
	rc = TV_ERR_INTERNAL;
	if (c.overflow || c.left != 0)
		goto out;
	rc = TV_ERR_CRYPTO;
	if (EVP_DigestInit_ex(md, sha1, NULL) != 1 ||
	    EVP_DigestUpdate(md, store_pw->p, store_pw->len) != 1 ||
	    EVP_DigestUpdate(md, S_WHITENER, strlen(S_WHITENER)) != 1 ||
	    EVP_DigestUpdate(md, file->p, body) != 1 ||
	    EVP_DigestFinal_ex(md, file->p + body, NULL) != 1)
		goto out;
	*out = file;
	file = NULL;
	rc = TV_OK;
out:
	tv_secbuf_free(file);
	return rc;
}

/* Checks, alias and certificates: everything but the secrets. */
static enum tv_err S_prepare(struct S_jks *j, EVP_PKEY *key, X509 *leaf,
			     STACK_OF(X509) *chain, const char *alias)
{
	enum tv_err rc;
	int i;

	rc = tv__writer_inputs_check(key, leaf, chain);
	if (rc)
		return rc;
	if (tv_pki_key_check(key, 0, NULL, 0) != TV_REASON_OK)
		return TV_ERR_INVALID;
	if (alias && alias[0])
		rc = S_alias_mutf8(j->alias, &j->alias_len, alias);
	else
		rc = S_default_alias(j->alias, &j->alias_len, leaf);
	if (rc)
		return rc;
	j->certs[0] = leaf;
	j->ncerts = 1 + (chain ? sk_X509_num(chain) : 0);
	for (i = 1; i < j->ncerts; i++)
		j->certs[i] = sk_X509_value(chain, i - 1);
	for (i = 0; i < j->ncerts; i++) {
		j->cert_len[i] = i2d_X509(j->certs[i], NULL);
		if (j->cert_len[i] <= 0)
			return TV_ERR_INVALID;
	}
	return TV_OK;
}

enum tv_err tv_jks_write(struct tv_secbuf **out, EVP_PKEY *key, X509 *leaf,
			 STACK_OF(X509) *chain, const char *alias,
			 const char *key_pass, size_t key_pass_len,
			 const char *store_pass, size_t store_pass_len)
{
	struct tv_secbuf *p8 = NULL, *key_pw = NULL, *store_pw = NULL;
	struct S_jks *j = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_MD *sha1 = NULL;
	enum tv_err rc = TV_ERR_INVALID;

	ERR_set_mark();
	if (!out)
		goto out;
	rc = TV_ERR_NOMEM;
	j = calloc(1, sizeof(*j));
	if (!j)
		goto out;
	rc = S_prepare(j, key, leaf, chain, alias);
	if (!rc)
		rc = S_utf16be(&key_pw, key_pass, key_pass_len);
	if (!rc)
		rc = S_utf16be(&store_pw, store_pass, store_pass_len);
	if (!rc)
		rc = tv_pki_key_to_pkcs8(&p8, key);
	if (rc)
		goto out;
	rc = TV_ERR_CRYPTO;
	sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	md = EVP_MD_CTX_new();
	if (!sha1 || !md)
		goto out;
	rc = S_protect(&j->protected_key, md, sha1, p8, key_pw);
	if (!rc)
		rc = S_emit(out, j, md, sha1, store_pw);
out:
	ERR_pop_to_mark();
	EVP_MD_CTX_free(md); /* the SHA-1 provider clears its state on free */
	EVP_MD_free(sha1);
	if (j)
		tv_secbuf_free(j->protected_key);
	free(j);
	tv_secbuf_free(p8);
	tv_secbuf_free(store_pw);
	tv_secbuf_free(key_pw);
	return rc;
}
