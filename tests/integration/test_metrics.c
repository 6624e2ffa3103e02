/*
 * Integration test of GET /metrics (issue 11): a known workload (imports
 * with known outcomes, failures with known reason codes, reads, 404s,
 * exports in two formats), then a scrape that a small Prometheus text-format
 * parser written here checks line by line (comment syntax, names, labels and
 * their escaping, values, every sample under a declared TYPE, histogram
 * buckets cumulative up to +Inf = _count), and counters that must equal the
 * work done exactly. Also: who may read /metrics.
 */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "importing.h"

#define PASS "fixture-pass"

/* ---------- a Prometheus text format (0.0.4) parser ---------- */

/* A violation fails the test, unless a test of the parser itself traps it. */
static jmp_buf S_trap_jb;
static bool S_trap;
#define S_FAIL(...)                              \
	do {                                     \
		if (S_trap)                      \
			longjmp(S_trap_jb, 1);   \
		fail_msg(__VA_ARGS__);           \
	} while (0)

struct S_sample {
	char name[128];
	char labels[768]; /* the label text between the braces, without le */
	char le[32];      /* histogram buckets: the le value, else "" */
	double value;
};

struct S_family {
	char name[128];
	char type[16];
	bool help, has_samples;
};

struct S_scrape {
	struct S_sample *s;
	size_t n, cap;
	struct S_family f[64];
	size_t nf;
};

static bool S_name_ok(const char *p, size_t len, bool metric)
{
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!(isalpha(c) || c == '_' || (metric && c == ':') || (i && isdigit(c))))
			return false;
	}
	return true;
}

static size_t S_name_len(const char *p, bool metric)
{
	size_t n = 0;

	while (isalnum((unsigned char)p[n]) || p[n] == '_' || (metric && p[n] == ':'))
		n++;
	return n;
}

static struct S_family *S_family(struct S_scrape *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nf; i++)
		if (!strcmp(m->f[i].name, name))
			return &m->f[i];
	return NULL;
}

/* The family a sample name belongs to (histogram suffixes stripped). */
static struct S_family *S_owner(struct S_scrape *m, const char *name, int line)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	struct S_family *f = S_family(m, name);
	char base[128];
	size_t i, n = strlen(name);

	if (f && strcmp(f->type, "histogram"))
		return f;
	for (i = 0; i < 3; i++) {
		size_t k = strlen(sfx[i]);

		if (n > k && !strcmp(name + n - k, sfx[i])) {
			snprintf(base, sizeof(base), "%.*s", (int)(n - k), name);
			f = S_family(m, base);
			if (f && !strcmp(f->type, "histogram"))
				return f;
		}
	}
	S_FAIL("line %d: sample %s has no # TYPE before it", line, name);
	return NULL;
}

/* A number as the format allows: a Go float, or +Inf, -Inf, NaN. */
static double S_number(const char *p, size_t len, int line)
{
	char buf[64], *end;
	double v;

	if (!len || len >= sizeof(buf))
		S_FAIL("line %d: empty or long value", line);
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (!strcmp(buf, "+Inf"))
		return INFINITY;
	if (!strcmp(buf, "-Inf"))
		return -INFINITY;
	if (!strcmp(buf, "NaN"))
		return NAN;
	if (!isdigit((unsigned char)buf[0]) && buf[0] != '-' && buf[0] != '+' && buf[0] != '.')
		S_FAIL("line %d: bad value '%s'", line, buf);
	v = strtod(buf, &end);
	if (*end || strchr(buf, 'x') || strchr(buf, 'X') || strstr(buf, "inf") ||
	    strstr(buf, "nan"))
		S_FAIL("line %d: bad value '%s'", line, buf);
	return v;
}

