/*
 * DESIGN: the writers are the readers run backwards, with the same
 * library context, so every file we hand out is one we read back (the
 * tests do exactly that, and run openssl and keytool on them too).
 *
 * PKCS#12 is assembled bag by bag rather than with PKCS12_create_ex(),
 * because that one always MACs with SHA-1 and uses OpenSSL 3.0's 8-byte
 * salts: MODERN wants an HMAC-SHA256 MAC, and we want 16-byte salts and the
 * PBKDF2 PRF named, not left to a library default. LEGACY keeps what old
 * Windows and Java write (8-byte salts, 2048 iterations, SHA-1 MAC). The
 * layout is OpenSSL's and Windows': an encrypted safe with the certificate
 * bags, then a plain safe with the shrouded key bag.
 *
 * Secrets: the passphrase is copied once into a tv_secbuf (it needs a NUL
 * for OpenSSL). The unencrypted key exists only as OpenSSL's
 * PKCS8_PRIV_KEY_INFO, which OpenSSL cleanses on free, and inside
 * PKCS12_item_i2d_encrypt_ex(), which cleanses its buffer. Outputs go into
 * tv_secbufs. libzip's working memory holds only the encrypted key and
 * certificates; it is freed without a wipe, which we accept.
 *
 * The OpenSSL error queue is left as found (ERR_set_mark/ERR_pop_to_mark):
 * our callers get an enum tv_err, not a queue to drain.
 */
#include "pki/writer.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <zip.h>

#define S_MODERN_SALT_LEN 16 /* PBES2 and MAC salts of MODERN and PKCS#8 */
#define S_LEGACY_SALT_LEN 8  /* what Windows and OpenSSL write for 3DES */
#define S_FALLBACK_LABEL "certificate"

_Static_assert(TV_WRITER_MAX_PASSPHRASE <= INT_MAX, "passlen is an int");
_Static_assert(TV_WRITER_MAX_LABEL >= sizeof(S_FALLBACK_LABEL), "label room");

/* ---- shared with jks.c (writer.h, internal part) ------------------------- */

