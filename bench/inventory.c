/*
 * DESIGN: search latency at inventory scale. The vault is made by
 * `tlsvaultd init` and filled through the store API the way imports fill
 * it: real X.509 certificates (EC P-256, one issuing CA, validity spread
 * over three years), their facts computed by tv_certinfo_init, committed
 * by item_finish with a sealed key each (random bytes of a sealed PKCS#8's
 * size) and the CA as issuer. To keep seeding to seconds, one claimed item
 * records 1,000 outcomes (the store takes any number per item; a keystore
 * can hold several keys), so 100,000 certificates are 100 transactions.
 * The seeded vault is cached under the build tree and reused.
 *
 * Two queries, each timed per call over many calls (p50, p99), through the
 * store's own search path (count + page in one read transaction, as the
 * API runs it): a fingerprint lookup (EQ on a random stored fingerprint
 * each call) and the first page of 100 sorted by validityEnd. Baseline:
 * the same two statements on the same database with bare SQLite, prepared
 * once. The same queries then go through HTTP (POST certificatesearch on a
 * tlsvaultd serving that vault).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/util.h"
#include "store/store.h"
#include "svc/certinfo.h"
#include "svc/import.h"

#define S_VERSION "bench-inventory-v1"
#define S_PER_ITEM 1000
#define S_KEY_POOL 16
#define S_SEALED_KEY_LEN 186 /* a sealed EC P-256 PKCS#8 */

#define S_PAGE_COLS                                                                       \
	"SELECT id, tenant_id, fingerprint, status, coalesce(dek_id, ''), der, facts,"      \
	" issuer_ids, coalesce(import_job_id, ''), coalesce(label, ''), created_ms,"        \
	" modified_ms FROM certificates "

struct S_inv {
	char dir[1100];
	char url[1200];
	char tenant_id[64], api_key[64], edge_id[64], key_id[64];
};

static void S_check(enum tv_err rc, const char *what)
{
	if (rc)
		tvb_die("inventory: %s: %s", what, tv_strerror(rc));
}

/* Certificates [from, from + n) and their facts, made by several threads. */
struct S_gen {
	EVP_PKEY **pool;
	X509 *ca;
	EVP_PKEY *ca_key;
	struct tv_certinfo *infos;
	size_t from, n;
	atomic_size_t next;
	atomic_int failed;
};

static void *S_gen_thread(void *arg)
{
	struct S_gen *g = arg;
	size_t i;

	while ((i = atomic_fetch_add(&g->next, 1)) < g->n) {
		size_t k = g->from + i;
		char cn[64], san[160];
		X509 *x;

		snprintf(cn, sizeof(cn), "host%06zu.example.com", k);
		snprintf(san, sizeof(san), "DNS:%s,DNS:www%06zu.inventory.test", cn, k);
		/* issued up to 2 years ago, for 30 days to 3 years */
		x = tvb_cert_new(g->pool[k % S_KEY_POOL], cn, g->ca, g->ca_key,
				 -(long)((k * 7919) % 730), 30 + (long)((k * 104729) % 1066), false,
				 san);
		if (tv_certinfo_init(&g->infos[i], x, false) != TV_OK)
			atomic_store(&g->failed, 1);
		X509_free(x);
	}
	return NULL;
}

static void S_generate(struct S_gen *g, unsigned threads)
{
	pthread_t th[16];
	unsigned i, n = threads < 1 ? 1 : threads > 16 ? 16 : threads;

	atomic_store(&g->next, 0);
	atomic_store(&g->failed, 0);
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, S_gen_thread, g) != 0)
			tvb_die("inventory: cannot start a thread");
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&g->failed))
		tvb_die("inventory: computing certificate facts failed");
}

