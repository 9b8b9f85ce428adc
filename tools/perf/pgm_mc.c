/*
    pgm_mc: PUB/SUB over reliable multicast, one process per side (tools/bench
    runs each in its own network namespace: two hosts joined by a veth pair).
    Built twice from this source: pgm_mc through the nn_* API of our library
    (pgm:// or epgm://, <nanomsg/pgm.h>), zmq_mc (zmq_mc.c, PERF_ZMQ) through
    libzmq (epgm://, as Debian builds it with OpenPGM), with the same rate
    limit on both
    (PERF_MC_RATE bytes/s, default 20000000: our NN_PGM_RATE default; libzmq
    takes ZMQ_RATE in kbit/s).

    Multicast has no way back, so the sides meet on a file: the receiver
    creates PERF_MC_DONE (a path both namespaces see) when it has what it
    waits for, and the sender keeps serving repairs until then.

    The sender first sends warm-up messages ('W') every 10 ms for 1.5 s (the
    receiver is started first; this covers joining and our receivers' 400 ms
    warm-up), then <msg-count> data messages ('D', then a big-endian sequence
    number, then at bytes 8-15 the CLOCK_MONOTONIC send time in ns: both
    namespaces share one clock), then end messages ('E') every 10 ms until
    PERF_MC_DONE exists or 60 s have passed.
      thr  data as fast as the sender takes it (no message dropped by the
           sender: unlimited send buffer). The receiver prints throughput
           over first to last data message, and "deliver time" in seconds.
      lat  one data message a millisecond: the receiver prints the average
           one-way latency (and its median) of what it got.
      pace data offered steadily at PERF_MC_PACE bytes/s (default 10000000:
           10 MB/s, what a PUB with the default NN_PGM_RATE must send
           without loss), by a PUB with every default, NN_SNDBUF included
           (libzmq: its default high-water mark), as an application would.
           The sender prints how many its socket dropped
           (NN_STAT_MESSAGES_DROPPED; libzmq does not count them), the
           receiver what arrived and what it lost or dropped. The receiver
           keeps an unlimited NN_RCVBUF, as in thr: what is measured is
           the sender, not how fast this program reads (PERF_MC_SUB_DEFAULTS=1
           gives it the default NN_RCVBUF too).
    Both print "delivered: N of COUNT"; the receiver stops at COUNT data
    messages, or at the first end message.

    usage: pgm_mc|zmq_mc thr|lat|pace send|recv <url> <msg-size> <msg-count>
*/

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifdef PERF_ZMQ
#include <zmq.h>
#else
#include <nanomsg/nn.h>
#include <nanomsg/pgm.h>
#include <nanomsg/pubsub.h>
#endif

#include "perf_util.h"

#define WARM_US 1500000u
#define END_WAIT_US 60000000u
#define RECV_WAIT_US 120000000u

static void die(const char *what)
{
#ifdef PERF_ZMQ
    fprintf(stderr, "pgm_mc: %s: %s\n", what, zmq_strerror(zmq_errno()));
#else
    fprintf(stderr, "pgm_mc: %s: %s\n", what, nn_strerror(nn_errno()));
#endif
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char) v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- the two libraries behind one small interface ---- */

#ifdef PERF_ZMQ
static void *ctx;

static void *mc_open(int sending, const char *url, long rate, int bounded)
{
    ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, sending ? ZMQ_PUB : ZMQ_SUB);
    if (!s)
        die("zmq_socket");
    int zero = 0, kbit = (int) (rate * 8 / 1000), linger = 0;
    if (!bounded) {
        zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
        zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
    }
    zmq_setsockopt(s, ZMQ_RATE, &kbit, sizeof kbit);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (!sending)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(s, url) != 0)
        die("zmq_connect");
    return s;
}

static int mc_send(void *s, const void *buf, size_t len)
{
    return zmq_send(s, buf, len, 0) == (int) len ? 0 : -1;
}

/* 0 when a message is in buf, -1 on timeout. */
static int mc_recv(void *s, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return -1;
    int n = zmq_recv(s, buf, cap, 0);
    if (n < 0)
        return -1;
    *len = (size_t) n;
    return 0;
}

