/*
    remote_thr: the connecting, sending side of the throughput test, with
    nanomsg's command line: an empty start marker, then <msg-count> messages
    of <msg-size> bytes. It waits for local_thr's acknowledgement before it
    closes (libnanomsg has no linger), and prints its CPU time per message.

    usage: remote_thr <connect-to> <msg-size> <msg-count>

    PERF_PATTERN=pushpull: PUSH instead of PAIR (see local_thr).
*/

#include "nn_perf.h"

int main(int argc, char *argv[])
{
    const char *connect_to;
    size_t sz;
    long count, i;
    char *buf, *ack_url;
    int s, a = -1, nbytes, rc, pushpull;
    struct perf_cpu c0, c1;

    if (argc != 4) {
        printf("usage: remote_thr <connect-to> <msg-size> <msg-count>\n");
        return 1;
    }
    connect_to = argv[1];
    sz = (size_t) perf_arg_long(argv[2], "msg-size");
    count = perf_arg_long(argv[3], "msg-count");
    pushpull = perf_pushpull();

    s = nn_socket(AF_SP, pushpull ? NN_PUSH : NN_PAIR);
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 1);
    rc = nn_connect(s, connect_to);
    NN_CHECK(rc >= 0, "nn_connect");
    if (pushpull) {
        ack_url = perf_ack_url(connect_to);
        if (ack_url != NULL) {
            a = nn_socket(AF_SP, NN_PAIR);
            NN_CHECK(a >= 0, "nn_socket (ack)");
            nn_perf_tune(a, 0, 1);
            rc = nn_connect(a, ack_url);
            NN_CHECK(rc >= 0, "nn_connect (ack)");
            free(ack_url);
        }
    } else {
        a = s;
    }

    buf = malloc(sz > 0 ? sz : 1);
    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);

    nbytes = nn_send(s, buf, 0, 0);
    NN_CHECK(nbytes == 0, "nn_send (start marker)");

    c0 = perf_cpu_now();
    for (i = 0; i != count; i++) {
        nbytes = nn_send(s, buf, sz, 0);
        NN_CHECK(nbytes == (int) sz, "nn_send");
    }
    if (a >= 0) {
        /*  The acknowledgement comes once local_thr has every message. */
        nn_perf_timeouts(a, 0, 10000);
        nbytes = nn_recv(a, buf, sz, 0);
        if (nbytes < 0)
            fprintf(stderr, "remote_thr: no acknowledgement: %s\n", nn_strerror(nn_errno()));
    } else {
        perf_pause_ms(1000);
    }
    c1 = perf_cpu_now();
    perf_cpu_print(c0, c1, (double) count);

    free(buf);
    if (a >= 0 && a != s)
        nn_close(a);
    rc = nn_close(s);
    NN_CHECK(rc == 0, "nn_close");
    return 0;
}
