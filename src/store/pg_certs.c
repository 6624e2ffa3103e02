/*
 * DESIGN: the vault's reads and state changes on PostgreSQL. A search
 * expression (validated by api/) is compiled into SQL made only of fixed
 * column names, operators and $n placeholders; every value is bound, never
 * spliced. The semantics are SQLite's, written in PostgreSQL's dialect:
 * MATCH is strpos(lower(col), lower($n)) (no pattern characters to escape;
 * lower() folds ASCII only under COLLATE "C", as SQLite's does), NULLs sort
 * first ascending and last descending (the ordering indexes are built NULLS
 * FIRST to match, so a page is still read in index order), and text sorts
 * by bytes (COLLATE "C").
 *
 * Deletion overwrites the sealed key with zeros before deleting the row, as
 * on SQLite. PostgreSQL keeps old row versions until VACUUM reclaims them
 * (and does not zero the space), so on this backend the erasure of the
 * key's sealed bytes from disk is up to VACUUM and the storage; see
 * docs/DEPLOYMENT.md. The bytes are sealed to the DEK either way.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DB(st) ((struct tv__pg *)(st))

static const char *const S_columns[TV_SF_COUNT] = {
	[TV_SF_FINGERPRINT] = "fingerprint",
	[TV_SF_CERTIFICATE_NAME] = "certificate_name",
	[TV_SF_SUBJECT_CN] = "subject_cn",
	[TV_SF_SAN_DNS] = "san_dns",
	[TV_SF_SERIAL_NUMBER] = "serial_number",
	[TV_SF_ISSUER_DN] = "issuer_dn",
	[TV_SF_VALIDITY_START] = "validity_start_ms",
	[TV_SF_VALIDITY_END] = "validity_end_ms",
	[TV_SF_STATUS] = "status",
	[TV_SF_ENCRYPTION_TYPE] = "encryption_type",
	[TV_SF_KEY_STRENGTH] = "key_strength",
	[TV_SF_CREATION_DATE] = "created_ms",
	[TV_SF_DEK_HASH] = "dek_id",
};

static void S_put(struct tv__pg_query *q, const char *s)
{
	size_t n = strlen(s);

	if (q->len + n + 1 > sizeof(q->sql)) {
		q->overflow = true;
		return;
	}
	memcpy(q->sql + q->len, s, n + 1);
	q->len += n;
}

/* "$n" for the next value; $1 is the tenant. cast follows the placeholder. */
static void S_bind(struct tv__pg_query *q, const struct tv_search_value *v, const char *cast)
{
	char ph[32];

	if (q->n_binds == sizeof(q->binds) / sizeof(q->binds[0])) {
		q->overflow = true;
		return;
	}
	q->binds[q->n_binds++] = *v;
	snprintf(ph, sizeof(ph), "$%zu%s", q->n_binds + 1, cast);
	S_put(q, ph);
}

/* One condition. SAN DNS names are stored joined by '\n'. */
static void S_condition(struct tv__pg_query *q, const struct tv_search_expr *e)
{
	static const char *const ops[] = { [TV_SO_EQ] = " = ", [TV_SO_GT] = " > ",
					   [TV_SO_GTE] = " >= ", [TV_SO_LT] = " < ",
					   [TV_SO_LTE] = " <= " };
	const char *col = S_columns[e->field];
	size_t i;

	if (e->op == TV_SO_MATCH) {
		S_put(q, "strpos(lower(coalesce(");
		S_put(q, col);
		S_put(q, "::text, '')), lower(");
		S_bind(q, &e->values[0], "::text");
		S_put(q, ")) > 0");
		return;
	}
	if (e->field == TV_SF_SAN_DNS && (e->op == TV_SO_EQ || e->op == TV_SO_IN)) {
		S_put(q, "(");
		for (i = 0; i < e->n_values; i++) {
			S_put(q, i ? " OR " : "");
			S_put(q, "strpos(chr(10) || lower(coalesce(san_dns, '')) || chr(10),"
				 " chr(10) || lower(");
			S_bind(q, &e->values[i], "::text");
			S_put(q, ") || chr(10)) > 0");
		}
		S_put(q, ")");
		return;
	}
	S_put(q, col);
	if (e->op == TV_SO_IN) {
		S_put(q, " IN (");
		for (i = 0; i < e->n_values; i++) {
			S_put(q, i ? ", " : "");
			S_bind(q, &e->values[i], "");
		}
		S_put(q, ")");
		return;
	}
	S_put(q, ops[e->op]);
	S_bind(q, &e->values[0], "");
}

