/*
 * client.h - the CLI's HTTP client (libcurl): one API call, JSON in and out.
 *
 * Configuration comes from --url/--api-key, else TLSVAULT_URL and
 * TLSVAULT_API_KEY, else http://127.0.0.1:8080. Not thread-safe: one client
 * per thread.
 */
#ifndef TV_CLI_CLIENT_H
#define TV_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

struct tv_client {
	const char *url;     /* base URL, no trailing slash needed */
	const char *api_key; /* may be NULL */
	const char *cacert;  /* CA bundle for HTTPS, may be NULL */
	bool insecure;       /* skip TLS verification */
};

struct tv_client_resp {
	long status;
	json_t *json;  /* parsed body, or NULL */
	char *body;    /* raw body (malloc'd) */
	size_t len;
	char error[256]; /* transport error, or the API's first error message */
	int code;        /* the API's first error code, or 0 */
};

/** One request; TV_ERR_IO when the server can't be reached (resp->error says why). */
enum tv_err tv_client_call(const struct tv_client *c, struct tv_client_resp *resp,
			   const char *method, const char *path, json_t *body) TV_WUR;

void tv_client_resp_release(struct tv_client_resp *resp);

#endif
