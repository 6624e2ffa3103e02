/*
 * Integration tests of the tlsvault CLI (issue 6), run as a user would run
 * it: the real binary, against a real tlsvaultd, on 250 generated keystores
 * (3 with a wrong password, 2 with an untrusted chain).
 *
 * One server and one keystore directory serve every test (group setup):
 * the tests run in order and later ones rely on the bulk import of the
 * first.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/secmem.h"
#include "core/util.h"
#include "importing.h"

#define N_KEYSTORES 250
#define PW "Tv-CLI-pw-7f3a"
#define PW_OTHER PW "-other"
#define EXPORT_PP "Exp0rt-pp-91c"

struct S_env {
	struct tvh_server s;
	char cli[600];
	char ks_dir[400];
	char home[400];
	char url[64];
};

struct S_out {
	int rc;
	char *out;
	char *err;
};

static void S_out_free(struct S_out *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

/*
 * Run the CLI with args (NULL-terminated, without argv[0]). env holds
 * "NAME=VALUE" to set or "NAME" to unset in the child (may be NULL);
 * stdin_path (may be NULL) becomes its stdin.
 */
static void S_cli(struct S_out *o, const struct S_env *e, const char *const *env,
		  const char *stdin_path, const char *const *args)
{
	const char *argv[40] = { e->cli };
	char out_path[500], err_path[500];
	size_t n = 1;
	int status = 0;
	pid_t pid;

	while (args && *args && n < 39)
		argv[n++] = *args++;
	argv[n] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/cli.out", e->s.dir);
	snprintf(err_path, sizeof(err_path), "%s/cli.err", e->s.dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fi = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);

		if (fo < 0 || fe < 0 || fi < 0)
			_exit(126);
		dup2(fo, 1);
		dup2(fe, 2);
		dup2(fi, 0);
		for (; env && *env; env++) {
			if (strchr(*env, '='))
				putenv((char *)*env);
			else
				unsetenv(*env);
		}
		execv(e->cli, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	o->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	o->out = tvh_read_file(out_path, NULL);
	o->err = tvh_read_file(err_path, NULL);
	assert_non_null(o->out);
	assert_non_null(o->err);
}

/* Count the certificates of the tenant, and those with a stored key. */
static void S_count(const struct S_env *e, int *total, int *with_key)
{
	static const char body[] = "{\"paging\":{\"pageNumber\":0,\"pageSize\":1000}}";
	struct tvh_resp r;
	json_t *c;
	size_t i;

	tvh_request(&r, &e->s, "POST", "/outagedetection/v1/certificatesearch", e->s.api_key,
		    body, sizeof(body) - 1, NULL);
	assert_int_equal(r.status, 200);
	*total = (int)json_integer_value(json_object_get(r.json, "count"));
	*with_key = 0;
	json_array_foreach(json_object_get(r.json, "certificates"), i, c)
		*with_key += json_string_value(json_object_get(c, "dekHash")) != NULL;
	tvh_resp_free(&r);
}

static void S_no_secrets(const struct S_out *o)
{
	assert_null(strstr(o->out, PW));
	assert_null(strstr(o->err, PW));
	assert_null(strchr(o->err, '\x1b')); /* stderr is a file: no escape codes */
	assert_null(strchr(o->out, '\x1b'));
}

static int S_setup(void **state)
{
	struct S_env *e = calloc(1, sizeof(*e));
	char cmd[1200], *p;
	int64_t t0;

	assert_non_null(e);
	tvh_init(&e->s);
	tvh_start(&e->s, NULL);
	snprintf(e->cli, sizeof(e->cli), "%s", TVD_PATH);
	p = strrchr(e->cli, '/');
	assert_non_null(p);
	snprintf(p + 1, sizeof(e->cli) - (size_t)(p + 1 - e->cli), "tlsvault");
	snprintf(e->ks_dir, sizeof(e->ks_dir), "%s/gen", e->s.dir);
	snprintf(e->home, sizeof(e->home), "%s/home", e->s.dir);
	assert_int_equal(mkdir(e->ks_dir, 0700), 0);
	assert_int_equal(mkdir(e->home, 0700), 0);
	t0 = tv_mono_ms();
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/integration/gen-cli-keystores.sh' '%s' %d '%s'",
		 TV_SOURCE_DIR, e->ks_dir, N_KEYSTORES, PW);
	assert_int_equal(system(cmd), 0);
	fprintf(stderr, "generated %d keystores in %lld ms\n", N_KEYSTORES,
		(long long)(tv_mono_ms() - t0));
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", e->s.port);
	setenv("TLSVAULT_URL", e->url, 1);
	setenv("TLSVAULT_API_KEY", e->s.api_key, 1);
	setenv("HOME", e->home, 1); /* no stray ~/.config/tlsvault/config */
	setenv("TVCLI_PW", PW, 1);
	*state = e;
	return 0;
}

