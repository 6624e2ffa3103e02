/* import_int.h - the importer's state, shared by import.c and importer.c. */
#ifndef TV_SVC_IMPORT_INT_H
#define TV_SVC_IMPORT_INT_H

#include <pthread.h>

#include "pki/pki.h"
#include "svc/certinfo_cache.h"
#include "svc/import.h"

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
	bool stop;
	unsigned pending_notes;
	/* items this process holds, for lease renewal */
	struct {
		char job_id[TV_ID_SIZE];
		int index;
		bool used;
	} held[256];

	pthread_t *threads;
	unsigned n_threads;
	pthread_t renewer;
	bool renewer_started;
	pthread_t watcher; /* store events from other nodes (when the store has them) */
	bool watcher_started;
};

#endif