/* Parse {a="x",b="y"} at *pp: copy the labels but le into out, le into le. */
static void S_labels(const char **pp, char *out, size_t out_size, char *le, size_t le_size,
		     int line)
{
	const char *p = *pp + 1;
	char seen[16][64];
	size_t n_seen = 0, o = 0, i;

	out[0] = le[0] = '\0';
	while (*p != '}') {
		size_t nl = S_name_len(p, false);
		char value[512];
		size_t vl = 0;
		bool is_le;

		if (!S_name_ok(p, nl, false) || nl >= 64 || p[nl] != '=' || p[nl + 1] != '"')
			S_FAIL("line %d: bad label name or '=\"' missing", line);
		if (nl >= 2 && p[0] == '_' && p[1] == '_')
			S_FAIL("line %d: label names starting with __ are reserved", line);
		for (i = 0; i < n_seen; i++)
			if (strlen(seen[i]) == nl && !strncmp(seen[i], p, nl))
				S_FAIL("line %d: label %.*s twice", line, (int)nl, p);
		if (n_seen == 16)
			S_FAIL("line %d: too many labels", line);
		snprintf(seen[n_seen++], 64, "%.*s", (int)nl, p);
		is_le = nl == 2 && !strncmp(p, "le", 2);
		if (!is_le)
			o += (size_t)snprintf(out + o, out_size - o, "%s%.*s=\"", o ? "," : "",
					      (int)nl, p);
		p += nl + 2;
		while (*p != '"') {
			if (*p == '\0' || *p == '\n')
				S_FAIL("line %d: unterminated label value", line);
			if (*p == '\\') {
				if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
					S_FAIL("line %d: bad escape \\%c in a label value", line,
						 p[1]);
				if (vl + 2 >= sizeof(value))
					S_FAIL("line %d: label value too long", line);
				value[vl++] = *p++;
			}
			if (vl + 1 >= sizeof(value))
				S_FAIL("line %d: label value too long", line);
			value[vl++] = *p++;
		}
		value[vl] = '\0';
		p++;
		if (is_le)
			snprintf(le, le_size, "%s", value);
		else
			o += (size_t)snprintf(out + o, out_size - o, "%s\"", value);
		if (o >= out_size)
			S_FAIL("line %d: labels too long", line);
		if (*p == ',')
			p++;
		else if (*p != '}')
			S_FAIL("line %d: ',' or '}' expected after a label", line);
	}
	*pp = p + 1;
}

static void S_sample_line(struct S_scrape *m, const char *p, const char *eol, int line,
			  struct S_family **current)
{
	struct S_sample s;
	struct S_family *f;
	size_t nl = S_name_len(p, true), i;
	const char *v;

	memset(&s, 0, sizeof(s));
	if (!S_name_ok(p, nl, true) || nl >= sizeof(s.name))
		S_FAIL("line %d: bad metric name", line);
	memcpy(s.name, p, nl);
	p += nl;
	if (*p == '{')
		S_labels(&p, s.labels, sizeof(s.labels), s.le, sizeof(s.le), line);
	if (*p != ' ')
		S_FAIL("line %d: a space must follow the name or labels", line);
	v = ++p;
	while (p < eol && *p != ' ')
		p++;
	s.value = S_number(v, (size_t)(p - v), line);
	if (p < eol) { /* an optional timestamp: an integer */
		for (p++; p < eol; p++)
			if (!isdigit((unsigned char)*p) && *p != '-')
				S_FAIL("line %d: bad timestamp", line);
	}
	f = S_owner(m, s.name, line);
	if (*current != f && f->has_samples)
		S_FAIL("line %d: samples of %s are not together", line, f->name);
	*current = f;
	f->has_samples = true;
	if (!strcmp(f->type, "counter") && (strcmp(s.name, f->name) || s.value < 0 ||
					    strlen(s.name) < 6 ||
					    strcmp(s.name + strlen(s.name) - 6, "_total")))
		S_FAIL("line %d: counter %s must be name_total and not negative", line, s.name);
	if (!strcmp(f->type, "histogram") &&
	    (strlen(s.name) > 7 && !strcmp(s.name + strlen(s.name) - 7, "_bucket")) !=
		    (s.le[0] != '\0'))
		S_FAIL("line %d: le belongs on _bucket samples only", line);
	for (i = 0; i < m->n; i++)
		if (!strcmp(m->s[i].name, s.name) && !strcmp(m->s[i].labels, s.labels) &&
		    !strcmp(m->s[i].le, s.le))
			S_FAIL("line %d: series %s{%s} twice", line, s.name, s.labels);
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->s = realloc(m->s, m->cap * sizeof(*m->s));
		assert_non_null(m->s);
	}
	m->s[m->n++] = s;
}

