/*
 * DESIGN: export is the one place a private key leaves the vault. The two
 * passphrases arrive sealed to the certificate's DEK (dekHash) and are opened
 * into secret buffers; the sealed key is opened into a secret buffer, parsed,
 * written in the requested format with the passphrase, and every plaintext
 * buffer is wiped before the reply is queued. The reply body itself is
 * wiped when libmicrohttpd frees it. The Accept header is ignored: vcert
 * sends Accept: application/json and expects the binary.
 */
#include "api/certificates.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/b64.h"
#include "core/util.h"
#include "pki/writer.h"

struct S_export {
	const char *format;  /* PKCS12, PEM, JKS */
	bool legacy;
	char label[TV_LABEL_MAX + 1];
	struct tv_secbuf *key_pass, *store_pass;
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) *chain;
};

static void S_export_release(struct S_export *x)
{
	tv_secbuf_free(x->key_pass);
	tv_secbuf_free(x->store_pass);
	EVP_PKEY_free(x->key);
	X509_free(x->leaf);
	sk_X509_pop_free(x->chain, X509_free);
}

/* Open a sealed passphrase field; false after replying 400. */
static bool S_passphrase(struct tv_app *app, struct tv_http_resp *resp, const char *tenant,
			 const char *dek_id, json_t *body, const char *field,
			 struct tv_secbuf **out)
{
	json_t *v = json_object_get(body, field);
	unsigned char *sealed = NULL;
	size_t len = 0;
	enum tv_err rc;

	*out = NULL;
	if (!v || (json_is_string(v) && !json_string_length(v)))
		return true; /* absent or "": no passphrase */
	if (!json_is_string(v) ||
	    tv_b64_decode(&sealed, &len, json_string_value(v), json_string_length(v), 4096)) {
		tv_http_reply_error(resp, 400, TV_E_MALFORMED, json_pack("[s]", field),
				    "%s: not base64", field);
		return false;
	}
	rc = tv_keyring_unseal_tenant(app->keyring, out, tenant, dek_id, sealed, len);
	free(sealed);
	if (rc == TV_ERR_DENIED || rc == TV_ERR_NOMEM || rc == TV_ERR_STORE) {
		/* the server can't open its own DEK: not the caller's fault */
		tv_http_reply_error(resp, 500, TV_HTTP_E_INTERNAL, NULL,
				    "%s: the server can't open the key %s (see its log)", field,
				    dek_id);
		return false;
	}
	if (rc) {
		tv_http_reply_error(resp, 400, 10111, json_pack("[s]", field),
				    "%s: does not open with the key %s (seal it to the certificate's "
				    "dekHash)", field, dek_id);
		return false;
	}
	if (!tv_writer_passphrase_ok((*out)->p, (*out)->len)) {
		/* said here, naming the field, rather than as a writer failure */
		tv_secbuf_free(*out);
		*out = NULL;
		tv_api_bad_field(resp, field,
				 "the passphrase must be UTF-8 without NUL bytes, at most 4096 bytes");
		return false;
	}
	return true;
}

/* Validate the body; false after replying. */
/* A label the caller gave: UTF-8 (jansson checked that already) that fits
 * the stored size, and for PKCS#12 only characters of the Basic
 * Multilingual Plane. */
static bool S_label_ok(const char *label, bool bmp)
{
	size_t len = strlen(label), pos = 0;
	uint32_t cp;

	if (len > TV_LABEL_MAX)
		return false;
	while (pos < len)
		if (tv__utf8_next((const unsigned char *)label, len, &pos, &cp) != 0 ||
		    (bmp && cp > 0xffff))
			return false;
	return true;
}

/*
 * Copy a default label (an import label or the certificate's name): whole
 * characters only, so truncation never splits one, and U+FFFD for a
 * character outside the Basic Multilingual Plane, which no friendlyName can
 * hold (the other formats get the same, so one certificate exports under
 * one name).
 */
static void S_label_copy(char *out, size_t size, const char *label)
{
	size_t len = strlen(label), pos = 0, n = 0;
	uint32_t cp;

	while (pos < len) {
		size_t start = pos, k;

		if (tv__utf8_next((const unsigned char *)label, len, &pos, &cp) != 0)
			break;
		if (cp > 0xffff) {
			if (n + 3 >= size)
				break;
			memcpy(out + n, "\xef\xbf\xbd", 3);
			n += 3;
			continue;
		}
		if (n + (pos - start) >= size)
			break;
		for (k = start; k < pos; k++)
			out[n++] = label[k];
	}
	out[n] = '\0';
}

