# tests/interop/lib.sh: machinery shared by interop.sh and dropin.sh (sourced, not run).
#
# A test here starts real processes (our side, nanocat, nngcat) in the background, each
# bounded by timeout(1) and with its stdout/stderr in a private temporary directory; it
# starts the server side first and waits until it listens (ss, never a fixed sleep), then
# the client, then polls until every side has seen what it should, stops everything it
# started (by pid) and compares outputs exactly. Everything lives in "it_" names.

set -u -o pipefail

# How long to wait for an exchange to complete (nngcat surveys only every 2 s; sanitizer
# builds are slow), and a hard bound (s) on every process a test starts. The bound must
# outlast the wait, and the wait for the server to listen (5 s) before it: processes killed
# first would end the test with a misleading "did not finish (status 124)".
IT_WAIT_MS=${IT_WAIT_MS:-25000}
IT_LIMIT=${IT_LIMIT:-32}
IT_TMP=
IT_TAG=
# The script and its arguments as run, for it_fail's rerun (taken here: the scripts
# reset their positional parameters after sourcing this file).
IT_ARGV=("$0" "$@")
declare -A IT_PID=()   # name -> pid of the timeout(1) wrapper
declare -A IT_RC=()    # name -> exit status, once reaped
declare -A IT_CMDLINE=()

it_log() { printf '%s\n' "$*" >&2; }

. "$(dirname "${BASH_SOURCE[0]}")/../common/prereq.sh"

# The Debian package of a program a test runs.
it_package_of()
{
    case $1 in
    nanocat) echo nanomsg-utils ;;
    nngcat) echo nng-utils ;;
    openssl) echo openssl ;;
    perl) echo perl ;;
    ldd) echo libc-bin ;;
    nm | readelf) echo binutils ;;
    meson) echo meson ;;
    cc) echo build-essential ;;
    pkg-config) echo pkg-config ;;
    cmake) echo cmake ;;
    man) echo man-db ;;
    python3) echo python3 ;;
    ss | ip) echo iproute2 ;;
    nft) echo nftables ;;
    *) echo coreutils ;;
    esac
}

# A prerequisite is missing: fails naming its package, or skips under -Dallow_skip=true
# (see ../common/prereq.sh).
it_missing() { tu_missing "$@"; }

it_need_cmd()
{
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || it_missing "$c" "$(it_package_of "$c")"
    done
}

