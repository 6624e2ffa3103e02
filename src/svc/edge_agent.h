/*
 * edge_agent.h - the embedded edge instances' heartbeat.
 *
 * One thread per process. Every interval it loads any DEK not yet in the
 * keyring (tenants created while the server runs), then records a heartbeat
 * (last_seen) for every edge instance whose DEK this process holds. An edge
 * instance whose heartbeat is older than 30 s shows LOST_CONNECTION.
 */
#ifndef TV_SVC_EDGE_AGENT_H
#define TV_SVC_EDGE_AGENT_H

#include "store/store.h"
#include "svc/keyring.h"

#define TV_EDGE_HEARTBEAT_MS 10000

struct tv_edge_agent;

/** Beat once at once (synchronously), then start the thread. */
enum tv_err tv_edge_agent_start(struct tv_edge_agent **out, struct tv_store *store,
				struct tv_keyring *keyring, int interval_ms) TV_WUR;

/** Stop the thread (promptly) and free; NULL is a no-op. */
void tv_edge_agent_stop(struct tv_edge_agent *agent);

#endif
