/*
 * Integration tests of private-key import (issue 4): trusted CAs, jobs,
 * workers, results, dedupe, crash safety and secret hygiene, through HTTP.
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/secmem.h"
#include "core/util.h"
#include "dek/dek.h"
#include "importing.h"
#include "store/store.h"
#include "svc/keyring.h"

#define PASS "fixture-pass"
#define UTF8_PASS "p\xc3\xa4ssw\xc3\xb6rd-\xe5\xaf\x86\xe7\xa0\x81" /* pässwörd-密码 */

static const char *S_str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	if (!v)
		fail_msg("missing string field '%s'", k);
	return v;
}

/* An item: the keystore file, and its password sealed (NULL = no password). */
static json_t *S_p12_item(const unsigned char pk[32], const char *path, const char *pw)
{
	char *ks = tvh_file_b64(path), *sealed = pw ? tvh_seal_b64(pk, pw, strlen(pw)) : NULL;
	json_t *o = json_pack("{s:s}", "pkcs12Keystore", ks);

	if (sealed)
		json_object_set_new(o, "dekEncryptedPassword", json_string(sealed));
	free(ks);
	free(sealed);
	return o;
}

/* The reason code of a result (the text before the colon). */
static void S_expect(json_t *job, int index, const char *status, const char *code)
{
	json_t *r = tvh_result(job, index);
	const char *reason;

	if (!r)
		fail_msg("no result for item %d", index);
	reason = S_str(r, "reason");
	if (strcmp(S_str(r, "status"), status) ||
	    (code ? strncmp(reason, code, strlen(code)) : reason[0] != '\0'))
		fail_msg("item %d: got %s '%s', want %s %s", index, S_str(r, "status"), reason,
			 status, code ? code : "(no reason)");
}

/* The result's fingerprint is the SHA-1 of its certificateBytes (client side). */
static void S_check_fingerprint(json_t *r)
{
	unsigned char der[16384], md[20];
	char fp[41];
	size_t n = 0;
	const char *b = S_str(r, "certificateBytes");

	assert_int_equal(tv_b64_decode_to(der, sizeof(der), &n, b, strlen(b)), TV_OK);
	assert_true(n > 100);
	{
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		unsigned int l = 0;
		EVP_DigestInit_ex(c, EVP_sha1(), NULL);
		EVP_DigestUpdate(c, der, n);
		EVP_DigestFinal_ex(c, md, &l);
		EVP_MD_CTX_free(c);
	}
	tv_hex_upper(fp, md, 20);
	assert_string_equal(fp, S_str(r, "fingerprint"));
}

/* Open the stored key of certificate id with the vault's own keys; it must
 * be the private key of the stored certificate. */
