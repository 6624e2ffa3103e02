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
void tv_certinfo_release(struct tv_certinfo *info);

#endif
