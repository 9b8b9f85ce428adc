/* A blocked nn_recv reading the connection itself. When the only pipe of a
   socket is a plain tcp or ipc stream, the thread blocked in nn_recv polls
   that connection's fd (a PAIR over tcp without a deadline: waits in a read
   of it) and decodes and delivers the message in its own thread, instead of
   waiting for the I/O thread. These tests pin what must
   not change for the application along that path, over both tcp and ipc:
   messages arrive intact and in order, nn_close, NN_RCVTIMEO, the SURVEYOR
   deadline and signals still end the wait, a peer that leaves or breaks
   the wire protocol costs its connection, never the socket, and what arrives
   after such a recv is receivable at once without another blocking call.

   "Blocked" means seen sleeping in a poll/read/futex system call in /proc, so
   the event under test happens while the library waits, not before it does. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/survey.h>

#include "testutil.h"

#define URL_LEN 256
#define PROMPT_MS 2000 /* "promptly" */

/* A blocked recv with no deadline (a PAIR over tcp then waits in a read of
   its connection) and with one (it polls). */
static const int rcvtimeos[2] = {-1, TU_DEADLINE_MS};

enum kind { TCP, IPC };

static const char *kind_name(enum kind kind)
{
    return kind == TCP ? "tcp" : "ipc";
}

/* A fresh address: a kernel-chosen free port, or a file in the test's own
   temporary directory (name made unique per call). */
struct addr {
    enum kind kind;
    int port; /* TCP */
    char url[URL_LEN];
};

static void addr_init(struct addr *a, enum kind kind, const char *name)
{
    static int seq;
    memset(a, 0, sizeof *a);
    a->kind = kind;
    if (kind == TCP) {
        a->port = tu_free_port();
        tu_tcp_url(a->url, sizeof a->url, a->port);
    } else {
        char file[64];
        snprintf(file, sizeof file, "%s-%d.ipc", name, seq++);
        tu_ipc_url(a->url, sizeof a->url, file);
    }
}

/* *a bound to addr, *b connected to it; one message each way proves that
   both ends have their pipe attached (the only one: PAIR). */
static void pair_connected(const struct addr *addr, int *a, int *b)
{
    *a = tu_socket(AF_SP, NN_PAIR);
    *b = tu_socket(AF_SP, NN_PAIR);
    tu_bind(*a, addr->url);
    tu_connect(*b, addr->url);
    tu_send(*b, "hello");
    tu_recv(*a, "hello");
    tu_send(*a, "hello");
    tu_recv(*b, "hello");
}

/* ---- a thread blocked in nn_recv ---- */

struct blocked_recv {
    int s;
    atomic_int tid;  /* 0 until the thread runs */
    atomic_bool done;
    int rc;
    int err;
    uint64_t end_ms;
    char buf[256];
};

static void blocked_recv_fn(void *arg)
{
    struct blocked_recv *b = arg;
    atomic_store(&b->tid, (int) syscall(SYS_gettid));
    b->rc = tu_recv_str(b->s, b->buf, sizeof b->buf, 0);
    b->err = errno;
    b->end_ms = tu_now_ms();
    atomic_store(&b->done, true);
}

static bool recv_returned(void *arg)
{
    return atomic_load(&((struct blocked_recv *) arg)->done);
}

struct blocked_probe {
    struct blocked_recv *b;
    bool poll_only;
    int streak;
};

/* Seen sleeping three times in a row, a millisecond apart: not just passing
   through a briefly contended lock. */
static bool recv_is_blocked(void *arg)
{
    struct blocked_probe *p = arg;
    int tid = atomic_load(&p->b->tid);
    if (tid == 0 || atomic_load(&p->b->done) || !tu_thread_sleeps(tid, p->poll_only))
        p->streak = 0;
    else
        p->streak++;
    return p->streak >= 3;
}

/* Starts a thread that blocks in nn_recv(s) and returns once it sleeps
   there (in poll() with poll_only). */
static void start_blocked_recv_in(tu_thread *t, struct blocked_recv *b, int s, bool poll_only)
{
    struct blocked_probe probe = {b, poll_only, 0};
    memset(b, 0, sizeof *b);
    b->s = s;
    atomic_init(&b->tid, 0);
    atomic_init(&b->done, false);
    b->rc = 99;
    tu_thread_start(t, blocked_recv_fn, b);
    if (!tu_wait_until(recv_is_blocked, &probe, TU_DEADLINE_MS))
        fprintf(stderr, "the receiving thread never blocked (returned: %d)\n", (int) atomic_load(&b->done));
    assert_true(probe.streak >= 3);
}

