/*
 * DESIGN: there is deliberately no way to give a password on the command
 * line: argv is visible to every user in /proc. Secrets are read straight
 * into sodium_malloc memory (never a stack char[]), and only the sealed box
 * leaves this file, so a password can't reach a request, a log or the
 * terminal by accident.
 */
#include "cli/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/b64.h"
#include "dek/dek.h"

/*
 * Read up to the first line end (or EOF) of fd into a new secbuf. Bytes go
 * straight into sodium memory, one read(2) each (so nothing past the line
 * is consumed); no byte of the secret passes through the stack.
 */
static enum tv_err S_read_line(struct tv_secbuf **out, int fd)
{
	struct tv_secbuf *buf = NULL, *res = NULL;
	enum tv_err rc;
	size_t len = 0;
	ssize_t n;

	/* TV_CLI_MAX_SECRET + 1 bytes: room for the byte that ends the line */
	rc = tv_secbuf_new(&buf, TV_CLI_MAX_SECRET);
	if (rc)
		return rc;
	for (;;) {
		n = read(fd, buf->p + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = TV_ERR_IO;
			goto out;
		}
		if (n == 0 || buf->p[len] == '\n')
			break;
		if (len == TV_CLI_MAX_SECRET) {
			rc = TV_ERR_TOO_LARGE;
			goto out;
		}
		len++;
	}
	if (len && buf->p[len - 1] == '\r')
		len--;
	rc = tv_secbuf_dup(&res, buf->p, len);
	if (!rc)
		*out = res;
out:
	tv_secbuf_free(buf);
	return rc;
}

enum tv_err tv_cli_secret_file(struct tv_secbuf **out, const char *path)
{
	enum tv_err rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return TV_ERR_IO;
	rc = S_read_line(out, fd);
	close(fd);
	return rc;
}

enum tv_err tv_cli_secret_env(struct tv_secbuf **out, const char *var)
{
	char *v = getenv(var);
	enum tv_err rc;

	if (!v)
		return TV_ERR_NOT_FOUND;
	rc = tv_secbuf_dup(out, v, strlen(v));
	/* the copy in our environment (and /proc/self/environ) is not needed again */
	if (!rc) {
		tv_wipe(v, strlen(v));
		unsetenv(var);
	}
	return rc;
}

enum tv_err tv_cli_secret_fd(struct tv_secbuf **out, int fd)
{
	return S_read_line(out, fd);
}

static enum tv_err S_ask_once(struct tv_secbuf **out, int fd, const char *prompt)
{
	struct termios old, quiet;
	enum tv_err rc;

	if (write(fd, prompt, strlen(prompt)) < 0 || tcgetattr(fd, &old) != 0)
		return TV_ERR_IO;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
		return TV_ERR_IO;
	rc = S_read_line(out, fd);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		rc = rc ? rc : TV_ERR_IO;
	return rc;
}

enum tv_err tv_cli_secret_ask(struct tv_secbuf **out, const char *prompt, int confirm)
{
	struct tv_secbuf *a = NULL, *b = NULL;
	enum tv_err rc;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return TV_ERR_IO;
	rc = S_ask_once(&a, fd, prompt);
	if (rc)
		goto out;
	if (confirm) {
		rc = S_ask_once(&b, fd, "again: ");
		if (rc)
			goto out;
		if (a->len != b->len || sodium_memcmp(a->p, b->p, a->len) != 0) {
			rc = TV_ERR_INVALID;
			goto out;
		}
	}
	*out = a;
	a = NULL;
out:
	tv_secbuf_free(a);
	tv_secbuf_free(b);
	close(fd);
	return rc;
}

enum tv_err tv_cli_seal_b64(char **out, const void *secret, size_t len,
			    const unsigned char pk[32])
{
	unsigned char *sealed = malloc(len + TV_SEAL_OVERHEAD);
	enum tv_err rc;

	if (!sealed)
		return TV_ERR_NOMEM;
	rc = tv_seal(sealed, secret, len, pk);
	if (!rc)
		rc = tv_b64_encode(out, sealed, len + TV_SEAL_OVERHEAD, false);
	free(sealed);
	return rc;
}

enum tv_err tv_cli_pwmap_load(struct tv_cli_pwmap *map, const char *path, char *err,
			      size_t errlen)
{
	struct tv_cli_pwmap m = { 0 };
	struct tv_cli_pwmap_entry *grown;
	struct tv_secbuf *line = NULL;
	enum tv_err rc;
	unsigned lineno = 0;
	char *comma;
	size_t flen;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s'", path);
		return TV_ERR_IO;
	}
	for (;;) {
		rc = S_read_line(&line, fd);
		if (rc)
			goto out;
		lineno++;
		if (line->len == 0) {
			/* EOF or a blank line: peek whether anything follows */
			off_t here = lseek(fd, 0, SEEK_CUR), end = lseek(fd, 0, SEEK_END);

			if (here == end)
				break;
			lseek(fd, here, SEEK_SET);
			tv_secbuf_free(line);
			line = NULL;
			continue;
		}
		comma = memchr(line->p, ',', line->len);
		if (!comma) {
			snprintf(err, errlen, "'%s' line %u: expected file,password", path, lineno);
			rc = TV_ERR_INVALID;
			goto out;
		}
		flen = (size_t)(comma - (char *)line->p);
		grown = realloc(m.entries, (m.n + 1) * sizeof(*grown));
		if (!grown) {
			rc = TV_ERR_NOMEM;
			goto out;
		}
		m.entries = grown;
		m.entries[m.n].file = strndup((char *)line->p, flen);
		m.entries[m.n].password = NULL;
		m.n++;
		if (!m.entries[m.n - 1].file) {
			rc = TV_ERR_NOMEM;
			goto out;
		}
		rc = tv_secbuf_dup(&m.entries[m.n - 1].password, comma + 1, line->len - flen - 1);
		if (rc)
			goto out;
		tv_secbuf_free(line);
		line = NULL;
	}
	*map = m;
	m.entries = NULL;
	m.n = 0;
out:
	tv_secbuf_free(line);
	tv_cli_pwmap_release(&m);
	close(fd);
	return rc;
}

const struct tv_secbuf *tv_cli_pwmap_find(const struct tv_cli_pwmap *map, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t i, plen = strlen(path), elen;

	base = base ? base + 1 : path;
	for (i = 0; map && i < map->n; i++) {
		const char *e = map->entries[i].file;

		elen = strlen(e);
		if (!strcmp(e, path))
			return map->entries[i].password;
		if (plen > elen && path[plen - elen - 1] == '/' && !strcmp(path + plen - elen, e))
			return map->entries[i].password;
		if (!strchr(e, '/') && !strcmp(e, base))
			return map->entries[i].password;
	}
	return NULL;
}

void tv_cli_pwmap_release(struct tv_cli_pwmap *map)
{
	size_t i;

	for (i = 0; i < map->n; i++) {
		free(map->entries[i].file);
		tv_secbuf_free(map->entries[i].password);
	}
	free(map->entries);
	map->entries = NULL;
	map->n = 0;
}
