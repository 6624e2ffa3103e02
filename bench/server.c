/*
 * DESIGN: the server under test is the real `tlsvaultd serve`, started as
 * an operator would (fork/exec, its own data directory from `tlsvaultd
 * init`, port 0, --workers = cores), and driven over HTTP with libcurl on
 * one keep-alive connection, as the CLI does. The port comes from its
 * "listening" log line. Passwords are sealed to the DEK the server serves,
 * exactly like real clients (crypto_box_seal, then base64).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/b64.h"

#define S_START_DEADLINE_S 30.0
#define S_STOP_DEADLINE_S 30.0
#define S_JOB_DEADLINE_S 900.0
#define S_MAX_LIVE 8

/* Servers started and not yet stopped, so that an exit on a failure (or
 * any exit) does not leave one running. */
static pid_t S_live[S_MAX_LIVE];

static void S_live_set(pid_t old, pid_t pid)
{
	size_t i;

	for (i = 0; i < S_MAX_LIVE; i++) {
		if (S_live[i] == old) {
			S_live[i] = pid;
			return;
		}
	}
	if (old == 0)
		tvb_die("more than %d servers at once", S_MAX_LIVE);
}

/* Async-signal-safe: kill() and waitpid() only. */
void tvb_servers_kill_all(void)
{
	size_t i;

	for (i = 0; i < S_MAX_LIVE; i++) {
		if (S_live[i] > 0) {
			kill(S_live[i], SIGKILL);
			waitpid(S_live[i], NULL, 0);
			S_live[i] = 0;
		}
	}
}

struct tvb_http {
	CURL *c;
	int port;
	struct curl_slist *headers;
	struct curl_slist *headers_json;
};

void tvb_buf_free(struct tvb_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static size_t S_collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct tvb_buf *b = userdata;
	size_t n = size * nmemb;

	if (!b)
		return n;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

struct tvb_http *tvb_http_new(int port, const char *api_key)
{
	struct tvb_http *h = calloc(1, sizeof(*h));
	char auth[160];

	if (!h || !(h->c = curl_easy_init()))
		tvb_die("cannot make an HTTP client");
	h->port = port;
	h->headers = curl_slist_append(NULL, "Expect:");
	if (api_key) {
		snprintf(auth, sizeof(auth), "tppl-api-key: %s", api_key);
		h->headers = curl_slist_append(h->headers, auth);
	}
	h->headers_json = curl_slist_append(NULL, "Expect:");
	h->headers_json = curl_slist_append(h->headers_json, "Content-Type: application/json");
	if (api_key)
		h->headers_json = curl_slist_append(h->headers_json, auth);
	if (!h->headers || !h->headers_json)
		tvb_die("out of memory");
	curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, S_collect);
	curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h->c, CURLOPT_TCP_NODELAY, 1L);
	return h;
}

void tvb_http_free(struct tvb_http *h)
{
	if (!h)
		return;
	curl_slist_free_all(h->headers);
	curl_slist_free_all(h->headers_json);
	curl_easy_cleanup(h->c);
	free(h);
}

