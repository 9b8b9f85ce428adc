/* nn_setsockopt / nn_getsockopt: defaults, validation and errno of every
   NN_SOL_SOCKET option, the size and pointer rules, and the transport- and
   protocol-level option namespaces as seen on PAIR / PUSH / PULL sockets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>
#ifndef AGAINST_LIBNANOMSG
#include <nanomsg/keepalive.h>
#endif

#include "testutil.h"

struct int_default {
    int option;
    const char *name;
    int value;
};

static const struct int_default sol_defaults[] = {
    {NN_LINGER, "NN_LINGER", 0},
    {NN_SNDBUF, "NN_SNDBUF", 131072},
    {NN_RCVBUF, "NN_RCVBUF", 131072},
    {NN_SNDTIMEO, "NN_SNDTIMEO", -1},
    {NN_RCVTIMEO, "NN_RCVTIMEO", -1},
    {NN_RECONNECT_IVL, "NN_RECONNECT_IVL", 100},
    {NN_RECONNECT_IVL_MAX, "NN_RECONNECT_IVL_MAX", 0},
    {NN_SNDPRIO, "NN_SNDPRIO", 8},
    {NN_RCVPRIO, "NN_RCVPRIO", 8},
    {NN_IPV4ONLY, "NN_IPV4ONLY", 1},
    {NN_RCVMAXSIZE, "NN_RCVMAXSIZE", 1048576},
    {NN_MAXTTL, "NN_MAXTTL", 8},
};

static void check_defaults(int s)
{
    for (size_t i = 0; i < sizeof sol_defaults / sizeof sol_defaults[0]; i++) {
        int got = tu_getint(s, NN_SOL_SOCKET, sol_defaults[i].option);
        if (got != sol_defaults[i].value) {
            print_error("%s: got %d, want %d\n", sol_defaults[i].name, got,
                        sol_defaults[i].value);
            fail();
        }
    }
}

static void test_socket_options_have_documented_defaults(void **state)
{
    (void) state;
    int protos[] = {NN_PAIR, NN_PUSH, NN_PULL};
    for (size_t i = 0; i < 3; i++) {
        int s = tu_socket_default(AF_SP, protos[i]);
        int r = tu_socket_default(AF_SP_RAW, protos[i]);
        check_defaults(s);
        check_defaults(r);
        assert_int_equal(nn_close(s), 0);
        assert_int_equal(nn_close(r), 0);
    }
}

struct int_rule {
    int option;
    const char *name;
    int value;
    int err; /* 0 = accepted */
};