static void S_check_stored_key(const struct tvh_server *s, const char *cert_id)
{
	struct tv_secbuf *master = NULL, *p8 = NULL;
	struct tv_store *store = NULL;
	struct tv_keyring *kr = NULL;
	char path[300], url[300], dek[64] = "", tenant[64] = "";
	unsigned char *sealed = NULL, *der = NULL;
	int sealed_len = 0, der_len = 0;
	const unsigned char *p;
	sqlite3_stmt *st;
	EVP_PKEY *key;
	sqlite3 *db;
	X509 *cert;

	snprintf(path, sizeof(path), "%s/tlsvault.db", s->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT sealed_key, der, dek_id, tenant_id"
						" FROM certificates WHERE id = ?", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, cert_id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	sealed_len = sqlite3_column_bytes(st, 0);
	sealed = malloc((size_t)sealed_len);
	memcpy(sealed, sqlite3_column_blob(st, 0), (size_t)sealed_len);
	der_len = sqlite3_column_bytes(st, 1);
	der = malloc((size_t)der_len);
	memcpy(der, sqlite3_column_blob(st, 1), (size_t)der_len);
	snprintf(dek, sizeof(dek), "%s", (const char *)sqlite3_column_text(st, 2));
	snprintf(tenant, sizeof(tenant), "%s", (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_string_equal(dek, s->key_id);

	snprintf(path, sizeof(path), "%s/master.key", s->dir);
	snprintf(url, sizeof(url), "sqlite:%s/tlsvault.db", s->dir);
	assert_int_equal(tv_master_load(&master, path), TV_OK);
	assert_int_equal(tv_store_open(&store, url, false), TV_OK);
	assert_int_equal(tv_keyring_new(&kr, store, master), TV_OK);
	assert_int_equal(tv_keyring_unseal(kr, &p8, tenant, dek, sealed, (size_t)sealed_len), TV_OK);
	p = p8->p;
	key = d2i_AutoPrivateKey(NULL, &p, (long)p8->len);
	assert_non_null(key);
	p = der;
	cert = d2i_X509(NULL, &p, der_len);
	assert_non_null(cert);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	EVP_PKEY_free(key);
	X509_free(cert);
	tv_secbuf_free(p8);
	tv_keyring_free(kr);
	tv_store_close(store);
	tv_secbuf_free(master);
	free(sealed);
	free(der);
}

static int S_count(const struct tvh_server *s, const char *sql)
{
	char path[300];
	sqlite3_stmt *st;
	sqlite3 *db;
	int n;

	snprintf(path, sizeof(path), "%s/tlsvault.db", s->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* After a server stopped: no password the tests use is in its database, WAL or log. */
static void S_no_passwords(const struct tvh_server *s)
{
	static const char *const pw[] = { PASS, UTF8_PASS, "rHyQTJsubhfxcpH5JttyilHE6BBsNoZp" };
	static const char *const files[] = { "tlsvault.db", "tlsvault.db-wal", "serve.log" };
	char path[400];
	size_t i, k;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
		for (k = 0; k < 3; k++)
			if (tvh_file_contains(path, pw[k], strlen(pw[k])))
				fail_msg("a password is in %s", path);
	}
}

/* The external vectors: with and without their leaf trusted. */
static const struct {
	const char *file;
	const char *password; /* NULL: a sealed empty string */
	const char *untrusted; /* expected code before the leaf is trusted */
	const char *trusted;   /* after; NULL = imports */
} S_vectors[] = {
	{ "pbes2_aes256cbc.p12", "password", "SELF_SIGNED", NULL },
	/* the vectors' README calls every leaf self-signed, but this one is issued
	 * by "CN=clients-ca v0,O=io.strimzi", which the file doesn't carry: the
	 * precise reason is CHAIN_BUILDING_FAILED; pinned, it imports */
	{ "pbes2_aes128cbc.p12", "rHyQTJsubhfxcpH5JttyilHE6BBsNoZp", "CHAIN_BUILDING_FAILED",
	  NULL },
	{ "pbes2_aes192cbc.p12", "password", "SELF_SIGNED", NULL },
	{ "windows-azure-tools-nullpw.p12", "", "SELF_SIGNED", NULL },
	{ "testing-example-com-emptypw.p12", "", "SELF_SIGNED", NULL },
	{ "rfc9579-a1.p12", "1234", "SELF_SIGNED", NULL },
	{ "rfc9579-a2.p12", "1234", "SELF_SIGNED", NULL },
	{ "rfc9579-a3.p12", "1234", "SELF_SIGNED", NULL },
	{ "rfc9579-a4.p12", "1234", "MAC_VERIFICATION_FAILED", "MAC_VERIFICATION_FAILED" },
	{ "rfc9579-a5.p12", "1234", "MAC_VERIFICATION_FAILED", "MAC_VERIFICATION_FAILED" },
	{ "rfc9579-a6.p12", "1234", "MALFORMED_KEYSTORE", "MALFORMED_KEYSTORE" },
	{ "pbmac1-short-key-bypass.p12", "1234", "MAC_VERIFICATION_FAILED",
	  "MAC_VERIFICATION_FAILED" },
};
#define S_N_VECTORS (sizeof(S_vectors) / sizeof(S_vectors[0]))

static json_t *S_vector_items(const unsigned char pk[32])
{
	json_t *items = json_array();
	char path[512];
	size_t i;

	for (i = 0; i < S_N_VECTORS; i++) {
		snprintf(path, sizeof(path), "%s/%s", TV_VECTORS_DIR, S_vectors[i].file);
		json_array_append_new(items, S_p12_item(pk, path, S_vectors[i].password));
	}
	return items;
}

/* Acceptance 1 and 4: every vector's outcome through the API. */
static void test_vectors(void **state)
{
	const char *pems[S_N_VECTORS];
	struct tvh_server s;
	unsigned char pk[32];
	json_t *job, *r;
	char *id;
	size_t i, n_pems = 0, imported = 0;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_dek_key(&s, s.api_key, pk);

	/* untrusted: a self-signed leaf is refused as SELF_SIGNED */
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, S_vector_items(pk)), NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	assert_string_equal(S_str(job, "status"), "FAILED");
	for (i = 0; i < S_N_VECTORS; i++) {
		S_expect(job, (int)i, "FAILED", S_vectors[i].untrusted);
		r = tvh_result(job, (int)i);
		if (!S_vectors[i].trusted) {
			S_check_fingerprint(r);
			pems[n_pems++] = S_str(r, "certificateBytes"); /* bare base64 DER */
		}
	}
	/* trust the leaves (as END_ENTITY pins), then import again */
	tvh_trust(&s, s.api_key, pems, n_pems);
	json_decref(job);
	free(id);

	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, S_vector_items(pk)), NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	assert_string_equal(S_str(job, "status"), "COMPLETED");
	assert_non_null(json_string_value(json_object_get(job, "completionDate")));
	for (i = 0; i < S_N_VECTORS; i++) {
		r = tvh_result(job, (int)i);
		if (S_vectors[i].trusted) {
			S_expect(job, (int)i, "FAILED", S_vectors[i].trusted);
			continue;
		}
		S_check_fingerprint(r);
		/* vectors that share a certificate: the first imports, later ones
		 * are duplicates of it */
		if (!strcmp(S_str(r, "status"), "IMPORTED")) {
			assert_string_equal(S_str(r, "reason"), "");
			S_check_stored_key(&s, S_str(r, "certificateId"));
			imported++;
		} else {
			S_expect(job, (int)i, "SKIPPED", "DUPLICATE_IN_REQUEST");
		}
		assert_non_null(json_string_value(json_object_get(r, "certificateId")));
	}
	assert_true(imported >= 4);
	json_decref(job);
	free(id);

	/* a third time: everything that imported is ALREADY_IMPORTED */
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, S_vector_items(pk)), NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	S_expect(job, 0, "SKIPPED", "ALREADY_IMPORTED");
	S_expect(job, 5, "SKIPPED", "ALREADY_IMPORTED");
	json_decref(job);
	free(id);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	S_no_passwords(&s);
	tvh_cleanup(&s);
}

static char *S_pem_file(const char *name)
{
	char path[512];
	char *pem;

	snprintf(path, sizeof(path), "%s/keys/%s.crt.pem", TVH_FIXTURES, name);
	pem = tvh_read_file(path, NULL);
	assert_non_null(pem);
	return pem;
}

/* PKCS#8 DER of a fixture key, into a malloc'd buffer. */
static unsigned char *S_pkcs8_der(const char *name, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8;
	unsigned char *der = NULL, *out;
	char path[512];
	EVP_PKEY *key;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/keys/%s.key.pem", TVH_FIXTURES, name);
	f = fopen(path, "r");
	assert_non_null(f);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(key);
	p8 = EVP_PKEY2PKCS8(key);
	n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	assert_true(n > 0);
	out = malloc((size_t)n);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_clear_free(der, (size_t)n);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(key);
	return out;
}

/* The two PKCS#8 forms; the first has its chain only in the trust store. */
static void S_pkcs8_forms(const struct tvh_server *s, const unsigned char pk[32])
{
	char *leaf = S_pem_file("leaf"), *p384 = S_pem_file("p384"), *enc, *sealed, *pw, *id;
	char path[512];
	unsigned char *der;
	size_t len = 0;
	json_t *job;

	der = S_pkcs8_der("leaf", &len);
	sealed = tvh_seal_b64(pk, der, len);
	sodium_memzero(der, len);
	free(der);
	snprintf(path, sizeof(path), "%s/pkcs8/p384-pkcs12-3des.pem", TVH_FIXTURES);
	enc = tvh_read_file(path, NULL);
	pw = tvh_seal_b64(pk, PASS, strlen(PASS));
	id = tvh_post_job(s, s->api_key,
			  tvh_envelope(s, json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]",
						    "certificate", leaf, "dekEncryptedPrivateKey",
						    sealed, "label", "leaf via trust store",
						    "certificate", p384,
						    "passwordEncryptedPrivateKey", enc,
						    "dekEncryptedPassword", pw, "label", "p384")),
			  NULL);
	job = tvh_wait_job(s, s->api_key, id);
	S_expect(job, 0, "IMPORTED", NULL);
	S_expect(job, 1, "IMPORTED", NULL);
	assert_string_equal(S_str(tvh_result(job, 0), "label"), "leaf via trust store");
	S_check_stored_key(s, S_str(tvh_result(job, 0), "certificateId"));
	S_check_stored_key(s, S_str(tvh_result(job, 1), "certificateId"));
	json_decref(job);
	free(id);
	free(leaf);
	free(p384);
	free(enc);
	free(sealed);
	free(pw);
}

