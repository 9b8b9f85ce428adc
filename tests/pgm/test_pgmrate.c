/* The send rate of a PGM sender (transports/pgm/pgmrate.c): what it lets
   through over time, what a sender that was held up may catch up, and when
   it tells a refused sender to come back. Time is an argument: no clock,
   no network. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pgm/pgmrate.h"

#define MS 1000000ull
#define T0 (5ull * 1000000000ull) /* an arbitrary start on the clock */

/* Sends 1500-byte packets from t to t + span in steps of step ns, as many
   as the bucket lets through at each step; returns the bytes sent. */
static uint64_t drain(struct sp_pgmrate *r, uint64_t t, uint64_t span, uint64_t step)
{
    uint64_t sent = 0;
    for (uint64_t now = t; now <= t + span; now += step)
        while (sp_pgmrate_take(r, now, 1500))
            sent += 1500;
    return sent;
}

static void test_pgmrate_a_full_bucket_lets_ten_milliseconds_of_the_rate_through_at_once(void **state)
{
    (void) state;
    struct sp_pgmrate r;
    sp_pgmrate_init(&r, 20000000, 1500, T0);
    /* 20 MB/s: 200,000 bytes, 133 whole packets. */
    assert_int_equal(drain(&r, T0, 0, 1), 133u * 1500u);
    assert_false(sp_pgmrate_take(&r, T0, 1500));
}

static void test_pgmrate_a_steady_sender_gets_the_rate_whatever_its_wakeups(void **state)
{
    (void) state;
    /* Woken every 1 ms, every 4 ms or every 8 ms (a loaded host): each gets
       the rate over a second, less what is left of a packet. The bucket
       OpenPGM has forgets what is not used within a millisecond: a sender
       woken every 4 ms got a quarter of the rate. */
    const uint64_t steps[] = {1 * MS, 4 * MS, 8 * MS};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct sp_pgmrate r;
        sp_pgmrate_init(&r, 20000000, 1500, T0);
        (void) drain(&r, T0, 0, 1); /* empty at T0 */
        uint64_t sent = drain(&r, T0 + steps[i], 1000 * MS - steps[i], steps[i]);
        assert_true(sent <= 20000000u);
        assert_true(sent >= 20000000u - 1500u);
    }
}

static void test_pgmrate_idle_time_beyond_the_burst_is_not_kept(void **state)
{
    (void) state;
    struct sp_pgmrate r;
    sp_pgmrate_init(&r, 20000000, 1500, T0);
    (void) drain(&r, T0, 0, 1);
    /* An hour idle: still one burst, and no overflow. */
    uint64_t later = T0 + 3600ull * 1000 * MS;
    assert_int_equal(drain(&r, later, 0, 1), 133u * 1500u);
}

static void test_pgmrate_a_refused_sender_is_told_when_its_packet_fits(void **state)
{
    (void) state;
    struct sp_pgmrate r;
    sp_pgmrate_init(&r, 1000000, 1500, T0); /* 1 MB/s: a byte a microsecond */
    (void) drain(&r, T0, 0, 1);
    uint64_t left = 0;
    while (sp_pgmrate_wait(&r, T0, 1) == 0 && sp_pgmrate_take(&r, T0, 1))
        left++;
    assert_true(left < 1500);
    uint64_t w = sp_pgmrate_wait(&r, T0, 1500);
    assert_int_equal(w, 1500u * 1000u);
    assert_false(sp_pgmrate_take(&r, T0 + w - 1, 1500));
    assert_int_equal(sp_pgmrate_wait(&r, T0 + w, 1500), 0);
    assert_true(sp_pgmrate_take(&r, T0 + w, 1500));
    /* A clock read earlier than the last one changes nothing. */
    assert_false(sp_pgmrate_take(&r, T0, 1500));
}

static void test_pgmrate_a_slow_rate_still_holds_two_packets(void **state)
{
    (void) state;
    struct sp_pgmrate r;
    /* 1000 bytes a second: ten milliseconds would be 10 bytes. */
    sp_pgmrate_init(&r, 1000, 576, T0);
    assert_true(sp_pgmrate_take(&r, T0, 576));
    assert_true(sp_pgmrate_take(&r, T0, 576));
    assert_false(sp_pgmrate_take(&r, T0, 576));
    assert_int_equal(sp_pgmrate_wait(&r, T0, 576), 576u * MS);
}

static void test_pgmrate_openpgm_gets_a_ceiling_within_an_int(void **state)
{
    (void) state;
    assert_int_equal(sp_pgmrate_ceiling(20000000), (int) (20000000u / 100u * SP_PGMRATE_CEILING_PCT));
    assert_true(sp_pgmrate_ceiling(1000) >= 1000);
    assert_int_equal(sp_pgmrate_ceiling(INT_MAX), INT_MAX);
    struct sp_pgmrate r;
    sp_pgmrate_init(&r, INT_MAX, 65535, T0);
    assert_true(sp_pgmrate_take(&r, T0, 65535));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgmrate_a_full_bucket_lets_ten_milliseconds_of_the_rate_through_at_once),
        cmocka_unit_test(test_pgmrate_a_steady_sender_gets_the_rate_whatever_its_wakeups),
        cmocka_unit_test(test_pgmrate_idle_time_beyond_the_burst_is_not_kept),
        cmocka_unit_test(test_pgmrate_a_refused_sender_is_told_when_its_packet_fits),
        cmocka_unit_test(test_pgmrate_a_slow_rate_still_holds_two_packets),
        cmocka_unit_test(test_pgmrate_openpgm_gets_a_ceiling_within_an_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
