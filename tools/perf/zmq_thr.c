/*
    zmq_thr: the throughput test of local_thr/remote_thr/inproc_thr written
    against libzmq: an empty start marker, then <msg-count> messages, then an
    empty acknowledgement back; the same output lines. ZMQ_PAIR like the nn
    programs, or ZMQ_PUSH/ZMQ_PULL (libzmq's own perf tools' choice) with
    PERF_PATTERN=pushpull, the acknowledgement then on a PAIR at the next tcp
    port / the ipc path + ".ack" (as local_thr/remote_thr do).

    The acknowledgement is needed: with libzmq 4.3.4 the sender's close and
    zmq_ctx_term, despite the infinite linger, now and then lose the last few
    hundred messages of a stream (seen over ipc, PAIR and PUSH/PULL alike).

    usage: zmq_thr local <bind-to> <msg-size> <msg-count>
           zmq_thr remote <connect-to> <msg-size> <msg-count>
           zmq_thr inproc <msg-size> <msg-count>
*/

/*  For CPU_SET in perf_pin.h (PERF_THREAD_CPUS). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>

#include "zmq_perf.h"
#include "perf_pin.h"

#define ZMQ_THR_INPROC "inproc://zmq_thr"
#define ZMQ_THR_INPROC_ACK "inproc://zmq_thr_ack"

static size_t sz;
static long count;
static void *ctx;
static int pushpull;

/*  The two sockets of one side: the stream and where the acknowledgement
    travels (the same socket for PAIR). */
struct side {
    void *s;
    void *ack;
};

static struct side open_side(int sending, const char *url, const char *ack_url)
{
    struct side d;
    int type = pushpull ? (sending ? ZMQ_PUSH : ZMQ_PULL) : ZMQ_PAIR;
    d.s = zmq_perf_socket(ctx, type, sending);
    if (sending)
        ZMQ_CHECK(zmq_connect(d.s, url) == 0, "zmq_connect");
    else
        ZMQ_CHECK(zmq_bind(d.s, url) == 0, "zmq_bind");
    d.ack = d.s;
    if (pushpull) {
        if (ack_url == NULL) {
            fprintf(stderr, "zmq_thr: push/pull needs a tcp:// or ipc:// url\n");
            exit(1);
        }
        d.ack = zmq_perf_socket(ctx, ZMQ_PAIR, sending);
        if (sending)
            ZMQ_CHECK(zmq_connect(d.ack, ack_url) == 0, "zmq_connect (ack)");
        else
            ZMQ_CHECK(zmq_bind(d.ack, ack_url) == 0, "zmq_bind (ack)");
    }
    return d;
}

static void close_side(struct side d)
{
    if (d.ack != d.s)
        zmq_close(d.ack);
    zmq_close(d.s);
}

static void sender(struct side d)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    long i;
    int n;

    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);
    n = zmq_send(d.s, buf, 0, 0);
    ZMQ_CHECK(n == 0, "zmq_send (start marker)");
    for (i = 0; i != count; i++) {
        n = zmq_send(d.s, buf, sz, 0);
        ZMQ_CHECK(n == (int) sz, "zmq_send");
    }
    n = zmq_recv(d.ack, buf, sz, 0);
    ZMQ_CHECK(n == 0, "zmq_recv (acknowledgement)");
    free(buf);
}

static void receiver(struct side d)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;
    int n;

    PERF_CHECK(buf != NULL, "malloc");
    n = zmq_recv(d.s, buf, sz, 0);
    ZMQ_CHECK(n == 0, "zmq_recv (start marker)");
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != count; i++) {
        n = zmq_recv(d.s, buf, sz, 0);
        ZMQ_CHECK(n == (int) sz, "zmq_recv");
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    n = zmq_send(d.ack, buf, 0, 0);
    ZMQ_CHECK(n == 0, "zmq_send (acknowledgement)");
    perf_thr_print(sz, count, t0, t1, c0, c1);
    free(buf);
}

static void *inproc_worker(void *arg)
{
    struct side d;
    (void) arg;
    perf_pin_thread(1);
    d = open_side(1, ZMQ_THR_INPROC, ZMQ_THR_INPROC_ACK);
    sender(d);
    close_side(d);
    return NULL;
}

int main(int argc, char *argv[])
{
    struct side d;

    pushpull = perf_pushpull();
    ctx = zmq_ctx_new();
    ZMQ_CHECK(ctx != NULL, "zmq_ctx_new");
    if (argc == 5 && (strcmp(argv[1], "local") == 0 || strcmp(argv[1], "remote") == 0)) {
        char *ack_url = perf_ack_url(argv[2]);
        sz = (size_t) perf_arg_long(argv[3], "msg-size");
        count = perf_arg_long(argv[4], "msg-count");
        if (argv[1][0] == 'l') {
            d = open_side(0, argv[2], ack_url);
            receiver(d);
        } else {
            struct perf_cpu c0, c1;
            d = open_side(1, argv[2], ack_url);
            c0 = perf_cpu_now();
            sender(d);
            c1 = perf_cpu_now();
            perf_cpu_print(c0, c1, (double) count);
        }
        close_side(d);
        zmq_ctx_term(ctx);
        free(ack_url);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "inproc") == 0) {
        pthread_t t;
        sz = (size_t) perf_arg_long(argv[2], "msg-size");
        count = perf_arg_long(argv[3], "msg-count");
        perf_pin_thread(0);
        d = open_side(0, ZMQ_THR_INPROC, ZMQ_THR_INPROC_ACK);
        errno = pthread_create(&t, NULL, inproc_worker, NULL);
        PERF_CHECK(errno == 0, "pthread_create");
        receiver(d);
        pthread_join(t, NULL);
        close_side(d);
        zmq_ctx_term(ctx);
        return 0;
    }
    printf("usage: zmq_thr local <bind-to> <msg-size> <msg-count>\n"
           "       zmq_thr remote <connect-to> <msg-size> <msg-count>\n"
           "       zmq_thr inproc <msg-size> <msg-count>\n");
    return 1;
}
