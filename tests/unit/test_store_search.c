/* tv-test-libs: tv_store */
/* The search compiler: parameterised SQL, injection-proof values, and query
 * plans that use the indexes (EXPLAIN QUERY PLAN over a seeded table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

static void test_compiles_to_placeholders(void **state)
{
	struct tv_search_value v1 = { .text = "x' OR 1=1 --" }, v2 = { .num = 2048 };
	struct tv_search_value in[3] = { { .text = "a" }, { .text = "b" }, { .text = "c" } };
	struct tv_search_expr kids[3] = {
		{ .op = TV_SO_MATCH, .field = TV_SF_SUBJECT_CN, .values = &v1, .n_values = 1 },
		{ .op = TV_SO_GTE, .field = TV_SF_KEY_STRENGTH, .values = &v2, .n_values = 1 },
		{ .op = TV_SO_IN, .field = TV_SF_CERTIFICATE_NAME, .values = in, .n_values = 3 },
	};
	struct tv_search_expr or = { .op = TV_SO_OR, .children = kids + 1, .n_children = 2 };
	struct tv_search_expr and_kids[2];
	struct tv_search_expr root = { .op = TV_SO_AND, .children = and_kids, .n_children = 2 };
	struct tv__sql_query *q = calloc(1, sizeof(*q));

	(void)state;
	and_kids[0] = kids[0];
	and_kids[1] = or;
	assert_int_equal(tv__sqlite_search_where(q, &root, 0), TV_OK);
	assert_string_equal(q->sql, "(instr(lower(coalesce(subject_cn, '')), lower(?)) > 0 AND "
				    "(key_strength >= ? OR certificate_name IN (?, ?, ?)))");
	assert_int_equal(q->n_binds, 5);
	assert_string_equal(q->binds[0].text, "x' OR 1=1 --"); /* bound, never spliced */
	assert_null(strstr(q->sql, "OR 1=1"));
	/* malformed trees are refused */
	memset(q, 0, sizeof(*q));
	kids[1].n_values = 0;
	assert_int_equal(tv__sqlite_search_where(q, &kids[1], 0), TV_ERR_INVALID);
	memset(q, 0, sizeof(*q));
	assert_int_equal(tv__sqlite_search_where(q, &root, TV_SEARCH_MAX_DEPTH + 1), TV_ERR_INVALID);
	free(q);
}

/* The plan of a query text, all lines joined. */
static void S_plan(sqlite3 *db, const char *sql, char *out, size_t size)
{
	char full[8400];
	sqlite3_stmt *st;
	size_t len = 0;

	snprintf(full, sizeof(full), "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_prepare_v2(db, full, -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW && len < size - 1)
		len += (size_t)snprintf(out + len, size - len, "%s\n",
					(const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
}

static void test_plans_use_indexes(void **state)
{
	char dir[64], path[128], url[160], plan[2048];
	struct tv_store *st = NULL;
	sqlite3 *db;
	int i;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tlsvault-plan-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(tv_store_open(&st, url, true), TV_OK); /* migrations: the real schema */
	tv_store_close(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO tenants (id, name, created_ms) VALUES ('t', 't', 0);"
				      "BEGIN;", NULL, NULL, NULL), SQLITE_OK);
	for (i = 0; i < 5000; i++) {
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO certificates (id, tenant_id, fingerprint, der, facts,"
			 " validity_end_ms, created_ms, modified_ms) VALUES ('id%d', 't',"
			 " printf('%%040X', %d), x'30', '{}', %d, %d, %d)", i, i * 7919, i * 37 % 5000,
			 i, i);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT; ANALYZE;", NULL, NULL, NULL), SQLITE_OK);
	/* the same SQL text the store runs for these two searches */
	S_plan(db, "SELECT id FROM certificates WHERE tenant_id = ? AND fingerprint = ?"
		   " ORDER BY created_ms DESC, id DESC LIMIT 100 OFFSET 0", plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING INDEX sqlite_autoindex_certificates_2"));
	assert_null(strstr(plan, "SCAN certificates"));
	S_plan(db, "SELECT id FROM certificates WHERE tenant_id = ? ORDER BY validity_end_ms ASC,"
		   " id ASC LIMIT 100 OFFSET 0", plan, sizeof(plan));
	if (!strstr(plan, "certificates_validity_end") || strstr(plan, "TEMP B-TREE"))
		fail_msg("plan: %s", plan);
	sqlite3_close(db);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compiles_to_placeholders),
		cmocka_unit_test(test_plans_use_indexes),
	};

	return cmocka_run_group_tests_name("unit/store_search", tests, NULL, NULL);
}
