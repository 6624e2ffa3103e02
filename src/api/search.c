/*
 * DESIGN: the search body is validated and turned into a tv_search tree here
 * (field names, operators, value types), with hard caps on nodes, values and
 * depth; the store compiles the tree into parameterised SQL. Every node and
 * value lives in one fixed arena per request, so a hostile expression costs
 * bounded memory and no recursion deeper than TV_SEARCH_MAX_DEPTH.
 */
#include "api/certificates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

#define S_MAX_VALUES 1024
#define S_DEFAULT_PAGE 100
#define S_MAX_PAGE 1000

enum S_kind { S_TEXT, S_DATE, S_INT, S_FP };

static const struct {
	const char *name;
	enum tv_search_field field;
	enum S_kind kind;
} S_fields[] = {
	{ "fingerprint", TV_SF_FINGERPRINT, S_FP },
	{ "certificateName", TV_SF_CERTIFICATE_NAME, S_TEXT },
	{ "subjectCN", TV_SF_SUBJECT_CN, S_TEXT },
	{ "subjectAlternativeNameDns", TV_SF_SAN_DNS, S_TEXT },
	{ "serialNumber", TV_SF_SERIAL_NUMBER, S_TEXT },
	{ "issuerDN", TV_SF_ISSUER_DN, S_TEXT },
	{ "validityStart", TV_SF_VALIDITY_START, S_DATE },
	{ "validityEnd", TV_SF_VALIDITY_END, S_DATE },
	{ "certificateStatus", TV_SF_STATUS, S_TEXT },
	{ "encryptionType", TV_SF_ENCRYPTION_TYPE, S_TEXT },
	{ "keyStrength", TV_SF_KEY_STRENGTH, S_INT },
	{ "creationDate", TV_SF_CREATION_DATE, S_DATE },
	/* (ext): "which certificates have a private key" is dekHash IN [the
	 * tenant's key ids]; certificates without a key have no dekHash */
	{ "dekHash", TV_SF_DEK_HASH, S_TEXT },
};

static const char *const S_ops[] = { [TV_SO_EQ] = "EQ",   [TV_SO_MATCH] = "MATCH",
				     [TV_SO_GT] = "GT",   [TV_SO_GTE] = "GTE",
				     [TV_SO_LT] = "LT",   [TV_SO_LTE] = "LTE",
				     [TV_SO_IN] = "IN",   [TV_SO_AND] = "AND",
				     [TV_SO_OR] = "OR" };

struct S_arena {
	struct tv_search_expr nodes[TV_SEARCH_MAX_NODES];
	size_t n_nodes;
	struct tv_search_value values[S_MAX_VALUES];
	char texts[S_MAX_VALUES][64]; /* normalised fingerprints */
	size_t n_values;
	char err[200];
};

static int S_field(const char *name, enum S_kind *kind)
{
	size_t i;

	for (i = 0; name && i < sizeof(S_fields) / sizeof(S_fields[0]); i++) {
		if (!strcmp(S_fields[i].name, name)) {
			*kind = S_fields[i].kind;
			return (int)S_fields[i].field;
		}
	}
	return -1;
}

static int S_op(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(S_ops) / sizeof(S_ops[0]); i++)
		if (!strcmp(S_ops[i], name))
			return (int)i;
	return -1;
}

/* One value of kind k into the arena. */
static bool S_value(struct S_arena *a, json_t *v, enum S_kind k, enum tv_search_op op)
{
	struct tv_search_value *out;

	if (a->n_values == S_MAX_VALUES) {
		snprintf(a->err, sizeof(a->err), "too many values (at most %d)", S_MAX_VALUES);
		return false;
	}
	out = &a->values[a->n_values];
	memset(out, 0, sizeof(*out));
	if (k == S_INT && json_is_integer(v)) {
		out->num = json_integer_value(v);
	} else if (k == S_INT && json_is_string(v) && *json_string_value(v)) {
		char *end;
		out->num = strtoll(json_string_value(v), &end, 10);
		if (*end)
			goto bad;
	} else if (k == S_DATE && json_is_string(v)) {
		if (tv_iso_parse(&out->num, json_string_value(v)) != TV_OK)
			goto bad;
	} else if (k == S_FP && json_is_string(v)) {
		char *t = a->texts[a->n_values];
		const char *s = json_string_value(v);
		size_t n = 0;

		/* upper-case, no separators; MATCH may give part of one */
		for (; *s && n < 63; s++)
			if (*s != ':')
				t[n++] = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
		t[n] = '\0';
		if (op != TV_SO_MATCH && n != 40)
			goto bad;
		out->text = t;
	} else if (k == S_TEXT && json_is_string(v)) {
		out->text = json_string_value(v);
	} else {
		goto bad;
	}
	a->n_values++;
	return true;
bad:
	snprintf(a->err, sizeof(a->err), "value of the wrong type or format");
	return false;
}

