/* REQ/REP (SPEC §3.6, §4.1, §4.2, §4.9, §4.17): a REQ sends one request at a
   time tagged with a 31-bit id (top bit set on the wire), resends it on a
   timer or at once when its pipe goes away, and accepts only the reply that
   carries the current id. A cooked REP answers exactly its current request by
   sending back the backtrace it received; a raw REP exposes that backtrace
   (pipe key first) as SP_HDR so that many requests can be served at once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/reqrep.h>
#include <nanomsg/tcp.h>

#include "testutil.h"

#define TOP_BIT 0x80000000u

/* ---- wire format ----------------------------------------------------------- */

/* A plain TCP server acting as REP sees [id | 0x80000000][body]; the next
   request carries id + 1; a reply with the old id is discarded and the one
   with the current id is delivered. */
static void test_req_request_on_the_wire_is_id_with_top_bit_then_body(void **state)
{
    (void) state;
    int port;
    int lfd = tu_raw_listen(&port);
    char url[TU_URL_LEN];
    int req = tu_socket(AF_SP, NN_REQ);
    unsigned char frame[64];

    tu_connect(req, tu_tcp_url(url, sizeof url, port));
    int fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    tu_sp_handshake(fd, NN_REP, NN_REQ);

    tu_send(req, "ping");
    assert_int_equal(tu_read_frame(fd, frame, sizeof frame, TU_DEADLINE_MS), 8);
    uint32_t id1 = tu_get32(frame);
    assert_true(id1 & TOP_BIT);
    assert_memory_equal(frame + 4, "ping", 4);

    tu_send(req, "again");
    assert_int_equal(tu_read_frame(fd, frame, sizeof frame, TU_DEADLINE_MS), 9);
    uint32_t id2 = tu_get32(frame);
    assert_int_equal(id2, ((id1 + 1) | TOP_BIT));
    assert_memory_equal(frame + 4, "again", 5);

    /* A late reply to the cancelled request, then the right one. */
    unsigned char reply[16];
    tu_put32(reply, id1);
    memcpy(reply + 4, "old", 3);
    tu_raw_send_frame(fd, reply, 7);
    tu_put32(reply, id2);
    memcpy(reply + 4, "pong", 4);
    tu_raw_send_frame(fd, reply, 8);
    tu_recv(req, "pong");

    close(fd);
    close(lfd);
}

/* A cooked REP answers with exactly the tag stack the request arrived with
   (hops and id), so that intermediate devices can route the reply back. */
static void test_rep_reply_carries_back_the_backtrace_of_the_request(void **state)
{
    (void) state;
    int port = tu_free_port();
    char url[TU_URL_LEN];
    int rep = tu_socket(AF_SP, NN_REP);
    tu_bind(rep, tu_tcp_url(url, sizeof url, port));

    int fd = tu_raw_connect(port);
    tu_sp_handshake(fd, NN_REQ, NN_REP);
    static const unsigned char request[] = {0x00, 0x00, 0x00, 0x07, 0x80, 0x00, 0x00, 0x2a,
                                            'h', 'i'};
    tu_raw_send_frame(fd, request, sizeof request);
    tu_recv(rep, "hi");
    tu_send(rep, "ho");

    unsigned char frame[64];
    static const unsigned char want[] = {0x00, 0x00, 0x00, 0x07, 0x80, 0x00, 0x00, 0x2a,
                                         'h', 'o'};
    assert_int_equal(tu_read_frame(fd, frame, sizeof frame, TU_DEADLINE_MS), (int) sizeof want);
    assert_memory_equal(frame, want, sizeof want);
    close(fd);
}

static void expect_raw_rep_sees_pipe_key_then_id(enum tu_transport t)
{
    char url[TU_URL_LEN];
    int rep = tu_socket(AF_SP_RAW, NN_REP);
    int req1 = tu_socket(AF_SP, NN_REQ);
    int req2 = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, t, "raw-rep-hdr"));
    tu_connect(req1, url);
    tu_connect(req2, url);

    char body[64];
    unsigned char h1[64], h1b[64], h2[64];
    size_t len1, len1b, len2;

    tu_send(req1, "one");
    assert_int_equal(tu_recvmsg_hdr(rep, body, sizeof body, h1, sizeof h1, &len1, 0), 3);
    assert_string_equal(body, "one");
    assert_int_equal(len1, 8);
    assert_int_equal(tu_get32(h1) & TOP_BIT, 0);      /* pipe key */
    assert_int_equal(tu_get32(h1 + 4) & TOP_BIT, TOP_BIT); /* request id */

    /* The next request of the same REQ: same pipe key, next id. */
    tu_send(req1, "two");
    assert_int_equal(tu_recvmsg_hdr(rep, body, sizeof body, h1b, sizeof h1b, &len1b, 0), 3);
    assert_string_equal(body, "two");
    assert_int_equal(len1b, 8);
    assert_int_equal(tu_get32(h1b), tu_get32(h1));
    assert_int_equal(tu_get32(h1b + 4), (tu_get32(h1 + 4) + 1) | TOP_BIT);

    /* Another REQ comes in through another pipe: another key. */
    tu_send(req2, "three");
    assert_int_equal(tu_recvmsg_hdr(rep, body, sizeof body, h2, sizeof h2, &len2, 0), 5);
    assert_string_equal(body, "three");
    assert_int_equal(len2, 8);
    assert_int_equal(tu_get32(h2) & TOP_BIT, 0);
    assert_int_not_equal(tu_get32(h2), tu_get32(h1));

    /* Answers sent with those headers reach the right requester, in any
       order. */
    assert_int_equal(tu_sendmsg_hdr(rep, h2, len2, "for-2", 0), 5);
    assert_int_equal(tu_sendmsg_hdr(rep, h1b, len1b, "for-1", 0), 5);
    tu_recv(req2, "for-2");
    tu_recv(req1, "for-1");

    tu_close(req1);
    tu_close(req2);
    tu_close(rep);
}

