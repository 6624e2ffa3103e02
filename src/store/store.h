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
	const char *outcome;   /* "ok", "denied", "failed"; NULL = "ok" */
	const char *request_id; /* may be NULL */
};

/* ---- trusted CA certificates ---- */

struct tv_trusted_ca {
	char id[TV_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	char fingerprint[41];
	char certificate_type[16]; /* ROOT_CA, CA, SELF_ISSUED_CA, END_ENTITY */
	unsigned char *der;        /* malloc'd */
	size_t der_len;
	char *facts_json; /* malloc'd: the TrustedCA fields derived from the DER */
	int64_t created_ms;
};

/** Free the members of n records and the array itself. */
void tv_trusted_cas_free(struct tv_trusted_ca *cas, size_t n);

/* ---- import jobs ---- */

#define TV_LABEL_MAX 256
#define TV_REASON_TEXT_MAX 512

enum tv_item_kind {
	TV_ITEM_REJECTED = 0,         /* failed at intake: reason says why */
	TV_ITEM_PKCS12 = 1,           /* keystore + optional sealed password */
	TV_ITEM_PKCS8_ENCRYPTED = 2,  /* cert + encrypted PKCS#8 PEM + sealed password */
	TV_ITEM_PKCS8_SEALED = 3,     /* cert + sealed PKCS#8 DER */
};

/** One item of a job, as stored until it is final. Buffers are malloc'd. */
struct tv_import_item {
	int index;
	enum tv_item_kind kind;
	unsigned char *keystore; /* PKCS#12 DER, or the certificate (PEM or DER) */
	size_t keystore_len;
	unsigned char *key; /* encrypted PKCS#8 PEM, or sealed PKCS#8 DER */
	size_t key_len;
	unsigned char *sealed_password; /* NULL = no password given */
	size_t sealed_password_len;
	char label[TV_LABEL_MAX + 1]; /* "" = none */
	char reason[TV_REASON_TEXT_MAX]; /* kind REJECTED: "CODE: message" */
};

/** Release the buffers of an item (wiped: they may hold sealed secrets). */
void tv_import_item_release(struct tv_import_item *item);

struct tv_import_job {
	char id[TV_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	char edge_id[TV_ID_SIZE];
	char dek_id[TV_DEK_ID_SIZE];
	bool dry_run;
	char status[16]; /* WAITING, PROCESSING, COMPLETED, FAILED */
	int n_items, n_final;
	int64_t created_ms, completed_ms;
	/* result rows by status; filled by job_list only */
	int n_imported, n_skipped, n_failed, n_valid;
};

/** An item handed to a worker, with what the worker needs of its job. */
struct tv_claimed_item {
	char job_id[TV_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	char dek_id[TV_DEK_ID_SIZE];
	bool dry_run;
	int attempts; /* claims so far, this one included */
	int64_t queued_ms;
	struct tv_import_item item;
};

/** A certificate row to store (leaf or issuer). Borrowed pointers. */
struct tv_cert_row {
	char fingerprint[41];
	const unsigned char *der;
	size_t der_len;
	const char *facts_json; /* the Certificate fields derived from the DER */
	const char *certificate_name, *subject_cn, *san_dns, *serial_number, *issuer_dn;
	const char *encryption_type;
	int64_t validity_start_ms, validity_end_ms;
	int key_strength;
};

/** One outcome of an item: a result row, and for a good pair what to store. */
struct tv_item_outcome {
	const char *status; /* "IMPORTED", "VALID" or "FAILED"; the store turns a
			       duplicate into "SKIPPED" */
	const char *reason; /* FAILED: "CODE: message"; else "" */
	char fingerprint[41]; /* "" when no certificate is known */
	const unsigned char *der; /* the leaf, or NULL */
	size_t der_len;
	const struct tv_cert_row *cert;    /* IMPORTED/VALID: the leaf row */
	const unsigned char *sealed_key;   /* IMPORTED: PKCS#8 sealed to the DEK */
	size_t sealed_key_len;
	const struct tv_cert_row *issuers; /* the verified chain above the leaf */
	size_t n_issuers;
	/* set by item_finish: what was recorded (after dedupe), and its reason code */
	char recorded_status[16];
	char recorded_code[40];
};

/** One finished item handed to items_finish (the group commit). */
struct tv_item_finish {
	const char *job_id;
	int index;
	struct tv_item_outcome *outcomes;
	size_t n;
	/* set by items_finish: TV_OK (written), TV_ERR_STATE (the lease was lost:
	 * nothing written for this item) or another error (nothing written) */
	enum tv_err rc;
	bool job_final; /* TV_OK: the item's job became final */
};

/** A stored result row, as the API shows it. */
struct tv_import_result {
	int item_index;
	int seq;
	char status[16]; /* IMPORTED, SKIPPED, FAILED, VALID */
	char *reason;    /* malloc'd */
	char fingerprint[41];
	unsigned char *der; /* malloc'd, may be NULL */
	size_t der_len;
	char certificate_id[TV_ID_SIZE]; /* "" = none */
	char label[TV_LABEL_MAX + 1];
};

void tv_import_results_free(struct tv_import_result *r, size_t n);

/* ---- certificates (the vault) ---- */

struct tv_cert_record {
	char id[TV_ID_SIZE];
	char tenant_id[TV_ID_SIZE];
	char fingerprint[41];
	char status[16];               /* ACTIVE, RETIRED */
	char dek_id[TV_DEK_ID_SIZE];   /* "" when no key is stored */
	unsigned char *der;            /* malloc'd */
	size_t der_len;
	char *facts_json;              /* malloc'd */
	char *issuer_ids_json;         /* malloc'd, a JSON array of ids */
	char import_job_id[TV_ID_SIZE];
	char label[TV_LABEL_MAX + 1];
	int64_t created_ms, modified_ms;
};

void tv_cert_records_free(struct tv_cert_record *r, size_t n);

enum tv_search_field {
	TV_SF_FINGERPRINT, TV_SF_CERTIFICATE_NAME, TV_SF_SUBJECT_CN, TV_SF_SAN_DNS,
	TV_SF_SERIAL_NUMBER, TV_SF_ISSUER_DN, TV_SF_VALIDITY_START, TV_SF_VALIDITY_END,
	TV_SF_STATUS, TV_SF_ENCRYPTION_TYPE, TV_SF_KEY_STRENGTH, TV_SF_CREATION_DATE,
	TV_SF_DEK_HASH, /* (ext) the key id a stored private key is sealed to */
	TV_SF_COUNT
};

enum tv_search_op { TV_SO_EQ, TV_SO_MATCH, TV_SO_GT, TV_SO_GTE, TV_SO_LT, TV_SO_LTE,
		    TV_SO_IN, TV_SO_AND, TV_SO_OR };

#define TV_SEARCH_MAX_NODES 256
#define TV_SEARCH_MAX_DEPTH 8

/** One value of a condition: text, or a number (ms since the epoch, bits). */
struct tv_search_value {
	const char *text; /* NULL for a number; borrowed */
	int64_t num;
};

/** A node of a search expression: a condition, or AND/OR over children. */
struct tv_search_expr {
	enum tv_search_op op;
	enum tv_search_field field;           /* conditions */
	const struct tv_search_value *values; /* 1, or n for IN */
	size_t n_values;
	const struct tv_search_expr *children; /* AND/OR */
	size_t n_children;
};

struct tv_search_order {
	enum tv_search_field field;
	bool descending;
};

struct tv_search {
	const struct tv_search_expr *expr; /* NULL: everything */
	const struct tv_search_order *orders;
	size_t n_orders;
	size_t page_number, page_size;
};

/** An audit row as listed. */
struct tv_audit_row {
	int64_t id, ts_ms;
	char actor[TV_ID_SIZE + 8];
	char action[64];
	char object_id[TV_DEK_ID_SIZE + 8];
	char detail[256];
	char outcome[16];
	char request_id[TV_ID_SIZE];
};

/** Import items not yet final of one tenant (store op queue_depth). */
struct tv_queue_depth {
	char tenant_id[TV_ID_SIZE];
	int64_t waiting;    /* WAITING: not claimed yet */
	int64_t processing; /* PROCESSING: claimed (a lease may have expired) */
};

/* ---- key rotation (issue 11) ---- */

/** A DEK's new wrapped secret (master-key rotation). */
struct tv_dek_rewrap {
	char id[TV_DEK_ID_SIZE];
	unsigned char old_wrapped[TV_DEK_WRAPPED_MAX]; /* what was read: must still be there */
	size_t old_len;
	unsigned char new_wrapped[TV_DEK_WRAPPED_MAX];
	size_t new_len;
};

/** A certificate's stored key: what it is sealed to, and the sealed bytes. */
struct tv_sealed_key {
	char cert_id[TV_ID_SIZE];
	char dek_id[TV_DEK_ID_SIZE];
	unsigned char *sealed; /* malloc'd */
	size_t sealed_len;
};

/** Free the sealed buffers of n records and the array itself. */
void tv_sealed_keys_free(struct tv_sealed_key *k, size_t n);

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