long tvb_http(struct tvb_http *h, const char *method, const char *path, const char *body,
	      size_t body_len, struct tvb_buf *resp, double *seconds)
{
	char url[1024];
	long status = -1;
	double t0;
	CURLcode rc;

	if (resp)
		resp->len = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", h->port, path);
	curl_easy_setopt(h->c, CURLOPT_URL, url);
	curl_easy_setopt(h->c, CURLOPT_WRITEDATA, resp);
	if (body) {
		curl_easy_setopt(h->c, CURLOPT_POST, 1L);
		curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->headers_json);
	} else {
		curl_easy_setopt(h->c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->headers);
	}
	curl_easy_setopt(h->c, CURLOPT_CUSTOMREQUEST, strcmp(method, body ? "POST" : "GET") ?
							       method : NULL);
	t0 = tvb_now();
	rc = curl_easy_perform(h->c);
	if (seconds)
		*seconds = tvb_now() - t0;
	if (rc != CURLE_OK) {
		tvb_note("%s %s: %s", method, path, curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
	if (resp && !resp->p)
		S_collect("", 0, 0, resp); /* an empty body is still a string */
	return status;
}

/* Run tlsvaultd with args; its stdout into *out (malloc'd). Exit status. */
static int S_run(const struct tvb_cfg *cfg, char **out, const char *const *args)
{
	int fds[2], status = -1;
	struct tvb_buf b = { 0 };
	char chunk[4096];
	ssize_t n;
	pid_t pid;

	if (pipe(fds) != 0)
		tvb_die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tvb_die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(cfg->tlsvaultd, (char *const *)args);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
		S_collect(chunk, 1, (size_t)n, &b);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (!b.p)
		S_collect("", 0, 0, &b);
	*out = b.p;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void S_copy(char *dst, size_t size, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (!v)
		tvb_die("tlsvaultd init printed no %s", key);
	snprintf(dst, size, "%s", v);
}

void tvb_server_init(struct tvb_server *s, const struct tvb_cfg *cfg, const char *dir)
{
	char *out = NULL;
	json_t *j;
	int rc;

	memset(s, 0, sizeof(*s));
	if (dir) {
		snprintf(s->dir, sizeof(s->dir), "%s", dir);
	} else {
		snprintf(s->dir, sizeof(s->dir), "%s/vault-XXXXXX", cfg->tmp_root);
		if (!mkdtemp(s->dir))
			tvb_die("mkdtemp: %s", strerror(errno));
	}
	snprintf(s->log_path, sizeof(s->log_path), "%s/serve.log", s->dir);
	{
		const char *args[] = { cfg->tlsvaultd, "init", "--data", s->dir, NULL };
		rc = S_run(cfg, &out, args);
	}
	if (rc != 0)
		tvb_die("tlsvaultd init --data %s failed (status %d)", s->dir, rc);
	j = json_loads(out, 0, NULL);
	if (!j)
		tvb_die("tlsvaultd init printed no JSON");
	S_copy(s->tenant_id, sizeof(s->tenant_id), j, "tenantId");
	S_copy(s->api_key, sizeof(s->api_key), j, "apiKey");
	S_copy(s->edge_id, sizeof(s->edge_id), j, "edgeInstanceId");
	S_copy(s->key_id, sizeof(s->key_id), j, "encryptionKeyId");
	json_decref(j);
	sodium_memzero(out, strlen(out)); /* it held the API key */
	free(out);
}

/* Whether this tlsvaultd's serve takes --rate (the per-tenant rate limit,
 * which a benchmark must switch off). */
static bool S_has_rate_flag(const struct tvb_cfg *cfg)
{
	static int known = -1;
	const char *args[] = { cfg->tlsvaultd, "serve", "--help", NULL };
	char *out = NULL;

	if (known < 0) {
		if (S_run(cfg, &out, args) != 0)
			tvb_die("tlsvaultd serve --help failed");
		known = strstr(out, "--rate") != NULL;
		free(out);
	}
	return known == 1;
}

static int S_wait_port(struct tvb_server *s)
{
	double deadline = tvb_now() + S_START_DEADLINE_S;
	int status;

	while (tvb_now() < deadline) {
		char *log = (char *)tvb_read_file(s->log_path, NULL);
		char *p = log ? strstr(log, "\"msg\":\"listening\"") : NULL;

		if (p && (p = strstr(p, "\"port\":"))) {
			int port = atoi(p + 7);

			free(log);
			return port;
		}
		free(log);
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			S_live_set(s->pid, 0);
			s->pid = 0;
			return -1;
		}
		usleep(10000); /* poll interval while the server starts */
	}
	return -1;
}

void tvb_server_start(struct tvb_server *s, const struct tvb_cfg *cfg)
{
	char workers[16];
	const char *args[16] = { cfg->tlsvaultd, "serve",   "--data",  s->dir,
				 "--listen",     "127.0.0.1:0", "--workers", workers };
	size_t n = 8;
	int fd;

	snprintf(workers, sizeof(workers), "%u", cfg->cores);
	if (S_has_rate_flag(cfg)) {
		args[n++] = "--rate";
		args[n++] = "0";
	}
	args[n] = NULL;
	fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		tvb_die("cannot create %s: %s", s->log_path, strerror(errno));
	s->pid = fork();
	if (s->pid < 0)
		tvb_die("fork: %s", strerror(errno));
	if (s->pid == 0) {
		/* never outlive the bench, however it ends */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		dup2(fd, 2);
		close(fd);
		execv(cfg->tlsvaultd, (char *const *)args);
		_exit(127);
	}
	S_live_set(0, s->pid);
	close(fd);
	s->port = S_wait_port(s);
	if (s->port <= 0)
		tvb_die("tlsvaultd serve did not start; see %s", s->log_path);
}

void tvb_server_stop(struct tvb_server *s)
{
	double deadline = tvb_now() + S_STOP_DEADLINE_S;
	int status = 0;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (tvb_now() > deadline) {
			tvb_note("tlsvaultd (pid %ld) did not stop in %.0f s; killing it",
				 (long)s->pid, S_STOP_DEADLINE_S);
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		usleep(10000); /* poll interval while the server drains */
	}
	S_live_set(s->pid, 0);
	s->pid = 0;
}

void tvb_server_cleanup(struct tvb_server *s, bool keep)
{
	tvb_server_stop(s);
	if (!keep && s->dir[0])
		tvb_rmtree(s->dir);
	sodium_memzero(s->api_key, sizeof(s->api_key));
}

void tvb_server_fetch_dek(struct tvb_server *s, struct tvb_http *h)
{
	struct tvb_buf b = { 0 };
	json_t *j, *k;
	size_t n = 0;
	const char *key;

	if (tvb_http(h, "GET", "/v1/edgeencryptionkeys", NULL, 0, &b, NULL) != 200)
		tvb_die("GET /v1/edgeencryptionkeys failed");
	j = json_loads(b.p, 0, NULL);
	k = json_array_get(json_object_get(j, "encryptionKeys"), 0);
	key = json_string_value(json_object_get(k, "key"));
	if (!key || tv_b64_decode_to(s->dek_pk, sizeof(s->dek_pk), &n, key, strlen(key)) ||
	    n != sizeof(s->dek_pk))
		tvb_die("the server served no DEK public key");
	json_decref(j);
	tvb_buf_free(&b);
}

void tvb_server_trust(struct tvb_http *h, const char *pem)
{
	json_t *body = json_pack("{s:[s]}", "encodedCertificates", pem);
	char *text = json_dumps(body, JSON_COMPACT);
	long status;

	if (!text)
		tvb_die("out of memory");
	status = tvb_http(h, "POST", "/v1/trustedcacertificates", text, strlen(text), NULL, NULL);
	if (status != 201)
		tvb_die("uploading the trusted root gave HTTP %ld", status);
	free(text);
	json_decref(body);
}

double tvb_vmhwm_mib(pid_t pid)
{
	char path[64], line[256];
	double kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kib = strtod(line + 6, NULL);
	if (f)
		fclose(f);
	return kib < 0 ? -1 : kib / 1024.0;
}

/* CPU time of one thread in ms: the scheduler's sum_exec_runtime (us
 * resolution) where the kernel shows it, else utime + stime in ticks. */
static double S_thread_cpu_ms(pid_t pid, const char *tid)
{
	char path[400], line[256];
	double ms = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%s/sched", (long)pid, tid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "se.sum_exec_runtime", 19) && colon)
			ms = strtod(colon + 1, NULL);
	}
	if (f)
		fclose(f);
	if (ms >= 0)
		return ms;
	snprintf(path, sizeof(path), "/proc/%ld/task/%s/stat", (long)pid, tid);
	f = fopen(path, "r");
	if (f && fgets(line, sizeof(line), f)) {
		/* fields after the ")" that ends comm: state is 3, utime 14, stime 15 */
		char *p = strrchr(line, ')');
		unsigned long ut = 0, st = 0;

		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				&st) == 2)
			ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
	}
	if (f)
		fclose(f);
	return ms < 0 ? 0 : ms;
}