static bool S_node(struct S_arena *a, json_t *j, struct tv_search_expr *e, int depth);

static bool S_group(struct S_arena *a, json_t *operands, struct tv_search_expr *e, int depth)
{
	struct tv_search_expr *kids;
	json_t *v;
	size_t n = json_array_size(operands), i;

	if (!json_is_array(operands) || n == 0) {
		snprintf(a->err, sizeof(a->err), "AND/OR take a non-empty array of operands");
		return false;
	}
	if (a->n_nodes + n > TV_SEARCH_MAX_NODES) {
		snprintf(a->err, sizeof(a->err), "expression too large (at most %d nodes)",
			 TV_SEARCH_MAX_NODES);
		return false;
	}
	kids = &a->nodes[a->n_nodes];
	a->n_nodes += n;
	e->children = kids;
	e->n_children = n;
	json_array_foreach(operands, i, v)
		if (!S_node(a, v, &kids[i], depth + 1))
			return false;
	return true;
}

static bool S_node(struct S_arena *a, json_t *j, struct tv_search_expr *e, int depth)
{
	json_t *values, *v;
	enum S_kind kind = S_TEXT;
	const char *key;
	int op, field;
	size_t i;

	if (depth > TV_SEARCH_MAX_DEPTH || !json_is_object(j)) {
		snprintf(a->err, sizeof(a->err), depth > TV_SEARCH_MAX_DEPTH ?
			 "expression nested too deep" : "an operand must be an object");
		return false;
	}
	json_object_foreach(j, key, v) {
		if (strcmp(key, "operator") && strcmp(key, "operands") && strcmp(key, "field") &&
		    strcmp(key, "value") && strcmp(key, "values")) {
			snprintf(a->err, sizeof(a->err), "unknown member '%.40s'", key);
			return false;
		}
	}
	memset(e, 0, sizeof(*e));
	op = S_op(json_string_value(json_object_get(j, "operator")));
	if (op < 0) {
		snprintf(a->err, sizeof(a->err), "unknown operator");
		return false;
	}
	e->op = (enum tv_search_op)op;
	if (op == TV_SO_AND || op == TV_SO_OR)
		return S_group(a, json_object_get(j, "operands"), e, depth);
	field = S_field(json_string_value(json_object_get(j, "field")), &kind);
	if (field < 0) {
		snprintf(a->err, sizeof(a->err), "unknown field");
		return false;
	}
	e->field = (enum tv_search_field)field;
	if ((op == TV_SO_MATCH) && kind != S_TEXT && kind != S_FP) {
		snprintf(a->err, sizeof(a->err), "MATCH applies to text fields only");
		return false;
	}
	values = json_object_get(j, "values");
	if (!values)
		values = json_object_get(j, "value");
	e->values = &a->values[a->n_values];
	if (op == TV_SO_IN) {
		if (!json_is_array(values) || !json_array_size(values)) {
			snprintf(a->err, sizeof(a->err), "IN takes a non-empty array of values");
			return false;
		}
		json_array_foreach(values, i, v)
			if (!S_value(a, v, kind, e->op))
				return false;
		e->n_values = json_array_size(values);
		return true;
	}
	if (!values || json_is_array(values) || !S_value(a, values, kind, e->op)) {
		if (!a->err[0])
			snprintf(a->err, sizeof(a->err), "%s takes one value", S_ops[op]);
		return false;
	}
	e->n_values = 1;
	return true;
}

/* ordering and paging; false after replying 400 */
static bool S_order_paging(struct tv_http_resp *resp, json_t *body, struct tv_search *q,
			   struct tv_search_order *orders, size_t max_orders)
{
	json_t *ordering = json_object_get(body, "ordering"), *paging, *o, *v;
	enum S_kind kind;
	size_t i;

