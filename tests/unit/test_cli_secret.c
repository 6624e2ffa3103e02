/* tv-test-libs: tv_cli */
/*
 * test_cli_secret.c - where the CLI's passwords come from (cli/secret.h):
 * one line from a file descriptor or a file, and an environment variable
 * that is wiped and unset once read. The terminal prompt is covered by
 * tests/integration/test_cli.c (it needs a tty).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/secret.h"

/* A pipe holding data[0..len), closed for writing; returns the read end. */
static int S_pipe_with(const void *data, size_t len)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	assert_true(len < 65536); /* fits the pipe buffer */
	assert_int_equal(write(fds[1], data, len), (ssize_t)len);
	close(fds[1]);
	return fds[0];
}

/* The secret read from a pipe holding text, compared with want. */
static void S_line(const char *text, const char *want)
{
	struct tv_secbuf *s = NULL;
	int fd = S_pipe_with(text, strlen(text));

	assert_int_equal(tv_cli_secret_fd(&s, fd), TV_OK);
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->p, want, s->len);
	assert_int_equal(s->p[s->len], 0); /* usable as a C string */
	tv_secbuf_free(s);
	close(fd);
}

static void test_fd_lines(void **state)
{
	(void)state;
	S_line("hunter2\n", "hunter2");
	S_line("hunter2\r\nsecond line\n", "hunter2");
	S_line("no newline at the end", "no newline at the end");
	S_line("\n", "");
	S_line("", "");
	S_line("p\xc3\xa4ss w\xc3\xb6rd\n", "p\xc3\xa4ss w\xc3\xb6rd");
}

/* Only the first line is consumed: what follows stays for the next reader. */
static void test_fd_reads_one_line_only(void **state)
{
	struct tv_secbuf *a = NULL, *b = NULL;
	int fd = S_pipe_with("one\ntwo\n", 8);

	(void)state;
	assert_int_equal(tv_cli_secret_fd(&a, fd), TV_OK);
	assert_int_equal(tv_cli_secret_fd(&b, fd), TV_OK);
	assert_memory_equal(a->p, "one", 3);
	assert_memory_equal(b->p, "two", 3);
	tv_secbuf_free(a);
	tv_secbuf_free(b);
	close(fd);
}

static void test_fd_limit(void **state)
{
	char *text = malloc(TV_CLI_MAX_SECRET + 3);
	struct tv_secbuf *s = NULL;
	int fd;

	(void)state;
	assert_non_null(text);
	memset(text, 'x', TV_CLI_MAX_SECRET + 2);
	/* exactly TV_CLI_MAX_SECRET bytes and a newline: accepted */
	text[TV_CLI_MAX_SECRET] = '\n';
	fd = S_pipe_with(text, TV_CLI_MAX_SECRET + 1);
	assert_int_equal(tv_cli_secret_fd(&s, fd), TV_OK);
	assert_int_equal(s->len, TV_CLI_MAX_SECRET);
	tv_secbuf_free(s);
	s = NULL;
	close(fd);
	/* one byte more: refused, and nothing is returned */
	text[TV_CLI_MAX_SECRET] = 'x';
	text[TV_CLI_MAX_SECRET + 1] = '\n';
	fd = S_pipe_with(text, TV_CLI_MAX_SECRET + 2);
	assert_int_equal(tv_cli_secret_fd(&s, fd), TV_ERR_TOO_LARGE);
	assert_null(s);
	close(fd);
	free(text);
}

static void test_file(void **state)
{
	char path[] = "/tmp/tv-secret-XXXXXX";
	struct tv_secbuf *s = NULL;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "from a file\nignored\n", 20), 20);
	close(fd);
	assert_int_equal(tv_cli_secret_file(&s, path), TV_OK);
	assert_int_equal(s->len, 11);
	assert_memory_equal(s->p, "from a file", 11);
	tv_secbuf_free(s);
	s = NULL;
	unlink(path);
	assert_int_equal(tv_cli_secret_file(&s, path), TV_ERR_IO);
	assert_null(s);
}

static void test_env_wiped_and_unset(void **state)
{
	struct tv_secbuf *s = NULL;
	char *v;

	(void)state;
	assert_int_equal(setenv("TV_TEST_SECRET", "sesame", 1), 0);
	v = getenv("TV_TEST_SECRET");
	assert_int_equal(tv_cli_secret_env(&s, "TV_TEST_SECRET"), TV_OK);
	assert_int_equal(s->len, 6);
	assert_memory_equal(s->p, "sesame", 6);
	assert_null(getenv("TV_TEST_SECRET"));
	/* glibc's setenv string is owned by the environment; it was wiped in
	 * place before unsetenv, which never frees it */
	assert_int_equal(v[0], '\0');
	tv_secbuf_free(s);
	s = NULL;
	assert_int_equal(tv_cli_secret_env(&s, "TV_TEST_SECRET"), TV_ERR_NOT_FOUND);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_lines),
		cmocka_unit_test(test_fd_reads_one_line_only),
		cmocka_unit_test(test_fd_limit),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_env_wiped_and_unset),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
