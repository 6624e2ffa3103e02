/*
 * der.h - a small DER writer for the tests that need inputs no tool writes:
 * keystores with absurd iteration counts, lengths past the end, nesting a
 * thousand levels deep. Values are built bottom-up; every builder takes
 * ownership of the buffers it is given and returns a new one (malloc'd,
 * freed with tvh_buf_free). Allocation failures fail the test.
 */
#ifndef TV_TESTS_DER_H
#define TV_TESTS_DER_H

#include <stddef.h>
#include <stdint.h>

struct tvh_buf {
	unsigned char *p;
	size_t len;
};

/** A copy of n bytes. */
struct tvh_buf tvh_bytes(const void *p, size_t n);

/** tag, the DER length of content, content (consumed). */
struct tvh_buf tvh_tlv(unsigned char tag, struct tvh_buf content);

/** The same with a declared length that need not be the true one. */
struct tvh_buf tvh_tlv_len(unsigned char tag, size_t declared, struct tvh_buf content);

/** The concatenation of n buffers (consumed). */
struct tvh_buf tvh_cat(size_t n, ...);

/** SEQUENCE of the n buffers (consumed). */
struct tvh_buf tvh_seq(size_t n, ...);

/** INTEGER v (minimal two's complement). */
struct tvh_buf tvh_int(int64_t v);

/** OBJECT IDENTIFIER of an OpenSSL NID. */
struct tvh_buf tvh_oid(int nid);

/** OCTET STRING of n bytes (p may be NULL: n zero bytes). */
struct tvh_buf tvh_octets(const void *p, size_t n);

/** [n] EXPLICIT around content (consumed). */
struct tvh_buf tvh_explicit(unsigned n, struct tvh_buf content);

void tvh_buf_free(struct tvh_buf *b);

#endif
