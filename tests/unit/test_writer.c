/* tv-test-libs: tv_pki */
/*
 * test_writer.c - the keystore writers (pki/writer.h, pki/jks.h), each
 * checked by reading its output back with another reader: our PKCS#12 and
 * PKCS#8 readers, the openssl CLI, unzip and libzip, and Java 17's keytool.
 * Nothing here trusts the writer's own idea of what it wrote.
 *
 * External tools run in a child process with their output in a file under a
 * private temporary directory, polled with a deadline. keytool starts a JVM
 * (~1 s), so its runs are counted: 11 in all.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_p12_util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <zip.h>

#include "pki/jks.h"
#include "pki/p12.h"
#include "pki/pkcs8.h"
#include "pki/pki.h"
#include "pki/writer.h"

#define S_TOOL_DEADLINE_MS 120000.0
#define S_ALIAS "Fixture Alias"
#define S_MODERN_PBE "PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"
#define S_LEGACY_PBE "pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048"

static struct tv_pki_ctx *g_ctx;
static char g_dir[64];

/* ---- helpers ------------------------------------------------------------- */

/* g_dir/name into buf. */
static const char *S_path(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", g_dir, name);

	assert_true(n > 0 && (size_t)n < size);
	return buf;
}

/*
 * Run argv (a PATH program) with stdin from /dev/null and stdout+stderr in
 * log, under LC_ALL=C.UTF-8 (so the JVM takes argv and prints as UTF-8).
 * Returns the exit status, -1 if killed by a signal.
 */
static int S_run(const char *log, char *const argv[])
{
	double deadline = tvt_now_ms() + S_TOOL_DEADLINE_MS;
	struct timespec tick = {0, 5 * 1000 * 1000};
	int status = 0, fd, nul;
	pid_t pid, r;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		nul = open("/dev/null", O_RDONLY);
		/* in g_dir, so that no relative path lands in the work tree */
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 ||
		    dup2(fd, 2) < 0 || chdir(g_dir) != 0)
			_exit(126);
		setenv("LC_ALL", "C.UTF-8", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (tvt_now_ms() > deadline) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			fail_msg("%s did not finish in time", argv[0]);
		}
		nanosleep(&tick, NULL);
	}
	assert_int_equal(r, pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int S_setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/tv_test_writer_XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	return tv_pki_ctx_new(&g_ctx) == TV_OK ? 0 : -1;
}

static int S_teardown(void **state)
{
	char *rm[] = {"rm", "-rf", g_dir, NULL};
	char log[] = "/dev/null";

	(void)state;
	tv_pki_ctx_free(g_ctx);
	g_ctx = NULL;
	return S_run(log, rm) == 0 ? 0 : -1;
}

/* The log's text; fails the test (showing it) unless argv exits with 0. */
static char *S_run_ok(const char *log, char *const argv[])
{
	size_t len;
	int rc = S_run(log, argv);
	char *text = (char *)tvt_read_file(log, &len);

	if (rc != 0)
		fail_msg("%s %s exited %d:\n%s", argv[0], argv[1], rc, text);
	return text;
}

static void S_assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" not found in:\n%s", needle, text);
}

static void S_write_file(const char *path, const struct tv_secbuf *buf)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf->p, 1, buf->len, f), buf->len);
	assert_int_equal(fclose(f), 0);
}

/* The first private key in a PEM file (other blocks are skipped). */
static EVP_PKEY *S_read_key(const char *path, const char *pass)
{
	EVP_PKEY *key;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	key = PEM_read_PrivateKey(f, NULL, NULL, (void *)pass);
	fclose(f);
	if (!key)
		fail_msg("no private key in %s", path);
	return key;
}

/* openssl pkey decrypts an encrypted PKCS#8 PEM file to want's key. */
static void S_pkey_decrypt(const char *file, const char *pass, EVP_PKEY *want)
{
	char log[256], dec[256], passin[512];
	char *pkey[] = {"openssl", "pkey", "-in", (char *)file, "-passin", passin,
			"-out", dec, NULL};
	EVP_PKEY *key;

	snprintf(passin, sizeof(passin), "pass:%s", pass);
	S_path(dec, sizeof(dec), "decrypted.pem");
	free(S_run_ok(S_path(log, sizeof(log), "pkey.log"), pkey));
	key = S_read_key(dec, NULL);
	assert_int_equal(EVP_PKEY_eq(key, want), 1);
	EVP_PKEY_free(key);
}

