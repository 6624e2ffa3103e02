/*
 * DESIGN: the trusted-CA operations on PostgreSQL. Every change to a
 * tenant's CAs bumps tenants.trust_version in the same transaction, so the
 * trust cache of every node sharing the database can tell, with one
 * indexed read per item, that its decoded copy is stale: this is how a CA
 * added through one node reaches the workers of all the others.
 */
#include "store/pg_int.h"

#include <stdlib.h>
#include <string.h>

#define S_DB(st) ((struct tv__pg *)(st))

static const struct tv__pg_sql S_bump = {
	"UPDATE tenants SET trust_version = trust_version + 1 WHERE id = $1"
};

enum tv_err tv__pg_ca_insert(struct tv_store *store, const struct tv_trusted_ca *ca)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO trusted_cas (id, tenant_id, fingerprint, certificate_type, der, facts,"
		" created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)"
	};
	struct tv__pg_args a = { .n = 0 }, b = { .n = 0 };
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, ca->id);
	tv__pg_text(&a, ca->tenant_id);
	tv__pg_text(&a, ca->fingerprint);
	tv__pg_text(&a, ca->certificate_type);
	tv__pg_blob(&a, ca->der, ca->der_len);
	tv__pg_text(&a, ca->facts_json);
	tv__pg_i64(&a, ca->created_ms);
	tv__pg_text(&b, ca->tenant_id);
	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = tv__pg_run(c, &sql, &a, NULL);
	if (!rc)
		rc = tv__pg_run(c, &S_bump, &b, NULL);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

static enum tv_err S_row_ca(const PGresult *r, int row, struct tv_trusted_ca *ca)
{
	enum tv_err rc;

	memset(ca, 0, sizeof(*ca));
	tv__pg_get_text(ca->id, sizeof(ca->id), r, row, 0);
	tv__pg_get_text(ca->tenant_id, sizeof(ca->tenant_id), r, row, 1);
	tv__pg_get_text(ca->fingerprint, sizeof(ca->fingerprint), r, row, 2);
	tv__pg_get_text(ca->certificate_type, sizeof(ca->certificate_type), r, row, 3);
	rc = tv__pg_get_blob(&ca->der, &ca->der_len, r, row, 4);
	ca->facts_json = tv__pg_get_strdup(r, row, 5, "{}");
	ca->created_ms = tv__pg_get_i64(r, row, 6);
	if (!rc && !ca->facts_json)
		rc = TV_ERR_NOMEM;
	return rc;
}

#define S_CA_COLS "SELECT id, tenant_id, fingerprint, certificate_type, der, facts, created_ms" \
		  " FROM trusted_cas "

enum tv_err tv__pg_ca_list(struct tv_store *store, const char *tenant_id,
			   struct tv_trusted_ca **out, size_t *n_out)
{
	static const struct tv__pg_sql sql = {
		S_CA_COLS "WHERE tenant_id = $1 ORDER BY created_ms, id"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv_trusted_ca *cas = NULL;
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	size_t n = 0, i = 0;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, tenant_id);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc) {
		n = (size_t)PQntuples(r);
		cas = calloc(n ? n : 1, sizeof(*cas));
		rc = cas ? TV_OK : TV_ERR_NOMEM;
	}
	for (i = 0; !rc && i < n; i++)
		rc = S_row_ca(r, (int)i, &cas[i]);
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	if (rc) {
		tv_trusted_cas_free(cas, n);
		return rc;
	}
	*out = cas;
	*n_out = n;
	return TV_OK;
}

static enum tv_err S_row_ca_cb(const PGresult *r, void *out)
{
	return S_row_ca(r, 0, out);
}

enum tv_err tv__pg_ca_get(struct tv_store *store, const char *tenant_id,
			  const char *fingerprint, struct tv_trusted_ca *out)
{
	static const struct tv__pg_sql sql = {
		S_CA_COLS "WHERE tenant_id = $1 AND fingerprint = $2"
	};

	return tv__pg_query_one(S_DB(store), &sql, tenant_id, fingerprint, S_row_ca_cb, out);
}

enum tv_err tv__pg_ca_delete(struct tv_store *store, const char *tenant_id,
			     const char *const *fingerprints, size_t n, size_t *deleted)
{
	static const struct tv__pg_sql sql = {
		"DELETE FROM trusted_cas WHERE tenant_id = $1 AND fingerprint = $2"
	};
	struct tv__pg_args b = { .n = 0 };
	struct tv__pg_conn *c;
	size_t i, count = 0;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	rc = tv__pg_exec(c, "BEGIN");
	for (i = 0; !rc && i < n; i++) {
		struct tv__pg_args a = { .n = 0 };
		PGresult *r = NULL;

		tv__pg_text(&a, tenant_id);
		tv__pg_text(&a, fingerprints[i]);
		rc = tv__pg_run(c, &sql, &a, &r);
		if (!rc)
			count += (size_t)tv__pg_changes(r);
		PQclear(r);
	}
	tv__pg_text(&b, tenant_id);
	if (!rc && count)
		rc = tv__pg_run(c, &S_bump, &b, NULL);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	if (!rc)
		*deleted = count;
	return rc;
}

static enum tv_err S_row_version(const PGresult *r, void *out)
{
	*(int64_t *)out = tv__pg_get_i64(r, 0, 0);
	return TV_OK;
}

enum tv_err tv__pg_ca_version(struct tv_store *store, const char *tenant_id, int64_t *version)
{
	static const struct tv__pg_sql sql = {
		"SELECT trust_version FROM tenants WHERE id = $1"
	};

	return tv__pg_query_one(S_DB(store), &sql, tenant_id, NULL, S_row_version, version);
}
