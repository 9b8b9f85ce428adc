/* Public-API behaviour that needs the protocols other than PAIR and
   PUSH/PULL (PUB/SUB, REQ/REP, SURVEYOR/RESPONDENT, BUS) and the ws
   transport: direction errors, readiness fds, protocol options, EFSM, raw
   SP headers. Not built until those protocols exist (see meson.build). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/ws.h>

#include "testutil.h"

static const int all_protocols[] = {NN_PAIR, NN_PUB, NN_SUB, NN_REQ, NN_REP,
                                    NN_PUSH, NN_PULL, NN_SURVEYOR, NN_RESPONDENT,
                                    NN_BUS};

static void test_every_protocol_can_be_opened_cooked_and_raw(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof all_protocols / sizeof all_protocols[0]; i++) {
        int s = tu_socket_default(AF_SP, all_protocols[i]);
        int r = tu_socket_default(AF_SP_RAW, all_protocols[i]);
        assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_PROTOCOL), all_protocols[i]);
        assert_int_equal(tu_getint(r, NN_SOL_SOCKET, NN_PROTOCOL), all_protocols[i]);
        assert_int_equal(tu_getint(r, NN_SOL_SOCKET, NN_DOMAIN), AF_SP_RAW);
        assert_int_equal(nn_close(s), 0);
        assert_int_equal(nn_close(r), 0);
    }
    /* The pre-backtrace survey numbers 96/97 are not socket types. */
    assert_nn_fail(nn_socket(AF_SP, 96), EINVAL);
    assert_nn_fail(nn_socket(AF_SP, 97), EINVAL);
}

static void test_recv_on_pub_and_send_on_sub_fail_with_enotsup(void **state)
{
    (void) state;
    int pub = tu_socket_default(AF_SP, NN_PUB);
    int sub = tu_socket_default(AF_SP, NN_SUB);
    char buf[4];
    assert_nn_fail(nn_recv(pub, buf, sizeof buf, 0), ENOTSUP);
    assert_nn_fail(nn_send(sub, "x", 1, 0), ENOTSUP);
}

static void test_rcvfd_on_pub_and_sndfd_on_sub_fail_with_enoprotoopt(void **state)
{
    (void) state;
    int pub = tu_socket_default(AF_SP, NN_PUB);
    int sub = tu_socket_default(AF_SP, NN_SUB);
    int fd;
    size_t sz = sizeof fd;
    assert_nn_fail(nn_getsockopt(pub, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz), ENOPROTOOPT);
    sz = sizeof fd;
    assert_nn_fail(nn_getsockopt(sub, NN_SOL_SOCKET, NN_SNDFD, &fd, &sz), ENOPROTOOPT);
}

static void test_poll_on_pub_fails_for_pollin_and_reports_pollout(void **state)
{
    (void) state;
    int pub = tu_socket_default(AF_SP, NN_PUB);
    struct nn_pollfd pfd = {pub, NN_POLLIN, 0x55};
    assert_nn_fail(nn_poll(&pfd, 1, 0), ENOPROTOOPT);
    assert_int_equal(pfd.revents, 0x55);
    pfd.events = NN_POLLOUT;
    assert_int_equal(nn_poll(&pfd, 1, 0), 1);
    assert_int_equal(pfd.revents, NN_POLLOUT);
}

static void test_fan_out_sockets_send_without_peers(void **state)
{
    (void) state;
    int pub = tu_socket_default(AF_SP, NN_PUB);
    int bus = tu_socket_default(AF_SP, NN_BUS);
    int req = tu_socket_default(AF_SP, NN_REQ);
    int surveyor = tu_socket_default(AF_SP, NN_SURVEYOR);
    assert_int_equal(nn_send(pub, "x", 1, NN_DONTWAIT), 1);
    assert_int_equal(nn_send(bus, "x", 1, NN_DONTWAIT), 1);
    assert_int_equal(nn_send(req, "x", 1, NN_DONTWAIT), 1);
    assert_int_equal(nn_send(surveyor, "x", 1, NN_DONTWAIT), 1);
}

static void test_recv_before_request_or_send_before_reply_fail_with_efsm(void **state)
{
    (void) state;
    int req = tu_socket_default(AF_SP, NN_REQ);
    int rep = tu_socket_default(AF_SP, NN_REP);
    int surveyor = tu_socket_default(AF_SP, NN_SURVEYOR);
    int respondent = tu_socket_default(AF_SP, NN_RESPONDENT);
    char buf[4];
    assert_nn_fail(nn_recv(req, buf, sizeof buf, 0), EFSM);
    assert_nn_fail(nn_send(rep, "x", 1, 0), EFSM);
    assert_nn_fail(nn_recv(surveyor, buf, sizeof buf, 0), EFSM);
    assert_nn_fail(nn_send(respondent, "x", 1, 0), EFSM);
}

