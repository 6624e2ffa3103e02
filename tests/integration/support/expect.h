/*
 * expect.h - the hostile-input tests' assertions: one request, its exact
 * status and API error code, counted as one case; the server still
 * answering; and no error in its log (bad input is never a server fault).
 *
 * The server of the running test lives here (tvh_test_server), not on the
 * test's stack, so that main can stop one that a failed test left running
 * (cmocka longjmps out of a failing test, past its cleanup).
 */
#ifndef TV_TESTS_EXPECT_H
#define TV_TESTS_EXPECT_H

#include <stddef.h>

#include "harness.h"
#include "rawhttp.h"

/** Count one case; the number counted so far. */
void tvh_case(void);
int tvh_case_count(void);

/** The one server slot of a test process (zeroed by tvh_init); a server a
 * failed test left in it is stopped and removed first. */
struct tvh_server *tvh_test_server(void);

/** Kill and remove the server a failed test left behind, if any. */
void tvh_test_server_reap(void);

/** The server still answers: /healthz, and an authenticated read when key is given. */
void tvh_alive(const struct tvh_server *s, const char *key);

/** No "level":"error" line in the server's log. */
void tvh_no_errors(const struct tvh_server *s);

/** One case: status and code as wanted (body is shown on failure). */
void tvh_expect(const char *what, long status, int code, long want_status, int want_code,
                const char *body);

/** One request through curl (tvh_request's arguments); status and code as wanted. */
void tvh_expect_http(const struct tvh_server *s, const char *what, const char *method,
                     const char *path, const char *key, const char *body, size_t len,
                     const char *header, long status, int code);

/** A JSON text POSTed with the tenant's key. */
void tvh_expect_post(const struct tvh_server *s, const char *what, const char *path,
                     const char *json, long status, int code);

/** Raw request bytes on a new connection. */
void tvh_expect_raw(const struct tvh_server *s, const char *what, const char *req, size_t len,
                    long status, int code);

/** A GET of path with the tenant's key, as raw bytes (curl would normalise the path). */
void tvh_expect_raw_get(const struct tvh_server *s, const char *what, const char *path, long status,
                        int code);

#endif
