/* Large messages over tls+tcp on the paths that skip a copy. A blocked
   nn_recv on a PAIR whose only connection is tls+tcp reads that connection
   in its own thread, and a large message that fits goes from mbedTLS
   straight into the caller's buffer; nn_send of a large body to an idle
   connection encrypts it straight from the caller's buffer. Neither may
   show. What mbedTLS decrypted but the landed message did not need (the
   start of the next message in the same record, a message whole, the
   peer's close_notify) must reach the application although the fd will
   never report it again; a recv that stops waiting mid-message, a peer that
   leaves mid-record or sends a frame over NN_RCVMAXSIZE cost at most that
   connection.

   The peer is mbedTLS driven directly (tlspeer.h), a PAIR server; nanosp
   connects. Its records are built in memory first and written by another
   thread once the receiving thread sleeps in poll, so that the receiving
   thread reads them, not the I/O thread. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <nanomsg/pair.h>
#include <nanomsg/tcp.h>
#include <nanomsg/tls.h>

#include "tlspeer.h"

/* nanosp's PAIR, connected to the peer (p), both SP headers through and
   one message received, so that the connection is the socket's only pipe
   and a recv waits on it. */
struct conn {
    int s;
    int lfd; /* the peer's listener: nanosp reconnects there */
    struct tp p;
};

/* The peer's SP header, then one short message, and nanosp's header. */
static void conn_greet(struct conn *c)
{
    struct bytes b = {0};
    b_sp_header(&b, NN_PAIR);
    b_sp_msg(&b, -1, "hello", 5);
    tp_write_record(&c->p, b.p, b.len);
    uint8_t got[8];
    assert_true(tp_read(&c->p, got, sizeof got, TU_DEADLINE_MS));
    assert_memory_equal(got, b.p, 8);
    tu_recv(c->s, "hello");
    b_free(&b);
}

/* maxsize: NN_RCVMAXSIZE (0: the default). */
static void conn_open(struct conn *c, int maxsize)
{
    int port;
    memset(c, 0, sizeof *c);
    c->lfd = tu_raw_listen(&port);
    c->s = tu_socket(AF_SP, NN_PAIR);
    tu_setint(c->s, NN_TCP, NN_TCP_NODELAY, 1);
    tu_setint(c->s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(c->s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    if (maxsize)
        tu_setint(c->s, NN_SOL_SOCKET, NN_RCVMAXSIZE, maxsize);
    tu_setstr(c->s, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    char url[96];
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", port);
    tu_connect(c->s, url);
    tp_accept(&c->p, c->lfd);
    conn_greet(c);
}

/* The connection was dropped: nanosp reconnects, and the new connection
   carries messages. */
static void conn_reopen(struct conn *c)
{
    tp_close(&c->p);
    tp_accept(&c->p, c->lfd);
    conn_greet(c);
}

static void conn_close(struct conn *c)
{
    tp_close(&c->p);
    close(c->lfd);
    assert_int_equal(nn_close(c->s), 0);
}

/* Appends message len bytes long, filled by tu_fill with seed, in the TCP
   mapping to b. */
static void put_msg(struct bytes *b, size_t len, unsigned seed)
{
    uint8_t *body = malloc(len ? len : 1);
    assert_non_null(body);
    tu_fill(body, len, seed);
    b_sp_msg(b, -1, body, len);
    free(body);
}

/* The records of plain cut at the given plaintext sizes (summing to its
   length), encrypted into wire; ends[i] is where record i ends there. */
static void seal(struct tp *p, const struct bytes *plain, const size_t *sizes, size_t n, struct bytes *wire,
                 size_t *ends)
{
    tp_cork(p);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        tp_write_record(p, plain->p + off, sizes[i]);
        off += sizes[i];
        if (ends)
            ends[i] = p->out.len;
    }
    assert_int_equal(off, plain->len);
    *wire = p->out;
    memset(&p->out, 0, sizeof p->out);
    p->corked = false;
}

/* Writes len bytes to the peer's non-blocking fd, waiting for room (at
   most TU_DEADLINE_MS each time); false if the receiver stops taking
   them. */
static bool send_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, TU_DEADLINE_MS) != 1)
            return false;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t) n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return false;
        }
    }
    return true;
}

