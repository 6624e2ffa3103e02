/*
 * tlsvault - the command-line client.
 *
 * DESIGN: subcommands in the style of vcert/gh: `--help` on each, readable
 * tables on a terminal, `--json` for scripts. Exit codes: 0 ok, 1 the call
 * failed (the server said no, or could not be reached), 2 usage error, 3
 * some imports failed. main() only parses the global options, resolves the
 * configuration (cli/config) and dispatches; each command family lives in
 * its own cmd_*.c. Passwords never come from argv; the API key may (as
 * with vcert), and is then erased from argv as soon as it is copied.
 * jansson and libcurl get the wiping allocator (core/wipeheap.h) before
 * their first allocation: they hold the API key (the request header) and
 * what the server answers (a new API key, an exported keystore).
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "cmd.h"
#include "core/harden.h"
#include "core/secmem.h"
#include "core/util.h"
#include "core/wipeheap.h"

static const char S_usage[] =
	"usage: tlsvault [--url URL] [--api-key KEY] [--cacert FILE] [--insecure] [--json]\n"
	"                <command> [<args>]\n"
	"\n"
	"commands:\n"
	"  whoami                     show the tenant and role of the API key\n"
	"  edge list                  list the edge instances and their DEK ids\n"
	"  import PATH...             import .p12/.pfx files or directories (bulk)\n"
	"  ca add|list|rm             manage the trusted CA certificates\n"
	"  cert list|show|retire|recover|delete\n"
	"                             search and manage stored certificates\n"
	"  export ID|FINGERPRINT      download a certificate with its key\n"
	"  job show ID                show an import job\n"
	"  apikey create|list|revoke  manage API keys (ADMIN)\n"
	"  version                    print the client version\n"
	"\n"
	"Run 'tlsvault <command> --help' for a command's options.\n"
	"\n"
	"The server and key come from --url/--api-key, else TLSVAULT_URL (default\n"
	"http://127.0.0.1:8080) and TLSVAULT_API_KEY, else ~/.config/tlsvault/config\n"
	"(lines url=... and api_key=...; must not be readable by group or others).\n"
	"Prefer the variable or the file to --api-key: other users can see a command\n"
	"line until tlsvault erases the key from it, a moment after it starts.\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage error, 3 some imports failed.\n";

static const char S_edge_usage[] = "usage: tlsvault edge list\n"
				   "List the edge instances with their status and DEK id.\n";

int tv_cmd_api(struct tv_cmd *g, struct tv_client_resp *r, const char *method,
	       const char *path, json_t *body, long want)
{
	char msg[700];
	enum tv_err rc = tv_client_call(&g->client, r, method, path, body);

	if (rc == TV_ERR_IO) {
		fprintf(stderr, "error: %s\n", r->error);
		return TV_EXIT_RUNTIME;
	}
	if (rc) {
		fprintf(stderr, "error: %s\n", tv_strerror(rc));
		return TV_EXIT_RUNTIME;
	}
	if (r->status != want) {
		tv_client_describe(r, msg, sizeof(msg));
		fprintf(stderr, "%s\n", msg);
		return TV_EXIT_RUNTIME;
	}
	return 0;
}

const char *tv_cmd_s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && v[0] ? v : "-";
}

void tv_cmd_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		printf("%s\n", s);
	tv_wipeheap_free(s); /* may hold a new API key */
}

int tv_cmd_resolve_cert(struct tv_cmd *g, const char *ref, char out[64])
{
	struct tv_client_resp r = { 0 };
	char fp[41];
	json_t *body, *cert;
	int rc;

	if (tv_uuid_valid(ref)) {
		snprintf(out, 64, "%s", ref);
		return 0;
	}
	if (tv_fingerprint_norm(fp, ref) != TV_OK) {
		fprintf(stderr, "error: '%s' is neither a certificate id nor a fingerprint\n", ref);
		return TV_EXIT_USAGE;
	}
	body = json_pack("{s:{s:s,s:s,s:s}}", "expression", "field", "fingerprint", "operator",
			 "EQ", "value", fp);
	rc = tv_cmd_api(g, &r, "POST", "/outagedetection/v1/certificatesearch", body, 200);
	json_decref(body);
	if (!rc) {
		cert = json_array_get(json_object_get(r.json, "certificates"), 0);
		if (!json_string_value(json_object_get(cert, "id"))) {
			fprintf(stderr, "error: no certificate with fingerprint %s\n", fp);
			rc = TV_EXIT_RUNTIME;
		} else {
			snprintf(out, 64, "%s", tv_cmd_s(cert, "id"));
		}
	}
	tv_client_resp_release(&r);
	return rc;
}

static int S_whoami(struct tv_cmd *g, int argc, char **argv)
{
	struct tv_client_resp r;
	json_t *key, *company;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		printf("usage: tlsvault whoami\nShow the tenant, key id and role of the API key.\n");
		return 0;
	}
	rc = tv_cmd_api(g, &r, "GET", "/v1/useraccounts", NULL, 200);
	if (!rc) {
		key = json_object_get(r.json, "apiKey");
		company = json_object_get(r.json, "company");
		if (g->json)
			tv_cmd_print_json(r.json);
		else
			printf("tenant  %s (%s)\nkey     %s\nrole    %s\nexpires %s\n",
			       tv_cmd_s(company, "name"), tv_cmd_s(company, "id"),
			       tv_cmd_s(key, "id"), tv_cmd_s(key, "role"),
			       tv_cmd_s(key, "validityEndDate"));
	}
	tv_client_resp_release(&r);
	return rc;
}

