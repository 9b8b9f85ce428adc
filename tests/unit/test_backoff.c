/* Reconnect backoff (SPEC §4.14): the k-th wait is (2^(k-1) - 1) * ivl capped
   at max (max 0 means ivl), never reset, no randomisation. The exact
   sequences are what a connecting endpoint waits between attempts. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "utils/backoff.h"

static void expect_waits(int ivl, int max, const int *want, size_t n)
{
    struct sp_backoff b;
    sp_backoff_init(&b, ivl, max);
    for (size_t i = 0; i < n; i++) {
        int got = sp_backoff_next(&b);
        if (got != want[i])
            fail_msg("ivl=%d max=%d: wait %zu is %d, want %d", ivl, max, i + 1, got, want[i]);
    }
}

static void test_backoff_defaults_wait_0_then_ivl_forever(void **state)
{
    (void) state;
    const int want[] = {0, 100, 100, 100, 100, 100};
    expect_waits(100, 0, want, TU_ARRAY_LEN(want));
}

static void test_backoff_doubles_up_to_max_then_stays(void **state)
{
    (void) state;
    const int want[] = {0, 100, 300, 700, 1000, 1000, 1000};
    expect_waits(100, 1000, want, TU_ARRAY_LEN(want));
}

static void test_backoff_with_max_below_ivl_waits_max(void **state)
{
    (void) state;
    const int want[] = {0, 50, 50, 50};
    expect_waits(100, 50, want, TU_ARRAY_LEN(want));
    const int want1[] = {0, 1, 1, 1};
    expect_waits(1000, 1, want1, TU_ARRAY_LEN(want1));
}

static void test_backoff_with_max_equal_to_ivl_is_like_default(void **state)
{
    (void) state;
    const int want[] = {0, 250, 250, 250};
    expect_waits(250, 250, want, TU_ARRAY_LEN(want));
}

static void test_backoff_with_zero_ivl_never_waits(void **state)
{
    (void) state;
    const int want[] = {0, 0, 0, 0};
    expect_waits(0, 0, want, TU_ARRAY_LEN(want));
    expect_waits(0, 5000, want, TU_ARRAY_LEN(want));
}

static void test_backoff_doubles_through_many_steps_exactly(void **state)
{
    (void) state;
    /* ivl 1, max 1000000: 0, 1, 3, 7, ... 2^19 - 1, then 1000000. */
    struct sp_backoff b;
    sp_backoff_init(&b, 1, 1000000);
    for (int k = 1; k <= 20; k++)
        assert_int_equal(sp_backoff_next(&b), (1 << (k - 1)) - 1);
    assert_int_equal(sp_backoff_next(&b), 1000000);
    assert_int_equal(sp_backoff_next(&b), 1000000);
}

static void test_backoff_stays_at_max_after_a_long_outage(void **state)
{
    (void) state;
    /* The counter is never reset and must not overflow into odd waits. */
    struct sp_backoff b;
    sp_backoff_init(&b, 100, 60000);
    int last = -1;
    for (int i = 0; i < 100000; i++) {
        int w = sp_backoff_next(&b);
        assert_true(w >= last);
        assert_in_range(w, 0, 60000);
        last = w;
    }
    assert_int_equal(last, 60000);
}

static void test_backoff_with_largest_values_does_not_overflow(void **state)
{
    (void) state;
    const int want[] = {0, INT_MAX, INT_MAX, INT_MAX};
    expect_waits(INT_MAX, INT_MAX, want, TU_ARRAY_LEN(want));
    expect_waits(INT_MAX, 0, want, TU_ARRAY_LEN(want));
    struct sp_backoff b;
    sp_backoff_init(&b, 1, INT_MAX);
    int last = -1;
    for (int i = 0; i < 1000; i++) {
        int w = sp_backoff_next(&b);
        assert_true(w >= last);
        last = w;
    }
    assert_int_equal(last, INT_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_defaults_wait_0_then_ivl_forever),
        cmocka_unit_test(test_backoff_doubles_up_to_max_then_stays),
        cmocka_unit_test(test_backoff_with_max_below_ivl_waits_max),
        cmocka_unit_test(test_backoff_with_max_equal_to_ivl_is_like_default),
        cmocka_unit_test(test_backoff_with_zero_ivl_never_waits),
        cmocka_unit_test(test_backoff_doubles_through_many_steps_exactly),
        cmocka_unit_test(test_backoff_stays_at_max_after_a_long_outage),
        cmocka_unit_test(test_backoff_with_largest_values_does_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
