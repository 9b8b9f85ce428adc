/* Large messages on the paths that skip a copy. A blocked nn_recv on a PAIR
   or PULL whose only connection is a tcp or ipc stream has a large message
   (over 4 KiB) read straight into its own buffer when it fits; nn_send on a
   PUSH or PAIR writes a large body (8 KiB and more) to an idle connection
   straight from the caller's buffer and copies only what the kernel does not
   take at once. Neither may show: every size around the thresholds arrives
   intact whatever the buffer (exact, larger, one byte short: truncated as
   always), the sender may reuse its buffer as soon as nn_send returns, a
   message that arrives in many pieces is whole, and a recv that stops
   waiting mid-message (NN_RCVTIMEO), a peer that leaves mid-message or
   sends one over NN_RCVMAXSIZE cost at most that connection, never the
   socket or the process. A PAIR over tcp without NN_RCVTIMEO waits in
   blocking reads of its connection instead of poll(), and those read the
   large message into the buffer too: the same holds there, and nn_close
   still ends such a recv mid-message. Behind a large body only the next
   frame's header is read: a header that comes alone, split, or is followed
   by a timeout or the peer's leaving changes nothing of the above. A send
   that finds its connection full waits for room and writes the queue in
   its own thread: NN_SNDTIMEO, nn_close, a peer that leaves, a recv beside
   it on the same PAIR and several senders on one socket all behave as
   when the I/O thread writes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include "testutil.h"

#define URL_LEN 256

enum kind { TCP, IPC, INPROC };

struct addr {
    enum kind kind;
    int port;         /* TCP */
    char url[URL_LEN];
    const char *path; /* IPC: into url */
};

static void addr_init(struct addr *a, enum kind kind, const char *name)
{
    static int seq;
    char file[64];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    snprintf(file, sizeof file, "%s-%d", name, seq++);
    if (kind == TCP) {
        a->port = tu_free_port();
        tu_tcp_url(a->url, sizeof a->url, a->port);
    } else if (kind == IPC) {
        tu_ipc_url(a->url, sizeof a->url, file);
        a->path = a->url + strlen("ipc://");
    } else {
        tu_inproc_url(a->url, sizeof a->url, file);
    }
}

/* ---- every size around the thresholds, any buffer ---- */

static const size_t sizes[] = {4095, 4096, 4097, 8191, 8192, 8193, 16383, 16384, 16385, 65536, 1 << 20};
#define COPIES 3 /* per size: buffer exact, larger, one byte short */

struct sender {
    int s;
    bool ok;
};

/* Sends COPIES messages of each size, each filled from its own seed, and
   scribbles over the buffer as soon as nn_send returns. */
static void sender_fn(void *arg)
{
    struct sender *snd = arg;
    uint8_t *buf = malloc(1 << 20);
    snd->ok = buf != NULL;
    for (size_t i = 0; snd->ok && i < TU_ARRAY_LEN(sizes); i++) {
        for (unsigned c = 0; c < COPIES; c++) {
            tu_fill(buf, sizes[i], (unsigned) (i * COPIES + c));
            if (nn_send(snd->s, buf, sizes[i], 0) != (int) sizes[i]) {
                fprintf(stderr, "nn_send of %zu bytes: %s\n", sizes[i], nn_strerror(nn_errno()));
                snd->ok = false;
            }
            memset(buf, 0xee, sizes[i]);
        }
    }
    free(buf);
}

/* rcvtimeo -1: none (a PAIR over tcp then waits in blocking reads). */
static void run_sizes(enum kind kind, int sproto, int rproto, int rcvtimeo)
{
    struct addr a;
    addr_init(&a, kind, "sizes");
    int r = tu_socket(AF_SP, rproto);
    int s = tu_socket(AF_SP, sproto);
    tu_setint(r, NN_SOL_SOCKET, NN_RCVMAXSIZE, -1);
    tu_setint(r, NN_SOL_SOCKET, NN_RCVTIMEO, rcvtimeo);
    tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_bind(r, a.url);
    tu_connect(s, a.url);
    struct sender snd = {s, false};
    tu_thread t;
    tu_thread_start(&t, sender_fn, &snd);
    uint8_t *buf = malloc((1 << 20) + 100);
    assert_non_null(buf);
    uint64_t bytes = 0;
    for (size_t i = 0; i < TU_ARRAY_LEN(sizes); i++) {
        for (unsigned c = 0; c < COPIES; c++) {
            size_t n = sizes[i], cap = c == 0 ? n : c == 1 ? n + 100 : n - 1;
            memset(buf, 0x5a, cap + (c == 2 ? 1 : 0));
            int got = nn_recv(r, buf, cap, 0);
            if (got != (int) n)
                fprintf(stderr, "%s: size %zu, buffer %zu: nn_recv %d (%s)\n", a.url, n, cap, got,
                        got < 0 ? nn_strerror(nn_errno()) : "");
            assert_int_equal(got, (int) n);
            /* All of it, or as much as fits; nothing past the buffer. */
            assert_true(tu_check_fill(buf, n < cap ? n : cap, (unsigned) (i * COPIES + c), 0));
            if (c == 2)
                assert_int_equal(buf[cap], 0x5a);
            bytes += n;
        }
    }
    tu_thread_join(&t);
    assert_true(snd.ok);
    tu_recv_nothing(r);
    assert_int_equal(nn_get_statistic(r, NN_STAT_MESSAGES_RECEIVED), TU_ARRAY_LEN(sizes) * COPIES);
    assert_int_equal(nn_get_statistic(r, NN_STAT_BYTES_RECEIVED), bytes);
    free(buf);
    tu_close(s);
    tu_close(r);
}

