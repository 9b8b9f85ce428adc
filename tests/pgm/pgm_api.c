/* pgm:// and epgm:// through the nn_* API, between network namespaces that
   stand for hosts on one LAN (pgm_api.sh builds them: three namespaces
   bridged together, with or without 3 % random loss of what each receives).
   Each thread enters the namespace of the "host" it plays before it creates
   its sockets (OpenPGM's sockets are made at nn_bind/nn_connect, in the
   caller's namespace).

   usage: pgm-api CASE SCHEME NS1 NS2 NS3 IF1 IF2 IF3 PORT

   Cases:
     xfer      a PUB in NS1, SUBs in NS2 and NS3: 10,000 x 64 B, 10,000 x
               1000 B, 500 x 64 KiB and one 1 MiB message, all delivered to
               both, in order, byte-exact, none lost or dropped; a third SUB
               (in NS3) subscribed to a topic nobody sends gets nothing.
     late      a SUB that joins while a PUB streams messages of several
               datagrams gets whole messages, consecutive from its first on.
     bus       three BUS members, one per namespace: each hears the two
               others' messages in order, never its own; a SUB in the
               group delivers none of them (not its peer protocol; pgm
               only, see case_bus).
     maxsize   NN_RCVMAXSIZE applies as it stands when a message starts: a
               SUB limited to 1000 bytes skips a 5000-byte message and gets
               the next one; after raising the limit, it gets 5000 bytes.
     errors    in NS1 only: bad addresses and refused socket types fail with
               the documented errno at nn_bind/nn_connect; NN_PGM options
               and their readback.
     drops     in NS1 only: a PUB whose rate limit holds its sends back
               never blocks: what exceeds NN_SNDBUF is dropped and counted.
     groups    in NS1 only: nn_bind and nn_connect join the group (the
               kernel's membership list), two sockets can share it,
               nn_shutdown and nn_close leave it.
     noraw     in NS1 only, after dropping CAP_NET_RAW: pgm fails with
               EACCES at nn_bind/nn_connect; epgm still carries messages.
               (SCHEME is ignored.)
     expiry    NN_PGM_PEER_EXPIRY: range and readback; a SUB in NS2 with a
               short expiry closes the pipe of a PUB in NS1 that went
               silent (NN_STAT_CURRENT_CONNECTIONS back to 0), and hears a
               new sender afterwards.

   Senders do not start their numbered messages before every receiver has
   heard from them (they send "hello" messages until the receivers say so):
   PGM has no history for a receiver that joins a running sender, so that a
   receiver's first packet lost to the network would otherwise make its
   first message missing rather than late. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>

#include <nanomsg/bus.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pgm.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#include "testutil.h"

/* A broken repair path shows up as this deadline passing, never as a hang. */
#define DEADLINE_MS 90000
#define BIG_BUF (256 * 1024 * 1024)

static const char *scheme, *ns[3], *ifs[3];
static int port;
static atomic_int failures;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "pgm-api: %s:%d: ", __FILE__, __LINE__);                                   \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        atomic_fetch_add(&failures, 1);                                                            \
    } while (0)

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FAIL(__VA_ARGS__);                                                                     \
    } while (0)

static bool enter_netns(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        FAIL("entering network namespace %s: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return true;
}

static void url(char *buf, size_t len, const char *iface, int group)
{
    snprintf(buf, len, "%s://%s;239.192.78.%d:%d", scheme, iface, group, port);
}

static void setint(int s, int level, int opt, int v)
{
    if (nn_setsockopt(s, level, opt, &v, sizeof v) != 0)
        FAIL("nn_setsockopt(%d, %d) = %d: %s", level, opt, v, nn_strerror(nn_errno()));
}

/* A socket in the group, with queues that hold a whole transfer (a PUB
   drops what exceeds NN_SNDBUF, a receiver what exceeds NN_RCVBUF: that is
   not what these tests are about) and a recovery window that outlasts a
   receiver starved of CPU on a loaded machine. */
static int join(int domain, int proto, const char *iface, int group)
{
    int s = nn_socket(domain, proto);
    if (s < 0) {
        FAIL("nn_socket: %s", nn_strerror(nn_errno()));
        return -1;
    }
    setint(s, NN_SOL_SOCKET, NN_SNDBUF, BIG_BUF);
    setint(s, NN_SOL_SOCKET, NN_RCVBUF, BIG_BUF);
    setint(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, -1);
    setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 50);
    setint(s, NN_PGM, NN_PGM_RECOVERY_IVL, 10000);
    char u[128];
    url(u, sizeof u, iface, group);
    if (nn_connect(s, u) < 0) {
        FAIL("nn_connect %s: %s", u, nn_strerror(nn_errno()));
        nn_close(s);
        return -1;
    }
    return s;
}

static uint64_t stat_of(int s, int id)
{
    return nn_get_statistic(s, id);
}

/* ---- message contents ---- */

/* A numbered message: 1 topic byte 'D', sender id, sequence number, then
   bytes that depend on all of them and on the position, so that a byte out
   of place or a message out of order shows. "Hello" messages have topic 'H'. */
