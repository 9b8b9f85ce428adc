/*
    zmq_many: tcp_many written against libzmq, so libzmq stands in the
    "many connections" rows. N ZMQ_PUSH sockets, spread over child processes
    (one zmq context per process, default single I/O thread), connect to one
    ZMQ_PULL over tcp; each says hello once, then sends <msgs-each> messages.
    The same structure (go pipes, report pipe, phases) and the same output
    lines as tcp_many: the time for every connection to come up (connect +
    ZMTP handshake + the first message), the time to deliver all messages,
    the resident memory of an idle socket and of a connection on each side,
    and the CPU time of all processes per message.

    Differences from the nn version, each to keep the comparison fair:
    - ZMQ_IMMEDIATE on the PUSH sockets: without it libzmq queues the hello
      before the connection exists and zmq_send returns at once; with it,
      like an nn PUSH, the hello waits for a connected peer, so the push
      side's "after connecting" memory is taken with the connections up.
    - ZMQ_SNDHWM/ZMQ_RCVHWM stay at libzmq's default 1000 messages, set
      explicitly: a PUSH at its high-water mark blocks (never drops), and
      the PULL drains all the time, so this is flow control, like the nn
      libraries' buffers, not a way to stall.
    - The children wait for the parent to hold every message before they
      close (as tcp_many does), so ZMQ_LINGER 0 loses nothing and lets
      zmq_ctx_term return at once.
    - RLIMIT_NOFILE is raised to its hard limit: libzmq spends an fd on
      every socket's mailbox besides the connection's own.
    - ZMQ_BACKLOG stays at libzmq's default (100), as the nn programs keep
      their library's listen backlog (libnanomsg: 100, ours: SOMAXCONN):
      1000 simultaneous connects then overflow the accept queue and the
      kernel's SYN retries (1 s) show in connect+handshake. That is what a
      user gets out of the box; with ZMQ_BACKLOG 4096 libzmq's figure drops
      from about 2 s to about 0.2 s here.

    usage: zmq_many <url> <sockets> <msgs-each> <msg-size> [sockets-per-process]

    <url> is bound by the PULL and connected to by the PUSH sockets, so it
    must be connectable: 127.0.0.1, not the wildcard host.
*/

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "zmq_perf.h"

/*  What a child tells the parent, one record per phase (atomic: it is
    smaller than PIPE_BUF). */
struct report {
    int phase;   /* 1: sockets created, 2: all connected, 3: done */
    long rss_a;  /* KiB before the phase's work */
    long rss_b;  /* KiB after it */
    int count;   /* sockets (phase 1) */
    double cpu_us; /* phase 3: user + sys while sending */
};

/*  One go pipe per child: with a shared one, a fast child could take
    the token of the next phase meant for a slower sibling. */
static int (*go_pipes)[2], report_pipe[2];
static int go_fd;     /* in a child: the read end of its own go pipe */
static pid_t *children;
static int nchildren;

static void fail(const char *what)
{
    int i;
    fprintf(stderr, "zmq_many: %s\n", what);
    for (i = 0; i < nchildren; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    exit(2);
}

static void wait_token(void)
{
    char c;
    ssize_t n;
    do
        n = read(go_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        exit(2);
}

static void give_tokens(void)
{
    int i;
    for (i = 0; i < nchildren; i++)
        PERF_CHECK(write(go_pipes[i][1], "g", 1) == 1, "write");
}

static void send_report(const struct report *r)
{
    PERF_CHECK(write(report_pipe[1], r, sizeof(*r)) == (ssize_t) sizeof(*r), "write");
}

static void read_report(struct report *r, int phase)
{
    struct pollfd p;
    ssize_t n;
    p.fd = report_pipe[0];
    p.events = POLLIN;
    if (poll(&p, 1, 120000) != 1)
        fail("a child did not report in time");
    n = read(report_pipe[0], r, sizeof(*r));
    if (n != (ssize_t) sizeof(*r) || r->phase != phase)
        fail("bad report from a child");
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "warning: RLIMIT_NOFILE: %s\n", strerror(errno));
    }
}

static void set_int(void *s, int opt, int v, const char *what)
{
    ZMQ_CHECK(zmq_setsockopt(s, opt, &v, sizeof(v)) == 0, what);
}

