#!/bin/bash
# mkcerts.sh DIR: writes throw-away test certificates (P-256 keys, unencrypted)
# into DIR, which must exist. Run at test time: no private key is committed.
#
#   ca.crt ca.key            a test CA (CN=nanosp-test-ca)
#   server.crt server.key    CN=localhost, SAN DNS:localhost, signed by the CA
#   self.crt self.key        CN=localhost, SAN DNS:localhost, self-signed
#   expired.crt expired.key  like server.crt, but valid only on 2020-01-01
#   client.crt client.key    CN=nanosp-test-client, signed by the CA
#   rogue.crt rogue.key      CN=nanosp-test-client, self-signed (unknown to the CA)
#   encrypted.key            server.key, PEM-encrypted (AES-256-CBC) with the
#                            password "nanosp-test" (mbedTLS 2.28 reads no PKCS#8
#                            key encrypted with AES, OpenSSL 3's default)
#
# mbedTLS 2.28 does not match IP-address SANs: clients connect to "localhost".
set -eu -o pipefail
dir=${1:?usage: mkcerts.sh DIR}
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
cat >ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
CNF
: >index.txt
echo 1000 >serial
q() { "$@" >/dev/null 2>openssl.err || { cat openssl.err >&2; exit 1; }; }
q openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 30 -subj /CN=nanosp-test-ca
# sign NAME CN [openssl ca date options...]: NAME.key/NAME.crt signed by the CA.
sign()
{
    local name=$1 cn=$2
    shift 2
    local san=()
    [ "$cn" = localhost ] && san=(-addext subjectAltName=DNS:localhost)
    q openssl req -new "${ec[@]}" -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" "${san[@]}"
    q openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in "$name.csr" \
        -out "$name.crt" -notext "$@"
}
sign server localhost -days 30
sign expired localhost -startdate 20200101000000Z -enddate 20200102000000Z
sign client nanosp-test-client -days 30
q openssl req -x509 "${ec[@]}" -keyout self.key -out self.crt -days 30 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost
q openssl req -x509 "${ec[@]}" -keyout rogue.key -out rogue.crt -days 30 -subj /CN=nanosp-test-client
q openssl ec -in server.key -aes-256-cbc -out encrypted.key -passout pass:nanosp-test
rm -f ./*.csr ./*.pem index.txt* serial* ca.cnf openssl.err
