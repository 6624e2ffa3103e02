/*
 * driver.c - the regression runner: replays files through a fuzz target
 * without libFuzzer, so `make test` runs every committed corpus under
 * ASan+UBSan with the project's own compiler.
 *
 * usage: fuzz_<name> PATH...   (each PATH a file, or a directory of files)
 * Exits 0 when every input ran; a broken property aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static const char *volatile S_current;

/* Name the input that broke a property (or crashed) before dying. */
static void S_on_abort(int sig)
{
	const char *p = S_current;

	if (p) {
		ssize_t w = write(2, "fuzz driver: failing input: ", 28);
		w += write(2, p, strlen(p));
		w += write(2, "\n", 1);
		(void)w;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int S_run_file(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "fuzz driver: cannot read %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	/* a private copy of exactly len bytes, so ASan sees any over-read */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || (len && fread(buf, 1, (size_t)len, f) != (size_t)len)) {
		fprintf(stderr, "fuzz driver: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	S_current = path;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	S_current = NULL;
	free(buf);
	(*count)++;
	return 0;
}

static int S_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int S_run_path(const char *path, size_t *count)
{
	struct dirent *de;
	struct stat sb;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;
	DIR *d;

	if (stat(path, &sb)) {
		fprintf(stderr, "fuzz driver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode))
		return S_run_file(path, count);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char full[4096];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(full, sizeof(full), "%s/%s", path, de->d_name) >= (int)sizeof(full))
			continue;
		if (n == cap) {
			char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (!grown) {
				rc = -1;
				break;
			}
			names = grown;
		}
		names[n] = strdup(full);
		if (!names[n]) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), S_cmp); /* a stable order, for a reproducible run */
	for (i = 0; i < n; i++) {
		if (!rc && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode))
			rc = S_run_file(names[i], count);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH...\n", argv[0]);
		return 2;
	}
	signal(SIGABRT, S_on_abort);
	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++)
		if (S_run_path(argv[i], &count))
			return 1;
	printf("%s: %zu inputs ran\n", argv[0], count);
	return count ? 0 : 1;
}
