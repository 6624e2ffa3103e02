/*
 * backup.h - an online copy of a SQLite vault, and the checks a restore
 * makes on such a copy (issue 11). PostgreSQL has pg_dump (DEPLOYMENT.md).
 *
 * DESIGN: the copy uses SQLite's online backup API from a connection that
 * holds one read transaction for the whole copy. In WAL mode that
 * transaction is a snapshot: the server's writers go on committing (a
 * reader never blocks a WAL writer), the backup never restarts, and the copy
 * is the database exactly as it was when the snapshot began. The copy is
 * made in steps of a few hundred pages, yielding between them, so it shares
 * the disk and the CPU with the server rather than taking them.
 */
#ifndef TV_STORE_BACKUP_H
#define TV_STORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct tv_backup_report {
	int64_t pages;      /* pages copied */
	int64_t bytes;      /* size of the copy */
	int schema_version; /* the copy's schema version */
	int64_t snapshot_ms; /* when the snapshot was taken */
};

/**
 * Copy the SQLite vault db_path into a new file out_path (created 0600 with
 * O_EXCL: TV_ERR_EXISTS, and nothing written, when it exists), then fsync
 * it and its directory. On any failure the partial file is removed. why
 * (may be NULL) gets SQLite's reason on failure.
 */
enum tv_err tv_store_sqlite_backup(const char *db_path, const char *out_path,
				   struct tv_backup_report *rep, char *why,
				   size_t why_size) TV_WUR;

/**
 * Check that path is a tlsvault SQLite database: it opens read-only, has
 * schema_migrations and the vault's tables, and PRAGMA integrity_check says
 * ok. TV_ERR_INVALID (with the reason in why) when it is not.
 */
enum tv_err tv_store_sqlite_verify(const char *path, int *schema_version, char *why,
				   size_t why_size) TV_WUR;

#endif