static void test_messages_around_the_thresholds_arrive_intact_into_any_buffer(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP, INPROC};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        run_sizes(kinds[k], NN_PUSH, NN_PULL, TU_DEADLINE_MS);
        run_sizes(kinds[k], NN_PAIR, NN_PAIR, TU_DEADLINE_MS);
    }
    run_sizes(TCP, NN_PAIR, NN_PAIR, -1);
}

/* ---- a sender ahead of its reader: partial writes, then the queue ---- */

#define AHEAD 8
#define AHEAD_SIZE (1 << 20)

/* AHEAD messages of AHEAD_SIZE, seeds 100..., the buffer scribbled over as
   soon as each nn_send returns. */
static void ahead_fn(void *arg)
{
    struct sender *snd = arg;
    uint8_t *buf = malloc(AHEAD_SIZE);
    snd->ok = buf != NULL;
    for (unsigned i = 0; snd->ok && i < AHEAD; i++) {
        tu_fill(buf, AHEAD_SIZE, 100 + i);
        if (nn_send(snd->s, buf, AHEAD_SIZE, 0) != AHEAD_SIZE) {
            fprintf(stderr, "nn_send: %s\n", nn_strerror(nn_errno()));
            snd->ok = false;
        }
        memset(buf, 0xee, AHEAD_SIZE);
    }
    free(buf);
}

static void test_sender_may_reuse_its_buffer_while_the_kernel_is_full(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        addr_init(&a, kinds[k], "ahead");
        int s = tu_socket(AF_SP, NN_PUSH);
        /* Small kernel buffers: each message is only partly written at
           once, and the rest waits in the connection's queue. */
        tu_setint(s, NN_SOL_SOCKET, NN_SNDBUF, 16384);
        tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS * 4);
        tu_bind(s, a.url);
        int fd = kinds[k] == TCP ? tu_connect_tcp(a.port, 4096) : tu_connect_ipc(a.path, 4096);
        assert_true(fd >= 0);
        tu_sp_handshake(fd, NN_PULL, NN_PUSH);
        struct sender snd = {s, false};
        tu_thread t;
        tu_thread_start(&t, ahead_fn, &snd);
        uint8_t *in = malloc(AHEAD_SIZE);
        assert_non_null(in);
        size_t hl = kinds[k] == IPC ? 9 : 8;
        for (unsigned i = 0; i < AHEAD; i++) {
            uint8_t hdr[9];
            assert_true(tu_read_exact(fd, hdr, hl, TU_DEADLINE_MS));
            if (kinds[k] == IPC)
                assert_int_equal(hdr[0], 1);
            uint64_t len = 0;
            for (size_t b = hl - 8; b < hl; b++)
                len = len << 8 | hdr[b];
            assert_int_equal(len, AHEAD_SIZE);
            assert_true(tu_read_exact(fd, in, AHEAD_SIZE, TU_DEADLINE_MS));
            assert_true(tu_check_fill(in, AHEAD_SIZE, 100 + i, 0));
        }
        tu_thread_join(&t);
        assert_true(snd.ok);
        free(in);
        close(fd);
        tu_close(s);
    }
}

/* ---- a message in many pieces, reaching a blocked recv ---- */

struct piecer {
    int fd;
    enum kind kind;
    atomic_long tid; /* the receiving thread, once it runs */
    size_t len;
    size_t piece;
    size_t stop;     /* write only this much of the frame (0: all of it) */
    bool close_after;
    bool ok;
};

/* Waits until the receiving thread sleeps in poll (it reads its connection
   itself), then writes the frame a piece at a time, each piece once the
   receiver is back in poll. */
static bool receiver_polls(void *arg)
{
    struct piecer *p = arg;
    long tid = atomic_load(&p->tid);
    return tid != 0 && tu_thread_sleeps((int) tid, true);
}

