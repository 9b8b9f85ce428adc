/* The event loop's timers and tasks: timers fire in due order and never
   early, a stopped timer never fires, tasks posted from any thread run on the
   loop thread in order, and a cancelled task never runs. Timing is never
   asserted beyond "not before due": where a race would matter the loop is
   held inside a gate task while the test sets things up. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testutil.h"
#include "aio/loop.h"
#include "utils/clock.h"
#include "utils/list.h"

#define DEADLINE_MS 10000

/* ---- a gate task that holds the loop thread until opened ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    atomic_bool entered;
    struct sp_task task;
} gate = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void gate_cb(struct sp_task *t)
{
    (void) t;
    atomic_store(&gate.entered, true);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE_MS / 1000;
    pthread_mutex_lock(&gate.mu);
    while (!gate.open) {
        if (pthread_cond_timedwait(&gate.cv, &gate.mu, &until) != 0)
            break; /* never hang the suite: the test fails on its own asserts */
    }
    pthread_mutex_unlock(&gate.mu);
}

static bool gate_entered(void *arg)
{
    (void) arg;
    return atomic_load(&gate.entered);
}

/* Returns once the loop thread is blocked inside the gate. */
static void gate_close(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = false;
    pthread_mutex_unlock(&gate.mu);
    atomic_store(&gate.entered, false);
    sp_task_init(&gate.task, gate_cb);
    sp_loop_post(&gate.task);
    assert_true(tu_wait_until(gate_entered, NULL, DEADLINE_MS));
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* ---- recording timers and tasks ---- */

#define MAX_EVENTS 512

static struct {
    int id[MAX_EVENTS];
    uint64_t due[MAX_EVENTS];
    uint64_t at[MAX_EVENTS];
    bool in_loop[MAX_EVENTS];
    atomic_int n;
} rec;

static void rec_reset(void)
{
    memset(&rec, 0, sizeof rec);
    atomic_store(&rec.n, 0);
}

static void rec_add(int id, uint64_t due)
{
    int i = atomic_load_explicit(&rec.n, memory_order_relaxed);
    if (i >= MAX_EVENTS)
        return;
    rec.id[i] = id;
    rec.due[i] = due;
    rec.at[i] = sp_clock_ms();
    rec.in_loop[i] = sp_loop_in_thread();
    atomic_store_explicit(&rec.n, i + 1, memory_order_release); /* publishes the entry */
}

static int rec_count(void)
{
    return atomic_load_explicit(&rec.n, memory_order_acquire);
}

static int rec_times(int id)
{
    int c = 0;
    for (int i = 0; i < rec_count(); i++)
        c += rec.id[i] == id;
    return c;
}

static bool rec_has(void *arg)
{
    return rec_times(*(int *) arg) > 0;
}

static bool rec_at_least(void *arg)
{
    return rec_count() >= *(int *) arg;
}

/* Waits until the event id has been recorded. */
static void wait_for(int id)
{
    assert_true(tu_wait_until(rec_has, &id, DEADLINE_MS));
}

struct rtimer {
    struct sp_timer t;
    int id;
};

static void rtimer_cb(struct sp_timer *t)
{
    struct rtimer *r = sp_cont(t, struct rtimer, t);
    rec_add(r->id, t->due);
}

static void rtimer_init(struct rtimer *r, int id)
{
    sp_timer_init(&r->t, rtimer_cb);
    r->id = id;
}

struct rtask {
    struct sp_task t;
    int id;
};

static void rtask_cb(struct sp_task *t)
{
    struct rtask *r = sp_cont(t, struct rtask, t);
    rec_add(r->id, 0);
}

static void rtask_init(struct rtask *r, int id)
{
    sp_task_init(&r->t, rtask_cb);
    r->id = id;
}

/* Posts a task and waits for it: everything posted before it has run. */
static void sync_loop(void)
{
    static struct rtask sentinel;
    rtask_init(&sentinel, -1);
    int before = rec_times(-1);
    sp_loop_post(&sentinel.t);
    int want = before + 1;
    for (uint64_t end = tu_now_ms() + DEADLINE_MS; rec_times(-1) < want;) {
        assert_true(tu_now_ms() < end);
        tu_sleep_ms(1);
    }
}

static int setup(void **state)
{
    (void) state;
    return sp_loop_start() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void) state;
    sp_loop_stop();
    return 0;
}

/* ---- timers ---- */

