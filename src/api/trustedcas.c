/*
 * DESIGN: uploads are validated whole before anything is stored: one entry
 * that isn't a certificate rejects the request (400/10107 naming the entry)
 * and changes nothing. A certificate the tenant already has is reported in
 * the answer (ext: "alreadyPresent": true), not stored twice. The system
 * roots are listed read-only under source GLOBALLY_TRUSTED.
 */
#include "api/trustedcas.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pki/x509.h"
#include "svc/certinfo.h"

#define S_MAX_ENTRIES 200
#define S_MAX_CERTS_PER_ENTRY 500

/* A TrustedCA object from a stored row. */
static json_t *S_ca_json(const struct tv_trusted_ca *ca, const char *source)
{
	json_t *o = json_loads(ca->facts_json, 0, NULL);

	if (!o)
		o = json_object();
	json_object_set_new(o, "id", json_string(ca->id));
	json_object_set_new(o, "companyId", json_string(ca->tenant_id));
	json_object_set_new(o, "source", json_string(source));
	json_object_set_new(o, "creationDate", tv_api_date(ca->created_ms));
	return o;
}

/* A TrustedCA object for a certificate that isn't stored (a system root). */
static json_t *S_cert_json(X509 *cert, const char *tenant_id, const char *source)
{
	struct tv_certinfo info;
	struct tv_trusted_ca ca;
	json_t *o;

	if (tv_certinfo_init(&info, cert, true) != TV_OK)
		return NULL;
	memset(&ca, 0, sizeof(ca));
	snprintf(ca.tenant_id, sizeof(ca.tenant_id), "%s", tenant_id);
	ca.facts_json = info.facts_json;
	o = S_ca_json(&ca, source);
	json_object_set_new(o, "id", json_string(info.facts.fingerprint));
	json_object_set_new(o, "creationDate", json_null());
	tv_certinfo_release(&info);
	return o;
}

/*
 * What one parsed entry must pass before anything is stored: the
 * subjectAltName cap (counted without decoding a name), then the facts the
 * store keeps (a NUL inside a name, a non-ASCII dNSName or a repeated
 * extension can't be kept). False after replying 400.
 */
static bool S_entry_ok(struct tv_http_resp *resp, STACK_OF(X509) *certs, const char *path,
		       size_t max_sans)
{
	struct tv_cert_facts facts;
	size_t n = 0;
	enum tv_err rc;
	int i;

	for (i = 0; i < sk_X509_num(certs); i++) {
		if (tv_cert_san_count(&n, sk_X509_value(certs, i)) != TV_OK) {
			tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", path),
					    "%s: the certificate's subjectAltName is malformed",
					    path);
			return false;
		}
		if (n > max_sans) {
			tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", path),
					    "%s: the certificate has %zu subjectAltNames, over the "
					    "limit of %zu", path, n, max_sans);
			return false;
		}
		rc = tv_cert_facts_get(&facts, sk_X509_value(certs, i));
		tv_cert_facts_release(&facts);
		if (rc == TV_ERR_INVALID) {
			tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", path),
					    "%s: the certificate has a field tlsvault can't store (a "
					    "NUL inside a name, a non-ASCII dNSName, a malformed or "
					    "repeated extension, or a serial over 20 octets)", path);
			return false;
		}
	}
	return true;
}

/* Parse every entry; false after replying 400. */
static bool S_parse_entries(struct tv_http_resp *resp, json_t *arr, size_t max_sans,
			    STACK_OF(X509) **all)
{
	json_t *v;
	size_t i;

	*all = sk_X509_new_null();
	json_array_foreach(arr, i, v) {
		STACK_OF(X509) *certs = NULL;
		char path[64];
		enum tv_err rc;

		snprintf(path, sizeof(path), "encodedCertificates[%zu]", i);
		if (!json_is_string(v)) {
			tv_api_bad_field(resp, path, "must be a string");
			return false;
		}
		rc = tv_certs_parse(&certs, (const unsigned char *)json_string_value(v),
				    json_string_length(v), S_MAX_CERTS_PER_ENTRY);
		if (rc) {
			tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", path),
					    "%s: not a PEM or base64 DER certificate%s", path,
					    rc == TV_ERR_TOO_LARGE ? " (too large)" : "");
			return false;
		}
		if (!S_entry_ok(resp, certs, path, max_sans)) {
			sk_X509_pop_free(certs, X509_free);
			return false;
		}
		while (sk_X509_num(certs) > 0)
			sk_X509_push(*all, sk_X509_shift(certs));
		sk_X509_free(certs);
	}
	return true;
}