static void test_subscribe_option_is_set_only(void **state)
{
    (void) state;
    int sub = tu_socket_default(AF_SP, NN_SUB);
    int raw = tu_socket_default(AF_SP_RAW, NN_SUB);
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0));
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "topic", 5));
    assert_nn_ok(nn_setsockopt(raw, NN_SUB, NN_SUB_SUBSCRIBE, "topic", 5));
    char buf[16];
    size_t sz = sizeof buf;
    assert_nn_fail(nn_getsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, buf, &sz), ENOPROTOOPT);
    /* Subscription options on the wrong socket type. */
    int pub = tu_socket_default(AF_SP, NN_PUB);
    assert_nn_fail(nn_setsockopt(pub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), ENOPROTOOPT);
}

static void test_sub_receives_only_subscribed_prefixes(void **state)
{
    (void) state;
    int pub, sub;
    tu_inproc_pair(NN_PUB, NN_SUB, &pub, &sub);
    tu_setint(sub, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "a", 1));
    /* PUB drops messages while it has no pipe: wait for the connection. */
    tu_wait_stat(pub, NN_STAT_CURRENT_CONNECTIONS, 1);
    tu_send(pub, "bxx");
    tu_send(pub, "axx");
    tu_recv(sub, "axx");
}

static void test_req_resend_interval_defaults_to_60000(void **state)
{
    (void) state;
    int req = tu_socket_default(AF_SP, NN_REQ);
    assert_int_equal(tu_getint(req, NN_REQ, NN_REQ_RESEND_IVL), 60000);
    tu_setint(req, NN_REQ, NN_REQ_RESEND_IVL, 500);
    assert_int_equal(tu_getint(req, NN_REQ, NN_REQ_RESEND_IVL), 500);
    int v;
    size_t sz = 2;
    assert_nn_fail(nn_getsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, &sz), EINVAL);
    char c = 1;
    assert_nn_fail(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &c, 1), EINVAL);
    v = 1;
    assert_nn_fail(nn_setsockopt(req, NN_REQ, 2, &v, sizeof v), ENOPROTOOPT);
}

static void test_surveyor_deadline_defaults_to_1000(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_SURVEYOR);
    assert_int_equal(tu_getint(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE), 1000);
    tu_setint(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, 250);
    assert_int_equal(tu_getint(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE), 250);
}

static void test_protocol_options_of_raw_sockets_fail_with_enoprotoopt(void **state)
{
    (void) state;
    int req = tu_socket_default(AF_SP_RAW, NN_REQ);
    int surveyor = tu_socket_default(AF_SP_RAW, NN_SURVEYOR);
    int v = 100;
    size_t sz = sizeof v;
    assert_nn_fail(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, &sz), ENOPROTOOPT);
    assert_nn_fail(nn_setsockopt(surveyor, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof v),
                   ENOPROTOOPT);
}

