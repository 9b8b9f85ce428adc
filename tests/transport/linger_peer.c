/* The other process of the linger tests (linger.c): a PUSH that sends and
   closes at once, or a peer that connects and never reads until it is
   killed. Public nanomsg API only, so that it also builds against Debian's
   libnanomsg 1.1.5 (-DAGAINST_LIBNANOMSG).

   linger_peer push URL COUNT SIZE SNDBUF LINGER END
       A PUSH connects to URL (NN_SNDBUF set to SNDBUF unless it is 0,
       NN_LINGER to LINGER unless it is "default"; tls+tcp and wss skip
       certificate checks), sends COUNT messages of SIZE bytes whose first
       four bytes hold the message's index (big-endian), then calls END
       ("close": nn_close, "term": nn_term) and exits at once. It prints
       "closed MS" (how long END took) and exits with 0, or with 1 and a
       message on stderr.

   linger_peer stall tcp PORT PROTO | stall ipc PATH PROTO
       A plain socket with a small receive buffer connects, sends the SP
       header announcing protocol PROTO and then never reads; it prints
       "ready" and waits until it is killed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#ifndef AGAINST_LIBNANOMSG
#include <nanomsg/tls.h>
#endif

#include "testutil.h"

static int die(const char *what)
{
    fprintf(stderr, "linger_peer: %s: %s\n", what, nn_strerror(nn_errno()));
    return 1;
}

static int push(char **argv)
{
    const char *url = argv[0];
    long count = atol(argv[1]);
    size_t size = (size_t) atol(argv[2]);
    int sndbuf = atoi(argv[3]);
    const char *linger = argv[4];
    bool term = strcmp(argv[5], "term") == 0;
    int tmo = 30000; /* a stuck send fails the test instead of hanging it */
    char *buf = calloc(1, size < 4 ? 4 : size);
    int s = nn_socket(AF_SP, NN_PUSH);
    if (!buf || s < 0)
        return die("nn_socket");
    if (nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo) != 0)
        return die("NN_SNDTIMEO");
    if (sndbuf > 0 && nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &sndbuf, sizeof sndbuf) != 0)
        return die("NN_SNDBUF");
    if (strcmp(linger, "default") != 0) {
        int v = atoi(linger);
        if (nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, sizeof v) != 0)
            return die("NN_LINGER");
    }
#ifndef AGAINST_LIBNANOMSG
    if (strncmp(url, "tls+tcp://", 10) == 0 || strncmp(url, "wss://", 6) == 0) {
        int none = NN_TLS_VERIFY_NONE;
        if (nn_setsockopt(s, NN_TLS, NN_TLS_VERIFY, &none, sizeof none) != 0)
            return die("NN_TLS_VERIFY");
    }
#endif
    if (nn_connect(s, url) < 0)
        return die("nn_connect");
    for (long i = 0; i < count; i++) {
        buf[0] = (char) (i >> 24);
        buf[1] = (char) (i >> 16);
        buf[2] = (char) (i >> 8);
        buf[3] = (char) i;
        if (nn_send(s, buf, size, 0) != (int) size) {
            fprintf(stderr, "linger_peer: nn_send %ld: %s\n", i, nn_strerror(nn_errno()));
            return 1;
        }
    }
    uint64_t t0 = tu_now_ms();
    if (term)
        nn_term();
    else if (nn_close(s) != 0)
        return die("nn_close");
    printf("closed %llu\n", (unsigned long long) (tu_now_ms() - t0));
    fflush(stdout);
    free(buf);
    return 0;
}

static int stall(char **argv)
{
    unsigned char hdr[8];
    int fd = strcmp(argv[0], "tcp") == 0 ? tu_connect_tcp(atoi(argv[1]), 4096) : tu_connect_ipc(argv[1], 4096);
    if (fd < 0) {
        perror("linger_peer: connect");
        return 1;
    }
    tu_sp_header(hdr, atoi(argv[2]));
    if (!tu_write_all(fd, hdr, sizeof hdr)) {
        perror("linger_peer: write");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    if (argc == 8 && strcmp(argv[1], "push") == 0)
        return push(argv + 2);
    if (argc == 5 && strcmp(argv[1], "stall") == 0)
        return stall(argv + 2);
    fprintf(stderr, "usage: linger_peer push URL COUNT SIZE SNDBUF LINGER close|term\n"
                    "       linger_peer stall tcp PORT PROTO | stall ipc PATH PROTO\n");
    return 2;
}
