/*
 * Integration tests of the vault (issue 5): certificate objects, search,
 * retire/recover/delete, keystore export in three formats, the audit log.
 */
#define _GNU_SOURCE
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

#include "core/secmem.h"
#include "core/util.h"
#include "importing.h"

#define N_HOSTS 12

struct S_inv {
	struct tvh_server s;
	unsigned char pk[32];
	char ids[N_HOSTS][64];
	char fps[N_HOSTS][41];
	char serials[N_HOSTS][64];
	int64_t created_ms;
};

static const char *S_str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	if (!v)
		fail_msg("missing string field '%s'", k);
	return v;
}

/* DIR/host<i><suffix> */
static char *S_path(const struct S_inv *v, int i, const char *suffix)
{
	static char path[600];

	snprintf(path, sizeof(path), "%s/host%d%s", v->s.dir, i, suffix);
	return path;
}

/* Import host<i> as certificate + sealed PKCS#8, each pinned as trusted. */
static void S_seed(struct S_inv *v)
{
	json_t *items = json_array(), *job, *r;
	const char *pems[N_HOSTS];
	char *owned[N_HOSTS], cmd[512], *id;
	int i;

	tvh_init(&v->s);
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/integration/gen-inventory.sh' '%s'", TV_SOURCE_DIR,
		 v->s.dir);
	assert_int_equal(system(cmd), 0);
	tvh_start(&v->s, NULL);
	tvh_dek_key(&v->s, v->s.api_key, v->pk);
	for (i = 0; i < N_HOSTS; i++) {
		size_t len = 0;
		char *p8 = tvh_read_file(S_path(v, i, ".p8"), &len), *sealed;

		pems[i] = owned[i] = tvh_read_file(S_path(v, i, ".crt.pem"), NULL);
		sealed = tvh_seal_b64(v->pk, p8, len);
		json_array_append_new(items, json_pack("{s:s,s:s}", "certificate", owned[i],
						       "dekEncryptedPrivateKey", sealed));
		free(sealed);
		free(p8);
	}
	tvh_trust(&v->s, v->s.api_key, pems, N_HOSTS);
	v->created_ms = tv_now_ms();
	id = tvh_post_job(&v->s, v->s.api_key, tvh_envelope(&v->s, items), NULL);
	job = tvh_wait_job(&v->s, v->s.api_key, id);
	for (i = 0; i < N_HOSTS; i++) {
		struct tvh_resp cr;
		char path[200];

		r = tvh_result(job, i);
		if (strcmp(S_str(r, "status"), "IMPORTED"))
			fail_msg("seed %d: %s %s", i, S_str(r, "status"), S_str(r, "reason"));
		snprintf(v->ids[i], sizeof(v->ids[i]), "%s", S_str(r, "certificateId"));
		snprintf(v->fps[i], sizeof(v->fps[i]), "%s", S_str(r, "fingerprint"));
		snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", v->ids[i]);
		tvh_request(&cr, &v->s, "GET", path, v->s.api_key, NULL, 0, NULL);
		assert_int_equal(cr.status, 200);
		snprintf(v->serials[i], sizeof(v->serials[i]), "%s", S_str(cr.json, "serialNumber"));
		tvh_resp_free(&cr);
		free(owned[i]);
	}
	json_decref(job);
	free(id);
}

/* POST a search; returns the response JSON (caller decrefs). */
static json_t *S_search(const struct S_inv *v, const char *body, long want_status)
{
	struct tvh_resp r;
	json_t *j;

	tvh_request(&r, &v->s, "POST", "/outagedetection/v1/certificatesearch", v->s.api_key, body,
		    strlen(body), NULL);
	if (r.status != want_status)
		fail_msg("search %s: %ld %s", body, r.status, r.body ? r.body : "");
	j = json_incref(r.json);
	tvh_resp_free(&r);
	return j;
}

/* The set of host indexes in a search answer, as a bit mask. */
static unsigned S_mask(const struct S_inv *v, json_t *res)
{
	json_t *c;
	unsigned m = 0;
	size_t k;
	int i;

	json_array_foreach(json_object_get(res, "certificates"), k, c) {
		for (i = 0; i < N_HOSTS; i++)
			if (!strcmp(S_str(c, "id"), v->ids[i]))
				m |= 1u << i;
	}
	return m;
}

static unsigned S_where(bool (*pred)(int))
{
	unsigned m = 0;
	int i;

	for (i = 0; i < N_HOSTS; i++)
		if (pred(i))
			m |= 1u << i;
	return m;
}

