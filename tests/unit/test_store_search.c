/* tv-test-libs: tv_store */
/* tv-test-pg: both */
/* The search compilers: parameterised SQL, injection-proof values, query
 * plans that use the indexes (EXPLAIN over a seeded table), and the vault's
 * search, paging and state changes giving the same answers on both
 * backends (unit-pg/ runs this on PostgreSQL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/sqlite_int.h"
#include "test_db.h"

static void test_compiles_to_placeholders(void **state)
{
	struct tv_search_value v1 = { .text = "x' OR 1=1 --" }, v2 = { .num = 2048 };
	struct tv_search_value in[3] = { { .text = "a" }, { .text = "b" }, { .text = "c" } };
	struct tv_search_expr kids[3] = {
		{ .op = TV_SO_MATCH, .field = TV_SF_SUBJECT_CN, .values = &v1, .n_values = 1 },
		{ .op = TV_SO_GTE, .field = TV_SF_KEY_STRENGTH, .values = &v2, .n_values = 1 },
		{ .op = TV_SO_IN, .field = TV_SF_CERTIFICATE_NAME, .values = in, .n_values = 3 },
	};
	struct tv_search_expr or = { .op = TV_SO_OR, .children = kids + 1, .n_children = 2 };
	struct tv_search_expr and_kids[2];
	struct tv_search_expr root = { .op = TV_SO_AND, .children = and_kids, .n_children = 2 };
	struct tv__sql_query *q = calloc(1, sizeof(*q));

	(void)state;
	and_kids[0] = kids[0];
	and_kids[1] = or;
	assert_int_equal(tv__sqlite_search_where(q, &root, 0), TV_OK);
	assert_string_equal(q->sql, "(instr(lower(coalesce(subject_cn, '')), lower(?)) > 0 AND "
				    "(key_strength >= ? OR certificate_name IN (?, ?, ?)))");
	assert_int_equal(q->n_binds, 5);
	assert_string_equal(q->binds[0].text, "x' OR 1=1 --"); /* bound, never spliced */
	assert_null(strstr(q->sql, "OR 1=1"));
	/* malformed trees are refused */
	memset(q, 0, sizeof(*q));
	kids[1].n_values = 0;
	assert_int_equal(tv__sqlite_search_where(q, &kids[1], 0), TV_ERR_INVALID);
	memset(q, 0, sizeof(*q));
	assert_int_equal(tv__sqlite_search_where(q, &root, TV_SEARCH_MAX_DEPTH + 1), TV_ERR_INVALID);
	free(q);
}

/* The PostgreSQL compiler: the same tree in its dialect, $2.. placeholders. */
static void test_pg_compiles_to_placeholders(void **state)
{
	struct tv_search_value v1 = { .text = "x' OR 1=1 --" }, v2 = { .num = 2048 };
	struct tv_search_value in[2] = { { .text = "a" }, { .text = "b" } };
	struct tv_search_value san = { .text = "www.example.com" };
	struct tv_search_expr kids[4] = {
		{ .op = TV_SO_MATCH, .field = TV_SF_SUBJECT_CN, .values = &v1, .n_values = 1 },
		{ .op = TV_SO_GTE, .field = TV_SF_KEY_STRENGTH, .values = &v2, .n_values = 1 },
		{ .op = TV_SO_IN, .field = TV_SF_CERTIFICATE_NAME, .values = in, .n_values = 2 },
		{ .op = TV_SO_EQ, .field = TV_SF_SAN_DNS, .values = &san, .n_values = 1 },
	};
	struct tv_search_expr or = { .op = TV_SO_OR, .children = kids + 1, .n_children = 3 };
	struct tv_search_expr and_kids[2], empty = { .op = TV_SO_AND };
	struct tv_search_expr root = { .op = TV_SO_AND, .children = and_kids, .n_children = 2 };
	struct tv__pg_query *q = calloc(1, sizeof(*q));

	(void)state;
	and_kids[0] = kids[0];
	and_kids[1] = or;
	assert_int_equal(tv__pg_search_where(q, &root, 0), TV_OK);
	assert_string_equal(q->sql,
			    "(strpos(lower(coalesce(subject_cn::text, '')), lower($2::text)) > 0 AND "
			    "(key_strength >= $3 OR certificate_name IN ($4, $5) OR "
			    "(strpos(chr(10) || lower(coalesce(san_dns, '')) || chr(10), chr(10) || "
			    "lower($6::text) || chr(10)) > 0)))");
	assert_int_equal(q->n_binds, 5);
	assert_string_equal(q->binds[0].text, "x' OR 1=1 --");
	assert_null(strstr(q->sql, "OR 1=1"));
	memset(q, 0, sizeof(*q));
	assert_int_equal(tv__pg_search_where(q, &empty, 0), TV_OK);
	assert_string_equal(q->sql, "TRUE");
	memset(q, 0, sizeof(*q));
	kids[1].n_values = 0;
	assert_int_equal(tv__pg_search_where(q, &kids[1], 0), TV_ERR_INVALID);
	memset(q, 0, sizeof(*q));
	assert_int_equal(tv__pg_search_where(q, &root, TV_SEARCH_MAX_DEPTH + 1), TV_ERR_INVALID);
	free(q);
}

