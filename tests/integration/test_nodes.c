/* tv-test-pg: only */
/*
 * Integration tests of several tlsvaultd nodes on one PostgreSQL database
 * (issue 8): a node killed with -9 while it works, leases taken over by the
 * others, nothing imported twice, jobs posted to the dead node finished, a
 * long-poll woken across nodes, and the trusted-CA cache invalidated across
 * nodes. CTest runs this under tests/pg/with-pg.sh (integration-pg/).
 */
#define _GNU_SOURCE
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

#include "../unit/test_db.h"
#include "core/util.h"
#include "importing.h"
#include "keygen.h"

#define PASS "n0de-pass-\xc3\xa9"
#define N_NODES 3
#define N_JOBS 10
#define N_ITEMS 100
#define N_DUP 10 /* the last items of the last job repeat the first job's */

/* The servers of the running test, killed by the teardown when a test fails
 * half way (live children would hold CTest's output pipe open). */
static struct tvh_server S_nodes[N_NODES];

static int S_teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < N_NODES; i++)
		if (S_nodes[i].pid > 0)
			tvh_stop(&S_nodes[i], SIGKILL);
	if (S_nodes[0].dir[0])
		tvh_cleanup(&S_nodes[0]);
	memset(S_nodes, 0, sizeof(S_nodes));
	return 0;
}

struct S_keystore {
	unsigned char *der;
	size_t len;
	char fp[41];
};

/* A database of its own, initialised through node 0's data directory. */
static void S_cluster_init(struct tvt_db *db, struct tvh_server *node0)
{
	if (!tvt_db_server())
		skip(); /* only under with-pg.sh (CTest's integration-pg/) */
	assert_int_equal(tvt_db_new(db, "nodes"), 0);
	tvh_init_db(node0, db->url);
}

/* Node k shares node 0's data directory (master.key) and database; its own log. */
static void S_node(struct tvh_server *n, const struct tvh_server *node0, int k)
{
	*n = *node0;
	n->pid = 0;
	n->port = 0;
	snprintf(n->log_path, sizeof(n->log_path), "%s/serve-%d.log", node0->dir, k);
}

static long long S_count(const struct tvt_db *db, const char *sql)
{
	long long v = -1;

	assert_int_equal(tvt_db_sql(db, sql, &v), 0);
	return v;
}

/* An import item: the keystore and its password sealed to the DEK. */
static json_t *S_item(const unsigned char pk[32], const struct S_keystore *ks)
{
	char *b = tvh_b64(ks->der, ks->len), *pw = tvh_seal_b64(pk, PASS, strlen(PASS));
	json_t *o = json_pack("{s:s,s:s}", "pkcs12Keystore", b, "dekEncryptedPassword", pw);

	free(b);
	free(pw);
	return o;
}

static char *S_post(const struct tvh_server *s, const unsigned char pk[32],
		    const struct S_keystore *ks, size_t n)
{
	json_t *items = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(items, S_item(pk, &ks[i]));
	return tvh_post_job(s, s->api_key, tvh_envelope(s, items), NULL);
}

/* GET a job with waitSeconds; the JSON, and how long the request took. */
static json_t *S_poll(const struct tvh_server *s, const char *id, int wait, int64_t *took_ms)
{
	char path[200];
	struct tvh_resp r;
	int64_t t0 = tv_mono_ms();
	json_t *j;

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s?waitSeconds=%d",
		 id, wait);
	tvh_request(&r, s, "GET", path, s->api_key, NULL, 0, NULL);
	*took_ms = tv_mono_ms() - t0;
	assert_int_equal(r.status, 200);
	j = json_incref(r.json);
	tvh_resp_free(&r);
	return j;
}

static bool S_final(json_t *job)
{
	const char *st = json_string_value(json_object_get(job, "status"));

	return st && (!strcmp(st, "COMPLETED") || !strcmp(st, "FAILED"));
}

/* Milliseconds from the job's completionDate to now (the same clock). */
static int64_t S_since_completion(json_t *job)
{
	int64_t done = 0;

	assert_int_equal(tv_iso_parse(&done,
				      json_string_value(json_object_get(job, "completionDate"))),
			 TV_OK);
	return tv_now_ms() - done;
}

