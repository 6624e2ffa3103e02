/*
 * pg_int.h - internals shared by the PostgreSQL backend's files: the
 * connection pool, prepared statements, parameters and result readers.
 * Not for use outside src/store.
 *
 * Parameters go in text format, except blobs, which go in binary format
 * (no escaping, so a sealed key travels byte for byte). Results come back in
 * binary format; the readers below check each column's type OID, so a
 * column that is int4 in one query and int8 in another reads the same.
 */
#ifndef TV_STORE_PG_INT_H
#define TV_STORE_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>

#include "store/store.h"

#define TV__PG_POOL_MAX 64
#define TV__PG_MAX_PARAMS 24

/** A statement prepared once per connection, the first time it runs there. */
struct tv__pg_sql {
	const char *text;
};

/** One pooled connection and the statements prepared on it. */
struct tv__pg_conn {
	PGconn *pg;
	const struct tv__pg_sql **prepared; /* index i is named "tv<i>" */
	size_t n_prepared, cap_prepared;
	bool used; /* a command ran since acquire: a broken link is no longer retried */
};

struct tv__pg {
	struct tv_store base; /* must be first */
	char *url;            /* may hold a password: never logged, wiped on close */
	pthread_mutex_t lock; /* guards the pool arrays only */
	struct tv__pg_conn *free_conns[TV__PG_POOL_MAX];
	size_t n_free;
	struct tv__pg_conn *listener; /* LISTEN connection; used by one thread */
};

/** Parameters of one statement. Pointers are borrowed until the call. */
struct tv__pg_args {
	const char *v[TV__PG_MAX_PARAMS];
	int len[TV__PG_MAX_PARAMS];
	int fmt[TV__PG_MAX_PARAMS];
	char num[TV__PG_MAX_PARAMS][24];
	int n;
};

void tv__pg_text(struct tv__pg_args *a, const char *s); /* NULL: SQL NULL */
void tv__pg_i64(struct tv__pg_args *a, int64_t v);
void tv__pg_ms(struct tv__pg_args *a, int64_t v);                 /* 0: SQL NULL */
void tv__pg_blob(struct tv__pg_args *a, const void *p, size_t len); /* NULL: SQL NULL */
void tv__pg_bool(struct tv__pg_args *a, bool v);

/** Take a connection (a pooled one, or a new one). */
enum tv_err tv__pg_acquire(struct tv__pg *s, struct tv__pg_conn **out) TV_WUR;
/** Give it back; an open transaction is rolled back, a broken link closed. */
void tv__pg_release(struct tv__pg *s, struct tv__pg_conn *c);
/** Close a connection that is not pooled. */
void tv__pg_conn_free(struct tv__pg_conn *c);

/** Run SQL without parameters or result rows (BEGIN, COMMIT, DDL). */
enum tv_err tv__pg_exec(struct tv__pg_conn *c, const char *sql) TV_WUR;
/**
 * Run a prepared statement. On success *res (when res is not NULL) holds
 * the result, which the caller PQclear()s; on failure nothing is returned.
 * SQLSTATE classes map to TV_ERR_EXISTS (integrity), TV_ERR_BUSY (lock
 * timeout, deadlock, serialization, cancel) and TV_ERR_STORE.
 */
enum tv_err tv__pg_run(struct tv__pg_conn *c, const struct tv__pg_sql *sql,
		       const struct tv__pg_args *a, PGresult **res) TV_WUR;
/** The same for SQL text built at run time (not prepared). */
enum tv_err tv__pg_run_text(struct tv__pg_conn *c, const char *sql, int n,
			    const char *const *v, const int *len, const int *fmt,
			    PGresult **res) TV_WUR;
/** Rows changed by a command result. */
int64_t tv__pg_changes(const PGresult *r);

/* Result readers: (row, col) of a binary-format result. SQL NULL reads as
 * "", 0 or a NULL buffer. */
void tv__pg_get_text(char *dst, size_t size, const PGresult *r, int row, int col);
int64_t tv__pg_get_i64(const PGresult *r, int row, int col);
enum tv_err tv__pg_get_blob(unsigned char **out, size_t *len, const PGresult *r, int row,
			    int col) TV_WUR;
/** A malloc'd copy of a text column, dflt when NULL; NULL on no memory. */
char *tv__pg_get_strdup(const PGresult *r, int row, int col, const char *dflt);

/**
 * Run sql with up to two text parameters and hand the one row it returns to
 * row(). TV_ERR_NOT_FOUND when there is no row.
 */
enum tv_err tv__pg_query_one(struct tv__pg *s, const struct tv__pg_sql *sql, const char *a,
			     const char *b,
			     enum tv_err (*row)(const PGresult *r, void *out), void *out) TV_WUR;

/** Close every pooled connection and free s. */
void tv__pg_close(struct tv_store *st);
/** Wait for job events (see store.h events_wait). */
enum tv_err tv__pg_events_wait(struct tv_store *st, int timeout_ms, unsigned *events);

extern const struct tv_store_ops tv__pg_ops;