static void start_blocked_recv(tu_thread *t, struct blocked_recv *b, int s)
{
    start_blocked_recv_in(t, b, s, false);
}

/* Joins the thread and checks it received exactly str. */
static void expect_received(tu_thread *t, struct blocked_recv *b, const char *str)
{
    if (!tu_wait_until(recv_returned, b, TU_DEADLINE_MS + 1000))
        fail_msg("nn_recv still blocked, expecting \"%s\"", str);
    tu_thread_join(t);
    if (b->rc < 0)
        fprintf(stderr, "nn_recv expecting \"%s\": %s\n", str, nn_strerror(b->err));
    assert_int_equal(b->rc, (int) strlen(str));
    assert_string_equal(b->buf, str);
}

/* ---- 1. ping-pong ---- */

#define ROUND_TRIPS 2000
#define PP_MAX 1100

struct pinger {
    int s;
    bool echo; /* echo side: receive first, send back what came */
    int cpu;   /* pin to this CPU, or -1 */
    char error[160];
};

/* Message i: "<i>:" then a body whose length and bytes depend on i. */
static size_t pp_fill(char *buf, int i)
{
    size_t n = (size_t) snprintf(buf, 16, "%d:", i);
    size_t len = n + (size_t) ((i * 37) % 1000);
    for (size_t k = n; k < len; k++)
        buf[k] = (char) ('a' + (i + (int) k) % 26);
    return len;
}

static void pinger_fn(void *arg)
{
    struct pinger *p = arg;
    char want[PP_MAX];
    char got[PP_MAX];

    if (p->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(p->cpu, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
            snprintf(p->error, sizeof p->error, "pthread_setaffinity_np failed");
            return;
        }
    }
    for (int i = 0; i < ROUND_TRIPS; i++) {
        size_t len = pp_fill(want, i);
        int rc;
        if (!p->echo && nn_send(p->s, want, len, 0) != (int) len) {
            snprintf(p->error, sizeof p->error, "send %d: %s", i, nn_strerror(nn_errno()));
            return;
        }
        rc = nn_recv(p->s, got, sizeof got, 0);
        if (rc < 0) {
            snprintf(p->error, sizeof p->error, "%s recv %d: %s", p->echo ? "echo" : "ping", i,
                     nn_strerror(nn_errno()));
            return;
        }
        if ((size_t) rc != len || memcmp(got, want, len) != 0) {
            snprintf(p->error, sizeof p->error, "%s recv %d: got %d bytes \"%.12s...\", want %zu \"%.12s...\"",
                     p->echo ? "echo" : "ping", i, rc, got, len, want);
            return;
        }
        if (p->echo && nn_send(p->s, got, (size_t) rc, 0) != rc) {
            snprintf(p->error, sizeof p->error, "echo send %d: %s", i, nn_strerror(nn_errno()));
            return;
        }
    }
}

static void run_ping_pong(enum kind kind, bool pinned)
{
    struct addr addr;
    struct pinger ping, echo;
    tu_thread tp, te;
    int a, b, first = -1, last = -1;

    if (pinned) {
        /* One CPU per thread: a blocked recv skips spinning and always waits
           in the connection's fd. */
        cpu_set_t set;
        assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof set, &set), 0);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) {
                if (first < 0)
                    first = c;
                last = c;
            }
        assert_true(first >= 0);
    }
    addr_init(&addr, kind, "pingpong");
    pair_connected(&addr, &a, &b);
    memset(&ping, 0, sizeof ping);
    memset(&echo, 0, sizeof echo);
    ping.s = b;
    ping.cpu = first;
    echo.s = a;
    echo.echo = true;
    echo.cpu = last;
    tu_thread_start(&te, pinger_fn, &echo);
    tu_thread_start(&tp, pinger_fn, &ping);
    tu_thread_join(&tp);
    if (ping.error[0])
        nn_close(a); /* frees an echo thread waiting for a message that never comes */
    tu_thread_join(&te);
    if (ping.error[0] || echo.error[0])
        fprintf(stderr, "%s%s: ping: %s / echo: %s\n", kind_name(kind), pinned ? " pinned" : "", ping.error,
                echo.error);
    assert_string_equal(ping.error, "");
    assert_string_equal(echo.error, "");
    tu_recv_nothing(a);
    tu_recv_nothing(b);
    tu_close(a);
    tu_close(b);
}

static void test_ping_pong_2000_round_trips_arrive_intact_and_in_order(void **state)
{
    (void) state;
    run_ping_pong(TCP, false);
    run_ping_pong(IPC, false);
}

