/* tv-test-pg: only */
/*
 * Integration tests of `tlsvaultd migrate` (issue 8): a SQLite vault with
 * imported keys, a retired certificate, trusted CAs, API keys, an audit log
 * and a job still waiting is copied to PostgreSQL with its sealed bytes
 * unchanged, then served from there: the old API keys work, the keys export,
 * the waiting job runs. A second copy into the same database is refused.
 * Also: a database URL's password never reaches the output.
 */
#define _GNU_SOURCE
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../unit/test_db.h"
#include "core/b64.h"
#include "core/util.h"
#include "importing.h"
#include "keygen.h"
#include "store/store.h"

#define PASS "m1grate-pass"

/* The server of the running test, killed by the teardown when a test fails
 * half way (a live child would hold CTest's output pipe open). */
static struct tvh_server S_srv;

static int S_teardown(void **state)
{
	(void)state;
	if (S_srv.dir[0])
		tvh_cleanup(&S_srv);
	memset(&S_srv, 0, sizeof(S_srv));
	return 0;
}
#define N_LEAVES 5

/* Every row of a query, as text: "col|col\n..." (SQLite's or PostgreSQL's). */
static char *S_dump_sqlite(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	int i;

	assert_non_null(out);
	out[0] = '\0';
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (i = 0; i < sqlite3_column_count(st); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			size_t n = strlen(v ? v : "NULL") + 2;

			if (len + n + 1 > cap) {
				cap = (len + n + 1) * 2;
				out = realloc(out, cap);
				assert_non_null(out);
			}
			len += (size_t)snprintf(out + len, cap - len, "%s%s", v ? v : "NULL",
						i + 1 < sqlite3_column_count(st) ? "|" : "\n");
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static char *S_dump_pg(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = PQexec(c, sql);
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	int i, j;

	assert_non_null(out);
	out[0] = '\0';
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	for (i = 0; i < PQntuples(r); i++) {
		for (j = 0; j < PQnfields(r); j++) {
			const char *v = PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j);
			size_t n = strlen(v) + 2;

			if (len + n + 1 > cap) {
				cap = (len + n + 1) * 2;
				out = realloc(out, cap);
				assert_non_null(out);
			}
			len += (size_t)snprintf(out + len, cap - len, "%s%s", v,
						j + 1 < PQnfields(r) ? "|" : "\n");
		}
	}
	PQclear(r);
	PQfinish(c);
	return out;
}

/* The same rows on both sides: sqlite_sql and pg_sql select the same columns,
 * blobs as upper-case hex. */
static void S_same(const char *sqlite_path, const char *url, const char *sqlite_sql,
		   const char *pg_sql, size_t min_rows)
{
	char *a = S_dump_sqlite(sqlite_path, sqlite_sql), *b = S_dump_pg(url, pg_sql);
	size_t rows = 0;
	const char *p;

	for (p = a; *p; p++)
		rows += *p == '\n';
	if (strcmp(a, b))
		fail_msg("differs:\n%s\n--- vs ---\n%s", a, b);
	if (rows < min_rows)
		fail_msg("%zu rows, wanted %zu or more:\n%s", rows, min_rows, a);
	free(a);
	free(b);
}

static json_t *S_p12_item(const unsigned char pk[32], const unsigned char *der, size_t len,
			  const char *pw)
{
	char *b = tvh_b64(der, len), *sealed = tvh_seal_b64(pk, pw, strlen(pw));
	json_t *o = json_pack("{s:s,s:s}", "pkcs12Keystore", b, "dekEncryptedPassword", sealed);

	free(b);
	free(sealed);
	return o;
}

/* A SQLite vault with a bit of everything; a job left waiting in its queue. */
static void S_make_vault(struct tvh_server *s, struct tvh_ca *ca, unsigned char *leaf0,
			 size_t leaf0_len, char ids[N_LEAVES][64], char *waiting_job)
{
	const char *extra[] = { "--no-system-roots", NULL };
	json_t *items = json_array(), *job;
	unsigned char pk[32];
	struct tvh_resp r;
	char body[256], *id;
	int i;

	tvh_init(s);
	tvh_start(s, extra);
	tvh_dek_key(s, s->api_key, pk);
	tvh_trust(s, s->api_key, (const char *const[]){ ca->pem }, 1);
	json_array_append_new(items, S_p12_item(pk, leaf0, leaf0_len, PASS));
	for (i = 1; i < N_LEAVES; i++) {
		char cn[64];
		size_t len;
		unsigned char *der;

		snprintf(cn, sizeof(cn), "m%d.migrate.test", i);
		der = tvh_leaf_p12(ca, cn, PASS, &len, NULL);
		json_array_append_new(items, S_p12_item(pk, der, len, PASS));
		free(der);
	}
	json_array_append_new(items, S_p12_item(pk, leaf0, leaf0_len, "wrong-password"));
	id = tvh_post_job(s, s->api_key, tvh_envelope(s, items), NULL);
	job = tvh_wait_job(s, s->api_key, id);
	for (i = 0; i < N_LEAVES; i++) {
		json_t *res = tvh_result(job, i);

		assert_string_equal(json_string_value(json_object_get(res, "status")), "IMPORTED");
		snprintf(ids[i], 64, "%s", json_string_value(json_object_get(res, "certificateId")));
	}
	json_decref(job);
	free(id);
	tvh_request(&r, s, "POST", "/v1/apikeys", s->api_key,
		    "{\"name\":\"ro\",\"role\":\"READ_ONLY\"}", 32, NULL);
	assert_int_equal(r.status, 201);
	tvh_resp_free(&r);
	snprintf(body, sizeof(body), "{\"certificateIds\":[\"%s\"]}", ids[1]);
	tvh_request(&r, s, "POST", "/outagedetection/v1/certificates/retirement", s->api_key, body,
		    strlen(body), NULL);
	assert_int_equal(r.status, 200);
	tvh_resp_free(&r);
	assert_int_equal(tvh_stop(s, SIGTERM), 0);
	/* a job the old server never ran: it waits in the queue, with its
	 * keystore and sealed password, and must move with the rest */
	{
		struct tv_store *st = NULL;
		char url[300];
		struct tv_import_item it = { .index = 0, .kind = TV_ITEM_PKCS12 };
		struct tv_import_job jb;
		char *pw = tvh_seal_b64(pk, PASS, strlen(PASS));
		size_t pwlen = 0;
		unsigned char sealed[256];

		assert_int_equal(tv_b64_decode_to(sealed, sizeof(sealed), &pwlen, pw, strlen(pw)),
				 TV_OK);
		free(pw);
		snprintf(url, sizeof(url), "sqlite:%.255s/tlsvault.db", s->dir);
		assert_int_equal(tv_store_open(&st, url, false), TV_OK);
		memset(&jb, 0, sizeof(jb));
		tv_uuid_new(jb.id);
		assert_true(snprintf(jb.tenant_id, sizeof(jb.tenant_id), "%s", s->tenant_id) <
			    (int)sizeof(jb.tenant_id));
		assert_true(snprintf(jb.edge_id, sizeof(jb.edge_id), "%s", s->edge_id) <
			    (int)sizeof(jb.edge_id));
		assert_true(snprintf(jb.dek_id, sizeof(jb.dek_id), "%s", s->key_id) <
			    (int)sizeof(jb.dek_id));
		jb.created_ms = tv_now_ms();
		jb.n_items = 1;
		it.keystore = leaf0;
		it.keystore_len = leaf0_len;
		it.sealed_password = sealed;
		it.sealed_password_len = pwlen;
		assert_int_equal(st->ops->job_create(st, &jb, &it, 1, 0), TV_OK);
		tv_store_close(st);
		strcpy(waiting_job, jb.id);
	}
}

/* Export a certificate's key as PKCS#12 and check it opens and matches. */
static void S_export_opens(const struct tvh_server *s, const char *id)
{
	unsigned char pk[32];
	char path[200], body[1024], *sp;
	const unsigned char *p;
	struct tvh_resp r;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	PKCS12 *p12;

	tvh_dek_key(s, s->api_key, pk);
	sp = tvh_seal_b64(pk, "Exp0rt-pass", 11);
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", id);
	snprintf(body, sizeof(body),
		 "{\"exportFormat\":\"PKCS12\",\"encryptedPrivateKeyPassphrase\":\"%s\","
		 "\"encryptedKeystorePassphrase\":\"\",\"certificateLabel\":\"web\"}", sp);
	tvh_request(&r, s, "POST", path, s->api_key, body, strlen(body), NULL);
	assert_int_equal(r.status, 200);
	p = (const unsigned char *)r.body;
	p12 = d2i_PKCS12(NULL, &p, (long)r.len);
	assert_non_null(p12);
	assert_int_equal(PKCS12_parse(p12, "Exp0rt-pass", &key, &cert, NULL), 1);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	EVP_PKEY_free(key);
	X509_free(cert);
	PKCS12_free(p12);
	tvh_resp_free(&r);
	free(sp);
}

static void test_migrate_sqlite_to_pg(void **state)
{
	struct tvh_server *s = &S_srv;
	struct tvh_ca ca;
	struct tvt_db db;
	char ids[N_LEAVES][64], waiting[64], sqlite_path[300], *out = NULL;
	unsigned char *leaf0;
	size_t leaf0_len;
	json_t *j, *job;

	(void)state;
	if (!tvt_db_server())
		skip();
	assert_int_equal(tvt_db_new(&db, "migrate"), 0);
	tvh_ca_new(&ca, "Migrate CA");
	leaf0 = tvh_leaf_p12(&ca, "m0.migrate.test", PASS, &leaf0_len, NULL);
	S_make_vault(s, &ca, leaf0, leaf0_len, ids, waiting);
	snprintf(sqlite_path, sizeof(sqlite_path), "%.255s/tlsvault.db", s->dir);
	{
		char from[300];
		const char *args[] = { TVD_PATH, "migrate", "--from", from, "--to", db.url, NULL };

		snprintf(from, sizeof(from), "sqlite:%.255s", s->dir);
		assert_int_equal(tvh_run(&out, args), 0);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		free(out);
		assert_int_equal(json_integer_value(json_object_get(
					 json_object_get(j, "migrated"), "tenants")), 1);
		/* the leaves and the CA */
		assert_int_equal(json_integer_value(json_object_get(
					 json_object_get(j, "migrated"), "certificates")),
				 N_LEAVES + 1);
		assert_int_equal(json_integer_value(json_object_get(
					 json_object_get(j, "migrated"), "api_keys")), 2);
		json_decref(j);
		/* a second copy into the same database is refused, and changes nothing */
		assert_int_equal(tvh_run(NULL, args), 1);
	}
	/* byte for byte: wrapped DEKs, sealed keys, key hashes, waiting inputs */
	S_same(sqlite_path, db.url, "SELECT id, tenant_id, hex(public_key), hex(wrapped_secret_key)"
				    " FROM deks ORDER BY id",
	       "SELECT id, tenant_id, upper(encode(public_key, 'hex')),"
	       " upper(encode(wrapped_secret_key, 'hex')) FROM deks ORDER BY id", 1);
	/* (SQLite's hex(NULL) is '') */
	S_same(sqlite_path, db.url, "SELECT id, fingerprint, status, hex(sealed_key), dek_id,"
				    " issuer_ids FROM certificates ORDER BY id",
	       "SELECT id, fingerprint, status, coalesce(upper(encode(sealed_key, 'hex')), ''),"
	       " dek_id, issuer_ids FROM certificates ORDER BY id", N_LEAVES + 1);
	S_same(sqlite_path, db.url, "SELECT id, role, hex(key_hash) FROM api_keys ORDER BY id",
	       "SELECT id, role, upper(encode(key_hash, 'hex')) FROM api_keys ORDER BY id", 2);
	S_same(sqlite_path, db.url, "SELECT id, action, outcome FROM audit_log ORDER BY id",
	       "SELECT id, action, outcome FROM audit_log ORDER BY id", 1);
	S_same(sqlite_path, db.url, "SELECT job_id, item_index, state, hex(keystore),"
				    " hex(sealed_password) FROM import_items LEFT JOIN"
				    " import_inputs USING (job_id, item_index) WHERE state <> 'FINAL'",
	       "SELECT job_id, item_index, state, upper(encode(keystore, 'hex')),"
	       " upper(encode(sealed_password, 'hex')) FROM import_items WHERE state <> 'FINAL'",
	       1);
	S_same(sqlite_path, db.url, "SELECT job_id, item_index, seq, status, reason FROM"
				    " import_results ORDER BY 1, 2, 3",
	       "SELECT job_id, item_index, seq, status, reason FROM import_results"
	       " ORDER BY 1, 2, 3", N_LEAVES + 1);
	/* served from PostgreSQL with the same master.key and API key */
	snprintf(s->db, sizeof(s->db), "%s", db.url);
	tvh_start(s, (const char *const[]){ "--no-system-roots", NULL });
	S_export_opens(s, ids[0]);
	/* the waiting job ran there; its certificate was already in the vault */
	job = tvh_wait_job(s, s->api_key, waiting);
	assert_string_equal(json_string_value(json_object_get(tvh_result(job, 0), "status")),
			    "SKIPPED");
	assert_non_null(strstr(json_string_value(json_object_get(tvh_result(job, 0), "reason")),
			       "ALREADY_IMPORTED"));
	json_decref(job);
	{
		struct tvh_resp r;
		const char *body = "{\"expression\":{\"field\":\"certificateStatus\","
				   "\"operator\":\"EQ\",\"value\":\"RETIRED\"}}";

		tvh_request(&r, s, "POST", "/outagedetection/v1/certificatesearch", s->api_key,
			    body, strlen(body), NULL);
		assert_int_equal(r.status, 200);
		assert_int_equal(json_array_size(json_object_get(r.json, "certificates")), 1);
		assert_string_equal(json_string_value(json_object_get(
					    json_array_get(json_object_get(r.json, "certificates"), 0),
					    "id")),
				    ids[1]);
		tvh_resp_free(&r);
		/* new audit rows follow the copied ones */
		tvh_request(&r, s, "GET", "/v1/auditlog?limit=1000", s->api_key, NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		tvh_resp_free(&r);
	}
	/* the admin commands work on the PostgreSQL vault, the server running */
	{
		const char *tenant[] = { TVD_PATH, "tenant", "create", "--data", s->dir, "--db",
					 s->db, "--name", "second", NULL };
		const char *apikey[] = { TVD_PATH, "apikey", "create", "--data", s->dir, "--db",
					 s->db, "--tenant", s->tenant_id, "--role", "READ_ONLY",
					 NULL };
		struct tvh_resp r;
		char key[64];

		assert_int_equal(tvh_run(&out, tenant), 0);
		j = json_loads(out, 0, NULL);
		free(out);
		assert_non_null(j);
		snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(j, "apiKey")));
		json_decref(j);
		tvh_request(&r, s, "GET", "/v1/edgeencryptionkeys", key, NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		tvh_resp_free(&r);
		assert_int_equal(tvh_run(&out, apikey), 0);
		j = json_loads(out, 0, NULL);
		free(out);
		assert_non_null(j);
		snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(j, "apiKey")));
		json_decref(j);
		tvh_request(&r, s, "GET", "/v1/edgeinstances", key, NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		tvh_resp_free(&r);
	}
	assert_int_equal(tvh_stop(s, SIGTERM), 0);
	free(leaf0);
	tvh_ca_free(&ca);
	tvh_cleanup(s);
	assert_int_equal(tvt_db_drop(&db), 0);
}

