/* PUSH/PULL (SPEC §4.5, §4.6): PUSH load-balances each message to exactly one
   peer (strict NN_SNDPRIO priority, round-robin within a priority, busy peers
   skipped), PULL fair-queues between its peers preferring low NN_RCVPRIO
   numbers. Raw variants behave exactly like cooked ones. */
#include "nntest.h"

#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>

#define URL_LEN 256

enum transport { INPROC, IPC, TCP };
static const char *const transport_names[] = {"inproc", "ipc", "tcp"};

static char *make_url(char *buf, enum transport t, const char *name)
{
    static int seq;
    char unique[128];
    snprintf(unique, sizeof unique, "%s-%d", name, ++seq);
    switch (t) {
    case INPROC:
        snprintf(buf, URL_LEN, "inproc://%s", unique);
        break;
    case IPC:
        tu_ipc_url(buf, URL_LEN, unique);
        break;
    case TCP:
        tu_tcp_url(buf, URL_LEN, tu_free_port());
        break;
    }
    return buf;
}

/* ---- PUSH --------------------------------------------------------------- */

static void expect_round_robin(enum transport t, int push_domain, int pull_domain)
{
    char url[URL_LEN];
    char msg[32], got[32];
    int push = nt_socket(push_domain, NN_PUSH);
    int pull[2];
    int first;
    int i, k;

    make_url(url, t, "round-robin");
    nt_bind(push, url);
    for (k = 0; k < 2; k++) {
        pull[k] = nt_socket(pull_domain, NN_PULL);
        nt_connect(pull[k], url);
    }
    if (!nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2))
        fail_msg("%s: PUSH never saw both PULLs", transport_names[t]);

    for (i = 0; i < 6; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        nt_send(push, msg);
    }
    /* Alternation: one PULL gets m0 m2 m4, the other m1 m3 m5. */
    assert_true(nt_recv_str(pull[0], got, sizeof got, 0) > 0);
    first = got[1] - '0';
    assert_true(first == 0 || first == 1);
    for (i = first + 2; i < 6; i += 2) {
        snprintf(msg, sizeof msg, "m%d", i);
        nt_recv(pull[0], msg);
    }
    for (i = 1 - first; i < 6; i += 2) {
        snprintf(msg, sizeof msg, "m%d", i);
        nt_recv(pull[1], msg);
    }
    nt_recv_nothing(pull[0]);
    nt_recv_nothing(pull[1]);

    nt_close(pull[0]);
    nt_close(pull[1]);
    nt_close(push);
}

static void test_push_round_robins_across_pulls(void **state)
{
    (void) state;
    expect_round_robin(INPROC, AF_SP, AF_SP);
    expect_round_robin(IPC, AF_SP, AF_SP);
    expect_round_robin(TCP, AF_SP, AF_SP);
}

static void test_raw_push_round_robins_across_pulls(void **state)
{
    (void) state;
    expect_round_robin(INPROC, AF_SP_RAW, AF_SP_RAW);
    expect_round_robin(TCP, AF_SP_RAW, AF_SP);
}

/* Connects push to a fresh PULL bound on t with the given send priority. */
static int pull_with_prio(int push, enum transport t, int prio, char *url)
{
    int pull = nt_socket(AF_SP, NN_PULL);
    make_url(url, t, "prio");
    nt_bind(pull, url);
    nt_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, prio);
    nt_connect(push, url);
    return pull;
}

static void expect_strict_send_priority(enum transport t)
{
    char url_hi[URL_LEN], url_lo[URL_LEN];
    int push = nt_socket(AF_SP, NN_PUSH);
    int lo, hi;
    int i;

    nt_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);

    /* The low-priority peer is connected first. */
    lo = pull_with_prio(push, t, 2, url_lo);
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 1));
    nt_send(push, "only-lo");
    nt_recv(lo, "only-lo");
    assert_int_equal(nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY), 2);

    hi = pull_with_prio(push, t, 1, url_hi);
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2));
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 1));
    for (i = 0; i < 5; i++)
        nt_send(push, "to-hi");
    for (i = 0; i < 5; i++)
        nt_recv(hi, "to-hi");
    nt_recv_nothing(lo);

    /* The high-priority peer goes away: the low one takes over. */
    nt_close(hi);
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 1));
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 2));
    for (i = 0; i < 3; i++)
        nt_send(push, "to-lo");
    for (i = 0; i < 3; i++)
        nt_recv(lo, "to-lo");

    /* It comes back and gets everything again. */
    hi = nt_socket(AF_SP, NN_PULL);
    nt_bind(hi, url_hi);
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2));
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 1));
    for (i = 0; i < 3; i++)
        nt_send(push, "hi-again");
    for (i = 0; i < 3; i++)
        nt_recv(hi, "hi-again");
    nt_recv_nothing(lo);

    nt_close(hi);
    nt_close(lo);
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 0));
    assert_int_equal(nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY), (uint64_t) -1);
    nt_close(push);
}

