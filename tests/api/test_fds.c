/* NN_SNDFD / NN_RCVFD readiness descriptors (level-triggered, for poll()
   only) and nn_poll. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include "testutil.h"

static bool fd_readable_now(void *arg)
{
    return tu_fd_readable(*(int *) arg, 0);
}

static void wait_readable(int fd)
{
    assert_true(tu_wait_until(fd_readable_now, &fd, TU_DEADLINE_MS));
}

static void test_rcvfd_is_readable_exactly_while_a_message_waits(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    int rcvfd = tu_fd(b, NN_RCVFD);
    assert_false(tu_fd_readable(rcvfd, 0));
    tu_send(a, "wake");
    wait_readable(rcvfd);
    /* Level-triggered: polling again without receiving still reports it. */
    assert_true(tu_fd_readable(rcvfd, 0));
    assert_true(tu_fd_readable(rcvfd, 0));
    char buf[8];
    assert_int_equal(nn_recv(b, buf, sizeof buf, NN_DONTWAIT), 4);
    assert_false(tu_fd_readable(rcvfd, 0));
}

static void test_rcvfd_stays_readable_until_last_queued_message_is_received(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    int rcvfd = tu_fd(b, NN_RCVFD);
    tu_send(a, "one");
    tu_send(a, "two");
    wait_readable(rcvfd);
    tu_recv(b, "one");
    wait_readable(rcvfd);
    tu_recv(b, "two");
    assert_false(tu_fd_readable(rcvfd, 0));
}

static void test_sndfd_is_readable_while_send_would_not_block(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int a = tu_socket_default(AF_SP, NN_PAIR);
    int sndfd = tu_fd(a, NN_SNDFD);
    /* No peer: a send would block. */
    assert_false(tu_fd_readable(sndfd, 0));
    int b = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_bind(a, addr));
    assert_nn_ok(nn_connect(b, addr));
    wait_readable(sndfd);
    assert_true(tu_fd_readable(sndfd, 0));
    assert_int_equal(nn_send(a, "x", 1, NN_DONTWAIT), 1);
}

static void test_sndfd_clears_when_peer_queue_is_full(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP, NN_PULL);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    assert_nn_ok(nn_bind(pull, addr));
    assert_nn_ok(nn_connect(push, addr));
    int sndfd = tu_fd(push, NN_SNDFD);
    wait_readable(sndfd);
    int sent = 0;
    while (sent < 1000 && nn_send(push, "0123456789", 10, NN_DONTWAIT) == 10)
        sent++;
    assert_int_equal(nn_errno(), EAGAIN);
    assert_true(sent < 1000);
    assert_false(tu_fd_readable(sndfd, 0));
    char buf[16];
    assert_int_equal(nn_recv(pull, buf, sizeof buf, 0), 10);
    wait_readable(sndfd);
}

static void test_fds_are_stable_per_socket_and_distinct(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    int snd = tu_fd(s, NN_SNDFD), rcv = tu_fd(s, NN_RCVFD);
    assert_int_equal(tu_fd(s, NN_SNDFD), snd);
    assert_int_equal(tu_fd(s, NN_RCVFD), rcv);
    assert_int_not_equal(snd, rcv);
    assert_int_not_equal(tu_fd(t, NN_SNDFD), snd);
    assert_int_not_equal(tu_fd(t, NN_RCVFD), rcv);
}

static void test_rcvfd_on_push_and_sndfd_on_pull_fail_with_enoprotoopt(void **state)
{
    (void) state;
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP, NN_PULL);
    int fd;
    size_t sz = sizeof fd;
    assert_nn_fail(nn_getsockopt(push, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz), ENOPROTOOPT);
    sz = sizeof fd;
    assert_nn_fail(nn_getsockopt(pull, NN_SOL_SOCKET, NN_SNDFD, &fd, &sz), ENOPROTOOPT);
    tu_fd(push, NN_SNDFD);
    tu_fd(pull, NN_RCVFD);
}

static void test_fd_option_truncates_like_int_options(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int fd = tu_fd(s, NN_RCVFD);
    unsigned char buf[8];
    memset(buf, 0xee, sizeof buf);
    size_t sz = 2;
    assert_nn_ok(nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, buf, &sz));
    assert_int_equal(sz, sizeof(int));
    assert_memory_equal(buf, &fd, 2);
    assert_int_equal(buf[2], 0xee);
}

static void test_close_wakes_thread_polling_rcvfd(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PULL);
    struct tu_blocked p;
    tu_thread t;
    assert_true(tu_blocked_start(&t, &p, tu_fd(s, NN_RCVFD), -1, TU_OP_POLL_FD));
    assert_int_equal(nn_close(s), 0);
    assert_true(tu_wait_until(tu_blocked_is_done, &p, TU_DEADLINE_MS));
    tu_thread_join(&t);
    assert_int_equal(p.rc, 1);
}

static void test_poll_reports_pollin_for_waiting_message(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    struct nn_pollfd pfd = {b, NN_POLLIN, 0x55};
    assert_int_equal(nn_poll(&pfd, 1, 0), 0);
    tu_send(a, "poll me");
    assert_int_equal(nn_poll(&pfd, 1, TU_DEADLINE_MS), 1);
    assert_int_equal(pfd.revents, NN_POLLIN);
    /* Still there until received. */
    pfd.revents = 0;
    assert_int_equal(nn_poll(&pfd, 1, 0), 1);
    assert_int_equal(pfd.revents, NN_POLLIN);
    tu_recv(b, "poll me");
    pfd.revents = 0x55;
    assert_int_equal(nn_poll(&pfd, 1, 0), 0);
}

