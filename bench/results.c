/*
 * DESIGN: rows are collected as the sections run and printed once at the
 * end, as one table and as the same content in JSON. A row's ratio is the
 * median of its per-run ratios figure/baseline (the two are measured back
 * to back in each run, so the ratio of one run is the fairest comparison
 * the noise allows); the baseline column is the median of the baselines.
 * Ratios always read "figure / baseline": above 1 is better for rates
 * (items/s, requests/s) and worse for times.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_ROWS 96

static struct tvb_row *S_rows[S_MAX_ROWS];
static size_t S_n_rows;

struct tvb_row *tvb_row(const char *section, const char *name, const char *unit,
			const char *baseline_name)
{
	struct tvb_row *r = tvb_row_find(section, name);

	if (r)
		return r;
	if (S_n_rows == S_MAX_ROWS)
		tvb_die("too many rows");
	r = calloc(1, sizeof(*r));
	if (!r)
		tvb_die("out of memory");
	snprintf(r->section, sizeof(r->section), "%s", section);
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	snprintf(r->baseline_name, sizeof(r->baseline_name), "%s",
		 baseline_name ? baseline_name : "");
	S_rows[S_n_rows++] = r;
	return r;
}

struct tvb_row *tvb_row_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < S_n_rows; i++)
		if (!strcmp(S_rows[i]->section, section) && !strcmp(S_rows[i]->name, name))
			return S_rows[i];
	return NULL;
}

void tvb_row_add(struct tvb_row *r, double figure)
{
	if (r->n_fig < TVB_MAX_RUNS)
		r->fig[r->n_fig++] = figure;
}

void tvb_row_add_base(struct tvb_row *r, double baseline)
{
	if (r->n_base < TVB_MAX_RUNS)
		r->base[r->n_base++] = baseline;
}

void tvb_row_target(struct tvb_row *r, enum tvb_target_kind kind, double value)
{
	r->target = kind;
	r->target_value = value;
}

void tvb_rows_free(void)
{
	size_t i;

	for (i = 0; i < S_n_rows; i++)
		free(S_rows[i]);
	S_n_rows = 0;
}

/* The median of the per-run ratios (runs paired by index); 0 if none. */
static double S_ratio(const struct tvb_row *r)
{
	double v[TVB_MAX_RUNS];
	size_t i, n = r->n_fig < r->n_base ? r->n_fig : r->n_base;

	for (i = 0; i < n; i++)
		v[i] = r->base[i] != 0 ? r->fig[i] / r->base[i] : 0;
	return tvb_median(v, n);
}

static bool S_has_base(const struct tvb_row *r)
{
	return r->n_base > 0;
}

static void S_target_text(char *out, size_t size, const struct tvb_row *r)
{
	switch (r->target) {
	case TVB_TARGET_RATIO_MIN:
		snprintf(out, size, "ratio >= %.2f", r->target_value);
		break;
	case TVB_TARGET_FIGURE_MAX:
		snprintf(out, size, "< %g %s", r->target_value, r->unit);
		break;
	default:
		out[0] = '\0';
	}
}

static int S_target_met(const struct tvb_row *r)
{
	switch (r->target) {
	case TVB_TARGET_RATIO_MIN:
		return S_ratio(r) >= r->target_value;
	case TVB_TARGET_FIGURE_MAX:
		return tvb_median(r->fig, r->n_fig) < r->target_value;
	default:
		return -1;
	}
}

static void S_num(char *out, size_t size, double v)
{
	double a = v < 0 ? -v : v;

	if (a >= 1000)
		snprintf(out, size, "%.0f", v);
	else if (a >= 100)
		snprintf(out, size, "%.1f", v);
	else if (a >= 1)
		snprintf(out, size, "%.2f", v);
	else
		snprintf(out, size, "%.3f", v);
}

void tvb_machine_get(struct tvb_machine *m)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(m, 0, sizeof(*m));
	snprintf(m->cpu, sizeof(m->cpu), "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			colon += strspn(colon + 1, " \t") + 1;
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(m->cpu, sizeof(m->cpu), "%s", colon);
			break;
		}
	}
	if (f)
		fclose(f);
	m->cores = n > 0 ? (unsigned)n : 1;
	gmtime_r(&now, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(m->openssl, sizeof(m->openssl), "%s", OpenSSL_version(OPENSSL_VERSION));
	if (uname(&u) == 0) {
		/* fields can be long; a cut kernel line is fine, so the return
		 * value only tells whether it was cut */
		int w = snprintf(m->kernel, sizeof(m->kernel), "%.20s %.50s %.20s", u.sysname,
				 u.release, u.machine);

		if (w < 0)
			m->kernel[0] = '\0';
	}
}

