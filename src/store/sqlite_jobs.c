/*
 * DESIGN: the import queue is a table. A worker claims an item with one
 * UPDATE ... RETURNING inside BEGIN IMMEDIATE (SQLite's writer lock makes the
 * claim exclusive), holding a lease it renews; an item whose lease expired is
 * claimable again. A claim of several items decides them one at a time
 * (fairness between tenants, max_inflight), except that a tenant alone in
 * the queue has its items claimed several in one statement (S_pick: the
 * same decisions, a fifth of the statements).
 *
 * item_finish (items_finish: several items, one commit)
 * is the one place an item's results become visible: in a single
 * transaction it re-checks that the caller still holds the item (a worker
 * that lost its lease writes nothing, so nothing is ever imported twice), applies the dedupe rules, stores certificates and sealed
 * keys, records the results, erases the inputs and updates the job.
 *
 * Dedupe rules, independent of the order in which parallel workers finish:
 * within a job the lowest (item index, result seq) with a fingerprint keeps
 * IMPORTED/VALID and every other gets SKIPPED/DUPLICATE_IN_REQUEST; if a
 * later item got there first, its result is rewritten. Outside the job, a
 * certificate the tenant holds with a key gives SKIPPED/ALREADY_IMPORTED, and
 * one it holds without a key gets this key attached.
 *
 * Durability. job_create (before the 201) and item_finish (a final status a
 * client may read) commit with synchronous=FULL: the WAL is fsynced before
 * COMMIT returns. item_claim and item_renew commit with synchronous=NORMAL
 * (no fsync), because a lease is worth nothing after a power cut: the worker
 * that held it is gone, and the item is claimable again once the lease ends
 * (or at once, if the claim itself was lost). Losing one can't lose or
 * duplicate an import: item_finish re-checks the lease in its own
 * transaction, and the WAL is one append-only file, so the fsync of a later
 * FULL commit makes every earlier frame durable too, the claim's included:
 * a durable finish never sits on a claim that a power cut undid. What a
 * client can see move back is a job shown PROCESSING that returns to
 * WAITING, a state that promised nothing. A process crash (not a power cut)
 * loses nothing either way: the data is in the OS's page cache.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define S_DB(st) ((struct tv__sqlite *)(st))

/* Prepare-bind-step helper for statements without result rows. */
static enum tv_err S_exec1(sqlite3 *db, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st, sql);

	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, a);
	if (b)
		tv__sqlite_bind_text(st, 2, b);
	rc = tv__sqlite_step_done(st);
	tv__sqlite_stmt_put(st);
	return rc;
}

#define S_INSERT_RESULT_SQL                                                          \
	"INSERT INTO import_results (job_id, item_index, seq, status, reason,"         \
	" fingerprint, der, certificate_id, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

/* Bind and run the result insert st (S_INSERT_RESULT_SQL); st is reset after. */
static enum tv_err S_run_insert_result(sqlite3_stmt *st, const char *job_id, int index,
				       int seq, const char *status, const char *reason,
				       const char *fp, const unsigned char *der, size_t der_len,
				       const char *cert_id, const char *label)
{
	enum tv_err rc;

	tv__sqlite_bind_text(st, 1, job_id);
	sqlite3_bind_int(st, 2, index);
	sqlite3_bind_int(st, 3, seq);
	tv__sqlite_bind_text(st, 4, status);
	tv__sqlite_bind_text(st, 5, reason ? reason : "");
	tv__sqlite_bind_text(st, 6, fp ? fp : "");
	tv__sqlite_bind_blob(st, 7, der, der_len);
	tv__sqlite_bind_text(st, 8, cert_id && *cert_id ? cert_id : NULL);
	tv__sqlite_bind_text(st, 9, label && *label ? label : NULL);
	rc = tv__sqlite_step_done(st);
	sqlite3_reset(st);
	return rc;
}

static enum tv_err S_insert_result(sqlite3 *db, const char *job_id, int index, int seq,
				   const char *status, const char *reason, const char *fp,
				   const unsigned char *der, size_t der_len, const char *cert_id,
				   const char *label)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st, S_INSERT_RESULT_SQL);

	if (rc)
		return rc;
	rc = S_run_insert_result(st, job_id, index, seq, status, reason, fp, der, der_len,
				 cert_id, label);
	tv__sqlite_stmt_put(st);
	return rc;
}

/* The accept path's statements, compiled once per job_create (the cache
 * keeps them across calls) and run once per item. */
struct S_item_stmts {
	sqlite3_stmt *item;
	sqlite3_stmt *input;
	sqlite3_stmt *result;
};

static enum tv_err S_insert_item(struct S_item_stmts *q, const struct tv_import_job *job,
				 const struct tv_import_item *it)
{
	sqlite3_stmt *st = q->item;
	bool rejected = it->kind == TV_ITEM_REJECTED;
	enum tv_err rc;

	/* every parameter is bound on every run: nothing of the previous item
	 * stays bound */
	tv__sqlite_bind_text(st, 1, job->id);
	sqlite3_bind_int(st, 2, it->index);
	sqlite3_bind_int(st, 3, (int)it->kind);
	tv__sqlite_bind_text(st, 4, it->label[0] ? it->label : NULL);
	tv__sqlite_bind_text(st, 5, rejected ? "FINAL" : "WAITING");
	sqlite3_bind_int64(st, 6, job->created_ms);
	tv__sqlite_bind_text(st, 7, job->tenant_id);
	rc = tv__sqlite_step_done(st);
	sqlite3_reset(st);
	if (!rc && !rejected) {
		st = q->input;
		tv__sqlite_bind_text(st, 1, job->id);
		sqlite3_bind_int(st, 2, it->index);
		tv__sqlite_bind_blob(st, 3, it->keystore, it->keystore_len);
		tv__sqlite_bind_blob(st, 4, it->key, it->key_len);
		tv__sqlite_bind_blob(st, 5, it->sealed_password, it->sealed_password_len);
		rc = tv__sqlite_step_done(st);
		sqlite3_reset(st);
	}
	if (!rc && rejected)
		rc = S_run_insert_result(q->result, job->id, it->index, 0, "FAILED", it->reason,
					 NULL, NULL, 0, NULL, it->label);
	return rc;
}

/* TV_ERR_LIMIT when the tenant's open items plus adding would pass max. */
static enum tv_err S_queue_room(sqlite3 *db, const char *tenant_id, size_t adding, size_t max)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc;
	int64_t open = 0;

	if (!max)
		return TV_OK;
	rc = tv__sqlite_stmt(db, &st, "SELECT count(*) FROM import_items"
					 " WHERE tenant_id = ? AND state IN ('WAITING', 'PROCESSING')");
	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, tenant_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		open = sqlite3_column_int64(st, 0);
	else
		rc = TV_ERR_STORE;
	tv__sqlite_stmt_put(st);
	if (!rc && (size_t)open + adding > max)
		rc = TV_ERR_LIMIT;
	return rc;
}

