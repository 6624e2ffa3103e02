/*
 * DESIGN: a fixed pool of worker threads drains the store's queue. An idle
 * worker waits on a condition variable that a new job signals, and also
 * wakes every half second to look for work from other nodes and for expired
 * leases. One renewer thread extends the lease of every item this process
 * holds, every third of the lease, so a slow item (a large RSA keystore at
 * the iteration cap) is never taken over while it is still being worked on.
 *
 * Group commit. A worker that has processed an item (tv_import_prepare:
 * outcomes, nothing written) hands it to the committer thread and takes
 * its next item at once. The committer writes every item it holds with one
 * items_finish: one transaction, one fsync, however many items. While one
 * commit runs, the next batch accumulates; a small one may wait a few
 * milliseconds more to grow, while the workers have items (S_fill_batch).
 * SQLite has one writer, and the commits hold it most of the time under
 * load, so the committer also claims the workers' next items, just before
 * each commit (a short transaction without fsync, so the workers have them
 * at once, not after the commit's fsync), enough for two cycles (S_ahead);
 * a worker that runs out while a commit runs waits for the committer
 * instead of queueing a claim of its own behind it. The
 * workers run at a lower CPU priority (S_WORKER_NICE) than the committer
 * and the HTTP threads: they are the batch work, while the committer holds
 * the one writer lock everything else waits for.
 *
 * Only after the commit are an item's results visible (the
 * store is the only place they go), its log lines written, its metrics
 * counted and on_job_final called. Until then the item stays in held[], so
 * the renewer keeps its lease: a crash before the commit loses nothing, the
 * item is claimed again when its lease ends. The queue is bounded
 * (max_pending): a worker waits for room, so memory stays bounded when the
 * store is slow. A failed commit is retried item by item once, then the
 * items are let go, never reported (their leases expire, they are claimed
 * again). tv_importer_stop stops the workers, then lets the committer
 * drain, then stops the renewer.
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
#ifdef __linux__
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

#include "core/log.h"
#include "core/util.h"
#include "svc/metrics.h"

#define S_IDLE_POLL_MS 500
#define S_WATCH_MS 500 /* longest wait for store events: the stop latency */
#define S_PENDING_PER_WORKER 32 /* the hand-off queue's bound, per worker */
#define S_CLAIM_MAX 4 /* items one claim takes: one to work on, the rest ahead */
#define S_AHEAD_PER_WORKER (S_CLAIM_MAX - 1) /* ready per worker before any timing */
#define S_AHEAD_MAX_PER_WORKER 48 /* the most the committer keeps ready, per worker */
#define S_WORKER_NICE 5 /* workers' nice above the process's (Linux: per thread) */
#define S_BATCH_PER_WORKER 16 /* a group commit waits for this many items a worker, */
#define S_BATCH_WAIT_MS 10     /* or this long, while the workers have items */

/* The worker threads (at least one): what the per-worker bounds scale by. */
static size_t S_workers(const struct tv_importer *imp)
{
	return imp->cfg.workers ? imp->cfg.workers : 1;
}

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

/* Wait for work (a note that a job arrived, or an item claimed ahead) or
 * stop; false when stopping. */
