#!/bin/sh
# Diffs symtab_dump linked against our libnanomsg with symtab_dump linked
# against Debian's libnanomsg.so.5: the nn_symbol table, its bounds behaviour
# and nn_strerror must be identical.
#
# usage: compare_symtab.sh OURS_DUMP [DEBIAN_DUMP DEBIAN_LIB]
# Without Debian's library (libnanomsg-dev) this fails naming the package, or skips (77)
# under -Dallow_skip=true.

set -u
. "$(dirname "$0")/../common/prereq.sh"

ours=$1
debian=${2:-}
debian_lib=${3:-}

if [ -z "$debian" ] || [ -z "$debian_lib" ] || [ ! -e "$debian_lib" ]; then
    tu_missing "Debian's libnanomsg.so.5 with its headers" libnanomsg-dev configure
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Neither binary may be redirected to the other library by the environment
# (the drop-in interop test, for one, sets LD_LIBRARY_PATH to our build dir).
run() {
    env -u LD_LIBRARY_PATH -u LD_PRELOAD "$@"
}

# Which libnanomsg.so.5 each binary loads: comparing a library with itself
# would pass vacuously.
resolved() {
    run ldd "$1" 2>/dev/null | awk '$1 == "libnanomsg.so.5" { print $3 }'
}
command -v ldd >/dev/null 2>&1 || tu_missing ldd libc-bin
ours_lib=$(resolved "$ours")
deb_lib=$(resolved "$debian")
real_debian=$(readlink -f "$debian_lib")
if [ -z "$ours_lib" ] || [ -z "$deb_lib" ]; then
    echo "FAIL: cannot tell which libnanomsg.so.5 the dumps load" \
        "(ours: '$ours_lib', debian: '$deb_lib')"
    exit 1
fi
if [ "$(readlink -f "$ours_lib")" = "$real_debian" ]; then
    echo "FAIL: $ours loads Debian's $ours_lib instead of ours"
    exit 1
fi
if [ "$(readlink -f "$deb_lib")" != "$real_debian" ]; then
    echo "FAIL: $debian loads $deb_lib instead of $debian_lib"
    exit 1
fi
echo "ours loads $ours_lib; reference loads $deb_lib"

run "$ours" >"$tmp/ours.txt" || { echo "FAIL: $ours exited with $?"; exit 1; }
run "$debian" >"$tmp/debian.txt" || { echo "FAIL: $debian exited with $?"; exit 1; }

if ! grep -q '^count=121$' "$tmp/debian.txt"; then
    echo "FAIL: the reference library does not have 121 symbols"
    exit 1
fi
if ! diff -u "$tmp/debian.txt" "$tmp/ours.txt"; then
    echo "FAIL: nn_symbol/nn_symbol_info/nn_strerror differ (- Debian, + ours)"
    exit 1
fi
echo "OK: $(wc -l <"$tmp/ours.txt") lines identical to Debian's libnanomsg"
exit 0