	/* Trusted CAs. ca_insert: TV_ERR_EXISTS when the tenant has that
	 * fingerprint already. Every change bumps the tenant's trust version. */
	enum tv_err (*ca_insert)(struct tv_store *st, const struct tv_trusted_ca *ca);
	enum tv_err (*ca_list)(struct tv_store *st, const char *tenant_id,
			       struct tv_trusted_ca **out, size_t *n);
	enum tv_err (*ca_get)(struct tv_store *st, const char *tenant_id,
			      const char *fingerprint, struct tv_trusted_ca *out);
	/* Delete the given fingerprints; *deleted counts the rows removed. */
	enum tv_err (*ca_delete)(struct tv_store *st, const char *tenant_id,
				 const char *const *fingerprints, size_t n, size_t *deleted);
	enum tv_err (*ca_version)(struct tv_store *st, const char *tenant_id,
				  int64_t *version);

	/* Import jobs. job_create stores the job and all its items at once:
	 * REJECTED items become final results right away. max_queued (0 = no
	 * cap) bounds the tenant's items not yet final, this job's included:
	 * over it, TV_ERR_LIMIT and nothing is stored (checked in the same
	 * transaction as the insert, so concurrent posts can't overshoot). */
	enum tv_err (*job_create)(struct tv_store *st, const struct tv_import_job *job,
				  const struct tv_import_item *items, size_t n,
				  size_t max_queued);
	enum tv_err (*job_get)(struct tv_store *st, const char *tenant_id, const char *id,
			       struct tv_import_job *job, struct tv_import_result **results,
			       size_t *n_results);
	/* The tenant's newest jobs first (at most limit), with their result
	 * counts; *out is malloc'd (free() it), *n may be 0. */
	enum tv_err (*job_list)(struct tv_store *st, const char *tenant_id, size_t limit,
				struct tv_import_job **out, size_t *n);
	/* Claim one WAITING item, or one whose lease expired, for owner until
	 * lease_until_ms. TV_ERR_NOT_FOUND when there is none.
	 * Fairness: the item comes from the tenant with the fewest items in
	 * flight (PROCESSING under a live lease), ties going to the tenant whose
	 * oldest claimable item is oldest; within a tenant, the oldest job first,
	 * in item order. A tenant with max_inflight items in flight is skipped
	 * (0 = no cap), so one tenant's flood never holds every worker. */
	enum tv_err (*item_claim)(struct tv_store *st, const char *owner, int64_t now_ms,
				  int64_t lease_until_ms, unsigned max_inflight,
				  struct tv_claimed_item *out);
	/* Optional (NULL: call item_claim): up to max claims in one
	 * transaction, each chosen as item_claim would; *n of them in out[]
	 * (0 and TV_OK when there is none). */
	enum tv_err (*items_claim)(struct tv_store *st, const char *owner, int64_t now_ms,
				   int64_t lease_until_ms, unsigned max_inflight,
				   struct tv_claimed_item *out, size_t max, size_t *n);
	/* Extend the lease of an item owner still holds; TV_ERR_STATE if lost. */
	enum tv_err (*item_renew)(struct tv_store *st, const char *job_id, int index,
				  const char *owner, int64_t lease_until_ms);
	/* In one transaction: dedupe and store the outcomes, record the results,
	 * mark the item final, erase its inputs, update the job. TV_ERR_STATE
	 * (and nothing written) when owner no longer holds the item.
	 * *job_final says whether the job became final. */
	enum tv_err (*item_finish)(struct tv_store *st, const char *job_id, int index,
				   const char *owner, struct tv_item_outcome *outcomes,
				   size_t n, int64_t now_ms, bool *job_final);
	/* item_finish for n items in one transaction (one fsync), each under
	 * its own savepoint: an item that fails (its lease lost: rc
	 * TV_ERR_STATE) leaves nothing behind and doesn't fail the others.
	 * TV_OK when the transaction committed (see each item's rc); any other
	 * return means nothing at all was written. */
	enum tv_err (*items_finish)(struct tv_store *st, const char *owner,
				    struct tv_item_finish *batch, size_t n, int64_t now_ms);

