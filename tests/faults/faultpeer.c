/* The other processes of the fault-injection suite: peers that are killed,
   flood, crowd a listener or play one side of a network partition. Public
   nanomsg API only. TLS material comes from the environment (nn_env(7):
   NN_TLS_CA_FILE, NN_TLS_CERT_FILE, NN_TLS_KEY_FILE), which the tests set.
   Each mode prints what the test waits for on stdout, one line per event,
   and reads commands (one per line) on stdin where it says so. With
   FAULTPEER_KEEPALIVE=MS in the environment, the socket of killme, sink
   and source sets NN_TCP_KEEPALIVE to MS before it binds or connects.

   faultpeer killme connect|bind URL BIG TAG
       A PUSH connects to (binds) URL, sends "hello TAG" and then one BIG-byte
       message, and SIGKILLs itself as soon as nn_send has taken that one:
       the message is still on its way, so the peer is killed mid-message.
       NN_SNDBUF is small (the kernel holds a few KiB of it).

   faultpeer flood URL SIZE SNDBUF
       A PUSH (NN_SNDBUF SNDBUF) connects to URL, prints "rss KB" once
       connected (its resident memory before the flood), then sends SIZE-byte
       messages as fast as nn_send takes them, until killed.

   faultpeer crowd URL N FIRST
       N PUSH sockets each connect to URL and send one message, the decimal
       number FIRST+i of the socket. Prints "sent N broken B established E"
       once every send returned (B, E: the sums of the sockets' statistics),
       then waits for a command: "close" closes every socket (and prints
       "closed"), end of input exits without closing anything.

   faultpeer churn URL TAG
       Until end of input: a PUSH connects to URL, sends "TAG i", closes
       (NN_LINGER 30 s: the message is flushed); i = 0, 1, ... Prints "done I"
       (I: the number of messages sent) at the end.

   faultpeer emfile URL LIMIT
       Lowers RLIMIT_NOFILE to LIMIT, then a PULL binds URL and receives;
       prints "got MSG" per message. Command "stats" prints "stats ACCEPT_ERRORS
       CURRENT_CONNECTIONS ACCEPTED" (nn_get_statistic); end of input exits.

   faultpeer repserver URL_REP URL_PUB
       A REP bound to URL_REP answers every request with itself; a PUB bound
       to URL_PUB publishes "pub N" (N = 0, 1, ...) every 20 ms. Prints
       "ready". Command "stats" prints "stats SOCKET BROKEN ESTABLISHED CURRENT
       ACCEPTED" for the rep and the pub socket; end of input exits.

   faultpeer reqclient URL_REQ URL_SUB RESEND_MS
       A REQ (NN_REQ_RESEND_IVL RESEND_MS) connected to URL_REQ sends "req N"
       and waits for the reply, again and again; a SUB connected to URL_SUB
       takes everything. Prints "reply N MS" per reply and "sub N MS" per
       publication (MS: a monotonic clock in milliseconds), and "stats ..." as
       repserver on the command "stats"; end of input exits.

   faultpeer sink connect|bind URL
       A PULL that receives and counts. Prints "ready" once it has a
       connection, "got N" for every 100th message; command "stats" prints
       "stats BROKEN ESTABLISHED CURRENT RECEIVED"; end of input exits.

   faultpeer source connect|bind URL SIZE
       A PUSH that sends SIZE-byte messages with NN_DONTWAIT, as fast as they
       are taken (and sleeps 1 ms when one is not). Prints "ready" once one
       was taken; command "stats" prints "stats BROKEN ESTABLISHED CURRENT SENT
       EAGAIN" (EAGAIN: sends refused so far); end of input exits. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nanomsg/keepalive.h>
#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "testutil.h"

static int die(const char *what)
{
    fprintf(stderr, "faultpeer: %s: %s\n", what, nn_strerror(nn_errno()));
    return 1;
}

static void setint(int s, int level, int opt, int v)
{
    if (nn_setsockopt(s, level, opt, &v, sizeof v) != 0) {
        die("nn_setsockopt");
        exit(1);
    }
}

static int endpoint(int s, const char *role, const char *url)
{
    const char *ka = getenv("FAULTPEER_KEEPALIVE");
    if (ka)
        setint(s, NN_TCP, NN_TCP_KEEPALIVE, atoi(ka));
    return strcmp(role, "bind") == 0 ? nn_bind(s, url) : nn_connect(s, url);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static long rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* A command from stdin within timeout_ms: 1 (line in buf), 0 (none yet),
   -1 (end of input). */
