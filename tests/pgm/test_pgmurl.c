/* pgm:// and epgm:// addresses (transports/pgm/pgmurl.c): "INTERFACE;
   GROUP:PORT" with INTERFACE a numeric address, a network or an interface
   name, GROUP a numeric multicast address, PORT 1..65535. Syntax errors are
   EINVAL, an interface that names nothing on this host is ENODEV, and no
   name ever goes to DNS. Resolution is tested against made-up interface
   lists (deterministic) and against the host's loopback interface. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
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
#include "pgm/pgmurl.h"

static int parse(const char *addr)
{
    struct sp_pgmurl u;
    return sp_pgmurl_parse(&u, true, addr);
}

static uint32_t ip(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

static void test_pgmurl_parses_address_group_and_port(void **state)
{
    (void) state;
    struct sp_pgmurl u;
    assert_int_equal(sp_pgmurl_parse(&u, true, "10.0.0.1;239.192.1.1:5555"), 0);
    assert_true(u.udp);
    assert_int_equal(u.kind, SP_PGMURL_IF_ADDR);
    assert_int_equal(u.net.s_addr, ip("10.0.0.1"));
    assert_int_equal(u.group.s_addr, ip("239.192.1.1"));
    assert_int_equal(u.port, 5555);
    assert_int_equal(sp_pgmurl_parse(&u, false, "127.0.0.1;224.0.0.1:1"), 0);
    assert_false(u.udp);
    assert_int_equal(u.port, 1);
    assert_int_equal(sp_pgmurl_parse(&u, false, "127.0.0.1;239.255.255.255:65535"), 0);
    assert_int_equal(u.port, 65535);
}

static void test_pgmurl_parses_a_network_as_interface(void **state)
{
    (void) state;
    struct sp_pgmurl u;
    assert_int_equal(sp_pgmurl_parse(&u, true, "10.0.0.0/24;239.1.2.3:7000"), 0);
    assert_int_equal(u.kind, SP_PGMURL_IF_NET);
    assert_int_equal(u.net.s_addr, ip("10.0.0.0"));
    assert_int_equal(u.prefix, 24);
    assert_int_equal(sp_pgmurl_parse(&u, true, "0.0.0.0/0;239.1.2.3:7000"), 0);
    assert_int_equal(u.prefix, 0);
    assert_int_equal(sp_pgmurl_parse(&u, true, "10.1.2.3/32;239.1.2.3:7000"), 0);
    assert_int_equal(u.prefix, 32);
}

static void test_pgmurl_parses_an_interface_name_without_resolving_it(void **state)
{
    (void) state;
    struct sp_pgmurl u;
    assert_int_equal(sp_pgmurl_parse(&u, true, "eth0;239.1.2.3:7000"), 0);
    assert_int_equal(u.kind, SP_PGMURL_IF_NAME);
    assert_string_equal(u.name, "eth0");
    /* 15 bytes is the longest Linux interface name. */
    assert_int_equal(sp_pgmurl_parse(&u, true, "abcdefghijklmno;239.1.2.3:7000"), 0);
    assert_int_equal(parse("abcdefghijklmnop;239.1.2.3:7000"), -EINVAL);
}

static void test_pgmurl_missing_interface_is_einval(void **state)
{
    (void) state;
    /* OpenPGM's pgm_connect asserts on these: they must never reach it. */
    assert_int_equal(parse(";239.1.2.3:7000"), -EINVAL);
    assert_int_equal(parse("239.1.2.3:7000"), -EINVAL);
    assert_int_equal(parse(""), -EINVAL);
    assert_int_equal(parse(";"), -EINVAL);
}

