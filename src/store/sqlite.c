/*
 * DESIGN: the operations of struct tv_store_ops on SQLite. Each function
 * takes one pooled connection, runs one statement or one short transaction,
 * and gives the connection back on every path (the `out:` label). Statements
 * are always parameterised; no value is ever spliced into SQL text.
 */
#include "store/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#define S_DB(st) ((struct tv__sqlite *)(st))


enum tv_err tv__sqlite_step_done(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	return r == SQLITE_DONE ? TV_OK : tv__sqlite_err(r == SQLITE_ROW ? SQLITE_ERROR : r);
}

#define S_step_done tv__sqlite_step_done

enum tv_err tv__sqlite_query_one(struct tv__sqlite *s, const char *sql, const char *a,
				 const char *b, enum tv_err (*row)(sqlite3_stmt *st, void *out),
				 void *out)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(s, &db);
	int r;

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st, sql);
	if (!rc) {
		if (a)
			tv__sqlite_bind_text(st, 1, a);
		if (b)
			tv__sqlite_bind_text(st, 2, b);
		r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			rc = row(st, out);
		else
			rc = r == SQLITE_DONE ? TV_ERR_NOT_FOUND : tv__sqlite_err(r);
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(s, db, false);
	return rc;
}

int tv__sqlite_bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t len)
{
	if (!p)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_blob64(st, idx, len ? p : "", len, SQLITE_STATIC);
}

enum tv_err tv__sqlite_blob_dup(unsigned char **out, size_t *len, sqlite3_stmt *st, int col)
{
	const void *b;
	int n;

	*out = NULL;
	*len = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return TV_OK;
	b = sqlite3_column_blob(st, col);
	n = sqlite3_column_bytes(st, col);
	*out = malloc(n > 0 ? (size_t)n : 1);
	if (!*out)
		return TV_ERR_NOMEM;
	if (n > 0)
		memcpy(*out, b, (size_t)n);
	*len = (size_t)n;
	return TV_OK;
}

static enum tv_err S_ping(struct tv_store *st)
{
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(st), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "SELECT 1 FROM schema_migrations LIMIT 1");
	tv__sqlite_release(S_DB(st), db, false);
	return rc;
}

static enum tv_err S_insert_dek(sqlite3 *db, const struct tv_dek *d)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st,
		"INSERT INTO deks (id, tenant_id, public_key, wrapped_secret_key, created_ms,"
		" last_backup_ms) VALUES (?, ?, ?, ?, ?, ?)");
	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, d->id);
	tv__sqlite_bind_text(st, 2, d->tenant_id);
	sqlite3_bind_blob(st, 3, d->public_key, sizeof(d->public_key), SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, d->wrapped_sk, (int)d->wrapped_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, d->created_ms);
	tv__sqlite_bind_ms(st, 6, d->last_backup_ms);
	rc = S_step_done(st);
	tv__sqlite_stmt_put(st);
	return rc;
}

static enum tv_err S_insert_edge(sqlite3 *db, const struct tv_edge *e)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st,
		"INSERT INTO edge_instances (id, tenant_id, name, environment_id, dek_id,"
		" deployed_ms, dek_deployed_ms, last_seen_ms, modified_ms)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, e->id);
	tv__sqlite_bind_text(st, 2, e->tenant_id);
	tv__sqlite_bind_text(st, 3, e->name);
	tv__sqlite_bind_text(st, 4, e->environment_id);
	tv__sqlite_bind_text(st, 5, e->dek_id);
	sqlite3_bind_int64(st, 6, e->deployed_ms);
	sqlite3_bind_int64(st, 7, e->dek_deployed_ms);
	tv__sqlite_bind_ms(st, 8, e->last_seen_ms);
	sqlite3_bind_int64(st, 9, e->modified_ms);
	rc = S_step_done(st);
	tv__sqlite_stmt_put(st);
	return rc;
}

