/* PEER (nn_peer(7)): every message names its connection by a routing id, the
   endpoint id nn_connect returned for a connection it made, a fresh id for an
   accepted one. Addressing both ways on every transport, ids that survive
   reconnection, sends queued before the listener exists, per-connection flow
   control, errors, and many connections on one socket. nanosp only: PEER is
   not in libnanomsg. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/peer.h>
#include <nanomsg/tls.h>

#include "testutil.h"

#define URL_LEN 256
#define WAIT_MS 10000

enum transport { INPROC, IPC, TCP, WS, TLS };

static const char *certdir(void)
{
    static char dir[512];
    if (!dir[0]) {
        const char *src = getenv("NANOSP_SOURCE_DIR");
        char cmd[2048];
        snprintf(dir, sizeof dir, "%s/certs", tu_tmpdir());
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && '%s/tests/tls/mkcerts.sh' '%s' >/dev/null 2>&1", dir,
                 src ? src : ".", dir);
        assert_int_equal(system(cmd), 0);
    }
    return dir;
}

static void set_str(int s, int opt, const char *file)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", certdir(), file);
    assert_int_equal(nn_setsockopt(s, NN_TLS, opt, path, strlen(path)), 0);
}

/* A fresh address of transport t (the port is picked now: a listener that
   comes later binds it). */
static char *make_url(char *buf, enum transport t)
{
    static int seq;
    char name[64];
    snprintf(name, sizeof name, "peer-%d", ++seq);
    switch (t) {
    case INPROC:
        snprintf(buf, URL_LEN, "inproc://%s", name);
        break;
    case IPC:
        tu_ipc_url(buf, URL_LEN, name);
        break;
    case TCP:
        tu_tcp_url(buf, URL_LEN, tu_free_port());
        break;
    case WS:
        snprintf(buf, URL_LEN, "ws://127.0.0.1:%d", tu_free_port());
        break;
    case TLS:
        snprintf(buf, URL_LEN, "tls+tcp://localhost:%d", tu_free_port());
        break;
    }
    return buf;
}

static int peer_socket(void)
{
    int s = nn_socket(AF_SP, NN_PEER);
    assert_true(s >= 0);
    int ms = WAIT_MS;
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms), 0);
    ms = 20; /* quick reconnection */
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ms, sizeof ms), 0);
    return s;
}

static int do_bind(int s, enum transport t, const char *url)
{
    if (t == TLS) {
        set_str(s, NN_TLS_CERT_FILE, "server.crt");
        set_str(s, NN_TLS_KEY_FILE, "server.key");
    }
    char local[URL_LEN];
    if (t == TLS) {
        /* The certificate names localhost; the listener wants an address. */
        snprintf(local, sizeof local, "tls+tcp://127.0.0.1:%s", strrchr(url, ':') + 1);
        url = local;
    }
    int eid = nn_bind(s, url);
    assert_true(eid > 0);
    return eid;
}

static int do_connect(int s, enum transport t, const char *url)
{
    if (t == TLS)
        set_str(s, NN_TLS_CA_FILE, "ca.crt");
    int eid = nn_connect(s, url);
    assert_true(eid > 0);
    return eid;
}

/* nn_sendmsg of str to id: 0 or the errno. */
static int send_to(int s, uint32_t id, const char *str, int flags)
{
    struct nn_iovec iov = {(void *) str, strlen(str)};
    char ctrl[NN_CMSG_SPACE(sizeof(uint32_t))];
    memset(ctrl, 0, sizeof ctrl);
    struct nn_msghdr h = {&iov, 1, ctrl, sizeof ctrl};
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h);
    c->cmsg_len = NN_CMSG_LEN(sizeof id);
    c->cmsg_level = NN_PROTO_PEER;
    c->cmsg_type = NN_PEER_ID;
    memcpy(NN_CMSG_DATA(c), &id, sizeof id);
    int rc = nn_sendmsg(s, &h, flags);
    if (rc < 0)
        return nn_errno();
    assert_int_equal(rc, (int) strlen(str));
    return 0;
}

