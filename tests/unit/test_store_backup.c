/* tv-test-libs: tv_store */
/* Unit tests of the SQLite backup and the restore checks (store/backup.h):
 * a copy of a vault verifies and opens as a vault, an existing output file
 * is refused untouched, and files that are not vaults are told apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/backup.h"
#include "store/store.h"

static char S_dir[64];

static int S_setup(void **state)
{
	(void)state;
	snprintf(S_dir, sizeof(S_dir), "/tmp/tlsvault-backup-XXXXXX");
	return mkdtemp(S_dir) ? 0 : -1;
}

static int S_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_backup_and_verify(void **state)
{
	struct tv_tenant t = { .created_ms = 1 }, got;
	struct tv_dek d = { .wrapped_len = 72, .created_ms = 1 };
	struct tv_edge e = { .deployed_ms = 1, .dek_deployed_ms = 1, .modified_ms = 1 };
	struct tv_apikey k = { .role = TV_ROLE_ADMIN, .created_ms = 1 };
	struct tv_backup_report rep;
	struct tv_store *st = NULL, *copy = NULL;
	char db[128], url[160], out[128], why[256], copy_url[160];
	struct stat sb;
	int version = 0;

	(void)state;
	snprintf(db, sizeof(db), "%s/v.db", S_dir);
	snprintf(url, sizeof(url), "sqlite:%s", db);
	snprintf(out, sizeof(out), "%s/copy.db", S_dir);
	assert_int_equal(tv_store_open(&st, url, true), TV_OK);
	snprintf(t.id, sizeof(t.id), "00000000-0000-4000-8000-000000000001");
	snprintf(t.name, sizeof(t.name), "t");
	snprintf(d.id, sizeof(d.id), "dek");
	memcpy(d.tenant_id, t.id, sizeof(t.id));
	snprintf(e.id, sizeof(e.id), "10000000-0000-4000-8000-000000000001");
	memcpy(e.tenant_id, t.id, sizeof(t.id));
	snprintf(e.dek_id, sizeof(e.dek_id), "dek");
	snprintf(k.id, sizeof(k.id), "20000000-0000-4000-8000-000000000001");
	memcpy(k.tenant_id, t.id, sizeof(t.id));
	assert_int_equal(st->ops->tenant_bootstrap(st, &t, &d, &e, &k), TV_OK);

	/* the store stays open (a server would be using it) */
	assert_int_equal(tv_store_sqlite_backup(db, out, &rep, why, sizeof(why)), TV_OK);
	assert_true(rep.pages > 0);
	assert_true(rep.bytes > 0);
	assert_true(rep.schema_version >= 4);
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(rep.bytes, (int64_t)sb.st_size);
	assert_int_equal(tv_store_sqlite_verify(out, &version, why, sizeof(why)), TV_OK);
	assert_int_equal(version, rep.schema_version);

	/* an existing output is refused and left as it was */
	assert_int_equal(tv_store_sqlite_backup(db, out, &rep, why, sizeof(why)), TV_ERR_EXISTS);
	assert_int_equal(tv_store_sqlite_verify(out, &version, why, sizeof(why)), TV_OK);
	/* no source: nothing made */
	snprintf(copy_url, sizeof(copy_url), "%s/other.db", S_dir);
	assert_int_equal(tv_store_sqlite_backup("/nonexistent/v.db", copy_url, &rep, why,
						sizeof(why)),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(access(copy_url, F_OK), -1);

	/* the copy is a vault with the same tenant */
	snprintf(copy_url, sizeof(copy_url), "sqlite:%s", out);
	assert_int_equal(tv_store_open(&copy, copy_url, false), TV_OK);
	assert_int_equal(copy->ops->tenant_get(copy, t.id, &got), TV_OK);
	assert_string_equal(got.name, "t");
	tv_store_close(copy);
	tv_store_close(st);
}

static void test_verify_refuses(void **state)
{
	char path[128], why[256];
	sqlite3 *db = NULL;
	int version = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/junk", S_dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs("this is not a database, not even close to one, and long enough", f);
	fclose(f);
	assert_int_equal(tv_store_sqlite_verify(path, &version, why, sizeof(why)), TV_ERR_INVALID);
	assert_true(why[0] != '\0');

	/* a SQLite database that is not a vault */
	snprintf(path, sizeof(path), "%s/other.db", S_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE x (a)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(tv_store_sqlite_verify(path, &version, why, sizeof(why)), TV_ERR_INVALID);
	assert_non_null(strstr(why, "schema_migrations"));

	/* schema_migrations alone is not enough */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE schema_migrations (version, applied_ms);"
					  "INSERT INTO schema_migrations VALUES (4, 0)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(tv_store_sqlite_verify(path, &version, why, sizeof(why)), TV_ERR_INVALID);
	assert_non_null(strstr(why, "no table"));

	assert_int_equal(tv_store_sqlite_verify("/nonexistent/x.db", &version, why, sizeof(why)),
			 TV_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup_and_verify),
		cmocka_unit_test(test_verify_refuses),
	};

	return cmocka_run_group_tests_name("unit/store_backup", tests, S_setup, S_teardown);
}