/* How many certificates a PEM file holds; one of them must be leaf. */
static int S_count_certs(const char *path, X509 *leaf)
{
	FILE *f = fopen(path, "r");
	int n = 0, found = 0;
	X509 *x;

	assert_non_null(f);
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		found |= X509_cmp(x, leaf) == 0;
		n++;
		X509_free(x);
	}
	ERR_clear_error(); /* the end of the file */
	fclose(f);
	assert_true(found);
	return n;
}

/* A fixture: key, leaf and (for "leaf") its CA as the chain. */
struct S_fixture {
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) *chain; /* NULL when self-signed */
};

static void S_fixture_load(struct S_fixture *fx, const char *name)
{
	fx->key = tvt_fixture_key(name);
	fx->leaf = tvt_fixture_cert(name);
	fx->chain = NULL;
	if (strcmp(name, "leaf") == 0) {
		fx->chain = sk_X509_new_null();
		assert_non_null(fx->chain);
		assert_true(sk_X509_push(fx->chain, tvt_fixture_cert("ca")) > 0);
	}
}

static void S_fixture_release(struct S_fixture *fx)
{
	EVP_PKEY_free(fx->key);
	X509_free(fx->leaf);
	sk_X509_pop_free(fx->chain, X509_free);
}

/* A certificate as PEM text, malloc'd. */
static char *S_cert_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long len;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
	len = BIO_get_mem_data(bio, &data);
	copy = strndup(data, (size_t)len);
	assert_non_null(copy);
	BIO_free(bio);
	return copy;
}

static int S_chain_len(const struct S_fixture *fx)
{
	return fx->chain ? sk_X509_num(fx->chain) : 0;
}

/* ---- PKCS#12 ------------------------------------------------------------- */

/* openssl pkcs12 -nodes on a file: fx's key, its leaf and its chain. */
static void S_p12_dump(const char *file, const char *pass, struct S_fixture *fx)
{
	char log[256], pem[256], passin[512];
	char *dump[] = {"openssl", "pkcs12", "-nodes", "-in", (char *)file,
			"-passin", passin, "-out", pem, NULL};
	EVP_PKEY *key;

	snprintf(passin, sizeof(passin), "pass:%s", pass);
	S_path(pem, sizeof(pem), "dump.pem");
	free(S_run_ok(S_path(log, sizeof(log), "dump.log"), dump));
	key = S_read_key(pem, NULL);
	assert_int_equal(EVP_PKEY_eq(key, fx->key), 1);
	assert_int_equal(S_count_certs(pem, fx->leaf), 1 + S_chain_len(fx));
	EVP_PKEY_free(key);
}

/* Our reader: the same key, the same leaf, the alias, the whole chain. */
static void S_p12_read_back(const struct tv_secbuf *p12, struct S_fixture *fx,
			    const char *pass, size_t pass_len, const char *alias)
{
	struct tv_p12_contents *c = NULL;
	char msg[TV_REASON_MSG_SIZE];
	int i, n = S_chain_len(fx);

	if (tv_p12_read(&c, g_ctx, p12->p, p12->len, pass, pass_len, NULL, msg,
			sizeof(msg)) != TV_REASON_OK)
		fail_msg("tv_p12_read: %s", msg);
	assert_int_equal(c->pair_count, 1);
	assert_int_equal(EVP_PKEY_eq(tv_p12_pair_key(c, 0), fx->key), 1);
	assert_int_equal(X509_cmp(tv_p12_pair_cert(c, 0), fx->leaf), 0);
	if (alias)
		assert_string_equal(c->pairs[0].friendly_name, alias);
	else
		assert_null(c->pairs[0].friendly_name);
	assert_int_equal(sk_X509_num(c->chain_candidates), n);
	for (i = 0; i < n; i++)
		assert_int_equal(X509_cmp(sk_X509_value(c->chain_candidates, i),
					  sk_X509_value(fx->chain, i)), 0);
	tv_p12_contents_free(c);
}

