#!/bin/bash
# Wire interop: our library (through sp_peer, which uses only the public nn_* API) on one
# side, an unmodified nanocat (Debian libnanomsg 1.1.5) or nngcat (NNG 1.5.2) on the other.
#
# usage: interop.sh SP_PEER PEER OURTYPE TRANSPORT ROLE
#   SP_PEER    path of the sp_peer driver (the env var SP_PEER overrides it, e.g. to run
#              the scripts against a driver built on Debian's libnanomsg)
#   PEER       nanocat | nngcat
#   OURTYPE    the socket type our side plays (see the table below)
#   TRANSPORT  tcp (127.0.0.1, kernel-chosen free port) | ipc (path in a fresh temp dir)
#   ROLE       bind | connect: what OUR side does; the peer does the other
#
# Exit 0 pass, 1 fail (also when the peer is not installed), 77 skip (the peer is not
# installed and the build allows skipping: -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

if [ $# -ne 5 ]; then
    it_log "usage: interop.sh SP_PEER PEER OURTYPE TRANSPORT ROLE"
    exit 2
fi
driver=${SP_PEER:-$1}
peer=$2 ours=$3 transport=$4 role=$5

# The protocol table: one line per socket type our side can play.
#   peer_type   the type the peer plays
#   ours_sends  list: our side sends the message list below, once, in order
#               serve: our side answers each message it receives with the next message
#                      of the list, cycling, and goes on answering until the peer has seen
#                      every message of the list (REP, RESPONDENT: the peers, nanocat in
#                      particular, wait for an answer only until their next -i tick, then
#                      ask again and ignore a late answer, so a fixed count would make the
#                      test fail whenever the machine stalls for 200 ms)
#               repeat: fan-out (PUB, BUS): a message sent while no peer is connected is
#                       lost, so our side sends the list one message every 100 ms and
#                       keeps cycling through it until the peer has seen every one
#               survey: each message of the list is a survey, sent again after a 250 ms
#                       deadline until it got its response (SURVEYOR)
#               none
#   peer_sends  none | small | big: the peer sends this payload, repeatedly (see it_peer_cmd in lib.sh)
#   ours_recv   K: our side receives K messages (the peer repeats, so K > 1 is fine)
#               list: one per message of the list (REQ, SURVEYOR: one reply each)
#               0
#   subscribe   -: no subscription; else the prefix the SUB side subscribes to. When our
#               side publishes, its list then also holds a message that does not start
#               with the prefix, which the peer must never print.
# With repeat, survey and serve the peer may print a message more than once: the peer
# must then print every message of the list at least once and nothing else (and with
# serve our side at least K copies of the peer's message and nothing else); otherwise
# exactly the messages of the list, once each, in order.
case $ours in
#                  peer_type   ours_sends  peer_sends  ours_recv  subscribe
pair)       set -- pair        list        small       K          - ;;
push)       set -- pull        list        none        0          - ;;
pull)       set -- push        none        big         K          - ;;
req)        set -- rep         list        small       list       - ;;
rep)        set -- req         serve       small       K          - ;;
pub)        set -- sub         repeat      none        0          T ;;
sub)        set -- pub         none        small       K          from ;;
surveyor)   set -- respondent  survey      small       list       - ;;
respondent) set -- surveyor    serve       small       K          - ;;
bus)        set -- bus         repeat      small       K          - ;;
*)
    it_log "interop.sh: no table entry for our type '$ours'"
    exit 2
    ;;
esac
peer_type=$1 ours_sends=$2 peer_sends=$3 ours_recv=$4 subscribe=$5
[ "$subscribe" = - ] && subscribe=

it_init "interop $peer $ours/$peer_type $transport ours=$role"
it_need_cmd "$peer"
[ -x "$driver" ] || it_fail "driver $driver is not an executable"
[ "$role" = bind ] || [ "$role" = connect ] || it_fail "ROLE must be bind or connect"

