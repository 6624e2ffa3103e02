/*
 * DESIGN: the import queue on PostgreSQL, shared by every node.
 *
 * Claiming is two statements, neither in an explicit transaction: one ranks
 * the tenants with claimable items (fewest in flight under a live lease,
 * then the one served least recently by queue_turns, then the oldest item),
 * and one claims the first claimable item of a tenant with
 * SELECT ... FOR UPDATE SKIP LOCKED, sets the lease, marks the job
 * PROCESSING and takes the tenant's turn, atomically. A row another node is
 * claiming at that instant is skipped, not waited for, so nodes never queue
 * behind each other; if every item of the first tenant is being taken, the
 * next tenant is tried. Under concurrency the tenant choice is approximate
 * (two nodes may rank at once); an item is never held by two live leases,
 * because the claim re-checks the row it locked.
 *
 * item_finish is the one place results become visible. Its transaction
 * locks the item and its job row first (FOR NO KEY UPDATE), then re-checks
 * that the caller still holds the item: a worker whose lease was lost and
 * re-claimed writes nothing. Holding the job row serialises the finishes of
 * one job, which is what the in-job dedupe rule needs (the same rule as the
 * SQLite backend: the lowest item index keeps IMPORTED, whoever finishes
 * first). Across jobs, the certificate inserts use ON CONFLICT DO NOTHING on
 * the unique (tenant, fingerprint): a racing node's insert wins, and this
 * item then sees the stored certificate, exactly as if it had come second.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"
#include "core/util.h"

#define S_DB(st) ((struct tv__pg *)(st))
#define S_CLAIM_TENANTS 8 /* tenants tried per claim before giving up */
#define S_BULK_ROWS 200   /* item rows per INSERT */

/* ---------- job_create ---------- */

/* A growing parameter list and SQL text for multi-row INSERTs. */
struct S_bulk {
	char *sql;
	size_t len, cap;
	const char **v;
	int *lens, *fmts;
	char (*num)[24];
	int n, nmax;
};

static enum tv_err S_bulk_init(struct S_bulk *b, int nmax)
{
	memset(b, 0, sizeof(*b));
	b->cap = 256 + (size_t)nmax * 16;
	b->sql = malloc(b->cap);
	b->v = calloc((size_t)nmax, sizeof(*b->v));
	b->lens = calloc((size_t)nmax, sizeof(*b->lens));
	b->fmts = calloc((size_t)nmax, sizeof(*b->fmts));
	b->num = calloc((size_t)nmax, sizeof(*b->num));
	b->nmax = nmax;
	return b->sql && b->v && b->lens && b->fmts && b->num ? TV_OK : TV_ERR_NOMEM;
}

static void S_bulk_release(struct S_bulk *b)
{
	free(b->sql);
	free(b->v);
	free(b->lens);
	free(b->fmts);
	free(b->num);
}

static void S_put(struct S_bulk *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap)
		return; /* cap is sized for the rows; S_bulk_run checks n */
	memcpy(b->sql + b->len, s, n + 1);
	b->len += n;
}

/* Append "$k[cast]" for a new parameter. */
static void S_param(struct S_bulk *b, const char *v, int len, int fmt, const char *cast)
{
	char ph[32];

	if (b->n >= b->nmax)
		return;
	b->v[b->n] = v;
	b->lens[b->n] = len;
	b->fmts[b->n] = fmt;
	b->n++;
	snprintf(ph, sizeof(ph), "$%d%s", b->n, cast);
	S_put(b, ph);
}

static void S_param_int(struct S_bulk *b, int64_t v, const char *cast)
{
	if (b->n >= b->nmax)
		return;
	snprintf(b->num[b->n], sizeof(b->num[b->n]), "%lld", (long long)v);
	S_param(b, b->num[b->n], 0, 0, cast);
}

static void S_param_blob(struct S_bulk *b, const unsigned char *p, size_t len)
{
	S_param(b, p ? (len ? (const char *)p : "") : NULL, (int)len, 1, "::bytea");
}

