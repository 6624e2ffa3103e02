/*
 * Integration tests of the claims in docs/SECURITY.md that a running server
 * can show: which role may call which route, that another tenant's key
 * sees none of this tenant's objects (404, never 403 or 409) and can't use
 * its DEK, that an export refuses a stored key that is not the
 * certificate's own (a row altered in the database), and that no API key
 * or passphrase used here reaches the log.
 *
 * One server for the file: tenant A (the first tenant) holds two
 * certificates with keys (the p256 and p384 fixtures, pinned as trusted and
 * imported as certificate + sealed PKCS#8), a trusted CA, a finished job,
 * and READ_ONLY and PKI_ADMIN keys; tenant B is created beside it.
 */
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "importing.h"

#define S_PASS "Secur1ty-export-pass"

struct S_env {
	struct tvh_server s;
	unsigned char pk[32]; /* tenant A's DEK */
	char ro[64], pki[64], ro_id[64];
	char b_key[64], b_edge[64], b_dek[64];
	char cert[2][64]; /* p256, p384 */
	char fp[2][41];
	char job[64];
};

static struct S_env *g;

static const char *S_str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	if (!v)
		fail_msg("missing string field '%s'", k);
	return v;
}

/* One request with a printf-formatted body (NULL: none); the response. */
static void S_call(struct tvh_resp *r, const char *method, const char *path, const char *key,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void S_call(struct tvh_resp *r, const char *method, const char *path, const char *key,
		   const char *fmt, ...)
{
	char body[8192];
	va_list ap;
	int n = 0;

	if (fmt) {
		va_start(ap, fmt);
		n = vsnprintf(body, sizeof(body), fmt, ap);
		va_end(ap);
		assert_true(n >= 0 && (size_t)n < sizeof(body));
	}
	tvh_request(r, &g->s, method, path, key, fmt ? body : NULL, (size_t)n, NULL);
}

/* The call must answer status (and the error code when code != 0). */
static void S_expect(const char *method, const char *path, const char *key, long status, int code,
		     const char *body)
{
	struct tvh_resp r;

	S_call(&r, method, path, key, body ? "%s" : NULL, body);
	if (r.status != status || (code && tvh_error_code(&r) != code))
		fail_msg("%s %s: got %ld/%d, want %ld/%d: %s", method, path, r.status,
			 tvh_error_code(&r), status, code, r.body ? r.body : "");
	tvh_resp_free(&r);
}

/* A key made over the API by tenant A's ADMIN key. */
static void S_new_key(const char *role, char *key, size_t size, char *id, size_t id_size)
{
	struct tvh_resp r;

	S_call(&r, "POST", "/v1/apikeys", g->s.api_key, "{\"name\":\"sec-%s\",\"role\":\"%s\"}",
	       role, role);
	assert_int_equal(r.status, 201);
	snprintf(key, size, "%s", S_str(r.json, "key"));
	if (id)
		snprintf(id, id_size, "%s", S_str(r.json, "id"));
	tvh_resp_free(&r);
}

/* PKCS#8 DER of fixture key name, made with openssl into the data directory. */
static char *S_p8(const char *name, size_t *len)
{
	char cmd[1024], path[512];
	char *der;

	snprintf(path, sizeof(path), "%s/%s.p8", g->s.dir, name);
	snprintf(cmd, sizeof(cmd),
		 "openssl pkcs8 -topk8 -nocrypt -in '%s/keys/%s.key.pem' -outform DER -out '%s'",
		 TVH_FIXTURES, name, path);
	assert_int_equal(system(cmd), 0);
	der = tvh_read_file(path, len);
	assert_non_null(der);
	return der;
}

static int S_setup(void **state)
{
	static const char *const names[2] = { "p256", "p384" };
	json_t *items = json_array(), *job, *b;
	char *pems[3], *out = NULL;
	size_t i, len;

	(void)state;
	g = calloc(1, sizeof(*g));
	assert_non_null(g);
	tvh_init(&g->s);
	tvh_start(&g->s, NULL);
	tvh_dek_key(&g->s, g->s.api_key, g->pk);
	S_new_key("READ_ONLY", g->ro, sizeof(g->ro), g->ro_id, sizeof(g->ro_id));
	S_new_key("PKI_ADMIN", g->pki, sizeof(g->pki), NULL, 0);
	for (i = 0; i < 2; i++) {
		char path[512], *p8, *sealed;

		snprintf(path, sizeof(path), "%s/keys/%s.crt.pem", TVH_FIXTURES, names[i]);
		pems[i] = tvh_read_file(path, NULL);
		tvh_cert_fingerprint(g->fp[i], path);
		p8 = S_p8(names[i], &len);
		sealed = tvh_seal_b64(g->pk, p8, len);
		json_array_append_new(items, json_pack("{s:s,s:s}", "certificate", pems[i],
						       "dekEncryptedPrivateKey", sealed));
		free(sealed);
		free(p8);
	}
	pems[2] = tvh_read_file(TVH_FIXTURES "/keys/ca.crt.pem", NULL);
	tvh_trust(&g->s, g->s.api_key, (const char *const *)pems, 3);
	{
		char *id = tvh_post_job(&g->s, g->s.api_key, tvh_envelope(&g->s, items), NULL);

		snprintf(g->job, sizeof(g->job), "%s", id);
		free(id);
	}
	job = tvh_wait_job(&g->s, g->s.api_key, g->job);
	for (i = 0; i < 2; i++) {
		json_t *r = tvh_result(job, (int)i);

		if (strcmp(S_str(r, "status"), "IMPORTED"))
			fail_msg("seed %zu: %s %s", i, S_str(r, "status"), S_str(r, "reason"));
		snprintf(g->cert[i], sizeof(g->cert[i]), "%s", S_str(r, "certificateId"));
	}
	json_decref(job);
	for (i = 0; i < 3; i++)
		free(pems[i]);
	{
		const char *args[] = { TVD_PATH, "tenant", "create", "--data", g->s.dir,
				       "--name", "tenant-b", NULL };

		assert_int_equal(tvh_run(&out, args), 0);
		b = json_loads(out, 0, NULL);
		assert_non_null(b);
		snprintf(g->b_key, sizeof(g->b_key), "%s", S_str(b, "apiKey"));
		snprintf(g->b_edge, sizeof(g->b_edge), "%s", S_str(b, "edgeInstanceId"));
		snprintf(g->b_dek, sizeof(g->b_dek), "%s", S_str(b, "encryptionKeyId"));
		json_decref(b);
		free(out);
	}
	return 0;
}

static int S_teardown(void **state)
{
	(void)state;
	assert_int_equal(tvh_stop(&g->s, SIGTERM), 0);
	tvh_cleanup(&g->s);
	free(g);
	return 0;
}

/* ---- roles ------------------------------------------------------------------- */

enum { RO = 1, PKI = 2, ADM = 3 };

struct S_route {
	const char *method;
	const char *path; /* "{}" = a certificate id, fingerprint, job id or key id of A */
	int which;        /* 0: cert, 1: fingerprint, 2: job, 3: the READ_ONLY key's id */
	int role;         /* the least role routes.c asks for */
	const char *body;
};

static const struct S_route S_routes[] = {
	{ "GET", "/v1/useraccounts", 0, RO, NULL },
	{ "GET", "/v1/edgeinstances", 0, RO, NULL },
	{ "GET", "/v1/edgeencryptionkeys", 0, RO, NULL },
	{ "GET", "/v1/trustedcacertificates", 0, RO, NULL },
	{ "GET", "/v1/trustedcacertificates/{}", 1, RO, NULL },
	{ "GET", "/v1/trustedcacertificates/{}/contents", 1, RO, NULL },
	{ "GET", "/outagedetection/v1/certificates/imports/{}", 2, RO, NULL },
	{ "GET", "/v1/certificates/imports/{}", 2, RO, NULL },
	{ "POST", "/outagedetection/v1/certificatesearch", 0, RO, "{}" },
	{ "GET", "/outagedetection/v1/certificates/{}", 0, RO, NULL },
	{ "POST", "/v1/trustedcacertificates", 0, PKI, "{}" },
	{ "POST", "/v1/trustedcacertificates/deletion", 0, PKI, "{}" },
	{ "POST", "/outagedetection/v1/certificates/imports", 0, PKI, "{}" },
	{ "POST", "/v1/certificates/imports", 0, PKI, "{}" },
	{ "POST", "/outagedetection/v1/certificates/retirement", 0, PKI, "{}" },
	{ "POST", "/outagedetection/v1/certificates/recovery", 0, PKI, "{}" },
	{ "POST", "/outagedetection/v1/certificates/deletion", 0, PKI, "{}" },
	{ "POST", "/outagedetection/v1/certificates/{}/keystore", 0, PKI, "{}" },
	{ "GET", "/v1/apikeys", 0, ADM, NULL },
	{ "POST", "/v1/apikeys", 0, ADM, "{}" },
	{ "DELETE", "/v1/apikeys/{}", 3, ADM, NULL },
	{ "GET", "/v1/auditlog", 0, ADM, NULL },
};

static void S_route_path(char *out, size_t size, const struct S_route *rt)
{
	const char *arg = rt->which == 0 ? g->cert[0]
			  : rt->which == 1 ? g->fp[0]
			  : rt->which == 2 ? g->job
					   : g->ro_id;

	const char *mark = strstr(rt->path, "{}");
	int n;

	if (mark)
		n = snprintf(out, size, "%.*s%s%s", (int)(mark - rt->path), rt->path, arg, mark + 2);
	else
		n = snprintf(out, size, "%s", rt->path);
	assert_true(n > 0 && (size_t)n < size);
}

/*
 * READ_ONLY reads everything a read route serves and gets 403/10601 from
 * every route that changes something or exports; PKI_ADMIN gets 403 from
 * the API-key and audit-log routes only.
 */
static void test_role_matrix(void **state)
{
	struct tvh_resp r;
	char path[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(S_routes) / sizeof(S_routes[0]); i++) {
		const struct S_route *rt = &S_routes[i];

		S_route_path(path, sizeof(path), rt);
		if (rt->role > RO) {
			S_expect(rt->method, path, g->ro, 403, 10601, rt->body);
		} else {
			S_call(&r, rt->method, path, g->ro, rt->body ? "%s" : NULL, rt->body);
			if (r.status != 200)
				fail_msg("READ_ONLY %s %s: %ld %s", rt->method, path, r.status,
					 r.body ? r.body : "");
			tvh_resp_free(&r);
		}
		if (rt->role > PKI)
			S_expect(rt->method, path, g->pki, 403, 10601, rt->body);
	}
	/* the READ_ONLY key still works: a 403 is not a revocation */
	S_expect("GET", "/v1/useraccounts", g->ro, 200, 0, NULL);
}

/* ---- tenants ----------------------------------------------------------------- */

/*
 * Tenant B's ADMIN key, on tenant A's objects: every one is "not found",
 * whatever its state (an ACTIVE certificate's deletion is 404, not the
 * 409 that would tell B it exists), and B changes nothing of A's.
 */
static void test_other_tenant_sees_nothing(void **state)
{
	char path[400], *sealed;
	struct tvh_resp r;

	(void)state;
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", g->cert[0]);
	S_expect("GET", path, g->b_key, 404, 10404, NULL);
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", g->cert[0]);
	sealed = tvh_seal_b64(g->pk, S_PASS, strlen(S_PASS));
	S_call(&r, "POST", path, g->b_key,
	       "{\"exportFormat\":\"PKCS12\",\"encryptedPrivateKeyPassphrase\":\"%s\"}", sealed);
	assert_int_equal(r.status, 404);
	assert_int_equal(tvh_error_code(&r), 10404);
	tvh_resp_free(&r);
	free(sealed);
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s", g->job);
	S_expect("GET", path, g->b_key, 404, 10404, NULL);
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s", g->fp[0]);
	S_expect("GET", path, g->b_key, 404, 10404, NULL);
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s/contents", g->fp[0]);
	S_expect("GET", path, g->b_key, 404, 10404, NULL);
	snprintf(path, sizeof(path), "/v1/edgeinstances/%s", g->s.edge_id);
	S_expect("GET", path, g->b_key, 404, 10404, NULL);
	snprintf(path, sizeof(path), "/v1/edgeencryptionkeys/%s", g->s.key_id);
	S_expect("GET", path, g->b_key, 404, 10404, NULL);
	snprintf(path, sizeof(path), "/v1/apikeys/%s", g->ro_id);
	S_expect("DELETE", path, g->b_key, 404, 10404, NULL);
	S_call(&r, "POST", "/outagedetection/v1/certificates/retirement", g->b_key,
	       "{\"certificateIds\":[\"%s\"]}", g->cert[0]);
	assert_int_equal(r.status, 404);
	tvh_resp_free(&r);
	S_call(&r, "POST", "/outagedetection/v1/certificates/deletion", g->b_key,
	       "{\"certificateIds\":[\"%s\"]}", g->cert[0]);
	assert_int_equal(r.status, 404);
	tvh_resp_free(&r);
	/* deleting A's trusted CA by fingerprint deletes nothing of A's */
	S_call(&r, "POST", "/v1/trustedcacertificates/deletion", g->b_key,
	       "{\"fingerprints\":[\"%s\"]}", g->fp[0]);
	assert_true(r.status == 204 || r.status == 404);
	tvh_resp_free(&r);
	/* B's search, list and audit log hold nothing of A's */
	S_call(&r, "POST", "/outagedetection/v1/certificatesearch", g->b_key,
	       "{\"expression\":{\"field\":\"fingerprint\",\"operator\":\"EQ\",\"value\":\"%s\"}}",
	       g->fp[0]);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 0);
	tvh_resp_free(&r);
	S_call(&r, "POST", "/outagedetection/v1/certificatesearch", g->b_key, "{}");
	assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 0);
	tvh_resp_free(&r);
	S_call(&r, "GET", "/v1/trustedcacertificates", g->b_key, NULL);
	assert_int_equal(json_integer_value(json_object_get(r.json, "certificatesCount")), 0);
	tvh_resp_free(&r);
	/* B's audit log has B's own refused attempts on the ids it sent, and
	 * nothing A did (A's import job, A's keys, A's exports) */
	S_call(&r, "GET", "/v1/auditlog", g->b_key, NULL);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, g->job));
	assert_null(strstr(r.body, g->ro_id));
	{
		json_t *e;
		size_t k;

		json_array_foreach(json_object_get(r.json, "entries"), k, e)
			if (!strcmp(S_str(e, "objectId"), g->cert[0]))
				assert_string_not_equal(S_str(e, "outcome"), "ok");
	}
	tvh_resp_free(&r);
	/* ...and A still has all of it */
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", g->cert[0]);
	S_call(&r, "GET", path, g->s.api_key, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(S_str(r.json, "certificateStatus"), "ACTIVE");
	tvh_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/trustedcacertificates/%s", g->fp[0]);
	S_expect("GET", path, g->s.api_key, 200, 0, NULL);
	S_expect("GET", "/v1/useraccounts", g->ro, 200, 0, NULL);
}