static void test_poll_timeout_leaves_revents_untouched(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PULL);
    struct nn_pollfd pfd = {s, NN_POLLIN, 0x55};
    assert_int_equal(nn_poll(&pfd, 1, 0), 0);
    assert_int_equal(pfd.revents, 0x55);
    uint64_t t0 = tu_now_ms();
    assert_int_equal(nn_poll(&pfd, 1, 150), 0);
    uint64_t dt = tu_now_ms() - t0;
    assert_in_range(dt, 149, 150 + 2000);
    assert_int_equal(pfd.revents, 0x55);
}

static void test_poll_reports_pollout_on_connected_pair(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    struct nn_pollfd pfd = {a, NN_POLLOUT, 0};
    assert_int_equal(nn_poll(&pfd, 1, TU_DEADLINE_MS), 1);
    assert_int_equal(pfd.revents, NN_POLLOUT);
    /* Asking for both: only the ready direction is reported. */
    pfd.events = NN_POLLIN | NN_POLLOUT;
    assert_int_equal(nn_poll(&pfd, 1, TU_DEADLINE_MS), 1);
    assert_int_equal(pfd.revents, NN_POLLOUT);
}

static void test_poll_counts_ready_entries_and_rewrites_every_revents(void **state)
{
    (void) state;
    int a, b, c, d;
    tu_inproc_pair(NN_PUSH, NN_PULL, &a, &b);
    tu_inproc_pair(NN_PUSH, NN_PULL, &c, &d);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_send(a, "first");
    struct nn_pollfd pfds[3] = {
        {b, NN_POLLIN, 0x55}, {d, NN_POLLIN, 0x55}, {c, NN_POLLOUT, 0x55}};
    assert_int_equal(nn_poll(pfds, 3, TU_DEADLINE_MS), 2);
    assert_int_equal(pfds[0].revents, NN_POLLIN);
    assert_int_equal(pfds[1].revents, 0);
    assert_int_equal(pfds[2].revents, NN_POLLOUT);
}

static void test_poll_with_no_entries_returns_zero_after_timeout(void **state)
{
    (void) state;
    assert_int_equal(nn_poll(NULL, 0, 0), 0);
    struct nn_pollfd unused = {0, 0, 0};
    uint64_t t0 = tu_now_ms();
    assert_int_equal(nn_poll(&unused, 0, 50), 0);
    assert_true(tu_now_ms() - t0 >= 49);
}

static void test_poll_of_unsupported_direction_fails_with_enoprotoopt(void **state)
{
    (void) state;
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP, NN_PULL);
    struct nn_pollfd pfd = {push, NN_POLLIN, 0x55};
    assert_nn_fail(nn_poll(&pfd, 1, 0), ENOPROTOOPT);
    assert_int_equal(pfd.revents, 0x55);
    pfd.fd = pull;
    pfd.events = NN_POLLOUT;
    assert_nn_fail(nn_poll(&pfd, 1, 0), ENOPROTOOPT);
}

static void test_poll_of_bad_socket_fails_with_ebadf(void **state)
{
    (void) state;
    struct nn_pollfd pfd = {-1, NN_POLLIN, 0};
    assert_nn_fail(nn_poll(&pfd, 1, 0), EBADF);
    pfd.fd = 7;
    assert_nn_fail(nn_poll(&pfd, 1, 0), EBADF);
}

static void test_blocked_poll_wakes_when_message_arrives(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PUSH, NN_PULL, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    /* Poll on the raw RCVFD in another thread, then send from here. */
    struct tu_blocked p;
    tu_thread t;
    assert_true(tu_blocked_start(&t, &p, tu_fd(b, NN_RCVFD), -1, TU_OP_POLL_FD));
    tu_send(a, "wake up");
    assert_true(tu_wait_until(tu_blocked_is_done, &p, TU_DEADLINE_MS));
    tu_thread_join(&t);
    assert_int_equal(p.rc, 1);
    tu_recv(b, "wake up");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_rcvfd_is_readable_exactly_while_a_message_waits),
        tu_test(test_rcvfd_stays_readable_until_last_queued_message_is_received),
        tu_test(test_sndfd_is_readable_while_send_would_not_block),
        tu_test(test_sndfd_clears_when_peer_queue_is_full),
        tu_test(test_fds_are_stable_per_socket_and_distinct),
        tu_test(test_rcvfd_on_push_and_sndfd_on_pull_fail_with_enoprotoopt),
        tu_test(test_fd_option_truncates_like_int_options),
        tu_test(test_close_wakes_thread_polling_rcvfd),
        tu_test(test_poll_reports_pollin_for_waiting_message),
        tu_test(test_poll_timeout_leaves_revents_untouched),
        tu_test(test_poll_reports_pollout_on_connected_pair),
        tu_test(test_poll_counts_ready_entries_and_rewrites_every_revents),
        tu_test(test_poll_with_no_entries_returns_zero_after_timeout),
        tu_test(test_poll_of_unsupported_direction_fails_with_enoprotoopt),
        tu_test(test_poll_of_bad_socket_fails_with_ebadf),
        tu_test(test_blocked_poll_wakes_when_message_arrives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
