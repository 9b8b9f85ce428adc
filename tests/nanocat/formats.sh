#!/bin/bash
# What nanocat prints for each message, side by side with Debian's nanocat: the same
# messages (all 256 byte values, an empty one, 300 bytes and 70000 bytes (the msgpack
# length forms), quotes, backslashes, CR/LF/tab, UTF-8) are sent by our REQ driver
# (sp_peer) to a nanocat REP that answers each (so the driver knows when everything
# was printed), once per output option. Our stdout must equal Debian's byte for byte.
# Then the same with the messages arriving at a PULL (nanocat's receive loop).
#
# usage: formats.sh OUR_NANOCAT SP_PEER
# Exit 0 pass, 1 fail (also when Debian's nanocat missing: the message names the package), 77 skip (only under -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

[ $# = 2 ] || { it_log "usage: formats.sh OUR_NANOCAT SP_PEER"; exit 2; }
ours=$(realpath "$1") driver=$(realpath "$2")
it_init "nanocat-formats"
it_need_cmd nanocat python3
debian=$(command -v nanocat)

m=$IT_TMP/msg
mkdir "$m"
python3 - "$m" <<'EOF' || it_fail "could not write the messages"
import sys
d = sys.argv[1]
msgs = [bytes(range(256)), b"", b"x" * 300, bytes((i * 7) % 256 for i in range(70000)),
        b'say "hi" \\ back\\slash\r\n\ttab', "ünïcødé €".encode(), b"\x7f\x80\xff\x00end"]
for i, body in enumerate(msgs):
    open(f"{d}/{i}", "wb").write(body)
EOF
sends=()
for f in "$m"/*; do sends+=(--send-file "$f"); done
n_msgs=${#sends[@]}
n_msgs=$((n_msgs / 2))

ours_env=()
it_sanitizer_env "$ours"
[ $? = 0 ] && ours_env=(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0")

# run_rep NAME PROGRAM FORMAT...: PROGRAM as a REP printing with FORMAT, fed by sp_peer.
run_rep()
{
    local name=$1 prog=$2
    shift 2
    local url
    fmt_args=("$@")
    build() { IT_CMD=(env -u LD_LIBRARY_PATH "${ours_env[@]}" "$prog" --rep --bind "$IT_URL" -D ack "${fmt_args[@]}"); }
    it_start_server "$name" ipc build || it_fail "$name did not come up"
    url=$IT_URL
    timeout -k 2 20 "$driver" --type req --connect "$url" "${sends[@]}" >/dev/null 2>"$IT_TMP/driver.err" ||
        it_fail "the driver did not get $n_msgs answers from $name: $(cat "$IT_TMP/driver.err")"
    it_stop "$name"
}

for fmt in --raw -A --ascii -Q --quoted --msgpack --hex "--format raw" "--format=ascii" "--format quoted" \
    "--format=msgpack" "--format hex" "--format no" ""; do
    # shellcheck disable=SC2086 # the format is one or two words on purpose
    run_rep debian "$debian" $fmt
    # shellcheck disable=SC2086
    run_rep ours "$ours" $fmt
    it_check_sanitizer ours
    if ! cmp -s "$IT_TMP/debian.out" "$IT_TMP/ours.out"; then
        it_fail "${fmt:-no format option}: our output differs from Debian's: $(cmp "$IT_TMP/debian.out" "$IT_TMP/ours.out" 2>&1)"
    fi
    it_log "same bytes for ${fmt:-no format option}: $(wc -c <"$IT_TMP/ours.out") bytes"
done

# The receive loop (PULL): every message on its own line (-Q), so the test knows when
# all of them were printed.
run_pull()
{
    local name=$1 prog=$2
    build() { IT_CMD=(env -u LD_LIBRARY_PATH "${ours_env[@]}" "$prog" --pull --bind "$IT_URL" -Q); }
    it_start_server "$name" ipc build || it_fail "$name did not come up"
    # Started and stopped as the servers are (it_start, it_stop): the SIGTERM goes to sp_peer
    # itself, which then exits normally, and never through timeout(1), whose SIGCONT behind it
    # could hang LeakSanitizer's exit check for good (seen once in CI's ASan phase).
    it_start driver "$driver" --type push --connect "$IT_URL" "${sends[@]}" --hold 20000
    printed_all() { [ "$(it_lines "$IT_TMP/$name.out")" -ge "$n_msgs" ] || ! it_alive "$name"; }
    it_wait_until 20000 printed_all || it_fail "$name did not print $n_msgs messages"
    it_stop driver
    it_alive "$name" || it_fail "$name ended before it was stopped"
    it_stop "$name"
}
run_pull debian "$debian"
run_pull ours "$ours"
it_check_sanitizer ours
cmp -s "$IT_TMP/debian.out" "$IT_TMP/ours.out" ||
    it_fail "the PULL printed other bytes than Debian's: $(cmp "$IT_TMP/debian.out" "$IT_TMP/ours.out" 2>&1)"
it_log "PASS [$IT_TAG]: $n_msgs messages in 14 output options and through a PULL"
exit 0
