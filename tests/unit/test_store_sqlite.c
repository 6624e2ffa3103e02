/* tv-test-libs: tv_store */
/*
 * test_store_sqlite.c - the SQLite backend's connections: the per-connection
 * statement cache (a constant SQL text is compiled once per connection and
 * handed out again, reset and with its bindings cleared; the same text twice
 * at once gets a private copy; nothing grows with use; everything is
 * finalized when the store closes, which LeakSanitizer checks), and the
 * relaxed synchronous setting of a claim (NORMAL inside the claim, FULL
 * again for whatever runs next on the pooled connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite_int.h"
#include "store/store.h"

struct S_env {
	char dir[64];
	struct tv_store *st;
	struct tv__sqlite *s;
};

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));
	char url[160];

	if (!e)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/tlsvault-sqlite-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	snprintf(url, sizeof(url), "sqlite:%s/t.db", e->dir);
	if (tv_store_open(&e->st, url, true))
		return -1;
	e->s = (struct tv__sqlite *)e->st;
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;
	char cmd[128];
	int rc;

	tv_store_close(e->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	rc = system(cmd);
	free(e);
	return rc;
}

/* Statements currently prepared on db. */
static int S_n_stmts(sqlite3 *db)
{
	sqlite3_stmt *p = NULL;
	int n = 0;

	while ((p = sqlite3_next_stmt(db, p)) != NULL)
		n++;
	return n;
}

static int S_pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_stmt_cached_per_connection(void **state)
{
	static const char sql[] = "SELECT ?1, ?2";
	struct S_env *e = *state;
	sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
	char copy[sizeof(sql)];
	sqlite3 *db;
	int base;

	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	base = S_n_stmts(db);
	assert_int_equal(tv__sqlite_stmt(db, &a, sql), TV_OK);
	assert_int_equal(sqlite3_bind_text(a, 1, "secret", -1, SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_bind_int(a, 2, 7), SQLITE_OK);
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(a, 0), "secret");
	tv__sqlite_stmt_put(a);
	assert_false(sqlite3_stmt_busy(a)); /* reset: no read transaction left */

	/* the same text (not the same pointer) finds the same statement, with
	 * nothing of the last use bound */
	memcpy(copy, sql, sizeof(sql));
	assert_int_equal(tv__sqlite_stmt(db, &b, copy), TV_OK);
	assert_ptr_equal(a, b);
	assert_int_equal(sqlite3_step(b), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(b, 0), SQLITE_NULL);
	assert_int_equal(sqlite3_column_type(b, 1), SQLITE_NULL);

	/* while b is out, the same text gets a private statement that put
	 * finalizes */
	assert_int_equal(tv__sqlite_stmt(db, &c, sql), TV_OK);
	assert_ptr_not_equal(b, c);
	assert_int_equal(S_n_stmts(db), base + 2);
	tv__sqlite_stmt_put(c);
	assert_int_equal(S_n_stmts(db), base + 1);
	tv__sqlite_stmt_put(b);
	tv__sqlite_stmt_put(NULL);
	assert_int_equal(S_n_stmts(db), base + 1);
	tv__sqlite_release(e->s, db, false);

	/* the pool hands the connection out again with its cache */
	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	assert_int_equal(tv__sqlite_stmt(db, &c, sql), TV_OK);
	assert_ptr_equal(a, c);
	tv__sqlite_stmt_put(c);
	tv__sqlite_release(e->s, db, false);
}

/* Bad SQL is an error and leaves nothing cached. */
static void test_stmt_bad_sql(void **state)
{
	struct S_env *e = *state;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int base;

	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	base = S_n_stmts(db);
	assert_int_equal(tv__sqlite_stmt(db, &st, "SELECT * FROM no_such_table"), TV_ERR_STORE);
	assert_null(st);
	assert_int_equal(tv__sqlite_stmt(db, &st, "   "), TV_ERR_STORE);
	assert_null(st);
	assert_int_equal(S_n_stmts(db), base);
	tv__sqlite_release(e->s, db, false);
}

/* Two statements in one text: compiled, run, but never cached (the cache's
 * key is the whole text), so each use is finalized. */