static enum tv_err S_insert_apikey(sqlite3 *db, const struct tv_apikey *k)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st,
		"INSERT INTO api_keys (id, tenant_id, name, role, key_hash, created_ms,"
		" expires_ms, last_used_ms, revoked_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, k->id);
	tv__sqlite_bind_text(st, 2, k->tenant_id);
	tv__sqlite_bind_text(st, 3, k->name);
	tv__sqlite_bind_text(st, 4, tv_role_name(k->role));
	sqlite3_bind_blob(st, 5, k->hash, sizeof(k->hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, k->created_ms);
	tv__sqlite_bind_ms(st, 7, k->expires_ms);
	tv__sqlite_bind_ms(st, 8, k->last_used_ms);
	tv__sqlite_bind_ms(st, 9, k->revoked_ms);
	rc = S_step_done(st);
	tv__sqlite_stmt_put(st);
	return rc;
}

static enum tv_err S_tenant_bootstrap(struct tv_store *store, const struct tv_tenant *t,
				      const struct tv_dek *d, const struct tv_edge *e,
				      const struct tv_apikey *k)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (rc)
		goto out;
	rc = tv__sqlite_stmt(db, &st,
				"INSERT INTO tenants (id, name, created_ms) VALUES (?, ?, ?)");
	if (rc)
		goto out;
	tv__sqlite_bind_text(st, 1, t->id);
	tv__sqlite_bind_text(st, 2, t->name);
	sqlite3_bind_int64(st, 3, t->created_ms);
	rc = S_step_done(st);
	if (!rc)
		rc = S_insert_dek(db, d);
	if (!rc)
		rc = S_insert_edge(db, e);
	if (!rc)
		rc = S_insert_apikey(db, k);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
out:
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

static enum tv_err S_row_tenant(sqlite3_stmt *st, void *item)
{
	struct tv_tenant *t = item;

	tv__sqlite_text(t->id, sizeof(t->id), st, 0);
	tv__sqlite_text(t->name, sizeof(t->name), st, 1);
	t->created_ms = sqlite3_column_int64(st, 2);
	return TV_OK;
}

static enum tv_err S_tenant_get(struct tv_store *store, const char *id, struct tv_tenant *out)
{
	return tv__sqlite_query_one(S_DB(store),
				    "SELECT id, name, created_ms FROM tenants WHERE id = ?", id, NULL,
				    S_row_tenant, out);
}

static enum tv_err S_tenant_count(struct tv_store *store, size_t *n)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st, "SELECT count(*) FROM tenants");
	if (!rc && sqlite3_step(st) == SQLITE_ROW)
		*n = (size_t)sqlite3_column_int64(st, 0);
	else if (!rc)
		rc = TV_ERR_STORE;
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}

static enum tv_err S_apikey_insert(struct tv_store *store, const struct tv_apikey *k)
{
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = S_insert_apikey(db, k);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}

#define S_APIKEY_COLS                                                                    \
	"SELECT id, tenant_id, name, role, key_hash, created_ms, coalesce(expires_ms, 0),"  \
	" coalesce(last_used_ms, 0), coalesce(revoked_ms, 0) FROM api_keys "

static void S_row_apikey(sqlite3_stmt *st, struct tv_apikey *k)
{
	char role[16];
	const void *h = sqlite3_column_blob(st, 4);

	memset(k, 0, sizeof(*k));
	tv__sqlite_text(k->id, sizeof(k->id), st, 0);
	tv__sqlite_text(k->tenant_id, sizeof(k->tenant_id), st, 1);
	tv__sqlite_text(k->name, sizeof(k->name), st, 2);
	tv__sqlite_text(role, sizeof(role), st, 3);
	k->role = tv_role_parse(role);
	if (h && sqlite3_column_bytes(st, 4) == TV_APIKEY_HASH_BYTES)
		memcpy(k->hash, h, TV_APIKEY_HASH_BYTES);
	k->created_ms = sqlite3_column_int64(st, 5);
	k->expires_ms = sqlite3_column_int64(st, 6);
	k->last_used_ms = sqlite3_column_int64(st, 7);
	k->revoked_ms = sqlite3_column_int64(st, 8);
}