/* One transaction's worth: n certificates as the outcomes of one item. */
static void S_seed_batch(struct tv_store *st, const struct S_inv *inv, size_t from, size_t n,
			 EVP_PKEY **pool, X509 *ca, EVP_PKEY *ca_key,
			 const struct tv_cert_row *ca_row, unsigned threads)
{
	struct S_gen g;
	struct tv_certinfo *infos = calloc(n, sizeof(*infos));
	struct tv_item_outcome *outs = calloc(n, sizeof(*outs));
	unsigned char *keys = malloc(n * S_SEALED_KEY_LEN);
	struct tv_import_item item;
	struct tv_claimed_item ci;
	struct tv_import_job job;
	enum tv_import_verdict verdict;
	char owner[64];
	int64_t now = tv_now_ms();
	bool final = false;
	size_t i;

	if (!infos || !outs || !keys)
		tvb_die("out of memory");
	snprintf(owner, sizeof(owner), "bench-seed:%ld", (long)getpid());
	memset(&job, 0, sizeof(job));
	memset(&item, 0, sizeof(item));
	tvb_strcpy(job.tenant_id, sizeof(job.tenant_id), inv->tenant_id);
	tvb_strcpy(job.edge_id, sizeof(job.edge_id), inv->edge_id);
	tvb_strcpy(job.dek_id, sizeof(job.dek_id), inv->key_id);
	item.kind = TV_ITEM_PKCS12;
	item.keystore = (unsigned char *)"seed";
	item.keystore_len = 4;
	S_check(tv_import_create(st, &job, &item, 1, 0, &verdict), "job");
	if (verdict != TV_IMPORT_ACCEPTED)
		tvb_die("inventory: the seeding job was refused");
	S_check(st->ops->item_claim(st, owner, now, now + TV_IMPORT_LEASE_MS, 0, &ci), "claim");
	randombytes_buf(keys, n * S_SEALED_KEY_LEN);
	memset(&g, 0, sizeof(g));
	g.pool = pool;
	g.ca = ca;
	g.ca_key = ca_key;
	g.infos = infos;
	g.from = from;
	g.n = n;
	S_generate(&g, threads);
	for (i = 0; i < n; i++) {
		memcpy(outs[i].fingerprint, infos[i].facts.fingerprint, sizeof(outs[i].fingerprint));
		outs[i].status = "IMPORTED";
		outs[i].reason = "";
		outs[i].der = infos[i].der;
		outs[i].der_len = infos[i].der_len;
		outs[i].cert = &infos[i].row;
		outs[i].sealed_key = keys + i * S_SEALED_KEY_LEN;
		outs[i].sealed_key_len = S_SEALED_KEY_LEN;
		outs[i].issuers = ca_row;
		outs[i].n_issuers = 1;
	}
	S_check(st->ops->item_finish(st, ci.job_id, ci.item.index, owner, outs, n, tv_now_ms(),
				     &final),
		"item_finish");
	for (i = 0; i < n; i++) {
		if (strcmp(outs[i].recorded_status, "IMPORTED"))
			tvb_die("inventory: certificate %zu recorded as %s", from + i,
				outs[i].recorded_status);
		tv_certinfo_release(&infos[i]);
	}
	tv_import_item_release(&ci.item);
	free(infos);
	free(outs);
	free(keys);
}

static void S_seed(const struct S_inv *inv, size_t total, unsigned threads)
{
	EVP_PKEY *pool[S_KEY_POOL], *ca_key = EVP_EC_gen("P-256");
	struct tv_certinfo ca_info;
	struct tv_store *st = NULL;
	double t0 = tvb_now();
	X509 *ca;
	size_t i;

	tvb_note("seeding %zu certificates through the store API (cached afterwards)", total);
	if (!ca_key)
		tvb_die("inventory: cannot generate the CA key");
	ca = tvb_cert_new(ca_key, "tlsvault bench inventory CA", NULL, NULL, -800, 3650, true,
			  NULL);
	for (i = 0; i < S_KEY_POOL; i++)
		if (!(pool[i] = EVP_EC_gen("P-256")))
			tvb_die("inventory: cannot generate a key");
	S_check(tv_certinfo_init(&ca_info, ca, false), "CA facts");
	S_check(tv_store_open(&st, inv->url, false), "store");
	for (i = 0; i < total; i += S_PER_ITEM)
		S_seed_batch(st, inv, i, total - i < S_PER_ITEM ? total - i : S_PER_ITEM, pool, ca,
			     ca_key, &ca_info.row, threads);
	tv_store_close(st);
	tv_certinfo_release(&ca_info);
	for (i = 0; i < S_KEY_POOL; i++)
		EVP_PKEY_free(pool[i]);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	tvb_note("seeded %zu certificates in %.1f s", total, tvb_now() - t0);
}