static void S_print_row(const struct tvb_row *r)
{
	char med[32], mn[32], mx[32], base[32] = "-", ratio[32] = "-", target[64];
	int met;

	S_num(med, sizeof(med), tvb_median(r->fig, r->n_fig));
	S_num(mn, sizeof(mn), tvb_min(r->fig, r->n_fig));
	S_num(mx, sizeof(mx), tvb_max(r->fig, r->n_fig));
	if (S_has_base(r)) {
		S_num(base, sizeof(base), tvb_median(r->base, r->n_base));
		snprintf(ratio, sizeof(ratio), "%.3f", S_ratio(r));
	}
	S_target_text(target, sizeof(target), r);
	met = S_target_met(r);
	printf("%-56.56s %-7s %9s %9s %9s %9s %7s  %s%s\n", r->name, r->unit, med, mn, mx, base,
	       ratio, target, met < 0 ? "" : met ? "  met" : "  MISSED");
}

/* Index of the first row whose field (section or baseline name) equals
 * that of row i: rows are grouped by first appearance. */
static size_t S_first(size_t i, bool baseline)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (!strcmp(baseline ? S_rows[k]->baseline_name : S_rows[k]->section,
			    baseline ? S_rows[i]->baseline_name : S_rows[i]->section))
			return k;
	return i;
}

static void S_print_table(const struct tvb_cfg *cfg, const struct tvb_machine *m, double secs)
{
	size_t i, k;
	bool first = true;

	printf("tlsvault bench, %s, mode %s, %d run(s) per row, %.0f s\n", m->date, cfg->mode,
	       cfg->runs, secs);
	printf("machine: %s, %u cores, %s, %s\n", m->cpu, m->cores, m->kernel, m->openssl);
	printf("median/min/max over runs; baseline = median of the same-run baselines;\n"
	       "ratio = median of per-run figure/baseline (above 1: faster for rates, slower "
	       "for times)\n\n");
	printf("%-56s %-7s %9s %9s %9s %9s %7s  %s\n", "row", "unit", "median", "min", "max",
	       "baseline", "ratio", "target");
	for (i = 0; i < S_n_rows; i++) {
		if (S_first(i, false) != i)
			continue;
		printf("-- %s\n", S_rows[i]->section);
		for (k = i; k < S_n_rows; k++)
			if (!strcmp(S_rows[k]->section, S_rows[i]->section))
				S_print_row(S_rows[k]);
	}
	printf("\nbaselines:");
	for (i = 0; i < S_n_rows; i++) {
		if (!S_has_base(S_rows[i]) || S_first(i, true) != i)
			continue;
		printf("%s %s", first ? "" : ";", S_rows[i]->baseline_name);
		first = false;
	}
	printf("\n");
}

static json_t *S_array(const double *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static void S_write_json(const struct tvb_cfg *cfg, const struct tvb_machine *m, double secs)
{
	json_t *root, *rows = json_array();
	size_t i;
	char *text;

	for (i = 0; i < S_n_rows; i++) {
		const struct tvb_row *r = S_rows[i];
		char target[64];
		json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:f,s:f,s:o}", "section", r->section,
				      "name", r->name, "unit", r->unit, "median",
				      tvb_median(r->fig, r->n_fig), "min", tvb_min(r->fig, r->n_fig),
				      "max", tvb_max(r->fig, r->n_fig), "runs",
				      S_array(r->fig, r->n_fig));

		if (S_has_base(r)) {
			json_object_set_new(o, "baseline",
					    json_pack("{s:s,s:f,s:o}", "name", r->baseline_name,
						      "median", tvb_median(r->base, r->n_base),
						      "runs", S_array(r->base, r->n_base)));
			json_object_set_new(o, "ratio", json_real(S_ratio(r)));
		}
		S_target_text(target, sizeof(target), r);
		if (target[0])
			json_object_set_new(o, "target", json_pack("{s:s,s:b}", "text", target,
								   "met", S_target_met(r) == 1));
		if (r->note[0])
			json_object_set_new(o, "note", json_string(r->note));
		json_array_append_new(rows, o);
	}
	root = json_pack("{s:s,s:{s:s,s:i,s:s,s:s},s:s,s:i,s:f,s:o}", "date", m->date, "machine",
			 "cpu", m->cpu, "cores", (int)m->cores, "kernel", m->kernel, "openssl",
			 m->openssl, "mode", cfg->mode, "runs", cfg->runs, "seconds", secs, "rows",
			 rows);
	text = json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
	json_decref(root);
	if (!text)
		tvb_die("cannot encode the results");
	tvb_write_file(cfg->json_path, text, strlen(text), 0644);
	free(text);
}

void tvb_report(const struct tvb_cfg *cfg, const struct tvb_machine *m, double seconds)
{
	S_print_table(cfg, m, seconds);
	if (cfg->json_path) {
		S_write_json(cfg, m, seconds);
		printf("results: %s\n", cfg->json_path);
	}
	fflush(stdout);
}
