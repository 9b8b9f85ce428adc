/* nn_bind / nn_connect / nn_shutdown: endpoint ids, address validation that
   happens before any transport is involved, and shutdown errors. */
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

static void test_endpoint_ids_start_at_one_and_increment(void **state)
{
    (void) state;
    char a1[64], a2[64], a3[64];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_bind(s, tu_inproc_url(a1, sizeof a1, "apitest")), 1);
    assert_int_equal(nn_connect(s, tu_inproc_url(a2, sizeof a2, "apitest")), 2);
    assert_int_equal(nn_bind(s, tu_inproc_url(a3, sizeof a3, "apitest")), 3);
    /* Each socket has its own counter. */
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_connect(t, a1), 1);
}

static void test_failed_bind_does_not_consume_an_endpoint_id(void **state)
{
    (void) state;
    char a1[64], a2[64];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_bind(s, tu_inproc_url(a1, sizeof a1, "apitest")), 1);
    assert_nn_fail(nn_bind(t, a1), EADDRINUSE);
    assert_nn_fail(nn_bind(t, "bogus"), EINVAL);
    assert_int_equal(nn_bind(t, tu_inproc_url(a2, sizeof a2, "apitest")), 1);
}

static void test_shut_down_endpoint_ids_are_not_reused(void **state)
{
    (void) state;
    char a1[64], a2[64];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_connect(s, tu_inproc_url(a1, sizeof a1, "apitest")), 1);
    assert_int_equal(nn_shutdown(s, 1), 0);
    assert_int_equal(nn_connect(s, tu_inproc_url(a2, sizeof a2, "apitest")), 2);
}

static void test_null_address_fails_with_einval(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_fail(nn_bind(s, NULL), EINVAL);
    assert_nn_fail(nn_connect(s, NULL), EINVAL);
}

static void test_bind_and_connect_on_bad_socket_fail_with_ebadf(void **state)
{
    (void) state;
    assert_nn_fail(nn_bind(-1, "inproc://x"), EBADF);
    assert_nn_fail(nn_connect(-1, "inproc://x"), EBADF);
    assert_nn_fail(nn_bind(0, "inproc://x"), EBADF);
    assert_nn_fail(nn_connect(NN_MAX_SOCKETS, "inproc://x"), EBADF);
}

/* A URL of exactly len characters: "inproc://" followed by 'a's. */
static char *url_of_length(char *buf, size_t len)
{
    strcpy(buf, "inproc://");
    size_t n = strlen(buf);
    memset(buf + n, 'a', len - n);
    buf[len] = 0;
    return buf;
}

static void test_address_of_127_chars_is_accepted(void **state)
{
    (void) state;
    char url[256];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(strlen(url_of_length(url, 127)), 127);
    assert_nn_ok(nn_bind(s, url));
    assert_nn_ok(nn_connect(t, url));
}

static void test_address_of_128_chars_fails_with_enametoolong(void **state)
{
    (void) state;
    char url[256];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(strlen(url_of_length(url, NN_SOCKADDR_MAX)), 128);
    assert_nn_fail(nn_bind(s, url), ENAMETOOLONG);
    assert_nn_fail(nn_connect(s, url), ENAMETOOLONG);
    url_of_length(url, 200);
    assert_nn_fail(nn_bind(s, url), ENAMETOOLONG);
    /* The length covers the scheme too: 128 bytes of tcp URL also fail. */
    char tcp[200];
    memset(tcp, '1', sizeof tcp);
    memcpy(tcp, "tcp://127.0.0.1:", 16);
    tcp[128] = 0;
    assert_nn_fail(nn_connect(s, tcp), ENAMETOOLONG);
}

static void test_address_without_scheme_separator_fails_with_einval(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    const char *bad[] = {"", "inproc", "inproc:", "inproc:/x", "inproc:x",
                         "inproc//x", "inproc/:/x", "tcp:127.0.0.1:5555"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_nn_fail(nn_bind(s, bad[i]), EINVAL);
        assert_nn_fail(nn_connect(s, bad[i]), EINVAL);
    }
}

static void test_unknown_scheme_fails_with_eprotonosupport(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    const char *bad[] = {"zmq://x", "://x", "udp://127.0.0.1:5555", "inprocx://x",
                         "inpro://x", "INPROC://x", "Inproc://x", "TCP://127.0.0.1:5555",
                         "IPC:///tmp/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_nn_fail(nn_bind(s, bad[i]), EPROTONOSUPPORT);
        assert_nn_fail(nn_connect(s, bad[i]), EPROTONOSUPPORT);
    }
}

static void test_inproc_bind_of_bound_name_fails_with_eaddrinuse(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_bind(s, addr));
    assert_nn_fail(nn_bind(t, addr), EADDRINUSE);
    assert_nn_fail(nn_bind(s, addr), EADDRINUSE);
    /* Connecting to it is fine. */
    assert_nn_ok(nn_connect(t, addr));
}

static void test_inproc_names_are_case_sensitive(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_bind(s, "inproc://CaseName"));
    assert_nn_ok(nn_bind(t, "inproc://casename"));
}

static void test_inproc_empty_name_is_accepted(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_bind(s, "inproc://"), 1);
    assert_int_equal(nn_connect(t, "inproc://"), 1);
}

static void test_connect_before_bind_succeeds(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_connect(t, addr));
    assert_nn_ok(nn_bind(s, addr));
    tu_setint(t, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_send(t, "late bind");
    tu_recv(s, "late bind");
}

