/*
 * tlsvault import - bulk import of keystores.
 *
 * DESIGN: the work is done by cli/importer (batches, threads, long-polls);
 * this file decides where each password comes from and how results are
 * shown. There is no --password option on purpose (argv is public), and
 * an argument that starts with --password but is none of ours is refused
 * without echoing it, since it probably holds a password. The progress bar
 * is drawn only when stderr is a terminal, so logs and pipes never get
 * escape codes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/importer.h"
#include "cli/secret.h"
#include "cmd.h"
#include "core/util.h"

static const char S_usage[] =
	"usage: tlsvault import [--password-file F | --password-env VAR | --password-stdin | --ask]\n"
	"                       [--password-map CSV] [--labels-from-filenames] [--dry-run]\n"
	"                       [--parallel N] [--key KEYFILE] PATH...\n"
	"\n"
	"Import private keys with their certificates. PATH is a .p12/.pfx file, a .pem/.crt\n"
	"certificate with --key KEYFILE (a PKCS#8 PEM key, plain or encrypted), or a directory\n"
	"walked recursively for .p12/.pfx files. Passwords are sealed to the tenant's DEK\n"
	"before they leave this machine; there is no option that takes one on the command line.\n"
	"\n"
	"  --password-file F        read the password from the first line of F\n"
	"  --password-env VAR       take the password from environment variable VAR\n"
	"  --password-stdin         read the password from the first line of stdin\n"
	"  --ask                    prompt for the password on the terminal\n"
	"  --password-map CSV       lines 'file,password' that override the password per file\n"
	"  --labels-from-filenames  label each import with its file name (without extension)\n"
	"  --dry-run                check everything, store nothing (status VALID)\n"
	"  --parallel N             batches of up to 100 in flight (default 4)\n"
	"  --key KEYFILE            the private key for a .pem/.crt PATH\n"
	"\n"
	"Prints one line per result: file, status, fingerprint, reason (--json: an array with\n"
	"one object per input file). Exit 0 when all imported or skipped, 3 when some failed.\n";

struct S_progress {
	bool tty;
	int64_t start_ms;
	int64_t last_ms;
};

/* Called by the workers with the importer's lock held. */
static void S_draw(void *ud, size_t done, size_t total)
{
	struct S_progress *p = ud;
	int64_t now = tv_mono_ms(), el = now - p->start_ms;
	double rate = el > 0 ? (double)done * 1000.0 / (double)el : 0.0;
	char bar[31];
	size_t fill = total ? done * 30 / total : 30, i;
	long eta;

	if (!p->tty || (done < total && now - p->last_ms < 100 && done))
		return;
	p->last_ms = now;
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	eta = rate > 0 ? (long)((double)(total - done) / rate) : 0;
	fprintf(stderr, "\r\x1b[K[%s] %zu/%zu  %.1f/s  ETA %ld:%02ld", bar, done, total, rate,
		eta / 60, eta % 60);
	fflush(stderr);
}

static const char *S_overall(const struct tv_imp_file *f)
{
	json_t *r;
	size_t i;

	if (f->local_error[0])
		return "FAILED";
	if (f->batch_error[0])
		return "ERROR";
	if (tv_imp_file_failed(f))
		return "FAILED";
	json_array_foreach(f->results, i, r)
		return tv_cmd_s(r, "status");
	return "FAILED";
}

static void S_print_json(const struct tv_cli_import *imp)
{
	json_t *out = json_array(), *o, *rs, *r, *copy;
	size_t i, k;

	for (i = 0; out && i < imp->n; i++) {
		const struct tv_imp_file *f = &imp->files[i];

		rs = json_array();
		json_array_foreach(f->results, k, r) {
			copy = json_copy(r);
			json_object_del(copy, "certificateBytes");
			json_array_append_new(rs, copy);
		}
		o = json_pack("{s:s, s:s, s:o}", "file", f->path, "status", S_overall(f),
			      "results", rs);
		if (f->local_error[0])
			json_object_set_new(o, "reason", json_string(f->local_error));
		else if (f->batch_error[0])
			json_object_set_new(o, "reason", json_string(f->batch_error));
		json_array_append_new(out, o);
	}
	tv_cmd_print_json(out);
	json_decref(out);
}

