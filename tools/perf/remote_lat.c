/*
    remote_lat: the connecting, timing side of the PAIR ping-pong latency
    test, with nanomsg's command line. Prints the message size, the number of
    round trips and the average one-way latency (half a round trip) in µs.

    usage: remote_lat <connect-to> <msg-size> <roundtrips>
*/

#include "nn_perf.h"

int main(int argc, char *argv[])
{
    const char *connect_to;
    size_t sz;
    long rts, i;
    char *buf;
    int s, nbytes, rc;
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    double lat;

    if (argc != 4) {
        printf("usage: remote_lat <connect-to> <msg-size> <roundtrips>\n");
        return 1;
    }
    connect_to = argv[1];
    sz = (size_t) perf_arg_long(argv[2], "msg-size");
    rts = perf_arg_long(argv[3], "roundtrips");

    s = nn_socket(AF_SP, NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 1);
    rc = nn_connect(s, connect_to);
    NN_CHECK(rc >= 0, "nn_connect");

    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);

    /*  Untimed warm-up round trip: waits for the connection. */
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

    /*  Tell local_lat it may close (see there). */
    nn_perf_timeouts(s, 1000, 0);
    nn_send(s, "", 0, 0);

    lat = rts > 0 ? (double) (t1 - t0) / ((double) rts * 2) : 0.0;
    printf("message size: %d [B]\n", (int) sz);
    printf("roundtrip count: %ld\n", rts);
    printf("average latency: %.3f [us]\n", lat);
    perf_cpu_print(c0, c1, 2.0 * (double) rts);

    free(buf);
    perf_pause_ms(20);
    rc = nn_close(s);
    NN_CHECK(rc == 0, "nn_close");
    return 0;
}