#define HDR 10

static void fill(uint8_t *p, size_t len, int from, uint32_t seq)
{
    for (size_t j = HDR; j < len; j++)
        p[j] = (uint8_t) (seq * 131u + (unsigned) j * 7u + (unsigned) (j >> 8) + (unsigned) from);
    p[0] = 'D';
    p[1] = (uint8_t) from;
    p[2] = (uint8_t) (seq >> 24);
    p[3] = (uint8_t) (seq >> 16);
    p[4] = (uint8_t) (seq >> 8);
    p[5] = (uint8_t) seq;
    p[6] = (uint8_t) (len >> 24);
    p[7] = (uint8_t) (len >> 16);
    p[8] = (uint8_t) (len >> 8);
    p[9] = (uint8_t) len;
}

static uint32_t seq_of(const uint8_t *p)
{
    return (uint32_t) p[2] << 24 | (uint32_t) p[3] << 16 | (uint32_t) p[4] << 8 | p[5];
}

static bool intact(const uint8_t *p, size_t len, int from, uint32_t seq)
{
    if (len < HDR)
        return false;
    uint8_t *want = malloc(len);
    if (!want)
        return false;
    fill(want, len, from, seq);
    bool same = memcmp(p, want, len) == 0;
    free(want);
    return same;
}

static int send_msg(int s, size_t len, int from, uint32_t seq)
{
    uint8_t *p = nn_allocmsg(len, 0);
    if (!p)
        return -1;
    fill(p, len, from, seq);
    if (nn_send(s, &p, NN_MSG, 0) < 0) {
        nn_freemsg(p);
        return -1;
    }
    return 0;
}

static int send_hello(int s, int from)
{
    uint8_t h[2] = {'H', (uint8_t) from};
    return nn_send(s, h, sizeof h, 0) == (int) sizeof h ? 0 : -1;
}

/* ---- xfer: one PUB, two SUBs, one SUB that matches nothing ---- */

static const struct {
    int count;
    size_t size;
} phases[] = {{10000, 64}, {10000, 1000}, {500, 65536}, {1, 1024 * 1024}};
#define NPHASES (sizeof phases / sizeof phases[0])

static size_t size_at(uint32_t seq)
{
    for (size_t i = 0; i < NPHASES; i++) {
        if (seq < (uint32_t) phases[i].count)
            return phases[i].size;
        seq -= (uint32_t) phases[i].count;
    }
    return 0;
}

static uint32_t total(void)
{
    uint32_t n = 0;
    for (size_t i = 0; i < NPHASES; i++)
        n += (uint32_t) phases[i].count;
    return n;
}

static atomic_int ready;       /* receivers that are joined and heard a hello */
static atomic_int joined;      /* receivers that are joined */
static atomic_int done;        /* receivers that finished */

struct rx {
    int idx;        /* 1, 2: namespace */
    bool nomatch;   /* subscribes to a topic nobody sends */
    uint32_t got;
};

static void sub_main(void *arg)
{
    struct rx *r = arg;
    if (!enter_netns(ns[r->idx])) {
        atomic_fetch_add(&joined, 1);
        atomic_fetch_add(&done, 1);
        return;
    }
    int s = join(AF_SP, NN_SUB, ifs[r->idx], 1);
    if (s >= 0 && nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, r->nomatch ? "Z" : "", r->nomatch ? 1 : 0) != 0)
        FAIL("NN_SUB_SUBSCRIBE: %s", nn_strerror(nn_errno()));
    if (s >= 0 && !r->nomatch && nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        FAIL("NN_SUB_SUBSCRIBE: %s", nn_strerror(nn_errno()));
    atomic_fetch_add(&joined, 1);
    if (s < 0) {
        atomic_fetch_add(&done, 1);
        return;
    }
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    bool heard = false;
    uint32_t n = total();
    uint64_t t0 = 0;
    while (tu_now_ms() < deadline) {
        if (r->nomatch) {
            /* Until the others are through: it must get nothing at all. */
            if (atomic_load(&done) >= 2)
                break;
        } else if (r->got == n) {
            break;
        }
        void *m = NULL;
        int len = nn_recv(s, &m, NN_MSG, 0);
        if (len < 0) {
            if (nn_errno() != ETIMEDOUT)
                FAIL("SUB %d: nn_recv: %s", r->idx, nn_strerror(nn_errno()));
            continue;
        }
        const uint8_t *p = m;
        if (r->nomatch) {
            FAIL("SUB subscribed to \"Z\" received a message of %d bytes", len);
        } else if (p[0] == 'H') {
            if (!heard) {
                heard = true;
                atomic_fetch_add(&ready, 1);
                t0 = tu_now_ms();
            }
        } else if ((size_t) len < HDR || seq_of(p) != r->got || (size_t) len != size_at(r->got) ||
                   !intact(p, (size_t) len, 0, r->got)) {
            FAIL("SUB %d: message %u: %d bytes, seq %u, not the one expected or corrupted", r->idx, r->got, len,
                 (size_t) len >= HDR ? seq_of(p) : 0);
            nn_freemsg(m);
            break;
        } else {
            r->got++;
        }
        nn_freemsg(m);
    }
    if (!r->nomatch) {
        uint64_t ms = tu_now_ms() - t0;
        printf("  %s SUB %d: %u of %u messages in %" PRIu64 " ms; lost %" PRIu64 ", dropped %" PRIu64 "\n",
               scheme, r->idx, r->got, n, ms, stat_of(s, NN_STAT_MESSAGES_LOST),
               stat_of(s, NN_STAT_MESSAGES_DROPPED));
        CHECK(r->got == n, "SUB %d: received %u of %u messages", r->idx, r->got, n);
        CHECK(stat_of(s, NN_STAT_MESSAGES_LOST) == 0, "SUB %d: messages lost", r->idx);
        CHECK(stat_of(s, NN_STAT_MESSAGES_DROPPED) == 0, "SUB %d: messages dropped", r->idx);
        atomic_fetch_add(&done, 1);
    } else {
        CHECK(stat_of(s, NN_STAT_MESSAGES_RECEIVED) == 0, "SUB subscribed to \"Z\" counted messages received");
    }
    /* The sender keeps repairing until every receiver is through. */
    nn_close(s);
}

