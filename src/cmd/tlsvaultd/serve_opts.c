/*
 * DESIGN: see serve_opts.h. Each table has its own getopt code range
 * (S_NUM_BASE + index into S_nums, and so on), so adding an option is
 * adding a row; the row also makes its config file key. The file is parsed
 * in place in its secret buffer: a value is a NUL-terminated slice of it.
 */
#include "cmd/tlsvaultd/serve_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/authcache.h"
#include "http/server.h"
#include "pki/p12.h"
#include "svc/import.h"
#include "svc/ratelimit.h"

#define S_NUM_BASE    1000
#define S_TEXT_BASE   1100
#define S_SWITCH_BASE 1200
#define S_CONFIG      'C'
/* Keys are long option names; a longer one is not echoed in an error. */
#define S_KEY_MAX 64

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

/* The options that take text: a flag, its variable, its struct member. */
static const struct {
	const char *flag, *env;
	size_t off; /* of a const char * in struct tv_serve_opts */
} S_texts[] = {
	{ "data", "TLSVAULT_DATA", offsetof(struct tv_serve_opts, data) },
	{ "db", "TLSVAULT_DB", offsetof(struct tv_serve_opts, db) },
	{ "listen", "TLSVAULT_LISTEN", offsetof(struct tv_serve_opts, listen) },
	{ "tls-cert", "TLSVAULT_TLS_CERT", offsetof(struct tv_serve_opts, tls_cert) },
	{ "tls-key", "TLSVAULT_TLS_KEY", offsetof(struct tv_serve_opts, tls_key) },
};

/* The switches: a flag or a non-empty variable turns one on; the file says
 * true or false. */
static const struct {
	const char *flag, *env;
	size_t off; /* of a bool in struct tv_serve_opts */
} S_switches[] = {
	{ "insecure-http", "TLSVAULT_INSECURE_HTTP", offsetof(struct tv_serve_opts, insecure_http) },
	{ "no-system-roots", "TLSVAULT_NO_SYSTEM_ROOTS",
	  offsetof(struct tv_serve_opts, no_system_roots) },
	{ "metrics-require-key", "TLSVAULT_METRICS_REQUIRE_KEY",
	  offsetof(struct tv_serve_opts, metrics_require_key) },
};

enum {
	S_N_TEXT = sizeof(S_texts) / sizeof(S_texts[0]),
	S_N_SWITCH = sizeof(S_switches) / sizeof(S_switches[0]),
	/* config keys: the texts, then the switches, then the numbers */
	S_N_KEYS = S_N_TEXT + S_N_SWITCH + TV_SO_COUNT,
};

static const char **S_text_at(struct tv_serve_opts *o, size_t i)
{
	return (const char **)(void *)((char *)o + S_texts[i].off);
}

static bool *S_switch_at(struct tv_serve_opts *o, size_t i)
{
	return (bool *)(void *)((char *)o + S_switches[i].off);
}

static const char *S_key_name(size_t k)
{
	if (k < S_N_TEXT)
		return S_texts[k].flag;
	if (k < S_N_TEXT + S_N_SWITCH)
		return S_switches[k - S_N_TEXT].flag;
	return S_nums[k - S_N_TEXT - S_N_SWITCH].flag;
}

/* What the config file set: per key, its value and line (0: not set). */
struct S_file {
	const char *path;
	const char *value[S_N_KEYS];
	unsigned line[S_N_KEYS];
	bool on[S_N_SWITCH];
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
	      "                       [--no-system-roots] [--metrics-require-key]\n"
	      "                       [--config FILE]\n"
	      "                       [--LIMIT N ...]\n"
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
	      "  --metrics-require-key\n"
	      "                      serve /metrics only with an ADMIN API key (default:\n"
	      "                      no key, as API.md says; env\n"
	      "                      TLSVAULT_METRICS_REQUIRE_KEY)\n"
	      "  --config FILE       `key = value` lines, a key per long option;\n"
	      "                      a flag beats its variable, which beats the file\n",
	      f);
	fprintf(f, "                      (env TLSVAULT_CONFIG; default %s,\n"
		   "                      which may be missing)\n"
		   "\n"
		   "Workers and limits (docs/ARCHITECTURE.md, \"Limits\"):\n"
		   "\n",
		TV_SERVE_DEFAULT_CONFIG);
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
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno == ERANGE || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* A config file switch: true/false, yes/no, on/off, 1/0. */
static bool S_switch_value(bool *out, const char *s)
{
	static const char *const on[] = { "true", "yes", "on", "1" };
	static const char *const off[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (!strcmp(s, on[i]) || !strcmp(s, off[i])) {
			*out = !strcmp(s, on[i]);
			return true;
		}
	}
	return false;
}

