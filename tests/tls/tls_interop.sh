#!/bin/bash
# Wire interop over ws://, wss:// and tls+tcp://: our library (through tls_peer, the
# interop driver with NN_TLS options from the environment) on one side, an unmodified
# nanocat (Debian libnanomsg 1.1.5, ws only) or nngcat (NNG 1.5.2 with mbedTLS) on the
# other. Same exchanges and checks as tests/interop/interop.sh, whose machinery
# (tests/interop/lib.sh) this script sources.
#
# usage: tls_interop.sh DRIVER PEER OURTYPE TRANSPORT ROLE [AUTH]
#   DRIVER     path of tls_peer
#   PEER       nanocat | nngcat
#   OURTYPE    the socket type our side plays (see the table below)
#   TRANSPORT  ws | wss | tls (tls+tcp)
#   ROLE       bind | connect: what OUR side does; the peer does the other
#   AUTH       server (default): only the server has a certificate; the client checks
#              it against the test CA
#              mutual: our side binds with NN_TLS_VERIFY_REQUIRED and the CA; the
#              peer (nngcat) dials with --cert/--key of a client certificate the CA
#              signed. The exchange must work.
#              nocert / rogue: as mutual, but the peer dials without a certificate /
#              with a self-signed one: our side must refuse it (NN_PRINT_ERRORS shows
#              the TLS handshake failure) and receive nothing.
#
# Addresses: our side binds 127.0.0.1 (bind takes no host names); clients dial
# "localhost", the name in the test certificates (mbedTLS 2.28 does not match IP SANs),
# and nngcat's ws listener wants that Host header too. nanocat binds ws without a path
# (it refuses one). Certificates are made at test time by mkcerts.sh.
#
# Exit 0 pass, 1 fail (also when the peer or openssl is not installed), 77 skip (either is
# not installed and the build allows skipping: -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

if [ $# -lt 5 ] || [ $# -gt 6 ]; then
    it_log "usage: tls_interop.sh DRIVER PEER OURTYPE TRANSPORT ROLE [AUTH]"
    exit 2
fi
driver=$1 peer=$2 ours=$3 transport=$4 role=$5 auth=${6:-server}

# The protocol table, as in interop.sh (see there). rep and respondent "serve": they go
# on answering until the peer printed every message of the list, because a peer that
# waited past its next -i tick asks again and ignores a late answer. A driver without
# --serve answers exactly K requests ("reply").
serve=reply
"$driver" --help 2>/dev/null | grep -- '--serve' >/dev/null && serve=serve
#                  peer_type   ours_sends  peer_sends  ours_recv  subscribe
case $ours in
pair)       set -- pair        list        small       K          - ;;
push)       set -- pull        list        none        0          - ;;
pull)       set -- push        none        big         K          - ;;
req)        set -- rep         list        small       list       - ;;
rep)        set -- req         $serve      small       K          - ;;
pub)        set -- sub         repeat      none        0          T ;;
sub)        set -- pub         none        small       K          from ;;
surveyor)   set -- respondent  survey      small       list       - ;;
respondent) set -- surveyor    $serve      small       K          - ;;
bus)        set -- bus         repeat      small       K          - ;;
*)
    it_log "tls_interop.sh: no table entry for our type '$ours'"
    exit 2
    ;;
esac
peer_type=$1 ours_sends=$2 peer_sends=$3 ours_recv=$4 subscribe=$5
[ "$subscribe" = - ] && subscribe=

it_init "tls-interop $peer $ours/$peer_type $transport ours=$role auth=$auth"
it_need_cmd "$peer" openssl
[ -x "$driver" ] || it_fail "driver $driver is not an executable"
case $transport in
ws | wss) scheme=$transport ;;
tls) scheme=tls+tcp ;;
*) it_fail "TRANSPORT must be ws, wss or tls" ;;
esac
[ "$role" = bind ] || [ "$role" = connect ] || it_fail "ROLE must be bind or connect"
case $auth in
server) ;;
mutual | nocert | rogue)
    [ "$role" = bind ] && [ "$transport" != ws ] && [ "$peer" = nngcat ] ||
        it_fail "AUTH=$auth needs ROLE=bind, a TLS transport and nngcat"
    ;;
