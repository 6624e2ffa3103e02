/*
 * pbe.h - password-based encryption for the pki readers (internal to
 * src/pki; the tv__ prefix marks it as shared between pki files only).
 *
 * DESIGN: the readers first *identify* an AlgorithmIdentifier (which scheme,
 * cipher, PRF, salt, IV, iteration count), checking the iteration count
 * against the caller's cap, and only then *run* it. Identification never
 * runs a KDF, so a hostile count is refused at the price of a DER decode.
 *
 * Passwords are held in two encodings, both in sodium_malloc memory: the
 * UTF-8 bytes the caller gave (PBKDF2 in PBES2 and PBMAC1 takes them as they
 * are) and the BMPString of RFC 7292 B.1 (big-endian UTF-16 with a two-byte
 * NUL terminator) that the PKCS#12 KDF takes. The absent (NULL) password is
 * zero bytes in both; the empty one is zero bytes of UTF-8 and 00 00 of
 * BMPString. Derived keys, IVs and plaintext are also secbufs, wiped on
 * every path.
 *
 * Threads: every function here is reentrant; a struct tv__pbe or tv__pass is
 * used by one thread at a time.
 */
#ifndef TV_PKI_PBE_H
#define TV_PKI_PBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "core/secmem.h"
#include "pki/pki.h"
#include "pki/reason.h"

/** Passwords longer than this are refused (INVALID_ITEM). */
#define TV__MAX_PASSWORD_BYTES 4096

struct tv__kdf_pre;

/** One password in both encodings. */
struct tv__pass {
	bool absent;            /* the NULL password, not the empty string */
	struct tv_secbuf *utf8; /* the bytes as given; len 0 if absent/empty */
	struct tv_secbuf *bmp;  /* BMPString + 00 00; len 0 if absent */
	/* derivations run ahead for this password (borrowed, may be NULL):
	 * tv__kdf_pkcs12 and tv__kdf_pbkdf2 take their result from here */
	const struct tv__kdf_pre *pre;
};

/**
 * The passwords to try, in order: the given one; or, when the caller gave
 * the empty password, "" then absent; when it gave none (NULL), absent then
 * "" (OpenSSL's PKCS12_parse tries both as well). Release with
 * tv__pass_list_release() on every path (also after a failure).
 */
struct tv__pass_list {
	struct tv__pass pass[2];
	size_t count;
};

/**
 * Fill list from the caller's password (UTF-8, password_len bytes; NULL =
 * absent). Non-UTF-8 bytes are taken as Latin-1 for the BMPString, as
 * OpenSSL does. Returns OK, INVALID_ITEM (over TV__MAX_PASSWORD_BYTES) or
 * INTERNAL_ERROR (out of secure memory). The message never holds password
 * bytes.
 */
enum tv_reason tv__pass_list_init(struct tv__pass_list *list,
				  const char *password, size_t password_len,
				  char *msg, size_t msz) TV_WUR;
void tv__pass_list_release(struct tv__pass_list *list);

/**
 * Read an iteration count (NULL ai = dflt) and check it against cap. what
 * names the use in messages ("MAC", "PBKDF2 of the shrouded key bag").
 * Returns OK, MALFORMED_KEYSTORE (zero or negative) or
 * ITERATION_LIMIT_EXCEEDED (message gives both numbers).
 */
enum tv_reason tv__iter_get(uint64_t *out, const ASN1_INTEGER *ai,
			    uint64_t dflt, uint64_t cap, const char *what,
			    char *msg, size_t msz) TV_WUR;

/** "name (dotted OID)" of obj into buf; returns buf. */
const char *tv__oid_name(char *buf, size_t size, const ASN1_OBJECT *obj);

/** Digest name ("SHA256") of an hmacWithSHA* PRF OID, or NULL. */
const char *tv__hmac_digest(const ASN1_OBJECT *prf);

/**
 * PKCS#12 KDF (RFC 7292 appendix B) with digest md ("SHA1", "SHA256"...)
 * over the BMPString password: n bytes of purpose id (1 key, 2 IV, 3 MAC)
 * into out. Returns OK or INTERNAL_ERROR.
 */
enum tv_reason tv__kdf_pkcs12(unsigned char *out, size_t n,
			      struct tv_pki_ctx *ctx, const char *md,
			      const struct tv__pass *pw,
			      const unsigned char *salt, size_t salt_len,
			      int id, uint64_t iter, char *msg,
			      size_t msz) TV_WUR;

/** PBKDF2 (RFC 8018) with HMAC-md over the UTF-8 password. */
enum tv_reason tv__kdf_pbkdf2(unsigned char *out, size_t n,
			      struct tv_pki_ctx *ctx, const char *md,
			      const struct tv__pass *pw,
			      const unsigned char *salt, size_t salt_len,
			      uint64_t iter, char *msg, size_t msz) TV_WUR;

