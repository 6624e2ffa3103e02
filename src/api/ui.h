/*
 * ui.h - the web console: static assets served at /ui/ from a table compiled
 * into the binary.
 *
 * The table is generated at build time by web/build.mjs (see the "Web
 * console" section of docs/ARCHITECTURE.md) from web/src and the pinned npm
 * packages; nothing is read from disk at run time. The handlers need no
 * authentication: the assets are public code, and every call the console
 * makes afterwards carries the user's API key like any other client.
 * Threads: the table is immutable; the handlers may run on any pool thread.
 */
#ifndef TV_API_UI_H
#define TV_API_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "api/app.h"

/* Sent with every /ui/ response. 'wasm-unsafe-eval' lets libsodium's
 * WebAssembly compile; nothing else may run but the console's own files. */
#define TV_UI_CSP                                                                                  \
	"default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "             \
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "          \
	"frame-ancestors 'none'"

/** One embedded file. */
struct tv_ui_asset {
	const char *name;         /* one path segment: "index.html", "app.3f9a1c2b.js" */
	const char *content_type; /* with charset for text */
	const unsigned char *data;
	size_t len;
	const char *etag; /* quoted, from a hash of the content */
	bool immutable;   /* name carries the content hash: cache for a year */
};

/* The generated table (build/.../ui_assets.c), sorted by name. */
extern const struct tv_ui_asset tv_ui_assets[];
extern const size_t tv_ui_asset_count;

/** The asset called name, or NULL. Pure. */
const struct tv_ui_asset *tv_ui_asset_find(const char *name);

/** GET /: redirect to the console. */
void tv_api_ui_root(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
/** GET /ui/ (index.html, never cached without revalidation); /ui redirects to /ui/. */
void tv_api_ui_index(void *app, struct tv_http_req *req, struct tv_http_resp *resp);
/** GET /ui/{asset}: one embedded file, or 404. */
void tv_api_ui_asset(void *app, struct tv_http_req *req, struct tv_http_resp *resp);

#endif