/* The openssl CLI: -info names the algorithms; -nodes gives the key back. */
static void S_p12_openssl(const struct tv_secbuf *p12, struct S_fixture *fx,
			  const char *pass, enum tv_p12_profile profile)
{
	static const char *const want[2][3] = {
		{"MAC: sha256, Iteration 10000",
		 "PKCS7 Encrypted data: " S_MODERN_PBE,
		 "Shrouded Keybag: " S_MODERN_PBE},
		{"MAC: sha1, Iteration 2048",
		 "PKCS7 Encrypted data: " S_LEGACY_PBE,
		 "Shrouded Keybag: " S_LEGACY_PBE}};
	char file[256], log[256], passin[512];
	char *info[] = {"openssl", "pkcs12", "-info", "-noout", "-in", file,
			"-passin", passin, NULL};
	char *text;
	int i;

	S_write_file(S_path(file, sizeof(file), "out.p12"), p12);
	S_path(log, sizeof(log), "openssl.log");
	snprintf(passin, sizeof(passin), "pass:%s", pass);
	text = S_run_ok(log, info);
	for (i = 0; i < 3; i++)
		S_assert_has(text, want[profile][i]);
	free(text);
	S_p12_dump(file, pass, fx);
}

static void test_p12_round_trip(void **state)
{
	static const char *const names[] = {"rsa2048", "p256", "p384", "p521",
					    "ed25519", "leaf"};
	static const enum tv_p12_profile profiles[] = {TV_P12_MODERN, TV_P12_LEGACY};
	struct tv_secbuf *p12;
	struct S_fixture fx;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		S_fixture_load(&fx, names[i]);
		for (j = 0; j < 2; j++) {
			p12 = NULL;
			assert_int_equal(tv_p12_write(&p12, g_ctx, fx.key, fx.leaf,
						      fx.chain, S_ALIAS, TVT_PASS,
						      strlen(TVT_PASS), profiles[j]),
					 TV_OK);
			S_p12_read_back(p12, &fx, TVT_PASS, strlen(TVT_PASS), S_ALIAS);
			S_p12_openssl(p12, &fx, TVT_PASS, profiles[j]);
			tv_secbuf_free(p12);
		}
		S_fixture_release(&fx);
	}
}

/* "" is a password like any other: the file is still encrypted and MACed. */
static void test_p12_empty_and_utf8_passphrase(void **state)
{
	static const enum tv_p12_profile profiles[] = {TV_P12_MODERN, TV_P12_LEGACY};
	struct tv_p12_contents *c = NULL;
	char msg[TV_REASON_MSG_SIZE];
	struct tv_secbuf *p12;
	struct S_fixture fx;
	size_t j;

	(void)state;
	S_fixture_load(&fx, "leaf");
	for (j = 0; j < 2; j++) {
		p12 = NULL;
		assert_int_equal(tv_p12_write(&p12, g_ctx, fx.key, fx.leaf, fx.chain,
					      NULL, NULL, 0, profiles[j]), TV_OK);
		S_p12_read_back(p12, &fx, "", 0, NULL);
		S_p12_openssl(p12, &fx, "", profiles[j]);
		/* a wrong password is refused: there is a MAC */
		assert_int_equal(tv_p12_read(&c, g_ctx, p12->p, p12->len, "x", 1,
					     NULL, msg, sizeof(msg)),
				 TV_REASON_MAC_VERIFICATION_FAILED);
		assert_null(c);
		tv_secbuf_free(p12);

		p12 = NULL;
		assert_int_equal(tv_p12_write(&p12, g_ctx, fx.key, fx.leaf, fx.chain,
					      "caf\xc3\xa9", TVT_UTF8_PASS,
					      strlen(TVT_UTF8_PASS), profiles[j]),
				 TV_OK);
		S_p12_read_back(p12, &fx, TVT_UTF8_PASS, strlen(TVT_UTF8_PASS),
				"caf\xc3\xa9");
		S_p12_openssl(p12, &fx, TVT_UTF8_PASS, profiles[j]);
		tv_secbuf_free(p12);
	}
	S_fixture_release(&fx);
}

