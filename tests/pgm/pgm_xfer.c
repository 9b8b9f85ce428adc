/* Reliable multicast end to end, below the nn_* API: a sender and a receiver
   built from the pgm transport's modules (pgmsock for OpenPGM, pgmenc and
   pgmdec for the SP-over-PGM framing), each driven by a plain poll() loop in
   its own thread, each thread in its own network namespace (two "hosts"
   joined by a veth pair, set up by pgm_netns.sh). The sender streams 10,000
   messages of 64 B, 10,000 of 1000 B, 500 of 64 KiB and one of 1 MiB; the
   receiver must get every one, in order, byte for byte, with no message
   counted lost, whatever loss the network adds (nftables, set up by the
   script). The sender keeps serving repairs until the receiver is done.

   usage: pgm-xfer SCHEME SEND_NETNS RECV_NETNS SEND_IFACE RECV_IFACE GROUP PORT [PACE]
     SCHEME      pgm or epgm
     *_NETNS     names under /var/run/netns (ip netns add)
     *_IFACE     the INTERFACE part of each side's URL
     PACE        bytes per second of messages to offer, steadily (default:
                 as fast as the socket takes them). Paced, the sender also
                 counts the messages a PUB would have dropped: those due
                 while NN_SNDBUF's default 128 KiB were still queued.
   Prints one line of figures. Exit 0 when everything arrived intact. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/pubsub.h>

#include "core/chunk.h"
#include "core/msg.h"
#include "pgm/pgmdec.h"
#include "pgm/pgmenc.h"
#include "pgm/pgmsock.h"
#include "pgm/pgmurl.h"

/* The stream: phases of (count, size). */
static const struct {
    int count;
    size_t size;
} phases[] = {{10000, 64}, {10000, 1000}, {500, 64 * 1024}, {1, 1024 * 1024}};
#define NPHASES (sizeof phases / sizeof phases[0])

/* Give up after this long: a broken repair path shows up as a timeout. */
#define DEADLINE_MS 120000
/* What the sender queues ahead of the socket. */
#define SEND_BACKLOG (256 * 1024)

static const char *scheme, *send_ns, *recv_ns, *send_if, *recv_if, *group, *port;
static double pace; /* bytes per second, 0: flat out */
#define PUB_SNDBUF (128 * 1024)

static atomic_bool recv_ready, recv_done, send_failed;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int total_messages(void)
{
    int n = 0;
    for (size_t i = 0; i < NPHASES; i++)
        n += phases[i].count;
    return n;
}

static size_t size_of(int idx)
{
    for (size_t i = 0; i < NPHASES; i++) {
        if (idx < phases[i].count)
            return phases[i].size;
        idx -= phases[i].count;
    }
    return 0;
}

/* Message idx: its index and size, then bytes that depend on both and on
   the position, so that a byte out of place or a message out of order shows. */
static void fill(uint8_t *p, size_t len, int idx)
{
    for (size_t j = 0; j < len; j++)
        p[j] = (uint8_t) ((unsigned) idx * 131u + (unsigned) j * 7u + (unsigned) (j >> 8));
    if (len >= 8) {
        p[0] = (uint8_t) (idx >> 24);
        p[1] = (uint8_t) (idx >> 16);
        p[2] = (uint8_t) (idx >> 8);
        p[3] = (uint8_t) idx;
        p[4] = (uint8_t) (len >> 24);
        p[5] = (uint8_t) (len >> 16);
        p[6] = (uint8_t) (len >> 8);
        p[7] = (uint8_t) len;
    }
}

static bool enter_netns(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "pgm-xfer: entering network namespace %s: %s\n", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return true;
}

static struct sp_pgmsock *open_session(const char *iface, int roles)
{
    char addr[128], detail[256];
    snprintf(addr, sizeof addr, "%s;%s:%s", iface, group, port);
    struct sp_pgmurl u;
    int rc = sp_pgmurl_parse(&u, strcmp(scheme, "epgm") == 0, addr);
    if (rc == 0)
        rc = sp_pgmurl_resolve(&u, NULL);
    if (rc != 0) {
        fprintf(stderr, "pgm-xfer: %s://%s: %s\n", scheme, addr, strerror(-rc));
        return NULL;
    }
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    /* The whole transfer fits in the sender's window (10 s at the default
       rate is ~133k sequence numbers against ~31k sent), and the receiver
       asks for a lost packet as long: on a machine whose CPUs are busy the
       receiver can be starved for seconds, and with the default 2 s window
       the sender had moved past a packet still being asked for (OpenPGM then
       reports unrecoverable loss). What this test pins is that every loss
       the network adds is repaired, not how long the default window is. */
    o.recovery_ivl = 10000;
    struct sp_pgmsock *s;
    rc = sp_pgmsock_open(&s, &u, &o, roles, detail, sizeof detail);
    if (rc != 0) {
        fprintf(stderr, "pgm-xfer: opening %s://%s: %s (%s)\n", scheme, addr, strerror(-rc), detail);
        return NULL;
    }
    return s;
}