static void test_loop_timers_fire_in_due_order_and_never_early(void **state)
{
    (void) state;
    rec_reset();
    enum { N = 100 };
    static struct rtimer t[N];
    /* Delays 0..49 ms in a scrambled order, more than the heap's first
       allocation holds. */
    for (int i = 0; i < N; i++) {
        rtimer_init(&t[i], i);
        sp_timer_start(&t[i].t, (uint64_t) ((i * 37) % 50));
    }
    int n = N;
    assert_true(tu_wait_until(rec_at_least, &n, DEADLINE_MS));
    assert_int_equal(rec_count(), N);
    for (int i = 0; i < N; i++) {
        assert_true(rec.in_loop[i]);
        assert_true(rec.at[i] >= rec.due[i]);
        if (i > 0)
            assert_true(rec.due[i - 1] <= rec.due[i]);
        assert_int_equal(rec_times(i), 1);
        assert_false(sp_timer_armed(&t[i].t));
    }
}

static void test_loop_stopped_timer_never_fires(void **state)
{
    (void) state;
    rec_reset();
    static struct rtimer a, b;
    rtimer_init(&a, 1);
    rtimer_init(&b, 2);
    gate_close();
    /* Both due at once; a comes first in due order, so if it were still armed
       it would fire no later than b. */
    sp_timer_start(&a.t, 0);
    sp_timer_start(&b.t, 1);
    assert_true(sp_timer_armed(&a.t));
    sp_timer_stop(&a.t);
    assert_false(sp_timer_armed(&a.t));
    sp_timer_stop(&a.t); /* twice is harmless */
    gate_open();
    wait_for(2);
    sync_loop();
    assert_int_equal(rec_times(1), 0);
    assert_false(sp_timer_armed(&a.t));
}

static void test_loop_restarted_timer_fires_once_at_its_new_time(void **state)
{
    (void) state;
    rec_reset();
    static struct rtimer a;
    rtimer_init(&a, 7);
    sp_timer_start(&a.t, 600000); /* ten minutes: the wait below would time out */
    uint64_t before = sp_clock_ms();
    sp_timer_start(&a.t, 2);
    wait_for(7);
    sync_loop();
    assert_int_equal(rec_times(7), 1);
    assert_true(rec.due[0] >= before + 2);
    assert_false(sp_timer_armed(&a.t));
}

static void test_loop_stop_of_one_timer_keeps_the_others(void **state)
{
    (void) state;
    rec_reset();
    enum { N = 20 };
    static struct rtimer t[N]; /* static: the loop may hold them if an assert fails */
    gate_close();
    for (int i = 0; i < N; i++) {
        rtimer_init(&t[i], i);
        sp_timer_start(&t[i].t, (uint64_t) (N - i));
    }
    /* Remove from the middle, the top and the end of the heap. */
    sp_timer_stop(&t[N - 1].t);
    sp_timer_stop(&t[7].t);
    sp_timer_stop(&t[0].t);
    gate_open();
    int n = N - 3;
    assert_true(tu_wait_until(rec_at_least, &n, DEADLINE_MS));
    sync_loop();
    for (int i = 0; i < N; i++)
        assert_int_equal(rec_times(i), (i == 0 || i == 7 || i == N - 1) ? 0 : 1);
    for (int i = 1; i < rec_count(); i++)
        if (rec.id[i] >= 0 && rec.id[i - 1] >= 0)
            assert_true(rec.due[i - 1] <= rec.due[i]);
}

static struct rtimer from_loop_timer;

static void arm_from_loop_cb(struct sp_task *t)
{
    (void) t;
    rtimer_init(&from_loop_timer, 99);
    sp_timer_start(&from_loop_timer.t, 0);
}

static void test_loop_timer_armed_on_loop_thread_fires(void **state)
{
    (void) state;
    rec_reset();
    static struct sp_task t;
    sp_task_init(&t, arm_from_loop_cb);
    sp_loop_post(&t);
    wait_for(99);
    assert_true(rec.in_loop[0]);
}

/* ---- tasks ---- */

static atomic_bool poster_in_loop = true;

static void post_from_thread(void *arg)
{
    atomic_store(&poster_in_loop, sp_loop_in_thread());
    sp_loop_post(arg);
}

