/*
 * DESIGN: one item goes: open the sealed password (DEK) → read the keystore
 * (pki reader) → for each key/certificate pair, verify the chain against the
 * tenant's trust store and seal the key's PKCS#8 to the DEK → hand the
 * outcomes (a tv_import_done) to the importer's committer, whose
 * items_finish dedupes and commits them, with other items', in one
 * transaction; only then are they logged and counted (tv_import_published). Every secret (password, unsealed PKCS#8) is a tv_secbuf
 * freed on every path; what leaves this file is sealed.
 */
#include "svc/import_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "pki/pkcs8.h"
#include "svc/certinfo.h"
#include "svc/certinfo_cache.h"
#include "svc/metrics.h"

enum tv_err tv_import_create(struct tv_store *store, struct tv_import_job *job,
			     const struct tv_import_item *items, size_t n, size_t max_queued,
			     enum tv_import_verdict *verdict)
{
	struct tv_edge *edges = NULL;
	size_t n_edges = 0, i;
	const struct tv_edge *edge = NULL;
	enum tv_err rc;

	rc = store->ops->edge_list(store, job->tenant_id, &edges, &n_edges);
	if (rc)
		return rc;
	for (i = 0; i < n_edges && !edge; i++)
		if (!strcasecmp(edges[i].id, job->edge_id))
			edge = &edges[i];
	if (!edge)
		*verdict = TV_IMPORT_UNKNOWN_EDGE;
	else if (strcmp(edge->dek_id, job->dek_id))
		*verdict = TV_IMPORT_WRONG_KEY;
	else
		*verdict = TV_IMPORT_ACCEPTED;
	if (edge)
		memcpy(job->edge_id, edge->id, sizeof(job->edge_id));
	free(edges);
	if (*verdict != TV_IMPORT_ACCEPTED)
		return TV_OK;
	tv_uuid_new(job->id);
	job->created_ms = tv_now_ms();
	job->n_items = (int)n;
	return store->ops->job_create(store, job, items, n, max_queued);
}

/* What one key/certificate pair turns into; owns every buffer it points to. */
struct tv_import_pair {
	struct tv_certinfo leaf;
	const struct tv_certinfo **issuers; /* shared: tv_certinfo_put */
	struct tv_cert_row *issuer_rows;
	size_t n_issuers;
	unsigned char *sealed_key;
	size_t sealed_key_len;
	char reason[TV_REASON_TEXT_MAX];
};

static void S_pair_release(struct tv_import_pair *p)
{
	size_t i;

	tv_certinfo_release(&p->leaf);
	for (i = 0; i < p->n_issuers; i++)
		tv_certinfo_put(p->issuers[i]);
	free(p->issuers);
	free(p->issuer_rows);
	free(p->sealed_key); /* sealed: not secret at rest, but not ours to keep */
	memset(p, 0, sizeof(*p));
}

static void S_reason(char *out, size_t size, enum tv_reason reason, const char *msg)
{
	tv_reason_format(out, size, reason, msg);
}

/*
 * Seal the pair's key to the DEK: the PKCS#8 DER the reader holds (OpenSSL's
 * encoding of the key, see p12.h), not a re-encoding of a decoded key.
 */
static enum tv_err S_seal_key(struct tv_importer *imp, const struct tv_claimed_item *ci,
			      const struct tv_secbuf *p8, struct tv_import_pair *p)
{
	if (!p8)
		return TV_ERR_INVALID;
	p->sealed_key_len = p8->len + TV_SEAL_OVERHEAD;
	p->sealed_key = malloc(p->sealed_key_len);
	if (!p->sealed_key)
		return TV_ERR_NOMEM;
	return tv_keyring_seal(imp->keyring, p->sealed_key, ci->tenant_id, ci->dek_id, p8->p,
			       p8->len);
}

/*
 * The facts of a certificate the reader accepted can still be refused
 * (TV_ERR_INVALID: a NUL inside a name, a dNSName that isn't ASCII, a
 * repeated or malformed extension, a serial over 20 octets). That is the
 * keystore's fault, not the server's: MALFORMED_KEYSTORE, not INTERNAL_ERROR.
 */
static enum tv_err S_facts_refused(struct tv_import_pair *p, enum tv_err rc, const char *which)
{
	char msg[TV_REASON_MSG_SIZE];

	if (rc != TV_ERR_INVALID)
		return rc;
	snprintf(msg, sizeof(msg),
		 "the %s certificate has a field tlsvault can't store (a NUL inside a name, a "
		 "non-ASCII dNSName, a malformed or repeated extension, or a serial over 20 "
		 "octets), or doesn't decode as X.509", which);
	S_reason(p->reason, sizeof(p->reason), TV_REASON_MALFORMED_KEYSTORE, msg);
	return TV_OK;
}

