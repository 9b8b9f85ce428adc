#!/bin/bash
# Binary drop-in: Debian's unmodified /usr/bin/nanocat, started with LD_LIBRARY_PATH at our
# build directory so that it loads OUR libnanomsg.so.5, talks to a second Debian nanocat
# on Debian's real libnanomsg. The test first proves that our library is the one mapped
# into the running process (/proc/PID/maps) and that the loader chose it (LD_DEBUG=libs):
# without that the exchange would prove nothing.
#
# With OUR_NANOCAT, our side is our tools/nanocat (linked with our library) in place of
# Debian's nanocat on our library: the same command lines must give the same exchange
# (tests/nanocat: a script calling nanocat must not notice the switch).
#
# usage: dropin.sh OURTYPE TRANSPORT ROLE [OUR_NANOCAT]
#   OURTYPE    the socket type the nanocat on our library plays (table below)
#   TRANSPORT  tcp | ipc
#   ROLE       bind | connect: what the nanocat on our library does
# env: NANOSP_BUILD_DIR  the directory holding our libnanomsg.so.5 (set by meson)
#
# Sanitizer builds: our library then needs the sanitizer runtime, which a plain nanocat
# does not load first; the test preloads the runtime(s) our library links (from ldd) and
# turns leak checking off for nanocat's own code. A runtime that cannot be found (e.g. a
# statically linked one) fails the test, or skips it under -Dallow_skip=true.
#
# Exit 0 pass, 1 fail, 77 skip (nanocat not installed, or the sanitizer runtime not
# injectable, in a build configured with -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

if [ $# -ne 3 ] && [ $# -ne 4 ]; then
    it_log "usage: dropin.sh OURTYPE TRANSPORT ROLE [OUR_NANOCAT]"
    exit 2
fi
ours=$1 transport=$2 role=$3 our_nanocat=${4:+$(realpath "$4")}

# One line per socket type. The payload is sent repeatedly (nanocat -i) by the initiating
# types, and is the answer of REP and RESPONDENT; each receiving side must print K copies
# of it, exactly. A SUB subscribes to the start of the payload.
#                  peer_type   ours_sends  peer_sends
case $ours in
pair)       set -- pair        small       small ;;
push)       set -- pull        big         none ;;
pull)       set -- push        none        big ;;
req)        set -- rep         small       small ;;
rep)        set -- req         small       small ;;
pub)        set -- sub         small       none ;;
sub)        set -- pub         none        small ;;
surveyor)   set -- respondent  small       small ;;
respondent) set -- surveyor    small       small ;;
bus)        set -- bus         small       small ;;
*)
    it_log "dropin.sh: no table entry for type '$ours'"
    exit 2
    ;;
esac
peer_type=$1 ours_sends=$2 peer_sends=$3
K=3

it_init "dropin $ours/$peer_type $transport ours=$role${our_nanocat:+ (our nanocat)}"
it_need_cmd nanocat ldd
[ "$role" = bind ] || [ "$role" = connect ] || it_fail "ROLE must be bind or connect"

build=${NANOSP_BUILD_DIR:-}
[ -n "$build" ] || it_fail "NANOSP_BUILD_DIR is not set"
build=$(cd "$build" && pwd) || it_fail "NANOSP_BUILD_DIR=$NANOSP_BUILD_DIR is not a directory"
ourlib=$build/libnanomsg.so.5
[ -e "$ourlib" ] || it_fail "$ourlib does not exist (library not built?)"
ourlib_real=$(readlink -f "$ourlib")
nanocat_bin=$(command -v nanocat)
deblib=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD ldd "$nanocat_bin" | awk '$1 == "libnanomsg.so.5" {print $3}')
[ -n "$deblib" ] || it_fail "cannot find the libnanomsg.so.5 that $nanocat_bin loads normally"
deblib_real=$(readlink -f "$deblib")
[ "$deblib_real" != "$ourlib_real" ] ||
    it_fail "$nanocat_bin loads $deblib_real even without LD_LIBRARY_PATH: it is ours, nothing to compare"

# Sanitizer build?
ours_env=(LD_LIBRARY_PATH="$build" LD_DEBUG=libs LD_DEBUG_OUTPUT="$IT_TMP/ld-ours")
ours_exe=$nanocat_bin
if [ -n "$our_nanocat" ]; then
    [ -x "$our_nanocat" ] || it_fail "$our_nanocat is not an executable"
    ours_exe=$our_nanocat
fi
it_sanitizer_env "$ourlib_real"
san=$?
# Our nanocat links the sanitizer runtime itself (and its allocations are ours to check).
if [ -z "$our_nanocat" ]; then
    case $san in
    0)
        it_log "sanitizer build: preloading $IT_SAN_RUNTIMES into nanocat"
        ours_env+=("${IT_SAN_ENV[@]}")
        ;;
    2)
        tu_unmet "this sanitizer build links a runtime that is not a shared library, which cannot be preloaded into nanocat (with clang: -shared-libsan)"
        ;;
    esac