it_init()
{
    IT_TAG=$1
    it_need_cmd timeout mktemp
    IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nanosp-interop.XXXXXX") || exit 99
    # ipc paths must stay short (sun_path is 108 bytes).
    if [ ${#IT_TMP} -gt 80 ]; then
        rmdir "$IT_TMP"
        IT_TMP=$(mktemp -d /tmp/nanosp-interop.XXXXXX) || exit 99
    fi
    trap it_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
}

it_cleanup()
{
    local name
    for name in "${!IT_PID[@]}"; do
        it_stop "$name"
    done
    if [ -n "$IT_TMP" ] && [ -z "${IT_KEEP_TMP:-}" ]; then
        rm -rf "$IT_TMP"
    fi
}

it_now_ms()
{
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}

# it_start NAME CMD... : run CMD in the background, bounded by timeout(1), with its
# output in $IT_TMP/NAME.out and NAME.err and stdin from /dev/null.
it_start()
{
    local name=$1
    shift
    IT_CMDLINE[$name]="$*"
    timeout -k 2 "$IT_LIMIT" "$@" >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" </dev/null &
    IT_PID[$name]=$!
    unset "IT_RC[$name]"
}

it_pid_alive()
{
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

it_alive()
{
    [ -n "${IT_PID[$1]:-}" ] && [ -z "${IT_RC[$1]:-}" ] && it_pid_alive "${IT_PID[$1]}"
}

# Reaps NAME if it has exited; stores its status in IT_RC[NAME].
it_reap()
{
    local name=$1 rc=0
    [ -n "${IT_PID[$name]:-}" ] || return 0
    [ -n "${IT_RC[$name]:-}" ] && return 0
    if ! it_pid_alive "${IT_PID[$name]}"; then
        wait "${IT_PID[$name]}" 2>/dev/null || rc=$?
        IT_RC[$name]=$rc
    fi
}

# it_stop NAME: SIGTERM to the command, then reap. The signal goes to the command itself,
# not to timeout(1): timeout would forward it and then also send SIGCONT, which can land
# while LeakSanitizer stops the exiting process with ptrace and cancel its SIGSTOP, so
# that the leak check hangs until the SIGKILL.
it_stop()
{
    local name=$1 rc=0 target
    [ -n "${IT_PID[$name]:-}" ] || return 0
    [ -n "${IT_RC[$name]:-}" ] && return 0
    target=$(it_child_pid "$name") || target=${IT_PID[$name]}
    kill -TERM "$target" 2>/dev/null
    wait "${IT_PID[$name]}" 2>/dev/null || rc=$?
    IT_RC[$name]=$rc
}

# The pid of the command timeout(1) runs for NAME (its only child), or nothing.
it_child_pid()
{
    local tpid=${IT_PID[$1]} f st
    for f in /proc/[0-9]*/stat; do
        { read -r st <"$f"; } 2>/dev/null || continue
        st=${st##*) }
        set -- $st   # split on purpose: the fields of /proc/PID/stat
        if [ "$2" = "$tpid" ]; then
            f=${f#/proc/}
            echo "${f%/stat}"
            return 0
        fi
    done
    return 1
}

it_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# it_wait_until MS CMD... : poll CMD until it succeeds (0) or MS ms pass (1).
it_wait_until()
{
    local deadline=$(($(it_now_ms) + $1))
    shift
    while ! "$@"; do
        [ "$(it_now_ms)" -lt "$deadline" ] || return 1
        sleep 0.01
    done
}

# A TCP port on 127.0.0.1 the kernel considered free a moment ago.
it_free_port()
{
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' &&
            return 0
    fi
    # Fallback: a random port below the kernel's ephemeral range that nobody uses.
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        if ! ss -Htan 2>/dev/null | grep ":$p\b" >/dev/null; then
            echo "$p"
            return 0
        fi
    done
}

# it_new_address TRANSPORT N: sets IT_URL and IT_ADDR (port, or socket path number N),
# fresh each call.
it_new_address()
{
    case $1 in
    tcp)
        IT_ADDR=$(it_free_port) || return 1
        IT_URL=tcp://127.0.0.1:$IT_ADDR
        ;;
    ipc)
        IT_ADDR=$IT_TMP/s$2.ipc
        IT_URL=ipc://$IT_ADDR
        ;;
    *)
        it_log "unknown transport $1"
        return 1
        ;;
    esac
}

# Is something listening on IT_ADDR (without connecting to it when ss is available)?
it_listening()
{
    local transport=$1 addr=$2
    if command -v ss >/dev/null 2>&1; then
        case $transport in
        tcp) [ -n "$(ss -Hltn "sport = :$addr" 2>/dev/null)" ] ;;
        ipc) [ -n "$(ss -Hlx src "$addr" 2>/dev/null)" ] ;;
        esac
    else
        case $transport in
        tcp) (exec 3<>"/dev/tcp/127.0.0.1/$addr") 2>/dev/null ;;
        ipc) [ -S "$addr" ] ;;
        esac
    fi
}

_it_listening_or_dead()
{
    it_listening "$1" "$2" || ! it_alive "$3"
}

# it_start_server NAME TRANSPORT BUILDER: picks a fresh address, runs BUILDER (which
# must fill the array IT_CMD for IT_URL), starts it and waits until it listens. Retries
# with a new address when the port was taken meanwhile. Returns 1 on failure.
it_start_server()
{
    local name=$1 transport=$2 builder=$3 attempt
    for attempt in 1 2 3; do
        it_new_address "$transport" "$attempt" || return 1
        "$builder" || return 1
        it_start "$name" "${IT_CMD[@]}"
        if ! it_wait_until 5000 _it_listening_or_dead "$transport" "$IT_ADDR" "$name"; then
            it_log "$name did not listen on $IT_URL within 5 s"
            return 1
        fi
        if it_alive "$name" && it_listening "$transport" "$IT_ADDR"; then
            return 0
        fi
        it_reap "$name"
        if grep -qi 'in use' "$IT_TMP/$name.err"; then
            it_log "($IT_URL was taken, retrying with another address)"
            unset "IT_PID[$name]"
            continue
        fi
        it_log "$name exited (status ${IT_RC[$name]:-?}) before listening on $IT_URL"
        return 1
    done
    return 1
}

