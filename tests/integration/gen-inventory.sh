#!/bin/sh
# Make the search test's inventory in DIR: 12 self-signed certificates with
# keys of four types and lifetimes of 30, 60, ... 360 days, each with two
# DNS SANs. Writes host<i>.crt.pem, host<i>.key.pem and host<i>.p8 (PKCS#8 DER).
set -eu
DIR=$1
cd "$DIR"
i=0
while [ $i -lt 12 ]; do
	case $((i % 4)) in
	0) alg="-newkey rsa:2048" ;;
	1) alg="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
	2) alg="-newkey ec -pkeyopt ec_paramgen_curve:P-384" ;;
	3) alg="-newkey ed25519" ;;
	esac
	# shellcheck disable=SC2086
	openssl req -x509 $alg -nodes -keyout host$i.key.pem -out host$i.crt.pem \
		-days $(( (i + 1) * 30 )) -subj "/CN=host$i.example.com/O=Inventory" \
		-addext "subjectAltName=DNS:host$i.example.com,DNS:www$i.alt.test" 2>/dev/null
	openssl pkcs8 -topk8 -nocrypt -in host$i.key.pem -outform DER -out host$i.p8
	i=$((i + 1))
done