static void piecer_fn(void *arg)
{
    struct piecer *p = arg;
    size_t hl = p->kind == IPC ? 9 : 8;
    uint8_t *frame = malloc(hl + p->len);
    p->ok = frame != NULL;
    if (!p->ok)
        return;
    size_t n = 0;
    if (p->kind == IPC)
        frame[n++] = 1;
    for (int i = 7; i >= 0; i--)
        frame[n++] = (uint8_t) ((uint64_t) p->len >> (8 * i));
    tu_fill(frame + hl, p->len, 77);
    size_t total = p->stop ? p->stop : hl + p->len;
    for (size_t off = 0; off < total && p->ok;) {
        size_t k = total - off < p->piece ? total - off : p->piece;
        if (!tu_wait_until(receiver_polls, p, TU_DEADLINE_MS)) {
            fprintf(stderr, "the receiver never waited in poll (%zu of %zu bytes written)\n", off, total);
            p->ok = false;
            break;
        }
        p->ok = tu_write_all(p->fd, frame + off, k);
        off += k;
    }
    if (p->close_after)
        close(p->fd);
    free(frame);
}

/* Starts p's writer; the calling thread is the receiver it watches. */
static void piecer_start(struct piecer *p, tu_thread *t)
{
    atomic_init(&p->tid, tu_gettid());
    tu_thread_start(t, piecer_fn, p);
}

/* A socket of protocol proto (PULL or PAIR) bound on a fresh address, and a
   plain peer connected to it whose pipe is attached. */
static int sock_with_small_raw_peer(enum kind kind, int proto, const char *name, struct addr *a, int *fd,
                                    int rcvbuf)
{
    addr_init(a, kind, name);
    int s = tu_socket(AF_SP, proto);
    tu_bind(s, a->url);
    *fd = kind == TCP ? tu_connect_tcp(a->port, rcvbuf) : tu_connect_ipc(a->path, rcvbuf);
    assert_true(*fd >= 0);
    int peer = proto == NN_PULL ? NN_PUSH : NN_PAIR;
    tu_sp_handshake(*fd, peer, proto);
    /* Attached once a message came through: a recv blocks on it from then
       on (before, it waits for any pipe to have something). */
    assert_true(tu_write_frame(*fd, kind == IPC, "first", 5));
    tu_recv(s, "first");
    return s;
}

static int sock_with_raw_peer(enum kind kind, int proto, const char *name, struct addr *a, int *fd)
{
    return sock_with_small_raw_peer(kind, proto, name, a, fd, 0);
}

static int pull_with_raw_peer(enum kind kind, const char *name, struct addr *a, int *fd)
{
    return sock_with_raw_peer(kind, NN_PULL, name, a, fd);
}

static void test_message_in_many_pieces_reaches_a_blocked_recv_whole(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = pull_with_raw_peer(kinds[k], "pieces", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS * 4);
        struct piecer p = {.fd = fd, .kind = kinds[k], .len = 100000, .piece = 3000};
        tu_thread t;
        piecer_start(&p, &t);
        uint8_t *buf = malloc(p.len);
        assert_non_null(buf);
        assert_int_equal(nn_recv(s, buf, p.len, 0), (int) p.len);
        tu_thread_join(&t);
        assert_true(p.ok);
        assert_true(tu_check_fill(buf, p.len, 77, 0));
        /* What follows on the same connection comes after it. */
        assert_true(tu_write_frame(fd, kinds[k] == IPC, "next", 4));
        tu_recv(s, "next");
        free(buf);
        close(fd);
        tu_close(s);
    }
}

/* ---- a recv that stops waiting, a peer that leaves, a frame too large ---- */

static void test_recv_timing_out_mid_message_leaves_it_whole_for_the_next_recv(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = pull_with_raw_peer(kinds[k], "timeout", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 300);
        size_t hl = kinds[k] == IPC ? 9 : 8;
        struct piecer p = {.fd = fd, .kind = kinds[k], .len = 100000, .piece = 10000, .stop = hl + 30000};
        tu_thread t;
        piecer_start(&p, &t);
        uint8_t *buf = malloc(p.len);
        assert_non_null(buf);
        assert_int_equal(nn_recv(s, buf, p.len, 0), -1);
        assert_int_equal(nn_errno(), ETIMEDOUT);
        tu_thread_join(&t);
        assert_true(p.ok);
        /* The rest of the frame: the next recv, into another buffer, gets
           the whole message. */
        uint8_t *frame = malloc(p.len);
        assert_non_null(frame);
        tu_fill(frame, p.len, 77);
        assert_true(tu_write_all(fd, frame + 30000, p.len - 30000));
        assert_true(tu_write_frame(fd, kinds[k] == IPC, "next", 4));
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        uint8_t *buf2 = malloc(p.len);
        assert_non_null(buf2);
        assert_int_equal(nn_recv(s, buf2, p.len, 0), (int) p.len);
        assert_memory_equal(buf2, frame, p.len);
        tu_recv(s, "next");
        free(buf);
        free(buf2);
        free(frame);
        close(fd);
        tu_close(s);
    }
}