static const struct int_rule sol_rules[] = {
    {NN_SNDBUF, "NN_SNDBUF", 0, EINVAL},
    {NN_SNDBUF, "NN_SNDBUF", -1, EINVAL},
    {NN_SNDBUF, "NN_SNDBUF", INT32_MIN, EINVAL},
    {NN_SNDBUF, "NN_SNDBUF", 1, 0},
    {NN_SNDBUF, "NN_SNDBUF", INT32_MAX, 0},
    {NN_RCVBUF, "NN_RCVBUF", 0, EINVAL},
    {NN_RCVBUF, "NN_RCVBUF", -1, EINVAL},
    {NN_RCVBUF, "NN_RCVBUF", 1, 0},
    {NN_RCVBUF, "NN_RCVBUF", 1000000, 0},
    {NN_SNDTIMEO, "NN_SNDTIMEO", INT32_MIN, 0},
    {NN_SNDTIMEO, "NN_SNDTIMEO", -5, 0},
    {NN_SNDTIMEO, "NN_SNDTIMEO", 0, 0},
    {NN_SNDTIMEO, "NN_SNDTIMEO", INT32_MAX, 0},
    {NN_RCVTIMEO, "NN_RCVTIMEO", -5, 0},
    {NN_RCVTIMEO, "NN_RCVTIMEO", 0, 0},
    {NN_RCVTIMEO, "NN_RCVTIMEO", 12345, 0},
    {NN_RECONNECT_IVL, "NN_RECONNECT_IVL", -1, EINVAL},
    {NN_RECONNECT_IVL, "NN_RECONNECT_IVL", INT32_MIN, EINVAL},
    {NN_RECONNECT_IVL, "NN_RECONNECT_IVL", 0, 0},
    {NN_RECONNECT_IVL, "NN_RECONNECT_IVL", 5000, 0},
    {NN_RECONNECT_IVL_MAX, "NN_RECONNECT_IVL_MAX", -1, EINVAL},
    {NN_RECONNECT_IVL_MAX, "NN_RECONNECT_IVL_MAX", 0, 0},
    {NN_RECONNECT_IVL_MAX, "NN_RECONNECT_IVL_MAX", 60000, 0},
    {NN_SNDPRIO, "NN_SNDPRIO", 0, EINVAL},
    {NN_SNDPRIO, "NN_SNDPRIO", 17, EINVAL},
    {NN_SNDPRIO, "NN_SNDPRIO", -1, EINVAL},
    {NN_SNDPRIO, "NN_SNDPRIO", 1, 0},
    {NN_SNDPRIO, "NN_SNDPRIO", 16, 0},
    {NN_RCVPRIO, "NN_RCVPRIO", 0, EINVAL},
    {NN_RCVPRIO, "NN_RCVPRIO", 17, EINVAL},
    {NN_RCVPRIO, "NN_RCVPRIO", 1, 0},
    {NN_RCVPRIO, "NN_RCVPRIO", 16, 0},
    {NN_IPV4ONLY, "NN_IPV4ONLY", 2, EINVAL},
    {NN_IPV4ONLY, "NN_IPV4ONLY", -1, EINVAL},
    {NN_IPV4ONLY, "NN_IPV4ONLY", 0, 0},
    {NN_IPV4ONLY, "NN_IPV4ONLY", 1, 0},
    {NN_RCVMAXSIZE, "NN_RCVMAXSIZE", -2, EINVAL},
    {NN_RCVMAXSIZE, "NN_RCVMAXSIZE", INT32_MIN, EINVAL},
    {NN_RCVMAXSIZE, "NN_RCVMAXSIZE", -1, 0},
    {NN_RCVMAXSIZE, "NN_RCVMAXSIZE", 0, 0},
    {NN_RCVMAXSIZE, "NN_RCVMAXSIZE", INT32_MAX, 0},
    {NN_MAXTTL, "NN_MAXTTL", 0, EINVAL},
    {NN_MAXTTL, "NN_MAXTTL", 256, EINVAL},
    {NN_MAXTTL, "NN_MAXTTL", -1, EINVAL},
    {NN_MAXTTL, "NN_MAXTTL", 1, 0},
    {NN_MAXTTL, "NN_MAXTTL", 255, 0},
};

static void test_int_options_accept_valid_values_and_read_them_back(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    for (size_t i = 0; i < sizeof sol_rules / sizeof sol_rules[0]; i++) {
        const struct int_rule *r = &sol_rules[i];
        if (r->err)
            continue;
        int v = r->value;
        if (nn_setsockopt(s, NN_SOL_SOCKET, r->option, &v, sizeof v) != 0) {
            print_error("%s=%d rejected: %s\n", r->name, v, nn_strerror(nn_errno()));
            fail();
        }
        int got = tu_getint(s, NN_SOL_SOCKET, r->option);
        if (got != v) {
            print_error("%s: set %d, read back %d\n", r->name, v, got);
            fail();
        }
    }
}

static void test_int_options_reject_out_of_range_values_with_einval(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    for (size_t i = 0; i < sizeof sol_rules / sizeof sol_rules[0]; i++) {
        const struct int_rule *r = &sol_rules[i];
        if (!r->err)
            continue;
        int before = tu_getint(s, NN_SOL_SOCKET, r->option);
        int v = r->value;
        errno = 0;
        int rc = nn_setsockopt(s, NN_SOL_SOCKET, r->option, &v, sizeof v);
        if (rc != -1 || nn_errno() != r->err) {
            print_error("%s=%d: rc=%d errno=%d (%s), want EINVAL\n", r->name, v, rc,
                        nn_errno(), nn_strerror(nn_errno()));
            fail();
        }
        /* A rejected value leaves the option unchanged. */
        assert_int_equal(tu_getint(s, NN_SOL_SOCKET, r->option), before);
    }
}

/* Any value is accepted. libnanomsg ignores it and always reads 0; nanosp
   implements it (transport-linger) and reads back what was set. Both read 0
   before it is set. */
static void test_linger_accepts_any_value_and_reads_back_what_was_set(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int vals[] = {1000, -1, 0, INT32_MAX, INT32_MIN};
    assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_LINGER), 0);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        tu_setint(s, NN_SOL_SOCKET, NN_LINGER, vals[i]);