/* Verify the chain of pair pi of c and prepare what to store. */
static enum tv_err S_pair_work(struct tv_importer *imp, const struct tv_claimed_item *ci,
			       const struct tv_trust_store *ts, struct tv_p12_contents *c,
			       size_t pi, struct tv_import_pair *p)
{
	const struct tv_p12_pair *pair = &c->pairs[pi];
	STACK_OF(X509) *chain = NULL;
	char msg[TV_REASON_MSG_SIZE];
	enum tv_reason reason;
	enum tv_err rc;
	int i;

	rc = tv_certinfo_init_leaf(&p->leaf, c, pi);
	if (rc)
		return S_facts_refused(p, rc, "leaf");
	reason = tv_chain_verify_der(ts, pair->cert_der, pair->cert_der_len, pair->decoded_cert,
				     c->chain_candidates, &chain, msg, sizeof(msg));
	if (reason != TV_REASON_OK) {
		S_reason(p->reason, sizeof(p->reason), reason, msg);
		return TV_OK;
	}
	p->n_issuers = (size_t)sk_X509_num(chain);
	p->issuers = calloc(p->n_issuers + 1, sizeof(*p->issuers));
	p->issuer_rows = calloc(p->n_issuers + 1, sizeof(*p->issuer_rows));
	rc = p->issuers && p->issuer_rows ? TV_OK : TV_ERR_NOMEM;
	for (i = 0; !rc && i < (int)p->n_issuers; i++) {
		/* the CAs repeat across items: their facts come from the cache */
		rc = tv_certinfo_cache_get(imp->facts_cache, sk_X509_value(chain, i),
					   &p->issuers[i]);
		if (!rc)
			p->issuer_rows[i] = p->issuers[i]->row;
	}
	if (rc)
		p->n_issuers = (size_t)(i > 0 ? i - 1 : 0);
	sk_X509_pop_free(chain, X509_free);
	if (rc)
		return S_facts_refused(p, rc, "chain");
	if (!ci->dry_run)
		rc = S_seal_key(imp, ci, pair->pkcs8, p);
	return rc;
}

/* Read the item's keystore into contents; reason in *why when it fails. */
static enum tv_reason S_read(struct tv_importer *imp, const struct tv_claimed_item *ci,
			     struct tv_p12_contents **contents, char *msg, size_t msg_size)
{
	const struct tv_import_item *it = &ci->item;
	struct tv_secbuf *pw = NULL, *p8 = NULL;
	enum tv_reason reason = TV_REASON_INTERNAL_ERROR;
	enum tv_err rc;

	if (it->sealed_password) {
		rc = tv_keyring_unseal(imp->keyring, &pw, ci->tenant_id, ci->dek_id,
				       it->sealed_password, it->sealed_password_len);
		if (rc == TV_ERR_CRYPTO || rc == TV_ERR_NOT_FOUND) {
			snprintf(msg, msg_size, "the sealed password does not open with DEK %s",
				 ci->dek_id);
			return TV_REASON_PASSWORD_DECRYPTION_FAILED;
		}
		if (rc == TV_ERR_DENIED) {
			/* the server's fault, said as such: not the client's password */
			snprintf(msg, msg_size, "the server's master key does not unwrap DEK %s "
				 "(the operator must restart it with the vault's current "
				 "master.key)", ci->dek_id);
			return TV_REASON_INTERNAL_ERROR;
		}
		if (rc) {
			snprintf(msg, msg_size, "could not open the sealed password");
			return TV_REASON_INTERNAL_ERROR;
		}
	}
	switch (it->kind) {
	case TV_ITEM_PKCS12:
		reason = tv_p12_read(contents, imp->pki, it->keystore, it->keystore_len,
				     pw ? (const char *)pw->p : NULL, pw ? pw->len : 0,
				     &imp->cfg.limits, msg, msg_size);
		break;
	case TV_ITEM_PKCS8_ENCRYPTED:
		reason = tv_pkcs8_read_encrypted_pem(
			contents, imp->pki, (const char *)it->key, it->key_len,
			pw ? (const char *)pw->p : "", pw ? pw->len : 0, it->keystore,
			it->keystore_len, &imp->cfg.limits, msg, msg_size);
		break;
	case TV_ITEM_PKCS8_SEALED:
		rc = tv_keyring_unseal(imp->keyring, &p8, ci->tenant_id, ci->dek_id, it->key,
				       it->key_len);
		if (rc) {
			snprintf(msg, msg_size, "the sealed private key does not open with DEK %s",
				 ci->dek_id);
			reason = rc == TV_ERR_CRYPTO || rc == TV_ERR_NOT_FOUND
					 ? TV_REASON_PASSWORD_DECRYPTION_FAILED
					 : TV_REASON_INTERNAL_ERROR;
			if (rc == TV_ERR_DENIED)
				snprintf(msg, msg_size, "the server's master key does not unwrap "
					 "DEK %s (the operator must restart it with the vault's "
					 "current master.key)", ci->dek_id);
			break;
		}
		reason = tv_pkcs8_read_der(contents, imp->pki, p8->p, p8->len, it->keystore,
					   it->keystore_len, &imp->cfg.limits, msg, msg_size);
		break;
	case TV_ITEM_REJECTED:
		snprintf(msg, msg_size, "the item fits none of the import forms");
		reason = TV_REASON_INVALID_ITEM;
		break;
	}
	tv_secbuf_free(pw);
	tv_secbuf_free(p8);
	return reason;
}

