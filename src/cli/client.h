/*
 * client.h - the CLI's HTTP client (libcurl): one API call, JSON in and out.
 *
 * A struct tv_client is owned by one thread at a time: it keeps one curl
 * handle (so batches in flight reuse their connection). Threads that work in
 * parallel each get their own copy made with tv_client_init_from().
 * curl_global_init() (the CLI uses curl_global_init_mem() with the wiping
 * allocator of core/wipeheap.h) must have run before any client is used.
 */
#ifndef TV_CLI_CLIENT_H
#define TV_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define TV_CLIENT_MAX_TRIES 5

struct tv_client {
	const char *url;     /* base URL, borrowed */
	const char *api_key; /* borrowed, may be NULL */
	const char *cacert;  /* CA bundle for HTTPS, borrowed, may be NULL */
	bool insecure;       /* skip TLS verification */
	int max_tries;       /* transient failures are retried up to this many tries */
	void *curl;          /* owned CURL handle, made on first use */
};

struct tv_client_resp {
	long status;
	json_t *json;     /* parsed body when it is JSON, else NULL */
	char *body;       /* raw body (malloc'd, NUL-terminated), may be NULL;
			     wiped when it grows and on release: it may hold a new
			     API key or an exported keystore */
	size_t len;
	size_t cap;       /* bytes allocated for body */
	char error[512];  /* transport error naming the URL, or the API's first error message */
	int code;         /* the API's first error code, or 0 */
	char request_id[64];    /* X-Request-Id */
	char retry_after[32];   /* Retry-After */
	char content_type[128]; /* Content-Type */
};

/** Set up c with the given settings (borrowed) and no handle yet. */
void tv_client_init(struct tv_client *c, const char *url, const char *api_key,
		    const char *cacert, bool insecure);

/** A fresh client with the same settings as from (for another thread). */
void tv_client_init_from(struct tv_client *c, const struct tv_client *from);

/** Free the curl handle; c can be used again (a new handle is made). */
void tv_client_release(struct tv_client *c);

/**
 * One request: method on base URL + path, with body (may be NULL) sent as
 * JSON. Connection failures, 429 and 503 are retried with backoff that
 * honours Retry-After, up to c->max_tries tries. *resp is always initialised
 * (release it with tv_client_resp_release). Returns TV_ERR_IO when the server
 * could not be reached (resp->error names the URL), TV_ERR_NOMEM, else TV_OK
 * whatever the HTTP status.
 */
enum tv_err tv_client_call(struct tv_client *c, struct tv_client_resp *resp,
			   const char *method, const char *path, json_t *body) TV_WUR;

/**
 * "error: <message> (code N, request <id>)" for an API error, or
 * "error: <transport error>" into buf.
 */
void tv_client_describe(const struct tv_client_resp *resp, char *buf, size_t size);

void tv_client_resp_release(struct tv_client_resp *resp);

#endif
