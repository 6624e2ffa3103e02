/*
 * DESIGN: the store's query latency is measured here, in one wrapper
 * around the vtable, instead of at the many call sites: tv_store_timed_new
 * puts a struct tv_store in front of the backend whose ops time the
 * backend's op and forward to it. One histogram per operation (the op's
 * name is the label), updated with atomics only, so the cost is two clock
 * reads per operation. events_wait is forwarded untimed: it is a blocking
 * wait for other nodes' events, not a query.
 *
 * The wrapper forwards only the ops it knows. A new op in struct
 * tv_store_ops must get a line here: the _Static_assert below stops the
 * build until it has one (a forwarded NULL would crash at run time).
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

/* X(op, params, args): every op but close and events_wait. */
#define S_OPS(X)                                                                           \
	X(ping, (struct tv_store * st), (IN))                                               \
	X(tenant_bootstrap,                                                                 \
	  (struct tv_store * st, const struct tv_tenant *tn, const struct tv_dek *d,        \
	   const struct tv_edge *e, const struct tv_apikey *k),                             \
	  (IN, tn, d, e, k))                                                                \
	X(tenant_get, (struct tv_store * st, const char *id, struct tv_tenant *out),        \
	  (IN, id, out))                                                                    \
	X(tenant_count, (struct tv_store * st, size_t *n), (IN, n))                         \
	X(apikey_insert, (struct tv_store * st, const struct tv_apikey *k), (IN, k))        \
	X(apikey_by_hash,                                                                   \
	  (struct tv_store * st, const unsigned char hash[TV_APIKEY_HASH_BYTES],            \
	   struct tv_apikey *out),                                                          \
	  (IN, hash, out))                                                                  \
	X(apikey_list,                                                                      \
	  (struct tv_store * st, const char *tenant_id, struct tv_apikey **out, size_t *n), \
	  (IN, tenant_id, out, n))                                                          \
	X(apikey_revoke,                                                                    \
	  (struct tv_store * st, const char *tenant_id, const char *id, int64_t now_ms),    \
	  (IN, tenant_id, id, now_ms))                                                      \
	X(apikey_touch, (struct tv_store * st, const char *id, int64_t now_ms),             \
	  (IN, id, now_ms))                                                                 \
	X(dek_list,                                                                         \
	  (struct tv_store * st, const char *tenant_id, struct tv_dek **out, size_t *n),    \
	  (IN, tenant_id, out, n))                                                          \
	X(edge_list,                                                                        \
	  (struct tv_store * st, const char *tenant_id, struct tv_edge **out, size_t *n),   \
	  (IN, tenant_id, out, n))                                                          \
	X(edge_heartbeat, (struct tv_store * st, const char *id, int64_t now_ms),           \
	  (IN, id, now_ms))                                                                 \
	X(audit_append, (struct tv_store * st, const struct tv_audit *a), (IN, a))          \
	X(ca_insert, (struct tv_store * st, const struct tv_trusted_ca *ca), (IN, ca))      \
	X(ca_list,                                                                          \
	  (struct tv_store * st, const char *tenant_id, struct tv_trusted_ca **out,         \
	   size_t *n),                                                                      \
	  (IN, tenant_id, out, n))                                                          \
	X(ca_get,                                                                           \
	  (struct tv_store * st, const char *tenant_id, const char *fingerprint,            \
	   struct tv_trusted_ca *out),                                                      \
	  (IN, tenant_id, fingerprint, out))                                                \
	X(ca_delete,                                                                        \
	  (struct tv_store * st, const char *tenant_id, const char *const *fingerprints,    \
	   size_t n, size_t *deleted),                                                      \
	  (IN, tenant_id, fingerprints, n, deleted))                                        \
	X(ca_version, (struct tv_store * st, const char *tenant_id, int64_t *version),      \
	  (IN, tenant_id, version))                                                         \
	X(job_create,                                                                       \
	  (struct tv_store * st, const struct tv_import_job *job,                           \
	   const struct tv_import_item *items, size_t n, size_t max_queued),                \
	  (IN, job, items, n, max_queued))                                                  \
	X(job_get,                                                                          \
	  (struct tv_store * st, const char *tenant_id, const char *id,                     \
	   struct tv_import_job *job, struct tv_import_result **results, size_t *n_results), \
	  (IN, tenant_id, id, job, results, n_results))                                     \
	X(job_list,                                                                         \
	  (struct tv_store * st, const char *tenant_id, size_t limit,                       \
	   struct tv_import_job **out, size_t *n),                                          \
	  (IN, tenant_id, limit, out, n))                                                   \
	X(item_claim,                                                                       \
	  (struct tv_store * st, const char *owner, int64_t now_ms, int64_t lease_until_ms, \
	   unsigned max_inflight, struct tv_claimed_item *out),                             \
	  (IN, owner, now_ms, lease_until_ms, max_inflight, out))                           \
	X(items_claim,                                                                      \
	  (struct tv_store * st, const char *owner, int64_t now_ms, int64_t lease_until_ms, \
	   unsigned max_inflight, struct tv_claimed_item *out, size_t max, size_t *n),      \
	  (IN, owner, now_ms, lease_until_ms, max_inflight, out, max, n))                   \
	X(item_renew,                                                                       \
	  (struct tv_store * st, const char *job_id, int index, const char *owner,          \
	   int64_t lease_until_ms),                                                         \
	  (IN, job_id, index, owner, lease_until_ms))                                       \
	X(item_finish,                                                                      \
	  (struct tv_store * st, const char *job_id, int index, const char *owner,          \
	   struct tv_item_outcome *outcomes, size_t n, int64_t now_ms, bool *job_final),    \
	  (IN, job_id, index, owner, outcomes, n, now_ms, job_final))                       \
	X(items_finish,                                                                     \
	  (struct tv_store * st, const char *owner, struct tv_item_finish *batch, size_t n, \
	   int64_t now_ms),                                                                 \
	  (IN, owner, batch, n, now_ms))                                                    \
	X(cert_get,                                                                         \
	  (struct tv_store * st, const char *tenant_id, const char *id,                     \
	   struct tv_cert_record *out),                                                     \
	  (IN, tenant_id, id, out))                                                         \
	X(cert_search,                                                                      \
	  (struct tv_store * st, const char *tenant_id, const struct tv_search *q,          \
	   struct tv_cert_record **out, size_t *n, size_t *total),                          \
	  (IN, tenant_id, q, out, n, total))                                                \
	X(cert_key,                                                                         \
	  (struct tv_store * st, const char *tenant_id, const char *id,                     \
	   unsigned char **sealed, size_t *sealed_len),                                     \
	  (IN, tenant_id, id, sealed, sealed_len))                                          \
	X(cert_set_status,                                                                  \
	  (struct tv_store * st, const char *tenant_id, const char *const *ids, size_t n,   \
	   const char *to_status, int64_t now_ms),                                          \
	  (IN, tenant_id, ids, n, to_status, now_ms))                                       \
	X(cert_delete,                                                                      \
	  (struct tv_store * st, const char *tenant_id, const char *const *ids, size_t n),  \
	  (IN, tenant_id, ids, n))                                                          \
	X(audit_list,                                                                       \
	  (struct tv_store * st, const char *tenant_id, int64_t after, size_t limit,        \
	   struct tv_audit_row **out, size_t *n),                                           \
	  (IN, tenant_id, after, limit, out, n))                                            \
	X(queue_depth, (struct tv_store * st, struct tv_queue_depth **out, size_t *n),      \
	  (IN, out, n))                                                                     \
	X(dek_insert, (struct tv_store * st, const struct tv_dek *d), (IN, d))              \
	X(dek_rewrap_all, (struct tv_store * st, const struct tv_dek_rewrap *r, size_t n),  \
	  (IN, r, n))                                                                       \
	X(edge_set_dek,                                                                     \
	  (struct tv_store * st, const char *tenant_id, const char *dek_id, int64_t now_ms), \
	  (IN, tenant_id, dek_id, now_ms))                                                  \
	X(cert_keys_not_on,                                                                 \
	  (struct tv_store * st, const char *tenant_id, const char *dek_id, size_t limit,   \
	   struct tv_sealed_key **out, size_t *n),                                          \
	  (IN, tenant_id, dek_id, limit, out, n))                                           \
	X(cert_keys_reseal,                                                                 \
	  (struct tv_store * st, const char *tenant_id, const char *dek_id,                 \
	   const struct tv_sealed_key *k, size_t n, size_t *changed),                       \
	  (IN, tenant_id, dek_id, k, n, changed))                                           \
	X(items_pending_not_on,                                                             \
	  (struct tv_store * st, const char *tenant_id, const char *dek_id, size_t *n),     \
	  (IN, tenant_id, dek_id, n))