static bool S_idle(struct tv_importer *imp, int64_t ms)
{
	struct timespec ts;
	bool go_on;

	S_deadline(&ts, ms);
	pthread_mutex_lock(&imp->lock);
	while (!imp->stop && !imp->pending_notes && !imp->n_ready)
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
	int slot = -1;
	size_t i;

	pthread_mutex_lock(&imp->lock);
	for (i = 0; i < imp->n_held && slot < 0; i++) {
		if (!imp->held[i].used) {
			slot = (int)i;
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

/* An average of the recent figures: the first as it is, then 7/8 old, 1/8 new. */
static void S_average(int64_t *avg, int64_t x)
{
	*avg = *avg ? *avg - *avg / 8 + x / 8 : x;
}

/* Queue d for the committer, waiting while the queue is full (even when
 * stopping: the committer drains it before it ends). */
static void S_handoff(struct tv_importer *imp, struct tv_import_done *d)
{
	pthread_mutex_lock(&imp->lock);
	S_average(&imp->item_ns_avg, d->busy_ns);
	while (imp->n_pending >= imp->max_pending)
		pthread_cond_wait(&imp->room_cond, &imp->lock);
	d->next = NULL;
	*imp->pending_tail = d;
	imp->pending_tail = &d->next;
	imp->n_pending++;
	pthread_cond_signal(&imp->commit_cond);
	pthread_mutex_unlock(&imp->lock);
}

/* Take an item claimed ahead; false when there is none. Under imp->lock. */
static bool S_take_ready(struct tv_importer *imp, struct tv_claimed_item *ci, int *slot)
{
	struct tv_import_ready *r;

	if (!imp->n_ready)
		return false;
	r = &imp->ready[imp->ready_head];
	*ci = r->ci;
	*slot = r->slot;
	memset(r, 0, sizeof(*r));
	imp->ready_head = (imp->ready_head + 1) % imp->max_ready;
	if (--imp->n_ready == 0)
		pthread_cond_signal(&imp->commit_cond); /* S_fill_batch waits no more */
	return true;
}

/*
 * Claim up to S_CLAIM_MAX items in one store transaction when there is room
 * to keep the rest for the next free workers (woken for them); *n = 0 when
 * there is nothing to claim. The first item is the caller's. Only when no
 * commit runs (S_worker): the committer claims for the workers otherwise.
 */
static enum tv_err S_claim(struct tv_importer *imp, struct tv_claimed_item *ci, int *slot,
			   size_t *n)
{
	struct tv_claimed_item got[S_CLAIM_MAX];
	int64_t now = tv_now_ms();
	size_t max = 1, i;
	enum tv_err rc;

	pthread_mutex_lock(&imp->lock);
	/* the ring holds the committer's largest target plus S_CLAIM_MAX per
	 * worker, so the claims running at once (one per worker) always find
	 * room below */
	if (imp->store->ops->items_claim && imp->n_ready < imp->max_ready / 2)
		max = S_CLAIM_MAX;
	pthread_mutex_unlock(&imp->lock);
	*n = 0;
	if (max > 1) {
		rc = imp->store->ops->items_claim(imp->store, imp->owner, now,
						  now + imp->cfg.lease_ms,
						  imp->cfg.max_tenant_inflight, got, max, n);
	} else {
		rc = imp->store->ops->item_claim(imp->store, imp->owner, now,
						 now + imp->cfg.lease_ms,
						 imp->cfg.max_tenant_inflight, got);
		*n = rc == TV_OK;
		if (rc == TV_ERR_NOT_FOUND)
			rc = TV_OK;
	}
	if (rc || !*n)
		return rc;
	for (i = 0; i < *n; i++) {
		int s = S_hold(imp, &got[i]);

		if (got[i].attempts > 1) /* only an expired lease makes it claimable again */
			tv_svc_metrics_reclaim(imp->cfg.metrics);
		if (i == 0) {
			*ci = got[0];
			*slot = s;
			continue;
		}
		pthread_mutex_lock(&imp->lock);
		if (imp->n_ready < imp->max_ready) {
			struct tv_import_ready *r =
				&imp->ready[(imp->ready_head + imp->n_ready) % imp->max_ready];

			r->ci = got[i];
			r->slot = s;
			imp->n_ready++;
			/* an idle worker wakes for it (S_idle looks at n_ready); no
			 * note: a note left over would send a worker to the store
			 * for a claim that finds nothing */
			pthread_cond_broadcast(&imp->cond);
			pthread_mutex_unlock(&imp->lock);
		} else {
			pthread_mutex_unlock(&imp->lock);
			/* not reached (see the room check above); were it, the
			 * item would go back to the queue when its lease ends */
			TV_LOG(TV_LOG_WARN, "no room for an item claimed ahead",
			       TV_LS("job", got[i].job_id), TV_LI("item", got[i].item.index));
			S_unhold(imp, s);
			tv_import_item_release(&got[i].item);
		}
	}
	return TV_OK;
}

/*
 * The calling worker thread's CPU priority, S_WORKER_NICE below the
 * process's: when the cores are busy, the committer (which holds SQLite's
 * writer lock that every claim and POST waits for) and the HTTP threads
 * run first. Measured (one paired import-only run, docs/PERFORMANCE.md):
 * the committer's time in its statements fell by a fifth, the import rate
 * rose 9%.
 * Linux keeps nice per thread; elsewhere the priority is left alone.
 * Raising nice needs no privilege; a failure changes nothing. A worker's
 * own claim (only when no commit runs, S_worker) then holds the writer
 * lock at the lower priority: a POST may wait a little longer for it on
 * busy cores, never for long (it is one short transaction).
 */
static void S_lower_priority(void)
{
#ifdef __linux__
	id_t tid = (id_t)syscall(SYS_gettid);
	int cur;

	errno = 0;
	cur = getpriority(PRIO_PROCESS, tid);
	if (cur != -1 || errno == 0)
		(void)setpriority(PRIO_PROCESS, tid, cur + S_WORKER_NICE);
#endif
}

static void *S_worker(void *arg)
{
	struct tv_importer *imp = arg;
	struct tv_claimed_item ci;
	struct tv_import_done *d;
	bool have, stop;
	enum tv_err rc;
	int64_t busy_ns;
	size_t n;
	int slot;

	S_lower_priority();
	for (;;) {
		/* items claimed ahead first, even when stopping: they are ours */
		pthread_mutex_lock(&imp->lock);
		have = S_take_ready(imp, &ci, &slot);
		stop = imp->stop;
		/* Stopping: what the committer is claiming ahead is ours to
		 * process, so wait for it. Otherwise, while a commit runs, the
		 * committer has claimed for us or is about to: a claim of our
		 * own would only queue behind its transaction for SQLite's
		 * writer lock, and lengthen the next. One loop, so a stop that
		 * comes while waiting for the commit still waits for the claim. */
		while (!have && (stop ? imp->topping_up
				      : imp->committing && imp->store->ops->items_claim)) {
			pthread_cond_wait(&imp->cond, &imp->lock);
			have = S_take_ready(imp, &ci, &slot);
			stop = imp->stop;
		}
		pthread_mutex_unlock(&imp->lock);
		if (!have && stop)
			break;
		if (!have) {
			rc = S_claim(imp, &ci, &slot, &n);
			if (!rc && !n) {
				S_idle(imp, S_IDLE_POLL_MS);
				continue;
			}
			if (rc == TV_ERR_BUSY) {
				S_idle(imp, S_IDLE_POLL_MS);
				continue;
			}
			if (rc) {
				TV_LOG(TV_LOG_ERROR, "claiming an import item failed",
				       TV_LS("error", tv_strerror(rc)));
				S_idle(imp, 1000);
				continue;
			}
		}
		busy_ns = tv_mono_ns();
		rc = tv_import_prepare(imp, &ci, &d);
		tv_import_item_release(&ci.item); /* the inputs are not needed any more */
		if (rc) {
			/* not recorded: its lease ends and it is claimed again */
			TV_LOG(TV_LOG_ERROR, "processing an import item failed",
			       TV_LS("job", ci.job_id), TV_LI("item", ci.item.index),
			       TV_LS("error", tv_strerror(rc)));
			tv_svc_metrics_busy(imp->cfg.metrics, tv_mono_ns() - busy_ns);
			S_unhold(imp, slot);
			continue;
		}
		d->busy_ns = tv_mono_ns() - busy_ns;
		d->slot = slot;
		S_handoff(imp, d);
	}
	return NULL;
}

/* Commit batch[0..n) (one transaction; if that fails as a whole and holds
 * more than one item, once more item by item), then publish what was
 * written. Every item leaves held[]; true when a job became final. */
static bool S_commit(struct tv_importer *imp, struct tv_import_done **batch,
		     struct tv_item_finish *fin, size_t n)
{
	bool any_final = false;
	enum tv_err rc;
	size_t i;

	for (i = 0; i < n; i++)
		fin[i] = batch[i]->fin;
	rc = imp->store->ops->items_finish(imp->store, imp->owner, fin, n, tv_now_ms());
	if (rc && n > 1) {
		TV_LOG(TV_LOG_WARN, "committing import items failed; retrying one by one",
		       TV_LI("items", (int64_t)n), TV_LS("error", tv_strerror(rc)));
		for (i = 0; i < n; i++)
			(void)imp->store->ops->items_finish(imp->store, imp->owner, &fin[i], 1,
							    tv_now_ms());
	}
	for (i = 0; i < n; i++) {
		struct tv_import_done *d = batch[i];

		tv_svc_metrics_busy(imp->cfg.metrics, d->busy_ns); /* worked on, either way */
		if (fin[i].rc == TV_OK) {
			/* recorded_status and recorded_code were set in d's outcomes */
			tv_import_published(imp, d);
			any_final |= fin[i].job_final;
		} else if (fin[i].rc == TV_ERR_STATE) {
			TV_LOG(TV_LOG_WARN, "import item lease lost; another worker has it",
			       TV_LS("job", d->job_id), TV_LI("item", d->fin.index));
		} else {
			TV_LOG(TV_LOG_ERROR, "recording an import item failed",
			       TV_LS("job", d->job_id), TV_LI("item", d->fin.index),
			       TV_LS("error", tv_strerror(fin[i].rc)));
		}
		S_unhold(imp, d->slot);
		tv_import_done_free(d);
	}
	return any_final;
}

/*
 * How many items a worker needs ready to keep busy through this cycle of
 * the committer and the next (its items take item_ns_avg; a cycle, the
 * batch's wait, the claims and the commit, cycle_ns_avg: the committer
 * claims just before a commit, and its next claims come before the next),
 * each counted at twice the average, plus one: a commit's fsync has a
 * long tail (4 ms typically, 16 ms and more at times on the bench
 * machine's disk), and with two average commits the workers waited for
 * claims 9 to 13% of their time, with four 4 to 5%. Keystores that take
 * seconds get two, so another tenant's item doesn't wait behind a long
 * row of them claimed ahead (fairness); a millisecond item behind a 5 ms
 * cycle gets 21, behind a 12 ms one or longer 48 (S_AHEAD_MAX_PER_WORKER:
 * another tenant's item then waits at most about that many item times
 * more). S_AHEAD_PER_WORKER until both have been timed. imp->lock held.
 */
static size_t S_ahead(const struct tv_importer *imp)
{
	int64_t k;

	if (imp->item_ns_avg <= 0 || imp->cycle_ns_avg <= 0)
		return S_AHEAD_PER_WORKER;
	k = (4 * imp->cycle_ns_avg + imp->item_ns_avg - 1) / imp->item_ns_avg + 1;
	return k > S_AHEAD_MAX_PER_WORKER ? S_AHEAD_MAX_PER_WORKER : (size_t)k;
}

/*
 * Hold got[0..n) (the committer's claims ahead) and queue them for the next
 * free worker. imp->lock not held.
 */
static void S_ready_add(struct tv_importer *imp, struct tv_claimed_item *got, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int slot = S_hold(imp, &got[i]);

		if (got[i].attempts > 1)
			tv_svc_metrics_reclaim(imp->cfg.metrics);
		pthread_mutex_lock(&imp->lock);
		/* room: n_ready was below the target, the ring holds the
		 * largest target, and the workers' own claims add at most
		 * S_CLAIM_MAX - 1 each; were that ever wrong, the item would
		 * wait out its lease, not be lost */
		if (imp->n_ready < imp->max_ready && slot >= 0) {
			imp->ready[(imp->ready_head + imp->n_ready) % imp->max_ready] =
				(struct tv_import_ready){ .ci = got[i], .slot = slot };
			imp->n_ready++;
			pthread_cond_broadcast(&imp->cond);
			pthread_mutex_unlock(&imp->lock);
			continue;
		}
		pthread_mutex_unlock(&imp->lock);
		TV_LOG(TV_LOG_WARN, "no room for an item claimed ahead",
		       TV_LS("job", got[i].job_id), TV_LI("item", got[i].item.index));
		S_unhold(imp, slot);
		tv_import_item_release(&got[i].item);
	}
}

/*
 * Let a small batch grow before it is committed: until it holds
 * S_BATCH_PER_WORKER items a worker, for at most S_BATCH_WAIT_MS, and only
 * while items claimed ahead remain to be worked on (the last items of an
 * import are not held back). Much of what a group commit costs is per
 * commit, not per item: its write and fsync (on the bench machine's disk
 * 3 to 5 ms for 7 to 14 items, 6 to 8 ms for about 30), the claims before
 * it, the pages every commit writes again (the jobs' rows, the indexes'
 * edges). Taking at once whatever was pending gave commits of 7 to 14
 * items on disk and of 2 on tmpfs, and the committer's CPU grew with their
 * number. The writer lock is free while it waits, and the workers go on
 * with the items claimed ahead for the whole cycle (S_ahead); a worker that
 * takes the last of them, or a stop, ends the wait. imp->lock held.
 */
static void S_fill_batch(struct tv_importer *imp)
{
	size_t want = S_workers(imp) * S_BATCH_PER_WORKER;
	struct timespec ts;

	if (want > imp->max_pending)
		want = imp->max_pending;
	S_deadline(&ts, S_BATCH_WAIT_MS);
	while (imp->n_pending < want && imp->n_ready > 0 && !imp->stop && !imp->commit_stop &&
	       pthread_cond_timedwait(&imp->commit_cond, &imp->lock, &ts) == 0)
		;
}

/*
 * Claim ahead from the committer, just before its commit: a worker's own
 * claim is a write transaction, and SQLite has one writer, so a worker that
 * claims while the committer's transaction (and its fsync) runs waits for
 * it. The committer claims first, in a transaction of its own without
 * fsync (items_claim), and keeps enough items per worker ready to last the
 * workers through this cycle and the next (S_ahead); a worker claims
 * itself only when it finds none and no commit runs. A store without
 * batched claims (PostgreSQL: no lock that one writer holds) claims
 * nothing here. Called and returns with imp->lock held.
 */
static void S_top_up(struct tv_importer *imp)
{
	size_t target = S_workers(imp) * S_ahead(imp);
	size_t want, n = 0;
	int64_t now;
	enum tv_err rc;

	if (imp->stop || !imp->store->ops->items_claim || imp->n_ready >= target)
		return;
	want = target - imp->n_ready;
	imp->topping_up = true;
	pthread_mutex_unlock(&imp->lock);
	now = tv_now_ms();
	rc = imp->store->ops->items_claim(imp->store, imp->owner, now, now + imp->cfg.lease_ms,
					  imp->cfg.max_tenant_inflight, imp->claimed, want, &n);
	if (rc && rc != TV_ERR_BUSY && rc != TV_ERR_NOT_FOUND)
		TV_LOG(TV_LOG_WARN, "claiming import items ahead failed",
		       TV_LS("error", tv_strerror(rc)));
	if (!rc)
		S_ready_add(imp, imp->claimed, n);
	pthread_mutex_lock(&imp->lock);
	imp->topping_up = false;
	pthread_cond_broadcast(&imp->cond);
}

static void *S_committer(void *arg)
{
	struct tv_importer *imp = arg;
	struct tv_import_done **batch = imp->batch, *d;
	struct tv_item_finish *fin = imp->fin;
	size_t n;
	int64_t t0;
	bool final;

	pthread_mutex_lock(&imp->lock);
	for (;;) {
		while (!imp->pending && !imp->commit_stop)
			pthread_cond_wait(&imp->commit_cond, &imp->lock);
		if (!imp->pending)
			break; /* stopping, and drained */
		t0 = tv_mono_ns();
		S_fill_batch(imp);
		/* everything pending: one group commit */
		for (n = 0, d = imp->pending; d; d = d->next)
			batch[n++] = d;
		imp->pending = NULL;
		imp->pending_tail = &imp->pending;
		imp->n_pending = 0;
		imp->committing = true;
		pthread_cond_broadcast(&imp->room_cond);
		S_top_up(imp);
		pthread_mutex_unlock(&imp->lock);
		final = S_commit(imp, batch, fin, n);
		t0 = tv_mono_ns() - t0; /* the cycle, without on_job_final: S_ahead's figure */
		if (final && imp->cfg.on_job_final)
			imp->cfg.on_job_final(imp->cfg.on_job_final_arg);
		pthread_mutex_lock(&imp->lock);
		S_average(&imp->cycle_ns_avg, t0);
		imp->committing = false;
		pthread_cond_broadcast(&imp->cond);
	}
	pthread_mutex_unlock(&imp->lock);
	return NULL;
}

static void *S_renewer(void *arg)
{
	struct tv_importer *imp = arg;
	struct timespec ts;
	enum tv_err rc;
	size_t i;

	pthread_mutex_lock(&imp->lock);
	while (!imp->renew_stop) {
		S_deadline(&ts, imp->cfg.lease_ms / 3);
		while (!imp->renew_stop &&
		       pthread_cond_timedwait(&imp->cond, &imp->lock, &ts) == 0)
			;
		for (i = 0; !imp->renew_stop && i < imp->n_held; i++) {
			char job_id[TV_ID_SIZE];
			int index;

			if (!imp->held[i].used)
				continue;
			memcpy(job_id, imp->held[i].job_id, sizeof(job_id));
			index = imp->held[i].index;
			pthread_mutex_unlock(&imp->lock);
			rc = imp->store->ops->item_renew(imp->store, job_id, index, imp->owner,
							 tv_now_ms() + imp->cfg.lease_ms);
			pthread_mutex_lock(&imp->lock);
			/* an item committed meanwhile is no longer held: not a failure */
			if (rc && imp->held[i].used && imp->held[i].index == index &&
			    !memcmp(imp->held[i].job_id, job_id, sizeof(job_id)))
				TV_LOG(TV_LOG_WARN, "renewing an import lease failed",
				       TV_LS("job", job_id), TV_LI("item", index));
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
	pthread_cond_destroy(&imp->commit_cond);
	pthread_cond_destroy(&imp->room_cond);
	pthread_mutex_destroy(&imp->lock);
	free(imp->threads);
	while (imp->ready && imp->n_ready) { /* none after the workers ended */
		tv_import_item_release(&imp->ready[imp->ready_head].ci.item);
		imp->ready_head = (imp->ready_head + 1) % imp->max_ready;
		imp->n_ready--;
	}
	free(imp->ready);
	free(imp->claimed);
	free(imp->held);
	free(imp->batch);
	free(imp->fin);
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
	pthread_cond_init(&imp->commit_cond, &ca); /* S_fill_batch's deadline */
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&imp->room_cond, NULL);
	imp->pending_tail = &imp->pending;
	/* every item held at once: one per worker, the ones claimed ahead, a
	 * full queue, a full batch */
	imp->max_pending = S_workers(imp) * S_PENDING_PER_WORKER;
	/* the committer's claims ahead, and the workers' own claims (a worker
	 * may be claiming when the committer starts) */
	imp->max_ready = (S_AHEAD_MAX_PER_WORKER + S_CLAIM_MAX) *
			 S_workers(imp);
	imp->n_held = imp->cfg.workers + imp->max_ready + 2 * imp->max_pending;
	rc = tv_pki_ctx_new(&imp->pki);
	if (!rc)
		rc = tv_certinfo_cache_new(&imp->facts_cache, 0);
	imp->threads = calloc(S_workers(imp), sizeof(*imp->threads));
	imp->held = calloc(imp->n_held, sizeof(*imp->held));
	imp->batch = calloc(imp->max_pending, sizeof(*imp->batch));
	imp->fin = calloc(imp->max_pending, sizeof(*imp->fin));
	imp->ready = calloc(imp->max_ready, sizeof(*imp->ready));
	imp->claimed = calloc(imp->max_ready, sizeof(*imp->claimed));
	if (!rc && (!imp->threads || !imp->held || !imp->batch || !imp->fin || !imp->ready ||
		    !imp->claimed))
		rc = TV_ERR_NOMEM;
	if (rc) {
		S_free(imp);
		return rc;
	}
	/* the committer and the renewer first: a worker may need both at once */
	if (pthread_create(&imp->committer, NULL, S_committer, imp) == 0)
		imp->committer_started = true;
	if (pthread_create(&imp->renewer, NULL, S_renewer, imp) == 0)
		imp->renewer_started = true;
	for (i = 0; imp->committer_started && i < imp->cfg.workers; i++) {
		if (pthread_create(&imp->threads[i], NULL, S_worker, imp) != 0)
			break;
		imp->n_threads++;
	}
	if (store->ops->events_wait &&
	    pthread_create(&imp->watcher, NULL, S_watcher, imp) == 0)
		imp->watcher_started = true;
	if (imp->n_threads != imp->cfg.workers || !imp->renewer_started ||
	    !imp->committer_started || (store->ops->events_wait && !imp->watcher_started)) {
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
	pthread_cond_signal(&imp->commit_cond); /* out of S_fill_batch */
	pthread_mutex_unlock(&imp->lock);
	for (i = 0; i < imp->n_threads; i++)
		pthread_join(imp->threads[i], NULL);
	/* the workers are gone: drain the committer, then stop renewing */
	pthread_mutex_lock(&imp->lock);
	imp->commit_stop = true;
	pthread_cond_signal(&imp->commit_cond);
	pthread_mutex_unlock(&imp->lock);
	if (imp->committer_started)
		pthread_join(imp->committer, NULL);
	pthread_mutex_lock(&imp->lock);
	imp->renew_stop = true;
	pthread_cond_broadcast(&imp->cond);
	pthread_mutex_unlock(&imp->lock);
	if (imp->renewer_started)
		pthread_join(imp->renewer, NULL);
	if (imp->watcher_started)
		pthread_join(imp->watcher, NULL);
	S_free(imp);
}
