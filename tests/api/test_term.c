/* nn_term: wakes every blocked call with EBADF and is permanent: nn_socket fails with ETERM from then on and old ids
   give EBADF. Because it cannot be undone, each test runs its scenario in a
   forked child (the parent never touches the library) and checks its exit. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include "testutil.h"

/* Inside the child (TU_CHILD_CHECK for conditions): expr must fail with err.
   cmocka's own asserts must not be used there: they would unwind into the
   child's copy of the test runner. */
#define CHILD_FAILS_WITH(expr, err) \
    do { \
        errno = 0; \
        int rc_ = (int) (expr); \
        int e_ = errno; \
        if (rc_ != -1 || e_ != (err)) { \
            fprintf(stderr, "%s:%d: %s: rc=%d errno=%d (%s), want -1 errno=%d (%s)\n", \
                    __FILE__, __LINE__, #expr, rc_, e_, nn_strerror(e_), (err), \
                    nn_strerror(err)); \
            fflush(stderr); \
            _exit(1); \
        } \
    } while (0)

/* Starts a blocking call in a thread of the child and waits until it is
   parked in the library. */
static void child_block(tu_thread *t, struct tu_blocked *b, int s, enum tu_op op)
{
    TU_CHILD_CHECK(tu_blocked_start(t, b, s, -1, op));
}

static void term_wakes_blocked_recv(void)
{
    int s = nn_socket(AF_SP, NN_PULL);
    TU_CHILD_CHECK(s >= 0);
    tu_thread t;
    struct tu_blocked b;
    child_block(&t, &b, s, TU_OP_RECV);
    nn_term();
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &b, TU_DEADLINE_MS));
    tu_thread_join(&t);
    TU_CHILD_CHECK(b.rc == -1);
    TU_CHILD_CHECK(b.err == EBADF);
}

static void test_term_wakes_blocked_recv_with_ebadf(void **state)
{
    (void) state;
    tu_run_in_child(term_wakes_blocked_recv);
}

/* A PAIR recv over tcp waits in a read of its connection: nn_term must end
   that read too. */
static void term_wakes_recv_reading_its_connection(void)
{
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int a = nn_socket(AF_SP, NN_PAIR);
    int b = nn_socket(AF_SP, NN_PAIR);
    TU_CHILD_CHECK(a >= 0 && b >= 0);
    TU_CHILD_CHECK(nn_bind(a, url) >= 0);
    TU_CHILD_CHECK(nn_connect(b, url) >= 0);
    char buf[8];
    TU_CHILD_CHECK(nn_send(b, "hi", 2, 0) == 2);
    TU_CHILD_CHECK(nn_recv(a, buf, sizeof buf, 0) == 2);
    tu_thread t;
    struct tu_blocked blk;
    child_block(&t, &blk, a, TU_OP_RECV);
    nn_term();
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &blk, TU_DEADLINE_MS));
    tu_thread_join(&t);
    TU_CHILD_CHECK(blk.rc == -1);
    TU_CHILD_CHECK(blk.err == EBADF);
}

static void test_term_wakes_recv_reading_its_tcp_connection(void **state)
{
    (void) state;
    tu_run_in_child(term_wakes_recv_reading_its_connection);
}

static void term_wakes_blocked_send(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    TU_CHILD_CHECK(s >= 0);
    int timeout = 30000;
    TU_CHILD_CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout, sizeof timeout) == 0);
    tu_thread t;
    struct tu_blocked b;
    child_block(&t, &b, s, TU_OP_SEND);
    nn_term();
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &b, TU_DEADLINE_MS));
    tu_thread_join(&t);
    TU_CHILD_CHECK(b.rc == -1);
    TU_CHILD_CHECK(b.err == EBADF);
}

static void test_term_wakes_blocked_send_with_ebadf(void **state)
{
    (void) state;
    tu_run_in_child(term_wakes_blocked_send);
}

static void term_wakes_calls_on_several_sockets(void)
{
    int a = nn_socket(AF_SP, NN_PULL);
    int b = nn_socket(AF_SP, NN_PAIR);
    int c = nn_socket(AF_SP, NN_PUSH);
    TU_CHILD_CHECK(a >= 0 && b >= 0 && c >= 0);
    tu_thread t[3];
    struct tu_blocked blk[3];
    child_block(&t[0], &blk[0], a, TU_OP_RECV);
    child_block(&t[1], &blk[1], b, TU_OP_RECV);
    child_block(&t[2], &blk[2], c, TU_OP_SEND);
    nn_term();
    for (int i = 0; i < 3; i++) {
        TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &blk[i], TU_DEADLINE_MS));
        tu_thread_join(&t[i]);
        TU_CHILD_CHECK(blk[i].rc == -1 && blk[i].err == EBADF);
    }
}

static void test_term_wakes_blocked_calls_on_every_socket(void **state)
{
    (void) state;
    tu_run_in_child(term_wakes_calls_on_several_sockets);
}

static void term_wakes_rcvfd_poller(void)
{
    int s = nn_socket(AF_SP, NN_PULL);
    TU_CHILD_CHECK(s >= 0);
    int fd = -1;
    size_t sz = sizeof fd;
    TU_CHILD_CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) == 0);
    struct tu_blocked p;
    tu_thread t;
    TU_CHILD_CHECK(tu_blocked_start(&t, &p, fd, -1, TU_OP_POLL_FD));
    nn_term();
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &p, TU_DEADLINE_MS));
    tu_thread_join(&t);
    TU_CHILD_CHECK(p.rc == 1);
}

