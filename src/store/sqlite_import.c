/*
 * DESIGN: the trusted-CA operations. Every change to a tenant's CAs bumps
 * tenants.trust_version in the same transaction, so each node's cached trust
 * store can tell, with one indexed read, that it is stale.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define S_DB(st) ((struct tv__sqlite *)(st))

/* ---------- trusted CAs (jobs are in sqlite_jobs.c) ---------- */

static enum tv_err S_bump_trust(sqlite3 *db, const char *tenant_id)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(
		db, &st, "UPDATE tenants SET trust_version = trust_version + 1 WHERE id = ?");

	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, tenant_id);
	rc = tv__sqlite_step_done(st);
	tv__sqlite_stmt_put(st);
	return rc;
}

enum tv_err tv__sqlite_ca_insert(struct tv_store *store, const struct tv_trusted_ca *ca)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = tv__sqlite_stmt(db, &st,
					"INSERT INTO trusted_cas (id, tenant_id, fingerprint,"
					" certificate_type, der, facts, created_ms)"
					" VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, ca->id);
		tv__sqlite_bind_text(st, 2, ca->tenant_id);
		tv__sqlite_bind_text(st, 3, ca->fingerprint);
		tv__sqlite_bind_text(st, 4, ca->certificate_type);
		tv__sqlite_bind_blob(st, 5, ca->der, ca->der_len);
		tv__sqlite_bind_text(st, 6, ca->facts_json);
		sqlite3_bind_int64(st, 7, ca->created_ms);
		rc = tv__sqlite_step_done(st);
	}
	if (!rc)
		rc = S_bump_trust(db, ca->tenant_id);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

static enum tv_err S_row_ca(sqlite3_stmt *st, struct tv_trusted_ca *ca)
{
	const unsigned char *facts = sqlite3_column_text(st, 5);
	enum tv_err rc;

	memset(ca, 0, sizeof(*ca));
	tv__sqlite_text(ca->id, sizeof(ca->id), st, 0);
	tv__sqlite_text(ca->tenant_id, sizeof(ca->tenant_id), st, 1);
	tv__sqlite_text(ca->fingerprint, sizeof(ca->fingerprint), st, 2);
	tv__sqlite_text(ca->certificate_type, sizeof(ca->certificate_type), st, 3);
	rc = tv__sqlite_blob_dup(&ca->der, &ca->der_len, st, 4);
	ca->facts_json = strdup(facts ? (const char *)facts : "{}");
	ca->created_ms = sqlite3_column_int64(st, 6);
	if (!rc && !ca->facts_json)
		rc = TV_ERR_NOMEM;
	return rc;
}

#define S_CA_COLS "SELECT id, tenant_id, fingerprint, certificate_type, der, facts, created_ms" \
		  " FROM trusted_cas "

enum tv_err tv__sqlite_ca_list(struct tv_store *store, const char *tenant_id,
			       struct tv_trusted_ca **out, size_t *n_out)
{
	struct tv_trusted_ca *cas = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	int r = SQLITE_DONE;

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st, S_CA_COLS "WHERE tenant_id = ? ORDER BY created_ms, id");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				struct tv_trusted_ca *p;
				cap = cap ? cap * 2 : 16;
				p = realloc(cas, cap * sizeof(*p));
				if (!p) {
					rc = TV_ERR_NOMEM;
					break;
				}
				cas = p;
			}
			rc = S_row_ca(st, &cas[n++]);
		}
		if (!rc && r != SQLITE_DONE)
			rc = tv__sqlite_err(r);
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	if (rc) {
		tv_trusted_cas_free(cas, n);
		return rc;
	}
	*out = cas;
	*n_out = n;
	return TV_OK;
}

static enum tv_err S_row_ca_cb(sqlite3_stmt *st, void *out)
{
	return S_row_ca(st, out);
}

enum tv_err tv__sqlite_ca_get(struct tv_store *store, const char *tenant_id,
			      const char *fingerprint, struct tv_trusted_ca *out)
{
	return tv__sqlite_query_one(S_DB(store), S_CA_COLS "WHERE tenant_id = ? AND fingerprint = ?",
				    tenant_id, fingerprint, S_row_ca_cb, out);
}

enum tv_err tv__sqlite_ca_delete(struct tv_store *store, const char *tenant_id,
				 const char *const *fingerprints, size_t n, size_t *deleted)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	size_t i, count = 0;

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = tv__sqlite_stmt(db, &st, "DELETE FROM trusted_cas"
						 " WHERE tenant_id = ? AND fingerprint = ?");
	for (i = 0; !rc && i < n; i++) {
		sqlite3_reset(st);
		tv__sqlite_bind_text(st, 1, tenant_id);
		tv__sqlite_bind_text(st, 2, fingerprints[i]);
		rc = tv__sqlite_step_done(st);
		count += (size_t)sqlite3_changes(db);
	}
	if (!rc && count)
		rc = S_bump_trust(db, tenant_id);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	if (!rc)
		*deleted = count;
	return rc;
}

static enum tv_err S_row_version(sqlite3_stmt *st, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(st, 0);
	return TV_OK;
}

enum tv_err tv__sqlite_ca_version(struct tv_store *store, const char *tenant_id,
				  int64_t *version)
{
	return tv__sqlite_query_one(S_DB(store), "SELECT trust_version FROM tenants WHERE id = ?",
				    tenant_id, NULL, S_row_version, version);
}
