/*
 * harness.h - integration-test support: a real tlsvaultd on an ephemeral
 * loopback port with a fresh data directory, and an HTTP client (libcurl).
 *
 * Tests never sleep to wait: they poll with a deadline (tvh_wait_*).
 */
#ifndef TV_TESTS_HARNESS_H
#define TV_TESTS_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tvh_server {
	char dir[256];      /* data directory (removed by tvh_cleanup) */
	char log_path[300]; /* the server's stderr */
	char tenant_id[64];
	char api_key[64];
	char edge_id[64];
	char key_id[64];
	pid_t pid;
	int port;
	const char *cacert; /* set: talk HTTPS to "localhost", trusting this PEM */
	char db[512];       /* set: --db URL (a PostgreSQL database); else SQLite in dir */
};

struct tvh_resp {
	long status;
	char *body;
	size_t len;
	json_t *json;         /* parsed body when it is JSON, else NULL */
	char request_id[64];  /* X-Request-Id */
	char allow[128];      /* Allow */
	char retry_after[32]; /* Retry-After */
	char content_type[128];
	char content_disposition[256];
	char *headers; /* every header line as received (malloc'd) */
};

/** Make a data directory and run `tlsvaultd init` in it; fills ids and key. */
void tvh_init(struct tvh_server *s);

/** tvh_init with --db db (NULL: SQLite in the directory); tvh_start passes it on. */
void tvh_init_db(struct tvh_server *s, const char *db);

/** Run tlsvaultd with args (NULL-terminated); stdout into out (malloc'd). Exit status. */
int tvh_run(char **out, const char *const *args);

/** Start `serve` on 127.0.0.1:0 with extra args (NULL-terminated, may be NULL). */
void tvh_start(struct tvh_server *s, const char *const *extra);

/* TV_TEST_TIME_SCALE (>= 1): how much slower this run is (valgrind). */
double tvh_time_scale(void);

/** SIGTERM (or sig) and wait; returns the exit status (-1 if killed by a signal). */
int tvh_stop(struct tvh_server *s, int sig);

/** Remove the data directory. */
void tvh_cleanup(struct tvh_server *s);

/**
 * One request. key may be NULL (no auth header). body may be NULL.
 * extra_header ("Name: value") may be NULL. Content-Type is
 * application/json when a body is given, unless extra_header sets one.
 */
void tvh_request(struct tvh_resp *r, const struct tvh_server *s, const char *method,
		 const char *path, const char *key, const char *body, size_t body_len,
		 const char *extra_header);

void tvh_resp_free(struct tvh_resp *r);

/** The value of header name (case-insensitive) copied into out, or NULL if absent. */
const char *tvh_header(const struct tvh_resp *r, const char *name, char *out, size_t size);

/** The first error code of an API error body, or -1. */
int tvh_error_code(const struct tvh_resp *r);

/** Read a whole file (malloc'd, NUL-terminated); NULL if missing. */
char *tvh_read_file(const char *path, size_t *len);

/** True when needle[0..nlen) occurs in the file. */
bool tvh_file_contains(const char *path, const void *needle, size_t nlen);

#endif
