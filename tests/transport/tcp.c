/* tcp transport. Pins down the address syntax and its errno values (SPEC
   §4.15, §9 item 2), synchronous bind errors, DNS names on connect,
   NN_TCP_NODELAY, reconnection after the binder restarts (§4.14) and
   NN_RCVMAXSIZE, which drops the whole connection on an oversize frame (§4.13). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>

#include "testutil.h"

#define URL_LEN 128

static void expect_bind_error(int domain, int proto, const char *url, int err)
{
    int s = tu_socket(domain, proto);
    int rc = nn_bind(s, url);
    if (rc >= 0 || nn_errno() != err)
        fprintf(stderr, "nn_bind(%s) -> %d (%s), expected %s\n", url, rc,
                rc < 0 ? nn_strerror(nn_errno()) : "ok", nn_strerror(err));
    assert_int_equal(rc, -1);
    assert_int_equal(nn_errno(), err);
    tu_close(s);
}

static void expect_connect_error(const char *url, int err)
{
    int s = tu_socket(AF_SP, NN_PAIR);
    int rc = nn_connect(s, url);
    if (rc >= 0 || nn_errno() != err)
        fprintf(stderr, "nn_connect(%s) -> %d (%s), expected %s\n", url, rc,
                rc < 0 ? nn_strerror(nn_errno()) : "ok", nn_strerror(err));
    assert_int_equal(rc, -1);
    assert_int_equal(nn_errno(), err);
    tu_close(s);
}

static void test_tcp_pair_exchanges_both_ways(void **state)
{
    (void) state;
    char url[URL_LEN];
    tu_pair_exchange(tu_tcp_url(url, sizeof url, tu_free_port()));
}

static void test_tcp_bind_wildcard_interface_accepts_loopback(void **state)
{
    (void) state;
    char url[URL_LEN];
    int port = tu_free_port();
    int a = tu_socket(AF_SP, NN_PULL);
    int b = tu_socket(AF_SP, NN_PUSH);

    snprintf(url, sizeof url, "tcp://*:%d", port);
    tu_bind(a, url);
    tu_tcp_url(url, sizeof url, port);
    tu_connect(b, url);
    tu_send(b, "via-wildcard");
    tu_recv(a, "via-wildcard");

    tu_close(a);
    tu_close(b);
}

static void test_tcp_bind_rejects_port_zero_and_bad_ports(void **state)
{
    (void) state;
    expect_bind_error(AF_SP, NN_PAIR, "tcp://127.0.0.1:0", EINVAL);
    expect_bind_error(AF_SP, NN_PAIR, "tcp://127.0.0.1", EINVAL);
    expect_bind_error(AF_SP, NN_PAIR, "tcp://127.0.0.1:", EINVAL);
    expect_bind_error(AF_SP, NN_PAIR, "tcp://127.0.0.1:65536", EINVAL);
    expect_bind_error(AF_SP, NN_PAIR, "tcp://127.0.0.1:12a4", EINVAL);
    expect_bind_error(AF_SP, NN_PAIR, "tcp://*:-1", EINVAL);
}

static void test_tcp_bind_rejects_names_with_enodev(void **state)
{
    (void) state;
    char url[URL_LEN];
    int port = tu_free_port();

    snprintf(url, sizeof url, "tcp://localhost:%d", port);
    expect_bind_error(AF_SP, NN_PAIR, url, ENODEV);
    snprintf(url, sizeof url, "tcp://lo:%d", port);
    expect_bind_error(AF_SP, NN_PAIR, url, ENODEV);
    snprintf(url, sizeof url, "tcp://eth0:%d", port);
    expect_bind_error(AF_SP_RAW, NN_PULL, url, ENODEV);
}

static void test_tcp_connect_rejects_bad_host_and_port(void **state)
{
    (void) state;
    expect_connect_error("tcp://foo_bar:5555", EINVAL);
    expect_connect_error("tcp://-foo:5555", EINVAL);
    expect_connect_error("tcp://127.0.0.1", EINVAL);
    expect_connect_error("tcp://:5555", EINVAL);
    expect_connect_error("tcp://127.0.0.1:0", EINVAL);
    expect_connect_error("tcp://127.0.0.1:65536", EINVAL);
    expect_connect_error("tcp://127.0.0.1:port", EINVAL);
}

static void test_tcp_connect_rejects_named_local_interface(void **state)
{
    (void) state;
    expect_connect_error("tcp://lo;127.0.0.1:5555", ENODEV);
}

static void test_tcp_ipv6_literal_needs_ipv4only_off(void **state)
{
    (void) state;
    char url[URL_LEN];
    int port = tu_free_port();
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);

    snprintf(url, sizeof url, "tcp://[::1]:%d", port);
    assert_int_equal(tu_getint(a, NN_SOL_SOCKET, NN_IPV4ONLY), 1);
    /* IPv4-only (the default): the literal is not a host name (connect:
       EINVAL) and not an IPv4 interface address (bind: ENODEV). */
    expect_connect_error(url, EINVAL);
    assert_int_equal(nn_bind(a, url), -1);
    assert_int_equal(nn_errno(), ENODEV);

    tu_setint(a, NN_SOL_SOCKET, NN_IPV4ONLY, 0);
    tu_setint(b, NN_SOL_SOCKET, NN_IPV4ONLY, 0);
    {
        /* A machine without an IPv6 loopback cannot run the exchange. */
        struct sockaddr_in6 sa;
        int fd = socket(AF_INET6, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof sa);
        sa.sin6_family = AF_INET6;
        sa.sin6_addr = in6addr_loopback;
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
            if (fd >= 0)
                close(fd);
            tu_close(a);
            tu_close(b);
            if (tu_unmet("this machine has no IPv6 loopback address (::1): the exchange over "
                         "tcp://[::1] cannot run") == 77)
                skip();
            fail();
        }
        close(fd);
    }
    tu_bind(a, url);
    tu_connect(b, url);
    tu_send(b, "over-ipv6");
    tu_recv(a, "over-ipv6");

    tu_close(a);
    tu_close(b);
}