static bool S_rsa(int i) { return i % 4 == 0; }
static bool S_ec(int i) { return i % 4 == 1 || i % 4 == 2; }
static bool S_not_ec(int i) { return !S_ec(i); }
static bool S_p384(int i) { return i % 4 == 2; }
static bool S_small(int i) { return i % 4 == 1 || i % 4 == 3; }
static bool S_days_le_100(int i) { return (i + 1) * 30 <= 100; }
static bool S_days_gt_200(int i) { return (i + 1) * 30 > 200; }
static bool S_rsa_long(int i) { return S_rsa(i) && (i + 1) * 30 > 100; }
static bool S_nonrsa_short(int i) { return !S_rsa(i) && (i + 1) * 30 < 200; }
static bool S_has1(int i) { return i == 1 || i == 10 || i == 11; }

/* Acceptance 3: a table of expressions with exactly the expected sets. */
static void test_search_table(void **state)
{
	struct S_inv *v = calloc(1, sizeof(*v));
	char body[2048], d100[32], d200[32], past[32], fp_lower[64];
	const unsigned all = (1u << N_HOSTS) - 1;
	json_t *res;
	size_t i;

	(void)state;
	S_seed(v);
	tv_iso_time(d100, tv_now_ms() + 100LL * 86400000);
	tv_iso_time(d200, tv_now_ms() + 200LL * 86400000);
	tv_iso_time(past, v->created_ms - 3600000);
	for (i = 0; i < 20; i++)
		snprintf(fp_lower + i * 3, sizeof(fp_lower) - i * 3, "%c%c%s", v->fps[5][2 * i] | 0x20,
			 v->fps[5][2 * i + 1] | 0x20, i < 19 ? ":" : "");
	{
		struct {
			char expr[600];
			unsigned want;
		} cases[32];
		size_t n = 0;

#define C(mask, ...)                                                                       \
	do {                                                                               \
		snprintf(cases[n].expr, sizeof(cases[n].expr), __VA_ARGS__);               \
		cases[n++].want = (mask);                                                  \
	} while (0)
		C(1u << 3, "{\"field\":\"certificateName\",\"operator\":\"EQ\",\"value\":\"host3.example.com\"}");
		C(S_where(S_has1), "{\"field\":\"subjectCN\",\"operator\":\"MATCH\",\"value\":\"HOST1\"}");
		C(1u << 5, "{\"field\":\"fingerprint\",\"operator\":\"EQ\",\"value\":\"%s\"}", v->fps[5]);
		C(1u << 5, "{\"field\":\"fingerprint\",\"operator\":\"EQ\",\"value\":\"%s\"}", fp_lower);
		C(1u << 7, "{\"field\":\"fingerprint\",\"operator\":\"MATCH\",\"value\":\"%.40s\"}",
		  v->fps[7]);
		C(S_where(S_ec), "{\"field\":\"encryptionType\",\"operator\":\"EQ\",\"value\":\"EC\"}");
		C(S_where(S_not_ec), "{\"field\":\"encryptionType\",\"operator\":\"IN\",\"values\":[\"RSA\",\"ED25519\"]}");
		C(S_where(S_p384), "{\"field\":\"keyStrength\",\"operator\":\"EQ\",\"value\":384}");
		C(S_where(S_rsa), "{\"field\":\"keyStrength\",\"operator\":\"GTE\",\"value\":2048}");
		C(S_where(S_small), "{\"field\":\"keyStrength\",\"operator\":\"LT\",\"value\":\"300\"}");
		C(S_where(S_days_le_100), "{\"field\":\"validityEnd\",\"operator\":\"LTE\",\"value\":\"%s\"}", d100);
		C(S_where(S_days_gt_200), "{\"field\":\"validityEnd\",\"operator\":\"GT\",\"value\":\"%s\"}", d200);
		C(S_where(S_rsa_long), "{\"operator\":\"AND\",\"operands\":[{\"field\":\"encryptionType\",\"operator\":\"EQ\",\"value\":\"RSA\"},{\"field\":\"validityEnd\",\"operator\":\"GT\",\"value\":\"%s\"}]}", d100);
		C((1u << 0) | (1u << 11), "{\"operator\":\"OR\",\"operands\":[{\"field\":\"certificateName\",\"operator\":\"EQ\",\"value\":\"host0.example.com\"},{\"field\":\"certificateName\",\"operator\":\"EQ\",\"value\":\"host11.example.com\"}]}");
		C(S_where(S_nonrsa_short), "{\"operator\":\"AND\",\"operands\":[{\"operator\":\"OR\",\"operands\":[{\"field\":\"encryptionType\",\"operator\":\"EQ\",\"value\":\"EC\"},{\"field\":\"encryptionType\",\"operator\":\"EQ\",\"value\":\"ED25519\"}]},{\"field\":\"validityEnd\",\"operator\":\"LT\",\"value\":\"%s\"}]}", d200);
		C(1u << 4, "{\"field\":\"subjectAlternativeNameDns\",\"operator\":\"EQ\",\"value\":\"www4.alt.test\"}");
		C(0, "{\"field\":\"subjectAlternativeNameDns\",\"operator\":\"EQ\",\"value\":\"www4.alt\"}");
		C(all, "{\"field\":\"subjectAlternativeNameDns\",\"operator\":\"MATCH\",\"value\":\".alt.test\"}");
		C((1u << 1) | (1u << 2), "{\"field\":\"subjectAlternativeNameDns\",\"operator\":\"IN\",\"values\":[\"www1.alt.test\",\"WWW2.alt.test\"]}");
		C(all, "{\"field\":\"certificateStatus\",\"operator\":\"EQ\",\"value\":\"ACTIVE\"}");
		C(0, "{\"field\":\"certificateStatus\",\"operator\":\"EQ\",\"value\":\"RETIRED\"}");
		C(1u << 2, "{\"field\":\"issuerDN\",\"operator\":\"MATCH\",\"value\":\"CN=host2.\"}");
		C(1u << 6, "{\"field\":\"serialNumber\",\"operator\":\"EQ\",\"value\":\"%s\"}", v->serials[6]);
		C(all, "{\"field\":\"creationDate\",\"operator\":\"GTE\",\"value\":\"%s\"}", past);
		C(0, "{\"field\":\"creationDate\",\"operator\":\"LT\",\"value\":\"%s\"}", past);
		C((1u << 0) | (1u << 9), "{\"field\":\"certificateName\",\"operator\":\"IN\",\"values\":[\"host0.example.com\",\"host9.example.com\",\"nope\"]}");
		C(S_where(S_rsa) | (1u << 11), "{\"operator\":\"OR\",\"operands\":[{\"operator\":\"AND\",\"operands\":[{\"field\":\"encryptionType\",\"operator\":\"EQ\",\"value\":\"RSA\"},{\"field\":\"keyStrength\",\"operator\":\"EQ\",\"value\":2048}]},{\"field\":\"subjectCN\",\"operator\":\"MATCH\",\"value\":\"host11\"}]}");
		C(0, "{\"field\":\"certificateName\",\"operator\":\"MATCH\",\"value\":\"%%_\"}");
#undef C
		assert_true(n >= 25);
		for (i = 0; i < n; i++) {
			assert_true(snprintf(body, sizeof(body),
					     "{\"expression\":%s,\"paging\":{\"pageNumber\":0,"
					     "\"pageSize\":1000}}",
					     cases[i].expr) < (int)sizeof(body));
			res = S_search(v, body, 200);
			if (S_mask(v, res) != cases[i].want ||
			    json_integer_value(json_object_get(res, "count")) !=
				    __builtin_popcount(cases[i].want))
				fail_msg("case %zu: got mask %x count %lld, want %x: %s", i,
					 S_mask(v, res),
					 (long long)json_integer_value(json_object_get(res, "count")),
					 cases[i].want, cases[i].expr);
			json_decref(res);
		}
	}
	/* no expression: everything; paging edges with an ordering */
	res = S_search(v, "{}", 200);
	assert_int_equal(S_mask(v, res), all);
	json_decref(res);
	for (i = 0; i < 4; i++) {
		unsigned want = i < 2 ? 0x1Fu << (5 * i) : i == 2 ? 0xC00u : 0;
		snprintf(body, sizeof(body),
			 "{\"ordering\":{\"orders\":[{\"field\":\"validityEnd\",\"direction\":\"ASC\"}]},"
			 "\"paging\":{\"pageNumber\":%zu,\"pageSize\":5}}", i);
		res = S_search(v, body, 200);
		assert_int_equal(json_integer_value(json_object_get(res, "count")), N_HOSTS);
		assert_int_equal(S_mask(v, res), want);
		if (i == 0) /* ascending by validityEnd: host0 first */
			assert_string_equal(S_str(json_array_get(json_object_get(res, "certificates"), 0), "id"),
					    v->ids[0]);
		json_decref(res);
	}
	res = S_search(v, "{\"ordering\":{\"orders\":[{\"field\":\"validityEnd\",\"direction\":\"DESC\"}]},"
			  "\"paging\":{\"pageSize\":1}}", 200);
	assert_string_equal(S_str(json_array_get(json_object_get(res, "certificates"), 0), "id"),
			    v->ids[N_HOSTS - 1]);
	json_decref(res);
	/* unknown fields and operators, and bad values: 400/10101 */
	json_decref(S_search(v, "{\"expression\":{\"field\":\"color\",\"operator\":\"EQ\",\"value\":\"x\"}}", 400));
	json_decref(S_search(v, "{\"expression\":{\"field\":\"subjectCN\",\"operator\":\"LIKE\",\"value\":\"x\"}}", 400));
	json_decref(S_search(v, "{\"expression\":{\"field\":\"validityEnd\",\"operator\":\"GT\",\"value\":\"soon\"}}", 400));
	json_decref(S_search(v, "{\"expression\":{\"field\":\"keyStrength\",\"operator\":\"IN\",\"value\":2048}}", 400));
	json_decref(S_search(v, "{\"paging\":{\"pageSize\":1001}}", 400));
	json_decref(S_search(v, "{\"colour\":1}", 400));
	/* the certificate object itself */
	{
		struct tvh_resp r;
		char path[200];
		json_t *sans;

		snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", v->ids[2]);
		tvh_request(&r, &v->s, "GET", path, v->s.api_key, NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		assert_string_equal(S_str(r.json, "certificateName"), "host2.example.com");
		assert_string_equal(S_str(r.json, "encryptionType"), "EC");
		assert_string_equal(S_str(r.json, "keyCurve"), "P384");
		assert_int_equal(json_integer_value(json_object_get(r.json, "keyStrength")), 384);
		assert_string_equal(S_str(r.json, "dekHash"), v->s.key_id);
		assert_string_equal(S_str(r.json, "certificateStatus"), "ACTIVE");
		assert_string_equal(S_str(r.json, "fingerprint"), v->fps[2]);
		sans = json_object_get(json_object_get(r.json, "subjectAlternativeNamesByType"), "dNSName");
		assert_int_equal(json_array_size(sans), 2);
		S_str(r.json, "importJobId");
		S_str(r.json, "validityEnd");
		S_str(r.json, "subjectDN");
		tvh_resp_free(&r);
	}
	assert_int_equal(tvh_stop(&v->s, SIGTERM), 0);
	tvh_cleanup(&v->s);
	free(v);
}

/* POST an export; the response (caller frees). */
static void S_export(const struct S_inv *v, struct tvh_resp *r, const char *id, const char *fmt,
		     const char *pass, const char *store_pass, const char *extra)
{
	char *sp = tvh_seal_b64(v->pk, pass, strlen(pass));
	char *ss = store_pass ? tvh_seal_b64(v->pk, store_pass, strlen(store_pass)) : strdup("");
	char path[200], body[1024];

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", id);
	snprintf(body, sizeof(body),
		 "{\"exportFormat\":\"%s\",\"encryptedPrivateKeyPassphrase\":\"%s\","
		 "\"encryptedKeystorePassphrase\":\"%s\",\"certificateLabel\":\"web\"%s}",
		 fmt, sp, ss, extra ? extra : "");
	/* vcert sends Accept: application/json and still wants the binary */
	tvh_request(r, &v->s, "POST", path, v->s.api_key, body, strlen(body),
		    "Accept: application/json");
	free(sp);
	free(ss);
}

static void S_save(const struct S_inv *v, const struct tvh_resp *r, const char *name)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", v->s.dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(r->body, 1, r->len, f), r->len);
	fclose(f);
}