static int case_xfer(void)
{
    struct rx r[3] = {{.idx = 1}, {.idx = 2}, {.idx = 2, .nomatch = true}};
    tu_thread t[3];
    for (int i = 0; i < 3; i++)
        tu_thread_start(&t[i], sub_main, &r[i]);
    if (!enter_netns(ns[0]))
        return 1;
    int s = join(AF_SP, NN_PUB, ifs[0], 1);
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    /* Hellos until both full receivers heard one. */
    while (s >= 0 && atomic_load(&ready) < 2 && tu_now_ms() < deadline) {
        if (atomic_load(&joined) == 3 && send_hello(s, 0) != 0)
            FAIL("PUB: hello: %s", nn_strerror(nn_errno()));
        tu_sleep_ms(20);
    }
    uint32_t n = total();
    uint64_t t0 = tu_now_ms();
    for (uint32_t i = 0; s >= 0 && atomic_load(&ready) == 2 && i < n; i++)
        if (send_msg(s, size_at(i), 0, i) != 0) {
            FAIL("PUB: nn_send %u: %s", i, nn_strerror(nn_errno()));
            break;
        }
    printf("  %s PUB: %u messages handed to nn_send in %" PRIu64 " ms\n", scheme, n, tu_now_ms() - t0);
    while (atomic_load(&done) < 2 && tu_now_ms() < deadline)
        tu_sleep_ms(20);
    if (s >= 0) {
        CHECK(stat_of(s, NN_STAT_MESSAGES_DROPPED) == 0, "PUB dropped messages");
        nn_close(s);
    }
    for (int i = 0; i < 3; i++)
        tu_thread_join(&t[i]);
    return 0;
}

/* ---- late: a SUB joins a running stream ---- */

#define LATE_SIZE 3000 /* three datagrams: the joiner lands inside messages */

static atomic_uint late_sent;
static atomic_bool late_stop;

static void late_pub(void *unused)
{
    (void) unused;
    if (!enter_netns(ns[0]))
        return;
    int s = join(AF_SP, NN_PUB, ifs[0], 2);
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    for (uint32_t i = 0; s >= 0 && !atomic_load(&late_stop) && tu_now_ms() < deadline; i++) {
        if (send_msg(s, LATE_SIZE, 0, i) != 0)
            FAIL("PUB: nn_send: %s", nn_strerror(nn_errno()));
        atomic_store(&late_sent, i + 1);
        tu_sleep_ms(1); /* a stream, not a burst: the joiner lands mid-way */
    }
    if (s >= 0)
        nn_close(s);
}