enum tv_err tv__pg_search_where(struct tv__pg_query *q, const struct tv_search_expr *e,
				int depth)
{
	size_t i;

	if (depth > TV_SEARCH_MAX_DEPTH)
		return TV_ERR_INVALID;
	if (e->op != TV_SO_AND && e->op != TV_SO_OR) {
		if (e->field >= TV_SF_COUNT || !e->n_values ||
		    (e->op != TV_SO_IN && e->n_values != 1))
			return TV_ERR_INVALID;
		S_condition(q, e);
		return q->overflow ? TV_ERR_TOO_LARGE : TV_OK;
	}
	if (!e->n_children) {
		S_put(q, e->op == TV_SO_AND ? "TRUE" : "FALSE");
		return TV_OK;
	}
	S_put(q, "(");
	for (i = 0; i < e->n_children; i++) {
		enum tv_err rc;

		if (i)
			S_put(q, e->op == TV_SO_AND ? " AND " : " OR ");
		rc = tv__pg_search_where(q, &e->children[i], depth + 1);
		if (rc)
			return rc;
	}
	S_put(q, ")");
	return q->overflow ? TV_ERR_TOO_LARGE : TV_OK;
}

#define S_CERT_COLS                                                                       \
	"SELECT id, tenant_id, fingerprint, status, coalesce(dek_id, ''), der, facts,"      \
	" issuer_ids, coalesce(import_job_id, ''), coalesce(label, ''), created_ms,"        \
	" modified_ms FROM certificates "

static enum tv_err S_row_cert(const PGresult *r, int row, struct tv_cert_record *c)
{
	enum tv_err rc;

	memset(c, 0, sizeof(*c));
	tv__pg_get_text(c->id, sizeof(c->id), r, row, 0);
	tv__pg_get_text(c->tenant_id, sizeof(c->tenant_id), r, row, 1);
	tv__pg_get_text(c->fingerprint, sizeof(c->fingerprint), r, row, 2);
	tv__pg_get_text(c->status, sizeof(c->status), r, row, 3);
	tv__pg_get_text(c->dek_id, sizeof(c->dek_id), r, row, 4);
	rc = tv__pg_get_blob(&c->der, &c->der_len, r, row, 5);
	c->facts_json = tv__pg_get_strdup(r, row, 6, "{}");
	c->issuer_ids_json = tv__pg_get_strdup(r, row, 7, "[]");
	tv__pg_get_text(c->import_job_id, sizeof(c->import_job_id), r, row, 8);
	tv__pg_get_text(c->label, sizeof(c->label), r, row, 9);
	c->created_ms = tv__pg_get_i64(r, row, 10);
	c->modified_ms = tv__pg_get_i64(r, row, 11);
	if (!rc && (!c->facts_json || !c->issuer_ids_json))
		rc = TV_ERR_NOMEM;
	return rc;
}

static enum tv_err S_row_cert_cb(const PGresult *r, void *out)
{
	return S_row_cert(r, 0, out);
}

enum tv_err tv__pg_cert_get(struct tv_store *store, const char *tenant_id, const char *id,
			    struct tv_cert_record *out)
{
	static const struct tv__pg_sql sql = { S_CERT_COLS "WHERE tenant_id = $1 AND id = $2" };

	return tv__pg_query_one(S_DB(store), &sql, tenant_id, id, S_row_cert_cb, out);
}

/* Run q->sql with the tenant and q's values as parameters. */
static enum tv_err S_run_query(struct tv__pg_conn *c, const char *tenant_id,
			       const struct tv__pg_query *q, PGresult **res)
{
	size_t n = q->n_binds + 1, i;
	const char **v = calloc(n, sizeof(*v));
	char(*num)[24] = calloc(n, sizeof(*num));
	enum tv_err rc = v && num ? TV_OK : TV_ERR_NOMEM;

	if (!rc) {
		v[0] = tenant_id;
		for (i = 0; i < q->n_binds; i++) {
			if (q->binds[i].text) {
				v[i + 1] = q->binds[i].text;
			} else {
				snprintf(num[i + 1], sizeof(num[i + 1]), "%lld",
					 (long long)q->binds[i].num);
				v[i + 1] = num[i + 1];
			}
		}
		rc = tv__pg_run_text(c, q->sql, (int)n, v, NULL, NULL, res);
	}
	free(v);
	free(num);
	return rc;
}

/* "WHERE tenant_id = $1 AND (...)" into q. */
static enum tv_err S_where(struct tv__pg_query *q, const struct tv_search *s)
{
	S_put(q, "WHERE tenant_id = $1");
	if (!s->expr)
		return q->overflow ? TV_ERR_TOO_LARGE : TV_OK;
	S_put(q, " AND ");
	return tv__pg_search_where(q, s->expr, 0);
}

