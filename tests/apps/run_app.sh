#!/bin/bash
# Binary drop-in with real applications: runs an unmodified client of libnanomsg.so.5
# (Perl's NanoMsg::Raw, a Criterion test program) with LD_LIBRARY_PATH at our build
# directory, proves from the loader's own trace (LD_DEBUG=libs) that every process of the
# application initialised OUR libnanomsg.so.5 and no other, and checks the application's
# verdict.
#
# usage: run_app.sh perl SCRIPT        SCRIPT (nanomsg_raw.pl) prints TAP and must pass;
#                                      it also checks /proc/self/maps itself
#        run_app.sh criterion PROGRAM  PROGRAM (criterion_smoke) must report exactly the
#                                      verdicts listed in criterion_check below
#        run_app.sh missing WHAT PACKAGE
#                                      the application WHAT could not be built: the Debian
#                                      package PACKAGE was not found at configure time
# env:   NANOSP_BUILD_DIR  the directory holding our libnanomsg.so.5 (set by meson)
#
# A missing application fails naming its Debian package, or skips (77) in a build configured
# with -Dallow_skip=true. Sanitizer builds: the runtime our library links is preloaded (perl
# does not load it on its own), leak checking is off (the application's own allocations are
# not ours to judge); a runtime that is not a shared library cannot be preloaded, which
# fails (or skips) the same way.
#
# Exit 0 pass, 1 fail, 77 skip.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

[ $# -ge 2 ] || { it_log "usage: run_app.sh perl SCRIPT | criterion PROGRAM | missing WHAT PACKAGE"; exit 2; }
kind=$1 app=$2
it_init "apps $kind $(basename "$app")"

case $kind in
missing) it_missing "$app" "$3" configure ;;
perl)
    it_need_cmd perl
    env -u LD_LIBRARY_PATH -u LD_PRELOAD perl -MNanoMsg::Raw -e 1 2>/dev/null ||
        it_missing "the Perl module NanoMsg::Raw" libnanomsg-raw-perl
    # Without it the script would TAP-skip its nn_poll and nn_get_statistic tests.
    env -u LD_LIBRARY_PATH -u LD_PRELOAD perl -MFFI::Platypus -MFFI::Platypus::Buffer -e 1 \
        2>/dev/null || it_missing "the Perl module FFI::Platypus" libffi-platypus-perl
    [ -f "$app" ] || it_fail "no script $app"
    ;;
criterion) [ -x "$app" ] || it_fail "no program $app" ;;
*) it_log "unknown kind $kind"; exit 2 ;;
esac

build=${NANOSP_BUILD_DIR:-}
[ -n "$build" ] || it_fail "NANOSP_BUILD_DIR is not set"
build=$(cd "$build" && pwd) || it_fail "NANOSP_BUILD_DIR=$NANOSP_BUILD_DIR is not a directory"
ourlib=$build/libnanomsg.so.5
[ -e "$ourlib" ] || it_fail "$ourlib does not exist (library not built?)"

app_env=(NANOSP_BUILD_DIR="$build" LD_LIBRARY_PATH="$build" LD_DEBUG=libs
    LD_DEBUG_OUTPUT="$IT_TMP/ld")
it_sanitizer_env "$(readlink -f "$ourlib")"
case $? in
0)
    it_log "sanitizer build: preloading $IT_SAN_RUNTIMES"
    app_env+=("${IT_SAN_ENV[@]}")
    ;;
2)
    tu_unmet "this sanitizer build links a runtime that is not a shared library, which cannot be preloaded into $kind (with clang: -shared-libsan)"
    ;;
esac

# Every process of the application that initialised a libnanomsg (LD_DEBUG writes one
# file per process) initialised ours and no other; at least MIN of them did.
check_loader()
{
    local min=$1 f inits n=0
    for f in "$IT_TMP"/ld.*; do
        [ -e "$f" ] || continue
        inits=$(grep -o 'calling init: [^ ]*libnanomsg[^ ]*' "$f" | sort -u)
        [ -n "$inits" ] || continue
        [ "$inits" = "calling init: $ourlib" ] ||
            it_fail "process ${f##*.} initialised [${inits//$'\n'/, }], expected only $ourlib"
        n=$((n + 1))
    done
    [ "$n" -ge "$min" ] ||
        it_fail "LD_DEBUG shows $n process(es) initialising $ourlib, expected at least $min"
    it_log "loader: $n process(es) initialised $ourlib, none another libnanomsg"
}

