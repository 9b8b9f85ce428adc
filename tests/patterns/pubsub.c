/* PUB/SUB (SPEC §2.5, §4.4, §4.9): a publisher copies every message to every
   connected subscriber without ever blocking; each subscriber keeps the
   messages whose body starts with one of its (reference-counted) subscribed
   prefixes and drops the rest. The topic is part of the body and is not
   stripped. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/pubsub.h>

#include "testutil.h"

static void subscribe(int sub, const char *topic)
{
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, topic, strlen(topic)));
}

static void unsubscribe(int sub, const char *topic)
{
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, topic, strlen(topic)));
}

/* A PUB bound on t and a SUB of the given domain connected to it; returns
   once the PUB has the subscriber's pipe (a PUB drops what it sends before
   that). */
static void pub_sub(enum tu_transport t, int sub_domain, int *pub, int *sub)
{
    char url[TU_URL_LEN];
    *pub = tu_socket(AF_SP, NN_PUB);
    *sub = tu_socket(sub_domain, NN_SUB);
    tu_bind(*pub, tu_url(url, t, "pubsub"));
    tu_connect(*sub, url);
    tu_wait_connections(*pub, 1);
}

/* Messages travel in order through one pipe, so once the subscribed sentinel
   "zend" is received, everything sent before it was either received before it
   or filtered out. */
static void expect_prefix_filtering(enum tu_transport t, int sub_domain)
{
    int pub, sub;
    pub_sub(t, sub_domain, &pub, &sub);
    subscribe(sub, "ab");
    subscribe(sub, "zend");

    tu_send(pub, "a");
    tu_send(pub, "b");
    tu_send(pub, "xab");
    tu_send(pub, "Abc");
    tu_send(pub, "abc");
    tu_send(pub, "ba");
    tu_send(pub, "ab");
    tu_send(pub, "zen");
    tu_send(pub, "zend");
    tu_recv(sub, "abc");
    tu_recv(sub, "ab");
    tu_recv(sub, "zend");
    tu_close(sub);
    tu_close(pub);
}

static void test_sub_delivers_only_messages_starting_with_a_subscribed_prefix(void **state)
{
    (void) state;
    expect_prefix_filtering(TU_INPROC, AF_SP);
    expect_prefix_filtering(TU_IPC, AF_SP);
    expect_prefix_filtering(TU_TCP, AF_SP);
}

static void test_raw_sub_filters_like_a_cooked_sub(void **state)
{
    (void) state;
    expect_prefix_filtering(TU_INPROC, AF_SP_RAW);
    expect_prefix_filtering(TU_TCP, AF_SP_RAW);
}

static void test_sub_does_not_strip_the_topic(void **state)
{
    (void) state;
    int pub, sub;
    pub_sub(TU_INPROC, AF_SP, &pub, &sub);
    subscribe(sub, "weather/");
    tu_send(pub, "weather/rain");
    tu_recv(sub, "weather/rain");
    tu_send(pub, "weather/");
    tu_recv(sub, "weather/");
}

static void test_empty_subscription_matches_everything(void **state)
{
    (void) state;
    int pub, sub;
    char buf[16];
    pub_sub(TU_TCP, AF_SP, &pub, &sub);
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0));
    assert_int_equal(nn_send(pub, "", 0, 0), 0);
    tu_send(pub, "x");
    tu_send(pub, "\xff anything");
    assert_int_equal(nn_recv(sub, buf, sizeof buf, 0), 0);
    tu_recv(sub, "x");
    tu_recv(sub, "\xff anything");
}

/* A witness subscribed to everything proves the messages were published
   while the bare SUB was connected; the bare SUB gets none of them. */
static void test_sub_without_subscription_receives_nothing(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int pub = tu_socket(AF_SP, NN_PUB);
    int bare = tu_socket(AF_SP, NN_SUB);
    int witness = tu_socket(AF_SP, NN_SUB);
    subscribe(witness, "");
    tu_bind(pub, tu_url(url, TU_INPROC, "bare"));
    tu_connect(bare, url);
    tu_connect(witness, url);
    tu_wait_connections(pub, 2);

    tu_send(pub, "a");
    tu_send(pub, "b");
    tu_recv(witness, "a");
    tu_recv(witness, "b");
    tu_recv_nothing_for(bare, TU_QUIET_MS);
}

