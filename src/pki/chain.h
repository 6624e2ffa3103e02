/*
 * chain.h - trust anchors and chain verification for imports.
 *
 * Two objects. struct tv_trust_roots is the operating system's root store,
 * loaded once per process. struct tv_trust_store is one tenant's decoded
 * trust: the certificates it uploaded plus, optionally, those roots. The
 * caller (svc/) caches one store per tenant and replaces it when the
 * tenant's trusted CAs change; a store is never modified after creation.
 *
 * Threads: both objects are immutable once made. Any number of threads may
 * call tv_trust_roots_count/get, tv_trust_store_new (with the same roots)
 * and tv_chain_verify (with the same store) at the same time. A _free must
 * not race with any other use of the object it frees. A trust store takes
 * its own references to the roots' certificates, so the roots may be freed
 * while stores made from them still live.
 */
#ifndef TV_PKI_CHAIN_H
#define TV_PKI_CHAIN_H

#include <stddef.h>

#include <openssl/x509.h>

#include "core/err.h"
#include "pki/reason.h"

/** The bundle tv_trust_roots_load() reads when given NULL (Debian's). */
#define TV_TRUST_ROOTS_DEFAULT_PATH "/etc/ssl/certs/ca-certificates.crt"

/** Caps for the system bundle: file size, and number of certificates. */
#define TV_TRUST_ROOTS_MAX_FILE (4u * 1024u * 1024u)
#define TV_TRUST_ROOTS_MAX_CERTS 4096u

struct tv_trust_roots;

/**
 * Read the system roots from the PEM bundle at bundle_path (NULL means
 * TV_TRUST_ROOTS_DEFAULT_PATH). On success *out is a new object owned by the
 * caller (tv_trust_roots_free). Every certificate in the file is a root:
 * one block that doesn't parse fails the whole load rather than silently
 * trusting less than the administrator expects.
 * Errors: TV_ERR_NOT_FOUND (no such file), TV_ERR_IO, TV_ERR_TOO_LARGE
 * (over TV_TRUST_ROOTS_MAX_FILE or TV_TRUST_ROOTS_MAX_CERTS),
 * TV_ERR_INVALID (not a PEM bundle, or a bad block), TV_ERR_NOMEM.
 * Thread-safe.
 */
enum tv_err tv_trust_roots_load(struct tv_trust_roots **out, const char *bundle_path) TV_WUR;

/** Number of roots (0 for NULL). Thread-safe. */
size_t tv_trust_roots_count(const struct tv_trust_roots *r);

/**
 * The i-th root, for listing the GLOBALLY_TRUSTED source. Borrowed: valid
 * while r lives; don't modify it. NULL when i is out of range. Thread-safe.
 */
X509 *tv_trust_roots_get(const struct tv_trust_roots *r, size_t i);

/** Free the roots; NULL is a no-op. */
void tv_trust_roots_free(struct tv_trust_roots *r);

struct tv_trust_store;

/**
 * Build a tenant's trust store from its uploaded certificates ders[i] of
 * der_lens[i] bytes (DER, each exactly one certificate), i < n, and roots
 * (borrowed; NULL when the server runs with --no-system-roots).
 * An uploaded certificate with basicConstraints cA=TRUE (ROOT_CA, CA or
 * SELF_ISSUED_CA) becomes a trust anchor, partial chains allowed (an
 * uploaded intermediate is enough), and is also offered as an intermediate.
 * An uploaded END_ENTITY certificate only pins itself: that exact
 * certificate (by SHA-1 fingerprint) verifies, and it is never an issuer.
 * On success *out is a new store owned by the caller (tv_trust_store_free);
 * it holds no pointer into ders or roots.
 * Errors: TV_ERR_INVALID (n > 0 with NULL arrays, or a DER that isn't one
 * certificate), TV_ERR_NOMEM, TV_ERR_CRYPTO. Thread-safe.
 */
enum tv_err tv_trust_store_new(struct tv_trust_store **out, const struct tv_trust_roots *roots,
			       const unsigned char *const *ders, const size_t *der_lens,
			       size_t n) TV_WUR;

/** Free a store; NULL is a no-op. Must not race with tv_chain_verify on it. */
void tv_trust_store_free(struct tv_trust_store *ts);

/**
 * Verify leaf (borrowed) against ts. candidates (borrowed, may be NULL) are
 * untrusted intermediates, e.g. a keystore's CA certificates. Time is not
 * checked (expired certificates still import: the vault is an archive),
 * and neither is purpose or extended key usage.
 *
 * Returns:
 * - TV_REASON_OK: when chain_out is not NULL, *chain_out is a new stack,
 *   owned by the caller (sk_X509_pop_free(.., X509_free)), of the issuers
 *   above the leaf, nearest first, ending with the anchor. It is empty when
 *   the leaf itself is an uploaded certificate (pinned END_ENTITY or an
 *   uploaded CA) or itself a system root.
 * - TV_REASON_SELF_SIGNED: the leaf is self-signed and not trusted itself.
 * - TV_REASON_CHAIN_BUILDING_FAILED: no path to an anchor; msg names the
 *   leaf's issuer DN and OpenSSL's verify error ("no path to a trusted CA
 *   for issuer 'CN=Intermediate,O=Test': unable to get local issuer
 *   certificate").
 * - TV_REASON_INTERNAL_ERROR: out of memory, or NULL ts/leaf.
 * On anything but OK, *chain_out is untouched. msg (may be NULL) gets a
 * message for a person, "" on OK; see TV_REASON_MSG_SIZE.
 * A leaf under an issuer this store already verified through OpenSSL may
 * be answered without it (the fast leaf check, chain.c): same results.
 * Thread-safe: any number of threads may verify against one store at once
 * (each call makes its own X509_STORE_CTX; X509_STORE locks internally).
 */
enum tv_reason tv_chain_verify(const struct tv_trust_store *ts, X509 *leaf,
			       STACK_OF(X509) *candidates, STACK_OF(X509) **chain_out, char *msg,
			       size_t msg_size);

/**
 * tv_chain_verify for the leaf der[0..len) (exactly one DER Certificate),
 * with leaf its decoded X509 when the caller has one already, else NULL:
 * the fast leaf check needs only the DER, and the certificate is decoded
 * here only when OpenSSL must verify it: TV_REASON_MALFORMED_KEYSTORE
 * when it then doesn't decode. Otherwise the same results, ownership and
 * thread-safety as tv_chain_verify.
 */
enum tv_reason tv_chain_verify_der(const struct tv_trust_store *ts, const unsigned char *der,
				   size_t len, X509 *leaf, STACK_OF(X509) *candidates,
				   STACK_OF(X509) **chain_out, char *msg, size_t msg_size) TV_WUR;

#endif
