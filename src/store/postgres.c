/*
 * DESIGN: the PostgreSQL backend's struct tv_store_ops (at the end): the
 * operations on tenants, API keys, DEKs, edge instances and the audit log
 * are here; trusted CAs, jobs and the vault are in pg_import.c, pg_jobs.c,
 * pg_finish.c and pg_certs.c, the plumbing in pg_db.c. Each function takes
 * one pooled connection, runs one statement or one short transaction, and
 * gives the connection back on every path. Every value is a parameter;
 * none is ever spliced into SQL text. The semantics are the SQLite
 * backend's, checked by the same unit tests run against both.
 */
#include "store/pg_int.h"

#include <stdlib.h>
#include <string.h>

#define S_DB(st) ((struct tv__pg *)(st))

static enum tv_err S_ping(struct tv_store *st)
{
	static const struct tv__pg_sql sql = { "SELECT 1 FROM schema_migrations LIMIT 1" };
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(st), &c);

	if (rc)
		return rc;
	rc = tv__pg_run(c, &sql, NULL, NULL);
	tv__pg_release(S_DB(st), c);
	return rc;
}

static enum tv_err S_insert_dek(struct tv__pg_conn *c, const struct tv_dek *d)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO deks (id, tenant_id, public_key, wrapped_secret_key, created_ms,"
		" last_backup_ms) VALUES ($1, $2, $3, $4, $5, $6)"
	};
	struct tv__pg_args a = { .n = 0 };

	tv__pg_text(&a, d->id);
	tv__pg_text(&a, d->tenant_id);
	tv__pg_blob(&a, d->public_key, sizeof(d->public_key));
	tv__pg_blob(&a, d->wrapped_sk, d->wrapped_len);
	tv__pg_i64(&a, d->created_ms);
	tv__pg_ms(&a, d->last_backup_ms);
	return tv__pg_run(c, &sql, &a, NULL);
}

static enum tv_err S_insert_edge(struct tv__pg_conn *c, const struct tv_edge *e)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO edge_instances (id, tenant_id, name, environment_id, dek_id,"
		" deployed_ms, dek_deployed_ms, last_seen_ms, modified_ms)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	};
	struct tv__pg_args a = { .n = 0 };

	tv__pg_text(&a, e->id);
	tv__pg_text(&a, e->tenant_id);
	tv__pg_text(&a, e->name);
	tv__pg_text(&a, e->environment_id);
	tv__pg_text(&a, e->dek_id);
	tv__pg_i64(&a, e->deployed_ms);
	tv__pg_i64(&a, e->dek_deployed_ms);
	tv__pg_ms(&a, e->last_seen_ms);
	tv__pg_i64(&a, e->modified_ms);
	return tv__pg_run(c, &sql, &a, NULL);
}

static enum tv_err S_insert_apikey(struct tv__pg_conn *c, const struct tv_apikey *k)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO api_keys (id, tenant_id, name, role, key_hash, created_ms,"
		" expires_ms, last_used_ms, revoked_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	};
	struct tv__pg_args a = { .n = 0 };

	tv__pg_text(&a, k->id);
	tv__pg_text(&a, k->tenant_id);
	tv__pg_text(&a, k->name);
	tv__pg_text(&a, tv_role_name(k->role));
	tv__pg_blob(&a, k->hash, sizeof(k->hash));
	tv__pg_i64(&a, k->created_ms);
	tv__pg_ms(&a, k->expires_ms);
	tv__pg_ms(&a, k->last_used_ms);
	tv__pg_ms(&a, k->revoked_ms);
	return tv__pg_run(c, &sql, &a, NULL);
}

static enum tv_err S_tenant_bootstrap(struct tv_store *store, const struct tv_tenant *t,
				      const struct tv_dek *d, const struct tv_edge *e,
				      const struct tv_apikey *k)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO tenants (id, name, created_ms) VALUES ($1, $2, $3)"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, t->id);
	tv__pg_text(&a, t->name);
	tv__pg_i64(&a, t->created_ms);
	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = tv__pg_run(c, &sql, &a, NULL);
	if (!rc)
		rc = S_insert_dek(c, d);
	if (!rc)
		rc = S_insert_edge(c, e);
	if (!rc)
		rc = S_insert_apikey(c, k);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