int tv__utf8_next(const unsigned char *s, size_t len, size_t *pos,
		  uint32_t *cp)
{
	size_t i = *pos, n, k;
	uint32_t c, min;
	unsigned char b = s[i];

	if (b < 0x80) {
		*cp = b;
		*pos = i + 1;
		return 0;
	}
	if (b >= 0xc2 && b <= 0xdf)
		n = 1;
	else if ((b & 0xf0) == 0xe0)
		n = 2;
	else if (b >= 0xf0 && b <= 0xf4)
		n = 3;
	else
		goto bad;
	c = b & (0x7fu >> (n + 1)); /* the lead byte's payload bits */
	min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
	if (len - i - 1 < n)
		goto bad;
	for (k = 1; k <= n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[i + k] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	*pos = i + 1 + n;
	return 0;
bad:
	*pos = i + 1;
	return -1;
}

bool tv__utf8_valid(const void *s, size_t len)
{
	size_t pos = 0;
	uint32_t cp;

	while (pos < len)
		if (tv__utf8_next(s, len, &pos, &cp) != 0 || cp == 0)
			return false;
	return true;
}

enum tv_err tv__writer_pass_check(const char *pass, size_t len)
{
	if (!pass && len)
		return TV_ERR_INVALID;
	if (len > TV_WRITER_MAX_PASSPHRASE)
		return TV_ERR_INVALID;
	if (len && !tv__utf8_valid(pass, len))
		return TV_ERR_INVALID; /* also refuses a NUL byte */
	return TV_OK;
}

bool tv_writer_passphrase_ok(const void *pass, size_t len)
{
	return tv__writer_pass_check(pass, len) == TV_OK;
}

enum tv_err tv__writer_inputs_check(EVP_PKEY *key, X509 *leaf,
				    STACK_OF(X509) *chain)
{
	int i;

	if (!key || !leaf)
		return TV_ERR_INVALID;
	if (chain && sk_X509_num(chain) > TV_WRITER_MAX_CHAIN)
		return TV_ERR_INVALID;
	for (i = 0; chain && i < sk_X509_num(chain); i++)
		if (!sk_X509_value(chain, i))
			return TV_ERR_INVALID;
	if (!tv_pki_key_matches_cert(key, leaf))
		return TV_ERR_INVALID;
	return TV_OK;
}

/* A copy of the passphrase with a NUL after it, for OpenSSL. */
static enum tv_err S_pass_dup(struct tv_secbuf **out, const char *pass,
			      size_t len)
{
	enum tv_err rc = tv__writer_pass_check(pass, len);

	if (rc)
		return rc;
	return tv_secbuf_dup(out, len ? pass : "", len);
}

/* ---- PKCS#8 -------------------------------------------------------------- */

/*
 * key's PrivateKeyInfo encrypted under pass: PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC) or, for LEGACY, pbeWithSHAAnd3-KeyTripleDES-CBC.
 */
static enum tv_err S_p8_encrypt(X509_SIG **out, struct tv_pki_ctx *ctx,
				EVP_PKEY *key, const struct tv_secbuf *pass,
				enum tv_p12_profile profile)
{
	OSSL_LIB_CTX *libctx = tv_pki_libctx(ctx);
	unsigned char salt[S_MODERN_SALT_LEN]; /* public: it is in the output */
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	EVP_CIPHER *aes = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *sig = NULL;
	enum tv_err rc = TV_ERR_INVALID;

	p8 = EVP_PKEY2PKCS8(key);
	if (!p8)
		goto out; /* no private part, or not encodable */
	rc = TV_ERR_CRYPTO;
	if (profile == TV_P12_LEGACY) {
		if (RAND_bytes_ex(libctx, salt, S_LEGACY_SALT_LEN, 0) != 1)
			goto out;
		sig = PKCS8_encrypt_ex(NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
				       NULL, (const char *)pass->p,
				       (int)pass->len, salt, S_LEGACY_SALT_LEN,
				       TV_WRITER_LEGACY_ITER, p8, libctx, NULL);
	} else {
		if (RAND_bytes_ex(libctx, salt, sizeof(salt), 0) != 1)
			goto out;
		aes = EVP_CIPHER_fetch(libctx, "AES-256-CBC", NULL);
		if (aes)
			pbe = PKCS5_pbe2_set_iv_ex(aes, TV_WRITER_PBKDF2_ITER,
						   salt, (int)sizeof(salt), NULL,
						   NID_hmacWithSHA256, libctx);
		if (pbe)
			sig = PKCS8_set0_pbe_ex((const char *)pass->p,
						(int)pass->len, p8, pbe, libctx,
						NULL);
		if (sig)
			pbe = NULL; /* sig owns it */
	}
	if (!sig)
		goto out;
	*out = sig;
	rc = TV_OK;
out:
	X509_ALGOR_free(pbe);
	EVP_CIPHER_free(aes);
	PKCS8_PRIV_KEY_INFO_free(p8); /* its ASN.1 free callback cleanses */
	return rc;
}

/* What a memory BIO holds, copied into a new secbuf. */
static enum tv_err S_bio_to_secbuf(struct tv_secbuf **out, BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	if (len <= 0 || !data)
		return TV_ERR_CRYPTO;
	return tv_secbuf_dup(out, data, (size_t)len);
}

static enum tv_err S_pkcs8_pem(struct tv_secbuf **out, struct tv_pki_ctx *ctx,
			       EVP_PKEY *key, const struct tv_secbuf *pass)
{
	X509_SIG *sig = NULL;
	BIO *bio = NULL;
	enum tv_err rc;

	rc = S_p8_encrypt(&sig, ctx, key, pass, TV_P12_MODERN);
	if (rc)
		goto out;
	rc = TV_ERR_NOMEM;
	bio = BIO_new(BIO_s_secmem()); /* cleared on free */
	if (!bio)
		goto out;
	rc = TV_ERR_CRYPTO;
	if (PEM_write_bio_PKCS8(bio, sig) != 1)
		goto out;
	rc = S_bio_to_secbuf(out, bio);
out:
	BIO_free(bio);
	X509_SIG_free(sig);
	return rc;
}

enum tv_err tv_pkcs8_pem_write(struct tv_secbuf **out, struct tv_pki_ctx *ctx,
			       EVP_PKEY *key, const char *passphrase,
			       size_t passphrase_len)
{
	struct tv_secbuf *pass = NULL;
	enum tv_err rc = TV_ERR_INVALID;

	if (!out || !ctx || !key)
		goto out;
	rc = S_pass_dup(&pass, passphrase, passphrase_len);
	if (rc)
		goto out;
	ERR_set_mark();
	rc = S_pkcs8_pem(out, ctx, key, pass);
	ERR_pop_to_mark();
out:
	tv_secbuf_free(pass);
	return rc;
}

/* ---- PKCS#12 ------------------------------------------------------------- */

/* What every bag of one PKCS#12 write shares. */
struct S_p12_job {
	struct tv_pki_ctx *ctx;
	const struct tv_secbuf *pass;
	enum tv_p12_profile profile;
	const char *alias; /* friendlyName, or NULL */
	unsigned char keyid[EVP_MAX_MD_SIZE]; /* SHA-1 of the leaf's DER */
	unsigned int keyid_len;
};

/* friendlyName and localKeyId, for the key bag and the leaf's bag. */
static int S_bag_attrs(PKCS12_SAFEBAG *bag, struct S_p12_job *job)
{
	if (!PKCS12_add_localkeyid(bag, job->keyid, (int)job->keyid_len))
		return 0;
	return !job->alias || PKCS12_add_friendlyname_utf8(bag, job->alias, -1);
}

/* Append bag to bags, or free it. */
static int S_push_bag(STACK_OF(PKCS12_SAFEBAG) *bags, PKCS12_SAFEBAG *bag)
{
	if (bag && sk_PKCS12_SAFEBAG_push(bags, bag))
		return 1;
	PKCS12_SAFEBAG_free(bag);
	return 0;
}

/* The encrypted safe of certificate bags: leaf (with attributes), chain. */
static PKCS7 *S_cert_safe(struct S_p12_job *job, X509 *leaf,
			  STACK_OF(X509) *chain)
{
	STACK_OF(PKCS12_SAFEBAG) *bags = sk_PKCS12_SAFEBAG_new_null();
	PKCS12_SAFEBAG *bag;
	PKCS7 *safe = NULL;
	int i, legacy = job->profile == TV_P12_LEGACY;
	unsigned char salt[S_MODERN_SALT_LEN];
	int salt_len = legacy ? S_LEGACY_SALT_LEN : S_MODERN_SALT_LEN;

	if (!bags)
		goto out;
	bag = PKCS12_SAFEBAG_create_cert(leaf);
	if (!S_push_bag(bags, bag) || !S_bag_attrs(bag, job))
		goto out;
	for (i = 0; chain && i < sk_X509_num(chain); i++)
		if (!S_push_bag(bags, PKCS12_SAFEBAG_create_cert(
					      sk_X509_value(chain, i))))
			goto out;
	if (RAND_bytes_ex(tv_pki_libctx(job->ctx), salt, (size_t)salt_len, 0) != 1)
		goto out;
	/* for a cipher NID OpenSSL 3.0 makes PBES2 with PBKDF2-HMAC-SHA256 */
	safe = PKCS12_pack_p7encdata_ex(
		legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc,
		(const char *)job->pass->p, (int)job->pass->len, salt, salt_len,
		legacy ? TV_WRITER_LEGACY_ITER : TV_WRITER_PBKDF2_ITER, bags,
		tv_pki_libctx(job->ctx), NULL);
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	return safe;
}

/* The plain safe holding the shrouded key bag. */
static enum tv_err S_key_safe(PKCS7 **out, struct S_p12_job *job,
			      EVP_PKEY *key)
{
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	PKCS12_SAFEBAG *bag = NULL;
	X509_SIG *sig = NULL;
	enum tv_err rc;

	rc = S_p8_encrypt(&sig, job->ctx, key, job->pass, job->profile);
	if (rc)
		goto out;
	rc = TV_ERR_CRYPTO;
	bags = sk_PKCS12_SAFEBAG_new_null();
	bag = bags ? PKCS12_SAFEBAG_create0_pkcs8(sig) : NULL;
	if (!bag)
		goto out;
	sig = NULL; /* bag owns it */
	if (!S_push_bag(bags, bag) || !S_bag_attrs(bag, job))
		goto out;
	*out = PKCS12_pack_p7data(bags);
	rc = *out ? TV_OK : TV_ERR_CRYPTO;
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	X509_SIG_free(sig);
	return rc;
}

/* The whole PKCS#12: both safes, then the MAC. */
static enum tv_err S_p12_build(PKCS12 **out, struct S_p12_job *job,
			       EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain)
{
	OSSL_LIB_CTX *libctx = tv_pki_libctx(job->ctx);
	int legacy = job->profile == TV_P12_LEGACY;
	STACK_OF(PKCS7) *safes = NULL;
	unsigned char salt[S_MODERN_SALT_LEN];
	PKCS7 *safe = NULL;
	PKCS12 *p12 = NULL;
	EVP_MD *md = NULL;
	enum tv_err rc = TV_ERR_CRYPTO;

	md = EVP_MD_fetch(libctx, "SHA1", NULL);
	if (!md || X509_digest(leaf, md, job->keyid, &job->keyid_len) != 1)
		goto out;
	safes = sk_PKCS7_new_null();
	safe = safes ? S_cert_safe(job, leaf, chain) : NULL;
	if (!safe || !sk_PKCS7_push(safes, safe))
		goto out;
	safe = NULL;
	rc = S_key_safe(&safe, job, key);
	if (rc)
		goto out;
	rc = TV_ERR_CRYPTO;
	if (!sk_PKCS7_push(safes, safe))
		goto out;
	safe = NULL;
	EVP_MD_free(md);
	md = EVP_MD_fetch(libctx, legacy ? "SHA1" : "SHA256", NULL);
	p12 = md ? PKCS12_add_safes_ex(safes, 0, libctx, NULL) : NULL;
	if (!p12 || RAND_bytes_ex(libctx, salt, sizeof(salt), 0) != 1)
		goto out;
	if (PKCS12_set_mac(p12, (const char *)job->pass->p, (int)job->pass->len,
			   salt, legacy ? S_LEGACY_SALT_LEN : S_MODERN_SALT_LEN,
			   legacy ? TV_WRITER_LEGACY_ITER : TV_WRITER_MODERN_MAC_ITER,
			   md) != 1)
		goto out;
	*out = p12;
	p12 = NULL;
	rc = TV_OK;
out:
	PKCS12_free(p12);
	PKCS7_free(safe);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	EVP_MD_free(md);
	return rc;
}

/*
 * A friendlyName is a BMPString: UTF-8 whose every code point is in the
 * Basic Multilingual Plane (OpenSSL refuses the rest with a crypto error;
 * the fuzz target found an alias with U+C6229 failing that way).
 */
static bool S_bmp_only(const char *s)
{
	size_t len = strlen(s), pos = 0;
	uint32_t cp;

	while (pos < len)
		if (tv__utf8_next((const unsigned char *)s, len, &pos, &cp) != 0 || cp > 0xffff)
			return false;
	return true;
}

enum tv_err tv_p12_write(struct tv_secbuf **out, struct tv_pki_ctx *ctx,
			 EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain,
			 const char *alias, const char *passphrase,
			 size_t passphrase_len, enum tv_p12_profile profile)
{
	struct S_p12_job job = {.ctx = ctx, .profile = profile, .alias = alias};
	struct tv_secbuf *pass = NULL, *der = NULL;
	PKCS12 *p12 = NULL;
	unsigned char *p;
	enum tv_err rc;
	int len;

	ERR_set_mark();
	rc = tv__writer_inputs_check(key, leaf, chain);
	if (rc)
		goto out;
	rc = TV_ERR_INVALID;
	if (!out || !ctx ||
	    (profile != TV_P12_MODERN && profile != TV_P12_LEGACY) ||
	    (alias && !S_bmp_only(alias)))
		goto out;
	rc = S_pass_dup(&pass, passphrase, passphrase_len);
	if (rc)
		goto out;
	job.pass = pass;
	rc = S_p12_build(&p12, &job, key, leaf, chain);
	if (rc)
		goto out;
	rc = TV_ERR_CRYPTO;
	len = i2d_PKCS12(p12, NULL);
	if (len <= 0)
		goto out;
	rc = tv_secbuf_new(&der, (size_t)len);
	if (rc)
		goto out;
	p = der->p;
	rc = TV_ERR_CRYPTO;
	if (i2d_PKCS12(p12, &p) != len)
		goto out;
	*out = der;
	der = NULL;
	rc = TV_OK;
out:
	ERR_pop_to_mark();
	PKCS12_free(p12);
	tv_secbuf_free(der);
	tv_secbuf_free(pass);
	return rc;
}

/* ---- the PEM zip --------------------------------------------------------- */

/* Code points a file name may keep (the rest become '_'). */
static bool S_name_cp_ok(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
		       (cp >= '0' && cp <= '9') ||
		       (cp && strchr("._-+@=,", (int)cp));
	if (cp < 0xa1 || cp == 0xad || cp == 0x34f || cp == 0x61c ||
	    cp == 0x1680 || cp == 0x180e || cp == 0x3000 || cp == 0xfeff)
		return false; /* C1 controls, spaces, invisible and bidi marks */
	if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
	    (cp >= 0x205f && cp <= 0x206f) || (cp >= 0xfff0 && cp <= 0xffff))
		return false;
	return (cp & 0xfffe) != 0xfffe; /* no noncharacters */
}

