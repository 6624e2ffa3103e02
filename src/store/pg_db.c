/*
 * DESIGN: the PostgreSQL backend's plumbing. Each process keeps a pool of
 * connections (one per thread in use, like the SQLite pool); a statement is
 * prepared on a connection the first time it runs there and reused after.
 * A pooled connection whose server went away (a restart, a failover) is
 * noticed by the first command of an operation, which reconnects and
 * retries once: nothing of the operation had run yet. A failure later in an
 * operation is returned, the transaction is rolled back by the server, and
 * the connection is closed instead of pooled.
 *
 * Migrations are numbered and run in one transaction under a transaction
 * advisory lock, so nodes starting at once apply each step exactly once and
 * the others wait, then see the new version. A database written by a newer
 * version is refused.
 *
 * The URL may carry a password: it is kept only to open connections, never
 * logged or put in an error, and wiped when the store closes. Error texts
 * handed to a caller come from libpq, which never repeats a password.
 */
#include "store/pg_int.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"
#include "store/postgres.h"

/* type OIDs of the binary results we read (catalog/pg_type_d.h) */
#define S_BOOLOID 16
#define S_INT8OID 20
#define S_INT2OID 21
#define S_INT4OID 23

/* pg_advisory_xact_lock key for migrations: "tlsvmigr" */
#define S_MIGRATION_LOCK "8388065360734136690"

/* Version n is S_migrations[n - 1]. Never edit a released step: add one.
 * Versions 1 to 3 are the whole schema of SQLite's version 4, in
 * PostgreSQL's types (the numbers of the two backends are independent). Text that search orders by is COLLATE "C" (byte order, as in
 * SQLite) and ids too, so both backends page in the same order. */
