/*
 * sqlite_int.h - internals shared by the SQLite backend's files: the
 * connection pool and statement helpers. Not for use outside src/store.
 */
#ifndef TV_STORE_SQLITE_INT_H
#define TV_STORE_SQLITE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "store/store.h"


#define TV__SQLITE_POOL_MAX 64
/* Statements kept compiled per connection: more than the backend's constant
 * SQL texts (about 60), so in practice every one stays. */
#define TV__SQLITE_STMT_CACHE_MAX 96
/* Connections one thread may hold at once (acquired, not yet released). */
#define TV__SQLITE_HELD_MAX 8

/* One compiled statement of a connection's cache, keyed by its SQL text
 * (sqlite3_sql() gives the text back; hash and len make the lookup cheap). */
struct tv__sqlite_cached {
	sqlite3_stmt *st;
	uint64_t hash;
	size_t len;
	bool in_use; /* handed out by tv__sqlite_stmt, not yet put back */
};

/* A pooled connection and what belongs to it. Only the thread that holds it
 * (between tv__sqlite_acquire and tv__sqlite_release) touches it. */
struct tv__sqlite_conn {
	sqlite3 *db;
	bool sync_relaxed; /* synchronous=NORMAL is set: restore before reuse */
	size_t n_cached;
	struct tv__sqlite_cached cached[TV__SQLITE_STMT_CACHE_MAX];
};

struct tv__sqlite {
	struct tv_store base; /* must be first */
	char *path;
	pthread_mutex_t lock; /* guards the pool arrays only */
	struct tv__sqlite_conn *free_conns[TV__SQLITE_POOL_MAX];
	size_t n_free;
	size_t n_open;
	/* the checkpoint thread (sqlite_ckpt.c); ckpt_* guarded by ckpt_lock */
	pthread_t ckpt_thread;
	pthread_mutex_t ckpt_lock;
	pthread_cond_t ckpt_cond;
	bool ckpt_init, ckpt_started, ckpt_stop, ckpt_passive;
	uint64_t ckpt_truncate_gen; /* TRUNCATEs asked for (done when caught up) */
	uint64_t ckpt_done_gen;     /* the TRUNCATEs done (the thread's) */
	int64_t ckpt_owed_since_ms; /* when the oldest TRUNCATE owed was asked for */
	int64_t ckpt_last_commit_ms; /* the WAL hook's, atomic: the latest commit */
};

/* A commit that leaves this many WAL frames asks for a checkpoint
 * (SQLite's own automatic checkpoint uses the same figure). */
#define TV__SQLITE_CKPT_FRAMES 1000
/* A TRUNCATE that found the database busy is tried again this often. */
#define TV__SQLITE_CKPT_RETRY_MS 100
/* PASSIVE checkpoints asked for by the WAL hook run at most this often */
#define TV__SQLITE_CKPT_GAP_MS 250
/* A TRUNCATE waits for this long without a commit (it takes the writer
 * lock for its ftruncate and fsyncs, 10 to 20 ms: in the middle of an
 * import every commit would wait), but no longer than the second figure
 * after it was asked for. */
#define TV__SQLITE_CKPT_QUIET_MS 100
#define TV__SQLITE_CKPT_MAX_DELAY_MS 2000

/** Start s's checkpoint thread (before the first connection is made). */
void tv__sqlite_ckpt_start(struct tv__sqlite *s);
/** Stop and join it (before the pooled connections are closed). */
void tv__sqlite_ckpt_stop(struct tv__sqlite *s);
/** Replace db's automatic checkpoint with a request to the thread. */
void tv__sqlite_ckpt_hook(struct tv__sqlite *s, sqlite3 *db);
/** Ask for a PASSIVE checkpoint, and with truncate for a TRUNCATE too. */
void tv__sqlite_ckpt_request(struct tv__sqlite *s, bool truncate);
/**
 * Erased rows must leave the WAL file: a TRUNCATE, by the thread (retried
 * until it succeeds), or inline and without waiting when there is no
 * thread. Call it holding no connection mid-transaction.
 */
void tv__sqlite_ckpt_truncate(struct tv__sqlite *s);

/* Waiting for a lock held by another connection: at most this long, in
 * polls of at most TV__SQLITE_BUSY_MAX_SLEEP_US (see sqlite_db.c). */
#define TV__SQLITE_BUSY_TIMEOUT_MS 10000
#define TV__SQLITE_BUSY_MAX_SLEEP_US 1000

/** The busy handler's sleep before retry number count (0-based), in us;
 * -1 when it gives up (SQLITE_BUSY, then TV_ERR_BUSY). */
