/* When a socket option takes effect: at nn_bind/nn_connect, at each new
   connection, or at each message. libnanomsg 1.1.5 reads each option at a
   fixed moment (src/core/ep.h has the table); a program that changes an
   option on a socket that already has endpoints or connections sees the
   difference. Every case is observed from outside: what a raw peer receives
   or sees closed, the order in which messages arrive, NN_STAT_CURRENT_SND_-
   PRIORITY, the kernel options of the connection's fd (found by its
   addresses in /proc/self/fd), and counts of connection attempts seen by a
   raw listener within a deadline.

   Builds against Debian's libnanomsg too (every case passes there):
     gcc -DAGAINST_LIBNANOMSG -DSP_TEST_WS -I tests/common \
         tests/transport/optread.c tests/common/testutil*.c \
         /usr/lib/x86_64-linux-gnu/libnanomsg.so.5 -lcmocka -lpthread
   (the NN_IPV4ONLY case is ours only: libnanomsg aborts when the option
   changes between two connection attempts, its #1007). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cmocka.h>

#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>
#ifndef AGAINST_LIBNANOMSG
#include <nanomsg/keepalive.h>
#endif

#include "testutil.h"

enum kind { TCP, IPC, WS };

/* ---- plain peers ---- */

/* A TCP listener on 127.0.0.1:port (a port an nn socket may already be
   trying to reach). */
static int listen_on(int port)
{
    struct sockaddr_in sa;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) port);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

static void unix_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    strcpy(sa->sun_path, path);
}

static int unix_listen(const char *path)
{
    struct sockaddr_un sa;
    unix_addr(&sa, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

static int unix_connect(const char *path)
{
    int fd = tu_connect_ipc(path, 0);
    assert_true(fd >= 0);
    return fd;
}

/* Exchanges SP headers on a raw connection: ours for `protocol`, then the
   nn socket's, which it sends only once the connection is set up. */
static void sp_handshake(int fd, int protocol)
{
    uint8_t hdr[8], got[8];
    tu_sp_header(hdr, protocol);
    tu_raw_write(fd, hdr, 8);
    assert_true(tu_read_exact(fd, got, 8, TU_DEADLINE_MS));
    assert_true(memcmp(got, "\0SP\0", 4) == 0);
}

/* One message as a raw peer sends it on the given transport. */
static void raw_send_msg(int fd, enum kind kind, const char *body)
{
    size_t len = strlen(body);
    if (kind == WS) {
        tu_ws_write_frame(fd, 0x82, true, body, len);
        return;
    }
    assert_true(tu_write_frame(fd, kind == IPC, body, len));
}

/* ---- the nn socket's end of a connection, from outside ---- */

/* Whether a and b name the same TCP endpoint, a v4-mapped IPv6 address
   being the IPv4 one (a dual-stack listener sees AF_INET peers so). */
static void addr_norm(const struct sockaddr_storage *a, uint8_t out[18])
{
    memset(out, 0, 18);
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) a;
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        memcpy(out + 16, &in->sin_port, 2);
    } else if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) a;
        memcpy(out, &in6->sin6_addr, 16);
        memcpy(out + 16, &in6->sin6_port, 2);
    }
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    uint8_t na[18], nb[18];
    if ((a->ss_family != AF_INET && a->ss_family != AF_INET6) ||
        (b->ss_family != AF_INET && b->ss_family != AF_INET6))
        return false;
    addr_norm(a, na);
    addr_norm(b, nb);
    return memcmp(na, nb, sizeof na) == 0;
}

/* The fd of this process at the other end of the TCP connection `peer`
   (its local address is peer's remote one and the other way round), or -1. */
struct tcp_ends {
    int peer;
    struct sockaddr_storage pn, sn; /* peer's remote and local addresses */
};

static bool is_other_end(int fd, void *arg)
{
    const struct tcp_ends *e = arg;
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    if (fd == e->peer || getsockname(fd, (struct sockaddr *) &a, &al) != 0 || !same_addr(&a, &e->pn))
        return false;
    al = sizeof a;
    return getpeername(fd, (struct sockaddr *) &a, &al) == 0 && same_addr(&a, &e->sn);
}

static int tcp_other_end(int peer)
{
    struct tcp_ends e = {.peer = peer};
    socklen_t pl = sizeof e.pn, sl = sizeof e.sn;
    assert_int_equal(getpeername(peer, (struct sockaddr *) &e.pn, &pl), 0);
    assert_int_equal(getsockname(peer, (struct sockaddr *) &e.sn, &sl), 0);
    return tu_find_socket(is_other_end, &e);
}

/* Unix sockets have no per-connection names: the nn socket's end of a new
   ipc connection is the connected AF_UNIX socket named `path` (its own name
   when it accepted, its peer's when it connected) whose inode is not in
   seen[] (the ones found before). Adds it to seen[]. */
struct inodes {
    ino_t ino[16];
    int n;
};

/* The end of an ipc connection to find, and the fd found (-1: none yet). */
struct unix_end {
    const char *path;
    bool accepted;
    struct inodes *seen;
    int fd;
};

