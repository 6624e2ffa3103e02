/*
 * Integration tests of backups and key rotation (issue 11, acceptance 2 and
 * 3): a backup taken while 500 imports run, restored and served; the master
 * key rotated with the server stopped (refused while it runs), after which
 * the old key unwraps no DEK; a server whose master.key is not the one a
 * DEK was wrapped with fails that work closed, naming the cause; a DEK
 * rotated while imports run, after which every item finished, every key
 * exports and every certificate's dekHash is the new DEK.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "core/b64.h"
#include "core/util.h"
#include "dek/dek.h"
#include "importing.h"
#include "keygen.h"
#include "store/store.h"
#include "svc/keyring.h"
#include "svc/keys.h"

#define PASS "k3ys-pass"
#define EXPORT_PASS "Exp0rt-pass"

struct S_ks {
	unsigned char *der;
	size_t len;
	char fp[41];
};

/* n keystores for cn-prefix-i, issued by ca. */
static struct S_ks *S_keystores(const struct tvh_ca *ca, const char *prefix, size_t n)
{
	struct S_ks *ks = calloc(n, sizeof(*ks));
	char cn[128];
	size_t i;

	assert_non_null(ks);
	for (i = 0; i < n; i++) {
		snprintf(cn, sizeof(cn), "%s-%zu.example.com", prefix, i);
		ks[i].der = tvh_leaf_p12(ca, cn, PASS, &ks[i].len, ks[i].fp);
	}
	return ks;
}

static void S_keystores_free(struct S_ks *ks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ks[i].der);
	free(ks);
}

/* The servers of the running test, killed by the teardown when a test fails
 * half way (a live child would hold CTest's output pipe open). */
static struct tvh_server *S_live[2];

static int S_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++)
		if (S_live[i] && S_live[i]->pid > 0)
			tvh_stop(S_live[i], SIGKILL);
	memset(S_live, 0, sizeof(S_live));
	return 0;
}

static void S_current_dek(const struct tvh_server *s, unsigned char pk[32],
			  char id[TV_DEK_ID_STRLEN + 1]);

/* The body of a job of ks[0..n) with the password sealed to the server's DEK. */
static json_t *S_body(const struct tvh_server *s, const struct S_ks *ks, size_t n)
{
	unsigned char pk[32];
	char id[TV_DEK_ID_STRLEN + 1];
	json_t *items = json_array();
	size_t i;

	S_current_dek(s, pk, id);
	for (i = 0; i < n; i++) {
		char *b = tvh_b64(ks[i].der, ks[i].len), *pw = tvh_seal_b64(pk, PASS, strlen(PASS));

		json_array_append_new(items, json_pack("{s:s,s:s}", "pkcs12Keystore", b,
						       "dekEncryptedPassword", pw));
		free(b);
		free(pw);
	}
	return tvh_envelope(s, items);
}

static char *S_post(const struct tvh_server *s, const struct S_ks *ks, size_t n)
{
	return tvh_post_job(s, s->api_key, S_body(s, ks, n), NULL);
}