static void test_ping_pong_2000_round_trips_with_threads_on_one_cpu_each(void **state)
{
    (void) state;
    run_ping_pong(TCP, true);
    run_ping_pong(IPC, true);
}

/* ---- 2. nn_close ---- */

static void run_close_wakes_blocked_recv(enum kind kind, int timeo)
{
    struct addr addr;
    static struct blocked_recv r; /* static: outlives a failed test's frame */
    tu_thread t;
    int a, b;
    uint64_t start;

    addr_init(&addr, kind, "close");
    pair_connected(&addr, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, timeo);
    start_blocked_recv(&t, &r, a);
    start = tu_now_ms();
    tu_close(a);
    if (!tu_wait_until(recv_returned, &r, TU_DEADLINE_MS + 1000))
        fail_msg("%s: nn_recv still blocked after nn_close", kind_name(kind));
    tu_thread_join(&t);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.err, EBADF);
    assert_true(r.end_ms - start < PROMPT_MS);
    tu_close(b);
}

static void test_nn_close_makes_blocked_recv_fail_with_ebadf_promptly(void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++) {
        run_close_wakes_blocked_recv(TCP, rcvtimeos[i]);
        run_close_wakes_blocked_recv(IPC, rcvtimeos[i]);
    }
}

/* ---- 3. NN_RCVTIMEO ---- */

static void run_rcvtimeo(enum kind kind)
{
    struct addr addr;
    char buf[16];
    int a, b, rc, err;
    uint64_t start, took;

    addr_init(&addr, kind, "rcvtimeo");
    pair_connected(&addr, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, 100);
    start = tu_now_ms();
    rc = nn_recv(a, buf, sizeof buf, 0);
    err = nn_errno();
    took = tu_now_ms() - start;
    if (rc != -1 || err != ETIMEDOUT || took < 90 || took >= PROMPT_MS)
        fprintf(stderr, "%s: nn_recv -> %d (%s) after %llu ms\n", kind_name(kind), rc, nn_strerror(err),
                (unsigned long long) took);
    assert_int_equal(rc, -1);
    assert_int_equal(err, ETIMEDOUT);
    assert_true(took >= 90);
    assert_true(took < PROMPT_MS);
    /* The connection is still fine. */
    tu_send(b, "after");
    tu_recv(a, "after");
    tu_close(a);
    tu_close(b);
}

static void test_rcvtimeo_100ms_on_idle_connection_fails_with_etimedout(void **state)
{
    (void) state;
    run_rcvtimeo(TCP);
    run_rcvtimeo(IPC);
}

/* ---- 4. the peer leaves ---- */

static void run_peer_leaves(enum kind kind, int timeo)
{
    struct addr addr;
    static struct blocked_recv r; /* static: outlives a failed test's frame */
    tu_thread t;
    int a, b, c;

    addr_init(&addr, kind, "leaves");
    pair_connected(&addr, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, timeo);
    start_blocked_recv(&t, &r, a);
    tu_close(b);
    /* The connection is gone from A while the recv keeps waiting. */
    tu_wait_stat(a, NN_STAT_CURRENT_CONNECTIONS, 0);
    assert_false(atomic_load(&r.done));

    c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, addr.url);
    tu_send(c, "again");
    expect_received(&t, &r, "again");
    tu_close(a);
    tu_close(c);
}

static void test_blocked_recv_survives_peer_leaving_and_gets_next_peers_message(void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++) {
        run_peer_leaves(TCP, rcvtimeos[i]);
        run_peer_leaves(IPC, rcvtimeos[i]);
    }
}

/* ---- 4b. our own end of the connection goes ---- */

/* nn_shutdown of the endpoint that accepted the connection: the I/O thread
   closes the connection the recv is waiting on (over tcp, reading it), and
   the recv goes on waiting for the next one. */
static void run_own_endpoint_shut_down(enum kind kind, int timeo)
{
    struct addr addr, addr2;
    static struct blocked_recv r; /* static: outlives a failed test's frame */
    tu_thread t;
    int a, b, c;

    addr_init(&addr, kind, "own");
    addr_init(&addr2, kind, "own2");
    a = tu_socket(AF_SP, NN_PAIR);
    b = tu_socket(AF_SP, NN_PAIR);
    int eid = tu_bind(a, addr.url);
    tu_connect(b, addr.url);
    tu_send(b, "hello");
    tu_recv(a, "hello");
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, timeo);
    start_blocked_recv(&t, &r, a);
    assert_int_equal(nn_shutdown(a, eid), 0);
    tu_wait_stat(a, NN_STAT_CURRENT_CONNECTIONS, 0);
    assert_false(atomic_load(&r.done));

    tu_bind(a, addr2.url);
    c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, addr2.url);
    tu_send(c, "again");
    expect_received(&t, &r, "again");
    tu_close(a);
    tu_close(b);
    tu_close(c);
}

