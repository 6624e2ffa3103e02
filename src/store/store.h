/*
 * store.h - the storage interface: one vtable, several backends.
 *
 * DESIGN: each operation is one use-case-sized, atomic unit (a backend runs
 * it in its own transaction), so the services above never hold a transaction
 * open across crypto or HTTP work, and the PostgreSQL backend can implement
 * the same table of functions. Records are plain structs with fixed-size
 * strings; lists are malloc'd arrays the caller frees with free().
 *
 * Threads: a struct tv_store may be used from any number of threads at once;
 * each backend keeps a pool of connections (one per thread in use).
 * Secrets: the store only ever sees wrapped (encrypted) secrets and hashes.
 */
#ifndef TV_STORE_STORE_H
#define TV_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"

#define TV_ID_SIZE (TV_UUID_STRLEN + 1)
#define TV_NAME_MAX 128
#define TV_DEK_ID_SIZE 45
#define TV_DEK_WRAPPED_MAX 128
#define TV_APIKEY_HASH_BYTES 32

enum tv_role { TV_ROLE_NONE = 0, TV_ROLE_READ_ONLY = 1, TV_ROLE_PKI_ADMIN = 2, TV_ROLE_ADMIN = 3 };

struct tv_tenant {
	char id[TV_ID_SIZE];
	char name[TV_NAME_MAX + 1];
	int64_t created_ms;
};

struct tv_apikey {
	char id[TV_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	char name[TV_NAME_MAX + 1];
	enum tv_role role;
	unsigned char hash[TV_APIKEY_HASH_BYTES];
	int64_t created_ms;
	int64_t expires_ms;   /* 0 = never */
	int64_t last_used_ms; /* 0 = never */
	int64_t revoked_ms;   /* 0 = not revoked */
};

struct tv_dek {
	char id[TV_DEK_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	unsigned char public_key[32];
	unsigned char wrapped_sk[TV_DEK_WRAPPED_MAX]; /* master-key wrapped */
	size_t wrapped_len;
	int64_t created_ms;
	int64_t last_backup_ms; /* 0 = never */
};

struct tv_edge {
	char id[TV_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	char name[TV_NAME_MAX + 1];
	char environment_id[TV_ID_SIZE];
	char dek_id[TV_DEK_ID_SIZE];
	int64_t deployed_ms;
	int64_t dek_deployed_ms;
	int64_t last_seen_ms; /* 0 = never */
	int64_t modified_ms;
};

struct tv_audit {
	int64_t ts_ms;
	const char *tenant_id; /* may be NULL */
	const char *actor;     /* api key id, or "cli" */
	const char *action;    /* "apikey.create", "keystore.export", ... */
	const char *object_id; /* may be NULL */
	const char *detail;    /* may be NULL; never a secret */
};

struct tv_store;

struct tv_store_ops {
	const char *name;
	void (*close)(struct tv_store *st);
	enum tv_err (*ping)(struct tv_store *st);
	/* A new tenant with its DEK, edge instance and first API key, atomically.
	 * TV_ERR_EXISTS when the name is taken. */
	enum tv_err (*tenant_bootstrap)(struct tv_store *st, const struct tv_tenant *t,
					const struct tv_dek *d, const struct tv_edge *e,
					const struct tv_apikey *k);
	enum tv_err (*tenant_get)(struct tv_store *st, const char *id, struct tv_tenant *out);
	enum tv_err (*tenant_count)(struct tv_store *st, size_t *n);
	enum tv_err (*apikey_insert)(struct tv_store *st, const struct tv_apikey *k);
	enum tv_err (*apikey_by_hash)(struct tv_store *st,
				      const unsigned char hash[TV_APIKEY_HASH_BYTES],
				      struct tv_apikey *out);
	enum tv_err (*apikey_list)(struct tv_store *st, const char *tenant_id,
				   struct tv_apikey **out, size_t *n);
	/* TV_ERR_NOT_FOUND when no such key in this tenant (or already revoked). */
	enum tv_err (*apikey_revoke)(struct tv_store *st, const char *tenant_id,
				     const char *id, int64_t now_ms);
	enum tv_err (*apikey_touch)(struct tv_store *st, const char *id, int64_t now_ms);
	/* tenant_id NULL lists every tenant's DEKs. */
	enum tv_err (*dek_list)(struct tv_store *st, const char *tenant_id, struct tv_dek **out,
				size_t *n);
	/* tenant_id NULL lists every tenant's edge instances. */
	enum tv_err (*edge_list)(struct tv_store *st, const char *tenant_id,
				 struct tv_edge **out, size_t *n);
	enum tv_err (*edge_heartbeat)(struct tv_store *st, const char *id, int64_t now_ms);
	enum tv_err (*audit_append)(struct tv_store *st, const struct tv_audit *a);
};

/** Every backend's handle starts with this. */
struct tv_store {
	const struct tv_store_ops *ops;
};

/**
 * Open the store named by url: "sqlite:PATH", or a plain path to a SQLite
 * file. create=true makes a new database (TV_ERR_EXISTS if one is there);
 * create=false needs an existing one (TV_ERR_NOT_FOUND). Migrations run
 * inside a transaction before this returns.
 */
enum tv_err tv_store_open(struct tv_store **out, const char *url, bool create) TV_WUR;

/** Close and free; NULL is a no-op. No other thread may be using it. */
void tv_store_close(struct tv_store *st);

const char *tv_role_name(enum tv_role role);
enum tv_role tv_role_parse(const char *s);

#endif