static bool is_new_unix_end(int fd, void *arg)
{
    const struct unix_end *want = arg;
    struct sockaddr_un own, peer;
    socklen_t ol = sizeof own, pl = sizeof peer;
    struct stat st;
    memset(&own, 0, sizeof own);
    memset(&peer, 0, sizeof peer);
    if (fstat(fd, &st) != 0 || getsockname(fd, (struct sockaddr *) &own, &ol) != 0 ||
        own.sun_family != AF_UNIX || getpeername(fd, (struct sockaddr *) &peer, &pl) != 0)
        return false;
    if (strcmp(want->accepted ? own.sun_path : peer.sun_path, want->path) != 0)
        return false;
    for (int i = 0; i < want->seen->n; i++)
        if (want->seen->ino[i] == st.st_ino)
            return false;
    if (want->seen->n < 16)
        want->seen->ino[want->seen->n++] = st.st_ino;
    return true;
}

static int unix_new_end(const char *path, bool accepted, struct inodes *seen)
{
    struct unix_end want = {path, accepted, seen, -1};
    return tu_find_socket(is_new_unix_end, &want);
}

static int sockopt_int(int fd, int level, int opt)
{
    int v = -1;
    socklen_t l = sizeof v;
    assert_int_equal(getsockopt(fd, level, opt, &v, &l), 0);
    return v;
}

/* What the kernel reports for SO_SNDBUF/SO_RCVBUF set to v on a socket of
   the family (Linux doubles the value and clamps it). */
static int kernel_buf(int family, int opt, int v)
{
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v), 0);
    int got = sockopt_int(fd, SOL_SOCKET, opt);
    close(fd);
    return got;
}

/* The connection fd's kernel buffers are what NN_SNDBUF=snd, NN_RCVBUF=rcv
   give. */
static void assert_bufs(int fd, int family, int snd, int rcv)
{
    assert_true(fd >= 0);
    assert_int_equal(sockopt_int(fd, SOL_SOCKET, SO_SNDBUF), kernel_buf(family, SO_SNDBUF, snd));
    assert_int_equal(sockopt_int(fd, SOL_SOCKET, SO_RCVBUF), kernel_buf(family, SO_RCVBUF, rcv));
}

static void set_bufs(int s, int snd, int rcv)
{
    tu_setint(s, NN_SOL_SOCKET, NN_SNDBUF, snd);
    tu_setint(s, NN_SOL_SOCKET, NN_RCVBUF, rcv);
}

/* Accepts the next connection within the deadline (the nn socket reconnects
   to a raw listener, or connects after it appeared). */
static int accept_next(int lfd)
{
    int fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    return fd;
}

/* accept_next for an nn socket speaking SP (tcp, ipc) of the given protocol:
   the handshake is answered at once, before the test looks for the nn
   socket's end of the connection. Unanswered, the connector gives up after
   its handshake timeout and closes that end, which a loaded machine (a
   TSan build, parallel tests) could let happen before the scan. */
static int accept_sp(int lfd, int protocol)
{
    int fd = accept_next(lfd);
    sp_handshake(fd, protocol);
    return fd;
}

/* A fresh address of the kind for an nn socket, and (tcp, ws) its port. */
static void fresh_url(enum kind kind, const char *name, char *url, size_t len, int *port, char *path)
{
    if (kind == IPC) {
        tu_ipc_url(url, len, name);
        strcpy(path, url + strlen("ipc://"));
        return;
    }
    *port = tu_free_port();
    snprintf(url, len, "%s://127.0.0.1:%d", kind == WS ? "ws" : "tcp", *port);
}

/* ---- NN_RCVMAXSIZE: read at every message header ---- */

/* A PULL bound on the kind's transport with a raw PUSH connected to it that
   has delivered one 3-byte message. */
struct pullpeer {
    int s;
    int fd;
    enum kind kind;
};

static void pullpeer_open(struct pullpeer *p, enum kind kind, const char *name, int rcvmaxsize)
{
    char url[256], path[256];
    int port = 0;
    p->kind = kind;
    p->s = tu_socket(AF_SP, NN_PULL);
    tu_setint(p->s, NN_SOL_SOCKET, NN_RCVMAXSIZE, rcvmaxsize);
    fresh_url(kind, name, url, sizeof url, &port, path);
    tu_bind(p->s, url);
    if (kind == WS) {
        p->fd = tu_ws_raw_client(port, "pull.sp.nanomsg.org");
    } else {
        p->fd = kind == IPC ? unix_connect(path) : tu_raw_connect(port);
        sp_handshake(p->fd, NN_PUSH);
    }
    raw_send_msg(p->fd, kind, "abc");
    tu_recv(p->s, "abc");
}

static void pullpeer_close(struct pullpeer *p)
{
    close(p->fd);
    assert_int_equal(nn_close(p->s), 0);
}

static bool raw_closed_now(int fd)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    char buf[256];
    while (poll(&pfd, 1, 0) == 1) {
        ssize_t n = read(fd, buf, sizeof buf); /* ws: the close frame */
        if (n <= 0)
            return true;
    }
    return false;
}

