/*
 * DESIGN: SIGTERM/SIGINT are blocked in every thread before any thread
 * starts and the main thread waits for them with sigwait(), so the signal
 * never lands in a libmicrohttpd or worker thread, and shutdown runs as
 * ordinary code: mark not ready, stop accepting, let running handlers
 * finish, stop the heartbeat, wipe the keys, exit 0.
 */
#include "cmd/tlsvaultd/serve.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "core/log.h"
#include "core/secmem.h"
#include "dek/dek.h"
#include "svc/edge_agent.h"

#define EXIT_USAGE 2
#define S_PEM_MAX (1 << 20)

static const char S_usage[] =
	"usage: tlsvaultd serve --data DIR [--db URL] [--listen HOST:PORT] [--workers N]\n"
	"                       [--tls-cert F --tls-key F] [--insecure-http]\n"
	"                       [--no-system-roots] [--max-body BYTES] [--http-threads N]\n"
	"                       [--max-tenant-queue N] [--max-tenant-inflight N]\n"
	"                       [--lease-seconds N]\n"
	"\n"
	"Serve the API. Logs one JSON object per line on stderr.\n"
	"\n"
	"  --data DIR          vault directory (env TLSVAULT_DATA)\n"
	"  --db URL            database: sqlite:PATH (default DIR/tlsvault.db) or\n"
	"                      postgresql://... shared by several nodes (env TLSVAULT_DB)\n"
	"  --listen HOST:PORT  default 127.0.0.1:8080; port 0 picks a free port\n"
	"                      (env TLSVAULT_LISTEN)\n"
	"  --workers N         import workers, default the number of cores; 0 runs\n"
	"                      none (an API-only node: other nodes on the same\n"
	"                      PostgreSQL database process its jobs) (env TLSVAULT_WORKERS)\n"
	"  --tls-cert F        PEM certificate chain for HTTPS (env TLSVAULT_TLS_CERT)\n"
	"  --tls-key F         PEM private key for HTTPS (env TLSVAULT_TLS_KEY)\n"
	"  --insecure-http     allow plain HTTP on a non-loopback address\n"
	"  --no-system-roots   don't trust the operating system's root CAs\n"
	"  --max-body BYTES    largest request body, default 67108864 (env TLSVAULT_MAX_BODY)\n"
	"  --http-threads N    HTTP thread pool size, default the number of cores\n"
	"  --max-keystore B    largest decoded keystore, default 262144 (env TLSVAULT_MAX_KEYSTORE)\n"
	"  --max-iterations N  KDF iteration cap, default 1000000 (env TLSVAULT_MAX_ITERATIONS)\n"
	"  --max-json-depth N  JSON nesting cap, default 32 (env TLSVAULT_MAX_JSON_DEPTH)\n"
	"  --max-tenant-queue N  a tenant's import items not yet final, default 10000;\n"
	"                      over it a new job gets 429 (env TLSVAULT_MAX_TENANT_QUEUE)\n"
	"  --max-tenant-inflight N  a tenant's items processed at once (all nodes),\n"
	"                      default 0 = no cap (env TLSVAULT_MAX_TENANT_INFLIGHT)\n"
	"  --lease-seconds N   an import item's lease, renewed every third of it while\n"
	"                      worked on; after a node dies its items wait this long\n"
	"                      before another node takes them; default 15, 2 to 3600\n"
	"                      (env TLSVAULT_LEASE_SECONDS)\n";

struct S_serve_opts {
	const char *data, *db, *listen, *tls_cert, *tls_key;
	long workers, http_threads, max_body, max_keystore, max_iterations, max_depth;
	long max_tenant_queue, max_tenant_inflight, lease_seconds;
	bool insecure_http, no_system_roots, help;
};

static const char *S_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static long S_num(const char *s, long min, long max)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	v = strtol(s, &end, 10);
	return *end || v < min || v > max ? -1 : v;
}

