/*
 * DESIGN: the backend is chosen by the URL's scheme (sqlite:, a plain path,
 * postgresql:// or postgres://); everything else goes through the vtable. Role names live here because both backends store them
 * as text and the API prints them.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

#include "store/postgres.h"
#include "store/sqlite.h"

bool tv_store_url_is_pg(const char *url)
{
	return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
}

enum tv_err tv_store_open_ex(struct tv_store **out, const char *url, bool create, char *why,
			     size_t why_size)
{
	if (why && why_size)
		why[0] = '\0';
	if (tv_store_url_is_pg(url))
		return tv__pg_open(out, url, create, why, why_size);
	if (!strncmp(url, "sqlite:", 7))
		return tv__sqlite_open(out, url + 7, create);
	if (strstr(url, "://"))
		return TV_ERR_INVALID; /* an unknown scheme, not a file name */
	return tv__sqlite_open(out, url, create);
}

enum tv_err tv_store_open(struct tv_store **out, const char *url, bool create)
{
	return tv_store_open_ex(out, url, create, NULL, 0);
}

void tv_store_close(struct tv_store *st)
{
	if (st)
		st->ops->close(st);
}

const char *tv_role_name(enum tv_role role)
{
	switch (role) {
	case TV_ROLE_READ_ONLY: return "READ_ONLY";
	case TV_ROLE_PKI_ADMIN: return "PKI_ADMIN";
	case TV_ROLE_ADMIN: return "ADMIN";
	case TV_ROLE_NONE: break;
	}
	return "NONE";
}

enum tv_role tv_role_parse(const char *s)
{
	if (!strcmp(s, "READ_ONLY"))
		return TV_ROLE_READ_ONLY;
	if (!strcmp(s, "PKI_ADMIN"))
		return TV_ROLE_PKI_ADMIN;
	if (!strcmp(s, "ADMIN"))
		return TV_ROLE_ADMIN;
	return TV_ROLE_NONE;
}

void tv_trusted_cas_free(struct tv_trusted_ca *cas, size_t n)
{
	size_t i;

	for (i = 0; cas && i < n; i++) {
		free(cas[i].der);
		free(cas[i].facts_json);
	}
	free(cas);
}

void tv_import_item_release(struct tv_import_item *item)
{
	if (item->keystore)
		tv_wipe(item->keystore, item->keystore_len);
	if (item->key)
		tv_wipe(item->key, item->key_len);
	if (item->sealed_password)
		tv_wipe(item->sealed_password, item->sealed_password_len);
	free(item->keystore);
	free(item->key);
	free(item->sealed_password);
	item->keystore = item->key = item->sealed_password = NULL;
	item->keystore_len = item->key_len = item->sealed_password_len = 0;
}

void tv_import_results_free(struct tv_import_result *r, size_t n)
{
	size_t i;

	for (i = 0; r && i < n; i++) {
		free(r[i].reason);
		free(r[i].der);
	}
	free(r);
}

void tv_cert_records_free(struct tv_cert_record *r, size_t n)
{
	size_t i;

	for (i = 0; r && i < n; i++) {
		free(r[i].der);
		free(r[i].facts_json);
		free(r[i].issuer_ids_json);
	}
	free(r);
}

void tv_sealed_keys_free(struct tv_sealed_key *k, size_t n)
{
	size_t i;

	for (i = 0; k && i < n; i++) {
		if (k[i].sealed)
			tv_wipe(k[i].sealed, k[i].sealed_len);
		free(k[i].sealed);
	}
	free(k);
}