/* The plan of a query text, all lines joined. */
static void S_plan(sqlite3 *db, const char *sql, char *out, size_t size)
{
	char full[8400];
	sqlite3_stmt *st;
	size_t len = 0;

	snprintf(full, sizeof(full), "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_prepare_v2(db, full, -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW && len < size - 1)
		len += (size_t)snprintf(out + len, size - len, "%s\n",
					(const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
}

static void S_sqlite_plans(void)
{
	char dir[64], path[128], url[160], plan[2048];
	struct tv_store *st = NULL;
	sqlite3 *db;
	int i;

	snprintf(dir, sizeof(dir), "/tmp/tlsvault-plan-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(tv_store_open(&st, url, true), TV_OK); /* migrations: the real schema */
	tv_store_close(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO tenants (id, name, created_ms) VALUES ('t', 't', 0);"
				      "BEGIN;", NULL, NULL, NULL), SQLITE_OK);
	for (i = 0; i < 5000; i++) {
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO certificates (id, tenant_id, fingerprint, der, facts,"
			 " validity_end_ms, created_ms, modified_ms) VALUES ('id%d', 't',"
			 " printf('%%040X', %d), x'30', '{}', %d, %d, %d)", i, i * 7919, i * 37 % 5000,
			 i, i);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT; ANALYZE;", NULL, NULL, NULL), SQLITE_OK);
	/* the same SQL text the store runs for these two searches */
	S_plan(db, "SELECT id FROM certificates WHERE tenant_id = ? AND fingerprint = ?"
		   " ORDER BY created_ms DESC, id DESC LIMIT 100 OFFSET 0", plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING INDEX sqlite_autoindex_certificates_2"));
	assert_null(strstr(plan, "SCAN certificates"));
	S_plan(db, "SELECT id FROM certificates WHERE tenant_id = ? ORDER BY validity_end_ms ASC,"
		   " id ASC LIMIT 100 OFFSET 0", plan, sizeof(plan));
	if (!strstr(plan, "certificates_validity_end") || strstr(plan, "TEMP B-TREE"))
		fail_msg("plan: %s", plan);
	sqlite3_close(db);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}


/* The plan of a query on PostgreSQL, all lines joined. */
static void S_pg_plan(PGconn *c, const char *sql, char *out, size_t size)
{
	char full[1024];
	PGresult *r;
	size_t len = 0;
	int i;

	snprintf(full, sizeof(full), "EXPLAIN %s", sql);
	r = PQexec(c, full);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	out[0] = '\0';
	for (i = 0; i < PQntuples(r) && len < size - 1; i++)
		len += (size_t)snprintf(out + len, size - len, "%s\n", PQgetvalue(r, i, 0));
	PQclear(r);
}

static void S_pg_plans(void)
{
	struct tvt_db d;
	struct tv_store *st = NULL;
	char plan[4096];
	PGconn *c;

	assert_int_equal(tvt_db_new(&d, "plan"), 0);
	assert_int_equal(tv_store_open(&st, d.url, true), TV_OK);
	tv_store_close(st);
	c = PQconnectdb(d.url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "INSERT INTO tenants (id, name, created_ms) VALUES ('t', 't', 0),"
			  " ('u', 'u', 0)"));
	/* two tenants, so the tenant condition is selective as in real use */
	PQclear(PQexec(c, "INSERT INTO certificates (id, tenant_id, fingerprint, der, facts,"
			  " validity_end_ms, created_ms, modified_ms)"
			  " SELECT 'id' || i, CASE WHEN i % 10 = 0 THEN 't' ELSE 'u' END,"
			  " lpad(to_hex(i * 7919), 40, '0'), '\\x30', '{}', (i * 37) % 50000, i, i"
			  " FROM generate_series(1, 50000) i"));
	PQclear(PQexec(c, "ANALYZE certificates"));
	/* the same SQL text the store runs for these two searches */
	S_pg_plan(c, "SELECT id FROM certificates WHERE tenant_id = 't' AND fingerprint = 'x'"
		     " ORDER BY created_ms DESC NULLS LAST, id DESC LIMIT 100 OFFSET 0",
		  plan, sizeof(plan));
	if (!strstr(plan, "certificates_tenant_id_fingerprint_key"))
		fail_msg("plan: %s", plan);
	S_pg_plan(c, "SELECT id FROM certificates WHERE tenant_id = 't' ORDER BY validity_end_ms"
		     " ASC NULLS FIRST, id ASC LIMIT 100 OFFSET 0", plan, sizeof(plan));
	if (!strstr(plan, "certificates_validity_end") || strstr(plan, "Sort"))
		fail_msg("plan: %s", plan);
	S_pg_plan(c, "SELECT id FROM certificates WHERE tenant_id = 't' ORDER BY created_ms"
		     " DESC NULLS LAST, id DESC LIMIT 100 OFFSET 0", plan, sizeof(plan));
	if (!strstr(plan, "Scan Backward using certificates_created") || strstr(plan, "Sort"))
		fail_msg("plan: %s", plan);
	PQfinish(c);
	assert_int_equal(tvt_db_drop(&d), 0);
}

static void test_plans_use_indexes(void **state)
{
	(void)state;
	if (tvt_db_server())
		S_pg_plans();
	else
		S_sqlite_plans();
}

/* ---------- the vault's search, on the backend under test ---------- */

struct S_cert {
	const char *fp, *name, *cn, *san, *serial;
	int bits;
	int64_t end;
};

/* Six certificates; one without a name (NULL sorts first ascending). */
static const struct S_cert S_certs[] = {
	{ "A000000000000000000000000000000000000001", "alpha", "alpha.example.com",
	  "alpha.example.com\nwww.a.test", "01", 2048, 5000 },
	{ "A000000000000000000000000000000000000002", "Zeta", "zeta.EXAMPLE.org",
	  "zeta.example.org", "02", 256, 1000 },
	{ "A000000000000000000000000000000000000003", NULL, "noname.test", "", "03", 4096, 3000 },
	{ "A000000000000000000000000000000000000004", "beta", "beta.example.com",
	  "www.b.test\nb.example.com", "04", 384, 2000 },
	{ "A000000000000000000000000000000000000005", "gamma", "gamma.internal",
	  "gamma.internal", "05", 3072, 4000 },
	{ "A000000000000000000000000000000000000006", "alpha2", "x_100%.test", "x.test", "06",
	  521, 6000 },
};
#define S_NCERTS (sizeof(S_certs) / sizeof(S_certs[0]))

struct S_env {
	struct tvt_db db;
	struct tv_store *st;
	char tenant[TV_ID_SIZE];
	char ids[S_NCERTS][TV_ID_SIZE];
};

/* A tenant, and the certificates imported through the queue (the only way
 * the store writes them), created one millisecond apart. */
static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));
	struct tv_tenant t = { .created_ms = 1 };
	struct tv_dek d = { .wrapped_len = 72, .created_ms = 1 };
	struct tv_edge ed = { .deployed_ms = 1, .dek_deployed_ms = 1, .modified_ms = 1 };
	struct tv_apikey k = { .role = TV_ROLE_ADMIN, .created_ms = 1 };
	struct tv_import_item items[S_NCERTS];
	struct tv_import_job job;
	size_t i;

	if (!e || tvt_db_new(&e->db, "search") || tv_store_open(&e->st, e->db.url, true))
		return -1;
	snprintf(t.id, sizeof(t.id), "00000000-0000-4000-8000-000000000001");
	snprintf(t.name, sizeof(t.name), "t");
	snprintf(d.id, sizeof(d.id), "dek");
	memcpy(d.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.id, sizeof(ed.id), "10000000-0000-4000-8000-000000000001");
	memcpy(ed.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.dek_id, sizeof(ed.dek_id), "dek");
	snprintf(k.id, sizeof(k.id), "20000000-0000-4000-8000-000000000001");
	memcpy(k.tenant_id, t.id, sizeof(t.id));
	if (e->st->ops->tenant_bootstrap(e->st, &t, &d, &ed, &k))
		return -1;
	memcpy(e->tenant, t.id, sizeof(t.id));
	memset(&job, 0, sizeof(job));
	memset(items, 0, sizeof(items));
	memcpy(job.tenant_id, t.id, sizeof(t.id));
	memcpy(job.edge_id, ed.id, sizeof(ed.id));
	snprintf(job.dek_id, sizeof(job.dek_id), "dek");
	snprintf(job.id, sizeof(job.id), "30000000-0000-4000-8000-000000000001");
	job.created_ms = 1;
	job.n_items = (int)S_NCERTS;
	for (i = 0; i < S_NCERTS; i++) {
		items[i].index = (int)i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
	}
	if (e->st->ops->job_create(e->st, &job, items, S_NCERTS, 0))
		return -1;
	for (i = 0; i < S_NCERTS; i++) {
		const struct S_cert *sc = &S_certs[i];
		struct tv_cert_row row = {
			.der = (const unsigned char *)"\x30\x00", .der_len = 2, .facts_json = "{}",
			.certificate_name = sc->name, .subject_cn = sc->cn, .san_dns = sc->san,
			.serial_number = sc->serial, .issuer_dn = "CN=ca", .encryption_type = "EC",
			.validity_start_ms = 10, .validity_end_ms = sc->end, .key_strength = sc->bits,
		};
		struct tv_item_outcome o = { .status = "IMPORTED", .reason = "", .cert = &row,
					     .sealed_key = (const unsigned char *)"k",
					     .sealed_key_len = 1 };
		struct tv_claimed_item c;
		bool final;

		memcpy(row.fingerprint, sc->fp, 41);
		memcpy(o.fingerprint, sc->fp, 41);
		if (e->st->ops->item_claim(e->st, "w", 100, 99999, 0, &c) ||
		    e->st->ops->item_finish(e->st, c.job_id, c.item.index, "w", &o, 1,
					    1000 + (int64_t)i, &final))
			return -1;
		tv_import_item_release(&c.item);
	}
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;
	int rc;

	tv_store_close(e->st);
	rc = tvt_db_drop(&e->db);
	free(e);
	return rc;
}

/* Run a search; the certificates' serial numbers in page order, joined. */
static size_t S_search(struct S_env *e, const struct tv_search_expr *expr,
		       const struct tv_search_order *orders, size_t n_orders, size_t page,
		       size_t size, char *out)
{
	struct tv_search q = { .expr = expr, .orders = orders, .n_orders = n_orders,
			       .page_number = page, .page_size = size };
	struct tv_cert_record *rows = NULL;
	size_t n = 0, total = 0, i;

	assert_int_equal(e->st->ops->cert_search(e->st, e->tenant, &q, &rows, &n, &total), TV_OK);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		struct tv_cert_record rec;
		size_t k;

		for (k = 0; k < S_NCERTS; k++)
			if (!strcmp(rows[i].fingerprint, S_certs[k].fp))
				strcat(out, S_certs[k].serial);
		assert_int_equal(e->st->ops->cert_get(e->st, e->tenant, rows[i].id, &rec), TV_OK);
		assert_string_equal(rec.fingerprint, rows[i].fingerprint);
		free(rec.der);
		free(rec.facts_json);
		free(rec.issuer_ids_json);
	}
	tv_cert_records_free(rows, n);
	return total;
}

