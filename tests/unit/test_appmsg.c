/* The set of messages the application holds (core/appmsg.h): what it says
   about pointers it never saw, through growth of its tables and deletions
   in every order, and under several threads at once. It never dereferences
   what it stores, so the "pointers" here are plain numbers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "core/appmsg.h"

/* Distinct 8-aligned addresses that do not belong to anybody else's test:
   a stride that is a power of two (as chunks of one size class often are)
   plus a base per test. */
static void *fake(uintptr_t base, size_t i)
{
    return (void *) (base + (uintptr_t) i * 4096);
}

static void test_appmsg_knows_only_what_it_was_given(void **state)
{
    (void) state;
    const uintptr_t base = (uintptr_t) 1 << 40;
    assert_false(sp_appmsg_held(fake(base, 0)));
    assert_false(sp_appmsg_take(fake(base, 0)));
    assert_int_equal(sp_appmsg_give(fake(base, 0)), 0);
    assert_true(sp_appmsg_held(fake(base, 0)));
    assert_false(sp_appmsg_held((char *) fake(base, 0) + 8));
    assert_false(sp_appmsg_held(fake(base, 1)));
    assert_true(sp_appmsg_take(fake(base, 0)));
    assert_false(sp_appmsg_held(fake(base, 0)));
    assert_false(sp_appmsg_take(fake(base, 0))); /* a double free */
}

static void test_appmsg_survives_growth_and_removals_in_any_order(void **state)
{
    (void) state;
    const uintptr_t base = (uintptr_t) 2 << 40;
    enum { N = 100000 };
    for (size_t i = 0; i < N; i++)
        assert_int_equal(sp_appmsg_give(fake(base, i)), 0);
    for (size_t i = 0; i < N; i++)
        assert_true(sp_appmsg_held(fake(base, i)));
    /* Every third one, then the rest in a scrambled order: deletions in the
       middle of probe runs must keep the others findable. */
    for (size_t i = 0; i < N; i += 3)
        assert_true(sp_appmsg_take(fake(base, i)));
    for (size_t i = 0; i < N; i++)
        assert_int_equal(sp_appmsg_held(fake(base, i)), i % 3 != 0);
    for (size_t k = 0; k < N; k++) {
        size_t i = (k * 7919) % N; /* 7919 is prime to N: a permutation */
        assert_int_equal(sp_appmsg_take(fake(base, i)), i % 3 != 0);
    }
    for (size_t i = 0; i < N; i++)
        assert_false(sp_appmsg_held(fake(base, i)));
}

struct worker {
    uintptr_t base;
    bool ok;
};

static void *churn(void *arg)
{
    struct worker *w = arg;
    w->ok = true;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < 256; i++)
            w->ok = w->ok && sp_appmsg_give(fake(w->base, i)) == 0;
        for (size_t i = 0; i < 256; i++)
            w->ok = w->ok && sp_appmsg_held(fake(w->base, i));
        for (size_t i = 0; i < 256; i++)
            w->ok = w->ok && sp_appmsg_take(fake(w->base, (i * 37) % 256));
    }
    return NULL;
}

static void test_appmsg_threads_giving_and_taking_at_once_lose_nothing(void **state)
{
    (void) state;
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i].base = ((uintptr_t) (3 + i) << 40);
        assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(w[i].ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appmsg_knows_only_what_it_was_given),
        cmocka_unit_test(test_appmsg_survives_growth_and_removals_in_any_order),
        cmocka_unit_test(test_appmsg_threads_giving_and_taking_at_once_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
