/*
 * DESIGN: the corpora are made in C with OpenSSL (2,000 `openssl` or
 * `keytool` runs would take minutes) and cached under the build tree, one
 * .p12 a file, so a rerun only reads them and `openssl pkcs12 -info` can
 * inspect any of them. One RSA-2048 root and one intermediate sign every
 * leaf; each keystore holds its leaf, its key and both CA certificates
 * (a 2-certificate chain), and the root is what the bench uploads as the
 * tenant's trusted CA. Leaves draw their keys from a pool of 32 (RSA key
 * generation is the slow part) but every certificate is distinct (its own
 * serial, name and validity), so no item is a duplicate of another.
 *
 * The profiles:
 *  - OpenSSL 3 default (what `openssl pkcs12 -export` writes): certificates
 *    in a PBES2 safe, the key in a PBES2 shrouded bag, both AES-256-CBC with
 *    PBKDF2-HMAC-SHA256 at 2048 iterations and an 8-byte salt, and an
 *    HMAC-SHA256 MAC keyed by the PKCS#12 KDF at 2048 iterations.
 *  - Java keytool (JDK 17 defaults: PBEWithHmacSHA256AndAES_256 for key and
 *    certificates, HmacPBESHA256 for the MAC, 10,000 iterations, 20-byte
 *    salts, PBKDF2 keyLength present), laid out as keytool does: the key
 *    safe (plain data) first, then the encrypted certificate safe, with a
 *    friendlyName and a "Time ..." localKeyId on the key and the leaf.
 *    docs/PERFORMANCE.md records the check against a real keytool file.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define S_CACHE_VERSION "corpus-v1"
#define S_KEY_POOL 32
#define S_SALT_KEYTOOL 20

struct S_profile {
	const char *name, *title;
	bool ec, keytool;
	int iter, mac_iter;
};

static const struct S_profile S_profiles[TVB_PROFILE_COUNT] = {
	[TVB_OPENSSL_RSA] = { "openssl-rsa", "OpenSSL default, RSA-2048", false, false, 2048,
			      2048 },
	[TVB_OPENSSL_EC] = { "openssl-ec", "OpenSSL default, EC P-256", true, false, 2048, 2048 },
	[TVB_KEYTOOL_RSA] = { "keytool-rsa", "keytool, RSA-2048, 10k iter", false, true, 10000,
			      10000 },
};

struct S_ca {
	X509 *root, *inter;
	EVP_PKEY *root_key, *inter_key;
};

struct S_gen {
	const struct S_profile *pf;
	const struct S_ca *ca;
	EVP_PKEY *pool[S_KEY_POOL];
	size_t n_pool;
	const char *dir;
	size_t *missing;
	size_t n_missing;
	atomic_size_t next;
	atomic_int failed;
};

static void S_path(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= size)
		tvb_die("path too long: %s/%s", a, b);
}

static void S_password(char *out, size_t size, const struct S_profile *pf, size_t i)
{
	snprintf(out, size, "bench-%s-%05zu", pf->name, i);
}

/* One X.509v3 extension by its config text, or die. */
static void S_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	if (!e || !X509_add_ext(x, e, -1))
		tvb_die("cannot add extension %s", OBJ_nid2sn(nid));
	X509_EXTENSION_free(e);
}

X509 *tvb_cert_new(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		   long start_days, long days, bool ca, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *bn = BN_new();
	ASN1_INTEGER *serial = NULL;
	X509V3_CTX ctx;

	if (!x || !name || !bn || !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !(serial = BN_to_ASN1_INTEGER(bn, NULL)))
		tvb_die("out of memory making a certificate");
	X509_set_version(x, X509_VERSION_3);
	X509_set_serialNumber(x, serial);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
				   (const unsigned char *)"tlsvault bench", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), start_days * 86400L);
	X509_gmtime_adj(X509_getm_notAfter(x), (start_days + days) * 86400L);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (ca) {
		S_ext(x, &ctx, NID_basic_constraints,
		      issuer ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE");
		S_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		S_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
		S_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		S_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
		S_ext(x, &ctx, NID_subject_alt_name, san);
	}
	S_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (issuer)
		S_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()))
		tvb_die("cannot sign a certificate");
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_NAME_free(name);
	return x;
}

static void S_write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	if (!b || (cert && !PEM_write_bio_X509(b, cert)) ||
	    (key && !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)))
		tvb_die("cannot encode %s", path);
	n = BIO_get_mem_data(b, &p);
	tvb_write_file(path, p, (size_t)n, 0600);
	BIO_free(b);
}

