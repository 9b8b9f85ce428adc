/* A signal delivered to a thread blocked in nn_recv/nn_send makes the call
   fail with EINTR, as in libnanomsg (whose wait is a poll()), even when the
   handler was installed with SA_RESTART the way signal() does it. Daemons
   rely on it to leave their receive loop on SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>

#include "testutil.h"

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void) sig;
    handled = 1;
}

/* rc and started are polled by the signalling thread while the blocked one
   sets them; err is read only after the join. */
struct blocked {
    int s;
    bool send;
    atomic_int rc;
    int err;
    atomic_bool started;
};

static void blocked_call(void *arg)
{
    struct blocked *b = arg;
    char buf[8];
    int rc;
    atomic_store(&b->started, true);
    if (b->send)
        rc = nn_send(b->s, "x", 1, 0);
    else
        rc = nn_recv(b->s, buf, sizeof buf, 0);
    b->err = errno;
    atomic_store(&b->rc, rc);
}

static bool call_returned(void *arg)
{
    return atomic_load(&((struct blocked *) arg)->rc) != 99;
}

static void run(bool send, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);

    int s = nn_socket(AF_SP, NN_PAIR);
    assert_true(s >= 0);
    struct blocked b = {.s = s, .send = send, .err = 0};
    atomic_init(&b.rc, 99);
    atomic_init(&b.started, false);
    tu_thread t;
    tu_thread_start(&t, blocked_call, &b);
    while (!atomic_load(&b.started))
        tu_sleep_ms(1);
    /* Signal until the call gives up: a signal that lands before the thread
       sleeps in the library is simply handled and the wait goes on. */
    uint64_t end = tu_now_ms() + 5000;
    while (!call_returned(&b) && tu_now_ms() < end) {
        pthread_kill((pthread_t) t.handle, SIGUSR1);
        tu_wait_until(call_returned, &b, 20);
    }
    tu_thread_join(&t);
    assert_int_equal(atomic_load(&b.rc), -1);
    assert_int_equal(b.err, EINTR);
    assert_true(handled);
    assert_int_equal(nn_close(s), 0);
}

static void test_signal_interrupts_blocked_recv_with_eintr(void **state)
{
    (void) state;
    run(false, 0);
}

static void test_signal_interrupts_blocked_recv_even_with_sa_restart(void **state)
{
    (void) state;
    run(false, SA_RESTART);
}

static void test_signal_interrupts_blocked_send_with_eintr(void **state)
{
    (void) state;
    run(true, SA_RESTART);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_interrupts_blocked_recv_with_eintr),
        cmocka_unit_test(test_signal_interrupts_blocked_recv_even_with_sa_restart),
        cmocka_unit_test(test_signal_interrupts_blocked_send_with_eintr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