static void test_raw_rep_sees_pipe_key_then_request_id_as_sp_hdr(void **state)
{
    (void) state;
    expect_raw_rep_sees_pipe_key_then_id(TU_INPROC);
    expect_raw_rep_sees_pipe_key_then_id(TU_TCP);
}

/* ---- state machine ------------------------------------------------------ */

static void test_req_recv_without_outstanding_request_fails_with_efsm(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    char buf[16];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, TU_INPROC, "req-efsm"));
    tu_connect(req, url);

    assert_nn_fail(nn_recv(req, buf, sizeof buf, 0), EFSM);
    tu_send(req, "q");
    tu_recv(rep, "q");
    tu_send(rep, "a");
    tu_recv(req, "a");
    /* The reply was consumed: nothing is outstanding any more. */
    assert_nn_fail(nn_recv(req, buf, sizeof buf, 0), EFSM);
    assert_nn_fail(nn_recv(req, buf, sizeof buf, NN_DONTWAIT), EFSM);
}

static void test_rep_send_without_pending_request_fails_with_efsm(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, TU_INPROC, "rep-efsm"));
    tu_connect(req, url);

    assert_nn_fail(nn_send(rep, "x", 1, 0), EFSM);
    tu_send(req, "q");
    tu_recv(rep, "q");
    tu_send(rep, "a");
    /* One reply per request. */
    assert_nn_fail(nn_send(rep, "b", 1, 0), EFSM);
    assert_nn_fail(nn_send(rep, "b", 1, NN_DONTWAIT), EFSM);
    tu_recv(req, "a");
}

/* A new recv (even one that fails with EAGAIN) abandons the pending request:
   it can no longer be answered. */