enum tv_err tv__sqlite_job_create(struct tv_store *store, const struct tv_import_job *job,
				  const struct tv_import_item *items, size_t n, size_t max_queued)
{
	struct S_item_stmts q = { NULL, NULL, NULL };
	sqlite3_stmt *st = NULL;
	size_t i, rejected = 0;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		rejected += items[i].kind == TV_ITEM_REJECTED;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = S_queue_room(db, job->tenant_id, n - rejected, max_queued);
	if (!rc)
		rc = tv__sqlite_stmt(db, &st,
					"INSERT INTO import_jobs (id, tenant_id, edge_id, dek_id,"
					" dry_run, status, n_items, n_final, created_ms,"
					" completed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (!rc) {
		bool all_failed = rejected == n;
		tv__sqlite_bind_text(st, 1, job->id);
		tv__sqlite_bind_text(st, 2, job->tenant_id);
		tv__sqlite_bind_text(st, 3, job->edge_id);
		tv__sqlite_bind_text(st, 4, job->dek_id);
		sqlite3_bind_int(st, 5, job->dry_run);
		tv__sqlite_bind_text(st, 6, all_failed ? "FAILED" : "WAITING");
		sqlite3_bind_int64(st, 7, (int64_t)n);
		sqlite3_bind_int64(st, 8, (int64_t)rejected);
		sqlite3_bind_int64(st, 9, job->created_ms);
		tv__sqlite_bind_ms(st, 10, all_failed ? job->created_ms : 0);
		rc = tv__sqlite_step_done(st);
	}
	if (!rc)
		rc = tv__sqlite_stmt(db, &q.item,
				     "INSERT INTO import_items (job_id, item_index, kind, label,"
				     " state, queued_ms, tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (!rc)
		rc = tv__sqlite_stmt(db, &q.input,
				     "INSERT INTO import_inputs (job_id, item_index, keystore,"
				     " key_blob, sealed_password) VALUES (?, ?, ?, ?, ?)");
	if (!rc && rejected)
		rc = tv__sqlite_stmt(db, &q.result, S_INSERT_RESULT_SQL);
	for (i = 0; !rc && i < n; i++)
		rc = S_insert_item(&q, job, &items[i]);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_stmt_put(q.result);
	tv__sqlite_stmt_put(q.input);
	tv__sqlite_stmt_put(q.item);
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	return rc;
}

static void S_row_job(sqlite3_stmt *st, struct tv_import_job *j)
{
	memset(j, 0, sizeof(*j));
	tv__sqlite_text(j->id, sizeof(j->id), st, 0);
	tv__sqlite_text(j->tenant_id, sizeof(j->tenant_id), st, 1);
	tv__sqlite_text(j->edge_id, sizeof(j->edge_id), st, 2);
	tv__sqlite_text(j->dek_id, sizeof(j->dek_id), st, 3);
	j->dry_run = sqlite3_column_int(st, 4) != 0;
	tv__sqlite_text(j->status, sizeof(j->status), st, 5);
	j->n_items = sqlite3_column_int(st, 6);
	j->n_final = sqlite3_column_int(st, 7);
	j->created_ms = sqlite3_column_int64(st, 8);
	j->completed_ms = sqlite3_column_int64(st, 9);
}

/* Results, with a PROCESSING row for every item not yet final, in item order. */
static enum tv_err S_results(sqlite3 *db, const char *job_id, struct tv_import_result **out,
			     size_t *n_out)
{
	static const char sql[] =
		"SELECT item_index, seq, status, reason, fingerprint, der,"
		" coalesce(certificate_id, ''), coalesce(label, '') FROM import_results"
		" WHERE job_id = ?1"
		" UNION ALL SELECT item_index, 0, 'PROCESSING', '', '', NULL, '',"
		" coalesce(label, '') FROM import_items WHERE job_id = ?1 AND state != 'FINAL'"
		" ORDER BY 1, 2";
	struct tv_import_result *res = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0;
	enum tv_err rc = tv__sqlite_stmt(db, &st, sql);
	int r = SQLITE_DONE;

	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, job_id);
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct tv_import_result *x;
		const unsigned char *reason = sqlite3_column_text(st, 3);

		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			x = realloc(res, cap * sizeof(*x));
			if (!x) {
				rc = TV_ERR_NOMEM;
				break;
			}
			res = x;
		}
		x = &res[n++];
		memset(x, 0, sizeof(*x));
		x->item_index = sqlite3_column_int(st, 0);
		x->seq = sqlite3_column_int(st, 1);
		tv__sqlite_text(x->status, sizeof(x->status), st, 2);
		x->reason = strdup(reason ? (const char *)reason : "");
		tv__sqlite_text(x->fingerprint, sizeof(x->fingerprint), st, 4);
		rc = tv__sqlite_blob_dup(&x->der, &x->der_len, st, 5);
		tv__sqlite_text(x->certificate_id, sizeof(x->certificate_id), st, 6);
		tv__sqlite_text(x->label, sizeof(x->label), st, 7);
		if (!rc && !x->reason)
			rc = TV_ERR_NOMEM;
	}
	if (!rc && r != SQLITE_DONE)
		rc = tv__sqlite_err(r);
	tv__sqlite_stmt_put(st);
	if (rc) {
		tv_import_results_free(res, n);
		return rc;
	}
	*out = res;
	*n_out = n;
	return TV_OK;
}

#define S_JOB_COLS "SELECT id, tenant_id, edge_id, dek_id, dry_run, status, n_items, n_final," \
		   " created_ms, coalesce(completed_ms, 0) FROM import_jobs "

enum tv_err tv__sqlite_job_get(struct tv_store *store, const char *tenant_id, const char *id,
			       struct tv_import_job *job, struct tv_import_result **results,
			       size_t *n_results)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	int r;

	if (rc)
		return rc;
	/* one read transaction: the job and its results are one snapshot */
	rc = tv__sqlite_exec(db, "BEGIN");
	if (!rc)
		rc = tv__sqlite_stmt(db, &st, S_JOB_COLS "WHERE tenant_id = ? AND id = ?");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		tv__sqlite_bind_text(st, 2, id);
		r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			S_row_job(st, job);
		else
			rc = r == SQLITE_DONE ? TV_ERR_NOT_FOUND : tv__sqlite_err(r);
	}
	if (!rc && results)
		rc = S_results(db, id, results, n_results);
	tv__sqlite_stmt_put(st);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, true);
	return rc;
}

