/* tv-test-libs: tv_svc */
/* tv-test-pg: both */
/* Unit tests of the importer (on SQLite, and on PostgreSQL under unit-pg/):
 * an item that keeps crashing its workers ends as INTERNAL_ERROR instead of
 * looping; and the group commit's rules, with a store whose items_finish a
 * test can hold shut: results are visible (store, on_job_final, metrics)
 * only after the commit, the lease stays renewed while an item waits for
 * the committer, a kill -9 then loses nothing, a stop drains the
 * committer, and a failed commit is never reported. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "svc/account.h"
#include "svc/import.h"
#include "svc/metrics.h"
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

/* ---- the group commit ---- */

/* A store in front of the real one whose items_finish waits while the gate
 * is shut, or fails (writing nothing) while fail > 0. Only the ops the
 * importer calls are set. */
struct S_gate {
	struct tv_store base; /* first: the wrapper is a struct tv_store */
	struct tv_store_ops ops;
	struct tv_store *inner;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool shut;
	int entered; /* items_finish calls so far */
	int fail;    /* fail this many more calls with TV_ERR_STORE */
	int claims;  /* successful item_claim calls */
	int fd;      /* >= 0: a byte is written here when items_finish waits */
};

static struct S_gate *S_gate_of(struct tv_store *st)
{
	return (struct S_gate *)st;
}

static enum tv_err S_g_claim(struct tv_store *st, const char *owner, int64_t now_ms,
			     int64_t lease_until_ms, unsigned max_inflight,
			     struct tv_claimed_item *out)
{
	struct S_gate *g = S_gate_of(st);
	enum tv_err rc = g->inner->ops->item_claim(g->inner, owner, now_ms, lease_until_ms,
						   max_inflight, out);

	pthread_mutex_lock(&g->lock);
	g->claims += rc == TV_OK;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

static enum tv_err S_g_renew(struct tv_store *st, const char *job_id, int index,
			     const char *owner, int64_t lease_until_ms)
{
	struct S_gate *g = S_gate_of(st);

	return g->inner->ops->item_renew(g->inner, job_id, index, owner, lease_until_ms);
}

static enum tv_err S_g_finish(struct tv_store *st, const char *owner,
			      struct tv_item_finish *batch, size_t n, int64_t now_ms)
{
	struct S_gate *g = S_gate_of(st);
	bool fail;
	size_t i;

