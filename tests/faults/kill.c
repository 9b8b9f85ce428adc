/* A peer SIGKILLed mid-message, again and again, over tcp, ipc, ws and
   tls+tcp. The peer (faultpeer killme) sends a greeting and then one large
   message, and kills itself as soon as nn_send has taken the large one: the
   survivor, a PULL here, is left with a connection cut in the middle of a
   frame. Either the survivor is bound and the peers connect, or the
   survivor connects and each peer binds the same address anew, so its
   connector must reconnect every time.

   What a user would notice, asserted after every kill: the survivor gets
   every greeting, a steady peer connected to it all along keeps exchanging
   messages, the dead connection is gone (NN_STAT_CURRENT_CONNECTIONS), and
   in the end the survivor holds as many descriptors as after the first few
   kills and no more heap than then plus a fixed allowance for the
   library's block caches (their bounds: src/core/blockpool.c and
   src/core/chunk.c). Short mode: 50 kills per transport with the
   survivor bound (20 over tls+tcp), 15 with it connecting (5 over
   tls+tcp); long mode: 300 and 100 on every transport. */
#include "faults.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#if FX_TLS
#include <nanomsg/tls.h>
#endif

static const char *peer;

/* The large message: far more than the kernel buffers of the killed peer
   (NN_SNDBUF 16 KiB) and of the survivor take at once. */
#define BIG (1024 * 1024)
/* Kills before the figures the end is compared with: the library's caches
   and the allocator's arenas have grown to what this traffic needs. */
#define WARM 10
/* The survivor's heap may exceed its size after WARM kills by this much:
   the block pool's depot and magazines fill up to their bounds (a few MiB,
   blockpool.c) as the traffic's blocks move between threads. A leak of
   one connection's buffers per kill would exceed it within the run. */
#define HEAP_ALLOWANCE (6u * 1024 * 1024)

enum tp { TCP, IPC, WS, TLS };
static const char *tp_name[] = {"tcp", "ipc", "ws", "tls+tcp"};

/* A bind address and the address peers connect to. */
static void make_url(enum tp t, const char *name, char *bind_url, char *conn_url, size_t cap)
{
    static int serial; /* a failed test leaves its sockets behind */
    char file[64];
    int port = t == IPC ? 0 : tu_free_port();
    snprintf(file, sizeof file, "%s-%d", name, serial++);
    switch (t) {
    case TCP:
        snprintf(bind_url, cap, "tcp://127.0.0.1:%d", port);
        snprintf(conn_url, cap, "tcp://127.0.0.1:%d", port);
        break;
    case IPC:
        tu_ipc_url(bind_url, cap, file);
        snprintf(conn_url, cap, "%s", bind_url);
        break;
    case WS:
        snprintf(bind_url, cap, "ws://127.0.0.1:%d", port);
        snprintf(conn_url, cap, "ws://127.0.0.1:%d", port);
        break;
    case TLS:
        snprintf(bind_url, cap, "tls+tcp://127.0.0.1:%d", port);
        snprintf(conn_url, cap, "tls+tcp://localhost:%d", port);
        break;
    }
}

static int sock(int protocol)
{
    int s = nn_socket(AF_SP, protocol);
    int tmo = FX_DEADLINE_MS, ivl = 20, max = -1;
    assert_true(s >= 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof max), 0);
    return s;
}

/* The survivor's connection count reached want. Messages that arrived
   before a connection ended are still delivered, and the connection stays
   until they are taken: take them meanwhile (a large message whose peer was
   killed only after it was through is counted in *bigs). */
struct cur_arg {
    int s;
    uint64_t want;
    int *bigs;
};

static bool current_is(void *p)
{
    struct cur_arg *a = p;
    void *m;
    int n;
    while ((n = nn_recv(a->s, &m, NN_MSG, NN_DONTWAIT)) >= 0) {
        if (n != BIG)
            fprintf(stderr, "unexpected message of %d bytes\n", n);
        assert_int_equal(n, BIG);
        (*a->bigs)++;
        nn_freemsg(m);
    }
    return nn_get_statistic(a->s, NN_STAT_CURRENT_CONNECTIONS) == a->want;
}

/* Receives until the message want arrives; the large messages of peers
   killed after (not during) their send are counted in *bigs. */