static void test_rep_new_recv_abandons_the_pending_request(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    char buf[16];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, TU_INPROC, "rep-abandon"));
    tu_connect(req, url);

    tu_send(req, "q");
    tu_recv(rep, "q");
    assert_nn_fail(nn_recv(rep, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
    assert_nn_fail(nn_send(rep, "a", 1, 0), EFSM);
}

/* Sending a new request cancels the outstanding one: its late reply is
   discarded and only the reply to the new request is received. */
static void test_new_request_cancels_the_outstanding_one(void **state)
{
    (void) state;
    static const enum tu_transport ts[] = {TU_INPROC, TU_TCP};
    for (size_t i = 0; i < 2; i++) {
        char url[TU_URL_LEN];
        int rep = tu_socket(AF_SP, NN_REP);
        int req = tu_socket(AF_SP, NN_REQ);
        tu_bind(rep, tu_url(url, ts[i], "cancel"));
        tu_connect(req, url);

        tu_send(req, "first");
        tu_recv(rep, "first");
        tu_send(req, "second");
        tu_send(rep, "reply-to-first"); /* arrives late: must be dropped */
        tu_recv(rep, "second");
        tu_send(rep, "reply-to-second");
        tu_recv(req, "reply-to-second");
        /* Nothing is outstanding any more. */
        char buf[32];
        assert_nn_fail(nn_recv(req, buf, sizeof buf, NN_DONTWAIT), EFSM);
        tu_close(req);
        tu_close(rep);
    }
}

/* ---- resending ------------------------------------------------------------ */

/* With a short NN_REQ_RESEND_IVL, a REP that ignores the first copy gets a
   second one with the same id (and no earlier than the interval), and the
   reply to it completes the request. */
static void test_req_resends_the_same_request_after_the_resend_interval(void **state)
{
    (void) state;
    static const enum tu_transport ts[] = {TU_INPROC, TU_TCP};
    for (size_t i = 0; i < 2; i++) {
        char url[TU_URL_LEN];
        char body[64];
        unsigned char h1[64], h2[64];
        size_t len1, len2;
        int rep = tu_socket(AF_SP_RAW, NN_REP);
        int req = tu_socket(AF_SP, NN_REQ);
        tu_setint(req, NN_REQ, NN_REQ_RESEND_IVL, 200);
        tu_bind(rep, tu_url(url, ts[i], "resend"));
        tu_connect(req, url);
        tu_wait_connections(req, 1);

        uint64_t t0 = tu_now_ms();
        tu_send(req, "hello");
        assert_int_equal(tu_recvmsg_hdr(rep, body, sizeof body, h1, sizeof h1, &len1, 0), 5);
        /* Ignored. The resend comes after about 200 ms. */
        assert_int_equal(tu_recvmsg_hdr(rep, body, sizeof body, h2, sizeof h2, &len2, 0), 5);
        uint64_t elapsed = tu_now_ms() - t0;
        assert_string_equal(body, "hello");
        assert_int_equal(len2, len1);
        assert_memory_equal(h2, h1, len1);
        assert_true(elapsed >= 150);
        assert_true(elapsed < 3000);

        assert_int_equal(tu_sendmsg_hdr(rep, h2, len2, "world", 0), 5);
        tu_recv(req, "world");
        tu_close(req);
        tu_close(rep);
    }
}

/* Finds which REP got the request (the REQ load-balances, so either may),
   receives it there and returns its index. */
static int recv_on_either(int rep[2], const char *want)
{
    struct nn_pollfd pfd[2] = {{rep[0], NN_POLLIN, 0}, {rep[1], NN_POLLIN, 0}};
    assert_true(nn_poll(pfd, 2, TU_DEADLINE_MS) >= 1);
    int k = (pfd[0].revents & NN_POLLIN) ? 0 : 1;
    tu_recv(rep[k], want);
    return k;
}

static void expect_immediate_resend_on_pipe_loss(enum tu_transport t)
{
    char url[2][TU_URL_LEN];
    int rep[2];
    int req = tu_socket(AF_SP, NN_REQ);
    /* The timer would only fire after 30 s: anything sooner is the
       pipe-loss resend. */
    tu_setint(req, NN_REQ, NN_REQ_RESEND_IVL, 30000);
    for (int k = 0; k < 2; k++) {
        rep[k] = tu_socket(AF_SP, NN_REP);
        tu_bind(rep[k], tu_url(url[k], t, "pipe-loss"));
        tu_connect(req, url[k]);
    }
    tu_wait_connections(req, 2);

    tu_send(req, "job");
    int k = recv_on_either(rep, "job");
    uint64_t t0 = tu_now_ms();
    tu_close(rep[k]); /* crashes while working on it */
    tu_recv(rep[1 - k], "job");
    assert_true(tu_now_ms() - t0 < 3000);
    tu_send(rep[1 - k], "done");
    tu_recv(req, "done");
    tu_close(req);
    tu_close(rep[1 - k]);
}

static void test_req_resends_immediately_when_its_pipe_goes_away(void **state)
{
    (void) state;
    expect_immediate_resend_on_pipe_loss(TU_INPROC);
    expect_immediate_resend_on_pipe_loss(TU_TCP);
}

/* Requests sent while no REP exists wait; a newer one replaces the older, so
   the REP that finally appears receives only the second. */
static void test_req_sending_twice_before_any_peer_delivers_only_the_second(void **state)
{
    (void) state;
    static const enum tu_transport ts[] = {TU_INPROC, TU_TCP};
    for (size_t i = 0; i < 2; i++) {
        char url[TU_URL_LEN];
        int req = tu_socket(AF_SP, NN_REQ);
        tu_setint(req, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
        tu_connect(req, tu_url(url, ts[i], "twice"));
        assert_int_equal(nn_send(req, "first", 5, NN_DONTWAIT), 5);
        assert_int_equal(nn_send(req, "second", 6, NN_DONTWAIT), 6);

        int rep = tu_socket(AF_SP, NN_REP);
        tu_bind(rep, url);
        tu_recv(rep, "second");
        tu_send(rep, "answer");
        tu_recv(req, "answer");
        tu_recv_nothing(rep);
        tu_close(req);
        tu_close(rep);
    }
}

/* The requester went away before the answer: the REP's send still succeeds
   (the reply is dropped) and the REP keeps serving others. */
static void test_rep_drops_reply_to_a_gone_requester_without_error(void **state)
{
    (void) state;
    static const enum tu_transport ts[] = {TU_INPROC, TU_TCP};
    for (size_t i = 0; i < 2; i++) {
        char url[TU_URL_LEN];
        int rep = tu_socket(AF_SP, NN_REP);
        int req = tu_socket(AF_SP, NN_REQ);
        tu_bind(rep, tu_url(url, ts[i], "gone"));
        tu_connect(req, url);
        tu_send(req, "q");
        tu_recv(rep, "q");
        tu_close(req);
        tu_wait_connections(rep, 0);
        assert_int_equal(nn_send(rep, "late", 4, 0), 4);

        int req2 = tu_socket(AF_SP, NN_REQ);
        tu_connect(req2, url);
        tu_send(req2, "q2");
        tu_recv(rep, "q2");
        tu_send(rep, "a2");
        tu_recv(req2, "a2");
        tu_close(req2);
        tu_close(rep);
    }
}

/* A recv that times out does not give up the request: the reply that comes
   later is still received. */
static void test_req_recv_timeout_keeps_the_request_outstanding(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    char buf[16];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, TU_INPROC, "req-timeout"));
    tu_connect(req, url);

    tu_send(req, "q");
    tu_setint(req, NN_SOL_SOCKET, NN_RCVTIMEO, 50);
    assert_nn_fail(nn_recv(req, buf, sizeof buf, 0), ETIMEDOUT);
    assert_nn_fail(nn_recv(req, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
    tu_recv(rep, "q");
    tu_send(rep, "late but fine");
    tu_setint(req, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_recv(req, "late but fine");
}

/* The only REP dies while working on a request; when a REP is back at the
   same address it gets the request at once (not after the 60 s resend
   interval). */
static void test_req_resends_to_a_rep_that_comes_back_after_a_crash(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int req = tu_socket(AF_SP, NN_REQ);
    int rep = tu_socket(AF_SP, NN_REP);
    tu_setint(req, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_bind(rep, tu_url(url, TU_TCP, "comeback"));
    tu_connect(req, url);

    tu_send(req, "job");
    tu_recv(rep, "job");
    tu_close(rep);
    tu_wait_connections(req, 0);
    rep = tu_socket(AF_SP, NN_REP);
    tu_bind(rep, url);
    tu_recv(rep, "job");
    tu_send(rep, "done");
    tu_recv(req, "done");
}

/* Requests go to the highest-priority REP (lowest NN_SNDPRIO) while it is
   there; when it goes away the pending request moves to the other one. */
static void test_req_prefers_the_highest_priority_rep_and_fails_over(void **state)
{
    (void) state;
    char url_hi[TU_URL_LEN], url_lo[TU_URL_LEN];
    int req = tu_socket(AF_SP, NN_REQ);
    int hi = tu_socket(AF_SP, NN_REP);
    int lo = tu_socket(AF_SP, NN_REP);
    tu_bind(lo, tu_url(url_lo, TU_INPROC, "prio-lo"));
    tu_bind(hi, tu_url(url_hi, TU_INPROC, "prio-hi"));
    tu_setint(req, NN_SOL_SOCKET, NN_SNDPRIO, 2);
    tu_connect(req, url_lo);
    tu_setint(req, NN_SOL_SOCKET, NN_SNDPRIO, 1);
    tu_connect(req, url_hi);
    tu_wait_connections(req, 2);

    for (int i = 0; i < 4; i++) {
        tu_send(req, "q");
        tu_recv(hi, "q");
        tu_send(hi, "a");
        tu_recv(req, "a");
    }
    tu_recv_nothing(lo);
    tu_send(req, "last");
    tu_recv(hi, "last");
    tu_close(hi);
    tu_recv(lo, "last");
    tu_send(lo, "from-lo");
    tu_recv(req, "from-lo");
}

/* Requests a REP cannot parse (shorter than a tag, or without a tag that
   has bit 31 set) are dropped; the connection stays and the next good one
   is served and answered. */
static void test_rep_drops_malformed_requests_and_keeps_the_connection(void **state)
{
    (void) state;
    int port = tu_free_port();
    char url[TU_URL_LEN];
    unsigned char frame[64];
    int rep = tu_socket(AF_SP, NN_REP);
    tu_bind(rep, tu_tcp_url(url, sizeof url, port));
    int fd = tu_raw_connect(port);
    tu_sp_handshake(fd, NN_REQ, NN_REP);

    static const unsigned char no_id[] = {0, 0, 0, 1, 0, 0, 0, 2};
    static const unsigned char hop_then_short[] = {0, 0, 0, 1, 'x', 'y'};
    static const unsigned char good[] = {0x80, 0, 0, 5, 'o', 'k'};
    tu_raw_send_frame(fd, "", 0);
    tu_raw_send_frame(fd, "ab", 2);
    tu_raw_send_frame(fd, no_id, sizeof no_id);
    tu_raw_send_frame(fd, hop_then_short, sizeof hop_then_short);
    tu_raw_send_frame(fd, good, sizeof good);
    tu_recv(rep, "ok");
    tu_send(rep, "fine");
    assert_int_equal(tu_read_frame(fd, frame, sizeof frame, TU_DEADLINE_MS), 8);
    assert_memory_equal(frame, "\x80\0\0\5fine", 8);
    close(fd);
}

/* A REQ ignores replies that are too short, lack the top bit or carry
   another id, and takes the one that matches. */
static void test_req_drops_malformed_and_foreign_replies(void **state)
{
    (void) state;
    int port;
    int lfd = tu_raw_listen(&port);
    char url[TU_URL_LEN];
    unsigned char frame[64];
    int req = tu_socket(AF_SP, NN_REQ);
    tu_connect(req, tu_tcp_url(url, sizeof url, port));
    int fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    tu_sp_handshake(fd, NN_REP, NN_REQ);

    tu_send(req, "q");
    assert_int_equal(tu_read_frame(fd, frame, sizeof frame, TU_DEADLINE_MS), 5);
    uint32_t id = tu_get32(frame);

    unsigned char reply[16];
    tu_raw_send_frame(fd, "", 0);
    tu_raw_send_frame(fd, "ab", 2);
    tu_put32(reply, id & ~TOP_BIT);
    memcpy(reply + 4, "nobit", 5);
    tu_raw_send_frame(fd, reply, 9);
    tu_put32(reply, (id + 7) | TOP_BIT);
    memcpy(reply + 4, "other", 5);
    tu_raw_send_frame(fd, reply, 9);
    tu_put32(reply, id);
    memcpy(reply + 4, "right", 5);
    tu_raw_send_frame(fd, reply, 9);
    tu_recv(req, "right");
    close(fd);
    close(lfd);
}

/* A raw REP reply whose backtrace is missing or names no pipe it has is
   dropped without an error; the requester just does not get it. */
static void test_raw_rep_reply_to_an_unknown_pipe_is_dropped_silently(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    char body[32];
    unsigned char hdr[32], bogus[8];
    size_t hdrlen;
    int rep = tu_socket(AF_SP_RAW, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, TU_INPROC, "raw-unknown"));
    tu_connect(req, url);

    tu_send(req, "q");
    assert_int_equal(tu_recvmsg_hdr(rep, body, sizeof body, hdr, sizeof hdr, &hdrlen, 0), 1);
    assert_int_equal(hdrlen, 8);
    memcpy(bogus, hdr, 8);
    tu_put32(bogus, tu_get32(hdr) ^ 0x5a5a5a5);
    assert_int_equal(tu_sendmsg_hdr(rep, bogus, 8, "lost-1", 0), 6);
    assert_int_equal(tu_sendmsg_hdr(rep, hdr, 0, "lost-2", 0), 6);
    assert_int_equal(tu_sendmsg_hdr(rep, hdr, 8, "found", 0), 5);
    tu_recv(req, "found");
}

/* ---- NN_MAXTTL and raw REQ ---------------------------------------------- */

/* Builds a backtrace of nwords tags: nwords-1 hops then the id. */
static size_t backtrace(unsigned char *hdr, int nwords, uint32_t id)
{
    for (int i = 0; i < nwords - 1; i++)
        tu_put32(hdr + 4 * i, (uint32_t) (100 + i));
    tu_put32(hdr + 4 * (nwords - 1), id | TOP_BIT);
    return (size_t) nwords * 4;
}

/* A request whose backtrace has more tags than the REP's NN_MAXTTL is
   dropped; one with exactly NN_MAXTTL tags gets through. */
static void test_rep_drops_requests_with_more_hops_than_maxttl(void **state)
{
    (void) state;
    static const int ttls[] = {8 /* default */, 3};
    for (size_t i = 0; i < 2; i++) {
        char url[TU_URL_LEN];
        unsigned char hdr[64], got[64];
        char body[64];
        size_t got_len;
        int ttl = ttls[i];
        int req = tu_socket(AF_SP_RAW, NN_REQ);
        int rep = tu_socket(AF_SP_RAW, NN_REP);
        if (ttl != 8)
            tu_setint(rep, NN_SOL_SOCKET, NN_MAXTTL, ttl);
        assert_int_equal(tu_getint(rep, NN_SOL_SOCKET, NN_MAXTTL), ttl);
        tu_bind(rep, tu_url(url, TU_INPROC, "maxttl"));
        tu_connect(req, url);
        tu_wait_connections(req, 1);

        size_t len = backtrace(hdr, ttl + 1, 1);
        assert_int_equal(tu_sendmsg_hdr(req, hdr, len, "too-far", 0), 7);
        len = backtrace(hdr, ttl, 2);
        assert_int_equal(tu_sendmsg_hdr(req, hdr, len, "ok", 0), 2);

        /* Same pipe, in order: the first thing received is "ok". */
        assert_int_equal(tu_recvmsg_hdr(rep, body, sizeof body, got, sizeof got, &got_len, 0),
                         2);
        assert_string_equal(body, "ok");
        assert_int_equal(got_len, 4 + len);
        assert_memory_equal(got + 4, hdr, len);
        tu_recv_nothing(rep);
        tu_close(req);
        tu_close(rep);
    }
}

/* NN_MAXTTL accepts 1..255 only. */
static void test_maxttl_accepts_one_to_255(void **state)
{
    (void) state;
    int rep = tu_socket(AF_SP, NN_REP);
    int v = 0;
    assert_nn_fail(nn_setsockopt(rep, NN_SOL_SOCKET, NN_MAXTTL, &v, sizeof v), EINVAL);
    v = 256;
    assert_nn_fail(nn_setsockopt(rep, NN_SOL_SOCKET, NN_MAXTTL, &v, sizeof v), EINVAL);
    tu_setint(rep, NN_SOL_SOCKET, NN_MAXTTL, 1);
    tu_setint(rep, NN_SOL_SOCKET, NN_MAXTTL, 255);
    assert_int_equal(tu_getint(rep, NN_SOL_SOCKET, NN_MAXTTL), 255);
}

/* A raw REQ sends whatever backtrace it is given and gets the reply's first
   tag as SP_HDR; the remaining tags stay in front of the body (which is what
   lets a raw REQ forward replies in a device). */
static void test_raw_req_exposes_first_reply_tag_as_sp_hdr(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    unsigned char hdr[16], got[16];
    char body[64];
    size_t got_len;
    int req = tu_socket(AF_SP_RAW, NN_REQ);
    int rep = tu_socket(AF_SP, NN_REP);
    tu_bind(rep, tu_url(url, TU_INPROC, "raw-req"));
    tu_connect(req, url);
    tu_wait_connections(req, 1);

    /* Just an id: a cooked REP answers it, the id comes back as SP_HDR. */
    size_t len = backtrace(hdr, 1, 0x1234);
    assert_int_equal(tu_sendmsg_hdr(req, hdr, len, "q1", 0), 2);
    tu_recv(rep, "q1");
    tu_send(rep, "a1");
    assert_int_equal(tu_recvmsg_hdr(req, body, sizeof body, got, sizeof got, &got_len, 0), 2);
    assert_string_equal(body, "a1");
    assert_int_equal(got_len, 4);
    assert_int_equal(tu_get32(got), 0x1234 | TOP_BIT);

    /* A hop and an id: only the hop is split off. */
    len = backtrace(hdr, 2, 0x99);
    assert_int_equal(tu_sendmsg_hdr(req, hdr, len, "q2", 0), 2);
    tu_recv(rep, "q2");
    tu_send(rep, "a2");
    assert_int_equal(tu_recvmsg_hdr(req, body, sizeof body, got, sizeof got, &got_len, 0), 6);
    assert_int_equal(got_len, 4);
    assert_int_equal(tu_get32(got), 100);
    assert_int_equal(tu_get32((unsigned char *) body), 0x99 | TOP_BIT);
    assert_memory_equal(body + 4, "a2", 2);
}

/* ---- crashes of libnanomsg that we turn into errors --------------------- */

#ifndef AGAINST_LIBNANOMSG
/* libnanomsg accepts a negative interval and aborts on the next send. */
static void test_negative_resend_interval_fails_with_einval(void **state)
{
    (void) state;
    int req = tu_socket(AF_SP, NN_REQ);
    int v = -5;
    assert_nn_fail(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof v), EINVAL);
    assert_int_equal(tu_getint(req, NN_REQ, NN_REQ_RESEND_IVL), 60000);
    assert_int_equal(nn_send(req, "x", 1, NN_DONTWAIT), 1);
}

/* libnanomsg asserts that a cooked REQ/REP message has no SP header. */
static void test_sp_hdr_on_cooked_req_or_rep_fails_with_einval(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    unsigned char hdr[8];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, TU_INPROC, "cooked-hdr"));
    tu_connect(req, url);

    size_t len = backtrace(hdr, 1, 7);
    assert_nn_fail(tu_sendmsg_hdr(req, hdr, len, "q", 0), EINVAL);
    tu_send(req, "q");
    tu_recv(rep, "q");
    len = backtrace(hdr, 2, 7);
    assert_nn_fail(tu_sendmsg_hdr(rep, hdr, len, "a", 0), EINVAL);
    /* The rejected send changed nothing: the request is still pending. */
    tu_send(rep, "a");
    tu_recv(req, "a");
}
#endif

