/*
 * server.h - a generic HTTP/1.1 JSON server on libmicrohttpd.
 *
 * It knows no endpoint and no store: the caller gives it a route table and an
 * auth callback. It owns what every endpoint needs the same way: body limits,
 * JSON parsing with a depth cap, route matching with {param} segments, 404 and
 * 405 (with Allow), the error body of API.md, an X-Request-Id on every
 * response, and one JSON log line per request (method, route pattern, status,
 * duration, request id, tenant; never the query string or a header value).
 *
 * Threads: handlers run on libmicrohttpd's pool threads, many at once; a
 * handler must only touch its own req/resp and thread-safe app state.
 * Ownership: strings returned by tv_http_req_* belong to the request and live
 * until the handler returns.
 */
#ifndef TV_HTTP_SERVER_H
#define TV_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Error codes the server itself answers with (API.md "Errors"). */
#define TV_HTTP_E_BAD_JSON 10100
#define TV_HTTP_E_TOO_LARGE 10105
#define TV_HTTP_E_MEDIA_TYPE 10106
#define TV_HTTP_E_UNAVAILABLE 10109
#define TV_HTTP_E_NO_PATH 10405
#define TV_HTTP_E_METHOD 10406
#define TV_HTTP_E_INTERNAL 10500

#define TV_HTTP_DEFAULT_MAX_BODY ((size_t)64 << 20)
#define TV_HTTP_DEFAULT_MAX_DEPTH 32
#define TV_HTTP_DEFAULT_MAX_CONNECTIONS 1000
#define TV_HTTP_DEFAULT_CONN_TIMEOUT_S 30
/* Per connection: the request line and headers must fit in it (else
 * libmicrohttpd answers 431 itself), and body chunks are read through it. */
#define TV_HTTP_CONN_MEMORY ((size_t)64 * 1024)
#define TV_HTTP_MAX_PARAMS 4
/* Response headers a handler may add: the web console's security headers
 * (CSP, frame, referrer, cache, ETag, Location) need about eight. */
#define TV_HTTP_MAX_HEADERS 12

struct tv_http_req;

struct tv_http_resp {
	unsigned status;
	const char *content_type; /* static string; NULL = application/json */
	char *body;               /* malloc'd; freed (and wiped) by the server */
	size_t body_len;
	bool wipe_body; /* the body holds key material: wipe before freeing */
	char *headers[TV_HTTP_MAX_HEADERS][2]; /* malloc'd name/value pairs */
};

typedef void (*tv_http_handler_fn)(void *app, struct tv_http_req *req,
				   struct tv_http_resp *resp);

/* Route flags */
#define TV_HTTP_JSON_BODY 1u /* parse the body as JSON (415 on another type) */

struct tv_http_route {
	const char *method;  /* "GET", "POST", "DELETE" */
	const char *pattern; /* "/v1/apikeys/{id}"; {name} matches one segment */
	tv_http_handler_fn handler;
	int auth;       /* handed to the auth callback; 0 = no authentication */
	unsigned flags; /* TV_HTTP_JSON_BODY */
};

/**
 * Decide whether req may run a route whose auth level is auth. Return true to
 * go on; return false after filling resp (401/403). Runs on pool threads.
 */
typedef bool (*tv_http_auth_fn)(void *app, struct tv_http_req *req, int auth,
				struct tv_http_resp *resp);

struct tv_http_config {
	const char *host;  /* numeric address or name; "127.0.0.1" if NULL */
	uint16_t port;     /* 0 = any free port (see tv_http_port) */
	unsigned threads;  /* pool size; 0 = number of cores */
	size_t max_body;   /* 0 = TV_HTTP_DEFAULT_MAX_BODY */
	size_t max_depth;  /* JSON nesting; 0 = TV_HTTP_DEFAULT_MAX_DEPTH */
	unsigned max_connections; /* open at once; 0 = TV_HTTP_DEFAULT_MAX_CONNECTIONS */
	unsigned conn_timeout_s;  /* idle seconds before a connection is closed;
				     0 = TV_HTTP_DEFAULT_CONN_TIMEOUT_S */
	unsigned max_per_ip;      /* open at once from one address; 0 = no limit */
	const char *tls_cert_pem; /* both set = HTTPS */
	const char *tls_key_pem;
	const struct tv_http_route *routes;
	size_t n_routes;
	tv_http_auth_fn auth;
	void *app;
};

struct tv_http_server;

