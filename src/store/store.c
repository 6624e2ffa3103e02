/*
 * DESIGN: the backend is chosen by the URL's scheme; everything else goes
 * through the vtable. Role names live here because both backends store them
 * as text and the API prints them.
 */
#include "store/store.h"

#include <string.h>

#include "store/sqlite.h"

enum tv_err tv_store_open(struct tv_store **out, const char *url, bool create)
{
	if (!strncmp(url, "sqlite:", 7))
		return tv__sqlite_open(out, url + 7, create);
	if (strstr(url, "://"))
		return TV_ERR_INVALID; /* an unknown scheme, not a file name */
	return tv__sqlite_open(out, url, create);
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