static void test_p12_refusals(void **state)
{
	struct tv_secbuf *out = NULL;
	EVP_PKEY *p256 = tvt_fixture_key("p256");
	X509 *rsa_cert = tvt_fixture_cert("rsa2048"), *cert = tvt_fixture_cert("p256");

	(void)state;
	ERR_clear_error();
	/* key not the certificate's */
	assert_int_equal(tv_p12_write(&out, g_ctx, p256, rsa_cert, NULL, NULL, "a",
				      1, TV_P12_MODERN), TV_ERR_INVALID);
	assert_int_equal(tv_p12_write(&out, g_ctx, p256, cert, NULL, NULL, "a", 1,
				      (enum tv_p12_profile)7), TV_ERR_INVALID);
	/* a NUL inside, invalid UTF-8, a length without bytes */
	assert_int_equal(tv_p12_write(&out, g_ctx, p256, cert, NULL, NULL, "a\0b",
				      3, TV_P12_MODERN), TV_ERR_INVALID);
	assert_int_equal(tv_p12_write(&out, g_ctx, p256, cert, NULL, NULL,
				      "\xff\xfe", 2, TV_P12_MODERN), TV_ERR_INVALID);
	assert_int_equal(tv_p12_write(&out, g_ctx, p256, cert, NULL, NULL, NULL, 3,
				      TV_P12_MODERN), TV_ERR_INVALID);
	assert_int_equal(tv_p12_write(&out, g_ctx, p256, cert, NULL, "\xc0\xaf",
				      "a", 1, TV_P12_MODERN), TV_ERR_INVALID);
	assert_int_equal(tv_p12_write(&out, g_ctx, NULL, cert, NULL, NULL, "a", 1,
				      TV_P12_MODERN), TV_ERR_INVALID);
	assert_int_equal(tv_pkcs8_pem_write(&out, g_ctx, p256, "a\0b", 3),
			 TV_ERR_INVALID);
	/* a public key only */
	assert_int_equal(tv_pkcs8_pem_write(&out, g_ctx, X509_get0_pubkey(cert),
					    "a", 1), TV_ERR_INVALID);
	assert_int_equal(tv_p12_write(&out, g_ctx, X509_get0_pubkey(cert), cert,
				      NULL, NULL, "a", 1, TV_P12_MODERN),
			 TV_ERR_INVALID);
	assert_int_equal(tv_jks_write(&out, X509_get0_pubkey(cert), cert, NULL,
				      "a", "k", 1, "s", 1), TV_ERR_INVALID);
	assert_null(out); /* never set on failure */
	assert_int_equal(ERR_peek_error(), 0); /* the queue is left clean */
	EVP_PKEY_free(p256);
	X509_free(rsa_cert);
	X509_free(cert);
}

/* ---- PKCS#8 -------------------------------------------------------------- */

static void test_pkcs8_pem(void **state)
{
	static const char *const names[] = {"rsa2048", "p384", "ed25519"};
	char file[256], log[256];
	char *asn1[] = {"openssl", "asn1parse", "-in", file, NULL};
	struct tv_p12_contents *c = NULL;
	char msg[TV_REASON_MSG_SIZE];
	struct tv_secbuf *pem;
	struct S_fixture fx;
	unsigned char *crt;
	size_t i, crt_len;
	char *text;

	(void)state;
	S_path(file, sizeof(file), "key.pem");
	S_path(log, sizeof(log), "pkcs8.log");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		S_fixture_load(&fx, names[i]);
		pem = NULL;
		assert_int_equal(tv_pkcs8_pem_write(&pem, g_ctx, fx.key, TVT_UTF8_PASS,
						    strlen(TVT_UTF8_PASS)), TV_OK);
		assert_int_equal(strlen((char *)pem->p), pem->len);
		assert_memory_equal(pem->p, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 38);
		/* our own reader */
		crt = tvt_read_fmt(&crt_len, "%s/keys/%s.crt.pem", TVT_FIXTURES,
				   names[i]);
		if (tv_pkcs8_read_encrypted_pem(&c, g_ctx, (char *)pem->p, pem->len,
						TVT_UTF8_PASS, strlen(TVT_UTF8_PASS),
						crt, crt_len, NULL, msg,
						sizeof(msg)) != TV_REASON_OK)
			fail_msg("tv_pkcs8_read_encrypted_pem: %s", msg);
		assert_int_equal(EVP_PKEY_eq(tv_p12_pair_key(c, 0), fx.key), 1);
		tv_p12_contents_free(c);
		c = NULL;
		free(crt);
		S_write_file(file, pem);
		text = S_run_ok(log, asn1);
		S_assert_has(text, ":PBES2");
		S_assert_has(text, ":PBKDF2");
		S_assert_has(text, ":hmacWithSHA256");
		S_assert_has(text, ":aes-256-cbc");
		S_assert_has(text, "INTEGER           :2710"); /* 10000 iterations */
		free(text);
		S_pkey_decrypt(file, TVT_UTF8_PASS, fx.key);
		tv_secbuf_free(pem);
		S_fixture_release(&fx);
	}
}

/* ---- the PEM zip --------------------------------------------------------- */

