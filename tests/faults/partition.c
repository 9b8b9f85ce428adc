/* Network faults between two hosts: two private network namespaces joined
   by a veth pair (10.79.0.1, the server's, and 10.79.0.2, the client's),
   the peers (faultpeer) started in them with `ip netns exec`. Fixed ports are
   fine: nothing else lives in these namespaces.

   A partition: nftables in the client's namespace drops every packet both
   ways for 5 s (long mode: 5 s, then 30 s, then 120 s), then the rule goes.
   What a user would notice, asserted: a REQ (NN_REQ_RESEND_IVL 1 s) that
   was waiting gets its answer after the heal, and the requests after it
   too; a SUB gets the PUB's messages again (what the PUB published during
   the partition may be lost: PUB drops what its peer cannot take). The
   figures: how long after the heal the first reply and the first
   publication came, how many publications were lost, whether the
   connections survived (TCP retransmits through a short partition) or were
   made anew.

   A vanished host: the client's namespace is cut off (nftables, so that no
   FIN or reset leaves), its processes SIGKILLed, and the namespace deleted
   (with its end of the veth pair). The server side has a PUSH that sends
   to the vanished PULL and a PULL that received from the vanished PUSH.
   What a user would notice, asserted: the sender notices, as its sends
   are refused (NN_DONTWAIT: EAGAIN) once the connection's buffers are
   full, and a new peer is served as soon as it connects. Documented by the
   figures: what the receive-only side sees (nothing: its connection stays
   counted in NN_STAT_CURRENT_CONNECTIONS until TCP gives up on it, which
   for a connection with nothing to send is never; asserted).

   The cure, a vanished host with NN_TCP_KEEPALIVE (2 s) on the side that
   stays: the PUSH sending to the host, the PULL it connected to and a PULL
   that connected to it each drop their connection (NN_STAT_BROKEN_-
   CONNECTIONS, none counted any more) while a PULL without the option
   still counts its own; when the host comes back (same address, a new
   PUSH bound), the connecting PULL reconnects and receives from it. The
   figures: how long after the cut each side dropped its connection.

   Needs root (namespaces), iproute2 and nftables; it fails, naming the
   package, when it cannot make the namespaces. */
#include "faults.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static const char *peer;
static char ns_srv[64], ns_cli[64];
static bool cli_alive;

#define SRV "10.79.0.1"
#define FX_STR_(x) #x
#define FX_STR(x) FX_STR_(x)

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "partition: \"%s\" failed (%#x)\n", cmd, rc);
    assert_int_equal(rc, 0);
}

static void drop_hosts(void);

/* The client's namespace and its link to the server's. A deleted client
   namespace lives on in the kernel while its orphaned sockets retransmit
   their FIN into the cut (minutes), and with it the server's end of the old
   link, which holds the server's address and route: that end goes first. */
static void make_client(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip -n %s link del veth0 2>/dev/null", ns_srv);
    if (system(cmd)) {
        /* gone already */
    }
    sh("ip netns add %s", ns_cli);
    sh("ip -n %s link add veth0 type veth peer name veth1 netns %s", ns_srv, ns_cli);
    sh("ip -n %s addr add " SRV "/24 dev veth0 && ip -n %s addr add 10.79.0.2/24 dev veth1", ns_srv, ns_cli);
    sh("ip -n %s link set lo up", ns_cli);
    sh("ip -n %s link set veth0 up && ip -n %s link set veth1 up", ns_srv, ns_cli);
    cli_alive = true;
}

static void make_hosts(void)
{
    drop_hosts(); /* a failed case before may have left them */
    sh("ip netns add %s && ip netns add %s", ns_srv, ns_cli);
    sh("ip -n %s link add veth0 type veth peer name veth1 netns %s", ns_srv, ns_cli);
    sh("ip -n %s addr add " SRV "/24 dev veth0 && ip -n %s addr add 10.79.0.2/24 dev veth1", ns_srv, ns_cli);
    sh("ip -n %s link set lo up && ip -n %s link set lo up", ns_srv, ns_cli);
    sh("ip -n %s link set veth0 up && ip -n %s link set veth1 up", ns_srv, ns_cli);
    cli_alive = true;
}

static void drop_hosts(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_srv, ns_cli);
    if (system(cmd)) {
        /* one of them may be gone already */
    }
}