static void test_blocked_recv_survives_its_endpoint_shut_down_and_gets_next_connections_message(void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++) {
        run_own_endpoint_shut_down(TCP, rcvtimeos[i]);
        run_own_endpoint_shut_down(IPC, rcvtimeos[i]);
    }
}

/* ---- 4c. two threads receiving on one socket ---- */

/* One reads the connection, the other waits for the socket: each of two
   messages ends one of the two recvs. */
static void run_two_receivers(enum kind kind, int timeo)
{
    struct addr addr;
    static struct blocked_recv r1, r2; /* static: outlive a failed test's frame */
    tu_thread t1, t2;
    int a, b;

    addr_init(&addr, kind, "two");
    pair_connected(&addr, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, timeo);
    start_blocked_recv(&t1, &r1, a);
    start_blocked_recv(&t2, &r2, a);
    tu_send(b, "one");
    tu_send(b, "two");
    if (!tu_wait_until(recv_returned, &r1, TU_DEADLINE_MS + 1000) ||
        !tu_wait_until(recv_returned, &r2, TU_DEADLINE_MS + 1000))
        fail_msg("%s: a recv still blocked after two messages", kind_name(kind));
    tu_thread_join(&t1);
    tu_thread_join(&t2);
    if (r1.rc != 3 || r2.rc != 3)
        fprintf(stderr, "%s: recvs -> %d (%s), %d (%s)\n", kind_name(kind), r1.rc, nn_strerror(r1.err), r2.rc,
                nn_strerror(r2.err));
    assert_int_equal(r1.rc, 3);
    assert_int_equal(r2.rc, 3);
    assert_true((strcmp(r1.buf, "one") == 0 && strcmp(r2.buf, "two") == 0) ||
                (strcmp(r1.buf, "two") == 0 && strcmp(r2.buf, "one") == 0));
    tu_close(a);
    tu_close(b);
}

static void test_two_threads_blocked_in_recv_on_one_socket_get_one_message_each(void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++) {
        run_two_receivers(TCP, rcvtimeos[i]);
        run_two_receivers(IPC, rcvtimeos[i]);
    }
}

/* ---- 5. a peer breaking the wire protocol (tcp) ---- */

static void be64(unsigned char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        *out++ = (unsigned char) (v >> (8 * i));
}

static void test_tcp_oversize_frame_drops_connection_while_recv_keeps_waiting(void **state)
{
    (void) state;
    static const unsigned char pair_hdr[8] = {0x00, 'S', 'P', 0x00, 0x00, 0x10, 0x00, 0x00};
    unsigned char frame[8 + 5];
    unsigned char hdr[8];
    struct addr addr;
    static struct blocked_recv r; /* static: outlives a failed test's frame */
    tu_thread t;
    int a, c, fd;

    addr_init(&addr, TCP, NULL);
    a = tu_socket(AF_SP, NN_PAIR);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVMAXSIZE, 1024);
    tu_bind(a, addr.url);

    /* A raw peer: valid handshake, one valid frame (so A's pipe is attached
       and in use), then A's recv blocks on that connection. */
    fd = tu_connect_tcp(addr.port, 0);
    assert_true(fd >= 0);
    tu_raw_write(fd, pair_hdr, sizeof pair_hdr);
    assert_true(tu_read_exact(fd, hdr, sizeof hdr, TU_DEADLINE_MS));
    assert_memory_equal(hdr, pair_hdr, sizeof hdr);
    be64(frame, 5);
    memcpy(frame + 8, "valid", 5);
    tu_raw_write(fd, frame, sizeof frame);
    tu_recv(a, "valid");
    start_blocked_recv(&t, &r, a);

    /* A frame announced as 1 MiB, over A's NN_RCVMAXSIZE of 1024. */
    be64(frame, 1024 * 1024);
    tu_raw_write(fd, frame, 8);
    assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
    close(fd);
    tu_wait_stat(a, NN_STAT_CURRENT_CONNECTIONS, 0);
    assert_false(atomic_load(&r.done));

    c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, addr.url);
    tu_send(c, "good");
    expect_received(&t, &r, "good");
    tu_close(a);
    tu_close(c);
}

/* ---- 6. SURVEYOR deadline ---- */