/* Waits for the session's descriptors or its timer, at most max_ms. */
static void wait_session(struct sp_pgmsock *s, int max_ms)
{
    struct sp_pgmsock_fd fds[SP_PGMSOCK_MAXFDS];
    struct pollfd p[SP_PGMSOCK_MAXFDS];
    int n = sp_pgmsock_fds(s, fds);
    for (int i = 0; i < n; i++) {
        p[i].fd = fds[i].fd;
        p[i].events = (short) (((fds[i].events & EPOLLIN) ? POLLIN : 0) |
                               ((fds[i].events & EPOLLOUT) ? POLLOUT : 0));
        p[i].revents = 0;
    }
    int t = sp_pgmsock_timeout(s);
    if (t < 0 || t > max_ms)
        t = max_ms;
    (void) poll(p, (nfds_t) n, t);
}

/* ---- receiver ---- */

struct receiver {
    uint64_t tsi;      /* the one sender we expect */
    bool have_tsi;
    struct sp_pgmdec dec;
    struct sp_msgq q;
    int next;          /* index expected next */
    int total;
    bool bad;          /* a message out of order or corrupted */
    uint64_t t_first;  /* first datagram */
    uint64_t t_last;   /* last message */
    uint64_t resets;
    uint64_t bytes;
    uint8_t *expect;   /* scratch for the expected content */
};

static void on_data(void *arg, uint64_t tsi, const uint8_t *dg, size_t len)
{
    struct receiver *r = arg;
    if (!r->have_tsi) {
        r->tsi = tsi;
        r->have_tsi = true;
        r->t_first = now_ms();
    } else if (tsi != r->tsi) {
        fprintf(stderr, "pgm-xfer: datagram from an unexpected sender\n");
        r->bad = true;
        return;
    }
    (void) sp_pgmdec_put(&r->dec, dg, len, &r->q);
    struct sp_msg m;
    while (sp_msgq_pop(&r->q, &m) == 0) {
        size_t blen = sp_msg_bodylen(&m);
        size_t want = size_of(r->next);
        if (r->next >= r->total || blen != want) {
            if (!r->bad)
                fprintf(stderr, "pgm-xfer: message %d: %zu bytes, expected %zu\n", r->next, blen, want);
            r->bad = true;
        } else {
            fill(r->expect, want, r->next);
            if (memcmp(sp_msg_bodyp(&m), r->expect, want) != 0) {
                if (!r->bad)
                    fprintf(stderr, "pgm-xfer: message %d: wrong content\n", r->next);
                r->bad = true;
            }
        }
        r->bytes += blen;
        r->next++;
        sp_msg_term(&m);
        if (r->next == r->total)
            r->t_last = now_ms();
    }
}

static void on_reset(void *arg, uint64_t tsi)
{
    struct receiver *r = arg;
    r->resets++;
    if (r->have_tsi && tsi == r->tsi)
        sp_pgmdec_gap(&r->dec);
}

static int receiver_result = 1;

static void *receiver_main(void *unused)
{
    (void) unused;
    struct receiver r;
    memset(&r, 0, sizeof r);
    r.total = total_messages();
    r.expect = malloc(1024 * 1024);
    sp_pgmdec_init(&r.dec, -1);
    sp_msgq_init(&r.q);
    struct sp_pgmsock *s = NULL;
    if (r.expect && enter_netns(recv_ns))
        s = open_session(recv_if, SP_PGMSOCK_RECV);
    atomic_store(&recv_ready, true); /* the sender starts now, or sees we failed */
    if (!s) {
        atomic_store(&recv_done, true);
        goto out;
    }
    const struct sp_pgmsock_handler h = {.data = on_data, .reset = on_reset};
    uint64_t deadline = now_ms() + DEADLINE_MS;
    while (r.next < r.total && !r.bad && !atomic_load(&send_failed) && now_ms() < deadline) {
        wait_session(s, 100);
        sp_pgmsock_service(s, &h, &r);
    }
    atomic_store(&recv_done, true);
    const struct sp_pgmsock_stats *st = sp_pgmsock_stats(s);
    double secs = r.t_last > r.t_first ? (double) (r.t_last - r.t_first) / 1000.0 : 0.0;
    printf("%s: received %d of %d messages (%.1f MB) in %.2f s (%.1f MB/s); datagrams %" PRIu64
           ", resets %" PRIu64 ", messages lost %" PRIu64 ", malformed datagrams %" PRIu64 "\n",
           scheme, r.next, r.total, (double) r.bytes / 1e6, secs,
           secs > 0 ? (double) r.bytes / 1e6 / secs : 0.0,
           st->received, r.resets, r.dec.st.lost, r.dec.st.malformed);
    if (r.next == r.total && !r.bad && r.resets == 0 && r.dec.st.lost == 0 && r.dec.st.malformed == 0)
        receiver_result = 0;
    else if (r.next < r.total)
        fprintf(stderr, "pgm-xfer: %s: gave up after %d s waiting for message %d\n", scheme,
                DEADLINE_MS / 1000, r.next);
    sp_pgmsock_close(s);
out:
    sp_msgq_term(&r.q);
    sp_pgmdec_term(&r.dec);
    free(r.expect);
    return NULL;
}