static enum tv_err S_apikey_by_hash(struct tv_store *store,
				    const unsigned char hash[TV_APIKEY_HASH_BYTES],
				    struct tv_apikey *out)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	int r;

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st, S_APIKEY_COLS "WHERE key_hash = ?");
	if (rc)
		goto out;
	sqlite3_bind_blob(st, 1, hash, TV_APIKEY_HASH_BYTES, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		S_row_apikey(st, out);
	else
		rc = r == SQLITE_DONE ? TV_ERR_NOT_FOUND : tv__sqlite_err(r);
out:
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}

/* Collect rows of a prepared statement into a growing array. */
typedef void (*S_row_fn)(sqlite3_stmt *st, void *item);

static enum tv_err S_collect(sqlite3_stmt *st, size_t item_size, S_row_fn fn, void **out,
			     size_t *n_out)
{
	unsigned char *items = NULL;
	size_t n = 0, cap = 0;
	int r;

	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			unsigned char *p = realloc(items, ncap * item_size);
			if (!p) {
				free(items);
				return TV_ERR_NOMEM;
			}
			items = p;
			cap = ncap;
		}
		fn(st, items + n * item_size);
		n++;
	}
	if (r != SQLITE_DONE) {
		free(items);
		return tv__sqlite_err(r);
	}
	*out = items;
	*n_out = n;
	return TV_OK;
}

static void S_row_apikey_cb(sqlite3_stmt *st, void *item)
{
	S_row_apikey(st, item);
}

static enum tv_err S_list(struct tv_store *store, const char *sql, const char *tenant_id,
			  size_t item_size, S_row_fn fn, void **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st, sql);
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		rc = S_collect(st, item_size, fn, out, n);
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}

static enum tv_err S_apikey_list(struct tv_store *store, const char *tenant_id,
				 struct tv_apikey **out, size_t *n)
{
	return S_list(store, S_APIKEY_COLS "WHERE tenant_id = ? ORDER BY created_ms, id",
		      tenant_id, sizeof(**out), S_row_apikey_cb, (void **)out, n);
}

static enum tv_err S_update(struct tv_store *store, const char *sql, const char *a,
			    const char *b, int64_t ms)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st, sql);
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, ms);
	tv__sqlite_bind_text(st, 2, a);
	if (b)
		tv__sqlite_bind_text(st, 3, b);
	rc = S_step_done(st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = TV_ERR_NOT_FOUND;
out:
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}

static enum tv_err S_apikey_revoke(struct tv_store *store, const char *tenant_id,
				   const char *id, int64_t now_ms)
{
	return S_update(store,
			"UPDATE api_keys SET revoked_ms = ? WHERE tenant_id = ? AND id = ?"
			" AND revoked_ms IS NULL",
			tenant_id, id, now_ms);
}

static enum tv_err S_apikey_touch(struct tv_store *store, const char *id, int64_t now_ms)
{
	return S_update(store, "UPDATE api_keys SET last_used_ms = ? WHERE id = ?", id, NULL,
			now_ms);
}

static void S_row_dek(sqlite3_stmt *st, void *item)
{
	struct tv_dek *d = item;
	int pkn = sqlite3_column_bytes(st, 2), wn = sqlite3_column_bytes(st, 3);

	memset(d, 0, sizeof(*d));
	tv__sqlite_text(d->id, sizeof(d->id), st, 0);
	tv__sqlite_text(d->tenant_id, sizeof(d->tenant_id), st, 1);
	if (pkn == (int)sizeof(d->public_key))
		memcpy(d->public_key, sqlite3_column_blob(st, 2), sizeof(d->public_key));
	if (wn > 0 && (size_t)wn <= sizeof(d->wrapped_sk)) {
		memcpy(d->wrapped_sk, sqlite3_column_blob(st, 3), (size_t)wn);
		d->wrapped_len = (size_t)wn;
	}
	d->created_ms = sqlite3_column_int64(st, 4);
	d->last_backup_ms = sqlite3_column_int64(st, 5);
}

static enum tv_err S_dek_list(struct tv_store *store, const char *tenant_id,
			      struct tv_dek **out, size_t *n)
{
	return S_list(store,
		      "SELECT id, tenant_id, public_key, wrapped_secret_key, created_ms,"
		      " coalesce(last_backup_ms, 0) FROM deks"
		      " WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY created_ms, id",
		      tenant_id, sizeof(**out), S_row_dek, (void **)out, n);
}