static void S_ca_load(struct S_ca *ca, const char *dir)
{
	const char *names[4] = { "root.crt.pem", "root.key.pem", "inter.crt.pem", "inter.key.pem" };
	char path[4][1100];
	FILE *f;
	int i;

	memset(ca, 0, sizeof(*ca));
	for (i = 0; i < 4; i++)
		S_path(path[i], sizeof(path[i]), dir, names[i]);
	if (access(path[3], R_OK) != 0) {
		tvb_note("making the corpus CA (RSA-2048 root and intermediate) in %s", dir);
		ca->root_key = EVP_RSA_gen(2048);
		ca->inter_key = EVP_RSA_gen(2048);
		if (!ca->root_key || !ca->inter_key)
			tvb_die("cannot generate the CA keys");
		ca->root = tvb_cert_new(ca->root_key, "tlsvault bench root", NULL, NULL, -1, 3650,
				       true, NULL);
		ca->inter = tvb_cert_new(ca->inter_key, "tlsvault bench intermediate", ca->root,
					 ca->root_key, -1, 3000, true, NULL);
		S_write_pem(path[0], ca->root, NULL);
		S_write_pem(path[1], NULL, ca->root_key);
		S_write_pem(path[2], ca->inter, NULL);
		S_write_pem(path[3], NULL, ca->inter_key); /* last: it marks completion */
		return;
	}
	for (i = 0; i < 4; i++) {
		f = fopen(path[i], "r");
		if (!f)
			tvb_die("cannot read %s", path[i]);
		if (i == 0)
			ca->root = PEM_read_X509(f, NULL, NULL, NULL);
		else if (i == 1)
			ca->root_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		else if (i == 2)
			ca->inter = PEM_read_X509(f, NULL, NULL, NULL);
		else
			ca->inter_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!ca->root || !ca->root_key || !ca->inter || !ca->inter_key)
		tvb_die("the corpus CA in %s is unreadable; delete that directory", dir);
}

static void S_ca_release(struct S_ca *ca)
{
	X509_free(ca->root);
	X509_free(ca->inter);
	EVP_PKEY_free(ca->root_key);
	EVP_PKEY_free(ca->inter_key);
}

/* keytool's PBES2 AlgorithmIdentifier: PBKDF2-HMAC-SHA256 with a 20-byte
 * salt and an explicit keyLength of 32, AES-256-CBC. */
static X509_ALGOR *S_keytool_alg(int iter)
{
	X509_ALGOR *alg = PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), iter, NULL, S_SALT_KEYTOOL,
					       NULL, NID_hmacWithSHA256, NULL);
	PBE2PARAM *p2 = NULL;
	PBKDF2PARAM *kdf = NULL;

	if (alg)
		p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
	if (p2)
		kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
						p2->keyfunc->parameter);
	if (!kdf || !(kdf->keylength = ASN1_INTEGER_new()) ||
	    !ASN1_INTEGER_set(kdf->keylength, 32) ||
	    !ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), kdf, &p2->keyfunc->parameter) ||
	    !ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBE2PARAM), p2, &alg->parameter))
		tvb_die("cannot make the keytool PBES2 parameters");
	PBKDF2PARAM_free(kdf);
	PBE2PARAM_free(p2);
	return alg;
}