	pthread_mutex_lock(&g->lock);
	g->entered++;
	if (g->shut && g->fd >= 0)
		assert_int_equal(write(g->fd, "x", 1), 1);
	while (g->shut)
		pthread_cond_wait(&g->cond, &g->lock);
	fail = g->fail > 0;
	if (fail)
		g->fail--;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (fail) {
		for (i = 0; i < n; i++)
			batch[i].rc = TV_ERR_STORE;
		return TV_ERR_STORE;
	}
	return g->inner->ops->items_finish(g->inner, owner, batch, n, now_ms);
}

static void S_gate_init(struct S_gate *g, struct tv_store *inner, bool shut)
{
	memset(g, 0, sizeof(*g));
	g->inner = inner;
	g->ops.name = inner->ops->name;
	g->ops.item_claim = S_g_claim;
	g->ops.item_renew = S_g_renew;
	g->ops.items_finish = S_g_finish;
	g->base.ops = &g->ops;
	g->shut = shut;
	g->fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
}

static void S_gate_open(struct S_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->shut = false;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Wait until items_finish has been entered n times. */
static void S_gate_wait_entered(struct S_gate *g, int n)
{
	int64_t deadline = tv_mono_ms() + 20000;

	pthread_mutex_lock(&g->lock);
	while (g->entered < n) {
		pthread_mutex_unlock(&g->lock);
		assert_true(tv_mono_ms() < deadline);
		usleep(5000);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
}

static void S_gate_free(struct S_gate *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

/* A tenant, its keyring and trust cache, and a job of n_items items that
 * are no keystore (each gets one FAILED result). */
struct S_env {
	struct tvt_db db;
	struct tv_store *st;
	struct tv_secbuf *master;
	struct tv_tenant_created t;
	struct tv_keyring *kr;
	struct tv_trust_cache *cache;
	struct tv_import_job job;
	int finals; /* on_job_final calls */
	pthread_mutex_t lock;
};

static void S_env_new(struct S_env *e, int n_items)
{
	struct tv_import_item items[8];
	enum tv_import_verdict verdict;
	int i;

	memset(e, 0, sizeof(*e));
	assert_true(n_items <= 8);
	pthread_mutex_init(&e->lock, NULL);
	assert_int_equal(tvt_db_new(&e->db, "gc"), 0);
	assert_int_equal(tv_store_open(&e->st, e->db.url, true), TV_OK);
	assert_int_equal(tv_secbuf_new(&e->master, 32), TV_OK);
	randombytes_buf(e->master->p, 32);
	assert_int_equal(tv_svc_tenant_create(&e->t, e->st, e->master, "t"), TV_OK);
	memcpy(e->job.tenant_id, e->t.tenant_id, sizeof(e->job.tenant_id));
	memcpy(e->job.edge_id, e->t.edge_instance_id, sizeof(e->job.edge_id));
	memcpy(e->job.dek_id, e->t.encryption_key_id, sizeof(e->job.dek_id));
	memset(items, 0, sizeof(items));
	for (i = 0; i < n_items; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"not a keystore";
		items[i].keystore_len = 14;
	}
	assert_int_equal(tv_import_create(e->st, &e->job, items, (size_t)n_items, 0, &verdict),
			 TV_OK);
	assert_int_equal(verdict, TV_IMPORT_ACCEPTED);
	assert_int_equal(tv_keyring_new(&e->kr, e->st, e->master), TV_OK);
	assert_int_equal(tv_trust_cache_new(&e->cache, e->st, NULL), TV_OK);
}

static void S_env_free(struct S_env *e)
{
	tv_trust_cache_free(e->cache);
	tv_keyring_free(e->kr);
	tv_secbuf_free(e->t.api_key);
	tv_secbuf_free(e->master);
	tv_store_close(e->st);
	pthread_mutex_destroy(&e->lock);
	assert_int_equal(tvt_db_drop(&e->db), 0);
}

static void S_on_final(void *arg)
{
	struct S_env *e = arg;

	pthread_mutex_lock(&e->lock);
	e->finals++;
	pthread_mutex_unlock(&e->lock);
}

static int S_finals(struct S_env *e)
{
	int n;

	pthread_mutex_lock(&e->lock);
	n = e->finals;
	pthread_mutex_unlock(&e->lock);
	return n;
}

/* The job's status and its final results, as a GET shows them (an item
 * not final yet shows as a PROCESSING row). */
static size_t S_results(struct S_env *e, char *status, size_t status_size)
{
	struct tv_import_result *res = NULL;
	struct tv_import_job job;
	size_t n = 0, i, final = 0;

	assert_int_equal(e->st->ops->job_get(e->st, e->t.tenant_id, e->job.id, &job, &res, &n),
			 TV_OK);
	snprintf(status, status_size, "%s", job.status);
	for (i = 0; i < n; i++)
		final += strcmp(res[i].status, "PROCESSING") != 0;
	tv_import_results_free(res, n);
	return final;
}

static void S_wait_final(struct S_env *e, size_t n_items)
{
	int64_t deadline = tv_mono_ms() + 20000;
	char status[16];
	size_t n;

	for (;;) {
		n = S_results(e, status, sizeof(status));
		if (!strcmp(status, "FAILED") || !strcmp(status, "COMPLETED"))
			break;
		assert_true(tv_mono_ms() < deadline);
		usleep(20000);
	}
	assert_string_equal(status, "FAILED"); /* no item is a keystore */
	assert_int_equal(n, n_items);
}

static uint64_t S_counted(const struct tv_svc_metrics *m)
{
	uint64_t sum = 0;
	size_t i, j;

	for (i = 0; i < TV_SVC_RESULT_STATUSES; i++)
		for (j = 0; j < TV_REASON_COUNT; j++)
			sum += atomic_load(&m->results[i][j]);
	return sum;
}

/* Nothing is visible before the commit, and the lease is kept meanwhile. */
static void test_visible_after_commit(void **state)
{
	static struct tv_svc_metrics m; /* zero counters */
	struct tv_importer_config cfg = { .workers = 1, .lease_ms = 300 };
	struct tv_importer *imp = NULL;
	struct tv_claimed_item ci;
	struct S_gate g;
	struct S_env e;
	char status[16];

	(void)state;
	memset(&m, 0, sizeof(m));
	S_env_new(&e, 2);
	S_gate_init(&g, e.st, true);
	cfg.on_job_final = S_on_final;
	cfg.on_job_final_arg = &e;
	cfg.metrics = &m;
	assert_int_equal(tv_importer_start(&imp, &g.base, e.kr, e.cache, &cfg), TV_OK);
	tv_importer_notify(imp);
	S_gate_wait_entered(&g, 1);
	/* both leases outlive their 300 ms many times over while the
	 * committer is held: renewed, so no one else can claim the items */
	usleep(1000000);
	assert_int_equal(S_results(&e, status, sizeof(status)), 0);
	assert_string_equal(status, "PROCESSING");
	assert_int_equal(S_finals(&e), 0);
	assert_int_equal(S_counted(&m), 0);
	assert_int_equal(e.st->ops->item_claim(e.st, "other", tv_now_ms(), tv_now_ms() + 60000,
					       0, &ci),
			 TV_ERR_NOT_FOUND);
	S_gate_open(&g);
	S_wait_final(&e, 2);
	tv_importer_stop(imp); /* joins the committer: its on_job_final call is over */
	assert_int_equal(S_finals(&e), 1);
	assert_int_equal(S_counted(&m), 2);
	assert_int_equal(g.claims, 2);
	S_gate_free(&g);
	S_env_free(&e);
}

struct S_stopper {
	struct tv_importer *imp;
	bool done;
	pthread_mutex_t lock;
};

static void *S_stop_thread(void *arg)
{
	struct S_stopper *s = arg;

	tv_importer_stop(s->imp);
	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* tv_importer_stop returns only once the committer has drained. */
static void test_stop_drains(void **state)
{
	struct tv_importer_config cfg = { .workers = 1, .lease_ms = 60000 };
	struct S_stopper s = { .done = false };
	struct S_gate g;
	struct S_env e;
	pthread_t th;
	char status[16];
	bool done;

	(void)state;
	S_env_new(&e, 3);
	S_gate_init(&g, e.st, true);
	pthread_mutex_init(&s.lock, NULL);
	assert_int_equal(tv_importer_start(&s.imp, &g.base, e.kr, e.cache, &cfg), TV_OK);
	tv_importer_notify(s.imp);
	S_gate_wait_entered(&g, 1);
	assert_int_equal(pthread_create(&th, NULL, S_stop_thread, &s), 0);
	usleep(300000);
	pthread_mutex_lock(&s.lock);
	done = s.done;
	pthread_mutex_unlock(&s.lock);
	assert_false(done); /* held by the committer's pending commit */
	assert_int_equal(S_results(&e, status, sizeof(status)), 0);
	S_gate_open(&g);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* every item a worker took is durable once stop returned */
	assert_int_equal(S_results(&e, status, sizeof(status)), (size_t)g.claims);
	assert_true(g.claims >= 1);
	pthread_mutex_destroy(&s.lock);
	S_gate_free(&g);
	S_env_free(&e);
}

/* A failed commit reports nothing; the item is claimed again after its
 * lease and recorded once. */
static void test_commit_failure_retried(void **state)
{
	static struct tv_svc_metrics m;
	struct tv_importer_config cfg = { .workers = 1, .lease_ms = 300 };
	struct tv_importer *imp = NULL;
	struct S_gate g;
	struct S_env e;

	(void)state;
	memset(&m, 0, sizeof(m));
	S_env_new(&e, 1);
	S_gate_init(&g, e.st, false);
	g.fail = 1;
	cfg.on_job_final = S_on_final;
	cfg.on_job_final_arg = &e;
	cfg.metrics = &m;
	assert_int_equal(tv_importer_start(&imp, &g.base, e.kr, e.cache, &cfg), TV_OK);
	tv_importer_notify(imp);
	S_wait_final(&e, 1);
	tv_importer_stop(imp);
	assert_int_equal(g.claims, 2);  /* the failed commit's item, claimed again */
	assert_int_equal(g.entered, 2); /* one failed commit, one good one */
	assert_int_equal(S_counted(&m), 1);
	assert_int_equal(S_finals(&e), 1);
	S_gate_free(&g);
	S_env_free(&e);
}

/* A process killed while its outcomes wait for the committer loses
 * nothing: another importer claims the items once the leases end. */
static void test_kill9_before_commit(void **state)
{
	struct tv_importer_config cfg = { .workers = 1, .lease_ms = 500 };
	struct tv_importer *imp = NULL;
	struct pollfd pfd;
	struct S_env e;
	char status[16], c;
	int fds[2], wst;
	pid_t pid;

	(void)state;
	S_env_new(&e, 3);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct tv_store *st = NULL;
		struct tv_keyring *kr = NULL;
		struct tv_trust_cache *cache = NULL;
		struct S_gate g;

		close(fds[0]);
		if (tv_store_open(&st, e.db.url, false) || tv_keyring_new(&kr, st, e.master) ||
		    tv_trust_cache_new(&cache, st, NULL))
			_exit(2);
		S_gate_init(&g, st, true); /* never opens */
		g.fd = fds[1];
		if (tv_importer_start(&imp, &g.base, kr, cache, &cfg))
			_exit(3);
		tv_importer_notify(imp);
		for (;;)
			pause();
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 20000), 1);
	assert_int_equal(read(fds[0], &c, 1), 1);
	usleep(200000); /* the worker goes on with the next items meanwhile */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFSIGNALED(wst));
	close(fds[0]);
	/* nothing was written by the dead process */
	assert_int_equal(S_results(&e, status, sizeof(status)), 0);
	assert_string_equal(status, "PROCESSING");
	assert_int_equal(tv_importer_start(&imp, e.st, e.kr, e.cache, &cfg), TV_OK);
	tv_importer_notify(imp);
	S_wait_final(&e, 3); /* one result per item: none lost, none doubled */
	tv_importer_stop(imp);
	S_env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crashing_item_fails),
		cmocka_unit_test(test_visible_after_commit),
		cmocka_unit_test(test_stop_drains),
		cmocka_unit_test(test_commit_failure_retried),
		cmocka_unit_test(test_kill9_before_commit),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/svc_import", tests, NULL, NULL);
}