/* libzmq counts no message its sockets drop or lose. */
static long mc_dropped(void *s)
{
    (void) s;
    return -1;
}

static long mc_lost(void *s)
{
    (void) s;
    return -1;
}

static void mc_close(void *s)
{
    zmq_close(s);
    zmq_ctx_term(ctx);
}
#else
static void *mc_open(int sending, const char *url, long rate, int bounded)
{
    int s = nn_socket(AF_SP, sending ? NN_PUB : NN_SUB);
    if (s < 0)
        die("nn_socket");
    int big = 1 << 30, r = (int) rate;
    if (!bounded) {
        nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &big, sizeof big);
        nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVBUF, &big, sizeof big);
    }
    if (nn_setsockopt(s, NN_PGM, NN_PGM_RATE, &r, sizeof r) != 0)
        die("NN_PGM_RATE");
    if (!sending)
        nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
    if (nn_connect(s, url) < 0)
        die("nn_connect");
    return (void *) (intptr_t) (s + 1);
}

static int mc_send(void *s, const void *buf, size_t len)
{
    return nn_send((int) (intptr_t) s - 1, buf, len, 0) == (int) len ? 0 : -1;
}

static int mc_recv(void *s, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    int fd = (int) (intptr_t) s - 1;
    nn_setsockopt(fd, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    int n = nn_recv(fd, buf, cap, 0);
    if (n < 0)
        return -1;
    *len = (size_t) n;
    return 0;
}

static long mc_dropped(void *s)
{
    return (long) nn_get_statistic((int) (intptr_t) s - 1, NN_STAT_MESSAGES_DROPPED);
}

static long mc_lost(void *s)
{
    return (long) nn_get_statistic((int) (intptr_t) s - 1, NN_STAT_MESSAGES_LOST);
}

static void mc_close(void *s)
{
    nn_close((int) (intptr_t) s - 1);
}
#endif

/* ---- the test ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static const char *done_file(void)
{
    const char *p = getenv("PERF_MC_DONE");
    if (!p || !*p) {
        fprintf(stderr, "pgm_mc: set PERF_MC_DONE to a path both sides see\n");
        exit(1);
    }
    return p;
}

/* Sleeps until CLOCK_MONOTONIC reaches t (ns). */
static void sleep_until_ns(uint64_t t)
{
    struct timespec ts = {(time_t) (t / 1000000000u), (long) (t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* kind: 't' thr, 'l' lat, 'p' pace. */
static int sender(int kind, void *s, size_t sz, long count, double pace)
{
    int lat = kind == 'l';
    const char *done = done_file();
    unsigned char *buf = calloc(1, sz);
    if (!buf)
        return 1;
    uint64_t t0 = perf_now_us();
    buf[0] = 'W';
    while (perf_now_us() - t0 < WARM_US) {
        mc_send(s, buf, sz);
        perf_pause_ms(10);
    }
    buf[0] = 'D';
    long sent = 0;
    uint64_t p0 = now_ns();
    for (long i = 0; i < count; i++) {
        if (kind == 'p') {
            /* Message i is due at i * sz / pace seconds from the start: a
               sender late on its schedule (a loaded host) catches up at
               once, as an application fed by a steady source would. */
            uint64_t due = p0 + (uint64_t) ((double) i * (double) sz * 1e9 / pace);
            if (now_ns() < due)
                sleep_until_ns(due);
        }
        buf[1] = (unsigned char) (i >> 16);
        buf[2] = (unsigned char) (i >> 8);
        buf[3] = (unsigned char) i;
        put64(buf + 8, now_ns());
        if (mc_send(s, buf, sz) == 0)
            sent++;
        if (lat)
            perf_pause_ms(1);
    }
    uint64_t p1 = now_ns();
    long dropped = mc_dropped(s);
    buf[0] = 'E';
    struct stat st;
    uint64_t t1 = perf_now_us();
    while (stat(done, &st) != 0 && perf_now_us() - t1 < END_WAIT_US) {
        mc_send(s, buf, sz);
        perf_pause_ms(10);
    }
    printf("sent: %ld of %ld\n", sent, count);
    if (kind == 'p') {
        printf("offered: %.3f [MB/s] over %.3f [s]\n",
               (double) count * (double) sz / ((double) (p1 - p0) / 1e3), (double) (p1 - p0) / 1e9);
        if (dropped >= 0)
            printf("dropped by the sender: %ld\n", dropped);
    }
    free(buf);
    return 0;
}

static int receiver(int kind, void *s, size_t sz, long count)
{
    int lat = kind == 'l';
    const char *done = done_file();
    unsigned char *buf = malloc(sz + 1);
    uint64_t *lats = calloc((size_t) count + 1, sizeof *lats);
    if (!buf || !lats)
        return 1;
    long got = 0;
    uint64_t t0 = 0, t1 = 0, start = perf_now_us();
    struct perf_cpu c0 = perf_cpu_now(), c1;
    while (got < count && perf_now_us() - start < RECV_WAIT_US) {
        size_t len;
        if (mc_recv(s, buf, sz + 1, &len, 100) != 0 || len < 16)
            continue;
        if (buf[0] == 'E')
            break;
        if (buf[0] != 'D')
            continue;
        uint64_t now = now_ns();
        if (got == 0) {
            t0 = perf_now_us();
            c0 = perf_cpu_now();
        }
        lats[got++] = now - get64(buf + 8);
        t1 = perf_now_us();
    }
    c1 = perf_cpu_now();
    FILE *f = fopen(done, "w");
    if (f)
        fclose(f);
    printf("delivered: %ld of %ld\n", got, count);
    if (kind == 'p' && mc_lost(s) >= 0)
        printf("receiver: %ld lost, %ld dropped\n", mc_lost(s), mc_dropped(s));
    if (got == 0)
        return 1;
    if (lat) {
        double sum = 0;
        for (long i = 0; i < got; i++)
            sum += (double) lats[i];
        qsort(lats, (size_t) got, sizeof *lats, cmp_u64);
        printf("message size: %d [B]\n", (int) sz);
        printf("average latency: %.3f [us]\n", sum / (double) got / 1000.0);
        printf("median latency: %.3f [us]\n", (double) lats[got / 2] / 1000.0);
    } else {
        perf_thr_print(sz, got, t0, t1, c0, c1);
        printf("throughput: %.3f [MB/s]\n", (double) got * (double) sz / (double) (t1 - t0 ? t1 - t0 : 1));
        printf("deliver time: %.3f [s]\n", (double) (t1 - t0) / 1e6);
    }
    free(lats);
    free(buf);
    return got == count ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc != 6 ||
        (strcmp(argv[1], "thr") != 0 && strcmp(argv[1], "lat") != 0 && strcmp(argv[1], "pace") != 0) ||
        (strcmp(argv[2], "send") != 0 && strcmp(argv[2], "recv") != 0)) {
        fprintf(stderr, "usage: %s thr|lat|pace send|recv <url> <msg-size> <msg-count>\n", argv[0]);
        return 1;
    }
    int kind = argv[1][0], sending = strcmp(argv[2], "send") == 0;
    size_t sz = (size_t) perf_arg_long(argv[4], "message size");
    long count = perf_arg_long(argv[5], "message count");
    if (sz < 16 || count < 1 || count > 0xFFFFFF) {
        fprintf(stderr, "pgm_mc: messages of at least 16 bytes, 1 to 16777215 of them\n");
        return 1;
    }
    const char *r = getenv("PERF_MC_RATE");
    long rate = r && *r ? perf_arg_long(r, "PERF_MC_RATE") : 20000000;
    const char *p = getenv("PERF_MC_PACE");
    long pace = p && *p ? perf_arg_long(p, "PERF_MC_PACE") : 10000000;
    if (pace < 1) {
        fprintf(stderr, "pgm_mc: PERF_MC_PACE must be positive\n");
        return 1;
    }
    const char *sd = getenv("PERF_MC_SUB_DEFAULTS");
    int bounded = kind == 'p' && (sending || (sd && strcmp(sd, "1") == 0));
    void *s = mc_open(sending, argv[3], rate, bounded);
    int rc = sending ? sender(kind, s, sz, count, (double) pace) : receiver(kind, s, sz, count);
    mc_close(s);
    return rc;
}
