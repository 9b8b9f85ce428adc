/* API-sequence fuzz target: each input is a program of nn_* calls on a few
   sockets, endpoints and messages in one process, over inproc, ipc, tcp and
   ws on the loopback of a private network namespace (fuzznet.h), with a
   device thread now and then. Sockets, endpoints and messages are named by
   small slot numbers, so that a call may well name one that was closed, shut
   down, freed or never made. Every call must return, and fail only with an
   errno SPEC.md gives it; an option that was set reads back as set; a
   received message's size is what the call returned; after the input
   everything is closed and freed, and nothing may leak. Blocking calls wait
   at most a few milliseconds (the timeouts an input can set are capped), so
   an input runs in milliseconds.

   A blocking call may also fail with EINTR: libFuzzer's timer is a signal.
   Not here: nn_term (permanent for the process), and options whose values
   would make a call wait long (negative timeouts and linger).

   Input: operations until the input ends, each an opcode byte (ops[],
   modulo their number) and the operand bytes it takes (fewer at the end of
   the input read as 0). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/bus.h>
#include <nanomsg/keepalive.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pgm.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tcp.h>
#include <nanomsg/tls.h>
#include <nanomsg/ws.h>

#include "sp_config.h"

#include "fuzz.h"
#include "fuzznet.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_api: %s:%d: check failed: %s (errno %d: %s)\n", __FILE__, \
                    __LINE__, #cond, errno, nn_strerror(errno));                             \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* errno is one of the listed values (0-terminated). */
static bool one_of(int err, const int *list)
{
    for (; *list; list++)
        if (err == *list)
            return true;
    return false;
}
#define ERR_IN(...) one_of(errno, (const int[]){__VA_ARGS__, 0})

#define NSOCK 4
#define NEP 4
#define NMSG 4

static const int protocols[] = {NN_PAIR, NN_REQ, NN_REP, NN_PUB, NN_SUB, NN_SURVEYOR,
                                NN_RESPONDENT, NN_PUSH, NN_PULL, NN_BUS, 0, 99};
#define NPROTO (int) (sizeof protocols / sizeof protocols[0])

/* Addresses: fixed ports are fine in the private namespace. */
static const char *const urls[] = {
    "inproc://a",           "inproc://b",         "ipc://a.sock",        "ipc://b.sock",
    "tcp://127.0.0.1:5001", "tcp://127.0.0.1:5002", "ws://127.0.0.1:5003", "tcp://127.0.0.1:0",
    "nope://x",             "inproc:/x",
};
#define NURL (int) (sizeof urls / sizeof urls[0])

static int sock[NSOCK];
static int eps[NSOCK][NEP];
static void *msgs[NMSG];
static size_t msglen[NMSG];
static pthread_t device_thread;
static bool device_running;

static void *device_main(void *arg)
{
    int *s = arg;
    /* Returns when one of the sockets is closed (EBADF), or at once when
       the pair cannot make a device. */
    int rc = nn_device(s[0], s[1]);
    CHECK(rc == -1 && ERR_IN(EBADF, EINVAL, ETIMEDOUT, EAGAIN, EFSM, ENOTSUP, EINTR));
    free(s);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_private_net("fuzz-api");
    return 0;
}

/* ---- operands ---- */

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static int pick_sock(struct in *in)
{
    uint8_t v = take(in);
    /* Now and then an id that was never a socket. */
    return v >= 250 ? (v == 250 ? -1 : v == 251 ? 511 : v == 252 ? NN_MAX_SOCKETS : 7) : sock[v % NSOCK];
}

static const int values[] = {-1000, -1, 0, 1, 2, 3, 5, 8, 16, 17, 255, 256, 1000, 65536, 1 << 20, INT_MAX, INT_MIN};
#define NVALUES (int) (sizeof values / sizeof values[0])

/* ---- options ---- */