/* The NN_PEER_ID in a control buffer, 0 if none. */
static uint32_t id_of(struct nn_msghdr *h)
{
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(h); c; c = NN_CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == NN_PROTO_PEER && c->cmsg_type == NN_PEER_ID) {
            assert_int_equal(c->cmsg_len, NN_CMSG_LEN(sizeof(uint32_t)));
            uint32_t id;
            memcpy(&id, NN_CMSG_DATA(c), sizeof id);
            return id;
        }
    }
    return 0;
}

/* Receives a message, checks its body, returns the sender's id. */
static uint32_t recv_from(int s, const char *expect)
{
    char buf[2048];
    char ctrl[256];
    struct nn_iovec iov = {buf, sizeof buf};
    struct nn_msghdr h = {&iov, 1, ctrl, sizeof ctrl};
    int rc = nn_recvmsg(s, &h, 0);
    if (rc < 0)
        fail_msg("nn_recvmsg: %s", nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(expect));
    assert_memory_equal(buf, expect, (size_t) rc);
    uint32_t id = id_of(&h);
    assert_true(id != 0);
    return id;
}

/* Two clients connect to a server; each is answered on its own connection,
   the server by the ids it received, the clients by their endpoint ids. */
static void addressing_both_ways(enum transport t)
{
    char url[URL_LEN];
    int srv = peer_socket();
    int c1 = peer_socket();
    int c2 = peer_socket();
    int beid = do_bind(srv, t, make_url(url, t));
    int e1 = do_connect(c1, t, url);
    int e2 = do_connect(c2, t, url);
    /* Right after nn_connect: the message waits for the connection. */
    assert_int_equal(send_to(c1, (uint32_t) e1, "from c1", 0), 0);
    uint32_t a1 = recv_from(srv, "from c1");
    assert_int_equal(send_to(c2, (uint32_t) e2, "from c2", 0), 0);
    uint32_t a2 = recv_from(srv, "from c2");
    assert_true(a1 != a2);
    assert_true(a1 != (uint32_t) beid && a2 != (uint32_t) beid);

    assert_int_equal(send_to(srv, a2, "to c2", 0), 0);
    assert_int_equal(send_to(srv, a1, "to c1", 0), 0);
    assert_int_equal(recv_from(c1, "to c1"), (uint32_t) e1);
    assert_int_equal(recv_from(c2, "to c2"), (uint32_t) e2);
    /* Both ways again: the ids hold for a conversation. */
    assert_int_equal(send_to(c1, (uint32_t) e1, "again c1", 0), 0);
    assert_int_equal(recv_from(srv, "again c1"), a1);

    nn_close(c1);
    nn_close(c2);
    nn_close(srv);
}

static void test_peer_addresses_both_ways_inproc(void **state)
{
    (void) state;
    addressing_both_ways(INPROC);
}

static void test_peer_addresses_both_ways_ipc(void **state)
{
    (void) state;
    addressing_both_ways(IPC);
}

static void test_peer_addresses_both_ways_tcp(void **state)
{
    (void) state;
    addressing_both_ways(TCP);
}

#if HAVE_TLS
static void test_peer_addresses_both_ways_ws(void **state)
{
    (void) state;
    addressing_both_ways(WS);
}

static void test_peer_addresses_both_ways_tls(void **state)
{
    (void) state;
    addressing_both_ways(TLS);
}
#endif

/* The id comes in an NN_MSG control buffer too, after the SP header cmsg. */
static void test_peer_id_in_nn_msg_control_buffer(void **state)
{
    (void) state;
    char url[URL_LEN];
    int srv = peer_socket();
    int cli = peer_socket();
    do_bind(srv, INPROC, make_url(url, INPROC));
    int e = do_connect(cli, INPROC, url);
    assert_int_equal(send_to(cli, (uint32_t) e, "hi", 0), 0);
    void *body = NULL;
    void *ctrl = NULL;
    struct nn_iovec iov = {&body, NN_MSG};
    struct nn_msghdr h = {&iov, 1, &ctrl, NN_MSG};
    assert_int_equal(nn_recvmsg(srv, &h, 0), 2);
    uint32_t id = id_of(&h);
    assert_true(id != 0);
    nn_freemsg(body);
    nn_freemsg(ctrl);
    /* And the answer, with an NN_MSG control buffer of our own. */
    ctrl = nn_allocmsg(NN_CMSG_SPACE(sizeof id), 0);
    assert_non_null(ctrl);
    memset(ctrl, 0, NN_CMSG_SPACE(sizeof id));
    struct nn_cmsghdr ch = {NN_CMSG_LEN(sizeof id), NN_PROTO_PEER, NN_PEER_ID};
    memcpy(ctrl, &ch, sizeof ch);
    memcpy((char *) ctrl + NN_CMSG_SPACE(0), &id, sizeof id);
    struct nn_iovec iov2 = {"ok", 2};
    struct nn_msghdr h2 = {&iov2, 1, &ctrl, NN_MSG};
    assert_int_equal(nn_sendmsg(srv, &h2, 0), 2);
    assert_int_equal(recv_from(cli, "ok"), (uint32_t) e);
    nn_close(cli);
    nn_close(srv);
}

