/*
 * secret.h - passwords and passphrases on the client: where they come from
 * (a file, an environment variable, stdin, the terminal), the per-file
 * password map, and sealing them to a DEK public key.
 *
 * Every secret lives in a tv_secbuf (core/secmem.h, wiped on free). No
 * function here prints. Not thread-safe except tv_cli_seal_b64 and
 * tv_cli_pwmap_find, which only read.
 */
#ifndef TV_CLI_SECRET_H
#define TV_CLI_SECRET_H

#include <stddef.h>

#include "core/err.h"
#include "core/secmem.h"

#define TV_CLI_MAX_SECRET 4096

/** The first line of a file (without its line ending). TV_ERR_IO if unreadable. */
enum tv_err tv_cli_secret_file(struct tv_secbuf **out, const char *path) TV_WUR;

/**
 * The value of environment variable var, which is then wiped in place and
 * unset (so it lingers in neither environ nor /proc/self/environ).
 * TV_ERR_NOT_FOUND when unset.
 */
enum tv_err tv_cli_secret_env(struct tv_secbuf **out, const char *var) TV_WUR;

/** One line read from file descriptor fd (stdin: 0). */
enum tv_err tv_cli_secret_fd(struct tv_secbuf **out, int fd) TV_WUR;

/**
 * Prompt on /dev/tty with echo off; with confirm, ask twice and fail with
 * TV_ERR_INVALID when the answers differ. TV_ERR_IO when there is no terminal.
 */
enum tv_err tv_cli_secret_ask(struct tv_secbuf **out, const char *prompt, int confirm) TV_WUR;

/** base64(crypto_box_seal(secret, pk)) into *out (malloc'd). */
enum tv_err tv_cli_seal_b64(char **out, const void *secret, size_t len,
			    const unsigned char pk[32]) TV_WUR;

struct tv_cli_pwmap_entry {
	char *file;
	struct tv_secbuf *password;
};

/** Per-file passwords from a CSV of "file,password" lines (split at the first comma). */
struct tv_cli_pwmap {
	struct tv_cli_pwmap_entry *entries;
	size_t n;
};

/** Load the map; err names the file and line on TV_ERR_INVALID. */
enum tv_err tv_cli_pwmap_load(struct tv_cli_pwmap *map, const char *path, char *err,
			      size_t errlen) TV_WUR;

/**
 * The password for path, or NULL. An entry matches the path as given, a
 * path that ends with "/<entry>", or (for an entry without '/') the base name.
 */
const struct tv_secbuf *tv_cli_pwmap_find(const struct tv_cli_pwmap *map, const char *path);

/** Wipe and free the map. */
void tv_cli_pwmap_release(struct tv_cli_pwmap *map);

#endif