/* Whether a database URL carries a password (in its user info or as a
 * password= parameter), so a file holding it must not be world-readable. */
static bool S_url_has_password(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL, *p;

	if (strstr(url, "password="))
		return true;
	if (!auth)
		return false;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	return at && memchr(auth, ':', (size_t)(at - auth)) != NULL;
}

static bool S_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The key index of name[0..len), or -1. */
static int S_key_find(const char *name, size_t len)
{
	size_t k;

	for (k = 0; k < S_N_KEYS; k++) {
		const char *key = S_key_name(k);

		if (strlen(key) == len && !memcmp(key, name, len))
			return (int)k;
	}
	return -1;
}

/* Why key[0..len) is not a key, without echoing what may be a secret. */
static void S_unknown_key(const struct S_file *cf, unsigned line, const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
		      key[i] == '-'))
			break;
	if (i == len && len <= S_KEY_MAX)
		fprintf(stderr, "tlsvaultd: %s:%u: unknown key '%.*s' (keys are the long options "
				"of 'tlsvaultd serve --help', without the dashes)\n",
			cf->path, line, (int)len, key);
	else
		fprintf(stderr, "tlsvaultd: %s:%u: not a key (keys are the long options of "
				"'tlsvaultd serve --help', without the dashes)\n",
			cf->path, line);
}

/* Check one `key = value` and record it. value is NUL-terminated. */
static int S_file_set(struct S_file *cf, unsigned line, int k, const char *value, bool lax_mode)
{
	const char *key = S_key_name((size_t)k);
	long n;

	if (cf->line[k]) {
		fprintf(stderr, "tlsvaultd: %s:%u: '%s' is already set on line %u\n", cf->path,
			line, key, cf->line[k]);
		return -1;
	}
	if (!*value) {
		fprintf(stderr, "tlsvaultd: %s:%u: '%s' has no value\n", cf->path, line, key);
		return -1;
	}
	if ((size_t)k >= S_N_TEXT + S_N_SWITCH) {
		size_t i = (size_t)k - S_N_TEXT - S_N_SWITCH;

		if (!S_num(&n, value, S_nums[i].min, S_nums[i].max)) {
			fprintf(stderr, "tlsvaultd: %s:%u: '%s' takes a whole number from %ld to "
					"%ld\n", cf->path, line, key, S_nums[i].min,
				S_nums[i].max);
			return -1;
		}
	} else if ((size_t)k >= S_N_TEXT) {
		if (!S_switch_value(&cf->on[(size_t)k - S_N_TEXT], value)) {
			fprintf(stderr, "tlsvaultd: %s:%u: '%s' takes true or false\n", cf->path,
				line, key);
			return -1;
		}
	} else if (lax_mode && !strcmp(key, "db") && S_url_has_password(value)) {
		fprintf(stderr, "tlsvaultd: %s:%u: 'db' holds a password and the file is "
				"readable by other users: chmod o-rwx it (or keep the password "
				"in ~/.pgpass)\n", cf->path, line);
		return -1;
	}
	cf->value[k] = value;
	cf->line[k] = line;
	return 0;
}

