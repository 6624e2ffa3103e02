/* tv-test-libs: tv_store */
/* tv-test-pg: both */
/* Unit tests of src/store, run on SQLite and (unit-pg/) on PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "test_db.h"

struct S_env {
	struct tvt_db db;
	struct tv_store *st;
};

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));

	if (!e || tvt_db_new(&e->db, "store"))
		return -1;
	if (tv_store_open(&e->st, e->db.url, true) != TV_OK)
		return -1;
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

/* A tenant row set with deterministic ids derived from n. */
static void S_tenant(int n, struct tv_tenant *t, struct tv_dek *d, struct tv_edge *e,
		     struct tv_apikey *k)
{
	memset(t, 0, sizeof(*t));
	memset(d, 0, sizeof(*d));
	memset(e, 0, sizeof(*e));
	memset(k, 0, sizeof(*k));
	snprintf(t->id, sizeof(t->id), "00000000-0000-4000-8000-%012d", n);
	snprintf(t->name, sizeof(t->name), "tenant-%d", n);
	t->created_ms = 1000 + n;
	snprintf(d->id, sizeof(d->id), "dek-%d", n);
	memcpy(d->tenant_id, t->id, sizeof(t->id));
	memset(d->public_key, n, 32);
	memset(d->wrapped_sk, 0xAA, 72);
	d->wrapped_len = 72;
	d->created_ms = 1000 + n;
	snprintf(e->id, sizeof(e->id), "10000000-0000-4000-8000-%012d", n);
	memcpy(e->tenant_id, t->id, sizeof(t->id));
	snprintf(e->name, sizeof(e->name), "edge");
	snprintf(e->environment_id, sizeof(e->environment_id), "20000000-0000-4000-8000-%012d", n);
	memcpy(e->dek_id, d->id, sizeof(d->id));
	e->deployed_ms = e->dek_deployed_ms = e->modified_ms = 1000 + n;
	snprintf(k->id, sizeof(k->id), "30000000-0000-4000-8000-%012d", n);
	memcpy(k->tenant_id, t->id, sizeof(t->id));
	snprintf(k->name, sizeof(k->name), "admin");
	k->role = TV_ROLE_ADMIN;
	memset(k->hash, n, sizeof(k->hash));
	k->created_ms = 1000 + n;
}

static void test_open_rules(void **state)
{
	struct S_env *e = *state;
	struct tv_store *st = NULL;
	struct tvt_db empty;
	char why[256];

	assert_string_equal(e->st->ops->name, e->db.pg ? "postgresql" : "sqlite");
	assert_int_equal(tv_store_open(&st, e->db.url, true), TV_ERR_EXISTS);
	/* a database without a vault (a missing file, an empty PostgreSQL one) */
	assert_int_equal(tvt_db_new(&empty, "empty"), 0);
	assert_int_equal(tv_store_open(&st, empty.url, false), TV_ERR_NOT_FOUND);
	assert_int_equal(tvt_db_drop(&empty), 0);
	assert_int_equal(tv_store_open(&st, "mysql://x", false), TV_ERR_INVALID);
	/* a server that isn't there: a reason for a person, without the password */
	assert_int_equal(tv_store_open_ex(&st, "postgresql://u:s3cret-pw@127.0.0.1:1/x", false,
					  why, sizeof(why)),
			 TV_ERR_STORE);
	assert_true(why[0] != '\0');
	assert_null(strstr(why, "s3cret-pw"));
	assert_true(tv_store_url_is_pg("postgres://h/db"));
	assert_false(tv_store_url_is_pg("sqlite:/x/postgresql://"));
	/* reopening runs the migrations again: a no-op */
	assert_int_equal(tv_store_open(&st, e->db.url, false), TV_OK);
	assert_int_equal(st->ops->ping(st), TV_OK);
	tv_store_close(st);
	tv_store_close(NULL);
}

static void test_newer_schema_refused(void **state)
{
	struct S_env *e = *state;
	struct tv_store *st = NULL;

	assert_int_equal(tvt_db_sql(&e->db, "INSERT INTO schema_migrations VALUES (999, 0)", NULL),
			 0);
	assert_int_equal(tv_store_open(&st, e->db.url, false), TV_ERR_VERSION);
	assert_int_equal(tvt_db_sql(&e->db, "DELETE FROM schema_migrations WHERE version = 999",
				    NULL),
			 0);
}