static int S_teardown(void **state)
{
	struct S_env *e = *state;

	if (e) {
		tvh_stop(&e->s, SIGTERM);
		tvh_cleanup(&e->s);
		free(e);
	}
	return 0;
}

/* Is line "<file>  <status>  <fp>  <reason...>" about file, with status and reason code? */
static int S_count_lines(const char *out, const char *status, const char *reason_code,
			 const char *name)
{
	char file[600], st[32], fp[64];
	const char *line = out;
	int n = 0, off;

	while (line && *line) {
		if (sscanf(line, "%599s %31s %63s %n", file, st, fp, &off) == 3 &&
		    !strcmp(st, status) && (!name || strstr(file, name)) &&
		    (!reason_code || !strncmp(line + off, reason_code, strlen(reason_code))))
			n++;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return n;
}

/* Acceptance 1: ca add, bulk import with 5 failures, exit 3, then a no-op rerun. */
static void test_bulk_import(void **state)
{
	struct S_env *e = *state;
	char ca[500], ks[500];
	const char *ca_args[] = { "ca", "add", ca, NULL };
	const char *imp_args[] = { "import", "--password-env", "TVCLI_PW", ks, NULL };
	struct S_out o;
	int total, with_key;
	int64_t t0;

	snprintf(ca, sizeof(ca), "%s/ca.crt", e->ks_dir);
	snprintf(ks, sizeof(ks), "%s/ks", e->ks_dir);
	S_cli(&o, e, NULL, NULL, ca_args);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.out, "CN=CLI Test Root"));
	S_out_free(&o);

	t0 = tv_mono_ms();
	S_cli(&o, e, NULL, NULL, imp_args);
	fprintf(stderr, "first import: %lld ms\n", (long long)(tv_mono_ms() - t0));
	if (o.rc != 3)
		fail_msg("exit %d, stderr: %s", o.rc, o.err);
	assert_int_equal(S_count_lines(o.out, "IMPORTED", NULL, NULL), N_KEYSTORES - 5);
	assert_int_equal(S_count_lines(o.out, "FAILED", NULL, NULL), 5);
	assert_int_equal(S_count_lines(o.out, "FAILED", "MAC_VERIFICATION_FAILED", NULL), 3);
	assert_int_equal(S_count_lines(o.out, "FAILED", "CHAIN_BUILDING_FAILED", NULL), 2);
	assert_int_equal(S_count_lines(o.out, "FAILED", "MAC_VERIFICATION_FAILED", "leaf-007"), 1);
	assert_int_equal(S_count_lines(o.out, "FAILED", "MAC_VERIFICATION_FAILED", "leaf-050"), 1);
	assert_int_equal(S_count_lines(o.out, "FAILED", "MAC_VERIFICATION_FAILED", "leaf-100"), 1);
	assert_int_equal(S_count_lines(o.out, "FAILED", "CHAIN_BUILDING_FAILED", "leaf-020"), 1);
	assert_int_equal(S_count_lines(o.out, "FAILED", "CHAIN_BUILDING_FAILED", "leaf-150"), 1);
	S_no_secrets(&o);
	S_out_free(&o);
	/* 245 leaves with keys, plus the root, stored as their issuer */
	S_count(e, &total, &with_key);
	assert_int_equal(with_key, N_KEYSTORES - 5);
	assert_int_equal(total, N_KEYSTORES - 5 + 1);

	S_cli(&o, e, NULL, NULL, imp_args);
	assert_int_equal(o.rc, 3);
	assert_int_equal(S_count_lines(o.out, "IMPORTED", NULL, NULL), 0);
	assert_int_equal(S_count_lines(o.out, "SKIPPED", "ALREADY_IMPORTED", NULL),
			 N_KEYSTORES - 5);
	assert_int_equal(S_count_lines(o.out, "FAILED", NULL, NULL), 5);
	S_no_secrets(&o);
	S_out_free(&o);
	S_count(e, &total, &with_key);
	assert_int_equal(with_key, N_KEYSTORES - 5);
	assert_int_equal(total, N_KEYSTORES - 5 + 1);
}

