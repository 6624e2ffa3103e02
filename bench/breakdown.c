/*
 * DESIGN: where one item's time goes. The bench runs the import pipeline
 * in process, on one thread, with the production functions in the order
 * the server calls them: claim the item from a real SQLite store (job
 * created by tv_import_create), open the sealed password with the keyring,
 * read the keystore (tv_p12_read, on a pki context whose phase counters
 * are on: KDFs, MAC, bag decryption, certificate decoding, key decoding,
 * pairing), compute the certificate facts, verify the chain against the
 * tenant's cached trust store, seal the PKCS#8 to the DEK, and commit with
 * items_finish. Like a server worker, it claims two items per items_claim
 * (one to work on, one ahead), so the "store claim" row is half a two-item
 * claim per item. The "store commit" row is one items_finish of one item,
 * on this thread; in the server the committer thread runs it while the
 * worker goes on with its next item (with more workers one commit takes
 * several items), so it is no longer on a worker's path. Each step is
 * timed around the call; the reader's own split comes from the counters
 * (pki/timing.h), which live in the reader's code and so stay true when
 * the reader changes.
 *
 * Not calling tv_import_prepare() itself keeps svc/ free of timing hooks;
 * the price is that this sequence must follow it. It checks that every item
 * ends IMPORTED, as the server would record it.
 *
 * Shares are of the item's wall time on one worker; "other" is what no
 * step claims (allocation, freeing, the loop itself).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "core/secmem.h"
#include "core/util.h"
#include "dek/dek.h"
#include "pki/chain.h"
#include "pki/p12.h"
#include "pki/pki.h"
#include "pki/timing.h"
#include "store/store.h"
#include "svc/account.h"
#include "svc/certinfo.h"
#include "svc/certinfo_cache.h"
#include "svc/import.h"
#include "svc/keyring.h"
#include "svc/trust_cache.h"

enum S_step {
	S_CLAIM,
	S_UNSEAL,
	S_READ, /* tv_p12_read as a whole; split by the pki counters */
	S_FACTS,
	S_CHAIN,
	S_SEAL,
	S_COMMIT,
	S_STEPS
};

struct S_vault {
	char dir[400];
	struct tv_secbuf *master;
	struct tv_store *store;
	struct tv_keyring *kr;
	struct tv_trust_roots *roots;
	struct tv_trust_cache *cache;
	struct tv_certinfo_cache *facts; /* as the importer's: CA facts once */
	struct tv_tenant_created t;
	char edge_id[TV_ID_SIZE];
	unsigned char pk[TV_DEK_PK_BYTES];
};

struct S_result {
	double item_us;                        /* wall time per item */
	double step_us[S_STEPS];               /* per item */
	double pki_us[TV_PKI_PHASE_COUNT];     /* per item */
	double kdf_spans;                      /* KDF runs per item */
};

static void S_check(enum tv_err rc, const char *what)
{
	if (rc)
		tvb_die("breakdown: %s: %s", what, tv_strerror(rc));
}

static void S_trust_root(struct S_vault *v, X509 *root)
{
	struct tv_trusted_ca ca;
	struct tv_certinfo info;

	memset(&ca, 0, sizeof(ca));
	S_check(tv_certinfo_init(&info, root, true), "root facts");
	tv_uuid_new(ca.id);
	snprintf(ca.tenant_id, sizeof(ca.tenant_id), "%s", v->t.tenant_id);
	memcpy(ca.fingerprint, info.facts.fingerprint, sizeof(ca.fingerprint));
	snprintf(ca.certificate_type, sizeof(ca.certificate_type), "%s",
		 tv_cert_type(&info.facts));
	ca.der = info.der;
	ca.der_len = info.der_len;
	ca.facts_json = info.facts_json;
	ca.created_ms = tv_now_ms();
	S_check(v->store->ops->ca_insert(v->store, &ca), "trusted CA");
	tv_certinfo_release(&info);
}