/*
 * B can't import into A (A's edge instance is unknown to B), and data
 * sealed to A's DEK doesn't open in B's job: each tenant's DEK opens only
 * that tenant's items.
 */
static void test_other_tenant_cannot_use_dek(void **state)
{
	char *p8, *sealed, *cert, *job_id;
	json_t *items, *env, *job, *res;
	struct tvh_resp r;
	size_t len;

	(void)state;
	cert = tvh_read_file(TVH_FIXTURES "/keys/p256.crt.pem", NULL);
	p8 = S_p8("p256", &len);
	sealed = tvh_seal_b64(g->pk, p8, len); /* to A's DEK */
	items = json_pack("[{s:s,s:s}]", "certificate", cert, "dekEncryptedPrivateKey", sealed);
	env = json_pack("{s:s,s:s,s:o}", "edgeInstanceId", g->s.edge_id, "encryptionKeyId",
			g->s.key_id, "importInformation", json_deep_copy(items));
	{
		char *text = json_dumps(env, JSON_COMPACT);

		S_call(&r, "POST", "/v1/certificates/imports", g->b_key, "%s", text);
		free(text);
	}
	assert_int_equal(r.status, 400);
	assert_int_equal(tvh_error_code(&r), 10103);
	tvh_resp_free(&r);
	json_decref(env);
	/* B's own envelope with A-sealed data: the item fails, nothing opens */
	env = json_pack("{s:s,s:s,s:o}", "edgeInstanceId", g->b_edge, "encryptionKeyId",
			g->b_dek, "importInformation", items);
	job_id = tvh_post_job(&g->s, g->b_key, env, NULL);
	job = tvh_wait_job(&g->s, g->b_key, job_id);
	res = tvh_result(job, 0);
	assert_string_equal(S_str(res, "status"), "FAILED");
	assert_non_null(strstr(S_str(res, "reason"), "PASSWORD_DECRYPTION_FAILED"));
	json_decref(job);
	free(job_id);
	free(sealed);
	free(p8);
	free(cert);
}

