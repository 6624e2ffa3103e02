/*
 * DESIGN: argument parsing, the order of the file steps, and what to tell
 * the operator; the work is in store/backup.h, svc/keys.h and dek/dek.h.
 *
 * rotate-master-key keeps this invariant: at every moment either
 * DIR/master.key opens every DEK of the store, or DIR/master.key.new does
 * and rerunning the command finishes the job (it sees which key opens the
 * store and acts on it). The steps: take the vault lock exclusively (a
 * server on this directory holds it shared), write master.key.new (0600,
 * O_EXCL, fsync'd with its directory), re-wrap every DEK in one
 * transaction, then link master.key to master.key.old and rename
 * master.key.new over master.key, syncing the directory after each.
 */
#include "cmd/tlsvaultd/keys_cmds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/secmem.h"
#include "core/util.h"
#include "dek/dek.h"
#include "store/backup.h"
#include "store/store.h"
#include "svc/keyring.h"
#include "svc/keys.h"

#define EXIT_USAGE 2
#define S_PATH 4096

static const char S_backup_usage[] =
	"usage: tlsvaultd backup --data DIR --out FILE\n"
	"\n"
	"Copy the SQLite vault in DIR to FILE while the server runs: a consistent\n"
	"snapshot (SQLite's online backup API), taken in steps so the server's writers\n"
	"go on. FILE is created mode 0600 and never overwritten. The copy holds the\n"
	"database only, NOT master.key: keep a copy of DIR/master.key somewhere safe\n"
	"and separate, or the backup can't be restored. For a PostgreSQL store use\n"
	"pg_dump (docs/DEPLOYMENT.md).\n";

static const char S_restore_usage[] =
	"usage: tlsvaultd restore --in FILE --data DIR\n"
	"\n"
	"Lay out a new vault directory DIR (it must be empty or absent) from a backup\n"
	"FILE made by 'tlsvaultd backup', after checking FILE is a tlsvault database\n"
	"(schema and integrity check). Then put the vault's master.key back into DIR\n"
	"(mode 0600) and run 'tlsvaultd serve --data DIR'.\n";

static const char S_rotate_usage[] =
	"usage: tlsvaultd rotate-master-key --data DIR [--db URL]\n"
	"\n"
	"Make a new master key and re-wrap every DEK under it in one transaction.\n"
	"The server must be stopped (refused while one holds DIR). The old key is kept\n"
	"as DIR/master.key.old (mode 0600): it still opens backups taken before the\n"
	"rotation; move it somewhere safe or delete it. With PostgreSQL, copy the new\n"
	"master.key to every node before restarting them. If the command is\n"
	"interrupted, run it again: it finishes what was started.\n";

static const char S_dek_usage[] =
	"usage: tlsvaultd dek rotate --data DIR [--db URL] --tenant ID [--batch N]\n"
	"                            [--wait SECONDS]\n"
	"\n"
	"Give a tenant a new DEK: reseal every stored private key to it, in batches of N\n"
	"(default 100, one transaction each), then point the tenant's edge instance at\n"
	"it, so clients seal new passwords to it. Imports already posted with the old\n"
	"DEK still finish (it is kept); their keys are resealed as they land, for up\n"
	"to --wait seconds (default 600). Safe while the server runs. Interrupted or\n"
	"timed out, run it again: it continues from the store's state.\n";

struct S_opts {
	const char *data, *db, *out, *in, *tenant;
	long batch, wait_s;
	bool help;
};

