/*
 * tlsvault-bench - the benchmarks of `make bench` (issue 9), one table.
 *
 * DESIGN: see bench.h. Modes: full (the default; `make bench`, under ten
 * minutes on two cores once the caches exist), quick (BENCH_QUICK=1 or
 * --mode quick: smaller corpora and shorter wrk runs, under two minutes)
 * and tiny (--mode tiny: 10 items, one run, every section once; what
 * `make test` runs to prove the bench works, with no timing asserted).
 * Every run of every row produces a figure and, where there is one, its
 * baseline, measured back to back.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TV_BENCH_TLSVAULTD
#define TV_BENCH_TLSVAULTD "build/tlsvaultd"
#endif
#ifndef TV_BENCH_CACHE
#define TV_BENCH_CACHE "build/bench-cache"
#endif

static const char S_usage[] =
	"usage: tlsvault-bench [--mode full|quick|tiny] [--json PATH] [--cache DIR]\n"
	"                      [--tlsvaultd PATH] [--only SECTIONS]\n"
	"\n"
	"Runs the benchmarks and prints one table (see docs/PERFORMANCE.md).\n"
	"\n"
	"  --mode M         full (default), quick (also BENCH_QUICK=1) or tiny\n"
	"  --json PATH      also write the results as JSON\n"
	"  --cache DIR      corpora and the seeded inventory (default " TV_BENCH_CACHE ")\n"
	"  --tlsvaultd P    the server to measure (default " TV_BENCH_TLSVAULTD ")\n"
	"  --only LIST      comma-separated sections: kdf, breakdown, import, accept,\n"
	"                   latency, inventory (default: all)\n";

static const char *const S_sections[] = { "kdf",    "breakdown", "import",
					  "accept", "latency",   "inventory" };

static char S_tmp_root[256];

const struct tvb_corpus *tvb_corpus(struct tvb_ctx *x, enum tvb_profile p)
{
	const struct tvb_cfg *cfg = x->cfg;
	/* the breakdown times breakdown_items after one warm-up item */
	size_t n = cfg->items > cfg->breakdown_items + 1 ? cfg->items : cfg->breakdown_items + 1;

	if ((unsigned)p >= TVB_PROFILE_COUNT)
		tvb_die("no corpus %d", (int)p);
	if (!x->loaded[p]) {
		tvb_corpus_load(&x->corpora[p], cfg, p, n);
		x->loaded[p] = true;
	}
	return &x->corpora[p];
}

/* Ctrl-C or a kill: stop the servers (they would also die with us, by
 * PR_SET_PDEATHSIG), remove the scratch directory with rm(1) (fork, exec
 * and waitpid are async-signal-safe; nftw is not), and leave. */
static void S_on_signal(int sig)
{
	static const char msg[] = "\ntlsvault-bench: interrupted\n";
	pid_t pid;

	tvb_servers_kill_all();
	if (S_tmp_root[0] && (pid = fork()) == 0) {
		execl("/bin/rm", "rm", "-rf", "--", S_tmp_root, (char *)NULL);
		_exit(127);
	} else if (S_tmp_root[0] && pid > 0) {
		waitpid(pid, NULL, 0);
	}
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(128 + sig);
}

static void S_at_exit(void)
{
	tvb_servers_kill_all();
	if (S_tmp_root[0])
		tvb_rmtree(S_tmp_root);
}

static void S_mode(struct tvb_cfg *c, const char *mode)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	c->cores = n > 0 ? (unsigned)n : 1;
	c->job_items = 100;
	c->accept_posts = 50;
	c->inventory = 100000;
	if (!strcmp(mode, "full")) {
		/* issue 9's sizes: 2,000 keystores in 20 jobs of 100, wrk for 10 s,
		 * 50 accepts, 100,000 certificates */
		c->mode = "full";
		c->runs = 3;
		c->items = 2000;
		c->breakdown_items = 300;
		c->wrk_seconds = 10;
		c->inventory_rounds = 200;
	} else if (!strcmp(mode, "quick")) {
		/* under two minutes on two idle cores, caches included */
		c->mode = "quick";
		c->runs = 3;
		c->items = 200;
		c->breakdown_items = 60;
		c->wrk_seconds = 2;
		c->accept_posts = 20;
		c->inventory = 20000;
		c->inventory_rounds = 100;
	} else if (!strcmp(mode, "tiny")) {
		c->mode = "tiny";
		c->runs = 1;
		c->items = 10;
		c->job_items = 5;
		c->breakdown_items = 10;
		c->wrk_seconds = 1;
		c->accept_posts = 3;
		c->inventory = 1000;
		c->inventory_rounds = 10;
	} else {
		fputs(S_usage, stderr);
		exit(2);
	}
}

