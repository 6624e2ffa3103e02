/*
 * DESIGN: an operator migrates thousands of files, so the engine is shaped
 * around the server's batch contract: items go in batches of at most 100
 * (the API's cap), several batches are in flight at once, and each worker
 * waits for its job with the waitSeconds long-poll instead of sleeping.
 * Every item is built (read, base64, sealed) before the first request, so a
 * typo in a path shows up before anything is sent and the workers only do
 * HTTP. Results are mapped back to files through itemIndex; a keystore that
 * holds two keys keeps both results.
 *
 * Secrets: the password is only ever used as an argument to tv_seal; a
 * plain PKCS#8 key is read into sodium memory, sealed and wiped.
 */
#include "cli/importer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/secret.h"
#include "core/b64.h"
#include "core/wipeheap.h"

void tv_imp_init(struct tv_cli_import *imp, struct tv_client *client)
{
	memset(imp, 0, sizeof(*imp));
	imp->client = client;
	imp->parallel = 4;
	imp->wait_seconds = 30;
	pthread_mutex_init(&imp->lock, NULL);
}

static void S_describe(const struct tv_client_resp *r, enum tv_err rc, char *err, size_t len)
{
	if (rc == TV_ERR_IO)
		snprintf(err, len, "error: %s", r->error);
	else if (rc)
		snprintf(err, len, "error: %s", tv_strerror(rc));
	else
		tv_client_describe(r, err, len);
}

enum tv_err tv_imp_fetch_dek(struct tv_cli_import *imp, char *err, size_t errlen)
{
	struct tv_client_resp r = { 0 };
	json_t *edges, *edge, *chosen = NULL;
	const char *id, *kid, *key;
	char path[256];
	size_t i, klen = 0;
	enum tv_err rc;

	rc = tv_client_call(imp->client, &r, "GET", "/v1/edgeinstances", NULL);
	if (rc || r.status != 200)
		goto fail;
	edges = json_object_get(r.json, "edgeInstances");
	json_array_foreach(edges, i, edge) {
		const char *st = json_string_value(json_object_get(edge, "edgeStatus"));

		if (!chosen || (st && !strcmp(st, "ACTIVE")))
			chosen = edge;
		if (st && !strcmp(st, "ACTIVE"))
			break;
	}
	id = json_string_value(json_object_get(chosen, "id"));
	kid = json_string_value(json_object_get(chosen, "encryptionKeyId"));
	if (!id || !kid || strlen(id) >= sizeof(imp->edge_id) ||
	    strlen(kid) >= sizeof(imp->key_id)) {
		snprintf(err, errlen, "error: the server has no edge instance with a key");
		rc = TV_ERR_NOT_FOUND;
		goto out;
	}
	snprintf(imp->edge_id, sizeof(imp->edge_id), "%s", id);
	snprintf(imp->key_id, sizeof(imp->key_id), "%s", kid);
	tv_client_resp_release(&r);
	/* key ids are base64url, so they are safe in a path as they are */
	snprintf(path, sizeof(path), "/v1/edgeencryptionkeys/%s", imp->key_id);
	rc = tv_client_call(imp->client, &r, "GET", path, NULL);
	if (rc || r.status != 200)
		goto fail;
	key = json_string_value(json_object_get(r.json, "key"));
	if (!key || tv_b64_decode_to(imp->pk, sizeof(imp->pk), &klen, key, strlen(key)) ||
	    klen != sizeof(imp->pk)) {
		snprintf(err, errlen, "error: the server sent a malformed DEK public key");
		rc = TV_ERR_INVALID;
		goto out;
	}
	goto out;
fail:
	S_describe(&r, rc, err, errlen);
	rc = rc ? rc : TV_ERR_IO;
out:
	tv_client_resp_release(&r);
	return rc;
}

static bool S_is_keystore(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (!strcasecmp(dot, ".p12") || !strcasecmp(dot, ".pfx"));
}

static int S_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum tv_err S_push(char ***paths, size_t *n, const char *p)
{
	char **grown = realloc(*paths, (*n + 1) * sizeof(*grown));

	if (!grown)
		return TV_ERR_NOMEM;
	*paths = grown;
	if (!(grown[*n] = strdup(p)))
		return TV_ERR_NOMEM;
	(*n)++;
	return TV_OK;
}

