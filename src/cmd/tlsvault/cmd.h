/*
 * cmd.h - what the tlsvault subcommands share: the global options, the
 * exit codes, and helpers that turn an API answer into an exit code and a
 * message for a person. Single-threaded (main) except where noted.
 */
#ifndef TV_CMD_TLSVAULT_CMD_H
#define TV_CMD_TLSVAULT_CMD_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/client.h"

#define TV_EXIT_OK 0
#define TV_EXIT_RUNTIME 1
#define TV_EXIT_USAGE 2
#define TV_EXIT_PARTIAL 3

struct tv_cmd {
	struct tv_client client;
	bool json; /* --json: machine-readable output on stdout */
};

/**
 * One call that must answer with status want. On anything else prints
 * "error: <message> (code N, request <id>)" (or the network failure, which
 * names the URL) on stderr and returns TV_EXIT_RUNTIME; else 0. *r is always
 * initialised and must be released. body is not stolen.
 */
int tv_cmd_api(struct tv_cmd *g, struct tv_client_resp *r, const char *method,
	       const char *path, json_t *body, long want);

/** A string member or "-". */
const char *tv_cmd_s(json_t *o, const char *key);

/**
 * Resolve a certificate id or fingerprint (40 hex digits, ':' allowed) to a
 * certificate id (out, 64 bytes). Prints the error and returns an exit code.
 */
int tv_cmd_resolve_cert(struct tv_cmd *g, const char *ref, char out[64]);

/** A whole file (malloc'd, NUL-terminated), or NULL with errno set. */
char *tv_cmd_read_file(const char *path, size_t *len);

/** True when argv[1..] holds --help or -h. */
bool tv_cmd_wants_help(int argc, char **argv);

/** Print json (compact or indented) on stdout with a newline. */
void tv_cmd_print_json(json_t *j);

int tv_cmd_import(struct tv_cmd *g, int argc, char **argv);
int tv_cmd_ca(struct tv_cmd *g, int argc, char **argv);
int tv_cmd_cert(struct tv_cmd *g, int argc, char **argv);
int tv_cmd_job(struct tv_cmd *g, int argc, char **argv);
int tv_cmd_export(struct tv_cmd *g, int argc, char **argv);
int tv_cmd_apikey(struct tv_cmd *g, int argc, char **argv);

#endif