static void rcvmaxsize_lowered_drops(enum kind kind)
{
    struct pullpeer p;
    pullpeer_open(&p, kind, "maxsize-lowered", 100);
    tu_setint(p.s, NN_SOL_SOCKET, NN_RCVMAXSIZE, 4);
    raw_send_msg(p.fd, kind, "abcde");
    /* The receiver waits for the message, as an application would; the
       connection made before the change is dropped (ws: after a close
       frame) and the message never arrives. */
    tu_setint(p.s, NN_SOL_SOCKET, NN_RCVTIMEO, 20);
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    bool closed = false;
    while (!closed && tu_now_ms() < end) {
        char buf[16];
        assert_int_equal(nn_recv(p.s, buf, sizeof buf, 0), -1);
        assert_int_equal(nn_errno(), ETIMEDOUT);
        closed = raw_closed_now(p.fd);
    }
    assert_true(closed);
    pullpeer_close(&p);
}

static void rcvmaxsize_raised_lets_through(enum kind kind)
{
    struct pullpeer p;
    pullpeer_open(&p, kind, "maxsize-raised", 4);
    tu_setint(p.s, NN_SOL_SOCKET, NN_RCVMAXSIZE, 100);
    raw_send_msg(p.fd, kind, "abcde");
    tu_recv(p.s, "abcde");
    pullpeer_close(&p);
}

static void test_rcvmaxsize_lowered_after_connection_drops_next_oversize_message_tcp(void **state)
{
    (void) state;
    rcvmaxsize_lowered_drops(TCP);
}

static void test_rcvmaxsize_lowered_after_connection_drops_next_oversize_message_ipc(void **state)
{
    (void) state;
    rcvmaxsize_lowered_drops(IPC);
}

static void test_rcvmaxsize_raised_after_connection_lets_next_message_through_tcp(void **state)
{
    (void) state;
    rcvmaxsize_raised_lets_through(TCP);
}

static void test_rcvmaxsize_raised_after_connection_lets_next_message_through_ipc(void **state)
{
    (void) state;
    rcvmaxsize_raised_lets_through(IPC);
}

#ifdef SP_TEST_WS
static void test_rcvmaxsize_lowered_after_connection_drops_next_oversize_message_ws(void **state)
{
    (void) state;
    rcvmaxsize_lowered_drops(WS);
}

static void test_rcvmaxsize_raised_after_connection_lets_next_message_through_ws(void **state)
{
    (void) state;
    rcvmaxsize_raised_lets_through(WS);
}
#endif

/* ---- NN_SNDPRIO, NN_RCVPRIO: taken at nn_bind/nn_connect ---- */

struct prio_arg {
    int s;
};

static bool has_send_pipe(void *p)
{
    int64_t v = (int64_t) nn_get_statistic(((struct prio_arg *) p)->s, NN_STAT_CURRENT_SND_PRIORITY);
    return v > 0;
}

/* The priority of the PUSH's pipe once it has one. */
static int64_t send_priority(int push)
{
    struct prio_arg a = {push};
    assert_true(tu_wait_until(has_send_pipe, &a, TU_DEADLINE_MS));
    return (int64_t) nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY);
}

static bool no_send_pipe(void *p)
{
    int64_t v = (int64_t) nn_get_statistic(((struct prio_arg *) p)->s, NN_STAT_CURRENT_SND_PRIORITY);
    return v <= 0;
}

static void test_sndprio_is_taken_at_nn_connect_for_every_connection_of_the_endpoint(void **state)
{
    (void) state;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int push = tu_socket(AF_SP, NN_PUSH);
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 2);
    tu_connect(push, url); /* nobody listens yet */
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 5);
    int pull = tu_socket(AF_SP, NN_PULL);
    tu_bind(pull, url);
    assert_int_equal(send_priority(push), 2);
    /* A reconnection after another change still has the endpoint's value. */
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 7);
    assert_int_equal(nn_close(pull), 0);
    struct prio_arg a = {push};
    assert_true(tu_wait_until(no_send_pipe, &a, TU_DEADLINE_MS));
    pull = tu_socket(AF_SP, NN_PULL);
    tu_bind(pull, url);
    assert_int_equal(send_priority(push), 2);
    tu_send(push, "still works");
    tu_recv(pull, "still works");
    assert_int_equal(nn_close(pull), 0);
    assert_int_equal(nn_close(push), 0);
}

static void test_sndprio_is_taken_at_nn_bind_not_when_a_peer_connects(void **state)
{
    (void) state;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int push = tu_socket(AF_SP, NN_PUSH);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 3);
    tu_bind(push, url);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 6);
    int pull = tu_socket(AF_SP, NN_PULL);
    tu_connect(pull, url);
    assert_int_equal(send_priority(push), 3);
    assert_int_equal(nn_close(pull), 0);
    assert_int_equal(nn_close(push), 0);
}

/* The first of two waiting messages a PULL hands out comes from its
   higher-priority pipe. inproc delivers synchronously: once nn_send
   returned, the message waits in the receiving pipe. */