/* Insert items [from, to) with one statement; $1..$3 are job, tenant, time. */
static enum tv_err S_insert_items(struct tv__pg_conn *c, const struct tv_import_job *job,
				  const struct tv_import_item *items, size_t from, size_t to)
{
	struct S_bulk b;
	enum tv_err rc = S_bulk_init(&b, 3 + (int)(to - from) * 7);
	size_t i;

	if (rc) {
		S_bulk_release(&b);
		return rc;
	}
	S_put(&b, "INSERT INTO import_items (job_id, tenant_id, queued_ms, item_index, kind,"
		  " keystore, key_blob, sealed_password, label, state) SELECT ");
	S_param(&b, job->id, 0, 0, "::text, ");
	S_param(&b, job->tenant_id, 0, 0, "::text, ");
	S_param_int(&b, job->created_ms, "::bigint, v.* FROM (VALUES ");
	for (i = from; i < to; i++) {
		const struct tv_import_item *it = &items[i];
		bool rejected = it->kind == TV_ITEM_REJECTED;

		S_put(&b, i > from ? ", (" : "(");
		S_param_int(&b, it->index, "::int, ");
		S_param_int(&b, (int)it->kind, "::int, ");
		S_param_blob(&b, rejected ? NULL : it->keystore, it->keystore_len);
		S_put(&b, ", ");
		S_param_blob(&b, rejected ? NULL : it->key, it->key_len);
		S_put(&b, ", ");
		S_param_blob(&b, rejected ? NULL : it->sealed_password, it->sealed_password_len);
		S_put(&b, ", ");
		S_param(&b, it->label[0] ? it->label : NULL, 0, 0, "::text, ");
		S_param(&b, rejected ? "FINAL" : "WAITING", 0, 0, "::text)");
	}
	S_put(&b, ") AS v");
	rc = b.n == b.nmax && b.len + 1 < b.cap ? TV_OK : TV_ERR_INTERNAL;
	if (!rc)
		rc = tv__pg_run_text(c, b.sql, b.n, b.v, b.lens, b.fmts, NULL);
	S_bulk_release(&b);
	return rc;
}

static const struct tv__pg_sql S_insert_result_sql = {
	"INSERT INTO import_results (job_id, item_index, seq, status, reason,"
	" fingerprint, der, certificate_id, label) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
};

enum tv_err tv__pg_insert_result(struct tv__pg_conn *c, const char *job_id, int index, int seq,
				  const char *status, const char *reason, const char *fp,
				  const unsigned char *der, size_t der_len, const char *cert_id,
				  const char *label)
{
	struct tv__pg_args a = { .n = 0 };

	tv__pg_text(&a, job_id);
	tv__pg_i64(&a, index);
	tv__pg_i64(&a, seq);
	tv__pg_text(&a, status);
	tv__pg_text(&a, reason ? reason : "");
	tv__pg_text(&a, fp ? fp : "");
	tv__pg_blob(&a, der, der_len);
	tv__pg_text(&a, cert_id && *cert_id ? cert_id : NULL);
	tv__pg_text(&a, label && *label ? label : NULL);
	return tv__pg_run(c, &S_insert_result_sql, &a, NULL);
}

/* TV_ERR_LIMIT when the tenant's open items plus adding would pass max.
 * The advisory lock serialises the check and insert of one tenant's posts
 * (on every node) until the transaction ends. */
static enum tv_err S_queue_room(struct tv__pg_conn *c, const char *tenant_id, size_t adding,
				size_t max)
{
	static const struct tv__pg_sql lock = {
		"SELECT pg_advisory_xact_lock(1953719921, hashtext($1))" /* "tlsq" */
	};
	static const struct tv__pg_sql count = {
		"SELECT count(*) FROM import_items WHERE tenant_id = $1"
		" AND state IN ('WAITING', 'PROCESSING')"
	};
	struct tv__pg_args a = { .n = 0 };
	PGresult *r = NULL;
	enum tv_err rc;

	if (!max)
		return TV_OK;
	tv__pg_text(&a, tenant_id);
	rc = tv__pg_run(c, &lock, &a, NULL);
	if (!rc)
		rc = tv__pg_run(c, &count, &a, &r);
	if (!rc && (size_t)tv__pg_get_i64(r, 0, 0) + adding > max)
		rc = TV_ERR_LIMIT;
	PQclear(r);
	return rc;
}

