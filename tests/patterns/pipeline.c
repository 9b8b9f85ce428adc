/* PUSH/PULL (SPEC §4.5, §4.6): PUSH load-balances each message to exactly one
   peer (strict NN_SNDPRIO priority, round-robin within a priority, busy peers
   skipped), PULL fair-queues between its peers preferring low NN_RCVPRIO
   numbers. Raw variants behave exactly like cooked ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>

#include "testutil.h"

/* ---- PUSH --------------------------------------------------------------- */

static void expect_round_robin(enum tu_transport t, int push_domain, int pull_domain)
{
    char url[TU_URL_LEN];
    char msg[32], got[32];
    int push = tu_socket(push_domain, NN_PUSH);
    int pull[2];
    int first;
    int i, k;

    tu_url(url, t, "round-robin");
    tu_bind(push, url);
    for (k = 0; k < 2; k++) {
        pull[k] = tu_socket(pull_domain, NN_PULL);
        tu_connect(pull[k], url);
    }
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2);

    for (i = 0; i < 6; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        tu_send(push, msg);
    }
    /* Alternation: one PULL gets m0 m2 m4, the other m1 m3 m5. */
    assert_true(tu_recv_str(pull[0], got, sizeof got, 0) > 0);
    first = got[1] - '0';
    assert_true(first == 0 || first == 1);
    for (i = first + 2; i < 6; i += 2) {
        snprintf(msg, sizeof msg, "m%d", i);
        tu_recv(pull[0], msg);
    }
    for (i = 1 - first; i < 6; i += 2) {
        snprintf(msg, sizeof msg, "m%d", i);
        tu_recv(pull[1], msg);
    }
    tu_recv_nothing(pull[0]);
    tu_recv_nothing(pull[1]);

    tu_close(pull[0]);
    tu_close(pull[1]);
    tu_close(push);
}

static void test_push_round_robins_across_pulls(void **state)
{
    (void) state;
    expect_round_robin(TU_INPROC, AF_SP, AF_SP);
    expect_round_robin(TU_IPC, AF_SP, AF_SP);
    expect_round_robin(TU_TCP, AF_SP, AF_SP);
}

static void test_raw_push_round_robins_across_pulls(void **state)
{
    (void) state;
    expect_round_robin(TU_INPROC, AF_SP_RAW, AF_SP_RAW);
    expect_round_robin(TU_TCP, AF_SP_RAW, AF_SP);
}

/* Connects push to a fresh PULL bound on t with the given send priority. */
static int pull_with_prio(int push, enum tu_transport t, int prio, char *url)
{
    int pull = tu_socket(AF_SP, NN_PULL);
    tu_url(url, t, "prio");
    tu_bind(pull, url);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, prio);
    tu_connect(push, url);
    return pull;
}

static void expect_strict_send_priority(enum tu_transport t)
{
    char url_hi[TU_URL_LEN], url_lo[TU_URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int lo, hi;
    int i;

    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);

    /* The low-priority peer is connected first. */
    lo = pull_with_prio(push, t, 2, url_lo);
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 1);
    tu_send(push, "only-lo");
    tu_recv(lo, "only-lo");
    assert_int_equal(nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY), 2);

    hi = pull_with_prio(push, t, 1, url_hi);
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2);
    tu_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 1);
    for (i = 0; i < 5; i++)
        tu_send(push, "to-hi");
    for (i = 0; i < 5; i++)
        tu_recv(hi, "to-hi");
    tu_recv_nothing(lo);

    /* The high-priority peer goes away: the low one takes over. */
    tu_close(hi);
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 1);
    tu_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 2);
    for (i = 0; i < 3; i++)
        tu_send(push, "to-lo");
    for (i = 0; i < 3; i++)
        tu_recv(lo, "to-lo");

    /* It comes back and gets everything again. */
    hi = tu_socket(AF_SP, NN_PULL);
    tu_bind(hi, url_hi);
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2);
    tu_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 1);
    for (i = 0; i < 3; i++)
        tu_send(push, "hi-again");
    for (i = 0; i < 3; i++)
        tu_recv(hi, "hi-again");
    tu_recv_nothing(lo);

    tu_close(hi);
    tu_close(lo);
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 0);
    assert_int_equal(nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY), (uint64_t) -1);
    tu_close(push);
}

/* libnanomsg only updates this level when pipes come and go: before the
   first peer ever connected it reads 0; after the last one left, -1. */
static void test_push_snd_priority_statistic_is_zero_before_first_peer(void **state)
{
    (void) state;
    int domains[2] = {AF_SP, AF_SP_RAW};
    int i;
    for (i = 0; i < 2; i++) {
        char url[TU_URL_LEN];
        int push = tu_socket(domains[i], NN_PUSH);
        int pull = tu_socket(AF_SP, NN_PULL);
        assert_int_equal(nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY), 0);
        tu_bind(pull, tu_url(url, TU_INPROC, "prio-stat"));
        tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 3);
        tu_connect(push, url);
        tu_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 3);
        tu_close(pull);
        tu_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, (uint64_t) -1);
        tu_close(push);
    }
}