/* Acceptance 2: keystores made by openssl, keytool and certtool. */
static void test_tool_keystores(void **state)
{
	static const char *const self_signed[] = { "rsa2048", "rsa4096", "p256", "p384",
						   "p521", "ed25519" };
	const char *pems[8];
	char *owned[8], line[512], file[128], pwkind[16], types[64], expect[64];
	char path[600], fps[64][41];
	int item = 0, n_items;
	struct tvh_server s;
	unsigned char pk[32];
	json_t *items = json_array(), *job, *r;
	FILE *mf;
	size_t i, n = 0;
	char *id;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_dek_key(&s, s.api_key, pk);
	/* each self-signed leaf pinned, and the root of "leaf" (chain via the CA) */
	for (i = 0; i < 6; i++)
		pems[n++] = owned[i] = S_pem_file(self_signed[i]);
	pems[n++] = owned[6] = S_pem_file("ca");
	tvh_trust(&s, s.api_key, pems, n);

	snprintf(path, sizeof(path), "%s/MANIFEST", TVH_FIXTURES);
	mf = fopen(path, "r");
	assert_non_null(mf);
	while (fgets(line, sizeof(line), mf)) {
		const char *pw;

		if (sscanf(line, "%127s %15s %63s %63s", file, pwkind, types, expect) != 4 ||
		    strcmp(expect, "ok"))
			continue;
		pw = !strcmp(pwkind, "empty") ? "" : !strcmp(pwkind, "utf8") ? UTF8_PASS : PASS;
		snprintf(path, sizeof(path), "%s/p12/%s", TVH_FIXTURES, file);
		json_array_append_new(items, S_p12_item(pk, path, pw));
		/* the expected leaf: the first type's certificate */
		types[strcspn(types, ",")] = '\0';
		snprintf(path, sizeof(path), "%s/keys/%s.crt.pem", TVH_FIXTURES, types);
		tvh_cert_fingerprint(fps[item++], path);
	}
	fclose(mf);
	n_items = item;
	assert_true(n_items >= 40);
	S_pkcs8_forms(&s, pk);
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, items), NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	assert_string_equal(S_str(job, "status"), "COMPLETED");
	for (item = 0; item < n_items; item++) {
		r = tvh_result(job, item);
		assert_non_null(r);
		if (strcmp(S_str(r, "status"), "IMPORTED") &&
		    strncmp(S_str(r, "reason"), "ALREADY_IMPORTED", 16))
			S_expect(job, item, "SKIPPED", "DUPLICATE_IN_REQUEST");
		assert_string_equal(S_str(r, "fingerprint"), fps[item]);
		S_check_fingerprint(r);
	}
	/* the two-key keytool store gives two results for its one item */
	{
		size_t k, pairs = 0;
		json_array_foreach(json_object_get(job, "results"), k, r)
			if (!strcmp(S_str(r, "status"), "IMPORTED") ||
			    !strcmp(S_str(r, "status"), "SKIPPED"))
				pairs++;
		assert_int_equal(pairs, (size_t)n_items + 1);
	}
	/* one stored key of each type really is its certificate's key */
	json_array_foreach(json_object_get(job, "results"), i, r)
		if (!strcmp(S_str(r, "status"), "IMPORTED"))
			S_check_stored_key(&s, S_str(r, "certificateId"));
	json_decref(job);
	free(id);
	for (i = 0; i < 7; i++)
		free(owned[i]);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	S_no_passwords(&s);
	tvh_cleanup(&s);
}

