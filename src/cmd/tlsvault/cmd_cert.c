/*
 * tlsvault cert / job - search and manage stored certificates, and look at
 * import jobs.
 *
 * DESIGN: every listing is a POST to certificatesearch, the same query
 * language as the reference service, so `cert list` flags map one-to-one to
 * operands (--search is MATCH on certificateName, --expiring is validityEnd
 * LTE now+N days). Commands that take an id also take a fingerprint, which
 * is resolved with a search first (tv_cmd_resolve_cert).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core/util.h"

static const char S_usage[] =
	"usage: tlsvault cert list [--expiring Nd] [--search TEXT] [--status ACTIVE|RETIRED]\n"
	"                          [--limit N]\n"
	"       tlsvault cert show ID|FINGERPRINT\n"
	"       tlsvault cert retire ID|FINGERPRINT...\n"
	"       tlsvault cert recover ID|FINGERPRINT...\n"
	"       tlsvault cert delete ID|FINGERPRINT...   (only RETIRED ones)\n"
	"\n"
	"  --expiring Nd   certificates that expire within N days (e.g. 30d)\n"
	"  --search TEXT   certificate name contains TEXT (case-insensitive)\n"
	"  --status S      ACTIVE or RETIRED\n"
	"  --limit N       at most N results (default 100, max 1000)\n";

static const char S_job_usage[] =
	"usage: tlsvault job show ID [--wait]\n"
	"Show an import job and its results; --wait long-polls until the job is final.\n";

static void S_cert_table(json_t *certs)
{
	json_t *c;
	size_t i;

	printf("%-36s  %-8s  %-24s  %-40s  %s\n", "ID", "STATUS", "VALID UNTIL", "FINGERPRINT",
	       "NAME");
	json_array_foreach(certs, i, c)
		printf("%-36s  %-8s  %-24s  %-40s  %s\n", tv_cmd_s(c, "id"),
		       tv_cmd_s(c, "certificateStatus"), tv_cmd_s(c, "validityEnd"),
		       tv_cmd_s(c, "fingerprint"), tv_cmd_s(c, "certificateName"));
}

static int S_list(struct tv_cmd *g, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "expiring", required_argument, NULL, 'e' },
		{ "search", required_argument, NULL, 's' },
		{ "status", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct tv_client_resp r = { 0 };
	json_t *ops = json_array(), *body = NULL, *expr = NULL;
	char iso[TV_ISO_TIME_STRLEN + 1], *end;
	long days, limit = 100;
	int c, rc = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			days = strtol(optarg, &end, 10);
			if (days < 0 || end == optarg || (*end && strcmp(end, "d"))) {
				fprintf(stderr, "error: --expiring takes days, e.g. 30d\n");
				rc = TV_EXIT_USAGE;
				goto out;
			}
			tv_iso_time(iso, tv_now_ms() + (int64_t)days * 86400000);
			json_array_append_new(ops, json_pack("{s:s,s:s,s:s}", "field", "validityEnd",
							     "operator", "LTE", "value", iso));
			break;
		case 's':
			json_array_append_new(ops, json_pack("{s:s,s:s,s:s}", "field",
							     "certificateName", "operator", "MATCH",
							     "value", optarg));
			break;
		case 't':
			if (strcmp(optarg, "ACTIVE") && strcmp(optarg, "RETIRED")) {
				fprintf(stderr, "error: --status is ACTIVE or RETIRED\n");
				rc = TV_EXIT_USAGE;
				goto out;
			}
			json_array_append_new(ops, json_pack("{s:s,s:s,s:s}", "field",
							     "certificateStatus", "operator", "EQ",
							     "value", optarg));
			break;
		case 'l':
			limit = strtol(optarg, NULL, 10);
			if (limit < 1 || limit > 1000) {
				fprintf(stderr, "error: --limit is 1 to 1000\n");
				rc = TV_EXIT_USAGE;
				goto out;
			}
			break;
		default:
			fprintf(stderr, "error: unknown or incomplete option (see --help)\n");
			rc = TV_EXIT_USAGE;
			goto out;
		}
	}
	if (optind != argc) {
		fputs(S_usage, stderr);
		rc = TV_EXIT_USAGE;
		goto out;
	}
	body = json_pack("{s:{s:[{s:s,s:s}]},s:{s:i,s:i}}", "ordering", "orders", "field",
			 "validityEnd", "direction", "ASC", "paging", "pageNumber", 0, "pageSize",
			 (int)limit);
	if (json_array_size(ops) == 1)
		expr = json_incref(json_array_get(ops, 0));
	else if (json_array_size(ops) > 1)
		expr = json_pack("{s:s,s:O}", "operator", "AND", "operands", ops);
	if (expr)
		json_object_set_new(body, "expression", expr);
	rc = tv_cmd_api(g, &r, "POST", "/outagedetection/v1/certificatesearch", body, 200);
	if (!rc && g->json) {
		tv_cmd_print_json(r.json);
	} else if (!rc) {
		S_cert_table(json_object_get(r.json, "certificates"));
		printf("(%lld of %lld)\n",
		       (long long)json_array_size(json_object_get(r.json, "certificates")),
		       (long long)json_integer_value(json_object_get(r.json, "count")));
	}
out:
	tv_client_resp_release(&r);
	json_decref(body);
	json_decref(ops);
	return rc;
}

static int S_show(struct tv_cmd *g, const char *ref)
{
	static const char *const keys[] = { "id", "certificateName", "fingerprint", "subjectDN",
					    "issuerDN", "serialNumber", "validityStart",
					    "validityEnd", "encryptionType", "keyStrength",
					    "keyCurve", "certificateStatus", "dekHash", "label",
					    "importJobId", "creationDate" };
	struct tv_client_resp r = { 0 };
	char id[64], path[160];
	size_t i;
	int rc = tv_cmd_resolve_cert(g, ref, id);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", id);
	rc = tv_cmd_api(g, &r, "GET", path, NULL, 200);
	if (!rc && g->json)
		tv_cmd_print_json(r.json);
	for (i = 0; !rc && !g->json && i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(r.json, keys[i]);
		char *text = v && !json_is_string(v) ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

		if (v)
			printf("%-18s %s\n", keys[i], text ? text : json_string_value(v));
		free(text);
	}
	tv_client_resp_release(&r);
	return rc;
}

static int S_change(struct tv_cmd *g, const char *verb, int argc, char **argv)
{
	struct tv_client_resp r = { 0 };
	json_t *ids = json_array(), *body = NULL;
	char id[64], path[128];
	long want = strcmp(verb, "delete") ? 200 : 204;
	int i, rc = 0;

	for (i = 2; i < argc && !rc; i++) {
		rc = tv_cmd_resolve_cert(g, argv[i], id);
		if (!rc)
			json_array_append_new(ids, json_string(id));
	}
	if (rc)
		goto out;
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s",
		 !strcmp(verb, "retire") ? "retirement"
		 : !strcmp(verb, "recover") ? "recovery"
					    : "deletion");
	body = json_pack("{s:O}", "certificateIds", ids);
	rc = tv_cmd_api(g, &r, "POST", path, body, want);
	if (!rc && g->json && r.json)
		tv_cmd_print_json(r.json);
	else if (!rc)
		printf("%s: %zu certificate(s)\n",
		       !strcmp(verb, "retire") ? "retired" :
		       !strcmp(verb, "recover") ? "recovered" : "deleted", json_array_size(ids));
out:
	tv_client_resp_release(&r);
	json_decref(body);
	json_decref(ids);
	return rc;
}

int tv_cmd_cert(struct tv_cmd *g, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";

	if (tv_cmd_wants_help(argc, argv)) {
		fputs(S_usage, stdout);
		return 0;
	}
	if (!strcmp(verb, "list")) {
		optind = 0;
		return S_list(g, argc - 1, argv + 1);
	}
	if (!strcmp(verb, "show") && argc == 3)
		return S_show(g, argv[2]);
	if ((!strcmp(verb, "retire") || !strcmp(verb, "recover") || !strcmp(verb, "delete")) &&
	    argc >= 3)
		return S_change(g, verb, argc, argv);
	fputs(S_usage, stderr);
	return TV_EXIT_USAGE;
}

static bool S_final(json_t *job)
{
	const char *st = json_string_value(json_object_get(job, "status"));

	return st && (!strcmp(st, "COMPLETED") || !strcmp(st, "FAILED"));
}

int tv_cmd_job(struct tv_cmd *g, int argc, char **argv)
{
	struct tv_client_resp r = { 0 };
	bool wait = false;
	const char *id = NULL;
	char path[200];
	json_t *res;
	size_t i;
	int a, rc;

	if (tv_cmd_wants_help(argc, argv)) {
		fputs(S_job_usage, stdout);
		return 0;
	}
	for (a = 2; a < argc; a++) {
		if (!strcmp(argv[a], "--wait"))
			wait = true;
		else if (!id)
			id = argv[a];
		else
			id = "";
	}
	if (argc < 3 || strcmp(argv[1], "show") || !id || !tv_uuid_valid(id)) {
		fputs(S_job_usage, stderr);
		return TV_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s%s", id,
		 wait ? "?waitSeconds=30" : "");
	for (;;) {
		rc = tv_cmd_api(g, &r, "GET", path, NULL, 200);
		if (rc || !wait || S_final(r.json))
			break;
		tv_client_resp_release(&r);
	}
	if (!rc && g->json) {
		tv_cmd_print_json(r.json);
	} else if (!rc) {
		printf("job        %s\nstatus     %s\ncreated    %s\ncompleted  %s\n",
		       tv_cmd_s(r.json, "id"), tv_cmd_s(r.json, "status"),
		       tv_cmd_s(r.json, "creationDate"), tv_cmd_s(r.json, "completionDate"));
		json_array_foreach(json_object_get(r.json, "results"), i, res)
			printf("%4lld  %-10s  %-40s  %s\n",
			       (long long)json_integer_value(json_object_get(res, "itemIndex")),
			       tv_cmd_s(res, "status"), tv_cmd_s(res, "fingerprint"),
			       tv_cmd_s(res, "reason"));
	}
	tv_client_resp_release(&r);
	return rc;
}