static int case_late(void)
{
    tu_thread t;
    tu_thread_start(&t, late_pub, NULL);
    if (!enter_netns(ns[1]))
        return 1;
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (atomic_load(&late_sent) < 200 && tu_now_ms() < deadline)
        tu_sleep_ms(5);
    int s = join(AF_SP, NN_SUB, ifs[1], 2);
    if (s >= 0 && nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        FAIL("NN_SUB_SUBSCRIBE: %s", nn_strerror(nn_errno()));
    uint32_t first = 0, got = 0;
    while (s >= 0 && got < 300 && tu_now_ms() < deadline) {
        void *m = NULL;
        int len = nn_recv(s, &m, NN_MSG, 0);
        if (len < 0)
            continue;
        const uint8_t *p = m;
        if (got == 0)
            first = (size_t) len >= HDR ? seq_of(p) : 0;
        if (len != LATE_SIZE || !intact(p, (size_t) len, 0, first + got)) {
            FAIL("late SUB: message %u after its first (%u): %d bytes, seq %u: not whole, or not the next", got,
                 first, len, (size_t) len >= HDR ? seq_of(p) : 0);
            nn_freemsg(m);
            break;
        }
        got++;
        nn_freemsg(m);
    }
    printf("  %s late SUB: joined after message %u, first whole message %u, then %u in order\n", scheme,
           atomic_load(&late_sent) > 0 ? 200u : 0u, first, got);
    CHECK(got == 300, "late SUB received %u of 300 messages", got);
    CHECK(first >= 1, "late SUB got message %u: history it cannot have", first);
    atomic_store(&late_stop, true);
    if (s >= 0) {
        CHECK(stat_of(s, NN_STAT_MESSAGES_LOST) == 0, "late SUB counted messages lost");
        nn_close(s);
    }
    tu_thread_join(&t);
    return 0;
}

/* ---- maxsize: NN_RCVMAXSIZE, live ---- */

static atomic_bool mx_ready, mx_raised, mx_done;

static void mx_sub(void *unused)
{
    (void) unused;
    if (!enter_netns(ns[1])) {
        atomic_store(&mx_done, true);
        return;
    }
    int s = join(AF_SP, NN_SUB, ifs[1], 4);
    if (s < 0) {
        atomic_store(&mx_done, true);
        return;
    }
    setint(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, 1000);
    if (nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        FAIL("NN_SUB_SUBSCRIBE: %s", nn_strerror(nn_errno()));
    /* seq 0 (100 B) and 2 (100 B) under the limit, 1 (5000 B) skipped;
       then 3 (5000 B) once the limit is lifted. */
    const uint32_t want[] = {0, 2, 3};
    const size_t wlen[] = {100, 100, 5000};
    size_t got = 0;
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (got < 3 && tu_now_ms() < deadline) {
        void *m = NULL;
        int len = nn_recv(s, &m, NN_MSG, 0);
        if (len < 0)
            continue;
        const uint8_t *p = m;
        if (p[0] == 'H') {
            atomic_store(&mx_ready, true);
        } else if ((size_t) len != wlen[got] || !intact(p, (size_t) len, 0, want[got])) {
            FAIL("maxsize SUB: got %d bytes, seq %u; expected %zu bytes, seq %u", len,
                 (size_t) len >= HDR ? seq_of(p) : 0, wlen[got], want[got]);
            got = 3;
        } else if (++got == 2) {
            /* Raised now: it applies to the messages that start from now on. */
            setint(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, -1);
            atomic_store(&mx_raised, true);
        }
        nn_freemsg(m);
    }
    CHECK(got == 3, "maxsize SUB: received %zu of 3 messages", got);
    atomic_store(&mx_done, true);
    nn_close(s);
}

static int case_maxsize(void)
{
    tu_thread t;
    tu_thread_start(&t, mx_sub, NULL);
    if (!enter_netns(ns[0]))
        return 1;
    int s = join(AF_SP, NN_PUB, ifs[0], 4);
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (s >= 0 && !atomic_load(&mx_ready) && !atomic_load(&mx_done) && tu_now_ms() < deadline) {
        send_hello(s, 0);
        tu_sleep_ms(20);
    }
    if (s >= 0 && atomic_load(&mx_ready)) {
        CHECK(send_msg(s, 100, 0, 0) == 0 && send_msg(s, 5000, 0, 1) == 0 && send_msg(s, 100, 0, 2) == 0,
              "PUB: nn_send: %s", nn_strerror(nn_errno()));
        while (!atomic_load(&mx_raised) && !atomic_load(&mx_done) && tu_now_ms() < deadline)
            tu_sleep_ms(5);
        CHECK(send_msg(s, 5000, 0, 3) == 0, "PUB: nn_send: %s", nn_strerror(nn_errno()));
    }
    while (!atomic_load(&mx_done) && tu_now_ms() < deadline)
        tu_sleep_ms(5);
    if (s >= 0)
        nn_close(s);
    tu_thread_join(&t);
    return 0;
}

/* ---- bus: three members ---- */

#define BUS_N 2000
#define BUS_SIZE 500

static atomic_int bus_heard[3][3]; /* [i][j]: member i heard j */
static atomic_int bus_done;

static bool bus_all_heard(void)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j && !atomic_load(&bus_heard[i][j]))
                return false;
    return true;
}