/* Each subscribe of the same topic needs its own unsubscribe. */
static void test_subscriptions_are_reference_counted(void **state)
{
    (void) state;
    int pub, sub;
    pub_sub(TU_INPROC, AF_SP, &pub, &sub);
    subscribe(sub, "a");
    subscribe(sub, "a");
    subscribe(sub, "zend");

    unsubscribe(sub, "a");
    tu_send(pub, "a1");
    tu_send(pub, "zend1");
    tu_recv(sub, "a1");
    tu_recv(sub, "zend1");

    unsubscribe(sub, "a");
    tu_send(pub, "a2");
    tu_send(pub, "zend2");
    tu_recv(sub, "zend2");

    subscribe(sub, "a");
    tu_send(pub, "a3");
    tu_recv(sub, "a3");
}

/* Enough distinct first bytes and long shared prefixes to exercise every
   shape of a subscription trie: each message is delivered iff one of the
   subscriptions is a prefix of it. */
static const char *const crowd_subs[] = {
    "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopq", "abcdefghijk", "abcde",
    "abcdefghijklmnopqrstuvwxyz0123456789", "0", "1", "2", "3", "4", "5", "6", "7", "8",
    "9", "K", "L", "M", "N", "O", "P", "Q", "#long/topic/name/with/levels/",
    "#long/topic/other/", "#long/top",
};
#define CROWD_SUBS (sizeof crowd_subs / sizeof crowd_subs[0])

static const char *const crowd_msgs[] = {
    "abcdefghijklmnopqrstuvwxyz!", "abcdefghijklmnopqrstuvwxy", "abcdefghijklmnop",
    "abcdefghijklmnopq", "abcdefghij", "abcdefghijk", "abcd", "abcdex",
    "abcdefghijklmnopqrstuvwxyz0123456789tail", "0x", "9", "A", "K", "Kx", "R",
    "#long/topic/name/with/levels/x", "#long/topic/name/with/levels", "#long/topic/other/1",
    "#long/topic/othe", "#long/top", "#long/to", "z",
    "", /* last: left out against libnanomsg (see below) */
};
#define CROWD_MSGS (sizeof crowd_msgs / sizeof crowd_msgs[0])

static bool matches_any(const char *msg, const bool *on)
{
    for (size_t i = 0; i < CROWD_SUBS; i++)
        if (on[i] && strncmp(msg, crowd_subs[i], strlen(crowd_subs[i])) == 0)
            return true;
    return false;
}

/* Publishes the first nmsgs crowd messages then the sentinel, and checks the
   SUB gets exactly the matching ones, in order, then the sentinel. */
static void expect_crowd_matching(int pub, int sub, const bool *on, size_t nmsgs)
{
    for (size_t m = 0; m < nmsgs; m++)
        assert_int_equal(nn_send(pub, crowd_msgs[m], strlen(crowd_msgs[m]), 0),
                         (int) strlen(crowd_msgs[m]));
    tu_send(pub, "~end");
    for (size_t m = 0; m < nmsgs; m++)
        if (matches_any(crowd_msgs[m], on))
            tu_recv(sub, crowd_msgs[m]);
    tu_recv(sub, "~end");
}

static void crowd_subscribe(int sub, bool *on)
{
    subscribe(sub, "~end");
    for (size_t i = 0; i < CROWD_SUBS; i++) {
        subscribe(sub, crowd_subs[i]);
        on[i] = true;
    }
}

/* (libnanomsg reads uninitialised trie memory when an empty message is
   matched against this crowd: the empty message is left out there.) */
static void test_many_and_long_subscriptions_match_exactly_their_prefixes(void **state)
{
    (void) state;
    bool on[CROWD_SUBS];
    int pub, sub;
    pub_sub(TU_INPROC, AF_SP, &pub, &sub);
    crowd_subscribe(sub, on);
    expect_crowd_matching(pub, sub, on, CROWD_MSGS - 1);
}

