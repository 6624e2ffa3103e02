/*
 * app.h - the API layer's shared state, principal and helpers.
 *
 * The app is built by cmd/tlsvaultd and handed to the HTTP server as the
 * opaque app pointer; handlers read it from many threads at once, so every
 * member is either immutable after start or thread-safe on its own.
 */
#ifndef TV_API_APP_H
#define TV_API_APP_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "http/server.h"
#include "store/store.h"
#include "pki/chain.h"
#include "pki/pki.h"
#include "svc/import.h"
#include "svc/keyring.h"
#include "svc/metrics.h"
#include "svc/ratelimit.h"
#include "svc/trust_cache.h"

/* API.md error codes used by the handlers */
#define TV_E_NO_AUTH 1004
#define TV_E_FIELD 10101
#define TV_E_MALFORMED 10107
#define TV_E_NOT_FOUND 10404
#define TV_E_BAD_KEY 10501
#define TV_E_FORBIDDEN 10601
#define TV_E_ITEM_COUNT 10102
#define TV_E_UNKNOWN_EDGE 10103
#define TV_E_WRONG_KEY 10104
#define TV_E_STATE 10110
#define TV_E_RATE 10108 /* 429: rate limit hit (or queue full); Retry-After set */

/* A heartbeat older than this makes an edge instance LOST_CONNECTION. */
#define TV_EDGE_LOST_AFTER_MS 30000

struct tv_authcache;

struct tv_app {
	struct tv_store *store;
	struct tv_keyring *keyring;
	struct tv_importer *importer;       /* NULL: jobs wait for another node */
	struct tv_trust_cache *trust_cache;
	struct tv_pki_ctx *pki;             /* for parsing keys on export */
	const struct tv_trust_roots *roots; /* NULL with --no-system-roots */
	size_t max_keystore_bytes;          /* per decoded keystore */
	size_t max_items;                   /* importInformation items, 1..TV_IMPORT_MAX_ITEMS */
	size_t max_sans;                    /* subjectAltNames per uploaded trusted CA */
	struct tv_ratelimit *ratelimit;     /* per-tenant request rate; NULL = off */
	struct tv_svc_metrics *metrics;     /* counters for /metrics; NULL = none */
	bool metrics_require_key;           /* /metrics only with an ADMIN key */
	int64_t start_time_ms;              /* process start, for /metrics */
	struct tv_authcache *authcache;     /* API-key lookups (api/authcache.h); NULL = off */
	/* Per-tenant fairness limits, parsed and validated by serve (the queue
	 * and the importer apply them): items not yet final per tenant, and
	 * items of one tenant processed at once (0 = no cap). */
	size_t max_tenant_queue;
	unsigned max_tenant_inflight;
	pthread_mutex_t http_lock;  /* guards http against the stop sequence */
	struct tv_http_server *http; /* for waking long-polls; NULL once stopping */
	atomic_bool ready;    /* keys loaded and store answering */
	atomic_bool stopping; /* shutting down: 503 for new work */
};

/** The importer's job-final callback: wakes the long-polls (arg = app). */
void tv_api_job_final(void *app);

/** Who is calling: set by the auth callback on every authenticated route. */
struct tv_principal {
	struct tv_apikey key;
	struct tv_tenant tenant;
};

/** The route table, and its length in *n. */
const struct tv_http_route *tv_api_routes(size_t *n);

/** The auth callback for tv_http_config (auth = the minimum enum tv_role). */
bool tv_api_auth(void *app, struct tv_http_req *req, int auth, struct tv_http_resp *resp);

/** Make jansson wipe every block it frees (request bodies hold secrets). */
void tv_api_json_init(void);

/* --- helpers for handlers (api/common.c) --- */
const struct tv_principal *tv_api_principal(const struct tv_http_req *req);
/** An ISO date string, or JSON null for 0. */
json_t *tv_api_date(int64_t ms);
void tv_api_not_found(struct tv_http_resp *resp);
/** 400/10101 naming the field path. */
void tv_api_bad_field(struct tv_http_resp *resp, const char *path, const char *why);
/** 500/10500, logging rc with the request id (never the request data). */
void tv_api_internal(struct tv_http_resp *resp, struct tv_http_req *req, enum tv_err rc,
		     const char *where);
/** Append an audit record; a failure is logged (the action already happened). */
void tv_api_audit(struct tv_app *app, struct tv_http_req *req, const char *action,
		  const char *object_id, const char *detail);
/** The same for a refused or failed attempt (outcome "denied" or "failed"). */
void tv_api_audit_outcome(struct tv_app *app, struct tv_http_req *req, const char *action,
			  const char *object_id, const char *detail, const char *outcome);
/** Reject unknown members of obj: true (and a 400 in resp) when one is found. */
bool tv_api_unknown_fields(struct tv_http_resp *resp, json_t *obj,
			   const char *const *allowed);

#endif
