/*
 * chain_int.h - tv_chain_verify with a choice of path, for the fast leaf
 * check's differential test and fuzz target (internal to src/pki and its
 * tests). See the DESIGN of the fast leaf check in chain.c.
 */
#ifndef TV_PKI_CHAIN_INT_H
#define TV_PKI_CHAIN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "pki/chain.h"

enum tv__chain_mode {
	TV__CHAIN_AUTO,    /* the fast check when it applies, else OpenSSL */
	TV__CHAIN_OPENSSL, /* OpenSSL only (it still fills the fast check's cache) */
	TV__CHAIN_FAST,    /* the fast check only: TV_REASON_INTERNAL_ERROR when it
			    * doesn't apply */
};

/*
 * tv_chain_verify for the leaf der[0..len) and/or its decoded leaf (either
 * may be NULL/0, not both; when both are given they must be the same
 * certificate). *fast (may be NULL) says whether the fast check answered.
 * Same results and ownership as tv_chain_verify.
 */
enum tv_reason tv__chain_verify_mode(const struct tv_trust_store *ts, const unsigned char *der,
				    size_t len, X509 *leaf, STACK_OF(X509) *candidates,
				    STACK_OF(X509) **chain_out, char *msg, size_t msg_size,
				    enum tv__chain_mode mode, bool *fast);

#endif