# it_peer_cmd PEER TYPE ROLE URL SEND [SUBSCRIBE]: fills IT_CMD with a nanocat/nngcat
# command line.
#   PEER  nanocat | nngcat
#   TYPE  nanomsg socket type name (pair push pull req rep pub sub surveyor respondent bus)
#   ROLE  bind | connect
#   SEND  "" (send nothing) | data:TEXT | file:PATH; initiating types repeat it
#         (nanocat every 0.2 s, nngcat every 1 s: it takes whole seconds only; an nngcat
#         surveyor or req every 2 s, see below), since a connection comes up
#         asynchronously and the test stops the peer when done.
#   SUBSCRIBE  (sub only) the prefix to subscribe to; without it both peers subscribe to
#         everything.
# Output is -Q (quoted, one line per message) for both, except for send-only types.
it_peer_cmd()
{
    local peer=$1 type=$2 role=$3 url=$4 send=$5 subscribe=${6-} repeat='' quoted=-Q
    case $type in
    pair | push | pub | req | surveyor | bus) repeat=1 ;;
    esac
    # Send-only types reject any output format option (both peers).
    case $type in
    push | pub) quoted= ;;
    esac
    # A peer runs on its own library even if our caller exported LD_LIBRARY_PATH
    # (dropin.sh sets IT_PEER_ENV to run nanocat on ours instead, or IT_NANOCAT to run
    # our tools/nanocat in place of Debian's).
    local -a penv=(-u LD_LIBRARY_PATH -u LD_PRELOAD)
    [ -n "${IT_PEER_ENV+set}" ] && penv=("${IT_PEER_ENV[@]}")
    case $peer in
    nanocat)
        IT_CMD=(env "${penv[@]}" "${IT_NANOCAT:-nanocat}" "--$type")
        if [ "$role" = bind ]; then IT_CMD+=(--bind "$url"); else IT_CMD+=(--connect "$url"); fi
        ;;
    nngcat)
        IT_CMD=(env "${penv[@]}" nngcat "--${type}0")
        if [ "$role" = bind ]; then IT_CMD+=(--listen "$url"); else IT_CMD+=(--dial "$url"); fi
        ;;
    *)
        it_log "unknown peer $peer"
        return 1
        ;;
    esac
    [ -n "$quoted" ] && IT_CMD+=("$quoted")
    [ "$type" = sub ] && [ -n "$subscribe" ] && IT_CMD+=(--subscribe "$subscribe")
    case $send in
    "") repeat= ;;
    data:*) IT_CMD+=(-D "${send#data:}") ;;
    file:*) IT_CMD+=(-F "${send#file:}") ;;
    esac
    if [ -n "$repeat" ]; then
        if [ "$peer" = nanocat ]; then
            IT_CMD+=(-i 0.2)
        elif [ "$type" = surveyor ] || [ "$type" = req ] || [ "$type" = pair ] || [ "$type" = bus ]; then
            # An nngcat that waits for answers needs slack beyond its interval:
            # - NNG 1.5.2 deadlocks when a survey is sent just as the previous one
            #   expires: the send re-arms the survey timer under the socket lock and
            #   waits for the timer's running callback, which waits for that lock. The
            #   survey time is 1 s, so with -i 1 each survey goes out at the previous
            #   one's expiry, and nngcat hangs for good in about 1 run of 20 under load.
            # - After each answer nngcat sets its receive timeout to the time left in the
            #   interval; an answer that comes more than 1 ms after the interval ended
            #   makes that negative, and nngcat exits ("Cannot set recv timeout: Invalid
            #   argument"). Answers come right after each request, except the first
            #   one's: nngcat sends it at once, and NNG holds it until a connection
            #   exists, so its answer arrives whenever our side got connected (a wss
            #   handshake in a sanitizer build on a busy machine: a second or more), and
            #   may land just at the end of an interval.
            # - pair and bus also receive between their sends, with the same
            #   arithmetic, and a listening pair's first send, like a req's, waits for
            #   our side to connect. nngcat then exits unless we connect within its
            #   delay (-d) plus one interval of its start (measured: -d 3 -i 2 lives
            #   with a connect at 4 s and dies with one at 6 s). Our side connects
            #   after the harness saw nngcat listen and started us: well under a
            #   second on a quiet machine, several at a load average of 40, where
            #   -i 1 without -d ended every such exchange.
            IT_CMD+=(-i 2)
            if { [ "$type" = req ] || [ "$type" = pair ]; } && [ "$role" = bind ]; then
                IT_CMD+=(-d 3)
            fi
        else
            IT_CMD+=(-i 1)
        fi
    fi
}

# The -Q rendering of a message made of characters that need no escaping.
it_quoted() { printf '"%s"\n' "$1"; }

