/*
 * DESIGN: why the reader walks PKCS#12 itself instead of PKCS12_parse():
 * PKCS12_parse returns one key, hides why it failed, can't cap iteration
 * counts and refuses PBMAC1. So the walk is ours, built on OpenSSL's ASN.1
 * types (d2i_PKCS12, PKCS12_unpack_authsafes, PKCS12_unpack_p7data, safe
 * bags) with the cryptography in pbe.c and mac.c.
 *
 * The order of the checks is the contract (docs/internals/pkcs12.md):
 *   size cap -> DER parse -> MAC identification + iteration cap -> MAC verify
 *   (HMAC or PBMAC1) -> authsafes -> per encrypted object: identification +
 *   iteration cap -> decrypt -> collect keys and certs -> pairing -> key type.
 * Each step can fail with exactly one reason, and an earlier step never
 * depends on a later one, so the reason names the first thing wrong.
 *
 * The MAC needs the exact authSafe content octets, which OpenSSL 3.0 keeps
 * inside the opaque PKCS12 and doesn't expose. A shadow ASN.1 template of
 * the PFX (version, PKCS7, MacData) decodes the same bytes a second time to
 * reach them; both decodes must succeed, so they agree on the structure.
 *
 * Password candidates: with a MAC the first candidate whose MAC verifies is
 * used for the bags; without one each candidate gets a full read, and only
 * DECRYPTION_FAILED moves on to the next.
 */
#include "pki/p12.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>

#include "pki/certcache.h"
#include "pki/der.h"
#include "pki/keyfacts.h"
#include "pki/mac.h"
#include "pki/pbe.h"
#include "pki/timing.h"
#include "pki/x509_int.h"

/* Nesting of safeContentsBag, and bags in all: far beyond real files. */
#define S_MAX_BAG_DEPTH 4
#define S_MAX_BAGS 1024

typedef struct {
	ASN1_INTEGER *version;
	PKCS7 *authsafe;
	PKCS12_MAC_DATA *mac;
} TV_PFX;

ASN1_SEQUENCE(TV_PFX) = {
	ASN1_SIMPLE(TV_PFX, version, ASN1_INTEGER),
	ASN1_SIMPLE(TV_PFX, authsafe, PKCS7),
	ASN1_OPT(TV_PFX, mac, PKCS12_MAC_DATA),
} static_ASN1_SEQUENCE_END(TV_PFX)

struct S_key {
	struct tv_secbuf *pkcs8; /* PrivateKeyInfo DER */
	struct tv__key_facts facts; /* kind TV__KEY_SLOW: key decoded at once */
	EVP_PKEY *key;           /* NULL until something needs it */
	ASN1_OCTET_STRING *local_key_id;
	char *name;
};

struct S_cert {
	X509 *cert;          /* NULL until needed when der is set */
	unsigned char *der;  /* owned copy of a certificate not yet decoded */
	size_t der_len;
	struct tv__cert_glance glance; /* its spans (into der), when der is set */
	ASN1_OCTET_STRING *local_key_id;
	char *name;
	bool used;
	bool keyed;  /* key is the SHA-256 of exactly the DER cert came from */
	bool cached; /* cert came from the CA cache */
	struct tv__cert_key key;
};

/* One read of the bags with one password. */
struct S_walk {
	struct tv_pki_ctx *ctx;
	const struct tv__pass *pw;
	const struct tv_p12_limits *lim;
	uint64_t max_iter;
	struct S_key *keys;
	size_t key_count, key_cap;
	struct S_cert *certs;
	size_t cert_count, cert_cap;
	size_t bag_count;
	uint64_t lazy_ns; /* time of keys decoded while pairing */
	char *msg;
	size_t msz;
};

void tv__limits_resolve(struct tv_p12_limits *out,
			const struct tv_p12_limits *in)
{
	out->max_iterations = in && in->max_iterations ?
		in->max_iterations : TV_P12_DEFAULT_MAX_ITERATIONS;
	out->max_keystore_bytes = in && in->max_keystore_bytes ?
		in->max_keystore_bytes : TV_P12_DEFAULT_MAX_KEYSTORE_BYTES;
	out->max_sans = in && in->max_sans ? in->max_sans : TV_P12_DEFAULT_MAX_SANS;
	out->max_key_bits = in && in->max_key_bits ? in->max_key_bits :
		TV_P12_DEFAULT_MAX_KEY_BITS;
}

enum tv_reason tv__input_check(struct tv_p12_limits *lim, const struct tv_p12_limits *limits,
			       const void *out, const void *ctx, const void *in, size_t len,
			       size_t len_max, const char *what, char *msg, size_t msg_size)
{
	if (msg && msg_size)
		msg[0] = '\0';
	if (!out || !ctx || (!in && len))
		return tv__fail(msg, msg_size, TV_REASON_INTERNAL_ERROR, "%s: bad arguments",
				what);
	tv__limits_resolve(lim, limits);
	if (len > lim->max_keystore_bytes)
		return tv__fail(msg, msg_size, TV_REASON_KEYSTORE_TOO_LARGE,
				"%s of %zu bytes is over the limit of %zu", what, len,
				lim->max_keystore_bytes);
	if (len == 0 || len > len_max)
		return tv__fail(msg, msg_size, TV_REASON_MALFORMED_KEYSTORE, "%s is empty", what);
	return TV_REASON_OK;
}

enum tv_reason tv__contents_new(struct tv_p12_contents **out, struct tv_pki_ctx *ctx,
				size_t pair_count, char *msg, size_t msz)
{
	struct tv_p12_contents *c = calloc(1, sizeof(*c));

	if (c)
		c->pairs = calloc(pair_count ? pair_count : 1, sizeof(*c->pairs));
	if (c && c->pairs)
		c->chain_candidates = sk_X509_new_null();
	if (!c || !c->pairs || !c->chain_candidates) {
		tv_p12_contents_free(c);
		return tv__fail(msg, msz, TV_REASON_INTERNAL_ERROR,
				"out of memory");
	}
	c->pair_count = pair_count;
	c->ctx = ctx;
	*out = c;
	return TV_REASON_OK;
}

