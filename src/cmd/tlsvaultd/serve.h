/* serve.h - `tlsvaultd serve`: run the HTTP API until SIGTERM/SIGINT. */
#ifndef TV_CMD_TLSVAULTD_SERVE_H
#define TV_CMD_TLSVAULTD_SERVE_H

/** Parse serve's options and run; returns the process exit status. */
int tv_cmd_serve(int argc, char **argv);

#endif