/* Acceptance 3: --json parses and has one object per input file. */
static void test_json(void **state)
{
	struct S_env *e = *state;
	char ks[500];
	const char *args[] = { "--json", "import", "--dry-run", "--password-env", "TVCLI_PW",
			       ks, NULL };
	struct S_out o;
	json_t *arr, *f;
	size_t i;
	int failed = 0;

	snprintf(ks, sizeof(ks), "%s/ks", e->ks_dir);
	S_cli(&o, e, NULL, NULL, args);
	assert_int_equal(o.rc, 3);
	arr = json_loads(o.out, 0, NULL);
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), N_KEYSTORES);
	json_array_foreach(arr, i, f) {
		assert_non_null(json_string_value(json_object_get(f, "file")));
		assert_true(json_array_size(json_object_get(f, "results")) >= 1);
		failed += !strcmp(json_string_value(json_object_get(f, "status")), "FAILED");
	}
	assert_int_equal(failed, 5);
	json_decref(arr);
	/* and with jq, as a script would read it */
	{
		char path[600], cmd[800];
		FILE *fp;

		snprintf(path, sizeof(path), "%s/out.json", e->ks_dir);
		fp = fopen(path, "w");
		assert_non_null(fp);
		fputs(o.out, fp);
		fclose(fp);
		snprintf(cmd, sizeof(cmd),
			 "jq -e 'length == %d and all(.[]; has(\"file\") and has(\"results\"))'"
			 " '%s' >/dev/null", N_KEYSTORES, path);
		assert_int_equal(system(cmd), 0);
	}
	S_no_secrets(&o);
	S_out_free(&o);
}

/* Acceptance 4: the progress bar shows on a terminal (script gives a pty). */
static void test_progress_tty(void **state)
{
	struct S_env *e = *state;
	char cmd[1600], buf[4096];
	size_t len = 0, n;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "script -qec \"'%s' import --dry-run --password-env TVCLI_PW '%s/ks' "
		 ">/dev/null\" /dev/null 2>&1",
		 e->cli, e->ks_dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(buf + len, 1, sizeof(buf) - 1 - len, p)) > 0) {
		len += n;
		if (len > sizeof(buf) - 256)
			len = 0; /* keep only the tail */
	}
	buf[len] = '\0';
	pclose(p);
	assert_non_null(strstr(buf, "\x1b[K"));
	assert_non_null(strstr(buf, "250/250"));
	assert_non_null(strstr(buf, "/s"));
	assert_non_null(strstr(buf, "ETA"));
	assert_null(strstr(buf, PW));
}

/* Acceptance 5: no --password, no password in output or server log; other sources work. */
static void test_password_handling(void **state)
{
	struct S_env *e = *state;
	char ks7[500], map[500], pwf[500];
	const char *bad[] = { "import", "--password=" PW, ks7, NULL };
	const char *bad2[] = { "import", "--password", PW, ks7, NULL };
	const char *by_map[] = { "import", "--dry-run", "--password-env", "TVCLI_PW",
				 "--password-map", map, ks7, NULL };
	const char *by_file[] = { "import", "--dry-run", "--password-file", pwf, ks7, NULL };
	const char *by_stdin[] = { "import", "--dry-run", "--password-stdin", ks7, NULL };
	struct S_out o;
	FILE *f;

	snprintf(ks7, sizeof(ks7), "%s/ks/leaf-007.p12", e->ks_dir);
	snprintf(map, sizeof(map), "%s/map.csv", e->s.dir);
	snprintf(pwf, sizeof(pwf), "%s/pw.txt", e->s.dir);
	S_cli(&o, e, NULL, NULL, bad);
	assert_int_equal(o.rc, 2);
	S_no_secrets(&o);
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, bad2);
	assert_int_equal(o.rc, 2);
	S_no_secrets(&o);
	S_out_free(&o);

	f = fopen(map, "w");
	assert_non_null(f);
	fprintf(f, "other.p12,nothing\nleaf-007.p12,%s\n", PW_OTHER);
	fclose(f);
	S_cli(&o, e, NULL, NULL, by_map);
	assert_int_equal(o.rc, 0);
	assert_int_equal(S_count_lines(o.out, "VALID", NULL, "leaf-007"), 1);
	assert_null(strstr(o.out, PW_OTHER));
	S_out_free(&o);

	f = fopen(pwf, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", PW_OTHER);
	fclose(f);
	S_cli(&o, e, NULL, NULL, by_file);
	assert_int_equal(o.rc, 0);
	assert_int_equal(S_count_lines(o.out, "VALID", NULL, "leaf-007"), 1);
	S_out_free(&o);
	S_cli(&o, e, NULL, pwf, by_stdin);
	assert_int_equal(o.rc, 0);
	assert_int_equal(S_count_lines(o.out, "VALID", NULL, "leaf-007"), 1);
	S_out_free(&o);

	assert_false(tvh_file_contains(e->s.log_path, PW, strlen(PW)));
}