static enum tv_err S_row_tenant(const PGresult *r, void *out)
{
	struct tv_tenant *t = out;

	tv__pg_get_text(t->id, sizeof(t->id), r, 0, 0);
	tv__pg_get_text(t->name, sizeof(t->name), r, 0, 1);
	t->created_ms = tv__pg_get_i64(r, 0, 2);
	return TV_OK;
}

static enum tv_err S_tenant_get(struct tv_store *store, const char *id, struct tv_tenant *out)
{
	static const struct tv__pg_sql sql = {
		"SELECT id, name, created_ms FROM tenants WHERE id = $1"
	};

	return tv__pg_query_one(S_DB(store), &sql, id, NULL, S_row_tenant, out);
}

static enum tv_err S_row_count(const PGresult *r, void *out)
{
	*(size_t *)out = (size_t)tv__pg_get_i64(r, 0, 0);
	return TV_OK;
}

static enum tv_err S_tenant_count(struct tv_store *store, size_t *n)
{
	static const struct tv__pg_sql sql = { "SELECT count(*) FROM tenants" };

	return tv__pg_query_one(S_DB(store), &sql, NULL, NULL, S_row_count, n);
}

static enum tv_err S_apikey_insert(struct tv_store *store, const struct tv_apikey *k)
{
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	rc = S_insert_apikey(c, k);
	tv__pg_release(S_DB(store), c);
	return rc;
}

#define S_APIKEY_COLS                                                                    \
	"SELECT id, tenant_id, name, role, key_hash, created_ms, coalesce(expires_ms, 0),"  \
	" coalesce(last_used_ms, 0), coalesce(revoked_ms, 0) FROM api_keys "

static void S_row_apikey(const PGresult *r, int row, struct tv_apikey *k)
{
	char role[16];

	memset(k, 0, sizeof(*k));
	tv__pg_get_text(k->id, sizeof(k->id), r, row, 0);
	tv__pg_get_text(k->tenant_id, sizeof(k->tenant_id), r, row, 1);
	tv__pg_get_text(k->name, sizeof(k->name), r, row, 2);
	tv__pg_get_text(role, sizeof(role), r, row, 3);
	k->role = tv_role_parse(role);
	if (PQgetlength(r, row, 4) == TV_APIKEY_HASH_BYTES)
		memcpy(k->hash, PQgetvalue(r, row, 4), TV_APIKEY_HASH_BYTES);
	k->created_ms = tv__pg_get_i64(r, row, 5);
	k->expires_ms = tv__pg_get_i64(r, row, 6);
	k->last_used_ms = tv__pg_get_i64(r, row, 7);
	k->revoked_ms = tv__pg_get_i64(r, row, 8);
}

static enum tv_err S_apikey_by_hash(struct tv_store *store,
				    const unsigned char hash[TV_APIKEY_HASH_BYTES],
				    struct tv_apikey *out)
{
	static const struct tv__pg_sql sql = { S_APIKEY_COLS "WHERE key_hash = $1" };
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_blob(&a, hash, TV_APIKEY_HASH_BYTES);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc && PQntuples(r) > 0)
		S_row_apikey(r, 0, out);
	else if (!rc)
		rc = TV_ERR_NOT_FOUND;
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	return rc;
}

/* Run sql with one text parameter (may be NULL) and turn every row into an
 * item of a malloc'd array. */
typedef void (*S_row_fn)(const PGresult *r, int row, void *item);

static enum tv_err S_list(struct tv_store *store, const struct tv__pg_sql *sql,
			  const char *param, size_t item_size, S_row_fn fn, void **out,
			  size_t *n_out)
{
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	unsigned char *items = NULL;
	PGresult *r = NULL;
	size_t n = 0, i;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, param);
	rc = tv__pg_run(c, sql, &a, &r);
	if (!rc) {
		n = (size_t)PQntuples(r);
		items = calloc(n ? n : 1, item_size);
		rc = items ? TV_OK : TV_ERR_NOMEM;
	}
	for (i = 0; !rc && i < n; i++)
		fn(r, (int)i, items + i * item_size);
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	if (rc) {
		free(items);
		return rc;
	}
	*out = items;
	*n_out = n;
	return TV_OK;
}

