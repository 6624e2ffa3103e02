/* tv-test-libs: tv_core */
/* Unit tests of src/core: base64, time, UUIDs, fingerprints, secret buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/log.h"
#include "core/secmem.h"
#include "core/util.h"

/* RFC 4648 section 10 vectors, both directions. */
static void test_b64_rfc4648(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	unsigned char buf[16];
	size_t i, n;
	char *s;

	(void)state;
	for (i = 0; i < 7; i++) {
		assert_int_equal(tv_b64_encode(&s, plain[i], strlen(plain[i]), false), TV_OK);
		assert_string_equal(s, enc[i]);
		free(s);
		assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, enc[i], strlen(enc[i])),
				 TV_OK);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(buf, plain[i], n);
	}
}

static void test_b64_lenient_and_strict(void **state)
{
	static const unsigned char bin[] = { 0xfb, 0xff, 0xfe, 0x3e };
	unsigned char buf[16];
	size_t n;
	char s[16];

	(void)state;
	tv_b64_encode_to(s, bin, sizeof(bin), false);
	assert_string_equal(s, "+//+Pg==");
	tv_b64_encode_to(s, bin, sizeof(bin), true);
	assert_string_equal(s, "-__-Pg==");
	/* URL-safe alphabet, missing padding and line breaks are accepted */
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "-__-Pg", 6), TV_OK);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, bin, 4);
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "+//+\r\n Pg==\n", 12), TV_OK);
	assert_memory_equal(buf, bin, 4);
	/* junk, a lone 6-bit group, data after padding, too much padding */
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zm9v!", 5), TV_ERR_INVALID);
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zm9vY", 5), TV_ERR_INVALID);
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zg==Zg==", 8), TV_ERR_INVALID);
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zg===", 5), TV_ERR_INVALID);
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "====", 4), TV_ERR_INVALID);
	/* the output cap holds */
	assert_int_equal(tv_b64_decode_to(buf, 2, &n, "Zm9vYmFy", 8), TV_ERR_TOO_LARGE);
}

/*
 * The rules of the decoder before it became table-driven, written out one
 * character at a time: the reference the table and its fast path must
 * match on every input, result and output alike.
 */
static int S_ref_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static enum tv_err S_ref_decode(unsigned char *dst, size_t cap, size_t *out_len,
				const char *src, size_t slen)
{
	uint32_t acc = 0;
	size_t o = 0, i, pad = 0;
	unsigned n = 0;

	for (i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)src[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return TV_ERR_INVALID;
		v = S_ref_val(c);
		if (v < 0)
			return TV_ERR_INVALID;
		acc = acc << 6 | (uint32_t)v;
		if (++n == 4) {
			if (o + 3 > cap)
				return TV_ERR_TOO_LARGE;
			dst[o++] = (unsigned char)(acc >> 16);
			dst[o++] = (unsigned char)(acc >> 8);
			dst[o++] = (unsigned char)acc;
			acc = 0;
			n = 0;
		}
	}
	if (n == 1 || (pad && (n == 0 || n + pad != 4)) || pad > 2)
		return TV_ERR_INVALID;
	if (n == 2) {
		if (o + 1 > cap)
			return TV_ERR_TOO_LARGE;
		dst[o++] = (unsigned char)(acc >> 4);
	} else if (n == 3) {
		if (o + 2 > cap)
			return TV_ERR_TOO_LARGE;
		dst[o++] = (unsigned char)(acc >> 10);
		dst[o++] = (unsigned char)(acc >> 2);
	}
	*out_len = o;
	return TV_OK;
}

static void S_same_as_ref(const char *src, size_t slen, size_t cap)
{
	unsigned char got[64], want[64];
	size_t got_n = 999, want_n = 999;
	enum tv_err rc_got, rc_want;

	assert_true(cap <= sizeof(got));
	rc_want = S_ref_decode(want, cap, &want_n, src, slen);
	rc_got = tv_b64_decode_to(got, cap, &got_n, src, slen);
	assert_int_equal(rc_got, rc_want);
	if (rc_want == TV_OK) {
		assert_int_equal(got_n, want_n);
		assert_memory_equal(got, want, want_n);
	} else {
		assert_int_equal(got_n, 999); /* untouched on failure */
	}
}

/* Every byte value, in every position of a group (the table, both paths). */
static void test_b64_every_byte(void **state)
{
	char s[12];
	unsigned c, pos;

	(void)state;
	for (c = 0; c < 256; c++) {
		for (pos = 0; pos < 8; pos++) {
			memcpy(s, "QUJDRA==QUJD", sizeof(s)); /* "ABCD" then "ABC" */
			s[pos] = (char)c;
			S_same_as_ref(s, sizeof(s), 64);
			S_same_as_ref(s, 8, 64);
			S_same_as_ref(s, pos + 1, 64);
		}
	}
}