static void bus_main(void *arg)
{
    int me = (int) (intptr_t) arg;
    if (!enter_netns(ns[me]))
        return;
    int s = join(AF_SP, NN_BUS, ifs[me], 3);
    if (s < 0)
        return;
    uint32_t next[3] = {0, 0, 0};
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    bool sent = false, counted = false;
    while (tu_now_ms() < deadline) {
        if (!sent && bus_all_heard()) {
            for (uint32_t i = 0; i < BUS_N; i++)
                if (send_msg(s, BUS_SIZE, me, i) != 0)
                    FAIL("BUS %d: nn_send: %s", me, nn_strerror(nn_errno()));
            sent = true;
        } else if (!sent) {
            if (send_hello(s, me) != 0)
                FAIL("BUS %d: hello: %s", me, nn_strerror(nn_errno()));
        }
        if (!counted && next[(me + 1) % 3] == BUS_N && next[(me + 2) % 3] == BUS_N) {
            counted = true;
            atomic_fetch_add(&bus_done, 1);
        }
        if (atomic_load(&bus_done) == 3)
            break; /* everybody has everything: nobody needs our repairs */
        void *m = NULL;
        int len = nn_recv(s, &m, NN_MSG, 0);
        if (len < 0)
            continue;
        const uint8_t *p = m;
        int from = len >= 2 ? p[1] : -1;
        if (from == me || from < 0 || from > 2) {
            FAIL("BUS %d: received a message from member %d", me, from);
        } else if (p[0] == 'H') {
            atomic_store(&bus_heard[me][from], 1);
        } else if (len != BUS_SIZE || seq_of(p) != next[from] || !intact(p, (size_t) len, from, next[from])) {
            FAIL("BUS %d: from %d: message %u not the one expected or corrupted", me, from, next[from]);
            deadline = 0;
        } else {
            next[from]++;
        }
        nn_freemsg(m);
    }
    printf("  %s BUS %d: %u and %u messages from the two others\n", scheme, me, next[(me + 1) % 3],
           next[(me + 2) % 3]);
    CHECK(next[(me + 1) % 3] == BUS_N && next[(me + 2) % 3] == BUS_N, "BUS %d: not every message arrived", me);
    nn_close(s);
}

static int case_bus(void)
{
    /* A SUB in the group hears the members' datagrams but is not their
       peer (BUS talks to BUS only): it must deliver none of them. Over pgm
       only: it shares a host with member 0, and over epgm the kernel
       spreads the unicast NAKs for member 0 over both sockets on the port
       (nn_pgm(7), NOTES), so member 0 would miss repairs. */
    if (!enter_netns(ns[0]))
        return 1;
    int sub = strcmp(scheme, "pgm") == 0 ? join(AF_SP, NN_SUB, ifs[0], 3) : -1;
    if (sub >= 0 && nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        FAIL("NN_SUB_SUBSCRIBE: %s", nn_strerror(nn_errno()));
    tu_thread t[3];
    for (int i = 0; i < 3; i++)
        tu_thread_start(&t[i], bus_main, (void *) (intptr_t) i);
    for (int i = 0; i < 3; i++)
        tu_thread_join(&t[i]);
    if (sub >= 0) {
        char buf[16];
        CHECK(nn_recv(sub, buf, sizeof buf, NN_DONTWAIT) == -1 && nn_errno() == EAGAIN,
              "a SUB in a BUS group received a message");
        CHECK(stat_of(sub, NN_STAT_MESSAGES_RECEIVED) == 0 && stat_of(sub, NN_STAT_CURRENT_CONNECTIONS) == 0,
              "a SUB accepted BUS members as its peers");
        nn_close(sub);
    }
    return 0;
}

/* ---- errors ---- */

static void expect_errno(int domain, int proto, const char *addr, int err)
{
    int s = nn_socket(domain, proto);
    if (s < 0) {
        FAIL("nn_socket: %s", nn_strerror(nn_errno()));
        return;
    }
    for (int bind = 0; bind < 2; bind++) {
        int rc = bind ? nn_bind(s, addr) : nn_connect(s, addr);
        int e = nn_errno();
        CHECK(rc == -1 && e == err, "%s(%s) on protocol %d: %d (%s), expected %s", bind ? "nn_bind" : "nn_connect",
              addr, proto, rc, rc < 0 ? nn_strerror(e) : "no error", nn_strerror(err));
    }
    nn_close(s);
}

static int case_errors(void)
{
    if (!enter_netns(ns[0]))
        return 1;
    char a[256];
    const char *bad[] = {
        "%s;239.1.1.1",            /* no port */
        "%s;239.1.1.1:0",          /* port 0 */
        "%s;239.1.1.1:65536",      /* port too large */
        "%s;239.1.1.1:55x",        /* trailing junk */
        ";239.1.1.1:5555",         /* no interface */
        "239.1.1.1:5555",          /* no ';' */
        "%s;10.1.1.1:5555",        /* not a multicast group */
        "%s;ff02::1:5555",         /* IPv6 */
        "%s;groupname:5555",       /* names are not resolved */
        "10.1.2.3/33;239.1.1.1:5555", /* bad prefix length */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char addr[200];
        snprintf(addr, sizeof addr, bad[i], ifs[0]);
        snprintf(a, sizeof a, "%s://%s", scheme, addr);
        expect_errno(AF_SP, NN_SUB, a, EINVAL);
    }
    /* Nothing on this host: an address, a network, a name. */
    snprintf(a, sizeof a, "%s://10.99.99.99;239.1.1.1:%d", scheme, port);
    expect_errno(AF_SP, NN_PUB, a, ENODEV);
    snprintf(a, sizeof a, "%s://10.99.0.0/16;239.1.1.1:%d", scheme, port);
    expect_errno(AF_SP, NN_PUB, a, ENODEV);
    snprintf(a, sizeof a, "%s://nosuchif0;239.1.1.1:%d", scheme, port);
    expect_errno(AF_SP, NN_BUS, a, ENODEV);
    /* Types that cannot work one-to-many. */
    url(a, sizeof a, ifs[0], 9);
    const int refused[] = {NN_PAIR, NN_REQ, NN_REP, NN_PUSH, NN_PULL, NN_SURVEYOR, NN_RESPONDENT};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        expect_errno(AF_SP, refused[i], a, EPROTONOSUPPORT);
        expect_errno(AF_SP_RAW, refused[i], a, EPROTONOSUPPORT);
    }
    /* Options: range, readback, and a rate too low for the packet size. */
    int s = nn_socket(AF_SP, NN_PUB);
    int v = 0;
    size_t len = sizeof v;
    CHECK(nn_getsockopt(s, NN_PGM, NN_PGM_RATE, &v, &len) == 0 && v == 20000000 && len == sizeof v,
          "NN_PGM_RATE default");
    v = 500;
    CHECK(nn_setsockopt(s, NN_PGM, NN_PGM_RATE, &v, sizeof v) == -1 && nn_errno() == EINVAL,
          "NN_PGM_RATE 500 accepted");
    v = 0;
    CHECK(nn_setsockopt(s, NN_PGM, NN_PGM_HOPS, &v, sizeof v) == -1 && nn_errno() == EINVAL, "NN_PGM_HOPS 0");
    CHECK(nn_setsockopt(s, NN_PGM, 99, &v, sizeof v) == -1 && nn_errno() == ENOPROTOOPT, "NN_PGM option 99");
    v = 5;
    CHECK(nn_setsockopt(s, NN_PGM, NN_PGM_HOPS, &v, sizeof v) == 0, "NN_PGM_HOPS 5");
    v = 0;
    len = sizeof v;
    CHECK(nn_getsockopt(s, NN_PGM, NN_PGM_HOPS, &v, &len) == 0 && v == 5, "NN_PGM_HOPS readback");
    v = 1000;
    CHECK(nn_setsockopt(s, NN_PGM, NN_PGM_RATE, &v, sizeof v) == 0, "NN_PGM_RATE 1000");
    CHECK(nn_bind(s, a) == -1 && nn_errno() == EINVAL, "a rate below NN_PGM_MAXTPDU: %s", nn_strerror(nn_errno()));
    nn_close(s);
    /* Raw sockets of the supported types work. */
    const int ok[][2] = {{AF_SP_RAW, NN_PUB}, {AF_SP_RAW, NN_SUB}, {AF_SP_RAW, NN_BUS}};
    for (size_t i = 0; i < 3; i++) {
        s = nn_socket(ok[i][0], ok[i][1]);
        int e = nn_connect(s, a);
        CHECK(e >= 0, "raw protocol %d: nn_connect: %s", ok[i][1], nn_strerror(nn_errno()));
        nn_close(s);
    }
    return 0;
}

