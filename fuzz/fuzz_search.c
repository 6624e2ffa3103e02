/*
 * fuzz_search.c - the certificate-search compiler, end to end: a request
 * body through tv_api_search_parse (the JSON-to-tree compiler) and the
 * SQLite store's cert_search (the tree-to-SQL compiler and the query) over a
 * small seeded inventory.
 *
 * Properties: a refused body is a 400 with an error body; an accepted one
 * runs (the SQL always compiles: no TV_ERR_STORE), returns at most a page,
 * and counts at least what it returns; values are bound, so SQL
 * metacharacters never change the rows another tenant's query would see.
 */
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/certificates.h"
#include "core/secmem.h"
#include "fuzz.h"

#define S_TENANT "00000000-0000-4000-8000-0000000000f1"
#define S_OTHER "00000000-0000-4000-8000-0000000000f2"

static struct tv_store *S_st;
static char S_dir[64];

static void S_cleanup(void)
{
	char path[128];

	tv_store_close(S_st);
	snprintf(path, sizeof(path), "%s/fuzz.db", S_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fuzz.db-wal", S_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fuzz.db-shm", S_dir);
	unlink(path);
	rmdir(S_dir);
}

static void S_tenant(const char *id, char tag)
{
	struct tv_tenant t = { .created_ms = 1 };
	struct tv_dek d = { .wrapped_len = 72, .created_ms = 1 };
	struct tv_edge e = { .deployed_ms = 1, .dek_deployed_ms = 1, .modified_ms = 1 };
	struct tv_apikey k = { .role = TV_ROLE_ADMIN, .created_ms = 1 };

	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.name, sizeof(t.name), "fuzz-%c", tag);
	snprintf(d.id, sizeof(d.id), "dek-%c", tag);
	memcpy(d.tenant_id, t.id, sizeof(t.id));
	snprintf(e.id, sizeof(e.id), "10000000-0000-4000-8000-0000000000f%c", tag);
	memcpy(e.tenant_id, t.id, sizeof(t.id));
	memcpy(e.dek_id, d.id, sizeof(d.id));
	snprintf(k.id, sizeof(k.id), "20000000-0000-4000-8000-0000000000f%c", tag);
	memcpy(k.tenant_id, t.id, sizeof(t.id));
	k.hash[0] = (unsigned char)tag;
	if (S_st->ops->tenant_bootstrap(S_st, &t, &d, &e, &k))
		abort();
}

/* n certificates for tenant id, through the import queue as a worker would. */
static void S_seed(const char *id, char tag, int n)
{
	static const char *const names[] = { "www.example.com", "api.example.org",
					      "O'Brien % _ \\ \" ;--", "xn--bcher-kva.example",
					      "mail.example.net", "EXAMPLE.COM" };
	struct tv_import_item items[8];
	struct tv_import_job job;
	int i;

	memset(&job, 0, sizeof(job));
	memset(items, 0, sizeof(items));
	snprintf(job.id, sizeof(job.id), "30000000-0000-4000-8000-0000000000f%c", tag);
	snprintf(job.tenant_id, sizeof(job.tenant_id), "%s", id);
	snprintf(job.edge_id, sizeof(job.edge_id), "10000000-0000-4000-8000-0000000000f%c", tag);
	snprintf(job.dek_id, sizeof(job.dek_id), "dek-%c", tag);
	job.created_ms = 1000;
	job.n_items = n;
	for (i = 0; i < n; i++) {
		items[i].index = i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = (unsigned char *)"ks";
		items[i].keystore_len = 2;
	}
	if (S_st->ops->job_create(S_st, &job, items, (size_t)n, 0))
		abort();
	for (i = 0; i < n; i++) {
		struct tv_claimed_item ci;
		struct tv_cert_row row = { .der = (const unsigned char *)"\x30\x00", .der_len = 2,
					   .facts_json = "{}" };
		struct tv_item_outcome o = { .status = "IMPORTED", .reason = "", .cert = &row,
					     .der = row.der, .der_len = 2,
					     .sealed_key = (const unsigned char *)"sealed",
					     .sealed_key_len = 6 };
		bool final;

		snprintf(row.fingerprint, sizeof(row.fingerprint), "%c%039d", tag == '1' ? 'A' : 'B',
			 i);
		memcpy(o.fingerprint, row.fingerprint, sizeof(o.fingerprint));
		row.certificate_name = row.subject_cn = names[i % 6];
		row.san_dns = names[(i + 1) % 6];
		row.serial_number = i % 2 ? "01" : "7F00FF";
		row.issuer_dn = "CN=Fuzz CA,O=tlsvault";
		row.encryption_type = i % 3 ? "RSA" : "EC";
		row.validity_start_ms = 1000000LL * i;
		row.validity_end_ms = 2000000000000LL + 86400000LL * i;
		row.key_strength = i % 3 ? 2048 : 256;
		if (S_st->ops->item_claim(S_st, "fuzz", 2000, 99999, 0, &ci) ||
		    S_st->ops->item_finish(S_st, ci.job_id, ci.item.index, "fuzz", &o, 1, 3000,
					   &final))
			abort();
		tv_import_item_release(&ci.item);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char url[128];

	(void)argc;
	(void)argv;
	if (tv_secmem_init())
		abort();
	snprintf(S_dir, sizeof(S_dir), "/tmp/tlsvault-fuzz-search-XXXXXX");
	if (!mkdtemp(S_dir))
		abort();
	snprintf(url, sizeof(url), "sqlite:%s/fuzz.db", S_dir);
	if (tv_store_open(&S_st, url, true))
		abort();
	atexit(S_cleanup);
	S_tenant(S_TENANT, '1');
	S_tenant(S_OTHER, '2');
	S_seed(S_TENANT, '1', 6);
	S_seed(S_OTHER, '2', 3);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tv_cert_record *rows = NULL;
	const struct tv_search *q;
	struct tv_api_search *s;
	struct tv_http_resp resp;
	size_t n = 0, total = 0, i;
	enum tv_err rc;
	json_t *body;

	if (tv_json_depth((const char *)data, size, TV_HTTP_DEFAULT_MAX_DEPTH) >
	    TV_HTTP_DEFAULT_MAX_DEPTH)
		return 0;
	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!body)
		return 0;
	memset(&resp, 0, sizeof(resp));
	s = tv_api_search_parse(&resp, body);
	if (!s) {
		FZ_CHECK(resp.status == 400 && resp.body, "a refusal without a 400 and a body");
		goto out;
	}
	q = tv_api_search_query(s);
	FZ_CHECK(q->page_size >= 1 && q->page_size <= 1000, "a page size out of range");
	rc = S_st->ops->cert_search(S_st, S_TENANT, q, &rows, &n, &total);
	FZ_CHECK(rc == TV_OK || rc == TV_ERR_INVALID || rc == TV_ERR_TOO_LARGE,
		 "a search the store could not run");
	if (rc == TV_OK) {
		FZ_CHECK(n <= q->page_size && n <= total && total <= 6, "counts out of range");
		for (i = 0; i < n; i++)
			FZ_CHECK(!strcmp(rows[i].tenant_id, S_TENANT), "another tenant's row");
		tv_cert_records_free(rows, n);
	}
	tv_api_search_free(s);
out:
	fz_resp_release(&resp);
	json_decref(body);
	return 0;
}