static void cut(void)
{
    sh("ip netns exec %s nft -f - <<'EOF'\n"
       "table inet faultcut {\n"
       "  chain in { type filter hook input priority 0; policy drop; }\n"
       "  chain out { type filter hook output priority 0; policy drop; }\n"
       "}\n"
       "EOF",
       ns_cli);
}

static void heal(void)
{
    sh("ip netns exec %s nft delete table inet faultcut", ns_cli);
}

/* Starts faultpeer in a namespace, with env ("NAME=value", NULL-terminated,
   may be NULL) added to ours. */
static void start_env(struct fx_child *c, char *const env[], const char *ns, const char *mode, const char *a,
                      const char *b, const char *d)
{
    char *argv[] = {"/usr/sbin/ip", "netns", "exec", (char *) ns, (char *) peer, (char *) mode, (char *) a,
                    (char *) b, (char *) d, NULL};
    assert_true(fx_spawn(c, argv, env));
}

static void start(struct fx_child *c, const char *ns, const char *mode, const char *a, const char *b, const char *d)
{
    start_env(c, NULL, ns, mode, a, b, d);
}

/* ---- a partition ---- */

struct progress {
    long reply, sub;           /* the last sequence numbers seen, -1: none */
    uint64_t reply_ms, sub_ms; /* when (the client's clock, tu_now_ms) */
    long subs;                 /* publications received */
    uint64_t lo, hi;           /* a window of the client's clock... */
    long in_replies, in_subs;  /* ... and what arrived in it */
};

static void seen(struct progress *p, const char *line)
{
    long n;
    unsigned long long t;
    if (sscanf(line, "reply %ld %llu", &n, &t) == 2) {
        p->reply = n;
        p->reply_ms = t;
        if (t >= p->lo && t < p->hi)
            p->in_replies++;
    } else if (sscanf(line, "sub %ld %llu", &n, &t) == 2) {
        p->sub = n;
        p->sub_ms = t;
        p->subs++;
        if (t >= p->lo && t < p->hi)
            p->in_subs++;
    }
}

/* Reads the client's lines for up to ms; stops early once stop(p) holds. */
static void follow(struct fx_child *c, struct progress *p, int ms, bool (*stop)(struct progress *, void *), void *arg)
{
    uint64_t end = tu_now_ms() + (uint64_t) ms;
    char line[128];
    while (tu_now_ms() < end) {
        if (!fx_child_line(c, line, sizeof line, 10))
            continue;
        seen(p, line);
        if (stop && stop(p, arg))
            return;
    }
}

struct past {
    long reply, sub;
};

static bool beyond(struct progress *p, void *arg)
{
    struct past *b = arg;
    return p->reply > b->reply && p->sub > b->sub;
}