static enum tv_err S_insert_job(struct tv__pg_conn *c, const struct tv_import_job *job,
				size_t n, size_t rejected)
{
	static const struct tv__pg_sql sql = {
		"INSERT INTO import_jobs (id, tenant_id, edge_id, dek_id, dry_run, status, n_items,"
		" n_final, created_ms, completed_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	};
	struct tv__pg_args a = { .n = 0 };
	bool all_failed = rejected == n;

	tv__pg_text(&a, job->id);
	tv__pg_text(&a, job->tenant_id);
	tv__pg_text(&a, job->edge_id);
	tv__pg_text(&a, job->dek_id);
	tv__pg_bool(&a, job->dry_run);
	tv__pg_text(&a, all_failed ? "FAILED" : "WAITING");
	tv__pg_i64(&a, (int64_t)n);
	tv__pg_i64(&a, (int64_t)rejected);
	tv__pg_i64(&a, job->created_ms);
	tv__pg_ms(&a, all_failed ? job->created_ms : 0);
	return tv__pg_run(c, &sql, &a, NULL);
}

static enum tv_err S_notify(struct tv__pg_conn *c, const char *channel, const char *payload)
{
	static const struct tv__pg_sql sql = { "SELECT pg_notify($1, $2)" };
	struct tv__pg_args a = { .n = 0 };

	tv__pg_text(&a, channel);
	tv__pg_text(&a, payload);
	return tv__pg_run(c, &sql, &a, NULL);
}

enum tv_err tv__pg_job_create(struct tv_store *store, const struct tv_import_job *job,
			      const struct tv_import_item *items, size_t n, size_t max_queued)
{
	struct tv__pg_conn *c;
	size_t i, rejected = 0;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		rejected += items[i].kind == TV_ITEM_REJECTED;
	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = S_queue_room(c, job->tenant_id, n - rejected, max_queued);
	if (!rc)
		rc = S_insert_job(c, job, n, rejected);
	for (i = 0; !rc && i < n; i += S_BULK_ROWS)
		rc = S_insert_items(c, job, items, i, i + S_BULK_ROWS < n ? i + S_BULK_ROWS : n);
	for (i = 0; !rc && i < n; i++)
		if (items[i].kind == TV_ITEM_REJECTED)
			rc = tv__pg_insert_result(c, job->id, items[i].index, 0, "FAILED",
					     items[i].reason, NULL, NULL, 0, NULL, items[i].label);
	/* delivered at commit: idle workers on every node look now */
	if (!rc && rejected < n)
		rc = S_notify(c, TV__PG_CHANNEL_JOB_NEW, job->id);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

/* ---------- job_get ---------- */

static void S_row_job_at(const PGresult *r, int row, struct tv_import_job *j)
{
	memset(j, 0, sizeof(*j));
	tv__pg_get_text(j->id, sizeof(j->id), r, row, 0);
	tv__pg_get_text(j->tenant_id, sizeof(j->tenant_id), r, row, 1);
	tv__pg_get_text(j->edge_id, sizeof(j->edge_id), r, row, 2);
	tv__pg_get_text(j->dek_id, sizeof(j->dek_id), r, row, 3);
	j->dry_run = tv__pg_get_i64(r, row, 4) != 0;
	tv__pg_get_text(j->status, sizeof(j->status), r, row, 5);
	j->n_items = (int)tv__pg_get_i64(r, row, 6);
	j->n_final = (int)tv__pg_get_i64(r, row, 7);
	j->created_ms = tv__pg_get_i64(r, row, 8);
	j->completed_ms = tv__pg_get_i64(r, row, 9);
}

static void S_row_job(const PGresult *r, struct tv_import_job *j)
{
	S_row_job_at(r, 0, j);
}

/* Results, with a PROCESSING row for every item not yet final, in item order. */
static enum tv_err S_results(struct tv__pg_conn *c, const char *job_id,
			     struct tv_import_result **out, size_t *n_out)
{
	static const struct tv__pg_sql sql = {
		"SELECT item_index, seq, status, reason, fingerprint, der,"
		" coalesce(certificate_id, ''), coalesce(label, '') FROM import_results"
		" WHERE job_id = $1"
		" UNION ALL SELECT item_index, 0, 'PROCESSING', '', '', NULL::bytea, '',"
		" coalesce(label, '') FROM import_items WHERE job_id = $1 AND state <> 'FINAL'"
		" ORDER BY 1, 2"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv_import_result *res = NULL;
	PGresult *r = NULL;
	size_t n = 0, i;
	enum tv_err rc;

	tv__pg_text(&a, job_id);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc) {
		n = (size_t)PQntuples(r);
		res = calloc(n ? n : 1, sizeof(*res));
		rc = res ? TV_OK : TV_ERR_NOMEM;
	}
	for (i = 0; !rc && i < n; i++) {
		struct tv_import_result *x = &res[i];

		x->item_index = (int)tv__pg_get_i64(r, (int)i, 0);
		x->seq = (int)tv__pg_get_i64(r, (int)i, 1);
		tv__pg_get_text(x->status, sizeof(x->status), r, (int)i, 2);
		x->reason = tv__pg_get_strdup(r, (int)i, 3, "");
		tv__pg_get_text(x->fingerprint, sizeof(x->fingerprint), r, (int)i, 4);
		rc = tv__pg_get_blob(&x->der, &x->der_len, r, (int)i, 5);
		tv__pg_get_text(x->certificate_id, sizeof(x->certificate_id), r, (int)i, 6);
		tv__pg_get_text(x->label, sizeof(x->label), r, (int)i, 7);
		if (!rc && !x->reason)
			rc = TV_ERR_NOMEM;
	}
	PQclear(r);
	if (rc) {
		tv_import_results_free(res, n);
		return rc;
	}
	*out = res;
	*n_out = n;
	return TV_OK;
}

enum tv_err tv__pg_job_get(struct tv_store *store, const char *tenant_id, const char *id,
			   struct tv_import_job *job, struct tv_import_result **results,
			   size_t *n_results)
{
	static const struct tv__pg_sql sql = {
		"SELECT id, tenant_id, edge_id, dek_id, dry_run, status, n_items, n_final,"
		" created_ms, coalesce(completed_ms, 0) FROM import_jobs"
		" WHERE tenant_id = $1 AND id = $2"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_text(&a, tenant_id);
	tv__pg_text(&a, id);
	/* one snapshot: the job and its results agree */
	rc = tv__pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	if (!rc)
		rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc && PQntuples(r) > 0)
		S_row_job(r, job);
	else if (!rc)
		rc = TV_ERR_NOT_FOUND;
	PQclear(r);
	if (!rc && results)
		rc = S_results(c, id, results, n_results);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	tv__pg_release(S_DB(store), c);
	return rc;
}

/* ---------- job_list ---------- */

/* The tenant's newest jobs first, with their result counts by status (as
 * the SQLite backend: the counts read each job's results by job id). */
enum tv_err tv__pg_job_list(struct tv_store *store, const char *tenant_id, size_t limit,
			    struct tv_import_job **out, size_t *n_out)
{
	static const struct tv__pg_sql sql = {
		"SELECT j.id, j.tenant_id, j.edge_id, j.dek_id, j.dry_run::int, j.status,"
		" j.n_items, j.n_final, j.created_ms, coalesce(j.completed_ms, 0),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'IMPORTED'),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'SKIPPED'),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'FAILED'),"
		" (SELECT count(*) FROM import_results r WHERE r.job_id = j.id"
		"   AND r.status = 'VALID')"
		" FROM import_jobs j WHERE j.tenant_id = $1"
		" ORDER BY j.created_ms DESC, j.id DESC LIMIT $2"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv_import_job *jobs;
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc;
	int i, n;

	if (!limit)
		return TV_ERR_INVALID;
	rc = tv__pg_acquire(S_DB(store), &c);
	if (rc)
		return rc;
	tv__pg_text(&a, tenant_id);
	tv__pg_i64(&a, (int64_t)limit);
	rc = tv__pg_run(c, &sql, &a, &r);
	tv__pg_release(S_DB(store), c);
	if (rc) {
		PQclear(r);
		return rc;
	}
	n = PQntuples(r);
	jobs = calloc(n > 0 ? (size_t)n : 1, sizeof(*jobs));
	if (!jobs) {
		PQclear(r);
		return TV_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		S_row_job_at(r, i, &jobs[i]);
		jobs[i].n_imported = (int)tv__pg_get_i64(r, i, 10);
		jobs[i].n_skipped = (int)tv__pg_get_i64(r, i, 11);
		jobs[i].n_failed = (int)tv__pg_get_i64(r, i, 12);
		jobs[i].n_valid = (int)tv__pg_get_i64(r, i, 13);
	}
	PQclear(r);
	*out = jobs;
	*n_out = (size_t)n;
	return TV_OK;
}

/* ---------- claim, renew ---------- */

/* Up to S_CLAIM_TENANTS tenants with claimable items, best first. */
static enum tv_err S_rank(struct tv__pg_conn *c, int64_t now_ms, unsigned max_inflight,
			  PGresult **out)
{
	static const struct tv__pg_sql sql = {
		"WITH busy AS (SELECT tenant_id, count(*) AS n FROM import_items"
		"   WHERE state = 'PROCESSING' AND lease_until_ms >= $1 GROUP BY tenant_id),"
		" cand AS (SELECT tenant_id, min(queued_ms) AS oldest FROM import_items"
		"   WHERE state = 'WAITING' OR (state = 'PROCESSING' AND lease_until_ms < $1)"
		"   GROUP BY tenant_id)"
		" SELECT c.tenant_id FROM cand c"
		" LEFT JOIN busy b ON b.tenant_id = c.tenant_id"
		" LEFT JOIN queue_turns t ON t.tenant_id = c.tenant_id"
		" WHERE $2::bigint = 0 OR coalesce(b.n, 0) < $2::bigint"
		" ORDER BY coalesce(b.n, 0), coalesce(t.seq, 0), c.oldest, c.tenant_id LIMIT 8"
	};
	struct tv__pg_args a = { .n = 0 };

	_Static_assert(S_CLAIM_TENANTS == 8, "the LIMIT above");
	tv__pg_i64(&a, now_ms);
	tv__pg_i64(&a, (int64_t)max_inflight);
	return tv__pg_run(c, &sql, &a, out);
}

/* Claim the tenant's first claimable item; TV_ERR_NOT_FOUND when each one
 * is taken or being taken. */
static enum tv_err S_claim_in(struct tv__pg_conn *c, const char *tenant_id, const char *owner,
			      int64_t now_ms, int64_t lease_until_ms, PGresult **out)
{
	static const struct tv__pg_sql sql = {
		"WITH item AS (SELECT job_id, item_index FROM import_items"
		"   WHERE tenant_id = $4"
		"   AND (state = 'WAITING' OR (state = 'PROCESSING' AND lease_until_ms < $2))"
		"   ORDER BY queued_ms, job_id, item_index LIMIT 1 FOR UPDATE SKIP LOCKED),"
		" claimed AS (UPDATE import_items i SET state = 'PROCESSING', lease_owner = $1,"
		"   lease_until_ms = $3, attempts = i.attempts + 1 FROM item"
		"   WHERE i.job_id = item.job_id AND i.item_index = item.item_index"
		"   RETURNING i.job_id, i.item_index, i.kind, i.keystore, i.key_blob,"
		"   i.sealed_password, coalesce(i.label, '') AS label, i.attempts, i.tenant_id),"
		" job AS (UPDATE import_jobs j SET status = 'PROCESSING' FROM claimed"
		"   WHERE j.id = claimed.job_id AND j.status = 'WAITING' RETURNING j.id),"
		" turn AS (INSERT INTO queue_turns (tenant_id, seq)"
		"   SELECT tenant_id, nextval('queue_turn_seq') FROM claimed"
		"   ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq RETURNING 1)"
		" SELECT c.job_id, c.item_index, c.kind, c.keystore, c.key_blob, c.sealed_password,"
		" c.label, c.attempts, c.tenant_id, j.dek_id, j.dry_run"
		" FROM claimed c JOIN import_jobs j ON j.id = c.job_id"
	};
	struct tv__pg_args a = { .n = 0 };
	enum tv_err rc;

	tv__pg_text(&a, owner);
	tv__pg_i64(&a, now_ms);
	tv__pg_i64(&a, lease_until_ms);
	tv__pg_text(&a, tenant_id);
	rc = tv__pg_run(c, &sql, &a, out);
	if (!rc && PQntuples(*out) == 0) {
		PQclear(*out);
		*out = NULL;
		rc = TV_ERR_NOT_FOUND;
	}
	return rc;
}

static enum tv_err S_row_claimed(const PGresult *r, struct tv_claimed_item *out)
{
	struct tv_import_item *it = &out->item;
	enum tv_err rc;

	tv__pg_get_text(out->job_id, sizeof(out->job_id), r, 0, 0);
	it->index = (int)tv__pg_get_i64(r, 0, 1);
	it->kind = (enum tv_item_kind)tv__pg_get_i64(r, 0, 2);
	rc = tv__pg_get_blob(&it->keystore, &it->keystore_len, r, 0, 3);
	if (!rc)
		rc = tv__pg_get_blob(&it->key, &it->key_len, r, 0, 4);
	if (!rc)
		rc = tv__pg_get_blob(&it->sealed_password, &it->sealed_password_len, r, 0, 5);
	tv__pg_get_text(it->label, sizeof(it->label), r, 0, 6);
	out->attempts = (int)tv__pg_get_i64(r, 0, 7);
	tv__pg_get_text(out->tenant_id, sizeof(out->tenant_id), r, 0, 8);
	tv__pg_get_text(out->dek_id, sizeof(out->dek_id), r, 0, 9);
	out->dry_run = tv__pg_get_i64(r, 0, 10) != 0;
	return rc;
}

enum tv_err tv__pg_item_claim(struct tv_store *store, const char *owner, int64_t now_ms,
			      int64_t lease_until_ms, unsigned max_inflight,
			      struct tv_claimed_item *out)
{
	struct tv__pg_conn *c;
	PGresult *rank = NULL, *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);
	int i, n;

	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	rc = S_rank(c, now_ms, max_inflight, &rank);
	n = rc ? 0 : PQntuples(rank);
	if (!rc)
		rc = TV_ERR_NOT_FOUND;
	for (i = 0; i < n && rc == TV_ERR_NOT_FOUND; i++) {
		char tenant_id[TV_ID_SIZE];

		tv__pg_get_text(tenant_id, sizeof(tenant_id), rank, i, 0);
		rc = S_claim_in(c, tenant_id, owner, now_ms, lease_until_ms, &r);
	}
	PQclear(rank);
	if (!rc)
		rc = S_row_claimed(r, out);
	if (r) /* the result held the keystore and sealed password: wipe, then free */
		for (i = 3; i <= 5; i++)
			tv_wipe(PQgetvalue(r, 0, i), (size_t)PQgetlength(r, 0, i));
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	if (rc)
		tv_import_item_release(&out->item);
	return rc;
}

enum tv_err tv__pg_item_renew(struct tv_store *store, const char *job_id, int index,
			      const char *owner, int64_t lease_until_ms)
{
	static const struct tv__pg_sql sql = {
		"UPDATE import_items SET lease_until_ms = $1 WHERE job_id = $2"
		" AND item_index = $3 AND state = 'PROCESSING' AND lease_owner = $4"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(S_DB(store), &c);

	if (rc)
		return rc;
	tv__pg_i64(&a, lease_until_ms);
	tv__pg_text(&a, job_id);
	tv__pg_i64(&a, index);
	tv__pg_text(&a, owner);
	rc = tv__pg_run(c, &sql, &a, &r);
	if (!rc && tv__pg_changes(r) == 0)
		rc = TV_ERR_STATE;
	PQclear(r);
	tv__pg_release(S_DB(store), c);
	return rc;
}

enum tv_err tv__pg_queue_depth(struct tv_store *store, struct tv_queue_depth **out,
			       size_t *n_out)
{
	static const struct tv__pg_sql sql = {
		"SELECT tenant_id, count(*) FILTER (WHERE state = 'WAITING'),"
		" count(*) FILTER (WHERE state = 'PROCESSING')"
		" FROM import_items WHERE state <> 'FINAL' GROUP BY tenant_id ORDER BY tenant_id"
	};
	struct tv__pg_args a = { .n = 0 };
	struct tv_queue_depth *rows;
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc;
	int i, n;

	rc = tv__pg_acquire(S_DB(store), &c);
	if (rc)
		return rc;
	rc = tv__pg_run(c, &sql, &a, &r);
	tv__pg_release(S_DB(store), c);
	if (rc) {
		PQclear(r);
		return rc;
	}
	n = PQntuples(r);
	rows = calloc(n > 0 ? (size_t)n : 1, sizeof(*rows));
	if (!rows) {
		PQclear(r);
		return TV_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		tv__pg_get_text(rows[i].tenant_id, sizeof(rows[i].tenant_id), r, i, 0);
		rows[i].waiting = tv__pg_get_i64(r, i, 1);
		rows[i].processing = tv__pg_get_i64(r, i, 2);
	}
	PQclear(r);
	*out = rows;
	*n_out = (size_t)n;
	return TV_OK;
}