static json_t *S_get_job(const struct tvh_server *s, const char *id)
{
	char path[200];
	struct tvh_resp r;
	json_t *j;

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/imports/%s", id);
	tvh_request(&r, s, "GET", path, s->api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	j = json_incref(r.json);
	tvh_resp_free(&r);
	return j;
}

/* Append the certificate ids of the job's IMPORTED results to ids; the
 * number of results the job has. */
static size_t S_imported(json_t *job, json_t *ids)
{
	json_t *arr = json_object_get(job, "results"), *r;
	size_t i;

	json_array_foreach(arr, i, r) {
		const char *st = json_string_value(json_object_get(r, "status"));

		if (st && !strcmp(st, "IMPORTED"))
			json_array_append(ids, json_object_get(r, "certificateId"));
	}
	return json_array_size(arr);
}

/* Wait for a job and check that every item of it was IMPORTED. */
static void S_wait_all_imported(const struct tvh_server *s, const char *id, size_t n,
				json_t *ids)
{
	json_t *job = tvh_wait_job(s, s->api_key, id), *arr = json_array();

	assert_string_equal(json_string_value(json_object_get(job, "status")), "COMPLETED");
	assert_int_equal(S_imported(job, arr), n);
	if (json_array_size(arr) != n)
		fail_msg("job %s: %zu of %zu imported: %s", id, json_array_size(arr), n,
			 json_dumps(job, JSON_COMPACT));
	json_array_extend(ids, arr);
	json_decref(arr);
	json_decref(job);
}

/* The DEK clients seal to, as a client finds it: the edge instance's
 * encryptionKeyId, then that key. */
static void S_current_dek(const struct tvh_server *s, unsigned char pk[32],
			  char id[TV_DEK_ID_STRLEN + 1])
{
	char path[200];
	struct tvh_resp r;
	size_t n = 0;

	snprintf(path, sizeof(path), "/v1/edgeinstances/%s", s->edge_id);
	tvh_request(&r, s, "GET", path, s->api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	snprintf(path, sizeof(path), "/v1/edgeencryptionkeys/%s",
		 json_string_value(json_object_get(r.json, "encryptionKeyId")));
	tvh_resp_free(&r);
	tvh_request(&r, s, "GET", path, s->api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(tv_b64_decode_to(pk, 32, &n,
					  json_string_value(json_object_get(r.json, "key")), 44),
			 TV_OK);
	assert_int_equal(n, 32);
	tvh_resp_free(&r);
	tv_dek_id(id, pk);
}

/* The certificate's dekHash must be dek_id, and its key must export and
 * match the certificate. */
static void S_check_export(const struct tvh_server *s, const char *cert_id, const char *dek_id)
{
	unsigned char pk[32];
	char path[200], body[1024], *sp, cur[TV_DEK_ID_STRLEN + 1];
	const unsigned char *p;
	struct tvh_resp r;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	PKCS12 *p12;

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", cert_id);
	tvh_request(&r, s, "GET", path, s->api_key, NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "dekHash")), dek_id);
	tvh_resp_free(&r);

	S_current_dek(s, pk, cur);
	assert_string_equal(cur, dek_id);
	sp = tvh_seal_b64(pk, EXPORT_PASS, strlen(EXPORT_PASS));
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", cert_id);
	snprintf(body, sizeof(body),
		 "{\"exportFormat\":\"PKCS12\",\"encryptedPrivateKeyPassphrase\":\"%s\"}", sp);
	free(sp);
	tvh_request(&r, s, "POST", path, s->api_key, body, strlen(body), NULL);
	if (r.status != 200)
		fail_msg("export of %s: %ld %s", cert_id, r.status, r.body ? r.body : "");
	p = (const unsigned char *)r.body;
	p12 = d2i_PKCS12(NULL, &p, (long)r.len);
	assert_non_null(p12);
	assert_int_equal(PKCS12_parse(p12, EXPORT_PASS, &key, &cert, NULL), 1);
	assert_non_null(key);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	EVP_PKEY_free(key);
	X509_free(cert);
	PKCS12_free(p12);
	tvh_resp_free(&r);
}

/*
 * Every certificate in ids: its dekHash is dek_id, and its stored key opens
 * with that DEK (through a keyring on the vault's master.key, as the server
 * opens it for an export) and is the certificate's key, checked in process;
 * the tests then export every one of them through the API as well
 * (S_check_export).
 */
static void S_check_store_keys(const struct tvh_server *s, json_t *ids, const char *dek_id)
{
	struct tv_secbuf *master = NULL;
	struct tv_keyring *kr = NULL;
	struct tv_store *st = NULL;
	char path[400], url[400];
	size_t i;

	snprintf(path, sizeof(path), "%s/master.key", s->dir);
	snprintf(url, sizeof(url), "sqlite:%s/tlsvault.db", s->dir);
	assert_int_equal(tv_master_load(&master, path), TV_OK);
	assert_int_equal(tv_store_open(&st, url, false), TV_OK);
	assert_int_equal(tv_keyring_new(&kr, st, master), TV_OK);
	for (i = 0; i < json_array_size(ids); i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		struct tv_cert_record c;
		struct tv_secbuf *p8 = NULL;
		unsigned char *sealed = NULL;
		const unsigned char *p;
		size_t len = 0;
		EVP_PKEY *key;
		X509 *cert;

		assert_int_equal(st->ops->cert_get(st, s->tenant_id, id, &c), TV_OK);
		assert_string_equal(c.dek_id, dek_id);
		assert_int_equal(st->ops->cert_key(st, s->tenant_id, id, &sealed, &len), TV_OK);
		assert_int_equal(tv_keyring_unseal(kr, &p8, s->tenant_id, c.dek_id, sealed, len),
				 TV_OK);
		p = p8->p;
		key = d2i_AutoPrivateKey(NULL, &p, (long)p8->len);
		p = c.der;
		cert = d2i_X509(NULL, &p, (long)c.der_len);
		assert_non_null(key);
		assert_non_null(cert);
		assert_int_equal(X509_check_private_key(cert, key), 1);
		EVP_PKEY_free(key);
		X509_free(cert);
		tv_secbuf_free(p8);
		free(sealed);
		free(c.der);
		free(c.facts_json);
		free(c.issuer_ids_json);
	}
	tv_keyring_free(kr);
	tv_store_close(st);
	tv_secbuf_free(master);
}

/* Run tlsvaultd with args; stderr into *err (malloc'd) when err is set. */
static int S_run(char **out, char **err, const char *const *args)
{
	char path[] = "/tmp/tlsvault-it-err-XXXXXX";
	int fd = mkstemp(path), saved = dup(2), status;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	status = tvh_run(out, args);
	dup2(saved, 2);
	close(saved);
	close(fd);
	if (err)
		*err = tvh_read_file(path, NULL);
	unlink(path);
	return status;
}

static mode_t S_mode(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 0777;
}

/* Acceptance 2: backup while 500 imports run; restore; serve; every
 * certificate that was final before the backup began is there and exports. */
static void test_backup_restore(void **state)
{
	static struct tvh_server s, r;
	struct tvh_ca ca;
	struct S_ks *ks;
	json_t *before = json_array(), *bodies[5];
	char *jobs[6], *out = NULL, *err = NULL, bak[300], key_src[300], key_dst[400];
	size_t i, final_before = 0;
	const size_t n_jobs = 5, per = 100;
	int64_t t0;
	unsigned char pk[32];
	char dek[TV_DEK_ID_STRLEN + 1];

	(void)state;
	tvh_init(&s);
	S_live[0] = &s;
	S_live[1] = &r;
	memset(&r, 0, sizeof(r));
	tvh_start(&s, (const char *const[]){ "--workers", "2", NULL });
	tvh_ca_new(&ca, "Backup CA");
	tvh_trust(&s, s.api_key, (const char *const[]){ ca.pem }, 1);
	ks = S_keystores(&ca, "bk", 20 + n_jobs * per);

	/* 20 imported before anything else */
	jobs[0] = S_post(&s, ks, 20);
	S_wait_all_imported(&s, jobs[0], 20, before);
	/* 500 more, running while the backup is taken (the bodies are made
	 * first, so the posts follow each other closely) */
	for (i = 0; i < n_jobs; i++)
		bodies[i] = S_body(&s, ks + 20 + i * per, per);
	for (i = 0; i < n_jobs; i++)
		jobs[i + 1] = tvh_post_job(&s, s.api_key, bodies[i], NULL);
	/* what is final now was final before the backup began */
	for (i = 0; i < n_jobs; i++) {
		json_t *j = S_get_job(&s, jobs[i + 1]);

		size_t had = json_array_size(before);

		S_imported(j, before);
		final_before += json_array_size(before) - had;
		json_decref(j);
	}
	print_message("%zu of %zu imports final when the backup began\n", final_before,
		      n_jobs * per);
	assert_true(final_before < n_jobs * per); /* the backup ran mid-import */

	snprintf(bak, sizeof(bak), "%s/vault.bak", s.dir);
	{
		const char *args[] = { TVD_PATH, "backup", "--data", s.dir, "--out", bak, NULL };

		assert_int_equal(S_run(&out, &err, args), 0);
		assert_non_null(strstr(err, "does NOT contain master.key"));
		free(out);
		free(err);
		assert_int_equal(S_mode(bak), 0600);
		/* never overwrites */
		assert_int_equal(S_run(NULL, &err, args), 1);
		assert_non_null(strstr(err, "never overwrites"));
		free(err);
	}
	for (i = 0; i < n_jobs; i++) {
		json_t *ignored = json_array();

		S_wait_all_imported(&s, jobs[i + 1], per, ignored);
		json_decref(ignored);
	}
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);

	/* restore into a new directory */
	r = s;
	r.pid = 0;
	r.port = 0;
	assert_true(strlen(s.dir) + 10 < sizeof(r.dir));
	memcpy(r.dir + strlen(s.dir), "-restored", 10);
	snprintf(r.log_path, sizeof(r.log_path), "%s/serve.log", r.dir);
	{
		const char *args[] = { TVD_PATH, "restore", "--in", bak, "--data", r.dir, NULL };
		const char *bad[] = { TVD_PATH, "restore", "--in", bak, "--data", s.dir, NULL };
		const char *junk[] = { TVD_PATH, "restore", "--in", s.log_path, "--data",
				       "/tmp/tlsvault-it-never", NULL };

		assert_int_equal(S_run(NULL, &err, bad), 1); /* not empty */
		assert_non_null(strstr(err, "not empty"));
		free(err);
		assert_int_equal(S_run(NULL, &err, junk), 1); /* not a vault */
		assert_non_null(strstr(err, "not a usable tlsvault backup"));
		free(err);
		assert_int_equal(access("/tmp/tlsvault-it-never", F_OK), -1);
		assert_int_equal(S_run(&out, &err, args), 0);
		assert_non_null(strstr(err, "master.key"));
		free(out);
		free(err);
	}
	/* serving needs master.key back: refused without it */
	{
		const char *args[] = { TVD_PATH, "serve", "--data", r.dir, "--listen",
				       "127.0.0.1:0", NULL };

		assert_int_equal(S_run(NULL, &err, args), 1);
		assert_non_null(strstr(err, "master.key"));
		free(err);
	}
	snprintf(key_src, sizeof(key_src), "%s/master.key", s.dir);
	snprintf(key_dst, sizeof(key_dst), "%s/master.key", r.dir);
	{
		size_t len = 0;
		char *k = tvh_read_file(key_src, &len);
		FILE *f = fopen(key_dst, "wb");

		assert_non_null(k);
		assert_non_null(f);
		assert_int_equal(fwrite(k, 1, len, f), len);
		fclose(f);
		assert_int_equal(chmod(key_dst, 0600), 0);
		free(k);
	}
	tvh_start(&r, NULL);
	S_current_dek(&r, pk, dek);
	assert_string_equal(dek, s.key_id);
	/* every key opens, and every one exports through the API */
	S_check_store_keys(&r, before, dek);
	t0 = tv_mono_ms();
	for (i = 0; i < json_array_size(before); i++)
		S_check_export(&r, json_string_value(json_array_get(before, i)), dek);
	print_message("%zu keys open and export (%lld ms)\n", json_array_size(before),
		      (long long)(tv_mono_ms() - t0));
	assert_int_equal(tvh_stop(&r, SIGTERM), 0);

	for (i = 0; i <= n_jobs; i++)
		free(jobs[i]);
	json_decref(before);
	S_keystores_free(ks, 20 + n_jobs * per);
	tvh_ca_free(&ca);
	tvh_cleanup(&r);
	tvh_cleanup(&s);
}