/* A fresh vault, as `tlsvaultd init` + `serve` set it up, in process. */
static void S_vault_open(struct S_vault *v, const struct tvb_cfg *cfg, X509 *root)
{
	char path[500], url[520];
	struct tv_edge *edges = NULL;
	struct tv_dek *deks = NULL;
	size_t n = 0, i;

	memset(v, 0, sizeof(*v));
	snprintf(v->dir, sizeof(v->dir), "%s/breakdown-XXXXXX", cfg->tmp_root);
	if (!mkdtemp(v->dir))
		tvb_die("breakdown: mkdtemp failed");
	snprintf(path, sizeof(path), "%s/master.key", v->dir);
	S_check(tv_master_create(path), "master key");
	S_check(tv_master_load(&v->master, path), "master key");
	snprintf(url, sizeof(url), "sqlite:%s/tlsvault.db", v->dir);
	S_check(tv_store_open(&v->store, url, true), "store");
	S_check(tv_svc_tenant_create(&v->t, v->store, v->master, "bench"), "tenant");
	S_check(tv_keyring_new(&v->kr, v->store, v->master), "keyring");
	S_check(tv_keyring_load_all(v->kr), "keyring");
	/* serve trusts the system roots by default; so does the bench */
	S_check(tv_trust_roots_load(&v->roots, NULL), "system roots");
	S_check(tv_trust_cache_new(&v->cache, v->store, v->roots), "trust cache");
	S_check(tv_certinfo_cache_new(&v->facts, 0), "facts cache");
	S_trust_root(v, root);
	S_check(v->store->ops->dek_list(v->store, v->t.tenant_id, &deks, &n), "DEKs");
	for (i = 0; i < n; i++)
		if (!strcmp(deks[i].id, v->t.encryption_key_id))
			memcpy(v->pk, deks[i].public_key, sizeof(v->pk));
	free(deks);
	snprintf(v->edge_id, sizeof(v->edge_id), "%s", v->t.edge_instance_id);
	S_check(v->store->ops->edge_list(v->store, v->t.tenant_id, &edges, &n), "edges");
	free(edges);
	if (n == 0)
		tvb_die("breakdown: the tenant has no edge instance");
}

static void S_vault_close(struct S_vault *v)
{
	tv_trust_cache_free(v->cache);
	tv_certinfo_cache_free(v->facts);
	tv_trust_roots_free(v->roots);
	tv_keyring_free(v->kr);
	tv_store_close(v->store);
	tv_secbuf_free(v->master);
	tv_secbuf_free(v->t.api_key);
	tvb_rmtree(v->dir);
}

/* One job holding items [0, n) of c, with passwords sealed to the DEK. */
static void S_job(struct S_vault *v, const struct tvb_corpus *c, size_t n)
{
	struct tv_import_item *items = calloc(n, sizeof(*items));
	struct tv_import_job job;
	enum tv_import_verdict verdict;
	size_t i;

	if (!items)
		tvb_die("out of memory");
	memset(&job, 0, sizeof(job));
	snprintf(job.tenant_id, sizeof(job.tenant_id), "%s", v->t.tenant_id);
	snprintf(job.edge_id, sizeof(job.edge_id), "%s", v->edge_id);
	snprintf(job.dek_id, sizeof(job.dek_id), "%s", v->t.encryption_key_id);
	for (i = 0; i < n; i++) {
		size_t pwlen = strlen(c->ks[i].password);

		items[i].index = (int)i;
		items[i].kind = TV_ITEM_PKCS12;
		items[i].keystore = c->ks[i].der;
		items[i].keystore_len = c->ks[i].len;
		items[i].sealed_password = malloc(pwlen + TV_SEAL_OVERHEAD);
		items[i].sealed_password_len = pwlen + TV_SEAL_OVERHEAD;
		if (!items[i].sealed_password)
			tvb_die("out of memory");
		S_check(tv_seal(items[i].sealed_password, (const unsigned char *)c->ks[i].password,
				pwlen, v->pk),
			"sealing a password");
	}
	S_check(tv_import_create(v->store, &job, items, n, 0, &verdict), "job");
	if (verdict != TV_IMPORT_ACCEPTED)
		tvb_die("breakdown: the job was refused (%d)", (int)verdict);
	for (i = 0; i < n; i++)
		free(items[i].sealed_password);
	free(items);
}

struct S_item {
	struct tv_claimed_item ci;
	struct tv_secbuf *pw;
	struct tv_p12_contents *contents;
	struct tv_certinfo *leaf;
	const struct tv_certinfo **issuers; /* shared, as in tv_import_process */
	size_t n_issuers;
	unsigned char *sealed_key;
	size_t sealed_key_len;
};

static void S_item_release(struct S_item *it)
{
	size_t i;

	for (i = 0; i < it->n_issuers; i++)
		tv_certinfo_put(it->issuers[i]);
	free(it->issuers);
	if (it->leaf)
		tv_certinfo_release(it->leaf);
	free(it->leaf);
	free(it->sealed_key);
	tv_p12_contents_free(it->contents);
	tv_secbuf_free(it->pw);
	tv_import_item_release(&it->ci.item);
	memset(it, 0, sizeof(*it));
}