/** Start listening and serving. cfg (and its routes) must outlive the server. */
enum tv_err tv_http_start(struct tv_http_server **out, const struct tv_http_config *cfg) TV_WUR;

struct tv_mtext;

/**
 * Append the server's metrics in the Prometheus text format: requests by
 * route pattern, method and status, latency by route, open connections.
 * A request is counted when its answer is queued, so a client that has read
 * an answer finds it counted. Any thread.
 */
void tv_http_metrics(struct tv_http_server *srv, struct tv_mtext *out);

/** The port actually bound (useful with port 0). */
uint16_t tv_http_port(const struct tv_http_server *srv);

/**
 * Stop: refuse new connections, let running handlers finish, close the rest,
 * and free. NULL is a no-op.
 */
void tv_http_stop(struct tv_http_server *srv);

/* --- request accessors (valid during the handler) --- */
const char *tv_http_req_method(const struct tv_http_req *req);
const char *tv_http_req_request_id(const struct tv_http_req *req);
/** The value of a {name} segment of the matched pattern, or NULL. */
const char *tv_http_req_param(const struct tv_http_req *req, const char *name);
/** A query argument, or NULL. */
const char *tv_http_req_query(struct tv_http_req *req, const char *name);
/**
 * True when the request path ended with "/" (routing ignores one trailing
 * slash, so "/ui" and "/ui/" match the same pattern; a handler that must
 * tell them apart, to redirect to the canonical form, asks here).
 */
bool tv_http_req_trailing_slash(const struct tv_http_req *req);
/** A request header (case-insensitive name), or NULL. */
const char *tv_http_req_header(struct tv_http_req *req, const char *name);
/** The parsed body of a TV_HTTP_JSON_BODY route (borrowed), else NULL. */
json_t *tv_http_req_json(const struct tv_http_req *req);
/** Raw body bytes. */
const unsigned char *tv_http_req_body(const struct tv_http_req *req, size_t *len);
/** Attach the caller's principal; free_fn (may be NULL) runs when the request ends. */
void tv_http_req_set_principal(struct tv_http_req *req, void *principal,
			       void (*free_fn)(void *));
void *tv_http_req_principal(const struct tv_http_req *req);
/** Tenant id for the request's log line (copied). */
void tv_http_req_set_tenant(struct tv_http_req *req, const char *tenant_id);

/**
 * Long-poll: ask to be called again instead of answering now. The first call
 * fixes the request's deadline at now + wait_ms; later calls keep it. Returns
 * true when the request is suspended: the handler must then return without a
 * reply, and runs again when tv_http_wake() is called, at the latest once a
 * second (to see changes made by other nodes), and at the deadline. Returns
 * false when the deadline has passed or the server is stopping: answer now.
 */
bool tv_http_req_wait(struct tv_http_req *req, int64_t wait_ms);

/** Re-run every suspended handler soon (e.g. "a job became final"). Any thread. */
void tv_http_wake(struct tv_http_server *srv);

/* --- replies --- */
/** Reply with a JSON value (reference stolen; NULL gives a 500). */
void tv_http_reply_json(struct tv_http_resp *resp, unsigned status, json_t *body);
/**
 * Reply with JSON text already written (text malloc'd, ownership taken;
 * NULL gives a 500, as an out-of-memory tree does above).
 */
void tv_http_reply_json_text(struct tv_http_resp *resp, unsigned status, char *text, size_t len);
/** Reply with API.md's error body; args (stolen, may be NULL) is a JSON array. */
void tv_http_reply_error(struct tv_http_resp *resp, unsigned status, int code,
			 json_t *args, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/** Reply with no body (204). */
void tv_http_reply_empty(struct tv_http_resp *resp, unsigned status);
/** Reply with bytes (copied). */
enum tv_err tv_http_reply_bytes(struct tv_http_resp *resp, unsigned status,
				const char *content_type, const void *body, size_t len,
				bool wipe) TV_WUR;
/**
 * Add a header (copied); silently dropped past TV_HTTP_MAX_HEADERS. Every
 * response gets "Cache-Control: no-store" unless the handler sets its own
 * Cache-Control here.
 */
void tv_http_resp_header(struct tv_http_resp *resp, const char *name, const char *value);

/**
 * Nesting depth of a JSON text (objects and arrays), without parsing it;
 * strings are skipped. Stops counting past limit. Pure.
 */
size_t tv_json_depth(const char *text, size_t len, size_t limit);

#endif