#ifdef AGAINST_LIBNANOMSG
        assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_LINGER), 0);
#else
        assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_LINGER), vals[i]);
#endif
    }
}

static void test_int_option_with_wrong_size_fails_with_einval(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int64_t big = 1000;
    char small = 1;
    int opts[] = {NN_LINGER, NN_SNDBUF, NN_RCVBUF, NN_SNDTIMEO, NN_RCVTIMEO,
                  NN_RECONNECT_IVL, NN_RECONNECT_IVL_MAX, NN_SNDPRIO, NN_RCVPRIO,
                  NN_IPV4ONLY, NN_RCVMAXSIZE, NN_MAXTTL};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, opts[i], &big, sizeof big), EINVAL);
        assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, opts[i], &small, sizeof small), EINVAL);
        assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, opts[i], &big, 0), EINVAL);
    }
    check_defaults(s);
}

static void test_unknown_socket_option_fails_with_enoprotoopt_only_when_size_is_int(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int v = 1;
    char c = 1;
    int64_t big = 1;
    int unknown[] = {0, 18, 99, -1, 1000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, unknown[i], &v, sizeof v), ENOPROTOOPT);
        /* The size is checked before the option is looked up. */
        assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, unknown[i], &c, sizeof c), EINVAL);
        assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, unknown[i], &big, sizeof big), EINVAL);
    }
}

static void test_getsockopt_of_unknown_socket_option_fails_with_enoprotoopt(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int v;
    size_t sz = sizeof v;
    int unknown[] = {0, 18, 99, -1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        sz = sizeof v;
        assert_nn_fail(nn_getsockopt(s, NN_SOL_SOCKET, unknown[i], &v, &sz), ENOPROTOOPT);
    }
}

static void test_read_only_options_fail_to_set_with_enoprotoopt(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int v = 1;
    int ro[] = {NN_SNDFD, NN_RCVFD, NN_DOMAIN, NN_PROTOCOL};
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
        assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, ro[i], &v, sizeof v), ENOPROTOOPT);
    assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_DOMAIN), AF_SP);
    assert_int_equal(tu_getint(s, NN_SOL_SOCKET, NN_PROTOCOL), NN_PAIR);
}

static void test_getsockopt_truncates_to_optvallen_and_reports_int_size(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(s, NN_SOL_SOCKET, NN_SNDBUF, 0x01020304);

    unsigned char buf[16];
    size_t sz = 2;
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, buf, &sz), 0);
    assert_int_equal(sz, sizeof(int));
    int full = 0x01020304;
    assert_memory_equal(buf, &full, 2);
    assert_int_equal(buf[2], 0xee);
    assert_int_equal(buf[3], 0xee);

    /* Zero length: nothing is copied, the needed size is reported. */
    sz = 0;
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, buf, &sz), 0);
    assert_int_equal(sz, sizeof(int));
    assert_int_equal(buf[0], 0xee);

    /* A bigger buffer gets exactly one int. */
    sz = sizeof buf;
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, buf, &sz), 0);
    assert_int_equal(sz, sizeof(int));
    assert_memory_equal(buf, &full, sizeof full);
    assert_int_equal(buf[sizeof(int)], 0xee);
}

static void test_setsockopt_with_null_value_fails_with_efault(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, sizeof(int)), EFAULT);
    assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, NULL, 4), EFAULT);
    assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, 99, NULL, sizeof(int)), EFAULT);
    /* NULL with length 0 is not a fault: the int size check rejects it. */
    assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, 0), EINVAL);
}

static void test_getsockopt_with_null_value_fails_with_efault(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    size_t sz = sizeof(int);
    assert_nn_fail(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, &sz), EFAULT);
    assert_nn_fail(nn_getsockopt(s, NN_SOL_SOCKET, 99, NULL, &sz), EFAULT);
}