static char *S_fixture(const char *file)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/p12/%s", TVH_FIXTURES, file);
	return path;
}

/* A copy of a fixture whose MAC claims 10,000,000 iterations; base64. */
static char *S_iter_10m_b64(void)
{
	size_t len = 0;
	char *der = tvh_read_file(S_fixture("openssl-default-p256.p12"), &len), *out;
	const unsigned char *p = (const unsigned char *)der;
	unsigned char *re = NULL;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	int n;

	assert_non_null(p12);
	assert_int_equal(PKCS12_setup_mac(p12, 10000000, NULL, 0, EVP_sha256()), 1);
	n = i2d_PKCS12(p12, &re);
	assert_true(n > 0);
	out = tvh_b64(re, (size_t)n);
	OPENSSL_free(re);
	PKCS12_free(p12);
	free(der);
	return out;
}

/* Acceptance 3 and 7: one job with one of every failure; secrets gone after. */
static void test_mixed_job(void **state)
{
	static const char wrong_pw[] = "wrong-Pa55word-Xyzzy";
	const char *pems[2];
	char *owned[2], *id, *b64, *sealed, *cert, path[700];
	unsigned char pk[32], other_pk[32], other_sk[32], *der, *big;
	struct tvh_server s;
	json_t *items = json_array(), *job;
	size_t len = 0, i;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_dek_key(&s, s.api_key, pk);
	pems[0] = owned[0] = S_pem_file("p256");
	pems[1] = owned[1] = S_pem_file("rsa4096");
	tvh_trust(&s, s.api_key, pems, 2);

	/* 0 good, 1 wrong password, 2 password sealed to another DEK */
	json_array_append_new(items, S_p12_item(pk, S_fixture("openssl-default-p256.p12"), PASS));
	json_array_append_new(items, S_p12_item(pk, S_fixture("openssl-default-rsa2048.p12"),
						wrong_pw));
	crypto_box_keypair(other_pk, other_sk);
	json_array_append_new(items,
			      S_p12_item(other_pk, S_fixture("openssl-default-p384.p12"), PASS));
	/* 3 garbage base64 */
	json_array_append_new(items, json_pack("{s:s}", "pkcs12Keystore", "!!! not base64 !!!"));
	/* 4 a truncated keystore */
	der = (unsigned char *)tvh_read_file(S_fixture("openssl-default-rsa2048.p12"), &len);
	b64 = tvh_b64(der, 200);
	sealed = tvh_seal_b64(pk, PASS, strlen(PASS));
	json_array_append_new(items, json_pack("{s:s,s:s}", "pkcs12Keystore", b64,
					       "dekEncryptedPassword", sealed));
	free(b64);
	free(sealed);
	free(der);
	/* 5 a key that isn't the certificate's: p256's cert with rsa2048's key */
	der = S_pkcs8_der("rsa2048", &len);
	sealed = tvh_seal_b64(pk, der, len);
	free(der);
	cert = S_pem_file("p256");
	json_array_append_new(items, json_pack("{s:s,s:s}", "certificate", cert,
					       "dekEncryptedPrivateKey", sealed));
	free(cert);
	free(sealed);
	/* 6 an untrusted chain: the CA-signed leaf, its CA not uploaded */
	der = S_pkcs8_der("leaf", &len);
	sealed = tvh_seal_b64(pk, der, len);
	free(der);
	cert = S_pem_file("leaf");
	json_array_append_new(items, json_pack("{s:s,s:s}", "certificate", cert,
					       "dekEncryptedPrivateKey", sealed));
	free(cert);
	free(sealed);
	/* 7 a self-signed leaf nobody trusted */
	json_array_append_new(items, S_p12_item(pk, S_fixture("keytool-default-ed25519.p12"), PASS));
	/* 8 10,000,000 iterations */
	b64 = S_iter_10m_b64();
	sealed = tvh_seal_b64(pk, PASS, strlen(PASS));
	json_array_append_new(items, json_pack("{s:s,s:s}", "pkcs12Keystore", b64,
					       "dekEncryptedPassword", sealed));
	free(b64);
	free(sealed);
	/* 9 RC4-128, 10 a duplicate of 0, 11 another good one (UTF-8 password) */
	json_array_append_new(items, S_p12_item(pk, S_fixture("openssl-rc4-rsa2048.p12"), PASS));
	json_array_append_new(items, S_p12_item(pk, S_fixture("openssl-default-p256.p12"), PASS));
	json_array_append_new(items, S_p12_item(pk, S_fixture("certtool-utf8pw-rsa2048.p12"),
						UTF8_PASS));
	/* 12 fits no form, 13 a field that isn't a string, 14 over the size cap */
	json_array_append_new(items, json_pack("{s:s}", "certificate", "x"));
	json_array_append_new(items, json_pack("{s:i}", "pkcs12Keystore", 5));
	big = calloc(1, 300 * 1024);
	b64 = tvh_b64(big, 300 * 1024);
	json_array_append_new(items, json_pack("{s:s}", "pkcs12Keystore", b64));
	free(b64);
	free(big);
	/* item 11 is rsa2048, which isn't trusted: trust it too */
	{
		char *rsa = S_pem_file("rsa2048");
		const char *one[] = { rsa };
		tvh_trust(&s, s.api_key, one, 1);
		free(rsa);
	}

	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, items), NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	assert_string_equal(S_str(job, "status"), "COMPLETED");
	S_expect(job, 0, "IMPORTED", NULL);
	S_expect(job, 1, "FAILED", "MAC_VERIFICATION_FAILED");
	S_expect(job, 2, "FAILED", "PASSWORD_DECRYPTION_FAILED");
	S_expect(job, 3, "FAILED", "INVALID_BASE64");
	S_expect(job, 4, "FAILED", "MALFORMED_KEYSTORE");
	S_expect(job, 5, "FAILED", "KEY_CERTIFICATE_MISMATCH");
	S_expect(job, 6, "FAILED", "CHAIN_BUILDING_FAILED");
	S_expect(job, 7, "FAILED", "SELF_SIGNED");
	S_expect(job, 8, "FAILED", "ITERATION_LIMIT_EXCEEDED");
	assert_non_null(strstr(S_str(tvh_result(job, 8), "reason"), "10000000"));
	S_expect(job, 9, "FAILED", "UNSUPPORTED_ALGORITHM");
	S_expect(job, 10, "SKIPPED", "DUPLICATE_IN_REQUEST");
	S_expect(job, 11, "IMPORTED", NULL);
	S_expect(job, 12, "FAILED", "INVALID_ITEM");
	S_expect(job, 13, "FAILED", "INVALID_ITEM");
	S_expect(job, 14, "FAILED", "KEYSTORE_TOO_LARGE");
	assert_int_equal(json_array_size(json_object_get(job, "results")), 15);
	json_decref(job);
	free(id);

	/* 7: the inputs of final items are gone from the store */
	assert_int_equal(S_count(&s, "SELECT count(*) FROM import_inputs"), 0);
	assert_int_equal(S_count(&s, "SELECT count(*) FROM import_items WHERE state <> 'FINAL'"),
			 0);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	/* ...and no password or unsealed key is in the database, its WAL or the log */
	for (i = 0; i < 3; i++) {
		const char *sfx[] = { "tlsvault.db", "tlsvault.db-wal", "serve.log" };
		const char *names[] = { "p256", "rsa2048", "leaf" };
		size_t k;

		snprintf(path, sizeof(path), "%s/%s", s.dir, sfx[i]);
		assert_false(tvh_file_contains(path, PASS, strlen(PASS)));
		assert_false(tvh_file_contains(path, UTF8_PASS, strlen(UTF8_PASS)));
		assert_false(tvh_file_contains(path, wrong_pw, strlen(wrong_pw)));
		for (k = 0; k < 3; k++) {
			der = S_pkcs8_der(names[k], &len);
			assert_false(tvh_file_contains(path, der, len));
			/* and not its private scalar either (the last 32 bytes of a
			 * P-256 PKCS#8 are public; check a middle slice) */
			assert_false(tvh_file_contains(path, der + len / 2 - 16, 32));
			free(der);
		}
	}
	for (i = 0; i < 2; i++)
		free(owned[i]);
	tvh_cleanup(&s);
}