void tv_p12_contents_free(struct tv_p12_contents *contents)
{
	size_t i;

	if (!contents)
		return;
	for (i = 0; contents->pairs && i < contents->pair_count; i++) {
		EVP_PKEY_free(contents->pairs[i].decoded_key);
		tv_secbuf_free(contents->pairs[i].pkcs8);
		X509_free(contents->pairs[i].decoded_cert);
		free(contents->pairs[i].cert_der);
		OPENSSL_free(contents->pairs[i].friendly_name);
	}
	free(contents->pairs);
	sk_X509_pop_free(contents->chain_candidates, X509_free);
	free(contents);
}

/* An EVP_PKEY from PKCS#8 DER: OK, or the reason tv__key_from_p8 gives. */
static enum tv_reason S_decode_key(EVP_PKEY **out, struct tv_pki_ctx *ctx,
				   const struct tv_secbuf *der, unsigned max_key_bits, char *msg,
				   size_t msz)
{
	const unsigned char *p = der->p;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der->len);
	enum tv_reason rc;

	if (!p8)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"private key is not a PrivateKeyInfo");
	rc = tv__key_from_p8(out, ctx, p8, max_key_bits, msg, msz);
	PKCS8_PRIV_KEY_INFO_free(p8); /* cleanses the key octets */
	return rc;
}

EVP_PKEY *tv_p12_pair_key(struct tv_p12_contents *contents, size_t i)
{
	struct tv_p12_pair *pair;
	EVP_PKEY *key = NULL;

	if (!contents || i >= contents->pair_count)
		return NULL;
	pair = &contents->pairs[i];
	if (!pair->decoded_key && pair->pkcs8) {
		ERR_set_mark();
		/* the read applied its cap already */
		if (S_decode_key(&key, contents->ctx, pair->pkcs8, UINT_MAX, NULL, 0) ==
		    TV_REASON_OK)
			pair->decoded_key = key;
		ERR_pop_to_mark();
	}
	return pair->decoded_key;
}

X509 *tv_p12_pair_cert(struct tv_p12_contents *contents, size_t i)
{
	struct tv_p12_pair *pair;
	X509 *cert = NULL;
	size_t used = 0;

	if (!contents || i >= contents->pair_count)
		return NULL;
	pair = &contents->pairs[i];
	if (!pair->decoded_cert && pair->cert_der) {
		ERR_set_mark();
		if (tv__cert_decode(&cert, &used, contents->ctx, pair->cert_der,
				    pair->cert_der_len, NULL, 0) == TV_REASON_OK) {
			if (used == pair->cert_der_len)
				pair->decoded_cert = cert;
			else
				X509_free(cert);
		}
		ERR_pop_to_mark();
	}
	return pair->decoded_cert;
}

static void S_walk_release(struct S_walk *w)
{
	size_t i;

	for (i = 0; i < w->key_count; i++) {
		EVP_PKEY_free(w->keys[i].key);
		tv_secbuf_free(w->keys[i].pkcs8);
		ASN1_OCTET_STRING_free(w->keys[i].local_key_id);
		OPENSSL_free(w->keys[i].name);
	}
	for (i = 0; i < w->cert_count; i++) {
		X509_free(w->certs[i].cert);
		free(w->certs[i].der);
		ASN1_OCTET_STRING_free(w->certs[i].local_key_id);
		OPENSSL_free(w->certs[i].name);
	}
	free(w->keys);
	free(w->certs);
	w->keys = NULL;
	w->certs = NULL;
	w->key_count = w->cert_count = 0;
}

/* Grow an array of elem-sized items to hold one more. */
static bool S_grow(void **arr, size_t *cap, size_t count, size_t elem)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 4;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return false;
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*arr = p;
	*cap = ncap;
	return true;
}

/* A bag's localKeyId (copied) and friendlyName (UTF-8, allocated). */
static enum tv_reason S_bag_attrs(ASN1_OCTET_STRING **lkid, char **name,
				  const PKCS12_SAFEBAG *bag, struct S_walk *w)
{
	const ASN1_TYPE *id = PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID);

	*lkid = NULL;
	*name = NULL;
	if (id && id->type == V_ASN1_OCTET_STRING) {
		*lkid = ASN1_OCTET_STRING_dup(id->value.octet_string);
		if (!*lkid)
			return tv__fail(w->msg, w->msz, TV_REASON_INTERNAL_ERROR,
					"out of memory");
	}
	/* PKCS12_get_friendlyname doesn't modify the bag; its API isn't const */
	*name = PKCS12_get_friendlyname((PKCS12_SAFEBAG *)bag);
	return TV_REASON_OK;
}

/*
 * A key bag's key. *der (PrivateKeyInfo DER, taken over) is read for the
 * fast facts; a form keyfacts.c doesn't read is decoded with OpenSSL now,
 * as it always was, and its PKCS#8 will be OpenSSL's encoding of it (what
 * the importer sealed before the fast path existed). Either way an RSA key
 * over the cap is refused here, before any RSA operation.
 */