static void test_pgmurl_group_must_be_a_numeric_multicast_address(void **state)
{
    (void) state;
    const char *bad[] = {
        "10.0.0.1;10.0.0.2:7000",       /* unicast */
        "10.0.0.1;223.255.255.255:7000", /* just below 224/4 */
        "10.0.0.1;240.0.0.1:7000",      /* just above */
        "10.0.0.1;255.255.255.255:7000",
        "10.0.0.1;239.1.1:7000",        /* not a dotted quad */
        "10.0.0.1;239.1.1.256:7000",
        "10.0.0.1;mcast.example.com:7000", /* names are never resolved */
        "10.0.0.1;:7000",
        "10.0.0.1;[ff02::1]:7000",      /* IPv6 is not supported */
        "10.0.0.1;ff02::1:7000",
        "10.0.0.1;239.1.1.1;239.1.1.2:7000",
        "10.0.0.1; 239.1.1.1:7000",
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++)
        if (parse(bad[i]) != -EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
}

static void test_pgmurl_port_must_be_1_to_65535(void **state)
{
    (void) state;
    const char *bad[] = {
        "10.0.0.1;239.1.1.1",       "10.0.0.1;239.1.1.1:",      "10.0.0.1;239.1.1.1:0",
        "10.0.0.1;239.1.1.1:65536", "10.0.0.1;239.1.1.1:-1",    "10.0.0.1;239.1.1.1:x",
        "10.0.0.1;239.1.1.1:80 ",   "10.0.0.1;239.1.1.1:80/x",  "10.0.0.1;239.1.1.1:0x50",
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++)
        if (parse(bad[i]) != -EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
}

static void test_pgmurl_bad_interface_syntax_is_einval(void **state)
{
    (void) state;
    const char *bad[] = {
        "10.0.0.256;239.1.1.1:7000", /* looks like an address, is not one */
        "10.0.0;239.1.1.1:7000",
        "10.0.0.0/33;239.1.1.1:7000",
        "10.0.0.0/;239.1.1.1:7000",
        "10.0.0.0/-1;239.1.1.1:7000",
        "10.0.0.0/2.4;239.1.1.1:7000",
        "10.0.0.0/124;239.1.1.1:7000",
        "10.0.0/8;239.1.1.1:7000",
        "eth0/24;239.1.1.1:7000",
        "::1;239.1.1.1:7000",        /* IPv6 is not supported */
        "fe80::1;239.1.1.1:7000",
        "eth 0;239.1.1.1:7000",
        "a/b;239.1.1.1:7000",
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++)
        if (parse(bad[i]) != -EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
}

/* ---- resolution against a made-up interface list ---- */

struct fake_if {
    struct ifaddrs ifa;
    struct sockaddr_in sin;
};

/* Links n entries named names[i] with IPv4 addresses addrs[i] (NULL: an
   AF_INET6 entry). The names must exist on the host for their index:
   "lo" always does. */
static void fake_list(struct fake_if *f, size_t n, const char *const *names, const char *const *addrs)
{
    memset(f, 0, n * sizeof *f);
    for (size_t i = 0; i < n; i++) {
        f[i].ifa.ifa_name = (char *) names[i];
        f[i].ifa.ifa_next = i + 1 < n ? &f[i + 1].ifa : NULL;
        f[i].ifa.ifa_addr = (struct sockaddr *) &f[i].sin;
        if (addrs[i]) {
            f[i].sin.sin_family = AF_INET;
            f[i].sin.sin_addr.s_addr = ip(addrs[i]);
        } else {
            f[i].sin.sin_family = AF_INET6;
        }
    }
}

static int resolve_in(const char *addr, const struct ifaddrs *ifs, struct sp_pgmurl *u)
{
    int rc = sp_pgmurl_parse(u, true, addr);
    assert_int_equal(rc, 0);
    return sp_pgmurl_resolve(u, ifs);
}

static void test_pgmurl_address_resolves_to_the_interface_that_has_it(void **state)
{
    (void) state;
    const char *names[] = {"lo", "lo", "lo:7"};
    const char *addrs[] = {NULL, "10.9.8.7", "10.9.8.8"};
    struct fake_if f[3];
    fake_list(f, 3, names, addrs);
    struct sp_pgmurl u;
    unsigned lo = if_nametoindex("lo");
    assert_true(lo > 0);
    assert_int_equal(resolve_in("10.9.8.7;239.1.1.1:7000", &f[0].ifa, &u), 0);
    assert_int_equal(u.ifindex, lo);
    assert_int_equal(u.ifaddr.s_addr, ip("10.9.8.7"));
    /* An address with a label belongs to the device before the colon. */
    assert_int_equal(resolve_in("10.9.8.8;239.1.1.1:7000", &f[0].ifa, &u), 0);
    assert_int_equal(u.ifindex, lo);
    assert_int_equal(resolve_in("10.9.8.9;239.1.1.1:7000", &f[0].ifa, &u), -ENODEV);
}

static void test_pgmurl_network_resolves_to_the_first_address_in_it(void **state)
{
    (void) state;
    const char *names[] = {"lo", "lo", "lo"};
    const char *addrs[] = {"192.168.1.10", "10.20.30.40", "10.20.31.1"};
    struct fake_if f[3];
    fake_list(f, 3, names, addrs);
    struct sp_pgmurl u;
    assert_int_equal(resolve_in("10.20.0.0/16;239.1.1.1:7000", &f[0].ifa, &u), 0);
    assert_int_equal(u.ifaddr.s_addr, ip("10.20.30.40"));
    assert_int_equal(resolve_in("10.20.31.0/24;239.1.1.1:7000", &f[0].ifa, &u), 0);
    assert_int_equal(u.ifaddr.s_addr, ip("10.20.31.1"));
    /* Host bits in the network address do not matter. */
    assert_int_equal(resolve_in("10.20.31.77/24;239.1.1.1:7000", &f[0].ifa, &u), 0);
    assert_int_equal(u.ifaddr.s_addr, ip("10.20.31.1"));
    assert_int_equal(resolve_in("0.0.0.0/0;239.1.1.1:7000", &f[0].ifa, &u), 0);
    assert_int_equal(u.ifaddr.s_addr, ip("192.168.1.10"));
    assert_int_equal(resolve_in("10.21.0.0/16;239.1.1.1:7000", &f[0].ifa, &u), -ENODEV);
}

static void test_pgmurl_name_resolves_to_its_ipv4_address(void **state)
{
    (void) state;
    const char *names[] = {"lo", "lo"};
    const char *addrs[] = {NULL, "10.1.1.1"};
    struct fake_if f[2];
    fake_list(f, 2, names, addrs);
    struct sp_pgmurl u;
    assert_int_equal(resolve_in("lo;239.1.1.1:7000", &f[0].ifa, &u), 0);
    assert_int_equal(u.ifaddr.s_addr, ip("10.1.1.1"));
    /* An interface with no IPv4 address names nothing PGM can use. */
    f[1].sin.sin_family = AF_INET6;
    assert_int_equal(resolve_in("lo;239.1.1.1:7000", &f[0].ifa, &u), -ENODEV);
    assert_int_equal(resolve_in("eth0;239.1.1.1:7000", &f[0].ifa, &u), -ENODEV);
}

static void test_pgmurl_host_names_are_enodev_not_looked_up(void **state)
{
    (void) state;
    /* A name that is not an interface of this host is not tried as a host
       name (OpenPGM would, and block on DNS). */
    struct sp_pgmurl u;
    assert_int_equal(resolve_in("localhost;239.1.1.1:7000", NULL, &u), -ENODEV);
    assert_int_equal(resolve_in("nanosp-none9;239.1.1.1:7000", NULL, &u), -ENODEV);
}

static void test_pgmurl_host_loopback_resolves(void **state)
{
    (void) state;
    /* The host's own list: lo with 127.0.0.1 is in every namespace that has
       lo up, as the test environment has. */
    struct sp_pgmurl u;
    assert_int_equal(resolve_in("127.0.0.1;239.1.1.1:7000", NULL, &u), 0);
    assert_int_equal(u.ifindex, if_nametoindex("lo"));
    assert_int_equal(resolve_in("127.0.0.0/8;239.1.1.1:7000", NULL, &u), 0);
    assert_int_equal(u.ifindex, if_nametoindex("lo"));
    assert_int_equal(resolve_in("lo;239.1.1.1:7000", NULL, &u), 0);
    assert_int_equal(u.ifaddr.s_addr, ip("127.0.0.1"));
    /* TEST-NET-1: assigned to nobody. */
    assert_int_equal(resolve_in("192.0.2.77;239.1.1.1:7000", NULL, &u), -ENODEV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgmurl_parses_address_group_and_port),
        cmocka_unit_test(test_pgmurl_parses_a_network_as_interface),
        cmocka_unit_test(test_pgmurl_parses_an_interface_name_without_resolving_it),
        cmocka_unit_test(test_pgmurl_missing_interface_is_einval),
        cmocka_unit_test(test_pgmurl_group_must_be_a_numeric_multicast_address),
        cmocka_unit_test(test_pgmurl_port_must_be_1_to_65535),
        cmocka_unit_test(test_pgmurl_bad_interface_syntax_is_einval),
        cmocka_unit_test(test_pgmurl_address_resolves_to_the_interface_that_has_it),
        cmocka_unit_test(test_pgmurl_network_resolves_to_the_first_address_in_it),
        cmocka_unit_test(test_pgmurl_name_resolves_to_its_ipv4_address),
        cmocka_unit_test(test_pgmurl_host_names_are_enodev_not_looked_up),
        cmocka_unit_test(test_pgmurl_host_loopback_resolves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