static void run_survey_deadline(enum kind kind)
{
    struct addr addr;
    char buf[16];
    int sv, rs, rc, err;
    uint64_t sent = 0, took;
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    bool reached = false;

    addr_init(&addr, kind, "survey");
    sv = tu_socket(AF_SP, NN_SURVEYOR);
    rs = tu_socket(AF_SP, NN_RESPONDENT);
    tu_setint(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, 200);
    tu_bind(sv, addr.url);
    tu_connect(rs, addr.url);
    /* A survey sent before the connection is up reaches nobody: survey until
       the respondent got one (it never answers). */
    tu_setint(rs, NN_SOL_SOCKET, NN_RCVTIMEO, 100);
    while (!reached && tu_now_ms() < end) {
        sent = tu_now_ms();
        assert_int_equal(nn_send(sv, "survey", 6, 0), 6);
        reached = tu_recv_str(rs, buf, sizeof buf, 0) == 6;
    }
    assert_true(reached);
    assert_string_equal(buf, "survey");

    rc = nn_recv(sv, buf, sizeof buf, 0);
    err = nn_errno();
    took = tu_now_ms() - sent;
    if (rc != -1 || err != ETIMEDOUT || took < 180 || took >= PROMPT_MS)
        fprintf(stderr, "%s: surveyor nn_recv -> %d (%s) %llu ms after the survey\n", kind_name(kind), rc,
                nn_strerror(err), (unsigned long long) took);
    assert_int_equal(rc, -1);
    assert_int_equal(err, ETIMEDOUT);
    assert_true(took >= 180);
    assert_true(took < PROMPT_MS);
    tu_close(sv);
    tu_close(rs);
}

static void test_surveyor_recv_fails_with_etimedout_at_the_deadline(void **state)
{
    (void) state;
    run_survey_deadline(TCP);
    run_survey_deadline(IPC);
}

/* ---- 7. signals ---- */

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void) sig;
    handled = 1;
}

static void run_signal(enum kind kind, int sa_flags)
{
    struct sigaction sa, old;
    struct addr addr;
    static struct blocked_recv r; /* static: outlives a failed test's frame */
    tu_thread t;
    int a, b;
    uint64_t end;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = sa_flags;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    handled = 0;

    addr_init(&addr, kind, "signal");
    pair_connected(&addr, &a, &b);
    start_blocked_recv(&t, &r, a);
    /* Signal until the call gives up: a signal landing while the thread is
       between two waits is just handled, and the wait goes on. */
    end = tu_now_ms() + TU_DEADLINE_MS;
    while (!recv_returned(&r) && tu_now_ms() < end) {
        pthread_kill((pthread_t) t.handle, SIGUSR1);
        tu_wait_until(recv_returned, &r, 20);
    }
    tu_thread_join(&t);
    if (r.rc != -1 || r.err != EINTR)
        fprintf(stderr, "%s, sa_flags %#x: nn_recv -> %d (%s)\n", kind_name(kind), (unsigned) sa_flags, r.rc,
                nn_strerror(r.err));
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.err, EINTR);
    assert_true(handled);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);

    /* The socket is still usable. */
    tu_send(b, "after");
    tu_recv(a, "after");
    tu_close(a);
    tu_close(b);
}

static void test_signal_makes_blocked_recv_fail_with_eintr(void **state)
{
    (void) state;
    run_signal(TCP, 0);
    run_signal(IPC, 0);
}

static void test_signal_makes_blocked_recv_fail_with_eintr_even_with_sa_restart(void **state)
{
    (void) state;
    run_signal(TCP, SA_RESTART);
    run_signal(IPC, SA_RESTART);
}

/* ---- 8. a message that arrived after a blocking recv ----

   The blocking recv above read the connection in its own thread, and the
   library may then leave the next message in the kernel until somebody asks
   (nanosp reads lazily there). Whoever asks without blocking must see what
   has arrived: nn_recv(NN_DONTWAIT), NN_RCVFD (also when it is first fetched
   only now) and nn_poll. The peer is a plain socket, so that the test knows
   when a message is in the receiving kernel: once the peer's TCP send queue
   is acknowledged, or once send() returned on a unix socket.

   In nanosp the answer is immediate. libnanomsg's I/O thread reads on its
   own schedule, so against it "at once" becomes "within the deadline". */

/* A bound PAIR socket with a plain-socket peer that did the handshake. */
struct rawpeer {
    struct addr addr;
    int s;
    int fd;
};