# it_payload FILE PREFIX N: writes a message of N*10 bytes without newline or quotes,
# not periodic (so reordering or truncation shows): PREFIX000001PREFIX000002...
it_payload() { seq -f "$2%06g" 1 "$3" | tr -d '\n' >"$1"; }

# Prints what a test saw, for the log of a failed test.
it_dump()
{
    local name f
    for name in "${!IT_CMDLINE[@]}"; do
        it_reap "$name"
        it_log "--- $name: ${IT_CMDLINE[$name]}"
        it_log "    status: ${IT_RC[$name]:-running}"
        for f in out err; do
            if [ -s "$IT_TMP/$name.$f" ]; then
                it_log "    $f ($(it_lines "$IT_TMP/$name.$f") lines; first 20, cut at 100 columns):"
                head -n 20 "$IT_TMP/$name.$f" | cut -c1-100 | sed 's/^/      /' >&2
            fi
        done
    done
}

# NNG 1.5.2's nngcat, when it sends at an interval and also receives, sets its receive
# timeout after each message to the time left in the interval; a message that arrives
# (or a process that is scheduled) more than 1 ms after the interval ended makes that
# negative and nngcat exits with this line. It is nngcat's bug, not a wire fault: on a
# busy machine it ends about one nngcat exchange in 40. A failure whose only cause may
# be it runs the whole exchange again from scratch, at most twice, and says so.
IT_NNGCAT_BUG='Cannot set recv timeout: Invalid argument'
IT_RERUNS_MAX=2

it_hit_nngcat_bug()
{
    local name
    for name in "${!IT_CMDLINE[@]}"; do
        case ${IT_CMDLINE[$name]} in
        *nngcat*)
            [ -f "$IT_TMP/$name.err" ] && grep -qF "$IT_NNGCAT_BUG" "$IT_TMP/$name.err" && return 0
            ;;
        esac
    done
    return 1
}

it_fail()
{
    it_log "FAIL [$IT_TAG]: $*"
    it_dump
    local reruns=${IT_RERUNS:-0}
    if [ "$reruns" -lt "$IT_RERUNS_MAX" ] && it_hit_nngcat_bug; then
        it_log "RERUN [$IT_TAG]: nngcat exited with \"$IT_NNGCAT_BUG\" (NNG 1.5.2's interval bug);" \
            "running the exchange again ($((reruns + 1)) of $IT_RERUNS_MAX)"
        trap - EXIT
        it_cleanup
        IT_RERUNS=$((reruns + 1)) exec bash "${IT_ARGV[@]}"
    fi
    exit 1
}

# Fails if NAME's stderr shows a sanitizer report (UBSan without halt_on_error goes on).
it_check_sanitizer()
{
    if grep -qE 'runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' \
        "$IT_TMP/$1.err" 2>/dev/null; then
        it_fail "sanitizer report in the stderr of $1"
    fi
}

# The complete lines of FILE (a writer may be in the middle of the last one).
_it_complete_lines() { [ -f "$1" ] && head -n "$(it_lines "$1")" "$1"; }

# it_has_all_lines FILE EXPECTED_FILE: every line of EXPECTED_FILE is a complete line of
# FILE (in any order, any number of times).
it_has_all_lines()
{
    _it_complete_lines "$1" | awk 'NR == FNR { want[$0] = 1; n++; next }
        ($0 in want) && !seen[$0]++ { got++ }
        END { exit !(got == n) }' "$2" -
}

# it_expect_only_lines NAME EXPECTED_FILE WHAT: every line of EXPECTED_FILE appears in
# NAME's stdout, which holds nothing else (repeats allowed: fan-out senders repeat). A
# last line without its newline is ignored: the peer was stopped while printing it (a
# message the library truncated would still be printed whole, newline included).
it_expect_only_lines()
{
    local name=$1 expected=$2 what=$3
    if ! _it_complete_lines "$IT_TMP/$name.out" | awk 'NR == FNR { want[$0] = 1; next }
        !($0 in want) { print "  unexpected line " FNR ": " substr($0, 1, 100) > "/dev/stderr"; bad = 1 }
        END { exit bad }' "$expected" -; then
        it_fail "$name printed something else than $what"
    fi
    it_has_all_lines "$IT_TMP/$name.out" "$expected" ||
        it_fail "$name did not print every line of $what at least once"
}