# How many messages our side takes from a repeating peer: nngcat repeats only every
# whole second, so fewer from it to keep the test short.
if [ "$peer" = nngcat ]; then K=2; else K=3; fi

# The messages. Only characters that -Q prints unescaped, so the peer's expected output is
# just each message in double quotes. The big ones exceed 65535 bytes (64-bit framing)
# and are not periodic, so truncation or reordering shows.
tag="$peer-$ours-$transport-$role"
it_payload "$IT_TMP/peer-big.msg" peer 8000    # 80000 bytes
if [ -n "$subscribe" ] && [ "$ours_sends" != none ]; then
    # Our side publishes: every message but the second starts with the subscription.
    it_payload "$IT_TMP/ours-big.msg" "${subscribe}ours" 9000
    list_msgs=("$subscribe first from ours $tag" "~not subscribed $tag"
        "$(cat "$IT_TMP/ours-big.msg")" "$subscribe last from ours $tag")
    list_args=(--send "${list_msgs[0]}" --send "${list_msgs[1]}"
        --send-file "$IT_TMP/ours-big.msg" --send "${list_msgs[3]}")
else
    it_payload "$IT_TMP/ours-big.msg" ours 9000    # 90000 bytes
    list_msgs=("first from ours $tag" "" "$(cat "$IT_TMP/ours-big.msg")" "last from ours $tag")
    list_args=(--send "${list_msgs[0]}" --send "${list_msgs[1]}"
        --send-file "$IT_TMP/ours-big.msg" --send "${list_msgs[3]}")
fi

case $peer_sends in
none) peer_send='' peer_msg='' ;;
small) peer_msg="from $peer $tag" peer_send="data:$peer_msg" ;;
big) peer_msg=$(cat "$IT_TMP/peer-big.msg") peer_send="file:$IT_TMP/peer-big.msg" ;;
esac

# What each side must print.
: >"$IT_TMP/ours.expected"
: >"$IT_TMP/peer.expected"
peer_check=exact
# Generous: nngcat repeats only every whole second, and CI machines are busy.
ours_args=(--type "$ours" --timeout 25000 --hold 25000)
case $ours_sends in
list)
    ours_args+=("${list_args[@]}")
    for m in "${list_msgs[@]}"; do it_quoted "$m" >>"$IT_TMP/peer.expected"; done
    ;;
repeat | survey | serve)
    peer_check=set
    ours_args+=("${list_args[@]}")
    case $ours_sends in
    repeat) ours_args+=(--repeat 100) ;;
    survey) ours_args+=(--retry 250) ;;
    serve) ours_args+=(--serve) ;;
    esac
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
req) ;;                              # one reply per request
surveyor) ours_args+=(--recv 1) ;;   # one response per survey
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

build_ours()
{
    IT_CMD=("$driver" "${ours_args[@]}" "--$role" "$IT_URL")
}
build_peer()
{
    local peer_role=bind
    [ "$role" = bind ] && peer_role=connect
    it_peer_cmd "$peer" "$peer_type" "$peer_role" "$IT_URL" "$peer_send" "$subscribe"
}

# Server first; the client only once the server listens.
if [ "$role" = bind ]; then
    it_start_server ours "$transport" build_ours || it_fail "our side did not come up"
    build_peer && it_start peer "${IT_CMD[@]}"
else
    it_start_server peer "$transport" build_peer || it_fail "$peer did not come up"
    build_ours && it_start ours "${IT_CMD[@]}"
fi

# Done when our side finished its part (it then holds the socket open, so that nothing it
# sent can be lost by closing early) and the peer printed everything it should.
ours_done() { grep -q '^sp_peer: holding' "$IT_TMP/ours.err"; }
peer_done()
{
    if [ "$peer_check" = set ]; then
        it_has_all_lines "$IT_TMP/peer.out" "$IT_TMP/peer.expected"
    else
        [ "$(it_lines "$IT_TMP/peer.out")" -ge "$peer_lines" ]
    fi
}
it_finish_exchange "$IT_URL"
