/*
 * DESIGN: import end to end, the way a client sees it. Each run starts a
 * fresh vault and server (so every run imports into an empty vault, and
 * VmHWM is this run's), uploads the corpus root as a trusted CA, builds
 * every request body first (base64 and sealed passwords, as the CLI does
 * before it sends), then posts the jobs one after another on one
 * keep-alive connection and waits for each with the waitSeconds long-poll.
 * The clock runs from the first POST to the moment the last job is seen
 * final; every item must be IMPORTED. The baseline (ceiling.c) runs on the
 * same keystores with as many threads as the server has workers, in the
 * same run, just before.
 *
 * Accept latency: 100-item POSTs, one after another, each timed from the
 * first byte sent to the 201 received, on a server whose workers are busy
 * importing what the earlier posts queued (that is when a client posts).
 * Baseline: the same bodies posted to the bare libmicrohttpd server, which
 * reads them and answers 201 without parsing or storing anything.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct S_bodies {
	char **text;
	size_t *len;
	size_t n;
};

static void S_bodies_make(struct S_bodies *b, const struct tvb_server *s,
			  const struct tvb_corpus *c, size_t n_bodies, size_t per_body,
			  const unsigned char *seal_pk)
{
	size_t i;

	b->n = n_bodies;
	b->text = calloc(n_bodies, sizeof(*b->text));
	b->len = calloc(n_bodies, sizeof(*b->len));
	if (!b->text || !b->len)
		tvb_die("out of memory");
	for (i = 0; i < n_bodies; i++)
		b->text[i] = tvb_import_body(s, c, (i * per_body) % c->n, per_body, seal_pk,
					     &b->len[i]);
}

static void S_bodies_free(struct S_bodies *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->text[i]);
	free(b->text);
	free(b->len);
	memset(b, 0, sizeof(*b));
}

/* A started server with the corpus root trusted; *idle_mib its VmHWM
 * before any request. dir: where the vault goes (NULL: the scratch dir). */
static struct tvb_http *S_fresh_server(struct tvb_server *s, const struct tvb_cfg *cfg,
				       const struct tvb_corpus *c, double *idle_mib,
				       const char *dir)
{
	struct tvb_http *h;

	tvb_server_init(s, cfg, dir);
	tvb_server_start(s, cfg);
	if (idle_mib)
		*idle_mib = tvb_vmhwm_mib(s->pid);
	h = tvb_http_new(s->port, s->api_key);
	tvb_server_fetch_dek(s, h);
	tvb_server_trust(h, c->root_pem);
	return h;
}

/* One end-to-end run of corpus c; items/s, the server's VmHWM, and the
 * CPU the whole server spent per item (all threads: HTTP, workers,
 * lease renewal). With tmpfs the vault lives in /dev/shm, where fsync
 * costs nothing: the difference to the same run on disk is what
 * durability costs. */
static double S_e2e_run(const struct tvb_cfg *cfg, const struct tvb_corpus *c, double *idle_mib,
			double *peak_mib, double *cpu_ms_per_item, bool tmpfs)
{
	size_t n_jobs = cfg->items / cfg->job_items, i;
	char shm[64] = "/dev/shm/tlsvault-bench-XXXXXX", dir[80];
	struct S_bodies bodies;
	struct tvb_server s;
	struct tvb_http *h;
	char **ids = calloc(n_jobs, sizeof(*ids));
	double t0, secs, cpu0;

	if (!ids || n_jobs == 0)
		tvb_die("e2e: bad job count");
	if (tmpfs) {
		if (!mkdtemp(shm))
			tvb_die("e2e: cannot make a directory in /dev/shm");
		snprintf(dir, sizeof(dir), "%s/vault", shm);
	}
	h = S_fresh_server(&s, cfg, c, idle_mib, tmpfs ? dir : NULL);
	S_bodies_make(&bodies, &s, c, n_jobs, cfg->job_items, NULL);
	cpu0 = tvb_threads_cpu_ms(s.pid, "");
	t0 = tvb_now();
	for (i = 0; i < n_jobs; i++)
		ids[i] = tvb_post_job(h, bodies.text[i], bodies.len[i], NULL);
	for (i = 0; i < n_jobs; i++)
		tvb_wait_job(h, ids[i], cfg->job_items, NULL, 0);
	secs = tvb_now() - t0;
	*cpu_ms_per_item = (tvb_threads_cpu_ms(s.pid, "") - cpu0) /
			   (double)(n_jobs * cfg->job_items);
	*peak_mib = tvb_vmhwm_mib(s.pid);
	for (i = 0; i < n_jobs; i++)
		free(ids[i]);
	free(ids);
	S_bodies_free(&bodies);
	tvb_http_free(h);
	tvb_server_cleanup(&s, false);
	if (tmpfs)
		tvb_rmtree(shm);
	return (double)(n_jobs * cfg->job_items) / secs;
}

