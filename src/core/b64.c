/*
 * DESIGN: a table-driven decoder with one pass; one 256-entry table gives
 * the value of each character, so the standard and URL-safe alphabets are
 * accepted alike, and groups of four plain characters are decoded at once. Decoded bytes are written straight into the caller's buffer
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

/*
 * The value of every byte: 0..63 for both alphabets, S_SP for the
 * whitespace that is skipped, S_PAD for '=', S_BAD for anything else. The
 * markers all have a bit over 63 set, so one OR of four values tells
 * whether a group is plain alphabet.
 */
#define S_SP 0x40
#define S_PAD 0x41
#define S_BAD 0xff
#define S_ROW_BAD16                                                                       \
	S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, \
		S_BAD, S_BAD, S_BAD, S_BAD

static const uint8_t S_dec[256] = {
	/* 0x00 */ S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD,
	/* \t \n \v \f \r */ S_BAD, S_SP, S_SP, S_SP, S_SP, S_SP, S_BAD, S_BAD,
	/* 0x10 */ S_ROW_BAD16,
	/* ' ' */ S_SP, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD,
	/* '(' */ S_BAD, S_BAD, S_BAD, /* '+' */ 62, S_BAD, /* '-' */ 62, S_BAD, /* '/' */ 63,
	/* '0' */ 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
	/* ':' */ S_BAD, S_BAD, S_BAD, /* '=' */ S_PAD, S_BAD, S_BAD,
	/* '@' */ S_BAD, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	/* 'P' */ 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
	/* '[' */ S_BAD, S_BAD, S_BAD, S_BAD, /* '_' */ 63,
	/* '`' */ S_BAD, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	/* 'p' */ 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
	/* '{' */ S_BAD, S_BAD, S_BAD, S_BAD, S_BAD,
	/* 0x80 */ S_ROW_BAD16, S_ROW_BAD16, S_ROW_BAD16, S_ROW_BAD16,
	S_ROW_BAD16, S_ROW_BAD16, S_ROW_BAD16, S_ROW_BAD16,
};

/*
 * One pass. The fast loop takes whole groups of four alphabet characters
 * at a group boundary (what nearly all of a keystore is); everything else
 * (whitespace, padding, a group split by a line break, a bad character)
 * goes one character at a time through the general rules, which are those
 * of the header: skip whitespace, '=' only at the end, no dangling 6 bits.
 */
enum tv_err tv_b64_decode_to(unsigned char *dst, size_t dst_cap, size_t *out_len,
			     const char *src, size_t slen)
{
	const unsigned char *s = (const unsigned char *)src;
	uint32_t acc = 0;
	size_t o = 0, i = 0, pad = 0;
	unsigned n = 0; /* characters in the current group */

	while (i < slen) {
		unsigned v;

		if (!n && !pad) {
			while (i + 4 <= slen) {
				unsigned a = S_dec[s[i]], b = S_dec[s[i + 1]], c = S_dec[s[i + 2]],
					 d = S_dec[s[i + 3]];
				uint32_t g;

				if ((a | b | c | d) > 63)
					break;
				if (o + 3 > dst_cap)
					return TV_ERR_TOO_LARGE;
				g = a << 18 | b << 12 | c << 6 | d;
				dst[o++] = (unsigned char)(g >> 16);
				dst[o++] = (unsigned char)(g >> 8);
				dst[o++] = (unsigned char)g;
				i += 4;
			}
			if (i == slen)
				break;
		}
		v = S_dec[s[i++]];
		if (v == S_SP)
			continue;
		if (v == S_PAD) {
			pad++;
			continue;
		}
		if (pad || v == S_BAD)
			return TV_ERR_INVALID; /* data after padding, or not base64 */
		acc = acc << 6 | v;
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