fi

payload()
{
    case $1 in
    none) echo "" ;;
    small) echo "data:from nanocat on $2 $ours-$transport-$role" ;;
    big)
        it_payload "$IT_TMP/$2-big.msg" "$2" 8000   # 80000 bytes, beyond 16-bit lengths
        echo "file:$IT_TMP/$2-big.msg"
        ;;
    esac
}
ours_send=$(payload "$ours_sends" ours)
peer_send=$(payload "$peer_sends" debian)
message_of() { case $1 in data:*) echo "${1#data:}" ;; file:*) cat "${1#file:}" ;; esac; }

build_ours()
{
    local -a IT_PEER_ENV=("${ours_env[@]}")
    local IT_NANOCAT=${our_nanocat:-nanocat}
    it_peer_cmd nanocat "$ours" "$role" "$IT_URL" "$ours_send" "from nanocat on"
}
build_peer()
{
    local peer_role=bind
    [ "$role" = bind ] && peer_role=connect
    it_peer_cmd nanocat "$peer_type" "$peer_role" "$IT_URL" "$peer_send" "from nanocat on"
}

if [ "$role" = bind ]; then
    it_start_server ours "$transport" build_ours || it_fail "nanocat on our library did not come up"
    build_peer && it_start peer "${IT_CMD[@]}"
else
    it_start_server peer "$transport" build_peer || it_fail "Debian nanocat did not come up"
    build_ours && it_start ours "${IT_CMD[@]}"
fi

# Which libnanomsg does a running nanocat (EXE) have mapped? (Waits until it exists.)
mapped_lib()
{
    local name=$1 exe=$2 pid='' maps
    for _ in $(seq 500); do
        pid=$(it_child_pid "$name") && [ "$(readlink "/proc/$pid/exe")" = "$exe" ] &&
            maps=$(grep -F libnanomsg "/proc/$pid/maps") && break
        pid=
        it_alive "$name" || break
        sleep 0.01
    done
    [ -n "$pid" ] || return 1
    awk '{print $6}' <<<"$maps" | sort -u
}
ours_mapped=$(mapped_lib ours "$ours_exe") || it_fail "could not see the libraries of the nanocat started on our library"
peer_mapped=$(mapped_lib peer "$nanocat_bin") || it_fail "could not see the libraries of the Debian nanocat"
[ "$ours_mapped" = "$ourlib_real" ] ||
    it_fail "nanocat did not load our library: it maps [$ours_mapped], expected [$ourlib_real]"
[ "$peer_mapped" = "$deblib_real" ] ||
    it_fail "the Debian peer maps [$peer_mapped], expected Debian's [$deblib_real]"
grep -qF "calling init: $ourlib" "$IT_TMP"/ld-ours.* 2>/dev/null ||
    it_fail "LD_DEBUG=libs does not show the loader initialising $ourlib"

# What each side must receive.
ours_lines=0 peer_lines=0
[ -n "$peer_send" ] && ours_lines=$K
[ -n "$ours_send" ] && peer_lines=$K
have() { [ "$(it_lines "$IT_TMP/$1.out")" -ge "$2" ]; }
settled()
{
    it_alive ours || return 0
    it_alive peer || return 0
    have ours "$ours_lines" && have peer "$peer_lines"
}
it_wait_until "$IT_WAIT_MS" settled || it_fail "no complete exchange within ${IT_WAIT_MS} ms"
it_alive ours || { it_reap ours; it_fail "nanocat on our library exited (status ${IT_RC[ours]})"; }
it_alive peer || { it_reap peer; it_fail "Debian nanocat exited (status ${IT_RC[peer]})"; }
it_stop peer
it_stop ours
it_check_sanitizer ours

# Every complete line printed must be the payload, and there must be K of them at least.
check_side()
{
    local name=$1 send=$2 n
    [ -n "$send" ] || { [ ! -s "$IT_TMP/$name.out" ] || it_fail "$name received unexpected messages"; return; }
    n=$(it_lines "$IT_TMP/$name.out")
    : >"$IT_TMP/$name.expected"
    for ((i = 0; i < n; i++)); do it_quoted "$(message_of "$send")" >>"$IT_TMP/$name.expected"; done
    head -n "$n" "$IT_TMP/$name.out" >"$IT_TMP/$name.complete"
    if ! cmp -s "$IT_TMP/$name.expected" "$IT_TMP/$name.complete"; then
        it_log "first difference: $(cmp "$IT_TMP/$name.expected" "$IT_TMP/$name.complete" 2>&1)"
        it_fail "$name did not receive exactly the payload sent"
    fi
}
check_side ours "$peer_send"
check_side peer "$ours_send"
it_log "PASS [$IT_TAG] $IT_URL: nanocat ran on $ourlib_real; got $(it_lines "$IT_TMP/peer.out") messages" \
    "on Debian's side and $(it_lines "$IT_TMP/ours.out") on ours"
exit 0