/* A keystore laid out as keytool writes it. */
static PKCS12 *S_keytool_p12(const char *pass, const char *alias, EVP_PKEY *key, X509 *leaf,
			     const struct S_ca *ca, int iter, int mac_iter)
{
	STACK_OF(PKCS12_SAFEBAG) *kbags = sk_PKCS12_SAFEBAG_new_null();
	STACK_OF(PKCS12_SAFEBAG) *cbags = sk_PKCS12_SAFEBAG_new_null();
	STACK_OF(PKCS7) *safes = sk_PKCS7_new_null();
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	X509_ALGOR *kalg = S_keytool_alg(iter), *calg = S_keytool_alg(iter);
	X509 *certs[3] = { leaf, ca->inter, ca->root };
	char lkid[48];
	PKCS12_SAFEBAG *bag;
	X509_SIG *sig;
	PKCS7 *p7;
	PKCS12 *p12;
	int i, n;

	n = snprintf(lkid, sizeof(lkid), "Time %lld", (long long)time(NULL) * 1000);
	if (!kbags || !cbags || !safes || !p8 || n <= 0)
		tvb_die("out of memory making a keytool keystore");
	sig = PKCS8_set0_pbe_ex(pass, -1, p8, kalg, NULL, NULL);
	PKCS8_PRIV_KEY_INFO_free(p8);
	bag = sig ? PKCS12_SAFEBAG_create0_pkcs8(sig) : NULL;
	if (!bag || !PKCS12_add_friendlyname_asc(bag, alias, -1) ||
	    !PKCS12_add_localkeyid(bag, (unsigned char *)lkid, n) ||
	    !sk_PKCS12_SAFEBAG_push(kbags, bag))
		tvb_die("cannot make the shrouded key bag");
	for (i = 0; i < 3; i++) {
		bag = PKCS12_SAFEBAG_create_cert(certs[i]);
		if (!bag || (i == 0 && (!PKCS12_add_friendlyname_asc(bag, alias, -1) ||
					!PKCS12_add_localkeyid(bag, (unsigned char *)lkid, n))) ||
		    !sk_PKCS12_SAFEBAG_push(cbags, bag))
			tvb_die("cannot make a certificate bag");
	}
	p7 = PKCS12_pack_p7data(kbags);
	if (!p7 || !sk_PKCS7_push(safes, p7))
		tvb_die("cannot pack the key safe");
	p7 = PKCS7_new();
	if (!p7 || !PKCS7_set_type(p7, NID_pkcs7_encrypted))
		tvb_die("cannot make the certificate safe");
	X509_ALGOR_free(p7->d.encrypted->enc_data->algorithm);
	p7->d.encrypted->enc_data->algorithm = calg;
	ASN1_OCTET_STRING_free(p7->d.encrypted->enc_data->enc_data);
	p7->d.encrypted->enc_data->enc_data = PKCS12_item_i2d_encrypt_ex(
		calg, ASN1_ITEM_rptr(PKCS12_SAFEBAGS), pass, -1, cbags, 1, NULL, NULL);
	if (!p7->d.encrypted->enc_data->enc_data || !sk_PKCS7_push(safes, p7))
		tvb_die("cannot encrypt the certificate safe");
	p12 = PKCS12_add_safes(safes, 0);
	if (!p12 || !PKCS12_set_mac(p12, pass, -1, NULL, S_SALT_KEYTOOL, mac_iter, EVP_sha256()))
		tvb_die("cannot finish the keytool keystore");
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_PKCS12_SAFEBAG_pop_free(kbags, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(cbags, PKCS12_SAFEBAG_free);
	return p12;
}

/* Keystore i of the profile, written to its file. */
static void S_make_one(struct S_gen *g, size_t i)
{
	const struct S_profile *pf = g->pf;
	char cn[96], san[128], pass[40], file[32], path[1100];
	EVP_PKEY *key = g->pool[i % g->n_pool];
	STACK_OF(X509) *chain = sk_X509_new_null();
	unsigned char *der = NULL;
	X509 *leaf;
	PKCS12 *p12;
	int len;

	snprintf(cn, sizeof(cn), "leaf-%05zu.%s.bench.test", i, pf->name);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	S_password(pass, sizeof(pass), pf, i);
	/* validity 30 days to 3 years, so the inventory has spread */
	leaf = tvb_cert_new(key, cn, g->ca->inter, g->ca->inter_key, -1,
			    30 + (long)((i * 7919) % 1066), false, san);
	if (!chain || !sk_X509_push(chain, g->ca->inter) || !sk_X509_push(chain, g->ca->root))
		tvb_die("out of memory");
	if (pf->keytool) {
		p12 = S_keytool_p12(pass, "leaf", key, leaf, g->ca, pf->iter, pf->mac_iter);
	} else {
		/* what `openssl pkcs12 -export` writes: PKCS12_create's AES-256
		 * PBES2 defaults, and the CLI's SHA-256 MAC at 2048 iterations
		 * (PKCS12_create alone would use 1 MAC iteration) */
		p12 = PKCS12_create_ex(pass, "leaf", key, leaf, chain, 0, 0, pf->iter, -1, 0, NULL,
				       NULL);
		if (p12 &&
		    !PKCS12_set_mac(p12, pass, -1, NULL, 0, pf->mac_iter, EVP_sha256()))
			tvb_die("cannot set the MAC");
	}
	if (!p12 || (len = i2d_PKCS12(p12, &der)) <= 0)
		tvb_die("cannot make keystore %zu of %s", i, pf->name);
	snprintf(file, sizeof(file), "%05zu.p12", i);
	S_path(path, sizeof(path), g->dir, file);
	tvb_write_file(path, der, (size_t)len, 0644);
	OPENSSL_free(der);
	PKCS12_free(p12);
	sk_X509_free(chain);
	X509_free(leaf);
}

static void *S_gen_thread(void *arg)
{
	struct S_gen *g = arg;
	size_t k;

	while ((k = atomic_fetch_add(&g->next, 1)) < g->n_missing)
		S_make_one(g, g->missing[k]);
	return NULL;
}

static void S_generate(struct S_gen *g, unsigned threads)
{
	pthread_t th[16];
	unsigned i, n = threads > 16 ? 16 : threads ? threads : 1;
	double t0 = tvb_now();

	g->n_pool = g->n_missing < S_KEY_POOL ? g->n_missing : S_KEY_POOL;
	tvb_note("generating %zu %s keystores (%zu keys in the pool)", g->n_missing, g->pf->name,
		 g->n_pool);
	for (i = 0; i < g->n_pool; i++) {
		g->pool[i] = g->pf->ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
		if (!g->pool[i])
			tvb_die("cannot generate a key");
	}
	atomic_store(&g->next, 0);
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, S_gen_thread, g) != 0)
			tvb_die("cannot start a generator thread");
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < g->n_pool; i++)
		EVP_PKEY_free(g->pool[i]);
	tvb_note("generated %zu keystores in %.1f s", g->n_missing, tvb_now() - t0);
}

