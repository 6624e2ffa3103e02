/*
 * ratelimit.h - the per-tenant request rate: one token bucket per key.
 *
 * DESIGN: a bucket holds up to `burst` tokens and refills at `rate` tokens a
 * second; a request takes one token or is refused with the number of whole
 * seconds after which one will be there (the Retry-After). Buckets live in
 * one fixed table allocated at start, so a flood of distinct keys can't grow
 * memory: a key that finds no free slot in its probe window takes the slot
 * of the least recently used key there, whose bucket is forgotten (it comes
 * back full). The keys are tenant ids, checked only after authentication, so
 * the set of keys is the set of real tenants, and a table far larger than
 * that makes eviction of an active tenant rare.
 *
 * Time is an argument (monotonic milliseconds), so the arithmetic can be
 * tested without sleeping. Tokens are counted in thousandths, so a refill of
 * `rate` tokens a second is exactly `rate` thousandths a millisecond.
 *
 * Threads: tv_ratelimit_take and tv_ratelimit_tracked may be called from any
 * number of threads at once (one mutex guards the table; a take is a few
 * string compares). new/free belong to the owner thread.
 */
#ifndef TV_SVC_RATELIMIT_H
#define TV_SVC_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TV_RATELIMIT_DEFAULT_RATE  200 /* requests a second, per tenant */
#define TV_RATELIMIT_DEFAULT_BURST 400 /* requests at once, per tenant */
#define TV_RATELIMIT_DEFAULT_SLOTS 4096
#define TV_RATELIMIT_MAX_RATE      1000000u
#define TV_RATELIMIT_KEY_MAX       63 /* longer keys are cut (tenant ids are 36) */

struct tv_ratelimit;

/**
 * A new limiter: rate tokens a second (1 to TV_RATELIMIT_MAX_RATE), burst
 * tokens at most (1 to TV_RATELIMIT_MAX_RATE), slots buckets at most (0 =
 * TV_RATELIMIT_DEFAULT_SLOTS; at least 16). *out is owned by the caller
 * (tv_ratelimit_free). Errors: TV_ERR_INVALID, TV_ERR_NOMEM.
 */
enum tv_err tv_ratelimit_new(struct tv_ratelimit **out, unsigned rate, unsigned burst,
                             size_t slots) TV_WUR;

/** Free a limiter; NULL is a no-op. No take may run concurrently. */
void tv_ratelimit_free(struct tv_ratelimit *rl);

/**
 * Take one token from key's bucket at time now_ms (monotonic milliseconds;
 * a clock that goes back counts as no time passing). Returns true when the
 * request may go on; false when the bucket is empty, with *retry_after_s set
 * to the whole seconds (at least 1) until the next token. Thread-safe.
 */
bool tv_ratelimit_take(struct tv_ratelimit *rl, const char *key, int64_t now_ms,
                       unsigned *retry_after_s);

/** The number of keys holding a bucket now (at most the slot count). */
size_t tv_ratelimit_tracked(struct tv_ratelimit *rl);

#endif
