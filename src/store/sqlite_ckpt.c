/*
 * DESIGN: WAL checkpoints run on a thread of their own, with a connection
 * of their own, never inside an operation. SQLite's automatic checkpoint
 * runs in whichever connection commits past 1,000 WAL frames, and
 * items_finish used to truncate the WAL itself when a job ended: both ran
 * in the import committer, between its commits, so on disk the committer
 * spent a checkpoint's copy and two fsyncs (and ftruncate, about 15 ms in
 * all) without committing, and the workers behind it ran out of claimed
 * items (the vault on disk imported at 0.74 of its rate on tmpfs).
 *
 * Every pooled connection gets a WAL hook in place of the automatic
 * checkpoint: a commit that leaves TV__SQLITE_CKPT_FRAMES frames or more
 * asks for a PASSIVE checkpoint, which never takes the writer lock (commits
 * go on while it copies). tv__sqlite_ckpt_truncate asks for a TRUNCATE: the
 * erased inputs of a finished job (keystores, sealed passwords) leave the
 * WAL file then, as before; the thread first copies the frames PASSIVE, so
 * the writer lock is held only for the truncation itself. A TRUNCATE that
 * finds the database busy (a reader on an old snapshot, a writer past the
 * short wait) is tried again every TV__SQLITE_CKPT_RETRY_MS until it
 * succeeds, where the old inline attempt gave up at once and left the
 * frames to a later job.
 *
 * The hook's PASSIVE requests run at most every TV__SQLITE_CKPT_GAP_MS
 * (also while a TRUNCATE waits for its moment):
 * while an import runs the WAL stays past the threshold, every commit
 * asked for one, and each copied the same hot pages (the job's row, the
 * indexes) and synced the database file again, 0.11 ms of CPU an item.
 * The WAL grows by at most a quarter second of commits more.
 *
 * A TRUNCATE holds the writer lock through its ftruncate and fsyncs (10 to
 * 20 ms), and an import of many jobs asks for one as each job ends: the
 * commits behind it waited, and the workers behind the commits. So a
 * TRUNCATE waits for TV__SQLITE_CKPT_QUIET_MS without a commit (the WAL
 * hook notes each), or TV__SQLITE_CKPT_MAX_DELAY_MS after it was asked
 * for, whichever comes first: the erased inputs still leave the WAL file
 * within about two seconds of their job's end. A TRUNCATE still owed when
 * the store closes is tried once more before the thread ends.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

/* A TRUNCATE waits this long for the writer lock (the committer's
 * transaction, fsync included, is a few ms) before it counts as busy. */
#define S_TRUNCATE_WAIT_MS 50

static int S_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct tv__sqlite *s = arg;

	(void)db;
	(void)name;
	__atomic_store_n(&s->ckpt_last_commit_ms, tv_mono_ms(), __ATOMIC_RELAXED);
	if (frames >= TV__SQLITE_CKPT_FRAMES)
		tv__sqlite_ckpt_request(s, false);
	return SQLITE_OK;
}

void tv__sqlite_ckpt_hook(struct tv__sqlite *s, sqlite3 *db)
{
	/* replaces SQLite's automatic checkpoint on this connection */
	sqlite3_wal_hook(db, S_wal_hook, s);
}

void tv__sqlite_ckpt_request(struct tv__sqlite *s, bool truncate)
{
	if (!s->ckpt_started)
		return;
	pthread_mutex_lock(&s->ckpt_lock);
	/* a PASSIVE already asked for is on its way: no need to wake the
	 * thread at every commit while it waits out the gap */
	if (truncate || !s->ckpt_passive)
		pthread_cond_signal(&s->ckpt_cond);
	s->ckpt_passive = true;
	if (truncate && s->ckpt_truncate_gen == s->ckpt_done_gen)
		s->ckpt_owed_since_ms = tv_mono_ms(); /* none owed until now */
	if (truncate)
		s->ckpt_truncate_gen++;
	pthread_mutex_unlock(&s->ckpt_lock);
}

void tv__sqlite_ckpt_truncate(struct tv__sqlite *s)
{
	if (s->ckpt_started) {
		tv__sqlite_ckpt_request(s, true);
		return;
	}
	/* no thread (it could not start): the old way, inline and without
	 * waiting, on a connection of the caller's */
	{
		sqlite3 *db;

		if (tv__sqlite_acquire(s, &db) != TV_OK)
			return;
		sqlite3_busy_handler(db, NULL, NULL);
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		tv__sqlite_busy_default(db);
		tv__sqlite_release(s, db, false);
	}
}

static void S_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Whether a TRUNCATE owed may run now (see the DESIGN note). ckpt_lock held. */
static bool S_quiet(const struct tv__sqlite *s, int64_t now)
{
	return now - __atomic_load_n(&s->ckpt_last_commit_ms, __ATOMIC_RELAXED) >=
		       TV__SQLITE_CKPT_QUIET_MS ||
	       now - s->ckpt_owed_since_ms >= TV__SQLITE_CKPT_MAX_DELAY_MS;
}

