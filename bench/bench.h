/*
 * bench.h - the benchmark driver's shared pieces (`make bench`).
 *
 * DESIGN: one program, build/tlsvault-bench, measures every row of issue 9
 * and prints one table (and bench/results.json). Each row is a figure
 * measured in several runs, next to a baseline measured in the same runs
 * (interleaved, run by run, so both see the same noise on a shared
 * machine); the table shows the median, min and max of the figure, the
 * median of the baseline, and the median of the per-run ratios
 * figure/baseline. Nothing here asserts on time: a failure is a wrong
 * result (an item that did not import, a non-2xx answer), never a slow one.
 *
 * The pieces: corpus.c (keystores generated with OpenSSL, cached under the
 * build tree), server.c (a real tlsvaultd on a loopback port, and an HTTP
 * client), ceiling.c (the PKCS12_parse baseline), import.c (end to end,
 * accept latency, memory), breakdown.c (the per-item cost of each phase, in
 * process), kdf.c (the hashing bound), latency.c (wrk against the API and
 * a bare libmicrohttpd server), inventory.c (search over 100,000 stored
 * certificates), results.c (the table and the JSON).
 *
 * Threads: the driver is single-threaded except where a section starts its
 * own workers (ceiling.c, the bare server in latency.c).
 */
#ifndef TV_BENCH_BENCH_H
#define TV_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/x509.h>

#define TVB_MAX_RUNS 16

/* ---- configuration ------------------------------------------------------ */

struct tvb_cfg {
	const char *mode;          /* "full", "quick" or "tiny" */
	int runs;                  /* runs per row (>= 3 except tiny) */
	size_t items;              /* keystores per corpus, end to end */
	size_t job_items;          /* items per posted job */
	size_t breakdown_items;    /* items per breakdown run */
	unsigned cores;            /* workers and threads: online CPUs */
	int wrk_seconds;           /* per wrk run */
	size_t accept_posts;       /* posts per accept-latency run */
	size_t inventory;          /* certificates seeded for the search rows */
	size_t inventory_rounds;   /* queries per search run */
	const char *cache_dir;     /* corpora and the seeded inventory */
	const char *json_path;     /* results.json, or NULL */
	const char *tlsvaultd;     /* the server binary */
	char tmp_root[256];        /* scratch directory of this run */
};

/** Current monotonic time in seconds. */
double tvb_now(void);

/** Print to stderr and exit 1: the bench cannot go on (a setup failure). */
void tvb_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/** Progress line on stderr ("[bench] ..."). */
void tvb_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Remove a directory tree (only below /tmp or the cache dir; else refuse). */
void tvb_rmtree(const char *path);

/** Copy a string into dst[size]; dies rather than truncate. */
void tvb_strcpy(char *dst, size_t size, const char *src);

/** mkdir -p; dies on failure. */
void tvb_mkdirs(const char *path);

/** Whole file into a malloc'd buffer (NUL-terminated); NULL if unreadable. */
unsigned char *tvb_read_file(const char *path, size_t *len);

/** Write a file with mode (0600 for anything holding a key): tmp + rename. */
void tvb_write_file(const char *path, const void *p, size_t len, int mode);

/* ---- statistics ----------------------------------------------------------- */

double tvb_median(const double *v, size_t n);
double tvb_min(const double *v, size_t n);
double tvb_max(const double *v, size_t n);
/** Nearest-rank percentile (0 < p <= 100) of v (sorted in place). */
double tvb_percentile(double *v, size_t n, double p);

/* ---- rows and the table (results.c) ------------------------------------- */

enum tvb_target_kind {
	TVB_TARGET_NONE = 0,
	TVB_TARGET_RATIO_MIN, /* median ratio >= value */
	TVB_TARGET_FIGURE_MAX /* median figure < value */
};

struct tvb_row {
	char section[96];
	char name[96];
	char unit[16];
	char baseline_name[64]; /* "" when the row has no baseline */
	double fig[TVB_MAX_RUNS];
	double base[TVB_MAX_RUNS];
	size_t n_fig, n_base;
	enum tvb_target_kind target;
	double target_value;
	char note[96]; /* shown in the JSON only */
};

