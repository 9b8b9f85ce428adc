/*
    raw_thr: the throughput baseline. The same stream as local_thr/remote_thr
    and inproc_thr (an empty start marker, then <msg-count> messages, then an
    empty acknowledgement back), with the same 8-byte length framing, over a
    plain blocking socket (tcp with TCP_NODELAY, or a Unix socket for
    ipc://) or, for inproc, over pipes between two threads. One writev per
    message on the sending side; the receiver reads through a 64 KiB buffer.

    usage: raw_thr local <bind-to> <msg-size> <msg-count>
           raw_thr remote <connect-to> <msg-size> <msg-count>
           raw_thr inproc <msg-size> <msg-count>
*/

/*  For CPU_SET in perf_pin.h (PERF_THREAD_CPUS). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>

#include "raw_util.h"
#include "perf_pin.h"

static size_t sz;
static long count;

static void sender(int out, int ack_in, int print_cpu)
{
    struct raw_reader *r = malloc(sizeof(*r));
    char *buf = malloc(sz > 0 ? sz : 1);
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(r != NULL && buf != NULL, "malloc");
    memset(buf, 111, sz);
    raw_reader_init(r, ack_in);
    raw_send(out, buf, 0);
    c0 = perf_cpu_now();
    for (i = 0; i != count; i++)
        raw_send(out, buf, sz);
    raw_recv(r, buf, sz);
    c1 = perf_cpu_now();
    if (print_cpu)
        perf_cpu_print(c0, c1, (double) count);
    free(buf);
    free(r);
}

static void receiver(int in, int ack_out)
{
    struct raw_reader *r = malloc(sizeof(*r));
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(r != NULL && buf != NULL, "malloc");
    raw_reader_init(r, in);
    if (raw_recv(r, buf, sz) != 0) {
        fprintf(stderr, "raw_thr: expected the empty start marker\n");
        exit(2);
    }
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != count; i++) {
        if (raw_recv(r, buf, sz) != sz) {
            fprintf(stderr, "raw_thr: short message\n");
            exit(2);
        }
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    raw_send(ack_out, buf, 0);
    perf_thr_print(sz, count, t0, t1, c0, c1);
    free(buf);
    free(r);
}

static int pipe_data[2], pipe_ack[2];

static void *inproc_worker(void *arg)
{
    (void) arg;
    perf_pin_thread(1);
    sender(pipe_data[1], pipe_ack[0], 0);
    return NULL;
}

int main(int argc, char *argv[])
{
    if (argc == 5 && (strcmp(argv[1], "local") == 0 || strcmp(argv[1], "remote") == 0)) {
        int fd;
        sz = (size_t) perf_arg_long(argv[3], "msg-size");
        count = perf_arg_long(argv[4], "msg-count");
        if (argv[1][0] == 'l') {
            fd = raw_accept_one(argv[2]);
            receiver(fd, fd);
        } else {
            fd = raw_connect(argv[2]);
            sender(fd, fd, 1);
        }
        close(fd);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "inproc") == 0) {
        pthread_t t;
        sz = (size_t) perf_arg_long(argv[2], "msg-size");
        count = perf_arg_long(argv[3], "msg-count");
        PERF_CHECK(pipe(pipe_data) == 0 && pipe(pipe_ack) == 0, "pipe");
        perf_pin_thread(0);
        errno = pthread_create(&t, NULL, inproc_worker, NULL);
        PERF_CHECK(errno == 0, "pthread_create");
        receiver(pipe_data[0], pipe_ack[1]);
        pthread_join(t, NULL);
        return 0;
    }
    printf("usage: raw_thr local <bind-to> <msg-size> <msg-count>\n"
           "       raw_thr remote <connect-to> <msg-size> <msg-count>\n"
           "       raw_thr inproc <msg-size> <msg-count>\n");
    return 1;
}
