/*
 * DESIGN: item_finish on PostgreSQL, the final transaction of an item (see
 * pg_jobs.c for the locking story); items_finish commits several items'
 * finishes in one transaction, each under a savepoint. The dedupe rules are the SQLite
 * backend's (sqlite_jobs.c), decided in the same order:
 *  - within the job, the lowest (item index, result seq) with a fingerprint
 *    keeps IMPORTED/VALID and every other gets SKIPPED/DUPLICATE_IN_REQUEST;
 *    if a later item got there first, its result is rewritten;
 *  - outside the job, a certificate the tenant holds with a key gives
 *    SKIPPED/ALREADY_IMPORTED, and one it holds without a key gets this key.
 * What only PostgreSQL can see is another node's transaction racing this
 * one for the same certificate: the insert then finds the row the other one
 * committed (ON CONFLICT DO NOTHING), and this item takes the outcome it
 * would have had if it had come second. Nothing is ever imported twice.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define S_DB(st) ((struct tv__pg *)(st))

struct S_finish {
	struct tv__pg_conn *c;
	const char *job_id;
	int index;
	char tenant_id[TV_ID_SIZE];
	char dek_id[TV_DEK_ID_SIZE];
	char label[TV_LABEL_MAX + 1];
	bool dry_run;
	int64_t now;
};

/* Lock the item and its job, and check that owner still holds the item. */
static enum tv_err S_hold_check(struct S_finish *f, const char *owner)
{
	static const struct tv__pg_sql sql = {
		"SELECT i.state, coalesce(i.lease_owner, ''), coalesce(i.label, ''), j.tenant_id,"
		" j.dek_id, j.dry_run FROM import_items i JOIN import_jobs j ON j.id = i.job_id"
		" WHERE i.job_id = $1 AND i.item_index = $2 FOR NO KEY UPDATE"
	};
	struct tv__pg_args a = { .n = 0 };
	char state[16], held_by[128];
	PGresult *r = NULL;
	enum tv_err rc;

	tv__pg_text(&a, f->job_id);
	tv__pg_i64(&a, f->index);
	rc = tv__pg_run(f->c, &sql, &a, &r);
	if (!rc && PQntuples(r) == 0)
		rc = TV_ERR_NOT_FOUND;
	if (!rc) {
		tv__pg_get_text(state, sizeof(state), r, 0, 0);
		tv__pg_get_text(held_by, sizeof(held_by), r, 0, 1);
		tv__pg_get_text(f->label, sizeof(f->label), r, 0, 2);
		tv__pg_get_text(f->tenant_id, sizeof(f->tenant_id), r, 0, 3);
		tv__pg_get_text(f->dek_id, sizeof(f->dek_id), r, 0, 4);
		f->dry_run = tv__pg_get_i64(r, 0, 5) != 0;
		if (strcmp(state, "PROCESSING") || strcmp(held_by, owner))
			rc = TV_ERR_STATE;
	}
	PQclear(r);
	return rc;
}

/* Another result of this job with fingerprint fp that is IMPORTED or VALID.
 * *order: 0 none, -1 it comes before (index, seq), +1 after. */
static enum tv_err S_job_dup(struct S_finish *f, const char *fp, int seq, int *order,
			     int *o_index, int *o_seq, char *cert_id)
{
	static const struct tv__pg_sql sql = {
		"SELECT item_index, seq, coalesce(certificate_id, '') FROM import_results"
		" WHERE job_id = $1 AND fingerprint = $2 AND status IN ('IMPORTED', 'VALID')"
		" ORDER BY item_index, seq LIMIT 1"
	};
	struct tv__pg_args a = { .n = 0 };
	PGresult *r = NULL;
	enum tv_err rc;

	*order = 0;
	tv__pg_text(&a, f->job_id);
	tv__pg_text(&a, fp);
	rc = tv__pg_run(f->c, &sql, &a, &r);
	if (!rc && PQntuples(r) > 0) {
		*o_index = (int)tv__pg_get_i64(r, 0, 0);
		*o_seq = (int)tv__pg_get_i64(r, 0, 1);
		tv__pg_get_text(cert_id, TV_ID_SIZE, r, 0, 2);
		*order = (*o_index < f->index || (*o_index == f->index && *o_seq < seq)) ? -1 : 1;
	}
	PQclear(r);
	return rc;
}