static enum tv_reason S_add_key(struct S_walk *w, const PKCS12_SAFEBAG *bag,
				struct tv_secbuf **der, const PKCS8_PRIV_KEY_INFO *p8,
				const struct tv__key_facts *facts)
{
	struct S_key k, *slot;
	enum tv_reason rc = TV_REASON_OK;
	uint64_t t0;

	memset(&k, 0, sizeof(k));
	if (facts) {
		k.facts = *facts;
	} else if (*der) {
		t0 = tv__timing_begin(w->ctx);
		(void)tv__key_facts_read(&k.facts, (*der)->p, (*der)->len);
		tv__timing_end(w->ctx, TV_PKI_PHASE_KEY_DECODE, t0, 0);
	}
	if (k.facts.kind == TV__KEY_RSA) {
		rc = tv__rsa_bits_check(k.facts.bits, w->lim->max_key_bits, true, w->msg, w->msz);
	} else if (k.facts.kind == TV__KEY_SLOW) {
		/* its PKCS#8 is encoded once it has paired and passed the
		 * key-type check (S_pair), so the reasons stay the same */
		rc = tv__key_from_p8(&k.key, w->ctx, p8, w->lim->max_key_bits, w->msg, w->msz);
	}
	if (!rc && k.facts.kind != TV__KEY_SLOW) {
		k.pkcs8 = *der;
		*der = NULL;
	}
	if (!rc && !S_grow((void **)&w->keys, &w->key_cap, w->key_count, sizeof(*w->keys)))
		rc = tv__fail(w->msg, w->msz, TV_REASON_INTERNAL_ERROR, "out of memory");
	if (rc) {
		EVP_PKEY_free(k.key);
		tv_secbuf_free(k.pkcs8);
		return rc;
	}
	slot = &w->keys[w->key_count++];
	*slot = k;
	return S_bag_attrs(&slot->local_key_id, &slot->name, bag, w);
}

/* A plain keyBag: its PrivateKeyInfo's DER, in secret memory. */
static enum tv_reason S_add_plain_key(struct S_walk *w, const PKCS12_SAFEBAG *bag)
{
	const PKCS8_PRIV_KEY_INFO *p8 = PKCS12_SAFEBAG_get0_p8inf(bag);
	struct tv_secbuf *der = NULL;
	unsigned char *p;
	enum tv_reason rc;
	int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;

	if (len > 0 && tv_secbuf_new(&der, (size_t)len) == TV_OK) {
		p = der->p;
		if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != len) {
			tv_secbuf_free(der);
			der = NULL;
		}
	}
	rc = S_add_key(w, bag, &der, p8, NULL);
	tv_secbuf_free(der);
	return rc;
}

static enum tv_reason S_add_shrouded_key(struct S_walk *w,
					 const PKCS12_SAFEBAG *bag)
{
	const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
	const X509_ALGOR *alg = NULL;
	const ASN1_OCTET_STRING *ct = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	struct tv_secbuf *plain = NULL;
	struct tv__key_facts facts;
	struct tv__pbe pbe;
	const unsigned char *p;
	enum tv_reason rc;
	uint64_t t0;
	bool fast;

	memset(&pbe, 0, sizeof(pbe));
	if (!sig) {
		rc = tv__fail(w->msg, w->msz, TV_REASON_MALFORMED_KEYSTORE,
			      "shrouded key bag holds no EncryptedPrivateKeyInfo");
		goto out;
	}
	X509_SIG_get0(sig, &alg, &ct);
	rc = tv__pbe_identify(&pbe, alg, w->max_iter, "shrouded key bag",
			      w->msg, w->msz);
	if (rc)
		goto out;
	rc = tv__pbe_decrypt(&plain, w->ctx, &pbe, w->pw,
			     ASN1_STRING_get0_data(ct),
			     (size_t)ASN1_STRING_length(ct), "shrouded key bag",
			     w->msg, w->msz);
	if (rc)
		goto out;
	/* a plain RSA or EC form is a PrivateKeyInfo by construction; any
	 * other plaintext must decode as one (else: a wrong password whose
	 * padding happened to check out) */
	t0 = tv__timing_begin(w->ctx);
	fast = tv__key_facts_read(&facts, plain->p, plain->len);
	tv__timing_end(w->ctx, TV_PKI_PHASE_KEY_DECODE, t0, 0);
	if (!fast) {
		p = plain->p;
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)plain->len);
		if (!p8 || p != plain->p + plain->len) {
			rc = tv__fail(w->msg, w->msz, TV_REASON_DECRYPTION_FAILED,
				      "shrouded key bag decrypted to garbage "
				      "(wrong password or corrupted data)");
			goto out;
		}
	}
	rc = S_add_key(w, bag, &plain, p8, &facts);
out:
	PKCS8_PRIV_KEY_INFO_free(p8); /* cleanses the key octets */
	tv_secbuf_free(plain);
	tv__pbe_release(&pbe);
	return rc;
}

/*
 * The octets of a certBag's certValue, found in the bag's own encoding:
 * SafeBag ::= SEQUENCE { bagId, [0] EXPLICIT CertBag, attributes }, CertBag
 * ::= SEQUENCE { certId, [0] EXPLICIT OCTET STRING }. OpenSSL 3.0 has no
 * accessor for them (PKCS12_SAFEBAG_get1_cert decodes, in the default
 * library context), and the encoding of a decoded bag is cheap to make.
 */
static bool S_certbag_octets(struct tv__der *octets, const unsigned char *bag_der,
			     size_t bag_len)
{
	struct tv__der cur = { bag_der, bag_len }, bag, value, certbag, explicit;

	return tv__der_get(&cur, TV__DER_SEQUENCE, &bag, NULL) &&
	       tv__der_get(&bag, TV__DER_OID, NULL, NULL) &&
	       tv__der_get(&bag, TV__DER_CTX0, &value, NULL) &&
	       tv__der_get(&value, TV__DER_SEQUENCE, &certbag, NULL) &&
	       tv__der_get(&certbag, TV__DER_OID, NULL, NULL) &&
	       tv__der_get(&certbag, TV__DER_CTX0, &explicit, NULL) &&
	       tv__der_get(&explicit, TV__DER_OCTET_STRING, octets, NULL);
}

/*
 * A certBag's certificate, decoded once, in our library context; or, for a
 * certificate an earlier read found to be a CA's, the cached X509 decoded
 * from the same bytes. Bytes after the certificate inside the OCTET STRING
 * are ignored, as PKCS12_SAFEBAG_get1_cert ignores them.
 */