enum tv_err tv__sqlite_job_list(struct tv_store *store, const char *tenant_id, size_t limit,
				struct tv_import_job **out, size_t *n_out)
{
	/* newest first through import_jobs_tenant; the counts read each job's
	 * results by their primary key prefix (job_id) */
	static const char sql[] =
		"SELECT id, tenant_id, edge_id, dek_id, dry_run, status, n_items, n_final,"
		" created_ms, coalesce(completed_ms, 0),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'IMPORTED'),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'SKIPPED'),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'FAILED'),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'VALID')"
		" FROM import_jobs j WHERE tenant_id = ? ORDER BY created_ms DESC, id DESC LIMIT ?";
	struct tv_import_job *jobs = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	size_t n = 0;
	enum tv_err rc;
	int r = SQLITE_DONE;

	if (!limit)
		return TV_ERR_INVALID;
	jobs = calloc(limit, sizeof(*jobs));
	if (!jobs)
		return TV_ERR_NOMEM;
	rc = tv__sqlite_acquire(S_DB(store), &db);
	if (rc) {
		free(jobs);
		return rc;
	}
	rc = tv__sqlite_stmt(db, &st, sql);
	if (!rc) {
		tv__sqlite_bind_text(st, 1, tenant_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
		while (n < limit && (r = sqlite3_step(st)) == SQLITE_ROW) {
			S_row_job(st, &jobs[n]);
			jobs[n].n_imported = sqlite3_column_int(st, 10);
			jobs[n].n_skipped = sqlite3_column_int(st, 11);
			jobs[n].n_failed = sqlite3_column_int(st, 12);
			jobs[n].n_valid = sqlite3_column_int(st, 13);
			n++;
		}
		if (r != SQLITE_ROW && r != SQLITE_DONE)
			rc = tv__sqlite_err(r);
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, true);
	if (rc) {
		free(jobs);
		return rc;
	}
	*out = jobs;
	*n_out = n;
	return TV_OK;
}

/*
 * One statement picks the tenant (fewest items in flight under a live lease,
 * under the cap; then the one served least recently, by queue_turns; then
 * the oldest claimable item), the next, in the same transaction, claims that
 * tenant's oldest item (or its oldest several, S_pick).
 * queue_turns has a row per tenant that ever had an item claimed.
 *
 * Every step reads an index, never the items' rows: a row holds the
 * keystore, so its later columns (queued_ms, lease_until_ms) sit on overflow
 * pages, and the tenant's finished items stay in the table as history. The
 * claimable tenants come from import_items_queue (state, tenant_id,
 * lease_until_ms); a tenant's oldest WAITING item is the first entry of
 * import_items_tenant (tenant_id, state, queued_ms, job_id, item_index), and
 * its items under an expired lease (rare: a worker died) are few. A claim
 * so costs the same with 100 or 100,000 finished items behind it; reading
 * rows made it grow with both the queue and the history. Nor does it grow
 * with the queue: the WAITING tenants are found by a skip scan (one probe
 * per tenant), where SELECT DISTINCT stepped over every waiting item (with
 * 2,000 waiting a claim took 0.75 ms; now 0.07 ms, the same picks).
 */
/* The claimed item's inputs (import_inputs, migration 5), in the claim's
 * transaction. A claimable item that isn't final always has its row. */
static enum tv_err S_claim_inputs(sqlite3 *db, struct tv_claimed_item *out)
{
	struct tv_import_item *it = &out->item;
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st,
					 "SELECT keystore, key_blob, sealed_password"
					 " FROM import_inputs WHERE job_id = ? AND item_index = ?");
	int r;

	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, out->job_id);
	sqlite3_bind_int(st, 2, it->index);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		rc = tv__sqlite_blob_dup(&it->keystore, &it->keystore_len, st, 0);
		if (!rc)
			rc = tv__sqlite_blob_dup(&it->key, &it->key_len, st, 1);
		if (!rc)
			rc = tv__sqlite_blob_dup(&it->sealed_password, &it->sealed_password_len,
						 st, 2);
	} else if (r != SQLITE_DONE) {
		rc = tv__sqlite_err(r);
	}
	/* no row: the item has no inputs (the reader reports what is missing) */
	tv__sqlite_stmt_put(st);
	return rc;
}

/*
 * The tenant whose turn it is to have an item claimed, and how many of its
 * items one statement may claim (*room): one, unless it is the only tenant
 * with a claimable item and none of its items is under an expired lease.
 * Then item-by-item claims would pick it every time, in queue order, up to
 * max_inflight, so claiming that many at once decides exactly the same.
 * TV_ERR_NOT_FOUND when nothing is claimable.
 */
static enum tv_err S_pick(sqlite3 *db, int64_t now_ms, unsigned max_inflight, char *tenant,
			  size_t *room)
{
	static const char sql[] =
		/* the tenants with a WAITING item: one index probe per tenant
		 * (a skip scan of import_items_queue), not one step per item */
		"WITH RECURSIVE wt(t) AS (SELECT (SELECT min(tenant_id) FROM import_items"
		"   WHERE state = 'WAITING')"
		"   UNION ALL SELECT (SELECT min(tenant_id) FROM import_items"
		"   WHERE state = 'WAITING' AND tenant_id > wt.t) FROM wt WHERE wt.t IS NOT NULL),"
		/* ... and those with an item under an expired lease (the items
		 * PROCESSING are the ones in flight: few) */
		" ten AS (SELECT t AS tenant_id FROM wt WHERE t IS NOT NULL"
		"   UNION SELECT tenant_id FROM import_items WHERE state = 'PROCESSING'"
		"   AND lease_until_ms < ?1 AND tenant_id IS NOT NULL),"
		/* per tenant, correlated lookups (a join with a grouped CTE
		 * cost ten times as much): its oldest claimable item, its
		 * items in flight under a live lease, its turn */
		" firsts AS (SELECT tenant_id,"
		"   (SELECT queued_ms FROM import_items i WHERE i.tenant_id = ten.tenant_id"
		"     AND i.state = 'WAITING' ORDER BY queued_ms LIMIT 1) AS w,"
		"   (SELECT min(queued_ms) FROM import_items i WHERE i.tenant_id = ten.tenant_id"
		"     AND i.state = 'PROCESSING' AND i.lease_until_ms < ?1) AS p,"
		"   (SELECT count(*) FROM import_items i WHERE i.state = 'PROCESSING'"
		"     AND i.tenant_id = ten.tenant_id AND i.lease_until_ms >= ?1) AS n,"
		"   coalesce((SELECT seq FROM queue_turns t WHERE t.tenant_id = ten.tenant_id), 0)"
		"     AS turn FROM ten),"
		" ok AS (SELECT * FROM firsts WHERE ?2 = 0 OR n < ?2)"
		" SELECT tenant_id, (SELECT count(*) FROM ok), p IS NULL, n FROM ok"
		"   ORDER BY n, turn, min(coalesce(w, p), coalesce(p, w)), tenant_id LIMIT 1";
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st, sql);
	int r;

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, (int64_t)max_inflight);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		int64_t in_flight = sqlite3_column_int64(st, 3);

		tv__sqlite_text(tenant, TV_ID_SIZE, st, 0);
		*room = 1;
		if (sqlite3_column_int64(st, 1) == 1 && sqlite3_column_int(st, 2))
			*room = max_inflight ? (size_t)((int64_t)max_inflight - in_flight)
					     : SIZE_MAX;
	}
	tv__sqlite_stmt_put(st);
	if (r != SQLITE_ROW)
		return r == SQLITE_DONE ? TV_ERR_NOT_FOUND : tv__sqlite_err(r);
	return TV_OK;
}