/* ---- readiness fds -------------------------------------------------------- */

static void test_req_sndfd_is_always_readable_and_rcvfd_only_when_reply_is_there(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    char buf[16];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    int sndfd = tu_fd(req, NN_SNDFD);
    int rcvfd = tu_fd(req, NN_RCVFD);

    /* No peer at all: sending is still possible (the request waits). */
    assert_true(tu_fd_readable(sndfd, 0));
    assert_false(tu_fd_readable(rcvfd, 0));

    tu_bind(rep, tu_url(url, TU_INPROC, "req-fds"));
    tu_connect(req, url);
    tu_send(req, "q");
    assert_true(tu_fd_readable(sndfd, 0));
    tu_recv(rep, "q");
    assert_false(tu_fd_readable(rcvfd, 0)); /* no reply yet */
    tu_send(rep, "a");
    assert_true(tu_fd_readable(rcvfd, TU_DEADLINE_MS));
    assert_true(tu_fd_readable(rcvfd, 0)); /* level-triggered */
    assert_true(tu_fd_readable(sndfd, 0));
    assert_int_equal(nn_recv(req, buf, sizeof buf, NN_DONTWAIT), 1);
    assert_false(tu_fd_readable(rcvfd, 0));
    assert_true(tu_fd_readable(sndfd, 0));
}

