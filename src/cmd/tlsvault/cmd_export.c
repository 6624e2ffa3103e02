/*
 * tlsvault export / apikey - download a certificate with its key, and
 * manage API keys.
 *
 * DESIGN: the passphrase is sealed to the key named by the certificate's
 * own dekHash (not the edge's current key), as the API requires. The output
 * file is created with O_EXCL and mode 0600 so a private key is never
 * written over an existing file or made readable by others, even briefly;
 * --force removes the old file first rather than truncating it, which also
 * keeps a symlink from redirecting the write. --unzip hands the PEM archive
 * to unzip(1) under umask 077 (libzip deflates; the CLI links no inflater).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/secret.h"
#include "cmd.h"
#include "core/b64.h"

static const char S_usage[] =
	"usage: tlsvault export ID|FINGERPRINT --format pkcs12|pem|jks [-o FILE]\n"
	"                       [--passphrase-file F | --passphrase-env VAR | --ask]\n"
	"                       [--label NAME] [--legacy] [--force] [--unzip DIR]\n"
	"\n"
	"Download a certificate with its private key. The passphrase protects the key (and\n"
	"the JKS store); it is sealed to the certificate's DEK before it is sent.\n"
	"\n"
	"  --format F        pkcs12 (.p12), pem (a .zip of key, cert and chains) or jks\n"
	"  -o FILE           output file (default <id>.p12|.zip|.jks); written with mode 0600\n"
	"  --label NAME      alias / file label inside the keystore\n"
	"  --legacy          3DES/SHA-1 PKCS#12 for old Windows and Java\n"
	"  --force           replace FILE if it exists\n"
	"  --unzip DIR       with --format pem, also unpack the archive into DIR (unzip(1))\n";

static const char S_apikey_usage[] =
	"usage: tlsvault apikey create --name NAME --role READ_ONLY|PKI_ADMIN|ADMIN [--days D]\n"
	"       tlsvault apikey list\n"
	"       tlsvault apikey revoke ID\n"
	"\n"
	"Manage the tenant's API keys (needs an ADMIN key). A new key is shown once.\n";

struct S_export {
	const char *ref, *format, *out, *pw_file, *pw_env, *label, *unzip_dir;
	bool ask, legacy, force;
};

static int S_parse(struct S_export *e, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "passphrase-env", required_argument, NULL, 'e' },
		{ "ask", no_argument, NULL, 'a' },
		{ "label", required_argument, NULL, 'l' },
		{ "legacy", no_argument, NULL, 'L' },
		{ "force", no_argument, NULL, 'F' },
		{ "unzip", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': e->format = optarg; break;
		case 'o': e->out = optarg; break;
		case 'p': e->pw_file = optarg; break;
		case 'e': e->pw_env = optarg; break;
		case 'a': e->ask = true; break;
		case 'l': e->label = optarg; break;
		case 'L': e->legacy = true; break;
		case 'F': e->force = true; break;
		case 'u': e->unzip_dir = optarg; break;
		default:
			fprintf(stderr, "error: unknown or incomplete option (see --help)\n");
			return TV_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !e->format) {
		fputs(S_usage, stderr);
		return TV_EXIT_USAGE;
	}
	e->ref = argv[optind];
	if (strcmp(e->format, "pkcs12") && strcmp(e->format, "pem") && strcmp(e->format, "jks")) {
		fprintf(stderr, "error: --format is pkcs12, pem or jks\n");
		return TV_EXIT_USAGE;
	}
	if (!!e->pw_file + !!e->pw_env + e->ask != 1) {
		fprintf(stderr, "error: give one of --passphrase-file, --passphrase-env, --ask\n");
		return TV_EXIT_USAGE;
	}
	if (e->unzip_dir && strcmp(e->format, "pem")) {
		fprintf(stderr, "error: --unzip goes with --format pem\n");
		return TV_EXIT_USAGE;
	}
	return 0;
}

/* Seal the passphrase to the public key with id dek_hash. */
static int S_seal(struct tv_cmd *g, const struct S_export *e, const char *dek_hash,
		  char **sealed)
{
	struct tv_client_resp r = { 0 };
	struct tv_secbuf *pw = NULL;
	unsigned char pk[32];
	const char *key;
	char path[200];
	size_t klen = 0;
	enum tv_err erc;
	int rc;

	snprintf(path, sizeof(path), "/v1/edgeencryptionkeys/%s", dek_hash);
	rc = tv_cmd_api(g, &r, "GET", path, NULL, 200);
	if (rc)
		goto out;
	key = json_string_value(json_object_get(r.json, "key"));
	if (!key || tv_b64_decode_to(pk, sizeof(pk), &klen, key, strlen(key)) || klen != 32) {
		fprintf(stderr, "error: the server sent a malformed DEK public key\n");
		rc = TV_EXIT_RUNTIME;
		goto out;
	}
	if (e->pw_file)
		erc = tv_cli_secret_file(&pw, e->pw_file);
	else if (e->pw_env)
		erc = tv_cli_secret_env(&pw, e->pw_env);
	else
		erc = tv_cli_secret_ask(&pw, "export passphrase: ", 1);
	if (!erc && pw->len == 0)
		erc = TV_ERR_INVALID;
	if (!erc)
		erc = tv_cli_seal_b64(sealed, pw->p, pw->len, pk);
	if (erc) {
		fprintf(stderr, "error: cannot read the passphrase (%s)\n", tv_strerror(erc));
		rc = TV_EXIT_RUNTIME;
	}
out:
	tv_secbuf_free(pw);
	tv_client_resp_release(&r);
	return rc;
}

