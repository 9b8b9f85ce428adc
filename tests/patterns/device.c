/* nn_device (SPEC §1.4, §4.11, §4.12): forwards messages between two raw
   sockets of the same family until one of them fails; one-way pairs run in
   the calling thread, two-way pairs relay both directions and return only
   once both sockets are gone. The arguments are checked first: EBADF for bad
   ids, EINVAL for cooked sockets, different families or directions that do
   not fit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "testutil.h"

static void test_device_with_bad_socket_ids_fails_with_ebadf(void **state)
{
    (void) state;
    assert_nn_fail(nn_device(-1, -1), EBADF);
    int raw = tu_socket(AF_SP_RAW, NN_PAIR);
    assert_nn_fail(nn_device(raw, NN_MAX_SOCKETS - 1), EBADF);
    assert_nn_fail(nn_device(NN_MAX_SOCKETS - 1, raw), EBADF);
    assert_nn_fail(nn_device(NN_MAX_SOCKETS - 1, -1), EBADF);
    int closed = tu_socket(AF_SP_RAW, NN_PAIR);
    tu_close(closed);
    assert_nn_fail(nn_device(closed, -1), EBADF);
}

static void test_device_with_a_cooked_socket_fails_with_einval(void **state)
{
    (void) state;
    int cooked_pair = tu_socket(AF_SP, NN_PAIR);
    int raw_pair = tu_socket(AF_SP_RAW, NN_PAIR);
    int cooked_pull = tu_socket(AF_SP, NN_PULL);
    int raw_push = tu_socket(AF_SP_RAW, NN_PUSH);
    assert_nn_fail(nn_device(cooked_pair, -1), EINVAL);
    assert_nn_fail(nn_device(-1, cooked_pair), EINVAL);
    assert_nn_fail(nn_device(cooked_pair, raw_pair), EINVAL);
    assert_nn_fail(nn_device(raw_pair, cooked_pair), EINVAL);
    assert_nn_fail(nn_device(cooked_pull, raw_push), EINVAL);
}

static void test_device_with_sockets_of_different_families_fails_with_einval(void **state)
{
    (void) state;
    int pair = tu_socket(AF_SP_RAW, NN_PAIR);
    int bus = tu_socket(AF_SP_RAW, NN_BUS);
    int rep = tu_socket(AF_SP_RAW, NN_REP);
    int push = tu_socket(AF_SP_RAW, NN_PUSH);
    int sub = tu_socket(AF_SP_RAW, NN_SUB);
    assert_nn_fail(nn_device(pair, bus), EINVAL);
    assert_nn_fail(nn_device(rep, pair), EINVAL);
    assert_nn_fail(nn_device(sub, push), EINVAL);
}

/* Same family, but nothing could flow: both can only send, or only receive. */
static void test_device_with_incompatible_directions_fails_with_einval(void **state)
{
    (void) state;
    int push1 = tu_socket(AF_SP_RAW, NN_PUSH);
    int push2 = tu_socket(AF_SP_RAW, NN_PUSH);
    int pull1 = tu_socket(AF_SP_RAW, NN_PULL);
    int pull2 = tu_socket(AF_SP_RAW, NN_PULL);
    int pub1 = tu_socket(AF_SP_RAW, NN_PUB);
    int pub2 = tu_socket(AF_SP_RAW, NN_PUB);
    int sub1 = tu_socket(AF_SP_RAW, NN_SUB);
    int sub2 = tu_socket(AF_SP_RAW, NN_SUB);
    assert_nn_fail(nn_device(push1, push2), EINVAL);
    assert_nn_fail(nn_device(pull1, pull2), EINVAL);
    assert_nn_fail(nn_device(pub1, pub2), EINVAL);
    assert_nn_fail(nn_device(sub1, sub2), EINVAL);
}

static void start_device(tu_thread *th, struct tu_blocked *dev, int s1, int s2)
{
    memset(dev, 0, sizeof *dev);
    dev->s = s1;
    dev->s2 = s2;
    dev->op = TU_OP_DEVICE;
    tu_thread_start(th, tu_blocked_run, dev);
}

static void expect_device_ended_with_ebadf(tu_thread *th, struct tu_blocked *dev)
{
    assert_true(tu_wait_until(tu_blocked_is_done, dev, TU_DEADLINE_MS));
    tu_thread_join(th);
    assert_int_equal(dev->rc, -1);
    assert_int_equal(dev->err, EBADF);
}

/* producer PUSH -> raw PULL | device | raw PUSH -> consumer PULL. Messages
   arrive in order, the device adds no thread of its own (it runs in the
   thread that called it), and it ends with EBADF when its sockets close.
   Both argument orders work. */