/* Freeze the victim, and kill it (-9) once it is seen holding a live lease:
 * it dies in the middle of its work, deterministically. */
static void S_kill_while_working(const struct tvt_db *db, struct tvh_server *victim)
{
	int64_t deadline = tv_mono_ms() + 120000;
	char sql[256];
	int status;

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM import_items WHERE state = 'PROCESSING'"
		 " AND lease_owner LIKE '%%:%ld:%%'", (long)victim->pid);
	for (;;) {
		assert_true(tv_mono_ms() < deadline);
		assert_int_equal(kill(victim->pid, SIGSTOP), 0);
		if (S_count(db, sql) > 0)
			break;
		assert_int_equal(kill(victim->pid, SIGCONT), 0);
		usleep(20000); /* poll interval */
	}
	assert_int_equal(kill(victim->pid, SIGKILL), 0);
	assert_int_equal(waitpid(victim->pid, &status, 0), victim->pid);
	assert_true(WIFSIGNALED(status));
	victim->pid = 0;
}

/* 3 nodes, 10 jobs of 100 items posted across them, node 1 killed while it
 * holds items. */
static void test_kill_a_node(void **state)
{
	static struct S_keystore ks[N_JOBS * N_ITEMS];
	const char *extra[] = { "--workers", "2", "--lease-seconds", "2", "--no-system-roots",
				NULL };
	struct tvh_server *nodes = S_nodes;
	char *ids[N_JOBS];
	struct tvh_ca ca;
	struct tvt_db db;
	unsigned char pk[32];
	int64_t max_wait_latency = -1, t0;
	int i, j, waited = 0;

	(void)state;
	S_cluster_init(&db, &nodes[0]);
	t0 = tv_mono_ms();
	tvh_ca_new(&ca, "Nodes Test CA");
	for (i = 0; i < N_JOBS * N_ITEMS - N_DUP; i++) {
		char cn[64];

		snprintf(cn, sizeof(cn), "leaf%04d.nodes.test", i);
		ks[i].der = tvh_leaf_p12(&ca, cn, PASS, &ks[i].len, ks[i].fp);
	}
	for (i = 0; i < N_DUP; i++)
		ks[N_JOBS * N_ITEMS - N_DUP + i] = ks[i]; /* shared buffers */
	print_message("made %d keystores in %lld ms\n", N_JOBS * N_ITEMS - N_DUP,
		      (long long)(tv_mono_ms() - t0));
	for (i = 0; i < N_NODES; i++) {
		if (i)
			S_node(&nodes[i], &nodes[0], i);
		tvh_start(&nodes[i], extra);
	}
	tvh_dek_key(&nodes[0], nodes[0].api_key, pk);
	tvh_trust(&nodes[2], nodes[2].api_key, (const char *const[]){ ca.pem }, 1);
	t0 = tv_mono_ms();
	for (j = 0; j < N_JOBS; j++)
		ids[j] = S_post(&nodes[j % N_NODES], pk, &ks[j * N_ITEMS], N_ITEMS);
	S_kill_while_working(&db, &nodes[1]);
	/* every job, those posted to the dead node too, ends on the survivors;
	 * a long-poll returns as soon as its job is final */
	for (j = 0; j < N_JOBS; j++) {
		const struct tvh_server *s = &nodes[j % N_NODES == 1 ? 0 : j % N_NODES];
		int64_t took = 0, deadline = tv_mono_ms() + 240000;
		json_t *job = S_poll(s, ids[j], 60, &took);

		while (!S_final(job)) {
			assert_true(tv_mono_ms() < deadline);
			json_decref(job);
			job = S_poll(s, ids[j], 60, &took);
		}
		if (took > 200) { /* it waited: the wake-up came from the job's end */
			int64_t late = S_since_completion(job);

			waited++;
			if (late > max_wait_latency)
				max_wait_latency = late;
		}
		assert_string_equal(json_string_value(json_object_get(job, "status")), "COMPLETED");
		assert_int_equal(json_array_size(json_object_get(job, "results")), N_ITEMS);
		json_decref(job);
	}
	print_message("1000 items on 3 nodes (one killed) in %lld ms; %d long-polls waited, "
		      "the slowest answered %lld ms after its job ended\n",
		      (long long)(tv_mono_ms() - t0), waited, (long long)max_wait_latency);
	/* promptly, well before the 60 s deadline of the poll; the tight bound
	 * on the cross-node wake-up itself is test_longpoll_across_nodes' (here
	 * the finishing transaction itself competes with six workers) */
	assert_true(waited > 0);
	assert_true(max_wait_latency < 5000);
	/* nothing imported twice, nothing left behind */
	assert_int_equal(S_count(&db, "SELECT count(*) FROM import_results WHERE status = 'IMPORTED'"),
			 N_JOBS * N_ITEMS - N_DUP);
	assert_int_equal(S_count(&db, "SELECT count(*) FROM import_results WHERE status = 'SKIPPED'"),
			 N_DUP);
	assert_int_equal(S_count(&db, "SELECT count(*) FROM import_results"), N_JOBS * N_ITEMS);
	assert_int_equal(S_count(&db, "SELECT count(*) FROM certificates"),
			 N_JOBS * N_ITEMS - N_DUP + 1); /* the leaves and the CA */
	assert_int_equal(S_count(&db, "SELECT count(*) FROM certificates WHERE sealed_key IS NOT NULL"),
			 N_JOBS * N_ITEMS - N_DUP);
	assert_int_equal(S_count(&db, "SELECT count(*) FROM (SELECT fingerprint FROM import_results"
				      " WHERE status = 'IMPORTED' GROUP BY fingerprint"
				      " HAVING count(*) > 1) d"),
			 0);
	assert_int_equal(S_count(&db, "SELECT count(*) FROM import_items WHERE state <> 'FINAL'"
				      " OR keystore IS NOT NULL OR sealed_password IS NOT NULL"),
			 0);
	/* the dead node's items were taken over after their leases ran out */
	assert_true(S_count(&db, "SELECT count(*) FROM import_items WHERE attempts > 1") > 0);
	for (i = 0; i < N_NODES; i++) {
		if (nodes[i].pid > 0)
			assert_int_equal(tvh_stop(&nodes[i], SIGTERM), 0);
		assert_false(tvh_file_contains(nodes[i].log_path, PASS, strlen(PASS)));
	}
	for (j = 0; j < N_JOBS; j++)
		free(ids[j]);
	for (i = 0; i < N_JOBS * N_ITEMS - N_DUP; i++)
		free(ks[i].der);
	tvh_ca_free(&ca);
	tvh_cleanup(&nodes[0]);
	assert_int_equal(tvt_db_drop(&db), 0);
}

