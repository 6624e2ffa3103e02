/*
 * DESIGN: API latency under load, with wrk (keep-alive, 2 threads, 64
 * connections) against two read endpoints of a running tlsvaultd, and,
 * in the same run, against a bare libmicrohttpd server that answers a
 * fixed 200-byte JSON body: the same library, threading mode (epoll,
 * thread pool of one thread per core) and machine, and nothing else. The
 * ratio says what authentication, routing, the store read, JSON and the
 * request log cost on top of the HTTP library.
 *
 * The import job read is a one-item job: the 200-byte baseline is about the
 * size of its answer; a 100-item job's answer carries 100 certificates and
 * would measure base64 instead of the API.
 *
 * wrk's report is parsed for requests/s and its 50% and 99% latency; a
 * non-2xx answer or a socket error makes the run fail (measuring errors
 * would be worthless).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_BARE_BODY_LEN 200

struct tvb_bare {
	struct MHD_Daemon *d;
	struct MHD_Response *get_resp, *post_resp;
	char body[S_BARE_BODY_LEN + 1];
	int port;
};

static int S_marker;

static enum MHD_Result S_access(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version, const char *upload_data,
				size_t *upload_data_size, void **con_cls)
{
	struct tvb_bare *b = cls;
	bool post = !strcmp(method, "POST");

	(void)url;
	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		*con_cls = &S_marker;
		return MHD_YES; /* answer on a later call: keeps the connection alive */
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* read and drop the body */
		return MHD_YES;
	}
	return MHD_queue_response(conn, post ? MHD_HTTP_CREATED : MHD_HTTP_OK,
				  post ? b->post_resp : b->get_resp);
}

struct tvb_bare *tvb_bare_start(unsigned threads)
{
	static const char post_body[] = "{\"id\":\"00000000-0000-4000-8000-000000000000\","
					"\"creationDate\":\"2026-01-01T00:00:00.000Z\"}";
	struct tvb_bare *b = calloc(1, sizeof(*b));
	const union MHD_DaemonInfo *info;
	int n;

	if (!b)
		tvb_die("out of memory");
	n = snprintf(b->body, sizeof(b->body),
		     "{\"id\":\"00000000-0000-4000-8000-000000000000\",\"status\":\"COMPLETED\","
		     "\"creationDate\":\"2026-01-01T00:00:00.000Z\",\"results\":[],\"pad\":\"");
	while (n < S_BARE_BODY_LEN - 2)
		b->body[n++] = 'x';
	memcpy(b->body + n, "\"}", 3);
	if (strlen(b->body) != S_BARE_BODY_LEN)
		tvb_die("bare server: the body is not %d bytes", S_BARE_BODY_LEN);
	b->get_resp = MHD_create_response_from_buffer(S_BARE_BODY_LEN, b->body,
						      MHD_RESPMEM_PERSISTENT);
	b->post_resp = MHD_create_response_from_buffer(strlen(post_body), (void *)post_body,
						       MHD_RESPMEM_PERSISTENT);
	if (!b->get_resp || !b->post_resp)
		tvb_die("bare server: cannot make the responses");
	MHD_add_response_header(b->get_resp, "Content-Type", "application/json");
	MHD_add_response_header(b->post_resp, "Content-Type", "application/json");
	b->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC,
				0, NULL, NULL, S_access, b, MHD_OPTION_THREAD_POOL_SIZE,
				threads ? threads : 1, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
				MHD_OPTION_END);
	info = b->d ? MHD_get_daemon_info(b->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (!info || !info->port)
		tvb_die("bare server: cannot listen");
	b->port = info->port;
	return b;
}

int tvb_bare_port(const struct tvb_bare *b)
{
	return b->port;
}

void tvb_bare_stop(struct tvb_bare *b)
{
	if (!b)
		return;
	MHD_stop_daemon(b->d);
	MHD_destroy_response(b->get_resp);
	MHD_destroy_response(b->post_resp);
	free(b);
}

struct S_wrk {
	double rps, p50_ms, p99_ms;
	double requests;   /* completed in the run */
	double cpu_us;     /* server CPU per request (set by the caller) */
};

