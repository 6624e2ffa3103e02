/* tv-test-libs: tv_store */
/* tv-test-pg: both */
/* Unit tests of the import queue in the store (SQLite, and PostgreSQL under
 * unit-pg/): claims, leases, idempotent finishing and the order-independent
 * dedupe rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "test_db.h"

struct S_env {
	struct tvt_db db;
	struct tv_store *st;
	struct tv_import_job job;
};

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));
	struct tv_tenant t = { .created_ms = 1 };
	struct tv_dek d = { .wrapped_len = 72, .created_ms = 1 };
	struct tv_edge ed = { .deployed_ms = 1, .dek_deployed_ms = 1, .modified_ms = 1 };
	struct tv_apikey k = { .role = TV_ROLE_ADMIN, .created_ms = 1 };

	if (!e || tvt_db_new(&e->db, "jobs"))
		return -1;
	if (tv_store_open(&e->st, e->db.url, true))
		return -1;
	snprintf(t.id, sizeof(t.id), "00000000-0000-4000-8000-000000000001");
	snprintf(t.name, sizeof(t.name), "t");
	snprintf(d.id, sizeof(d.id), "dek");
	memcpy(d.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.id, sizeof(ed.id), "10000000-0000-4000-8000-000000000001");
	memcpy(ed.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.dek_id, sizeof(ed.dek_id), "dek");
	snprintf(k.id, sizeof(k.id), "20000000-0000-4000-8000-000000000001");
	memcpy(k.tenant_id, t.id, sizeof(t.id));
	if (e->st->ops->tenant_bootstrap(e->st, &t, &d, &ed, &k))
		return -1;
	memcpy(e->job.tenant_id, t.id, sizeof(t.id));
	memcpy(e->job.edge_id, ed.id, sizeof(ed.id));
	snprintf(e->job.dek_id, sizeof(e->job.dek_id), "dek");
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;
	int rc;

	tv_store_close(e->st);
	rc = tvt_db_drop(&e->db);
	free(e);
	return rc;
}

/* A job of n PKCS#12 items (dummy bytes), plus one rejected item. */
static void S_new_job(struct S_env *e, const char *id, int n)
{
	struct tv_import_item items[8];
	int i;

	memset(items, 0, sizeof(items));
	for (i = 0; i < n; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
		items[i].sealed_password = (unsigned char *)"sealed";
		items[i].sealed_password_len = 6;
	}
	items[n].index = n;
	items[n].kind = TV_ITEM_REJECTED;
	snprintf(items[n].reason, sizeof(items[n].reason), "INVALID_BASE64: x");
	snprintf(e->job.id, sizeof(e->job.id), "%s", id);
	e->job.created_ms = 1000;
	e->job.n_items = n + 1;
	assert_int_equal(e->st->ops->job_create(e->st, &e->job, items, (size_t)n + 1, 0), TV_OK);
}

static const struct tv_cert_row S_row = {
	.fingerprint = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	.der = (const unsigned char *)"\x30\x00",
	.der_len = 2,
	.facts_json = "{}",
};

static struct tv_item_outcome S_good(void)
{
	struct tv_item_outcome o = { .status = "IMPORTED", .reason = "", .cert = &S_row,
				     .der = S_row.der, .der_len = 2,
				     .sealed_key = (const unsigned char *)"sealed-key",
				     .sealed_key_len = 10 };

	memcpy(o.fingerprint, S_row.fingerprint, 41);
	return o;
}

static const struct tv_import_result *S_res(const struct tv_import_result *r, size_t n, int idx)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].item_index == idx)
			return &r[i];
	fail_msg("no result for item %d", idx);
	return NULL;
}

/* Item 1 finishes before item 0 with the same certificate: item 0 still wins. */
static void test_dedupe_by_item_order(void **state)
{
	struct S_env *e = *state;
	struct tv_claimed_item a, b;
	struct tv_item_outcome o = S_good();
	struct tv_import_result *res = NULL;
	struct tv_import_job job;
	size_t n = 0;
	bool final = false;

	S_new_job(e, "30000000-0000-4000-8000-000000000001", 2);
	assert_int_equal(e->st->ops->item_claim(e->st, "w1", 2000, 99999, 0, &a), TV_OK);
	assert_int_equal(e->st->ops->item_claim(e->st, "w2", 2000, 99999, 0, &b), TV_OK);
	assert_int_equal(a.item.index, 0);
	assert_int_equal(b.item.index, 1);
	assert_int_equal(a.attempts, 1);
	assert_non_null(a.item.sealed_password);
	assert_int_equal(e->st->ops->item_finish(e->st, b.job_id, 1, "w2", &o, 1, 3000, &final),
			 TV_OK);
	assert_false(final);
	assert_int_equal(e->st->ops->item_finish(e->st, a.job_id, 0, "w1", &o, 1, 3001, &final),
			 TV_OK);
	assert_true(final);
	assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, a.job_id, &job, &res, &n),
			 TV_OK);
	assert_string_equal(job.status, "COMPLETED");
	assert_int_equal(job.completed_ms, 3001);
	assert_int_equal(n, 3);
	assert_string_equal(S_res(res, n, 0)->status, "IMPORTED");
	assert_string_equal(S_res(res, n, 1)->status, "SKIPPED");
	assert_non_null(strstr(S_res(res, n, 1)->reason, "DUPLICATE_IN_REQUEST"));
	assert_string_equal(S_res(res, n, 0)->certificate_id, S_res(res, n, 1)->certificate_id);
	assert_string_equal(S_res(res, n, 2)->status, "FAILED");
	tv_import_results_free(res, n);
	tv_import_item_release(&a.item);
	tv_import_item_release(&b.item);
	/* a later job with the same certificate: ALREADY_IMPORTED */
	S_new_job(e, "30000000-0000-4000-8000-000000000002", 1);
	assert_int_equal(e->st->ops->item_claim(e->st, "w1", 4000, 99999, 0, &a), TV_OK);
	assert_int_equal(e->st->ops->item_finish(e->st, a.job_id, 0, "w1", &o, 1, 4001, &final),
			 TV_OK);
	assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, a.job_id, &job, &res, &n),
			 TV_OK);
	assert_non_null(strstr(S_res(res, n, 0)->reason, "ALREADY_IMPORTED"));
	tv_import_results_free(res, n);
	tv_import_item_release(&a.item);
}