/*
 * Random strings over alphabet, whitespace, padding and junk, with random
 * output caps: the table-driven decoder answers exactly as the reference
 * (the same error first, the same bytes).
 */
static void test_b64_matches_reference(void **state)
{
	static const char pool[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
				   "+/-_+/-_\n\r \t\v\f====!.\x80\xff";
	char s[80];
	unsigned seed = 20261127u;
	int iter;

	(void)state;
	for (iter = 0; iter < 200000; iter++) {
		size_t len, i, cap;
		unsigned kind;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(s);
		kind = (seed >> 8) % 4;
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* kind 0: only the alphabet (the fast path), 1: mostly
			 * alphabet, 2-3: anything from the pool */
			if (kind == 0)
				s[i] = pool[(seed >> 16) % 64];
			else if (kind == 1 && (seed >> 12) % 16)
				s[i] = pool[(seed >> 16) % 64];
			else
				s[i] = pool[(seed >> 16) % (sizeof(pool) - 1)];
		}
		seed = seed * 1103515245u + 12345u;
		cap = (seed >> 16) % 4 ? 64 : (seed >> 8) % 64;
		S_same_as_ref(s, len, cap);
	}
}

/* Line-broken base64 as PEM bodies have it, and the cap at a group edge. */
static void test_b64_groups_and_caps(void **state)
{
	unsigned char buf[16];
	size_t n;

	(void)state;
	/* groups split by line breaks and spaces anywhere */
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zm9v\nYm\nFy\r\nZg\n==", 17),
			 TV_OK);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "foobarf", 7);
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Z m 9 v", 7), TV_OK);
	assert_int_equal(n, 3);
	/* whitespace after the padding is fine, data is not */
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zg==\n ", 6), TV_OK);
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zg=\n=A", 6), TV_ERR_INVALID);
	/* a cap of exactly the output fits; one less is too small */
	assert_int_equal(tv_b64_decode_to(buf, 6, &n, "Zm9vYmFy", 8), TV_OK);
	assert_int_equal(n, 6);
	assert_int_equal(tv_b64_decode_to(buf, 5, &n, "Zm9vYmFy", 8), TV_ERR_TOO_LARGE);
	/* a bad character in a later group: invalid, though the cap is hit first
	 * only when the group before it is complete */
	assert_int_equal(tv_b64_decode_to(buf, 3, &n, "Zm9vYm!y", 8), TV_ERR_INVALID);
	assert_int_equal(tv_b64_decode_to(buf, 0, &n, "Zm9v!", 5), TV_ERR_TOO_LARGE);
	/* a NUL byte is not whitespace */
	assert_int_equal(tv_b64_decode_to(buf, sizeof(buf), &n, "Zm9v\0", 5), TV_ERR_INVALID);
}

/* Run one TV_LOG call with stderr sent to a file; the line written. */
static void S_log_line(char *out, size_t size, const char *msg, const char *value)
{
	char path[] = "/tmp/tv-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	TV_LOG(TV_LOG_WARN, msg, TV_LS("v", value), TV_LI("n", -42), TV_LS("none", NULL));
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(fd, out, size - 1, 0);
	assert_true(n > 0);
	out[n] = '\0';
	close(fd);
	unlink(path);
}

/* A log line: its timestamp, its fields, and the JSON escapes of its strings. */
static void test_log_line(void **state)
{
	char line[9000], want[256], *big;
	int64_t before, after;
	const char *body;

	(void)state;
	before = tv_now_ms();
	S_log_line(line, sizeof(line), "m\"sg", "plain \"q\" \\ \x01\t\n\x1f end \xc3\xa9");
	after = tv_now_ms();
	assert_int_equal(strncmp(line, "{\"ts\":\"", 7), 0);
	/* the timestamp is tv_iso_time of a moment of the call */
	{
		char t1[TV_ISO_TIME_STRLEN + 1], t2[TV_ISO_TIME_STRLEN + 1];
		tv_iso_time(t1, before);
		tv_iso_time(t2, after);
		assert_true(memcmp(line + 7, t1, TV_ISO_TIME_STRLEN) >= 0);
		assert_true(memcmp(line + 7, t2, TV_ISO_TIME_STRLEN) <= 0);
		assert_int_equal(line[7 + TV_ISO_TIME_STRLEN], '"');
	}
	body = line + 7 + TV_ISO_TIME_STRLEN + 1;
	snprintf(want, sizeof(want), "%s",
		 ",\"level\":\"warn\",\"msg\":\"m\\\"sg\",\"v\":\"plain \\\"q\\\" \\\\ "
		 "\\u0001\\u0009\\u000a\\u001f end \xc3\xa9\",\"n\":-42,\"none\":null}\n");
	assert_string_equal(body, want);
	/* a value longer than the line is cut, and the line still ends */
	big = malloc(10000);
	assert_non_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	S_log_line(line, sizeof(line), "big", big);
	assert_int_equal(strlen(line), 8192);
	assert_memory_equal(line + 8190, "}\n", 2);
	free(big);
	/* the cached second moves on: two lines a second apart differ there */
	S_log_line(line, sizeof(line), "a", "b");
	usleep(1100000);
	S_log_line(want, sizeof(want), "a", "b");
	assert_true(memcmp(line + 7, want + 7, 19) < 0);
}