static enum tv_reason S_cert_of_bag(struct S_cert *c, struct S_walk *w,
				    const PKCS12_SAFEBAG *bag)
{
	unsigned char *bag_der = NULL;
	struct tv__der octets, cur, whole = { NULL, 0 };
	enum tv_reason rc = TV_REASON_OK;
	size_t used = 0;
	int len;

	len = i2d_PKCS12_SAFEBAG((PKCS12_SAFEBAG *)bag, &bag_der); /* not modified */
	if (len <= 0 || !S_certbag_octets(&octets, bag_der, (size_t)len)) {
		rc = tv__fail(w->msg, w->msz, TV_REASON_MALFORMED_KEYSTORE,
			      "certificate bag holds no valid X.509 certificate");
		goto out;
	}
	cur = octets;
	c->keyed = tv__der_get(&cur, TV__DER_SEQUENCE, NULL, &whole);
	if (c->keyed) {
		tv__cert_key_of(&c->key, whole.p, whole.len);
		c->cert = tv__cert_cache_get(tv__pki_ca_cache(w->ctx), &c->key);
		c->cached = c->cert != NULL;
	}
	if (!c->cert && c->keyed && tv__cert_glance(&c->glance, whole.p, whole.len)) {
		/* decoded when something needs the X509 (S_cert_need): a leaf
		 * on the import path never does */
		c->der = malloc(whole.len);
		if (!c->der) {
			rc = tv__fail(w->msg, w->msz, TV_REASON_INTERNAL_ERROR, "out of memory");
			goto out;
		}
		memcpy(c->der, whole.p, whole.len);
		c->der_len = whole.len;
		c->glance.spki_alg.p = c->der + (c->glance.spki_alg.p - whole.p);
		c->glance.spki_key.p = c->der + (c->glance.spki_key.p - whole.p);
	} else if (!c->cert) {
		rc = tv__cert_decode(&c->cert, &used, w->ctx, octets.p, octets.len, w->msg,
				     w->msz);
		if (!rc && c->keyed && used != whole.len)
			c->keyed = false; /* not plain DER: decoded, never cached */
	}
out:
	OPENSSL_free(bag_der);
	return rc;
}

static enum tv_reason S_add_cert(struct S_walk *w, const PKCS12_SAFEBAG *bag)
{
	struct S_cert c, *slot;
	enum tv_reason rc;
	uint64_t t0;

	if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate)
		return TV_REASON_OK; /* SDSI certificates: not ours to judge */
	memset(&c, 0, sizeof(c));
	t0 = tv__timing_begin(w->ctx);
	rc = S_cert_of_bag(&c, w, bag);
	tv__timing_end(w->ctx, TV_PKI_PHASE_CERT_DECODE, t0, 0);
	if (!rc)
		rc = c.cert ? tv__cert_sans_check(c.cert, w->lim->max_sans, w->msg, w->msz)
			    : tv__sans_cap_check(c.glance.n_sans, w->lim->max_sans, w->msg,
						 w->msz);
	if (!rc && !S_grow((void **)&w->certs, &w->cert_cap, w->cert_count, sizeof(*w->certs)))
		rc = tv__fail(w->msg, w->msz, TV_REASON_INTERNAL_ERROR, "out of memory");
	if (rc) {
		X509_free(c.cert);
		free(c.der);
		return rc;
	}
	slot = &w->certs[w->cert_count++];
	*slot = c;
	return S_bag_attrs(&slot->local_key_id, &slot->name, bag, w);
}

static enum tv_reason S_walk_bags(struct S_walk *w,
				  const STACK_OF(PKCS12_SAFEBAG) *bags,
				  int depth)
{
	const PKCS12_SAFEBAG *bag;
	enum tv_reason rc = TV_REASON_OK;
	int i;

	if (depth > S_MAX_BAG_DEPTH)
		return tv__fail(w->msg, w->msz, TV_REASON_MALFORMED_KEYSTORE,
				"safe contents nested deeper than %d",
				S_MAX_BAG_DEPTH);
	for (i = 0; !rc && i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		bag = sk_PKCS12_SAFEBAG_value(bags, i);
		if (++w->bag_count > S_MAX_BAGS)
			return tv__fail(w->msg, w->msz,
					TV_REASON_MALFORMED_KEYSTORE,
					"more than %d safe bags", S_MAX_BAGS);
		switch (PKCS12_SAFEBAG_get_nid(bag)) {
		case NID_keyBag:
			rc = S_add_plain_key(w, bag);
			break;
		case NID_pkcs8ShroudedKeyBag:
			rc = S_add_shrouded_key(w, bag);
			break;
		case NID_certBag:
			rc = S_add_cert(w, bag);
			break;
		case NID_safeContentsBag:
			rc = S_walk_bags(w, PKCS12_SAFEBAG_get0_safes(bag),
					 depth + 1);
			break;
		default: /* crlBag, secretBag, unknown: not needed */
			break;
		}
	}
	return rc;
}

/* An encryptedData authsafe: identify, decrypt, decode the bags, walk them. */
static enum tv_reason S_walk_encrypted(struct S_walk *w, const PKCS7 *p7)
{
	const PKCS7_ENC_CONTENT *ec = p7->d.encrypted ?
		p7->d.encrypted->enc_data : NULL;
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	struct tv_secbuf *plain = NULL;
	struct tv__pbe pbe;
	const unsigned char *p;
	enum tv_reason rc;

	memset(&pbe, 0, sizeof(pbe));
	if (!ec || !ec->enc_data) {
		rc = tv__fail(w->msg, w->msz, TV_REASON_MALFORMED_KEYSTORE,
			      "encrypted safe has no content");
		goto out;
	}
	rc = tv__pbe_identify(&pbe, ec->algorithm, w->max_iter,
			      "encrypted safe", w->msg, w->msz);
	if (rc)
		goto out;
	rc = tv__pbe_decrypt(&plain, w->ctx, &pbe, w->pw,
			     ASN1_STRING_get0_data(ec->enc_data),
			     (size_t)ASN1_STRING_length(ec->enc_data),
			     "encrypted safe", w->msg, w->msz);
	if (rc)
		goto out;
	p = plain->p;
	bags = (STACK_OF(PKCS12_SAFEBAG) *)ASN1_item_d2i(
		NULL, &p, (long)plain->len, ASN1_ITEM_rptr(PKCS12_SAFEBAGS));
	if (!bags || p != plain->p + plain->len) {
		rc = tv__fail(w->msg, w->msz, TV_REASON_DECRYPTION_FAILED,
			      "encrypted safe decrypted to garbage "
			      "(wrong password or corrupted data)");
		goto out;
	}
	rc = S_walk_bags(w, bags, 0);
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	tv_secbuf_free(plain);
	tv__pbe_release(&pbe);
	return rc;
}

