/*
    local_thr: the binding, receiving side of the throughput test, with
    nanomsg's command line. It times <msg-count> messages of <msg-size> bytes
    from the first one after remote_thr's empty start marker, and prints the
    message size, the count, the throughput in msg/s and Mb/s, and its CPU.

    usage: local_thr <bind-to> <msg-size> <msg-count>

    PAIR as in nanomsg's original; PERF_PATTERN=pushpull in the environment
    makes it a PULL socket (remote_thr must get the same setting). At the end
    it acknowledges the stream (on the PAIR itself, or in PUSH/PULL mode on a
    PAIR at the next tcp port / the ipc path + ".ack") so that remote_thr does
    not close while messages are still on their way.
*/

#include "nn_perf.h"

int main(int argc, char *argv[])
{
    const char *bind_to;
    size_t sz;
    long count, i;
    char *buf, *ack_url;
    int s, a = -1, nbytes, rc, pushpull;
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    double secs, thr, mbs;

    if (argc != 4) {
        printf("usage: local_thr <bind-to> <msg-size> <msg-count>\n");
        return 1;
    }
    bind_to = argv[1];
    sz = (size_t) perf_arg_long(argv[2], "msg-size");
    count = perf_arg_long(argv[3], "msg-count");
    pushpull = perf_pushpull();

    s = nn_socket(AF_SP, pushpull ? NN_PULL : NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 0);
    rc = nn_bind(s, bind_to);
    NN_CHECK(rc >= 0, "nn_bind");
    if (pushpull) {
        ack_url = perf_ack_url(bind_to);
        if (ack_url != NULL) {
            a = nn_socket(AF_SP, NN_PAIR);
            NN_CHECK(a >= 0, "nn_socket (ack)");
            rc = nn_bind(a, ack_url);
            NN_CHECK(rc >= 0, "nn_bind (ack)");
            free(ack_url);
        }
    } else {
        a = s;
    }

    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");

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

    if (a >= 0) {
        nn_perf_timeouts(a, 1000, 0);
        nn_send(a, "", 0, 0);
    }

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

    free(buf);
    perf_pause_ms(20);
    if (a >= 0 && a != s)
        nn_close(a);
    rc = nn_close(s);
    NN_CHECK(rc == 0, "nn_close");
    return 0;
}
