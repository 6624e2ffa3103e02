/*
 * DESIGN: see harden.h. Linux only, like the rest of the server
 * (prctl(2)); the rlimit alone would still stop the core file elsewhere.
 */
#include "core/harden.h"

#include <sys/prctl.h>
#include <sys/resource.h>

enum tv_err tv_harden_no_dumps(void)
{
	struct rlimit no_core = { 0, 0 };
	enum tv_err rc = TV_OK;

	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		rc = TV_ERR_IO;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		rc = TV_ERR_IO;
	return rc;
}