static void test_search_semantics(void **state)
{
	struct S_env *e = *state;
	struct tv_search_value match = { .text = "EXAMPLE" }, san = { .text = "WWW.B.test" };
	struct tv_search_value part = { .text = "b.test" }, bits = { .num = 2048 };
	struct tv_search_value names[2] = { { .text = "beta" }, { .text = "Zeta" } };
	struct tv_search_value pct = { .text = "_100%" };
	struct tv_search_expr c_match = { .op = TV_SO_MATCH, .field = TV_SF_SUBJECT_CN,
					  .values = &match, .n_values = 1 };
	struct tv_search_expr c_san = { .op = TV_SO_EQ, .field = TV_SF_SAN_DNS, .values = &san,
					.n_values = 1 };
	struct tv_search_expr c_part = { .op = TV_SO_EQ, .field = TV_SF_SAN_DNS, .values = &part,
					 .n_values = 1 };
	struct tv_search_expr c_bits = { .op = TV_SO_GTE, .field = TV_SF_KEY_STRENGTH,
					 .values = &bits, .n_values = 1 };
	struct tv_search_expr c_in = { .op = TV_SO_IN, .field = TV_SF_CERTIFICATE_NAME,
				       .values = names, .n_values = 2 };
	struct tv_search_expr c_pct = { .op = TV_SO_MATCH, .field = TV_SF_SUBJECT_CN,
					.values = &pct, .n_values = 1 };
	struct tv_search_expr or_kids[2] = { c_in, c_bits };
	struct tv_search_expr c_or = { .op = TV_SO_OR, .children = or_kids, .n_children = 2 };
	struct tv_search_expr and_kids[2] = { c_match, c_or };
	struct tv_search_expr c_and = { .op = TV_SO_AND, .children = and_kids, .n_children = 2 };
	struct tv_search_order by_name = { TV_SF_CERTIFICATE_NAME, false };
	struct tv_search_order by_name_desc = { TV_SF_CERTIFICATE_NAME, true };
	struct tv_search_order by_end = { TV_SF_VALIDITY_END, false };
	char got[64];

	/* default order: newest first; paging over it */
	assert_int_equal(S_search(e, NULL, NULL, 0, 0, 10, got), 6);
	assert_string_equal(got, "060504030201");
	assert_int_equal(S_search(e, NULL, NULL, 0, 1, 4, got), 6);
	assert_string_equal(got, "0201");
	/* names by byte order, NULL first ascending and last descending */
	S_search(e, NULL, &by_name, 1, 0, 10, got);
	assert_string_equal(got, "030201060405");
	S_search(e, NULL, &by_name_desc, 1, 0, 10, got);
	assert_string_equal(got, "050406010203");
	S_search(e, NULL, &by_end, 1, 0, 10, got);
	assert_string_equal(got, "020403050106");
	/* MATCH ignores ASCII case; a SAN matches a whole name only */
	assert_int_equal(S_search(e, &c_match, NULL, 0, 0, 10, got), 3);
	assert_string_equal(got, "040201");
	assert_int_equal(S_search(e, &c_san, NULL, 0, 0, 10, got), 1);
	assert_string_equal(got, "04");
	assert_int_equal(S_search(e, &c_part, NULL, 0, 0, 10, got), 0);
	/* pattern characters are plain text */
	assert_int_equal(S_search(e, &c_pct, NULL, 0, 0, 10, got), 1);
	assert_string_equal(got, "06");
	/* AND over OR of IN and a number */
	assert_int_equal(S_search(e, &c_and, &by_end, 1, 0, 10, got), 3);
	assert_string_equal(got, "020401");
	/* (ext) dekHash: the key id each stored key is sealed to */
	{
		struct tv_search_value dek = { .text = "dek" }, other = { .text = "other" };
		struct tv_search_expr c_dek = { .op = TV_SO_EQ, .field = TV_SF_DEK_HASH,
						.values = &dek, .n_values = 1 };
		struct tv_search_expr c_other = { .op = TV_SO_EQ, .field = TV_SF_DEK_HASH,
						  .values = &other, .n_values = 1 };

		assert_int_equal(S_search(e, &c_dek, NULL, 0, 0, 10, got), 6);
		assert_int_equal(S_search(e, &c_other, NULL, 0, 0, 10, got), 0);
	}
}