static void test_peer_send_without_id_is_einval(void **state)
{
    (void) state;
    char url[URL_LEN];
    int s = peer_socket();
    do_connect(s, INPROC, make_url(url, INPROC));
    assert_int_equal(nn_send(s, "x", 1, 0), -1);
    assert_int_equal(nn_errno(), EINVAL);
    struct nn_iovec iov = {"x", 1};
    struct nn_msghdr h = {&iov, 1, NULL, 0};
    assert_int_equal(nn_sendmsg(s, &h, 0), -1);
    assert_int_equal(nn_errno(), EINVAL);
    nn_close(s);
}

static void test_peer_unknown_id_is_ehostunreach(void **state)
{
    (void) state;
    char url[URL_LEN];
    int s = peer_socket();
    int b = do_bind(s, INPROC, make_url(url, INPROC));
    assert_int_equal(send_to(s, 12345, "x", 0), EHOSTUNREACH);
    assert_int_equal(send_to(s, 0, "x", 0), EHOSTUNREACH);
    /* A bound endpoint's id names no connection. */
    assert_int_equal(send_to(s, (uint32_t) b, "x", 0), EHOSTUNREACH);
    /* A connect id dies with nn_shutdown. */
    int k = do_connect(s, INPROC, make_url(url, INPROC));
    assert_int_equal(send_to(s, (uint32_t) k, "queued", NN_DONTWAIT), 0);
    assert_int_equal(nn_shutdown(s, k), 0);
    assert_int_equal(send_to(s, (uint32_t) k, "x", 0), EHOSTUNREACH);
    nn_close(s);
}

static void test_peer_has_no_raw_variant(void **state)
{
    (void) state;
    assert_int_equal(nn_socket(AF_SP_RAW, NN_PEER), -1);
    assert_int_equal(nn_errno(), EINVAL);
}

/* The connect id stays when the connection is made again: to a new
   listener at the same address. */
static void reconnect_keeps_id(enum transport t)
{
    char url[URL_LEN];
    int srv = peer_socket();
    int cli = peer_socket();
    do_bind(srv, t, make_url(url, t));
    int e = do_connect(cli, t, url);
    assert_int_equal(send_to(cli, (uint32_t) e, "one", 0), 0);
    uint32_t a = recv_from(srv, "one");
    assert_int_equal(send_to(srv, a, "r1", 0), 0);
    assert_int_equal(recv_from(cli, "r1"), (uint32_t) e);
    nn_close(srv);

    srv = peer_socket();
    do_bind(srv, t, url);
    /* Sent while the connection may still be the dead one: resend until
       the new listener hears from us. */
    uint64_t end = tu_now_ms() + WAIT_MS;
    int ms = 50;
    assert_int_equal(nn_setsockopt(srv, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms), 0);
    uint32_t a2 = 0;
    while (!a2 && tu_now_ms() < end) {
        assert_int_equal(send_to(cli, (uint32_t) e, "two", 0), 0);
        char buf[16];
        char ctrl[128];
        struct nn_iovec iov = {buf, sizeof buf};
        struct nn_msghdr h = {&iov, 1, ctrl, sizeof ctrl};
        if (nn_recvmsg(srv, &h, 0) == 3)
            a2 = id_of(&h);
    }
    assert_true(a2 != 0);
    assert_int_equal(send_to(srv, a2, "r2", 0), 0);
    assert_int_equal(recv_from(cli, "r2"), (uint32_t) e);
    nn_close(cli);
    nn_close(srv);
}