#ifndef AGAINST_LIBNANOMSG
/* libnanomsg's trie is corrupted by these unsubscribes (valgrind: reads of
   uninitialised memory in nn_trie_match; removed topics keep matching, or
   the next unsubscribe asserts, issue #220). */
static void test_unsubscribing_half_of_many_subscriptions_keeps_the_other_half(void **state)
{
    (void) state;
    bool on[CROWD_SUBS];
    int pub, sub;
    pub_sub(TU_INPROC, AF_SP, &pub, &sub);
    crowd_subscribe(sub, on);
    expect_crowd_matching(pub, sub, on, CROWD_MSGS);
    for (size_t i = 0; i < CROWD_SUBS; i += 2) {
        unsubscribe(sub, crowd_subs[i]);
        on[i] = false;
    }
    expect_crowd_matching(pub, sub, on, CROWD_MSGS);
    for (size_t i = 1; i < CROWD_SUBS; i += 2) {
        unsubscribe(sub, crowd_subs[i]);
        on[i] = false;
    }
    expect_crowd_matching(pub, sub, on, CROWD_MSGS);
    /* Back to square one: everything again. */
    for (size_t i = 0; i < CROWD_SUBS; i++) {
        subscribe(sub, crowd_subs[i]);
        on[i] = true;
    }
    expect_crowd_matching(pub, sub, on, CROWD_MSGS);
}
#endif

static void test_sub_receives_from_every_publisher_it_connects_to(void **state)
{
    (void) state;
    char url[2][TU_URL_LEN];
    int pub[2];
    int sub = tu_socket(AF_SP, NN_SUB);
    subscribe(sub, "");
    for (int k = 0; k < 2; k++) {
        pub[k] = tu_socket(AF_SP, NN_PUB);
        tu_bind(pub[k], tu_url(url[k], TU_TCP, "two-pubs"));
        tu_connect(sub, url[k]);
        tu_wait_connections(pub[k], 1);
    }
    tu_send(pub[0], "from-0");
    tu_send(pub[1], "from-1");
    int seen = 0;
    for (int k = 0; k < 2; k++) {
        char buf[16];
        assert_int_equal(tu_recv_str(sub, buf, sizeof buf, 0), 6);
        assert_true(strcmp(buf, "from-0") == 0 || strcmp(buf, "from-1") == 0);
        seen |= 1 << (buf[5] - '0');
    }
    assert_int_equal(seen, 3);
}

/* Topics are bytes: NUL and high bytes match like any other. */
static void test_binary_topics_with_nul_bytes_match_byte_for_byte(void **state)
{
    (void) state;
    int pub, sub;
    char buf[16];
    pub_sub(TU_INPROC, AF_SP, &pub, &sub);
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "\0\1", 2));
    assert_nn_ok(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "\xff", 1));
    assert_int_equal(nn_send(pub, "\0\2no", 4, 0), 4);
    assert_int_equal(nn_send(pub, "\0", 1, 0), 1);
    assert_int_equal(nn_send(pub, "\0\1yes", 5, 0), 5);
    assert_int_equal(nn_send(pub, "\xfe", 1, 0), 1);
    assert_int_equal(nn_send(pub, "\xff\0", 2, 0), 2);
    assert_int_equal(nn_recv(sub, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "\0\1yes", 5);
    assert_int_equal(nn_recv(sub, buf, sizeof buf, 0), 2);
    assert_memory_equal(buf, "\xff\0", 2);
}

static void test_every_subscriber_gets_its_own_copy(void **state)
{
    (void) state;
    enum { SUBS = 10 };
    char url[TU_URL_LEN];
    int sub[SUBS];
    int pub = tu_socket(AF_SP, NN_PUB);
    tu_bind(pub, tu_url(url, TU_TCP, "fan-out"));
    for (int k = 0; k < SUBS; k++) {
        sub[k] = tu_socket(k % 2 ? AF_SP_RAW : AF_SP, NN_SUB);
        subscribe(sub[k], "");
        tu_connect(sub[k], url);
    }
    tu_wait_connections(pub, SUBS);
    for (int i = 0; i < 5; i++) {
        char msg[8];
        snprintf(msg, sizeof msg, "m%d", i);
        tu_send(pub, msg);
    }
    for (int k = 0; k < SUBS; k++)
        for (int i = 0; i < 5; i++) {
            char msg[8];
            snprintf(msg, sizeof msg, "m%d", i);
            tu_recv(sub[k], msg);
        }
}