static void test_status_and_delete(void **state)
{
	struct S_env *e = *state;
	struct tv_search_value retired = { .text = "RETIRED" };
	struct tv_search_expr c_ret = { .op = TV_SO_EQ, .field = TV_SF_STATUS, .values = &retired,
					.n_values = 1 };
	struct tv_cert_record *rows = NULL;
	struct tv_search q = { .page_size = 10 };
	const char *ids[2], *bad[2];
	struct tv_audit_row *audit = NULL;
	size_t n = 0, total = 0, i;
	unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	char got[64];
	struct tv_cert_record rec;

	assert_int_equal(e->st->ops->cert_search(e->st, e->tenant, &q, &rows, &n, &total), TV_OK);
	assert_int_equal(n, 6);
	for (i = 0; i < n; i++)
		memcpy(e->ids[i], rows[i].id, TV_ID_SIZE);
	tv_cert_records_free(rows, n);
	ids[0] = e->ids[0];
	ids[1] = e->ids[1];
	bad[0] = e->ids[2];
	bad[1] = "nope";
	/* one unknown id: nothing changes */
	assert_int_equal(e->st->ops->cert_set_status(e->st, e->tenant, bad, 2, "RETIRED", 50),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(S_search(e, &c_ret, NULL, 0, 0, 10, got), 0);
	assert_int_equal(e->st->ops->cert_set_status(e->st, e->tenant, ids, 2, "RETIRED", 50),
			 TV_OK);
	assert_int_equal(S_search(e, &c_ret, NULL, 0, 0, 10, got), 2);
	assert_string_equal(got, "0605");
	/* deleting needs RETIRED, and every id present */
	assert_int_equal(e->st->ops->cert_delete(e->st, e->tenant, bad, 1), TV_ERR_STATE);
	assert_int_equal(e->st->ops->cert_delete(e->st, e->tenant, bad, 2), TV_ERR_NOT_FOUND);
	assert_int_equal(e->st->ops->cert_key(e->st, e->tenant, ids[0], &sealed, &sealed_len),
			 TV_OK);
	free(sealed);
	assert_int_equal(e->st->ops->cert_delete(e->st, "00000000-0000-4000-8000-000000000009",
						 ids, 2),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(e->st->ops->cert_delete(e->st, e->tenant, ids, 2), TV_OK);
	assert_int_equal(e->st->ops->cert_get(e->st, e->tenant, ids[0], &rec), TV_ERR_NOT_FOUND);
	assert_int_equal(e->st->ops->cert_key(e->st, e->tenant, ids[0], &sealed, &sealed_len),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(S_search(e, NULL, NULL, 0, 0, 10, got), 4);
	/* the audit log pages by id */
	for (i = 0; i < 3; i++)
		assert_int_equal(e->st->ops->audit_append(
					 e->st, &(struct tv_audit){ .ts_ms = 7 + (int64_t)i,
								    .tenant_id = e->tenant,
								    .actor = "cli", .action = "x" }),
				 TV_OK);
	assert_int_equal(e->st->ops->audit_list(e->st, e->tenant, 0, 2, &audit, &n), TV_OK);
	assert_int_equal(n, 2);
	assert_int_equal(audit[1].ts_ms, 8);
	assert_string_equal(audit[0].outcome, "ok");
	i = (size_t)audit[1].id;
	free(audit);
	assert_int_equal(e->st->ops->audit_list(e->st, e->tenant, (int64_t)i, 10, &audit, &n),
			 TV_OK);
	assert_int_equal(n, 1);
	assert_int_equal(audit[0].ts_ms, 9);
	free(audit);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compiles_to_placeholders),
		cmocka_unit_test(test_pg_compiles_to_placeholders),
		cmocka_unit_test(test_plans_use_indexes),
		cmocka_unit_test_setup_teardown(test_search_semantics, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_status_and_delete, S_setup, S_teardown),
	};

	return cmocka_run_group_tests_name("unit/store_search", tests, NULL, NULL);
}