/* Outcomes for the pairs of a keystore that read. */
static enum tv_err S_pairs(struct tv_importer *imp, const struct tv_claimed_item *ci,
			   struct tv_p12_contents *c, struct tv_import_pair *pairs,
			   struct tv_item_outcome *outs)
{
	struct tv_trust_ref *ref = NULL;
	enum tv_err rc;
	size_t i;

	rc = tv_trust_cache_get(imp->cache, ci->tenant_id, &ref);
	for (i = 0; !rc && i < c->pair_count; i++) {
		struct tv_import_pair *p = &pairs[i];
		struct tv_item_outcome *o = &outs[i];

		rc = S_pair_work(imp, ci, tv_trust_ref_store(ref), c, i, p);
		if (rc)
			break;
		memcpy(o->fingerprint, p->leaf.facts.fingerprint, sizeof(o->fingerprint));
		o->der = p->leaf.der;
		o->der_len = p->leaf.der_len;
		if (p->reason[0]) {
			o->status = "FAILED";
			o->reason = p->reason;
			continue;
		}
		o->status = ci->dry_run ? "VALID" : "IMPORTED";
		o->reason = "";
		o->cert = &p->leaf.row;
		o->sealed_key = p->sealed_key;
		o->sealed_key_len = p->sealed_key_len;
		o->issuers = p->issuer_rows;
		o->n_issuers = p->n_issuers;
	}
	tv_trust_ref_release(ref);
	return rc;
}

enum tv_err tv_import_prepare(struct tv_importer *imp, const struct tv_claimed_item *ci,
			      struct tv_import_done **out)
{
	struct tv_p12_contents *contents = NULL;
	struct tv_import_done *d = calloc(1, sizeof(*d));
	char msg[TV_REASON_MSG_SIZE];
	enum tv_reason reason;
	enum tv_err rc = TV_OK;
	size_t i;

	if (!d)
		return TV_ERR_NOMEM;
	memcpy(d->job_id, ci->job_id, sizeof(d->job_id));
	memcpy(d->tenant_id, ci->tenant_id, sizeof(d->tenant_id));
	d->slot = -1;
	d->fin.job_id = d->job_id;
	d->fin.index = ci->item.index;
	d->fin.outcomes = &d->one;
	d->fin.n = 1;
	if (ci->attempts > TV_IMPORT_MAX_ATTEMPTS) {
		snprintf(msg, sizeof(msg), "the item stopped its workers %d times; giving up",
			 ci->attempts - 1);
		reason = TV_REASON_INTERNAL_ERROR;
	} else {
		reason = S_read(imp, ci, &contents, msg, sizeof(msg));
	}
	if (reason == TV_REASON_OK) {
		size_t n = contents->pair_count;

		d->pairs = calloc(n, sizeof(*d->pairs));
		d->fin.outcomes = calloc(n, sizeof(*d->fin.outcomes));
		d->n_pairs = n;
		d->fin.n = n;
		rc = d->pairs && d->fin.outcomes
			     ? S_pairs(imp, ci, contents, d->pairs, d->fin.outcomes)
			     : TV_ERR_NOMEM;
		if (rc) {
			/* a fault, not a verdict on the keystore: one INTERNAL_ERROR */
			TV_LOG(TV_LOG_ERROR, "import item failed", TV_LS("job", ci->job_id),
			       TV_LI("item", ci->item.index), TV_LS("error", tv_strerror(rc)));
			for (i = 0; d->pairs && i < n; i++)
				S_pair_release(&d->pairs[i]);
			free(d->pairs);
			free(d->fin.outcomes);
			d->pairs = NULL;
			d->n_pairs = 0;
			d->fin.outcomes = &d->one;
			d->fin.n = 1;
			snprintf(msg, sizeof(msg), "the server failed while storing this item");
			reason = TV_REASON_INTERNAL_ERROR;
		}
	}
	tv_p12_contents_free(contents);
	if (reason != TV_REASON_OK) {
		S_reason(d->failure, sizeof(d->failure), reason, msg);
		d->one.status = "FAILED";
		d->one.reason = d->failure;
	}
	*out = d;
	return TV_OK;
}

void tv_import_published(struct tv_importer *imp, const struct tv_import_done *d)
{
	size_t i;

	for (i = 0; i < d->fin.n; i++) {
		const struct tv_item_outcome *o = &d->fin.outcomes[i];

		TV_LOG(TV_LOG_INFO, "import item", TV_LS("job", d->job_id),
		       TV_LI("item", d->fin.index), TV_LI("pair", (int64_t)i),
		       TV_LS("status", o->recorded_status),
		       TV_LS("reason", o->recorded_code[0] ? o->recorded_code : NULL),
		       TV_LS("tenant", d->tenant_id));
		tv_svc_metrics_result(imp->cfg.metrics, o->recorded_status, o->recorded_code);
	}
}

void tv_import_done_free(struct tv_import_done *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n_pairs; i++)
		S_pair_release(&d->pairs[i]);
	free(d->pairs);
	if (d->fin.outcomes != &d->one)
		free(d->fin.outcomes);
	free(d);
}