/*  The options every socket gets; the nn programs' timeouts too. */
static void tune(void *s, int pushing)
{
    set_int(s, ZMQ_LINGER, 0, "ZMQ_LINGER");
    if (pushing) {
        set_int(s, ZMQ_SNDHWM, 1000, "ZMQ_SNDHWM");
        set_int(s, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE");
        set_int(s, ZMQ_SNDTIMEO, 60000, "ZMQ_SNDTIMEO");
    } else {
        set_int(s, ZMQ_RCVHWM, 1000, "ZMQ_RCVHWM");
        set_int(s, ZMQ_RCVTIMEO, 60000, "ZMQ_RCVTIMEO");
    }
}

static void child(const char *url, int first, int k, long msgs, size_t sz)
{
    void **socks = malloc(sizeof(void *) * (size_t) k);
    char *buf = malloc(sz > 4 ? sz : 4);
    struct report r;
    struct perf_cpu c0, c1;
    void *ctx;
    long m;
    int i, rc, nbytes;

    PERF_CHECK(socks != NULL && buf != NULL, "malloc");
    memset(buf, 111, sz > 4 ? sz : 4);

    /*  The first socket pays for the library's start-up (libzmq starts
        its I/O and reaper threads with it); measure the others. */
    memset(&r, 0, sizeof(r));
    r.phase = 1;
    ctx = zmq_ctx_new();
    ZMQ_CHECK(ctx != NULL, "zmq_ctx_new");
    if (k + 16 > ZMQ_MAX_SOCKETS_DFLT)
        ZMQ_CHECK(zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, k + 16) == 0, "ZMQ_MAX_SOCKETS");
    for (i = 0; i < k; i++) {
        if (i == 1)
            r.rss_a = perf_rss_kib();
        socks[i] = zmq_perf_socket(ctx, ZMQ_PUSH, 1);
        tune(socks[i], 1);
    }
    r.rss_b = perf_rss_kib();
    if (k == 1)
        r.rss_a = r.rss_b;
    r.count = k - 1;
    send_report(&r);

    wait_token();
    r.phase = 2;
    r.rss_a = perf_rss_kib();
    for (i = 0; i < k; i++) {
        rc = zmq_connect(socks[i], url);
        ZMQ_CHECK(rc == 0, "zmq_connect");
    }
    /*  With ZMQ_IMMEDIATE a PUSH waits for a connected peer: each hello
        returns once its connection is up, while the others keep
        connecting meanwhile. */
    for (i = 0; i < k; i++) {
        int id = first + i;
        memcpy(buf, &id, sizeof(id));
        nbytes = zmq_send(socks[i], buf, 4, 0);
        ZMQ_CHECK(nbytes == 4, "zmq_send (hello)");
    }
    r.rss_b = perf_rss_kib();
    send_report(&r);

    wait_token();
    c0 = perf_cpu_now();
    for (m = 0; m < msgs; m++)
        for (i = 0; i < k; i++) {
            nbytes = zmq_send(socks[i], buf, sz, 0);
            ZMQ_CHECK(nbytes == (int) sz, "zmq_send");
        }
    /*  Keep the sockets open until the parent holds every message. */
    wait_token();
    c1 = perf_cpu_now();
    r.phase = 3;
    r.cpu_us = (c1.user_us + c1.sys_us) - (c0.user_us + c0.sys_us);
    send_report(&r);
    for (i = 0; i < k; i++)
        zmq_close(socks[i]);
    zmq_ctx_term(ctx);
    free(buf);
    free(socks);
}

