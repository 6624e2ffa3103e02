/*
 * der.h - a strict DER cursor, internal to src/pki: the few structures the
 * reader's fast paths read without OpenSSL's ASN.1 or provider decoders
 * (a certBag's certificate octets, a PrivateKeyInfo, RSAPrivateKey,
 * ECPrivateKey, a SubjectPublicKeyInfo's key).
 *
 * DESIGN: strict on purpose. Definite minimal lengths, single-octet tags,
 * nothing read past the cursor's end. The fast paths use it only to decide
 * "this is the plain, canonical form, and here are its pieces"; anything
 * it refuses goes to OpenSSL's slower decoding, which keeps the existing
 * behaviour and reason codes. So being too strict costs time, never
 * correctness. Pure; thread-safe; nothing is allocated or copied.
 */
#ifndef TV_PKI_DER_H
#define TV_PKI_DER_H

#include <stdbool.h>
#include <stddef.h>

/* A span of DER: the bytes still to read, or one element's contents. */
struct tv__der {
	const unsigned char *p;
	size_t len;
};

#define TV__DER_INTEGER 0x02u
#define TV__DER_BIT_STRING 0x03u
#define TV__DER_OCTET_STRING 0x04u
#define TV__DER_NULL 0x05u
#define TV__DER_OID 0x06u
#define TV__DER_SEQUENCE 0x30u
#define TV__DER_SET 0x31u
#define TV__DER_CTX0 0xa0u /* [0] constructed */
#define TV__DER_CTX1 0xa1u /* [1] constructed */

/*
 * Read the next element of cur, which must have tag; its contents into
 * *content (may be NULL), its whole encoding (tag, length, contents) into
 * *whole (may be NULL); cur moves past it. False, and cur unchanged, when
 * the tag differs or the header is not strict DER or runs past the end.
 */
bool tv__der_get(struct tv__der *cur, unsigned tag, struct tv__der *content,
		 struct tv__der *whole);

/* The tag of the next element, or -1 at the end. */
int tv__der_peek(const struct tv__der *cur);

/*
 * Read an INTEGER that is minimally encoded and not negative; *magnitude
 * gets its value's octets without the leading 00 a positive INTEGER needs
 * (at least one octet; "00" for zero).
 */
bool tv__der_get_uint(struct tv__der *cur, struct tv__der *magnitude);

/* Whether two spans hold the same bytes. */
bool tv__der_eq(const struct tv__der *a, const struct tv__der *b);

/* Whether span a holds exactly the n bytes at b. */
bool tv__der_is(const struct tv__der *a, const unsigned char *b, size_t n);

#endif