static void expect_first_from(int pull, int first_sender, int other_sender)
{
    tu_send(other_sender, "other");
    tu_send(first_sender, "first");
    tu_recv(pull, "first");
    tu_recv(pull, "other");
}

static void test_rcvprio_is_taken_at_nn_bind_and_nn_connect_not_when_a_peer_arrives(void **state)
{
    (void) state;
    /* Bound endpoints: h with 1, l with 16; the peers connect after the
       option was set to values that would reverse the order. */
    int pull = tu_socket(AF_SP, NN_PULL);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 1);
    tu_bind(pull, "inproc://optread-rcvprio-h");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 16);
    tu_bind(pull, "inproc://optread-rcvprio-l");
    int ph = tu_socket(AF_SP, NN_PUSH), pl = tu_socket(AF_SP, NN_PUSH);
    tu_connect(ph, "inproc://optread-rcvprio-h");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 1);
    tu_connect(pl, "inproc://optread-rcvprio-l");
    expect_first_from(pull, ph, pl);
    assert_int_equal(nn_close(pull), 0);
    assert_int_equal(nn_close(ph), 0);
    assert_int_equal(nn_close(pl), 0);

    /* Connecting endpoints, made before anyone listens. */
    pull = tu_socket(AF_SP, NN_PULL);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 16);
    tu_connect(pull, "inproc://optread-rcvprio-c16");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 1);
    tu_connect(pull, "inproc://optread-rcvprio-c1");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 16);
    int p1 = tu_socket(AF_SP, NN_PUSH), p16 = tu_socket(AF_SP, NN_PUSH);
    tu_bind(p1, "inproc://optread-rcvprio-c1");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 1);
    tu_bind(p16, "inproc://optread-rcvprio-c16");
    expect_first_from(pull, p1, p16);
    assert_int_equal(nn_close(pull), 0);
    assert_int_equal(nn_close(p1), 0);
    assert_int_equal(nn_close(p16), 0);
}

/* ---- NN_RECONNECT_IVL, NN_RECONNECT_IVL_MAX: taken at nn_connect ---- */

/* Accepts and at once closes connections until `want` were seen or the
   deadline passed; returns how many were seen. */
static int count_attempts(int lfd, int want)
{
    int n = 0;
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    while (n < want && tu_now_ms() < end) {
        int fd = tu_accept(lfd, (int) (end - tu_now_ms()) + 1);
        if (fd >= 0) {
            close(fd);
            n++;
        }
    }
    return n;
}

/* With the interval of nn_connect (10 ms) the nn socket comes back many
   times within the deadline; had it taken the later one (1000 s), it would
   come back once. */
static void reconnect_ivl_taken_at_connect(enum kind kind)
{
    char url[256], path[256];
    int port = 0;
    fresh_url(kind, "ivl", url, sizeof url, &port, path);
    int lfd = kind == IPC ? unix_listen(path) : listen_on(port);
    int s = tu_socket(AF_SP, NN_PUSH);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_connect(s, url);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 1000000);
    assert_int_equal(count_attempts(lfd, 8), 8);
    assert_int_equal(nn_close(s), 0);
    close(lfd);
}

static void test_reconnect_ivl_is_taken_at_nn_connect_tcp(void **state)
{
    (void) state;
    reconnect_ivl_taken_at_connect(TCP);
}

static void test_reconnect_ivl_is_taken_at_nn_connect_ipc(void **state)
{
    (void) state;
    reconnect_ivl_taken_at_connect(IPC);
}

static void test_reconnect_ivl_max_is_taken_at_nn_connect(void **state)
{
    (void) state;
    /* 10 ms, capped at 10 ms at nn_connect: no growth. Had the later cap
       (1000 s) been taken, the waits would double (10, 30, 70 ... 2550 ms)
       and 12 attempts would take more than 5 s. */
    int port = tu_free_port();
    char url[64];
    tu_tcp_url(url, sizeof url, port);
    int lfd = listen_on(port);
    int s = tu_socket(AF_SP, NN_PUSH);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 10);
    tu_connect(s, url);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 1000000);
    assert_int_equal(count_attempts(lfd, 12), 12);
    assert_int_equal(nn_close(s), 0);
    close(lfd);
}

/* ---- NN_SNDBUF, NN_RCVBUF, NN_TCP_NODELAY: read at each new connection ---- */

/* A connecting socket: each connection attempt sizes its socket with the
   values of that moment, the first one and every reconnection. */
static void bufs_read_per_connect_attempt(enum kind kind)
{
    char url[256], path[256];
    int port = 0;
    int family = kind == IPC ? AF_UNIX : AF_INET;
    struct inodes seen = {.n = 0};
    fresh_url(kind, "bufs-connect", url, sizeof url, &port, path);
    int s = tu_socket(AF_SP, NN_PULL);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    set_bufs(s, 50000, 60000);
    tu_connect(s, url); /* nobody listens yet: this attempt fails */
    set_bufs(s, 70000, 80000);
    int lfd = kind == IPC ? unix_listen(path) : listen_on(port);
    int c = accept_sp(lfd, NN_PUSH);
    /* The attempt that succeeded was made after the change. */
    assert_bufs(kind == IPC ? unix_new_end(path, false, &seen) : tcp_other_end(c), family, 70000, 80000);
    set_bufs(s, 90000, 100000);
    close(c);
    c = accept_sp(lfd, NN_PUSH);
    assert_bufs(kind == IPC ? unix_new_end(path, false, &seen) : tcp_other_end(c), family, 90000, 100000);
    close(c);
    assert_int_equal(nn_close(s), 0);
    close(lfd);
}