static void test_rep_sndfd_is_readable_only_while_a_request_is_pending(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    int sndfd = tu_fd(rep, NN_SNDFD);
    int rcvfd = tu_fd(rep, NN_RCVFD);
    tu_bind(rep, tu_url(url, TU_INPROC, "rep-fds"));
    tu_connect(req, url);

    assert_false(tu_fd_readable(sndfd, 0));
    assert_false(tu_fd_readable(rcvfd, 0));
    tu_send(req, "q");
    assert_true(tu_fd_readable(rcvfd, TU_DEADLINE_MS));
    assert_false(tu_fd_readable(sndfd, 0)); /* received by the socket, not by us */
    tu_recv(rep, "q");
    assert_true(tu_fd_readable(sndfd, 0));
    assert_false(tu_fd_readable(rcvfd, 0));
    tu_send(rep, "a");
    assert_false(tu_fd_readable(sndfd, 0));
    tu_recv(req, "a");
}

/* ---- serving many clients ------------------------------------------------- */

#define RAW_WORKERS 4
#define RAW_CLIENTS 40

struct raw_server {
    int s;
    int arrived;             /* workers holding their first request */
    int all_met;             /* workers that saw all RAW_WORKERS holding one */
    int served;
    int failures;
};
static struct raw_server raw_server;

