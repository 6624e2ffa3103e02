/*
 * DESIGN: see certinfo.h. Field names follow API.md exactly; dates are
 * rendered once here in ISO-8601 UTC with milliseconds.
 */
#include "svc/certinfo.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static json_t *S_strings(char **v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *S_date(int64_t ms)
{
	char s[TV_ISO_TIME_STRLEN + 1];

	tv_iso_time(s, ms);
	return json_string(s);
}

static char *S_join(char **v, size_t n)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, "\n");
		strcat(s, v[i]);
	}
	return s;
}

static json_t *S_document(const struct tv_cert_facts *f, bool trusted_ca)
{
	json_t *o = json_pack(
		"{s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:i,s:s,s:s}", "fingerprint", f->fingerprint,
		"subjectDN", f->subject_dn ? f->subject_dn : "", "subjectCN",
		S_strings(f->subject_cn, f->n_subject_cn), "issuerDN",
		f->issuer_dn ? f->issuer_dn : "", "serialNumber", f->serial, "validityStart",
		S_date(f->validity_start_ms), "validityEnd", S_date(f->validity_end_ms),
		"keyStrength", f->key_strength, "encryptionType", f->encryption_type,
		"signatureAlgorithm", f->signature_algorithm);

	if (!o)
		return NULL;
	if (trusted_ca) {
		json_object_set_new(o, "certificateType", json_string(tv_cert_type(f)));
		json_object_set_new(o, "subjectKeyIdentifierHash", json_string(f->ski_hash));
		json_object_set_new(o, "authorityKeyIdentifierHash", json_string(f->aki_hash));
		return o;
	}
	json_object_set_new(o, "certificateName",
			    json_string(f->certificate_name ? f->certificate_name : ""));
	json_object_set_new(o, "subjectAlternativeNamesByType",
			    json_pack("{s:o,s:o,s:o,s:o}", "dNSName",
				      S_strings(f->san_dns, f->n_san_dns), "iPAddress",
				      S_strings(f->san_ip, f->n_san_ip), "rfc822Name",
				      S_strings(f->san_email, f->n_san_email),
				      "uniformResourceIdentifier",
				      S_strings(f->san_uri, f->n_san_uri)));
	if (f->key_curve[0])
		json_object_set_new(o, "keyCurve", json_string(f->key_curve));
	return o;
}

/* The rest of info once its facts and DER are in: the document and the row. */
static enum tv_err S_finish(struct tv_certinfo *info, enum tv_err rc, bool trusted_ca)
{
	struct tv_cert_facts *f = &info->facts;
	json_t *doc;

	if (!rc) {
		doc = S_document(f, trusted_ca);
		info->facts_json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
		info->san_dns = S_join(f->san_dns, f->n_san_dns);
		if (!info->facts_json || !info->san_dns)
			rc = TV_ERR_NOMEM;
	}
	if (rc) {
		tv_certinfo_release(info);
		return rc;
	}
	memcpy(info->row.fingerprint, f->fingerprint, sizeof(info->row.fingerprint));
	info->row.der = info->der;
	info->row.der_len = info->der_len;
	info->row.facts_json = info->facts_json;
	info->row.certificate_name = f->certificate_name;
	info->row.subject_cn = f->n_subject_cn ? f->subject_cn[0] : NULL;
	info->row.san_dns = info->san_dns;
	info->row.serial_number = f->serial;
	info->row.issuer_dn = f->issuer_dn;
	info->row.encryption_type = f->encryption_type;
	info->row.validity_start_ms = f->validity_start_ms;
	info->row.validity_end_ms = f->validity_end_ms;
	info->row.key_strength = f->key_strength;
	return TV_OK;
}

enum tv_err tv_certinfo_init(struct tv_certinfo *info, X509 *cert, bool trusted_ca)
{
	enum tv_err rc;

	memset(info, 0, sizeof(*info));
	rc = tv_cert_facts_get(&info->facts, cert);
	if (rc)
		return rc;
	return S_finish(info, tv_cert_der(&info->der, &info->der_len, cert), trusted_ca);
}

enum tv_err tv_certinfo_init_der(struct tv_certinfo *info, const unsigned char *der,
				 size_t len, bool *done)
{
	memset(info, 0, sizeof(*info));
	*done = false;
	if (!der || !len || !tv_cert_facts_from_der(&info->facts, der, len))
		return TV_OK;
	*done = true;
	info->der = malloc(len);
	if (info->der) {
		memcpy(info->der, der, len);
		info->der_len = len;
	}
	return S_finish(info, info->der ? TV_OK : TV_ERR_NOMEM, false);
}

enum tv_err tv_certinfo_init_leaf(struct tv_certinfo *info, struct tv_p12_contents *c,
				  size_t i)
{
	const struct tv_p12_pair *pair = &c->pairs[i];
	bool done = false;
	enum tv_err rc;
	X509 *cert;

	rc = tv_certinfo_init_der(info, pair->cert_der, pair->cert_der_len, &done);
	if (rc || done)
		return rc;
	/* NULL: it doesn't decode (or, rarely, out of memory): the reader
	 * vouched for the bytes, so this is the keystore's fault, not a retry */
	cert = tv_p12_pair_cert(c, i);
	return cert ? tv_certinfo_init(info, cert, false) : TV_ERR_INVALID;
}

void tv_certinfo_release(struct tv_certinfo *info)
{
	tv_cert_facts_release(&info->facts);
	free(info->der);
	free(info->facts_json);
	free(info->san_dns);
	memset(info, 0, sizeof(*info));
}
