/* How a TLS peer cuts its bytes into records must not matter. A peer that
   writes its SP header and first message in one record (Python's ssl module
   does for sendall(header + frame)), several messages in one record, or the
   same bytes split at any byte, must get every message delivered, whether
   nanosp bound or connected, over tls+tcp and wss. The peer is mbedTLS
   driven directly (tlspeer.h); nanosp is a REP when it binds (the peer a
   REQ) and a PAIR when it connects (the peer a PAIR server, which may send
   first). Every message must arrive within TU_DEADLINE_MS, and nanosp's
   answers must reach the peer. */
#include <poll.h>
#include <sys/socket.h>

#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tcp.h>
#include <nanomsg/tls.h>

#include "tlspeer.h"

enum wire { SP, WS };       /* tls+tcp, wss */
enum side { BIND, CONNECT }; /* what nanosp does */

/* One connection between a nanosp socket and the mbedTLS peer. */
struct conn {
    enum wire wire;
    enum side side;
    int s;          /* nanosp: REP (bind) or PAIR (connect) */
    int lfd;        /* the peer's listener (connect) */
    struct tp p;
    char ws_key[64]; /* connect over wss: the key of nanosp's upgrade request */
    char ws_proto[64];
};

/* ---- nanosp's side ---- */

/* rcvbuf: NN_RCVBUF for nanosp's socket, 0 for the default. */
static void conn_open_with(struct conn *c, enum wire wire, enum side side, int rcvbuf)
{
    char url[96];
    const char *scheme = wire == SP ? "tls+tcp" : "wss";
    memset(c, 0, sizeof *c);
    c->wire = wire;
    c->side = side;
    c->lfd = -1;
    if (side == BIND) {
        int port = tu_free_port();
        c->s = tu_socket(AF_SP, NN_REP);
        tu_setint(c->s, NN_TCP, NN_TCP_NODELAY, 1); /* answers without waiting for ACKs */
        if (rcvbuf)
            tu_setint(c->s, NN_SOL_SOCKET, NN_RCVBUF, rcvbuf);
        tu_setstr(c->s, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
        tu_setstr(c->s, NN_TLS, NN_TLS_KEY_FILE, tls_cert("server.key"));
        snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, port);
        tu_bind(c->s, url);
        tp_connect(&c->p, port);
        return;
    }
    int port;
    c->lfd = tu_raw_listen(&port);
    c->s = tu_socket(AF_SP, NN_PAIR);
    tu_setint(c->s, NN_TCP, NN_TCP_NODELAY, 1);
    if (rcvbuf)
        tu_setint(c->s, NN_SOL_SOCKET, NN_RCVBUF, rcvbuf);
    tu_setstr(c->s, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    snprintf(url, sizeof url, "%s://localhost:%d%s", scheme, port, wire == WS ? "/sp" : "");
    tu_connect(c->s, url);
    tp_accept(&c->p, c->lfd);
    if (wire == WS) {
        /* The peer answers the upgrade together with its first frames, so
           it reads the request first. */
        char req[2048];
        assert_true(tp_read_http(&c->p, req, sizeof req));
        assert_true(strncmp(req, "GET /sp HTTP/1.1\r\n", 18) == 0);
        assert_true(tu_http_header(req, "Sec-WebSocket-Key", c->ws_key, sizeof c->ws_key));
        assert_true(tu_http_header(req, "Sec-WebSocket-Protocol", c->ws_proto, sizeof c->ws_proto));
        assert_string_equal(c->ws_proto, "pair.sp.nanomsg.org");
    }
}

static void conn_open(struct conn *c, enum wire wire, enum side side)
{
    conn_open_with(c, wire, side, 0);
}

static void conn_close(struct conn *c)
{
    tp_close(&c->p);
    if (c->lfd >= 0)
        close(c->lfd);
    assert_int_equal(nn_close(c->s), 0);
}

/* The body of message i, len bytes (at least the "message i" prefix). */
static void body_of(char *out, int i, size_t len)
{
    int n = snprintf(out, len + 1, "message %d", i);
    for (size_t k = (size_t) n; k < len; k++)
        out[k] = (char) ('a' + (k * 7 + (size_t) i) % 26);
}

static size_t body_len(int i, size_t len)
{
    char tmp[32];
    size_t min = (size_t) snprintf(tmp, sizeof tmp, "message %d", i);
    return len > min ? len : min;
}

/* nanosp must receive message i (len bytes) within the deadline. */
static void nanosp_recv(struct conn *c, int i, size_t len)
{
    len = body_len(i, len);
    char *want = malloc(len + 1);
    assert_non_null(want);
    body_of(want, i, len);
    void *got = NULL;
    int rc = nn_recv(c->s, &got, NN_MSG, 0);
    if (rc < 0)
        fprintf(stderr, "message %d not received: %s\n", i, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) len);
    assert_memory_equal(got, want, len);
    nn_freemsg(got);
    free(want);
}

