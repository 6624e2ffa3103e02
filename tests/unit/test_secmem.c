/* tv-test-libs: tv_core */
/*
 * test_secmem.c - the secret-buffer pool (core/secmem.h): every size
 * served zeroed with its NUL, large sizes through sodium_malloc, chunks
 * wiped on free (read back through the still-mapped region), no chunk
 * handed to two threads, an overflow past a buffer stops the process (in a
 * forked child), a shrunk len is not an overflow, a forked child can free
 * what its parent allocated, and a region that cannot be mlock'd still
 * works (RLIMIT_MEMLOCK of 0 without CAP_IPC_LOCK, in a forked child).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/secmem.h"

#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif

static bool S_all(const unsigned char *p, size_t n, unsigned char v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_sizes(void **state)
{
	static const size_t lens[] = { 0, 1, 7, 23, 24, 25, 31, 32, 100, 1000, 1207,
				       4095, 4096, 4097, 16000, 16384,
				       TV_SECPOOL_MAX_BYTES - 1 };
	struct tv_secmem_stats before, after;
	struct tv_secbuf *b[sizeof(lens) / sizeof(lens[0])];
	size_t i;

	(void)state;
	tv_secmem_stats(&before);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(tv_secbuf_new(&b[i], lens[i]), TV_OK);
		assert_int_equal(b[i]->len, lens[i]);
		assert_true(S_all(b[i]->p, lens[i] + 1, 0)); /* zeroed, NUL included */
		assert_true(tv__secmem_in_pool(b[i]->p));
		memset(b[i]->p, 0x5A, lens[i]); /* every byte is writable */
	}
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_true(S_all(b[i]->p, lens[i], 0x5A)); /* no two overlap */
		assert_int_equal(b[i]->p[lens[i]], 0);
	}
	tv_secmem_stats(&after);
	assert_true(after.pool_allocs - before.pool_allocs == sizeof(lens) / sizeof(lens[0]));
	assert_true(after.in_use >= sizeof(lens) / sizeof(lens[0]));
	assert_true(after.regions >= 1 && after.mapped_bytes >= 64 * 1024);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		tv_secbuf_free(b[i]);
	tv_secmem_stats(&after);
	assert_int_equal(after.in_use, before.in_use);
	tv_secbuf_free(NULL);
}

static void test_large_falls_back(void **state)
{
	static const size_t lens[] = { TV_SECPOOL_MAX_BYTES, 100000, 1u << 20 };
	struct tv_secmem_stats before, after;
	struct tv_secbuf *b = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tv_secmem_stats(&before);
		assert_int_equal(tv_secbuf_dup(&b, "key", 3), TV_OK);
		tv_secbuf_free(b);
		assert_int_equal(tv_secbuf_new(&b, lens[i]), TV_OK);
		assert_false(tv__secmem_in_pool(b->p));
		assert_true(S_all(b->p, lens[i] + 1, 0));
		memset(b->p, 0xC3, lens[i]);
		tv_secbuf_free(b);
		tv_secmem_stats(&after);
		assert_int_equal(after.fallback_allocs - before.fallback_allocs, 1);
		assert_int_equal(after.pool_allocs - before.pool_allocs, 1);
	}
	assert_int_equal(tv_secbuf_new(&b, (size_t)1 << 31), TV_ERR_TOO_LARGE);
}

static void test_wiped_on_free(void **state)
{
	static const size_t lens[] = { 5, 40, 700, 3000, 20000 };
	struct tv_secbuf *b = NULL, *again = NULL;
	unsigned char *p;
	size_t i, size;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(tv_secbuf_new(&b, lens[i]), TV_OK);
		memset(b->p, 0xA5, lens[i]);
		b->len = lens[i] / 2; /* a caller may shrink len: still wiped whole */
		p = b->p;
		size = lens[i] + 1;
		tv_secbuf_free(b);
		/* the region stays mapped: the chunk, canary included, is zeros */
		assert_true(tv__secmem_pool_bytes_zero(p, size + 8));
		/* a free chunk is reused, already zeroed */
		assert_int_equal(tv_secbuf_new(&again, lens[i]), TV_OK);
		assert_ptr_equal(again->p, p);
		assert_true(S_all(again->p, size, 0));
		tv_secbuf_free(again);
	}
}

#define S_THREADS 4
#define S_ROUNDS 20000
#define S_HELD 16