/* Subscriptions belong to the SUB, not to a connection: after the publisher
   restarts and the SUB reconnects, the same filter applies. */
static void test_sub_keeps_its_subscriptions_when_the_publisher_restarts(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    int sub = tu_socket(AF_SP, NN_SUB);
    tu_setint(sub, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    subscribe(sub, "a");
    tu_connect(sub, tu_url(url, TU_TCP, "restart"));
    int pub = tu_socket(AF_SP, NN_PUB);
    tu_bind(pub, url);
    tu_wait_connections(pub, 1);
    tu_send(pub, "b0");
    tu_send(pub, "a1");
    tu_recv(sub, "a1");

    tu_close(pub);
    pub = tu_socket(AF_SP, NN_PUB);
    tu_bind(pub, url);
    tu_wait_connections(pub, 1);
    tu_send(pub, "b2");
    tu_send(pub, "a2");
    tu_recv(sub, "a2");
}

static void test_subscribe_options_are_set_only(void **state)
{
    (void) state;
    int sub = tu_socket(AF_SP, NN_SUB);
    char buf[16];
    size_t sz = sizeof buf;
    subscribe(sub, "t");
    assert_nn_fail(nn_getsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, buf, &sz), ENOPROTOOPT);
    sz = sizeof buf;
    assert_nn_fail(nn_getsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, buf, &sz), ENOPROTOOPT);
}

#ifndef AGAINST_LIBNANOMSG
/* libnanomsg segfaults when the SUB has no subscription at all, and returns
   0 or EINVAL depending on the trie's shape otherwise. */
static void test_unsubscribing_what_was_never_subscribed_fails_with_einval(void **state)
{
    (void) state;
    int pub, sub;
    pub_sub(TU_INPROC, AF_SP, &pub, &sub);
    assert_nn_fail(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, "x", 1), EINVAL);
    assert_nn_fail(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, "", 0), EINVAL);

    subscribe(sub, "abc");
    assert_nn_fail(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, "ab", 2), EINVAL);
    assert_nn_fail(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, "abd", 3), EINVAL);
    assert_nn_fail(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, "abcd", 4), EINVAL);
    unsubscribe(sub, "abc");
    /* Empty again. */
    assert_nn_fail(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, "abc", 3), EINVAL);

    /* Nothing was disturbed. */
    subscribe(sub, "ok");
    tu_send(pub, "nope");
    tu_send(pub, "ok!");
    tu_recv(sub, "ok!");
}
#endif

/* Sends on a PUB never block: not without subscribers, not with a
   subscriber that never reads (its copies are dropped instead). */