/* An API-only node (A) and a worker node (B): B does all the work. */
static void S_pair(struct tvt_db *db, struct tvh_server *a, struct tvh_server *b)
{
	const char *api_only[] = { "--workers", "0", "--no-system-roots", NULL };
	const char *worker[] = { "--workers", "1", "--no-system-roots", NULL };

	S_cluster_init(db, a);
	S_node(b, a, 1);
	tvh_start(a, api_only);
	tvh_start(b, worker);
}

static json_t *S_job_of(const struct tvh_server *a, const unsigned char pk[32],
			const struct S_keystore *ks, size_t n)
{
	char *id = S_post(a, pk, ks, n);
	json_t *job = tvh_wait_job(a, a->api_key, id);

	free(id);
	return job;
}

/* A job posted to A and processed by B wakes the long-poll on A at once,
 * though B was frozen when the poll began (so it really waited). */
static void test_longpoll_across_nodes(void **state)
{
	struct tvh_server *a = &S_nodes[0], *b = &S_nodes[1];
	struct S_keystore ks[3];
	struct tvh_ca ca;
	struct tvt_db db;
	unsigned char pk[32];
	int i;

	(void)state;
	S_pair(&db, a, b);
	tvh_ca_new(&ca, "Poll CA");
	tvh_trust(a, a->api_key, (const char *const[]){ ca.pem }, 1);
	tvh_dek_key(a, a->api_key, pk);
	for (i = 0; i < 3; i++) {
		char cn[64], *id;
		int64_t took = 0, late;
		json_t *job;
		pid_t poller;
		int status;

		snprintf(cn, sizeof(cn), "poll%d.nodes.test", i);
		ks[i].der = tvh_leaf_p12(&ca, cn, PASS, &ks[i].len, ks[i].fp);
		assert_int_equal(kill(b->pid, SIGSTOP), 0);
		id = S_post(a, pk, &ks[i], 1);
		/* thaw B a moment after the poll starts, from a child process */
		poller = fork();
		assert_true(poller >= 0);
		if (poller == 0) {
			usleep(300000);
			_exit(kill(b->pid, SIGCONT) == 0 ? 0 : 1);
		}
		job = S_poll(a, id, 30, &took);
		assert_int_equal(waitpid(poller, &status, 0), poller);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_true(S_final(job));
		assert_true(took >= 250); /* it was suspended until B finished */
		late = S_since_completion(job);
		print_message("long-poll on A answered %lld ms after B finished the job\n",
			      (long long)late);
		/* the HTTP server's own re-run of waiters comes once a second:
		 * this is the store event (LISTEN/NOTIFY) */
		assert_true(late < 500);
		assert_string_equal(json_string_value(json_object_get(tvh_result(job, 0), "status")),
				    "IMPORTED");
		json_decref(job);
		free(id);
		free(ks[i].der);
	}
	assert_int_equal(tvh_stop(b, SIGTERM), 0);
	assert_int_equal(tvh_stop(a, SIGTERM), 0);
	tvh_ca_free(&ca);
	tvh_cleanup(a);
	assert_int_equal(tvt_db_drop(&db), 0);
}

