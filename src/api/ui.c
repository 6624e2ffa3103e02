/*
 * DESIGN: the console is a handful of static files, so they are served from
 * a table compiled into tlsvaultd: installing needs nothing but the binary,
 * and no path from the request ever reaches a filesystem call (a name is
 * only compared with the table's names). Every file but index.html carries
 * a hash of its content in its name, so it can be cached for a year
 * ("immutable"); index.html names the current files and is revalidated on
 * every load (no-cache + ETag), so a new binary's console is picked up at
 * once. Every answer under /ui/, errors included, carries the security
 * headers: the CSP allows only the console's own scripts and styles and
 * calls to this origin, and no page may frame it.
 */
#include "api/ui.h"

#include <string.h>

#define S_IMMUTABLE  "public, max-age=31536000, immutable"
#define S_REVALIDATE "no-cache"

const struct tv_ui_asset *tv_ui_asset_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < tv_ui_asset_count; i++)
		if (!strcmp(tv_ui_assets[i].name, name))
			return &tv_ui_assets[i];
	return NULL;
}

static void S_security_headers(struct tv_http_resp *resp)
{
	tv_http_resp_header(resp, "Content-Security-Policy", TV_UI_CSP);
	tv_http_resp_header(resp, "X-Frame-Options", "DENY");
	tv_http_resp_header(resp, "Referrer-Policy", "no-referrer");
	tv_http_resp_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
}

static void S_redirect(struct tv_http_resp *resp, unsigned status, const char *to)
{
	static const char S_text[] = "moved to /ui/\n";

	if (tv_http_reply_bytes(resp, status, "text/plain; charset=utf-8", S_text,
	                        sizeof(S_text) - 1, false)) {
		tv_http_reply_error(resp, 500, TV_HTTP_E_INTERNAL, NULL, "out of memory");
		return;
	}
	tv_http_resp_header(resp, "Location", to);
	S_security_headers(resp);
}

/* Serve a, or 304 when the client holds this very version. */
static void S_serve(struct tv_http_req *req, struct tv_http_resp *resp, const struct tv_ui_asset *a)
{
	const char *inm = tv_http_req_header(req, "If-None-Match");

	if (inm && !strcmp(inm, a->etag)) {
		tv_http_reply_empty(resp, 304);
	} else if (tv_http_reply_bytes(resp, 200, a->content_type, a->data, a->len, false)) {
		tv_http_reply_error(resp, 500, TV_HTTP_E_INTERNAL, NULL, "out of memory");
		S_security_headers(resp);
		return;
	}
	tv_http_resp_header(resp, "ETag", a->etag);
	tv_http_resp_header(resp, "Cache-Control", a->immutable ? S_IMMUTABLE : S_REVALIDATE);
	S_security_headers(resp);
}

void tv_api_ui_root(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	(void)app;
	(void)req;
	S_redirect(resp, 302, "/ui/");
}

void tv_api_ui_index(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	const struct tv_ui_asset *a = tv_ui_asset_find("index.html");

	(void)app;
	/* relative asset names in index.html resolve only under "/ui/" */
	if (!tv_http_req_trailing_slash(req)) {
		S_redirect(resp, 301, "/ui/");
		return;
	}
	if (!a) {
		tv_api_not_found(resp);
		S_security_headers(resp);
		return;
	}
	S_serve(req, resp, a);
}

void tv_api_ui_asset(void *app, struct tv_http_req *req, struct tv_http_resp *resp)
{
	const struct tv_ui_asset *a = tv_ui_asset_find(tv_http_req_param(req, "asset"));

	(void)app;
	if (!a) {
		tv_http_reply_error(resp, 404, TV_HTTP_E_NO_PATH, NULL,
		                    "no such file in the console");
		S_security_headers(resp);
		return;
	}
	S_serve(req, resp, a);
}
