/*
 * sqlite_int.h - internals shared by the SQLite backend's files: the
 * connection pool and statement helpers. Not for use outside src/store.
 */
#ifndef TV_STORE_SQLITE_INT_H
#define TV_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

#define TV__SQLITE_POOL_MAX 64

struct tv__sqlite {
	struct tv_store base; /* must be first */
	char *path;
	pthread_mutex_t lock; /* guards the pool arrays only */
	sqlite3 *free_conns[TV__SQLITE_POOL_MAX];
	size_t n_free;
	size_t n_open;
};

/** Take a connection (a pooled one, or a new one). */
enum tv_err tv__sqlite_acquire(struct tv__sqlite *s, sqlite3 **out) TV_WUR;
/** Give it back; on a failed transaction pass rollback=true. */
void tv__sqlite_release(struct tv__sqlite *s, sqlite3 *db, bool rollback);
/** Run SQL with no result rows. */
enum tv_err tv__sqlite_exec(sqlite3 *db, const char *sql) TV_WUR;
/** Prepare (cached by SQLite's own statement cache is not used: we finalize). */
enum tv_err tv__sqlite_prepare(sqlite3 *db, sqlite3_stmt **out, const char *sql) TV_WUR;
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

#endif