int main(int argc, char *argv[])
{
    const char *url;
    long n, msgs, per_proc = 250, i, got;
    size_t sz;
    int rc, nbytes, status;
    long rss_p0, rss_p1, rss_p2, idle_kib = 0, idle_count = 0, conn_kib = 0;
    double child_cpu = 0, parent_cpu, total;
    uint64_t t0, t1, t2, t3;
    struct perf_cpu c0, c1;
    struct report r;
    void *ctx, *s;
    char *buf;

    if (argc != 5 && argc != 6) {
        printf("usage: zmq_many <url> <sockets> <msgs-each> <msg-size> [sockets-per-process]\n");
        return 1;
    }
    url = argv[1];
    n = perf_arg_long(argv[2], "sockets");
    msgs = perf_arg_long(argv[3], "msgs-each");
    sz = (size_t) perf_arg_long(argv[4], "msg-size");
    if (argc == 6)
        per_proc = perf_arg_long(argv[5], "sockets-per-process");
    if (n < 1 || per_proc < 1 || sz < 4) {
        fprintf(stderr, "zmq_many: need sockets >= 1, sockets-per-process >= 1, msg-size >= 4\n");
        return 1;
    }
    raise_nofile();

    /*  Fork before the first zmq_* call: libzmq's threads do not survive
        fork, so the parent's context must not exist yet. */
    PERF_CHECK(pipe(report_pipe) == 0, "pipe");
    nchildren = (int) ((n + per_proc - 1) / per_proc);
    children = calloc((size_t) nchildren, sizeof(pid_t));
    go_pipes = calloc((size_t) nchildren, sizeof(*go_pipes));
    PERF_CHECK(children != NULL && go_pipes != NULL, "calloc");
    for (i = 0; i < nchildren; i++)
        PERF_CHECK(pipe(go_pipes[i]) == 0, "pipe");
    for (i = 0; i < nchildren; i++) {
        long first = i * per_proc;
        long k = n - first < per_proc ? n - first : per_proc;
        pid_t pid = fork();
        PERF_CHECK(pid >= 0, "fork");
        if (pid == 0) {
            go_fd = go_pipes[i][0];
            close(report_pipe[0]);
            child(url, (int) first, (int) k, msgs, sz);
            _exit(0);
        }
        children[i] = pid;
    }

    rss_p0 = perf_rss_kib();
    ctx = zmq_ctx_new();
    ZMQ_CHECK(ctx != NULL, "zmq_ctx_new");
    s = zmq_perf_socket(ctx, ZMQ_PULL, 0);
    tune(s, 0);
    rc = zmq_bind(s, url);
    ZMQ_CHECK(rc == 0, "zmq_bind");
    rss_p1 = perf_rss_kib();
    buf = malloc(sz);
    PERF_CHECK(buf != NULL, "malloc");

    for (i = 0; i < nchildren; i++) {
        read_report(&r, 1);
        idle_kib += r.rss_b - r.rss_a;
        idle_count += r.count;
    }

    /*  Phase 1: every socket connects and says hello. */
    t0 = perf_now_us();
    give_tokens();
    for (got = 0; got < n; got++) {
        nbytes = zmq_recv(s, buf, sz, 0);
        if (nbytes != 4)
            fail("hello not received (timeout?)");
    }
    t1 = perf_now_us();
    for (i = 0; i < nchildren; i++) {
        read_report(&r, 2);
        conn_kib += r.rss_b - r.rss_a;
    }
    rss_p2 = perf_rss_kib();

    /*  Phase 2: msgs messages from each socket. */
    c0 = perf_cpu_now();
    t2 = perf_now_us();
    give_tokens();
    for (got = 0; got < n * msgs; got++) {
        nbytes = zmq_recv(s, buf, sz, 0);
        if (nbytes != (int) sz)
            fail("message not received (timeout?)");
    }
    t3 = perf_now_us();
    c1 = perf_cpu_now();
    give_tokens();
    for (i = 0; i < nchildren; i++) {
        read_report(&r, 3);
        child_cpu += r.cpu_us;
    }
    for (i = 0; i < nchildren; i++) {
        if (waitpid(children[i], &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            fail("a child failed");
        children[i] = 0;
    }
    parent_cpu = (c1.user_us + c1.sys_us) - (c0.user_us + c0.sys_us);
    total = (double) n * (double) msgs;

    printf("sockets: %ld (%d processes of at most %ld)\n", n, nchildren, per_proc);
    printf("messages: %ld each, %d [B]\n", msgs, (int) sz);
    printf("connect+handshake: %.6f [s]\n", (double) (t1 - t0) / 1e6);
    printf("delivery: %.6f [s] (%.0f messages, %.0f [msg/s])\n", (double) (t3 - t2) / 1e6,
        total, total / ((double) (t3 - t2 > 0 ? t3 - t2 : 1) / 1e6));
    printf("rss per idle socket: %.2f [KiB] (push side, %ld sockets)\n",
        idle_count > 0 ? (double) idle_kib / (double) idle_count : 0.0, idle_count);
    printf("rss per connection, push side: %.2f [KiB]\n", (double) conn_kib / (double) n);
    printf("rss per connection, pull side: %.2f [KiB] (bind: %ld [KiB])\n",
        (double) (rss_p2 - rss_p1) / (double) n, rss_p1 - rss_p0);
    printf("cpu: %.3f [us/msg] (pull side %.0f [us], push side %.0f [us])\n",
        total > 0 ? (parent_cpu + child_cpu) / total : 0.0, parent_cpu, child_cpu);

    free(buf);
    rc = zmq_close(s);
    ZMQ_CHECK(rc == 0, "zmq_close");
    zmq_ctx_term(ctx);
    return 0;
}
