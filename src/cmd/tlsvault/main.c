/*
 * tlsvault - the command-line client.
 *
 * DESIGN: subcommands in the style of vcert/gh: `--help` on each, readable
 * tables on a terminal, `--json` for scripts. Exit codes: 0 ok, 1 the call
 * failed (the server said no, or could not be reached), 2 usage error.
 * This first cut covers the identity commands; bulk import, trusted CAs,
 * search and export arrive with the server endpoints they call.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"

#define EXIT_USAGE 2

static const char S_usage[] =
	"usage: tlsvault [--url URL] [--api-key KEY] [--cacert F] [--insecure] [--json]\n"
	"                <command>\n"
	"\n"
	"commands:\n"
	"  whoami      show the tenant and role of the API key\n"
	"  edge list   list the edge instances and their DEK ids\n"
	"  version     print the client version\n"
	"\n"
	"TLSVAULT_URL (default http://127.0.0.1:8080) and TLSVAULT_API_KEY configure\n"
	"the server and key; the options win over them.\n";

struct S_global {
	struct tv_client client;
	bool json;
};

static int S_call(const struct S_global *g, struct tv_client_resp *r, const char *path)
{
	if (!g->client.api_key) {
		fprintf(stderr, "tlsvault: no API key (set TLSVAULT_API_KEY or use --api-key)\n");
		return EXIT_USAGE;
	}
	if (tv_client_call(&g->client, r, "GET", path, NULL) != TV_OK) {
		fprintf(stderr, "tlsvault: %s\n", r->error);
		return EXIT_FAILURE;
	}
	if (r->status != 200) {
		fprintf(stderr, "tlsvault: HTTP %ld%s%s\n", r->status, r->error[0] ? ": " : "",
			r->error);
		return EXIT_FAILURE;
	}
	return 0;
}

static const char *S_s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "-";
}

static int S_whoami(const struct S_global *g)
{
	struct tv_client_resp r;
	int rc = S_call(g, &r, "/v1/useraccounts");
	json_t *key, *company;

	if (!rc) {
		key = json_object_get(r.json, "apiKey");
		company = json_object_get(r.json, "company");
		if (g->json)
			printf("%s\n", r.body);
		else
			printf("tenant  %s (%s)\nkey     %s\nrole    %s\nexpires %s\n",
			       S_s(company, "name"), S_s(company, "id"), S_s(key, "id"),
			       S_s(key, "role"), S_s(key, "validityEndDate"));
	}
	tv_client_resp_release(&r);
	return rc;
}

static int S_edge_list(const struct S_global *g)
{
	struct tv_client_resp r;
	int rc = S_call(g, &r, "/v1/edgeinstances");
	json_t *arr, *e;
	size_t i;

	if (!rc) {
		arr = json_object_get(r.json, "edgeInstances");
		if (g->json) {
			printf("%s\n", r.body);
		} else {
			printf("%-36s  %-15s  %-24s  %s\n", "ID", "STATUS", "LAST SEEN",
			       "ENCRYPTION KEY ID");
			json_array_foreach(arr, i, e)
				printf("%-36s  %-15s  %-24s  %s\n", S_s(e, "id"),
				       S_s(e, "edgeStatus"), S_s(e, "lastSeenOnDate"),
				       S_s(e, "encryptionKeyId"));
		}
	}
	tv_client_resp_release(&r);
	return rc;
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
	struct S_global g = { 0 };
	const char *cmd;
	int c;

	g.client.url = getenv("TLSVAULT_URL") ? getenv("TLSVAULT_URL") : "http://127.0.0.1:8080";
	g.client.api_key = getenv("TLSVAULT_API_KEY");
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': g.client.url = optarg; break;
		case 'k': g.client.api_key = optarg; break;
		case 'c': g.client.cacert = optarg; break;
		case 'i': g.client.insecure = true; break;
		case 'j': g.json = true; break;
		case 'h': fputs(S_usage, stdout); return 0;
		default: fputs(S_usage, stderr); return EXIT_USAGE;
		}
	}
	cmd = optind < argc ? argv[optind] : NULL;
	if (!cmd) {
		fputs(S_usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "version")) {
		printf("tlsvault %s\n", TV_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "whoami") && optind + 1 == argc)
		return S_whoami(&g);
	if (!strcmp(cmd, "edge") && optind + 2 == argc && !strcmp(argv[optind + 1], "list"))
		return S_edge_list(&g);
	fprintf(stderr, "tlsvault: unknown command\n\n%s", S_usage);
	return EXIT_USAGE;
}