static const char *const S_migrations[] = {
	/* 1: tenants, keys, DEKs, edge instances, audit log */
	"CREATE TABLE tenants ("
	"  id text COLLATE \"C\" PRIMARY KEY, name text NOT NULL UNIQUE,"
	"  created_ms bigint NOT NULL, trust_version bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE deks ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  public_key bytea NOT NULL CHECK (length(public_key) = 32),"
	"  wrapped_secret_key bytea NOT NULL,"
	"  created_ms bigint NOT NULL, last_backup_ms bigint);"
	"CREATE INDEX deks_tenant ON deks(tenant_id);"
	"CREATE TABLE edge_instances ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  name text NOT NULL, environment_id text NOT NULL,"
	"  dek_id text NOT NULL REFERENCES deks(id),"
	"  deployed_ms bigint NOT NULL, dek_deployed_ms bigint NOT NULL,"
	"  last_seen_ms bigint, modified_ms bigint NOT NULL);"
	"CREATE INDEX edge_instances_tenant ON edge_instances(tenant_id);"
	"CREATE TABLE api_keys ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  name text NOT NULL,"
	"  role text NOT NULL CHECK (role IN ('READ_ONLY','PKI_ADMIN','ADMIN')),"
	"  key_hash bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),"
	"  created_ms bigint NOT NULL, expires_ms bigint,"
	"  last_used_ms bigint, revoked_ms bigint);"
	"CREATE INDEX api_keys_tenant ON api_keys(tenant_id);"
	"CREATE TABLE audit_log ("
	"  id bigserial PRIMARY KEY, ts_ms bigint NOT NULL,"
	"  tenant_id text, actor text, action text NOT NULL,"
	"  object_id text, detail text, outcome text NOT NULL DEFAULT 'ok', request_id text);"
	"CREATE INDEX audit_log_tenant_ts ON audit_log(tenant_id, ts_ms);"
	"CREATE INDEX audit_log_tenant_id ON audit_log(tenant_id, id);",

	/* 2: trusted CAs and the vault */
	"CREATE TABLE trusted_cas ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  fingerprint text NOT NULL, certificate_type text NOT NULL,"
	"  der bytea NOT NULL, facts text NOT NULL, created_ms bigint NOT NULL,"
	"  UNIQUE (tenant_id, fingerprint));"
	"CREATE TABLE certificates ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  fingerprint text COLLATE \"C\" NOT NULL, der bytea NOT NULL, facts text NOT NULL,"
	"  certificate_name text COLLATE \"C\", subject_cn text COLLATE \"C\","
	"  san_dns text COLLATE \"C\", serial_number text COLLATE \"C\","
	"  issuer_dn text COLLATE \"C\", encryption_type text COLLATE \"C\","
	"  key_strength integer, validity_start_ms bigint, validity_end_ms bigint,"
	"  status text COLLATE \"C\" NOT NULL DEFAULT 'ACTIVE'"
	"    CHECK (status IN ('ACTIVE','RETIRED')),"
	"  dek_id text, sealed_key bytea, issuer_ids text NOT NULL DEFAULT '[]',"
	"  import_job_id text, label text,"
	"  created_ms bigint NOT NULL, modified_ms bigint NOT NULL,"
	"  UNIQUE (tenant_id, fingerprint));"
	/* each ordering index ends with id, the tiebreaker; NULLS FIRST as
	 * SQLite orders them, which the search's ORDER BY spells out */
	"CREATE INDEX certificates_validity_end"
	"  ON certificates(tenant_id, validity_end_ms NULLS FIRST, id);"
	"CREATE INDEX certificates_created ON certificates(tenant_id, created_ms NULLS FIRST, id);"
	"CREATE INDEX certificates_validity_start"
	"  ON certificates(tenant_id, validity_start_ms NULLS FIRST, id);"
	"CREATE INDEX certificates_name"
	"  ON certificates(tenant_id, certificate_name NULLS FIRST, id);",

	/* 3: the import queue */
	"CREATE TABLE import_jobs ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  edge_id text NOT NULL, dek_id text NOT NULL, dry_run boolean NOT NULL,"
	"  status text NOT NULL, n_items integer NOT NULL, n_final integer NOT NULL,"
	"  created_ms bigint NOT NULL, completed_ms bigint);"
	"CREATE INDEX import_jobs_tenant ON import_jobs(tenant_id, created_ms);"
	"CREATE TABLE import_items ("
	"  job_id text COLLATE \"C\" NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,"
	"  item_index integer NOT NULL, kind integer NOT NULL,"
	"  keystore bytea, key_blob bytea, sealed_password bytea, label text,"
	"  state text NOT NULL CHECK (state IN ('WAITING','PROCESSING','FINAL')),"
	"  lease_owner text, lease_until_ms bigint, attempts integer NOT NULL DEFAULT 0,"
	"  queued_ms bigint NOT NULL, tenant_id text COLLATE \"C\" NOT NULL,"
	"  PRIMARY KEY (job_id, item_index));"
	/* the queue indexes cover only open items: FINAL rows are history */
	"CREATE INDEX import_items_queue ON import_items(state, tenant_id, lease_until_ms)"
	"  WHERE state <> 'FINAL';"
	"CREATE INDEX import_items_tenant ON import_items(tenant_id, queued_ms, job_id, item_index)"
	"  WHERE state <> 'FINAL';"
	"CREATE TABLE import_results ("
	"  job_id text NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,"
	"  item_index integer NOT NULL, seq integer NOT NULL,"
	"  status text NOT NULL, reason text NOT NULL DEFAULT '',"
	"  fingerprint text NOT NULL DEFAULT '', der bytea, certificate_id text, label text,"
	"  PRIMARY KEY (job_id, item_index, seq));"
	"CREATE INDEX import_results_fingerprint ON import_results(job_id, fingerprint);"
	/* the round-robin turn: a higher seq was served more recently */
	"CREATE TABLE queue_turns (tenant_id text PRIMARY KEY, seq bigint NOT NULL);"
	"CREATE SEQUENCE queue_turn_seq;",
};

/* ---------- parameters ---------- */

static void S_arg(struct tv__pg_args *a, const char *v, int len, int fmt)
{
	if (a->n >= TV__PG_MAX_PARAMS)
		return; /* a programming error; the server will reject the count */
	a->v[a->n] = v;
	a->len[a->n] = len;
	a->fmt[a->n] = fmt;
	a->n++;
}

void tv__pg_text(struct tv__pg_args *a, const char *s)
{
	S_arg(a, s, 0, 0);
}

void tv__pg_i64(struct tv__pg_args *a, int64_t v)
{
	if (a->n >= TV__PG_MAX_PARAMS)
		return;
	snprintf(a->num[a->n], sizeof(a->num[a->n]), "%lld", (long long)v);
	S_arg(a, a->num[a->n], 0, 0);
}