enum tv_err tv_imp_collect(char ***paths, size_t *n, const char *path, char *err,
			   size_t errlen)
{
	char **names = NULL, *child = NULL;
	size_t nn = 0, i, clen;
	enum tv_err rc = TV_OK;
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "error: cannot read '%s': %s", path, strerror(errno));
		return TV_ERR_IO;
	}
	if (!S_ISDIR(st.st_mode))
		return S_push(paths, n, path);
	d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "error: cannot open directory '%s': %s", path,
			 strerror(errno));
		return TV_ERR_IO;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		rc = S_push(&names, &nn, de->d_name);
		if (rc)
			goto out;
	}
	qsort(names, nn, sizeof(*names), S_cmp);
	for (i = 0; i < nn; i++) {
		clen = strlen(path) + strlen(names[i]) + 2;
		child = malloc(clen);
		if (!child) {
			rc = TV_ERR_NOMEM;
			goto out;
		}
		snprintf(child, clen, "%s%s%s", path,
			 path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
		if (stat(child, &st) == 0 && S_ISDIR(st.st_mode))
			rc = tv_imp_collect(paths, n, child, err, errlen);
		else if (S_is_keystore(names[i]))
			rc = S_push(paths, n, child);
		free(child);
		child = NULL;
		if (rc)
			goto out;
	}
out:
	for (i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (d)
		closedir(d);
	return rc;
}

/* Read a whole file of at most max bytes into a new secbuf. */
static enum tv_err S_read(struct tv_secbuf **out, const char *path, size_t max)
{
	struct tv_secbuf *b = NULL;
	enum tv_err rc = TV_ERR_IO;
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return TV_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	if ((size_t)st.st_size > max) {
		rc = TV_ERR_TOO_LARGE;
		goto out;
	}
	rc = tv_secbuf_new(&b, (size_t)st.st_size);
	if (rc)
		goto out;
	while (got < b->len && (r = read(fd, b->p + got, b->len - got)) > 0)
		got += (size_t)r;
	if (got != b->len) {
		rc = TV_ERR_IO;
		goto out;
	}
	*out = b;
	b = NULL;
out:
	tv_secbuf_free(b);
	close(fd);
	return rc;
}

static struct tv_imp_file *S_new_file(struct tv_cli_import *imp, const char *path)
{
	struct tv_imp_file *grown = realloc(imp->files, (imp->n + 1) * sizeof(*grown));

	if (!grown)
		return NULL;
	imp->files = grown;
	memset(&grown[imp->n], 0, sizeof(*grown));
	if (!(grown[imp->n].path = strdup(path)))
		return NULL;
	grown[imp->n].results = json_array();
	return &grown[imp->n++];
}

/*
 * Set item[key] to a copy of value_owned, then wipe and free it: the value
 * may be a keystore whose password is empty, which is then as good as the
 * key itself.
 */
static enum tv_err S_set(json_t *item, const char *key, char *value_owned)
{
	int bad = json_object_set_new(item, key, json_string(value_owned));

	tv_wipeheap_free(value_owned);
	return bad ? TV_ERR_NOMEM : TV_OK;
}

static enum tv_err S_label(struct tv_cli_import *imp, json_t *item, const char *path)
{
	const char *base = strrchr(path, '/');
	char *label, *dot;

	if (!imp->labels_from_filenames)
		return TV_OK;
	label = strdup(base ? base + 1 : path);
	if (!label)
		return TV_ERR_NOMEM;
	dot = strrchr(label, '.');
	if (dot && dot != label)
		*dot = '\0';
	return S_set(item, "label", label);
}

static enum tv_err S_add_password(struct tv_cli_import *imp, json_t *item,
				  const struct tv_secbuf *password)
{
	char *sealed = NULL;
	enum tv_err rc;

	if (!password)
		return TV_OK;
	rc = tv_cli_seal_b64(&sealed, password->p, password->len, imp->pk);
	if (rc)
		return rc;
	return S_set(item, "dekEncryptedPassword", sealed);
}

enum tv_err tv_imp_add_p12(struct tv_cli_import *imp, const char *path,
			   const struct tv_secbuf *password)
{
	struct tv_imp_file *f = S_new_file(imp, path);
	struct tv_secbuf *data = NULL;
	char *b64 = NULL;
	enum tv_err rc;
	json_t *item = NULL;

	if (!f)
		return TV_ERR_NOMEM;
	rc = S_read(&data, path, TV_IMP_MAX_KEYSTORE);
	if (rc == TV_ERR_TOO_LARGE || rc == TV_ERR_IO) {
		snprintf(f->local_error, sizeof(f->local_error), "%s: %s",
			 rc == TV_ERR_IO ? "UNREADABLE" : "KEYSTORE_TOO_LARGE",
			 rc == TV_ERR_IO ? "cannot read the file" : "file over 4 MiB");
		return TV_OK;
	}
	if (rc)
		return rc;
	item = json_object();
	rc = item ? tv_b64_encode(&b64, data->p, data->len, false) : TV_ERR_NOMEM;
	if (!rc)
		rc = S_set(item, "pkcs12Keystore", b64);
	if (!rc)
		rc = S_add_password(imp, item, password);
	if (!rc)
		rc = S_label(imp, item, path);
	if (!rc) {
		f->item = item;
		item = NULL;
	}
	json_decref(item);
	tv_secbuf_free(data);
	return rc;
}

/* The body between "-----BEGIN <what>-----" and "-----END", or NULL. */
static const char *S_pem_body(const struct tv_secbuf *pem, const char *what, size_t *len)
{
	char begin[64], end[64];
	const char *p, *q;

	snprintf(begin, sizeof(begin), "-----BEGIN %s-----", what);
	snprintf(end, sizeof(end), "-----END %s-----", what);
	p = strstr((const char *)pem->p, begin);
	if (!p)
		return NULL;
	p += strlen(begin);
	q = strstr(p, end);
	if (!q)
		return NULL;
	*len = (size_t)(q - p);
	return p;
}

static enum tv_err S_pem_item(struct tv_cli_import *imp, struct tv_imp_file *f, json_t *item,
			      const char *key_path, const struct tv_secbuf *password)
{
	struct tv_secbuf *key = NULL, *der = NULL;
	const char *body;
	char *sealed = NULL, *text;
	size_t blen = 0, dlen = 0;
	enum tv_err rc;

	rc = S_read(&key, key_path, 1 << 20);
	if (rc == TV_ERR_IO || rc == TV_ERR_TOO_LARGE) {
		snprintf(f->local_error, sizeof(f->local_error),
			 "UNREADABLE: cannot read the key file");
		rc = TV_OK;
		goto out;
	}
	if (rc)
		goto out;
	if ((body = S_pem_body(key, "PRIVATE KEY", &blen))) {
		rc = tv_secbuf_new(&der, TV_B64_DECODED_MAX(blen));
		if (!rc && tv_b64_decode_to(der->p, der->len, &dlen, body, blen)) {
			snprintf(f->local_error, sizeof(f->local_error),
				 "MALFORMED_KEYSTORE: the key PEM is not base64");
			goto out;
		}
		if (!rc)
			rc = tv_cli_seal_b64(&sealed, der->p, dlen, imp->pk);
		if (!rc)
			rc = S_set(item, "dekEncryptedPrivateKey", sealed);
	} else if (S_pem_body(key, "ENCRYPTED PRIVATE KEY", &blen)) {
		/* already encrypted: the PEM text may travel as it is */
		text = strdup((const char *)key->p);
		rc = text ? S_set(item, "passwordEncryptedPrivateKey", text) : TV_ERR_NOMEM;
		if (!rc)
			rc = S_add_password(imp, item, password);
	} else {
		snprintf(f->local_error, sizeof(f->local_error),
			 "UNSUPPORTED_KEY_FORMAT: need a PKCS#8 PEM key "
			 "(openssl pkcs8 -topk8 converts one)");
	}
out:
	tv_secbuf_free(key);
	tv_secbuf_free(der);
	return rc;
}

enum tv_err tv_imp_add_pem(struct tv_cli_import *imp, const char *cert_path,
			   const char *key_path, const struct tv_secbuf *password)
{
	struct tv_imp_file *f = S_new_file(imp, cert_path);
	struct tv_secbuf *cert = NULL;
	enum tv_err rc;
	json_t *item = json_object();
	char *text;

	if (!f || !item) {
		json_decref(item);
		return TV_ERR_NOMEM;
	}
	rc = S_read(&cert, cert_path, 1 << 20);
	if (rc == TV_ERR_IO || rc == TV_ERR_TOO_LARGE) {
		snprintf(f->local_error, sizeof(f->local_error),
			 "UNREADABLE: cannot read the certificate file");
		rc = TV_OK;
		goto out;
	}
	if (rc)
		goto out;
	text = strdup((const char *)cert->p);
	rc = text ? S_set(item, "certificate", text) : TV_ERR_NOMEM;
	if (!rc)
		rc = S_pem_item(imp, f, item, key_path, password);
	if (!rc)
		rc = S_label(imp, item, cert_path);
	if (!rc && !f->local_error[0]) {
		f->item = item;
		item = NULL;
	}
out:
	json_decref(item);
	tv_secbuf_free(cert);
	return rc;
}

bool tv_imp_file_failed(const struct tv_imp_file *f)
{
	size_t i;
	json_t *r;

	if (f->local_error[0] || f->batch_error[0] || json_array_size(f->results) == 0)
		return true;
	json_array_foreach(f->results, i, r) {
		const char *st = json_string_value(json_object_get(r, "status"));

		if (!st || !strcmp(st, "FAILED") || !strcmp(st, "PROCESSING"))
			return true;
	}
	return false;
}

void tv_imp_release(struct tv_cli_import *imp)
{
	size_t i;

	for (i = 0; i < imp->n; i++) {
		free(imp->files[i].path);
		json_decref(imp->files[i].item);
		json_decref(imp->files[i].results);
	}
	free(imp->files);
	tv_wipe(imp->pk, sizeof(imp->pk));
	pthread_mutex_destroy(&imp->lock);
	imp->files = NULL;
	imp->n = 0;
}

/* ---- running the batches ---- */

struct S_batch {
	size_t *idx;  /* the files sent, in item order */
	size_t n;
};

struct S_run {
	struct tv_cli_import *imp;
	struct S_batch *batches;
	size_t nb;
	bool failed;
};

static void S_batch_fail(struct S_run *run, const struct S_batch *b, const char *why)
{
	size_t i;

	pthread_mutex_lock(&run->imp->lock);
	for (i = 0; i < b->n; i++)
		snprintf(run->imp->files[b->idx[i]].batch_error,
			 sizeof(run->imp->files[b->idx[i]].batch_error), "%s", why);
	run->failed = true;
	pthread_mutex_unlock(&run->imp->lock);
}

/* Count the items of a job whose results are all final; report the gain. */
static void S_progress(struct S_run *run, json_t *results, size_t n, size_t *reported)
{
	bool seen[TV_IMP_BATCH_MAX] = { false }, open[TV_IMP_BATCH_MAX] = { false };
	size_t i, finals = 0;
	json_t *r;

	json_array_foreach(results, i, r) {
		json_int_t k = json_integer_value(json_object_get(r, "itemIndex"));
		const char *st = json_string_value(json_object_get(r, "status"));

		if (k < 0 || (size_t)k >= n)
			continue;
		seen[k] = true;
		if (!st || !strcmp(st, "PROCESSING"))
			open[k] = true;
	}
	for (i = 0; i < n; i++)
		finals += seen[i] && !open[i];
	if (finals <= *reported)
		return;
	pthread_mutex_lock(&run->imp->lock);
	run->imp->done += finals - *reported;
	*reported = finals;
	if (run->imp->progress)
		run->imp->progress(run->imp->progress_ud, run->imp->done, run->imp->total);
	pthread_mutex_unlock(&run->imp->lock);
}

static bool S_job_final(json_t *job)
{
	const char *st = json_string_value(json_object_get(job, "status"));

	return st && (!strcmp(st, "COMPLETED") || !strcmp(st, "FAILED"));
}

static void S_do_batch(struct S_run *run, struct tv_client *c, const struct S_batch *b)
{
	struct tv_cli_import *imp = run->imp;
	struct tv_client_resp r = { 0 };
	char path[256], why[600], *job_id = NULL;
	json_t *body, *items, *res;
	size_t i, reported = 0;
	enum tv_err rc;

	items = json_array();
	for (i = 0; items && i < b->n; i++)
		json_array_append(items, imp->files[b->idx[i]].item);
	body = json_pack("{s:s, s:s, s:o}", "edgeInstanceId", imp->edge_id, "encryptionKeyId",
			 imp->key_id, "importInformation", items);
	if (!body) {
		S_batch_fail(run, b, "error: out of memory");
		return;
	}
	rc = tv_client_call(c, &r, "POST",
			    imp->dry_run ? "/outagedetection/v1/certificates/imports?dryRun=true"
					 : "/outagedetection/v1/certificates/imports",
			    body);
	json_decref(body);
	if (rc || r.status != 201 || !json_string_value(json_object_get(r.json, "id")))
		goto fail;
	job_id = strdup(json_string_value(json_object_get(r.json, "id")));
	if (!job_id) {
		rc = TV_ERR_NOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s?waitSeconds=%d",
		 job_id, imp->wait_seconds);
	for (;;) {
		tv_client_resp_release(&r);
		rc = tv_client_call(c, &r, "GET", path, NULL);
		if (rc || r.status != 200)
			goto fail;
		S_progress(run, json_object_get(r.json, "results"), b->n, &reported);
		if (S_job_final(r.json))
			break;
	}
	json_array_foreach(json_object_get(r.json, "results"), i, res) {
		json_int_t k = json_integer_value(json_object_get(res, "itemIndex"));

		if (k >= 0 && (size_t)k < b->n)
			json_array_append(imp->files[b->idx[k]].results, res);
	}
	goto out;
fail:
	S_describe(&r, rc, why, sizeof(why));
	S_batch_fail(run, b, why);
out:
	free(job_id);
	tv_client_resp_release(&r);
}

static void *S_worker(void *arg)
{
	struct S_run *run = arg;
	struct tv_client c;
	size_t k;

	tv_client_init_from(&c, run->imp->client);
	for (;;) {
		pthread_mutex_lock(&run->imp->lock);
		k = run->imp->next_batch++;
		pthread_mutex_unlock(&run->imp->lock);
		if (k >= run->nb)
			break;
		S_do_batch(run, &c, &run->batches[k]);
	}
	tv_client_release(&c);
	return NULL;
}

enum tv_err tv_imp_run(struct tv_cli_import *imp)
{
	pthread_t threads[TV_IMP_PARALLEL_MAX];
	struct S_run run = { .imp = imp };
	size_t *idx = NULL, n = 0, i, started = 0, want;
	enum tv_err rc = TV_OK;

	idx = malloc((imp->n ? imp->n : 1) * sizeof(*idx));
	run.batches = malloc((imp->n / TV_IMP_BATCH_MAX + 1) * sizeof(*run.batches));
	if (!idx || !run.batches) {
		rc = TV_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < imp->n; i++)
		if (imp->files[i].item)
			idx[n++] = i;
	for (i = 0; i < n; i += TV_IMP_BATCH_MAX) {
		run.batches[run.nb].idx = idx + i;
		run.batches[run.nb].n = n - i < TV_IMP_BATCH_MAX ? n - i : TV_IMP_BATCH_MAX;
		run.nb++;
	}
	imp->total = n;
	imp->done = 0;
	imp->next_batch = 0;
	if (imp->progress && n)
		imp->progress(imp->progress_ud, 0, n);
	want = (size_t)(imp->parallel < 1 ? 1 : imp->parallel);
	if (want > TV_IMP_PARALLEL_MAX)
		want = TV_IMP_PARALLEL_MAX;
	if (want > run.nb)
		want = run.nb;
	for (i = 0; i < want; i++) {
		if (pthread_create(&threads[started], NULL, S_worker, &run) != 0)
			break;
		started++;
	}
	if (want && !started)
		S_worker(&run); /* no threads to be had: do it on this one */
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	rc = run.failed ? TV_ERR_IO : TV_OK;
out:
	free(idx);
	free(run.batches);
	return rc;
}