*) it_fail "AUTH must be server, mutual, nocert or rogue" ;;
esac
[ "$peer" = nanocat ] && [ "$transport" != ws ] && it_fail "nanocat speaks no TLS"

certs=$IT_TMP/certs
mkdir "$certs" && "$here/mkcerts.sh" "$certs" || it_fail "could not make test certificates"

# How many messages our side takes from a repeating peer. nngcat repeats only every whole
# second: one message from it keeps the suite short (our side still sends it several).
if [ "$peer" = nngcat ]; then K=1; else K=3; fi

tag="$peer-$ours-$transport-$role"
it_payload "$IT_TMP/peer-big.msg" peer 8000    # 80000 bytes: 64-bit ws length, many TLS records
if [ -n "$subscribe" ] && [ "$ours_sends" != none ]; then
    it_payload "$IT_TMP/ours-big.msg" "${subscribe}ours" 9000
    list_msgs=("$subscribe first from ours $tag" "~not subscribed $tag"
        "$(cat "$IT_TMP/ours-big.msg")" "$subscribe last from ours $tag")
else
    it_payload "$IT_TMP/ours-big.msg" ours 9000    # 90000 bytes
    list_msgs=("first from ours $tag" "" "$(cat "$IT_TMP/ours-big.msg")" "last from ours $tag")
fi
list_args=(--send "${list_msgs[0]}" --send "${list_msgs[1]}"
    --send-file "$IT_TMP/ours-big.msg" --send "${list_msgs[3]}")

case $peer_sends in
none) peer_send='' peer_msg='' ;;
small) peer_msg="from $peer $tag" peer_send="data:$peer_msg" ;;
big) peer_msg=$(cat "$IT_TMP/peer-big.msg") peer_send="file:$IT_TMP/peer-big.msg" ;;
esac

: >"$IT_TMP/ours.expected"
: >"$IT_TMP/peer.expected"
peer_check=exact
ours_args=(--type "$ours" --timeout 25000 --hold 25000)
case $ours_sends in
list)
    ours_args+=("${list_args[@]}")
    for m in "${list_msgs[@]}"; do it_quoted "$m" >>"$IT_TMP/peer.expected"; done
    ;;
reply)
    ours_args+=("${list_args[@]}")
    for ((i = 0; i < K; i++)); do
        it_quoted "${list_msgs[i % ${#list_msgs[@]}]}" >>"$IT_TMP/peer.expected"
    done
    ;;
repeat | survey | serve)
    peer_check=set
    case $ours_sends in
    repeat) ours_args+=(--repeat 100) ;;
    survey) ours_args+=(--retry 250) ;;
    serve) ours_args+=(--serve) ;;
    esac
    if [ "$ours_sends" = serve ] && [ "$peer" = nngcat ]; then
        # nngcat asks once a second: answering the whole list would take 4 s. The big
        # message alone (the others go to nngcat from the other types).
        list_msgs=("${list_msgs[2]}")
        list_args=(--send-file "$IT_TMP/ours-big.msg")
    fi
    ours_args+=("${list_args[@]}")
    for m in "${list_msgs[@]}"; do
        [ -n "$subscribe" ] && [ "${m#"$subscribe"}" = "$m" ] && continue
        it_quoted "$m" >>"$IT_TMP/peer.expected"
    done
    ;;
esac
if [ -n "$subscribe" ] && [ "$ours" = sub ]; then
    ours_args+=(--subscribe "$subscribe" --subscribe "~nothing starts with this")
fi
case $ours_recv in
K) n_recv=$K ;;
list) n_recv=${#list_msgs[@]} ;;
0) n_recv=0 ;;
esac
case $ours in
req) ;;
surveyor) ours_args+=(--recv 1) ;;
*) ours_args+=(--recv "$n_recv") ;;
esac
ours_check=exact
if [ "$ours_sends" = serve ]; then
    ours_check=set   # K at least (it holds only after K), maybe more
    printf '%s\n' "$peer_msg" >"$IT_TMP/ours.expected"
else
    for ((i = 0; i < n_recv; i++)); do printf '%s\n' "$peer_msg" >>"$IT_TMP/ours.expected"; done