static void expect_one_way_device(bool pull_first)
{
    char in_url[TU_URL_LEN], out_url[TU_URL_LEN];
    static struct tu_blocked dev;
    tu_thread th;
    int in = tu_socket(AF_SP_RAW, NN_PULL);
    int out = tu_socket(AF_SP_RAW, NN_PUSH);
    int producer = tu_socket(AF_SP, NN_PUSH);
    int consumer = tu_socket(AF_SP, NN_PULL);
    tu_setint(in, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_bind(in, tu_url(in_url, TU_INPROC, "oneway-in"));
    tu_bind(out, tu_url(out_url, TU_TCP, "oneway-out"));
    tu_connect(producer, in_url);
    tu_connect(consumer, out_url);
    tu_wait_connections(in, 1);
    tu_wait_connections(out, 1);

    int threads_before = tu_thread_count();
    if (pull_first)
        start_device(&th, &dev, in, out);
    else
        start_device(&th, &dev, out, in);
    for (int i = 0; i < 100; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%d", i);
        tu_send(producer, msg);
    }
    for (int i = 0; i < 100; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%d", i);
        tu_recv(consumer, msg);
    }
    assert_int_equal(tu_thread_count(), threads_before + 1);

    assert_false(tu_blocked_is_done(&dev));
    tu_close(in);
    tu_close(out);
    expect_device_ended_with_ebadf(&th, &dev);
    tu_close(producer);
    tu_close(consumer);
}

static void test_one_way_device_forwards_in_order_in_the_calling_thread(void **state)
{
    (void) state;
    expect_one_way_device(true);
    expect_one_way_device(false);
}

/* A raw SUB needs a subscription in a device too; the raw PUB then fans out
   and each downstream SUB filters for itself. */
static void test_pub_sub_device_fans_out_to_filtering_subscribers(void **state)
{
    (void) state;
    char in_url[TU_URL_LEN], out_url[TU_URL_LEN];
    static struct tu_blocked dev;
    tu_thread th;
    int in = tu_socket(AF_SP_RAW, NN_SUB);
    int out = tu_socket(AF_SP_RAW, NN_PUB);
    int publisher = tu_socket(AF_SP, NN_PUB);
    int sub_a = tu_socket(AF_SP, NN_SUB);
    int sub_b = tu_socket(AF_SP, NN_SUB);
    assert_nn_ok(nn_setsockopt(in, NN_SUB, NN_SUB_SUBSCRIBE, "", 0));
    assert_nn_ok(nn_setsockopt(sub_a, NN_SUB, NN_SUB_SUBSCRIBE, "a", 1));
    assert_nn_ok(nn_setsockopt(sub_b, NN_SUB, NN_SUB_SUBSCRIBE, "b", 1));
    tu_setint(in, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_bind(publisher, tu_url(in_url, TU_INPROC, "pubsub-in"));
    tu_connect(in, in_url);
    tu_bind(out, tu_url(out_url, TU_TCP, "pubsub-out"));
    tu_connect(sub_a, out_url);
    tu_connect(sub_b, out_url);
    tu_wait_connections(publisher, 1);
    tu_wait_connections(out, 2);
    start_device(&th, &dev, in, out);

    tu_send(publisher, "a1");
    tu_send(publisher, "b1");
    tu_send(publisher, "c1");
    tu_send(publisher, "a2");
    tu_send(publisher, "b2");
    tu_recv(sub_a, "a1");
    tu_recv(sub_a, "a2");
    tu_recv(sub_b, "b1");
    tu_recv(sub_b, "b2");

    tu_close(in);
    tu_close(out);
    expect_device_ended_with_ebadf(&th, &dev);
}

/* clients -> raw REP | device | raw REQ -> server, both directions relayed.
   Closing one socket stops one direction only: the device returns when both
   are closed. */
static void test_two_way_device_relays_both_ways_until_both_sockets_close(void **state)
{
    (void) state;
    char front_url[TU_URL_LEN], back_url[TU_URL_LEN];
    static struct tu_blocked dev;
    tu_thread th;
    int front = tu_socket(AF_SP_RAW, NN_REP);
    int back = tu_socket(AF_SP_RAW, NN_REQ);
    int client = tu_socket(AF_SP, NN_REQ);
    int server = tu_socket(AF_SP, NN_REP);
    tu_setint(front, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_setint(back, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_bind(front, tu_url(front_url, TU_INPROC, "twoway-front"));
    tu_bind(back, tu_url(back_url, TU_IPC, "twoway-back"));
    tu_connect(client, front_url);
    tu_connect(server, back_url);
    start_device(&th, &dev, front, back);

    for (int i = 0; i < 5; i++) {
        char q[16], a[16];
        snprintf(q, sizeof q, "q%d", i);
        snprintf(a, sizeof a, "a%d", i);
        tu_send(client, q);
        tu_recv(server, q);
        tu_send(server, a);
        tu_recv(client, a);
    }

    tu_close(front);
    /* The back-to-front direction is still waiting on the back socket. */
    uint64_t end = tu_now_ms() + TU_QUIET_MS;
    while (tu_now_ms() < end && !tu_blocked_is_done(&dev))
        tu_sleep_ms(5);
    assert_false(tu_blocked_is_done(&dev));
    tu_close(back);
    expect_device_ended_with_ebadf(&th, &dev);
}

/* A raw PAIR in a device forwards between two PAIR peers on other
   transports; a loopback device on a raw PAIR echoes. */
static void test_pair_devices_forward_and_loop_back(void **state)
{
    (void) state;
    char url1[TU_URL_LEN], url2[TU_URL_LEN], url3[TU_URL_LEN];
    static struct tu_blocked dev, echo;
    tu_thread th, th_echo;
    int left = tu_socket(AF_SP_RAW, NN_PAIR);
    int right = tu_socket(AF_SP_RAW, NN_PAIR);
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);
    tu_setint(left, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_setint(right, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_bind(left, tu_url(url1, TU_TCP, "pair-left"));
    tu_bind(right, tu_url(url2, TU_INPROC, "pair-right"));
    tu_connect(a, url1);
    tu_connect(b, url2);
    start_device(&th, &dev, left, right);
    tu_send(a, "a-to-b");
    tu_recv(b, "a-to-b");
    tu_send(b, "b-to-a");
    tu_recv(a, "b-to-a");

    int mirror = tu_socket(AF_SP_RAW, NN_PAIR);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setint(mirror, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_bind(mirror, tu_url(url3, TU_IPC, "pair-mirror"));
    tu_connect(c, url3);
    start_device(&th_echo, &echo, -1, mirror);
    tu_send(c, "echo?");
    tu_recv(c, "echo?");

    tu_close(left);
    tu_close(right);
    tu_close(mirror);
    expect_device_ended_with_ebadf(&th, &dev);
    expect_device_ended_with_ebadf(&th_echo, &echo);
}

/* nn_term closes every socket: one-way, two-way and loopback devices all
   return -1/EBADF (in a child: nn_term cannot be undone). */
static void term_ends_devices(void)
{
    static struct tu_blocked one, two, loop;
    tu_thread t1, t2, t3;
    int pull = nn_socket(AF_SP_RAW, NN_PULL);
    int push = nn_socket(AF_SP_RAW, NN_PUSH);
    int rep = nn_socket(AF_SP_RAW, NN_REP);
    int req = nn_socket(AF_SP_RAW, NN_REQ);
    int bus = nn_socket(AF_SP_RAW, NN_BUS);
    TU_CHILD_CHECK(pull >= 0 && push >= 0 && rep >= 0 && req >= 0 && bus >= 0);
    TU_CHILD_CHECK(nn_bind(pull, "inproc://term-pull") >= 0);
    TU_CHILD_CHECK(nn_bind(rep, "inproc://term-rep") >= 0);
    TU_CHILD_CHECK(nn_bind(bus, "inproc://term-bus") >= 0);

    memset(&one, 0, sizeof one);
    memset(&two, 0, sizeof two);
    memset(&loop, 0, sizeof loop);
    one.s = pull, one.s2 = push;
    two.s = rep, two.s2 = req;
    loop.s = bus, loop.s2 = -1;
    one.op = two.op = loop.op = TU_OP_DEVICE;
    tu_thread_start(&t1, tu_blocked_run, &one);
    tu_thread_start(&t2, tu_blocked_run, &two);
    tu_thread_start(&t3, tu_blocked_run, &loop);
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_sleeping, &one, TU_DEADLINE_MS));
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_sleeping, &loop, TU_DEADLINE_MS));
    TU_CHILD_CHECK(!tu_blocked_is_done(&one) && !tu_blocked_is_done(&two) &&
                !tu_blocked_is_done(&loop));

    nn_term();
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &one, TU_DEADLINE_MS));
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &two, TU_DEADLINE_MS));
    TU_CHILD_CHECK(tu_wait_until(tu_blocked_is_done, &loop, TU_DEADLINE_MS));
    tu_thread_join(&t1);
    tu_thread_join(&t2);
    tu_thread_join(&t3);
    TU_CHILD_CHECK(one.rc == -1 && one.err == EBADF);
    TU_CHILD_CHECK(two.rc == -1 && two.err == EBADF);
    TU_CHILD_CHECK(loop.rc == -1 && loop.err == EBADF);
    /* And a device started afterwards fails at once. */
    errno = 0;
    TU_CHILD_CHECK(nn_device(pull, push) == -1 && errno == EBADF);
}

static void test_devices_return_ebadf_after_nn_term(void **state)
{
    (void) state;
    tu_run_in_child(term_ends_devices);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_device_with_bad_socket_ids_fails_with_ebadf),
        tu_test(test_device_with_a_cooked_socket_fails_with_einval),
        tu_test(test_device_with_sockets_of_different_families_fails_with_einval),
        tu_test(test_device_with_incompatible_directions_fails_with_einval),
        tu_test(test_one_way_device_forwards_in_order_in_the_calling_thread),
        tu_test(test_pub_sub_device_fans_out_to_filtering_subscribers),
        tu_test(test_two_way_device_relays_both_ways_until_both_sockets_close),
        tu_test(test_pair_devices_forward_and_loop_back),
        tu_test(test_devices_return_ebadf_after_nn_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