double tvb_threads_cpu_ms(pid_t pid, const char *comm_prefix)
{
	char path[96], comm[64], cpath[400];
	struct dirent *e;
	double total = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(cpath, sizeof(cpath), "%s/%s/comm", path, e->d_name);
		f = fopen(cpath, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, comm_prefix, strlen(comm_prefix)))
			total += S_thread_cpu_ms(pid, e->d_name);
		fclose(f);
	}
	closedir(d);
	return total;
}

char *tvb_import_body(const struct tvb_server *s, const struct tvb_corpus *c, size_t from,
		      size_t n, const unsigned char *seal_pk, size_t *len)
{
	const unsigned char *pk = seal_pk ? seal_pk : s->dek_pk;
	json_t *items = json_array(), *body;
	char *text;
	size_t i;

	for (i = from; i < from + n; i++) {
		const struct tvb_keystore *ks = &c->ks[i % c->n];
		size_t pwlen = strlen(ks->password);
		unsigned char sealed[64 + crypto_box_SEALBYTES];
		char *ks_b64 = NULL, *pw_b64 = NULL;

		if (pwlen > 64 || crypto_box_seal(sealed, (const unsigned char *)ks->password, pwlen,
						  pk) != 0 ||
		    tv_b64_encode(&ks_b64, ks->der, ks->len, false) ||
		    tv_b64_encode(&pw_b64, sealed, pwlen + crypto_box_SEALBYTES, false))
			tvb_die("cannot encode item %zu", i);
		json_array_append_new(items, json_pack("{s:s,s:s}", "pkcs12Keystore", ks_b64,
						       "dekEncryptedPassword", pw_b64));
		free(ks_b64);
		free(pw_b64);
	}
	body = json_pack("{s:s,s:s,s:o}", "edgeInstanceId", s->edge_id, "encryptionKeyId",
			 s->key_id, "importInformation", items);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		tvb_die("out of memory");
	*len = strlen(text);
	return text;
}

