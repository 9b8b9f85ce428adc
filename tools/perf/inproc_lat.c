/*
    inproc_lat: PAIR ping-pong latency over inproc between two threads of one
    process, with nanomsg's command line. Prints the average one-way latency
    (half a round trip) in µs, and the CPU time of the whole process.

    usage: inproc_lat <msg-size> <roundtrips>
*/

#include <nanomsg/inproc.h>
#include <pthread.h>

#include "nn_perf.h"

#define INPROC_LAT_URL "inproc://inproc_lat"

static size_t sz;
static long rts;

/*  The echoing peer. */
static void *worker(void *arg)
{
    char *buf;
    int s, nbytes, rc;
    long i;

    (void) arg;
    s = nn_socket(AF_SP, NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket (worker)");
    nn_perf_tune(s, sz, 1);
    rc = nn_connect(s, INPROC_LAT_URL);
    NN_CHECK(rc >= 0, "nn_connect");
    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);

    /*  rts timed round trips plus one warm-up. */
    for (i = 0; i != rts + 1; i++) {
        nbytes = nn_recv(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_recv (worker)");
        nbytes = nn_send(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_send (worker)");
    }
    /*  Closing right after the last reply may drop it in libnanomsg: wait
        for the main thread to say it has it. */
    nn_perf_timeouts(s, 0, 10000);
    nn_recv(s, buf, sz, 0);
    free(buf);
    nn_close(s);
    return NULL;
}

int main(int argc, char *argv[])
{
    char *buf;
    int s, nbytes, rc;
    long i;
    pthread_t thread;
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    double lat;

    if (argc != 3) {
        printf("usage: inproc_lat <msg-size> <roundtrips>\n");
        return 1;
    }
    sz = (size_t) perf_arg_long(argv[1], "msg-size");
    rts = perf_arg_long(argv[2], "roundtrips");

    s = nn_socket(AF_SP, NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 0);
    rc = nn_bind(s, INPROC_LAT_URL);
    NN_CHECK(rc >= 0, "nn_bind");

    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);

    rc = pthread_create(&thread, NULL, worker, NULL);
    errno = rc;
    PERF_CHECK(rc == 0, "pthread_create");

    nbytes = nn_send(s, buf, sz, 0);
    NN_CHECK(nbytes == (int) sz, "nn_send (warm-up)");
    nbytes = nn_recv(s, buf, sz, 0);
    NN_CHECK(nbytes == (int) sz, "nn_recv (warm-up)");

    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != rts; i++) {
        nbytes = nn_send(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_send");
        nbytes = nn_recv(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_recv");
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();

    nn_perf_timeouts(s, 1000, 0);
    nn_send(s, "", 0, 0);

    lat = rts > 0 ? (double) (t1 - t0) / ((double) rts * 2) : 0.0;
    printf("message size: %d [B]\n", (int) sz);
    printf("roundtrip count: %ld\n", rts);
    printf("average latency: %.3f [us]\n", lat);
    perf_cpu_print(c0, c1, 2.0 * (double) rts);

    pthread_join(thread, NULL);
    free(buf);
    rc = nn_close(s);
    NN_CHECK(rc == 0, "nn_close");
    return 0;
}
