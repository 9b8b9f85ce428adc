/*
    inproc_thr: one-way throughput over inproc between two threads of one
    process, with nanomsg's command line: a worker thread sends an empty
    start marker and <msg-count> messages, the main thread times them.
    Prints the size, count, msg/s, Mb/s and the CPU time of the process.

    usage: inproc_thr <msg-size> <msg-count>

    PAIR as in nanomsg's original; PERF_PATTERN=pushpull uses PUSH/PULL.
*/

/*  For CPU_SET in perf_pin.h (PERF_THREAD_CPUS). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <nanomsg/inproc.h>
#include <pthread.h>

#include "nn_perf.h"
#include "perf_pin.h"

#define INPROC_THR_URL "inproc://inproc_thr"
#define INPROC_ACK_URL "inproc://inproc_thr_ack"

static size_t sz;
static long count;
static int pushpull;

/*  The sender. Once everything is sent it waits for the main thread's
    acknowledgement (on the PAIR itself, or for PUSH/PULL on a second PAIR)
    before it closes: libnanomsg drops what is in flight on close. */
static void *worker(void *arg)
{
    char *buf;
    int s, a, nbytes, rc;
    long i;

    (void) arg;
    perf_pin_thread(1);
    s = nn_socket(AF_SP, pushpull ? NN_PUSH : NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket (worker)");
    nn_perf_tune(s, sz, 1);
    rc = nn_connect(s, INPROC_THR_URL);
    NN_CHECK(rc >= 0, "nn_connect");
    a = s;
    if (pushpull) {
        a = nn_socket(AF_SP, NN_PAIR);
        NN_CHECK(a >= 0, "nn_socket (ack)");
        rc = nn_connect(a, INPROC_ACK_URL);
        NN_CHECK(rc >= 0, "nn_connect (ack)");
    }
    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);

    nbytes = nn_send(s, buf, 0, 0);
    NN_CHECK(nbytes == 0, "nn_send (start marker)");
    for (i = 0; i != count; i++) {
        nbytes = nn_send(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_send");
    }
    nn_perf_timeouts(a, 0, 10000);
    nn_recv(a, buf, sz, 0);
    free(buf);
    if (a != s)
        nn_close(a);
    nn_close(s);
    return NULL;
}

int main(int argc, char *argv[])
{
    char *buf;
    int s, a, nbytes, rc;
    long i;
    pthread_t thread;
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    double secs, thr, mbs;

    if (argc != 3) {
        printf("usage: inproc_thr <msg-size> <msg-count>\n");
        return 1;
    }
    sz = (size_t) perf_arg_long(argv[1], "msg-size");
    count = perf_arg_long(argv[2], "msg-count");
    pushpull = perf_pushpull();
    perf_pin_thread(0);

    s = nn_socket(AF_SP, pushpull ? NN_PULL : NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 0);
    rc = nn_bind(s, INPROC_THR_URL);
    NN_CHECK(rc >= 0, "nn_bind");
    a = s;
    if (pushpull) {
        a = nn_socket(AF_SP, NN_PAIR);
        NN_CHECK(a >= 0, "nn_socket (ack)");
        rc = nn_bind(a, INPROC_ACK_URL);
        NN_CHECK(rc >= 0, "nn_bind (ack)");
    }

    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");

    rc = pthread_create(&thread, NULL, worker, NULL);
    errno = rc;
    PERF_CHECK(rc == 0, "pthread_create");

    nbytes = nn_recv(s, buf, sz, 0);
    NN_CHECK(nbytes == 0, "nn_recv (start marker)");

    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != count; i++) {
        nbytes = nn_recv(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_recv");
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();

    nn_perf_timeouts(a, 1000, 0);
    nn_send(a, "", 0, 0);

    secs = (double) (t1 - t0) / 1e6;
    if (secs <= 0)
        secs = 1e-6;
    thr = (double) count / secs;
    mbs = thr * (double) sz * 8 / 1000000;
    printf("message size: %d [B]\n", (int) sz);
    printf("message count: %ld\n", count);
    printf("throughput: %.0f [msg/s]\n", thr);
    printf("throughput: %.3f [Mb/s]\n", mbs);
    perf_cpu_print(c0, c1, (double) count);

    pthread_join(thread, NULL);
    free(buf);
    if (a != s)
        nn_close(a);
    rc = nn_close(s);
    NN_CHECK(rc == 0, "nn_close");
    return 0;
}