static int64_t S_dek_ok(const char *dir, const char *key_file, size_t *total)
{
	struct tv_secbuf *key = NULL;
	struct tv_store *st = NULL;
	char path[400], url[400];
	size_t ok = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, key_file);
	snprintf(url, sizeof(url), "sqlite:%s/tlsvault.db", dir);
	assert_int_equal(tv_master_load(&key, path), TV_OK);
	assert_int_equal(tv_store_open(&st, url, false), TV_OK);
	assert_int_equal(tv_svc_master_check(st, key, &ok, total), TV_OK);
	tv_store_close(st);
	tv_secbuf_free(key);
	return (int64_t)ok;
}

/* Acceptance 3a: rotate the master key. */
static void test_rotate_master_key(void **state)
{
	static struct tvh_server s;
	struct tvh_ca ca;
	struct S_ks *ks;
	json_t *ids = json_array();
	char *job, *out = NULL, *err = NULL, *old_key, *new_key, path[400];
	size_t i, total = 0, len = 0;
	unsigned char pk[32];
	char dek[TV_DEK_ID_STRLEN + 1];
	const char *rotate[] = { TVD_PATH, "rotate-master-key", "--data", NULL, NULL };

	(void)state;
	tvh_init(&s);
	S_live[0] = &s;
	rotate[3] = s.dir;
	tvh_start(&s, NULL);
	tvh_ca_new(&ca, "Rotate CA");
	tvh_trust(&s, s.api_key, (const char *const[]){ ca.pem }, 1);
	ks = S_keystores(&ca, "mk", 30);
	job = S_post(&s, ks, 30);
	S_wait_all_imported(&s, job, 30, ids);

	/* refused while the server holds the vault; nothing changes */
	snprintf(path, sizeof(path), "%s/master.key", s.dir);
	old_key = tvh_read_file(path, &len);
	assert_int_equal(len, 32);
	assert_int_equal(S_run(NULL, &err, rotate), 1);
	assert_non_null(strstr(err, "stop it first"));
	free(err);
	new_key = tvh_read_file(path, &len);
	assert_memory_equal(old_key, new_key, 32);
	free(new_key);

	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	assert_int_equal(S_run(&out, &err, rotate), 0);
	assert_non_null(strstr(out, "\"rotated\":true"));
	free(out);
	free(err);
	new_key = tvh_read_file(path, &len);
	assert_int_equal(len, 32);
	assert_memory_not_equal(old_key, new_key, 32);
	free(new_key);
	assert_int_equal(S_mode(path), 0600);
	snprintf(path, sizeof(path), "%s/master.key.old", s.dir);
	new_key = tvh_read_file(path, &len);
	assert_int_equal(len, 32);
	assert_memory_equal(old_key, new_key, 32); /* the previous key, kept */
	free(new_key);
	assert_int_equal(S_mode(path), 0600);

	/* the old key opens no DEK of the store; the new one opens all */
	assert_int_equal(S_dek_ok(s.dir, "master.key.old", &total), 0);
	assert_true(total >= 1);
	assert_int_equal(S_dek_ok(s.dir, "master.key", &total), (int64_t)total);

	/* a second rotation wants master.key.old out of the way first */
	assert_int_equal(S_run(NULL, &err, rotate), 1);
	assert_non_null(strstr(err, "master.key.old"));
	free(err);

	/* a rotation that stopped after its transaction, before the renames:
	 * master.key is the previous key, master.key.new the one the store
	 * needs. A rerun finishes it. */
	{
		char k[400], o[400], nw[400];

		snprintf(k, sizeof(k), "%s/master.key", s.dir);
		snprintf(o, sizeof(o), "%s/master.key.old", s.dir);
		snprintf(nw, sizeof(nw), "%s/master.key.new", s.dir);
		assert_int_equal(rename(k, nw), 0);
		assert_int_equal(rename(o, k), 0);
		assert_int_equal(S_dek_ok(s.dir, "master.key", &total), 0);
		assert_int_equal(S_run(&out, &err, rotate), 0);
		assert_non_null(strstr(out, "\"resumed\":true"));
		free(out);
		free(err);
		assert_int_equal(access(nw, F_OK), -1);
		assert_int_equal(S_dek_ok(s.dir, "master.key", &total), (int64_t)total);
		new_key = tvh_read_file(o, &len);
		assert_memory_equal(old_key, new_key, 32);
		free(new_key);

		/* a master.key.new from a run that never committed is junk: removed,
		 * and the rotation goes ahead (master.key.old moved away first) */
		assert_int_equal(unlink(o), 0);
		{
			FILE *f = fopen(nw, "wb");
			unsigned char junk[32];

			randombytes_buf(junk, sizeof(junk));
			assert_non_null(f);
			assert_int_equal(fwrite(junk, 1, 32, f), 32);
			fclose(f);
			assert_int_equal(chmod(nw, 0600), 0);
		}
		assert_int_equal(S_run(&out, &err, rotate), 0);
		assert_non_null(strstr(out, "\"rotated\":true"));
		assert_null(strstr(out, "resumed"));
		free(out);
		free(err);
		assert_int_equal(S_dek_ok(s.dir, "master.key", &total), (int64_t)total);
		assert_int_equal(S_dek_ok(s.dir, "master.key.old", &total), 0);
		/* the very first key opens nothing either */
		assert_int_equal(unlink(o), 0);
		{
			FILE *f = fopen(o, "wb");

			assert_non_null(f);
			assert_int_equal(fwrite(old_key, 1, 32, f), 32);
			fclose(f);
			assert_int_equal(chmod(o, 0600), 0);
		}
		assert_int_equal(S_dek_ok(s.dir, "master.key.old", &total), 0);
	}

	tvh_start(&s, NULL);
	S_current_dek(&s, pk, dek);
	S_check_store_keys(&s, ids, dek);
	for (i = 0; i < json_array_size(ids); i++)
		S_check_export(&s, json_string_value(json_array_get(ids, i)), dek);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);

	/* the old key at start: refused, and the reason says so */
	{
		const char *args[] = { TVD_PATH, "serve", "--data", s.dir, "--listen",
				       "127.0.0.1:0", NULL };
		char p2[400];

		snprintf(path, sizeof(path), "%s/master.key", s.dir);
		snprintf(p2, sizeof(p2), "%s/master.key.new-test", s.dir);
		assert_int_equal(rename(path, p2), 0);
		{
			FILE *f = fopen(path, "wb");

			assert_non_null(f);
			assert_int_equal(fwrite(old_key, 1, 32, f), 32);
			fclose(f);
			assert_int_equal(chmod(path, 0600), 0);
		}
		assert_int_equal(S_run(NULL, &err, args), 1);
		assert_non_null(strstr(err, "master.key"));
		free(err);
		assert_int_equal(rename(p2, path), 0);
	}

	free(old_key);
	free(job);
	json_decref(ids);
	S_keystores_free(ks, 30);
	tvh_ca_free(&ca);
	tvh_cleanup(&s);
}