static void S_comment(struct S_scrape *m, const char *p, const char *eol, int line,
		      struct S_family **current)
{
	bool help = !strncmp(p, "# HELP ", 7), type = !strncmp(p, "# TYPE ", 7);
	struct S_family *f;
	size_t nl;

	if (!help && !type)
		return; /* another comment: allowed, ignored */
	p += 7;
	nl = S_name_len(p, true);
	if (!S_name_ok(p, nl, true) || nl >= 128 || (p[nl] != ' ' && (type || p + nl != eol)))
		S_FAIL("line %d: bad metric name in a comment", line);
	f = NULL;
	for (size_t i = 0; i < m->nf; i++)
		if (strlen(m->f[i].name) == nl && !strncmp(m->f[i].name, p, nl))
			f = &m->f[i];
	if (!f) {
		assert_true(m->nf < 64);
		f = &m->f[m->nf++];
		memset(f, 0, sizeof(*f));
		memcpy(f->name, p, nl);
	}
	p += nl + (p + nl < eol);
	if (help) {
		if (f->help)
			S_FAIL("line %d: a second HELP for %s", line, f->name);
		f->help = true;
		for (; p < eol; p++)
			if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
				S_FAIL("line %d: bad escape in HELP", line);
			else if (*p == '\\')
				p++;
		return;
	}
	if (f->type[0])
		S_FAIL("line %d: a second TYPE for %s", line, f->name);
	if (f->has_samples)
		S_FAIL("line %d: TYPE of %s after its samples", line, f->name);
	if ((size_t)(eol - p) >= sizeof(f->type))
		S_FAIL("line %d: bad type", line);
	memcpy(f->type, p, (size_t)(eol - p));
	if (strcmp(f->type, "counter") && strcmp(f->type, "gauge") &&
	    strcmp(f->type, "histogram") && strcmp(f->type, "summary") &&
	    strcmp(f->type, "untyped"))
		S_FAIL("line %d: unknown type '%s'", line, f->type);
	*current = NULL;
}

/* Every series of every histogram: buckets ascending in le, cumulative,
 * ending with +Inf, which equals _count; _sum present. */
static void S_check_histograms(const struct S_scrape *m)
{
	size_t i, j;

	for (i = 0; i < m->n; i++) {
		const struct S_sample *c = &m->s[i];
		size_t nn = strlen(c->name);
		char base[128];
		double last_le = -INFINITY, last_v = 0;
		bool inf = false, sum = false;
		size_t buckets = 0;

		if (nn < 6 || strcmp(c->name + nn - 6, "_count"))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(nn - 6), c->name);
		if (!S_family((struct S_scrape *)m, base) ||
		    strcmp(S_family((struct S_scrape *)m, base)->type, "histogram"))
			continue;
		for (j = 0; j < m->n; j++) {
			const struct S_sample *b = &m->s[j];
			double le;

			if (strcmp(b->labels, c->labels))
				continue;
			if (!strncmp(b->name, base, strlen(base)) &&
			    !strcmp(b->name + strlen(base), "_sum"))
				sum = true;
			if (strncmp(b->name, base, strlen(base)) ||
			    strcmp(b->name + strlen(base), "_bucket"))
				continue;
			if (inf)
				S_FAIL("%s{%s}: a bucket after +Inf", base, c->labels);
			le = S_number(b->le, strlen(b->le), 0);
			if (!(le > last_le))
				S_FAIL("%s{%s}: le %s not ascending", base, c->labels, b->le);
			if (b->value < last_v)
				S_FAIL("%s{%s}: buckets not cumulative at le %s", base, c->labels,
					 b->le);
			last_le = le;
			last_v = b->value;
			inf = isinf(le) && le > 0;
			buckets++;
		}
		if (!inf || buckets < 2)
			S_FAIL("%s{%s}: no +Inf bucket", base, c->labels);
		if (last_v != c->value)
			S_FAIL("%s{%s}: +Inf bucket %g != _count %g", base, c->labels, last_v,
				 c->value);
		if (!sum)
			S_FAIL("%s{%s}: no _sum", base, c->labels);
	}
}

