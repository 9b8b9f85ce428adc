#!/bin/sh
# Smoke test of the perf programs: each one runs with tiny counts over every
# transport it supports and must print the lines tools/bench parses. No
# timing is asserted. Usage: smoke.sh <dir holding the built perf programs> [zmq] [nng] [tls]
# naming what the build found: libzmq (the libzmq baselines), NNG's library and headers
# (nng_lat, nng_thr, nng_many), mbedTLS (our library's tls+tcp, ws and wss, and raw_tls).
# What is missing leaves its programs out: the rest runs, then the test fails naming the
# package, or skips under -Dallow_skip=true. The TLS runs need openssl for the certificates.
set -u
here=$(dirname "$0")
. "$here/../../tests/common/prereq.sh"
dir=$1
shift
zmq=no nng=no tls=no
for h in "$@"; do
    case $h in
    zmq) zmq=yes ;;
    nng) nng=yes ;;
    tls) tls=yes ;;
    *) echo "smoke.sh: unknown feature $h" >&2; exit 2 ;;
    esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# expect <pattern> <file>: the output has the line tools/bench looks for.
expect() {
    grep -q "$1" "$2" || { fail "no '$1' in output:"; cat "$2"; }
}

port() {
    echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 5000 * 2))
}

# pair <local argv...> -- <remote argv...>, with @URL@ replaced; tcp ports
# are retried on a bind failure (another test may hold the port).
pair() {
    transport=$1; shift
    for attempt in 1 2 3; do
        case $transport in
        tcp) url="tcp://127.0.0.1:$(port)" ;;
        ipc) url="ipc://$tmp/smoke$attempt.ipc" ;;
        tls) url="tls+tcp://127.0.0.1:$(port)" ;;
        ws | wss) url="$transport://127.0.0.1:$(port)" ;;
        esac
        local_args=""; remote_args=""; side=local
        for a in "$@"; do
            [ "$a" = "--" ] && { side=remote; continue; }
            [ "$a" = "@URL@" ] && a=$url
            if [ $side = local ]; then local_args="$local_args $a"; else remote_args="$remote_args $a"; fi
        done
        timeout 60 $local_args >"$tmp/local.out" 2>"$tmp/local.err" &
        lpid=$!
        timeout 60 $remote_args >"$tmp/remote.out" 2>"$tmp/remote.err"
        rrc=$?
        wait $lpid
        lrc=$?
        if [ $lrc -eq 0 ] && [ $rrc -eq 0 ]; then
            cat "$tmp/local.out" "$tmp/remote.out" >"$tmp/pair.out"
            return 0
        fi
        grep -qi "in use" "$tmp/local.err" || break
    done
    fail "$local_args / $remote_args (exit $lrc / $rrc)"
    cat "$tmp/local.err" "$tmp/remote.err"
    : >"$tmp/pair.out"
    return 1
}

single() {
    timeout 60 "$@" >"$tmp/single.out" 2>"$tmp/single.err" || {
        fail "$*"
        cat "$tmp/single.err"
    }
}

for pattern in "" pushpull; do
    export PERF_PATTERN=$pattern
    single "$dir/inproc_lat" 64 10
    expect "^average latency: .* \[us\]" "$tmp/single.out"
    expect "^cpu: .* \[us/msg\]" "$tmp/single.out"
    single "$dir/inproc_thr" 64 100
    expect "^throughput: .* \[msg/s\]" "$tmp/single.out"
    for tr in ipc tcp; do
        pair $tr "$dir/local_lat" @URL@ 64 10 -- "$dir/remote_lat" @URL@ 64 10
        expect "^average latency: .* \[us\]" "$tmp/pair.out"
        pair $tr "$dir/local_thr" @URL@ 1024 100 -- "$dir/remote_thr" @URL@ 1024 100
        expect "^throughput: .* \[msg/s\]" "$tmp/pair.out"
        expect "^throughput: .* \[Mb/s\]" "$tmp/pair.out"
    done
done
unset PERF_PATTERN

# PEER against REQ/REP, one process.
single "$dir/peer_lat" inproc://peer_lat 64 10
expect "^peer round trip: .* \[us\]" "$tmp/single.out"
expect "^reqrep round trip: .* \[us\]" "$tmp/single.out"
single "$dir/peer_lat" "ipc://$tmp/peer_lat.ipc" 64 10
expect "^peer round trip: .* \[us\]" "$tmp/single.out"

# 1 MiB is the default NN_RCVMAXSIZE of libnanomsg: the programs lift it.
pair tcp "$dir/local_thr" @URL@ 1048576 3 -- "$dir/remote_thr" @URL@ 1048576 3
expect "^throughput: .* \[msg/s\]" "$tmp/pair.out"
single "$dir/inproc_lat" 1048576 2
expect "^average latency" "$tmp/single.out"