static void test_options_on_bad_socket_fail_with_ebadf(void **state)
{
    (void) state;
    int v = 1;
    size_t sz = sizeof v;
    assert_nn_fail(nn_setsockopt(-1, NN_SOL_SOCKET, NN_SNDBUF, &v, sizeof v), EBADF);
    assert_nn_fail(nn_getsockopt(-1, NN_SOL_SOCKET, NN_SNDBUF, &v, &sz), EBADF);
    assert_nn_fail(nn_setsockopt(0, NN_SOL_SOCKET, NN_SNDBUF, &v, sizeof v), EBADF);
    assert_nn_fail(nn_getsockopt(NN_MAX_SOCKETS, NN_SOL_SOCKET, NN_SNDBUF, &v, &sz), EBADF);
    /* The socket is looked up before the pointers are checked. */
    assert_nn_fail(nn_setsockopt(0, NN_SOL_SOCKET, NN_SNDBUF, NULL, sizeof v), EBADF);
    assert_nn_fail(nn_getsockopt(0, NN_SOL_SOCKET, NN_SNDBUF, NULL, &sz), EBADF);
}

static void get_name(int s, char *buf, size_t bufsz, size_t *len)
{
    memset(buf, 0xee, bufsz);
    *len = bufsz;
    assert_nn_ok(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, buf, len));
}

static void test_socket_name_defaults_to_the_socket_id(void **state)
{
    (void) state;
    char buf[64];
    size_t len;
    for (int i = 0; i < 12; i++)
        assert_int_equal(nn_socket(AF_SP, NN_PAIR), i);
    get_name(0, buf, sizeof buf, &len);
    assert_int_equal(len, 1);
    assert_string_equal(buf, "0");
    get_name(11, buf, sizeof buf, &len);
    assert_int_equal(len, 2);
    assert_string_equal(buf, "11");
}

static void test_socket_name_can_be_set_and_read_back(void **state)
{
    (void) state;
    char buf[128];
    size_t len;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "hello", 5));
    get_name(s, buf, sizeof buf, &len);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");
    /* Exactly optvallen bytes are taken, the rest of the string is ignored. */
    assert_nn_ok(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "abcdef", 3));
    get_name(s, buf, sizeof buf, &len);
    assert_int_equal(len, 3);
    assert_string_equal(buf, "abc");
    /* The empty name is allowed. */
    assert_nn_ok(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "", 0));
    get_name(s, buf, sizeof buf, &len);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
}

static void test_socket_name_of_63_bytes_is_accepted_and_64_fails_with_einval(void **state)
{
    (void) state;
    char name[128], buf[128];
    size_t len;
    memset(name, 'n', sizeof name);
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, 63));
    get_name(s, buf, sizeof buf, &len);
    assert_int_equal(len, 63);
    assert_int_equal(strlen(buf), 63);
    assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, 64), EINVAL);
    assert_nn_fail(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, 100), EINVAL);
    /* The failed attempts left the previous name. */
    get_name(s, buf, sizeof buf, &len);
    assert_int_equal(len, 63);
}

static void test_socket_name_read_into_short_buffer_is_truncated_and_reports_full_length(void **state)
{
    (void) state;
    char buf[16];
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_nn_ok(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "hello", 5));
    size_t len = 3;
    memset(buf, 0xee, sizeof buf);
    assert_nn_ok(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, buf, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hel", 3);
    assert_int_equal((unsigned char) buf[3], 0xee); /* no terminator written */
    /* Exactly the string length: no terminator either. */
    len = 5;
    memset(buf, 0xee, sizeof buf);
    assert_nn_ok(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, buf, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal((unsigned char) buf[5], 0xee);
}

static void test_tcp_nodelay_defaults_to_zero_and_accepts_only_zero_or_one(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_NODELAY), 0);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 1);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_NODELAY), 1);
    int v = 2;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof v), EINVAL);
    v = -1;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof v), EINVAL);
    char c = 0;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &c, sizeof c), EINVAL);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_NODELAY), 1);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 0);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_NODELAY), 0);
}

static void test_unknown_tcp_option_fails_with_enoprotoopt(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int v = 1;
    size_t sz = sizeof v;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, 2, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(s, NN_TCP, 2, &v, &sz), ENOPROTOOPT);
    assert_nn_fail(nn_setsockopt(s, NN_TCP, 0, &v, sizeof v), ENOPROTOOPT);
}

#ifdef AGAINST_LIBNANOMSG
/* nanosp's NN_TCP_KEEPALIVE (1001, <nanomsg/keepalive.h>) is free in
   libnanomsg's numbering. */
