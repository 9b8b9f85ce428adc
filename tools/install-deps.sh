#!/bin/sh
# Installs every Debian package the build and the tests use: the toolchain, the libraries,
# and the real peers the tests run against (PEERS.md). The one list of them: .ci/run calls
# this script too. Runs apt-get as root directly, or through sudo when we are not root.
# When everything is installed already it changes nothing and asks no server (a second
# run takes well under a second).
#
# usage: tools/install-deps.sh          install what is missing
#        tools/install-deps.sh --list   print the packages, one a line
set -eu

packages="
build-essential meson ninja-build pkg-config
libcmocka-dev
libmbedtls-dev
libpgm-dev
nanomsg-utils nng-utils
libnanomsg-dev
libnanomsg-raw-perl libffi-platypus-perl
libcriterion-dev
openssl
python3 iproute2
libzmq3-dev libnng-dev
clang libclang-rt-14-dev
asciidoctor
nftables
cmake man-db ca-certificates
valgrind
"
# What each is for:
#   build-essential meson ninja-build pkg-config   toolchain (gcc brings libasan and libubsan)
#   libcmocka-dev          the test framework of the C suites
#   libmbedtls-dev         tls+tcp:// and wss:// (and ws://, which shares the build switch)
#   libpgm-dev             pgm:// and epgm:// (OpenPGM)
#   nanomsg-utils          nanocat on Debian's libnanomsg 1.1.5: interop and drop-in tests
#   nng-utils              nngcat (NNG 1.5.2): interop tests, tcp/ipc/ws/wss/tls+tcp
#   libnanomsg-dev         Debian's headers and libnanomsg.so.5: the ABI comparisons
#   libnanomsg-raw-perl    Perl's NanoMsg::Raw, a real application run on our library
#   libffi-platypus-perl   lets that Perl test reach nn_poll and nn_get_statistic
#   libcriterion-dev       Criterion, whose runner talks to its workers through libnanomsg
#   openssl                throw-away certificates for the TLS tests
#   python3 iproute2       free ports and ss(8) for the shell tests
#   libzmq3-dev libnng-dev libzmq baselines of tools/perf (smoke-tested), NNG for tools/bench
#   clang libclang-rt-14-dev  libFuzzer for tools/fuzz.sh (CI's short fuzzing run)
#   asciidoctor            the man pages
#   nftables               packet loss in the pgm tests (network namespaces)
#   cmake                  find_package(nanomsg) test of the install
#   man-db                 man -l on every installed man page (install test)
#   ca-certificates        the system CA store TLS clients trust by default
#   valgrind               memcheck over a subset of the tests (.ci/run)

if [ "${1:-}" = --list ]; then
    for p in $packages; do echo "$p"; done
    exit 0
fi
if [ $# -ne 0 ]; then
    echo "usage: $0 [--list]" >&2
    exit 2
fi

# One dpkg-query for all of them ("install ok installed": fully there; a package dpkg has
# never heard of is only named on stderr, so it counts as missing too).
# shellcheck disable=SC2086 # one word per package
installed=$(dpkg-query -W -f '${Package} ${Status}\n' $packages 2>/dev/null |
    awk '$2 == "install" && $3 == "ok" && $4 == "installed" { printf " %s ", $1 }') || true
missing=
for p in $packages; do
    case $installed in
    *" $p "*) ;;
    *) missing="$missing $p" ;;
    esac
done
if [ -z "$missing" ]; then
    echo "install-deps: all $(echo "$packages" | wc -w) packages are installed"
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    as_root=
elif command -v sudo >/dev/null 2>&1; then
    as_root=sudo
else
    echo "install-deps: missing:$missing" >&2
    echo "install-deps: run this script as root (sudo is not installed)" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update
# Checked first so that a package a mirror lacks is named, not buried in apt's output.
unknown=
for p in $missing; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || unknown="$unknown $p"
done
if [ -n "$unknown" ]; then
    echo "install-deps: no installation candidate for:$unknown" >&2
    exit 1
fi
# shellcheck disable=SC2086 # one word per package
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