/* A running server whose master.key did not wrap a DEK it meets later
 * (another node, or a tenant made with another key) fails that work
 * closed: the item is INTERNAL_ERROR naming the master key, never the
 * client's PASSWORD_DECRYPTION_FAILED, and the server goes on serving. */
static void test_wrong_master_fails_closed(void **state)
{
	static struct tvh_server s, t;
	struct tvh_ca ca;
	struct S_ks *ks;
	char other[300], db[400], *out = NULL, *job;
	json_t *j, *res;
	const char *reason;

	(void)state;
	tvh_init(&s);
	S_live[0] = &s;
	tvh_start(&s, NULL);
	/* a second data directory (its own master.key) on the same database */
	tvh_init(&t);
	snprintf(other, sizeof(other), "%s", t.dir);
	snprintf(db, sizeof(db), "sqlite:%s/tlsvault.db", s.dir);
	{
		const char *args[] = { TVD_PATH, "tenant", "create", "--data", other, "--db", db,
				       "--name", "elsewhere", NULL };

		assert_int_equal(tvh_run(&out, args), 0);
	}
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	t = s;
	snprintf(t.tenant_id, sizeof(t.tenant_id), "%s",
		 json_string_value(json_object_get(j, "tenantId")));
	snprintf(t.api_key, sizeof(t.api_key), "%s",
		 json_string_value(json_object_get(j, "apiKey")));
	snprintf(t.edge_id, sizeof(t.edge_id), "%s",
		 json_string_value(json_object_get(j, "edgeInstanceId")));
	snprintf(t.key_id, sizeof(t.key_id), "%s",
		 json_string_value(json_object_get(j, "encryptionKeyId")));
	json_decref(j);
	free(out);

	tvh_ca_new(&ca, "Closed CA");
	tvh_trust(&t, t.api_key, (const char *const[]){ ca.pem }, 1);
	ks = S_keystores(&ca, "closed", 1);
	job = S_post(&t, ks, 1);
	j = tvh_wait_job(&t, t.api_key, job);
	res = tvh_result(j, 0);
	assert_string_equal(json_string_value(json_object_get(res, "status")), "FAILED");
	reason = json_string_value(json_object_get(res, "reason"));
	if (!reason)
		reason = json_string_value(json_object_get(res, "failureReason"));
	assert_non_null(reason);
	if (!strstr(reason, "INTERNAL_ERROR") || !strstr(reason, "master key"))
		fail_msg("reason: %s", reason);
	json_decref(j);
	free(job);
	/* the server is still up, and says why in its log */
	{
		struct tvh_resp r;

		tvh_request(&r, &s, "GET", "/v1/useraccounts", s.api_key, NULL, 0, NULL);
		assert_int_equal(r.status, 200);
		tvh_resp_free(&r);
	}
	assert_true(tvh_file_contains(s.log_path, "does not unwrap", 15));
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	S_keystores_free(ks, 1);
	tvh_ca_free(&ca);
	assert_true(strlen(other) < sizeof(t.dir));
	memcpy(t.dir, other, strlen(other) + 1);
	t.pid = 0;
	tvh_cleanup(&t);
	tvh_cleanup(&s);
}