/* A lost lease: the old owner's finish writes nothing; the new one's counts. */
static void test_lease_lost_and_reclaimed(void **state)
{
	struct S_env *e = *state;
	struct tv_claimed_item a, b, c;
	struct tv_item_outcome o = S_good();
	struct tv_import_result *res = NULL;
	struct tv_import_job job;
	size_t n = 0;
	bool final = false;

	S_new_job(e, "30000000-0000-4000-8000-000000000003", 1);
	assert_int_equal(e->st->ops->item_claim(e->st, "dead", 5000, 5100, 0, &a), TV_OK);
	/* not claimable while the lease runs, claimable once it expired */
	assert_int_equal(e->st->ops->item_claim(e->st, "w2", 5050, 9999, 0, &c), TV_ERR_NOT_FOUND);
	assert_int_equal(e->st->ops->item_renew(e->st, a.job_id, 0, "dead", 5200), TV_OK);
	assert_int_equal(e->st->ops->item_claim(e->st, "w2", 5150, 9999, 0, &c), TV_ERR_NOT_FOUND);
	assert_int_equal(e->st->ops->item_claim(e->st, "w2", 5300, 9999, 0, &b), TV_OK);
	assert_int_equal(b.attempts, 2);
	assert_int_equal(e->st->ops->item_renew(e->st, a.job_id, 0, "dead", 9000), TV_ERR_STATE);
	assert_int_equal(e->st->ops->item_finish(e->st, a.job_id, 0, "dead", &o, 1, 5400, &final),
			 TV_ERR_STATE);
	assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, a.job_id, &job, &res, &n),
			 TV_OK);
	assert_string_equal(job.status, "PROCESSING");
	assert_string_equal(S_res(res, n, 0)->status, "PROCESSING");
	tv_import_results_free(res, n);
	o.status = "FAILED";
	o.reason = "MAC_VERIFICATION_FAILED: wrong password";
	assert_int_equal(e->st->ops->item_finish(e->st, b.job_id, 0, "w2", &o, 1, 5500, &final),
			 TV_OK);
	assert_true(final);
	assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, a.job_id, &job, &res, &n),
			 TV_OK);
	assert_string_equal(job.status, "FAILED"); /* every item failed */
	tv_import_results_free(res, n);
	/* finishing twice is refused */
	assert_int_equal(e->st->ops->item_finish(e->st, b.job_id, 0, "w2", &o, 1, 5600, &final),
			 TV_ERR_STATE);
	tv_import_item_release(&a.item);
	tv_import_item_release(&b.item);
	/* another tenant can't see the job */
	assert_int_equal(e->st->ops->job_get(e->st, "00000000-0000-4000-8000-000000000009",
					     a.job_id, &job, NULL, NULL),
			 TV_ERR_NOT_FOUND);
}

/* A second tenant "B" with its own edge instance and DEK "dekB". */
static void S_tenant_b(struct S_env *e, struct tv_import_job *jb)
{
	struct tv_tenant t = { .created_ms = 1 };
	struct tv_dek d = { .wrapped_len = 72, .created_ms = 1 };
	struct tv_edge ed = { .deployed_ms = 1, .dek_deployed_ms = 1, .modified_ms = 1 };
	struct tv_apikey k = { .role = TV_ROLE_ADMIN, .created_ms = 1 };

	k.hash[0] = 0xb; /* API key hashes are unique */
	snprintf(t.id, sizeof(t.id), "00000000-0000-4000-8000-00000000000b");
	snprintf(t.name, sizeof(t.name), "b");
	snprintf(d.id, sizeof(d.id), "dekB");
	memcpy(d.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.id, sizeof(ed.id), "10000000-0000-4000-8000-00000000000b");
	memcpy(ed.tenant_id, t.id, sizeof(t.id));
	snprintf(ed.dek_id, sizeof(ed.dek_id), "dekB");
	snprintf(k.id, sizeof(k.id), "20000000-0000-4000-8000-00000000000b");
	memcpy(k.tenant_id, t.id, sizeof(t.id));
	assert_int_equal(e->st->ops->tenant_bootstrap(e->st, &t, &d, &ed, &k), TV_OK);
	memset(jb, 0, sizeof(*jb));
	memcpy(jb->tenant_id, t.id, sizeof(t.id));
	memcpy(jb->edge_id, ed.id, sizeof(ed.id));
	snprintf(jb->dek_id, sizeof(jb->dek_id), "dekB");
	snprintf(jb->id, sizeof(jb->id), "30000000-0000-4000-8000-00000000000b");
	jb->created_ms = 3000; /* later than every job of tenant A */
	jb->n_items = 1;
}

