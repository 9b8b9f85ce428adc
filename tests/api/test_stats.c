/* nn_get_statistic: message and byte counters, connection counters over
   inproc and tcp, and the errors for unknown statistics or sockets. */
#include <errno.h>
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

#define STAT_NONE ((uint64_t) -1)

static const int all_stats[] = {
    NN_STAT_ESTABLISHED_CONNECTIONS, NN_STAT_ACCEPTED_CONNECTIONS,
    NN_STAT_DROPPED_CONNECTIONS,     NN_STAT_BROKEN_CONNECTIONS,
    NN_STAT_CONNECT_ERRORS,          NN_STAT_BIND_ERRORS,
    NN_STAT_ACCEPT_ERRORS,           NN_STAT_CURRENT_CONNECTIONS,
    NN_STAT_INPROGRESS_CONNECTIONS,  NN_STAT_CURRENT_EP_ERRORS,
    NN_STAT_MESSAGES_SENT,           NN_STAT_MESSAGES_RECEIVED,
    NN_STAT_BYTES_SENT,              NN_STAT_BYTES_RECEIVED,
};

static void test_statistic_ids_have_libnanomsg_values(void **state)
{
    (void) state;
    assert_int_equal(NN_STAT_ESTABLISHED_CONNECTIONS, 101);
    assert_int_equal(NN_STAT_ACCEPTED_CONNECTIONS, 102);
    assert_int_equal(NN_STAT_DROPPED_CONNECTIONS, 103);
    assert_int_equal(NN_STAT_BROKEN_CONNECTIONS, 104);
    assert_int_equal(NN_STAT_CONNECT_ERRORS, 105);
    assert_int_equal(NN_STAT_BIND_ERRORS, 106);
    assert_int_equal(NN_STAT_ACCEPT_ERRORS, 107);
    assert_int_equal(NN_STAT_CURRENT_CONNECTIONS, 201);
    assert_int_equal(NN_STAT_INPROGRESS_CONNECTIONS, 202);
    assert_int_equal(NN_STAT_CURRENT_EP_ERRORS, 203);
    assert_int_equal(NN_STAT_MESSAGES_SENT, 301);
    assert_int_equal(NN_STAT_MESSAGES_RECEIVED, 302);
    assert_int_equal(NN_STAT_BYTES_SENT, 303);
    assert_int_equal(NN_STAT_BYTES_RECEIVED, 304);
    assert_int_equal(NN_STAT_CURRENT_SND_PRIORITY, 401);
}

static void test_fresh_socket_has_all_counters_at_zero(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    for (size_t i = 0; i < sizeof all_stats / sizeof all_stats[0]; i++) {
        uint64_t v = nn_get_statistic(s, all_stats[i]);
        if (v != 0) {
            print_error("stat %d = %llu, want 0\n", all_stats[i], (unsigned long long) v);
            fail();
        }
    }
}

static void test_unknown_statistic_fails_with_einval(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int bad[] = {0, 1, 100, 108, 200, 204, 300, 305, 400, 402, -1, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_int_equal(nn_get_statistic(s, bad[i]), STAT_NONE);
        assert_int_equal(nn_errno(), EINVAL);
    }
}

static void test_statistic_of_bad_socket_fails_with_ebadf(void **state)
{
    (void) state;
    int bad[] = {-1, 0, 5, NN_MAX_SOCKETS, 100000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_int_equal(nn_get_statistic(bad[i], NN_STAT_MESSAGES_SENT), STAT_NONE);
        assert_int_equal(nn_errno(), EBADF);
    }
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int keep = tu_socket_default(AF_SP, NN_PAIR);
    (void) keep;
    assert_int_equal(nn_close(s), 0);
    errno = 0;
    assert_int_equal(nn_get_statistic(s, NN_STAT_MESSAGES_SENT), STAT_NONE);
    assert_int_equal(nn_errno(), EBADF);
    /* The socket is checked before the statistic id. */
    errno = 0;
    assert_int_equal(nn_get_statistic(s, 0), STAT_NONE);
    assert_int_equal(nn_errno(), EBADF);
}