/*
 * The KDFs of a read, run ahead as one batch (kdf.h: SHA-256 chains side
 * by side). The reader plans every derivation it can see before the MAC
 * check (tv__kdf_pre_add, through tv__mac_kdf_plan and tv__pbe_kdf_plan),
 * runs them (tv__kdf_pre_run), and the KDF calls of the walk then find
 * their result here by their parameters: kind, digest, salt bytes,
 * iteration count, purpose id and length. A derivation that was not
 * planned, or that the batch refused, is run as before, so its outcome and
 * message are the same. The results live in one secbuf, wiped by
 * tv__kdf_pre_release. Iteration counts must have passed the cap before
 * they are added (identification does that).
 */
#define TV__KDF_PRE_MAX 16

struct tv__kdf_pre_entry {
	bool pbkdf2;       /* else the PKCS#12 KDF */
	bool ok;           /* the batch derived it */
	const char *md;    /* a static name ("SHA256") */
	size_t salt_off;   /* into salts */
	size_t salt_len;
	uint64_t iter;
	int id;            /* PKCS#12 KDF purpose; 0 for PBKDF2 */
	size_t n;
	size_t out_off;    /* into out */
};

struct tv__kdf_pre {
	const struct tv__pass *pw; /* the password the results are for */
	struct tv__kdf_pre_entry e[TV__KDF_PRE_MAX];
	size_t count;
	unsigned char *salts;      /* copies: the decodes they came from go */
	size_t salts_len, salts_cap;
	struct tv_secbuf *out;     /* every result, back to back */
};

/** An empty plan. */
void tv__kdf_pre_init(struct tv__kdf_pre *pre);

/** Wipe and free the results; pre is empty again. Safe on an empty one. */
void tv__kdf_pre_release(struct tv__kdf_pre *pre);

/**
 * Plan one derivation (duplicates are kept once). A digest kdf.c doesn't
 * run, or a full plan, leaves it to the walk (not an error). Returns false
 * only when out of memory.
 */
bool tv__kdf_pre_add(struct tv__kdf_pre *pre, bool pbkdf2, const char *md,
		     const unsigned char *salt, size_t salt_len,
		     uint64_t iter, int id, size_t n) TV_WUR;

/**
 * Run the plan for pw as one batch (one span of the KDF timing phase) and
 * point pw->pre at it. Returns false when out of secure memory: then
 * nothing is planned any more and pw->pre is unchanged.
 */
bool tv__kdf_pre_run(struct tv__kdf_pre *pre, struct tv_pki_ctx *ctx,
		     struct tv__pass *pw) TV_WUR;

enum tv__pbe_scheme { TV__PBE_PKCS12, TV__PBE_PBES2 };

/** An identified encryption scheme; the decoded parameters it points into. */
struct tv__pbe {
	enum tv__pbe_scheme scheme;
	const char *cipher;   /* EVP_CIPHER_fetch name, "AES-256-CBC" */
	const char *label;    /* for messages, "PBES2/PBKDF2-SHA256/AES-256-CBC" */
	const char *kdf_md;   /* "SHA1" (PKCS#12 PBE) or the PBKDF2 PRF digest */
	size_t key_len;
	size_t iv_len;
	uint64_t iter;
	const unsigned char *salt;
	size_t salt_len;
	const unsigned char *iv; /* PBES2 only; iv_len bytes */
	PBEPARAM *pbe_param;     /* owned decodes; salt/iv point into them */
	PBE2PARAM *pbe2_param;
	PBKDF2PARAM *kdf_param;
};

/**
 * Identify alg (PBES2 with PBKDF2 and AES-CBC, or the PKCS#12 PBEs with
 * 3DES, RC2-128, RC2-40) and check its iteration count against max_iter.
 * what names the protected thing in messages. Returns OK,
 * UNSUPPORTED_ALGORITHM (message names the OID), MALFORMED_KEYSTORE or
 * ITERATION_LIMIT_EXCEEDED. Release pbe with tv__pbe_release() on every
 * path (it is safe on a zeroed or half-filled struct).
 */
enum tv_reason tv__pbe_identify(struct tv__pbe *pbe, const X509_ALGOR *alg,
				uint64_t max_iter, const char *what,
				char *msg, size_t msz) TV_WUR;
void tv__pbe_release(struct tv__pbe *pbe);

/** Plan the derivations tv__pbe_decrypt will run for pbe (key, and the IV
 * of the PKCS#12 PBEs). Returns false only when out of memory. */
bool tv__pbe_kdf_plan(struct tv__kdf_pre *pre,
		      const struct tv__pbe *pbe) TV_WUR;

/**
 * Decrypt ct with an identified scheme and one password. On success *plain
 * is a new secbuf with the plaintext (caller frees). Returns OK,
 * DECRYPTION_FAILED (bad padding: wrong password or corrupted data),
 * UNSUPPORTED_ALGORITHM (a provider lacks the cipher) or INTERNAL_ERROR.
 */
enum tv_reason tv__pbe_decrypt(struct tv_secbuf **plain,
			       struct tv_pki_ctx *ctx,
			       const struct tv__pbe *pbe,
			       const struct tv__pass *pw,
			       const unsigned char *ct, size_t ct_len,
			       const char *what, char *msg,
			       size_t msz) TV_WUR;

#endif