/* Queue order of claimed items (oldest first), for a batch's RETURNING rows. */
static int S_claimed_cmp(const void *a, const void *b)
{
	const struct tv_claimed_item *x = a, *y = b;
	int c;

	if (x->queued_ms != y->queued_ms)
		return x->queued_ms < y->queued_ms ? -1 : 1;
	c = strcmp(x->job_id, y->job_id);
	if (c)
		return c;
	return (x->item.index > y->item.index) - (x->item.index < y->item.index);
}

/*
 * Claim the picked tenant's oldest claimable item (k == 1: a WAITING item
 * or one under an expired lease, whichever is older) or its k oldest
 * WAITING items (k > 1: S_pick said none is under an expired lease);
 * *got of them in out[], in queue order. Rows only: S_claim_batch adds
 * the rest.
 */
static enum tv_err S_claim_rows(sqlite3 *db, const char *owner, int64_t now_ms,
				int64_t lease_until_ms, const char *tenant, size_t k,
				struct tv_claimed_item *out, size_t *got)
{
	/* the picked tenant's oldest claimable item, as a parameter: with the
	 * pick as a subquery of this statement the claim cost ten times as
	 * much (one transaction holds both, so nothing changes in between) */
	static const char one_sql[] =
		"WITH item AS (SELECT rowid AS id, queued_ms, job_id, item_index FROM (SELECT * FROM"
		"   (SELECT rowid, queued_ms, job_id, item_index FROM import_items"
		"     WHERE tenant_id = ?4 AND state = 'WAITING'"
		"     ORDER BY queued_ms, job_id, item_index LIMIT 1)"
		"   UNION ALL SELECT * FROM"
		"   (SELECT rowid, queued_ms, job_id, item_index FROM import_items"
		"     WHERE tenant_id = ?4 AND state = 'PROCESSING'"
		"     AND lease_until_ms < ?2 ORDER BY queued_ms, job_id, item_index LIMIT 1))"
		"   ORDER BY queued_ms, job_id, item_index LIMIT 1)"
		" UPDATE import_items SET state = 'PROCESSING', lease_owner = ?1,"
		" lease_until_ms = ?3, attempts = attempts + 1"
		" WHERE rowid = (SELECT id FROM item)"
		" RETURNING job_id, item_index, kind, coalesce(label, ''), attempts, tenant_id,"
		" queued_ms";
	/* Only WAITING items, so every one has attempts 0 and is claimed with
	 * attempts 1: an item is WAITING until its first claim and never
	 * goes back (a lease that ends leaves it PROCESSING, claimable), so
	 * an item that must be claimed alone (attempts > 1) never comes from
	 * here. Whatever ever sets an item back to WAITING must keep that. */
	static const char many_sql[] =
		"UPDATE import_items SET state = 'PROCESSING', lease_owner = ?1,"
		" lease_until_ms = ?3, attempts = attempts + 1"
		" WHERE rowid IN (SELECT rowid FROM import_items"
		"   WHERE tenant_id = ?4 AND state = 'WAITING'"
		"   ORDER BY queued_ms, job_id, item_index LIMIT ?5)"
		" RETURNING job_id, item_index, kind, coalesce(label, ''), attempts, tenant_id,"
		" queued_ms";
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(db, &st, k > 1 ? many_sql : one_sql);
	size_t n = 0;
	int r;

	*got = 0;
	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, owner);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, lease_until_ms);
	tv__sqlite_bind_text(st, 4, tenant);
	if (k > 1)
		sqlite3_bind_int64(st, 5, (int64_t)k);
	/* every row is stepped to, so the UPDATE completes */
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct tv_claimed_item *o = &out[n];

		if (n == k) {
			rc = TV_ERR_STORE; /* not reached: LIMIT k */
			continue;
		}
		memset(o, 0, sizeof(*o));
		tv__sqlite_text(o->job_id, sizeof(o->job_id), st, 0);
		o->item.index = sqlite3_column_int(st, 1);
		o->item.kind = (enum tv_item_kind)sqlite3_column_int(st, 2);
		tv__sqlite_text(o->item.label, sizeof(o->item.label), st, 3);
		o->attempts = sqlite3_column_int(st, 4);
		tv__sqlite_text(o->tenant_id, sizeof(o->tenant_id), st, 5);
		o->queued_ms = sqlite3_column_int64(st, 6);
		n++;
	}
	tv__sqlite_stmt_put(st);
	if (!rc && r != SQLITE_DONE)
		rc = tv__sqlite_err(r);
	if (!rc && n == 0)
		rc = TV_ERR_NOT_FOUND;
	if (rc)
		return rc;
	qsort(out, n, sizeof(*out), S_claimed_cmp);
	*got = n;
	return TV_OK;
}

/* What a claimed item needs besides its row: its job's facts (read once per
 * job of the batch), the job PROCESSING, its inputs. */
static enum tv_err S_claim_details(sqlite3 *db, struct tv_claimed_item *out, size_t n)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = TV_OK;
	size_t i;

	for (i = 0; !rc && i < n; i++) {
		struct tv_claimed_item *o = &out[i];

		if (i > 0 && !strcmp(o->job_id, out[i - 1].job_id)) {
			memcpy(o->dek_id, out[i - 1].dek_id, sizeof(o->dek_id));
			o->dry_run = out[i - 1].dry_run;
		} else {
			rc = tv__sqlite_stmt(db, &st, "SELECT tenant_id, dek_id, dry_run"
						      " FROM import_jobs WHERE id = ?");
			if (!rc) {
				tv__sqlite_bind_text(st, 1, o->job_id);
				if (sqlite3_step(st) == SQLITE_ROW) {
					tv__sqlite_text(o->tenant_id, sizeof(o->tenant_id), st, 0);
					tv__sqlite_text(o->dek_id, sizeof(o->dek_id), st, 1);
					o->dry_run = sqlite3_column_int(st, 2) != 0;
				} else {
					rc = TV_ERR_STORE;
				}
			}
			tv__sqlite_stmt_put(st);
			st = NULL;
			if (!rc)
				rc = S_exec1(db, "UPDATE import_jobs SET status = 'PROCESSING'"
						 " WHERE id = ? AND status = 'WAITING'", o->job_id, NULL);
		}
		if (!rc)
			rc = S_claim_inputs(db, o);
	}
	return rc;
}