static void rawpeer_open(struct rawpeer *p, enum kind kind, const char *name)
{
    unsigned char hdr[8], got[8];
    addr_init(&p->addr, kind, name);
    p->s = tu_socket(AF_SP, NN_PAIR);
    tu_bind(p->s, p->addr.url);
    p->fd = kind == TCP ? tu_connect_tcp(p->addr.port, 0) : tu_connect_ipc(p->addr.url + strlen("ipc://"), 0);
    assert_true(p->fd >= 0);
    tu_sp_header(hdr, NN_PAIR);
    assert_true(tu_write_all(p->fd, hdr, sizeof hdr));
    assert_true(tu_read_exact(p->fd, got, sizeof got, TU_DEADLINE_MS));
    assert_memory_equal(got, hdr, sizeof hdr);
    tu_wait_stat(p->s, NN_STAT_CURRENT_CONNECTIONS, 1);
}

static void rawpeer_close(struct rawpeer *p)
{
    close(p->fd);
    tu_close(p->s);
}

/* The peer sends str as one message. */
static void rawpeer_send(struct rawpeer *p, const char *str)
{
    assert_true(tu_write_frame(p->fd, p->addr.kind == IPC, str, strlen(str)));
}

/* Returns once what the peer sent is in the receiving kernel. */
static void rawpeer_wait_arrived(struct rawpeer *p)
{
    if (p->addr.kind == TCP)
        assert_true(tu_wait_acked(p->fd, TU_DEADLINE_MS));
}

/* nn_recv(s) blocks in poll() first, then the peer sends str. */
static void recv_while_blocked(struct rawpeer *p, const char *str)
{
    static struct blocked_recv r; /* static: outlives a failed test's frame */
    tu_thread t;
    start_blocked_recv_in(&t, &r, p->s, true);
    rawpeer_send(p, str);
    expect_received(&t, &r, str);
}

/* nn_recv(s, NN_DONTWAIT) gives str, a message that has arrived. */
static void expect_dontwait_recv(int s, const char *str)
{
    char buf[256];
    int rc = tu_recv_str(s, buf, sizeof buf, NN_DONTWAIT);
#ifdef AGAINST_LIBNANOMSG
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    while (rc < 0 && nn_errno() == EAGAIN && tu_now_ms() < end) {
        tu_sleep_ms(1);
        rc = tu_recv_str(s, buf, sizeof buf, NN_DONTWAIT);
    }
#endif
    if (rc < 0)
        fprintf(stderr, "nn_recv(NN_DONTWAIT) expecting \"%s\": %s\n", str, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(str));
    assert_string_equal(buf, str);
}

/* fd (a readiness fd) polls readable: at once, or within the deadline. */
static bool fd_ready(int fd, bool at_once)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, at_once ? 0 : TU_DEADLINE_MS) == 1 && (p.revents & POLLIN);
}

static bool ready_at_once(int fd)
{
#ifdef AGAINST_LIBNANOMSG
    return fd_ready(fd, false);
#else
    return fd_ready(fd, true);
#endif
}

static void run_dontwait_after_blocking_recv(enum kind kind)
{
    struct rawpeer p;
    rawpeer_open(&p, kind, "dontwait");
    recv_while_blocked(&p, "first");
    rawpeer_send(&p, "second");
    rawpeer_wait_arrived(&p);
    expect_dontwait_recv(p.s, "second");
    tu_recv_nothing(p.s);
    rawpeer_close(&p);
}

static void test_dontwait_recv_returns_a_message_that_arrived_after_a_blocking_recv(void **state)
{
    (void) state;
    run_dontwait_after_blocking_recv(TCP);
    run_dontwait_after_blocking_recv(IPC);
}

static void run_rcvfd_after_blocking_recv(enum kind kind)
{
    struct rawpeer p;
    int rcvfd, sndfd;
    rawpeer_open(&p, kind, "rcvfd");
    recv_while_blocked(&p, "first");
    rawpeer_send(&p, "second");
    rawpeer_wait_arrived(&p);
    /* Fetched for the first time only now. */
    rcvfd = tu_getint(p.s, NN_SOL_SOCKET, NN_RCVFD);
    assert_true(ready_at_once(rcvfd));
    sndfd = tu_getint(p.s, NN_SOL_SOCKET, NN_SNDFD);
    assert_true(fd_ready(sndfd, true));
    expect_dontwait_recv(p.s, "second");
    /* Level-triggered: nothing left, nothing reported; the next message is. */
    assert_false(fd_ready(rcvfd, true));
    rawpeer_send(&p, "third");
    assert_true(fd_ready(rcvfd, false));
    expect_dontwait_recv(p.s, "third");
    assert_false(fd_ready(rcvfd, true));
    rawpeer_close(&p);
}