# many <prog> <scheme> <sockets>: the many-connections harness, tiny.
many() {
    for attempt in 1 2 3; do
        timeout 60 "$dir/$1" "$2://127.0.0.1:$(port)" "$3" 5 64 4 \
            >"$tmp/single.out" 2>"$tmp/single.err" && break
        grep -qi "in use" "$tmp/single.err" && continue
        fail "$1 over $2"
        cat "$tmp/single.err"
        break
    done
    expect "^connect+handshake: .* \[s\]" "$tmp/single.out"
    expect "^delivery: " "$tmp/single.out"
    expect "^rss per connection, pull side" "$tmp/single.out"
}

# many: tcp_many, and zmq_many (the same test against libzmq).
many tcp_many tcp 10
[ "$zmq" = no ] || many zmq_many tcp 10

for p in raw zmq; do
    [ "$p" = raw ] || [ "$zmq" = yes ] || continue
    single "$dir/${p}_lat" inproc 64 10
    expect "^average latency" "$tmp/single.out"
    single "$dir/${p}_thr" inproc 1024 100
    expect "^throughput: .* \[msg/s\]" "$tmp/single.out"
    for tr in ipc tcp; do
        pair $tr "$dir/${p}_lat" local @URL@ 64 10 -- "$dir/${p}_lat" remote @URL@ 64 10
        expect "^average latency" "$tmp/pair.out"
        pair $tr "$dir/${p}_thr" local @URL@ 65536 20 -- "$dir/${p}_thr" remote @URL@ 65536 20
        expect "^throughput: .* \[msg/s\]" "$tmp/pair.out"
    done
done

# WebSocket and TLS: ours over ws, tls+tcp and wss (certificates made now, as the
# TLS tests make them); NNG's own API over tls+tcp and wss; raw mbedTLS, alone and as
# the client of our server and NNG's (how tools/bench learns the cipher suite).
certs_ok=no
if [ "$tls" = yes ]; then
    pair ws "$dir/local_lat" @URL@ 64 10 -- "$dir/remote_lat" @URL@ 64 10
    expect "^average latency: .* \[us\]" "$tmp/pair.out"
    pair ws "$dir/local_thr" @URL@ 1048576 3 -- "$dir/remote_thr" @URL@ 1048576 3
    expect "^throughput: .* \[msg/s\]" "$tmp/pair.out"
    if command -v openssl >/dev/null; then
        mkdir "$tmp/certs"
        "$here/../../tests/tls/mkcerts.sh" "$tmp/certs" >/dev/null || fail "mkcerts.sh"
        [ -f "$tmp/certs/server.key" ] && certs_ok=yes
    fi
fi
if [ $certs_ok = yes ]; then
    export PERF_TLS_DIR="$tmp/certs"
    for tr in tls wss; do
        pair $tr "$dir/local_lat" @URL@ 64 10 -- "$dir/remote_lat" @URL@ 64 10
        expect "^average latency: .* \[us\]" "$tmp/pair.out"
        pair $tr "$dir/local_thr" @URL@ 1048576 3 -- "$dir/remote_thr" @URL@ 1048576 3
        expect "^throughput: .* \[msg/s\]" "$tmp/pair.out"
    done
    pair tls "$dir/raw_tls" thr local @URL@ 1024 100 -- "$dir/raw_tls" thr remote @URL@ 1024 100
    expect "^throughput: .* \[msg/s\]" "$tmp/pair.out"
    expect "^tls: TLS-" "$tmp/pair.out"
    pair tls "$dir/raw_tls" lat local @URL@ 64 10 -- "$dir/raw_tls" lat remote @URL@ 64 10
    expect "^average latency" "$tmp/pair.out"
    pair tls "$dir/local_thr" @URL@ 64 10 -- "$dir/raw_tls" thr remote @URL@ 64 10
    expect "^tls: TLS-" "$tmp/pair.out"
    many tcp_many tls+tcp 5
    if [ "$nng" = yes ]; then
        for tr in tls wss; do
            pair $tr "$dir/nng_lat" local @URL@ 64 10 -- "$dir/nng_lat" remote @URL@ 64 10
            expect "^average latency" "$tmp/pair.out"
            pair $tr "$dir/nng_thr" local @URL@ 1048576 3 -- "$dir/nng_thr" remote @URL@ 1048576 3
            expect "^throughput: .* \[msg/s\]" "$tmp/pair.out"
        done
        pair tls "$dir/nng_thr" local @URL@ 64 10 -- "$dir/raw_tls" thr remote @URL@ 64 10
        expect "^tls: TLS-" "$tmp/pair.out"
        many nng_many tls+tcp 5
    fi
    unset PERF_TLS_DIR
fi

[ $fails -eq 0 ] || exit 1
[ "$zmq" = yes ] ||
    tu_missing "libzmq (for the libzmq baselines zmq_lat, zmq_thr and zmq_many)" libzmq3-dev \
        configure
[ "$nng" = yes ] ||
    tu_missing "NNG (for nng_lat, nng_thr and nng_many, NNG over TLS)" libnng-dev configure
[ "$tls" = yes ] ||
    tu_missing "mbedTLS (for tls+tcp, ws and wss, and raw_tls)" libmbedtls-dev configure
[ "$tls" = no ] || [ $certs_ok = yes ] ||
    tu_missing "openssl (for the certificates of the TLS runs)" openssl
echo "perf smoke: all programs ran"
