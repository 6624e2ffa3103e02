/*
 * DESIGN: the baseline of the import rows, "the ceiling of the conventional
 * approach": what a program gets from OpenSSL's stock calls on the same
 * keystores, with no HTTP, no JSON, no database and no scheduling. Per
 * keystore: d2i_PKCS12, PKCS12_parse (MAC, both decryptions, key and
 * certificate decoding, pairing), X509_verify_cert of the leaf against the
 * corpus root with the keystore's CA certificates as untrusted
 * intermediates, and crypto_box_seal of the key's PKCS#8 to an X25519 key
 * (what our store keeps). Threads take keystores from a shared counter, as
 * our workers take items from the queue.
 */
#include "bench.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#define S_MAX_THREADS 64

struct S_job {
	const struct tvb_corpus *c;
	size_t n;
	X509_STORE *store;
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	atomic_size_t next;
	atomic_size_t failed;
	size_t first_failure;
	pthread_mutex_t lock;
	double cpu_s; /* CPU time of the threads, summed; guarded by lock */
};

static double S_thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One keystore through the stock pipeline; false when anything fails. */
static bool S_one(struct S_job *j, const struct tvb_keystore *ks)
{
	const unsigned char *p = ks->der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)ks->len);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	X509_STORE_CTX *vctx = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL, *sealed = NULL;
	bool ok = false;
	int len = 0;

	if (!p12 || !PKCS12_parse(p12, ks->password, &key, &cert, &ca) || !key || !cert)
		goto out;
	vctx = X509_STORE_CTX_new();
	if (!vctx || !X509_STORE_CTX_init(vctx, j->store, cert, ca) || X509_verify_cert(vctx) != 1)
		goto out;
	p8 = EVP_PKEY2PKCS8(key);
	len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
	if (len <= 0)
		goto out;
	sealed = malloc((size_t)len + crypto_box_SEALBYTES);
	ok = sealed && crypto_box_seal(sealed, der, (unsigned long long)len, j->pk) == 0;
out:
	if (der) {
		OPENSSL_cleanse(der, (size_t)len);
		OPENSSL_free(der);
	}
	free(sealed);
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_STORE_CTX_free(vctx);
	sk_X509_pop_free(ca, X509_free);
	X509_free(cert);
	EVP_PKEY_free(key);
	PKCS12_free(p12);
	return ok;
}

static void *S_thread(void *arg)
{
	struct S_job *j = arg;
	double cpu0 = S_thread_cpu();
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->n)
		if (!S_one(j, &j->c->ks[i]) && atomic_fetch_add(&j->failed, 1) == 0)
			j->first_failure = i;
	pthread_mutex_lock(&j->lock);
	j->cpu_s += S_thread_cpu() - cpu0;
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

double tvb_ceiling_run(const struct tvb_corpus *c, size_t n, unsigned threads,
		       double *cpu_ms_per_item)
{
	unsigned char sk[crypto_box_SECRETKEYBYTES];
	pthread_t th[S_MAX_THREADS];
	struct S_job j;
	double t0, secs;
	unsigned i;

	if (threads < 1 || threads > S_MAX_THREADS || n > c->n || n == 0)
		tvb_die("ceiling: bad arguments");
	memset(&j, 0, sizeof(j));
	pthread_mutex_init(&j.lock, NULL);
	j.c = c;
	j.n = n;
	j.store = X509_STORE_new();
	if (!j.store || !X509_STORE_add_cert(j.store, c->root))
		tvb_die("ceiling: cannot make the trust store");
	crypto_box_keypair(j.pk, sk);
	sodium_memzero(sk, sizeof(sk));
	/* one keystore before the clock: OpenSSL's first use of each
	 * algorithm fetches and caches it, a cost no later keystore pays */
	if (!S_one(&j, &c->ks[0]))
		tvb_die("ceiling: the first %s keystore fails the stock pipeline", c->name);
	t0 = tvb_now();
	for (i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, S_thread, &j) != 0)
			tvb_die("ceiling: cannot start a thread");
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	secs = tvb_now() - t0;
	X509_STORE_free(j.store);
	pthread_mutex_destroy(&j.lock);
	if (cpu_ms_per_item)
		*cpu_ms_per_item = j.cpu_s * 1e3 / (double)n;
	if (atomic_load(&j.failed))
		tvb_die("ceiling: %zu of %zu %s keystores failed the stock pipeline (first: %zu)",
			atomic_load(&j.failed), n, c->name, j.first_failure);
	return (double)n / secs;
}