static void test_shutdown_of_unknown_endpoint_fails_with_einval(void **state)
{
    (void) state;
    char addr[64];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_fail(nn_shutdown(s, 0), EINVAL);
    assert_nn_fail(nn_shutdown(s, 1), EINVAL);
    assert_nn_fail(nn_shutdown(s, -1), EINVAL);
    int eid = nn_bind(s, tu_inproc_url(addr, sizeof addr, "apitest"));
    assert_int_equal(eid, 1);
    assert_nn_fail(nn_shutdown(s, eid + 1), EINVAL);
    /* An endpoint id of another socket is unknown here. */
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_fail(nn_shutdown(t, eid), EINVAL);
}

static void test_second_shutdown_of_endpoint_fails_with_einval(void **state)
{
    (void) state;
    char a1[64], a2[64];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int b = nn_bind(s, tu_inproc_url(a1, sizeof a1, "apitest"));
    int c = nn_connect(s, tu_inproc_url(a2, sizeof a2, "apitest"));
    assert_int_equal(nn_shutdown(s, b), 0);
    assert_nn_fail(nn_shutdown(s, b), EINVAL);
    assert_int_equal(nn_shutdown(s, c), 0);
    assert_nn_fail(nn_shutdown(s, c), EINVAL);
}

static void test_shutdown_on_bad_socket_fails_with_ebadf(void **state)
{
    (void) state;
    assert_nn_fail(nn_shutdown(-1, 1), EBADF);
    assert_nn_fail(nn_shutdown(0, 1), EBADF);
    assert_nn_fail(nn_shutdown(NN_MAX_SOCKETS, 1), EBADF);
}

struct rebind {
    int s;
    const char *addr;
};

static bool bind_succeeds(void *arg)
{
    struct rebind *r = arg;
    return nn_bind(r->s, r->addr) >= 0;
}

static void test_inproc_name_can_be_bound_again_after_shutdown(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    int eid = assert_nn_ok(nn_bind(s, addr));
    assert_int_equal(nn_shutdown(s, eid), 0);
    /* Shutdown is asynchronous: the name is released shortly after. */
    struct rebind r = {t, addr};
    assert_true(tu_wait_until(bind_succeeds, &r, TU_DEADLINE_MS));
}

static void test_tcp_bind_with_busy_port_fails_with_eaddrinuse(void **state)
{
    (void) state;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_bind(s, url), 1);
    assert_nn_fail(nn_bind(t, url), EADDRINUSE);
}

static void test_tcp_connect_without_listener_succeeds(void **state)
{
    (void) state;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int s = tu_socket_default(AF_SP, NN_PAIR);
    /* Connection failures are retried in the background, never reported here. */
    assert_int_equal(nn_connect(s, url), 1);
}

static void test_ipc_bind_twice_on_one_path_fails_with_eaddrinuse(void **state)
{
    (void) state;
    char url[256];
    tu_ipc_url(url, sizeof url, "api-endpoints.ipc");
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int t = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(nn_bind(s, url), 1);
    assert_nn_fail(nn_bind(t, url), EADDRINUSE);
}

#ifndef AGAINST_LIBNANOMSG
/* libnanomsg 1.1.5 aborts (sinproc.c:365, EISCONN) when a second inproc
   connection reaches an already paired PAIR, and crashes on close after a
   second connector from another socket or a self-connect. We drop the extra
   connection instead and keep the first pair working. */
static void test_extra_inproc_connections_to_pair_do_not_break_first_pair(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int u = tu_socket_default(AF_SP, NN_PAIR);
    int v = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(u, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_setint(u, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(v, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_setint(v, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    assert_nn_ok(nn_bind(u, addr));
    assert_nn_ok(nn_connect(v, addr));
    tu_send(v, "paired");
    tu_recv(u, "paired");
    assert_nn_ok(nn_connect(v, addr));   /* same socket again */
    assert_nn_ok(nn_connect(u, addr));   /* self-connect */
    int w = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_connect(w, addr));   /* another socket */
    tu_send(v, "still paired");
    tu_recv(u, "still paired");
    tu_send(u, "both ways");
    tu_recv(v, "both ways");
    assert_int_equal(nn_close(w), 0);
    assert_int_equal(nn_close(v), 0);
    assert_int_equal(nn_close(u), 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_endpoint_ids_start_at_one_and_increment),
        tu_test(test_failed_bind_does_not_consume_an_endpoint_id),
        tu_test(test_shut_down_endpoint_ids_are_not_reused),
        tu_test(test_null_address_fails_with_einval),
        tu_test(test_bind_and_connect_on_bad_socket_fail_with_ebadf),
        tu_test(test_address_of_127_chars_is_accepted),
        tu_test(test_address_of_128_chars_fails_with_enametoolong),
        tu_test(test_address_without_scheme_separator_fails_with_einval),
        tu_test(test_unknown_scheme_fails_with_eprotonosupport),
        tu_test(test_inproc_bind_of_bound_name_fails_with_eaddrinuse),
        tu_test(test_inproc_names_are_case_sensitive),
        tu_test(test_inproc_empty_name_is_accepted),
        tu_test(test_connect_before_bind_succeeds),
        tu_test(test_shutdown_of_unknown_endpoint_fails_with_einval),
        tu_test(test_second_shutdown_of_endpoint_fails_with_einval),
        tu_test(test_shutdown_on_bad_socket_fails_with_ebadf),
        tu_test(test_inproc_name_can_be_bound_again_after_shutdown),
        tu_test(test_tcp_bind_with_busy_port_fails_with_eaddrinuse),
        tu_test(test_tcp_connect_without_listener_succeeds),
        tu_test(test_ipc_bind_twice_on_one_path_fails_with_eaddrinuse),
#ifndef AGAINST_LIBNANOMSG
        tu_test(test_extra_inproc_connections_to_pair_do_not_break_first_pair),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
