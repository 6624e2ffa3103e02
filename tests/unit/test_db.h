/*
 * test_db.h - the database a store test runs on, for tests that run against
 * both backends: SQLite in a temporary directory by default, or a fresh
 * PostgreSQL database when TV_TEST_DB names a server. tests/pg/with-pg.sh
 * starts one and sets TV_TEST_DB; CTest runs each test whose source says
 * "tv-test-pg: both" once plainly and once under with-pg.sh (unit-pg/...).
 *
 * Static functions only, so each test includes it without a library.
 */
#ifndef TV_TESTS_TEST_DB_H
#define TV_TESTS_TEST_DB_H

#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tvt_db {
	char dir[64];   /* a temporary directory (both backends) */
	char url[512];  /* what tv_store_open takes */
	char name[64];  /* PostgreSQL: the database's name */
	bool pg;
};

static inline const char *tvt_db_server(void)
{
	const char *s = getenv("TV_TEST_DB");

	return s && *s ? s : NULL;
}

/* Run one statement on the server's maintenance URL; 0 on success. */
static inline int tvt__pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(tvt_db_server());
	PGresult *r;
	int ok;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "test_db: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "test_db: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/** A new empty database (no schema yet: tv_store_open(create) makes it). */
static inline int tvt_db_new(struct tvt_db *d, const char *tag)
{
	const char *server = tvt_db_server();
	unsigned char rnd[6];
	char sql[128];
	const char *slash;

	memset(d, 0, sizeof(*d));
	if (sodium_init() < 0)
		return -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/tlsvault-%s-XXXXXX", tag);
	if (!mkdtemp(d->dir))
		return -1;
	if (!server) {
		snprintf(d->url, sizeof(d->url), "sqlite:%s/t.db", d->dir);
		return 0;
	}
	d->pg = true;
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(d->name, sizeof(d->name), "tv_%s_%02x%02x%02x%02x%02x%02x", tag, rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5]);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", d->name);
	if (tvt__pg_admin(sql))
		return -1;
	slash = strrchr(server, '/');
	if (!slash)
		return -1;
	snprintf(d->url, sizeof(d->url), "%.*s/%s", (int)(slash - server), server, d->name);
	return 0;
}

/** Drop the database and remove the directory. */
static inline int tvt_db_drop(struct tvt_db *d)
{
	char cmd[128];
	int rc = 0;

	if (d->pg) {
		snprintf(cmd, sizeof(cmd), "DROP DATABASE IF EXISTS %s WITH (FORCE)", d->name);
		rc = tvt__pg_admin(cmd);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		rc = -1;
	return rc;
}

/**
 * Run one SQL text on the test database, outside the store (to set up a
 * state the API can't make). *value (may be NULL) gets the first column of
 * the first row as a number. 0 on success.
 */
static inline int tvt_db_sql(const struct tvt_db *d, const char *sql, long long *value)
{
	int ok = 0;

	if (d->pg) {
		PGconn *c = PQconnectdb(d->url);
		PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;

		ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK ||
			   PQresultStatus(r) == PGRES_TUPLES_OK);
		if (ok && value)
			*value = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
		if (!ok)
			fprintf(stderr, "test_db: %s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		int r;

		ok = sqlite3_open(d->url + 7, &db) == SQLITE_OK &&
		     sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
		r = ok ? sqlite3_step(st) : SQLITE_ERROR;
		ok = r == SQLITE_ROW || r == SQLITE_DONE;
		if (ok && value)
			*value = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		if (!ok)
			fprintf(stderr, "test_db: %s: %s\n", sql, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	return ok ? 0 : -1;
}

#endif