long tv__sqlite_busy_sleep_us(int count);

/**
 * Take a connection (a pooled one, or a new one) for the calling thread. The
 * same thread gives it back with tv__sqlite_release; a thread holds at most
 * TV__SQLITE_HELD_MAX at once (TV_ERR_LIMIT beyond).
 */
enum tv_err tv__sqlite_acquire(struct tv__sqlite *s, sqlite3 **out) TV_WUR;
/** Give it back; on a failed transaction pass rollback=true. Statements
 * from tv__sqlite_stmt must have been put back first. */
void tv__sqlite_release(struct tv__sqlite *s, sqlite3 *db, bool rollback);
/** Run SQL with no result rows (a single statement runs from the cache). */
enum tv_err tv__sqlite_exec(sqlite3 *db, const char *sql) TV_WUR;
/** Prepare a statement the caller finalizes (for SQL built per call). */
enum tv_err tv__sqlite_prepare(sqlite3 *db, sqlite3_stmt **out, const char *sql) TV_WUR;
/**
 * A compiled statement for the constant SQL text sql from the connection's
 * cache (compiled on first use with SQLITE_PREPARE_PERSISTENT), to be given
 * back with tv__sqlite_stmt_put, never finalized. On a connection not held
 * through tv__sqlite_acquire, or when the cached one is already out, a fresh
 * statement is prepared and tv__sqlite_stmt_put finalizes it.
 */
enum tv_err tv__sqlite_stmt(sqlite3 *db, sqlite3_stmt **out, const char *sql) TV_WUR;
/** Give back a statement from tv__sqlite_stmt: reset, bindings cleared
 * (nothing the caller bound stays referenced). NULL is a no-op. */
void tv__sqlite_stmt_put(sqlite3_stmt *st);
/**
 * durable=false: commits on this connection skip the fsync (WAL with
 * synchronous=NORMAL) until it is released, which restores FULL (or closes
 * the connection when it cannot). Only for transactions whose loss in a
 * power cut is harmless: see the durability note in sqlite_jobs.c.
 */
enum tv_err tv__sqlite_sync(sqlite3 *db, bool durable) TV_WUR;
/** Put back the connection's busy handler (polls up to the timeout above). */
void tv__sqlite_busy_default(sqlite3 *db);

/** Map a SQLite result code to tv_err (constraint → TV_ERR_EXISTS, busy → BUSY). */
enum tv_err tv__sqlite_err(int rc);
/** Copy a text column into a fixed buffer (truncating safely). */
void tv__sqlite_text(char *dst, size_t size, sqlite3_stmt *st, int col);
/** Bind a NUL-terminated string, or NULL when s is NULL. */
int tv__sqlite_bind_text(sqlite3_stmt *st, int idx, const char *s);
/** Bind an int64, or NULL when v is 0 and zero_is_null. */
int tv__sqlite_bind_ms(sqlite3_stmt *st, int idx, int64_t v);
/** Apply the schema migrations in one transaction. */
enum tv_err tv__sqlite_migrate(sqlite3 *db) TV_WUR;

/** Close every pooled connection and free s. */
void tv__sqlite_close(struct tv_store *st);

extern const struct tv_store_ops tv__sqlite_ops;

/* Shared helpers (sqlite.c) */
/**
 * Run sql with up to two text parameters (NULL = not bound) on a pooled
 * connection and hand the one row it returns to row(). TV_ERR_NOT_FOUND
 * when there is no row.
 */
enum tv_err tv__sqlite_query_one(struct tv__sqlite *s, const char *sql, const char *a,
				 const char *b, enum tv_err (*row)(sqlite3_stmt *st, void *out),
				 void *out) TV_WUR;
enum tv_err tv__sqlite_step_done(sqlite3_stmt *st) TV_WUR;
int tv__sqlite_bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t len);
/* Copy a blob column into a new malloc'd buffer (NULL for SQL NULL). */
enum tv_err tv__sqlite_blob_dup(unsigned char **out, size_t *len, sqlite3_stmt *st, int col) TV_WUR;

/* Trusted CAs and import jobs (sqlite_import.c) */
enum tv_err tv__sqlite_ca_insert(struct tv_store *st, const struct tv_trusted_ca *ca);
enum tv_err tv__sqlite_ca_list(struct tv_store *st, const char *tenant_id,
			       struct tv_trusted_ca **out, size_t *n);
enum tv_err tv__sqlite_ca_get(struct tv_store *st, const char *tenant_id,
			      const char *fingerprint, struct tv_trusted_ca *out);