/* The fingerprint of leaf-001 as the first import run printed it (via search). */
static void S_leaf_fp(const struct S_env *e, char fp[41])
{
	char path[500];

	snprintf(path, sizeof(path), "%s/work/001.crt", e->ks_dir);
	tvh_cert_fingerprint(fp, path);
}

static void S_mode_0600(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* Acceptance 2: exports that openssl and keytool open; 0600; no overwrite. */
static void test_export(void **state)
{
	struct S_env *e = *state;
	char fp[41], pp[500], p12[500], zip[500], jks[500], dir[500], cmd[4000];
	const char *a_p12[] = { "export", fp, "--format", "pkcs12", "-o", p12,
				"--passphrase-file", pp, NULL };
	const char *a_pem[] = { "export", fp, "--format", "pem", "-o", zip, "--passphrase-file",
				pp, "--unzip", dir, NULL };
	const char *a_jks[] = { "export", fp, "--format", "jks", "-o", jks, "--passphrase-file",
				pp, NULL };
	const char *a_force[] = { "export", fp, "--format", "pkcs12", "-o", p12,
				  "--passphrase-file", pp, "--legacy", "--force", NULL };
	struct S_out o;
	size_t before, after;
	char *data;
	FILE *f;

	S_leaf_fp(e, fp);
	snprintf(pp, sizeof(pp), "%s/pp.txt", e->s.dir);
	snprintf(p12, sizeof(p12), "%s/out.p12", e->s.dir);
	snprintf(zip, sizeof(zip), "%s/out.zip", e->s.dir);
	snprintf(jks, sizeof(jks), "%s/out.jks", e->s.dir);
	snprintf(dir, sizeof(dir), "%s/pem", e->s.dir);
	f = fopen(pp, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", EXPORT_PP);
	fclose(f);

	S_cli(&o, e, NULL, NULL, a_p12);
	if (o.rc)
		fail_msg("export pkcs12: %s", o.err);
	S_out_free(&o);
	S_mode_0600(p12);
	snprintf(cmd, sizeof(cmd),
		 "openssl pkcs12 -in '%s' -passin 'file:%s' -nodes 2>/dev/null | grep -q 'BEGIN PRIVATE KEY'",
		 p12, pp);
	assert_int_equal(system(cmd), 0);

	S_cli(&o, e, NULL, NULL, a_pem);
	if (o.rc)
		fail_msg("export pem: %s", o.err);
	S_out_free(&o);
	S_mode_0600(zip);
	snprintf(cmd, sizeof(cmd),
		 "unzip -l '%s' >/dev/null && openssl pkey -in \"$(ls '%s'/*.key)\" -passin 'file:%s' "
		 "-noout && test \"$(stat -c %%a \"$(ls '%s'/*.key)\")\" = 600",
		 zip, dir, pp, dir);
	assert_int_equal(system(cmd), 0);

	S_cli(&o, e, NULL, NULL, a_jks);
	if (o.rc)
		fail_msg("export jks: %s", o.err);
	S_out_free(&o);
	S_mode_0600(jks);
	snprintf(cmd, sizeof(cmd),
		 "keytool -list -keystore '%s' -storepass:file '%s' 2>/dev/null | grep -q PrivateKeyEntry",
		 jks, pp);
	assert_int_equal(system(cmd), 0);

	/* no overwrite without --force, and the file is left alone */
	data = tvh_read_file(p12, &before);
	free(data);
	S_cli(&o, e, NULL, NULL, a_p12);
	assert_int_equal(o.rc, 1);
	assert_non_null(strstr(o.err, "--force"));
	S_out_free(&o);
	free(tvh_read_file(p12, &after));
	assert_int_equal(before, after);
	S_cli(&o, e, NULL, NULL, a_force);
	assert_int_equal(o.rc, 0);
	S_out_free(&o);
	S_mode_0600(p12);
	snprintf(cmd, sizeof(cmd), "openssl pkcs12 -legacy -in '%s' -passin 'file:%s' -noout 2>/dev/null",
		 p12, pp);
	assert_int_equal(system(cmd), 0);
	assert_false(tvh_file_contains(e->s.log_path, EXPORT_PP, strlen(EXPORT_PP)));
}

/* Acceptance 6: --help everywhere, exit 0, no server needed. */
static void test_help(void **state)
{
	static const char *const cmds[][3] = {
		{ "--help", NULL, NULL },	  { "import", "--help", NULL },
		{ "ca", "--help", NULL },	  { "ca", "add", "--help" },
		{ "cert", "--help", NULL },	  { "cert", "list", "--help" },
		{ "export", "--help", NULL },	  { "job", "--help", NULL },
		{ "apikey", "--help", NULL },	  { "edge", "--help", NULL },
		{ "whoami", "--help", NULL },
	};
	const char *unset[] = { "TLSVAULT_API_KEY", "TLSVAULT_URL", NULL };
	const char *no_cmd[] = { "frobnicate", NULL };
	struct S_env *e = *state;
	struct S_out o;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *args[4] = { cmds[i][0], cmds[i][1], cmds[i][2], NULL };

		S_cli(&o, e, unset, NULL, args);
		if (o.rc != 0 || !strstr(o.out, "usage:"))
			fail_msg("'%s %s' --help: exit %d", cmds[i][0], cmds[i][1] ? cmds[i][1] : "",
				 o.rc);
		S_out_free(&o);
	}
	S_cli(&o, e, NULL, NULL, no_cmd);
	assert_int_equal(o.rc, 2);
	S_out_free(&o);
}

/* Configuration: the config file, its permissions, errors in the house format. */
static void test_config_and_errors(void **state)
{
	struct S_env *e = *state;
	const char *unset[] = { "TLSVAULT_API_KEY", "TLSVAULT_URL", NULL };
	const char *whoami[] = { "whoami", NULL };
	const char *bad_key[] = { "--api-key", "00000000-0000-0000-0000-000000000000", "whoami",
				  NULL };
	const char *down[] = { "--url", "http://127.0.0.1:1", "whoami", NULL };
	char dir[500], path[600];
	struct S_out o;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/.config", e->home);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/.config/tlsvault", e->home);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# test\nurl=%s\napi_key=%s\n", e->url, e->s.api_key);
	fclose(f);
	chmod(path, 0644);
	S_cli(&o, e, unset, NULL, whoami);
	assert_int_equal(o.rc, 1);
	assert_non_null(strstr(o.err, "group or others"));
	S_out_free(&o);
	chmod(path, 0600);
	S_cli(&o, e, unset, NULL, whoami);
	if (o.rc)
		fail_msg("whoami with config file: %s", o.err);
	assert_non_null(strstr(o.out, "ADMIN"));
	S_out_free(&o);
	unlink(path);

	S_cli(&o, e, NULL, NULL, bad_key);
	assert_int_equal(o.rc, 1);
	assert_non_null(strstr(o.err, "error: "));
	assert_non_null(strstr(o.err, "(code 10501, request "));
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, down);
	assert_int_equal(o.rc, 1);
	assert_non_null(strstr(o.err, "http://127.0.0.1:1"));
	S_out_free(&o);
}