static void test_tenant_bootstrap_atomic(void **state)
{
	struct S_env *e = *state;
	struct tv_store *st = e->st;
	struct tv_tenant t, got;
	struct tv_dek d, *deks = NULL;
	struct tv_edge ed, *edges = NULL;
	struct tv_apikey k, kk;
	size_t n = 0;

	S_tenant(1, &t, &d, &ed, &k);
	assert_int_equal(st->ops->tenant_bootstrap(st, &t, &d, &ed, &k), TV_OK);
	assert_int_equal(st->ops->tenant_get(st, t.id, &got), TV_OK);
	assert_string_equal(got.name, "tenant-1");
	/* the same name again fails and leaves no partial rows behind */
	S_tenant(2, &t, &d, &ed, &k);
	snprintf(t.name, sizeof(t.name), "tenant-1");
	assert_int_equal(st->ops->tenant_bootstrap(st, &t, &d, &ed, &k), TV_ERR_EXISTS);
	assert_int_equal(st->ops->tenant_get(st, t.id, &got), TV_ERR_NOT_FOUND);
	assert_int_equal(st->ops->apikey_by_hash(st, k.hash, &kk), TV_ERR_NOT_FOUND);
	assert_int_equal(st->ops->dek_list(st, NULL, &deks, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_int_equal(deks[0].wrapped_len, 72);
	assert_int_equal(deks[0].public_key[0], 1); /* tenant 1's key, intact */
	assert_int_equal(deks[0].public_key[31], 1);
	free(deks);
	assert_int_equal(st->ops->edge_list(st, NULL, &edges, &n), TV_OK);
	assert_int_equal(n, 1);
	assert_int_equal(edges[0].last_seen_ms, 0);
	assert_int_equal(st->ops->edge_heartbeat(st, edges[0].id, 5000), TV_OK);
	free(edges);
	assert_int_equal(st->ops->edge_list(st, "00000000-0000-4000-8000-000000000001", &edges, &n),
			 TV_OK);
	assert_int_equal(edges[0].last_seen_ms, 5000);
	free(edges);
	assert_int_equal(st->ops->edge_heartbeat(st, "nope", 1), TV_ERR_NOT_FOUND);
	assert_int_equal(st->ops->tenant_count(st, &n), TV_OK);
	assert_int_equal(n, 1);
}

static void test_apikeys(void **state)
{
	struct S_env *e = *state;
	struct tv_store *st = e->st;
	struct tv_tenant t;
	struct tv_dek d;
	struct tv_edge ed;
	struct tv_apikey k, k2, got, *list = NULL;
	size_t n = 0;

	S_tenant(3, &t, &d, &ed, &k);
	assert_int_equal(st->ops->tenant_bootstrap(st, &t, &d, &ed, &k), TV_OK);
	k2 = k;
	snprintf(k2.id, sizeof(k2.id), "40000000-0000-4000-8000-000000000003");
	k2.role = TV_ROLE_READ_ONLY;
	k2.expires_ms = 99999;
	memset(k2.hash, 0x77, sizeof(k2.hash));
	assert_int_equal(st->ops->apikey_insert(st, &k2), TV_OK);
	assert_int_equal(st->ops->apikey_insert(st, &k2), TV_ERR_EXISTS);
	assert_int_equal(st->ops->apikey_by_hash(st, k2.hash, &got), TV_OK);
	assert_string_equal(got.id, k2.id);
	assert_int_equal(got.role, TV_ROLE_READ_ONLY);
	assert_int_equal(got.expires_ms, 99999);
	assert_int_equal(got.revoked_ms, 0);
	assert_int_equal(st->ops->apikey_list(st, t.id, &list, &n), TV_OK);
	assert_int_equal(n, 2);
	free(list);
	/* revoking is scoped to the tenant and happens once */
	assert_int_equal(st->ops->apikey_revoke(st, "00000000-0000-4000-8000-000000000001", k2.id, 7),
			 TV_ERR_NOT_FOUND);
	assert_int_equal(st->ops->apikey_revoke(st, t.id, k2.id, 7), TV_OK);
	assert_int_equal(st->ops->apikey_revoke(st, t.id, k2.id, 8), TV_ERR_NOT_FOUND);
	assert_int_equal(st->ops->apikey_by_hash(st, k2.hash, &got), TV_OK);
	assert_int_equal(got.revoked_ms, 7);
	assert_int_equal(st->ops->apikey_touch(st, k2.id, 1234), TV_OK);
	assert_int_equal(st->ops->apikey_by_hash(st, k2.hash, &got), TV_OK);
	assert_int_equal(got.last_used_ms, 1234);
	assert_int_equal(st->ops->audit_append(st, &(struct tv_audit){ .ts_ms = 1, .action = "x" }),
			 TV_OK);
}

struct S_thread_arg {
	struct tv_store *st;
	int n;
	enum tv_err rc;
};

static void *S_worker(void *p)
{
	struct S_thread_arg *a = p;
	struct tv_tenant t, got;
	struct tv_dek d;
	struct tv_edge e;
	struct tv_apikey k;
	int i;

	S_tenant(100 + a->n, &t, &d, &e, &k);
	a->rc = a->st->ops->tenant_bootstrap(a->st, &t, &d, &e, &k);
	for (i = 0; i < 50 && !a->rc; i++) {
		a->rc = a->st->ops->tenant_get(a->st, t.id, &got);
		if (!a->rc)
			a->rc = a->st->ops->apikey_touch(a->st, k.id, i);
	}
	return NULL;
}

/* The pool gives each thread its own connection; writers queue, none fail. */
static void test_concurrent_threads(void **state)
{
	struct S_env *e = *state;
	struct S_thread_arg args[8];
	pthread_t th[8];
	size_t n = 0;
	int i;

	for (i = 0; i < 8; i++) {
		args[i] = (struct S_thread_arg){ .st = e->st, .n = i };
		assert_int_equal(pthread_create(&th[i], NULL, S_worker, &args[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].rc, TV_OK);
	}
	assert_int_equal(e->st->ops->tenant_count(e->st, &n), TV_OK);
	assert_int_equal(n, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_rules),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_tenant_bootstrap_atomic),
		cmocka_unit_test(test_apikeys),
		cmocka_unit_test(test_concurrent_threads),
	};

	return cmocka_run_group_tests_name("unit/store", tests, S_setup, S_teardown);
}
