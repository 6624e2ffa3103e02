/*
 * test_config.c - a real `tlsvaultd serve` reads its config file: a limit
 * set in the file is enforced, TLSVAULT_* beats the file and a flag beats
 * both (max-body, whose excess is a 413 with code 10105 before anything
 * else looks at the body); TLSVAULT_CONFIG names the file; a bad file stops
 * the server with exit 2. The parsing itself is in tests/unit/test_serve_opts.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"
#include "harness.h"

/* 2,000 bytes of JSON: over a max-body of 1024, under 4096. */
static char S_body[2001];

static void S_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* POST the 2,000-byte body; returns the status (413 when over max-body). */
static long S_post(const struct tvh_server *s)
{
	struct tvh_resp r;
	long status;

	tvh_request(&r, s, "POST", "/v1/apikeys", s->api_key, S_body, strlen(S_body), NULL);
	status = r.status;
	if (status == 413)
		assert_int_equal(tvh_error_code(&r), 10105);
	tvh_resp_free(&r);
	return status;
}

static void test_file_env_flag(void **state)
{
	struct tvh_server s;
	char conf[300];
	const char *with_file[] = { "--config", conf, NULL };
	const char *with_flag[] = { "--config", conf, "--max-body", "1024", NULL };

	(void)state;
	tvh_init(&s);
	snprintf(conf, sizeof(conf), "%s/tlsvaultd.conf", s.dir);
	S_write(conf, "# test\nmax-body = 1024\nrate = 0\n");

	/* the file's limit holds */
	tvh_start(&s, with_file);
	assert_int_equal(S_post(&s), 413);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);

	/* the variable beats the file */
	setenv("TLSVAULT_MAX_BODY", "4096", 1);
	tvh_start(&s, with_file);
	assert_int_not_equal(S_post(&s), 413);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);

	/* the flag beats the variable */
	tvh_start(&s, with_flag);
	assert_int_equal(S_post(&s), 413);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	unsetenv("TLSVAULT_MAX_BODY");

	/* TLSVAULT_CONFIG names the file */
	setenv("TLSVAULT_CONFIG", conf, 1);
	tvh_start(&s, NULL);
	assert_int_equal(S_post(&s), 413);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	unsetenv("TLSVAULT_CONFIG");
	tvh_cleanup(&s);
}

static void test_bad_file_stops_the_server(void **state)
{
	struct tvh_server s;
	char conf[300], missing[300];
	const char *bad[] = { TVD_PATH, "serve", "--data", s.dir, "--listen", "127.0.0.1:0",
			      "--config", conf, NULL };
	const char *gone[] = { TVD_PATH, "serve", "--data", s.dir, "--listen", "127.0.0.1:0",
			       "--config", missing, NULL };

	(void)state;
	tvh_init(&s);
	snprintf(conf, sizeof(conf), "%s/bad.conf", s.dir);
	snprintf(missing, sizeof(missing), "%s/missing.conf", s.dir);
	S_write(conf, "listen = 127.0.0.1:0\nmax-bodyy = 1024\n");
	assert_int_equal(tvh_run(NULL, bad), 2);
	S_write(conf, "max-body = 12\n");
	assert_int_equal(tvh_run(NULL, bad), 2);
	S_write(conf, "rate = 1\nrate = 2\n");
	assert_int_equal(tvh_run(NULL, bad), 2);
	assert_int_equal(tvh_run(NULL, gone), 2);
	tvh_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_env_flag),
		cmocka_unit_test(test_bad_file_stops_the_server),
	};

	memset(S_body, ' ', sizeof(S_body) - 1);
	S_body[0] = '{';
	S_body[sizeof(S_body) - 2] = '}';
	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("integration/config", tests, NULL, NULL);
}