/* Chain and facts of the keystore's (single) pair, timed into step_ns. */
static void S_pair(struct S_vault *v, struct S_item *it, struct tv_trust_ref *ref,
		   double *step)
{
	const struct tv_p12_pair *pair = &it->contents->pairs[0];
	STACK_OF(X509) *chain = NULL;
	const struct tv_secbuf *p8;
	char msg[TV_REASON_MSG_SIZE];
	enum tv_reason reason;
	double t = tvb_now();
	size_t i;

	it->leaf = calloc(1, sizeof(*it->leaf));
	if (!it->leaf)
		tvb_die("out of memory");
	/* as tv_import_prepare: the leaf's facts and chain from its DER */
	S_check(tv_certinfo_init_leaf(it->leaf, it->contents, 0), "leaf facts");
	step[S_FACTS] += tvb_now() - t;
	t = tvb_now();
	reason = tv_chain_verify_der(tv_trust_ref_store(ref), pair->cert_der, pair->cert_der_len,
				     pair->decoded_cert, it->contents->chain_candidates, &chain,
				     msg, sizeof(msg));
	step[S_CHAIN] += tvb_now() - t;
	if (reason != TV_REASON_OK)
		tvb_die("breakdown: chain check failed: %s", msg);
	t = tvb_now();
	it->n_issuers = (size_t)sk_X509_num(chain);
	it->issuers = calloc(it->n_issuers + 1, sizeof(*it->issuers));
	if (!it->issuers)
		tvb_die("out of memory");
	for (i = 0; i < it->n_issuers; i++)
		S_check(tv_certinfo_cache_get(v->facts, sk_X509_value(chain, (int)i),
					      &it->issuers[i]),
			"issuer facts");
	sk_X509_pop_free(chain, X509_free);
	step[S_FACTS] += tvb_now() - t;
	t = tvb_now();
	/* as tv_import_process: the reader's PKCS#8, sealed as it is */
	p8 = pair->pkcs8;
	it->sealed_key_len = p8->len + TV_SEAL_OVERHEAD;
	it->sealed_key = malloc(it->sealed_key_len);
	if (!it->sealed_key)
		tvb_die("out of memory");
	S_check(tv_keyring_seal(v->kr, it->sealed_key, it->ci.tenant_id, it->ci.dek_id, p8->p,
				p8->len),
		"sealing the key");
	step[S_SEAL] += tvb_now() - t;
}

/* The commit: one outcome, as tv_import_process builds it. */
static void S_commit(struct S_vault *v, struct S_item *it, const char *owner)
{
	struct tv_cert_row *rows = calloc(it->n_issuers + 1, sizeof(*rows));
	struct tv_item_finish fin = { 0 };
	struct tv_item_outcome o;
	size_t i;

	if (!rows)
		tvb_die("out of memory");
	for (i = 0; i < it->n_issuers; i++)
		rows[i] = it->issuers[i]->row;
	memset(&o, 0, sizeof(o));
	memcpy(o.fingerprint, it->leaf->facts.fingerprint, sizeof(o.fingerprint));
	o.der = it->leaf->der;
	o.der_len = it->leaf->der_len;
	o.status = "IMPORTED";
	o.reason = "";
	o.cert = &it->leaf->row;
	o.sealed_key = it->sealed_key;
	o.sealed_key_len = it->sealed_key_len;
	o.issuers = rows;
	o.n_issuers = it->n_issuers;
	fin.job_id = it->ci.job_id;
	fin.index = it->ci.item.index;
	fin.outcomes = &o;
	fin.n = 1;
	S_check(v->store->ops->items_finish(v->store, owner, &fin, 1, tv_now_ms()),
		"items_finish");
	S_check(fin.rc, "items_finish (the item)");
	if (strcmp(o.recorded_status, "IMPORTED"))
		tvb_die("breakdown: item %d recorded as %s", it->ci.item.index, o.recorded_status);
	free(rows);
}

/* One item: the one claimed ahead, if any (*n_ahead), or a claim of two,
 * as a worker of the server claims (one to work on, one ahead). */