static const char *S_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int S_parse(struct S_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ "in", required_argument, NULL, 'i' },
		{ "tenant", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->data = S_env("TLSVAULT_DATA");
	o->db = S_env("TLSVAULT_DB");
	o->batch = 100;
	o->wait_s = 600;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'b': o->db = optarg; break;
		case 'o': o->out = optarg; break;
		case 'i': o->in = optarg; break;
		case 't': o->tenant = optarg; break;
		case 'n':
			o->batch = strtol(optarg, &end, 10);
			if (*end || o->batch < 1 || o->batch > 10000) {
				fprintf(stderr, "tlsvaultd: --batch takes 1 to 10000\n");
				return -1;
			}
			break;
		case 'w':
			o->wait_s = strtol(optarg, &end, 10);
			if (*end || o->wait_s < 0 || o->wait_s > 86400) {
				fprintf(stderr, "tlsvaultd: --wait takes 0 to 86400 seconds\n");
				return -1;
			}
			break;
		case 'h': o->help = true; break;
		default: return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tlsvaultd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

enum { S_DATA = 1, S_OUT = 2, S_IN = 4, S_TENANT = 8 };

/* 0 = go on; -1 = help was printed; else the exit status (usage printed). */
static int S_args(struct S_opts *o, int argc, char **argv, const char *usage, unsigned need)
{
	bool ok;

	if (S_parse(o, argc, argv)) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	ok = (!(need & S_DATA) || o->data) && (!(need & S_OUT) || o->out) &&
	     (!(need & S_IN) || o->in) && (!(need & S_TENANT) || o->tenant);
	if (!o->help && !ok) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (o->help) {
		fputs(usage, stdout);
		return -1;
	}
	return 0;
}

static int S_fail(const char *what, enum tv_err rc)
{
	fprintf(stderr, "tlsvaultd: %s: %s\n", what, tv_strerror(rc));
	return EXIT_FAILURE;
}

static bool S_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n > 0 && (size_t)n < size;
}

static void S_db_url(char *out, size_t size, const struct S_opts *o)
{
	if (o->db)
		snprintf(out, size, "%s", o->db);
	else
		snprintf(out, size, "sqlite:%s/tlsvault.db", o->data);
}

static int S_open_store(struct tv_store **st, const struct S_opts *o)
{
	char url[S_PATH + 100], why[256];
	enum tv_err rc;

	S_db_url(url, sizeof(url), o);
	rc = tv_store_open_ex(st, url, false, why, sizeof(why));
	if (rc == TV_ERR_NOT_FOUND) {
		fprintf(stderr, "tlsvaultd: the database holds no vault (run 'tlsvaultd init')\n");
		return EXIT_FAILURE;
	}
	if (rc) {
		fprintf(stderr, "tlsvaultd: opening the store: %s%s%s\n", tv_strerror(rc),
			why[0] ? ": " : "", why);
		return EXIT_FAILURE;
	}
	return 0;
}

static int S_load_key(struct tv_secbuf **key, const char *path)
{
	enum tv_err rc = tv_master_load(key, path);

	if (rc == TV_ERR_NOT_FOUND)
		fprintf(stderr, "tlsvaultd: no '%s'\n", path);
	else if (rc == TV_ERR_DENIED)
		fprintf(stderr, "tlsvaultd: '%s' is readable by others; chmod 600 it\n", path);
	else if (rc)
		fprintf(stderr, "tlsvaultd: reading '%s': %s\n", path, tv_strerror(rc));
	return rc ? EXIT_FAILURE : 0;
}

/* ---------- backup and restore ---------- */

int tv_cmd_backup(int argc, char **argv)
{
	struct tv_backup_report rep;
	char db[S_PATH], why[512];
	struct S_opts o;
	enum tv_err rc;
	int status;

	status = S_args(&o, argc, argv, S_backup_usage, S_DATA | S_OUT);
	if (status)
		return status < 0 ? 0 : status;
	if (o.db && tv_store_url_is_pg(o.db)) {
		fprintf(stderr, "tlsvaultd: backup copies a SQLite vault; for PostgreSQL use "
				"pg_dump -Fc (docs/DEPLOYMENT.md), and keep master.key apart\n");
		return EXIT_USAGE;
	}
	if (o.db) {
		/* sqlite:PATH or a path */
		snprintf(db, sizeof(db), "%s", strncmp(o.db, "sqlite:", 7) ? o.db : o.db + 7);
	} else if (!S_path(db, sizeof(db), o.data, "tlsvault.db")) {
		return S_fail("--data", TV_ERR_INVALID);
	}
	rc = tv_store_sqlite_backup(db, o.out, &rep, why, sizeof(why));
	if (rc == TV_ERR_EXISTS) {
		fprintf(stderr, "tlsvaultd: '%s' exists; backup never overwrites a file\n", o.out);
		return EXIT_FAILURE;
	}
	if (rc == TV_ERR_NOT_FOUND) {
		fprintf(stderr, "tlsvaultd: no vault database at '%s'\n", db);
		return EXIT_FAILURE;
	}
	if (rc) {
		fprintf(stderr, "tlsvaultd: backup failed: %s%s%s (nothing was kept)\n",
			tv_strerror(rc), why[0] ? ": " : "", why);
		return EXIT_FAILURE;
	}
	fprintf(stderr,
		"tlsvaultd: WARNING: the backup does NOT contain master.key. Without the vault's\n"
		"master.key nothing in it can be decrypted, and with it anyone holding the\n"
		"backup can. Back up %s/master.key separately and securely (not next to this\n"
		"file); restore needs it.\n",
		o.data ? o.data : "DIR");
	printf("{\"backup\":\"%s\",\"bytes\":%lld,\"pages\":%lld,\"schemaVersion\":%d,"
	       "\"snapshotMs\":%lld}\n",
	       o.out, (long long)rep.bytes, (long long)rep.pages, rep.schema_version,
	       (long long)rep.snapshot_ms);
	fflush(stdout);
	return 0;
}