static void recv_until(int s, const char *want, int *bigs)
{
    for (;;) {
        void *m = NULL;
        int n = nn_recv(s, &m, NN_MSG, 0);
        if (n < 0)
            fprintf(stderr, "nn_recv waiting for \"%s\": %s\n", want, nn_strerror(nn_errno()));
        assert_true(n >= 0);
        if (n == BIG) {
            (*bigs)++;
        } else if ((size_t) n == strlen(want) && memcmp(m, want, (size_t) n) == 0) {
            nn_freemsg(m);
            return;
        } else {
            fprintf(stderr, "unexpected message of %d bytes waiting for \"%s\"\n", n, want);
            fail();
        }
        nn_freemsg(m);
    }
}

/* The descriptor count came down to want (a connection's descriptor is
   closed a moment after its pipe left the socket's count). */
static bool fds_at_most(void *p)
{
    return fx_fds(0) <= *(int *) p;
}

struct sample {
    int fds;
    size_t heap;
    long rss;
};

static void take(struct sample *s)
{
    s->fds = fx_fds(0);
    s->heap = fx_inuse();
    s->rss = fx_rss_kb(0);
}

/* kills with the survivor bound (peers connect) or connecting (peers
   bind). */
static void run(enum tp t, bool survivor_binds, int kills)
{
    char url[128], peer_url[128], steady_url[128], steady_conn[128];
    make_url(t, "survivor", url, peer_url, sizeof url);
    make_url(t, "steady", steady_url, steady_conn, sizeof steady_url);
    int s = sock(NN_PULL);
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "survivor", 8);
    if (survivor_binds)
        assert_true(nn_bind(s, url) >= 0);
    else
        assert_true(nn_connect(s, peer_url) >= 0);
    /* The steady peer: connected all along, on the same transport. */
    assert_true(nn_bind(s, steady_url) >= 0);
    int steady = sock(NN_PUSH);
    assert_true(nn_connect(steady, steady_conn) >= 0);
    struct sample warm = {0}, end;
    size_t warm_heap_max = 0;
    int bigs = 0;
    int warm_n = kills >= 2 * WARM ? WARM : kills / 2; /* a short run warms up for half of it */
    uint64_t t0 = tu_now_ms();
    for (int i = 0; i < kills; i++) {
        char tag[16], hello[32], steady_msg[32], big[16];
        snprintf(tag, sizeof tag, "%d", i);
        snprintf(big, sizeof big, "%d", BIG);
        char *argv[] = {(char *) peer, "killme", survivor_binds ? "connect" : "bind",
                        survivor_binds ? peer_url : url, big, tag, NULL};
        struct fx_child c;
        assert_true(fx_spawn(&c, argv, NULL));
        snprintf(hello, sizeof hello, "hello %d", i);
        recv_until(s, hello, &bigs);
        snprintf(steady_msg, sizeof steady_msg, "steady %d", i);
        assert_int_equal(nn_send(steady, steady_msg, strlen(steady_msg), 0), (int) strlen(steady_msg));
        recv_until(s, steady_msg, &bigs);
        int status = fx_child_end(&c, 0);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fprintf(stderr, "kill %d: the peer ended with status %#x, not by SIGKILL\n", i, status);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* Only the steady peer's connection is left. */
        struct cur_arg a = {s, 1, &bigs};
        if (!tu_wait_until(current_is, &a, FX_DEADLINE_MS))
            fprintf(stderr, "kill %d: %llu connections left\n", i,
                    (unsigned long long) nn_get_statistic(s, NN_STAT_CURRENT_CONNECTIONS));
        assert_true(current_is(&a));
        if (i < warm_n) {
            struct sample x;
            take(&x);
            if (x.heap > warm_heap_max)
                warm_heap_max = x.heap;
            if (i == warm_n - 1)
                warm = x;
        }
    }
    uint64_t ms = tu_now_ms() - t0;
    tu_wait_until(fds_at_most, &warm.fds, FX_DEADLINE_MS);
    take(&end);
    fx_figure("kill", "%s, survivor %s: %d peers SIGKILLed (%d mid-message, %d after their large message was "
              "through) in %.1f s; survivor after kill %d -> %d: fds %d -> %d, heap %zu -> %zu KiB "
              "(highest in the first %d: %zu KiB), RSS %ld -> %ld KiB",
              tp_name[t], survivor_binds ? "bound" : "connecting", kills, kills - bigs, bigs, ms / 1000.0, warm_n,
              kills, warm.fds, end.fds, warm.heap / 1024, end.heap / 1024, warm_n, warm_heap_max / 1024, warm.rss,
              end.rss);
    assert_true(end.fds <= warm.fds); /* (warm may still count a closing one) */
    assert_true(end.heap <= warm_heap_max + HEAP_ALLOWANCE);
    /* The survivor still works, both ways in. */
    assert_int_equal(nn_send(steady, "last", 4, 0), 4);
    recv_until(s, "last", &bigs);
    assert_int_equal(nn_close(steady), 0);
    assert_int_equal(nn_close(s), 0);
}

