/*
 * nodes_load - the load generator of bench/bench-nodes.sh (import
 * throughput with one or several tlsvaultd nodes).
 *
 *   nodes_load gen DIR N PASSWORD
 *       make DIR/ca.pem and N keystores DIR/NNNNN.p12: a new P-256 key and a
 *       certificate issued by the CA each, under PASSWORD, with OpenSSL 3's
 *       defaults (AES-256-CBC, PBKDF2-HMAC-SHA-256, 2048 iterations), as a
 *       PKI team's files would be. Kept between runs.
 *   nodes_load ceiling DIR PASSWORD
 *       the client-side floor: how fast one thread of this machine opens
 *       the keystores with OpenSSL's PKCS12_parse (MAC, decryption, key and
 *       certificate). No server does less work per item than this.
 *   nodes_load run API_KEY EDGE_ID KEY_ID DIR PASSWORD URL [URL...]
 *       seal the password to the tenant's DEK, post the keystores as jobs of
 *       100 items to the URLs in turn (a load balancer's round robin), wait
 *       for every job with the API's long-poll, and print one JSON line:
 *       items, seconds, items per second, and the results by status.
 *
 * A benchmark helper, not a test: nothing here asserts on time.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/b64.h"
#include "core/util.h"

#define S_BATCH 100
#define S_MAX_FILES 100000

struct S_buf {
	char *p;
	size_t len;
};

static size_t S_write(char *ptr, size_t size, size_t n, void *arg)
{
	struct S_buf *b = arg;
	char *p = realloc(b->p, b->len + size * n + 1);

	if (!p)
		return 0;
	b->p = p;
	memcpy(b->p + b->len, ptr, size * n);
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* One request; the parsed JSON reply (NULL on failure), *status the HTTP code. */
static json_t *S_http(const char *method, const char *url, const char *key, const char *body,
		      long *status)
{
	struct curl_slist *h = NULL;
	struct S_buf b = { NULL, 0 };
	char auth[128];
	CURL *c = curl_easy_init();
	json_t *j = NULL;

	*status = 0;
	if (!c)
		return NULL;
	snprintf(auth, sizeof(auth), "tppl-api-key: %s", key);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, S_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		j = b.p ? json_loads(b.p, 0, NULL) : NULL;
	}
	free(b.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return j;
}

static double S_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char *S_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return p;
}

static int S_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .p12 files of dir, sorted; their count in *n. */
static char **S_list(const char *dir, size_t *n)
{
	char **names = calloc(S_MAX_FILES, sizeof(*names));
	struct dirent *e;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d || !names) {
		if (d)
			closedir(d);
		free(names);
		return NULL;
	}
	while ((e = readdir(d)) && *n < S_MAX_FILES) {
		size_t l = strlen(e->d_name);
		char path[4096];

		if (l > 4 && !strcmp(e->d_name + l - 4, ".p12")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			names[(*n)++] = strdup(path);
		}
	}
	closedir(d);
	qsort(names, *n, sizeof(*names), S_cmp_str);
	return names;
}

/* ---------- gen ---------- */

static void S_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	if (e) {
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
}

static X509 *S_cert(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint64_t serial;
	char san[300];

	randombytes_buf(&serial, sizeof(serial));
	X509_set_version(x, 2);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), (serial >> 1) | 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 397L * 86400);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : name);
	X509_NAME_free(name);
	X509_set_pubkey(x, key);
	S_ext(x, ca ? ca : x, NID_subject_key_identifier, "hash");
	S_ext(x, ca ? ca : x, NID_authority_key_identifier, "keyid:always");
	if (!ca) {
		S_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		S_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		snprintf(san, sizeof(san), "DNS:%s", cn);
		S_ext(x, ca, NID_basic_constraints, "CA:FALSE");
		S_ext(x, ca, NID_subject_alt_name, san);
	}
	X509_sign(x, ca_key ? ca_key : key, EVP_sha256());
	return x;
}

