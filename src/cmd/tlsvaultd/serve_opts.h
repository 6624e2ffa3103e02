/*
 * serve_opts.h - the options of `tlsvaultd serve`: flags, environment
 * variables, their ranges and defaults, and the usage text.
 *
 * DESIGN: every numeric option (the limits above all) is one row of a table
 * in serve_opts.c, with its flag, its environment variable, its range and
 * its named default, so a limit can't have a flag without a variable, a
 * range or a line in the usage text. A flag wins over its variable. After a
 * successful parse every value is resolved: no zero means "the default".
 *
 * The text options and the switches are rows of two more tables, so every
 * option has a key in the config file (tlsvaultd.conf(5) is in
 * tlsvaultd(8)): `key = value` lines whose keys are the long option names.
 * Precedence: the flag, then the variable, then the file, then the default.
 * The file is --config FILE, else TLSVAULT_CONFIG, else
 * TV_SERVE_DEFAULT_CONFIG; only the default may be missing. A file is read
 * whole and checked whole (unknown keys, duplicates, bad values: an error
 * naming the file and line, and the server does not start) even where a
 * flag overrides it. Its bytes live in a secret buffer, since the database
 * URL may hold a password; no value from it is ever printed.
 */
#ifndef TV_CMD_TLSVAULTD_SERVE_OPTS_H
#define TV_CMD_TLSVAULTD_SERVE_OPTS_H

#include <stdbool.h>
#include <stdio.h>

#include "core/secmem.h"

/* The config file read when neither --config nor TLSVAULT_CONFIG names one. */
#ifndef TV_SERVE_DEFAULT_CONFIG
#define TV_SERVE_DEFAULT_CONFIG "/etc/tlsvault/tlsvaultd.conf"
#endif
/* A config file larger than this is refused (it holds a few dozen lines). */
#define TV_SERVE_CONFIG_MAX_BYTES (64 * 1024)

/* The numeric options, in the order of the usage text. */
enum tv_serve_num {
	TV_SO_WORKERS,
	TV_SO_HTTP_THREADS,
	TV_SO_MAX_BODY,
	TV_SO_MAX_ITEMS,
	TV_SO_MAX_KEYSTORE,
	TV_SO_MAX_ITERATIONS,
	TV_SO_MAX_SANS,
	TV_SO_MAX_KEY_BITS,
	TV_SO_MAX_JSON_DEPTH,
	TV_SO_MAX_CONNECTIONS,
	TV_SO_MAX_CONNECTIONS_PER_IP,
	TV_SO_CONN_TIMEOUT,
	TV_SO_RATE,
	TV_SO_RATE_BURST,
	TV_SO_MAX_TENANT_QUEUE,
	TV_SO_MAX_TENANT_INFLIGHT,
	TV_SO_LEASE_SECONDS,
	TV_SO_AUTH_CACHE_SECONDS,
	TV_SO_COUNT
};

struct tv_serve_opts {
	/* Each points into argv, the environment or config_text. */
	const char *data, *db, *listen, *tls_cert, *tls_key;
	bool insecure_http, no_system_roots, help;
	bool metrics_require_key; /* /metrics only with an ADMIN key */
	long num[TV_SO_COUNT]; /* resolved: the given value or the default */
	const char *config;        /* the file that was read; NULL: none */
	struct tv_secbuf *config_text; /* its bytes, owned; see _release */
};

/** Print the usage text (--help on stdout, after a usage error on stderr). */
void tv_serve_usage(FILE *f);

/**
 * Parse argv, the TLSVAULT_* environment and the config file into *o.
 * Returns 0, or -1 after printing what is wrong to stderr (a value out of
 * range names its flag and the range; a config file error names the file
 * and the line, never the value) with *o released. --help returns 0 with
 * o->help set, before any file is read. tv_secmem_init() must have run. On
 * success the caller releases *o with tv_serve_opts_release once it no
 * longer reads its strings.
 */
int tv_serve_opts_parse(struct tv_serve_opts *o, int argc, char **argv);

/** Wipe and free the config file's bytes; *o's strings may dangle after. */
void tv_serve_opts_release(struct tv_serve_opts *o);

#endif
