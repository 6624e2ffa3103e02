/* tv-test-libs: tv_core */
/*
 * test_serve_opts.c - the options of `tlsvaultd serve`
 * (src/cmd/tlsvaultd/serve_opts.c, compiled into this test): the config
 * file's syntax and errors (file and line named, values never echoed), the
 * precedence flag > environment > file > default, and that the man page
 * and the example config file cover every option of the tables, with the
 * tables' variables, ranges and defaults, so neither can drift from the
 * code. Each test runs in a private temporary directory, which also holds
 * the "default" config file.
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

static char g_dir[64];
static char g_default[128];

#define TV_SERVE_DEFAULT_CONFIG g_default
#include "cmd/tlsvaultd/serve_opts.c"

#define S_SECRET "s3cr3t-Pa55w0rd"

static void S_clear_env(void)
{
	size_t i;

	for (i = 0; i < S_N_TEXT; i++)
		unsetenv(S_texts[i].env);
	for (i = 0; i < S_N_SWITCH; i++)
		unsetenv(S_switches[i].env);
	for (i = 0; i < TV_SO_COUNT; i++)
		unsetenv(S_nums[i].env);
	unsetenv("TLSVAULT_CONFIG");
}

static int S_setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/tv-serveopts-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_default, sizeof(g_default), "%s/default.conf", g_dir);
	S_clear_env();
	return 0;
}

static int S_teardown(void **state)
{
	char cmd[160];

	(void)state;
	S_clear_env();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write name (in the test's directory) with mode; returns its path. */