static int S_gen(const char *dir, long n, const char *pw)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256");
	X509 *ca = S_cert(ca_key, "Bench Nodes CA", NULL, NULL);
	char path[4096];
	FILE *f;
	long i;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	f = fopen(path, "w");
	if (!f || !PEM_write_X509(f, ca)) {
		fprintf(stderr, "nodes_load: cannot write %s\n", path);
		return 1;
	}
	fclose(f);
	for (i = 0; i < n; i++) {
		EVP_PKEY *key = EVP_EC_gen("P-256");
		char cn[64];
		X509 *x;
		PKCS12 *p12;

		snprintf(cn, sizeof(cn), "host%05ld.bench.test", i);
		x = S_cert(key, cn, ca, ca_key);
		p12 = PKCS12_create(pw, cn, key, x, NULL, 0, 0, 0, 0, 0);
		snprintf(path, sizeof(path), "%s/%05ld.p12", dir, i);
		f = fopen(path, "wb");
		if (!p12 || !f || !i2d_PKCS12_fp(f, p12)) {
			fprintf(stderr, "nodes_load: cannot write %s\n", path);
			return 1;
		}
		fclose(f);
		PKCS12_free(p12);
		X509_free(x);
		EVP_PKEY_free(key);
	}
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return 0;
}

/* ---------- ceiling ---------- */

static int S_ceiling(const char *dir, const char *pw)
{
	size_t n = 0, i, ok = 0;
	char **files = S_list(dir, &n);
	double t0;

	if (!files || !n)
		return 1;
	t0 = S_now();
	for (i = 0; i < n; i++) {
		size_t len = 0;
		unsigned char *der = S_read(files[i], &len);
		const unsigned char *p = der;
		PKCS12 *p12 = der ? d2i_PKCS12(NULL, &p, (long)len) : NULL;
		EVP_PKEY *key = NULL;
		X509 *x = NULL;

		if (p12 && PKCS12_parse(p12, pw, &key, &x, NULL) == 1 && X509_check_private_key(x, key))
			ok++;
		EVP_PKEY_free(key);
		X509_free(x);
		PKCS12_free(p12);
		free(der);
		free(files[i]);
	}
	free(files);
	printf("{\"items\":%zu,\"ok\":%zu,\"seconds\":%.3f,\"items_per_second\":%.1f}\n", n, ok,
	       S_now() - t0, (double)n / (S_now() - t0));
	return ok == n ? 0 : 1;
}

/* ---------- run ---------- */

struct S_run {
	const char *key, *edge, *dek, *pw;
	unsigned char pk[32];
	const char *const *urls;
	size_t n_urls;
};

static int S_fetch_pk(struct S_run *r)
{
	char url[1024];
	size_t n = 0;
	long status;
	json_t *j, *k;
	int rc = 1;

	snprintf(url, sizeof(url), "%s/v1/edgeencryptionkeys", r->urls[0]);
	j = S_http("GET", url, r->key, NULL, &status);
	k = json_array_get(json_object_get(j, "encryptionKeys"), 0);
	if (status == 200 && json_string_value(json_object_get(k, "key")) &&
	    tv_b64_decode_to(r->pk, 32, &n, json_string_value(json_object_get(k, "key")),
			     strlen(json_string_value(json_object_get(k, "key")))) == TV_OK &&
	    n == 32)
		rc = 0;
	json_decref(j);
	return rc;
}

/* Post files [from, to) as one job to url; the job id (malloc'd) or NULL. */
static char *S_post(const struct S_run *r, const char *url, char **files, size_t from, size_t to)
{
	json_t *items = json_array(), *body, *reply;
	unsigned char sealed[256];
	char path[1024], *text, *id = NULL, *b64 = NULL;
	size_t i, pwlen = strlen(r->pw);
	long status;

	for (i = from; i < to; i++) {
		size_t len = 0;
		unsigned char *der = S_read(files[i], &len);
		char *ks = NULL;

		if (!der || tv_b64_encode(&ks, der, len, false) != TV_OK ||
		    crypto_box_seal(sealed, (const unsigned char *)r->pw, pwlen, r->pk) != 0 ||
		    tv_b64_encode(&b64, sealed, pwlen + crypto_box_SEALBYTES, false) != TV_OK) {
			free(der);
			free(ks);
			json_decref(items);
			return NULL;
		}
		json_array_append_new(items, json_pack("{s:s,s:s}", "pkcs12Keystore", ks,
						       "dekEncryptedPassword", b64));
		free(der);
		free(ks);
		free(b64);
		b64 = NULL;
	}
	body = json_pack("{s:s,s:s,s:o}", "edgeInstanceId", r->edge, "encryptionKeyId", r->dek,
			 "importInformation", items);
	text = json_dumps(body, JSON_COMPACT);
	snprintf(path, sizeof(path), "%s/outagedetection/v1/certificates/imports", url);
	reply = S_http("POST", path, r->key, text, &status);
	if (status == 201 && json_string_value(json_object_get(reply, "id")))
		id = strdup(json_string_value(json_object_get(reply, "id")));
	else
		fprintf(stderr, "nodes_load: POST to %s: HTTP %ld\n", url, status);
	json_decref(reply);
	json_decref(body);
	free(text);
	return id;
}

