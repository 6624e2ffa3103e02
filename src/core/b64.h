/*
 * b64.h - base64 as the API speaks it (RFC 4648).
 *
 * Encoding is standard base64 with padding, or base64url with padding (key
 * ids). Decoding is lenient in the ways clients need: whitespace and line
 * breaks are skipped (people paste PEM bodies), both the standard and the
 * URL-safe alphabet are accepted, and padding may be missing. Anything else
 * (a stray character, a dangling 6-bit group, data after padding) is an error.
 * All functions are pure and thread-safe.
 */
#ifndef TV_CORE_B64_H
#define TV_CORE_B64_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

/** Characters needed to encode n bytes, without the NUL. */
#define TV_B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/**
 * Encode src[0..len) into a new malloc'd NUL-terminated string *out.
 * url selects the URL-safe alphabet. Padding is always written.
 */
enum tv_err tv_b64_encode(char **out, const void *src, size_t len, bool url) TV_WUR;

/** Encode into dst, which has room for TV_B64_ENCODED_LEN(len) + 1 bytes. */
void tv_b64_encode_to(char *dst, const void *src, size_t len, bool url);

/** Upper bound of decoded bytes for an input of slen characters. */
#define TV_B64_DECODED_MAX(slen) (((slen) / 4 + 1) * 3)

/**
 * Decode src[0..slen) into dst (room for dst_cap bytes). *out_len gets the
 * decoded length on success. TV_ERR_INVALID on bad input, TV_ERR_TOO_LARGE if
 * dst_cap is too small. dst may be sodium_malloc memory.
 */
enum tv_err tv_b64_decode_to(unsigned char *dst, size_t dst_cap, size_t *out_len,
			     const char *src, size_t slen) TV_WUR;

/** Decode into a new malloc'd buffer (*out, *out_len); max caps the output. */
enum tv_err tv_b64_decode(unsigned char **out, size_t *out_len, const char *src,
			  size_t slen, size_t max) TV_WUR;

#endif