/* The tenant's certificate with this fingerprint: id and whether it has a key. */
static enum tv_err S_cert_find(struct S_finish *f, const char *fp, char *id, bool *has_key)
{
	static const struct tv__pg_sql sql = {
		"SELECT id, sealed_key IS NOT NULL FROM certificates"
		" WHERE tenant_id = $1 AND fingerprint = $2"
	};
	struct tv__pg_args a = { .n = 0 };
	PGresult *r = NULL;
	enum tv_err rc;

	tv__pg_text(&a, f->tenant_id);
	tv__pg_text(&a, fp);
	rc = tv__pg_run(f->c, &sql, &a, &r);
	if (!rc && PQntuples(r) > 0) {
		tv__pg_get_text(id, TV_ID_SIZE, r, 0, 0);
		*has_key = tv__pg_get_i64(r, 0, 1) != 0;
	} else if (!rc) {
		rc = TV_ERR_NOT_FOUND;
	}
	PQclear(r);
	return rc;
}

/* Insert a certificate unless the tenant has its fingerprint already (a
 * racing node's commit): TV_ERR_EXISTS then, and nothing written. */
static enum tv_err S_cert_insert(struct S_finish *f, const struct tv_cert_row *c,
				 const unsigned char *sealed_key, size_t sealed_len,
				 const char *issuer_ids, char *id)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO certificates (id, tenant_id, fingerprint, der, facts,"
		" certificate_name, subject_cn, san_dns, serial_number, issuer_dn,"
		" encryption_type, key_strength, validity_start_ms, validity_end_ms, dek_id,"
		" sealed_key, issuer_ids, import_job_id, label, created_ms, modified_ms)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,"
		" $17, $18, $19, $20, $20) ON CONFLICT (tenant_id, fingerprint) DO NOTHING"
	};
	struct tv__pg_args a = { .n = 0 };
	PGresult *r = NULL;
	enum tv_err rc;

	tv_uuid_new(id);
	tv__pg_text(&a, id);
	tv__pg_text(&a, f->tenant_id);
	tv__pg_text(&a, c->fingerprint);
	tv__pg_blob(&a, c->der, c->der_len);
	tv__pg_text(&a, c->facts_json);
	tv__pg_text(&a, c->certificate_name);
	tv__pg_text(&a, c->subject_cn);
	tv__pg_text(&a, c->san_dns);
	tv__pg_text(&a, c->serial_number);
	tv__pg_text(&a, c->issuer_dn);
	tv__pg_text(&a, c->encryption_type);
	tv__pg_i64(&a, c->key_strength);
	tv__pg_i64(&a, c->validity_start_ms);
	tv__pg_i64(&a, c->validity_end_ms);
	tv__pg_text(&a, sealed_key ? f->dek_id : NULL);
	tv__pg_blob(&a, sealed_key, sealed_len);
	tv__pg_text(&a, issuer_ids ? issuer_ids : "[]");
	tv__pg_text(&a, sealed_key ? f->job_id : NULL);
	tv__pg_text(&a, sealed_key && f->label[0] ? f->label : NULL);
	tv__pg_i64(&a, f->now);
	rc = tv__pg_run(f->c, &sql, &a, &r);
	if (!rc && tv__pg_changes(r) == 0)
		rc = TV_ERR_EXISTS;
	PQclear(r);
	return rc;
}

/* Attach a key to a stored certificate without one; TV_ERR_EXISTS when it
 * has one by now (a racing node attached its own first). */