/* A bound socket: each accepted connection takes the values of the moment
   it is accepted. The nn socket's SP header (ws: the 101 response) tells that
   it has set the connection up. On tcp the options are first set after
   nn_bind only. */
static void bufs_read_per_accept(enum kind kind)
{
    char url[256], path[256];
    int port = 0;
    int family = kind == IPC ? AF_UNIX : AF_INET;
    struct inodes seen = {.n = 0};
    fresh_url(kind, "bufs-bind", url, sizeof url, &port, path);
    int s = tu_socket(AF_SP, NN_PULL);
    if (kind != TCP)
        set_bufs(s, 50000, 60000);
    tu_bind(s, url);
    set_bufs(s, 70000, 80000);
    int c[2];
    for (int i = 0; i < 2; i++) {
        if (kind == WS) {
            c[i] = tu_ws_raw_client(port, "pull.sp.nanomsg.org");
        } else {
            c[i] = kind == IPC ? unix_connect(path) : tu_raw_connect(port);
            sp_handshake(c[i], NN_PUSH);
        }
        int snd = i == 0 ? 70000 : 90000;
        assert_bufs(kind == IPC ? unix_new_end(path, true, &seen) : tcp_other_end(c[i]), family, snd,
                    snd + 10000);
        set_bufs(s, 90000, 100000);
    }
    close(c[0]);
    close(c[1]);
    assert_int_equal(nn_close(s), 0);
}

static void test_kernel_buffers_are_sized_at_each_connection_attempt_tcp(void **state)
{
    (void) state;
    bufs_read_per_connect_attempt(TCP);
}

static void test_kernel_buffers_are_sized_at_each_connection_attempt_ipc(void **state)
{
    (void) state;
    bufs_read_per_connect_attempt(IPC);
}

static void test_kernel_buffers_are_sized_at_each_accepted_connection_tcp(void **state)
{
    (void) state;
    bufs_read_per_accept(TCP);
}

static void test_kernel_buffers_are_sized_at_each_accepted_connection_ipc(void **state)
{
    (void) state;
    bufs_read_per_accept(IPC);
}

#ifdef SP_TEST_WS
static void test_kernel_buffers_are_sized_at_each_accepted_connection_ws(void **state)
{
    (void) state;
    bufs_read_per_accept(WS);
}
#endif

static void test_tcp_nodelay_is_read_at_each_tcp_connection(void **state)
{
    (void) state;
    /* Connecting: the value at each attempt. */
    int port = tu_free_port();
    char url[64];
    tu_tcp_url(url, sizeof url, port);
    int s = tu_socket(AF_SP, NN_PULL);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 0);
    tu_connect(s, url); /* refused */
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 1);
    int lfd = listen_on(port);
    int c = accept_sp(lfd, NN_PUSH);
    assert_int_equal(sockopt_int(tcp_other_end(c), IPPROTO_TCP, TCP_NODELAY) != 0, 1);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 0);
    close(c);
    c = accept_sp(lfd, NN_PUSH);
    assert_int_equal(sockopt_int(tcp_other_end(c), IPPROTO_TCP, TCP_NODELAY), 0);
    close(c);
    close(lfd);
    assert_int_equal(nn_close(s), 0);

    /* Bound: the value at each accept. */
    port = tu_free_port();
    tu_tcp_url(url, sizeof url, port);
    s = tu_socket(AF_SP, NN_PULL);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 0);
    tu_bind(s, url);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 1);
    int c1 = tu_raw_connect(port);
    /* raw_connect sets TCP_NODELAY on its own end only. */
    sp_handshake(c1, NN_PUSH);
    assert_int_equal(sockopt_int(tcp_other_end(c1), IPPROTO_TCP, TCP_NODELAY) != 0, 1);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 0);
    int c2 = tu_raw_connect(port);
    sp_handshake(c2, NN_PUSH);
    assert_int_equal(sockopt_int(tcp_other_end(c2), IPPROTO_TCP, TCP_NODELAY), 0);
    close(c1);
    close(c2);
    assert_int_equal(nn_close(s), 0);
}

#ifdef SP_TEST_WS
static void test_tcp_nodelay_is_not_applied_to_ws_connections(void **state)
{
    (void) state;
    int port = tu_free_port();
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    int s = tu_socket(AF_SP, NN_PAIR);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 1);
    tu_bind(s, url);
    int c = tu_ws_raw_client(port, "pair.sp.nanomsg.org");
    assert_int_equal(sockopt_int(tcp_other_end(c), IPPROTO_TCP, TCP_NODELAY), 0);
    close(c);
    assert_int_equal(nn_close(s), 0);
}
#endif