static void S_parse(struct S_scrape *m, const char *text)
{
	struct S_family *current = NULL;
	const char *p = text;
	int line = 0;

	memset(m, 0, sizeof(*m));
	if (!*text || text[strlen(text) - 1] != '\n')
		S_FAIL("the exposition must end with a newline");
	while (*p) {
		const char *eol = strchr(p, '\n');

		line++;
		if (eol == p)
			S_FAIL("line %d: empty line", line);
		if (*p == '#')
			S_comment(m, p, eol, line, &current);
		else
			S_sample_line(m, p, eol, line, &current);
		p = eol + 1;
	}
	for (size_t i = 0; i < m->nf; i++)
		if (!m->f[i].type[0] || !m->f[i].help)
			S_FAIL("family %s lacks # TYPE or # HELP", m->f[i].name);
	S_check_histograms(m);
}

static void S_scrape_free(struct S_scrape *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}

/* The value of one series, or -1 when it is absent. */
static double S_get(const struct S_scrape *m, const char *name, const char *labels)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->s[i].name, name) && !strcmp(m->s[i].labels, labels) && !m->s[i].le[0])
			return m->s[i].value;
	return -1;
}

/* The parser reads good text and refuses what it must: it is the
 * yardstick of the tests below, so it is tested too. */
static void test_parser(void **state)
{
	static const char *const good =
		"# HELP a_total x \\\\ y\\n\n# TYPE a_total counter\na_total{k=\"v\\\"\\n\\\\\"} 1\n"
		"# a free comment\n"
		"# HELP h y\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
		"h_sum 3.5\nh_count 2\n# HELP g z\n# TYPE g gauge\ng -1.5e-3 1700000000\n";
	static const char *const bad[] = {
		"a_total 1\n",                                          /* no TYPE */
		"# HELP a_total x\n# TYPE a_total counter\na_total 1",  /* no final newline */
		"# HELP a x\n# TYPE a counter\na 1\n",                 /* counter without _total */
		"# HELP a x\n# TYPE a gauge\n1a 1\n",                  /* name charset */
		"# HELP a x\n# TYPE a gauge\na{1k=\"v\"} 1\n",        /* label name charset */
		"# HELP a x\n# TYPE a gauge\na{k=\"v\\t\"} 1\n",      /* bad escape */
		"# HELP a x\n# TYPE a gauge\na{k=\"v} 1\n",            /* unterminated value */
		"# HELP a x\n# TYPE a gauge\na{k=\"v\",k=\"w\"} 1\n",  /* label twice */
		"# HELP a x\n# TYPE a gauge\na one\n",                 /* not a number */
		"# HELP a x\n# TYPE a gauge\na 1\na 2\n",              /* series twice */
		"# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n",   /* TYPE twice */
		"# HELP a x\n# TYPE a gaug\na 1\n",                    /* unknown type */
		"# TYPE a gauge\na 1\n",                               /* no HELP */
		"# HELP a x\n# TYPE a gauge\na 1\n\n",                 /* empty line */
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
		"h_sum 1\nh_count 1\n", /* not cumulative */
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 1\n"
		"h_sum 1\nh_count 1\n", /* no +Inf */
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
		"h_sum 1\nh_count 3\n", /* +Inf != _count */
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"1\"} 1\n"
		"h_sum 1\nh_count 1\n", /* le not ascending */
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
		"h_count 1\n", /* no _sum */
		"# HELP a x\n# TYPE a gauge\n# HELP b y\n# TYPE b gauge\na 1\nb 1\na{k=\"v\"} 1\n",
		/* a family split in two */
	};
	struct S_scrape m;
	volatile size_t i;

	(void)state;
	S_parse(&m, good);
	assert_int_equal(m.n, 6);
	assert_true(S_get(&m, "a_total", "k=\"v\\\"\\n\\\\\"") == 1);
	assert_true(S_get(&m, "h_count", "") == 2);
	assert_true(S_get(&m, "g", "") == -0.0015);
	S_scrape_free(&m);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&m, 0, sizeof(m));
		S_trap = true;
		if (!setjmp(S_trap_jb)) {
			S_parse(&m, bad[i]);
			S_trap = false;
			fail_msg("the parser accepted bad text %zu", (size_t)i);
		}
		S_trap = false;
		S_scrape_free(&m);
	}
}

