/*
    zmq_lat: the latency test of local_lat/remote_lat/inproc_lat written
    against libzmq (ZMQ_PAIR ping-pong, one warm-up round trip, the same
    output lines), so that libzmq stands in the same table.

    At the end the pinging side says "done", and the echoing side waits for
    it before it closes.

    usage: zmq_lat local <bind-to> <msg-size> <roundtrips>
           zmq_lat remote <connect-to> <msg-size> <roundtrips>
           zmq_lat inproc <msg-size> <roundtrips>
*/

#include <pthread.h>

#include "zmq_perf.h"

static size_t sz;
static long rts;

static void echo(void *s)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    long i;
    int n;

    PERF_CHECK(buf != NULL, "malloc");
    for (i = 0; i != rts + 1; i++) {
        n = zmq_recv(s, buf, sz, 0);
        ZMQ_CHECK(n == (int) sz, "zmq_recv");
        n = zmq_send(s, buf, sz, 0);
        ZMQ_CHECK(n == (int) sz, "zmq_send");
    }
    /*  Close only once the pinging side holds the last reply: libzmq's
        close can lose what is still queued (see zmq_thr.c). */
    n = 2000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &n, sizeof(n));
    zmq_recv(s, buf, sz, 0);
    free(buf);
}

static void ping(void *s)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;
    int n;

    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);
    n = zmq_send(s, buf, sz, 0);
    ZMQ_CHECK(n == (int) sz, "zmq_send (warm-up)");
    n = zmq_recv(s, buf, sz, 0);
    ZMQ_CHECK(n == (int) sz, "zmq_recv (warm-up)");
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != rts; i++) {
        n = zmq_send(s, buf, sz, 0);
        ZMQ_CHECK(n == (int) sz, "zmq_send");
        n = zmq_recv(s, buf, sz, 0);
        ZMQ_CHECK(n == (int) sz, "zmq_recv");
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    n = zmq_send(s, buf, 0, 0);
    ZMQ_CHECK(n == 0, "zmq_send (done)");
    printf("message size: %d [B]\n", (int) sz);
    printf("roundtrip count: %ld\n", rts);
    printf("average latency: %.3f [us]\n",
        rts > 0 ? (double) (t1 - t0) / ((double) rts * 2) : 0.0);
    perf_cpu_print(c0, c1, 2.0 * (double) rts);
    free(buf);
}

static void *ctx;

static void *inproc_worker(void *arg)
{
    void *s = zmq_perf_socket(ctx, ZMQ_PAIR, 1);
    (void) arg;
    ZMQ_CHECK(zmq_connect(s, "inproc://zmq_lat") == 0, "zmq_connect");
    echo(s);
    zmq_close(s);
    return NULL;
}

int main(int argc, char *argv[])
{
    void *s;

    ctx = zmq_ctx_new();
    ZMQ_CHECK(ctx != NULL, "zmq_ctx_new");
    if (argc == 5 && (strcmp(argv[1], "local") == 0 || strcmp(argv[1], "remote") == 0)) {
        sz = (size_t) perf_arg_long(argv[3], "msg-size");
        rts = perf_arg_long(argv[4], "roundtrips");
        if (argv[1][0] == 'l') {
            struct perf_cpu c0, c1;
            s = zmq_perf_socket(ctx, ZMQ_PAIR, 0);
            ZMQ_CHECK(zmq_bind(s, argv[2]) == 0, "zmq_bind");
            c0 = perf_cpu_now();
            echo(s);
            zmq_close(s);
            zmq_ctx_term(ctx);
            c1 = perf_cpu_now();
            perf_cpu_print(c0, c1, 2.0 * (double) rts);
            return 0;
        }
        s = zmq_perf_socket(ctx, ZMQ_PAIR, 1);
        ZMQ_CHECK(zmq_connect(s, argv[2]) == 0, "zmq_connect");
        ping(s);
        zmq_close(s);
        zmq_ctx_term(ctx);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "inproc") == 0) {
        pthread_t t;
        sz = (size_t) perf_arg_long(argv[2], "msg-size");
        rts = perf_arg_long(argv[3], "roundtrips");
        s = zmq_perf_socket(ctx, ZMQ_PAIR, 0);
        ZMQ_CHECK(zmq_bind(s, "inproc://zmq_lat") == 0, "zmq_bind");
        errno = pthread_create(&t, NULL, inproc_worker, NULL);
        PERF_CHECK(errno == 0, "pthread_create");
        ping(s);
        pthread_join(t, NULL);
        zmq_close(s);
        zmq_ctx_term(ctx);
        return 0;
    }
    printf("usage: zmq_lat local <bind-to> <msg-size> <roundtrips>\n"
           "       zmq_lat remote <connect-to> <msg-size> <roundtrips>\n"
           "       zmq_lat inproc <msg-size> <roundtrips>\n");
    return 1;
}
