/* tv-test-libs: tv_store */
/* tv-test-pg: both */
/* Unit tests of the metrics building blocks (core/metrics.c), the timed
 * store wrapper (store/timed.c) and the store's queue_depth op, on SQLite
 * and (under unit-pg/) PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/util.h"
#include "store/store.h"
#include "test_db.h"

static void test_histogram_buckets(void **state)
{
	struct tv_hist h;
	struct tv_mtext t = { 0 };

	(void)state;
	memset(&h, 0, sizeof(h));
	tv_hist_observe(&h, 200000);       /* 0.2 ms: first bucket */
	tv_hist_observe(&h, 500000);       /* exactly 0.5 ms: le is inclusive */
	tv_hist_observe(&h, 3000000);      /* 3 ms: le="0.005" */
	tv_hist_observe(&h, 20000000000LL); /* 20 s: only +Inf */
	tv_hist_observe(&h, -5);           /* a clock step back counts as 0 */
	assert_int_equal(tv_hist_count(&h), 5);
	tv_mtext_hist(&t, "x_seconds", (const char *const[][2]){ { "op", "a" } }, 1, &h);
	assert_false(t.failed);
	assert_non_null(strstr(t.p, "x_seconds_bucket{op=\"a\",le=\"0.0005\"} 3\n"));
	assert_non_null(strstr(t.p, "x_seconds_bucket{op=\"a\",le=\"0.0025\"} 3\n"));
	assert_non_null(strstr(t.p, "x_seconds_bucket{op=\"a\",le=\"0.005\"} 4\n"));
	assert_non_null(strstr(t.p, "x_seconds_bucket{op=\"a\",le=\"10\"} 4\n"));
	assert_non_null(strstr(t.p, "x_seconds_bucket{op=\"a\",le=\"+Inf\"} 5\n"));
	assert_non_null(strstr(t.p, "x_seconds_sum{op=\"a\"} 20.003700000\n"));
	assert_non_null(strstr(t.p, "x_seconds_count{op=\"a\"} 5\n"));
	tv_mtext_release(&t);
}

static void test_label_and_help_escaping(void **state)
{
	struct tv_mtext t = { 0 };

	(void)state;
	tv_mtext_family(&t, "y_total", "counter", "a \"quoted\" back\\slash\nnewline");
	tv_mtext_u64(&t, "y_total", (const char *const[][2]){ { "v", "a\"b\\c\nd" }, { "w", "" } },
		     2, 7);
	tv_mtext_u64(&t, "y_total", NULL, 0, 8);
	assert_false(t.failed);
	assert_string_equal(t.p, "# HELP y_total a \"quoted\" back\\\\slash\\nnewline\n"
				 "# TYPE y_total counter\n"
				 "y_total{v=\"a\\\"b\\\\c\\nd\",w=\"\"} 7\n"
				 "y_total 8\n");
	tv_mtext_release(&t);
}

/* A store with one tenant, wrapped by the timer. */
struct S_env {
	struct tvt_db db;
	struct tv_store *st;
};

static void S_tenant(struct tv_store *st, char tag)
{
	struct tv_tenant t = { .created_ms = 1 };
	struct tv_dek d = { .wrapped_len = 72, .created_ms = 1 };
	struct tv_edge ed = { .deployed_ms = 1, .dek_deployed_ms = 1, .modified_ms = 1 };
	struct tv_apikey k = { .role = TV_ROLE_ADMIN, .created_ms = 1 };

	k.hash[0] = (unsigned char)tag;
	snprintf(t.id, sizeof(t.id), "00000000-0000-4000-8000-00000000000%c", tag);
	snprintf(t.name, sizeof(t.name), "%c", tag);
	snprintf(d.id, sizeof(d.id), "dek%c", tag);
	memcpy(d.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.id, sizeof(ed.id), "10000000-0000-4000-8000-00000000000%c", tag);
	memcpy(ed.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.dek_id, sizeof(ed.dek_id), "dek%c", tag);
	snprintf(k.id, sizeof(k.id), "20000000-0000-4000-8000-00000000000%c", tag);
	memcpy(k.tenant_id, t.id, sizeof(t.id));
	assert_int_equal(st->ops->tenant_bootstrap(st, &t, &d, &ed, &k), TV_OK);
}

