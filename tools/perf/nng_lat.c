/*
    nng_lat: the latency test of local_lat/remote_lat written against NNG's
    own API, for the rows its nanomsg compat layer cannot run (tls+tcp://,
    wss://). pair0 ping-pong, one untimed warm-up round trip, the same output
    lines, the same options (see nng_perf.h). At the end the pinging side
    says "done", and the echoing side waits for it before it closes.

    usage: nng_lat local <bind-to> <msg-size> <roundtrips>
           nng_lat remote <connect-to> <msg-size> <roundtrips>
*/

#include "nng_perf.h"

static size_t sz;
static long rts;

static void echo(nng_socket s)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    struct perf_cpu c0 = {0, 0}, c1;
    long i;

    PERF_CHECK(buf != NULL, "malloc");
    for (i = 0; i != rts + 1; i++) {
        if (nng_perf_recv(s, buf, sz, "nng_recv") != sz) {
            fprintf(stderr, "nng_lat: short message\n");
            exit(2);
        }
        nng_perf_send(s, buf, sz, "nng_send");
        if (i == 0)
            c0 = perf_cpu_now();
    }
    c1 = perf_cpu_now();
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 2000);
    {
        size_t len = sz;
        nng_recv(s, buf, &len, 0);
    }
    perf_cpu_print(c0, c1, 2.0 * (double) rts);
    free(buf);
}

static void ping(nng_socket s)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);
    nng_perf_send(s, buf, sz, "nng_send (warm-up)");
    nng_perf_recv(s, buf, sz, "nng_recv (warm-up)");
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != rts; i++) {
        nng_perf_send(s, buf, sz, "nng_send");
        if (nng_perf_recv(s, buf, sz, "nng_recv") != sz) {
            fprintf(stderr, "nng_lat: short message\n");
            exit(2);
        }
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 1000);
    nng_send(s, buf, 0, 0);
    printf("message size: %d [B]\n", (int) sz);
    printf("roundtrip count: %ld\n", rts);
    printf("average latency: %.3f [us]\n",
        rts > 0 ? (double) (t1 - t0) / ((double) rts * 2) : 0.0);
    perf_cpu_print(c0, c1, 2.0 * (double) rts);
    free(buf);
    perf_pause_ms(20);
}

int main(int argc, char *argv[])
{
    nng_socket s;

    if (argc != 5 || (strcmp(argv[1], "local") != 0 && strcmp(argv[1], "remote") != 0)) {
        printf("usage: nng_lat local <bind-to> <msg-size> <roundtrips>\n"
               "       nng_lat remote <connect-to> <msg-size> <roundtrips>\n");
        return 1;
    }
    sz = (size_t) perf_arg_long(argv[3], "msg-size");
    rts = perf_arg_long(argv[4], "roundtrips");
    NNG_CHECK(nng_pair0_open(&s), "nng_pair0_open");
    nng_perf_tune(s, sz, 0, 0);
    if (argv[1][0] == 'l') {
        nng_perf_listen(s, argv[2], sz);
        echo(s);
    } else {
        nng_perf_dial(s, argv[2], sz);
        ping(s);
    }
    NNG_CHECK(nng_close(s), "nng_close");
    return 0;
}
