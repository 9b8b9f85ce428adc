/* nn_socket / nn_close: socket ids, the socket limit and the errno of every
   way creating or closing a socket can fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include "testutil.h"

static void test_first_socket_ids_count_up_from_zero(void **state)
{
    (void) state;
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PUSH), 1);
    assert_int_equal(nn_socket(AF_SP_RAW, NN_PULL), 2);
}

static void test_closed_id_is_reused_next(void **state)
{
    (void) state;
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 1);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 2);
    assert_int_equal(nn_close(1), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 1);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 3);
}

static void test_closed_ids_are_reused_last_in_first_out(void **state)
{
    (void) state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(nn_socket(AF_SP, NN_PAIR), i);
    assert_int_equal(nn_close(3), 0);
    assert_int_equal(nn_close(1), 0);
    assert_int_equal(nn_close(2), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 2);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 1);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 3);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 5);
}

static void test_ids_restart_at_zero_after_all_sockets_closed(void **state)
{
    (void) state;
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 1);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 2);
    assert_int_equal(nn_close(0), 0);
    assert_int_equal(nn_close(2), 0);
    assert_int_equal(nn_close(1), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 1);
}

static void test_socket_with_unknown_domain_fails_with_eafnosupport(void **state)
{
    (void) state;
    assert_nn_fail(nn_socket(0, NN_PAIR), EAFNOSUPPORT);
    assert_nn_fail(nn_socket(3, NN_PAIR), EAFNOSUPPORT);
    assert_nn_fail(nn_socket(-1, NN_PAIR), EAFNOSUPPORT);
    /* The domain is checked before the protocol. */
    assert_nn_fail(nn_socket(3, 12345), EAFNOSUPPORT);
}

static void test_socket_with_unknown_protocol_fails_with_einval(void **state)
{
    (void) state;
    assert_nn_fail(nn_socket(AF_SP, 0), EINVAL);
    assert_nn_fail(nn_socket(AF_SP, -1), EINVAL);
    assert_nn_fail(nn_socket(AF_SP, 17), EINVAL);
    assert_nn_fail(nn_socket(AF_SP, 64), EINVAL);
    assert_nn_fail(nn_socket(AF_SP_RAW, 12345), EINVAL);
    /* A failed call consumes no id. */
    assert_int_equal(nn_socket(AF_SP, NN_PAIR), 0);
}

static void test_raw_and_cooked_sockets_report_their_domain_and_protocol(void **state)
{
    (void) state;
    int protos[] = {NN_PAIR, NN_PUSH, NN_PULL};
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
        int s = tu_socket_default(AF_SP, protos[i]);
        int r = tu_socket_default(AF_SP_RAW, protos[i]);
        assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_DOMAIN), AF_SP);
        assert_int_equal(tu_getint(r, NN_SOL_SOCKET, NN_DOMAIN), AF_SP_RAW);
        assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_PROTOCOL), protos[i]);
        assert_int_equal(tu_getint(r, NN_SOL_SOCKET, NN_PROTOCOL), protos[i]);
        assert_int_equal(nn_close(s), 0);
        assert_int_equal(nn_close(r), 0);
    }
}

static void test_socket_beyond_max_sockets_fails_with_emfile(void **state)
{
    (void) state;
    /* Make sure the process fd limit is not what stops us first. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4 * NN_MAX_SOCKETS) {
        rl.rlim_cur = rl.rlim_max < 4 * NN_MAX_SOCKETS ? rl.rlim_max : 4 * NN_MAX_SOCKETS;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        assert_int_equal(nn_socket(AF_SP, NN_PUSH), i);
    assert_nn_fail(nn_socket(AF_SP, NN_PUSH), EMFILE);
    assert_nn_fail(nn_socket(AF_SP, NN_PAIR), EMFILE);
    /* The limit is checked before the protocol. */
    assert_nn_fail(nn_socket(AF_SP, 12345), EMFILE);
    /* A freed slot can be used again. */
    assert_int_equal(nn_close(100), 0);
    assert_int_equal(nn_socket(AF_SP, NN_PULL), 100);
    assert_nn_fail(nn_socket(AF_SP, NN_PULL), EMFILE);
}

static void test_close_of_invalid_id_fails_with_ebadf(void **state)
{
    (void) state;
    assert_nn_fail(nn_close(-1), EBADF);
    assert_nn_fail(nn_close(0), EBADF);
    assert_nn_fail(nn_close(999), EBADF);
    assert_nn_fail(nn_close(NN_MAX_SOCKETS), EBADF);
    assert_nn_fail(nn_close(INT32_MAX), EBADF);
    assert_nn_fail(nn_close(INT32_MIN), EBADF);
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_fail(nn_close(s + 1), EBADF);
}

static void test_second_close_fails_with_ebadf(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int keep = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_close(s), 0);
    assert_nn_fail(nn_close(s), EBADF);
    assert_int_equal(nn_close(keep), 0);
    assert_nn_fail(nn_close(keep), EBADF);
}

static void test_calls_on_closed_socket_fail_with_ebadf(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int keep = tu_socket_default(AF_SP, NN_PAIR);
    (void) keep;
    assert_int_equal(nn_close(s), 0);
    int val = 1;
    size_t sz = sizeof val;
    char buf[8];
    assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &val, sizeof val), EBADF);
    assert_nn_fail(nn_getsockopt(s, NN_SOL_SOCKET, NN_LINGER, &val, &sz), EBADF);
    assert_nn_fail(nn_bind(s, "inproc://closed"), EBADF);
    assert_nn_fail(nn_connect(s, "inproc://closed"), EBADF);
    assert_nn_fail(nn_shutdown(s, 1), EBADF);
    assert_nn_fail(nn_send(s, "a", 1, NN_DONTWAIT), EBADF);
    assert_nn_fail(nn_recv(s, buf, sizeof buf, NN_DONTWAIT), EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_first_socket_ids_count_up_from_zero),
        tu_test(test_closed_id_is_reused_next),
        tu_test(test_closed_ids_are_reused_last_in_first_out),
        tu_test(test_ids_restart_at_zero_after_all_sockets_closed),
        tu_test(test_socket_with_unknown_domain_fails_with_eafnosupport),
        tu_test(test_socket_with_unknown_protocol_fails_with_einval),
        tu_test(test_raw_and_cooked_sockets_report_their_domain_and_protocol),
        tu_test(test_socket_beyond_max_sockets_fails_with_emfile),
        tu_test(test_close_of_invalid_id_fails_with_ebadf),
        tu_test(test_second_close_fails_with_ebadf),
        tu_test(test_calls_on_closed_socket_fail_with_ebadf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