static enum tv_err S_count(struct tv__pg_conn *c, const char *tenant_id,
			   const struct tv_search *s, size_t *total)
{
	struct tv__pg_query *q = calloc(1, sizeof(*q));
	PGresult *r = NULL;
	enum tv_err rc = q ? TV_OK : TV_ERR_NOMEM;

	if (!rc) {
		S_put(q, "SELECT count(*) FROM certificates ");
		rc = S_where(q, s);
	}
	if (!rc)
		rc = S_run_query(c, tenant_id, q, &r);
	if (!rc && PQntuples(r) == 1)
		*total = (size_t)tv__pg_get_i64(r, 0, 0);
	else if (!rc)
		rc = TV_ERR_STORE;
	PQclear(r);
	free(q);
	return rc;
}

/* " ORDER BY ... LIMIT n OFFSET m": NULLs first ascending, as in SQLite; the
 * tiebreaker id runs in the last order's direction, so the (tenant_id,
 * <field> NULLS FIRST, id) indexes serve the whole ORDER BY. */
static void S_order(struct tv__pg_query *q, const struct tv_search *s)
{
	bool desc = s->n_orders ? s->orders[s->n_orders - 1].descending : true;
	char limit[64];
	size_t i;

	S_put(q, " ORDER BY ");
	for (i = 0; i < s->n_orders; i++) {
		S_put(q, S_columns[s->orders[i].field]);
		S_put(q, s->orders[i].descending ? " DESC NULLS LAST, " : " ASC NULLS FIRST, ");
	}
	if (!s->n_orders)
		S_put(q, "created_ms DESC NULLS LAST, ");
	S_put(q, desc ? "id DESC" : "id ASC");
	snprintf(limit, sizeof(limit), " LIMIT %zu OFFSET %zu", s->page_size,
		 s->page_number * s->page_size);
	S_put(q, limit);
}

static enum tv_err S_page(struct tv__pg_conn *c, const char *tenant_id,
			  const struct tv_search *s, struct tv_cert_record **out, size_t *n_out)
{
	struct tv__pg_query *q = calloc(1, sizeof(*q));
	struct tv_cert_record *rows = NULL;
	PGresult *r = NULL;
	size_t n = 0, i;
	enum tv_err rc = q ? TV_OK : TV_ERR_NOMEM;

	if (!rc) {
		S_put(q, S_CERT_COLS);
		rc = S_where(q, s);
	}
	if (!rc) {
		S_order(q, s);
		rc = q->overflow ? TV_ERR_TOO_LARGE : TV_OK;
	}
	if (!rc)
		rc = S_run_query(c, tenant_id, q, &r);
	if (!rc) {
		n = (size_t)PQntuples(r);
		if (n > s->page_size)
			n = s->page_size;
		rows = calloc(s->page_size ? s->page_size : 1, sizeof(*rows));
		rc = rows ? TV_OK : TV_ERR_NOMEM;
	}
	for (i = 0; !rc && i < n; i++)
		rc = S_row_cert(r, (int)i, &rows[i]);
	PQclear(r);
	free(q);
	if (rc) {
		tv_cert_records_free(rows, n);
		return rc;
	}
	*out = rows;
	*n_out = n;
	return TV_OK;
}

enum tv_err tv__pg_cert_search(struct tv_store *store, const char *tenant_id,
			       const struct tv_search *s, struct tv_cert_record **out, size_t *n,
			       size_t *total)
{
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	/* one snapshot: the count and the page agree */
	rc = tv__pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	if (!rc)
		rc = S_count(c, tenant_id, s, total);
	if (!rc)
		rc = S_page(c, tenant_id, s, out, n);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

enum tv_err tv__pg_cert_key(struct tv_store *store, const char *tenant_id, const char *id,
			    unsigned char **sealed, size_t *sealed_len)
{
	static const struct tv__pg_sql sql = {
		"SELECT sealed_key FROM certificates WHERE tenant_id = $1 AND id = $2"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, tenant_id);
	tv__pg_text(&a, id);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc && PQntuples(r) > 0)
		rc = tv__pg_get_blob(sealed, sealed_len, r, 0, 0);
	else if (!rc)
		rc = TV_ERR_NOT_FOUND;
	if (!rc && !*sealed)
		rc = TV_ERR_NOT_FOUND;
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	return rc;
}

/* For each id: run sql ($1 tenant, $2 id[, $3 status, $4 time]) and require
 * one changed row. */