/* "1.23ms", "456.00us", "1.20s" in milliseconds; -1 if unparsable. */
static double S_ms(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s)
		return -1;
	if (!strncmp(end, "us", 2))
		return v / 1e3;
	if (!strncmp(end, "ms", 2))
		return v;
	if (*end == 's')
		return v * 1e3;
	if (!strncmp(end, "m", 1))
		return v * 60e3;
	return -1;
}

static void S_parse_wrk(struct S_wrk *w, const char *out, const char *what)
{
	const char *p;

	memset(w, 0, sizeof(*w));
	if (strstr(out, "Non-2xx or 3xx responses"))
		tvb_die("wrk %s: the server answered errors:\n%s", what, out);
	p = strstr(out, "Socket errors:");
	if (p)
		tvb_die("wrk %s: socket errors:\n%s", what, out);
	p = strstr(out, "Requests/sec:");
	w->rps = p ? strtod(p + 13, NULL) : 0;
	p = strstr(out, " requests in ");
	while (p && p > out && p[-1] >= '0' && p[-1] <= '9')
		p--;
	w->requests = p ? strtod(p, NULL) : 0;
	p = strstr(out, "Latency Distribution");
	p = p ? strstr(p, "50%") : NULL;
	w->p50_ms = p ? S_ms(p + 3 + strspn(p + 3, " \t")) : -1;
	p = p ? strstr(p, "99%") : NULL;
	w->p99_ms = p ? S_ms(p + 3 + strspn(p + 3, " \t")) : -1;
	if (w->rps <= 0 || w->requests <= 0 || w->p50_ms < 0 || w->p99_ms < 0)
		tvb_die("wrk %s: cannot read its report:\n%s", what, out);
}

/*
 * The API key goes to wrk in a Lua script (mode 0600, in the scratch
 * directory) that sets the header, not with -H: a command line is readable
 * by every user of the machine. A script that only sets wrk.headers keeps
 * wrk on its fast path (the request is built once).
 */
static void S_auth_script(char *path, size_t size, const char *tmp_root, const char *api_key)
{
	char text[256];
	int n;

	n = snprintf(path, size, "%s/wrk-auth.lua", tmp_root);
	if (n < 0 || (size_t)n >= size)
		tvb_die("path too long");
	n = snprintf(text, sizeof(text), "wrk.headers[\"tppl-api-key\"] = \"%s\"\n", api_key);
	if (n < 0 || (size_t)n >= sizeof(text) || strchr(api_key, '"') || strchr(api_key, '\\'))
		tvb_die("unexpected API key format");
	tvb_write_file(path, text, (size_t)n, 0600);
	sodium_memzero(text, sizeof(text));
}

/* wrk -t2 -c64 -d<secs>s --latency [-s auth.lua] url; the CPU that the
 * threads of server_pid named thread_prefix spend meanwhile, per request. */
static void S_wrk(struct S_wrk *w, int secs, const char *auth_script, int port, const char *path,
		  const char *what, pid_t server_pid, const char *thread_prefix)
{
	double cpu0 = tvb_threads_cpu_ms(server_pid, thread_prefix);
	char url[512], dur[16];
	const char *args[16] = { "wrk", "-t2", "-c64", dur, "--latency" };
	struct tvb_buf out = { 0 };
	char chunk[4096];
	size_t n = 5;
	ssize_t got;
	int fds[2], status = 0;
	pid_t pid;

	snprintf(dur, sizeof(dur), "-d%ds", secs);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	if (auth_script) {
		args[n++] = "-s";
		args[n++] = auth_script;
	}
	args[n++] = url;
	args[n] = NULL;
	if (pipe(fds) != 0)
		tvb_die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tvb_die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp("wrk", (char *const *)args);
		_exit(127);
	}
	close(fds[1]);
	while ((got = read(fds[0], chunk, sizeof(chunk) - 1)) > 0) {
		char *p = realloc(out.p, out.len + (size_t)got + 1);

		if (!p)
			tvb_die("out of memory");
		out.p = p;
		memcpy(out.p + out.len, chunk, (size_t)got);
		out.len += (size_t)got;
		out.p[out.len] = '\0';
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out.p)
		tvb_die("wrk failed (status %d): is it installed? (scripts/install-deps)",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	S_parse_wrk(w, out.p, what);
	w->cpu_us = (tvb_threads_cpu_ms(server_pid, thread_prefix) - cpu0) * 1e3 / w->requests;
	tvb_buf_free(&out);
}