static void test_safe_label(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"web", "web"},
		{"../../etc/x", "etc_x"},
		{"a/../b", "a_._b"},
		{"..\\..\\windows", "windows"},
		{NULL, "certificate"},
		{"", "certificate"},
		{"...", "certificate"},
		{"-rf", "rf"},
		{"my web cert", "my_web_cert"},
		{"web\x01\x7f\x1b[31mx", "web_31mx"},
		{"C:\\x|y?*", "C_x_y"},
		{"\xc3\xbc" "ber-cert.example.com", "\xc3\xbc" "ber-cert.example.com"},
		{"x\xe2\x80\xaey", "x_y"},      /* U+202E RIGHT-TO-LEFT OVERRIDE */
		{"a\xc2\x85" "b", "a_b"},       /* U+0085, a C1 control */
		{"\xff\xfe", "certificate"},    /* not UTF-8 */
		{"a\xe2\x82", "a"},             /* truncated UTF-8 */
	};
	char buf[TV_WRITER_MAX_LABEL + 1], in[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tv_writer_safe_label(buf, sizeof(buf), cases[i].in);
		assert_string_equal(buf, cases[i].want);
	}
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = 0;
	tv_writer_safe_label(buf, sizeof(buf), in);
	assert_int_equal(strlen(buf), TV_WRITER_MAX_LABEL);
	/* the cut never splits a character */
	memcpy(in + TV_WRITER_MAX_LABEL - 1, "\xc3\xa9", 3);
	tv_writer_safe_label(buf, sizeof(buf), in);
	assert_int_equal(strlen(buf), TV_WRITER_MAX_LABEL - 1);
}

/* The member names of a zip, read with libzip, joined by '\n'. */
static void S_zip_names(const struct tv_secbuf *zipbuf, char *out, size_t size)
{
	zip_source_t *src;
	zip_error_t zerr;
	zip_t *za;
	zip_int64_t i, n;

	zip_error_init(&zerr);
	src = zip_source_buffer_create(zipbuf->p, zipbuf->len, 0, &zerr);
	assert_non_null(src);
	za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
	assert_non_null(za);
	n = zip_get_num_entries(za, 0);
	out[0] = 0;
	for (i = 0; i < n; i++) {
		strncat(out, zip_get_name(za, (zip_uint64_t)i, 0), size - strlen(out) - 2);
		strcat(out, "\n");
	}
	zip_discard(za); /* frees src */
	zip_error_fini(&zerr);
}

/* A PEM file is exactly want[0..n) in that order, split by blank lines. */
static void S_assert_blocks(const char *path, X509 *const *want, int n)
{
	size_t len;
	char *text = (char *)tvt_read_file(path, &len), *pem;
	const char *p = text, *end;
	int i;

	for (i = 0; i < n; i++) {
		pem = S_cert_pem(want[i]);
		end = strstr(p, "\n\n");
		if (i < n - 1) {
			assert_non_null(end);
			assert_int_equal((size_t)(end + 1 - p), strlen(pem));
		} else {
			assert_null(end);
			assert_int_equal(strlen(p), strlen(pem));
		}
		assert_memory_equal(p, pem, strlen(pem));
		p += strlen(pem) + 1;
		free(pem);
	}
	free(text);
}

static void S_check_zip(const char *name, const char *label, const char *lbl)
{
	char zipf[256], dir[256], log[256], path[512], names[1024], want[1024];
	char *unzip[] = {"unzip", "-q", "-o", zipf, "-d", dir, NULL};
	struct tv_secbuf *zip = NULL;
	struct S_fixture fx;
	X509 *order[2];

	S_fixture_load(&fx, name);
	assert_int_equal(tv_pem_zip_write(&zip, g_ctx, fx.key, fx.leaf, fx.chain,
					  label, TVT_PASS, strlen(TVT_PASS)),
			 TV_OK);
	S_zip_names(zip, names, sizeof(names));
	snprintf(want, sizeof(want), "%s.key\n%s.crt\n%s_root-first.pem\n"
		 "%s_root-last.pem\n", lbl, lbl, lbl, lbl);
	assert_string_equal(names, want);

	S_write_file(S_path(zipf, sizeof(zipf), "out.zip"), zip);
	S_path(dir, sizeof(dir), "unzipped");
	free(S_run_ok(S_path(log, sizeof(log), "unzip.log"), unzip));
	snprintf(path, sizeof(path), "%s/%s.key", dir, lbl);
	S_pkey_decrypt(path, TVT_PASS, fx.key);
	snprintf(path, sizeof(path), "%s/%s.crt", dir, lbl);
	S_assert_blocks(path, &fx.leaf, 1);
	/* root first: the CA, then the leaf; root last: the other way round */
	order[0] = fx.chain ? sk_X509_value(fx.chain, 0) : fx.leaf;
	order[1] = fx.leaf;
	snprintf(path, sizeof(path), "%s/%s_root-first.pem", dir, lbl);
	S_assert_blocks(path, fx.chain ? order : order + 1, 1 + S_chain_len(&fx));
	order[0] = fx.leaf;
	order[1] = fx.chain ? sk_X509_value(fx.chain, 0) : NULL;
	snprintf(path, sizeof(path), "%s/%s_root-last.pem", dir, lbl);
	S_assert_blocks(path, order, 1 + S_chain_len(&fx));
	tv_secbuf_free(zip);
	S_fixture_release(&fx);
}