/* The MAC of a cached keystore must be the profile's: a stale cache of
 * another profile would silently measure something else. */
static void S_check_profile(const struct tvb_keystore *ks, const struct S_profile *pf)
{
	const unsigned char *p = ks->der;
	const ASN1_INTEGER *iter = NULL;
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *md = NULL;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)ks->len);

	if (p12)
		PKCS12_get0_mac(NULL, &alg, NULL, &iter, p12);
	if (alg)
		X509_ALGOR_get0(&md, NULL, NULL, alg);
	if (!p12 || !iter || ASN1_INTEGER_get(iter) != pf->mac_iter || !md ||
	    OBJ_obj2nid(md) != NID_sha256)
		tvb_die("the cached %s corpus is not the expected profile; delete the cache",
			pf->name);
	PKCS12_free(p12);
}

void tvb_corpus_load(struct tvb_corpus *c, const struct tvb_cfg *cfg, enum tvb_profile p,
		     size_t n)
{
	const struct S_profile *pf = &S_profiles[p];
	char base[1024], cadir[1100], dir[1100], file[32], path[1200];
	struct S_gen g;
	struct S_ca ca;
	BIO *b;
	char *pem = NULL;
	size_t i;
	long pem_len;

	memset(c, 0, sizeof(*c));
	memset(&g, 0, sizeof(g));
	S_path(base, sizeof(base), cfg->cache_dir, S_CACHE_VERSION);
	S_path(cadir, sizeof(cadir), base, "ca");
	S_path(dir, sizeof(dir), base, pf->name);
	tvb_mkdirs(cadir);
	tvb_mkdirs(dir);
	S_ca_load(&ca, cadir);
	g.missing = calloc(n ? n : 1, sizeof(*g.missing));
	c->ks = calloc(n ? n : 1, sizeof(*c->ks));
	if (!g.missing || !c->ks)
		tvb_die("out of memory");
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%05zu.p12", i);
		S_path(path, sizeof(path), dir, file);
		if (access(path, R_OK) != 0)
			g.missing[g.n_missing++] = i;
	}
	if (g.n_missing) {
		g.pf = pf;
		g.ca = &ca;
		g.dir = dir;
		S_generate(&g, cfg->cores);
	}
	free(g.missing);
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%05zu.p12", i);
		S_path(path, sizeof(path), dir, file);
		c->ks[i].der = tvb_read_file(path, &c->ks[i].len);
		if (!c->ks[i].der || c->ks[i].len == 0)
			tvb_die("cannot read %s", path);
		S_password(c->ks[i].password, sizeof(c->ks[i].password), pf, i);
	}
	if (n)
		S_check_profile(&c->ks[0], pf);
	b = BIO_new(BIO_s_mem());
	if (!b || !PEM_write_bio_X509(b, ca.root))
		tvb_die("cannot encode the root");
	pem_len = BIO_get_mem_data(b, &pem);
	c->root_pem = strndup(pem, (size_t)pem_len);
	BIO_free(b);
	c->root = X509_dup(ca.root);
	if (!c->root_pem || !c->root)
		tvb_die("out of memory");
	S_ca_release(&ca);
	c->profile = p;
	c->name = pf->name;
	c->title = pf->title;
	c->n = n;
	/* the MAC's PKCS#12 KDF, then one PBKDF2 for the certificate safe and
	 * one for the key bag (one 32-byte output block each) */
	c->kdf_compressions = (uint64_t)pf->mac_iter + 2u * (2u * (uint64_t)pf->iter);
}

void tvb_corpus_release(struct tvb_corpus *c)
{
	size_t i;

	for (i = 0; c->ks && i < c->n; i++)
		free(c->ks[i].der);
	free(c->ks);
	free(c->root_pem);
	X509_free(c->root);
	memset(c, 0, sizeof(*c));
}