/* The cached vault (made and seeded if missing). */
static void S_inventory(struct S_inv *inv, const struct tvb_cfg *cfg)
{
	char marker[1200], ids[1200];
	struct tvb_server s;
	json_t *j;
	int n;

	n = snprintf(inv->dir, sizeof(inv->dir), "%s/%s-%zu", cfg->cache_dir, S_VERSION,
		     cfg->inventory);
	if (n < 0 || (size_t)n >= sizeof(inv->dir))
		tvb_die("cache path too long");
	snprintf(inv->url, sizeof(inv->url), "sqlite:%s/tlsvault.db", inv->dir);
	snprintf(marker, sizeof(marker), "%s/seeded", inv->dir);
	snprintf(ids, sizeof(ids), "%s/ids.json", inv->dir);
	if (access(marker, R_OK) != 0) {
		tvb_rmtree(inv->dir);
		tvb_mkdirs(cfg->cache_dir);
		tvb_server_init(&s, cfg, inv->dir);
		j = json_pack("{s:s,s:s,s:s,s:s}", "tenantId", s.tenant_id, "apiKey", s.api_key,
			      "edgeInstanceId", s.edge_id, "encryptionKeyId", s.key_id);
		{
			char *text = json_dumps(j, JSON_COMPACT);

			if (!text)
				tvb_die("out of memory");
			tvb_write_file(ids, text, strlen(text), 0600); /* holds an API key */
			sodium_memzero(text, strlen(text));
			free(text);
		}
		json_decref(j);
		sodium_memzero(s.api_key, sizeof(s.api_key));
		snprintf(inv->tenant_id, sizeof(inv->tenant_id), "%s", s.tenant_id);
		snprintf(inv->edge_id, sizeof(inv->edge_id), "%s", s.edge_id);
		snprintf(inv->key_id, sizeof(inv->key_id), "%s", s.key_id);
		S_seed(inv, cfg->inventory, cfg->cores);
		tvb_write_file(marker, "ok\n", 3, 0600);
	}
	j = json_load_file(ids, 0, NULL);
	if (!json_string_value(json_object_get(j, "tenantId")) ||
	    !json_string_value(json_object_get(j, "apiKey")) ||
	    !json_string_value(json_object_get(j, "edgeInstanceId")) ||
	    !json_string_value(json_object_get(j, "encryptionKeyId")))
		tvb_die("inventory: %s is unreadable; delete %s", ids, inv->dir);
	snprintf(inv->tenant_id, sizeof(inv->tenant_id), "%s",
		 json_string_value(json_object_get(j, "tenantId")));
	snprintf(inv->api_key, sizeof(inv->api_key), "%s",
		 json_string_value(json_object_get(j, "apiKey")));
	snprintf(inv->edge_id, sizeof(inv->edge_id), "%s",
		 json_string_value(json_object_get(j, "edgeInstanceId")));
	snprintf(inv->key_id, sizeof(inv->key_id), "%s",
		 json_string_value(json_object_get(j, "encryptionKeyId")));
	json_decref(j);
}

/* n random stored fingerprints (with keys: the imported leaves). */
static char (*S_sample(sqlite3 *db, const char *tenant, size_t n))[41]
{
	char (*fps)[41] = calloc(n, sizeof(*fps));
	sqlite3_stmt *st = NULL;
	size_t i = 0;

	if (!fps || sqlite3_prepare_v2(db,
				       "SELECT fingerprint FROM certificates WHERE tenant_id = ?"
				       " AND sealed_key IS NOT NULL ORDER BY random() LIMIT ?",
				       -1, &st, NULL) != SQLITE_OK)
		tvb_die("inventory: cannot sample fingerprints");
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
	while (i < n && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(fps[i], sizeof(fps[i]), "%s", (const char *)sqlite3_column_text(st, 0));
		i++;
	}
	sqlite3_finalize(st);
	if (i < n)
		tvb_die("inventory: only %zu certificates stored, expected %zu", i, n);
	return fps;
}

struct S_bare {
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *fp_count, *fp_page, *all_count, *end_page;
};

static sqlite3_stmt *S_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		tvb_die("inventory: cannot prepare: %s", sqlite3_errmsg(db));
	return st;
}

static void S_bare_open(struct S_bare *b, const char *path)
{
	if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		tvb_die("inventory: cannot open %s", path);
	b->begin = S_prep(b->db, "BEGIN");
	b->commit = S_prep(b->db, "COMMIT");
	b->fp_count = S_prep(b->db, "SELECT count(*) FROM certificates WHERE tenant_id = ?1"
				    " AND fingerprint = ?2");
	b->fp_page = S_prep(b->db, S_PAGE_COLS "WHERE tenant_id = ?1 AND fingerprint = ?2"
					       " ORDER BY created_ms DESC, id DESC LIMIT 100");
	b->all_count = S_prep(b->db, "SELECT count(*) FROM certificates WHERE tenant_id = ?1");
	b->end_page = S_prep(b->db, S_PAGE_COLS "WHERE tenant_id = ?1"
						" ORDER BY validity_end_ms ASC, id ASC LIMIT 100");
}

