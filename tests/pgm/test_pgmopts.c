/* The NN_PGM options (transports/pgm/pgmopts.c, <nanomsg/pgm.h>): defaults
   that work on a LAN out of the box, the range of each option with EINVAL
   outside it, ENOPROTOOPT for unknown ones, nn_getsockopt's truncation
   rules, the check made at nn_bind/nn_connect, and the repair window they
   give. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/pgm.h>

#include "testutil.h"
#include "pgm/pgmopts.h"

static int get(const struct sp_pgmopts *o, int opt)
{
    int v = -12345;
    size_t len = sizeof v;
    assert_int_equal(sp_pgmopts_get(o, opt, &v, &len), 0);
    assert_int_equal(len, sizeof(int));
    return v;
}

static int set(struct sp_pgmopts *o, int opt, int v)
{
    return sp_pgmopts_set(o, opt, &v, sizeof v);
}

static void test_pgmopts_defaults_suit_a_lan(void **state)
{
    (void) state;
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    /* Twice the 10 MB/s a publisher must be able to send steadily. */
    assert_int_equal(get(&o, NN_PGM_RATE), 20000000);
    assert_int_equal(get(&o, NN_PGM_RECOVERY_IVL), 2000);
    assert_int_equal(get(&o, NN_PGM_HOPS), 1);
    assert_int_equal(get(&o, NN_PGM_LOOP), 1);
    assert_int_equal(get(&o, NN_PGM_MAXTPDU), 1500);
    assert_int_equal(get(&o, NN_PGM_PEER_EXPIRY), 300000);
    assert_int_equal(sp_pgmopts_check(&o), 0);
}

static void test_pgmopts_values_in_range_read_back(void **state)
{
    (void) state;
    const struct {
        int opt, v;
    } ok[] = {
        {NN_PGM_RATE, 1000},          {NN_PGM_RATE, INT_MAX},           {NN_PGM_RECOVERY_IVL, 100},
        {NN_PGM_RECOVERY_IVL, 600000}, {NN_PGM_HOPS, 1},                 {NN_PGM_HOPS, 255},
        {NN_PGM_LOOP, 0},             {NN_PGM_LOOP, 1},                 {NN_PGM_MAXTPDU, 576},
        {NN_PGM_MAXTPDU, 65535},      {NN_PGM_PEER_EXPIRY, 1000},       {NN_PGM_PEER_EXPIRY, 2000000},
    };
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    for (size_t i = 0; i < TU_ARRAY_LEN(ok); i++) {
        assert_int_equal(set(&o, ok[i].opt, ok[i].v), 0);
        assert_int_equal(get(&o, ok[i].opt), ok[i].v);
    }
}

static void test_pgmopts_values_out_of_range_are_einval_and_change_nothing(void **state)
{
    (void) state;
    const struct {
        int opt, v;
    } bad[] = {
        {NN_PGM_RATE, 999},          {NN_PGM_RATE, 0},         {NN_PGM_RATE, -1},
        {NN_PGM_RECOVERY_IVL, 99},   {NN_PGM_RECOVERY_IVL, 600001}, {NN_PGM_RECOVERY_IVL, -5},
        {NN_PGM_HOPS, 0},            {NN_PGM_HOPS, 256},       {NN_PGM_LOOP, 2},
        {NN_PGM_LOOP, -1},           {NN_PGM_MAXTPDU, 575},    {NN_PGM_MAXTPDU, 65536},
        {NN_PGM_PEER_EXPIRY, 999},   {NN_PGM_PEER_EXPIRY, 2000001}, {NN_PGM_PEER_EXPIRY, 0},
    };
    struct sp_pgmopts o, before;
    sp_pgmopts_init(&o);
    before = o;
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        if (set(&o, bad[i].opt, bad[i].v) != -EINVAL)
            fail_msg("option %d value %d accepted", bad[i].opt, bad[i].v);
    }
    assert_memory_equal(&o, &before, sizeof o);
}

static void test_pgmopts_wrong_size_is_einval_and_unknown_option_enoprotoopt(void **state)
{
    (void) state;
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    long long big = 5;
    assert_int_equal(sp_pgmopts_set(&o, NN_PGM_HOPS, &big, sizeof big), -EINVAL);
    char c = 1;
    assert_int_equal(sp_pgmopts_set(&o, NN_PGM_LOOP, &c, 1), -EINVAL);
    assert_int_equal(sp_pgmopts_set(&o, NN_PGM_LOOP, NULL, sizeof(int)), -EINVAL);
    int v = 1;
    assert_int_equal(sp_pgmopts_set(&o, 0, &v, sizeof v), -ENOPROTOOPT);
    assert_int_equal(sp_pgmopts_set(&o, 7, &v, sizeof v), -ENOPROTOOPT);
    size_t len = sizeof v;
    assert_int_equal(sp_pgmopts_get(&o, 7, &v, &len), -ENOPROTOOPT);
}

static void test_pgmopts_get_truncates_like_nn_getsockopt(void **state)
{
    (void) state;
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    assert_int_equal(set(&o, NN_PGM_RATE, 0x01020304), 0);
    unsigned char b[8];
    memset(b, 0xee, sizeof b);
    size_t len = 2;
    assert_int_equal(sp_pgmopts_get(&o, NN_PGM_RATE, b, &len), 0);
    assert_int_equal(len, sizeof(int));
    int v = 0x01020304;
    assert_memory_equal(b, &v, 2);
    assert_int_equal(b[2], 0xee);
}

static void test_pgmopts_rate_below_one_packet_a_second_fails_the_check(void **state)
{
    (void) state;
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    assert_int_equal(set(&o, NN_PGM_RATE, 1499), 0);
    assert_int_equal(sp_pgmopts_check(&o), -EINVAL);
    assert_int_equal(set(&o, NN_PGM_RATE, 1500), 0);
    assert_int_equal(sp_pgmopts_check(&o), 0);
    assert_int_equal(set(&o, NN_PGM_MAXTPDU, 1501), 0);
    assert_int_equal(sp_pgmopts_check(&o), -EINVAL);
}

static void test_pgmopts_window_holds_the_recovery_interval_at_full_rate(void **state)
{
    (void) state;
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    /* 20 MB/s for 2 s in 1500-byte packets. */
    assert_int_equal(sp_pgmopts_window_sqns(&o), 26666);
    assert_int_equal(set(&o, NN_PGM_RATE, 1000), 0);
    assert_int_equal(set(&o, NN_PGM_RECOVERY_IVL, 100), 0);
    assert_int_equal(set(&o, NN_PGM_MAXTPDU, 576), 0);
    assert_int_equal(sp_pgmopts_window_sqns(&o), 1);
    assert_int_equal(set(&o, NN_PGM_RATE, INT_MAX), 0);
    assert_int_equal(set(&o, NN_PGM_RECOVERY_IVL, 600000), 0);
    assert_int_equal(sp_pgmopts_window_sqns(&o), SP_PGM_WINDOW_MAX_SQNS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgmopts_defaults_suit_a_lan),
        cmocka_unit_test(test_pgmopts_values_in_range_read_back),
        cmocka_unit_test(test_pgmopts_values_out_of_range_are_einval_and_change_nothing),
        cmocka_unit_test(test_pgmopts_wrong_size_is_einval_and_unknown_option_enoprotoopt),
        cmocka_unit_test(test_pgmopts_get_truncates_like_nn_getsockopt),
        cmocka_unit_test(test_pgmopts_rate_below_one_packet_a_second_fails_the_check),
        cmocka_unit_test(test_pgmopts_window_holds_the_recovery_interval_at_full_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
