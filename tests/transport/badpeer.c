/* The SP wire protocol seen from a plain POSIX socket: what a nanomsg socket
   writes (8-byte SP header first, then u64-length frames, with a type byte on
   ipc; SPEC §3.1-§3.3) and how it treats peers that misbehave (wrong magic,
   incompatible protocol, oversize or truncated frames, unknown ipc type byte,
   garbage, silence). A misbehaving peer must see its connection closed, and
   the nanomsg socket must stay usable for well-behaved peers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/ipc.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>

#include "testutil.h"

#define URL_LEN 256

enum kind { TCP, IPC };

/* An nn socket listening on a fresh address of the given transport. */
struct endpoint {
    enum kind kind;
    char url[URL_LEN];
    int port;          /* TCP */
    const char *path;  /* IPC: points into url */
};

static void endpoint_init(struct endpoint *ep, enum kind kind, const char *name)
{
    memset(ep, 0, sizeof *ep);
    ep->kind = kind;
    if (kind == TCP) {
        ep->port = tu_free_port();
        tu_tcp_url(ep->url, sizeof ep->url, ep->port);
    } else {
        tu_ipc_url(ep->url, sizeof ep->url, name);
        ep->path = ep->url + strlen("ipc://");
    }
}

static int endpoint_connect_raw(const struct endpoint *ep)
{
    int fd = ep->kind == TCP ? tu_connect_tcp(ep->port, 0) : tu_connect_ipc(ep->path, 0);
    assert_true(fd >= 0);
    return fd;
}

/* A plain listening socket on a fresh TCP port (for nn connectors). */
static int endpoint_listen_raw(struct endpoint *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->kind = TCP;
    int fd = tu_raw_listen(&ep->port);
    tu_tcp_url(ep->url, sizeof ep->url, ep->port);
    return fd;
}

/* Reads the peer's SP header and checks it names proto. */
static void expect_sp_header(int fd, int proto)
{
    unsigned char got[8];
    unsigned char want[8];
    tu_sp_header(want, proto);
    assert_true(tu_read_exact(fd, got, 8, TU_DEADLINE_MS));
    assert_memory_equal(got, want, 8);
}

static void send_sp_header(int fd, int proto)
{
    unsigned char hdr[8];
    tu_sp_header(hdr, proto);
    tu_raw_write(fd, hdr, 8);
}

/* Frame prefix of the transport: [0x01] (ipc only) + u64 BE length. Returns
   the prefix size. */
static size_t frame_prefix(enum kind kind, unsigned char *out, uint64_t len)
{
    size_t n = 0;
    int i;
    if (kind == IPC)
        out[n++] = 0x01;
    for (i = 7; i >= 0; i--)
        out[n++] = (unsigned char) (len >> (8 * i));
    return n;
}

static void send_frame(int fd, enum kind kind, const char *body, size_t len)
{
    unsigned char buf[512];
    size_t n = frame_prefix(kind, buf, len);
    assert_true(n + len <= sizeof buf);
    memcpy(buf + n, body, len);
    tu_raw_write(fd, buf, n + len);
}

/* A well-behaved nanomsg peer of type `type` connects to ep and exchanges a
   message with `s` (PUSH->PULL or PULL<-PUSH depending on `s`'s role). */
static void expect_good_peer_works(int s, int s_type, const struct endpoint *ep)
{
    int peer;
    if (s_type == NN_PULL) {
        peer = tu_socket(AF_SP, NN_PUSH);
        tu_connect(peer, ep->url);
        tu_send(peer, "good-peer");
        tu_recv(s, "good-peer");
    } else if (s_type == NN_PUSH) {
        peer = tu_socket(AF_SP, NN_PULL);
        tu_connect(peer, ep->url);
        tu_send(s, "good-peer");
        tu_recv(peer, "good-peer");
    } else {
        peer = tu_socket(AF_SP, NN_PAIR);
        tu_connect(peer, ep->url);
        tu_send(peer, "good-peer");
        tu_recv(s, "good-peer");
        tu_send(s, "good-reply");
        tu_recv(peer, "good-reply");
    }
    tu_close(peer);
}