static char *S_field(const char *out, const char *key, char *dst, size_t size)
{
	const char *p = strstr(out, key);

	if (!p)
		fail_msg("no '%s' in: %s", key, out);
	p += strlen(key);
	while (*p == ' ')
		p++;
	snprintf(dst, size, "%.*s", (int)strcspn(p, " \n"), p);
	return dst;
}

/* ca list/rm, cert list/show/retire/recover/delete, job show, apikey. */
static void test_other_commands(void **state)
{
	struct S_env *e = *state;
	char fp[41], id[64], job[64], key_id[64], ca_fp[41], ca[500];
	const char *list[] = { "cert", "list", "--search", "leaf001.cli", "--limit", "5", NULL };
	const char *expiring[] = { "--json", "cert", "list", "--expiring", "400d", "--status",
				   "ACTIVE", "--limit", "1000", NULL };
	const char *show[] = { "cert", "show", fp, NULL };
	const char *retire[] = { "cert", "retire", fp, NULL };
	const char *recover[] = { "cert", "recover", id, NULL };
	const char *del_active[] = { "cert", "delete", id, NULL };
	const char *jobshow[] = { "job", "show", job, "--wait", NULL };
	const char *ca_list[] = { "ca", "list", NULL };
	const char *ca_rm[] = { "ca", "rm", ca_fp, NULL };
	const char *key_create[] = { "apikey", "create", "--name", "ci", "--role", "READ_ONLY",
				     "--days", "7", NULL };
	const char *key_list[] = { "apikey", "list", NULL };
	const char *key_revoke[] = { "apikey", "revoke", key_id, NULL };
	struct S_out o;
	json_t *j;

	S_leaf_fp(e, fp);
	S_cli(&o, e, NULL, NULL, list);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.out, fp));
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, expiring);
	assert_int_equal(o.rc, 0);
	j = json_loads(o.out, 0, NULL);
	assert_non_null(j);
	/* the leaves expire in 365 days, the root in 10 years */
	assert_int_equal(json_integer_value(json_object_get(j, "count")), N_KEYSTORES - 5);
	json_decref(j);
	S_out_free(&o);

	S_cli(&o, e, NULL, NULL, show);
	assert_int_equal(o.rc, 0);
	S_field(o.out, "id ", id, sizeof(id)); /* the first line */
	S_field(o.out, "importJobId", job, sizeof(job));
	assert_non_null(strstr(o.out, "leaf001.cli.test"));
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, jobshow);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.out, "COMPLETED"));
	S_out_free(&o);

	S_cli(&o, e, NULL, NULL, del_active);
	assert_int_equal(o.rc, 1);
	assert_non_null(strstr(o.err, "(code 10110, request "));
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, retire);
	assert_int_equal(o.rc, 0);
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, recover);
	assert_int_equal(o.rc, 0);
	S_out_free(&o);

	S_cli(&o, e, NULL, NULL, key_create);
	assert_int_equal(o.rc, 0);
	S_field(o.out, "id ", key_id, sizeof(key_id));
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, key_list);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.out, key_id));
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, key_revoke);
	assert_int_equal(o.rc, 0);
	S_out_free(&o);

	snprintf(ca, sizeof(ca), "%s/ca.crt", e->ks_dir);
	tvh_cert_fingerprint(ca_fp, ca);
	S_cli(&o, e, NULL, NULL, ca_list);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.out, ca_fp));
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, ca_rm);
	assert_int_equal(o.rc, 0);
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, ca_list);
	assert_int_equal(o.rc, 0);
	assert_null(strstr(o.out, ca_fp));
	S_out_free(&o);
}