/** A new row (returned pointer stays valid until tvb_rows_free). */
struct tvb_row *tvb_row(const char *section, const char *name, const char *unit,
			const char *baseline_name);
/** The same row, found by section and name; NULL if none. */
struct tvb_row *tvb_row_find(const char *section, const char *name);
void tvb_row_add(struct tvb_row *r, double figure);
void tvb_row_add_base(struct tvb_row *r, double baseline);
void tvb_row_target(struct tvb_row *r, enum tvb_target_kind kind, double value);

struct tvb_machine {
	char cpu[128];
	unsigned cores;
	char date[32];
	char openssl[64];
	char kernel[96];
};

void tvb_machine_get(struct tvb_machine *m);
/** The table on stdout; the JSON at path (when not NULL). */
void tvb_report(const struct tvb_cfg *cfg, const struct tvb_machine *m, double seconds);
void tvb_rows_free(void);

/* ---- corpora (corpus.c) ------------------------------------------------- */

enum tvb_profile {
	TVB_OPENSSL_RSA = 0, /* OpenSSL 3 default, RSA-2048 leaf + 2 CAs */
	TVB_OPENSSL_EC,      /* the same profile, EC P-256 leaves */
	TVB_KEYTOOL_RSA,     /* Java keytool's PKCS#12 profile, 10,000 iterations */
	TVB_PROFILE_COUNT
};

struct tvb_keystore {
	unsigned char *der;
	size_t len;
	char password[40];
};

struct tvb_corpus {
	enum tvb_profile profile;
	const char *name;  /* "openssl-rsa", ... */
	const char *title; /* for row names */
	struct tvb_keystore *ks;
	size_t n;
	char *root_pem; /* the chain's root, to upload as a trusted CA */
	X509 *root;
	/* SHA-256 compressions the KDFs of one keystore need at the physical
	 * limit (PBKDF2 with precomputed HMAC states: 2 per iteration and
	 * output block; the PKCS#12 KDF: 1 per iteration) */
	uint64_t kdf_compressions;
};

/** Load (generating what the cache lacks) n keystores of profile p. */
void tvb_corpus_load(struct tvb_corpus *c, const struct tvb_cfg *cfg, enum tvb_profile p,
		     size_t n);
void tvb_corpus_release(struct tvb_corpus *c);

/**
 * A new X.509v3 certificate (SHA-256 signature, random 127-bit serial,
 * SKI/AKI) for key, named CN=cn,O=tlsvault bench, valid from start_days
 * (relative to now, negative is past) for days; a CA (basicConstraints cA)
 * or a TLS leaf with subjectAltName san ("DNS:..."). Self-signed when
 * issuer is NULL. Dies on failure.
 */
X509 *tvb_cert_new(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		   long start_days, long days, bool ca, const char *san);

/* ---- the server and an HTTP client (server.c) ----------------------------- */

struct tvb_server {
	char dir[300];
	char log_path[340];
	char tenant_id[64];
	char api_key[64];
	char edge_id[64];
	char key_id[64];
	unsigned char dek_pk[32];
	pid_t pid;
	int port;
};

struct tvb_buf {
	char *p;
	size_t len, cap;
};

void tvb_buf_free(struct tvb_buf *b);

struct tvb_http;

/** A keep-alive client for 127.0.0.1:port; api_key may be NULL. */
struct tvb_http *tvb_http_new(int port, const char *api_key);
void tvb_http_free(struct tvb_http *h);
/**
 * One request (body: JSON, may be NULL). The response body is in *resp
 * (reset first; may be NULL). Returns the HTTP status, or -1 when the
 * request failed on the wire. *seconds (may be NULL) gets the time from
 * the start of the request to the whole response.
 */
long tvb_http(struct tvb_http *h, const char *method, const char *path, const char *body,
	      size_t body_len, struct tvb_buf *resp, double *seconds);