/* libnanomsg only updates this level when pipes come and go: before the
   first peer ever connected it reads 0; after the last one left, -1. */
static void test_push_snd_priority_statistic_is_zero_before_first_peer(void **state)
{
    (void) state;
    int domains[2] = {AF_SP, AF_SP_RAW};
    int i;
    for (i = 0; i < 2; i++) {
        char url[URL_LEN];
        int push = nt_socket(domains[i], NN_PUSH);
        int pull = nt_socket(AF_SP, NN_PULL);
        assert_int_equal(nn_get_statistic(push, NN_STAT_CURRENT_SND_PRIORITY), 0);
        nt_bind(pull, make_url(url, INPROC, "prio-stat"));
        nt_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 3);
        nt_connect(push, url);
        assert_true(nt_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, 3));
        nt_close(pull);
        assert_true(nt_wait_stat(push, NN_STAT_CURRENT_SND_PRIORITY, (uint64_t) -1));
        nt_close(push);
    }
}

static void test_push_sends_only_to_highest_priority_peer(void **state)
{
    (void) state;
    expect_strict_send_priority(INPROC);
    expect_strict_send_priority(IPC);
    expect_strict_send_priority(TCP);
}

/* A lower priority is used while every higher-priority peer is busy: the
   prio-1 PULL reads nothing and its inproc queue (RCVBUF 200, 10-byte
   messages) takes exactly 20 messages, the rest go to the prio-2 PULL. */
static void test_push_falls_back_to_lower_priority_when_higher_is_full(void **state)
{
    (void) state;
    char url_hi[URL_LEN], url_lo[URL_LEN];
    int push = nt_socket(AF_SP, NN_PUSH);
    int hi = nt_socket(AF_SP, NN_PULL);
    int lo = nt_socket(AF_SP, NN_PULL);
    char buf[16];
    int i, n_hi = 0, n_lo = 0;

    nt_setint(hi, NN_SOL_SOCKET, NN_RCVBUF, 200);
    nt_bind(hi, make_url(url_hi, INPROC, "busy-hi"));
    nt_bind(lo, make_url(url_lo, INPROC, "busy-lo"));
    nt_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 1);
    nt_connect(push, url_hi);
    nt_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 2);
    nt_connect(push, url_lo);
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 2));

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

    nt_close(push);
    nt_close(hi);
    nt_close(lo);
}

static void test_push_without_peer_fails_with_eagain(void **state)
{
    (void) state;
    char url[URL_LEN];
    int push = nt_socket(AF_SP, NN_PUSH);
    int raw = nt_socket(AF_SP_RAW, NN_PUSH);
    int pull;

    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    assert_int_equal(nn_send(raw, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    nt_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, 20);
    assert_int_equal(nn_send(push, "x", 1, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);

    /* After the only PULL went away, the same again. */
    nt_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, NT_DEADLINE_MS);
    pull = nt_socket(AF_SP, NN_PULL);
    make_url(url, TCP, "no-peer");
    nt_bind(pull, url);
    nt_connect(push, url);
    nt_send(push, "while-connected");
    nt_recv(pull, "while-connected");
    nt_close(pull);
    assert_true(nt_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 0));
    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);

    nt_close(raw);
    nt_close(push);
}