/* Runs one misbehaviour against a fresh nn socket of type s_type bound on the
   given transport: the raw peer connects, misbehave() does its thing, the
   connection must end (when expect_close), and a proper peer then works. */
static void run_bad_peer(enum kind kind, int s_type, const char *name,
                         void (*misbehave)(int fd, enum kind kind), bool expect_close)
{
    struct endpoint ep;
    int s = tu_socket(AF_SP, s_type);
    int fd;

    endpoint_init(&ep, kind, name);
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    misbehave(fd, kind);
    if (expect_close)
        assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
    close(fd);
    expect_good_peer_works(s, s_type, &ep);
    /* Nothing from the bad peer was ever delivered. */
    if (s_type != NN_PUSH)
        tu_recv_nothing(s);
    tu_close(s);
}

/* ---- What we write ------------------------------------------------------ */

static void test_bound_socket_sends_sp_header_first(void **state)
{
    (void) state;
    static const struct {
        int domain;
        int type;
    } types[] = {
        {AF_SP, NN_PULL}, {AF_SP, NN_PUSH}, {AF_SP, NN_PAIR},
        {AF_SP_RAW, NN_PULL}, {AF_SP_RAW, NN_PUSH}, {AF_SP_RAW, NN_PAIR},
    };
    size_t i;
    enum kind kind;

    for (kind = TCP; kind <= IPC; kind++) {
        for (i = 0; i < sizeof types / sizeof types[0]; i++) {
            struct endpoint ep;
            int s = tu_socket(types[i].domain, types[i].type);
            int fd;
            endpoint_init(&ep, kind, "header-first.ipc");
            tu_bind(s, ep.url);
            fd = endpoint_connect_raw(&ep);
            /* Written without waiting for ours. */
            expect_sp_header(fd, types[i].type);
            close(fd);
            tu_close(s);
        }
    }
}

static void test_pull_header_bytes_are_exact(void **state)
{
    (void) state;
    static const unsigned char want[8] = {0x00, 0x53, 0x50, 0x00, 0x00, 0x51, 0x00, 0x00};
    unsigned char got[8];
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PULL);
    int fd;

    endpoint_init(&ep, TCP, NULL);
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    assert_true(tu_read_exact(fd, got, 8, TU_DEADLINE_MS));
    assert_memory_equal(got, want, 8);
    close(fd);
    tu_close(s);
}

static void test_connecting_socket_sends_sp_header_first(void **state)
{
    (void) state;
    struct endpoint ep;
    int lfd = endpoint_listen_raw(&ep);
    int s = tu_socket(AF_SP, NN_PUSH);
    int fd;
    char buf[8 + 5];

    tu_connect(s, ep.url);
    fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    expect_sp_header(fd, NN_PUSH);
    send_sp_header(fd, NN_PULL);
    tu_send(s, "hello");
    assert_true(tu_read_exact(fd, buf, sizeof buf, TU_DEADLINE_MS));
    assert_memory_equal(buf, "\0\0\0\0\0\0\0\5hello", sizeof buf);

    close(fd);
    close(lfd);
    tu_close(s);
}

/* A raw PULL does the handshake with an nn PUSH and reads its frames. */
static void expect_push_framing(enum kind kind)
{
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PUSH);
    unsigned char want[64];
    unsigned char got[64];
    size_t n;
    int fd;

    endpoint_init(&ep, kind, "push-framing.ipc");
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    expect_sp_header(fd, NN_PUSH);
    send_sp_header(fd, NN_PULL);

    tu_send(s, "hello");
    n = frame_prefix(kind, want, 5);
    memcpy(want + n, "hello", 5);
    assert_true(tu_read_exact(fd, got, n + 5, TU_DEADLINE_MS));
    assert_memory_equal(got, want, n + 5);

    /* Empty message: just the prefix with length 0. */
    assert_int_equal(nn_send(s, "", 0, 0), 0);
    n = frame_prefix(kind, want, 0);
    assert_true(tu_read_exact(fd, got, n, TU_DEADLINE_MS));
    assert_memory_equal(got, want, n);

    close(fd);
    tu_close(s);
}