static void test_stmt_two_statements_not_cached(void **state)
{
	struct S_env *e = *state;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int base;

	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	base = S_n_stmts(db);
	assert_int_equal(tv__sqlite_stmt(db, &st, "SELECT 1; SELECT 2"), TV_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	tv__sqlite_stmt_put(st);
	assert_int_equal(S_n_stmts(db), base);
	tv__sqlite_release(e->s, db, false);
}

/* Operations repeated many times reuse their statements: the number of
 * statements on the connection stops growing after the first round. */
static void test_operations_reuse_statements(void **state)
{
	struct S_env *e = *state;
	struct tv_audit a = { .ts_ms = 1, .actor = "test", .action = "cache" };
	struct tv_audit_row *rows = NULL;
	struct tv_tenant t;
	size_t n = 0;
	sqlite3 *db;
	int i, after_one = 0;

	for (i = 0; i < 50; i++) {
		assert_int_equal(e->st->ops->audit_append(e->st, &a), TV_OK);
		assert_int_equal(e->st->ops->tenant_get(e->st, "none", &t), TV_ERR_NOT_FOUND);
		assert_int_equal(e->st->ops->audit_list(e->st, NULL, 0, 10, &rows, &n), TV_OK);
		free(rows);
		assert_int_equal(e->s->n_open, 1); /* one thread: one connection */
		assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
		if (i == 0)
			after_one = S_n_stmts(db);
		assert_int_equal(S_n_stmts(db), after_one);
		tv__sqlite_release(e->s, db, false);
	}
	assert_true(after_one >= 3);
	assert_true(after_one <= TV__SQLITE_STMT_CACHE_MAX);
}

/* A connection handed back with a transaction open is not pooled. */
static void test_open_transaction_not_pooled(void **state)
{
	struct S_env *e = *state;
	sqlite3 *db;

	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	assert_int_equal(tv__sqlite_exec(db, "BEGIN"), TV_OK);
	tv__sqlite_release(e->s, db, false);
	assert_int_equal(e->s->n_open, 0);
	assert_int_equal(e->s->n_free, 0);
	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	assert_true(sqlite3_get_autocommit(db));
	tv__sqlite_release(e->s, db, false);
	assert_int_equal(e->s->n_open, 1);
}

/* tv__sqlite_sync(false) holds only until the connection is released, and
 * takes effect every time (a PRAGMA acts when compiled: run again from a
 * statement cache it would do nothing). */
static void test_relaxed_sync_restored(void **state)
{
	struct S_env *e = *state;
	sqlite3 *db, *db2;
	int round;

	for (round = 0; round < 3; round++) {
		assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
		assert_int_equal(S_pragma_int(db, "PRAGMA synchronous"), 2); /* FULL */
		assert_int_equal(tv__sqlite_sync(db, false), TV_OK);
		assert_int_equal(S_pragma_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
		tv__sqlite_release(e->s, db, false);
		assert_int_equal(tv__sqlite_acquire(e->s, &db2), TV_OK);
		assert_ptr_equal(db, db2); /* the pooled connection */
		assert_int_equal(S_pragma_int(db2, "PRAGMA synchronous"), 2);
		/* an explicit FULL inside one operation works too */
		assert_int_equal(tv__sqlite_sync(db2, false), TV_OK);
		assert_int_equal(tv__sqlite_sync(db2, true), TV_OK);
		assert_int_equal(S_pragma_int(db2, "PRAGMA synchronous"), 2);
		tv__sqlite_release(e->s, db2, false);
	}
	/* a PRAGMA through tv__sqlite_exec acts every time as well */
	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	for (round = 0; round < 2; round++) {
		assert_int_equal(tv__sqlite_exec(db, "PRAGMA cache_size=-1000"), TV_OK);
		assert_int_equal(S_pragma_int(db, "PRAGMA cache_size"), -1000);
		assert_int_equal(tv__sqlite_exec(db, "PRAGMA cache_size=-2000"), TV_OK);
		assert_int_equal(S_pragma_int(db, "PRAGMA cache_size"), -2000);
	}
	tv__sqlite_release(e->s, db, false);
}

/* A tenant to import into; job gets its tenant, edge and DEK. */
static void S_tenant(struct S_env *e, struct tv_import_job *job)
{
	struct tv_tenant t = { .id = "00000000-0000-4000-8000-000000000001", .name = "t",
			       .created_ms = 1 };
	struct tv_dek d = { .id = "dek", .wrapped_len = 72, .created_ms = 1 };
	struct tv_edge ed = { .id = "10000000-0000-4000-8000-000000000001", .dek_id = "dek",
			      .deployed_ms = 1, .dek_deployed_ms = 1, .modified_ms = 1 };
	struct tv_apikey k = { .id = "20000000-0000-4000-8000-000000000001",
			       .role = TV_ROLE_ADMIN, .created_ms = 1 };

	memcpy(d.tenant_id, t.id, sizeof(t.id));
	memcpy(ed.tenant_id, t.id, sizeof(t.id));
	memcpy(k.tenant_id, t.id, sizeof(t.id));
	assert_int_equal(e->st->ops->tenant_bootstrap(e->st, &t, &d, &ed, &k), TV_OK);
	memcpy(job->tenant_id, t.id, sizeof(t.id));
	memcpy(job->edge_id, ed.id, sizeof(ed.id));
	snprintf(job->dek_id, sizeof(job->dek_id), "dek");
}

/* A job of n PKCS#12 items with dummy inputs. */
static void S_job(struct S_env *e, struct tv_import_job *job, const char *id, int64_t at,
		  int n)
{
	struct tv_import_item *items = calloc((size_t)n, sizeof(*items));
	int i;

	assert_non_null(items);
	for (i = 0; i < n; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"keystore";
		items[i].keystore_len = 8;
		items[i].sealed_password = (unsigned char *)"sealed";
		items[i].sealed_password_len = 6;
	}
	snprintf(job->id, sizeof(job->id), "%s", id);
	job->created_ms = at;
	job->n_items = n;
	assert_int_equal(e->st->ops->job_create(e->st, job, items, (size_t)n, 0), TV_OK);
	free(items);
}

/* The VM steps of the statements cached on the (single-threaded) pool's
 * connection whose SQL holds a or b, since the last call; resets them. */
static int S_steps(struct S_env *e, const char *a, const char *b)
{
	sqlite3_stmt *p = NULL;
	sqlite3 *db;
	int steps = 0;

	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	while ((p = sqlite3_next_stmt(db, p)) != NULL)
		if (strstr(sqlite3_sql(p), a) || (b && strstr(sqlite3_sql(p), b)))
			steps += sqlite3_stmt_status(p, SQLITE_STMTSTATUS_VM_STEP, 1);
	tv__sqlite_release(e->s, db, false);
	return steps;
}

/* Claim one item and report the VM steps of the claim statements (the pick
 * and the claim). */
static int S_claim_steps(struct S_env *e, int64_t now, struct tv_claimed_item *ci)
{
	int steps;

	assert_int_equal(e->st->ops->item_claim(e->st, "w", now, now + 60000, 0, ci), TV_OK);
	steps = S_steps(e, "WITH RECURSIVE wt(t)", "WITH item AS");
	assert_true(steps > 0);
	return steps;
}

/* A claim's work does not grow with the items finished before it (they stay
 * in the table as history): the claim reads indexes, not rows. */
static void test_claim_cost_ignores_history(void **state)
{
	struct S_env *e = *state;
	struct tv_item_outcome o = { .status = "FAILED", .reason = "BAD_PASSWORD: x" };
	struct tv_import_job a = { .n_items = 0 }, b, c;
	struct tv_claimed_item c1, c2, ci;
	int i, before, after;
	bool final = false;

	S_tenant(e, &a);
	b = a;
	c = a;
	/* no history: one item in flight, two waiting */
	S_job(e, &a, "job-a", 10, 3);
	(void)S_claim_steps(e, 100, &c1); /* also resets the counter */
	before = S_claim_steps(e, 101, &c2);
	/* 300 items of the tenant finished */
	S_job(e, &b, "job-b", 20, 300);
	for (i = 0; i < 301 && !final; i++) {
		assert_int_equal(e->st->ops->item_claim(e->st, "w", 200 + i, 99999, 0, &ci), TV_OK);
		assert_int_equal(e->st->ops->item_finish(e->st, ci.job_id, ci.item.index, "w", &o,
							 1, 200 + i, &final),
				 TV_OK);
		final = final && !strcmp(ci.job_id, "job-b");
		tv_import_item_release(&ci.item);
	}
	assert_true(final);
	assert_int_equal(e->st->ops->item_finish(e->st, c1.job_id, c1.item.index, "w", &o, 1, 600,
						 &final),
			 TV_OK);
	assert_int_equal(e->st->ops->item_finish(e->st, c2.job_id, c2.item.index, "w", &o, 1, 600,
						 &final),
			 TV_OK);
	assert_true(final); /* job-a: its third item went with the 300 */
	tv_import_item_release(&c1.item);
	tv_import_item_release(&c2.item);
	/* the same queue as before: one in flight, two waiting */
	S_job(e, &c, "job-c", 30, 3);
	(void)S_claim_steps(e, 1000, &c1);
	after = S_claim_steps(e, 1001, &c2);
	tv_import_item_release(&c1.item);
	tv_import_item_release(&c2.item);
	/* reading the 300 finished rows would cost thousands of steps */
	assert_true(after < before + 200);
}

/* Finish the item ci with one VALID result of fingerprint fp; report the
 * VM steps of the statement that looks for the same certificate earlier in
 * the job (reset before). */
static int S_finish_dup_steps(struct S_env *e, struct tv_claimed_item *ci, const char *fp,
			      int64_t now)
{
	static const char dup_sql[] = "ORDER BY item_index, seq LIMIT 1";
	struct tv_item_outcome o = { .status = "VALID", .reason = "" };
	bool final = false;
	int steps;

	snprintf(o.fingerprint, sizeof(o.fingerprint), "%s", fp);
	(void)S_steps(e, dup_sql, NULL);
	assert_int_equal(e->st->ops->item_finish(e->st, ci->job_id, ci->item.index, "w", &o, 1,
						 now, &final),
			 TV_OK);
	assert_string_equal(o.recorded_status, "VALID");
	steps = S_steps(e, dup_sql, NULL);
	assert_true(steps > 0);
	return steps;
}

/* Finishing an item looks for the same certificate among the job's results
 * so far (DUPLICATE_IN_REQUEST) through the fingerprint index: its work does
 * not grow with the results before it (a walk of the job's results, each
 * with its certificate, made a 100-item job's commits quadratic). */
static void test_job_dup_cost_ignores_job_size(void **state)
{
	struct S_env *e = *state;
	struct tv_import_job job = { .n_items = 0 };
	struct tv_claimed_item ci;
	char fp[41];
	int i, first = 0, last = 0;

	S_tenant(e, &job);
	job.dry_run = true; /* VALID results, no certificate rows needed */
	S_job(e, &job, "job-d", 10, 300);
	for (i = 0; i < 300; i++) {
		assert_int_equal(e->st->ops->item_claim(e->st, "w", 100 + i, 99999, 0, &ci), TV_OK);
		snprintf(fp, sizeof(fp), "%040d", i);
		if (i == 1)
			first = S_finish_dup_steps(e, &ci, fp, 100 + i);
		else if (i == 299)
			last = S_finish_dup_steps(e, &ci, fp, 100 + i);
		else
			(void)S_finish_dup_steps(e, &ci, fp, 100 + i);
		tv_import_item_release(&ci.item);
	}
	/* walking 298 result rows would cost thousands of steps */
	assert_true(last < first + 50);
}

/* Nor does it grow with the items waiting: the waiting tenants are found
 * by a skip scan, not by stepping over every waiting item. */
static void test_claim_cost_ignores_queue(void **state)
{
	struct S_env *e = *state;
	struct tv_import_job a = { .n_items = 0 }, b;
	struct tv_claimed_item c1, c2;
	int before, after;

	S_tenant(e, &a);
	b = a;
	S_job(e, &a, "job-a", 10, 2);
	(void)S_claim_steps(e, 100, &c1);
	before = S_claim_steps(e, 101, &c2);
	tv_import_item_release(&c1.item);
	tv_import_item_release(&c2.item);
	/* 500 waiting */
	S_job(e, &b, "job-b", 20, 500);
	(void)S_claim_steps(e, 102, &c1);
	after = S_claim_steps(e, 103, &c2);
	assert_string_equal(c2.job_id, "job-b");
	tv_import_item_release(&c1.item);
	tv_import_item_release(&c2.item);
	/* stepping over 500 index entries would cost thousands of steps */
	assert_true(after < before + 200);
}

/* Every pooled connection keeps SQLite's temporary files in memory: a
 * savepoint's statement journal holds the original of the pages it changes
 * (an item's erased inputs among them), which must not land in a file. */
static void test_temp_store_in_memory(void **state)
{
	struct S_env *e = *state;
	sqlite3 *db;

	/* a SQLite built with TEMP_STORE=0 would ignore the pragma */
	assert_false(sqlite3_compileoption_used("TEMP_STORE=0"));
	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	assert_int_equal(S_pragma_int(db, "PRAGMA temp_store"), 2); /* MEMORY */
	tv__sqlite_release(e->s, db, false);
}

/* Whether the file at path holds the bytes needle (a missing file holds
 * nothing). */
static bool S_file_has(const char *path, const char *needle)
{
	size_t n = strlen(needle), len = 0, cap = 0, i;
	char *buf = NULL, tmp[65536];
	bool found = false;
	FILE *f = fopen(path, "rb");
	size_t got;

	if (!f)
		return false;
	while ((got = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (len + got > cap) {
			char *p;

			cap = (len + got) * 2;
			p = realloc(buf, cap);
			assert_non_null(p);
			buf = p;
		}
		memcpy(buf + len, tmp, got);
		len += got;
	}
	fclose(f);
	for (i = 0; !found && n && i + n <= len; i++)
		found = !memcmp(buf + i, needle, n);
	free(buf);
	return found;
}

/*
 * A finished job's inputs leave the files: the rows are deleted with
 * secure_delete (zeroed pages) and the checkpoint thread truncates the WAL
 * that still holds their frames, after the commit, not inside it.
 */
static void test_finished_inputs_leave_wal(void **state)
{
	static const char ks[] = "KEYSTORE-BYTES-0123456789-abcdefghij";
	static const char pw[] = "SEALED-PASSWORD-BYTES-9876543210";
	struct S_env *e = *state;
	struct tv_import_job job = { .id = "job-w", .created_ms = 5, .n_items = 1 };
	struct tv_import_item item;
	struct tv_claimed_item ci;
	struct tv_item_outcome o = { .status = "FAILED", .reason = "BAD_PASSWORD: x" };
	char db_path[128], wal_path[140];
	bool final = false;
	int tries;

	assert_true(e->s->ckpt_started);
	snprintf(db_path, sizeof(db_path), "%s/t.db", e->dir);
	snprintf(wal_path, sizeof(wal_path), "%s-wal", db_path);
	S_tenant(e, &job);
	memset(&item, 0, sizeof(item));
	item.kind = TV_ITEM_PKCS12;
	item.keystore = (unsigned char *)ks;
	item.keystore_len = sizeof(ks) - 1;
	item.sealed_password = (unsigned char *)pw;
	item.sealed_password_len = sizeof(pw) - 1;
	assert_int_equal(e->st->ops->job_create(e->st, &job, &item, 1, 0), TV_OK);
	assert_true(S_file_has(db_path, ks) || S_file_has(wal_path, ks));
	assert_int_equal(e->st->ops->item_claim(e->st, "w", 10, 60000, 0, &ci), TV_OK);
	assert_int_equal(e->st->ops->item_finish(e->st, ci.job_id, 0, "w", &o, 1, 20, &final),
			 TV_OK);
	tv_import_item_release(&ci.item);
	assert_true(final);
	/* the thread truncates within moments; allow a loaded machine 10 s */
	for (tries = 0; tries < 1000; tries++) {
		if (!S_file_has(db_path, ks) && !S_file_has(wal_path, ks) &&
		    !S_file_has(db_path, pw) && !S_file_has(wal_path, pw))
			break;
		usleep(10000);
	}
	assert_true(tries < 1000);
}

static long S_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

/*
 * Commits past TV__SQLITE_CKPT_FRAMES frames get the WAL checkpointed by
 * the thread (the connections' automatic checkpoint is replaced): once it
 * has copied every frame, the next commit starts the WAL over (and,
 * journal_size_limit=0, truncates it), so the WAL stays bounded.
 */
static void test_wal_checkpointed_by_thread(void **state)
{
	struct S_env *e = *state;
	char wal_path[140];
	long size = -1;
	sqlite3 *db;
	int i, tries;

	snprintf(wal_path, sizeof(wal_path), "%s/t.db-wal", e->dir);
	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	assert_int_equal(tv__sqlite_exec(db, "CREATE TABLE filler (b BLOB)"), TV_OK);
	for (i = 0; i < 40; i++) /* 40 commits of about 40 pages each */
		assert_int_equal(tv__sqlite_exec(db, "INSERT INTO filler VALUES (zeroblob(160000))"),
				 TV_OK);
	/* left alone, the WAL would hold all 1,600 frames (6.5 MB) */
	for (tries = 0; tries < 1000; tries++) {
		assert_int_equal(tv__sqlite_exec(db, "INSERT INTO filler VALUES (zeroblob(10))"),
				 TV_OK);
		size = S_size(wal_path);
		if (size >= 0 && size < 1000L * 1024)
			break;
		usleep(10000);
	}
	tv__sqlite_release(e->s, db, false);
	assert_true(size >= 0 && size < 1000L * 1024);
}

/* Counts statements that set synchronous=NORMAL (a trace callback). */
static int S_trace(unsigned type, void *ctx, void *p, void *x)
{
	int *n = ctx;

	(void)p;
	if (type == SQLITE_TRACE_STMT && strstr((const char *)x, "synchronous=NORMAL"))
		(*n)++;
	return 0;
}

/* A claim commits with synchronous=NORMAL; the connection it used is FULL
 * again for the next operation (here: the durable item_finish). */
static void test_claim_leaves_connection_durable(void **state)
{
	struct S_env *e = *state;
	struct tv_import_job job = { .id = "job-1", .created_ms = 5, .n_items = 2 };
	struct tv_import_item items[2];
	struct tv_claimed_item ci;
	struct tv_item_outcome o = { .status = "FAILED", .reason = "BAD_PASSWORD: x" };
	bool final = false;
	int i, relaxed = 0;
	sqlite3 *db;

	S_tenant(e, &job);
	memset(items, 0, sizeof(items));
	for (i = 0; i < 2; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
		items[i].sealed_password = (unsigned char *)"sealed";
		items[i].sealed_password_len = 6;
	}
	assert_int_equal(e->st->ops->job_create(e->st, &job, items, 2, 0), TV_OK);
	/* one thread: every operation below runs on this pooled connection */
	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	sqlite3_trace_v2(db, SQLITE_TRACE_STMT, S_trace, &relaxed);
	tv__sqlite_release(e->s, db, false);
	for (i = 0; i < 2; i++) {
		assert_int_equal(e->st->ops->item_claim(e->st, "w", 10, 60000, 0, &ci), TV_OK);
		assert_int_equal(ci.item.index, i);
		assert_int_equal(e->st->ops->item_renew(e->st, ci.job_id, i, "w", 70000), TV_OK);
		assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
		assert_int_equal(S_pragma_int(db, "PRAGMA synchronous"), 2);
		tv__sqlite_release(e->s, db, false);
		assert_int_equal(e->st->ops->item_finish(e->st, ci.job_id, i, "w", &o, 1, 20,
							 &final),
				 TV_OK);
		tv_import_item_release(&ci.item);
	}
	assert_true(final);
	assert_int_equal(e->st->ops->item_claim(e->st, "w", 30, 60000, 0, &ci),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(relaxed, 5); /* 3 claims and 2 renewals, each its own */
	assert_int_equal(tv__sqlite_acquire(e->s, &db), TV_OK);
	assert_int_equal(e->s->n_open, 1);
	assert_int_equal(S_pragma_int(db, "PRAGMA synchronous"), 2);
	sqlite3_trace_v2(db, 0, NULL, NULL);
	tv__sqlite_release(e->s, db, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stmt_cached_per_connection, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_stmt_bad_sql, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_stmt_two_statements_not_cached, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_operations_reuse_statements, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_open_transaction_not_pooled, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_relaxed_sync_restored, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_claim_leaves_connection_durable, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_claim_cost_ignores_queue, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_job_dup_cost_ignores_job_size, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_temp_store_in_memory, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_finished_inputs_leave_wal, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_wal_checkpointed_by_thread, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_claim_cost_ignores_history, S_setup,
						S_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
