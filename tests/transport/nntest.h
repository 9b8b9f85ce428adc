/* Small helpers for the transport and protocol suites: sockets with bounded
   timeouts, string send/receive with assertions, and waits on a socket
   condition with a deadline. Public nanomsg API only, so that every test also
   compiles against Debian's libnanomsg 1.1.5 (-DAGAINST_LIBNANOMSG). */
#ifndef NNTEST_H
#define NNTEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/nn.h>

#include "testutil.h"

/* Upper bound for anything that should happen "soon" (a connection, a
   message in flight). Generous: only a failing test ever waits this long. */
#define NT_DEADLINE_MS 5000

/* A socket whose blocking calls give up after NT_DEADLINE_MS, so a broken
   library fails the test instead of hanging it. */
static inline int nt_socket(int domain, int protocol)
{
    int s = nn_socket(domain, protocol);
    int tmo = NT_DEADLINE_MS;
    assert_true(s >= 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    return s;
}

static inline void nt_setint(int s, int level, int option, int value)
{
    assert_int_equal(nn_setsockopt(s, level, option, &value, sizeof value), 0);
}

static inline int nt_getint(int s, int level, int option)
{
    int value = -12345;
    size_t sz = sizeof value;
    assert_int_equal(nn_getsockopt(s, level, option, &value, &sz), 0);
    assert_int_equal(sz, sizeof value);
    return value;
}

static inline int nt_bind(int s, const char *url)
{
    int eid = nn_bind(s, url);
    if (eid < 0)
        fprintf(stderr, "nn_bind(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

static inline int nt_connect(int s, const char *url)
{
    int eid = nn_connect(s, url);
    if (eid < 0)
        fprintf(stderr, "nn_connect(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

static inline void nt_close(int s)
{
    assert_int_equal(nn_close(s), 0);
}

/* Sends str (without NUL), blocking up to the socket's NN_SNDTIMEO. */
static inline void nt_send(int s, const char *str)
{
    int rc = nn_send(s, str, strlen(str), 0);
    if (rc < 0)
        fprintf(stderr, "nn_send(%d, \"%s\"): %s\n", s, str, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(str));
}

/* Receives one message and checks it equals str. */
static inline void nt_recv(int s, const char *str)
{
    char buf[256];
    int rc = nn_recv(s, buf, sizeof buf - 1, 0);
    if (rc < 0)
        fprintf(stderr, "nn_recv(%d) expecting \"%s\": %s\n", s, str, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(str));
    buf[rc] = 0;
    assert_string_equal(buf, str);
}

/* Receives one message into buf (NUL-terminated); returns nn_recv's result. */
static inline int nt_recv_str(int s, char *buf, size_t len, int flags)
{
    int rc = nn_recv(s, buf, len - 1, flags);
    if (rc >= 0)
        buf[(size_t) rc < len - 1 ? (size_t) rc : len - 1] = 0;
    return rc;
}

/* Asserts that no message is waiting right now. */
static inline void nt_recv_nothing(int s)
{
    char buf[64];
    assert_int_equal(nn_recv(s, buf, sizeof buf, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
}

/* Waits (deadline NT_DEADLINE_MS) until nn_get_statistic(s, stat) == value. */
struct nt_stat_arg {
    int s;
    int stat;
    uint64_t value;
};

static inline bool nt_stat_reached(void *p)
{
    struct nt_stat_arg *a = p;
    return nn_get_statistic(a->s, a->stat) == a->value;
}

static inline bool nt_wait_stat(int s, int stat, uint64_t value)
{
    struct nt_stat_arg a = {s, stat, value};
    return tu_wait_until(nt_stat_reached, &a, NT_DEADLINE_MS);
}

/* Keeps sending msg (each attempt waits at most attempt_ms) until the receiver
   r gets one message equal to msg, or NT_DEADLINE_MS passes. For pipes that
   may be (re)connecting: a message sent into a dying connection is lost, which
   is exactly the behaviour these tests live with. Extra copies of msg that
   were in flight are drained by the caller if it cares. */
static inline bool nt_send_until_received(int s, int r, const char *msg, int attempt_ms)
{
    uint64_t end = tu_now_ms() + NT_DEADLINE_MS;
    int old_snd = nt_getint(s, NN_SOL_SOCKET, NN_SNDTIMEO);
    int old_rcv = nt_getint(r, NN_SOL_SOCKET, NN_RCVTIMEO);
    bool ok = false;
    nt_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, attempt_ms);
    nt_setint(r, NN_SOL_SOCKET, NN_RCVTIMEO, attempt_ms);
    while (!ok && tu_now_ms() < end) {
        char buf[256];
        int rc;
        nn_send(s, msg, strlen(msg), 0);
        rc = nt_recv_str(r, buf, sizeof buf, 0);
        if (rc >= 0 && strcmp(buf, msg) == 0)
            ok = true;
    }
    nt_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, old_snd);
    nt_setint(r, NN_SOL_SOCKET, NN_RCVTIMEO, old_rcv);
    return ok;
}

/* Drains every message that arrives within quiet_ms of the previous one. */
static inline int nt_drain(int s, int quiet_ms)
{
    int old = nt_getint(s, NN_SOL_SOCKET, NN_RCVTIMEO);
    char buf[64];
    int n = 0;
    nt_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, quiet_ms);
    while (nn_recv(s, buf, sizeof buf, 0) >= 0)
        n++;
    nt_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, old);
    return n;
}

#endif
