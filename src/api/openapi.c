/*
 * DESIGN: the OpenAPI document is written by hand in docs/openapi.yaml and
 * turned into JSON at build time (scripts/openapi-json.mjs), so the server
 * needs no YAML parser and serves constant bytes. tests/integration/
 * test_openapi.c holds the document and the route table to each other.
 */
#include "api/metrics.h"

#include <stddef.h>

extern const unsigned char tv_openapi_json[];
extern const size_t tv_openapi_json_len;

void tv_api_openapi(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	(void)app;
	if (tv_http_reply_bytes(resp, 200, "application/json", tv_openapi_json,
				tv_openapi_json_len, false))
		tv_api_internal(resp, req, TV_ERR_NOMEM, "openapi");
}