/* .pem/.crt with --key: plain PKCS#8 (sealed DER) and encrypted PKCS#8 (sealed password). */
static void test_pem_with_key(void **state)
{
	struct S_env *e = *state;
	char crt1[500], key1[500], crt2[500], enc[500], cmd[1600];
	const char *plain[] = { "import", "--key", key1, crt1, NULL };
	const char *encrypted[] = { "import", "--password-env", "TVCLI_PW", "--key", enc, crt2,
				    NULL };
	const char *wrong[] = { "import", "--key", key1, crt2, NULL };
	struct S_out o;

	snprintf(crt1, sizeof(crt1), "%s/work/001.crt", e->ks_dir);
	snprintf(key1, sizeof(key1), "%s/work/001.key", e->ks_dir);
	snprintf(crt2, sizeof(crt2), "%s/work/002.crt", e->ks_dir);
	snprintf(enc, sizeof(enc), "%s/enc-002.key", e->s.dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl pkcs8 -topk8 -in '%s/work/002.key' -passout env:TVCLI_PW -out '%s'",
		 e->ks_dir, enc);
	assert_int_equal(system(cmd), 0);
	/* both are in the vault already: SKIPPED proves the key was opened and matched */
	S_cli(&o, e, NULL, NULL, plain);
	assert_int_equal(o.rc, 0);
	assert_int_equal(S_count_lines(o.out, "SKIPPED", "ALREADY_IMPORTED", "001.crt"), 1);
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, encrypted);
	assert_int_equal(o.rc, 0);
	assert_int_equal(S_count_lines(o.out, "SKIPPED", "ALREADY_IMPORTED", "002.crt"), 1);
	S_no_secrets(&o);
	S_out_free(&o);
	S_cli(&o, e, NULL, NULL, wrong);
	assert_int_equal(o.rc, 3);
	assert_int_equal(S_count_lines(o.out, "FAILED", "KEY_CERTIFICATE_MISMATCH", "002.crt"), 1);
	S_out_free(&o);
}