static void test_peer_reconnect_keeps_connect_id_tcp(void **state)
{
    (void) state;
    reconnect_keeps_id(TCP);
}

static void test_peer_reconnect_keeps_connect_id_inproc(void **state)
{
    (void) state;
    reconnect_keeps_id(INPROC);
}

/* A message sent right after nn_connect, before anything listens there, is
   delivered once the listener binds. */
static void send_before_listener(enum transport t)
{
    char url[URL_LEN];
    int cli = peer_socket();
    int e = do_connect(cli, t, make_url(url, t));
    assert_int_equal(send_to(cli, (uint32_t) e, "early", NN_DONTWAIT), 0);
    assert_int_equal(send_to(cli, (uint32_t) e, "early2", NN_DONTWAIT), 0);
    int srv = peer_socket();
    do_bind(srv, t, url);
    uint32_t a = recv_from(srv, "early");
    assert_int_equal(recv_from(srv, "early2"), a);
    assert_int_equal(send_to(srv, a, "late", 0), 0);
    assert_int_equal(recv_from(cli, "late"), (uint32_t) e);
    nn_close(cli);
    nn_close(srv);
}

static void test_peer_send_before_listener_exists_inproc(void **state)
{
    (void) state;
    send_before_listener(INPROC);
}

static void test_peer_send_before_listener_exists_ipc(void **state)
{
    (void) state;
    send_before_listener(IPC);
}

static void test_peer_send_before_listener_exists_tcp(void **state)
{
    (void) state;
    send_before_listener(TCP);
}

/* A connect id's queue holds NN_SNDBUF bytes while nothing is connected. */
static void test_peer_unconnected_queue_is_bounded_by_sndbuf(void **state)
{
    (void) state;
    char url[URL_LEN];
    int cli = peer_socket();
    int sz = 1024;
    assert_int_equal(nn_setsockopt(cli, NN_SOL_SOCKET, NN_SNDBUF, &sz, sizeof sz), 0);
    int e = do_connect(cli, INPROC, make_url(url, INPROC));
    char msg[300];
    memset(msg, 'q', sizeof msg - 1);
    msg[sizeof msg - 1] = 0;
    int sent = 0;
    while (send_to(cli, (uint32_t) e, msg, NN_DONTWAIT) == 0)
        assert_true(++sent < 100);
    assert_int_equal(sent, 4); /* taken while under 1024 bytes */
    assert_int_equal(send_to(cli, (uint32_t) e, msg, NN_DONTWAIT), EAGAIN);
    int ms = 30;
    assert_int_equal(nn_setsockopt(cli, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms), 0);
    assert_int_equal(send_to(cli, (uint32_t) e, msg, 0), ETIMEDOUT);
    /* The listener comes: everything queued arrives, and there is room. */
    int srv = peer_socket();
    do_bind(srv, INPROC, url);
    for (int i = 0; i < sent; i++)
        recv_from(srv, msg);
    ms = WAIT_MS;
    assert_int_equal(nn_setsockopt(cli, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms), 0);
    assert_int_equal(send_to(cli, (uint32_t) e, "more", 0), 0);
    recv_from(srv, "more");
    nn_close(cli);
    nn_close(srv);
}

/* One client never reads: sends to it fill up and fail alone, while the
   other client is still served, and a blocked send to the slow one is
   released when it reads. */
struct drain_arg {
    int s;
    int n;
};

static void drain_thread(void *arg)
{
    struct drain_arg *d = arg;
    char *buf = NULL;
    for (int i = 0; i < d->n; i++) {
        int rc = nn_recv(d->s, &buf, NN_MSG, 0);
        assert_true(rc >= 0);
        nn_freemsg(buf);
    }
}

