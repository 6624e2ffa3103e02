/*
 * DESIGN: the vault's reads and state changes. A search expression arrives
 * as a validated tree (api/ checked field names, operators and value types)
 * and is compiled here into SQL text made only of fixed column names,
 * operators and '?' placeholders; every value is bound, never spliced. The
 * tenant condition comes first so the (tenant_id, ...) indexes apply: a
 * fingerprint lookup uses the UNIQUE (tenant_id, fingerprint) index and an
 * ordering by validityEnd walks (tenant_id, validity_end_ms).
 *
 * Deletion overwrites the sealed key with zeros in place before the row is
 * deleted; with secure_delete=ON SQLite also zeroes the freed pages, so after
 * a WAL checkpoint the key's bytes are gone from the file.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

#define S_DB(st) ((struct tv__sqlite *)(st))
#define S_ERASE_WAIT_MS 50 /* S_wal_erase: one attempt's wait for readers */

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

static void S_put(struct tv__sql_query *q, const char *s)
{
	size_t n = strlen(s);

	if (q->len + n + 1 > sizeof(q->sql)) {
		q->overflow = true;
		return;
	}
	memcpy(q->sql + q->len, s, n + 1);
	q->len += n;
}

static void S_bind(struct tv__sql_query *q, const struct tv_search_value *v)
{
	if (q->n_binds == sizeof(q->binds) / sizeof(q->binds[0])) {
		q->overflow = true;
		return;
	}
	q->binds[q->n_binds++] = *v;
	S_put(q, "?");
}

/* One condition. SAN DNS names are stored joined by '\n'. */
static void S_condition(struct tv__sql_query *q, const struct tv_search_expr *e)
{
	static const char *const ops[] = { [TV_SO_EQ] = " = ", [TV_SO_GT] = " > ",
					   [TV_SO_GTE] = " >= ", [TV_SO_LT] = " < ",
					   [TV_SO_LTE] = " <= " };
	const char *col = S_columns[e->field];
	size_t i;

	if (e->op == TV_SO_MATCH) {
		/* case-insensitive substring, no LIKE metacharacters to escape */
		S_put(q, "instr(lower(coalesce(");
		S_put(q, col);
		S_put(q, ", '')), lower(");
		S_bind(q, &e->values[0]);
		S_put(q, ")) > 0");
		return;
	}
	if (e->field == TV_SF_SAN_DNS && (e->op == TV_SO_EQ || e->op == TV_SO_IN)) {
		S_put(q, "(");
		for (i = 0; i < e->n_values; i++) {
			S_put(q, i ? " OR " : "");
			S_put(q, "instr(char(10) || lower(coalesce(san_dns, '')) || char(10),"
				 " char(10) || lower(");
			S_bind(q, &e->values[i]);
			S_put(q, ") || char(10)) > 0");
		}
		S_put(q, ")");
		return;
	}
	S_put(q, col);
	if (e->op == TV_SO_IN) {
		S_put(q, " IN (");
		for (i = 0; i < e->n_values; i++) {
			S_put(q, i ? ", " : "");
			S_bind(q, &e->values[i]);
		}
		S_put(q, ")");
		return;
	}
	S_put(q, ops[e->op]);
	S_bind(q, &e->values[0]);
}