/* Run a shell command in the data directory; its exit status. */
static int S_sh(const struct S_inv *v, const char *fmt, ...)
{
	char cmd[2048], full[4400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s ; } >/dev/null 2>&1", v->s.dir, cmd);
	return system(full);
}

/* Acceptance 1: exports open with openssl and keytool and give back the key. */
static void test_exports(void **state)
{
	struct S_inv *v = calloc(1, sizeof(*v));
	struct tvh_resp r;
	int h;

	(void)state;
	S_seed(v);
	/* RSA (host0), EC P-256 (host1), EC P-384 (host2), Ed25519 (host3) */
	for (h = 0; h < 4; h++) {
		S_export(v, &r, v->ids[h], "PKCS12", "Exp0rt-pass", NULL, NULL);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.content_type, "application/x-pkcs12");
		assert_string_equal(r.content_disposition, "attachment; filename=\"web.p12\"");
		S_save(v, &r, "e.p12");
		tvh_resp_free(&r);
		assert_int_equal(S_sh(v, "openssl pkcs12 -in e.p12 -passin pass:Exp0rt-pass -nodes"
					 " -nocerts | openssl pkey -pubout > a.pub && openssl pkey"
					 " -in host%d.key.pem -pubout > b.pub && cmp a.pub b.pub", h), 0);
		assert_int_equal(S_sh(v, "openssl pkcs12 -in e.p12 -passin pass:Exp0rt-pass -nokeys"
					 " -clcerts | openssl x509 -outform DER > a.der && openssl x509"
					 " -in host%d.crt.pem -outform DER > b.der && cmp a.der b.der", h),
				 0);
		assert_int_equal(S_sh(v, "openssl pkcs12 -in e.p12 -passin pass:wrong -nodes"), 256);
		assert_int_equal(S_sh(v, "openssl pkcs12 -in e.p12 -passin pass:Exp0rt-pass -info"
					 " -noout 2>&1 | grep -q 'AES-256-CBC'"), 0);

		S_export(v, &r, v->ids[h], "PEM", "Exp0rt-pass", NULL, NULL);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.content_type, "application/zip");
		assert_string_equal(r.content_disposition, "attachment; filename=\"web.zip\"");
		S_save(v, &r, "e.zip");
		tvh_resp_free(&r);
		assert_int_equal(S_sh(v, "rm -rf z && mkdir z && cd z && unzip -q ../e.zip && ls web.key"
					 " web.crt web_root-first.pem web_root-last.pem && openssl pkey"
					 " -in web.key -passin pass:Exp0rt-pass -pubout > ../a.pub && cmp"
					 " ../a.pub ../b.pub && openssl x509 -in web.crt -outform DER >"
					 " ../a.der && cmp ../a.der ../b.der"), 0);
		if (h == 3)
			continue; /* JKS carries RSA and EC keys */
		S_export(v, &r, v->ids[h], "JKS", "Exp0rt-pass", "St0re-pass", NULL);
		assert_int_equal(r.status, 200);
		S_save(v, &r, "e.jks");
		tvh_resp_free(&r);
		assert_int_equal(S_sh(v, "keytool -list -v -keystore e.jks -storetype JKS -storepass"
					 " St0re-pass | grep -q PrivateKeyEntry"), 0);
		assert_int_equal(S_sh(v, "rm -f g.p12 && keytool -importkeystore -srcalias web -srckeystore e.jks"
					 " -srcstoretype JKS -srcstorepass St0re-pass -srckeypass"
					 " Exp0rt-pass -destkeystore g.p12 -deststoretype PKCS12"
					 " -deststorepass G-pass-1 -destkeypass G-pass-1 -noprompt &&"
					 " openssl pkcs12 -in g.p12 -passin pass:G-pass-1 -nodes -nocerts"
					 " | openssl pkey -pubout > a.pub && cmp a.pub b.pub"), 0);
	}
	/* a key imported from an external vector (Windows certmgr, PBES2) */
	{
		char *leaf, *id, path[600];
		const char *one[1];
		json_t *job;

		assert_int_equal(S_sh(v, "openssl pkcs12 -in '%s/pbes2_aes256cbc.p12' -passin"
					 " pass:password -nokeys -clcerts | openssl x509 > vec.crt &&"
					 " openssl pkcs12 -in '%s/pbes2_aes256cbc.p12' -passin pass:password"
					 " -nocerts -nodes | openssl pkey -pubout > b.pub && openssl x509"
					 " -in vec.crt -outform DER > b.der", TV_VECTORS_DIR, TV_VECTORS_DIR),
				 0);
		snprintf(path, sizeof(path), "%s/vec.crt", v->s.dir);
		leaf = tvh_read_file(path, NULL);
		one[0] = leaf;
		tvh_trust(&v->s, v->s.api_key, one, 1);
		snprintf(path, sizeof(path), "%s/pbes2_aes256cbc.p12", TV_VECTORS_DIR);
		{
			char *ks = tvh_file_b64(path), *pw = tvh_seal_b64(v->pk, "password", 8);
			id = tvh_post_job(&v->s, v->s.api_key,
					  tvh_envelope(&v->s, json_pack("[{s:s,s:s}]", "pkcs12Keystore",
									ks, "dekEncryptedPassword", pw)),
					  NULL);
			free(ks);
			free(pw);
		}
		job = tvh_wait_job(&v->s, v->s.api_key, id);
		assert_string_equal(S_str(tvh_result(job, 0), "status"), "IMPORTED");
		S_export(v, &r, S_str(tvh_result(job, 0), "certificateId"), "PKCS12", "Exp0rt-pass",
			 NULL, NULL);
		assert_int_equal(r.status, 200);
		S_save(v, &r, "v.p12");
		tvh_resp_free(&r);
		assert_int_equal(S_sh(v, "openssl pkcs12 -in v.p12 -passin pass:Exp0rt-pass -nodes"
					 " -nocerts | openssl pkey -pubout > a.pub && cmp a.pub b.pub &&"
					 " openssl pkcs12 -in v.p12 -passin pass:Exp0rt-pass -nokeys"
					 " -clcerts | openssl x509 -outform DER > a.der && cmp a.der b.der"),
				 0);
		json_decref(job);
		free(id);
		free(leaf);
	}
	/* LEGACY profile: 3DES/SHA-1 */
	S_export(v, &r, v->ids[0], "PKCS12", "Exp0rt-pass", NULL, ",\"keystoreProfile\":\"LEGACY\"");
	assert_int_equal(r.status, 200);
	S_save(v, &r, "l.p12");
	tvh_resp_free(&r);
	assert_int_equal(S_sh(v, "openssl pkcs12 -legacy -in l.p12 -passin pass:Exp0rt-pass -info"
				 " -noout 2>&1 | grep -q '3DES\\|TripleDES'"), 0);
	/* a label beyond the Basic Multilingual Plane (U+1F511): a PKCS#12
	 * friendlyName can't hold it (400 naming the field, found by the writer
	 * fuzz target); JKS can */
	{
		char *sp = tvh_seal_b64(v->pk, "Exp0rt-pass", 11), path[200], body[1024];
		static const char *const fmts[] = { "PKCS12", "JKS" };
		static const long want[] = { 400, 200 };
		int k;

		snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore",
			 v->ids[0]);
		for (k = 0; k < 2; k++) {
			snprintf(body, sizeof(body),
				 "{\"exportFormat\":\"%s\",\"encryptedPrivateKeyPassphrase\":\"%s\","
				 "\"certificateLabel\":\"key \\ud83d\\udd11\"}",
				 fmts[k], sp);
			tvh_request(&r, &v->s, "POST", path, v->s.api_key, body, strlen(body), NULL);
			assert_int_equal(r.status, want[k]);
			if (want[k] == 400) {
				assert_int_equal(tvh_error_code(&r), 10101);
				assert_non_null(strstr(r.body, "certificateLabel"));
			}
			tvh_resp_free(&r);
		}
		free(sp);
	}
	assert_int_equal(tvh_stop(&v->s, SIGTERM), 0);
	assert_false(tvh_file_contains(v->s.log_path, "Exp0rt-pass", 11));
	tvh_cleanup(&v->s);
	free(v);
}