/* Everything tlsvaultd prints (stdout and stderr) for args. */
static char *S_all_output(const char *args, int *status)
{
	char cmd[1024], *out = malloc(65536);
	size_t len = 0, n;
	FILE *p;

	assert_non_null(out);
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", TVD_PATH, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(out + len, 1, 65535 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	*status = pclose(p);
	return out;
}

static void test_bad_urls(void **state)
{
	struct tvh_server *s = &S_srv;
	char args[600], *out;
	int status;

	(void)state;
	tvh_init(s);
	/* an unreachable server: a reason, exit 1, and never the password */
	snprintf(args, sizeof(args),
		 "serve --data '%.255s' --listen 127.0.0.1:0 --db postgresql://u:T0pSecret@127.0.0.1:1/x",
		 s->dir);
	out = S_all_output(args, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	assert_non_null(strstr(out, "cannot open the store"));
	assert_null(strstr(out, "T0pSecret"));
	free(out);
	snprintf(args, sizeof(args),
		 "tenant create --data '%.255s' --name x --db postgres://u:T0pSecret@127.0.0.1:1/x",
		 s->dir);
	out = S_all_output(args, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	assert_null(strstr(out, "T0pSecret"));
	free(out);
	/* migrate goes from SQLite to PostgreSQL only */
	snprintf(args, sizeof(args), "migrate --from sqlite:'%.255s' --to sqlite:/tmp/x.db", s->dir);
	out = S_all_output(args, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	free(out);
	snprintf(args, sizeof(args), "migrate --from '%.255s/none' --to postgresql://127.0.0.1:1/x",
		 s->dir);
	out = S_all_output(args, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	assert_non_null(strstr(out, "no vault"));
	free(out);
	/* an API-only node needs the shared database */
	snprintf(args, sizeof(args), "serve --data '%.255s' --workers 0", s->dir);
	out = S_all_output(args, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	free(out);
	tvh_cleanup(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_migrate_sqlite_to_pg, S_teardown),
		cmocka_unit_test_teardown(test_bad_urls, S_teardown),
	};

	return cmocka_run_group_tests_name("integration/migrate", tests, NULL, NULL);
}
