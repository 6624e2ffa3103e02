/* tv-test-libs: tv_cli */
/*
 * test_cli_config.c - where the CLI finds its server and key
 * (cli/config.h): the precedence, the config file's mode check, and that
 * the key's copies in argv and in the environment are erased once read.
 * HOME points at a private temporary directory for every test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/config.h"

#define S_KEY "3f0b8c2e-5a61-4d7e-9b2a-1c9e7f4d2a10"

static char g_home[64];

static int S_setup(void **state)
{
	(void)state;
	snprintf(g_home, sizeof(g_home), "/tmp/tv-cfg-XXXXXX");
	if (!mkdtemp(g_home))
		return -1;
	unsetenv("TLSVAULT_URL");
	unsetenv("TLSVAULT_API_KEY");
	return setenv("HOME", g_home, 1);
}

static int S_teardown(void **state)
{
	char path[160];

	(void)state;
	snprintf(path, sizeof(path), "%s/.config/tlsvault/config", g_home);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.config/tlsvault", g_home);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/.config", g_home);
	rmdir(path);
	rmdir(g_home);
	return 0;
}

/* $HOME/.config/tlsvault/config with text, at mode. */
static void S_config_file(const char *text, mode_t mode)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/.config", g_home);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.config/tlsvault", g_home);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.config/tlsvault/config", g_home);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static bool S_all_zero(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* --api-key: copied, then erased from argv. */
static void test_key_option_erased(void **state)
{
	struct tv_cli_config cfg = { 0 };
	char arg[] = S_KEY, err[256];

	(void)state;
	assert_int_equal(tv_cli_config_load(&cfg, NULL, arg, err, sizeof(err)), TV_OK);
	assert_string_equal(cfg.api_key, S_KEY);
	assert_string_equal(cfg.url, TV_CLI_DEFAULT_URL);
	assert_true(S_all_zero(arg, sizeof(arg)));
	tv_cli_config_release(&cfg);
	assert_null(cfg.api_key);
}

/* TLSVAULT_API_KEY: copied, then wiped and unset. */
static void test_key_env_erased(void **state)
{
	struct tv_cli_config cfg = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(setenv("TLSVAULT_API_KEY", S_KEY, 1), 0);
	assert_int_equal(setenv("TLSVAULT_URL", "http://127.0.0.1:9", 1), 0);
	assert_int_equal(tv_cli_config_load(&cfg, NULL, NULL, err, sizeof(err)), TV_OK);
	assert_string_equal(cfg.api_key, S_KEY);
	assert_string_equal(cfg.url, "http://127.0.0.1:9");
	assert_null(getenv("TLSVAULT_API_KEY"));
	assert_non_null(getenv("TLSVAULT_URL")); /* not a secret: left alone */
	unsetenv("TLSVAULT_URL");
	tv_cli_config_release(&cfg);
}

/* The option wins over the environment, and both copies go. */
static void test_option_wins(void **state)
{
	struct tv_cli_config cfg = { 0 };
	char arg[] = "option-key", err[256];

	(void)state;
	assert_int_equal(setenv("TLSVAULT_API_KEY", S_KEY, 1), 0);
	assert_int_equal(tv_cli_config_load(&cfg, "http://h:1", arg, err, sizeof(err)), TV_OK);
	assert_string_equal(cfg.api_key, "option-key");
	assert_string_equal(cfg.url, "http://h:1");
	assert_true(S_all_zero(arg, sizeof(arg)));
	assert_null(getenv("TLSVAULT_API_KEY"));
	tv_cli_config_release(&cfg);
}

/* The file fills what is missing; a file others can read is refused, and
 * the key given on the command line is erased all the same. */
static void test_config_file(void **state)
{
	struct tv_cli_config cfg = { 0 };
	char arg[] = S_KEY, err[256];

	(void)state;
	S_config_file("# comment\nurl = https://vault.example:8443\napi_key=file-key\n", 0600);
	assert_int_equal(tv_cli_config_load(&cfg, NULL, NULL, err, sizeof(err)), TV_OK);
	assert_string_equal(cfg.url, "https://vault.example:8443");
	assert_string_equal(cfg.api_key, "file-key");
	tv_cli_config_release(&cfg);

	S_config_file("api_key=file-key\n", 0640);
	assert_int_equal(tv_cli_config_load(&cfg, NULL, arg, err, sizeof(err)), TV_ERR_DENIED);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(cfg.api_key);
	assert_true(S_all_zero(arg, sizeof(arg)));

	S_config_file("api_key\n", 0600);
	assert_int_equal(tv_cli_config_load(&cfg, NULL, NULL, err, sizeof(err)), TV_ERR_INVALID);
	assert_non_null(strstr(err, "line 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_option_erased, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_key_env_erased, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_option_wins, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_config_file, S_setup, S_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