/* ---- drops: a PUB never blocks ---- */

static int case_drops(void)
{
    if (!enter_netns(ns[0]))
        return 1;
    int s = nn_socket(AF_SP, NN_PUB);
    /* The lowest rate there is (one packet a second) and room for ten
       messages: a hundred sent at once cannot all wait. NN_SNDTIMEO makes
       a send that blocked show up as ETIMEDOUT instead of a hang. */
    setint(s, NN_PGM, NN_PGM_RATE, 1500);
    setint(s, NN_SOL_SOCKET, NN_SNDBUF, 10 * 1010);
    setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, 10000);
    setint(s, NN_SOL_SOCKET, NN_LINGER, 100);
    char a[128];
    url(a, sizeof a, ifs[0], 5);
    CHECK(nn_connect(s, a) >= 0, "nn_connect %s: %s", a, nn_strerror(nn_errno()));
    uint8_t msg[1000];
    memset(msg, 'x', sizeof msg);
    for (int i = 0; i < 100; i++) {
        int rc = nn_send(s, msg, sizeof msg, 0);
        if (rc != (int) sizeof msg) {
            FAIL("nn_send %d: %d (%s): a PUB must drop, not block", i, rc, nn_strerror(nn_errno()));
            break;
        }
    }
    uint64_t dropped = stat_of(s, NN_STAT_MESSAGES_DROPPED);
    printf("  %s: 100 sends at 1500 B/s with NN_SNDBUF 10100: %" PRIu64 " dropped\n", scheme, dropped);
    /* Ten fit in NN_SNDBUF; OpenPGM's first allowance takes a few more as
       single-message datagrams, as many as the loop thread gets to hand it
       between the sends (88 dropped in a plain build, 78 under ASan with
       four tests on two CPUs). At 1500 B/s nothing else can leave. */
    CHECK(dropped >= 50 && dropped < 100, "%" PRIu64 " of 100 sends dropped, expected 50 to 99", dropped);
    nn_close(s);
    return 0;
}

/* ---- groups: membership as the kernel sees it ---- */

/* Whether this thread's namespace has joined 239.192.78.G on any interface
   (/proc/net/igmp lists groups as hex in host byte order). */