	q->page_size = S_DEFAULT_PAGE;
	if (ordering) {
		json_t *arr = json_object_get(ordering, "orders");
		if (!json_is_object(ordering) || !json_is_array(arr) ||
		    json_array_size(arr) > max_orders) {
			tv_api_bad_field(resp, "ordering.orders", "must be an array of orders");
			return false;
		}
		json_array_foreach(arr, i, o) {
			const char *dir = json_string_value(json_object_get(o, "direction"));
			int f = S_field(json_string_value(json_object_get(o, "field")), &kind);

			if (f < 0 || (dir && strcasecmp(dir, "ASC") && strcasecmp(dir, "DESC"))) {
				tv_api_bad_field(resp, "ordering.orders",
						 "unknown field or direction (ASC, DESC)");
				return false;
			}
			orders[i].field = (enum tv_search_field)f;
			orders[i].descending = dir && !strcasecmp(dir, "DESC");
		}
		q->orders = orders;
		q->n_orders = json_array_size(arr);
	}
	paging = json_object_get(body, "paging");
	if (paging) {
		v = json_object_get(paging, "pageSize");
		if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
			  json_integer_value(v) > S_MAX_PAGE)) {
			tv_api_bad_field(resp, "paging.pageSize", "must be an integer from 1 to 1000");
			return false;
		}
		if (v)
			q->page_size = (size_t)json_integer_value(v);
		v = json_object_get(paging, "pageNumber");
		if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
			  json_integer_value(v) > 1000000)) {
			tv_api_bad_field(resp, "paging.pageNumber", "must be an integer from 0");
			return false;
		}
		if (v)
			q->page_number = (size_t)json_integer_value(v);
	}
	return true;
}

struct tv_api_search {
	struct tv_search q;
	struct tv_search_order orders[8];
	struct S_arena a;
};

struct tv_api_search *tv_api_search_parse(struct tv_http_resp *resp, json_t *body)
{
	static const char *const allowed[] = { "expression", "ordering", "paging", NULL };
	struct tv_api_search *s;
	json_t *expr;

	if (!json_is_object(body)) {
		tv_api_bad_field(resp, "$", "must be an object");
		return NULL;
	}
	if (tv_api_unknown_fields(resp, body, allowed))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		tv_http_reply_error(resp, 500, TV_HTTP_E_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	if (!S_order_paging(resp, body, &s->q, s->orders, 8)) {
		free(s);
		return NULL;
	}
	expr = json_object_get(body, "expression");
	if (expr && !json_is_null(expr)) {
		s->a.n_nodes = 1;
		if (!S_node(&s->a, expr, &s->a.nodes[0], 0)) {
			tv_http_reply_error(resp, 400, TV_E_FIELD, json_pack("[s]", "expression"),
					    "expression: %s", s->a.err);
			free(s);
			return NULL;
		}
		s->q.expr = &s->a.nodes[0];
	}
	return s;
}

const struct tv_search *tv_api_search_query(const struct tv_api_search *s)
{
	return &s->q;
}

void tv_api_search_free(struct tv_api_search *s)
{
	free(s);
}

void tv_api_cert_search(void *app_ptr, struct tv_http_req *req, struct tv_http_resp *resp)
{
	struct tv_app *app = app_ptr;
	struct tv_cert_record *rows = NULL;
	struct tv_api_search *s = tv_api_search_parse(resp, tv_http_req_json(req));
	size_t n = 0, total = 0, i;
	json_t *arr;
	enum tv_err rc;

	if (!s)
		return;
	rc = app->store->ops->cert_search(app->store, tv_api_principal(req)->tenant.id, &s->q,
					  &rows, &n, &total);
	tv_api_search_free(s);
	if (rc == TV_ERR_INVALID || rc == TV_ERR_TOO_LARGE) {
		tv_http_reply_error(resp, 400, TV_E_FIELD, json_pack("[s]", "expression"),
				    "expression: too large or too deep");
		return;
	}
	if (rc) {
		tv_api_internal(resp, req, rc, "cert_search");
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, tv_api_cert_json(&rows[i]));
	tv_cert_records_free(rows, n);
	tv_http_reply_json(resp, 200, json_pack("{s:I,s:o}", "count", (json_int_t)total,
						"certificates", arr));
}
