/*
 * DESIGN: see jsonparse.h. Recursive descent over the buffer, bounded by
 * max_depth (which the server's pre-scan has already enforced). A byte
 * class table sorts string bytes into plain (copied in runs), quote,
 * backslash and give-up (controls, which jansson refuses, and bytes over
 * 0x7f, whose UTF-8 jansson checks). Strings without escapes (a keystore's
 * base64) go from the body to jansson's copy with no buffer in between;
 * strings with escapes are decoded into a scratch block that is wiped, as
 * request bodies may hold secrets.
 */
#include "http/jsonparse.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

/* A string byte copied as it is: printable ASCII and DEL, not '"' or '\\'. */
static inline bool S_plain(unsigned char c)
{
	return (unsigned)(c - 0x20) < 0x60 && c != '"' && c != '\\';
}

/*
 * The end of the run of plain bytes in s[i..n): eight bytes at a time while
 * none of them is a control, a byte over 0x7f, '"' or '\\' (the usual
 * bit tricks: a byte under 0x20, and a byte equal to a value, show as a
 * high bit), then byte by byte.
 */
static size_t S_plain_run(const unsigned char *s, size_t i, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;

	while (i + 8 <= n) {
		uint64_t x, q, b;

		memcpy(&x, s + i, 8);
		q = x ^ (ones * '"');
		b = x ^ (ones * '\\');
		if ((((x - ones * 0x20) & ~x) | x | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs)
			break; /* a byte under 0x20 or over 0x7f, a quote or a backslash */
		i += 8;
	}
	while (i < n && S_plain(s[i]))
		i++;
	return i;
}

struct S_p {
	const unsigned char *s;
	size_t i, n, max_depth;
};

static void S_ws(struct S_p *p)
{
	while (p->i < p->n) {
		unsigned char c = p->s[p->i];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->i++;
	}
}

/*
 * The string starting at the quote at p->i: its decoded bytes in *out
 * (pointing into the body when there was nothing to decode, else into a
 * block in *scratch that the caller wipes and frees) and *len. false to
 * give up.
 */
static bool S_string(struct S_p *p, const char **out, size_t *len, char **scratch)
{
	size_t start = ++p->i, k;
	char *d;

	*scratch = NULL;
	p->i = S_plain_run(p->s, p->i, p->n);
	if (p->i >= p->n)
		return false;
	if (p->s[p->i] == '"') {
		*out = (const char *)p->s + start;
		*len = p->i - start;
		p->i++;
		return true;
	}
	if (p->s[p->i] != '\\')
		return false;
	/* escapes: decode into a block no longer than the rest of the text */
	d = malloc(p->n - start + 1);
	if (!d)
		return false;
	k = p->i - start;
	memcpy(d, p->s + start, k);
	while (p->i < p->n) {
		unsigned char c = p->s[p->i];

		if (S_plain(c)) {
			d[k++] = (char)c;
			p->i++;
			continue;
		}
		if (c == '"') {
			p->i++;
			*out = d;
			*len = k;
			*scratch = d;
			return true;
		}
		if (c != '\\' || p->i + 1 >= p->n)
			break;
		switch (p->s[p->i + 1]) {
		case '"': d[k++] = '"'; break;
		case '\\': d[k++] = '\\'; break;
		case '/': d[k++] = '/'; break;
		case 'b': d[k++] = '\b'; break;
		case 'f': d[k++] = '\f'; break;
		case 'n': d[k++] = '\n'; break;
		case 'r': d[k++] = '\r'; break;
		case 't': d[k++] = '\t'; break;
		default: /* \u (surrogates, NUL: jansson's rules) or invalid */
			tv_wipe(d, k);
			free(d);
			return false;
		}
		p->i += 2;
	}
	tv_wipe(d, k);
	free(d);
	return false;
}

static void S_scratch_free(char *scratch, size_t len)
{
	if (scratch) {
		tv_wipe(scratch, len);
		free(scratch);
	}
}

/* A small integer as jansson reads it; reals and long numbers give up. */
static json_t *S_number(struct S_p *p)
{
	bool neg = false;
	int64_t v = 0;
	size_t digits = 0;

	if (p->s[p->i] == '-') {
		neg = true;
		p->i++;
	}
	if (p->i >= p->n)
		return NULL;
	if (p->s[p->i] == '0') {
		p->i++;
		digits = 1;
		if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			return NULL; /* a leading zero: jansson's error */
	} else {
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
			if (++digits > 18)
				return NULL; /* near the int64 range: jansson decides */
			v = v * 10 + (p->s[p->i] - '0');
			p->i++;
		}
		if (!digits)
			return NULL;
	}
	if (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E'))
		return NULL; /* a real */
	return json_integer(neg ? -v : v);
}

static bool S_word(struct S_p *p, const char *w, size_t n)
{
	if (p->n - p->i < n || memcmp(p->s + p->i, w, n) != 0)
		return false;
	p->i += n;
	return true;
}

static json_t *S_value(struct S_p *p, size_t depth);

static json_t *S_object(struct S_p *p, size_t depth)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	p->i++;
	S_ws(p);
	if (p->i < p->n && p->s[p->i] == '}') {
		p->i++;
		return o;
	}
	for (;;) {
		char small[128], *key, *scratch;
		const char *k;
		size_t klen;
		json_t *v;

		if (p->i >= p->n || p->s[p->i] != '"' || !S_string(p, &k, &klen, &scratch))
			break;
		/* jansson's keys are C strings: a copy with its NUL */
		key = klen < sizeof(small) ? small : malloc(klen + 1);
		if (!key) {
			S_scratch_free(scratch, klen);
			break;
		}
		memcpy(key, k, klen);
		key[klen] = '\0';
		S_scratch_free(scratch, klen);
		S_ws(p);
		v = NULL;
		if (p->i < p->n && p->s[p->i] == ':') {
			p->i++;
			S_ws(p);
			v = S_value(p, depth);
		}
		/* a duplicate key is jansson's error to word; set_new takes v
		 * even when it fails */
		if (v && json_object_get(o, key)) {
			json_decref(v);
			v = NULL;
		}
		if (!v || json_object_set_new_nocheck(o, key, v)) {
			if (key != small) {
				tv_wipe(key, klen);
				free(key);
			}
			break;
		}
		if (key != small) {
			tv_wipe(key, klen);
			free(key);
		} else {
			tv_wipe(small, klen);
		}
		S_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			S_ws(p);
			continue;
		}
		if (p->i < p->n && p->s[p->i] == '}') {
			p->i++;
			return o;
		}
		break;
	}
	json_decref(o);
	return NULL;
}