static void test_tcp_bind_on_busy_port_fails_with_eaddrinuse(void **state)
{
    (void) state;
    char url[URL_LEN];
    int a = tu_socket(AF_SP, NN_PAIR);
    int fd, port;

    /* Busy because another nanomsg socket listens there. */
    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_bind(a, url);
    expect_bind_error(AF_SP, NN_PAIR, url, EADDRINUSE);
    assert_int_equal(nn_bind(a, url), -1);
    assert_int_equal(nn_errno(), EADDRINUSE);
    tu_close(a);

    /* Busy because a plain socket listens there. */
    fd = tu_raw_listen(&port);
    tu_tcp_url(url, sizeof url, port);
    expect_bind_error(AF_SP, NN_PULL, url, EADDRINUSE);
    close(fd);
}

static void test_tcp_connect_resolves_dns_name(void **state)
{
    (void) state;
    char url[URL_LEN];
    int port = tu_free_port();
    int a = tu_socket(AF_SP, NN_PULL);
    int b = tu_socket(AF_SP, NN_PUSH);

    tu_tcp_url(url, sizeof url, port);
    tu_bind(a, url);
    snprintf(url, sizeof url, "tcp://localhost:%d", port);
    tu_connect(b, url);
    tu_send(b, "by-name");
    tu_recv(a, "by-name");

    tu_close(a);
    tu_close(b);
}

static void test_tcp_connect_with_local_interface_literal(void **state)
{
    (void) state;
    char url[URL_LEN];
    int port = tu_free_port();
    int a = tu_socket(AF_SP, NN_PULL);
    int b = tu_socket(AF_SP, NN_PUSH);

    tu_tcp_url(url, sizeof url, port);
    tu_bind(a, url);
    snprintf(url, sizeof url, "tcp://127.0.0.1;127.0.0.1:%d", port);
    tu_connect(b, url);
    tu_send(b, "via-local-iface");
    tu_recv(a, "via-local-iface");

    tu_close(a);
    tu_close(b);
}