void tv_api_cas_create(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	static const char *const allowed[] = { "encodedCertificates", NULL };
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	json_t *body = tv_http_req_json(req), *arr, *out;
	STACK_OF(X509) *all = NULL;
	enum tv_err rc = TV_OK;
	int i;

	if (!json_is_object(body)) {
		tv_api_bad_field(resp, "$", "must be an object");
		return;
	}
	if (tv_api_unknown_fields(resp, body, allowed))
		return;
	arr = json_object_get(body, "encodedCertificates");
	if (!json_is_array(arr) || json_array_size(arr) < 1 ||
	    json_array_size(arr) > S_MAX_ENTRIES) {
		tv_api_bad_field(resp, "encodedCertificates", "must be an array of 1 to 200 strings");
		return;
	}
	if (!S_parse_entries(resp, arr, app->max_sans ? app->max_sans : TV_P12_DEFAULT_MAX_SANS,
			     &all)) {
		sk_X509_pop_free(all, X509_free);
		return;
	}
	out = json_array();
	for (i = 0; !rc && i < sk_X509_num(all); i++) {
		struct tv_trusted_ca ca = { 0 };
		struct tv_certinfo info;
		json_t *o;

		rc = tv_certinfo_init(&info, sk_X509_value(all, i), true);
		if (rc)
			break;
		tv_uuid_new(ca.id);
		memcpy(ca.tenant_id, p->tenant.id, sizeof(ca.tenant_id));
		memcpy(ca.fingerprint, info.facts.fingerprint, sizeof(ca.fingerprint));
		snprintf(ca.certificate_type, sizeof(ca.certificate_type), "%s",
			 tv_cert_type(&info.facts));
		ca.der = info.der;
		ca.der_len = info.der_len;
		ca.facts_json = info.facts_json;
		ca.created_ms = tv_now_ms();
		rc = app->store->ops->ca_insert(app->store, &ca);
		if (rc == TV_ERR_EXISTS) {
			struct tv_trusted_ca old;
			rc = app->store->ops->ca_get(app->store, p->tenant.id, ca.fingerprint, &old);
			if (!rc) {
				o = S_ca_json(&old, "USER_PROVIDED");
				json_object_set_new(o, "alreadyPresent", json_true());
				json_array_append_new(out, o);
				free(old.der);
				free(old.facts_json);
			}
		} else if (!rc) {
			tv_api_audit(app, req, "trustedca.add", ca.fingerprint, ca.certificate_type);
			json_array_append_new(out, S_ca_json(&ca, "USER_PROVIDED"));
		}
		tv_certinfo_release(&info);
	}
	sk_X509_pop_free(all, X509_free);
	tv_trust_cache_invalidate(app->trust_cache, p->tenant.id);
	if (rc) {
		json_decref(out);
		tv_api_internal(resp, req, rc, "ca_insert");
		return;
	}
	tv_http_reply_json(resp, 201, json_pack("{s:o,s:I}", "certificates", out,
						"certificatesCount",
						(json_int_t)json_array_size(out)));
}

void tv_api_cas_list(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	const char *source = tv_http_req_query(req, "source");
	struct tv_trusted_ca *cas = NULL;
	size_t n = 0, i;
	json_t *out;
	enum tv_err rc;

	if (source && strcmp(source, "USER_PROVIDED") && strcmp(source, "GLOBALLY_TRUSTED")) {
		tv_api_bad_field(resp, "source", "must be USER_PROVIDED or GLOBALLY_TRUSTED");
		return;
	}
	out = json_array();
	if (source && !strcmp(source, "GLOBALLY_TRUSTED")) {
		for (i = 0; i < tv_trust_roots_count(app->roots); i++)
			json_array_append_new(out, S_cert_json(tv_trust_roots_get(app->roots, i),
							       p->tenant.id, "GLOBALLY_TRUSTED"));
	} else {
		rc = app->store->ops->ca_list(app->store, p->tenant.id, &cas, &n);
		if (rc) {
			json_decref(out);
			tv_api_internal(resp, req, rc, "ca_list");
			return;
		}
		for (i = 0; i < n; i++)
			json_array_append_new(out, S_ca_json(&cas[i], "USER_PROVIDED"));
		tv_trusted_cas_free(cas, n);
	}
	tv_http_reply_json(resp, 200, json_pack("{s:o,s:I}", "certificates", out,
						"certificatesCount",
						(json_int_t)json_array_size(out)));
}

/* Find a trusted certificate by fingerprint: the tenant's, else a system root. */
static X509 *S_find(struct tv_app *app, struct tv_http_req *req, struct tv_http_resp *resp,
		    json_t **obj)
{
	const struct tv_principal *p = tv_api_principal(req);
	struct tv_trusted_ca ca;
	const unsigned char *d;
	char fp[41];
	X509 *cert = NULL;
	size_t i;
	enum tv_err rc;

	if (tv_fingerprint_norm(fp, tv_http_req_param(req, "fingerprint")) != TV_OK) {
		tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", "fingerprint"),
				    "fingerprint: must be 40 hex digits (SHA-1)");
		return NULL;
	}
	rc = app->store->ops->ca_get(app->store, p->tenant.id, fp, &ca);
	if (!rc) {
		d = ca.der;
		cert = d2i_X509(NULL, &d, (long)ca.der_len);
		if (obj)
			*obj = S_ca_json(&ca, "USER_PROVIDED");
		free(ca.der);
		free(ca.facts_json);
	} else if (rc == TV_ERR_NOT_FOUND) {
		/* only the SHA-1 of each root: the full facts are computed once,
		 * for the match */
		for (i = 0; i < tv_trust_roots_count(app->roots) && !cert; i++) {
			X509 *r = tv_trust_roots_get(app->roots, i);
			unsigned char md[20];
			unsigned int md_len = 0;
			char hex[41];

			if (!X509_digest(r, EVP_sha1(), md, &md_len) || md_len != sizeof(md))
				continue;
			tv_hex_upper(hex, md, sizeof(md));
			if (!strcmp(hex, fp)) {
				cert = X509_dup(r);
				if (obj)
					*obj = S_cert_json(r, p->tenant.id, "GLOBALLY_TRUSTED");
			}
		}
	} else {
		tv_api_internal(resp, req, rc, "ca_get");
		return NULL;
	}
	if (!cert) {
		if (obj) {
			json_decref(*obj);
			*obj = NULL;
		}
		tv_api_not_found(resp);
	}
	return cert;
}

