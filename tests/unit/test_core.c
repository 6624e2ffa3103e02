/* tv-test-libs: tv_core */
/* Unit tests of src/core: base64, time, UUIDs, fingerprints, secret buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
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
		cmocka_unit_test(test_iso_time),
		cmocka_unit_test(test_uuid_and_fingerprint),
		cmocka_unit_test(test_secbuf),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests_name("unit/core", tests, NULL, NULL);
}
