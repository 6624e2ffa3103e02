/* tv-test-libs: tv_core */
/*
 * test_harden.c - core/harden.h: after tv_harden_no_dumps() a process has
 * no core limit left and is not dumpable. Each check runs in a child, so
 * the test process itself is untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/harden.h"

/* The child's verdict: 0 when every protection is in place. */
static int S_child(void)
{
	struct rlimit rl = { 1, 1 }, up = { RLIM_INFINITY, RLIM_INFINITY };

	if (tv_harden_no_dumps() != TV_OK)
		return 10;
	if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
		return 11;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 12;
	/* the hard limit is 0 too: an unprivileged process can't raise it
	 * again, and root would have to mean it */
	if (geteuid() != 0 && setrlimit(RLIMIT_CORE, &up) == 0)
		return 13;
	return 0;
}

static void test_no_dumps(void **state)
{
	int status = -1;
	pid_t pid;

	(void)state;
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1); /* we start dumpable */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(S_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1); /* the parent is untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_dumps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
