/*
 * DESIGN: see serve_opts.h. The numeric options share one getopt code range
 * (S_NUM_BASE + index into S_nums), so adding a limit is adding a row.
 */
#include "cmd/tlsvaultd/serve_opts.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "api/authcache.h"
#include "http/server.h"
#include "pki/p12.h"
#include "svc/import.h"
#include "svc/ratelimit.h"

#define S_NUM_BASE 1000

static const struct {
	const char *flag, *env, *metavar;
	long min, max, def;
	const char *def_text; /* when the default isn't a number */
	const char *help;     /* what it bounds, and what happens over it */
} S_nums[TV_SO_COUNT] = {
	[TV_SO_WORKERS] = { "workers", "TLSVAULT_WORKERS", "N", 0, 256, -1,
			    "the number of cores",
			    "import workers; 0: none, an API-only node\n"
			    "(PostgreSQL only: other nodes process its jobs)" },
	[TV_SO_HTTP_THREADS] = { "http-threads", "TLSVAULT_HTTP_THREADS", "N", 1, 256, 0,
				 "the number of cores", "HTTP thread pool size" },
	[TV_SO_MAX_BODY] = { "max-body", "TLSVAULT_MAX_BODY", "BYTES", 1024, 1L << 32,
			     (long)TV_HTTP_DEFAULT_MAX_BODY, NULL,
			     "largest request body; over: 413/10105" },
	[TV_SO_MAX_ITEMS] = { "max-items", "TLSVAULT_MAX_ITEMS", "N", 1, TV_IMPORT_MAX_ITEMS,
			      TV_IMPORT_MAX_ITEMS, NULL, "items per import request; over: 400/10102" },
	[TV_SO_MAX_KEYSTORE] = { "max-keystore", "TLSVAULT_MAX_KEYSTORE", "BYTES", 1024,
				 64L << 20, (long)TV_P12_DEFAULT_MAX_KEYSTORE_BYTES, NULL,
				 "decoded keystore; over: KEYSTORE_TOO_LARGE" },
	[TV_SO_MAX_ITERATIONS] = { "max-iterations", "TLSVAULT_MAX_ITERATIONS", "N", 1,
				   100000000, (long)TV_P12_DEFAULT_MAX_ITERATIONS, NULL,
				   "KDF iterations; over: ITERATION_LIMIT_EXCEEDED" },
	[TV_SO_MAX_SANS] = { "max-sans", "TLSVAULT_MAX_SANS", "N", 1, 1000000,
			     (long)TV_P12_DEFAULT_MAX_SANS, NULL,
			     "subjectAltNames per certificate; over:\n"
			     "KEYSTORE_TOO_LARGE (import), 400/10107 (CA)" },
	[TV_SO_MAX_KEY_BITS] = { "max-key-bits", "TLSVAULT_MAX_KEY_BITS", "N",
				 TV_PKI_MIN_RSA_BITS, TV_PKI_MAX_KEY_BITS_CAP,
				 TV_PKI_DEFAULT_MAX_KEY_BITS, NULL,
				 "RSA key size; over: UNSUPPORTED_KEY_TYPE" },
	[TV_SO_MAX_JSON_DEPTH] = { "max-json-depth", "TLSVAULT_MAX_JSON_DEPTH", "N", 2, 1000,
				   TV_HTTP_DEFAULT_MAX_DEPTH, NULL,
				   "JSON nesting; over: 400/10100" },
	[TV_SO_MAX_CONNECTIONS] = { "max-connections", "TLSVAULT_MAX_CONNECTIONS", "N", 1,
				    1000000, TV_HTTP_DEFAULT_MAX_CONNECTIONS, NULL,
				    "open connections; over: new ones wait\n"
				    "in the listen queue until one closes" },
	[TV_SO_MAX_CONNECTIONS_PER_IP] = { "max-connections-per-ip",
					   "TLSVAULT_MAX_CONNECTIONS_PER_IP", "N", 0, 1000000, 0,
					   NULL, "open connections from one address\n"
					   "(0: no cap); over: closed at accept" },
	[TV_SO_CONN_TIMEOUT] = { "conn-timeout", "TLSVAULT_CONN_TIMEOUT", "SECONDS", 1, 86400,
				 TV_HTTP_DEFAULT_CONN_TIMEOUT_S, NULL,
				 "idle seconds before a connection is closed" },
	[TV_SO_RATE] = { "rate", "TLSVAULT_RATE", "N", 0, TV_RATELIMIT_MAX_RATE,
			 TV_RATELIMIT_DEFAULT_RATE, NULL,
			 "authenticated requests a second per tenant\n"
			 "(0: no cap); over: 429/10108 with Retry-After" },
	[TV_SO_RATE_BURST] = { "rate-burst", "TLSVAULT_RATE_BURST", "N", 1, TV_RATELIMIT_MAX_RATE,
			       TV_RATELIMIT_DEFAULT_BURST, NULL,
			       "requests a tenant may make at once" },
	[TV_SO_MAX_TENANT_QUEUE] = { "max-tenant-queue", "TLSVAULT_MAX_TENANT_QUEUE", "N", 1,
				     10000000, TV_IMPORT_DEFAULT_MAX_TENANT_QUEUE, NULL,
				     "import items one tenant may have not yet\nfinal; over: 429/10108 with Retry-After" },
	[TV_SO_LEASE_SECONDS] = { "lease-seconds", "TLSVAULT_LEASE_SECONDS", "SECONDS", 2, 3600,
				  TV_IMPORT_LEASE_MS / 1000, NULL,
				  "an import item's lease, renewed every third\n"
				  "of it; a dead node's items wait this long" },
	[TV_SO_MAX_TENANT_INFLIGHT] = { "max-tenant-inflight", "TLSVAULT_MAX_TENANT_INFLIGHT", "N",
					0, 256, TV_IMPORT_DEFAULT_MAX_TENANT_INFLIGHT, NULL,
					"items of one tenant processed at once, on\n"
					"every node (0: no cap; a free worker takes\n"
					"the tenant with the fewest in flight)" },
	[TV_SO_AUTH_CACHE_SECONDS] = { "auth-cache-seconds", "TLSVAULT_AUTH_CACHE_SECONDS",
				       "SECONDS", 0, TV_AUTHCACHE_MAX_SECONDS,
				       TV_AUTHCACHE_DEFAULT_SECONDS, NULL,
				       "how long a node trusts its cached API-key\n"
				       "lookups (0: no cache); a key revoked on\n"
				       "another node works here this long at most" },
};