/* ... and answer it ("reply i"). */
static void nanosp_serve(struct conn *c, int i, size_t len)
{
    char reply[32];
    nanosp_recv(c, i, len);
    snprintf(reply, sizeof reply, "reply %d", i);
    tu_send(c->s, reply);
}

/* ---- the peer's bytes ---- */

static int64_t request_id(struct conn *c, int i)
{
    return c->side == BIND ? (int64_t) (0x80000000u | (uint32_t) (i + 1)) : -1;
}

/* What the peer says first: its SP header, or its half of the WebSocket
   upgrade (the request as a client, the 101 as a server). */
static void peer_opening(struct conn *c, struct bytes *b)
{
    if (c->wire == SP) {
        b_sp_header(b, c->side == BIND ? NN_REQ : NN_PAIR);
        return;
    }
    char head[512];
    if (c->side == BIND) {
        snprintf(head, sizeof head,
                 "GET /sp HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: " TU_WS_SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n\r\n");
    } else {
        char accept[64];
        tu_ws_accept(c->ws_key, accept);
        snprintf(head, sizeof head,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
                 accept, c->ws_proto);
    }
    b_put_str(b, head);
}

/* Message i with a body of about len bytes, framed for the wire. */
static void peer_msg(struct conn *c, struct bytes *b, int i, size_t len)
{
    len = body_len(i, len);
    char *body = malloc(len + 1);
    assert_non_null(body);
    body_of(body, i, len);
    if (c->wire == SP)
        b_sp_msg(b, request_id(c, i), body, len);
    else
        b_ws_msg(b, c->side == BIND, request_id(c, i), body, len);
    free(body);
}

/* The peer reads nanosp's opening: its SP header, or the 101 answering the
   peer's upgrade request. */
static void peer_expect_opening(struct conn *c)
{
    if (c->wire == SP) {
        uint8_t got[8];
        struct bytes want = {0};
        b_sp_header(&want, c->side == BIND ? NN_REP : NN_PAIR);
        assert_true(tp_read(&c->p, got, sizeof got, TU_DEADLINE_MS));
        assert_memory_equal(got, want.p, 8);
        b_free(&want);
    } else if (c->side == BIND) {
        char resp[1024], v[64];
        assert_true(tp_read_http(&c->p, resp, sizeof resp));
        assert_true(strncmp(resp, "HTTP/1.1 101 ", 13) == 0);
        assert_true(tu_http_header(resp, "Sec-WebSocket-Accept", v, sizeof v));
        assert_string_equal(v, TU_WS_SAMPLE_ACCEPT);
    }
}

/* The peer reads nanosp's answer to message i. */
static void peer_expect_reply(struct conn *c, int i)
{
    char want[32];
    uint8_t got[64];
    size_t wlen = (size_t) snprintf(want, sizeof want, "reply %d", i);
    size_t hl = c->side == BIND ? 4 : 0; /* REP echoes the request id */
    size_t plen = hl + wlen;
    if (c->wire == SP) {
        uint8_t len[8];
        assert_true(tp_read(&c->p, len, 8, TU_DEADLINE_MS));
        for (int k = 0; k < 7; k++)
            assert_int_equal(len[k], 0);
        assert_int_equal(len[7], plen);
        assert_true(tp_read(&c->p, got, plen, TU_DEADLINE_MS));
    } else {
        /* A client (nanosp connected) masks its frames. */
        uint8_t h[2], key[4] = {0, 0, 0, 0};
        bool masked = c->side == CONNECT;
        assert_true(tp_read(&c->p, h, 2, TU_DEADLINE_MS));
        assert_int_equal(h[0], 0x82);
        assert_int_equal(h[1], (masked ? 0x80 : 0) | plen);
        if (masked)
            assert_true(tp_read(&c->p, key, 4, TU_DEADLINE_MS));
        assert_true(tp_read(&c->p, got, plen, TU_DEADLINE_MS));
        for (size_t k = 0; k < plen; k++)
            got[k] ^= key[k & 3];
    }
    if (hl) {
        uint32_t id = (uint32_t) got[0] << 24 | (uint32_t) got[1] << 16 | (uint32_t) got[2] << 8 | got[3];
        assert_int_equal(id, (uint32_t) request_id(c, i));
    }
    assert_memory_equal(got + hl, want, wlen);
}

/* The peer's opening and messages 0..n-1 of about len bytes. */
static void opening_and_msgs(struct conn *c, struct bytes *b, int n, size_t len)
{
    peer_opening(c, b);
    for (int i = 0; i < n; i++)
        peer_msg(c, b, i, len);
}

/* nanosp receives and answers messages first..first+n-1; the peer gets
   the answers (after nanosp's opening when first is 0). */
static void exchange(struct conn *c, int first, int n, size_t len)
{
    for (int i = first; i < first + n; i++)
        nanosp_serve(c, i, len);
    if (first == 0)
        peer_expect_opening(c);
    for (int i = first; i < first + n; i++)
        peer_expect_reply(c, i);
}

/* ---- the opening and the first messages in one record ---- */

static void opening_with_msgs_in_one_record(enum wire wire, enum side side, int n, size_t len)
{
    struct conn c;
    struct bytes b = {0};
    conn_open(&c, wire, side);
    opening_and_msgs(&c, &b, n, len);
    tp_write_record(&c.p, b.p, b.len);
    exchange(&c, 0, n, len);
    b_free(&b);
    conn_close(&c);
}

static void test_tls_rep_gets_request_sent_in_the_header_record(void **state)
{
    (void) state;
    opening_with_msgs_in_one_record(SP, BIND, 1, 0);
}

static void test_tls_rep_gets_requests_sent_in_the_header_record(void **state)
{
    (void) state;
    opening_with_msgs_in_one_record(SP, BIND, 5, 0);
    opening_with_msgs_in_one_record(SP, BIND, 40, 300); /* a record of 12 KiB */
}

static void test_tls_pair_client_gets_messages_sent_in_the_header_record(void **state)
{
    (void) state;
    opening_with_msgs_in_one_record(SP, CONNECT, 1, 0);
    opening_with_msgs_in_one_record(SP, CONNECT, 5, 0);
    opening_with_msgs_in_one_record(SP, CONNECT, 40, 300);
}

static void test_wss_rep_gets_requests_sent_in_the_upgrade_record(void **state)
{
    (void) state;
    opening_with_msgs_in_one_record(WS, BIND, 1, 0);
    opening_with_msgs_in_one_record(WS, BIND, 5, 0);
    /* More than the upgrade's read buffer (4 KiB) in the same record. */
    opening_with_msgs_in_one_record(WS, BIND, 1, 10000);
    opening_with_msgs_in_one_record(WS, BIND, 40, 300);
}

static void test_wss_pair_client_gets_frames_sent_in_the_101_record(void **state)
{
    (void) state;
    opening_with_msgs_in_one_record(WS, CONNECT, 1, 0);
    opening_with_msgs_in_one_record(WS, CONNECT, 5, 0);
    opening_with_msgs_in_one_record(WS, CONNECT, 1, 10000);
    opening_with_msgs_in_one_record(WS, CONNECT, 40, 300);
}

/* ---- the same bytes cut into records anywhere ---- */

/* The opening and two messages, cut into two records at every byte (over
   wss from the end of the HTTP head on: the cuts that matter), all sent at
   once, then into records of 1, 2, 3, 5 and 7 bytes, each sent alone: a
   fresh connection each. */
static void cut_everywhere(enum wire wire, enum side side)
{
    struct conn c;
    struct bytes b = {0};
    /* The bytes' length and where the HTTP head ends do not depend on the
       connection (a WebSocket key always has the same length). */
    struct conn shape = {.wire = wire, .side = side, .ws_proto = "pair.sp.nanomsg.org"};
    opening_and_msgs(&shape, &b, 2, 0);
    size_t total = b.len, from = 1;
    while (wire == WS && memcmp(b.p + from, "\r\n\r\n", 4) != 0)
        from++;
    for (size_t cut = from; cut < total; cut++) {
        conn_open(&c, wire, side);
        b.len = 0;
        opening_and_msgs(&c, &b, 2, 0);
        assert_int_equal(b.len, total);
        const size_t sizes[2] = {cut, total - cut};
        tp_cork(&c.p);
        tp_write_records(&c.p, b.p, b.len, sizes, 2);
        tp_uncork(&c.p);
        exchange(&c, 0, 2, 0);
        conn_close(&c);
    }
    static const size_t recs[] = {1, 2, 3, 5, 7};
    for (size_t k = 0; k < sizeof recs / sizeof recs[0]; k++) {
        conn_open(&c, wire, side);
        b.len = 0;
        opening_and_msgs(&c, &b, 2, 0);
        tp_write_chunked(&c.p, b.p, b.len, recs[k]);
        exchange(&c, 0, 2, 0);
        conn_close(&c);
    }
    b_free(&b);
}

static void test_tls_rep_gets_requests_cut_into_records_at_every_byte(void **state)
{
    (void) state;
    cut_everywhere(SP, BIND);
}

static void test_tls_pair_client_gets_messages_cut_into_records_at_every_byte(void **state)
{
    (void) state;
    cut_everywhere(SP, CONNECT);
}

static void test_wss_rep_gets_requests_cut_into_records_at_every_byte(void **state)
{
    (void) state;
    cut_everywhere(WS, BIND);
}

static void test_wss_pair_client_gets_frames_cut_into_records_at_every_byte(void **state)
{
    (void) state;
    cut_everywhere(WS, CONNECT);
}

/* ---- after the handshake ---- */

/* The opening alone, then message 0 in a record of its own: both
   handshakes are through once it is answered. */
static void open_and_exchange_one(struct conn *c)
{
    struct bytes b = {0};
    peer_opening(c, &b);
    tp_write_record(&c->p, b.p, b.len);
    b.len = 0;
    peer_msg(c, &b, 0, 0);
    tp_write_record(&c->p, b.p, b.len);
    exchange(c, 0, 1, 0);
    b_free(&b);
}

/* After one exchange, n messages of about len bytes in one record. */
static void msgs_in_one_record_later(enum wire wire, enum side side, int n, size_t len)
{
    struct conn c;
    struct bytes b = {0};
    conn_open(&c, wire, side);
    open_and_exchange_one(&c);
    for (int i = 1; i <= n; i++)
        peer_msg(&c, &b, i, len);
    tp_write_record(&c.p, b.p, b.len);
    exchange(&c, 1, n, len);
    b_free(&b);
    conn_close(&c);
}

static void test_tls_rep_gets_requests_sent_together_after_the_handshake(void **state)
{
    (void) state;
    msgs_in_one_record_later(SP, BIND, 5, 0);
    msgs_in_one_record_later(SP, BIND, 100, 150);
}

static void test_tls_pair_client_gets_messages_sent_together_after_the_handshake(void **state)
{
    (void) state;
    msgs_in_one_record_later(SP, CONNECT, 5, 0);
    msgs_in_one_record_later(SP, CONNECT, 100, 150);
}

static void test_wss_rep_gets_frames_sent_together_after_the_upgrade(void **state)
{
    (void) state;
    msgs_in_one_record_later(WS, BIND, 5, 0);
    msgs_in_one_record_later(WS, BIND, 100, 150);
}

static void test_wss_pair_client_gets_frames_sent_together_after_the_upgrade(void **state)
{
    (void) state;
    msgs_in_one_record_later(WS, CONNECT, 5, 0);
    msgs_in_one_record_later(WS, CONNECT, 100, 150);
}

/* ---- the end of the stream right behind a message ---- */

/* After one exchange, the peer sends a message and its close_notify in one
   write and leaves the TCP connection open (as TLS stacks that wait for the
   other side's close_notify do): nanosp gets the message and ends the
   connection, though the fd has nothing more to report. */
static void close_notify_behind_msg(enum wire wire, enum side side)
{
    struct conn c;
    struct bytes b = {0};
    conn_open(&c, wire, side);
    open_and_exchange_one(&c);
    peer_msg(&c, &b, 1, 0);
    tp_cork(&c.p);
    tp_write_record(&c.p, b.p, b.len);
    assert_int_equal(mbedtls_ssl_close_notify(&c.p.ssl), 0);
    tp_uncork(&c.p);
    nanosp_recv(&c, 1, 0);
    if (!tu_wait_closed(c.p.fd, TU_DEADLINE_MS))
        fail_msg("nanosp did not close the connection after the peer's close_notify");
    b_free(&b);
    conn_close(&c);
}

static void test_tls_rep_ends_connection_on_close_notify_inside_the_header(void **state)
{
    (void) state;
    /* Not the handshake deadline (10 s): at once. */
    struct conn c;
    struct bytes b = {0};
    conn_open(&c, SP, BIND);
    peer_opening(&c, &b);
    tp_cork(&c.p);
    tp_write_record(&c.p, b.p, 5);
    assert_int_equal(mbedtls_ssl_close_notify(&c.p.ssl), 0);
    tp_uncork(&c.p);
    if (!tu_wait_closed(c.p.fd, TU_DEADLINE_MS))
        fail_msg("nanosp did not close the connection after the peer's close_notify");
    b_free(&b);
    conn_close(&c);
}

static void test_tls_rep_ends_connection_on_close_notify_behind_a_request(void **state)
{
    (void) state;
    close_notify_behind_msg(SP, BIND);
}

static void test_tls_pair_client_ends_connection_on_close_notify_behind_a_message(void **state)
{
    (void) state;
    close_notify_behind_msg(SP, CONNECT);
}

static void test_wss_rep_ends_connection_on_close_notify_behind_a_frame(void **state)
{
    (void) state;
    close_notify_behind_msg(WS, BIND);
}

/* ---- bursts: many full records at once ---- */

struct burst {
    struct tp *p;
    const struct bytes *b;
};

static void burst_writer(void *arg)
{
    struct burst *w = arg;
    /* The records were built in memory; only the fd is used here. */
    size_t off = 0;
    while (off < w->b->len) {
        struct pollfd pfd = {w->p->fd, POLLOUT, 0};
        if (poll(&pfd, 1, TU_DEADLINE_MS) != 1)
            break; /* the reader's side fails the test */
        ssize_t n = send(w->p->fd, w->b->p + off, w->b->len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t) n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            break;
    }
}

/* A burst of n messages (message ids from *next) in records of rec bytes,
   written at once by another thread while nanosp receives them. */
static void burst(struct conn *c, int *next, int n, size_t len, size_t rec)
{
    struct bytes msgs = {0};
    for (int i = 0; i < n; i++)
        peer_msg(c, &msgs, *next + i, len);
    tp_cork(&c->p);
    tp_write_chunked(&c->p, msgs.p, msgs.len, rec);
    struct bytes wire_bytes = c->p.out;
    memset(&c->p.out, 0, sizeof c->p.out);
    c->p.corked = false;
    struct burst w = {&c->p, &wire_bytes};
    tu_thread t;
    tu_thread_start(&t, burst_writer, &w);
    for (int i = 0; i < n; i++)
        nanosp_recv(c, *next + i, len);
    tu_thread_join(&t);
    b_free(&wire_bytes);
    b_free(&msgs);
    *next += n;
}

/* Where reads of `rounds` whole buffers of cap bytes stop in a stream of
   frames of f bytes that is all there: each read fills what the partial
   frame kept from the previous one leaves free. */
static size_t reads_end(int rounds, size_t cap, size_t f)
{
    size_t x = 0;
    for (int k = 0; k < rounds; k++)
        x += cap - x % f;
    return x;
}

/* Bursts that end just behind the point where nanosp's reads stop with the
   rest of a record decrypted inside mbedTLS, and nothing left in the
   kernel to wake the loop again. One readiness event reads at most 8
   buffers (16 KiB for tls+tcp, 64 KiB for wss) before other connections get
   their turn; the reads after that stop again 8 buffers on, and nanosp
   stops reading while its receive queue is over NN_RCVBUF (set between
   8 and 16 buffers for tls+tcp, so that the second stop falls in a pause).
   The sizes come from that model of the reader; whatever the reader does,
   every message must come. */
static void bursts(enum wire wire, enum side side)
{
    struct conn c;
    conn_open_with(&c, wire, side, wire == SP ? 192 * 1024 : 0);
    open_and_exchange_one(&c);
    size_t len = wire == SP ? 100 : 1000, cap = wire == SP ? 16384 : 65536;
    struct bytes one = {0};
    peer_msg(&c, &one, 1000000, len);
    size_t f = one.len;
    b_free(&one);
    int next = 1;
    /* First a burst that grows nanosp's read buffer to its full size. */
    burst(&c, &next, (int) (100000 / f), len, 10000);
    for (int rounds = 8; rounds <= (wire == SP ? 16 : 8); rounds += 8) {
        size_t stop = reads_end(rounds, cap, f);
        for (int extra = 1; extra <= 4; extra++) {
            int n = (int) (stop / f) + extra;
            size_t total = (size_t) n * f;
            /* Records large enough that the last one starts before the
               stopping point. */
            size_t rec = 10000;
            while ((total - 1) % rec < total - 1 - stop)
                rec += 997;
            assert_true(rec <= TP_RECORD_MAX);
            burst(&c, &next, n, len, rec);
        }
    }
    conn_close(&c);
}

static void test_tls_rep_gets_every_request_of_bursts_of_full_records(void **state)
{
    (void) state;
    bursts(SP, BIND);
}

static void test_tls_pair_client_gets_every_message_of_bursts_of_full_records(void **state)
{
    (void) state;
    bursts(SP, CONNECT);
}

static void test_wss_rep_gets_every_frame_of_bursts_of_full_records(void **state)
{
    (void) state;
    bursts(WS, BIND);
}

static void test_wss_pair_client_gets_every_frame_of_bursts_of_full_records(void **state)
{
    (void) state;
    bursts(WS, CONNECT);
}

/* ---- nanosp writing into a full connection ---- */

/* Large messages (many records each, a record's worth of body written
   straight from the message) to a peer whose kernel takes only a few KiB
   at a time: nanosp's writes keep meeting a full connection, and every
   byte must still arrive, in order. */
enum { SLOW_MSGS = 6, SLOW_LEN = 200000 };

struct slow_sender {
    int s;
    int sent;
};

static void slow_sender(void *arg)
{
    struct slow_sender *w = arg;
    char *body = malloc(SLOW_LEN + 1);
    if (!body)
        return;
    for (int i = 0; i < SLOW_MSGS; i++) {
        body_of(body, i, SLOW_LEN);
        if (nn_send(w->s, body, SLOW_LEN, 0) != SLOW_LEN)
            break;
        w->sent++;
    }
    free(body);
}

static void test_tls_large_messages_into_a_full_connection_arrive_intact(void **state)
{
    (void) state;
    struct conn c;
    memset(&c, 0, sizeof c);
    c.wire = SP;
    c.side = CONNECT;
    int port, small = 4096;
    c.lfd = tu_raw_listen(&port);
    /* Inherited by the accepted connection: a small receive window. */
    assert_int_equal(setsockopt(c.lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    c.s = tu_socket(AF_SP, NN_PAIR);
    /* And a small send buffer in nanosp's kernel (NN_SNDBUF sets SO_SNDBUF). */
    tu_setint(c.s, NN_SOL_SOCKET, NN_SNDBUF, 8192);
    tu_setstr(c.s, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    char url[96];
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", port);
    tu_connect(c.s, url);
    tp_accept(&c.p, c.lfd);
    struct bytes b = {0};
    peer_opening(&c, &b);
    tp_write_record(&c.p, b.p, b.len);
    b_free(&b);
    peer_expect_opening(&c);
    struct slow_sender w = {c.s, 0};
    tu_thread t;
    tu_thread_start(&t, slow_sender, &w);
    char *want = malloc(SLOW_LEN + 1), *got = malloc(SLOW_LEN);
    assert_non_null(want);
    assert_non_null(got);
    for (int i = 0; i < SLOW_MSGS; i++) {
        uint8_t len[8];
        assert_true(tp_read(&c.p, len, 8, TU_DEADLINE_MS));
        uint64_t n = 0;
        for (int k = 0; k < 8; k++)
            n = n << 8 | len[k];
        assert_int_equal(n, SLOW_LEN);
        /* In small pieces: the window stays small. */
        for (size_t off = 0; off < SLOW_LEN; off += 3000)
            assert_true(tp_read(&c.p, got + off, SLOW_LEN - off < 3000 ? SLOW_LEN - off : 3000, TU_DEADLINE_MS));
        body_of(want, i, SLOW_LEN);
        assert_memory_equal(got, want, SLOW_LEN);
    }
    tu_thread_join(&t);
    assert_int_equal(w.sent, SLOW_MSGS);
    free(want);
    free(got);
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
        cmocka_unit_test(test_tls_rep_gets_request_sent_in_the_header_record),
        cmocka_unit_test(test_tls_rep_gets_requests_sent_in_the_header_record),
        cmocka_unit_test(test_tls_pair_client_gets_messages_sent_in_the_header_record),
        cmocka_unit_test(test_wss_rep_gets_requests_sent_in_the_upgrade_record),
        cmocka_unit_test(test_wss_pair_client_gets_frames_sent_in_the_101_record),
        cmocka_unit_test(test_tls_rep_gets_requests_cut_into_records_at_every_byte),
        cmocka_unit_test(test_tls_pair_client_gets_messages_cut_into_records_at_every_byte),
        cmocka_unit_test(test_wss_rep_gets_requests_cut_into_records_at_every_byte),
        cmocka_unit_test(test_wss_pair_client_gets_frames_cut_into_records_at_every_byte),
        cmocka_unit_test(test_tls_rep_gets_requests_sent_together_after_the_handshake),
        cmocka_unit_test(test_tls_pair_client_gets_messages_sent_together_after_the_handshake),
        cmocka_unit_test(test_wss_rep_gets_frames_sent_together_after_the_upgrade),
        cmocka_unit_test(test_wss_pair_client_gets_frames_sent_together_after_the_upgrade),
        cmocka_unit_test(test_tls_rep_ends_connection_on_close_notify_inside_the_header),
        cmocka_unit_test(test_tls_rep_ends_connection_on_close_notify_behind_a_request),
        cmocka_unit_test(test_tls_pair_client_ends_connection_on_close_notify_behind_a_message),
        cmocka_unit_test(test_wss_rep_ends_connection_on_close_notify_behind_a_frame),
        cmocka_unit_test(test_tls_rep_gets_every_request_of_bursts_of_full_records),
        cmocka_unit_test(test_tls_large_messages_into_a_full_connection_arrive_intact),
        cmocka_unit_test(test_tls_pair_client_gets_every_message_of_bursts_of_full_records),
        cmocka_unit_test(test_wss_rep_gets_every_frame_of_bursts_of_full_records),
        cmocka_unit_test(test_wss_pair_client_gets_every_frame_of_bursts_of_full_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