/* 1 when dir exists and holds anything, 0 when empty or absent, -1 error. */
static int S_dir_nonempty(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int found = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			found = 1;
			break;
		}
	closedir(d);
	return found;
}

static enum tv_err S_copy_file(const char *from, const char *to)
{
	unsigned char buf[65536];
	enum tv_err rc = TV_OK;
	int in, out;
	ssize_t r;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return TV_ERR_IO;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return errno == EEXIST ? TV_ERR_EXISTS : TV_ERR_IO;
	}
	while (!rc && (r = read(in, buf, sizeof(buf))) != 0) {
		ssize_t off = 0;

		if (r < 0) {
			if (errno != EINTR)
				rc = TV_ERR_IO;
			continue;
		}
		while (!rc && off < r) {
			ssize_t w = write(out, buf + off, (size_t)(r - off));
			if (w < 0 && errno != EINTR)
				rc = TV_ERR_IO;
			else if (w > 0)
				off += w;
		}
	}
	if (!rc && fsync(out) != 0)
		rc = TV_ERR_IO;
	close(out);
	close(in);
	if (rc)
		unlink(to);
	return rc;
}

int tv_cmd_restore(int argc, char **argv)
{
	struct tv_store *st = NULL;
	char db[S_PATH], tmp[S_PATH], url[S_PATH + 16], why[512];
	bool made_dir = false;
	struct S_opts o;
	enum tv_err rc;
	int status, version = 0, ne;

	status = S_args(&o, argc, argv, S_restore_usage, S_DATA | S_IN);
	if (status)
		return status < 0 ? 0 : status;
	if (o.db) {
		fprintf(stderr, "tlsvaultd: restore lays out a SQLite vault directory; for "
				"PostgreSQL use pg_restore (docs/DEPLOYMENT.md)\n");
		return EXIT_USAGE;
	}
	if (!S_path(db, sizeof(db), o.data, "tlsvault.db") ||
	    !S_path(tmp, sizeof(tmp), o.data, "tlsvault.db.restoring"))
		return S_fail("--data", TV_ERR_INVALID);
	ne = S_dir_nonempty(o.data);
	if (ne != 0) {
		fprintf(stderr, "tlsvaultd: '%s' %s; restore needs an empty or new directory; "
				"nothing changed\n", o.data,
			ne > 0 ? "is not empty" : "can't be read");
		return EXIT_FAILURE;
	}
	rc = tv_store_sqlite_verify(o.in, &version, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "tlsvaultd: '%s' is not a usable tlsvault backup: %s; nothing "
				"changed\n", o.in, why);
		return EXIT_FAILURE;
	}
	if (mkdir(o.data, 0700) == 0)
		made_dir = true;
	else if (errno != EEXIST)
		return S_fail("creating the data directory", TV_ERR_IO);
	rc = S_copy_file(o.in, tmp);
	if (!rc && rename(tmp, db) != 0)
		rc = TV_ERR_IO;
	if (!rc)
		rc = tv_fsync_path(db, true);
	if (rc) {
		S_fail("copying the backup into place", rc);
		goto undo;
	}
	/* opening runs the migrations a backup from an older version needs, and
	 * refuses one from a newer version */
	snprintf(url, sizeof(url), "sqlite:%s", db);
	rc = tv_store_open_ex(&st, url, false, why, sizeof(why));
	tv_store_close(st);
	if (rc) {
		fprintf(stderr, "tlsvaultd: the restored database does not open: %s%s%s\n",
			rc == TV_ERR_VERSION ? "it was written by a newer tlsvaultd"
					     : tv_strerror(rc),
			why[0] ? ": " : "", why);
		goto undo;
	}
	fprintf(stderr,
		"tlsvaultd: restored into '%s'. It has no master.key: copy the vault's\n"
		"master.key into it (chmod 600) before 'tlsvaultd serve --data %s'.\n",
		o.data, o.data);
	printf("{\"restored\":\"%s\",\"schemaVersion\":%d}\n", db, version);
	fflush(stdout);
	return 0;
