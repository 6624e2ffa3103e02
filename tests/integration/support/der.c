/* DESIGN: see der.h. Lengths are written in the shortest DER form. */
#include "der.h"

#include <openssl/objects.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

struct tvh_buf tvh_bytes(const void *p, size_t n)
{
	struct tvh_buf b = {malloc(n ? n : 1), n};

	assert_non_null(b.p);
	if (n && p)
		memcpy(b.p, p, n);
	else if (n)
		memset(b.p, 0, n);
	return b;
}

void tvh_buf_free(struct tvh_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

struct tvh_buf tvh_tlv_len(unsigned char tag, size_t declared, struct tvh_buf content)
{
	unsigned char head[10];
	size_t h = 0, n, i;
	struct tvh_buf out;

	head[h++] = tag;
	if (declared < 0x80) {
		head[h++] = (unsigned char)declared;
	} else {
		for (n = 0, i = declared; i; i >>= 8)
			n++;
		head[h++] = (unsigned char)(0x80 | n);
		for (i = n; i > 0; i--)
			head[h++] = (unsigned char)(declared >> (8 * (i - 1)));
	}
	out = tvh_bytes(NULL, h + content.len);
	memcpy(out.p, head, h);
	if (content.len)
		memcpy(out.p + h, content.p, content.len);
	tvh_buf_free(&content);
	return out;
}

struct tvh_buf tvh_tlv(unsigned char tag, struct tvh_buf content)
{
	return tvh_tlv_len(tag, content.len, content);
}

static struct tvh_buf S_vcat(size_t n, va_list ap)
{
	struct tvh_buf parts[64], out;
	size_t i, total = 0, at = 0;

	assert_true(n <= 64);
	for (i = 0; i < n; i++) {
		parts[i] = va_arg(ap, struct tvh_buf);
		total += parts[i].len;
	}
	out = tvh_bytes(NULL, total);
	for (i = 0; i < n; i++) {
		if (parts[i].len)
			memcpy(out.p + at, parts[i].p, parts[i].len);
		at += parts[i].len;
		tvh_buf_free(&parts[i]);
	}
	return out;
}

struct tvh_buf tvh_cat(size_t n, ...)
{
	struct tvh_buf out;
	va_list ap;

	va_start(ap, n);
	out = S_vcat(n, ap);
	va_end(ap);
	return out;
}

struct tvh_buf tvh_seq(size_t n, ...)
{
	struct tvh_buf out;
	va_list ap;

	va_start(ap, n);
	out = S_vcat(n, ap);
	va_end(ap);
	return tvh_tlv(0x30, out);
}

struct tvh_buf tvh_int(int64_t v)
{
	unsigned char be[9];
	size_t n = 8, i;
	uint64_t u = (uint64_t)v;

	be[0] = v < 0 ? 0xff : 0x00;
	for (i = 0; i < 8; i++)
		be[8 - i] = (unsigned char)(u >> (8 * i));
	/* drop leading octets that only repeat the sign */
	i = 0;
	while (n > 0 &&
	       ((be[i] == 0x00 && !(be[i + 1] & 0x80)) || (be[i] == 0xff && (be[i + 1] & 0x80)))) {
		i++;
		n--;
	}
	return tvh_tlv(0x02, tvh_bytes(be + i, n + 1));
}

struct tvh_buf tvh_oid(int nid)
{
	const ASN1_OBJECT *obj = OBJ_nid2obj(nid);
	unsigned char *der = NULL;
	struct tvh_buf out;
	int len;

	assert_non_null(obj);
	len = i2d_ASN1_OBJECT(obj, &der);
	assert_true(len > 0);
	out = tvh_bytes(der, (size_t)len);
	OPENSSL_free(der);
	return out;
}

struct tvh_buf tvh_octets(const void *p, size_t n)
{
	return tvh_tlv(0x04, tvh_bytes(p, n));
}

struct tvh_buf tvh_explicit(unsigned n, struct tvh_buf content)
{
	return tvh_tlv((unsigned char)(0xa0 | n), content);
}