static void slow_peer(enum transport t)
{
    char url[URL_LEN];
    int srv = peer_socket();
    int slow = peer_socket();
    int fast = peer_socket();
    int small = 4096;
    assert_int_equal(nn_setsockopt(srv, NN_SOL_SOCKET, NN_SNDBUF, &small, sizeof small), 0);
    assert_int_equal(nn_setsockopt(slow, NN_SOL_SOCKET, NN_RCVBUF, &small, sizeof small), 0);
    do_bind(srv, t, make_url(url, t));
    int es = do_connect(slow, t, url);
    int ef = do_connect(fast, t, url);
    assert_int_equal(send_to(slow, (uint32_t) es, "s", 0), 0);
    uint32_t as = recv_from(srv, "s");
    assert_int_equal(send_to(fast, (uint32_t) ef, "f", 0), 0);
    uint32_t af = recv_from(srv, "f");

    /* Fill the slow client's connection (and on a stream the kernel's
       buffers): sends to it go through until one has to wait, and times
       out alone. */
    static char big[1024];
    memset(big, 'b', sizeof big - 1);
    int ms = 100;
    assert_int_equal(nn_setsockopt(srv, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms), 0);
    int sent = 0;
    int rc;
    while ((rc = send_to(srv, as, big, 0)) == 0)
        assert_true(++sent < 100000);
    assert_int_equal(rc, ETIMEDOUT);
    assert_int_equal(send_to(srv, as, big, NN_DONTWAIT), EAGAIN);
    /* The fast client is served all the same, at once. */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(send_to(srv, af, "hello fast", NN_DONTWAIT), 0);
        assert_int_equal(recv_from(fast, "hello fast"), (uint32_t) ef);
    }
    /* Once the slow client reads, a blocked send to it goes through. */
    ms = WAIT_MS;
    assert_int_equal(nn_setsockopt(srv, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms), 0);
    struct drain_arg d = {slow, sent + 1};
    tu_thread th;
    tu_thread_start(&th, drain_thread, &d);
    assert_int_equal(send_to(srv, as, big, 0), 0);
    tu_thread_join(&th);
    nn_close(slow);
    nn_close(fast);
    nn_close(srv);
}

static void test_peer_slow_peer_does_not_block_another_inproc(void **state)
{
    (void) state;
    slow_peer(INPROC);
}

static void test_peer_slow_peer_does_not_block_another_ipc(void **state)
{
    (void) state;
    slow_peer(IPC);
}

/* nn_shutdown with an accepted id closes that connection: the id is gone,
   and the client's connector comes back under a new accepted id. */
static void test_peer_shutdown_drops_accepted_peer(void **state)
{
    (void) state;
    char url[URL_LEN];
    int srv = peer_socket();
    int cli = peer_socket();
    do_bind(srv, TCP, make_url(url, TCP));
    int e = do_connect(cli, TCP, url);
    assert_int_equal(send_to(cli, (uint32_t) e, "one", 0), 0);
    uint32_t a = recv_from(srv, "one");
    assert_int_equal(nn_shutdown(srv, (int) a), 0);
    assert_int_equal(send_to(srv, a, "x", 0), EHOSTUNREACH);
    assert_int_equal(nn_shutdown(srv, (int) a), -1);
    assert_int_equal(nn_errno(), EINVAL);

    int ms = 50;
    assert_int_equal(nn_setsockopt(srv, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms), 0);
    uint64_t end = tu_now_ms() + WAIT_MS;
    uint32_t a2 = 0;
    while (!a2 && tu_now_ms() < end) {
        assert_int_equal(send_to(cli, (uint32_t) e, "two", 0), 0);
        char buf[16];
        char ctrl[128];
        struct nn_iovec iov = {buf, sizeof buf};
        struct nn_msghdr h = {&iov, 1, ctrl, sizeof ctrl};
        if (nn_recvmsg(srv, &h, 0) == 3)
            a2 = id_of(&h);
    }
    assert_true(a2 != 0 && a2 != a);
    nn_close(cli);
    nn_close(srv);
}

/* The same over inproc, where no connector comes back: the client's
   connection is gone. */
static bool no_connections(void *arg)
{
    uint64_t v = nn_get_statistic(*(int *) arg, NN_STAT_CURRENT_CONNECTIONS);
    return v == 0;
}