static int S_write(const char *path, const char *data, size_t len, bool force)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	if (force && unlink(path) != 0 && errno != ENOENT) {
		fprintf(stderr, "error: cannot replace '%s': %s\n", path, strerror(errno));
		return TV_EXIT_RUNTIME;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "error: cannot create '%s': %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (use --force to replace it)" : "");
		return TV_EXIT_RUNTIME;
	}
	fchmod(fd, 0600); /* whatever the umask said */
	while (off < len && (n = write(fd, data + off, len - off)) > 0)
		off += (size_t)n;
	if (close(fd) != 0 || off != len) {
		fprintf(stderr, "error: cannot write '%s'\n", path);
		unlink(path);
		return TV_EXIT_RUNTIME;
	}
	return 0;
}

/*
 * unzip(1) restores the members' stored modes (0666 from libzip), whatever
 * the umask: walk the central directory of the archive we wrote and tighten
 * each member to 0600.
 */
static void S_tighten(const unsigned char *zip, size_t len, const char *dir)
{
	char path[1024];
	size_t i, nlen;

	for (i = 0; i + 46 <= len; i++) {
		if (memcmp(zip + i, "PK\x01\x02", 4))
			continue;
		nlen = (size_t)zip[i + 28] | (size_t)zip[i + 29] << 8;
		if (i + 46 + nlen > len || nlen == 0)
			break;
		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)nlen, (const char *)zip + i + 46);
		if (!strstr(path, "..") && chmod(path, 0600) != 0)
			fprintf(stderr, "warning: cannot chmod '%s'\n", path);
		i += 45 + nlen;
	}
}

static int S_unzip(const char *zip, const char *dir, bool force)
{
	char *args[] = { "unzip", "-q", force ? "-o" : "-n", (char *)zip, "-d", (char *)dir, NULL };
	int status = 0;
	pid_t pid;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "error: cannot create '%s': %s\n", dir, strerror(errno));
		return TV_EXIT_RUNTIME;
	}
	pid = fork();
	if (pid == 0) {
		umask(077); /* the members include the (encrypted) key */
		execvp("unzip", args);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		fprintf(stderr, "error: unzip of '%s' into '%s' failed\n", zip, dir);
		return TV_EXIT_RUNTIME;
	}
	return 0;
}

int tv_cmd_export(struct tv_cmd *g, int argc, char **argv)
{
	struct tv_client_resp r = { 0 };
	struct S_export e = { 0 };
	char id[64], path[200], out_default[128], *sealed = NULL, *dek = NULL;
	const char *ext, *fmt;
	json_t *body = NULL;
	struct stat st;
	int rc;

	if (tv_cmd_wants_help(argc, argv)) {
		fputs(S_usage, stdout);
		return 0;
	}
	rc = S_parse(&e, argc, argv);
	if (rc)
		return rc;
	rc = tv_cmd_resolve_cert(g, e.ref, id);
	if (rc)
		return rc;
	ext = !strcmp(e.format, "pkcs12") ? "p12" : !strcmp(e.format, "pem") ? "zip" : "jks";
	fmt = !strcmp(e.format, "pkcs12") ? "PKCS12" : !strcmp(e.format, "pem") ? "PEM" : "JKS";
	snprintf(out_default, sizeof(out_default), "%s.%s", id, ext);
	if (!e.out)
		e.out = out_default;
	if (!e.force && lstat(e.out, &st) == 0) {
		fprintf(stderr, "error: '%s' exists (use --force to replace it)\n", e.out);
		return TV_EXIT_RUNTIME;
	}
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", id);
	rc = tv_cmd_api(g, &r, "GET", path, NULL, 200);
	if (rc)
		goto out;
	if (!json_string_value(json_object_get(r.json, "dekHash"))) {
		fprintf(stderr, "error: certificate %s has no stored private key\n", id);
		rc = TV_EXIT_RUNTIME;
		goto out;
	}
	dek = strdup(json_string_value(json_object_get(r.json, "dekHash")));
	tv_client_resp_release(&r);
	rc = dek ? S_seal(g, &e, dek, &sealed) : TV_EXIT_RUNTIME;
	if (rc)
		goto out;
	body = json_pack("{s:s,s:s,s:s}", "exportFormat", fmt, "encryptedPrivateKeyPassphrase",
			 sealed, "encryptedKeystorePassphrase", "");
	if (e.label)
		json_object_set_new(body, "certificateLabel", json_string(e.label));
	if (e.legacy)
		json_object_set_new(body, "keystoreProfile", json_string("LEGACY"));
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", id);
	rc = tv_cmd_api(g, &r, "POST", path, body, 200);
	if (rc)
		goto out;
	rc = S_write(e.out, r.body ? r.body : "", r.len, e.force);
	if (!rc && e.unzip_dir)
		rc = S_unzip(e.out, e.unzip_dir, e.force);
	if (!rc && e.unzip_dir)
		S_tighten((const unsigned char *)r.body, r.len, e.unzip_dir);
	if (!rc && !g->json)
		fprintf(stderr, "wrote %s (%zu bytes, mode 0600)\n", e.out, r.len);
	if (!rc && g->json)
		printf("{\"file\":\"%s\",\"bytes\":%zu,\"format\":\"%s\"}\n", e.out, r.len, fmt);
out:
	free(sealed);
	free(dek);
	json_decref(body);
	tv_client_resp_release(&r);
	return rc;
}