/* Parse text[0..len) (NUL at text[len]) in place, line by line. */
static int S_file_parse(struct S_file *cf, char *text, size_t len, bool lax_mode)
{
	char *p = text, *end = text + len;
	unsigned line = 0;

	if (memchr(text, '\0', len)) {
		fprintf(stderr, "tlsvaultd: %s: not a text file (it holds a NUL byte)\n", cf->path);
		return -1;
	}
	while (p < end) {
		char *eol = memchr(p, '\n', (size_t)(end - p)), *eq, *k_end, *v, *v_end;
		int k;

		if (!eol)
			eol = end;
		*eol = '\0';
		line++;
		while (S_blank(*p))
			p++;
		v_end = eol;
		while (v_end > p && S_blank(v_end[-1]))
			v_end--;
		*v_end = '\0';
		if (*p == '\0' || *p == '#') {
			p = eol + 1;
			continue;
		}
		eq = strchr(p, '=');
		if (!eq || eq == p) {
			fprintf(stderr, "tlsvaultd: %s:%u: expected 'key = value'\n", cf->path, line);
			return -1;
		}
		k_end = eq;
		while (k_end > p && S_blank(k_end[-1]))
			k_end--;
		v = eq + 1;
		while (S_blank(*v))
			v++;
		k = S_key_find(p, (size_t)(k_end - p));
		if (k < 0) {
			S_unknown_key(cf, line, p, (size_t)(k_end - p));
			return -1;
		}
		if (S_file_set(cf, line, k, v, lax_mode))
			return -1;
		p = eol + 1;
	}
	return 0;
}

/*
 * Read and check the config file into o->config_text and *cf. A missing
 * file is an error only when it was named (--config, TLSVAULT_CONFIG).
 */
static int S_file_read(struct tv_serve_opts *o, struct S_file *cf, const char *path, bool named)
{
	struct tv_secbuf *buf = NULL;
	struct stat sb;
	size_t n = 0;
	ssize_t r = 0;
	int fd, status = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && !named)
			return 0;
		fprintf(stderr, "tlsvaultd: cannot read the config file '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0) {
		fprintf(stderr, "tlsvaultd: cannot read the config file '%s': %s\n", path,
			strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "tlsvaultd: the config file '%s' is a directory\n", path);
		goto out;
	}
	if (tv_secbuf_new(&buf, TV_SERVE_CONFIG_MAX_BYTES) != TV_OK) {
		fprintf(stderr, "tlsvaultd: out of memory reading '%s'\n", path);
		goto out;
	}
	/* one byte more than the cap, to tell a file of exactly the cap */
	while (n <= TV_SERVE_CONFIG_MAX_BYTES &&
	       (r = read(fd, buf->p + n, TV_SERVE_CONFIG_MAX_BYTES + 1 - n)) > 0)
		n += (size_t)r;
	if (r < 0) {
		fprintf(stderr, "tlsvaultd: cannot read the config file '%s': %s\n", path,
			strerror(errno));
		goto out;
	}
	if (n > TV_SERVE_CONFIG_MAX_BYTES) {
		fprintf(stderr, "tlsvaultd: the config file '%s' is larger than %d bytes\n", path,
			TV_SERVE_CONFIG_MAX_BYTES);
		goto out;
	}
	buf->p[n] = '\0';
	buf->len = n;
	cf->path = path;
	if (S_file_parse(cf, (char *)buf->p, n, (sb.st_mode & S_IRWXO) != 0))
		goto out;
	o->config = path;
	o->config_text = buf;
	buf = NULL;
	status = 0;
out:
	tv_secbuf_free(buf);
	close(fd);
	return status;
}

/* Resolve every option from its flag, else its variable, else the file,
 * else its default. given[k] is the flag's value by key index; a switch's
 * flag is given as "". */
