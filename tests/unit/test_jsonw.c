/* tv-test-libs: tv_api */
/*
 * Unit tests of src/api/jsonw.c: the answers written as text are byte for
 * byte what json_dumps(JSON_COMPACT) gives for the jansson trees they
 * replace (the certificate of tv_api_cert_json, the import job of the old
 * handler, rebuilt here as the reference), strings are escaped as jansson
 * escapes them, and whatever can't be spliced as it is goes to jansson.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/certificates.h"
#include "api/jsonw.h"
#include "core/b64.h"

static char *S_dump(json_t *j, size_t flags)
{
	char *t = json_dumps(j, flags);

	assert_non_null(t);
	json_decref(j);
	return t;
}

/* One string through the writer, as a whole JSON text. */
static char *S_jw_string(const char *s, size_t n)
{
	struct tv_jw w;
	size_t len;

	tv_jw_init(&w, 4);
	tv_jw_strn(&w, s, n);
	return tv_jw_finish(&w, &len);
}

static void S_same_string(const char *s, size_t n)
{
	char *want = S_dump(json_stringn(s, n), JSON_COMPACT | JSON_ENCODE_ANY);
	char *got = S_jw_string(s, n);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void test_strings_escape_as_jansson(void **state)
{
	static const char *const samples[] = {
		"", "plain", "a \"quoted\" \\ back\\slash", "tab\there\nline\rret\bbs\fff",
		"/slash/ stays", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x94\x91 key",
		"mixed \x01\x1f\x7f \xc3\xa9\n", "\x7f"
	};
	char c[2];
	size_t i;

	(void)state;
	for (i = 1; i < 128; i++) {
		c[0] = (char)i;
		S_same_string(c, 1);
	}
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		S_same_string(samples[i], strlen(samples[i]));
	/* not UTF-8: jansson refuses it, and so does the writer */
	assert_null(S_jw_string("bad \xc3(", 6));
	assert_null(S_jw_string("\xff", 1));
}

/* A facts document of the shape svc/certinfo.c stores. */
static char *S_facts(const char *dn)
{
	return S_dump(json_pack("{s:s,s:s,s:[s],s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:{s:[s,s],s:[],"
				"s:[],s:[]}}",
				"fingerprint", "0123456789ABCDEF0123456789ABCDEF01234567",
				"subjectDN", dn, "subjectCN", "leaf.example", "issuerDN",
				"CN=Issuing CA,O=Example", "serialNumber", "0A1B2C",
				"validityStart", "2026-01-01T00:00:00.000Z", "validityEnd",
				"2027-01-01T00:00:00.000Z", "keyStrength", 2048,
				"encryptionType", "RSA", "signatureAlgorithm",
				"SHA256_WITH_RSA_ENCRYPTION", "certificateName", "leaf.example",
				"subjectAlternativeNamesByType", "dNSName", "leaf.example",
				"www.leaf.example", "iPAddress", "rfc822Name",
				"uniformResourceIdentifier"),
		      JSON_COMPACT);
}

static void S_same_cert(struct tv_cert_record *c)
{
	char *want = S_dump(tv_api_cert_json(c), JSON_COMPACT);
	size_t len = 0;
	char *got = tv_api_cert_text(c, &len);

	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
	free(want);
}

static void test_cert_text_matches_tree(void **state)
{
	static const char *const labels[] = { "", "web-01", "a \"label\"\twith\\escapes",
					      "\xc3\xa9tiquette \xe6\x97\xa5", "\x01" };
	static const char *const issuers[] = {
		"[]", "[\"6f1c2f0e-8f1d-4c55-9d0e-2a3b4c5d6e7f\"]",
		"[\"6f1c2f0e-8f1d-4c55-9d0e-2a3b4c5d6e7f\",\"A0B1C2D3-0000-4000-8000-000000000001\"]",
		/* not as the dump writes them: through jansson, same answer */
		"[ \"6f1c2f0e-8f1d-4c55-9d0e-2a3b4c5d6e7f\" ]", "[1,2]", "not json", "", "[\"x\"",
		"[\"\"]"
	};
	struct tv_cert_record c;
	char *facts[4];
	size_t i, j, k;

	(void)state;
	facts[0] = S_facts("CN=leaf.example,O=Example \\\"Quoted\\\",L=Z\xc3\xbcrich");
	facts[1] = strdup("{}");
	/* naming a live member, or not an object: jansson decides */
	facts[2] = strdup("{\"fingerprint\":\"AB\",\"label\":\"stored\",\"id\":\"x\"}");
	facts[3] = strdup("[1]");
	for (i = 0; i < 4; i++) {
		for (j = 0; j < sizeof(issuers) / sizeof(issuers[0]); j++) {
			for (k = 0; k < sizeof(labels) / sizeof(labels[0]); k++) {
				memset(&c, 0, sizeof(c));
				strcpy(c.id, "5d1f7c9e-3b2a-4e8f-9c1d-0a2b3c4d5e6f");
				strcpy(c.tenant_id, "1e2d3c4b-5a69-4788-9a0b-c1d2e3f40516");
				strcpy(c.status, k % 2 ? "RETIRED" : "ACTIVE");
				if (k % 2)
					strcpy(c.dek_id, "ZGVrLWlkLWJhc2U2NHVybA");
				if (k != 3)
					strcpy(c.import_job_id, "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b");
				snprintf(c.label, sizeof(c.label), "%s", labels[k]);
				c.facts_json = facts[i];
				c.issuer_ids_json = (char *)issuers[j];
				c.created_ms = 1767225600123;
				c.modified_ms = k == 2 ? 0 : 1767225700456;
				S_same_cert(&c);
			}
		}
	}
	/* the fast path splices the stored text as it is, without parsing it
	 * (the facts are written only by svc/certinfo.c): seen here with a
	 * document jansson would have re-dumped differently */
	{
		char odd[] = "{\"keyStrength\":2048 , \"x\":[ ]}";
		size_t len;
		char *t;

		c.facts_json = odd;
		c.issuer_ids_json = (char *)"[]";
		t = tv_api_cert_text(&c, &len);
		assert_non_null(t);
		assert_memory_equal(t, "{\"keyStrength\":2048 , \"x\":[ ],\"id\":\"", 36);
		free(t);
	}
	/* no stored documents at all */
	c.facts_json = NULL;
	c.issuer_ids_json = NULL;
	S_same_cert(&c);
	for (i = 0; i < 4; i++)
		free(facts[i]);
}

/* The tree the import-job handler built before, as the reference. */
static json_t *S_job_tree(const struct tv_import_job *job, const struct tv_import_result *r,
			  size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		char *b64 = NULL;
		json_t *o;

		if (r[i].der)
			assert_int_equal(tv_b64_encode(&b64, r[i].der, r[i].der_len, false), TV_OK);
		o = json_pack("{s:s,s:s,s:s,s:s,s:i}", "certificateBytes", b64 ? b64 : "",
			      "fingerprint", r[i].fingerprint, "status", r[i].status, "reason",
			      r[i].reason ? r[i].reason : "", "itemIndex", r[i].item_index);
		free(b64);
		if (r[i].certificate_id[0])
			json_object_set_new(o, "certificateId", json_string(r[i].certificate_id));
		if (r[i].label[0])
			json_object_set_new(o, "label", json_string(r[i].label));
		json_array_append_new(arr, o);
	}
	return json_pack("{s:s,s:s,s:o,s:o,s:b,s:i,s:o}", "id", job->id, "status", job->status,
			 "creationDate", tv_api_date(job->created_ms), "completionDate",
			 tv_api_date(job->completed_ms), "dryRun", job->dry_run, "itemCount",
			 job->n_items, "results", arr);
}

