/*
 * import.h - the import use cases: create a job, process one item, and the
 * worker pool that drains the queue.
 *
 * DESIGN: the queue is the store's import_items table, never memory alone,
 * so a crash loses nothing that was acknowledged. Workers claim items with a
 * lease and renew it while they work; any node re-claims an expired lease.
 * An item claimed more than TV_IMPORT_MAX_ATTEMPTS times (it crashed its
 * workers) is failed with INTERNAL_ERROR instead of looping. Plaintext
 * passwords and keys exist only in sodium_malloc buffers, only while one item
 * is processed, and are wiped on every path.
 *
 * Threads: tv_import_create may be called from any thread. The importer runs
 * its own threads; start/stop are called from the owner thread only.
 */
#ifndef TV_SVC_IMPORT_H
#define TV_SVC_IMPORT_H

#include "pki/chain.h"
#include "pki/p12.h"
#include "store/store.h"
#include "svc/keyring.h"
#include "svc/trust_cache.h"

#define TV_IMPORT_MAX_ITEMS 100
#define TV_IMPORT_MAX_ATTEMPTS 3
#define TV_IMPORT_LEASE_MS 15000
/* Per-tenant fairness caps (serve's --max-tenant-queue, --max-tenant-inflight):
 * items a tenant may have not yet final, and items of one tenant processed
 * at once across the cluster (0 = no cap: fairness comes from the claim
 * order, see store.h item_claim). */
#define TV_IMPORT_DEFAULT_MAX_TENANT_QUEUE 10000
#define TV_IMPORT_DEFAULT_MAX_TENANT_INFLIGHT 0

enum tv_import_verdict {
	TV_IMPORT_ACCEPTED = 0,
	TV_IMPORT_UNKNOWN_EDGE, /* 10103 */
	TV_IMPORT_WRONG_KEY,    /* 10104 */
};

/**
 * Store a new job with its items (already classified by the caller: a
 * REJECTED item carries its reason). On success *verdict is ACCEPTED and
 * job->id/created_ms are set; the job is durable when this returns.
 * TV_ERR_LIMIT (nothing stored) when the tenant would have more than
 * max_queued items not yet final (0 = no cap).
 */
enum tv_err tv_import_create(struct tv_store *store, struct tv_import_job *job,
			     const struct tv_import_item *items, size_t n, size_t max_queued,
			     enum tv_import_verdict *verdict) TV_WUR;

struct tv_importer_config {
	unsigned workers;               /* 0 = number of cores */
	bool no_workers;                /* none at all: an API-only node, whose
					   jobs other nodes on the same store
					   process (the watcher still runs) */
	int64_t lease_ms;               /* 0 = TV_IMPORT_LEASE_MS */
	struct tv_p12_limits limits;    /* zeros = defaults */
	unsigned max_tenant_inflight;   /* a tenant's items in flight at once,
					   counted in the store (every node);
					   0 = no cap. Fairness does not need
					   it: a free worker always takes the
					   tenant with the fewest in flight. */
	void (*on_job_final)(void *arg); /* called from the committer thread
					    once the job's last item is durable,
					    or the watcher thread when another
					    node finished a job */
	void *on_job_final_arg;
	struct tv_svc_metrics *metrics; /* counters to feed (svc/metrics.h); NULL = none */
};

struct tv_importer;
struct tv_svc_metrics;

/** Start the workers. store, keyring and cache are borrowed. */
enum tv_err tv_importer_start(struct tv_importer **out, struct tv_store *store,
			      struct tv_keyring *keyring, struct tv_trust_cache *cache,
			      const struct tv_importer_config *cfg) TV_WUR;

/** Wake idle workers: there is new work. Any thread. */
void tv_importer_notify(struct tv_importer *imp);

/**
 * Stop claiming, let items in progress finish (they are short; a killed
 * process would leave them to lease expiry anyway), commit every finished
 * item the committer holds, join and free.
 */
void tv_importer_stop(struct tv_importer *imp);

#endif