static void S_row_edge(sqlite3_stmt *st, void *item)
{
	struct tv_edge *e = item;

	memset(e, 0, sizeof(*e));
	tv__sqlite_text(e->id, sizeof(e->id), st, 0);
	tv__sqlite_text(e->tenant_id, sizeof(e->tenant_id), st, 1);
	tv__sqlite_text(e->name, sizeof(e->name), st, 2);
	tv__sqlite_text(e->environment_id, sizeof(e->environment_id), st, 3);
	tv__sqlite_text(e->dek_id, sizeof(e->dek_id), st, 4);
	e->deployed_ms = sqlite3_column_int64(st, 5);
	e->dek_deployed_ms = sqlite3_column_int64(st, 6);
	e->last_seen_ms = sqlite3_column_int64(st, 7);
	e->modified_ms = sqlite3_column_int64(st, 8);
}

static enum tv_err S_edge_list(struct tv_store *store, const char *tenant_id,
			       struct tv_edge **out, size_t *n)
{
	return S_list(store,
		      "SELECT id, tenant_id, name, environment_id, dek_id, deployed_ms,"
		      " dek_deployed_ms, coalesce(last_seen_ms, 0), modified_ms"
		      " FROM edge_instances WHERE ?1 IS NULL OR tenant_id = ?1"
		      " ORDER BY deployed_ms, id",
		      tenant_id, sizeof(**out), S_row_edge, (void **)out, n);
}

static enum tv_err S_edge_heartbeat(struct tv_store *store, const char *id, int64_t now_ms)
{
	return S_update(store, "UPDATE edge_instances SET last_seen_ms = ? WHERE id = ?", id,
			NULL, now_ms);
}

static enum tv_err S_audit_append(struct tv_store *store, const struct tv_audit *a)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st,
				"INSERT INTO audit_log (ts_ms, tenant_id, actor, action, object_id,"
				" detail, outcome, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (!rc) {
		sqlite3_bind_int64(st, 1, a->ts_ms);
		tv__sqlite_bind_text(st, 2, a->tenant_id);
		tv__sqlite_bind_text(st, 3, a->actor);
		tv__sqlite_bind_text(st, 4, a->action);
		tv__sqlite_bind_text(st, 5, a->object_id);
		tv__sqlite_bind_text(st, 6, a->detail);
		tv__sqlite_bind_text(st, 7, a->outcome ? a->outcome : "ok");
		tv__sqlite_bind_text(st, 8, a->request_id);
		rc = S_step_done(st);
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}


const struct tv_store_ops tv__sqlite_ops = {
	.name = "sqlite",
	.close = tv__sqlite_close,
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
	.ca_insert = tv__sqlite_ca_insert,
	.ca_list = tv__sqlite_ca_list,
	.ca_get = tv__sqlite_ca_get,
	.ca_delete = tv__sqlite_ca_delete,
	.ca_version = tv__sqlite_ca_version,
	.job_create = tv__sqlite_job_create,
	.job_get = tv__sqlite_job_get,
	.job_list = tv__sqlite_job_list,
	.item_claim = tv__sqlite_item_claim,
	.items_claim = tv__sqlite_items_claim,
	.item_renew = tv__sqlite_item_renew,
	.item_finish = tv__sqlite_item_finish,
	.items_finish = tv__sqlite_items_finish,
	.cert_get = tv__sqlite_cert_get,
	.cert_search = tv__sqlite_cert_search,
	.cert_key = tv__sqlite_cert_key,
	.cert_set_status = tv__sqlite_cert_set_status,
	.cert_delete = tv__sqlite_cert_delete,
	.audit_list = tv__sqlite_audit_list,
	.queue_depth = tv__sqlite_queue_depth,
	.dek_insert = tv__sqlite_dek_insert,
	.dek_rewrap_all = tv__sqlite_dek_rewrap_all,
	.edge_set_dek = tv__sqlite_edge_set_dek,
	.cert_keys_not_on = tv__sqlite_cert_keys_not_on,
	.cert_keys_reseal = tv__sqlite_cert_keys_reseal,
	.items_pending_not_on = tv__sqlite_items_pending_not_on,
};