/* Print text, each line after the first indented to column 31. */
static void S_indented(FILE *f, const char *text)
{
	for (; *text; text++) {
		fputc(*text, f);
		if (*text == '\n')
			fprintf(f, "%31s", "");
	}
	fputc('\n', f);
}

void tv_serve_usage(FILE *f)
{
	char flag[64];
	size_t i;

	fputs("usage: tlsvaultd serve --data DIR [--db URL] [--listen HOST:PORT]\n"
	      "                       [--tls-cert F --tls-key F] [--insecure-http]\n"
	      "                       [--no-system-roots] [--LIMIT N ...]\n"
	      "\n"
	      "Serve the API. Logs one JSON object per line on stderr.\n"
	      "\n"
	      "  --data DIR          vault directory (env TLSVAULT_DATA)\n"
	      "  --db URL            database (env TLSVAULT_DB)\n"
	      "  --listen HOST:PORT  default 127.0.0.1:8080; port 0 picks a free port\n"
	      "                      (env TLSVAULT_LISTEN)\n"
	      "  --tls-cert F        PEM certificate chain for HTTPS (env TLSVAULT_TLS_CERT)\n"
	      "  --tls-key F         PEM private key for HTTPS (env TLSVAULT_TLS_KEY)\n"
	      "  --insecure-http     allow plain HTTP on a non-loopback address\n"
	      "                      (env TLSVAULT_INSECURE_HTTP)\n"
	      "  --no-system-roots   don't trust the operating system's root CAs\n"
	      "                      (env TLSVAULT_NO_SYSTEM_ROOTS)\n"
	      "\n"
	      "Workers and limits (docs/ARCHITECTURE.md, \"Limits\"):\n"
	      "\n",
	      f);
	for (i = 0; i < TV_SO_COUNT; i++) {
		snprintf(flag, sizeof(flag), "--%s %s", S_nums[i].flag, S_nums[i].metavar);
		fprintf(f, "  %-28s ", flag);
		S_indented(f, S_nums[i].help);
		if (S_nums[i].def_text)
			fprintf(f, "%31sdefault %s\n", "", S_nums[i].def_text);
		else
			fprintf(f, "%31s%ld to %ld, default %ld\n", "", S_nums[i].min,
				S_nums[i].max, S_nums[i].def);
		fprintf(f, "%31senv %s\n", "", S_nums[i].env);
	}
}

