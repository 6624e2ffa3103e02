#!/bin/sh
# with-mdwe.sh MDWE_EXEC TEST: run an integration TEST whose servers run
# under MDWE_EXEC (tests/install/mdwe_exec.c), so any writable and
# executable mapping in tlsvaultd fails it. Exit 77 (skipped) on a kernel
# without PR_SET_MDWE.
set -u
"$1" true || exit 77
TVH_SERVER_WRAPPER=$1 exec "$2"