static void S_post_expect(const struct tvh_server *s, const char *key, const char *path,
			  const char *body, long status, int code)
{
	struct tvh_resp r;

	tvh_request(&r, s, "POST", path, key, body, strlen(body), NULL);
	if (r.status != status || tvh_error_code(&r) != code)
		fail_msg("POST %s: got %ld/%d, want %ld/%d: %s", path, r.status, tvh_error_code(&r),
			 status, code, r.body ? r.body : "");
	tvh_resp_free(&r);
}

/* Acceptance 5 and the envelope rules; dry runs and the /v1 alias. */
static void test_envelope_roles_and_dry_run(void **state)
{
	static const char P[] = "/outagedetection/v1/certificates/imports";
	struct tvh_server s;
	struct tvh_resp r;
	unsigned char pk[32];
	json_t *items, *body, *job, *b;
	char *text, *id, *out = NULL, ro[64], path[256];
	size_t i;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_dek_key(&s, s.api_key, pk);
	/* 101 items: 400/10102 and nothing stored */
	items = json_array();
	for (i = 0; i < 101; i++)
		json_array_append_new(items, json_pack("{s:s}", "pkcs12Keystore", "AAAA"));
	body = tvh_envelope(&s, items);
	text = json_dumps(body, JSON_COMPACT);
	S_post_expect(&s, s.api_key, P, text, 400, 10102);
	free(text);
	json_decref(body);
	assert_int_equal(S_count(&s, "SELECT count(*) FROM import_jobs"), 0);
	assert_int_equal(S_count(&s, "SELECT count(*) FROM import_items"), 0);
	/* the other envelope errors */
	body = tvh_envelope(&s, json_array());
	text = json_dumps(body, JSON_COMPACT);
	S_post_expect(&s, s.api_key, P, text, 400, 10102);
	free(text);
	json_decref(body);
	S_post_expect(&s, s.api_key, P, "[]", 400, 10101);
	S_post_expect(&s, s.api_key, P, "{\"importInformation\":[{}]}", 400, 10101);
	snprintf(path, sizeof(path),
		 "{\"edgeInstanceId\":\"00000000-0000-4000-8000-000000000000\","
		 "\"encryptionKeyId\":\"%s\",\"importInformation\":[{}]}", s.key_id);
	S_post_expect(&s, s.api_key, P, path, 400, 10103);
	snprintf(path, sizeof(path),
		 "{\"edgeInstanceId\":\"%s\",\"encryptionKeyId\":\"nope\","
		 "\"importInformation\":[{}]}", s.edge_id);
	S_post_expect(&s, s.api_key, P, path, 400, 10104);
	snprintf(path, sizeof(path),
		 "{\"edgeInstanceId\":\"%s\",\"encryptionKeyId\":\"%s\","
		 "\"importInformation\":[\"x\"]}", s.edge_id, s.key_id);
	S_post_expect(&s, s.api_key, P, path, 400, 10101);
	assert_int_equal(S_count(&s, "SELECT count(*) FROM import_jobs"), 0);

	/* a READ_ONLY key may read jobs but not create them */
	{
		char rbody[] = "{\"name\":\"ro\",\"role\":\"READ_ONLY\"}";
		tvh_request(&r, &s, "POST", "/v1/apikeys", s.api_key, rbody, strlen(rbody), NULL);
		assert_int_equal(r.status, 201);
		snprintf(ro, sizeof(ro), "%s", S_str(r.json, "key"));
		tvh_resp_free(&r);
	}
	S_post_expect(&s, ro, P, "{}", 403, 10601);

	/* a dry run validates everything and stores nothing */
	{
		char *pem = S_pem_file("p256");
		const char *one[] = { pem };
		tvh_trust(&s, s.api_key, one, 1);
		free(pem);
	}
	items = json_pack("[o,o]", S_p12_item(pk, S_fixture("openssl-default-p256.p12"), PASS),
			  S_p12_item(pk, S_fixture("openssl-default-p384.p12"), PASS));
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, items), "?dryRun=true");
	job = tvh_wait_job(&s, ro, id);
	S_expect(job, 0, "VALID", NULL);
	S_expect(job, 1, "FAILED", "SELF_SIGNED");
	assert_true(json_is_true(json_object_get(job, "dryRun")));
	assert_int_equal(S_count(&s, "SELECT count(*) FROM certificates"), 0);
	json_decref(job);
	/* the /v1 aliases */
	snprintf(path, sizeof(path), "/v1/certificates/imports/%s", id);
	tvh_request(&r, &s, "GET", path, ro, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(r.json, "id"), id);
	tvh_resp_free(&r);
	/* another tenant's job is 404 */
	{
		const char *args[] = { TVD_PATH, "tenant", "create", "--data", s.dir, "--name", "b",
				       NULL };
		assert_int_equal(tvh_run(&out, args), 0);
		b = json_loads(out, 0, NULL);
		tvh_request(&r, &s, "GET", path, S_str(b, "apiKey"), NULL, 0, NULL);
		assert_int_equal(r.status, 404);
		assert_int_equal(tvh_error_code(&r), 10404);
		tvh_resp_free(&r);
		/* and B can't post to A's edge instance */
		snprintf(path, sizeof(path),
			 "{\"edgeInstanceId\":\"%s\",\"encryptionKeyId\":\"%s\","
			 "\"importInformation\":[{}]}", s.edge_id, s.key_id);
		S_post_expect(&s, S_str(b, "apiKey"), "/v1/certificates/imports", path, 400, 10103);
		json_decref(b);
		free(out);
	}
	tvh_request(&r, &s, "GET", "/v1/certificates/imports/not-a-uuid", ro, NULL, 0, NULL);
	assert_int_equal(r.status, 404);
	tvh_resp_free(&r);
	snprintf(path, sizeof(path), "%s/%s?waitSeconds=99", P, id);
	tvh_request(&r, &s, "GET", path, ro, NULL, 0, NULL);
	assert_int_equal(r.status, 400);
	tvh_resp_free(&r);
	free(id);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	S_no_passwords(&s);
	tvh_cleanup(&s);
}