static bool all_workers_arrived(void *arg)
{
    (void) arg;
    return __atomic_load_n(&raw_server.arrived, __ATOMIC_SEQ_CST) >= RAW_WORKERS;
}

/* One of RAW_WORKERS threads sharing a raw REP: receive a request with its
   backtrace, answer "re:<body>" with the same backtrace. Each worker holds its
   first request until every worker holds one, which proves the requests are
   in flight concurrently. */
static void raw_worker(void *arg)
{
    (void) arg;
    bool first = true;
    for (;;) {
        char body[64], reply[80];
        unsigned char hdr[64];
        size_t hdrlen;
        int rc = tu_recvmsg_hdr(raw_server.s, body, sizeof body, hdr, sizeof hdr, &hdrlen, 0);
        if (rc < 0)
            break; /* EBADF once the test closes the socket */
        if (first) {
            first = false;
            __atomic_add_fetch(&raw_server.arrived, 1, __ATOMIC_SEQ_CST);
            if (tu_wait_until(all_workers_arrived, NULL, TU_DEADLINE_MS))
                __atomic_add_fetch(&raw_server.all_met, 1, __ATOMIC_SEQ_CST);
        }
        snprintf(reply, sizeof reply, "re:%s", body);
        if (hdrlen > sizeof hdr || tu_sendmsg_hdr(raw_server.s, hdr, hdrlen, reply, 0) < 0)
            __atomic_add_fetch(&raw_server.failures, 1, __ATOMIC_SEQ_CST);
        else
            __atomic_add_fetch(&raw_server.served, 1, __ATOMIC_SEQ_CST);
    }
}