static void test_tcp_keepalive_number_is_unknown_to_libnanomsg(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int v = 1000;
    size_t sz = sizeof v;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, 1001, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(s, NN_TCP, 1001, &v, &sz), ENOPROTOOPT);
}
#else
static void test_tcp_keepalive_defaults_to_off_and_reads_back_any_non_negative_time(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_KEEPALIVE), 0);
    int vals[] = {30000, 1, INT32_MAX, 0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, vals[i]);
        assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_KEEPALIVE), vals[i]);
    }
    tu_setint(s, NN_TCP, NN_TCP_KEEPALIVE, 5000);
    int v = -1;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, NN_TCP_KEEPALIVE, &v, sizeof v), EINVAL);
    v = INT32_MIN;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, NN_TCP_KEEPALIVE, &v, sizeof v), EINVAL);
    char c = 1;
    assert_nn_fail(nn_setsockopt(s, NN_TCP, NN_TCP_KEEPALIVE, &c, sizeof c), EINVAL);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_KEEPALIVE), 5000);
    /* The two options of the level are independent. */
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_NODELAY), 0);
    tu_setint(s, NN_TCP, NN_TCP_NODELAY, 1);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_KEEPALIVE), 5000);
}
#endif

static void test_tcp_and_ws_options_of_the_wrong_size_fail_with_einval_before_the_option_is_looked_up(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    char c = 1;
    int wide[2] = {1, 0};
    assert_nn_fail(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, wide, sizeof wide), EINVAL);
    assert_nn_fail(nn_setsockopt(s, NN_TCP, 99, &c, 1), EINVAL);
    assert_nn_fail(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &c, 1), EINVAL);
    assert_nn_fail(nn_setsockopt(s, NN_WS, 99, wide, sizeof wide), EINVAL);
    assert_int_equal(tu_getint(s, NN_TCP, NN_TCP_NODELAY), 0);
}

static void test_ipc_buffer_options_default_to_4096_and_can_be_set(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_OUTBUFSZ), 4096);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_INBUFSZ), 4096);
    tu_setint(s, NN_IPC, NN_IPC_OUTBUFSZ, 8192);
    tu_setint(s, NN_IPC, NN_IPC_INBUFSZ, 16384);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_OUTBUFSZ), 8192);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_INBUFSZ), 16384);
    int v = 1;
    size_t sz = sizeof v;
    assert_nn_fail(nn_setsockopt(s, NN_IPC, 4, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(s, NN_IPC, 4, &v, &sz), ENOPROTOOPT);
}

/* libnanomsg keeps them for Windows' named pipes only: elsewhere any int is
   stored as given (zero, negative), from the first sizeof(int) bytes of a
   longer value; a value shorter than an int is EINVAL, before the option is
   even looked up. */
static void test_ipc_buffer_options_store_any_int_as_libnanomsg_does(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(s, NN_IPC, NN_IPC_OUTBUFSZ, -5);
    tu_setint(s, NN_IPC, NN_IPC_INBUFSZ, 0);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_OUTBUFSZ), -5);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_INBUFSZ), 0);
    int wide[2] = {8192, 77};
    assert_int_equal(nn_setsockopt(s, NN_IPC, NN_IPC_OUTBUFSZ, wide, sizeof wide), 0);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_OUTBUFSZ), 8192);
    char c = 1;
    assert_nn_fail(nn_setsockopt(s, NN_IPC, NN_IPC_INBUFSZ, &c, 1), EINVAL);
    assert_nn_fail(nn_setsockopt(s, NN_IPC, 4, &c, 1), EINVAL);
    assert_int_equal(tu_getint(s, NN_IPC, NN_IPC_INBUFSZ), 0);
}

static void test_inproc_level_options_fail_with_enoprotoopt(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int v = 1;
    size_t sz = sizeof v;
    assert_nn_fail(nn_setsockopt(s, NN_INPROC, 1, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(s, NN_INPROC, 1, &v, &sz), ENOPROTOOPT);
}

static void test_unknown_transport_level_fails_with_enoprotoopt(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    int v = 1;
    size_t sz = sizeof v;
    /* -5 and -6 are nanosp's NN_TLS and NN_PGM levels (<nanomsg/tls.h>,
       <nanomsg/pgm.h>); libnanomsg has neither. */
#ifdef AGAINST_LIBNANOMSG
    int levels[] = {-5, -6, -100, INT32_MIN};
#else
    int levels[] = {-7, -100, INT32_MIN};
#endif
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        sz = sizeof v;
        assert_nn_fail(nn_setsockopt(s, levels[i], 1, &v, sizeof v), ENOPROTOOPT);
        assert_nn_fail(nn_getsockopt(s, levels[i], 1, &v, &sz), ENOPROTOOPT);
    }
}

