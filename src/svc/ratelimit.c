/*
 * DESIGN: see ratelimit.h. The table is open-addressed with a fixed probe
 * window instead of a growing map: a lookup looks at S_WINDOW slots from the
 * key's hash, and a new key takes the first free one or, when the window is
 * full, the least recently used one. That bounds both memory (the slots are
 * allocated once) and the work per request (S_WINDOW compares), whatever the
 * keys are. Arithmetic is in thousandths of a token and whole milliseconds,
 * all in int64_t: a bucket holds at most burst * 1000 <= 10^9.
 */
#include "svc/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_MILLI     1000 /* thousandths of a token in one token */
#define S_WINDOW    16   /* slots probed per key */
#define S_MIN_SLOTS 16

struct S_bucket {
	char key[TV_RATELIMIT_KEY_MAX + 1];
	bool used;
	int64_t tokens;   /* thousandths of a token */
	int64_t last_ms;  /* time of the last refill */
	uint64_t touched; /* take counter at the last take: the LRU order */
};

struct tv_ratelimit {
	pthread_mutex_t lock; /* guards everything below */
	int64_t rate;         /* tokens a second = thousandths a millisecond */
	int64_t cap;          /* burst, in thousandths */
	size_t n_slots, n_used;
	uint64_t clock;
	struct S_bucket *slots;
};

enum tv_err tv_ratelimit_new(struct tv_ratelimit **out, unsigned rate, unsigned burst, size_t slots)
{
	struct tv_ratelimit *rl;

	if (!out || rate < 1 || rate > TV_RATELIMIT_MAX_RATE || burst < 1 ||
	    burst > TV_RATELIMIT_MAX_RATE || (slots && slots < S_MIN_SLOTS))
		return TV_ERR_INVALID;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return TV_ERR_NOMEM;
	rl->n_slots = slots ? slots : TV_RATELIMIT_DEFAULT_SLOTS;
	rl->slots = calloc(rl->n_slots, sizeof(*rl->slots));
	if (!rl->slots) {
		free(rl);
		return TV_ERR_NOMEM;
	}
	rl->rate = (int64_t)rate;
	rl->cap = (int64_t)burst * S_MILLI;
	pthread_mutex_init(&rl->lock, NULL);
	*out = rl;
	return TV_OK;
}

void tv_ratelimit_free(struct tv_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->slots);
	free(rl);
}

/* FNV-1a: the keys are server-made ids, so no one picks them to collide. */
static uint64_t S_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h;
}

/* The key's bucket, made (full) if it has none. Under the lock. */
static struct S_bucket *S_find(struct tv_ratelimit *rl, const char *key, int64_t now_ms)
{
	size_t start = (size_t)(S_hash(key) % rl->n_slots), i;
	struct S_bucket *b, *empty = NULL, *victim = NULL;

	for (i = 0; i < S_WINDOW && i < rl->n_slots; i++) {
		b = &rl->slots[(start + i) % rl->n_slots];
		if (!b->used) {
			if (!empty)
				empty = b;
		} else if (!strcmp(b->key, key)) {
			return b;
		} else if (!victim || b->touched < victim->touched) {
			victim = b;
		}
	}
	b = empty ? empty : victim;
	if (empty)
		rl->n_used++;
	memset(b, 0, sizeof(*b));
	memcpy(b->key, key, strlen(key) + 1);
	b->used = true;
	b->tokens = rl->cap;
	b->last_ms = now_ms;
	return b;
}

static void S_refill(const struct tv_ratelimit *rl, struct S_bucket *b, int64_t now_ms)
{
	int64_t elapsed = now_ms - b->last_ms;

	if (elapsed <= 0)
		return; /* no time passed, or the clock went back */
	b->last_ms = now_ms;
	/* elapsed * rate could overflow for a bucket idle for ages: compare
	 * first, multiply only when the result stays under the cap */
	if (elapsed > (rl->cap - b->tokens) / rl->rate)
		b->tokens = rl->cap;
	else
		b->tokens += elapsed * rl->rate;
	if (b->tokens > rl->cap)
		b->tokens = rl->cap;
}

bool tv_ratelimit_take(struct tv_ratelimit *rl, const char *key, int64_t now_ms,
                       unsigned *retry_after_s)
{
	char k[TV_RATELIMIT_KEY_MAX + 1];
	size_t klen = key ? strnlen(key, TV_RATELIMIT_KEY_MAX) : 0;
	struct S_bucket *b;
	int64_t wait_ms;
	bool ok;

	if (klen)
		memcpy(k, key, klen);
	k[klen] = '\0';
	pthread_mutex_lock(&rl->lock);
	b = S_find(rl, k, now_ms);
	b->touched = ++rl->clock;
	S_refill(rl, b, now_ms);
	ok = b->tokens >= S_MILLI;
	if (ok) {
		b->tokens -= S_MILLI;
	} else if (retry_after_s) {
		wait_ms = (S_MILLI - b->tokens + rl->rate - 1) / rl->rate;
		*retry_after_s = (unsigned)((wait_ms + 999) / 1000);
		if (*retry_after_s < 1)
			*retry_after_s = 1;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

size_t tv_ratelimit_tracked(struct tv_ratelimit *rl)
{
	size_t n;

	pthread_mutex_lock(&rl->lock);
	n = rl->n_used;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
