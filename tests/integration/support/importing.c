/* DESIGN: see importing.h; every wait polls with a deadline. */
#define _GNU_SOURCE
#include "importing.h"

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/util.h"

void tvh_dek_key(const struct tvh_server *s, const char *api_key, unsigned char pk[32])
{
	struct tvh_resp r;
	json_t *k;
	size_t n = 0;

	tvh_request(&r, s, "GET", "/v1/edgeencryptionkeys", api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	k = json_array_get(json_object_get(r.json, "encryptionKeys"), 0);
	assert_int_equal(tv_b64_decode_to(pk, 32, &n, json_string_value(json_object_get(k, "key")),
					  44),
			 TV_OK);
	assert_int_equal(n, 32);
	tvh_resp_free(&r);
}

char *tvh_b64(const void *p, size_t len)
{
	char *out = NULL;

	assert_int_equal(tv_b64_encode(&out, p, len, false), TV_OK);
	return out;
}

char *tvh_seal_b64(const unsigned char pk[32], const void *pw, size_t len)
{
	unsigned char *sealed = malloc(len + crypto_box_SEALBYTES);
	char *out;

	assert_non_null(sealed);
	assert_int_equal(crypto_box_seal(sealed, pw, len, pk), 0);
	out = tvh_b64(sealed, len + crypto_box_SEALBYTES);
	free(sealed);
	return out;
}

char *tvh_file_b64(const char *path)
{
	size_t len = 0;
	char *buf = tvh_read_file(path, &len), *out;

	assert_non_null(buf);
	out = tvh_b64(buf, len);
	free(buf);
	return out;
}

json_t *tvh_envelope(const struct tvh_server *s, json_t *items)
{
	return json_pack("{s:s,s:s,s:o}", "edgeInstanceId", s->edge_id, "encryptionKeyId",
			 s->key_id, "importInformation", items);
}

char *tvh_post_job(const struct tvh_server *s, const char *api_key, json_t *body,
		   const char *query)
{
	char *text = json_dumps(body, JSON_COMPACT), path[256], *id;
	struct tvh_resp r;

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports%s",
		 query ? query : "");
	tvh_request(&r, s, "POST", path, api_key, text, strlen(text), NULL);
	if (r.status != 201)
		fail_msg("import POST: %ld %s", r.status, r.body ? r.body : "");
	id = strdup(json_string_value(json_object_get(r.json, "id")));
	assert_non_null(json_string_value(json_object_get(r.json, "creationDate")));
	tvh_resp_free(&r);
	free(text);
	json_decref(body);
	return id;
}

json_t *tvh_wait_job(const struct tvh_server *s, const char *api_key, const char *job_id)
{
	int64_t deadline = tv_mono_ms() + 240000;
	char path[256];

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s?waitSeconds=20",
		 job_id);
	while (tv_mono_ms() < deadline) {
		struct tvh_resp r;
		const char *st;
		json_t *j;

		tvh_request(&r, s, "GET", path, api_key, NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		st = json_string_value(json_object_get(r.json, "status"));
		assert_non_null(st);
		if (!strcmp(st, "COMPLETED") || !strcmp(st, "FAILED")) {
			j = json_incref(r.json);
			tvh_resp_free(&r);
			return j;
		}
		tvh_resp_free(&r);
	}
	fail_msg("job %s did not end within 240 s", job_id);
	return NULL;
}

void tvh_trust(const struct tvh_server *s, const char *api_key, const char *const *pems,
	       size_t n)
{
	json_t *arr = json_array(), *body;
	struct tvh_resp r;
	char *text;
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(pems[i]));
	body = json_pack("{s:o}", "encodedCertificates", arr);
	text = json_dumps(body, JSON_COMPACT);
	tvh_request(&r, s, "POST", "/v1/trustedcacertificates", api_key, text, strlen(text), NULL);
	if (r.status != 201)
		fail_msg("trust POST: %ld %s", r.status, r.body ? r.body : "");
	tvh_resp_free(&r);
	free(text);
	json_decref(body);
}

json_t *tvh_result(json_t *job, int item_index)
{
	json_t *arr = json_object_get(job, "results"), *r;
	size_t i;

	json_array_foreach(arr, i, r)
		if (json_integer_value(json_object_get(r, "itemIndex")) == item_index)
			return r;
	return NULL;
}

void tvh_cert_fingerprint(char out[41], const char *pem_path)
{
	unsigned char md[SHA_DIGEST_LENGTH], *der = NULL;
	FILE *f = fopen(pem_path, "r");
	X509 *x;
	int len;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	len = i2d_X509(x, &der);
	assert_true(len > 0);
	SHA1(der, (size_t)len, md);
	tv_hex_upper(out, md, sizeof(md));
	OPENSSL_free(der);
	X509_free(x);
}