static void test_tcp_push_frames_message_as_u64_length_and_body(void **state)
{
    (void) state;
    expect_push_framing(TCP);
}

static void test_ipc_push_frames_message_with_type_byte_and_u64_length(void **state)
{
    (void) state;
    expect_push_framing(IPC);
}

/* ---- What we accept ----------------------------------------------------- */

static void expect_pull_accepts_frames(enum kind kind)
{
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PULL);
    unsigned char buf[128];
    size_t n, i;
    int fd;

    endpoint_init(&ep, kind, "pull-accepts.ipc");
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    expect_sp_header(fd, NN_PULL);
    send_sp_header(fd, NN_PUSH);

    send_frame(fd, kind, "hello", 5);
    tu_recv(s, "hello");

    /* Two frames in one write. */
    n = frame_prefix(kind, buf, 3);
    memcpy(buf + n, "one", 3);
    n += 3;
    n += frame_prefix(kind, buf + n, 3);
    memcpy(buf + n, "two", 3);
    n += 3;
    tu_raw_write(fd, buf, n);
    tu_recv(s, "one");
    tu_recv(s, "two");

    /* A frame dribbled in one byte at a time. */
    n = frame_prefix(kind, buf, 7);
    memcpy(buf + n, "dribble", 7);
    n += 7;
    for (i = 0; i < n; i++)
        tu_raw_write(fd, buf + i, 1);
    tu_recv(s, "dribble");

    /* Empty frame -> empty message. */
    send_frame(fd, kind, "", 0);
    assert_int_equal(nn_recv(s, buf, sizeof buf, 0), 0);

    close(fd);
    tu_close(s);
}

static void test_tcp_pull_accepts_correct_frames_from_raw_push(void **state)
{
    (void) state;
    expect_pull_accepts_frames(TCP);
}

static void test_ipc_pull_accepts_correct_frames_from_raw_push(void **state)
{
    (void) state;
    expect_pull_accepts_frames(IPC);
}

/* Bytes 6-7 of the SP header are reserved; libnanomsg does not check them. */
static void test_header_reserved_bytes_are_not_checked(void **state)
{
    (void) state;
    static const unsigned char hdr[8] = {0x00, 0x53, 0x50, 0x00, 0x00, 0x50, 0xff, 0xff};
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PULL);
    int fd;

    endpoint_init(&ep, TCP, NULL);
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    tu_raw_write(fd, hdr, 8);
    send_frame(fd, TCP, "reserved", 8);
    tu_recv(s, "reserved");
    close(fd);
    tu_close(s);
}

/* A raw handshake as PULL followed by data sent *to* the PUSH: the PUSH
   ignores it and keeps delivering. */
static void test_push_ignores_data_from_its_peer(void **state)
{
    (void) state;
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PUSH);
    char buf[8 + 4];
    int fd;
    int i;

    endpoint_init(&ep, TCP, NULL);
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    expect_sp_header(fd, NN_PUSH);
    send_sp_header(fd, NN_PULL);
    for (i = 0; i < 10; i++)
        send_frame(fd, TCP, "noise", 5);
    tu_send(s, "work");
    assert_true(tu_read_exact(fd, buf, sizeof buf, TU_DEADLINE_MS));
    assert_memory_equal(buf, "\0\0\0\0\0\0\0\4work", sizeof buf);
    close(fd);
    tu_close(s);
}

/* ---- Misbehaving peers -------------------------------------------------- */

static void bad_magic(int fd, enum kind kind)
{
    static const unsigned char hdr[8] = {0x00, 0x53, 0x51, 0x00, 0x00, 0x50, 0x00, 0x00};
    (void) kind;
    tu_raw_write(fd, hdr, 8);
}