	/* The vault. */
	enum tv_err (*cert_get)(struct tv_store *st, const char *tenant_id, const char *id,
				struct tv_cert_record *out);
	enum tv_err (*cert_search)(struct tv_store *st, const char *tenant_id,
				   const struct tv_search *q, struct tv_cert_record **out,
				   size_t *n, size_t *total);
	/* The certificate's sealed key, copied into *sealed (malloc'd). */
	enum tv_err (*cert_key)(struct tv_store *st, const char *tenant_id, const char *id,
				unsigned char **sealed, size_t *sealed_len);
	/* Set status to to_status for every id, atomically: TV_ERR_NOT_FOUND (and
	 * no change) when one id is not the tenant's. */
	enum tv_err (*cert_set_status)(struct tv_store *st, const char *tenant_id,
				       const char *const *ids, size_t n, const char *to_status,
				       int64_t now_ms);
	/* Delete RETIRED certificates, overwriting their sealed keys first;
	 * TV_ERR_STATE when one is not RETIRED, TV_ERR_NOT_FOUND when one is
	 * missing; in both cases nothing changes. */
	enum tv_err (*cert_delete)(struct tv_store *st, const char *tenant_id,
				   const char *const *ids, size_t n);
	/* Audit rows of a tenant with id > after, oldest first. */
	enum tv_err (*audit_list)(struct tv_store *st, const char *tenant_id, int64_t after,
				  size_t limit, struct tv_audit_row **out, size_t *n);