static bool S_parse(struct tv_http_resp *resp, json_t *body, struct S_export *x,
		    const struct tv_cert_record *c)
{
	static const char *const allowed[] = { "exportFormat", "encryptedPrivateKeyPassphrase",
					       "encryptedKeystorePassphrase", "certificateLabel",
					       "keystoreProfile", NULL };
	const char *fmt, *label, *profile;
	json_t *facts;

	if (!json_is_object(body)) {
		tv_api_bad_field(resp, "$", "must be an object");
		return false;
	}
	if (tv_api_unknown_fields(resp, body, allowed))
		return false;
	fmt = json_string_value(json_object_get(body, "exportFormat"));
	if (!fmt || (strcmp(fmt, "PKCS12") && strcmp(fmt, "PEM") && strcmp(fmt, "JKS"))) {
		tv_api_bad_field(resp, "exportFormat", "must be PKCS12, PEM or JKS");
		return false;
	}
	x->format = fmt;
	profile = json_string_value(json_object_get(body, "keystoreProfile"));
	if (json_object_get(body, "keystoreProfile") &&
	    (!profile || (strcmp(profile, "LEGACY") && strcmp(profile, "MODERN")))) {
		tv_api_bad_field(resp, "keystoreProfile", "must be MODERN or LEGACY");
		return false;
	}
	x->legacy = profile && !strcmp(profile, "LEGACY");
	label = json_string_value(json_object_get(body, "certificateLabel"));
	if (json_object_get(body, "certificateLabel") && !json_is_string(json_object_get(body,
									  "certificateLabel"))) {
		tv_api_bad_field(resp, "certificateLabel", "must be a string");
		return false;
	}
	if (label && *label && !S_label_ok(label, !strcmp(fmt, "PKCS12"))) {
		tv_api_bad_field(resp, "certificateLabel",
				 !strcmp(fmt, "PKCS12")
					 ? "must be at most 256 bytes of UTF-8, without characters "
					   "outside the Basic Multilingual Plane (a PKCS#12 "
					   "friendlyName is a BMPString)"
					 : "must be at most 256 bytes of UTF-8");
		return false;
	}
	facts = json_loads(c->facts_json, 0, NULL);
	S_label_copy(x->label, sizeof(x->label),
		     label && *label ? label
		     : c->label[0]   ? c->label
				     : json_string_value(json_object_get(facts, "certificateName"))
		     ? json_string_value(json_object_get(facts, "certificateName"))
		     : "certificate");
	json_decref(facts);
	return true;
}

/*
 * The key and the chain, from the store and the DEK. TV_ERR_CRYPTO when the
 * stored key doesn't open, doesn't parse, or is not the certificate's key:
 * the row was altered (a sealed key has no AAD, so one key of the tenant
 * could be moved onto another certificate's row), and nothing is written.
 */
static enum tv_err S_load(struct tv_app *app, const char *tenant, const struct tv_cert_record *c,
			  struct S_export *x)
{
	struct tv_secbuf *p8 = NULL;
	unsigned char *sealed = NULL;
	const unsigned char *p;
	json_t *ids;
	size_t len = 0, i;
	enum tv_err rc;

	rc = app->store->ops->cert_key(app->store, tenant, c->id, &sealed, &len);
	if (!rc)
		rc = tv_keyring_unseal(app->keyring, &p8, tenant, c->dek_id, sealed, len);
	free(sealed);
	if (rc)
		return rc;
	p = p8->p;
	x->key = d2i_AutoPrivateKey_ex(NULL, &p, (long)p8->len, tv_pki_libctx(app->pki), NULL);
	tv_secbuf_free(p8);
	p = c->der;
	x->leaf = d2i_X509(NULL, &p, (long)c->der_len);
	x->chain = sk_X509_new_null();
	if (!x->leaf || !x->chain)
		return TV_ERR_INTERNAL;
	if (!x->key || !tv_pki_key_matches_cert(x->key, x->leaf))
		return TV_ERR_CRYPTO;
	ids = json_loads(c->issuer_ids_json, 0, NULL);
	for (i = 0; i < json_array_size(ids); i++) {
		struct tv_cert_record ic;
		const char *id = json_string_value(json_array_get(ids, i));

		if (!id || app->store->ops->cert_get(app->store, tenant, id, &ic) != TV_OK)
			continue; /* an issuer deleted since: export what is left */
		p = ic.der;
		{
			X509 *issuer = d2i_X509(NULL, &p, (long)ic.der_len);
			if (issuer && !sk_X509_push(x->chain, issuer))
				X509_free(issuer);
		}
		free(ic.der);
		free(ic.facts_json);
		free(ic.issuer_ids_json);
	}
	json_decref(ids);
	return TV_OK;
}