static int command(char *buf, size_t cap, int timeout_ms)
{
    static char pending[1024];
    static size_t len;
    for (;;) {
        char *nl = memchr(pending, '\n', len);
        if (nl) {
            size_t n = (size_t) (nl - pending);
            size_t k = n < cap - 1 ? n : cap - 1;
            memcpy(buf, pending, k);
            buf[k] = 0;
            memmove(pending, nl + 1, len - n - 1);
            len -= n + 1;
            return 1;
        }
        struct pollfd p = {0, POLLIN, 0};
        int rc = poll(&p, 1, timeout_ms);
        if (rc <= 0)
            return 0;
        ssize_t r = read(0, pending + len, sizeof pending - len);
        if (r <= 0)
            return -1;
        len += (size_t) r;
        timeout_ms = 0;
    }
}

static uint64_t stat_of(int s, int stat)
{
    return nn_get_statistic(s, stat);
}

/* ---- killme ---- */

static int killme(char **argv)
{
    const char *role = argv[0], *url = argv[1];
    size_t big = (size_t) atol(argv[2]);
    char hello[64];
    int s = nn_socket(AF_SP, NN_PUSH);
    if (s < 0)
        return die("nn_socket");
    setint(s, NN_SOL_SOCKET, NN_SNDBUF, 16384);
    setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, 30000);
    if (endpoint(s, role, url) < 0)
        return die(role);
    int n = snprintf(hello, sizeof hello, "hello %s", argv[3]);
    if (nn_send(s, hello, (size_t) n, 0) != n)
        return die("nn_send hello");
    void *m = nn_allocmsg(big, 0);
    if (!m)
        return die("nn_allocmsg");
    memset(m, 'x', big);
    if (nn_send(s, &m, NN_MSG, 0) < 0)
        return die("nn_send big");
    raise(SIGKILL);
    return 1;
}

/* ---- flood ---- */

static int flood(char **argv)
{
    const char *url = argv[0];
    size_t size = (size_t) atol(argv[1]);
    int sndbuf = atoi(argv[2]);
    char *buf = calloc(1, size);
    int s = nn_socket(AF_SP, NN_PUSH);
    if (s < 0 || !buf)
        return die("nn_socket");
    setint(s, NN_SOL_SOCKET, NN_SNDBUF, sndbuf);
    if (nn_connect(s, url) < 0)
        return die("nn_connect");
    /* The first message waits for the connection. */
    if (nn_send(s, buf, size, 0) != (int) size)
        return die("nn_send");
    say("rss %ld", rss_kb());
    for (;;)
        if (nn_send(s, buf, size, 0) != (int) size)
            return die("nn_send");
}

/* ---- crowd ---- */

static int crowd(char **argv)
{
    const char *url = argv[0];
    int n = atoi(argv[1]);
    long first = atol(argv[2]);
    int *s = calloc((size_t) n, sizeof *s);
    char msg[32], cmd[64];
    if (!s)
        return 1;
    for (int i = 0; i < n; i++) {
        s[i] = nn_socket(AF_SP, NN_PUSH);
        if (s[i] < 0)
            return die("nn_socket");
        setint(s[i], NN_SOL_SOCKET, NN_SNDTIMEO, 120000);
        if (nn_connect(s[i], url) < 0)
            return die("nn_connect");
    }
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg, sizeof msg, "%ld", first + i);
        if (nn_send(s[i], msg, (size_t) len, 0) != len)
            return die("nn_send");
    }
    unsigned long long broken = 0, established = 0;
    for (int i = 0; i < n; i++) {
        broken += stat_of(s[i], NN_STAT_BROKEN_CONNECTIONS);
        established += stat_of(s[i], NN_STAT_ESTABLISHED_CONNECTIONS);
    }
    say("sent %d broken %llu established %llu", n, broken, established);
    for (;;) {
        int rc = command(cmd, sizeof cmd, -1);
        if (rc < 0)
            return 0;
        if (rc > 0 && strcmp(cmd, "close") == 0) {
            for (int i = 0; i < n; i++)
                if (nn_close(s[i]) != 0)
                    return die("nn_close");
            say("closed");
        }
    }
}

/* ---- churn ---- */

static int churn(char **argv)
{
    const char *url = argv[0], *tag = argv[1];
    char msg[64], cmd[64];
    long i = 0;
    for (;; i++) {
        if (command(cmd, sizeof cmd, 0) < 0)
            break;
        int s = nn_socket(AF_SP, NN_PUSH);
        if (s < 0)
            return die("nn_socket");
        setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, 30000);
        setint(s, NN_SOL_SOCKET, NN_LINGER, 30000);
        if (nn_connect(s, url) < 0)
            return die("nn_connect");
        int len = snprintf(msg, sizeof msg, "%s %ld", tag, i);
        if (nn_send(s, msg, (size_t) len, 0) != len)
            return die("nn_send");
        if (nn_close(s) != 0)
            return die("nn_close");
    }
    say("done %ld", i);
    return 0;
}