void tvb_section_import(struct tvb_ctx *x)
{
	const struct tvb_cfg *cfg = x->cfg;
	char sec[96], sec_cpu[96];
	struct tvb_row *idle = tvb_row("memory (VmHWM of tlsvaultd)", "idle, after start", "MiB",
				       NULL);
	struct tvb_row *peak = tvb_row("memory (VmHWM of tlsvaultd)",
				       "peak during the OpenSSL default RSA import", "MiB", NULL);
	int r, p;

	snprintf(sec, sizeof(sec), "import end to end (HTTP, %zu jobs of %zu, %u workers)",
		 cfg->items / cfg->job_items, cfg->job_items, cfg->cores);
	snprintf(sec_cpu, sizeof(sec_cpu),
		 "import CPU per item (whole server vs the stock pipeline's threads)");
	tvb_row_target(idle, TVB_TARGET_FIGURE_MAX, 20);
	tvb_row_target(peak, TVB_TARGET_FIGURE_MAX, 150);
	for (p = 0; p < TVB_PROFILE_COUNT; p++) {
		const struct tvb_corpus *c = tvb_corpus(x, (enum tvb_profile)p);
		struct tvb_row *row = tvb_row(sec, c->title, "items/s", "stock pipeline, same threads");
		struct tvb_row *shm = NULL, *cpu;
		char name[96];

		if (p == TVB_OPENSSL_RSA) {
			snprintf(name, sizeof(name), "%s, vault on tmpfs (no fsync)", c->title);
			shm = tvb_row(sec, name, "items/s", "stock pipeline, same threads");
		}
		snprintf(name, sizeof(name), "CPU per item, %s", c->title);
		cpu = tvb_row(sec_cpu, name, "ms", "stock pipeline CPU per item");

		/* issue 10's targets (issue 9 asked for 0.9x; these are stricter):
		 * 3x for the OpenSSL-default corpus (RSA and EC), 2x for keytool */
		tvb_row_target(row, TVB_TARGET_RATIO_MIN, p == TVB_KEYTOOL_RSA ? 2.0 : 3.0);
		for (r = 0; r < cfg->runs; r++) {
			double base_cpu = 0, ours_cpu = 0;
			double base = tvb_ceiling_run(c, cfg->items, cfg->cores, &base_cpu);
			double idle_mib = 0, peak_mib = 0;
			double ours = S_e2e_run(cfg, c, &idle_mib, &peak_mib, &ours_cpu, false);

			tvb_row_add(row, ours);
			tvb_row_add_base(row, base);
			tvb_row_add(cpu, ours_cpu);
			tvb_row_add_base(cpu, base_cpu);
			tvb_note("e2e run %d/%d %s: %.0f items/s (stock %.0f), VmHWM %.1f -> %.1f "
				 "MiB",
				 r + 1, cfg->runs, c->name, ours, base, idle_mib, peak_mib);
			if (p != TVB_OPENSSL_RSA)
				continue;
			tvb_row_add(idle, idle_mib);
			tvb_row_add(peak, peak_mib);
			/* the same run with the vault on tmpfs: what fsync costs */
			ours = S_e2e_run(cfg, c, &idle_mib, &peak_mib, &ours_cpu, true);
			tvb_row_add(shm, ours);
			tvb_row_add_base(shm, base);
			tvb_note("e2e run %d/%d %s on tmpfs: %.0f items/s", r + 1, cfg->runs,
				 c->name, ours);
		}
	}
}

/* Post every body to port (with api_key, or none for the bare server);
 * per-post seconds into secs. */
static void S_post_all(int port, const char *api_key, const struct S_bodies *b, double *secs,
		       bool expect_job)
{
	struct tvb_http *h = tvb_http_new(port, api_key);
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (expect_job) {
			free(tvb_post_job(h, b->text[i], b->len[i], &secs[i]));
		} else {
			long st = tvb_http(h, "POST", "/outagedetection/v1/certificates/imports",
					   b->text[i], b->len[i], NULL, &secs[i]);

			if (st != 201)
				tvb_die("the bare server answered %ld", st);
		}
		secs[i] *= 1e3;
	}
	tvb_http_free(h);
}