static void test_option_level_of_another_protocol_fails_with_enoprotoopt(void **state)
{
    (void) state;
    int sub = tu_socket_default(AF_SP, NN_SUB);
    int rep = tu_socket_default(AF_SP, NN_REP);
    int v = 100;
    size_t sz = sizeof v;
    assert_nn_fail(nn_setsockopt(sub, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(rep, NN_REQ, NN_REQ_RESEND_IVL, &v, &sz), ENOPROTOOPT);
    assert_nn_fail(nn_setsockopt(rep, NN_REP, 1, &v, sizeof v), ENOPROTOOPT);
}

static void test_raw_rep_exposes_backtrace_as_sp_hdr(void **state)
{
    (void) state;
    int req, rep;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    rep = tu_socket_default(AF_SP_RAW, NN_REP);
    req = tu_socket_default(AF_SP, NN_REQ);
    assert_nn_ok(nn_bind(rep, addr));
    assert_nn_ok(nn_connect(req, addr));
    tu_setint(rep, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(req, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_send(req, "ping");
    char body[16];
    void *ctl = NULL;
    struct nn_iovec iov = {body, sizeof body};
    struct nn_msghdr hdr = {&iov, 1, &ctl, NN_MSG};
    assert_int_equal(nn_recvmsg(rep, &hdr, 0), 4);
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&hdr);
    assert_non_null(c);
    assert_int_equal(c->cmsg_level, PROTO_SP);
    assert_int_equal(c->cmsg_type, SP_HDR);
    size_t hdrlen;
    memcpy(&hdrlen, NN_CMSG_DATA(c), sizeof hdrlen);
    /* [pipe key][request id]: the id has the top bit set, the key not. */
    assert_int_equal(hdrlen, 8);
    assert_int_equal(c->cmsg_len, NN_CMSG_SPACE(sizeof(size_t) + 8));
    unsigned char *h = NN_CMSG_DATA(c) + sizeof(size_t);
    assert_int_equal(h[0] & 0x80, 0);
    assert_int_equal(h[4] & 0x80, 0x80);
    /* Sending it back with the same control data answers the request. */
    struct nn_iovec riov = {"pong", 4};
    struct nn_msghdr rhdr = {&riov, 1, &ctl, NN_MSG};
    assert_int_equal(nn_sendmsg(rep, &rhdr, 0), 4);
    tu_recv(req, "pong");
}

static void test_cooked_bus_send_with_sp_hdr_fails_with_einval(void **state)
{
    (void) state;
    int bus = tu_socket_default(AF_SP, NN_BUS);
    size_t ctl[8] = {0};
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) ctl;
    size_t len = 4;
    c->cmsg_len = NN_CMSG_LEN(sizeof len + len);
    c->cmsg_level = PROTO_SP;
    c->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(c), &len, sizeof len);
    struct nn_iovec iov = {"x", 1};
    struct nn_msghdr hdr = {&iov, 1, ctl, NN_CMSG_SPACE(sizeof len + len)};
    assert_nn_fail(nn_sendmsg(bus, &hdr, 0), EINVAL);
}

static void test_ws_message_type_defaults_to_binary_and_accepts_text_or_binary(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(tu_getint(s, NN_WS, NN_WS_MSG_TYPE), NN_WS_MSG_TYPE_BINARY);
    tu_setint(s, NN_WS, NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_TEXT);
    assert_int_equal(tu_getint(s, NN_WS, NN_WS_MSG_TYPE), NN_WS_MSG_TYPE_TEXT);
    int v = 3;
    assert_nn_fail(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof v), EINVAL);
    v = 0;
    assert_nn_fail(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof v), EINVAL);
}

#ifdef SP_TEST_WS
static void test_ws_bind_needs_port_and_nothing_after_it(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    char url[128];
    int port = tu_free_port();
    assert_nn_fail(nn_bind(s, "ws://127.0.0.1"), EINVAL);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/path", port);
    assert_nn_fail(nn_bind(s, url), EINVAL);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    assert_int_equal(nn_bind(s, url), 1);
}
#endif

static void test_req_current_send_priority_follows_endpoint_priority(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int rep = tu_socket_default(AF_SP, NN_REP);
    int req = tu_socket_default(AF_SP, NN_REQ);
    assert_nn_ok(nn_bind(rep, addr));
    tu_setint(req, NN_SOL_SOCKET, NN_SNDPRIO, 2);
    assert_nn_ok(nn_connect(req, addr));
    tu_wait_stat(req, NN_STAT_CURRENT_SND_PRIORITY, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_every_protocol_can_be_opened_cooked_and_raw),
        tu_test(test_recv_on_pub_and_send_on_sub_fail_with_enotsup),
        tu_test(test_rcvfd_on_pub_and_sndfd_on_sub_fail_with_enoprotoopt),
        tu_test(test_poll_on_pub_fails_for_pollin_and_reports_pollout),
        tu_test(test_fan_out_sockets_send_without_peers),
        tu_test(test_recv_before_request_or_send_before_reply_fail_with_efsm),
        tu_test(test_subscribe_option_is_set_only),
        tu_test(test_sub_receives_only_subscribed_prefixes),
        tu_test(test_req_resend_interval_defaults_to_60000),
        tu_test(test_surveyor_deadline_defaults_to_1000),
        tu_test(test_protocol_options_of_raw_sockets_fail_with_enoprotoopt),
        tu_test(test_option_level_of_another_protocol_fails_with_enoprotoopt),
        tu_test(test_raw_rep_exposes_backtrace_as_sp_hdr),
        tu_test(test_cooked_bus_send_with_sp_hdr_fails_with_einval),
        tu_test(test_ws_message_type_defaults_to_binary_and_accepts_text_or_binary),
#ifdef SP_TEST_WS /* the ws:// transport is not built yet */
        tu_test(test_ws_bind_needs_port_and_nothing_after_it),
#endif
        tu_test(test_req_current_send_priority_follows_endpoint_priority),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
