#!/bin/bash
# Command lines that end without an exchange, run by Debian's nanocat (nanomsg 1.1.5)
# and by ours side by side: the exit status and stdout must be the same bytes, and our
# stderr must be a single line that starts as Debian's first line does (Debian's
# lists of options, spread over several lines, are joined into that line). Then the
# few command lines on which Debian's nanocat crashes or hangs, where ours gives a
# one-line error or does the obvious thing.
#
# usage: cli.sh OUR_NANOCAT
# Both programs run as "nanocat" (argv[0]), which their messages start with.
# Exit 0 pass, 1 fail (also when Debian's nanocat not installed: the message names the package), 77 skip (only under -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

ours=$(realpath "${1:?usage: cli.sh OUR_NANOCAT}")
it_init "nanocat-cli"
it_need_cmd nanocat
debian=$(command -v nanocat)
[ -x "$ours" ] || it_fail "$ours is not an executable"
ours_env=()
it_sanitizer_env "$ours"
[ $? = 0 ] && ours_env=(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0")

# One command line per line, as shell words. Nothing here waits for a peer: a receive
# gives up at once (--recv-timeout 0), a send after 0.1 s (127.0.0.1:1 never answers).
cases=$(cat <<'CASES'

--help
-h
--he
--h
-vqh
--pull -h -Z
--pull -Z -h
--help=3
--verbose=1 --pull -l 1
--pull
--connect tcp://127.0.0.1:1
--pull --push -l 1
--push --push -D x -l 1
--pull --pub --push -l 1
--push -D x -D y -l 1
--push -Dx --data=y -l 1
--pull -Dx -Fy -l 1
--push -l 1
--req -l 1
--pull -l 1 -D x
--pub -D x -l 1 -A
--pub -D x -l 1 --format=ascii
--pull -l 1 --subscribe x
--pull -i 1 -l 1 --recv-timeout 0
--push -l 1 -D x --recv-timeout 1
--pull -l 1 --format bogus
--pull -l 1 --fo=bogus
--pull -l 1 --format=
--pull -l 1 --format ''
--pull --conn tcp://127.0.0.1:1
--pull --co tcp://127.0.0.1:1
--pull --s -l 1
--pull --su -l 1
--pull --re -l 1
--pull --zzz
--pull --=x -l 1
--pull ---x -l 1
--pull -Z
--pull foo
--pull -l 1 extra
--pull --connect
--pull -l
--pull -Al
--pull -Ai
--push -iabc -Dx -l1
--pull --recv-timeout abc -l 1
--pull --recv-timeout= -l 1
--pull --recv-t=abc -l 1
--pull -d abc -l 1
--push -F /nonexistent/file -l 1
--push -F /nonexistent/file --bogus
--pull -l 1 --recv-timeout 0
--pull -l1 --recv-timeout 0 -Q
--pull - -l 1 --recv-timeout 0
--pull -- -l 1 --recv-timeout 0
--pull -l 1 --recv-timeout 0.9
--pull -l 1 --recv-timeout -0.5 --recv-timeout 0
--pull -l 1 --recv-timeout 0 -A -Q --raw --hex --msgpack --format=no
--sub -l 1 --recv-timeout 0 --subscribe a --subscribe b
--sub -l 1 --recv-timeout 0 --subscribe ''
--pull -l 1 --recv-timeout 0 --socket-name a --socket-name b -v -q -vvv
--pull -l 1 --recv-timeout 0 -d 0.05
--pair -l 1 --recv-timeout 0
--bus -l 1 --recv-timeout 0
--rep -l 1 --recv-timeout 0
--respondent -l 1 --recv-timeout 0
--rep -l 1 --recv-timeout 0 -D x
--req -l 1 --recv-timeout 0 -D x
--surveyor -l 1 --recv-timeout 0 -D x
--push -l 1 --send-timeout 0.1 -D x
--push -l 1 --send-timeout 0 -D x
--pub -l 1 --send-timeout 0.1 -D x
--pair -l 1 --send-timeout 0.1 -D x
--push -l 1 --send-timeout 0.1 -D x -i 0.05
--push --connect foo://bar -D x
--push --connect tcp//127.0.0.1:1 -D x
--push --connect tcp://nohost -D x
--push --connect= -D x
--push --bind tcp://nohost:1 -D x
--push -X /nonexistent/dir/x -D x
--push -L abc -D x
--push -l 99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999 -D x
--pull --connect inproc://x --recv-timeout 0
--pull --bind inproc://x --connect inproc://x --recv-timeout 0
CASES
)

# run NAME PROGRAM ARGS...: runs PROGRAM as "nanocat" with stdin from /dev/null.
run()
{
    local name=$1 prog=$2 rc=0
    shift 2
    # Each on its own library: meson may have put our build in LD_LIBRARY_PATH.
    (cd "$IT_TMP" && exec env -u LD_LIBRARY_PATH -u LD_PRELOAD "${ours_env[@]}" timeout -k 2 10 \
        bash -c 'exec -a nanocat "$@"' nanocat "$prog" "$@") \
        </dev/null >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" || rc=$?
    echo "$rc"
}

failures=0
bad() { it_log "FAIL: nanocat $1: $2"; failures=$((failures + 1)); }
n=0
while IFS= read -r line; do
    eval "args=($line)"
    n=$((n + 1))
    drc=$(run debian "$debian" "${args[@]}")
    orc=$(run ours "$ours" "${args[@]}")
    [ "$drc" = 124 ] && { bad "$line" "Debian's nanocat did not end (the case is wrong)"; continue; }
    [ "$orc" = "$drc" ] || bad "$line" "exit status $orc, Debian's nanocat $drc"
    # Our help has a TLS group after Debian's last group.
    if grep -q '^TLS Options' "$IT_TMP/ours.out"; then
        awk '/^TLS Options/ { exit } { print }' "$IT_TMP/ours.out" | sed '${/^$/d}' >"$IT_TMP/ours.cut"
        mv "$IT_TMP/ours.cut" "$IT_TMP/ours.out"
    fi
    cmp -s "$IT_TMP/debian.out" "$IT_TMP/ours.out" || bad "$line" "stdout differs: $(cmp "$IT_TMP/debian.out" "$IT_TMP/ours.out" 2>&1)"
    dlines=$(it_lines "$IT_TMP/debian.err") olines=$(it_lines "$IT_TMP/ours.err")
    if [ "$dlines" = 0 ]; then
        [ "$olines" = 0 ] || bad "$line" "printed on stderr: $(head -c 200 "$IT_TMP/ours.err")"
        continue
    fi
    [ "$olines" = 1 ] || { bad "$line" "stderr has $olines lines: $(head -c 300 "$IT_TMP/ours.err")"; continue; }
    dfirst=$(head -n 1 "$IT_TMP/debian.err") ofirst=$(cat "$IT_TMP/ours.err")
    case $dfirst in
    "Can't bind: "* | "Can't connect: "*)
        # Ours names the address: "Can't connect to ``ADDR'': Invalid argument (hint)".
        verb=${dfirst%%:*} why=${dfirst#*: }
        [[ $ofirst == "$verb to \`\`"*"'': $why"* ]] || bad "$line" "says [$ofirst], Debian [$dfirst]"
        ;;
    *)
        if [ "$dlines" = 1 ]; then
            [ "$ofirst" = "$dfirst" ] || bad "$line" "says [$ofirst], Debian [$dfirst]"
        else
            # Debian's first line ends with ':' (a list follows) or the option's name
            # and a space; ours goes on on the same line.
            prefix=${dfirst%:}
            prefix=${prefix% }
            prefix=${prefix/ . Options are/. Options are}
            [[ $ofirst == "$prefix"* ]] || bad "$line" "says [$ofirst], Debian's first line [$dfirst]"
        fi
        ;;
    esac