static void test_raw_rep_serves_requests_from_four_threads_concurrently(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int clients[RAW_CLIENTS];
    tu_thread workers[RAW_WORKERS];

    memset(&raw_server, 0, sizeof raw_server);
    raw_server.s = tu_socket(AF_SP_RAW, NN_REP);
    tu_setint(raw_server.s, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_bind(raw_server.s, tu_url(url, TU_TCP, "raw-server"));
    for (int i = 0; i < RAW_WORKERS; i++)
        tu_thread_start(&workers[i], raw_worker, NULL);

    for (int i = 0; i < RAW_CLIENTS; i++) {
        clients[i] = tu_socket(AF_SP, NN_REQ);
        tu_connect(clients[i], url);
    }
    for (int i = 0; i < RAW_CLIENTS; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "client-%d", i);
        tu_send(clients[i], msg);
    }
    for (int i = 0; i < RAW_CLIENTS; i++) {
        char want[40];
        snprintf(want, sizeof want, "re:client-%d", i);
        tu_recv(clients[i], want);
    }
    tu_close(raw_server.s);
    for (int i = 0; i < RAW_WORKERS; i++)
        tu_thread_join(&workers[i]);
    assert_int_equal(raw_server.all_met, RAW_WORKERS);
    assert_int_equal(raw_server.served, RAW_CLIENTS);
    assert_int_equal(raw_server.failures, 0);
    for (int i = 0; i < RAW_CLIENTS; i++)
        tu_close(clients[i]);
}

#define MANY_CLIENTS 100

struct cooked_server {
    int s;
    int count;   /* requests to serve */
    int served;
    int err;
};

static void cooked_server_run(void *arg)
{
    struct cooked_server *srv = arg;
    while (srv->served < srv->count) {
        char body[64], reply[80];
        if (tu_recv_str(srv->s, body, sizeof body, 0) < 0) {
            srv->err = nn_errno();
            return;
        }
        snprintf(reply, sizeof reply, "re:%s", body);
        if (nn_send(srv->s, reply, strlen(reply), 0) < 0) {
            srv->err = nn_errno();
            return;
        }
        srv->served++;
    }
}

static void expect_many_clients_get_their_own_replies(enum tu_transport t)
{
    char url[TU_URL_LEN];
    static int clients[MANY_CLIENTS];
    struct cooked_server srv = {0};
    tu_thread th;

    srv.s = tu_socket(AF_SP, NN_REP);
    srv.count = MANY_CLIENTS;
    tu_bind(srv.s, tu_url(url, t, "many"));
    tu_thread_start(&th, cooked_server_run, &srv);
    for (int i = 0; i < MANY_CLIENTS; i++) {
        clients[i] = tu_socket(AF_SP, NN_REQ);
        tu_connect(clients[i], url);
    }
    for (int i = 0; i < MANY_CLIENTS; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "client-%d", i);
        tu_send(clients[i], msg);
    }
    for (int i = 0; i < MANY_CLIENTS; i++) {
        char want[40];
        snprintf(want, sizeof want, "re:client-%d", i);
        tu_recv(clients[i], want);
    }
    tu_thread_join(&th);
    assert_int_equal(srv.err, 0);
    assert_int_equal(srv.served, MANY_CLIENTS);
    for (int i = 0; i < MANY_CLIENTS; i++)
        tu_close(clients[i]);
    tu_close(srv.s);
}

static void test_hundred_req_clients_all_get_their_own_replies(void **state)
{
    (void) state;
    expect_many_clients_get_their_own_replies(TU_INPROC);
    expect_many_clients_get_their_own_replies(TU_TCP);
}