static const char *S_write(const char *name, const char *text, size_t len, mode_t mode)
{
	static char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *S_mode(const char *name, const char *text, mode_t mode)
{
	return S_write(name, text, strlen(text), mode);
}

static const char *S_conf(const char *name, const char *text)
{
	return S_mode(name, text, 0600);
}

static char *S_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/*
 * Parse args (NULL-terminated, "serve" first) with stderr captured; returns
 * what was printed (malloc'd) and the result in *rc.
 */
static char *S_parse(int *rc, struct tv_serve_opts *o, const char *const *args)
{
	char *argv[32], err_path[160];
	int argc = 0, saved, fd;
	char *err;

	while (args[argc]) {
		assert_true(argc < 31);
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	snprintf(err_path, sizeof(err_path), "%s/stderr", g_dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	*rc = tv_serve_opts_parse(o, argc, argv);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	err = S_slurp(err_path, NULL);
	return err;
}

/* The parse fails, and stderr names where and never shows the secret. */
static void S_expect_error(const char *const *args, const char *where, const char *why)
{
	struct tv_serve_opts o;
	int rc;
	char *err = S_parse(&rc, &o, args);

	if (rc != -1 || !strstr(err, where) || (why && !strstr(err, why)))
		fail_msg("expected an error naming '%s' (%s), got rc %d: %s", where,
			 why ? why : "", rc, err);
	assert_null(strstr(err, S_SECRET));
	assert_null(o.config_text);
	free(err);
}

static void S_expect_file_error(const char *text, const char *line, const char *why)
{
	const char *path = S_conf("bad.conf", text);
	const char *args[] = { "serve", "--data", "/v", "--config", path, NULL };
	char where[200];

	snprintf(where, sizeof(where), "%s:%s:", path, line);
	S_expect_error(args, where, why);
}

static void test_precedence(void **state)
{
	const char *path = S_conf("p.conf", "# the file\n"
					    "listen = 127.0.0.1:9001\n"
					    "workers = 3\n"
					    "max-body = 2048\n"
					    "rate = 7\n"
					    "db = sqlite:/from/file.db\n"
					    "insecure-http = true\n"
					    "no-system-roots = no\n"
					    "data = /from/file\n");
	const char *args[] = { "serve", "--config", path, "--max-body", "4096",
			       "--data", "/from/flag", NULL };
	struct tv_serve_opts o;
	char *err;
	int rc;

	(void)state;
	setenv("TLSVAULT_WORKERS", "5", 1);
	setenv("TLSVAULT_DB", "sqlite:/from/env.db", 1);
	setenv("TLSVAULT_MAX_BODY", "8192", 1);
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
	assert_string_equal(o.config, path);
	assert_string_equal(o.data, "/from/flag");         /* flag over file */
	assert_string_equal(o.db, "sqlite:/from/env.db");  /* env over file */
	assert_string_equal(o.listen, "127.0.0.1:9001");   /* file */
	assert_null(o.tls_cert);                           /* default */
	assert_true(o.insecure_http);
	assert_false(o.no_system_roots);
	assert_int_equal(o.num[TV_SO_MAX_BODY], 4096);     /* flag over env and file */
	assert_int_equal(o.num[TV_SO_WORKERS], 5);         /* env over file */
	assert_int_equal(o.num[TV_SO_RATE], 7);            /* file over default */
	assert_int_equal(o.num[TV_SO_MAX_ITEMS], S_nums[TV_SO_MAX_ITEMS].def);
	tv_serve_opts_release(&o);
	assert_null(o.config_text);
	free(err);
}

/* A switch: the flag or a non-empty variable turns it on over the file. */
static void test_switches(void **state)
{
	const char *path = S_conf("s.conf", "data=/d\ninsecure-http = false\nno-system-roots=1\n");
	const char *plain[] = { "serve", "--config", path, NULL };
	const char *flag[] = { "serve", "--config", path, "--insecure-http", NULL };
	struct tv_serve_opts o;
	char *err;
	int rc;

	(void)state;
	err = S_parse(&rc, &o, plain);
	assert_int_equal(rc, 0);
	assert_string_equal(o.data, "/d");
	assert_false(o.insecure_http);
	assert_true(o.no_system_roots);
	tv_serve_opts_release(&o);
	free(err);
	err = S_parse(&rc, &o, flag);
	assert_int_equal(rc, 0);
	assert_true(o.insecure_http);
	tv_serve_opts_release(&o);
	free(err);
	setenv("TLSVAULT_INSECURE_HTTP", "1", 1);
	err = S_parse(&rc, &o, plain);
	assert_int_equal(rc, 0);
	assert_true(o.insecure_http);
	tv_serve_opts_release(&o);
	free(err);
}

/* Comments, blank lines, spaces, CRLF; '=' and '#' inside a value stay. */
static void test_syntax(void **state)
{
	const char *path = S_conf("x.conf", "\n"
					    "   # an indented comment\n"
					    "\t\n"
					    "data=/srv/a b#c\r\n"
					    "  db   =\tpostgresql://h/db?sslmode=verify-full&x=y  \n"
					    "max-items=5");
	const char *args[] = { "serve", "--config", path, NULL };
	struct tv_serve_opts o;
	char *err;
	int rc;

	(void)state;
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	assert_string_equal(o.data, "/srv/a b#c");
	assert_string_equal(o.db, "postgresql://h/db?sslmode=verify-full&x=y");
	assert_int_equal(o.num[TV_SO_MAX_ITEMS], 5);
	tv_serve_opts_release(&o);
	free(err);
}

/* The default file may be missing; when present it is read. */
static void test_default_file(void **state)
{
	const char *args[] = { "serve", "--data", "/d", NULL };
	struct tv_serve_opts o;
	char *err;
	int rc;

	(void)state;
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	assert_null(o.config);
	assert_null(o.config_text);
	assert_null(o.listen);
	assert_int_equal(o.num[TV_SO_RATE], S_nums[TV_SO_RATE].def);
	free(err);
	S_conf("default.conf", "listen = [::1]:8443\nrate = 0\n");
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	assert_string_equal(o.config, g_default);
	assert_string_equal(o.listen, "[::1]:8443");
	assert_int_equal(o.num[TV_SO_RATE], 0);
	tv_serve_opts_release(&o);
	free(err);
	/* an unreadable default is an error, not silently skipped */
	S_conf("default.conf", "rate = x\n");
	S_expect_error(args, "default.conf:1:", "'rate' takes a whole number");
}

/* A named file (flag or variable) must exist; TLSVAULT_CONFIG beats the
 * default, --config beats TLSVAULT_CONFIG. */
static void test_named_file(void **state)
{
	char missing[160];
	const char *args[] = { "serve", "--data", "/d", NULL };
	const char *flag[] = { "serve", "--data", "/d", "--config", missing, NULL };
	const char *empty[] = { "serve", "--data", "/d", "--config", "", NULL };
	const char *env_path;
	struct tv_serve_opts o;
	char *err;
	int rc;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing.conf", g_dir);
	S_expect_error(flag, "missing.conf", "No such file");
	S_expect_error(empty, "--config takes a file name", NULL);
	setenv("TLSVAULT_CONFIG", missing, 1);
	S_expect_error(args, "missing.conf", "No such file");
	S_conf("default.conf", "rate = 1\n");
	env_path = S_conf("env.conf", "rate = 2\n");
	setenv("TLSVAULT_CONFIG", env_path, 1);
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	assert_int_equal(o.num[TV_SO_RATE], 2);
	tv_serve_opts_release(&o);
	free(err);
	snprintf(missing, sizeof(missing), "%s/default.conf", g_dir);
	err = S_parse(&rc, &o, flag);
	assert_int_equal(rc, 0);
	assert_int_equal(o.num[TV_SO_RATE], 1);
	tv_serve_opts_release(&o);
	free(err);
	/* a directory is not a config file */
	snprintf(missing, sizeof(missing), "%s", g_dir);
	S_expect_error(flag, "is a directory", NULL);
}

/* Every error names the file and line; no value is ever echoed. */
static void test_file_errors(void **state)
{
	(void)state;
	S_expect_file_error("data = /d\n\nbogus = " S_SECRET "\n", "3", "unknown key 'bogus'");
	S_expect_file_error("data = /d\nrate = 5\nrate = 6\n", "3", "already set on line 2");
	S_expect_file_error("workers = 257\n", "1", "from 0 to 256");
	S_expect_file_error("workers = -1\n", "1", "from 0 to 256");
	S_expect_file_error("max-body = 99999999999999999999999\n", "1", "whole number");
	S_expect_file_error("rate = 5 # five\n", "1", "whole number");
	S_expect_file_error("insecure-http = maybe\n", "1", "takes true or false");
	S_expect_file_error("listen =\n", "1", "'listen' has no value");
	S_expect_file_error("# fine\n" S_SECRET "\n", "2", "expected 'key = value'");
	S_expect_file_error("= " S_SECRET "\n", "1", "expected 'key = value'");
	S_expect_file_error("--listen = x\n", "1", "unknown key '--listen'");
	S_expect_file_error("my password = " S_SECRET "\n", "1", "not a key");
	S_expect_file_error("config = /etc/other.conf\n", "1", "unknown key 'config'");
	S_expect_file_error("help = true\n", "1", "unknown key 'help'");
	S_expect_file_error("Listen = x\n", "1", "not a key");
	/* a flag over a bad file value doesn't hide the bad value */
	{
		const char *path = S_conf("r.conf", "rate = many\n");
		const char *args[] = { "serve", "--data", "/d", "--rate", "3", "--config", path,
				       NULL };
		char where[200];

		snprintf(where, sizeof(where), "%s:1:", path);
		S_expect_error(args, where, "'rate'");
	}
}

static void test_file_limits(void **state)
{
	size_t big = TV_SERVE_CONFIG_MAX_BYTES + 1, i;
	char *text = malloc(big);
	const char *path;
	const char *args[] = { "serve", "--data", "/d", "--config", NULL, NULL };
	struct tv_serve_opts o;
	char *err;
	int rc;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < big; i++)
		text[i] = (i % 64 == 63) ? '\n' : '#';
	args[4] = S_write("big.conf", text, big, 0600);
	S_expect_error(args, "big.conf", "larger than 65536 bytes");
	/* exactly the cap is fine */
	args[4] = S_write("cap.conf", text, big - 1, 0600);
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	tv_serve_opts_release(&o);
	free(err);
	free(text);
	args[4] = S_write("nul.conf", "data = /d\n\0rate = 1\n", sizeof("data = /d\n\0rate = 1\n") - 1,
			  0600);
	S_expect_error(args, "nul.conf", "NUL byte");
	/* a password in a file others may read is refused; 0640 is fine */
	path = S_mode("pw.conf", "db = postgresql://tv:" S_SECRET "@db/tv\n", 0644);
	args[4] = path;
	S_expect_error(args, "pw.conf:1:", "readable by other users");
	S_mode("pw.conf", "db = postgresql://db/tv?password=" S_SECRET "\n", 0604);
	S_expect_error(args, "pw.conf:1:", "readable by other users");
	S_mode("pw.conf", "db = postgresql://tv:" S_SECRET "@db/tv\n", 0640);
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	assert_string_equal(o.db, "postgresql://tv:" S_SECRET "@db/tv");
	tv_serve_opts_release(&o);
	free(err);
	/* no password: the mode doesn't matter */
	S_mode("pw.conf", "db = postgresql://tv@db/tv\n", 0644);
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	tv_serve_opts_release(&o);
	free(err);
}

static void test_url_has_password(void **state)
{
	(void)state;
	assert_true(S_url_has_password("postgresql://u:p@h/db"));
	assert_true(S_url_has_password("postgres://u:@h/db"));
	assert_true(S_url_has_password("postgresql://h/db?password=x"));
	assert_true(S_url_has_password("postgresql://u:p@h1,h2:5433/db"));
	assert_false(S_url_has_password("postgresql://u@h/db"));
	assert_false(S_url_has_password("postgresql://h:5432/db"));
	assert_false(S_url_has_password("postgresql://u@h/db?x=a:b@c"));
	assert_false(S_url_has_password("sqlite:/var/lib/tlsvault/tlsvault.db"));
}

/* --help reads no file: a broken config must not hide the usage text. */
static void test_help_reads_no_file(void **state)
{
	const char *path = S_conf("h.conf", "nonsense\n");
	const char *args[] = { "serve", "--config", path, "--help", NULL };
	struct tv_serve_opts o;
	char *err;
	int rc;

	(void)state;
	err = S_parse(&rc, &o, args);
	assert_int_equal(rc, 0);
	assert_true(o.help);
	assert_null(o.config_text);
	assert_string_equal(err, "");
	free(err);
}

/* Flag and variable errors are as before the file existed. */
static void test_flag_errors(void **state)
{
	const char *range[] = { "serve", "--data", "/d", "--max-json-depth", "1", NULL };
	const char *nodata[] = { "serve", NULL };
	const char *half_tls[] = { "serve", "--data", "/d", "--tls-cert", "c", NULL };
	const char *extra[] = { "serve", "--data", "/d", "stray", NULL };
	const char *nodata_env[] = { "serve", "--data", "/d", NULL };

	(void)state;
	S_expect_error(range, "--max-json-depth (env TLSVAULT_MAX_JSON_DEPTH)", "from 2 to 1000");
	setenv("TLSVAULT_RATE", "fast", 1);
	S_expect_error(nodata_env, "--rate (env TLSVAULT_RATE)", "whole number");
	unsetenv("TLSVAULT_RATE");
	S_expect_error(nodata, "--data DIR", "'data' in the config file");
	S_expect_error(half_tls, "--tls-cert and --tls-key go together", NULL);
	S_expect_error(extra, "unexpected argument 'stray'", NULL);
}

/* The roff spelling of --flag-name: \fB\-\-flag\-name\fR. */
static void S_roff_flag(char *out, size_t size, const char *flag)
{
	size_t n = (size_t)snprintf(out, size, "\\fB\\-\\-");

	for (; *flag && n + 3 < size; flag++) {
		if (*flag == '-')
			out[n++] = '\\';
		out[n++] = *flag;
	}
	snprintf(out + n, size - n, "\\fR");
}

/* The man page's SERVE OPTIONS section (a copy). */
static char *S_man_serve_options(const char *man)
{
	const char *start = strstr(man, "\n.SH \"SERVE OPTIONS\"\n"), *end;
	char *sec;

	if (!start)
		fail_msg("man/tlsvaultd.8 has no section .SH \"SERVE OPTIONS\"");
	start++;
	end = strstr(start + 1, "\n.SH ");
	if (!end)
		end = start + strlen(start);
	sec = malloc((size_t)(end - start) + 1);
	assert_non_null(sec);
	memcpy(sec, start, (size_t)(end - start));
	sec[end - start] = '\0';
	return sec;
}

/* The paragraph of flag (up to the next macro that starts one) in man. */
static char *S_man_entry(const char *man, const char *flag)
{
	char pat[128], *start, *end, *para;
	const char *stops[] = { "\n.TP", "\n.SH", "\n.SS", "\n.PP" };
	size_t i;

	S_roff_flag(pat, sizeof(pat), flag);
	start = strstr(man, pat);
	while (start && !(start > man && start[-1] == '\n' && start >= man + 4 &&
			  !strncmp(start - 4, ".TP\n", 4)))
		start = strstr(start + 1, pat);
	if (!start)
		fail_msg("man/tlsvaultd.8, SERVE OPTIONS: no '.TP' entry for --%s", flag);
	end = start + strlen(start);
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		char *s = strstr(start, stops[i]);

		if (s && s < end)
			end = s;
	}
	para = malloc((size_t)(end - start) + 1);
	assert_non_null(para);
	memcpy(para, start, (size_t)(end - start));
	para[end - start] = '\0';
	return para;
}

static void S_entry_has(const char *para, const char *flag, const char *what)
{
	if (!strstr(para, what))
		fail_msg("man/tlsvaultd.8: the entry of --%s lacks \"%s\"", flag, what);
}

/* Every option of the tables, with its variable, range and default. */
static void test_man_page_covers_every_option(void **state)
{
	char *page = S_slurp(TV_SOURCE_DIR "/man/tlsvaultd.8", NULL), *para, buf[128];
	char *man = S_man_serve_options(page);
	size_t i;

	(void)state;
	for (i = 0; i < S_N_TEXT; i++) {
		para = S_man_entry(man, S_texts[i].flag);
		S_entry_has(para, S_texts[i].flag, S_texts[i].env);
		free(para);
	}
	for (i = 0; i < S_N_SWITCH; i++) {
		para = S_man_entry(man, S_switches[i].flag);
		S_entry_has(para, S_switches[i].flag, S_switches[i].env);
		free(para);
	}
	for (i = 0; i < TV_SO_COUNT; i++) {
		para = S_man_entry(man, S_nums[i].flag);
		S_entry_has(para, S_nums[i].flag, S_nums[i].env);
		if (S_nums[i].def_text) {
			S_entry_has(para, S_nums[i].flag, S_nums[i].def_text);
		} else {
			snprintf(buf, sizeof(buf), "%ld to %ld", S_nums[i].min, S_nums[i].max);
			S_entry_has(para, S_nums[i].flag, buf);
			snprintf(buf, sizeof(buf), "default %ld", S_nums[i].def);
			S_entry_has(para, S_nums[i].flag, buf);
		}
		free(para);
	}
	para = S_man_entry(man, "config");
	S_entry_has(para, "config", "TLSVAULT_CONFIG");
	S_entry_has(para, "config", "/etc/tlsvault/tlsvaultd.conf");
	free(para);
	free(man);
	free(page);
}

/*
 * dist/tlsvaultd.conf.example shows every key as a commented-out line
 * "#key = value" (prose comments have a space after '#'), a number at its
 * default; uncommented, the file is a valid config.
 */
static void test_example_config(void **state)
{
	char *ex = S_slurp(TV_SOURCE_DIR "/dist/tlsvaultd.conf.example", NULL), *p, want[128];
	const char *path;
	const char *args[] = { "serve", "--config", NULL, NULL };
	struct tv_serve_opts o;
	char *err;
	size_t k;
	int rc;

	(void)state;
	for (k = 0; k < S_N_KEYS; k++) {
		snprintf(want, sizeof(want), "\n#%s = ", S_key_name(k));
		if (!strstr(ex, want))
			fail_msg("dist/tlsvaultd.conf.example lacks a line '#%s = ...'",
				 S_key_name(k));
	}
	for (p = ex; (p = strstr(p, "\n#")) != NULL; p++)
		if (p[2] >= 'a' && p[2] <= 'z')
			memmove(p + 1, p + 2, strlen(p + 2) + 1);
	path = S_conf("example.conf", ex);
	args[2] = path;
	err = S_parse(&rc, &o, args);
	if (rc)
		fail_msg("the example, uncommented, doesn't parse: %s", err);
	for (k = 0; k < TV_SO_COUNT; k++)
		if (!S_nums[k].def_text && o.num[k] != S_nums[k].def)
			fail_msg("the example sets %s to %ld, not its default %ld", S_nums[k].flag,
				 o.num[k], S_nums[k].def);
	tv_serve_opts_release(&o);
	free(err);
	free(ex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_precedence, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_switches, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_syntax, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_default_file, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_named_file, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_file_limits, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_url_has_password, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_help_reads_no_file, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_flag_errors, S_setup, S_teardown),
		cmocka_unit_test_setup_teardown(test_man_page_covers_every_option, S_setup,
						S_teardown),
		cmocka_unit_test_setup_teardown(test_example_config, S_setup, S_teardown),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/serve_opts", tests, NULL, NULL);
}
