/*
 * DESIGN: see der.h. A length is accepted only in its minimal form (short
 * form below 128, long form without leading zero octets, at most four
 * length octets), so one value has one encoding and byte comparisons of
 * what the cursor hands out mean value comparisons.
 */
#include "pki/der.h"

#include <string.h>

bool tv__der_get(struct tv__der *cur, unsigned tag, struct tv__der *content,
		 struct tv__der *whole)
{
	size_t len, hdr = 2, n, i;
	const unsigned char *p = cur->p;

	if (cur->len < 2 || p[0] != tag)
		return false;
	len = p[1];
	if (len & 0x80u) {
		n = len & 0x7fu;
		if (n == 0 || n > 4 || cur->len - 2 < n || p[2] == 0)
			return false; /* indefinite, too long, or not minimal */
		len = 0;
		for (i = 0; i < n; i++)
			len = (len << 8) | p[2 + i];
		if (len < 0x80)
			return false; /* should have been the short form */
		hdr += n;
	}
	if (len > cur->len - hdr)
		return false;
	if (content) {
		content->p = p + hdr;
		content->len = len;
	}
	if (whole) {
		whole->p = p;
		whole->len = hdr + len;
	}
	cur->p += hdr + len;
	cur->len -= hdr + len;
	return true;
}

int tv__der_peek(const struct tv__der *cur)
{
	return cur->len ? (int)cur->p[0] : -1;
}

bool tv__der_get_uint(struct tv__der *cur, struct tv__der *magnitude)
{
	struct tv__der save = *cur, v;

	if (!tv__der_get(cur, TV__DER_INTEGER, &v, NULL) || v.len == 0)
		goto bad;
	if (v.p[0] & 0x80u)
		goto bad; /* negative */
	if (v.len > 1 && v.p[0] == 0) {
		if (!(v.p[1] & 0x80u))
			goto bad; /* a leading 00 that isn't needed */
		v.p++;
		v.len--;
	}
	*magnitude = v;
	return true;
bad:
	*cur = save;
	return false;
}

bool tv__der_eq(const struct tv__der *a, const struct tv__der *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

bool tv__der_is(const struct tv__der *a, const unsigned char *b, size_t n)
{
	return a->len == n && (n == 0 || memcmp(a->p, b, n) == 0);
}