static void S_print_table(const struct tv_cli_import *imp)
{
	int w = 4;
	size_t i, k;
	json_t *r;

	for (i = 0; i < imp->n; i++)
		if ((int)strlen(imp->files[i].path) > w)
			w = (int)strlen(imp->files[i].path);
	if (w > 70)
		w = 70;
	for (i = 0; i < imp->n; i++) {
		const struct tv_imp_file *f = &imp->files[i];
		const char *why = f->local_error[0] ? f->local_error : f->batch_error;

		if (why[0] || json_array_size(f->results) == 0) {
			printf("%-*s  %-8s  %-40s  %s\n", w, f->path, S_overall(f), "-",
			       why[0] ? why : "NO_RESULT: the server gave no result");
			continue;
		}
		json_array_foreach(f->results, k, r)
			printf("%-*s  %-8s  %-40s  %s\n", w, f->path, tv_cmd_s(r, "status"),
			       tv_cmd_s(r, "fingerprint"), tv_cmd_s(r, "reason"));
	}
}

static void S_summary(const struct tv_cli_import *imp)
{
	size_t i, k, imported = 0, skipped = 0, failed = 0, valid = 0;
	json_t *r;

	for (i = 0; i < imp->n; i++) {
		if (json_array_size(imp->files[i].results) == 0)
			failed++;
		json_array_foreach(imp->files[i].results, k, r) {
			const char *st = tv_cmd_s(r, "status");

			imported += !strcmp(st, "IMPORTED");
			skipped += !strcmp(st, "SKIPPED");
			valid += !strcmp(st, "VALID");
			failed += !strcmp(st, "FAILED");
		}
	}
	fprintf(stderr, "%zu files: %zu imported, %zu skipped, %zu valid, %zu failed\n", imp->n,
		imported, skipped, valid, failed);
}

struct S_opts {
	const char *pw_file, *pw_env, *map_file, *key_file;
	bool pw_stdin, ask;
};

static int S_load_password(const struct S_opts *o, struct tv_secbuf **pw)
{
	int sources = !!o->pw_file + !!o->pw_env + o->pw_stdin + o->ask;
	enum tv_err rc = TV_OK;

	if (sources > 1) {
		fprintf(stderr, "error: give at most one of --password-file, --password-env, "
				"--password-stdin, --ask\n");
		return TV_EXIT_USAGE;
	}
	if (o->pw_file)
		rc = tv_cli_secret_file(pw, o->pw_file);
	else if (o->pw_env)
		rc = tv_cli_secret_env(pw, o->pw_env);
	else if (o->pw_stdin)
		rc = tv_cli_secret_fd(pw, 0);
	else if (o->ask)
		rc = tv_cli_secret_ask(pw, "keystore password: ", 0);
	if (rc == TV_ERR_NOT_FOUND) {
		fprintf(stderr, "error: environment variable '%s' is not set\n", o->pw_env);
		return TV_EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "error: cannot read the password: %s\n", tv_strerror(rc));
		return TV_EXIT_RUNTIME;
	}
	return 0;
}

/* Refuse --password... arguments that are not ours, without echoing them. */
static bool S_password_in_argv(int argc, char **argv)
{
	static const char *const ours[] = { "--password-file", "--password-env",
					    "--password-stdin", "--password-map" };
	size_t i, k, n;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--"))
			return false;
		if (strncmp(argv[a], "--password", 10))
			continue;
		n = strcspn(argv[a], "=");
		for (k = 0, i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
			k += strlen(ours[i]) == n && !strncmp(ours[i], argv[a], n);
		if (!k)
			return true;
	}
	return false;
}

static int S_add_all(struct tv_cli_import *imp, const struct S_opts *o,
		     const struct tv_cli_pwmap *map, const struct tv_secbuf *pw, char **paths,
		     size_t n)
{
	const struct tv_secbuf *use;
	const char *dot;
	enum tv_err rc = TV_OK;
	size_t i;

	for (i = 0; i < n && !rc; i++) {
		use = tv_cli_pwmap_find(map, paths[i]);
		if (!use)
			use = pw;
		dot = strrchr(paths[i], '.');
		if (o->key_file && dot && (!strcmp(dot, ".pem") || !strcmp(dot, ".crt") ||
					   !strcmp(dot, ".cer")))
			rc = tv_imp_add_pem(imp, paths[i], o->key_file, use);
		else
			rc = tv_imp_add_p12(imp, paths[i], use);
	}
	if (rc)
		fprintf(stderr, "error: %s\n", tv_strerror(rc));
	return rc ? TV_EXIT_RUNTIME : 0;
}

