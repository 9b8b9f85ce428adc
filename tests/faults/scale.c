/* Scale: thousands of simultaneous tcp connections into one PULL, from
   several client processes (a process holds at most 512 sockets: faultpeer
   crowd opens 500, one connection each), then all of them dropped at once;
   and connection churn (faultpeer churn: connect, send one message, close,
   again and again) against the same kind of listener.

   What a user would notice, asserted:
   - every connection delivers: each client's one message arrives, once,
     unless the connection it went into broke (the clients count those:
     NN_STAT_BROKEN_CONNECTIONS), and the listener counts every connection
     (NN_STAT_CURRENT_CONNECTIONS). A connection that breaks in its
     handshake usually loses nothing (a PUSH hands its message to a
     connection once its side of the handshake is done, and the message
     goes over the next one); only a client starved for longer than the
     listener's deadline between connecting and sending its header loses
     its message. Messages still on their way when the clients are killed
     are received afterwards (a connection whose peer left stays until
     what it brought is received);
   - when every client process is SIGKILLed at the same moment, the
     listener drops every connection, holds as many descriptors as before
     the crowd came and no more heap than then plus the bound of the
     library's block caches, and a new client is served;
   - under churn, every message sent arrives, once, and the listener's
     descriptors and heap stay flat: at the end, as many descriptors as at
     the start, and no more heap than after the first fifth of the run plus
     the caches' bound.
   The figures: the time to connect and deliver, RSS and heap per connection,
   the time to drop them all, the churn's rate and its RSS/heap/descriptor
   curve. Short mode: 2,000 connections (4 processes) and 5 s of churn;
   long mode: 10,000 connections (20 processes) and an hour of churn. */
#include "faults.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

static const char *peer;

#define PER_PROCESS 500
#define MAX_PROCESSES 20
/* What the library's block caches may hold after heavy traffic (the block
   pool's depot and magazines, src/core/blockpool.c): the heap may exceed
   its earlier size by this much without a leak. */
#define HEAP_ALLOWANCE (8u * 1024 * 1024)

