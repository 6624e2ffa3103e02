/* tv-test-libs: tv_store */
/*
 * test_store_busy.c - waiting for the SQLite write lock. SQLite's own busy
 * handler backs off in steps of up to 100 ms, which made an accepted import
 * POST wait 175 ms (median) behind one-item commits that take about 1 ms
 * (make bench, accept rows). The store's handler polls in steps of at most
 * 1 ms and still gives up after about 10 s. These tests pin that schedule,
 * and that a writer blocked by another connection waits for it and then
 * succeeds instead of failing with TV_ERR_BUSY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/sqlite_int.h"
#include "store/store.h"

static void test_busy_schedule(void **state)
{
	long us, total = 0;
	int count;

	(void)state;
	assert_true(tv__sqlite_busy_sleep_us(0) <= 100);
	for (count = 0; (us = tv__sqlite_busy_sleep_us(count)) >= 0; count++) {
		assert_true(us > 0);
		assert_true(us <= TV__SQLITE_BUSY_MAX_SLEEP_US);
		total += us;
	}
	/* it gives up, after about the timeout and not much later */
	assert_true(count > 5);
	assert_true(total >= TV__SQLITE_BUSY_TIMEOUT_MS * 1000L);
	assert_true(total <= TV__SQLITE_BUSY_TIMEOUT_MS * 1000L + 5000);
	assert_int_equal(tv__sqlite_busy_sleep_us(-1), -1);
}

struct S_writer {
	struct tv_store *st;
	atomic_int done;
	enum tv_err rc;
};

static void *S_write(void *arg)
{
	struct S_writer *w = arg;
	struct tv_audit a = { .ts_ms = 1, .actor = "test", .action = "busy.wait" };

	w->rc = w->st->ops->audit_append(w->st, &a);
	atomic_store(&w->done, 1);
	return NULL;
}

/* A writer that finds the lock held waits for it, then writes. */
static void test_writer_waits_for_the_lock(void **state)
{
	char dir[64] = "/tmp/tlsvault-busy-XXXXXX", path[128], url[160], cmd[128];
	struct timespec hold = { 0, 30 * 1000000L };
	struct S_writer w;
	sqlite3 *holder = NULL;
	pthread_t th;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	memset(&w, 0, sizeof(w));
	assert_int_equal(tv_store_open(&w.st, url, true), TV_OK);
	assert_int_equal(sqlite3_open(path, &holder), SQLITE_OK);
	assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(pthread_create(&th, NULL, S_write, &w), 0);
	/* the lock is held for a while: the writer can't have finished */
	nanosleep(&hold, NULL);
	assert_int_equal(atomic_load(&w.done), 0);
	assert_int_equal(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.rc, TV_OK);
	sqlite3_close(holder);
	tv_store_close(w.st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_schedule),
		cmocka_unit_test(test_writer_waits_for_the_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
