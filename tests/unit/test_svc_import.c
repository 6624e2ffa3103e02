/* tv-test-libs: tv_svc */
/* tv-test-pg: both */
/* Unit tests of the importer (on SQLite, and on PostgreSQL under unit-pg/):
 * an item that keeps crashing its workers ends as INTERNAL_ERROR instead of
 * looping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "svc/account.h"
#include "svc/import.h"
#include "test_db.h"

static void test_crashing_item_fails(void **state)
{
	struct tv_tenant_created t = { 0 };
	struct tv_store *st = NULL;
	struct tv_secbuf *master = NULL;
	struct tv_keyring *kr = NULL;
	struct tv_trust_cache *cache = NULL;
	struct tv_importer *imp = NULL;
	struct tv_importer_config cfg = { .workers = 1, .lease_ms = 60000 };
	struct tv_import_item item = { .index = 0, .kind = TV_ITEM_PKCS12 };
	struct tv_import_job job;
	struct tv_claimed_item ci;
	struct tv_import_result *res = NULL;
	enum tv_import_verdict verdict;
	struct tvt_db db;
	size_t n = 0;
	int64_t deadline;
	int i;

	(void)state;
	assert_int_equal(tvt_db_new(&db, "imp"), 0);
	assert_int_equal(tv_store_open(&st, db.url, true), TV_OK);
	assert_int_equal(tv_secbuf_new(&master, 32), TV_OK);
	randombytes_buf(master->p, 32);
	assert_int_equal(tv_svc_tenant_create(&t, st, master, "t"), TV_OK);
	memset(&job, 0, sizeof(job));
	memcpy(job.tenant_id, t.tenant_id, sizeof(job.tenant_id));
	memcpy(job.edge_id, t.edge_instance_id, sizeof(job.edge_id));
	memcpy(job.dek_id, t.encryption_key_id, sizeof(job.dek_id));
	item.keystore = (unsigned char *)"not a keystore";
	item.keystore_len = 14;
	assert_int_equal(tv_import_create(st, &job, &item, 1, 0, &verdict), TV_OK);
	assert_int_equal(verdict, TV_IMPORT_ACCEPTED);
	/* three workers take it and die (their leases expire at once) */
	for (i = 0; i < TV_IMPORT_MAX_ATTEMPTS; i++) {
		assert_int_equal(st->ops->item_claim(st, "crasher", tv_now_ms(), tv_now_ms() - 1, 0, &ci),
				 TV_OK);
		assert_int_equal(ci.attempts, i + 1);
		tv_import_item_release(&ci.item);
	}
	assert_int_equal(tv_keyring_new(&kr, st, master), TV_OK);
	assert_int_equal(tv_trust_cache_new(&cache, st, NULL), TV_OK);
	assert_int_equal(tv_importer_start(&imp, st, kr, cache, &cfg), TV_OK);
	tv_importer_notify(imp);
	deadline = tv_mono_ms() + 20000;
	for (;;) {
		assert_int_equal(st->ops->job_get(st, t.tenant_id, job.id, &job, &res, &n), TV_OK);
		if (!strcmp(job.status, "FAILED"))
			break;
		tv_import_results_free(res, n);
		res = NULL;
		assert_true(tv_mono_ms() < deadline);
		usleep(20000);
	}
	assert_int_equal(n, 1);
	assert_string_equal(res[0].status, "FAILED");
	assert_non_null(strstr(res[0].reason, "INTERNAL_ERROR"));
	tv_import_results_free(res, n);
	tv_importer_stop(imp);
	tv_trust_cache_free(cache);
	tv_keyring_free(kr);
	tv_secbuf_free(t.api_key);
	tv_secbuf_free(master);
	tv_store_close(st);
	assert_int_equal(tvt_db_drop(&db), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crashing_item_fails),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/svc_import", tests, NULL, NULL);
}
