#!/usr/bin/env bash
# Coverage-guided fuzzing of the targets in tests/fuzz with clang's libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer (UB aborts, leaks count).
#
# usage: tools/fuzz.sh [-t SECONDS] [-j JOBS] [-b BUILDDIR] [TARGET...]
#        tools/fuzz.sh [-b BUILDDIR] -r TARGET FILE...
#
#   TARGET       decoder, sphdr, ... (default: every tests/fuzz/fuzz_<target>.c)
#   -t SECONDS   fuzzing time per target (default 60)
#   -j JOBS      parallel libFuzzer processes per target (default 1)
#   -b BUILDDIR  build directory (default: build-fuzz in the source tree)
#   -r           replay FILE... through TARGET once (e.g. a crash artifact)
#
# Needs clang and libFuzzer (Debian: clang, libclang-rt-14-dev). BUILDDIR is a
# meson build with CC=clang, -Db_sanitize=address,undefined and
# -Dc_args=-fsanitize=fuzzer-no-link, in which tests/fuzz/meson.build also
# links each target as fuzz-<target>-libfuzzer. Inputs that find new coverage
# go to BUILDDIR/fuzz-corpus/<target>/ (the committed seeds in
# tests/fuzz/corpus/<target>/ are read, never written); crashes, leaks and
# timeouts go to BUILDDIR/fuzz-artifacts/<target>/ and make the exit status 1.
# Once a crash is fixed, copy its input into tests/fuzz/corpus/<target>/ so
# that the 'fuzz' test suite replays it from then on.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=60
jobs=1
build=$src/build-fuzz
replay=false

usage()
{
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

while getopts "t:j:b:rh" opt; do
    case $opt in
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    b) build=$OPTARG ;;
    r) replay=true ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
# Absolute: some targets change directory (fuzznet.h) before reading the corpus.
build=$(realpath -m "$build")

all_targets()
{
    local f
    for f in "$src"/tests/fuzz/fuzz_*.c; do
        f=${f##*/fuzz_}
        echo "${f%.c}"
    done
}

# Longest input libFuzzer may try: the decoder needs room for frames over the
# 64 KiB read buffer; control data and SP headers are small.
max_len()
{
    case $1 in
    decoder) echo 140000 ;;
    sphdr) echo 4096 ;;
    *) echo 65536 ;;
    esac
}

configure()
{
    command -v clang >/dev/null || {
        echo "fuzz.sh: clang is not installed: install the Debian packages clang and" \
            "libclang-rt-14-dev (libFuzzer; tools/install-deps.sh installs both)" >&2
        exit 2
    }
    if [ ! -f "$build/build.ninja" ]; then
        CC=clang meson setup "$build" "$src" \
            -Dbuildtype=debugoptimized \
            -Db_sanitize=address,undefined -Db_lundef=false \
            "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer" \
            -Ddocs=disabled -Dtests=enabled >"$build.setup.log" 2>&1 ||
            { cat "$build.setup.log" >&2; exit 2; }
    fi
}

# Builds fuzz-<target>-libfuzzer and sets exe to its path.
build_target()
{
    exe=$build/tests/fuzz/fuzz-$1-libfuzzer
    if ! ninja -C "$build" "tests/fuzz/fuzz-$1-libfuzzer" >"$build/fuzz-build.log" 2>&1; then
        tail -n 30 "$build/fuzz-build.log" >&2
        echo "fuzz.sh: building fuzz-$1-libfuzzer failed (is subdir('fuzz') in tests/meson.build?)" >&2
        exit 2
    fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

configure

if $replay; then
    [ $# -ge 2 ] || usage
    target=$1
    shift
    build_target "$target"
    exec "$exe" "$@"
fi

[ $# -gt 0 ] || set -- $(all_targets)

status=0
for target in "$@"; do
    [ -f "$src/tests/fuzz/fuzz_$target.c" ] || { echo "fuzz.sh: no target '$target'" >&2; exit 2; }
    build_target "$target"
    corpus=$build/fuzz-corpus/$target
    artifacts=$build/fuzz-artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    log=$build/fuzz-$target.log
    args=(-max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10
          -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$artifacts/")
    if [ "$jobs" -gt 1 ]; then
        args+=(-fork="$jobs" -ignore_crashes=1)
    fi
    echo "=== $target: fuzzing for $seconds s (log: $log)"
    rc=0
    "$exe" "${args[@]}" "$corpus" "$src/tests/fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" || true
    found=$(find "$artifacts" -type f | sort)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        status=1
        echo "=== $target: FOUND A PROBLEM (exit $rc); last lines of the log:"
        grep -E -A40 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error|check failed' "$log" | head -n 60 || tail -n 40 "$log"
        echo "artifacts:"
        echo "${found:-  (none)}"
        echo "replay: tools/fuzz.sh -b $build -r $target <artifact>"
    else
        echo "=== $target: no crash; corpus now $(find "$corpus" -type f | wc -l) inputs in $corpus"
    fi
done
exit $status