static void bad_version(int fd, enum kind kind)
{
    static const unsigned char hdr[8] = {0x00, 0x53, 0x50, 0x01, 0x00, 0x50, 0x00, 0x00};
    (void) kind;
    tu_raw_write(fd, hdr, 8);
}

static void test_wrong_sp_magic_is_rejected_and_socket_survives(void **state)
{
    (void) state;
    run_bad_peer(TCP, NN_PULL, NULL, bad_magic, true);
    run_bad_peer(IPC, NN_PULL, "bad-magic.ipc", bad_magic, true);
    run_bad_peer(TCP, NN_PULL, NULL, bad_version, true);
}

static void push_header(int fd, enum kind kind)
{
    (void) kind;
    send_sp_header(fd, NN_PUSH);
}

static void pair_header_then_frame(int fd, enum kind kind)
{
    send_sp_header(fd, NN_PAIR);
    send_frame(fd, kind, "pair-data", 9);
}

static void pull_header(int fd, enum kind kind)
{
    (void) kind;
    send_sp_header(fd, NN_PULL);
}

static void test_incompatible_protocol_id_is_rejected_and_socket_survives(void **state)
{
    (void) state;
    /* PUSH header to a PUSH. */
    run_bad_peer(TCP, NN_PUSH, NULL, push_header, true);
    run_bad_peer(IPC, NN_PUSH, "push-push.ipc", push_header, true);
    /* PAIR header (and data) to a PULL: nothing may be delivered. */
    run_bad_peer(TCP, NN_PULL, NULL, pair_header_then_frame, true);
    run_bad_peer(IPC, NN_PULL, "pair-pull.ipc", pair_header_then_frame, true);
    /* PULL header to a PAIR. */
    run_bad_peer(TCP, NN_PAIR, NULL, pull_header, true);
}

static void oversize_huge(int fd, enum kind kind)
{
    unsigned char buf[16];
    size_t n;
    send_sp_header(fd, NN_PUSH);
    n = frame_prefix(kind, buf, UINT64_MAX);
    tu_raw_write(fd, buf, n);
    tu_raw_write(fd, "abcdefgh", 8);
}

static void oversize_just_over_default(int fd, enum kind kind)
{
    unsigned char buf[16];
    size_t n;
    send_sp_header(fd, NN_PUSH);
    n = frame_prefix(kind, buf, 1024 * 1024 + 1);
    tu_raw_write(fd, buf, n);
    tu_raw_write(fd, "abcdefgh", 8);
}

/* A complete valid frame that precedes a bad one is still delivered: the
   connection is dropped only when the bad frame is read. */
static void expect_valid_frame_before_oversize_is_delivered(enum kind kind, const char *name)
{
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PULL);
    unsigned char buf[64];
    size_t n;
    int fd;

    endpoint_init(&ep, kind, name);
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    send_sp_header(fd, NN_PUSH);
    n = frame_prefix(kind, buf, 6);
    memcpy(buf + n, "intact", 6);
    n += 6;
    n += frame_prefix(kind, buf + n, UINT64_MAX);
    tu_raw_write(fd, buf, n);
    tu_recv(s, "intact");
    assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
    close(fd);
    expect_good_peer_works(s, NN_PULL, &ep);
    tu_close(s);
}

static void test_valid_frame_before_oversize_frame_is_delivered(void **state)
{
    (void) state;
    expect_valid_frame_before_oversize_is_delivered(TCP, NULL);
    expect_valid_frame_before_oversize_is_delivered(IPC, "intact.ipc");
}

static void test_oversize_frame_length_closes_connection_and_socket_survives(void **state)
{
    (void) state;
    run_bad_peer(TCP, NN_PULL, NULL, oversize_huge, true);
    run_bad_peer(IPC, NN_PULL, "oversize.ipc", oversize_huge, true);
    run_bad_peer(TCP, NN_PULL, NULL, oversize_just_over_default, true);
    run_bad_peer(IPC, NN_PULL, "oversize2.ipc", oversize_just_over_default, true);
}