static bool S_wanted(const char *only, const char *section)
{
	size_t len = strlen(section);
	const char *p = only;

	if (!only)
		return true;
	while ((p = strstr(p, section))) {
		if ((p == only || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return true;
		p += len;
	}
	return false;
}

static void S_check_only(const char *only)
{
	char buf[256], *tok, *save = NULL;
	size_t i;

	if (!only)
		return;
	snprintf(buf, sizeof(buf), "%s", only);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(S_sections) / sizeof(S_sections[0]); i++)
			if (!strcmp(tok, S_sections[i]))
				break;
		if (i == sizeof(S_sections) / sizeof(S_sections[0])) {
			fprintf(stderr, "tlsvault-bench: unknown section '%s'\n%s", tok, S_usage);
			exit(2);
		}
	}
}

static void S_parse(struct tvb_cfg *cfg, const char **only, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "json", required_argument, NULL, 'j' },
		{ "cache", required_argument, NULL, 'c' },
		{ "tlsvaultd", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *quick = getenv("BENCH_QUICK");
	const char *mode = quick && *quick && strcmp(quick, "0") ? "quick" : "full";
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cache_dir = TV_BENCH_CACHE;
	cfg->tlsvaultd = TV_BENCH_TLSVAULTD;
	*only = NULL;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mode = optarg; break;
		case 'j': cfg->json_path = optarg; break;
		case 'c': cfg->cache_dir = optarg; break;
		case 't': cfg->tlsvaultd = optarg; break;
		case 'o': *only = optarg; break;
		case 'h': fputs(S_usage, stdout); exit(0);
		default: fputs(S_usage, stderr); exit(2);
		}
	}
	if (optind != argc) {
		fputs(S_usage, stderr);
		exit(2);
	}
	S_mode(cfg, mode);
	S_check_only(*only);
	if (access(cfg->tlsvaultd, X_OK) != 0)
		tvb_die("no server binary at %s (build it, or give --tlsvaultd)", cfg->tlsvaultd);
}

/* Run one section (when wanted) and say how long it took, caches included. */
static void S_section(struct tvb_ctx *x, const char *name, bool wanted,
		      void (*run)(struct tvb_ctx *))
{
	double t0 = tvb_now();

	if (!wanted)
		return;
	run(x);
	tvb_note("section %s took %.0f s", name, tvb_now() - t0);
}

int main(int argc, char **argv)
{
	struct tvb_machine machine;
	struct tvb_cfg cfg;
	struct tvb_ctx x;
	const char *only;
	double t0 = tvb_now();
	int p;

	S_parse(&cfg, &only, argc, argv);
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		tvb_die("cannot initialise libsodium or libcurl");
	snprintf(S_tmp_root, sizeof(S_tmp_root), "/tmp/tlsvault-bench-XXXXXX");
	if (!mkdtemp(S_tmp_root))
		tvb_die("cannot make a scratch directory");
	snprintf(cfg.tmp_root, sizeof(cfg.tmp_root), "%s", S_tmp_root);
	atexit(S_at_exit);
	signal(SIGINT, S_on_signal);
	signal(SIGTERM, S_on_signal);
	signal(SIGHUP, S_on_signal);
	tvb_machine_get(&machine);
	tvb_note("%s, %u cores; mode %s, %d run(s) per row", machine.cpu, cfg.cores, cfg.mode,
		 cfg.runs);
	memset(&x, 0, sizeof(x));
	x.cfg = &cfg;
	/* the breakdown prices its bounds with the KDF section's compression cost */
	S_section(&x, "kdf", S_wanted(only, "kdf") || S_wanted(only, "breakdown"),
		  tvb_section_kdf);
	S_section(&x, "breakdown", S_wanted(only, "breakdown"), tvb_section_breakdown);
	S_section(&x, "import", S_wanted(only, "import"), tvb_section_import);
	S_section(&x, "accept", S_wanted(only, "accept"), tvb_section_accept);
	S_section(&x, "latency", S_wanted(only, "latency"), tvb_section_latency);
	S_section(&x, "inventory", S_wanted(only, "inventory"), tvb_section_inventory);
	tvb_report(&cfg, &machine, tvb_now() - t0);
	for (p = 0; p < TVB_PROFILE_COUNT; p++)
		if (x.loaded[p])
			tvb_corpus_release(&x.corpora[p]);
	tvb_rows_free();
	curl_global_cleanup();
	return 0;
}
