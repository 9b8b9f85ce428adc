/*
    The "many connections" measurement, written once for every library:
    tcp_many (the nn_* API) and zmq_many (libzmq) only supply the socket
    operations. N PUSH sockets, spread over child processes, connect to one
    PULL over tcp; each says hello once, then sends <msgs-each> messages.
    Prints the time for every connection to come up (connect + handshake +
    the first message), the time to deliver all messages, the resident memory
    of an idle socket and of a connection on each side, and the CPU time of
    all processes per message.

    usage: <prog> <url> <sockets> <msgs-each> <msg-size> [sockets-per-process]

    <url> is bound by the PULL and connected to by the PUSH sockets, so it
    must be connectable: 127.0.0.1, not the wildcard host.
*/

#ifndef MANY_HARNESS_H
#define MANY_HARNESS_H

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "perf_util.h"

/*  What a program supplies. Every call checks its own result and exits
    with a message on failure. A socket is an opaque handle. */
struct many_ops {
    const char *name;
    void (*setup)(void);                         /* before forking; may be NULL */
    void *(*open)(int nsockets);                 /* the library, per process */
    void (*close_lib)(void *lib);
    void *(*push)(void *lib, size_t sz);         /* a PUSH socket, tuned */
    void (*connect)(void *sock, const char *url);
    void (*send)(void *sock, const void *buf, size_t len);
    void *(*pull)(void *lib, size_t sz, const char *url); /* bound */
    int (*recv)(void *sock, void *buf, size_t len);       /* bytes, -1 */
    void (*close)(void *sock);
};

/*  What a child tells the parent, one record per phase (atomic: it is
    smaller than PIPE_BUF). */
struct report {
    int phase;   /* 1: sockets created, 2: all connected, 3: done */
    long rss_a;  /* KiB before the phase's work */
    long rss_b;  /* KiB after it */
    int count;   /* sockets (phase 1) */
    double cpu_us; /* user + sys: phase 2 connecting, phase 3 sending */
};

/*  One go pipe per child: with a shared one, a fast child could take
    the token of the next phase meant for a slower sibling. */
static int (*go_pipes)[2], report_pipe[2];
static int go_fd;     /* in a child: the read end of its own go pipe */
static pid_t *children;
static int nchildren;
static const char *prog_name;

static void fail(const char *what)
{
    int i;
    fprintf(stderr, "%s: %s\n", prog_name, what);
    for (i = 0; i < nchildren; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    exit(2);
}

/*  One process holds every connection's fd on the PULL side (10,000 in the
    big run of tools/bench), and libzmq spends an fd on every socket's mailbox
    besides: the soft limit (often 1024) goes up to the hard one, for every
    library alike. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "warning: RLIMIT_NOFILE: %s\n", strerror(errno));
    }
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

static void child(const struct many_ops *ops, const char *url, int first, int k, long msgs, size_t sz)
{
    void **socks = malloc(sizeof(void *) * (size_t) k);
    char *buf = malloc(sz > 4 ? sz : 4);
    struct report r;
    struct perf_cpu c0, c1;
    void *lib;
    long m;
    int i;

    PERF_CHECK(socks != NULL && buf != NULL, "malloc");
    memset(buf, 111, sz > 4 ? sz : 4);

    /*  The first socket pays for the library's start-up; measure the
        others. */
    memset(&r, 0, sizeof(r));
    r.phase = 1;
    lib = ops->open(k);
    for (i = 0; i < k; i++) {
        if (i == 1)
            r.rss_a = perf_rss_kib();
        socks[i] = ops->push(lib, sz);
    }
    r.rss_b = perf_rss_kib();
    if (k == 1)
        r.rss_a = r.rss_b;
    r.count = k - 1;
    send_report(&r);

    wait_token();
    c0 = perf_cpu_now();
    r.phase = 2;
    r.rss_a = perf_rss_kib();
    for (i = 0; i < k; i++)
        ops->connect(socks[i], url);
    /*  PUSH waits for a connected peer: each hello returns once its
        connection is up, while the others keep connecting meanwhile. */
    for (i = 0; i < k; i++) {
        int id = first + i;
        memcpy(buf, &id, sizeof(id));
        ops->send(socks[i], buf, 4);
    }
    r.rss_b = perf_rss_kib();
    c1 = perf_cpu_now();
    r.cpu_us = (c1.user_us + c1.sys_us) - (c0.user_us + c0.sys_us);
    send_report(&r);

    wait_token();
    c0 = perf_cpu_now();
    for (m = 0; m < msgs; m++)
        for (i = 0; i < k; i++)
            ops->send(socks[i], buf, sz);
    /*  Keep the sockets open until the parent holds every message. */
    wait_token();
    c1 = perf_cpu_now();
    r.phase = 3;
    r.cpu_us = (c1.user_us + c1.sys_us) - (c0.user_us + c0.sys_us);
    send_report(&r);
    for (i = 0; i < k; i++)
        ops->close(socks[i]);
    ops->close_lib(lib);
    free(buf);
    free(socks);
}

