/*
 * postgres.h - the PostgreSQL backend of struct tv_store_ops (several nodes
 * on one database). See store.h for the contract; open it through
 * tv_store_open().
 */
#ifndef TV_STORE_POSTGRES_H
#define TV_STORE_POSTGRES_H

#include "store/store.h"

/**
 * Open the database at url (a libpq URL). create and the errors are as
 * tv_store_open's; why (may be NULL) gets the server's reason on failure.
 */
enum tv_err tv__pg_open(struct tv_store **out, const char *url, bool create, char *why,
			size_t why_size) TV_WUR;

#endif
