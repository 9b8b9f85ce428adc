/*
    raw_lat: the latency baseline. The same ping-pong as local_lat/remote_lat
    and inproc_lat, with the same 8-byte length framing, over a plain
    blocking socket (tcp with TCP_NODELAY, or a Unix socket for ipc://) or,
    for inproc, over two pipes between two threads. Same output lines.

    usage: raw_lat local <bind-to> <msg-size> <roundtrips>
           raw_lat remote <connect-to> <msg-size> <roundtrips>
           raw_lat inproc <msg-size> <roundtrips>
*/

#include <pthread.h>

#include "raw_util.h"

static size_t sz;
static long rts;

/*  Echoes rts + 1 messages (one warm-up) from in to out. */
static void echo(int in, int out)
{
    struct raw_reader *r = malloc(sizeof(*r));
    char *buf = malloc(sz > 0 ? sz : 1);
    long i;

    PERF_CHECK(r != NULL && buf != NULL, "malloc");
    raw_reader_init(r, in);
    for (i = 0; i != rts + 1; i++) {
        if (raw_recv(r, buf, sz) != sz) {
            fprintf(stderr, "raw_lat: short message\n");
            exit(2);
        }
        raw_send(out, buf, sz);
    }
    free(buf);
    free(r);
}

/*  Times rts round trips after one warm-up, prints the nanomsg lines. */
static void ping(int in, int out)
{
    struct raw_reader *r = malloc(sizeof(*r));
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(r != NULL && buf != NULL, "malloc");
    memset(buf, 111, sz);
    raw_reader_init(r, in);
    raw_send(out, buf, sz);
    raw_recv(r, buf, sz);
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != rts; i++) {
        raw_send(out, buf, sz);
        if (raw_recv(r, buf, sz) != sz) {
            fprintf(stderr, "raw_lat: short message\n");
            exit(2);
        }
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    printf("message size: %d [B]\n", (int) sz);
    printf("roundtrip count: %ld\n", rts);
    printf("average latency: %.3f [us]\n",
        rts > 0 ? (double) (t1 - t0) / ((double) rts * 2) : 0.0);
    perf_cpu_print(c0, c1, 2.0 * (double) rts);
    free(buf);
    free(r);
}

static int pipe_fwd[2], pipe_back[2];

static void *inproc_worker(void *arg)
{
    (void) arg;
    echo(pipe_fwd[0], pipe_back[1]);
    return NULL;
}

int main(int argc, char *argv[])
{
    if (argc == 5 && (strcmp(argv[1], "local") == 0 || strcmp(argv[1], "remote") == 0)) {
        int fd;
        struct perf_cpu c0, c1;
        sz = (size_t) perf_arg_long(argv[3], "msg-size");
        rts = perf_arg_long(argv[4], "roundtrips");
        if (argv[1][0] == 'l') {
            fd = raw_accept_one(argv[2]);
            c0 = perf_cpu_now();
            echo(fd, fd);
            c1 = perf_cpu_now();
            perf_cpu_print(c0, c1, 2.0 * (double) rts);
        } else {
            fd = raw_connect(argv[2]);
            ping(fd, fd);
        }
        close(fd);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "inproc") == 0) {
        pthread_t t;
        sz = (size_t) perf_arg_long(argv[2], "msg-size");
        rts = perf_arg_long(argv[3], "roundtrips");
        PERF_CHECK(pipe(pipe_fwd) == 0 && pipe(pipe_back) == 0, "pipe");
        errno = pthread_create(&t, NULL, inproc_worker, NULL);
        PERF_CHECK(errno == 0, "pthread_create");
        ping(pipe_back[0], pipe_fwd[1]);
        pthread_join(t, NULL);
        return 0;
    }
    printf("usage: raw_lat local <bind-to> <msg-size> <roundtrips>\n"
           "       raw_lat remote <connect-to> <msg-size> <roundtrips>\n"
           "       raw_lat inproc <msg-size> <roundtrips>\n");
    return 1;
}
