/*
 * harden.h - process-wide protections for the programs that hold secrets.
 *
 * DESIGN: sodium_malloc memory is already left out of core dumps
 * (MADV_DONTDUMP) and locked in RAM, but a process also holds secrets in
 * memory we don't allocate: OpenSSL's live key objects, libcurl's and
 * libmicrohttpd's buffers, the stack. A core dump or a debugger attached by
 * another process of the same user would read them, so both programs refuse
 * them before they read their first secret. Call from main() only.
 */
#ifndef TV_CORE_HARDEN_H
#define TV_CORE_HARDEN_H

#include "core/err.h"

/**
 * Set RLIMIT_CORE to 0 (soft and hard: it can't be raised again) and
 * PR_SET_DUMPABLE to 0, which also stops other processes of the same user
 * (without CAP_SYS_PTRACE) from attaching with ptrace or reading
 * /proc/PID/mem, and makes this process's /proc/PID files belong to root.
 * The flag is reset by execve(), so programs we run are not affected.
 * TV_ERR_IO when either call fails (both are always tried).
 */
enum tv_err tv_harden_no_dumps(void) TV_WUR;

#endif