static int S_edge(struct tv_cmd *g, int argc, char **argv)
{
	struct tv_client_resp r;
	json_t *e;
	size_t i;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		fputs(S_edge_usage, stdout);
		return 0;
	}
	if (argc != 2 || strcmp(argv[1], "list")) {
		fputs(S_edge_usage, stderr);
		return TV_EXIT_USAGE;
	}
	rc = tv_cmd_api(g, &r, "GET", "/v1/edgeinstances", NULL, 200);
	if (!rc && g->json) {
		tv_cmd_print_json(json_object_get(r.json, "edgeInstances"));
	} else if (!rc) {
		printf("%-36s  %-15s  %-24s  %s\n", "ID", "STATUS", "LAST SEEN",
		       "ENCRYPTION KEY ID");
		json_array_foreach(json_object_get(r.json, "edgeInstances"), i, e)
			printf("%-36s  %-15s  %-24s  %s\n", tv_cmd_s(e, "id"),
			       tv_cmd_s(e, "edgeStatus"), tv_cmd_s(e, "lastSeenOnDate"),
			       tv_cmd_s(e, "encryptionKeyId"));
	}
	tv_client_resp_release(&r);
	return rc;
}

struct S_command {
	const char *name;
	int (*run)(struct tv_cmd *g, int argc, char **argv);
};

static const struct S_command S_commands[] = {
	{ "whoami", S_whoami },	    { "edge", S_edge },	    { "import", tv_cmd_import },
	{ "ca", tv_cmd_ca },	    { "cert", tv_cmd_cert }, { "job", tv_cmd_job },
	{ "export", tv_cmd_export }, { "apikey", tv_cmd_apikey },
};

char *tv_cmd_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *grown;
	size_t n = 0, cap = 0, got;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				free(buf);
				buf = NULL;
				goto out;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
out:
	fclose(f);
	return buf;
}

bool tv_cmd_wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "api-key", required_argument, NULL, 'k' },
		{ "cacert", required_argument, NULL, 'c' },
		{ "insecure", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url_opt = NULL, *cacert = NULL;
	char *key_opt = NULL; /* in argv: tv_cli_config_load wipes it */
	struct tv_cli_config cfg = { 0 };
	struct tv_cmd g = { 0 };
	bool insecure = false;
	char err[1200];
	const char *cmd;
	size_t i;
	int c, first, rc = TV_EXIT_USAGE;

	json_set_alloc_funcs(tv_wipeheap_malloc, tv_wipeheap_free);
	if (tv_harden_no_dumps() != TV_OK) {
		fprintf(stderr, "error: cannot refuse core dumps\n");
		return TV_EXIT_RUNTIME;
	}
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': url_opt = optarg; break;
		case 'k': key_opt = optarg; break;
		case 'c': cacert = optarg; break;
		case 'i': insecure = true; break;
		case 'j': g.json = true; break;
		case 'h': fputs(S_usage, stdout); return 0;
		default: fputs(S_usage, stderr); return TV_EXIT_USAGE;
		}
	}
	cmd = optind < argc ? argv[optind] : NULL;
	if (!cmd) {
		fputs(S_usage, stderr);
		return TV_EXIT_USAGE;
	}
	if (!strcmp(cmd, "version")) {
		printf("tlsvault %s\n", TV_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help")) {
		fputs(S_usage, stdout);
		return 0;
	}
	for (i = 0; i < sizeof(S_commands) / sizeof(S_commands[0]); i++)
		if (!strcmp(cmd, S_commands[i].name))
			break;
	if (i == sizeof(S_commands) / sizeof(S_commands[0])) {
		fprintf(stderr, "error: unknown command '%s'\n\n%s", cmd, S_usage);
		return TV_EXIT_USAGE;
	}
	/* help needs neither a server nor a key */
	if (!tv_cmd_wants_help(argc - optind, argv + optind)) {
		if (tv_cli_config_load(&cfg, url_opt, key_opt, err, sizeof(err)) != TV_OK) {
			fprintf(stderr, "error: %s\n", err[0] ? err : "cannot read the configuration");
			return TV_EXIT_RUNTIME;
		}
		if (!cfg.api_key) {
			fprintf(stderr, "error: no API key (set TLSVAULT_API_KEY, use --api-key, "
					"or put api_key= in ~/.config/tlsvault/config)\n");
			tv_cli_config_release(&cfg);
			return TV_EXIT_USAGE;
		}
	}
	if (tv_secmem_init() != TV_OK ||
	    curl_global_init_mem(CURL_GLOBAL_DEFAULT, tv_wipeheap_malloc, tv_wipeheap_free,
				 tv_wipeheap_realloc, tv_wipeheap_strdup,
				 tv_wipeheap_calloc) != CURLE_OK) {
		fprintf(stderr, "error: cannot initialise libsodium or libcurl\n");
		tv_cli_config_release(&cfg);
		return TV_EXIT_RUNTIME;
	}
	tv_client_init(&g.client, cfg.url, cfg.api_key, cacert, insecure);
	first = optind;
	optind = 0; /* the subcommand parses its own options */
	rc = S_commands[i].run(&g, argc - first, argv + first);
	tv_client_release(&g.client);
	curl_global_cleanup();
	tv_cli_config_release(&cfg);
	return rc;
}