static void S_rows_add(const char *sec, const char *what, const struct S_wrk *ours,
		       const struct S_wrk *bare)
{
	const char *base = "bare libmicrohttpd, 200-byte JSON";
	char name[96];
	struct tvb_row *r;

	snprintf(name, sizeof(name), "%s: requests/s", what);
	r = tvb_row(sec, name, "req/s", base);
	tvb_row_target(r, TVB_TARGET_RATIO_MIN, 0.5);
	tvb_row_add(r, ours->rps);
	tvb_row_add_base(r, bare->rps);
	snprintf(name, sizeof(name), "%s: p50", what);
	r = tvb_row(sec, name, "ms", base);
	tvb_row_add(r, ours->p50_ms);
	tvb_row_add_base(r, bare->p50_ms);
	snprintf(name, sizeof(name), "%s: p99", what);
	r = tvb_row(sec, name, "ms", base);
	tvb_row_add(r, ours->p99_ms);
	tvb_row_add_base(r, bare->p99_ms);
	snprintf(name, sizeof(name), "%s: server CPU per request", what);
	r = tvb_row(sec, name, "us", base);
	tvb_row_add(r, ours->cpu_us);
	tvb_row_add_base(r, bare->cpu_us);
}

void tvb_section_latency(struct tvb_ctx *x)
{
	const struct tvb_cfg *cfg = x->cfg;
	const struct tvb_corpus *c = tvb_corpus(x, TVB_OPENSSL_RSA);
	char sec[96], job_path[160], cert_path[160], cert_id[64], auth[320], *body, *job_id;
	struct tvb_bare *bare = tvb_bare_start(cfg->cores);
	struct tvb_server s;
	struct tvb_http *h;
	size_t len;
	int r;

	snprintf(sec, sizeof(sec), "API latency (wrk -t2 -c64, keep-alive, %d s)", cfg->wrk_seconds);
	tvb_server_init(&s, cfg, NULL);
	tvb_server_start(&s, cfg);
	h = tvb_http_new(s.port, s.api_key);
	tvb_server_fetch_dek(&s, h);
	tvb_server_trust(h, c->root_pem);
	body = tvb_import_body(&s, c, 0, 1, NULL, &len);
	job_id = tvb_post_job(h, body, len, NULL);
	tvb_wait_job(h, job_id, 1, cert_id, sizeof(cert_id));
	snprintf(job_path, sizeof(job_path), "/outagedetection/v1/certificates/imports/%s", job_id);
	snprintf(cert_path, sizeof(cert_path), "/outagedetection/v1/certificates/%s", cert_id);
	free(body);
	free(job_id);
	tvb_http_free(h);
	S_auth_script(auth, sizeof(auth), cfg->tmp_root, s.api_key);
	for (r = 0; r < cfg->runs; r++) {
		struct S_wrk wb, wj, wc;

		S_wrk(&wb, cfg->wrk_seconds, NULL, tvb_bare_port(bare), "/", "bare", getpid(),
		      "MHD-worker");
		S_wrk(&wj, cfg->wrk_seconds, auth, s.port, job_path, "GET import job", s.pid, "");
		S_wrk(&wc, cfg->wrk_seconds, auth, s.port, cert_path, "GET certificate", s.pid,
		      "");
		S_rows_add(sec, "GET import job (1 item)", &wj, &wb);
		S_rows_add(sec, "GET certificate", &wc, &wb);
		tvb_note("latency run %d/%d: bare %.0f req/s, job %.0f req/s, cert %.0f req/s",
			 r + 1, cfg->runs, wb.rps, wj.rps, wc.rps);
	}
	tvb_server_cleanup(&s, false);
	if (unlink(auth) != 0)
		tvb_note("cannot remove %s", auth);
	tvb_bare_stop(bare);
}