static void S_process(struct S_vault *v, struct tv_pki_ctx *pki, const char *owner,
		      double *step, struct tv_claimed_item *ahead, size_t *n_ahead)
{
	struct tv_claimed_item got[2];
	struct tv_trust_ref *ref = NULL;
	char msg[TV_REASON_MSG_SIZE];
	struct S_item it;
	enum tv_reason reason;
	int64_t now = tv_now_ms();
	double t = tvb_now();
	size_t n = 0;

	memset(&it, 0, sizeof(it));
	if (*n_ahead) {
		it.ci = *ahead;
		*n_ahead = 0;
	} else {
		S_check(v->store->ops->items_claim(v->store, owner, now,
						   now + TV_IMPORT_LEASE_MS, 0, got, 2, &n),
			"items_claim");
		if (n == 0)
			tvb_die("breakdown: no item to claim");
		it.ci = got[0];
		if (n > 1) {
			*ahead = got[1];
			*n_ahead = 1;
		}
	}
	step[S_CLAIM] += tvb_now() - t;
	t = tvb_now();
	S_check(tv_keyring_unseal(v->kr, &it.pw, it.ci.tenant_id, it.ci.dek_id,
				  it.ci.item.sealed_password, it.ci.item.sealed_password_len),
		"unsealing the password");
	step[S_UNSEAL] += tvb_now() - t;
	t = tvb_now();
	reason = tv_p12_read(&it.contents, pki, it.ci.item.keystore, it.ci.item.keystore_len,
			     (const char *)it.pw->p, it.pw->len, NULL, msg, sizeof(msg));
	step[S_READ] += tvb_now() - t;
	if (reason != TV_REASON_OK)
		tvb_die("breakdown: item %d did not read: %s", it.ci.item.index, msg);
	if (it.contents->pair_count != 1)
		tvb_die("breakdown: item %d has %zu keys, expected 1", it.ci.item.index,
			it.contents->pair_count);
	t = tvb_now();
	S_check(tv_trust_cache_get(v->cache, it.ci.tenant_id, &ref), "trust store");
	step[S_CHAIN] += tvb_now() - t;
	S_pair(v, &it, ref, step);
	t = tvb_now();
	tv_trust_ref_release(ref);
	step[S_CHAIN] += tvb_now() - t;
	t = tvb_now();
	S_commit(v, &it, owner);
	step[S_COMMIT] += tvb_now() - t;
	S_item_release(&it);
}

static void S_run(struct S_result *res, const struct tvb_cfg *cfg, const struct tvb_corpus *c,
		  size_t n)
{
	struct tv_pki_timing timing;
	struct tv_pki_ctx *pki = NULL;
	double step[S_STEPS] = { 0 }, t0, wall;
	struct tv_claimed_item ahead;
	size_t n_ahead = 0;
	struct S_vault v;
	char owner[64];
	size_t i;
	int p;

	snprintf(owner, sizeof(owner), "bench:%ld", (long)getpid());
	S_vault_open(&v, cfg, c->root);
	S_job(&v, c, n + 1);
	S_check(tv_pki_ctx_new(&pki), "pki context");
	tv_pki_timing_reset(&timing);
	tv_pki_ctx_set_timing(pki, &timing);
	/* item 0 before the clock: it builds the tenant's trust store (the
	 * server caches it per tenant) and makes OpenSSL fetch every
	 * algorithm once; no later item pays either */
	S_process(&v, pki, owner, step, &ahead, &n_ahead);
	memset(step, 0, sizeof(step));
	tv_pki_timing_reset(&timing);
	t0 = tvb_now();
	for (i = 0; i < n; i++)
		S_process(&v, pki, owner, step, &ahead, &n_ahead);
	wall = tvb_now() - t0;
	if (n_ahead)
		tv_import_item_release(&ahead.item);
	memset(res, 0, sizeof(*res));
	res->item_us = wall * 1e6 / (double)n;
	for (p = 0; p < S_STEPS; p++)
		res->step_us[p] = step[p] * 1e6 / (double)n;
	for (p = 0; p < TV_PKI_PHASE_COUNT; p++)
		res->pki_us[p] = (double)atomic_load(&timing.ns[p]) / 1e3 / (double)n;
	res->kdf_spans = (double)atomic_load(&timing.spans[TV_PKI_PHASE_KDF]) / (double)n;
	tv_pki_ctx_free(pki);
	S_vault_close(&v);
}

