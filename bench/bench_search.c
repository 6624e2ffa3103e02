/*
 * bench_search - the vault's search latency with 100,000 certificates.
 *
 * Seeds a fresh SQLite store (the real schema, through tv_store_open) with
 * N certificates, then times, through the store's own search path, (a) a
 * fingerprint lookup and (b) the first page of 100 sorted by validityEnd,
 * each R times. Prints medians and p95 next to the 20 ms target. A
 * benchmark, not a test: `make bench` runs it; nothing asserts on time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite_int.h"

#define N_CERTS 100000
#define ROUNDS 51

static int S_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double S_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void S_seed(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int i;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		exit(1);
	sqlite3_exec(db, "INSERT INTO tenants (id, name, created_ms) VALUES ('t', 't', 0);"
			 "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(db,
			   "INSERT INTO certificates (id, tenant_id, fingerprint, der, facts,"
			   " certificate_name, subject_cn, encryption_type, key_strength,"
			   " validity_start_ms, validity_end_ms, created_ms, modified_ms)"
			   " VALUES (printf('%08d-0000-4000-8000-000000000000', ?1), 't',"
			   " printf('%040X', ?1 * 2654435761), zeroblob(900), '{}',"
			   " printf('host%d.example.com', ?1), printf('host%d.example.com', ?1),"
			   " 'RSA', 2048, ?2, ?3, ?4, ?4)", -1, &st, NULL);
	for (i = 0; i < N_CERTS; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, i);
		sqlite3_bind_int64(st, 2, 1700000000000LL + (int64_t)(i % 997) * 86400000);
		sqlite3_bind_int64(st, 3, 1800000000000LL + (int64_t)((i * 7919) % 100003) * 60000);
		sqlite3_bind_int64(st, 4, 1790000000000LL + i);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT; ANALYZE;", NULL, NULL, NULL);
	sqlite3_close(db);
}

static void S_time(struct tv_store *store, const char *name, const struct tv_search *q)
{
	double t[ROUNDS];
	int i;

	for (i = 0; i < ROUNDS; i++) {
		struct tv_cert_record *rows = NULL;
		size_t n = 0, total = 0;
		double t0 = S_us();

		if (store->ops->cert_search(store, "t", q, &rows, &n, &total) != TV_OK)
			exit(1);
		t[i] = (S_us() - t0) / 1000.0;
		tv_cert_records_free(rows, n);
	}
	qsort(t, ROUNDS, sizeof(t[0]), S_cmp);
	printf("%-44s %10.2f %10.2f %10.1f %10.3f\n", name, t[ROUNDS / 2], t[ROUNDS * 95 / 100],
	       20.0, t[ROUNDS / 2] / 20.0);
}

int main(void)
{
	char dir[64] = "/tmp/tlsvault-bench-XXXXXX", path[128], url[160], cmd[128], fp[41];
	struct tv_search_value v;
	struct tv_search_expr e = { .op = TV_SO_EQ, .field = TV_SF_FINGERPRINT, .values = &v,
				    .n_values = 1 };
	struct tv_search_order by_end = { .field = TV_SF_VALIDITY_END };
	struct tv_search q1 = { .expr = &e, .page_size = 100 };
	struct tv_search q2 = { .orders = &by_end, .n_orders = 1, .page_size = 100 };
	struct tv_store *store = NULL;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	if (tv_store_open(&store, url, true) != TV_OK)
		return 1;
	S_seed(path);
	snprintf(fp, sizeof(fp), "%040llX", (unsigned long long)(54321ULL * 2654435761ULL));
	v.text = fp;
	printf("search over %d certificates, SQLite, %d rounds (ms)\n", N_CERTS, ROUNDS);
	printf("%-44s %10s %10s %10s %10s\n", "query", "median", "p95", "target", "ratio");
	S_time(store, "fingerprint EQ (count + page)", &q1);
	S_time(store, "first page of 100 by validityEnd (count+page)", &q2);
	tv_store_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