enum tv_err tv__sqlite_search_where(struct tv__sql_query *q, const struct tv_search_expr *e,
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
		S_put(q, e->op == TV_SO_AND ? "1" : "0");
		return TV_OK;
	}
	S_put(q, "(");
	for (i = 0; i < e->n_children; i++) {
		enum tv_err rc;

		if (i)
			S_put(q, e->op == TV_SO_AND ? " AND " : " OR ");
		rc = tv__sqlite_search_where(q, &e->children[i], depth + 1);
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

static enum tv_err S_row_cert(sqlite3_stmt *st, struct tv_cert_record *c)
{
	const unsigned char *facts = sqlite3_column_text(st, 6);
	const unsigned char *issuers = sqlite3_column_text(st, 7);
	enum tv_err rc;

	memset(c, 0, sizeof(*c));
	tv__sqlite_text(c->id, sizeof(c->id), st, 0);
	tv__sqlite_text(c->tenant_id, sizeof(c->tenant_id), st, 1);
	tv__sqlite_text(c->fingerprint, sizeof(c->fingerprint), st, 2);
	tv__sqlite_text(c->status, sizeof(c->status), st, 3);
	tv__sqlite_text(c->dek_id, sizeof(c->dek_id), st, 4);
	rc = tv__sqlite_blob_dup(&c->der, &c->der_len, st, 5);
	c->facts_json = strdup(facts ? (const char *)facts : "{}");
	c->issuer_ids_json = strdup(issuers ? (const char *)issuers : "[]");
	tv__sqlite_text(c->import_job_id, sizeof(c->import_job_id), st, 8);
	tv__sqlite_text(c->label, sizeof(c->label), st, 9);
	c->created_ms = sqlite3_column_int64(st, 10);
	c->modified_ms = sqlite3_column_int64(st, 11);
	if (!rc && (!c->facts_json || !c->issuer_ids_json))
		rc = TV_ERR_NOMEM;
	return rc;
}

static enum tv_err S_row_cert_cb(sqlite3_stmt *st, void *out)
{
	return S_row_cert(st, out);
}

enum tv_err tv__sqlite_cert_get(struct tv_store *store, const char *tenant_id, const char *id,
				struct tv_cert_record *out)
{
	return tv__sqlite_query_one(S_DB(store), S_CERT_COLS "WHERE tenant_id = ? AND id = ?",
				    tenant_id, id, S_row_cert_cb, out);
}

static void S_bind_all(sqlite3_stmt *st, const char *tenant_id, const struct tv__sql_query *q)
{
	size_t i;

	tv__sqlite_bind_text(st, 1, tenant_id);
	for (i = 0; i < q->n_binds; i++) {
		if (q->binds[i].text)
			tv__sqlite_bind_text(st, (int)i + 2, q->binds[i].text);
		else
			sqlite3_bind_int64(st, (int)i + 2, q->binds[i].num);
	}
}

/* "WHERE tenant_id = ? AND (...)" into q. */
static enum tv_err S_where(struct tv__sql_query *q, const struct tv_search *s)
{
	S_put(q, "WHERE tenant_id = ?");
	if (!s->expr)
		return q->overflow ? TV_ERR_TOO_LARGE : TV_OK;
	S_put(q, " AND ");
	return tv__sqlite_search_where(q, s->expr, 0);
}

static enum tv_err S_count(sqlite3 *db, const char *tenant_id, const struct tv_search *s,
			   size_t *total)
{
	struct tv__sql_query *q = calloc(1, sizeof(*q));
	sqlite3_stmt *st = NULL;
	enum tv_err rc = q ? TV_OK : TV_ERR_NOMEM;

	if (!rc) {
		S_put(q, "SELECT count(*) FROM certificates ");
		rc = S_where(q, s);
	}
	if (!rc)
		rc = tv__sqlite_prepare(db, &st, q->sql);
	if (!rc) {
		S_bind_all(st, tenant_id, q);
		if (sqlite3_step(st) == SQLITE_ROW)
			*total = (size_t)sqlite3_column_int64(st, 0);
		else
			rc = TV_ERR_STORE;
	}
	sqlite3_finalize(st);
	free(q);
	return rc;
}

/* The page's rows. */
static enum tv_err S_page(sqlite3 *db, const char *tenant_id, const struct tv_search *s,
			  struct tv_cert_record **out, size_t *n_out)
{
	struct tv__sql_query *q = calloc(1, sizeof(*q));
	struct tv_cert_record *rows = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0, i;
	char limit[64];
	enum tv_err rc = q ? TV_OK : TV_ERR_NOMEM;
	int r = SQLITE_DONE;

	if (!rc) {
		S_put(q, S_CERT_COLS);
		rc = S_where(q, s);
	}
	if (!rc) {
		/* the tiebreaker id runs in the last order's direction, so that
		 * (tenant_id, <field>, id) indexes serve the whole ORDER BY */
		bool desc = s->n_orders ? s->orders[s->n_orders - 1].descending : true;

		S_put(q, " ORDER BY ");
		for (i = 0; i < s->n_orders; i++) {
			S_put(q, S_columns[s->orders[i].field]);
			S_put(q, s->orders[i].descending ? " DESC, " : " ASC, ");
		}
		if (!s->n_orders)
			S_put(q, "created_ms DESC, ");
		S_put(q, desc ? "id DESC" : "id ASC");
		snprintf(limit, sizeof(limit), " LIMIT %zu OFFSET %zu", s->page_size,
			 s->page_number * s->page_size);
		S_put(q, limit);
		rc = q->overflow ? TV_ERR_TOO_LARGE : TV_OK;
	}
	if (!rc)
		rc = tv__sqlite_prepare(db, &st, q->sql);
	if (!rc) {
		rows = calloc(s->page_size ? s->page_size : 1, sizeof(*rows));
		rc = rows ? TV_OK : TV_ERR_NOMEM;
	}
	if (!rc) {
		S_bind_all(st, tenant_id, q);
		while (!rc && n < s->page_size && (r = sqlite3_step(st)) == SQLITE_ROW)
			rc = S_row_cert(st, &rows[n++]);
		if (!rc && r != SQLITE_ROW && r != SQLITE_DONE)
			rc = tv__sqlite_err(r);
	}
	sqlite3_finalize(st);
	free(q);
	if (rc) {
		tv_cert_records_free(rows, n);
		return rc;
	}
	*out = rows;
	*n_out = n;
	return TV_OK;
}

enum tv_err tv__sqlite_cert_search(struct tv_store *store, const char *tenant_id,
				   const struct tv_search *s, struct tv_cert_record **out,
				   size_t *n, size_t *total)
{
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	/* one read transaction: the count and the page agree */
	rc = tv__sqlite_exec(db, "BEGIN");
	if (!rc)
		rc = S_count(db, tenant_id, s, total);
	if (!rc)
		rc = S_page(db, tenant_id, s, out, n);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, true);
	return rc;
}

