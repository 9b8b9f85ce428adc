/* Threads the library starts: none for a program that only uses inproc
   (DESIGN: the I/O thread starts with the first tcp/ipc/ws endpoint), one
   I/O thread once a stream transport is used, and none left after the last
   socket closes. The library must also leave the caller's signal mask
   alone. Counts are relative to the threads the process has before the
   library starts any: a sanitizer runtime (TSan) keeps a thread of its own
   once the first thread was created. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>

#include "testutil.h"

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The process's threads when the library runs none. */
static int base_threads;

static void nothing(void *arg)
{
    (void) arg;
}

static int count_base_threads(void **state)
{
    (void) state;
    tu_thread t;
    tu_thread_start(&t, nothing, NULL);
    tu_thread_join(&t);
    base_threads = thread_count();
#if !defined(__SANITIZE_THREAD__)
    /* Without TSan nothing else runs threads: the main one is all. */
    if (base_threads != 1)
        return -1;
#endif
    return 0;
}

static bool no_library_thread(void *arg)
{
    (void) arg;
    return thread_count() == base_threads;
}

static void test_inproc_only_program_starts_no_thread(void **state)
{
    (void) state;
    int to = 5000;
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    int push = nn_socket(AF_SP, NN_PUSH), pull = nn_socket(AF_SP, NN_PULL);
    int pub = nn_socket(AF_SP, NN_PUB), sub = nn_socket(AF_SP, NN_SUB);
    assert_true(a >= 0 && b >= 0 && push >= 0 && pull >= 0 && pub >= 0 && sub >= 0);
    nn_setsockopt(b, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
    nn_setsockopt(pull, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
    nn_setsockopt(sub, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
    nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
    assert_true(nn_bind(a, "inproc://threads-pair") > 0);
    assert_true(nn_connect(b, "inproc://threads-pair") > 0);
    assert_true(nn_bind(pull, "inproc://threads-pipe") > 0);
    assert_true(nn_connect(push, "inproc://threads-pipe") > 0);
    assert_true(nn_bind(pub, "inproc://threads-pub") > 0);
    assert_true(nn_connect(sub, "inproc://threads-pub") > 0);
    char buf[8];
    assert_int_equal(nn_send(a, "x", 1, 0), 1);
    assert_int_equal(nn_recv(b, buf, sizeof buf, 0), 1);
    assert_int_equal(nn_send(push, "y", 1, 0), 1);
    assert_int_equal(nn_recv(pull, buf, sizeof buf, 0), 1);
    assert_int_equal(nn_send(pub, "z", 1, 0), 1);
    assert_int_equal(nn_recv(sub, buf, sizeof buf, 0), 1);
    assert_int_equal(thread_count(), base_threads);
    int s[] = {a, b, push, pull, pub, sub};
    for (int i = 0; i < 6; i++)
        assert_int_equal(nn_close(s[i]), 0);
}

static void test_io_thread_runs_while_tcp_is_used_and_stops_after_last_close(void **state)
{
    (void) state;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int s = nn_socket(AF_SP, NN_PAIR);
    assert_true(nn_bind(s, url) > 0);
    assert_int_equal(thread_count(), base_threads + 1);
    assert_int_equal(nn_close(s), 0);
    assert_true(tu_wait_until(no_library_thread, NULL, 5000));
}

static void test_library_leaves_callers_signal_mask_alone(void **state)
{
    (void) state;
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int s = nn_socket(AF_SP, NN_PAIR);
    assert_true(nn_bind(s, url) > 0);
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    assert_int_equal(nn_close(s), 0);
    for (int sig = 1; sig < 32; sig++)
        assert_int_equal(sigismember(&before, sig), sigismember(&after, sig));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inproc_only_program_starts_no_thread),
        cmocka_unit_test(test_io_thread_runs_while_tcp_is_used_and_stops_after_last_close),
        cmocka_unit_test(test_library_leaves_callers_signal_mask_alone),
    };
    return cmocka_run_group_tests(tests, count_base_threads, NULL);
}
