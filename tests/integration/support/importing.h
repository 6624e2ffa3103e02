/*
 * importing.h - integration-test helpers for the import API: sealing
 * passwords as real clients do (crypto_box_seal to the served DEK), reading
 * fixtures as base64, and waiting for a job with waitSeconds.
 */
#ifndef TV_TESTS_IMPORTING_H
#define TV_TESTS_IMPORTING_H

#include "harness.h"

#define TVH_FIXTURES TV_SOURCE_DIR "/tests/fixtures"

/** The tenant's DEK public key, as served by /v1/edgeencryptionkeys. */
void tvh_dek_key(const struct tvh_server *s, const char *api_key, unsigned char pk[32]);

/** base64(crypto_box_seal(pw, pk)); malloc'd. */
char *tvh_seal_b64(const unsigned char pk[32], const void *pw, size_t len);

/** base64 of a file's bytes; malloc'd. */
char *tvh_file_b64(const char *path);

/** base64 of bytes; malloc'd. */
char *tvh_b64(const void *p, size_t len);

/** POST a job (body stolen) to path; returns the job id (malloc'd); status must be 201. */
char *tvh_post_job(const struct tvh_server *s, const char *api_key, json_t *body,
		   const char *query);

/** Wait (waitSeconds long-polls, up to a deadline) until the job is final; the job JSON. */
json_t *tvh_wait_job(const struct tvh_server *s, const char *api_key, const char *job_id);

/** The import envelope for this server's first tenant, with items (stolen). */
json_t *tvh_envelope(const struct tvh_server *s, json_t *items);

/** Upload certificates (PEM texts) as trusted CAs; asserts 201. */
void tvh_trust(const struct tvh_server *s, const char *api_key, const char *const *pems,
	       size_t n);

/** The result of item index (first one, seq 0 order), or NULL. */
json_t *tvh_result(json_t *job, int item_index);

/** SHA-1 fingerprint (40 upper hex) of a PEM certificate file. */
void tvh_cert_fingerprint(char out[41], const char *pem_path);

#endif