	/* Optional (NULL when the backend has no such channel): wait up to
	 * timeout_ms for job events from any process sharing the store, and set
	 * *events to the TV_STORE_EV_* bits seen (0 on a timeout). Events are
	 * hints for waking up sooner, never the only way work is found: a
	 * caller must still poll. One thread at a time may call it. */
	enum tv_err (*events_wait)(struct tv_store *st, int timeout_ms, unsigned *events);

	/* Optional (NULL when the backend can't): the import items not yet
	 * final, per tenant that has any, ordered by tenant id; *out is
	 * malloc'd (free() it), *n may be 0. For /metrics. */
	enum tv_err (*queue_depth)(struct tv_store *st, struct tv_queue_depth **out, size_t *n);
	/* Key rotation (issue 11). Each is one transaction. */
	/* Add a DEK to its tenant (DEK rotation). TV_ERR_NOT_FOUND: no tenant. */
	enum tv_err (*dek_insert)(struct tv_store *st, const struct tv_dek *d);
	/* Master-key rotation: replace the wrapped secret of every DEK of the
	 * store at once. TV_ERR_STATE, and nothing changed, unless r[] names
	 * exactly the store's DEKs, each still holding r[i].old_wrapped. */
	enum tv_err (*dek_rewrap_all)(struct tv_store *st, const struct tv_dek_rewrap *r,
				      size_t n);
	/* Point every edge instance of the tenant at its DEK dek_id (the key
	 * clients seal to). TV_ERR_NOT_FOUND: no such DEK in this tenant. */
	enum tv_err (*edge_set_dek)(struct tv_store *st, const char *tenant_id,
				    const char *dek_id, int64_t now_ms);
	/* Up to limit stored keys of the tenant sealed to a DEK other than
	 * dek_id, oldest certificate first. *out is malloc'd (may be NULL when
	 * *n is 0); tv_sealed_keys_free() it. */
	enum tv_err (*cert_keys_not_on)(struct tv_store *st, const char *tenant_id,
					const char *dek_id, size_t limit,
					struct tv_sealed_key **out, size_t *n);
	/* Store resealed keys: for each k[i], the certificate's key becomes
	 * k[i].sealed under dek_id, only while it is still sealed to
	 * k[i].dek_id (a row deleted or resealed meanwhile is left alone).
	 * *changed counts the rows written. */
	enum tv_err (*cert_keys_reseal)(struct tv_store *st, const char *tenant_id,
					const char *dek_id, const struct tv_sealed_key *k,
					size_t n, size_t *changed);
	/* Items not yet final of the tenant's jobs whose passwords are sealed
	 * to a DEK other than dek_id (imports still in flight on an older DEK). */
	enum tv_err (*items_pending_not_on)(struct tv_store *st, const char *tenant_id,
					    const char *dek_id, size_t *n);
};

#define TV_STORE_EV_JOB_NEW 1u   /* a job was created: there is work */
#define TV_STORE_EV_JOB_FINAL 2u /* a job became final: wake its waiters */

/** Every backend's handle starts with this. */
struct tv_store {
	const struct tv_store_ops *ops;
};

/**
 * Open the store named by url: "sqlite:PATH", a plain path to a SQLite
 * file, or "postgresql://..." / "postgres://..." (a libpq URL; the database
 * must exist). create=true makes a new vault: TV_ERR_EXISTS if the file is
 * there, or if the PostgreSQL database has the vault's schema already.
 * create=false needs an existing vault (TV_ERR_NOT_FOUND). Migrations run inside a
 * transaction before this returns (on PostgreSQL under an advisory lock, so
 * nodes starting together apply each step once). TV_ERR_INVALID for an
 * unknown scheme. The URL may hold a password: it is never logged.
 */
enum tv_err tv_store_open(struct tv_store **out, const char *url, bool create) TV_WUR;

/**
 * tv_store_open, and on failure a one-line reason for a person in why
 * (the database's own message, e.g. "connection refused"; never the URL or
 * a password). why may be NULL.
 */
enum tv_err tv_store_open_ex(struct tv_store **out, const char *url, bool create, char *why,
			     size_t why_size) TV_WUR;

/** True when url names a PostgreSQL database. */
bool tv_store_url_is_pg(const char *url);

/** Close and free; NULL is a no-op. No other thread may be using it. */
void tv_store_close(struct tv_store *st);

struct tv_mtext;

/**
 * Wrap inner so that the latency of every operation is measured (store/
 * timed.c); *out owns inner from here (tv_store_close closes both), also on
 * failure. The wrapper is for the server: code that needs the backend's own
 * handle (migrate) opens the store without it.
 */
enum tv_err tv_store_timed_new(struct tv_store **out, struct tv_store *inner) TV_WUR;

/**
 * Append the latency histograms of a store made by tv_store_timed_new, in
 * the Prometheus text format (nothing for another store). Any thread.
 */
void tv_store_metrics(const struct tv_store *st, struct tv_mtext *out);

const char *tv_role_name(enum tv_role role);
enum tv_role tv_role_parse(const char *s);

#endif