static bool member(int g)
{
    FILE *f = fopen("/proc/thread-self/net/igmp", "r");
    if (!f)
        return false;
    char want[16], line[256];
    uint32_t addr = (239u << 24 | 192u << 16 | 78u << 8 | (uint32_t) g);
    uint32_t le = __builtin_bswap32(addr);
    snprintf(want, sizeof want, "%08X", le);
    bool found = false;
    while (fgets(line, sizeof line, f))
        if (strstr(line, want))
            found = true;
    fclose(f);
    return found;
}

static bool cond_left(void *unused)
{
    (void) unused;
    return !member(10);
}

static int case_groups(void)
{
    if (!enter_netns(ns[0]))
        return 1;
    char a[128], b[128];
    url(a, sizeof a, ifs[0], 10);
    url(b, sizeof b, ifs[0], 11);
    CHECK(!member(10), "a member of the group before joining");
    /* nn_bind joins, nn_shutdown leaves (it stops the endpoint in the
       background: poll). */
    int s1 = nn_socket(AF_SP, NN_SUB);
    int e1 = nn_bind(s1, a);
    CHECK(e1 >= 0, "nn_bind %s: %s", a, nn_strerror(nn_errno()));
    CHECK(member(10), "nn_bind did not join the group");
    CHECK(nn_shutdown(s1, e1) == 0, "nn_shutdown: %s", nn_strerror(nn_errno()));
    CHECK(tu_wait_until(cond_left, NULL, 10000), "nn_shutdown did not leave the group");
    nn_close(s1);
    /* Two sockets of one process in one group; closing one leaves the
       other's membership alone, closing both leaves the group. */
    int s2 = nn_socket(AF_SP, NN_BUS), s3 = nn_socket(AF_SP, NN_SUB);
    CHECK(nn_connect(s2, a) >= 0, "nn_connect %s: %s", a, nn_strerror(nn_errno()));
    CHECK(nn_bind(s3, a) >= 0, "second socket, same group: %s", nn_strerror(nn_errno()));
    CHECK(member(10), "nn_connect did not join the group");
    nn_close(s2);
    CHECK(member(10), "nn_close of one socket left the group of another");
    nn_close(s3);
    CHECK(!member(10), "nn_close did not leave the group");
    /* nn_close of a socket in two groups leaves both. */
    int s4 = nn_socket(AF_SP, NN_BUS);
    CHECK(nn_bind(s4, a) >= 0 && nn_connect(s4, b) >= 0, "one socket in two groups: %s", nn_strerror(nn_errno()));
    CHECK(member(10) && member(11), "not in both groups");
    nn_close(s4);
    CHECK(!member(10) && !member(11), "nn_close left a group joined");
    return 0;
}

/* ---- noraw: raw PGM needs CAP_NET_RAW, epgm does not ---- */

/* Drops CAP_NET_RAW from this thread (threads it starts later, such as the
   library's I/O thread, inherit that): what an unprivileged process has. */
static bool drop_net_raw(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capget, &h, d) != 0)
        return false;
    uint32_t bit = 1u << (CAP_NET_RAW % 32);
    int i = CAP_NET_RAW / 32;
    d[i].effective &= ~bit;
    d[i].permitted &= ~bit;
    d[i].inheritable &= ~bit;
    return syscall(SYS_capset, &h, d) == 0;
}