static const char *S_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* A decimal number in [min, max]; false otherwise. */
static bool S_num(long *out, const char *s, long min, long max)
{
	char *end;
	long v;

	if (!s || !*s)
		return false;
	v = strtol(s, &end, 10);
	if (*end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Resolve every numeric option from its flag, else its variable, else its default. */
static int S_resolve(struct tv_serve_opts *o, const char *const *given)
{
	size_t i;

	for (i = 0; i < TV_SO_COUNT; i++) {
		const char *v = given[i] ? given[i] : S_env(S_nums[i].env);

		o->num[i] = S_nums[i].def;
		if (v && !S_num(&o->num[i], v, S_nums[i].min, S_nums[i].max)) {
			fprintf(stderr,
				"tlsvaultd: --%s (env %s) takes a whole number from %ld to %ld\n",
				S_nums[i].flag, S_nums[i].env, S_nums[i].min, S_nums[i].max);
			return -1;
		}
	}
	return 0;
}

int tv_serve_opts_parse(struct tv_serve_opts *o, int argc, char **argv)
{
	static const struct option fixed[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "insecure-http", no_argument, NULL, 'i' },
		{ "no-system-roots", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
	};
	enum { S_N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct option longopts[S_N_FIXED + TV_SO_COUNT + 1];
	const char *given[TV_SO_COUNT];
	size_t i;
	int c;

	memset(o, 0, sizeof(*o));
	memset(given, 0, sizeof(given));
	memset(longopts, 0, sizeof(longopts));
	memcpy(longopts, fixed, sizeof(fixed));
	for (i = 0; i < TV_SO_COUNT; i++)
		longopts[S_N_FIXED + i] = (struct option){ S_nums[i].flag, required_argument, NULL,
							   S_NUM_BASE + (int)i };
	o->data = S_env("TLSVAULT_DATA");
	o->db = S_env("TLSVAULT_DB");
	o->listen = S_env("TLSVAULT_LISTEN");
	o->tls_cert = S_env("TLSVAULT_TLS_CERT");
	o->tls_key = S_env("TLSVAULT_TLS_KEY");
	o->insecure_http = S_env("TLSVAULT_INSECURE_HTTP") != NULL;
	o->no_system_roots = S_env("TLSVAULT_NO_SYSTEM_ROOTS") != NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'b': o->db = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'c': o->tls_cert = optarg; break;
		case 'k': o->tls_key = optarg; break;
		case 'i': o->insecure_http = true; break;
		case 'n': o->no_system_roots = true; break;
		case 'h': o->help = true; break;
		default:
			if (c < S_NUM_BASE || c >= S_NUM_BASE + TV_SO_COUNT)
				return -1;
			given[c - S_NUM_BASE] = optarg;
		}
	}
	if (o->help)
		return 0;
	if (S_resolve(o, given))
		return -1;
	if (optind != argc) {
		fprintf(stderr, "tlsvaultd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->data) {
		fprintf(stderr, "tlsvaultd: --data DIR (or TLSVAULT_DATA) is required\n");
		return -1;
	}
	if (!o->tls_cert != !o->tls_key) {
		fprintf(stderr, "tlsvaultd: --tls-cert and --tls-key go together\n");
		return -1;
	}
	return 0;
}