static void S_row_apikey_cb(const PGresult *r, int row, void *item)
{
	S_row_apikey(r, row, item);
}

static enum tv_err S_apikey_list(struct tv_store *store, const char *tenant_id,
				 struct tv_apikey **out, size_t *n)
{
	static const struct tv__pg_sql sql = {
		S_APIKEY_COLS "WHERE tenant_id = $1 ORDER BY created_ms, id"
	};

	return S_list(store, &sql, tenant_id, sizeof(**out), S_row_apikey_cb, (void **)out, n);
}

/* An UPDATE with (ms, a[, b]) that must change a row: TV_ERR_NOT_FOUND else. */
static enum tv_err S_update(struct tv_store *store, const struct tv__pg_sql *sql, const char *a,
			    const char *b, int64_t ms)
{
	struct tv__pg_args args = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_i64(&args, ms);
	tv__pg_text(&args, a);
	if (b)
		tv__pg_text(&args, b);
	rc = tv__pg_run(c, sql, &args, &r);
	if (!rc && tv__pg_changes(r) == 0)
		rc = TV_ERR_NOT_FOUND;
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	return rc;
}

static enum tv_err S_apikey_revoke(struct tv_store *store, const char *tenant_id,
				   const char *id, int64_t now_ms)
{
	static const struct tv__pg_sql sql = {
		"UPDATE api_keys SET revoked_ms = $1 WHERE tenant_id = $2 AND id = $3"
		" AND revoked_ms IS NULL"
	};

	return S_update(store, &sql, tenant_id, id, now_ms);
}

static enum tv_err S_apikey_touch(struct tv_store *store, const char *id, int64_t now_ms)
{
	static const struct tv__pg_sql sql = {
		"UPDATE api_keys SET last_used_ms = $1 WHERE id = $2"
	};

	return S_update(store, &sql, id, NULL, now_ms);
}

static void S_row_dek(const PGresult *r, int row, void *item)
{
	struct tv_dek *d = item;
	int pkn = PQgetlength(r, row, 2), wn = PQgetlength(r, row, 3);

	memset(d, 0, sizeof(*d));
	tv__pg_get_text(d->id, sizeof(d->id), r, row, 0);
	tv__pg_get_text(d->tenant_id, sizeof(d->tenant_id), r, row, 1);
	if (pkn == (int)sizeof(d->public_key))
		memcpy(d->public_key, PQgetvalue(r, row, 2), sizeof(d->public_key));
	if (wn > 0 && (size_t)wn <= sizeof(d->wrapped_sk)) {
		memcpy(d->wrapped_sk, PQgetvalue(r, row, 3), (size_t)wn);
		d->wrapped_len = (size_t)wn;
	}
	d->created_ms = tv__pg_get_i64(r, row, 4);
	d->last_backup_ms = tv__pg_get_i64(r, row, 5);
}

static enum tv_err S_dek_list(struct tv_store *store, const char *tenant_id,
			      struct tv_dek **out, size_t *n)
{
	static const struct tv__pg_sql sql = {
		"SELECT id, tenant_id, public_key, wrapped_secret_key, created_ms,"
		" coalesce(last_backup_ms, 0) FROM deks"
		" WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY created_ms, id"
	};

	return S_list(store, &sql, tenant_id, sizeof(**out), S_row_dek, (void **)out, n);
}

static void S_row_edge(const PGresult *r, int row, void *item)
{
	struct tv_edge *e = item;

	memset(e, 0, sizeof(*e));
	tv__pg_get_text(e->id, sizeof(e->id), r, row, 0);
	tv__pg_get_text(e->tenant_id, sizeof(e->tenant_id), r, row, 1);
	tv__pg_get_text(e->name, sizeof(e->name), r, row, 2);
	tv__pg_get_text(e->environment_id, sizeof(e->environment_id), r, row, 3);
	tv__pg_get_text(e->dek_id, sizeof(e->dek_id), r, row, 4);
	e->deployed_ms = tv__pg_get_i64(r, row, 5);
	e->dek_deployed_ms = tv__pg_get_i64(r, row, 6);
	e->last_seen_ms = tv__pg_get_i64(r, row, 7);
	e->modified_ms = tv__pg_get_i64(r, row, 8);
}