static int many_main(int argc, char *argv[], const struct many_ops *ops)
{
    const char *url;
    long n, msgs, per_proc = 250, i, got;
    size_t sz;
    int status;
    long rss_p0, rss_p1, rss_p2, idle_kib = 0, idle_count = 0, conn_kib = 0;
    double child_cpu = 0, parent_cpu, total, conn_child_cpu = 0, conn_parent_cpu;
    uint64_t t0, t1, t2, t3;
    struct perf_cpu c0, c1;
    struct report r;
    void *lib, *s;
    char *buf;

    prog_name = ops->name;
    if (argc != 5 && argc != 6) {
        printf("usage: %s <url> <sockets> <msgs-each> <msg-size> [sockets-per-process]\n",
            ops->name);
        return 1;
    }
    url = argv[1];
    n = perf_arg_long(argv[2], "sockets");
    msgs = perf_arg_long(argv[3], "msgs-each");
    sz = (size_t) perf_arg_long(argv[4], "msg-size");
    if (argc == 6)
        per_proc = perf_arg_long(argv[5], "sockets-per-process");
    if (n < 1 || per_proc < 1 || sz < 4) {
        fprintf(stderr, "%s: need sockets >= 1, sockets-per-process >= 1, msg-size >= 4\n",
            ops->name);
        return 1;
    }
    raise_nofile();
    if (ops->setup)
        ops->setup();

    /*  Fork before the library's first call: a library's threads do not
        survive fork, so the parent's library state must not exist yet. */
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
            child(ops, url, (int) first, (int) k, msgs, sz);
            _exit(0);
        }
        children[i] = pid;
    }

    rss_p0 = perf_rss_kib();
    lib = ops->open(1);
    s = ops->pull(lib, sz, url);
    rss_p1 = perf_rss_kib();
    buf = malloc(sz);
    PERF_CHECK(buf != NULL, "malloc");

    for (i = 0; i < nchildren; i++) {
        read_report(&r, 1);
        idle_kib += r.rss_b - r.rss_a;
        idle_count += r.count;
    }

    /*  Phase 1: every socket connects and says hello. */
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    give_tokens();
    for (got = 0; got < n; got++)
        if (ops->recv(s, buf, sz) != 4)
            fail("hello not received (timeout?)");
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    conn_parent_cpu = (c1.user_us + c1.sys_us) - (c0.user_us + c0.sys_us);
    for (i = 0; i < nchildren; i++) {
        read_report(&r, 2);
        conn_kib += r.rss_b - r.rss_a;
        conn_child_cpu += r.cpu_us;
    }
    rss_p2 = perf_rss_kib();

    /*  Phase 2: msgs messages from each socket. */
    c0 = perf_cpu_now();
    t2 = perf_now_us();
    give_tokens();
    for (got = 0; got < n * msgs; got++)
        if (ops->recv(s, buf, sz) != (int) sz)
            fail("message not received (timeout?)");
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
    /*  What the set-up cost in CPU, so that a loaded machine's wall time
        can be told from the work: the kernel's part of a loopback connect
        is in these too (each side's system time). */
    printf("connect+handshake cpu: %.6f [s] (pull side %.0f [us], push side %.0f [us])\n",
        (conn_parent_cpu + conn_child_cpu) / 1e6, conn_parent_cpu, conn_child_cpu);
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
    ops->close(s);
    ops->close_lib(lib);
    return 0;
}

#endif
