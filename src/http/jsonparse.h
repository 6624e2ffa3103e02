/*
 * jsonparse.h - a fast path for parsing request bodies into jansson trees.
 *
 * json_loadb takes about 24 ns a byte: an import of 100 keystores (450 KB,
 * nearly all of it base64 strings) cost 11 ms of parsing, half of the HTTP
 * thread's CPU for the POST. This parser handles the JSON that clients
 * send, in one pass over the buffer with runs of plain string bytes copied
 * at once, and builds the same jansson tree. It is a fast path, not a
 * second JSON grammar: it gives up (NULL) at anything it does not handle
 * exactly as json_loadb(JSON_REJECT_DUPLICATES) does (any byte over 0x7f,
 * \u escapes, numbers that are not small integers, duplicate keys, any
 * syntax error, nesting deeper than max_depth), and the caller then runs
 * json_loadb, which decides and words the error. So whatever it returns is
 * what json_loadb would have returned (tests/unit/test_jsonparse.c checks
 * the two side by side on generated and mutated documents).
 *
 * Pure and thread-safe; allocates through jansson (json_set_alloc_funcs).
 */
#ifndef TV_HTTP_JSONPARSE_H
#define TV_HTTP_JSONPARSE_H

#include <jansson.h>
#include <stddef.h>

/** The tree of text[0..len), or NULL: then ask json_loadb. */
json_t *tv_json_parse_fast(const char *text, size_t len, size_t max_depth);

#endif
