/*
 * DESIGN: one allocation discipline for secrets. The extra trailing NUL
 * lets a password be passed to APIs that want a C string without copying it
 * to the stack.
 *
 * Why a pool. sodium_malloc maps every buffer on its own: an mmap, two
 * mprotects for the guard pages, an mlock, and an munmap on free. An import
 * makes a dozen secret buffers per keystore, so that was 16% of an item's
 * CPU, and in the two-worker server the munmaps/mprotects of one thread
 * sent TLB-shootdown IPIs to the other and both fought over mmap_lock. So
 * buffers of up to TV_SECPOOL_MAX_BYTES are carved from regions of 64 KiB
 * or more, each mapped once, mlock'd, MADV_DONTDUMP and MADV_WIPEONFORK,
 * with a PROT_NONE guard page before and after it. A region holds chunks of
 * one size class (32 B to 64 KiB, powers of two); each class has a stack of
 * free chunks (kept outside the regions, so a free chunk is all zeros) under
 * its own mutex. Regions are added on demand up to S_POOL_LIMIT usable bytes
 * and never unmapped: a free chunk holds only zeros (wiped whole by
 * sodium_memzero on free; fresh mappings are zero), which is also why a
 * chunk handed out is already zeroed. Past the limit, and for larger
 * buffers, sodium_malloc as before.
 *
 * The trade-off. sodium_malloc puts a guard page right after each buffer
 * and a canary before it, so an overflow faults at its first byte. In the
 * pool, neighbours are other secrets: an overflow off the end of a buffer
 * lands in the chunk's padding or in the next chunk. What is kept: the
 * regions' guard pages (nothing runs off a region), an 8-byte random canary
 * right after each buffer's len + 1 bytes, checked on free (abort on a
 * mismatch, as sodium_free does), and in ASan builds the free chunks and
 * the padding after each buffer are poisoned, so the tests still catch an
 * overflow at the faulting instruction. What is lost: a release build
 * notices an overflow at free time, not when it happens, and an underflow
 * or a far write is not noticed. mlock: when RLIMIT_MEMLOCK forbids it the
 * region is used unlocked and this is logged once (sodium_malloc ignores
 * the failure silently; its buffers are then unlocked too).
 *
 * MADV_WIPEONFORK means a forked child sees every region as zeros, canaries
 * included; an atfork handler notes that, and a child accepts a zero canary.
 */
#include "core/secmem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "core/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#ifdef S_ASAN
#include <sanitizer/asan_interface.h>
#define S_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define S_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define S_POISON(p, n)   ((void)(p), (void)(n))
#define S_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define S_MIN_SHIFT         5u  /* the smallest chunk, 32 bytes */
#define S_NCLASS            12u /* 32 B .. 64 KiB */
#define S_CANARY_BYTES      8u
#define S_REGION_MIN        (64u * 1024u) /* usable bytes of a region, at least */
#define S_REGION_MIN_CHUNKS 4u
#define S_POOL_LIMIT        ((size_t)32 << 20) /* usable bytes of all regions */

_Static_assert(TV_SECPOOL_MAX_BYTES + S_CANARY_BYTES <= ((size_t)1 << (S_MIN_SHIFT + S_NCLASS - 1)),
               "the largest pooled buffer and its canary fit the largest class");

struct S_class {
	pthread_mutex_t lock;
	unsigned char **free; /* a stack of free chunks, room for all of them */
	size_t n_free, cap_free, n_chunks;
};

struct S_region {
	unsigned char *base; /* the usable bytes, between the guard pages */
	size_t size;
};

