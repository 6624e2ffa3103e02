/*
 * DESIGN: see wipeheap.h. malloc_usable_size() tells how many bytes a block
 * really has (glibc rounds requests up; ASan reports the request), and all
 * of them are wiped, so bytes a library wrote past its own request, or left
 * behind when it shrank a block in place, go too. A block that grows is
 * never handed to libc's realloc(), which may move it and free the old copy
 * as it is.
 */
#include "core/wipeheap.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

void tv_wipeheap_wipe(void *p)
{
	if (p)
		tv_wipe(p, malloc_usable_size(p));
}

void *tv_wipeheap_malloc(size_t n)
{
	return malloc(n);
}

void *tv_wipeheap_calloc(size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

void tv_wipeheap_free(void *p)
{
	if (!p)
		return;
	tv_wipeheap_wipe(p);
	free(p);
}

void *tv_wipeheap_realloc(void *p, size_t n)
{
	size_t have;
	void *q;

	if (!p)
		return malloc(n);
	if (n == 0) {
		tv_wipeheap_free(p);
		return NULL;
	}
	have = malloc_usable_size(p);
	if (n <= have)
		return p; /* the tail keeps its bytes until the block is freed (and wiped) */
	q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, have);
	tv_wipeheap_free(p);
	return q;
}

char *tv_wipeheap_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* OpenSSL's own CRYPTO_malloc(0) is NULL; keep that, callers may rely on it. */
void *tv_wipeheap_ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return n ? tv_wipeheap_malloc(n) : NULL;
}

void *tv_wipeheap_ossl_realloc(void *p, size_t n, const char *file, int line)
{
	if (!p)
		return tv_wipeheap_ossl_malloc(n, file, line);
	return tv_wipeheap_realloc(p, n);
}

void tv_wipeheap_ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	tv_wipeheap_free(p);
}
