/* nn_poll (SPEC §1.4, §4.17): waits until any of several SP sockets can
   receive (NN_POLLIN) or send (NN_POLLOUT), and reports which, with each
   protocol's own idea of readiness. Asking for a direction a socket does not
   have fails with ENOPROTOOPT; on timeout or error revents are left as they
   were. */
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

#include "testutil.h"

static bool rcvfd_readable_soon(int s)
{
    return tu_fd_readable(tu_fd(s, NN_RCVFD), TU_DEADLINE_MS);
}

static void test_poll_reports_pollin_and_pollout_for_several_sockets(void **state)
{
    (void) state;
    char url1[TU_URL_LEN], url2[TU_URL_LEN], url3[TU_URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int full = tu_socket(AF_SP, NN_PULL);
    int empty = tu_socket(AF_SP, NN_PULL);
    int pair_a = tu_socket(AF_SP, NN_PAIR);
    int pair_b = tu_socket(AF_SP, NN_PAIR);
    int pub = tu_socket(AF_SP, NN_PUB);
    int req = tu_socket(AF_SP, NN_REQ);
    int lonely_push = tu_socket(AF_SP, NN_PUSH);

    tu_bind(full, tu_url(url1, TU_INPROC, "poll-full"));
    tu_connect(push, url1);
    tu_bind(pair_a, tu_url(url2, TU_TCP, "poll-pair"));
    tu_connect(pair_b, url2);
    tu_bind(empty, tu_url(url3, TU_IPC, "poll-empty"));
    tu_wait_connections(pair_a, 1);
    tu_send(push, "for-full");
    tu_send(pair_b, "for-pair-a");
    assert_true(rcvfd_readable_soon(full));
    assert_true(rcvfd_readable_soon(pair_a));

    struct nn_pollfd pfd[] = {
        {full, NN_POLLIN, 0x55},
        {empty, NN_POLLIN, 0x55},
        {push, NN_POLLOUT, 0x55},
        {pair_a, NN_POLLIN | NN_POLLOUT, 0x55},
        {pub, NN_POLLOUT, 0x55},
        {req, NN_POLLIN | NN_POLLOUT, 0x55},      /* no request: only POLLOUT */
        {lonely_push, NN_POLLOUT, 0x55},          /* no peer: cannot send */
        {empty, NN_POLLIN, 0x55},                 /* the same socket twice */
    };
    assert_int_equal(nn_poll(pfd, 8, 0), 5);
    assert_int_equal(pfd[0].revents, NN_POLLIN);
    assert_int_equal(pfd[1].revents, 0);
    assert_int_equal(pfd[2].revents, NN_POLLOUT);
    assert_int_equal(pfd[3].revents, NN_POLLIN | NN_POLLOUT);
    assert_int_equal(pfd[4].revents, NN_POLLOUT);
    assert_int_equal(pfd[5].revents, NN_POLLOUT);
    assert_int_equal(pfd[6].revents, 0);
    assert_int_equal(pfd[7].revents, 0);

    /* Once the messages are read, only the senders are ready. */
    tu_recv(full, "for-full");
    tu_recv(pair_a, "for-pair-a");
    assert_int_equal(nn_poll(pfd, 8, 0), 4);
    assert_int_equal(pfd[0].revents, 0);
    assert_int_equal(pfd[3].revents, NN_POLLOUT);
}

static void test_poll_wakes_when_a_message_arrives(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    static struct tu_blocked b;
    tu_thread th;
    int pull = tu_socket(AF_SP, NN_PULL);
    int push = tu_socket(AF_SP, NN_PUSH);
    tu_bind(pull, tu_url(url, TU_TCP, "poll-wake"));
    tu_connect(push, url);
    tu_wait_connections(push, 1);

    assert_true(tu_blocked_start(&th, &b, pull, -1, TU_OP_POLL));
    uint64_t t0 = tu_now_ms();
    tu_send(push, "wake");
    assert_true(tu_wait_until(tu_blocked_is_done, &b, TU_DEADLINE_MS));
    tu_thread_join(&th);
    assert_true(tu_now_ms() - t0 < TU_DEADLINE_MS);
    assert_int_equal(b.rc, 1);
    assert_int_equal(b.pfd.revents, NN_POLLIN);
    tu_recv(pull, "wake");
}

/* A REQ becomes readable only when its reply is there, a REP becomes
   writable only once it has taken a request. */
static void test_poll_follows_the_req_rep_state_machine(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int rep = tu_socket(AF_SP, NN_REP);
    int req = tu_socket(AF_SP, NN_REQ);
    tu_bind(rep, tu_url(url, TU_INPROC, "poll-reqrep"));
    tu_connect(req, url);

    struct nn_pollfd pfd[2] = {{req, NN_POLLIN | NN_POLLOUT, 0}, {rep, NN_POLLIN | NN_POLLOUT, 0}};
    assert_int_equal(nn_poll(pfd, 2, 0), 1);
    assert_int_equal(pfd[0].revents, NN_POLLOUT);
    assert_int_equal(pfd[1].revents, 0);

    tu_send(req, "q");
    assert_true(rcvfd_readable_soon(rep));
    assert_int_equal(nn_poll(pfd, 2, 0), 2);
    assert_int_equal(pfd[0].revents, NN_POLLOUT);
    assert_int_equal(pfd[1].revents, NN_POLLIN);

    tu_recv(rep, "q");
    assert_int_equal(nn_poll(pfd, 2, 0), 2);
    assert_int_equal(pfd[1].revents, NN_POLLOUT);

    tu_send(rep, "a");
    assert_true(rcvfd_readable_soon(req));
    assert_int_equal(nn_poll(pfd, 2, 0), 1);
    assert_int_equal(pfd[0].revents, NN_POLLIN | NN_POLLOUT);
    assert_int_equal(pfd[1].revents, 0);
}

/* PUB, BUS, SURVEYOR and REQ can always send, peer or no peer. */
static void test_fan_out_sockets_and_req_are_always_writable(void **state)
{
    (void) state;
    struct nn_pollfd pfd[] = {
        {tu_socket(AF_SP, NN_PUB), NN_POLLOUT, 0},
        {tu_socket(AF_SP, NN_BUS), NN_POLLOUT, 0},
        {tu_socket(AF_SP, NN_SURVEYOR), NN_POLLOUT, 0},
        {tu_socket(AF_SP, NN_REQ), NN_POLLOUT, 0},
        {tu_socket(AF_SP_RAW, NN_PUB), NN_POLLOUT, 0},
        {tu_socket(AF_SP_RAW, NN_BUS), NN_POLLOUT, 0},
    };
    const int n = (int) (sizeof pfd / sizeof pfd[0]);
    assert_int_equal(nn_poll(pfd, n, 0), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(pfd[i].revents, NN_POLLOUT);
    /* Still after sending. */
    for (int i = 0; i < n; i++)
        assert_int_equal(nn_send(pfd[i].fd, "x", 1, NN_DONTWAIT), 1);
    assert_int_equal(nn_poll(pfd, n, 0), n);
}

static void test_poll_for_a_direction_the_socket_lacks_fails_with_enoprotoopt(void **state)
{
    (void) state;
    int pub = tu_socket(AF_SP, NN_PUB);
    int sub = tu_socket(AF_SP, NN_SUB);
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);
    int pair = tu_socket(AF_SP, NN_PAIR);
    struct nn_pollfd pfd[2];

    pfd[0] = (struct nn_pollfd){pub, NN_POLLIN, 0x55};
    assert_nn_fail(nn_poll(pfd, 1, 0), ENOPROTOOPT);
    assert_int_equal(pfd[0].revents, 0x55);
    pfd[0] = (struct nn_pollfd){push, NN_POLLIN, 0x55};
    assert_nn_fail(nn_poll(pfd, 1, 0), ENOPROTOOPT);
    pfd[0] = (struct nn_pollfd){sub, NN_POLLOUT, 0x55};
    assert_nn_fail(nn_poll(pfd, 1, 0), ENOPROTOOPT);
    pfd[0] = (struct nn_pollfd){pull, NN_POLLOUT, 0x55};
    assert_nn_fail(nn_poll(pfd, 1, 0), ENOPROTOOPT);
    assert_int_equal(pfd[0].revents, 0x55);

    /* One bad entry fails the whole call; the good one is untouched too. */
    pfd[0] = (struct nn_pollfd){pair, NN_POLLOUT, 0x55};
    pfd[1] = (struct nn_pollfd){pub, NN_POLLIN | NN_POLLOUT, 0x55};
    assert_nn_fail(nn_poll(pfd, 2, 0), ENOPROTOOPT);
    assert_int_equal(pfd[0].revents, 0x55);
    assert_int_equal(pfd[1].revents, 0x55);

    /* The direction it has works. */
    pfd[0] = (struct nn_pollfd){pub, NN_POLLOUT, 0};
    assert_int_equal(nn_poll(pfd, 1, 0), 1);
    assert_int_equal(pfd[0].revents, NN_POLLOUT);
}

static void test_poll_on_a_closed_socket_fails_with_ebadf(void **state)
{
    (void) state;
    int s = tu_socket(AF_SP, NN_PAIR);
    tu_close(s);
    struct nn_pollfd pfd = {s, NN_POLLIN, 0x55};
    assert_nn_fail(nn_poll(&pfd, 1, 0), EBADF);
    assert_int_equal(pfd.revents, 0x55);
    pfd.fd = NN_MAX_SOCKETS + 5;
    assert_nn_fail(nn_poll(&pfd, 1, 0), EBADF);
}

/* Nothing ready: 0 after about the timeout, revents as they were. */
static void test_poll_timeout_leaves_revents_untouched(void **state)
{
    (void) state;
    int pull = tu_socket(AF_SP, NN_PULL);
    int sub = tu_socket(AF_SP, NN_SUB);
    struct nn_pollfd pfd[2] = {{pull, NN_POLLIN, 0x55}, {sub, NN_POLLIN, 0x33}};
    uint64_t t0 = tu_now_ms();
    assert_int_equal(nn_poll(pfd, 2, 100), 0);
    uint64_t elapsed = tu_now_ms() - t0;
    assert_true(elapsed >= 90);
    assert_true(elapsed < TU_DEADLINE_MS);
    assert_int_equal(pfd[0].revents, 0x55);
    assert_int_equal(pfd[1].revents, 0x33);
    assert_int_equal(nn_poll(pfd, 2, 0), 0);
    assert_int_equal(pfd[0].revents, 0x55);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_poll_reports_pollin_and_pollout_for_several_sockets),
        tu_test(test_poll_wakes_when_a_message_arrives),
        tu_test(test_poll_follows_the_req_rep_state_machine),
        tu_test(test_fan_out_sockets_and_req_are_always_writable),
        tu_test(test_poll_for_a_direction_the_socket_lacks_fails_with_enoprotoopt),
        tu_test(test_poll_on_a_closed_socket_fails_with_ebadf),
        tu_test(test_poll_timeout_leaves_revents_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