void tv_writer_safe_label(char *buf, size_t buf_size, const char *label)
{
	size_t len = label ? strlen(label) : 0, pos = 0, start, n = 0, cap;
	uint32_t cp;
	char c;

	if (!buf || buf_size == 0)
		return;
	cap = buf_size - 1 < TV_WRITER_MAX_LABEL ? buf_size - 1 : TV_WRITER_MAX_LABEL;
	while (pos < len) {
		start = pos;
		cp = 0;
		if (tv__utf8_next((const unsigned char *)label, len, &pos, &cp) ||
		    !S_name_cp_ok(cp))
			c = '_';
		else if (cp == '.' && n && buf[n - 1] == '.')
			c = '_'; /* never ".." */
		else
			c = 0; /* keep the bytes [start, pos) */
		if ((c == '_' && n && buf[n - 1] == '_') ||
		    (n == 0 && (c == '_' || cp == '.' || cp == '-')))
			continue; /* one '_' per run; no leading '.', '_', '-' */
		if (n + (c ? 1 : pos - start) > cap)
			break; /* cut on a character boundary */
		if (c) {
			buf[n++] = c;
		} else {
			memcpy(buf + n, label + start, pos - start);
			n += pos - start;
		}
	}
	while (n && (buf[n - 1] == '.' || buf[n - 1] == '_'))
		n--;
	if (n == 0) {
		n = sizeof(S_FALLBACK_LABEL) - 1;
		memcpy(buf, S_FALLBACK_LABEL, n < cap ? n : cap);
		n = n < cap ? n : cap;
	}
	buf[n] = 0;
}

