/*
 * jsonw.h - writing a JSON answer straight into its reply buffer.
 *
 * The hot GETs (a certificate, an import job) used to build a jansson tree,
 * parse the stored facts document into it, dump it and free it: most of
 * their CPU outside the store. A writer appends the answer's text instead,
 * splicing stored JSON documents as they are. Its output is byte for byte
 * what json_dumps(..., JSON_COMPACT) gave for the same object (the same
 * member order, the same string escapes; tests/unit/test_jsonw.c holds the
 * two side by side), so the answer does not change, only its cost.
 *
 * A writer that failed (out of memory, or a string jansson would refuse,
 * i.e. not UTF-8) says so in tv_jw_finish, and the caller falls back to
 * jansson. Not thread-safe per writer; writers are independent.
 */
#ifndef TV_API_JSONW_H
#define TV_API_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct tv_jw {
	char *p;
	size_t len, cap;
	bool failed;
	bool first; /* no member written yet in the current object or array */
};

/** Start an empty writer with room for about size_hint bytes. */
void tv_jw_init(struct tv_jw *w, size_t size_hint);

/** Append raw JSON text (a stored document, punctuation). */
void tv_jw_raw(struct tv_jw *w, const char *s, size_t n);

/** Open/close an object or array (the first member gets no comma). */
void tv_jw_open(struct tv_jw *w, char c);
void tv_jw_close(struct tv_jw *w, char c);

/** ,"key": (the comma unless first); key is a plain ASCII name. */
void tv_jw_key(struct tv_jw *w, const char *key);

/** A JSON string, escaped as jansson escapes it. */
void tv_jw_str(struct tv_jw *w, const char *s);
/** The same for s[0..n). */
void tv_jw_strn(struct tv_jw *w, const char *s, size_t n);
/** Members: "key":"value", "key":integer, "key":true|false. */
void tv_jw_kstr(struct tv_jw *w, const char *key, const char *value);
void tv_jw_kint(struct tv_jw *w, const char *key, int64_t v);
void tv_jw_kbool(struct tv_jw *w, const char *key, bool v);
/** "key": an ISO date, or null for 0 (as tv_api_date). */
void tv_jw_kdate(struct tv_jw *w, const char *key, int64_t ms);
/** "key": the base64 (standard, padded) of bin. */
void tv_jw_kb64(struct tv_jw *w, const char *key, const unsigned char *bin, size_t n);

/**
 * The text (malloc'd, NUL-terminated) and its length; NULL when the writer
 * failed (the buffer is freed). The writer is empty afterwards.
 */
char *tv_jw_finish(struct tv_jw *w, size_t *len);

/**
 * The Certificate object of API.md as text: the stored facts document with
 * the row's live members appended, exactly as json_dumps of
 * tv_api_cert_json(c) would give it. NULL on out of memory; a record whose
 * stored documents can't be spliced as they are (not one object, or naming
 * a live member) goes through jansson.
 */
char *tv_api_cert_text(const struct tv_cert_record *c, size_t *len);

/**
 * The answer of GET .../imports/{id} as text: the job's members, then its
 * results, in the order and form of the jansson tree it replaces. NULL
 * when the writer failed (the caller builds the tree instead).
 */
char *tv_api_job_text(const struct tv_import_job *job, const struct tv_import_result *results,
		      size_t n, size_t *len);

#endif