static struct {
	pthread_once_t once;
	bool ready;
	size_t page;
	unsigned char canary[S_CANARY_BYTES];
	struct S_class cls[S_NCLASS];
	pthread_mutex_t regions_lock; /* after a class lock, never before */
	struct S_region *regions;
	size_t n_regions, cap_regions, mapped;
	atomic_bool mlock_failed, forked;
	atomic_uint_fast64_t pool_allocs, fallback_allocs;
	atomic_size_t in_use;
} S_pool = {
    .once = PTHREAD_ONCE_INIT,
    .regions_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void S_after_fork_child(void)
{
	atomic_store(&S_pool.forked, true);
}

static void S_pool_init(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t i;

	if (sodium_init() < 0 || page <= 0)
		return; /* S_pool.ready stays false: every buffer uses sodium_malloc */
	S_pool.page = (size_t)page;
	randombytes_buf(S_pool.canary, sizeof(S_pool.canary));
	for (i = 0; i < S_NCLASS; i++)
		if (pthread_mutex_init(&S_pool.cls[i].lock, NULL) != 0)
			return;
	if (pthread_atfork(NULL, NULL, S_after_fork_child) != 0)
		return;
	S_pool.ready = true;
}

static size_t S_chunk_size(unsigned cls)
{
	return (size_t)1 << (S_MIN_SHIFT + cls);
}

/* The smallest class whose chunk holds size bytes and the canary. */
static unsigned S_class_of(size_t size)
{
	unsigned cls = 0;

	while (S_chunk_size(cls) < size + S_CANARY_BYTES)
		cls++;
	return cls;
}

static void S_lock_failed_once(void)
{
	if (!atomic_exchange(&S_pool.mlock_failed, true))
		TV_LOG(TV_LOG_WARN, "secure memory pool: mlock failed, secrets may be swapped",
		       TV_LS("hint", "raise RLIMIT_MEMLOCK (ulimit -l, LimitMEMLOCK=)"));
}

/* Map, guard, lock and record a region; NULL when out of address space or limit. */
static unsigned char *S_region_map(size_t size)
{
	size_t total = size + 2 * S_pool.page;
	unsigned char *m, *base;
	struct S_region *grown;

	pthread_mutex_lock(&S_pool.regions_lock);
	if (S_pool.mapped + size > S_POOL_LIMIT)
		goto fail;
	if (S_pool.n_regions == S_pool.cap_regions) {
		size_t cap = S_pool.cap_regions ? 2 * S_pool.cap_regions : 16;

		grown = realloc(S_pool.regions, cap * sizeof(*grown));
		if (!grown)
			goto fail;
		S_pool.regions = grown;
		S_pool.cap_regions = cap;
	}
	m = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		goto fail;
	base = m + S_pool.page;
	if (mprotect(base, size, PROT_READ | PROT_WRITE) != 0) {
		munmap(m, total);
		goto fail;
	}
	(void)madvise(m, total, MADV_DONTDUMP); /* best effort, as sodium does */
#ifdef MADV_WIPEONFORK
	(void)madvise(base, size, MADV_WIPEONFORK); /* EINVAL before Linux 4.14 */
#endif
	if (mlock(base, size) != 0)
		S_lock_failed_once();
	S_pool.regions[S_pool.n_regions++] = (struct S_region){base, size};
	S_pool.mapped += size;
	pthread_mutex_unlock(&S_pool.regions_lock);
	S_POISON(base, size);
	return base;
fail:
	pthread_mutex_unlock(&S_pool.regions_lock);
	return NULL;
}

/* Add a region's chunks to c's free stack. Under c->lock. */
static bool S_class_grow(struct S_class *c, unsigned cls)
{
	size_t chunk = S_chunk_size(cls), n, size, i;
	unsigned char *base, **stack;

	n = S_REGION_MIN / chunk;
	if (n < S_REGION_MIN_CHUNKS)
		n = S_REGION_MIN_CHUNKS;
	size = n * chunk; /* a multiple of the page: both are powers of two */
	if (c->cap_free < c->n_chunks + n) {
		stack = realloc(c->free, (c->n_chunks + n) * sizeof(*stack));
		if (!stack)
			return false;
		c->free = stack;
		c->cap_free = c->n_chunks + n;
	}
	base = S_region_map(size);
	if (!base)
		return false;
	c->n_chunks += n;
	for (i = n; i-- > 0;) /* the lowest address on top */
		c->free[c->n_free++] = base + i * chunk;
	return true;
}

static unsigned char *S_pool_take(size_t size, int *cls_out)
{
	unsigned cls = S_class_of(size);
	struct S_class *c = &S_pool.cls[cls];
	unsigned char *p = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->n_free || S_class_grow(c, cls))
		p = c->free[--c->n_free];
	pthread_mutex_unlock(&c->lock);
	if (!p)
		return NULL;
	/* already zero: wiped when freed, or never used */
	S_UNPOISON(p, size + S_CANARY_BYTES);
	memcpy(p + size, S_pool.canary, S_CANARY_BYTES);
	S_POISON(p + size, S_chunk_size(cls) - size);
	atomic_fetch_add_explicit(&S_pool.in_use, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&S_pool.pool_allocs, 1, memory_order_relaxed);
	*cls_out = (int)cls;
	return p;
}

static bool S_canary_ok(const unsigned char *at)
{
	static const unsigned char zero[S_CANARY_BYTES];

	if (sodium_memcmp(at, S_pool.canary, S_CANARY_BYTES) == 0)
		return true;
	/* a forked child's regions were wiped by the kernel */
	return atomic_load(&S_pool.forked) && memcmp(at, zero, S_CANARY_BYTES) == 0;
}