done <<<"$cases"
it_log "compared $n command lines with Debian's nanocat"

# Where Debian's nanocat crashes or hangs: expected exit status and stderr of ours.
#   status|stderr (extended regex)|command line
while IFS='|' read -r want_rc want_err line; do
    [ -n "$line" ] || continue
    eval "args=($line)"
    orc=$(run ours "$ours" "${args[@]}")
    [ "$orc" = "$want_rc" ] || bad "$line" "exit status $orc, expected $want_rc"
    [ "$(it_lines "$IT_TMP/ours.err")" -le 1 ] || bad "$line" "more than one line on stderr"
    grep -Eq "$want_err" "$IT_TMP/ours.err" || [ -z "$want_err" ] ||
        bad "$line" "stderr [$(cat "$IT_TMP/ours.err")] does not match /$want_err/"
done <<'OURS'
1|^nanocat: Option --delay requires a delay of 0 seconds or more$|--pull -d -1 -l 1 --recv-timeout 0
2|^Error reading file ``/'': Is a directory$|--push -F / -l 1
3|^Can't send: Connection timed out$|--push -F /dev/null -l 1 --send-timeout 0.1
1|^nanocat: Can't read the --cacert file ``/nonexistent'': No such file or directory$|--pull -l 1 --cacert /nonexistent
1|^nanocat: Option --key requires at least one of the following options: --cert \(-E\)$|--pull -l 1 --key k.pem
1|^nanocat: Unknown option ``-Y''$|--pull -l 1 -Y
1|^nanocat: Option --in\[terval\] requires float point argument$|--push -l 1 -D x --in abc
1|^nanocat: Option --ins\[ecure\] does not accept argument$|--pull -l 1 --ins=1
3|^Can't bind to ``tls\+tcp://127.0.0.1:0'': Invalid argument \(binding a TLS address needs --cert and --key\)$|--pull --bind tls+tcp://127.0.0.1:0
3|^Can't connect to ``foo://x'': Protocol not supported \(unknown transport; |--pull --connect foo://x
OURS

[ "$failures" = 0 ] || it_fail "$failures differences"
it_log "PASS [$IT_TAG]"
exit 0