static int pull_socket(const char *url)
{
    int s = nn_socket(AF_SP, NN_PULL);
    int tmo = FX_DEADLINE_MS;
    assert_true(s >= 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    assert_true(nn_bind(s, url) >= 0);
    return s;
}

struct conns_arg {
    int s;
    uint64_t want;
};

static bool current_is(void *p)
{
    struct conns_arg *a = p;
    return nn_get_statistic(a->s, NN_STAT_CURRENT_CONNECTIONS) == a->want;
}

static bool no_tcp_conns_(void *p)
{
    (void) p;
    return fx_tcp_conns(0) == 0;
}

static bool no_tcp_conns(void)
{
    if (tu_wait_until(no_tcp_conns_, NULL, FX_DEADLINE_MS))
        return true;
    fprintf(stderr, "%d tcp connections left; descriptors:\n", fx_tcp_conns(0));
    fx_dump_fds(0);
    return false;
}

/* A fresh client sends one message and it arrives. */
static void served(int s, const char *url)
{
    int c = nn_socket(AF_SP, NN_PUSH);
    char buf[32];
    assert_true(c >= 0);
    assert_true(nn_connect(c, url) >= 0);
    assert_int_equal(nn_send(c, "newcomer", 8, 0), 8);
    assert_int_equal(nn_recv(s, buf, sizeof buf, 0), 8);
    assert_memory_equal(buf, "newcomer", 8);
    assert_int_equal(nn_close(c), 0);
}

/* Receives what has arrived of the crowd's messages (each the decimal
   number of its client socket, below total), checking each comes once:
   how many. */
static int take(int s, bool *got, int total)
{
    char buf[32];
    int n, k = 0;
    while ((n = nn_recv(s, buf, sizeof buf - 1, NN_DONTWAIT)) > 0) {
        buf[n] = 0;
        int id = atoi(buf);
        assert_true(id >= 0 && id < total);
        if (got[id])
            fprintf(stderr, "message %d arrived twice\n", id);
        assert_false(got[id]);
        got[id] = true;
        k++;
    }
    return k;
}

struct dropped_arg {
    int s;
    bool *got;
    int total;
    int *received;
};

/* No connection counted any more, receiving what comes meanwhile. */
static bool all_dropped(void *p)
{
    struct dropped_arg *a = p;
    *a->received += take(a->s, a->got, a->total);
    return nn_get_statistic(a->s, NN_STAT_CURRENT_CONNECTIONS) == 0;
}

static void test_thousands_of_tcp_connections_deliver_and_drop_at_once(void **state)
{
    (void) state;
    int procs = fx_pick(4, 20);
    int total = procs * PER_PROCESS;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int s = pull_socket(url);
    struct conns_arg none = {s, 0};
    served(s, url); /* the I/O thread and the code are in place */
    struct nn_pollfd warm = {s, NN_POLLIN, 0};
    nn_poll(&warm, 1, 1); /* (and this thread's wake-up descriptor, for good) */
    assert_true(no_tcp_conns());
    assert_true(tu_wait_until(current_is, &none, FX_DEADLINE_MS));
    int fds0 = fx_fds(0);
    size_t heap0 = fx_inuse();
    long rss0 = fx_rss_kb(0);

    static struct fx_child crowd[MAX_PROCESSES];
    uint64_t t0 = tu_now_ms();
    for (int p = 0; p < procs; p++) {
        char n[16], first[16];
        snprintf(n, sizeof n, "%d", PER_PROCESS);
        snprintf(first, sizeof first, "%d", p * PER_PROCESS);
        char *argv[] = {(char *) peer, "crowd", url, n, first, NULL};
        assert_true(fx_spawn(&crowd[p], argv, NULL));
    }
    /* Every client reports once each of its sends returned, with how many
       of its connections broke meanwhile, in their handshake: when a
       starved client or server finishes its side after the other side's
       deadline ran out (10 s; libnanomsg's 1 s broke hundreds of 2,000 on
       a loaded 2-CPU machine). Every message arrives all the same. The
       deadline grows with the crowd: 10,000 connections on a loaded
       machine take minutes. */
    bool *got = calloc((size_t) total, 1);
    assert_non_null(got);
    int received = 0, reported = 0;
    unsigned long long broken = 0, established = 0;
    bool said[MAX_PROCESSES] = {false};
    uint64_t deadline = tu_now_ms() + (uint64_t) FX_DEADLINE_MS * 3 * (uint64_t) procs / 4;
    while (reported < procs || received < total - (int) broken) {
        if (tu_now_ms() > deadline) {
            fprintf(stderr, "%d of %d messages, %d of %d clients reported (%llu connections broke); %llu connections; "
                    "missing:", received, total, reported, procs, broken,
                    (unsigned long long) nn_get_statistic(s, NN_STAT_CURRENT_CONNECTIONS));
            for (int k = 0, shown = 0; k < total && shown < 40; k++)
                if (!got[k] && ++shown)
                    fprintf(stderr, " %d", k);
            fprintf(stderr, "\n");
            fail();
        }
        received += take(s, got, total);
        for (int p = 0; p < procs; p++) {
            char line[128];
            unsigned long long b, e;
            int k;
            if (!said[p] && fx_child_line(&crowd[p], line, sizeof line, 1)) {
                assert_int_equal(sscanf(line, "sent %d broken %llu established %llu", &k, &b, &e), 3);
                said[p] = true;
                reported++;
                broken += b;
                established += e;
            }
        }
        struct nn_pollfd pfd = {s, NN_POLLIN, 0};
        nn_poll(&pfd, 1, 10);
    }
    uint64_t delivered_ms = tu_now_ms() - t0;
    int received_by_then = received;
    struct conns_arg all = {s, (uint64_t) total};
    assert_true(tu_wait_until(current_is, &all, FX_DEADLINE_MS));
    int fds_full = fx_fds(0);
    size_t heap_full = fx_inuse();
    long rss_full = fx_rss_kb(0);
    long client_rss = fx_rss_kb(crowd[0].pid);

    /* All at once. */
    uint64_t t1 = tu_now_ms();
    for (int p = 0; p < procs; p++)
        kill(crowd[p].pid, SIGKILL);
    for (int p = 0; p < procs; p++)
        fx_child_end(&crowd[p], SIGKILL);
    struct dropped_arg da = {s, got, total, &received};
    if (!tu_wait_until(all_dropped, &da, FX_DEADLINE_MS * 3))
        fprintf(stderr, "after every client was killed: %llu connections counted, %d tcp connections held\n",
                (unsigned long long) nn_get_statistic(s, NN_STAT_CURRENT_CONNECTIONS), fx_tcp_conns(0));
    assert_true(current_is(&none));
    free(got);
    assert_true(received >= total - (int) broken);
    assert_true(no_tcp_conns());
    uint64_t dropped_ms = tu_now_ms() - t1;
    int fds_end = fx_fds(0);
    size_t heap_end = fx_inuse();
    long rss_end = fx_rss_kb(0);
    fx_figure("scale", "%d tcp connections from %d processes into one PULL: all connected and %d messages delivered "
              "in %.1f s, %d in all (%llu connections broke in the storm, %llu made in all); "
              "listener RSS %ld -> %ld KiB (%.1f KiB per connection), heap %zu -> %zu KiB (%.1f KiB per "
              "connection), descriptors %d -> %d; a client process (%d sockets) RSS %ld KiB",
              total, procs, received_by_then, delivered_ms / 1000.0, received, broken, established, rss0, rss_full, (double) (rss_full - rss0) / total,
              heap0 / 1024, heap_full / 1024, (double) (heap_full - heap0) / 1024.0 / total, fds0, fds_full,
              PER_PROCESS, client_rss);
    fx_figure("scale", "all %d clients SIGKILLed at once: the listener dropped every connection within %.1f s; "
              "then RSS %ld KiB, heap %zu KiB, descriptors %d", total, dropped_ms / 1000.0, rss_end,
              heap_end / 1024, fds_end);
    assert_true(fds_full >= fds0 + total); /* (and broken ones not yet closed) */
    if (fds_end != fds0) {
        fprintf(stderr, "descriptors before the crowd: %d, after: %d\n", fds0, fds_end);
        fx_dump_fds(0);
    }
    assert_int_equal(fds_end, fds0);
    assert_true(heap_end <= heap0 + HEAP_ALLOWANCE);
    served(s, url);
    assert_int_equal(nn_close(s), 0);
}

/* ---- churn ---- */

#define CHURNERS 2

struct tally {
    unsigned char *seen[CHURNERS]; /* per churner, by message number */
    size_t cap[CHURNERS];
    long count[CHURNERS];
};

/* Takes every message there is (up to wait_ms for the first). */
static void drain(int s, struct tally *t, int wait_ms)
{
    char buf[64];
    int flags = wait_ms ? 0 : NN_DONTWAIT;
    if (wait_ms)
        nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &wait_ms, sizeof wait_ms);
    int n;
    while ((n = nn_recv(s, buf, sizeof buf - 1, flags)) > 0) {
        buf[n] = 0;
        int k;
        long i;
        assert_int_equal(sscanf(buf, "c%d %ld", &k, &i), 2);
        assert_true(k >= 0 && k < CHURNERS && i >= 0);
        if ((size_t) i >= t->cap[k]) {
            size_t cap = ((size_t) i + 1) * 2;
            t->seen[k] = realloc(t->seen[k], cap);
            assert_non_null(t->seen[k]);
            memset(t->seen[k] + t->cap[k], 0, cap - t->cap[k]);
            t->cap[k] = cap;
        }
        if (t->seen[k][i])
            fprintf(stderr, "churn message \"%s\" arrived twice\n", buf);
        assert_false(t->seen[k][i]);
        t->seen[k][i] = 1;
        t->count[k]++;
        flags = NN_DONTWAIT;
    }
}