/*
 * One claim decision inside the caller's transaction (S_pick, S_claim_rows:
 * one item, or a single tenant's several), with what each item needs
 * (S_claim_details) and the tenant's turn taken. On failure out[0..k) is
 * released here and *got is 0.
 */
static enum tv_err S_claim_batch(sqlite3 *db, const char *owner, int64_t now_ms,
				 int64_t lease_until_ms, unsigned max_inflight,
				 struct tv_claimed_item *out, size_t max, size_t *got)
{
	char tenant[TV_ID_SIZE];
	size_t room = 1, i;
	enum tv_err rc = S_pick(db, now_ms, max_inflight, tenant, &room);

	*got = 0;
	if (rc)
		return rc;
	rc = S_claim_rows(db, owner, now_ms, lease_until_ms, tenant, room < max ? room : max,
			  out, got);
	if (!rc)
		rc = S_claim_details(db, out, *got);
	if (!rc)
		rc = S_exec1(db, "INSERT INTO queue_turns (tenant_id, seq) VALUES (?1,"
				 " (SELECT coalesce(max(seq), 0) + 1 FROM queue_turns))"
				 " ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq",
			     tenant, NULL);
	if (rc) {
		for (i = 0; i < *got; i++)
			tv_import_item_release(&out[i].item);
		*got = 0;
	}
	return rc;
}

/*
 * Up to max claims inside the caller's transaction, each decided as
 * item_claim decides one (the later ones see the earlier ones in flight, so
 * fairness and max_inflight hold as if they were claimed one by one; a lone
 * tenant's items are claimed several at a time, S_pick). *n_out claimed
 * (0: none claimable), also when it fails: the caller then rolls the
 * claims back and releases out[0..*n_out).
 */
static enum tv_err S_claim_some(sqlite3 *db, const char *owner, int64_t now_ms,
				int64_t lease_until_ms, unsigned max_inflight,
				struct tv_claimed_item *out, size_t max, size_t *n_out)
{
	enum tv_err rc = TV_OK;
	size_t n = 0, i;

	*n_out = 0;
	while (!rc && n < max) {
		bool alone = false;
		size_t got = 0;

		if (n > 0)
			rc = tv__sqlite_exec(db, "SAVEPOINT tv_ahead");
		if (!rc) /* S_claim_batch releases what it claimed when it fails */
			rc = S_claim_batch(db, owner, now_ms, lease_until_ms, max_inflight,
					   &out[n], max - n, &got);
		/* An item whose lease ran out (its holder died, perhaps because
		 * of it) is claimed alone: never behind another, and none
		 * behind it, so a crash it causes again burns no attempt of
		 * items that were only waiting (TV_IMPORT_MAX_ATTEMPTS). Such
		 * an item comes only from a claim of one (S_pick). */
		alone = got == 1 && out[n].attempts > 1;
		if (n > 0 && (alone || rc == TV_ERR_NOT_FOUND)) {
			enum tv_err back = tv__sqlite_exec(db, "ROLLBACK TO tv_ahead");

			if (!back)
				back = tv__sqlite_exec(db, "RELEASE tv_ahead");
			for (i = 0; i < got; i++)
				tv_import_item_release(&out[n + i].item);
			rc = back ? back : TV_ERR_NOT_FOUND;
			break;
		}
		if (got && n > 0)
			rc = tv__sqlite_exec(db, "RELEASE tv_ahead");
		if (rc) {
			for (i = 0; i < got; i++)
				tv_import_item_release(&out[n + i].item);
			break; /* the whole transaction is rolled back below */
		}
		n += got;
		if (alone)
			break;
	}
	*n_out = n;
	return rc == TV_ERR_NOT_FOUND ? TV_OK : rc; /* none left: n of them */
}

enum tv_err tv__sqlite_items_claim(struct tv_store *store, const char *owner, int64_t now_ms,
				   int64_t lease_until_ms, unsigned max_inflight,
				   struct tv_claimed_item *out, size_t max, size_t *n_out)
{
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);
	size_t n = 0, i;

	*n_out = 0;
	if (rc)
		return rc;
	/* a lease need not survive a power cut (see the DESIGN note): this
	 * commit skips the fsync; tv__sqlite_release restores FULL */
	rc = tv__sqlite_sync(db, false);
	if (!rc)
		rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (!rc)
		rc = S_claim_some(db, owner, now_ms, lease_until_ms, max_inflight, out, max, &n);
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	if (rc) {
		for (i = 0; i < n; i++)
			tv_import_item_release(&out[i].item);
		return rc;
	}
	*n_out = n;
	return TV_OK;
}

enum tv_err tv__sqlite_item_claim(struct tv_store *store, const char *owner, int64_t now_ms,
				  int64_t lease_until_ms, unsigned max_inflight,
				  struct tv_claimed_item *out)
{
	size_t n = 0;
	enum tv_err rc = tv__sqlite_items_claim(store, owner, now_ms, lease_until_ms,
						max_inflight, out, 1, &n);

	if (!rc && n == 0)
		rc = TV_ERR_NOT_FOUND;
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

enum tv_err tv__sqlite_item_renew(struct tv_store *store, const char *job_id, int index,
				  const char *owner, int64_t lease_until_ms)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc = tv__sqlite_acquire(S_DB(store), &db);

	if (rc)
		return rc;
	/* a renewed lease is as volatile as the claim that took it */
	rc = tv__sqlite_sync(db, false);
	if (!rc)
		rc = tv__sqlite_stmt(db, &st,
				"UPDATE import_items SET lease_until_ms = ? WHERE job_id = ?"
				" AND item_index = ? AND state = 'PROCESSING' AND lease_owner = ?");
	if (!rc) {
		sqlite3_bind_int64(st, 1, lease_until_ms);
		tv__sqlite_bind_text(st, 2, job_id);
		sqlite3_bind_int(st, 3, index);
		tv__sqlite_bind_text(st, 4, owner);
		rc = tv__sqlite_step_done(st);
		if (!rc && sqlite3_changes(db) == 0)
			rc = TV_ERR_STATE;
	}
	tv__sqlite_stmt_put(st);
	tv__sqlite_release(S_DB(store), db, false);
	return rc;
}

/* ---------- item_finish ---------- */

