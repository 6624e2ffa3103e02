#!/bin/sh
# Make the CLI test's keystores in DIR: a trusted CA (ca.crt), an untrusted
# one (ca2.crt), and N EC P-256 leaf keystores ks/leaf-NNN.p12 under the
# password $PW. Leaves 7, 50 and 100 use the password "$PW-other"; leaves 20
# and 150 are signed by the untrusted CA. Runs the leaves 8 at a time.
set -eu
DIR=$1
N=$2
PW=$3
cd "$DIR"
mkdir -p ks work
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
# shellcheck disable=SC2086
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 3650 -subj "/CN=CLI Test Root" 2>/dev/null
# shellcheck disable=SC2086
openssl req -x509 $ec -keyout ca2.key -out ca2.crt -days 3650 -subj "/CN=CLI Untrusted Root" 2>/dev/null
export PW ec
seq 1 "$N" | xargs -P 8 -I{} sh -c '
	i=$(printf %03d {})
	ca=ca; pw=$PW
	case {} in 7|50|100) pw="$PW-other" ;; 20|150) ca=ca2 ;; esac
	openssl req -x509 $ec -keyout work/$i.key -out work/$i.crt -days 365 \
		-subj "/CN=leaf$i.cli.test" -CA $ca.crt -CAkey $ca.key 2>/dev/null
	openssl pkcs12 -export -inkey work/$i.key -in work/$i.crt -name leaf$i \
		-passout "pass:$pw" -out ks/leaf-$i.p12
'
