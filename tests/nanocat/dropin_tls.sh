#!/bin/bash
# TLS for a program that cannot be rebuilt: Debian's unmodified /usr/bin/nanocat (built
# for libnanomsg 1.1.5, which has no TLS) runs on OUR library (LD_LIBRARY_PATH) and
# connects as a REQ to our nanocat, a REP serving over tls+tcp:// or wss:// with the
# test certificate for localhost. All its TLS material comes from the environment
# (nn_env(7)). The test first proves that the Debian binary mapped our library.
#
# usage: dropin_tls.sh OUR_NANOCAT TRANSPORT CASE
#   TRANSPORT  tls | wss
# Debian's nanocat starts first and retries until our nanocat listens, so that the test
# can read /proc/PID/maps of the running Debian binary before anything is exchanged.
#
#   CASE       trusted:   SSL_CERT_FILE names the test CA: nanocat prints the reply
#                         and exits 0, as it does over tcp
#              untrusted: no SSL_CERT_FILE (the system store does not know the test
#                         CA): no connection; NN_PRINT_ERRORS=1 prints why (the
#                         certificate verification failed); nothing is exchanged
#              badfile:   SSL_CERT_FILE names no file: nn_connect fails (nanocat:
#                         "Can't connect: Invalid argument", status 3) and
#                         NN_PRINT_ERRORS=1 names the variable and the file
# env: NANOSP_BUILD_DIR (our libnanomsg.so.5)
# Exit 0 pass, 1 fail (also when nanocat or openssl missing: the message names the package), 77 skip (only under -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

[ $# = 3 ] || { it_log "usage: dropin_tls.sh OUR_NANOCAT TRANSPORT CASE"; exit 2; }
ours_bin=$(realpath "$1") transport=$2 case_=$3
it_init "nanocat-dropin-tls $transport $case_"
it_need_cmd nanocat openssl ldd
case $transport in
tls) scheme=tls+tcp path= ;;
wss) scheme=wss path=/sp-test ;;
*) it_fail "TRANSPORT must be tls or wss" ;;
esac
case $case_ in trusted | untrusted | badfile) ;; *) it_fail "CASE must be trusted, untrusted or badfile" ;; esac

build=$(cd "${NANOSP_BUILD_DIR:?NANOSP_BUILD_DIR is not set}" && pwd) || it_fail "no build directory"
ourlib_real=$(readlink -f "$build/libnanomsg.so.5")
[ -e "$ourlib_real" ] || it_fail "$build/libnanomsg.so.5 does not exist"
nanocat_bin=$(command -v nanocat)
certs=$IT_TMP/certs
mkdir "$certs" && "$here/../tls/mkcerts.sh" "$certs" || it_fail "could not make test certificates"

debian_env=(LD_LIBRARY_PATH="$build" NN_PRINT_ERRORS=1)
it_sanitizer_env "$ourlib_real"
case $? in
0) debian_env+=("${IT_SAN_ENV[@]}") ;;
2) it_skip "sanitizer build whose runtime is not a shared library: cannot inject it into nanocat" ;;
esac
case $case_ in
trusted) debian_env+=(SSL_CERT_FILE="$certs/ca.crt") ;;
badfile) debian_env+=(SSL_CERT_FILE="$certs/no-such-ca.crt") ;;
esac

# Debian's nanocat starts first, connecting to a port nobody listens on yet: it stays
# alive retrying, so that its mapped libraries can be read before it gets anywhere.
port=$(it_free_port) || it_fail "no free port"
url=$scheme://localhost:$port$path
# Only the TLS variables the test sets.
it_start debian env -u SSL_CERT_FILE -u SSL_CERT_DIR -u NN_TLS_CA_FILE -u NN_TLS_VERIFY \
    -u NN_TLS_SERVER_NAME -u NN_TLS_CERT_FILE -u NN_TLS_KEY_FILE "${debian_env[@]}" \
    "$nanocat_bin" --req --connect "$url" -D "ping over $transport" -Q

if [ "$case_" = badfile ]; then
    # nn_connect itself fails; the reason can only come from our library (libnanomsg
    # has no tls+tcp or wss, and says "Protocol not supported").
    it_wait_until "$IT_WAIT_MS" eval '! it_alive debian' || it_fail "nanocat did not end"
    it_reap debian
    [ "${IT_RC[debian]}" = 3 ] || it_fail "nanocat ended with status ${IT_RC[debian]}, expected 3"
    grep -qx "Can't connect: Invalid argument" "$IT_TMP/debian.err" ||
        it_fail "nanocat did not say \"Can't connect: Invalid argument\""
    grep -qF "Error: Invalid argument (TLS: cannot load the CA certificates in SSL_CERT_FILE=$certs/no-such-ca.crt" \
        "$IT_TMP/debian.err" || it_fail "NN_PRINT_ERRORS did not say which SSL_CERT_FILE could not be loaded"
    it_log "PASS [$IT_TAG]: $(grep -m1 'TLS:' "$IT_TMP/debian.err")"
    exit 0
fi

pid=
for _ in $(seq 1000); do
    pid=$(it_child_pid debian) && [ "$(readlink "/proc/$pid/exe")" = "$nanocat_bin" ] &&
        maps=$(grep -F libnanomsg "/proc/$pid/maps") && break
    pid=
    it_alive debian || break
    sleep 0.01
done
[ -n "$pid" ] || it_fail "could not see the libraries of Debian's nanocat"
mapped=$(awk '{print $6}' <<<"$maps" | sort -u)
[ "$mapped" = "$ourlib_real" ] || it_fail "Debian's nanocat mapped [$mapped], not our [$ourlib_real]"

it_start ours "$ours_bin" --rep --bind "$scheme://127.0.0.1:$port" --cert "$certs/server.crt" \
    --key "$certs/server.key" -D "pong over $transport" -Q

if [ "$case_" = trusted ]; then
    it_wait_until "$IT_WAIT_MS" eval '! it_alive debian' || it_fail "nanocat did not get its reply"
    it_reap debian
    [ "${IT_RC[debian]}" = 0 ] || it_fail "nanocat ended with status ${IT_RC[debian]}"
    it_quoted "pong over $transport" >"$IT_TMP/debian.expected"
    it_expect_output debian "$IT_TMP/debian.expected" "the reply"
    it_quoted "ping over $transport" >"$IT_TMP/ours.expected"
    it_alive ours || it_fail "our nanocat ended"
    it_stop ours
    it_check_sanitizer ours
    it_expect_output ours "$IT_TMP/ours.expected" "the request"
else
    said_why() { grep -q 'certificate verification failed' "$IT_TMP/debian.err"; }
    it_wait_until "$IT_WAIT_MS" said_why || it_fail "NN_PRINT_ERRORS did not say that verification failed"
    line=$(grep -m1 'certificate verification failed' "$IT_TMP/debian.err")
    [[ $line == "nanomsg: socket.0[localhost:$port$path]: Error: Protocol error (TLS handshake failed: certificate verification failed: "* ]] ||
        it_fail "unexpected error line: $line"
    it_alive debian || it_fail "nanocat ended (it should go on trying)"
    it_alive ours || it_fail "our nanocat ended"
    it_stop debian
    it_stop ours
    it_check_sanitizer ours
    [ -s "$IT_TMP/debian.out" ] && it_fail "nanocat got a reply without trusting the server"
    [ -s "$IT_TMP/ours.out" ] && it_fail "our nanocat got a request over a refused connection"
fi
it_log "PASS [$IT_TAG]: Debian's nanocat ran on $mapped${line:+; it said: $line}"
exit 0
