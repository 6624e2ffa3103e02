/*
 * DESIGN: a table-free decoder with one pass; the value of each character is
 * computed by range checks so that the standard and URL-safe alphabets are
 * accepted alike. Decoded bytes are written straight into the caller's buffer
 * so that secrets (sealed passwords) can go into sodium_malloc memory.
 */
#include "core/b64.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/secmem.h"

static const char S_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char S_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void tv_b64_encode_to(char *dst, const void *src, size_t len, bool url)
{
	const unsigned char *s = src;
	const char *a = url ? S_url : S_std;
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		dst[o++] = a[v >> 18 & 63];
		dst[o++] = a[v >> 12 & 63];
		dst[o++] = a[v >> 6 & 63];
		dst[o++] = a[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		dst[o++] = a[v >> 18 & 63];
		dst[o++] = a[v >> 12 & 63];
		dst[o++] = i + 1 < len ? a[v >> 6 & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
}

enum tv_err tv_b64_encode(char **out, const void *src, size_t len, bool url)
{
	char *s;

	if (len > ((size_t)1 << 40))
		return TV_ERR_TOO_LARGE;
	s = malloc(TV_B64_ENCODED_LEN(len) + 1);
	if (!s)
		return TV_ERR_NOMEM;
	tv_b64_encode_to(s, src, len, url);
	*out = s;
	return TV_OK;
}

static int S_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static bool S_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

enum tv_err tv_b64_decode_to(unsigned char *dst, size_t dst_cap, size_t *out_len,
			     const char *src, size_t slen)
{
	uint32_t acc = 0;
	size_t o = 0, i, pad = 0;
	unsigned n = 0; /* characters in the current group */

	for (i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)src[i];
		int v;

		if (S_space(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return TV_ERR_INVALID; /* data after padding */
		v = S_val(c);
		if (v < 0)
			return TV_ERR_INVALID;
		acc = acc << 6 | (uint32_t)v;
		if (++n == 4) {
			if (o + 3 > dst_cap)
				return TV_ERR_TOO_LARGE;
			dst[o++] = (unsigned char)(acc >> 16);
			dst[o++] = (unsigned char)(acc >> 8);
			dst[o++] = (unsigned char)acc;
			acc = 0;
			n = 0;
		}
	}
	if (n == 1 || (pad && (n == 0 || n + pad != 4)) || pad > 2)
		return TV_ERR_INVALID;
	if (n == 2) {
		if (o + 1 > dst_cap)
			return TV_ERR_TOO_LARGE;
		dst[o++] = (unsigned char)(acc >> 4);
	} else if (n == 3) {
		if (o + 2 > dst_cap)
			return TV_ERR_TOO_LARGE;
		dst[o++] = (unsigned char)(acc >> 10);
		dst[o++] = (unsigned char)(acc >> 2);
	}
	*out_len = o;
	return TV_OK;
}

enum tv_err tv_b64_decode(unsigned char **out, size_t *out_len, const char *src,
			  size_t slen, size_t max)
{
	size_t cap = TV_B64_DECODED_MAX(slen), n = 0;
	unsigned char *buf;
	enum tv_err rc;

	if (cap > max)
		cap = max;
	buf = malloc(cap ? cap : 1);
	if (!buf)
		return TV_ERR_NOMEM;
	rc = tv_b64_decode_to(buf, cap, &n, src, slen);
	if (rc) {
		/* what was decoded before the bad character may be a keystore */
		tv_wipe(buf, cap);
		free(buf);
		return rc;
	}
	*out = buf;
	*out_len = n;
	return TV_OK;
}