/* Acceptance 3b: rotate a DEK while imports run. */
static void test_rotate_dek_mid_import(void **state)
{
	static struct tvh_server s;
	struct tvh_ca ca;
	struct S_ks *ks;
	json_t *ids = json_array(), *res, *bodies[3];
	char *first, *jobs[3], *late, *out = NULL, *err = NULL;
	char d1[TV_DEK_ID_STRLEN + 1], d2[TV_DEK_ID_STRLEN + 1];
	unsigned char pk[32];
	size_t i, final_before = 0;
	const size_t per = 50;
	int64_t t0 = tv_mono_ms();

	(void)state;
	tvh_init(&s);
	S_live[0] = &s;
	tvh_start(&s, (const char *const[]){ "--workers", "1", NULL });
	tvh_ca_new(&ca, "DEK CA");
	tvh_trust(&s, s.api_key, (const char *const[]){ ca.pem }, 1);
	ks = S_keystores(&ca, "dk", 40 + 3 * per + 5);
	S_current_dek(&s, pk, d1);
	assert_string_equal(d1, s.key_id);

	first = S_post(&s, ks, 40);
	S_wait_all_imported(&s, first, 40, ids);
	for (i = 0; i < 3; i++)
		bodies[i] = S_body(&s, ks + 40 + i * per, per);
	for (i = 0; i < 3; i++)
		jobs[i] = tvh_post_job(&s, s.api_key, bodies[i], NULL);
	for (i = 0; i < 3; i++) {
		json_t *j = S_get_job(&s, jobs[i]), *tmp = json_array();

		S_imported(j, tmp);
		final_before += json_array_size(tmp);
		json_decref(tmp);
		json_decref(j);
	}
	assert_true(final_before < 3 * per); /* the rotation starts mid-import */
	{
		const char *args[] = { TVD_PATH, "dek", "rotate", "--data", s.dir, "--tenant",
				       s.tenant_id, "--batch", "16", NULL };

		print_message("%zu of %zu final when the rotation began (%lld ms)\n", final_before,
			      3 * per, (long long)(tv_mono_ms() - t0));
		t0 = tv_mono_ms();
		assert_int_equal(S_run(&out, &err, args), 0);
		print_message("dek rotate took %lld ms\n", (long long)(tv_mono_ms() - t0));
	}
	res = json_loads(out, 0, NULL);
	assert_non_null(res);
	snprintf(d2, sizeof(d2), "%s",
		 json_string_value(json_object_get(res, "encryptionKeyId")));
	assert_string_equal(json_string_value(json_object_get(res, "previousKeyId")), d1);
	assert_string_not_equal(d2, d1);
	assert_true(json_integer_value(json_object_get(res, "resealed")) >= 40);
	print_message("dek rotate: %s", out);
	json_decref(res);
	free(out);
	free(err);

	/* every in-flight item finished */
	for (i = 0; i < 3; i++)
		S_wait_all_imported(&s, jobs[i], per, ids);
	/* clients now get the new DEK */
	S_current_dek(&s, pk, d2);
	assert_string_not_equal(d2, d1);
	/* the whole key list starts with it (a client that takes the first
	 * entry seals to the new DEK), and still holds the old one */
	{
		struct tvh_resp kl;
		json_t *keys;

		tvh_request(&kl, &s, "GET", "/v1/edgeencryptionkeys", s.api_key, NULL, 0, NULL);
		assert_int_equal(kl.status, 200);
		keys = json_object_get(kl.json, "encryptionKeys");
		assert_int_equal(json_array_size(keys), 2);
		assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "id")),
				    d2);
		assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "id")),
				    d1);
		tvh_resp_free(&kl);
	}
	/* a job sealed to the new DEK imports too */
	snprintf(s.key_id, sizeof(s.key_id), "%s", d2);
	late = S_post(&s, ks + 40 + 3 * per, 5);
	S_wait_all_imported(&s, late, 5, ids);
	assert_int_equal(json_array_size(ids), 40 + 3 * per + 5);
	S_check_store_keys(&s, ids, d2);
	t0 = tv_mono_ms();
	for (i = 0; i < json_array_size(ids); i++)
		S_check_export(&s, json_string_value(json_array_get(ids, i)), d2);
	print_message("%zu keys open under the new DEK, all export (%lld ms)\n",
		      json_array_size(ids), (long long)(tv_mono_ms() - t0));

	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	free(first);
	free(late);
	for (i = 0; i < 3; i++)
		free(jobs[i]);
	json_decref(ids);
	S_keystores_free(ks, 40 + 3 * per + 5);
	tvh_ca_free(&ca);
	tvh_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_backup_restore, S_teardown),
		cmocka_unit_test_teardown(test_rotate_master_key, S_teardown),
		cmocka_unit_test_teardown(test_wrong_master_fails_closed, S_teardown),
		cmocka_unit_test_teardown(test_rotate_dek_mid_import, S_teardown),
	};

	if (tv_secmem_init() != TV_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