/* Writes wire bytes from another thread: up to each cut in turn, each
   piece once the receiving thread sleeps in poll. */
struct feeder {
    int fd;
    atomic_long tid; /* the receiving thread */
    const struct bytes *wire;
    const size_t *cuts; /* ascending, the last one wire->len or less */
    size_t ncuts;
    bool leave;         /* then shutdown(SHUT_WR): the peer leaves */
    bool ok;
};

static bool receiver_polls(void *arg)
{
    struct feeder *f = arg;
    return tu_thread_sleeps((int) atomic_load(&f->tid), true);
}

static void feeder_fn(void *arg)
{
    struct feeder *f = arg;
    f->ok = true;
    size_t off = 0;
    for (size_t i = 0; i < f->ncuts && f->ok; i++) {
        if (!tu_wait_until(receiver_polls, f, TU_DEADLINE_MS)) {
            fprintf(stderr, "the receiver never waited in poll (%zu of %zu bytes written)\n", off, f->wire->len);
            f->ok = false;
            break;
        }
        f->ok = send_all(f->fd, f->wire->p + off, f->cuts[i] - off);
        off = f->cuts[i];
    }
    if (f->leave)
        shutdown(f->fd, SHUT_WR);
}

/* Starts f's writer; the calling thread is the receiver it watches. */
static void feeder_start(struct feeder *f, tu_thread *t)
{
    atomic_init(&f->tid, tu_gettid());
    tu_thread_start(t, feeder_fn, f);
}

/* nn_recv of a message of n bytes, seed, into a buffer of cap bytes: all of
   it (or what fits), nothing written past the buffer. */
static void recv_msg(int s, int flags, size_t n, unsigned seed, size_t cap)
{
    uint8_t *buf = malloc(cap + 1);
    assert_non_null(buf);
    memset(buf, 0x5a, cap + 1);
    int got = nn_recv(s, buf, cap, flags);
    if (got != (int) n)
        fprintf(stderr, "message of %zu bytes into %zu: nn_recv %d (%s)\n", n, cap, got,
                got < 0 ? nn_strerror(nn_errno()) : "");
    assert_int_equal(got, (int) n);
    assert_true(tu_check_fill(buf, n < cap ? n : cap, seed, 0));
    assert_int_equal(buf[cap], 0x5a);
    free(buf);
}

/* ---- messages of every size, in full records, into any buffer ---- */

static const size_t sizes[] = {4095, 4096, 4097, 8192, 16383, 16384, 16385, 65536, 100000, 1 << 20};
/* Per size: a buffer exact, larger, one byte short (truncated: read into
   a chunk of the connection's own, and the reads go on behind it). */
#define COPIES 3
#define TAIL 1000 /* of the last large message, in the last record */

/* Appends the plaintext part to the records: full ones, the last one
   shorter, so that the next part starts a record; ends the piece there. */
static void add_part(const struct bytes *plain, size_t from, size_t *recs, size_t *n, size_t *pieces, size_t *np)
{
    for (size_t off = from; off < plain->len; off += TP_RECORD_MAX)
        recs[(*n)++] = plain->len - off < TP_RECORD_MAX ? plain->len - off : TP_RECORD_MAX;
    pieces[(*np)++] = *n - 1; /* the piece's last record */
}

