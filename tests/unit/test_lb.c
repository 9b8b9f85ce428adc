/* The load balancer (PUSH, REQ): each message goes to exactly one writable
   pipe, best priority first, round robin within a priority; a pipe that says
   it is full is skipped until it is writable again. Driven with fake pipes. */
#include "fakepipe.h"

#include "utils/lb.h"

/* Sends message number n; returns the id of the pipe that took it. */
static int send_one(struct sp_lb *lb, uint32_t n)
{
    struct sp_msg m;
    fake_msg(&m, n);
    struct sp_pipe *to = NULL;
    int rc = sp_lb_send(lb, &m, &to);
    if (rc != 0) {
        sp_msg_term(&m);
        return rc;
    }
    struct fake_pipe *fp = fake_of(to);
    assert_non_null(fp);
    assert_int_equal(fp->last_body, n); /* the message went where it says */
    return fp->id;
}

static void test_lb_send_without_writable_pipe_fails_with_eagain_and_keeps_message(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    assert_false(sp_lb_can_send(&lb));
    struct sp_msg m;
    fake_msg(&m, 42);
    void *body = m.body;
    assert_int_equal(sp_lb_send(&lb, &m, NULL), -EAGAIN);
    assert_ptr_equal(m.body, body);
    sp_msg_term(&m);
}

static void test_lb_added_pipe_is_writable_at_once(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    struct fake_pipe a;
    fake_init(&a, 1, 8);
    sp_lb_add(&lb, &a.entry);
    assert_true(sp_lb_can_send(&lb));
    assert_int_equal(send_one(&lb, 7), 1);
    assert_int_equal(a.sends, 1);
}

static void test_lb_sends_only_to_best_priority(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    struct fake_pipe low, high;
    fake_init(&low, 1, 9);
    fake_init(&high, 2, 2);
    sp_lb_add(&lb, &low.entry);
    sp_lb_add(&lb, &high.entry);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(send_one(&lb, i), 2);
    assert_int_equal(low.sends, 0);
    assert_int_equal(high.sends, 10);
}

static void test_lb_round_robins_within_a_priority(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    struct fake_pipe p[3], other;
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 4);
        sp_lb_add(&lb, &p[i].entry);
    }
    fake_init(&other, 9, 5);
    sp_lb_add(&lb, &other.entry);
    fake_log_reset();
    for (uint32_t i = 0; i < 9; i++)
        assert_int_equal(send_one(&lb, i), (int) (i % 3) + 1);
    /* Exactly one send call per message. */
    assert_int_equal(fake_log.n, 9);
    assert_int_equal(other.sends, 0);
}

static void test_lb_skips_full_pipe_until_it_is_writable_again(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    struct fake_pipe a, b;
    fake_init(&a, 1, 1);
    fake_init(&b, 2, 1);
    sp_lb_add(&lb, &a.entry);
    sp_lb_add(&lb, &b.entry);
    a.send_rc = SP_PIPE_RELEASE;
    /* a takes the message but is full afterwards. */
    assert_int_equal(send_one(&lb, 0), 1);
    a.send_rc = 0;
    for (uint32_t i = 1; i < 5; i++)
        assert_int_equal(send_one(&lb, i), 2);
    assert_int_equal(a.sends, 1);
    sp_lb_out(&lb, &a.entry);
    assert_int_equal(send_one(&lb, 5), 2);
    assert_int_equal(send_one(&lb, 6), 1);
    assert_int_equal(send_one(&lb, 7), 2);
}

static void test_lb_falls_back_to_worse_priority_while_best_is_full(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    struct fake_pipe best, worse;
    fake_init(&best, 1, 1);
    fake_init(&worse, 2, 16);
    sp_lb_add(&lb, &worse.entry);
    sp_lb_add(&lb, &best.entry);
    best.send_rc = SP_PIPE_RELEASE;
    assert_int_equal(send_one(&lb, 0), 1);
    assert_int_equal(sp_lb_priority(&lb), 16);
    assert_int_equal(send_one(&lb, 1), 2);
    best.send_rc = 0;
    sp_lb_out(&lb, &best.entry);
    assert_int_equal(sp_lb_priority(&lb), 1);
    assert_int_equal(send_one(&lb, 2), 1);
    assert_int_equal(send_one(&lb, 3), 1);
}

static void test_lb_rm_of_current_pipe_sends_to_the_next(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    struct fake_pipe p[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&p[i], i + 1, 3);
        sp_lb_add(&lb, &p[i].entry);
    }
    assert_int_equal(send_one(&lb, 0), 1);
    sp_lb_rm(&lb, &p[1].entry); /* 2 was next */
    assert_int_equal(send_one(&lb, 1), 3);
    assert_int_equal(send_one(&lb, 2), 1);
    assert_int_equal(send_one(&lb, 3), 3);
    sp_lb_rm(&lb, &p[0].entry);
    sp_lb_rm(&lb, &p[2].entry);
    assert_false(sp_lb_can_send(&lb));
    assert_int_equal(send_one(&lb, 4), -EAGAIN);
    assert_int_equal(p[1].sends, 0);
}

static void test_lb_priority_is_0_before_any_pipe_then_best_ready_then_minus_1(void **state)
{
    (void) state;
    struct sp_lb lb;
    sp_lb_init(&lb);
    assert_int_equal(sp_lb_priority(&lb), 0);
    struct fake_pipe a, b;
    fake_init(&a, 1, 7);
    fake_init(&b, 2, 3);
    sp_lb_add(&lb, &a.entry);
    assert_int_equal(sp_lb_priority(&lb), 7);
    sp_lb_add(&lb, &b.entry);
    assert_int_equal(sp_lb_priority(&lb), 3);
    sp_lb_rm(&lb, &b.entry);
    assert_int_equal(sp_lb_priority(&lb), 7);
    sp_lb_rm(&lb, &a.entry);
    assert_int_equal(sp_lb_priority(&lb), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lb_send_without_writable_pipe_fails_with_eagain_and_keeps_message),
        cmocka_unit_test(test_lb_added_pipe_is_writable_at_once),
        cmocka_unit_test(test_lb_sends_only_to_best_priority),
        cmocka_unit_test(test_lb_round_robins_within_a_priority),
        cmocka_unit_test(test_lb_skips_full_pipe_until_it_is_writable_again),
        cmocka_unit_test(test_lb_falls_back_to_worse_priority_while_best_is_full),
        cmocka_unit_test(test_lb_rm_of_current_pipe_sends_to_the_next),
        cmocka_unit_test(test_lb_priority_is_0_before_any_pipe_then_best_ready_then_minus_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