/* ---------- the workload ---------- */

static const char *S_str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	if (!v)
		fail_msg("missing string field '%s'", k);
	return v;
}

static json_t *S_p12_item(const unsigned char pk[32], const char *file, const char *pw)
{
	char path[512], *ks, *sealed;
	json_t *o;

	snprintf(path, sizeof(path), "%s/p12/%s", TVH_FIXTURES, file);
	ks = tvh_file_b64(path);
	sealed = tvh_seal_b64(pk, pw, strlen(pw));
	o = json_pack("{s:s,s:s}", "pkcs12Keystore", ks, "dekEncryptedPassword", sealed);
	free(ks);
	free(sealed);
	return o;
}

static char *S_pem_file(const char *name)
{
	char path[512], *pem;

	snprintf(path, sizeof(path), "%s/keys/%s.crt.pem", TVH_FIXTURES, name);
	pem = tvh_read_file(path, NULL);
	assert_non_null(pem);
	return pem;
}

static void S_expect(json_t *job, int index, const char *status, const char *code)
{
	json_t *r = tvh_result(job, index);
	const char *reason;

	if (!r)
		fail_msg("no result for item %d", index);
	reason = S_str(r, "reason");
	if (strcmp(S_str(r, "status"), status) ||
	    (code ? strncmp(reason, code, strlen(code)) : reason[0] != '\0'))
		fail_msg("item %d: got %s '%s', want %s %s", index, S_str(r, "status"), reason,
			 status, code ? code : "(no reason)");
}

static char *S_metrics(const struct tvh_server *s, const char *key, struct S_scrape *m)
{
	struct tvh_resp r;
	char *text;

	tvh_request(&r, s, "GET", "/metrics", key, NULL, 0, NULL);
	if (r.status != 200)
		fail_msg("GET /metrics: %ld %s", r.status, r.body ? r.body : "");
	assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
	text = strdup(r.body);
	tvh_resp_free(&r);
	S_parse(m, text);
	return text;
}

static long S_status(const struct tvh_server *s, const char *method, const char *path,
		     const char *key, const char *body)
{
	struct tvh_resp r;
	long st;

	tvh_request(&r, s, method, path, key, body, body ? strlen(body) : 0, NULL);
	st = r.status;
	tvh_resp_free(&r);
	return st;
}

static void S_export(const struct tvh_server *s, const unsigned char pk[32], const char *id,
		     const char *fmt)
{
	char *sp = tvh_seal_b64(pk, "Exp0rt-pass", 11), path[200], body[1024];

	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s/keystore", id);
	snprintf(body, sizeof(body),
		 "{\"exportFormat\":\"%s\",\"encryptedPrivateKeyPassphrase\":\"%s\","
		 "\"encryptedKeystorePassphrase\":\"\",\"certificateLabel\":\"web\"}",
		 fmt, sp);
	assert_int_equal(S_status(s, "POST", path, s->api_key, body), 200);
	free(sp);
}

/* What the two jobs below must record: status, reason, count. */
static const struct {
	const char *status, *reason;
	double n;
} S_results[] = {
	{ "IMPORTED", "", 2 },
	{ "FAILED", "MAC_VERIFICATION_FAILED", 1 },
	{ "FAILED", "INVALID_BASE64", 1 },
	{ "FAILED", "SELF_SIGNED", 1 },
	{ "FAILED", "INVALID_ITEM", 1 },
	{ "SKIPPED", "DUPLICATE_IN_REQUEST", 1 },
	{ "SKIPPED", "ALREADY_IMPORTED", 1 },
};

