/*
    nng_many: tcp_many written against NNG's own API, for the runs its
    nanomsg compat layer cannot do: tls+tcp:// (the TLS handshake row of
    tools/bench, with the certificates of PERF_TLS_DIR, see nng_perf.h).
    push0 sockets, each with its dialer, into one pull0 listener; the same
    phases, processes and output lines as tcp_many (many_harness.h).

    usage: nng_many <url> <sockets> <msgs-each> <msg-size> [sockets-per-process]
*/

#include <stdint.h>

#include "nng_perf.h"

#include "many_harness.h"

static nng_socket sock_of(void *h)
{
    nng_socket s;
    s.id = (uint32_t) (uintptr_t) h;
    return s;
}

static void *g_open(int nsockets)
{
    (void) nsockets;
    return NULL; /* NNG starts with its first socket */
}

static void g_close_lib(void *lib)
{
    (void) lib;
}

static void *g_push(void *lib, size_t sz)
{
    nng_socket s;
    (void) lib;
    NNG_CHECK(nng_push0_open(&s), "nng_push0_open");
    nng_perf_tune(s, sz, 60000, 0);
    return (void *) (uintptr_t) s.id;
}

static void g_connect(void *h, const char *url)
{
    nng_perf_dial(sock_of(h), url, 0);
}

static void g_send(void *h, const void *buf, size_t len)
{
    nng_perf_send(sock_of(h), buf, len, "nng_send");
}

static void *g_pull(void *lib, size_t sz, const char *url)
{
    nng_socket s;
    (void) lib;
    NNG_CHECK(nng_pull0_open(&s), "nng_pull0_open");
    nng_perf_tune(s, sz, 0, 60000);
    nng_perf_listen(s, url, sz);
    return (void *) (uintptr_t) s.id;
}

static int g_recv(void *h, void *buf, size_t len)
{
    size_t n = len;
    if (nng_recv(sock_of(h), buf, &n, 0) != 0)
        return -1;
    return (int) n;
}

static void g_close(void *h)
{
    NNG_CHECK(nng_close(sock_of(h)), "nng_close");
}

int main(int argc, char *argv[])
{
    static const struct many_ops ops = {
        "nng_many", NULL, g_open, g_close_lib, g_push, g_connect, g_send,
        g_pull, g_recv, g_close,
    };
    return many_main(argc, argv, &ops);
}