static int S_parse(struct S_serve_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "insecure-http", no_argument, NULL, 'i' },
		{ "no-system-roots", no_argument, NULL, 'n' },
		{ "max-body", required_argument, NULL, 'm' },
		{ "http-threads", required_argument, NULL, 't' },
		{ "max-keystore", required_argument, NULL, 'K' },
		{ "max-iterations", required_argument, NULL, 'I' },
		{ "max-json-depth", required_argument, NULL, 'J' },
		{ "max-tenant-queue", required_argument, NULL, 'Q' },
		{ "max-tenant-inflight", required_argument, NULL, 'F' },
		{ "lease-seconds", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *workers = S_env("TLSVAULT_WORKERS"), *max_body = S_env("TLSVAULT_MAX_BODY");
	const char *threads = S_env("TLSVAULT_HTTP_THREADS");
	const char *max_keystore = S_env("TLSVAULT_MAX_KEYSTORE");
	const char *max_iter = S_env("TLSVAULT_MAX_ITERATIONS");
	const char *max_depth = S_env("TLSVAULT_MAX_JSON_DEPTH");
	const char *max_queue = S_env("TLSVAULT_MAX_TENANT_QUEUE");
	const char *max_inflight = S_env("TLSVAULT_MAX_TENANT_INFLIGHT");
	const char *lease = S_env("TLSVAULT_LEASE_SECONDS");
	int c;

	memset(o, 0, sizeof(*o));
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
		case 'w': workers = optarg; break;
		case 'c': o->tls_cert = optarg; break;
		case 'k': o->tls_key = optarg; break;
		case 'i': o->insecure_http = true; break;
		case 'n': o->no_system_roots = true; break;
		case 'm': max_body = optarg; break;
		case 't': threads = optarg; break;
		case 'K': max_keystore = optarg; break;
		case 'I': max_iter = optarg; break;
		case 'J': max_depth = optarg; break;
		case 'Q': max_queue = optarg; break;
		case 'F': max_inflight = optarg; break;
		case 'L': lease = optarg; break;
		case 'h': o->help = true; break;
		default: return -1;
		}
	}
	if (o->help)
		return 0;
	/* -1: not given (the number of cores); 0: no workers */
	o->workers = workers ? S_num(workers, 0, 256) : -1;
	if (workers && o->workers < 0)
		return -1;
	o->http_threads = threads ? S_num(threads, 1, 256) : 0;
	o->max_body = max_body ? S_num(max_body, 1024, 1L << 32) : 0;
	o->max_keystore = max_keystore ? S_num(max_keystore, 1024, 64L << 20) : 0;
	o->max_iterations = max_iter ? S_num(max_iter, 1, 100000000) : 0;
	o->max_depth = max_depth ? S_num(max_depth, 2, 1000) : 0;
	o->max_tenant_queue =
		max_queue ? S_num(max_queue, 1, 100000000) : TV_IMPORT_DEFAULT_TENANT_QUEUE;
	o->max_tenant_inflight = max_inflight ? S_num(max_inflight, 0, 4096) : 0;
	o->lease_seconds = lease ? S_num(lease, 2, 3600) : 0;
	if (optind != argc || !o->data || o->http_threads < 0 ||
	    o->max_body < 0 || o->max_keystore < 0 || o->max_iterations < 0 || o->max_depth < 0 ||
	    o->max_tenant_queue < 0 || o->max_tenant_inflight < 0 || o->lease_seconds < 0 ||
	    !o->tls_cert != !o->tls_key)
		return -1;
	return 0;
}