static int S_apikey_create(struct tv_cmd *g, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct tv_client_resp r = { 0 };
	const char *name = NULL, *role = NULL;
	long days = 365;
	json_t *body;
	int c, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'r': role = optarg; break;
		case 'd': days = strtol(optarg, NULL, 10); break;
		default: fputs(S_apikey_usage, stderr); return TV_EXIT_USAGE;
		}
	}
	if (!name || !role || days < 1 || optind != argc) {
		fputs(S_apikey_usage, stderr);
		return TV_EXIT_USAGE;
	}
	body = json_pack("{s:s,s:s,s:i}", "name", name, "role", role, "validityDays", (int)days);
	rc = tv_cmd_api(g, &r, "POST", "/v1/apikeys", body, 201);
	if (!rc && g->json)
		tv_cmd_print_json(r.json);
	else if (!rc)
		printf("id       %s\nname     %s\nrole     %s\nexpires  %s\nkey      %s\n"
		       "(the key is shown only once)\n",
		       tv_cmd_s(r.json, "id"), tv_cmd_s(r.json, "name"), tv_cmd_s(r.json, "role"),
		       tv_cmd_s(r.json, "validityEndDate"), tv_cmd_s(r.json, "key"));
	json_decref(body);
	tv_client_resp_release(&r);
	return rc;
}

int tv_cmd_apikey(struct tv_cmd *g, int argc, char **argv)
{
	struct tv_client_resp r = { 0 };
	char path[160];
	json_t *k;
	size_t i;
	int rc;

	if (tv_cmd_wants_help(argc, argv)) {
		fputs(S_apikey_usage, stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "create"))
		return S_apikey_create(g, argc - 1, argv + 1);
	if (argc == 2 && !strcmp(argv[1], "list")) {
		rc = tv_cmd_api(g, &r, "GET", "/v1/apikeys", NULL, 200);
		if (!rc && g->json) {
			tv_cmd_print_json(r.json);
		} else if (!rc) {
			printf("%-36s  %-10s  %-8s  %-24s  %s\n", "ID", "ROLE", "REVOKED",
			       "EXPIRES", "NAME");
			json_array_foreach(json_object_get(r.json, "apiKeys"), i, k)
				printf("%-36s  %-10s  %-8s  %-24s  %s\n", tv_cmd_s(k, "id"),
				       tv_cmd_s(k, "role"),
				       json_is_true(json_object_get(k, "revoked")) ? "yes" : "no",
				       tv_cmd_s(k, "validityEndDate"), tv_cmd_s(k, "name"));
		}
		tv_client_resp_release(&r);
		return rc;
	}
	if (argc == 3 && !strcmp(argv[1], "revoke") && strlen(argv[2]) < 64 &&
	    !strchr(argv[2], '/')) {
		snprintf(path, sizeof(path), "/v1/apikeys/%s", argv[2]);
		rc = tv_cmd_api(g, &r, "DELETE", path, NULL, 204);
		if (!rc)
			printf("revoked %s\n", argv[2]);
		tv_client_resp_release(&r);
		return rc;
	}
	fputs(S_apikey_usage, stderr);
	return TV_EXIT_USAGE;
}