static enum tv_err S_edge_list(struct tv_store *store, const char *tenant_id,
			       struct tv_edge **out, size_t *n)
{
	static const struct tv__pg_sql sql = {
		"SELECT id, tenant_id, name, environment_id, dek_id, deployed_ms,"
		" dek_deployed_ms, coalesce(last_seen_ms, 0), modified_ms"
		" FROM edge_instances WHERE $1::text IS NULL OR tenant_id = $1"
		" ORDER BY deployed_ms, id"
	};

	return S_list(store, &sql, tenant_id, sizeof(**out), S_row_edge, (void **)out, n);
}

static enum tv_err S_edge_heartbeat(struct tv_store *store, const char *id, int64_t now_ms)
{
	static const struct tv__pg_sql sql = {
		"UPDATE edge_instances SET last_seen_ms = $1 WHERE id = $2"
	};

	return S_update(store, &sql, id, NULL, now_ms);
}

static enum tv_err S_audit_append(struct tv_store *store, const struct tv_audit *au)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO audit_log (ts_ms, tenant_id, actor, action, object_id,"
		" detail, outcome, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_i64(&a, au->ts_ms);
	tv__pg_text(&a, au->tenant_id);
	tv__pg_text(&a, au->actor);
	tv__pg_text(&a, au->action);
	tv__pg_text(&a, au->object_id);
	tv__pg_text(&a, au->detail);
	tv__pg_text(&a, au->outcome ? au->outcome : "ok");
	tv__pg_text(&a, au->request_id);
	rc = tv__pg_run(c, &sql, &a, NULL);
	tv__pg_release(S_DB(store), c);
	return rc;
}

const struct tv_store_ops tv__pg_ops = {
	.name = "postgresql",
	.close = tv__pg_close,
	.ping = S_ping,
	.tenant_bootstrap = S_tenant_bootstrap,
	.tenant_get = S_tenant_get,
	.tenant_count = S_tenant_count,
	.apikey_insert = S_apikey_insert,
	.apikey_by_hash = S_apikey_by_hash,
	.apikey_list = S_apikey_list,
	.apikey_revoke = S_apikey_revoke,
	.apikey_touch = S_apikey_touch,
	.dek_list = S_dek_list,
	.edge_list = S_edge_list,
	.edge_heartbeat = S_edge_heartbeat,
	.audit_append = S_audit_append,
	.ca_insert = tv__pg_ca_insert,
	.ca_list = tv__pg_ca_list,
	.ca_get = tv__pg_ca_get,
	.ca_delete = tv__pg_ca_delete,
	.ca_version = tv__pg_ca_version,
	.job_create = tv__pg_job_create,
	.job_get = tv__pg_job_get,
	.job_list = tv__pg_job_list,
	.item_claim = tv__pg_item_claim,
	.item_renew = tv__pg_item_renew,
	.item_finish = tv__pg_item_finish,
	.items_finish = tv__pg_items_finish,
	.cert_get = tv__pg_cert_get,
	.cert_search = tv__pg_cert_search,
	.cert_key = tv__pg_cert_key,
	.cert_set_status = tv__pg_cert_set_status,
	.cert_delete = tv__pg_cert_delete,
	.audit_list = tv__pg_audit_list,
	.events_wait = tv__pg_events_wait,
	.queue_depth = tv__pg_queue_depth,
	.dek_insert = tv__pg_dek_insert,
	.dek_rewrap_all = tv__pg_dek_rewrap_all,
	.edge_set_dek = tv__pg_edge_set_dek,
	.cert_keys_not_on = tv__pg_cert_keys_not_on,
	.cert_keys_reseal = tv__pg_cert_keys_reseal,
	.items_pending_not_on = tv__pg_items_pending_not_on,
};