static void test_iso_time(void **state)
{
	char s[TV_ISO_TIME_STRLEN + 1];
	int64_t ms;

	(void)state;
	tv_iso_time(s, 1795766501123LL);
	assert_string_equal(s, "2026-11-27T08:01:41.123Z");
	assert_int_equal(tv_iso_parse(&ms, "2026-11-27T08:01:41.123Z"), TV_OK);
	assert_int_equal(ms, 1795766501123LL);
	assert_int_equal(tv_iso_parse(&ms, "2026-11-27T08:01:41Z"), TV_OK);
	assert_int_equal(ms, 1795766501000LL);
	assert_int_equal(tv_iso_parse(&ms, "2026-11-27"), TV_OK);
	assert_int_equal(tv_iso_parse(&ms, "2026-11-27T08:01:41.123+00:00"), TV_OK);
	assert_int_equal(tv_iso_parse(&ms, "2026-13-27T08:01:41Z"), TV_ERR_INVALID);
	assert_int_equal(tv_iso_parse(&ms, "yesterday"), TV_ERR_INVALID);
	assert_int_equal(tv_iso_parse(&ms, "2026-11-27T08:01:41Zjunk"), TV_ERR_INVALID);
	tv_iso_time(s, 0);
	assert_string_equal(s, "1970-01-01T00:00:00.000Z");
}

static void test_uuid_and_fingerprint(void **state)
{
	char u[TV_UUID_STRLEN + 1], v[TV_UUID_STRLEN + 1], fp[41];

	(void)state;
	tv_uuid_new(u);
	tv_uuid_new(v);
	assert_true(tv_uuid_valid(u));
	assert_string_not_equal(u, v);
	assert_int_equal(u[14], '4');
	assert_false(tv_uuid_valid("not-a-uuid"));
	assert_false(tv_uuid_valid("0000000000000-4000-8000-000000000000"));
	assert_true(tv_uuid_valid("ABCDEF00-0000-4000-8000-000000000000"));
	assert_int_equal(tv_fingerprint_norm(fp, "d9:d4:96:5f:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"),
			 TV_OK);
	assert_string_equal(fp, "D9D4965F00112233445566778899AABBCCDDEEFF");
	assert_int_equal(tv_fingerprint_norm(fp, "D9D4"), TV_ERR_INVALID);
	assert_int_equal(tv_fingerprint_norm(fp, "G9D4965F00112233445566778899AABBCCDDEEFF"),
			 TV_ERR_INVALID);
	assert_int_equal(tv_fingerprint_norm(fp, "D9D4965F00112233445566778899AABBCCDDEEFF00"),
			 TV_ERR_INVALID);
	tv_hex_upper(fp, "\x01\xab", 2);
	assert_string_equal(fp, "01AB");
}

static void test_secbuf(void **state)
{
	struct tv_secbuf *b = NULL;

	(void)state;
	assert_int_equal(tv_secbuf_dup(&b, "secret", 6), TV_OK);
	assert_int_equal(b->len, 6);
	assert_memory_equal(b->p, "secret", 6);
	assert_int_equal(b->p[6], 0); /* usable as a C string */
	tv_secbuf_free(b);
	tv_secbuf_free(NULL);
	assert_int_equal(tv_secbuf_new(&b, 0), TV_OK);
	assert_int_equal(b->len, 0);
	tv_secbuf_free(b);
	assert_int_equal(tv_secbuf_new(&b, (size_t)1 << 31), TV_ERR_TOO_LARGE);
	assert_string_equal(tv_strerror(TV_ERR_NOT_FOUND), "not found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_rfc4648),
		cmocka_unit_test(test_b64_lenient_and_strict),
		cmocka_unit_test(test_b64_every_byte),
		cmocka_unit_test(test_b64_matches_reference),
		cmocka_unit_test(test_b64_groups_and_caps),
		cmocka_unit_test(test_log_line),
		cmocka_unit_test(test_iso_time),
		cmocka_unit_test(test_uuid_and_fingerprint),
		cmocka_unit_test(test_secbuf),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/core", tests, NULL, NULL);
}
