/*
 * DESIGN: libmicrohttpd calls the access handler several times per request:
 * once with the headers, then once per chunk of body, then once with no data.
 * We never queue a response on the first call (libmicrohttpd would close the
 * connection afterwards, killing keep-alive): the first call only sets up the
 * request, the body is collected up to the cap, and the final call runs the
 * route. A body whose Content-Length is over the cap gets 413 at once, before
 * any of it is read (and the connection closes); a chunked body that grows
 * past the cap is drained and answered with 413 at the end. The per-request state is freed, and the log
 * line written, in the completion callback, so the duration covers the send.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/secmem.h"
#include "core/util.h"
#include "core/wipeheap.h"
#include "http/stats.h"
#include "http/jsonparse.h"

struct tv_http_server {
	struct MHD_Daemon *daemon;
	const struct tv_http_config *cfg;
	size_t max_body, max_depth;
	uint16_t port;
	/* long-poll: suspended requests, and the thread that resumes them */
	pthread_mutex_t wait_lock; /* guards waiters, n_waiters, wake, stopping */
	pthread_cond_t wait_cond;
	struct tv_http_req **waiters;
	size_t n_waiters, cap_waiters;
	bool wake, stopping;
	pthread_t waker;
	bool waker_started;
	struct tv__http_stats *stats; /* for /metrics */
};

struct tv_http_req {
	struct tv_http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	char *path;
	const struct tv_http_route *route;
	char *param_names[TV_HTTP_MAX_PARAMS];
	char *param_values[TV_HTTP_MAX_PARAMS];
	size_t n_params;
	unsigned char *body;
	size_t body_len, body_cap;
	size_t declared_len; /* Content-Length, when given and under the cap */
	bool too_large;
	bool trailing_slash; /* the raw path ended with '/' (stripped in path) */
	json_t *json;
	char request_id[TV_UUID_STRLEN + 1];
	char tenant[TV_UUID_STRLEN + 1];
	void *principal;
	void (*principal_free)(void *);
	int64_t start_ms;
	int64_t start_ns; /* for the latency histogram */
	unsigned status;
	bool responded;
	int64_t wait_deadline_ms; /* 0 = not long-polling */
	bool want_suspend, suspended;
	bool no_wait; /* suspending failed (stopping, no memory): answer now */
};