static void test_pub_never_blocks_without_subscribers(void **state)
{
    (void) state;
    int pub = tu_socket(AF_SP, NN_PUB);
    tu_setint(pub, NN_SOL_SOCKET, NN_SNDTIMEO, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(nn_send(pub, "hello", 5, 0), 5);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(nn_send(pub, "hello", 5, NN_DONTWAIT), 5);
}

static void test_pub_never_blocks_on_a_slow_subscriber(void **state)
{
    (void) state;
    char url_inproc[TU_URL_LEN], url_tcp[TU_URL_LEN];
    static char big[1024];
    memset(big, 'm', sizeof big);
    int pub = tu_socket(AF_SP, NN_PUB);
    int slow_inproc = tu_socket(AF_SP, NN_SUB);
    int slow_tcp = tu_socket(AF_SP, NN_SUB);
    subscribe(slow_inproc, "");
    subscribe(slow_tcp, "");
    tu_setint(slow_inproc, NN_SOL_SOCKET, NN_RCVBUF, 4096);
    tu_bind(pub, tu_url(url_inproc, TU_INPROC, "slow"));
    tu_bind(pub, tu_url(url_tcp, TU_TCP, "slow"));
    tu_connect(slow_inproc, url_inproc);
    tu_connect(slow_tcp, url_tcp);
    tu_wait_connections(pub, 2);

    /* 8 MiB: far more than the inproc queue and the kernel buffers. */
    uint64_t t0 = tu_now_ms();
    for (int i = 0; i < 8192; i++)
        assert_int_equal(nn_send(pub, big, sizeof big, NN_DONTWAIT), (int) sizeof big);
    assert_true(tu_now_ms() - t0 < TU_DEADLINE_MS);

    /* The subscribers got some of it and still get new messages once they
       read again. */
    int subs[2] = {slow_inproc, slow_tcp};
    for (int k = 0; k < 2; k++) {
        char buf[16];
        int rc = nn_recv(subs[k], buf, sizeof buf, 0);
        assert_int_equal(rc, (int) sizeof big);
    }
    tu_setint(pub, NN_SOL_SOCKET, NN_SNDTIMEO, 0);
    for (int k = 0; k < 2; k++) {
        uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
        bool fresh = false;
        tu_setint(subs[k], NN_SOL_SOCKET, NN_RCVTIMEO, 20);
        while (!fresh && tu_now_ms() < end) {
            char buf[16];
            assert_int_equal(nn_send(pub, "fresh", 5, 0), 5);
            while (!fresh && tu_recv_str(subs[k], buf, sizeof buf, 0) >= 0)
                fresh = strcmp(buf, "fresh") == 0;
        }
        assert_true(fresh);
    }
}

#ifndef AGAINST_LIBNANOMSG
/* A peer that does the SP handshake as a SUB and then sends frames to the
   PUB: libnanomsg aborts the process. The PUB must ignore the data and keep
   publishing to its real subscribers. */
static void test_pub_ignores_data_sent_to_it(void **state)
{
    (void) state;
    int port = tu_free_port();
    char url[TU_URL_LEN];
    int pub = tu_socket(AF_SP, NN_PUB);
    int sub = tu_socket(AF_SP, NN_SUB);
    subscribe(sub, "");
    tu_bind(pub, tu_tcp_url(url, sizeof url, port));
    tu_connect(sub, url);
    int fd = tu_raw_connect(port);
    tu_sp_handshake(fd, NN_SUB, NN_PUB);
    tu_wait_connections(pub, 2);

    for (int i = 0; i < 20; i++) {
        char msg[16];
        tu_raw_send_frame(fd, "unexpected", 10);
        tu_raw_send_frame(fd, "", 0);
        snprintf(msg, sizeof msg, "after-%d", i);
        tu_send(pub, msg);
        tu_recv(sub, msg);
    }
    close(fd);
    tu_send(pub, "still-alive");
    tu_recv(sub, "still-alive");
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_sub_delivers_only_messages_starting_with_a_subscribed_prefix),
        tu_test(test_raw_sub_filters_like_a_cooked_sub),
        tu_test(test_sub_does_not_strip_the_topic),
        tu_test(test_empty_subscription_matches_everything),
        tu_test(test_sub_without_subscription_receives_nothing),
        tu_test(test_subscriptions_are_reference_counted),
        tu_test(test_many_and_long_subscriptions_match_exactly_their_prefixes),
#ifndef AGAINST_LIBNANOMSG
        tu_test(test_unsubscribing_half_of_many_subscriptions_keeps_the_other_half),
#endif
        tu_test(test_sub_receives_from_every_publisher_it_connects_to),
        tu_test(test_binary_topics_with_nul_bytes_match_byte_for_byte),
        tu_test(test_every_subscriber_gets_its_own_copy),
        tu_test(test_sub_keeps_its_subscriptions_when_the_publisher_restarts),
        tu_test(test_subscribe_options_are_set_only),
#ifndef AGAINST_LIBNANOMSG
        tu_test(test_unsubscribing_what_was_never_subscribed_fails_with_einval),
#endif
        tu_test(test_pub_never_blocks_without_subscribers),
        tu_test(test_pub_never_blocks_on_a_slow_subscriber),
#ifndef AGAINST_LIBNANOMSG
        tu_test(test_pub_ignores_data_sent_to_it),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
