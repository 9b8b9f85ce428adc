#!/bin/bash
# Our nanocat against Debian's nanocat (libnanomsg 1.1.5) and nngcat (NNG 1.5.2) over
# tcp, ipc, ws, tls+tcp and wss: a REQ sends an 80000-byte request (-F, many TLS records),
# the REP answers it (-D); both print what they get with -Q. The REQ side must print
# exactly the reply and exit 0 by itself (as nanocat 1.1.5 does after one reply), the REP
# side exactly the request.
#
# TLS: our nanocat takes --cert/--key (server) and --cacert (client). nngcat takes the
# same options. Debian's nanocat has no TLS options and libnanomsg no TLS: it runs on OUR
# library (LD_LIBRARY_PATH) and takes its TLS material from the environment
# (NN_TLS_CERT_FILE/NN_TLS_KEY_FILE to serve, SSL_CERT_FILE to trust), the way an
# unmodified program does (nn_env(7)); dropin_tls.sh proves it loads our library.
#
# usage: exchange.sh OUR_NANOCAT PEER TRANSPORT OURTYPE ROLE
#   PEER       nanocat | nngcat
#   TRANSPORT  tcp | ipc | ws | tls | wss
#   OURTYPE    req | rep: what our nanocat plays (the peer plays the other)
#   ROLE       bind | connect: what our nanocat does (the peer does the other)
# env: NANOSP_BUILD_DIR (our libnanomsg.so.5, for Debian's nanocat over TLS)
# Exit 0 pass, 1 fail (also when peer or openssl missing: the message names the package), 77 skip (only under -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

if [ $# -ne 5 ]; then
    it_log "usage: exchange.sh OUR_NANOCAT PEER TRANSPORT OURTYPE ROLE"
    exit 2
fi
ours_bin=$(realpath "$1") peer=$2 transport=$3 ours_type=$4 role=$5
it_init "nanocat-exchange $peer $transport ours=$ours_type/$role"
it_need_cmd "$peer"
[ -x "$ours_bin" ] || it_fail "$ours_bin is not an executable"
case $ours_type in
req) peer_type=rep ;;
rep) peer_type=req ;;
*) it_fail "OURTYPE must be req or rep" ;;
esac
[ "$role" = bind ] || [ "$role" = connect ] || it_fail "ROLE must be bind or connect"
case $transport in
tcp | ipc) scheme=$transport ;;
ws | wss) scheme=$transport ;;
tls) scheme=tls+tcp ;;
*) it_fail "TRANSPORT must be tcp, ipc, ws, tls or wss" ;;
esac
secure=false
if [ "$transport" = tls ] || [ "$transport" = wss ]; then secure=true; fi

certs=$IT_TMP/certs
if $secure; then
    it_need_cmd openssl
    mkdir "$certs" && "$here/../tls/mkcerts.sh" "$certs" || it_fail "could not make test certificates"
fi

# Debian's nanocat over TLS runs on our library (with the sanitizer runtime in a
# sanitizer build); otherwise on its own.
peer_env=(-u LD_LIBRARY_PATH -u LD_PRELOAD)
if $secure && [ "$peer" = nanocat ]; then
    build=$(cd "${NANOSP_BUILD_DIR:?NANOSP_BUILD_DIR is not set}" && pwd)
    peer_env=(LD_LIBRARY_PATH="$build")
    it_sanitizer_env "$build/libnanomsg.so.5"
    case $? in
    0) peer_env+=("${IT_SAN_ENV[@]}") ;;
    2) it_skip "sanitizer build whose runtime is not a shared library: cannot inject it into nanocat" ;;
    esac
fi

tag="$peer-$transport-$ours_type-$role"
it_payload "$IT_TMP/request.msg" "$tag:" 8000
reply="pong from the $peer_type of $tag"
request_side=ours reply_side=peer
[ "$ours_type" = rep ] && request_side=peer reply_side=ours
if [ "$request_side" = ours ]; then who=ours; else who=$peer; fi
it_quoted "$(cat "$IT_TMP/request.msg")" >"$IT_TMP/$reply_side.expected"
it_quoted "$reply" >"$IT_TMP/$request_side.expected"

