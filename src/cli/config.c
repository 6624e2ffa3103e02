/*
 * DESIGN: the config file holds an API key, so it is treated like ~/.ssh
 * keys: a file that others can read is refused outright rather than used
 * with a warning, because a warning in a CI log is easy to miss. The file
 * is only opened when the command line and the environment leave a gap.
 */
#include "cli/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/secmem.h"

#define S_MAX_LINE 4096

static void S_trim(char *s)
{
	size_t n = strlen(s);
	char *p = s;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	memmove(s, p, strlen(p) + 1);
}

/* Read url/api_key from path into *url / *key where they are still NULL. */
static enum tv_err S_read_file(const char *path, char **url, char **key, char *err,
			       size_t errlen)
{
	char line[S_MAX_LINE], *eq;
	enum tv_err rc = TV_OK;
	struct stat st;
	unsigned lineno = 0;
	FILE *f = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? TV_OK : TV_ERR_IO;
	if (fstat(fd, &st) != 0) {
		close(fd);
		snprintf(err, errlen, "cannot stat '%s'", path);
		return TV_ERR_IO;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		snprintf(err, errlen,
			 "config file '%s' is accessible by group or others (mode %04o); "
			 "run: chmod 600 '%s'", path, (unsigned)(st.st_mode & 07777), path);
		return TV_ERR_DENIED;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return TV_ERR_IO;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		S_trim(line);
		if (!line[0] || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			snprintf(err, errlen, "'%s' line %u: expected key=value", path, lineno);
			rc = TV_ERR_INVALID;
			goto out;
		}
		*eq++ = '\0';
		S_trim(line);
		S_trim(eq);
		if (!strcmp(line, "url")) {
			if (!*url && !(*url = strdup(eq)))
				rc = TV_ERR_NOMEM;
		} else if (!strcmp(line, "api_key")) {
			if (!*key && !(*key = strdup(eq)))
				rc = TV_ERR_NOMEM;
		} else {
			snprintf(err, errlen, "'%s' line %u: unknown setting '%s'", path, lineno,
				 line);
			rc = TV_ERR_INVALID;
		}
		if (rc)
			goto out;
	}
out:
	tv_wipe(line, sizeof(line));
	fclose(f);
	return rc;
}

/* Wipe a key given in argv or the environment, once copied (or not needed). */
static void S_erase_key_sources(char *key_opt, char *key_env)
{
	if (key_opt)
		tv_wipe(key_opt, strlen(key_opt));
	if (key_env) {
		tv_wipe(key_env, strlen(key_env));
		unsetenv("TLSVAULT_API_KEY");
	}
}

enum tv_err tv_cli_config_load(struct tv_cli_config *cfg, const char *url_opt,
			       char *key_opt, char *err, size_t errlen)
{
	const char *url_src = url_opt ? url_opt : getenv("TLSVAULT_URL");
	char *key_env = getenv("TLSVAULT_API_KEY");
	const char *key_src = key_opt ? key_opt : key_env;
	const char *home = getenv("HOME");
	char *url = NULL, *key = NULL, path[1024];
	enum tv_err rc = TV_ERR_NOMEM;

	err[0] = '\0';
	if (url_src && url_src[0] && !(url = strdup(url_src)))
		goto out;
	if (key_src && key_src[0] && !(key = strdup(key_src)))
		goto out;
	S_erase_key_sources(key_opt, key_env);
	key_opt = key_env = NULL;
	if ((!url || !key) && home && home[0]) {
		snprintf(path, sizeof(path), "%s/.config/tlsvault/config", home);
		rc = S_read_file(path, &url, &key, err, errlen);
		if (rc)
			goto out;
	}
	if (!url && !(url = strdup(TV_CLI_DEFAULT_URL))) {
		rc = TV_ERR_NOMEM;
		goto out;
	}
	cfg->url = url;
	cfg->api_key = key;
	url = key = NULL;
	rc = TV_OK;
out:
	S_erase_key_sources(key_opt, key_env);
	free(url);
	if (key) {
		tv_wipe(key, strlen(key));
		free(key);
	}
	return rc;
}

void tv_cli_config_release(struct tv_cli_config *cfg)
{
	free(cfg->url);
	if (cfg->api_key) {
		tv_wipe(cfg->api_key, strlen(cfg->api_key));
		free(cfg->api_key);
	}
	cfg->url = cfg->api_key = NULL;
}