/* A stub server: the first `busy` answers are 503 with Retry-After: 1, then 200. */
struct S_stub {
	int fd;
	atomic_int busy;   /* set by the test thread, read by the stub */
	atomic_int served;
};

static void *S_stub_run(void *arg)
{
	static const char ok[] = "{\"user\":{},\"company\":{\"id\":\"c\",\"name\":\"stub\"},"
				 "\"apiKey\":{\"id\":\"k\",\"role\":\"READ_ONLY\"}}";
	struct S_stub *st = arg;
	char req[8192], resp[1024];
	size_t len;
	ssize_t n;
	int c;

	while ((c = accept(st->fd, NULL, NULL)) >= 0) {
		len = 0;
		while (len < sizeof(req) - 1 && (n = read(c, req + len, sizeof(req) - 1 - len)) > 0) {
			len += (size_t)n;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		if (atomic_fetch_add(&st->served, 1) < atomic_load(&st->busy))
			snprintf(resp, sizeof(resp),
				 "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
				 "X-Request-Id: stub-%d\r\nContent-Type: application/json\r\n"
				 "Connection: close\r\nContent-Length: 55\r\n\r\n"
				 "{\"errors\":[{\"code\":10109,\"message\":\"server starting\"}]}",
				 atomic_load(&st->served));
		else
			snprintf(resp, sizeof(resp),
				 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				 "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
				 sizeof(ok) - 1, ok);
		if (write(c, resp, strlen(resp)) < 0)
			break;
		close(c);
	}
	return NULL;
}

/* 503 is retried, waiting as Retry-After says; after 5 tries the error is shown. */
static void test_retry_after(void **state)
{
	struct S_env *e = *state;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct S_stub st;
	socklen_t alen = sizeof(a);
	char url[64];
	const char *args[] = { "--url", url, "whoami", NULL };
	struct S_out o;
	pthread_t t;
	int64_t t0;

	atomic_init(&st.busy, 2);
	atomic_init(&st.served, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	st.fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(st.fd >= 0);
	assert_int_equal(bind(st.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(st.fd, 8), 0);
	assert_int_equal(getsockname(st.fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	assert_int_equal(pthread_create(&t, NULL, S_stub_run, &st), 0);

	t0 = tv_mono_ms();
	S_cli(&o, e, NULL, NULL, args);
	assert_int_equal(o.rc, 0);
	assert_true(tv_mono_ms() - t0 >= 2000); /* two waits of Retry-After: 1 */
	assert_int_equal(atomic_load(&st.served), 3);
	assert_non_null(strstr(o.out, "stub"));
	S_out_free(&o);

	atomic_store(&st.busy, 100); /* always busy: gives up after 5 tries */
	atomic_store(&st.served, 0);
	S_cli(&o, e, NULL, NULL, args);
	assert_int_equal(o.rc, 1);
	assert_int_equal(atomic_load(&st.served), 5);
	assert_non_null(strstr(o.err, "error: server starting (code 10109, request stub-5)"));
	S_out_free(&o);
	shutdown(st.fd, SHUT_RDWR);
	close(st.fd);
	pthread_join(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_bulk_import),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_progress_tty),
		cmocka_unit_test(test_password_handling),
		cmocka_unit_test(test_pem_with_key),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_config_and_errors),
		cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_retry_after),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("integration/cli", tests, S_setup, S_teardown);
}