enum tv_err tv__sqlite_cert_key(struct tv_store *store, const char *tenant_id, const char *id,
				unsigned char **sealed, size_t *sealed_len)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	int r;

	if (rc)
		return rc;
	rc = tv__sqlite_stmt(db, &st, "SELECT sealed_key FROM certificates"
					 " WHERE tenant_id = ? AND id = ?");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		tv__sqlite_bind_text(st, 2, id);
		r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			rc = tv__sqlite_blob_dup(sealed, sealed_len, st, 0);
		else
			rc = r == SQLITE_DONE ? TV_ERR_NOT_FOUND : tv__sqlite_err(r);
		if (!rc && !*sealed)
			rc = TV_ERR_NOT_FOUND;
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}

/* For each id: run sql (tenant, id) and require one changed row. */
static enum tv_err S_each(sqlite3 *db, const char *sql, const char *tenant_id,
			  const char *const *ids, size_t n, const char *status, int64_t now)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st, sql);
	size_t i;

	for (i = 0; !rc && i < n; i++) {
		sqlite3_reset(st);
		tv__sqlite_bind_text(st, 1, tenant_id);
		tv__sqlite_bind_text(st, 2, ids[i]);
		if (status) {
			tv__sqlite_bind_text(st, 3, status);
			sqlite3_bind_int64(st, 4, now);
		}
		rc = tv__sqlite_step_done(st);
		if (!rc && sqlite3_changes(db) != 1)
			rc = TV_ERR_NOT_FOUND;
	}
	tv__sqlite_stmt_put(st);
	return rc;
}