static void test_protocol_level_options_on_pair_and_pipeline_fail_with_enoprotoopt(void **state)
{
    (void) state;
    int v = 1;
    size_t sz = sizeof v;
    int pair = tu_socket_default(AF_SP, NN_PAIR);
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP_RAW, NN_PULL);
    assert_nn_fail(nn_setsockopt(pair, NN_PAIR, 1, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(pair, NN_PAIR, 1, &v, &sz), ENOPROTOOPT);
    assert_nn_fail(nn_setsockopt(push, NN_PUSH, 1, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(push, NN_PUSH, 1, &v, &sz), ENOPROTOOPT);
    assert_nn_fail(nn_setsockopt(pull, NN_PULL, 1, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(pull, NN_PULL, 1, &v, &sz), ENOPROTOOPT);
    /* A level that belongs to another protocol (NN_REQ = 48, NN_SUB = 33). */
    assert_nn_fail(nn_setsockopt(pair, 48, 1, &v, sizeof v), ENOPROTOOPT);
    assert_nn_fail(nn_setsockopt(pair, 33, 1, "", 0), ENOPROTOOPT);
    assert_nn_fail(nn_getsockopt(push, 48, 1, &v, &sz), ENOPROTOOPT);
}

static void test_options_are_per_socket(void **state)
{
    (void) state;
    int a = tu_socket_default(AF_SP, NN_PAIR);
    int b = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, 250);
    tu_setint(a, NN_TCP, NN_TCP_NODELAY, 1);
    assert_nn_ok(nn_setsockopt(a, NN_SOL_SOCKET, NN_SOCKET_NAME, "a", 1));
    assert_int_equal(tu_getint(b, NN_SOL_SOCKET, NN_RCVTIMEO), -1);
    assert_int_equal(tu_getint(b, NN_TCP, NN_TCP_NODELAY), 0);
    char buf[8];
    size_t len;
    get_name(b, buf, sizeof buf, &len);
    assert_string_equal(buf, "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_socket_options_have_documented_defaults),
        tu_test(test_int_options_accept_valid_values_and_read_them_back),
        tu_test(test_int_options_reject_out_of_range_values_with_einval),
        tu_test(test_linger_accepts_any_value_and_reads_back_what_was_set),
        tu_test(test_int_option_with_wrong_size_fails_with_einval),
        tu_test(test_unknown_socket_option_fails_with_enoprotoopt_only_when_size_is_int),
        tu_test(test_getsockopt_of_unknown_socket_option_fails_with_enoprotoopt),
        tu_test(test_read_only_options_fail_to_set_with_enoprotoopt),
        tu_test(test_getsockopt_truncates_to_optvallen_and_reports_int_size),
        tu_test(test_setsockopt_with_null_value_fails_with_efault),
        tu_test(test_getsockopt_with_null_value_fails_with_efault),
        tu_test(test_options_on_bad_socket_fail_with_ebadf),
        tu_test(test_socket_name_defaults_to_the_socket_id),
        tu_test(test_socket_name_can_be_set_and_read_back),
        tu_test(test_socket_name_of_63_bytes_is_accepted_and_64_fails_with_einval),
        tu_test(test_socket_name_read_into_short_buffer_is_truncated_and_reports_full_length),
        tu_test(test_tcp_nodelay_defaults_to_zero_and_accepts_only_zero_or_one),
        tu_test(test_unknown_tcp_option_fails_with_enoprotoopt),
#ifdef AGAINST_LIBNANOMSG
        tu_test(test_tcp_keepalive_number_is_unknown_to_libnanomsg),
#else
        tu_test(test_tcp_keepalive_defaults_to_off_and_reads_back_any_non_negative_time),
#endif
        tu_test(test_tcp_and_ws_options_of_the_wrong_size_fail_with_einval_before_the_option_is_looked_up),
        tu_test(test_ipc_buffer_options_default_to_4096_and_can_be_set),
        tu_test(test_ipc_buffer_options_store_any_int_as_libnanomsg_does),
        tu_test(test_inproc_level_options_fail_with_enoprotoopt),
        tu_test(test_unknown_transport_level_fails_with_enoprotoopt),
        tu_test(test_protocol_level_options_on_pair_and_pipeline_fail_with_enoprotoopt),
        tu_test(test_options_are_per_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