static enum tv_err S_write(struct tv_app *app, struct S_export *x, struct tv_secbuf **out,
			   const char **ctype, const char **ext)
{
	const struct tv_secbuf *kp = x->key_pass;
	const struct tv_secbuf *sp = x->store_pass && x->store_pass->len ? x->store_pass : kp;

	if (!strcmp(x->format, "PKCS12")) {
		*ctype = "application/x-pkcs12";
		*ext = "p12";
		return tv_p12_write(out, app->pki, x->key, x->leaf, x->chain, x->label,
				    (const char *)kp->p, kp->len,
				    x->legacy ? TV_P12_LEGACY : TV_P12_MODERN);
	}
	if (!strcmp(x->format, "PEM")) {
		*ctype = "application/zip";
		*ext = "zip";
		return tv_pem_zip_write(out, app->pki, x->key, x->leaf, x->chain, x->label,
					(const char *)kp->p, kp->len);
	}
	*ctype = "application/octet-stream";
	*ext = "jks";
	return tv_jks_write(out, x->key, x->leaf, x->chain, x->label, (const char *)kp->p,
			    kp->len, (const char *)sp->p, sp->len);
}

/* A file name for Content-Disposition: the label, made safe. */
static void S_filename(char *out, size_t size, const char *label, const char *ext)
{
	char base[96];
	size_t i, n = 0;

	for (i = 0; label[i] && n < sizeof(base) - 1; i++) {
		unsigned char ch = (unsigned char)label[i];
		base[n++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
					    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
					    ch == '_'
				    ? (char)ch
				    : '_';
	}
	base[n] = '\0';
	snprintf(out, size, "attachment; filename=\"%s.%s\"", n ? base : "certificate", ext);
}

void tv_api_cert_keystore(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	const char *tenant = tv_api_principal(req)->tenant.id, *id = tv_http_req_param(req, "id");
	const char *ctype = NULL, *ext = NULL;
	json_t *body = tv_http_req_json(req);
	struct tv_secbuf *file = NULL;
	struct tv_cert_record c;
	struct S_export x;
	char disposition[160];
	enum tv_err rc;

	memset(&x, 0, sizeof(x));
	memset(&c, 0, sizeof(c));
	if (!tv_uuid_valid(id) ||
	    (rc = app->store->ops->cert_get(app->store, tenant, id, &c)) == TV_ERR_NOT_FOUND) {
		tv_api_not_found(resp);
		return;
	}
	if (rc) {
		tv_api_internal(resp, req, rc, "cert_get");
		return;
	}
	if (!S_parse(resp, body, &x, &c))
		goto out;
	if (!c.dek_id[0]) {
		tv_http_reply_error(resp, 404, TV_E_NOT_FOUND, NULL, "private key not found");
		tv_api_audit_outcome(app, req, "certificate.export", c.id, "no private key",
				     "failed");
		goto out;
	}
	if (!S_passphrase(app, resp, tenant, c.dek_id, body, "encryptedPrivateKeyPassphrase",
			  &x.key_pass) ||
	    !S_passphrase(app, resp, tenant, c.dek_id, body, "encryptedKeystorePassphrase",
			  &x.store_pass)) {
		tv_api_audit_outcome(app, req, "certificate.export", c.id,
				     "passphrase refused", "failed");
		goto out;
	}
	if (!x.key_pass || !x.key_pass->len) {
		/* a key never leaves unprotected */
		tv_api_bad_field(resp, "encryptedPrivateKeyPassphrase",
				 "a sealed, non-empty passphrase is required");
		goto out;
	}
	rc = S_load(app, tenant, &c, &x);
	if (rc == TV_ERR_CRYPTO) {
		/* an integrity alarm for the operator, a plain 500 for the caller */
		tv_api_internal(resp, req, rc, "export: the stored key does not open or is not "
					       "the certificate's key");
		tv_api_audit_outcome(app, req, "certificate.export", c.id, "stored key rejected",
				     "failed");
		goto out;
	}
	if (!rc)
		rc = S_write(app, &x, &file, &ctype, &ext);
	if (rc == TV_ERR_INVALID) {
		tv_api_bad_field(resp, "exportFormat", "this key type can't be written in this format");
		goto out;
	}
	if (rc) {
		tv_api_internal(resp, req, rc, "export");
		goto out;
	}
	rc = tv_http_reply_bytes(resp, 200, ctype, file->p, file->len, true);
	if (rc) {
		tv_api_internal(resp, req, rc, "export");
		goto out;
	}
	S_filename(disposition, sizeof(disposition), x.label, ext);
	tv_http_resp_header(resp, "Content-Disposition", disposition);
	tv_api_audit(app, req, "certificate.export", c.id, x.format);
	tv_svc_metrics_export(app->metrics, x.format);
out:
	tv_secbuf_free(file);
	S_export_release(&x);
	free(c.der);
	free(c.facts_json);
	free(c.issuer_ids_json);
}