/* ---- export ------------------------------------------------------------------ */

/* POST an export of cert with the sealed passphrase bytes pass[0..len). */
static void S_export(struct tvh_resp *r, const char *cert, const void *pass, size_t len)
{
	char path[200], *sealed = tvh_seal_b64(g->pk, pass, len);

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", cert);
	S_call(r, "POST", path, g->s.api_key,
	       "{\"exportFormat\":\"PKCS12\",\"encryptedPrivateKeyPassphrase\":\"%s\"}", sealed);
	free(sealed);
}

/* A passphrase no keystore can carry is refused naming its field. */
static void test_export_passphrase_checked(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = { { "\xff\xfe-not-utf8", 11 }, { "nul\0inside", 10 }, { "\xc0\xaf", 2 } };
	struct tvh_resp r;
	json_t *args;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		S_export(&r, g->cert[0], bad[i].bytes, bad[i].len);
		if (r.status != 400 || tvh_error_code(&r) != 10101)
			fail_msg("case %zu: %ld %s", i, r.status, r.body ? r.body : "");
		args = json_object_get(json_array_get(json_object_get(r.json, "errors"), 0), "args");
		assert_string_equal(json_string_value(json_array_get(args, 0)),
				    "encryptedPrivateKeyPassphrase");
		tvh_resp_free(&r);
	}
	/* UTF-8 beyond ASCII is fine */
	S_export(&r, g->cert[0], "p\xc3\xa4ss-\xe5\xaf\x86", 9);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/x-pkcs12");
	tvh_resp_free(&r);
}