/* Acceptance 6: kill -9 while items are PROCESSING; nothing lost or doubled. */
static void test_kill9_mid_job(void **state)
{
	static const char *const fast[] = {
		"openssl-default-p256.p12", "openssl-default-rsa2048.p12",
		"openssl-default-p384.p12", "openssl-default-p521.p12",
		"openssl-default-ed25519.p12", "openssl-legacy-rsa2048.p12",
		"keytool-default-p256.p12", "openssl-keypbe-aes128-rsa2048.p12",
	};
	static const char *const certs[] = { "rsa2048", "rsa4096", "p256", "p384", "p521",
					     "ed25519" };
	const char *const extra[] = { "--workers", "2", NULL };
	const char *pems[6];
	char *owned[6], *id, seen[100];
	struct tvh_server s;
	struct tvh_resp r;
	unsigned char pk[32];
	json_t *items = json_array(), *job, *res;
	int64_t deadline;
	size_t i, imported = 0;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, extra);
	tvh_dek_key(&s, s.api_key, pk);
	for (i = 0; i < 6; i++)
		pems[i] = owned[i] = S_pem_file(certs[i]);
	tvh_trust(&s, s.api_key, pems, 6);
	/* two slow items first (600,000 KDF iterations each), then 98 quick ones */
	json_array_append_new(items, S_p12_item(pk, S_fixture("certtool-aes128-rsa4096.p12"), PASS));
	json_array_append_new(items, S_p12_item(pk, S_fixture("certtool-aes128-p384.p12"), PASS));
	for (i = 2; i < 100; i++)
		json_array_append_new(items,
				      S_p12_item(pk, S_fixture(fast[i % (sizeof(fast) /
									sizeof(fast[0]))]),
						 PASS));
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, items), NULL);
	/* wait until workers hold items, then kill the server outright */
	deadline = tv_mono_ms() + 30000;
	for (;;) {
		char path[200];
		bool processing;

		snprintf(path, sizeof(path), "/v1/certificates/imports/%s", id);
		tvh_request(&r, &s, "GET", path, s.api_key, NULL, 0, NULL);
		processing = !strcmp(S_str(r.json, "status"), "PROCESSING");
		tvh_resp_free(&r);
		if (processing)
			break;
		assert_true(tv_mono_ms() < deadline);
	}
	assert_true(S_count(&s, "SELECT count(*) FROM import_items WHERE state = 'PROCESSING'") > 0);
	assert_int_equal(tvh_stop(&s, SIGKILL), -1);

	tvh_start(&s, extra);
	job = tvh_wait_job(&s, s.api_key, id);
	assert_string_equal(S_str(job, "status"), "COMPLETED");
	/* every item has exactly one final result, none failed */
	memset(seen, 0, sizeof(seen));
	json_array_foreach(json_object_get(job, "results"), i, res) {
		int idx = (int)json_integer_value(json_object_get(res, "itemIndex"));
		assert_true(idx >= 0 && idx < 100);
		assert_int_equal(seen[idx], 0);
		seen[idx] = 1;
		if (!strcmp(S_str(res, "status"), "IMPORTED"))
			imported++;
		else
			S_expect(job, idx, "SKIPPED", "DUPLICATE_IN_REQUEST");
	}
	assert_int_equal(json_array_size(json_object_get(job, "results")), 100);
	/* one import per distinct certificate, and one stored key each */
	assert_int_equal(imported, (size_t)S_count(&s, "SELECT count(DISTINCT fingerprint) FROM"
						      " import_results WHERE status = 'IMPORTED'"));
	assert_int_equal(imported, (size_t)S_count(&s, "SELECT count(*) FROM certificates"
						      " WHERE sealed_key IS NOT NULL"));
	assert_int_equal(S_count(&s, "SELECT count(*) FROM import_results"), 100);
	json_decref(job);
	free(id);
	for (i = 0; i < 6; i++)
		free(owned[i]);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	S_no_passwords(&s);
	tvh_cleanup(&s);
}