static enum tv_err S_cert_attach_key(struct S_finish *f, const char *id,
				     const unsigned char *sealed_key, size_t sealed_len)
{
	static const struct tv__pg_sql sql = {
		"UPDATE certificates SET sealed_key = $1, dek_id = $2, import_job_id = $3,"
		" label = coalesce($4, label), modified_ms = $5"
		" WHERE id = $6 AND sealed_key IS NULL"
	};
	struct tv__pg_args a = { .n = 0 };
	PGresult *r = NULL;
	enum tv_err rc;

	tv__pg_blob(&a, sealed_key, sealed_len);
	tv__pg_text(&a, f->dek_id);
	tv__pg_text(&a, f->job_id);
	tv__pg_text(&a, f->label[0] ? f->label : NULL);
	tv__pg_i64(&a, f->now);
	tv__pg_text(&a, id);
	rc = tv__pg_run(f->c, &sql, &a, &r);
	if (!rc && tv__pg_changes(r) == 0)
		rc = TV_ERR_EXISTS;
	PQclear(r);
	return rc;
}

/* Store the issuers (no key) unless present; *json gets their ids, nearest first. */
static enum tv_err S_issuers(struct S_finish *f, const struct tv_cert_row *rows, size_t n,
			     char **json)
{
	size_t i, cap = n * (TV_ID_SIZE + 3) + 3, len = 0;
	char *buf = malloc(cap);
	enum tv_err rc = TV_OK;

	if (!buf)
		return TV_ERR_NOMEM;
	buf[len++] = '[';
	for (i = 0; !rc && i < n; i++) {
		char id[TV_ID_SIZE];
		bool has_key;

		rc = S_cert_find(f, rows[i].fingerprint, id, &has_key);
		if (rc == TV_ERR_NOT_FOUND)
			rc = S_cert_insert(f, &rows[i], NULL, 0, NULL, id);
		if (rc == TV_ERR_EXISTS) /* another node stored it just now */
			rc = S_cert_find(f, rows[i].fingerprint, id, &has_key);
		if (!rc)
			len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", i ? "," : "", id);
	}
	buf[len++] = ']';
	buf[len] = '\0';
	if (rc) {
		free(buf);
		return rc;
	}
	*json = buf;
	return TV_OK;
}

static void S_already(const char **status, char *reason, size_t reason_size)
{
	*status = "SKIPPED";
	snprintf(reason, reason_size,
		 "ALREADY_IMPORTED: this certificate and its key are already in the vault");
}

/* A later item of this job holds the fingerprint: it becomes the duplicate. */
static enum tv_err S_demote(struct S_finish *f, int o_index, int o_seq)
{
	static const struct tv__pg_sql sql = {
		"UPDATE import_results SET status = 'SKIPPED', reason = $1"
		" WHERE job_id = $2 AND item_index = $3 AND seq = $4"
	};
	struct tv__pg_args a = { .n = 0 };
	char text[200];

	snprintf(text, sizeof(text),
		 "DUPLICATE_IN_REQUEST: item %d of this request has the same certificate",
		 f->index);
	tv__pg_text(&a, text);
	tv__pg_text(&a, f->job_id);
	tv__pg_i64(&a, o_index);
	tv__pg_i64(&a, o_seq);
	return tv__pg_run(f->c, &sql, &a, NULL);
}

/* Store a certificate the tenant doesn't hold (or holds without a key). */
static enum tv_err S_store(struct S_finish *f, const struct tv_item_outcome *o, bool found,
			   const char **status, char *reason, size_t reason_size, char *cert_id)
{
	char *issuer_ids = NULL;
	bool has_key = false;
	enum tv_err rc = TV_ERR_EXISTS;

	if (!found) {
		rc = S_issuers(f, o->issuers, o->n_issuers, &issuer_ids);
		if (!rc)
			rc = S_cert_insert(f, o->cert, o->sealed_key, o->sealed_key_len,
					   issuer_ids, cert_id);
		free(issuer_ids);
		if (rc != TV_ERR_EXISTS)
			return rc;
		/* a racing node stored it first: take it as found */
		rc = S_cert_find(f, o->fingerprint, cert_id, &has_key);
		if (rc)
			return rc;
		if (has_key) {
			S_already(status, reason, reason_size);
			return TV_OK;
		}
	}
	rc = S_cert_attach_key(f, cert_id, o->sealed_key, o->sealed_key_len);
	if (rc == TV_ERR_EXISTS) { /* a racing node attached its key first */
		S_already(status, reason, reason_size);
		rc = TV_OK;
	}
	return rc;
}

