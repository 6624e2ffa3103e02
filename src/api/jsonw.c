/*
 * DESIGN: see jsonw.h. The writer grows by doubling from a size hint that
 * fits the usual answer, so a certificate costs one malloc. Strings that are
 * plain ASCII (ids, statuses, dates, reasons, nearly every label) are
 * escaped here with jansson's rules; a string with any byte over 0x7f is
 * handed to jansson itself, which checks the UTF-8 and escapes it, so no
 * second set of UTF-8 rules exists to drift from jansson's.
 */
#include "api/jsonw.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/certificates.h"
#include "core/b64.h"
#include "core/util.h"

static bool S_room(struct tv_jw *w, size_t n)
{
	size_t cap;
	char *p;

	if (w->failed)
		return false;
	if (w->len + n + 1 <= w->cap)
		return true;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			w->failed = true;
			return false;
		}
		cap *= 2;
	}
	p = realloc(w->p, cap);
	if (!p) {
		w->failed = true;
		return false;
	}
	w->p = p;
	w->cap = cap;
	return true;
}

void tv_jw_init(struct tv_jw *w, size_t size_hint)
{
	memset(w, 0, sizeof(*w));
	w->first = true;
	(void)S_room(w, size_hint);
}

void tv_jw_raw(struct tv_jw *w, const char *s, size_t n)
{
	if (!S_room(w, n))
		return;
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void S_char(struct tv_jw *w, char c)
{
	tv_jw_raw(w, &c, 1);
}

void tv_jw_open(struct tv_jw *w, char c)
{
	S_char(w, c);
	w->first = true;
}

void tv_jw_close(struct tv_jw *w, char c)
{
	S_char(w, c);
	w->first = false;
}

void tv_jw_key(struct tv_jw *w, const char *key)
{
	size_t n = strlen(key);

	if (!S_room(w, n + 4))
		return;
	if (!w->first)
		w->p[w->len++] = ',';
	w->p[w->len++] = '"';
	memcpy(w->p + w->len, key, n);
	w->len += n;
	w->p[w->len++] = '"';
	w->p[w->len++] = ':';
	w->p[w->len] = '\0';
	w->first = true; /* the value that follows takes no comma */
}

/* A value was written: the next member or element needs a comma. */
static void S_done(struct tv_jw *w)
{
	w->first = false;
}

/* Not plain ASCII: jansson checks the UTF-8 and escapes (NULL if invalid). */
static void S_str_jansson(struct tv_jw *w, const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	char *t = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(j);
	if (!t) {
		w->failed = true;
		return;
	}
	tv_jw_raw(w, t, strlen(t));
	free(t);
}

void tv_jw_strn(struct tv_jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, run = 0;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || !s[i]) {
			/* a NUL inside: json_stringn takes it, json_string would not;
			 * both are jansson's call */
			S_str_jansson(w, s, n);
			S_done(w);
			return;
		}
	if (!S_room(w, n + 2))
		return;
	w->p[w->len++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t k = 0;

		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		tv_jw_raw(w, s + i - run, run);
		run = 0;
		esc[k++] = '\\';
		switch (c) {
		case '"': esc[k++] = '"'; break;
		case '\\': esc[k++] = '\\'; break;
		case '\b': esc[k++] = 'b'; break;
		case '\f': esc[k++] = 'f'; break;
		case '\n': esc[k++] = 'n'; break;
		case '\r': esc[k++] = 'r'; break;
		case '\t': esc[k++] = 't'; break;
		default:
			esc[k++] = 'u';
			esc[k++] = '0';
			esc[k++] = '0';
			esc[k++] = hex[c >> 4];
			esc[k++] = hex[c & 15];
			break;
		}
		tv_jw_raw(w, esc, k);
	}
	tv_jw_raw(w, s + n - run, run);
	S_char(w, '"');
	S_done(w);
}

void tv_jw_str(struct tv_jw *w, const char *s)
{
	tv_jw_strn(w, s, strlen(s));
}