static void test_large_messages_land_whole_in_a_blocked_recv_and_what_follows_them_in_a_record_too(void **state)
{
    (void) state;
    struct conn c;
    conn_open(&c, (1 << 20) + 100);
    /* The copies of each size in full records (one carries the end of a
       message and the start of the next), a piece of its own for the
       writer. Then a last large message (seed 900) whose end shares the
       last record with two more messages (901, 902), written once the
       receiver waits for it: it lands, and then mbedTLS holds the other
       two, and the kernel nothing. */
    struct bytes plain = {0};
    size_t recs[512] = {0}, ends[512] = {0}, pieces[16] = {0}, n = 0, np = 0;
    for (size_t i = 0; i < TU_ARRAY_LEN(sizes); i++) {
        size_t from = plain.len;
        for (unsigned k = 0; k < COPIES; k++)
            put_msg(&plain, sizes[i], (unsigned) (i * COPIES + k));
        add_part(&plain, from, recs, &n, pieces, &np);
    }
    size_t from = plain.len;
    put_msg(&plain, 20000, 900);
    size_t split = plain.len - TAIL;
    put_msg(&plain, 5000, 901);
    put_msg(&plain, 5000, 902);
    for (size_t off = from; off < split; off += TP_RECORD_MAX)
        recs[n++] = split - off < TP_RECORD_MAX ? split - off : TP_RECORD_MAX;
    recs[n++] = plain.len - split;
    pieces[np++] = n - 1;
    assert_true(n <= TU_ARRAY_LEN(recs));
    struct bytes wire = {0};
    seal(&c.p, &plain, recs, n, &wire, ends);
    size_t cuts[16];
    for (size_t i = 0; i < np; i++)
        cuts[i] = ends[pieces[i]];
    struct feeder f = {.fd = c.p.fd, .wire = &wire, .cuts = cuts, .ncuts = np};
    tu_thread t;
    feeder_start(&f, &t);
    uint64_t bytes = 5;
    for (size_t i = 0; i < TU_ARRAY_LEN(sizes); i++) {
        for (unsigned k = 0; k < COPIES; k++) {
            size_t len = sizes[i], cap = k == 0 ? len : k == 1 ? len + 100 : len - 1;
            recv_msg(c.s, 0, len, (unsigned) (i * COPIES + k), cap);
            bytes += len;
        }
    }
    recv_msg(c.s, 0, 20000, 900, 20000);
    /* Decrypted, with nothing on the fd: a blocked recv does not wait for
       it, and a recv that must not block finds it. */
    recv_msg(c.s, 0, 5000, 901, 5000);
    recv_msg(c.s, NN_DONTWAIT, 5000, 902, 5000);
    bytes += 30000;
    tu_thread_join(&t);
    assert_true(f.ok);
    assert_int_equal(nn_get_statistic(c.s, NN_STAT_MESSAGES_RECEIVED), 1 + TU_ARRAY_LEN(sizes) * COPIES + 3);
    assert_int_equal(nn_get_statistic(c.s, NN_STAT_BYTES_RECEIVED), bytes);
    /* The connection goes on: both ways. */
    struct bytes b = {0};
    b_sp_msg(&b, -1, "more", 4);
    tp_write_record(&c.p, b.p, b.len);
    tu_recv(c.s, "more");
    tu_send(c.s, "back");
    uint8_t got[12];
    assert_true(tp_read(&c.p, got, sizeof got, TU_DEADLINE_MS));
    assert_memory_equal(got + 8, "back", 4);
    b_free(&b);
    b_free(&wire);
    b_free(&plain);
    conn_close(&c);
}

/* ---- in many pieces ---- */

/* A large message in small records, each record cut in two pieces: every
   wait ends with part of a record in mbedTLS. */
static void test_large_message_in_pieces_cut_inside_records_lands_whole(void **state)
{
    (void) state;
    struct conn c;
    conn_open(&c, 0);
    struct bytes plain = {0};
    put_msg(&plain, 100000, 7);
    put_msg(&plain, 4, 8);
    size_t recs[64] = {0}, ends[64] = {0}, n = 0;
    for (size_t off = 0; off < plain.len; off += 7001)
        recs[n++] = plain.len - off < 7001 ? plain.len - off : 7001;
    struct bytes wire = {0};
    seal(&c.p, &plain, recs, n, &wire, ends);
    size_t cuts[128], nc = 0, start = 0;
    for (size_t i = 0; i < n; i++) {
        cuts[nc++] = start + (ends[i] - start) / 2;
        cuts[nc++] = ends[i];
        start = ends[i];
    }
    /* The last record also holds the short message: it goes with the
       large one's last piece. */
    struct feeder f = {.fd = c.p.fd, .wire = &wire, .cuts = cuts, .ncuts = nc};
    tu_thread t;
    feeder_start(&f, &t);
    recv_msg(c.s, 0, 100000, 7, 100000);
    recv_msg(c.s, NN_DONTWAIT, 4, 8, 4);
    tu_thread_join(&t);
    assert_true(f.ok);
    b_free(&wire);
    b_free(&plain);
    conn_close(&c);
}