/* ---- raw REQ/REP device ------------------------------------------------- */

#define DEVICE_CLIENTS 10

/* Clients -> raw REP | nn_device | raw REQ -> server. The device pushes one
   hop, so a raw server sees [its pipe key][device's pipe key][id]; replies
   find their way back to the right client. */
static void test_raw_req_rep_device_routes_replies_back_to_each_client(void **state)
{
    (void) state;
    char front_url[TU_URL_LEN], back_url[TU_URL_LEN];
    int clients[DEVICE_CLIENTS];
    static struct tu_blocked dev;
    tu_thread th;

    int front = tu_socket(AF_SP_RAW, NN_REP);
    int back = tu_socket(AF_SP_RAW, NN_REQ);
    tu_bind(front, tu_url(front_url, TU_TCP, "dev-front"));
    tu_bind(back, tu_url(back_url, TU_INPROC, "dev-back"));
    memset(&dev, 0, sizeof dev);
    dev.s = front;
    dev.s2 = back;
    dev.op = TU_OP_DEVICE;
    tu_thread_start(&th, tu_blocked_run, &dev);

    int server = tu_socket(AF_SP_RAW, NN_REP);
    tu_connect(server, back_url);
    for (int i = 0; i < DEVICE_CLIENTS; i++) {
        char msg[32];
        clients[i] = tu_socket(AF_SP, NN_REQ);
        tu_connect(clients[i], front_url);
        snprintf(msg, sizeof msg, "client-%d", i);
        tu_send(clients[i], msg);
    }
    for (int i = 0; i < DEVICE_CLIENTS; i++) {
        char body[64], reply[80];
        unsigned char hdr[64];
        size_t hdrlen;
        assert_true(tu_recvmsg_hdr(server, body, sizeof body, hdr, sizeof hdr, &hdrlen, 0) > 0);
        assert_int_equal(hdrlen, 12);
        assert_int_equal(tu_get32(hdr) & TOP_BIT, 0);
        assert_int_equal(tu_get32(hdr + 4) & TOP_BIT, 0);
        assert_int_equal(tu_get32(hdr + 8) & TOP_BIT, TOP_BIT);
        snprintf(reply, sizeof reply, "re:%s", body);
        assert_int_equal(tu_sendmsg_hdr(server, hdr, hdrlen, reply, 0), (int) strlen(reply));
    }
    for (int i = 0; i < DEVICE_CLIENTS; i++) {
        char want[40];
        snprintf(want, sizeof want, "re:client-%d", i);
        tu_recv(clients[i], want);
    }

    assert_false(tu_blocked_is_done(&dev));
    tu_close(front);
    tu_close(back);
    assert_true(tu_wait_until(tu_blocked_is_done, &dev, TU_DEADLINE_MS));
    tu_thread_join(&th);
    assert_int_equal(dev.rc, -1);
    assert_int_equal(dev.err, EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_req_request_on_the_wire_is_id_with_top_bit_then_body),
        tu_test(test_rep_reply_carries_back_the_backtrace_of_the_request),
        tu_test(test_raw_rep_sees_pipe_key_then_request_id_as_sp_hdr),
        tu_test(test_req_recv_without_outstanding_request_fails_with_efsm),
        tu_test(test_rep_send_without_pending_request_fails_with_efsm),
        tu_test(test_rep_new_recv_abandons_the_pending_request),
        tu_test(test_new_request_cancels_the_outstanding_one),
        tu_test(test_req_resends_the_same_request_after_the_resend_interval),
        tu_test(test_req_resends_immediately_when_its_pipe_goes_away),
        tu_test(test_req_sending_twice_before_any_peer_delivers_only_the_second),
        tu_test(test_rep_drops_reply_to_a_gone_requester_without_error),
        tu_test(test_req_recv_timeout_keeps_the_request_outstanding),
        tu_test(test_req_resends_to_a_rep_that_comes_back_after_a_crash),
        tu_test(test_req_prefers_the_highest_priority_rep_and_fails_over),
        tu_test(test_rep_drops_malformed_requests_and_keeps_the_connection),
        tu_test(test_req_drops_malformed_and_foreign_replies),
        tu_test(test_raw_rep_reply_to_an_unknown_pipe_is_dropped_silently),
        tu_test(test_rep_drops_requests_with_more_hops_than_maxttl),
        tu_test(test_maxttl_accepts_one_to_255),
        tu_test(test_raw_req_exposes_first_reply_tag_as_sp_hdr),
#ifndef AGAINST_LIBNANOMSG
        tu_test(test_negative_resend_interval_fails_with_einval),
        tu_test(test_sp_hdr_on_cooked_req_or_rep_fails_with_einval),
#endif
        tu_test(test_req_sndfd_is_always_readable_and_rcvfd_only_when_reply_is_there),
        tu_test(test_rep_sndfd_is_readable_only_while_a_request_is_pending),
        tu_test(test_raw_rep_serves_requests_from_four_threads_concurrently),
        tu_test(test_hundred_req_clients_all_get_their_own_replies),
        tu_test(test_raw_req_rep_device_routes_replies_back_to_each_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