void tv_jw_kstr(struct tv_jw *w, const char *key, const char *value)
{
	tv_jw_key(w, key);
	tv_jw_str(w, value);
}

void tv_jw_kint(struct tv_jw *w, const char *key, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	tv_jw_key(w, key);
	if (n > 0 && (size_t)n < sizeof(num))
		tv_jw_raw(w, num, (size_t)n);
	else
		w->failed = true;
	S_done(w);
}

void tv_jw_kbool(struct tv_jw *w, const char *key, bool v)
{
	tv_jw_key(w, key);
	if (v)
		tv_jw_raw(w, "true", 4);
	else
		tv_jw_raw(w, "false", 5);
	S_done(w);
}

void tv_jw_kdate(struct tv_jw *w, const char *key, int64_t ms)
{
	char s[TV_ISO_TIME_STRLEN + 1];

	tv_jw_key(w, key);
	if (!ms) {
		tv_jw_raw(w, "null", 4);
		S_done(w);
		return;
	}
	tv_iso_time(s, ms);
	tv_jw_str(w, s);
}

void tv_jw_kb64(struct tv_jw *w, const char *key, const unsigned char *bin, size_t n)
{
	size_t elen = TV_B64_ENCODED_LEN(n);

	tv_jw_key(w, key);
	if (!S_room(w, elen + 2))
		return;
	w->p[w->len++] = '"';
	tv_b64_encode_to(w->p + w->len, bin, n, false); /* writes a NUL after */
	w->len += elen;
	w->p[w->len++] = '"';
	w->p[w->len] = '\0';
	S_done(w);
}

char *tv_jw_finish(struct tv_jw *w, size_t *len)
{
	char *p = w->p;

	if (w->failed || !p) {
		free(p);
		memset(w, 0, sizeof(*w));
		return NULL;
	}
	*len = w->len;
	memset(w, 0, sizeof(*w));
	return p;
}

/* ---------- the Certificate object ---------- */

/* The members tv_api_cert_json adds to the facts, in its order. */
static const char *const S_live[] = { "id",
				      "companyId",
				      "certificateStatus",
				      "dekHash",
				      "issuerCertificateIds",
				      "creationDate",
				      "modificationDate",
				      "importJobId",
				      "label",
				      NULL };

/*
 * True when the text names a live member anywhere ("name": at any depth,
 * or inside a string: a false alarm only sends the record to jansson). A
 * stored document naming one would have it replaced in place by jansson,
 * and splicing would write it twice.
 */
static bool S_names_live(const char *s, size_t n)
{
	const char *end = s + n, *q = s;
	size_t i;

	while ((q = memchr(q, '"', (size_t)(end - q))) != NULL) {
		q++;
		for (i = 0; S_live[i]; i++) {
			size_t k = strlen(S_live[i]);

			if ((size_t)(end - q) > k + 1 && !memcmp(q, S_live[i], k) && q[k] == '"' &&
			    q[k + 1] == ':')
				return true;
		}
	}
	return false;
}

/*
 * The stored issuer ids exactly as jansson's compact dump writes a list of
 * ids: [] or ["id","id",...] with ids of hex digits and dashes.
 */
static bool S_plain_id_list(const char *s, size_t n)
{
	size_t i = 1;

	if (n < 2 || s[0] != '[' || s[n - 1] != ']')
		return false;
	if (n == 2)
		return true;
	for (;;) {
		if (s[i++] != '"')
			return false;
		while (i < n && s[i] != '"') {
			char c = s[i++];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == '-'))
				return false;
		}
		if (i >= n - 1)
			return false; /* no closing quote before the ']' */
		i++;
		if (i == n - 1)
			return true;
		if (s[i++] != ',')
			return false;
	}
}

/* The old way: the tree, dumped. */
static char *S_cert_text_jansson(const struct tv_cert_record *c, size_t *len)
{
	json_t *o = tv_api_cert_json(c);
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (t)
		*len = strlen(t);
	return t;
}