enum { EXACT = 1, WAITS = 2 };
static const struct opt {
    int level, option;
    int flags; /* EXACT: reads back what was set; WAITS: capped at 5 ms */
} opts[] = {
    {NN_SOL_SOCKET, NN_LINGER, EXACT | WAITS},
    {NN_SOL_SOCKET, NN_SNDBUF, EXACT},
    {NN_SOL_SOCKET, NN_RCVBUF, EXACT},
    {NN_SOL_SOCKET, NN_SNDTIMEO, EXACT | WAITS},
    {NN_SOL_SOCKET, NN_RCVTIMEO, EXACT | WAITS},
    {NN_SOL_SOCKET, NN_RECONNECT_IVL, EXACT},
    {NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, EXACT},
    {NN_SOL_SOCKET, NN_SNDPRIO, EXACT},
    {NN_SOL_SOCKET, NN_RCVPRIO, EXACT},
    {NN_SOL_SOCKET, NN_SNDFD, 0},
    {NN_SOL_SOCKET, NN_RCVFD, 0},
    {NN_SOL_SOCKET, NN_DOMAIN, 0},
    {NN_SOL_SOCKET, NN_PROTOCOL, 0},
    {NN_SOL_SOCKET, NN_IPV4ONLY, EXACT},
    {NN_SOL_SOCKET, NN_RCVMAXSIZE, EXACT},
    {NN_SOL_SOCKET, NN_MAXTTL, EXACT},
    {NN_SOL_SOCKET, 99, 0},
    {NN_TCP, NN_TCP_NODELAY, EXACT},
    {NN_TCP, NN_TCP_KEEPALIVE, EXACT},
    {NN_TLS, NN_TLS_VERIFY, EXACT},
    {NN_PGM, NN_PGM_RATE, EXACT},
    {NN_PGM, NN_PGM_RECOVERY_IVL, EXACT},
    {NN_PGM, NN_PGM_HOPS, EXACT},
    {NN_PGM, NN_PGM_LOOP, EXACT},
    {NN_PGM, NN_PGM_MAXTPDU, EXACT},
    {NN_PGM, NN_PGM_PEER_EXPIRY, EXACT},
    {NN_WS, NN_WS_MSG_TYPE, EXACT},
    {NN_REQ, NN_REQ_RESEND_IVL, EXACT},
    {NN_SURVEYOR, NN_SURVEYOR_DEADLINE, EXACT},
    {NN_SUB, NN_SUB_SUBSCRIBE, 0},
    {NN_SUB, NN_SUB_UNSUBSCRIBE, 0},
    {-1, 1, 0},
    {-9, 1, 0},
};
#define NOPTS (int) (sizeof opts / sizeof opts[0])

static void op_setsockopt(struct in *in)
{
    int s = pick_sock(in);
    const struct opt *o = &opts[take(in) % NOPTS];
    uint8_t v = take(in);
    if (o->level == NN_SUB) {
        /* A topic: up to 3 bytes of the input. */
        char topic[3];
        size_t n = v % 4;
        for (size_t i = 0; i < n; i++)
            topic[i] = (char) take(in);
        errno = 0;
        int rc = nn_setsockopt(s, o->level, o->option, n ? topic : "", n);
        CHECK(rc == 0 || ERR_IN(EBADF, ENOPROTOOPT, EINVAL));
        return;
    }
    if (o->option == NN_SOCKET_NAME) {
        char name[80];
        size_t n = v % sizeof name;
        memset(name, 'n', n);
        CHECK(nn_setsockopt(s, o->level, o->option, name, n) == 0 || ERR_IN(EBADF, EINVAL));
        return;
    }
    int val = values[v % NVALUES];
    if ((o->flags & WAITS) && (val < 0 || val > 5))
        val = (unsigned) val % 6;
    size_t len = (v & 0x80) ? 2 : sizeof val; /* a wrong size now and then */
    errno = 0;
    int rc = nn_setsockopt(s, o->level, o->option, &val, len);
    if (rc != 0) {
        CHECK(ERR_IN(EBADF, ENOPROTOOPT, EINVAL));
        return;
    }
    CHECK(len == sizeof val);
    if (o->flags & EXACT) {
        int got = 0;
        size_t gl = sizeof got;
        CHECK(nn_getsockopt(s, o->level, o->option, &got, &gl) == 0);
        if (gl != sizeof got || got != val) {
            fprintf(stderr, "fuzz_api: option %d/%d set to %d reads back %d (size %zu)\n", o->level, o->option,
                    val, got, gl);
            CHECK(0);
        }
    }
}