#ifndef AGAINST_LIBNANOMSG
/* nanosp's NN_TCP_KEEPALIVE, read like NN_TCP_NODELAY at each connection,
   on tcp and ws alike: the connection fd probes every third of the time
   (whole seconds, at least one) and gives up after it. */
static void assert_keepalive(int fd, int ms)
{
    assert_true(fd >= 0);
    int on = ms > 0, s = ms / 3000 < 1 ? 1 : ms / 3000;
    assert_int_equal(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE) != 0, on);
    assert_int_equal(sockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), ms);
    if (on) {
        assert_int_equal(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), s);
        assert_int_equal(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), s);
    }
}

static void test_tcp_keepalive_is_read_at_each_tcp_connection(void **state)
{
    (void) state;
    /* Connecting: the value at each attempt. */
    int port = tu_free_port();
    char url[64];
    tu_tcp_url(url, sizeof url, port);
    int s = tu_socket(AF_SP, NN_PULL);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_connect(s, url); /* refused */
    tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, 9000);
    int lfd = listen_on(port);
    int c = accept_sp(lfd, NN_PUSH);
    assert_keepalive(tcp_other_end(c), 9000);
    tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, 0);
    close(c);
    c = accept_sp(lfd, NN_PUSH);
    assert_keepalive(tcp_other_end(c), 0);
    close(c);
    close(lfd);
    assert_int_equal(nn_close(s), 0);

    /* Bound: the value at each accept (1 s probes below 6 s). */
    port = tu_free_port();
    tu_tcp_url(url, sizeof url, port);
    s = tu_socket(AF_SP, NN_PULL);
    tu_bind(s, url);
    tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, 2500);
    int c1 = tu_raw_connect(port);
    sp_handshake(c1, NN_PUSH);
    assert_keepalive(tcp_other_end(c1), 2500);
    tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, 0);
    int c2 = tu_raw_connect(port);
    sp_handshake(c2, NN_PUSH);
    assert_keepalive(tcp_other_end(c2), 0);
    close(c1);
    close(c2);
    assert_int_equal(nn_close(s), 0);
}

#ifdef SP_TEST_WS
static void test_tcp_keepalive_is_read_at_each_ws_connection(void **state)
{
    (void) state;
    /* Bound. */
    int port = tu_free_port();
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    int s = tu_socket(AF_SP, NN_PAIR);
    tu_bind(s, url);
    tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, 12000);
    int c = tu_ws_raw_client(port, "pair.sp.nanomsg.org");
    assert_keepalive(tcp_other_end(c), 12000);
    close(c);
    assert_int_equal(nn_close(s), 0);

    /* Connecting: the nn end of a connection the raw listener accepted
       (made before connect(); the test looks before the WebSocket
       handshake's deadline could close it). */
    port = tu_free_port();
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    s = tu_socket(AF_SP, NN_PAIR);
    tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, 4000);
    int lfd = listen_on(port);
    tu_connect(s, url);
    c = accept_next(lfd);
    assert_keepalive(tcp_other_end(c), 4000);
    close(c);
    close(lfd);
    assert_int_equal(nn_close(s), 0);
}
#endif
#endif

/* inproc: the receiver's NN_RCVBUF bounds the queue of each connection and
   is read when the connection is made. 10-byte messages: RCVBUF 1000 lets
   100 sends through before NN_DONTWAIT gives EAGAIN, RCVBUF 200 lets 20. */
static int sends_until_full(int push)
{
    int n = 0;
    while (n < 1000 && nn_send(push, "0123456789", 10, NN_DONTWAIT) == 10)
        n++;
    assert_int_equal(nn_errno(), EAGAIN);
    return n;
}

static void test_inproc_rcvbuf_is_read_when_the_connection_is_made(void **state)
{
    (void) state;
    /* The receiver binds, then changes the option, then a peer connects. */
    int pull = tu_socket(AF_SP, NN_PULL);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    tu_bind(pull, "inproc://optread-rcvbuf-a");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 1000);
    int push = tu_socket(AF_SP, NN_PUSH);
    tu_connect(push, "inproc://optread-rcvbuf-a");
    assert_int_equal(sends_until_full(push), 100);
    /* A later connection of the same endpoint takes the newer value. */
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 400);
    int push2 = tu_socket(AF_SP, NN_PUSH);
    tu_connect(push2, "inproc://optread-rcvbuf-a");
    assert_int_equal(sends_until_full(push2), 40);
    assert_int_equal(nn_close(push2), 0);
    assert_int_equal(nn_close(push), 0);
    assert_int_equal(nn_close(pull), 0);

    /* The receiver connects first, changes the option, then the peer binds. */
    pull = tu_socket(AF_SP, NN_PULL);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 1000);
    tu_connect(pull, "inproc://optread-rcvbuf-b");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    push = tu_socket(AF_SP, NN_PUSH);
    tu_bind(push, "inproc://optread-rcvbuf-b");
    assert_int_equal(sends_until_full(push), 20);
    assert_int_equal(nn_close(push), 0);
    assert_int_equal(nn_close(pull), 0);
}

/* ---- NN_WS_MSG_TYPE ---- */

