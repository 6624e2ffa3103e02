/*
 * DESIGN: see backup.h. The source connection is a private one (not the
 * pool of a struct tv_store), opened read-write only because a WAL reader
 * must be able to map the -shm file; it writes nothing.
 */
#include "store/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "store/sqlite_int.h"

#define S_PAGES_PER_STEP 256

static void S_why(char *why, size_t size, const char *what, sqlite3 *db)
{
	if (why && size)
		snprintf(why, size, "%s%s%s", what, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
}

static enum tv_err S_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc;

	rc = tv__sqlite_prepare(db, &st, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	if (!rc)
		rc = sqlite3_step(st) == SQLITE_ROW ? TV_OK : TV_ERR_STORE;
	if (!rc)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

enum tv_err tv_store_sqlite_backup(const char *db_path, const char *out_path,
				   struct tv_backup_report *rep, char *why, size_t why_size)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	enum tv_err rc = TV_ERR_STORE;
	struct stat sb;
	int fd, r;

	memset(rep, 0, sizeof(*rep));
	if (why && why_size)
		why[0] = '\0';
	if (stat(db_path, &sb) != 0) {
		S_why(why, why_size, "no database there", NULL);
		return TV_ERR_NOT_FOUND;
	}
	fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		S_why(why, why_size, errno == EEXIST ? "the output file exists" : strerror(errno),
		      NULL);
		return errno == EEXIST ? TV_ERR_EXISTS : TV_ERR_IO;
	}
	close(fd);
	if (sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		S_why(why, why_size, "opening the vault", src);
		goto out;
	}
	tv__sqlite_busy_default(src);
	/* the snapshot: one read transaction for the whole copy */
	rc = tv__sqlite_exec(src, "BEGIN");
	if (!rc)
		rc = S_version(src, &rep->schema_version);
	if (rc) {
		S_why(why, why_size, "reading the vault (is it a tlsvault database?)", src);
		goto out;
	}
	rep->snapshot_ms = tv_now_ms();
	rc = TV_ERR_STORE;
	if (sqlite3_open_v2(out_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		S_why(why, why_size, "opening the output", dst);
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		S_why(why, why_size, "starting the backup", dst);
		goto out;
	}
	do {
		r = sqlite3_backup_step(b, S_PAGES_PER_STEP);
		if (r == SQLITE_OK || r == SQLITE_BUSY || r == SQLITE_LOCKED)
			sqlite3_sleep(r == SQLITE_OK ? 0 : 5); /* yield to the server */
	} while (r == SQLITE_OK || r == SQLITE_BUSY || r == SQLITE_LOCKED);
	rep->pages = sqlite3_backup_pagecount(b);
	r = sqlite3_backup_finish(b) == SQLITE_OK && r == SQLITE_DONE ? SQLITE_DONE : r;
	b = NULL;
	if (r != SQLITE_DONE) {
		S_why(why, why_size, "copying", dst);
		goto out;
	}
	/* one self-contained file: no -wal beside it */
	rc = tv__sqlite_exec(dst, "PRAGMA journal_mode=DELETE");
	if (rc) {
		S_why(why, why_size, "finishing the copy", dst);
		goto out;
	}
	rc = TV_OK;
out:
	if (b)
		sqlite3_backup_finish(b);
	if (src) {
		sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(src);
	}
	if (dst && sqlite3_close(dst) != SQLITE_OK && !rc)
		rc = TV_ERR_STORE;
	if (!rc) {
		fd = open(out_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0 || fstat(fd, &sb) != 0 || tv_fsync_dir_of(out_path) != 0) {
			S_why(why, why_size, "fsync of the output failed", NULL);
			rc = TV_ERR_IO;
		} else {
			rep->bytes = (int64_t)sb.st_size;
		}
		if (fd >= 0)
			close(fd);
	}
	if (rc) {
		char side[4200];

		unlink(out_path);
		snprintf(side, sizeof(side), "%s-journal", out_path);
		unlink(side);
	}
	return rc;
}

enum tv_err tv_store_sqlite_verify(const char *path, int *schema_version, char *why,
				   size_t why_size)
{
	static const char *const tables[] = { "tenants", "deks", "edge_instances", "api_keys",
					      "certificates", "import_jobs", "import_items" };
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	enum tv_err rc = TV_ERR_INVALID;
	size_t i;

	if (why && why_size)
		why[0] = '\0';
	*schema_version = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		S_why(why, why_size, "not a SQLite database", db);
		goto out;
	}
	if (S_version(db, schema_version) != TV_OK || *schema_version < 1) {
		S_why(why, why_size, "not a tlsvault database (no schema_migrations)", NULL);
		goto out;
	}
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		int found = 0;

		if (tv__sqlite_prepare(db, &st, "SELECT 1 FROM sqlite_master WHERE type = 'table'"
						" AND name = ?") == TV_OK) {
			tv__sqlite_bind_text(st, 1, tables[i]);
			found = sqlite3_step(st) == SQLITE_ROW;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (!found) {
			if (why && why_size)
				snprintf(why, why_size, "not a tlsvault database (no table %s)",
					 tables[i]);
			goto out;
		}
	}
	if (tv__sqlite_prepare(db, &st, "PRAGMA integrity_check(1)") != TV_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		if (why && why_size)
			snprintf(why, why_size, "the integrity check failed: %s",
				 st && sqlite3_column_text(st, 0)
					 ? (const char *)sqlite3_column_text(st, 0)
					 : sqlite3_errmsg(db));
		goto out;
	}
	rc = TV_OK;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}