enum tv_err tv__sqlite_cert_set_status(struct tv_store *store, const char *tenant_id,
				       const char *const *ids, size_t n, const char *to_status,
				       int64_t now_ms)
{
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = S_each(db,
			    "UPDATE certificates SET status = ?3, modified_ms = ?4"
			    " WHERE tenant_id = ?1 AND id = ?2",
			    tenant_id, ids, n, to_status, now_ms);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

/*
 * Move the deleted keys' zeroed pages into the main file and empty the WAL,
 * so their old bytes don't linger in WAL frames. SQLite answers SQLITE_BUSY
 * at once, without its busy handler, while another connection checkpoints
 * (the checkpoint thread, woken by this very commit), so a busy answer is
 * retried for up to about a second; past that the truncation is left owed
 * to the checkpoint thread, which retries until it succeeds.
 */
static void S_wal_erase(struct tv__sqlite *s, sqlite3 *db)
{
	struct timespec pause = { 0, 20L * 1000000L };
	int64_t until = tv_mono_ms() + 1000;
	int r;

	/* A TRUNCATE holds the writer lock while it waits for readers: each
	 * attempt waits for them at most S_ERASE_WAIT_MS (not the default
	 * busy timeout's seconds), so the whole takes about a second at most
	 * and never stalls the import's writers for long. */
	sqlite3_busy_timeout(db, S_ERASE_WAIT_MS);
	r = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	while ((r == SQLITE_BUSY || r == SQLITE_LOCKED) && tv_mono_ms() < until) {
		nanosleep(&pause, NULL);
		r = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	}
	tv__sqlite_busy_default(db);
	if (r != SQLITE_OK)
		tv__sqlite_ckpt_truncate(s);
}

enum tv_err tv__sqlite_cert_delete(struct tv_store *store, const char *tenant_id,
				   const char *const *ids, size_t n)
{
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	bool found_all;

	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	/* every id must exist first, and only then be RETIRED */
	if (!rc)
		rc = S_each(db, "UPDATE certificates SET modified_ms = modified_ms"
				" WHERE tenant_id = ?1 AND id = ?2", tenant_id, ids, n, NULL, 0);
	found_all = !rc;
	if (!rc)
		rc = S_each(db, "UPDATE certificates SET modified_ms = modified_ms"
				" WHERE tenant_id = ?1 AND id = ?2 AND status = 'RETIRED'",
			    tenant_id, ids, n, NULL, 0);
	if (rc == TV_ERR_NOT_FOUND && found_all)
		rc = TV_ERR_STATE;
	/* overwrite the sealed key in place, then remove the row */
	if (!rc)
		rc = S_each(db, "UPDATE certificates SET sealed_key = zeroblob(length(sealed_key))"
				" WHERE tenant_id = ?1 AND id = ?2", tenant_id, ids, n, NULL, 0);
	if (!rc)
		rc = S_each(db, "DELETE FROM certificates WHERE tenant_id = ?1 AND id = ?2",
			    tenant_id, ids, n, NULL, 0);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	if (!rc)
		S_wal_erase(S_DB(store), db);
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

enum tv_err tv__sqlite_audit_list(struct tv_store *store, const char *tenant_id, int64_t after,
				  size_t limit, struct tv_audit_row **out, size_t *n_out)
{
	struct tv_audit_row *rows = calloc(limit ? limit : 1, sizeof(*rows));
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	sqlite3 *db;
	enum tv_err rc;

	if (!rows)
		return TV_ERR_NOMEM;
	rc = tv__sqlite_acquire(S_DB(store), &db);
	if (rc) {
		free(rows);
		return rc;
	}
	rc = tv__sqlite_stmt(db, &st,
				"SELECT id, ts_ms, coalesce(actor, ''), action, coalesce(object_id, ''),"
				" coalesce(detail, ''), outcome, coalesce(request_id, '')"
				" FROM audit_log WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		sqlite3_bind_int64(st, 2, after);
		sqlite3_bind_int64(st, 3, (int64_t)limit);
		while (n < limit && sqlite3_step(st) == SQLITE_ROW) {
			struct tv_audit_row *a = &rows[n++];
			a->id = sqlite3_column_int64(st, 0);
			a->ts_ms = sqlite3_column_int64(st, 1);
			tv__sqlite_text(a->actor, sizeof(a->actor), st, 2);
			tv__sqlite_text(a->action, sizeof(a->action), st, 3);
			tv__sqlite_text(a->object_id, sizeof(a->object_id), st, 4);
			tv__sqlite_text(a->detail, sizeof(a->detail), st, 5);
			tv__sqlite_text(a->outcome, sizeof(a->outcome), st, 6);
			tv__sqlite_text(a->request_id, sizeof(a->request_id), st, 7);
		}
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	if (rc) {
		free(rows);
		return rc;
	}
	*out = rows;
	*n_out = n;
	return TV_OK;
}