static int S_resolve(struct tv_serve_opts *o, const char *const *given, const struct S_file *cf)
{
	size_t i;

	for (i = 0; i < S_N_TEXT; i++) {
		const char *v = given[i] ? given[i] : S_env(S_texts[i].env);

		*S_text_at(o, i) = v ? v : cf->value[i];
	}
	for (i = 0; i < S_N_SWITCH; i++) {
		size_t k = S_N_TEXT + i;

		*S_switch_at(o, i) = given[k] || S_env(S_switches[i].env) ||
				     (cf->line[k] && cf->on[i]);
	}
	for (i = 0; i < TV_SO_COUNT; i++) {
		size_t k = S_N_TEXT + S_N_SWITCH + i;
		const char *v = given[k] ? given[k] : S_env(S_nums[i].env);

		o->num[i] = S_nums[i].def;
		if (!v)
			v = cf->value[k]; /* checked when the file was read */
		if (v && !S_num(&o->num[i], v, S_nums[i].min, S_nums[i].max)) {
			fprintf(stderr,
				"tlsvaultd: --%s (env %s) takes a whole number from %ld to %ld\n",
				S_nums[i].flag, S_nums[i].env, S_nums[i].min, S_nums[i].max);
			return -1;
		}
	}
	return 0;
}

/* The config file's path: --config, TLSVAULT_CONFIG, else the default. */
static int S_config(struct tv_serve_opts *o, struct S_file *cf, const char *flag)
{
	const char *env = S_env("TLSVAULT_CONFIG");

	if (flag && !*flag) {
		fprintf(stderr, "tlsvaultd: --config takes a file name\n");
		return -1;
	}
	if (flag)
		return S_file_read(o, cf, flag, true);
	if (env)
		return S_file_read(o, cf, env, true);
	return S_file_read(o, cf, TV_SERVE_DEFAULT_CONFIG, false);
}

static int S_check(const struct tv_serve_opts *o, int argc, char **argv)
{
	if (optind != argc) {
		fprintf(stderr, "tlsvaultd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->data) {
		fprintf(stderr, "tlsvaultd: --data DIR (or TLSVAULT_DATA, or 'data' in the config "
				"file) is required\n");
		return -1;
	}
	if (!o->tls_cert != !o->tls_key) {
		fprintf(stderr, "tlsvaultd: --tls-cert and --tls-key go together\n");
		return -1;
	}
	return 0;
}

int tv_serve_opts_parse(struct tv_serve_opts *o, int argc, char **argv)
{
	struct option longopts[S_N_KEYS + 3];
	const char *given[S_N_KEYS], *config = NULL;
	struct S_file cf;
	size_t i, n = 0;
	int c;

	memset(o, 0, sizeof(*o));
	memset(&cf, 0, sizeof(cf));
	memset(given, 0, sizeof(given));
	memset(longopts, 0, sizeof(longopts));
	for (i = 0; i < S_N_TEXT; i++)
		longopts[n++] = (struct option){ S_texts[i].flag, required_argument, NULL,
						 S_TEXT_BASE + (int)i };
	for (i = 0; i < S_N_SWITCH; i++)
		longopts[n++] = (struct option){ S_switches[i].flag, no_argument, NULL,
						 S_SWITCH_BASE + (int)i };
	for (i = 0; i < TV_SO_COUNT; i++)
		longopts[n++] = (struct option){ S_nums[i].flag, required_argument, NULL,
						 S_NUM_BASE + (int)i };
	longopts[n++] = (struct option){ "config", required_argument, NULL, S_CONFIG };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h')
			o->help = true;
		else if (c == S_CONFIG)
			config = optarg;
		else if (c >= S_TEXT_BASE && c < S_TEXT_BASE + S_N_TEXT)
			given[c - S_TEXT_BASE] = optarg;
		else if (c >= S_SWITCH_BASE && c < S_SWITCH_BASE + S_N_SWITCH)
			given[S_N_TEXT + (size_t)(c - S_SWITCH_BASE)] = "";
		else if (c >= S_NUM_BASE && c < S_NUM_BASE + TV_SO_COUNT)
			given[S_N_TEXT + S_N_SWITCH + (size_t)(c - S_NUM_BASE)] = optarg;
		else
			return -1;
	}
	if (o->help)
		return 0;
	if (S_config(o, &cf, config) || S_resolve(o, given, &cf) || S_check(o, argc, argv)) {
		tv_serve_opts_release(o);
		return -1;
	}
	return 0;
}

void tv_serve_opts_release(struct tv_serve_opts *o)
{
	tv_secbuf_free(o->config_text);
	o->config_text = NULL;
	o->config = NULL;
}
