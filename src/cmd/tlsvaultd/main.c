/*
 * tlsvaultd - the server and its admin commands.
 *
 * DESIGN: this file parses arguments, wires the layers together and decides
 * how to tell a person; nothing below it prints or exits. Exit codes: 0 ok,
 * 1 runtime failure, 2 usage error. Every option also reads an environment
 * variable (TLSVAULT_DATA, TLSVAULT_DB, TLSVAULT_LISTEN, ...), the command
 * line winning.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cmd/tlsvaultd/keys_cmds.h"
#include "cmd/tlsvaultd/serve.h"
#include "core/harden.h"
#include "core/log.h"
#include "core/secmem.h"
#include "core/wipeheap.h"
#include "dek/dek.h"
#include "store/copy.h"
#include "store/store.h"
#include "svc/account.h"

#define EXIT_USAGE 2

static const char S_usage[] =
	"usage: tlsvaultd <command> [options]\n"
	"\n"
	"commands:\n"
	"  init           create a new vault in --data DIR\n"
	"  serve          serve the HTTP API\n"
	"  tenant create  add a tenant (company) with its DEK, edge instance and admin key\n"
	"  apikey create  add an API key to a tenant\n"
	"  migrate        copy a SQLite vault into PostgreSQL\n"
	"  backup         copy a running SQLite vault to a file (not master.key)\n"
	"  restore        lay out a vault directory from a backup file\n"
	"  rotate-master-key  re-wrap every DEK under a new master key (server stopped)\n"
	"  dek rotate     give a tenant a new DEK and reseal its stored keys to it\n"
	"  version        print the version\n"
	"\n"
	"Run 'tlsvaultd <command> --help' for a command's options.\n";

static const char S_init_usage[] =
	"usage: tlsvaultd init --data DIR [--db URL] [--tenant NAME]\n"
	"\n"
	"Create a new vault: DIR/master.key (mode 0600), the database (DIR/tlsvault.db\n"
	"unless --db) and a first tenant with an ADMIN API key. Prints one JSON line:\n"
	"{\"tenantId\",\"apiKey\",\"edgeInstanceId\",\"encryptionKeyId\"}. The API key is\n"
	"shown only here. Fails (exit 1, nothing changed) if DIR already holds a vault.\n"
	"\n"
	"  --data DIR     vault directory (env TLSVAULT_DATA)\n"
	"  --db URL       database; default sqlite:DIR/tlsvault.db, or postgresql://...\n"
	"                 (an existing, empty database) for several nodes (env TLSVAULT_DB)\n"
	"  --tenant NAME  first tenant's name (default \"default\")\n";

static const char S_tenant_usage[] =
	"usage: tlsvaultd tenant create --data DIR [--db URL] --name NAME\n"
	"\n"
	"Add a tenant with its own DEK, embedded edge instance and ADMIN API key.\n"
	"Prints one JSON line like init. A running server picks it up at once.\n";

static const char S_migrate_usage[] =
	"usage: tlsvaultd migrate --from sqlite:DIR --to postgresql://...\n"
	"\n"
	"Copy a vault from SQLite to PostgreSQL: tenants, DEKs (wrapped as they are),\n"
	"edge instances, API keys, trusted CAs, certificates with their sealed keys\n"
	"unchanged, import jobs and their results, and the audit log. The target\n"
	"database must exist and hold no vault data; the copy is one transaction.\n"
	"Stop the server first. No key is decrypted: then copy DIR/master.key to the\n"
	"--data directory of every node and serve with --db. Prints one JSON line\n"
	"with the rows copied per table.\n"
	"\n"
	"  --from SRC  sqlite:DIR (DIR/tlsvault.db), sqlite:FILE or a path\n"
	"  --to URL    postgresql:// or postgres:// URL (env TLSVAULT_DB; prefer the\n"
	"              environment or ~/.pgpass to a password on the command line)\n";

static const char S_apikey_usage[] =
	"usage: tlsvaultd apikey create --data DIR [--db URL] --tenant ID --role ROLE\n"
	"                               [--name N] [--validity-days D]\n"
	"\n"
	"ROLE is READ_ONLY, PKI_ADMIN or ADMIN. Prints one JSON line with the key,\n"
	"which is shown only here. D = 0 (default) means no expiry.\n";

struct S_opts {
	const char *data, *db, *tenant, *name, *role, *from;
	int validity_days;
	bool help;
};

static const char *S_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void S_db_url(char *out, size_t size, const struct S_opts *o)
{
	if (o->db)
		snprintf(out, size, "%s", o->db);
	else
		snprintf(out, size, "sqlite:%s/tlsvault.db", o->data);
}

/* Parse the options the admin commands share. -1 = usage error. */
static int S_parse(struct S_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "tenant", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "validity-days", required_argument, NULL, 'v' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->data = S_env("TLSVAULT_DATA");
	o->db = S_env("TLSVAULT_DB");
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'b': o->db = optarg; break;
		case 't': o->tenant = optarg; break;
		case 'n': o->name = optarg; break;
		case 'r': o->role = optarg; break;
		case 'v': o->validity_days = atoi(optarg); break;
		case 'f': o->from = optarg; break;
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

static int S_fail(const char *what, enum tv_err rc)
{
	fprintf(stderr, "tlsvaultd: %s: %s\n", what, tv_strerror(rc));
	return EXIT_FAILURE;
}

/* Why the store didn't open, without the URL (it may hold a password). */
static void S_store_fail(enum tv_err rc, const char *why)
{
	if (rc == TV_ERR_INVALID)
		fprintf(stderr, "tlsvaultd: unsupported database URL (sqlite:PATH or "
				"postgresql://...)\n");
	else if (rc == TV_ERR_NOT_FOUND)
		fprintf(stderr, "tlsvaultd: the database holds no vault (run 'tlsvaultd init')\n");
	else
		fprintf(stderr, "tlsvaultd: opening the store: %s%s%s\n", tv_strerror(rc),
			why[0] ? ": " : "", why);
}

static void S_print_tenant(const struct tv_tenant_created *t)
{
	printf("{\"tenantId\":\"%s\",\"apiKey\":\"", t->tenant_id);
	fwrite(t->api_key->p, 1, t->api_key->len, stdout);
	printf("\",\"edgeInstanceId\":\"%s\",\"encryptionKeyId\":\"%s\"}\n",
	       t->edge_instance_id, t->encryption_key_id);
	fflush(stdout);
}

/* Open the master key and the store of an existing vault. */
static int S_open_vault(const struct S_opts *o, struct tv_secbuf **master,
			struct tv_store **store)
{
	char path[4096], url[4200], why[256];
	enum tv_err rc;

	snprintf(path, sizeof(path), "%s/master.key", o->data);
	rc = tv_master_load(master, path);
	if (rc == TV_ERR_NOT_FOUND) {
		fprintf(stderr, "tlsvaultd: no vault in '%s' (run 'tlsvaultd init')\n", o->data);
		return EXIT_FAILURE;
	}
	if (rc == TV_ERR_DENIED) {
		fprintf(stderr, "tlsvaultd: '%s' is readable by others; chmod 600 it\n", path);
		return EXIT_FAILURE;
	}
	if (rc)
		return S_fail("master.key", rc);
	S_db_url(url, sizeof(url), o);
	rc = tv_store_open_ex(store, url, false, why, sizeof(why));
	if (rc) {
		tv_secbuf_free(*master);
		*master = NULL;
		S_store_fail(rc, why);
		return EXIT_FAILURE;
	}
	return 0;
}

static int S_cmd_init(int argc, char **argv)
{
	struct tv_tenant_created created = { 0 };
	struct tv_secbuf *master = NULL;
	struct tv_store *store = NULL;
	char key_path[4096], url[4200], why[256];
	bool made_key = false, made_db = false;
	struct S_opts o;
	enum tv_err rc;
	int status = EXIT_FAILURE;

	if (S_parse(&o, argc, argv) || (!o.help && !o.data)) {
		fputs(S_init_usage, stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		fputs(S_init_usage, stdout);
		return 0;
	}
	if (mkdir(o.data, 0700) != 0 && errno != EEXIST)
		return S_fail("creating the data directory", TV_ERR_IO);
	snprintf(key_path, sizeof(key_path), "%s/master.key", o.data);
	S_db_url(url, sizeof(url), &o);
	if (access(key_path, F_OK) == 0) {
		fprintf(stderr, "tlsvaultd: '%s' already holds a vault; nothing changed\n", o.data);
		return EXIT_FAILURE;
	}
	rc = tv_master_create(key_path);
	if (rc == TV_ERR_EXISTS) {
		fprintf(stderr, "tlsvaultd: '%s' already holds a vault; nothing changed\n", o.data);
		return EXIT_FAILURE;
	}
	if (rc)
		return S_fail("creating master.key", rc);
	made_key = true;
	rc = tv_master_load(&master, key_path);
	if (rc) {
		S_fail("reading master.key", rc);
		goto out;
	}
	rc = tv_store_open_ex(&store, url, true, why, sizeof(why));
	if (rc == TV_ERR_EXISTS) {
		/* the URL is not printed: a PostgreSQL one may hold a password */
		if (tv_store_url_is_pg(url))
			fprintf(stderr, "tlsvaultd: that PostgreSQL database already holds a vault; "
					"nothing changed (other nodes need only a copy of "
					"master.key)\n");
		else
			fprintf(stderr, "tlsvaultd: a database already exists at '%s'; nothing "
					"changed\n", url);
		goto out;
	}
	if (rc) {
		S_store_fail(rc, why);
		goto out;
	}
	made_db = true;
	rc = tv_svc_tenant_create(&created, store, master, o.tenant ? o.tenant : "default");
	if (rc) {
		S_fail("creating the tenant", rc);
		goto out;
	}
	S_print_tenant(&created);
	status = 0;
out:
	tv_secbuf_free(created.api_key);
	tv_store_close(store);
	tv_secbuf_free(master);
	if (status && made_key) {
		/* leave the directory as it was: no half-made vault */
		unlink(key_path);
		if (made_db && !o.db) {
			static const char *const sfx[] = { "", "-wal", "-shm" };
			char p[4400];
			size_t i;

			for (i = 0; i < 3; i++) {
				snprintf(p, sizeof(p), "%s%s", url + 7, sfx[i]);
				unlink(p);
			}
		}
	}
	return status;
}

static int S_cmd_tenant(int argc, char **argv)
{
	struct tv_tenant_created created = { 0 };
	struct tv_secbuf *master = NULL;
	struct tv_store *store = NULL;
	struct S_opts o;
	enum tv_err rc;
	int status, lock = -1;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(S_tenant_usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "create") || S_parse(&o, argc - 1, argv + 1) ||
	    (!o.help && (!o.data || !o.name))) {
		fputs(S_tenant_usage, stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		fputs(S_tenant_usage, stdout);
		return 0;
	}
	/* a new DEK is wrapped with master.key: not while a rotation replaces it */
	rc = tv_vault_lock(o.data, false, &lock);
	if (rc == TV_ERR_BUSY) {
		fprintf(stderr, "tlsvaultd: a master-key rotation holds '%s'; try again after "
				"it\n", o.data);
		return EXIT_FAILURE;
	}
	status = S_open_vault(&o, &master, &store);
	if (status) {
		tv_vault_unlock(lock);
		return status;
	}
	rc = tv_svc_tenant_create(&created, store, master, o.name);
	if (rc == TV_ERR_EXISTS)
		fprintf(stderr, "tlsvaultd: a tenant named '%s' already exists\n", o.name);
	else if (rc == TV_ERR_INVALID)
		fprintf(stderr, "tlsvaultd: a tenant name has 1 to %d characters\n", TV_NAME_MAX);
	else if (rc)
		S_fail("creating the tenant", rc);
	else
		S_print_tenant(&created);
	tv_secbuf_free(created.api_key);
	tv_store_close(store);
	tv_secbuf_free(master);
	tv_vault_unlock(lock);
	return rc ? EXIT_FAILURE : 0;
}

static int S_cmd_apikey(int argc, char **argv)
{
	struct tv_secbuf *master = NULL, *key = NULL;
	struct tv_store *store = NULL;
	struct tv_apikey rec;
	enum tv_role role;
	struct S_opts o;
	enum tv_err rc;
	int status;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(S_apikey_usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "create") || S_parse(&o, argc - 1, argv + 1) ||
	    (!o.help && (!o.data || !o.tenant || !o.role))) {
		fputs(S_apikey_usage, stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		fputs(S_apikey_usage, stdout);
		return 0;
	}
	role = tv_role_parse(o.role);
	if (role == TV_ROLE_NONE || o.validity_days < 0 ||
	    o.validity_days > TV_APIKEY_MAX_VALIDITY_DAYS) {
		fprintf(stderr, "tlsvaultd: --role must be READ_ONLY, PKI_ADMIN or ADMIN and "
				"--validity-days 0 to %d\n", TV_APIKEY_MAX_VALIDITY_DAYS);
		return EXIT_USAGE;
	}
	status = S_open_vault(&o, &master, &store);
	if (status)
		return status;
	rc = tv_svc_apikey_create(&rec, &key, store, o.tenant, role,
				  o.name ? o.name : "cli", o.validity_days);
	if (rc == TV_ERR_NOT_FOUND)
		fprintf(stderr, "tlsvaultd: no tenant '%s'\n", o.tenant);
	else if (rc)
		S_fail("creating the API key", rc);
	else {
		printf("{\"id\":\"%s\",\"tenantId\":\"%s\",\"role\":\"%s\",\"apiKey\":\"", rec.id,
		       rec.tenant_id, tv_role_name(rec.role));
		fwrite(key->p, 1, key->len, stdout);
		printf("\"}\n");
		fflush(stdout);
		if (store->ops->audit_append(store, &(struct tv_audit){
				.ts_ms = tv_now_ms(), .tenant_id = rec.tenant_id, .actor = "cli",
				.action = "apikey.create", .object_id = rec.id,
				.detail = tv_role_name(role) }) != TV_OK)
			fprintf(stderr, "tlsvaultd: warning: the audit log write failed\n");
	}
	tv_secbuf_free(key);
	tv_store_close(store);
	tv_secbuf_free(master);
	return rc ? EXIT_FAILURE : 0;
}

/* sqlite:DIR means DIR/tlsvault.db; a file or plain path stays as it is. */
static void S_sqlite_source(char *out, size_t size, const char *from)
{
	const char *path = strncmp(from, "sqlite:", 7) ? from : from + 7;
	struct stat sb;

	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		snprintf(out, size, "sqlite:%s/tlsvault.db", path);
	else
		snprintf(out, size, "sqlite:%s", path);
}

static int S_cmd_migrate(int argc, char **argv)
{
	struct tv_store_copy_report rep;
	char from[4200], why[256];
	struct S_opts o;
	enum tv_err rc;
	size_t i;

	if (S_parse(&o, argc, argv) || (!o.help && (!o.from || !o.db))) {
		fputs(S_migrate_usage, stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		fputs(S_migrate_usage, stdout);
		return 0;
	}
	if (tv_store_url_is_pg(o.from) || !tv_store_url_is_pg(o.db)) {
		fprintf(stderr, "tlsvaultd: --from takes a SQLite vault (sqlite:DIR) and --to a "
				"postgresql:// URL\n");
		return EXIT_USAGE;
	}
	S_sqlite_source(from, sizeof(from), o.from);
	rc = tv_store_copy(from, o.db, &rep, why, sizeof(why));
	if (rc == TV_ERR_NOT_FOUND) {
		fprintf(stderr, "tlsvaultd: no vault at '%s'\n", from + 7);
		return EXIT_FAILURE;
	}
	if (rc) {
		fprintf(stderr, "tlsvaultd: migrate: %s%s%s; nothing was copied\n",
			rc == TV_ERR_EXISTS && !why[0] ? "the target database is not empty" :
							 tv_strerror(rc),
			why[0] ? ": " : "", why);
		return EXIT_FAILURE;
	}
	printf("{\"migrated\":{");
	for (i = 0; i < rep.n; i++)
		printf("%s\"%s\":%lld", i ? "," : "", rep.tables[i].table,
		       (long long)rep.tables[i].rows);
	printf("}}\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	/* First, before OpenSSL allocates anything: it frees plaintext copies
	 * of private keys without cleansing them, so every free must wipe
	 * (core/wipeheap.h, docs/SECURITY.md). */
	if (!CRYPTO_set_mem_functions(tv_wipeheap_ossl_malloc, tv_wipeheap_ossl_realloc,
				      tv_wipeheap_ossl_free)) {
		fprintf(stderr, "tlsvaultd: cannot install the wiping allocator for OpenSSL\n");
		return EXIT_FAILURE;
	}
	/* Every command but version and help reads master.key: no core dump,
	 * no ptrace by another process of this user. */
	if (tv_harden_no_dumps() != TV_OK) {
		fprintf(stderr, "tlsvaultd: cannot refuse core dumps\n");
		return EXIT_FAILURE;
	}
	umask(077); /* the database and its WAL hold wrapped keys */
	if (tv_secmem_init() != TV_OK) {
		fprintf(stderr, "tlsvaultd: libsodium failed to initialise\n");
		return EXIT_FAILURE;
	}
	if (!cmd) {
		fputs(S_usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(S_usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("tlsvaultd %s\n", TV_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "init"))
		return S_cmd_init(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return tv_cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "tenant"))
		return S_cmd_tenant(argc - 1, argv + 1);
	if (!strcmp(cmd, "apikey"))
		return S_cmd_apikey(argc - 1, argv + 1);
	if (!strcmp(cmd, "migrate"))
		return S_cmd_migrate(argc - 1, argv + 1);
	if (!strcmp(cmd, "backup"))
		return tv_cmd_backup(argc - 1, argv + 1);
	if (!strcmp(cmd, "restore"))
		return tv_cmd_restore(argc - 1, argv + 1);
	if (!strcmp(cmd, "rotate-master-key"))
		return tv_cmd_rotate_master_key(argc - 1, argv + 1);
	if (!strcmp(cmd, "dek"))
		return tv_cmd_dek(argc - 1, argv + 1);
	fprintf(stderr, "tlsvaultd: unknown command '%s'\n\n%s", cmd, S_usage);
	return EXIT_USAGE;
}
