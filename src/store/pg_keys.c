/*
 * DESIGN: the PostgreSQL side of key rotation (issue 11), with the SQLite
 * backend's semantics (sqlite_keys.c). Master-key rotation locks the deks
 * table (SHARE ROW EXCLUSIVE: no node can add a DEK meanwhile) before it
 * counts and rewrites it; a reseal batch conditions each row on the DEK it
 * was read with, so a certificate deleted or resealed by another node
 * meanwhile is left alone.
 */
#include "store/pg_int.h"

#include <stdlib.h>
#include <string.h>

#define S_DB(st) ((struct tv__pg *)(st))

enum tv_err tv__pg_dek_insert(struct tv_store *store, const struct tv_dek *d)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO deks (id, tenant_id, public_key, wrapped_secret_key, created_ms,"
		" last_backup_ms) SELECT $1, id, $2, $3, $4, NULL FROM tenants WHERE id = $5"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, d->id);
	tv__pg_blob(&a, d->public_key, sizeof(d->public_key));
	tv__pg_blob(&a, d->wrapped_sk, d->wrapped_len);
	tv__pg_i64(&a, d->created_ms);
	tv__pg_text(&a, d->tenant_id);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc && tv__pg_changes(r) != 1)
		rc = TV_ERR_NOT_FOUND;
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	return rc;
}

enum tv_err tv__pg_dek_rewrap_all(struct tv_store *store, const struct tv_dek_rewrap *w,
				  size_t n)
{
	static const struct tv__pg_sql count = { "SELECT count(*) FROM deks" };
	static const struct tv__pg_sql upd = {
		"UPDATE deks SET wrapped_secret_key = $1 WHERE id = $2 AND wrapped_secret_key = $3"
	};
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);
	size_t i;

	if (rc)
		return rc;
	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = tv__pg_exec(c, "LOCK TABLE deks IN SHARE ROW EXCLUSIVE MODE");
	if (!rc)
		rc = tv__pg_run(c, &count, NULL, &r);
	if (!rc && (PQntuples(r) != 1 || tv__pg_get_i64(r, 0, 0) != (int64_t)n))
		rc = TV_ERR_STATE;
	PQclear(r);
	for (i = 0; !rc && i < n; i++) {
		struct tv__pg_args a = { .n = 0 };

		r = NULL;
		tv__pg_blob(&a, w[i].new_wrapped, w[i].new_len);
		tv__pg_text(&a, w[i].id);
		tv__pg_blob(&a, w[i].old_wrapped, w[i].old_len);
		rc = tv__pg_run(c, &upd, &a, &r);
		if (!rc && tv__pg_changes(r) != 1)
			rc = TV_ERR_STATE;
		PQclear(r);
	}
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c); /* rolls back an open transaction */
	return rc;
}

enum tv_err tv__pg_edge_set_dek(struct tv_store *store, const char *tenant_id,
				const char *dek_id, int64_t now_ms)
{
	static const struct tv__pg_sql check = {
		"SELECT 1 FROM deks WHERE id = $1 AND tenant_id = $2 FOR KEY SHARE"
	};
	static const struct tv__pg_sql upd = {
		"UPDATE edge_instances SET dek_id = $1, dek_deployed_ms = $2, modified_ms = $2"
		" WHERE tenant_id = $3 AND dek_id <> $1"
	};
	struct tv__pg_args a = { .n = 0 }, b = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, dek_id);
	tv__pg_text(&a, tenant_id);
	tv__pg_text(&b, dek_id);
	tv__pg_i64(&b, now_ms);
	tv__pg_text(&b, tenant_id);
	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = tv__pg_run(c, &check, &a, &r);
	if (!rc && PQntuples(r) != 1)
		rc = TV_ERR_NOT_FOUND;
	PQclear(r);
	if (!rc)
		rc = tv__pg_run(c, &upd, &b, NULL);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

