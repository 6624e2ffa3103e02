/*
 * DESIGN: the SQLite side of key rotation (issue 11). Each function is one
 * short transaction on a pooled connection, so it runs safely next to a
 * server using the same file (WAL: readers never wait; writers queue on the
 * busy handler). Nothing here sees a plaintext secret: DEK secrets arrive
 * wrapped and private keys sealed.
 */
#include "store/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#define S_DB(st) ((struct tv__sqlite *)(st))

enum tv_err tv__sqlite_dek_insert(struct tv_store *store, const struct tv_dek *d)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_prepare(db, &st,
				"INSERT INTO deks (id, tenant_id, public_key, wrapped_secret_key,"
				" created_ms, last_backup_ms)"
				" SELECT ?1, id, ?2, ?3, ?4, NULL FROM tenants WHERE id = ?5");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, d->id);
		tv__sqlite_bind_blob(st, 2, d->public_key, sizeof(d->public_key));
		tv__sqlite_bind_blob(st, 3, d->wrapped_sk, d->wrapped_len);
		sqlite3_bind_int64(st, 4, d->created_ms);
		tv__sqlite_bind_text(st, 5, d->tenant_id);
		rc = tv__sqlite_step_done(st);
		if (!rc && sqlite3_changes(db) != 1)
			rc = TV_ERR_NOT_FOUND;
	}
	sqlite3_finalize(st);
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

static enum tv_err S_count(sqlite3 *db, int64_t *n)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_prepare(db, &st, "SELECT count(*) FROM deks");

	if (!rc)
		rc = sqlite3_step(st) == SQLITE_ROW ? TV_OK : TV_ERR_STORE;
	if (!rc)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

enum tv_err tv__sqlite_dek_rewrap_all(struct tv_store *store, const struct tv_dek_rewrap *r,
				      size_t n)
{
	sqlite3_stmt *st = NULL;
	int64_t have = 0;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	size_t i;

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = S_count(db, &have);
	if (!rc && have != (int64_t)n)
		rc = TV_ERR_STATE; /* a DEK was added or removed since it was read */
	if (!rc)
		rc = tv__sqlite_prepare(db, &st,
					"UPDATE deks SET wrapped_secret_key = ?1"
					" WHERE id = ?2 AND wrapped_secret_key = ?3");
	for (i = 0; !rc && i < n; i++) {
		sqlite3_reset(st);
		tv__sqlite_bind_blob(st, 1, r[i].new_wrapped, r[i].new_len);
		tv__sqlite_bind_text(st, 2, r[i].id);
		tv__sqlite_bind_blob(st, 3, r[i].old_wrapped, r[i].old_len);
		rc = tv__sqlite_step_done(st);
		if (!rc && sqlite3_changes(db) != 1)
			rc = TV_ERR_STATE;
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

enum tv_err tv__sqlite_edge_set_dek(struct tv_store *store, const char *tenant_id,
				    const char *dek_id, int64_t now_ms)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = tv__sqlite_prepare(db, &st,
					"SELECT 1 FROM deks WHERE id = ?1 AND tenant_id = ?2");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, dek_id);
		tv__sqlite_bind_text(st, 2, tenant_id);
		int r = sqlite3_step(st);
		rc = r == SQLITE_ROW ? TV_OK : r == SQLITE_DONE ? TV_ERR_NOT_FOUND
								: tv__sqlite_err(r);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!rc)
		rc = tv__sqlite_prepare(db, &st,
					"UPDATE edge_instances SET dek_id = ?1, dek_deployed_ms = ?2,"
					" modified_ms = ?2 WHERE tenant_id = ?3 AND dek_id <> ?1");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, dek_id);
		sqlite3_bind_int64(st, 2, now_ms);
		tv__sqlite_bind_text(st, 3, tenant_id);
		rc = tv__sqlite_step_done(st);
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

enum tv_err tv__sqlite_cert_keys_not_on(struct tv_store *store, const char *tenant_id,
					const char *dek_id, size_t limit,
					struct tv_sealed_key **out, size_t *n)
{
	struct tv_sealed_key *rows = NULL;
	sqlite3_stmt *st = NULL;
	size_t cnt = 0;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	int r = SQLITE_DONE;

	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	if (limit == 0 || limit > 100000)
		limit = 100000;
	rows = calloc(limit, sizeof(*rows));
	rc = rows ? TV_OK : TV_ERR_NOMEM;
	if (!rc)
		rc = tv__sqlite_prepare(db, &st,
					"SELECT id, dek_id, sealed_key FROM certificates"
					" WHERE tenant_id = ?1 AND sealed_key IS NOT NULL"
					" AND dek_id IS NOT NULL AND dek_id <> ?2"
					" ORDER BY created_ms, id LIMIT ?3");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		tv__sqlite_bind_text(st, 2, dek_id);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	}
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		tv__sqlite_text(rows[cnt].cert_id, sizeof(rows[cnt].cert_id), st, 0);
		tv__sqlite_text(rows[cnt].dek_id, sizeof(rows[cnt].dek_id), st, 1);
		rc = tv__sqlite_blob_dup(&rows[cnt].sealed, &rows[cnt].sealed_len, st, 2);
		cnt++;
	}
	if (!rc && r != SQLITE_DONE)
		rc = tv__sqlite_err(r);
	sqlite3_finalize(st);
	tv__sqlite_release(S_DB(store), db, false);
	if (rc) {
		tv_sealed_keys_free(rows, cnt);
		return rc;
	}
	if (!cnt) {
		free(rows);
		rows = NULL;
	}
	*out = rows;
	*n = cnt;
	return TV_OK;
}

enum tv_err tv__sqlite_cert_keys_reseal(struct tv_store *store, const char *tenant_id,
					const char *dek_id, const struct tv_sealed_key *k,
					size_t n, size_t *changed)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	size_t i, done = 0;

	*changed = 0;
	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = tv__sqlite_prepare(db, &st,
					"UPDATE certificates SET sealed_key = ?1, dek_id = ?2"
					" WHERE tenant_id = ?3 AND id = ?4 AND dek_id = ?5"
					" AND sealed_key IS NOT NULL"
					" AND EXISTS (SELECT 1 FROM deks WHERE id = ?2"
					" AND tenant_id = ?3)");
	for (i = 0; !rc && i < n; i++) {
		sqlite3_reset(st);
		tv__sqlite_bind_blob(st, 1, k[i].sealed, k[i].sealed_len);
		tv__sqlite_bind_text(st, 2, dek_id);
		tv__sqlite_bind_text(st, 3, tenant_id);
		tv__sqlite_bind_text(st, 4, k[i].cert_id);
		tv__sqlite_bind_text(st, 5, k[i].dek_id);
		rc = tv__sqlite_step_done(st);
		if (!rc)
			done += (size_t)sqlite3_changes(db);
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	if (!rc)
		*changed = done;
	return rc;
}

enum tv_err tv__sqlite_items_pending_not_on(struct tv_store *store, const char *tenant_id,
					    const char *dek_id, size_t *n)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	*n = 0;
	if (rc)
		return rc;
	rc = tv__sqlite_prepare(db, &st,
				"SELECT count(*) FROM import_items i JOIN import_jobs j"
				" ON j.id = i.job_id WHERE i.tenant_id = ?1"
				" AND i.state <> 'FINAL' AND j.dek_id <> ?2");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		tv__sqlite_bind_text(st, 2, dek_id);
		rc = sqlite3_step(st) == SQLITE_ROW ? TV_OK : TV_ERR_STORE;
	}
	if (!rc)
		*n = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}
