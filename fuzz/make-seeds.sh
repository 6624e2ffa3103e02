#!/bin/sh
# make-seeds.sh - (re)write the seed inputs of fuzz/corpus/<target>/seed-*
# from the project's fixtures and the shared vectors. Run from the repository
# root: sh fuzz/make-seeds.sh. The seeds are committed; inputs the fuzzer
# found are folded in by `make fuzz-merge` (named by their SHA-1).
set -eu
F=tests/fixtures
V=../shared/vectors
C=fuzz/corpus
for t in p12 import_json trustedca search codec writers certder; do
    mkdir -p "$C/$t"
    rm -f "$C/$t"/seed-*
done

# p12: one length byte (64 = no password), the password, the DER
p12seed() { # name password-or-NONE file
    if [ "$2" = NONE ]; then
        printf '\100' >"$C/p12/seed-$1"
    else
        n=$(printf %s "$2" | wc -c)
        printf "\\$(printf %03o "$n")" >"$C/p12/seed-$1"
        printf %s "$2" >>"$C/p12/seed-$1"
    fi
    cat "$3" >>"$C/p12/seed-$1"
}
while read -r file spec _; do
    case $spec in
    pass) pw=fixture-pass ;;
    empty) pw="" ;;
    utf8) pw='pässwörd-密码' ;;
    *) continue ;;
    esac
    p12seed "$file" "$pw" "$F/p12/$file"
done <"$F/MANIFEST"
for f in pbes2_aes256cbc pbes2_aes192cbc; do p12seed "$f" password "$V/$f.p12"; done
p12seed pbes2_aes128cbc rHyQTJsubhfxcpH5JttyilHE6BBsNoZp "$V/pbes2_aes128cbc.p12"
p12seed windows-azure-tools-nullpw NONE "$V/windows-azure-tools-nullpw.p12"
p12seed testing-example-com-emptypw "" "$V/testing-example-com-emptypw.p12"
for f in rfc9579-a1 rfc9579-a2 rfc9579-a3 rfc9579-a4 rfc9579-a5 rfc9579-a6 \
    pbmac1-short-key-bypass; do
    p12seed "$f" 1234 "$V/$f.p12"
done
# a keystore with cheap iterations, so the differential runs OpenSSL often
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl pkcs12 -export -inkey "$F/keys/p256.key.pem" -in "$F/keys/p256.crt.pem" \
    -certfile "$F/keys/ca.crt.pem" -passout pass:pw -iter 16 -maciter -macalg sha256 \
    -out "$tmp/cheap.p12" 2>/dev/null
p12seed cheap-16-iterations pw "$tmp/cheap.p12"
openssl pkcs12 -export -inkey "$F/keys/rsa2048.key.pem" -in "$F/keys/rsa2048.crt.pem" \
    -passout pass:pw -iter 16 -legacy -out "$tmp/cheap-legacy.p12" 2>/dev/null
p12seed cheap-legacy pw "$tmp/cheap-legacy.p12"
openssl pkcs12 -export -inkey "$F/keys/ed25519.key.pem" -in "$F/keys/ed25519.crt.pem" \
    -passout pass:pw -iter 16 -nomac -out "$tmp/cheap-nomac.p12" 2>/dev/null
p12seed cheap-nomac pw "$tmp/cheap-nomac.p12"

# import_json: request bodies, good and bad
J=$C/import_json
E=10000000-0000-4000-8000-000000000001
K=$(printf 'k%.0s' 1 2 3)
printf '{"edgeInstanceId":"%s","encryptionKeyId":"dek","importInformation":[{"pkcs12Keystore":"%s","dekEncryptedPassword":"c2VhbGVk","label":"a"}]}' \
    "$E" "$(base64 -w0 "$tmp/cheap.p12")" >"$J/seed-pkcs12"
printf '{"edgeInstanceId":"%s","encryptionKeyId":"dek","importInformation":[{"certificate":"%s","passwordEncryptedPrivateKey":"-----BEGIN ENCRYPTED PRIVATE KEY-----\\nAAAA\\n-----END ENCRYPTED PRIVATE KEY-----\\n","dekEncryptedPassword":"c2VhbGVk"},{"certificate":"MIIB","dekEncryptedPrivateKey":"c2VhbGVk"}]}' \
    "$E" "$(sed ':a;N;$!ba;s/\n/\\n/g' "$F/keys/p256.crt.pem")" >"$J/seed-pkcs8"
printf '{"edgeInstanceId":"%s","encryptionKeyId":"dek","importInformation":[{"pkcs12Keystore":"!!notbase64"},{"pkcs12Keystore":5},{"foo":"bar"},{}]}' "$E" >"$J/seed-bad-items"
printf '{"edgeInstanceId":"x","encryptionKeyId":"dek","importInformation":[{"pkcs12Keystore":"AA"}]}' >"$J/seed-bad-edge"
printf '{"edgeInstanceId":"%s","encryptionKeyId":"dek","importInformation":[]}' "$E" >"$J/seed-empty"
printf '{"edgeInstanceId":"%s","encryptionKeyId":"%s","importInformation":{},"extra":1}' "$E" "$K" >"$J/seed-extra"
printf '[1,2,3]' >"$J/seed-array"
printf '{"edgeInstanceId":"%s","encryptionKeyId":"dek","importInformation":[{"pkcs12Keystore":"QUJD\\u0000","label":"\\ud800"}]}' "$E" >"$J/seed-nul"

