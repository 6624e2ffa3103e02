/* import_int.h - the importer's state, shared by import.c and importer.c. */
#ifndef TV_SVC_IMPORT_INT_H
#define TV_SVC_IMPORT_INT_H

#include <pthread.h>

#include "pki/pki.h"
#include "svc/certinfo_cache.h"
#include "svc/import.h"

/* A processed item on its way to the committer: its outcomes and the
 * buffers they point into (sealed keys, certificate rows: nothing secret). */
struct tv_import_done {
	struct tv_import_done *next; /* the committer's queue */
	struct tv_item_finish fin;   /* what items_finish writes (fin.job_id -> job_id) */
	char job_id[TV_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	int slot;        /* the held[] entry that renews its lease until the commit */
	int64_t busy_ns; /* worker time it took */
	struct tv_item_outcome one; /* the outcome of an item that failed whole */
	char failure[TV_REASON_TEXT_MAX];
	struct tv_import_pair *pairs; /* import.c's, for the outcomes of a keystore */
	size_t n_pairs;
};

/* Process a claimed item into its outcomes, writing nothing (a fault is an
 * INTERNAL_ERROR outcome); TV_ERR_NOMEM only when *out can't be allocated. */
enum tv_err tv_import_prepare(struct tv_importer *imp, const struct tv_claimed_item *ci,
			      struct tv_import_done **out) TV_WUR;
/* After a durable commit of d: the per-item log lines and the metrics. */
void tv_import_published(struct tv_importer *imp, const struct tv_import_done *d);
void tv_import_done_free(struct tv_import_done *d);

struct tv_importer {
	struct tv_store *store;
	struct tv_keyring *keyring;
	struct tv_trust_cache *cache;
	struct tv_pki_ctx *pki;
	struct tv_certinfo_cache *facts_cache; /* the facts of chain CAs, shared */
	struct tv_importer_config cfg;
	char owner[64]; /* lease owner id of this process */

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t cond;  /* work arrived, or stop */
	bool stop;            /* workers: claim no more */
	bool topping_up;      /* the committer is claiming ahead (workers wait for it
				 before they end: what it claims is theirs) */
	bool committing;      /* the committer is committing (and claiming ahead):
				 workers wait for its claims, not claim themselves */
	bool commit_stop;     /* committer: drain and end (after the workers) */
	bool renew_stop;      /* renewer: end (after the committer) */
	unsigned pending_notes;
	/* the hand-off: items processed, waiting for the committer (FIFO) */
	pthread_cond_t commit_cond; /* items pending, or commit_stop */
	pthread_cond_t room_cond;   /* the queue has room again */
	struct tv_import_done *pending, **pending_tail;
	size_t n_pending, max_pending;
	struct tv_import_done **batch; /* the committer's: max_pending each */
	struct tv_item_finish *fin;
	/* items claimed ahead by a batched claim, for the next free worker
	 * (a ring of max_ready) */
	struct tv_import_ready {
		struct tv_claimed_item ci;
		int slot;
	} *ready;
	size_t n_ready, ready_head, max_ready;
	struct tv_claimed_item *claimed; /* the committer's claims (max_ready) */
	/* recent averages, for how many to claim ahead (S_ahead): a worker's
	 * time per item, the committer's per cycle (its batch's wait, its
	 * claims, its commit) */
	int64_t item_ns_avg, cycle_ns_avg;
	/* items this process holds (processing, claimed ahead, queued or
	 * committing), for
	 * lease renewal */
	struct tv_import_held {
		char job_id[TV_ID_SIZE];
		int index;
		bool used;
	} *held;
	size_t n_held;

	pthread_t *threads;
	unsigned n_threads;
	pthread_t renewer;
	bool renewer_started;
	pthread_t committer;
	bool committer_started;
	pthread_t watcher; /* store events from other nodes (when the store has them) */
	bool watcher_started;
};

#endif
