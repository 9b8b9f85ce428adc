/*
    local_lat: the binding, echoing side of the PAIR ping-pong latency test,
    with nanomsg's command line. remote_lat connects, times the round trips
    and prints the average one-way latency; this side prints its CPU time.

    usage: local_lat <bind-to> <msg-size> <roundtrips>
*/

#include "nn_perf.h"

int main(int argc, char *argv[])
{
    const char *bind_to;
    size_t sz;
    long rts, i;
    char *buf;
    int s, nbytes, rc;
    struct perf_cpu c0, c1;

    if (argc != 4) {
        printf("usage: local_lat <bind-to> <msg-size> <roundtrips>\n");
        return 1;
    }
    bind_to = argv[1];
    sz = (size_t) perf_arg_long(argv[2], "msg-size");
    rts = perf_arg_long(argv[3], "roundtrips");

    s = nn_socket(AF_SP, NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 0);
    rc = nn_bind(s, bind_to);
    NN_CHECK(rc >= 0, "nn_bind");

    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);

    /*  One untimed round trip: remote_lat starts its clock only once the
        connection is up. */
    nbytes = nn_recv(s, buf, sz, 0);
    NN_CHECK(nbytes == (int) sz, "nn_recv (warm-up)");
    nbytes = nn_send(s, buf, sz, 0);
    NN_CHECK(nbytes == (int) sz, "nn_send (warm-up)");

    c0 = perf_cpu_now();
    for (i = 0; i != rts; i++) {
        nbytes = nn_recv(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_recv");
        nbytes = nn_send(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_send");
    }
    c1 = perf_cpu_now();

    /*  remote_lat says "done" once it holds the last reply, so closing now
        cannot drop that reply. A lost "done" costs only the timeout. */
    nn_perf_timeouts(s, 0, 2000);
    nn_recv(s, buf, sz, 0);

    perf_cpu_print(c0, c1, 2.0 * (double) rts);
    free(buf);
    rc = nn_close(s);
    NN_CHECK(rc == 0, "nn_close");
    return 0;
}