# trustedca: PEM, bundles, DER, base64 DER
T=$C/trustedca
cp "$F/chain/root.crt.pem" "$T/seed-root.pem"
cp "$F/chain/bundle.pem" "$T/seed-bundle.pem"
cp "$F/chain/leaf-ed25519.crt.pem" "$T/seed-ed25519.pem"
cp "$F/chain/v1-selfsigned.crt.pem" "$T/seed-v1.pem"
openssl x509 -in "$F/chain/inter.crt.pem" -outform DER -out "$T/seed-inter.der"
openssl x509 -in "$F/chain/leaf-rsa.crt.pem" -outform DER | base64 -w0 >"$T/seed-leaf.b64"
openssl x509 -in "$F/chain/leaf-p384.crt.pem" -outform DER | base64 -w0 | tr '+/' '-_' | tr -d = >"$T/seed-leaf-url.b64"

# certder: every fixture certificate, as DER
for f in "$F"/chain/*.crt.pem "$F"/keys/*.crt.pem; do
    d=$(basename "$(dirname "$f")")
    openssl x509 -in "$f" -outform DER -out "$C/certder/seed-$d-$(basename "$f" .crt.pem).der"
done

# search: certificatesearch bodies
S=$C/search
printf '{"expression":{"operator":"AND","operands":[{"field":"subjectCN","operator":"MATCH","value":"example"},{"field":"validityEnd","operator":"GTE","value":"2020-01-01T00:00:00.000Z"}]},"ordering":{"orders":[{"field":"validityEnd","direction":"DESC"}]},"paging":{"pageNumber":0,"pageSize":2}}' >"$S/seed-and"
printf '{"expression":{"operator":"OR","operands":[{"field":"fingerprint","operator":"IN","values":["A000000000000000000000000000000000000000","b0:00"]},{"field":"keyStrength","operator":"GT","value":1024}]}}' >"$S/seed-or-in"
printf '{"expression":{"field":"subjectAlternativeNameDns","operator":"MATCH","value":"%%_\\\\'"'"';--"}}' >"$S/seed-meta"
printf '{"expression":{"field":"certificateStatus","operator":"EQ","value":"RETIRED"},"paging":{"pageSize":1000}}' >"$S/seed-status"
printf '{"expression":{"field":"issuerDN","operator":"EQ","value":"CN=Fuzz CA,O=tlsvault"},"ordering":{"orders":[{"field":"certificateName"},{"field":"creationDate","direction":"ASC"}]}}' >"$S/seed-issuer"
printf '{}' >"$S/seed-empty"
printf '{"expression":{"operator":"NOT","operands":[]}}' >"$S/seed-bad-op"

# codec: mode byte 0 decode, 1 encode, 2 encrypted PKCS#8 PEM, 3 PKCS#8 DER
D=$C/codec
{ printf '\000'; printf 'SGVsbG8sIHdvcmxkIQ=='; } >"$D/seed-b64"
{ printf '\000'; printf 'SGVs\nbG8_-w'; } >"$D/seed-b64url"
{ printf '\001'; head -c 64 "$F/keys/p256.crt.pem"; } >"$D/seed-encode"
openssl pkcs8 -topk8 -in "$F/keys/p256.key.pem" -v2 aes-256-cbc -iter 16 -passout pass:fuzz \
    -out "$tmp/k.pem" 2>/dev/null
{ printf '\002'; cat "$tmp/k.pem"; } >"$D/seed-pkcs8-pbes2"
openssl pkcs8 -topk8 -in "$F/keys/p256.key.pem" -v1 PBE-SHA1-3DES -iter 16 -passout pass:fuzz \
    -out "$tmp/k1.pem" 2>/dev/null
{ printf '\002'; cat "$tmp/k1.pem"; } >"$D/seed-pkcs8-pbes1"
{ printf '\003'; cat "$F/pkcs8/p256.der"; } >"$D/seed-pkcs8-der"
{ printf '\003'; cat "$F/pkcs8/ed25519.der"; } >"$D/seed-pkcs8-der-ed25519"

# writers: key, format+chain, passphrase length, passphrase, label
W=$C/writers
i=0
for k in 0 1 2 3; do
    for fmt in 0 1 2 3; do
        chain=$((i % 3))
        b1=$((fmt + 4 * chain))
        { printf "\\$(printf %03o $k)\\$(printf %03o $b1)\\010"; printf 'p4ssw0rd'; printf 'alias-%d' $i; } >"$W/seed-$k-$fmt"
        i=$((i + 1))
    done
done
{ printf '\000\000\014'; printf 'pässwörd-密'; printf 'ünïcode label'; } >"$W/seed-utf8"
{ printf '\001\003\000'; printf 'x'; } >"$W/seed-empty-pass"
{ printf '\002\000\003'; printf 'a\000b'; } >"$W/seed-nul-pass"
for t in p12 import_json trustedca search codec writers certder; do
    echo "$t: $(ls "$C/$t" | wc -l) seeds"
done
