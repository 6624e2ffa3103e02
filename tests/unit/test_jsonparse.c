/* tv-test-libs: tv_http */
/*
 * Unit tests of src/http/jsonparse.c: whatever the fast path returns is what
 * json_loadb(JSON_REJECT_DUPLICATES) returns for the same bytes (the same
 * tree, members in the same order), it returns nothing for what jansson
 * refuses, and it does take the request bodies clients send (an import).
 * Hand-written edges, then generated documents and mutations of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/jsonparse.h"

#define S_DEPTH 32

/* The fast path agrees with jansson on text; returns whether it took it. */
static bool S_agree(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	json_t *f = tv_json_parse_fast(text, len, S_DEPTH);
	bool took = f != NULL;

	if (f) {
		char *a, *b;

		if (!j)
			fail_msg("fast path took what jansson refuses (%s): %.*s", err.text,
				 (int)(len > 200 ? 200 : len), text);
		assert_true(json_equal(f, j));
		a = json_dumps(f, JSON_COMPACT);
		b = json_dumps(j, JSON_COMPACT);
		assert_non_null(a);
		assert_non_null(b);
		assert_string_equal(a, b); /* the member order too */
		free(a);
		free(b);
	}
	json_decref(f);
	json_decref(j);
	return took;
}

static bool S_agree_str(const char *text)
{
	return S_agree(text, strlen(text));
}

static void test_edges(void **state)
{
	/* taken by the fast path */
	static const char *const fast[] = {
		"{}", "[]", " \t\r\n{ } \n", "{\"a\":1}", "[1,-2,0,-0,123456789012345678]",
		"{\"a\":{\"b\":[true,false,null,\"x\"]},\"c\":\"\"}", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
		"{\"k\\ney\":\"v\\/al\"}", "{\"\":0}", "[\"\x7f\"]", "[[[[[]]]]]",
		"{\"z\":1,\"a\":2,\"m\":3}",
	};
	/* left to jansson: refused, or outside the fast path */
	static const char *const slow[] = {
		"", " ", "1", "\"s\"", "true", "null", "{", "}", "[", "{\"a\"}", "{\"a\":}",
		"{\"a\":1,}", "[1,]", "[,1]", "{\"a\":1 \"b\":2}", "{a:1}", "['a']", "[01]",
		"[-]", "[-01]", "[1.5]", "[1e3]", "[1E3]", "[-0.0]", "[1234567890123456789]",
		"[99999999999999999999]", "[-9223372036854775809]", "[tru]", "[truex]",
		"[nul]", "[True]", "[\"\\u0041\"]", "[\"\\u0000\"]", "[\"\\ud800\"]", "[\"\\x\"]",
		"[\"\\", "[\"abc", "[\"a\tb\"]", "[\"a\nb\"]", "[\"\xc3\xa9\"]", "[\"\xff\"]",
		"{\"a\":1,\"a\":2}", "{\"a\":{},\"b\":1,\"a\":[]}", "[] []", "{}x",
		"\xef\xbb\xbf{}", "[1 2]", "[\"a\" \"b\"]", "{\"a\" 1}", "[+1]", "[.5]",
		"[\x00]",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fast) / sizeof(fast[0]); i++)
		if (!S_agree_str(fast[i]))
			fail_msg("fast path gave up on %s", fast[i]);
	for (i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
		if (S_agree_str(slow[i]))
			fail_msg("fast path took %s", slow[i]);
	/* a NUL inside the buffer, with a length */
	assert_false(S_agree("[\"a\0b\"]", 7));
	assert_false(S_agree("{}\0", 3));
}

static void test_depth(void **state)
{
	char text[2 * S_DEPTH + 3];
	size_t i;

	(void)state;
	for (i = 0; i < S_DEPTH; i++) {
		text[i] = '[';
		text[2 * S_DEPTH - 1 - i] = ']';
	}
	assert_true(S_agree(text, 2 * S_DEPTH));
	/* one deeper: the server's pre-scan answers that, not the fast path */
	memmove(text + 1, text, 2 * S_DEPTH);
	text[0] = '[';
	text[2 * S_DEPTH + 1] = ']';
	assert_null(tv_json_parse_fast(text, 2 * S_DEPTH + 2, S_DEPTH));
}

/*
 * Long strings (the eight-bytes-at-a-time scan) with one special byte at
 * every offset: a control, DEL, a byte over 0x7f, an escape, a quote that
 * ends the string early.
 */
static void test_long_strings(void **state)
{
	static const char *const specials[] = { "\x01", "\x1f", "\x7f", "\x80", "\xc3\xa9",
						"\xff", "\\\"", "\\\\", "\\/", "\\n",
						"\\u0041", "\"", " ", "~", "\t" };
	char text[128];
	size_t k, off;

	(void)state;
	for (k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
		for (off = 0; off <= 40; off++) {
			int n = snprintf(text, sizeof(text), "[\"%.*s%s%.*s\"]", (int)off,
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop", specials[k],
					 (int)(40 - off), "0123456789+/0123456789+/0123456789+/0123");
			assert_true(n > 0 && (size_t)n < sizeof(text));
			(void)S_agree(text, (size_t)n);
		}
	}
	/* and the fast path does take the plain ones */
	assert_true(S_agree_str("[\"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop~ 0123456789+/\"]"));
	assert_false(S_agree_str("[\"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop\x01\"]"));
}