/* The issuer certificates one group commit has found or stored, by tenant
 * and fingerprint: the items of a batch mostly share their CAs, so each is
 * looked up once per commit, not once per item. Emptied when an item is
 * rolled back (what it stored is gone). */
#define S_ISSUERS_SEEN 16
struct S_issuers_seen {
	struct {
		char tenant_id[TV_ID_SIZE];
		char fingerprint[41];
		char id[TV_ID_SIZE];
	} e[S_ISSUERS_SEEN];
	size_t n, next;
};

struct S_finish {
	sqlite3 *db;
	const char *job_id;
	int index;
	char tenant_id[TV_ID_SIZE];
	char dek_id[TV_DEK_ID_SIZE];
	char label[TV_LABEL_MAX + 1];
	bool dry_run;
	int64_t now;
	struct S_issuers_seen *seen;
};

static const char *S_seen_find(const struct S_finish *f, const char *fp)
{
	size_t i;

	for (i = 0; f->seen && i < f->seen->n; i++)
		if (!strcmp(f->seen->e[i].fingerprint, fp) &&
		    !strcmp(f->seen->e[i].tenant_id, f->tenant_id))
			return f->seen->e[i].id;
	return NULL;
}

static void S_seen_add(struct S_finish *f, const char *fp, const char *id)
{
	struct S_issuers_seen *s = f->seen;
	size_t k;

	if (!s)
		return;
	k = s->n < S_ISSUERS_SEEN ? s->n++ : s->next++ % S_ISSUERS_SEEN;
	snprintf(s->e[k].tenant_id, sizeof(s->e[k].tenant_id), "%s", f->tenant_id);
	snprintf(s->e[k].fingerprint, sizeof(s->e[k].fingerprint), "%s", fp);
	snprintf(s->e[k].id, sizeof(s->e[k].id), "%s", id);
}

static enum tv_err S_hold_check(struct S_finish *f, const char *owner)
{
	static const char sql[] =
		"SELECT i.state, coalesce(i.lease_owner, ''), coalesce(i.label, ''), j.tenant_id,"
		" j.dek_id, j.dry_run FROM import_items i JOIN import_jobs j ON j.id = i.job_id"
		" WHERE i.job_id = ? AND i.item_index = ?";
	char state[16], held_by[128];
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(f->db, &st, sql);

	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, f->job_id);
	sqlite3_bind_int(st, 2, f->index);
	if (sqlite3_step(st) != SQLITE_ROW) {
		tv__sqlite_stmt_put(st);
		return TV_ERR_NOT_FOUND;
	}
	tv__sqlite_text(state, sizeof(state), st, 0);
	tv__sqlite_text(held_by, sizeof(held_by), st, 1);
	tv__sqlite_text(f->label, sizeof(f->label), st, 2);
	tv__sqlite_text(f->tenant_id, sizeof(f->tenant_id), st, 3);
	tv__sqlite_text(f->dek_id, sizeof(f->dek_id), st, 4);
	f->dry_run = sqlite3_column_int(st, 5) != 0;
	tv__sqlite_stmt_put(st);
	return strcmp(state, "PROCESSING") || strcmp(held_by, owner) ? TV_ERR_STATE : TV_OK;
}

/* Another result of this job with fingerprint fp that is IMPORTED or VALID.
 * *order: 0 none, -1 it comes before (index, seq), +1 after. INDEXED BY:
 * left to itself, SQLite walked the primary key (job_id, item_index, seq)
 * for the ORDER BY, reading every result row of the job so far (a 1 KB
 * certificate each) on every item: quadratic in the job's size, 2% of an
 * import's CPU at 100 items. The fingerprint index finds the few rows. */
static enum tv_err S_job_dup(struct S_finish *f, const char *fp, int seq, int *order,
			     int *o_index, int *o_seq, char *cert_id)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(
		f->db, &st,
		"SELECT item_index, seq, coalesce(certificate_id, '') FROM import_results"
		" INDEXED BY import_results_fingerprint"
		" WHERE job_id = ? AND fingerprint = ? AND status IN ('IMPORTED', 'VALID')"
		" ORDER BY item_index, seq LIMIT 1");

	if (rc)
		return rc;
	*order = 0;
	tv__sqlite_bind_text(st, 1, f->job_id);
	tv__sqlite_bind_text(st, 2, fp);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*o_index = sqlite3_column_int(st, 0);
		*o_seq = sqlite3_column_int(st, 1);
		tv__sqlite_text(cert_id, TV_ID_SIZE, st, 2);
		*order = (*o_index < f->index || (*o_index == f->index && *o_seq < seq)) ? -1 : 1;
	}
	tv__sqlite_stmt_put(st);
	return TV_OK;
}

/* The tenant's certificate with this fingerprint: id and whether it has a key. */
static enum tv_err S_cert_find(struct S_finish *f, const char *fp, char *id, bool *has_key)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(
		f->db, &st, "SELECT id, sealed_key IS NOT NULL FROM certificates"
			    " WHERE tenant_id = ? AND fingerprint = ?");
	int r;

	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, f->tenant_id);
	tv__sqlite_bind_text(st, 2, fp);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		tv__sqlite_text(id, TV_ID_SIZE, st, 0);
		*has_key = sqlite3_column_int(st, 1) != 0;
	} else {
		rc = r == SQLITE_DONE ? TV_ERR_NOT_FOUND : tv__sqlite_err(r);
	}
	tv__sqlite_stmt_put(st);
	return rc;
}

static enum tv_err S_cert_insert(struct S_finish *f, const struct tv_cert_row *c,
				 const unsigned char *sealed_key, size_t sealed_len,
				 const char *issuer_ids, char *id)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(
		f->db, &st,
		"INSERT INTO certificates (id, tenant_id, fingerprint, der, facts,"
		" certificate_name, subject_cn, san_dns, serial_number, issuer_dn,"
		" encryption_type, key_strength, validity_start_ms, validity_end_ms, dek_id,"
		" sealed_key, issuer_ids, import_job_id, label, created_ms, modified_ms)"
		" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");

	if (rc)
		return rc;
	tv_uuid_new(id);
	tv__sqlite_bind_text(st, 1, id);
	tv__sqlite_bind_text(st, 2, f->tenant_id);
	tv__sqlite_bind_text(st, 3, c->fingerprint);
	tv__sqlite_bind_blob(st, 4, c->der, c->der_len);
	tv__sqlite_bind_text(st, 5, c->facts_json);
	tv__sqlite_bind_text(st, 6, c->certificate_name);
	tv__sqlite_bind_text(st, 7, c->subject_cn);
	tv__sqlite_bind_text(st, 8, c->san_dns);
	tv__sqlite_bind_text(st, 9, c->serial_number);
	tv__sqlite_bind_text(st, 10, c->issuer_dn);
	tv__sqlite_bind_text(st, 11, c->encryption_type);
	sqlite3_bind_int(st, 12, c->key_strength);
	sqlite3_bind_int64(st, 13, c->validity_start_ms);
	sqlite3_bind_int64(st, 14, c->validity_end_ms);
	tv__sqlite_bind_text(st, 15, sealed_key ? f->dek_id : NULL);
	tv__sqlite_bind_blob(st, 16, sealed_key, sealed_len);
	tv__sqlite_bind_text(st, 17, issuer_ids ? issuer_ids : "[]");
	tv__sqlite_bind_text(st, 18, sealed_key ? f->job_id : NULL);
	tv__sqlite_bind_text(st, 19, sealed_key && f->label[0] ? f->label : NULL);
	sqlite3_bind_int64(st, 20, f->now);
	sqlite3_bind_int64(st, 21, f->now);
	rc = tv__sqlite_step_done(st);
	tv__sqlite_stmt_put(st);
	return rc;
}

