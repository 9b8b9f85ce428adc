#!/bin/bash
# Three "hosts" on one LAN for the pgm transport through the nn_* API:
# network namespaces 10.78.0.1-3, each joined by a veth pair to a bridge in
# a fourth namespace. Runs pgm-api's cases for epgm and pgm: the transfers
# without loss and with 3 % random loss of what every host receives
# (nftables, input hook), the late joiner and BUS with that loss.
#
# usage: pgm_api.sh PGM_API [SCHEME...]
#
# PGM_API_CASES="CASE:LOSS ..." in the environment runs only those cases
# (e.g. "late:3 bus:3", to loop one), for each SCHEME.
#
# Needs root (namespaces, raw PGM), iproute2 and nftables; it FAILS, never
# skips, when it cannot build the namespaces (CI runs it as root).
set -euo pipefail

api=${1:?usage: pgm_api.sh PGM_API [SCHEME...]}
shift
schemes=("$@")
[ ${#schemes[@]} -gt 0 ] || schemes=(epgm pgm)

for cmd in ip nft; do
    command -v "$cmd" >/dev/null || { echo "pgm_api.sh: '$cmd' not found (iproute2, nftables)" >&2; exit 1; }
done

# Namespace names are global: unique per run, so parallel runs never meet.
tag=nanosp-pgmapi-$$-$RANDOM
hub=$tag-hub
hosts=("$tag-1" "$tag-2" "$tag-3")
cleanup()
{
    for ns in "$hub" "${hosts[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}
trap cleanup EXIT

ip netns add "$hub"
ip -n "$hub" link add br0 type bridge mcast_snooping 0
ip -n "$hub" link set br0 up
for i in 1 2 3; do
    ns=${hosts[$((i - 1))]}
    ip netns add "$ns"
    ip -n "$hub" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$hub" link set "p$i" master br0 up
    ip -n "$ns" addr add "10.78.0.$i/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done

loss()
{
    local pct=$1 ns
    for ns in "${hosts[@]}"; do
        ip netns exec "$ns" nft delete table inet pgmloss 2>/dev/null || true
        [ "$pct" -gt 0 ] || continue
        ip netns exec "$ns" nft -f - <<NFT
table inet pgmloss {
    chain in {
        type filter hook input priority 0;
        meta l4proto { udp, 113 } numgen random mod 100 < $pct drop
    }
}
NFT
    done
}

status=0
run()
{
    local case=$1 scheme=$2 pct=$3
    local port=$((20000 + RANDOM % 20000))
    loss "$pct"
    echo "=== $case, $scheme, $pct % loss"
    if ! "$api" "$case" "$scheme" "${hosts[@]}" 10.78.0.1 10.78.0.2 10.78.0.3 "$port"; then
        echo "=== $case, $scheme, $pct % loss: FAILED"
        status=1
    fi
}

if [ -n "${PGM_API_CASES:-}" ]; then
    for scheme in "${schemes[@]}"; do
        for c in $PGM_API_CASES; do
            run "${c%%:*}" "$scheme" "${c##*:}"
        done
    done
    exit $status
fi

for scheme in "${schemes[@]}"; do
    run errors "$scheme" 0
    run groups "$scheme" 0
    run drops "$scheme" 0
    run xfer "$scheme" 0
    run xfer "$scheme" 3
    run late "$scheme" 3
    run maxsize "$scheme" 0
    run bus "$scheme" 3
    run expiry "$scheme" 0
done
# Without CAP_NET_RAW: pgm refused, epgm fine (both in one run).
run noraw pgm 0
exit $status