/* Split HOST:PORT ("[v6]:PORT" too). */
static bool S_split_listen(const char *listen, char *host, size_t hsize, uint16_t *port)
{
	const char *colon = strrchr(listen, ':');
	long p;
	size_t hl;

	if (!colon)
		return false;
	p = S_num(colon + 1, 0, 65535);
	hl = (size_t)(colon - listen);
	if (p < 0 || hl == 0 || hl >= hsize)
		return false;
	if (listen[0] == '[' && listen[hl - 1] == ']') {
		listen++;
		hl -= 2;
	}
	memcpy(host, listen, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return true;
}

static bool S_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!strcmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static char *S_read_pem(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(S_PEM_MAX + 1);
	n = buf ? fread(buf, 1, S_PEM_MAX, f) : 0;
	fclose(f);
	if (!buf || n == 0 || n == S_PEM_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int S_fail_rc(const char *what, enum tv_err rc)
{
	fprintf(stderr, "tlsvaultd: cannot start %s: %s\n", what, tv_strerror(rc));
	return EXIT_FAILURE;
}

/* The TLS private key goes to sodium memory, not the heap. */
static struct tv_secbuf *S_read_secret_pem(const char *path)
{
	struct tv_secbuf *b = NULL;
	char *pem = S_read_pem(path);

	if (pem && tv_secbuf_dup(&b, pem, strlen(pem)) != TV_OK)
		b = NULL;
	if (pem) {
		tv_wipe(pem, strlen(pem));
		free(pem);
	}
	return b;
}

struct S_server {
	struct tv_secbuf *master, *tls_key;
	struct tv_trust_roots *roots;
	struct tv_trust_cache *trust_cache;
	struct tv_importer *importer;
	struct tv_pki_ctx *pki;
	char *tls_cert;
	struct tv_store *store;
	struct tv_keyring *keyring;
	struct tv_edge_agent *agent;
	struct tv_http_server *http;
	struct tv_app app;
	struct tv_http_config cfg;
};

static void S_server_release(struct S_server *s)
{
	/* HTTP stops first (running handlers finish, long-polls are answered),
	 * so no handler can reach the importer after it is freed; then the
	 * workers finish their items (their results are durable; waiters are
	 * gone, so job-final wake-ups go nowhere). */
	pthread_mutex_lock(&s->app.http_lock);
	s->app.http = NULL;
	pthread_mutex_unlock(&s->app.http_lock);
	tv_http_stop(s->http);
	tv_importer_stop(s->importer);
	tv_trust_cache_free(s->trust_cache);
	tv_pki_ctx_free(s->pki);
	tv_trust_roots_free(s->roots);
	tv_edge_agent_stop(s->agent);
	tv_keyring_free(s->keyring);
	tv_store_close(s->store);
	tv_secbuf_free(s->master);
	tv_secbuf_free(s->tls_key);
	free(s->tls_cert);
}

static int S_open(struct S_server *s, const struct S_serve_opts *o)
{
	char path[4096], url[4200], why[256];
	enum tv_err rc;

	snprintf(path, sizeof(path), "%s/master.key", o->data);
	rc = tv_master_load(&s->master, path);
	if (rc) {
		fprintf(stderr, "tlsvaultd: cannot load '%s': %s%s\n", path, tv_strerror(rc),
			rc == TV_ERR_DENIED ? " (it must be mode 0600)" :
			rc == TV_ERR_NOT_FOUND ? " (run 'tlsvaultd init')" : "");
		return EXIT_FAILURE;
	}
	if (o->db)
		snprintf(url, sizeof(url), "%s", o->db);
	else
		snprintf(url, sizeof(url), "sqlite:%s/tlsvault.db", o->data);
	/* never print url: a PostgreSQL URL may hold a password */
	rc = tv_store_open_ex(&s->store, url, false, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "tlsvaultd: cannot open the store: %s%s%s\n",
			rc == TV_ERR_INVALID ? "unsupported database URL (sqlite:PATH or "
					       "postgresql://...)" :
			rc == TV_ERR_NOT_FOUND ? "no vault there (run 'tlsvaultd init')" :
						 tv_strerror(rc),
			why[0] ? ": " : "", why);
		return EXIT_FAILURE;
	}
	rc = tv_keyring_new(&s->keyring, s->store, s->master);
	if (!rc)
		rc = tv_keyring_load_all(s->keyring);
	if (rc) {
		fprintf(stderr, "tlsvaultd: cannot load the DEKs: %s%s\n", tv_strerror(rc),
			rc == TV_ERR_CRYPTO ? " (is this the vault's own master.key?)" : "");
		return EXIT_FAILURE;
	}
	if (!o->no_system_roots) {
		rc = tv_trust_roots_load(&s->roots, NULL);
		if (rc) {
			fprintf(stderr, "tlsvaultd: cannot read the system roots (%s): %s "
					"(install ca-certificates, or use --no-system-roots)\n",
				TV_TRUST_ROOTS_DEFAULT_PATH, tv_strerror(rc));
			return EXIT_FAILURE;
		}
	}
	rc = tv_trust_cache_new(&s->trust_cache, s->store, s->roots);
	if (rc)
		return S_fail_rc("the trust cache", rc);
	rc = tv_pki_ctx_new(&s->pki);
	if (rc)
		return S_fail_rc("the pki context (OpenSSL legacy provider)", rc);
	return 0;
}

static int S_start_importer(struct S_server *s, const struct S_serve_opts *o)
{
	struct tv_importer_config cfg;
	enum tv_err rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.workers = o->workers > 0 ? (unsigned)o->workers : 0;
	cfg.no_workers = o->workers == 0;
	cfg.limits.max_iterations = (uint64_t)o->max_iterations;
	cfg.limits.max_keystore_bytes = (size_t)o->max_keystore;
	cfg.max_tenant_inflight = (unsigned)o->max_tenant_inflight;
	cfg.lease_ms = (int64_t)o->lease_seconds * 1000;
	cfg.on_job_final = tv_api_job_final;
	cfg.on_job_final_arg = &s->app;
	rc = tv_importer_start(&s->importer, s->store, s->keyring, s->trust_cache, &cfg);
	if (rc)
		return S_fail_rc("the import workers", rc);
	s->app.importer = s->importer;
	return 0;
}

static int S_listen(struct S_server *s, const struct S_serve_opts *o, char *host, uint16_t port)
{
	enum tv_err rc;

	if (o->tls_cert) {
		s->tls_cert = S_read_pem(o->tls_cert);
		s->tls_key = S_read_secret_pem(o->tls_key);
		if (!s->tls_cert || !s->tls_key) {
			fprintf(stderr, "tlsvaultd: cannot read the TLS certificate or key\n");
			return EXIT_FAILURE;
		}
	}
	s->app.store = s->store;
	s->app.keyring = s->keyring;
	s->app.trust_cache = s->trust_cache;
	s->app.pki = s->pki;
	s->app.roots = s->roots;
	s->app.max_keystore_bytes =
		o->max_keystore ? (size_t)o->max_keystore : TV_P12_DEFAULT_MAX_KEYSTORE_BYTES;
	s->app.max_tenant_queue = (size_t)o->max_tenant_queue;
	s->cfg.host = host;
	s->cfg.port = port;
	s->cfg.threads = (unsigned)o->http_threads;
	s->cfg.max_body = (size_t)o->max_body;
	s->cfg.max_depth = (size_t)o->max_depth;
	s->cfg.tls_cert_pem = s->tls_cert;
	s->cfg.tls_key_pem = s->tls_key ? (const char *)s->tls_key->p : NULL;
	s->cfg.routes = tv_api_routes(&s->cfg.n_routes);
	s->cfg.auth = tv_api_auth;
	s->cfg.app = &s->app;
	rc = tv_http_start(&s->http, &s->cfg);
	if (rc) {
		fprintf(stderr, "tlsvaultd: cannot listen on %s:%u: %s\n", host, port,
			rc == TV_ERR_INVALID ? "bad address or TLS not available" :
					       "address in use or not permitted");
		return EXIT_FAILURE;
	}
	return 0;
}

int tv_cmd_serve(int argc, char **argv)
{
	struct S_serve_opts o;
	struct S_server s;
	char host[256], addr[300];
	uint16_t port;
	sigset_t sigs;
	int status, sig = 0;
	enum tv_err rc;

	if (S_parse(&o, argc, argv)) {
		fputs(S_usage, stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		fputs(S_usage, stdout);
		return 0;
	}
	if (o.workers == 0 && !(o.db && tv_store_url_is_pg(o.db))) {
		fprintf(stderr, "tlsvaultd: --workers 0 needs a PostgreSQL --db, where other "
				"nodes process the jobs\n");
		return EXIT_USAGE;
	}
	if (!S_split_listen(o.listen ? o.listen : "127.0.0.1:8080", host, sizeof(host), &port)) {
		fprintf(stderr, "tlsvaultd: --listen takes HOST:PORT\n");
		return EXIT_USAGE;
	}
	if (!S_loopback(host) && !o.tls_cert && !o.insecure_http) {
		fprintf(stderr, "tlsvaultd: refusing plain HTTP on non-loopback address '%s': "
				"give --tls-cert/--tls-key (or --insecure-http)\n", host);
		return EXIT_USAGE;
	}
	/* A core dump would hold the master key and the DEKs: refuse them. */
	{
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	/* Block before any thread exists, so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	tv_api_json_init();

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.app.http_lock, NULL);
	status = S_open(&s, &o);
	if (!status) {
		rc = tv_edge_agent_start(&s.agent, s.store, s.keyring, TV_EDGE_HEARTBEAT_MS);
		if (rc) {
			fprintf(stderr, "tlsvaultd: cannot start the edge agent: %s\n",
				tv_strerror(rc));
			status = EXIT_FAILURE;
		}
	}
	/* Everything the handlers read is in place before the first request
	 * can arrive: the importer starts first, the listener last. */
	if (!status)
		status = S_start_importer(&s, &o);
	if (!status)
		status = S_listen(&s, &o, host, port);
	if (!status) {
		pthread_mutex_lock(&s.app.http_lock);
		s.app.http = s.http;
		pthread_mutex_unlock(&s.app.http_lock);
	}
	if (status) {
		S_server_release(&s);
		return status;
	}
	atomic_store(&s.app.ready, true);
	snprintf(addr, sizeof(addr), "%s://%s%s%s:%u", o.tls_cert ? "https" : "http",
		 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		 tv_http_port(s.http));
	TV_LOG(TV_LOG_INFO, "listening", TV_LS("address", addr),
	       TV_LI("port", tv_http_port(s.http)), TV_LS("version", TV_VERSION),
	       TV_LI("tenants_keys_loaded", (int64_t)tv_keyring_count(s.keyring)),
	       TV_LS("store", s.store->ops->name));
	while (sigwait(&sigs, &sig) != 0)
		;
	TV_LOG(TV_LOG_INFO, "stopping", TV_LI("signal", sig));
	atomic_store(&s.app.stopping, true);
	S_server_release(&s);
	tv_log(TV_LOG_INFO, "stopped", NULL, 0);
	return 0;
}