static void op_getsockopt(struct in *in)
{
    int s = pick_sock(in);
    uint8_t k = take(in);
    uint8_t v[128];
    size_t len = take(in) % sizeof v;
    errno = 0;
    if (k % 8 == 7) {
        memset(v, 0x5a, sizeof v);
        int rc = nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, v, &len);
        CHECK(rc == 0 || errno == EBADF);
        return;
    }
    const struct opt *o = &opts[k % NOPTS];
    int rc = nn_getsockopt(s, o->level, o->option, v, &len);
    CHECK(rc == 0 || ERR_IN(EBADF, ENOPROTOOPT, EINVAL));
    if (rc == 0)
        CHECK(len <= sizeof v);
}

/* ---- sockets and endpoints ---- */

static void close_slot(int i)
{
    if (sock[i] < 0)
        return;
    CHECK(nn_close(sock[i]) == 0);
    sock[i] = -1;
    for (int e = 0; e < NEP; e++)
        eps[i][e] = -1;
}

static void op_socket(struct in *in)
{
    int i = take(in) % NSOCK;
    uint8_t v = take(in);
    int domain = (v & 0x80) ? AF_SP_RAW : (v & 0x40) && (v & 0x20) ? 7 : AF_SP;
    int proto = protocols[(v & 0x1f) % NPROTO];
    close_slot(i);
    errno = 0;
    int s = nn_socket(domain, proto);
    if (s < 0) {
        CHECK(ERR_IN(EAFNOSUPPORT, EINVAL));
        return;
    }
    sock[i] = s;
    /* Short waits from the start: blocking calls return promptly. */
    int t = 1;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &t, sizeof t) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof t) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &t, sizeof t) == 0);
}

static void op_close(struct in *in)
{
    uint8_t v = take(in);
    if (v >= 250) {
        errno = 0;
        CHECK(nn_close(v == 250 ? -1 : 600) == -1 && errno == EBADF);
        return;
    }
    close_slot(v % NSOCK);
}

static void op_endpoint(struct in *in, bool bind)
{
    int i = take(in) % NSOCK;
    const char *url = urls[take(in) % NURL];
    errno = 0;
    int eid = bind ? nn_bind(sock[i], url) : nn_connect(sock[i], url);
    if (eid < 0) {
        CHECK(ERR_IN(EBADF, EINVAL, EPROTONOSUPPORT, EADDRINUSE));
        return;
    }
    for (int e = 0; e < NEP; e++)
        if (eps[i][e] < 0) {
            eps[i][e] = eid;
            return;
        }
}

static void op_shutdown(struct in *in)
{
    int i = take(in) % NSOCK;
    uint8_t e = take(in);
    int eid = e >= 250 ? (int) e - 252 : eps[i][e % NEP];
    errno = 0;
    int rc = nn_shutdown(sock[i], eid);
    if (rc == 0) {
        for (int k = 0; k < NEP; k++)
            if (eps[i][k] == eid)
                eps[i][k] = -1;
        return;
    }
    CHECK(ERR_IN(EBADF, EINVAL));
}

/* ---- messages ---- */