static void S_bare_close(struct S_bare *b)
{
	sqlite3_finalize(b->begin);
	sqlite3_finalize(b->commit);
	sqlite3_finalize(b->fp_count);
	sqlite3_finalize(b->fp_page);
	sqlite3_finalize(b->all_count);
	sqlite3_finalize(b->end_page);
	sqlite3_close(b->db);
}

/* Run a prepared statement to completion; the number of rows. */
static size_t S_drain(sqlite3_stmt *st, const char *tenant, const char *fp)
{
	size_t rows = 0;
	int r;

	sqlite3_reset(st);
	if (tenant)
		sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	if (fp)
		sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		rows++;
	if (r != SQLITE_DONE)
		tvb_die("inventory: bare query failed: %s", sqlite3_errstr(r));
	return rows;
}

/* Certificates the tenant holds: the seeded leaves and their issuing CA. */
static size_t S_stored(struct S_bare *b, const char *tenant)
{
	size_t n;

	sqlite3_reset(b->all_count);
	sqlite3_bind_text(b->all_count, 1, tenant, -1, SQLITE_STATIC);
	if (sqlite3_step(b->all_count) != SQLITE_ROW)
		tvb_die("inventory: cannot count the certificates");
	n = (size_t)sqlite3_column_int64(b->all_count, 0);
	sqlite3_reset(b->all_count);
	return n;
}

/* One bare query (count + page, one transaction), in ms; dies on a wrong answer. */
static double S_bare_query(struct S_bare *b, const char *tenant, const char *fp)
{
	double t0 = tvb_now();
	size_t rows;

	S_drain(b->begin, NULL, NULL);
	S_drain(fp ? b->fp_count : b->all_count, tenant, fp);
	rows = S_drain(fp ? b->fp_page : b->end_page, tenant, fp);
	S_drain(b->commit, NULL, NULL);
	if (rows != (fp ? 1u : 100u))
		tvb_die("inventory: bare query gave %zu rows", rows);
	return (tvb_now() - t0) * 1e3;
}

/* One store query, in ms; dies on a wrong answer. */
static double S_store_query(struct tv_store *st, const char *tenant, const char *fp,
			    size_t stored)
{
	struct tv_search_value v = { .text = fp };
	struct tv_search_expr e = { .op = TV_SO_EQ, .field = TV_SF_FINGERPRINT, .values = &v,
				    .n_values = 1 };
	struct tv_search_order by_end = { .field = TV_SF_VALIDITY_END };
	struct tv_search q = { .page_size = 100 };
	struct tv_cert_record *rows = NULL;
	size_t n = 0, total = 0;
	double t0 = tvb_now(), ms;

	if (fp) {
		q.expr = &e;
	} else {
		q.orders = &by_end;
		q.n_orders = 1;
	}
	S_check(st->ops->cert_search(st, tenant, &q, &rows, &n, &total), "search");
	ms = (tvb_now() - t0) * 1e3;
	if (fp ? (n != 1 || total != 1) : (n != 100 || total != stored))
		tvb_die("inventory: the store's search gave %zu of %zu", n, total);
	tv_cert_records_free(rows, n);
	return ms;
}

/* One HTTP search, in ms; dies unless 200 with the right count. */
static double S_http_query(struct tvb_http *h, const char *fp, size_t stored)
{
	char body[400];
	struct tvb_buf b = { 0 };
	double secs = 0;
	long status;
	json_t *j;

	if (fp)
		snprintf(body, sizeof(body),
			 "{\"expression\":{\"field\":\"fingerprint\",\"operator\":\"EQ\","
			 "\"value\":\"%s\"},\"paging\":{\"pageNumber\":0,\"pageSize\":100}}",
			 fp);
	else
		snprintf(body, sizeof(body),
			 "{\"ordering\":{\"orders\":[{\"field\":\"validityEnd\",\"direction\":"
			 "\"ASC\"}]},\"paging\":{\"pageNumber\":0,\"pageSize\":100}}");
	status = tvb_http(h, "POST", "/outagedetection/v1/certificatesearch", body, strlen(body),
			  &b, &secs);
	j = status == 200 ? json_loads(b.p, 0, NULL) : NULL;
	if (!j || (size_t)json_integer_value(json_object_get(j, "count")) != (fp ? 1 : stored))
		tvb_die("inventory: HTTP search gave %ld: %.200s", status, b.p ? b.p : "");
	json_decref(j);
	tvb_buf_free(&b);
	return secs * 1e3;
}