#ifndef AGAINST_LIBNANOMSG
static void ipc_type_two(int fd, enum kind kind)
{
    static const unsigned char frame[] = {0x02, 0, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    (void) kind;
    send_sp_header(fd, NN_PUSH);
    tu_raw_write(fd, frame, sizeof frame);
}

static void ipc_type_ff(int fd, enum kind kind)
{
    static const unsigned char frame[] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 'x'};
    (void) kind;
    send_sp_header(fd, NN_PUSH);
    send_frame(fd, IPC, "ok-then-bad", 11);
    tu_raw_write(fd, frame, sizeof frame);
}

/* libnanomsg asserts (aborts the process) on an ipc type byte other than 1;
   we drop the connection. */
static void test_ipc_unknown_type_byte_closes_connection_and_socket_survives(void **state)
{
    (void) state;
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PULL);
    int fd;

    run_bad_peer(IPC, NN_PULL, "type-two.ipc", ipc_type_two, true);

    /* A valid frame before the bad one is still delivered. */
    endpoint_init(&ep, IPC, "type-ff.ipc");
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    ipc_type_ff(fd, IPC);
    tu_recv(s, "ok-then-bad");
    assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
    close(fd);
    expect_good_peer_works(s, NN_PULL, &ep);
    tu_close(s);
}
#endif

static void truncated_frame(int fd, enum kind kind)
{
    unsigned char buf[16];
    size_t n;
    send_sp_header(fd, NN_PUSH);
    n = frame_prefix(kind, buf, 100);
    tu_raw_write(fd, buf, n);
    tu_raw_write(fd, "only-10-by", 10);
    /* ... and the peer goes away mid-frame (run_bad_peer closes fd). */
}

static void truncated_header(int fd, enum kind kind)
{
    (void) kind;
    tu_raw_write(fd, "\0SP", 3);
}

static void test_truncated_frame_then_close_delivers_nothing(void **state)
{
    (void) state;
    run_bad_peer(TCP, NN_PULL, NULL, truncated_frame, false);
    run_bad_peer(IPC, NN_PULL, "truncated.ipc", truncated_frame, false);
    run_bad_peer(TCP, NN_PULL, NULL, truncated_header, false);
}

static void random_bytes(int fd, enum kind kind)
{
    unsigned char buf[512];
    uint32_t x = 0x12345678u;
    size_t i;
    (void) kind;
    for (i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char) (x >> 16);
    }
    buf[0] = 0xa5; /* never a valid header */
    tu_raw_write(fd, buf, sizeof buf);
}

static void test_random_bytes_are_rejected_and_socket_survives(void **state)
{
    (void) state;
    run_bad_peer(TCP, NN_PULL, NULL, random_bytes, true);
    run_bad_peer(IPC, NN_PULL, "random.ipc", random_bytes, true);
    run_bad_peer(TCP, NN_PAIR, NULL, random_bytes, true);
}

/* A peer that connects and never sends its header is cut off by the
   handshake deadline, not kept forever and not cut immediately. The
   deadline is libnanomsg's 1 s here, nanosp's 10 s on both sides (NNG's:
   see transports/utils/spwire.h): the three silent peers wait at once. */
#define HS_DEADLINE_MS 10000

struct silent {
    struct endpoint ep;
    int s;
    int fd;
    uint64_t start;
};

static void silent_open(struct silent *p, enum kind kind, const char *name, bool partial)
{
    p->s = tu_socket(AF_SP, NN_PULL);
    endpoint_init(&p->ep, kind, name);
    tu_bind(p->s, p->ep.url);
    p->start = tu_now_ms();
    p->fd = endpoint_connect_raw(&p->ep);
    if (partial)
        tu_raw_write(p->fd, "\0SP\0", 4);
}