void tv__pg_ms(struct tv__pg_args *a, int64_t v)
{
	if (v)
		tv__pg_i64(a, v);
	else
		S_arg(a, NULL, 0, 0);
}

void tv__pg_blob(struct tv__pg_args *a, const void *p, size_t len)
{
	if (!p)
		S_arg(a, NULL, 0, 1);
	else
		S_arg(a, len ? (const char *)p : "", (int)len, 1);
}

void tv__pg_bool(struct tv__pg_args *a, bool v)
{
	S_arg(a, v ? "true" : "false", 0, 0);
}

/* ---------- errors and execution ---------- */

static enum tv_err S_map(const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (!state)
		return TV_ERR_STORE;
	if (!strncmp(state, "23", 2))
		return TV_ERR_EXISTS; /* integrity: unique, foreign key, check */
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
	    !strcmp(state, "57014"))
		return TV_ERR_BUSY; /* serialization, deadlock, lock timeout, cancel */
	if (!strcmp(state, "53200"))
		return TV_ERR_NOMEM;
	return TV_ERR_STORE;
}

/* The result's status as tv_err; the result is kept on success only. */
static enum tv_err S_check(PGresult *r, PGresult **res)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	enum tv_err rc;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (res)
			*res = r;
		else
			PQclear(r);
		return TV_OK;
	}
	rc = S_map(r);
	PQclear(r);
	return rc;
}

/* Settings of every session: a lock wait like SQLite's busy_timeout, and a
 * node that hangs inside a transaction loses it (and its row locks) instead
 * of stalling the queue. */
static bool S_session(PGconn *pg)
{
	PGresult *r = PQexec(pg, "SET lock_timeout = '10s';"
				 " SET idle_in_transaction_session_timeout = '60s'");
	bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok;
}

/* A command failed: if the link broke before this operation had done
 * anything (fresh), reconnect so the caller can run it again. */
static bool S_reconnect(struct tv__pg_conn *c, bool fresh, const PGresult *r)
{
	if (!fresh || (r && PQresultStatus(r) != PGRES_FATAL_ERROR) ||
	    PQstatus(c->pg) != CONNECTION_BAD)
		return false;
	PQreset(c->pg);
	c->n_prepared = 0; /* the new session has none */
	return PQstatus(c->pg) == CONNECTION_OK && S_session(c->pg);
}

enum tv_err tv__pg_exec(struct tv__pg_conn *c, const char *sql)
{
	bool fresh = !c->used;
	PGresult *r;

	c->used = true;
	r = PQexec(c->pg, sql);
	if (S_reconnect(c, fresh, r)) {
		PQclear(r);
		r = PQexec(c->pg, sql);
	}
	return S_check(r, NULL);
}

/* The name of sql on c, preparing it first if needed. */
static enum tv_err S_prepared(struct tv__pg_conn *c, const struct tv__pg_sql *sql, int n,
			      char name[24])
{
	size_t i;

	for (i = 0; i < c->n_prepared; i++) {
		if (c->prepared[i] == sql) {
			snprintf(name, 24, "tv%zu", i);
			return TV_OK;
		}
	}
	if (c->n_prepared == c->cap_prepared) {
		size_t cap = c->cap_prepared ? c->cap_prepared * 2 : 32;
		const struct tv__pg_sql **p = realloc(c->prepared, cap * sizeof(*p));

		if (!p)
			return TV_ERR_NOMEM;
		c->prepared = p;
		c->cap_prepared = cap;
	}
	snprintf(name, 24, "tv%zu", c->n_prepared);
	if (S_check(PQprepare(c->pg, name, sql->text, n, NULL), NULL) != TV_OK)
		return TV_ERR_STORE;
	c->prepared[c->n_prepared++] = sql;
	return TV_OK;
}

enum tv_err tv__pg_run(struct tv__pg_conn *c, const struct tv__pg_sql *sql,
		       const struct tv__pg_args *a, PGresult **res)
{
	static const struct tv__pg_args none = { .n = 0 };
	bool fresh = !c->used;
	PGresult *r = NULL;
	char name[24];
	int tries;

	if (!a)
		a = &none;
	c->used = true;
	for (tries = 0; tries < 2; tries++) {
		PQclear(r);
		r = NULL;
		if (S_prepared(c, sql, a->n, name) == TV_OK)
			r = PQexecPrepared(c->pg, name, a->n, a->v, a->len, a->fmt, 1);
		if (!S_reconnect(c, fresh && tries == 0, r))
			break;
	}
	return S_check(r, res);
}