static void test_pem_zip(void **state)
{
	(void)state;
	S_check_zip("leaf", "web", "web");
	S_check_zip("p256", NULL, "certificate");
	S_check_zip("ed25519", "../../etc/x", "etc_x");
}

/* ---- JKS ----------------------------------------------------------------- */

static void S_sha1_parts(unsigned char out[20], const void *a, size_t alen,
			 const void *b, size_t blen, const void *c, size_t clen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha1(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(md, a, alen), 1);
	assert_int_equal(EVP_DigestUpdate(md, b, blen), 1);
	assert_int_equal(EVP_DigestUpdate(md, c, clen), 1);
	assert_int_equal(EVP_DigestFinal_ex(md, out, NULL), 1);
	EVP_MD_CTX_free(md);
}

static uint32_t S_be(const unsigned char *p, size_t n)
{
	uint32_t v = 0;

	while (n--)
		v = (v << 8) | *p++;
	return v;
}

/*
 * An independent reading of our JKS, for ASCII passwords: the layout, the
 * store digest, and the key recovered with Sun's algorithm as a reader
 * would run it. Returns the number of certificates.
 */
static int S_jks_decode(const struct tv_secbuf *jks, const char *alias,
			const char *key_pass, const char *store_pass,
			EVP_PKEY *want_key)
{
	unsigned char pw[256], d[20], *plain;
	const unsigned char *p = jks->p, *enc, *q;
	size_t i, pwlen, body = jks->len - 20, enc_len, n;
	const ASN1_OCTET_STRING *oct;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *obj;
	PKCS8_PRIV_KEY_INFO *p8;
	X509_SIG *sig;
	EVP_PKEY *key;
	char oid[64];
	int ncert, ptype;

	for (i = 0, pwlen = 0; store_pass[i]; i++, pwlen += 2)
		pw[pwlen] = 0, pw[pwlen + 1] = (unsigned char)store_pass[i];
	S_sha1_parts(d, pw, pwlen, "Mighty Aphrodite", 16, p, body);
	assert_memory_equal(d, p + body, 20);
	assert_int_equal(S_be(p, 4), 0xFEEDFEEDu);
	assert_int_equal(S_be(p + 4, 4), 2);
	assert_int_equal(S_be(p + 8, 4), 1);
	assert_int_equal(S_be(p + 12, 4), 1);
	assert_int_equal(S_be(p + 16, 2), strlen(alias));
	assert_memory_equal(p + 18, alias, strlen(alias));
	p += 18 + strlen(alias) + 8; /* the date */
	n = S_be(p, 4);
	/* EncryptedPrivateKeyInfo { { 1.3.6.1.4.1.42.2.17.1.1, NULL }, OCTET STRING } */
	q = p + 4;
	sig = d2i_X509_SIG(NULL, &q, (long)n);
	assert_non_null(sig);
	assert_ptr_equal(q, p + 4 + n);
	X509_SIG_get0(sig, &alg, &oct);
	X509_ALGOR_get0(&obj, &ptype, NULL, alg);
	assert_int_equal(OBJ_obj2txt(oid, sizeof(oid), obj, 1), 23);
	assert_string_equal(oid, "1.3.6.1.4.1.42.2.17.1.1");
	assert_int_equal(ptype, V_ASN1_NULL);
	enc = ASN1_STRING_get0_data(oct);
	enc_len = (size_t)ASN1_STRING_length(oct);
	assert_true(enc_len > 40);
	ncert = (int)S_be(p + 4 + n, 4);
	assert_int_equal(S_be(p + 4 + n + 4, 2), 5);
	assert_memory_equal(p + 4 + n + 6, "X.509", 5);
	/* recover the key */
	for (i = 0, pwlen = 0; key_pass[i]; i++, pwlen += 2)
		pw[pwlen] = 0, pw[pwlen + 1] = (unsigned char)key_pass[i];
	plain = OPENSSL_malloc(enc_len);
	assert_non_null(plain);
	memcpy(d, enc, 20);
	for (i = 0; i < enc_len - 40; i++) {
		if (i % 20 == 0)
			S_sha1_parts(d, pw, pwlen, d, 20, "", 0);
		plain[i] = enc[20 + i] ^ d[i % 20];
	}
	S_sha1_parts(d, pw, pwlen, plain, enc_len - 40, "", 0);
	assert_memory_equal(d, enc + enc_len - 20, 20);
	q = plain;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)(enc_len - 40));
	assert_non_null(p8);
	key = EVP_PKCS82PKEY(p8);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_eq(key, want_key), 1);
	EVP_PKEY_free(key);
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_clear_free(plain, enc_len);
	X509_SIG_free(sig);
	return ncert;
}

