/*
 * util.h - small pure helpers: time, UUIDs, hex, fingerprints.
 * All functions are thread-safe.
 */
#ifndef TV_CORE_UTIL_H
#define TV_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

#define TV_UUID_STRLEN 36
#define TV_ISO_TIME_STRLEN 24 /* 2026-11-27T08:01:41.123Z */

/** Milliseconds since the Unix epoch (wall clock). */
int64_t tv_now_ms(void);

/** Monotonic milliseconds, for durations and deadlines. */
int64_t tv_mono_ms(void);

/** Format ms since the epoch as ISO-8601 UTC with milliseconds. */
void tv_iso_time(char out[TV_ISO_TIME_STRLEN + 1], int64_t ms);

/**
 * Parse an ISO-8601 UTC time ("2026-11-27T08:01:41.123Z", the fraction and
 * the Z optional, or "+00:00"). TV_ERR_INVALID when it isn't one.
 */
enum tv_err tv_iso_parse(int64_t *ms, const char *s) TV_WUR;

/** A new random (v4) UUID, lower case. */
void tv_uuid_new(char out[TV_UUID_STRLEN + 1]);

/** True when s is a UUID in canonical 8-4-4-4-12 hex form (any case). */
bool tv_uuid_valid(const char *s);

/** Upper-case hex of src[0..len) into out (room for 2*len+1). */
void tv_hex_upper(char *out, const void *src, size_t len);

/**
 * Normalise a SHA-1 fingerprint given by a client: case-insensitive, ':'
 * separators allowed. out gets 40 upper-case hex digits. TV_ERR_INVALID else.
 */
enum tv_err tv_fingerprint_norm(char out[41], const char *in) TV_WUR;

/**
 * fsync the directory that holds path (its part before the last '/', "."
 * without one), so that a file created, renamed or linked there survives a
 * power cut. Returns 0, or -1 with errno set.
 */
int tv_fsync_dir_of(const char *path);

#endif