/* A TLS handshake costs the survivor and each peer some 100 ms of CPU:
   the short mode kills fewer tls+tcp peers. */
static int kills_bound(enum tp t)
{
    return t == TLS ? fx_pick(20, 300) : fx_pick(50, 300);
}

static int kills_connecting(enum tp t)
{
    return t == TLS ? fx_pick(5, 100) : fx_pick(15, 100);
}

static void test_tcp_bound_pull_survives_peers_killed_mid_message(void **state)
{
    (void) state;
    run(TCP, true, kills_bound(TCP));
}

static void test_tcp_connecting_pull_reconnects_to_peers_killed_mid_message(void **state)
{
    (void) state;
    run(TCP, false, kills_connecting(TCP));
}

static void test_ipc_bound_pull_survives_peers_killed_mid_message(void **state)
{
    (void) state;
    run(IPC, true, kills_bound(IPC));
}

static void test_ipc_connecting_pull_reconnects_to_peers_killed_mid_message(void **state)
{
    (void) state;
    run(IPC, false, kills_connecting(IPC));
}

#if FX_TLS
static void test_ws_bound_pull_survives_peers_killed_mid_message(void **state)
{
    (void) state;
    run(WS, true, kills_bound(WS));
}

static void test_ws_connecting_pull_reconnects_to_peers_killed_mid_message(void **state)
{
    (void) state;
    run(WS, false, kills_connecting(WS));
}

static void test_tls_bound_pull_survives_peers_killed_mid_message(void **state)
{
    (void) state;
    run(TLS, true, kills_bound(TLS));
}

static void test_tls_connecting_pull_reconnects_to_peers_killed_mid_message(void **state)
{
    (void) state;
    run(TLS, false, kills_connecting(TLS));
}
#endif

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FAULTPEER\n", argv[0]);
        return 2;
    }
    peer = argv[1];
    signal(SIGPIPE, SIG_IGN);
#if FX_TLS
    /* Both sides, here and in the peers, take their TLS material from the
       environment (nn_env(7)). */
    if (!fx_cert("ca.crt"))
        return tu_missing("openssl (it makes the test certificates)", "openssl");
    setenv("NN_TLS_CA_FILE", fx_cert("ca.crt"), 1);
    setenv("NN_TLS_CERT_FILE", fx_cert("server.crt"), 1);
    setenv("NN_TLS_KEY_FILE", fx_cert("server.key"), 1);
#endif
    if (getenv("FX_FILTER"))
        cmocka_set_test_filter(getenv("FX_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_bound_pull_survives_peers_killed_mid_message),
        cmocka_unit_test(test_tcp_connecting_pull_reconnects_to_peers_killed_mid_message),
        cmocka_unit_test(test_ipc_bound_pull_survives_peers_killed_mid_message),
        cmocka_unit_test(test_ipc_connecting_pull_reconnects_to_peers_killed_mid_message),
#if FX_TLS
        cmocka_unit_test(test_ws_bound_pull_survives_peers_killed_mid_message),
        cmocka_unit_test(test_ws_connecting_pull_reconnects_to_peers_killed_mid_message),
        cmocka_unit_test(test_tls_bound_pull_survives_peers_killed_mid_message),
        cmocka_unit_test(test_tls_connecting_pull_reconnects_to_peers_killed_mid_message),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