/* ---- a recv that stops waiting, a peer that leaves, a frame too large ---- */

/* A large message and a short one, in records of 10000 bytes, the first
   write stopping inside the fourth record. */
static void half_sent(struct conn *c, struct bytes *plain, struct bytes *wire, size_t *cut)
{
    put_msg(plain, 100000, 7);
    put_msg(plain, 4, 8);
    size_t recs[16] = {0}, ends[16] = {0}, n = 0;
    for (size_t off = 0; off < plain->len; off += 10000)
        recs[n++] = plain->len - off < 10000 ? plain->len - off : 10000;
    seal(&c->p, plain, recs, n, wire, ends);
    *cut = ends[2] + (ends[3] - ends[2]) / 2;
}

static void test_recv_timing_out_mid_message_leaves_it_whole_for_the_next_recv(void **state)
{
    (void) state;
    struct conn c;
    conn_open(&c, 0);
    struct bytes plain = {0}, wire = {0};
    size_t cut;
    half_sent(&c, &plain, &wire, &cut);
    struct feeder f = {.fd = c.p.fd, .wire = &wire, .cuts = &cut, .ncuts = 1};
    tu_thread t;
    feeder_start(&f, &t);
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, 300);
    uint8_t *buf = malloc(100000);
    assert_non_null(buf);
    assert_int_equal(nn_recv(c.s, buf, 100000, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);
    tu_thread_join(&t);
    assert_true(f.ok);
    free(buf);
    /* The rest: the next recv, into another buffer, gets all of it. */
    assert_true(send_all(c.p.fd, wire.p + cut, wire.len - cut));
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    recv_msg(c.s, 0, 100000, 7, 100000);
    recv_msg(c.s, 0, 4, 8, 4);
    b_free(&wire);
    b_free(&plain);
    conn_close(&c);
}

static void test_peer_leaving_mid_record_costs_only_its_connection(void **state)
{
    (void) state;
    struct conn c;
    conn_open(&c, 0);
    struct bytes plain = {0}, wire = {0};
    size_t cut;
    half_sent(&c, &plain, &wire, &cut);
    /* No close_notify: the stream ends inside a record. */
    struct feeder f = {.fd = c.p.fd, .wire = &wire, .cuts = &cut, .ncuts = 1, .leave = true};
    tu_thread t;
    feeder_start(&f, &t);
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, 500);
    uint8_t *buf = malloc(100000);
    assert_non_null(buf);
    assert_int_equal(nn_recv(c.s, buf, 100000, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);
    tu_thread_join(&t);
    assert_true(f.ok);
    free(buf);
    assert_true(tu_wait_closed(c.p.fd, TU_DEADLINE_MS));
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    conn_reopen(&c);
    b_free(&wire);
    b_free(&plain);
    conn_close(&c);
}

static void test_frame_over_rcvmaxsize_reaching_a_blocked_recv_drops_the_connection(void **state)
{
    (void) state;
    struct conn c;
    conn_open(&c, 10000);
    struct bytes plain = {0}, wire = {0};
    put_msg(&plain, 10001, 3);
    const size_t recs[] = {plain.len};
    seal(&c.p, &plain, recs, 1, &wire, NULL);
    const size_t all = wire.len;
    struct feeder f = {.fd = c.p.fd, .wire = &wire, .cuts = &all, .ncuts = 1};
    tu_thread t;
    feeder_start(&f, &t);
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, 500);
    /* A buffer that would hold it: the limit still holds. */
    uint8_t buf[20000];
    assert_int_equal(nn_recv(c.s, buf, sizeof buf, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);
    tu_thread_join(&t);
    assert_true(f.ok);
    assert_true(tu_wait_closed(c.p.fd, TU_DEADLINE_MS));
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    conn_reopen(&c);
    b_free(&wire);
    b_free(&plain);
    conn_close(&c);
}