/* "stats NAME BROKEN ESTABLISHED CURRENT ACCEPTED" for name. */
static void stats(struct fx_child *c, const char *name, unsigned long long v[4], struct progress *p)
{
    char want[32], line[128];
    snprintf(want, sizeof want, "stats %s ", name);
    assert_true(fx_tell(c, "stats\n"));
    uint64_t end = tu_now_ms() + FX_DEADLINE_MS;
    for (;;) {
        assert_true(tu_now_ms() < end);
        if (!fx_child_line(c, line, sizeof line, 100))
            continue;
        if (strncmp(line, want, strlen(want)) == 0) {
            assert_int_equal(sscanf(line + strlen(want), "%llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3]), 4);
            return;
        }
        if (p)
            seen(p, line);
    }
}

static void test_req_and_sub_resume_after_a_partition_heals(void **state)
{
    (void) state;
    make_hosts();
    struct fx_child srv, cli;
    char line[128];
    start(&srv, ns_srv, "repserver", "tcp://" SRV ":5555", "tcp://" SRV ":5556", NULL);
    assert_true(fx_child_expect(&srv, "ready", line, sizeof line, FX_DEADLINE_MS));
    start(&cli, ns_cli, "reqclient", "tcp://" SRV ":5555", "tcp://" SRV ":5556", "1000");
    struct progress p = {-1, -1, 0, 0, 0, 0, 0, 0, 0};
    struct past warm = {20, 20};
    follow(&cli, &p, FX_DEADLINE_MS, beyond, &warm);
    assert_true(p.reply > 20 && p.sub > 20);

    int rounds = fx_pick(1, 3);
    static const int seconds[] = {5, 30, 120};
    for (int r = 0; r < rounds; r++) {
        cut();
        uint64_t t_cut = tu_now_ms();
        /* What arrives during the partition, by the client's clock (what
           was on its way when the cut came is let through: 50 ms). */
        p.lo = t_cut + 50;
        p.hi = t_cut + (uint64_t) seconds[r] * 1000;
        p.in_replies = p.in_subs = 0;
        struct past before = {p.reply, p.sub};
        long subs_at_cut = p.subs;
        follow(&cli, &p, seconds[r] * 1000, NULL, NULL);
        struct past at_heal = {p.reply, p.sub};
        heal();
        uint64_t t_heal = tu_now_ms();
        /* Everything resumes: a reply and a publication newer than the
           last ones before the heal. */
        follow(&cli, &p, FX_DEADLINE_MS * 2, beyond, &at_heal);
        if (!(p.reply > at_heal.reply && p.sub > at_heal.sub))
            fprintf(stderr, "after the heal: last reply %ld (%ld at the heal), last publication %ld (%ld)\n",
                    p.reply, at_heal.reply, p.sub, at_heal.sub);
        assert_true(p.reply > at_heal.reply);
        assert_true(p.sub > at_heal.sub);
        uint64_t reply_after = p.reply_ms > t_heal ? p.reply_ms - t_heal : 0;
        uint64_t sub_after = p.sub_ms > t_heal ? p.sub_ms - t_heal : 0;
        /* Let a few more come, to count what the partition cost. */
        struct past more = {p.reply + 5, p.sub + 50};
        follow(&cli, &p, FX_DEADLINE_MS, beyond, &more);
        long published = p.sub - before.sub, received = p.subs - subs_at_cut;
        unsigned long long req[4], sub[4], rep[4], pub[4];
        stats(&cli, "req", req, &p);
        stats(&cli, "sub", sub, &p);
        stats(&srv, "rep", rep, NULL);
        stats(&srv, "pub", pub, NULL);
        fx_figure("partition", "%d s partition (nftables drops all, %.1f s measured): during it %ld replies and %ld "
                  "publications arrived; after the heal the first reply came in %llu ms, the first publication in "
                  "%llu ms; of %ld publications from the cut to now %ld arrived; connections broken so far: REQ %llu, "
                  "SUB %llu, REP %llu, PUB %llu; made: REQ %llu, SUB %llu",
                  seconds[r], (t_heal - t_cut) / 1000.0, p.in_replies, p.in_subs,
                  (unsigned long long) reply_after, (unsigned long long) sub_after, published, received, req[0],
                  sub[0], rep[0], pub[0], req[1], sub[1]);
    }
    fx_child_end(&cli, 0);
    fx_child_end(&srv, 0);
    drop_hosts();
}

/* ---- a vanished host ---- */

/* "stats BROKEN ESTABLISHED CURRENT N [EAGAIN]" of a sink or source. */
static void peer_stats(struct fx_child *c, unsigned long long v[5])
{
    char line[128];
    v[4] = 0;
    assert_true(fx_tell(c, "stats\n"));
    assert_true(fx_child_expect(c, "stats ", line, sizeof line, FX_DEADLINE_MS));
    assert_true(sscanf(line, "stats %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) >= 4);
}

static void test_a_vanished_host_is_noticed_by_its_sender(void **state)
{
    (void) state;
    make_hosts();
    struct fx_child src, snk, far_snk, far_src;
    char line[128];
    /* Bound to every address: the first link goes with the vanished host,
       a new one comes for the newcomer. */
    start(&src, ns_srv, "source", "bind", "tcp://*:5557", "1024");
    start(&snk, ns_srv, "sink", "bind", "tcp://*:5558", NULL);
    start(&far_snk, ns_cli, "sink", "connect", "tcp://" SRV ":5557", NULL);
    start(&far_src, ns_cli, "source", "connect", "tcp://" SRV ":5558", "1024");
    assert_true(fx_child_expect(&src, "ready", line, sizeof line, FX_DEADLINE_MS));
    assert_true(fx_child_expect(&snk, "ready", line, sizeof line, FX_DEADLINE_MS));

    /* Gone without a word: nothing leaves the namespace any more, its
       processes die, the namespace and its end of the link go. */
    cut();
    fx_child_end(&far_snk, SIGKILL);
    fx_child_end(&far_src, SIGKILL);
    sh("ip netns del %s", ns_cli);
    cli_alive = false;
    uint64_t t0 = tu_now_ms();

    /* The sender notices: its sends are refused, again and again, with
       nothing taken in between. */
    unsigned long long a[5], b[5];
    peer_stats(&src, a);
    uint64_t noticed = 0;
    while (tu_now_ms() < t0 + FX_DEADLINE_MS * 3) {
        tu_sleep_ms(200);
        peer_stats(&src, b);
        if (b[3] == a[3] && b[4] > a[4]) {
            noticed = tu_now_ms() - t0;
            break;
        }
        memcpy(a, b, sizeof a);
    }
    assert_true(noticed > 0);

    /* The receive-only side, over an observation window. */
    int window = fx_pick(3, 60);
    unsigned long long r0[5], r1[5], s1[5];
    peer_stats(&snk, r0);
    uint64_t w_end = tu_now_ms() + (uint64_t) window * 1000;
    while (tu_now_ms() < w_end)
        fx_child_line(&snk, line, sizeof line, 100); /* pacing only */
    peer_stats(&snk, r1);
    peer_stats(&src, s1);
    fx_figure("vanish", "a host vanished without a FIN: the PUSH sending to it had its sends refused (EAGAIN, nothing "
              "taken) %llu ms later, with %llu messages of 1 KiB taken since it connected; its connection still "
              "counted: %llu, broken: %llu; the PULL that received from the host saw nothing over %d s: connection "
              "still counted: %llu, broken: %llu (TCP without keepalive never gives up on a connection with nothing "
              "to send)",
              (unsigned long long) noticed, s1[3], s1[2], s1[0], window, r1[2], r1[0]);
    (void) r0;
    assert_int_equal(r1[2], 1);

    /* New peers are served meanwhile (a fresh client namespace). */
    snprintf(ns_cli + strlen(ns_cli), sizeof ns_cli - strlen(ns_cli), "b");
    sh("ip netns add %s", ns_cli);
    sh("ip -n %s link add veth2 type veth peer name veth3 netns %s", ns_srv, ns_cli);
    sh("ip -n %s addr add 10.79.1.1/24 dev veth2 && ip -n %s addr add 10.79.1.2/24 dev veth3", ns_srv, ns_cli);
    sh("ip -n %s link set veth2 up && ip -n %s link set veth3 up && ip -n %s link set lo up", ns_srv, ns_cli,
       ns_cli);
    cli_alive = true;
    start(&far_snk, ns_cli, "sink", "connect", "tcp://10.79.1.1:5557", NULL);
    assert_true(fx_child_expect(&far_snk, "got ", line, sizeof line, FX_DEADLINE_MS));
    fx_child_end(&far_snk, 0);
    fx_child_end(&src, 0);
    fx_child_end(&snk, 0);
    drop_hosts();
}

/* ---- a vanished host, with NN_TCP_KEEPALIVE ---- */

#define KEEPALIVE_MS 2000

/* Waits until each of the n children ("stats" as peer_stats) counts no
   connection and a broken one; ms[i]: when child i was first seen so,
   since t0 (0: not within the deadline). */
static void dropped(struct fx_child *c[], uint64_t ms[], int n, uint64_t t0)
{
    int left = n;
    for (int i = 0; i < n; i++)
        ms[i] = 0;
    while (left > 0 && tu_now_ms() < t0 + FX_DEADLINE_MS) {
        for (int i = 0; i < n; i++) {
            unsigned long long v[5];
            if (ms[i])
                continue;
            peer_stats(c[i], v);
            if (v[2] == 0 && v[0] >= 1) {
                ms[i] = tu_now_ms() - t0;
                left--;
            }
        }
        tu_sleep_ms(20); /* pacing only: the next reading decides */
    }
}

static void test_with_keepalive_a_vanished_host_is_noticed_by_every_side_that_stays(void **state)
{
    (void) state;
    make_hosts();
    static char ka_env[] = "FAULTPEER_KEEPALIVE=" FX_STR(KEEPALIVE_MS);
    char *ka[] = {ka_env, NULL};
    struct fx_child src, snk, csnk, snk0, far_snk, far_src, far_bsrc, far_src0;
    char line[128];
    /* Staying, with the option: a PUSH bound (the host's PULL connects),
       a PULL bound (the host's PUSH connects), a PULL that connects to the
       host's PUSH; without it, a PULL bound. */
    start_env(&src, ka, ns_srv, "source", "bind", "tcp://*:5557", "1024");
    start_env(&snk, ka, ns_srv, "sink", "bind", "tcp://*:5558", NULL);
    start(&snk0, ns_srv, "sink", "bind", "tcp://*:5560", NULL);
    start(&far_bsrc, ns_cli, "source", "bind", "tcp://*:5559", "1024");
    start_env(&csnk, ka, ns_srv, "sink", "connect", "tcp://10.79.0.2:5559", NULL);
    start(&far_snk, ns_cli, "sink", "connect", "tcp://" SRV ":5557", NULL);
    start(&far_src, ns_cli, "source", "connect", "tcp://" SRV ":5558", "1024");
    start(&far_src0, ns_cli, "source", "connect", "tcp://" SRV ":5560", "1024");
    assert_true(fx_child_expect(&src, "ready", line, sizeof line, FX_DEADLINE_MS));
    assert_true(fx_child_expect(&snk, "ready", line, sizeof line, FX_DEADLINE_MS));
    assert_true(fx_child_expect(&snk0, "ready", line, sizeof line, FX_DEADLINE_MS));
    assert_true(fx_child_expect(&csnk, "ready", line, sizeof line, FX_DEADLINE_MS));

    cut();
    uint64_t t0 = tu_now_ms(); /* nothing is answered from here on */
    fx_child_end(&far_snk, SIGKILL);
    fx_child_end(&far_src, SIGKILL);
    fx_child_end(&far_bsrc, SIGKILL);
    fx_child_end(&far_src0, SIGKILL);
    sh("ip netns del %s", ns_cli);
    cli_alive = false;

    struct fx_child *stay[] = {&src, &snk, &csnk};
    uint64_t ms[3];
    dropped(stay, ms, 3, t0);
    uint64_t src_ms = ms[0], snk_ms = ms[1], csnk_ms = ms[2];
    unsigned long long v0[5];
    peer_stats(&snk0, v0);
    fx_figure("keepalive", "a host vanished without a FIN; with NN_TCP_KEEPALIVE %d ms the side that stayed dropped "
              "its connections (ms after the cut): the PUSH sending to the host %llu, the PULL the host's PUSH "
              "connected to %llu, the PULL connected to the host's PUSH %llu; a PULL without the option still "
              "counted its connection: %llu",
              KEEPALIVE_MS, (unsigned long long) src_ms, (unsigned long long) snk_ms,
              (unsigned long long) csnk_ms, v0[2]);
    assert_true(src_ms > 0);
    assert_true(snk_ms > 0);
    assert_true(csnk_ms > 0);
    /* Without the option: TCP never gives up on a connection with nothing
       to send (read after the others dropped theirs). */
    assert_int_equal(v0[2], 1);
    assert_int_equal(v0[0], 0);

    /* The host comes back at its address with a new PUSH: the connecting
       PULL reconnects and receives. */
    make_client();
    start(&far_bsrc, ns_cli, "source", "bind", "tcp://*:5559", "1024");
    assert_true(fx_child_expect(&csnk, "got ", line, sizeof line, FX_DEADLINE_MS));
    unsigned long long c[5];
    peer_stats(&csnk, c);
    assert_int_equal(c[2], 1);
    assert_true(c[1] >= 2); /* established twice: before and after */
    fx_child_end(&far_bsrc, 0);
    fx_child_end(&csnk, 0);
    fx_child_end(&src, 0);
    fx_child_end(&snk, 0);
    fx_child_end(&snk0, 0);
    drop_hosts();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FAULTPEER\n", argv[0]);
        return 2;
    }
    peer = argv[1];
    signal(SIGPIPE, SIG_IGN);
    if (access("/usr/sbin/ip", X_OK) != 0)
        return tu_missing("ip (it makes the network namespaces)", "iproute2");
    if (system("command -v nft >/dev/null 2>&1") != 0)
        return tu_missing("nft (it cuts the network)", "nftables");
    /* Namespace names are global: unique per run. */
    snprintf(ns_srv, sizeof ns_srv, "nanosp-faults-%d-s", (int) getpid());
    snprintf(ns_cli, sizeof ns_cli, "nanosp-faults-%d-c", (int) getpid());
    char probe[256];
    snprintf(probe, sizeof probe, "ip netns add %s-probe 2>/dev/null && ip netns del %s-probe", ns_srv, ns_srv);
    if (system(probe) != 0)
        return tu_unmet("cannot make network namespaces (root, CAP_SYS_ADMIN)");
    if (getenv("FX_FILTER"))
        cmocka_set_test_filter(getenv("FX_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_and_sub_resume_after_a_partition_heals),
        cmocka_unit_test(test_a_vanished_host_is_noticed_by_its_sender),
        cmocka_unit_test(test_with_keepalive_a_vanished_host_is_noticed_by_every_side_that_stays),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    drop_hosts();
    return rc;
}