#ifdef SP_TEST_WS
static int next_opcode(int fd)
{
    struct tu_ws_frame *fr = malloc(sizeof *fr);
    assert_non_null(fr);
    assert_true(tu_ws_read_frame(fd, fr, TU_DEADLINE_MS));
    int op = fr->b0 & 0x0f;
    free(fr);
    return op;
}

static bool no_connections(void *p)
{
    return nn_get_statistic(*(int *) p, NN_STAT_CURRENT_CONNECTIONS) == 0;
}

/* Waits until the socket has no connection left (a PUSH would otherwise
   send the next message to the one that is closing). */
static bool wait_no_connections(int s)
{
    return tu_wait_until(no_connections, &s, TU_DEADLINE_MS);
}

static void test_ws_msg_type_bound_endpoint_reads_it_at_each_accepted_connection(void **state)
{
    (void) state;
    int port = tu_free_port();
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    int s = tu_socket(AF_SP, NN_PUSH);
    tu_setint(s, NN_WS, NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_TEXT);
    tu_bind(s, url);
    tu_setint(s, NN_WS, NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_BINARY);
    int c1 = tu_ws_raw_client(port, "push.sp.nanomsg.org");
    tu_send(s, "one");
    assert_int_equal(next_opcode(c1), NN_WS_MSG_TYPE_BINARY);
    /* Not per message: the connection keeps what it was made with... */
    tu_setint(s, NN_WS, NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_TEXT);
    tu_send(s, "two");
    assert_int_equal(next_opcode(c1), NN_WS_MSG_TYPE_BINARY);
    /* ...and the next accepted connection takes the new value. */
    close(c1);
    assert_true(wait_no_connections(s));
    int c2 = tu_ws_raw_client(port, "push.sp.nanomsg.org");
    tu_send(s, "three");
    assert_int_equal(next_opcode(c2), NN_WS_MSG_TYPE_TEXT);
    close(c2);
    assert_int_equal(nn_close(s), 0);
}

static void test_ws_msg_type_connecting_endpoint_keeps_the_value_of_nn_connect(void **state)
{
    (void) state;
    int port = tu_free_port();
    char url[64], req[2048];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    int s = tu_socket(AF_SP, NN_PUSH);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_setint(s, NN_WS, NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_TEXT);
    tu_connect(s, url); /* refused until the listener below exists */
    tu_setint(s, NN_WS, NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_BINARY);
    int lfd = listen_on(port);
    int c = accept_next(lfd);
    tu_ws_raw_server_upgrade(c, "pull.sp.nanomsg.org", req, sizeof req);
    tu_send(s, "one");
    assert_int_equal(next_opcode(c), NN_WS_MSG_TYPE_TEXT);
    close(c);
    close(lfd);
    assert_int_equal(nn_close(s), 0);
}
#endif

/* ---- ipc without NN_SNDBUF/NN_RCVBUF: a kernel send buffer for large messages ---- */

#ifndef AGAINST_LIBNANOMSG
/* What both ends of an ipc connection ask for; the kernel doubles it and
   caps it at twice net.core.wmem_max. */
#define IPC_SNDBUF_AUTO (2 * 1024 * 1024)

static bool unix_end_appeared(void *arg)
{
    struct unix_end *e = arg;
    e->fd = unix_new_end(e->path, e->accepted, e->seen);
    return e->fd >= 0;
}

/* Unix sockets have no buffer autotuning: at net.core.wmem_default (208
   KiB) a 1 MiB message takes five writes, each after the peer drained the
   buffer to a quarter, where tcp over loopback writes it at once. While
   neither NN_SNDBUF nor NN_RCVBUF is set, both ends of an ipc connection
   ask for 2 MiB (libnanomsg: always NN_SNDBUF, 128 KiB). */
static void test_ipc_connections_get_a_large_kernel_send_buffer_while_nn_sndbuf_is_unset(void **state)
{
    (void) state;
    char url[256];
    tu_ipc_url(url, sizeof url, "sndbuf-auto");
    const char *path = url + strlen("ipc://");
    int want = kernel_buf(AF_UNIX, SO_SNDBUF, IPC_SNDBUF_AUTO);
    struct inodes seen = {.n = 0};

    /* Connecting: the nn end of a connection the raw listener has queued
       (sized before connect()). */
    int lfd = unix_listen(path);
    int push = nn_socket(AF_SP, NN_PUSH);
    assert_true(push >= 0);
    assert_true(nn_connect(push, url) >= 0);
    struct unix_end e = {path, false, &seen, -1};
    assert_true(tu_wait_until(unix_end_appeared, &e, TU_DEADLINE_MS));
    assert_int_equal(sockopt_int(e.fd, SOL_SOCKET, SO_SNDBUF), want);
    assert_int_equal(nn_close(push), 0);
    close(lfd);
    unlink(path);

    /* Accepting: the nn socket answers the SP header once it has set the
       connection up. */
    int pull = nn_socket(AF_SP, NN_PULL);
    assert_true(pull >= 0);
    assert_true(nn_bind(pull, url) >= 0);
    int c = unix_connect(path);
    unsigned char hdr[8];
    tu_sp_header(hdr, NN_PUSH);
    assert_true(tu_write_all(c, hdr, sizeof hdr));
    assert_true(tu_read_exact(c, hdr, sizeof hdr, TU_DEADLINE_MS));
    e = (struct unix_end){path, true, &seen, -1};
    assert_true(unix_end_appeared(&e));
    assert_int_equal(sockopt_int(e.fd, SOL_SOCKET, SO_SNDBUF), want);
    close(c);
    assert_int_equal(nn_close(pull), 0);
}
#endif