static enum tv_reason S_walk_authsafes(struct S_walk *w, const PKCS12 *p12)
{
	STACK_OF(PKCS7) *safes;
	STACK_OF(PKCS12_SAFEBAG) *bags;
	const PKCS7 *p7;
	char name[128];
	enum tv_reason rc = TV_REASON_OK;
	int i;

	safes = PKCS12_unpack_authsafes(p12);
	if (!safes)
		return tv__fail(w->msg, w->msz, TV_REASON_MALFORMED_KEYSTORE,
				"authenticated safe is not a sequence of ContentInfo");
	for (i = 0; !rc && i < sk_PKCS7_num(safes); i++) {
		p7 = sk_PKCS7_value(safes, i);
		switch (OBJ_obj2nid(p7->type)) {
		case NID_pkcs7_data:
			bags = PKCS12_unpack_p7data((PKCS7 *)p7);
			if (!bags) {
				rc = tv__fail(w->msg, w->msz,
					      TV_REASON_MALFORMED_KEYSTORE,
					      "safe contents do not decode");
				break;
			}
			rc = S_walk_bags(w, bags, 0);
			sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
			break;
		case NID_pkcs7_encrypted:
			rc = S_walk_encrypted(w, p7);
			break;
		default: /* envelopedData: public-key privacy mode */
			rc = tv__fail(w->msg, w->msz,
				      TV_REASON_UNSUPPORTED_ALGORITHM,
				      "safe of content type %s is not supported "
				      "(only data and encryptedData)",
				      tv__oid_name(name, sizeof(name), p7->type));
		}
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return rc;
}

/* ---- the KDFs, run ahead -------------------------------------------------- */

/*
 * Plan the derivations of the shrouded key bags in bags and in the
 * safeContentsBags under them. False when one doesn't identify or a limit
 * of the walk is hit: the walk finds that itself and says it in its order,
 * and nothing is run ahead.
 */
static bool S_plan_bags(struct tv__kdf_pre *pre, const STACK_OF(PKCS12_SAFEBAG) *bags,
			uint64_t max_iter, int depth, size_t *count)
{
	char scratch[TV_REASON_MSG_SIZE];
	const PKCS12_SAFEBAG *bag;
	const X509_SIG *sig;
	const X509_ALGOR *alg = NULL;
	const ASN1_OCTET_STRING *ct = NULL;
	struct tv__pbe pbe;
	bool ok = true;
	int i;

	if (depth > S_MAX_BAG_DEPTH)
		return false;
	for (i = 0; ok && i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		bag = sk_PKCS12_SAFEBAG_value(bags, i);
		if (++*count > S_MAX_BAGS)
			return false;
		switch (PKCS12_SAFEBAG_get_nid(bag)) {
		case NID_pkcs8ShroudedKeyBag:
			sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
			if (!sig)
				return false;
			X509_SIG_get0(sig, &alg, &ct);
			ok = tv__pbe_identify(&pbe, alg, max_iter, "shrouded key bag", scratch,
					      sizeof(scratch)) == TV_REASON_OK &&
			     tv__pbe_kdf_plan(pre, &pbe);
			tv__pbe_release(&pbe);
			break;
		case NID_safeContentsBag:
			ok = S_plan_bags(pre, PKCS12_SAFEBAG_get0_safes(bag), max_iter, depth + 1,
					 count);
			break;
		default:
			break;
		}
	}
	return ok;
}

/* The key of an encryptedData authsafe, planned; false as above. */
static bool S_plan_encrypted(struct tv__kdf_pre *pre, const PKCS7 *p7, uint64_t max_iter)
{
	const PKCS7_ENC_CONTENT *ec = p7->d.encrypted ? p7->d.encrypted->enc_data : NULL;
	char scratch[TV_REASON_MSG_SIZE];
	struct tv__pbe pbe;
	bool ok;

	if (!ec || !ec->enc_data)
		return false;
	ok = tv__pbe_identify(&pbe, ec->algorithm, max_iter, "encrypted safe", scratch,
			      sizeof(scratch)) == TV_REASON_OK &&
	     tv__pbe_kdf_plan(pre, &pbe);
	tv__pbe_release(&pbe);
	return ok;
}

/*
 * Before any KDF runs: every derivation the read will need for pw that is
 * visible without decrypting (the MAC key when mac is given, each
 * encrypted safe's key, each shrouded key bag's key outside encrypted
 * safes) is identified, its iteration count checked against the cap, and
 * all of them run as one batch (kdf.h: SHA-256 chains side by side). The
 * walk then takes their results by parameters (pbe.h); a bag inside an
 * encrypted safe is derived when the walk gets there, as before. If
 * anything here doesn't decode or identify, nothing is run ahead and the
 * read goes exactly as it did, failing where it failed.
 */
static void S_run_kdfs_ahead(struct tv__kdf_pre *pre, struct tv_pki_ctx *ctx,
			     const PKCS12 *p12, const struct tv__mac *mac,
			     struct tv__pass *pw, uint64_t max_iter)
{
	STACK_OF(PKCS7) *safes = NULL;
	STACK_OF(PKCS12_SAFEBAG) *bags;
	const PKCS7 *p7;
	size_t count = 0;
	bool ok;
	int i;

