/*
    tcp_many: many connections into one socket, over the nn_* API. N PUSH
    sockets, spread over child processes (libnanomsg allows 512 sockets per
    process), connect to one PULL over tcp; each says hello once, then sends
    <msgs-each> messages. The measurement itself (phases, processes, output)
    is many_harness.h, shared with zmq_many.

    usage: tcp_many <url> <sockets> <msgs-each> <msg-size> [sockets-per-process]

    <url> is bound by the PULL and connected to by the PUSH sockets, so it
    must be connectable: 127.0.0.1, not the wildcard host.
*/

#include <stdint.h>

#include "nn_perf.h"

#include "many_harness.h"

/*  nn sockets are ints; the harness carries them as handles. */
static int sock_of(void *h)
{
    return (int) (intptr_t) h;
}

static void *n_open(int nsockets)
{
    (void) nsockets;
    return NULL; /* the library starts with its first socket */
}

static void n_close_lib(void *lib)
{
    (void) lib;
}

static void *n_push(void *lib, size_t sz)
{
    int s = nn_socket(AF_SP, NN_PUSH);
    (void) lib;
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 1);
    nn_perf_timeouts(s, 60000, 0);
    return (void *) (intptr_t) s;
}

static void n_connect(void *h, const char *url)
{
    NN_CHECK(nn_connect(sock_of(h), url) >= 0, "nn_connect");
}

static void n_send(void *h, const void *buf, size_t len)
{
    NN_CHECK(nn_send(sock_of(h), buf, len, 0) == (int) len, "nn_send");
}

static void *n_pull(void *lib, size_t sz, const char *url)
{
    int s = nn_socket(AF_SP, NN_PULL);
    (void) lib;
    NN_CHECK(s >= 0, "nn_socket");
    nn_perf_tune(s, sz, 0);
    nn_perf_timeouts(s, 0, 60000);
    NN_CHECK(nn_bind(s, url) >= 0, "nn_bind");
    return (void *) (intptr_t) s;
}

static int n_recv(void *h, void *buf, size_t len)
{
    return nn_recv(sock_of(h), buf, len, 0);
}

static void n_close(void *h)
{
    NN_CHECK(nn_close(sock_of(h)) == 0, "nn_close");
}

int main(int argc, char *argv[])
{
    static const struct many_ops ops = {
        "tcp_many", NULL, n_open, n_close_lib, n_push, n_connect, n_send,
        n_pull, n_recv, n_close,
    };
    return many_main(argc, argv, &ops);
}