/* Decide and store one good outcome; fills status, reason and cert_id. */
static enum tv_err S_place(struct S_finish *f, const struct tv_item_outcome *o, int seq,
			   const char **status, char *reason, size_t reason_size, char *cert_id)
{
	char other_id[TV_ID_SIZE] = "";
	int order, o_index = 0, o_seq = 0;
	bool has_key = false;
	enum tv_err rc;

	rc = S_job_dup(f, o->fingerprint, seq, &order, &o_index, &o_seq, other_id);
	if (rc)
		return rc;
	if (order < 0) {
		*status = "SKIPPED";
		snprintf(reason, reason_size,
			 "DUPLICATE_IN_REQUEST: item %d of this request has the same certificate",
			 o_index);
		snprintf(cert_id, TV_ID_SIZE, "%s", other_id);
		return TV_OK;
	}
	if (order > 0) {
		snprintf(cert_id, TV_ID_SIZE, "%s", other_id);
		*status = o->status; /* IMPORTED or VALID: the certificate is in place */
		return S_demote(f, o_index, o_seq);
	}
	rc = S_cert_find(f, o->fingerprint, cert_id, &has_key);
	if (rc && rc != TV_ERR_NOT_FOUND)
		return rc;
	if (!rc && has_key) {
		S_already(status, reason, reason_size);
		return TV_OK;
	}
	*status = o->status;
	if (f->dry_run) {
		cert_id[0] = '\0';
		return TV_OK;
	}
	return S_store(f, o, rc == TV_OK, status, reason, reason_size, cert_id);
}

/* The item is final and its inputs erased. */
static enum tv_err S_item_final(struct S_finish *f)
{
	static const struct tv__pg_sql sql = {
		"UPDATE import_items SET state = 'FINAL', keystore = NULL, key_blob = NULL,"
		" sealed_password = NULL, lease_owner = NULL, lease_until_ms = NULL"
		" WHERE job_id = $1 AND item_index = $2"
	};
	struct tv__pg_args a = { .n = 0 };

	tv__pg_text(&a, f->job_id);
	tv__pg_i64(&a, f->index);
	return tv__pg_run(f->c, &sql, &a, NULL);
}

static enum tv_err S_finish_job(struct S_finish *f, bool *job_final)
{
	static const struct tv__pg_sql sql = {
		"UPDATE import_jobs SET n_final = n_final + 1,"
		" status = CASE WHEN n_final + 1 < n_items THEN 'PROCESSING'"
		"   WHEN EXISTS (SELECT 1 FROM import_results WHERE job_id = $1"
		"     AND status IN ('IMPORTED', 'SKIPPED', 'VALID')) THEN 'COMPLETED'"
		"   ELSE 'FAILED' END,"
		" completed_ms = CASE WHEN n_final + 1 >= n_items THEN $2::bigint END"
		" WHERE id = $1 RETURNING n_final >= n_items"
	};
	struct tv__pg_args a = { .n = 0 };
	PGresult *r = NULL;
	enum tv_err rc;

	tv__pg_text(&a, f->job_id);
	tv__pg_i64(&a, f->now);
	rc = tv__pg_run(f->c, &sql, &a, &r);
	if (!rc && PQntuples(r) == 1)
		*job_final = tv__pg_get_i64(r, 0, 0) != 0;
	else if (!rc)
		rc = TV_ERR_STORE;
	PQclear(r);
	return rc;
}

static enum tv_err S_notify_final(struct S_finish *f)
{
	static const struct tv__pg_sql sql = { "SELECT pg_notify($1, $2)" };
	struct tv__pg_args a = { .n = 0 };

	tv__pg_text(&a, TV__PG_CHANNEL_JOB_FINAL);
	tv__pg_text(&a, f->job_id);
	return tv__pg_run(f->c, &sql, &a, NULL);
}