static void test_peer_shutdown_drops_accepted_peer_inproc(void **state)
{
    (void) state;
    char url[URL_LEN];
    int srv = peer_socket();
    int cli = peer_socket();
    do_bind(srv, INPROC, make_url(url, INPROC));
    int e = do_connect(cli, INPROC, url);
    assert_int_equal(send_to(cli, (uint32_t) e, "one", 0), 0);
    uint32_t a = recv_from(srv, "one");
    assert_int_equal(nn_shutdown(srv, (int) a), 0);
    assert_int_equal(send_to(srv, a, "x", 0), EHOSTUNREACH);
    assert_true(tu_wait_until(no_connections, &cli, WAIT_MS));
    nn_close(cli);
    nn_close(srv);
}

/* Accepted ids never collide with endpoint ids, nor with each other. */
static void test_peer_accepted_ids_are_fresh(void **state)
{
    (void) state;
    char url[URL_LEN];
    int srv = peer_socket();
    int b = do_bind(srv, INPROC, make_url(url, INPROC));
    uint32_t seen[6] = {(uint32_t) b};
    for (int i = 1; i < 4; i++) {
        int cli = peer_socket();
        int e = do_connect(cli, INPROC, url);
        assert_int_equal(send_to(cli, (uint32_t) e, "x", 0), 0);
        seen[i] = recv_from(srv, "x");
        nn_close(cli);
    }
    char other[URL_LEN];
    seen[4] = (uint32_t) do_connect(srv, INPROC, make_url(other, INPROC));
    seen[5] = (uint32_t) do_bind(srv, INPROC, make_url(other, INPROC));
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            assert_true(seen[i] != seen[j]);
    nn_close(srv);
}

/* 1000 connections made by one socket to another: each one addressed by
   its own id both ways. */
static void many_peers(enum transport t, int n)
{
    char url[URL_LEN];
    int srv = peer_socket();
    int cli = peer_socket();
    do_bind(srv, t, make_url(url, t));
    int *eids = calloc((size_t) n, sizeof *eids);
    uint32_t *accepted = calloc((size_t) n, sizeof *accepted);
    assert_non_null(eids);
    assert_non_null(accepted);
    for (int i = 0; i < n; i++)
        eids[i] = do_connect(cli, t, url);
    char msg[32];
    for (int i = 0; i < n; i++) {
        snprintf(msg, sizeof msg, "%d", i);
        assert_int_equal(send_to(cli, (uint32_t) eids[i], msg, 0), 0);
    }
    for (int i = 0; i < n; i++) {
        char buf[32];
        char ctrl[128];
        struct nn_iovec iov = {buf, sizeof buf - 1};
        struct nn_msghdr h = {&iov, 1, ctrl, sizeof ctrl};
        int rc = nn_recvmsg(srv, &h, 0);
        assert_true(rc > 0);
        buf[rc] = 0;
        int k = atoi(buf);
        assert_true(k >= 0 && k < n);
        assert_int_equal(accepted[k], 0);
        accepted[k] = id_of(&h);
        assert_true(accepted[k] != 0);
    }
    for (int i = 0; i < n; i++) {
        snprintf(msg, sizeof msg, "%d", i);
        assert_int_equal(send_to(srv, accepted[i], msg, 0), 0);
    }
    for (int i = 0; i < n; i++) {
        char buf[32];
        char ctrl[128];
        struct nn_iovec iov = {buf, sizeof buf - 1};
        struct nn_msghdr h = {&iov, 1, ctrl, sizeof ctrl};
        int rc = nn_recvmsg(cli, &h, 0);
        assert_true(rc > 0);
        buf[rc] = 0;
        int k = atoi(buf);
        assert_true(k >= 0 && k < n);
        assert_int_equal(id_of(&h), (uint32_t) eids[k]);
    }
    free(eids);
    free(accepted);
    nn_close(cli);
    nn_close(srv);
}

static void test_peer_1000_peers_on_one_socket_inproc(void **state)
{
    (void) state;
    many_peers(INPROC, 1000);
}

static void test_peer_1000_peers_on_one_socket_tcp(void **state)
{
    (void) state;
    /* Two fds per connection in this process, and a few more. */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2200 && rl.rlim_max >= 2200) {
        rl.rlim_cur = 2200;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    assert_true(rl.rlim_cur >= 2200);
    many_peers(TCP, 1000);
}