/* The accept rows of one workload; figure and baseline per run. */
static void S_accept_rows(const char *sec, const char *what, const struct tvb_cfg *cfg,
			  const double *ours, const double *base)
{
	double o[2][TVB_MAX_RUNS * 64], b[2][TVB_MAX_RUNS * 64];
	char name[96];
	struct tvb_row *r;
	size_t n = cfg->accept_posts;

	if (n > sizeof(o[0]) / sizeof(o[0][0]))
		tvb_die("accept: too many posts");
	memcpy(o[0], ours, n * sizeof(double));
	memcpy(b[0], base, n * sizeof(double));
	snprintf(name, sizeof(name), "p50, %s", what);
	r = tvb_row(sec, name, "ms", "bare libmicrohttpd, same bodies");
	tvb_row_add(r, tvb_percentile(o[0], n, 50));
	tvb_row_add_base(r, tvb_percentile(b[0], n, 50));
	snprintf(name, sizeof(name), "p99, %s", what);
	r = tvb_row(sec, name, "ms", "bare libmicrohttpd, same bodies");
	tvb_row_target(r, TVB_TARGET_FIGURE_MAX, 50);
	tvb_row_add(r, tvb_percentile(o[0], n, 99));
	tvb_row_add_base(r, tvb_percentile(b[0], n, 99));
}

/*
 * One accept run on a fresh server. idle: the passwords are sealed to a
 * key the server does not hold, so every item fails at its first step
 * (unsealing) and the workers do next to nothing; the bodies are the same
 * size and are parsed, checked and committed the same way. Otherwise the
 * workers import what the posts queue, as in a real bulk import.
 */
static void S_accept_run(const struct tvb_cfg *cfg, const struct tvb_corpus *c,
			 struct tvb_bare *bare, bool idle, double *ours, double *base,
			 double *cpu_ours, double *cpu_base)
{
	unsigned char other_pk[32], other_sk[32];
	struct S_bodies bodies;
	struct tvb_server s;
	struct tvb_http *h = S_fresh_server(&s, cfg, c, NULL, NULL);
	double cpu0;

	crypto_box_keypair(other_pk, other_sk);
	sodium_memzero(other_sk, sizeof(other_sk));
	S_bodies_make(&bodies, &s, c, cfg->accept_posts, cfg->job_items,
		      idle ? other_pk : NULL);
	/* the CPU the HTTP threads spend per post, wherever the wall time goes */
	cpu0 = tvb_threads_cpu_ms(getpid(), "MHD-worker");
	S_post_all(tvb_bare_port(bare), NULL, &bodies, base, false);
	*cpu_base = (tvb_threads_cpu_ms(getpid(), "MHD-worker") - cpu0) / (double)bodies.n;
	cpu0 = tvb_threads_cpu_ms(s.pid, "MHD-worker");
	S_post_all(s.port, s.api_key, &bodies, ours, true);
	*cpu_ours = (tvb_threads_cpu_ms(s.pid, "MHD-worker") - cpu0) / (double)bodies.n;
	S_bodies_free(&bodies);
	tvb_http_free(h);
	tvb_server_cleanup(&s, false);
}

void tvb_section_accept(struct tvb_ctx *x)
{
	const struct tvb_cfg *cfg = x->cfg;
	const struct tvb_corpus *c = tvb_corpus(x, TVB_OPENSSL_RSA);
	const char *sec = "accept latency (POST of 100 items to its 201)";
	struct tvb_bare *bare = tvb_bare_start(cfg->cores);
	double *ours = calloc(cfg->accept_posts, sizeof(double));
	double *base = calloc(cfg->accept_posts, sizeof(double));
	struct tvb_row *cpu_row;
	char what[2][64];
	int r, k;

	if (!ours || !base)
		tvb_die("out of memory");
	snprintf(what[0], sizeof(what[0]), "%zu posts, workers idle", cfg->accept_posts);
	snprintf(what[1], sizeof(what[1]), "%zu posts, workers importing", cfg->accept_posts);
	cpu_row = tvb_row(sec, "HTTP threads' CPU per post, workers idle", "ms",
			  "bare libmicrohttpd, same bodies");
	for (r = 0; r < cfg->runs; r++) {
		for (k = 0; k < 2; k++) {
			double cpu_ours = 0, cpu_base = 0;

			S_accept_run(cfg, c, bare, k == 0, ours, base, &cpu_ours, &cpu_base);
			S_accept_rows(sec, what[k], cfg, ours, base);
			if (k == 0) {
				tvb_row_add(cpu_row, cpu_ours);
				tvb_row_add_base(cpu_row, cpu_base);
			}
			tvb_note("accept run %d/%d, %s: p50 %.1f ms p99 %.1f ms (bare %.1f / %.1f "
				 "ms)",
				 r + 1, cfg->runs, what[k],
				 tvb_percentile(ours, cfg->accept_posts, 50),
				 tvb_percentile(ours, cfg->accept_posts, 99),
				 tvb_percentile(base, cfg->accept_posts, 50),
				 tvb_percentile(base, cfg->accept_posts, 99));
		}
	}
	free(ours);
	free(base);
	tvb_bare_stop(bare);
}
