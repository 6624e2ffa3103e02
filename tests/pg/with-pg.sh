#!/bin/sh
# with-pg.sh CMD [ARG...]: run CMD against a throwaway PostgreSQL server.
#
# Makes a cluster with initdb in a new directory under /tmp, starts it with
# pg_ctl on a free loopback port (its unix socket stays in that directory),
# runs CMD with TV_TEST_DB=postgresql://tlsvault@127.0.0.1:PORT/postgres,
# and stops the server and removes the directory afterwards, whatever CMD
# does (trap). As root the server runs as the postgres user (runuser), which
# owns the directory; initdb refuses to run as root.
#
# The server binaries come from TV_PG_BINDIR, else the newest
# /usr/lib/postgresql/*/bin (Debian's layout), else PATH. Without them it
# prints a SKIP line and exits 77, which CTest reports as skipped.
#
# TV_PG_DURABLE=1 keeps fsync and synchronous commit on (the benchmark);
# tests run without them, which only matters if the machine loses power.
set -u

bindir=${TV_PG_BINDIR:-}
if [ -z "$bindir" ]; then
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -n -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			bindir=$d
			break
		fi
	done
fi
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
	bindir=$(dirname "$(command -v initdb)")
fi
if [ -z "$bindir" ]; then
	echo "SKIP: PostgreSQL server binaries (initdb, pg_ctl) not found; run scripts/install-deps"
	exit 77
fi
if [ $# -eq 0 ]; then
	echo "usage: with-pg.sh CMD [ARG...]" >&2
	exit 2
fi

dir=$(mktemp -d /tmp/tlsvault-pg-XXXXXX) || exit 1
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
if [ "$(id -u)" -eq 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		echo "with-pg.sh: running as root needs a 'postgres' user (the postgresql package makes it)" >&2
		rm -rf "$dir"
		exit 1
	fi
	chown postgres: "$dir"
fi
chmod 700 "$dir"

started=0
cleanup() {
	if [ "$started" = 1 ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -s stop >/dev/null 2>&1
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

if ! as_pg "$bindir/initdb" -D "$dir/data" -A trust -U tlsvault -E UTF8 --locale=C \
	--no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
	echo "with-pg.sh: initdb failed:" >&2
	cat "$dir/initdb.log" >&2
	exit 1
fi

durable="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "${TV_PG_DURABLE:-0}" = 1 ]; then
	durable=""
fi
tries=0
while [ $tries -lt 20 ]; do
	tries=$((tries + 1))
	port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
	# a port another server holds makes the postmaster exit: try the next
	if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s \
		-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir \
		    -c max_connections=200 $durable" start >/dev/null 2>&1; then
		started=1
		break
	fi
done
if [ "$started" != 1 ]; then
	echo "with-pg.sh: the PostgreSQL server did not start:" >&2
	tail -n 20 "$dir/server.log" >&2
	exit 1
fi

TV_TEST_DB="postgresql://tlsvault@127.0.0.1:$port/postgres"
export TV_TEST_DB
"$@"
rc=$?
exit $rc
