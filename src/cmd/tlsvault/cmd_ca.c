/*
 * tlsvault ca - the tenant's trusted CA certificates.
 *
 * DESIGN: the server parses certificates; the client only ships bytes. A
 * file that looks like PEM (a bundle is fine) is sent as text, anything else
 * is taken as DER and base64'd, so the CLI needs no X.509 parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core/b64.h"

static const char S_usage[] =
	"usage: tlsvault ca add FILE...         upload CA certificates (PEM, DER or PEM bundles)\n"
	"       tlsvault ca list                list the uploaded CA certificates\n"
	"       tlsvault ca rm FINGERPRINT...   remove CA certificates by SHA-1 fingerprint\n"
	"\n"
	"Imports are accepted only when their chain ends at a trusted CA.\n";

static void S_table(json_t *certs)
{
	json_t *c;
	size_t i;

	printf("%-40s  %-14s  %-24s  %s\n", "FINGERPRINT", "TYPE", "VALID UNTIL", "SUBJECT");
	json_array_foreach(certs, i, c)
		printf("%-40s  %-14s  %-24s  %s\n", tv_cmd_s(c, "fingerprint"),
		       tv_cmd_s(c, "certificateType"), tv_cmd_s(c, "validityEnd"),
		       tv_cmd_s(c, "subjectDN"));
}

static int S_add(struct tv_cmd *g, int argc, char **argv)
{
	struct tv_client_resp r = { 0 };
	json_t *list = json_array(), *body = NULL;
	char *data, *b64;
	size_t len;
	int i, rc = 0;

	for (i = 2; i < argc && !rc; i++) {
		data = tv_cmd_read_file(argv[i], &len);
		if (!data) {
			fprintf(stderr, "error: cannot read '%s'\n", argv[i]);
			rc = TV_EXIT_RUNTIME;
			break;
		}
		if (strstr(data, "-----BEGIN")) {
			json_array_append_new(list, json_string(data));
		} else if (tv_b64_encode(&b64, data, len, false) == TV_OK) {
			json_array_append_new(list, json_string(b64));
			free(b64);
		} else {
			rc = TV_EXIT_RUNTIME;
		}
		free(data);
	}
	if (rc)
		goto out;
	body = json_pack("{s:O}", "encodedCertificates", list);
	rc = tv_cmd_api(g, &r, "POST", "/v1/trustedcacertificates", body, 201);
	if (!rc && g->json)
		tv_cmd_print_json(r.json);
	else if (!rc)
		S_table(json_object_get(r.json, "certificates"));
out:
	tv_client_resp_release(&r);
	json_decref(body);
	json_decref(list);
	return rc;
}

static int S_list(struct tv_cmd *g)
{
	struct tv_client_resp r;
	int rc = tv_cmd_api(g, &r, "GET", "/v1/trustedcacertificates", NULL, 200);

	if (!rc && g->json)
		tv_cmd_print_json(r.json);
	else if (!rc)
		S_table(json_object_get(r.json, "certificates"));
	tv_client_resp_release(&r);
	return rc;
}

static int S_rm(struct tv_cmd *g, int argc, char **argv)
{
	struct tv_client_resp r;
	json_t *fps = json_array(), *body;
	int i, rc;

	for (i = 2; i < argc; i++)
		json_array_append_new(fps, json_string(argv[i]));
	body = json_pack("{s:o}", "fingerprints", fps);
	rc = tv_cmd_api(g, &r, "POST", "/v1/trustedcacertificates/deletion", body, 204);
	if (!rc && !g->json)
		printf("removed %d certificate(s)\n", argc - 2);
	tv_client_resp_release(&r);
	json_decref(body);
	return rc;
}

int tv_cmd_ca(struct tv_cmd *g, int argc, char **argv)
{
	if (tv_cmd_wants_help(argc, argv)) {
		fputs(S_usage, stdout);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "add"))
		return S_add(g, argc, argv);
	if (argc == 2 && !strcmp(argv[1], "list"))
		return S_list(g);
	if (argc >= 3 && !strcmp(argv[1], "rm"))
		return S_rm(g, argc, argv);
	fputs(S_usage, stderr);
	return TV_EXIT_USAGE;
}
