/* DESIGN: see rawhttp.h. One poll() loop with a deadline serves every read. */
#define _GNU_SOURCE
#include "rawhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

int tvh_raw_connect(const struct tvh_server *s)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect to port %d: %s", s->port, strerror(errno));
	return fd;
}

bool tvh_raw_send(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		c += k;
		n -= (size_t)k;
	}
	return true;
}

bool tvh_raw_send_str(int fd, const char *s)
{
	return tvh_raw_send(fd, s, strlen(s));
}

/* Wait for fd to be readable until deadline; false on timeout. */
static bool S_wait_readable(int fd, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int64_t left = deadline - tv_mono_ms();
	int rc;

	if (left < 0)
		left = 0;
	do
		rc = poll(&pfd, 1, (int)left);
	while (rc < 0 && errno == EINTR);
	return rc > 0;
}

bool tvh_raw_wait_closed(int fd, int timeout_ms)
{
	int64_t deadline = tv_mono_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		ssize_t k;

		if (!S_wait_readable(fd, deadline))
			return false;
		k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			return true; /* EOF, or reset */
	}
}

/* The Content-Length of a head, or -1. */
static long S_content_length(const char *head)
{
	const char *p = head;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (!strncasecmp(p, "Content-Length:", 15))
			return strtol(p + 15, NULL, 10);
	}
	return -1;
}

static void S_parse(struct tvh_raw *r, const char *buf, size_t len, size_t head_len)
{
	json_t *e;

	r->head = strndup(buf, head_len);
	assert_non_null(r->head);
	if (sscanf(r->head, "HTTP/1.%*d %ld", &r->status) != 1)
		r->status = 0;
	r->body_len = len - head_len - 4;
	r->body = malloc(r->body_len + 1);
	assert_non_null(r->body);
	memcpy(r->body, buf + head_len + 4, r->body_len);
	r->body[r->body_len] = '\0';
	r->json = json_loadb(r->body, r->body_len, 0, NULL);
	e = json_array_get(json_object_get(r->json, "errors"), 0);
	r->code = e ? (int)json_integer_value(json_object_get(e, "code")) : -1;
}

void tvh_raw_read(struct tvh_raw *r, int fd, int timeout_ms)
{
	int64_t start = tv_mono_ms(), deadline = start + timeout_ms;
	size_t len = 0, cap = 65536, head_len = 0;
	char *buf = malloc(cap + 1), *end;
	bool eof = false;
	long want = -1;

	assert_non_null(buf);
	memset(r, 0, sizeof(*r));
	r->code = -1;
	for (;;) {
		ssize_t k;

		if (head_len && want >= 0 && len >= head_len + 4 + (size_t)want)
			break;
		if (!S_wait_readable(fd, deadline))
			break;
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		k = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0) {
			eof = true;
			break;
		}
		len += (size_t)k;
		buf[len] = '\0';
		if (!head_len && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			head_len = (size_t)(end - buf);
			buf[head_len] = '\0';
			want = S_content_length(buf);
			buf[head_len] = '\r';
		}
	}
	r->ms = tv_mono_ms() - start;
	if (head_len && (eof || want < 0 || len >= head_len + 4 + (size_t)want)) {
		if (want >= 0 && len > head_len + 4 + (size_t)want)
			len = head_len + 4 + (size_t)want;
		S_parse(r, buf, len, head_len);
	}
	free(buf);
	if (eof)
		r->closed = true;
	else if (r->head && strcasestr(r->head, "Connection: close"))
		r->closed = tvh_raw_wait_closed(fd, 2000);
}

void tvh_raw_request(struct tvh_raw *r, const struct tvh_server *s, const void *req, size_t len,
                     int timeout_ms)
{
	int fd = tvh_raw_connect(s);

	if (!tvh_raw_send(fd, req, len))
		fail_msg("the server closed the connection while the request was sent");
	tvh_raw_read(r, fd, timeout_ms);
	close(fd);
}

bool tvh_raw_header(const struct tvh_raw *r, const char *name, char *out, size_t size)
{
	const char *p = r->head;
	size_t nl = strlen(name), vl;

	while (p && (p = strchr(p, '\n')) != NULL) {
		p++;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			vl = strcspn(p, "\r\n");
			if (vl >= size)
				vl = size - 1;
			memcpy(out, p, vl);
			out[vl] = '\0';
			return true;
		}
	}
	return false;
}

void tvh_raw_free(struct tvh_raw *r)
{
	json_decref(r->json);
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