/* Append cert as PEM to bio, after a blank line unless it is the first. */
static int S_pem_block(BIO *bio, X509 *cert, int first)
{
	return (first || BIO_write(bio, "\n", 1) == 1) &&
	       PEM_write_bio_X509(bio, cert) == 1;
}

/* The leaf's PEM and both chain files. */
static enum tv_err S_chain_pems(BIO *pem[3], X509 *leaf, STACK_OF(X509) *chain)
{
	int i, n = chain ? sk_X509_num(chain) : 0;

	for (i = 0; i < 3; i++) {
		pem[i] = BIO_new(BIO_s_mem());
		if (!pem[i])
			return TV_ERR_NOMEM;
	}
	if (!S_pem_block(pem[0], leaf, 1) || !S_pem_block(pem[2], leaf, 1))
		return TV_ERR_CRYPTO;
	for (i = 0; i < n; i++) /* root-first: the chain reversed, then leaf */
		if (!S_pem_block(pem[1], sk_X509_value(chain, n - 1 - i), i == 0) ||
		    !S_pem_block(pem[2], sk_X509_value(chain, i), 0))
			return TV_ERR_CRYPTO;
	return S_pem_block(pem[1], leaf, n == 0) ? TV_OK : TV_ERR_CRYPTO;
}

/* Add name = data[0..len) to the archive; data must outlive zip_close(). */
static enum tv_err S_zip_add(zip_t *za, const char *label, const char *suffix,
			     const void *data, size_t len)
{
	char name[TV_WRITER_MAX_LABEL + 32];
	zip_source_t *src;

	snprintf(name, sizeof(name), "%s%s", label, suffix);
	src = zip_source_buffer(za, data, len, 0);
	if (!src)
		return TV_ERR_NOMEM;
	if (zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8) < 0) {
		zip_source_free(src);
		return TV_ERR_NOMEM;
	}
	return TV_OK;
}