static void test_push_sends_only_to_highest_priority_peer(void **state)
{
    (void) state;
    expect_strict_send_priority(TU_INPROC);
    expect_strict_send_priority(TU_IPC);
    expect_strict_send_priority(TU_TCP);
}

/* A lower priority is used while every higher-priority peer is busy: the
   prio-1 PULL reads nothing and its inproc queue (RCVBUF 200, 10-byte
   messages) takes exactly 20 messages, the rest go to the prio-2 PULL. */
static void test_push_falls_back_to_lower_priority_when_higher_is_full(void **state)
{
    (void) state;
    char url_hi[TU_URL_LEN], url_lo[TU_URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int hi = tu_socket(AF_SP, NN_PULL);
    int lo = tu_socket(AF_SP, NN_PULL);
    char buf[16];
    int i, n_hi = 0, n_lo = 0;

    tu_setint(hi, NN_SOL_SOCKET, NN_RCVBUF, 200);
    tu_bind(hi, tu_url(url_hi, TU_INPROC, "busy-hi"));
    tu_bind(lo, tu_url(url_lo, TU_INPROC, "busy-lo"));
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 1);
    tu_connect(push, url_hi);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 2);
    tu_connect(push, url_lo);
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2);

    for (i = 0; i < 30; i++)
        assert_int_equal(nn_send(push, "0123456789", 10, NN_DONTWAIT), 10);
    while (nn_recv(lo, buf, sizeof buf, NN_DONTWAIT) == 10)
        n_lo++;
    while (nn_recv(hi, buf, sizeof buf, NN_DONTWAIT) == 10)
        n_hi++;
    /* 19 were queued at hi, 1 is held by its pipe until room appears. */
    assert_int_equal(n_lo, 10);
    assert_true(n_hi == 19 || n_hi == 20);
    if (n_hi == 19)
        assert_int_equal(nn_recv(hi, buf, sizeof buf, 0), 10);

    tu_close(push);
    tu_close(hi);
    tu_close(lo);
}

static void test_push_without_peer_fails_with_eagain(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int raw = tu_socket(AF_SP_RAW, NN_PUSH);
    int pull;

    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    assert_int_equal(nn_send(raw, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, 20);
    assert_int_equal(nn_send(push, "x", 1, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);

    /* After the only PULL went away, the same again. */
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    pull = tu_socket(AF_SP, NN_PULL);
    tu_url(url, TU_TCP, "no-peer");
    tu_bind(pull, url);
    tu_connect(push, url);
    tu_send(push, "while-connected");
    tu_recv(pull, "while-connected");
    tu_close(pull);
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 0);
    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);

    tu_close(raw);
    tu_close(push);
}

