/*
 * fuzz_import_json.c - the import request validator, from raw body bytes.
 *
 * Input: a request body. It goes through what the server does with one: the
 * fast parser (tv_json_parse_fast), else the nesting cap (tv_json_depth) and
 * jansson with duplicate keys refused, then tv_api_import_parse (envelope
 * checks, item classification, base64). The fast parser is also held
 * against jansson on every input: a tree it builds is jansson's tree, with
 * the members in the same order, and it takes nothing jansson refuses.
 * Properties: a refusal is a 400 with API.md's error body; an acceptance has
 * 1 to 100 items, each either classified with its inputs or REJECTED with a
 * reason that starts with one of API.md's codes.
 */
#include <string.h>

#include <jansson.h>

#include "api/imports.h"
#include "core/secmem.h"
#include "http/jsonparse.h"
#include "fuzz.h"

#define S_MAX_KEYSTORE (256u * 1024u)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (tv_secmem_init())
		abort();
	tv_api_json_init();
	return 0;
}

/* A 4xx error body of API.md: {"errors":[{"code":N,"message":"..."}]}. */
static void S_check_error(const struct tv_http_resp *resp, unsigned status)
{
	json_t *body, *e;

	FZ_CHECK(resp->status == status, "an unexpected status");
	FZ_CHECK(resp->body != NULL, "an error without a body");
	body = json_loadb(resp->body, resp->body_len, 0, NULL);
	FZ_CHECK(body != NULL, "an error body that is not JSON");
	e = json_array_get(json_object_get(body, "errors"), 0);
	FZ_CHECK(json_is_integer(json_object_get(e, "code")), "an error without a code");
	FZ_CHECK(json_is_string(json_object_get(e, "message")), "an error without a message");
	json_decref(body);
}

static const char *const S_codes[] = { "INVALID_ITEM:", "INVALID_BASE64:",
				       "KEYSTORE_TOO_LARGE:", "INTERNAL_ERROR:", NULL };

static void S_check_item(const struct tv_import_item *it, size_t index)
{
	size_t i;

	FZ_CHECK(it->index == (int)index, "an item out of place");
	if (it->kind == TV_ITEM_REJECTED) {
		bool known = false;

		for (i = 0; S_codes[i]; i++)
			known |= !strncmp(it->reason, S_codes[i], strlen(S_codes[i]));
		FZ_CHECK(known, "a rejected item without a known reason code");
		FZ_CHECK(!it->keystore && !it->key && !it->sealed_password,
			 "a rejected item keeps its inputs");
		return;
	}
	FZ_CHECK(it->reason[0] == '\0', "an accepted item with a reason");
	FZ_CHECK(it->keystore && it->keystore_len <= S_MAX_KEYSTORE,
		 "an accepted item without its keystore or over the cap");
	FZ_CHECK(it->kind == TV_ITEM_PKCS12 || it->key, "a PKCS#8 item without its key");
	FZ_CHECK(it->kind != TV_ITEM_PKCS8_ENCRYPTED || it->sealed_password,
		 "an encrypted PKCS#8 item without its password");
	FZ_CHECK(strlen(it->label) <= TV_LABEL_MAX, "a label over the cap");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tv_http_resp resp;
	struct tv_import_item *items = NULL;
	struct tv_import_job job;
	json_error_t err;
	json_t *body;
	size_t n = 0, i;

	memset(&resp, 0, sizeof(resp));
	memset(&job, 0, sizeof(job));
	body = tv_json_parse_fast((const char *)data, size, TV_HTTP_DEFAULT_MAX_DEPTH);
	if (body) {
		json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
		char *a, *b;

		FZ_CHECK(ref != NULL, "the fast parser took what jansson refuses");
		FZ_CHECK(json_equal(body, ref), "the fast parser built another tree");
		a = json_dumps(body, JSON_COMPACT);
		b = json_dumps(ref, JSON_COMPACT);
		FZ_CHECK(a && b && !strcmp(a, b), "the fast parser changed the member order");
		free(a);
		free(b);
		json_decref(ref);
	} else {
		if (tv_json_depth((const char *)data, size, TV_HTTP_DEFAULT_MAX_DEPTH) >
		    TV_HTTP_DEFAULT_MAX_DEPTH)
			return 0; /* the server answers 400/10100 before parsing */
		body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
		if (!body)
			return 0;
	}
	if (tv_api_import_parse(&resp, body, TV_IMPORT_MAX_ITEMS, S_MAX_KEYSTORE, &job, &items,
				&n)) {
		FZ_CHECK(n >= 1 && n <= TV_IMPORT_MAX_ITEMS, "an item count out of range");
		FZ_CHECK(resp.body == NULL, "an acceptance with an error body");
		FZ_CHECK(job.edge_id[0] && job.dek_id[0], "an acceptance without its ids");
		for (i = 0; i < n; i++) {
			S_check_item(&items[i], i);
			tv_import_item_release(&items[i]);
		}
		free(items);
	} else {
		FZ_CHECK(items == NULL, "a refusal that allocated items");
		S_check_error(&resp, 400);
	}
	fz_resp_release(&resp);
	json_decref(body);
	return 0;
}
