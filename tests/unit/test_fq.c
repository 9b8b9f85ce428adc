/* The fair queue (PULL, PAIR-less receivers, REP, SUB...): receives from
   readable pipes, best priority first, round robin within a priority; a pipe
   that gave its last message (or had nothing after all) leaves the ready set
   until it signals again. Driven with fake pipes. */
#include "fakepipe.h"

#include "utils/fq.h"

/* Receives one message; returns the id of its pipe (checked against the
   body the fake pipe wrote), or the negative error. */
static int recv_one(struct sp_fq *fq)
{
    struct sp_msg m;
    sp_msg_init(&m);
    struct sp_pipe *from = NULL;
    int rc = sp_fq_recv(fq, &m, &from);
    if (rc != 0)
        return rc;
    struct fake_pipe *fp = fake_of(from);
    assert_non_null(fp);
    int id;
    assert_int_equal(sp_msg_bodylen(&m), sizeof id);
    memcpy(&id, sp_msg_bodyp(&m), sizeof id);
    assert_int_equal(id, fp->id);
    sp_msg_term(&m);
    return id;
}

static void test_fq_recv_without_readable_pipe_fails_with_eagain(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    assert_false(sp_fq_can_recv(&fq));
    assert_int_equal(recv_one(&fq), -EAGAIN);
}

static void test_fq_added_pipe_is_not_readable_until_it_signals(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    struct fake_pipe a;
    fake_init(&a, 1, 8);
    a.avail = 5;
    sp_fq_add(&fq, &a.entry);
    assert_false(sp_fq_can_recv(&fq));
    fake_log_reset();
    assert_int_equal(recv_one(&fq), -EAGAIN);
    assert_int_equal(fake_log.n, 0); /* not even asked */
    sp_fq_in(&fq, &a.entry);
    assert_true(sp_fq_can_recv(&fq));
    assert_int_equal(recv_one(&fq), 1);
}

static void test_fq_receives_from_best_priority_first(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    struct fake_pipe low, high;
    fake_init(&low, 1, 12);
    fake_init(&high, 2, 2);
    low.avail = 3;
    high.avail = 3;
    sp_fq_add(&fq, &low.entry);
    sp_fq_add(&fq, &high.entry);
    sp_fq_in(&fq, &low.entry);
    sp_fq_in(&fq, &high.entry);
    const int want[] = {2, 2, 2, 1, 1, 1};
    for (size_t i = 0; i < TU_ARRAY_LEN(want); i++)
        assert_int_equal(recv_one(&fq), want[i]);
    assert_false(sp_fq_can_recv(&fq));
    assert_int_equal(recv_one(&fq), -EAGAIN);
}

static void test_fq_round_robins_within_a_priority(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    struct fake_pipe p[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 5);
        p[i].avail = 100;
        sp_fq_add(&fq, &p[i].entry);
        sp_fq_in(&fq, &p[i].entry);
    }
    for (int i = 0; i < 12; i++)
        assert_int_equal(recv_one(&fq), i % 3 + 1);
}

static void test_fq_drained_pipe_leaves_until_it_signals_again(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    struct fake_pipe a, b;
    fake_init(&a, 1, 1);
    fake_init(&b, 2, 1);
    a.avail = 1;
    b.avail = 100;
    sp_fq_in(&fq, &a.entry);
    sp_fq_in(&fq, &b.entry);
    assert_int_equal(recv_one(&fq), 1); /* a's last message */
    fake_log_reset();
    for (int i = 0; i < 4; i++)
        assert_int_equal(recv_one(&fq), 2);
    for (int i = 0; i < fake_log.n; i++)
        assert_int_equal(fake_log.id[i], 2); /* a is not polled meanwhile */
    a.avail = 2;
    sp_fq_in(&fq, &a.entry);
    const int want[] = {2, 1, 2, 1, 2, 2};
    for (size_t i = 0; i < TU_ARRAY_LEN(want); i++)
        assert_int_equal(recv_one(&fq), want[i]);
}

static void test_fq_skips_signalled_pipe_that_has_nothing(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    struct fake_pipe empty, full;
    fake_init(&empty, 1, 1);
    fake_init(&full, 2, 3);
    full.avail = 1;
    sp_fq_in(&fq, &empty.entry);
    sp_fq_in(&fq, &full.entry);
    fake_log_reset();
    /* The better pipe signalled but was drained meanwhile: the message comes
       from the other one in the same call. */
    assert_int_equal(recv_one(&fq), 2);
    assert_int_equal(fake_log.n, 2);
    assert_int_equal(fake_log.id[0], 1);
    assert_int_equal(fake_log.id[1], 2);
    assert_false(sp_fq_can_recv(&fq));
    assert_int_equal(recv_one(&fq), -EAGAIN);
    assert_int_equal(fake_log.n, 2);
}

static void test_fq_rm_of_current_pipe_receives_from_the_next(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    struct fake_pipe p[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 4);
        p[i].avail = 10;
        sp_fq_add(&fq, &p[i].entry);
        sp_fq_in(&fq, &p[i].entry);
    }
    assert_int_equal(recv_one(&fq), 1);
    sp_fq_rm(&fq, &p[1].entry);
    const int want[] = {3, 1, 3, 1};
    for (size_t i = 0; i < TU_ARRAY_LEN(want); i++)
        assert_int_equal(recv_one(&fq), want[i]);
    assert_int_equal(p[1].recvs, 0);
    sp_fq_rm(&fq, &p[0].entry);
    sp_fq_rm(&fq, &p[2].entry);
    assert_false(sp_fq_can_recv(&fq));
    assert_int_equal(recv_one(&fq), -EAGAIN);
}

static void test_fq_returns_to_better_pipe_when_it_signals(void **state)
{
    (void) state;
    struct sp_fq fq;
    sp_fq_init(&fq);
    struct fake_pipe best, worse;
    fake_init(&best, 1, 1);
    fake_init(&worse, 2, 9);
    worse.avail = 100;
    sp_fq_in(&fq, &worse.entry);
    assert_int_equal(recv_one(&fq), 2);
    best.avail = 2;
    sp_fq_in(&fq, &best.entry);
    assert_int_equal(recv_one(&fq), 1);
    assert_int_equal(recv_one(&fq), 1);
    assert_int_equal(recv_one(&fq), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fq_recv_without_readable_pipe_fails_with_eagain),
        cmocka_unit_test(test_fq_added_pipe_is_not_readable_until_it_signals),
        cmocka_unit_test(test_fq_receives_from_best_priority_first),
        cmocka_unit_test(test_fq_round_robins_within_a_priority),
        cmocka_unit_test(test_fq_drained_pipe_leaves_until_it_signals_again),
        cmocka_unit_test(test_fq_skips_signalled_pipe_that_has_nothing),
        cmocka_unit_test(test_fq_rm_of_current_pipe_receives_from_the_next),
        cmocka_unit_test(test_fq_returns_to_better_pipe_when_it_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
