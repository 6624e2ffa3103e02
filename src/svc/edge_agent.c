/*
 * DESIGN: a condition variable with a timed wait, not sleep(), so stop is
 * immediate. Store errors are logged and retried on the next beat: a store
 * outage shows up as LOST_CONNECTION, which is the truth.
 */
#include "svc/edge_agent.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

struct tv_edge_agent {
	struct tv_store *store;
	struct tv_keyring *keyring;
	int interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

static void S_beat(struct tv_edge_agent *a)
{
	struct tv_edge *edges = NULL;
	int64_t now = tv_now_ms();
	size_t n = 0, i;
	enum tv_err rc;

	rc = tv_keyring_load_all(a->keyring);
	if (rc)
		TV_LOG(TV_LOG_ERROR, "loading DEKs failed", TV_LS("error", tv_strerror(rc)));
	rc = a->store->ops->edge_list(a->store, NULL, &edges, &n);
	if (rc) {
		TV_LOG(TV_LOG_WARN, "heartbeat failed", TV_LS("error", tv_strerror(rc)));
		return;
	}
	for (i = 0; i < n; i++) {
		if (!tv_keyring_has(a->keyring, edges[i].dek_id))
			continue;
		rc = a->store->ops->edge_heartbeat(a->store, edges[i].id, now);
		if (rc)
			TV_LOG(TV_LOG_WARN, "heartbeat failed", TV_LS("edge", edges[i].id),
			       TV_LS("error", tv_strerror(rc)));
	}
	free(edges);
}

static void *S_main(void *arg)
{
	struct tv_edge_agent *a = arg;
	struct timespec ts;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += a->interval_ms / 1000;
		ts.tv_nsec += (long)(a->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!a->stop && pthread_cond_timedwait(&a->cond, &a->lock, &ts) == 0)
			;
		if (a->stop)
			break;
		pthread_mutex_unlock(&a->lock);
		S_beat(a);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

enum tv_err tv_edge_agent_start(struct tv_edge_agent **out, struct tv_store *store,
				struct tv_keyring *keyring, int interval_ms)
{
	struct tv_edge_agent *a = calloc(1, sizeof(*a));
	pthread_condattr_t ca;

	if (!a)
		return TV_ERR_NOMEM;
	a->store = store;
	a->keyring = keyring;
	a->interval_ms = interval_ms > 0 ? interval_ms : TV_EDGE_HEARTBEAT_MS;
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	S_beat(a);
	if (pthread_create(&a->thread, NULL, S_main, a) != 0) {
		pthread_cond_destroy(&a->cond);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return TV_ERR_INTERNAL;
	}
	*out = a;
	return TV_OK;
}

void tv_edge_agent_stop(struct tv_edge_agent *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