static void test_rcvfd_first_fetched_after_a_blocking_recv_is_readable_for_an_arrived_message(void **state)
{
    (void) state;
    run_rcvfd_after_blocking_recv(TCP);
    run_rcvfd_after_blocking_recv(IPC);
}

static void run_nn_poll_after_blocking_recv(enum kind kind)
{
    struct rawpeer p;
    struct nn_pollfd pfd;
    int rc;
    rawpeer_open(&p, kind, "nnpoll");
    recv_while_blocked(&p, "first");
    rawpeer_send(&p, "second");
    rawpeer_wait_arrived(&p);
    pfd.fd = p.s;
    pfd.events = NN_POLLIN | NN_POLLOUT;
    pfd.revents = 0;
    rc = nn_poll(&pfd, 1, 0);
#ifdef AGAINST_LIBNANOMSG
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    while (rc >= 0 && !(pfd.revents & NN_POLLIN) && tu_now_ms() < end) {
        tu_sleep_ms(1);
        rc = nn_poll(&pfd, 1, 0);
    }
#endif
    assert_int_equal(rc, 1);
    assert_int_equal(pfd.revents, NN_POLLIN | NN_POLLOUT);
    expect_dontwait_recv(p.s, "second");
    rawpeer_close(&p);
}

static void test_nn_poll_after_a_blocking_recv_reports_an_arrived_message(void **state)
{
    (void) state;
    run_nn_poll_after_blocking_recv(TCP);
    run_nn_poll_after_blocking_recv(IPC);
}

static bool one_connection(void *s)
{
    return nn_get_statistic(*(int *) s, NN_STAT_CURRENT_CONNECTIONS) == 1;
}

static bool fds_at_most(void *n)
{
    return tu_fd_count() <= *(int *) n;
}

/* A blocked receive reads a ws connection in its own thread, as it does
   tcp, and that costs the socket one descriptor (the eventfd that wakes
   it) the first time, none after: a daemon with one socket per client
   still spends fewer than with libnanomsg, whose sockets take two eventfds
   each when they are made. A ping read meanwhile is still answered. */
static void test_blocked_recvs_on_a_ws_connection_take_one_descriptor_for_the_socket_life(void **state)
{
    (void) state;
    char url[URL_LEN];
    int a, b, ms = 50;
    char buf[8];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", tu_free_port());
    a = tu_socket(AF_SP, NN_PAIR);
    b = tu_socket(AF_SP, NN_PAIR);
    tu_bind(a, url);
    tu_connect(b, url);
    assert_true(tu_wait_until(one_connection, &a, TU_DEADLINE_MS));
    assert_true(tu_wait_until(one_connection, &b, TU_DEADLINE_MS));
    assert_int_equal(nn_setsockopt(a, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms), 0);
    /* The first blocking receive of the socket's life. */
    int before = tu_fd_count();
    assert_int_equal(nn_recv(a, buf, sizeof buf, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);
    int after = tu_fd_count();
    assert_true(after <= before + 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nn_recv(a, buf, sizeof buf, 0), -1);
        assert_int_equal(nn_errno(), ETIMEDOUT);
        assert_int_equal(tu_fd_count(), after);
    }
    tu_send(b, "hello");
    tu_recv(a, "hello");
    assert_int_equal(nn_close(b), 0);
    assert_int_equal(nn_close(a), 0);
    /* The eventfd goes with the socket (and the connections and the
       listener with their sockets). */
    int gone = before - 3;
    assert_true(tu_wait_until(fds_at_most, &gone, TU_DEADLINE_MS));
}

#define DAEMON_ROUNDS 10
#define DAEMON_BURST 5

/* The daemon loop: block for one message, then drain with NN_DONTWAIT. */
static void run_daemon_loop(enum kind kind)
{
    struct rawpeer p;
    char msg[32];
    rawpeer_open(&p, kind, "daemon");
    for (int round = 0; round < DAEMON_ROUNDS; round++) {
        snprintf(msg, sizeof msg, "%d.0", round);
        recv_while_blocked(&p, msg);
        for (int i = 1; i <= DAEMON_BURST; i++) {
            snprintf(msg, sizeof msg, "%d.%d", round, i);
            rawpeer_send(&p, msg);
        }
        rawpeer_wait_arrived(&p);
        for (int i = 1; i <= DAEMON_BURST; i++) {
            snprintf(msg, sizeof msg, "%d.%d", round, i);
            expect_dontwait_recv(p.s, msg);
        }
        tu_recv_nothing(p.s);
    }
    rawpeer_close(&p);
}

static void test_daemon_loop_of_blocking_recv_then_dontwait_drain_gets_every_arrived_message(void **state)
{
    (void) state;
    run_daemon_loop(TCP);
    run_daemon_loop(IPC);
}