static void op_send(struct in *in)
{
    int s = pick_sock(in);
    uint8_t v = take(in);
    char buf[64];
    size_t len = v % sizeof buf;
    memset(buf, 'm', len);
    int flags = (v & 0x70) == 0x70 ? 0 : NN_DONTWAIT; /* blocking: 1 in 8 */
    errno = 0;
    int rc;
    if (v & 0x80) {
        /* A held NN_MSG chunk: the library takes it if the send works. */
        int k = v % NMSG;
        void *m = msgs[k];
        rc = nn_send(s, &msgs[k], NN_MSG, flags);
        if (rc >= 0) {
            CHECK(m != NULL && (size_t) rc == msglen[k]);
            msgs[k] = NULL;
            return;
        }
        CHECK(ERR_IN(EBADF, ENOTSUP, EFSM, EAGAIN, ETIMEDOUT, EFAULT, EINVAL, EINTR));
        CHECK(m != NULL || errno == EFAULT || errno == EBADF);
        return;
    }
    rc = nn_send(s, buf, len, flags);
    CHECK(rc == (int) len || (rc == -1 && ERR_IN(EBADF, ENOTSUP, EFSM, EAGAIN, ETIMEDOUT, EINVAL, EINTR)));
}

static void op_recv(struct in *in)
{
    int s = pick_sock(in);
    uint8_t v = take(in);
    int flags = (v & 0x70) == 0x70 ? 0 : NN_DONTWAIT; /* blocking: 1 in 8 */
    errno = 0;
    if (v & 0x80) {
        void *m = NULL;
        int rc = nn_recv(s, &m, NN_MSG, flags);
        if (rc < 0) {
            CHECK(ERR_IN(EBADF, ENOTSUP, EFSM, EAGAIN, ETIMEDOUT, EINTR));
            return;
        }
        CHECK(m != NULL);
        /* Keep it now and then: a later send or realloc may use it. */
        int k = v % NMSG;
        if (!msgs[k] && (v & 0x20)) {
            memset(m, 'a', (size_t) rc);
            msgs[k] = m;
            msglen[k] = (size_t) rc;
            return;
        }
        memset(m, 0, (size_t) rc); /* the whole size is ours to write */
        CHECK(nn_freemsg(m) == 0);
        return;
    }
    char buf[64];
    int rc = nn_recv(s, buf, v % sizeof buf, flags);
    CHECK(rc >= 0 || ERR_IN(EBADF, ENOTSUP, EFSM, EAGAIN, ETIMEDOUT, EINTR));
}

static void op_allocmsg(struct in *in)
{
    int k = take(in) % NMSG;
    uint8_t v = take(in);
    size_t size = v == 255 ? SIZE_MAX - 8 : (size_t) v * 8;
    int type = (v & 0x40) && (v & 0x20) ? 1 : 0;
    errno = 0;
    void *m = nn_allocmsg(size, type);
    if (!m) {
        CHECK(ERR_IN(EINVAL, ENOMEM));
        return;
    }
    CHECK(type == 0);
    memset(m, 'a', size);
    if (msgs[k])
        CHECK(nn_freemsg(msgs[k]) == 0);
    msgs[k] = m;
    msglen[k] = size;
}

static void op_reallocmsg(struct in *in)
{
    int k = take(in) % NMSG;
    uint8_t v = take(in);
    size_t size = v == 255 ? SIZE_MAX - 8 : (size_t) v * 4;
    if (!msgs[k]) {
        /* A pointer the application does not hold. */
        char local[8];
        errno = 0;
        CHECK(nn_reallocmsg(local, size) == NULL && errno == EFAULT);
        return;
    }
    errno = 0;
    void *m = nn_reallocmsg(msgs[k], size);
    if (!m) {
        CHECK(errno == ENOMEM);
        return;
    }
    size_t keep = size < msglen[k] ? size : msglen[k];
    for (size_t i = 0; i < keep; i++)
        CHECK(((char *) m)[i] == 'a' || ((char *) m)[i] == 0);
    memset((char *) m + keep, 'a', size - keep);
    msgs[k] = m;
    msglen[k] = size;
}