# Addresses: the server side binds 127.0.0.1 (nngcat: localhost), clients dial
# localhost, the name in the test certificates. nanocat (1.1.5, and ours as libnanomsg
# does) binds ws and wss without a path and accepts any; nngcat listens on one.
path=
case $transport in ws | wss) path=/sp-test ;; esac
server_url()
{
    case $transport in
    ipc) echo "ipc://$IT_ADDR" ;;
    *)
        if [ "$role" = connect ] && [ "$peer" = nngcat ]; then
            echo "$scheme://localhost:$IT_ADDR$path"
        else
            echo "$scheme://127.0.0.1:$IT_ADDR" # nanocat binds ws and wss without a path
        fi
        ;;
    esac
}
client_url()
{
    case $transport in
    ipc) echo "ipc://$IT_ADDR" ;;
    tcp) echo "tcp://127.0.0.1:$IT_ADDR" ;;
    *) echo "$scheme://localhost:$IT_ADDR$path" ;;
    esac
}

build_ours()
{
    local url
    IT_CMD=("$ours_bin" "--$ours_type" -Q)
    if [ "$ours_type" = req ]; then IT_CMD+=(-F "$IT_TMP/request.msg"); else IT_CMD+=(-D "$reply"); fi
    if [ "$role" = bind ]; then
        url=$(server_url)
        IT_CMD+=(--bind "$url")
        if $secure; then IT_CMD+=(--cert "$certs/server.crt" --key "$certs/server.key"); fi
    else
        url=$(client_url)
        IT_CMD+=(--connect "$url")
        if $secure; then IT_CMD+=(--cacert "$certs/ca.crt"); fi
    fi
}
build_peer()
{
    local -a env=("${peer_env[@]}")
    if [ "$peer" = nanocat ]; then
        IT_CMD=(nanocat "--$peer_type" -Q)
    else
        IT_CMD=(nngcat "--${peer_type}0" -Q)
    fi
    if [ "$peer_type" = req ]; then IT_CMD+=(-F "$IT_TMP/request.msg"); else IT_CMD+=(-D "$reply"); fi
    if [ "$role" = connect ]; then # the peer binds
        if [ "$peer" = nanocat ]; then IT_CMD+=(--bind "$(server_url)"); else IT_CMD+=(--listen "$(server_url)"); fi
        if $secure; then
            if [ "$peer" = nanocat ]; then
                env+=(NN_TLS_CERT_FILE="$certs/server.crt" NN_TLS_KEY_FILE="$certs/server.key")
            else
                IT_CMD+=(--cert "$certs/server.crt" --key "$certs/server.key")
            fi
        fi
    else
        if [ "$peer" = nanocat ]; then IT_CMD+=(--connect "$(client_url)"); else IT_CMD+=(--dial "$(client_url)"); fi
        if $secure; then
            if [ "$peer" = nanocat ]; then env+=(SSL_CERT_FILE="$certs/ca.crt"); else IT_CMD+=(--cacert "$certs/ca.crt"); fi
        fi
    fi
    IT_CMD=(env "${env[@]}" NN_PRINT_ERRORS=1 "${IT_CMD[@]}")
}

listen_kind=tcp
[ "$transport" = ipc ] && listen_kind=ipc
if [ "$role" = bind ]; then
    it_start_server ours "$listen_kind" build_ours || it_fail "our nanocat did not come up"
    build_peer && it_start peer "${IT_CMD[@]}"
else
    it_start_server peer "$listen_kind" build_peer || it_fail "$peer did not come up"
    build_ours && it_start ours "${IT_CMD[@]}"
fi

# The REQ side ends by itself once it printed the reply; the REP side serves on.
req_done() { ! it_alive "$request_side"; }
rep_has_request() { [ "$(it_lines "$IT_TMP/$reply_side.out")" -ge 1 ]; }
settled() { req_done && rep_has_request || ! it_alive "$reply_side"; }
it_wait_until "$IT_WAIT_MS" settled || it_fail "no complete exchange within ${IT_WAIT_MS} ms"
it_reap "$request_side"
it_alive "$reply_side" || { it_reap "$reply_side"; it_fail "the REP side ($reply_side) exited (status ${IT_RC[$reply_side]})"; }
[ "${IT_RC[$request_side]}" = 0 ] || it_fail "the REQ side ($who) exited with status ${IT_RC[$request_side]}"
it_stop "$reply_side"
it_check_sanitizer ours
it_expect_output "$request_side" "$IT_TMP/$request_side.expected" "the reply"
it_expect_output "$reply_side" "$IT_TMP/$reply_side.expected" "the request"
it_log "PASS [$IT_TAG] $(server_url) <- $(client_url)"
exit 0