/* A batched claim decides each item as single claims would, in one
 * transaction: fairness and the in-flight cap hold inside the batch. */
static void test_items_claim_batch(void **state)
{
	struct S_env *e = *state;
	struct tv_import_item item = { .kind = TV_ITEM_PKCS12, .keystore = (unsigned char *)"ks",
				       .keystore_len = 2 };
	struct tv_claimed_item got[8];
	struct tv_import_job jb;
	size_t n = 99, i;

	if (!e->st->ops->items_claim) /* optional: PostgreSQL claims one at a time */
		return;
	S_new_job(e, "30000000-0000-4000-8000-0000000000a2", 7);
	S_tenant_b(e, &jb);
	assert_int_equal(e->st->ops->job_create(e->st, &jb, &item, 1, 0), TV_OK);
	/* cap 1: A's oldest, then B (A is at the cap), then nothing */
	assert_int_equal(e->st->ops->items_claim(e->st, "w1", 4000, 99999, 1, got, 3, &n), TV_OK);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].tenant_id, e->job.tenant_id);
	assert_int_equal(got[0].item.index, 0);
	assert_string_equal(got[1].tenant_id, jb.tenant_id);
	assert_string_equal(got[1].dek_id, "dekB");
	assert_int_equal(got[1].attempts, 1);
	for (i = 0; i < n; i++)
		tv_import_item_release(&got[i].item);
	/* no cap: the rest of A in item order, at most max */
	assert_int_equal(e->st->ops->items_claim(e->st, "w2", 4001, 99999, 0, got, 4, &n), TV_OK);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		assert_int_equal(got[i].item.index, (int)i + 1);
		assert_non_null(got[i].item.keystore);
		tv_import_item_release(&got[i].item);
	}
	assert_int_equal(e->st->ops->items_claim(e->st, "w2", 4002, 99999, 0, got, 8, &n), TV_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		tv_import_item_release(&got[i].item);
	/* every item is held: none left, which is not an error */
	assert_int_equal(e->st->ops->items_claim(e->st, "w2", 4003, 99999, 0, got, 2, &n), TV_OK);
	assert_int_equal(n, 0);
}

/* The group commit: the items of one job count once per job (the last
 * written item of a job says it became final), and a lost lease is
 * skipped without failing the rest. */
static void test_items_finish_batch(void **state)
{
	struct S_env *e = *state;
	struct tv_item_outcome o[3] = { S_good(), S_good(), S_good() };
	struct tv_claimed_item got[5];
	struct tv_item_finish fin[3];
	struct tv_import_result *res = NULL;
	struct tv_import_job job;
	size_t n = 0, i;

	S_new_job(e, "30000000-0000-4000-8000-0000000000a4", 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(e->st->ops->item_claim(e->st, "w1", 4000 + (int64_t)i, 99999, 0,
							&got[i]),
				 TV_OK);
	for (i = 0; i < 3; i++)
		fin[i] = (struct tv_item_finish){ .job_id = got[i].job_id,
						  .index = got[i].item.index,
						  .outcomes = &o[i],
						  .n = 1 };
	assert_int_equal(e->st->ops->items_finish(e->st, "w2", fin, 1, 4500), TV_OK);
	assert_int_equal(fin[0].rc, TV_ERR_STATE); /* w2 holds nothing: nothing written */
	assert_int_equal(e->st->ops->items_finish(e->st, "w1", fin, 3, 5000), TV_OK);
	for (i = 0; i < 3; i++) {
		assert_int_equal(fin[i].rc, TV_OK);
		assert_false(fin[i].job_final);
	}
	assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, got[0].job_id, &job, &res,
					     &n),
			 TV_OK);
	assert_string_equal(job.status, "PROCESSING");
	assert_int_equal(job.n_final, 4); /* three written and the rejected item */
	tv_import_results_free(res, n);
	/* the rest in one batch, with an item already final in it (its finish
	 * fails alone): the job's last written item makes it final */
	fin[0] = (struct tv_item_finish){ .job_id = got[3].job_id, .index = 3, .outcomes = &o[0],
					  .n = 1 };
	fin[1] = (struct tv_item_finish){ .job_id = got[3].job_id, .index = 4, .outcomes = &o[1],
					  .n = 1 };
	fin[2] = (struct tv_item_finish){ .job_id = got[3].job_id, .index = 0, .outcomes = &o[2],
					  .n = 1 };
	assert_int_equal(e->st->ops->items_finish(e->st, "w1", fin, 3, 6000), TV_OK);
	assert_int_equal(fin[0].rc, TV_OK);
	assert_int_equal(fin[1].rc, TV_OK);
	assert_int_equal(fin[2].rc, TV_ERR_STATE);
	assert_false(fin[0].job_final || fin[2].job_final);
	assert_true(fin[1].job_final);
	assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, got[0].job_id, &job, &res,
					     &n),
			 TV_OK);
	assert_string_equal(job.status, "COMPLETED");
	assert_int_equal(job.n_final, 6);
	assert_int_equal(job.completed_ms, 6000);
	assert_int_equal(n, 6);
	assert_string_equal(S_res(res, n, 0)->status, "IMPORTED");
	assert_string_equal(S_res(res, n, 4)->status, "SKIPPED");
	tv_import_results_free(res, n);
	for (i = 0; i < 5; i++)
		tv_import_item_release(&got[i].item);
}

