#!/bin/sh
# Diffs the probe built against our headers with the probe built against
# Debian's /usr/include/nanomsg: any differing constant, layout or prototype
# fails the test. Also checks that the probe prints every macro the 11 headers
# define, so a constant added to (or missing from) the headers cannot slip by.
#
# usage: compare_headers.sh --ours PROBE --our-include DIR
#                           [--debian PROBE] [--cc "CC CMD"]
# Without Debian's headers (libnanomsg-dev) there is nothing to compare with: that fails
# the test naming the package, or skips it (77) under -Dallow_skip=true.

set -u
. "$(dirname "$0")/../common/prereq.sh"

ours=
debian=
our_include=
cc_cmd=
while [ $# -gt 0 ]; do
    case "$1" in
    --ours) ours=$2; shift 2 ;;
    --debian) debian=$2; shift 2 ;;
    --our-include) our_include=$2; shift 2 ;;
    --cc) cc_cmd=$2; shift 2 ;;
    *) echo "compare_headers.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

debian_dir=/usr/include/nanomsg
headers="nn.h bus.h inproc.h ipc.h pair.h pipeline.h pubsub.h reqrep.h survey.h tcp.h ws.h"

if [ -z "$debian" ] || [ ! -f "$debian_dir/nn.h" ]; then
    tu_missing "Debian's libnanomsg headers ($debian_dir)" libnanomsg-dev configure
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Each probe must really have been built from its own copy of the headers.
[ "$("$ours" --variant)" = ours ] || { echo "FAIL: $ours is not the 'ours' probe"; exit 1; }
[ "$("$debian" --variant)" = debian ] || { echo "FAIL: $debian is not the 'debian' probe"; exit 1; }

"$ours" >"$tmp/ours.txt" || { echo "FAIL: $ours exited with $?"; exit 1; }
"$debian" >"$tmp/debian.txt" || { echo "FAIL: $debian exited with $?"; exit 1; }

status=0
if ! diff -u "$tmp/debian.txt" "$tmp/ours.txt"; then
    echo "FAIL: public headers differ from Debian's (- Debian, + ours)"
    status=1
fi
if grep -n MISMATCH "$tmp/ours.txt"; then
    echo "FAIL: a member type or prototype differs from libnanomsg 1.1.5"
    status=1
fi
lines=$(wc -l <"$tmp/ours.txt")
if [ "$lines" -lt 150 ]; then
    echo "FAIL: probe printed only $lines lines"
    status=1
fi

# Completeness: every macro defined by either set of headers (minus include
# guards and NN_EXPORT) must appear in the probe output.
if [ -n "$cc_cmd" ] && [ -n "$our_include" ]; then
    : >"$tmp/names"
    printf '#include <errno.h>\n#include <stddef.h>\n#include <stdint.h>\n' \
        >"$tmp/base.c"
    # shellcheck disable=SC2086
    $cc_cmd -dM -E "$tmp/base.c" | awk '{ sub(/\(.*/, "", $2); print $2 }' \
        | sort -u >"$tmp/base"
    for dir in "$our_include/nanomsg" "$debian_dir"; do
        : >"$tmp/all.c"
        for h in $headers; do
            printf '#include "%s/%s"\n' "$dir" "$h" >>"$tmp/all.c"
        done
        # shellcheck disable=SC2086
        if ! $cc_cmd -dM -E "$tmp/all.c" >"$tmp/defs"; then
            echo "FAIL: cannot preprocess the headers in $dir"
            status=1
            continue
        fi
        awk '{ sub(/\(.*/, "", $2); print $2 }' "$tmp/defs" >>"$tmp/names"
    done
    sort -u "$tmp/names" | comm -23 - "$tmp/base" \
        | grep -v -e '_H_INCLUDED$' -e '^NN_EXPORT$' >"$tmp/header_macros"
    count=$(wc -l <"$tmp/header_macros")
    missing=0
    while read -r name; do
        if ! grep -q -e "^${name}[=( ]" "$tmp/ours.txt"; then
            echo "FAIL: macro $name is defined by the headers but not probed"
            missing=1
        fi
    done <"$tmp/header_macros"
    [ $missing -eq 0 ] || status=1
    echo "checked $count header macros for coverage"
fi

[ $status -eq 0 ] && echo "OK: $lines probe lines identical to Debian's"
exit $status
