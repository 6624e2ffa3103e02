/*
 * DESIGN: thin wrapper over libsodium's guarded allocator so secrets get one
 * allocation discipline everywhere. The extra trailing NUL lets a password be
 * passed to APIs that want a C string without copying it to the stack.
 */
#include "core/secmem.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum tv_err tv_secmem_init(void)
{
	return sodium_init() < 0 ? TV_ERR_CRYPTO : TV_OK;
}

enum tv_err tv_secbuf_new(struct tv_secbuf **out, size_t len)
{
	struct tv_secbuf *b;

	if (len > ((size_t)1 << 30))
		return TV_ERR_TOO_LARGE;
	b = calloc(1, sizeof(*b));
	if (!b)
		return TV_ERR_NOMEM;
	b->p = sodium_malloc(len + 1);
	if (!b->p) {
		free(b);
		return TV_ERR_NOMEM;
	}
	sodium_memzero(b->p, len + 1);
	b->len = len;
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
	sodium_free(b->p); /* wipes before unmapping */
	free(b);
}

void tv_wipe(void *p, size_t len)
{
	if (p && len)
		sodium_memzero(p, len);
}