static void test_push_cannot_receive_and_pull_cannot_send(void **state)
{
    (void) state;
    int domains[2] = {AF_SP, AF_SP_RAW};
    int i;
    for (i = 0; i < 2; i++) {
        int push = tu_socket(domains[i], NN_PUSH);
        int pull = tu_socket(domains[i], NN_PULL);
        char buf[8];
        assert_int_equal(nn_recv(push, buf, sizeof buf, 0), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        assert_int_equal(nn_recv(push, buf, sizeof buf, NN_DONTWAIT), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        assert_int_equal(nn_send(pull, "x", 1, 0), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        assert_int_equal(nn_send(pull, "x", 1, NN_DONTWAIT), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        tu_close(push);
        tu_close(pull);
    }
}

/* ---- PULL --------------------------------------------------------------- */

/* Two PUSHers fill their inproc queues at one PULL (RCVBUF 200 each pipe,
   10-byte messages): the PULL then alternates between them instead of
   draining one first. */
static void test_pull_fair_queues_between_pushers(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int pull = tu_socket(AF_SP, NN_PULL);
    int push[2];
    int count[2] = {0, 0};
    int longest_run = 0, run = 0, last = -1;
    int i, k;

    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    tu_bind(pull, tu_url(url, TU_INPROC, "fair"));
    for (k = 0; k < 2; k++) {
        push[k] = tu_socket(AF_SP, NN_PUSH);
        tu_connect(push[k], url);
    }
    tu_wait_stat(pull, NN_STAT_CURRENT_CONNECTIONS, 2);
    for (k = 0; k < 2; k++) {
        const char *msg = k == 0 ? "pusher-0:" : "pusher-1:";
        int sent = 0;
        while (sent < 1000 && nn_send(push[k], msg, 9, NN_DONTWAIT) == 9)
            sent++;
        assert_int_equal(nn_errno(), EAGAIN);
        assert_true(sent >= 10);
    }

    for (i = 0; i < 20; i++) {
        char buf[16];
        int from;
        assert_int_equal(tu_recv_str(pull, buf, sizeof buf, 0), 9);
        from = buf[7] - '0';
        count[from]++;
        run = from == last ? run + 1 : 1;
        last = from;
        if (run > longest_run)
            longest_run = run;
    }
    assert_int_equal(count[0], 10);
    assert_int_equal(count[1], 10);
    assert_int_equal(longest_run, 1);

    tu_close(push[0]);
    tu_close(push[1]);
    tu_close(pull);
}

/* Messages from the NN_RCVPRIO 1 endpoint come first, even when the other
   endpoint's messages were queued earlier. */
static void test_pull_prefers_higher_receive_priority(void **state)
{
    (void) state;
    char url_lo[TU_URL_LEN], url_hi[TU_URL_LEN];
    int pull = tu_socket(AF_SP, NN_PULL);
    int lo = tu_socket(AF_SP, NN_PUSH);
    int hi = tu_socket(AF_SP, NN_PUSH);
    int sent_lo = 0, sent_hi = 0;
    char buf[16];
    int i;

    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 2);
    tu_bind(pull, tu_url(url_lo, TU_INPROC, "rcvprio-lo"));
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 1);
    tu_bind(pull, tu_url(url_hi, TU_INPROC, "rcvprio-hi"));
    tu_connect(lo, url_lo);
    tu_connect(hi, url_hi);
    tu_wait_stat(pull, NN_STAT_CURRENT_CONNECTIONS, 2);

    while (sent_lo < 1000 && nn_send(lo, "low-prio!", 9, NN_DONTWAIT) == 9)
        sent_lo++;
    while (sent_hi < 1000 && nn_send(hi, "high-prio", 9, NN_DONTWAIT) == 9)
        sent_hi++;
    assert_true(sent_hi >= 2);

    for (i = 0; i < sent_hi; i++) {
        assert_int_equal(tu_recv_str(pull, buf, sizeof buf, 0), 9);
        assert_string_equal(buf, "high-prio");
    }
    for (i = 0; i < sent_lo; i++) {
        assert_int_equal(tu_recv_str(pull, buf, sizeof buf, 0), 9);
        assert_string_equal(buf, "low-prio!");
    }

    tu_close(lo);
    tu_close(hi);
    tu_close(pull);
}

static void expect_raw_cooked_exchange(enum tu_transport t, int push_domain, int pull_domain)
{
    char url[TU_URL_LEN];
    int push = tu_socket(push_domain, NN_PUSH);
    int pull = tu_socket(pull_domain, NN_PULL);
    int i;

    tu_bind(pull, tu_url(url, t, "raw-cooked"));
    tu_connect(push, url);
    for (i = 0; i < 3; i++)
        tu_send(push, "raw-or-cooked");
    for (i = 0; i < 3; i++)
        tu_recv(pull, "raw-or-cooked");

    tu_close(push);
    tu_close(pull);
}

static void test_raw_and_cooked_push_pull_interoperate(void **state)
{
    (void) state;
    enum tu_transport t;
    for (t = TU_INPROC; t <= TU_TCP; t++) {
        expect_raw_cooked_exchange(t, AF_SP_RAW, AF_SP);
        expect_raw_cooked_exchange(t, AF_SP, AF_SP_RAW);
        expect_raw_cooked_exchange(t, AF_SP_RAW, AF_SP_RAW);
    }
}

/* A raw PULL reports no SP header: the message body is all there is. */
static void test_raw_pull_receives_empty_sp_header(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP_RAW, NN_PULL);
    char body[16];
    void *control = NULL;
    struct nn_iovec iov = {body, sizeof body};
    struct nn_msghdr hdr;
    struct nn_cmsghdr *cmsg;

    tu_bind(pull, tu_url(url, TU_TCP, "raw-hdr"));
    tu_connect(push, url);
    tu_send(push, "body-only");

    memset(&hdr, 0, sizeof hdr);
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = &control;
    hdr.msg_controllen = NN_MSG;
    assert_int_equal(nn_recvmsg(pull, &hdr, 0), 9);
    assert_memory_equal(body, "body-only", 9);
    cmsg = NN_CMSG_FIRSTHDR(&hdr);
    assert_non_null(cmsg);
    assert_int_equal(cmsg->cmsg_level, PROTO_SP);
    assert_int_equal(cmsg->cmsg_type, SP_HDR);
    assert_int_equal(*(size_t *) NN_CMSG_DATA(cmsg), 0);
    nn_freemsg(control);

    tu_close(push);
    tu_close(pull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_round_robins_across_pulls),
        cmocka_unit_test(test_raw_push_round_robins_across_pulls),
        cmocka_unit_test(test_push_sends_only_to_highest_priority_peer),
        cmocka_unit_test(test_push_snd_priority_statistic_is_zero_before_first_peer),
        cmocka_unit_test(test_push_falls_back_to_lower_priority_when_higher_is_full),
        cmocka_unit_test(test_push_without_peer_fails_with_eagain),
        cmocka_unit_test(test_push_cannot_receive_and_pull_cannot_send),
        cmocka_unit_test(test_pull_fair_queues_between_pushers),
        cmocka_unit_test(test_pull_prefers_higher_receive_priority),
        cmocka_unit_test(test_raw_and_cooked_push_pull_interoperate),
        cmocka_unit_test(test_raw_pull_receives_empty_sp_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
