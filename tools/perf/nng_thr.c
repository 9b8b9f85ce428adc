/*
    nng_thr: the throughput test of local_thr/remote_thr written against NNG's
    own API, for the rows its nanomsg compat layer cannot run (tls+tcp://,
    wss://: the compat layer has no TLS options). The same stream over pair0
    (the socket NN_PAIR gives in the compat layer): an empty start marker,
    <msg-count> messages, an empty acknowledgement back; the same output
    lines, the same options (see nng_perf.h).

    usage: nng_thr local <bind-to> <msg-size> <msg-count>
           nng_thr remote <connect-to> <msg-size> <msg-count>
*/

#include "nng_perf.h"

static size_t sz;
static long count;

static void receiver(nng_socket s)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(buf != NULL, "malloc");
    if (nng_perf_recv(s, buf, sz, "nng_recv (start marker)") != 0) {
        fprintf(stderr, "nng_thr: expected the empty start marker\n");
        exit(2);
    }
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != count; i++) {
        if (nng_perf_recv(s, buf, sz, "nng_recv") != sz) {
            fprintf(stderr, "nng_thr: short message\n");
            exit(2);
        }
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 1000);
    nng_send(s, buf, 0, 0);
    perf_thr_print(sz, count, t0, t1, c0, c1);
    free(buf);
    /*  NNG sends asynchronously: give the acknowledgement time to leave. */
    perf_pause_ms(20);
}

static void sender(nng_socket s)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    struct perf_cpu c0, c1;
    long i;
    int rv;

    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);
    nng_perf_send(s, buf, 0, "nng_send (start marker)");
    c0 = perf_cpu_now();
    for (i = 0; i != count; i++)
        nng_perf_send(s, buf, sz, "nng_send");
    /*  The acknowledgement comes once the receiver has every message. */
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
    {
        size_t len = sz;
        rv = nng_recv(s, buf, &len, 0);
        if (rv != 0)
            fprintf(stderr, "nng_thr: no acknowledgement: %s\n", nng_strerror(rv));
    }
    c1 = perf_cpu_now();
    perf_cpu_print(c0, c1, (double) count);
    free(buf);
}

int main(int argc, char *argv[])
{
    nng_socket s;

    if (argc != 5 || (strcmp(argv[1], "local") != 0 && strcmp(argv[1], "remote") != 0)) {
        printf("usage: nng_thr local <bind-to> <msg-size> <msg-count>\n"
               "       nng_thr remote <connect-to> <msg-size> <msg-count>\n");
        return 1;
    }
    sz = (size_t) perf_arg_long(argv[3], "msg-size");
    count = perf_arg_long(argv[4], "msg-count");
    NNG_CHECK(nng_pair0_open(&s), "nng_pair0_open");
    nng_perf_tune(s, sz, 0, 0);
    if (argv[1][0] == 'l') {
        nng_perf_listen(s, argv[2], sz);
        receiver(s);
    } else {
        nng_perf_dial(s, argv[2], sz);
        sender(s);
    }
    NNG_CHECK(nng_close(s), "nng_close");
    return 0;
}
