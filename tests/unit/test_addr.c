/* Address parsing for tcp and ws (SPEC §4.15): ports are decimal 1..65535,
   a local interface is "*" or a numeric literal (names -> ENODEV), a remote
   host is a literal or a syntactically valid DNS name (else EINVAL). IPv6
   only when NN_IPV4ONLY is off; brackets allowed. Cases marked [libnanomsg]
   were checked against the installed libnanomsg 1.1.5 through nn_connect. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "utils/addr.h"

static int port_of(const char *s)
{
    int port = -12345;
    int rc = sp_addr_port(s, strlen(s), &port);
    return rc < 0 ? rc : port;
}

static void test_addr_port_accepts_decimal_1_through_65535(void **state)
{
    (void) state;
    assert_int_equal(port_of("1"), 1);
    assert_int_equal(port_of("80"), 80);
    assert_int_equal(port_of("5555"), 5555);
    assert_int_equal(port_of("65535"), 65535);
}

static void test_addr_port_rejects_zero_overflow_and_non_digits_with_einval(void **state)
{
    (void) state;
    const char *bad[] = {"", "0", "00000", "65536", "99999", "100000", "4294967297",
                         "-1", "+80", " 80", "80 ", "8o", "0x50", "80/", "1.5", ":80"};
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        int port = -12345;
        if (sp_addr_port(bad[i], strlen(bad[i]), &port) != -EINVAL)
            fail_msg("port \"%s\" accepted", bad[i]);
        assert_int_equal(port, -12345); /* untouched */
    }
}

static void test_addr_port_reads_only_len_bytes(void **state)
{
    (void) state;
    int port = 0;
    assert_int_equal(sp_addr_port("5555x", 4, &port), 0);
    assert_int_equal(port, 5555);
}

static void test_addr_port_with_leading_zeros_is_accepted_like_libnanomsg(void **state)
{
    (void) state;
    /* [libnanomsg] tcp://127.0.0.1:000080 and :0000065535 connect (rc 1):
       nn_port_resolve has no length limit, only digits and value 1..65535. */
    assert_int_equal(port_of("080"), 80);
    assert_int_equal(port_of("000080"), 80);
    assert_int_equal(port_of("0000065535"), 65535);
    assert_int_equal(port_of("0000000000"), -EINVAL);
    assert_int_equal(port_of("0000065536"), -EINVAL);
}

static int iface(const char *s, bool ipv4only, struct sockaddr_storage *ss)
{
    socklen_t len = 0;
    int rc = sp_addr_iface(s, strlen(s), ipv4only, ss, &len);
    if (rc == 0) {
        if (ss->ss_family == AF_INET)
            assert_int_equal(len, sizeof(struct sockaddr_in));
        else if (ss->ss_family == AF_INET6)
            assert_int_equal(len, sizeof(struct sockaddr_in6));
        else
            fail_msg("iface \"%s\": family %d", s, ss->ss_family);
    }
    return rc;
}