static void test_job_text_matches_tree(void **state)
{
	unsigned char der[1500];
	struct tv_import_result r[4];
	struct tv_import_job job;
	size_t n, i, len;
	char *want, *got;

	(void)state;
	for (i = 0; i < sizeof(der); i++)
		der[i] = (unsigned char)(i * 7 + 3);
	memset(r, 0, sizeof(r));
	r[0].item_index = 0;
	strcpy(r[0].status, "IMPORTED");
	strcpy(r[0].fingerprint, "0123456789ABCDEF0123456789ABCDEF01234567");
	r[0].der = der;
	r[0].der_len = sizeof(der);
	strcpy(r[0].certificate_id, "5d1f7c9e-3b2a-4e8f-9c1d-0a2b3c4d5e6f");
	strcpy(r[0].label, "lbl \"one\"");
	r[1].item_index = 1;
	strcpy(r[1].status, "FAILED");
	r[1].reason = "MAC_VERIFICATION_FAILED: wrong password \"x\"\n";
	r[2].item_index = 2;
	strcpy(r[2].status, "SKIPPED");
	r[2].der = der;
	r[2].der_len = 1; /* base64 padding */
	strcpy(r[2].label, "\xc3\xa9t\xc3\xa9");
	r[3].item_index = 99;
	strcpy(r[3].status, "VALID");
	r[3].der = der;
	r[3].der_len = 2;
	for (n = 0; n <= 4; n++) {
		memset(&job, 0, sizeof(job));
		strcpy(job.id, "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b");
		strcpy(job.status, n == 4 ? "COMPLETED" : "PROCESSING");
		job.dry_run = n == 2;
		job.n_items = (int)n;
		job.created_ms = 1767225600123;
		job.completed_ms = n == 4 ? 1767225600999 : 0;
		want = S_dump(S_job_tree(&job, r, n), JSON_COMPACT);
		got = tv_api_job_text(&job, r, n, &len);
		assert_non_null(got);
		assert_string_equal(got, want);
		assert_int_equal(len, strlen(want));
		free(got);
		free(want);
	}
	/* a label that is not UTF-8: the writer gives up (the tree drops it) */
	strcpy(r[0].label, "\xff");
	assert_null(tv_api_job_text(&job, r, 1, &len));
}