/* The trusted-CA endpoints. */
static void test_trusted_cas(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;
	char *bundle, *root, path[300], fp[41], lower[64], body[512];
	json_t *b, *list;
	size_t i;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	snprintf(path, sizeof(path), "%s/chain/bundle.pem", TVH_FIXTURES);
	bundle = tvh_read_file(path, NULL);
	snprintf(path, sizeof(path), "%s/chain/root.crt.pem", TVH_FIXTURES);
	root = tvh_read_file(path, NULL);
	tvh_cert_fingerprint(fp, path);
	/* a bad entry rejects the request and stores nothing */
	b = json_pack("{s:[s,s]}", "encodedCertificates", root, "not a certificate");
	{
		char *t = json_dumps(b, JSON_COMPACT);
		S_post_expect(&s, s.api_key, "/v1/trustedcacertificates", t, 400, 10107);
		free(t);
	}
	json_decref(b);
	assert_int_equal(S_count(&s, "SELECT count(*) FROM trusted_cas"), 0);
	/* a bundle, then the root again: reported, not duplicated */
	{
		const char *one[] = { bundle };
		tvh_trust(&s, s.api_key, one, 1);
	}
	b = json_pack("{s:[s]}", "encodedCertificates", root);
	{
		char *t = json_dumps(b, JSON_COMPACT);
		tvh_request(&r, &s, "POST", "/v1/trustedcacertificates", s.api_key, t, strlen(t),
			    NULL);
		free(t);
	}
	json_decref(b);
	assert_int_equal(r.status, 201);
	list = json_object_get(r.json, "certificates");
	assert_int_equal(json_array_size(list), 1);
	assert_true(json_is_true(json_object_get(json_array_get(list, 0), "alreadyPresent")));
	assert_string_equal(S_str(json_array_get(list, 0), "certificateType"), "ROOT_CA");
	tvh_resp_free(&r);
	tvh_request(&r, &s, "GET", "/v1/trustedcacertificates", s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "certificatesCount")),
			 (json_int_t)json_array_size(json_object_get(r.json, "certificates")));
	assert_int_equal(S_count(&s, "SELECT count(*) FROM trusted_cas"),
			 (int)json_array_size(json_object_get(r.json, "certificates")));
	json_array_foreach(json_object_get(r.json, "certificates"), i, b) {
		assert_string_equal(S_str(b, "source"), "USER_PROVIDED");
		assert_string_equal(S_str(b, "companyId"), s.tenant_id);
		S_str(b, "subjectDN");
		S_str(b, "validityEnd");
		S_str(b, "signatureAlgorithm");
	}
	tvh_resp_free(&r);
	/* by fingerprint, in lower case with colons */
	for (i = 0; i < 20; i++)
		snprintf(lower + i * 3, sizeof(lower) - i * 3, "%c%c%s", fp[2 * i] | 0x20,
			 fp[2 * i + 1] | 0x20, i < 19 ? ":" : "");
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s", lower);
	tvh_request(&r, &s, "GET", path, s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(r.json, "fingerprint"), fp);
	assert_true(json_is_array(json_object_get(r.json, "issuerCertificates")));
	tvh_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s/contents?format=PEM", fp);
	tvh_request(&r, &s, "GET", path, s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "-----BEGIN CERTIFICATE-----"));
	tvh_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s/contents?format=DER", fp);
	tvh_request(&r, &s, "GET", path, s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal((unsigned char)r.body[0], 0x30);
	tvh_resp_free(&r);
	/* the system roots */
	tvh_request(&r, &s, "GET", "/v1/trustedcacertificates?source=GLOBALLY_TRUSTED", s.api_key,
		    NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_true(json_array_size(json_object_get(r.json, "certificates")) > 50);
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s",
		 S_str(json_array_get(json_object_get(r.json, "certificates"), 7), "fingerprint"));
	tvh_resp_free(&r);
	/* a system root by fingerprint */
	tvh_request(&r, &s, "GET", path, s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(r.json, "source"), "GLOBALLY_TRUSTED");
	tvh_resp_free(&r);
	/* deletion */
	snprintf(body, sizeof(body), "{\"fingerprints\":[\"%s\"]}", lower);
	tvh_request(&r, &s, "POST", "/v1/trustedcacertificates/deletion", s.api_key, body,
		    strlen(body), NULL);
	assert_int_equal(r.status, 204);
	tvh_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s", fp);
	tvh_request(&r, &s, "GET", path, s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 404);
	tvh_resp_free(&r);
	S_post_expect(&s, s.api_key, "/v1/trustedcacertificates/deletion",
		      "{\"fingerprints\":[\"zz\"]}", 400, 10107);
	free(bundle);
	free(root);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	S_no_passwords(&s);
	tvh_cleanup(&s);
}