static void test_addr_iface_star_is_any_address_of_the_enabled_families(void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    assert_int_equal(iface("*", true, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    const struct sockaddr_in *in4 = (const struct sockaddr_in *) &ss;
    assert_int_equal(in4->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(in4->sin_port, 0);
    assert_int_equal(iface("*", false, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &ss;
    assert_memory_equal(&in6->sin6_addr, &in6addr_any, sizeof in6addr_any);
    assert_int_equal(in6->sin6_port, 0);
}

static void test_addr_iface_accepts_numeric_ipv4_literal(void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    assert_int_equal(iface("127.0.0.1", true, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    const struct sockaddr_in *in4 = (const struct sockaddr_in *) &ss;
    assert_int_equal(in4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(iface("0.0.0.0", true, &ss), 0);
    assert_int_equal(iface("127.0.0.1", false, &ss), 0);
}

static void test_addr_iface_accepts_ipv6_literal_only_without_ipv4only(void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    assert_int_equal(iface("::1", true, &ss), -ENODEV);
    assert_int_equal(iface("[::1]", true, &ss), -ENODEV);
    assert_int_equal(iface("::1", false, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &ss;
    assert_memory_equal(&in6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback);
    assert_int_equal(iface("[::1]", false, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(iface("[fe80::1:2]", false, &ss), 0);
}

static void test_addr_iface_rejects_names_with_enodev(void **state)
{
    (void) state;
    /* [libnanomsg] tcp://lo:5, tcp://eth0;host:5, tcp://:5 -> ENODEV. */
    const char *names[] = {"lo", "eth0", "localhost", "example.com", "", "**", "* ", "[]",
                           "[127.0.0.1", "127.0.0.1]", "127.0.0.256", "1.2.3", "[::1"};
    struct sockaddr_storage ss;
    for (size_t i = 0; i < TU_ARRAY_LEN(names); i++) {
        if (iface(names[i], false, &ss) != -ENODEV)
            fail_msg("iface \"%s\" not ENODEV", names[i]);
        if (iface(names[i], true, &ss) != -ENODEV)
            fail_msg("iface \"%s\" not ENODEV with ipv4only", names[i]);
    }
}

static void test_addr_iface_reads_only_len_bytes(void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(sp_addr_iface("*:5555", 1, true, &ss, &len), 0);
    assert_int_equal(sp_addr_iface("127.0.0.1:5555", 9, true, &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);
}

static int host(const char *s, bool ipv4only, bool *lit, struct sockaddr_storage *ss)
{
    socklen_t len = 0;
    *lit = false;
    return sp_addr_host(s, strlen(s), ipv4only, lit, ss, &len);
}

static void test_addr_host_literal_is_resolved_in_place(void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    bool lit;
    assert_int_equal(host("127.0.0.1", true, &lit, &ss), 0);
    assert_true(lit);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(host("[127.0.0.1]", true, &lit, &ss), 0);
    assert_true(lit);
    assert_int_equal(host("::1", false, &lit, &ss), 0);
    assert_true(lit);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(host("[::1]", false, &lit, &ss), 0);
    assert_true(lit);
    assert_int_equal(ss.ss_family, AF_INET6);
}

static void test_addr_host_ipv6_literal_with_ipv4only_fails_with_einval(void **state)
{
    (void) state;
    /* [libnanomsg] tcp://[::1]:80 with the default NN_IPV4ONLY -> EINVAL. */
    struct sockaddr_storage ss;
    bool lit;
    assert_int_equal(host("[::1]", true, &lit, &ss), -EINVAL);
    assert_int_equal(host("::1", true, &lit, &ss), -EINVAL);
}

static void test_addr_host_accepts_dns_names_for_later_resolution(void **state)
{
    (void) state;
    char l63[64];
    memset(l63, 'a', 63);
    l63[63] = 0;
    char n255[256]; /* four labels of 63 and three dots */
    snprintf(n255, sizeof n255, "%s.%s.%s.%s", l63, l63, l63, l63);
    assert_int_equal(strlen(n255), 255);
    /* [libnanomsg] a-, a-b, a.-b, 1, 1.2.3.4.5, A.B, 0x7f.1 all connect. */
    const char *good[] = {"localhost", "example.com", "A.B", "a-", "a-b", "a.-b", "x1.y2.z3",
                          "1", "1.2.3", "1.2.3.4.5", "0x7f.1", l63, n255};
    struct sockaddr_storage ss;
    for (size_t i = 0; i < TU_ARRAY_LEN(good); i++) {
        bool lit = true;
        if (host(good[i], true, &lit, &ss) != 0)
            fail_msg("host \"%.20s\" (len %zu) rejected", good[i], strlen(good[i]));
        assert_false(lit);
    }
}

static void test_addr_host_rejects_bad_dns_names_with_einval(void **state)
{
    (void) state;
    char l64[65];
    memset(l64, 'a', 64);
    l64[64] = 0;
    char n256[300];
    memset(n256, 'b', 256);
    for (int i = 60; i < 256; i += 61)
        n256[i] = '.';
    n256[256] = 0;
    /* [libnanomsg] a_b, -a, .a, a..b, "a b", a%b, [a], "" -> EINVAL. */
    const char *bad[] = {"", "a_b", "_a", "-a", "-", ".a", ".", "a..b", "a b", "a%b", "[a]",
                         "a:b", "a/b", "é", l64, n256};
    struct sockaddr_storage ss;
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        bool lit;
        if (host(bad[i], true, &lit, &ss) != -EINVAL)
            fail_msg("host \"%.20s\" (len %zu) not EINVAL", bad[i], strlen(bad[i]));
        if (host(bad[i], false, &lit, &ss) != -EINVAL)
            fail_msg("host \"%.20s\" (len %zu) not EINVAL with ipv6", bad[i], strlen(bad[i]));
    }
}

static void test_addr_host_with_trailing_dot_is_accepted_like_libnanomsg(void **state)
{
    (void) state;
    /* [libnanomsg] tcp://a.:5 and tcp://a.b.:5 connect (rc 1): a fully
       qualified name ending in a dot is valid there. */
    struct sockaddr_storage ss;
    bool lit = true;
    assert_int_equal(host("a.", true, &lit, &ss), 0);
    assert_false(lit);
    assert_int_equal(host("example.com.", true, &lit, &ss), 0);
    assert_false(lit);
}

static void test_addr_set_port_sets_network_order_port_of_either_family(void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    assert_int_equal(iface("127.0.0.1", true, &ss), 0);
    sp_addr_set_port(&ss, 5555);
    assert_int_equal(((struct sockaddr_in *) &ss)->sin_port, htons(5555));
    assert_int_equal(iface("::1", false, &ss), 0);
    sp_addr_set_port(&ss, 65535);
    assert_int_equal(((struct sockaddr_in6 *) &ss)->sin6_port, htons(65535));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_port_accepts_decimal_1_through_65535),
        cmocka_unit_test(test_addr_port_rejects_zero_overflow_and_non_digits_with_einval),
        cmocka_unit_test(test_addr_port_reads_only_len_bytes),
        cmocka_unit_test(test_addr_port_with_leading_zeros_is_accepted_like_libnanomsg),
        cmocka_unit_test(test_addr_iface_star_is_any_address_of_the_enabled_families),
        cmocka_unit_test(test_addr_iface_accepts_numeric_ipv4_literal),
        cmocka_unit_test(test_addr_iface_accepts_ipv6_literal_only_without_ipv4only),
        cmocka_unit_test(test_addr_iface_rejects_names_with_enodev),
        cmocka_unit_test(test_addr_iface_reads_only_len_bytes),
        cmocka_unit_test(test_addr_host_literal_is_resolved_in_place),
        cmocka_unit_test(test_addr_host_ipv6_literal_with_ipv4only_fails_with_einval),
        cmocka_unit_test(test_addr_host_accepts_dns_names_for_later_resolution),
        cmocka_unit_test(test_addr_host_rejects_bad_dns_names_with_einval),
        cmocka_unit_test(test_addr_host_with_trailing_dot_is_accepted_like_libnanomsg),
        cmocka_unit_test(test_addr_set_port_sets_network_order_port_of_either_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