/* ---- NN_IPV4ONLY: connection attempts resolve with the current value ---- */

#ifndef AGAINST_LIBNANOMSG
static void test_ipv4only_each_connection_attempt_resolves_with_the_current_value(void **state)
{
    (void) state;
    /* A dual-stack listener on [::]: "localhost" reaches it from an AF_INET
       socket (NN_IPV4ONLY=1) or an AF_INET6 one (0, v4-mapped). */
    int lfd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    int zero = 0, one = 1;
    setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_any;
    assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 8), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *) &sa, &sl), 0);
    char url[64];
    snprintf(url, sizeof url, "tcp://localhost:%d", ntohs(sa.sin6_port));
    int s = tu_socket(AF_SP, NN_PUSH);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_connect(s, url);
    int c = accept_sp(lfd, NN_PULL);
    struct sockaddr_storage ss;
    socklen_t ssl = sizeof ss;
    assert_int_equal(getsockname(tcp_other_end(c), (struct sockaddr *) &ss, &ssl), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    tu_setint(s, NN_SOL_SOCKET, NN_IPV4ONLY, 0);
    close(c);
    c = accept_sp(lfd, NN_PULL);
    ssl = sizeof ss;
    assert_int_equal(getsockname(tcp_other_end(c), (struct sockaddr *) &ss, &ssl), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    close(c);
    close(lfd);
    assert_int_equal(nn_close(s), 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rcvmaxsize_lowered_after_connection_drops_next_oversize_message_tcp),
        cmocka_unit_test(test_rcvmaxsize_lowered_after_connection_drops_next_oversize_message_ipc),
        cmocka_unit_test(test_rcvmaxsize_raised_after_connection_lets_next_message_through_tcp),
        cmocka_unit_test(test_rcvmaxsize_raised_after_connection_lets_next_message_through_ipc),
#ifdef SP_TEST_WS
        cmocka_unit_test(test_rcvmaxsize_lowered_after_connection_drops_next_oversize_message_ws),
        cmocka_unit_test(test_rcvmaxsize_raised_after_connection_lets_next_message_through_ws),
#endif
        cmocka_unit_test(test_sndprio_is_taken_at_nn_connect_for_every_connection_of_the_endpoint),
        cmocka_unit_test(test_sndprio_is_taken_at_nn_bind_not_when_a_peer_connects),
        cmocka_unit_test(test_rcvprio_is_taken_at_nn_bind_and_nn_connect_not_when_a_peer_arrives),
        cmocka_unit_test(test_reconnect_ivl_is_taken_at_nn_connect_tcp),
        cmocka_unit_test(test_reconnect_ivl_is_taken_at_nn_connect_ipc),
        cmocka_unit_test(test_reconnect_ivl_max_is_taken_at_nn_connect),
        cmocka_unit_test(test_kernel_buffers_are_sized_at_each_connection_attempt_tcp),
        cmocka_unit_test(test_kernel_buffers_are_sized_at_each_connection_attempt_ipc),
        cmocka_unit_test(test_kernel_buffers_are_sized_at_each_accepted_connection_tcp),
        cmocka_unit_test(test_kernel_buffers_are_sized_at_each_accepted_connection_ipc),
#ifdef SP_TEST_WS
        cmocka_unit_test(test_kernel_buffers_are_sized_at_each_accepted_connection_ws),
#endif
        cmocka_unit_test(test_tcp_nodelay_is_read_at_each_tcp_connection),
#ifdef SP_TEST_WS
        cmocka_unit_test(test_tcp_nodelay_is_not_applied_to_ws_connections),
#endif
#ifndef AGAINST_LIBNANOMSG
        cmocka_unit_test(test_tcp_keepalive_is_read_at_each_tcp_connection),
#ifdef SP_TEST_WS
        cmocka_unit_test(test_tcp_keepalive_is_read_at_each_ws_connection),
#endif
#endif
        cmocka_unit_test(test_inproc_rcvbuf_is_read_when_the_connection_is_made),
#ifdef SP_TEST_WS
        cmocka_unit_test(test_ws_msg_type_bound_endpoint_reads_it_at_each_accepted_connection),
        cmocka_unit_test(test_ws_msg_type_connecting_endpoint_keeps_the_value_of_nn_connect),
#endif
#ifndef AGAINST_LIBNANOMSG
        cmocka_unit_test(test_ipc_connections_get_a_large_kernel_send_buffer_while_nn_sndbuf_is_unset),
        cmocka_unit_test(test_ipv4only_each_connection_attempt_resolves_with_the_current_value),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