enum tv_err tv__sqlite_ca_delete(struct tv_store *st, const char *tenant_id,
				 const char *const *fingerprints, size_t n, size_t *deleted);
enum tv_err tv__sqlite_ca_version(struct tv_store *st, const char *tenant_id,
				  int64_t *version);
enum tv_err tv__sqlite_job_create(struct tv_store *st, const struct tv_import_job *job,
				  const struct tv_import_item *items, size_t n, size_t max_queued);
enum tv_err tv__sqlite_job_get(struct tv_store *st, const char *tenant_id, const char *id,
			       struct tv_import_job *job, struct tv_import_result **results,
			       size_t *n_results);
enum tv_err tv__sqlite_job_list(struct tv_store *st, const char *tenant_id, size_t limit,
				struct tv_import_job **out, size_t *n);
enum tv_err tv__sqlite_queue_depth(struct tv_store *st, struct tv_queue_depth **out,
				   size_t *n);
enum tv_err tv__sqlite_item_claim(struct tv_store *st, const char *owner, int64_t now_ms,
				  int64_t lease_until_ms, unsigned max_inflight,
				  struct tv_claimed_item *out);
enum tv_err tv__sqlite_items_claim(struct tv_store *st, const char *owner, int64_t now_ms,
				   int64_t lease_until_ms, unsigned max_inflight,
				   struct tv_claimed_item *out, size_t max, size_t *n);
enum tv_err tv__sqlite_item_renew(struct tv_store *st, const char *job_id, int index,
				  const char *owner, int64_t lease_until_ms);
enum tv_err tv__sqlite_item_finish(struct tv_store *st, const char *job_id, int index,
				   const char *owner, struct tv_item_outcome *outcomes,
				   size_t n, int64_t now_ms, bool *job_final);
enum tv_err tv__sqlite_items_finish(struct tv_store *st, const char *owner,
				    struct tv_item_finish *batch, size_t n, int64_t now_ms);

/* The vault (sqlite_certs.c) */
enum tv_err tv__sqlite_cert_get(struct tv_store *st, const char *tenant_id, const char *id,
				struct tv_cert_record *out);
enum tv_err tv__sqlite_cert_search(struct tv_store *st, const char *tenant_id,
				   const struct tv_search *q, struct tv_cert_record **out,
				   size_t *n, size_t *total);
enum tv_err tv__sqlite_cert_key(struct tv_store *st, const char *tenant_id, const char *id,
				unsigned char **sealed, size_t *sealed_len);
enum tv_err tv__sqlite_cert_set_status(struct tv_store *st, const char *tenant_id,
				       const char *const *ids, size_t n, const char *to_status,
				       int64_t now_ms);
enum tv_err tv__sqlite_cert_delete(struct tv_store *st, const char *tenant_id,
				   const char *const *ids, size_t n);
enum tv_err tv__sqlite_audit_list(struct tv_store *st, const char *tenant_id, int64_t after,
				  size_t limit, struct tv_audit_row **out, size_t *n);

/* Key rotation (sqlite_keys.c) */
enum tv_err tv__sqlite_dek_insert(struct tv_store *st, const struct tv_dek *d);
enum tv_err tv__sqlite_dek_rewrap_all(struct tv_store *st, const struct tv_dek_rewrap *r,
				      size_t n);
enum tv_err tv__sqlite_edge_set_dek(struct tv_store *st, const char *tenant_id,
				    const char *dek_id, int64_t now_ms);
enum tv_err tv__sqlite_cert_keys_not_on(struct tv_store *st, const char *tenant_id,
					const char *dek_id, size_t limit,
					struct tv_sealed_key **out, size_t *n);
enum tv_err tv__sqlite_cert_keys_reseal(struct tv_store *st, const char *tenant_id,
					const char *dek_id, const struct tv_sealed_key *k,
					size_t n, size_t *changed);
enum tv_err tv__sqlite_items_pending_not_on(struct tv_store *st, const char *tenant_id,
					    const char *dek_id, size_t *n);

/* The search compiler: SQL text with ? placeholders, and the values to bind
 * in order. Exposed for tests (EXPLAIN QUERY PLAN). */
struct tv__sql_query {
	char sql[8192];
	size_t len;
	struct tv_search_value binds[TV_SEARCH_MAX_NODES * 4];
	size_t n_binds;
	bool overflow;
};
enum tv_err tv__sqlite_search_where(struct tv__sql_query *q, const struct tv_search_expr *e,
				    int depth) TV_WUR;

#endif