static void test_term_wakes_thread_polling_rcvfd(void **state)
{
    (void) state;
    tu_run_in_child(term_wakes_rcvfd_poller);
}

static void socket_after_term_fails(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    TU_CHILD_CHECK(s == 0);
    nn_term();
    for (int i = 0; i < 3; i++) {
        CHILD_FAILS_WITH(nn_socket(AF_SP, NN_PAIR), ETERM);
        CHILD_FAILS_WITH(nn_socket(AF_SP_RAW, NN_PUSH), ETERM);
    }
    /* ETERM is checked before the arguments. */
    CHILD_FAILS_WITH(nn_socket(99, 12345), ETERM);
    TU_CHILD_CHECK(strcmp(nn_strerror(ETERM), "Nanomsg library was terminated") == 0);
}

static void test_socket_after_term_fails_with_eterm_repeatedly(void **state)
{
    (void) state;
    tu_run_in_child(socket_after_term_fails);
}

static void socket_after_term_with_no_open_socket_fails(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    TU_CHILD_CHECK(s == 0);
    TU_CHILD_CHECK(nn_close(s) == 0);
    nn_term();
    CHILD_FAILS_WITH(nn_socket(AF_SP, NN_PAIR), ETERM);
}

static void test_term_after_all_sockets_closed_is_still_permanent(void **state)
{
    (void) state;
    tu_run_in_child(socket_after_term_with_no_open_socket_fails);
}

static void old_ids_fail_after_term(void)
{
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int a = nn_socket(AF_SP, NN_PAIR);
    int b = nn_socket(AF_SP, NN_PAIR);
    TU_CHILD_CHECK(a >= 0 && b >= 0);
    TU_CHILD_CHECK(nn_bind(a, addr) == 1);
    TU_CHILD_CHECK(nn_connect(b, addr) == 1);
    nn_term();
    char buf[8];
    int v = 1;
    size_t sz = sizeof v;
    int ids[] = {a, b};
    for (int i = 0; i < 2; i++) {
        int s = ids[i];
        CHILD_FAILS_WITH(nn_send(s, "x", 1, 0), EBADF);
        CHILD_FAILS_WITH(nn_recv(s, buf, sizeof buf, 0), EBADF);
        CHILD_FAILS_WITH(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, sizeof v), EBADF);
        CHILD_FAILS_WITH(nn_getsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, &sz), EBADF);
        CHILD_FAILS_WITH(nn_bind(s, "inproc://after-term"), EBADF);
        CHILD_FAILS_WITH(nn_connect(s, "inproc://after-term"), EBADF);
        CHILD_FAILS_WITH(nn_shutdown(s, 1), EBADF);
        CHILD_FAILS_WITH(nn_close(s), EBADF);
        struct nn_pollfd pfd = {s, NN_POLLIN, 0};
        CHILD_FAILS_WITH(nn_poll(&pfd, 1, 0), EBADF);
        errno = 0;
        TU_CHILD_CHECK(nn_get_statistic(s, NN_STAT_MESSAGES_SENT) == (uint64_t) -1);
        TU_CHILD_CHECK(errno == EBADF);
    }
    CHILD_FAILS_WITH(nn_device(a, b), EBADF);
}

static void test_old_socket_ids_fail_with_ebadf_after_term(void **state)
{
    (void) state;
    tu_run_in_child(old_ids_fail_after_term);
}

static void term_twice_is_harmless(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    TU_CHILD_CHECK(s >= 0);
    nn_term();
    nn_term();
    CHILD_FAILS_WITH(nn_socket(AF_SP, NN_PAIR), ETERM);
    /* Message chunks do not depend on sockets and keep working. */
    void *m = nn_allocmsg(10, 0);
    TU_CHILD_CHECK(m != NULL);
    TU_CHILD_CHECK(nn_freemsg(m) == 0);
}

static void test_second_term_is_harmless(void **state)
{
    (void) state;
    tu_run_in_child(term_twice_is_harmless);
}

static void term_before_first_socket_is_noop(void)
{
    nn_term();
    int s = nn_socket(AF_SP, NN_PAIR);
    TU_CHILD_CHECK(s == 0);
    TU_CHILD_CHECK(nn_close(s) == 0);
}

static void test_term_before_first_socket_is_a_noop(void **state)
{
    (void) state;
    tu_run_in_child(term_before_first_socket_is_noop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_term_wakes_blocked_recv_with_ebadf),
        cmocka_unit_test(test_term_wakes_recv_reading_its_tcp_connection),
        cmocka_unit_test(test_term_wakes_blocked_send_with_ebadf),
        cmocka_unit_test(test_term_wakes_blocked_calls_on_every_socket),
        cmocka_unit_test(test_term_wakes_thread_polling_rcvfd),
        cmocka_unit_test(test_socket_after_term_fails_with_eterm_repeatedly),
        cmocka_unit_test(test_term_after_all_sockets_closed_is_still_permanent),
        cmocka_unit_test(test_old_socket_ids_fail_with_ebadf_after_term),
        cmocka_unit_test(test_second_term_is_harmless),
        cmocka_unit_test(test_term_before_first_socket_is_a_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