static void test_tcp_connect_before_bind_retries_until_binder_appears(void **state)
{
    (void) state;
    char url[URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_connect(push, url);
    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);

    tu_bind(pull, url);
    tu_send(push, "found-you");
    tu_recv(pull, "found-you");

    tu_close(push);
    tu_close(pull);
}

static void test_tcp_nodelay_option_is_accepted(void **state)
{
    (void) state;
    char url[URL_LEN];
    char small[2] = {0};
    size_t sz = sizeof small;
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);
    int two = 2;

    assert_int_equal(tu_getint(a, NN_TCP, NN_TCP_NODELAY), 0);
    tu_setint(a, NN_TCP, NN_TCP_NODELAY, 1);
    tu_setint(b, NN_TCP, NN_TCP_NODELAY, 1);
    assert_int_equal(tu_getint(a, NN_TCP, NN_TCP_NODELAY), 1);
    assert_int_equal(nn_setsockopt(a, NN_TCP, NN_TCP_NODELAY, &two, sizeof two), -1);
    assert_int_equal(nn_errno(), EINVAL);
    assert_int_equal(nn_setsockopt(a, NN_TCP, NN_TCP_NODELAY, small, sz), -1);
    assert_int_equal(nn_errno(), EINVAL);
    assert_int_equal(tu_getint(a, NN_TCP, NN_TCP_NODELAY), 1);

    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_bind(a, url);
    tu_connect(b, url);
    tu_send(b, "no-delay");
    tu_recv(a, "no-delay");
    tu_send(a, "back");
    tu_recv(b, "back");

    tu_close(a);
    tu_close(b);
}

static void test_tcp_connector_reconnects_after_binder_restarts(void **state)
{
    (void) state;
    char url[URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_bind(pull, url);
    tu_connect(push, url);
    tu_send(push, "before");
    tu_recv(pull, "before");
    tu_close(pull);

    /* Nothing listens: the PUSH loses its pipe and cannot send. */
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 0);
    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);

    pull = tu_socket(AF_SP, NN_PULL);
    tu_bind(pull, url);
    tu_send(push, "after");
    tu_recv(pull, "after");

    tu_close(push);
    tu_close(pull);
}

/* Sends small messages until one arrives, asserting that nothing bigger than
   limit is ever delivered on the way. */
static void expect_flow_resumes_without_oversize(int push, int pull, int limit)
{
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    bool resumed = false;
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, 100);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVTIMEO, 100);
    while (!resumed && tu_now_ms() < end) {
        void *msg = NULL;
        int rc;
        nn_send(push, "small-after", 11, 0);
        rc = nn_recv(pull, &msg, NN_MSG, 0);
        if (rc < 0)
            continue;
        assert_true(rc <= limit);
        if (rc == 11 && memcmp(msg, "small-after", 11) == 0)
            resumed = true;
        nn_freemsg(msg);
    }
    assert_true(resumed);
}

static void test_tcp_rcvmaxsize_drops_connection_on_oversize_message(void **state)
{
    (void) state;
    char url[URL_LEN];
    char big[101];
    char buf[200];
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    memset(big, 'B', sizeof big);
    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE, 100);
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_bind(pull, url);
    tu_connect(push, url);

    /* Exactly the limit passes. */
    tu_send(push, "small-before");
    tu_recv(pull, "small-before");
    assert_int_equal(nn_send(push, big, 100, 0), 100);
    assert_int_equal(nn_recv(pull, buf, sizeof buf, 0), 100);

    /* One byte more: the sender sees success, the message never arrives and
       the connection is dropped; the connector comes back by itself. */
    assert_int_equal(nn_send(push, big, sizeof big, 0), (int) sizeof big);
    expect_flow_resumes_without_oversize(push, pull, 100);

    tu_close(push);
    tu_close(pull);
}