void tv_api_cas_get(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	struct tv_trust_ref *ref = NULL;
	STACK_OF(X509) *chain = NULL;
	json_t *obj = NULL, *issuers;
	char msg[256];
	X509 *cert;
	int i;

	cert = S_find(app, req, resp, &obj);
	if (!cert)
		return;
	issuers = json_array();
	/* the chain above it, as the tenant's trust would build it */
	if (tv_trust_cache_get(app->trust_cache, tv_api_principal(req)->tenant.id, &ref) ==
		    TV_OK &&
	    tv_chain_verify(tv_trust_ref_store(ref), cert, NULL, &chain, msg, sizeof(msg)) ==
		    TV_REASON_OK) {
		for (i = 0; i < sk_X509_num(chain); i++)
			json_array_append_new(issuers,
					      S_cert_json(sk_X509_value(chain, i),
							  tv_api_principal(req)->tenant.id,
							  "USER_PROVIDED"));
	}
	sk_X509_pop_free(chain, X509_free);
	tv_trust_ref_release(ref);
	X509_free(cert);
	json_object_set_new(obj, "issuerCertificates", issuers);
	tv_http_reply_json(resp, 200, obj);
}

void tv_api_cas_contents(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *format = tv_http_req_query(req, "format");
	unsigned char *der = NULL;
	char *pem = NULL;
	size_t der_len = 0;
	enum tv_err rc;
	X509 *cert;

	if (format && strcasecmp(format, "PEM") && strcasecmp(format, "DER")) {
		tv_api_bad_field(resp, "format", "must be PEM or DER");
		return;
	}
	cert = S_find(app, req, resp, NULL);
	if (!cert)
		return;
	if (format && !strcasecmp(format, "DER")) {
		rc = tv_cert_der(&der, &der_len, cert);
		if (!rc)
			rc = tv_http_reply_bytes(resp, 200, "application/pkix-cert", der, der_len,
						 false);
	} else {
		rc = tv_cert_pem(&pem, cert);
		if (!rc)
			rc = tv_http_reply_bytes(resp, 200, "application/x-pem-file", pem,
						 strlen(pem), false);
	}
	free(der);
	free(pem);
	X509_free(cert);
	if (rc)
		tv_api_internal(resp, req, rc, "ca_contents");
}

void tv_api_cas_delete(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	static const char *const allowed[] = { "fingerprints", NULL };
	struct tv_app *app = app_ptr;
	const struct tv_principal *p = tv_api_principal(req);
	json_t *body = tv_http_req_json(req), *arr, *v;
	char (*fps)[41] = NULL;
	const char **ptrs = NULL;
	size_t n, i, deleted = 0;
	enum tv_err rc = TV_OK;

	if (!json_is_object(body)) {
		tv_api_bad_field(resp, "$", "must be an object");
		return;
	}
	if (tv_api_unknown_fields(resp, body, allowed))
		return;
	arr = json_object_get(body, "fingerprints");
	n = json_array_size(arr);
	if (!json_is_array(arr) || n < 1 || n > 1000) {
		tv_api_bad_field(resp, "fingerprints", "must be an array of 1 to 1000 fingerprints");
		return;
	}
	fps = calloc(n, sizeof(*fps));
	ptrs = calloc(n, sizeof(*ptrs));
	if (!fps || !ptrs)
		rc = TV_ERR_NOMEM;
	json_array_foreach(arr, i, v) {
		if (rc)
			break;
		if (!json_is_string(v) || tv_fingerprint_norm(fps[i], json_string_value(v))) {
			char path[48];
			snprintf(path, sizeof(path), "fingerprints[%zu]", i);
			tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", path),
					    "%s: must be 40 hex digits (SHA-1)", path);
			goto out;
		}
		ptrs[i] = fps[i];
	}
	if (!rc)
		rc = app->store->ops->ca_delete(app->store, p->tenant.id, ptrs, n, &deleted);
	if (rc) {
		tv_api_internal(resp, req, rc, "ca_delete");
		goto out;
	}
	tv_trust_cache_invalidate(app->trust_cache, p->tenant.id);
	for (i = 0; i < n; i++)
		tv_api_audit(app, req, "trustedca.delete", fps[i], NULL);
	tv_http_reply_empty(resp, 204);
out:
	free(fps);
	free(ptrs);
}
