/*
 * importer.h - the bulk-import engine behind `tlsvault import`.
 *
 * Life cycle (all on the calling thread except the progress callback):
 *   tv_imp_init -> tv_imp_fetch_dek -> tv_imp_collect / tv_imp_add_* ...
 *   -> tv_imp_run -> read imp->files[] -> tv_imp_release.
 * tv_imp_run starts up to `parallel` threads, each with its own curl
 * handle, and returns when every batch is final. It never prints: progress
 * goes to the callback (called with imp's lock held, from any worker), the
 * results stay in imp->files[] for cmd/ to show.
 */
#ifndef TV_CLI_IMPORTER_H
#define TV_CLI_IMPORTER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/client.h"
#include "core/err.h"
#include "core/secmem.h"

#define TV_IMP_BATCH_MAX 100
#define TV_IMP_PARALLEL_MAX 32
#define TV_IMP_MAX_KEYSTORE ((size_t)4 << 20)

struct tv_imp_file {
	char *path;          /* as given or found in the walk */
	json_t *item;        /* the importInformation item, NULL on a local failure */
	char local_error[256]; /* "CODE: message" when it could not be sent */
	json_t *results;     /* the job results for this item (array, own ref) */
	char batch_error[600]; /* the request for its batch failed */
};

typedef void (*tv_imp_progress_fn)(void *ud, size_t done, size_t total);

struct tv_cli_import {
	struct tv_client *client; /* borrowed; used on this thread, copied for workers */
	char edge_id[64];
	char key_id[64];
	unsigned char pk[32];
	bool dry_run;
	bool labels_from_filenames;
	int parallel;     /* batches in flight, 1..TV_IMP_PARALLEL_MAX */
	int wait_seconds; /* long-poll length per job poll */
	tv_imp_progress_fn progress;
	void *progress_ud;

	struct tv_imp_file *files;
	size_t n;

	/* run state, guarded by lock */
	pthread_mutex_t lock;
	size_t next_batch;
	size_t done;
	size_t total;
};

/** Prepare imp (caller-owned storage) to talk through client. */
void tv_imp_init(struct tv_cli_import *imp, struct tv_client *client);

/**
 * Find the tenant's edge instance and its DEK public key. err gets a
 * message for a person (an API error in the house format) on failure.
 */
enum tv_err tv_imp_fetch_dek(struct tv_cli_import *imp, char *err, size_t errlen) TV_WUR;

/**
 * Expand path into the keystore files to import: a file is taken as it is;
 * a directory is walked recursively (sorted) for *.p12 and *.pfx. Appends
 * the found paths to *paths (malloc'd strings, *n grows).
 */
enum tv_err tv_imp_collect(char ***paths, size_t *n, const char *path, char *err,
			   size_t errlen) TV_WUR;

/** Add a PKCS#12 file sealed with password (NULL: no password). Local failures are recorded, not returned. */
enum tv_err tv_imp_add_p12(struct tv_cli_import *imp, const char *path,
			   const struct tv_secbuf *password) TV_WUR;

/**
 * Add a PEM certificate with its key file: "PRIVATE KEY" PEM is sent as
 * sealed PKCS#8 DER, "ENCRYPTED PRIVATE KEY" PEM with the sealed password.
 */
enum tv_err tv_imp_add_pem(struct tv_cli_import *imp, const char *cert_path,
			   const char *key_path, const struct tv_secbuf *password) TV_WUR;

/**
 * Send every item in batches and wait for the jobs. Returns TV_OK when every
 * batch got an answer (items may still have failed), TV_ERR_IO when one or
 * more batches could not be sent or awaited (see files[].batch_error).
 */
enum tv_err tv_imp_run(struct tv_cli_import *imp) TV_WUR;

/** True when the file has a FAILED result or did not import at all. */
bool tv_imp_file_failed(const struct tv_imp_file *f);

void tv_imp_release(struct tv_cli_import *imp);

#endif