#define S_ENUM(op, params, args) S_OP_##op,
enum { S_OPS(S_ENUM) S_N_OPS };

/* name, close and events_wait are the three members outside S_OPS */
_Static_assert(sizeof(struct tv_store_ops) == (S_N_OPS + 3) * sizeof(void *),
	       "a new store op must be forwarded (and timed) in store/timed.c");

#define S_NAME(op, params, args) #op,
static const char *const S_op_names[S_N_OPS] = { S_OPS(S_NAME) };

struct S_timed {
	struct tv_store base; /* first: the wrapper is a struct tv_store */
	struct tv_store_ops ops;
	struct tv_store *inner;
	struct tv_hist latency[S_N_OPS];
};

#define IN t->inner
#define S_FORWARD(op, params, args)                                          \
	static enum tv_err S_##op params                                     \
	{                                                                    \
		struct S_timed *t = (struct S_timed *)st;                    \
		int64_t t0 = tv_mono_ns();                                   \
		enum tv_err rc = t->inner->ops->op args;                     \
									     \
		tv_hist_observe(&t->latency[S_OP_##op], tv_mono_ns() - t0); \
		return rc;                                                   \
	}
S_OPS(S_FORWARD)
#undef IN

static enum tv_err S_events_wait(struct tv_store *st, int timeout_ms, unsigned *events)
{
	struct S_timed *t = (struct S_timed *)st;

	return t->inner->ops->events_wait(t->inner, timeout_ms, events);
}

static void S_close(struct tv_store *st)
{
	struct S_timed *t = (struct S_timed *)st;

	tv_store_close(t->inner);
	free(t);
}

enum tv_err tv_store_timed_new(struct tv_store **out, struct tv_store *inner)
{
	struct S_timed *t = calloc(1, sizeof(*t));

	if (!t) {
		tv_store_close(inner);
		return TV_ERR_NOMEM;
	}
	t->inner = inner;
	t->ops.name = inner->ops->name;
	t->ops.close = S_close;
	t->ops.events_wait = inner->ops->events_wait ? S_events_wait : NULL;
#define S_SET(op, params, args) t->ops.op = inner->ops->op ? S_##op : NULL;
	S_OPS(S_SET)
#undef S_SET
	t->base.ops = &t->ops;
	*out = &t->base;
	return TV_OK;
}

void tv_store_metrics(const struct tv_store *st, struct tv_mtext *out)
{
	const struct S_timed *t = (const struct S_timed *)st;
	size_t i;

	if (st->ops->close != S_close)
		return;
	tv_mtext_family(out, "tlsvault_store_operation_duration_seconds", "histogram",
			"Latency of store operations (one transaction or query each), by operation");
	for (i = 0; i < S_N_OPS; i++)
		if (tv_hist_count(&t->latency[i]))
			tv_mtext_hist(out, "tlsvault_store_operation_duration_seconds",
				      (const char *const[][2]){ { "operation", S_op_names[i] } }, 1,
				      &t->latency[i]);
}
