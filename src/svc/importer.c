/*
 * DESIGN: a fixed pool of worker threads drains the store's queue. An idle
 * worker waits on a condition variable that a new job signals, and also
 * wakes every half second to look for work from other nodes and for expired
 * leases. One renewer thread extends the lease of every item this process
 * holds, every third of the lease, so a slow item (a large RSA keystore at
 * the iteration cap) is never taken over while it is still being worked on.
 *
 * When the store can tell about other processes' jobs (PostgreSQL's
 * LISTEN/NOTIFY: store events_wait), a watcher thread turns "a job was
 * created" into a wake-up of the idle workers and "a job became final" into
 * on_job_final, so a long-poll on this node returns as soon as another node
 * finishes the job. Events only make things sooner: the polling above and
 * the HTTP server's once-a-second re-run of waiters remain, so a lost event
 * (a dropped LISTEN connection) costs latency, never correctness.
 */
#include "svc/import_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "svc/metrics.h"

#define S_IDLE_POLL_MS 500
#define S_WATCH_MS 500 /* longest wait for store events: the stop latency */

static void S_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait for work or stop; false when stopping. */
static bool S_idle(struct tv_importer *imp, int64_t ms)
{
	struct timespec ts;
	bool go_on;

	S_deadline(&ts, ms);
	pthread_mutex_lock(&imp->lock);
	while (!imp->stop && !imp->pending_notes)
		if (pthread_cond_timedwait(&imp->cond, &imp->lock, &ts) != 0)
			break;
	if (imp->pending_notes)
		imp->pending_notes--;
	go_on = !imp->stop;
	pthread_mutex_unlock(&imp->lock);
	return go_on;
}

static int S_hold(struct tv_importer *imp, const struct tv_claimed_item *ci)
{
	int slot = -1, i;

	pthread_mutex_lock(&imp->lock);
	for (i = 0; i < (int)(sizeof(imp->held) / sizeof(imp->held[0])) && slot < 0; i++) {
		if (!imp->held[i].used) {
			slot = i;
			imp->held[i].used = true;
			imp->held[i].index = ci->item.index;
			memcpy(imp->held[i].job_id, ci->job_id, sizeof(imp->held[i].job_id));
		}
	}
	pthread_mutex_unlock(&imp->lock);
	return slot;
}

static void S_unhold(struct tv_importer *imp, int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&imp->lock);
	imp->held[slot].used = false;
	pthread_mutex_unlock(&imp->lock);
}

static void *S_worker(void *arg)
{
	struct tv_importer *imp = arg;
	struct tv_claimed_item ci;
	bool final, go_on = true;
	enum tv_err rc;
	int64_t busy_ns;
	int slot;

	while (go_on) {
		int64_t now = tv_now_ms();

		pthread_mutex_lock(&imp->lock);
		go_on = !imp->stop;
		pthread_mutex_unlock(&imp->lock);
		if (!go_on)
			break;
		rc = imp->store->ops->item_claim(imp->store, imp->owner, now,
						 now + imp->cfg.lease_ms,
						 imp->cfg.max_tenant_inflight, &ci);
		if (rc == TV_ERR_NOT_FOUND || rc == TV_ERR_BUSY) {
			go_on = S_idle(imp, S_IDLE_POLL_MS);
			continue;
		}
		if (rc) {
			TV_LOG(TV_LOG_ERROR, "claiming an import item failed",
			       TV_LS("error", tv_strerror(rc)));
			go_on = S_idle(imp, 1000);
			continue;
		}
		slot = S_hold(imp, &ci);
		final = false;
		if (ci.attempts > 1) /* only an expired lease makes an item claimable again */
			tv_svc_metrics_reclaim(imp->cfg.metrics);
		busy_ns = tv_mono_ns();
		rc = tv_import_process(imp, &ci, &final);
		tv_svc_metrics_busy(imp->cfg.metrics, tv_mono_ns() - busy_ns);
		S_unhold(imp, slot);
		if (rc == TV_ERR_STATE)
			TV_LOG(TV_LOG_WARN, "import item lease lost; another worker has it",
			       TV_LS("job", ci.job_id), TV_LI("item", ci.item.index));
		else if (rc)
			TV_LOG(TV_LOG_ERROR, "recording an import item failed",
			       TV_LS("job", ci.job_id), TV_LI("item", ci.item.index),
			       TV_LS("error", tv_strerror(rc)));
		tv_import_item_release(&ci.item);
		if (final && imp->cfg.on_job_final)
			imp->cfg.on_job_final(imp->cfg.on_job_final_arg);
	}
	return NULL;
}

static void *S_renewer(void *arg)
{
	struct tv_importer *imp = arg;
	struct timespec ts;
	size_t i;

	pthread_mutex_lock(&imp->lock);
	while (!imp->stop) {
		S_deadline(&ts, imp->cfg.lease_ms / 3);
		while (!imp->stop && pthread_cond_timedwait(&imp->cond, &imp->lock, &ts) == 0)
			;
		for (i = 0; !imp->stop && i < sizeof(imp->held) / sizeof(imp->held[0]); i++) {
			char job_id[TV_ID_SIZE];
			int index;

			if (!imp->held[i].used)
				continue;
			memcpy(job_id, imp->held[i].job_id, sizeof(job_id));
			index = imp->held[i].index;
			pthread_mutex_unlock(&imp->lock);
			if (imp->store->ops->item_renew(imp->store, job_id, index, imp->owner,
							tv_now_ms() + imp->cfg.lease_ms) != TV_OK)
				TV_LOG(TV_LOG_WARN, "renewing an import lease failed",
				       TV_LS("job", job_id), TV_LI("item", index));
			pthread_mutex_lock(&imp->lock);
		}
	}
	pthread_mutex_unlock(&imp->lock);
	return NULL;
}