/* Everything item_finish writes for one item, inside the caller's transaction. */
static enum tv_err S_finish_one(struct S_finish *f, const char *owner,
				struct tv_item_outcome *outcomes, size_t n, bool *job_final)
{
	enum tv_err rc;
	size_t i;

	rc = S_hold_check(f, owner);
	for (i = 0; !rc && i < n; i++) {
		struct tv_item_outcome *o = &outcomes[i];
		const char *status = o->status;
		char reason[TV_REASON_TEXT_MAX], cert_id[TV_ID_SIZE] = "";

		snprintf(reason, sizeof(reason), "%s", o->reason ? o->reason : "");
		if (strcmp(o->status, "FAILED") && o->fingerprint[0])
			rc = S_place(f, o, (int)i, &status, reason, sizeof(reason), cert_id);
		if (!rc)
			rc = tv__pg_insert_result(f->c, f->job_id, f->index, (int)i, status,
						  reason, o->fingerprint, o->der, o->der_len,
						  cert_id, f->label);
		snprintf(o->recorded_status, sizeof(o->recorded_status), "%s", status);
		snprintf(o->recorded_code, sizeof(o->recorded_code), "%.*s",
			 (int)strcspn(reason, ":"), reason);
	}
	if (!rc)
		rc = S_item_final(f);
	if (!rc)
		rc = S_finish_job(f, job_final);
	if (!rc && *job_final)
		rc = S_notify_final(f);
	return rc;
}

static int S_by_item(const void *a, const void *b)
{
	const struct tv_item_finish *x = *(const struct tv_item_finish *const *)a;
	const struct tv_item_finish *y = *(const struct tv_item_finish *const *)b;
	int c = strcmp(x->job_id, y->job_id);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * The group commit: one transaction (one WAL flush) for the whole batch,
 * each item under a savepoint, so an item whose lease was lost (or whose
 * statement failed) is rolled back alone. The items are locked in (job,
 * index) order, the same order on every node, so two nodes' batches never
 * deadlock on each other's job rows.
 */
enum tv_err tv__pg_items_finish(struct tv_store *store, const char *owner,
				struct tv_item_finish *batch, size_t n, int64_t now_ms)
{
	struct tv_item_finish **order = calloc(n ? n : 1, sizeof(*order));
	struct tv__pg_conn *c = NULL;
	enum tv_err rc;
	size_t i;

	for (i = 0; i < n; i++) {
		batch[i].rc = TV_ERR_STORE;
		batch[i].job_final = false;
		if (order)
			order[i] = &batch[i];
	}
	if (!order)
		return TV_ERR_NOMEM;
	qsort(order, n, sizeof(*order), S_by_item);
	rc = tv__pg_acquire(S_DB(store), &c);
	if (!rc)
		rc = tv__pg_exec(c, "BEGIN");
	for (i = 0; !rc && i < n; i++) {
		struct tv_item_finish *b = order[i];
		struct S_finish f = { .c = c, .job_id = b->job_id, .index = b->index,
				      .now = now_ms };

		rc = tv__pg_exec(c, "SAVEPOINT tv_item");
		if (rc)
			break;
		b->rc = S_finish_one(&f, owner, b->outcomes, b->n, &b->job_final);
		if (b->rc) {
			b->job_final = false;
			rc = tv__pg_exec(c, "ROLLBACK TO SAVEPOINT tv_item");
		}
		if (!rc)
			rc = tv__pg_exec(c, "RELEASE SAVEPOINT tv_item");
	}
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	for (i = 0; rc && i < n; i++) {
		batch[i].rc = rc;
		batch[i].job_final = false;
	}
	free(order);
	return rc;
}

enum tv_err tv__pg_item_finish(struct tv_store *store, const char *job_id, int index,
			       const char *owner, struct tv_item_outcome *outcomes, size_t n,
			       int64_t now_ms, bool *job_final)
{
	struct tv_item_finish one = { .job_id = job_id, .index = index, .outcomes = outcomes,
				      .n = n };
	enum tv_err rc = tv__pg_items_finish(store, owner, &one, 1, now_ms);

	*job_final = one.job_final;
	return rc ? rc : one.rc;
}