int tv_cmd_import(struct tv_cmd *g, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "password-file", required_argument, NULL, 'f' },
		{ "password-env", required_argument, NULL, 'e' },
		{ "password-stdin", no_argument, NULL, 's' },
		{ "ask", no_argument, NULL, 'a' },
		{ "password-map", required_argument, NULL, 'm' },
		{ "labels-from-filenames", no_argument, NULL, 'l' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct S_progress prog = { .tty = isatty(2) == 1, .start_ms = tv_mono_ms() };
	struct tv_cli_pwmap map = { 0 };
	struct tv_secbuf *pw = NULL;
	struct tv_cli_import imp;
	struct S_opts o = { 0 };
	bool dry = false, labels = false;
	char **paths = NULL, err[1200];
	size_t npaths = 0, i;
	long parallel = 4;
	int c, rc = 0;
	enum tv_err erc;

	tv_imp_init(&imp, &g->client);
	if (S_password_in_argv(argc, argv)) {
		fprintf(stderr, "error: there is no --password option (a password in argv is visible "
				"to every user); use --password-file, --password-env, "
				"--password-stdin or --ask\n");
		rc = TV_EXIT_USAGE;
		goto out;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o.pw_file = optarg; break;
		case 'e': o.pw_env = optarg; break;
		case 's': o.pw_stdin = true; break;
		case 'a': o.ask = true; break;
		case 'm': o.map_file = optarg; break;
		case 'l': labels = true; break;
		case 'd': dry = true; break;
		case 'k': o.key_file = optarg; break;
		case 'p':
			parallel = strtol(optarg, NULL, 10);
			if (parallel < 1 || parallel > TV_IMP_PARALLEL_MAX) {
				fprintf(stderr, "error: --parallel must be 1 to %d\n",
					TV_IMP_PARALLEL_MAX);
				rc = TV_EXIT_USAGE;
				goto out;
			}
			break;
		case 'h': fputs(S_usage, stdout); goto out;
		default:
			fprintf(stderr, "error: unknown or incomplete option (see --help)\n");
			rc = TV_EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		fputs(S_usage, stderr);
		rc = TV_EXIT_USAGE;
		goto out;
	}
	rc = S_load_password(&o, &pw);
	if (rc)
		goto out;
	if (o.map_file && tv_cli_pwmap_load(&map, o.map_file, err, sizeof(err)) != TV_OK) {
		fprintf(stderr, "error: %s\n", err);
		rc = TV_EXIT_RUNTIME;
		goto out;
	}
	for (i = (size_t)optind; i < (size_t)argc; i++) {
		if (tv_imp_collect(&paths, &npaths, argv[i], err, sizeof(err)) != TV_OK) {
			fprintf(stderr, "%s\n", err);
			rc = TV_EXIT_RUNTIME;
			goto out;
		}
	}
	if (!npaths) {
		fprintf(stderr, "error: no .p12 or .pfx files found\n");
		rc = TV_EXIT_RUNTIME;
		goto out;
	}
	imp.dry_run = dry;
	imp.labels_from_filenames = labels;
	imp.parallel = (int)parallel;
	imp.progress = S_draw;
	imp.progress_ud = &prog;
	if (tv_imp_fetch_dek(&imp, err, sizeof(err)) != TV_OK) {
		fprintf(stderr, "%s\n", err);
		rc = TV_EXIT_RUNTIME;
		goto out;
	}
	rc = S_add_all(&imp, &o, &map, pw, paths, npaths);
	/* everything is sealed now: the plaintext has no more use */
	tv_secbuf_free(pw);
	pw = NULL;
	tv_cli_pwmap_release(&map);
	if (rc)
		goto out;
	erc = tv_imp_run(&imp);
	if (prog.tty && imp.total)
		fputc('\n', stderr);
	if (g->json)
		S_print_json(&imp);
	else
		S_print_table(&imp);
	S_summary(&imp);
	rc = 0;
	for (i = 0; i < imp.n; i++)
		if (tv_imp_file_failed(&imp.files[i]))
			rc = TV_EXIT_PARTIAL;
	if (erc != TV_OK)
		rc = TV_EXIT_RUNTIME;
out:
	tv_secbuf_free(pw);
	tv_cli_pwmap_release(&map);
	for (i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
	tv_imp_release(&imp);
	return rc;
}