static void test_peer_leaving_mid_message_costs_only_its_connection(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = pull_with_raw_peer(kinds[k], "leaves", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 500);
        size_t hl = kinds[k] == IPC ? 9 : 8;
        struct piecer p = {.fd = fd, .kind = kinds[k], .len = 100000, .piece = 20000, .stop = hl + 50000,
                           .close_after = true};
        tu_thread t;
        piecer_start(&p, &t);
        uint8_t *buf = malloc(p.len);
        assert_non_null(buf);
        assert_int_equal(nn_recv(s, buf, p.len, 0), -1);
        assert_int_equal(nn_errno(), ETIMEDOUT);
        tu_thread_join(&t);
        assert_true(p.ok);
        free(buf);
        tu_assert_serves(s, NN_PULL, a.url);
        tu_recv_nothing(s);
        tu_close(s);
    }
}

static void test_frame_over_rcvmaxsize_reaching_a_blocked_recv_drops_the_connection(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = pull_with_raw_peer(kinds[k], "maxsize", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, 10000);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 500);
        struct piecer p = {.fd = fd, .kind = kinds[k], .len = 10001, .piece = 20000};
        tu_thread t;
        piecer_start(&p, &t);
        /* A buffer that would hold it: the limit still holds. */
        uint8_t buf[20000];
        memset(buf, 0x5a, sizeof buf);
        assert_int_equal(nn_recv(s, buf, sizeof buf, 0), -1);
        assert_int_equal(nn_errno(), ETIMEDOUT);
        tu_thread_join(&t);
        assert_true(p.ok);
        assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
        close(fd);
        tu_assert_serves(s, NN_PULL, a.url);
        tu_close(s);
    }
}

/* ---- a PAIR over tcp without NN_RCVTIMEO: blocking reads ---- */

static void test_message_in_many_pieces_reaches_a_recv_in_blocking_reads_whole(void **state)
{
    (void) state;
    struct addr a;
    int fd;
    int s = sock_with_raw_peer(TCP, NN_PAIR, "bpieces", &a, &fd);
    struct piecer p = {.fd = fd, .kind = TCP, .len = 100000, .piece = 3000};
    tu_thread t;
    piecer_start(&p, &t);
    uint8_t *buf = malloc(p.len);
    assert_non_null(buf);
    assert_int_equal(nn_recv(s, buf, p.len, 0), (int) p.len);
    tu_thread_join(&t);
    assert_true(p.ok);
    assert_true(tu_check_fill(buf, p.len, 77, 0));
    assert_true(tu_write_frame(fd, false, "next", 4));
    tu_recv(s, "next");
    free(buf);
    close(fd);
    tu_close(s);
}

struct big_recv {
    int s;
    struct piecer *p; /* tid: this thread's */
    size_t cap;
    unsigned seed;    /* what a message received should be filled from */
    int rc;
    int err;
    bool intact;
};

static void big_recv_fn(void *arg)
{
    struct big_recv *b = arg;
    uint8_t *buf = malloc(b->cap);
    atomic_store(&b->p->tid, tu_gettid());
    b->rc = buf ? nn_recv(b->s, buf, b->cap, 0) : -2;
    b->err = nn_errno();
    b->intact = b->rc > 0 && tu_check_fill(buf, (size_t) b->rc, b->seed, 0);
    free(buf);
}

/* The recv waits in a read of the rest of the message (part of it already
   in its buffer) when nn_close comes: it ends with EBADF, as any. */
static void test_nn_close_ends_a_recv_in_blocking_reads_mid_message(void **state)
{
    (void) state;
    struct addr a;
    int fd;
    int s = sock_with_raw_peer(TCP, NN_PAIR, "bclose", &a, &fd);
    static struct piecer p; /* static: outlive a failed test's frame */
    static struct big_recv b;
    p = (struct piecer) {.fd = fd, .kind = TCP, .len = 100000, .piece = 10000, .stop = 8 + 30000};
    atomic_init(&p.tid, 0);
    b = (struct big_recv) {.s = s, .p = &p, .cap = p.len, .rc = 99};
    tu_thread rt, pt;
    tu_thread_start(&rt, big_recv_fn, &b);
    tu_thread_start(&pt, piecer_fn, &p);
    tu_thread_join(&pt);
    assert_true(p.ok);
    /* Back in its read, waiting for the rest. */
    assert_true(tu_wait_until(receiver_polls, &p, TU_DEADLINE_MS));
    tu_close(s);
    tu_thread_join(&rt);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.err, EBADF);
    close(fd);
}

/* The peer leaves with part of a message in the buffer: the recv goes on
   waiting, and the next peer's message arrives whole, nothing of the first
   one's part in it. */