static void S_check_import_counters(const struct S_scrape *m)
{
	char labels[128];
	size_t i, seen = 0;

	for (i = 0; i < sizeof(S_results) / sizeof(S_results[0]); i++) {
		snprintf(labels, sizeof(labels), "status=\"%s\",reason=\"%s\"", S_results[i].status,
			 S_results[i].reason);
		if (S_get(m, "tlsvault_import_items_total", labels) != S_results[i].n)
			fail_msg("tlsvault_import_items_total{%s} = %g, want %g", labels,
				 S_get(m, "tlsvault_import_items_total", labels), S_results[i].n);
	}
	for (i = 0; i < m->n; i++)
		seen += !strcmp(m->s[i].name, "tlsvault_import_items_total");
	assert_int_equal(seen, sizeof(S_results) / sizeof(S_results[0])); /* nothing else */
}

/* The http counters of b minus a: every series' growth must be the one
 * expected (0 for any series not listed). */
static void S_check_http_delta(const struct S_scrape *a, const struct S_scrape *b)
{
	static const struct {
		const char *labels;
		double delta;
	} want[] = {
		{ "route=\"/outagedetection/v1/certificates/{id}\",method=\"GET\",status=\"200\"", 3 },
		{ "route=\"/outagedetection/v1/certificates/{id}\",method=\"GET\",status=\"404\"", 2 },
		{ "route=\"unmatched\",method=\"GET\",status=\"404\"", 2 },
		{ "route=\"unmatched\",method=\"DELETE\",status=\"405\"", 1 },
		{ "route=\"/outagedetection/v1/certificates/{id}/keystore\",method=\"POST\","
		  "status=\"200\"",
		  2 },
		{ "route=\"/metrics\",method=\"GET\",status=\"200\"", 1 }, /* scrape a itself */
	};
	size_t i, k;

	for (i = 0; i < b->n; i++) {
		const struct S_sample *s = &b->s[i];
		double before, delta, expect = 0;

		if (strcmp(s->name, "tlsvault_http_requests_total"))
			continue;
		before = S_get(a, s->name, s->labels);
		delta = s->value - (before < 0 ? 0 : before);
		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
			if (!strcmp(want[k].labels, s->labels))
				expect = want[k].delta;
		if (delta != expect)
			fail_msg("tlsvault_http_requests_total{%s} grew by %g, want %g", s->labels,
				 delta, expect);
	}
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		if (S_get(b, "tlsvault_http_requests_total", want[k].labels) < want[k].delta)
			fail_msg("missing tlsvault_http_requests_total{%s}", want[k].labels);
	/* the latency histogram counted the same requests */
	{
		static const char lat[] = "tlsvault_http_request_duration_seconds_count",
				  route[] = "route=\"/outagedetection/v1/certificates/{id}\","
					    "method=\"GET\"";
		double before = S_get(a, lat, route);

		assert_true(S_get(b, lat, route) - (before < 0 ? 0 : before) == 5);
	}
}

/* Only queue-depth lines may name a tenant; no path, id or key anywhere. */
static void S_check_no_leak(const char *text, const struct tvh_server *s,
			    const char *const *forbidden, size_t n)
{
	const char *p;
	size_t i;

	for (i = 0; i < n; i++)
		if (strstr(text, forbidden[i]))
			fail_msg("/metrics shows '%s'", forbidden[i]);
	assert_null(strstr(text, s->api_key));
	for (p = strstr(text, s->tenant_id); p; p = strstr(p + 1, s->tenant_id)) {
		const char *bol = p;

		while (bol > text && bol[-1] != '\n')
			bol--;
		if (strncmp(bol, "tlsvault_import_queue_depth{tenant=\"", 36))
			fail_msg("a tenant id outside the queue depth");
	}
}

