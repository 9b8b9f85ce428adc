/* The priority list under lb and fq (SPEC §4.6): 16 slots, the best
   (lowest-numbered) non-empty slot is current, round robin inside a slot,
   released pipes leave the ready set and come back at the end of their slot. */
#include "fakepipe.h"

#include "utils/priolist.h"

/* Takes the current pipe and advances; returns its id (0 if none). */
static int take(struct sp_priolist *pl, bool release)
{
    struct fake_pipe *fp = fake_of(sp_priolist_pipe(pl));
    sp_priolist_advance(pl, release);
    return fp ? fp->id : 0;
}

/* Asserts the next n takes (without release) yield ids[0..n-1]. */
static void expect_order(struct sp_priolist *pl, const int *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(take(pl, false), ids[i]);
}

static void test_priolist_is_empty_after_init(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    assert_false(sp_priolist_ready(&pl));
    assert_int_equal(sp_priolist_priority(&pl), -1);
    assert_null(sp_priolist_pipe(&pl));
    sp_priolist_advance(&pl, false); /* no-op, no crash */
    sp_priolist_advance(&pl, true);
    assert_null(sp_priolist_pipe(&pl));
}

static void test_priolist_prefers_lower_priority_number(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe a, b, c;
    fake_init(&a, 1, 3);
    fake_init(&b, 2, 1);
    fake_init(&c, 3, 2);
    sp_priolist_activate(&pl, &a.entry);
    assert_int_equal(sp_priolist_priority(&pl), 3);
    sp_priolist_activate(&pl, &b.entry);
    assert_int_equal(sp_priolist_priority(&pl), 1);
    sp_priolist_activate(&pl, &c.entry);
    assert_int_equal(sp_priolist_priority(&pl), 1);
    /* Strict: the others are never used while b is ready. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(take(&pl, false), 2);
}

static void test_priolist_entry_priority_is_clamped_to_1_through_16(void **state)
{
    (void) state;
    struct fake_pipe lo, hi;
    fake_init(&lo, 1, 0);
    fake_init(&hi, 2, 17);
    assert_int_equal(lo.entry.priority, 1);
    assert_int_equal(hi.entry.priority, 16);
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    sp_priolist_activate(&pl, &hi.entry);
    assert_int_equal(sp_priolist_priority(&pl), 16);
    sp_priolist_activate(&pl, &lo.entry);
    assert_int_equal(sp_priolist_priority(&pl), 1);
}

static void test_priolist_round_robins_within_a_priority(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe p[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 8);
        sp_priolist_activate(&pl, &p[i].entry);
    }
    const int want[] = {1, 2, 3, 1, 2, 3, 1};
    expect_order(&pl, want, TU_ARRAY_LEN(want));
}

static void test_priolist_activate_of_ready_pipe_does_not_add_it_twice(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe a, b;
    fake_init(&a, 1, 1);
    fake_init(&b, 2, 1);
    sp_priolist_activate(&pl, &a.entry);
    sp_priolist_activate(&pl, &a.entry);
    sp_priolist_activate(&pl, &b.entry);
    sp_priolist_activate(&pl, &a.entry);
    const int want[] = {1, 2, 1, 2};
    expect_order(&pl, want, TU_ARRAY_LEN(want));
}

static void test_priolist_release_removes_pipe_from_ready_set(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe p[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 2);
        sp_priolist_activate(&pl, &p[i].entry);
    }
    assert_int_equal(take(&pl, false), 1);
    assert_int_equal(take(&pl, true), 2); /* 2 is full now */
    const int want[] = {3, 1, 3, 1};
    expect_order(&pl, want, TU_ARRAY_LEN(want));
    assert_int_equal(take(&pl, true), 3);
    assert_int_equal(take(&pl, true), 1);
    assert_false(sp_priolist_ready(&pl));
    assert_int_equal(sp_priolist_priority(&pl), -1);
    assert_null(sp_priolist_pipe(&pl));
}

static void test_priolist_release_of_last_pipe_in_slot_falls_back_to_next_priority(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe best, worse, worst;
    fake_init(&best, 1, 2);
    fake_init(&worse, 2, 5);
    fake_init(&worst, 3, 9);
    sp_priolist_activate(&pl, &worst.entry);
    sp_priolist_activate(&pl, &worse.entry);
    sp_priolist_activate(&pl, &best.entry);
    assert_int_equal(take(&pl, true), 1);
    assert_int_equal(sp_priolist_priority(&pl), 5);
    assert_int_equal(take(&pl, true), 2);
    assert_int_equal(sp_priolist_priority(&pl), 9);
    assert_int_equal(take(&pl, false), 3);
}