/* ---- the end of the stream behind a landed message ---- */

/* The peer's close_notify in the write that ends a large message, the TCP
   connection left open (TLS stacks that wait for the other side's
   close_notify do that): the message lands, and the next recv, which finds
   nothing, ends the connection (it was left to that recv, as input that
   arrives behind a message a recv took is). */
static void test_close_notify_behind_a_landed_message_ends_the_connection(void **state)
{
    (void) state;
    struct conn c;
    conn_open(&c, 0);
    struct bytes plain = {0}, wire = {0};
    put_msg(&plain, 50000, 5);
    const size_t recs[] = {16384, 16384, 16384, plain.len - 3 * 16384};
    seal(&c.p, &plain, recs, 4, &wire, NULL);
    tp_cork(&c.p);
    assert_int_equal(mbedtls_ssl_close_notify(&c.p.ssl), 0);
    b_put(&wire, c.p.out.p, c.p.out.len);
    c.p.out.len = 0;
    c.p.corked = false;
    const size_t all = wire.len;
    struct feeder f = {.fd = c.p.fd, .wire = &wire, .cuts = &all, .ncuts = 1};
    tu_thread t;
    feeder_start(&f, &t);
    recv_msg(c.s, 0, 50000, 5, 50000);
    tu_thread_join(&t);
    assert_true(f.ok);
    uint8_t buf[16];
    assert_int_equal(nn_recv(c.s, buf, sizeof buf, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    if (!tu_wait_closed(c.p.fd, TU_DEADLINE_MS))
        fail_msg("nanosp did not close the connection after the peer's close_notify");
    conn_reopen(&c);
    b_free(&wire);
    b_free(&plain);
    conn_close(&c);
}

/* The same behind a short message, the end of the stream read in the same
   go, and another recv right behind the one that takes the message (in
   one thread, before the I/O thread can act on the end): mbedTLS keeps
   reporting that end, which must not keep the waiting recv reading for
   ever (shutting the I/O thread out); the connection ends, and the next
   peer's message ends the wait. */
struct two_recvs {
    int s;
    atomic_long *tid; /* set to this thread's, for the feeder */
    int rc[2];
    uint8_t buf[2][128];
};

static void two_recvs_fn(void *arg)
{
    struct two_recvs *w = arg;
    atomic_store(w->tid, tu_gettid());
    for (int i = 0; i < 2; i++)
        w->rc[i] = nn_recv(w->s, w->buf[i], sizeof w->buf[i], 0);
}

static void test_close_notify_read_with_a_message_lets_the_connection_end_under_a_waiting_recv(void **state)
{
    (void) state;
    struct conn c;
    conn_open(&c, 0);
    struct bytes plain = {0}, wire = {0};
    put_msg(&plain, 100, 5);
    const size_t recs[] = {plain.len};
    seal(&c.p, &plain, recs, 1, &wire, NULL);
    tp_cork(&c.p);
    assert_int_equal(mbedtls_ssl_close_notify(&c.p.ssl), 0);
    b_put(&wire, c.p.out.p, c.p.out.len);
    c.p.out.len = 0;
    c.p.corked = false;
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, 2 * TU_DEADLINE_MS);
    const size_t all = wire.len;
    struct feeder f = {.fd = c.p.fd, .wire = &wire, .cuts = &all, .ncuts = 1};
    atomic_init(&f.tid, 0);
    struct two_recvs w = {.s = c.s, .tid = &f.tid};
    tu_thread rt, ft;
    tu_thread_start(&rt, two_recvs_fn, &w);
    tu_thread_start(&ft, feeder_fn, &f);
    tu_thread_join(&ft);
    assert_true(f.ok);
    if (!tu_wait_closed(c.p.fd, TU_DEADLINE_MS))
        fail_msg("nanosp did not close the connection after the peer's close_notify");
    /* The next peer. */
    tp_close(&c.p);
    tp_accept(&c.p, c.lfd);
    struct bytes b = {0};
    b_sp_header(&b, NN_PAIR);
    b_sp_msg(&b, -1, "hello", 5);
    tp_write_record(&c.p, b.p, b.len);
    uint8_t got[8];
    assert_true(tp_read(&c.p, got, sizeof got, TU_DEADLINE_MS));
    tu_thread_join(&rt);
    assert_int_equal(w.rc[0], 100);
    assert_true(tu_check_fill(w.buf[0], 100, 5, 0));
    assert_int_equal(w.rc[1], 5);
    assert_memory_equal(w.buf[1], "hello", 5);
    b_free(&b);
    b_free(&wire);
    b_free(&plain);
    conn_close(&c);
}

/* ---- sending ---- */

/* Large bodies encrypted straight from the sender's buffer into a
   connection whose kernel takes a few KiB at a time: the sender scribbles
   over its buffer as soon as nn_send returns, and the peer still reads
   every byte in order. */
enum { AHEAD = 6, AHEAD_SIZE = 300000 };

struct sender {
    int s;
    bool ok;
};

static void sender_fn(void *arg)
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
    struct conn c;
    int port, small = 4096;
    memset(&c, 0, sizeof c);
    c.lfd = tu_raw_listen(&port);
    /* Inherited by the accepted connection: a small receive window. */
    assert_int_equal(setsockopt(c.lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    c.s = tu_socket(AF_SP, NN_PAIR);
    tu_setint(c.s, NN_SOL_SOCKET, NN_SNDBUF, 16384);
    tu_setint(c.s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS * 4);
    tu_setint(c.s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setstr(c.s, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    char url[96];
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", port);
    tu_connect(c.s, url);
    tp_accept(&c.p, c.lfd);
    conn_greet(&c);
    struct sender snd = {c.s, false};
    tu_thread t;
    tu_thread_start(&t, sender_fn, &snd);
    uint8_t *in = malloc(AHEAD_SIZE);
    assert_non_null(in);
    for (unsigned i = 0; i < AHEAD; i++) {
        uint8_t len[8];
        assert_true(tp_read(&c.p, len, 8, TU_DEADLINE_MS));
        uint64_t n = 0;
        for (int k = 0; k < 8; k++)
            n = n << 8 | len[k];
        assert_int_equal(n, AHEAD_SIZE);
        /* In small pieces: the window stays small. */
        for (size_t off = 0; off < AHEAD_SIZE; off += 3000)
            assert_true(tp_read(&c.p, in + off, AHEAD_SIZE - off < 3000 ? AHEAD_SIZE - off : 3000, TU_DEADLINE_MS));
        assert_true(tu_check_fill(in, AHEAD_SIZE, 100 + i, 0));
    }
    tu_thread_join(&t);
    assert_true(snd.ok);
    free(in);
    conn_close(&c);
}

int main(void)
{
    if (!tls_have_openssl()) {
        const char *ci = getenv("CI");
        fprintf(stderr, "openssl is needed to make the test certificates\n");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_messages_land_whole_in_a_blocked_recv_and_what_follows_them_in_a_record_too),
        cmocka_unit_test(test_large_message_in_pieces_cut_inside_records_lands_whole),
        cmocka_unit_test(test_recv_timing_out_mid_message_leaves_it_whole_for_the_next_recv),
        cmocka_unit_test(test_peer_leaving_mid_record_costs_only_its_connection),
        cmocka_unit_test(test_frame_over_rcvmaxsize_reaching_a_blocked_recv_drops_the_connection),
        cmocka_unit_test(test_close_notify_behind_a_landed_message_ends_the_connection),
        cmocka_unit_test(test_close_notify_read_with_a_message_lets_the_connection_end_under_a_waiting_recv),
        cmocka_unit_test(test_sender_may_reuse_its_buffer_while_the_kernel_is_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
