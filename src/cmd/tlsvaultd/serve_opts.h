/*
 * serve_opts.h - the options of `tlsvaultd serve`: flags, environment
 * variables, their ranges and defaults, and the usage text.
 *
 * DESIGN: every numeric option (the limits above all) is one row of a table
 * in serve_opts.c, with its flag, its environment variable, its range and
 * its named default, so a limit can't have a flag without a variable, a
 * range or a line in the usage text. A flag wins over its variable. After a
 * successful parse every value is resolved: no zero means "the default".
 */
#ifndef TV_CMD_TLSVAULTD_SERVE_OPTS_H
#define TV_CMD_TLSVAULTD_SERVE_OPTS_H

#include <stdbool.h>
#include <stdio.h>

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
	const char *data, *db, *listen, *tls_cert, *tls_key;
	bool insecure_http, no_system_roots, help;
	long num[TV_SO_COUNT]; /* resolved: the given value or the default */
};

/** Print the usage text (--help on stdout, after a usage error on stderr). */
void tv_serve_usage(FILE *f);

/**
 * Parse argv (and the TLSVAULT_* environment) into *o. Returns 0, or -1
 * after printing what is wrong to stderr (a value out of range names its
 * flag and the range). --help returns 0 with o->help set.
 */
int tv_serve_opts_parse(struct tv_serve_opts *o, int argc, char **argv);

#endif