static void S_pool_give(unsigned char *p, size_t size, unsigned cls)
{
	struct S_class *c = &S_pool.cls[cls];
	size_t chunk = S_chunk_size(cls);

	S_UNPOISON(p, chunk);
	if (!S_canary_ok(p + size))
		abort(); /* an overflow past a secret: stop, as sodium_free does */
	sodium_memzero(p, chunk);
	S_POISON(p, chunk);
	atomic_fetch_sub_explicit(&S_pool.in_use, 1, memory_order_relaxed);
	pthread_mutex_lock(&c->lock);
	/* cannot overflow: the stack has room for every chunk ever mapped */
	c->free[c->n_free++] = p;
	pthread_mutex_unlock(&c->lock);
}

enum tv_err tv_secmem_init(void)
{
	if (sodium_init() < 0)
		return TV_ERR_CRYPTO;
	pthread_once(&S_pool.once, S_pool_init);
	return TV_OK;
}

enum tv_err tv_secbuf_new(struct tv_secbuf **out, size_t len)
{
	struct tv_secbuf *b;
	size_t size = len + 1;

	if (len > ((size_t)1 << 30))
		return TV_ERR_TOO_LARGE;
	pthread_once(&S_pool.once, S_pool_init);
	b = calloc(1, sizeof(*b));
	if (!b)
		return TV_ERR_NOMEM;
	b->tv__class = -1;
	if (S_pool.ready && size <= TV_SECPOOL_MAX_BYTES)
		b->p = S_pool_take(size, &b->tv__class);
	if (!b->p) {
		b->p = sodium_malloc(size);
		if (!b->p) {
			free(b);
			return TV_ERR_NOMEM;
		}
		sodium_memzero(b->p, size);
		atomic_fetch_add_explicit(&S_pool.fallback_allocs, 1, memory_order_relaxed);
	}
	b->len = len;
	b->tv__size = size;
	*out = b;
	return TV_OK;
}

enum tv_err tv_secbuf_dup(struct tv_secbuf **out, const void *src, size_t len)
{
	struct tv_secbuf *b;
	enum tv_err rc = tv_secbuf_new(&b, len);

	if (rc)
		return rc;
	if (len)
		memcpy(b->p, src, len);
	*out = b;
	return TV_OK;
}

void tv_secbuf_free(struct tv_secbuf *b)
{
	if (!b)
		return;
	if (b->tv__class >= 0)
		S_pool_give(b->p, b->tv__size, (unsigned)b->tv__class);
	else
		sodium_free(b->p); /* wipes before unmapping */
	free(b);
}

void tv_wipe(void *p, size_t len)
{
	if (p && len)
		sodium_memzero(p, len);
}

void tv_secmem_stats(struct tv_secmem_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->pool_allocs = atomic_load(&S_pool.pool_allocs);
	out->fallback_allocs = atomic_load(&S_pool.fallback_allocs);
	out->in_use = atomic_load(&S_pool.in_use);
	out->mlock_failed = atomic_load(&S_pool.mlock_failed);
	pthread_mutex_lock(&S_pool.regions_lock);
	out->regions = S_pool.n_regions;
	out->mapped_bytes = S_pool.mapped;
	pthread_mutex_unlock(&S_pool.regions_lock);
}

bool tv__secmem_in_pool(const void *p)
{
	const unsigned char *q = p;
	bool found = false;
	size_t i;

	pthread_mutex_lock(&S_pool.regions_lock);
	for (i = 0; i < S_pool.n_regions && !found; i++)
		found = q >= S_pool.regions[i].base &&
		        q < S_pool.regions[i].base + S_pool.regions[i].size;
	pthread_mutex_unlock(&S_pool.regions_lock);
	return found;
}

bool tv__secmem_pool_bytes_zero(const void *p, size_t n)
{
	const volatile unsigned char *q = p;
	unsigned char acc = 0;
	size_t i;
#ifdef S_ASAN
	void *poisoned = __asan_region_is_poisoned((void *)(uintptr_t)p, n);

	S_UNPOISON(p, n);
#endif
	for (i = 0; i < n; i++)
		acc |= q[i];
#ifdef S_ASAN
	if (poisoned)
		S_POISON(poisoned,
		         n - (size_t)((const unsigned char *)poisoned - (const unsigned char *)p));
#endif
	return acc == 0;
}