/* An import request of 100 keystores, as the bench and clients send it. */
static void test_import_body(void **state)
{
	size_t cap = 600000, len = 0, i, j;
	char *b = malloc(cap);

	(void)state;
	assert_non_null(b);
	len += (size_t)snprintf(b + len, cap - len,
				"{\"edgeInstanceId\":\"5d1f7c9e-3b2a-4e8f-9c1d-0a2b3c4d5e6f\","
				"\"encryptionKeyId\":\"ZGVr\",\"importInformation\":[");
	for (i = 0; i < 100; i++) {
		len += (size_t)snprintf(b + len, cap - len, "%s{\"pkcs12Keystore\":\"",
					i ? "," : "");
		for (j = 0; j < 4500; j++)
			b[len++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
				[(i * 31 + j * 7) % 64];
		/* one client escapes its slashes */
		len += (size_t)snprintf(b + len, cap - len,
					"\\/\",\"dekEncryptedPassword\":\"c2VhbGVk\",\"label\":\"l%zu\"}",
					i);
	}
	len += (size_t)snprintf(b + len, cap - len, "]}");
	assert_true(S_agree(b, len));
	free(b);
}

/* ---------- generated documents ---------- */

struct S_gen {
	uint64_t seed;
	char *p;
	size_t len, cap;
};

static unsigned S_rand(struct S_gen *g, unsigned n)
{
	g->seed = g->seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(g->seed >> 33) % n;
}

static void S_put(struct S_gen *g, const char *s, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		g->p = realloc(g->p, g->cap);
		assert_non_null(g->p);
	}
	memcpy(g->p + g->len, s, n);
	g->len += n;
}

static void S_puts(struct S_gen *g, const char *s)
{
	S_put(g, s, strlen(s));
}

static void S_ws_gen(struct S_gen *g)
{
	static const char *const ws[] = { "", "", "", " ", "\n", "\t", "\r\n  " };

	S_puts(g, ws[S_rand(g, 7)]);
}

static void S_string_gen(struct S_gen *g, bool key)
{
	static const char *const parts[] = {
		"a", "key", "id", "Zm9vYmFy", "+/", " ", "\\\"", "\\\\", "\\/", "\\n", "\\t",
		"\\b", "\\f", "\\r", "\\u0041", "\\u00e9", "\\ud83d\\ude00", "\xc3\xa9", "\x7f",
		"\\u0000", "\x01", "\xff", "\\q",
	};
	unsigned n = S_rand(g, key ? 3 : 6), i;
	/* mostly clean strings: the rare parts exercise the edges */
	unsigned span = S_rand(g, 10) ? 7 : sizeof(parts) / sizeof(parts[0]);

	S_puts(g, "\"");
	for (i = 0; i < n; i++)
		S_puts(g, parts[S_rand(g, span)]);
	S_puts(g, "\"");
}

static void S_value_gen(struct S_gen *g, int depth)
{
	static const char *const nums[] = { "0", "-0", "7", "-42", "123456789012345678",
					    "1234567890123456789", "9223372036854775807",
					    "-9223372036854775808", "1.5", "-2e3", "01", "1.",
					    "3E+2" };
	static const char *const words[] = { "true", "false", "null" };
	unsigned kind = S_rand(g, depth > 4 ? 3 : 5), i, n;

	switch (kind) {
	case 0:
		S_string_gen(g, false);
		break;
	case 1:
		S_puts(g, S_rand(g, 4) ? nums[S_rand(g, 5)] : nums[S_rand(g, 13)]);
		break;
	case 2:
		S_puts(g, words[S_rand(g, 3)]);
		break;
	case 3:
		S_puts(g, "[");
		n = S_rand(g, 4);
		for (i = 0; i < n; i++) {
			S_ws_gen(g);
			if (i)
				S_puts(g, ",");
			S_ws_gen(g);
			S_value_gen(g, depth + 1);
		}
		S_ws_gen(g);
		S_puts(g, "]");
		break;
	default:
		S_puts(g, "{");
		n = S_rand(g, 4);
		for (i = 0; i < n; i++) {
			S_ws_gen(g);
			if (i)
				S_puts(g, ",");
			S_string_gen(g, true);
			S_ws_gen(g);
			S_puts(g, ":");
			S_ws_gen(g);
			S_value_gen(g, depth + 1);
		}
		S_ws_gen(g);
		S_puts(g, "}");
		break;
	}
}

static void test_generated(void **state)
{
	struct S_gen g = { 20261127, NULL, 0, 0 };
	unsigned iter, took = 0, took_mutant = 0;

	(void)state;
	for (iter = 0; iter < 30000; iter++) {
		bool obj;
		unsigned m;

		g.len = 0;
		S_ws_gen(&g);
		obj = S_rand(&g, 2);
		S_puts(&g, obj ? "{\"root\":" : "[");
		S_value_gen(&g, 1);
		S_puts(&g, obj ? "}" : "]");
		S_ws_gen(&g);
		took += S_agree(g.p, g.len);
		/* and a mutant: a byte replaced, deleted or inserted */
		m = S_rand(&g, (unsigned)g.len);
		switch (S_rand(&g, 3)) {
		case 0:
			g.p[m] = "{}[]\",:0-e.\\ aZ\x01\x80"[S_rand(&g, 18)];
			break;
		case 1:
			memmove(g.p + m, g.p + m + 1, g.len - m - 1);
			g.len--;
			break;
		default:
			S_put(&g, " ", 1);
			memmove(g.p + m + 1, g.p + m, g.len - m - 1);
			g.p[m] = "{}[]\",:0-e.\\ aZ\x01\x80"[S_rand(&g, 18)];
			break;
		}
		took_mutant += S_agree(g.p, g.len);
	}
	print_message("fast path took %u of 30000 generated documents, %u mutants\n", took,
		      took_mutant);
	/* the generator makes mostly clean documents: the fast path is exercised */
	assert_true(took > 10000);
	free(g.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_import_body),
		cmocka_unit_test(test_generated),
	};

	return cmocka_run_group_tests_name("unit/jsonparse", tests, NULL, NULL);
}