enum tv_err tv__pg_run_text(struct tv__pg_conn *c, const char *sql, int n,
			    const char *const *v, const int *len, const int *fmt, PGresult **res)
{
	bool fresh = !c->used;
	PGresult *r;

	c->used = true;
	r = PQexecParams(c->pg, sql, n, NULL, v, len, fmt, 1);
	if (S_reconnect(c, fresh, r)) {
		PQclear(r);
		r = PQexecParams(c->pg, sql, n, NULL, v, len, fmt, 1);
	}
	return S_check(r, res);
}

int64_t tv__pg_changes(const PGresult *r)
{
	const char *t = PQcmdTuples((PGresult *)r);

	return t && *t ? strtoll(t, NULL, 10) : 0;
}

/* ---------- result readers ---------- */

void tv__pg_get_text(char *dst, size_t size, const PGresult *r, int row, int col)
{
	size_t n = 0;

	if (!PQgetisnull(r, row, col)) {
		n = (size_t)PQgetlength(r, row, col);
		if (n >= size)
			n = size - 1;
		memcpy(dst, PQgetvalue(r, row, col), n);
	}
	dst[n] = '\0';
}

int64_t tv__pg_get_i64(const PGresult *r, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
	int len = PQgetlength(r, row, col);
	uint64_t v = 0;
	int i;

	if (PQgetisnull(r, row, col))
		return 0;
	switch (PQftype(r, col)) {
	case S_BOOLOID:
		return len == 1 && p[0] != 0;
	case S_INT2OID:
	case S_INT4OID:
	case S_INT8OID:
		break;
	default:
		return 0; /* not a number: a query bug the tests would show */
	}
	if (len != 2 && len != 4 && len != 8)
		return 0;
	for (i = 0; i < len; i++)
		v = (v << 8) | p[i];
	/* sign-extend the narrower integers */
	if (len == 2)
		return (int16_t)(uint16_t)v;
	if (len == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

enum tv_err tv__pg_get_blob(unsigned char **out, size_t *len, const PGresult *r, int row,
			    int col)
{
	size_t n;

	*out = NULL;
	*len = 0;
	if (PQgetisnull(r, row, col))
		return TV_OK;
	n = (size_t)PQgetlength(r, row, col);
	*out = malloc(n ? n : 1);
	if (!*out)
		return TV_ERR_NOMEM;
	if (n)
		memcpy(*out, PQgetvalue(r, row, col), n);
	*len = n;
	return TV_OK;
}

char *tv__pg_get_strdup(const PGresult *r, int row, int col, const char *dflt)
{
	size_t n;
	char *s;

	if (PQgetisnull(r, row, col))
		return strdup(dflt);
	n = (size_t)PQgetlength(r, row, col);
	s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, PQgetvalue(r, row, col), n);
	s[n] = '\0';
	return s;
}

/* ---------- the pool ---------- */

/* First line of libpq's message into why (it names hosts, never passwords). */
static void S_why(char *why, size_t size, const char *msg)
{
	size_t n;

	if (!why || !size)
		return;
	n = msg ? strcspn(msg, "\n") : 0;
	snprintf(why, size, "%.*s", (int)n, msg ? msg : "");
}

static void S_no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static enum tv_err S_connect(const char *url, struct tv__pg_conn **out, char *why,
			     size_t why_size)
{
	/* before dbname, so the URL can override them: give up connecting after
	 * 10 s, and notice a silent peer (a dead server, a partition) within
	 * about a minute instead of the kernel's two hours */
	static const char *const keys[] = { "connect_timeout", "keepalives_idle",
					    "keepalives_interval", "keepalives_count",
					    "fallback_application_name", "dbname", NULL };
	const char *vals[] = { "10", "30", "10", "3", "tlsvaultd", url, NULL };
	struct tv__pg_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return TV_ERR_NOMEM;
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		S_why(why, why_size, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		tv__pg_conn_free(c);
		return TV_ERR_STORE;
	}
	/* the server's notices would go to stderr, outside the JSON log */
	PQsetNoticeProcessor(c->pg, S_no_notices, NULL);
	if (!S_session(c->pg)) {
		S_why(why, why_size, PQerrorMessage(c->pg));
		tv__pg_conn_free(c);
		return TV_ERR_STORE;
	}
	*out = c;
	return TV_OK;
}

void tv__pg_conn_free(struct tv__pg_conn *c)
{
	if (!c)
		return;
	if (c->pg)
		PQfinish(c->pg);
	free(c->prepared);
	free(c);
}

enum tv_err tv__pg_acquire(struct tv__pg *s, struct tv__pg_conn **out)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_free) {
		*out = s->free_conns[--s->n_free];
		pthread_mutex_unlock(&s->lock);
		(*out)->used = false;
		return TV_OK;
	}
	pthread_mutex_unlock(&s->lock);
	return S_connect(s->url, out, NULL, 0);
}