/* ---- sender ---- */

static int sender_result = 1;

static void *sender_main(void *unused)
{
    (void) unused;
    struct sp_pgmsock *s = NULL;
    if (enter_netns(send_ns))
        s = open_session(send_if, SP_PGMSOCK_SEND);
    if (!s) {
        atomic_store(&send_failed, true);
        return NULL;
    }
    struct sp_pgmenc enc;
    if (sp_pgmenc_init(&enc, NN_PUB, sp_pgmsock_maxdgram(s)) != 0) {
        atomic_store(&send_failed, true);
        sp_pgmsock_close(s);
        return NULL;
    }
    int total = total_messages(), next = 0, would_drop = 0;
    bool ok = true;
    uint64_t t0 = now_ms(), t_sent = 0, deadline = t0 + DEADLINE_MS;
    double offered = 0; /* bytes of the messages pushed so far */
    while (!atomic_load(&recv_done) && now_ms() < deadline) {
        int due_in = -1; /* paced: ms until the next message is due */
        while (next < total) {
            if (pace > 0) {
                double due = (double) t0 + offered * 1000.0 / pace;
                double now = (double) now_ms();
                if (due > now) {
                    due_in = (int) (due - now) + 1;
                    break;
                }
                if (sp_pgmenc_backlog(&enc) >= PUB_SNDBUF)
                    would_drop++;
            } else if (sp_pgmenc_backlog(&enc) >= SEND_BACKLOG) {
                break;
            }
            struct sp_msg m;
            size_t len = size_of(next);
            if (sp_msg_init_size(&m, len) != 0) {
                ok = false;
                break;
            }
            fill(sp_msg_bodyp(&m), len, next);
            if (sp_pgmenc_push(&enc, &m) != 0) {
                sp_msg_term(&m);
                ok = false;
                break;
            }
            offered += (double) len;
            next++;
        }
        if (!ok)
            break;
        const uint8_t *dg;
        size_t len;
        while (sp_pgmenc_next(&enc, true, &dg, &len)) {
            int rc = sp_pgmsock_send(s, dg, len);
            if (rc == -EAGAIN)
                break;
            if (rc != 0) {
                fprintf(stderr, "pgm-xfer: send: %s\n", strerror(-rc));
                ok = false;
                break;
            }
            sp_pgmenc_sent(&enc);
        }
        if (!ok)
            break;
        if (!t_sent && next == total && sp_pgmenc_backlog(&enc) == 0 && !sp_pgmsock_send_blocked(s))
            t_sent = now_ms();
        /* Wait for something to do: the socket (NAKs to serve, room to
           send) or OpenPGM's timers; a short cap notices recv_done. */
        wait_session(s, due_in >= 0 && due_in < 50 ? due_in : 50);
        sp_pgmsock_service(s, NULL, NULL);
    }
    const struct sp_pgmsock_stats *st = sp_pgmsock_stats(s);
    printf("%s: sent %d messages in %" PRIu64 " datagrams in %.2f s; rate-limited or blocked %" PRIu64
           " times",
           scheme, next, enc.datagrams, t_sent ? (double) (t_sent - t0) / 1000.0 : -1.0, st->blocked);
    if (pace > 0)
        printf("; offered at %.1f MB/s, a PUB would have dropped %d", pace / 1e6, would_drop);
    printf("\n");
    if (ok && t_sent)
        sender_result = 0;
    else
        atomic_store(&send_failed, true);
    sp_pgmenc_term(&enc);
    sp_pgmsock_close(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if ((argc != 8 && argc != 9) || (strcmp(argv[1], "pgm") != 0 && strcmp(argv[1], "epgm") != 0)) {
        fprintf(stderr, "usage: pgm-xfer pgm|epgm SEND_NETNS RECV_NETNS SEND_IFACE RECV_IFACE GROUP PORT "
                        "[PACE]\n");
        return 2;
    }
    if (argc == 9)
        pace = strtod(argv[8], NULL);
    scheme = argv[1];
    send_ns = argv[2];
    recv_ns = argv[3];
    send_if = argv[4];
    recv_if = argv[5];
    group = argv[6];
    port = argv[7];
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t rt, st;
    if (pthread_create(&rt, NULL, receiver_main, NULL) != 0)
        return 1;
    /* The receiver joins first: a receiver defines its window from the
       first packet it sees of a sender (late joiners get no history), so
       it must see the sender's opening SPMs to miss nothing. */
    while (!atomic_load(&recv_ready))
        sched_yield();
    if (atomic_load(&recv_done)) {
        pthread_join(rt, NULL);
        return 1;
    }
    if (pthread_create(&st, NULL, sender_main, NULL) != 0)
        return 1;
    pthread_join(st, NULL);
    pthread_join(rt, NULL);
    return receiver_result || sender_result;
}
