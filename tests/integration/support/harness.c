/*
 * DESIGN: the server is a child process started with fork/exec, exactly as
 * an operator would run it, so the tests cover argument parsing, signals and
 * the log too. The port comes from the server's own "listening" log line
 * (it binds port 0), so tests can run in parallel without port clashes.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

static void S_copy(char *dst, size_t size, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	assert_non_null(v);
	snprintf(dst, size, "%s", v);
}

int tvh_run(char **out, const char *const *args)
{
	int pipefd[2], status = -1;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	pid_t pid;
	ssize_t n;

	assert_non_null(buf);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(TVD_PATH, (char *const *)args);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void tvh_init(struct tvh_server *s)
{
	tvh_init_db(s, NULL);
}

void tvh_init_db(struct tvh_server *s, const char *db)
{
	char *out = NULL;
	json_t *j;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/tlsvault-it-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->log_path, sizeof(s->log_path), "%s/serve.log", s->dir);
	if (db)
		snprintf(s->db, sizeof(s->db), "%s", db);
	{
		const char *args[] = { TVD_PATH, "init", "--data", s->dir, db ? "--db" : NULL, db,
				       NULL };
		assert_int_equal(tvh_run(&out, args), 0);
	}
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	S_copy(s->tenant_id, sizeof(s->tenant_id), j, "tenantId");
	S_copy(s->api_key, sizeof(s->api_key), j, "apiKey");
	S_copy(s->edge_id, sizeof(s->edge_id), j, "edgeInstanceId");
	S_copy(s->key_id, sizeof(s->key_id), j, "encryptionKeyId");
	json_decref(j);
	free(out);
}

/* Find the port in the server's "listening" log line, polling to a deadline. */
static int S_wait_port(struct tvh_server *s)
{
	int64_t deadline = tv_mono_ms() + 20000 * tvh_time_scale();

	while (tv_mono_ms() < deadline) {
		char *log = tvh_read_file(s->log_path, NULL);
		char *p = log ? strstr(log, "\"msg\":\"listening\"") : NULL;
		int status;

		if (p && (p = strstr(p, "\"port\":"))) {
			int port = atoi(p + 7);
			free(log);
			return port;
		}
		free(log);
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return -1; /* it exited */
		}
		usleep(10000); /* poll interval, not a wait-for-event */
	}
	return -1;
}

double tvh_time_scale(void)
{
	const char *v = getenv("TV_TEST_TIME_SCALE");
	double d = v ? atof(v) : 1.0;

	return d >= 1.0 ? d : 1.0;
}

void tvh_start(struct tvh_server *s, const char *const *extra)
{
	const char *args[64];
	char *wrapper = getenv("TVH_SERVER_WRAPPER") ? strdup(getenv("TVH_SERVER_WRAPPER")) : NULL;
	char *save = NULL, *w;
	size_t n = 0;
	int fd;

	/* TVH_SERVER_WRAPPER: a command the server runs under (valgrind) */
	for (w = wrapper ? strtok_r(wrapper, " ", &save) : NULL; w && n < 24;
	     w = strtok_r(NULL, " ", &save))
		args[n++] = w;
	args[n++] = TVD_PATH;
	args[n++] = "serve";
	args[n++] = "--data";
	args[n++] = s->dir;
	args[n++] = "--listen";
	args[n++] = "127.0.0.1:0";
	if (s->db[0]) {
		args[n++] = "--db";
		args[n++] = s->db;
	}
	while (extra && *extra && n < 63)
		args[n++] = *extra++;
	args[n] = NULL;
	fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		dup2(fd, 2);
		close(fd);
		execvp(args[0], (char *const *)args);
		_exit(127);
	}
	free(wrapper);
	close(fd);
	s->port = S_wait_port(s);
	assert_true(s->port > 0);
}

