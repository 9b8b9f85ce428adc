#!/bin/sh
# Checks the ABI identity of the built shared library: file name
# libnanomsg.so.5.1.0, SONAME libnanomsg.so.5, and a dynamic symbol table that
# exports exactly the 23 public nn_* functions of libnanomsg 1.1.5 plus nn_init.
# The expected list is written out here on purpose, independent of
# src/libnanomsg.map, so that a change to the map file is caught.
#
# usage: exports.sh PATH/TO/libnanomsg.so.5.1.0

set -u
. "$(dirname "$0")/../common/prereq.sh"

lib=$1

for tool in nm readelf; do
    command -v $tool >/dev/null 2>&1 || tu_missing "$tool" binutils
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

status=0

name=$(basename "$lib")
if [ "$name" != libnanomsg.so.5.1.0 ]; then
    echo "FAIL: library file is $name, expected libnanomsg.so.5.1.0"
    status=1
fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != libnanomsg.so.5 ]; then
    echo "FAIL: SONAME is '$soname', expected libnanomsg.so.5"
    status=1
fi

cat <<'EOF' | sort >"$tmp/expected"
nn_allocmsg
nn_bind
nn_close
nn_cmsg_nxthdr_
nn_connect
nn_device
nn_errno
nn_freemsg
nn_get_statistic
nn_getsockopt
nn_init
nn_poll
nn_reallocmsg
nn_recv
nn_recvmsg
nn_send
nn_sendmsg
nn_setsockopt
nn_shutdown
nn_socket
nn_strerror
nn_symbol
nn_symbol_info
nn_term
EOF

# Every defined dynamic symbol, with a version suffix (name@@VER) stripped.
if ! nm -D --defined-only "$lib" >"$tmp/nm"; then
    echo "FAIL: nm -D failed on $lib"
    exit 1
fi
awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" | sort -u >"$tmp/actual"

if ! diff -u "$tmp/expected" "$tmp/actual"; then
    echo "FAIL: exported symbols differ (- missing, + extra)"
    status=1
fi

# All of them are functions (no data object leaks out).
if awk 'NF >= 3 && $2 != "T" { found = 1; print "FAIL: " $3 " has type " $2 }
        END { exit !found }' "$tmp/nm"; then
    status=1
fi

[ $status -eq 0 ] && echo "OK: $name, SONAME $soname, $(wc -l <"$tmp/actual") exports"
exit $status