fi
peer_lines=$(it_lines "$IT_TMP/peer.expected")

# Our side: the driver with its TLS options in the environment.
ours_env=(NN_PRINT_ERRORS=1)
if [ "$transport" != ws ]; then
    if [ "$role" = bind ]; then
        ours_env+=(TLS_PEER_CERT_FILE="$certs/server.crt" TLS_PEER_KEY_FILE="$certs/server.key")
        [ "$auth" != server ] && ours_env+=(TLS_PEER_VERIFY=required TLS_PEER_CA_FILE="$certs/ca.crt")
    else
        ours_env+=(TLS_PEER_CA_FILE="$certs/ca.crt")
    fi
fi
# The peer's TLS options.
peer_tls=()
if [ "$transport" != ws ]; then
    if [ "$role" = bind ]; then
        peer_tls=(--cacert "$certs/ca.crt")
        case $auth in
        mutual) peer_tls+=(--cert "$certs/client.crt" --key "$certs/client.key") ;;
        rogue) peer_tls+=(--cert "$certs/rogue.crt" --key "$certs/rogue.key") ;;
        esac
    else
        peer_tls=(--cert "$certs/server.crt" --key "$certs/server.key")
    fi
fi

# The server listens on port IT_ADDR (picked by it_start_server); the client dials.
path=
[ "$transport" != tls ] && [ "$peer" = nngcat ] && path=/sp-test
server_url() # what the server side listens on
{
    if [ "$role" = bind ]; then
        echo "$scheme://127.0.0.1:$IT_ADDR"
    elif [ "$peer" = nanocat ]; then
        echo "$scheme://127.0.0.1:$IT_ADDR"
    else
        echo "$scheme://localhost:$IT_ADDR$path"
    fi
}
client_url() # what the client side dials
{
    if [ "$peer" = nanocat ]; then
        echo "$scheme://127.0.0.1:$IT_ADDR/sp-test"
    else
        echo "$scheme://localhost:$IT_ADDR$path"
    fi
}
build_ours()
{
    local url
    if [ "$role" = bind ]; then url=$(server_url); else url=$(client_url); fi
    IT_CMD=(env "${ours_env[@]}" "$driver" "${ours_args[@]}" "--$role" "$url")
}
build_peer()
{
    local peer_role=bind url
    [ "$role" = bind ] && peer_role=connect
    if [ "$peer_role" = bind ]; then url=$(server_url); else url=$(client_url); fi
    it_peer_cmd "$peer" "$peer_type" "$peer_role" "$url" "$peer_send" "$subscribe" &&
        IT_CMD+=("${peer_tls[@]}")
}

if [ "$role" = bind ]; then
    it_start_server ours tcp build_ours || it_fail "our side did not come up"
    build_peer && it_start peer "${IT_CMD[@]}"
else
    it_start_server peer tcp build_peer || it_fail "$peer did not come up"
    build_ours && it_start ours "${IT_CMD[@]}"
fi

if [ "$auth" = nocert ] || [ "$auth" = rogue ]; then
    # Refused: our side reports the handshake failure and receives nothing, however
    # often nngcat retries.
    refused() { grep -q 'Error: Protocol error (TLS handshake failed: ' "$IT_TMP/ours.err"; }
    it_wait_until "$IT_WAIT_MS" refused || it_fail "our side did not report a TLS handshake failure"
    it_check_sanitizer ours
    it_alive ours || it_fail "our side exited"
    [ -s "$IT_TMP/ours.out" ] && it_fail "our side received a message from a client it must refuse"
    it_stop peer
    it_stop ours
    it_check_sanitizer ours
    it_log "PASS [$IT_TAG]: $(grep -m1 'TLS handshake failed' "$IT_TMP/ours.err")"
    exit 0
fi

ours_done() { grep -q '^sp_peer: holding' "$IT_TMP/ours.err"; }
peer_done()
{
    if [ "$peer_check" = set ]; then
        it_has_all_lines "$IT_TMP/peer.out" "$IT_TMP/peer.expected"
    else
        [ "$(it_lines "$IT_TMP/peer.out")" -ge "$peer_lines" ]
    fi
}
it_finish_exchange "$(server_url) <- $(client_url)"
