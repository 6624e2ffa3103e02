/*
 * DESIGN: SQLite in WAL mode with one connection per thread in use: a small
 * pool hands a connection to each operation and takes it back, so readers
 * never block the writer and no connection is shared between threads.
 * synchronous=FULL because a committed import job must survive a power cut,
 * not only a process crash. The one exception is a lease (item_claim,
 * item_renew), which may be lost in a power cut without harm: those commit
 * with synchronous=NORMAL, and releasing the connection sets FULL again
 * (see the durability note in sqlite_jobs.c). Migrations are numbered and
 * applied in order, all inside one BEGIN IMMEDIATE transaction, so two
 * processes starting at once can't both apply the same step.
 *
 * Each pooled connection keeps its compiled statements, keyed by SQL text
 * (tv__sqlite_stmt). Compiling was a third of the CPU of a GET and 7% of an
 * import worker's (make bench); a cached statement costs a hash of its text.
 * A statement is handed out to one caller at a time and reset, with its
 * bindings cleared, when it comes back, so it holds no read transaction and
 * no pointer into the caller's memory while the connection sits in the
 * pool. SQL built per call (the search compiler) is prepared and finalized.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Version n is S_migrations[n - 1]. Never edit a released step: add one. */
static const char *const S_migrations[] = {
	/* 1: tenants, keys, DEKs, edge instances, audit log */
	"CREATE TABLE tenants ("
	"  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL);"
	"CREATE TABLE deks ("
	"  id TEXT PRIMARY KEY,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  public_key BLOB NOT NULL CHECK (length(public_key) = 32),"
	"  wrapped_secret_key BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL, last_backup_ms INTEGER);"
	"CREATE INDEX deks_tenant ON deks(tenant_id);"
	"CREATE TABLE edge_instances ("
	"  id TEXT PRIMARY KEY,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL, environment_id TEXT NOT NULL,"
	"  dek_id TEXT NOT NULL REFERENCES deks(id),"
	"  deployed_ms INTEGER NOT NULL, dek_deployed_ms INTEGER NOT NULL,"
	"  last_seen_ms INTEGER, modified_ms INTEGER NOT NULL);"
	"CREATE INDEX edge_instances_tenant ON edge_instances(tenant_id);"
	"CREATE TABLE api_keys ("
	"  id TEXT PRIMARY KEY,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  role TEXT NOT NULL CHECK (role IN ('READ_ONLY','PKI_ADMIN','ADMIN')),"
	"  key_hash BLOB NOT NULL UNIQUE CHECK (length(key_hash) = 32),"
	"  created_ms INTEGER NOT NULL, expires_ms INTEGER,"
	"  last_used_ms INTEGER, revoked_ms INTEGER);"
	"CREATE INDEX api_keys_tenant ON api_keys(tenant_id);"
	"CREATE TABLE audit_log ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL,"
	"  tenant_id TEXT, actor TEXT, action TEXT NOT NULL,"
	"  object_id TEXT, detail TEXT);"
	"CREATE INDEX audit_log_tenant_ts ON audit_log(tenant_id, ts_ms);",

	/* 2: trusted CAs, certificates, import jobs, items and results */
	"ALTER TABLE tenants ADD COLUMN trust_version INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE trusted_cas ("
	"  id TEXT PRIMARY KEY,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  fingerprint TEXT NOT NULL, certificate_type TEXT NOT NULL,"
	"  der BLOB NOT NULL, facts TEXT NOT NULL, created_ms INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, fingerprint));"
	"CREATE TABLE certificates ("
	"  id TEXT PRIMARY KEY,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  fingerprint TEXT NOT NULL, der BLOB NOT NULL, facts TEXT NOT NULL,"
	"  certificate_name TEXT, subject_cn TEXT, san_dns TEXT, serial_number TEXT,"
	"  issuer_dn TEXT, encryption_type TEXT, key_strength INTEGER,"
	"  validity_start_ms INTEGER, validity_end_ms INTEGER,"
	"  status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE','RETIRED')),"
	"  dek_id TEXT, sealed_key BLOB, issuer_ids TEXT NOT NULL DEFAULT '[]',"
	"  import_job_id TEXT, label TEXT,"
	"  created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, fingerprint));"
	"CREATE INDEX certificates_validity_end ON certificates(tenant_id, validity_end_ms);"
	"CREATE INDEX certificates_created ON certificates(tenant_id, created_ms);"
	"CREATE TABLE import_jobs ("
	"  id TEXT PRIMARY KEY,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  edge_id TEXT NOT NULL, dek_id TEXT NOT NULL, dry_run INTEGER NOT NULL,"
	"  status TEXT NOT NULL, n_items INTEGER NOT NULL, n_final INTEGER NOT NULL,"
	"  created_ms INTEGER NOT NULL, completed_ms INTEGER);"
	"CREATE INDEX import_jobs_tenant ON import_jobs(tenant_id, created_ms);"
	"CREATE TABLE import_items ("
	"  job_id TEXT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,"
	"  item_index INTEGER NOT NULL, kind INTEGER NOT NULL,"
	"  keystore BLOB, key_blob BLOB, sealed_password BLOB, label TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('WAITING','PROCESSING','FINAL')),"
	"  lease_owner TEXT, lease_until_ms INTEGER, attempts INTEGER NOT NULL DEFAULT 0,"
	"  queued_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (job_id, item_index));"
	"CREATE INDEX import_items_queue ON import_items(state, queued_ms, item_index);"
	"CREATE TABLE import_results ("
	"  job_id TEXT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,"
	"  item_index INTEGER NOT NULL, seq INTEGER NOT NULL,"
	"  status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
	"  fingerprint TEXT NOT NULL DEFAULT '', der BLOB, certificate_id TEXT, label TEXT,"
	"  PRIMARY KEY (job_id, item_index, seq));"
	"CREATE INDEX import_results_fingerprint ON import_results(job_id, fingerprint);",

	/* 3: audit outcome and request id; indexes for search orderings */
	"ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok';"
	"ALTER TABLE audit_log ADD COLUMN request_id TEXT;"
	/* each ordering index ends with id, the tiebreaker, so a page is read
	 * in index order and never sorted */
	"DROP INDEX certificates_validity_end;"
	"DROP INDEX certificates_created;"
	"CREATE INDEX certificates_validity_end ON certificates(tenant_id, validity_end_ms, id);"
	"CREATE INDEX certificates_created ON certificates(tenant_id, created_ms, id);"
	"CREATE INDEX certificates_validity_start ON certificates(tenant_id, validity_start_ms, id);"
	"CREATE INDEX certificates_name ON certificates(tenant_id, certificate_name, id);",

	/* 4: the queue knows each item's tenant, for fair claiming and the
	 * per-tenant queue cap */
	"ALTER TABLE import_items ADD COLUMN tenant_id TEXT;"
	"UPDATE import_items SET tenant_id ="
	"  (SELECT tenant_id FROM import_jobs WHERE import_jobs.id = import_items.job_id);"
	"DROP INDEX import_items_queue;"
	"CREATE INDEX import_items_queue ON import_items(state, tenant_id, lease_until_ms);"
	"CREATE INDEX import_items_tenant ON import_items(tenant_id, state, queued_ms, job_id,"
	"  item_index);"
	/* the round-robin turn: a higher seq was served more recently */
	"CREATE TABLE queue_turns (tenant_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);",

	/* 5: an item's inputs (keystore, key, sealed password) in a table of
	 * their own. A claim or a lease renewal rewrites the item's row; with
	 * the kilobytes of input inside it, SQLite rewrote every overflow page
	 * of the row each time (a claim cost 3.5 times as much). The inputs
	 * are written once and deleted when the item is final (secure_delete
	 * zeroes their pages). */
	"CREATE TABLE import_inputs ("
	"  job_id TEXT NOT NULL, item_index INTEGER NOT NULL,"
	"  keystore BLOB, key_blob BLOB, sealed_password BLOB,"
	"  PRIMARY KEY (job_id, item_index),"
	"  FOREIGN KEY (job_id, item_index) REFERENCES import_items(job_id, item_index)"
	"    ON DELETE CASCADE);"
	"INSERT INTO import_inputs (job_id, item_index, keystore, key_blob, sealed_password)"
	"  SELECT job_id, item_index, keystore, key_blob, sealed_password FROM import_items"
	"  WHERE state <> 'FINAL' AND (keystore IS NOT NULL OR key_blob IS NOT NULL"
	"    OR sealed_password IS NOT NULL);"
	"ALTER TABLE import_items DROP COLUMN keystore;"
	"ALTER TABLE import_items DROP COLUMN key_blob;"
	"ALTER TABLE import_items DROP COLUMN sealed_password;",
};