/* Long-poll a job until it is final; add its results to counts. */
static int S_wait(const struct S_run *r, const char *url, const char *id, json_t *counts)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/outagedetection/v1/certificates/imports/%s?waitSeconds=30",
		 url, id);
	for (;;) {
		long status;
		json_t *j = S_http("GET", path, r->key, NULL, &status), *res;
		const char *st = json_string_value(json_object_get(j, "status"));
		size_t i;

		if (status != 200 || !st) {
			json_decref(j);
			return 1;
		}
		if (strcmp(st, "COMPLETED") && strcmp(st, "FAILED")) {
			json_decref(j);
			continue;
		}
		json_array_foreach(json_object_get(j, "results"), i, res) {
			const char *s = json_string_value(json_object_get(res, "status"));
			json_int_t c = json_integer_value(json_object_get(counts, s ? s : "?"));

			json_object_set_new(counts, s ? s : "?", json_integer(c + 1));
		}
		json_decref(j);
		return 0;
	}
}

static int S_load(struct S_run *r, const char *dir)
{
	size_t n = 0, i, n_jobs;
	char **files = S_list(dir, &n), **ids;
	json_t *counts = json_object();
	double t0, secs;
	int rc = 0;

	if (!files || !n || S_fetch_pk(r)) {
		fprintf(stderr, "nodes_load: no keystores in %s, or no DEK key from the server\n", dir);
		return 1;
	}
	n_jobs = (n + S_BATCH - 1) / S_BATCH;
	ids = calloc(n_jobs, sizeof(*ids));
	t0 = S_now();
	for (i = 0; ids && i < n_jobs; i++) {
		ids[i] = S_post(r, r->urls[i % r->n_urls], files, i * S_BATCH,
				(i + 1) * S_BATCH < n ? (i + 1) * S_BATCH : n);
		rc |= !ids[i];
	}
	for (i = 0; ids && !rc && i < n_jobs; i++)
		rc |= S_wait(r, r->urls[i % r->n_urls], ids[i], counts);
	secs = S_now() - t0;
	if (!rc) {
		char *c = json_dumps(counts, JSON_COMPACT | JSON_SORT_KEYS);

		printf("{\"nodes\":%zu,\"items\":%zu,\"seconds\":%.3f,\"items_per_second\":%.1f,"
		       "\"results\":%s}\n", r->n_urls, n, secs, (double)n / secs, c);
		free(c);
	}
	for (i = 0; ids && i < n_jobs; i++)
		free(ids[i]);
	for (i = 0; i < n; i++)
		free(files[i]);
	free(ids);
	free(files);
	json_decref(counts);
	return rc;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	if (argc == 5 && !strcmp(argv[1], "gen"))
		return S_gen(argv[2], atol(argv[3]), argv[4]);
	if (argc == 4 && !strcmp(argv[1], "ceiling"))
		return S_ceiling(argv[2], argv[3]);
	if (argc >= 8 && !strcmp(argv[1], "run")) {
		struct S_run r = { .key = argv[2], .edge = argv[3], .dek = argv[4], .pw = argv[6],
				   .urls = (const char *const *)argv + 7,
				   .n_urls = (size_t)argc - 7 };
		int rc;

		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = S_load(&r, argv[5]);
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "usage: nodes_load gen DIR N PASSWORD\n"
			"       nodes_load ceiling DIR PASSWORD\n"
			"       nodes_load run API_KEY EDGE_ID KEY_ID DIR PASSWORD URL [URL...]\n");
	return 2;
}