/* ---- 9. frames into a small buffer ----

   A blocked recv with a buffer of its own reads the connection: the first
   frame of what the read brings may go straight into that buffer, and the
   ones behind it wait in the socket. Every recv still gets the next
   message in order, whole when it fits, else truncated at the buffer's
   length with the message's full length returned, and nothing is written
   past the buffer: with the frames written all at once (most wait in the
   socket), and one at a time, each before the recv that takes it (each
   read brings one frame). */
#define BURST_FRAMES 120
#define BURST_BUF 64

static size_t burst_len(int i)
{
    if (i == 50)
        return 10000; /* a large frame in the middle: truncated too */
    return (size_t) ((i * 37) % 150);
}

static void run_frames_into_small_buffer(enum kind kind)
{
    struct rawpeer p;
    rawpeer_open(&p, kind, "burst");
    size_t hl = kind == IPC ? 9 : 8, total = 0;
    for (int i = 0; i < BURST_FRAMES; i++)
        total += hl + burst_len(i);
    unsigned char *wire = malloc(total), *w = wire;
    assert_non_null(wire);
    for (int i = 0; i < BURST_FRAMES; i++) {
        size_t n = burst_len(i);
        w += tu_frame_prefix(w, kind == IPC, n);
        for (size_t k = 0; k < n; k++)
            *w++ = (unsigned char) (i * 7 + k);
    }
    for (int round = 0; round < 4; round++) {
        bool at_once = round % 2 == 0;
        if (at_once)
            assert_true(tu_write_all(p.fd, wire, total));
        const unsigned char *next = wire;
        for (int i = 0; i < BURST_FRAMES; i++) {
            if (!at_once) {
                assert_true(tu_write_all(p.fd, next, hl + burst_len(i)));
                next += hl + burst_len(i);
            }
            unsigned char buf[BURST_BUF + 16];
            memset(buf, 0xa5, sizeof buf);
            int rc = nn_recv(p.s, buf, BURST_BUF, 0);
            assert_int_equal(rc, (int) burst_len(i));
            size_t got = burst_len(i) < BURST_BUF ? burst_len(i) : BURST_BUF;
            for (size_t k = 0; k < got; k++)
                assert_int_equal(buf[k], (unsigned char) (i * 7 + k));
            for (size_t k = got; k < sizeof buf; k++)
                assert_int_equal(buf[k], 0xa5);
        }
        tu_recv_nothing(p.s);
    }
    free(wire);
    rawpeer_close(&p);
}

static void test_frames_reach_a_small_recv_buffer_in_order_whole_or_truncated(void **state)
{
    (void) state;
    run_frames_into_small_buffer(TCP);
    run_frames_into_small_buffer(IPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_pong_2000_round_trips_arrive_intact_and_in_order),
        cmocka_unit_test(test_ping_pong_2000_round_trips_with_threads_on_one_cpu_each),
        cmocka_unit_test(test_nn_close_makes_blocked_recv_fail_with_ebadf_promptly),
        cmocka_unit_test(test_rcvtimeo_100ms_on_idle_connection_fails_with_etimedout),
        cmocka_unit_test(test_blocked_recv_survives_peer_leaving_and_gets_next_peers_message),
        cmocka_unit_test(test_blocked_recv_survives_its_endpoint_shut_down_and_gets_next_connections_message),
        cmocka_unit_test(test_two_threads_blocked_in_recv_on_one_socket_get_one_message_each),
        cmocka_unit_test(test_tcp_oversize_frame_drops_connection_while_recv_keeps_waiting),
        cmocka_unit_test(test_surveyor_recv_fails_with_etimedout_at_the_deadline),
        cmocka_unit_test(test_signal_makes_blocked_recv_fail_with_eintr),
        cmocka_unit_test(test_signal_makes_blocked_recv_fail_with_eintr_even_with_sa_restart),
        cmocka_unit_test(test_dontwait_recv_returns_a_message_that_arrived_after_a_blocking_recv),
        cmocka_unit_test(test_rcvfd_first_fetched_after_a_blocking_recv_is_readable_for_an_arrived_message),
        cmocka_unit_test(test_nn_poll_after_a_blocking_recv_reports_an_arrived_message),
        cmocka_unit_test(test_daemon_loop_of_blocking_recv_then_dontwait_drain_gets_every_arrived_message),
        cmocka_unit_test(test_blocked_recvs_on_a_ws_connection_take_one_descriptor_for_the_socket_life),
        cmocka_unit_test(test_frames_reach_a_small_recv_buffer_in_order_whole_or_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