# it_sanitizer_env LIB: is LIB (our library) built with sanitizers? Then an unmodified
# program (nanocat, perl, a Criterion runner) can only load it with the sanitizer runtime
# loaded first: sets IT_SAN_ENV to the environment that does this (LD_PRELOAD of the
# runtime(s) LIB links, leak checking off since the program's own code is not ours) and
# IT_SAN_RUNTIMES to their paths. Returns 0 for a sanitizer build, 1 for a plain one
# (IT_SAN_ENV empty), 2 for a sanitizer build whose runtime is not a shared library
# (statically linked: it cannot be injected; callers skip then).
it_sanitizer_env()
{
    local lib=$1
    IT_SAN_ENV=()
    IT_SAN_RUNTIMES=
    # grep without -q reads all of its input: with pipefail, an early exit would make the
    # writer die of SIGPIPE and the pipeline fail although it matched.
    if ! nm -D "$lib" 2>/dev/null | grep -E ' U __(asan|ubsan)_' >/dev/null &&
        ! ldd "$lib" 2>/dev/null | grep -E 'lib(asan|ubsan)\.so' >/dev/null; then
        return 1
    fi
    IT_SAN_RUNTIMES=$(ldd "$lib" | awk '$1 ~ /^libasan\.so/ {a = $3} $1 ~ /^libubsan\.so/ {u = $3}
        END {print a, u}')
    IT_SAN_RUNTIMES=${IT_SAN_RUNTIMES# }
    IT_SAN_RUNTIMES=${IT_SAN_RUNTIMES% }
    [ -n "$IT_SAN_RUNTIMES" ] || return 2
    IT_SAN_ENV=(LD_PRELOAD="${IT_SAN_RUNTIMES// /:}"
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:verify_asan_link_order=0")
    return 0
}

# it_expect_output NAME EXPECTED_FILE WHAT: NAME's stdout must equal EXPECTED_FILE exactly.
it_expect_output()
{
    local name=$1 expected=$2 what=$3
    if ! cmp -s "$expected" "$IT_TMP/$name.out"; then
        it_log "expected $what ($(it_lines "$expected") lines, first 100 columns):"
        cut -c1-100 "$expected" | head -n 20 | sed 's/^/      /' >&2
        it_log "first difference: $(cmp "$expected" "$IT_TMP/$name.out" 2>&1)"
        it_fail "$name did not get exactly the expected messages"
    fi
}

# The end of an exchange between the processes "ours" and "peer": waits until both are done
# (the caller's ours_done and peer_done say so) or one failed, checks their exit statuses and
# their outputs against $IT_TMP/ours.expected and $IT_TMP/peer.expected (exact lines, or with
# ours_check/peer_check=set any number of the expected lines and nothing else), logs PASS with
# WHAT (the addresses) and exits 0. Uses the caller's $peer and $peer_lines.
it_exchange_settled()
{
    if ! ours_done && ! it_alive ours; then return 0; fi   # our side failed
    if ! peer_done && ! it_alive peer; then return 0; fi   # the peer gave up
    it_reap peer
    if [ "${IT_RC[peer]:-0}" != 0 ]; then return 0; fi      # the peer failed
    ours_done && peer_done
}

it_finish_exchange()
{
    local what=$1
    it_wait_until "$IT_WAIT_MS" it_exchange_settled || it_fail "no complete exchange within ${IT_WAIT_MS} ms"
    [ "${IT_RC[peer]:-0}" = 0 ] || it_fail "$peer failed (status ${IT_RC[peer]})"
    ours_done || { it_reap ours; it_fail "our side did not finish (status ${IT_RC[ours]:-still running})"; }
    peer_done || { it_reap peer; it_fail "$peer exited (status ${IT_RC[peer]}) before printing all messages"; }
    it_stop peer
    it_stop ours
    it_check_sanitizer ours
    [ "${IT_RC[ours]}" = 0 ] || it_fail "our side exited with status ${IT_RC[ours]}"
    if [ "${ours_check:-exact}" = set ]; then
        it_expect_only_lines ours "$IT_TMP/ours.expected" "output of our side"
    else
        it_expect_output ours "$IT_TMP/ours.expected" "output of our side"
    fi
    if [ "${peer_check:-exact}" = set ]; then
        it_expect_only_lines peer "$IT_TMP/peer.expected" "output of $peer"
    else
        it_expect_output peer "$IT_TMP/peer.expected" "output of $peer"
    fi
    it_log "PASS [$IT_TAG] $what: $peer got $(it_lines "$IT_TMP/peer.out") messages" \
        "($peer_lines distinct expected), our side got $(it_lines "$IT_TMP/ours.out")"
    exit 0
}
