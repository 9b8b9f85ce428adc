/* A slow consumer: a PUSH in another process (faultpeer flood) sends 1 KiB
   messages as fast as nn_send takes them into a PULL here that reads 10
   messages a second. What a user would notice: the sender's resident memory
   stays flat. nn_send blocks once the connection holds NN_SNDBUF bytes in
   user space (1 MiB here) and the kernel's socket buffers are full; beyond
   that nothing piles up. The receiver likewise holds at most NN_RCVBUF
   (128 KiB) above what the kernel buffers.

   Asserted: the sender's RSS, sampled every second, grows by less than
   what the send buffer can hold (2 x NN_SNDBUF: a 1 KiB message takes a
   2 KiB block) plus 2 MiB from its first sample (taken once connected), and
   by less than 256 KiB between the end of the first fifth of the run and
   its end; the receiver's heap likewise. Short mode: 6 s over tcp and ipc;
   long mode: 60 s each. The figures give the samples. */
#include "faults.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

static const char *peer;

#define SIZE 1024
#define SNDBUF (1024 * 1024)

static void run(const char *name, const char *url)
{
    int s = nn_socket(AF_SP, NN_PULL);
    int tmo = FX_DEADLINE_MS;
    assert_true(s >= 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    assert_true(nn_bind(s, url) >= 0);
    char size[16], sndbuf[16], line[256];
    snprintf(size, sizeof size, "%d", SIZE);
    snprintf(sndbuf, sizeof sndbuf, "%d", SNDBUF);
    char *argv[] = {(char *) peer, "flood", (char *) url, size, sndbuf, NULL};
    struct fx_child c;
    assert_true(fx_spawn(&c, argv, NULL));
    long first = -1;
    assert_true(fx_child_expect(&c, "rss ", line, sizeof line, FX_DEADLINE_MS));
    assert_int_equal(sscanf(line, "rss %ld", &first), 1);

    int seconds = fx_pick(6, 60);
    long rss[64] = {0};
    size_t heap[64] = {0};
    int nsamples = 0;
    char buf[SIZE];
    uint64_t t0 = tu_now_ms();
    long got = 0;
    for (int tick = 1; tick <= seconds * 10; tick++) {
        /* 10 messages a second: paced, not synchronised. */
        while (tu_now_ms() < t0 + (uint64_t) tick * 100)
            tu_sleep_ms(5);
        int n = nn_recv(s, buf, sizeof buf, 0);
        assert_int_equal(n, SIZE);
        got++;
        if (tick % 10 == 0 && nsamples < 64) {
            rss[nsamples] = fx_rss_kb(c.pid);
            heap[nsamples] = fx_inuse();
            nsamples++;
        }
    }
    char curve[1024] = "", hcurve[1024] = "";
    size_t off = 0, hoff = 0;
    long max = first;
    for (int i = 0; i < nsamples; i++) {
        if (rss[i] > max)
            max = rss[i];
        if (off < sizeof curve)
            off += (size_t) snprintf(curve + off, sizeof curve - off, "%s%ld", i ? " " : "", rss[i]);
        if (hoff < sizeof hcurve)
            hoff += (size_t) snprintf(hcurve + hoff, sizeof hcurve - hoff, "%s%zu", i ? " " : "", heap[i] / 1024);
    }
    int early = nsamples / 5;
    fx_figure("slow", "%s: %ld messages of %d bytes read at 10/s for %d s; sender RSS once connected %ld KiB, "
              "then each second: %s KiB (max %+ld KiB, NN_SNDBUF %d KiB); receiver heap each second: %s KiB",
              name, got, SIZE, seconds, first, curve, max - first, SNDBUF / 1024, hcurve);
    /* Sender: bounded, and flat once the buffers are full. */
    assert_true(max - first < 2 * SNDBUF / 1024 + 2048);
    assert_true(rss[nsamples - 1] - rss[early] < 256);
    /* Receiver: flat. */
    assert_true(heap[nsamples - 1] < heap[early] + 256 * 1024);
    fx_child_end(&c, SIGKILL);
    assert_int_equal(nn_close(s), 0);
}

static void test_tcp_sender_memory_stays_flat_into_slow_consumer(void **state)
{
    (void) state;
    char url[64];
    run("tcp", tu_tcp_url(url, sizeof url, tu_free_port()));
}

static void test_ipc_sender_memory_stays_flat_into_slow_consumer(void **state)
{
    (void) state;
    char url[256];
    run("ipc", tu_ipc_url(url, sizeof url, "slow"));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FAULTPEER\n", argv[0]);
        return 2;
    }
    peer = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_sender_memory_stays_flat_into_slow_consumer),
        cmocka_unit_test(test_ipc_sender_memory_stays_flat_into_slow_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