static void test_peer_leaving_mid_message_under_blocking_reads_leaves_the_recv_for_the_next_peer(void **state)
{
    (void) state;
    struct addr a;
    int fd;
    int s = sock_with_raw_peer(TCP, NN_PAIR, "bleaves", &a, &fd);
    static struct piecer p; /* static: outlive a failed test's frame */
    static struct big_recv b;
    p = (struct piecer) {.fd = fd, .kind = TCP, .len = 100000, .piece = 20000, .stop = 8 + 50000, .close_after = true};
    atomic_init(&p.tid, 0);
    b = (struct big_recv) {.s = s, .p = &p, .cap = p.len, .seed = 78, .rc = 99};
    tu_thread rt, pt;
    tu_thread_start(&rt, big_recv_fn, &b);
    tu_thread_start(&pt, piecer_fn, &p);
    tu_thread_join(&pt);
    assert_true(p.ok);
    tu_wait_connections(s, 0);
    int fd2 = tu_connect_tcp(a.port, 0);
    assert_true(fd2 >= 0);
    tu_sp_handshake(fd2, NN_PAIR, NN_PAIR);
    uint8_t *frame = malloc(8 + p.len);
    assert_non_null(frame);
    for (int i = 7; i >= 0; i--)
        frame[7 - i] = (uint8_t) ((uint64_t) p.len >> (8 * i));
    tu_fill(frame + 8, p.len, 78);
    assert_true(tu_write_all(fd2, frame, 8 + p.len));
    tu_thread_join(&rt);
    assert_int_equal(b.rc, (int) p.len);
    assert_true(b.intact);
    free(frame);
    close(fd2);
    tu_close(s);
}

/* ---- a stream of large frames: the next header read behind a body ---- */

/* Bytes written in pieces: piece i ends at cuts[i], each written once the
   receiving thread (tid) sleeps in poll or a read of its connection. */
struct cutter {
    int fd;
    atomic_long tid;
    const uint8_t *bytes;
    const size_t *cuts;
    size_t ncuts;
    bool close_after;
    bool ok;
};

static bool cutter_receiver_sleeps(void *arg)
{
    struct cutter *c = arg;
    long tid = atomic_load(&c->tid);
    return tid != 0 && tu_thread_sleeps((int) tid, true);
}

static void cutter_fn(void *arg)
{
    struct cutter *c = arg;
    c->ok = true;
    for (size_t i = 0, off = 0; i < c->ncuts && c->ok; i++) {
        if (!tu_wait_until(cutter_receiver_sleeps, c, TU_DEADLINE_MS)) {
            fprintf(stderr, "the receiver never waited (%zu bytes written)\n", off);
            c->ok = false;
            break;
        }
        c->ok = tu_write_all(c->fd, c->bytes + off, c->cuts[i] - off);
        off = c->cuts[i];
    }
    if (c->close_after)
        close(c->fd);
}

static void cutter_start(struct cutter *c, tu_thread *t)
{
    atomic_init(&c->tid, tu_gettid());
    tu_thread_start(t, cutter_fn, c);
}

/* Appends a frame of len bytes filled from seed to buf at *n. */
static void put_frame(uint8_t *buf, size_t *n, enum kind kind, size_t len, unsigned seed)
{
    if (kind == IPC)
        buf[(*n)++] = 1;
    for (int i = 7; i >= 0; i--)
        buf[(*n)++] = (uint8_t) ((uint64_t) len >> (8 * i));
    tu_fill(buf + *n, len, seed);
    *n += len;
}

static void recv_filled(int s, size_t len, unsigned seed)
{
    uint8_t *buf = malloc(len + 1);
    assert_non_null(buf);
    assert_int_equal(nn_recv(s, buf, len + 1, 0), (int) len);
    assert_true(tu_check_fill(buf, len, seed, 0));
    free(buf);
}

/* Two large frames and a small one, the first write ending k bytes into the
   second frame's header (none of it, part, all of it, some of its body),
   the rest in one more write: each arrives whole and in order, over sizes
   on both sides of the one at which only the next header is read behind a
   body (8 KiB), for a recv that polls and one in blocking reads. */
static void test_large_frames_whose_next_header_comes_alone_or_split_arrive_whole(void **state)
{
    (void) state;
    const size_t lens[] = {8000, 8192, 9000, 65536};
    struct {
        enum kind kind;
        int proto;
        int rcvtimeo;
    } runs[] = {{IPC, NN_PULL, TU_DEADLINE_MS * 4}, {IPC, NN_PAIR, TU_DEADLINE_MS * 4},
                {TCP, NN_PULL, TU_DEADLINE_MS * 4}, {TCP, NN_PAIR, -1}};
    for (size_t r = 0; r < TU_ARRAY_LEN(runs); r++) {
        size_t hl = runs[r].kind == IPC ? 9 : 8;
        const size_t ks[] = {0, 1, hl - 1, hl, hl + 1, hl + 100};
        for (size_t li = 0; li < TU_ARRAY_LEN(lens); li++) {
            for (size_t ki = 0; ki < TU_ARRAY_LEN(ks); ki++) {
                struct addr a;
                int fd;
                int s = sock_with_raw_peer(runs[r].kind, runs[r].proto, "tails", &a, &fd);
                tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, runs[r].rcvtimeo);
                size_t len = lens[li];
                uint8_t *bytes = malloc(3 * (hl + len));
                assert_non_null(bytes);
                size_t n = 0;
                put_frame(bytes, &n, runs[r].kind, len, 11);
                size_t first = n + ks[ki];
                put_frame(bytes, &n, runs[r].kind, len, 12);
                put_frame(bytes, &n, runs[r].kind, 4, 13);
                size_t cuts[] = {first, n};
                struct cutter c = {.fd = fd, .bytes = bytes, .cuts = cuts, .ncuts = 2};
                tu_thread t;
                cutter_start(&c, &t);
                recv_filled(s, len, 11);
                recv_filled(s, len, 12);
                recv_filled(s, 4, 13);
                tu_thread_join(&t);
                assert_true(c.ok);
                tu_recv_nothing(s);
                free(bytes);
                close(fd);
                tu_close(s);
            }
        }
    }
}