int tvh_stop(struct tvh_server *s, int sig)
{
	int status = 0;
	int64_t deadline = tv_mono_ms() + 20000 * tvh_time_scale();

	if (s->pid <= 0)
		return -1;
	kill(s->pid, sig ? sig : SIGTERM);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (tv_mono_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = 0;
			fail_msg("server did not stop within 20 s");
		}
		usleep(10000);
	}
	s->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void tvh_cleanup(struct tvh_server *s)
{
	char cmd[400];

	if (s->pid > 0)
		tvh_stop(s, SIGKILL);
	if (s->dir[0] && !strncmp(s->dir, "/tmp/tlsvault-it-", 17)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", s->dir);
	}
}

static size_t S_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct tvh_resp *r = userdata;
	size_t n = size * nmemb;
	char *p = realloc(r->body, r->len + n + 1);

	if (!p)
		return 0;
	r->body = p;
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static void S_header_value(char *dst, size_t size, const char *line, size_t n,
			   const char *name)
{
	size_t nl = strlen(name);

	if (n > nl + 1 && !strncasecmp(line, name, nl) && line[nl] == ':') {
		const char *v = line + nl + 1;
		size_t vl = n - nl - 1;
		while (vl && (*v == ' '))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		if (vl >= size)
			vl = size - 1;
		memcpy(dst, v, vl);
		dst[vl] = '\0';
	}
}

static size_t S_header(char *line, size_t size, size_t nitems, void *userdata)
{
	struct tvh_resp *r = userdata;
	size_t n = size * nitems;
	size_t have = r->headers ? strlen(r->headers) : 0;
	char *all = realloc(r->headers, have + n + 1);

	if (!all)
		return 0;
	memcpy(all + have, line, n);
	all[have + n] = '\0';
	r->headers = all;
	S_header_value(r->request_id, sizeof(r->request_id), line, n, "X-Request-Id");
	S_header_value(r->allow, sizeof(r->allow), line, n, "Allow");
	S_header_value(r->retry_after, sizeof(r->retry_after), line, n, "Retry-After");
	S_header_value(r->content_type, sizeof(r->content_type), line, n, "Content-Type");
	S_header_value(r->content_disposition, sizeof(r->content_disposition), line, n,
		       "Content-Disposition");
	return n;
}

void tvh_request(struct tvh_resp *r, const struct tvh_server *s, const char *method,
		 const char *path, const char *key, const char *body, size_t body_len,
		 const char *extra_header)
{
	struct curl_slist *h = NULL;
	char url[512], auth[128];
	CURL *c = curl_easy_init();

	assert_non_null(c);
	memset(r, 0, sizeof(*r));
	if (s->cacert) {
		snprintf(url, sizeof(url), "https://localhost:%d%s", s->port, path);
		curl_easy_setopt(c, CURLOPT_CAINFO, s->cacert);
	} else {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, S_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, S_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (key) {
		snprintf(auth, sizeof(auth), "tppl-api-key: %s", key);
		h = curl_slist_append(h, auth);
	}
	if (extra_header)
		h = curl_slist_append(h, extra_header);
	if (body) {
		if (!extra_header || strncasecmp(extra_header, "Content-Type:", 13))
			h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (!extra_header || strncasecmp(extra_header, "Expect:", 7))
		h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body)
		r->json = json_loadb(r->body, r->len, 0, NULL);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

void tvh_resp_free(struct tvh_resp *r)
{
	json_decref(r->json);
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

const char *tvh_header(const struct tvh_resp *r, const char *name, char *out, size_t size)
{
	const char *line = r->headers;

	out[0] = '\0';
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line + 1) : strlen(line);

		S_header_value(out, size, line, n, name);
		if (out[0])
			return out;
		line += n;
	}
	return NULL;
}

int tvh_error_code(const struct tvh_resp *r)
{
	json_t *e = json_array_get(json_object_get(r->json, "errors"), 0);

	return e ? (int)json_integer_value(json_object_get(e, "code")) : -1;
}

char *tvh_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

bool tvh_file_contains(const char *path, const void *needle, size_t nlen)
{
	size_t len;
	char *buf = tvh_read_file(path, &len);
	bool found = buf && memmem(buf, len, needle, nlen) != NULL;

	free(buf);
	return found;
}