enum tv_err tv__pg_cert_keys_not_on(struct tv_store *store, const char *tenant_id,
				    const char *dek_id, size_t limit, struct tv_sealed_key **out,
				    size_t *n)
{
	static const struct tv__pg_sql sql = {
		"SELECT id, dek_id, sealed_key FROM certificates"
		" WHERE tenant_id = $1 AND sealed_key IS NOT NULL AND dek_id IS NOT NULL"
		" AND dek_id <> $2 ORDER BY created_ms, id LIMIT $3"
	};
	struct tv_sealed_key *rows = NULL;
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	size_t cnt = 0, i;
	enum tv_err rc;

	*out = NULL;
	*n = 0;
	if (limit == 0 || limit > 100000)
		limit = 100000;
	rc = tv__pg_acquire(S_DB(store), &c);
	if (rc)
		return rc;
	tv__pg_text(&a, tenant_id);
	tv__pg_text(&a, dek_id);
	tv__pg_i64(&a, (int64_t)limit);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc) {
		cnt = (size_t)PQntuples(r);
		if (cnt) {
			rows = calloc(cnt, sizeof(*rows));
			rc = rows ? TV_OK : TV_ERR_NOMEM;
		}
	}
	for (i = 0; !rc && i < cnt; i++) {
		tv__pg_get_text(rows[i].cert_id, sizeof(rows[i].cert_id), r, (int)i, 0);
		tv__pg_get_text(rows[i].dek_id, sizeof(rows[i].dek_id), r, (int)i, 1);
		rc = tv__pg_get_blob(&rows[i].sealed, &rows[i].sealed_len, r, (int)i, 2);
	}
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	if (rc) {
		tv_sealed_keys_free(rows, cnt);
		return rc;
	}
	*out = rows;
	*n = cnt;
	return TV_OK;
}

enum tv_err tv__pg_cert_keys_reseal(struct tv_store *store, const char *tenant_id,
				    const char *dek_id, const struct tv_sealed_key *k, size_t n,
				    size_t *changed)
{
	static const struct tv__pg_sql check = {
		"SELECT 1 FROM deks WHERE id = $1 AND tenant_id = $2 FOR KEY SHARE"
	};
	static const struct tv__pg_sql upd = {
		"UPDATE certificates SET sealed_key = $1, dek_id = $2"
		" WHERE tenant_id = $3 AND id = $4 AND dek_id = $5 AND sealed_key IS NOT NULL"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	size_t i, done = 0;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	*changed = 0;
	if (rc)
		return rc;
	tv__pg_text(&a, dek_id);
	tv__pg_text(&a, tenant_id);
	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = tv__pg_run(c, &check, &a, &r);
	if (!rc && PQntuples(r) != 1)
		rc = TV_ERR_NOT_FOUND;
	PQclear(r);
	for (i = 0; !rc && i < n; i++) {
		struct tv__pg_args b = { .n = 0 };

		r = NULL;
		tv__pg_blob(&b, k[i].sealed, k[i].sealed_len);
		tv__pg_text(&b, dek_id);
		tv__pg_text(&b, tenant_id);
		tv__pg_text(&b, k[i].cert_id);
		tv__pg_text(&b, k[i].dek_id);
		rc = tv__pg_run(c, &upd, &b, &r);
		if (!rc)
			done += (size_t)tv__pg_changes(r);
		PQclear(r);
	}
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	if (!rc)
		*changed = done;
	return rc;
}

enum tv_err tv__pg_items_pending_not_on(struct tv_store *store, const char *tenant_id,
					const char *dek_id, size_t *n)
{
	static const struct tv__pg_sql sql = {
		"SELECT count(*) FROM import_items i JOIN import_jobs j ON j.id = i.job_id"
		" WHERE i.tenant_id = $1 AND i.state <> 'FINAL' AND j.dek_id <> $2"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	*n = 0;
	if (rc)
		return rc;
	tv__pg_text(&a, tenant_id);
	tv__pg_text(&a, dek_id);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc && PQntuples(r) != 1)
		rc = TV_ERR_STORE;
	if (!rc)
		*n = (size_t)tv__pg_get_i64(r, 0, 0);
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	return rc;
}