static enum tv_err S_cert_attach_key(struct S_finish *f, const char *id,
				     const unsigned char *sealed_key, size_t sealed_len)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(
		f->db, &st,
		"UPDATE certificates SET sealed_key = ?, dek_id = ?, import_job_id = ?,"
		" label = coalesce(?, label), modified_ms = ? WHERE id = ? AND sealed_key IS NULL");

	if (rc)
		return rc;
	tv__sqlite_bind_blob(st, 1, sealed_key, sealed_len);
	tv__sqlite_bind_text(st, 2, f->dek_id);
	tv__sqlite_bind_text(st, 3, f->job_id);
	tv__sqlite_bind_text(st, 4, f->label[0] ? f->label : NULL);
	sqlite3_bind_int64(st, 5, f->now);
	tv__sqlite_bind_text(st, 6, id);
	rc = tv__sqlite_step_done(st);
	tv__sqlite_stmt_put(st);
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
		const char *seen = S_seen_find(f, rows[i].fingerprint);
		char id[TV_ID_SIZE];
		bool has_key;

		if (seen) {
			snprintf(id, sizeof(id), "%s", seen);
		} else {
			rc = S_cert_find(f, rows[i].fingerprint, id, &has_key);
			if (rc == TV_ERR_NOT_FOUND)
				rc = S_cert_insert(f, &rows[i], NULL, 0, NULL, id);
			if (!rc)
				S_seen_add(f, rows[i].fingerprint, id);
		}
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

/* Decide and store one good outcome; fills status, reason and cert_id. */
static enum tv_err S_place(struct S_finish *f, const struct tv_item_outcome *o, int seq,
			   const char **status, char *reason, size_t reason_size, char *cert_id)
{
	char other_id[TV_ID_SIZE] = "";
	int order, o_index = 0, o_seq = 0;
	bool has_key = false;
	char *issuer_ids = NULL;
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
		/* a later item finished first: it becomes the duplicate */
		char text[200];
		sqlite3_stmt *st = NULL;

		snprintf(text, sizeof(text),
			 "DUPLICATE_IN_REQUEST: item %d of this request has the same certificate",
			 f->index);
		rc = tv__sqlite_stmt(f->db, &st,
					"UPDATE import_results SET status = 'SKIPPED', reason = ?"
					" WHERE job_id = ? AND item_index = ? AND seq = ?");
		if (rc)
			return rc;
		tv__sqlite_bind_text(st, 1, text);
		tv__sqlite_bind_text(st, 2, f->job_id);
		sqlite3_bind_int(st, 3, o_index);
		sqlite3_bind_int(st, 4, o_seq);
		rc = tv__sqlite_step_done(st);
		tv__sqlite_stmt_put(st);
		snprintf(cert_id, TV_ID_SIZE, "%s", other_id);
		*status = o->status; /* IMPORTED or VALID: the certificate is in place */
		return rc;
	}
	rc = S_cert_find(f, o->fingerprint, cert_id, &has_key);
	if (rc && rc != TV_ERR_NOT_FOUND)
		return rc;
	if (!rc && has_key) {
		*status = "SKIPPED";
		snprintf(reason, reason_size,
			 "ALREADY_IMPORTED: this certificate and its key are already in the vault");
		return TV_OK;
	}
	*status = o->status;
	if (f->dry_run) {
		cert_id[0] = '\0';
		return TV_OK;
	}
	if (!rc) /* stored earlier without a key: attach this one */
		return S_cert_attach_key(f, cert_id, o->sealed_key, o->sealed_key_len);
	rc = S_issuers(f, o->issuers, o->n_issuers, &issuer_ids);
	if (!rc)
		rc = S_cert_insert(f, o->cert, o->sealed_key, o->sealed_key_len, issuer_ids,
				   cert_id);
	free(issuer_ids);
	return rc;
}

/* k more of job_id's items are final; *job_final: the job now is. */
static enum tv_err S_finish_job(sqlite3 *db, const char *job_id, size_t k, int64_t now,
				bool *job_final)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc = tv__sqlite_stmt(
		db, &st,
		"UPDATE import_jobs SET n_final = n_final + ?3,"
		" status = CASE WHEN n_final + ?3 < n_items THEN 'PROCESSING'"
		"   WHEN EXISTS (SELECT 1 FROM import_results WHERE job_id = ?1"
		"     AND status IN ('IMPORTED', 'SKIPPED', 'VALID')) THEN 'COMPLETED'"
		"   ELSE 'FAILED' END,"
		" completed_ms = CASE WHEN n_final + ?3 >= n_items THEN ?2 END"
		" WHERE id = ?1 RETURNING n_final >= n_items");

	if (rc)
		return rc;
	tv__sqlite_bind_text(st, 1, job_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, (int64_t)k);
	if (sqlite3_step(st) == SQLITE_ROW)
		*job_final = sqlite3_column_int(st, 0) != 0;
	else
		rc = TV_ERR_STORE;
	if (!rc && sqlite3_step(st) != SQLITE_DONE)
		rc = TV_ERR_STORE;
	tv__sqlite_stmt_put(st);
	return rc;
}

/* Everything item_finish writes for one item, inside the caller's
 * transaction, but its job's counters (S_finish_jobs). */