static void test_push_cannot_receive_and_pull_cannot_send(void **state)
{
    (void) state;
    int domains[2] = {AF_SP, AF_SP_RAW};
    int i;
    for (i = 0; i < 2; i++) {
        int push = nt_socket(domains[i], NN_PUSH);
        int pull = nt_socket(domains[i], NN_PULL);
        char buf[8];
        assert_int_equal(nn_recv(push, buf, sizeof buf, 0), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        assert_int_equal(nn_recv(push, buf, sizeof buf, NN_DONTWAIT), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        assert_int_equal(nn_send(pull, "x", 1, 0), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        assert_int_equal(nn_send(pull, "x", 1, NN_DONTWAIT), -1);
        assert_int_equal(nn_errno(), ENOTSUP);
        nt_close(push);
        nt_close(pull);
    }
}

/* ---- PULL --------------------------------------------------------------- */

/* Two PUSHers fill their inproc queues at one PULL (RCVBUF 200 each pipe,
   10-byte messages): the PULL then alternates between them instead of
   draining one first. */
static void test_pull_fair_queues_between_pushers(void **state)
{
    (void) state;
    char url[URL_LEN];
    int pull = nt_socket(AF_SP, NN_PULL);
    int push[2];
    int count[2] = {0, 0};
    int longest_run = 0, run = 0, last = -1;
    int i, k;

    nt_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    nt_bind(pull, make_url(url, INPROC, "fair"));
    for (k = 0; k < 2; k++) {
        push[k] = nt_socket(AF_SP, NN_PUSH);
        nt_connect(push[k], url);
    }
    assert_true(nt_wait_stat(pull, NN_STAT_CURRENT_CONNECTIONS, 2));
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
        assert_int_equal(nt_recv_str(pull, buf, sizeof buf, 0), 9);
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

    nt_close(push[0]);
    nt_close(push[1]);
    nt_close(pull);
}

/* Messages from the NN_RCVPRIO 1 endpoint come first, even when the other
   endpoint's messages were queued earlier. */
static void test_pull_prefers_higher_receive_priority(void **state)
{
    (void) state;
    char url_lo[URL_LEN], url_hi[URL_LEN];
    int pull = nt_socket(AF_SP, NN_PULL);
    int lo = nt_socket(AF_SP, NN_PUSH);
    int hi = nt_socket(AF_SP, NN_PUSH);
    int sent_lo = 0, sent_hi = 0;
    char buf[16];
    int i;

    nt_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    nt_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 2);
    nt_bind(pull, make_url(url_lo, INPROC, "rcvprio-lo"));
    nt_setint(pull, NN_SOL_SOCKET, NN_RCVPRIO, 1);
    nt_bind(pull, make_url(url_hi, INPROC, "rcvprio-hi"));
    nt_connect(lo, url_lo);
    nt_connect(hi, url_hi);
    assert_true(nt_wait_stat(pull, NN_STAT_CURRENT_CONNECTIONS, 2));

    while (sent_lo < 1000 && nn_send(lo, "low-prio!", 9, NN_DONTWAIT) == 9)
        sent_lo++;
    while (sent_hi < 1000 && nn_send(hi, "high-prio", 9, NN_DONTWAIT) == 9)
        sent_hi++;
    assert_true(sent_hi >= 2);

    for (i = 0; i < sent_hi; i++) {
        assert_int_equal(nt_recv_str(pull, buf, sizeof buf, 0), 9);
        assert_string_equal(buf, "high-prio");
    }
    for (i = 0; i < sent_lo; i++) {
        assert_int_equal(nt_recv_str(pull, buf, sizeof buf, 0), 9);
        assert_string_equal(buf, "low-prio!");
    }

    nt_close(lo);
    nt_close(hi);
    nt_close(pull);
}

static void expect_raw_cooked_exchange(enum transport t, int push_domain, int pull_domain)
{
    char url[URL_LEN];
    int push = nt_socket(push_domain, NN_PUSH);
    int pull = nt_socket(pull_domain, NN_PULL);
    int i;

    nt_bind(pull, make_url(url, t, "raw-cooked"));
    nt_connect(push, url);
    for (i = 0; i < 3; i++)
        nt_send(push, "raw-or-cooked");
    for (i = 0; i < 3; i++)
        nt_recv(pull, "raw-or-cooked");

    nt_close(push);
    nt_close(pull);
}

static void test_raw_and_cooked_push_pull_interoperate(void **state)
{
    (void) state;
    enum transport t;
    for (t = INPROC; t <= TCP; t++) {
        expect_raw_cooked_exchange(t, AF_SP_RAW, AF_SP);
        expect_raw_cooked_exchange(t, AF_SP, AF_SP_RAW);
        expect_raw_cooked_exchange(t, AF_SP_RAW, AF_SP_RAW);
    }
}

/* A raw PULL reports no SP header: the message body is all there is. */
static void test_raw_pull_receives_empty_sp_header(void **state)
{
    (void) state;
    char url[URL_LEN];
    int push = nt_socket(AF_SP, NN_PUSH);
    int pull = nt_socket(AF_SP_RAW, NN_PULL);
    char body[16];
    void *control = NULL;
    struct nn_iovec iov = {body, sizeof body};
    struct nn_msghdr hdr;
    struct nn_cmsghdr *cmsg;

    nt_bind(pull, make_url(url, TCP, "raw-hdr"));
    nt_connect(push, url);
    nt_send(push, "body-only");

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

    nt_close(push);
    nt_close(pull);
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