/* A large frame, then the next one's header alone: a recv that times out
   waiting for its body leaves nothing behind; the body written later
   arrives whole, then what follows. */
static void test_recv_timing_out_with_only_the_next_header_read_leaves_the_frame_whole(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        size_t hl = kinds[k] == IPC ? 9 : 8, len = 65536;
        struct addr a;
        int fd;
        int s = pull_with_raw_peer(kinds[k], "tailtimeo", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        uint8_t *bytes = malloc(3 * (hl + len));
        assert_non_null(bytes);
        size_t n = 0;
        put_frame(bytes, &n, kinds[k], len, 21);
        size_t first = n + hl;
        put_frame(bytes, &n, kinds[k], len, 22);
        put_frame(bytes, &n, kinds[k], 4, 23);
        assert_true(tu_write_all(fd, bytes, first));
        recv_filled(s, len, 21);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 300);
        uint8_t *buf = malloc(len);
        assert_non_null(buf);
        assert_int_equal(nn_recv(s, buf, len, 0), -1);
        assert_int_equal(nn_errno(), ETIMEDOUT);
        free(buf);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        assert_true(tu_write_all(fd, bytes + first, n - first));
        recv_filled(s, len, 22);
        recv_filled(s, 4, 23);
        free(bytes);
        close(fd);
        tu_close(s);
    }
}

/* The peer leaves right after the next header: the frame before it is
   delivered, the connection goes, and the socket serves the next peer. */
static void test_peer_leaving_after_the_next_header_costs_only_its_connection(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        size_t hl = kinds[k] == IPC ? 9 : 8, len = 65536;
        struct addr a;
        int fd;
        int s = pull_with_raw_peer(kinds[k], "tailleaves", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        uint8_t *bytes = malloc(2 * (hl + len));
        assert_non_null(bytes);
        size_t n = 0;
        put_frame(bytes, &n, kinds[k], len, 31);
        put_frame(bytes, &n, kinds[k], len, 32);
        size_t cuts[] = {hl + len + hl};
        struct cutter c = {.fd = fd, .bytes = bytes, .cuts = cuts, .ncuts = 1, .close_after = true};
        tu_thread t;
        cutter_start(&c, &t);
        recv_filled(s, len, 31);
        tu_thread_join(&t);
        assert_true(c.ok);
        tu_wait_connections(s, 0);
        tu_recv_nothing(s);
        tu_assert_serves(s, NN_PULL, a.url);
        tu_recv_nothing(s);
        free(bytes);
        tu_close(s);
    }
}

/* ---- a blocked sender writes its connection's queue itself ---- */

/* Sends 64 KiB messages seeded from seed0 on until one fails or count are
   sent; records how many went and the last error. */
struct filler {
    int s;
    unsigned seed0;
    unsigned count;
    atomic_long tid;
    atomic_uint sent; /* read by the test while the thread sends */
    int err;
};

#define FILL_SIZE 65536

static void filler_fn(void *arg)
{
    struct filler *f = arg;
    atomic_store(&f->tid, tu_gettid());
    uint8_t *buf = malloc(FILL_SIZE);
    f->err = buf ? 0 : ENOMEM;
    atomic_store(&f->sent, 0);
    for (unsigned i = 0; buf && i < f->count; i++) {
        tu_fill(buf, FILL_SIZE, f->seed0 + i);
        if (nn_send(f->s, buf, FILL_SIZE, 0) != FILL_SIZE) {
            f->err = nn_errno();
            break;
        }
        atomic_store(&f->sent, i + 1);
        memset(buf, 0xee, FILL_SIZE);
    }
    free(buf);
}

static bool filler_sleeps(void *arg)
{
    struct filler *f = arg;
    long tid = atomic_load(&f->tid);
    return tid != 0 && tu_thread_sleeps((int) tid, true);
}

/* Reads one frame of FILL_SIZE from a raw peer and checks it. */
static bool read_filled(int fd, enum kind kind, unsigned seed, uint8_t *in)
{
    size_t hl = kind == IPC ? 9 : 8;
    uint8_t hdr[9];
    if (!tu_read_exact(fd, hdr, hl, TU_DEADLINE_MS))
        return false;
    uint64_t len = 0;
    for (size_t b = hl - 8; b < hl; b++)
        len = len << 8 | hdr[b];
    return len == FILL_SIZE && tu_read_exact(fd, in, FILL_SIZE, TU_DEADLINE_MS) &&
           tu_check_fill(in, FILL_SIZE, seed, 0);
}

