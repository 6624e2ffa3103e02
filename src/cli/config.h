/*
 * config.h - where the CLI finds its server and API key.
 *
 * Precedence: --url/--api-key, then TLSVAULT_URL/TLSVAULT_API_KEY, then the
 * file $HOME/.config/tlsvault/config (lines "url=..." and "api_key=...",
 * '#' comments), then http://127.0.0.1:8080. Single-threaded (main only).
 */
#ifndef TV_CLI_CONFIG_H
#define TV_CLI_CONFIG_H

#include <stddef.h>

#include "core/err.h"

#define TV_CLI_DEFAULT_URL "http://127.0.0.1:8080"

struct tv_cli_config {
	char *url;     /* malloc'd, never NULL after a successful load */
	char *api_key; /* malloc'd, may be NULL; wiped on release */
};

/**
 * Resolve the configuration. url_opt/key_opt are the command-line values
 * (may be NULL). The config file is read only when something is still
 * missing; it is refused (TV_ERR_DENIED) when its mode gives group or other
 * any access, and malformed lines give TV_ERR_INVALID. err gets a message
 * for a person on failure. *cfg is set only on success.
 *
 * The key's other copies are erased once read, on success and failure
 * alike: key_opt (a string of argv, so /proc/PID/cmdline shows it to every
 * local user) is overwritten with NULs in place, and TLSVAULT_API_KEY is
 * wiped in place and unset, so no program we run inherits it.
 */
enum tv_err tv_cli_config_load(struct tv_cli_config *cfg, const char *url_opt,
			       char *key_opt, char *err, size_t errlen) TV_WUR;

/** Free (and wipe the key). */
void tv_cli_config_release(struct tv_cli_config *cfg);

#endif
