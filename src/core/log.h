/*
 * log.h - one JSON object per line on stderr.
 *
 * Fields are typed so that a caller cannot splice a format string into the
 * log. Never pass a secret (password, key, API key, keystore bytes) as a
 * field: the log is for operators and is kept. Thread-safe: each line is
 * written with one write(2) under a mutex.
 */
#ifndef TV_CORE_LOG_H
#define TV_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum tv_log_level { TV_LOG_DEBUG, TV_LOG_INFO, TV_LOG_WARN, TV_LOG_ERROR };

struct tv_log_field {
	const char *key;
	const char *str; /* used when is_int is 0; NULL prints null */
	int64_t num;
	int is_int;
};

#define TV_LS(k, v) ((struct tv_log_field){ .key = (k), .str = (v) })
#define TV_LI(k, v) ((struct tv_log_field){ .key = (k), .num = (int64_t)(v), .is_int = 1 })

/** Lines below min are dropped (default TV_LOG_INFO). Call before threads start. */
void tv_log_set_min(enum tv_log_level min);

/** Emit {"ts":...,"level":...,"msg":msg, fields...}. */
void tv_log(enum tv_log_level level, const char *msg, const struct tv_log_field *fields,
	    size_t n_fields);

#define TV_LOG(level, msg, ...)                                                          \
	tv_log((level), (msg), (const struct tv_log_field[]){ __VA_ARGS__ },               \
	       sizeof((const struct tv_log_field[]){ __VA_ARGS__ }) /                      \
		       sizeof(struct tv_log_field))

#endif