# The verdicts criterion_smoke.c must produce: "name assertions status", sorted. The
# assertion counts are exact because of --full-stats (each assertion is one more message
# from the worker to the runner).
criterion_expected()
{
    cat <<'EOF'
crash_expected 0 PASSED
exit_code 0 PASSED
fails_on_purpose 1 FAILED
many_assertions 1000 PASSED
on_our_library 2 PASSED
passes 1 PASSED
EOF
}

run()
{
    timeout -k 5 60 env "${app_env[@]}" "$@" >"$IT_TMP/app.out" 2>"$IT_TMP/app.err" </dev/null
}
show()
{
    it_log "--- stdout (first 100 lines, cut at 200 columns):"
    head -n 100 "$IT_TMP/app.out" | cut -c1-200 >&2
    it_log "--- stderr (first 100 lines, cut at 200 columns):"
    head -n 100 "$IT_TMP/app.err" | cut -c1-200 >&2
}
sanitizer_check()
{
    if grep -qE 'runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer' \
        "$IT_TMP/app.err" "$IT_TMP/app.out"; then
        show
        it_fail "sanitizer report"
    fi
}

case $kind in
perl)
    rc=0
    run perl "$app" || rc=$?
    show
    sanitizer_check
    [ "$rc" = 0 ] || it_fail "perl $app exited with status $rc"
    grep -q '^1\.\.[1-9]' "$IT_TMP/app.out" || it_fail "no TAP plan: no test ran"
    ! grep -q '^not ok' "$IT_TMP/app.out" || it_fail "a test failed"
    check_loader 1
    skipped=$(grep -c '^ok [0-9]* # skip' "$IT_TMP/app.out")
    [ "$skipped" = 0 ] || tu_skip_allowed ||
        it_fail "$skipped TAP test(s) skipped (see the output above for why)"
    it_log "PASS: $(grep -c '^ok' "$IT_TMP/app.out") tests of $(basename "$app") on $ourlib" \
        "($skipped of them skipped)"
    ;;
criterion)
    rc=0
    run "$app" --full-stats -S -j2 --json="$IT_TMP/report.json" || rc=$?
    show
    sanitizer_check
    # Criterion exits 1 when a test failed, as one does on purpose.
    [ "$rc" = 1 ] || it_fail "$app exited with status $rc, expected 1 (one failing test)"
    synthesis='Synthesis: Tested: 6 | Passing: 5 | Failing: 1 | Crashing: 0'
    grep -qF "$synthesis" "$IT_TMP/app.err" "$IT_TMP/app.out" ||
        it_fail "the runner did not report \"$synthesis\""
    [ -s "$IT_TMP/report.json" ] || it_fail "no JSON report"
    tr -d ' \n' <"$IT_TMP/report.json" |
        grep -oE '"name":"[a-z_]+","assertions":[0-9]+,"status":"[A-Z]+"' |
        sed -E 's/"name":"([a-z_]+)","assertions":([0-9]+),"status":"([A-Z]+)"/\1 \2 \3/' |
        sort >"$IT_TMP/verdicts"
    criterion_expected >"$IT_TMP/verdicts.expected"
    if ! cmp -s "$IT_TMP/verdicts.expected" "$IT_TMP/verdicts"; then
        it_log "verdicts (name assertions status) expected vs reported:"
        diff "$IT_TMP/verdicts.expected" "$IT_TMP/verdicts" >&2
        it_fail "the runner reported other verdicts"
    fi
    # The failure message (2000 letters after "expected failure") crossed the ipc whole.
    tail=$(awk 'BEGIN { for (i = 0; i < 2000; i++) printf "%c", 97 + i % 26 }')
    grep -qF "expected failure $tail\"" "$IT_TMP/report.json" ||
        it_fail "the report does not carry the 2000-byte failure message whole"
    # The runner and one worker per test.
    check_loader 7
    it_log "PASS: the Criterion runner on $ourlib reported: $synthesis"
    ;;
esac
exit 0