#define MAX_SAMPLES 64

static void test_connection_churn_keeps_descriptors_and_heap_flat(void **state)
{
    (void) state;
    int seconds = fx_pick(5, 3600);
    int every_ms = fx_pick(500, 300000); /* ten samples; every 5 minutes */
    static struct tally t;
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int s = pull_socket(url);
    served(s, url);
    struct nn_pollfd warm = {s, NN_POLLIN, 0};
    nn_poll(&warm, 1, 1); /* this thread's wake-up descriptor, for good */
    drain(s, &t, 1);      /* and a receive that waits */
    assert_true(fx_make_callerfd(s, url, NN_PUSH)); /* and the socket's, for good */
    assert_true(no_tcp_conns());
    int fds0 = fx_fds(0);
    long rss0 = fx_rss_kb(0);
    size_t heap0 = fx_inuse();

    struct fx_child churner[CHURNERS];
    for (int k = 0; k < CHURNERS; k++) {
        char tag[8];
        snprintf(tag, sizeof tag, "c%d", k);
        char *argv[] = {(char *) peer, "churn", url, tag, NULL};
        assert_true(fx_spawn(&churner[k], argv, NULL));
    }
    long rss[MAX_SAMPLES];
    size_t heap[MAX_SAMPLES];
    int fds[MAX_SAMPLES], nsamples = 0;
    uint64_t t0 = tu_now_ms(), next = t0 + (uint64_t) every_ms, end = t0 + (uint64_t) seconds * 1000;
    while (tu_now_ms() < end) {
        drain(s, &t, 100);
        if (tu_now_ms() >= next && nsamples < MAX_SAMPLES) {
            rss[nsamples] = fx_rss_kb(0);
            heap[nsamples] = fx_inuse();
            fds[nsamples] = fx_fds(0);
            nsamples++;
            next += (uint64_t) every_ms;
        }
    }
    /* End of input: each churner finishes its round and says how many it
       sent; every one of them arrives (they close with NN_LINGER). */
    long sent = 0, received = 0;
    for (int k = 0; k < CHURNERS; k++) {
        close(churner[k].in);
        churner[k].in = -1;
    }
    for (int k = 0; k < CHURNERS; k++) {
        char line[64];
        long done = -1;
        uint64_t deadline = tu_now_ms() + FX_DEADLINE_MS;
        while (!fx_child_line(&churner[k], line, sizeof line, 10) && tu_now_ms() < deadline)
            drain(s, &t, 0);
        assert_int_equal(sscanf(line, "done %ld", &done), 1);
        assert_int_equal(fx_child_end(&churner[k], 0), 0);
        while (t.count[k] < done && tu_now_ms() < deadline)
            drain(s, &t, 100);
        if (t.count[k] != done)
            fprintf(stderr, "churner %d sent %ld messages, %ld arrived\n", k, done, t.count[k]);
        assert_int_equal(t.count[k], done);
        sent += done;
        received += t.count[k];
        free(t.seen[k]);
    }
    uint64_t ms = tu_now_ms() - t0;
    assert_true(no_tcp_conns());
    int fds_end = fx_fds(0);
    long rss_end = fx_rss_kb(0);
    size_t heap_end = fx_inuse();

    char curve[MAX_SAMPLES * 40] = "";
    size_t len = 0;
    for (int i = 0; i < nsamples && len < sizeof curve - 40; i++)
        len += (size_t) snprintf(curve + len, sizeof curve - len, "%s%ld/%zu/%d", i ? " " : "", rss[i],
                                 heap[i] / 1024, fds[i]);
    fx_figure("churn", "%d processes connecting, sending one message and closing for %d s: %ld connections (%.0f/s), "
              "%ld of %ld messages arrived; listener RSS/heap KiB/descriptors at the start %ld/%zu/%d, every %.1f s: "
              "%s; at the end %ld/%zu/%d",
              CHURNERS, seconds, sent, sent * 1000.0 / (double) ms, received, sent, rss0, heap0 / 1024, fds0,
              every_ms / 1000.0, curve, rss_end, heap_end / 1024, fds_end);
    assert_true(sent > 0);
    if (fds_end != fds0) {
        fprintf(stderr, "descriptors before the churn: %d, after: %d\n", fds0, fds_end);
        fx_dump_fds(0);
    }
    assert_int_equal(fds_end, fds0);
    assert_true(nsamples >= 2);
    assert_true(heap_end <= heap[nsamples / 5] + HEAP_ALLOWANCE);
    int tmo = FX_DEADLINE_MS;
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    served(s, url);
    assert_int_equal(nn_close(s), 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FAULTPEER\n", argv[0]);
        return 2;
    }
    peer = argv[1];
    signal(SIGPIPE, SIG_IGN);
    /* The listener's descriptors, and the clients' (they inherit the
       limit): 500 sockets each. */
    long want = MAX_PROCESSES * PER_PROCESS + 1024;
    if (fx_raise_nofile(want) < want)
        return tu_unmet("RLIMIT_NOFILE cannot be raised to 11,024 (run as root, or raise the hard limit)");
    if (getenv("FX_FILTER"))
        cmocka_set_test_filter(getenv("FX_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousands_of_tcp_connections_deliver_and_drop_at_once),
        cmocka_unit_test(test_connection_churn_keeps_descriptors_and_heap_flat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