char *tv_api_cert_text(const struct tv_cert_record *c, size_t *len)
{
	const char *facts = c->facts_json ? c->facts_json : "";
	const char *issuers = c->issuer_ids_json ? c->issuer_ids_json : "";
	size_t fl = strlen(facts), il = strlen(issuers);
	struct tv_jw w;
	char *t;

	if (fl < 2 || facts[0] != '{' || facts[fl - 1] != '}' || S_names_live(facts, fl) ||
	    !S_plain_id_list(issuers, il))
		return S_cert_text_jansson(c, len);
	tv_jw_init(&w, fl + il + 512 + 2 * strlen(c->label));
	tv_jw_open(&w, '{');
	if (fl > 2) {
		tv_jw_raw(&w, facts + 1, fl - 2);
		w.first = false;
	}
	tv_jw_kstr(&w, "id", c->id);
	tv_jw_kstr(&w, "companyId", c->tenant_id);
	tv_jw_kstr(&w, "certificateStatus", c->status);
	if (c->dek_id[0])
		tv_jw_kstr(&w, "dekHash", c->dek_id);
	tv_jw_key(&w, "issuerCertificateIds");
	tv_jw_raw(&w, issuers, il);
	w.first = false;
	tv_jw_kdate(&w, "creationDate", c->created_ms);
	tv_jw_kdate(&w, "modificationDate", c->modified_ms);
	if (c->import_job_id[0])
		tv_jw_kstr(&w, "importJobId", c->import_job_id);
	if (c->label[0])
		tv_jw_kstr(&w, "label", c->label);
	tv_jw_close(&w, '}');
	if (w.failed) {
		/* a string jansson refuses: its tree leaves that member out */
		free(tv_jw_finish(&w, len));
		return S_cert_text_jansson(c, len);
	}
	t = tv_jw_finish(&w, len);
	return t;
}

/* ---------- an import job ---------- */

char *tv_api_job_text(const struct tv_import_job *job, const struct tv_import_result *results,
		      size_t n, size_t *len)
{
	struct tv_jw w;
	size_t i, hint = 256;

	for (i = 0; i < n; i++)
		hint += 256 + TV_B64_ENCODED_LEN(results[i].der_len) +
			(results[i].reason ? strlen(results[i].reason) : 0) +
			2 * strlen(results[i].label);
	tv_jw_init(&w, hint);
	tv_jw_open(&w, '{');
	tv_jw_kstr(&w, "id", job->id);
	tv_jw_kstr(&w, "status", job->status);
	tv_jw_kdate(&w, "creationDate", job->created_ms);
	tv_jw_kdate(&w, "completionDate", job->completed_ms);
	tv_jw_kbool(&w, "dryRun", job->dry_run);
	tv_jw_kint(&w, "itemCount", job->n_items);
	tv_jw_key(&w, "results");
	tv_jw_open(&w, '[');
	for (i = 0; i < n; i++) {
		const struct tv_import_result *r = &results[i];

		if (i)
			tv_jw_raw(&w, ",", 1);
		tv_jw_open(&w, '{');
		if (r->der)
			tv_jw_kb64(&w, "certificateBytes", r->der, r->der_len);
		else
			tv_jw_kstr(&w, "certificateBytes", "");
		tv_jw_kstr(&w, "fingerprint", r->fingerprint);
		tv_jw_kstr(&w, "status", r->status);
		tv_jw_kstr(&w, "reason", r->reason ? r->reason : "");
		tv_jw_kint(&w, "itemIndex", r->item_index);
		if (r->certificate_id[0])
			tv_jw_kstr(&w, "certificateId", r->certificate_id);
		if (r->label[0])
			tv_jw_kstr(&w, "label", r->label);
		tv_jw_close(&w, '}');
	}
	tv_jw_close(&w, ']');
	tv_jw_close(&w, '}');
	return tv_jw_finish(&w, len);
}
