/* nn_poll (SPEC §1.4, §4.17): waits until any of several SP sockets can
   receive (NN_POLLIN) or send (NN_POLLOUT), and reports which, with each
   protocol's own idea of readiness. Asking for a direction a socket does not
   have fails with ENOPROTOOPT; on timeout or error revents are left as they
   were. */
#include "pattest.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

static bool rcvfd_readable_soon(int s)
{
    return pt_fd_readable(pt_fd(s, NN_RCVFD), PT_DEADLINE_MS);
}

static void test_poll_reports_pollin_and_pollout_for_several_sockets(void **state)
{
    (void) state;
    char url1[PT_URL_LEN], url2[PT_URL_LEN], url3[PT_URL_LEN];
    int push = pt_socket(AF_SP, NN_PUSH);
    int full = pt_socket(AF_SP, NN_PULL);
    int empty = pt_socket(AF_SP, NN_PULL);
    int pair_a = pt_socket(AF_SP, NN_PAIR);
    int pair_b = pt_socket(AF_SP, NN_PAIR);
    int pub = pt_socket(AF_SP, NN_PUB);
    int req = pt_socket(AF_SP, NN_REQ);
    int lonely_push = pt_socket(AF_SP, NN_PUSH);

    pt_bind(full, pt_url(url1, PT_INPROC, "poll-full"));
    pt_connect(push, url1);
    pt_bind(pair_a, pt_url(url2, PT_TCP, "poll-pair"));
    pt_connect(pair_b, url2);
    pt_bind(empty, pt_url(url3, PT_IPC, "poll-empty"));
    pt_wait_connections(pair_a, 1);
    pt_send(push, "for-full");
    pt_send(pair_b, "for-pair-a");
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
    pt_recv(full, "for-full");
    pt_recv(pair_a, "for-pair-a");
    assert_int_equal(nn_poll(pfd, 8, 0), 4);
    assert_int_equal(pfd[0].revents, 0);
    assert_int_equal(pfd[3].revents, NN_POLLOUT);
}

static void test_poll_wakes_when_a_message_arrives(void **state)
{
    (void) state;
    char url[PT_URL_LEN];
    static struct pt_blocked b;
    tu_thread th;
    int pull = pt_socket(AF_SP, NN_PULL);
    int push = pt_socket(AF_SP, NN_PUSH);
    pt_bind(pull, pt_url(url, PT_TCP, "poll-wake"));
    pt_connect(push, url);
    pt_wait_connections(push, 1);

    assert_true(pt_blocked_start(&th, &b, pull, -1, PT_OP_POLL));
    uint64_t t0 = tu_now_ms();
    pt_send(push, "wake");
    assert_true(tu_wait_until(pt_blocked_is_done, &b, PT_DEADLINE_MS));
    tu_thread_join(&th);
    assert_true(tu_now_ms() - t0 < PT_DEADLINE_MS);
    assert_int_equal(b.rc, 1);
    assert_int_equal(b.pfd.revents, NN_POLLIN);
    pt_recv(pull, "wake");
}

/* A REQ becomes readable only when its reply is there, a REP becomes
   writable only once it has taken a request. */
static void test_poll_follows_the_req_rep_state_machine(void **state)
{
    (void) state;
    char url[PT_URL_LEN];
    int rep = pt_socket(AF_SP, NN_REP);
    int req = pt_socket(AF_SP, NN_REQ);
    pt_bind(rep, pt_url(url, PT_INPROC, "poll-reqrep"));
    pt_connect(req, url);

    struct nn_pollfd pfd[2] = {{req, NN_POLLIN | NN_POLLOUT, 0}, {rep, NN_POLLIN | NN_POLLOUT, 0}};
    assert_int_equal(nn_poll(pfd, 2, 0), 1);
    assert_int_equal(pfd[0].revents, NN_POLLOUT);
    assert_int_equal(pfd[1].revents, 0);

    pt_send(req, "q");
    assert_true(rcvfd_readable_soon(rep));
    assert_int_equal(nn_poll(pfd, 2, 0), 2);
    assert_int_equal(pfd[0].revents, NN_POLLOUT);
    assert_int_equal(pfd[1].revents, NN_POLLIN);

    pt_recv(rep, "q");
    assert_int_equal(nn_poll(pfd, 2, 0), 2);
    assert_int_equal(pfd[1].revents, NN_POLLOUT);

    pt_send(rep, "a");
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
        {pt_socket(AF_SP, NN_PUB), NN_POLLOUT, 0},
        {pt_socket(AF_SP, NN_BUS), NN_POLLOUT, 0},
        {pt_socket(AF_SP, NN_SURVEYOR), NN_POLLOUT, 0},
        {pt_socket(AF_SP, NN_REQ), NN_POLLOUT, 0},
        {pt_socket(AF_SP_RAW, NN_PUB), NN_POLLOUT, 0},
        {pt_socket(AF_SP_RAW, NN_BUS), NN_POLLOUT, 0},
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
    int pub = pt_socket(AF_SP, NN_PUB);
    int sub = pt_socket(AF_SP, NN_SUB);
    int push = pt_socket(AF_SP, NN_PUSH);
    int pull = pt_socket(AF_SP, NN_PULL);
    int pair = pt_socket(AF_SP, NN_PAIR);
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
    int s = pt_socket(AF_SP, NN_PAIR);
    pt_close(s);
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
    int pull = pt_socket(AF_SP, NN_PULL);
    int sub = pt_socket(AF_SP, NN_SUB);
    struct nn_pollfd pfd[2] = {{pull, NN_POLLIN, 0x55}, {sub, NN_POLLIN, 0x33}};
    uint64_t t0 = tu_now_ms();
    assert_int_equal(nn_poll(pfd, 2, 100), 0);
    uint64_t elapsed = tu_now_ms() - t0;
    assert_true(elapsed >= 90);
    assert_true(elapsed < PT_DEADLINE_MS);
    assert_int_equal(pfd[0].revents, 0x55);
    assert_int_equal(pfd[1].revents, 0x33);
    assert_int_equal(nn_poll(pfd, 2, 0), 0);
    assert_int_equal(pfd[0].revents, 0x55);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        pt_test(test_poll_reports_pollin_and_pollout_for_several_sockets),
        pt_test(test_poll_wakes_when_a_message_arrives),
        pt_test(test_poll_follows_the_req_rep_state_machine),
        pt_test(test_fan_out_sockets_and_req_are_always_writable),
        pt_test(test_poll_for_a_direction_the_socket_lacks_fails_with_enoprotoopt),
        pt_test(test_poll_on_a_closed_socket_fails_with_ebadf),
        pt_test(test_poll_timeout_leaves_revents_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