/* B's cached trust store follows CAs added and removed through A. */
static void test_trust_cache_across_nodes(void **state)
{
	struct tvh_server *a = &S_nodes[0], *b = &S_nodes[1];
	struct S_keystore ks[3];
	struct tvh_ca ca;
	struct tvt_db db;
	unsigned char pk[32];
	struct tvh_resp r;
	char body[200];
	json_t *job;
	int i;

	(void)state;
	S_pair(&db, a, b);
	tvh_ca_new(&ca, "Late CA");
	tvh_dek_key(a, a->api_key, pk);
	for (i = 0; i < 3; i++) {
		char cn[64];

		snprintf(cn, sizeof(cn), "trust%d.nodes.test", i);
		ks[i].der = tvh_leaf_p12(&ca, cn, PASS, &ks[i].len, ks[i].fp);
	}
	/* B builds its trust store without the CA */
	job = S_job_of(a, pk, &ks[0], 1);
	assert_string_equal(json_string_value(json_object_get(tvh_result(job, 0), "status")),
			    "FAILED");
	assert_non_null(strstr(json_string_value(json_object_get(tvh_result(job, 0), "reason")),
			       "CHAIN_BUILDING_FAILED"));
	json_decref(job);
	/* the CA is added through A: B's next item sees it */
	tvh_trust(a, a->api_key, (const char *const[]){ ca.pem }, 1);
	job = S_job_of(a, pk, ks, 2);
	assert_string_equal(json_string_value(json_object_get(tvh_result(job, 0), "status")),
			    "IMPORTED");
	assert_string_equal(json_string_value(json_object_get(tvh_result(job, 1), "status")),
			    "IMPORTED");
	json_decref(job);
	/* and removed through A: B stops trusting it */
	tvh_request(&r, a, "GET", "/v1/trustedcacertificates", a->api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	snprintf(body, sizeof(body), "{\"fingerprints\":[\"%s\"]}",
		 json_string_value(json_object_get(
			 json_array_get(json_object_get(r.json, "certificates"), 0), "fingerprint")));
	tvh_resp_free(&r);
	tvh_request(&r, a, "POST", "/v1/trustedcacertificates/deletion", a->api_key, body,
		    strlen(body), NULL);
	assert_int_equal(r.status, 204);
	tvh_resp_free(&r);
	job = S_job_of(a, pk, &ks[2], 1);
	assert_non_null(strstr(json_string_value(json_object_get(tvh_result(job, 0), "reason")),
			       "CHAIN_BUILDING_FAILED"));
	json_decref(job);
	for (i = 0; i < 3; i++)
		free(ks[i].der);
	assert_int_equal(tvh_stop(b, SIGTERM), 0);
	assert_int_equal(tvh_stop(a, SIGTERM), 0);
	tvh_ca_free(&ca);
	tvh_cleanup(a);
	assert_int_equal(tvt_db_drop(&db), 0);
}

/* GET /v1/useraccounts on s with key: the status. */
static long S_whoami(const struct tvh_server *s, const char *key)
{
	struct tvh_resp r;
	long status;

	tvh_request(&r, s, "GET", "/v1/useraccounts", key, NULL, 0, NULL);
	status = r.status;
	if (status != 200)
		assert_int_equal(tvh_error_code(&r), 10501);
	tvh_resp_free(&r);
	return status;
}

/*
 * A key revoked through A: refused by A at once (it forgets its cached
 * lookup), by C at once (no cache), and by B, which had just used it,
 * within B's --auth-cache-seconds: no request B receives once its cached
 * lookup is older than the TTL is let in.
 */
static void test_revoke_across_nodes(void **state)
{
	const char *a_opts[] = { "--workers", "0", "--no-system-roots", "--auth-cache-seconds",
				 "2", NULL };
	const char *b_opts[] = { "--workers", "1", "--no-system-roots", "--auth-cache-seconds",
				 "2", NULL };
	const char *c_opts[] = { "--workers", "0", "--no-system-roots", "--auth-cache-seconds",
				 "0", NULL };
	const char *new_key = "{\"name\":\"short-lived\",\"role\":\"READ_ONLY\"}";
	const int64_t ttl_ms = 2000;
	struct tvh_server *a = &S_nodes[0], *b = &S_nodes[1], *c = &S_nodes[2];
	struct tvh_resp r;
	struct tvt_db db;
	char key[64], path[128];
	int64_t b_used_end, revoked, last_ok = -1;
	int ok_after = 0;

	(void)state;
	S_cluster_init(&db, a);
	S_node(b, a, 1);
	S_node(c, a, 2);
	tvh_start(a, a_opts);
	tvh_start(b, b_opts);
	tvh_start(c, c_opts);
	tvh_request(&r, a, "POST", "/v1/apikeys", a->api_key, new_key, strlen(new_key), NULL);
	assert_int_equal(r.status, 201);
	snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(r.json, "key")));
	snprintf(path, sizeof(path), "/v1/apikeys/%s",
		 json_string_value(json_object_get(r.json, "id")));
	tvh_resp_free(&r);
	assert_int_equal(S_whoami(a, key), 200);
	assert_int_equal(S_whoami(c, key), 200);
	assert_int_equal(S_whoami(b, key), 200);
	/* B's cached lookup was made during that request, so by now at the latest */
	b_used_end = tv_mono_ms();

	tvh_request(&r, a, "DELETE", path, a->api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 204);
	tvh_resp_free(&r);
	revoked = tv_mono_ms();
	assert_int_equal(S_whoami(a, key), 401);
	assert_int_equal(S_whoami(c, key), 401);
	for (;;) {
		int64_t start = tv_mono_ms();
		long status = S_whoami(b, key);

		if (status == 401)
			break;
		assert_int_equal(status, 200);
		/* the bound: 20 ms for the clocks' millisecond rounding */
		if (start > b_used_end + ttl_ms + 20)
			fail_msg("B let a revoked key in %lld ms after its lookup (TTL %lld ms)",
				 (long long)(start - b_used_end), (long long)ttl_ms);
		last_ok = start;
		ok_after++;
		usleep(50000);
	}
	print_message("B accepted the revoked key %d time(s), the last %lld ms after the "
		      "revocation; refused %lld ms after it\n",
		      ok_after, (long long)(last_ok >= 0 ? last_ok - revoked : -1),
		      (long long)(tv_mono_ms() - revoked));
	/* and it stays refused everywhere */
	assert_int_equal(S_whoami(b, key), 401);
	assert_int_equal(S_whoami(a, key), 401);
	assert_int_equal(tvh_stop(c, SIGTERM), 0);
	assert_int_equal(tvh_stop(b, SIGTERM), 0);
	assert_int_equal(tvh_stop(a, SIGTERM), 0);
	tvh_cleanup(a);
	assert_int_equal(tvt_db_drop(&db), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_revoke_across_nodes, S_teardown),
		cmocka_unit_test_teardown(test_longpoll_across_nodes, S_teardown),
		cmocka_unit_test_teardown(test_trust_cache_across_nodes, S_teardown),
		cmocka_unit_test_teardown(test_kill_a_node, S_teardown),
	};

	return cmocka_run_group_tests_name("integration/nodes", tests, NULL, NULL);
}