static void test_message_and_byte_counters_follow_traffic(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_setint(b, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_send(a, "one");
    tu_send(a, "three");
    assert_int_equal(nn_send(a, "", 0, 0), 0);
    void *chunk = nn_allocmsg(100, 0);
    memset(chunk, 'z', 100);
    assert_int_equal(nn_send(a, &chunk, NN_MSG, 0), 100);
    assert_int_equal(nn_get_statistic(a, NN_STAT_MESSAGES_SENT), 4);
    assert_int_equal(nn_get_statistic(a, NN_STAT_BYTES_SENT), 108);
    assert_int_equal(nn_get_statistic(a, NN_STAT_MESSAGES_RECEIVED), 0);
    assert_int_equal(nn_get_statistic(a, NN_STAT_BYTES_RECEIVED), 0);

    char buf[4];
    assert_int_equal(nn_recv(b, buf, sizeof buf, 0), 3);
    assert_int_equal(nn_recv(b, buf, 2, 0), 5); /* truncated: counts full size */
    assert_int_equal(nn_recv(b, buf, sizeof buf, 0), 0);
    void *in = NULL;
    assert_int_equal(nn_recv(b, &in, NN_MSG, 0), 100);
    nn_freemsg(in);
    assert_int_equal(nn_get_statistic(b, NN_STAT_MESSAGES_RECEIVED), 4);
    assert_int_equal(nn_get_statistic(b, NN_STAT_BYTES_RECEIVED), 108);
    assert_int_equal(nn_get_statistic(b, NN_STAT_MESSAGES_SENT), 0);
    assert_int_equal(nn_get_statistic(b, NN_STAT_BYTES_SENT), 0);
}

static void test_failed_send_and_recv_are_not_counted(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    char buf[4];
    assert_nn_fail(nn_send(s, "abc", 3, NN_DONTWAIT), EAGAIN);
    assert_nn_fail(nn_recv(s, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
    assert_nn_fail(nn_send(s, NULL, 3, 0), EFAULT);
    assert_int_equal(nn_get_statistic(s, NN_STAT_MESSAGES_SENT), 0);
    assert_int_equal(nn_get_statistic(s, NN_STAT_BYTES_SENT), 0);
    assert_int_equal(nn_get_statistic(s, NN_STAT_MESSAGES_RECEIVED), 0);
    assert_int_equal(nn_get_statistic(s, NN_STAT_BYTES_RECEIVED), 0);
}

#define wait_stat tu_wait_stat

/* bnd binds url, con connects; checks the connection counters both ways,
   then closes con and checks that bnd's current count drops. libnanomsg
   counts ACCEPTED (and BROKEN when the peer goes) on the binding side of
   stream transports only, never for inproc. */
static void check_connection_counters(const char *url, bool stream)
{
    int bnd = tu_socket_default(AF_SP, NN_PAIR);
    int con = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_bind(bnd, url));
    assert_nn_ok(nn_connect(con, url));
    wait_stat(con, NN_STAT_CURRENT_CONNECTIONS, 1);
    wait_stat(bnd, NN_STAT_CURRENT_CONNECTIONS, 1);
    wait_stat(con, NN_STAT_ESTABLISHED_CONNECTIONS, 1);
    wait_stat(bnd, NN_STAT_ACCEPTED_CONNECTIONS, stream ? 1 : 0);
    assert_int_equal(nn_get_statistic(con, NN_STAT_ACCEPTED_CONNECTIONS), 0);
    assert_int_equal(nn_get_statistic(bnd, NN_STAT_ESTABLISHED_CONNECTIONS), 0);
    assert_int_equal(nn_get_statistic(con, NN_STAT_INPROGRESS_CONNECTIONS), 0);
    assert_int_equal(nn_get_statistic(bnd, NN_STAT_BIND_ERRORS), 0);
    assert_int_equal(nn_get_statistic(bnd, NN_STAT_ACCEPT_ERRORS), 0);

    /* Messages go through the counted connection. */
    tu_setint(con, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_setint(bnd, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_send(con, "counted");
    tu_recv(bnd, "counted");

    assert_int_equal(nn_close(con), 0);
    wait_stat(bnd, NN_STAT_CURRENT_CONNECTIONS, 0);
    wait_stat(bnd, NN_STAT_BROKEN_CONNECTIONS, stream ? 1 : 0);
    /* Counters of past events do not go down. */
    assert_int_equal(nn_get_statistic(bnd, NN_STAT_ACCEPTED_CONNECTIONS), stream ? 1 : 0);
    assert_int_equal(nn_close(bnd), 0);
}

static void test_inproc_connection_is_counted_as_established_on_connector_only(void **state)
{
    (void) state;
    char addr[64];
    check_connection_counters(tu_inproc_url(addr, sizeof addr, "apitest"), false);
}

static void test_tcp_connection_is_counted_as_established_and_accepted(void **state)
{
    (void) state;
    char url[64];
    check_connection_counters(tu_tcp_url(url, sizeof url, tu_free_port()), true);
}

static void test_ipc_connection_is_counted_as_established_and_accepted(void **state)
{
    (void) state;
    char url[256];
    check_connection_counters(tu_ipc_url(url, sizeof url, "api-stats.ipc"), true);
}

static void test_shutdown_of_connected_endpoint_drops_current_connection(void **state)
{
    (void) state;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int bnd = tu_socket_default(AF_SP, NN_PUSH);
    int con = tu_socket_default(AF_SP, NN_PULL);
    assert_nn_ok(nn_bind(bnd, url));
    int eid = assert_nn_ok(nn_connect(con, url));
    wait_stat(con, NN_STAT_CURRENT_CONNECTIONS, 1);
    wait_stat(bnd, NN_STAT_CURRENT_CONNECTIONS, 1);
    assert_int_equal(nn_shutdown(con, eid), 0);
    wait_stat(con, NN_STAT_CURRENT_CONNECTIONS, 0);
    wait_stat(bnd, NN_STAT_CURRENT_CONNECTIONS, 0);
}

/* libnanomsg reports 0 before a PUSH ever had a pipe, the endpoint's
   NN_SNDPRIO while one is connected, and -1 once none is left. */
static void test_push_current_send_priority_follows_connected_endpoints(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP, NN_PULL);
    assert_int_equal(nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY), 0);
    assert_nn_ok(nn_bind(pull, addr));
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 3);
    assert_nn_ok(nn_connect(push, addr));
    wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 3);
    assert_int_equal(nn_close(pull), 0);
    wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, STAT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_statistic_ids_have_libnanomsg_values),
        tu_test(test_fresh_socket_has_all_counters_at_zero),
        tu_test(test_unknown_statistic_fails_with_einval),
        tu_test(test_statistic_of_bad_socket_fails_with_ebadf),
        tu_test(test_message_and_byte_counters_follow_traffic),
        tu_test(test_failed_send_and_recv_are_not_counted),
        tu_test(test_inproc_connection_is_counted_as_established_on_connector_only),
        tu_test(test_tcp_connection_is_counted_as_established_and_accepted),
        tu_test(test_ipc_connection_is_counted_as_established_and_accepted),
        tu_test(test_shutdown_of_connected_endpoint_drops_current_connection),
        tu_test(test_push_current_send_priority_follows_connected_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
