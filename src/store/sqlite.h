/*
 * sqlite.h - the SQLite backend of struct tv_store_ops (the default store).
 * See store.h for the contract; open it through tv_store_open().
 */
#ifndef TV_STORE_SQLITE_H
#define TV_STORE_SQLITE_H

#include "store/store.h"

/** Open (or with create, make) the SQLite database at path. */
enum tv_err tv__sqlite_open(struct tv_store **out, const char *path, bool create) TV_WUR;

#endif