/* A PEER talks to PEERs only. */
static void test_peer_refuses_other_protocols(void **state)
{
    (void) state;
    char url[URL_LEN];
    int srv = peer_socket();
    int pair = nn_socket(AF_SP, NN_PAIR);
    assert_true(pair >= 0);
    do_bind(srv, INPROC, make_url(url, INPROC));
    assert_true(nn_connect(pair, url) > 0);
    int ms = 100;
    assert_int_equal(nn_setsockopt(srv, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms), 0);
    assert_int_equal(nn_setsockopt(pair, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms), 0);
    assert_int_equal(nn_send(pair, "x", 1, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);
    nn_close(pair);
    nn_close(srv);
}

/* NN_RCVFD / NN_POLLIN: a message from any peer. NN_SNDFD / NN_POLLOUT:
   some id takes a message (a connect endpoint's queue, connected or not). */
static void test_peer_poll_readiness(void **state)
{
    (void) state;
    char url[URL_LEN];
    int lone = peer_socket();
    do_connect(lone, TCP, make_url(url, TCP)); /* nobody listens there */
    struct nn_pollfd lp = {lone, NN_POLLIN | NN_POLLOUT, 0};
    assert_int_equal(nn_poll(&lp, 1, 0), 1);
    assert_int_equal(lp.revents, NN_POLLOUT);
    nn_close(lone);

    int srv = peer_socket();
    do_bind(srv, INPROC, make_url(url, INPROC));
    struct nn_pollfd pfd = {srv, NN_POLLIN | NN_POLLOUT, 0};
    assert_int_equal(nn_poll(&pfd, 1, 0), 0); /* nobody to send to */
    int cli = peer_socket();
    int e = do_connect(cli, INPROC, url);
    pfd.fd = cli;
    assert_int_equal(nn_poll(&pfd, 1, 0), 1);
    assert_int_equal(pfd.revents, NN_POLLOUT);
    assert_int_equal(send_to(cli, (uint32_t) e, "x", 0), 0);
    pfd.fd = srv;
    pfd.revents = 0;
    assert_int_equal(nn_poll(&pfd, 1, WAIT_MS), 1);
    assert_true(pfd.revents & NN_POLLIN);
    assert_true(pfd.revents & NN_POLLOUT); /* the client can be answered */
    recv_from(srv, "x");
    nn_close(cli);
    nn_close(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_addresses_both_ways_inproc),
        cmocka_unit_test(test_peer_addresses_both_ways_ipc),
        cmocka_unit_test(test_peer_addresses_both_ways_tcp),
#if HAVE_TLS
        cmocka_unit_test(test_peer_addresses_both_ways_ws),
        cmocka_unit_test(test_peer_addresses_both_ways_tls),
#endif
        cmocka_unit_test(test_peer_id_in_nn_msg_control_buffer),
        cmocka_unit_test(test_peer_send_without_id_is_einval),
        cmocka_unit_test(test_peer_unknown_id_is_ehostunreach),
        cmocka_unit_test(test_peer_has_no_raw_variant),
        cmocka_unit_test(test_peer_reconnect_keeps_connect_id_tcp),
        cmocka_unit_test(test_peer_reconnect_keeps_connect_id_inproc),
        cmocka_unit_test(test_peer_send_before_listener_exists_inproc),
        cmocka_unit_test(test_peer_send_before_listener_exists_ipc),
        cmocka_unit_test(test_peer_send_before_listener_exists_tcp),
        cmocka_unit_test(test_peer_unconnected_queue_is_bounded_by_sndbuf),
        cmocka_unit_test(test_peer_slow_peer_does_not_block_another_inproc),
        cmocka_unit_test(test_peer_slow_peer_does_not_block_another_ipc),
        cmocka_unit_test(test_peer_shutdown_drops_accepted_peer),
        cmocka_unit_test(test_peer_shutdown_drops_accepted_peer_inproc),
        cmocka_unit_test(test_peer_accepted_ids_are_fresh),
        cmocka_unit_test(test_peer_1000_peers_on_one_socket_inproc),
        cmocka_unit_test(test_peer_1000_peers_on_one_socket_tcp),
        cmocka_unit_test(test_peer_refuses_other_protocols),
        cmocka_unit_test(test_peer_poll_readiness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