	tv__kdf_pre_init(pre);
	ok = !mac || tv__mac_kdf_plan(pre, mac);
	if (ok)
		safes = PKCS12_unpack_authsafes(p12);
	ok = ok && safes;
	for (i = 0; ok && i < sk_PKCS7_num(safes); i++) {
		p7 = sk_PKCS7_value(safes, i);
		switch (OBJ_obj2nid(p7->type)) {
		case NID_pkcs7_data:
			bags = PKCS12_unpack_p7data((PKCS7 *)p7);
			ok = bags && S_plan_bags(pre, bags, max_iter, 0, &count);
			sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
			break;
		case NID_pkcs7_encrypted:
			ok = S_plan_encrypted(pre, p7, max_iter);
			break;
		default:
			ok = false;
		}
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	if (!ok || !tv__kdf_pre_run(pre, ctx, pw))
		tv__kdf_pre_release(pre);
}

/* ---- pairing ------------------------------------------------------------ */

/* c's X509, decoded now if the read left it to the DER: OK or why not. */
static enum tv_reason S_cert_need(struct S_walk *w, struct S_cert *c)
{
	enum tv_reason rc;
	size_t used = 0;
	uint64_t t0;

	if (c->cert)
		return TV_REASON_OK;
	t0 = tv__timing_begin(w->ctx);
	rc = tv__cert_decode(&c->cert, &used, w->ctx, c->der, c->der_len, w->msg, w->msz);
	if (!rc && used != c->der_len) {
		/* not what tv__cert_glance promised: the bytes are refused */
		X509_free(c->cert);
		c->cert = NULL;
		rc = tv__fail(w->msg, w->msz, TV_REASON_MALFORMED_KEYSTORE,
			      "certificate bag holds no valid X.509 certificate");
	}
	tv__timing_end(w->ctx, TV_PKI_PHASE_CERT_DECODE, t0, 0);
	return rc;
}

static const char *S_subject(char *buf, size_t size, struct S_walk *w, struct S_cert *c)
{
	char msg[TV_REASON_MSG_SIZE];
	struct S_walk quiet = *w;

	quiet.msg = msg; /* a failure here keeps the pairing's message */
	quiet.msz = sizeof(msg);
	if (S_cert_need(&quiet, c) != TV_REASON_OK) {
		snprintf(buf, size, "?");
		return buf;
	}
	X509_NAME_oneline(X509_get_subject_name(c->cert), buf, (int)size);
	return buf;
}

/* k's EVP_PKEY, decoded now if the fast path had none: OK or why not. */
static enum tv_reason S_key_need(struct S_walk *w, struct S_key *k)
{
	enum tv_reason rc;
	uint64_t t0;

	if (k->key)
		return TV_REASON_OK;
	t0 = tv__timing_begin(w->ctx);
	rc = S_decode_key(&k->key, w->ctx, k->pkcs8, w->lim->max_key_bits, w->msg, w->msz);
	w->lazy_ns += tv__timing_since(t0); /* counted as key decoding */
	return rc;
}

/*
 * Whether cert has k's public key: from the bytes where they tell
 * (keyfacts.h), else with OpenSSL (which decodes the key). 1 or 0; *rc is
 * set when the key had to be decoded and didn't.
 */
static int S_matches(struct S_walk *w, struct S_key *k, struct S_cert *c, enum tv_reason *rc)
{
	int eq = c->cert ? tv__key_facts_match(&k->facts, c->cert)
			 : tv__key_facts_match_spki(&k->facts, &c->glance.spki_alg,
						    &c->glance.spki_key, c->glance.key_decodes);

	if (eq >= 0)
		return eq;
	if (!c->cert) {
		*rc = S_cert_need(w, c);
		if (*rc)
			return 0;
		eq = tv__key_facts_match(&k->facts, c->cert);
		if (eq >= 0)
			return eq;
	}
	*rc = S_key_need(w, k);
	return *rc ? 0 : tv_pki_key_matches_cert(k->key, c->cert);
}

/*
 * The certificate of key k, or why there is none: its localKeyId names a
 * certificate with another key (MISMATCH); no certificate at all
 * (NO_CERTIFICATE); certificates, none of them its (MISMATCH).
 */
static enum tv_reason S_find_cert_of(size_t *found, struct S_walk *w, struct S_key *k)
{
	enum tv_reason rc = TV_REASON_OK;
	char subject[128];
	size_t i;

	for (i = 0; k->local_key_id && i < w->cert_count; i++) {
		if (!w->certs[i].local_key_id ||
		    ASN1_OCTET_STRING_cmp(w->certs[i].local_key_id,
					  k->local_key_id) != 0)
			continue;
		if (!S_matches(w, k, &w->certs[i], &rc))
			return rc ? rc : tv__fail(w->msg, w->msz,
					TV_REASON_KEY_CERTIFICATE_MISMATCH,
					"private key is not the key of certificate "
					"\"%.100s\" that its localKeyId names",
					S_subject(subject, sizeof(subject), w,
						  &w->certs[i]));
		*found = i;
		return TV_REASON_OK;
	}
	for (i = 0; i < w->cert_count; i++) {
		if (!w->certs[i].used && S_matches(w, k, &w->certs[i], &rc)) {
			*found = i;
			return TV_REASON_OK;
		}
		if (rc)
			return rc;
	}
	if (w->cert_count == 0)
		return tv__fail(w->msg, w->msz, TV_REASON_NO_CERTIFICATE,
				"keystore holds a private key and no certificate");
	return tv__fail(w->msg, w->msz, TV_REASON_KEY_CERTIFICATE_MISMATCH,
			"private key matches none of the %zu certificate(s)%s",
			w->cert_count, w->key_count > 1 ? " left for it" : "");
}

/*
 * A key that pairs with nothing may be one OpenSSL can't decode (an EC
 * point off its curve): before the fast path, that was found when its bag
 * was read, and said as MALFORMED_KEYSTORE. Decoding it now keeps that
 * reason; a key that decodes keeps the pairing's.
 */
static enum tv_reason S_find_cert(size_t *found, struct S_walk *w, struct S_key *k)
{
	enum tv_reason rc = S_find_cert_of(found, w, k), why;