enum tv_err tv__sqlite_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return TV_OK;
	case SQLITE_CONSTRAINT: return TV_ERR_EXISTS;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return TV_ERR_BUSY;
	case SQLITE_NOMEM: return TV_ERR_NOMEM;
	case SQLITE_NOTFOUND: return TV_ERR_NOT_FOUND;
	}
	return TV_ERR_STORE;
}

enum tv_err tv__sqlite_prepare(sqlite3 *db, sqlite3_stmt **out, const char *sql)
{
	return tv__sqlite_err(sqlite3_prepare_v3(db, sql, -1, 0, out, NULL));
}

void tv__sqlite_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

int tv__sqlite_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

int tv__sqlite_bind_ms(sqlite3_stmt *st, int idx, int64_t v)
{
	return v ? sqlite3_bind_int64(st, idx, v) : sqlite3_bind_null(st, idx);
}

static enum tv_err S_schema_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc;

	rc = tv__sqlite_prepare(db, &st, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	if (rc)
		return rc;
	rc = sqlite3_step(st) == SQLITE_ROW ? TV_OK : TV_ERR_STORE;
	if (!rc)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

enum tv_err tv__sqlite_migrate(sqlite3 *db)
{
	const int latest = (int)(sizeof(S_migrations) / sizeof(S_migrations[0]));
	enum tv_err rc;
	int version = 0, v;
	char sql[128];

	rc = tv__sqlite_exec(db, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	rc = tv__sqlite_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
				 " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)");
	if (!rc)
		rc = S_schema_version(db, &version);
	if (!rc && version > latest)
		rc = TV_ERR_VERSION; /* a newer tlsvaultd wrote this database */
	for (v = version + 1; !rc && v <= latest; v++) {
		rc = tv__sqlite_exec(db, S_migrations[v - 1]);
		snprintf(sql, sizeof(sql),
			 "INSERT INTO schema_migrations VALUES (%d, "
			 "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))", v);
		if (!rc)
			rc = tv__sqlite_exec(db, sql);
	}
	if (rc) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return tv__sqlite_exec(db, "COMMIT");
}

/*
 * Waiting for the write lock. SQLite's own handler (sqlite3_busy_timeout)
 * backs off in steps that grow to 100 ms, so a writer that finds the lock
 * taken sleeps 25-100 ms even when the holder, a one-item commit, lets go
 * within a millisecond. With import workers committing every few ms, a
 * POST of 100 items then waited 175 ms (median) and 600 ms (p99) for the
 * lock, and the workers lost time the same way (make bench, accept rows).
 * This handler polls after 50 us, doubling to at most 1 ms, and still
 * gives up after about TV__SQLITE_BUSY_TIMEOUT_MS, as the old timeout did.
 */
long tv__sqlite_busy_sleep_us(int count)
{
	if (count < 0)
		return -1;
	/* after the first five polls every wait is the maximum, so the count
	 * bounds the total */
	if (count > 5 + TV__SQLITE_BUSY_TIMEOUT_MS * 1000 / TV__SQLITE_BUSY_MAX_SLEEP_US)
		return -1;
	return count < 5 ? 50L << count : TV__SQLITE_BUSY_MAX_SLEEP_US;
}

static int S_busy(void *arg, int count)
{
	long us = tv__sqlite_busy_sleep_us(count);
	struct timespec ts = { 0, us * 1000L };

	(void)arg;
	if (us < 0)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

void tv__sqlite_busy_default(sqlite3 *db)
{
	sqlite3_busy_handler(db, S_busy, NULL);
}

/*
 * The connections this thread holds now (acquired, not yet released), so
 * that tv__sqlite_stmt can find the statement cache of the sqlite3 handle it
 * is given. SQLite 3.40 has no per-connection user pointer
 * (sqlite3_set_clientdata came in 3.44), and every helper here takes the
 * sqlite3 handle, so the handle is mapped back to its pool entry here. This
 * is thread-local, not shared state: each thread sees only its own entries,
 * and a connection is used only by the thread that holds it.
 */
static _Thread_local struct tv__sqlite_conn *S_held[TV__SQLITE_HELD_MAX];
static _Thread_local size_t S_n_held;

static struct tv__sqlite_conn *S_held_find(sqlite3 *db)
{
	size_t i;

	for (i = 0; i < S_n_held; i++)
		if (S_held[i]->db == db)
			return S_held[i];
	return NULL;
}

static struct tv__sqlite_conn *S_held_take(sqlite3 *db)
{
	struct tv__sqlite_conn *c;
	size_t i;

	for (i = 0; i < S_n_held; i++) {
		if (S_held[i]->db != db)
			continue;
		c = S_held[i];
		S_held[i] = S_held[--S_n_held];
		return c;
	}
	return NULL;
}

/* FNV-1a over the text; the length comes with it. */
static uint64_t S_sql_hash(const char *sql, size_t *len)
{
	uint64_t h = 14695981039346656037ULL;
	const char *p;

	for (p = sql; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	*len = (size_t)(p - sql);
	return h;
}

/*
 * A PRAGMA that sets something (synchronous=NORMAL) acts while it is
 * compiled, and SQLite marks every PRAGMA program to run only once (a second
 * step recompiles it), so a cached one saves nothing and would only take a
 * slot. PRAGMAs are compiled on every use, in plain sight.
 */
static bool S_is_pragma(const char *sql)
{
	while (*sql == ' ' || *sql == '\t' || *sql == '\n')
		sql++;
	return strncasecmp(sql, "PRAGMA", 6) == 0;
}

enum tv_err tv__sqlite_stmt(sqlite3 *db, sqlite3_stmt **out, const char *sql)
{
	struct tv__sqlite_conn *c = S_held_find(db);
	struct tv__sqlite_cached *e;
	sqlite3_stmt *st = NULL;
	uint64_t hash;
	size_t i, len;
	int r;

	if (!c || S_is_pragma(sql))
		return tv__sqlite_prepare(db, out, sql);
	hash = S_sql_hash(sql, &len);
	for (i = 0; i < c->n_cached; i++) {
		e = &c->cached[i];
		if (e->hash != hash || e->len != len || memcmp(sqlite3_sql(e->st), sql, len))
			continue;
		if (e->in_use) /* the same text twice at once: a private copy */
			return tv__sqlite_prepare(db, out, sql);
		e->in_use = true;
		*out = e->st;
		return TV_OK;
	}
	if (c->n_cached == TV__SQLITE_STMT_CACHE_MAX)
		return tv__sqlite_prepare(db, out, sql);
	r = sqlite3_prepare_v3(db, sql, (int)len + 1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (r != SQLITE_OK || !st) {
		sqlite3_finalize(st);
		return r != SQLITE_OK ? tv__sqlite_err(r) : TV_ERR_STORE; /* !st: no SQL */
	}
	*out = st;
	/* the lookup compares against sqlite3_sql(): keep only statements
	 * whose saved text is the key (one statement, nothing after it) */
	if (strlen(sqlite3_sql(st)) != len || memcmp(sqlite3_sql(st), sql, len))
		return TV_OK; /* tv__sqlite_stmt_put finalizes it */
	e = &c->cached[c->n_cached++];
	*e = (struct tv__sqlite_cached){ .st = st, .hash = hash, .len = len, .in_use = true };
	return TV_OK;
}

void tv__sqlite_stmt_put(sqlite3_stmt *st)
{
	struct tv__sqlite_conn *c;
	size_t i;

	if (!st)
		return;
	c = S_held_find(sqlite3_db_handle(st));
	for (i = 0; c && i < c->n_cached; i++) {
		if (c->cached[i].st != st)
			continue;
		/* reset ends the statement's read transaction; clearing the
		 * bindings drops the caller's pointers (blobs are SQLITE_STATIC) */
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		c->cached[i].in_use = false;
		return;
	}
	sqlite3_finalize(st);
}

enum tv_err tv__sqlite_exec(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	enum tv_err rc;
	int r;

	/* without ';' the text is one statement, which the cache can keep
	 * (unless it is a PRAGMA, see S_is_pragma) */
	if (!S_held_find(db) || strchr(sql, ';') || S_is_pragma(sql))
		return tv__sqlite_err(sqlite3_exec(db, sql, NULL, NULL, NULL));
	rc = tv__sqlite_stmt(db, &st, sql);
	if (rc)
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		;
	tv__sqlite_stmt_put(st);
	return tv__sqlite_err(r);
}

enum tv_err tv__sqlite_sync(sqlite3 *db, bool durable)
{
	struct tv__sqlite_conn *c = S_held_find(db);
	enum tv_err rc;

	if (!c)
		return TV_ERR_STATE; /* only a pooled connection gets restored */
	rc = tv__sqlite_exec(db, durable ? "PRAGMA synchronous=FULL"
					 : "PRAGMA synchronous=NORMAL");
	if (!rc)
		c->sync_relaxed = !durable;
	return rc;
}

static void S_conn_free(struct tv__sqlite_conn *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_cached; i++)
		sqlite3_finalize(c->cached[i].st);
	sqlite3_close(c->db);
	free(c);
}

static enum tv_err S_connect(struct tv__sqlite *s, struct tv__sqlite_conn **out, int flags)
{
	struct tv__sqlite_conn *c = calloc(1, sizeof(*c));
	enum tv_err rc;

	if (!c)
		return TV_ERR_NOMEM;
	if (sqlite3_open_v2(s->path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		S_conn_free(c);
		return TV_ERR_STORE;
	}
	tv__sqlite_busy_default(c->db);
	/* temp_store=MEMORY: a savepoint's statement journal (the original of
	 * every page it changes, an item's erased inputs among them: keystores,
	 * sealed passwords) and any temporary b-tree stay in this process's
	 * memory. With the default, SQLite wrote them to unlinked files under
	 * /var/tmp, beyond secure_delete's and the WAL truncation's reach, and
	 * the group commit (a savepoint per item) wrote about 100 KB an item
	 * there: two thirds of the import's file writes. */
	rc = tv__sqlite_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
				    "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
				    "PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=0;");
	if (rc) {
		S_conn_free(c);
		return rc;
	}
	if (s->ckpt_started)
		tv__sqlite_ckpt_hook(s, c->db);
	*out = c;
	return TV_OK;
}

enum tv_err tv__sqlite_acquire(struct tv__sqlite *s, sqlite3 **out)
{
	struct tv__sqlite_conn *c = NULL;
	enum tv_err rc = TV_OK;

	if (S_n_held == TV__SQLITE_HELD_MAX)
		return TV_ERR_LIMIT;
	pthread_mutex_lock(&s->lock);
	if (s->n_free)
		c = s->free_conns[--s->n_free];
	else
		s->n_open++;
	pthread_mutex_unlock(&s->lock);
	if (!c) {
		rc = S_connect(s, &c, SQLITE_OPEN_READWRITE);
		if (rc) {
			pthread_mutex_lock(&s->lock);
			s->n_open--;
			pthread_mutex_unlock(&s->lock);
			return rc;
		}
	}
	S_held[S_n_held++] = c;
	*out = c->db;
	return TV_OK;
}

/* Ready c for the next operation; false when it must not be reused. */
static bool S_conn_reset(struct tv__sqlite_conn *c, bool rollback)
{
	size_t i;

	if (rollback && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	/* a statement not put back is a bug; still, none may keep a read
	 * transaction open in the pool */
	for (i = 0; i < c->n_cached; i++) {
		if (!c->cached[i].in_use)
			continue;
		sqlite3_reset(c->cached[i].st);
		sqlite3_clear_bindings(c->cached[i].st);
		c->cached[i].in_use = false;
	}
	if (!sqlite3_get_autocommit(c->db))
		return false; /* a transaction the caller left open */
	/* a connection that commits without fsync must never reach an
	 * operation that needs durability */
	if (c->sync_relaxed &&
	    sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
		return false;
	c->sync_relaxed = false;
	return true;
}

void tv__sqlite_release(struct tv__sqlite *s, sqlite3 *db, bool rollback)
{
	struct tv__sqlite_conn *c = S_held_take(db);

	if (!c) {
		/* not acquired by this thread: a bug; don't pool what we
		 * can't account for */
		sqlite3_close_v2(db);
		pthread_mutex_lock(&s->lock);
		s->n_open--;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (!S_conn_reset(c, rollback)) {
		pthread_mutex_lock(&s->lock);
		s->n_open--;
		pthread_mutex_unlock(&s->lock);
		S_conn_free(c);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->n_free < TV__SQLITE_POOL_MAX) {
		s->free_conns[s->n_free++] = c;
		c = NULL;
	} else {
		s->n_open--;
	}
	pthread_mutex_unlock(&s->lock);
	S_conn_free(c);
}


void tv__sqlite_close(struct tv_store *st)
{
	struct tv__sqlite *s = (struct tv__sqlite *)st;
	size_t i;

	tv__sqlite_ckpt_stop(s);
	for (i = 0; i < s->n_free; i++)
		S_conn_free(s->free_conns[i]);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}



enum tv_err tv__sqlite_open(struct tv_store **out, const char *path, bool create)
{
	struct tv__sqlite_conn *c = NULL;
	struct tv__sqlite *s;
	enum tv_err rc;
	FILE *f;

	f = fopen(path, "rb");
	if (f)
		fclose(f);
	if (create && f)
		return TV_ERR_EXISTS;
	if (!create && !f)
		return TV_ERR_NOT_FOUND;
	s = calloc(1, sizeof(*s));
	if (!s)
		return TV_ERR_NOMEM;
	s->base.ops = &tv__sqlite_ops;
	s->path = strdup(path);
	pthread_mutex_init(&s->lock, NULL);
	if (!s->path) {
		tv__sqlite_close(&s->base);
		return TV_ERR_NOMEM;
	}
	tv__sqlite_ckpt_start(s);
	rc = S_connect(s, &c, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0));
	if (!rc)
		rc = tv__sqlite_migrate(c->db);
	if (rc) {
		S_conn_free(c);
		tv__sqlite_close(&s->base);
		return rc;
	}
	s->n_open = 1;
	s->free_conns[s->n_free++] = c;
	*out = &s->base;
	return TV_OK;
}