/* The writer's own bookkeeping: members, nesting, growth from a tiny hint. */
static void test_writer(void **state)
{
	struct tv_jw w;
	size_t len, i;
	char *t;

	(void)state;
	tv_jw_init(&w, 1);
	tv_jw_open(&w, '{');
	tv_jw_kint(&w, "a", -9223372036854775807LL - 1);
	tv_jw_kbool(&w, "b", false);
	tv_jw_kdate(&w, "c", 0);
	tv_jw_key(&w, "d");
	tv_jw_open(&w, '[');
	tv_jw_close(&w, ']');
	tv_jw_key(&w, "e");
	tv_jw_open(&w, '[');
	for (i = 0; i < 300; i++) {
		if (i)
			tv_jw_raw(&w, ",", 1);
		tv_jw_str(&w, "0123456789");
	}
	tv_jw_close(&w, ']');
	tv_jw_kb64(&w, "f", (const unsigned char *)"foobar", 6);
	tv_jw_close(&w, '}');
	t = tv_jw_finish(&w, &len);
	assert_non_null(t);
	assert_int_equal(len, strlen(t));
	assert_memory_equal(t, "{\"a\":-9223372036854775808,\"b\":false,\"c\":null,\"d\":[],\"e\":[\"0123456789\",",
			    70);
	assert_non_null(strstr(t, "\"0123456789\"],\"f\":\"Zm9vYmFy\"}"));
	{
		json_t *j = json_loads(t, 0, NULL);
		assert_non_null(j);
		assert_int_equal(json_array_size(json_object_get(j, "e")), 300);
		json_decref(j);
	}
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_escape_as_jansson),
		cmocka_unit_test(test_cert_text_matches_tree),
		cmocka_unit_test(test_job_text_matches_tree),
		cmocka_unit_test(test_writer),
	};

	return cmocka_run_group_tests_name("unit/jsonw", tests, NULL, NULL);
}