undo: {
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[S_PATH + 16];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", db, sfx[i]);
		unlink(p);
	}
	unlink(tmp);
	if (made_dir)
		rmdir(o.data);
	return EXIT_FAILURE;
}
}

/* ---------- master-key rotation ---------- */

/* Does key open every DEK of the store? -1 on a store error. */
static int S_opens_all(struct tv_store *st, const struct tv_secbuf *key, size_t *total)
{
	size_t ok = 0;

	if (tv_svc_master_check(st, key, &ok, total) != TV_OK)
		return -1;
	return ok == *total;
}

int tv_cmd_rotate_master_key(int argc, char **argv)
{
	char cur[S_PATH], nw[S_PATH], old[S_PATH];
	struct tv_secbuf *cur_key = NULL, *new_key = NULL;
	struct tv_store *st = NULL;
	size_t total = 0, n = 0;
	struct S_opts o;
	enum tv_err rc;
	int status, lock = -1, opens;

	status = S_args(&o, argc, argv, S_rotate_usage, S_DATA);
	if (status)
		return status < 0 ? 0 : status;
	if (!S_path(cur, sizeof(cur), o.data, "master.key") ||
	    !S_path(nw, sizeof(nw), o.data, "master.key.new") ||
	    !S_path(old, sizeof(old), o.data, "master.key.old"))
		return S_fail("--data", TV_ERR_INVALID);
	rc = tv_vault_lock(o.data, true, &lock);
	if (rc == TV_ERR_BUSY) {
		fprintf(stderr, "tlsvaultd: a server (or a DEK rotation) holds the vault in '%s'; "
				"stop it first; nothing changed\n", o.data);
		return EXIT_FAILURE;
	}
	if (rc) {
		fprintf(stderr, "tlsvaultd: no vault in '%s' (%s)\n", o.data, tv_strerror(rc));
		return EXIT_FAILURE;
	}
	status = S_load_key(&cur_key, cur);
	if (!status)
		status = S_open_store(&st, &o);
	if (status)
		goto out;

	/* An earlier run stopped after its transaction: master.key.new opens
	 * the store and master.key doesn't. Finish the file steps. */
	if (access(nw, F_OK) == 0) {
		status = S_load_key(&new_key, nw);
		if (status)
			goto out;
		opens = S_opens_all(st, new_key, &total);
		if (opens < 0) {
			status = S_fail("reading the DEKs", TV_ERR_STORE);
			goto out;
		}
		if (opens && total) {
			rc = tv_master_swap(o.data);
			if (rc) {
				status = S_fail("installing master.key.new", rc);
				goto out;
			}
			fprintf(stderr, "tlsvaultd: finished an interrupted rotation: master.key is "
					"the new key, master.key.old the previous one\n");
			printf("{\"rotated\":true,\"deks\":%zu,\"resumed\":true}\n", total);
			goto out;
		}
		/* the transaction never committed: the .new file is junk */
		tv_secbuf_free(new_key);
		new_key = NULL;
		if (unlink(nw) != 0) {
			status = S_fail("removing a stale master.key.new", TV_ERR_IO);
			goto out;
		}
	}
	if (access(old, F_OK) == 0) {
		fprintf(stderr, "tlsvaultd: '%s' is there from an earlier rotation. It opens "
				"backups taken before that rotation: move it somewhere safe (or "
				"delete it), then run this again; nothing changed\n", old);
		status = EXIT_FAILURE;
		goto out;
	}
	opens = S_opens_all(st, cur_key, &total);
	if (opens <= 0) {
		fprintf(stderr, "tlsvaultd: %s; nothing changed\n",
			opens < 0 ? "reading the DEKs failed"
				  : "master.key does not open every DEK of the store (is it this "
				    "vault's key?)");
		status = EXIT_FAILURE;
		goto out;
	}
	rc = tv_master_create(nw);
	if (!rc)
		rc = tv_master_load(&new_key, nw);
	if (rc) {
		unlink(nw);
		status = S_fail("writing master.key.new", rc);
		goto out;
	}
	rc = tv_svc_master_rewrap(st, cur_key, new_key, &n);
	if (rc) {
		unlink(nw);
		status = S_fail(rc == TV_ERR_CRYPTO ? "a DEK does not unwrap with master.key"
						    : "re-wrapping the DEKs (nothing changed)", rc);
		goto out;
	}
	/* from here the store needs the new key; a crash is finished by a rerun */
	rc = tv_master_swap(o.data);
	if (rc) {
		fprintf(stderr, "tlsvaultd: the DEKs are re-wrapped under %s but installing it "
				"as master.key failed (%s): run this command again to finish\n", nw,
			tv_strerror(rc));
		status = EXIT_FAILURE;
		goto out;
	}
	fprintf(stderr, "tlsvaultd: master key rotated: %zu DEK(s) re-wrapped. The previous key "
			"is %s: it opens only backups taken before now. Keep it safe or delete "
			"it.%s\n", n, old,
		o.db && tv_store_url_is_pg(o.db) ? " Copy the new master.key to every node "
						   "before restarting them." : "");
	printf("{\"rotated\":true,\"deks\":%zu}\n", n);
out:
	fflush(stdout);
	tv_store_close(st);
	tv_secbuf_free(cur_key);
	tv_secbuf_free(new_key);
	tv_vault_unlock(lock);
	return status;
}