char *tvb_post_job(struct tvb_http *h, const char *body, size_t len, double *seconds)
{
	struct tvb_buf b = { 0 };
	const char *id;
	char *out;
	json_t *j;
	long status;

	status = tvb_http(h, "POST", "/outagedetection/v1/certificates/imports", body, len, &b,
			  seconds);
	if (status != 201)
		tvb_die("posting an import job gave HTTP %ld: %.300s", status, b.p ? b.p : "");
	j = json_loads(b.p, 0, NULL);
	id = json_string_value(json_object_get(j, "id"));
	if (!id || !(out = strdup(id)))
		tvb_die("the 201 of an import job carries no id");
	json_decref(j);
	tvb_buf_free(&b);
	return out;
}

/* Every result IMPORTED, as many as expected; dies naming the first that isn't. */
static void S_check_results(json_t *job, const char *job_id, size_t expected, char *cert_id,
			    size_t cert_id_size)
{
	json_t *results = json_object_get(job, "results"), *r;
	size_t i;

	if (json_array_size(results) != expected)
		tvb_die("job %s has %zu results, expected %zu", job_id, json_array_size(results),
			expected);
	json_array_foreach(results, i, r) {
		const char *st = json_string_value(json_object_get(r, "status"));
		const char *why = json_string_value(json_object_get(r, "reason"));

		if (!st || strcmp(st, "IMPORTED"))
			tvb_die("job %s item %lld is %s, not IMPORTED: %s (a bench that measures "
				"failures is worthless)",
				job_id, (long long)json_integer_value(json_object_get(r, "itemIndex")),
				st ? st : "?", why ? why : "");
	}
	if (cert_id) {
		const char *id = json_string_value(
			json_object_get(json_array_get(results, 0), "certificateId"));

		snprintf(cert_id, cert_id_size, "%s", id ? id : "");
	}
}

void tvb_wait_job(struct tvb_http *h, const char *job_id, size_t expected, char *cert_id,
		  size_t cert_id_size)
{
	double deadline = tvb_now() + S_JOB_DEADLINE_S;
	struct tvb_buf b = { 0 };
	char path[256];

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s?waitSeconds=60",
		 job_id);
	for (;;) {
		json_t *j;
		const char *st;
		long status = tvb_http(h, "GET", path, NULL, 0, &b, NULL);

		if (status != 200)
			tvb_die("GET import job %s gave HTTP %ld", job_id, status);
		j = json_loads(b.p, 0, NULL);
		st = json_string_value(json_object_get(j, "status"));
		if (!st)
			tvb_die("import job %s has no status", job_id);
		if (!strcmp(st, "COMPLETED") || !strcmp(st, "FAILED")) {
			S_check_results(j, job_id, expected, cert_id, cert_id_size);
			json_decref(j);
			break;
		}
		json_decref(j);
		if (tvb_now() > deadline)
			tvb_die("import job %s not final after %.0f s", job_id, S_JOB_DEADLINE_S);
	}
	tvb_buf_free(&b);
}
