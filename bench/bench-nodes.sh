#!/bin/sh
# bench-nodes.sh [N]: import throughput of N keystores (default 1000) with
# 1, 2 and 3 tlsvaultd nodes on one PostgreSQL database, next to a single
# node on SQLite, and a ceiling measured in the same run (one thread
# opening the same keystores with OpenSSL alone).
#
# Each node runs WORKERS import workers (default 2). Jobs of 100 items go to
# the nodes in turn, as a round-robin load balancer would send them; the
# clock runs from the first POST until every job is final. PostgreSQL is a
# throwaway server (tests/pg/with-pg.sh) with fsync and synchronous commit
# on, like SQLite's synchronous=FULL. The keystores (P-256, OpenSSL 3
# defaults: PBKDF2 with 2048 iterations) are made once and kept in
# BUILD/bench-nodes-cache.
#
# All nodes share this machine's cores: on a 2-core machine read the
# numbers for the cost of the shared database, not for scaling. A
# benchmark, not a test: nothing here asserts on time. Needs `make` first.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
workers=${WORKERS:-2}
pass="bench-nodes-pass"

if [ "${1:-}" = "--inner" ]; then
	inner=1
	n=$2
	work=$3
else
	inner=0
	n=${1:-1000}
fi
for tool in tlsvaultd nodes_load; do
	if [ ! -x "$build/$tool" ]; then
		echo "bench-nodes.sh: $build/$tool is missing; run make first" >&2
		exit 1
	fi
done
for tool in jq curl psql; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "bench-nodes.sh: needs $tool (scripts/install-deps installs it)" >&2
		exit 1
	fi
done
cache=${CACHE:-$build/bench-nodes-cache}/$n

pids=""
stop_nodes() {
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	pids=""
}

# start_node NAME DATA [DB]: a node on a free port; its URL in $url
start_node() {
	log="$work/$1.log"
	if [ -n "${3:-}" ]; then
		"$build/tlsvaultd" serve --data "$2" --db "$3" --listen 127.0.0.1:0 \
			--workers "$workers" --no-system-roots 2>"$log" &
	else
		"$build/tlsvaultd" serve --data "$2" --listen 127.0.0.1:0 \
			--workers "$workers" --no-system-roots 2>"$log" &
	fi
	pids="$pids $!"
	tries=0
	port=""
	while [ -z "$port" ]; do
		port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -n 1)
		tries=$((tries + 1))
		if [ -z "$port" ] && [ $tries -gt 300 ]; then
			echo "bench-nodes.sh: node $1 did not start:" >&2
			cat "$log" >&2
			exit 1
		fi
		[ -n "$port" ] || sleep 0.1
	done
	url="http://127.0.0.1:$port"
}

# load LABEL DATA URL...: trust the CA, run the load, print and keep the line
load() {
	label=$1
	init=$2
	shift 2
	key=$(jq -r .apiKey "$init")
	edge=$(jq -r .edgeInstanceId "$init")
	dek=$(jq -r .encryptionKeyId "$init")
	jq -Rs '{encodedCertificates: [.]}' "$cache/ca.pem" |
		curl -sf -o /dev/null -H "tppl-api-key: $key" -H 'Content-Type: application/json' \
			--data-binary @- "$1/v1/trustedcacertificates"
	line=$("$build/nodes_load" run "$key" "$edge" "$dek" "$cache" "$pass" "$@")
	echo "$label $line" >>"$work/results"
	echo "  $label: $(echo "$line" | jq -r '"\(.items) items in \(.seconds) s: \(.items_per_second) items/s \(.results)"')" >&2
}

if [ $inner = 1 ]; then
	# under with-pg.sh: 1, 2, 3 nodes, a fresh database each
	trap stop_nodes EXIT
	base=${TV_TEST_DB%/*}
	for k in 1 2 3; do
		psql -q "$TV_TEST_DB" -c "CREATE DATABASE bench_nodes_$k"
		db="$base/bench_nodes_$k"
		"$build/tlsvaultd" init --data "$work/pg$k" --db "$db" >"$work/pg$k.json"
		urls=""
		i=1
		while [ $i -le $k ]; do
			start_node "pg$k-$i" "$work/pg$k" "$db"
			urls="$urls $url"
			i=$((i + 1))
		done
		# shellcheck disable=SC2086
		load "postgresql-$k" "$work/pg$k.json" $urls
		stop_nodes
	done
	exit 0
fi

if [ ! -f "$cache/ca.pem" ] || [ "$(ls "$cache" | grep -c '\.p12$')" -ne "$n" ]; then
	echo "bench-nodes.sh: making $n keystores in $cache (once)" >&2
	rm -rf "$cache"
	mkdir -p "$cache"
	"$build/nodes_load" gen "$cache" "$n" "$pass"
fi
work=$(mktemp -d /tmp/tlsvault-bench-nodes-XXXXXX)
cleanup() {
	stop_nodes
	rm -rf "$work"
}
trap cleanup EXIT
: >"$work/results"

echo "bench-nodes.sh: $n items, $workers workers per node, $(nproc) cores" >&2
ceiling=$("$build/nodes_load" ceiling "$cache" "$pass")
echo "ceiling $ceiling" >>"$work/results"
echo "  ceiling: $(echo "$ceiling" | jq -r '.items_per_second') items/s (one thread, OpenSSL PKCS12_parse only)" >&2

"$build/tlsvaultd" init --data "$work/sqlite" >"$work/sqlite.json"
start_node sqlite "$work/sqlite"
load "sqlite-1" "$work/sqlite.json" "$url"
stop_nodes

TV_PG_DURABLE=1 sh "$root/tests/pg/with-pg.sh" sh "$root/bench/bench-nodes.sh" --inner "$n" "$work"

echo
printf '%-22s %7s %9s %9s\n' "configuration" "items" "seconds" "items/s"
while read -r label json; do
	case $label in
	ceiling) name="ceiling (1 thread)" ;;
	sqlite-1) name="sqlite, 1 node" ;;
	postgresql-1) name="postgresql, 1 node" ;;
	*) name="postgresql, ${label#postgresql-} nodes" ;;
	esac
	printf '%-22s %7s %9s %9s\n' "$name" "$(echo "$json" | jq -r .items)" \
		"$(echo "$json" | jq -r .seconds)" "$(echo "$json" | jq -r .items_per_second)"
done <"$work/results"