/* ---- emfile ---- */

static int emfile(char **argv)
{
    const char *url = argv[0];
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t) atol(argv[1]);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("faultpeer: setrlimit");
        return 1;
    }
    int s = nn_socket(AF_SP, NN_PULL);
    if (s < 0)
        return die("nn_socket");
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "crowded", 7);
    if (nn_bind(s, url) < 0)
        return die("nn_bind");
    int rcvfd;
    size_t sz = sizeof rcvfd;
    if (nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, &rcvfd, &sz) != 0)
        return die("NN_RCVFD");
    say("ready");
    for (;;) {
        struct pollfd p[2] = {{0, POLLIN, 0}, {rcvfd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 1;
        char buf[64];
        int n;
        while ((n = nn_recv(s, buf, sizeof buf - 1, NN_DONTWAIT)) >= 0) {
            buf[n] = 0;
            say("got %s", buf);
        }
        if (p[0].revents) {
            char cmd[64];
            int rc = command(cmd, sizeof cmd, 0);
            if (rc < 0)
                return 0;
            if (rc > 0 && strcmp(cmd, "stats") == 0)
                say("stats %llu %llu %llu", (unsigned long long) stat_of(s, NN_STAT_ACCEPT_ERRORS),
                    (unsigned long long) stat_of(s, NN_STAT_CURRENT_CONNECTIONS),
                    (unsigned long long) stat_of(s, NN_STAT_ACCEPTED_CONNECTIONS));
        }
    }
}

/* ---- the two sides of a partition ---- */

static void say_stats(const char *name, int s)
{
    say("stats %s %llu %llu %llu %llu", name, (unsigned long long) stat_of(s, NN_STAT_BROKEN_CONNECTIONS),
        (unsigned long long) stat_of(s, NN_STAT_ESTABLISHED_CONNECTIONS),
        (unsigned long long) stat_of(s, NN_STAT_CURRENT_CONNECTIONS),
        (unsigned long long) stat_of(s, NN_STAT_ACCEPTED_CONNECTIONS));
}

static int repserver(char **argv)
{
    int rep = nn_socket(AF_SP, NN_REP), pub = nn_socket(AF_SP, NN_PUB);
    if (rep < 0 || pub < 0)
        return die("nn_socket");
    if (nn_bind(rep, argv[0]) < 0 || nn_bind(pub, argv[1]) < 0)
        return die("nn_bind");
    say("ready");
    uint64_t next_pub = tu_now_ms();
    long seq = 0;
    for (;;) {
        char buf[64], cmd[64];
        int n;
        while ((n = nn_recv(rep, buf, sizeof buf, NN_DONTWAIT)) >= 0)
            if (nn_send(rep, buf, (size_t) n, 0) != n)
                return die("nn_send reply");
        if (tu_now_ms() >= next_pub) {
            n = snprintf(buf, sizeof buf, "pub %ld", seq++);
            nn_send(pub, buf, (size_t) n, NN_DONTWAIT); /* PUB drops when full */
            next_pub += 20;
        }
        int rc = command(cmd, sizeof cmd, 1);
        if (rc < 0)
            return 0;
        if (rc > 0 && strcmp(cmd, "stats") == 0) {
            say_stats("rep", rep);
            say_stats("pub", pub);
        }
    }
}

static int reqclient(char **argv)
{
    int req = nn_socket(AF_SP, NN_REQ), sub = nn_socket(AF_SP, NN_SUB);
    if (req < 0 || sub < 0)
        return die("nn_socket");
    setint(req, NN_REQ, NN_REQ_RESEND_IVL, atoi(argv[2]));
    if (nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        return die("NN_SUB_SUBSCRIBE");
    if (nn_connect(req, argv[0]) < 0 || nn_connect(sub, argv[1]) < 0)
        return die("nn_connect");
    long seq = 0;
    bool waiting = false;
    for (;;) {
        char buf[64], cmd[64];
        int n;
        if (!waiting) {
            n = snprintf(buf, sizeof buf, "req %ld", seq);
            if (nn_send(req, buf, (size_t) n, 0) != n)
                return die("nn_send");
            waiting = true;
        }
        if ((n = nn_recv(req, buf, sizeof buf - 1, NN_DONTWAIT)) >= 0) {
            buf[n] = 0;
            long got;
            if (sscanf(buf, "req %ld", &got) != 1 || got != seq) {
                fprintf(stderr, "faultpeer: reply \"%s\" to req %ld\n", buf, seq);
                return 1;
            }
            say("reply %ld %llu", seq, (unsigned long long) tu_now_ms());
            seq++;
            waiting = false;
        }
        while ((n = nn_recv(sub, buf, sizeof buf - 1, NN_DONTWAIT)) >= 0) {
            buf[n] = 0;
            long got;
            if (sscanf(buf, "pub %ld", &got) == 1)
                say("sub %ld %llu", got, (unsigned long long) tu_now_ms());
        }
        int rc = command(cmd, sizeof cmd, 1);
        if (rc < 0)
            return 0;
        if (rc > 0 && strcmp(cmd, "stats") == 0) {
            say_stats("req", req);
            say_stats("sub", sub);
        }
    }
}

/* ---- a receive-only and a send-only side ---- */

static int sink(char **argv)
{
    int s = nn_socket(AF_SP, NN_PULL);
    if (s < 0)
        return die("nn_socket");
    if (endpoint(s, argv[0], argv[1]) < 0)
        return die(argv[0]);
    bool ready = false;
    uint64_t got = 0;
    for (;;) {
        char buf[65536], cmd[64];
        int n;
        while ((n = nn_recv(s, buf, sizeof buf, NN_DONTWAIT)) >= 0)
            if (++got % 100 == 0)
                say("got %llu", (unsigned long long) got);
        if (!ready && stat_of(s, NN_STAT_CURRENT_CONNECTIONS) > 0) {
            ready = true;
            say("ready");
        }
        int rc = command(cmd, sizeof cmd, 1);
        if (rc < 0)
            return 0;
        if (rc > 0 && strcmp(cmd, "stats") == 0)
            say("stats %llu %llu %llu %llu", (unsigned long long) stat_of(s, NN_STAT_BROKEN_CONNECTIONS),
                (unsigned long long) stat_of(s, NN_STAT_ESTABLISHED_CONNECTIONS),
                (unsigned long long) stat_of(s, NN_STAT_CURRENT_CONNECTIONS), (unsigned long long) got);
    }
}

static int source(char **argv)
{
    size_t size = (size_t) atol(argv[2]);
    char *buf = calloc(1, size);
    int s = nn_socket(AF_SP, NN_PUSH);
    if (s < 0 || !buf)
        return die("nn_socket");
    if (endpoint(s, argv[0], argv[1]) < 0)
        return die(argv[0]);
    bool ready = false;
    uint64_t sent = 0, refused = 0;
    for (;;) {
        char cmd[64];
        int burst = 0;
        while (burst < 64 && nn_send(s, buf, size, NN_DONTWAIT) == (int) size) {
            sent++;
            burst++;
        }
        if (burst < 64)
            refused++;
        if (!ready && sent) {
            ready = true;
            say("ready");
        }
        int rc = command(cmd, sizeof cmd, burst < 64 ? 1 : 0);
        if (rc < 0)
            return 0;
        if (rc > 0 && strcmp(cmd, "stats") == 0)
            say("stats %llu %llu %llu %llu %llu", (unsigned long long) stat_of(s, NN_STAT_BROKEN_CONNECTIONS),
                (unsigned long long) stat_of(s, NN_STAT_ESTABLISHED_CONNECTIONS),
                (unsigned long long) stat_of(s, NN_STAT_CURRENT_CONNECTIONS), (unsigned long long) sent,
                (unsigned long long) refused);
    }
}

int main(int argc, char **argv)
{
    /* Dies with the test that started it, whatever way the test ends (a
       failed assertion skips its clean-up): a peer left flooding would
       also keep the test's output pipe open, and meson test waiting. */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    if (argc == 6 && strcmp(argv[1], "killme") == 0)
        return killme(argv + 2);
    if (argc == 5 && strcmp(argv[1], "flood") == 0)
        return flood(argv + 2);
    if (argc == 5 && strcmp(argv[1], "crowd") == 0)
        return crowd(argv + 2);
    if (argc == 4 && strcmp(argv[1], "churn") == 0)
        return churn(argv + 2);
    if (argc == 4 && strcmp(argv[1], "emfile") == 0)
        return emfile(argv + 2);
    if (argc == 4 && strcmp(argv[1], "repserver") == 0)
        return repserver(argv + 2);
    if (argc == 5 && strcmp(argv[1], "reqclient") == 0)
        return reqclient(argv + 2);
    if (argc == 4 && strcmp(argv[1], "sink") == 0)
        return sink(argv + 2);
    if (argc == 5 && strcmp(argv[1], "source") == 0)
        return source(argv + 2);
    fprintf(stderr, "faultpeer: bad arguments (see the comment at the top of faultpeer.c)\n");
    return 2;
}