/* A PUSH with small buffers bound, a raw PULL peer that reads nothing yet. */
static int push_with_raw_peer(enum kind kind, const char *name, struct addr *a, int *fd)
{
    addr_init(a, kind, name);
    int s = tu_socket(AF_SP, NN_PUSH);
    tu_setint(s, NN_SOL_SOCKET, NN_SNDBUF, 16384);
    tu_bind(s, a->url);
    *fd = kind == TCP ? tu_connect_tcp(a->port, 4096) : tu_connect_ipc(a->path, 4096);
    assert_true(*fd >= 0);
    tu_sp_handshake(*fd, NN_PULL, NN_PUSH);
    tu_wait_connections(s, 1);
    return s;
}

/* The peer reads nothing: the send that finds the connection full waits
   for room until NN_SNDTIMEO and fails; everything sent before arrives
   whole and in order once the peer reads, and sends go on after. */
static void test_send_waiting_for_room_times_out_and_what_went_before_arrives(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = push_with_raw_peer(kinds[k], "sndtimeo", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, 300);
        struct filler f = {.s = s, .seed0 = 500, .count = 10000};
        atomic_init(&f.tid, 0);
        filler_fn(&f);
        assert_int_equal(f.err, ETIMEDOUT);
        assert_true(f.sent > 0 && f.sent < f.count);
        uint8_t *in = malloc(FILL_SIZE);
        assert_non_null(in);
        for (unsigned i = 0; i < f.sent; i++)
            assert_true(read_filled(fd, kinds[k], 500 + i, in));
        tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
        struct filler g = {.s = s, .seed0 = 900, .count = 1};
        atomic_init(&g.tid, 0);
        filler_fn(&g);
        assert_int_equal(g.err, 0);
        assert_true(read_filled(fd, kinds[k], 900, in));
        free(in);
        close(fd);
        tu_close(s);
    }
}

/* nn_close ends a send that waits for room in its connection. */
static void test_nn_close_ends_a_send_waiting_for_room(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = push_with_raw_peer(kinds[k], "sndclose", &a, &fd);
        static struct filler f; /* static: outlive a failed test's frame */
        f = (struct filler) {.s = s, .seed0 = 0, .count = 100000};
        atomic_init(&f.tid, 0);
        tu_thread t;
        tu_thread_start(&t, filler_fn, &f);
        assert_true(tu_wait_until(filler_sleeps, &f, TU_DEADLINE_MS));
        tu_close(s);
        tu_thread_join(&t);
        assert_int_equal(f.err, EBADF);
        close(fd);
    }
}

/* The peer leaves while a send waits for room: the send goes on waiting
   (a PUSH without peers), and the next peer gets the messages. */
static void test_peer_leaving_while_a_send_waits_for_room_costs_only_its_connection(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = push_with_raw_peer(kinds[k], "sndleave", &a, &fd);
        tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS * 4);
        static struct filler f; /* static: outlive a failed test's frame */
        f = (struct filler) {.s = s, .seed0 = 0, .count = 100000};
        atomic_init(&f.tid, 0);
        tu_thread t;
        tu_thread_start(&t, filler_fn, &f);
        assert_true(tu_wait_until(filler_sleeps, &f, TU_DEADLINE_MS));
        unsigned before = atomic_load(&f.sent);
        close(fd);
        tu_wait_connections(s, 0);
        int r = tu_socket(AF_SP, NN_PULL);
        tu_setint(r, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        tu_connect(r, a.url);
        uint8_t *in = malloc(FILL_SIZE);
        assert_non_null(in);
        /* The messages from the one that waited on: whole, in order. */
        int got = nn_recv(r, in, FILL_SIZE, 0);
        assert_int_equal(got, FILL_SIZE);
        unsigned seed = 0;
        for (; seed <= before + 1; seed++)
            if (tu_check_fill(in, FILL_SIZE, seed, 0))
                break;
        assert_true(seed <= before + 1);
        for (unsigned i = 1; i < 5; i++) {
            assert_int_equal(nn_recv(r, in, FILL_SIZE, 0), FILL_SIZE);
            assert_true(tu_check_fill(in, FILL_SIZE, seed + i, 0));
        }
        tu_close(s);
        tu_thread_join(&t);
        assert_int_equal(f.err, EBADF);
        free(in);
        tu_close(r);
    }
}

/* One PAIR, two threads: a send waits for room (the peer reads nothing)
   while a recv on the same socket waits for a message. The recv gets what
   the peer sends meanwhile, and the send completes once the peer reads. */
