/*
 * DESIGN: SIGTERM/SIGINT are blocked in every thread before any thread
 * starts and the main thread waits for them with sigwait(), so the signal
 * never lands in a libmicrohttpd or worker thread, and shutdown runs as
 * ordinary code: mark not ready, stop accepting, let running handlers
 * finish, stop the heartbeat, wipe the keys, exit 0.
 */
#include "cmd/tlsvaultd/serve.h"
#include "cmd/tlsvaultd/serve_opts.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/app.h"
#include "api/authcache.h"
#include "core/log.h"
#include "core/secmem.h"
#include "dek/dek.h"
#include "svc/edge_agent.h"

#define EXIT_USAGE 2
#define S_PEM_MAX (1 << 20)
/* File descriptors beyond the connections: store, log, epoll, pipes. */
#define S_FD_RESERVE 256

static long S_num(const char *s, long min, long max)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	v = strtol(s, &end, 10);
	return *end || v < min || v > max ? -1 : v;
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
	struct tv_ratelimit *ratelimit;
	struct tv_svc_metrics metrics;
	struct tv_authcache *authcache;
	struct tv_app app;
	struct tv_http_config cfg;
	int vault_lock; /* tv_vault_lock, shared */
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
	tv_ratelimit_free(s->ratelimit);
	tv_authcache_free(s->authcache);
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
	tv_vault_unlock(s->vault_lock);
}

static int S_open(struct S_server *s, const struct tv_serve_opts *o)
{
	char path[4096], url[4200], why[256];
	enum tv_err rc;

	/* held (shared) until exit: rotate-master-key refuses while it is */
	rc = tv_vault_lock(o->data, false, &s->vault_lock);
	if (rc && rc != TV_ERR_NOT_FOUND) { /* no directory: master.key's error says it */
		fprintf(stderr, "tlsvaultd: cannot lock '%s/tlsvaultd.lock': %s\n", o->data,
			rc == TV_ERR_BUSY ? "a master-key rotation is running; start again after it"
					  : tv_strerror(rc));
		return EXIT_FAILURE;
	}
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
	if (!rc) { /* every store op is timed for /metrics */
		struct tv_store *backend = s->store;

		s->store = NULL;
		rc = tv_store_timed_new(&s->store, backend);
	}
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

static int S_start_importer(struct S_server *s, const struct tv_serve_opts *o)
{
	struct tv_importer_config cfg;
	enum tv_err rc;

	memset(&cfg, 0, sizeof(cfg));
	/* -1: the number of cores (the importer's 0); 0: no workers */
	cfg.workers = o->num[TV_SO_WORKERS] > 0 ? (unsigned)o->num[TV_SO_WORKERS] : 0;
	cfg.limits.max_iterations = (uint64_t)o->num[TV_SO_MAX_ITERATIONS];
	cfg.limits.max_keystore_bytes = (size_t)o->num[TV_SO_MAX_KEYSTORE];
	cfg.limits.max_sans = (size_t)o->num[TV_SO_MAX_SANS];
	cfg.limits.max_key_bits = (unsigned)o->num[TV_SO_MAX_KEY_BITS];
	cfg.max_tenant_inflight = (unsigned)o->num[TV_SO_MAX_TENANT_INFLIGHT];
	cfg.no_workers = o->num[TV_SO_WORKERS] == 0;
	cfg.lease_ms = (int64_t)o->num[TV_SO_LEASE_SECONDS] * 1000;
	cfg.on_job_final = tv_api_job_final;
	cfg.on_job_final_arg = &s->app;
	cfg.metrics = &s->metrics;
	rc = tv_importer_start(&s->importer, s->store, s->keyring, s->trust_cache, &cfg);
	if (rc)
		return S_fail_rc("the import workers", rc);
	s->app.importer = s->importer;
	return 0;
}

/*
 * Each connection is a file descriptor: raise the soft limit towards the
 * hard one so --max-connections can be reached, and say so when it can't.
 */
static void S_fd_limit(long max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + S_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		TV_LOG(TV_LOG_WARN, "the open-file limit is below --max-connections",
		       TV_LI("max_connections", max_connections),
		       TV_LI("open_files", (int64_t)rl.rlim_cur));
}

static int S_listen(struct S_server *s, const struct tv_serve_opts *o, char *host, uint16_t port)
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
	s->app.max_keystore_bytes = (size_t)o->num[TV_SO_MAX_KEYSTORE];
	s->app.max_items = (size_t)o->num[TV_SO_MAX_ITEMS];
	s->app.max_sans = (size_t)o->num[TV_SO_MAX_SANS];
	s->app.max_tenant_queue = (size_t)o->num[TV_SO_MAX_TENANT_QUEUE];
	s->app.max_tenant_inflight = (unsigned)o->num[TV_SO_MAX_TENANT_INFLIGHT];
	s->app.metrics = &s->metrics;
	s->app.metrics_require_key = o->metrics_require_key;
	s->app.start_time_ms = tv_now_ms();
	if (o->num[TV_SO_RATE]) {
		rc = tv_ratelimit_new(&s->ratelimit, (unsigned)o->num[TV_SO_RATE],
				      (unsigned)o->num[TV_SO_RATE_BURST], 0);
		if (rc)
			return S_fail_rc("the rate limiter", rc);
		s->app.ratelimit = s->ratelimit;
	}
	if (o->num[TV_SO_AUTH_CACHE_SECONDS]) {
		rc = tv_authcache_new(&s->authcache, o->num[TV_SO_AUTH_CACHE_SECONDS] * 1000);
		if (rc)
			return S_fail_rc("the API-key cache", rc);
		s->app.authcache = s->authcache;
	}
	s->cfg.host = host;
	s->cfg.port = port;
	s->cfg.threads = (unsigned)o->num[TV_SO_HTTP_THREADS];
	s->cfg.max_body = (size_t)o->num[TV_SO_MAX_BODY];
	s->cfg.max_depth = (size_t)o->num[TV_SO_MAX_JSON_DEPTH];
	s->cfg.max_connections = (unsigned)o->num[TV_SO_MAX_CONNECTIONS];
	s->cfg.max_per_ip = (unsigned)o->num[TV_SO_MAX_CONNECTIONS_PER_IP];
	s->cfg.conn_timeout_s = (unsigned)o->num[TV_SO_CONN_TIMEOUT];
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

static int S_serve(const struct tv_serve_opts *opts)
{
	const struct tv_serve_opts o = *opts;
	struct S_server s;
	char host[256], addr[300];
	uint16_t port;
	sigset_t sigs;
	int status, sig = 0;
	enum tv_err rc;

	if (o.num[TV_SO_WORKERS] == 0 && !(o.db && tv_store_url_is_pg(o.db))) {
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
	/* core dumps are refused in main(), for every command */
	S_fd_limit(o.num[TV_SO_MAX_CONNECTIONS]);
	/* Block before any thread exists, so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	tv_api_json_init();

	memset(&s, 0, sizeof(s));
	s.vault_lock = -1;
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

int tv_cmd_serve(int argc, char **argv)
{
	struct tv_serve_opts o;
	int status;

	if (tv_serve_opts_parse(&o, argc, argv)) {
		fputs("tlsvaultd: 'tlsvaultd serve --help' lists the options\n", stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		tv_serve_usage(stdout);
		return 0;
	}
	/* o's strings may point into the config file's buffer: it lives until
	 * the server has stopped */
	status = S_serve(&o);
	tv_serve_opts_release(&o);
	return status;
}