static int case_noraw(void)
{
    if (!enter_netns(ns[0]))
        return 1;
    if (!drop_net_raw()) {
        FAIL("dropping CAP_NET_RAW: %s", strerror(errno));
        return 1;
    }
    /* The drop took: the kernel refuses a raw socket now. */
    int raw = socket(AF_INET, SOCK_RAW, 113);
    CHECK(raw < 0 && errno == EPERM, "a raw socket without CAP_NET_RAW: %d (%s)", raw, strerror(errno));
    if (raw >= 0)
        close(raw);
    char a[128];
    snprintf(a, sizeof a, "pgm://%s;239.192.78.12:%d", ifs[0], port);
    const int types[][2] = {{AF_SP, NN_PUB}, {AF_SP, NN_SUB}, {AF_SP, NN_BUS}, {AF_SP_RAW, NN_BUS}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        expect_errno(types[i][0], types[i][1], a, EACCES);
    /* epgm needs no privilege: a PUB and a SUB of this host exchange a
       message. */
    scheme = "epgm";
    int sub = join(AF_SP, NN_SUB, ifs[0], 12);
    int pub = join(AF_SP, NN_PUB, ifs[0], 12);
    if (sub < 0 || pub < 0)
        return 1;
    if (nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        FAIL("NN_SUB_SUBSCRIBE: %s", nn_strerror(nn_errno()));
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    bool heard = false;
    while (!heard && tu_now_ms() < deadline) {
        if (send_hello(pub, 0) != 0)
            FAIL("epgm PUB without CAP_NET_RAW: nn_send: %s", nn_strerror(nn_errno()));
        char buf[16];
        heard = nn_recv(sub, buf, sizeof buf, 0) == 2 && buf[0] == 'H';
    }
    CHECK(heard, "epgm without CAP_NET_RAW: the SUB received nothing");
    nn_close(pub);
    nn_close(sub);
    scheme = "pgm";
    return 0;
}

/* ---- expiry: a silent sender's pipe goes away ---- */

static atomic_bool ex_stop;

static void ex_pub(void *unused)
{
    (void) unused;
    if (!enter_netns(ns[0]))
        return;
    int s = join(AF_SP, NN_PUB, ifs[0], 13);
    uint64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (s >= 0 && !atomic_load(&ex_stop) && tu_now_ms() < deadline) {
        send_hello(s, 0);
        tu_sleep_ms(20);
    }
    /* Closed: from now on it sends nothing at all, not even SPMs. */
    if (s >= 0)
        nn_close(s);
}

static bool connections_are(int s, uint64_t n, int timeout_ms)
{
    uint64_t deadline = tu_now_ms() + (uint64_t) timeout_ms;
    for (;;) {
        /* The pipe closes once what it queued has been received. */
        char buf[16];
        while (nn_recv(s, buf, sizeof buf, NN_DONTWAIT) >= 0) {
        }
        if (stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == n)
            return true;
        if (tu_now_ms() >= deadline)
            return false;
        tu_sleep_ms(10);
    }
}

static int case_expiry(void)
{
    if (!enter_netns(ns[1]))
        return 1;
    int s = nn_socket(AF_SP, NN_SUB);
    int v = 0;
    size_t len = sizeof v;
    CHECK(nn_getsockopt(s, NN_PGM, NN_PGM_PEER_EXPIRY, &v, &len) == 0 && v == 300000 && len == sizeof v,
          "NN_PGM_PEER_EXPIRY default: %d", v);
    const int bad[] = {0, 999, 2000001, -1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(nn_setsockopt(s, NN_PGM, NN_PGM_PEER_EXPIRY, &bad[i], sizeof bad[i]) == -1 && nn_errno() == EINVAL,
              "NN_PGM_PEER_EXPIRY %d accepted", bad[i]);
    nn_close(s);

    s = nn_socket(AF_SP, NN_SUB);
    setint(s, NN_PGM, NN_PGM_PEER_EXPIRY, 1000);
    v = 0;
    len = sizeof v;
    CHECK(nn_getsockopt(s, NN_PGM, NN_PGM_PEER_EXPIRY, &v, &len) == 0 && v == 1000, "NN_PGM_PEER_EXPIRY readback");
    setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 50);
    char u[128];
    url(u, sizeof u, ifs[1], 13);
    CHECK(nn_connect(s, u) >= 0, "nn_connect %s: %s", u, nn_strerror(nn_errno()));
    if (nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        FAIL("NN_SUB_SUBSCRIBE: %s", nn_strerror(nn_errno()));
    for (int round = 0; round < 2; round++) {
        /* A sender: its pipe appears with its first message... */
        atomic_store(&ex_stop, false);
        tu_thread t;
        tu_thread_start(&t, ex_pub, NULL);
        char buf[16];
        uint64_t deadline = tu_now_ms() + DEADLINE_MS;
        bool heard = false;
        while (!heard && tu_now_ms() < deadline)
            heard = nn_recv(s, buf, sizeof buf, 0) == 2;
        CHECK(heard, "round %d: no message from the PUB", round);
        CHECK(stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == 1, "round %d: %" PRIu64 " pipes with one sender", round,
              stat_of(s, NN_STAT_CURRENT_CONNECTIONS));
        /* ... and goes when the sender has been silent for the expiry. */
        atomic_store(&ex_stop, true);
        tu_thread_join(&t);
        CHECK(connections_are(s, 0, 30000), "round %d: the silent sender's pipe is still there (%" PRIu64 ")", round,
              stat_of(s, NN_STAT_CURRENT_CONNECTIONS));
    }
    nn_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: pgm-api CASE SCHEME NS1 NS2 NS3 IF1 IF2 IF3 PORT\n");
        return 2;
    }
    scheme = argv[2];
    for (int i = 0; i < 3; i++) {
        ns[i] = argv[3 + i];
        ifs[i] = argv[6 + i];
    }
    port = atoi(argv[9]);
    const char *c = argv[1];
    int rc = strcmp(c, "xfer") == 0     ? case_xfer()
             : strcmp(c, "late") == 0   ? case_late()
             : strcmp(c, "bus") == 0    ? case_bus()
             : strcmp(c, "maxsize") == 0 ? case_maxsize()
             : strcmp(c, "errors") == 0 ? case_errors()
             : strcmp(c, "groups") == 0 ? case_groups()
             : strcmp(c, "drops") == 0  ? case_drops()
             : strcmp(c, "noraw") == 0  ? case_noraw()
             : strcmp(c, "expiry") == 0 ? case_expiry()
                                        : 2;
    if (rc == 2) {
        fprintf(stderr, "pgm-api: unknown case %s\n", c);
        return 2;
    }
    int f = atomic_load(&failures);
    printf("pgm-api %s %s: %s\n", c, scheme, f || rc ? "FAILED" : "ok");
    return f || rc ? 1 : 0;
}