static void test_tcp_default_rcvmaxsize_is_one_mebibyte(void **state)
{
    (void) state;
    char url[URL_LEN];
    size_t limit = 1024 * 1024;
    char *big = malloc(limit + 1);
    void *msg = NULL;
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    assert_non_null(big);
    memset(big, 'M', limit + 1);
    assert_int_equal(tu_getint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE), (int) limit);
    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_bind(pull, url);
    tu_connect(push, url);

    assert_int_equal(nn_send(push, big, limit, 0), (int) limit);
    assert_int_equal(nn_recv(pull, &msg, NN_MSG, 0), (int) limit);
    nn_freemsg(msg);

    assert_int_equal(nn_send(push, big, limit + 1, 0), (int) limit + 1);
    expect_flow_resumes_without_oversize(push, pull, (int) limit);

    free(big);
    tu_close(push);
    tu_close(pull);
}

static void test_tcp_rcvmaxsize_minus_one_is_unlimited(void **state)
{
    (void) state;
    char url[URL_LEN];
    size_t len = 2 * 1024 * 1024;
    char *big = malloc(len);
    void *msg = NULL;
    size_t i;
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    assert_non_null(big);
    for (i = 0; i < len; i++)
        big[i] = (char) (i * 7 + i / 4096);
    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE, -1);
    assert_int_equal(tu_getint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE), -1);
    tu_bind(pull, url);
    tu_connect(push, url);

    assert_int_equal(nn_send(push, big, len, 0), (int) len);
    assert_int_equal(nn_recv(pull, &msg, NN_MSG, 0), (int) len);
    assert_memory_equal(msg, big, len);
    nn_freemsg(msg);

    free(big);
    tu_close(push);
    tu_close(pull);
}

static void test_tcp_rcvmaxsize_zero_allows_only_empty_messages(void **state)
{
    (void) state;
    char url[URL_LEN];
    char buf[16];
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE, 0);
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_bind(pull, url);
    tu_connect(push, url);

    assert_int_equal(nn_send(push, "", 0, 0), 0);
    assert_int_equal(nn_recv(pull, buf, sizeof buf, 0), 0);
    assert_int_equal(nn_send(push, "x", 1, 0), 1);
    /* The one-byte message is dropped with its connection; empty messages
       sent after the reconnection get through again. */
    {
        uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
        bool resumed = false;
        tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, 100);
        tu_setint(pull, NN_SOL_SOCKET, NN_RCVTIMEO, 100);
        while (!resumed && tu_now_ms() < end) {
            int rc;
            nn_send(push, "", 0, 0);
            rc = nn_recv(pull, buf, sizeof buf, 0);
            if (rc >= 0) {
                assert_int_equal(rc, 0);
                resumed = true;
            }
        }
        assert_true(resumed);
    }

    tu_close(push);
    tu_close(pull);
}

/* Backoff (SPEC §4.14): with NN_RECONNECT_IVL 50 and NN_RECONNECT_IVL_MAX
   200 the waits between attempts are 0, 50, 150, 200, 200 ms. A listener
   that drops every connection observes them. Lower bounds are exact (a timer
   never fires early); upper bounds only have to catch a missing backoff. */
