/* Helpers shared by the public-API suites. They use only the public nanomsg
   headers so that every test here also compiles and runs against Debian's
   libnanomsg 1.1.5 (build with -DAGAINST_LIBNANOMSG; tests that pin a
   deliberate difference from libnanomsg, i.e. a crash we turn into an error,
   are compiled only without that macro). */
#ifndef APITEST_H
#define APITEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include <nanomsg/nn.h>

#include "testutil.h"

#ifndef NN_MAX_SOCKETS
#define NN_MAX_SOCKETS 512
#endif

/* Generous upper bound for "this should happen promptly" waits. */
#define API_DEADLINE_MS 5000

/* Fails the test unless rc == -1 and nn_errno() == want; prints both errnos. */
static inline void api_check_fail(int rc, int want, const char *expr,
                                  const char *file, int line)
{
    int e = nn_errno();
    if (rc != -1 || e != want) {
        print_error("%s: got rc=%d errno=%d (%s), want rc=-1 errno=%d (%s)\n",
                    expr, rc, e, nn_strerror(e), want, nn_strerror(want));
        _fail(file, line);
    }
}
#define assert_nn_fail(expr, err) \
    do { \
        errno = 0; \
        api_check_fail((int) (expr), (err), #expr, __FILE__, __LINE__); \
    } while (0)

/* Fails the test if rc < 0, printing errno. Returns rc. */
static inline int api_check_ok(int rc, const char *expr, const char *file, int line)
{
    if (rc < 0) {
        int e = nn_errno();
        print_error("%s: failed with errno=%d (%s)\n", expr, e, nn_strerror(e));
        _fail(file, line);
    }
    return rc;
}
#define assert_nn_ok(expr) api_check_ok((int) (expr), #expr, __FILE__, __LINE__)

/* Opens a socket or fails the test. */
#define api_socket(dom, proto) assert_nn_ok(nn_socket((dom), (proto)))

static inline void api_set_int(int s, int level, int opt, int val)
{
    assert_nn_ok(nn_setsockopt(s, level, opt, &val, sizeof val));
}

static inline int api_get_int(int s, int level, int opt)
{
    int val = 0x5a5a5a5a;
    size_t sz = sizeof val;
    assert_nn_ok(nn_getsockopt(s, level, opt, &val, &sz));
    assert_int_equal(sz, sizeof(int));
    return val;
}

/* Per-test teardown: closes every socket id so that one failing test cannot
   leave sockets behind that change the ids seen by the next one. */
static inline int api_close_all(void **state)
{
    (void) state;
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        nn_close(i);
    return 0;
}

#define api_test(f) cmocka_unit_test_teardown(f, api_close_all)

/* A unique inproc address per call within this process. */
static inline const char *api_inproc_addr(char *buf, size_t len)
{
    static int counter;
    snprintf(buf, len, "inproc://apitest-%d-%d", (int) getpid(), ++counter);
    return buf;
}

/* Connects two fresh sockets over inproc: *a binds, *b connects. */
static inline void api_inproc_pair(int proto_a, int proto_b, int *a, int *b)
{
    char addr[64];
    api_inproc_addr(addr, sizeof addr);
    *a = api_socket(AF_SP, proto_a);
    *b = api_socket(AF_SP, proto_b);
    assert_nn_ok(nn_bind(*a, addr));
    assert_nn_ok(nn_connect(*b, addr));
}

/* Sends a NUL-free string and fails the test on error. */
static inline void api_send_str(int s, const char *str)
{
    int rc = assert_nn_ok(nn_send(s, str, strlen(str), 0));
    assert_int_equal(rc, (int) strlen(str));
}

/* Receives one message and asserts it equals str. */
static inline void api_recv_str(int s, const char *str)
{
    char buf[256];
    int rc = assert_nn_ok(nn_recv(s, buf, sizeof buf, 0));
    assert_int_equal(rc, (int) strlen(str));
    assert_memory_equal(buf, str, strlen(str));
}

/* Linux thread id of the calling thread. */
static inline long api_gettid(void)
{
    return (long) syscall(SYS_gettid);
}

/* True when thread tid of this process is sleeping in the kernel ('S' in
   /proc/self/task/<tid>/stat), i.e. parked in a blocking wait. */
static inline bool api_thread_sleeping(long tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'S';
}

/* A blocking API call run in a helper thread: the thread publishes its tid,
   then makes the call; the test waits until the thread sleeps inside it. */
struct api_blocked {
    int s;
    int op;                 /* API_OP_RECV or API_OP_SEND */
    volatile long tid;      /* set by the thread before the call */
    volatile int started;   /* 1 once tid is valid */
    volatile int done;      /* 1 once the call returned */
    int sleeping_samples;   /* consecutive polls that saw the thread asleep */
    int rc;                 /* call result */
    int err;                /* errno after the call */
    char buf[16];           /* what a recv received */
};
enum { API_OP_RECV, API_OP_SEND };

static inline void api_blocked_run(void *arg)
{
    struct api_blocked *b = arg;
    b->tid = api_gettid();
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    if (b->op == API_OP_RECV)
        b->rc = nn_recv(b->s, b->buf, sizeof b->buf, 0);
    else
        b->rc = nn_send(b->s, "x", 1, 0);
    b->err = nn_errno();
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
}

/* Asleep on several consecutive polls, so that a momentary lock wait on the
   way into the call is not mistaken for the blocking wait itself. */
static inline bool api_blocked_is_sleeping(void *arg)
{
    struct api_blocked *b = arg;
    if (__atomic_load_n(&b->started, __ATOMIC_SEQ_CST) && api_thread_sleeping(b->tid))
        b->sleeping_samples++;
    else
        b->sleeping_samples = 0;
    return b->sleeping_samples >= 5;
}

static inline bool api_blocked_is_done(void *arg)
{
    struct api_blocked *b = arg;
    return __atomic_load_n(&b->done, __ATOMIC_SEQ_CST) != 0;
}

/* Starts the blocking call in thread t and waits until it is parked in it. */
static inline void api_blocked_start(tu_thread *t, struct api_blocked *b, int s, int op)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    b->op = op;
    tu_thread_start(t, api_blocked_run, b);
    assert_true(tu_wait_until(api_blocked_is_sleeping, b, API_DEADLINE_MS));
    assert_false(api_blocked_is_done(b));
}

struct api_stat_wait {
    int s;
    int stat;
    uint64_t value;
};

static inline bool api_stat_reaches(void *arg)
{
    struct api_stat_wait *w = arg;
    return nn_get_statistic(w->s, w->stat) == w->value;
}

/* Waits until statistic stat of socket s equals value, or fails the test. */
static inline void api_wait_stat(int s, int stat, uint64_t value)
{
    struct api_stat_wait w = {s, stat, value};
    if (!tu_wait_until(api_stat_reaches, &w, API_DEADLINE_MS)) {
        print_error("statistic %d of socket %d stayed %llu, want %llu\n", stat, s,
                    (unsigned long long) nn_get_statistic(s, stat),
                    (unsigned long long) value);
        fail();
    }
}

#endif
