/*
 * certinfo.h - a certificate as the store keeps it: the row's search columns
 * and the JSON document of the fields API.md derives from the DER.
 *
 * DESIGN: facts are computed once, when a certificate enters the vault, and
 * stored with it; reads never re-parse DER. Pure; thread-safe.
 */
#ifndef TV_SVC_CERTINFO_H
#define TV_SVC_CERTINFO_H

#include <openssl/x509.h>

#include "pki/p12.h"
#include "pki/x509.h"
#include "store/store.h"

/** Everything a tv_cert_row points to, owned. */
struct tv_certinfo {
	struct tv_cert_facts facts;
	unsigned char *der;
	size_t der_len;
	char *facts_json; /* Certificate (or TrustedCA) fields */
	char *san_dns;    /* dNSNames joined by '\n', for search */
	struct tv_cert_row row; /* points into the members above */
};

/**
 * Fill info from cert. trusted_ca selects the TrustedCA document (with
 * certificateType and key-identifier hashes) instead of the Certificate one.
 */
enum tv_err tv_certinfo_init(struct tv_certinfo *info, X509 *cert, bool trusted_ca) TV_WUR;

/**
 * Fill info (the Certificate document) for the certificate der[0..len)
 * from its DER, without decoding it (tv_cert_facts_from_der). *done false
 * (TV_OK, info empty) when the DER alone can't tell: then decode the
 * certificate and call tv_certinfo_init(), whose answer is the reference.
 * Otherwise *done is true and the result is tv_certinfo_init()'s.
 */
enum tv_err tv_certinfo_init_der(struct tv_certinfo *info, const unsigned char *der,
				 size_t len, bool *done) TV_WUR;

/**
 * Fill info (the Certificate document) for the certificate of pair i of a
 * keystore read (pki/p12.h): from its DER where that settles the facts
 * (the reader leaves a leaf undecoded: OpenSSL 3.0's d2i_X509 runs the
 * public key through its provider decoders, most of a leaf's cost), else
 * from its X509 (tv_p12_pair_cert; TV_ERR_INVALID when that doesn't
 * decode). As tv_certinfo_init() otherwise.
 */
enum tv_err tv_certinfo_init_leaf(struct tv_certinfo *info, struct tv_p12_contents *c,
				  size_t i) TV_WUR;
void tv_certinfo_release(struct tv_certinfo *info);

#endif