static void test_tcp_reconnect_interval_grows_to_max(void **state)
{
    (void) state;
    static const int expected[] = {0, 50, 150, 200, 200, 200};
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    char url[URL_LEN];
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int s = tu_socket(AF_SP, NN_PUSH);
    uint64_t dropped = 0;
    size_t i;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *) &sa, &sl), 0);
    tu_tcp_url(url, sizeof url, ntohs(sa.sin_port));

    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 50);
    tu_setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 200);
    tu_connect(s, url);
    for (i = 0; i <= sizeof expected / sizeof expected[0]; i++) {
        struct pollfd pfd = {lfd, POLLIN, 0};
        int fd;
        uint64_t gap;
        assert_int_equal(poll(&pfd, 1, TU_DEADLINE_MS), 1);
        fd = accept(lfd, NULL, NULL);
        assert_true(fd >= 0);
        gap = tu_now_ms() - dropped;
        if (i > 0) {
            int want = expected[i - 1];
            if (gap + 5 < (uint64_t) want || gap > (uint64_t) want + 1000)
                fail_msg("attempt %zu came %llu ms after the drop, expected %d", i + 1,
                         (unsigned long long) gap, want);
        }
        close(fd);
        dropped = tu_now_ms();
    }

    tu_close(s);
    close(lfd);
}

/* The binder's connection counters count transport connections, including
   ones the protocol turns away afterwards (a second PAIR peer). */
static void test_tcp_binder_counts_rejected_connections(void **state)
{
    (void) state;
    char url[URL_LEN];
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);
    int c = tu_socket(AF_SP, NN_PAIR);
    uint64_t end;

    tu_tcp_url(url, sizeof url, tu_free_port());
    tu_bind(a, url);
    tu_connect(b, url);
    tu_send(b, "first");
    tu_recv(a, "first");
    assert_int_equal(nn_get_statistic(a, NN_STAT_ACCEPTED_CONNECTIONS), 1);
    assert_int_equal(nn_get_statistic(a, NN_STAT_CURRENT_CONNECTIONS), 1);

    tu_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_connect(c, url);
    end = tu_now_ms() + TU_DEADLINE_MS;
    while (nn_get_statistic(c, NN_STAT_ESTABLISHED_CONNECTIONS) < 3 && tu_now_ms() < end)
        tu_sleep_ms(1);
    assert_true(nn_get_statistic(c, NN_STAT_ESTABLISHED_CONNECTIONS) >= 3);
    assert_true(nn_get_statistic(a, NN_STAT_ACCEPTED_CONNECTIONS) >= 3);
    assert_true(nn_get_statistic(a, NN_STAT_BROKEN_CONNECTIONS) >= 2);
    assert_int_equal(nn_get_statistic(a, NN_STAT_CURRENT_CONNECTIONS), 1);

    tu_close(c);
    tu_close(b);
    tu_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_pair_exchanges_both_ways),
        cmocka_unit_test(test_tcp_bind_wildcard_interface_accepts_loopback),
        cmocka_unit_test(test_tcp_bind_rejects_port_zero_and_bad_ports),
        cmocka_unit_test(test_tcp_bind_rejects_names_with_enodev),
        cmocka_unit_test(test_tcp_connect_rejects_bad_host_and_port),
        cmocka_unit_test(test_tcp_connect_rejects_named_local_interface),
        cmocka_unit_test(test_tcp_ipv6_literal_needs_ipv4only_off),
        cmocka_unit_test(test_tcp_bind_on_busy_port_fails_with_eaddrinuse),
        cmocka_unit_test(test_tcp_connect_resolves_dns_name),
        cmocka_unit_test(test_tcp_connect_with_local_interface_literal),
        cmocka_unit_test(test_tcp_connect_before_bind_retries_until_binder_appears),
        cmocka_unit_test(test_tcp_nodelay_option_is_accepted),
        cmocka_unit_test(test_tcp_connector_reconnects_after_binder_restarts),
        cmocka_unit_test(test_tcp_reconnect_interval_grows_to_max),
        cmocka_unit_test(test_tcp_rcvmaxsize_drops_connection_on_oversize_message),
        cmocka_unit_test(test_tcp_default_rcvmaxsize_is_one_mebibyte),
        cmocka_unit_test(test_tcp_rcvmaxsize_minus_one_is_unlimited),
        cmocka_unit_test(test_tcp_rcvmaxsize_zero_allows_only_empty_messages),
        cmocka_unit_test(test_tcp_binder_counts_rejected_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
