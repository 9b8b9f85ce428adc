/* The threading rules as a tool checks them: in a debug build (meson's
   default, the one CI tests) a function documented "socket lock held" or
   "loop thread" aborts when its rule is broken, and a socket lock never
   nests; and sp_drain_wait, which replaced busy waits at teardown, returns
   once the last user is gone and not before. Each broken rule runs in a
   forked child, which must die by SIGABRT after saying which invariant
   failed. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>

#include "testutil.h"
#include "aio/loop.h"
#include "core/drain.h"
#include "core/sock.h"
#include "protocol.h"

#define DEADLINE_MS 10000

static struct sp_sock *new_pair_socket(int id)
{
    struct sp_sock *s = NULL;
    assert_int_equal(sp_sock_create(&s, sp_socktype_find(AF_SP, NN_PAIR), id), 0);
    return s;
}

/* Runs fn in a child with stderr in a pipe: true when the child died by
   SIGABRT and said "internal invariant failed". */
static bool child_aborts(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    char buf[512];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t) k;
    buf[n] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(buf, "internal invariant failed");
}

#ifndef NDEBUG /* the lock-held checks they break exist only in debug builds */
static void notify_without_lock(void)
{
    sp_sock_notify(new_pair_socket(0));
}

static void notify_with_other_lock(void)
{
    struct sp_sock *a = new_pair_socket(0), *b = new_pair_socket(1);
    sp_sock_lock(a);
    sp_sock_notify(b);
}
#endif

static void lock_two_sockets(void)
{
    struct sp_sock *a = new_pair_socket(0), *b = new_pair_socket(1);
    sp_sock_lock(a);
    sp_sock_lock(b);
}

static void io_del_off_the_loop(void)
{
    struct sp_io io = {.fd = -1};
    sp_io_del(&io);
}

static void test_a_socket_lock_never_nests(void **state)
{
    (void) state;
    assert_true(child_aborts(lock_two_sockets));
}

static void test_lock_held_rules_abort_when_broken_in_debug_builds(void **state)
{
    (void) state;
#ifdef NDEBUG
    skip(); /* a release build: the checks are compiled out */
#else
    assert_true(child_aborts(notify_without_lock));
    assert_true(child_aborts(notify_with_other_lock));
    /* Kept: the same call with the lock passes. */
    struct sp_sock *s = new_pair_socket(0);
    sp_sock_lock(s);
    sp_sock_notify(s);
    assert_ptr_equal(sp_sock_held(), s);
    sp_sock_unlock(s);
    assert_null(sp_sock_held());
    sp_sock_mark_closing(s);
    sp_sock_destroy(s);
#endif
}

static void test_loop_thread_rules_abort_when_broken(void **state)
{
    (void) state;
    assert_true(child_aborts(io_del_off_the_loop));
}

/* ---- sp_drain_wait ---- */

static atomic_int users;
static atomic_bool waiter_done;

static void waiter(void *arg)
{
    (void) arg;
    sp_drain_wait(&users);
    atomic_store(&waiter_done, true);
}

static bool waiter_finished(void *arg)
{
    (void) arg;
    return atomic_load(&waiter_done);
}

static bool waiter_registered(void *arg)
{
    (void) arg;
    return (atomic_load(&users) & SP_DRAIN_WAITING) != 0;
}

static void test_drain_wait_returns_when_the_last_user_leaves(void **state)
{
    (void) state;
    atomic_store(&users, 2);
    atomic_store(&waiter_done, false);
    tu_thread t;
    tu_thread_start(&t, waiter, NULL);
    assert_true(tu_wait_until(waiter_registered, NULL, DEADLINE_MS));
    sp_drain_put(&users);
    /* One user left: still waiting (it was registered before the put, so
       a wake-up would have been a bug, not a race). */
    assert_false(atomic_load(&waiter_done));
    sp_drain_put(&users);
    assert_true(tu_wait_until(waiter_finished, NULL, DEADLINE_MS));
    tu_thread_join(&t);
    assert_int_equal(atomic_load(&users), 0); /* the mark is gone too */
}

static void test_drain_wait_with_no_user_returns_at_once(void **state)
{
    (void) state;
    atomic_store(&users, 0);
    sp_drain_wait(&users);
    assert_int_equal(atomic_load(&users), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_socket_lock_never_nests),
        cmocka_unit_test(test_lock_held_rules_abort_when_broken_in_debug_builds),
        cmocka_unit_test(test_loop_thread_rules_abort_when_broken),
        cmocka_unit_test(test_drain_wait_returns_when_the_last_user_leaves),
        cmocka_unit_test(test_drain_wait_with_no_user_returns_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