/* ---------- DEK rotation ---------- */

static void S_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Reseal until nothing is left on another DEK; *moved adds up. */
static enum tv_err S_reseal_all(struct tv_store *st, struct tv_keyring *kr, const char *tenant,
				const char *target, size_t batch, size_t *moved)
{
	size_t m = 0, seen = 0;
	int idle = 0;
	enum tv_err rc;

	do {
		rc = tv_svc_dek_reseal_batch(st, kr, tenant, target, batch, &m, &seen);
		if (rc == TV_ERR_BUSY) {
			S_sleep_ms(50);
			seen = 1;
			rc = TV_OK;
			continue;
		}
		*moved += m;
		/* rows that changed under us are read again; a batch that moves
		 * nothing three times running is not progress */
		idle = seen && !m ? idle + 1 : 0;
		if (idle >= 3)
			return TV_ERR_STATE;
	} while (!rc && seen);
	return rc;
}

int tv_cmd_dek(int argc, char **argv)
{
	struct tv_dek_rotation rot;
	struct tv_secbuf *master = NULL;
	struct tv_keyring *kr = NULL;
	struct tv_store *st = NULL;
	char key_path[S_PATH], target[TV_DEK_ID_SIZE], previous[TV_DEK_ID_SIZE];
	size_t moved = 0;
	bool resumed = false, said_wait = false;
	int64_t deadline;
	struct S_opts o;
	enum tv_err rc;
	int status, lock = -1;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(S_dek_usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "rotate")) {
		fputs(S_dek_usage, stderr);
		return EXIT_USAGE;
	}
	status = S_args(&o, argc - 1, argv + 1, S_dek_usage, S_DATA | S_TENANT);
	if (status)
		return status < 0 ? 0 : status;
	if (!S_path(key_path, sizeof(key_path), o.data, "master.key"))
		return S_fail("--data", TV_ERR_INVALID);
	/* shared: a server may run, a master-key rotation may not */
	rc = tv_vault_lock(o.data, false, &lock);
	if (rc == TV_ERR_BUSY) {
		fprintf(stderr, "tlsvaultd: a master-key rotation holds '%s'; try again after it\n",
			o.data);
		return EXIT_FAILURE;
	}
	if (rc) {
		fprintf(stderr, "tlsvaultd: no vault in '%s' (%s)\n", o.data, tv_strerror(rc));
		return EXIT_FAILURE;
	}
	status = S_load_key(&master, key_path);
	if (!status)
		status = S_open_store(&st, &o);
	if (status)
		goto out;
	rc = tv_keyring_new(&kr, st, master);
	if (!rc)
		rc = tv_svc_dek_rotation_get(st, o.tenant, &rot);
	if (rc == TV_ERR_NOT_FOUND) {
		fprintf(stderr, "tlsvaultd: no tenant '%s' (or it has no DEK)\n", o.tenant);
		status = EXIT_FAILURE;
		goto out;
	}
	if (rc) {
		status = S_fail("reading the tenant's DEKs", rc);
		goto out;
	}
	memcpy(previous, rot.edge_dek, sizeof(previous));
	if (tv_svc_dek_rotation_unfinished(&rot)) {
		/* resumed after the edge moved: the previous DEK is the one
		 * made before the target */
		if (!strcmp(previous, rot.newest))
			memcpy(previous, rot.before, sizeof(previous));
		/* the state says where it stopped: the newest DEK is the target */
		memcpy(target, rot.newest, sizeof(target));
		resumed = true;
		fprintf(stderr, "tlsvaultd: continuing the rotation to DEK %s (%s stored keys and "
				"%zu import item(s) still on an older DEK)\n", target,
			rot.keys_elsewhere ? "some" : "no", rot.items_elsewhere);
	} else {
		rc = tv_svc_dek_create(st, master, o.tenant, target);
		if (rc) {
			status = S_fail("creating the new DEK", rc);
			goto out;
		}
		fprintf(stderr, "tlsvaultd: new DEK %s for tenant %s\n", target, o.tenant);
	}
	/* 1: the stored keys */
	rc = S_reseal_all(st, kr, o.tenant, target, (size_t)o.batch, &moved);
	/* 2: clients seal to the new DEK from now on */
	if (!rc)
		rc = st->ops->edge_set_dek(st, o.tenant, target, tv_now_ms());
	/* 3: imports posted with an older DEK finish with it; reseal what they
	 * store, until none is left */
	deadline = tv_now_ms() + o.wait_s * 1000;
	while (!rc) {
		rc = S_reseal_all(st, kr, o.tenant, target, (size_t)o.batch, &moved);
		if (!rc)
			rc = tv_svc_dek_rotation_get(st, o.tenant, &rot);
		if (rc || !tv_svc_dek_rotation_unfinished(&rot))
			break;
		if (!said_wait) {
			fprintf(stderr, "tlsvaultd: waiting for %zu import item(s) posted with an "
					"older DEK (a running server finishes them)\n",
				rot.items_elsewhere);
			said_wait = true;
		}
		if (tv_now_ms() >= deadline) {
			fprintf(stderr, "tlsvaultd: %zu import item(s) posted with an older DEK are "
					"not final yet; run 'tlsvaultd dek rotate' again to finish "
					"(clients already use DEK %s)\n", rot.items_elsewhere, target);
			status = EXIT_FAILURE;
			goto out;
		}
		S_sleep_ms(200);
	}
	if (rc) {
		status = S_fail(rc == TV_ERR_DENIED ? "master.key does not unwrap a DEK of the "
						      "tenant"
						    : "resealing the keys (run it again to continue)",
				rc);
		goto out;
	}
	if (st->ops->audit_append(st, &(struct tv_audit){
		    .ts_ms = tv_now_ms(), .tenant_id = o.tenant, .actor = "cli",
		    .action = "dek.rotate", .object_id = target, .detail = previous }) != TV_OK)
		fprintf(stderr, "tlsvaultd: warning: the audit log write failed\n");
	printf("{\"tenantId\":\"%s\",\"encryptionKeyId\":\"%s\",\"previousKeyId\":\"%s\","
	       "\"resealed\":%zu,\"resumed\":%s}\n",
	       o.tenant, target, previous, moved, resumed ? "true" : "false");
out:
	fflush(stdout);
	tv_keyring_free(kr);
	tv_store_close(st);
	tv_secbuf_free(master);
	tv_vault_unlock(lock);
	return status;
}