/* A chain that only the keystore carries: root trusted, intermediate in the .p12. */
static void test_chain_inside_keystore(void **state)
{
	static const char script[] =
		"set -e; cd '%s'; "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout r.key"
		" -out r.pem -subj /CN=Gen-Root -days 30 -addext basicConstraints=critical,CA:TRUE"
		" 2>/dev/null; "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout i.key -out i.csr"
		" -subj /CN=Gen-Intermediate 2>/dev/null; "
		"printf 'basicConstraints=critical,CA:TRUE\\n' > ca.ext; "
		"openssl x509 -req -in i.csr -CA r.pem -CAkey r.key -CAcreateserial -out i.pem -days 30"
		" -extfile ca.ext 2>/dev/null; "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout l.key -out l.csr"
		" -subj /CN=gen-leaf.example 2>/dev/null; "
		"openssl x509 -req -in l.csr -CA i.pem -CAkey i.key -CAcreateserial -out l.pem -days 30"
		" 2>/dev/null; "
		"openssl pkcs12 -export -inkey l.key -in l.pem -certfile i.pem -passout pass:" PASS
		" -out chain.p12; "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l2.key"
		" -out l2.csr -subj /CN=gen-leaf-2.example 2>/dev/null; "
		"openssl x509 -req -in l2.csr -CA i.pem -CAkey i.key -CAcreateserial -out l2.pem"
		" -days 30 2>/dev/null; "
		"openssl pkcs12 -export -inkey l2.key -in l2.pem -certfile i.pem -passout pass:" PASS
		" -out chain2.p12";
	struct tvh_server s;
	unsigned char pk[32];
	char cmd[2048], path[400], *root, *id;
	const char *one[1];
	json_t *job;

	(void)state;
	tvh_init(&s);
	snprintf(cmd, sizeof(cmd), script, s.dir);
	assert_int_equal(system(cmd), 0);
	tvh_start(&s, NULL);
	tvh_dek_key(&s, s.api_key, pk);
	snprintf(path, sizeof(path), "%s/r.pem", s.dir);
	root = tvh_read_file(path, NULL);
	one[0] = root;
	tvh_trust(&s, s.api_key, one, 1);
	snprintf(path, sizeof(path), "%s/chain.p12", s.dir);
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, json_pack("[o]", S_p12_item(pk, path, PASS))),
			  NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	S_expect(job, 0, "IMPORTED", NULL);
	S_check_stored_key(&s, S_str(tvh_result(job, 0), "certificateId"));
	/* the intermediate and the root were stored as the leaf's issuers */
	assert_int_equal(S_count(&s, "SELECT count(*) FROM certificates WHERE sealed_key IS NULL"), 2);
	assert_int_equal(S_count(&s, "SELECT json_array_length(issuer_ids) FROM certificates"
				     " WHERE sealed_key IS NOT NULL"),
			 2);
	json_decref(job);
	free(id);
	/* a second leaf under the same intermediate: the issuers' facts come
	 * from the importer's cache and name the same stored certificates */
	snprintf(path, sizeof(path), "%s/chain2.p12", s.dir);
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, json_pack("[o]", S_p12_item(pk, path, PASS))),
			  NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	S_expect(job, 0, "IMPORTED", NULL);
	assert_int_equal(S_count(&s, "SELECT count(*) FROM certificates WHERE sealed_key IS NULL"), 2);
	assert_int_equal(S_count(&s, "SELECT count(DISTINCT issuer_ids) FROM certificates"
				     " WHERE sealed_key IS NOT NULL"),
			 1);
	assert_int_equal(S_count(&s, "SELECT count(*) FROM certificates WHERE sealed_key IS NOT NULL"),
			 2);
	json_decref(job);
	free(id);
	free(root);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	S_no_passwords(&s);
	tvh_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trusted_cas),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_tool_keystores),
		cmocka_unit_test(test_chain_inside_keystore),
		cmocka_unit_test(test_mixed_job),
		cmocka_unit_test(test_envelope_roles_and_dry_run),
		cmocka_unit_test(test_kill9_mid_job),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("integration/import", tests, NULL, NULL);
}