static void test_counters_equal_the_work_done(void **state)
{
	struct tvh_server s;
	struct S_scrape a, b;
	unsigned char pk[32];
	json_t *items, *job;
	char *id, *text_a, *text_b, *out = NULL, ro_key[64], path[256];
	const char *cert0, *cert5;
	char *pems[2];
	const char *forbidden[6];
	int i;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, (const char *const[]){ "--workers", "2", "--metrics-require-key", NULL });

	/* --metrics-require-key: no key 401, a READ_ONLY key 403, an ADMIN key 200 */
	{
		const char *args[] = { "tlsvaultd", "apikey", "create", "--data", s.dir,
				       "--tenant", s.tenant_id, "--role", "READ_ONLY", NULL };
		json_t *j;

		assert_int_equal(tvh_run(&out, args), 0);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		snprintf(ro_key, sizeof(ro_key), "%s", S_str(j, "apiKey"));
		json_decref(j);
		free(out);
	}
	assert_int_equal(S_status(&s, "GET", "/metrics", NULL, NULL), 401);
	assert_int_equal(S_status(&s, "GET", "/metrics", ro_key, NULL), 403);

	tvh_dek_key(&s, s.api_key, pk);
	pems[0] = S_pem_file("p256");
	pems[1] = S_pem_file("rsa2048");
	tvh_trust(&s, s.api_key, (const char *const *)pems, 2);
	free(pems[0]);
	free(pems[1]);

	/* job 1: 0 and 5 import, 1 wrong password, 2 bad base64, 3 an
	 * untrusted self-signed leaf, 4 a duplicate of 0, 6 fits no form */
	items = json_array();
	json_array_append_new(items, S_p12_item(pk, "openssl-default-p256.p12", PASS));
	json_array_append_new(items, S_p12_item(pk, "openssl-default-rsa2048.p12", "wrong"));
	json_array_append_new(items, json_pack("{s:s}", "pkcs12Keystore", "!!! not base64 !!!"));
	json_array_append_new(items, S_p12_item(pk, "keytool-default-ed25519.p12", PASS));
	json_array_append_new(items, S_p12_item(pk, "openssl-default-p256.p12", PASS));
	json_array_append_new(items, S_p12_item(pk, "openssl-default-rsa2048.p12", PASS));
	json_array_append_new(items, json_pack("{s:s}", "certificate", "x"));
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, items), NULL);
	job = tvh_wait_job(&s, s.api_key, id);
	free(id);
	S_expect(job, 0, "IMPORTED", NULL);
	S_expect(job, 1, "FAILED", "MAC_VERIFICATION_FAILED");
	S_expect(job, 2, "FAILED", "INVALID_BASE64");
	S_expect(job, 3, "FAILED", "SELF_SIGNED");
	S_expect(job, 4, "SKIPPED", "DUPLICATE_IN_REQUEST");
	S_expect(job, 5, "IMPORTED", NULL);
	S_expect(job, 6, "FAILED", "INVALID_ITEM");
	assert_int_equal(json_array_size(json_object_get(job, "results")), 7);
	cert0 = S_str(tvh_result(job, 0), "certificateId");
	cert5 = S_str(tvh_result(job, 5), "certificateId");
	/* job 2: the vault holds it already */
	items = json_array();
	json_array_append_new(items, S_p12_item(pk, "openssl-default-p256.p12", PASS));
	id = tvh_post_job(&s, s.api_key, tvh_envelope(&s, items), NULL);
	{
		json_t *job2 = tvh_wait_job(&s, s.api_key, id);

		S_expect(job2, 0, "SKIPPED", "ALREADY_IMPORTED");
		json_decref(job2);
	}
	free(id);

	text_a = S_metrics(&s, s.api_key, &a);
	S_check_import_counters(&a);
	assert_true(S_get(&a, "tlsvault_http_requests_total",
			  "route=\"/metrics\",method=\"GET\",status=\"401\"") == 1);
	assert_true(S_get(&a, "tlsvault_http_requests_total",
			  "route=\"/metrics\",method=\"GET\",status=\"403\"") == 1);
	assert_true(S_get(&a, "tlsvault_http_requests_total",
			  "route=\"/outagedetection/v1/certificates/imports\",method=\"POST\","
			  "status=\"201\"") == 2);
	assert_true(S_get(&a, "tlsvault_exports_total", "format=\"PKCS12\"") == 0);
	assert_true(S_get(&a, "tlsvault_workers", "") == 2);
	assert_true(S_get(&a, "tlsvault_worker_busy_seconds_total", "") > 0);
	assert_true(S_get(&a, "tlsvault_import_lease_reclaims_total", "") == 0);
	assert_true(S_get(&a, "tlsvault_http_open_connections", "") >= 1);
	assert_true(S_get(&a, "tlsvault_import_queue_depth_up", "") == 1);
	assert_non_null(S_family(&a, "tlsvault_import_queue_depth"));
	assert_true(S_get(&a, "tlsvault_build_info", "version=\"" TV_VERSION "\"") == 1);
	assert_true(S_get(&a, "tlsvault_process_start_time_seconds", "") > 1.7e9);
	/* the 5 + 1 items that reached a worker were committed by the group
	 * commit: items_finish ran at least once and at most once per item */
	assert_true(S_get(&a, "tlsvault_store_operation_duration_seconds_count",
			  "operation=\"items_finish\"") >= 1);
	assert_true(S_get(&a, "tlsvault_store_operation_duration_seconds_count",
			  "operation=\"items_finish\"") <= 6);
	assert_true(S_get(&a, "tlsvault_store_operation_duration_seconds_count",
			  "operation=\"item_finish\"") == -1); /* not used by the server */

	/* reads, misses, unrouted paths, a wrong method, two exports */
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", cert0);
		assert_int_equal(S_status(&s, "GET", path, s.api_key, NULL), 200);
	}
	snprintf(path, sizeof(path), "/outagedetection/v1/certificates/%s", cert5);
	assert_int_equal(S_status(&s, "GET", path, s.api_key, NULL), 200);
	for (i = 0; i < 2; i++) {
		assert_int_equal(S_status(&s, "GET",
					  "/outagedetection/v1/certificates/"
					  "0badc0de-0000-4000-8000-00000000beef",
					  s.api_key, NULL),
				 404);
		assert_int_equal(S_status(&s, "GET", "/v1/no-such-thing/secret-path-marker",
					  s.api_key, NULL),
				 404);
	}
	assert_int_equal(S_status(&s, "DELETE", "/healthz", NULL, NULL), 405);
	S_export(&s, pk, cert0, "PKCS12");
	S_export(&s, pk, cert5, "PEM");

	text_b = S_metrics(&s, s.api_key, &b);
	S_check_import_counters(&b);
	S_check_http_delta(&a, &b);
	assert_true(S_get(&b, "tlsvault_exports_total", "format=\"PKCS12\"") == 1);
	assert_true(S_get(&b, "tlsvault_exports_total", "format=\"PEM\"") == 1);
	assert_true(S_get(&b, "tlsvault_exports_total", "format=\"JKS\"") == 0);
	assert_true(S_get(&b, "tlsvault_store_operation_duration_seconds_count",
			  "operation=\"cert_get\"") >=
		    S_get(&a, "tlsvault_store_operation_duration_seconds_count",
			  "operation=\"cert_get\"") + 5);
	forbidden[0] = "secret-path-marker";
	forbidden[1] = "0badc0de";
	forbidden[2] = cert0;
	forbidden[3] = cert5;
	forbidden[4] = ro_key;
	forbidden[5] = PASS;
	S_check_no_leak(text_b, &s, forbidden, 6);

	S_scrape_free(&a);
	S_scrape_free(&b);
	free(text_a);
	free(text_b);
	json_decref(job);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

/* By default (API.md: operations need no authentication) a scraper without
 * a key reads everything; the queue depth is labelled by tenant id. */
static void test_public_metrics(void **state)
{
	struct tvh_server s;
	struct S_scrape m;
	char *text;

	(void)state;
	tvh_init(&s);
	tvh_start(&s, NULL);
	text = S_metrics(&s, NULL, &m);
	assert_true(S_get(&m, "tlsvault_import_queue_depth_up", "") == 1);
	assert_true(S_get(&m, "tlsvault_exports_total", "format=\"JKS\"") == 0);
	S_scrape_free(&m);
	free(text);
	/* a key is not needed, and a bad one is not looked at */
	assert_int_equal(S_status(&s, "GET", "/metrics", "not-a-key", NULL), 200);
	text = S_metrics(&s, NULL, &m);
	assert_true(S_get(&m, "tlsvault_http_requests_total",
			  "route=\"/metrics\",method=\"GET\",status=\"200\"") == 2);
	S_scrape_free(&m);
	free(text);
	assert_int_equal(tvh_stop(&s, SIGTERM), 0);
	tvh_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser),
		cmocka_unit_test(test_counters_equal_the_work_done),
		cmocka_unit_test(test_public_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