static enum tv_err S_each(struct tv__pg_conn *c, const struct tv__pg_sql *sql,
			  const char *tenant_id, const char *const *ids, size_t n,
			  const char *status, int64_t now)
{
	enum tv_err rc = TV_OK;
	size_t i;

	for (i = 0; !rc && i < n; i++) {
		struct tv__pg_args a = { .n = 0 };
		PGresult *r = NULL;

		tv__pg_text(&a, tenant_id);
		tv__pg_text(&a, ids[i]);
		if (status) {
			tv__pg_text(&a, status);
			tv__pg_i64(&a, now);
		}
		rc = tv__pg_run(c, sql, &a, &r);
		if (!rc && tv__pg_changes(r) != 1)
			rc = TV_ERR_NOT_FOUND;
		PQclear(r);
	}
	return rc;
}

enum tv_err tv__pg_cert_set_status(struct tv_store *store, const char *tenant_id,
				   const char *const *ids, size_t n, const char *to_status,
				   int64_t now_ms)
{
	static const struct tv__pg_sql sql = {
		"UPDATE certificates SET status = $3, modified_ms = $4"
		" WHERE tenant_id = $1 AND id = $2"
	};
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = S_each(c, &sql, tenant_id, ids, n, to_status, now_ms);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

enum tv_err tv__pg_cert_delete(struct tv_store *store, const char *tenant_id,
			       const char *const *ids, size_t n)
{
	/* FOR UPDATE: nobody changes the status between the check and the delete */
	static const struct tv__pg_sql exists = {
		"SELECT 1 FROM certificates WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
	};
	static const struct tv__pg_sql retired = {
		"SELECT 1 FROM certificates WHERE tenant_id = $1 AND id = $2 AND status = 'RETIRED'"
	};
	static const struct tv__pg_sql zero = {
		"UPDATE certificates SET sealed_key = decode(repeat('00', length(sealed_key)), 'hex')"
		" WHERE tenant_id = $1 AND id = $2"
	};
	static const struct tv__pg_sql del = {
		"DELETE FROM certificates WHERE tenant_id = $1 AND id = $2"
	};
	struct tv__pg_conn *c;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);
	bool found_all;

	if (rc)
		return rc;
	rc = tv__pg_exec(c, "BEGIN");
	/* every id must exist first, and only then be RETIRED */
	if (!rc)
		rc = S_each(c, &exists, tenant_id, ids, n, NULL, 0);
	found_all = !rc;
	if (!rc)
		rc = S_each(c, &retired, tenant_id, ids, n, NULL, 0);
	if (rc == TV_ERR_NOT_FOUND && found_all)
		rc = TV_ERR_STATE;
	if (!rc)
		rc = S_each(c, &zero, tenant_id, ids, n, NULL, 0);
	if (!rc)
		rc = S_each(c, &del, tenant_id, ids, n, NULL, 0);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

enum tv_err tv__pg_audit_list(struct tv_store *store, const char *tenant_id, int64_t after,
			      size_t limit, struct tv_audit_row **out, size_t *n_out)
{
	static const struct tv__pg_sql sql = {
		"SELECT id, ts_ms, coalesce(actor, ''), action, coalesce(object_id, ''),"
		" coalesce(detail, ''), outcome, coalesce(request_id, '')"
		" FROM audit_log WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
	};
	struct tv_audit_row *rows = calloc(limit ? limit : 1, sizeof(*rows));
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	size_t n = 0;
	enum tv_err rc;

	if (!rows)
		return TV_ERR_NOMEM;
	rc = tv__pg_acquire(S_DB(store), &c);
	if (rc) {
		free(rows);
		return rc;
	}
	tv__pg_text(&a, tenant_id);
	tv__pg_i64(&a, after);
	tv__pg_i64(&a, (int64_t)limit);
	rc = tv__pg_run(c, &sql, &a, &r);
	for (; !rc && n < limit && (int)n < PQntuples(r); n++) {
		struct tv_audit_row *x = &rows[n];
		int i = (int)n;

		x->id = tv__pg_get_i64(r, i, 0);
		x->ts_ms = tv__pg_get_i64(r, i, 1);
		tv__pg_get_text(x->actor, sizeof(x->actor), r, i, 2);
		tv__pg_get_text(x->action, sizeof(x->action), r, i, 3);
		tv__pg_get_text(x->object_id, sizeof(x->object_id), r, i, 4);
		tv__pg_get_text(x->detail, sizeof(x->detail), r, i, 5);
		tv__pg_get_text(x->outcome, sizeof(x->outcome), r, i, 6);
		tv__pg_get_text(x->request_id, sizeof(x->request_id), r, i, 7);
	}
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	if (rc) {
		free(rows);
		return rc;
	}
	*out = rows;
	*n_out = n;
	return TV_OK;
}