/*
 * A sealed key has no binding to its row, so a database writer can copy
 * one certificate's sealed key onto another certificate of the tenant. The
 * export checks the key against the certificate: a 500 with the request id,
 * an audit row, an error line in the log, and no keystore.
 */
static void test_export_refuses_swapped_key(void **state)
{
	char db_path[400], *log, *line;
	struct tvh_resp r;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	(void)state;
	snprintf(db_path, sizeof(db_path), "%s/tlsvault.db", g->s.dir);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "UPDATE certificates SET sealed_key = (SELECT sealed_key"
					    " FROM certificates WHERE id = ?2) WHERE id = ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, g->cert[1], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, g->cert[0], -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);

	S_export(&r, g->cert[1], S_PASS, strlen(S_PASS));
	assert_int_equal(r.status, 500);
	assert_int_equal(tvh_error_code(&r), 10500);
	assert_null(strstr(r.content_type, "pkcs12"));
	assert_true(r.request_id[0] != '\0');
	log = tvh_read_file(g->s.log_path, NULL);
	assert_non_null(log);
	line = strstr(log, r.request_id);
	assert_non_null(line);
	assert_non_null(strstr(log, "is not the certificate's key"));
	free(log);
	tvh_resp_free(&r);
	S_call(&r, "GET", "/v1/auditlog", g->s.api_key, NULL);
	assert_non_null(strstr(r.body, "stored key rejected"));
	tvh_resp_free(&r);
	/* the key the row really belongs to still exports */
	S_export(&r, g->cert[0], S_PASS, strlen(S_PASS));
	assert_int_equal(r.status, 200);
	tvh_resp_free(&r);
}

/* Last: none of the API keys or passphrases used above is in the log. */
static void test_no_secret_in_log(void **state)
{
	const char *const secrets[] = { g->s.api_key, g->ro, g->pki, g->b_key, S_PASS,
					 "p\xc3\xa4ss-\xe5\xaf\x86" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (tvh_file_contains(g->s.log_path, secrets[i], strlen(secrets[i])))
			fail_msg("secret %zu is in the server log", i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_role_matrix),
		cmocka_unit_test(test_other_tenant_sees_nothing),
		cmocka_unit_test(test_other_tenant_cannot_use_dek),
		cmocka_unit_test(test_export_passphrase_checked),
		cmocka_unit_test(test_export_refuses_swapped_key),
		cmocka_unit_test(test_no_secret_in_log),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
