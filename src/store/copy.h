/*
 * copy.h - move a vault from SQLite to PostgreSQL (`tlsvaultd migrate`).
 *
 * DESIGN: every row is copied as it is, ids included, so what the master
 * key wrapped (each DEK, bound by its AAD to its dek id and tenant id) and
 * what the DEKs sealed (stored keys, pending passwords) opens on the new
 * database exactly as on the old one: nothing is decrypted or re-sealed,
 * and the master key is not needed. The whole copy is one PostgreSQL
 * transaction that first locks the tables and checks they are empty, so a
 * failed or refused copy leaves nothing behind, and the source is read in
 * one SQLite read transaction (a consistent snapshot).
 *
 * Threads: call from one thread; the stores are opened and closed inside.
 */
#ifndef TV_STORE_COPY_H
#define TV_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TV_STORE_COPY_TABLES 11

struct tv_store_copy_report {
	struct {
		const char *table; /* static */
		int64_t rows;
	} tables[TV_STORE_COPY_TABLES];
	size_t n;
};

/**
 * Copy the SQLite vault at from_url ("sqlite:PATH" or a path) into the
 * PostgreSQL database at to_url (it must exist; its vault schema is created
 * if missing). TV_ERR_INVALID when the URLs aren't SQLite then PostgreSQL,
 * TV_ERR_NOT_FOUND when the source holds no vault, TV_ERR_EXISTS (nothing
 * written) when the target holds any row already. why (may be NULL) gets a
 * reason for a person on failure, never a URL or a password.
 */
enum tv_err tv_store_copy(const char *from_url, const char *to_url,
			  struct tv_store_copy_report *report, char *why, size_t why_size) TV_WUR;

#endif