/* NOTIFY channels. */
#define TV__PG_CHANNEL_JOB_NEW "tlsvault_job_new"
#define TV__PG_CHANNEL_JOB_FINAL "tlsvault_job_final"

/* Trusted CAs (pg_import.c) */
enum tv_err tv__pg_ca_insert(struct tv_store *st, const struct tv_trusted_ca *ca);
enum tv_err tv__pg_ca_list(struct tv_store *st, const char *tenant_id,
			   struct tv_trusted_ca **out, size_t *n);
enum tv_err tv__pg_ca_get(struct tv_store *st, const char *tenant_id, const char *fingerprint,
			  struct tv_trusted_ca *out);
enum tv_err tv__pg_ca_delete(struct tv_store *st, const char *tenant_id,
			     const char *const *fingerprints, size_t n, size_t *deleted);
enum tv_err tv__pg_ca_version(struct tv_store *st, const char *tenant_id, int64_t *version);

/* Import jobs (pg_jobs.c) */
enum tv_err tv__pg_job_create(struct tv_store *st, const struct tv_import_job *job,
			      const struct tv_import_item *items, size_t n, size_t max_queued);
enum tv_err tv__pg_job_list(struct tv_store *st, const char *tenant_id, size_t limit,
			    struct tv_import_job **out, size_t *n_out);
enum tv_err tv__pg_queue_depth(struct tv_store *st, struct tv_queue_depth **out,
			       size_t *n_out);
enum tv_err tv__pg_job_get(struct tv_store *st, const char *tenant_id, const char *id,
			   struct tv_import_job *job, struct tv_import_result **results,
			   size_t *n_results);
enum tv_err tv__pg_item_claim(struct tv_store *st, const char *owner, int64_t now_ms,
			      int64_t lease_until_ms, unsigned max_inflight,
			      struct tv_claimed_item *out);
enum tv_err tv__pg_item_renew(struct tv_store *st, const char *job_id, int index,
			      const char *owner, int64_t lease_until_ms);
/* One import_results row (pg_jobs.c); used by pg_finish.c too. */
enum tv_err tv__pg_insert_result(struct tv__pg_conn *c, const char *job_id, int index, int seq,
				  const char *status, const char *reason, const char *fp,
				  const unsigned char *der, size_t der_len, const char *cert_id,
				  const char *label) TV_WUR;
enum tv_err tv__pg_item_finish(struct tv_store *st, const char *job_id, int index,
			       const char *owner, struct tv_item_outcome *outcomes, size_t n,
			       int64_t now_ms, bool *job_final);
enum tv_err tv__pg_items_finish(struct tv_store *st, const char *owner,
				struct tv_item_finish *batch, size_t n, int64_t now_ms);

/* The vault (pg_certs.c) */
enum tv_err tv__pg_cert_get(struct tv_store *st, const char *tenant_id, const char *id,
			    struct tv_cert_record *out);
enum tv_err tv__pg_cert_search(struct tv_store *st, const char *tenant_id,
			       const struct tv_search *q, struct tv_cert_record **out, size_t *n,
			       size_t *total);
enum tv_err tv__pg_cert_key(struct tv_store *st, const char *tenant_id, const char *id,
			    unsigned char **sealed, size_t *sealed_len);
enum tv_err tv__pg_cert_set_status(struct tv_store *st, const char *tenant_id,
				   const char *const *ids, size_t n, const char *to_status,
				   int64_t now_ms);
enum tv_err tv__pg_cert_delete(struct tv_store *st, const char *tenant_id,
			       const char *const *ids, size_t n);
enum tv_err tv__pg_audit_list(struct tv_store *st, const char *tenant_id, int64_t after,
			      size_t limit, struct tv_audit_row **out, size_t *n);

/* Key rotation (pg_keys.c) */
enum tv_err tv__pg_dek_insert(struct tv_store *st, const struct tv_dek *d);
enum tv_err tv__pg_dek_rewrap_all(struct tv_store *st, const struct tv_dek_rewrap *r, size_t n);
enum tv_err tv__pg_edge_set_dek(struct tv_store *st, const char *tenant_id, const char *dek_id,
				int64_t now_ms);
enum tv_err tv__pg_cert_keys_not_on(struct tv_store *st, const char *tenant_id,
				    const char *dek_id, size_t limit, struct tv_sealed_key **out,
				    size_t *n);
enum tv_err tv__pg_cert_keys_reseal(struct tv_store *st, const char *tenant_id,
				    const char *dek_id, const struct tv_sealed_key *k, size_t n,
				    size_t *changed);
enum tv_err tv__pg_items_pending_not_on(struct tv_store *st, const char *tenant_id,
					const char *dek_id, size_t *n);

/* The search compiler: SQL text with $n placeholders ($1 is the tenant),
 * and the values to bind in order. Exposed for tests. */
struct tv__pg_query {
	char sql[16384];
	size_t len;
	struct tv_search_value binds[TV_SEARCH_MAX_NODES * 4];
	size_t n_binds;
	bool overflow;
};
enum tv_err tv__pg_search_where(struct tv__pg_query *q, const struct tv_search_expr *e,
				int depth) TV_WUR;

#endif
