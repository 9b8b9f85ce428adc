/*
    zmq_many: tcp_many written against libzmq, so libzmq stands in the
    "many connections" rows. N ZMQ_PUSH sockets, spread over child processes
    (one zmq context per process, default single I/O thread), connect to one
    ZMQ_PULL over tcp; each says hello once, then sends <msgs-each> messages.
    The same structure (go pipes, report pipe, phases) and the same output
    lines as tcp_many: the time for every connection to come up (connect +
    ZMTP handshake + the first message), the time to deliver all messages,
    the resident memory of an idle socket and of a connection on each side,
    and the CPU time of all processes per message.

    Differences from the nn version, each to keep the comparison fair:
    - ZMQ_IMMEDIATE on the PUSH sockets: without it libzmq queues the hello
      before the connection exists and zmq_send returns at once; with it,
      like an nn PUSH, the hello waits for a connected peer, so the push
      side's "after connecting" memory is taken with the connections up.
    - ZMQ_SNDHWM/ZMQ_RCVHWM stay at libzmq's default 1000 messages, set
      explicitly: a PUSH at its high-water mark blocks (never drops), and
      the PULL drains all the time, so this is flow control, like the nn
      libraries' buffers, not a way to stall.
    - The children wait for the parent to hold every message before they
      close (as tcp_many does), so ZMQ_LINGER 0 loses nothing and lets
      zmq_ctx_term return at once.
    - ZMQ_BACKLOG stays at libzmq's default (100), as the nn programs keep
      their library's listen backlog (libnanomsg: 100, ours: SOMAXCONN):
      1000 simultaneous connects then overflow the accept queue and the
      kernel's SYN retries (1 s) show in connect+handshake. That is what a
      user gets out of the box; with ZMQ_BACKLOG 4096 libzmq's figure drops
      from about 2 s to about 0.2 s here.

    The measurement itself (phases, processes, output) is many_harness.h,
    shared with tcp_many; usage as there.
*/

#include "zmq_perf.h"

#include "many_harness.h"

static void set_int(void *s, int opt, int v, const char *what)
{
    ZMQ_CHECK(zmq_setsockopt(s, opt, &v, sizeof(v)) == 0, what);
}

/*  The first socket of a process starts libzmq's I/O and reaper threads. */
static void *z_open(int nsockets)
{
    void *ctx = zmq_ctx_new();
    ZMQ_CHECK(ctx != NULL, "zmq_ctx_new");
    if (nsockets + 16 > ZMQ_MAX_SOCKETS_DFLT)
        ZMQ_CHECK(zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, nsockets + 16) == 0, "ZMQ_MAX_SOCKETS");
    return ctx;
}

static void z_close_lib(void *ctx)
{
    zmq_ctx_term(ctx);
}

/*  The options every socket gets; the nn programs' timeouts too. */
static void *z_push(void *ctx, size_t sz)
{
    void *s = zmq_perf_socket(ctx, ZMQ_PUSH, 1);
    (void) sz;
    set_int(s, ZMQ_LINGER, 0, "ZMQ_LINGER");
    set_int(s, ZMQ_SNDHWM, 1000, "ZMQ_SNDHWM");
    set_int(s, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE");
    set_int(s, ZMQ_SNDTIMEO, 60000, "ZMQ_SNDTIMEO");
    return s;
}

static void z_connect(void *s, const char *url)
{
    ZMQ_CHECK(zmq_connect(s, url) == 0, "zmq_connect");
}

static void z_send(void *s, const void *buf, size_t len)
{
    ZMQ_CHECK(zmq_send(s, buf, len, 0) == (int) len, "zmq_send");
}

static void *z_pull(void *ctx, size_t sz, const char *url)
{
    void *s = zmq_perf_socket(ctx, ZMQ_PULL, 0);
    (void) sz;
    set_int(s, ZMQ_LINGER, 0, "ZMQ_LINGER");
    set_int(s, ZMQ_RCVHWM, 1000, "ZMQ_RCVHWM");
    set_int(s, ZMQ_RCVTIMEO, 60000, "ZMQ_RCVTIMEO");
    ZMQ_CHECK(zmq_bind(s, url) == 0, "zmq_bind");
    return s;
}

static int z_recv(void *s, void *buf, size_t len)
{
    return zmq_recv(s, buf, len, 0);
}

static void z_close(void *s)
{
    ZMQ_CHECK(zmq_close(s) == 0, "zmq_close");
}

int main(int argc, char *argv[])
{
    static const struct many_ops ops = {
        "zmq_many", NULL, z_open, z_close_lib, z_push, z_connect, z_send,
        z_pull, z_recv, z_close,
    };
    return many_main(argc, argv, &ops);
}