/* The thread's connection, opened on first use; NULL (and *r why) if not. */
static sqlite3 *S_conn(struct tv__sqlite *s, sqlite3 **db, int *r)
{
	/* a connection that has not read the file yet does not know it is in
	 * WAL mode, and its checkpoints do nothing: ask */
	if (!*db &&
	    (sqlite3_open_v2(s->path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		     SQLITE_OK ||
	     sqlite3_exec(*db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)) {
		*r = sqlite3_errcode(*db);
		if (*r == SQLITE_OK)
			*r = SQLITE_CANTOPEN;
		sqlite3_close(*db);
		*db = NULL;
	}
	return *db;
}

/* A PASSIVE copy, then, if truncate, the TRUNCATE; SQLite's result. */
static int S_checkpoint(struct tv__sqlite *s, sqlite3 **db, bool truncate)
{
	int r = SQLITE_OK;

	if (!S_conn(s, db, &r))
		return r;
	/* copy without the writer lock; commits go on meanwhile */
	sqlite3_busy_handler(*db, NULL, NULL);
	r = sqlite3_wal_checkpoint_v2(*db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (truncate) {
		sqlite3_busy_timeout(*db, S_TRUNCATE_WAIT_MS);
		r = sqlite3_wal_checkpoint_v2(*db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	}
	return r;
}

/*
 * The loop: a PASSIVE when the hook asked for one and the last one is
 * TV__SQLITE_CKPT_GAP_MS old; a TRUNCATE when one is owed, the database is
 * quiet (S_quiet) and the last try is TV__SQLITE_CKPT_RETRY_MS old. Until
 * then it sleeps, at most a retry period while a TRUNCATE is owed (to look
 * at the quiet again). A TRUNCATE still owed at stop is tried once more.
 */
static void *S_checkpointer(void *arg)
{
	struct tv__sqlite *s = arg;
	int64_t last_passive_ms = 0, last_try_ms = 0, now, wait;
	sqlite3 *db = NULL;
	bool warned = false, passive, truncate;
	uint64_t gen;
	int r;

	pthread_mutex_lock(&s->ckpt_lock);
	for (;;) {
		if (s->ckpt_stop)
			break;
		now = tv_mono_ms();
		gen = s->ckpt_truncate_gen;
		truncate = gen != s->ckpt_done_gen && now - last_try_ms >= TV__SQLITE_CKPT_RETRY_MS &&
			   S_quiet(s, now);
		passive = s->ckpt_passive && now - last_passive_ms >= TV__SQLITE_CKPT_GAP_MS;
		if (!truncate && !passive) {
			struct timespec ts;

			wait = -1; /* until asked */
			if (gen != s->ckpt_done_gen)
				wait = TV__SQLITE_CKPT_RETRY_MS;
			if (s->ckpt_passive) {
				int64_t w = last_passive_ms + TV__SQLITE_CKPT_GAP_MS - now;

				if (wait < 0 || w < wait)
					wait = w;
			}
			if (wait < 0) {
				pthread_cond_wait(&s->ckpt_cond, &s->ckpt_lock);
			} else {
				S_deadline(&ts, (long)(wait > 0 ? wait : 1));
				(void)pthread_cond_timedwait(&s->ckpt_cond, &s->ckpt_lock, &ts);
			}
			continue;
		}
		s->ckpt_passive = false;
		pthread_mutex_unlock(&s->ckpt_lock);
		r = S_checkpoint(s, &db, truncate);
		last_passive_ms = tv_mono_ms();
		if (truncate)
			last_try_ms = last_passive_ms;
		if (r != SQLITE_OK && r != SQLITE_BUSY && r != SQLITE_LOCKED && !warned) {
			TV_LOG(TV_LOG_WARN, "WAL checkpoint failed; retrying",
			       TV_LS("error", db ? sqlite3_errmsg(db) : "cannot open the database"));
			warned = true;
		}
		pthread_mutex_lock(&s->ckpt_lock);
		if (truncate && r == SQLITE_OK) {
			s->ckpt_done_gen = gen; /* a request made since is still owed */
			warned = false;
		}
	}
	truncate = s->ckpt_truncate_gen != s->ckpt_done_gen;
	pthread_mutex_unlock(&s->ckpt_lock);
	/* the inputs of a job that ended just before the stop still leave the
	 * WAL: one last try, whoever else has the file open */
	if (truncate)
		(void)S_checkpoint(s, &db, true);
	sqlite3_close(db);
	return NULL;
}

void tv__sqlite_ckpt_start(struct tv__sqlite *s)
{
	pthread_mutex_init(&s->ckpt_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->ckpt_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	s->ckpt_init = true;
	s->ckpt_started = pthread_create(&s->ckpt_thread, NULL, S_checkpointer, s) == 0;
	if (!s->ckpt_started)
		TV_LOG(TV_LOG_WARN, "no checkpoint thread; checkpoints run inline",
		       TV_LS("path", s->path));
}

void tv__sqlite_ckpt_stop(struct tv__sqlite *s)
{
	if (!s->ckpt_init)
		return;
	if (s->ckpt_started) {
		pthread_mutex_lock(&s->ckpt_lock);
		s->ckpt_stop = true;
		pthread_cond_signal(&s->ckpt_cond);
		pthread_mutex_unlock(&s->ckpt_lock);
		pthread_join(s->ckpt_thread, NULL);
		s->ckpt_started = false;
	}
	pthread_cond_destroy(&s->ckpt_cond);
	pthread_mutex_destroy(&s->ckpt_lock);
	s->ckpt_init = false;
}
