/*
 * DESIGN: see copy.h. One descriptor per table, in foreign-key order: the
 * columns and their kinds (t text, i integer, b blob, B boolean, from
 * SQLite's 0/1). Every row is read from SQLite in rowid order and inserted
 * with a statement prepared once; blobs travel in binary form. The two
 * sequences (audit ids, queue turns) are moved past the copied values, and
 * each table's row count is compared before COMMIT.
 */
#include "store/copy.h"

#include <stdio.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/postgres.h"
#include "store/sqlite_int.h"

struct S_table {
	const char *name, *cols, *kinds;
	struct tv__pg_sql insert;
	const char *from; /* the SQLite rows' source when it isn't the table alone */
};

#define S_TABLE(name, cols, kinds, params)                                                   \
	{ name, cols, kinds, { "INSERT INTO " name " (" cols ") VALUES (" params ")" }, NULL }
/* SQLite keeps an item's inputs in import_inputs (its migration 5);
 * PostgreSQL keeps them in the item's row (TOAST stores them apart). */
#define S_TABLE_FROM(name, cols, kinds, params, from)                                        \
	{ name, cols, kinds, { "INSERT INTO " name " (" cols ") VALUES (" params ")" }, from }

static const struct S_table S_tables[TV_STORE_COPY_TABLES] = {
	S_TABLE("tenants", "id, name, created_ms, trust_version", "ttii", "$1, $2, $3, $4"),
	S_TABLE("deks", "id, tenant_id, public_key, wrapped_secret_key, created_ms, last_backup_ms",
		"ttbbii", "$1, $2, $3, $4, $5, $6"),
	S_TABLE("edge_instances",
		"id, tenant_id, name, environment_id, dek_id, deployed_ms, dek_deployed_ms,"
		" last_seen_ms, modified_ms",
		"tttttiiii", "$1, $2, $3, $4, $5, $6, $7, $8, $9"),
	S_TABLE("api_keys",
		"id, tenant_id, name, role, key_hash, created_ms, expires_ms, last_used_ms,"
		" revoked_ms",
		"ttttbiiii", "$1, $2, $3, $4, $5, $6, $7, $8, $9"),
	S_TABLE("audit_log",
		"id, ts_ms, tenant_id, actor, action, object_id, detail, outcome, request_id",
		"iittttttt", "$1, $2, $3, $4, $5, $6, $7, $8, $9"),
	S_TABLE("trusted_cas", "id, tenant_id, fingerprint, certificate_type, der, facts, created_ms",
		"ttttbti", "$1, $2, $3, $4, $5, $6, $7"),
	S_TABLE("certificates",
		"id, tenant_id, fingerprint, der, facts, certificate_name, subject_cn, san_dns,"
		" serial_number, issuer_dn, encryption_type, key_strength, validity_start_ms,"
		" validity_end_ms, status, dek_id, sealed_key, issuer_ids, import_job_id, label,"
		" created_ms, modified_ms",
		"tttbtttttttiiittbtttii",
		"$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
		" $19, $20, $21, $22"),
	S_TABLE("import_jobs",
		"id, tenant_id, edge_id, dek_id, dry_run, status, n_items, n_final, created_ms,"
		" completed_ms",
		"ttttBtiiii", "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10"),
	S_TABLE_FROM("import_items",
		     "job_id, item_index, kind, keystore, key_blob, sealed_password, label, state,"
		     " lease_owner, lease_until_ms, attempts, queued_ms, tenant_id",
		     "tiibbbtttiiit", "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13",
		     "import_items LEFT JOIN import_inputs USING (job_id, item_index)"),
	S_TABLE("import_results",
		"job_id, item_index, seq, status, reason, fingerprint, der, certificate_id, label",
		"tiitttbtt", "$1, $2, $3, $4, $5, $6, $7, $8, $9"),
	S_TABLE("queue_turns", "tenant_id, seq", "ti", "$1, $2"),
};

/* One SQLite row as the parameters of the table's INSERT. */
static void S_row_args(const struct S_table *t, sqlite3_stmt *st, struct tv__pg_args *a)
{
	size_t i;

	a->n = 0;
	for (i = 0; t->kinds[i]; i++) {
		int col = (int)i;

		if (sqlite3_column_type(st, col) == SQLITE_NULL) {
			tv__pg_text(a, NULL);
			continue;
		}
		switch (t->kinds[i]) {
		case 't':
			tv__pg_text(a, (const char *)sqlite3_column_text(st, col));
			break;
		case 'i':
			tv__pg_i64(a, sqlite3_column_int64(st, col));
			break;
		case 'B':
			tv__pg_bool(a, sqlite3_column_int64(st, col) != 0);
			break;
		default: /* 'b' */
			tv__pg_blob(a, sqlite3_column_blob(st, col),
				    (size_t)sqlite3_column_bytes(st, col));
			break;
		}
	}
}