/* A tenant alone in the queue has several items claimed in one statement:
 * still within its room under the cap, and in queue order, which between
 * jobs queued in the same millisecond is the job id's order. */
static void test_items_claim_lone_tenant(void **state)
{
	struct S_env *e = *state;
	struct tv_claimed_item got[8];
	size_t n = 99, i;

	if (!e->st->ops->items_claim)
		return;
	/* two jobs queued at the same time (S_new_job: created_ms 1000); the
	 * later id first, so insertion order is not the answer */
	S_new_job(e, "30000000-0000-4000-8000-0000000000b2", 3);
	S_new_job(e, "30000000-0000-4000-8000-0000000000b1", 3);
	/* cap 3, one in flight: room for two */
	assert_int_equal(e->st->ops->items_claim(e->st, "w1", 4000, 99999, 3, got, 1, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_string_equal(got[0].job_id, "30000000-0000-4000-8000-0000000000b1");
	assert_int_equal(got[0].item.index, 0);
	tv_import_item_release(&got[0].item);
	assert_int_equal(e->st->ops->items_claim(e->st, "w1", 4001, 99999, 3, got, 8, &n), TV_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_string_equal(got[i].job_id, "30000000-0000-4000-8000-0000000000b1");
		assert_int_equal(got[i].item.index, (int)i + 1);
		assert_int_equal(got[i].attempts, 1);
		assert_non_null(got[i].item.keystore);
		tv_import_item_release(&got[i].item);
	}
	/* at the cap: nothing */
	assert_int_equal(e->st->ops->items_claim(e->st, "w1", 4002, 99999, 3, got, 8, &n), TV_OK);
	assert_int_equal(n, 0);
	/* no cap: the other job's items, in item order */
	assert_int_equal(e->st->ops->items_claim(e->st, "w1", 4003, 99999, 0, got, 8, &n), TV_OK);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		assert_string_equal(got[i].job_id, "30000000-0000-4000-8000-0000000000b2");
		assert_int_equal(got[i].item.index, (int)i);
		assert_string_equal(got[i].dek_id, "dek");
		tv_import_item_release(&got[i].item);
	}
}

/* An item whose lease ran out is claimed alone: nothing is claimed behind
 * it, and it is never claimed behind another item, so a keystore that
 * crashes its worker again burns no attempt of items that only waited. */
static void test_items_claim_reclaim_alone(void **state)
{
	struct S_env *e = *state;
	struct tv_claimed_item got[8];
	size_t n = 99, i;

	if (!e->st->ops->items_claim)
		return;
	S_new_job(e, "30000000-0000-4000-8000-0000000000a3", 6);
	/* w1 takes items 0 and 1 and dies: their leases end at 5000 */
	assert_int_equal(e->st->ops->items_claim(e->st, "w1", 4000, 5000, 0, got, 2, &n), TV_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		tv_import_item_release(&got[i].item);
	/* after the leases: item 0 alone (the oldest), though 4 were asked */
	assert_int_equal(e->st->ops->items_claim(e->st, "w2", 6000, 99999, 0, got, 4, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].item.index, 0);
	assert_int_equal(got[0].attempts, 2);
	assert_non_null(got[0].item.keystore);
	tv_import_item_release(&got[0].item);
	/* item 1 (expired) is not taken behind item 2 (fresh): 2 alone... */
	assert_int_equal(e->st->ops->items_claim(e->st, "w2", 6001, 99999, 0, got, 4, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].item.index, 1);
	assert_int_equal(got[0].attempts, 2);
	tv_import_item_release(&got[0].item);
	/* ...and the fresh ones come together again, their attempts at 1 */
	assert_int_equal(e->st->ops->items_claim(e->st, "w2", 6002, 99999, 0, got, 8, &n), TV_OK);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		assert_int_equal(got[i].item.index, (int)i + 2);
		assert_int_equal(got[i].attempts, 1);
		tv_import_item_release(&got[i].item);
	}
}

/* Tenant A floods the queue first; B's later one-item job is still served
 * by the next free worker, and a tenant at the in-flight cap is skipped. */
static void test_claim_is_fair_across_tenants(void **state)
{
	struct S_env *e = *state;
	struct tv_import_item item = { .kind = TV_ITEM_PKCS12, .keystore = (unsigned char *)"ks",
				       .keystore_len = 2 };
	struct tv_claimed_item a1, b1, a2, x;
	struct tv_import_job jb;

	S_new_job(e, "30000000-0000-4000-8000-0000000000a1", 7);
	S_tenant_b(e, &jb);
	assert_int_equal(e->st->ops->job_create(e->st, &jb, &item, 1, 0), TV_OK);
	/* A's items are older, nobody is in flight, A not yet served: A first */
	assert_int_equal(e->st->ops->item_claim(e->st, "w1", 4000, 99999, 0, &a1), TV_OK);
	assert_string_equal(a1.tenant_id, e->job.tenant_id);
	assert_int_equal(a1.item.index, 0);
	/* A has one in flight, B none: B, though A's items are older */
	assert_int_equal(e->st->ops->item_claim(e->st, "w2", 4001, 99999, 0, &b1), TV_OK);
	assert_string_equal(b1.tenant_id, jb.tenant_id);
	assert_string_equal(b1.job_id, jb.id);
	assert_string_equal(b1.dek_id, "dekB");
	/* only A has work left; with a cap of 1 in flight A is skipped */
	assert_int_equal(e->st->ops->item_claim(e->st, "w3", 4002, 99999, 1, &x),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(e->st->ops->item_claim(e->st, "w3", 4003, 99999, 2, &a2), TV_OK);
	assert_string_equal(a2.tenant_id, e->job.tenant_id);
	assert_int_equal(a2.item.index, 1);
	tv_import_item_release(&a1.item);
	tv_import_item_release(&b1.item);
	tv_import_item_release(&a2.item);
}

/* Items under an expired lease compete with WAITING ones by age: within a
 * tenant the oldest claimable item comes first, whichever its state, and a
 * tenant whose only claimable item is an expired one is still a candidate
 * (and, with nothing live in flight, the first). */
static void test_claim_expired_lease_by_age(void **state)
{
	struct S_env *e = *state;
	struct tv_import_item item = { .kind = TV_ITEM_PKCS12, .keystore = (unsigned char *)"ks",
				       .keystore_len = 2 };
	struct tv_claimed_item a0, b0, b0again, a1, x;
	struct tv_import_job jb;

	S_new_job(e, "30000000-0000-4000-8000-0000000000a1", 2); /* queued at 1000 */
	S_tenant_b(e, &jb);                                      /* queued at 3000 */
	assert_int_equal(e->st->ops->job_create(e->st, &jb, &item, 1, 0), TV_OK);
	assert_int_equal(e->st->ops->item_claim(e->st, "w1", 4000, 4100, 0, &a0), TV_OK);
	assert_string_equal(a0.tenant_id, e->job.tenant_id);
	assert_int_equal(a0.item.index, 0);
	assert_int_equal(e->st->ops->item_claim(e->st, "w2", 4001, 4050, 0, &b0), TV_OK);
	assert_string_equal(b0.tenant_id, jb.tenant_id);
	/* at 4060 B's lease has ended, A's runs: B has nothing live in flight
	 * and its one claimable item is the expired one */
	assert_int_equal(e->st->ops->item_claim(e->st, "w3", 4060, 99999, 0, &b0again), TV_OK);
	assert_string_equal(b0again.job_id, jb.id);
	assert_int_equal(b0again.item.index, 0);
	assert_int_equal(b0again.attempts, 2);
	/* one live each; A was served longer ago */
	assert_int_equal(e->st->ops->item_claim(e->st, "w4", 4061, 99999, 0, &a1), TV_OK);
	assert_string_equal(a1.tenant_id, e->job.tenant_id);
	assert_int_equal(a1.item.index, 1);
	/* at 5000 A's first lease has ended: item 0 again, its only claimable */
	assert_int_equal(e->st->ops->item_claim(e->st, "w5", 5000, 99999, 0, &x), TV_OK);
	assert_string_equal(x.tenant_id, e->job.tenant_id);
	assert_int_equal(x.item.index, 0);
	assert_int_equal(x.attempts, 2);
	tv_import_item_release(&x.item);
	assert_int_equal(e->st->ops->item_claim(e->st, "w6", 5001, 99999, 0, &x),
			 TV_ERR_NOT_FOUND);
	tv_import_item_release(&a0.item);
	tv_import_item_release(&b0.item);
	tv_import_item_release(&b0again.item);
	tv_import_item_release(&a1.item);
}

/* Within a tenant, an expired item that was queued earlier comes before a
 * WAITING item of a later job. */
static void test_claim_oldest_first_across_states(void **state)
{
	struct S_env *e = *state;
	struct tv_import_item item = { .kind = TV_ITEM_PKCS12, .keystore = (unsigned char *)"ks",
				       .keystore_len = 2 };
	struct tv_claimed_item a0, a1, c;
	struct tv_import_job later;

	S_new_job(e, "30000000-0000-4000-8000-0000000000a1", 2); /* queued at 1000 */
	later = e->job;
	snprintf(later.id, sizeof(later.id), "30000000-0000-4000-8000-0000000000a2");
	later.created_ms = 2000;
	later.n_items = 1;
	assert_int_equal(e->st->ops->job_create(e->st, &later, &item, 1, 0), TV_OK);
	assert_int_equal(e->st->ops->item_claim(e->st, "w1", 4000, 4100, 0, &a0), TV_OK);
	assert_int_equal(e->st->ops->item_claim(e->st, "w2", 4001, 99999, 0, &a1), TV_OK);
	assert_string_equal(a1.job_id, "30000000-0000-4000-8000-0000000000a1");
	assert_int_equal(a1.item.index, 1);
	assert_int_equal(e->st->ops->item_claim(e->st, "w3", 5000, 99999, 0, &c), TV_OK);
	assert_string_equal(c.job_id, "30000000-0000-4000-8000-0000000000a1");
	assert_int_equal(c.item.index, 0);
	tv_import_item_release(&c.item);
	assert_int_equal(e->st->ops->item_claim(e->st, "w4", 5001, 99999, 0, &c), TV_OK);
	assert_string_equal(c.job_id, later.id);
	tv_import_item_release(&c.item);
	assert_int_equal(e->st->ops->item_claim(e->st, "w5", 5002, 99999, 0, &c),
			 TV_ERR_NOT_FOUND);
	tv_import_item_release(&a0.item);
	tv_import_item_release(&a1.item);
}

/* Two tenants with equal work and nothing in flight take turns. */
static void test_claim_round_robin(void **state)
{
	struct S_env *e = *state;
	struct tv_import_item items[3];
	struct tv_claimed_item c;
	struct tv_import_job jb;
	char order[8] = "";
	int i;

	memset(items, 0, sizeof(items));
	for (i = 0; i < 3; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
	}
	S_new_job(e, "30000000-0000-4000-8000-0000000000a1", 3);
	S_tenant_b(e, &jb);
	jb.n_items = 3;
	assert_int_equal(e->st->ops->job_create(e->st, &jb, items, 3, 0), TV_OK);
	for (i = 0; i < 6; i++) {
		struct tv_item_outcome o = { .status = "FAILED", .reason = "MALFORMED_KEYSTORE: x" };
		bool final;

		assert_int_equal(e->st->ops->item_claim(e->st, "w", 4000 + i, 99999, 0, &c), TV_OK);
		order[i] = strcmp(c.tenant_id, jb.tenant_id) ? 'A' : 'B';
		/* finish it, so nothing stays in flight */
		assert_int_equal(e->st->ops->item_finish(e->st, c.job_id, c.item.index, "w", &o, 1,
							 4000 + i, &final),
				 TV_OK);
		tv_import_item_release(&c.item);
	}
	assert_string_equal(order, "ABABAB");
}

/* The per-tenant queue cap counts items not yet final, and is atomic. */
static void test_queue_cap(void **state)
{
	struct S_env *e = *state;
	struct tv_import_item items[4];
	struct tv_import_result *res = NULL;
	struct tv_import_job job, jb;
	size_t n = 0;
	int i;

	memset(items, 0, sizeof(items));
	for (i = 0; i < 4; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
	}
	S_new_job(e, "30000000-0000-4000-8000-0000000000a1", 3); /* 3 open + 1 rejected */
	job = e->job;
	snprintf(job.id, sizeof(job.id), "30000000-0000-4000-8000-0000000000a2");
	job.n_items = 4;
	/* 3 open + 4 > 6: refused, nothing stored */
	assert_int_equal(e->st->ops->job_create(e->st, &job, items, 4, 6), TV_ERR_LIMIT);
	assert_int_equal(e->st->ops->job_get(e->st, job.tenant_id, job.id, &job, &res, &n),
			 TV_ERR_NOT_FOUND);
	/* a rejected item doesn't count: 3 open + 3 = 6 fits */
	items[3].kind = TV_ITEM_REJECTED;
	snprintf(items[3].reason, sizeof(items[3].reason), "INVALID_BASE64: x");
	assert_int_equal(e->st->ops->job_create(e->st, &job, items, 4, 6), TV_OK);
	/* another tenant's queue is its own */
	S_tenant_b(e, &jb);
	assert_int_equal(e->st->ops->job_create(e->st, &jb, items, 1, 1), TV_OK);
}

/* ---------- concurrency: several workers (nodes) on one queue ---------- */

#define S_RACE_JOBS 4
#define S_RACE_ITEMS 25
#define S_RACE_WORKERS 6

struct S_racer {
	struct S_env *e;
	char owner[16];
	int claimed[S_RACE_JOBS][S_RACE_ITEMS]; /* claims per item by this worker */
	int finished;
	enum tv_err rc;
};

/* Every outcome carries the same leaf (S_row) under the same issuer: the
 * worst case for the dedupe rules when finishes run in parallel. */
static const struct tv_cert_row S_issuer = {
	.fingerprint = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
	.der = (const unsigned char *)"\x30\x01\x00",
	.der_len = 3,
	.facts_json = "{}",
};

static void *S_race(void *arg)
{
	struct S_racer *r = arg;
	struct tv_store *st = r->e->st;

	for (;;) {
		struct tv_item_outcome o = S_good();
		struct tv_claimed_item c;
		bool final = false;
		int j;

		/* TV_ERR_BUSY (the write lock not had within the busy timeout,
		 * seen under ThreadSanitizer on a loaded machine) is retried, as
		 * the importer retries it */
		r->rc = st->ops->item_claim(st, r->owner, tv_now_ms(), tv_now_ms() + 60000, 0, &c);
		if (r->rc == TV_ERR_BUSY)
			continue;
		if (r->rc == TV_ERR_NOT_FOUND) {
			r->rc = TV_OK;
			break;
		}
		if (r->rc)
			break;
		j = c.job_id[35] - '0';
		r->claimed[j][c.item.index]++;
		o.issuers = &S_issuer;
		o.n_issuers = 1;
		do /* the lease is still ours: finishing again is safe */
			r->rc = st->ops->item_finish(st, c.job_id, c.item.index, r->owner, &o, 1,
						     tv_now_ms(), &final);
		while (r->rc == TV_ERR_BUSY);
		tv_import_item_release(&c.item);
		if (r->rc)
			break;
		r->finished++;
	}
	return NULL;
}

/* Workers claim and finish in parallel: each item is claimed once, every
 * item ends final, and the one certificate is imported exactly once. */
static void test_parallel_workers(void **state)
{
	struct S_env *e = *state;
	static struct S_racer racers[S_RACE_WORKERS];
	struct tv_import_item items[S_RACE_ITEMS];
	pthread_t th[S_RACE_WORKERS];
	int i, j, k, imported = 0, skipped = 0;
	long long certs = -1;

	memset(items, 0, sizeof(items));
	for (i = 0; i < S_RACE_ITEMS; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
	}
	for (j = 0; j < S_RACE_JOBS; j++) {
		snprintf(e->job.id, sizeof(e->job.id), "30000000-0000-4000-8000-00000000000%d", j);
		e->job.created_ms = 1000 + j;
		e->job.n_items = S_RACE_ITEMS;
		assert_int_equal(e->st->ops->job_create(e->st, &e->job, items, S_RACE_ITEMS, 0),
				 TV_OK);
	}
	memset(racers, 0, sizeof(racers));
	for (i = 0; i < S_RACE_WORKERS; i++) {
		racers[i].e = e;
		snprintf(racers[i].owner, sizeof(racers[i].owner), "node%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, S_race, &racers[i]), 0);
	}
	for (i = 0; i < S_RACE_WORKERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(racers[i].rc, TV_OK);
	}
	for (j = 0; j < S_RACE_JOBS; j++) {
		struct tv_import_result *res = NULL;
		struct tv_import_job job;
		size_t n = 0, x;
		char id[TV_ID_SIZE];

		for (k = 0; k < S_RACE_ITEMS; k++) {
			int claims = 0;
			for (i = 0; i < S_RACE_WORKERS; i++)
				claims += racers[i].claimed[j][k];
			assert_int_equal(claims, 1);
		}
		snprintf(id, sizeof(id), "30000000-0000-4000-8000-00000000000%d", j);
		assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, id, &job, &res, &n),
				 TV_OK);
		assert_string_equal(job.status, "COMPLETED");
		assert_int_equal(job.n_final, S_RACE_ITEMS);
		assert_int_equal(n, S_RACE_ITEMS);
		for (x = 0; x < n; x++) {
			imported += !strcmp(res[x].status, "IMPORTED");
			skipped += !strcmp(res[x].status, "SKIPPED");
		}
		tv_import_results_free(res, n);
	}
	assert_int_equal(imported, 1);
	assert_int_equal(skipped, S_RACE_JOBS * S_RACE_ITEMS - 1);
	assert_int_equal(tvt_db_sql(&e->db, "SELECT count(*) FROM certificates", &certs), 0);
	assert_int_equal(certs, 2); /* the leaf and its issuer, once each */
	/* no open item, and no input left (SQLite keeps them in import_inputs) */
	assert_int_equal(tvt_db_sql(&e->db,
				    e->db.pg ? "SELECT count(*) FROM import_items"
					       " WHERE state <> 'FINAL' OR keystore IS NOT NULL"
					     : "SELECT (SELECT count(*) FROM import_items"
					       " WHERE state <> 'FINAL')"
					       " + (SELECT count(*) FROM import_inputs)",
				    &certs),
			 0);
	assert_int_equal(certs, 0);
}

/* A key arrives for a certificate the vault holds without one (an issuer
 * stored by an earlier item): it is attached, once. */
static void test_key_attached_to_keyless_certificate(void **state)
{
	struct S_env *e = *state;
	struct tv_item_outcome o = S_good();
	struct tv_item_outcome leaf_as_issuer = S_good();
	struct tv_cert_row other = S_row;
	struct tv_import_result *res = NULL;
	struct tv_claimed_item c;
	struct tv_import_job job;
	unsigned char *sealed = NULL;
	size_t n = 0, sealed_len = 0;
	bool final;

	/* item 0 stores S_row only as the issuer of another leaf */
	memcpy(other.fingerprint, "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", 41);
	leaf_as_issuer.cert = &other;
	memcpy(leaf_as_issuer.fingerprint, other.fingerprint, 41);
	leaf_as_issuer.issuers = &S_row;
	leaf_as_issuer.n_issuers = 1;
	S_new_job(e, "30000000-0000-4000-8000-0000000000c1", 2);
	assert_int_equal(e->st->ops->item_claim(e->st, "w", 1, 99999, 0, &c), TV_OK);
	assert_int_equal(e->st->ops->item_finish(e->st, c.job_id, 0, "w", &leaf_as_issuer, 1, 2,
						 &final),
			 TV_OK);
	tv_import_item_release(&c.item);
	/* item 1 brings S_row with its key */
	assert_int_equal(e->st->ops->item_claim(e->st, "w", 3, 99999, 0, &c), TV_OK);
	assert_int_equal(c.item.index, 1);
	assert_int_equal(e->st->ops->item_finish(e->st, c.job_id, 1, "w", &o, 1, 4, &final), TV_OK);
	assert_string_equal(o.recorded_status, "IMPORTED");
	tv_import_item_release(&c.item);
	assert_int_equal(e->st->ops->job_get(e->st, e->job.tenant_id, c.job_id, &job, &res, &n),
			 TV_OK);
	assert_string_equal(S_res(res, n, 1)->status, "IMPORTED");
	assert_int_equal(e->st->ops->cert_key(e->st, e->job.tenant_id,
					      S_res(res, n, 1)->certificate_id, &sealed,
					      &sealed_len),
			 TV_OK);
	assert_int_equal(sealed_len, 10);
	assert_memory_equal(sealed, "sealed-key", 10);
	free(sealed);
	tv_import_results_free(res, n);
}

/* Another process's job events reach this one (PostgreSQL LISTEN/NOTIFY);
 * SQLite has no such channel (its nodes are one process). */
static void test_events_across_processes(void **state)
{
	struct S_env *e = *state;
	struct tv_store *other = NULL;
	struct tv_item_outcome o = { .status = "FAILED", .reason = "MALFORMED_KEYSTORE: x" };
	struct tv_import_item item = { .kind = TV_ITEM_PKCS12, .keystore = (unsigned char *)"ks",
				       .keystore_len = 2 };
	struct tv_claimed_item c;
	unsigned ev = 0, seen = 0;
	int64_t deadline;
	bool final = false;

	if (!e->db.pg) {
		assert_null(e->st->ops->events_wait);
		return;
	}
	assert_non_null(e->st->ops->events_wait);
	assert_int_equal(e->st->ops->events_wait(e->st, 0, &ev), TV_OK); /* now listening */
	assert_int_equal(tv_store_open(&other, e->db.url, false), TV_OK);
	snprintf(e->job.id, sizeof(e->job.id), "30000000-0000-4000-8000-0000000000e1");
	e->job.n_items = 1;
	assert_int_equal(other->ops->job_create(other, &e->job, &item, 1, 0), TV_OK);
	deadline = tv_mono_ms() + 10000;
	while (!(seen & TV_STORE_EV_JOB_NEW) && tv_mono_ms() < deadline) {
		assert_int_equal(e->st->ops->events_wait(e->st, 500, &ev), TV_OK);
		seen |= ev;
	}
	assert_true(seen & TV_STORE_EV_JOB_NEW);
	assert_false(seen & TV_STORE_EV_JOB_FINAL);
	assert_int_equal(other->ops->item_claim(other, "w", 1, 99999, 0, &c), TV_OK);
	assert_int_equal(other->ops->item_finish(other, c.job_id, 0, "w", &o, 1, 2, &final), TV_OK);
	assert_true(final);
	tv_import_item_release(&c.item);
	seen = 0;
	while (!(seen & TV_STORE_EV_JOB_FINAL) && tv_mono_ms() < deadline) {
		assert_int_equal(e->st->ops->events_wait(e->st, 500, &ev), TV_OK);
		seen |= ev;
	}
	assert_true(seen & TV_STORE_EV_JOB_FINAL);
	tv_store_close(other);
}

/* job_list: the tenant's jobs, newest first, with result counts by status;
 * never another tenant's; limit honoured. */
static void test_job_list(void **state)
{
	struct S_env *e = *state;
	struct tv_import_job *jobs = NULL, jb;
	struct tv_import_item item = { .kind = TV_ITEM_PKCS12, .keystore = (unsigned char *)"ks",
				       .keystore_len = 2 };
	size_t n = 0;

	/* the same creation time: the id breaks the tie, as in the query */
	S_new_job(e, "30000000-0000-4000-8000-0000000000d1", 2); /* 2 open + 1 rejected */
	S_new_job(e, "30000000-0000-4000-8000-0000000000d2", 1);
	S_tenant_b(e, &jb);
	assert_int_equal(e->st->ops->job_create(e->st, &jb, &item, 1, 0), TV_OK);
	assert_int_equal(e->st->ops->job_list(e->st, e->job.tenant_id, 10, &jobs, &n), TV_OK);
	assert_int_equal(n, 2);
	assert_string_equal(jobs[0].id, "30000000-0000-4000-8000-0000000000d2"); /* newest */
	assert_string_equal(jobs[1].id, "30000000-0000-4000-8000-0000000000d1");
	assert_int_equal(jobs[1].n_items, 3);
	assert_int_equal(jobs[1].n_failed, 1); /* the rejected item's result */
	assert_int_equal(jobs[1].n_imported, 0);
	free(jobs);
	assert_int_equal(e->st->ops->job_list(e->st, e->job.tenant_id, 1, &jobs, &n), TV_OK);
	assert_int_equal(n, 1);
	free(jobs);
	assert_int_equal(e->st->ops->job_list(e->st, jb.tenant_id, 10, &jobs, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_string_equal(jobs[0].id, jb.id);
	free(jobs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedupe_by_item_order),
		cmocka_unit_test(test_lease_lost_and_reclaimed),
		cmocka_unit_test_setup_teardown(test_claim_is_fair_across_tenants, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_claim_round_robin, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_items_claim_batch, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_items_claim_reclaim_alone, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_items_finish_batch, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_items_claim_lone_tenant, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_claim_expired_lease_by_age, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_claim_oldest_first_across_states, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_queue_cap, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_job_list, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_parallel_workers, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_key_attached_to_keyless_certificate, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_events_across_processes, S_setup, S_teardown),
	};

	return cmocka_run_group_tests_name("unit/store_jobs", tests, S_setup, S_teardown);
}