static json_t *S_array(struct S_p *p, size_t depth)
{
	json_t *a = json_array();

	if (!a)
		return NULL;
	p->i++;
	S_ws(p);
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		return a;
	}
	for (;;) {
		json_t *v = S_value(p, depth);

		if (!v || json_array_append_new(a, v))
			break;
		S_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			S_ws(p);
			continue;
		}
		if (p->i < p->n && p->s[p->i] == ']') {
			p->i++;
			return a;
		}
		break;
	}
	json_decref(a);
	return NULL;
}

/* The value at p->i; depth is the nesting of the container it is in. */
static json_t *S_value(struct S_p *p, size_t depth)
{
	if (p->i >= p->n)
		return NULL;
	switch (p->s[p->i]) {
	case '{':
		return depth < p->max_depth ? S_object(p, depth + 1) : NULL;
	case '[':
		return depth < p->max_depth ? S_array(p, depth + 1) : NULL;
	case '"': {
		const char *s;
		char *scratch;
		size_t len;
		json_t *v;

		if (!S_string(p, &s, &len, &scratch))
			return NULL;
		v = json_stringn_nocheck(s, len);
		S_scratch_free(scratch, len);
		return v;
	}
	case 't':
		return S_word(p, "true", 4) ? json_true() : NULL;
	case 'f':
		return S_word(p, "false", 5) ? json_false() : NULL;
	case 'n':
		return S_word(p, "null", 4) ? json_null() : NULL;
	default:
		if (p->s[p->i] == '-' || (p->s[p->i] >= '0' && p->s[p->i] <= '9'))
			return S_number(p);
		return NULL;
	}
}

json_t *tv_json_parse_fast(const char *text, size_t len, size_t max_depth)
{
	struct S_p p = { (const unsigned char *)text, 0, len, max_depth };
	json_t *v;

	S_ws(&p);
	/* only an object or an array at the top, as json_loadb without
	 * JSON_DECODE_ANY */
	if (p.i >= p.n || (p.s[p.i] != '{' && p.s[p.i] != '['))
		return NULL;
	v = S_value(&p, 0);
	if (!v)
		return NULL;
	S_ws(&p);
	if (p.i != p.n) {
		json_decref(v); /* trailing bytes: jansson's error */
		return NULL;
	}
	return v;
}
