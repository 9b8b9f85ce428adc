/* nn_close while other threads are blocked in the socket: they wake with
   EBADF; closing does not hang on a peer that never reads (NN_LINGER itself
   is pinned by transport-linger).
   (nn_close also waits until those threads have released the socket, but
   that is not observable without a race: the release happens inside the
   woken call just before it returns, so these tests only require the call
   to return promptly after nn_close.) */
#include <errno.h>
#include <setjmp.h>
#include <stdatomic.h>
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

/* Closes s while blk is parked in a call on it and checks both sides. */
static void close_and_check_woken(int s, tu_thread *t, struct tu_blocked *blk)
{
    assert_int_equal(nn_close(s), 0);
    assert_true(tu_wait_until(tu_blocked_is_done, blk, TU_DEADLINE_MS));
    tu_thread_join(t);
    assert_int_equal(blk->rc, -1);
    assert_int_equal(blk->err, EBADF);
}

static void test_close_wakes_blocked_recv_with_ebadf(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 30000);
    tu_thread t;
    struct tu_blocked blk;
    assert_true(tu_blocked_start(&t, &blk, s, -1, TU_OP_RECV));
    close_and_check_woken(s, &t, &blk);
}

static void test_close_wakes_blocked_recv_without_timeout_with_ebadf(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PULL);
    tu_thread t;
    struct tu_blocked blk;
    assert_true(tu_blocked_start(&t, &blk, s, -1, TU_OP_RECV));
    close_and_check_woken(s, &t, &blk);
}

static void test_close_wakes_blocked_send_with_ebadf(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PUSH);
    tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, 30000);
    tu_thread t;
    struct tu_blocked blk;
    assert_true(tu_blocked_start(&t, &blk, s, -1, TU_OP_SEND));
    close_and_check_woken(s, &t, &blk);
}

static void test_close_wakes_send_blocked_on_full_peer_with_ebadf(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP, NN_PULL);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 100);
    assert_nn_ok(nn_bind(pull, addr));
    assert_nn_ok(nn_connect(push, addr));
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    /* Fill the connection until a send would block. */
    int n = 0;
    while (n < 1000 && nn_send(push, "0123456789", 10, NN_DONTWAIT) == 10)
        n++;
    assert_true(n > 0 && n < 1000);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, 30000);
    tu_thread t;
    struct tu_blocked blk;
    assert_true(tu_blocked_start(&t, &blk, push, -1, TU_OP_SEND));
    close_and_check_woken(push, &t, &blk);
}

static void test_close_wakes_several_blocked_receivers(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PULL);
    tu_thread t[3];
    struct tu_blocked blk[3];
    for (int i = 0; i < 3; i++)
        assert_true(tu_blocked_start(&t[i], &blk[i], s, -1, TU_OP_RECV));
    assert_int_equal(nn_close(s), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(tu_wait_until(tu_blocked_is_done, &blk[i], TU_DEADLINE_MS));
        tu_thread_join(&t[i]);
        assert_int_equal(blk[i].rc, -1);
        assert_int_equal(blk[i].err, EBADF);
    }
}

static void test_close_of_one_socket_leaves_blocked_call_on_another(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    int other = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(b, NN_SOL_SOCKET, NN_RCVTIMEO, 30000);
    tu_thread t;
    struct tu_blocked blk;
    assert_true(tu_blocked_start(&t, &blk, b, -1, TU_OP_RECV));
    assert_int_equal(nn_close(other), 0);
    assert_false(tu_blocked_is_done(&blk));
    /* It still works normally. */
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_send(a, "alive");
    assert_true(tu_wait_until(tu_blocked_is_done, &blk, TU_DEADLINE_MS));
    tu_thread_join(&t);
    assert_int_equal(blk.rc, 5);
    assert_memory_equal(blk.buf, "alive", 5);
}

static void test_close_with_messages_queued_for_a_peer_that_never_reads_returns(void **state)
{
    (void) state;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP, NN_PULL);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 1024);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDBUF, 1024);
    assert_nn_ok(nn_bind(pull, url));
    assert_nn_ok(nn_connect(push, url));
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    /* Back the connection up: the receiver never reads. */
    static char big[65536];
    assert_int_equal(nn_send(push, big, sizeof big, 0), (int) sizeof big);
    int n = 0;
    while (n < 100 && nn_send(push, big, sizeof big, NN_DONTWAIT) >= 0)
        n++;
    uint64_t t0 = tu_now_ms();
    assert_int_equal(nn_close(push), 0);
    assert_true(tu_now_ms() - t0 < 5000);
}

static void test_send_and_recv_on_closed_id_fail_with_ebadf(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    assert_int_equal(nn_close(b), 0);
    char buf[4];
    assert_nn_fail(nn_send(b, "x", 1, 0), EBADF);
    assert_nn_fail(nn_recv(b, buf, sizeof buf, 0), EBADF);
    /* The peer sees no error, only that nobody receives. */
    assert_nn_fail(nn_send(a, "x", 1, NN_DONTWAIT), EAGAIN);
}

/* A thread's first call into the library races with nn_close of the same
   socket from another thread: the call either runs on the socket whole or
   fails with EBADF, never on a socket being freed (ASan and valgrind would
   see that), and nn_close returns 0. A fresh thread each round, so that the
   call is its very first (nanosp: the thread's record of the socket it is
   in is made then, the case a close from a lone thread skips a barrier
   for). */
#define FIRST_CALL_ROUNDS 300

struct first_call {
    int s;
    atomic_int started;
    int last_rc;
    int last_err;
};

static void first_call_thread(void *arg)
{
    struct first_call *fc = arg;
    atomic_store(&fc->started, 1);
    for (;;) {
        int rc = nn_send(fc->s, "x", 1, NN_DONTWAIT);
        if (rc < 0 && nn_errno() != EAGAIN) {
            fc->last_rc = rc;
            fc->last_err = nn_errno();
            return;
        }
    }
}

static void test_first_call_of_a_new_thread_racing_close_runs_whole_or_fails_with_ebadf(void **state)
{
    (void) state;
    for (int round = 0; round < FIRST_CALL_ROUNDS; round++) {
        static struct first_call fc; /* static: outlives a failed test's frame */
        fc.s = tu_socket(AF_SP, NN_PAIR);
        atomic_store(&fc.started, 0);
        fc.last_rc = 0;
        fc.last_err = 0;
        tu_thread t;
        tu_thread_start(&t, first_call_thread, &fc);
        /* Every other round closes at once (racing the thread's start),
           the rest once the thread runs (racing its calls). */
        if (round % 2)
            while (!atomic_load(&fc.started))
                ;
        assert_int_equal(nn_close(fc.s), 0);
        tu_thread_join(&t);
        assert_int_equal(fc.last_rc, -1);
        assert_int_equal(fc.last_err, EBADF);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_close_wakes_blocked_recv_with_ebadf),
        tu_test(test_close_wakes_blocked_recv_without_timeout_with_ebadf),
        tu_test(test_close_wakes_blocked_send_with_ebadf),
        tu_test(test_close_wakes_send_blocked_on_full_peer_with_ebadf),
        tu_test(test_close_wakes_several_blocked_receivers),
        tu_test(test_close_of_one_socket_leaves_blocked_call_on_another),
        tu_test(test_close_with_messages_queued_for_a_peer_that_never_reads_returns),
        tu_test(test_send_and_recv_on_closed_id_fail_with_ebadf),
        tu_test(test_first_call_of_a_new_thread_racing_close_runs_whole_or_fails_with_ebadf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