/* The rows of the phase split; shares of the item's wall time. */
static void S_split_rows(const char *sec, const struct S_result *r)
{
	static const char *const pki_names[TV_PKI_PHASE_COUNT] = {
		[TV_PKI_PHASE_KDF] = "  KDFs (PBKDF2, PKCS#12 KDF)",
		[TV_PKI_PHASE_MAC] = "  MAC (HMAC over the authSafe)",
		[TV_PKI_PHASE_DECRYPT] = "  bag decryption (AES-CBC)",
		[TV_PKI_PHASE_CERT_DECODE] = "  certificate decoding (reader)",
		[TV_PKI_PHASE_KEY_DECODE] = "  key decoding (PKCS#8 to EVP_PKEY)",
		[TV_PKI_PHASE_PAIRING] = "  key/certificate match, key type",
	};
	static const char *const step_names[S_STEPS] = {
		[S_CLAIM] = "  store claim (items_claim, 2 a claim)",
		[S_UNSEAL] = "  password unseal (DEK)",
		[S_FACTS] = "  certificate facts (svc)",
		[S_CHAIN] = "  chain check (X509_verify_cert)",
		[S_SEAL] = "  sealing (PKCS#8, crypto_box_seal)",
		[S_COMMIT] = "  store commit (items_finish of 1)",
	};
	double in_pki = 0, claimed = 0;
	struct tvb_row *row;
	int p;

	for (p = 0; p < TV_PKI_PHASE_COUNT; p++) {
		row = tvb_row(sec, pki_names[p], "us", "item wall time");
		tvb_row_add(row, r->pki_us[p]);
		tvb_row_add_base(row, r->item_us);
		in_pki += r->pki_us[p];
	}
	row = tvb_row(sec, "  PKCS#12 structure, rest of the reader", "us", "item wall time");
	tvb_row_add(row, r->step_us[S_READ] > in_pki ? r->step_us[S_READ] - in_pki : 0);
	tvb_row_add_base(row, r->item_us);
	for (p = 0; p < S_STEPS; p++) {
		claimed += r->step_us[p];
		if (p == S_READ)
			continue;
		row = tvb_row(sec, step_names[p], "us", "item wall time");
		tvb_row_add(row, r->step_us[p]);
		tvb_row_add_base(row, r->item_us);
	}
	row = tvb_row(sec, "  other (allocation, freeing, loop)", "us", "item wall time");
	tvb_row_add(row, r->item_us > claimed ? r->item_us - claimed : 0);
	tvb_row_add_base(row, r->item_us);
}

void tvb_section_breakdown(struct tvb_ctx *x)
{
	const struct tvb_cfg *cfg = x->cfg;
	const char *sec = "per-item cost, one worker (in process)";
	char name[96];
	int r, p;

	for (r = 0; r < cfg->runs; r++) {
		for (p = 0; p < TVB_PROFILE_COUNT; p++) {
			const struct tvb_corpus *c = tvb_corpus(x, (enum tvb_profile)p);
			/* one more keystore than timed: the warm-up item */
			size_t n = cfg->breakdown_items < c->n ? cfg->breakdown_items : c->n - 1;
			double stock_us = 1e6 / tvb_ceiling_run(c, n, 1, NULL);
			double bound_us = (double)c->kdf_compressions * tvb_compression_ns(x) / 1e3;
			struct S_result res;
			struct tvb_row *row;

			S_run(&res, cfg, c, n);
			snprintf(name, sizeof(name), "item, %s", c->title);
			row = tvb_row(sec, name, "us", "stock pipeline, 1 thread");
			tvb_row_add(row, res.item_us);
			tvb_row_add_base(row, stock_us);
			snprintf(name, sizeof(name), "item vs hashing bound, %s", c->title);
			row = tvb_row(sec, name, "us", "KDF compressions x cost");
			tvb_row_add(row, res.item_us);
			tvb_row_add_base(row, bound_us);
			snprintf(name, sizeof(name), "reader KDFs vs bound, %s", c->title);
			row = tvb_row("KDF ceiling, one core", name, "us", "KDF compressions x cost");
			tvb_row_add(row, res.pki_us[TV_PKI_PHASE_KDF]);
			tvb_row_add_base(row, bound_us);
			if (p == TVB_OPENSSL_RSA)
				S_split_rows("per-item split, OpenSSL default RSA-2048 (1 worker)",
					     &res);
			tvb_note("breakdown run %d/%d %s: %.0f us/item (stock %.0f us, bound %.0f "
				 "us, %.1f KDFs/item)",
				 r + 1, cfg->runs, c->name, res.item_us, stock_us, bound_us,
				 res.kdf_spans);
		}
	}
}