	if (rc == TV_REASON_KEY_CERTIFICATE_MISMATCH || rc == TV_REASON_NO_CERTIFICATE) {
		why = S_key_need(w, k);
		if (why)
			return why;
		/* the message of the pairing's failure was overwritten by
		 * nothing: a successful decode leaves msg alone */
	}
	return rc;
}

/* The key-type policy for k, from its facts or its EVP_PKEY. */
static enum tv_reason S_key_check(struct S_walk *w, struct S_key *k)
{
	if (k->facts.kind == TV__KEY_RSA)
		return tv__rsa_bits_check(k->facts.bits, w->lim->max_key_bits, false, w->msg,
					  w->msz);
	if (k->facts.kind == TV__KEY_EC)
		return TV_REASON_OK; /* P-256, P-384 or P-521, named */
	return tv_pki_key_check(k->key, w->lim->max_key_bits, w->msg, w->msz);
}

/* pair's certificate from c: a copy of its DER (or the encoding of the
 * X509 decoded at once) and the X509 when there is one (up-referenced);
 * c stays whole, as a later key's localKeyId may name it too. */
static enum tv_reason S_pair_cert(struct tv_p12_pair *pair, struct S_cert *c, struct S_walk *w)
{
	if (c->der) {
		pair->cert_der = malloc(c->der_len);
		if (pair->cert_der) {
			memcpy(pair->cert_der, c->der, c->der_len);
			pair->cert_der_len = c->der_len;
		}
	} else if (tv_cert_der(&pair->cert_der, &pair->cert_der_len, c->cert) != TV_OK) {
		pair->cert_der = NULL;
	}
	if (!pair->cert_der || (c->cert && !X509_up_ref(c->cert)))
		return tv__fail(w->msg, w->msz, TV_REASON_INTERNAL_ERROR, "out of memory");
	pair->decoded_cert = c->cert;
	return TV_REASON_OK;
}

/* Move the walk's keys and certificates into a new contents. */
static enum tv_reason S_pair(struct tv_p12_contents **out, struct S_walk *w)
{
	struct tv_p12_contents *c = NULL;
	struct tv_p12_pair *pair;
	size_t i, j = 0;
	enum tv_reason rc;
	uint64_t t0, lazy_ns;

	if (w->key_count == 0)
		return tv__fail(w->msg, w->msz, TV_REASON_NO_PRIVATE_KEY,
				"keystore holds %zu certificate(s) and no private key",
				w->cert_count);
	rc = tv__contents_new(&c, w->ctx, w->key_count, w->msg, w->msz);
	for (i = 0; !rc && i < w->key_count; i++) {
		t0 = tv__timing_begin(w->ctx);
		lazy_ns = w->lazy_ns;
		rc = S_find_cert(&j, w, &w->keys[i]);
		/* a key decoded on the way counts as key decoding */
		tv__timing_end(w->ctx, TV_PKI_PHASE_PAIRING, t0, w->lazy_ns - lazy_ns);
		if (rc)
			break;
		w->certs[j].used = true;
		pair = &c->pairs[i];
		pair->friendly_name = w->keys[i].name ? w->keys[i].name :
			w->certs[j].name;
		if (w->keys[i].name)
			w->keys[i].name = NULL;
		else
			w->certs[j].name = NULL;
		rc = S_pair_cert(pair, &w->certs[j], w);
	}
	t0 = tv__timing_begin(w->ctx);
	for (i = 0; !rc && i < w->key_count; i++)
		rc = S_key_check(w, &w->keys[i]);
	tv__timing_end(w->ctx, TV_PKI_PHASE_PAIRING, t0, 0);
	for (i = 0; !rc && i < w->key_count; i++) {
		if (!w->keys[i].pkcs8 && tv_pki_key_to_pkcs8(&w->keys[i].pkcs8, w->keys[i].key))
			rc = tv__fail(w->msg, w->msz, TV_REASON_INTERNAL_ERROR,
				      "the private key could not be encoded as PKCS#8");
	}
	for (i = 0; !rc && i < w->key_count; i++) {
		c->pairs[i].decoded_key = w->keys[i].key;
		c->pairs[i].pkcs8 = w->keys[i].pkcs8;
		w->keys[i].key = NULL;
		w->keys[i].pkcs8 = NULL;
	}
	for (i = 0; !rc && i < w->cert_count; i++) {
		if (w->certs[i].used)
			continue;
		/* a CA certificate: decoded once, then served from the cache */
		rc = S_cert_need(w, &w->certs[i]);
		if (rc)
			break;
		if (!sk_X509_push(c->chain_candidates, w->certs[i].cert)) {
			rc = tv__fail(w->msg, w->msz, TV_REASON_INTERNAL_ERROR,
				      "out of memory");
			break;
		}
		/* a certificate that is no key's is a CA certificate: later
		 * keystores of the same organisation hold it again */
		if (w->certs[i].keyed && !w->certs[i].cached)
			tv__cert_cache_put(tv__pki_ca_cache(w->ctx), &w->certs[i].key,
					   w->certs[i].cert);
		w->certs[i].cert = NULL;
	}
	if (rc) {
		tv_p12_contents_free(c);
		return rc;
	}
	*out = c;
	return TV_REASON_OK;
}

/* ---- the read ----------------------------------------------------------- */

/* Bags with one password, then pairing. */
static enum tv_reason S_read_with(struct tv_p12_contents **out,
				  struct tv_pki_ctx *ctx, const PKCS12 *p12,
				  const struct tv__pass *pw,
				  const struct tv_p12_limits *lim,
				  char *msg, size_t msz)
{
	struct S_walk w;
	enum tv_reason rc;

	memset(&w, 0, sizeof(w));
	w.ctx = ctx;
	w.pw = pw;
	w.lim = lim;
	w.max_iter = lim->max_iterations;
	w.msg = msg;
	w.msz = msz;
	rc = S_walk_authsafes(&w, p12);
	if (!rc)
		rc = S_pair(out, &w);
	S_walk_release(&w);
	return rc;
}

/* DER decode, version, and the authSafe content octets the MAC covers. */
static enum tv_reason S_decode(PKCS12 **p12, TV_PFX **pfx,
			       const unsigned char *der, size_t der_len,
			       char *msg, size_t msz)
{
	const unsigned char *p = der;
	char name[128];
	long version;

	*p12 = d2i_PKCS12(NULL, &p, (long)der_len);
	if (!*p12)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"not a DER PKCS#12 keystore, or truncated");
	/* Bytes after the PFX are not part of it (no MAC covers them) and are
	 * ignored, as OpenSSL, Java and Windows do: refusing a file every
	 * other consumer opens helps nobody (the differential fuzz target
	 * found this). */
	der_len = (size_t)(p - der);
	p = der;
	*pfx = (TV_PFX *)ASN1_item_d2i(NULL, &p, (long)der_len,
				       ASN1_ITEM_rptr(TV_PFX));
	if (!*pfx || !(*pfx)->authsafe)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"not a DER PKCS#12 keystore");
	version = ASN1_INTEGER_get((*pfx)->version);
	if (version != 3)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"PKCS#12 version %ld is not 3", version);
	if (OBJ_obj2nid((*pfx)->authsafe->type) == NID_pkcs7_signed)
		return tv__fail(msg, msz, TV_REASON_UNSUPPORTED_ALGORITHM,
				"public-key integrity mode (signedData) is not supported");
	if (!PKCS7_type_is_data((*pfx)->authsafe) || !(*pfx)->authsafe->d.data)
		return tv__fail(msg, msz, TV_REASON_MALFORMED_KEYSTORE,
				"authenticated safe of type %s is not data",
				tv__oid_name(name, sizeof(name),
					     (*pfx)->authsafe->type));
	return TV_REASON_OK;
}