static void expect_silent_peer_timed_out(struct silent *p)
{
    assert_true(tu_wait_closed(p->fd, HS_DEADLINE_MS + TU_DEADLINE_MS));
    assert_true(tu_now_ms() - p->start >= 500);
    close(p->fd);
    expect_good_peer_works(p->s, NN_PULL, &p->ep);
    tu_close(p->s);
}

static void test_silent_peer_is_closed_after_handshake_timeout(void **state)
{
    (void) state;
    struct silent tcp, ipc, partial;
    silent_open(&tcp, TCP, NULL, false);
    silent_open(&ipc, IPC, "silent.ipc", false);
    silent_open(&partial, TCP, NULL, true);
    expect_silent_peer_timed_out(&tcp);
    expect_silent_peer_timed_out(&ipc);
    expect_silent_peer_timed_out(&partial);
}

/* While a silent peer is pending, other peers are served normally. */
static void test_silent_peer_does_not_block_other_peers(void **state)
{
    (void) state;
    struct endpoint ep;
    int s = tu_socket(AF_SP, NN_PULL);
    int fd;

    endpoint_init(&ep, TCP, NULL);
    tu_bind(s, ep.url);
    fd = endpoint_connect_raw(&ep);
    expect_good_peer_works(s, NN_PULL, &ep);
    close(fd);
    tu_close(s);
}

/* A connector whose header is rejected by the listener retries. */
static void test_connector_retries_after_rejected_header(void **state)
{
    (void) state;
    struct endpoint ep;
    int lfd = endpoint_listen_raw(&ep);
    int s = tu_socket(AF_SP, NN_PUSH);
    int fd;
    char buf[8 + 5];

    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_connect(s, ep.url);

    /* First attempt: we answer as a PUSH, which a PUSH must refuse. */
    fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    expect_sp_header(fd, NN_PUSH);
    send_sp_header(fd, NN_PUSH);
    assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
    close(fd);

    /* It comes back; this time we are a proper PULL. */
    fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    expect_sp_header(fd, NN_PUSH);
    send_sp_header(fd, NN_PULL);
    tu_send(s, "again");
    assert_true(tu_read_exact(fd, buf, sizeof buf, TU_DEADLINE_MS));
    assert_memory_equal(buf, "\0\0\0\0\0\0\0\5again", sizeof buf);

    close(fd);
    close(lfd);
    tu_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_socket_sends_sp_header_first),
        cmocka_unit_test(test_pull_header_bytes_are_exact),
        cmocka_unit_test(test_connecting_socket_sends_sp_header_first),
        cmocka_unit_test(test_tcp_push_frames_message_as_u64_length_and_body),
        cmocka_unit_test(test_ipc_push_frames_message_with_type_byte_and_u64_length),
        cmocka_unit_test(test_tcp_pull_accepts_correct_frames_from_raw_push),
        cmocka_unit_test(test_ipc_pull_accepts_correct_frames_from_raw_push),
        cmocka_unit_test(test_header_reserved_bytes_are_not_checked),
        cmocka_unit_test(test_push_ignores_data_from_its_peer),
        cmocka_unit_test(test_wrong_sp_magic_is_rejected_and_socket_survives),
        cmocka_unit_test(test_incompatible_protocol_id_is_rejected_and_socket_survives),
        cmocka_unit_test(test_oversize_frame_length_closes_connection_and_socket_survives),
        cmocka_unit_test(test_valid_frame_before_oversize_frame_is_delivered),
#ifndef AGAINST_LIBNANOMSG
        cmocka_unit_test(test_ipc_unknown_type_byte_closes_connection_and_socket_survives),
#endif
        cmocka_unit_test(test_truncated_frame_then_close_delivers_nothing),
        cmocka_unit_test(test_random_bytes_are_rejected_and_socket_survives),
        cmocka_unit_test(test_silent_peer_is_closed_after_handshake_timeout),
        cmocka_unit_test(test_silent_peer_does_not_block_other_peers),
        cmocka_unit_test(test_connector_retries_after_rejected_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