/* The finished archive's bytes, read back from its buffer source. */
static enum tv_err S_zip_bytes(struct tv_secbuf **out, zip_source_t *src)
{
	struct tv_secbuf *buf = NULL;
	zip_stat_t st;
	enum tv_err rc = TV_ERR_NOMEM;

	if (zip_source_open(src) < 0)
		return rc;
	zip_stat_init(&st);
	if (zip_source_stat(src, &st) < 0 || !(st.valid & ZIP_STAT_SIZE))
		goto out;
	rc = tv_secbuf_new(&buf, (size_t)st.size);
	if (rc)
		goto out;
	rc = TV_ERR_NOMEM;
	if (zip_source_read(src, buf->p, st.size) != (zip_int64_t)st.size)
		goto out;
	*out = buf;
	buf = NULL;
	rc = TV_OK;
out:
	zip_source_close(src);
	tv_secbuf_free(buf);
	return rc;
}

/* The four members, in memory; src keeps the result after zip_close(). */
static enum tv_err S_zip_build(struct tv_secbuf **out, const char *label,
			       const struct tv_secbuf *key_pem, BIO *pem[3])
{
	static const char *const suffix[3] = {".crt", "_root-first.pem",
					      "_root-last.pem"};
	zip_source_t *src;
	zip_t *za = NULL;
	zip_error_t zerr;
	enum tv_err rc = TV_ERR_NOMEM;
	char *data;
	long len;
	int i;

	zip_error_init(&zerr);
	src = zip_source_buffer_create(NULL, 0, 0, &zerr);
	if (!src)
		goto out;
	za = zip_open_from_source(src, ZIP_TRUNCATE, &zerr);
	if (!za)
		goto out; /* src is still ours */
	zip_source_keep(src); /* one reference for za, one for us */
	rc = S_zip_add(za, label, ".key", key_pem->p, key_pem->len);
	for (i = 0; i < 3 && !rc; i++) {
		len = BIO_get_mem_data(pem[i], &data);
		rc = len > 0 ? S_zip_add(za, label, suffix[i], data, (size_t)len)
			     : TV_ERR_CRYPTO;
	}
	if (rc)
		goto out;
	rc = TV_ERR_NOMEM;
	if (zip_close(za) < 0)
		goto out;
	za = NULL;
	rc = S_zip_bytes(out, src);
out:
	if (za)
		zip_discard(za);
	zip_source_free(src);
	zip_error_fini(&zerr);
	return rc;
}