/* With a MAC: the first candidate that verifies, or MAC_VERIFICATION_FAILED. */
static enum tv_reason S_pick_by_mac(const struct tv__pass **chosen,
				    const struct tv__mac *mac,
				    struct tv_pki_ctx *ctx,
				    const struct tv__pass_list *pws,
				    const ASN1_OCTET_STRING *content,
				    char *msg, size_t msz)
{
	enum tv_reason rc = TV_REASON_MAC_VERIFICATION_FAILED;
	size_t i;

	for (i = 0; i < pws->count; i++) {
		rc = tv__mac_verify(mac, ctx, &pws->pass[i],
				    ASN1_STRING_get0_data(content),
				    (size_t)ASN1_STRING_length(content), msg, msz);
		if (rc != TV_REASON_MAC_VERIFICATION_FAILED)
			break;
	}
	if (!rc)
		*chosen = &pws->pass[i];
	return rc;
}

static enum tv_reason S_read(struct tv_p12_contents **out,
			     struct tv_pki_ctx *ctx, const unsigned char *der,
			     size_t der_len, const char *password,
			     size_t password_len,
			     const struct tv_p12_limits *lim, char *msg,
			     size_t msz)
{
	struct tv__pass_list pws;
	const struct tv__pass *pw = NULL;
	struct tv__kdf_pre pre;
	struct tv__mac mac;
	PKCS12 *p12 = NULL;
	TV_PFX *pfx = NULL;
	enum tv_reason rc;
	size_t i;

	memset(&pws, 0, sizeof(pws));
	memset(&mac, 0, sizeof(mac));
	tv__kdf_pre_init(&pre);
	rc = S_decode(&p12, &pfx, der, der_len, msg, msz);
	if (rc)
		goto out;
	rc = tv__mac_identify(&mac, p12, lim->max_iterations, msg, msz);
	if (rc)
		goto out;
	rc = tv__pass_list_init(&pws, password, password_len, msg, msz);
	if (rc)
		goto out;
	if (mac.present) {
		/* the bags' KDFs run with the MAC's, for the first candidate;
		 * nothing is decrypted before the MAC verifies */
		S_run_kdfs_ahead(&pre, ctx, p12, &mac, &pws.pass[0], lim->max_iterations);
		rc = S_pick_by_mac(&pw, &mac, ctx, &pws,
				   pfx->authsafe->d.data, msg, msz);
		if (!rc)
			rc = S_read_with(out, ctx, p12, pw, lim, msg, msz);
		goto out;
	}
	for (i = 0; i < pws.count; i++) {
		S_run_kdfs_ahead(&pre, ctx, p12, NULL, &pws.pass[i], lim->max_iterations);
		rc = S_read_with(out, ctx, p12, &pws.pass[i], lim, msg, msz);
		pws.pass[i].pre = NULL;
		tv__kdf_pre_release(&pre);
		if (rc != TV_REASON_DECRYPTION_FAILED)
			break;
	}
out:
	tv__kdf_pre_release(&pre);
	tv__pass_list_release(&pws);
	tv__mac_release(&mac);
	ASN1_item_free((ASN1_VALUE *)pfx, ASN1_ITEM_rptr(TV_PFX));
	PKCS12_free(p12);
	return rc;
}

enum tv_reason tv_p12_read(struct tv_p12_contents **out,
			   struct tv_pki_ctx *ctx,
			   const unsigned char *der, size_t der_len,
			   const char *password, size_t password_len,
			   const struct tv_p12_limits *limits,
			   char *msg, size_t msg_size)
{
	struct tv_p12_limits lim;
	enum tv_reason rc;

	rc = tv__input_check(&lim, limits, out, ctx, der, der_len, LONG_MAX, "keystore", msg,
			     msg_size);
	if (rc)
		return rc;
	ERR_set_mark();
	rc = S_read(out, ctx, der, der_len, password, password_len, &lim, msg,
		    msg_size);
	ERR_pop_to_mark(); /* leave the thread's error queue as we found it */
	if (!rc && msg && msg_size)
		msg[0] = '\0';
	return rc;
}