/* Sleep ms unless stopping; false when stopping. Leaves pending notes to the
 * workers. */
static bool S_pause(struct tv_importer *imp, int64_t ms)
{
	struct timespec ts;
	bool go_on;

	S_deadline(&ts, ms);
	pthread_mutex_lock(&imp->lock);
	while (!imp->stop && pthread_cond_timedwait(&imp->cond, &imp->lock, &ts) == 0)
		;
	go_on = !imp->stop;
	pthread_mutex_unlock(&imp->lock);
	return go_on;
}

static void *S_watcher(void *arg)
{
	struct tv_importer *imp = arg;
	bool go_on = true, failing = false;

	while (go_on) {
		unsigned events = 0;
		enum tv_err rc = imp->store->ops->events_wait(imp->store, S_WATCH_MS, &events);

		if (rc && !failing)
			TV_LOG(TV_LOG_WARN, "store events unavailable; relying on polling",
			       TV_LS("error", tv_strerror(rc)));
		else if (!rc && failing)
			tv_log(TV_LOG_INFO, "store events available again", NULL, 0);
		failing = rc != TV_OK;
		if (events & TV_STORE_EV_JOB_NEW)
			tv_importer_notify(imp);
		if ((events & TV_STORE_EV_JOB_FINAL) && imp->cfg.on_job_final)
			imp->cfg.on_job_final(imp->cfg.on_job_final_arg);
		pthread_mutex_lock(&imp->lock);
		go_on = !imp->stop;
		pthread_mutex_unlock(&imp->lock);
		if (go_on && rc)
			go_on = S_pause(imp, 1000);
	}
	return NULL;
}

void tv_importer_notify(struct tv_importer *imp)
{
	pthread_mutex_lock(&imp->lock);
	imp->pending_notes = imp->n_threads;
	pthread_cond_broadcast(&imp->cond);
	pthread_mutex_unlock(&imp->lock);
}

static void S_free(struct tv_importer *imp)
{
	tv_pki_ctx_free(imp->pki);
	tv_certinfo_cache_free(imp->facts_cache);
	pthread_cond_destroy(&imp->cond);
	pthread_mutex_destroy(&imp->lock);
	free(imp->threads);
	free(imp);
}

enum tv_err tv_importer_start(struct tv_importer **out, struct tv_store *store,
			      struct tv_keyring *keyring, struct tv_trust_cache *cache,
			      const struct tv_importer_config *cfg)
{
	struct tv_importer *imp = calloc(1, sizeof(*imp));
	unsigned char rnd[8];
	pthread_condattr_t ca;
	char host[32] = "host";
	enum tv_err rc;
	unsigned i;

	if (!imp)
		return TV_ERR_NOMEM;
	imp->store = store;
	imp->keyring = keyring;
	imp->cache = cache;
	imp->cfg = *cfg;
	if (!imp->cfg.lease_ms)
		imp->cfg.lease_ms = TV_IMPORT_LEASE_MS;
	if (imp->cfg.no_workers) {
		imp->cfg.workers = 0;
	} else if (!imp->cfg.workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		imp->cfg.workers = n > 0 ? (unsigned)n : 2;
	}
	if (imp->cfg.metrics)
		imp->cfg.metrics->workers = imp->cfg.workers;
	gethostname(host, sizeof(host) - 1);
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(imp->owner, sizeof(imp->owner), "%.31s:%ld:%02x%02x%02x%02x", host,
		 (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
	pthread_mutex_init(&imp->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&imp->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = tv_pki_ctx_new(&imp->pki);
	if (!rc)
		rc = tv_certinfo_cache_new(&imp->facts_cache, 0);
	imp->threads = calloc(imp->cfg.workers ? imp->cfg.workers : 1, sizeof(*imp->threads));
	if (!rc && !imp->threads)
		rc = TV_ERR_NOMEM;
	if (rc) {
		S_free(imp);
		return rc;
	}
	for (i = 0; i < imp->cfg.workers; i++) {
		if (pthread_create(&imp->threads[i], NULL, S_worker, imp) != 0)
			break;
		imp->n_threads++;
	}
	if (pthread_create(&imp->renewer, NULL, S_renewer, imp) == 0)
		imp->renewer_started = true;
	if (store->ops->events_wait &&
	    pthread_create(&imp->watcher, NULL, S_watcher, imp) == 0)
		imp->watcher_started = true;
	if (imp->n_threads != imp->cfg.workers || !imp->renewer_started ||
	    (store->ops->events_wait && !imp->watcher_started)) {
		tv_importer_stop(imp);
		return TV_ERR_INTERNAL;
	}
	*out = imp;
	return TV_OK;
}

void tv_importer_stop(struct tv_importer *imp)
{
	unsigned i;

	if (!imp)
		return;
	pthread_mutex_lock(&imp->lock);
	imp->stop = true;
	pthread_cond_broadcast(&imp->cond);
	pthread_mutex_unlock(&imp->lock);
	for (i = 0; i < imp->n_threads; i++)
		pthread_join(imp->threads[i], NULL);
	if (imp->renewer_started)
		pthread_join(imp->renewer, NULL);
	if (imp->watcher_started)
		pthread_join(imp->watcher, NULL);
	S_free(imp);
}