/* libmicrohttpd's connection notifications keep the open-connection gauge */
static void S_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct tv_http_server *srv = cls;

	(void)conn;
	(void)socket_context;
	tv__http_stats_conn(srv->stats, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

void tv_http_metrics(struct tv_http_server *srv, struct tv_mtext *out)
{
	tv__http_stats_render(srv->stats, out);
}

/* The most a request body is given up front from its Content-Length. */
#define S_BODY_PREALLOC_MAX ((size_t)4 << 20)

/* ---------- request ids ---------- */

/*
 * A v4 UUID per request, from a per-thread pool of CSPRNG bytes refilled
 * 64 ids at a time: uuid_generate_random asked the kernel for 16 bytes on
 * every request. Ids are not secrets (they are sent in X-Request-Id); they
 * only have to be unique, which 122 random bits are.
 */
static void S_request_id(char out[TV_UUID_STRLEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	static __thread unsigned char pool[16 * 64];
	static __thread size_t used = sizeof(pool);
	unsigned char *b;
	size_t i, o = 0;

	if (used == sizeof(pool)) {
		randombytes_buf(pool, sizeof(pool));
		used = 0;
	}
	b = pool + used;
	used += 16;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* ---------- replies ---------- */

static void S_resp_reset(struct tv_http_resp *resp)
{
	size_t i;

	if (resp->body && resp->wipe_body)
		tv_wipe(resp->body, resp->body_len);
	free(resp->body);
	for (i = 0; i < TV_HTTP_MAX_HEADERS; i++) {
		free(resp->headers[i][0]);
		free(resp->headers[i][1]);
	}
	memset(resp, 0, sizeof(*resp));
}

void tv_http_resp_header(struct tv_http_resp *resp, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < TV_HTTP_MAX_HEADERS; i++) {
		if (!resp->headers[i][0]) {
			resp->headers[i][0] = strdup(name);
			resp->headers[i][1] = strdup(value);
			return;
		}
	}
}

void tv_http_reply_json_text(struct tv_http_resp *resp, unsigned status, char *text, size_t len)
{
	if (resp->body)
		S_resp_reset(resp);
	if (!text) {
		static const char S_oom[] =
			"{\"errors\":[{\"code\":10500,\"message\":\"internal error\",\"args\":[]}]}";
		resp->status = 500;
		resp->body = strdup(S_oom);
		resp->body_len = resp->body ? sizeof(S_oom) - 1 : 0;
		return;
	}
	resp->status = status;
	resp->content_type = NULL;
	resp->body = text;
	resp->body_len = len;
}

/*
 * json_dumps, without its small first buffer and its doublings from 16
 * bytes: the dump goes into a block that starts at 2 KiB (most answers fit)
 * and grows by moving with a wipe (an answer may hold a new API key).
 */
struct S_dump {
	char *p;
	size_t len, cap;
};

static int S_dump_cb(const char *buf, size_t n, void *data)
{
	struct S_dump *d = data;

	if (d->len + n + 1 > d->cap) {
		size_t cap = d->cap ? d->cap : 2048;
		char *p;

		while (cap < d->len + n + 1)
			cap *= 2;
		p = tv_wipeheap_realloc(d->p, cap);
		if (!p)
			return -1;
		d->p = p;
		d->cap = cap;
	}
	memcpy(d->p + d->len, buf, n);
	d->len += n;
	d->p[d->len] = '\0';
	return 0;
}

void tv_http_reply_json(struct tv_http_resp *resp, unsigned status, json_t *body)
{
	struct S_dump d = { NULL, 0, 0 };

	if (body && (json_dump_callback(body, S_dump_cb, &d, JSON_COMPACT) != 0 || !d.p)) {
		tv_wipeheap_free(d.p);
		d.p = NULL;
	}
	json_decref(body);
	tv_http_reply_json_text(resp, status, d.p, d.len);
}

void tv_http_reply_error(struct tv_http_resp *resp, unsigned status, int code, json_t *args,
			 const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tv_http_reply_json(resp, status,
			   json_pack("{s:[{s:i,s:s,s:o}]}", "errors", "code", code, "message",
				     msg, "args", args ? args : json_array()));
}

void tv_http_reply_empty(struct tv_http_resp *resp, unsigned status)
{
	if (resp->body)
		S_resp_reset(resp);
	resp->status = status;
}

enum tv_err tv_http_reply_bytes(struct tv_http_resp *resp, unsigned status,
				const char *content_type, const void *body, size_t len,
				bool wipe)
{
	char *copy = malloc(len ? len : 1);

	if (!copy)
		return TV_ERR_NOMEM;
	if (len)
		memcpy(copy, body, len);
	if (resp->body)
		S_resp_reset(resp);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = copy;
	resp->body_len = len;
	resp->wipe_body = wipe;
	return TV_OK;
}

/* ---------- request accessors ---------- */

const char *tv_http_req_method(const struct tv_http_req *req)
{
	return req->method;
}

const char *tv_http_req_request_id(const struct tv_http_req *req)
{
	return req->request_id;
}

const char *tv_http_req_param(const struct tv_http_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_params; i++)
		if (!strcmp(req->param_names[i], name))
			return req->param_values[i];
	return NULL;
}

const char *tv_http_req_query(struct tv_http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool tv_http_req_trailing_slash(const struct tv_http_req *req)
{
	return req->trailing_slash;
}

const char *tv_http_req_header(struct tv_http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

json_t *tv_http_req_json(const struct tv_http_req *req)
{
	return req->json;
}

const unsigned char *tv_http_req_body(const struct tv_http_req *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

void tv_http_req_set_principal(struct tv_http_req *req, void *principal,
			       void (*free_fn)(void *))
{
	if (req->principal && req->principal_free)
		req->principal_free(req->principal);
	req->principal = principal;
	req->principal_free = free_fn;
}

void *tv_http_req_principal(const struct tv_http_req *req)
{
	return req->principal;
}

void tv_http_req_set_tenant(struct tv_http_req *req, const char *tenant_id)
{
	snprintf(req->tenant, sizeof(req->tenant), "%s", tenant_id);
}

size_t tv_json_depth(const char *text, size_t len, size_t limit)
{
	size_t i, depth = 0, max = 0;
	bool in_str = false;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
			if (max > limit)
				return max;
		} else if ((c == '}' || c == ']') && depth) {
			depth--;
		}
	}
	return max;
}

/* ---------- routing ---------- */

static void S_free_params(struct tv_http_req *req)
{
	size_t i;

	for (i = 0; i < req->n_params; i++) {
		free(req->param_names[i]);
		free(req->param_values[i]);
		req->param_names[i] = req->param_values[i] = NULL;
	}
	req->n_params = 0;
}

/* Match path against pattern segment by segment; fills req's params. */
static bool S_match(struct tv_http_req *req, const char *pattern, const char *path)
{
	const char *p = pattern, *s = path;

	S_free_params(req);
	while (*p && *s) {
		const char *pe = strchr(p + 1, '/'), *se = strchr(s + 1, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t sl = se ? (size_t)(se - s) : strlen(s);

		if (pl > 3 && p[1] == '{' && p[pl - 1] == '}') {
			if (sl < 2 || req->n_params == TV_HTTP_MAX_PARAMS)
				return false;
			req->param_names[req->n_params] = strndup(p + 2, pl - 3);
			req->param_values[req->n_params] = strndup(s + 1, sl - 1);
			req->n_params++;
		} else if (pl != sl || memcmp(p, s, pl) != 0) {
			return false;
		}
		p += pl;
		s += sl;
	}
	return !*p && !*s;
}

/* Find the route; on a path match with the wrong method fill allow[]. */
static const struct tv_http_route *S_route(struct tv_http_req *req, char *allow,
					   size_t allow_size, bool *path_known)
{
	const struct tv_http_config *cfg = req->srv->cfg;
	const struct tv_http_route *hit = NULL;
	size_t i;

	*path_known = false;
	allow[0] = '\0';
	for (i = 0; i < cfg->n_routes; i++) {
		const struct tv_http_route *r = &cfg->routes[i];

		if (!S_match(req, r->pattern, req->path))
			continue;
		*path_known = true;
		if (!strcmp(r->method, req->method))
			return r; /* params stay filled for this route */
		if (!strstr(allow, r->method)) {
			size_t n = strlen(allow);
			snprintf(allow + n, allow_size - n, "%s%s", n ? ", " : "", r->method);
		}
	}
	S_free_params(req);
	return hit;
}

/* ---------- dispatch ---------- */

static void S_parse_json(struct tv_http_req *req, struct tv_http_resp *resp)
{
	const char *ct = tv_http_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	json_error_t err;

	if (ct && strncasecmp(ct, "application/json", 16) != 0) {
		tv_http_reply_error(resp, 415, TV_HTTP_E_MEDIA_TYPE, NULL,
				    "content type must be application/json");
		return;
	}
	/* the fast path bounds the nesting itself; what it gives up on gets
	 * the pre-scan and jansson, which word the errors */
	req->json = tv_json_parse_fast((const char *)req->body, req->body_len,
				       req->srv->max_depth);
	if (req->json)
		return;
	if (tv_json_depth((const char *)req->body, req->body_len, req->srv->max_depth) >
	    req->srv->max_depth) {
		tv_http_reply_error(resp, 400, TV_HTTP_E_BAD_JSON, NULL,
				    "JSON nested deeper than %zu levels", req->srv->max_depth);
		return;
	}
	req->json = json_loadb((const char *)req->body, req->body_len,
			       JSON_REJECT_DUPLICATES, &err);
	if (!req->json)
		tv_http_reply_error(resp, 400, TV_HTTP_E_BAD_JSON,
				    json_pack("[i,i]", err.line, err.column),
				    "malformed JSON at line %d, column %d: %s", err.line,
				    err.column, err.text);
}

static void S_run_handler(struct tv_http_req *req, struct tv_http_resp *resp)
{
	req->want_suspend = false;
	req->route->handler(req->srv->cfg->app, req, resp);
	if (!resp->status && !req->want_suspend)
		tv_http_reply_error(resp, 500, TV_HTTP_E_INTERNAL, NULL,
				    "internal error (request %s)", req->request_id);
}

static void S_dispatch(struct tv_http_req *req, struct tv_http_resp *resp)
{
	const struct tv_http_config *cfg = req->srv->cfg;
	char allow[64];
	bool path_known;

	req->route = S_route(req, allow, sizeof(allow), &path_known);
	if (!req->route) {
		if (path_known) {
			tv_http_reply_error(resp, 405, TV_HTTP_E_METHOD, NULL,
					    "method %s not allowed here", req->method);
			tv_http_resp_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
		} else {
			tv_http_reply_error(resp, 404, TV_HTTP_E_NO_PATH, NULL, "no such path");
		}
		return;
	}
	if (req->too_large) {
		tv_http_reply_error(resp, 413, TV_HTTP_E_TOO_LARGE, NULL,
				    "request body larger than %zu bytes", req->srv->max_body);
		return;
	}
	if (req->route->auth && cfg->auth && !cfg->auth(cfg->app, req, req->route->auth, resp))
		return;
	if (req->route->flags & TV_HTTP_JSON_BODY) {
		S_parse_json(req, resp);
		if (resp->status)
			return;
	}
	S_run_handler(req, resp);
}

/* MHD frees a response body with this; bodies may hold key material. */
static void S_free_body(void *body)
{
	if (body) {
		tv_wipe(body, malloc_usable_size(body));
		free(body);
	}
}

static enum MHD_Result S_queue(struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	bool own_cache_control = false;
	size_t i;

	if (!resp->body) {
		resp->body = malloc(1);
		resp->body_len = 0;
	}
	if (!resp->body)
		return MHD_NO;
	/* MHD owns the body from here and frees it with S_free_body. */
	r = MHD_create_response_from_buffer_with_free_callback(resp->body_len, resp->body,
								S_free_body);
	if (!r) {
		S_resp_reset(resp);
		return MHD_NO;
	}
	resp->body = NULL;
	if (resp->body_len || (resp->status != 204 && resp->status != 304))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					resp->content_type ? resp->content_type
							   : "application/json");
	MHD_add_response_header(r, "X-Request-Id", req->request_id);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	for (i = 0; i < TV_HTTP_MAX_HEADERS && resp->headers[i][0]; i++) {
		if (!resp->headers[i][1])
			continue;
		if (!strcasecmp(resp->headers[i][0], "Cache-Control"))
			own_cache_control = true;
		MHD_add_response_header(r, resp->headers[i][0], resp->headers[i][1]);
	}
	/* API answers hold secrets and live data: never cached, unless the
	 * handler chose a policy (the web console's hashed assets) */
	if (!own_cache_control)
		MHD_add_response_header(r, "Cache-Control", "no-store");
	req->status = resp->status;
	req->responded = true;
	tv__http_stats_observe(req->srv->stats, req->route, req->method, resp->status,
			       tv_mono_ns() - req->start_ns);
	ret = MHD_queue_response(req->conn, resp->status, r);
	MHD_destroy_response(r);
	S_resp_reset(resp);
	return ret;
}

static bool S_append(struct tv_http_req *req, const char *data, size_t len)
{
	if (req->too_large || req->body_len + len > req->srv->max_body) {
		req->too_large = true;
		return true; /* keep draining; 413 at the end */
	}
	if (req->body_len + len + 1 > req->body_cap) {
		/* the declared length, when there is one, up to a bound (a
		 * client can declare what it never sends), so that a 450 KB
		 * import is not moved and wiped seven times on its way in */
		size_t cap = req->body_cap ? req->body_cap
			     : req->declared_len ? (req->declared_len < S_BODY_PREALLOC_MAX
							    ? req->declared_len + 1
							    : S_BODY_PREALLOC_MAX)
						 : 4096;
		unsigned char *p;

		while (cap < req->body_len + len + 1)
			cap *= 2;
		/* the body may hold keystores and sealed passwords: a moved
		 * block is wiped before it is freed */
		p = tv_wipeheap_realloc(req->body, cap);
		if (!p)
			return false;
		req->body = p;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return true;
}

static bool S_declared_too_large(struct tv_http_req *req)
{
	const char *cl = tv_http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;
	char *end;

	if (!cl)
		return false;
	n = strtoull(cl, &end, 10);
	if (*cl && *end == '\0' && n <= req->srv->max_body)
		req->declared_len = (size_t)n;
	return *end == '\0' && n > req->srv->max_body;
}

/* ---------- long-poll ---------- */

bool tv_http_req_wait(struct tv_http_req *req, int64_t wait_ms)
{
	struct tv_http_server *srv = req->srv;
	int64_t now = tv_mono_ms();
	bool stopping;

	if (!req->wait_deadline_ms)
		req->wait_deadline_ms = now + (wait_ms > 0 ? wait_ms : 0);
	pthread_mutex_lock(&srv->wait_lock);
	stopping = srv->stopping;
	pthread_mutex_unlock(&srv->wait_lock);
	if (stopping || req->no_wait || now >= req->wait_deadline_ms)
		return false;
	req->want_suspend = true;
	return true;
}

static bool S_suspend(struct tv_http_req *req)
{
	struct tv_http_server *srv = req->srv;
	bool ok = true;

	pthread_mutex_lock(&srv->wait_lock);
	/* stopping is re-checked here, under the lock the waker's final
	 * resume-all takes: a request suspended after it would never resume */
	if (srv->stopping)
		ok = false;
	if (ok && srv->n_waiters == srv->cap_waiters) {
		size_t cap = srv->cap_waiters ? srv->cap_waiters * 2 : 16;
		struct tv_http_req **p = realloc(srv->waiters, cap * sizeof(*p));
		if (p) {
			srv->waiters = p;
			srv->cap_waiters = cap;
		} else {
			ok = false;
		}
	}
	if (ok) {
		req->suspended = true;
		MHD_suspend_connection(req->conn);
		srv->waiters[srv->n_waiters++] = req;
		pthread_cond_signal(&srv->wait_cond);
	}
	pthread_mutex_unlock(&srv->wait_lock);
	return ok;
}

void tv_http_wake(struct tv_http_server *srv)
{
	pthread_mutex_lock(&srv->wait_lock);
	srv->wake = true;
	pthread_cond_signal(&srv->wait_cond);
	pthread_mutex_unlock(&srv->wait_lock);
}

/* Resume waiters: all of them on a wake (or every second), else the expired. */
static void S_resume(struct tv_http_server *srv, bool all, int64_t now)
{
	size_t i = 0;

	while (i < srv->n_waiters) {
		struct tv_http_req *req = srv->waiters[i];

		if (all || now >= req->wait_deadline_ms) {
			srv->waiters[i] = srv->waiters[--srv->n_waiters];
			MHD_resume_connection(req->conn);
		} else {
			i++;
		}
	}
}

static void *S_waker(void *arg)
{
	struct tv_http_server *srv = arg;
	int64_t last_all = tv_mono_ms();

	pthread_mutex_lock(&srv->wait_lock);
	while (!srv->stopping) {
		int64_t now = tv_mono_ms(), next = now + 1000;
		struct timespec ts;
		size_t i;

		for (i = 0; i < srv->n_waiters; i++)
			if (srv->waiters[i]->wait_deadline_ms < next)
				next = srv->waiters[i]->wait_deadline_ms;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (next > now) {
			ts.tv_sec += (next - now) / 1000;
			ts.tv_nsec += (long)((next - now) % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (!srv->wake)
				pthread_cond_timedwait(&srv->wait_cond, &srv->wait_lock, &ts);
		}
		now = tv_mono_ms();
		if (srv->wake || now - last_all >= 1000) {
			S_resume(srv, true, now);
			srv->wake = false;
			last_all = now;
		} else {
			S_resume(srv, false, now);
		}
	}
	S_resume(srv, true, tv_mono_ms());
	pthread_mutex_unlock(&srv->wait_lock);
	return NULL;
}

static enum MHD_Result S_access(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version,
				const char *upload_data, size_t *upload_data_size,
				void **con_cls)
{
	struct tv_http_server *srv = cls;
	struct tv_http_req *req = *con_cls;
	struct tv_http_resp resp;
	size_t n;

	(void)version;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->srv = srv;
		req->conn = conn;
		req->method = method;
		req->start_ms = tv_mono_ms();
		req->start_ns = tv_mono_ns();
		S_request_id(req->request_id);
		req->path = strdup(url);
		if (!req->path) {
			free(req);
			return MHD_NO;
		}
		n = strlen(req->path);
		if (n > 1 && req->path[n - 1] == '/') {
			req->path[n - 1] = '\0';
			req->trailing_slash = true;
		}
		*con_cls = req;
		if (S_declared_too_large(req)) {
			/* Refuse before reading a byte of the body. This is the one
			 * answer queued on the first call: the connection must close
			 * anyway, since the unread body can't be skipped. */
			memset(&resp, 0, sizeof(resp));
			req->too_large = true;
			tv_http_reply_error(&resp, 413, TV_HTTP_E_TOO_LARGE, NULL,
					    "request body larger than %zu bytes", srv->max_body);
			return S_queue(req, &resp);
		}
		return MHD_YES;
	}
	if (req->responded) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	memset(&resp, 0, sizeof(resp));
	if (*upload_data_size) {
		if (!S_append(req, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->suspended) {
		req->suspended = false; /* resumed: run the handler again */
		S_run_handler(req, &resp);
	} else {
		S_dispatch(req, &resp);
	}
	if (req->want_suspend && !resp.status) {
		if (S_suspend(req))
			return MHD_YES;
		req->no_wait = true; /* answer now, with what the handler sees */
		S_run_handler(req, &resp);
	}
	return S_queue(req, &resp);
}

static void S_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			enum MHD_RequestTerminationCode toe)
{
	struct tv_http_req *req = *con_cls;

	(void)cls;
	(void)conn;
	if (!req)
		return;
	TV_LOG(TV_LOG_INFO, "request", TV_LS("method", req->method),
	       TV_LS("route", req->route ? req->route->pattern : NULL),
	       TV_LI("status", req->responded ? req->status : 0),
	       TV_LI("duration_ms", tv_mono_ms() - req->start_ms),
	       TV_LS("request_id", req->request_id),
	       TV_LS("tenant", req->tenant[0] ? req->tenant : NULL),
	       TV_LS("outcome", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted"));
	S_free_params(req);
	if (req->principal && req->principal_free)
		req->principal_free(req->principal);
	json_decref(req->json);
	if (req->body) {
		/* Bodies carry keystores and sealed secrets: wipe before freeing. */
		tv_wipe(req->body, req->body_len);
		free(req->body);
	}
	free(req->path);
	free(req);
	*con_cls = NULL;
}

/* ---------- lifecycle ---------- */

static int S_hex(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/*
 * Percent-decoding of the path and the query arguments: %HH, as
 * libmicrohttpd's own, except that %00 stays as its three characters. A
 * decoded NUL would end the string early, so "/imports/<id>%00/x" would be
 * routed as "/imports/<id>" and "waitSeconds=5%00junk" read as 5.
 */
static size_t S_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	const char *in = s;
	char *out = s;

	(void)cls;
	(void)conn;
	while (*in) {
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2]) && (in[1] != '0' || in[2] != '0')) {
			*out++ = (char)(S_hex(in[1]) << 4 | S_hex(in[2]));
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

/* fmt comes from libmicrohttpd: the attribute tells the compiler so */
__attribute__((format(printf, 2, 0))) static void S_mhd_log(void *cls, const char *fmt,
							      va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	TV_LOG(TV_LOG_WARN, "http", TV_LS("detail", msg));
}

static enum tv_err S_resolve(struct sockaddr_storage *ss, const char *host, uint16_t port)
{
	struct addrinfo hints, *ai = NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
		return TV_ERR_INVALID;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	freeaddrinfo(ai);
	return TV_OK;
}

static void S_free_server(struct tv_http_server *srv)
{
	pthread_cond_destroy(&srv->wait_cond);
	pthread_mutex_destroy(&srv->wait_lock);
	free(srv->waiters);
	tv__http_stats_free(srv->stats);
	free(srv);
}

enum tv_err tv_http_start(struct tv_http_server **out, const struct tv_http_config *cfg)
{
	struct tv_http_server *srv;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	unsigned threads = cfg->threads;
	bool tls = cfg->tls_cert_pem && cfg->tls_key_pem;
	enum tv_err rc;

	rc = S_resolve(&ss, cfg->host ? cfg->host : "127.0.0.1", cfg->port);
	if (rc)
		return rc;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			return TV_ERR_INVALID;
		flags |= MHD_USE_TLS;
	}
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 2;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return TV_ERR_NOMEM;
	srv->cfg = cfg;
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&srv->wait_cond, &ca);
		pthread_condattr_destroy(&ca);
		pthread_mutex_init(&srv->wait_lock, NULL);
	}
	srv->max_body = cfg->max_body ? cfg->max_body : TV_HTTP_DEFAULT_MAX_BODY;
	srv->max_depth = cfg->max_depth ? cfg->max_depth : TV_HTTP_DEFAULT_MAX_DEPTH;
	srv->stats = tv__http_stats_new(cfg->routes, cfg->n_routes);
	if (!srv->stats) {
		S_free_server(srv);
		return TV_ERR_NOMEM;
	}
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, S_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, S_mhd_log, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_NOTIFY_COMPLETED, S_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, S_conn_notify, srv,
		MHD_OPTION_CONNECTION_TIMEOUT,
		cfg->conn_timeout_s ? cfg->conn_timeout_s : TV_HTTP_DEFAULT_CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT,
		cfg->max_connections ? cfg->max_connections : TV_HTTP_DEFAULT_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, TV_HTTP_CONN_MEMORY,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_UNESCAPE_CALLBACK, S_unescape, NULL,
		tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, cfg->tls_key_pem,
		MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert_pem,
		MHD_OPTION_END);
	if (!srv->daemon) {
		S_free_server(srv);
		return TV_ERR_IO;
	}
	if (pthread_create(&srv->waker, NULL, S_waker, srv) != 0) {
		MHD_stop_daemon(srv->daemon);
		S_free_server(srv);
		return TV_ERR_INTERNAL;
	}
	srv->waker_started = true;
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : cfg->port;
	*out = srv;
	return TV_OK;
}

uint16_t tv_http_port(const struct tv_http_server *srv)
{
	return srv->port;
}

void tv_http_stop(struct tv_http_server *srv)
{
	if (!srv)
		return;
	/*
	 * No MHD_quiesce_daemon() here: in libmicrohttpd 0.9.75 (Debian 12)
	 * with a thread pool and epoll, quiescing races the pool's threads,
	 * which also take the listening socket out of their epoll sets once
	 * they see the daemon quiesced; the loser's epoll_ctl fails and MHD
	 * aborts the process ("Failed to remove listen FD from epoll set",
	 * seen at the end of a test run). A connection that arrives in the few
	 * milliseconds before MHD_stop_daemon() closes the socket is closed
	 * unanswered, as it would be in a quiesced socket's backlog.
	 */
	/* Answer the long-polls now: stopping makes tv_http_req_wait say no. */
	pthread_mutex_lock(&srv->wait_lock);
	srv->stopping = true;
	pthread_cond_signal(&srv->wait_cond);
	pthread_mutex_unlock(&srv->wait_lock);
	if (srv->waker_started)
		pthread_join(srv->waker, NULL);
	MHD_stop_daemon(srv->daemon);
	S_free_server(srv);
}