static void S_post(const struct S_inv *v, struct tvh_resp *r, const char *key, const char *path,
		   const char *fmt, ...)
{
	char body[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	tvh_request(r, &v->s, "POST", path, key, body, strlen(body), NULL);
}

/* Acceptance 2, 4 and 5: export errors, retire/delete/re-import, the audit log. */
static void test_lifecycle_and_audit(void **state)
{
	struct S_inv *v = calloc(1, sizeof(*v));
	unsigned char other_pk[32], other_sk[32], *sealed = NULL;
	char ro[64], *bad, path[1100], body[1024], *out = NULL;
	int sealed_len = 0;
	struct tvh_resp r;
	json_t *b;

	(void)state;
	S_seed(v);
	/* a passphrase sealed to another key: 400/10111 */
	crypto_box_keypair(other_pk, other_sk);
	bad = tvh_seal_b64(other_pk, "x-pass", 6);
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", v->ids[0]);
	S_post(v, &r, v->s.api_key, path,
	       "{\"exportFormat\":\"PKCS12\",\"encryptedPrivateKeyPassphrase\":\"%s\"}", bad);
	assert_int_equal(r.status, 400);
	assert_int_equal(tvh_error_code(&r), 10111);
	tvh_resp_free(&r);
	free(bad);
	/* a READ_ONLY key: 403 */
	S_post(v, &r, v->s.api_key, "/v1/apikeys", "{\"name\":\"ro\",\"role\":\"READ_ONLY\"}");
	snprintf(ro, sizeof(ro), "%s", S_str(r.json, "key"));
	tvh_resp_free(&r);
	S_post(v, &r, ro, path, "{\"exportFormat\":\"PKCS12\"}");
	assert_int_equal(r.status, 403);
	tvh_resp_free(&r);
	/* another tenant: 404 */
	{
		const char *args[] = { TVD_PATH, "tenant", "create", "--data", v->s.dir, "--name",
				       "other", NULL };
		assert_int_equal(tvh_run(&out, args), 0);
		b = json_loads(out, 0, NULL);
		S_post(v, &r, S_str(b, "apiKey"), path, "{\"exportFormat\":\"PKCS12\"}");
		assert_int_equal(r.status, 404);
		tvh_resp_free(&r);
		snprintf(body, sizeof(body), "/outagedetection/v1/certificates/%s", v->ids[0]);
		tvh_request(&r, &v->s, "GET", body, S_str(b, "apiKey"), NULL, 0, NULL);
		assert_int_equal(r.status, 404);
		tvh_resp_free(&r);
		json_decref(b);
		free(out);
	}
	/* a certificate without a key: the Fixture Root CA stored as an issuer */
	{
		char *ca = tvh_read_file(TVH_FIXTURES "/keys/ca.crt.pem", NULL);
		char *leaf = tvh_read_file(TVH_FIXTURES "/keys/leaf.crt.pem", NULL);
		const char *one[] = { ca };
		char *p8, *id;
		size_t len = 0;
		json_t *job, *cert;

		tvh_trust(&v->s, v->s.api_key, one, 1);
		p8 = tvh_read_file(TVH_FIXTURES "/keys/leaf.key.pem", &len);
		(void)p8;
		free(p8);
		/* import the leaf as PEM cert + encrypted PKCS#8 made here */
		assert_int_equal(S_sh(v, "openssl pkcs8 -topk8 -in '%s/keys/leaf.key.pem' -passout"
					 " pass:Leaf-Pass-9 -v2 aes-256-cbc -out leaf.p8.pem",
				      TVH_FIXTURES), 0);
		snprintf(body, sizeof(body), "%s/leaf.p8.pem", v->s.dir);
		p8 = tvh_read_file(body, NULL);
		bad = tvh_seal_b64(v->pk, "Leaf-Pass-9", 11);
		id = tvh_post_job(&v->s, v->s.api_key,
				  tvh_envelope(&v->s, json_pack("[{s:s,s:s,s:s}]", "certificate", leaf,
								"passwordEncryptedPrivateKey", p8,
								"dekEncryptedPassword", bad)),
				  NULL);
		job = tvh_wait_job(&v->s, v->s.api_key, id);
		assert_string_equal(S_str(tvh_result(job, 0), "status"), "IMPORTED");
		snprintf(body, sizeof(body), "/outagedetection/v1/certificates/%s",
			 S_str(tvh_result(job, 0), "certificateId"));
		tvh_request(&r, &v->s, "GET", body, v->s.api_key, NULL, 0, NULL);
		cert = json_array_get(json_object_get(r.json, "issuerCertificateIds"), 0);
		assert_non_null(json_string_value(cert));
		snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore",
			 json_string_value(cert));
		tvh_resp_free(&r);
		free(bad);
		bad = tvh_seal_b64(v->pk, "x-pass", 6);
		S_post(v, &r, v->s.api_key, path,
		       "{\"exportFormat\":\"PEM\",\"encryptedPrivateKeyPassphrase\":\"%s\"}", bad);
		assert_int_equal(r.status, 404);
		assert_non_null(strstr(r.body, "private key not found"));
		tvh_resp_free(&r);
		/* the leaf's PEM export: chain files in their stated orders */
		snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore",
			 S_str(tvh_result(job, 0), "certificateId"));
		S_post(v, &r, v->s.api_key, path,
		       "{\"exportFormat\":\"PEM\",\"encryptedPrivateKeyPassphrase\":\"%s\","
		       "\"certificateLabel\":\"lf\"}", bad);
		assert_int_equal(r.status, 200);
		S_save(v, &r, "lf.zip");
		tvh_resp_free(&r);
		assert_int_equal(S_sh(v, "rm -rf lz && mkdir lz && cd lz && unzip -q ../lf.zip &&"
					 " openssl x509 -in '%s/keys/ca.crt.pem' > ca.pem &&"
					 " openssl x509 -in '%s/keys/leaf.crt.pem' > leaf.pem &&"
					 " cat ca.pem > want-rf && echo >> want-rf && cat leaf.pem >> want-rf &&"
					 " cat leaf.pem > want-rl && echo >> want-rl && cat ca.pem >> want-rl &&"
					 " diff -B want-rf lf_root-first.pem && diff -B want-rl lf_root-last.pem"
					 " && head -1 lf_root-first.pem | grep -q BEGIN", TVH_FIXTURES,
				      TVH_FIXTURES), 0);
		json_decref(job);
		free(id);
		free(bad);
		free(p8);
		free(ca);
		free(leaf);
	}
	/* retire host4; deleting an ACTIVE one (host5) with it fails whole */
	S_post(v, &r, v->s.api_key, "/outagedetection/v1/certificates/retirement",
	       "{\"certificateIds\":[\"%s\"]}", v->ids[4]);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(json_array_get(json_object_get(r.json, "certificates"), 0),
				  "certificateStatus"), "RETIRED");
	tvh_resp_free(&r);
	S_post(v, &r, v->s.api_key, "/outagedetection/v1/certificates/deletion",
	       "{\"certificateIds\":[\"%s\",\"%s\"]}", v->ids[4], v->ids[5]);
	assert_int_equal(r.status, 409);
	assert_int_equal(tvh_error_code(&r), 10110);
	tvh_resp_free(&r);
	/* recover and retire again, then delete: the key bytes leave the file */
	S_post(v, &r, v->s.api_key, "/outagedetection/v1/certificates/recovery",
	       "{\"certificateIds\":[\"%s\"]}", v->ids[4]);
	assert_string_equal(S_str(json_array_get(json_object_get(r.json, "certificates"), 0),
				  "certificateStatus"), "ACTIVE");
	tvh_resp_free(&r);
	S_post(v, &r, v->s.api_key, "/outagedetection/v1/certificates/retirement",
	       "{\"certificateIds\":[\"%s\"]}", v->ids[4]);
	tvh_resp_free(&r);
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		snprintf(body, sizeof(body), "%s/tlsvault.db", v->s.dir);
		assert_int_equal(sqlite3_open(body, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT sealed_key FROM certificates WHERE id = ?",
						    -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_text(st, 1, v->ids[4], -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		sealed_len = sqlite3_column_bytes(st, 0);
		sealed = malloc((size_t)sealed_len);
		memcpy(sealed, sqlite3_column_blob(st, 0), (size_t)sealed_len);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	assert_true(tvh_file_contains(body, sealed, (size_t)sealed_len) ||
		    tvh_file_contains(strcat(strcpy(path, body), "-wal"), sealed, (size_t)sealed_len));
	/* the same id twice counts once (a regression: it used to give 404) */
	S_post(v, &r, v->s.api_key, "/outagedetection/v1/certificates/deletion",
	       "{\"certificateIds\":[\"%s\",\"%s\"]}", v->ids[4], v->ids[4]);
	assert_int_equal(r.status, 204);
	tvh_resp_free(&r);
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", v->ids[4]);
	tvh_request(&r, &v->s, "GET", path, v->s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 404);
	tvh_resp_free(&r);
	assert_false(tvh_file_contains(body, sealed, (size_t)sealed_len));
	snprintf(path, sizeof(path), "%s-wal", body);
	assert_false(tvh_file_contains(path, sealed, (size_t)sealed_len));
	free(sealed);
	/* the same certificate imports again */
	{
		size_t len = 0;
		char *cert = tvh_read_file(S_path(v, 4, ".crt.pem"), NULL);
		char *p8 = tvh_read_file(S_path(v, 4, ".p8"), &len);
		char *s8 = tvh_seal_b64(v->pk, p8, len), *id;
		json_t *job;

		id = tvh_post_job(&v->s, v->s.api_key,
				  tvh_envelope(&v->s, json_pack("[{s:s,s:s}]", "certificate", cert,
								"dekEncryptedPrivateKey", s8)),
				  NULL);
		job = tvh_wait_job(&v->s, v->s.api_key, id);
		assert_string_equal(S_str(tvh_result(job, 0), "status"), "IMPORTED");
		json_decref(job);
		free(id);
		free(cert);
		free(p8);
		free(s8);
	}
	/* an export, then the audit log: every action, no secret */
	bad = tvh_seal_b64(v->pk, "Audit-Exp-7", 11);
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", v->ids[0]);
	S_post(v, &r, v->s.api_key, path,
	       "{\"exportFormat\":\"PKCS12\",\"encryptedPrivateKeyPassphrase\":\"%s\"}", bad);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.content_type, "pkcs12"));
	tvh_resp_free(&r);
	free(bad);
	tvh_request(&r, &v->s, "GET", "/v1/auditlog?limit=1000", v->s.api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	{
		static const char *const actions[] = { "import.create", "certificate.export",
						       "certificate.retire", "certificate.recover",
						       "certificate.delete", "apikey.create",
						       "trustedca.add" };
		size_t k;
		for (k = 0; k < sizeof(actions) / sizeof(actions[0]); k++)
			if (!strstr(r.body, actions[k]))
				fail_msg("no audit row for %s", actions[k]);
		assert_null(strstr(r.body, "Audit-Exp-7"));
		assert_null(strstr(r.body, "Leaf-Pass-9"));
		assert_null(strstr(r.body, ro));
		assert_non_null(strstr(r.body, "\"requestId\""));
		assert_non_null(strstr(r.body, "\"outcome\":\"failed\"")); /* the 409 delete */
		assert_non_null(strstr(r.body, "\"outcome\":\"denied\"")); /* the 403 export */
	}
	tvh_resp_free(&r);
	tvh_request(&r, &v->s, "GET", "/v1/auditlog", ro, NULL, 0, NULL);
	assert_int_equal(r.status, 403);
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(&v->s, SIGTERM), 0);
	assert_false(tvh_file_contains(v->s.log_path, "Audit-Exp-7", 11));
	assert_false(tvh_file_contains(v->s.log_path, "Leaf-Pass-9", 11));
	tvh_cleanup(&v->s);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_table),
		cmocka_unit_test(test_exports),
		cmocka_unit_test(test_lifecycle_and_audit),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("integration/vault", tests, NULL, NULL);
}
