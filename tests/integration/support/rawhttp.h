/*
 * rawhttp.h - a raw-socket HTTP/1.1 client for what curl won't send: exact
 * request bytes (unnormalised paths, broken headers), slow or stalled
 * bodies, and connections held open doing nothing.
 *
 * Every call that waits has a deadline; nothing sleeps to wait for an
 * event. Sends use MSG_NOSIGNAL, so a server that hung up gives an error,
 * not a SIGPIPE.
 */
#ifndef TV_TESTS_RAWHTTP_H
#define TV_TESTS_RAWHTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

struct tvh_raw {
	long status; /* 0 when no status line arrived */
	int code;    /* errors[0].code of a JSON error body, else -1 */
	char *head;  /* status line and headers (NUL-terminated), or NULL */
	char *body;  /* NUL-terminated, or NULL */
	size_t body_len;
	json_t *json; /* the body parsed, when it is JSON */
	bool closed;  /* the server closed the connection after (or instead of) answering */
	int64_t ms;   /* milliseconds from the start of the read to its end */
};

/** A TCP connection to the server (asserts). */
int tvh_raw_connect(const struct tvh_server *s);

/** Send all of p; false when the server has closed the connection. */
bool tvh_raw_send(int fd, const void *p, size_t n);

/** Send a string (without its terminator). */
bool tvh_raw_send_str(int fd, const char *s);

/**
 * Read one response from fd: the head, then Content-Length bytes of body
 * (or up to the close). Waits at most timeout_ms in all; r->status stays 0
 * when nothing complete arrived. Then notes whether the server closed.
 */
void tvh_raw_read(struct tvh_raw *r, int fd, int timeout_ms);

/** Connect, send the request bytes, read the answer, close. */
void tvh_raw_request(struct tvh_raw *r, const struct tvh_server *s, const void *req, size_t len,
                     int timeout_ms);

/** The value of a response header (case-insensitive name) into out; false if absent. */
bool tvh_raw_header(const struct tvh_raw *r, const char *name, char *out, size_t size);

void tvh_raw_free(struct tvh_raw *r);

/** True when the server closes fd (EOF or reset) within timeout_ms. */
bool tvh_raw_wait_closed(int fd, int timeout_ms);

#endif