static void test_recv_beside_a_send_waiting_for_room_on_one_pair(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        int fd;
        int s = sock_with_small_raw_peer(kinds[k], NN_PAIR, "sndrecv", &a, &fd, 4096);
        tu_setint(s, NN_SOL_SOCKET, NN_SNDBUF, 16384);
        tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS * 4);
        tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        static struct filler f; /* static: outlive a failed test's frame */
        f = (struct filler) {.s = s, .seed0 = 700, .count = 64};
        atomic_init(&f.tid, 0);
        tu_thread t;
        tu_thread_start(&t, filler_fn, &f);
        assert_true(tu_wait_until(filler_sleeps, &f, TU_DEADLINE_MS));
        /* Its send waits; ours waits for the peer's message. */
        assert_true(tu_write_frame(fd, kinds[k] == IPC, "beside", 6));
        tu_recv(s, "beside");
        uint8_t *in = malloc(FILL_SIZE);
        assert_non_null(in);
        for (unsigned i = 0; i < f.count; i++)
            assert_true(read_filled(fd, kinds[k], 700 + i, in));
        tu_thread_join(&t);
        assert_int_equal(f.err, 0);
        assert_int_equal(f.sent, f.count);
        free(in);
        close(fd);
        tu_close(s);
    }
}

/* Three threads send on one PUSH at once, each waiting for room in turn:
   every message arrives whole, each thread's in its order. */
static void test_threads_sending_on_one_socket_while_it_is_full_lose_nothing(void **state)
{
    (void) state;
    const enum kind kinds[] = {IPC, TCP};
    enum { THREADS = 3, EACH = 40 };
    for (size_t k = 0; k < TU_ARRAY_LEN(kinds); k++) {
        struct addr a;
        addr_init(&a, kinds[k], "sndthreads");
        int r = tu_socket(AF_SP, NN_PULL);
        tu_setint(r, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        tu_bind(r, a.url);
        int s = tu_socket(AF_SP, NN_PUSH);
        tu_setint(s, NN_SOL_SOCKET, NN_SNDBUF, 16384);
        tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS * 4);
        tu_connect(s, a.url);
        static struct filler f[THREADS]; /* static: outlive a failed test's frame */
        tu_thread t[THREADS];
        for (unsigned i = 0; i < THREADS; i++) {
            f[i] = (struct filler) {.s = s, .seed0 = 1000 * (i + 1), .count = EACH};
            atomic_init(&f[i].tid, 0);
            tu_thread_start(&t[i], filler_fn, &f[i]);
        }
        uint8_t *in = malloc(FILL_SIZE);
        assert_non_null(in);
        unsigned next[THREADS] = {0};
        for (unsigned n = 0; n < THREADS * EACH; n++) {
            assert_int_equal(nn_recv(r, in, FILL_SIZE, 0), FILL_SIZE);
            bool known = false;
            for (unsigned i = 0; i < THREADS && !known; i++) {
                if (next[i] < EACH && tu_check_fill(in, FILL_SIZE, f[i].seed0 + next[i], 0)) {
                    next[i]++;
                    known = true;
                }
            }
            assert_true(known);
        }
        for (unsigned i = 0; i < THREADS; i++) {
            tu_thread_join(&t[i]);
            assert_int_equal(f[i].err, 0);
        }
        tu_recv_nothing(r);
        free(in);
        tu_close(s);
        tu_close(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_around_the_thresholds_arrive_intact_into_any_buffer),
        cmocka_unit_test(test_sender_may_reuse_its_buffer_while_the_kernel_is_full),
        cmocka_unit_test(test_message_in_many_pieces_reaches_a_blocked_recv_whole),
        cmocka_unit_test(test_recv_timing_out_mid_message_leaves_it_whole_for_the_next_recv),
        cmocka_unit_test(test_peer_leaving_mid_message_costs_only_its_connection),
        cmocka_unit_test(test_frame_over_rcvmaxsize_reaching_a_blocked_recv_drops_the_connection),
        cmocka_unit_test(test_message_in_many_pieces_reaches_a_recv_in_blocking_reads_whole),
        cmocka_unit_test(test_nn_close_ends_a_recv_in_blocking_reads_mid_message),
        cmocka_unit_test(test_peer_leaving_mid_message_under_blocking_reads_leaves_the_recv_for_the_next_peer),
        cmocka_unit_test(test_large_frames_whose_next_header_comes_alone_or_split_arrive_whole),
        cmocka_unit_test(test_recv_timing_out_with_only_the_next_header_read_leaves_the_frame_whole),
        cmocka_unit_test(test_peer_leaving_after_the_next_header_costs_only_its_connection),
        cmocka_unit_test(test_send_waiting_for_room_times_out_and_what_went_before_arrives),
        cmocka_unit_test(test_nn_close_ends_a_send_waiting_for_room),
        cmocka_unit_test(test_peer_leaving_while_a_send_waits_for_room_costs_only_its_connection),
        cmocka_unit_test(test_recv_beside_a_send_waiting_for_room_on_one_pair),
        cmocka_unit_test(test_threads_sending_on_one_socket_while_it_is_full_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, tu_close_all);
}