enum tv_err tv_pem_zip_write(struct tv_secbuf **out, struct tv_pki_ctx *ctx,
			     EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain,
			     const char *label, const char *passphrase,
			     size_t passphrase_len)
{
	char safe_label[TV_WRITER_MAX_LABEL + 1];
	struct tv_secbuf *pass = NULL, *key_pem = NULL;
	BIO *pem[3] = {NULL, NULL, NULL};
	enum tv_err rc;
	int i;

	ERR_set_mark();
	rc = tv__writer_inputs_check(key, leaf, chain);
	if (rc)
		goto out;
	rc = TV_ERR_INVALID;
	if (!out || !ctx)
		goto out;
	rc = S_pass_dup(&pass, passphrase, passphrase_len);
	if (rc)
		goto out;
	rc = S_pkcs8_pem(&key_pem, ctx, key, pass);
	if (rc)
		goto out;
	rc = S_chain_pems(pem, leaf, chain);
	if (rc)
		goto out;
	tv_writer_safe_label(safe_label, sizeof(safe_label), label);
	rc = S_zip_build(out, safe_label, key_pem, pem);
out:
	ERR_pop_to_mark();
	for (i = 0; i < 3; i++)
		BIO_free(pem[i]);
	tv_secbuf_free(key_pem);
	tv_secbuf_free(pass);
	return rc;
}