void tv__pg_release(struct tv__pg *s, struct tv__pg_conn *c)
{
	if (!c)
		return;
	if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		PQclear(PQexec(c->pg, "ROLLBACK"));
	if (PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		tv__pg_conn_free(c);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->n_free < TV__PG_POOL_MAX) {
		s->free_conns[s->n_free++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	tv__pg_conn_free(c);
}

enum tv_err tv__pg_query_one(struct tv__pg *s, const struct tv__pg_sql *sql, const char *a,
			     const char *b, enum tv_err (*row)(const PGresult *r, void *out),
			     void *out)
{
	struct tv__pg_args args = { .n = 0 };
	struct tv__pg_conn *c;
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_acquire(s, &c);

	if (rc)
		return rc;
	if (a)
		tv__pg_text(&args, a);
	if (b)
		tv__pg_text(&args, b);
	rc = tv__pg_run(c, sql, &args, &r);
	if (!rc)
		rc = PQntuples(r) > 0 ? row(r, out) : TV_ERR_NOT_FOUND;
	PQclear(r);
	tv__pg_release(s, c);
	return rc;
}

/* ---------- migrations ---------- */

/* One value of a one-row query without parameters; -1 for SQL NULL. */
static enum tv_err S_scalar(struct tv__pg_conn *c, const char *sql, int64_t *v)
{
	PGresult *r = NULL;
	enum tv_err rc = tv__pg_run_text(c, sql, 0, NULL, NULL, NULL, &r);

	if (rc)
		return rc;
	if (PQntuples(r) != 1)
		rc = TV_ERR_STORE;
	else
		*v = PQgetisnull(r, 0, 0) ? -1 : tv__pg_get_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

static enum tv_err S_apply(struct tv__pg_conn *c, int version)
{
	char sql[200];
	enum tv_err rc = tv__pg_exec(c, S_migrations[version - 1]);

	snprintf(sql, sizeof(sql),
		 "INSERT INTO schema_migrations VALUES (%d,"
		 " (extract(epoch FROM clock_timestamp()) * 1000)::bigint)", version);
	if (!rc)
		rc = tv__pg_exec(c, sql);
	return rc;
}

/* In one locked transaction: refuse (create) a database that holds a vault
 * already, or (open) one without a vault; then bring the schema to the
 * latest version. */
static enum tv_err S_migrate(struct tv__pg_conn *c, bool create)
{
	const int latest = (int)(sizeof(S_migrations) / sizeof(S_migrations[0]));
	int64_t has_schema = 0, version = 0;
	enum tv_err rc;
	int v;

	rc = tv__pg_exec(c, "BEGIN");
	if (!rc)
		rc = tv__pg_exec(c, "SELECT pg_advisory_xact_lock(" S_MIGRATION_LOCK ")");
	if (!rc)
		rc = S_scalar(c, "SELECT (to_regclass('schema_migrations') IS NOT NULL)::int4",
			      &has_schema);
	if (!rc && has_schema && create)
		rc = TV_ERR_EXISTS;
	if (!rc && !has_schema && !create)
		rc = TV_ERR_NOT_FOUND; /* no vault in this database: run init */
	if (!rc && has_schema)
		rc = S_scalar(c, "SELECT coalesce(max(version), 0) FROM schema_migrations",
			      &version);
	if (!rc && version > latest)
		rc = TV_ERR_VERSION; /* a newer tlsvaultd wrote this database */
	if (!rc && !has_schema)
		rc = tv__pg_exec(c, "CREATE TABLE schema_migrations ("
				    " version integer PRIMARY KEY, applied_ms bigint NOT NULL)");
	for (v = (int)version + 1; !rc && v <= latest; v++)
		rc = S_apply(c, v);
	if (!rc)
		rc = tv__pg_exec(c, "COMMIT");
	if (rc && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		PQclear(PQexec(c->pg, "ROLLBACK"));
	return rc;
}

/* ---------- open, close ---------- */

void tv__pg_close(struct tv_store *st)
{
	struct tv__pg *s = (struct tv__pg *)st;
	size_t i;

	for (i = 0; i < s->n_free; i++)
		tv__pg_conn_free(s->free_conns[i]);
	tv__pg_conn_free(s->listener);
	pthread_mutex_destroy(&s->lock);
	if (s->url) {
		tv_wipe(s->url, strlen(s->url));
		free(s->url);
	}
	free(s);
}

enum tv_err tv__pg_open(struct tv_store **out, const char *url, bool create, char *why,
			size_t why_size)
{
	struct tv__pg_conn *c = NULL;
	struct tv__pg *s;
	enum tv_err rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return TV_ERR_NOMEM;
	s->base.ops = &tv__pg_ops;
	pthread_mutex_init(&s->lock, NULL);
	s->url = strdup(url);
	if (!s->url) {
		tv__pg_close(&s->base);
		return TV_ERR_NOMEM;
	}
	rc = S_connect(s->url, &c, why, why_size);
	if (!rc) {
		rc = S_migrate(c, create);
		if (rc && rc != TV_ERR_NOT_FOUND && rc != TV_ERR_EXISTS &&
		    rc != TV_ERR_VERSION)
			S_why(why, why_size, PQerrorMessage(c->pg));
	}
	if (rc) {
		tv__pg_conn_free(c);
		tv__pg_close(&s->base);
		return rc;
	}
	c->used = false;
	s->free_conns[s->n_free++] = c;
	*out = &s->base;
	return TV_OK;
}

/* ---------- events: LISTEN/NOTIFY ---------- */

static enum tv_err S_listen(struct tv__pg *s)
{
	enum tv_err rc;

	if (s->listener)
		return TV_OK;
	rc = S_connect(s->url, &s->listener, NULL, 0);
	if (!rc)
		rc = tv__pg_exec(s->listener, "LISTEN " TV__PG_CHANNEL_JOB_NEW ";"
					      " LISTEN " TV__PG_CHANNEL_JOB_FINAL);
	if (rc) {
		tv__pg_conn_free(s->listener);
		s->listener = NULL;
	}
	return rc;
}

/* Collect the notifications already received. */
static void S_drain(PGconn *pg, unsigned *events)
{
	PGnotify *n;

	while ((n = PQnotifies(pg)) != NULL) {
		if (!strcmp(n->relname, TV__PG_CHANNEL_JOB_NEW))
			*events |= TV_STORE_EV_JOB_NEW;
		else if (!strcmp(n->relname, TV__PG_CHANNEL_JOB_FINAL))
			*events |= TV_STORE_EV_JOB_FINAL;
		PQfreemem(n);
	}
}

enum tv_err tv__pg_events_wait(struct tv_store *st, int timeout_ms, unsigned *events)
{
	struct tv__pg *s = (struct tv__pg *)st;
	struct pollfd pfd;
	enum tv_err rc;
	int r;

	*events = 0;
	rc = S_listen(s);
	if (rc)
		return rc;
	S_drain(s->listener->pg, events);
	if (*events)
		return TV_OK;
	pfd.fd = PQsocket(s->listener->pg);
	pfd.events = POLLIN;
	pfd.revents = 0;
	r = pfd.fd >= 0 ? poll(&pfd, 1, timeout_ms) : -1;
	if (r > 0 && !PQconsumeInput(s->listener->pg))
		r = -1;
	if (r < 0) {
		/* the link broke: drop it; the next call reconnects, and the
		 * callers' own polling covers what was missed meanwhile */
		tv__pg_conn_free(s->listener);
		s->listener = NULL;
		return TV_ERR_STORE;
	}
	S_drain(s->listener->pg, events);
	return TV_OK;
}