/** `tlsvaultd init` in a new directory under cfg->tmp_root (or at dir). */
void tvb_server_init(struct tvb_server *s, const struct tvb_cfg *cfg, const char *dir);
/** `tlsvaultd serve` on 127.0.0.1:0 with --workers cores (and --rate 0 if known). */
void tvb_server_start(struct tvb_server *s, const struct tvb_cfg *cfg);
/** SIGKILL every server still running (atexit, and signal-safe). */
void tvb_servers_kill_all(void);
/** SIGTERM and wait (SIGKILL after 30 s). */
void tvb_server_stop(struct tvb_server *s);
/** Stop if running, and remove the directory (unless keep). */
void tvb_server_cleanup(struct tvb_server *s, bool keep);
/** The DEK public key from /v1/edgeencryptionkeys, into s->dek_pk. */
void tvb_server_fetch_dek(struct tvb_server *s, struct tvb_http *h);
/** Upload a PEM certificate as a trusted CA (201 or dies). */
void tvb_server_trust(struct tvb_http *h, const char *pem);
/**
 * CPU time (ms) used so far by the threads of pid whose name starts with
 * comm_prefix ("MHD-worker": libmicrohttpd's pool threads). Only the
 * difference of two readings means anything. -1 if pid is gone.
 */
double tvb_threads_cpu_ms(pid_t pid, const char *comm_prefix);
/** VmHWM (peak RSS) of pid, in MiB; -1 if unreadable. */
double tvb_vmhwm_mib(pid_t pid);

/**
 * The import envelope for items [from, from+n) of c (wrapping around), each
 * password sealed to seal_pk, or to the server's DEK when seal_pk is NULL.
 */
char *tvb_import_body(const struct tvb_server *s, const struct tvb_corpus *c, size_t from,
		      size_t n, const unsigned char *seal_pk, size_t *len);
/** POST a job body; returns the job id (malloc'd) or dies unless 201. */
char *tvb_post_job(struct tvb_http *h, const char *body, size_t len, double *seconds);
/**
 * Wait for a job to be final (waitSeconds long-polls) and check that every
 * one of its expected results is IMPORTED; dies otherwise, naming the first
 * reason. *cert_id (may be NULL) gets the first result's certificate id.
 */
void tvb_wait_job(struct tvb_http *h, const char *job_id, size_t expected, char *cert_id,
		  size_t cert_id_size);

/* ---- sections ------------------------------------------------------------ */

struct tvb_ctx {
	const struct tvb_cfg *cfg;
	struct tvb_corpus corpora[TVB_PROFILE_COUNT]; /* use tvb_corpus() */
	bool loaded[TVB_PROFILE_COUNT];
	double compression_ns[TVB_MAX_RUNS]; /* per run, from kdf.c */
	size_t n_compression;
};

/** Corpus p, loaded (and generated if the cache lacks it) on first use. */
const struct tvb_corpus *tvb_corpus(struct tvb_ctx *x, enum tvb_profile p);

/** Median SHA-256 compression cost so far (ns); dies if none measured. */
double tvb_compression_ns(const struct tvb_ctx *x);

/**
 * The conventional pipeline on items [0, n) of c with threads threads:
 * d2i_PKCS12, PKCS12_parse, X509_verify_cert, crypto_box_seal. Dies unless
 * every item verifies. Returns items per second; *cpu_ms_per_item (may be
 * NULL) gets the threads' CPU time per item.
 */
double tvb_ceiling_run(const struct tvb_corpus *c, size_t n, unsigned threads,
		       double *cpu_ms_per_item);

void tvb_section_kdf(struct tvb_ctx *x);
void tvb_section_breakdown(struct tvb_ctx *x);
void tvb_section_import(struct tvb_ctx *x);
void tvb_section_accept(struct tvb_ctx *x);
void tvb_section_latency(struct tvb_ctx *x);
void tvb_section_inventory(struct tvb_ctx *x);

/* The bare libmicrohttpd baseline server (latency.c). */
struct tvb_bare;
struct tvb_bare *tvb_bare_start(unsigned threads);
int tvb_bare_port(const struct tvb_bare *b);
void tvb_bare_stop(struct tvb_bare *b);

#endif