/* A job of tenant tag with n PKCS#12 items and one item rejected at intake. */
static void S_job(struct tv_store *st, char tag, char job_tag, int n)
{
	struct tv_import_item items[8];
	struct tv_import_job job;
	int i;

	memset(&job, 0, sizeof(job));
	memset(items, 0, sizeof(items));
	for (i = 0; i < n; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
	}
	items[n].index = n;
	items[n].kind = TV_ITEM_REJECTED;
	snprintf(items[n].reason, sizeof(items[n].reason), "INVALID_BASE64: x");
	snprintf(job.id, sizeof(job.id), "30000000-0000-4000-8000-0000000000%c%c", tag, job_tag);
	snprintf(job.tenant_id, sizeof(job.tenant_id), "00000000-0000-4000-8000-00000000000%c",
		 tag);
	snprintf(job.edge_id, sizeof(job.edge_id), "10000000-0000-4000-8000-00000000000%c", tag);
	snprintf(job.dek_id, sizeof(job.dek_id), "dek%c", tag);
	job.created_ms = 1000;
	job.n_items = n + 1;
	assert_int_equal(st->ops->job_create(st, &job, items, (size_t)n + 1, 0), TV_OK);
}

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));
	struct tv_store *backend = NULL;

	if (!e || tvt_db_new(&e->db, "metrics"))
		return -1;
	if (tv_store_open(&backend, e->db.url, true))
		return -1;
	if (tv_store_timed_new(&e->st, backend))
		return -1;
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;
	int rc;

	tv_store_close(e->st); /* closes the backend too */
	rc = tvt_db_drop(&e->db);
	free(e);
	return rc;
}

static void test_queue_depth_per_tenant(void **state)
{
	struct S_env *e = *state;
	struct tv_queue_depth *q = NULL;
	struct tv_claimed_item c;
	size_t n = 99;

	assert_non_null(e->st->ops->queue_depth);
	S_tenant(e->st, 'a');
	S_tenant(e->st, 'b');
	S_tenant(e->st, 'c');
	assert_int_equal(e->st->ops->queue_depth(e->st, &q, &n), TV_OK);
	assert_int_equal(n, 0);
	free(q);

	S_job(e->st, 'a', '1', 3);
	S_job(e->st, 'a', '2', 2);
	S_job(e->st, 'b', '1', 1);
	S_job(e->st, 'c', '1', 0); /* only a rejected item: final at once */
	memset(&c, 0, sizeof(c));
	assert_int_equal(e->st->ops->item_claim(e->st, "w", 2000, 99999, 0, &c), TV_OK);
	tv_import_item_release(&c.item);
	assert_int_equal(e->st->ops->queue_depth(e->st, &q, &n), TV_OK);
	assert_int_equal(n, 2); /* c has nothing open */
	assert_string_equal(q[0].tenant_id, "00000000-0000-4000-8000-00000000000a");
	assert_string_equal(q[1].tenant_id, "00000000-0000-4000-8000-00000000000b");
	/* one item claimed: from a or b (fairness picks either), the rest wait */
	assert_int_equal(q[0].waiting + q[0].processing, 5);
	assert_int_equal(q[1].waiting + q[1].processing, 1);
	assert_int_equal(q[0].processing + q[1].processing, 1);
	assert_int_equal(strcmp(c.tenant_id, q[0].tenant_id) ? q[1].processing : q[0].processing,
			 1);
	free(q);
}

static void test_timed_store_counts_operations(void **state)
{
	struct S_env *e = *state;
	struct tv_mtext t = { 0 };
	struct tv_tenant out;
	size_t n = 0;

	assert_string_equal(e->st->ops->name, tv_store_url_is_pg(e->db.url) ? "postgresql" : "sqlite");
	S_tenant(e->st, 'a');
	assert_int_equal(e->st->ops->tenant_count(e->st, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_int_equal(e->st->ops->tenant_get(e->st, "00000000-0000-4000-8000-00000000000a", &out),
			 TV_OK);
	assert_int_equal(e->st->ops->tenant_get(e->st, "00000000-0000-4000-8000-00000000000f", &out),
			 TV_ERR_NOT_FOUND);
	tv_store_metrics(e->st, &t);
	assert_false(t.failed);
	assert_non_null(strstr(t.p, "# TYPE tlsvault_store_operation_duration_seconds histogram\n"));
	assert_non_null(strstr(t.p, "tlsvault_store_operation_duration_seconds_count"
				    "{operation=\"tenant_bootstrap\"} 1\n"));
	assert_non_null(strstr(t.p, "tlsvault_store_operation_duration_seconds_count"
				    "{operation=\"tenant_count\"} 1\n"));
	/* a failed operation took time too */
	assert_non_null(strstr(t.p, "tlsvault_store_operation_duration_seconds_count"
				    "{operation=\"tenant_get\"} 2\n"));
	assert_null(strstr(t.p, "operation=\"job_create\"")); /* never ran: not shown */
	tv_mtext_release(&t);
}

static void test_untimed_store_renders_nothing(void **state)
{
	struct tvt_db db;
	struct tv_store *st = NULL;
	struct tv_mtext t = { 0 };

	(void)state;
	assert_int_equal(tvt_db_new(&db, "metrics_plain"), 0);
	assert_int_equal(tv_store_open(&st, db.url, true), TV_OK);
	tv_store_metrics(st, &t);
	assert_int_equal(t.len, 0);
	tv_store_close(st);
	assert_int_equal(tvt_db_drop(&db), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_histogram_buckets),
		cmocka_unit_test(test_label_and_help_escaping),
		cmocka_unit_test_setup_teardown(test_queue_depth_per_tenant, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_timed_store_counts_operations, S_setup,
						S_teardown),
		cmocka_unit_test(test_untimed_store_renders_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
