/*
 * mdwe_exec.c - run a command with the kernel's memory-deny-write-execute
 * (prctl PR_SET_MDWE, Linux 6.3+): no mapping may be writable and
 * executable, or become executable later. It is what the unit's
 * MemoryDenyWriteExecute=yes enforces (with seccomp there), so the
 * scenario test served under it shows that tlsvaultd and its libraries
 * need no W+X memory. The setting survives execve and fork. Exit 77 (a
 * skip for CTest) when the kernel lacks it.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: mdwe_exec COMMAND [ARG...]\n", stderr);
		return 2;
	}
	if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) {
		fprintf(stderr, "mdwe_exec: PR_SET_MDWE: %s (Linux 6.3 or newer has it)\n",
			strerror(errno));
		return 77;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "mdwe_exec: cannot run '%s': %s\n", argv[1], strerror(errno));
	return 127;
}