/* Copy one table; *rows counts what was inserted. */
static enum tv_err S_copy_table(sqlite3 *db, struct tv__pg_conn *c, const struct S_table *t,
				int64_t *rows)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	enum tv_err rc;
	int r = SQLITE_DONE;

	*rows = 0;
	if (snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s.rowid", t->cols,
		     t->from ? t->from : t->name, t->name) >= (int)sizeof(sql))
		return TV_ERR_INTERNAL;
	rc = tv__sqlite_prepare(db, &st, sql);
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct tv__pg_args a;

		S_row_args(t, st, &a);
		rc = tv__pg_run(c, &t->insert, &a, NULL);
		if (!rc)
			(*rows)++;
	}
	if (!rc && r != SQLITE_DONE)
		rc = tv__sqlite_err(r);
	sqlite3_finalize(st);
	return rc;
}

static enum tv_err S_count(struct tv__pg_conn *c, const char *table, int64_t *n)
{
	char sql[128];
	PGresult *r = NULL;
	enum tv_err rc;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	rc = tv__pg_run_text(c, sql, 0, NULL, NULL, NULL, &r);
	if (!rc)
		*n = tv__pg_get_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

/* Lock every table against writers and check that none has a row. */
static enum tv_err S_lock_empty(struct tv__pg_conn *c, char *why, size_t why_size)
{
	enum tv_err rc = tv__pg_exec(
		c, "LOCK TABLE tenants, deks, edge_instances, api_keys, audit_log, trusted_cas,"
		   " certificates, import_jobs, import_items, import_results, queue_turns"
		   " IN SHARE ROW EXCLUSIVE MODE");
	size_t i;

	for (i = 0; !rc && i < TV_STORE_COPY_TABLES; i++) {
		int64_t n = 0;

		rc = S_count(c, S_tables[i].name, &n);
		if (!rc && n) {
			if (why)
				snprintf(why, why_size,
					 "the target database is not empty (table %s has rows)",
					 S_tables[i].name);
			rc = TV_ERR_EXISTS;
		}
	}
	return rc;
}

/* Move the sequences past the copied values. */
static enum tv_err S_sequences(struct tv__pg_conn *c)
{
	enum tv_err rc = tv__pg_exec(
		c, "SELECT setval('audit_log_id_seq', coalesce(max(id), 0) + 1, false)"
		   " FROM audit_log");

	if (!rc)
		rc = tv__pg_exec(c, "SELECT setval('queue_turn_seq', coalesce(max(seq), 0) + 1,"
				    " false) FROM queue_turns");
	return rc;
}

static enum tv_err S_copy_all(struct tv__sqlite *src, struct tv__pg *dst,
			      struct tv_store_copy_report *rep, char *why, size_t why_size)
{
	struct tv__pg_conn *c = NULL;
	sqlite3 *db = NULL;
	enum tv_err rc;
	size_t i;

	rc = tv__sqlite_acquire(src, &db);
	if (!rc)
		rc = tv__pg_acquire(dst, &c);
	if (!rc)
		rc = tv__sqlite_exec(db, "BEGIN"); /* one snapshot of the source */
	if (!rc)
		rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = S_lock_empty(c, why, why_size);
	for (i = 0; !rc && i < TV_STORE_COPY_TABLES; i++) {
		int64_t copied = 0, counted = -1;

		rc = S_copy_table(db, c, &S_tables[i], &copied);
		if (!rc)
			rc = S_count(c, S_tables[i].name, &counted);
		if (!rc && counted != copied)
			rc = TV_ERR_INTERNAL;
		rep->tables[i].table = S_tables[i].name;
		rep->tables[i].rows = copied;
		rep->n = i + 1;
	}
	if (!rc)
		rc = S_sequences(c);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	if (rc && c && why && !why[0] && PQerrorMessage(c->pg)[0])
		snprintf(why, why_size, "%.*s", (int)strcspn(PQerrorMessage(c->pg), "\n"),
			 PQerrorMessage(c->pg));
	if (db)
		tv__sqlite_release(src, db, true);
	tv__pg_release(dst, c);
	return rc;
}

enum tv_err tv_store_copy(const char *from_url, const char *to_url,
			  struct tv_store_copy_report *report, char *why, size_t why_size)
{
	struct tv_store *src = NULL, *dst = NULL;
	enum tv_err rc;

	memset(report, 0, sizeof(*report));
	if (why && why_size)
		why[0] = '\0';
	if (tv_store_url_is_pg(from_url) || !tv_store_url_is_pg(to_url))
		return TV_ERR_INVALID;
	rc = tv_store_open(&src, from_url, false);
	if (rc == TV_ERR_INVALID)
		return rc;
	if (!rc && strcmp(src->ops->name, "sqlite"))
		rc = TV_ERR_INVALID;
	/* a new database gets the schema; one with the schema must be empty */
	if (!rc) {
		rc = tv__pg_open(&dst, to_url, true, why, why_size);
		if (rc == TV_ERR_EXISTS)
			rc = tv__pg_open(&dst, to_url, false, why, why_size);
	}
	if (!rc)
		rc = S_copy_all((struct tv__sqlite *)src, (struct tv__pg *)dst, report, why,
				why_size);
	tv_store_close(dst);
	tv_store_close(src);
	return rc;
}
