#!/bin/sh
# TLS with nanocat: a throw-away certificate for localhost, a REP server, and
# two REQ clients: one given the CA with --cacert, one through SSL_CERT_FILE,
# as a program built for libnanomsg takes it (see nn_env(7)).
#   tls-nanocat.sh [PORT]      (prints "pong" twice)
set -e
port=${1:-5555}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout server.key -out server.crt 2>/dev/null
nanocat --rep --bind tls+tcp://127.0.0.1:$port --cert server.crt --key server.key -D pong &
trap 'kill $!' EXIT
nanocat --req --connect tls+tcp://localhost:$port --cacert server.crt -D ping -A
SSL_CERT_FILE=server.crt nanocat --req --connect tls+tcp://localhost:$port -D ping -A
