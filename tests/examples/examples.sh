#!/bin/bash
# The README's tour, run: each example of tools/examples with the command lines its
# header (and the README) shows, on fresh local addresses; and the README itself, whose
# code blocks must be the files verbatim.
#
# usage: examples.sh MODE BUILD_EXAMPLES_DIR
#   reqrep       reqrep server + client: "hello, world"
#   pubsub       pubsub pub + sub of one topic: only that topic, 3 messages
#   device       reqrep server <- device <- client: "hello, world" through the broker
#   tls-nanocat  tls-nanocat.sh with our nanocat first in PATH: "pong" twice
#   readme       every "<!-- example: PATH -->" block of README.md equals PATH, and
#                every file of tools/examples is shown
# Exit 0 pass, 1 fail (also when openssl missing for tls-nanocat: the message names the package), 77 skip (only under -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

mode=${1:?usage: examples.sh MODE BUILD_EXAMPLES_DIR} bin=${2:-}
it_init "examples-$mode"
src=${NANOSP_SOURCE_DIR:-$here/../..}
[ -n "$bin" ] && bin=$(realpath "$bin")

url() { echo "tcp://127.0.0.1:$(it_free_port)"; }
expect() # NAME EXPECTED: NAME's stdout must be exactly EXPECTED (lines)
{
    printf '%s\n' "$2" >"$IT_TMP/$1.expected"
    it_expect_output "$1" "$IT_TMP/$1.expected" "$3"
}
finished() { ! it_alive "$1"; }
ended_ok() # NAME: waits until NAME ends by itself, with status 0
{
    it_wait_until "$IT_WAIT_MS" finished "$1" || it_fail "$1 did not finish"
    it_reap "$1"
    it_check_sanitizer "$1"
    [ "${IT_RC[$1]}" = 0 ] || it_fail "$1 exited with status ${IT_RC[$1]}"
}

case $mode in
reqrep)
    u=$(url)
    it_start server "$bin/reqrep" server "$u"
    it_start client "$bin/reqrep" client "$u" world
    ended_ok client
    it_alive server || it_fail "the server ended"
    it_stop server
    it_check_sanitizer server
    expect client "hello, world" "the reply"
    ;;
pubsub)
    u=$(url)
    it_start pub "$bin/pubsub" pub "$u"
    it_start sub "$bin/pubsub" sub "$u" weather 3
    ended_ok sub
    it_stop pub
    it_check_sanitizer pub
    [ "$(it_lines "$IT_TMP/sub.out")" = 3 ] || it_fail "the subscriber did not print 3 messages"
    grep -qv '^weather [0-9]*$' "$IT_TMP/sub.out" && it_fail "the subscriber got another topic: $(cat "$IT_TMP/sub.out")"
    ;;
device)
    server=$(url) front=$(url)
    it_start server "$bin/reqrep" server "$server"
    it_start device "$bin/device" "$front" "$server"
    it_start client "$bin/reqrep" client "$front" world
    ended_ok client
    it_alive device || it_fail "the device ended"
    it_stop device
    it_stop server
    it_check_sanitizer device
    expect client "hello, world" "the reply through the device"
    ;;
tls-nanocat)
    it_need_cmd openssl
    port=$(it_free_port)
    mkdir "$IT_TMP/run"
    # The script runs in its own folder (it writes server.crt and server.key there).
    (cd "$IT_TMP/run" && exec env PATH="$bin:$PATH" timeout -k 2 "$IT_LIMIT" sh "$src/tools/examples/tls-nanocat.sh" "$port") \
        >"$IT_TMP/script.out" 2>"$IT_TMP/script.err" || it_fail "tls-nanocat.sh failed: $(cat "$IT_TMP/script.err")"
    printf 'pong\npong\n' | cmp -s - "$IT_TMP/script.out" ||
        it_fail "tls-nanocat.sh printed [$(cat "$IT_TMP/script.out")], not pong twice"
    ;;
readme)
    readme=$src/README.md
    [ -f "$readme" ] || it_fail "no README.md in $src"
    shown=$IT_TMP/shown
    mkdir "$shown"
    # Writes each block that follows an example marker to $shown/<path with / as _>.
    awk -v out="$shown" '
        /^<!-- example: .* -->$/ { path = $3; want = 1; next }
        want && /^```/ { want = 0; inblock = 1; f = path; gsub("/", "_", f); f = out "/" f; printf "" >f; next }
        inblock && /^```$/ { inblock = 0; close(f); next }
        inblock { print >>f }
    ' "$readme"
    n=0
    for f in "$src"/tools/examples/*.c "$src"/tools/examples/*.sh; do
        rel=${f#"$src"/}
        block=$shown/${rel//\//_}
        [ -f "$block" ] || it_fail "README.md does not show $rel (a block after <!-- example: $rel -->)"
        cmp -s "$f" "$block" || it_fail "README.md's copy of $rel differs from the file: $(diff "$f" "$block" | head -n 5)"
        rm "$block"
        n=$((n + 1))
    done
    leftover=$(ls "$shown")
    [ -z "$leftover" ] || it_fail "README.md shows examples that do not exist: $leftover"
    it_log "README.md shows the $n examples verbatim"
    ;;
*)
    it_fail "unknown MODE $mode"
    ;;
esac
it_log "PASS [$IT_TAG]"
exit 0