static enum tv_err S_finish_one(struct S_finish *f, const char *owner,
				struct tv_item_outcome *outcomes, size_t n)
{
	sqlite3_stmt *st = NULL;
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
			rc = S_insert_result(f->db, f->job_id, f->index, (int)i, status, reason,
					     o->fingerprint, o->der, o->der_len, cert_id, f->label);
		snprintf(o->recorded_status, sizeof(o->recorded_status), "%s", status);
		snprintf(o->recorded_code, sizeof(o->recorded_code), "%.*s",
			 (int)strcspn(reason, ":"), reason);
	}
	/* the inputs are erased (secure_delete overwrites the freed pages) */
	if (!rc)
		rc = tv__sqlite_stmt(f->db, &st,
					"UPDATE import_items SET state = 'FINAL', lease_owner = NULL,"
					" lease_until_ms = NULL WHERE job_id = ? AND item_index = ?");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, f->job_id);
		sqlite3_bind_int(st, 2, f->index);
		rc = tv__sqlite_step_done(st);
	}
	tv__sqlite_stmt_put(st);
	st = NULL;
	if (!rc)
		rc = tv__sqlite_stmt(f->db, &st,
				     "DELETE FROM import_inputs WHERE job_id = ? AND item_index = ?");
	if (!rc) {
		tv__sqlite_bind_text(st, 1, f->job_id);
		sqlite3_bind_int(st, 2, f->index);
		rc = tv__sqlite_step_done(st);
	}
	tv__sqlite_stmt_put(st);
	return rc;
}

/* The counters of the jobs of the items written (rc TV_OK), one update per
 * job, not per item; the last written item of a job that became final
 * gets job_final. */
static enum tv_err S_finish_jobs(sqlite3 *db, struct tv_item_finish *batch, size_t n,
				 int64_t now)
{
	bool *counted = calloc(n ? n : 1, sizeof(*counted));
	enum tv_err rc = counted ? TV_OK : TV_ERR_NOMEM;
	size_t i, j, k, last;

	/* one pass per job of the batch (a batch holds few jobs) */
	for (i = 0; !rc && i < n; i++) {
		if (batch[i].rc != TV_OK || counted[i])
			continue;
		for (k = 0, last = i, j = i; j < n; j++) {
			if (batch[j].rc == TV_OK && !counted[j] &&
			    !strcmp(batch[j].job_id, batch[i].job_id)) {
				counted[j] = true;
				k++;
				last = j;
			}
		}
		rc = S_finish_job(db, batch[i].job_id, k, now, &batch[last].job_final);
	}
	free(counted);
	return rc;
}

/*
 * The group commit: one BEGIN IMMEDIATE ... COMMIT (one fsync of the WAL)
 * for every item of the batch, each under a savepoint, so an item whose
 * lease was lost (or whose write failed) is rolled back alone. When the
 * savepoint can't be rolled back (SQLite already ended the transaction: a
 * full disk, an I/O error), the whole batch fails and nothing is written.
 */
enum tv_err tv__sqlite_items_finish(struct tv_store *store, const char *owner,
				    struct tv_item_finish *batch, size_t n, int64_t now_ms)
{
	struct S_issuers_seen seen = { .n = 0 };
	enum tv_err rc;
	bool any_final = false;
	sqlite3 *db;
	size_t i;

	for (i = 0; i < n; i++) {
		batch[i].rc = TV_ERR_STORE;
		batch[i].job_final = false;
	}
	rc = tv__sqlite_acquire(S_DB(store), &db);
	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	for (i = 0; !rc && i < n; i++) {
		struct S_finish f = { .db = db, .job_id = batch[i].job_id,
				      .index = batch[i].index, .now = now_ms, .seen = &seen };

		rc = tv__sqlite_exec(db, "SAVEPOINT tv_item");
		if (rc)
			break;
		batch[i].rc = S_finish_one(&f, owner, batch[i].outcomes, batch[i].n);
		if (batch[i].rc) {
			seen.n = seen.next = 0;
			rc = sqlite3_get_autocommit(db) ? TV_ERR_STORE
							: tv__sqlite_exec(db, "ROLLBACK TO tv_item");
		}
		if (!rc)
			rc = tv__sqlite_exec(db, "RELEASE tv_item");
	}
	if (!rc)
		rc = S_finish_jobs(db, batch, n, now_ms);
	for (i = 0; !rc && i < n; i++)
		any_final |= batch[i].job_final;
	if (!rc)
		rc = tv__sqlite_exec(db, "COMMIT");
	tv__sqlite_release(S_DB(store), db, rc != TV_OK);
	/* The erased inputs (keystores, sealed passwords) still sit in WAL
	 * frames until a checkpoint truncates the WAL: when a job ends, the
	 * checkpoint thread does, retrying until it succeeds (sqlite_ckpt.c),
	 * so the committer does not wait for it. */
	if (!rc && any_final)
		tv__sqlite_ckpt_truncate(S_DB(store));
	for (i = 0; rc && i < n; i++) {
		batch[i].rc = rc;
		batch[i].job_final = false;
	}
	return rc;
}

enum tv_err tv__sqlite_item_finish(struct tv_store *store, const char *job_id, int index,
				   const char *owner, struct tv_item_outcome *outcomes,
				   size_t n, int64_t now_ms, bool *job_final)
{
	struct tv_item_finish one = { .job_id = job_id, .index = index, .outcomes = outcomes,
				      .n = n };
	enum tv_err rc = tv__sqlite_items_finish(store, owner, &one, 1, now_ms);

	*job_final = one.job_final;
	return rc ? rc : one.rc;
}

enum tv_err tv__sqlite_queue_depth(struct tv_store *store, struct tv_queue_depth **out,
				   size_t *n_out)
{
	/* import_items_queue leads with state: only open items are read */
	static const char sql[] =
		"SELECT tenant_id, sum(state = 'WAITING'), sum(state = 'PROCESSING')"
		" FROM import_items WHERE state IN ('WAITING', 'PROCESSING')"
		" GROUP BY tenant_id ORDER BY tenant_id";
	struct tv_queue_depth *rows = NULL, *p;
	const char *tid;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	enum tv_err rc;
	int r = SQLITE_DONE;

	rc = tv__sqlite_acquire(S_DB(store), &db);
	if (rc)
		return rc;
	rc = tv__sqlite_prepare(db, &st, sql);
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			p = realloc(rows, cap * sizeof(*rows));
			if (!p) {
				rc = TV_ERR_NOMEM;
				break;
			}
			rows = p;
		}
		memset(&rows[n], 0, sizeof(rows[n]));
		tid = (const char *)sqlite3_column_text(st, 0);
		snprintf(rows[n].tenant_id, sizeof(rows[n].tenant_id), "%s", tid ? tid : "");
		rows[n].waiting = sqlite3_column_int64(st, 1);
		rows[n].processing = sqlite3_column_int64(st, 2);
		n++;
	}
	if (!rc && r != SQLITE_DONE)
		rc = tv__sqlite_err(r);
	sqlite3_finalize(st);
	tv__sqlite_release(S_DB(store), db, true);
	if (rc) {
		free(rows);
		return rc;
	}
	*out = rows;
	*n_out = n;
	return TV_OK;
}