static void test_priolist_reactivated_pipe_rejoins_at_end_of_its_slot(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe p[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 1);
        sp_priolist_activate(&pl, &p[i].entry);
    }
    assert_int_equal(take(&pl, true), 1);
    sp_priolist_activate(&pl, &p[0].entry);
    const int want[] = {2, 3, 1, 2, 3, 1};
    expect_order(&pl, want, TU_ARRAY_LEN(want));
}

static void test_priolist_reactivated_better_pipe_becomes_current_again(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe best, other;
    fake_init(&best, 1, 1);
    fake_init(&other, 2, 4);
    sp_priolist_activate(&pl, &best.entry);
    sp_priolist_activate(&pl, &other.entry);
    assert_int_equal(take(&pl, true), 1);
    assert_int_equal(take(&pl, false), 2);
    assert_int_equal(take(&pl, false), 2);
    sp_priolist_activate(&pl, &best.entry);
    assert_int_equal(sp_priolist_priority(&pl), 1);
    assert_int_equal(take(&pl, false), 1);
}

static void test_priolist_rm_of_current_pipe_moves_on_to_next_in_slot(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe p[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 6);
        sp_priolist_activate(&pl, &p[i].entry);
    }
    assert_int_equal(take(&pl, false), 1);
    assert_int_equal(fake_of(sp_priolist_pipe(&pl))->id, 2);
    sp_priolist_rm(&pl, &p[1].entry); /* the current one goes away */
    const int want[] = {3, 1, 3, 1};
    expect_order(&pl, want, TU_ARRAY_LEN(want));
    /* The current one again, this time the last in the slot: wraps to first. */
    assert_int_equal(fake_of(sp_priolist_pipe(&pl))->id, 3);
    sp_priolist_rm(&pl, &p[2].entry);
    assert_int_equal(take(&pl, false), 1);
    assert_int_equal(take(&pl, false), 1);
}

static void test_priolist_rm_of_non_current_pipe_keeps_cursor(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe p[4];
    for (int i = 0; i < 4; i++) {
        fake_init(&p[i], i + 1, 3);
        sp_priolist_activate(&pl, &p[i].entry);
    }
    assert_int_equal(take(&pl, false), 1); /* current is 2 */
    sp_priolist_rm(&pl, &p[3].entry);
    sp_priolist_rm(&pl, &p[0].entry);
    const int want[] = {2, 3, 2, 3};
    expect_order(&pl, want, TU_ARRAY_LEN(want));
}

static void test_priolist_rm_of_last_ready_pipe_leaves_nothing_ready(void **state)
{
    (void) state;
    struct sp_priolist pl;
    sp_priolist_init(&pl);
    struct fake_pipe a, b;
    fake_init(&a, 1, 2);
    fake_init(&b, 2, 7);
    sp_priolist_activate(&pl, &a.entry);
    sp_priolist_activate(&pl, &b.entry);
    sp_priolist_rm(&pl, &a.entry);
    assert_int_equal(sp_priolist_priority(&pl), 7);
    sp_priolist_rm(&pl, &b.entry);
    assert_false(sp_priolist_ready(&pl));
    assert_null(sp_priolist_pipe(&pl));
    /* Removing pipes that are not ready is harmless. */
    sp_priolist_rm(&pl, &a.entry);
    sp_priolist_rm(&pl, &b.entry);
    assert_false(sp_priolist_ready(&pl));
    /* And they can come back. */
    sp_priolist_activate(&pl, &b.entry);
    assert_int_equal(take(&pl, false), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priolist_is_empty_after_init),
        cmocka_unit_test(test_priolist_prefers_lower_priority_number),
        cmocka_unit_test(test_priolist_entry_priority_is_clamped_to_1_through_16),
        cmocka_unit_test(test_priolist_round_robins_within_a_priority),
        cmocka_unit_test(test_priolist_activate_of_ready_pipe_does_not_add_it_twice),
        cmocka_unit_test(test_priolist_release_removes_pipe_from_ready_set),
        cmocka_unit_test(test_priolist_release_of_last_pipe_in_slot_falls_back_to_next_priority),
        cmocka_unit_test(test_priolist_reactivated_pipe_rejoins_at_end_of_its_slot),
        cmocka_unit_test(test_priolist_reactivated_better_pipe_becomes_current_again),
        cmocka_unit_test(test_priolist_rm_of_current_pipe_moves_on_to_next_in_slot),
        cmocka_unit_test(test_priolist_rm_of_non_current_pipe_keeps_cursor),
        cmocka_unit_test(test_priolist_rm_of_last_ready_pipe_leaves_nothing_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
