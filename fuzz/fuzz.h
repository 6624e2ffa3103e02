/*
 * fuzz.h - what every fuzz target shares.
 *
 * DESIGN: each fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput (and may
 * define LLVMFuzzerInitialize). The same source builds two ways: with
 * clang's libFuzzer (`make fuzz`, build-fuzz/) for coverage-guided runs, and
 * with fuzz/driver.c, a plain main() that replays every file of the
 * committed corpus, for the regression run in `make test` (build-asan/,
 * under ASan+UBSan). A finding is an abort(): FZ_CHECK names the broken
 * property, so a crash input explains itself.
 */
#ifndef TV_FUZZ_FUZZ_H
#define TV_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property that must hold for every input; on failure, report and abort. */
#define FZ_CHECK(cond, what)                                                              \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz: property broken at %s:%d: %s (%s)\n",      \
				__FILE__, __LINE__, what, #cond);                         \
			abort();                                                          \
		}                                                                         \
	} while (0)

/* Free what a handler-side function wrote into a response. */
static inline void fz_resp_release(struct tv_http_resp *resp)
{
	size_t i;

	free(resp->body);
	for (i = 0; i < TV_HTTP_MAX_HEADERS; i++) {
		free(resp->headers[i][0]);
		free(resp->headers[i][1]);
	}
}

#endif