static void S_add(const char *sec, const char *name, double *ours, double *base, size_t n,
		  const char *base_name, bool target)
{
	char row_name[96];
	struct tvb_row *r;

	snprintf(row_name, sizeof(row_name), "%s p50", name);
	r = tvb_row(sec, row_name, "ms", base_name);
	tvb_row_add(r, tvb_percentile(ours, n, 50));
	tvb_row_add_base(r, tvb_percentile(base, n, 50));
	snprintf(row_name, sizeof(row_name), "%s p99", name);
	r = tvb_row(sec, row_name, "ms", base_name);
	tvb_row_add(r, tvb_percentile(ours, n, 99));
	tvb_row_add_base(r, tvb_percentile(base, n, 99));
	if (target)
		tvb_row_target(r, TVB_TARGET_FIGURE_MAX, 5);
}

void tvb_section_inventory(struct tvb_ctx *x)
{
	const struct tvb_cfg *cfg = x->cfg;
	const char *bare_name = "bare SQLite, same statements";
	size_t n = cfg->inventory_rounds, i, stored;
	double *t[6];
	char sec[96], path[1200];
	struct tv_store *st = NULL;
	struct tvb_server s;
	struct tvb_http *h;
	struct S_bare bare;
	struct S_inv inv;
	char(*fps)[41];
	int r, k;

	S_inventory(&inv, cfg);
	for (k = 0; k < 6; k++)
		if (!(t[k] = calloc(n, sizeof(double))))
			tvb_die("out of memory");
	snprintf(sec, sizeof(sec), "inventory search (%zu certificates, SQLite)", cfg->inventory);
	snprintf(path, sizeof(path), "%s/tlsvault.db", inv.dir);
	S_check(tv_store_open(&st, inv.url, false), "store");
	S_bare_open(&bare, path);
	memset(&s, 0, sizeof(s));
	tvb_strcpy(s.dir, sizeof(s.dir), inv.dir);
	tvb_strcpy(s.log_path, sizeof(s.log_path), inv.dir);
	if (strlen(s.log_path) + 11 > sizeof(s.log_path))
		tvb_die("cache path too long");
	strcat(s.log_path, "/serve.log");
	tvb_server_start(&s, cfg);
	h = tvb_http_new(s.port, inv.api_key);
	stored = S_stored(&bare, inv.tenant_id);
	if (stored != cfg->inventory + 1)
		tvb_die("inventory: %zu certificates stored, expected %zu and their CA; delete %s",
			stored, cfg->inventory, inv.dir);
	for (r = 0; r < cfg->runs; r++) {
		fps = S_sample(bare.db, inv.tenant_id, n);
		for (i = 0; i < n; i++) {
			t[0][i] = S_store_query(st, inv.tenant_id, fps[i], stored);
			t[1][i] = S_bare_query(&bare, inv.tenant_id, fps[i]);
			t[2][i] = S_http_query(h, fps[i], stored);
		}
		for (i = 0; i < n; i++) {
			t[3][i] = S_store_query(st, inv.tenant_id, NULL, stored);
			t[4][i] = S_bare_query(&bare, inv.tenant_id, NULL);
			t[5][i] = S_http_query(h, NULL, stored);
		}
		free(fps);
		S_add(sec, "fingerprint lookup, store API", t[0], t[1], n, bare_name, true);
		S_add(sec, "fingerprint lookup, HTTP", t[2], t[1], n, bare_name, false);
		S_add(sec, "first 100 by validityEnd, store API", t[3], t[4], n, bare_name, false);
		S_add(sec, "first 100 by validityEnd, HTTP", t[5], t[4], n, bare_name, false);
		tvb_note("inventory run %d/%d: lookup p99 %.2f ms, first page p99 %.2f ms", r + 1,
			 cfg->runs, tvb_percentile(t[0], n, 99), tvb_percentile(t[3], n, 99));
	}
	tvb_http_free(h);
	tvb_server_stop(&s);
	S_bare_close(&bare);
	tv_store_close(st);
	sodium_memzero(inv.api_key, sizeof(inv.api_key));
	for (k = 0; k < 6; k++)
		free(t[k]);
}