static void op_freemsg(struct in *in)
{
    uint8_t v = take(in);
    int k = v % NMSG;
    if (!msgs[k] || (v & 0x80)) {
        /* Not held: a stack address, or the middle of a held chunk. */
        char local[8];
        void *p = msgs[k] ? (char *) msgs[k] + 8 : local;
        errno = 0;
        CHECK(nn_freemsg(p) == -1 && errno == EFAULT);
        return;
    }
    CHECK(nn_freemsg(msgs[k]) == 0);
    msgs[k] = NULL;
}

/* ---- the rest of the API ---- */

static void op_poll(struct in *in)
{
    struct nn_pollfd p[NSOCK];
    uint8_t v = take(in);
    int n = 0;
    for (int i = 0; i < NSOCK; i++) {
        if (!(v & (1 << i)))
            continue;
        p[n].fd = sock[i];
        p[n].events = (short) ((v >> 4) & 3);
        p[n].revents = 0;
        n++;
    }
    errno = 0;
    int rc = nn_poll(p, n, (v & 0x40) ? 1 : 0);
    CHECK(rc >= 0 ? rc <= n : ERR_IN(EBADF, ENOPROTOOPT, EINVAL, EINTR));
}

static void op_statistic(struct in *in)
{
    static const int stats[] = {101, 102, 103, 104, 105, 106, 107, 201, 202, 203, 301, 302, 303, 304, 401, 0, 999};
    int s = pick_sock(in);
    int st = stats[take(in) % (sizeof stats / sizeof stats[0])];
    errno = 0;
    uint64_t v = nn_get_statistic(s, st);
    CHECK(v != (uint64_t) -1 || ERR_IN(EBADF, EINVAL) || st == 401);
}

static void op_misc(struct in *in)
{
    uint8_t v = take(in);
    int value;
    switch (v % 4) {
    case 0:
        CHECK(nn_strerror((int) take(in) * 1000003 - 7) != NULL);
        break;
    case 1:
        errno = 0;
        if (!nn_symbol((int) take(in) - 5, &value))
            CHECK(errno == EINVAL);
        break;
    case 2: {
        struct nn_symbol_properties sp;
        int n = nn_symbol_info((int) take(in) - 5, &sp, (int) sizeof sp);
        CHECK(n == 0 || n == (int) sizeof sp);
        break;
    }
    default:
        CHECK(nn_errno() >= 0);
        break;
    }
}

static void op_device(struct in *in)
{
    if (device_running)
        return;
    int *s = malloc(2 * sizeof *s);
    CHECK(s != NULL);
    s[0] = pick_sock(in);
    s[1] = pick_sock(in);
    CHECK(pthread_create(&device_thread, NULL, device_main, s) == 0);
    device_running = true;
}

static void (*const ops[])(struct in *) = {
    op_socket, op_socket, op_close, op_setsockopt, op_getsockopt, op_send, op_send, op_recv, op_recv,
    op_allocmsg, op_reallocmsg, op_freemsg, op_poll, op_statistic, op_misc, op_device, op_shutdown,
};
#define NOPS (int) (sizeof ops / sizeof ops[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int i = 0; i < NSOCK; i++) {
        sock[i] = -1;
        for (int e = 0; e < NEP; e++)
            eps[i][e] = -1;
    }
    struct in in = {data, size};
    while (in.n) {
        uint8_t op = take(&in);
        int k = op % (NOPS + 2);
        if (k == NOPS)
            op_endpoint(&in, true);
        else if (k == NOPS + 1)
            op_endpoint(&in, false);
        else
            ops[k](&in);
    }
    for (int i = 0; i < NSOCK; i++)
        close_slot(i);
    if (device_running) {
        /* Its sockets are closed: it has returned or is about to. */
        pthread_join(device_thread, NULL);
        device_running = false;
    }
    for (int k = 0; k < NMSG; k++) {
        if (msgs[k])
            CHECK(nn_freemsg(msgs[k]) == 0);
        msgs[k] = NULL;
    }
    return 0;
}