struct S_jks_case {
	const char *fixture, *alias, *want_alias, *key_pass, *store_pass;
};

/* keytool lists it, converts it to PKCS#12, and openssl finds the key. */
static void S_jks_keytool(const struct S_jks_case *tc)
{
	char jks[256], p12[256], log[256];
	char *list[] = {"keytool", "-list", "-v", "-keystore", jks, "-storepass",
			(char *)tc->store_pass, "-storetype", "JKS", NULL};
	char *convert[] = {"keytool", "-importkeystore", "-srckeystore", jks,
			   "-srcstoretype", "JKS", "-srcstorepass",
			   (char *)tc->store_pass, "-srcalias",
			   /* as the user typed it: keytool lower-cases it */
			   (char *)(tc->alias ? tc->alias : tc->want_alias),
			   "-srckeypass", (char *)tc->key_pass,
			   "-destkeystore", p12, "-deststoretype", "PKCS12",
			   "-deststorepass", "dest-pass", "-destkeypass", "dest-pass",
			   "-noprompt", NULL};
	struct tv_secbuf *out = NULL;
	struct S_fixture fx;
	char want[256], *text;

	S_fixture_load(&fx, tc->fixture);
	assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, fx.chain, tc->alias,
				      tc->key_pass, strlen(tc->key_pass),
				      tc->store_pass, strlen(tc->store_pass)),
			 TV_OK);
	snprintf(want, sizeof(want), "%s.jks", tc->fixture);
	S_write_file(S_path(jks, sizeof(jks), want), out);
	snprintf(want, sizeof(want), "%s-from-jks.p12", tc->fixture);
	S_path(p12, sizeof(p12), want);
	S_path(log, sizeof(log), "keytool.log");

	text = S_run_ok(log, list);
	S_assert_has(text, "Your keystore contains 1 entry");
	snprintf(want, sizeof(want), "Alias name: %s\n", tc->want_alias);
	S_assert_has(text, want);
	S_assert_has(text, "Entry type: PrivateKeyEntry");
	snprintf(want, sizeof(want), "Certificate chain length: %d\n",
		 1 + S_chain_len(&fx));
	S_assert_has(text, want);
	free(text);

	free(S_run_ok(log, convert));
	S_p12_dump(p12, "dest-pass", &fx);
	tv_secbuf_free(out);
	S_fixture_release(&fx);
}

static void test_jks_keytool(void **state)
{
	static const struct S_jks_case cases[] = {
		/* keytool finds the entry only under the lower-cased alias */
		{"rsa2048", "Web-\xc3\x89t\xc3\xa9", "web-\xc3\xa9t\xc3\xa9",
		 TVT_PASS, TVT_PASS},
		/* no alias: the CN */
		{"p256", NULL, "p256.fixture.test", TVT_PASS, TVT_PASS},
		/* key and store passwords differ; a non-ASCII key password */
		{"p384", "p384", "p384", TVT_UTF8_PASS, "store-pass-384"},
		{"ed25519", "ed", "ed", TVT_PASS, TVT_PASS},
		{"leaf", "leaf", "leaf", "key-pass", "store-pass"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		S_jks_keytool(&cases[i]);
}

/* The store digest is checked: a wrong store password fails. */
static void test_jks_wrong_store_password(void **state)
{
	char jks[256], log[256], *text;
	char *list[] = {"keytool", "-list", "-keystore", jks, "-storepass",
			"not-the-password", "-storetype", "JKS", NULL};
	struct tv_secbuf *out = NULL;
	struct S_fixture fx;
	size_t len;

	(void)state;
	S_fixture_load(&fx, "p256");
	assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, NULL, "a", TVT_PASS,
				      strlen(TVT_PASS), TVT_PASS, strlen(TVT_PASS)),
			 TV_OK);
	S_write_file(S_path(jks, sizeof(jks), "wrong.jks"), out);
	assert_int_not_equal(S_run(S_path(log, sizeof(log), "wrong.log"), list), 0);
	text = (char *)tvt_read_file(log, &len);
	S_assert_has(text, "Keystore was tampered with, or password was incorrect");
	free(text);
	tv_secbuf_free(out);
	S_fixture_release(&fx);
}