static void test_loop_task_posted_from_another_thread_runs_on_loop_thread(void **state)
{
    (void) state;
    rec_reset();
    assert_false(sp_loop_in_thread());
    static struct rtask t;
    rtask_init(&t, 5);
    tu_thread th;
    tu_thread_start(&th, post_from_thread, &t.t);
    tu_thread_join(&th);
    assert_false(atomic_load(&poster_in_loop));
    wait_for(5);
    assert_true(rec.in_loop[0]);
    assert_false(sp_loop_in_thread());
}

static void test_loop_tasks_run_in_the_order_they_were_posted(void **state)
{
    (void) state;
    rec_reset();
    enum { N = 50 };
    static struct rtask t[N];
    gate_close();
    for (int i = 0; i < N; i++) {
        rtask_init(&t[i], i);
        sp_loop_post(&t[i].t);
    }
    gate_open();
    sync_loop();
    assert_int_equal(rec_count(), N + 1);
    for (int i = 0; i < N; i++)
        assert_int_equal(rec.id[i], i);
}

static void test_loop_post_of_queued_task_runs_it_once(void **state)
{
    (void) state;
    rec_reset();
    static struct rtask t;
    rtask_init(&t, 3);
    gate_close();
    sp_loop_post(&t.t);
    sp_loop_post(&t.t);
    sp_loop_post(&t.t);
    gate_open();
    sync_loop();
    assert_int_equal(rec_times(3), 1);
}

static void test_loop_cancel_removes_queued_task(void **state)
{
    (void) state;
    rec_reset();
    static struct rtask t[5];
    for (int i = 0; i < 5; i++)
        rtask_init(&t[i], i);
    gate_close();
    for (int i = 0; i < 4; i++)
        sp_loop_post(&t[i].t);
    sp_loop_cancel(&t[0].t); /* head */
    sp_loop_cancel(&t[2].t); /* middle */
    sp_loop_cancel(&t[3].t); /* tail: what is posted next must still run */
    sp_loop_post(&t[4].t);
    gate_open();
    sync_loop();
    assert_int_equal(rec_times(0), 0);
    assert_int_equal(rec_times(1), 1);
    assert_int_equal(rec_times(2), 0);
    assert_int_equal(rec_times(3), 0);
    assert_int_equal(rec_times(4), 1);
    /* A cancelled task can be posted again. */
    sp_loop_post(&t[2].t);
    sync_loop();
    assert_int_equal(rec_times(2), 1);
}

static void test_loop_cancel_of_task_not_queued_is_harmless(void **state)
{
    (void) state;
    rec_reset();
    static struct rtask t;
    rtask_init(&t, 8);
    sp_loop_cancel(&t.t);
    sp_loop_post(&t.t);
    wait_for(8);
    sp_loop_cancel(&t.t); /* already ran */
    sync_loop();
    assert_int_equal(rec_times(8), 1);
}

struct repost {
    struct sp_task t;
    atomic_int left;
};

static void repost_cb(struct sp_task *t)
{
    struct repost *r = sp_cont(t, struct repost, t);
    rec_add(10, 0);
    if (atomic_fetch_sub(&r->left, 1) > 1)
        sp_loop_post(t);
}

static void test_loop_task_reposting_itself_runs_again(void **state)
{
    (void) state;
    rec_reset();
    static struct repost r;
    sp_task_init(&r.t, repost_cb);
    atomic_init(&r.left, 10);
    sp_loop_post(&r.t);
    int n = 10;
    assert_true(tu_wait_until(rec_at_least, &n, DEADLINE_MS));
    sync_loop();
    assert_int_equal(rec_times(10), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_timers_fire_in_due_order_and_never_early),
        cmocka_unit_test(test_loop_stopped_timer_never_fires),
        cmocka_unit_test(test_loop_restarted_timer_fires_once_at_its_new_time),
        cmocka_unit_test(test_loop_stop_of_one_timer_keeps_the_others),
        cmocka_unit_test(test_loop_timer_armed_on_loop_thread_fires),
        cmocka_unit_test(test_loop_task_posted_from_another_thread_runs_on_loop_thread),
        cmocka_unit_test(test_loop_tasks_run_in_the_order_they_were_posted),
        cmocka_unit_test(test_loop_post_of_queued_task_runs_it_once),
        cmocka_unit_test(test_loop_cancel_removes_queued_task),
        cmocka_unit_test(test_loop_cancel_of_task_not_queued_is_harmless),
        cmocka_unit_test(test_loop_task_reposting_itself_runs_again),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