static void *S_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg, tag = (unsigned)(uintptr_t)arg + 1;
	struct tv_secbuf *held[S_HELD] = { NULL };
	size_t i, k, len;
	uintptr_t bad = 0;

	for (i = 0; i < S_ROUNDS; i++) {
		k = (size_t)rand_r(&seed) % S_HELD;
		if (held[k]) {
			/* nobody else wrote into it while we held it */
			if (!S_all(held[k]->p, held[k]->len, (unsigned char)tag) ||
			    held[k]->p[held[k]->len] != 0)
				bad++;
			tv_secbuf_free(held[k]);
			held[k] = NULL;
			continue;
		}
		len = (size_t)rand_r(&seed) % (rand_r(&seed) % 8 ? 600 : 20000);
		if (tv_secbuf_new(&held[k], len) != TV_OK) {
			bad++;
			continue;
		}
		if (!S_all(held[k]->p, len + 1, 0))
			bad++;
		memset(held[k]->p, (int)(unsigned char)tag, len);
	}
	for (k = 0; k < S_HELD; k++)
		tv_secbuf_free(held[k]);
	return (void *)bad;
}

static void test_threads(void **state)
{
	pthread_t t[S_THREADS];
	struct tv_secmem_stats before, after;
	void *bad;
	uintptr_t i;

	(void)state;
	tv_secmem_stats(&before);
	for (i = 0; i < S_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, S_worker, (void *)(i * 0x11)), 0);
	for (i = 0; i < S_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_ptr_equal(bad, NULL);
	}
	tv_secmem_stats(&after);
	assert_int_equal(after.in_use, before.in_use);
	assert_true(after.pool_allocs - before.pool_allocs > S_THREADS * S_ROUNDS / 4);
}

/* Run fn in a forked child; its wait status. */
static int S_in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void S_overflow(void)
{
	struct tv_secbuf *b = NULL;
	volatile unsigned char *past;

	if (tv_secbuf_new(&b, 10) != TV_OK)
		_exit(3);
	past = b->p + 11; /* one past the NUL: the canary (poisoned under ASan) */
	*past ^= 0x01;
	tv_secbuf_free(b);
	_exit(0); /* not reached if the overflow was caught */
}

static void test_canary(void **state)
{
	int status;

	(void)state;
	status = S_in_child(S_overflow);
#ifdef S_ASAN
	/* ASan reports the write itself and exits non-zero */
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 3);
#else
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
#endif
}

static struct tv_secbuf *g_parent_buf;

static void S_free_parents(void)
{
	/* MADV_WIPEONFORK: the child sees the parent's secret as zeros */
	if (!S_all(g_parent_buf->p, g_parent_buf->len, 0))
		_exit(4);
	tv_secbuf_free(g_parent_buf); /* a zero canary is fine after fork */
	_exit(0);
}

static void test_fork_child(void **state)
{
	int status;

	(void)state;
	assert_int_equal(tv_secbuf_dup(&g_parent_buf, "parent secret", 13), TV_OK);
	status = S_in_child(S_free_parents);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_memory_equal(g_parent_buf->p, "parent secret", 13);
	tv_secbuf_free(g_parent_buf);
}

/* Whether mlock(2), as this build calls it, now refuses a page. */
static bool S_mlock_refused(void)
{
	static unsigned char page[2 * 4096];
	unsigned char *p = page + (4096 - (uintptr_t)page % 4096) % 4096;

	if (mlock(p, 4096) != 0)
		return true;
	munlock(p, 4096);
	return false;
}

/* Drop CAP_IPC_LOCK (root may mlock past the limit), then a memlock limit of 0. */
static void S_no_mlock(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	struct rlimit rl = { 0, 0 };
	struct tv_secbuf *b[40];
	struct tv_secmem_stats st;
	size_t i;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		_exit(10);
	data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &hdr, data) != 0)
		_exit(11);
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		_exit(12);
	/* more 16 KiB chunks than any region mapped so far holds: new regions */
	for (i = 0; i < 40; i++) {
		if (tv_secbuf_new(&b[i], 9000) != TV_OK || !tv__secmem_in_pool(b[i]->p) ||
		    !S_all(b[i]->p, 9001, 0))
			_exit(13);
		memset(b[i]->p, 0x77, 9000);
	}
	tv_secmem_stats(&st);
	/* the sanitizers' mlock interceptors do nothing and return 0 */
	if (!st.mlock_failed && S_mlock_refused())
		_exit(14);
	for (i = 0; i < 40; i++)
		tv_secbuf_free(b[i]);
	_exit(0);
}

static void test_mlock_refused(void **state)
{
	int status;

	(void)state;
	status = S_in_child(S_no_mlock);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_large_falls_back),
		cmocka_unit_test(test_wiped_on_free),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_canary),
		cmocka_unit_test(test_fork_child),
		cmocka_unit_test(test_mlock_refused),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/secmem", tests, NULL, NULL);
}
