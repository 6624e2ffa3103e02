/*
 * The OpenAPI document (issue 11): every route of the router's table
 * (read from tv_api_routes(), not a copied list) is in docs/openapi.yaml
 * with its path parameters, every path and method in the document is
 * routed, public routes say so, every $ref resolves, and GET
 * /v1/openapi.json serves exactly the document.
 */
#include <ctype.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "harness.h"

/* docs/openapi.yaml is YAML in its JSON-compatible style with whole-line
 * '#' comments: read it here on its own, without the build's converter. */
static json_t *S_document(void)
{
	char path[512], *text, *p;
	json_error_t err;
	json_t *doc;

	snprintf(path, sizeof(path), "%s/docs/openapi.yaml", TV_SOURCE_DIR);
	text = tvh_read_file(path, NULL);
	assert_non_null(text);
	for (p = text; *p;) {
		char *eol = strchr(p, '\n'), *q = p;

		if (!eol)
			eol = p + strlen(p);
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q < eol && *q == '#')
			memset(p, ' ', (size_t)(eol - p));
		p = *eol ? eol + 1 : eol;
	}
	doc = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (!doc)
		fail_msg("docs/openapi.yaml:%d:%d: %s", err.line, err.column, err.text);
	free(text);
	return doc;
}

/* The node a local "#/a/b~1c" reference names, or NULL. */
static json_t *S_resolve(json_t *doc, const char *ref)
{
	json_t *node = doc;
	const char *p;

	if (strncmp(ref, "#/", 2))
		return NULL;
	for (p = ref + 2; node && *p;) {
		char key[256];
		size_t k = 0;

		while (*p && *p != '/' && k + 1 < sizeof(key)) {
			if (p[0] == '~' && p[1] == '1') {
				key[k++] = '/';
				p += 2;
			} else if (p[0] == '~' && p[1] == '0') {
				key[k++] = '~';
				p += 2;
			} else {
				key[k++] = *p++;
			}
		}
		key[k] = '\0';
		node = json_object_get(node, key);
		if (*p == '/')
			p++;
	}
	return node;
}

/* Every "$ref" anywhere in node resolves; returns how many were checked. */
static size_t S_check_refs(json_t *doc, json_t *node)
{
	size_t n = 0, i;
	const char *key;
	json_t *v;

	if (json_is_array(node)) {
		json_array_foreach(node, i, v)
			n += S_check_refs(doc, v);
	} else if (json_is_object(node)) {
		json_object_foreach(node, key, v) {
			if (!strcmp(key, "$ref")) {
				if (!json_is_string(v) || !S_resolve(doc, json_string_value(v)))
					fail_msg("$ref %s does not resolve",
						 json_is_string(v) ? json_string_value(v) : "?");
				n++;
			} else {
				n += S_check_refs(doc, v);
			}
		}
	}
	return n;
}

static json_t *S_deref(json_t *doc, json_t *node)
{
	const char *ref = json_string_value(json_object_get(node, "$ref"));

	return ref ? S_resolve(doc, ref) : node;
}

static const char *const S_methods[] = { "get", "put", "post", "delete", "options", "head",
					 "patch", "trace" };

/* The operation of a route, checked: path parameters, responses, security. */
static void S_check_route(json_t *doc, const struct tv_http_route *r)
{
	json_t *item = json_object_get(json_object_get(doc, "paths"), r->pattern), *op, *params;
	char method[16];
	const char *p;
	size_t i;

	if (!item)
		fail_msg("route %s %s is not in docs/openapi.yaml", r->method, r->pattern);
	for (i = 0; r->method[i] && i + 1 < sizeof(method); i++)
		method[i] = (char)tolower((unsigned char)r->method[i]);
	method[i] = '\0';
	op = json_object_get(item, method);
	if (!op)
		fail_msg("route %s %s: the path is there, not the method", r->method, r->pattern);
	if (!json_object_size(json_object_get(op, "responses")))
		fail_msg("%s %s: no responses", r->method, r->pattern);
	assert_true(json_is_string(json_object_get(op, "operationId")));
	params = json_object_get(op, "parameters");
	/* each {name} of the pattern is a required path parameter */
	for (p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
		size_t len = strcspn(p + 1, "}");
		bool found = false;
		json_t *prm;

		json_array_foreach(params, i, prm) {
			json_t *d = S_deref(doc, prm);
			const char *name = json_string_value(json_object_get(d, "name"));

			if (name && strlen(name) == len && !strncmp(name, p + 1, len) &&
			    !strcmp(json_string_value(json_object_get(d, "in")), "path") &&
			    json_is_true(json_object_get(d, "required")))
				found = true;
		}
		if (!found)
			fail_msg("%s %s: path parameter %.*s not declared", r->method, r->pattern,
				 (int)len, p + 1);
	}
	/* a route without authentication says so; one with it inherits the
	 * document's API-key security (/metrics decides in its handler) */
	if (!r->auth && strcmp(r->pattern, "/metrics")) {
		json_t *sec = json_object_get(op, "security");

		if (!json_is_array(sec) || json_array_size(sec))
			fail_msg("%s %s needs no key: its security must be []", r->method,
				 r->pattern);
	} else if (r->auth && json_object_get(op, "security")) {
		fail_msg("%s %s needs a key: it must not override security", r->method,
			 r->pattern);
	}
}

static void test_every_route_is_documented_and_every_path_routed(void **state)
{
	json_t *doc = S_document(), *item, *op;
	const struct tv_http_route *routes;
	const char *path, *key;
	size_t n, i, n_ops = 0;

	(void)state;
	assert_int_equal(strncmp(json_string_value(json_object_get(doc, "openapi")), "3.0.", 4), 0);
	routes = tv_api_routes(&n);
	assert_true(n > 30);
	for (i = 0; i < n; i++)
		S_check_route(doc, &routes[i]);
	json_object_foreach(json_object_get(doc, "paths"), path, item) {
		json_object_foreach(item, key, op) {
			bool is_method = false, routed = false;
			size_t m;

			for (m = 0; m < sizeof(S_methods) / sizeof(S_methods[0]); m++)
				is_method |= !strcmp(key, S_methods[m]);
			if (!is_method) {
				if (strcmp(key, "parameters") && strcmp(key, "summary") &&
				    strcmp(key, "description"))
					fail_msg("%s: unexpected member %s", path, key);
				continue;
			}
			for (i = 0; i < n; i++)
				routed |= !strcmp(routes[i].pattern, path) &&
					  !strcasecmp(routes[i].method, key);
			if (!routed)
				fail_msg("%s %s is documented but not routed", key, path);
			n_ops++;
		}
	}
	assert_int_equal(n_ops, n); /* one operation per route, no more */
	assert_true(S_check_refs(doc, doc) > 50);
	json_decref(doc);
}

static void test_served_document_equals_the_file(void **state)
{
	struct tvh_server s;
	struct tvh_resp r;
	json_t *doc = S_document();

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	tvh_request(&r, &s, "GET", "/v1/openapi.json", NULL, NULL, 0, NULL); /* no key */
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_non_null(r.json);
	assert_true(json_equal(r.json, doc));
	tvh_resp_free(&r);
	json_decref(doc);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_is_documented_and_every_path_routed),
		cmocka_unit_test(test_served_document_equals_the_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
