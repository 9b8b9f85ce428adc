#!/bin/bash
# Two "hosts" for the pgm transport: network namespaces joined by a veth pair
# (10.77.0.1 and 10.77.0.2). Runs pgm-xfer (a sender in the first, a
# receiver in the second) for epgm and pgm, without loss and with 3 %
# random loss of what the receiver's side gets (nftables, input hook), and
# prints the figures: time to deliver, packets dropped, repairs received and
# NAKs sent (nftables counters on the receiver's side).
#
# usage: pgm_netns.sh PGM_XFER [--quick] [SCHEME...]
#
# --quick (meson test): only the runs with loss; pgm-api runs the same
# transfers through the nn_* API with and without loss, and the whole pgm
# suite has to fit in about three minutes on a loaded machine.
#
# Needs root (CAP_SYS_ADMIN for namespaces, CAP_NET_RAW for raw PGM), iproute2
# and nftables. It FAILS, never skips, when it cannot build the namespaces:
# CI runs it as root on a machine that has both.
set -euo pipefail

xfer=${1:?usage: pgm_netns.sh PGM_XFER [--quick] [SCHEME...]}
shift
quick=
if [ "${1:-}" = --quick ]; then
    quick=1
    shift
fi
schemes=("$@")
[ ${#schemes[@]} -gt 0 ] || schemes=(epgm pgm)

for cmd in ip nft; do
    command -v "$cmd" >/dev/null || { echo "pgm_netns.sh: '$cmd' not found (iproute2, nftables)" >&2; exit 1; }
done

# Namespace names are global: unique per run, so parallel runs never meet.
tag=nanosp-pgm-$$-$RANDOM
ns_send=$tag-s
ns_recv=$tag-r
cleanup()
{
    ip netns del "$ns_send" 2>/dev/null || true
    ip netns del "$ns_recv" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$ns_send"
ip netns add "$ns_recv"
# Interface names only need to be unique inside a namespace.
ip -n "$ns_send" link add veth0 type veth peer name veth1 netns "$ns_recv"
ip -n "$ns_send" addr add 10.77.0.1/24 dev veth0
ip -n "$ns_recv" addr add 10.77.0.2/24 dev veth1
for ns in "$ns_send" "$ns_recv"; do
    ip -n "$ns" link set lo up
done
ip -n "$ns_send" link set veth0 up
ip -n "$ns_recv" link set veth1 up

# Loss and counters on the receiver's side. PGM's type byte: at offset 4 of
# the PGM header, which follows the UDP header (epgm) or is the transport
# header itself (pgm): 0x05 RDATA (a repair), 0x08 NAK.
nft_setup()
{
    local scheme=$1 port=$2 loss=$3 match type
    if [ "$scheme" = epgm ]; then
        match="udp dport $port"
        type="@th,96,8"
    else
        match="meta l4proto 113"
        type="@th,32,8"
    fi
    ip netns exec "$ns_recv" nft -f - <<EOF
table inet pgmtest {
    counter dropped {}
    counter repairs {}
    counter naks {}
    chain in {
        type filter hook input priority 0;
        $match numgen random mod 100 < $loss counter name dropped drop
        $match $type 0x05 counter name repairs
    }
    chain out {
        type filter hook output priority 0;
        $match $type 0x08 counter name naks
    }
}
EOF
}

nft_counter()
{
    ip netns exec "$ns_recv" nft list counter inet pgmtest "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

status=0
n=0
# run SCHEME LOSS [PACE]: one transfer; PACE (bytes/s) offers the messages
# steadily instead of as fast as the socket takes them.
run()
{
    local scheme=$1 loss=$2 pace=${3:-} port group what
    n=$((n + 1))
    port=$((20000 + RANDOM % 20000))
    group=239.192.77.$n
    what="$scheme, ${loss} % loss on the receiver's side${pace:+, offered at $pace B/s}"
    nft_setup "$scheme" "$port" "$loss"
    echo "=== $what (group $group, port $port)"
    if ! "$xfer" "$scheme" "$ns_send" "$ns_recv" 10.77.0.1 10.77.0.2 "$group" "$port" $pace; then
        echo "=== $what: FAILED"
        status=1
    fi
    echo "    network: $(nft_counter dropped) packets dropped, $(nft_counter repairs) repairs received, $(nft_counter naks) NAKs sent"
    ip netns exec "$ns_recv" nft delete table inet pgmtest
}

for scheme in "${schemes[@]}"; do
    [ -n "$quick" ] || run "$scheme" 0
    run "$scheme" 3
done
# A publisher's steady 10 MB/s under loss (figures only: how many messages
# a PUB would have dropped depends on the machine's load).
[ -n "$quick" ] || run epgm 3 10000000
exit $status