/* Our own reading of the format, for every key type and edge case. */
static void test_jks_layout(void **state)
{
	static const char *const names[] = {"rsa2048", "rsa4096", "p256", "p384",
					    "p521", "ed25519", "leaf"};
	struct tv_secbuf *out;
	struct S_fixture fx;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		S_fixture_load(&fx, names[i]);
		out = NULL;
		assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, fx.chain,
					      "MiXed", "kp", 2, "sp", 2), TV_OK);
		assert_int_equal(S_jks_decode(out, "mixed", "kp", "sp", fx.key),
				 fx.chain ? 2 : 1);
		tv_secbuf_free(out);
		/* empty passwords are passwords too */
		out = NULL;
		assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, fx.chain,
					      "a", "", 0, NULL, 0), TV_OK);
		assert_int_equal(S_jks_decode(out, "a", "", "", fx.key),
				 fx.chain ? 2 : 1);
		tv_secbuf_free(out);
		S_fixture_release(&fx);
	}
}

static void test_jks_refusals(void **state)
{
	static const char *const unsupported[] = {"rsa1024", "dsa2048",
						  "secp256k1", "ed448"};
	char long_alias[TV_JKS_MAX_ALIAS + 2];
	struct tv_secbuf *out = NULL;
	struct S_fixture fx;
	X509 *other;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		S_fixture_load(&fx, unsupported[i]);
		assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, NULL, "a", "k",
					      1, "s", 1), TV_ERR_INVALID);
		S_fixture_release(&fx);
	}
	S_fixture_load(&fx, "p256");
	other = tvt_fixture_cert("p384");
	assert_int_equal(tv_jks_write(&out, fx.key, other, NULL, "a", "k", 1, "s", 1),
			 TV_ERR_INVALID);
	assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, NULL, "\xe2\x82", "k",
				      1, "s", 1), TV_ERR_INVALID);
	memset(long_alias, 'a', sizeof(long_alias) - 1);
	long_alias[sizeof(long_alias) - 1] = 0;
	assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, NULL, long_alias, "k",
				      1, "s", 1), TV_ERR_INVALID);
	assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, NULL, "a", "k\0", 2,
				      "s", 1), TV_ERR_INVALID);
	assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, NULL, "a", "k", 1,
				      "\xff", 1), TV_ERR_INVALID);
	assert_null(out);
	/* a supplementary character in the alias: a surrogate pair in modified
	 * UTF-8 (ED A0 BD ED B8 80 for U+1F600) */
	assert_int_equal(tv_jks_write(&out, fx.key, fx.leaf, NULL,
				      "A\xf0\x9f\x98\x80", "k", 1, "s", 1), TV_OK);
	assert_int_equal(S_jks_decode(out, "a\xed\xa0\xbd\xed\xb8\x80", "k", "s",
				      fx.key), 1);
	tv_secbuf_free(out);
	X509_free(other);
	S_fixture_release(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p12_round_trip),
		cmocka_unit_test(test_p12_empty_and_utf8_passphrase),
		cmocka_unit_test(test_p12_refusals),
		cmocka_unit_test(test_pkcs8_pem),
		cmocka_unit_test(test_safe_label),
		cmocka_unit_test(test_pem_zip),
		cmocka_unit_test(test_jks_layout),
		cmocka_unit_test(test_jks_refusals),
		cmocka_unit_test(test_jks_keytool),
		cmocka_unit_test(test_jks_wrong_store_password),
	};

	return cmocka_run_group_tests(tests, S_setup, S_teardown);
}
